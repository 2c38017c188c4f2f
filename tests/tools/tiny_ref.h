/*
 * Test tool: a plain scalar reference forward pass over a tiny_model, written independently of
 * gen/ and computed in double precision from the dequantized weights (no activation
 * quantization, no F16 cache). It is the oracle the runtime's logits are compared with.
 */
#ifndef KILN_TESTS_TOOLS_TINY_REF_H
#define KILN_TESTS_TOOLS_TINY_REF_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "tests/tools/tiny_model.h"

/**
 * Runs the model over one sequence of n_tokens tokens at positions 0..n_tokens-1 and writes
 * the logits of every position into logits, (n_tokens, n_vocab) row-major. Since attention is
 * causal, row i is what a runtime gives after decoding tokens[0..i]. CORE_EINVAL (token id out
 * of range), CORE_ENOMEM.
 */
int tiny_ref_forward(const tiny_model *m, const int32_t *tokens, size_t n_tokens, float *logits,
                     core_err *err);

/**
 * Greedy decoding: appends n_gen tokens to the n_prompt tokens of prompt, each the argmax (the
 * lowest id among equals) of the logits after the previous ones, into out (n_gen). Returns in
 * *margin_min the smallest gap between the best and second-best logit seen, so that a caller
 * can tell how robust the choices are. CORE_EINVAL, CORE_ENOMEM.
 */
int tiny_ref_greedy(const tiny_model *m, const int32_t *prompt, size_t n_prompt, size_t n_gen,
                    int32_t *out, double *margin_min, core_err *err);

#endif /* KILN_TESTS_TOOLS_TINY_REF_H */
