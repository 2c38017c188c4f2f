/*
 * kernels: tensor element types, and the compute operations of the model runtime behind one
 * dispatch table. The plain scalar versions in kernels/ref/ define what each operation computes
 * and are the tests' oracle; kern_backend_new() picks the fastest variant per operation once,
 * by CPU feature, and hot loops call through the table. The CUDA engine is not in this table:
 * it runs whole forward passes behind kernels/cuda/kern_cuda.h, which gen/ calls directly.
 *
 * Threading: every operation that takes (ith, nth) computes the ith of nth static slices of its
 * output and may be called from nth threads at once; the caller puts a barrier between
 * operations. Kernels take no locks, allocate nothing and do not log.
 */
#ifndef KILN_KERN_H
#define KILN_KERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------------------------------------ */
/* Element types                                                                              */
/* ------------------------------------------------------------------------------------------ */

/*
 * Tensor element types, numbered as GGUF (ggml) numbers them so that a file's type id maps
 * directly. Quantized types are stored as blocks of kern_type_block_elems() values taking
 * kern_type_block_bytes() bytes, bit for bit as ggml lays them out.
 */
typedef enum kern_type {
    KERN_TYPE_F32 = 0,
    KERN_TYPE_F16 = 1,
    KERN_TYPE_Q4_0 = 2,
    KERN_TYPE_Q4_1 = 3,
    KERN_TYPE_Q5_0 = 6,
    KERN_TYPE_Q5_1 = 7,
    KERN_TYPE_Q8_0 = 8,
    KERN_TYPE_Q8_1 = 9,
    KERN_TYPE_Q4_K = 12,
    KERN_TYPE_Q5_K = 13,
    KERN_TYPE_Q6_K = 14,
    KERN_TYPE_Q8_K = 15,
    KERN_TYPE_BF16 = 30,
} kern_type;

/** True when t is one of the types above. */
bool kern_type_is_known(uint32_t t);
/** The type's name as ggml spells it ("q4_K"), or "unknown". Static storage. */
const char *kern_type_name(kern_type t);
/** Values per block (1 for F32/F16/BF16, 32 for Q4_0..Q8_1, 256 for the K types). */
size_t kern_type_block_elems(kern_type t);
/** Bytes per block. */
size_t kern_type_block_bytes(kern_type t);
/**
 * Bytes taken by n values of type t. Returns 0 when n is not a multiple of the block size.
 */
size_t kern_type_row_bytes(kern_type t, size_t n);
/**
 * The type that activations are converted to before a dot product with weights of type t, as
 * ggml does (F32 -> F32, F16 -> F16, BF16 -> BF16, Q4_0/Q5_0/Q8_0 -> Q8_0, Q4_1/Q5_1 -> Q8_1,
 * K types -> Q8_K). Matching ggml here is what makes kiln's logits match llama.cpp's.
 */
kern_type kern_type_vec_dot(kern_type t);

/** IEEE half and bfloat16 conversions (round to nearest even). */
float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_f16(float f);
float kern_bf16_to_f32(uint16_t h);
uint16_t kern_f32_to_bf16(float f);

/* ------------------------------------------------------------------------------------------ */
/* Operations                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/**
 * One matrix product Y = X * W^T over a batch:
 *   y[b * y_stride + r] = dot(row r of w, row b of xq)   for b < n_batch, r < n_rows.
 * w holds n_rows rows of n_cols values of w_type, w_row_bytes apart; xq holds n_batch rows of
 * n_cols values already converted to kern_type_vec_dot(w_type), xq_row_bytes apart.
 * n_cols is a multiple of the block size of both types. With w_packed, w is instead the copy
 * that the same ops table's pack wrote (see kern_ops.pack) and w_row_bytes is still the row
 * size of the unpacked matrix; the results are the same bits either way.
 */
typedef struct kern_matmul {
    kern_type w_type;
    const void *w;      /* (n_rows, n_cols) of w_type, borrowed */
    size_t w_row_bytes; /* bytes between weight rows */
    const void *xq;     /* (n_batch, n_cols) of kern_type_vec_dot(w_type), borrowed */
    size_t xq_row_bytes;
    float *y;        /* (n_batch, y_stride) output */
    size_t y_stride; /* floats between output rows, >= n_rows */
    size_t n_rows;
    size_t n_cols;
    size_t n_batch;
    bool w_packed; /* w is in the ops table's packed layout (only from its pack) */
} kern_matmul;

/* Rows per group of a packed weight: kern_ops.pack works on whole groups. */
#define KERN_PACK_ROWS 16

/** RoPE variants: NORM rotates pairs (2i, 2i+1) (llama); NEOX rotates (i, i + n/2) (qwen2, gemma).
 */
typedef enum kern_rope_mode {
    KERN_ROPE_MODE_NORM = 0,
    KERN_ROPE_MODE_NEOX = 2,
} kern_rope_mode;

/**
 * Attention of one query head for one token, over positions [0, n_kv) of an F16 cache:
 *   s[j] = scale * dot(f16(q), k_j);  p = softmax(s);  out[d] = sum_j f16(p[j]) * v_j[d].
 * Rounding q and p to F16 before the products is what ggml does with an F16 cache.
 * The caller selects the visible range (causal, sliding window) by offsetting k and v.
 *
 * Grouped-query attention: with n_q > 1, the n_q query heads at q + i * q_stride (i < n_q)
 * attend over the same keys and values, head i writing out + i * q_stride and using scores
 * + i * n_kv as scratch. Each head's result is the bits that a call for it alone gives; a
 * variant may load and convert the keys and values once for the group. n_q 0 means 1 (so an
 * initializer that leaves both fields out describes one head).
 */
typedef struct kern_attn {
    const float *q;    /* (head_dim), borrowed */
    const uint16_t *k; /* F16 keys, position j at k + j * kv_stride, borrowed */
    const uint16_t *v; /* F16 values, position j at v + j * kv_stride, borrowed */
    size_t kv_stride;  /* elements between positions */
    size_t n_kv;       /* visible positions, >= 1 */
    size_t head_dim;
    float scale;
    float *scores;   /* (n_q, n_kv) floats of scratch, owned by the caller */
    float *out;      /* (head_dim), or n_q heads q_stride apart */
    size_t n_q;      /* query heads sharing these keys and values; 0 or 1: one */
    size_t q_stride; /* floats between the heads of q and of out, >= head_dim when n_q > 1 */
} kern_attn;

/**
 * The cosines and sines that RoPE turns by at position pos: cs[2i] = cos(theta_i) and
 * cs[2i + 1] = sin(theta_i) for i < n_rot / 2, with theta_i = pos * theta_base^(-2i/n_rot)
 * built by repeated multiplication as kern_ops.rope does, so they are its values bit for bit.
 * A pass computes them once per (token, base) and every layer's rope_cs reads them.
 */
void kern_rope_table(float *cs, size_t n_rot, int32_t pos, float theta_base);

/**
 * The dispatch table. Members marked required are never NULL in a table from
 * kern_backend_new(); optional ones may be NULL (the caller then uses the CPU version).
 */
typedef struct kern_ops {
    /** Required. Converts n floats to type t (any known type; n a multiple of its block). */
    void (*quantize_row)(kern_type t, const float *restrict x, void *restrict y, size_t n);
    /** Required. Converts n values of type t to floats. */
    void (*dequantize_row)(kern_type t, const void *restrict x, float *restrict y, size_t n);
    /** Required. Computes rows [n_rows * ith / nth, n_rows * (ith + 1) / nth) of m. */
    void (*matmul)(const kern_matmul *m, size_t ith, size_t nth);
    /** Required. y = x / sqrt(mean(x^2) + eps) * w (w may be NULL: no scale); n values. y may
     * equal x (in place). */
    void (*rmsnorm)(float *y, const float *x, const float *w, size_t n, float eps);
    /** Required. In place softmax of n values, after multiplying them by scale. */
    void (*softmax)(float *x, size_t n, float scale);
    /**
     * Required. Rotates n_heads heads of head_dim values at x (heads head_dim apart) for
     * position pos; only the first n_rot values of each head rotate, with frequencies
     * theta_base^(-2i/n_rot).
     */
    void (*rope)(float *x, size_t n_heads, size_t head_dim, size_t n_rot, int32_t pos,
                 float theta_base, kern_rope_mode mode);
    /**
     * Required. rope with the angles given: cs is kern_rope_table(cs, n_rot, pos, theta_base)'s
     * output, and the result is rope(x, n_heads, head_dim, n_rot, pos, theta_base, mode) bit
     * for bit.
     */
    void (*rope_cs)(float *x, size_t n_heads, size_t head_dim, size_t n_rot, const float *cs,
                    kern_rope_mode mode);
    /** Required. y[i] = silu(g[i]) * u[i] (SwiGLU). y may equal g. */
    void (*swiglu)(float *y, const float *g, const float *u, size_t n);
    /** Required. y[i] = gelu_tanh(g[i]) * u[i] (GeGLU, Gemma). y may equal g. */
    void (*geglu)(float *y, const float *g, const float *u, size_t n);
    /** Required. Attention of one query head, or of a group that shares its keys and values,
     * over an F16 key/value cache; see kern_attn. */
    void (*attn)(const kern_attn *a);
    /**
     * Optional (NULL: this variant reads weights only as stored; then pack is NULL too). The
     * bytes of the packed copy of an (n_rows, n_cols) matrix of type t, or 0 when this variant
     * does not pack t. A matrix is packed once (at model load) so that matmul reads one
     * sequential stream in the order its products want instead of ggml's rows.
     */
    size_t (*pack_size)(kern_type t, size_t n_rows, size_t n_cols);
    /**
     * Optional, with pack_size. Writes groups [g_lo, g_hi) of KERN_PACK_ROWS rows of w (n_rows
     * rows of n_cols values of t, w_row_bytes apart; rows [KERN_PACK_ROWS * g_lo,
     * KERN_PACK_ROWS * g_hi) are all it reads) into dst, which holds pack_size(t, n_rows, n_cols)
     * bytes, 64-byte aligned. Disjoint group ranges may be written by different threads. Only
     * for a t that pack_size accepts. Pass the result to matmul with w_packed set.
     */
    void (*pack)(void *restrict dst, kern_type t, const void *restrict w, size_t w_row_bytes,
                 size_t n_rows, size_t n_cols, size_t g_lo, size_t g_hi);
} kern_ops;

/* ------------------------------------------------------------------------------------------ */
/* Backends                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/*
 * Which kernels a backend runs. Each named variant layers on the ones below it (ref, generic,
 * avx2, avx512, amx): it implements some operations and takes the rest from below.
 */
typedef enum kern_backend_kind {
    KERN_BACKEND_KIND_REF = 0,     /* plain scalar reference kernels only */
    KERN_BACKEND_KIND_BEST = 1,    /* the fastest variants this CPU supports */
    KERN_BACKEND_KIND_GENERIC = 2, /* portable C */
    KERN_BACKEND_KIND_AVX2 = 3,    /* AVX2 + FMA + F16C */
    KERN_BACKEND_KIND_AVX512 = 4,  /* AVX-512 F/BW/VL/VNNI */
    KERN_BACKEND_KIND_AMX = 5,     /* AMX int8 tiles for batched products, AVX-512 elsewhere */
} kern_backend_kind;

/**
 * Maps a variant's name ("ref", "generic", "avx2", "avx512", "amx", or "best") to its kind,
 * refusing a variant this CPU (or this build) cannot run, so that a benchmark never silently
 * measures something else. Codes: CORE_EINVAL (an unknown name; the message lists the names),
 * CORE_EUNSUPPORTED ("kernels: amx: this CPU lacks it (best here: avx512)").
 */
int kern_backend_kind_parse(kern_backend_kind *out, const char *name, core_err *err);

/**
 * A set of kernels chosen once. Immutable after creation: share freely between threads.
 */
typedef struct kern_backend kern_backend;

/**
 * Creates a backend of the given kind, detecting CPU features once. Caller frees it with
 * kern_backend_free. Returns CORE_ENOMEM, CORE_EUNSUPPORTED (a named variant this CPU lacks).
 */
int kern_backend_new(kern_backend **out, kern_backend_kind kind, core_err *err);
void kern_backend_free(kern_backend *backend);
/** The dispatch table; borrowed, valid as long as the backend. */
const kern_ops *kern_backend_ops(const kern_backend *backend);
/** A short description of what was chosen ("cpu: avx512 vnni"). Valid as long as backend. */
const char *kern_backend_name(const kern_backend *backend);

/**
 * Creates a backend from variant i < kern_backend_n_variants(), so that tests and benchmarks
 * can run a whole model on each variant. Caller frees it. CORE_EINVAL, CORE_ENOMEM.
 */
int kern_backend_new_variant(kern_backend **out, size_t i, core_err *err);

/** The number of compiled CPU variants (ref first) that this machine can run; for tests. */
size_t kern_backend_n_variants(void);
/** The ops table and name of variant i < kern_backend_n_variants(); for tests and benchmarks. */
const kern_ops *kern_backend_variant(size_t i, const char **name);

#endif /* KILN_KERN_H */
