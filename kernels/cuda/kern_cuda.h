/*
 * The CUDA engine: a whole-model forward pass on one NVIDIA GPU. The model's quantized weights
 * are uploaded as they are in the file; single-token passes read them directly (fused
 * dequantize-and-multiply), and passes of many tokens use cuBLAS on an FP16 copy made on the GPU
 * at upload. A context owns the F16 KV cache, the activations and the captured CUDA graphs, all
 * allocated once.
 *
 * The engine is a module of its own, libkiln-cuda.so, beside the executable: a CPU-only run
 * never maps it nor the CUDA libraries it links (cudart, cuBLAS). kern_cuda_device_present()
 * looks for a device without any CUDA library; kern_cuda_module_open() loads the module and
 * hands out its table of entry points (kern_cuda_api), through which gen/ drives it. A missing
 * module, one that does not load, or one from another build is a named error. Every CUDA and
 * cuBLAS call inside is checked; a failure becomes a CORE_ERROR (CORE_ENOMEM for allocations)
 * naming the call, file and line.
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

typedef struct kern_cuda_ctx_options {
    size_t n_ctx;         /* positions per sequence */
    size_t n_seq_max;     /* sequences */
    size_t n_batch_max;   /* tokens per pass */
    size_t n_outputs_max; /* tokens per pass that keep logits */
    bool no_fuse;         /* one kernel per operation (to measure what fusion gains) */
    bool no_graphs;       /* launch every kernel instead of replaying captured graphs */
} kern_cuda_ctx_options;

/* ------------------------------------------------------------------------------------------ */
/* The engine's entry points                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Bumped whenever kern_cuda_api or a struct above changes, so a stale module is refused. */
#define KERN_CUDA_ABI 1

/** The file name of the module, looked for beside the running executable. */
#define KERN_CUDA_MODULE_NAME "libkiln-cuda.so"

/**
 * The module's table of entry points; the module exports it as kern_cuda_engine_api(). Every
 * member is required. Models and contexts are one thread at a time.
 */
typedef struct kern_cuda_api {
    uint32_t abi;      /* KERN_CUDA_ABI of the build that made the module */
    uint32_t api_size; /* sizeof(kern_cuda_api) there */
    size_t desc_size;  /* sizeof(kern_cuda_model_desc) there */
    /** Stores the number of CUDA devices in *out (0 when the driver reports none).
     * CORE_ERROR when a CUDA call fails. */
    int (*device_count)(int *out, core_err *err);
    /** Writes the name of device 0 ("NVIDIA H200") into buf. CORE_EUNSUPPORTED without one. */
    int (*device_name)(char *buf, size_t size, core_err *err);
    /** Dequantizes n Q8_0 values (n a multiple of 32) from host memory x into host memory y on
     * device 0: a smoke test of the toolchain and of the error path. */
    int (*dequantize_q8_0)(float *y, const void *x, size_t n, core_err *err);
    /** True when the engine multiplies weights of type t directly (others: convert to F16). */
    bool (*type_supported)(kern_type t);
    /** Uploads a model to device 0. head_dim must be 64, 128 or 256 and every matrix type
     * supported. Codes: CORE_EUNSUPPORTED (no device, a shape or type the engine lacks: named),
     * CORE_ENOMEM (device memory), CORE_ERROR (a failed call). */
    int (*model_new)(kern_cuda_model **out, const kern_cuda_model_desc *desc, core_err *err);
    void (*model_free)(kern_cuda_model *model);
    /** Device bytes the model holds (quantized weights and their FP16 copies). */
    size_t (*model_n_bytes)(const kern_cuda_model *model);
    /** Creates a context on model (borrowed). CORE_EINVAL, CORE_ENOMEM, CORE_ERROR. */
    int (*ctx_new)(kern_cuda_ctx **out, kern_cuda_model *model, const kern_cuda_ctx_options *opts,
                   core_err *err);
    void (*ctx_free)(kern_cuda_ctx *ctx);
    /** One pass of n tokens (n <= n_batch_max): token i goes to sequence seq[i] at position
     * pos[i], whose earlier positions the cache holds. The n_out tokens out_rows[] (pass-local
     * indices, n_out <= n_outputs_max) keep logits, which stay on the device; their greedy
     * choice is written to argmax (n_out, host memory). Waits for the GPU. The caller
     * validates the batch. */
    int (*ctx_forward)(kern_cuda_ctx *ctx, const int32_t *tokens, const int32_t *seq,
                       const int32_t *pos, size_t n, const int32_t *out_rows, size_t n_out,
                       int32_t *argmax, core_err *err);
    /** Copies the logits of output i of the last pass (n_vocab floats) to host memory dst. */
    int (*ctx_logits)(kern_cuda_ctx *ctx, size_t i, float *dst, core_err *err);
    /** Copies positions [0, n_pos) of sequence src's cache to sequence dst. */
    int (*ctx_seq_copy)(kern_cuda_ctx *ctx, int32_t dst, int32_t src, size_t n_pos, core_err *err);
} kern_cuda_api;

/** The one symbol the module exports: its table (static storage). */
typedef const kern_cuda_api *(*kern_cuda_engine_api_fn)(void);

/* ------------------------------------------------------------------------------------------ */
/* Loading the module                                                                         */
/* ------------------------------------------------------------------------------------------ */

/**
 * True when the machine shows an NVIDIA device (the driver's /proc/driver/nvidia/gpus entries or
 * /dev/nvidia0), found without loading any CUDA library; in builds for kcemu, the CPU emulator
 * of CUDA, always true. A true answer is a hint: the module's device_count has the last word.
 */
bool kern_cuda_device_present(void);

/** A loaded engine module. Immutable after creation: share freely between threads. */
typedef struct kern_cuda_module kern_cuda_module;

/**
 * Loads the engine module at path (copied; NULL: KERN_CUDA_MODULE_NAME beside the running
 * executable) and checks that it was built with this kiln's KERN_CUDA_ABI. Caller frees it with
 * kern_cuda_module_close. Codes: CORE_EUNSUPPORTED (path NULL and kiln built without CUDA, or no
 * file at the path: the message names it), CORE_ERROR (the file does not load, lacks
 * kern_cuda_engine_api, or comes from another build: named), CORE_ENOMEM.
 */
int kern_cuda_module_open(kern_cuda_module **out, const char *path, core_err *err);
/** Unloads the module; every model and context made through it must be freed first. */
void kern_cuda_module_close(kern_cuda_module *module);
/** The module's entry points; borrowed, valid as long as the module is open. */
const kern_cuda_api *kern_cuda_module_api(const kern_cuda_module *module);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KERN_CUDA_H */
