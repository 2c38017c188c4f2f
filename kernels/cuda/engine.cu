/*
 * The CUDA engine's host side: uploading a model, contexts, and the forward pass as a sequence
 * of kernel launches on one stream (kern_cuda.h says what it offers).
 *
 * Two paths. Passes of at most mv_tok tokens (decoding) multiply straight from the quantized
 * weights with kc_mv; fused, a llama layer is five kernels: norm + QKV + bias + RoPE + cache
 * write, attention with its own merge, output projection + residual, norm + gate/up + GLU, down
 * projection + residual. Unfused (no_fuse), every operation is its own kernel (about fifteen a
 * layer), which is what the fusion is measured against. Longer passes (prompts, many sequences)
 * convert activations to FP16 (gemm_t) and use cuBLAS (FP16 in, f32 accumulate and out) on FP16
 * copies of the weights made on the GPU at upload, with q/k/v and gate/up concatenated so each
 * is one product.
 *
 * Passes of up to KC_GRAPH_TOK tokens are captured once per (tokens, outputs) shape as a CUDA
 * graph and replayed: the per-pass inputs (tokens, sequences, positions, output rows) are read
 * by the graph's first node from pinned host memory, and every kernel reads them from the
 * device, so one graph serves every step of that shape.
 */
#include "kernels/cuda/engine_int.h"
#include "kernels/cuda/mv.cuh"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#define KC_GRAPH_TOK 64 /* longest pass captured as a graph */
#define KC_GRAPHS    16 /* graphs kept per context */

/* Turns a failed CUDA call into an error naming it and returns from the function. */
#define KC_TRY(call)                                                                               \
    do {                                                                                           \
        const cudaError_t e_ = (call);                                                             \
        if (e_ != cudaSuccess) {                                                                   \
            return core_err_set(err, e_ == cudaErrorMemoryAllocation ? CORE_ENOMEM : CORE_ERROR,   \
                                "cuda: %s: %s (%s:%d)", #call, cudaGetErrorString(e_), __FILE__,   \
                                __LINE__);                                                         \
        }                                                                                          \
    } while (0)

#define KC_BLAS(call)                                                                              \
    do {                                                                                           \
        const cublasStatus_t s_ = (call);                                                          \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            return core_err_set(err, s_ == CUBLAS_STATUS_ALLOC_FAILED ? CORE_ENOMEM : CORE_ERROR,  \
                                "cublas: %s: %s (%s:%d)", #call, cublasGetStatusString(s_),        \
                                __FILE__, __LINE__);                                               \
        }                                                                                          \
    } while (0)

/*
 * Launches kernel on c's stream. On Hopper and later the launch allows programmatic dependent
 * launch: the kernel may start while the previous one finishes, and every kernel waits for its
 * predecessor (kc_pdl_wait) before touching memory the predecessor writes or reads.
 */
template <typename... KArgs, typename... Args>
static cudaError_t kc_go(const kern_cuda_ctx *c, void (*kernel)(KArgs...), dim3 grid, dim3 block,
                         size_t smem, Args &&...args);

#define KC_GO(kernel, grid, block, smem, ...)                                                      \
    KC_TRY(kc_go(c, kernel, grid, block, smem, __VA_ARGS__))

#define KC_RET(expr)                                                                               \
    do {                                                                                           \
        const int r_ = (expr);                                                                     \
        if (r_ != 0) {                                                                             \
            return r_;                                                                             \
        }                                                                                          \
    } while (0)

typedef kc_gemm_t gemm_t; /* the cuBLAS path's element type (ops.cuh) */

struct kc_mat {
    int type;
    uint8_t *q;
    size_t row_bytes;
    int n_rows;
    int n_cols;
};

struct kc_layer {
    float *attn_norm, *ffn_norm, *bq, *bk, *bv, *q_norm, *k_norm, *post_attn_norm, *post_ffn_norm;
    kc_mat wq, wk, wv, wo, gate, up, down;
    gemm_t *qkv_g;  /* (q_dim + 2 kv_dim, n_embd) */
    gemm_t *gu_g;   /* (2 n_ff, n_embd) */
    gemm_t *wo_g;   /* (n_embd, q_dim) */
    gemm_t *down_g; /* (n_embd, n_ff) */
    bool is_swa;
    float rope_base;
};

struct kern_cuda_model {
    kern_cuda_model_desc d; /* scalars; its pointers are not used after upload */
    int q_dim, kv_dim, qkv_dim;
    int mv_tok; /* tokens kc_mv takes at once */
    kc_mat tok_embd, output;
    gemm_t *output_g;
    float *output_norm;
    kc_layer *layers;
    void **allocs;
    size_t n_allocs, cap_allocs;
    size_t n_bytes;
};

struct kc_graph {
    size_t n, n_out;
    cudaGraphExec_t exec;
    bool seen; /* the shape ran once, eagerly */
    uint64_t used;
};

struct kern_cuda_ctx {
    kern_cuda_model *m;
    kern_cuda_ctx_options o;
    cudaStream_t st;
    cublasHandle_t blas;
    void *blas_ws;
    __half *kc, *vc;
    size_t layer_elems; /* n_seq_max * n_ctx * kv_dim */
    float *x, *xn, *t, *q, *att, *g, *xo, *logits, *part;
    gemm_t *x_g, *att_g, *xo_g;
    unsigned int *cnt;
    int32_t *d_in, *h_in;                /* [tokens B | seq B | pos B | out rows O] */
    unsigned long long *d_amax, *h_amax; /* packed (value, index) keys of kc_argmax */
    kc_graph graphs[KC_GRAPHS];
    bool pdl; /* programmatic dependent launch (compute capability 9 and later) */
    int n_sm; /* streaming multiprocessors */
    uint64_t clock;
    size_t n_out_last;
};

template <typename... KArgs, typename... Args>
static cudaError_t kc_go(const kern_cuda_ctx *c, void (*kernel)(KArgs...), dim3 grid, dim3 block,
                         size_t smem, Args &&...args)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = c->st;
    cudaLaunchAttribute attr = {};
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = c->pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, static_cast<KArgs>(args)...);
}

/* ------------------------------------------------------------------------------------------ */
/* Model upload                                                                               */
/* ------------------------------------------------------------------------------------------ */

extern "C" bool kern_cuda__type_supported(kern_type t)
{
    return kq_block_values((int)t) > 0;
}

/* Device memory (at least one byte); a failure names the size. */
static int kc_malloc(void **out, size_t bytes, core_err *err)
{
    const cudaError_t e = cudaMalloc(out, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *out = nullptr;
        return core_err_set(err, e == cudaErrorMemoryAllocation ? CORE_ENOMEM : CORE_ERROR,
                            "cuda: cudaMalloc of %zu bytes: %s", bytes, cudaGetErrorString(e));
    }
    return 0;
}

static int kc_alloc(kern_cuda_model *m, void **out, size_t bytes, core_err *err)
{
    *out = nullptr;
    if (m->n_allocs == m->cap_allocs) {
        size_t cap = m->cap_allocs ? 2 * m->cap_allocs : 64;
        void **p = (void **)core_realloc(m->allocs, cap * sizeof(void *));
        if (!p) {
            return core_err_set(err, CORE_ENOMEM, "cuda: out of host memory");
        }
        m->allocs = p;
        m->cap_allocs = cap;
    }
    KC_RET(kc_malloc(out, bytes, err));
    m->allocs[m->n_allocs++] = *out;
    m->n_bytes += bytes;
    return 0;
}

static int kc_upload(kern_cuda_model *m, void **out, const void *src, size_t bytes, core_err *err)
{
    KC_RET(kc_alloc(m, out, bytes, err));
    KC_TRY(cudaMemcpy(*out, src, bytes, cudaMemcpyHostToDevice));
    return 0;
}

static int kc_upload_vec(kern_cuda_model *m, float **out, const float *src, size_t n, core_err *err)
{
    *out = nullptr;
    if (!src) {
        return 0;
    }
    return kc_upload(m, (void **)out, src, n * sizeof(float), err);
}

static int kc_upload_mat(kern_cuda_model *m, kc_mat *out, const kern_cuda_matrix *src,
                         const char *name, core_err *err)
{
    if (!kern_cuda__type_supported(src->type) || src->n_cols % (size_t)kq_block_values(src->type) ||
        src->n_cols % 32 || src->n_rows > (size_t)INT32_MAX || src->n_cols > (size_t)INT32_MAX) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "cuda: %s: type %d with %zu columns is not supported", name,
                            (int)src->type, src->n_cols);
    }
    out->type = (int)src->type;
    out->row_bytes = src->row_bytes;
    out->n_rows = (int)src->n_rows;
    out->n_cols = (int)src->n_cols;
    const int rc = kc_upload(m, (void **)&out->q, src->data, src->row_bytes * src->n_rows, err);
    return rc ? core_err_wrap(err, rc, "uploading %s", name) : 0;
}

/* gemm_t copy of mat at rows [row0, row0 + n_rows) of dst (n_cols wide). */
static int kc_to_gemm_rows(gemm_t *dst, size_t row0, const kc_mat *mat, core_err *err)
{
    const size_t n = (size_t)mat->n_rows * (size_t)(mat->n_cols / 16); /* items */
    const unsigned threads = 256;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)((n + threads - 1) / threads));
    cfg.blockDim = dim3(threads);
    KC_TRY(cudaLaunchKernelEx(&cfg, kc_dequant_gemm, dst + row0 * (size_t)mat->n_cols,
                              (const uint8_t *)mat->q, mat->type, mat->row_bytes, mat->n_rows,
                              mat->n_cols));
    return 0;
}

static int kc_gemm_copy(kern_cuda_model *m, gemm_t **out, const kc_mat *const *mats, size_t n_mats,
                        core_err *err)
{
    size_t rows = 0;
    for (size_t i = 0; i < n_mats; i++) {
        rows += (size_t)mats[i]->n_rows;
    }
    KC_RET(kc_alloc(m, (void **)out, rows * (size_t)mats[0]->n_cols * sizeof(gemm_t), err));
    size_t row0 = 0;
    for (size_t i = 0; i < n_mats; i++) {
        KC_RET(kc_to_gemm_rows(*out, row0, mats[i], err));
        row0 += (size_t)mats[i]->n_rows;
    }
    return 0;
}

static int kc_upload_layer(kern_cuda_model *m, kc_layer *l, const kern_cuda_layer *s, core_err *err)
{
    const kern_cuda_model_desc *d = &m->d;
    const size_t E = d->n_embd, hd = d->head_dim;
    KC_RET(kc_upload_vec(m, &l->attn_norm, s->attn_norm, E, err));
    KC_RET(kc_upload_vec(m, &l->ffn_norm, s->ffn_norm, E, err));
    KC_RET(kc_upload_vec(m, &l->bq, s->bq, (size_t)m->q_dim, err));
    KC_RET(kc_upload_vec(m, &l->bk, s->bk, (size_t)m->kv_dim, err));
    KC_RET(kc_upload_vec(m, &l->bv, s->bv, (size_t)m->kv_dim, err));
    KC_RET(kc_upload_vec(m, &l->q_norm, s->q_norm, hd, err));
    KC_RET(kc_upload_vec(m, &l->k_norm, s->k_norm, hd, err));
    KC_RET(kc_upload_vec(m, &l->post_attn_norm, s->post_attn_norm, E, err));
    KC_RET(kc_upload_vec(m, &l->post_ffn_norm, s->post_ffn_norm, E, err));
    KC_RET(kc_upload_mat(m, &l->wq, &s->wq, "attn_q", err));
    KC_RET(kc_upload_mat(m, &l->wk, &s->wk, "attn_k", err));
    KC_RET(kc_upload_mat(m, &l->wv, &s->wv, "attn_v", err));
    KC_RET(kc_upload_mat(m, &l->wo, &s->wo, "attn_output", err));
    KC_RET(kc_upload_mat(m, &l->gate, &s->w_gate, "ffn_gate", err));
    KC_RET(kc_upload_mat(m, &l->up, &s->w_up, "ffn_up", err));
    KC_RET(kc_upload_mat(m, &l->down, &s->w_down, "ffn_down", err));
    const kc_mat *qkv[3] = {&l->wq, &l->wk, &l->wv};
    const kc_mat *gu[2] = {&l->gate, &l->up};
    const kc_mat *wo[1] = {&l->wo};
    const kc_mat *down[1] = {&l->down};
    KC_RET(kc_gemm_copy(m, &l->qkv_g, qkv, 3, err));
    KC_RET(kc_gemm_copy(m, &l->gu_g, gu, 2, err));
    KC_RET(kc_gemm_copy(m, &l->wo_g, wo, 1, err));
    KC_RET(kc_gemm_copy(m, &l->down_g, down, 1, err));
    l->is_swa = s->is_swa;
    l->rope_base = s->rope_base;
    return 0;
}

static int kc_check_desc(const kern_cuda_model_desc *d, core_err *err)
{
    if (d->head_dim != 64 && d->head_dim != 128 && d->head_dim != 256) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "cuda: head length %zu (the engine has 64, 128 and 256)", d->head_dim);
    }
    if (d->n_head == 0 || d->n_head_kv == 0 || d->n_head % d->n_head_kv || d->n_rot % 2 ||
        d->n_rot > d->head_dim || d->n_layer == 0 || d->n_embd % 32 || d->n_ff % 32 ||
        d->n_vocab > (size_t)INT32_MAX) {
        return core_err_set(err, CORE_EUNSUPPORTED, "cuda: model shape not supported");
    }
    return 0;
}

extern "C" int kern_cuda__model_new(kern_cuda_model **out, const kern_cuda_model_desc *desc,
                                    core_err *err)
{
    *out = nullptr;
    int n_dev = 0;
    KC_RET(kern_cuda__device_count(&n_dev, err));
    if (n_dev == 0) {
        return core_err_set(err, CORE_EUNSUPPORTED, "cuda: no CUDA device");
    }
    KC_RET(kc_check_desc(desc, err));
    KC_TRY(cudaSetDevice(0));
    kern_cuda_model *m = (kern_cuda_model *)core_calloc(1, sizeof(*m));
    if (!m) {
        return core_err_set(err, CORE_ENOMEM, "cuda: out of host memory");
    }
    m->d = *desc;
    m->d.layers = nullptr;
    m->q_dim = (int)(desc->n_head * desc->head_dim);
    m->kv_dim = (int)(desc->n_head_kv * desc->head_dim);
    m->qkv_dim = m->q_dim + 2 * m->kv_dim;
    size_t widest = desc->n_embd;
    widest = widest > (size_t)m->q_dim ? widest : (size_t)m->q_dim;
    widest = widest > desc->n_ff ? widest : desc->n_ff;
    const size_t smem_max = 200 * 1024;
    m->mv_tok = (int)(smem_max / (widest * sizeof(float)));
    m->mv_tok = m->mv_tok > KC_MV_TOK ? KC_MV_TOK : m->mv_tok;
    int rc = 0;
    m->layers = (kc_layer *)core_calloc(desc->n_layer, sizeof(kc_layer));
    if (!m->layers) {
        rc = core_err_set(err, CORE_ENOMEM, "cuda: out of host memory");
    }
    if (rc == 0 && m->mv_tok == 0) {
        rc = core_err_set(err, CORE_EUNSUPPORTED, "cuda: rows of %zu values are too long", widest);
    }
    if (rc == 0 && widest * KC_MV_TOK * sizeof(float) > 48 * 1024) {
        /* kc_mv<n> stages n input rows; only the instances above the default limit need it. */
        void (*const fn[KC_MV_TOK])(kc_mv_args) = {kc_mv<1>, kc_mv<2>, kc_mv<3>, kc_mv<4>};
        for (int i = 0; rc == 0 && i < m->mv_tok; i++) {
            const int smem = (int)(widest * (size_t)(i + 1) * sizeof(float));
            const cudaError_t e =
                cudaFuncSetAttribute(fn[i], cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
            if (e != cudaSuccess) {
                rc = core_err_set(err, CORE_ERROR, "cuda: cudaFuncSetAttribute: %s",
                                  cudaGetErrorString(e));
            }
        }
    }
    if (rc == 0) {
        rc = kc_upload_mat(m, &m->tok_embd, &desc->tok_embd, "token_embd", err);
    }
    if (rc == 0) {
        if (desc->output.data == desc->tok_embd.data) {
            m->output = m->tok_embd;
        } else {
            rc = kc_upload_mat(m, &m->output, &desc->output, "output", err);
        }
    }
    if (rc == 0) {
        const kc_mat *o[1] = {&m->output};
        rc = kc_gemm_copy(m, &m->output_g, o, 1, err);
    }
    if (rc == 0) {
        rc = kc_upload_vec(m, &m->output_norm, desc->output_norm, desc->n_embd, err);
    }
    for (size_t il = 0; rc == 0 && il < desc->n_layer; il++) {
        rc = kc_upload_layer(m, &m->layers[il], &desc->layers[il], err);
    }
    if (rc == 0) {
        const cudaError_t e = cudaDeviceSynchronize();
        if (e != cudaSuccess) {
            rc = core_err_set(err, CORE_ERROR, "cuda: upload: %s", cudaGetErrorString(e));
        }
    }
    if (rc != 0) {
        kern_cuda__model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

extern "C" void kern_cuda__model_free(kern_cuda_model *m)
{
    if (!m) {
        return;
    }
    for (size_t i = 0; i < m->n_allocs; i++) {
        cudaFree(m->allocs[i]);
    }
    core_free(m->allocs);
    core_free(m->layers);
    core_free(m);
}

extern "C" size_t kern_cuda__model_n_bytes(const kern_cuda_model *m)
{
    return m->n_bytes;
}

/* ------------------------------------------------------------------------------------------ */
/* Contexts                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static size_t kc_max3(size_t a, size_t b, size_t c)
{
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

/*
 * Attention splits for a pass of n tokens, and the shortest chunk: a long range fills about two
 * waves of blocks on the GPU's multiprocessors, a short one uses as few 32-position chunks as
 * cover it (kc_attn_range sizes the chunks from each token's range on the device).
 */
static int kc_attn_chunk(const kern_cuda_ctx *c, size_t n, int *n_split)
{
    const size_t chunk_min = 32;
    const size_t blocks = n * c->m->d.n_head;
    size_t s_max = blocks >= 264 ? 1 : 264 / blocks;
    s_max = s_max > 32 ? 32 : s_max;
    const size_t s_ctx = (c->o.n_ctx + chunk_min - 1) / chunk_min;
    *n_split = (int)(s_max < s_ctx ? s_max : s_ctx);
    return (int)chunk_min;
}

static int kc_gemm(const kern_cuda_ctx *c, const gemm_t *w, int rows, int cols, const gemm_t *x,
                   int ldx, float *y, int ldy, size_t n, core_err *err);

static int kc_ctx_init(kern_cuda_ctx *c, core_err *err)
{
    const kern_cuda_model *m = c->m;
    const size_t B = c->o.n_batch_max, O = c->o.n_outputs_max;
    const size_t E = m->d.n_embd, F = m->d.n_ff, Q = (size_t)m->q_dim, V = m->d.n_vocab;
    const size_t wide = kc_max3(E, Q, F);
    const size_t t_w = kc_max3((size_t)m->qkv_dim, 2 * F, E);
    const size_t n_part = (B * m->d.n_head > 528 ? B * m->d.n_head : 528) * (m->d.head_dim + 2);
    c->layer_elems = c->o.n_seq_max * c->o.n_ctx * (size_t)m->kv_dim;
    KC_TRY(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking));
    int major = 0;
    KC_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
    c->pdl = major >= 9 && !c->o.no_graphs;
    KC_TRY(cudaDeviceGetAttribute(&c->n_sm, cudaDevAttrMultiProcessorCount, 0));
    KC_BLAS(cublasCreate(&c->blas));
    KC_BLAS(cublasSetStream(c->blas, c->st));
    const size_t ws = 32u << 20;
    KC_RET(kc_malloc(&c->blas_ws, ws, err));
    KC_BLAS(cublasSetWorkspace(c->blas, c->blas_ws, ws));
    KC_RET(kc_malloc((void **)&c->kc, m->d.n_layer * c->layer_elems * sizeof(__half), err));
    KC_RET(kc_malloc((void **)&c->vc, m->d.n_layer * c->layer_elems * sizeof(__half), err));
    KC_RET(kc_malloc((void **)&c->x, B * E * sizeof(float), err));
    KC_RET(kc_malloc((void **)&c->xn, B * wide * sizeof(float), err));
    KC_RET(kc_malloc((void **)&c->t, B * t_w * sizeof(float), err));
    KC_RET(kc_malloc((void **)&c->q, B * Q * sizeof(float), err));
    KC_RET(kc_malloc((void **)&c->att, B * Q * sizeof(float), err));
    KC_RET(kc_malloc((void **)&c->g, B * F * sizeof(float), err));
    KC_RET(kc_malloc((void **)&c->xo, O * E * sizeof(float), err));
    KC_RET(kc_malloc((void **)&c->logits, O * V * sizeof(float), err));
    KC_RET(kc_malloc((void **)&c->part, n_part * sizeof(float), err));
    KC_RET(kc_malloc((void **)&c->x_g, B * wide * sizeof(gemm_t), err));
    KC_RET(kc_malloc((void **)&c->att_g, B * Q * sizeof(gemm_t), err));
    KC_RET(kc_malloc((void **)&c->xo_g, O * E * sizeof(gemm_t), err));
    KC_RET(kc_malloc((void **)&c->cnt, B * m->d.n_head * sizeof(unsigned int), err));
    KC_TRY(cudaMemset(c->cnt, 0, B * m->d.n_head * sizeof(unsigned int)));
    KC_RET(kc_malloc((void **)&c->d_in, (3 * B + O) * sizeof(int32_t), err));
    KC_RET(kc_malloc((void **)&c->d_amax, O * sizeof(unsigned long long), err));
    KC_TRY(cudaMallocHost((void **)&c->h_in, (3 * B + O) * sizeof(int32_t)));
    KC_TRY(cudaMallocHost((void **)&c->h_amax, O * sizeof(unsigned long long)));
    memset(c->h_in, 0, (3 * B + O) * sizeof(int32_t));
    /* One product now, so that cuBLAS sets itself up outside any graph capture. */
    KC_TRY(cudaMemsetAsync(c->x_g, 0, B * wide * sizeof(gemm_t), c->st));
    KC_RET(kc_gemm(c, m->layers[0].qkv_g, m->qkv_dim, (int)E, c->x_g, (int)E, c->t, m->qkv_dim,
                   B < 8 ? B : 8, err));
    KC_TRY(cudaStreamSynchronize(c->st));
    return 0;
}

extern "C" int kern_cuda__ctx_new(kern_cuda_ctx **out, kern_cuda_model *model,
                                  const kern_cuda_ctx_options *opts, core_err *err)
{
    *out = nullptr;
    if (opts->n_ctx == 0 || opts->n_seq_max == 0 || opts->n_batch_max == 0 ||
        opts->n_outputs_max == 0 || opts->n_ctx > (size_t)INT32_MAX) {
        return core_err_set(err, CORE_EINVAL, "cuda: bad context options");
    }
    kern_cuda_ctx *c = (kern_cuda_ctx *)core_calloc(1, sizeof(*c));
    if (!c) {
        return core_err_set(err, CORE_ENOMEM, "cuda: out of host memory");
    }
    c->m = model;
    c->o = *opts;
    const int rc = kc_ctx_init(c, err);
    if (rc != 0) {
        kern_cuda__ctx_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

extern "C" void kern_cuda__ctx_free(kern_cuda_ctx *c)
{
    if (!c) {
        return;
    }
    if (c->st) {
        cudaStreamSynchronize(c->st);
    }
    for (size_t i = 0; i < KC_GRAPHS; i++) {
        if (c->graphs[i].exec) {
            cudaGraphExecDestroy(c->graphs[i].exec);
        }
    }
    void *bufs[] = {c->blas_ws, c->kc,    c->vc,   c->x,   c->xn,     c->t,
                    c->q,       c->att,   c->g,    c->xo,  c->logits, c->part,
                    c->x_g,     c->att_g, c->xo_g, c->cnt, c->d_in,   c->d_amax};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        if (bufs[i]) {
            cudaFree(bufs[i]);
        }
    }
    if (c->h_in) {
        cudaFreeHost(c->h_in);
    }
    if (c->h_amax) {
        cudaFreeHost(c->h_amax);
    }
    if (c->blas) {
        cublasDestroy(c->blas);
    }
    if (c->st) {
        cudaStreamDestroy(c->st);
    }
    core_free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* The forward pass                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* Device views of this pass's inputs. */
struct kc_pass {
    size_t n;
    const int32_t *tokens, *seq, *pos, *rows;
    int n_split;
    int chunk_min;
};

static kc_pos_args kc_pos_of(const kern_cuda_ctx *c, const kc_pass *p, size_t il)
{
    const kern_cuda_model *m = c->m;
    kc_pos_args a;
    a.seq = p->seq;
    a.pos = p->pos;
    a.kc = c->kc + il * c->layer_elems;
    a.vc = c->vc + il * c->layer_elems;
    a.n_ctx = (int)c->o.n_ctx;
    a.kv_dim = m->kv_dim;
    a.head_dim = (int)m->d.head_dim;
    a.n_rot = (int)m->d.n_rot;
    a.neox = m->d.rope_neox;
    a.rope_base = m->layers[il].rope_base;
    return a;
}

static kc_mv_job kc_job(const kc_mat *w, float *y, int y_stride, const float *bias)
{
    kc_mv_job j;
    j.w = w->q;
    j.type = w->type;
    j.row_bytes = (int)w->row_bytes;
    j.n_rows = w->n_rows;
    j.y = y;
    j.y_stride = y_stride;
    j.bias = bias;
    return j;
}

static kc_mv_args kc_mv_base(const float *x, int x_stride, int n_cols, size_t n_tok,
                             const float *norm_w, float eps, int epi)
{
    kc_mv_args a;
    memset(&a, 0, sizeof(a));
    a.x = x;
    a.x_stride = x_stride;
    a.n_cols = n_cols;
    a.n_tok = (int)n_tok;
    a.norm_w = norm_w;
    a.eps = eps;
    a.epi = epi;
    return a;
}

/*
 * Adds a job whose first n_rows rows are multiplied: a unit (one warp's work) is a RoPE pair
 * (QKV), a gate row with its up row (GLU: the up job adds no units), or two rows.
 */
static void kc_mv_add(kc_mv_args *a, kc_mv_job j, int n_rows)
{
    const int n_units = a->epi == KC_EPI_GLU ? n_rows : (n_rows + 1) / 2;
    a->job[a->n_jobs] = j;
    a->unit_end[a->n_jobs] = (a->n_jobs ? a->unit_end[a->n_jobs - 1] : 0) + n_units;
    a->n_jobs++;
}

/*
 * Launches kc_mv for a's token count. Blocks are small while there are few units, so the work
 * spreads over every multiprocessor (a layer's QKV is about 500 units on a 132-SM GPU), and
 * the grid stops near what stays resident: beyond that, warps loop over units and a block's
 * staged input serves many rows.
 */
static int kc_mv_run(const kern_cuda_ctx *c, const kc_mv_args *a, core_err *err)
{
    const int units = a->unit_end[a->n_jobs - 1];
    const int per_sm = units / (c->n_sm > 0 ? c->n_sm : 1);
    const int warps = per_sm >= 32 ? KC_MV_WARPS : per_sm >= 8 ? 4 : 2;
    size_t blocks = (size_t)(units + warps - 1) / (size_t)warps;
    const size_t cap = (size_t)c->n_sm * (size_t)(64 / warps);
    blocks = blocks > cap && cap > 0 ? cap : blocks;
    const size_t smem = (size_t)a->n_tok * (size_t)a->n_cols * sizeof(float);
    const unsigned b = (unsigned)(blocks ? blocks : 1), t = (unsigned)(warps * 32);
    switch (a->n_tok) {
    case 1:
        KC_GO(kc_mv<1>, b, t, smem, *a);
        break;
    case 2:
        KC_GO(kc_mv<2>, b, t, smem, *a);
        break;
    case 3:
        KC_GO(kc_mv<3>, b, t, smem, *a);
        break;
    default:
        KC_GO(kc_mv<4>, b, t, smem, *a);
        break;
    }
    return 0;
}

/* y (n, ldy) = x (n, ldx) * w^T for a gemm_t weight of (rows, cols). */
static int kc_gemm(const kern_cuda_ctx *c, const gemm_t *w, int rows, int cols, const gemm_t *x,
                   int ldx, float *y, int ldy, size_t n, core_err *err)
{
    const float one = 1.0f, zero = 0.0f;
    KC_BLAS(cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, (int)n, cols, &one, w,
                         KC_GEMM_CUDA_TYPE, cols, x, KC_GEMM_CUDA_TYPE, ldx, &zero, y, CUDA_R_32F,
                         ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return 0;
}

static int kc_attention(const kern_cuda_ctx *c, const kc_pass *p, size_t il, bool to_gemm,
                        bool combine, core_err *err)
{
    const kern_cuda_model *m = c->m;
    kc_attn_args a;
    a.q = c->q;
    a.q_stride = m->q_dim;
    a.out = c->att;
    a.out_stride = m->q_dim;
    a.out_g = to_gemm ? c->att_g : nullptr;
    a.kc = c->kc + il * c->layer_elems;
    a.vc = c->vc + il * c->layer_elems;
    a.seq = p->seq;
    a.pos = p->pos;
    a.n_ctx = (int)c->o.n_ctx;
    a.kv_dim = m->kv_dim;
    a.group = (int)(m->d.n_head / m->d.n_head_kv);
    a.n_swa = m->layers[il].is_swa ? (int)m->d.n_swa : 0;
    a.scale = m->d.attn_scale;
    a.n_split = p->n_split;
    a.chunk_min = p->chunk_min;
    a.part = c->part;
    a.cnt = c->cnt;
    a.combine = combine;
    const dim3 grid((unsigned)p->n, (unsigned)m->d.n_head, (unsigned)p->n_split);
    const dim3 cgrid((unsigned)p->n, (unsigned)m->d.n_head);
    switch (m->d.head_dim) {
    case 64:
        KC_GO(kc_attn<2>, grid, KC_WARPS * 32, 0, a);
        if (!combine && p->n_split > 1) {
            KC_GO(kc_attn_combine<2>, cgrid, 32, 0, a);
        }
        break;
    case 128:
        KC_GO(kc_attn<4>, grid, KC_WARPS * 32, 0, a);
        if (!combine && p->n_split > 1) {
            KC_GO(kc_attn_combine<4>, cgrid, 32, 0, a);
        }
        break;
    default:
        KC_GO(kc_attn<8>, grid, KC_WARPS * 32, 0, a);
        if (!combine && p->n_split > 1) {
            KC_GO(kc_attn_combine<8>, cgrid, 32, 0, a);
        }
        break;
    }
    return 0;
}

static kc_rope_args kc_rope_of(const kern_cuda_ctx *c, const kc_pass *p, size_t il, bool rope,
                               bool store)
{
    const kern_cuda_model *m = c->m;
    const kc_layer *l = &m->layers[il];
    kc_rope_args r;
    r.qkv = c->t;
    r.qkv_stride = m->qkv_dim;
    r.q_dim = m->q_dim;
    r.n_head = (int)m->d.n_head;
    r.n_head_kv = (int)m->d.n_head_kv;
    r.bq = rope ? l->bq : nullptr;
    r.bk = rope ? l->bk : nullptr;
    r.bv = rope ? l->bv : nullptr;
    r.q_norm = l->q_norm;
    r.k_norm = l->k_norm;
    r.eps = m->d.eps;
    r.q_out = c->q;
    r.q_stride = m->q_dim;
    r.rope = rope;
    r.store = store;
    r.p = kc_pos_of(c, p, il);
    return r;
}

static int kc_rope_run(const kern_cuda_ctx *c, const kc_pass *p, const kc_rope_args *r,
                       core_err *err)
{
    const dim3 grid((unsigned)p->n, (unsigned)(c->m->d.n_head + 2 * c->m->d.n_head_kv));
    KC_GO(kc_rope_store, grid, (unsigned)(c->m->d.head_dim / 2), 0, *r);
    return 0;
}

static dim3 kc_rows_grid(size_t n_cols, size_t n)
{
    return dim3((unsigned)((n_cols + 255) / 256), (unsigned)n);
}

/*
 * The projection w of in (n rows of cols values) into the residual stream x: fused, kc_mv adds
 * it in its epilogue; unfused, or through a post-norm (Gemma), it is stored and then added.
 */
static int kc_mv_residual(const kern_cuda_ctx *c, const float *in, int cols, const kc_mat *w,
                          const float *post_norm, size_t n, core_err *err)
{
    const int E = (int)c->m->d.n_embd;
    const float eps = c->m->d.eps;
    const bool add = !c->o.no_fuse && !post_norm;
    kc_mv_args a = kc_mv_base(in, cols, cols, n, nullptr, eps, add ? KC_EPI_ADD : KC_EPI_STORE);
    kc_mv_add(&a, kc_job(w, add ? c->x : c->t, E, nullptr), E);
    KC_RET(kc_mv_run(c, &a, err));
    if (add) {
        return 0;
    }
    if (post_norm) {
        KC_GO(kc_add_norm, (unsigned)n, 256, 0, c->x, c->t, E, post_norm, E, eps, nullptr, nullptr);
    } else {
        KC_GO(kc_add, kc_rows_grid((size_t)E, n), 256, 0, c->x, c->t, E);
    }
    return 0;
}

/* One layer of a decoding pass through kc_mv (n <= mv_tok). */
static int kc_layer_mv(const kern_cuda_ctx *c, const kc_pass *p, size_t il, core_err *err)
{
    const kern_cuda_model *m = c->m;
    const kc_layer *l = &m->layers[il];
    const bool fuse = !c->o.no_fuse;
    const int E = (int)m->d.n_embd, Q = m->q_dim, KV = m->kv_dim, F = (int)m->d.n_ff;
    const int QKV = m->qkv_dim;
    const float eps = m->d.eps;
    const size_t n = p->n;

    /* Attention block. */
    if (fuse && !l->q_norm) {
        kc_mv_args a = kc_mv_base(c->x, E, E, n, l->attn_norm, eps, KC_EPI_QKV);
        kc_mv_add(&a, kc_job(&l->wq, c->q, Q, l->bq), Q);
        kc_mv_add(&a, kc_job(&l->wk, nullptr, 0, l->bk), KV);
        kc_mv_add(&a, kc_job(&l->wv, nullptr, 0, l->bv), KV);
        a.p = kc_pos_of(c, p, il);
        KC_RET(kc_mv_run(c, &a, err));
    } else if (fuse) {
        kc_mv_args a = kc_mv_base(c->x, E, E, n, l->attn_norm, eps, KC_EPI_STORE);
        kc_mv_add(&a, kc_job(&l->wq, c->t, QKV, nullptr), Q);
        kc_mv_add(&a, kc_job(&l->wk, c->t + Q, QKV, nullptr), KV);
        kc_mv_add(&a, kc_job(&l->wv, c->t + Q + KV, QKV, nullptr), KV);
        KC_RET(kc_mv_run(c, &a, err));
        const kc_rope_args r = kc_rope_of(c, p, il, true, true);
        KC_RET(kc_rope_run(c, p, &r, err));
    } else {
        KC_GO(kc_rmsnorm, (unsigned)n, 256, 0, c->xn, nullptr, E, c->x, E, nullptr, l->attn_norm, E,
              eps);
        const kc_mat *w[3] = {&l->wq, &l->wk, &l->wv};
        const int off[3] = {0, Q, Q + KV};
        for (int i = 0; i < 3; i++) {
            kc_mv_args a = kc_mv_base(c->xn, E, E, n, nullptr, eps, KC_EPI_STORE);
            kc_mv_add(&a, kc_job(w[i], c->t + off[i], QKV, nullptr), w[i]->n_rows);
            KC_RET(kc_mv_run(c, &a, err));
        }
        const kc_rope_args r = kc_rope_of(c, p, il, true, false);
        KC_RET(kc_rope_run(c, p, &r, err));
        const kc_rope_args s = kc_rope_of(c, p, il, false, true);
        KC_RET(kc_rope_run(c, p, &s, err));
    }
    KC_RET(kc_attention(c, p, il, false, fuse, err));
    KC_RET(kc_mv_residual(c, c->att, Q, &l->wo, l->post_attn_norm, n, err));

    /* Feed-forward block. */
    if (fuse) {
        kc_mv_args a = kc_mv_base(c->x, E, E, n, l->ffn_norm, eps, KC_EPI_GLU);
        a.gelu = m->d.gelu;
        kc_mv_add(&a, kc_job(&l->gate, c->g, F, nullptr), F);
        kc_mv_add(&a, kc_job(&l->up, nullptr, 0, nullptr), 0);
        KC_RET(kc_mv_run(c, &a, err));
    } else {
        KC_GO(kc_rmsnorm, (unsigned)n, 256, 0, c->xn, nullptr, E, c->x, E, nullptr, l->ffn_norm, E,
              eps);
        kc_mv_args a = kc_mv_base(c->xn, E, E, n, nullptr, eps, KC_EPI_STORE);
        kc_mv_add(&a, kc_job(&l->gate, c->t, 2 * F, nullptr), F);
        KC_RET(kc_mv_run(c, &a, err));
        kc_mv_args b = kc_mv_base(c->xn, E, E, n, nullptr, eps, KC_EPI_STORE);
        kc_mv_add(&b, kc_job(&l->up, c->t + F, 2 * F, nullptr), F);
        KC_RET(kc_mv_run(c, &b, err));
        KC_GO(kc_glu, kc_rows_grid((size_t)F, n), 256, 0, c->g, nullptr, F, c->t, c->t + F, 2 * F,
              F, m->d.gelu);
    }
    return kc_mv_residual(c, c->g, F, &l->down, l->post_ffn_norm, n, err);
}

/* One layer of a long pass through cuBLAS; x_g holds this layer's normalized input (gemm_t). */
static int kc_layer_gemm(const kern_cuda_ctx *c, const kc_pass *p, size_t il, core_err *err)
{
    const kern_cuda_model *m = c->m;
    const kc_layer *l = &m->layers[il];
    const int E = (int)m->d.n_embd, Q = m->q_dim, F = (int)m->d.n_ff, QKV = m->qkv_dim;
    const float eps = m->d.eps;
    const size_t n = p->n;
    KC_RET(kc_gemm(c, l->qkv_g, QKV, E, c->x_g, E, c->t, QKV, n, err));
    const kc_rope_args r = kc_rope_of(c, p, il, true, true);
    KC_RET(kc_rope_run(c, p, &r, err));
    KC_RET(kc_attention(c, p, il, true, true, err));
    KC_RET(kc_gemm(c, l->wo_g, E, Q, c->att_g, Q, c->t, E, n, err));
    KC_GO(kc_add_norm, (unsigned)n, 256, 0, c->x, c->t, E, l->post_attn_norm, E, eps, l->ffn_norm,
          c->x_g);
    KC_RET(kc_gemm(c, l->gu_g, 2 * F, E, c->x_g, E, c->t, 2 * F, n, err));
    KC_GO(kc_glu, kc_rows_grid((size_t)F, n), 256, 0, nullptr, c->x_g, F, c->t, c->t + F, 2 * F, F,
          m->d.gelu);
    KC_RET(kc_gemm(c, l->down_g, E, F, c->x_g, F, c->t, E, n, err));
    const float *next = il + 1 < m->d.n_layer ? m->layers[il + 1].attn_norm : nullptr;
    KC_GO(kc_add_norm, (unsigned)n, 256, 0, c->x, c->t, E, l->post_ffn_norm, E, eps, next, c->x_g);
    return 0;
}

/* Enqueues a whole pass on c->st: inputs in, layers, logits, argmax out. */
static int kc_enqueue(kern_cuda_ctx *c, size_t n, size_t n_out, core_err *err)
{
    const kern_cuda_model *m = c->m;
    const size_t B = c->o.n_batch_max, O = c->o.n_outputs_max;
    const int E = (int)m->d.n_embd, V = (int)m->d.n_vocab;
    const float eps = m->d.eps;
    kc_pass p;
    p.n = n;
    p.tokens = c->d_in;
    p.seq = c->d_in + B;
    p.pos = c->d_in + 2 * B;
    p.rows = c->d_in + 3 * B;
    p.chunk_min = kc_attn_chunk(c, n, &p.n_split);
    KC_TRY(cudaMemcpyAsync(c->d_in, c->h_in, (3 * B + O) * sizeof(int32_t), cudaMemcpyHostToDevice,
                           c->st));
    KC_GO(kc_embed, (unsigned)n, 128, 0, c->x, m->tok_embd.q, m->tok_embd.type,
          m->tok_embd.row_bytes, E, p.tokens, m->d.embd_scale);
    const bool mv = n <= (size_t)m->mv_tok;
    if (!mv) {
        KC_GO(kc_rmsnorm, (unsigned)n, 256, 0, nullptr, c->x_g, E, c->x, E, nullptr,
              m->layers[0].attn_norm, E, eps);
    }
    for (size_t il = 0; il < m->d.n_layer; il++) {
        KC_RET(mv ? kc_layer_mv(c, &p, il, err) : kc_layer_gemm(c, &p, il, err));
    }
    if (n_out == 0) {
        return 0;
    }
    if (n_out <= (size_t)m->mv_tok && !c->o.no_fuse) {
        kc_mv_args a = kc_mv_base(c->x, E, E, n_out, m->output_norm, eps, KC_EPI_STORE);
        a.x_rows = p.rows;
        kc_mv_add(&a, kc_job(&m->output, c->logits, V, nullptr), V);
        KC_RET(kc_mv_run(c, &a, err));
    } else {
        KC_GO(kc_rmsnorm, (unsigned)n_out, 256, 0, c->xo, c->xo_g, E, c->x, E, p.rows,
              m->output_norm, E, eps);
        if (n_out <= (size_t)m->mv_tok) {
            kc_mv_args a = kc_mv_base(c->xo, E, E, n_out, nullptr, eps, KC_EPI_STORE);
            kc_mv_add(&a, kc_job(&m->output, c->logits, V, nullptr), V);
            KC_RET(kc_mv_run(c, &a, err));
        } else {
            KC_RET(kc_gemm(c, m->output_g, V, E, c->xo_g, E, c->logits, V, n_out, err));
        }
    }
    KC_TRY(cudaMemsetAsync(c->d_amax, 0, n_out * sizeof(unsigned long long), c->st));
    const unsigned amax_blocks = (unsigned)((V + 255) / 256 < 64 ? (V + 255) / 256 : 64);
    KC_GO(kc_argmax, dim3(amax_blocks, (unsigned)n_out), 256, 0, c->d_amax, c->logits, V);
    KC_TRY(cudaMemcpyAsync(c->h_amax, c->d_amax, n_out * sizeof(unsigned long long),
                           cudaMemcpyDeviceToHost, c->st));
    return 0;
}

/*
 * The graph for (n, n_out). A shape's first pass runs eagerly (it loads every kernel module and
 * lets cuBLAS settle its choices outside a capture) and only marks the shape; the second
 * captures it; later ones replay. *out stays nullptr when the pass is to run eagerly.
 */
static int kc_graph_get(kern_cuda_ctx *c, size_t n, size_t n_out, cudaGraphExec_t *out,
                        core_err *err)
{
    *out = nullptr;
    kc_graph *slot = nullptr;
    for (size_t i = 0; i < KC_GRAPHS; i++) {
        kc_graph *g = &c->graphs[i];
        if ((g->exec || g->seen) && g->n == n && g->n_out == n_out) {
            g->used = ++c->clock;
            *out = g->exec;
            if (g->exec) {
                return 0;
            }
            slot = g;
            break;
        }
    }
    if (!slot) {
        /* A free slot, else the least recently used one; this pass runs eagerly. */
        for (size_t i = 0; i < KC_GRAPHS; i++) {
            kc_graph *g = &c->graphs[i];
            if (!g->exec && !g->seen) {
                slot = g;
                break;
            }
            if (!slot || g->used < slot->used) {
                slot = g;
            }
        }
        if (slot->exec) {
            KC_TRY(cudaGraphExecDestroy(slot->exec));
        }
        slot->exec = nullptr;
        slot->seen = true;
        slot->n = n;
        slot->n_out = n_out;
        slot->used = ++c->clock;
        return 0;
    }
    if (slot->exec) {
        KC_TRY(cudaGraphExecDestroy(slot->exec));
        slot->exec = nullptr;
    }
    cudaGraph_t graph = nullptr;
    KC_TRY(cudaStreamBeginCapture(c->st, cudaStreamCaptureModeThreadLocal));
    const int rc = kc_enqueue(c, n, n_out, err);
    const cudaError_t e = cudaStreamEndCapture(c->st, &graph);
    if (rc != 0) {
        if (graph) {
            cudaGraphDestroy(graph);
        }
        return rc;
    }
    KC_TRY(e);
    const cudaError_t ei = cudaGraphInstantiate(&slot->exec, graph, 0);
    cudaGraphDestroy(graph);
    KC_TRY(ei);
    slot->n = n;
    slot->n_out = n_out;
    slot->used = ++c->clock;
    *out = slot->exec;
    return 0;
}

extern "C" int kern_cuda__ctx_forward(kern_cuda_ctx *c, const int32_t *tokens, const int32_t *seq,
                                      const int32_t *pos, size_t n, const int32_t *out_rows,
                                      size_t n_out, int32_t *argmax, core_err *err)
{
    const size_t B = c->o.n_batch_max;
    if (n == 0 || n > B || n_out > c->o.n_outputs_max) {
        return core_err_set(err, CORE_EINVAL, "cuda: pass of %zu tokens, %zu outputs", n, n_out);
    }
    memcpy(c->h_in, tokens, n * sizeof(int32_t));
    memcpy(c->h_in + B, seq, n * sizeof(int32_t));
    memcpy(c->h_in + 2 * B, pos, n * sizeof(int32_t));
    memcpy(c->h_in + 3 * B, out_rows, n_out * sizeof(int32_t));
    cudaGraphExec_t exec = nullptr;
    if (n <= KC_GRAPH_TOK && !c->o.no_graphs) {
        KC_RET(kc_graph_get(c, n, n_out, &exec, err));
    }
    if (exec) {
        KC_TRY(cudaGraphLaunch(exec, c->st));
    } else {
        KC_RET(kc_enqueue(c, n, n_out, err));
    }
    KC_TRY(cudaStreamSynchronize(c->st));
    for (size_t i = 0; i < n_out; i++) {
        argmax[i] = (int32_t)(0xffffffffu - (uint32_t)(c->h_amax[i] & 0xffffffffu));
    }
    c->n_out_last = n_out;
    return 0;
}

extern "C" int kern_cuda__ctx_logits(kern_cuda_ctx *c, size_t i, float *dst, core_err *err)
{
    if (i >= c->n_out_last) {
        return core_err_set(err, CORE_EINVAL, "cuda: output %zu of %zu", i, c->n_out_last);
    }
    const size_t V = c->m->d.n_vocab;
    KC_TRY(
        cudaMemcpyAsync(dst, c->logits + i * V, V * sizeof(float), cudaMemcpyDeviceToHost, c->st));
    KC_TRY(cudaStreamSynchronize(c->st));
    return 0;
}

extern "C" int kern_cuda__ctx_seq_copy(kern_cuda_ctx *c, int32_t dst, int32_t src, size_t n_pos,
                                       core_err *err)
{
    if (dst == src || n_pos == 0) {
        return 0;
    }
    const size_t KV = (size_t)c->m->kv_dim;
    const size_t per_seq = c->o.n_ctx * KV;
    for (size_t il = 0; il < c->m->d.n_layer; il++) {
        const size_t base = il * c->layer_elems;
        KC_TRY(cudaMemcpyAsync(c->kc + base + (size_t)dst * per_seq,
                               c->kc + base + (size_t)src * per_seq, n_pos * KV * sizeof(__half),
                               cudaMemcpyDeviceToDevice, c->st));
        KC_TRY(cudaMemcpyAsync(c->vc + base + (size_t)dst * per_seq,
                               c->vc + base + (size_t)src * per_seq, n_pos * KV * sizeof(__half),
                               cudaMemcpyDeviceToDevice, c->st));
    }
    KC_TRY(cudaStreamSynchronize(c->st));
    return 0;
}
