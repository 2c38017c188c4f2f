/*
 * The CUDA engine's kernels (included by engine.cu only) and what they share. Three families:
 *  - kc_mv (mv.cuh): the decoding matrix-vector product straight from the quantized blocks,
 *    with its fusions; this file holds its argument blocks;
 *  - kc_attn: attention of each token over its sequence's cache, split over the cache length
 *    (flash-decoding): every block keeps an online softmax over its share of positions, and the
 *    last block of a (token, head) to finish merges the shares;
 *  - element-wise kernels for the paths that do not fuse (RMSNorm, RoPE and the cache write,
 *    residual adds with Gemma's post-norms, GLU, conversions, argmax).
 */
#ifndef KILN_KERN_CUDA_OPS_CUH
#define KILN_KERN_CUDA_OPS_CUH

#include <cuda_fp16.h>
#include <math_constants.h>
#include <stdint.h>

#include "kernels/cuda/quant.cuh"

/* A kernel's dynamic shared memory as an array `T name[]` (a pointer under kcemu, the CPU
 * emulator in emu/, which has no extern __shared__). */
#ifdef KILN_CUDA_EMU
#define KC_SHARED_DYN(T, name) KCEMU_SHARED_DYN(T, name)
#else
#define KC_SHARED_DYN(T, name) extern __shared__ T name[]
#endif

#define KC_WARPS    4 /* warps per block of kc_attn */
#define KC_MV_WARPS 8 /* most warps per block of kc_mv */

/*
 * The element type of the cuBLAS path (weights' copies and activations; products accumulate in
 * f32). FP16 rather than BF16: three more mantissa bits cut the error against an exact forward
 * pass about fourfold on these models (BF16 measured 1.1e-2 to 1.3e-2 relative on the SmolLM2
 * shape, over the 1e-2 bound), and normalized activations stay far inside its range, which is
 * why llama.cpp's CUDA backend makes the same choice.
 */
typedef __half kc_gemm_t;
#define KC_GEMM_CUDA_TYPE CUDA_R_16F
__device__ __forceinline__ kc_gemm_t kc_to_gemm(float v)
{
    return __float2half_rn(v);
}
#define KC_MV_TOK   4   /* most tokens one kc_mv pass multiplies */
#define KC_HEAD_MAX 256 /* longest head the attention kernel takes */

enum kc_epi {
    KC_EPI_STORE = 0, /* y[t][row] = dot */
    KC_EPI_ADD = 1,   /* y[t][row] += dot (the residual stream) */
    KC_EPI_GLU = 2,   /* unit i: gate row i (job 0), up row i (job 1): y[t][i] = act(g) * u */
    KC_EPI_QKV = 3,   /* jobs q, k, v by row pairs: bias, RoPE, q to y, k and v to the cache */
};

/* Where tokens go and what RoPE needs; shared by kc_mv's QKV epilogue and kc_rope_store. */
struct kc_pos_args {
    const int32_t *seq; /* (n_tok) */
    const int32_t *pos; /* (n_tok) */
    __half *kc;         /* this layer's K cache: (n_seq_max, n_ctx, kv_dim) */
    __half *vc;
    int n_ctx;
    int kv_dim;
    int head_dim;
    int n_rot;
    int neox;
    float rope_base;
};

struct kc_mv_job {
    const uint8_t *w;
    int type;
    int row_bytes;
    int n_rows;
    float *y;
    int y_stride;
    const float *bias; /* QKV epilogue only; may be NULL */
};

struct kc_mv_args {
    const float *x;        /* (n_tok, x_stride) */
    const int32_t *x_rows; /* token t reads row x_rows[t] of x; NULL: row t */
    int x_stride;
    int n_cols;
    int n_tok;
    const float *norm_w; /* prologue RMSNorm weights; NULL: no prologue */
    float eps;
    int epi;
    int gelu;
    int n_jobs;
    kc_mv_job job[3];
    int unit_end[3]; /* cumulative units per job */
    kc_pos_args p;   /* QKV epilogue */
};

/*
 * Programmatic dependent launch (compute capability 9+): let the next kernel in the stream
 * start now, and wait until the previous one has finished and its writes are visible. Every
 * kernel calls kc_pdl_wait before it reads or writes memory another kernel touches.
 */
__device__ __forceinline__ void kc_pdl_next(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    cudaTriggerProgrammaticLaunchCompletion();
#endif
}

__device__ __forceinline__ void kc_pdl_wait(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    cudaGridDependencySynchronize();
#endif
}

__device__ __forceinline__ void kc_pdl_begin(void)
{
    kc_pdl_next();
    kc_pdl_wait();
}

__device__ __forceinline__ float kc_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

__device__ __forceinline__ float kc_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it. */
__device__ float kc_block_sum(float v)
{
    __shared__ float part[32];
    const int lane = threadIdx.x % 32;
    const int w = threadIdx.x / 32;
    v = kc_warp_sum(v);
    __syncthreads();
    if (lane == 0) {
        part[w] = v;
    }
    __syncthreads();
    float s = 0.0f;
    for (int i = 0; i < (int)(blockDim.x / 32); i++) {
        s += part[i];
    }
    return s;
}

__device__ __forceinline__ float kc_silu(float g)
{
    return g / (1.0f + __expf(-g));
}

__device__ __forceinline__ float kc_gelu(float g)
{
    if (g <= -10.0f) {
        return 0.0f;
    }
    if (g >= 10.0f) {
        return g;
    }
    const float c = 0.79788456080286535588f;
    return 0.5f * g * (1.0f + tanhf(c * g * (1.0f + 0.044715f * g * g)));
}

/*
 * The two rows of a head that RoPE pair p (0 .. head_dim/2) rotates; plain (v, or no rotation)
 * takes rows 2p and 2p + 1. Returns whether the pair rotates.
 */
__device__ __forceinline__ bool kc_rope_rows(const kc_pos_args &pa, int p, bool plain, int *r0,
                                             int *r1)
{
    if (plain) {
        *r0 = 2 * p;
        *r1 = 2 * p + 1;
        return false;
    }
    const int half_rot = pa.n_rot / 2;
    if (pa.neox) {
        const bool rotate = p < half_rot;
        *r0 = rotate ? p : pa.n_rot + 2 * (p - half_rot);
        *r1 = rotate ? p + half_rot : *r0 + 1;
        return rotate;
    }
    *r0 = 2 * p;
    *r1 = 2 * p + 1;
    return 2 * p < pa.n_rot;
}

/* RoPE pair p of a head: the two rows it rotates and its angle at pos. */
__device__ __forceinline__ void kc_rope_pair(const kc_pos_args &pa, int p, int pos, int *r0,
                                             int *r1, float *c, float *s)
{
    if (kc_rope_rows(pa, p, false, r0, r1)) {
        const float theta = (float)pos * powf(pa.rope_base, -2.0f * (float)p / (float)pa.n_rot);
        sincosf(theta, s, c);
    } else {
        *c = 1.0f;
        *s = 0.0f;
    }
}

__device__ __forceinline__ int kc_unit_end(const kc_mv_args &a, int j)
{
    return j == 0 ? a.unit_end[0] : j == 1 ? a.unit_end[1] : a.unit_end[2];
}

__device__ __forceinline__ kc_mv_job kc_job_pick(const kc_mv_args &a, int j)
{
    return j == 0 ? a.job[0] : j == 1 ? a.job[1] : a.job[2];
}

/* Pulls the line at p towards L2 (a hint: nothing on the host). */
__device__ __forceinline__ void kc_prefetch_l2(const void *p)
{
#if defined(__CUDA_ARCH__)
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#else
    (void)p;
#endif
}

/*
 * Per token and head slot (n_head q heads, then n_head_kv k heads, then n_head_kv v heads) of
 * a qkv row (n_tok, qkv_stride: q | k | v): bias, optional per-head RMSNorm (q_norm for q,
 * k_norm for k), RoPE (q and k), then q to q_out and k, v to the cache. Block = head_dim / 2
 * threads, one RoPE pair each. rope = 0 skips the rotation (and the norm), store = 0 writes k
 * and v back to the qkv row instead of the cache.
 */
struct kc_rope_args {
    float *qkv;
    int qkv_stride;
    int q_dim;
    int n_head;
    int n_head_kv;
    const float *bq, *bk, *bv;
    const float *q_norm, *k_norm;
    float eps;
    float *q_out;
    int q_stride;
    int rope;
    int store;
    kc_pos_args p;
};

__global__ void kc_rope_store(kc_rope_args a)
{
    kc_pdl_begin();
    const int t = blockIdx.x;
    const int slot = blockIdx.y;
    const int p = threadIdx.x;
    const int hd = a.p.head_dim;
    int kind, head;
    if (slot < a.n_head) {
        kind = 0;
        head = slot;
    } else if (slot < a.n_head + a.n_head_kv) {
        kind = 1;
        head = slot - a.n_head;
    } else {
        kind = 2;
        head = slot - a.n_head - a.n_head_kv;
    }
    if (kind == 0 && !a.rope) {
        return; /* the store-only pass: q went to q_out in the rotating pass */
    }
    const int off = kind == 0 ? head * hd : a.q_dim + (kind - 1) * a.p.kv_dim + head * hd;
    float *row = a.qkv + (size_t)t * a.qkv_stride + off;
    const float *bias = kind == 0 ? a.bq : kind == 1 ? a.bk : a.bv;
    int r0, r1;
    float c, s;
    if (kind < 2 && a.rope) {
        kc_rope_pair(a.p, p, a.p.pos[t], &r0, &r1, &c, &s);
    } else {
        r0 = 2 * p;
        r1 = 2 * p + 1;
        c = 1.0f;
        s = 0.0f;
    }
    float x0 = row[r0], x1 = row[r1];
    if (bias) {
        x0 += bias[head * hd + r0];
        x1 += bias[head * hd + r1];
    }
    const float *nw = kind == 0 ? a.q_norm : kind == 1 ? a.k_norm : NULL;
    if (nw && a.rope) {
        const float ss = kc_block_sum(x0 * x0 + x1 * x1);
        const float scale = rsqrtf(ss / (float)hd + a.eps);
        x0 = x0 * scale * nw[r0];
        x1 = x1 * scale * nw[r1];
    }
    const float y0 = x0 * c - x1 * s;
    const float y1 = x0 * s + x1 * c;
    if (kind == 0) {
        float *q = a.q_out + (size_t)t * a.q_stride + head * hd;
        q[r0] = y0;
        q[r1] = y1;
    } else if (a.store) {
        __half *cache = kind == 1 ? a.p.kc : a.p.vc;
        const size_t at =
            ((size_t)a.p.seq[t] * a.p.n_ctx + (size_t)a.p.pos[t]) * a.p.kv_dim + head * hd;
        cache[at + r0] = __float2half(y0);
        cache[at + r1] = __float2half(y1);
    } else {
        row[r0] = y0;
        row[r1] = y1;
    }
}

/*
 * Attention. Grid (n_tok, n_head, n_split); block KC_WARPS warps. Token t at position pos of
 * sequence seq attends positions [start, pos] (start > 0 in a sliding window), cut into
 * n_split equal chunks of at least chunk_min positions (read from the device, so one grid, one
 * captured graph, serves every length while short ranges use few blocks and long ones all of
 * them): split s takes chunk s, and splits past the last chunk return at once. Each warp takes
 * every KC_WARPS-th position of its chunk with an online softmax, lanes holding D/32 dimensions
 * each. A token with one chunk writes its output directly; with several, each block leaves (max,
 * sum, out[D]) in part, and with combine = 1 the last block of the (t, h) to finish merges them (a
 * counter in cnt, reset by that block), with combine = 0 kc_attn_combine does.
 */
struct kc_attn_args {
    const float *q; /* (n_tok, q_stride) */
    int q_stride;
    float *out; /* (n_tok, out_stride) */
    int out_stride;
    kc_gemm_t *out_g;      /* optional gemm_t copy of out, same layout */
    const __half *kc, *vc; /* this layer */
    const int32_t *seq, *pos;
    int n_ctx;
    int kv_dim;
    int group; /* q heads per kv head */
    int n_swa; /* 0: no window */
    float scale;
    int n_split; /* gridDim.z */
    int chunk_min;
    float *part;       /* (n_tok, n_head, n_split, D + 2) */
    unsigned int *cnt; /* (n_tok, n_head) */
    int combine;
};

/* Token t's first attended position, its chunk length, and how many chunks its range has. */
__device__ __forceinline__ int kc_attn_range(const kc_attn_args &a, int t, int *start, int *chunk)
{
    const int pos = a.pos[t];
    *start = a.n_swa > 0 && pos + 1 > a.n_swa ? pos + 1 - a.n_swa : 0;
    const int len = pos + 1 - *start;
    const int even = (len + a.n_split - 1) / a.n_split;
    *chunk = even > a.chunk_min ? even : a.chunk_min;
    return (len + *chunk - 1) / *chunk;
}

template <int DPL>
__device__ void kc_attn_write(const kc_attn_args &a, int t, int h, float l, const float *o,
                              int lane)
{
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const size_t at = (size_t)t * a.out_stride + h * DPL * 32 + lane * DPL;
    for (int k = 0; k < DPL; k++) {
        a.out[at + k] = o[k] * inv;
        if (a.out_g) {
            a.out_g[at + k] = kc_to_gemm(o[k] * inv);
        }
    }
}

/* Merges the first n_active shares of (t, h) in part in one pass; run by one warp. */
template <int DPL>
__device__ void kc_attn_merge(const kc_attn_args &a, int t, int h, int n_head, int n_active,
                              int lane)
{
    const int D = DPL * 32;
    const float *pp = a.part + ((size_t)t * n_head + h) * a.n_split * (D + 2);
    float m = -CUDART_INF_F, l = 0.0f;
    float o[DPL];
    for (int k = 0; k < DPL; k++) {
        o[k] = 0.0f;
    }
    for (int s = 0; s < n_active; s++) {
        const float *ps = pp + s * (D + 2);
        const float ls = ps[1];
        if (ls > 0.0f) {
            const float ms = ps[0];
            const float mn = fmaxf(m, ms);
            const float fo = __expf(m - mn);
            const float fs = __expf(ms - mn);
            l = l * fo + ls * fs;
            for (int k = 0; k < DPL; k++) {
                o[k] = o[k] * fo + ps[2 + lane * DPL + k] * fs;
            }
            m = mn;
        }
    }
    kc_attn_write<DPL>(a, t, h, l, o, lane);
}

template <int DPL> __global__ void __launch_bounds__(KC_WARPS * 32) kc_attn(kc_attn_args a)
{
    kc_pdl_begin();
    constexpr int D = DPL * 32;
    __shared__ float sm_m[KC_WARPS], sm_l[KC_WARPS];
    __shared__ float sm_o[KC_WARPS][D];
    __shared__ bool last;
    const int t = blockIdx.x;
    const int h = blockIdx.y;
    const int n_head = gridDim.y;
    const int split = blockIdx.z;
    int start, chunk;
    const int n_active = kc_attn_range(a, t, &start, &chunk);
    if (split >= n_active) {
        return;
    }
    const int lane = threadIdx.x % 32;
    const int w = threadIdx.x / 32;
    const int lo = start + split * chunk;
    const int hi = min(a.pos[t] + 1, lo + chunk);
    const int kvh = h / a.group;

    float q[DPL];
    const float *qp = a.q + (size_t)t * a.q_stride + h * D + lane * DPL;
    for (int k = 0; k < DPL; k++) {
        q[k] = qp[k] * a.scale;
    }
    const size_t seq_base = (size_t)a.seq[t] * a.n_ctx;
    float m = -CUDART_INF_F, l = 0.0f;
    float o[DPL];
    for (int k = 0; k < DPL; k++) {
        o[k] = 0.0f;
    }
    for (int j = lo + w; j < hi; j += KC_WARPS) {
        const size_t at = (seq_base + j) * a.kv_dim + kvh * D + lane * DPL;
        const __half *kr = a.kc + at;
        float s = 0.0f;
        for (int k = 0; k < DPL; k += 2) {
            const float2 kk = __half22float2(*(const __half2 *)(kr + k));
            s += q[k] * kk.x + q[k + 1] * kk.y;
        }
        s = kc_warp_sum(s);
        const float m_new = fmaxf(m, s);
        const float f = __expf(m - m_new);
        const float p = __expf(s - m_new);
        l = l * f + p;
        const __half *vr = a.vc + at;
        for (int k = 0; k < DPL; k += 2) {
            const float2 vv = __half22float2(*(const __half2 *)(vr + k));
            o[k] = o[k] * f + p * vv.x;
            o[k + 1] = o[k + 1] * f + p * vv.y;
        }
        m = m_new;
    }
    if (lane == 0) {
        sm_m[w] = m;
        sm_l[w] = l;
    }
    for (int k = 0; k < DPL; k++) {
        sm_o[w][lane * DPL + k] = o[k];
    }
    __syncthreads();
    if (w != 0) {
        return;
    }
    float mb = -CUDART_INF_F, lb = 0.0f;
    float ob[DPL];
    for (int k = 0; k < DPL; k++) {
        ob[k] = 0.0f;
    }
    for (int i = 0; i < KC_WARPS; i++) {
        if (sm_l[i] > 0.0f) {
            const float mn = fmaxf(mb, sm_m[i]);
            const float fo = __expf(mb - mn);
            const float fs = __expf(sm_m[i] - mn);
            lb = lb * fo + sm_l[i] * fs;
            for (int k = 0; k < DPL; k++) {
                ob[k] = ob[k] * fo + sm_o[i][lane * DPL + k] * fs;
            }
            mb = mn;
        }
    }
    if (n_active == 1) {
        kc_attn_write<DPL>(a, t, h, lb, ob, lane);
        return;
    }
    float *pp = a.part + (((size_t)t * n_head + h) * a.n_split + split) * (D + 2);
    if (lane == 0) {
        pp[0] = mb;
        pp[1] = lb;
    }
    for (int k = 0; k < DPL; k++) {
        pp[2 + lane * DPL + k] = ob[k];
    }
    if (!a.combine) {
        return;
    }
    __threadfence();
    if (lane == 0) {
        const unsigned int done = atomicAdd(&a.cnt[t * n_head + h], 1u);
        last = done == (unsigned int)n_active - 1;
    }
    __syncwarp();
    if (!last) {
        return;
    }
    __threadfence();
    kc_attn_merge<DPL>(a, t, h, n_head, n_active, lane);
    if (lane == 0) {
        a.cnt[t * n_head + h] = 0;
    }
}

/* The merge as its own kernel (the unfused path). Grid (n_tok, n_head), one warp. */
template <int DPL> __global__ void kc_attn_combine(kc_attn_args a)
{
    kc_pdl_begin();
    int start, chunk;
    const int n_active = kc_attn_range(a, blockIdx.x, &start, &chunk);
    if (n_active > 1) {
        kc_attn_merge<DPL>(a, blockIdx.x, blockIdx.y, gridDim.y, n_active, threadIdx.x);
    }
}

/*
 * RMSNorm of row rows[t] (or t) of x into row t of y (f32, may be NULL) and yb (gemm_t, may be
 * NULL). One block per token.
 */
__global__ void kc_rmsnorm(float *y, kc_gemm_t *yb, int y_stride, const float *x, int x_stride,
                           const int32_t *rows, const float *w, int n, float eps)
{
    kc_pdl_begin();
    const int t = blockIdx.x;
    const float *xr = x + (size_t)(rows ? rows[t] : t) * x_stride;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        ss += xr[i] * xr[i];
    }
    ss = kc_block_sum(ss);
    const float scale = rsqrtf(ss / (float)n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = xr[i] * scale * (w ? w[i] : 1.0f);
        if (y) {
            y[(size_t)t * y_stride + i] = v;
        }
        if (yb) {
            yb[(size_t)t * y_stride + i] = kc_to_gemm(v);
        }
    }
}

/*
 * x[t] += post ? rmsnorm(d[t]) * post : d[t]; then, when next_w is set, the next RMSNorm of
 * x[t] into yb (gemm_t). One block per token.
 */
__global__ void kc_add_norm(float *x, const float *d, int d_stride, const float *post, int n,
                            float eps, const float *next_w, kc_gemm_t *yb)
{
    kc_pdl_begin();
    const int t = blockIdx.x;
    float *xr = x + (size_t)t * n;
    const float *dr = d + (size_t)t * d_stride;
    float scale = 1.0f;
    if (post) {
        float ss = 0.0f;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            ss += dr[i] * dr[i];
        }
        ss = kc_block_sum(ss);
        scale = rsqrtf(ss / (float)n + eps);
    }
    float ss2 = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = xr[i] + (post ? dr[i] * scale * post[i] : dr[i]);
        xr[i] = v;
        ss2 += v * v;
    }
    if (!next_w) {
        return;
    }
    ss2 = kc_block_sum(ss2);
    const float s2 = rsqrtf(ss2 / (float)n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        yb[(size_t)t * n + i] = kc_to_gemm(xr[i] * s2 * next_w[i]);
    }
}

/* y[t][i] = act(g[t][i]) * u[t][i]; f32 and/or gemm_t out. Grid (blocks over n, n_tok). */
__global__ void kc_glu(float *y, kc_gemm_t *yb, int y_stride, const float *g, const float *u,
                       int in_stride, int n, int gelu)
{
    kc_pdl_begin();
    const int t = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) {
        return;
    }
    const float gv = g[(size_t)t * in_stride + i];
    const float v = (gelu ? kc_gelu(gv) : kc_silu(gv)) * u[(size_t)t * in_stride + i];
    if (y) {
        y[(size_t)t * y_stride + i] = v;
    }
    if (yb) {
        yb[(size_t)t * y_stride + i] = kc_to_gemm(v);
    }
}

/* x[t][i] += d[t][i]. Grid (blocks over n, n_tok). */
__global__ void kc_add(float *x, const float *d, int n)
{
    kc_pdl_begin();
    const int t = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        x[(size_t)t * n + i] += d[(size_t)t * n + i];
    }
}

/* Token rows of the embedding matrix, times scale. One block per token. */
__global__ void kc_embed(float *x, const uint8_t *w, int type, size_t row_bytes, int n,
                         const int32_t *tokens, float scale)
{
    kc_pdl_begin();
    const int t = blockIdx.x;
    const uint8_t *row = w + (size_t)tokens[t] * row_bytes;
    float *xr = x + (size_t)t * n;
    for (int it = threadIdx.x; it < n / 16; it += blockDim.x) {
        float v[16];
        int a, b;
        kq_item_decode(type, row, it, v, a, b);
        for (int k = 0; k < 8; k++) {
            xr[a + k] = v[k] * scale;
            xr[b + k] = v[8 + k] * scale;
        }
    }
}

/* A whole matrix to gemm_t (row-major, n_cols per row), one thread per 16-value item. */
__global__ void kc_dequant_gemm(kc_gemm_t *y, const uint8_t *w, int type, size_t row_bytes,
                                int n_rows, int n_cols)
{
    kc_pdl_begin();
    const size_t items_row = (size_t)n_cols / 16;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= items_row * (size_t)n_rows) {
        return;
    }
    const size_t r = i / items_row;
    float v[16];
    int a, b;
    kq_item_decode(type, w + r * row_bytes, (int)(i % items_row), v, a, b);
    kc_gemm_t *yr = y + r * n_cols;
    for (int k = 0; k < 8; k++) {
        yr[a + k] = kc_to_gemm(v[k]);
        yr[b + k] = kc_to_gemm(v[8 + k]);
    }
}

/*
 * The index of each row's largest logit (the first on ties). Grid (blocks over n, n_rows):
 * each block reduces its share and atomicMax-es a packed key into best[row] (zeroed before):
 * the float's bits made order-preserving above, the complement of the index below.
 */
__device__ __forceinline__ unsigned long long kc_argmax_key(float v, int i)
{
    uint32_t u = __float_as_uint(v);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((unsigned long long)u << 32) | (unsigned long long)(0xffffffffu - (uint32_t)i);
}

__global__ void kc_argmax(unsigned long long *best, const float *logits, int n)
{
    kc_pdl_begin();
    __shared__ unsigned long long part[32];
    const float *row = logits + (size_t)blockIdx.y * n;
    unsigned long long k = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const unsigned long long ki = kc_argmax_key(row[i], i);
        k = ki > k ? ki : k;
    }
    for (int o = 16; o > 0; o >>= 1) {
        const unsigned long long ko = __shfl_xor_sync(0xffffffffu, k, o);
        k = ko > k ? ko : k;
    }
    if (threadIdx.x % 32 == 0) {
        part[threadIdx.x / 32] = k;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int i = 1; i < (int)(blockDim.x / 32); i++) {
            k = part[i] > k ? part[i] : k;
        }
        atomicMax(&best[blockIdx.y], k);
    }
}

#endif /* KILN_KERN_CUDA_OPS_CUH */
