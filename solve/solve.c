/*
 * The pipeline driver: plan, write, test, repair, rank (see solve/solve.h). The engine keeps one
 * decoding context with a sequence for the shared prompt (0) and one per candidate (1..N).
 * The shared prompt (system turn, worked example, task, plan) is decoded once per task into
 * sequence 0 and every round copies it instead of recomputing it: round 0 appends the code
 * fence and the task's code, a repair round appends the failing candidate, its test message
 * and the same code. Sandbox runs go to the pool from up to n_test_jobs threads at once. The
 * score cards follow eval_card: visible tests, parse check, limits, gram_metrics quality and
 * the mean log-probability; behavior (for CodeT-style agreement) is the candidate's test
 * outcomes, or its whitespace-free code when nothing ran (AlphaCode-style clustering).
 * Fresh rounds (n_fresh_rounds) add samples of the same prompt, with seeds of their own, while
 * nothing passes the visible tests or, without them, while the candidates agree weakly.
 */
#include "solve/solve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

solve_options solve_options_default(void)
{
    solve_options o;
    memset(&o, 0, sizeof(o));
    o.n_candidates = 8;
    o.n_rounds = 2;
    /* Off: on kiln's first 10 Python tasks (n 10) the plan lowered the samples' pass@1 from
       33% to 20% and added nothing to the ranked top-1, at 2.4x the time (scripts/
       bench-pipeline.sh, README). */
    o.plan = false;
    o.grammar = true;
    /* Off: with the plan off, repair rounds added nothing to the ranked top-1 on kiln's first
       10 Python tasks (70% with and without, +5.9 s a task) nor on HumanEval's first tasks
       (+43 s a task), where they were most of the time (scripts/bench-pipeline.sh, README). */
    o.repair = false;
    o.greedy_first = false;
    o.repair_resample = true;
    o.end_gate = true;
    o.seed = 1;
    o.temp = 0.8f;
    o.top_p = 0.95f;
    o.temp_plan = 0.0f;
    o.n_plan_tokens_max = 96;
    o.n_code_tokens_max = 256;
    o.n_test_jobs = 0;
    /* Off: on kiln's first 8 Python tasks without tests (n 10) the default model's tests
       ranked 3 of 8 first against 4 of 8 without execution, for 4.8 s more a task. */
    o.n_gen_tests = 0;
    /* On: see README (HumanEval with the examples withheld). */
    o.n_probes = 10;
    /* One: see README (HumanEval with and without the examples, first 48 tasks). */
    o.n_fresh_rounds = 1;
    o.fresh_agree = 0.5;
    o.limits = sbx_limits_default();
    o.rank = eval_rank_options_default();
    return o;
}

solve_engine_options solve_engine_options_default(void)
{
    solve_engine_options o;
    memset(&o, 0, sizeof(o));
    o.n_candidates_max = 8;
    o.n_ctx = 1536;
    o.n_threads = 1;
    return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Engine                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static bool piece_is_fence(core_str piece)
{
    size_t i = 0;
    while (i < piece.len && (piece.ptr[i] == ' ' || piece.ptr[i] == '\n' || piece.ptr[i] == '\t')) {
        i++;
    }
    return piece.len - i >= 3 && memcmp(piece.ptr + i, "```", 3) == 0;
}

int solve_engine_new(solve_engine **out, const gen_model *model, sbx_pool *pool,
                     const solve_engine_options *opts, core_err *err)
{
    int rc = 0;
    solve_engine_options o = opts ? *opts : solve_engine_options_default();
    *out = NULL;
    if (o.n_candidates_max == 0 || o.n_candidates_max > SOLVE_N_MAX) {
        return core_err_set(err, CORE_EINVAL, "solve: n_candidates_max %zu not in 1..%d",
                            o.n_candidates_max, SOLVE_N_MAX);
    }
    solve_engine *e = core_calloc(1, sizeof(*e));
    if (!e) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the engine");
    }
    e->model = model;
    e->pool = pool;
    e->log = o.log;
    e->n_candidates_max = o.n_candidates_max;
    e->n_vocab = gen_model_n_vocab(model);
    e->backend = o.backend;
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = o.n_ctx;
    if (gen_model_n_ctx_train(model) > 0 && co.n_ctx > gen_model_n_ctx_train(model)) {
        co.n_ctx = gen_model_n_ctx_train(model);
    }
    co.n_seq_max = o.n_candidates_max + 1;
    co.n_outputs_max = co.n_seq_max;
    co.n_batch_max = 512;
    co.n_threads = o.n_threads ? o.n_threads : 1;
    e->n_ctx = co.n_ctx;
    rc = e->backend ? 0 : gen_ctx_new(&e->ctx, model, &co, err);
    if (rc < 0) {
        goto done;
    }
    e->pieces = core_calloc(e->n_vocab, sizeof(*e->pieces));
    e->is_stop = core_calloc(e->n_vocab, sizeof(*e->is_stop));
    e->scratch = core_calloc(e->n_vocab, sizeof(*e->scratch));
    e->shared = core_malloc(e->n_ctx * sizeof(*e->shared));
    if (!e->pieces || !e->is_stop || !e->scratch || !e->shared) {
        rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for the vocabulary");
        goto done;
    }
    for (size_t t = 0; t < e->n_vocab; t++) {
        e->pieces[t] = gen_model_token_piece(model, (int32_t)t, false);
        e->is_stop[t] = gen_model_token_is_eog(model, (int32_t)t) || piece_is_fence(e->pieces[t]);
    }
    e->vocab = (gram_vocab){e->pieces, e->is_stop, e->n_vocab};
    static const char *const names[2] = {"python", "c"};
    for (size_t i = 0; i < 2; i++) {
        core_err lerr = {0};
        int lrc = gram_lang_load(&e->langs[i], names[i], &lerr);
        if (lrc == CORE_ENOMEM) {
            rc = core_err_set(err, lrc, "%s", lerr.msg);
            goto done;
        }
        if (lrc < 0) {
            core_log_write(&e->log, CORE_LOG_LEVEL_WARN, "solve: no %s grammar: %s", names[i],
                           lerr.msg);
        }
    }
    *out = e;
    e = NULL;

done:
    solve_engine_free(e);
    return rc;
}

void solve_engine_free(solve_engine *engine)
{
    if (!engine) {
        return;
    }
    gen_ctx_free(engine->ctx);
    core_free(engine->shared);
    core_buf_dispose(&engine->shared_text);
    gram_lang_free(engine->langs[0]);
    gram_lang_free(engine->langs[1]);
    gram_names_free(engine->names);
    sbx_tree_free(engine->gate);
    core_free(engine->pieces);
    core_free(engine->is_stop);
    core_free(engine->scratch);
    core_free(engine);
}

void solve_result_free(solve_result *result)
{
    if (!result) {
        return;
    }
    for (size_t i = 0; i < result->n_candidates; i++) {
        core_free(result->candidates[i].code);
        core_free(result->candidates[i].message);
        core_free(result->candidates[i].behavior);
    }
    core_free(result->candidates);
    core_free(result->plan);
    core_free(result->visible_tests);
    core_free(result);
}

/* ------------------------------------------------------------------------------------------ */
/* One run                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct run {
    solve_engine *e;
    const solve_task *task;
    const solve_options *opts;
    const solve_progress *progress;
    const core_cancel *cancel;
    solve_result *res;
    size_t cap;        /* candidates allocated in res */
    core_buf prefix;   /* the code the model continues from */
    const char *tests; /* visible tests, "" when none */
    int32_t *suffix;   /* round 0's suffix: the code fence and the code prefix, owned */
    size_t n_suffix;
    size_t n_passed;   /* candidates passing the visible tests */
    size_t test_first; /* the test stage's first candidate (on_tested's index 0) */
} run;

static void report(run *r, solve_stage stage, size_t round, size_t i_done, size_t n_total)
{
    if (r->progress && r->progress->fn) {
        solve_event ev = {stage, round, i_done, n_total, r->n_passed};
        r->progress->fn(r->progress->payload, &ev);
    }
}

/* Reports an event of candidate i of the result. */
static void report_candidate(run *r, solve_candidate_event_kind kind, size_t round, size_t i)
{
    const solve_candidate_sink *sink = &r->opts->on_candidate;
    if (sink->fn) {
        solve_candidate_event ev = {kind, round, i, &r->res->candidates[i]};
        sink->fn(sink->payload, &ev);
    }
}

static int tokenize(run *r, core_str text, bool add_special, int32_t **ids, size_t *n,
                    core_err *err)
{
    return gen_model_tokenize(r->e->model, text, add_special, true, ids, n, err);
}

int solve__decode_shared(solve_engine *e, core_str text, size_t *n_tokens, core_err *err)
{
    int32_t *ids = NULL;
    size_t n = 0;
    e->n_shared = 0;
    e->shared_decoded = false;
    if (e->backend) {
        /* The server tokenizes the prompt itself: keep the text. */
        e->shared_text.len = 0;
        if (core_buf_append(&e->shared_text, text.ptr, text.len) < 0) {
            return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the prompt");
        }
        return 0;
    }
    int rc = gen_ctx_seq_truncate(e->ctx, 0, 0, err);
    if (rc == 0) {
        rc = gen_model_tokenize(e->model, text, true, true, &ids, &n, err);
    }
    if (rc == 0 && n + 2 >= e->n_ctx) {
        rc = core_err_set(err, CORE_ELIMIT,
                          "solve: prompt of %zu tokens does not fit the %zu "
                          "positions of the context",
                          n, e->n_ctx);
    }
    if (rc == 0) {
        memcpy(e->shared, ids, n * sizeof(int32_t));
        e->n_shared = n;
        *n_tokens += n;
        /* With a queue the write stage sends these tokens there; what reads sequence 0
           decodes them first (solve__shared_ensure). */
        rc = e->queue ? 0 : solve__shared_ensure(e, err);
    }
    core_free(ids);
    return rc;
}

int solve__shared_ensure(solve_engine *e, core_err *err)
{
    if (e->shared_decoded) {
        return 0;
    }
    int rc = gen_ctx_seq_truncate(e->ctx, 0, 0, err);
    if (rc == 0) {
        gen_batch b = {e->shared, NULL, NULL, e->n_shared};
        rc = gen_ctx_decode(e->ctx, &b, err);
    }
    e->shared_decoded = rc == 0;
    return rc;
}

void solve_engine_set_queue(solve_engine *engine, gen_queue *queue)
{
    engine->queue = queue;
}

static int decode_shared(run *r, core_str text, core_err *err)
{
    return solve__decode_shared(r->e, text, &r->res->n_tokens_prompt, err);
}

/* Steps a plan keeps (the prompt asks for at most 4). */
#define SOLVE_PLAN_STEPS_MAX 4

/* Lines begun in text (a line is begun by its first non-blank character). */
static size_t plan_lines(const core_buf *text)
{
    size_t n = 0;
    bool in_line = false;
    for (size_t i = 0; i < text->len; i++) {
        char ch = text->ptr[i];
        if (ch == '\n') {
            in_line = false;
        } else if (!in_line && ch != ' ' && ch != '\t') {
            in_line = true;
            n++;
        }
    }
    return n;
}

/* The plan's token choice, the same on the engine's context and on a queue. */
typedef struct plan_state {
    solve_engine *e;
    gen_sampler *sampler; /* owned by stage_plan */
    core_buf text;        /* the plan so far, owned by stage_plan */
    size_t n_picked;      /* tokens sampled */
    size_t n_max;         /* tokens to sample at most */
    size_t *n_generated;  /* the result's count */
    bool ended;           /* the model ended its turn */
} plan_state;

/* Samples the plan's next token from logits: 1 with *tok to decode next, 0 when the plan is
   over, or a negative code. */
static int plan_next(plan_state *p, const float *logits, int32_t *tok, core_err *err)
{
    solve_engine *e = p->e;
    if (p->n_picked >= p->n_max) {
        return 0;
    }
    memcpy(e->scratch, logits, e->n_vocab * sizeof(float));
    int rc = gen_sampler_sample(p->sampler, e->scratch, NULL, tok, err);
    if (rc < 0) {
        return rc;
    }
    p->n_picked++;
    (*p->n_generated)++;
    if (e->is_stop[*tok]) {
        p->ended = true;
        return 0;
    }
    gen_sampler_accept(p->sampler, *tok);
    core_str piece = e->pieces[*tok];
    if (core_buf_append(&p->text, piece.ptr, piece.len) < 0) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the plan");
    }
    /* The model tends to repeat its steps: keep the first few. */
    return plan_lines(&p->text) > SOLVE_PLAN_STEPS_MAX ? 0 : 1;
}

/* The plan in sequence 0 of the engine's context. */
static int plan_local(plan_state *p, const core_cancel *cancel, core_err *err)
{
    solve_engine *e = p->e;
    int rc = solve__shared_ensure(e, err);
    const float *logits = rc == 0 ? gen_ctx_logits(e->ctx, 0) : NULL;
    while (rc == 0) {
        if (core_cancel_is_requested(cancel)) {
            return core_err_set(err, CORE_ECANCELED, "solve: canceled while planning");
        }
        int32_t tok = 0;
        rc = plan_next(p, logits, &tok, err);
        if (rc <= 0) {
            break;
        }
        gen_batch b = {&tok, NULL, NULL, 1};
        rc = gen_ctx_decode(e->ctx, &b, err);
        logits = gen_ctx_logits(e->ctx, 0);
    }
    return rc < 0 ? rc : 0;
}

typedef struct plan_req {
    plan_state *p;
    solve__qset *qs;
} plan_req;

static int plan_pick(void *payload, const float *logits, size_t n_past, int32_t *tok, core_err *err)
{
    (void)n_past;
    return plan_next(((plan_req *)payload)->p, logits, tok, err);
}

static void plan_event(void *payload, const gen_queue_event *ev)
{
    if (ev->done) {
        solve__qset_done(((plan_req *)payload)->qs, ev);
    }
}

/* The plan as one request of the engine's queue, picked by plan_next as on the context. */
static int plan_queue(plan_state *p, const core_cancel *cancel, core_err *err)
{
    solve_engine *e = p->e;
    solve__qset *qs = core_calloc(1, sizeof(*qs));
    if (!qs) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the plan");
    }
    int rc = solve__qset_init(qs, e->queue, err);
    if (rc < 0) {
        core_free(qs);
        return rc;
    }
    plan_req pr = {p, qs};
    /* plan_next ends it first */
    const solve__qreq r = {e->shared, e->n_shared, p->n_max + 1, plan_pick, plan_event, &pr};
    rc = solve__qset_submit(qs, &r, err);
    if (rc == 0) {
        rc = solve__qset_wait(qs, cancel, false, "planning", err);
    }
    solve__qset_dispose(qs);
    core_free(qs);
    return rc;
}

/* Stage 1: a greedy plan after the shared prompt (in sequence 0, or on the engine's queue),
   cut at the end of turn or at the last full line. */
static int stage_plan(run *r, core_err *err)
{
    solve_engine *e = r->e;
    core_buf prompt = {0};
    plan_state p = {e,    NULL, {0}, 0, r->opts->n_plan_tokens_max, &r->res->n_tokens_generated,
                    false};
    int rc = solve_prompt_build(&prompt, e->model, r->task, true, core_str_c(""), err);
    if (rc == 0) {
        rc = decode_shared(r, (core_str){prompt.ptr, prompt.len}, err);
    }
    gen_sampler_options so = gen_sampler_options_default();
    so.temp = r->opts->temp_plan;
    so.seed = r->opts->seed;
    if (rc == 0) {
        rc = gen_sampler_new(&p.sampler, &so, e->n_vocab, err);
    }
    if (rc == 0) {
        rc = e->queue ? plan_queue(&p, r->cancel, err) : plan_local(&p, r->cancel, err);
    }
    const core_buf text = p.text;
    if (rc == 0) {
        size_t len = text.len;
        if (!p.ended) {
            while (len > 0 && text.ptr[len - 1] != '\n') {
                len--;
            }
        }
        while (len > 0 && (text.ptr[len - 1] == '\n' || text.ptr[len - 1] == ' ')) {
            len--;
        }
        size_t start = 0;
        while (start < len && (text.ptr[start] == '\n' || text.ptr[start] == ' ')) {
            start++;
        }
        core_free(r->res->plan);
        r->res->plan = core_strndup(text.ptr ? text.ptr + start : "", len - start);
        if (!r->res->plan) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for the plan");
        }
    }
    gen_sampler_free(p.sampler);
    core_buf_dispose(&prompt);
    core_buf_dispose(&p.text);
    return rc;
}

/* Whitespace-free code: candidates that differ only in layout behave alike. */
static char *code_key(const char *code)
{
    size_t n = strlen(code);
    char *k = core_malloc(n + 1);
    if (!k) {
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (code[i] != ' ' && code[i] != '\t' && code[i] != '\n' && code[i] != '\r') {
            k[j++] = code[i];
        }
    }
    k[j] = '\0';
    return k;
}

/* Turns written candidates into result candidates (code, parse check, quality). */
static int add_candidates(run *r, solve__cand *cands, size_t n, size_t round, core_err *err)
{
    solve_result *res = r->res;
    if (res->n_candidates + n > r->cap) {
        size_t cap = (res->n_candidates + n) * 2;
        solve_candidate *c = core_realloc(res->candidates, cap * sizeof(*c));
        if (!c) {
            return core_err_set(err, CORE_ENOMEM, "solve: out of memory for candidates");
        }
        res->candidates = c;
        r->cap = cap;
    }
    const gram_lang *gl = r->e->langs[r->task->lang];
    for (size_t i = 0; i < n; i++) {
        solve__cand *w = &cands[i];
        solve_candidate *c = &res->candidates[res->n_candidates];
        memset(c, 0, sizeof(*c));
        size_t len = r->prefix.len + w->end + 1;
        c->code = core_malloc(len + 1);
        c->message = core_strndup("", 0);
        if (!c->code || !c->message) {
            core_free(c->code);
            core_free(c->message);
            return core_err_set(err, CORE_ENOMEM, "solve: out of memory for candidates");
        }
        memcpy(c->code, r->prefix.ptr, r->prefix.len);
        if (w->end > 0) {
            memcpy(c->code + r->prefix.len, w->text.ptr, w->end);
        }
        c->code[len - 1] = '\n';
        c->code[len] = '\0';
        res->n_candidates++;
        c->round = round;
        c->n_tokens = w->n_tokens;
        c->logprob_mean = w->n_tokens ? w->logprob_sum / (double)w->n_tokens : 0.0;
        c->ended = w->ended;
        c->end_refused = w->end_refused;
        c->parses = true;
        c->card.has_logprob = w->n_tokens > 0 && w->n_requests == 0; /* remote: none */
        c->n_requests = w->n_requests;
        c->card.logprob_mean = c->logprob_mean;
        c->card.logprob_sum = w->logprob_sum;
        if (gl) {
            gram_metrics m;
            int rc = gram_metrics_compute(&m, gl, core_str_c(c->code), err);
            if (rc == CORE_ENOMEM) {
                return rc;
            }
            if (rc == 0) {
                c->parses = m.parses;
                c->card.has_quality = true;
                c->card.quality = (eval_quality){m.cyclomatic,  m.nesting_max,     m.n_lines,
                                                 m.n_tokens,    m.n_comment_lines, m.n_names,
                                                 m.n_names_bad, m.n_names_short};
            } else {
                c->parses = false;
                core_err_clear(err);
            }
        }
        /* A candidate the token cap cut is unfinished code, whatever the parser says. */
        c->parses = c->parses && c->ended;
        c->card.parses = c->parses;
    }
    return 0;
}

/* Fresh round f's seeds (cand_options), apart from round 0's and the repair rounds'. */
#define SOLVE_FRESH_SEED_ROUND 0x10000u

/* How candidate i of round writes: the pipeline's sampling (its own seed), the task's code. */
static solve__cand_options cand_options(const run *r, size_t seed_round, size_t i)
{
    const solve_options *o = r->opts;
    solve__cand_options co;
    memset(&co, 0, sizeof(co));
    co.sampling = gen_sampler_options_default();
    /* a fresh round's candidate 0 samples: the greedy one is round 0's again */
    bool greedy = o->greedy_first && i == 0 && seed_round < SOLVE_FRESH_SEED_ROUND;
    co.sampling.temp = greedy ? 0.0f : o->temp;
    co.sampling.top_p = o->top_p;
    co.sampling.seed = o->seed * 1000003u + (uint64_t)seed_round * SOLVE_N_MAX + i + 1;
    co.lang = r->task->lang;
    co.code_prefix = (core_str){r->prefix.ptr, r->prefix.len};
    co.suffix = core_str_c("");
    co.grammar = o->grammar;
    co.stop = SOLVE_STOP_END;
    co.n_tokens_max = o->n_code_tokens_max;
    return co;
}

/* Whether the end gate refuses a finished candidate (solve__end_refused). */
static int end_refused(run *r, const solve__cand *w, bool *out, core_err *err)
{
    *out = false;
    if (!w->ended || !w->checker || !r->opts->end_gate) {
        return 0;
    }
    core_buf code = {0};
    if (core_buf_append(&code, r->prefix.ptr, r->prefix.len) < 0 ||
        core_buf_append(&code, w->text.ptr, w->end) < 0 || core_buf_append(&code, "\n", 1) < 0) {
        core_buf_dispose(&code);
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    int rc = solve__end_refused(r->e, r->task->lang, (core_str){code.ptr, code.len}, out, err);
    core_buf_dispose(&code);
    return rc;
}

/*
 * A finished candidate that the end gate refuses (the language's own front end would) is
 * written again with a fresh seed, up to SOLVE_RESAMPLES times; when the last try is refused
 * too, its end is not accepted: it stays as written, unfinished (end_refused).
 */
static int resample_refused(run *r, solve__cand *cands, solve__cand_options *opts,
                            int32_t *const *suffixes, const size_t *n_suffixes, size_t n,
                            core_err *err)
{
    for (size_t attempt = 1; attempt <= SOLVE_RESAMPLES + 1; attempt++) {
        size_t idx[SOLVE_N_MAX];
        int32_t *sub_suffixes[SOLVE_N_MAX];
        size_t sub_n_suffixes[SOLVE_N_MAX];
        solve__cand_options sub_opts[SOLVE_N_MAX];
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            bool bad = false;
            int rc = end_refused(r, &cands[i], &bad, err);
            if (rc < 0) {
                return rc;
            }
            if (bad && attempt > SOLVE_RESAMPLES) {
                cands[i].ended = false;
                cands[i].end_refused = true;
            } else if (bad) {
                idx[k] = i;
                sub_suffixes[k] = suffixes[i];
                sub_n_suffixes[k] = n_suffixes[i];
                sub_opts[k] = opts[i];
                sub_opts[k].sampling.seed ^= (uint64_t)attempt * 0x9E3779B97F4A7C15ULL;
                k++;
            }
        }
        if (k == 0) {
            return 0;
        }
        solve__cand fresh[SOLVE_N_MAX];
        memset(fresh, 0, sizeof(fresh));
        int rc = solve__write(r->e, fresh, sub_opts, sub_suffixes, sub_n_suffixes, k, r->cancel,
                              &r->res->n_tokens_prompt, err);
        for (size_t j = 0; j < k; j++) {
            r->res->n_tokens_generated += fresh[j].n_tokens;
            if (rc == 0) {
                solve__cand_dispose(&cands[idx[j]]);
                cands[idx[j]] = fresh[j];
                opts[idx[j]] = sub_opts[j];
            } else {
                solve__cand_dispose(&fresh[j]);
            }
        }
        if (rc < 0) {
            return rc;
        }
        r->res->n_resampled += k;
    }
    return 0;
}

/* Stages 2 and 4: writes n candidates from suffixes and adds them to the result; seed_round
   picks their seeds (cand_options). */
static int write_round(run *r, int32_t *const *suffixes, const size_t *n_suffixes, size_t n,
                       size_t round, size_t seed_round, core_err *err)
{
    solve__cand cands[SOLVE_N_MAX];
    solve__cand_options opts[SOLVE_N_MAX];
    memset(cands, 0, sizeof(cands));
    memset(opts, 0, sizeof(opts));
    for (size_t i = 0; i < n; i++) {
        opts[i] = cand_options(r, seed_round, i);
    }
    int rc = solve__write(r->e, cands, opts, suffixes, n_suffixes, n, r->cancel,
                          &r->res->n_tokens_prompt, err);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            r->res->n_tokens_generated += cands[i].n_tokens;
            r->res->n_requests += cands[i].n_requests;
            r->res->n_requests_extra += cands[i].n_requests ? cands[i].n_requests - 1 : 0;
        }
        rc = resample_refused(r, cands, opts, suffixes, n_suffixes, n, err);
    }
    if (rc == 0) {
        rc = add_candidates(r, cands, n, round, err);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        report_candidate(r, SOLVE_CANDIDATE_WRITTEN, round, r->res->n_candidates - n + i);
    }
    for (size_t i = 0; i < n; i++) {
        solve__cand_dispose(&cands[i]);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Stage 3: tests                                                                             */
/* ------------------------------------------------------------------------------------------ */

static int summarize(solve_candidate *c, const sbx_result *sr)
{
    core_buf beh = {0};
    const char *msg = sr->message ? sr->message : "";
    const char *first_name = "";
    size_t passed = 0;
    int rc = 0;
    for (size_t i = 0; i < sr->n_tests && rc == 0; i++) {
        const sbx_test *t = &sr->tests[i];
        if (t->status == SBX_TEST_PASSED) {
            passed++;
        } else if (first_name[0] == '\0') {
            first_name = t->name;
            msg = t->message;
        }
        /* One observation per test; one that raised produced no value ('!', eval_card). */
        bool raised = t->status == SBX_TEST_ERROR ||
                      (t->message && strstr(t->message, "(raised in the candidate)"));
        rc = core_buf_appendf(&beh, "%s%s %s %s\n", raised ? "!" : "", t->name,
                              sbx_test_status_name(t->status), t->message ? t->message : "");
    }
    if (rc == 0 && sr->verdict != SBX_VERDICT_PASSED && sr->verdict != SBX_VERDICT_FAILED) {
        /* a limit, a crash or a load error: the inputs after it have no value */
        rc = core_buf_appendf(&beh, "!%s %s\n", sbx_verdict_name(sr->verdict),
                              sr->n_tests ? "" : msg);
    }
    c->tested = true;
    c->verdict = sr->verdict;
    c->n_tests_run = sr->n_tests;
    c->n_tests_passed = passed;
    c->card.n_tests_run = sr->n_tests ? sr->n_tests : 1;
    c->card.n_tests_passed = passed;
    if (sr->verdict != SBX_VERDICT_PASSED && passed >= c->card.n_tests_run) {
        c->card.n_tests_run = passed + 1; /* a limit or a crash after the last test */
    }
    c->card.limit_hit = sr->verdict == SBX_VERDICT_LIMIT;
    char text[400];
    if (sr->verdict == SBX_VERDICT_LIMIT && first_name[0] == '\0') {
        snprintf(text, sizeof(text), "limit %s: %s", sbx_limit_name(sr->limit), msg);
    } else {
        snprintf(text, sizeof(text), "%s", msg);
    }
    char *m = core_strndup(text, strlen(text));
    if (rc < 0 || !m) {
        core_free(m);
        core_buf_dispose(&beh);
        return CORE_ENOMEM;
    }
    core_free(c->message);
    c->message = m;
    core_free(c->behavior);
    c->behavior = beh.ptr;
    c->card.behavior = (core_str){beh.ptr, beh.len};
    return 0;
}

/* solve_test_fn of the test stage: the summary of candidate first + i. */
static int on_tested(void *payload, size_t i, int rc, const sbx_result *sr, const core_err *run_err,
                     core_err *err)
{
    run *r = payload;
    if (rc < 0) {
        *err = *run_err;
        return rc;
    }
    rc = summarize(&r->res->candidates[r->test_first + i], sr);
    return rc < 0 ? core_err_set(err, rc, "solve: out of memory for test results") : 0;
}

static void set_untested(solve_candidate *c)
{
    char *k = code_key(c->code);
    if (k) {
        core_free(c->behavior);
        c->behavior = k;
        c->card.behavior = core_str_c(k);
    }
}

/* The prefix of the code observation's line in a behavior. */
#define CODE_OBS "code "

/* Adds the candidate's whitespace-free code to its behavior as one more observation, so that
   identical samples (the model's own consistency) agree on it as they did without execution;
   a constant candidate's probe outputs become no observation (solve__probes_mark_constant). */
static int add_code_observation(solve_candidate *c)
{
    char *k = code_key(c->code);
    core_buf beh = {0};
    if (!k || solve__probes_mark_constant(&beh, core_str_c(c->behavior ? c->behavior : "")) < 0 ||
        core_buf_appendf(&beh, CODE_OBS "%s\n", k) < 0) {
        core_free(k);
        core_buf_dispose(&beh);
        return CORE_ENOMEM;
    }
    core_free(k);
    core_free(c->behavior);
    c->behavior = beh.ptr;
    c->card.behavior = (core_str){beh.ptr, beh.len};
    return 0;
}

/* Runs the visible tests of candidates first.. in the pool, n_test_jobs at a time. */
static int stage_test(run *r, size_t first, core_err *err)
{
    size_t n = r->res->n_candidates - first;
    if (r->tests[0] == '\0' || !r->e->pool) {
        for (size_t i = first; i < r->res->n_candidates; i++) {
            set_untested(&r->res->candidates[i]);
        }
        return 0;
    }
    const char **codes = core_malloc((n + 1) * sizeof(*codes));
    if (!codes) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        codes[i] = r->res->candidates[first + i].code;
    }
    solve_test_batch batch = {r->task->lang,        codes,          n,
                              core_str_c(r->tests), r->task->entry, r->opts->limits,
                              r->opts->n_test_jobs, r->cancel};
    core_err werr = {0};
    r->test_first = first;
    int wrc = solve_test_all(r->e->pool, &batch, on_tested, r, &werr);
    core_free(codes);
    if (wrc == CORE_EPARSE && r->res->tests_source == SOLVE_TESTS_DOCSTRING) {
        /* The extracted examples are not valid Python: rank without them. */
        core_log_write(&r->e->log, CORE_LOG_LEVEL_WARN,
                       "solve: docstring tests unusable (%s); ranking without execution", werr.msg);
        r->tests = "";
        r->res->tests_source = SOLVE_TESTS_NONE;
        core_free(r->res->visible_tests);
        r->res->visible_tests = core_strndup("", 0);
        for (size_t i = 0; i < r->res->n_candidates; i++) {
            solve_candidate *c = &r->res->candidates[i];
            c->tested = false;
            c->card.n_tests_run = 0;
            c->card.n_tests_passed = 0;
            c->card.limit_hit = false;
            set_untested(c);
        }
        return r->res->visible_tests ? 0 : core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    if (wrc < 0) {
        if (err) {
            *err = werr;
        }
        return wrc;
    }
    for (size_t i = first; i < r->res->n_candidates; i++) {
        const solve_candidate *c = &r->res->candidates[i];
        r->n_passed += c->tested && c->verdict == SBX_VERDICT_PASSED;
        report_candidate(r, SOLVE_CANDIDATE_TESTED, c->round, i);
    }
    return 0;
}

/*
 * Runs the generated tests (r->tests) on candidates first.. and moves their counts from the
 * correctness fields of the cards to the generated-test fields; tests that do not load turn the
 * whole pool to ranking without execution.
 */
static int test_generated(run *r, size_t first, core_err *err)
{
    int rc = stage_test(r, first, err);
    bool unusable = rc == CORE_EPARSE;
    if (unusable) {
        core_log_write(&r->e->log, CORE_LOG_LEVEL_WARN,
                       "solve: generated tests unusable (%s); ranking without execution",
                       err ? err->msg : "");
        core_err_clear(err);
        rc = 0;
        r->tests = "";
        r->res->tests_source = SOLVE_TESTS_NONE;
    }
    for (size_t i = unusable ? 0 : first; i < r->res->n_candidates; i++) {
        solve_candidate *c = &r->res->candidates[i];
        c->card.n_gen_run = c->tested && !unusable ? c->card.n_tests_run : 0;
        c->card.n_gen_passed = c->tested && !unusable ? c->card.n_tests_passed : 0;
        c->card.n_tests_run = 0;
        c->card.n_tests_passed = 0;
        if (unusable) {
            c->tested = false;
            c->card.limit_hit = false;
            set_untested(c);
        } else if (c->tested && add_code_observation(c) < 0) {
            return core_err_set(err, CORE_ENOMEM, "solve: out of memory for behaviors");
        }
    }
    r->n_passed = 0;
    return rc;
}

/*
 * CodeT for a task without visible tests: the model's tests (n_gen_tests) and the signature's
 * probes (n_probes) run on every candidate, and their counts move from the correctness fields
 * to the generated-test fields of the cards, so that eval_rank scores them by agreement only.
 * Repair never sees them.
 */
static int stage_gentests(run *r, core_arena *arena, core_err *err)
{
    const char *model_tests = "";
    int rc = 0;
    if (r->opts->n_gen_tests > 0) {
        rc =
            solve__gentests(&model_tests, r->e, r->task, r->opts->n_gen_tests, r->opts->seed, arena,
                            r->cancel, &r->res->n_tokens_prompt, &r->res->n_tokens_generated, err);
    }
    core_buf all = {0};
    if (rc == 0 && (core_buf_appendf(&all, "%s", model_tests) < 0 ||
                    solve__probes(&all, r->task->prompt, r->task->entry, r->opts->n_probes) < 0)) {
        rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for probes");
    }
    const char *tests = rc == 0 && all.len > 0 ? core_arena_strndup(arena, all.ptr, all.len) : "";
    core_buf_dispose(&all);
    if (!tests) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for probes");
    }
    if (rc < 0 || tests[0] == '\0') {
        return rc;
    }
    char *visible = core_strndup(tests, strlen(tests));
    if (!visible) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    core_free(r->res->visible_tests);
    r->res->visible_tests = visible;
    r->res->tests_source = SOLVE_TESTS_GENERATED;
    r->tests = tests;
    return test_generated(r, 0, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Stage 4: repair                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Failing candidates worth repairing, best first (more tests passed, parses, likelier). */
static size_t pick_failing(const run *r, size_t *out, size_t n_max)
{
    const solve_result *res = r->res;
    size_t n = 0;
    for (size_t i = 0; i < res->n_candidates; i++) {
        const solve_candidate *c = &res->candidates[i];
        if (!c->tested || c->verdict == SBX_VERDICT_PASSED) {
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++) {
            dup = strcmp(res->candidates[out[j]].code, c->code) == 0;
        }
        if (dup) {
            continue;
        }
        /* insertion by (passed desc, parses desc, logprob desc) */
        size_t at = n;
        while (at > 0) {
            const solve_candidate *p = &res->candidates[out[at - 1]];
            bool better = c->n_tests_passed != p->n_tests_passed
                              ? c->n_tests_passed > p->n_tests_passed
                          : c->parses != p->parses ? c->parses
                                                   : c->logprob_mean > p->logprob_mean;
            if (!better) {
                break;
            }
            at--;
        }
        if (at >= n_max) {
            continue;
        }
        size_t last = n < n_max ? n : n_max - 1;
        memmove(out + at + 1, out + at, (last - at) * sizeof(*out));
        out[at] = i;
        n = n < n_max ? n + 1 : n_max;
    }
    return n;
}

static int repair_round(run *r, size_t round, core_err *err)
{
    size_t n = r->opts->n_candidates;
    size_t pick[SOLVE_N_MAX];
    size_t k = pick_failing(r, pick, n);
    int32_t *suffixes[SOLVE_N_MAX];
    size_t n_suffixes[SOLVE_N_MAX];
    memset(suffixes, 0, sizeof(suffixes));
    memset(n_suffixes, 0, sizeof(n_suffixes));
    if (k == 0) {
        return 0;
    }
    for (size_t i = 0; i < k; i++) {
        report_candidate(r, SOLVE_CANDIDATE_REPAIRING, round, pick[i]);
    }
    int rc = 0;
    const char *fence = r->task->lang == SOLVE_LANG_C ? "```c\n" : "```python\n";
    for (size_t i = 0; i < k && rc == 0; i++) {
        const solve_candidate *c = &r->res->candidates[pick[i]];
        core_buf text = {0};
        rc = solve_prompt_repair(&text, r->e->model, r->task, core_str_c(c->code),
                                 core_str_c(c->message[0] ? c->message : "wrong result"), err);
        if (rc == 0 && (core_buf_appendf(&text, "%s", fence) < 0 ||
                        core_buf_append(&text, r->prefix.ptr, r->prefix.len) < 0)) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
        }
        if (rc == 0) {
            rc = tokenize(r, (core_str){text.ptr, text.len}, false, &suffixes[i], &n_suffixes[i],
                          err);
        }
        core_buf_dispose(&text);
    }
    /* The first half of the new candidates repair the failing ones round-robin; with
       repair_resample the rest sample afresh from the task's prompt (new seeds). */
    int32_t *use[SOLVE_N_MAX];
    size_t n_use[SOLVE_N_MAX];
    size_t n_repair = r->opts->repair_resample && n > 1 ? (n + 1) / 2 : n;
    for (size_t i = 0; i < n; i++) {
        use[i] = i < n_repair ? suffixes[i % k] : r->suffix;
        n_use[i] = i < n_repair ? n_suffixes[i % k] : r->n_suffix;
    }
    if (rc == 0) {
        rc = write_round(r, use, n_use, n, round, round, err);
    }
    for (size_t i = 0; i < k; i++) {
        core_free(suffixes[i]);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Stage 4c: fresh rounds                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* The lines of a behavior that report a value: not '!' (raised, a limit, constant) and not the
   code observation (add_code_observation). Appended to out, one a line. */
static int values_of(core_buf *out, core_str behavior)
{
    for (size_t at = 0; at < behavior.len;) {
        const char *nl = memchr(behavior.ptr + at, '\n', behavior.len - at);
        size_t end = nl ? (size_t)(nl - behavior.ptr) : behavior.len;
        core_str line = {behavior.ptr + at, end - at};
        bool code =
            line.len >= strlen(CODE_OBS) && memcmp(line.ptr, CODE_OBS, strlen(CODE_OBS)) == 0;
        if (line.len > 0 && line.ptr[0] != '!' && !code &&
            core_buf_appendf(out, "%.*s\n", (int)line.len, line.ptr) < 0) {
            return CORE_ENOMEM;
        }
        at = end + 1;
    }
    return 0;
}

static int compare_keys(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa;
    const char *b = *(const char *const *)pb;
    return strcmp(a ? a : "", b ? b : "");
}

int solve__agreement_share(double *share, const solve_candidate *cands, size_t n)
{
    *share = 0.0;
    if (n == 0) {
        return 0;
    }
    char **keys = core_calloc(n, sizeof(*keys));
    if (!keys) {
        return CORE_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        core_buf k = {0};
        const char *b = cands[i].behavior ? cands[i].behavior : "";
        rc = values_of(&k, core_str_c(b));
        if (rc == 0 && k.len > 0) {
            keys[i] = core_strndup(k.ptr, k.len);
            rc = keys[i] ? 0 : CORE_ENOMEM;
        }
        core_buf_dispose(&k);
    }
    if (rc == 0) {
        qsort(keys, n, sizeof(*keys), compare_keys);
        size_t best = 0;
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && keys[i] && keys[j] && strcmp(keys[i], keys[j]) == 0) {
                j++;
            }
            best = keys[i] && j - i > best ? j - i : best;
            i = j;
        }
        *share = (double)best / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        core_free(keys[i]);
    }
    core_free(keys);
    return rc;
}

/* Whether another fresh round is worth drawing: with visible tests, while none passes; else
   while the pool's largest group of candidates agreeing on every value is under fresh_agree. */
static int want_fresh(const run *r, bool *out)
{
    solve_tests_source src = r->res->tests_source;
    if (r->tests[0] != '\0' && (src == SOLVE_TESTS_FIELD || src == SOLVE_TESTS_DOCSTRING)) {
        *out = r->n_passed == 0;
        return 0;
    }
    double share = 0.0;
    int rc = solve__agreement_share(&share, r->res->candidates, r->res->n_candidates);
    *out = rc == 0 && share < r->opts->fresh_agree;
    return rc;
}

static int stage_fresh(run *r, core_err *err)
{
    size_t n = r->opts->n_candidates;
    int32_t *use[SOLVE_N_MAX];
    size_t n_use[SOLVE_N_MAX];
    for (size_t i = 0; i < n; i++) {
        use[i] = r->suffix;
        n_use[i] = r->n_suffix;
    }
    /* greedy decoding writes round 0's candidates again, whatever the seed */
    size_t n_rounds = r->opts->temp > 0.0f ? r->opts->n_fresh_rounds : 0;
    for (size_t f = 1; f <= n_rounds; f++) {
        bool more = false;
        if (want_fresh(r, &more) < 0) {
            return core_err_set(err, CORE_ENOMEM, "solve: out of memory for agreement");
        }
        if (!more) {
            break;
        }
        size_t round = r->res->n_rounds_run + f;
        size_t first = r->res->n_candidates;
        uint64_t t0 = core_time_ns();
        report(r, SOLVE_STAGE_WRITE, round, 0, n);
        int rc = write_round(r, use, n_use, n, round, SOLVE_FRESH_SEED_ROUND + f, err);
        r->res->ns_stage[SOLVE_STAGE_WRITE] += core_time_ns() - t0;
        if (rc < 0) {
            return rc;
        }
        report(r, SOLVE_STAGE_WRITE, round, n, n);
        r->res->n_fresh_rounds_run = f;
        t0 = core_time_ns();
        report(r, SOLVE_STAGE_TEST, round, 0, n);
        rc = r->res->tests_source == SOLVE_TESTS_GENERATED ? test_generated(r, first, err)
                                                           : stage_test(r, first, err);
        r->res->ns_stage[SOLVE_STAGE_TEST] += core_time_ns() - t0;
        if (rc < 0) {
            return rc;
        }
        report(r, SOLVE_STAGE_TEST, round, n, n);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* solve_run                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static int rank_all(run *r, core_err *err)
{
    solve_result *res = r->res;
    size_t n = res->n_candidates;
    res->chosen = -1;
    if (n == 0) {
        return 0;
    }
    eval_card *cards = core_calloc(n, sizeof(*cards));
    eval_score *scores = core_calloc(n, sizeof(*scores));
    size_t *order = core_calloc(n, sizeof(*order));
    int rc = 0;
    if (!cards || !scores || !order) {
        rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for ranking");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cards[i] = res->candidates[i].card;
    }
    rc = eval_rank(order, scores, cards, n, &r->opts->rank, err);
    if (rc < 0) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        res->candidates[i].score = scores[i];
    }
    res->chosen = (long)order[0];

done:
    core_free(cards);
    core_free(scores);
    core_free(order);
    return rc;
}

static int check_args(const solve_engine *e, const solve_task *task, const solve_options *o,
                      core_err *err)
{
    if (o->n_candidates == 0 || o->n_candidates > e->n_candidates_max) {
        return core_err_set(err, CORE_EINVAL,
                            "solve: n_candidates %zu not in 1..%zu (the engine's maximum)",
                            o->n_candidates, e->n_candidates_max);
    }
    if (task->lang != SOLVE_LANG_PYTHON && task->lang != SOLVE_LANG_C) {
        return core_err_set(err, CORE_EINVAL, "solve: unknown language %d", (int)task->lang);
    }
    if (task->prompt.len == 0 || !task->prompt.ptr) {
        return core_err_set(err, CORE_EINVAL, "solve: empty prompt");
    }
    if (task->entry.len == 0 || !task->entry.ptr) {
        return core_err_set(err, CORE_EINVAL, "solve: no entry function name");
    }
    if (o->n_code_tokens_max == 0) {
        return core_err_set(err, CORE_EINVAL, "solve: n_code_tokens_max is 0");
    }
    if (o->n_fresh_rounds > SOLVE_FRESH_ROUNDS_MAX) {
        return core_err_set(err, CORE_EINVAL, "solve: n_fresh_rounds %zu over %d",
                            o->n_fresh_rounds, SOLVE_FRESH_ROUNDS_MAX);
    }
    if (!(o->fresh_agree >= 0.0 && o->fresh_agree <= 1.0)) {
        return core_err_set(err, CORE_EINVAL, "solve: fresh_agree %g not in 0..1", o->fresh_agree);
    }
    if (e->backend && (o->plan || o->n_gen_tests > 0)) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "solve: a plan and generated tests need the local model, "
                            "not the remote backend %s",
                            solve_backend_url(e->backend));
    }
    return 0;
}

/* Stage 2: the shared prompt in sequence 0, then the code fence and the task's code as every
   candidate's suffix, and round 0's candidates. */
static int stage_write(run *r, core_err *err)
{
    core_buf prompt = {0};
    const solve_task *task = r->task;
    int rc = solve_prompt_build(&prompt, r->e->model, task, false, core_str_c(r->res->plan), err);
    if (rc == 0) {
        rc = decode_shared(r, (core_str){prompt.ptr, prompt.len}, err);
    }
    if (rc == 0) {
        prompt.len = 0;
        if (core_buf_appendf(&prompt, "%s", task->lang == SOLVE_LANG_C ? "```c\n" : "```python\n") <
                0 ||
            core_buf_append(&prompt, r->prefix.ptr, r->prefix.len) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
        }
    }
    if (rc == 0) {
        rc = tokenize(r, (core_str){prompt.ptr, prompt.len}, false, &r->suffix, &r->n_suffix, err);
    }
    if (rc == 0) {
        int32_t *use[SOLVE_N_MAX];
        size_t n_use[SOLVE_N_MAX];
        for (size_t i = 0; i < r->opts->n_candidates; i++) {
            use[i] = r->suffix;
            n_use[i] = r->n_suffix;
        }
        rc = write_round(r, use, n_use, r->opts->n_candidates, 0, 0, err);
    }
    core_buf_dispose(&prompt);
    return rc;
}

/* Stage 4: repair rounds (each tested) while no candidate passes the visible tests. */
static int stage_repair(run *r, core_err *err)
{
    const solve_options *o = r->opts;
    for (size_t round = 1; o->repair && round <= o->n_rounds && r->n_passed == 0 && r->tests[0];
         round++) {
        size_t first = r->res->n_candidates;
        uint64_t t0 = core_time_ns();
        report(r, SOLVE_STAGE_REPAIR, round, 0, o->n_candidates);
        int rc = repair_round(r, round, err);
        r->res->ns_stage[SOLVE_STAGE_REPAIR] += core_time_ns() - t0;
        if (rc < 0) {
            return rc;
        }
        if (r->res->n_candidates == first) {
            break;
        }
        r->res->n_rounds_run = round;
        size_t n_new = r->res->n_candidates - first;
        t0 = core_time_ns();
        report(r, SOLVE_STAGE_TEST, round, 0, n_new);
        rc = stage_test(r, first, err);
        r->res->ns_stage[SOLVE_STAGE_TEST] += core_time_ns() - t0;
        if (rc < 0) {
            return rc;
        }
        report(r, SOLVE_STAGE_TEST, round, n_new, n_new);
    }
    return 0;
}

int solve_run(solve_result **out, solve_engine *engine, const solve_task *task,
              const solve_options *opts, const solve_progress *progress, const core_cancel *cancel,
              core_err *err)
{
    solve_options o = opts ? *opts : solve_options_default();
    run r;
    memset(&r, 0, sizeof(r));
    core_arena *arena = NULL;
    *out = NULL;
    int rc = check_args(engine, task, &o, err);
    if (rc < 0) {
        return rc;
    }
    uint64_t t_start = core_time_ns();
    r.e = engine;
    r.task = task;
    r.opts = &o;
    r.progress = progress;
    r.cancel = cancel;
    r.res = core_calloc(1, sizeof(*r.res));
    if (!r.res) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the result");
    }
    r.res->lang = task->lang;
    r.res->chosen = -1;
    if (engine->ctx) {
        gen_ctx_set_cancel(engine->ctx, cancel);
    }
    rc = core_arena_new(&arena, 4096, err);
    if (rc < 0) {
        goto done;
    }
    rc = solve_tests_select(&r.tests, &r.res->tests_source, arena, task, err);
    if (rc < 0) {
        goto done;
    }
    if (!engine->pool && r.res->tests_source != SOLVE_TESTS_NONE) {
        r.tests = "";
        r.res->tests_source = SOLVE_TESTS_NONE;
    }
    r.res->visible_tests = core_strndup(r.tests, strlen(r.tests));
    r.res->plan = core_strndup("", 0);
    if (!r.res->visible_tests || !r.res->plan) {
        rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
        goto done;
    }
    rc = solve_code_prefix(&r.prefix, task, err);
    if (rc < 0) {
        goto done;
    }

    /* 1. plan */
    if (o.plan) {
        uint64_t t0 = core_time_ns();
        report(&r, SOLVE_STAGE_PLAN, 0, 0, 1);
        rc = stage_plan(&r, err);
        r.res->ns_stage[SOLVE_STAGE_PLAN] += core_time_ns() - t0;
        if (rc < 0) {
            goto done;
        }
    }

    /* 2. write */
    uint64_t t0 = core_time_ns();
    report(&r, SOLVE_STAGE_WRITE, 0, 0, o.n_candidates);
    rc = stage_write(&r, err);
    r.res->ns_stage[SOLVE_STAGE_WRITE] += core_time_ns() - t0;
    if (rc < 0) {
        goto done;
    }
    r.res->n_round0 = r.res->n_candidates;
    report(&r, SOLVE_STAGE_WRITE, 0, o.n_candidates, o.n_candidates);

    /* 3. test */
    t0 = core_time_ns();
    report(&r, SOLVE_STAGE_TEST, 0, 0, o.n_candidates);
    rc = stage_test(&r, 0, err);
    r.res->ns_stage[SOLVE_STAGE_TEST] += core_time_ns() - t0;
    if (rc < 0) {
        goto done;
    }
    report(&r, SOLVE_STAGE_TEST, 0, o.n_candidates, o.n_candidates);

    /* 4. repair */
    rc = stage_repair(&r, err);
    if (rc < 0) {
        goto done;
    }

    /* 4b. no visible tests: tests the model writes, for ranking only (CodeT) */
    if (r.res->tests_source == SOLVE_TESTS_NONE && r.task->lang == SOLVE_LANG_PYTHON &&
        (o.n_gen_tests > 0 || o.n_probes > 0) && engine->pool) {
        t0 = core_time_ns();
        rc = stage_gentests(&r, arena, err);
        r.res->ns_stage[SOLVE_STAGE_TEST] += core_time_ns() - t0;
        if (rc < 0) {
            goto done;
        }
    }

    /* 4c. fresh samples while nothing passes or the candidates agree weakly */
    rc = stage_fresh(&r, err);
    if (rc < 0) {
        goto done;
    }

    /* 5. score and rank */
    t0 = core_time_ns();
    report(&r, SOLVE_STAGE_RANK, r.res->n_rounds_run + r.res->n_fresh_rounds_run, 0,
           r.res->n_candidates);
    rc = rank_all(&r, err);
    r.res->ns_stage[SOLVE_STAGE_RANK] += core_time_ns() - t0;
    if (rc < 0) {
        goto done;
    }
    r.res->ns_total = core_time_ns() - t_start;
    *out = r.res;
    r.res = NULL;

done:
    if (engine->ctx) {
        gen_ctx_set_cancel(engine->ctx, NULL);
    }
    if (rc == CORE_ECANCELED && err && err->code != CORE_ECANCELED) {
        core_err_set(err, CORE_ECANCELED, "solve: canceled");
    }
    solve_result_free(r.res);
    core_buf_dispose(&r.prefix);
    core_free(r.suffix);
    core_arena_free(arena);
    return rc;
}
