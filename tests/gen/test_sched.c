/*
 * Tests of gen/sched.c (the request queue) on the default model: a request that joins a running
 * batch and outlives it samples the same tokens as alone with the same seed; a cancel ends a
 * request within one step; identical prompt prefixes are decoded once; stop strings cut the
 * text; bad requests are refused with named errors and their constraint is released; a failed
 * allocation while the queue is made leaks nothing; a request's logit bias bans and forces
 * tokens for it alone; tokens drawn on two compute threads are those drawn on one.
 */
#include "tests/gen/tests.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/core.h"
#include "gen/gen.h"

#define SCHED_MODEL KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

static gen_model *model;

static void load_model(void)
{
    core_err err = {0};
    ck_assert_msg(gen_model_load(&model, SCHED_MODEL, NULL, &err) == 0,
                  "%s (scripts/setup.sh fetches the models)", err.msg);
}

static void unload_model(void)
{
    gen_model_free(model);
    model = NULL;
}

/* What one request received, filled on the worker thread. */
typedef struct collect {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t tokens[256];
    float logprobs[256];
    size_t n_tokens;
    char text[4096];
    size_t len;
    bool done;
    gen_finish finish;
    size_t n_cached;
    size_t n_generated;
    gen_queue *queue;     /* when cancel_at > 0 */
    size_t cancel_at;     /* cancel from the callback after this many tokens */
    uint64_t id;          /* set by the test after submit; read under mu */
    struct collect *then; /* signalled too (for "B runs" checks) */
} collect;

static void collect_init(collect *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void collect_dispose(collect *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

static void on_event(void *payload, const gen_queue_event *ev)
{
    collect *c = payload;
    pthread_mutex_lock(&c->mu);
    if (ev->token >= 0 && c->n_tokens < 256) {
        c->logprobs[c->n_tokens] = ev->logprob;
        c->tokens[c->n_tokens++] = ev->token;
    }
    if (ev->text.len && c->len + ev->text.len < sizeof(c->text)) {
        memcpy(c->text + c->len, ev->text.ptr, ev->text.len);
        c->len += ev->text.len;
        c->text[c->len] = '\0';
    }
    if (ev->done) {
        c->done = true;
        c->finish = ev->finish;
        c->n_cached = ev->n_cached;
        c->n_generated = ev->n_generated;
    }
    const bool cancel = c->cancel_at && c->n_tokens == c->cancel_at && !ev->done;
    const uint64_t id = c->id;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (cancel) {
        gen_queue_cancel(c->queue, id);
    }
}

static void wait_tokens(collect *c, size_t n)
{
    pthread_mutex_lock(&c->mu);
    while (!c->done && c->n_tokens < n) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}

static void wait_done(collect *c)
{
    pthread_mutex_lock(&c->mu);
    while (!c->done) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}

static gen_queue *make_queue_threads(size_t n_parallel, size_t n_cache_tokens_max, size_t n_threads)
{
    gen_queue_options o = gen_queue_options_default();
    o.n_parallel = n_parallel;
    o.n_threads = n_threads;
    o.n_ctx = 256;
    o.n_chunk = 16;
    o.n_cache_tokens_max = n_cache_tokens_max;
    gen_queue *q = NULL;
    core_err err = {0};
    ck_assert_msg(gen_queue_new(&q, model, &o, &err) == 0, "%s", err.msg);
    return q;
}

static gen_queue *make_queue(size_t n_parallel, size_t n_cache_tokens_max)
{
    return make_queue_threads(n_parallel, n_cache_tokens_max, 1);
}

static int32_t *tokenize(const char *text, size_t *n)
{
    int32_t *t = NULL;
    core_err err = {0};
    ck_assert_msg(gen_model_tokenize(model, core_str_c(text), false, false, &t, n, &err) == 0, "%s",
                  err.msg);
    return t;
}

static void submit(gen_queue *q, collect *c, const int32_t *prompt, size_t n_prompt,
                   size_t n_tokens_max, uint64_t seed, const core_str *stops, size_t n_stops)
{
    gen_queue_request r = {0};
    r.prompt = prompt;
    r.n_prompt = n_prompt;
    r.sampler = gen_sampler_options_default();
    r.sampler.seed = seed;
    r.n_tokens_max = n_tokens_max;
    r.ignore_eog = true;
    r.stops = stops;
    r.n_stops = n_stops;
    r.on_event = on_event;
    r.payload = c;
    core_err err = {0};
    uint64_t id = 0;
    pthread_mutex_lock(&c->mu);
    int rc = gen_queue_submit(q, &id, &r, &err);
    c->id = id;
    pthread_mutex_unlock(&c->mu);
    ck_assert_msg(rc == 0, "%s", err.msg);
}

static const char *const text_a = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.";
static const char *const text_b = "Once upon a time, in a small village by the sea, there lived";

START_TEST(sched__join_and_leave_match_alone)
{
    size_t na = 0;
    size_t nb = 0;
    int32_t *pa = tokenize(text_a, &na);
    int32_t *pb = tokenize(text_b, &nb);

    collect alone;
    collect_init(&alone);
    gen_queue *q = make_queue(2, 0);
    submit(q, &alone, pa, na, 20, 42, NULL, 0);
    wait_done(&alone);
    gen_queue_free(q);
    ck_assert_uint_eq(alone.n_tokens, 20);

    /* B runs first; A joins after B's 4th token; B (12 tokens) leaves while A decodes. */
    collect a;
    collect b;
    collect_init(&a);
    collect_init(&b);
    q = make_queue(2, 0);
    submit(q, &b, pb, nb, 12, 7, NULL, 0);
    wait_tokens(&b, 4);
    submit(q, &a, pa, na, 20, 42, NULL, 0);
    wait_done(&a);
    wait_done(&b);
    ck_assert_uint_eq(b.n_tokens, 12);
    ck_assert_int_eq(a.finish, GEN_FINISH_LENGTH);
    ck_assert_uint_eq(a.n_tokens, alone.n_tokens);
    for (size_t i = 0; i < a.n_tokens; i++) {
        ck_assert_int_eq(a.tokens[i], alone.tokens[i]);
    }
    ck_assert_str_eq(a.text, alone.text);
    gen_queue_stats st = gen_queue_stats_get(q);
    ck_assert_uint_eq(st.n_running, 0);
    ck_assert_uint_eq(st.n_tokens_generated, 32);
    /* The steps before the last one published their sampling time. */
    ck_assert_uint_gt(st.ns_sampling, 0);
    gen_queue_free(q);
    collect_dispose(&alone);
    collect_dispose(&a);
    collect_dispose(&b);
    core_free(pa);
    core_free(pb);
}
END_TEST

START_TEST(sched__cancel_ends_within_one_step)
{
    size_t na = 0;
    int32_t *pa = tokenize(text_a, &na);
    gen_queue *q = make_queue(1, 0);
    collect a;
    collect b;
    collect_init(&a);
    collect_init(&b);
    a.queue = q;
    a.cancel_at = 3;
    submit(q, &a, pa, na, 200, 1, NULL, 0);
    /* b waits for the only slot; it gets it once a is canceled. */
    submit(q, &b, pa, na, 5, 1, NULL, 0);
    wait_done(&a);
    ck_assert_int_eq(a.finish, GEN_FINISH_CANCELED);
    ck_assert_uint_eq(a.n_generated, 3);
    wait_done(&b);
    ck_assert_int_eq(b.finish, GEN_FINISH_LENGTH);
    ck_assert_uint_eq(b.n_tokens, 5);

    /* A request canceled while it waits never decodes. */
    collect c;
    collect d;
    collect_init(&c);
    collect_init(&d);
    submit(q, &c, pa, na, 50, 1, NULL, 0);
    submit(q, &d, pa, na, 50, 1, NULL, 0);
    pthread_mutex_lock(&d.mu);
    const uint64_t id_d = d.id;
    pthread_mutex_unlock(&d.mu);
    gen_queue_cancel(q, id_d);
    wait_done(&d);
    ck_assert_int_eq(d.finish, GEN_FINISH_CANCELED);
    ck_assert_uint_eq(d.n_generated, 0);
    gen_queue_cancel(q, c.id);
    wait_done(&c);
    ck_assert_int_eq(c.finish, GEN_FINISH_CANCELED);
    gen_queue_cancel(q, 12345); /* unknown: ignored */
    gen_queue_stats st = gen_queue_stats_get(q);
    ck_assert_uint_eq(st.n_running + st.n_pending, 0);
    gen_queue_free(q);
    collect_dispose(&a);
    collect_dispose(&b);
    collect_dispose(&c);
    collect_dispose(&d);
    core_free(pa);
}
END_TEST

START_TEST(sched__shared_prefix_is_decoded_once)
{
    size_t na = 0;
    int32_t *pa = tokenize(text_a, &na);
    ck_assert_uint_gt(na, 8);
    int32_t p2[64];
    memcpy(p2, pa, na * sizeof(int32_t));
    p2[na - 1] = 13; /* a different last token */

    gen_queue *q = make_queue(2, 1000);
    collect a;
    collect b;
    collect_init(&a);
    collect_init(&b);
    submit(q, &a, pa, na, 4, 1, NULL, 0);
    wait_done(&a);
    ck_assert_uint_eq(a.n_cached, 0);
    submit(q, &b, p2, na, 4, 1, NULL, 0);
    wait_done(&b);
    ck_assert_uint_eq(b.n_cached, na - 1);
    gen_queue_stats st = gen_queue_stats_get(q);
    ck_assert_uint_eq(st.n_tokens_prompt, 2 * na);
    ck_assert_uint_eq(st.n_tokens_decoded, na + 1);
    ck_assert_uint_eq(st.n_cache_hits, 1);
    gen_queue_free(q);

    /* Three requests with one long prefix arriving together: the prefix is decoded once. */
    size_t nb = 0;
    int32_t *pb = tokenize(text_b, &nb);
    int32_t long_prompt[3][160];
    size_t n_long = 0;
    for (size_t r = 0; r < 4; r++) {
        for (size_t i = 0; i < nb; i++) {
            for (size_t k = 0; k < 3; k++) {
                long_prompt[k][n_long] = pb[i];
            }
            n_long++;
        }
    }
    for (size_t k = 0; k < 3; k++) {
        long_prompt[k][n_long] = (int32_t)(100 + k);
    }
    q = make_queue(3, 10000);
    collect c[3];
    for (size_t k = 0; k < 3; k++) {
        collect_init(&c[k]);
        submit(q, &c[k], long_prompt[k], n_long + 1, 3, 1, NULL, 0);
    }
    for (size_t k = 0; k < 3; k++) {
        wait_done(&c[k]);
        ck_assert_uint_eq(c[k].n_tokens, 3);
    }
    st = gen_queue_stats_get(q);
    ck_assert_uint_eq(st.n_tokens_prompt, 3 * (n_long + 1));
    ck_assert_uint_eq(st.n_tokens_decoded, n_long + 3);
    gen_queue_free(q);
    for (size_t k = 0; k < 3; k++) {
        collect_dispose(&c[k]);
    }
    collect_dispose(&a);
    collect_dispose(&b);
    core_free(pa);
    core_free(pb);
}
END_TEST

START_TEST(sched__stop_string_cuts_the_text)
{
    size_t nb = 0;
    int32_t *pb = tokenize(text_b, &nb);
    gen_queue *q = make_queue(1, 0);
    collect full;
    collect_init(&full);
    submit(q, &full, pb, nb, 24, 3, NULL, 0);
    wait_done(&full);
    ck_assert_uint_gt(full.len, 12);
    /* A stop made of text in the middle of what came out. */
    const size_t at = full.len / 2;
    core_str stop = {full.text + at, 4};
    collect cut;
    collect_init(&cut);
    submit(q, &cut, pb, nb, 24, 3, &stop, 1);
    wait_done(&cut);
    ck_assert_int_eq(cut.finish, GEN_FINISH_STOP);
    const char *first =
        strstr(full.text, (char[5]){stop.ptr[0], stop.ptr[1], stop.ptr[2], stop.ptr[3], '\0'});
    ck_assert_ptr_nonnull(first);
    ck_assert_uint_eq(cut.len, (size_t)(first - full.text));
    ck_assert_int_eq(memcmp(cut.text, full.text, cut.len), 0);
    gen_queue_free(q);
    collect_dispose(&full);
    collect_dispose(&cut);
    core_free(pb);
}
END_TEST

static void count_free(void *payload)
{
    (*(int *)payload)++;
}

START_TEST(sched__bad_requests_are_refused)
{
    gen_queue_options o = gen_queue_options_default();
    o.n_ctx = 16;
    o.n_pending_max = 0;
    gen_queue *q = NULL;
    core_err err = {0};
    ck_assert_int_eq(gen_queue_new(&q, model, &o, &err), 0);
    int n_freed = 0;
    gen_queue_request r = {0};
    r.constraint.free = count_free;
    r.constraint.base.payload = &n_freed;
    uint64_t id = 99;
    ck_assert_int_eq(gen_queue_submit(q, &id, &r, &err), CORE_EINVAL);
    ck_assert_uint_eq(id, 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
    int32_t bad[2] = {1, 1 << 30};
    r.prompt = bad;
    r.n_prompt = 2;
    ck_assert_int_eq(gen_queue_submit(q, &id, &r, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "token 1"));
    int32_t many[16] = {0};
    r.prompt = many;
    r.n_prompt = 16;
    ck_assert_int_eq(gen_queue_submit(q, &id, &r, &err), CORE_ELIMIT);
    r.n_prompt = 4;
    ck_assert_int_eq(gen_queue_submit(q, &id, &r, &err), CORE_ELIMIT);
    ck_assert_ptr_nonnull(strstr(err.msg, "full"));
    gen_queue_close(q);
    ck_assert_int_eq(gen_queue_submit(q, &id, &r, &err), CORE_ECANCELED);
    ck_assert_int_eq(n_freed, 5);
    gen_queue_free(q);
    o.n_parallel = 0;
    ck_assert_int_eq(gen_queue_new(&q, model, &o, &err), CORE_EINVAL);
}
END_TEST

START_TEST(sched__enomem_leaks_nothing)
{
    gen_queue_options o = gen_queue_options_default();
    o.n_parallel = 2;
    o.n_ctx = 32;
    const long live = core_alloc_live();
    for (long n = 1;; n++) {
        gen_queue *q = NULL;
        core_err err = {0};
        core_alloc_fail_after(n);
        int rc = gen_queue_new(&q, model, &o, &err);
        core_alloc_fail_after(0);
        if (rc == 0) {
            gen_queue_free(q);
            ck_assert_int_gt(n, 4);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

/* A request that picks its own tokens (gen_queue_request.sample): the greedy choice for
 * n_stop tokens, then stop (mode 0); a token out of range (1) or an error (2) at the second. */
typedef struct picker {
    collect c; /* first: on_event gets the same payload */
    size_t n_vocab;
    size_t n_picked;
    size_t n_stop;
    int mode;
    size_t n_past_first; /* n_past at the first call */
} picker;

static int pick_greedy(void *payload, const float *logits, size_t n_past, int32_t *token,
                       core_err *err)
{
    picker *p = payload;
    if (p->n_picked == 0) {
        p->n_past_first = n_past;
    }
    if (p->n_picked == p->n_stop) {
        return 0;
    }
    p->n_picked++;
    if (p->mode == 1 && p->n_picked == 2) {
        *token = (int32_t)p->n_vocab;
        return 1;
    }
    if (p->mode == 2 && p->n_picked == 2) {
        return core_err_set(err, CORE_EPARSE, "picker: no");
    }
    size_t best = 0;
    for (size_t v = 1; v < p->n_vocab; v++) {
        best = logits[v] > logits[best] ? v : best;
    }
    *token = (int32_t)best;
    return 1;
}

START_TEST(sched__request_picks_its_own_tokens)
{
    size_t na = 0;
    int32_t *pa = tokenize(text_a, &na);
    gen_queue *q = make_queue(2, 0);
    /* The queue's own greedy sampling, for reference. */
    collect ref;
    collect_init(&ref);
    gen_queue_request r = {0};
    r.prompt = pa;
    r.n_prompt = na;
    r.sampler = gen_sampler_options_default();
    r.sampler.temp = 0.0f;
    r.n_tokens_max = 8;
    r.ignore_eog = true;
    r.on_event = on_event;
    r.payload = &ref;
    uint64_t id = 0;
    ck_assert_int_eq(gen_queue_submit(q, &id, &r, NULL), 0);
    wait_done(&ref);
    ck_assert_uint_eq(ref.n_tokens, 8);

    for (int mode = 0; mode < 3; mode++) {
        picker p;
        memset(&p, 0, sizeof(p));
        collect_init(&p.c);
        p.n_vocab = gen_model_n_vocab(model);
        p.n_stop = 6;
        p.mode = mode;
        r.sampler.temp = 0.8f; /* not used: the request picks */
        r.sample = pick_greedy;
        r.payload = &p;
        ck_assert_int_eq(gen_queue_submit(q, &id, &r, NULL), 0);
        wait_done(&p.c);
        ck_assert_uint_eq(p.n_past_first, na);
        if (mode == 0) {
            /* the greedy tokens, then the request's own stop */
            ck_assert_int_eq(p.c.finish, GEN_FINISH_STOP);
            ck_assert_uint_eq(p.c.n_tokens, 6);
            ck_assert_int_eq(memcmp(p.c.tokens, ref.tokens, 6 * sizeof(int32_t)), 0);
            ck_assert_uint_eq(p.c.len, 0); /* events carry tokens, no text */
        } else {
            ck_assert_int_eq(p.c.finish, GEN_FINISH_ERROR);
            ck_assert_uint_eq(p.c.n_tokens, 1);
        }
        collect_dispose(&p.c);
    }
    gen_queue_free(q);
    collect_dispose(&ref);
    core_free(pa);
}
END_TEST

/* Greedy tokens of text_a under bias (n_bias entries), into c. */
static void run_biased(gen_queue *q, collect *c, const int32_t *prompt, size_t n_prompt,
                       const gen_logit_bias *bias, size_t n_bias)
{
    collect_init(c);
    gen_queue_request r = {0};
    r.prompt = prompt;
    r.n_prompt = n_prompt;
    r.sampler = gen_sampler_options_default();
    r.sampler.temp = 0.0f;
    r.n_tokens_max = 4;
    r.ignore_eog = true;
    r.logprobs = true;
    r.logit_bias = bias;
    r.n_logit_bias = n_bias;
    r.on_event = on_event;
    r.payload = c;
    uint64_t id = 0;
    core_err err = {0};
    ck_assert_msg(gen_queue_submit(q, &id, &r, &err) == 0, "%s", err.msg);
    wait_done(c);
    ck_assert_uint_eq(c->n_tokens, 4);
}

START_TEST(sched__logit_bias_bans_and_forces_per_request)
{
    size_t na = 0;
    int32_t *pa = tokenize(text_a, &na);
    gen_queue *q = make_queue(2, 0);
    collect ref;
    run_biased(q, &ref, pa, na, NULL, 0);
    /* Banning the greedy first token changes the first token, and only that request's. */
    gen_logit_bias ban = {ref.tokens[0], -INFINITY};
    collect banned;
    run_biased(q, &banned, pa, na, &ban, 1);
    ck_assert_int_ne(banned.tokens[0], ref.tokens[0]);
    for (size_t i = 0; i < banned.n_tokens; i++) {
        ck_assert_int_ne(banned.tokens[i], ref.tokens[0]);
    }
    /* A large bias makes a token the greedy choice at every step. */
    const int32_t forced_id = ref.tokens[0] == 42 ? 43 : 42;
    gen_logit_bias force[2] = {{forced_id, 100.0f}, {ref.tokens[0], -1.0f}};
    collect forced;
    run_biased(q, &forced, pa, na, force, 2);
    for (size_t i = 0; i < forced.n_tokens; i++) {
        ck_assert_int_eq(forced.tokens[i], forced_id);
    }
    /* Without a bias again: the reference (nothing of the bias stayed in the slot). */
    collect again;
    run_biased(q, &again, pa, na, NULL, 0);
    ck_assert_int_eq(memcmp(again.tokens, ref.tokens, 4 * sizeof(int32_t)), 0);
    /* Out of the vocabulary, or not a finite bias: refused by name. */
    gen_queue_request r = {0};
    r.prompt = pa;
    r.n_prompt = na;
    r.sampler = gen_sampler_options_default();
    r.n_tokens_max = 4;
    r.on_event = on_event;
    r.payload = &again;
    gen_logit_bias bad[2] = {{1, 1.0f}, {(int32_t)gen_model_n_vocab(model), 1.0f}};
    r.logit_bias = bad;
    r.n_logit_bias = 2;
    uint64_t id = 0;
    core_err err = {0};
    ck_assert_int_eq(gen_queue_submit(q, &id, &r, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "logit bias 1"));
    bad[1] = (gen_logit_bias){2, NAN};
    ck_assert_int_eq(gen_queue_submit(q, &id, &r, &err), CORE_EINVAL);
    gen_queue_free(q);
    collect_dispose(&ref);
    collect_dispose(&banned);
    collect_dispose(&forced);
    collect_dispose(&again);
    core_free(pa);
}
END_TEST

/* Request k of the parallel-drawing test: its own seed, and each sampler path: plain (the
 * context's row read in place), with log-probs, with a logit bias, with a repetition penalty
 * (both on a copy of the row). */
static void submit_variant(gen_queue *q, collect *c, const int32_t *prompt, size_t n_prompt,
                           size_t k)
{
    static const gen_logit_bias bias[2] = {{11, 2.5f}, {220, -1.5f}};
    gen_queue_request r = {0};
    r.prompt = prompt;
    r.n_prompt = n_prompt;
    r.sampler = gen_sampler_options_default();
    r.sampler.seed = 1000 + k;
    r.sampler.temp = 1.1f;
    r.sampler.top_k = 0;
    r.sampler.repeat_penalty = k % 4 == 3 ? 1.3f : 1.0f;
    r.logprobs = k % 4 == 1;
    r.logit_bias = k % 4 == 2 ? bias : NULL;
    r.n_logit_bias = k % 4 == 2 ? 2 : 0;
    r.n_tokens_max = 24;
    r.ignore_eog = true;
    r.on_event = on_event;
    r.payload = c;
    uint64_t id = 0;
    core_err err = {0};
    ck_assert_msg(gen_queue_submit(q, &id, &r, &err) == 0, "%s", err.msg);
}

START_TEST(sched__parallel_draws_match_serial)
{
    enum { N = 6 };
    size_t na = 0;
    size_t nb = 0;
    int32_t *pa = tokenize(text_a, &na);
    int32_t *pb = tokenize(text_b, &nb);
    /* Each request alone on one compute thread. */
    collect alone[N];
    for (size_t k = 0; k < N; k++) {
        collect_init(&alone[k]);
        gen_queue *q = make_queue(1, 0);
        submit_variant(q, &alone[k], k % 2 ? pb : pa, k % 2 ? nb : na, k);
        wait_done(&alone[k]);
        gen_queue_free(q);
    }
    /* All together on two: the steps' tokens are drawn on both threads. */
    collect both[N];
    gen_queue *q = make_queue_threads(N, 0, 2);
    for (size_t k = 0; k < N; k++) {
        collect_init(&both[k]);
        submit_variant(q, &both[k], k % 2 ? pb : pa, k % 2 ? nb : na, k);
    }
    for (size_t k = 0; k < N; k++) {
        wait_done(&both[k]);
        ck_assert_uint_eq(alone[k].n_tokens, 24);
        ck_assert_uint_eq(both[k].n_tokens, alone[k].n_tokens);
        for (size_t i = 0; i < both[k].n_tokens; i++) {
            ck_assert_int_eq(both[k].tokens[i], alone[k].tokens[i]);
            ck_assert_double_eq_tol((double)both[k].logprobs[i], (double)alone[k].logprobs[i],
                                    1e-4);
        }
        ck_assert_str_eq(both[k].text, alone[k].text);
        /* Log-probs only where asked for, and a real one (below 0) there. */
        if (k % 4 == 1) {
            ck_assert_double_lt((double)alone[k].logprobs[0], 0.0);
        } else {
            ck_assert_double_eq((double)alone[k].logprobs[0], 0.0);
        }
    }
    gen_queue_stats st = gen_queue_stats_get(q);
    ck_assert_uint_eq(st.n_tokens_generated, N * 24);
    gen_queue_free(q);
    for (size_t k = 0; k < N; k++) {
        collect_dispose(&alone[k]);
        collect_dispose(&both[k]);
    }
    core_free(pa);
    core_free(pb);
}
END_TEST

TCase *tcase_sched(void)
{
    TCase *tc = tcase_create("sched");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, load_model, unload_model);
    tcase_add_test(tc, sched__join_and_leave_match_alone);
    tcase_add_test(tc, sched__cancel_ends_within_one_step);
    tcase_add_test(tc, sched__shared_prefix_is_decoded_once);
    tcase_add_test(tc, sched__stop_string_cuts_the_text);
    tcase_add_test(tc, sched__bad_requests_are_refused);
    tcase_add_test(tc, sched__enomem_leaks_nothing);
    tcase_add_test(tc, sched__request_picks_its_own_tokens);
    tcase_add_test(tc, sched__logit_bias_bans_and_forces_per_request);
    tcase_add_test(tc, sched__parallel_draws_match_serial);
    return tc;
}
