/*
 * Tests of solve/solve.c on the real default model: the prompts, whole runs (with the sandbox
 * when the host has it), ranking, options and cancellation.
 */
#include "tests/solve/tests.h"

#include <stdio.h>
#include <string.h>

#include "solve/solve.h"
#include "solve/solve_int.h"

#define MODEL_PATH KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

static gen_model *model_load(bool vocab_only)
{
    gen_model *m = NULL;
    gen_model_options o = gen_model_options_default();
    o.vocab_only = vocab_only;
    core_err err = {0};
    ck_assert_msg(gen_model_load(&m, MODEL_PATH, &o, &err) == 0, "%s", err.msg);
    return m;
}

/* A sandbox pool, or NULL when the host lacks what the sandbox needs. */
static sbx_pool *pool_new(void)
{
    sbx_pool *p = NULL;
    sbx_pool_options o = sbx_pool_options_default();
    o.n_slots = 2;
    core_err err = {0};
    if (sbx_pool_new(&p, &o, &err) < 0) {
        fprintf(stderr, "test_solve: no sandbox (%s): execution checks skipped\n", err.msg);
        return NULL;
    }
    return p;
}

static solve_engine *engine_new(gen_model *m, sbx_pool *pool, size_t n_max)
{
    solve_engine *e = NULL;
    solve_engine_options o = solve_engine_options_default();
    o.n_candidates_max = n_max;
    o.n_ctx = 1024;
    o.n_threads = 2;
    core_err err = {0};
    ck_assert_msg(solve_engine_new(&e, m, pool, &o, &err) == 0, "%s", err.msg);
    return e;
}

static const char add_prompt[] =
    "def add(a, b):\n    \"\"\"Return the sum of a and b.\n"
    "    >>> add(2, 3)\n    5\n    >>> add(-1, 1)\n    0\n    \"\"\"\n";

START_TEST(solve__prompts_hold_example_task_plan_and_failure)
{
    gen_model *m = model_load(true);
    core_buf b = {0};
    solve_task t = {SOLVE_LANG_PYTHON, core_str_c(add_prompt), core_str_c("add"), core_str_c("")};
    ck_assert_int_eq(solve_prompt_build(&b, m, &t, false, core_str_c("1. Add a and b."), NULL), 0);
    ck_assert_ptr_nonnull(strstr(b.ptr, "def count_even(xs):")); /* the worked example */
    ck_assert_ptr_nonnull(strstr(b.ptr, "        if x % 2 == 0:\n            count += 1\n"));
    ck_assert_ptr_nonnull(strstr(b.ptr, add_prompt));
    ck_assert_ptr_nonnull(strstr(b.ptr, "Plan:\n1. Add a and b."));
    const char *tail = "<|im_start|>assistant\n";
    ck_assert_str_eq(b.ptr + b.len - strlen(tail), tail);

    b.len = 0;
    ck_assert_int_eq(solve_prompt_build(&b, m, &t, false, core_str_c(""), NULL), 0);
    ck_assert_ptr_null(strstr(b.ptr, "Plan:"));

    b.len = 0;
    ck_assert_int_eq(solve_prompt_build(&b, m, &t, true, core_str_c(""), NULL), 0);
    ck_assert_ptr_nonnull(strstr(b.ptr, "numbered plan"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "1. Start a counter at 0."));

    b.len = 0;
    ck_assert_int_eq(solve_prompt_repair(&b, m, &t, core_str_c("def add(a, b):\n    return a\n"),
                                         core_str_c("line 1: assert add(2, 3) == 5"), NULL),
                     0);
    const char *head = "```python\ndef add(a, b):\n    return a\n```<|im_end|>";
    ck_assert_int_eq(strncmp(b.ptr, head, strlen(head)), 0);
    ck_assert_ptr_nonnull(strstr(b.ptr, "line 1: assert add(2, 3) == 5"));
    ck_assert_str_eq(b.ptr + b.len - strlen(tail), tail);
    core_buf_dispose(&b);
    gen_model_free(m);
}
END_TEST

START_TEST(solve__end_to_end_python_passes_and_ranks)
{
    gen_model *m = model_load(false);
    sbx_pool *pool = pool_new();
    solve_engine *e = engine_new(m, pool, 4);
    solve_task t = {SOLVE_LANG_PYTHON, core_str_c(add_prompt), core_str_c("add"), core_str_c("")};
    solve_options o = solve_options_default();
    o.n_candidates = 4;
    o.seed = 1;
    o.plan = true; /* off by default; every stage runs here */
    solve_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r->n_round0, 4);
    ck_assert_uint_ge(r->n_candidates, 4);
    ck_assert_int_ge(r->chosen, 0);
    ck_assert_str_ne(r->plan, "");
    /* ranks are a permutation with the chosen candidate first */
    size_t seen = 0;
    for (size_t i = 0; i < r->n_candidates; i++) {
        const solve_candidate *c = &r->candidates[i];
        ck_assert_uint_lt(c->score.rank, r->n_candidates);
        seen |= (size_t)1 << c->score.rank;
        ck_assert(strncmp(c->code, add_prompt, strlen(add_prompt)) == 0);
        ck_assert_uint_gt(c->n_tokens, 0);
        ck_assert(c->logprob_mean <= 0.0);
        /* the whole code's log-probability, which the ranking weighs without visible tests */
        ck_assert(c->card.has_logprob);
        ck_assert(c->card.logprob_sum <= 0.0);
        ck_assert_double_eq_tol(c->card.logprob_sum, c->logprob_mean * (double)c->n_tokens,
                                1e-9 * (double)c->n_tokens);
    }
    ck_assert_uint_eq(seen, ((size_t)1 << r->n_candidates) - 1);
    const solve_candidate *best = &r->candidates[r->chosen];
    ck_assert_uint_eq(best->score.rank, 0);
    if (pool) {
        ck_assert_int_eq(r->tests_source, SOLVE_TESTS_DOCSTRING);
        ck_assert_str_eq(r->visible_tests, "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n");
        ck_assert(best->tested);
        ck_assert_int_eq(best->verdict, SBX_VERDICT_PASSED);
        ck_assert_uint_eq(best->n_tests_run, 2);
        ck_assert_uint_eq(best->n_tests_passed, 2);
        ck_assert_double_eq_tol(best->score.correctness, 1.0, 1e-9);
        /* every passing candidate ranks above every failing one */
        for (size_t i = 0; i < r->n_candidates; i++) {
            for (size_t j = 0; j < r->n_candidates; j++) {
                const solve_candidate *a = &r->candidates[i];
                const solve_candidate *b = &r->candidates[j];
                if (a->verdict == SBX_VERDICT_PASSED && b->verdict != SBX_VERDICT_PASSED) {
                    ck_assert_uint_lt(a->score.rank, b->score.rank);
                }
            }
        }
    }
    core_buf js = {0};
    ck_assert_int_eq(solve_result_to_json(&js, r, NULL), 0);
    ck_assert(strncmp(js.ptr, "{\"language\":\"python\",\"plan\":", 28) == 0);
    ck_assert_ptr_nonnull(strstr(js.ptr, "\"n_samples\":4"));
    core_buf_dispose(&js);
    solve_result_free(r);
    solve_engine_free(e);
    sbx_pool_free(pool);
    gen_model_free(m);
}
END_TEST

START_TEST(solve__c_task_with_field_tests)
{
    gen_model *m = model_load(false);
    sbx_pool *pool = pool_new();
    if (!pool) {
        gen_model_free(m);
        return;
    }
    solve_engine *e = engine_new(m, pool, 4);
    solve_task t = {SOLVE_LANG_C,
                    core_str_c("/* Returns the larger of a and b. */\nint max2(int a, int b);\n"),
                    core_str_c("max2"),
                    core_str_c("int max2(int a, int b);\nint main(void)\n{\n"
                               "    return !(max2(1, 2) == 2 && max2(5, -3) == 5);\n}\n")};
    solve_options o = solve_options_default();
    o.n_candidates = 4;
    o.repair = true;
    o.n_rounds = 1;
    o.seed = 2;
    solve_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r->tests_source, SOLVE_TESTS_FIELD);
    ck_assert_int_ge(r->chosen, 0);
    for (size_t i = 0; i < r->n_candidates; i++) {
        ck_assert(r->candidates[i].tested);
        ck_assert_ptr_nonnull(strstr(r->candidates[i].code, "int max2(int a, int b)\n{\n"));
    }
    ck_assert_int_eq(r->candidates[r->chosen].verdict, SBX_VERDICT_PASSED);
    solve_result_free(r);
    solve_engine_free(e);
    sbx_pool_free(pool);
    gen_model_free(m);
}
END_TEST

START_TEST(solve__without_tests_ranks_without_execution)
{
    gen_model *m = model_load(false);
    solve_engine *e = engine_new(m, NULL, 2);
    solve_task t = {SOLVE_LANG_PYTHON,
                    core_str_c("def double(x):\n    \"\"\"Return x times two.\"\"\"\n"),
                    core_str_c("double"), core_str_c("")};
    solve_options o = solve_options_default();
    o.n_candidates = 2;
    o.plan = false;
    o.grammar = false;
    o.n_code_tokens_max = 48;
    o.n_fresh_rounds = 0; /* counted below */
    solve_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r->tests_source, SOLVE_TESTS_NONE);
    ck_assert_str_eq(r->plan, "");
    ck_assert_uint_eq(r->n_candidates, 2); /* no repair without tests */
    ck_assert_int_ge(r->chosen, 0);
    for (size_t i = 0; i < r->n_candidates; i++) {
        ck_assert(!r->candidates[i].tested);
        ck_assert_uint_le(r->candidates[i].n_tokens, 48);
        ck_assert_uint_gt(r->candidates[i].card.behavior.len, 0);
    }
    ck_assert_uint_eq(r->ns_stage[SOLVE_STAGE_PLAN], 0);
    solve_result_free(r);
    solve_engine_free(e);
    gen_model_free(m);
}
END_TEST

/* No visible tests and no examples: the model's own tests rank the candidates (CodeT). */
START_TEST(solve__without_tests_ranks_by_generated_tests)
{
    gen_model *m = model_load(false);
    sbx_pool *pool = pool_new();
    if (!pool) {
        gen_model_free(m);
        return;
    }
    solve_engine *e = engine_new(m, pool, 4);
    solve_task t = {SOLVE_LANG_PYTHON,
                    core_str_c("def add_three(a, b, c):\n    \"\"\"Return the sum of a, b and "
                               "c.\"\"\"\n"),
                    core_str_c("add_three"), core_str_c("")};
    solve_options o = solve_options_default();
    o.n_candidates = 4;
    o.plan = false;
    o.n_code_tokens_max = 48;
    o.n_gen_tests = 8;    /* off by default */
    o.n_fresh_rounds = 0; /* counted below */
    solve_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r->tests_source, SOLVE_TESTS_GENERATED);
    ck_assert_str_eq(solve_tests_source_name(r->tests_source), "generated");
    ck_assert_int_eq(strncmp(r->visible_tests, "assert (_v := add_three(", 24), 0);
    ck_assert_uint_eq(r->n_candidates, 4); /* generated tests never drive repairs */
    for (size_t i = 0; i < r->n_candidates; i++) {
        const solve_candidate *c = &r->candidates[i];
        ck_assert(c->tested);
        ck_assert_uint_gt(c->card.n_gen_run, 0);
        ck_assert_uint_le(c->card.n_gen_passed, c->card.n_gen_run);
        ck_assert_uint_eq(c->card.n_tests_run, 0); /* never counted as correctness */
    }
    ck_assert_int_ge(r->chosen, 0);
    solve_result_free(r);

    o.n_gen_tests = 0; /* off: the signature's probes alone */
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r->tests_source, SOLVE_TESTS_GENERATED);
    ck_assert_int_eq(strncmp(r->visible_tests, "assert False, repr(add_three(3, 1, 7))\n", 39), 0);
    for (size_t i = 0; i < r->n_candidates; i++) {
        const solve_candidate *c = &r->candidates[i];
        ck_assert(c->tested);
        ck_assert_uint_le(c->card.n_gen_run, 10);
        ck_assert_uint_ge(c->card.n_gen_run, 1);
        ck_assert_uint_eq(c->card.n_gen_passed, 0); /* a probe never passes */
        ck_assert_ptr_nonnull(strstr(c->behavior, "\ncode def"));
    }
    solve_result_free(r);

    o.n_probes = 0; /* off: ranked without execution */
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r->tests_source, SOLVE_TESTS_NONE);
    solve_result_free(r);
    solve_engine_free(e);
    sbx_pool_free(pool);
    gen_model_free(m);
}
END_TEST

/* A candidate the token cap cuts is marked so and never counts as parsing. */
START_TEST(solve__cut_candidates_never_parse)
{
    gen_model *m = model_load(false);
    solve_engine *e = engine_new(m, NULL, 2);
    solve_task t = {SOLVE_LANG_PYTHON,
                    core_str_c("def double(x):\n    \"\"\"Return x times two.\"\"\"\n"),
                    core_str_c("double"), core_str_c("")};
    solve_options o = solve_options_default();
    o.n_candidates = 2;
    o.plan = false;
    o.n_code_tokens_max = 2; /* `return x` alone takes more */
    o.n_fresh_rounds = 0;
    solve_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r->n_candidates, 2);
    for (size_t i = 0; i < r->n_candidates; i++) {
        ck_assert(!r->candidates[i].ended);
        ck_assert(!r->candidates[i].parses);
        ck_assert(!r->candidates[i].card.parses);
    }
    solve_result_free(r);
    solve_engine_free(e);
    gen_model_free(m);
}
END_TEST

typedef struct counter {
    int calls;
    int stop_after;
} counter;

static bool cancel_after(void *payload)
{
    counter *c = payload;
    return ++c->calls > c->stop_after;
}

typedef struct events {
    int n;
    int n_write;
} events;

static void on_event(void *payload, const solve_event *ev)
{
    events *e = payload;
    e->n++;
    e->n_write += ev->stage == SOLVE_STAGE_WRITE;
}

START_TEST(solve__cancel_stops_with_ecanceled)
{
    gen_model *m = model_load(false);
    solve_engine *e = engine_new(m, NULL, 2);
    solve_task t = {SOLVE_LANG_PYTHON, core_str_c(add_prompt), core_str_c("add"), core_str_c("")};
    solve_options o = solve_options_default();
    o.n_candidates = 2;
    o.plan = true; /* cancels land in the plan and in the write stage */
    o.n_fresh_rounds = 0;
    long live = core_alloc_live();
    for (int stop = 0; stop <= 40; stop += 20) {
        counter c = {0, stop};
        core_cancel cancel = {cancel_after, &c};
        events ev = {0, 0};
        solve_progress prog = {on_event, &ev};
        solve_result *r = NULL;
        core_err err = {0};
        ck_assert_int_eq(solve_run(&r, e, &t, &o, &prog, &cancel, &err), CORE_ECANCELED);
        ck_assert_ptr_null(r);
        ck_assert_int_eq(err.code, CORE_ECANCELED);
        ck_assert_int_gt(c.calls, stop);
        ck_assert_int_gt(ev.n, 0);
    }
    ck_assert_int_eq(core_alloc_live(), live);
    /* the engine still works after a cancel */
    o.plan = false;
    o.n_code_tokens_max = 16;
    events ev = {0, 0};
    solve_progress prog = {on_event, &ev};
    solve_result *r = NULL;
    ck_assert_int_eq(solve_run(&r, e, &t, &o, &prog, NULL, NULL), 0);
    ck_assert_uint_eq(r->n_candidates, 2);
    ck_assert_int_eq(ev.n_write, 2); /* start and end of the write stage */
    solve_result_free(r);
    solve_engine_free(e);
    gen_model_free(m);
}
END_TEST

typedef struct cand_events {
    size_t n_written;
    size_t n_tested;
    size_t n_repairing;
    size_t next_written; /* the index the next written event must carry */
    char codes[16][512]; /* copies of the written code, by index */
} cand_events;

static void on_candidate(void *payload, const solve_candidate_event *ev)
{
    cand_events *ce = payload;
    ck_assert_ptr_nonnull(ev->candidate);
    ck_assert_uint_lt(ev->i_candidate, 16);
    if (ev->kind == SOLVE_CANDIDATE_WRITTEN) {
        ck_assert_uint_eq(ev->i_candidate, ce->next_written++);
        ck_assert_uint_eq(ev->round, ev->candidate->round);
        snprintf(ce->codes[ev->i_candidate], sizeof(ce->codes[0]), "%s", ev->candidate->code);
        ce->n_written++;
    } else if (ev->kind == SOLVE_CANDIDATE_TESTED) {
        ck_assert(ev->candidate->tested);
        ck_assert_uint_lt(ev->i_candidate, ce->next_written);
        ce->n_tested++;
    } else {
        ck_assert_int_eq(ev->kind, SOLVE_CANDIDATE_REPAIRING);
        ck_assert(ev->candidate->tested);
        ck_assert_int_ne(ev->candidate->verdict, SBX_VERDICT_PASSED);
        ck_assert_uint_ge(ev->round, 1);
        ce->n_repairing++;
    }
}

START_TEST(solve__candidate_events_carry_index_code_and_verdict)
{
    gen_model *m = model_load(false);
    sbx_pool *pool = pool_new();
    solve_engine *e = engine_new(m, pool, 2);
    /* visible tests nothing passes, so that a repair round runs when there is a sandbox */
    solve_task t = {SOLVE_LANG_PYTHON, core_str_c(add_prompt), core_str_c("add"),
                    core_str_c("assert add(2, 3) == 6\n")};
    solve_options o = solve_options_default();
    o.n_candidates = 2;
    o.plan = false;
    o.repair = true;
    o.n_rounds = 1;
    o.n_code_tokens_max = 32;
    o.n_fresh_rounds = 0; /* counted below */
    cand_events ce;
    memset(&ce, 0, sizeof(ce));
    events ev = {0, 0};
    solve_progress prog = {on_event, &ev};
    o.on_candidate = (solve_candidate_sink){on_candidate, &ce};
    solve_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(solve_run(&r, e, &t, &o, &prog, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(ce.n_written, r->n_candidates);
    for (size_t i = 0; i < r->n_candidates && i < 16; i++) {
        ck_assert_int_eq(strncmp(ce.codes[i], r->candidates[i].code, sizeof(ce.codes[0]) - 1), 0);
    }
    if (pool) {
        ck_assert_uint_eq(r->n_candidates, 4);
        ck_assert_uint_eq(ce.n_tested, 4);
        ck_assert_uint_gt(ce.n_repairing, 0);
    } else {
        ck_assert_uint_eq(ce.n_tested, 0);
    }
    ck_assert_str_eq(solve_candidate_event_kind_name(SOLVE_CANDIDATE_TESTED), "tested");
    solve_result_free(r);
    solve_engine_free(e);
    sbx_pool_free(pool);
    gen_model_free(m);
}
END_TEST

START_TEST(solve__bad_arguments)
{
    gen_model *m = model_load(false);
    solve_engine *e = engine_new(m, NULL, 2);
    solve_task t = {SOLVE_LANG_PYTHON, core_str_c(add_prompt), core_str_c("add"), core_str_c("")};
    solve_options o = solve_options_default();
    solve_result *r = NULL;
    core_err err = {0};
    o.n_candidates = 3; /* more than the engine holds */
    ck_assert_int_eq(solve_run(&r, e, &t, &o, NULL, NULL, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "n_candidates"));
    o.n_candidates = 0;
    ck_assert_int_eq(solve_run(&r, e, &t, &o, NULL, NULL, &err), CORE_EINVAL);
    o.n_candidates = 1;
    t.entry = core_str_c("");
    ck_assert_int_eq(solve_run(&r, e, &t, &o, NULL, NULL, &err), CORE_EINVAL);
    solve_task c = {SOLVE_LANG_C, core_str_c("int f(int x)"), core_str_c("f"), core_str_c("")};
    ck_assert_int_eq(solve_run(&r, e, &c, &o, NULL, NULL, &err), CORE_EINVAL);
    ck_assert_ptr_null(r);
    solve_engine_options eo = solve_engine_options_default();
    eo.n_candidates_max = SOLVE_N_MAX + 1;
    solve_engine *e2 = NULL;
    ck_assert_int_eq(solve_engine_new(&e2, m, NULL, &eo, NULL), CORE_EINVAL);
    ck_assert_ptr_null(e2);
    solve_engine_free(e);
    gen_model_free(m);
}
END_TEST

/* The share of the pool's first n candidates in their largest agreeing group. */
static double share_of(const solve_result *r, size_t n)
{
    double share = -1.0;
    ck_assert_int_eq(solve__agreement_share(&share, r->candidates, n), 0);
    return share;
}

/*
 * Fresh rounds without visible tests: a round is drawn exactly while the pool's largest group
 * of agreeing candidates is under fresh_agree, each of n fresh samples with seeds of its own
 * (different code from round 0's, the same code in a second run), and none at fresh_agree 0.
 */
START_TEST(solve__fresh_rounds_follow_agreement)
{
    gen_model *m = model_load(false);
    sbx_pool *pool = pool_new();
    solve_engine *e = engine_new(m, pool, 3);
    solve_task t = {SOLVE_LANG_PYTHON,
                    core_str_c("def double(x: int) -> int:\n    \"\"\"Return x times two.\"\"\"\n"),
                    core_str_c("double"), core_str_c("")};
    solve_options o = solve_options_default();
    o.n_candidates = 3;
    o.temp = 1.5f; /* samples that rarely agree */
    o.n_code_tokens_max = 24;
    o.n_fresh_rounds = 2;
    o.fresh_agree = 1.0; /* weak unless every candidate agrees */
    solve_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r->tests_source, pool ? SOLVE_TESTS_GENERATED : SOLVE_TESTS_NONE);
    ck_assert_uint_eq(r->n_round0, 3);
    ck_assert_uint_eq(r->n_rounds_run, 0);
    ck_assert_uint_eq(r->n_candidates, 3 * (1 + r->n_fresh_rounds_run));
    for (size_t f = 0; f < r->n_fresh_rounds_run; f++) {
        ck_assert_double_lt(share_of(r, 3 * (f + 1)), 1.0); /* drawn because it was weak */
    }
    if (r->n_fresh_rounds_run < 2) {
        ck_assert_double_ge(share_of(r, r->n_candidates), 1.0); /* stopped because strong */
    }
    ck_assert_uint_eq(r->n_fresh_rounds_run, 2); /* at temperature 1.5 they disagree */
    size_t n_same = 0;
    for (size_t i = 0; i < r->n_candidates; i++) {
        const solve_candidate *c = &r->candidates[i];
        ck_assert_uint_eq(c->round, i / 3);
        n_same += i >= 3 && strcmp(c->code, r->candidates[i % 3].code) == 0;
        if (pool) { /* fresh candidates run the probes too */
            ck_assert(c->tested);
            ck_assert_uint_gt(c->card.n_gen_run, 0);
            ck_assert_ptr_nonnull(strstr(c->behavior, "\ncode def"));
        }
    }
    ck_assert_uint_lt(n_same, 6); /* new seeds: not round 0 again */
    ck_assert_int_ge(r->chosen, 0);
    core_buf js = {0};
    ck_assert_int_eq(solve_result_to_json(&js, r, NULL), 0);
    ck_assert_ptr_nonnull(
        strstr(js.ptr, "\"n_samples\":3,\"rounds_run\":0,\"fresh_rounds_run\":2,"));
    core_buf_dispose(&js);

    solve_result *again = NULL; /* reproducible: the same seeds give the same pool */
    ck_assert_msg(solve_run(&again, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(again->n_candidates, r->n_candidates);
    for (size_t i = 0; i < r->n_candidates; i++) {
        ck_assert_str_eq(again->candidates[i].code, r->candidates[i].code);
    }
    ck_assert_int_eq(again->chosen, r->chosen);
    solve_result_free(again);
    solve_result_free(r);

    o.fresh_agree = 0.0; /* never weak: round 0 alone */
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r->n_candidates, 3);
    ck_assert_uint_eq(r->n_fresh_rounds_run, 0);
    solve_result_free(r);
    o.fresh_agree = 1.5;
    ck_assert_int_eq(solve_run(&r, e, &t, &o, NULL, NULL, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "fresh_agree"));
    solve_engine_free(e);
    sbx_pool_free(pool);
    gen_model_free(m);
}
END_TEST

/* With visible tests, fresh rounds run while none passes and a pass stops them. */
START_TEST(solve__fresh_rounds_stop_at_a_pass)
{
    gen_model *m = model_load(false);
    sbx_pool *pool = pool_new();
    if (!pool) {
        gen_model_free(m);
        return;
    }
    solve_engine *e = engine_new(m, pool, 2);
    solve_task t = {SOLVE_LANG_PYTHON, core_str_c(add_prompt), core_str_c("add"),
                    core_str_c("assert add(2, 3) == 6\n")}; /* nothing passes */
    solve_options o = solve_options_default();
    o.n_candidates = 2;
    o.n_code_tokens_max = 32;
    o.n_fresh_rounds = 2;
    solve_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r->tests_source, SOLVE_TESTS_FIELD);
    ck_assert_uint_eq(r->n_fresh_rounds_run, 2);
    ck_assert_uint_eq(r->n_candidates, 6);
    for (size_t i = 0; i < r->n_candidates; i++) {
        ck_assert(r->candidates[i].tested);
        ck_assert_int_ne(r->candidates[i].verdict, SBX_VERDICT_PASSED);
    }
    solve_result_free(r);

    o.temp = 0.0f; /* greedy: another round would write the same code */
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r->n_fresh_rounds_run, 0);
    ck_assert_uint_eq(r->n_candidates, 2);
    solve_result_free(r);

    o.temp = 0.8f;
    t.visible_tests = core_str_c("assert callable(add)\n"); /* any candidate that loads passes */
    ck_assert_msg(solve_run(&r, e, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r->n_fresh_rounds_run, 0);
    ck_assert_uint_eq(r->n_candidates, 2);
    ck_assert_int_eq(r->candidates[r->chosen].verdict, SBX_VERDICT_PASSED);
    solve_result_free(r);
    solve_engine_free(e);
    sbx_pool_free(pool);
    gen_model_free(m);
}
END_TEST

TCase *tcase_solve(void)
{
    TCase *tc = tcase_create("solve");
    tcase_set_timeout(tc, 300); /* whole runs under the sanitizers on a loaded machine */
    tcase_set_tags(tc, "slow");
    tcase_add_test(tc, solve__prompts_hold_example_task_plan_and_failure);
    tcase_add_test(tc, solve__end_to_end_python_passes_and_ranks);
    tcase_add_test(tc, solve__c_task_with_field_tests);
    tcase_add_test(tc, solve__without_tests_ranks_without_execution);
    tcase_add_test(tc, solve__without_tests_ranks_by_generated_tests);
    tcase_add_test(tc, solve__cut_candidates_never_parse);
    tcase_add_test(tc, solve__cancel_stops_with_ecanceled);
    tcase_add_test(tc, solve__bad_arguments);
    tcase_add_test(tc, solve__candidate_events_carry_index_code_and_verdict);
    tcase_add_test(tc, solve__fresh_rounds_follow_agreement);
    tcase_add_test(tc, solve__fresh_rounds_stop_at_a_pass);
    return tc;
}
