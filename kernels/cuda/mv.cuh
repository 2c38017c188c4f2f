/*
 * kc_mv: the decoding pass's matrix-vector products (up to KC_MV_TOK tokens at once), straight
 * from the quantized blocks, with their fusions: an RMSNorm prologue on the input, and an
 * epilogue that stores, adds into the residual stream, applies SwiGLU/GeGLU to a gate/up row
 * pair, or adds biases, rotates (RoPE) and writes q to its buffer and k, v into the KV cache.
 *
 * At one token this product is latency-bound: a matrix of the default model is a few hundred
 * kilobytes, so what counts is how many dependent instructions a warp runs and how many warps
 * the GPU has in flight. Hence:
 *  - a warp takes a unit of two rows (a RoPE pair, a gate/up pair, or two consecutive rows)
 *    and loads both rows' bytes before any arithmetic;
 *  - a row is cut into items of 16 values, lane i taking items i, i + 32, ...; kq_item<TYPE>
 *    decodes an item with two to eight aligned word loads, its type a template parameter
 *    chosen by a warp-uniform switch, so no per-value type dispatch runs;
 *  - the token count is a template parameter of the kernel: accumulators stay in registers
 *    and no work is spent on absent tokens;
 *  - the grid is capped near what the GPU keeps resident and warps loop over units, so a long
 *    matrix (the LM head) stages and normalizes its input once per block, not once per eight
 *    rows.
 * An item is two runs of 8 consecutive elements of a block, a .. a+7 and b .. b+7: that is how
 * the 4-bit and 5-bit types pack low and high nibbles, and how Q6_K packs its quarters.
 */
#ifndef KILN_KERN_CUDA_MV_CUH
#define KILN_KERN_CUDA_MV_CUH

#include "kernels/cuda/ops.cuh"

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
template <bool BF16> __device__ __forceinline__ void kq_get_16bit(const uint8_t *blk, float v[16])
{
    const uint4 p[2] = {((const uint4 *)blk)[0], ((const uint4 *)blk)[1]};
#pragma unroll
    for (int k = 0; k < 2; k++) {
        const uint32_t w[4] = {p[k].x, p[k].y, p[k].z, p[k].w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            v[8 * k + 2 * i] = BF16 ? __uint_as_float(w[i] << 16) : kq_half(w[i]);
            v[8 * k + 2 * i + 1] = BF16 ? __uint_as_float(w[i] & 0xffff0000u) : kq_half(w[i] >> 16);
        }
    }
}

template <> struct kq_item<KERN_TYPE_F16> {
    static constexpr int QK = 16, BYTES = 32;
    __device__ static void get(const uint8_t *blk, int, float v[16], int &a, int &b)
    {
        kq_get_16bit<false>(blk, v);
        a = 0;
        b = 8;
    }
};

template <> struct kq_item<KERN_TYPE_BF16> {
    static constexpr int QK = 16, BYTES = 32;
    __device__ static void get(const uint8_t *blk, int, float v[16], int &a, int &b)
    {
        kq_get_16bit<true>(blk, v);
        a = 0;
        b = 8;
    }
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
template <bool Q5>
__device__ __forceinline__ void kq_k45_get(const uint8_t *blk, int i, float v[16], int &a, int &b)
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

template <> struct kq_item<KERN_TYPE_Q4_K> {
    static constexpr int QK = 256, BYTES = 144;
    __device__ static void get(const uint8_t *blk, int i, float v[16], int &a, int &b)
    {
        kq_k45_get<false>(blk, i, v, a, b);
    }
};

template <> struct kq_item<KERN_TYPE_Q5_K> {
    static constexpr int QK = 256, BYTES = 176;
    __device__ static void get(const uint8_t *blk, int i, float v[16], int &a, int &b)
    {
        kq_k45_get<true>(blk, i, v, a, b);
    }
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

/*
 * acc[r][t] += row r . x of token t for the R rows (same type T) of a unit; xs holds NT input
 * rows of n_cols values in shared memory. Each lane takes items lane, lane + 32, ...
 */
template <int T, int NT, int R>
__device__ __forceinline__ void kc_dot_rows(const uint8_t *const rows[2], int n_cols,
                                            const float *xs, int lane, float (&acc)[2][NT])
{
    typedef kq_item<T> I;
    constexpr int IPB = I::QK / 16;
    const int n_items = n_cols / 16;
    for (int it = lane; it < n_items; it += 32) {
        const int blk = it / IPB;
        float v[R][16];
        int a = 0, b = 0;
#pragma unroll
        for (int r = 0; r < R; r++) {
            I::get(rows[r] + (size_t)blk * I::BYTES, it % IPB, v[r], a, b);
        }
        const float *xb = xs + blk * I::QK;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float4 *pa = (const float4 *)(xb + t * n_cols + a);
            const float4 *pb = (const float4 *)(xb + t * n_cols + b);
            const float xv[16] = {pa[0].x, pa[0].y, pa[0].z, pa[0].w, pa[1].x, pa[1].y,
                                  pa[1].z, pa[1].w, pb[0].x, pb[0].y, pb[0].z, pb[0].w,
                                  pb[1].x, pb[1].y, pb[1].z, pb[1].w};
#pragma unroll
            for (int r = 0; r < R; r++) {
                float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
                for (int k = 0; k < 8; k++) {
                    s0 = fmaf(v[r][k], xv[k], s0);
                    s1 = fmaf(v[r][8 + k], xv[8 + k], s1);
                }
                acc[r][t] += s0 + s1;
            }
        }
    }
}

/* kc_dot_rows for a type known only at run time (the same for the whole warp). */
template <int NT, int R>
__device__ void kc_dot_any(int type, const uint8_t *const rows[2], int n_cols, const float *xs,
                           int lane, float (&acc)[2][NT])
{
    switch (type) {
    case KERN_TYPE_F32:
        kc_dot_rows<KERN_TYPE_F32, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_F16:
        kc_dot_rows<KERN_TYPE_F16, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_BF16:
        kc_dot_rows<KERN_TYPE_BF16, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_Q4_0:
        kc_dot_rows<KERN_TYPE_Q4_0, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_Q4_1:
        kc_dot_rows<KERN_TYPE_Q4_1, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_Q5_0:
        kc_dot_rows<KERN_TYPE_Q5_0, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_Q5_1:
        kc_dot_rows<KERN_TYPE_Q5_1, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_Q8_0:
        kc_dot_rows<KERN_TYPE_Q8_0, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_Q4_K:
        kc_dot_rows<KERN_TYPE_Q4_K, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_Q5_K:
        kc_dot_rows<KERN_TYPE_Q5_K, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    case KERN_TYPE_Q6_K:
        kc_dot_rows<KERN_TYPE_Q6_K, NT, R>(rows, n_cols, xs, lane, acc);
        break;
    default:
        break; /* kern_cuda_type_supported keeps other types out */
    }
}

/* The rows of one unit of work: where they are and where their results go. */
struct kc_unit {
    int j;     /* job of the unit (GLU: 0) */
    int u;     /* unit index within its job */
    int n_rw;  /* rows: 2, or 1 for the last unit of an odd STORE/ADD matrix */
    int rr[2]; /* row indices within their jobs */
    const uint8_t *row[2];
    int type[2];
};

__device__ __forceinline__ kc_unit kc_unit_of(const kc_mv_args &a, int unit)
{
    kc_unit x;
    int j = 0;
    while (unit >= kc_unit_end(a, j)) {
        j++;
    }
    x.j = j;
    x.u = unit - (j ? kc_unit_end(a, j - 1) : 0);
    x.n_rw = 2;
    int j1 = j;
    if (a.epi == KC_EPI_GLU) {
        x.j = 0;
        j = 0;
        j1 = 1;
        x.rr[0] = x.rr[1] = x.u;
    } else if (a.epi == KC_EPI_QKV) {
        const int hd = a.p.head_dim;
        const int head = x.u / (hd / 2);
        int r0, r1;
        kc_rope_rows(a.p, x.u % (hd / 2), j == 2, &r0, &r1);
        x.rr[0] = head * hd + r0;
        x.rr[1] = head * hd + r1;
    } else {
        x.rr[0] = 2 * x.u;
        x.rr[1] = 2 * x.u + 1;
        if (x.rr[1] >= kc_job_pick(a, j).n_rows) {
            x.n_rw = 1;
            x.rr[1] = x.rr[0];
        }
    }
    const kc_mv_job j0 = kc_job_pick(a, j), jb = kc_job_pick(a, j1);
    x.row[0] = j0.w + (size_t)x.rr[0] * j0.row_bytes;
    x.row[1] = jb.w + (size_t)x.rr[1] * jb.row_bytes;
    x.type[0] = j0.type;
    x.type[1] = jb.type;
    return x;
}

/* Writes token t's results d0, d1 of unit x; run by lane t. */
__device__ __forceinline__ void kc_mv_epilogue(const kc_mv_args &a, const kc_unit &x, int t,
                                               float d0, float d1)
{
    const kc_mv_job jb = kc_job_pick(a, x.j);
    float *y = jb.y ? jb.y + (size_t)t * jb.y_stride : nullptr;
    switch (a.epi) {
    case KC_EPI_STORE:
        y[x.rr[0]] = d0;
        if (x.n_rw == 2) {
            y[x.rr[1]] = d1;
        }
        break;
    case KC_EPI_ADD:
        y[x.rr[0]] += d0;
        if (x.n_rw == 2) {
            y[x.rr[1]] += d1;
        }
        break;
    case KC_EPI_GLU:
        y[x.u] = (a.gelu ? kc_gelu(d0) : kc_silu(d0)) * d1;
        break;
    case KC_EPI_QKV: {
        if (jb.bias) {
            d0 += jb.bias[x.rr[0]];
            d1 += jb.bias[x.rr[1]];
        }
        float y0 = d0, y1 = d1;
        if (x.j < 2) {
            int r0, r1;
            float c, s;
            kc_rope_pair(a.p, x.u % (a.p.head_dim / 2), a.p.pos[t], &r0, &r1, &c, &s);
            y0 = d0 * c - d1 * s;
            y1 = d0 * s + d1 * c;
        }
        if (x.j == 0) {
            y[x.rr[0]] = y0;
            y[x.rr[1]] = y1;
        } else {
            __half *cache = x.j == 1 ? a.p.kc : a.p.vc;
            const size_t at = ((size_t)a.p.seq[t] * a.p.n_ctx + (size_t)a.p.pos[t]) * a.p.kv_dim;
            cache[at + x.rr[0]] = __float2half(y0);
            cache[at + x.rr[1]] = __float2half(y1);
        }
        break;
    }
    default:
        break;
    }
}

template <int NT> __global__ void __launch_bounds__(KC_MV_WARPS * 32) kc_mv(kc_mv_args a)
{
    KC_SHARED_DYN(float, xs); /* (NT, n_cols) */
    const int n_cols = a.n_cols;
    const int lane = threadIdx.x % 32;
    const int n_warps = blockDim.x / 32;
    const int total = kc_unit_end(a, a.n_jobs - 1);
    const int first = blockIdx.x * n_warps + threadIdx.x / 32;
    kc_pdl_next();
    if (first < total) {
        /* While the previous kernel finishes: pull this warp's first rows towards L2. */
        const kc_unit x = kc_unit_of(a, first);
        const int bytes = kc_job_pick(a, x.j).row_bytes;
        for (int r = 0; r < 2; r++) {
            for (int off = lane * 128; off < bytes; off += 32 * 128) {
                kc_prefetch_l2(x.row[r] + off);
            }
        }
    }
    kc_pdl_wait();
    /* One pass stages x * norm_w (x and the weights load together) and sums x^2; the norm's
     * scale multiplies the finished dot products instead of every staged value. */
    float scale[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) {
        const float *x = a.x + (size_t)(a.x_rows ? a.x_rows[t] : t) * a.x_stride;
        float ss = 0.0f;
        for (int i = threadIdx.x; i < n_cols; i += blockDim.x) {
            const float v = x[i];
            ss += v * v;
            xs[t * n_cols + i] = a.norm_w ? v * a.norm_w[i] : v;
        }
        scale[t] = a.norm_w ? rsqrtf(kc_block_sum(ss) / (float)n_cols + a.eps) : 1.0f;
    }
    __syncthreads();

    for (int unit = first; unit < total; unit += gridDim.x * n_warps) {
        const kc_unit x = kc_unit_of(a, unit);
        float acc[2][NT];
#pragma unroll
        for (int t = 0; t < NT; t++) {
            acc[0][t] = 0.0f;
            acc[1][t] = 0.0f;
        }
        if (x.type[0] == x.type[1]) {
            kc_dot_any<NT, 2>(x.type[0], x.row, n_cols, xs, lane, acc);
        } else {
            /* A gate/up pair of different types: one row at a time. */
            float acc1[2][NT];
#pragma unroll
            for (int t = 0; t < NT; t++) {
                acc1[0][t] = 0.0f;
            }
            const uint8_t *const r1[2] = {x.row[1], x.row[1]};
            kc_dot_any<NT, 1>(x.type[0], x.row, n_cols, xs, lane, acc);
            kc_dot_any<NT, 1>(x.type[1], r1, n_cols, xs, lane, acc1);
#pragma unroll
            for (int t = 0; t < NT; t++) {
                acc[1][t] = acc1[0][t];
            }
        }
        float d0 = 0.0f, d1 = 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float s0 = kc_warp_sum(acc[0][t]);
            const float s1 = kc_warp_sum(acc[1][t]);
            if (lane == t) {
                d0 = s0 * scale[t];
                d1 = s1 * scale[t];
            }
        }
        if (lane < NT) {
            kc_mv_epilogue(a, x, lane, d0, d1);
        }
    }
}

#endif /* KILN_KERN_CUDA_MV_CUH */
