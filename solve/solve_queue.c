/*
 * The write stage on a shared gen_queue (kiln serve): each candidate is one request of the
 * queue, its prompt the shared prompt and its suffix, and its tokens picked by the same step as
 * on the engine's own context (solve__cand_next: mask, sample under the grammar constraint,
 * accept, end rules). The candidates join whatever the queue is decoding, and the queue's
 * prefix cache decodes the shared prompt once for all of them. The tokens are the same as on
 * the engine's context: every row's logits are computed alike in any batch.
 *
 * Threads: the queue's worker calls on_pick and on_event; the caller waits on the condition
 * variable until every request has sent its done event, so each candidate and the engine's
 * scratch are used by one thread at a time.
 */
#include "solve/solve_int.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

typedef struct qwrite qwrite;

typedef struct qcand {
    qwrite *w;
    solve__cand *c;
    uint64_t id; /* the queue's request id, 0 before submit */
} qcand;

struct qwrite {
    solve_engine *e;
    size_t n_ctx;         /* the queue's positions per request */
    pthread_mutex_t mu;   /* guards what follows */
    pthread_cond_t cv;    /* signals a done event */
    size_t n_live;        /* submitted requests without their done event */
    int rc;               /* the first error of a candidate */
    core_err err;         /* its message */
    qcand q[SOLVE_N_MAX]; /* (n) */
};

static int on_pick(void *payload, const float *logits, size_t n_past, int32_t *token, core_err *err)
{
    qcand *qc = payload;
    return solve__cand_next(qc->w->e, qc->c, logits, n_past, qc->w->n_ctx, token, err);
}

static void on_event(void *payload, const gen_queue_event *ev)
{
    if (!ev->done) {
        return;
    }
    qcand *qc = payload;
    qwrite *w = qc->w;
    solve__cand *c = qc->c;
    if (c->live) {
        /* The queue ended it (its context, a cancel, an error): keep what was written. */
        c->live = false;
        c->end = c->text.len;
    }
    pthread_mutex_lock(&w->mu);
    if (ev->finish == GEN_FINISH_ERROR && w->rc == 0) {
        w->rc = ev->err && ev->err->code < 0 ? ev->err->code : CORE_ERROR;
        core_err_set(&w->err, w->rc, "%s", ev->err ? ev->err->msg : "solve: the queue failed");
    }
    w->n_live--;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits for every done event, canceling the requests once when cancel asks. Returns whether
 * they were canceled. */
static bool wait_all(qwrite *w, size_t n, const core_cancel *cancel)
{
    bool canceled = false;
    pthread_mutex_lock(&w->mu);
    while (w->n_live > 0) {
        if (!canceled && core_cancel_is_requested(cancel)) {
            canceled = true;
            pthread_mutex_unlock(&w->mu);
            for (size_t i = 0; i < n; i++) {
                if (w->q[i].id) {
                    gen_queue_cancel(w->e->queue, w->q[i].id);
                }
            }
            pthread_mutex_lock(&w->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L; /* poll the cancel callback every 20 ms */
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return canceled;
}

int solve__write_queue(solve_engine *e, solve__cand *cands, int32_t *const *suffixes,
                       const size_t *n_suffixes, size_t n, const core_cancel *cancel,
                       size_t *n_prompt_tokens, core_err *err)
{
    CORE_ASSERT(n <= SOLVE_N_MAX);
    int rc = 0;
    int32_t *prompt = NULL;
    qwrite *w = core_calloc(1, sizeof(*w));
    if (!w) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    w->e = e;
    w->n_ctx = gen_queue_options_get(e->queue).n_ctx;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    size_t n_max = 0;
    for (size_t i = 0; i < n; i++) {
        n_max = n_suffixes[i] > n_max ? n_suffixes[i] : n_max;
    }
    prompt = core_malloc((e->n_shared + n_max + 1) * sizeof(int32_t));
    if (!prompt) {
        rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
        goto done;
    }
    if (e->n_shared > 0) {
        memcpy(prompt, e->shared, e->n_shared * sizeof(int32_t));
    }
    for (size_t i = 0; i < n; i++) {
        if (n_suffixes[i] == 0) {
            rc = core_err_set(err, CORE_EINVAL, "solve: candidate %zu has an empty suffix", i);
            break;
        }
        memcpy(prompt + e->n_shared, suffixes[i], n_suffixes[i] * sizeof(int32_t));
        w->q[i] = (qcand){w, &cands[i], 0};
        gen_queue_request req;
        memset(&req, 0, sizeof(req));
        req.prompt = prompt;
        req.n_prompt = e->n_shared + n_suffixes[i];
        req.sampler = gen_sampler_options_default();
        /* The candidate's own cap ends it first; the queue's ends what the context cuts. */
        req.n_tokens_max = cands[i].n_tokens_max + 1;
        req.on_event = on_event;
        req.payload = &w->q[i];
        req.sample = on_pick;
        pthread_mutex_lock(&w->mu);
        w->n_live++;
        pthread_mutex_unlock(&w->mu);
        uint64_t id = 0;
        rc = gen_queue_submit(e->queue, &id, &req, err);
        pthread_mutex_lock(&w->mu);
        if (rc < 0) {
            w->n_live--;
        } else {
            w->q[i].id = id;
        }
        pthread_mutex_unlock(&w->mu);
        if (rc < 0) {
            break;
        }
    }
    if (rc < 0) {
        /* Stop what was submitted, then wait for it: the requests point into w. */
        for (size_t i = 0; i < n; i++) {
            if (w->q[i].id) {
                gen_queue_cancel(e->queue, w->q[i].id);
            }
        }
        (void)wait_all(w, n, NULL);
        goto done;
    }
    const bool canceled = wait_all(w, n, cancel);
    for (size_t i = 0; i < n; i++) {
        *n_prompt_tokens += n_suffixes[i]; /* the shared prompt was counted when it was kept */
    }
    if (w->rc < 0) {
        rc = core_err_set(err, w->rc, "%s", w->err.msg);
    } else if (canceled) {
        rc = core_err_set(err, CORE_ECANCELED, "solve: canceled while writing");
    }

done:
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    core_free(w);
    core_free(prompt);
    return rc;
}
