/*
 * The request queue: continuous batching on one context, for servers. A worker thread owns the
 * context and n_parallel slots (one sequence of the context each). Every step it admits waiting
 * requests into idle slots, builds one batch holding the next token of every generating slot
 * and a share of a per-step prompt budget (n_chunk tokens) for slots still reading their
 * prompt, decodes it with one gen_ctx_decode, and samples each slot whose tokens are all in the
 * cache. A request that ends frees its slot at once, so a newcomer takes it on the next step.
 *
 * Prefix reuse works like llama.cpp's server slots: a slot remembers the tokens whose state its
 * cache holds, also after its request ended. A newcomer takes the idle slot sharing the longest
 * prefix with its prompt (keeping that part of the cache), or copies a longer prefix from any
 * other slot with gen_ctx_seq_copy. When two requests with the same prefix arrive together, the
 * later one waits for the earlier to decode the shared part and then copies it, so a prefix
 * sent by many clients at once is decoded once. Idle caches are evicted, least recently used
 * first, while they hold more than n_cache_tokens_max tokens.
 *
 * Threads: submit/cancel/close/stats take the mutex; the worker takes it to admit requests, to
 * unlink finished ones and to publish statistics. Slots, the context and the samplers belong to
 * the worker alone, except that while it waits in gen_ctx_decode the context's compute threads
 * draw the step's tokens (draw_outputs: each output's slot on one thread, its sampler and
 * scratch only). Callbacks run on the worker without the mutex held.
 */
#include "gen/ctx_int.h"
#include "gen/gen.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

const double gen_queue_step_buckets_ms[12] = {1,   2,   5,   10,   20,   50,
                                              100, 200, 500, 1000, 2000, HUGE_VAL};

typedef struct job {
    uint64_t id;
    int32_t *prompt; /* (n_prompt) owned */
    size_t n_prompt;
    gen_sampler_options sampler;
    size_t n_tokens_max;
    core_str *stops; /* (n_stops) pointing into stop_text, owned */
    char *stop_text; /* owned */
    size_t n_stops;
    size_t stop_len_max;
    bool ignore_eog;
    bool logprobs;
    gen_logit_bias *bias; /* (n_bias) owned */
    size_t n_bias;
    gen_queue_constraint cons;
    void (*on_event)(void *payload, const gen_queue_event *event);
    void *payload;
    int (*pick)(void *payload, const float *logits, size_t n_past, int32_t *token,
                core_err *err); /* gen_queue_request.sample */
    uint64_t t_submit;
    atomic_bool cancel; /* set by gen_queue_cancel (any thread), read by the worker */
    struct job *next;   /* the queue's list of live jobs; guarded by the mutex */
    bool admitted;      /* in a slot (guarded by the mutex) */
} job;

typedef struct slot {
    job *job;             /* the running request, NULL when idle */
    int32_t *tokens;      /* (n_ctx) the cached tokens (first n_past), then pending ones */
    size_t n_tokens;      /* known tokens: prompt + generated kept */
    size_t n_past;        /* positions in the context's cache; <= n_tokens */
    size_t n_step;        /* tokens of this slot in the batch being built */
    size_t n_prompt;      /* the request's prompt length */
    size_t n_cached;      /* prompt tokens taken from cached state */
    size_t n_generated;   /* tokens sampled */
    gen_sampler *sampler; /* owned; reset per request */
    float *scratch;       /* (n_vocab) logits the sampler may change */
    core_buf text;        /* generated text, owned */
    size_t n_sent;        /* bytes of text already sent */
    uint64_t last_used;   /* step counter when the slot last ran */
    uint64_t admit_seq;   /* order of admission */
    uint64_t t_admit;
    uint64_t ns_compute; /* time of the steps the request took part in, and of its sampling */
    /* The step's token when the compute threads drew it (draw_outputs), for sample to use. */
    bool drawn;
    int d_rc; /* the sampler's code */
    int32_t d_token;
    float d_logprob;
    core_err d_err;
} slot;

struct gen_queue {
    const gen_model *model; /* borrowed */
    gen_queue_options opts;
    gen_ctx *ctx; /* owned; used by the worker only */
    size_t n_vocab;
    slot *slots;       /* (n_parallel), owned; used by the worker only */
    int32_t *b_tokens; /* (n_batch) batch scratch */
    int32_t *b_seq;
    bool *b_logits;
    size_t *b_slot_out; /* (n_parallel) slot of each kept output */
    size_t n_out;       /* outputs of the step being decoded, for draw_outputs */
    size_t n_batch;
    uint64_t n_admitted; /* worker only */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* signals the worker: a new job, a cancel, stopping */
    job *jobs;          /* live jobs (pending and running), newest first */
    size_t n_pending;
    size_t n_running;
    uint64_t next_id;
    bool closed;   /* submit refuses */
    bool stopping; /* the worker ends */
    gen_queue_stats stats;
    pthread_t worker;
};

gen_queue_options gen_queue_options_default(void)
{
    gen_queue_options o = {4, 2048, 1, 128, 64, 0, {NULL, NULL, CORE_LOG_LEVEL_INFO}, NULL, NULL};
    o.n_cache_tokens_max = (size_t)-1;
    return o;
}

const char *gen_finish_name(gen_finish finish)
{
    switch (finish) {
    case GEN_FINISH_STOP:
        return "stop";
    case GEN_FINISH_LENGTH:
        return "length";
    case GEN_FINISH_CANCELED:
        return "canceled";
    case GEN_FINISH_ERROR:
        return "error";
    }
    return "error";
}

/* ------------------------------------------------------------------------------------------ */
/* Jobs                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void job_free(job *j)
{
    if (!j) {
        return;
    }
    core_free(j->prompt);
    core_free(j->stops);
    core_free(j->stop_text);
    core_free(j->bias);
    core_free(j);
}

static int job_new(job **out, const gen_queue_request *req, core_err *err)
{
    job *j = core_calloc(1, sizeof(*j));
    if (!j) {
        return core_err_set(err, CORE_ENOMEM, "queue: out of memory");
    }
    size_t n_text = 0;
    for (size_t i = 0; i < req->n_stops; i++) {
        n_text += req->stops[i].len + 1;
    }
    j->prompt = core_malloc(req->n_prompt * sizeof(int32_t));
    j->stops = req->n_stops ? core_calloc(req->n_stops, sizeof(core_str)) : NULL;
    j->stop_text = core_malloc(n_text + 1);
    j->bias = req->n_logit_bias ? core_malloc(req->n_logit_bias * sizeof(gen_logit_bias)) : NULL;
    if (!j->prompt || (req->n_stops && !j->stops) || !j->stop_text ||
        (req->n_logit_bias && !j->bias)) {
        job_free(j);
        return core_err_set(err, CORE_ENOMEM, "queue: out of memory");
    }
    memcpy(j->prompt, req->prompt, req->n_prompt * sizeof(int32_t));
    j->n_prompt = req->n_prompt;
    if (req->n_logit_bias) {
        memcpy(j->bias, req->logit_bias, req->n_logit_bias * sizeof(gen_logit_bias));
    }
    j->n_bias = req->n_logit_bias;
    char *at = j->stop_text;
    for (size_t i = 0; i < req->n_stops; i++) {
        if (req->stops[i].len == 0) {
            continue;
        }
        memcpy(at, req->stops[i].ptr, req->stops[i].len);
        j->stops[j->n_stops].ptr = at;
        j->stops[j->n_stops].len = req->stops[i].len;
        if (req->stops[i].len > j->stop_len_max) {
            j->stop_len_max = req->stops[i].len;
        }
        j->n_stops++;
        at += req->stops[i].len + 1;
    }
    j->sampler = req->sampler;
    j->n_tokens_max = req->n_tokens_max;
    j->ignore_eog = req->ignore_eog;
    j->logprobs = req->logprobs;
    j->cons = req->constraint;
    j->on_event = req->on_event;
    j->payload = req->payload;
    j->pick = req->sample;
    j->t_submit = core_time_ns();
    atomic_init(&j->cancel, false);
    *out = j;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Creation                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void *worker_main(void *arg);
static void draw_outputs(void *payload, const float *logits, size_t n_outputs, size_t ith,
                         size_t nth);

/* Frees what gen_queue_new allocated (any part may be missing) and q itself. */
static void free_parts(gen_queue *q)
{
    for (size_t i = 0; q->slots && i < q->opts.n_parallel; i++) {
        core_free(q->slots[i].tokens);
        core_free(q->slots[i].scratch);
        core_buf_dispose(&q->slots[i].text);
        gen_sampler_free(q->slots[i].sampler);
    }
    core_free(q->slots);
    core_free(q->b_tokens);
    core_free(q->b_seq);
    core_free(q->b_logits);
    core_free(q->b_slot_out);
    gen_ctx_free(q->ctx);
    core_free(q);
}

int gen_queue_new(gen_queue **out, const gen_model *model, const gen_queue_options *opts,
                  core_err *err)
{
    gen_queue_options o = opts ? *opts : gen_queue_options_default();
    if (o.n_parallel == 0 || o.n_parallel > 256 || o.n_chunk == 0 || o.n_ctx < 2) {
        return core_err_set(err, CORE_EINVAL,
                            "queue: n_parallel (1..256), n_chunk and n_ctx must be positive");
    }
    if (o.n_cache_tokens_max == (size_t)-1) {
        o.n_cache_tokens_max = o.n_parallel * o.n_ctx;
    }
    if (o.n_threads == 0) {
        o.n_threads = 1;
    }
    /* The worker collects waiting jobs into fixed arrays of 256. */
    if (o.n_pending_max > 256) {
        o.n_pending_max = 256;
    }
    int rc = 0;
    gen_queue *q = core_calloc(1, sizeof(*q));
    if (!q) {
        return core_err_set(err, CORE_ENOMEM, "queue: out of memory");
    }
    q->model = model;
    q->opts = o;
    q->n_vocab = gen_model_n_vocab(model);
    q->next_id = 1;
    q->n_batch = o.n_parallel + o.n_chunk;
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = o.n_ctx;
    co.n_seq_max = o.n_parallel;
    co.n_batch_max = q->n_batch < 512 ? q->n_batch : 512;
    co.n_outputs_max = o.n_parallel;
    co.n_threads = o.n_threads;
    rc = gen_ctx_new(&q->ctx, model, &co, err);
    if (rc < 0) {
        core_free(q);
        return rc;
    }
    q->slots = core_calloc(o.n_parallel, sizeof(slot));
    q->b_tokens = core_malloc(q->n_batch * sizeof(int32_t));
    q->b_seq = core_malloc(q->n_batch * sizeof(int32_t));
    q->b_logits = core_malloc(q->n_batch * sizeof(bool));
    q->b_slot_out = core_malloc(o.n_parallel * sizeof(size_t));
    if (!q->slots || !q->b_tokens || !q->b_seq || !q->b_logits || !q->b_slot_out) {
        rc = core_err_set(err, CORE_ENOMEM, "queue: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < o.n_parallel; i++) {
        slot *s = &q->slots[i];
        s->tokens = core_malloc(o.n_ctx * sizeof(int32_t));
        s->scratch = core_malloc(q->n_vocab * sizeof(float));
        if (!s->tokens || !s->scratch) {
            rc = core_err_set(err, CORE_ENOMEM, "queue: out of memory");
            goto fail;
        }
        gen_sampler_options so = gen_sampler_options_default();
        rc = gen_sampler_new(&s->sampler, &so, q->n_vocab, err);
        if (rc < 0) {
            goto fail;
        }
    }
    if (pthread_mutex_init(&q->mu, NULL) != 0) {
        rc = core_err_set(err, CORE_ERROR, "queue: pthread_mutex_init failed");
        goto fail;
    }
    if (pthread_cond_init(&q->cv, NULL) != 0) {
        pthread_mutex_destroy(&q->mu);
        rc = core_err_set(err, CORE_ERROR, "queue: pthread_cond_init failed");
        goto fail;
    }
    if (pthread_create(&q->worker, NULL, worker_main, q) != 0) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
        rc = core_err_set(err, CORE_ERROR, "queue: pthread_create failed");
        goto fail;
    }
    *out = q;
    return 0;
fail:
    free_parts(q);
    return rc;
}

void gen_queue_free(gen_queue *queue)
{
    if (!queue) {
        return;
    }
    pthread_mutex_lock(&queue->mu);
    queue->closed = true;
    queue->stopping = true;
    pthread_cond_signal(&queue->cv);
    pthread_mutex_unlock(&queue->mu);
    pthread_join(queue->worker, NULL);
    pthread_cond_destroy(&queue->cv);
    pthread_mutex_destroy(&queue->mu);
    free_parts(queue);
}

/* ------------------------------------------------------------------------------------------ */
/* Submitting and canceling (any thread)                                                      */
/* ------------------------------------------------------------------------------------------ */

static int refuse(const gen_queue_request *req, int rc)
{
    if (req->constraint.free) {
        req->constraint.free(req->constraint.base.payload);
    }
    return rc;
}

int gen_queue_submit(gen_queue *queue, uint64_t *id, const gen_queue_request *req, core_err *err)
{
    *id = 0;
    if (req->n_prompt == 0) {
        return refuse(req, core_err_set(err, CORE_EINVAL, "queue: the prompt is empty"));
    }
    for (size_t i = 0; i < req->n_prompt; i++) {
        if (req->prompt[i] < 0 || (size_t)req->prompt[i] >= queue->n_vocab) {
            return refuse(req, core_err_set(err, CORE_EINVAL,
                                            "queue: prompt token %zu: id %d out of range", i,
                                            req->prompt[i]));
        }
    }
    for (size_t i = 0; i < req->n_logit_bias; i++) {
        const gen_logit_bias *b = &req->logit_bias[i];
        if (b->token < 0 || (size_t)b->token >= queue->n_vocab || !(b->bias < INFINITY)) {
            return refuse(req, core_err_set(err, CORE_EINVAL,
                                            "queue: logit bias %zu: token %d, bias %g: out of "
                                            "range (vocabulary of %zu)",
                                            i, b->token, (double)b->bias, queue->n_vocab));
        }
    }
    if (req->n_prompt >= queue->opts.n_ctx) {
        return refuse(req, core_err_set(err, CORE_ELIMIT,
                                        "queue: the prompt has %zu tokens, the context holds %zu",
                                        req->n_prompt, queue->opts.n_ctx - 1));
    }
    job *j = NULL;
    int rc = job_new(&j, req, err);
    if (rc < 0 || !j) {
        return refuse(req, rc < 0 ? rc : CORE_ERROR);
    }
    if (j->n_tokens_max > queue->opts.n_ctx - req->n_prompt) {
        j->n_tokens_max = queue->opts.n_ctx - req->n_prompt;
    }
    pthread_mutex_lock(&queue->mu);
    if (queue->closed) {
        rc = core_err_set(err, CORE_ECANCELED, "queue: the server is stopping");
    } else if (queue->n_pending >= queue->opts.n_pending_max) {
        rc = core_err_set(err, CORE_ELIMIT, "queue: full (%zu requests waiting)", queue->n_pending);
    } else {
        j->id = queue->next_id++;
        j->next = queue->jobs;
        queue->jobs = j;
        queue->n_pending++;
        queue->stats.n_tokens_prompt += req->n_prompt;
        *id = j->id;
        pthread_cond_signal(&queue->cv);
    }
    pthread_mutex_unlock(&queue->mu);
    if (rc < 0) {
        job_free(j);
        return refuse(req, rc);
    }
    return 0;
}

void gen_queue_cancel(gen_queue *queue, uint64_t id)
{
    pthread_mutex_lock(&queue->mu);
    for (job *j = queue->jobs; j; j = j->next) {
        if (j->id == id) {
            atomic_store(&j->cancel, true);
            pthread_cond_signal(&queue->cv);
            break;
        }
    }
    pthread_mutex_unlock(&queue->mu);
}

void gen_queue_close(gen_queue *queue)
{
    pthread_mutex_lock(&queue->mu);
    queue->closed = true;
    pthread_mutex_unlock(&queue->mu);
}

gen_queue_stats gen_queue_stats_get(gen_queue *queue)
{
    pthread_mutex_lock(&queue->mu);
    gen_queue_stats st = queue->stats;
    st.n_pending = queue->n_pending;
    st.n_running = queue->n_running;
    pthread_mutex_unlock(&queue->mu);
    return st;
}

gen_queue_options gen_queue_options_get(const gen_queue *queue)
{
    return queue->opts;
}

/* ------------------------------------------------------------------------------------------ */
/* The worker                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    size_t i = 0;
    while (i < n && a[i] == b[i]) {
        i++;
    }
    return i;
}

/* Bytes at the end of text that may still be the start of a stop string or of a UTF-8
 * character, so they are not sent yet. */
static size_t held_back(const job *j, core_str text)
{
    size_t hold = 0;
    for (size_t i = 0; i < j->n_stops; i++) {
        core_str st = j->stops[i];
        size_t n = st.len - 1 < text.len ? st.len - 1 : text.len;
        for (; n > hold; n--) {
            if (memcmp(text.ptr + text.len - n, st.ptr, n) == 0) {
                hold = n;
                break;
            }
        }
    }
    /* An unfinished UTF-8 sequence at the end. */
    for (size_t k = 1; k <= 3 && k <= text.len; k++) {
        unsigned char c = (unsigned char)text.ptr[text.len - k];
        if ((c & 0xC0) != 0x80) {
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (need > k && k > hold) {
                hold = k;
            }
            break;
        }
    }
    return hold;
}

/* Position of the first stop string in text at or after from, or text.len. */
static size_t find_stop(const job *j, core_str text, size_t from)
{
    size_t best = text.len;
    for (size_t i = 0; i < j->n_stops; i++) {
        core_str st = j->stops[i];
        for (size_t p = from; p + st.len <= text.len && p < best; p++) {
            if (memcmp(text.ptr + p, st.ptr, st.len) == 0) {
                best = p;
                break;
            }
        }
    }
    return best;
}

static void emit(const job *j, const slot *s, gen_queue_event *ev)
{
    ev->id = j->id;
    ev->n_prompt = j->n_prompt;
    ev->n_cached = s ? s->n_cached : 0;
    ev->n_generated = s ? s->n_generated : 0;
    ev->ns_queued = s ? s->t_admit - j->t_submit : core_time_ns() - j->t_submit;
    ev->ns_compute = s ? s->ns_compute : 0;
    if (j->on_event) {
        j->on_event(j->payload, ev);
    }
}

/* Unlinks j from the live list (so no cancel finds it) and releases its constraint: the last
 * things before its done event, so that statistics read after the event count it as gone. */
static void retire(gen_queue *q, job *j, bool admitted)
{
    pthread_mutex_lock(&q->mu);
    for (job **p = &q->jobs; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            break;
        }
    }
    if (admitted) {
        q->n_running--;
    } else {
        q->n_pending--;
    }
    pthread_mutex_unlock(&q->mu);
    if (j->cons.free) {
        j->cons.free(j->cons.base.payload);
    }
}

/* Evicts idle caches, least recently used first, until they hold at most the budget. */
static void evict(gen_queue *q)
{
    for (;;) {
        size_t held = 0;
        slot *lru = NULL;
        for (size_t i = 0; i < q->opts.n_parallel; i++) {
            slot *s = &q->slots[i];
            if (s->job || s->n_past == 0) {
                continue;
            }
            held += s->n_past;
            if (!lru || s->last_used < lru->last_used) {
                lru = s;
            }
        }
        if (!lru || held <= q->opts.n_cache_tokens_max) {
            return;
        }
        lru->n_past = 0;
        lru->n_tokens = 0;
        (void)gen_ctx_seq_truncate(q->ctx, (int32_t)(lru - q->slots), 0, NULL);
    }
}

/* Ends the slot's request: sends the rest of its text and the done event, frees the job and
 * keeps the cached tokens for reuse (all of them only when the cache is intact). */
static void finish_token(gen_queue *q, slot *s, gen_finish why, const core_err *err,
                         size_t text_end, int32_t token, float logprob)
{
    job *j = s->job;
    gen_queue_event ev = {0};
    ev.done = true;
    ev.token = token;
    ev.logprob = logprob;
    ev.finish = why;
    ev.err = err;
    if (text_end > s->n_sent) {
        ev.text = (core_str){s->text.ptr + s->n_sent, text_end - s->n_sent};
    }
    retire(q, j, true);
    emit(j, s, &ev);
    job_free(j);
    s->job = NULL;
    s->n_tokens = s->n_past;
    if (why == GEN_FINISH_ERROR) {
        s->n_past = 0;
        s->n_tokens = 0;
        (void)gen_ctx_seq_truncate(q->ctx, (int32_t)(s - q->slots), 0, NULL);
    }
    s->text.len = 0;
    s->n_sent = 0;
    evict(q);
}

static void finish(gen_queue *q, slot *s, gen_finish why, const core_err *err, size_t text_end)
{
    finish_token(q, s, why, err, text_end, -1, 0.0f);
}

/* Finishes a job that never reached a slot. */
static void finish_pending(gen_queue *q, job *j)
{
    gen_queue_event ev = {0};
    ev.done = true;
    ev.token = -1;
    ev.finish = GEN_FINISH_CANCELED;
    retire(q, j, false);
    emit(j, NULL, &ev);
    job_free(j);
}

/* Puts j into slot s, keeping the longest cached prefix available. */
static void admit(gen_queue *q, slot *s, job *j)
{
    const int32_t id = (int32_t)(s - q->slots);
    /* Decode at least the last prompt token, for its logits. */
    const size_t n_reuse_max = q->opts.n_cache_tokens_max ? j->n_prompt - 1 : 0;
    size_t keep = common_prefix(s->tokens, s->n_past, j->prompt, j->n_prompt);
    keep = keep < n_reuse_max ? keep : n_reuse_max;
    size_t best = keep;
    size_t from = q->opts.n_parallel;
    for (size_t i = 0; i < q->opts.n_parallel; i++) {
        slot *t = &q->slots[i];
        if (t == s) {
            continue;
        }
        size_t l = common_prefix(t->tokens, t->n_past, j->prompt, j->n_prompt);
        l = l < n_reuse_max ? l : n_reuse_max;
        if (l > best) {
            best = l;
            from = i;
        }
    }
    if (from < q->opts.n_parallel && gen_ctx_seq_copy(q->ctx, id, (int32_t)from, best, NULL) == 0) {
        keep = best;
    } else {
        (void)gen_ctx_seq_truncate(q->ctx, id, keep, NULL);
    }
    memcpy(s->tokens, j->prompt, j->n_prompt * sizeof(int32_t));
    s->job = j;
    s->n_past = keep;
    s->n_tokens = j->n_prompt;
    s->n_prompt = j->n_prompt;
    s->n_cached = keep;
    s->n_generated = 0;
    s->text.len = 0;
    s->n_sent = 0;
    s->admit_seq = q->n_admitted++;
    s->t_admit = core_time_ns();
    s->ns_compute = 0;
    gen_sampler_free(s->sampler);
    s->sampler = NULL;
    if (gen_sampler_new(&s->sampler, &j->sampler, q->n_vocab, NULL) < 0) {
        core_err e = {0};
        core_err_set(&e, CORE_ENOMEM, "queue: request %llu: out of memory",
                     (unsigned long long)j->id);
        finish(q, s, GEN_FINISH_ERROR, &e, 0);
    }
}

/* Whether slot s, still reading its prompt, should wait for an earlier slot that is decoding a
 * longer part of the same prompt, and copies that part once it is there. */
static bool wait_for_prefix(gen_queue *q, slot *s)
{
    if (q->opts.n_cache_tokens_max == 0) {
        return false;
    }
    const int32_t id = (int32_t)(s - q->slots);
    bool wait = false;
    for (size_t i = 0; i < q->opts.n_parallel; i++) {
        slot *t = &q->slots[i];
        if (t == s || !t->job || t->admit_seq > s->admit_seq) {
            continue;
        }
        size_t l = common_prefix(t->tokens, t->n_tokens, s->tokens, s->n_prompt);
        l = l < s->n_prompt - 1 ? l : s->n_prompt - 1;
        if (l <= s->n_past) {
            continue;
        }
        if (t->n_past >= l) {
            if (gen_ctx_seq_copy(q->ctx, id, (int32_t)i, l, NULL) == 0) {
                s->n_cached += l - s->n_past;
                s->n_past = l;
            }
        } else {
            wait = true;
        }
    }
    return wait;
}

/* Admits waiting jobs into idle slots (best cached prefix first), and ends canceled pending
 * jobs. Returns false when the worker should stop. */
static bool take_jobs(gen_queue *q)
{
    pthread_mutex_lock(&q->mu);
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < q->opts.n_parallel; i++) {
            busy = busy || q->slots[i].job;
        }
        if (q->stopping || busy || q->n_pending > 0) {
            break;
        }
        pthread_cond_wait(&q->cv, &q->mu);
    }
    if (q->stopping) {
        for (job *j = q->jobs; j; j = j->next) {
            atomic_store(&j->cancel, true);
        }
    }
    /* Oldest first: the list is newest first, so collect and walk it backwards. */
    job *ready[256] = {NULL};
    size_t n_ready = 0;
    job *canceled[256] = {NULL};
    size_t n_canceled = 0;
    for (job *j = q->jobs; j; j = j->next) {
        if (j->admitted) {
            continue;
        }
        if (atomic_load(&j->cancel)) {
            if (n_canceled < 256) {
                canceled[n_canceled++] = j;
            }
        } else if (n_ready < 256) {
            ready[n_ready++] = j;
        }
    }
    size_t n_idle = 0;
    for (size_t i = 0; i < q->opts.n_parallel; i++) {
        n_idle += q->slots[i].job == NULL;
    }
    size_t n_take = n_ready < n_idle ? n_ready : n_idle;
    job *take[256] = {NULL};
    for (size_t k = 0; k < n_take; k++) {
        take[k] = ready[n_ready - 1 - k];
        take[k]->admitted = true;
        q->n_pending--;
        q->n_running++;
    }
    const bool stopping = q->stopping;
    pthread_mutex_unlock(&q->mu);

    for (size_t k = 0; k < n_canceled; k++) {
        finish_pending(q, canceled[k]);
    }
    for (size_t k = 0; k < n_take; k++) {
        job *j = take[k];
        slot *best = NULL;
        size_t best_l = 0;
        for (size_t i = 0; i < q->opts.n_parallel; i++) {
            slot *s = &q->slots[i];
            if (s->job) {
                continue;
            }
            size_t l = common_prefix(s->tokens, s->n_past, j->prompt, j->n_prompt);
            if (!best || l > best_l || (l == best_l && s->last_used < best->last_used)) {
                best = s;
                best_l = l;
            }
        }
        /* n_take <= idle slots, so one is free. */
        if (CORE_NEVER(best == NULL)) {
            break;
        }
        admit(q, best, j);
    }
    if (stopping) {
        bool busy = false;
        for (size_t i = 0; i < q->opts.n_parallel; i++) {
            busy = busy || q->slots[i].job;
        }
        pthread_mutex_lock(&q->mu);
        const bool more = q->jobs != NULL;
        pthread_mutex_unlock(&q->mu);
        return busy || more;
    }
    return true;
}

/* The next token of slot s from a request that picks its own (gen_queue_request.sample);
 * returns false when the request ended. */
static bool pick(gen_queue *q, slot *s, const float *row)
{
    job *j = s->job;
    core_err err = {0};
    int32_t tok = -1;
    const uint64_t t0 = core_time_ns();
    const int rc = j->pick(j->payload, row, s->n_past, &tok, &err);
    s->ns_compute += core_time_ns() - t0;
    if (rc < 0) {
        finish(q, s, GEN_FINISH_ERROR, &err, 0);
        return false;
    }
    if (rc == 0) {
        finish(q, s, GEN_FINISH_STOP, NULL, 0);
        return false;
    }
    if (tok < 0 || (size_t)tok >= q->n_vocab) {
        core_err_set(&err, CORE_EINVAL, "queue: request %llu: picked token %d out of range",
                     (unsigned long long)j->id, tok);
        finish(q, s, GEN_FINISH_ERROR, &err, 0);
        return false;
    }
    s->tokens[s->n_tokens++] = tok;
    s->n_generated++;
    if (s->n_generated >= j->n_tokens_max || s->n_tokens >= q->opts.n_ctx) {
        finish_token(q, s, GEN_FINISH_LENGTH, NULL, 0, tok, 0.0f);
        return false;
    }
    gen_queue_event ev = {0};
    ev.token = tok;
    emit(j, s, &ev);
    return true;
}

/* The constraint slot s's request passes to its sampler, or NULL. */
static const gen_constraint *constraint_of(const job *j)
{
    return j->cons.base.mask || j->cons.base.allows ? &j->cons.base : NULL;
}

/* Draws slot s's next token from logits row into s->d_* (sampler, bias, constraint, log-prob):
 * what touches only the slot, so the compute threads may do it for several slots at once. */
static void draw(gen_queue *q, slot *s, const float *row)
{
    const job *j = s->job;
    const uint64_t t0 = core_time_ns();
    int32_t tok = -1;
    const gen_constraint *cons = constraint_of(j);
    int rc = 0;
    core_err_clear(&s->d_err);
    if (!cons && j->n_bias == 0 && j->sampler.repeat_penalty == 1.0f) {
        /* Nothing changes the logits: the sampler reads the context's row, no copy. */
        rc = gen_sampler_sample_const(s->sampler, row, &tok, &s->d_err);
    } else {
        memcpy(s->scratch, row, q->n_vocab * sizeof(float));
        for (size_t i = 0; i < j->n_bias; i++) {
            s->scratch[j->bias[i].token] += j->bias[i].bias;
        }
        rc = gen_sampler_sample(s->sampler, s->scratch, cons, &tok, &s->d_err);
    }
    /* log-softmax of the model's own logits at tok. */
    float logprob = 0.0f;
    if (rc == 0 && j->logprobs) {
        float mx = row[0];
        for (size_t v = 1; v < q->n_vocab; v++) {
            mx = row[v] > mx ? row[v] : mx;
        }
        double sum = 0;
        for (size_t v = 0; v < q->n_vocab; v++) {
            sum += exp((double)(row[v] - mx));
        }
        /* sum >= 1: the largest logit adds exp(0). */
        logprob = (float)((double)(row[tok] - mx) - log(sum > 1.0 ? sum : 1.0));
    }
    s->ns_compute += core_time_ns() - t0;
    s->d_rc = rc;
    s->d_token = tok;
    s->d_logprob = logprob;
    s->drawn = true;
}

/* The context's hook at the end of a step's decode, on every compute thread: each draws the
 * tokens of its share of the outputs (output k on thread k mod nth). Requests with a
 * constraint or a picker of their own are left to the worker, since their callbacks may not
 * be called from several threads at once; every other slot's sampler, scratch and generator
 * are its own, so the tokens are those that a serial loop draws. */
static void draw_outputs(void *payload, const float *logits, size_t n_outputs, size_t ith,
                         size_t nth)
{
    gen_queue *q = payload;
    const size_t n = q->n_out < n_outputs ? q->n_out : n_outputs;
    for (size_t k = ith; k < n; k += nth) {
        slot *s = &q->slots[q->b_slot_out[k]];
        if (s->job && !s->job->pick && !constraint_of(s->job)) {
            draw(q, s, logits + k * q->n_vocab);
        }
    }
}

/* Samples the next token of slot s from logits row (or takes the one the compute threads
 * drew), then ends the request or sends the token's event; returns false when it ended. */
static bool sample(gen_queue *q, slot *s, const float *row)
{
    job *j = s->job;
    if (j->pick) {
        return pick(q, s, row);
    }
    if (!s->drawn) {
        draw(q, s, row);
    }
    s->drawn = false;
    const int32_t tok = s->d_token;
    const float logprob = s->d_logprob;
    if (s->d_rc == CORE_ENOTFOUND) {
        finish(q, s, GEN_FINISH_STOP, NULL, s->text.len);
        return false;
    }
    if (s->d_rc < 0) {
        finish(q, s, GEN_FINISH_ERROR, &s->d_err, s->n_sent);
        return false;
    }
    core_err err = {0};
    gen_sampler_accept(s->sampler, tok);
    if (j->cons.accept && j->cons.accept(j->cons.base.payload, tok, &err) < 0) {
        finish(q, s, GEN_FINISH_ERROR, &err, s->n_sent);
        return false;
    }
    s->n_generated++;
    if (!j->ignore_eog && gen_model_token_is_eog(q->model, tok)) {
        finish(q, s, GEN_FINISH_STOP, NULL, s->text.len);
        return false;
    }
    const size_t len_before = s->text.len;
    core_str piece = gen_model_token_piece(q->model, tok, false);
    if (core_buf_append(&s->text, piece.ptr, piece.len) < 0) {
        core_err_set(&err, CORE_ENOMEM, "queue: request %llu: out of memory",
                     (unsigned long long)j->id);
        finish(q, s, GEN_FINISH_ERROR, &err, s->n_sent);
        return false;
    }
    s->tokens[s->n_tokens++] = tok;
    core_str text = {s->text.ptr, s->text.len};
    const size_t from = len_before > j->stop_len_max ? len_before - j->stop_len_max : 0;
    const size_t stop_at = j->n_stops ? find_stop(j, text, from) : text.len;
    if (stop_at < text.len) {
        finish_token(q, s, GEN_FINISH_STOP, NULL, stop_at, tok, logprob);
        return false;
    }
    if (s->n_generated >= j->n_tokens_max || s->n_tokens >= q->opts.n_ctx) {
        finish_token(q, s, GEN_FINISH_LENGTH, NULL, text.len, tok, logprob);
        return false;
    }
    size_t safe = text.len - held_back(j, text);
    gen_queue_event ev = {0};
    ev.token = tok;
    ev.logprob = logprob;
    if (safe > s->n_sent) {
        ev.text = (core_str){text.ptr + s->n_sent, safe - s->n_sent};
        s->n_sent = safe;
    }
    emit(j, s, &ev);
    return true;
}

/* One step: cancels, batch, decode, sampling. */
static void step(gen_queue *q, uint64_t n_step)
{
    const size_t n_par = q->opts.n_parallel;
    for (size_t i = 0; i < n_par; i++) {
        slot *s = &q->slots[i];
        if (s->job && atomic_load(&s->job->cancel)) {
            finish(q, s, GEN_FINISH_CANCELED, NULL, s->n_sent);
        }
    }
    size_t n = 0;
    size_t n_out = 0;
    size_t budget = q->opts.n_chunk;
    uint64_t n_prompt_decoded = 0;
    /* Generating slots first (one token each), then prompts in admission order. */
    for (int pass = 0; pass < 2; pass++) {
        for (;;) {
            slot *pick = NULL;
            for (size_t i = 0; i < n_par; i++) {
                slot *s = &q->slots[i];
                if (!s->job || s->last_used == n_step + 1) {
                    continue;
                }
                const bool in_prompt = s->n_past < s->n_prompt;
                if ((pass == 0) == in_prompt) {
                    continue;
                }
                if (!pick || s->admit_seq < pick->admit_seq) {
                    pick = s;
                }
            }
            if (!pick) {
                break;
            }
            pick->last_used = n_step + 1;
            if (pass == 1 && (budget == 0 || wait_for_prefix(q, pick))) {
                continue;
            }
            size_t take = pick->n_tokens - pick->n_past;
            if (pass == 1) {
                take = take < budget ? take : budget;
                budget -= take;
                n_prompt_decoded += take;
            }
            for (size_t k = 0; k < take; k++) {
                q->b_tokens[n] = pick->tokens[pick->n_past + k];
                q->b_seq[n] = (int32_t)(pick - q->slots);
                q->b_logits[n] = false;
                n++;
            }
            /* n_past moves once the batch is decoded: until then another slot may not copy
             * these positions. */
            pick->n_step = take;
            if (pick->n_past + take == pick->n_tokens) {
                q->b_logits[n - 1] = true;
                q->b_slot_out[n_out++] = (size_t)(pick - q->slots);
            }
        }
    }
    if (n == 0) {
        return;
    }
    for (size_t i = 0; i < n_par; i++) {
        q->slots[i].drawn = false;
    }
    /* On the CPU the compute threads draw the step's tokens as the decode ends, which costs
     * them a barrier: worth it from two outputs on. Otherwise (and with a CUDA context, which
     * refuses) sample draws them on the worker, with the same code. */
    q->n_out = n_out;
    (void)gen__ctx_set_after(q->ctx, n_out > 1 ? draw_outputs : NULL, q);
    const uint64_t t0 = core_time_ns();
    gen_batch b = {q->b_tokens, q->b_seq, q->b_logits, n};
    core_err err = {0};
    int rc = gen_ctx_decode(q->ctx, &b, &err);
    if (rc < 0) {
        core_log_write(&q->opts.log, CORE_LOG_LEVEL_ERROR, "%s", err.msg);
        for (size_t i = 0; i < n_par; i++) {
            q->slots[i].n_step = 0;
            if (q->slots[i].job && q->slots[i].last_used == n_step + 1) {
                finish(q, &q->slots[i], GEN_FINISH_ERROR, &err, q->slots[i].n_sent);
            }
        }
        return;
    }
    const uint64_t ns_decode = core_time_ns() - t0;
    for (size_t i = 0; i < n_par; i++) {
        if (q->slots[i].n_step > 0) {
            q->slots[i].ns_compute += ns_decode;
        }
        q->slots[i].n_past += q->slots[i].n_step;
        q->slots[i].n_step = 0;
    }
    /* Statistics go out before the events, so a client that saw its last event reads them
     * with its tokens counted. Every output is sampled (or ends its request with an error). */
    uint64_t n_hits = 0;
    for (size_t k = 0; k < n_out; k++) {
        const slot *s = &q->slots[q->b_slot_out[k]];
        n_hits += s->n_generated == 0 && s->n_cached > 0;
    }
    const uint64_t ns = core_time_ns() - t0;
    size_t bucket = 0;
    while (bucket < 11 && (double)ns / 1e6 > gen_queue_step_buckets_ms[bucket]) {
        bucket++;
    }
    pthread_mutex_lock(&q->mu);
    q->stats.n_steps++;
    q->stats.ns_steps += ns;
    q->stats.step_hist[bucket]++;
    q->stats.n_tokens_decoded += n_prompt_decoded;
    q->stats.n_tokens_generated += n_out;
    q->stats.n_cache_hits += n_hits;
    pthread_mutex_unlock(&q->mu);
    const uint64_t t1 = core_time_ns();
    for (size_t k = 0; k < n_out; k++) {
        slot *s = &q->slots[q->b_slot_out[k]];
        const float *row = gen_ctx_logits(q->ctx, k);
        if (!row) {
            core_err_set(&err, CORE_ERROR, "queue: logits of output %zu are missing", k);
            finish(q, s, GEN_FINISH_ERROR, &err, s->n_sent);
            continue;
        }
        (void)sample(q, s, row);
    }
    if (q->opts.on_step) {
        q->opts.on_step(q->opts.step_payload);
    }
    const uint64_t ns_sampling = core_time_ns() - t1;
    pthread_mutex_lock(&q->mu);
    q->stats.ns_sampling += ns_sampling;
    pthread_mutex_unlock(&q->mu);
}

static void *worker_main(void *arg)
{
    gen_queue *q = arg;
    uint64_t n_step = 0;
    while (take_jobs(q)) {
        step(q, n_step++);
    }
    return NULL;
}
