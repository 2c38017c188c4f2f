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

#endif /* KILN_KERNELS_X86_STAGE_H */
