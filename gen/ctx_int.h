/*
 * Private to gen/: what the request queue asks of a context beyond gen.h. A hook that runs on
 * every compute thread at the end of a decode, inside the pass that wrote the logits, so work
 * on the outputs (the queue's sampling) shares the pool's threads without waking them again.
 */
#ifndef KILN_GEN_CTX_INT_H
#define KILN_GEN_CTX_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "gen/gen.h"

/** Called with the logits of every output of the decode (n_outputs rows of n_vocab), on thread
 * ith of nth; each thread must return (no barrier inside). */
typedef void (*gen_ctx_after_fn)(void *payload, const float *logits, size_t n_outputs, size_t ith,
                                 size_t nth);

/**
 * Makes fn(payload, ...) run at the end of every later successful gen_ctx_decode on the CPU
 * (after the last pass's logits are written; not after a failed or canceled decode); fn NULL
 * removes it. Returns false, setting nothing, for a CUDA context (its logits stay on the device
 * until gen_ctx_logits): the caller does that work itself.
 */
bool gen__ctx_set_after(gen_ctx *ctx, gen_ctx_after_fn fn, void *payload);

#endif /* KILN_GEN_CTX_INT_H */
