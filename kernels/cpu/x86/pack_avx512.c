/*
 * Packed weights for the AVX-512 matmul (same flags as gemm_avx512.c): Q4_0, Q4_1 and Q8_0
 * matrices copied once, at model load, into the layout the products read, and the kernel for
 * batches of 1 to KERN_PACK_FEW_MAX tokens (decoding) that reads it. Other types stay in ggml's
 * layout (pack_size answers 0 for them).
 *
 * Layout: groups of KERN_PACK_ROWS = 16 rows (the last padded with zero rows), group g at
 * g * 16 * row_bytes, so a packed matrix is the size of its rows rounded up to a whole group.
 * Inside a group, each K chunk of KERN_STAGE_KB blocks (starting at block kc0, nb blocks, at
 * kc0 * 16 * block_bytes) holds its blocks front to back (stage_avx512.h's packed_quants_at
 * and packed_scales_at): a Q4_1 block is its QV 64-byte quant vectors, then its 16 f16 scales d
 * (32 bytes), then its 16 mins m; Q4_0 and Q8_0 blocks go in pairs, the two blocks' quant
 * vectors then their two sets of 16 scales (an odd chunk's last block alone), so that every
 * unit is whole lines: 320, 576 and 1088 bytes. Vector k of a block holds quant bytes
 * 4k..4k+3 of each of the 16 rows, lane r = row r, which is the order vpdpbusd multiplies in:
 * Q4_0/Q4_1 have QV = 4 vectors of raw bytes (low nibbles: values 4k..4k+3, high: 16 + 4k..),
 * Q8_0 has QV = 8 of q + 128 (unsigned, as gemm_avx512.c's panels hold them). 16 x 18, 16 x 20
 * and 16 x 34 bytes: QV * 64 + 32 (+ 32).
 *
 * A thread's share of a matrix is then one stream read strictly forwards, line after line,
 * which the hardware prefetchers follow at the speed of a plain read: no gathers, shuffles or
 * horizontal sums are left in the loop, and for one token no software prefetches.
 * Per block: QV aligned loads, the nibble split, 8 vpdpbusd per token with the activation
 * dword broadcast from memory, one or two vcvtph2ps. Every (row, token) gets the integer sum
 * and the two FMAs per block, K chunks and store-or-add of gemm_avx512.c's tile32, so the
 * results equal those from ggml's layout bit for bit, whatever the batch.
 */
#include "kernels/kern_impl.h"
#include "kernels/cpu/x86/stage_avx512.h"

#include <immintrin.h>
#include <stddef.h>

#define GR       KERN_PACK_ROWS
#define KB       KERN_STAGE_KB
#define NT       KERN_PACK_FEW_MAX
#define SK       8     /* K chunks whose token data is filled at once (8192 values) */
#define PF_DIST  24576 /* bytes ahead of the stream that each block prefetches, from PF_L2_NT */
#define PF_L2_NT 2     /* tokens from which each block prefetches its share of the stream */
#define PF_L1_NT 4     /* tokens from which one line in each block's prefetch goes to L1 */

_Static_assert(GR == 16, "one vector of 16 lanes per group");

/* Bytes of one row's block (kern_type_block_bytes, as a constant for the inlined kernels). */
static inline size_t block_bytes(kern_type t)
{
    return t == KERN_TYPE_Q8_0 ? 34 : (t == KERN_TYPE_Q4_1 ? 20 : 18);
}

size_t kern_pack_size_avx512(kern_type t, size_t n_rows, size_t n_cols)
{
    if ((t != KERN_TYPE_Q4_0 && t != KERN_TYPE_Q4_1 && t != KERN_TYPE_Q8_0) || n_cols == 0 ||
        n_cols % KERN_QK != 0) {
        return 0;
    }
    return (n_rows + GR - 1) / GR * GR * kern_type_row_bytes(t, n_cols);
}

/* ------------------------------------------------------------------------------------------ */
/* Packing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* What a padding row reads: zero quants and scales. */
static const char ZERO_BLOCK[64] = {0};

/* Block b's 16 rows (p[r]: row r's block) -> the chunk's quant vectors at q and scales at dq,
 * mq. */
static inline __attribute__((always_inline)) void
pack_block(const kern_type t, const char *const p[GR], char *q, char *dq, char *mq)
{
    const size_t qs = t == KERN_TYPE_Q4_1 ? 4 : 2;
    uint16_t d[GR];
    uint16_t mn[GR];
    for (size_t r = 0; r < GR; r++) {
        memcpy(&d[r], p[r], sizeof(d[r]));
        memcpy(&mn[r], p[r] + 2, sizeof(mn[r]));
    }
    memcpy(dq, d, sizeof(d));
    if (t == KERN_TYPE_Q4_1) {
        memcpy(mq, mn, sizeof(mn));
    }
    const size_t n_half = t == KERN_TYPE_Q8_0 ? 2 : 1;
    for (size_t h = 0; h < n_half; h++) {
        const size_t o = qs + 16 * h;
        __m512i z[4];
        __m512i v[4];
        for (size_t i = 0; i < 4; i++) {
            z[i] = load4p(p[i] + o, p[i + 4] + o, p[i + 8] + o, p[i + 12] + o);
        }
        transpose4(z, v);
        for (size_t k = 0; k < 4; k++) {
            if (t == KERN_TYPE_Q8_0) {
                v[k] = _mm512_xor_si512(v[k], _mm512_set1_epi8((char)0x80));
            }
            _mm512_storeu_si512((void *)(q + 64 * (4 * h + k)), v[k]);
        }
    }
}

static inline __attribute__((always_inline)) void pack_type(const kern_type t, char *restrict dst,
                                                            const char *restrict w, size_t rb,
                                                            size_t n_rows, size_t n_cols,
                                                            size_t g_lo, size_t g_hi)
{
    const size_t bb = kern_type_block_bytes(t);
    const size_t n_blocks = n_cols / KERN_QK;
    for (size_t g = g_lo; g < g_hi; g++) {
        const size_t r0 = g * GR;
        const size_t nr = n_rows - r0 < GR ? n_rows - r0 : GR;
        char *out = dst + r0 * rb;
        for (size_t kc0 = 0; kc0 < n_blocks; kc0 += KB) {
            const size_t nb = n_blocks - kc0 < KB ? n_blocks - kc0 : KB;
            char *c = out + kc0 * GR * bb;
            for (size_t b = 0; b < nb; b++) {
                const char *p[GR];
                for (size_t r = 0; r < GR; r++) {
                    p[r] = r < nr ? w + (r0 + r) * rb + (kc0 + b) * bb : ZERO_BLOCK;
                }
                char *dq = c + packed_scales_at(t, nb, b);
                pack_block(t, p, c + packed_quants_at(t, b), dq, dq + 32);
            }
        }
    }
}

void kern_pack_avx512(void *restrict dst, kern_type t, const void *restrict w, size_t w_row_bytes,
                      size_t n_rows, size_t n_cols, size_t g_lo, size_t g_hi)
{
    CORE_ASSERT(kern_pack_size_avx512(t, n_rows, n_cols) != 0);
    CORE_ASSERT(w_row_bytes == kern_type_row_bytes(t, n_cols));
    switch (t) {
    case KERN_TYPE_Q4_0:
        pack_type(KERN_TYPE_Q4_0, dst, w, w_row_bytes, n_rows, n_cols, g_lo, g_hi);
        return;
    case KERN_TYPE_Q4_1:
        pack_type(KERN_TYPE_Q4_1, dst, w, w_row_bytes, n_rows, n_cols, g_lo, g_hi);
        return;
    default:
        pack_type(KERN_TYPE_Q8_0, dst, w, w_row_bytes, n_rows, n_cols, g_lo, g_hi);
        return;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* 1 to NT tokens                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Per block of SK chunks, per token: the activation scale d and the start of the integer sum
 * (-offset * sum of the block's quants) or, Q4_1, the Q8_1 block's s. A block's tokens sit side
 * by side (one line for d, c or s), where token-major rows 1 KiB apart fell in the same L1 sets. */
typedef struct tok {
    float d[SK * KB][NT];
    int32_t c[SK * KB][NT];
    float s[SK * KB][NT];
} tok;

/* Blocks [k0, k0 + n) of the nt tokens. */
static inline __attribute__((always_inline)) void tok_fill(const kern_type t, const int nt,
                                                           const kern_matmul *m, size_t k0,
                                                           size_t n, tok *restrict ti)
{
    const bool has_min = t == KERN_TYPE_Q4_1;
    const int32_t offset = t == KERN_TYPE_Q4_0 ? 8 : (t == KERN_TYPE_Q8_0 ? 128 : 0);
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    for (int i = 0; i < nt; i++) {
        const char *x = (const char *)m->xq + (size_t)i * m->xq_row_bytes + k0 * xb;
        for (size_t b = 0; b < n; b++, x += xb) {
            ti->d[b][i] = load_f16(x);
            ti->s[b][i] = has_min ? load_f16(x + 2) : 0.0f;
            ti->c[b][i] = act_start(offset, x);
        }
    }
}

/* acc[i] = the sums of one K chunk (nb blocks at q, a group's chunk) for the 16 rows against
 * token i (x[i]: its first block of the chunk; ti from block tb on). */
static inline __attribute__((always_inline)) void chunk_dot(const kern_type t, const int nt,
                                                            const char *q, size_t nb,
                                                            const tok *restrict ti, size_t tb,
                                                            const char *const x[NT], __m512 acc[NT])
{
    const bool has_min = t == KERN_TYPE_Q4_1;
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const size_t xq = has_min ? 4 : 2;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 8
    for (int i = 0; i < nt; i++) {
        acc[i] = _mm512_setzero_ps();
    }
    const size_t bg = GR * block_bytes(t);
    for (size_t b = 0; b < nb; b++) {
        const char *qb = q + packed_quants_at(t, b);
        const char *dq = q + packed_scales_at(t, nb, b);
        /* One token: no software prefetch. The stream runs forwards, and the hardware
         * prefetchers alone pull it at a plain read's speed once its pages are 2 MiB ones; with
         * the old layout (all quants of a chunk, then all its scales and mins) they did not.
         * A stripped copy of this loop over SmolLM2's matrices (2 MiB pages, Zen 4) read 30
         * GB/s without prefetch and 18-22 with the one below; 4 KiB pages: 18 either way.
         * From PF_L2_NT tokens on the products are the limit, and the stream PF_DIST on goes
         * into L2 again, every line (without it batch 8 on one thread ran 30% slower; 2 tokens
         * about 15%; shared machine), and from PF_L1_NT tokens on, the block's first line into
         * L1 (T0) instead: batches of 4 to 8 took 10-23% less time (stop 22). */
        if (nt >= PF_L2_NT) {
#pragma GCC unroll 17
            for (size_t o = 0; o < bg; o += 64) {
                if (nt >= PF_L1_NT && o == 0) {
                    _mm_prefetch(q + b * bg + PF_DIST + o, _MM_HINT_T0);
                } else {
                    _mm_prefetch(q + b * bg + PF_DIST + o, _MM_HINT_T1);
                }
            }
        }

        __m512i w[8];
        if (t == KERN_TYPE_Q8_0) {
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++) {
                w[g] = _mm512_loadu_si512((const void *)(qb + 64 * g));
            }
        } else {
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m512i v = _mm512_loadu_si512((const void *)(qb + 64 * k));
                w[k] = _mm512_and_si512(v, m4);
                w[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dq));
        __m512i ai[NT];
        if (nt == 1) {
            /* One token: two chains of four products, so that the block's latency is half. */
            const char *xb0 = x[0] + b * xb + xq;
            __m512i a0 = _mm512_set1_epi32(ti->c[tb + b][0]);
            __m512i a1 = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                a0 = dpbusd_bcst(a0, w[g], xb0 + 4 * g);
                a1 = dpbusd_bcst(a1, w[g + 4], xb0 + 16 + 4 * g);
            }
            ai[0] = _mm512_add_epi32(a0, a1);
        } else {
#pragma GCC unroll 8
            for (int i = 0; i < nt; i++) {
                ai[i] = _mm512_set1_epi32(ti->c[tb + b][i]);
            }
            dot_tokens(nt, ai, w, x, b * xb + xq);
        }
#pragma GCC unroll 8
        for (int i = 0; i < nt; i++) {
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[i]),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(ti->d[tb + b][i])), acc[i]);
        }
        if (has_min) {
            const __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dq + 32)));
#pragma GCC unroll 8
            for (int i = 0; i < nt; i++) {
                acc[i] = _mm512_fmadd_ps(mw, _mm512_set1_ps(ti->s[tb + b][i]), acc[i]);
            }
        }
    }
}

/* Rows [lo, hi) (lo a multiple of GR) of the packed m against its nt tokens: per SK chunks,
 * group after group, each group's chunks in order, so that a thread's share is read as one
 * stream. Each row's chunk sums are stored (first chunk) or added in chunk order. */
static inline __attribute__((always_inline)) void
few_type(const kern_type t, const int nt, const kern_matmul *m, size_t lo, size_t hi)
{
    const bool has_min = t == KERN_TYPE_Q4_1;
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const size_t bb = block_bytes(t);
    const size_t n_blocks = m->n_cols / KERN_QK;
    const size_t gs = GR * m->w_row_bytes;
    tok ti;
    for (size_t s0 = 0; s0 < n_blocks; s0 += SK * KB) {
        const size_t ns = n_blocks - s0 < SK * KB ? n_blocks - s0 : SK * KB;
        tok_fill(t, nt, m, s0, ns, &ti);
        for (size_t r0 = lo; r0 < hi; r0 += GR) {
            const size_t nr = hi - r0 < GR ? hi - r0 : GR;
            const __mmask16 k = (__mmask16)((1u << nr) - 1);
            const char *g = (const char *)m->w + r0 / GR * gs;
            for (size_t kc0 = s0; kc0 < s0 + ns; kc0 += KB) {
                const size_t nb = n_blocks - kc0 < KB ? n_blocks - kc0 : KB;
                const char *x[NT];
                for (int i = 0; i < NT; i++) {
                    x[i] =
                        (const char *)m->xq + (size_t)(i < nt ? i : 0) * m->xq_row_bytes + kc0 * xb;
                }
                __m512 acc[NT];
                chunk_dot(t, nt, g + kc0 * GR * bb, nb, &ti, kc0 - s0, x, acc);
#pragma GCC unroll 8
                for (int i = 0; i < nt; i++) {
                    float *y = m->y + (size_t)i * m->y_stride + r0;
                    __m512 v = acc[i];
                    if (kc0 > 0) {
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, y));
                    }
                    _mm512_mask_storeu_ps(y, k, v);
                }
            }
        }
    }
}

void kern__packed_few_avx512(const kern_matmul *m, size_t lo, size_t hi)
{
    CORE_ASSERT(m->w_packed && lo % GR == 0 && m->n_batch >= 1 && m->n_batch <= NT);
    CORE_ASSERT(block_bytes(m->w_type) == kern_type_block_bytes(m->w_type));
    switch (m->w_type) {
    case KERN_TYPE_Q4_0:
        STAGE_FEW_BATCH(few_type, KERN_TYPE_Q4_0, NT);
    case KERN_TYPE_Q4_1:
        STAGE_FEW_BATCH(few_type, KERN_TYPE_Q4_1, NT);
    default:
        STAGE_FEW_BATCH(few_type, KERN_TYPE_Q8_0, NT);
    }
}
