/*
 * AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c; called only when the CPU has
 * them). matmul for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (32-value blocks: an integer dot per block with
 * maddubs, then the block's scale in float) and Q4_K, Q5_K, Q6_K (an integer dot per super-block
 * with the sub-block scales applied through madd, the mins and Q6_K's -32 offset through the
 * activation's bsums). Each weight block is decoded once and dotted with up to four activation
 * rows, so a batch reads its weights once per four tokens. The Q8_0/Q8_1/Q8_K quantizers equal
 * the reference bit for bit: the same float multiply, roundf as truncate-and-adjust (exact), and
 * round-to-nearest-even conversion for Q8_K's nearest_int. Also rmsnorm and attention.
 * Technique after ggml-cpu/arch/x86/quants.c (maddubs with the sign trick for signed weights).
 */
#include "kernels/kern_impl.h"
#include "kernels/cpu/x86/decode_k.h"

#include <immintrin.h>
#include <math.h>

#define BATCH 4

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles (values 0..15) then high (16..31). */
static inline __m256i unpack_nibbles(const uint8_t *qs)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* The 32 bits of qh -> 32 bytes, 0x10 where the bit is set. */
static inline __m256i unpack_bit4(const uint8_t *qh)
{
    uint32_t v;
    memcpy(&v, qh, sizeof(v));
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bits), bits);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/* Sums of 8 groups of 4 products of unsigned u and signed s bytes, as int32. */
static inline __m256i dot_us(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* ------------------------------------------------------------------------------------------ */
/* Matmul, 32-value blocks                                                                    */
/* ------------------------------------------------------------------------------------------ */

/*
 * Decoded weight block. Unsigned types keep q as is; signed types keep |q| in q and the sign
 * in sgn, applied to the activations (maddubs needs an unsigned first operand).
 */
typedef struct wdec {
    __m256i q;
    __m256i sgn;
    float d;
    float m;
} wdec;

static inline __attribute__((always_inline)) void decode32(kern_type t, const char *row, size_t i,
                                                           wdec *w)
{
    __m256i s;
    switch (t) {
    case KERN_TYPE_Q4_0: {
        const kern_block_q4_0 *b = (const kern_block_q4_0 *)row + i;
        s = _mm256_sub_epi8(unpack_nibbles(b->qs), _mm256_set1_epi8(8));
        w->d = f16_to_f32(b->d);
        break;
    }
    case KERN_TYPE_Q4_1: {
        const kern_block_q4_1 *b = (const kern_block_q4_1 *)row + i;
        w->q = unpack_nibbles(b->qs);
        w->d = f16_to_f32(b->d);
        w->m = f16_to_f32(b->m);
        return;
    }
    case KERN_TYPE_Q5_0: {
        const kern_block_q5_0 *b = (const kern_block_q5_0 *)row + i;
        s = _mm256_or_si256(unpack_nibbles(b->qs), unpack_bit4(b->qh));
        s = _mm256_sub_epi8(s, _mm256_set1_epi8(16));
        w->d = f16_to_f32(b->d);
        break;
    }
    case KERN_TYPE_Q5_1: {
        const kern_block_q5_1 *b = (const kern_block_q5_1 *)row + i;
        w->q = _mm256_or_si256(unpack_nibbles(b->qs), unpack_bit4(b->qh));
        w->d = f16_to_f32(b->d);
        w->m = f16_to_f32(b->m);
        return;
    }
    default: {
        const kern_block_q8_0 *b = (const kern_block_q8_0 *)row + i;
        s = _mm256_loadu_si256((const __m256i *)b->qs);
        w->d = f16_to_f32(b->d);
        break;
    }
    }
    w->q = _mm256_sign_epi8(s, s);
    w->sgn = s;
}

/* Rows [lo, hi) of the batch rows [b0, b0 + nb); nb is a constant after inlining. */
static inline __attribute__((always_inline)) void rows32(const kern_matmul *m, size_t lo, size_t hi,
                                                         size_t b0, const int nb, const kern_type t)
{
    const bool has_min = t == KERN_TYPE_Q4_1 || t == KERN_TYPE_Q5_1;
    const size_t y_bytes = has_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const size_t n_blocks = m->n_cols / KERN_QK;
    const char *x[BATCH];
#pragma GCC unroll 4
    for (int k = 0; k < nb; k++) {
        x[k] = (const char *)m->xq + (b0 + (size_t)k) * m->xq_row_bytes;
    }
    for (size_t r = lo; r < hi; r++) {
        const char *row = (const char *)m->w + r * m->w_row_bytes;
        __m256 acc[BATCH];
        float accm[BATCH];
#pragma GCC unroll 4
        for (int k = 0; k < nb; k++) {
            acc[k] = _mm256_setzero_ps();
            accm[k] = 0.0f;
        }
        for (size_t i = 0; i < n_blocks; i++) {
            wdec w;
            decode32(t, row, i, &w);
#pragma GCC unroll 4
            for (int k = 0; k < nb; k++) {
                const char *yb = x[k] + i * y_bytes;
                /* Both activation layouts keep d first and the 32 quants last. */
                const __m256i yq = _mm256_loadu_si256((const __m256i *)(yb + y_bytes - KERN_QK));
                uint16_t yd;
                memcpy(&yd, yb, sizeof(yd));
                __m256i p;
                if (has_min) {
                    uint16_t ys;
                    memcpy(&ys, yb + 2, sizeof(ys));
                    p = dot_us(w.q, yq);
                    accm[k] += w.m * f16_to_f32(ys);
                } else {
                    p = dot_us(w.q, _mm256_sign_epi8(yq, w.sgn));
                }
                const __m256 dd = _mm256_set1_ps(w.d * f16_to_f32(yd));
                acc[k] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(p), acc[k]);
            }
        }
#pragma GCC unroll 4
        for (int k = 0; k < nb; k++) {
            m->y[(b0 + (size_t)k) * m->y_stride + r] = hsum_ps(acc[k]) + accm[k];
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Matmul, K super-blocks                                                                     */
/* ------------------------------------------------------------------------------------------ */

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
            kdec256 kd;
            decode_k256(t, row, i, &kd);
#pragma GCC unroll 4
            for (int k = 0; k < nb; k++) {
                const kern_block_q8_k *y = x[k] + i;
                __m256i sum = _mm256_setzero_si256();
                for (int v = 0; v < 8; v++) {
                    const __m256i yq = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * v));
                    const __m256i p = _mm256_maddubs_epi16(kd.q[v], yq);
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, kd.sc[v]));
                }
                const __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
                if (t == KERN_TYPE_Q6_K) {
                    /* The levels were stored + 32: take 32 * scale * group sum back out. */
                    const __m256i corr = _mm256_madd_epi16(kd.sc16, bs);
                    sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(corr, 5));
                } else {
                    const __m128i pairs =
                        _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
                    const __m128i mins = _mm_madd_epi16(kd.mins, pairs);
                    accm[k] =
                        _mm_fmadd_ps(_mm_set1_ps(y->d * kd.dmin), _mm_cvtepi32_ps(mins), accm[k]);
                }
                acc[k] =
                    _mm256_fmadd_ps(_mm256_set1_ps(y->d * kd.d), _mm256_cvtepi32_ps(sum), acc[k]);
            }
        }
#pragma GCC unroll 4
        for (int k = 0; k < nb; k++) {
            const __m128 m4 = _mm_add_ps(accm[k], _mm_movehl_ps(accm[k], accm[k]));
            const float mins = _mm_cvtss_f32(_mm_add_ss(m4, _mm_movehdup_ps(m4)));
            m->y[(b0 + (size_t)k) * m->y_stride + r] = hsum_ps(acc[k]) - mins;
        }
    }
}

/* Instantiates the row loop for one weight type with the batch group size as a constant. */
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

static void matmul_q4_0(const kern_matmul *m, size_t lo, size_t hi)
{
    DISPATCH_BATCH(rows32, KERN_TYPE_Q4_0);
}

static void matmul_q4_1(const kern_matmul *m, size_t lo, size_t hi)
{
    DISPATCH_BATCH(rows32, KERN_TYPE_Q4_1);
}

static void matmul_q5_0(const kern_matmul *m, size_t lo, size_t hi)
{
    DISPATCH_BATCH(rows32, KERN_TYPE_Q5_0);
}

static void matmul_q5_1(const kern_matmul *m, size_t lo, size_t hi)
{
    DISPATCH_BATCH(rows32, KERN_TYPE_Q5_1);
}

static void matmul_q8_0(const kern_matmul *m, size_t lo, size_t hi)
{
    DISPATCH_BATCH(rows32, KERN_TYPE_Q8_0);
}

static void matmul_q4_k(const kern_matmul *m, size_t lo, size_t hi)
{
    DISPATCH_BATCH(rows_k, KERN_TYPE_Q4_K);
}

static void matmul_q5_k(const kern_matmul *m, size_t lo, size_t hi)
{
    DISPATCH_BATCH(rows_k, KERN_TYPE_Q5_K);
}

static void matmul_q6_k(const kern_matmul *m, size_t lo, size_t hi)
{
    DISPATCH_BATCH(rows_k, KERN_TYPE_Q6_K);
}

/* F16 weights x F16 activations: convert with F16C and accumulate in float. */
static void matmul_f16(const kern_matmul *m, size_t lo, size_t hi)
{
    for (size_t b = 0; b < m->n_batch; b++) {
        const void *xrow = (const char *)m->xq + b * m->xq_row_bytes;
        const uint16_t *x = xrow;
        for (size_t r = lo; r < hi; r++) {
            const void *wrow = (const char *)m->w + r * m->w_row_bytes;
            const uint16_t *w = wrow;
            __m256 acc = _mm256_setzero_ps();
            size_t j = 0;
            for (; j + 8 <= m->n_cols; j += 8) {
                const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + j)));
                const __m256 c = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + j)));
                acc = _mm256_fmadd_ps(a, c, acc);
            }
            float s = hsum_ps(acc);
            for (; j < m->n_cols; j++) {
                s += f16_to_f32(w[j]) * f16_to_f32(x[j]);
            }
            m->y[b * m->y_stride + r] = s;
        }
    }
}

static void matmul_f32(const kern_matmul *m, size_t lo, size_t hi)
{
    for (size_t b = 0; b < m->n_batch; b++) {
        const void *xrow = (const char *)m->xq + b * m->xq_row_bytes;
        const float *x = xrow;
        for (size_t r = lo; r < hi; r++) {
            const void *wrow = (const char *)m->w + r * m->w_row_bytes;
            const float *w = wrow;
            __m256 acc = _mm256_setzero_ps();
            size_t j = 0;
            for (; j + 8 <= m->n_cols; j += 8) {
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), _mm256_loadu_ps(x + j), acc);
            }
            float s = hsum_ps(acc);
            for (; j < m->n_cols; j++) {
                s += w[j] * x[j];
            }
            m->y[b * m->y_stride + r] = s;
        }
    }
}

void kern_matmul_avx2(const kern_matmul *m, size_t ith, size_t nth)
{
    /* Only ggml's layout here: this variant has no pack. */
    CORE_ASSERT(!m->w_packed);
    size_t lo;
    size_t hi;
    kern__split(m->n_rows, ith, nth, &lo, &hi);
    switch (m->w_type) {
    case KERN_TYPE_Q4_0:
        matmul_q4_0(m, lo, hi);
        return;
    case KERN_TYPE_Q4_1:
        matmul_q4_1(m, lo, hi);
        return;
    case KERN_TYPE_Q5_0:
        matmul_q5_0(m, lo, hi);
        return;
    case KERN_TYPE_Q5_1:
        matmul_q5_1(m, lo, hi);
        return;
    case KERN_TYPE_Q8_0:
        matmul_q8_0(m, lo, hi);
        return;
    case KERN_TYPE_Q4_K:
        matmul_q4_k(m, lo, hi);
        return;
    case KERN_TYPE_Q5_K:
        matmul_q5_k(m, lo, hi);
        return;
    case KERN_TYPE_Q6_K:
        matmul_q6_k(m, lo, hi);
        return;
    case KERN_TYPE_F16:
        matmul_f16(m, lo, hi);
        return;
    case KERN_TYPE_F32:
        matmul_f32(m, lo, hi);
        return;
    default:
        kern_matmul_generic(m, ith, nth);
        return;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Activation quantizers (bit-exact with the reference)                                       */
/* ------------------------------------------------------------------------------------------ */

static inline float hmax_ps(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* roundf: truncate, then step away from zero when the dropped fraction is >= 0.5 (exact). */
static inline __m256i roundf_epi32(__m256 v)
{
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_sub_ps(v, t);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 ge = _mm256_cmp_ps(_mm256_and_ps(frac, absmask), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_andnot_ps(absmask, v));
    return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(ge, one)));
}

/* 4 x 8 int32 in [-128, 127] -> 32 int8 in order. */
static inline __m256i pack_i8(__m256i a, __m256i b, __m256i c, __m256i d)
{
    const __m256i ab = _mm256_packs_epi32(a, b);
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i abcd = _mm256_packs_epi16(ab, cd);
    /* The packs interleave 128-bit lanes: restore the order of the dwords. */
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline float absmax32(const float *x)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_and_ps(_mm256_loadu_ps(x), absmask);
    for (int j = 8; j < KERN_QK; j += 8) {
        mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + j), absmask));
    }
    return hmax_ps(mx);
}

/* Quantizes 32 values by id with roundf; returns their sum. */
static inline int quant32(const float *x, float id, int8_t *q)
{
    const __m256 vid = _mm256_set1_ps(id);
    __m256i v[4];
    for (int k = 0; k < 4; k++) {
        v[k] = roundf_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid));
    }
    const __m256i p = pack_i8(v[0], v[1], v[2], v[3]);
    _mm256_storeu_si256((__m256i *)q, p);
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
    return hsum_epi32(s);
}

static void quantize_q8_0(const float *restrict x, kern_block_q8_0 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        const float d = absmax32(x) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        quant32(x, id, y[i].qs);
    }
}

static void quantize_q8_1(const float *restrict x, kern_block_q8_1 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        const float d = absmax32(x) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        const int sum = quant32(x, id, y[i].qs);
        y[i].s = kern_f32_to_f16((float)sum * d);
    }
}

static void quantize_q8_k(const float *restrict x, kern_block_q8_k *restrict y, size_t nb)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (size_t i = 0; i < nb; i++, x += KERN_QK_K) {
        __m256 mx = _mm256_setzero_ps();
        for (int j = 0; j < KERN_QK_K; j += 8) {
            mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + j), absmask));
        }
        const float amax = hmax_ps(mx);
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
        const __m256 vis = _mm256_set1_ps(iscale);
        const __m256i lim = _mm256_set1_epi32(127);
        for (int j = 0; j < KERN_QK_K; j += 32) {
            __m256i v[4];
            for (int k = 0; k < 4; k++) {
                /* cvtps rounds to nearest even under the default MXCSR, like nearest_int. */
                const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), vis);
                v[k] = _mm256_min_epi32(_mm256_cvtps_epi32(s), lim);
            }
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), pack_i8(v[0], v[1], v[2], v[3]));
        }
        for (int g = 0; g < KERN_QK_K / 16; g++) {
            const __m128i q = _mm_loadu_si128((const __m128i *)(y[i].qs + 16 * g));
            const __m256i w = _mm256_cvtepi8_epi16(q);
            const __m256i s = _mm256_madd_epi16(w, _mm256_set1_epi16(1));
            y[i].bsums[g] = (int16_t)hsum_epi32(s);
        }
        y[i].d = 1 / iscale;
    }
}

void kern_quantize_row_avx2(kern_type t, const float *restrict x, void *restrict y, size_t n)
{
    switch (t) {
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
/* rmsnorm and attention                                                                      */
/* ------------------------------------------------------------------------------------------ */

void kern_rmsnorm_avx2(float *y, const float *x, const float *w, size_t n, float eps)
{
    /* Squares summed in double, 4 lanes at a time, to stay as close to the reference as cheap. */
    __m256d acc0 = _mm256_setzero_pd();
    __m256d acc1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 sq = _mm256_mul_ps(v, v);
        acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(acc0, acc1));
    double sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < n; i++) {
        sum += (double)(x[i] * x[i]);
    }
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    const __m256 vs = _mm256_set1_ps(scale);
    i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
        if (w) {
            v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
        }
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++) {
        y[i] = w ? (x[i] * scale) * w[i] : x[i] * scale;
    }
}

/*
 * Scores with q rounded through f16 (F16C, round to nearest even) as the reference does; the
 * softmax is the reference's; the f16-rounded probabilities weight the values in float. Head
 * sizes that are not a multiple of 8 use the reference.
 */
void kern_attn_avx2(const kern_attn *a)
{
    if (a->n_q > 1) {
        for (size_t i = 0; i < a->n_q; i++) {
            const kern_attn h = kern__attn_head(a, i);
            kern_attn_avx2(&h);
        }
        return;
    }
    const size_t hd = a->head_dim;
    if (hd % 8 != 0) {
        kern_attn_ref(a);
        return;
    }
    for (size_t j = 0; j < a->n_kv; j++) {
        const uint16_t *k = a->k + j * a->kv_stride;
        __m256 acc = _mm256_setzero_ps();
        for (size_t d = 0; d < hd; d += 8) {
            const __m256 q = _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(a->q + d), 0));
            const __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + d)));
            acc = _mm256_fmadd_ps(q, kv, acc);
        }
        a->scores[j] = hsum_ps(acc);
    }
    kern_softmax_ref(a->scores, a->n_kv, a->scale);
    for (size_t d = 0; d < hd; d++) {
        a->out[d] = 0.0f;
    }
    for (size_t j = 0; j < a->n_kv; j++) {
        const uint16_t *v = a->v + j * a->kv_stride;
        const __m256 p = _mm256_set1_ps(f16_to_f32(kern_f32_to_f16(a->scores[j])));
        for (size_t d = 0; d < hd; d += 8) {
            const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d)));
            _mm256_storeu_ps(a->out + d, _mm256_fmadd_ps(p, vv, _mm256_loadu_ps(a->out + d)));
        }
    }
}
