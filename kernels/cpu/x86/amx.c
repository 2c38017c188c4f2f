/*
 * AMX int8 matmul (AMX TILE/INT8 with AVX-512 F/BW/VL/VNNI) for Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0
 * weights, used for batches of at least KERN_AMX_MIN_BATCH tokens; smaller batches and other
 * types go to kern_matmul_avx512. It is arranged so that every output equals the register-tiled
 * AVX-512 kernel's (gemm_avx512.c) bit for bit, which makes a token's results independent of
 * the batch it shares and of whether this kernel or that one ran:
 *   - the integer sum of each 32-value block is exact: tdpbusd multiplies unsigned A bytes by
 *     signed B bytes, so the activations (Q8_0/Q8_1, signed) go to A as x + 128 and the weights
 *     to B as their signed levels (Q4_0 n - 8, Q5_0 n - 16, Q8_0 q; Q4_1/Q5_1 n, which are
 *     non-negative); each row's block then carries the correction -128 * sum(levels), so
 *     C + correction = sum(x * level), the reference's integer;
 *   - the float steps are gemm_avx512's, in its order: per K chunk of 32 blocks, per block
 *     acc = fma(float(sumi), d_w * d_x, acc) (then acc = fma(m_w, s_x, acc) for Q4_1/Q5_1), and
 *     the chunk's acc is stored, or added to y after the first chunk.
 * Weights are repacked per panel of 32 rows by one K chunk into the B tile layout, which is the
 * vpdpbusd layout (one 64-byte row holds 4 consecutive bytes of each of 16 weight rows), so a B
 * tile is 8 such rows of one block. Activations are copied per chunk of tokens as x + 128, one
 * row of 32 bytes per token and block, which is an A tile of 16 tokens. Per block, two A tiles
 * (32 tokens) and two B tiles (32 rows) give four 16 x 16 int32 C tiles, stored to the stack and
 * scaled with AVX-512 into float accumulators (on the stack too, ~190 KiB in all).
 *
 * The tile configuration is per thread: each call loads it and releases the tiles on return.
 * The process must have been granted AMX tile data (kern__cpu_has_amx does that).
 */
#include "kernels/kern_impl.h"
#include "kernels/cpu/x86/stage_avx512.h"

#include <immintrin.h>
#include <stddef.h>

#define PR 32            /* rows per panel: two B tiles of 16 */
#define KB KERN_STAGE_KB /* shared with gemm_avx512.c, for the same float sums */
#define TM 32            /* tokens per step: two A tiles of 16 */
#define TC 128           /* tokens per chunk (multiple of TM) */

#define XA_STRIDE (KB * KERN_QK) /* bytes between tokens in the activation copy */

/* Tiles: 0, 1 activations (A), 2, 3 weights (B), 4..7 products (C[token tile][row half]). */
typedef struct tilecfg {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

_Static_assert(sizeof(tilecfg) == 64, "tile configuration layout");

/* One panel of repacked weights: q[b][g][h] holds bytes 4g..4g+3 of block b of rows
 * 16h..16h+15 as signed levels; corr is -128 * the sum of a block's levels, d and m its scale
 * and min. */
typedef struct panel {
    __m512i q[KB][8][2];
    __m512i corr[KB][2];
    __m512 d[KB][2];
    __m512 m[KB][2];
} panel;

/* A chunk of activations: q[token][block] as x + 128, and each block's scale and s (Q8_1). */
typedef struct acts {
    uint8_t q[TC][XA_STRIDE];
    float d[TC][KB];
    float s[TC][KB];
} acts;

/* The C tiles of one block and the float accumulators of one step (TM tokens x PR rows). */
typedef struct step {
    int32_t c[4][16][16];
    __m512 acc[TM][2];
} step;

/* Tells the compiler that memory may be read or written here: gcc's tile load intrinsics do
 * not declare that they read memory. */
static inline void amx__barrier(void)
{
    __asm__ volatile("" ::: "memory");
}

/* Rows past the matrix: level bytes that decode to 0 and zero scales. */
static inline __attribute__((always_inline)) void stage_zero(kern_type t, size_t nb, int r,
                                                             stage16 *restrict st)
{
    const int slot = 4 * (r & 3) + (r >> 2);
    /* Q4_0 and Q5_0 store n - 8 and n - 16 with the fifth bit: n = 8 (Q4_0) decodes to 0; for
     * the others the raw zero does. Any value works, since d is 0, but keep them small. */
    const uint8_t fill = t == KERN_TYPE_Q4_0 ? 0x88 : 0;
    for (size_t b = 0; b < nb; b++) {
        st->head[b][r] = 0;
        st->qh[b][r] = t == KERN_TYPE_Q5_0 ? 0xFFFFFFFFu : 0;
        memset(st->q[b][0][slot], fill, 16);
        if (t == KERN_TYPE_Q8_0) {
            memset(st->q[b][1][slot], 0, 16);
        }
    }
}

/* Repacks blocks [kc0, kc0 + nb) of rows [r0, r0 + nr) of m into p as signed levels. */
static inline __attribute__((always_inline)) void pack(const kern_type t, const kern_matmul *m,
                                                       size_t r0, size_t nr, size_t n_ahead,
                                                       size_t kc0, size_t nb, stage16 *restrict st,
                                                       panel *restrict p)
{
    CORE_ASSERT(m->w != NULL); /* for the analyzer: weights always come from a model */
    const size_t bb = kern_type_block_bytes(t);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i ones = _mm512_set1_epi8(1);
    const bool has_qh = t == KERN_TYPE_Q5_0 || t == KERN_TYPE_Q5_1;
    const int8_t offset = t == KERN_TYPE_Q4_0 ? 8 : (t == KERN_TYPE_Q5_0 ? 16 : 0);
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
            __m512i q[8];
            for (int i = 0; i < 4; i++) {
                z[i] = _mm512_loadu_si512((const void *)st->q[b][0][4 * i]);
            }
            transpose4(z, o);
            if (t == KERN_TYPE_Q8_0) {
                for (int g = 0; g < 4; g++) {
                    q[g] = o[g];
                }
                for (int i = 0; i < 4; i++) {
                    z[i] = _mm512_loadu_si512((const void *)st->q[b][1][4 * i]);
                }
                transpose4(z, o);
                for (int g = 0; g < 4; g++) {
                    q[g + 4] = o[g];
                }
            } else {
                for (int g = 0; g < 4; g++) {
                    q[g] = _mm512_and_si512(o[g], m4);
                    q[g + 4] = _mm512_and_si512(_mm512_srli_epi16(o[g], 4), m4);
                }
            }
            if (has_qh) {
                /* Value j's fifth bit is bit j of qh: group g's four are byte g/2's nibble g%2. */
                const __m512i hb = _mm512_loadu_si512((const void *)st->qh[b]);
                const __m512i x10 = _mm512_set1_epi8(0x10);
                const __m512i lane = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0);
                for (int g = 0; g < 8; g++) {
                    const __m512i idx = _mm512_add_epi8(lane, _mm512_set1_epi8((char)(g >> 1)));
                    const __m512i spread = _mm512_shuffle_epi8(hb, idx);
                    const __mmask64 k = _mm512_test_epi8_mask(
                        spread, _mm512_set1_epi32((g & 1) ? (int)0x80402010u : 0x08040201));
                    q[g] = _mm512_mask_add_epi8(q[g], k, q[g], x10);
                }
            }
            __m512i sum = _mm512_setzero_si512();
            for (int g = 0; g < 8; g++) {
                if (offset != 0) {
                    q[g] = _mm512_sub_epi8(q[g], _mm512_set1_epi8(offset));
                }
                p->q[b][g][h] = q[g];
                sum = _mm512_dpbusd_epi32(sum, ones, q[g]);
            }
            p->corr[b][h] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 7));
        }
    }
}

static void pack_run(kern_type t, const kern_matmul *m, size_t r0, size_t nr, size_t n_ahead,
                     size_t kc0, size_t nb, stage16 *restrict st, panel *restrict p)
{
    switch (t) {
    case KERN_TYPE_Q4_0:
        pack(KERN_TYPE_Q4_0, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    case KERN_TYPE_Q4_1:
        pack(KERN_TYPE_Q4_1, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    case KERN_TYPE_Q5_0:
        pack(KERN_TYPE_Q5_0, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    case KERN_TYPE_Q5_1:
        pack(KERN_TYPE_Q5_1, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    default:
        pack(KERN_TYPE_Q8_0, m, r0, nr, n_ahead, kc0, nb, st, p);
        return;
    }
}

/* Copies blocks [kc0, kc0 + nb) of tokens [t0, t0 + n) as x + 128, with their scales; token
 * rows past n up to a multiple of TM are zero. */
static void acts_fill(const kern_matmul *m, bool has_min, size_t t0, size_t n, size_t kc0,
                      size_t nb, acts *restrict a)
{
    const size_t xb = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const size_t qoff = has_min ? 4 : 2;
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    for (size_t i = 0; i < n; i++) {
        const char *x = (const char *)m->xq + (t0 + i) * m->xq_row_bytes + kc0 * xb;
        for (size_t b = 0; b < nb; b++, x += xb) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(x + qoff));
            _mm256_storeu_si256((__m256i *)(a->q[i] + b * KERN_QK), _mm256_xor_si256(v, x80));
            a->d[i][b] = load_f16(x);
            a->s[i][b] = has_min ? load_f16(x + 2) : 0.0f;
        }
    }
    const size_t n_pad = (n + TM - 1) / TM * TM;
    for (size_t i = n; i < n_pad; i++) {
        memset(a->q[i], 0, nb * KERN_QK);
    }
}

/* One step: rows [r0, r0 + nr) of the panel against nt <= TM tokens from activation row i0
 * (output token tok), over the nb blocks of the K chunk starting at kc0. */
static inline __attribute__((always_inline)) void
step_run(const kern_matmul *m, const panel *restrict p, const acts *restrict a, size_t i0,
         size_t tok, size_t nt, const bool has_min, size_t r0, size_t nr, size_t kc0, size_t nb,
         step *restrict s)
{
    for (size_t t = 0; t < nt; t++) {
        s->acc[t][0] = _mm512_setzero_ps();
        s->acc[t][1] = _mm512_setzero_ps();
    }
    const bool two = nt > 16;
    for (size_t b = 0; b < nb; b++) {
        amx__barrier();
        _tile_zero(4);
        _tile_zero(5);
        _tile_loadd(0, a->q[i0] + b * KERN_QK, XA_STRIDE);
        _tile_loadd(2, &p->q[b][0][0], 2 * sizeof(__m512i));
        _tile_loadd(3, &p->q[b][0][1], 2 * sizeof(__m512i));
        _tile_dpbusd(4, 0, 2);
        _tile_dpbusd(5, 0, 3);
        if (two) {
            _tile_zero(6);
            _tile_zero(7);
            _tile_loadd(1, a->q[i0 + 16] + b * KERN_QK, XA_STRIDE);
            _tile_dpbusd(6, 1, 2);
            _tile_dpbusd(7, 1, 3);
        }
        _tile_stored(4, s->c[0], 64);
        _tile_stored(5, s->c[1], 64);
        if (two) {
            _tile_stored(6, s->c[2], 64);
            _tile_stored(7, s->c[3], 64);
        }
        amx__barrier();
        const __m512 d0 = p->d[b][0];
        const __m512 d1 = p->d[b][1];
        const __m512i c0 = p->corr[b][0];
        const __m512i c1 = p->corr[b][1];
        for (size_t t = 0; t < nt; t++) {
            const size_t k = t < 16 ? 0 : 2;
            const size_t tt = t & 15;
            const __m512i i0v = _mm512_add_epi32(_mm512_load_si512(s->c[k][tt]), c0);
            const __m512i i1v = _mm512_add_epi32(_mm512_load_si512(s->c[k + 1][tt]), c1);
            const __m512 dx = _mm512_set1_ps(a->d[i0 + t][b]);
            __m512 acc0 =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0v), _mm512_mul_ps(d0, dx), s->acc[t][0]);
            __m512 acc1 =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1v), _mm512_mul_ps(d1, dx), s->acc[t][1]);
            if (has_min) {
                const __m512 sx = _mm512_set1_ps(a->s[i0 + t][b]);
                acc0 = _mm512_fmadd_ps(p->m[b][0], sx, acc0);
                acc1 = _mm512_fmadd_ps(p->m[b][1], sx, acc1);
            }
            s->acc[t][0] = acc0;
            s->acc[t][1] = acc1;
        }
    }
    const bool add = kc0 > 0;
    for (size_t t = 0; t < nt; t++) {
        float *y = m->y + (tok + t) * m->y_stride + r0;
        for (int h = 0; h < 2; h++) {
            const size_t n = nr > 16 * (size_t)h ? nr - 16 * (size_t)h : 0;
            if (n == 0) {
                break;
            }
            const __mmask16 k = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
            __m512 v = s->acc[t][h];
            if (add) {
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, y + 16 * h));
            }
            _mm512_mask_storeu_ps(y + 16 * h, k, v);
        }
    }
}

static void step_min(const kern_matmul *m, const panel *restrict p, const acts *restrict a,
                     size_t i0, size_t tok, size_t nt, size_t r0, size_t nr, size_t kc0, size_t nb,
                     step *restrict s)
{
    step_run(m, p, a, i0, tok, nt, true, r0, nr, kc0, nb, s);
}

static void step_plain(const kern_matmul *m, const panel *restrict p, const acts *restrict a,
                       size_t i0, size_t tok, size_t nt, size_t r0, size_t nr, size_t kc0,
                       size_t nb, step *restrict s)
{
    step_run(m, p, a, i0, tok, nt, false, r0, nr, kc0, nb, s);
}

static void gemm(const kern_matmul *m, size_t lo, size_t hi)
{
    const kern_type t = m->w_type;
    const bool has_min = t == KERN_TYPE_Q4_1 || t == KERN_TYPE_Q5_1;
    const size_t n_blocks = m->n_cols / KERN_QK;
    _Alignas(64) panel p;
    _Alignas(64) acts a;
    _Alignas(64) stage16 st;
    _Alignas(64) step s;
    _Alignas(64) tilecfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.palette_id = 1;
    for (int i = 0; i < 2; i++) {
        cfg.rows[i] = 16;
        cfg.colsb[i] = KERN_QK;
        cfg.rows[2 + i] = 8;
        cfg.colsb[2 + i] = 64;
    }
    for (int i = 4; i < 8; i++) {
        cfg.rows[i] = 16;
        cfg.colsb[i] = 64;
    }
    amx__barrier();
    _tile_loadconfig(&cfg);
    for (size_t kc0 = 0; kc0 < n_blocks; kc0 += KB) {
        const size_t nb = n_blocks - kc0 < KB ? n_blocks - kc0 : KB;
        for (size_t tc0 = 0; tc0 < m->n_batch; tc0 += TC) {
            const size_t ntc = m->n_batch - tc0 < TC ? m->n_batch - tc0 : TC;
            acts_fill(m, has_min, tc0, ntc, kc0, nb, &a);
            for (size_t r0 = lo; r0 < hi; r0 += PR) {
                const size_t nr = hi - r0 < PR ? hi - r0 : PR;
                pack_run(t, m, r0, nr, hi - r0 - nr, kc0, nb, &st, &p);
                for (size_t i0 = 0; i0 < ntc; i0 += TM) {
                    const size_t nt = ntc - i0 < TM ? ntc - i0 : TM;
                    if (has_min) {
                        step_min(m, &p, &a, i0, tc0 + i0, nt, r0, nr, kc0, nb, &s);
                    } else {
                        step_plain(m, &p, &a, i0, tc0 + i0, nt, r0, nr, kc0, nb, &s);
                    }
                }
            }
        }
    }
    _tile_release();
}

void kern_matmul_amx(const kern_matmul *m, size_t ith, size_t nth)
{
    /* Only ggml's layout here: this variant has no pack. */
    CORE_ASSERT(!m->w_packed);
    switch (m->w_type) {
    case KERN_TYPE_Q4_0:
    case KERN_TYPE_Q4_1:
    case KERN_TYPE_Q5_0:
    case KERN_TYPE_Q5_1:
    case KERN_TYPE_Q8_0:
        break;
    default:
        kern_matmul_avx512(m, ith, nth);
        return;
    }
    if (m->n_batch < KERN_AMX_MIN_BATCH) {
        kern_matmul_avx512(m, ith, nth);
        return;
    }
    size_t lo;
    size_t hi;
    kern__split(m->n_rows, ith, nth, &lo, &hi);
    if (lo >= hi) {
        return;
    }
    CORE_ASSERT(m->w != NULL && m->xq != NULL && m->y != NULL);
    gemm(m, lo, hi);
}
