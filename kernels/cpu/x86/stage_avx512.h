/*
 * Private to kernels/cpu/x86/: staging and transposing 16 weight rows of 32-value blocks into
 * the layout vpdpbusd and AMX tiles read (16 rows x 4 bytes per 64-byte vector), shared by the
 * AVX-512 batched matmul (gemm_avx512.c) and the AMX one (amx.c), which must stage K chunks of
 * the same size to sum floats in the same order. Both files are compiled with AVX-512 flags.
 */
#ifndef KILN_KERNELS_X86_STAGE_H
#define KILN_KERNELS_X86_STAGE_H

#include "kernels/kern_impl.h"

#include <immintrin.h>
#include <string.h>

/* 32-value blocks per K chunk (1024 values). */
#define KERN_STAGE_KB 32

static inline __m512 f16x16_to_ps(__m512i lanes)
{
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(lanes));
}

static inline float load_f16(const void *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof(h));
    return _cvtsh_ss(h);
}

/*
 * Staging of 16 rows for the transpose: each row's block bytes go to slot 4 (r % 4) + r / 4, so
 * that a 4 x 4 dword transpose inside each 128-bit lane of four 64-byte loads yields vectors in
 * row order. q[b][k][slot] holds bytes 16k..16k+15 of the quants; head[b][r] holds the block's
 * first 4 bytes (d, and m or the start of qh) and qh[b][r] the fifth bits.
 */
typedef struct stage16 {
    uint8_t q[KERN_STAGE_KB][2][16][16];
    uint32_t head[KERN_STAGE_KB][16];
    uint32_t qh[KERN_STAGE_KB][16];
} stage16;

/* Dwords 0..3 of the 16-byte lanes of z[0..3] -> o[0..3]: o[j] lane L position i = z[i] lane
 * L dword j. */
static inline void transpose4(const __m512i z[4], __m512i o[4])
{
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]);
    const __m512i t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]);
    const __m512i t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    o[0] = _mm512_unpacklo_epi64(t0, t2);
    o[1] = _mm512_unpackhi_epi64(t0, t2);
    o[2] = _mm512_unpacklo_epi64(t1, t3);
    o[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* Stages one row's blocks; pf, when not NULL, is the same span of the row PR rows further,
 * which is prefetched meanwhile so that memory reads overlap the work on this panel. */
static inline __attribute__((always_inline)) void
stage_row(kern_type t, const char *row, const char *pf, size_t nb, int r, stage16 *restrict st)
{
    const size_t bb = kern_type_block_bytes(t);
    const int slot = 4 * (r & 3) + (r >> 2);
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
    for (size_t b = 0; b < nb; b++, row += bb) {
        if (pf != NULL) {
            _mm_prefetch(pf + b * bb, _MM_HINT_T0);
        }
        memcpy(&st->head[b][r], row, sizeof(uint32_t));
        _mm_storeu_si128((__m128i *)st->q[b][0][slot],
                         _mm_loadu_si128((const __m128i *)(row + qs)));
        if (t == KERN_TYPE_Q8_0) {
            _mm_storeu_si128((__m128i *)st->q[b][1][slot],
                             _mm_loadu_si128((const __m128i *)(row + qs + 16)));
        }
        if (qh != 0) {
            memcpy(&st->qh[b][r], row + qh, sizeof(uint32_t));
        }
    }
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

/* The start value of a weight block's integer sum against activation block x (Q8_0 or Q8_1,
 * quants from byte 2 on Q8_0's layout): -offset * the sum of its quants, 0 without an offset
 * (Q4_1, Q5_1). Every kernel starts from it, so the integers agree bit for bit. */
static inline int32_t act_start(int32_t offset, const void *x)
{
    return offset != 0 ? -offset * sum_i8x32((const char *)x + 2) : 0;
}

/* Four rows' 16 bytes at a, b, c, d, one per 128-bit lane. */
static inline __attribute__((always_inline)) __m512i load4p(const char *a, const char *b,
                                                            const char *c, const char *d)
{
    const __m256i ab =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                _mm_loadu_si128((const __m128i *)b), 1);
    const __m256i cd =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)c)),
                                _mm_loadu_si128((const __m128i *)d), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(ab), cd, 1);
}

/* Four rows' 16 bytes at p, p + stride, p + 2 stride, p + 3 stride, one per 128-bit lane. */
static inline __m512i load4x16(const char *p, size_t stride)
{
    return load4p(p, p + stride, p + 2 * stride, p + 3 * stride);
}

/* Bytes [off, off + 16) of the 16 rows at p (row stride rb), transposed: o[g] holds bytes
 * off + 4g .. off + 4g + 3 of each row, rows in order. */
static inline __attribute__((always_inline)) void load16t(const char *p, size_t rb, __m512i o[4])
{
    __m512i z[4];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; i++) {
        z[i] = load4x16(p + i * rb, 4 * rb);
    }
    transpose4(z, o);
}

/* Bytes [off, off + 32) of the 16 rows at p, transposed into o[0..7]. */
static inline __attribute__((always_inline)) void load32t(const char *p, size_t rb, __m512i o[8])
{
    load16t(p, rb, o);
    load16t(p + 16, rb, o + 4);
}

/* a + the dots of w's dwords with the 4 bytes at x: vpdpbusd with its operand broadcast from
 * memory, which gcc 12 does not fold from the intrinsics (it issues a vpbroadcastd per product,
 * as many vector instructions again as the products in the few-token loop). */
static inline __attribute__((always_inline)) __m512i dpbusd_bcst(__m512i a, __m512i w,
                                                                 const char *x)
{
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(a) : "v"(w), "m"(*(const char(*)[4])x));
    return a;
}

/* ai[i] += the dots of w[0..7] (bytes 4g..4g+3 of 16 rows) with token i's 32 activation bytes
 * at x[i] + off, for the nt tokens: the products of one block in the few-token kernels. */
static inline __attribute__((always_inline)) void
dot_tokens(const int nt, __m512i *ai, const __m512i w[8], const char *const *x, size_t off)
{
#pragma GCC unroll 8
    for (int g = 0; g < 8; g++) {
#pragma GCC unroll 8
        for (int i = 0; i < nt; i++) {
            ai[i] = dpbusd_bcst(ai[i], w[g], x[i] + off + 4 * (size_t)g);
        }
    }
}

/*
 * Where pack_avx512.c's layout keeps block b of a group's K chunk of nb blocks (offsets from the
 * chunk's start): Q4_1 blocks run one after another as their 4 quant vectors, 16 f16 scales d
 * and 16 f16 mins m (320 bytes, 5 lines); Q4_0 and Q8_0 blocks run in pairs, both blocks' quant
 * vectors then both blocks' 16 scales (576 and 1088 bytes, whole lines), a last odd block alone.
 * So the chunk is read front to back and the hardware prefetchers follow it.
 */
static inline size_t packed_quant_bytes(kern_type t)
{
    return t == KERN_TYPE_Q8_0 ? 8 * 64 : 4 * 64;
}

/* Bytes of one block's scales (and mins) in the packed layout. */
static inline size_t packed_scale_bytes(kern_type t)
{
    return t == KERN_TYPE_Q4_1 ? 64 : 32;
}

static inline size_t packed_quants_at(kern_type t, size_t b)
{
    const size_t run = t == KERN_TYPE_Q4_1 ? 1 : 2;
    const size_t bg = packed_quant_bytes(t) + packed_scale_bytes(t);
    return (b - b % run) * bg + b % run * packed_quant_bytes(t);
}

/* The block's 16 scales d, and (Q4_1) its 16 mins 32 bytes on. */
static inline size_t packed_scales_at(kern_type t, size_t nb, size_t b)
{
    const size_t run = t == KERN_TYPE_Q4_1 ? 1 : 2;
    const size_t b0 = b - b % run;
    const size_t n_run = nb - b0 < run ? nb - b0 : run;
    const size_t bg = packed_quant_bytes(t) + packed_scale_bytes(t);
    return b0 * bg + n_run * packed_quant_bytes(t) + b % run * packed_scale_bytes(t);
}

/* In a function of (m, lo, hi): calls fn(tt, n_batch, m, lo, hi) with m->n_batch (1 to nmax,
 * nmax = 8) as a constant, so fn's token loops unroll, and returns. */
#define STAGE_FEW_CASE(fn, tt, n)                                                                  \
    case n:                                                                                        \
        fn(tt, n, m, lo, hi);                                                                      \
        return

#define STAGE_FEW_BATCH(fn, tt, nmax)                                                              \
    do {                                                                                           \
        _Static_assert((nmax) == 8, "cases 1 to 7, then nmax");                                    \
        switch (m->n_batch) {                                                                      \
            STAGE_FEW_CASE(fn, tt, 1);                                                             \
            STAGE_FEW_CASE(fn, tt, 2);                                                             \
            STAGE_FEW_CASE(fn, tt, 3);                                                             \
            STAGE_FEW_CASE(fn, tt, 4);                                                             \
            STAGE_FEW_CASE(fn, tt, 5);                                                             \
            STAGE_FEW_CASE(fn, tt, 6);                                                             \
            STAGE_FEW_CASE(fn, tt, 7);                                                             \
        default:                                                                                   \
            fn(tt, nmax, m, lo, hi);                                                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif /* KILN_KERNELS_X86_STAGE_H */
