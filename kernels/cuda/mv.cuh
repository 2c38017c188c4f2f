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
 *  - a row is cut into items of 16 values (quant.cuh), lane i taking items i, i + 32, ...;
 *    kq_item<TYPE> decodes an item with two to eight aligned word loads, its type a template
 *    parameter chosen by a warp-uniform switch, so no per-value type dispatch runs;
 *  - the token count is a template parameter of the kernel: accumulators stay in registers
 *    and no work is spent on absent tokens;
 *  - the grid is capped near what the GPU keeps resident and warps loop over units, so a long
 *    matrix (the LM head) stages and normalizes its input once per block, not once per eight
 *    rows.
 */
#ifndef KILN_KERN_CUDA_MV_CUH
#define KILN_KERN_CUDA_MV_CUH

#include "kernels/cuda/ops.cuh"

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
#define KC_DOT_CASE(T)                                                                             \
    case T:                                                                                        \
        kc_dot_rows<T, NT, R>(rows, n_cols, xs, lane, acc);                                        \
        break;
        KQ_TYPES(KC_DOT_CASE)
#undef KC_DOT_CASE
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
