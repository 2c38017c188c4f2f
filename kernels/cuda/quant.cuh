/*
 * Device-side decoding of ggml's tensor types, shared by the CUDA kernels. A row is cut into
 * items of 16 values; kq_item<TYPE>::get decodes one item straight from its block with a few
 * aligned word loads (the type a template parameter, so no per-value dispatch runs), and no
 * dequantized copy is ever made. An item is two runs of 8 consecutive elements of a block,
 * a .. a+7 and b .. b+7: that is how the 4-bit and 5-bit types pack low and high nibbles, and
 * how Q6_K packs its quarters. Block layouts are those of kernels/types.c (ggml's): scales
 * first, then quants, all little-endian.
 */
#ifndef KILN_KERN_CUDA_QUANT_CUH
#define KILN_KERN_CUDA_QUANT_CUH

#include <cuda_fp16.h>
#include <stdint.h>

#include "kernels/kern.h"

/* Little-endian loads from weight bytes at the alignment each names. */
__device__ __forceinline__ uint32_t kq_ld16(const uint8_t *p)
{
    return *(const uint16_t *)p;
}

__device__ __forceinline__ uint32_t kq_ld32(const uint8_t *p)
{
    return *(const uint32_t *)p;
}

/* Four bytes at an address only known to be 2-byte aligned. */
__device__ __forceinline__ uint32_t kq_ld32h(const uint8_t *p)
{
    return kq_ld16(p) | (kq_ld16(p + 2) << 16);
}

__device__ __forceinline__ float kq_half(uint32_t bits)
{
    __half_raw r;
    r.x = (unsigned short)(bits & 0xffffu);
    return __half2float(__half(r));
}

/* Byte k of w as a signed value. */
__device__ __forceinline__ float kq_s8(uint32_t w, int k)
{
    return (float)((int32_t)(w << (24 - 8 * k)) >> 24);
}

/*
 * The nibbles of two words q0, q1 (bytes k < 8): v[k] = dl * low(k) + ml and v[8 + k] =
 * dh * high(k) + mh, where bit k of hl and of hh is the fifth bit of low(k) and of high(k).
 */
__device__ __forceinline__ void kq_nibbles(uint32_t q0, uint32_t q1, uint32_t hl, uint32_t hh,
                                           float dl, float ml, float dh, float mh, float v[16])
{
#pragma unroll
    for (int k = 0; k < 8; k++) {
        const uint32_t q = k < 4 ? q0 >> (8 * k) : q1 >> (8 * (k - 4));
        const uint32_t lo = (q & 15u) | (((hl >> k) & 1u) << 4);
        const uint32_t hi = ((q >> 4) & 15u) | (((hh >> k) & 1u) << 4);
        v[k] = fmaf(dl, (float)lo, ml);
        v[8 + k] = fmaf(dh, (float)hi, mh);
    }
}

/* Byte i (0..11) of a K-quant super-block's scale words s0, s1, s2. */
__device__ __forceinline__ uint32_t kq_scale_byte(int i, uint32_t s0, uint32_t s1, uint32_t s2)
{
    const uint32_t w = i < 4 ? s0 : i < 8 ? s1 : s2;
    return (w >> (8 * (i % 4))) & 0xffu;
}

/* The 6-bit scale and min j (0..7) of a K-quant super-block's scale words s0, s1, s2. */
__device__ __forceinline__ void kq_scale_min_w(int j, uint32_t s0, uint32_t s1, uint32_t s2,
                                               float *sc, float *m)
{
    const uint32_t lo = kq_scale_byte(j < 4 ? j : j - 4, s0, s1, s2);
    const uint32_t hi = kq_scale_byte(j + 4, s0, s1, s2);
    if (j < 4) {
        *sc = (float)(lo & 63u);
        *m = (float)(hi & 63u);
    } else {
        *sc = (float)((hi & 15u) | ((lo >> 6) << 4));
        *m = (float)((hi >> 4) | ((kq_scale_byte(j, s0, s1, s2) >> 6) << 4));
    }
}

/*
 * kq_item<T>::get(blk, i, v, a, b) decodes item i of the block at blk: v[k] is element a + k
 * and v[8 + k] element b + k of the block (k < 8). QK values and BYTES bytes per block; the
 * plain types count 16 values as a block.
 */
template <int T> struct kq_item;

template <> struct kq_item<KERN_TYPE_F32> {
    static constexpr int QK = 16, BYTES = 64;
    __device__ static void get(const uint8_t *blk, int, float v[16], int &a, int &b)
    {
        const float4 *p = (const float4 *)blk;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const float4 f = p[k];
            v[4 * k] = f.x;
            v[4 * k + 1] = f.y;
            v[4 * k + 2] = f.z;
            v[4 * k + 3] = f.w;
        }
        a = 0;
        b = 8;
    }
};

/* A 16-value block of F16 (BF16 false) or BF16 (true) values: two 16-byte loads. */
/* A block of 16 F16 (BF16 false) or BF16 (true) values: two 16-byte loads. */
template <bool BF16> struct kq_item_16bit {
    static constexpr int QK = 16, BYTES = 32;
    __device__ static void get(const uint8_t *blk, int, float v[16], int &a, int &b)
    {
        const uint4 p[2] = {((const uint4 *)blk)[0], ((const uint4 *)blk)[1]};
#pragma unroll
        for (int k = 0; k < 2; k++) {
            const uint32_t w[4] = {p[k].x, p[k].y, p[k].z, p[k].w};
#pragma unroll
            for (int i = 0; i < 4; i++) {
                v[8 * k + 2 * i] = BF16 ? __uint_as_float(w[i] << 16) : kq_half(w[i]);
                v[8 * k + 2 * i + 1] =
                    BF16 ? __uint_as_float(w[i] & 0xffff0000u) : kq_half(w[i] >> 16);
            }
        }
        a = 0;
        b = 8;
    }
};

template <> struct kq_item<KERN_TYPE_F16> : kq_item_16bit<false> {
};
template <> struct kq_item<KERN_TYPE_BF16> : kq_item_16bit<true> {
};

/* Q8_0: an f16 scale, 32 signed bytes; 34-byte blocks, so only 2-byte alignment. */
template <> struct kq_item<KERN_TYPE_Q8_0> {
    static constexpr int QK = 32, BYTES = 34;
    __device__ static void get(const uint8_t *blk, int i, float v[16], int &a, int &b)
    {
        const float d = kq_half(kq_ld16(blk));
        const uint8_t *q = blk + 2 + 16 * i;
        const uint32_t w[4] = {kq_ld32h(q), kq_ld32h(q + 4), kq_ld32h(q + 8), kq_ld32h(q + 12)};
#pragma unroll
        for (int k = 0; k < 16; k++) {
            v[k] = d * kq_s8(w[k / 4], k % 4);
        }
        a = 16 * i;
        b = 16 * i + 8;
    }
};

/* Q4_0: an f16 scale, 16 bytes of nibbles (byte j: elements j and j + 16); 18-byte blocks. */
template <> struct kq_item<KERN_TYPE_Q4_0> {
    static constexpr int QK = 32, BYTES = 18;
    __device__ static void get(const uint8_t *blk, int i, float v[16], int &a, int &b)
    {
        const float d = kq_half(kq_ld16(blk));
        const uint8_t *q = blk + 2 + 8 * i;
        kq_nibbles(kq_ld32h(q), kq_ld32h(q + 4), 0, 0, d, -8.0f * d, d, -8.0f * d, v);
        a = 8 * i;
        b = 16 + 8 * i;
    }
};

/* Q4_1: f16 scale and min, then Q4_0's nibbles; 20-byte blocks, 4-byte aligned. */
template <> struct kq_item<KERN_TYPE_Q4_1> {
    static constexpr int QK = 32, BYTES = 20;
    __device__ static void get(const uint8_t *blk, int i, float v[16], int &a, int &b)
    {
        const uint32_t dm = kq_ld32(blk);
        const uint8_t *q = blk + 4 + 8 * i;
        const float d = kq_half(dm), m = kq_half(dm >> 16);
        kq_nibbles(kq_ld32(q), kq_ld32(q + 4), 0, 0, d, m, d, m, v);
        a = 8 * i;
        b = 16 + 8 * i;
    }
};

/* Q5_0: f16 scale, 32 fifth bits (bit j: element j), then Q4_0's nibbles; 22-byte blocks. */
template <> struct kq_item<KERN_TYPE_Q5_0> {
    static constexpr int QK = 32, BYTES = 22;
    __device__ static void get(const uint8_t *blk, int i, float v[16], int &a, int &b)
    {
        const float d = kq_half(kq_ld16(blk));
        const uint32_t qh = kq_ld32h(blk + 2);
        const uint8_t *q = blk + 6 + 8 * i;
        kq_nibbles(kq_ld32h(q), kq_ld32h(q + 4), qh >> (8 * i), qh >> (16 + 8 * i), d, -16.0f * d,
                   d, -16.0f * d, v);
        a = 8 * i;
        b = 16 + 8 * i;
    }
};

/* Q5_1: f16 scale and min, the fifth bits, the nibbles; 24-byte blocks, 8-byte aligned. */
template <> struct kq_item<KERN_TYPE_Q5_1> {
    static constexpr int QK = 32, BYTES = 24;
    __device__ static void get(const uint8_t *blk, int i, float v[16], int &a, int &b)
    {
        const uint32_t dm = kq_ld32(blk);
        const uint32_t qh = kq_ld32(blk + 4);
        const uint2 q = *(const uint2 *)(blk + 8 + 8 * i);
        const float d = kq_half(dm), m = kq_half(dm >> 16);
        kq_nibbles(q.x, q.y, qh >> (8 * i), qh >> (16 + 8 * i), d, m, d, m, v);
        a = 8 * i;
        b = 16 + 8 * i;
    }
};

/*
 * Q4_K and Q5_K: 256 values in 8 groups of 32, each with a 6-bit scale and min; the nibbles of
 * byte 32g + l are elements 64g + l (group 2g) and 64g + 32 + l (group 2g + 1), l < 32, and
 * Q5_K's fifth bits are bits 2g and 2g + 1 of qh[l]. Item i: g = i / 4, l = 8 (i % 4) .. +7.
 */
template <bool Q5> struct kq_item_k45 {
    static constexpr int QK = 256, BYTES = Q5 ? 176 : 144;
    __device__ static void get(const uint8_t *blk, int i, float v[16], int &a, int &b)
    {
        const int g = i / 4, r = i % 4;
        const uint32_t dm = kq_ld32(blk);
        const float d = kq_half(dm), dmin = kq_half(dm >> 16);
        const uint32_t s0 = kq_ld32(blk + 4), s1 = kq_ld32(blk + 8), s2 = kq_ld32(blk + 12);
        const uint2 q = *(const uint2 *)(blk + (Q5 ? 48 : 16) + 32 * g + 8 * r);
        uint32_t hl = 0, hh = 0;
        if (Q5) {
            const uint2 h = *(const uint2 *)(blk + 16 + 8 * r);
#pragma unroll
            for (int k = 0; k < 8; k++) {
                const uint32_t hb = (k < 4 ? h.x >> (8 * k) : h.y >> (8 * (k - 4))) & 0xffu;
                hl |= ((hb >> (2 * g)) & 1u) << k;
                hh |= ((hb >> (2 * g + 1)) & 1u) << k;
            }
        }
        float sc1, m1, sc2, m2;
        kq_scale_min_w(2 * g, s0, s1, s2, &sc1, &m1);
        kq_scale_min_w(2 * g + 1, s0, s1, s2, &sc2, &m2);
        kq_nibbles(q.x, q.y, hl, hh, d * sc1, -dmin * m1, d * sc2, -dmin * m2, v);
        a = 64 * g + 8 * r;
        b = a + 32;
    }
};

template <> struct kq_item<KERN_TYPE_Q4_K> : kq_item_k45<false> {
};
template <> struct kq_item<KERN_TYPE_Q5_K> : kq_item_k45<true> {
};

/*
 * Q6_K: 256 values in two halves of 128: ql (64 bytes), qh (32), then 16 int8 scales (one per
 * 16 elements) and an f16 scale at 208. For l < 32 of half n: ql[l] low/high nibbles with qh[l]
 * bits 0-1/4-5 are elements l and l + 64, ql[l + 32] with bits 2-3/6-7 are l + 32 and l + 96.
 * Item i: n = i / 8, p = (i / 4) % 2 picks ql[l] or ql[l + 32], l = 8 (i % 4) .. +7.
 */
template <> struct kq_item<KERN_TYPE_Q6_K> {
    static constexpr int QK = 256, BYTES = 210;
    __device__ static void get(const uint8_t *blk, int i, float v[16], int &a, int &b)
    {
        const int n = i / 8, p = (i / 4) % 2, r = i % 4;
        const uint8_t *ql = blk + 64 * n + 32 * p + 8 * r;
        const uint8_t *qh = blk + 128 + 32 * n + 8 * r;
        const uint32_t l0 = kq_ld32h(ql), l1 = kq_ld32h(ql + 4);
        const uint32_t h0 = kq_ld32h(qh), h1 = kq_ld32h(qh + 4);
        a = 128 * n + 32 * p + 8 * r;
        b = a + 64;
        const float d = kq_half(kq_ld16(blk + 208));
        const float da = d * (float)(int8_t)blk[192 + a / 16];
        const float db = d * (float)(int8_t)blk[192 + b / 16];
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const uint32_t q = k < 4 ? l0 >> (8 * k) : l1 >> (8 * (k - 4));
            const uint32_t h = k < 4 ? h0 >> (8 * k) : h1 >> (8 * (k - 4));
            const int lo = (int)((q & 15u) | (((h >> (2 * p)) & 3u) << 4));
            const int hi = (int)(((q >> 4) & 15u) | (((h >> (4 + 2 * p)) & 3u) << 4));
            v[k] = da * (float)(lo - 32);
            v[8 + k] = db * (float)(hi - 32);
        }
    }
};

/* The types the engine reads; X(type) for each. */
#define KQ_TYPES(X)                                                                                \
    X(KERN_TYPE_F32)                                                                               \
    X(KERN_TYPE_F16)                                                                               \
    X(KERN_TYPE_BF16)                                                                              \
    X(KERN_TYPE_Q4_0)                                                                              \
    X(KERN_TYPE_Q4_1)                                                                              \
    X(KERN_TYPE_Q5_0)                                                                              \
    X(KERN_TYPE_Q5_1)                                                                              \
    X(KERN_TYPE_Q8_0)                                                                              \
    X(KERN_TYPE_Q4_K)                                                                              \
    X(KERN_TYPE_Q5_K)                                                                              \
    X(KERN_TYPE_Q6_K)

/* Values per block of a type the engine reads (the plain types count 16); 0 for the others. */
__host__ __device__ static inline int kq_block_values(int type)
{
    switch (type) {
#define KQ_CASE(T)                                                                                 \
    case T:                                                                                        \
        return kq_item<T>::QK;
        KQ_TYPES(KQ_CASE)
#undef KQ_CASE
    default:
        return 0;
    }
}

/* Item it of a row: v[k] is element a + k and v[8 + k] element b + k of the row (k < 8). */
template <int T>
__device__ __forceinline__ void kq_item_at(const uint8_t *row, int it, float v[16], int &a, int &b)
{
    typedef kq_item<T> I;
    constexpr int IPB = I::QK / 16;
    const int blk = it / IPB;
    I::get(row + (size_t)blk * I::BYTES, it % IPB, v, a, b);
    a += blk * I::QK;
    b += blk * I::QK;
}

/* kq_item_at for a type known only at run time; zeros for a type the engine does not read. */
__device__ __forceinline__ void kq_item_decode(int type, const uint8_t *row, int it, float v[16],
                                               int &a, int &b)
{
    switch (type) {
#define KQ_CASE(T)                                                                                 \
    case T:                                                                                        \
        kq_item_at<T>(row, it, v, a, b);                                                           \
        return;
        KQ_TYPES(KQ_CASE)
#undef KQ_CASE
    default:
        for (int k = 0; k < 16; k++) {
            v[k] = 0.0f;
        }
        a = 16 * it;
        b = a + 8;
        return;
    }
}

#endif /* KILN_KERN_CUDA_QUANT_CUH */
