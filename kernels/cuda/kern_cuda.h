/*
 * The CUDA engine: a whole-model forward pass on one NVIDIA GPU, behind C-linkage entry points
 * that gen/ calls (gen/cuda.c uploads the model, gen/ctx.c runs its contexts). The model's
 * quantized weights are uploaded as they are in the file; single-token passes read them
 * directly (fused dequantize-and-multiply), and passes of many tokens use cuBLAS on an FP16
 * copy made on the GPU at upload. A context owns the F16 KV cache, the activations and the
 * captured CUDA graphs, all allocated once.
 *
 * When kiln is built without CUDA, kernels/cuda/none.c provides the same functions, returning
 * CORE_EUNSUPPORTED, so callers need no #ifdef. Every CUDA and cuBLAS call is checked; a
 * failure becomes a CORE_ERROR (CORE_ENOMEM for allocations) naming the call, file and line.
 */
#ifndef KILN_KERN_CUDA_H
#define KILN_KERN_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
/* kern.h is C11: give C++ (the .cu files) its spelling of restrict. */
#ifndef restrict
#define restrict __restrict__
#endif
extern "C" {
#endif

#include "core/core.h"
#include "kernels/kern.h"

/**
 * Stores the number of CUDA devices in *out (0 when the driver reports none). Returns
 * CORE_EUNSUPPORTED when built without CUDA, CORE_ERROR when a CUDA call fails.
 */
int kern_cuda_device_count(int *out, core_err *err);

/** Writes the name of device 0 ("NVIDIA H200") into buf. CORE_EUNSUPPORTED without CUDA. */
int kern_cuda_device_name(char *buf, size_t size, core_err *err);

/**
 * Dequantizes n Q8_0 values (n a multiple of 32) from host memory x into host memory y on
 * device 0. A smoke test of the toolchain and of the error path.
 */
int kern_cuda_dequantize_q8_0(float *y, const void *x, size_t n, core_err *err);

/** True when the engine multiplies weights of type t directly (others: convert to F16). */
bool kern_cuda_type_supported(kern_type t);

/** A weight matrix in host memory: n_rows rows of n_cols values, row_bytes apart. */
typedef struct kern_cuda_matrix {
    kern_type type;
    const void *data;
    size_t row_bytes;
    size_t n_rows;
    size_t n_cols;
} kern_cuda_matrix;

/** One layer's host weights; vectors are F32, NULL when the architecture has none. */
typedef struct kern_cuda_layer {
    const float *attn_norm, *ffn_norm;
    const float *bq, *bk, *bv;
    const float *q_norm, *k_norm;
    const float *post_attn_norm, *post_ffn_norm;
    kern_cuda_matrix wq, wk, wv, wo, w_gate, w_up, w_down;
    bool is_swa;
    float rope_base;
} kern_cuda_layer;

/** What the engine needs of a model; everything is copied to the device. */
typedef struct kern_cuda_model_desc {
    size_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot, n_swa;
    float eps, attn_scale, embd_scale;
    bool rope_neox; /* NEOX RoPE (pairs i, i + n_rot/2), else pairs 2i, 2i+1 */
    bool gelu;      /* GeGLU feed-forward, else SwiGLU */
    kern_cuda_matrix tok_embd, output;
    const float *output_norm;
    const kern_cuda_layer *layers; /* (n_layer) */
} kern_cuda_model_desc;

typedef struct kern_cuda_model kern_cuda_model;
typedef struct kern_cuda_ctx kern_cuda_ctx;

/**
 * Uploads a model to device 0. head_dim must be 64, 128 or 256 and every matrix type
 * supported (kern_cuda_type_supported). Codes: CORE_EUNSUPPORTED (no CUDA, no device, a shape
 * or type the engine lacks: named), CORE_ENOMEM (device memory), CORE_ERROR (a failed call).
 */
int kern_cuda_model_new(kern_cuda_model **out, const kern_cuda_model_desc *desc, core_err *err);
void kern_cuda_model_free(kern_cuda_model *model);
/** Device bytes the model holds (quantized weights and their bf16 copies). */
size_t kern_cuda_model_n_bytes(const kern_cuda_model *model);

typedef struct kern_cuda_ctx_options {
    size_t n_ctx;         /* positions per sequence */
    size_t n_seq_max;     /* sequences */
    size_t n_batch_max;   /* tokens per pass */
    size_t n_outputs_max; /* tokens per pass that keep logits */
    bool no_fuse;         /* one kernel per operation (to measure what fusion gains) */
    bool no_graphs;       /* launch every kernel instead of replaying captured graphs */
} kern_cuda_ctx_options;

/** Creates a context on model (borrowed). CORE_EINVAL, CORE_ENOMEM, CORE_ERROR. */
int kern_cuda_ctx_new(kern_cuda_ctx **out, kern_cuda_model *model,
                      const kern_cuda_ctx_options *opts, core_err *err);
void kern_cuda_ctx_free(kern_cuda_ctx *ctx);

/**
 * One pass of n tokens (n <= n_batch_max): token i goes to sequence seq[i] at position pos[i],
 * whose earlier positions the cache holds. The n_out tokens out_rows[] (pass-local indices,
 * n_out <= n_outputs_max) keep logits, which stay on the device; their greedy choice is
 * written to argmax (n_out, host memory). Waits for the GPU. The caller validates the batch.
 */
int kern_cuda_ctx_forward(kern_cuda_ctx *ctx, const int32_t *tokens, const int32_t *seq,
                          const int32_t *pos, size_t n, const int32_t *out_rows, size_t n_out,
                          int32_t *argmax, core_err *err);

/** Copies the logits of output i of the last pass (n_vocab floats) to host memory dst. */
int kern_cuda_ctx_logits(kern_cuda_ctx *ctx, size_t i, float *dst, core_err *err);

/** Copies positions [0, n_pos) of sequence src's cache to sequence dst. */
int kern_cuda_ctx_seq_copy(kern_cuda_ctx *ctx, int32_t dst, int32_t src, size_t n_pos,
                           core_err *err);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KERN_CUDA_H */
