/*
 * Private to gen/: a persistent pool of compute threads. gen__pool_run runs one function on
 * every thread (the caller is thread 0) and returns when all have finished; inside it, threads
 * meet at gen__pool_barrier between operations. Internally synchronized.
 */
#ifndef KILN_GEN_POOL_H
#define KILN_GEN_POOL_H

#include <stddef.h>

#include "core/core.h"

typedef struct gen_pool gen_pool;

typedef void (*gen_pool_fn)(void *payload, size_t ith, size_t nth);

/** Starts n_threads - 1 workers (n_threads >= 1). CORE_ENOMEM, CORE_ERROR (pthread_create). */
int gen__pool_new(gen_pool **out, size_t n_threads, core_err *err);
/** Stops and joins the workers. NULL is fine. */
void gen__pool_free(gen_pool *pool);
size_t gen__pool_n_threads(const gen_pool *pool);
/** Runs fn(payload, ith, nth) on all threads; returns after every thread has returned. */
void gen__pool_run(gen_pool *pool, gen_pool_fn fn, void *payload);
/** Waits until every thread of the current run has reached this barrier. */
void gen__pool_barrier(gen_pool *pool);

#endif /* KILN_GEN_POOL_H */
