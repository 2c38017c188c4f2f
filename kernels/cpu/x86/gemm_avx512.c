/*
 * Register-tiled matmul (AVX-512 F/BW/VL/VNNI), which kern_matmul_avx512 uses for Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, Q4_K and Q6_K at every batch size (one token of Q4_0, Q4_1 or Q8_0 takes
 * gemv32 instead, which gives the same results without the repacking, and the other batches of
 * up to FEW_MAX tokens take gemm32_few or gemmk_few, which decode each block in registers and
 * never stage it, again with the same results). Weights are repacked on the
 * fly, one panel of 32 rows by a K chunk (1024 values) at a time, into the layout vpdpbusd wants:
 * one 512-bit vector holds 4 consecutive unsigned weight bytes of each of 16 rows, so a broadcast
 * of 4 activation bytes accumulates 16 rows' integer dots in 16 lanes with no horizontal reduction.
 * The microkernel keeps 32 rows x up to 4 tokens of integer accumulators for one block and float
 * accumulators for the K chunk, and applies each block's scales with one FMA per vector, as the
 * reference does per block: 32-value types: sumi * (d_w * d_x) (+ m_w * s_x for Q4_1/Q5_1); signed
 * weights are stored as level + offset (Q4_0 8, Q5_0 16, Q8_0 128) and the accumulator starts at
 *     -offset * sum(x) of the block, so sumi is the reference's exact integer;
 *   Q4_K: sum over sub-blocks of scale * dot in int32, then d * d_x * sumi - dmin * d_x * summ,
 *     the mins dotted with the activation's bsums by vpdpwssd;
 *   Q6_K: levels are stored + 32 and each 16-value group starts at -32 * bsum.
 * So outputs equal the reference up to the order of float additions, and every (row, token)
 * sees the same operations whatever the batch, panel or thread split. Repacking stages each
 * row's blocks with plain loads (prefetching the next panel's rows) and transposes 4 x 4 dwords
 * inside 128-bit lanes; it is paid once per panel per chunk of up to TC tokens, and per-token
 * block data (scales, sums) once per token chunk. Everything lives on the stack (~100 KiB).
 */
#include "kernels/kern_impl.h"
#include "kernels/cpu/x86/stage_avx512.h"

#include <immintrin.h>
#include <stddef.h>

#define PR  32 /* rows per panel: two vectors of 16 lanes */
#define NT  4  /* tokens per microkernel tile */
#define KB  KERN_STAGE_KB
#define KBK 4   /* 256-value super-blocks per K chunk (1024 values) */
#define TC  128 /* tokens per chunk */

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

static inline int32_t load_i32(const void *p)
{
    int32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/*
 * Q5_0/Q5_1: adds 16 to the levels of w (group g: bytes 4g..4g+3 of 16 rows, one row per dword)
 * whose fifth bit is set in hb (the 16 rows' qh words). Value j's fifth bit is bit j of qh, so
 * group g's four are byte g/2's nibble g%2.
 */
static inline __attribute__((always_inline)) __m512i add_fifth_bits(__m512i w, __m512i hb, int g)
{
    const __m512i lane = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0);
    const __m512i idx = _mm512_add_epi8(lane, _mm512_set1_epi8((char)(g >> 1)));
    const __m512i spread = _mm512_shuffle_epi8(hb, idx);
    const __mmask64 k =
        _mm512_test_epi8_mask(spread, _mm512_set1_epi32((g & 1) ? (int)0x80402010u : 0x08040201));
    return _mm512_mask_add_epi8(w, k, w, _mm512_set1_epi8(0x10));
}

static inline __attribute__((always_inline)) void stage_zero(kern_type t, size_t nb, int r,
                                                             stage16 *restrict st)
{
    const int slot = 4 * (r & 3) + (r >> 2);
    for (size_t b = 0; b < nb; b++) {
        st->head[b][r] = 0;
        st->qh[b][r] = 0;
        _mm_storeu_si128((__m128i *)st->q[b][0][slot], _mm_setzero_si128());
        if (t == KERN_TYPE_Q8_0) {
            _mm_storeu_si128((__m128i *)st->q[b][1][slot], _mm_setzero_si128());
        }
    }
}

/* Repacks blocks [kc0, kc0 + nb) of rows [r0, r0 + nr) of m into p; n_ahead rows follow the
 * panel (for prefetching). */
static inline __attribute__((always_inline)) void pack32(const kern_type t, const kern_matmul *m,
                                                         size_t r0, size_t nr, size_t n_ahead,
                                                         size_t kc0, size_t nb,
                                                         stage16 *restrict st, panel32 *restrict p)
{
    const size_t bb = kern_type_block_bytes(t);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const bool has_qh = t == KERN_TYPE_Q5_0 || t == KERN_TYPE_Q5_1;
    for (int h = 0; h < 2; h++) {
        for (int r = 0; r < 16; r++) {
            const size_t rr = 16 * (size_t)h + (size_t)r;
            if (rr < nr) {
                const char *row = (const char *)m->w + (r0 + rr) * m->w_row_bytes + kc0 * bb;
                stage_row(t, row, rr < n_ahead ? row + PR * m->w_row_bytes : NULL, nb, r, st);
            } else {
                stage_zero(t, nb, r, st);
            }
        }
        for (size_t b = 0; b < nb; b++) {
            const __m512i head = _mm512_loadu_si512((const void *)st->head[b]);
            p->d[b][h] = f16x16_to_ps(head);
            p->m[b][h] = f16x16_to_ps(_mm512_srli_epi32(head, 16));
            __m512i z[4];
            __m512i o[4];
            for (int i = 0; i < 4; i++) {
                z[i] = _mm512_loadu_si512((const void *)st->q[b][0][4 * i]);
            }
            transpose4(z, o);
            if (t == KERN_TYPE_Q8_0) {
                const __m512i x80 = _mm512_set1_epi8((char)0x80);
                for (int g = 0; g < 4; g++) {
                    p->q[b][g][h] = _mm512_xor_si512(o[g], x80);
                }
                for (int i = 0; i < 4; i++) {
                    z[i] = _mm512_loadu_si512((const void *)st->q[b][1][4 * i]);
                }
                transpose4(z, o);
                for (int g = 0; g < 4; g++) {
                    p->q[b][g + 4][h] = _mm512_xor_si512(o[g], x80);
                }
                continue;
            }
            for (int g = 0; g < 4; g++) {
                p->q[b][g][h] = _mm512_and_si512(o[g], m4);
                p->q[b][g + 4][h] = _mm512_and_si512(_mm512_srli_epi16(o[g], 4), m4);
            }
            if (has_qh) {
                const __m512i hb = _mm512_loadu_si512((const void *)st->qh[b]);
                for (int g = 0; g < 8; g++) {
                    p->q[b][g][h] = add_fifth_bits(p->q[b][g][h], hb, g);
                }
            }
        }
    }
}

static void pack32_run(kern_type t, const kern_matmul *m, size_t r0, size_t nr, size_t n_ahead,
                       size_t kc0, size_t nb, stage16 *restrict st, panel32 *restrict p)
{
    switch (t) {
    case KERN_TYPE_Q4_0:
        pack32(KERN_TYPE_Q4_0, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    case KERN_TYPE_Q4_1:
        pack32(KERN_TYPE_Q4_1, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    case KERN_TYPE_Q5_0:
        pack32(KERN_TYPE_Q5_0, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    case KERN_TYPE_Q5_1:
        pack32(KERN_TYPE_Q5_1, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    default:
        pack32(KERN_TYPE_Q8_0, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    }
}

/*
 * The same panel from a packed weight (pack_avx512.c's layout; r0 a multiple of 16): each group
 * of 16 rows already holds a block's quants in the panel's vectors (Q8_0 as q + 128) and its
 * scales side by side, so this is a copy plus the nibble split. A half past nr is zeroed.
 */
static void pack32_packed(kern_type t, const kern_matmul *m, size_t r0, size_t nr, size_t kc0,
                          size_t nb, panel32 *restrict p)
{
    const size_t bb = kern_type_block_bytes(t);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (size_t h = 0; h < 2; h++) {
        if (16 * h >= nr) {
            for (size_t b = 0; b < nb; b++) {
                for (int g = 0; g < 8; g++) {
                    p->q[b][g][h] = _mm512_setzero_si512();
                }
                p->d[b][h] = _mm512_setzero_ps();
                p->m[b][h] = _mm512_setzero_ps();
            }
            continue;
        }
        const char *c = (const char *)m->w + (r0 + 16 * h) * m->w_row_bytes + kc0 * 16 * bb;
        for (size_t b = 0; b < nb; b++) {
            const char *q = c + packed_quants_at(t, b);
            const char *dq = c + packed_scales_at(t, nb, b);
            if (t == KERN_TYPE_Q8_0) {
                for (int g = 0; g < 8; g++) {
                    p->q[b][g][h] = _mm512_loadu_si512((const void *)(q + 64 * g));
                }
            } else {
                for (int g = 0; g < 4; g++) {
                    const __m512i v = _mm512_loadu_si512((const void *)(q + 64 * g));
                    p->q[b][g][h] = _mm512_and_si512(v, m4);
                    p->q[b][g + 4][h] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                }
            }
            p->d[b][h] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dq));
            p->m[b][h] = t == KERN_TYPE_Q4_1
                             ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dq + 32)))
                             : _mm512_setzero_ps();
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
                ti->e[i][b].c = act_start(offset, x);
            }
        }
    }
}

/* Writes (first K chunk) or adds the 32 x nt results of a tile. */
static inline __attribute__((always_inline)) void tile_store(const kern_matmul *m, size_t tok,
                                                             size_t r0, size_t nr, bool add, int nt,
                                                             __m512 acc[NT][2])
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
static inline __attribute__((always_inline)) void
tile32(const panel32 *restrict p, const tokinfo *restrict ti, size_t i0, const char *const x[NT],
       size_t nb, const int nt, const bool has_min, __m512 acc[NT][2])
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
            acc[t][0] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t][0]), _mm512_mul_ps(d0, dx), acc[t][0]);
            acc[t][1] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t][1]), _mm512_mul_ps(d1, dx), acc[t][1]);
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
    stage16 st;
    for (size_t kc0 = 0; kc0 < n_blocks; kc0 += KB) {
        const size_t nb = n_blocks - kc0 < KB ? n_blocks - kc0 : KB;
        for (size_t tc0 = 0; tc0 < m->n_batch; tc0 += TC) {
            const size_t ntc = m->n_batch - tc0 < TC ? m->n_batch - tc0 : TC;
            tokinfo_fill(m, has_min, offset, tc0, ntc, kc0, nb, &ti);
            for (size_t r0 = lo; r0 < hi; r0 += PR) {
                const size_t nr = hi - r0 < PR ? hi - r0 : PR;
                if (m->w_packed) {
                    pack32_packed(t, m, r0, nr, kc0, nb, &p);
                } else {
                    pack32_run(t, m, r0, nr, hi - r0 - nr, kc0, nb, &st, &p);
                }
                for (size_t i0 = 0; i0 < ntc; i0 += NT) {
                    const int nt = (int)(ntc - i0 < NT ? ntc - i0 : NT);
                    tile32_run(m, &p, &ti, i0, tc0 + i0, nt, has_min, r0, nr, kc0, nb);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* One token: 32-value types without fifth bits (Q4_0, Q4_1, Q8_0)                            */
/* ------------------------------------------------------------------------------------------ */

/*
 * For a batch of one token (decoding) the panel repacking costs more than the products it
 * feeds. gemv32 works on groups of 16 rows, one vector of results, and per block puts four
 * rows' 16 quant bytes in the four 128-bit lanes of one register: quad j holds rows j, j + 4,
 * j + 8, j + 12, so that one vpdpbusd against the token's 16 bytes broadcast to every lane
 * (bytes 0-15 with the low nibbles, 16-31 with the high ones or the second half of Q8_0) leaves
 * four partial dots per row, and two unpack-and-add rounds over the four quads sum them into one
 * vector of the 16 rows' integers in row order. From there it does per lane what tile32 does:
 * the same integer (the same offset start), the same two FMAs per block in block order, the same
 * K chunks and the same store or add. So each row's result is bit for bit the one the batched
 * kernel gives it in any batch. A whole group addresses its rows from four pointers a quad apart
 * and gathers each block's 16 scales straight from the rows. Its 16 rows are 16 short streams
 * read side by side, which the hardware prefetchers do not follow (without software prefetches
 * the kernel ran at half speed), so with each block it prefetches into L2 the same block of the
 * group two ahead: the misses overlap the products and come in the order they are read (a
 * burst of them at the group's start stalls the demand loads; the group's lines in address
 * order, a few per block, measured 8% slower). A partial group copies its rows' scales into a
 * table first, which also brings its lines in.
 */
#define GR 16 /* rows per group: one vector of results */

/* The token's quants of one K chunk, each half of each block broadcast to the four lanes, and
 * the start value of each block's integer sum. */
typedef struct gemv_x {
    __m512i lo[KB];
    __m512i hi[KB];
    int32_t start[KB];
    float d[KB];
    float s[KB];
} gemv_x;

/* Quads a..d (lane i of quad j: four partial sums of row 4i + j) -> the 16 rows' sums. */
static inline __m512i sum_quads(__m512i a, __m512i b, __m512i c, __m512i d)
{
    const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
}

static inline __attribute__((always_inline)) void
gemv_x_fill(const kern_type t, const kern_matmul *m, size_t kc0, size_t nb, gemv_x *restrict gx)
{
    const bool has_min = t == KERN_TYPE_Q4_1;
    const int32_t offset = t == KERN_TYPE_Q4_0 ? 8 : (t == KERN_TYPE_Q8_0 ? 128 : 0);
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const size_t qs = has_min ? 4 : 2;
    for (size_t b = 0; b < nb; b++) {
        const char *x = (const char *)m->xq + (kc0 + b) * xb;
        gx->lo[b] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(x + qs)));
        gx->hi[b] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(x + qs + 16)));
        gx->start[b] = act_start(offset, x);
        gx->d[b] = load_f16(x);
        gx->s[b] = has_min ? load_f16(x + 2) : 0.0f;
    }
}

/* The integer dot of the quad rows at p[0..3] + o with the token's block b. */
static inline __attribute__((always_inline)) __m512i
quad_dot4(const kern_type t, const char *const p[4], size_t o, const gemv_x *gx, size_t b)
{
    if (t == KERN_TYPE_Q8_0) {
        const __m512i x80 = _mm512_set1_epi8((char)0x80);
        const __m512i v0 = _mm512_xor_si512(load4p(p[0] + o, p[1] + o, p[2] + o, p[3] + o), x80);
        const size_t o1 = o + 16;
        const __m512i v1 =
            _mm512_xor_si512(load4p(p[0] + o1, p[1] + o1, p[2] + o1, p[3] + o1), x80);
        return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), v0, gx->lo[b]), v1,
                                   gx->hi[b]);
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i v = load4p(p[0] + o, p[1] + o, p[2] + o, p[3] + o);
    const __m512i lo = _mm512_and_si512(v, m4);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, gx->lo[b]), hi,
                               gx->hi[b]);
}

/* The integer dot of quad rows at p (rows stride apart) with the token's block b. */
static inline __attribute__((always_inline)) __m512i
quad_dot(const kern_type t, const char *p, size_t stride, const gemv_x *gx, size_t b)
{
    const char *const q[4] = {p, p + stride, p + 2 * stride, p + 3 * stride};
    return quad_dot4(t, q, 0, gx, b);
}

/* acc + block b's terms for 16 rows, as tile32 adds them: the integer ai plus the block's start
 * value times d_w * d_x, then (Q4_1) m_w * s_x; hd holds the rows' first 4 block bytes. */
static inline __attribute__((always_inline)) __m512
block_fma(const bool has_min, __m512i ai, __m512i hd, const gemv_x *gx, size_t b, __m512 acc)
{
    ai = _mm512_add_epi32(ai, _mm512_set1_epi32(gx->start[b]));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai),
                          _mm512_mul_ps(f16x16_to_ps(hd), _mm512_set1_ps(gx->d[b])), acc);
    if (has_min) {
        acc =
            _mm512_fmadd_ps(f16x16_to_ps(_mm512_srli_epi32(hd, 16)), _mm512_set1_ps(gx->s[b]), acc);
    }
    return acc;
}

/* Prefetches into L2 block b of the 16 rows at pf (row stride rb), if pf is not NULL. */
static inline __attribute__((always_inline)) void prefetch16(const char *pf, size_t rb)
{
    if (pf != NULL) {
#pragma GCC unroll 16
        for (size_t r = 0; r < GR; r++) {
            _mm_prefetch(pf + r * rb, _MM_HINT_T1);
        }
    }
}

/* The sums over K chunk [kc0, kc0 + nb) of the 16 rows at base (row stride rb, base at the
 * chunk's first block); meanwhile the same blocks of the groups at pf0 and pf1 (NULL: none) are
 * prefetched into L2, each block's as its own are read. vidx holds the rows' byte offsets
 * (r * rb). */
static inline __attribute__((always_inline)) __m512 gemv32_full(const kern_type t, const gemv_x *gx,
                                                                const char *base, size_t rb,
                                                                __m512i vidx, size_t nb,
                                                                const char *pf0, const char *pf1)
{
    const bool has_min = t == KERN_TYPE_Q4_1;
    const size_t bb = kern_type_block_bytes(t);
    const size_t qs = has_min ? 4 : 2;
    const size_t off[4] = {qs, rb + qs, 2 * rb + qs, 3 * rb + qs};
    const char *p[4] = {base, base + 4 * rb, base + 8 * rb, base + 12 * rb};
    __m512 acc = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        prefetch16(pf0 != NULL ? pf0 + b * bb : NULL, rb);
        prefetch16(pf1 != NULL ? pf1 + b * bb : NULL, rb);
        __m512i q[4];
#pragma GCC unroll 4
        for (size_t j = 0; j < 4; j++) {
            q[j] = quad_dot4(t, p, off[j], gx, b);
        }
        const __m512i hd = _mm512_i32gather_epi32(vidx, (const void *)p[0], 1);
        acc = block_fma(has_min, sum_quads(q[0], q[1], q[2], q[3]), hd, gx, b, acc);
#pragma GCC unroll 4
        for (size_t j = 0; j < 4; j++) {
            p[j] += bb;
        }
    }
    return acc;
}

/* One group of up to 16 rows (nr) from r0, K chunk [kc0, kc0 + nb), against the one token;
 * n_ahead rows follow the group in this thread's share (prefetched while this one runs). */
static inline __attribute__((always_inline)) void
gemv32_group(const kern_type t, const kern_matmul *m, const gemv_x *gx, __m512i vidx, size_t r0,
             size_t nr, size_t n_ahead, bool first, size_t kc0, size_t nb)
{
    const bool has_min = t == KERN_TYPE_Q4_1;
    const size_t bb = kern_type_block_bytes(t);
    /* Quants follow 2 bytes (d) or 4 (d and m). */
    const size_t qs = has_min ? 4 : 2;
    const size_t rb = m->w_row_bytes;
    /* Rows past nr repeat row r0 (their results are not stored). */
    const char *base = (const char *)m->w + r0 * rb + kc0 * bb;
    if (nr == GR && rb <= INT32_MAX / GR) {
        /* The group two ahead in this thread's share (the share's first group also takes the
         * next one). */
        const char *pf0 = n_ahead >= 2 * GR ? base + 2 * GR * rb : NULL;
        const char *pf1 = first && n_ahead >= GR ? base + GR * rb : NULL;
        __m512 acc = gemv32_full(t, gx, base, rb, vidx, nb, pf0, pf1);
        float *y = m->y + r0;
        if (kc0 > 0) {
            acc = _mm512_add_ps(acc, _mm512_loadu_ps(y));
        }
        _mm512_storeu_ps(y, acc);
        return;
    }
    /* A partial group (the share's last) or rows too long for the gather's offsets: quad j's rows
     * are j, j + 4, ..., each clamped to a real row. */
    uint32_t head[KB][GR];
    const char *rows[GR];
    for (size_t r = 0; r < GR; r++) {
        const char *row = base + (r < nr ? r : 0) * rb;
        for (size_t b = 0; b < nb; b++) {
            memcpy(&head[b][r], row + b * bb, sizeof(uint32_t));
        }
        rows[r] = row + qs;
    }
    __m512 acc = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m512i q[4];
        for (size_t j = 0; j < 4; j++) {
            char tmp[4][32];
            for (size_t i = 0; i < 4; i++) {
                memcpy(tmp[i], rows[4 * i + j] + b * bb, t == KERN_TYPE_Q8_0 ? 32 : 16);
            }
            q[j] = quad_dot(t, tmp[0], 32, gx, b);
        }
        const __m512i ai = sum_quads(q[0], q[1], q[2], q[3]);
        acc = block_fma(has_min, ai, _mm512_loadu_si512((const void *)head[b]), gx, b, acc);
    }
    const __mmask16 k = (__mmask16)((1u << nr) - 1);
    float *y = m->y + r0;
    if (kc0 > 0) {
        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(k, y));
    }
    _mm512_mask_storeu_ps(y, k, acc);
}

static inline __attribute__((always_inline)) void
gemv32_type(const kern_type t, const kern_matmul *m, size_t lo, size_t hi)
{
    const size_t n_blocks = m->n_cols / KERN_QK;
    /* The rows' offsets for the gather (whole groups of rows under 128 MiB, which is all of any
     * model's; gemv32_group takes longer rows the partial way). */
    const __m512i vidx =
        _mm512_mullo_epi32(_mm512_set1_epi32((int32_t)m->w_row_bytes),
                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    gemv_x gx;
    for (size_t kc0 = 0; kc0 < n_blocks; kc0 += KB) {
        const size_t nb = n_blocks - kc0 < KB ? n_blocks - kc0 : KB;
        gemv_x_fill(t, m, kc0, nb, &gx);
        for (size_t r0 = lo; r0 < hi; r0 += GR) {
            const size_t nr = hi - r0 < GR ? hi - r0 : GR;
            gemv32_group(t, m, &gx, vidx, r0, nr, hi - r0 - nr, r0 == lo, kc0, nb);
        }
    }
}

static void gemv32(const kern_matmul *m, size_t lo, size_t hi)
{
    switch (m->w_type) {
    case KERN_TYPE_Q4_0:
        gemv32_type(KERN_TYPE_Q4_0, m, lo, hi);
        return;
    case KERN_TYPE_Q4_1:
        gemv32_type(KERN_TYPE_Q4_1, m, lo, hi);
        return;
    default:
        gemv32_type(KERN_TYPE_Q8_0, m, lo, hi);
        return;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* A few tokens: 32-value types with the weights decoded in registers                        */
/* ------------------------------------------------------------------------------------------ */

/*
 * For the few tokens of a decoding step (continuous batching: 2 to FEW_MAX sequences), gemm32's
 * panel costs more than the products it feeds: every block is staged, transposed, stored and
 * read back once per tile of NT tokens, and the panel and its staging overflow L1. gemm32_few
 * decodes each block of 16 rows straight into registers, in the panel's layout (the rows of a
 * quad loaded into the four 128-bit lanes as gemv32 does, then tile32's 4 x 4 dword transpose
 * inside the lanes, which leaves bytes 4g..4g+3 of the 16 rows in row order), and multiplies it
 * by every token of the batch at once, so weights are read from memory once per step and never
 * written. The blocks' scales (and Q5's fifth bits) are gathered block by block from the 16
 * rows, as gemv32 does (copying them into tables per group first stalled on the group's first
 * touch of each line: 8% of a batch-8 step's matmuls), while the group two ahead is prefetched into
 * L2. Each (row, token) then sees tile32's exact integer, its two FMAs per block in block order and
 * its K chunks, so its bits do not depend on the batch it shares.
 */
#define FEW_MAX 8 /* tokens per batch that gemm32_few takes; larger batches use the tiles */
_Static_assert(FEW_MAX == KERN_PACK_FEW_MAX, "packed and unpacked batches switch kernels alike");

/* Token i's integer dot of 32 values (w[0..7] of 16 rows) with its 32 activation bytes at x,
 * starting from a. */
static inline __attribute__((always_inline)) __m512i dot32(__m512i a, const __m512i w[8],
                                                           const char *x, int g0, int g1)
{
#pragma GCC unroll 8
    for (int g = g0; g < g1; g++) {
        a = dpbusd_bcst(a, w[g], x + 4 * g);
    }
    return a;
}

/* Block b's quants of 16 rows in vpdpbusd layout: w[g] holds levels 4g..4g+3 of each row,
 * as tile32's panel holds them (Q8_0 as q + 128; Q5's fifth bits from hb, the rows' qh). */
static inline __attribute__((always_inline)) void decode16(const kern_type t, const char *p,
                                                           size_t rb, __m512i hb, __m512i w[8])
{
    if (t == KERN_TYPE_Q8_0) {
        const __m512i x80 = _mm512_set1_epi8((char)0x80);
        load32t(p, rb, w);
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            w[g] = _mm512_xor_si512(w[g], x80);
        }
        return;
    }
    __m512i o[4];
    load16t(p, rb, o);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        w[g] = _mm512_and_si512(o[g], m4);
        w[g + 4] = _mm512_and_si512(_mm512_srli_epi16(o[g], 4), m4);
    }
    if (t == KERN_TYPE_Q5_0 || t == KERN_TYPE_Q5_1) {
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            w[g] = add_fifth_bits(w[g], hb, g);
        }
    }
}

/* Writes (first K chunk) or adds the results of nt tokens for rows r0..r0 + nr - 1. */
static inline __attribute__((always_inline)) void few_store(const kern_matmul *m, const int nt,
                                                            size_t r0, size_t nr, bool add,
                                                            const __m512 acc[FEW_MAX])
{
    const __mmask16 k = nr >= GR ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
#pragma GCC unroll 8
    for (int i = 0; i < nt; i++) {
        float *y = m->y + (size_t)i * m->y_stride + r0;
        __m512 v = acc[i];
        if (add) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, y));
        }
        _mm512_mask_storeu_ps(y, k, v);
    }
}

/* x[i]: token i's activations from byte off of its row (tokens past nt repeat token 0). */
static inline void few_tokens(const kern_matmul *m, int nt, size_t off, const char *x[FEW_MAX])
{
    for (int i = 0; i < FEW_MAX; i++) {
        x[i] = (const char *)m->xq + (size_t)(i < nt ? i : 0) * m->xq_row_bytes + off;
    }
}

/* A last group of nr < 16 rows, span bytes each from base, copied to part (rows span apart)
 * and padded with zero rows, so that the group code reads 16 whole rows. */
static void few_part(char *part, const char *base, size_t rb, size_t nr, size_t span)
{
    memset(part, 0, GR * span);
    for (size_t r = 0; r < nr; r++) {
        memcpy(part + r * span, base + r * rb, span);
    }
}

/*
 * One group of 16 rows (row r at base + r * rb, base at the K chunk's first block), nb blocks,
 * against nt tokens (x[i]: token i's first block of the chunk; ti: their scales); the results go
 * to rows r0.. of y, nr of them (rows past nr are computed and dropped). n_ahead rows follow
 * the group in this thread's share and are prefetched into L2 meanwhile.
 */
static inline __attribute__((always_inline)) void
few_group(const kern_type t, const int nt, const kern_matmul *m, const tokinfo *restrict ti,
          const char *const x[FEW_MAX], const char *base, size_t rb, size_t r0, size_t nr,
          size_t n_ahead, bool first, bool add, size_t nb)
{
    const bool has_min = t == KERN_TYPE_Q4_1 || t == KERN_TYPE_Q5_1;
    const bool has_qh = t == KERN_TYPE_Q5_0 || t == KERN_TYPE_Q5_1;
    const size_t bb = kern_type_block_bytes(t);
    const size_t qs = t == KERN_TYPE_Q4_1 ? 4 : (t == KERN_TYPE_Q5_0 ? 6 : (has_qh ? 8 : 2));
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const size_t xq = has_min ? 4 : 2;
    /* The group two ahead (one ahead when it is the share's last); the share's first group
     * also takes the next one. */
    const size_t pf_d = n_ahead >= 2 * GR ? 2 * GR : GR;
    const size_t n_pf = n_ahead < GR ? n_ahead : GR;
    const size_t n_pf1 = first && pf_d == 2 * GR ? GR : 0;
    /* The rows' offsets, for gathering the blocks' scales (few_groups copies rows too long for
     * int32 offsets to part first). */
    const __m512i vidx =
        _mm512_mullo_epi32(_mm512_set1_epi32((int32_t)rb),
                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    __m512 acc[FEW_MAX];
#pragma GCC unroll 8
    for (int i = 0; i < nt; i++) {
        acc[i] = _mm512_setzero_ps();
    }
    for (size_t b = 0; b < nb; b++) {
        __m512i w[8];
        const __m512i hb = has_qh ? _mm512_i32gather_epi32(vidx, base + b * bb + qs - 4, 1)
                                  : _mm512_setzero_si512();
        decode16(t, base + b * bb + qs, rb, hb, w);
        /* Block b of the group pf_d rows on, spread over the products so that the misses
         * overlap them (a burst of prefetches stalls on the core's few miss buffers). */
        const char *pf = base + pf_d * rb + b * bb;
        for (size_t r = 0; r < n_pf; r++) {
            _mm_prefetch(pf + r * rb, _MM_HINT_T1);
        }
        for (size_t r = 0; r < n_pf1; r++) {
            _mm_prefetch(base + (GR + r) * rb + b * bb, _MM_HINT_T1);
        }
        const __m512i hd = _mm512_i32gather_epi32(vidx, base + b * bb, 1);
        const __m512 dw = f16x16_to_ps(hd);
        const __m512 mw = has_min ? f16x16_to_ps(_mm512_srli_epi32(hd, 16)) : _mm512_setzero_ps();
        __m512i ai[FEW_MAX];
#pragma GCC unroll 8
        for (int i = 0; i < nt; i++) {
            ai[i] = has_min ? _mm512_setzero_si512() : _mm512_set1_epi32(ti->e[i][b].c);
        }
        dot_tokens(nt, ai, w, x, b * xb + xq);
#pragma GCC unroll 8
        for (int i = 0; i < nt; i++) {
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[i]),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(ti->d[i][b])), acc[i]);
            if (has_min) {
                acc[i] = _mm512_fmadd_ps(mw, _mm512_set1_ps(ti->e[i][b].s), acc[i]);
            }
        }
    }
    few_store(m, nt, r0, nr, add, acc);
}

/* ------------------------------------------------------------------------------------------ */
/* K super-blocks (Q4_K, Q6_K)                                                                */
/* ------------------------------------------------------------------------------------------ */

/* A panel of K super-blocks: q[s][kg][h] holds values 4kg..4kg+3 of super-block s of rows
 * 16h..16h+15 (Q6_K: level + 32); sc the int32 scale of each 32-value sub-block (Q4_K) or
 * 16-value group (Q6_K); mins the int16 pairs of Q4_K's sub-block mins (2i, 2i+1). */
typedef struct panelk {
    __m512i q[KBK][64][2];
    __m512i sc[KBK][16][2];
    __m512i mins[KBK][4][2];
    __m512 d[KBK][2];
    __m512 dmin[KBK][2];
} panelk;

/* One super-block of 16 rows, staged for the transpose (slots as in stage16). */
typedef struct stagek {
    uint8_t q[16][16][16];
    int32_t sc[16][16];
    int32_t mins[4][16];
    uint32_t head[16];
} stagek;

/* Per token, per super-block: d, and Q4_K's bsum pairs as int16 pairs (b(2i), b(2i+1)) where
 * b(j) sums sub-block j, or Q6_K's -32 * bsum of each 16-value group. */
typedef struct tokk {
    float d[TC][KBK];
    int32_t e[TC][KBK][16];
} tokk;

static inline void store_values32(stagek *restrict st, int slot, int v0, __m256i v)
{
    _mm_storeu_si128((__m128i *)st->q[v0 / 16][slot], _mm256_castsi256_si128(v));
    _mm_storeu_si128((__m128i *)st->q[v0 / 16 + 1][slot], _mm256_extracti128_si256(v, 1));
}

static inline __attribute__((always_inline)) void
stagek_row(const kern_type t, const char *blk, const char *pf, int r, stagek *restrict st)
{
    const int slot = 4 * (r & 3) + (r >> 2);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    if (pf != NULL) {
        const size_t bb = t == KERN_TYPE_Q4_K ? sizeof(kern_block_q4_k) : sizeof(kern_block_q6_k);
        for (size_t i = 0; i < bb; i += 64) {
            _mm_prefetch(pf + i, _MM_HINT_T0);
        }
    }
    if (t == KERN_TYPE_Q4_K) {
        const kern_block_q4_k *b = (const kern_block_q4_k *)blk;
        memcpy(&st->head[r], blk, sizeof(uint32_t));
        for (int i = 0; i < 4; i++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * i));
            store_values32(st, slot, 64 * i, _mm256_and_si256(v, m4));
            store_values32(st, slot, 64 * i + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
        }
        uint8_t sc[8];
        uint8_t mn[8];
        for (int j = 0; j < 8; j++) {
            kern__scale_min_k4(b->scales, j, &sc[j], &mn[j]);
            st->sc[j][r] = sc[j];
        }
        for (int i = 0; i < 4; i++) {
            st->mins[i][r] = (int32_t)((uint32_t)mn[2 * i] | ((uint32_t)mn[2 * i + 1] << 16));
        }
        return;
    }
    const kern_block_q6_k *b = (const kern_block_q6_k *)blk;
    st->head[r] = b->d;
    for (int n = 0; n < 2; n++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * n));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * n + 32));
        const __m256i h = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * n));
        const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x03)), 4);
        const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x0C)), 2);
        const __m256i h2 = _mm256_and_si256(h, _mm256_set1_epi8(0x30));
        const __m256i h3 = _mm256_srli_epi16(_mm256_and_si256(h, _mm256_set1_epi8((char)0xC0)), 2);
        const int v0 = 128 * n;
        store_values32(st, slot, v0, _mm256_or_si256(_mm256_and_si256(l0, m4), h0));
        store_values32(st, slot, v0 + 32, _mm256_or_si256(_mm256_and_si256(l1, m4), h1));
        store_values32(st, slot, v0 + 64,
                       _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), h2));
        store_values32(st, slot, v0 + 96,
                       _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), h3));
    }
    for (int g = 0; g < 16; g++) {
        st->sc[g][r] = b->scales[g];
    }
}

static inline __attribute__((always_inline)) void stagek_zero(int r, stagek *restrict st)
{
    const int slot = 4 * (r & 3) + (r >> 2);
    st->head[r] = 0;
    for (int c = 0; c < 16; c++) {
        _mm_storeu_si128((__m128i *)st->q[c][slot], _mm_setzero_si128());
        st->sc[c][r] = 0;
    }
    for (int i = 0; i < 4; i++) {
        st->mins[i][r] = 0;
    }
}

static inline __attribute__((always_inline)) void packk(const kern_type t, const kern_matmul *m,
                                                        size_t r0, size_t nr, size_t n_ahead,
                                                        size_t kc0, size_t nb, stagek *restrict st,
                                                        panelk *restrict p)
{
    const size_t bb = kern_type_block_bytes(t);
    for (int h = 0; h < 2; h++) {
        for (size_t sb = 0; sb < nb; sb++) {
            for (int r = 0; r < 16; r++) {
                const size_t rr = 16 * (size_t)h + (size_t)r;
                if (rr < nr) {
                    const char *blk =
                        (const char *)m->w + (r0 + rr) * m->w_row_bytes + (kc0 + sb) * bb;
                    stagek_row(t, blk, rr < n_ahead ? blk + PR * m->w_row_bytes : NULL, r, st);
                } else {
                    stagek_zero(r, st);
                }
            }
            for (int c = 0; c < 16; c++) {
                __m512i z[4];
                __m512i o[4];
                for (int i = 0; i < 4; i++) {
                    z[i] = _mm512_loadu_si512((const void *)st->q[c][4 * i]);
                }
                transpose4(z, o);
                for (int j = 0; j < 4; j++) {
                    p->q[sb][4 * c + j][h] = o[j];
                }
            }
            const int n_sc = t == KERN_TYPE_Q4_K ? 8 : 16;
            for (int g = 0; g < n_sc; g++) {
                p->sc[sb][g][h] = _mm512_loadu_si512((const void *)st->sc[g]);
            }
            const __m512i head = _mm512_loadu_si512((const void *)st->head);
            p->d[sb][h] = f16x16_to_ps(head);
            if (t == KERN_TYPE_Q4_K) {
                p->dmin[sb][h] = f16x16_to_ps(_mm512_srli_epi32(head, 16));
                for (int i = 0; i < 4; i++) {
                    p->mins[sb][i][h] = _mm512_loadu_si512((const void *)st->mins[i]);
                }
            }
        }
    }
}

static void packk_run(kern_type t, const kern_matmul *m, size_t r0, size_t nr, size_t n_ahead,
                      size_t kc0, size_t nb, stagek *restrict st, panelk *restrict p)
{
    if (t == KERN_TYPE_Q4_K) {
        packk(KERN_TYPE_Q4_K, m, r0, nr, n_ahead, kc0, nb, st, p);
    } else {
        packk(KERN_TYPE_Q6_K, m, r0, nr, n_ahead, kc0, nb, st, p);
    }
}

static void tokk_fill(const kern_matmul *m, kern_type t, size_t t0, size_t n, size_t kc0, size_t nb,
                      tokk *restrict ti)
{
    for (size_t i = 0; i < n; i++) {
        const kern_block_q8_k *x =
            (const kern_block_q8_k *)((const char *)m->xq + (t0 + i) * m->xq_row_bytes) + kc0;
        for (size_t sb = 0; sb < nb; sb++) {
            ti->d[i][sb] = x[sb].d;
            const int16_t *bs = x[sb].bsums;
            if (t == KERN_TYPE_Q4_K) {
                for (int j = 0; j < 4; j++) {
                    const int32_t b0 = bs[4 * j] + bs[4 * j + 1];
                    const int32_t b1 = bs[4 * j + 2] + bs[4 * j + 3];
                    ti->e[i][sb][j] = (int32_t)(((uint32_t)b0 & 0xFFFFu) | ((uint32_t)b1 << 16));
                }
            } else {
                for (int g = 0; g < 16; g++) {
                    ti->e[i][sb][g] = -32 * bs[g];
                }
            }
        }
    }
}

static inline __attribute__((always_inline)) void tilek(const kern_type t, const panelk *restrict p,
                                                        const tokk *restrict ti, size_t i0,
                                                        const char *const x[NT], size_t nb,
                                                        const int nt, __m512 acc[NT][2])
{
    const size_t xb = sizeof(kern_block_q8_k);
    const size_t qoff = offsetof(kern_block_q8_k, qs);
#pragma GCC unroll 4
    for (int tk = 0; tk < nt; tk++) {
        acc[tk][0] = _mm512_setzero_ps();
        acc[tk][1] = _mm512_setzero_ps();
    }
    const int n_groups = t == KERN_TYPE_Q4_K ? 8 : 16;
    const int per_group = t == KERN_TYPE_Q4_K ? 8 : 4;
    for (size_t sb = 0; sb < nb; sb++) {
        __m512i sumi[NT][2];
#pragma GCC unroll 4
        for (int tk = 0; tk < nt; tk++) {
            sumi[tk][0] = _mm512_setzero_si512();
            sumi[tk][1] = _mm512_setzero_si512();
        }
        for (int g = 0; g < n_groups; g++) {
            __m512i ai[NT][2];
#pragma GCC unroll 4
            for (int tk = 0; tk < nt; tk++) {
                ai[tk][0] = t == KERN_TYPE_Q4_K ? _mm512_setzero_si512()
                                                : _mm512_set1_epi32(ti->e[i0 + tk][sb][g]);
                ai[tk][1] = ai[tk][0];
            }
#pragma GCC unroll 8
            for (int k = 0; k < per_group; k++) {
                const int kg = per_group * g + k;
                const __m512i w0 = p->q[sb][kg][0];
                const __m512i w1 = p->q[sb][kg][1];
#pragma GCC unroll 4
                for (int tk = 0; tk < nt; tk++) {
                    const __m512i xv =
                        _mm512_set1_epi32(load_i32(x[tk] + sb * xb + qoff + 4 * (size_t)kg));
                    ai[tk][0] = _mm512_dpbusd_epi32(ai[tk][0], w0, xv);
                    ai[tk][1] = _mm512_dpbusd_epi32(ai[tk][1], w1, xv);
                }
            }
            const __m512i s0 = p->sc[sb][g][0];
            const __m512i s1 = p->sc[sb][g][1];
#pragma GCC unroll 4
            for (int tk = 0; tk < nt; tk++) {
                sumi[tk][0] = _mm512_add_epi32(sumi[tk][0], _mm512_mullo_epi32(ai[tk][0], s0));
                sumi[tk][1] = _mm512_add_epi32(sumi[tk][1], _mm512_mullo_epi32(ai[tk][1], s1));
            }
        }
#pragma GCC unroll 4
        for (int tk = 0; tk < nt; tk++) {
            const __m512 dx = _mm512_set1_ps(ti->d[i0 + tk][sb]);
            for (int h = 0; h < 2; h++) {
                acc[tk][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[tk][h]),
                                             _mm512_mul_ps(p->d[sb][h], dx), acc[tk][h]);
                if (t == KERN_TYPE_Q4_K) {
                    __m512i summ = _mm512_setzero_si512();
                    for (int i = 0; i < 4; i++) {
                        summ = _mm512_dpwssd_epi32(summ, p->mins[sb][i][h],
                                                   _mm512_set1_epi32(ti->e[i0 + tk][sb][i]));
                    }
                    acc[tk][h] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(summ),
                                                  _mm512_mul_ps(p->dmin[sb][h], dx), acc[tk][h]);
                }
            }
        }
    }
}

#define TILEK_CASE(n, tt)                                                                          \
    case n:                                                                                        \
        tilek(tt, p, ti, i0, x, nb, n, acc);                                                       \
        tile_store(m, tok, r0, nr, add, n, acc);                                                   \
        break

static void tilek_run(const kern_matmul *m, const panelk *restrict p, const tokk *restrict ti,
                      size_t i0, size_t tok, int nt, size_t r0, size_t nr, size_t kc0, size_t nb)
{
    const char *x[NT];
    for (int tk = 0; tk < NT; tk++) {
        const size_t tt = tok + (size_t)(tk < nt ? tk : 0);
        x[tk] = (const char *)m->xq + tt * m->xq_row_bytes + kc0 * sizeof(kern_block_q8_k);
    }
    const bool add = kc0 > 0;
    __m512 acc[NT][2];
    if (m->w_type == KERN_TYPE_Q4_K) {
        switch (nt) {
            TILEK_CASE(1, KERN_TYPE_Q4_K);
            TILEK_CASE(2, KERN_TYPE_Q4_K);
            TILEK_CASE(3, KERN_TYPE_Q4_K);
        default:
            TILEK_CASE(4, KERN_TYPE_Q4_K);
        }
    } else {
        switch (nt) {
            TILEK_CASE(1, KERN_TYPE_Q6_K);
            TILEK_CASE(2, KERN_TYPE_Q6_K);
            TILEK_CASE(3, KERN_TYPE_Q6_K);
        default:
            TILEK_CASE(4, KERN_TYPE_Q6_K);
        }
    }
}

static void gemmk(const kern_matmul *m, size_t lo, size_t hi)
{
    const kern_type t = m->w_type;
    const size_t n_blocks = m->n_cols / KERN_QK_K;
    panelk p;
    tokk ti;
    stagek st;
    for (size_t kc0 = 0; kc0 < n_blocks; kc0 += KBK) {
        const size_t nb = n_blocks - kc0 < KBK ? n_blocks - kc0 : KBK;
        for (size_t tc0 = 0; tc0 < m->n_batch; tc0 += TC) {
            const size_t ntc = m->n_batch - tc0 < TC ? m->n_batch - tc0 : TC;
            tokk_fill(m, t, tc0, ntc, kc0, nb, &ti);
            for (size_t r0 = lo; r0 < hi; r0 += PR) {
                const size_t nr = hi - r0 < PR ? hi - r0 : PR;
                packk_run(t, m, r0, nr, hi - r0 - nr, kc0, nb, &st, &p);
                for (size_t i0 = 0; i0 < ntc; i0 += NT) {
                    const int nt = (int)(ntc - i0 < NT ? ntc - i0 : NT);
                    tilek_run(m, &p, &ti, i0, tc0 + i0, nt, r0, nr, kc0, nb);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* A few tokens: K super-blocks with the weights decoded in registers                        */
/* ------------------------------------------------------------------------------------------ */

/*
 * gemm32_few's scheme for Q4_K and Q6_K, batches of 1 to FEW_MAX tokens: per group of 16 rows
 * and super-block, the quants are decoded in registers into tilek's layout (32-value pieces of
 * 8 vectors), the sub-block scales and mins of the 16 rows are unpacked with vector shifts and
 * masks (Q4_K: unpack_scales_k4's bits; Q6_K: sign-extended bytes), and every token's integer
 * sums and two float steps follow tilek's exactly, per K chunk of KBK super-blocks.
 */

static inline __attribute__((always_inline)) void
fewk_group(const kern_type t, const int nt, const kern_matmul *m, const tokk *restrict ti,
           const char *const x[FEW_MAX], const char *base, size_t rb, size_t r0, size_t nr,
           size_t n_ahead, bool add, size_t nb)
{
    const bool q4k = t == KERN_TYPE_Q4_K;
    const size_t bb = kern_type_block_bytes(t);
    const size_t n_pf = n_ahead < GR ? n_ahead : GR;
    const size_t qoff = offsetof(kern_block_q8_k, qs);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    uint32_t head[KBK][GR];
    for (size_t r = 0; r < GR; r++) {
        for (size_t sb = 0; sb < nb; sb++) {
            const char *blk = base + r * rb + sb * bb;
            if (q4k) {
                memcpy(&head[sb][r], blk, sizeof(uint32_t));
            } else {
                uint16_t d;
                memcpy(&d, blk + offsetof(kern_block_q6_k, d), sizeof(d));
                head[sb][r] = d;
            }
        }
    }
    __m512 acc[FEW_MAX];
#pragma GCC unroll 8
    for (int i = 0; i < nt; i++) {
        acc[i] = _mm512_setzero_ps();
    }
    for (size_t sb = 0; sb < nb; sb++) {
        const char *blk = base + sb * bb;
        const char *pf = base + GR * rb + sb * bb;
        for (size_t r = 0; r < n_pf; r++) {
            for (size_t o = 0; o < bb; o += 64) {
                _mm_prefetch(pf + r * rb + o, _MM_HINT_T1);
            }
        }
        __m512i sumi[FEW_MAX];
#pragma GCC unroll 8
        for (int i = 0; i < nt; i++) {
            sumi[i] = _mm512_setzero_si512();
        }
        __m512i sc[16];
        __m512i mins[4];
        if (q4k) {
            /* unpack_scales_k4 on 16 rows: u[k] is scale bytes 4k..4k+3 of each row. */
            __m512i u[4];
            load16t(blk + offsetof(kern_block_q4_k, scales), rb, u);
            const __m512i m6 = _mm512_set1_epi8(0x3F);
            const __m512i m2 = _mm512_set1_epi8(0x03);
            const __m512i s0 = _mm512_and_si512(u[0], m6);
            const __m512i s1 = _mm512_or_si512(
                _mm512_and_si512(u[2], m4),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u[0], 6), m2), 4));
            const __m512i n0 = _mm512_and_si512(u[1], m6);
            const __m512i n1 = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi32(u[2], 4), m4),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u[1], 6), m2), 4));
            const __m512i ff = _mm512_set1_epi32(0xFF);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                sc[j] = _mm512_and_si512(_mm512_srli_epi32(s0, 8 * j), ff);
                sc[j + 4] = _mm512_and_si512(_mm512_srli_epi32(s1, 8 * j), ff);
            }
            /* Mins as int16 pairs (2i, 2i + 1), as tilek's vpdpwssd reads them. */
#pragma GCC unroll 2
            for (int i = 0; i < 2; i++) {
                const __m512i mn = i == 0 ? n0 : n1;
                const __m512i b0 = _mm512_and_si512(mn, ff);
                const __m512i b1 = _mm512_and_si512(_mm512_srli_epi32(mn, 8), ff);
                const __m512i b2 = _mm512_and_si512(_mm512_srli_epi32(mn, 16), ff);
                const __m512i b3 = _mm512_srli_epi32(mn, 24);
                mins[2 * i] = _mm512_or_si512(b0, _mm512_slli_epi32(b1, 16));
                mins[2 * i + 1] = _mm512_or_si512(b2, _mm512_slli_epi32(b3, 16));
            }
            for (int j = 0; j < 4; j++) {
                __m512i raw[8];
                load32t(blk + offsetof(kern_block_q4_k, qs) + 32 * (size_t)j, rb, raw);
                for (int h = 0; h < 2; h++) {
                    __m512i w[8];
#pragma GCC unroll 8
                    for (int g = 0; g < 8; g++) {
                        w[g] = _mm512_and_si512(h == 0 ? raw[g] : _mm512_srli_epi16(raw[g], 4), m4);
                    }
                    const int s = 2 * j + h;
#pragma GCC unroll 8
                    for (int i = 0; i < nt; i++) {
                        const char *xi = x[i] + sb * sizeof(kern_block_q8_k) + qoff + 32 * s;
                        const __m512i a = dot32(_mm512_setzero_si512(), w, xi, 0, 8);
                        sumi[i] = _mm512_add_epi32(sumi[i], _mm512_mullo_epi32(a, sc[s]));
                    }
                }
            }
        } else {
            __m512i u[4];
            load16t(blk + offsetof(kern_block_q6_k, scales), rb, u);
#pragma GCC unroll 16
            for (int g = 0; g < 16; g++) {
                sc[g] = _mm512_srai_epi32(_mm512_slli_epi32(u[g / 4], 24 - 8 * (g % 4)), 24);
            }
            for (int n = 0; n < 2; n++) {
                __m512i l0[8];
                __m512i l1[8];
                __m512i hb[8];
                load32t(blk + offsetof(kern_block_q6_k, ql) + 64 * (size_t)n, rb, l0);
                load32t(blk + offsetof(kern_block_q6_k, ql) + 64 * (size_t)n + 32, rb, l1);
                load32t(blk + offsetof(kern_block_q6_k, qh) + 32 * (size_t)n, rb, hb);
                for (int k = 0; k < 4; k++) {
                    __m512i w[8];
#pragma GCC unroll 8
                    for (int g = 0; g < 8; g++) {
                        const __m512i l = (k & 1) ? l1[g] : l0[g];
                        const __m512i lq =
                            _mm512_and_si512(k >= 2 ? _mm512_srli_epi16(l, 4) : l, m4);
                        const __m512i hq =
                            _mm512_and_si512(_mm512_slli_epi16(_mm512_srli_epi16(hb[g], 2 * k), 4),
                                             _mm512_set1_epi8(0x30));
                        w[g] = _mm512_or_si512(lq, hq);
                    }
                    const int s = 4 * n + k;
#pragma GCC unroll 8
                    for (int i = 0; i < nt; i++) {
                        const char *xi = x[i] + sb * sizeof(kern_block_q8_k) + qoff + 32 * s;
                        const __m512i a0 =
                            dot32(_mm512_set1_epi32(ti->e[i][sb][2 * s]), w, xi, 0, 4);
                        const __m512i a1 =
                            dot32(_mm512_set1_epi32(ti->e[i][sb][2 * s + 1]), w, xi, 4, 8);
                        sumi[i] = _mm512_add_epi32(
                            sumi[i], _mm512_add_epi32(_mm512_mullo_epi32(a0, sc[2 * s]),
                                                      _mm512_mullo_epi32(a1, sc[2 * s + 1])));
                    }
                }
            }
        }
        const __m512i hd = _mm512_loadu_si512((const void *)head[sb]);
        const __m512 dw = f16x16_to_ps(hd);
        const __m512 dmin = f16x16_to_ps(_mm512_srli_epi32(hd, 16));
#pragma GCC unroll 8
        for (int i = 0; i < nt; i++) {
            const __m512 dx = _mm512_set1_ps(ti->d[i][sb]);
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[i]), _mm512_mul_ps(dw, dx), acc[i]);
            if (q4k) {
                __m512i summ = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    summ = _mm512_dpwssd_epi32(summ, mins[j], _mm512_set1_epi32(ti->e[i][sb][j]));
                }
                acc[i] =
                    _mm512_fnmadd_ps(_mm512_cvtepi32_ps(summ), _mm512_mul_ps(dmin, dx), acc[i]);
            }
        }
    }
    few_store(m, nt, r0, nr, add, acc);
}

/*
 * The groups of rows [lo, hi) for K chunk kc0 (nb blocks), through few_group or fewk_group (ti
 * is their tokinfo or tokk). A last group of fewer than 16 rows, or a group of rows too long for
 * few_group's int32 gather offsets, is copied to part first.
 */
static inline __attribute__((always_inline)) void
few_groups(const kern_type t, const int nt, const kern_matmul *m, const void *ti,
           const char *const x[FEW_MAX], size_t lo, size_t hi, size_t kc0, size_t nb, char *part)
{
    const size_t span = nb * kern_type_block_bytes(t);
    for (size_t r0 = lo; r0 < hi; r0 += GR) {
        const size_t nr = hi - r0 < GR ? hi - r0 : GR;
        const char *base = (const char *)m->w + r0 * m->w_row_bytes + kc0 * span / nb;
        size_t rb = m->w_row_bytes;
        size_t n_ahead = hi - r0 - nr;
        if (nr < GR || rb > INT32_MAX / GR) {
            few_part(part, base, rb, nr, span);
            base = part;
            rb = span;
            n_ahead = 0;
        }
        if (t == KERN_TYPE_Q4_K || t == KERN_TYPE_Q6_K) {
            fewk_group(t, nt, m, ti, x, base, rb, r0, nr, n_ahead, kc0 > 0, nb);
        } else {
            few_group(t, nt, m, ti, x, base, rb, r0, nr, n_ahead, r0 == lo, kc0 > 0, nb);
        }
    }
}

/* Rows [lo, hi) of m for nt tokens, one K chunk after another. */
static inline __attribute__((always_inline)) void
few_rows(const kern_type t, const int nt, const kern_matmul *m, size_t lo, size_t hi)
{
    const bool has_min = t == KERN_TYPE_Q4_1 || t == KERN_TYPE_Q5_1;
    const int32_t offset =
        t == KERN_TYPE_Q4_0 ? 8 : (t == KERN_TYPE_Q5_0 ? 16 : (t == KERN_TYPE_Q8_0 ? 128 : 0));
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const size_t n_blocks = m->n_cols / KERN_QK;
    tokinfo ti;
    char part[GR * KB * sizeof(kern_block_q8_0)];
    for (size_t kc0 = 0; kc0 < n_blocks; kc0 += KB) {
        const size_t nb = n_blocks - kc0 < KB ? n_blocks - kc0 : KB;
        tokinfo_fill(m, has_min, offset, 0, (size_t)nt, kc0, nb, &ti);
        const char *x[FEW_MAX];
        few_tokens(m, nt, kc0 * xb, x);
        few_groups(t, nt, m, &ti, x, lo, hi, kc0, nb, part);
    }
}

/* The same for Q4_K and Q6_K. */
static inline __attribute__((always_inline)) void
fewk_rows(const kern_type t, const int nt, const kern_matmul *m, size_t lo, size_t hi)
{
    const size_t n_blocks = m->n_cols / KERN_QK_K;
    tokk ti;
    char part[GR * KBK * sizeof(kern_block_q6_k)];
    for (size_t kc0 = 0; kc0 < n_blocks; kc0 += KBK) {
        const size_t nb = n_blocks - kc0 < KBK ? n_blocks - kc0 : KBK;
        tokk_fill(m, t, 0, (size_t)nt, kc0, nb, &ti);
        const char *x[FEW_MAX];
        few_tokens(m, nt, kc0 * sizeof(kern_block_q8_k), x);
        few_groups(t, nt, m, &ti, x, lo, hi, kc0, nb, part);
    }
}

/* Rows [lo, hi) of m, a batch of 1 to FEW_MAX tokens, 32-value weights. */
static void gemm32_few(const kern_matmul *m, size_t lo, size_t hi)
{
    CORE_ASSERT(m->n_batch >= 1 && m->n_batch <= FEW_MAX);
    switch (m->w_type) {
    case KERN_TYPE_Q4_0:
        STAGE_FEW_BATCH(few_rows, KERN_TYPE_Q4_0, FEW_MAX);
    case KERN_TYPE_Q4_1:
        STAGE_FEW_BATCH(few_rows, KERN_TYPE_Q4_1, FEW_MAX);
    case KERN_TYPE_Q5_0:
        STAGE_FEW_BATCH(few_rows, KERN_TYPE_Q5_0, FEW_MAX);
    case KERN_TYPE_Q5_1:
        STAGE_FEW_BATCH(few_rows, KERN_TYPE_Q5_1, FEW_MAX);
    default:
        STAGE_FEW_BATCH(few_rows, KERN_TYPE_Q8_0, FEW_MAX);
    }
}

/* Rows [lo, hi) of m, a batch of 1 to FEW_MAX tokens, K super-block weights. */
static void gemmk_few(const kern_matmul *m, size_t lo, size_t hi)
{
    CORE_ASSERT(m->n_batch >= 1 && m->n_batch <= FEW_MAX);
    if (m->w_type == KERN_TYPE_Q4_K) {
        STAGE_FEW_BATCH(fewk_rows, KERN_TYPE_Q4_K, FEW_MAX);
    } else {
        STAGE_FEW_BATCH(fewk_rows, KERN_TYPE_Q6_K, FEW_MAX);
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
    CORE_ASSERT(m->w != NULL && m->xq != NULL && m->y != NULL);
    switch (m->w_type) {
    case KERN_TYPE_Q4_0:
    case KERN_TYPE_Q4_1:
    case KERN_TYPE_Q8_0:
        if (m->w_packed && m->n_batch <= KERN_PACK_FEW_MAX) {
            kern__packed_few_avx512(m, lo, hi);
        } else if (m->n_batch == 1 && !m->w_packed) {
            gemv32(m, lo, hi);
        } else if (m->n_batch <= FEW_MAX && !m->w_packed) {
            gemm32_few(m, lo, hi);
        } else {
            /* Larger batches, from either layout (gemm32 reads panels from the packed one). */
            gemm32(m, lo, hi);
        }
        return true;
    case KERN_TYPE_Q5_0:
    case KERN_TYPE_Q5_1:
        CORE_ASSERT(!m->w_packed);
        if (m->n_batch <= FEW_MAX) {
            gemm32_few(m, lo, hi);
        } else {
            gemm32(m, lo, hi);
        }
        return true;
    case KERN_TYPE_Q4_K:
    case KERN_TYPE_Q6_K:
        CORE_ASSERT(!m->w_packed);
        if (m->n_batch <= FEW_MAX) {
            gemmk_few(m, lo, hi);
        } else {
            gemmk(m, lo, hi);
        }
        return true;
    default:
        CORE_ASSERT(!m->w_packed);
        return false;
    }
}
