/*
 * The compute thread pool. Workers sleep on a condition variable between runs, so an idle
 * service costs no CPU; within a run they meet at a sense-reversing barrier that spins briefly
 * and then yields, because on two shared cores a pure spin barrier collapses as soon as anything
 * else runs (see shared/reference/cpu-performance.md, "Things noticed").
 */
#include "gen/pool_int.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

/*
 * Spins (a pause each on x86: 30-60 ns on Zen 4, about 40 on recent Intel cores) before a
 * waiting thread yields, adapted per pool: a wait that ends while spinning raises the budget a
 * little, up to POOL_SPINS_MAX (30-60 us, longer than most waits of a decoding step, which
 * then end without a system call); a wait that had to yield halves it, down to POOL_SPINS_MIN,
 * so that on a loaded machine, where a partner thread has lost its core, the waiters give
 * their cores back soon instead of spinning.
 */
#define POOL_SPINS_MIN  16
#define POOL_SPINS_MAX  1000
#define POOL_SPINS_STEP 8

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_PAUSE() _mm_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif

typedef struct worker {
    gen_pool *pool;
    size_t ith;
    pthread_t thread;
} worker;

struct gen_pool {
    size_t n_threads;
    worker *workers;     /* (n_threads - 1), owned */
    size_t n_started;    /* workers whose thread was created */
    pthread_mutex_t mu;  /* protects generation, stop, fn, payload, n_done */
    pthread_cond_t wake; /* signalled when generation changes or stop is set */
    pthread_cond_t done; /* signalled when n_done reaches n_threads - 1 */
    unsigned long generation;
    bool stop;
    gen_pool_fn fn;
    void *payload;
    size_t n_done;
    /* Barrier: arrivals in the current phase, and the phase's sense; both only move
     * forward with acquire/release so writes before a barrier are visible after it. */
    atomic_size_t barrier_count;
    atomic_uint barrier_sense;
    atomic_uint spin_budget; /* spins before yielding (see POOL_SPINS_MIN) */
};

static void *worker_main(void *arg)
{
    worker *w = arg;
    gen_pool *p = w->pool;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->generation == seen) {
            pthread_cond_wait(&p->wake, &p->mu);
        }
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        gen_pool_fn fn = p->fn;
        void *payload = p->payload;
        pthread_mutex_unlock(&p->mu);

        fn(payload, w->ith, p->n_threads);

        pthread_mutex_lock(&p->mu);
        if (++p->n_done == p->n_threads - 1) {
            pthread_cond_signal(&p->done);
        }
        pthread_mutex_unlock(&p->mu);
    }
}

int gen__pool_new(gen_pool **out, size_t n_threads, core_err *err)
{
    *out = NULL;
    if (n_threads == 0 || n_threads > 256) {
        return core_err_set(err, CORE_EINVAL, "pool: %zu threads", n_threads);
    }
    gen_pool *p = core_calloc(1, sizeof(*p));
    if (!p) {
        return core_err_set(err, CORE_ENOMEM, "pool: out of memory");
    }
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->barrier_count, 0);
    atomic_init(&p->barrier_sense, 0);
    atomic_init(&p->spin_budget, POOL_SPINS_MIN);
    if (n_threads > 1) {
        p->workers = core_calloc(n_threads - 1, sizeof(*p->workers));
        if (!p->workers) {
            gen__pool_free(p);
            return core_err_set(err, CORE_ENOMEM, "pool: out of memory");
        }
    }
    for (size_t i = 0; i + 1 < n_threads; i++) {
        worker *w = &p->workers[i];
        w->pool = p;
        w->ith = i + 1;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            gen__pool_free(p);
            return core_err_set(err, CORE_ERROR, "pool: pthread_create failed for thread %zu",
                                i + 1);
        }
        p->n_started++;
    }
    *out = p;
    return 0;
}

void gen__pool_free(gen_pool *pool)
{
    if (!pool) {
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->stop = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (size_t i = 0; i < pool->n_started; i++) {
        pthread_join(pool->workers[i].thread, NULL);
    }
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->mu);
    core_free(pool->workers);
    core_free(pool);
}

size_t gen__pool_n_threads(const gen_pool *pool)
{
    return pool->n_threads;
}

void gen__pool_run(gen_pool *pool, gen_pool_fn fn, void *payload)
{
    if (pool->n_threads == 1) {
        fn(payload, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->payload = payload;
    pool->n_done = 0;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);

    fn(payload, 0, pool->n_threads);

    pthread_mutex_lock(&pool->mu);
    while (pool->n_done < pool->n_threads - 1) {
        pthread_cond_wait(&pool->done, &pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
}

void gen__pool_barrier(gen_pool *pool)
{
    const size_t n = pool->n_threads;
    if (n == 1) {
        return;
    }
    unsigned sense = atomic_load_explicit(&pool->barrier_sense, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&pool->barrier_count, 1, memory_order_acq_rel) == n - 1) {
        atomic_store_explicit(&pool->barrier_count, 0, memory_order_relaxed);
        atomic_store_explicit(&pool->barrier_sense, sense + 1, memory_order_release);
        return;
    }
    const unsigned budget = atomic_load_explicit(&pool->spin_budget, memory_order_relaxed);
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&pool->barrier_sense, memory_order_acquire) != sense) {
            unsigned next = budget;
            if (i < budget && budget < POOL_SPINS_MAX) {
                next = budget + POOL_SPINS_STEP;
            } else if (i >= budget && budget > POOL_SPINS_MIN) {
                next = budget / 2 > POOL_SPINS_MIN ? budget / 2 : POOL_SPINS_MIN;
            }
            if (next != budget) {
                atomic_store_explicit(&pool->spin_budget, next, memory_order_relaxed);
            }
            return;
        }
        if (i >= budget) {
            sched_yield();
        } else {
            POOL_PAUSE();
        }
    }
}
