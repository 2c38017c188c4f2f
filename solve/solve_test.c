/*
 * Running many sandbox jobs at once: the pipeline's visible tests and `kiln eval`'s hidden
 * tests. Worker threads (the caller's among them) take the next candidate from one atomic
 * counter, run it in the pool (which is internally synchronized and has its own slot limit),
 * and report it to the caller's callback; a failing callback makes the others stop taking work.
 */
#include "solve/solve_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

typedef struct test_work {
    sbx_pool *pool;
    const solve_test_batch *batch;
    solve_test_fn fn;
    void *payload;
    atomic_size_t next; /* the next candidate to take; orders nothing else */
    atomic_bool stop;   /* a callback failed: take no more work; orders nothing else */
    pthread_mutex_t mu; /* protects rc and err */
    int rc;
    core_err err;
} test_work;

static void *test_worker(void *arg)
{
    test_work *w = arg;
    const solve_test_batch *b = w->batch;
    while (!atomic_load(&w->stop)) {
        size_t i = atomic_fetch_add(&w->next, 1);
        if (i >= b->n) {
            break;
        }
        sbx_job job = sbx_job_default();
        job.lang = b->lang == SOLVE_LANG_C ? SBX_LANG_C : SBX_LANG_PYTHON;
        job.candidate = core_str_c(b->codes[i]);
        job.tests = b->tests;
        job.entry = b->entry;
        job.limits = b->limits;
        if (b->cancel) {
            job.cancel = *b->cancel;
        }
        sbx_result sr;
        memset(&sr, 0, sizeof(sr));
        core_err run_err = {0};
        core_err err = {0};
        int run_rc = sbx_pool_run(w->pool, &job, &sr, &run_err);
        int rc = w->fn(w->payload, i, run_rc, &sr, &run_err, &err);
        sbx_result_dispose(&sr);
        if (rc < 0) {
            pthread_mutex_lock(&w->mu);
            if (w->rc == 0) {
                w->rc = rc;
                w->err = err;
            }
            pthread_mutex_unlock(&w->mu);
            atomic_store(&w->stop, true);
            break;
        }
    }
    return NULL;
}

int solve_test_all(sbx_pool *pool, const solve_test_batch *batch, solve_test_fn fn, void *payload,
                   core_err *err)
{
    if (batch->n == 0) {
        return 0;
    }
    test_work w;
    memset(&w, 0, sizeof(w));
    w.pool = pool;
    w.batch = batch;
    w.fn = fn;
    w.payload = payload;
    atomic_init(&w.next, 0);
    atomic_init(&w.stop, false);
    pthread_mutex_init(&w.mu, NULL);
    size_t n_jobs = batch->n_jobs ? batch->n_jobs : sbx_pool_n_slots(pool);
    n_jobs = n_jobs < batch->n ? n_jobs : batch->n;
    pthread_t th[SOLVE_N_MAX];
    size_t n_started = 0;
    for (size_t j = 1; j < n_jobs && j < SOLVE_N_MAX; j++) {
        if (pthread_create(&th[n_started], NULL, test_worker, &w) != 0) {
            break; /* fewer threads: the caller's loop takes the rest */
        }
        n_started++;
    }
    test_worker(&w);
    for (size_t j = 0; j < n_started; j++) {
        pthread_join(th[j], NULL);
    }
    pthread_mutex_destroy(&w.mu);
    if (w.rc < 0 && err) {
        *err = w.err;
    }
    return w.rc;
}
