/*
 * Tests of solve/solve_write.c on the real default model: the decode loop that the write stage,
 * solve_generate (kiln grammar gen) and completions share. The pipeline's candidate and
 * solve_generate's generation, on the same prompt and seed, are the same tokens.
 */
#include "tests/solve/tests.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "solve/solve.h"

#define MODEL_PATH KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

static const char sum_prompt[] =
    "def total(xs):\n    \"\"\"Return the sum of the numbers in the list xs.\"\"\"\n";

typedef struct fixture {
    gen_model *model;
    solve_engine *engine;
} fixture;

static fixture fixture_new(void)
{
    fixture f = {NULL, NULL};
    gen_model_options mo = gen_model_options_default();
    core_err err = {0};
    ck_assert_msg(gen_model_load(&f.model, MODEL_PATH, &mo, &err) == 0, "%s", err.msg);
    solve_engine_options eo = solve_engine_options_default();
    eo.n_candidates_max = 1;
    eo.n_ctx = 1024;
    eo.n_threads = 2;
    ck_assert_msg(solve_engine_new(&f.engine, f.model, NULL, &eo, &err) == 0, "%s", err.msg);
    return f;
}

static void fixture_free(fixture *f)
{
    solve_engine_free(f->engine);
    gen_model_free(f->model);
}

/* The write stage's prompt and suffix for task, as solve_run builds them without a plan. */
static void write_inputs(const fixture *f, const solve_task *t, core_buf *prompt, core_buf *suffix,
                         core_buf *code)
{
    ck_assert_int_eq(solve_prompt_build(prompt, f->model, t, false, core_str_c(""), NULL), 0);
    ck_assert_int_eq(solve_code_prefix(code, t, NULL), 0);
    ck_assert_int_eq(core_buf_appendf(suffix, "%s%s",
                                      t->lang == SOLVE_LANG_C ? "```c\n" : "```python\n",
                                      code->ptr),
                     0);
}

static void expect_same_as_pipeline(solve_lang lang, const char *task_prompt, const char *entry,
                                    uint64_t seed)
{
    fixture f = fixture_new();
    solve_task t = {lang, core_str_c(task_prompt), core_str_c(entry), core_str_c("")};
    solve_options o = solve_options_default();
    o.n_candidates = 1;
    o.plan = false;
    o.repair = false;
    o.seed = seed;
    o.n_code_tokens_max = 32;
    solve_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(solve_run(&r, f.engine, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r->n_candidates, 1);

    core_buf prompt = {0};
    core_buf suffix = {0};
    core_buf code = {0};
    write_inputs(&f, &t, &prompt, &suffix, &code);
    solve_generate_options go = solve_generate_options_default();
    go.sampling.temp = o.temp;
    go.sampling.top_p = o.top_p;
    go.sampling.seed = seed * 1000003u + 1; /* round 0, candidate 0 */
    go.n_tokens_max = o.n_code_tokens_max;
    solve_generation g;
    ck_assert_msg(solve_generate(&g, f.engine, lang, (core_str){prompt.ptr, prompt.len},
                                 (core_str){suffix.ptr, suffix.len}, (core_str){code.ptr, code.len},
                                 &go, NULL, &err) == 0,
                  "%s", err.msg);
    const solve_candidate *c = &r->candidates[0];
    ck_assert(g.constrained);
    ck_assert_uint_gt(g.n_tokens, 0);
    ck_assert_uint_eq(g.n_tokens, c->n_tokens);
    ck_assert_int_eq(g.ended, c->ended);
    ck_assert_double_eq_tol(g.logprob_sum / (double)g.n_tokens, c->logprob_mean, 1e-12);
    core_buf whole = {0};
    ck_assert_int_eq(core_buf_appendf(&whole, "%s%s\n", code.ptr, g.text), 0);
    ck_assert_str_eq(whole.ptr, c->code);
    /* the tokens spell the text (the kept part is a prefix of what they spell) */
    core_buf spelled = {0};
    for (size_t i = 0; i < g.n_tokens; i++) {
        core_str piece = gen_model_token_piece(f.model, g.tokens[i], false);
        ck_assert_int_eq(core_buf_append(&spelled, piece.ptr, piece.len), 0);
    }
    ck_assert_int_eq(strncmp(spelled.ptr ? spelled.ptr : "", g.text, strlen(g.text)), 0);

    core_buf_dispose(&spelled);
    core_buf_dispose(&whole);
    solve_generation_dispose(&g);
    core_buf_dispose(&prompt);
    core_buf_dispose(&suffix);
    core_buf_dispose(&code);
    solve_result_free(r);
    fixture_free(&f);
}

START_TEST(write__generate_matches_the_pipeline_python)
{
    expect_same_as_pipeline(SOLVE_LANG_PYTHON, sum_prompt, "total", 3);
}
END_TEST

START_TEST(write__generate_matches_the_pipeline_c)
{
    expect_same_as_pipeline(
        SOLVE_LANG_C, "/* Returns the larger of a and b. */\nint max2(int a, int b);\n", "max2", 2);
}
END_TEST

START_TEST(write__stop_none_makes_exactly_the_cap)
{
    fixture f = fixture_new();
    solve_task t = {SOLVE_LANG_PYTHON, core_str_c(sum_prompt), core_str_c("total"), core_str_c("")};
    core_buf prompt = {0};
    core_buf suffix = {0};
    core_buf code = {0};
    write_inputs(&f, &t, &prompt, &suffix, &code);
    solve_generate_options go = solve_generate_options_default();
    go.stop = SOLVE_STOP_NONE;
    go.n_tokens_max = 16;
    go.sampling.seed = 5;
    solve_generation g;
    core_err err = {0};
    ck_assert_msg(solve_generate(&g, f.engine, SOLVE_LANG_PYTHON,
                                 (core_str){prompt.ptr, prompt.len},
                                 (core_str){suffix.ptr, suffix.len}, (core_str){code.ptr, code.len},
                                 &go, NULL, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(g.n_tokens, 16);
    ck_assert(!g.ended);
    ck_assert_uint_gt(g.n_checks, 0);
    for (size_t i = 0; i < g.n_tokens; i++) {
        ck_assert(!gen_model_token_is_eog(f.model, g.tokens[i]));
    }
    solve_generation_dispose(&g);
    /* an empty suffix is refused by name; a cancel stops the loop */
    ck_assert_int_eq(solve_generate(&g, f.engine, SOLVE_LANG_PYTHON,
                                    (core_str){prompt.ptr, prompt.len}, core_str_c(""),
                                    (core_str){code.ptr, code.len}, &go, NULL, &err),
                     CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty suffix"));
    core_buf_dispose(&prompt);
    core_buf_dispose(&suffix);
    core_buf_dispose(&code);
    fixture_free(&f);
}
END_TEST

/* The write stage through a gen_queue (kiln serve's path) gives the candidates of the engine's
 * own context for the same seed: 4 candidates joining a queue where another request is
 * already decoding. */
typedef struct bystander {
    atomic_int done;
    atomic_size_t n_tokens; /* tokens it was sent */
} bystander;

static void on_bystander(void *payload, const gen_queue_event *ev)
{
    bystander *b = payload;
    if (ev->done) {
        atomic_store(&b->done, 1);
    } else {
        atomic_fetch_add(&b->n_tokens, 1);
    }
}

static void expect_queue_same_as_local(bool plan)
{
    fixture f = fixture_new();
    solve_engine_options eo = solve_engine_options_default();
    eo.n_candidates_max = 4;
    eo.n_ctx = 1024;
    eo.n_threads = 2;
    core_err err = {0};
    solve_engine *local = NULL;
    solve_engine *queued = NULL;
    ck_assert_msg(solve_engine_new(&local, f.model, NULL, &eo, &err) == 0, "%s", err.msg);
    ck_assert_msg(solve_engine_new(&queued, f.model, NULL, &eo, &err) == 0, "%s", err.msg);
    gen_queue_options qo = gen_queue_options_default();
    qo.n_parallel = 6;
    qo.n_ctx = 1024;
    qo.n_threads = 2;
    qo.n_chunk = 16; /* prompts in several steps, beside the other request */
    gen_queue *q = NULL;
    ck_assert_msg(gen_queue_new(&q, f.model, &qo, &err) == 0, "%s", err.msg);
    solve_engine_set_queue(queued, q);

    solve_task t = {SOLVE_LANG_PYTHON,
                    core_str_c("def describe(items):\n    \"\"\"Return a short text about the "
                               "items.\"\"\"\n"),
                    core_str_c("describe"), core_str_c("")};
    solve_options o = solve_options_default();
    o.n_candidates = 4;
    o.temp = 1.0f;
    o.plan = plan;
    o.repair = false;
    o.seed = 11;
    o.n_code_tokens_max = 40;
    solve_result *a = NULL;
    solve_result *b = NULL;
    ck_assert_msg(solve_run(&a, local, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    /* A request that keeps decoding while the candidates join and leave. */
    int32_t *ids = NULL;
    size_t n_ids = 0;
    ck_assert_int_eq(gen_model_tokenize(f.model, core_str_c("Once upon a time"), true, false, &ids,
                                        &n_ids, NULL),
                     0);
    bystander by;
    atomic_init(&by.done, 0);
    atomic_init(&by.n_tokens, 0);
    gen_queue_request br;
    memset(&br, 0, sizeof(br));
    br.prompt = ids;
    br.n_prompt = n_ids;
    br.sampler = gen_sampler_options_default();
    br.n_tokens_max = 1000; /* one token a step: far more steps than the candidates take */
    br.ignore_eog = true;
    br.on_event = on_bystander;
    br.payload = &by;
    uint64_t bid = 0;
    ck_assert_int_eq(gen_queue_submit(q, &bid, &br, NULL), 0);

    ck_assert_msg(solve_run(&b, queued, &t, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    /* with the fresh rounds (on by default) the queue writes the same further rounds too */
    ck_assert_uint_eq(a->n_candidates, 4 * (1 + a->n_fresh_rounds_run));
    ck_assert_uint_eq(b->n_candidates, a->n_candidates);
    ck_assert_uint_eq(b->n_fresh_rounds_run, a->n_fresh_rounds_run);
    /* the plan (on the queue too) is the same text, and the candidates were written after it */
    ck_assert_str_eq(b->plan, a->plan);
    if (plan) {
        ck_assert_uint_gt(strlen(a->plan), 0);
    }
    ck_assert_uint_eq(b->n_tokens_generated, a->n_tokens_generated);
    size_t n_distinct = 0;
    for (size_t i = 0; i < a->n_candidates; i++) {
        ck_assert_str_eq(b->candidates[i].code, a->candidates[i].code);
        ck_assert_uint_eq(b->candidates[i].n_tokens, a->candidates[i].n_tokens);
        ck_assert_int_eq(b->candidates[i].ended, a->candidates[i].ended);
        ck_assert_double_eq_tol(b->candidates[i].logprob_mean, a->candidates[i].logprob_mean, 1e-9);
        n_distinct += i > 0 && strcmp(a->candidates[i].code, a->candidates[0].code) != 0;
    }
    /* the seeds differ per candidate, so the comparison covers different samples */
    ck_assert_uint_gt(n_distinct, 0);
    ck_assert_int_eq(atomic_load(&by.done), 0);
    gen_queue_cancel(q, bid);
    while (!atomic_load(&by.done)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* the candidates' prompts went to the queue, and every token the run sampled (the plan's
       too) was sampled there */
    gen_queue_stats st = gen_queue_stats_get(q);
    ck_assert_uint_gt(st.n_tokens_prompt, n_ids);
    const size_t n_bystander = atomic_load(&by.n_tokens);
    ck_assert_uint_ge(st.n_tokens_generated, n_bystander + b->n_tokens_generated);

    solve_result_free(a);
    solve_result_free(b);
    gen_queue_free(q);
    core_free(ids);
    solve_engine_free(local);
    solve_engine_free(queued);
    fixture_free(&f);
}

START_TEST(write__queue_gives_the_local_candidates)
{
    expect_queue_same_as_local(false);
}
END_TEST

/* With the plan stage on, the plan is one request of the queue too (no decoding in the
 * engine's context), and plan and candidates are those of the local path. */
START_TEST(write__queue_gives_the_local_plan)
{
    expect_queue_same_as_local(true);
}
END_TEST

static bool always(void *payload)
{
    (void)payload;
    return true;
}

START_TEST(write__cancel_stops_generate)
{
    fixture f = fixture_new();
    solve_generation g;
    core_err err = {0};
    core_cancel cancel = {always, NULL};
    long live = core_alloc_live();
    ck_assert_int_eq(solve_generate(&g, f.engine, SOLVE_LANG_PYTHON, core_str_c("Write code."),
                                    core_str_c("```python\ndef f():\n"), core_str_c("def f():\n"),
                                    NULL, &cancel, &err),
                     CORE_ECANCELED);
    ck_assert_ptr_null(g.text);
    ck_assert_int_eq(core_alloc_live(), live);
    fixture_free(&f);
}
END_TEST

TCase *tcase_write(void)
{
    TCase *tc = tcase_create("write");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, write__generate_matches_the_pipeline_python);
    tcase_add_test(tc, write__generate_matches_the_pipeline_c);
    tcase_add_test(tc, write__stop_none_makes_exactly_the_cap);
    tcase_add_test(tc, write__cancel_stops_generate);
    tcase_add_test(tc, write__queue_gives_the_local_candidates);
    tcase_add_test(tc, write__queue_gives_the_local_plan);
    return tc;
}
