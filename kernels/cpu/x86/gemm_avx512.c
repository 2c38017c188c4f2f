/*
 * Register-tiled batched matmul (AVX-512 F/BW/VL/VNNI), used by kern_matmul_avx512 when a batch
 * has enough tokens. Weights are repacked on the fly, one panel of 32 rows by up to KB blocks at
 * a time, into the layout vpdpbusd wants: one 512-bit vector holds 4 consecutive unsigned weight
 * bytes of each of 16 rows, so a broadcast of 4 activation bytes accumulates 16 rows' integer
 * dots in 16 lanes with no horizontal reduction. The microkernel keeps 32 rows x 4 tokens of
 * integer accumulators for one block and of float accumulators for the whole row, and applies
 * each block's scales with one FMA per vector, as the reference does per block:
 *   32-value types: sumi * (d_w * d_x) (+ m_w * s_x for Q4_1/Q5_1); signed weights are stored
 *     as level + offset (Q4_0 8, Q5_0 16, Q8_0 128) and the accumulator starts at
 *     -offset * sum(x) of the block, so sumi is the reference's exact integer;
 *   Q4_K: sum over sub-blocks of scale * dot in int32, then d * d_x * sumi - dmin * d_x * summ,
 *     the mins dotted with the activation's bsums by vpdpwssd;
 *   Q6_K: levels are stored + 32 and each 16-value group starts at -32 * bsum.
 * So outputs equal the reference up to the order of float additions. Repacking reads 16 rows at
 * once with gathers and is paid once per panel per chunk of up to TC tokens. Per-token block
 * data (scales, sums) is unpacked once per token chunk. Everything lives on the stack.
 */
#include "kernels/kern_impl.h"

#include <immintrin.h>

#define PR 32  /* rows per panel: two vectors of 16 lanes */
#define NT 4   /* tokens per microkernel tile */
#define KB 32  /* 32-value blocks per K chunk (1024 values) */
#define KBK 4  /* 256-value super-blocks per K chunk (1024 values) */
#define TC 128 /* tokens per chunk */

/* One panel of repacked weights (32-value types): q[b][g][h] holds bytes 4g..4g+3 of block b
 * of rows 16h..16h+15; d and m are the blocks' scales and mins. */
typedef struct panel32 {
    __m512i q[KB][8][2];
    __m512 d[KB][2];
    __m512 m[KB][2];
} panel32;

/* Per token, per block of the chunk: the activation scale, and s (Q8_1) or the start value of
 * the integer accumulator (-offset * sum of the block's quants). */
typedef union tok_extra {
    float s;
    int32_t c;
} tok_extra;

typedef struct tokinfo {
    float d[TC][KB];
    tok_extra e[TC][KB];
} tokinfo;

static inline __m512 f16x16_to_ps(__m512i lanes)
{
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(lanes));
}

static inline int32_t load_i32(const void *p)
{
    int32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline float load_f16(const void *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof(h));
    return _cvtsh_ss(h);
}

/* Sum of 32 signed bytes. */
static inline int32_t sum_i8x32(const void *p)
{
    const __m256i v =
        _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), _mm256_set1_epi8((char)0x80));
    const __m256i s = _mm256_sad_epu8(v, _mm256_setzero_si256());
    const __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (int32_t)(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1)) - 32 * 128;
}

/* The largest block (Q8_0, 34 bytes) times KB, and the largest super-block times KBK. */
#define RAW_BYTES 1088

/* A panel's raw weight bytes, copied row by row (contiguous reads that the hardware prefetches
 * well) so that the gathers that transpose them hit L1. */
typedef struct rawpanel {
    char b[PR][RAW_BYTES];
} rawpanel;

static void raw_copy(const kern_matmul *m, size_t r0, size_t nr, size_t off, size_t n,
                     rawpanel *restrict raw)
{
    for (size_t r = 0; r < nr; r++) {
        memcpy(raw->b[r], (const char *)m->w + (r0 + r) * m->w_row_bytes + off, n);
    }
}

/* Lanes of 16 rows of raw starting at row 16h, of which n are valid. */
typedef struct rows16 {
    const char *base;
    __m512i idx;
    __mmask16 mask;
} rows16;

static inline rows16 rows16_at(const rawpanel *raw, int h, size_t n)
{
    rows16 g;
    g.base = raw->b[16 * h];
    g.idx = _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32(RAW_BYTES));
    g.mask = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    return g;
}

static inline __m512i gather_at(const rows16 *g, size_t off)
{
    return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), g->mask, g->idx, g->base + off, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* 32-value blocks                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Repacks blocks [kc0, kc0 + nb) of rows [r0, r0 + nr) of m into p. */
static void pack32(kern_type t, const kern_matmul *m, size_t r0, size_t nr, size_t kc0, size_t nb,
                   rawpanel *restrict raw, panel32 *restrict p)
{
    const size_t bb = kern_type_block_bytes(t);
    raw_copy(m, r0, nr, kc0 * bb, nb * bb, raw);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int h = 0; h < 2; h++) {
        const size_t n = nr > 16 * (size_t)h ? nr - 16 * (size_t)h : 0;
        if (n == 0) {
            for (size_t b = 0; b < nb; b++) {
                for (int g = 0; g < 8; g++) {
                    p->q[b][g][h] = _mm512_setzero_si512();
                }
                p->d[b][h] = _mm512_setzero_ps();
                p->m[b][h] = _mm512_setzero_ps();
            }
            continue;
        }
        const rows16 rg = rows16_at(raw, h, n);
        for (size_t b = 0; b < nb; b++) {
            const size_t o = b * bb;
            const __m512i head = gather_at(&rg, o);
            p->d[b][h] = f16x16_to_ps(head);
            p->m[b][h] = f16x16_to_ps(_mm512_srli_epi32(head, 16));
            size_t qs = 2;
            size_t qh = 0;
            switch (t) {
            case KERN_TYPE_Q4_1:
                qs = 4;
                break;
            case KERN_TYPE_Q5_0:
                qh = 2;
                qs = 6;
                break;
            case KERN_TYPE_Q5_1:
                qh = 4;
                qs = 8;
                break;
            default:
                break;
            }
            if (t == KERN_TYPE_Q8_0) {
                for (int g = 0; g < 8; g++) {
                    p->q[b][g][h] = _mm512_xor_si512(gather_at(&rg, o + qs + 4 * (size_t)g),
                                                     _mm512_set1_epi8((char)0x80));
                }
                continue;
            }
            for (int g = 0; g < 4; g++) {
                const __m512i v = gather_at(&rg, o + qs + 4 * (size_t)g);
                p->q[b][g][h] = _mm512_and_si512(v, m4);
                p->q[b][g + 4][h] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
            if (qh != 0) {
                /* Value j's fifth bit is bit j of qh: group g's four are byte g/2's nibble g%2. */
                const __m512i hb = gather_at(&rg, o + qh);
                const __m512i x10 = _mm512_set1_epi8(0x10);
                const __m512i lane = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0);
                for (int g = 0; g < 8; g++) {
                    const __m512i idx = _mm512_add_epi8(lane, _mm512_set1_epi8((char)(g >> 1)));
                    const __m512i spread = _mm512_shuffle_epi8(hb, idx);
                    const __mmask64 k = _mm512_test_epi8_mask(
                        spread, _mm512_set1_epi32((g & 1) ? (int)0x80402010u : 0x08040201));
                    p->q[b][g][h] = _mm512_mask_add_epi8(p->q[b][g][h], k, p->q[b][g][h], x10);
                }
            }
        }
    }
}

/* Unpacks the activation blocks [kc0, kc0 + nb) of tokens [t0, t0 + n). */
static void tokinfo_fill(const kern_matmul *m, bool has_min, int32_t offset, size_t t0, size_t n,
                         size_t kc0, size_t nb, tokinfo *restrict ti)
{
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    for (size_t i = 0; i < n; i++) {
        const char *x = (const char *)m->xq + (t0 + i) * m->xq_row_bytes + kc0 * xb;
        for (size_t b = 0; b < nb; b++, x += xb) {
            ti->d[i][b] = load_f16(x);
            if (has_min) {
                ti->e[i][b].s = load_f16(x + 2);
            } else {
                ti->e[i][b].c = offset != 0 ? -offset * sum_i8x32(x + 2) : 0;
            }
        }
    }
}

/* Writes (first K chunk) or adds the 32 x nt results of a tile. */
static inline __attribute__((always_inline)) void tile_store(const kern_matmul *m, size_t tok,
                                                             size_t r0, size_t nr, bool add,
                                                             int nt, __m512 acc[NT][2])
{
    for (int t = 0; t < nt; t++) {
        float *y = m->y + (tok + (size_t)t) * m->y_stride + r0;
        for (int h = 0; h < 2; h++) {
            const size_t n = nr > 16 * (size_t)h ? nr - 16 * (size_t)h : 0;
            if (n == 0) {
                break;
            }
            const __mmask16 k = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
            __m512 v = acc[t][h];
            if (add) {
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, y + 16 * h));
            }
            _mm512_mask_storeu_ps(y + 16 * h, k, v);
        }
    }
}

/* The microkernel: 32 rows of p against nt tokens (tokinfo rows i0..), nb blocks. */
static inline __attribute__((always_inline)) void tile32(const panel32 *restrict p,
                                                         const tokinfo *restrict ti, size_t i0,
                                                         const char *const x[NT], size_t nb,
                                                         const int nt, const bool has_min,
                                                         __m512 acc[NT][2])
{
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const size_t qoff = has_min ? 4 : 2;
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++) {
        acc[t][0] = _mm512_setzero_ps();
        acc[t][1] = _mm512_setzero_ps();
    }
    for (size_t b = 0; b < nb; b++) {
        __m512i ai[NT][2];
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            ai[t][0] = has_min ? _mm512_setzero_si512() : _mm512_set1_epi32(ti->e[i0 + t][b].c);
            ai[t][1] = ai[t][0];
        }
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            const __m512i w0 = p->q[b][g][0];
            const __m512i w1 = p->q[b][g][1];
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) {
                const __m512i xv =
                    _mm512_set1_epi32(load_i32(x[t] + b * xb + qoff + 4 * (size_t)g));
                ai[t][0] = _mm512_dpbusd_epi32(ai[t][0], w0, xv);
                ai[t][1] = _mm512_dpbusd_epi32(ai[t][1], w1, xv);
            }
        }
        const __m512 d0 = p->d[b][0];
        const __m512 d1 = p->d[b][1];
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            const __m512 dx = _mm512_set1_ps(ti->d[i0 + t][b]);
            acc[t][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t][0]), _mm512_mul_ps(d0, dx),
                                        acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t][1]), _mm512_mul_ps(d1, dx),
                                        acc[t][1]);
            if (has_min) {
                const __m512 sx = _mm512_set1_ps(ti->e[i0 + t][b].s);
                acc[t][0] = _mm512_fmadd_ps(p->m[b][0], sx, acc[t][0]);
                acc[t][1] = _mm512_fmadd_ps(p->m[b][1], sx, acc[t][1]);
            }
        }
    }
}

#define TILE32_CASE(n, hm)                                                                         \
    case n:                                                                                        \
        tile32(p, ti, i0, x, nb, n, hm, acc);                                                      \
        tile_store(m, tok, r0, nr, add, n, acc);                                                   \
        break

static void tile32_run(const kern_matmul *m, const panel32 *restrict p, const tokinfo *restrict ti,
                       size_t i0, size_t tok, int nt, bool has_min, size_t r0, size_t nr,
                       size_t kc0, size_t nb)
{
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const char *x[NT];
    for (int t = 0; t < NT; t++) {
        const size_t tt = tok + (size_t)(t < nt ? t : 0);
        x[t] = (const char *)m->xq + tt * m->xq_row_bytes + kc0 * xb;
    }
    const bool add = kc0 > 0;
    __m512 acc[NT][2];
    if (has_min) {
        switch (nt) {
            TILE32_CASE(1, true);
            TILE32_CASE(2, true);
            TILE32_CASE(3, true);
        default:
            TILE32_CASE(4, true);
        }
    } else {
        switch (nt) {
            TILE32_CASE(1, false);
            TILE32_CASE(2, false);
            TILE32_CASE(3, false);
        default:
            TILE32_CASE(4, false);
        }
    }
}

static void gemm32(const kern_matmul *m, size_t lo, size_t hi)
{
    const kern_type t = m->w_type;
    const bool has_min = t == KERN_TYPE_Q4_1 || t == KERN_TYPE_Q5_1;
    const int32_t offset =
        t == KERN_TYPE_Q4_0 ? 8 : (t == KERN_TYPE_Q5_0 ? 16 : (t == KERN_TYPE_Q8_0 ? 128 : 0));
    const size_t n_blocks = m->n_cols / KERN_QK;
    panel32 p;
    tokinfo ti;
    rawpanel raw;
    for (size_t kc0 = 0; kc0 < n_blocks; kc0 += KB) {
        const size_t nb = n_blocks - kc0 < KB ? n_blocks - kc0 : KB;
        for (size_t tc0 = 0; tc0 < m->n_batch; tc0 += TC) {
            const size_t ntc = m->n_batch - tc0 < TC ? m->n_batch - tc0 : TC;
            tokinfo_fill(m, has_min, offset, tc0, ntc, kc0, nb, &ti);
            for (size_t r0 = lo; r0 < hi; r0 += PR) {
                const size_t nr = hi - r0 < PR ? hi - r0 : PR;
                pack32(t, m, r0, nr, kc0, nb, &raw, &p);
                for (size_t i0 = 0; i0 < ntc; i0 += NT) {
                    const int nt = (int)(ntc - i0 < NT ? ntc - i0 : NT);
                    tile32_run(m, &p, &ti, i0, tc0 + i0, nt, has_min, r0, nr, kc0, nb);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Entry                                                                                      */
/* ------------------------------------------------------------------------------------------ */

bool kern__gemm_avx512(const kern_matmul *m, size_t lo, size_t hi)
{
    if (lo >= hi) {
        return true;
    }
    switch (m->w_type) {
    case KERN_TYPE_Q4_0:
    case KERN_TYPE_Q4_1:
    case KERN_TYPE_Q5_0:
    case KERN_TYPE_Q5_1:
    case KERN_TYPE_Q8_0:
        gemm32(m, lo, hi);
        return true;
    default:
        return false;
    }
}
