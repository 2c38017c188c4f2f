/*
 * Private to kernels/cpu/x86/: decoding of K-quant super-blocks (Q4_K, Q5_K, Q6_K) into 256-bit
 * vectors of unsigned levels with their scales, shared by the AVX2 and the AVX-512 matmul files
 * (both are compiled with at least -mavx2 -mfma -mf16c). Everything here is static inline.
 */
#ifndef KILN_KERNELS_X86_DECODE_K_H
#define KILN_KERNELS_X86_DECODE_K_H

#include "kernels/kern_impl.h"

#include <immintrin.h>

static inline float f16_to_f32(uint16_t h)
{
    return _cvtsh_ss(h);
}

/*
 * Decoded K super-block: 8 vectors of 32 unsigned levels (Q6_K: level + 32) for values
 * 32v .. 32v + 31, the int16 madd scale vector of each (two 16-value groups per vector), and
 * what the activation's bsums need: the mins (Q4_K/Q5_K) or the 16 group scales (Q6_K).
 */
typedef struct kdec256 {
    __m256i q[8];
    __m256i sc[8];
    __m128i mins; /* 8 x int16 */
    __m256i sc16; /* 16 x int16 */
    float d;
    float dmin;
} kdec256;

/*
 * Unpacks Q4_K/Q5_K's 12 scale bytes into 8 scales (bytes 0..7 of out) and 8 mins (8..15):
 * the same bits kern__scale_min_k4 reads, moved with 32-bit masks instead of byte by byte.
 */
static inline void unpack_scales_k4(const uint8_t *scales, uint32_t out[4])
{
    const uint32_t m6 = 0x3f3f3f3f;
    const uint32_t m4 = 0x0f0f0f0f;
    const uint32_t m2 = 0x03030303;
    uint32_t u[3];
    memcpy(u, scales, sizeof(u));
    out[0] = u[0] & m6;
    out[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);
    out[2] = u[1] & m6;
    out[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);
}

/* Broadcasts int16 word w0 over the low 128-bit lane and w1 over the high one. */
static inline __m256i word_pair(__m256i v, int w0, int w1)
{
    const __m256i idx = _mm256_set_m128i(_mm_set1_epi16((short)(0x0100 + 0x0202 * w1)),
                                         _mm_set1_epi16((short)(0x0100 + 0x0202 * w0)));
    return _mm256_shuffle_epi8(v, idx);
}

static inline __attribute__((always_inline)) void decode_k256(kern_type t, const char *row,
                                                              size_t i, kdec256 *kd)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    if (t == KERN_TYPE_Q6_K) {
        const kern_block_q6_k *b = (const kern_block_q6_k *)row + i;
        const uint8_t *ql = b->ql;
        const uint8_t *qh = b->qh;
        for (int n = 0; n < 2; n++, ql += 64, qh += 32) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x03)), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x0C)), 2);
            const __m256i h2 = _mm256_and_si256(h, _mm256_set1_epi8(0x30));
            const __m256i h3 = _mm256_srli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(-64)), 2);
            kd->q[4 * n + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4), h0);
            kd->q[4 * n + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4), h1);
            kd->q[4 * n + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), h2);
            kd->q[4 * n + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), h3);
        }
        kd->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
        const __m256i lo = _mm256_permute2x128_si256(kd->sc16, kd->sc16, 0x00);
        const __m256i hi = _mm256_permute2x128_si256(kd->sc16, kd->sc16, 0x11);
        for (int v = 0; v < 4; v++) {
            kd->sc[v] = word_pair(lo, 2 * v, 2 * v + 1);
            kd->sc[v + 4] = word_pair(hi, 2 * v, 2 * v + 1);
        }
        kd->d = f16_to_f32(b->d);
        return;
    }
    const uint8_t *scales;
    const uint8_t *qs;
    __m256i hbits = _mm256_setzero_si256();
    const bool has_h = t == KERN_TYPE_Q5_K;
    if (t == KERN_TYPE_Q4_K) {
        const kern_block_q4_k *b = (const kern_block_q4_k *)row + i;
        scales = b->scales;
        qs = b->qs;
        kd->d = f16_to_f32(b->d);
        kd->dmin = f16_to_f32(b->dmin);
    } else {
        const kern_block_q5_k *b = (const kern_block_q5_k *)row + i;
        scales = b->scales;
        qs = b->qs;
        hbits = _mm256_loadu_si256((const __m256i *)b->qh);
        kd->d = f16_to_f32(b->d);
        kd->dmin = f16_to_f32(b->dmin);
    }
    for (int j = 0; j < 4; j++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
        __m256i lo = _mm256_and_si256(v, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if (has_h) {
            /* Sub-block 2j's fifth bits are bit 2j of qh[l], sub-block 2j+1's bit 2j+1. */
            const __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * j)));
            const __m256i b1 = _mm256_set1_epi8((char)(2 << (2 * j)));
            const __m256i s16 = _mm256_set1_epi8(16);
            lo = _mm256_or_si256(
                lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, b0), b0), s16));
            hi = _mm256_or_si256(
                hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, b1), b1), s16));
        }
        kd->q[2 * j] = lo;
        kd->q[2 * j + 1] = hi;
    }
    uint32_t u[4];
    unpack_scales_k4(scales, u);
    const __m128i sm = _mm_loadu_si128((const __m128i *)u);
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    for (int j = 0; j < 8; j++) {
        kd->sc[j] = word_pair(sc, j, j);
    }
    kd->mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
}

#endif /* KILN_KERNELS_X86_DECODE_K_H */
