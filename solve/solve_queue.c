/*
 * The pipeline's stages on a shared gen_queue (kiln serve, kiln lsp): the plan and each
 * candidate are requests of the queue, whose tokens are picked by the same step as on the
 * engine's own context (the plan's sampler; solve__cand_next: mask, sample under the grammar
 * constraint, accept, end rules). They join whatever the queue is decoding, and the queue's
 * prefix cache decodes the shared prompt once for all of them. The tokens are the same as on
 * the engine's context: every row's logits are computed alike in any batch.
 *
 * Threads: the queue's worker calls the pick and event callbacks; the caller waits on the set's
 * condition variable until every request has sent its done event, so each candidate and the
 * engine's scratch are used by one thread at a time.
 */
#include "solve/solve_int.h"

#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------ */
/* A set of requests and the wait for them                                                    */
/* ------------------------------------------------------------------------------------------ */

int solve__qset_init(solve__qset *qs, gen_queue *queue, core_err *err)
{
    memset(qs, 0, sizeof(*qs));
    qs->queue = queue;
    if (pthread_mutex_init(&qs->mu, NULL) != 0) {
        return core_err_set(err, CORE_ERROR, "solve: pthread_mutex_init failed");
    }
    if (pthread_cond_init(&qs->cv, NULL) != 0) {
        pthread_mutex_destroy(&qs->mu);
        return core_err_set(err, CORE_ERROR, "solve: pthread_cond_init failed");
    }
    return 0;
}

void solve__qset_dispose(solve__qset *qs)
{
    pthread_cond_destroy(&qs->cv);
    pthread_mutex_destroy(&qs->mu);
}

int solve__qset_submit(solve__qset *qs, const solve__qreq *r, core_err *err)
{
    CORE_ASSERT(qs->n_ids < sizeof(qs->ids) / sizeof(qs->ids[0]));
    gen_queue_request req;
    memset(&req, 0, sizeof(req));
    req.prompt = r->prompt;
    req.n_prompt = r->n_prompt;
    req.sampler = gen_sampler_options_default();
    req.n_tokens_max = r->n_tokens_max;
    req.on_event = r->on_event;
    req.payload = r->payload;
    req.sample = r->pick;
    pthread_mutex_lock(&qs->mu);
    qs->n_live++;
    pthread_mutex_unlock(&qs->mu);
    uint64_t id = 0;
    const int rc = gen_queue_submit(qs->queue, &id, &req, err);
    pthread_mutex_lock(&qs->mu);
    if (rc < 0) {
        qs->n_live--;
    } else {
        qs->ids[qs->n_ids++] = id;
    }
    pthread_mutex_unlock(&qs->mu);
    return rc;
}

void solve__qset_done(solve__qset *qs, const gen_queue_event *ev)
{
    pthread_mutex_lock(&qs->mu);
    if (ev->finish == GEN_FINISH_ERROR && qs->rc == 0) {
        qs->rc = ev->err && ev->err->code < 0 ? ev->err->code : CORE_ERROR;
        core_err_set(&qs->err, qs->rc, "%s", ev->err ? ev->err->msg : "solve: the queue failed");
    }
    qs->n_live--;
    pthread_cond_signal(&qs->cv);
    pthread_mutex_unlock(&qs->mu);
}

int solve__qset_wait(solve__qset *qs, const core_cancel *cancel, bool abandon, const char *what,
                     core_err *err)
{
    bool canceled = false;
    pthread_mutex_lock(&qs->mu);
    while (qs->n_live > 0) {
        if (!canceled && (abandon || core_cancel_is_requested(cancel))) {
            canceled = true;
            pthread_mutex_unlock(&qs->mu);
            for (size_t i = 0; i < qs->n_ids; i++) {
                gen_queue_cancel(qs->queue, qs->ids[i]);
            }
            pthread_mutex_lock(&qs->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* Poll the cancel callback every 2 ms: an editor's cancel reaches the queue within
           that, and the queue ends the requests within a step. */
        ts.tv_nsec += 2 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&qs->cv, &qs->mu, &ts);
    }
    const int rc = qs->rc;
    pthread_mutex_unlock(&qs->mu);
    if (rc < 0) {
        return core_err_set(err, rc, "%s", qs->err.msg);
    }
    if (canceled && !abandon) {
        return core_err_set(err, CORE_ECANCELED, "solve: canceled while %s", what);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The write stage                                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef struct qcand {
    solve__qset *qs;
    solve_engine *e;
    solve__cand *c;
    size_t n_ctx; /* the queue's positions per request */
} qcand;

static int on_pick(void *payload, const float *logits, size_t n_past, int32_t *token, core_err *err)
{
    qcand *qc = payload;
    return solve__cand_next(qc->e, qc->c, logits, n_past, qc->n_ctx, token, err);
}

static void on_event(void *payload, const gen_queue_event *ev)
{
    if (!ev->done) {
        return;
    }
    qcand *qc = payload;
    solve__cand *c = qc->c;
    if (c->live) {
        /* The queue ended it (its context, a cancel, an error): keep what was written. */
        c->live = false;
        c->end = c->text.len;
    }
    solve__qset_done(qc->qs, ev);
}

int solve__write_queue(solve_engine *e, solve__cand *cands, int32_t *const *suffixes,
                       const size_t *n_suffixes, size_t n, const core_cancel *cancel,
                       size_t *n_prompt_tokens, core_err *err)
{
    CORE_ASSERT(n <= SOLVE_N_MAX);
    int32_t *prompt = NULL;
    solve__qset *qs = core_calloc(1, sizeof(*qs));
    qcand *q = core_calloc(n ? n : 1, sizeof(*q));
    if (!qs || !q) {
        core_free(qs);
        core_free(q);
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    int rc = solve__qset_init(qs, e->queue, err);
    if (rc < 0) {
        core_free(qs);
        core_free(q);
        return rc;
    }
    const size_t n_ctx = gen_queue_options_get(e->queue).n_ctx;
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
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (n_suffixes[i] == 0) {
            rc = core_err_set(err, CORE_EINVAL, "solve: candidate %zu has an empty suffix", i);
            break;
        }
        memcpy(prompt + e->n_shared, suffixes[i], n_suffixes[i] * sizeof(int32_t));
        q[i] = (qcand){qs, e, &cands[i], n_ctx};
        /* The candidate's own cap ends it first; the queue's ends what the context cuts. */
        const solve__qreq r = {
            prompt, e->n_shared + n_suffixes[i], cands[i].n_tokens_max + 1, on_pick, on_event,
            &q[i]};
        rc = solve__qset_submit(qs, &r, err);
    }
    /* On a failed submit, stop what was submitted and wait for it: the requests point into q. */
    const int wrc = solve__qset_wait(qs, cancel, rc < 0, "writing", rc < 0 ? NULL : err);
    if (rc == 0) {
        rc = wrc;
        for (size_t i = 0; i < n; i++) {
            *n_prompt_tokens += n_suffixes[i]; /* the shared prompt was counted when kept */
        }
    }

done:
    solve__qset_dispose(qs);
    core_free(qs);
    core_free(q);
    core_free(prompt);
    return rc;
}
