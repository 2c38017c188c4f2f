/*
 * AVX-512 (F, BW, VL, VNNI) kernels, compiled with their own flags and called only when the CPU
 * has all four. matmul for the 32-value types handles two blocks per 512-bit register with
 * vpdpbusd (unsigned weights x signed activations; signed weights use |w| and move the sign onto
 * the activations); the K types handle 64 values per register with maddubs and vpdpwssd against
 * per-lane scale vectors. As in the AVX2 file, each weight block is decoded once and dotted with
 * up to four activation rows; Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q4_K/Q6_K now go to the tiled kernels of
 * gemm_avx512.c for every batch size, and these per-row loops serve Q5_K. The Q8_0/Q8_1/Q8_K
 * and F16 quantizers equal the reference bit for bit. Attention converts each block of keys and
 * each value row once for all the query heads that share them (grouped-query attention), keeps
 * the queries and outputs in registers, sums 16 keys' products with one shuffle tree and
 * vectorizes softmax's exp; SwiGLU uses the same exp. Types not handled here go to the AVX2
 * versions.
 */
#include "kernels/kern_impl.h"
#include "kernels/cpu/x86/decode_k.h"

#include <immintrin.h>
#include <math.h>

#define BATCH 4

static inline __m512i join256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Matmul, K super-blocks, 64 values per register                                             */
/* ------------------------------------------------------------------------------------------ */

/* The super-block in 512-bit registers: q[u] and sc[u] cover values 64u .. 64u + 63. */
typedef struct kdec {
    __m512i q[4];
    __m512i sc[4];
    __m128i mins;
    __m256i sc16;
    float d;
    float dmin;
} kdec;

static inline __attribute__((always_inline)) void decode_k(kern_type t, const char *row, size_t i,
                                                           kdec *kd)
{
    kdec256 h;
    decode_k256(t, row, i, &h);
    for (int u = 0; u < 4; u++) {
        kd->q[u] = join256(h.q[2 * u], h.q[2 * u + 1]);
        kd->sc[u] = join256(h.sc[2 * u], h.sc[2 * u + 1]);
    }
    kd->mins = h.mins;
    kd->sc16 = h.sc16;
    kd->d = h.d;
    kd->dmin = h.dmin;
}

static inline __attribute__((always_inline)) void rows_k(const kern_matmul *m, size_t lo, size_t hi,
                                                         size_t b0, const int nb, const kern_type t)
{
    const size_t n_blocks = m->n_cols / KERN_QK_K;
    const kern_block_q8_k *x[BATCH];
#pragma GCC unroll 4
    for (int k = 0; k < nb; k++) {
        x[k] = (const kern_block_q8_k *)((const char *)m->xq + (b0 + (size_t)k) * m->xq_row_bytes);
    }
    for (size_t r = lo; r < hi; r++) {
        const char *row = (const char *)m->w + r * m->w_row_bytes;
        __m256 acc[BATCH];
        __m128 accm[BATCH];
#pragma GCC unroll 4
        for (int k = 0; k < nb; k++) {
            acc[k] = _mm256_setzero_ps();
            accm[k] = _mm_setzero_ps();
        }
        for (size_t i = 0; i < n_blocks; i++) {
            kdec kd;
            decode_k(t, row, i, &kd);
#pragma GCC unroll 4
            for (int k = 0; k < nb; k++) {
                const kern_block_q8_k *y = x[k] + i;
                __m512i sum = _mm512_setzero_si512();
                for (int u = 0; u < 4; u++) {
                    const __m512i yq = _mm512_loadu_si512((const void *)(y->qs + 64 * u));
                    sum = _mm512_dpwssd_epi32(sum, _mm512_maddubs_epi16(kd.q[u], yq), kd.sc[u]);
                }
                __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(sum),
                                              _mm512_extracti64x4_epi64(sum, 1));
                const __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
                if (t == KERN_TYPE_Q6_K) {
                    /* The levels were stored + 32: take 32 * scale * group sum back out. */
                    const __m256i corr = _mm256_madd_epi16(kd.sc16, bs);
                    s8 = _mm256_sub_epi32(s8, _mm256_slli_epi32(corr, 5));
                } else {
                    const __m128i pairs =
                        _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
                    const __m128i mins = _mm_madd_epi16(kd.mins, pairs);
                    accm[k] =
                        _mm_fmadd_ps(_mm_set1_ps(y->d * kd.dmin), _mm_cvtepi32_ps(mins), accm[k]);
                }
                acc[k] =
                    _mm256_fmadd_ps(_mm256_set1_ps(y->d * kd.d), _mm256_cvtepi32_ps(s8), acc[k]);
            }
        }
#pragma GCC unroll 4
        for (int k = 0; k < nb; k++) {
            const __m128 a4 =
                _mm_add_ps(_mm256_castps256_ps128(acc[k]), _mm256_extractf128_ps(acc[k], 1));
            const __m128 d4 = _mm_sub_ps(a4, accm[k]);
            const __m128 d2 = _mm_add_ps(d4, _mm_movehl_ps(d4, d4));
            m->y[(b0 + (size_t)k) * m->y_stride + r] =
                _mm_cvtss_f32(_mm_add_ss(d2, _mm_movehdup_ps(d2)));
        }
    }
}

#define DISPATCH_BATCH(fn, t)                                                                      \
    do {                                                                                           \
        for (size_t b0 = 0; b0 < m->n_batch; b0 += BATCH) {                                        \
            switch (m->n_batch - b0 < BATCH ? m->n_batch - b0 : BATCH) {                           \
            case 1:                                                                                \
                fn(m, lo, hi, b0, 1, t);                                                           \
                break;                                                                             \
            case 2:                                                                                \
                fn(m, lo, hi, b0, 2, t);                                                           \
                break;                                                                             \
            case 3:                                                                                \
                fn(m, lo, hi, b0, 3, t);                                                           \
                break;                                                                             \
            default:                                                                               \
                fn(m, lo, hi, b0, 4, t);                                                           \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void matmul_q5_k(const kern_matmul *m, size_t lo, size_t hi)
{
    DISPATCH_BATCH(rows_k, KERN_TYPE_Q5_K);
}

void kern_matmul_avx512(const kern_matmul *m, size_t ith, size_t nth)
{
    size_t lo;
    size_t hi;
    if (m->w_packed) {
        /* Packed weights come in groups of KERN_PACK_ROWS: shares start on a group. */
        const size_t n_groups = (m->n_rows + KERN_PACK_ROWS - 1) / KERN_PACK_ROWS;
        kern__split(n_groups, ith, nth, &lo, &hi);
        lo *= KERN_PACK_ROWS;
        hi = hi * KERN_PACK_ROWS < m->n_rows ? hi * KERN_PACK_ROWS : m->n_rows;
        const bool done = kern__gemm_avx512(m, lo, hi);
        CORE_ASSERT(done);
        return;
    }
    kern__split(m->n_rows, ith, nth, &lo, &hi);
    if (m->n_batch >= KERN_GEMM_MIN_BATCH && kern__gemm_avx512(m, lo, hi)) {
        return;
    }
    /* The batched kernel takes every type it knows at every batch size (a row's result must not
     * depend on its batch); Q5_K has only the row-wise path here. */
    switch (m->w_type) {
    case KERN_TYPE_Q5_K:
        matmul_q5_k(m, lo, hi);
        return;
    default:
        kern_matmul_avx2(m, ith, nth);
        return;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Activation quantizers (bit-exact with the reference)                                       */
/* ------------------------------------------------------------------------------------------ */

/* roundf of 16 floats: truncate, then step away from zero when the fraction is >= 0.5. */
static inline __m512i roundf_epi32(__m512 v)
{
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    const __mmask16 ge = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512i sign =
        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u));
    const __m512 one =
        _mm512_castsi512_ps(_mm512_or_si512(sign, _mm512_castps_si512(_mm512_set1_ps(1.0f))));
    return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, ge, t, one));
}

/* Quantizes 32 values by id with roundf into q; returns their sum. */
static inline int quant32(const float *x, float id, int8_t *q)
{
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i a = roundf_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), vid));
    const __m512i b = roundf_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16), vid));
    _mm_storeu_si128((__m128i *)q, _mm512_cvtepi32_epi8(a));
    _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtepi32_epi8(b));
    return _mm512_reduce_add_epi32(_mm512_add_epi32(a, b));
}

/* kern_f32_to_f16 by F16C (round to nearest even, bit for bit the same), inline: the call
 * cost the quantizers a vzeroupper and spilled their vectors, over half of their time. */
static inline uint16_t f16_rne(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static inline float absmax32(const float *x)
{
    return _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x)), _mm512_abs_ps(_mm512_loadu_ps(x + 16))));
}

static void quantize_q8_0(const float *restrict x, kern_block_q8_0 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        const float d = absmax32(x) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f16_rne(d);
        quant32(x, id, y[i].qs);
    }
}

static void quantize_q8_1(const float *restrict x, kern_block_q8_1 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        const float d = absmax32(x) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f16_rne(d);
        const int sum = quant32(x, id, y[i].qs);
        y[i].s = f16_rne((float)sum * d);
    }
}

static void quantize_q8_k(const float *restrict x, kern_block_q8_k *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK_K) {
        __m512 mx = _mm512_setzero_ps();
        for (int j = 0; j < KERN_QK_K; j += 16) {
            mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        }
        const float amax = _mm512_reduce_max_ps(mx);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        /* The reference keeps the first value of largest magnitude, with its sign. */
        float max = 0.0f;
        for (int j = 0; j < KERN_QK_K; j++) {
            if (fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m512 vis = _mm512_set1_ps(iscale);
        for (int g = 0; g < KERN_QK_K / 16; g++) {
            /* cvtps rounds to nearest even under the default MXCSR, like nearest_int. */
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), vis));
            v = _mm512_min_epi32(v, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * g), _mm512_cvtepi32_epi8(v));
            y[i].bsums[g] = (int16_t)_mm512_reduce_add_epi32(v);
        }
        y[i].d = 1 / iscale;
    }
}

/* F16 with F16C's round to nearest even, which is kern_f32_to_f16 bit for bit. */
static void convert_f16(const float *restrict x, uint16_t *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(k, x + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(y + i, k, h);
    }
}

void kern_quantize_row_avx512(kern_type t, const float *restrict x, void *restrict y, size_t n)
{
    switch (t) {
    case KERN_TYPE_F16:
        convert_f16(x, y, n);
        return;
    case KERN_TYPE_Q8_0:
        quantize_q8_0(x, y, n / KERN_QK);
        return;
    case KERN_TYPE_Q8_1:
        quantize_q8_1(x, y, n / KERN_QK);
        return;
    case KERN_TYPE_Q8_K:
        quantize_q8_k(x, y, n / KERN_QK_K);
        return;
    default:
        kern_quantize_row_ref(t, x, y, n);
        return;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Attention                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* e^x of 16 floats: Cephes' expf polynomial on x - n ln2, scaled by 2^n; within 2 ulp of expf
 * (0 below -104, inf above 88.7 as scalef overflows; callers keep x <= 104). */
static inline __m512 exp_ps(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 round_f16_ps(__m512 x)
{
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* The 16 lanes of q . k before the final sum: k in f16 at kh (direct), else in floats at kf. */
static inline __attribute__((always_inline)) __m512
key_dot(const __m512 q[16], size_t nv, const bool direct, const uint16_t *kh, const float *kf)
{
    __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (size_t v = 0; v < nv; v++) {
        const __m512 kk = direct
                              ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kh + 16 * v)))
                              : _mm512_load_ps(kf + 16 * v);
        acc = _mm512_fmadd_ps(q[v], kk, acc);
    }
    return acc;
}

/* a and b shuffled two ways (immediates i0 and i1) and added: by 128-bit lanes, or by floats
 * within lanes. Macros, as the immediates must be constants. */
#define ADD_LANES(a, b, i0, i1)                                                                    \
    _mm512_add_ps(_mm512_shuffle_f32x4((a), (b), (i0)), _mm512_shuffle_f32x4((a), (b), (i1)))
#define ADD_FLOATS(a, b, i0, i1)                                                                   \
    _mm512_add_ps(_mm512_shuffle_ps((a), (b), (i0)), _mm512_shuffle_ps((a), (b), (i1)))

/* The sums of the 16 vectors p[0..15], in one vector, by a tree of shuffles and adds. */
static inline __attribute__((always_inline)) __m512 reduce16(__m512 p[16])
{
    for (int i = 0; i < 8; i++) {
        p[i] = ADD_LANES(p[i], p[i + 8], 0x44, 0xEE); /* lanes 0-1: p[i], 2-3: p[i+8] */
    }
    for (int i = 0; i < 4; i++) {
        p[i] = ADD_LANES(p[i], p[i + 4], 0x88, 0xDD); /* lanes: i, i+8, i+4, i+12 */
    }
    for (int i = 0; i < 2; i++) {
        p[i] = ADD_FLOATS(p[i], p[i + 2], 0x44, 0xEE);
    }
    /* Lane 0 holds sums 0 2 1 3, lane 1 8 10 9 11, lane 2 4 6 5 7, lane 3 12 14 13 15. */
    const __m512 d = ADD_FLOATS(p[0], p[1], 0x88, 0xDD);
    const __m512i idx = _mm512_set_epi32(15, 13, 14, 12, 7, 5, 6, 4, 11, 9, 10, 8, 3, 1, 2, 0);
    return _mm512_permutexvar_ps(idx, d);
}

#define ATTN_KEYS   16 /* keys converted to floats at a time */
#define ATTN_HD_MAX 256

/* The mask of the first n - j of 16 lanes. */
static inline __mmask16 tail_mask(size_t n, size_t j)
{
    return n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
}

/*
 * Scores of every head of the group: each block of 16 keys is converted from f16 once and kept
 * in kf (a lone head, direct, reads them as f16), and each head's f16-rounded query is dotted
 * with it in registers (the products in the order of one head alone); a full block's 16 sums
 * come from one shuffle tree.
 */
static inline __attribute__((always_inline)) void attn_scores(const kern_attn *a, size_t nq,
                                                              const size_t nv, const bool direct)
{
    const size_t n = a->n_kv;
    const size_t hd = 16 * nv;
    float kf[ATTN_KEYS * ATTN_HD_MAX] __attribute__((aligned(64)));
    for (size_t j = 0; j < n; j += ATTN_KEYS) {
        const size_t m = n - j < ATTN_KEYS ? n - j : ATTN_KEYS;
        for (size_t i = 0; i < m && !direct; i++) {
            const uint16_t *k = a->k + (j + i) * a->kv_stride;
#pragma GCC unroll 16
            for (size_t v = 0; v < nv; v++) {
                _mm512_store_ps(kf + i * hd + 16 * v,
                                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + 16 * v))));
            }
        }
        for (size_t h = 0; h < nq; h++) {
            const float *qh = a->q + h * a->q_stride;
            float *s = a->scores + h * n;
            __m512 q[16];
#pragma GCC unroll 16
            for (size_t v = 0; v < 16; v++) {
                q[v] = v < nv ? round_f16_ps(_mm512_loadu_ps(qh + 16 * v)) : _mm512_setzero_ps();
            }
            if (m == ATTN_KEYS) {
                __m512 acc[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) {
                    acc[i] = key_dot(q, nv, direct, a->k + (j + (size_t)i) * a->kv_stride,
                                     kf + (size_t)i * hd);
                }
                _mm512_storeu_ps(s + j, reduce16(acc));
            } else {
                for (size_t i = 0; i < m; i++) {
                    s[j + i] = _mm512_reduce_add_ps(
                        key_dot(q, nv, direct, a->k + (j + i) * a->kv_stride, kf + i * hd));
                }
            }
        }
    }
}

/* Softmax of scale * s, as kern_softmax_ref, then the probabilities rounded to f16. */
static inline __attribute__((always_inline)) void attn_softmax(float *s, size_t n, float scale_f)
{
    const __m512 scale = _mm512_set1_ps(scale_f);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (size_t j = 0; j < n; j += 16) {
        const __mmask16 km = tail_mask(n, j);
        const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(km, s + j), scale);
        _mm512_mask_storeu_ps(s + j, km, x);
        mx = _mm512_mask_max_ps(mx, km, mx, x);
    }
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512d sum0 = _mm512_setzero_pd();
    __m512d sum1 = _mm512_setzero_pd();
    for (size_t j = 0; j < n; j += 16) {
        const __mmask16 km = tail_mask(n, j);
        const __m512 e =
            _mm512_maskz_mov_ps(km, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(km, s + j), vmax)));
        _mm512_mask_storeu_ps(s + j, km, e);
        sum0 = _mm512_add_pd(sum0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        sum1 = _mm512_add_pd(sum1, _mm512_cvtps_pd(_mm256_castpd_ps(
                                       _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    const __m512 inv =
        _mm512_set1_ps((float)(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(sum0, sum1))));
    for (size_t j = 0; j < n; j += 16) {
        const __mmask16 km = tail_mask(n, j);
        const __m512 p = round_f16_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(km, s + j), inv));
        _mm512_mask_storeu_ps(s + j, km, p);
    }
}

/* Outputs of heads [h0, h0 + nh) of the group: each value row is converted once and weighted
 * by each head's probability, accumulated in registers in the order of one head alone. */
static inline __attribute__((always_inline)) void attn_values(const kern_attn *a, size_t h0,
                                                              const size_t nh, const size_t nv)
{
    __m512 out[4][16];
#pragma GCC unroll 4
    for (size_t h = 0; h < 4; h++) {
#pragma GCC unroll 16
        for (size_t v = 0; v < 16; v++) {
            out[h][v] = _mm512_setzero_ps();
        }
    }
    const float *s = a->scores + h0 * a->n_kv;
    for (size_t j = 0; j < a->n_kv; j++) {
        const uint16_t *vr = a->v + j * a->kv_stride;
        __m512 vv[16];
#pragma GCC unroll 16
        for (size_t v = 0; v < 16; v++) {
            vv[v] = v < nv ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + 16 * v)))
                           : _mm512_setzero_ps();
        }
#pragma GCC unroll 4
        for (size_t h = 0; h < nh; h++) {
            const __m512 p = _mm512_set1_ps(s[h * a->n_kv + j]);
#pragma GCC unroll 16
            for (size_t v = 0; v < nv; v++) {
                out[h][v] = _mm512_fmadd_ps(p, vv[v], out[h][v]);
            }
        }
    }
#pragma GCC unroll 4
    for (size_t h = 0; h < nh; h++) {
        float *o = a->out + (h0 + h) * a->q_stride;
#pragma GCC unroll 16
        for (size_t v = 0; v < nv; v++) {
            _mm512_storeu_ps(o + 16 * v, out[h][v]);
        }
    }
}

/*
 * As the reference: scores of the f16-rounded query against each key, softmax (sum in double),
 * and the f16-rounded probabilities times the values, for every head of the group with its
 * keys and values converted once (head_dim a multiple of 16, at most 256; else the AVX2
 * version). Heads share the value pass up to chunk (1..4) at a time, as registers allow.
 */
static inline __attribute__((always_inline)) void attn_body(const kern_attn *a, const size_t nv,
                                                            const size_t chunk)
{
    const size_t nq = a->n_q > 1 ? a->n_q : 1;
    if (nq == 1) {
        attn_scores(a, 1, nv, true);
    } else {
        attn_scores(a, nq, nv, false);
    }
    for (size_t h = 0; h < nq; h++) {
        attn_softmax(a->scores + h * a->n_kv, a->n_kv, a->scale);
    }
    for (size_t h0 = 0; h0 < nq; h0 += chunk) {
        const size_t nh = nq - h0 < chunk ? nq - h0 : chunk;
        if (chunk >= 4 && nh == 4) {
            attn_values(a, h0, 4, nv);
        } else if (chunk >= 3 && nh == 3) {
            attn_values(a, h0, 3, nv);
        } else if (chunk >= 2 && nh == 2) {
            attn_values(a, h0, 2, nv);
        } else {
            attn_values(a, h0, 1, nv);
        }
    }
}

void kern_attn_avx512(const kern_attn *a)
{
    const size_t hd = a->head_dim;
    if (hd % 16 != 0 || hd > ATTN_HD_MAX) {
        kern_attn_avx2(a);
        return;
    }
    /* Constant head sizes keep the query and the output in registers. */
    switch (hd) {
    case 64:
        attn_body(a, 4, 4);
        return;
    case 128:
        attn_body(a, 8, 2);
        return;
    case 256:
        attn_body(a, 16, 1);
        return;
    default:
        attn_body(a, hd / 16, 1);
        return;
    }
}

/* y = g / (1 + e^-g) * u, as the reference with exp_ps for expf; y may equal g. */
void kern_swiglu_avx512(float *y, const float *g, const float *u, size_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 k = tail_mask(n, i);
        const __m512 gv = _mm512_maskz_loadu_ps(k, g + i);
        const __m512 e =
            exp_ps(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), gv), _mm512_set1_ps(104.0f)));
        const __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, u + i)));
    }
}
