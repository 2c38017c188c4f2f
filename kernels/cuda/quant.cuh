/*
 * Device-side decoding of ggml's tensor types, shared by the CUDA kernels. A row is cut into
 * "subs" of 8 values; one call decodes one sub straight from its block, so a warp reads a row
 * with each lane on a different sub and no dequantized copy is ever made. A sub's 8 values sit
 * at two runs of 4 elements of the block (a .. a+3 and b .. b+3): that is how the 4-bit and
 * 5-bit types pack low and high nibbles, and the plain types use b = a + 4. Block layouts are
 * those of kernels/types.c (ggml's): scales first, then quants, all little-endian.
 */
#ifndef KILN_KERN_CUDA_QUANT_CUH
#define KILN_KERN_CUDA_QUANT_CUH

#include <cuda_fp16.h>
#include <stdint.h>

#include "kernels/kern.h"

/* Values per block and bytes per block of a type the engine reads; 0 for the others. */
__host__ __device__ static inline int kq_block_values(int type)
{
    switch (type) {
    case KERN_TYPE_F32:
    case KERN_TYPE_F16:
    case KERN_TYPE_BF16:
        return 8;
    case KERN_TYPE_Q4_0:
    case KERN_TYPE_Q4_1:
    case KERN_TYPE_Q5_0:
    case KERN_TYPE_Q5_1:
    case KERN_TYPE_Q8_0:
        return 32;
    case KERN_TYPE_Q4_K:
    case KERN_TYPE_Q5_K:
    case KERN_TYPE_Q6_K:
        return 256;
    default:
        return 0;
    }
}

__host__ __device__ static inline int kq_block_bytes(int type)
{
    switch (type) {
    case KERN_TYPE_F32:
        return 32;
    case KERN_TYPE_F16:
    case KERN_TYPE_BF16:
        return 16;
    case KERN_TYPE_Q4_0:
        return 18;
    case KERN_TYPE_Q4_1:
        return 20;
    case KERN_TYPE_Q5_0:
        return 22;
    case KERN_TYPE_Q5_1:
        return 24;
    case KERN_TYPE_Q8_0:
        return 34;
    case KERN_TYPE_Q4_K:
        return 144;
    case KERN_TYPE_Q5_K:
        return 176;
    case KERN_TYPE_Q6_K:
        return 210;
    default:
        return 0;
    }
}

__device__ __forceinline__ float kq_f16(const uint8_t *p)
{
    __half_raw r;
    r.x = (unsigned short)(p[0] | (p[1] << 8));
    return __half2float(__half(r));
}

__device__ __forceinline__ float kq_bf16(const uint8_t *p)
{
    return __uint_as_float((uint32_t)(p[0] | (p[1] << 8)) << 16);
}

__device__ __forceinline__ float kq_f32(const uint8_t *p)
{
    return __uint_as_float((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                           ((uint32_t)p[3] << 24));
}

/* The 6-bit scale and min j (0..7) of a Q4_K/Q5_K super-block's 12 scale bytes q. */
__device__ __forceinline__ void kq_scale_min_k4(int j, const uint8_t *q, float *sc, float *m)
{
    if (j < 4) {
        *sc = (float)(q[j] & 63);
        *m = (float)(q[j + 4] & 63);
    } else {
        *sc = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/*
 * Decodes sub s of the block at blk into v: v[k] is element a + k and v[4 + k] element b + k
 * of the block (k < 4).
 */
__device__ __forceinline__ void kq_sub_decode(int type, const uint8_t *blk, int s, float v[8],
                                              int *a, int *b)
{
    switch (type) {
    case KERN_TYPE_F32:
        for (int k = 0; k < 8; k++) {
            v[k] = kq_f32(blk + 4 * k);
        }
        *a = 0;
        *b = 4;
        return;
    case KERN_TYPE_F16:
        for (int k = 0; k < 8; k++) {
            v[k] = kq_f16(blk + 2 * k);
        }
        *a = 0;
        *b = 4;
        return;
    case KERN_TYPE_BF16:
        for (int k = 0; k < 8; k++) {
            v[k] = kq_bf16(blk + 2 * k);
        }
        *a = 0;
        *b = 4;
        return;
    case KERN_TYPE_Q8_0: {
        const float d = kq_f16(blk);
        const int8_t *q = (const int8_t *)(blk + 2 + 8 * s);
        for (int k = 0; k < 8; k++) {
            v[k] = d * (float)q[k];
        }
        *a = 8 * s;
        *b = 8 * s + 4;
        return;
    }
    case KERN_TYPE_Q4_0:
    case KERN_TYPE_Q4_1: {
        const bool q41 = type == KERN_TYPE_Q4_1;
        const float d = kq_f16(blk);
        const float m = q41 ? kq_f16(blk + 2) : -8.0f * d;
        const uint8_t *q = blk + (q41 ? 4 : 2) + 4 * s;
        for (int k = 0; k < 4; k++) {
            v[k] = d * (float)(q[k] & 15) + m;
            v[4 + k] = d * (float)(q[k] >> 4) + m;
        }
        *a = 4 * s;
        *b = 16 + 4 * s;
        return;
    }
    case KERN_TYPE_Q5_0:
    case KERN_TYPE_Q5_1: {
        const bool q51 = type == KERN_TYPE_Q5_1;
        const float d = kq_f16(blk);
        const float m = q51 ? kq_f16(blk + 2) : -16.0f * d;
        const uint8_t *h = blk + (q51 ? 4 : 2);
        const uint32_t qh = (uint32_t)h[0] | ((uint32_t)h[1] << 8) | ((uint32_t)h[2] << 16) |
                            ((uint32_t)h[3] << 24);
        const uint8_t *q = h + 4 + 4 * s;
        for (int k = 0; k < 4; k++) {
            const int j = 4 * s + k;
            const int lo = (q[k] & 15) | (int)(((qh >> j) & 1u) << 4);
            const int hi = (q[k] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            v[k] = d * (float)lo + m;
            v[4 + k] = d * (float)hi + m;
        }
        *a = 4 * s;
        *b = 16 + 4 * s;
        return;
    }
    case KERN_TYPE_Q4_K:
    case KERN_TYPE_Q5_K: {
        const bool q5 = type == KERN_TYPE_Q5_K;
        const float d = kq_f16(blk);
        const float dmin = kq_f16(blk + 2);
        const uint8_t *scales = blk + 4;
        const uint8_t *qh = blk + 16;
        const uint8_t *qs = blk + (q5 ? 48 : 16);
        const int g = s / 8;
        const int kk = s % 8;
        float sc1, m1, sc2, m2;
        kq_scale_min_k4(2 * g, scales, &sc1, &m1);
        kq_scale_min_k4(2 * g + 1, scales, &sc2, &m2);
        const uint8_t *q = qs + 32 * g + 4 * kk;
        for (int k = 0; k < 4; k++) {
            int lo = q[k] & 15;
            int hi = q[k] >> 4;
            if (q5) {
                const int l = 4 * kk + k;
                lo += ((qh[l] >> (2 * g)) & 1) << 4;
                hi += ((qh[l] >> (2 * g + 1)) & 1) << 4;
            }
            v[k] = d * sc1 * (float)lo - dmin * m1;
            v[4 + k] = d * sc2 * (float)hi - dmin * m2;
        }
        *a = 64 * g + 4 * kk;
        *b = 64 * g + 32 + 4 * kk;
        return;
    }
    case KERN_TYPE_Q6_K: {
        const int half = s / 16;
        const int r = s % 16;
        const int l0 = 4 * (r % 8);
        const int upper = r / 8;
        const uint8_t *ql = blk + 64 * half;
        const uint8_t *qh = blk + 128 + 32 * half;
        const int8_t *sc = (const int8_t *)(blk + 192) + 8 * half;
        const float d = kq_f16(blk + 208);
        const int is = l0 / 16;
        const float d1 = d * (float)sc[is + (upper ? 4 : 0)];
        const float d2 = d * (float)sc[is + (upper ? 6 : 2)];
        for (int k = 0; k < 4; k++) {
            const int l = l0 + k;
            int q1, q2;
            if (!upper) {
                q1 = (ql[l] & 15) | (((qh[l] >> 0) & 3) << 4);
                q2 = (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4);
            } else {
                q1 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                q2 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
            }
            v[k] = d1 * (float)(q1 - 32);
            v[4 + k] = d2 * (float)(q2 - 32);
        }
        *a = 128 * half + l0 + 64 * upper;
        *b = *a + 32;
        return;
    }
    default:
        for (int k = 0; k < 8; k++) {
            v[k] = 0.0f;
        }
        *a = 0;
        *b = 4;
        return;
    }
}

#endif /* KILN_KERN_CUDA_QUANT_CUH */
