/*
 * Private to kernels/: ggml's block layouts, the reference kernels (kernels/ref/), the portable
 * and per-ISA variants (kernels/cpu/), and the helpers they share. Nothing outside kernels/
 * includes this header.
 */
#ifndef KILN_KERN_IMPL_H
#define KILN_KERN_IMPL_H

#include "kernels/kern.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Block layouts (ggml-common.h, bit for bit; halves are IEEE binary16 bit patterns)          */
/* ------------------------------------------------------------------------------------------ */

#define KERN_QK            32  /* values per block of the 32-value types */
#define KERN_QK_K          256 /* values per super-block of the K types */
#define KERN_K_SCALE_BYTES 12

typedef struct kern_block_q4_0 {
    uint16_t d;
    uint8_t qs[KERN_QK / 2]; /* value j in the low nibble of qs[j], value j + 16 in the high */
} kern_block_q4_0;

typedef struct kern_block_q4_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qs[KERN_QK / 2];
} kern_block_q4_1;

typedef struct kern_block_q5_0 {
    uint16_t d;
    uint8_t qh[4]; /* fifth bits: bit j of the little-endian word is value j's */
    uint8_t qs[KERN_QK / 2];
} kern_block_q5_0;

typedef struct kern_block_q5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[KERN_QK / 2];
} kern_block_q5_1;

typedef struct kern_block_q8_0 {
    uint16_t d;
    int8_t qs[KERN_QK];
} kern_block_q8_0;

typedef struct kern_block_q8_1 {
    uint16_t d;
    uint16_t s; /* d * sum(qs) */
    int8_t qs[KERN_QK];
} kern_block_q8_1;

typedef struct kern_block_q4_k {
    uint16_t d;                         /* scale of the 6-bit sub-block scales */
    uint16_t dmin;                      /* scale of the 6-bit sub-block mins */
    uint8_t scales[KERN_K_SCALE_BYTES]; /* 8 scales and 8 mins, 6 bits each */
    uint8_t qs[KERN_QK_K / 2];
} kern_block_q4_k;

typedef struct kern_block_q5_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[KERN_K_SCALE_BYTES];
    uint8_t qh[KERN_QK_K / 8];
    uint8_t qs[KERN_QK_K / 2];
} kern_block_q5_k;

typedef struct kern_block_q6_k {
    uint8_t ql[KERN_QK_K / 2]; /* low 4 bits */
    uint8_t qh[KERN_QK_K / 4]; /* high 2 bits */
    int8_t scales[KERN_QK_K / 16];
    uint16_t d;
} kern_block_q6_k;

typedef struct kern_block_q8_k {
    float d;
    int8_t qs[KERN_QK_K];
    int16_t bsums[KERN_QK_K / 16]; /* sums of qs in groups of 16 */
} kern_block_q8_k;

_Static_assert(sizeof(kern_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(kern_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(kern_block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(kern_block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(kern_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(kern_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(kern_block_q4_k) == 144, "q4_K layout");
_Static_assert(sizeof(kern_block_q5_k) == 176, "q5_K layout");
_Static_assert(sizeof(kern_block_q6_k) == 210, "q6_K layout");
_Static_assert(sizeof(kern_block_q8_k) == 292, "q8_K layout");

/*
 * Unpacks sub-block j's 6-bit scale and min of a Q4_K/Q5_K block (ggml's get_scale_min_k4):
 * the first four scales and mins are the low 6 bits of bytes 0..7; the last four combine the
 * nibbles of bytes 8..11 with the top 2 bits of bytes 0..7.
 */
static inline void kern__scale_min_k4(const uint8_t *restrict q, int j, uint8_t *restrict sc,
                                      uint8_t *restrict m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/*
 * ggml's nearest_int: round to nearest, ties to even, by adding 1.5 * 2^23 and reading the
 * mantissa. Valid for |v| <= 4194303, which every caller guarantees.
 */
static inline int kern__nearest_int(float v)
{
    const float f = v + 12582912.f;
    int32_t i;
    memcpy(&i, &f, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

/* ------------------------------------------------------------------------------------------ */
/* Reference kernels (kernels/ref/): the definition of every op                               */
/* ------------------------------------------------------------------------------------------ */

void kern_quantize_row_ref(kern_type t, const float *restrict x, void *restrict y, size_t n);
void kern_dequantize_row_ref(kern_type t, const void *restrict x, float *restrict y, size_t n);
void kern_matmul_ref(const kern_matmul *m, size_t ith, size_t nth);
void kern_rmsnorm_ref(float *y, const float *x, const float *w, size_t n, float eps);
void kern_softmax_ref(float *x, size_t n, float scale);
void kern_rope_ref(float *x, size_t n_heads, size_t head_dim, size_t n_rot, int32_t pos,
                   float theta_base, kern_rope_mode mode);
void kern_rope_cs_ref(float *x, size_t n_heads, size_t head_dim, size_t n_rot, const float *cs,
                      kern_rope_mode mode);
void kern_swiglu_ref(float *y, const float *g, const float *u, size_t n);
void kern_geglu_ref(float *y, const float *g, const float *u, size_t n);
void kern_attn_ref(const kern_attn *a);

/* Head i of a's group (see kern_attn.n_q) as a call of its own, for variants that run the heads
 * of a group one by one. */
static inline kern_attn kern__attn_head(const kern_attn *a, size_t i)
{
    kern_attn h = *a;
    h.q = a->q + i * a->q_stride;
    h.out = a->out + i * a->q_stride;
    h.scores = a->scores + i * a->n_kv;
    h.n_q = 1;
    return h;
}

/*
 * One weight row against one activation row: the dot product of n values of w_type at w with
 * n values of kern_type_vec_dot(w_type) at x, with ggml's semantics. The oracle of matmul.
 */
float kern_vec_dot_ref(kern_type w_type, const void *restrict w, const void *restrict x, size_t n);

/* gelu(x) with ggml's tanh approximation, and the f16 rounding ggml applies around it. */
float kern__gelu_f16(float x);

/* ------------------------------------------------------------------------------------------ */
/* Variants (kernels/cpu/): tables in backend.c name them                                     */
/* ------------------------------------------------------------------------------------------ */

/* The row slice [lo, hi) that thread ith of nth computes out of n rows. */
static inline void kern__split(size_t n, size_t ith, size_t nth, size_t *lo, size_t *hi)
{
    *lo = n * ith / nth;
    *hi = n * (ith + 1) / nth;
}

void kern_matmul_generic(const kern_matmul *m, size_t ith, size_t nth);

/* CPU features (cpu/x86/detect.c; cpu/none.c elsewhere). */
bool kern__cpu_has_avx2(void);   /* AVX2, FMA, F16C */
bool kern__cpu_has_avx512(void); /* and AVX-512 F, BW, VL, VNNI */

/*
 * AMX TILE and INT8 with the AVX-512 set above, and the process granted the AMX tile state by
 * the kernel (Linux's ARCH_REQ_XCOMP_PERM, which this requests; per process and idempotent).
 */
bool kern__cpu_has_amx(void);

/* kernels/cpu/x86/avx2.c (AVX2, FMA, F16C); types they do not handle go to generic or ref. */
void kern_quantize_row_avx2(kern_type t, const float *restrict x, void *restrict y, size_t n);
void kern_matmul_avx2(const kern_matmul *m, size_t ith, size_t nth);
void kern_rmsnorm_avx2(float *y, const float *x, const float *w, size_t n, float eps);
void kern_attn_avx2(const kern_attn *a);

/* kernels/cpu/x86/avx512.c (AVX-512 F, BW, VL, VNNI); other types go to the AVX2 versions. */
void kern_quantize_row_avx512(kern_type t, const float *restrict x, void *restrict y, size_t n);
void kern_matmul_avx512(const kern_matmul *m, size_t ith, size_t nth);
void kern_attn_avx512(const kern_attn *a);
void kern_swiglu_avx512(float *y, const float *g, const float *u, size_t n);

/*
 * kernels/cpu/x86/gemm_avx512.c (same flags): the register-tiled matmul of rows [lo, hi) of m
 * for batches of at least KERN_GEMM_MIN_BATCH tokens, which kern_matmul_avx512 tries first.
 * Returns false, having written nothing, for weight types it does not handle. It runs for every
 * batch size (1 included, at the single-token path's speed), so that a token's results do not
 * depend on how many tokens share its pass: its activations are requantized after each
 * product, so any change of float summation order between a batch of one and a larger batch
 * would grow into visible logit differences (gen's batched-equals-sequential tests).
 */
#define KERN_GEMM_MIN_BATCH 1
bool kern__gemm_avx512(const kern_matmul *m, size_t lo, size_t hi);

/*
 * kernels/cpu/x86/pack_avx512.c (same flags): the avx512 variant's kern_ops.pack_size and pack
 * (Q4_0, Q4_1, Q8_0; the layout is described there), and the kernel for packed weights and
 * batches of 1 to KERN_PACK_FEW_MAX tokens, rows [lo, hi) with lo a multiple of KERN_PACK_ROWS;
 * kern__gemm_avx512 sends it those and reads larger batches' panels from the packed layout.
 * Results equal those from ggml's layout bit for bit.
 */
#define KERN_PACK_FEW_MAX 8
size_t kern_pack_size_avx512(kern_type t, size_t n_rows, size_t n_cols);
void kern_pack_avx512(void *restrict dst, kern_type t, const void *restrict w, size_t w_row_bytes,
                      size_t n_rows, size_t n_cols, size_t g_lo, size_t g_hi);
void kern__packed_few_avx512(const kern_matmul *m, size_t lo, size_t hi);

/*
 * kernels/cpu/x86/amx.c (AMX TILE/INT8 and the AVX-512 flags): Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0
 * with AMX tiles for batches of at least KERN_AMX_MIN_BATCH tokens; smaller batches and other
 * types go to kern_matmul_avx512. It has no pack (its tiles would need a layout of their own,
 * and no machine here has AMX to test one), so it never sees a packed weight. Its outputs equal
 * kern__gemm_avx512's bit for bit, so a token's results do not depend on which of the two ran. Only
 * when kern__cpu_has_amx().
 */
#define KERN_AMX_MIN_BATCH 16
void kern_matmul_amx(const kern_matmul *m, size_t ith, size_t nth);

#endif /* KILN_KERN_IMPL_H */
