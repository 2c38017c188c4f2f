/*
 * Decoding contexts and the forward pass of the llama family. A context owns the KV cache
 * (F16, one row per position, for every layer and sequence), the activation buffers for a pass
 * of up to n_batch_max tokens, the logits, and a thread pool; all of it is allocated in
 * gen_ctx_new, so decoding allocates nothing.
 *
 * A pass runs one function on every pool thread. Threads split each operation statically (rows
 * of a matrix product, tokens of a norm, (token, head) pairs of attention) and meet at a
 * barrier between operations. Tokens of several sequences share a pass: each weight matrix is
 * read once for all of them (batched decoding), and attention reads each token's own
 * sequence. Activations are converted to the weights' vec-dot type before each product, as
 * ggml does, so the logits follow llama.cpp's closely.
 *
 * Architectures (llama.cpp's llama-model.cpp builds the same graphs): llama and qwen2 are
 * pre-norm transformers with SwiGLU; qwen2 adds QKV biases and NEOX RoPE; gemma3 scales the
 * embeddings by sqrt(n_embd), normalizes q and k per head, adds post-attention and post-FFN
 * norms, uses GeGLU, and attends within a sliding window on five of every six layers.
 */
#include "gen/ctx_int.h"
#include "gen/model_int.h"
#include "gen/pool_int.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

struct gen_ctx {
    const gen_model *model; /* borrowed */
    const kern_ops *ops;    /* borrowed from the model's backend */
    gen_ctx_options opts;
    gen_pool *pool;            /* owned */
    const core_cancel *cancel; /* borrowed, may be NULL */

    gen_ctx_after_fn after; /* gen__ctx_set_after's hook, may be NULL */
    void *after_payload;
    bool last_pass; /* the pass being run ends its gen_ctx_decode */

    size_t kv_dim;     /* n_head_kv * head_dim */
    size_t q_dim;      /* n_head * head_dim */
    uint16_t *k_cache; /* (n_layer, n_seq_max, n_ctx, kv_dim) F16, owned (aligned) */
    uint16_t *v_cache; /* same shape */
    size_t *seq_len;   /* (n_seq_max) positions held per sequence, owned */

    /* Per pass, (n_batch_max, ...) each, owned: */
    float *x;            /* (B, n_embd) residual stream */
    float *xn;           /* (B, max(n_embd, q_dim)) normalized input of a product */
    float *q;            /* (B, q_dim) */
    float *k;            /* (B, kv_dim) */
    float *v;            /* (B, kv_dim) */
    float *att;          /* (B, q_dim) attention output */
    float *tmp;          /* (B, n_embd) product output before the residual add */
    float *gate;         /* (B, n_ff) */
    float *up;           /* (B, n_ff) */
    void *xq;            /* (B, xq_row_max) activations in a vec-dot type */
    size_t xq_row_max;   /* bytes per row of xq */
    float *scores;       /* (n_threads, group, n_ctx) attention scratch */
    float *rope_cs;      /* (B, n_rope_bases, n_rot) each token's RoPE angles (kern_rope_table) */
    size_t n_rope_bases; /* distinct layer RoPE bases; 0: rope computes its own angles */
    uint8_t *rope_slot;  /* (n_layer) the layer's base among them, owned */
    bool token_split;    /* this pass's attention goes by the token-wise phases' split */
    int32_t *tokens;     /* (B) this pass */
    int32_t *seq;        /* (B) */
    int32_t *pos;        /* (B) */
    size_t n_tokens;     /* tokens in this pass */

    /* Outputs: */
    int32_t *out_rows;  /* (n_outputs_max) pass-local token index of each output */
    size_t n_out_pass;  /* outputs in this pass */
    size_t n_out_total; /* outputs so far in this gen_ctx_decode */
    float *logits;      /* (n_outputs_max, n_vocab) */
    float *xo;          /* (n_outputs_max, n_embd) normalized final states */

    /* CUDA (model->gpu): the device context; logits stay on the device until asked for. */
    kern_cuda_ctx *gpu; /* owned, NULL on the CPU */
    int32_t *argmax;    /* (n_outputs_max) greedy choice of each output */
    bool *have_logits;  /* (n_outputs_max) the row of logits is on the host */
    size_t gpu_first;   /* outputs before this one were copied when their pass ended */
};

gen_ctx_options gen_ctx_options_default(void)
{
    gen_ctx_options o = {2048, 1, 512, 0, 1, false};
    return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Creation                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Layers whose RoPE bases a pass tabulates at most; beyond, rope computes its own angles. */
#define ROPE_BASES_MAX 4

/* The number of distinct RoPE bases of the model's layers (0 beyond ROPE_BASES_MAX or without
 * rotation), and with slot each layer's index among them. */
static size_t rope_bases(const gen_model *m, uint8_t *slot)
{
    float bases[ROPE_BASES_MAX];
    size_t n = 0;
    if (m->hp.n_rot == 0) {
        return 0;
    }
    for (size_t il = 0; il < m->hp.n_layer; il++) {
        size_t b = 0;
        while (b < n && bases[b] != m->layers[il].rope_base) {
            b++;
        }
        if (b == n) {
            if (n == ROPE_BASES_MAX) {
                return 0;
            }
            bases[n++] = m->layers[il].rope_base;
        }
        if (slot) {
            slot[il] = (uint8_t)b;
        }
    }
    return n;
}

static void *alloc_floats(size_t n, int *rc)
{
    if (*rc < 0) {
        return NULL;
    }
    void *p = core_malloc_aligned(n * sizeof(float), 64);
    if (!p) {
        *rc = CORE_ENOMEM;
    }
    return p;
}

int gen_ctx_new(gen_ctx **out, const gen_model *model, const gen_ctx_options *opts, core_err *err)
{
    *out = NULL;
    if (model->vocab_only) {
        return core_err_set(err, CORE_EINVAL, "ctx: the model was loaded vocab-only");
    }
    gen_ctx_options o = opts ? *opts : gen_ctx_options_default();
    const gen_hparams *hp = &model->hp;
    if (o.n_ctx == 0 || o.n_ctx > hp->n_ctx_train) {
        o.n_ctx = o.n_ctx == 0 || hp->n_ctx_train == 0 ? 2048 : hp->n_ctx_train;
    }
    if (o.n_outputs_max == 0) {
        o.n_outputs_max = o.n_seq_max;
    }
    if (o.n_seq_max == 0 || o.n_seq_max > 1024 || o.n_batch_max == 0 || o.n_batch_max > 65536 ||
        o.n_threads == 0 || o.n_threads > 256 || o.n_outputs_max > 65536 || o.n_ctx > (1u << 20)) {
        return core_err_set(err, CORE_EINVAL,
                            "ctx: bad options (n_seq_max %zu, n_batch_max %zu, n_threads %zu, "
                            "n_outputs_max %zu)",
                            o.n_seq_max, o.n_batch_max, o.n_threads, o.n_outputs_max);
    }
    gen_ctx *c = core_calloc(1, sizeof(*c));
    if (!c) {
        return core_err_set(err, CORE_ENOMEM, "ctx: out of memory");
    }
    c->model = model;
    c->ops = model->ops;
    c->opts = o;
    c->kv_dim = hp->n_head_kv * hp->head_dim;
    c->q_dim = hp->n_head * hp->head_dim;
    const size_t B = o.n_batch_max;
    const size_t wide = hp->n_embd > c->q_dim ? hp->n_embd : c->q_dim;
    size_t widest = wide > hp->n_ff ? wide : hp->n_ff;
    /* F32 weights take F32 activations: 4 bytes a value bounds every vec-dot type. */
    c->xq_row_max = widest * sizeof(float);
    const bool cpu = model->gpu == NULL;
    const size_t cache_n = cpu ? hp->n_layer * o.n_seq_max * o.n_ctx * c->kv_dim : 1;
    const size_t Bc = cpu ? B : 1; /* the CUDA engine keeps its own activations */
    int rc = 0;
    c->k_cache = core_malloc_aligned(cache_n * sizeof(uint16_t), 64);
    c->v_cache = core_malloc_aligned(cache_n * sizeof(uint16_t), 64);
    if (!c->k_cache || !c->v_cache) {
        rc = CORE_ENOMEM;
    }
    c->x = alloc_floats(Bc * hp->n_embd, &rc);
    c->xn = alloc_floats(Bc * wide, &rc);
    c->q = alloc_floats(Bc * c->q_dim, &rc);
    c->k = alloc_floats(Bc * c->kv_dim, &rc);
    c->v = alloc_floats(Bc * c->kv_dim, &rc);
    c->att = alloc_floats(Bc * c->q_dim, &rc);
    c->tmp = alloc_floats(Bc * hp->n_embd, &rc);
    c->gate = alloc_floats(Bc * hp->n_ff, &rc);
    c->up = alloc_floats(Bc * hp->n_ff, &rc);
    c->xq = alloc_floats(Bc * widest, &rc);
    const size_t group = hp->n_head_kv > 0 ? hp->n_head / hp->n_head_kv : 1;
    c->scores = alloc_floats(cpu ? o.n_threads * group * o.n_ctx : 1, &rc);
    c->n_rope_bases = cpu ? rope_bases(model, NULL) : 0;
    c->rope_cs = alloc_floats(c->n_rope_bases > 0 ? Bc * c->n_rope_bases * hp->n_rot : 1, &rc);
    c->logits = alloc_floats(o.n_outputs_max * hp->n_vocab, &rc);
    c->xo = alloc_floats(cpu ? o.n_outputs_max * hp->n_embd : 1, &rc);
    if (rc == 0) {
        c->tokens = core_calloc(B, sizeof(int32_t));
        c->seq = core_calloc(B, sizeof(int32_t));
        c->pos = core_calloc(B, sizeof(int32_t));
        c->out_rows = core_calloc(o.n_outputs_max, sizeof(int32_t));
        c->seq_len = core_calloc(o.n_seq_max, sizeof(size_t));
        c->argmax = core_calloc(o.n_outputs_max, sizeof(int32_t));
        c->have_logits = core_calloc(o.n_outputs_max, sizeof(bool));
        c->rope_slot = core_calloc(hp->n_layer + 1, sizeof(uint8_t));
        if (!c->tokens || !c->seq || !c->pos || !c->out_rows || !c->seq_len || !c->argmax ||
            !c->have_logits || !c->rope_slot) {
            rc = CORE_ENOMEM;
        } else {
            rope_bases(model, c->rope_slot);
        }
    }
    if (rc < 0) {
        gen_ctx_free(c);
        return core_err_set(err, CORE_ENOMEM,
                            "ctx: out of memory (KV cache of %zu MiB for %zu sequences of %zu)",
                            cache_n * 4 / (1024 * 1024), o.n_seq_max, o.n_ctx);
    }
    if (!cpu) {
        kern_cuda_ctx_options go = {o.n_ctx, o.n_seq_max, B, o.n_outputs_max, o.no_fuse, false};
        rc = model->cu->ctx_new(&c->gpu, model->gpu, &go, err);
        if (rc < 0) {
            gen_ctx_free(c);
            return rc;
        }
    }
    /* A CUDA context computes on the device: its pool needs no workers. */
    rc = gen__pool_new(&c->pool, cpu ? o.n_threads : 1, err);
    if (rc < 0) {
        gen_ctx_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void gen_ctx_free(gen_ctx *ctx)
{
    if (!ctx) {
        return;
    }
    if (ctx->gpu) {
        ctx->model->cu->ctx_free(ctx->gpu);
    }
    core_free(ctx->argmax);
    core_free(ctx->have_logits);
    gen__pool_free(ctx->pool);
    core_free_aligned(ctx->k_cache);
    core_free_aligned(ctx->v_cache);
    float *bufs[] = {ctx->x,    ctx->xn, ctx->q,  ctx->k,      ctx->v,      ctx->att, ctx->tmp,
                     ctx->gate, ctx->up, ctx->xq, ctx->scores, ctx->logits, ctx->xo,  ctx->rope_cs};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        core_free_aligned(bufs[i]);
    }
    core_free(ctx->tokens);
    core_free(ctx->seq);
    core_free(ctx->pos);
    core_free(ctx->out_rows);
    core_free(ctx->seq_len);
    core_free(ctx->rope_slot);
    core_free(ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* The forward pass                                                                           */
/* ------------------------------------------------------------------------------------------ */

static inline size_t split_lo(size_t n, size_t ith, size_t nth)
{
    return n * ith / nth;
}

static inline size_t split_hi(size_t n, size_t ith, size_t nth)
{
    return n * (ith + 1) / nth;
}

/* Offset of (layer, seq, pos) in the caches, in elements. */
static inline size_t cache_at(const gen_ctx *c, size_t il, size_t seq, size_t pos)
{
    return ((il * c->opts.n_seq_max + seq) * c->opts.n_ctx + pos) * c->kv_dim;
}

/* The activations a product with weight w reads: x itself for F32 weights, else x converted to
 * w's vec-dot type in c->xq. Every thread converts its rows; all compute the same result. Ends
 * with a barrier in both cases, so the phase before it needs none of its own when each thread
 * wrote exactly the rows of x it converts here (the same token split). */
typedef struct prepared {
    const void *xq;
    size_t row_bytes;
    kern_type type;
} prepared;

static prepared prepare(gen_ctx *c, const float *x, size_t stride, size_t n_rows, size_t n_cols,
                        kern_type vt, size_t ith, size_t nth)
{
    prepared p;
    p.type = vt;
    if (vt == KERN_TYPE_F32) {
        p.xq = x;
        p.row_bytes = stride * sizeof(float);
        gen__pool_barrier(c->pool);
        return p;
    }
    p.xq = c->xq;
    p.row_bytes = kern_type_row_bytes(vt, n_cols);
    for (size_t r = split_lo(n_rows, ith, nth); r < split_hi(n_rows, ith, nth); r++) {
        c->ops->quantize_row(vt, x + r * stride, (char *)c->xq + r * p.row_bytes, n_cols);
    }
    gen__pool_barrier(c->pool);
    return p;
}

/* y (n_rows, y_stride) = x * w^T over n_rows tokens; x is prepared for w if needed. Ends with
 * a barrier. prev lets consecutive products with the same input reuse the conversion. */
static void matmul(gen_ctx *c, const gen_weight *w, const float *x, size_t x_stride, size_t n,
                   float *y, size_t y_stride, prepared *prev, size_t ith, size_t nth)
{
    kern_type vt = kern_type_vec_dot(w->type);
    prepared p;
    if (prev && prev->xq && prev->type == vt) {
        p = *prev;
    } else {
        if (prev && prev->xq && prev->type != KERN_TYPE_F32) {
            /* Other threads may still read c->xq for the previous product. */
            gen__pool_barrier(c->pool);
        }
        p = prepare(c, x, x_stride, n, w->n_cols, vt, ith, nth);
        if (prev) {
            *prev = p;
        }
    }
    kern_matmul m = {.w_type = w->type,
                     .w = w->data,
                     .w_row_bytes = w->row_bytes,
                     .xq = p.xq,
                     .xq_row_bytes = p.row_bytes,
                     .y = y,
                     .y_stride = y_stride,
                     .n_rows = w->n_rows,
                     .n_cols = w->n_cols,
                     .n_batch = n,
                     .w_packed = w->packed};
    c->ops->matmul(&m, ith, nth);
}

static void add_bias(float *y, const float *b, size_t n)
{
    if (b) {
        for (size_t i = 0; i < n; i++) {
            y[i] += b[i];
        }
    }
}

/* The first position that a token at pos attends to in layer l (its sliding window's). */
static size_t kv_start(const gen_ctx *c, const gen_layer *l, size_t pos)
{
    const size_t n_swa = c->model->hp.n_swa;
    return l->is_swa && pos + 1 > n_swa ? pos + 1 - n_swa : 0;
}

#define KV_PREFETCH_ROWS 256 /* positions of keys and values prefetch_kv loads ahead, at most */

/*
 * Prefetches the keys and values that attention of token t's first n_q query heads reads in
 * layer il, up to its own position (stored during the pass, so already cached), or the first
 * KV_PREFETCH_ROWS of them. A decoding step's keys and values were stored steps ago, and the
 * weights that every step streams through the caches have evicted them since: the kernel,
 * reading them row by row, waited for memory (attention was 11% of an 8-token step at 2
 * threads; one token ahead, a fifth less).
 */
static void prefetch_kv(const gen_ctx *c, size_t il, size_t t, size_t n_q)
{
    const gen_hparams *hp = &c->model->hp;
    const size_t group = hp->n_head / hp->n_head_kv;
    const size_t row = c->kv_dim * sizeof(uint16_t);
    const size_t pos = (size_t)c->pos[t];
    const size_t start = kv_start(c, &c->model->layers[il], pos);
    const size_t at = cache_at(c, il, (size_t)c->seq[t], start);
    const char *k = (const char *)(c->k_cache + at);
    const char *v = (const char *)(c->v_cache + at);
    /* The bytes of each row that the heads' KV heads hold. */
    const size_t end = ((n_q - 1) / group + 1) * hp->head_dim * sizeof(uint16_t);
    /* At most KV_PREFETCH_ROWS positions: the kernel reads the rows in order, so the hardware
     * prefetchers carry a long context on, and a long one prefetched whole would push the
     * current token's rows and the weights out of L2. */
    const size_t n = pos - start < KV_PREFETCH_ROWS ? pos - start : KV_PREFETCH_ROWS;
    for (size_t p = 0; p < n; p++) {
        for (size_t b = 0; b < end; b += 64) {
            __builtin_prefetch(k + p * row + b, 0, 2);
            __builtin_prefetch(v + p * row + b, 0, 2);
        }
    }
}

/*
 * Attention of query heads [lo, hi) of the pass (head h of token t is t * n_head + h). Runs of
 * heads that share a token and a KV head go to the kernel as one group, which converts their
 * keys and values once; a split that cuts a group gives each thread its part of it. With wo
 * (not NULL: a vec-dot type whose blocks do not straddle heads), each group's output is also
 * converted for wo's product here, into the rows of c->xq that prepare() would write.
 */
static void attention(gen_ctx *c, size_t il, size_t lo, size_t hi, size_t ith, const prepared *wo)
{
    const gen_hparams *hp = &c->model->hp;
    const gen_layer *l = &c->model->layers[il];
    CORE_ASSERT(hp->n_head > 0 && hp->n_head_kv > 0); /* the loader checked; for analyzers */
    const size_t group = hp->n_head / hp->n_head_kv;
    float *scores = c->scores + ith * group * c->opts.n_ctx;
    for (size_t i = lo; i < hi;) {
        const size_t t = i / hp->n_head;
        const size_t h = i % hp->n_head;
        const size_t g_end = t * hp->n_head + (h / group + 1) * group;
        const size_t n_q = (g_end < hi ? g_end : hi) - i;
        const size_t pos = (size_t)c->pos[t];
        const size_t start = kv_start(c, l, pos);
        /* Entering token t: the next token's keys and values load while t's heads compute, if
         * they are another sequence's (a prompt's tokens share theirs, cached by now). */
        const size_t next = (t + 1) * hp->n_head;
        if ((i == lo || h == 0) && next < hi && c->seq[t + 1] != c->seq[t]) {
            prefetch_kv(c, il, t + 1, hi - next < hp->n_head ? hi - next : hp->n_head);
        }
        const size_t base = cache_at(c, il, (size_t)c->seq[t], start) + (h / group) * hp->head_dim;
        kern_attn a = {.q = c->q + t * c->q_dim + h * hp->head_dim,
                       .k = c->k_cache + base,
                       .v = c->v_cache + base,
                       .kv_stride = c->kv_dim,
                       .n_kv = pos + 1 - start,
                       .head_dim = hp->head_dim,
                       .scale = hp->attn_scale,
                       .scores = scores,
                       .out = c->att + t * c->q_dim + h * hp->head_dim,
                       .n_q = n_q,
                       .q_stride = hp->head_dim};
        c->ops->attn(&a);
        if (wo) {
            const size_t off = h * hp->head_dim;
            const size_t be = kern_type_block_elems(wo->type);
            c->ops->quantize_row(wo->type, a.out,
                                 (char *)c->xq + t * wo->row_bytes +
                                     off / be * kern_type_block_bytes(wo->type),
                                 n_q * hp->head_dim);
        }
        i += n_q;
    }
}

/* The conversion of the attention output for wo that attention() can do head by head: set
 * when wo's vec-dot type is F32 (none needed) or its blocks tile a head. */
static bool wo_by_heads(const gen_ctx *c, const gen_layer *l, prepared *p)
{
    const size_t hd = c->model->hp.head_dim;
    p->type = kern_type_vec_dot(l->wo.type);
    if (p->type == KERN_TYPE_F32) {
        p->xq = c->att;
        p->row_bytes = c->q_dim * sizeof(float);
        return true;
    }
    if (hd % kern_type_block_elems(p->type) != 0) {
        p->xq = NULL;
        return false;
    }
    p->xq = c->xq;
    p->row_bytes = kern_type_row_bytes(p->type, c->q_dim);
    return true;
}

/* Rotates token t's n_heads heads at x by the layer's RoPE, from the pass's table if any. */
static void rope(const gen_ctx *c, const gen_layer *l, size_t il, float *x, size_t n_heads,
                 size_t t)
{
    const gen_hparams *hp = &c->model->hp;
    if (c->n_rope_bases > 0) {
        const float *cs = c->rope_cs + (t * c->n_rope_bases + c->rope_slot[il]) * hp->n_rot;
        c->ops->rope_cs(x, n_heads, hp->head_dim, hp->n_rot, cs, hp->rope_mode);
    } else {
        c->ops->rope(x, n_heads, hp->head_dim, hp->n_rot, c->pos[t], l->rope_base, hp->rope_mode);
    }
}

static void forward_layer(gen_ctx *c, size_t il, size_t ith, size_t nth)
{
    const gen_model *m = c->model;
    const gen_hparams *hp = &m->hp;
    const gen_layer *l = &m->layers[il];
    const kern_ops *ops = c->ops;
    const size_t T = c->n_tokens;
    const size_t lo = split_lo(T, ith, nth);
    const size_t hi = split_hi(T, ith, nth);
    const size_t E = hp->n_embd;
    const size_t hd = hp->head_dim;

    /*
     * Barriers: only where a thread reads what another wrote. The token-wise phases (norms,
     * residuals, SwiGLU) and prepare() split tokens the same way, so a norm followed by a
     * product's conversion, or a residual followed by the next layer's norm, needs none.
     */

    /* Attention block. */
    for (size_t t = lo; t < hi; t++) {
        ops->rmsnorm(c->xn + t * E, c->x + t * E, l->attn_norm, E, hp->eps);
    }
    prepared p = {0};
    matmul(c, &l->wq, c->xn, E, T, c->q, c->q_dim, &p, ith, nth);
    matmul(c, &l->wk, c->xn, E, T, c->k, c->kv_dim, &p, ith, nth);
    matmul(c, &l->wv, c->xn, E, T, c->v, c->kv_dim, &p, ith, nth);
    gen__pool_barrier(c->pool);
    for (size_t t = lo; t < hi; t++) {
        float *q = c->q + t * c->q_dim;
        float *k = c->k + t * c->kv_dim;
        float *v = c->v + t * c->kv_dim;
        add_bias(q, l->bq, c->q_dim);
        add_bias(k, l->bk, c->kv_dim);
        add_bias(v, l->bv, c->kv_dim);
        if (l->q_norm) {
            for (size_t h = 0; h < hp->n_head; h++) {
                ops->rmsnorm(q + h * hd, q + h * hd, l->q_norm, hd, hp->eps);
            }
            for (size_t h = 0; h < hp->n_head_kv; h++) {
                ops->rmsnorm(k + h * hd, k + h * hd, l->k_norm, hd, hp->eps);
            }
        }
        rope(c, l, il, q, hp->n_head, t);
        rope(c, l, il, k, hp->n_head_kv, t);
        size_t at = cache_at(c, il, (size_t)c->seq[t], (size_t)c->pos[t]);
        ops->quantize_row(KERN_TYPE_F16, k, c->k_cache + at, c->kv_dim);
        ops->quantize_row(KERN_TYPE_F16, v, c->v_cache + at, c->kv_dim);
    }
    if (c->token_split) {
        /* Each token's sequence is its own in this pass and this thread stored its keys and
         * values just now; its attention rows are the ones wo's conversion reads here. */
        attention(c, il, lo * hp->n_head, hi * hp->n_head, ith, NULL);
        matmul(c, &l->wo, c->att, c->q_dim, T, c->tmp, E, NULL, ith, nth);
    } else {
        /* The threads' heads are not their tokens: attention converts its heads' output for
         * wo itself when it can, so that one barrier ends both. */
        prepared pw = {0};
        const bool by_heads = wo_by_heads(c, l, &pw);
        gen__pool_barrier(c->pool);
        attention(c, il, split_lo(T * hp->n_head, ith, nth), split_hi(T * hp->n_head, ith, nth),
                  ith, by_heads && pw.type != KERN_TYPE_F32 ? &pw : NULL);
        gen__pool_barrier(c->pool);
        matmul(c, &l->wo, c->att, c->q_dim, T, c->tmp, E, by_heads ? &pw : NULL, ith, nth);
    }
    gen__pool_barrier(c->pool);
    for (size_t t = lo; t < hi; t++) {
        float *y = c->tmp + t * E;
        float *x = c->x + t * E;
        if (l->post_attn_norm) {
            ops->rmsnorm(y, y, l->post_attn_norm, E, hp->eps);
        }
        for (size_t i = 0; i < E; i++) {
            x[i] += y[i];
        }
        ops->rmsnorm(c->xn + t * E, x, l->ffn_norm, E, hp->eps);
    }

    /* Feed-forward block. */
    p.xq = NULL;
    matmul(c, &l->w_gate, c->xn, E, T, c->gate, hp->n_ff, &p, ith, nth);
    matmul(c, &l->w_up, c->xn, E, T, c->up, hp->n_ff, &p, ith, nth);
    gen__pool_barrier(c->pool);
    for (size_t t = lo; t < hi; t++) {
        float *g = c->gate + t * hp->n_ff;
        if (m->arch == GEN_ARCH_GEMMA3) {
            ops->geglu(g, g, c->up + t * hp->n_ff, hp->n_ff);
        } else {
            ops->swiglu(g, g, c->up + t * hp->n_ff, hp->n_ff);
        }
    }
    matmul(c, &l->w_down, c->gate, hp->n_ff, T, c->tmp, E, NULL, ith, nth);
    gen__pool_barrier(c->pool);
    for (size_t t = lo; t < hi; t++) {
        float *y = c->tmp + t * E;
        float *x = c->x + t * E;
        if (l->post_ffn_norm) {
            ops->rmsnorm(y, y, l->post_ffn_norm, E, hp->eps);
        }
        for (size_t i = 0; i < E; i++) {
            x[i] += y[i];
        }
    }
}

/* gen__ctx_set_after's hook, after the last pass's n_out outputs are written. */
static void after_pass(gen_ctx *c, size_t n_out, size_t ith, size_t nth)
{
    if (c->after && c->last_pass) {
        gen__pool_barrier(c->pool);
        c->after(c->after_payload, c->logits, c->n_out_total + n_out, ith, nth);
    }
}

static void forward(void *payload, size_t ith, size_t nth)
{
    gen_ctx *c = payload;
    const gen_model *m = c->model;
    const gen_hparams *hp = &m->hp;
    const size_t E = hp->n_embd;
    const size_t T = c->n_tokens;
    /* Token-wise, with the layers' token split: the first norm reads only this thread's rows,
     * and its layers' rope only this thread's angles. */
    for (size_t t = split_lo(T, ith, nth); t < split_hi(T, ith, nth); t++) {
        float *x = c->x + t * E;
        const char *row =
            (const char *)m->tok_embd.data + (size_t)c->tokens[t] * m->tok_embd.row_bytes;
        c->ops->dequantize_row(m->tok_embd.type, row, x, E);
        if (hp->embd_scale != 1.0f) {
            for (size_t i = 0; i < E; i++) {
                x[i] *= hp->embd_scale;
            }
        }
        size_t filled = 0; /* slots are numbered by their first layer */
        for (size_t il = 0; il < hp->n_layer && filled < c->n_rope_bases; il++) {
            if (c->rope_slot[il] == filled) {
                kern_rope_table(c->rope_cs + (t * c->n_rope_bases + filled) * hp->n_rot, hp->n_rot,
                                c->pos[t], m->layers[il].rope_base);
                filled++;
            }
        }
    }
    for (size_t il = 0; il < hp->n_layer; il++) {
        forward_layer(c, il, ith, nth);
    }
    /* The outputs' rows may be other threads' tokens, unless every token is an output (a
     * decoding step): then output j is token j, and the split of the outputs is the tokens'. */
    const size_t n_out = c->n_out_pass;
    if (n_out != T) {
        gen__pool_barrier(c->pool);
    }
    if (n_out == 0) {
        after_pass(c, 0, ith, nth);
        return;
    }
    /* Each thread normalizes the rows that the product's conversion then reads on it. */
    float *xo = c->xo + c->n_out_total * E;
    for (size_t j = split_lo(n_out, ith, nth); j < split_hi(n_out, ith, nth); j++) {
        c->ops->rmsnorm(xo + j * E, c->x + (size_t)c->out_rows[j] * E, m->output_norm, E, hp->eps);
    }
    matmul(c, &m->output, xo, E, n_out, c->logits + c->n_out_total * hp->n_vocab, hp->n_vocab, NULL,
           ith, nth);
    after_pass(c, n_out, ith, nth);
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static bool keeps_logits(const gen_batch *b, size_t i)
{
    if (b->logits) {
        return b->logits[i];
    }
    /* Default: the last token of each sequence in the batch. */
    int32_t s = b->seq ? b->seq[i] : 0;
    for (size_t j = i + 1; j < b->n_tokens; j++) {
        if ((b->seq ? b->seq[j] : 0) == s) {
            return false;
        }
    }
    return true;
}

/* Runs the prepared pass on the GPU. Logits of a pass that is not the batch's last are copied
 * to the host now (the device holds one pass's); the last pass's stay until asked for. */
static int gpu_pass(gen_ctx *ctx, bool last, core_err *err)
{
    const size_t first = ctx->n_out_total;
    int rc = ctx->model->cu->ctx_forward(ctx->gpu, ctx->tokens, ctx->seq, ctx->pos, ctx->n_tokens,
                                         ctx->out_rows, ctx->n_out_pass, ctx->argmax + first, err);
    if (rc < 0) {
        return rc;
    }
    ctx->gpu_first = first;
    for (size_t j = 0; j < ctx->n_out_pass; j++) {
        ctx->have_logits[first + j] = false;
        if (!last) {
            float *dst = ctx->logits + (first + j) * ctx->model->hp.n_vocab;
            rc = ctx->model->cu->ctx_logits(ctx->gpu, j, dst, err);
            if (rc < 0) {
                return rc;
            }
            ctx->have_logits[first + j] = true;
        }
    }
    return 0;
}

/*
 * Whether the prepared pass's attention can go by tokens, with the token-wise phases' split, and
 * so without the two barriers around it: when no two of its tokens share a sequence (a token's
 * attention then reads only keys and values that earlier passes or its own thread stored) and
 * the tokens divide among the threads evenly enough. Otherwise (one token on two threads, a
 * prompt) the threads split the query heads.
 */
static bool token_split(const gen_ctx *ctx)
{
    const size_t T = ctx->n_tokens;
    const size_t nth = gen__pool_n_threads(ctx->pool);
    if (T % nth != 0 && T < 4 * nth) {
        return false;
    }
    for (size_t i = 0; i < T; i++) {
        for (size_t j = i + 1; j < T; j++) {
            if (ctx->seq[i] == ctx->seq[j]) {
                return false;
            }
        }
    }
    return true;
}

int gen_ctx_decode(gen_ctx *ctx, const gen_batch *batch, core_err *err)
{
    const gen_hparams *hp = &ctx->model->hp;
    size_t n_out = 0;
    /* Validate everything before touching the cache, so a bad batch changes nothing. */
    for (size_t i = 0; i < batch->n_tokens; i++) {
        int32_t tok = batch->tokens[i];
        int32_t s = batch->seq ? batch->seq[i] : 0;
        if (tok < 0 || (size_t)tok >= hp->n_vocab) {
            return core_err_set(err, CORE_EINVAL, "decode: token %zu: id %d out of range [0, %zu)",
                                i, tok, hp->n_vocab);
        }
        if (s < 0 || (size_t)s >= ctx->opts.n_seq_max) {
            return core_err_set(err, CORE_EINVAL,
                                "decode: token %zu: sequence %d out of range [0, %zu)", i, s,
                                ctx->opts.n_seq_max);
        }
        n_out += keeps_logits(batch, i);
    }
    if (n_out > ctx->opts.n_outputs_max) {
        return core_err_set(err, CORE_ELIMIT, "decode: %zu tokens keep logits, the context has %zu",
                            n_out, ctx->opts.n_outputs_max);
    }
    for (size_t s = 0; s < ctx->opts.n_seq_max; s++) {
        size_t n_new = 0;
        for (size_t i = 0; i < batch->n_tokens; i++) {
            n_new += (size_t)(batch->seq ? batch->seq[i] : 0) == s;
        }
        if (ctx->seq_len[s] + n_new > ctx->opts.n_ctx) {
            return core_err_set(
                err, CORE_ELIMIT,
                "decode: sequence %zu would hold %zu positions, the context has %zu", s,
                ctx->seq_len[s] + n_new, ctx->opts.n_ctx);
        }
    }
    ctx->n_out_total = 0;
    for (size_t done = 0; done < batch->n_tokens;) {
        if (core_cancel_is_requested(ctx->cancel)) {
            return core_err_set(err, CORE_ECANCELED, "decode: canceled after %zu tokens", done);
        }
        size_t n = batch->n_tokens - done;
        if (n > ctx->opts.n_batch_max) {
            n = ctx->opts.n_batch_max;
        }
        ctx->n_tokens = n;
        ctx->n_out_pass = 0;
        for (size_t t = 0; t < n; t++) {
            size_t i = done + t;
            int32_t s = batch->seq ? batch->seq[i] : 0;
            ctx->tokens[t] = batch->tokens[i];
            ctx->seq[t] = s;
            ctx->pos[t] = (int32_t)ctx->seq_len[s]++;
            if (keeps_logits(batch, i)) {
                ctx->out_rows[ctx->n_out_pass++] = (int32_t)t;
            }
        }
        ctx->token_split = token_split(ctx);
        if (ctx->gpu) {
            int rc = gpu_pass(ctx, done + n == batch->n_tokens, err);
            if (rc < 0) {
                return rc;
            }
        } else {
            ctx->last_pass = done + n == batch->n_tokens;
            gen__pool_run(ctx->pool, forward, ctx);
        }
        ctx->n_out_total += ctx->n_out_pass;
        done += n;
    }
    return 0;
}

bool gen__ctx_set_after(gen_ctx *ctx, gen_ctx_after_fn fn, void *payload)
{
    if (ctx->gpu) {
        return false;
    }
    ctx->after = fn;
    ctx->after_payload = payload;
    return true;
}

float *gen_ctx_logits(gen_ctx *ctx, size_t i)
{
    if (i >= ctx->n_out_total) {
        return NULL;
    }
    float *row = ctx->logits + i * ctx->model->hp.n_vocab;
    if (ctx->gpu && !ctx->have_logits[i]) {
        core_err err = {0};
        if (i < ctx->gpu_first ||
            ctx->model->cu->ctx_logits(ctx->gpu, i - ctx->gpu_first, row, &err) < 0) {
            return NULL;
        }
        ctx->have_logits[i] = true;
    }
    return row;
}

int32_t gen_ctx_argmax(gen_ctx *ctx, size_t i)
{
    if (i >= ctx->n_out_total) {
        return -1;
    }
    if (ctx->gpu) {
        return ctx->argmax[i];
    }
    const float *row = ctx->logits + i * ctx->model->hp.n_vocab;
    size_t best = 0;
    for (size_t v = 1; v < ctx->model->hp.n_vocab; v++) {
        if (row[v] > row[best]) {
            best = v;
        }
    }
    return (int32_t)best;
}

size_t gen_ctx_seq_len(const gen_ctx *ctx, int32_t seq)
{
    if (seq < 0 || (size_t)seq >= ctx->opts.n_seq_max) {
        return 0;
    }
    return ctx->seq_len[seq];
}

int gen_ctx_seq_truncate(gen_ctx *ctx, int32_t seq, size_t n_pos, core_err *err)
{
    if (seq < 0 || (size_t)seq >= ctx->opts.n_seq_max) {
        return core_err_set(err, CORE_EINVAL, "ctx: sequence %d out of range", seq);
    }
    if (n_pos < ctx->seq_len[seq]) {
        ctx->seq_len[seq] = n_pos;
    }
    return 0;
}

int gen_ctx_seq_copy(gen_ctx *ctx, int32_t dst, int32_t src, size_t n_pos, core_err *err)
{
    if (dst < 0 || src < 0 || (size_t)dst >= ctx->opts.n_seq_max ||
        (size_t)src >= ctx->opts.n_seq_max) {
        return core_err_set(err, CORE_EINVAL, "ctx: sequence %d or %d out of range", dst, src);
    }
    if (n_pos > ctx->seq_len[src]) {
        return core_err_set(err, CORE_EINVAL, "ctx: sequence %d holds %zu positions, not %zu", src,
                            ctx->seq_len[src], n_pos);
    }
    if (dst != src && ctx->gpu) {
        int rc = ctx->model->cu->ctx_seq_copy(ctx->gpu, dst, src, n_pos, err);
        if (rc < 0) {
            return rc;
        }
    } else if (dst != src) {
        for (size_t il = 0; il < ctx->model->hp.n_layer; il++) {
            size_t from = cache_at(ctx, il, (size_t)src, 0);
            size_t to = cache_at(ctx, il, (size_t)dst, 0);
            memcpy(ctx->k_cache + to, ctx->k_cache + from, n_pos * ctx->kv_dim * sizeof(uint16_t));
            memcpy(ctx->v_cache + to, ctx->v_cache + from, n_pos * ctx->kv_dim * sizeof(uint16_t));
        }
    }
    ctx->seq_len[dst] = n_pos;
    return 0;
}

void gen_ctx_set_cancel(gen_ctx *ctx, const core_cancel *cancel)
{
    ctx->cancel = cancel;
}
