/*
 * The scalar reference forward pass of the tiny models, in double precision, one layer at a
 * time over the whole sequence. It follows the architectures as llama.cpp runs them:
 *
 *   llama:  x = embd[t]; per layer: x += Wo attn(rope_norm(Wq n(x)), rope_norm(Wk n(x)), Wv n(x));
 *           x += Wdown(silu(Wgate n(x)) * Wup n(x)); logits = token_embd . n(x)
 *   qwen2:  as llama with biases on q/k/v, NEOX RoPE and an untied output matrix
 *   gemma3: x = embd[t] * sqrt(n_embd); q and k get a per-head RMSNorm before NEOX RoPE; the
 *           attention output and the FFN output get their own RMSNorm (post_attention_norm,
 *           post_ffw_norm) before the residual add; GeGLU (tanh GELU); sliding-window layers
 *           see the last n_swa positions (i - j < n_swa) and use the local RoPE base
 *
 * where n() is RMSNorm with the layer's weight, attention uses grouped query heads (head h reads
 * kv head h / (n_head / n_head_kv)), a causal mask and scale 1/sqrt(head_dim), and RoPE rotates
 * pairs (2i, 2i+1) (NORM) or (i, i + d/2) (NEOX) by pos * base^(-2i/d).
 */
#include "tests/tools/tiny_ref.h"

#include <math.h>
#include <string.h>

typedef struct ref_buffers {
    double *x;   /* (n_tokens, n_embd) residual stream */
    double *h;   /* (n_embd) normalized input */
    double *q;   /* (n_tokens, q_dim) */
    double *k;   /* (n_tokens, kv_dim) */
    double *v;   /* (n_tokens, kv_dim) */
    double *att; /* (q_dim) one token's attention output */
    double *p;   /* (n_tokens) attention weights */
    double *o;   /* (max(n_embd, n_ff)) */
    double *g;   /* (n_ff) */
    double *u;   /* (n_ff) */
} ref_buffers;

static void rmsnorm(double *y, const double *x, const float *w, size_t n, double eps)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        ss += x[i] * x[i];
    }
    const double scale = 1.0 / sqrt(ss / (double)n + eps);
    for (size_t i = 0; i < n; i++) {
        y[i] = x[i] * scale * (double)w[i];
    }
}

/* y = W x (+ b) for W (rows, cols). */
static void matvec(double *y, const float *w, const float *b, const double *x, size_t rows,
                   size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *row = w + r * cols;
        double acc = 0.0;
        for (size_t c = 0; c < cols; c++) {
            acc += (double)row[c] * x[c];
        }
        y[r] = acc + (b != NULL ? (double)b[r] : 0.0);
    }
}

static void rope(double *x, size_t n_heads, size_t head_dim, size_t pos, double base, bool neox)
{
    for (size_t h = 0; h < n_heads; h++) {
        double *v = x + h * head_dim;
        for (size_t i = 0; i < head_dim / 2; i++) {
            const double theta = (double)pos * pow(base, -2.0 * (double)i / (double)head_dim);
            const double c = cos(theta);
            const double s = sin(theta);
            const size_t i0 = neox ? i : 2 * i;
            const size_t i1 = neox ? i + head_dim / 2 : 2 * i + 1;
            const double a = v[i0];
            const double b = v[i1];
            v[i0] = a * c - b * s;
            v[i1] = a * s + b * c;
        }
    }
}

static double silu(double x)
{
    return x / (1.0 + exp(-x));
}

static double gelu_tanh(double x)
{
    const double k = 0.79788456080286535588; /* sqrt(2 / pi) */
    return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
}

static void layer_forward(const tiny_model *m, const tiny_layer *l, ref_buffers *b, size_t n_tokens)
{
    const tiny_model_spec *s = &m->spec;
    const size_t n_embd = s->n_embd;
    const size_t hd = s->head_dim;
    const size_t q_dim = s->n_head * hd;
    const size_t kv_dim = s->n_head_kv * hd;
    const bool gemma = s->arch == TINY_ARCH_GEMMA3;
    const bool neox = s->arch != TINY_ARCH_LLAMA;
    const double eps = (double)s->eps;

    for (size_t t = 0; t < n_tokens; t++) {
        double *q = b->q + t * q_dim;
        double *k = b->k + t * kv_dim;
        double *v = b->v + t * kv_dim;
        rmsnorm(b->h, b->x + t * n_embd, l->attn_norm, n_embd, eps);
        matvec(q, l->wq, l->bq, b->h, q_dim, n_embd);
        matvec(k, l->wk, l->bk, b->h, kv_dim, n_embd);
        matvec(v, l->wv, l->bv, b->h, kv_dim, n_embd);
        if (gemma) {
            for (size_t h = 0; h < s->n_head; h++) {
                rmsnorm(q + h * hd, q + h * hd, l->q_norm, hd, eps);
            }
            for (size_t h = 0; h < s->n_head_kv; h++) {
                rmsnorm(k + h * hd, k + h * hd, l->k_norm, hd, eps);
            }
        }
        rope(q, s->n_head, hd, t, (double)l->rope_base, neox);
        rope(k, s->n_head_kv, hd, t, (double)l->rope_base, neox);
    }

    const double scale = 1.0 / sqrt((double)hd);
    CORE_ASSERT(s->n_head_kv > 0 && s->n_head >= s->n_head_kv);
    const size_t group = s->n_head / s->n_head_kv;
    /* q, k and v of every token are ready, so adding into x no longer disturbs them. */
    for (size_t t = 0; t < n_tokens; t++) {
        const size_t lo = l->is_swa && t + 1 > s->n_swa ? t + 1 - s->n_swa : 0;
        for (size_t h = 0; h < s->n_head; h++) {
            const double *q = b->q + t * q_dim + h * hd;
            const size_t kvh = h / group;
            double max = -HUGE_VAL;
            for (size_t j = lo; j <= t; j++) {
                const double *k = b->k + j * kv_dim + kvh * hd;
                double dot = 0.0;
                for (size_t d = 0; d < hd; d++) {
                    dot += q[d] * k[d];
                }
                b->p[j] = dot * scale;
                max = b->p[j] > max ? b->p[j] : max;
            }
            double sum = 0.0;
            for (size_t j = lo; j <= t; j++) {
                b->p[j] = exp(b->p[j] - max);
                sum += b->p[j];
            }
            double *out = b->att + h * hd;
            memset(out, 0, hd * sizeof(*out));
            for (size_t j = lo; j <= t; j++) {
                const double *v = b->v + j * kv_dim + kvh * hd;
                for (size_t d = 0; d < hd; d++) {
                    out[d] += b->p[j] / sum * v[d];
                }
            }
        }
        double *x = b->x + t * n_embd;
        matvec(b->o, l->wo, NULL, b->att, n_embd, q_dim);
        if (gemma) {
            rmsnorm(b->o, b->o, l->post_attn_norm, n_embd, eps);
        }
        for (size_t i = 0; i < n_embd; i++) {
            x[i] += b->o[i];
        }
    }

    for (size_t t = 0; t < n_tokens; t++) {
        double *x = b->x + t * n_embd;
        rmsnorm(b->h, x, l->ffn_norm, n_embd, eps);
        matvec(b->g, l->w_gate, NULL, b->h, s->n_ff, n_embd);
        matvec(b->u, l->w_up, NULL, b->h, s->n_ff, n_embd);
        for (size_t i = 0; i < s->n_ff; i++) {
            b->g[i] = (gemma ? gelu_tanh(b->g[i]) : silu(b->g[i])) * b->u[i];
        }
        matvec(b->o, l->w_down, NULL, b->g, n_embd, s->n_ff);
        if (gemma) {
            rmsnorm(b->o, b->o, l->post_ffw_norm, n_embd, eps);
        }
        for (size_t i = 0; i < n_embd; i++) {
            x[i] += b->o[i];
        }
    }
}

int tiny_ref_forward(const tiny_model *m, const int32_t *tokens, size_t n_tokens, float *logits,
                     core_err *err)
{
    const tiny_model_spec *s = &m->spec;
    const size_t n_embd = s->n_embd;
    const size_t q_dim = s->n_head * s->head_dim;
    const size_t kv_dim = s->n_head_kv * s->head_dim;
    const size_t n_wide = n_embd > s->n_ff ? n_embd : s->n_ff;
    ref_buffers b = {0};
    int rc = 0;

    for (size_t t = 0; t < n_tokens; t++) {
        if (tokens[t] < 0 || (size_t)tokens[t] >= m->n_vocab) {
            return core_err_set(err, CORE_EINVAL, "tiny ref: token %zu: id %d out of range", t,
                                (int)tokens[t]);
        }
    }
    b.x = core_malloc(n_tokens * n_embd * sizeof(double));
    b.h = core_malloc(n_embd * sizeof(double));
    b.q = core_malloc(n_tokens * q_dim * sizeof(double));
    b.k = core_malloc(n_tokens * kv_dim * sizeof(double));
    b.v = core_malloc(n_tokens * kv_dim * sizeof(double));
    b.att = core_malloc(q_dim * sizeof(double));
    b.p = core_malloc(n_tokens * sizeof(double));
    b.o = core_malloc(n_wide * sizeof(double));
    b.g = core_malloc(s->n_ff * sizeof(double));
    b.u = core_malloc(s->n_ff * sizeof(double));
    if (b.x == NULL || b.h == NULL || b.q == NULL || b.k == NULL || b.v == NULL || b.att == NULL ||
        b.p == NULL || b.o == NULL || b.g == NULL || b.u == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "tiny ref: out of memory");
        goto done;
    }

    /* Gemma scales the embeddings by sqrt(n_embd), rounded to float as llama.cpp does. */
    const double embd_scale = s->arch == TINY_ARCH_GEMMA3 ? (double)sqrtf((float)n_embd) : 1.0;
    for (size_t t = 0; t < n_tokens; t++) {
        const float *e = m->token_embd + (size_t)tokens[t] * n_embd;
        for (size_t i = 0; i < n_embd; i++) {
            b.x[t * n_embd + i] = (double)e[i] * embd_scale;
        }
    }
    for (size_t il = 0; il < s->n_layer; il++) {
        layer_forward(m, &m->layers[il], &b, n_tokens);
    }
    for (size_t t = 0; t < n_tokens; t++) {
        rmsnorm(b.h, b.x + t * n_embd, m->output_norm, n_embd, (double)s->eps);
        for (size_t r = 0; r < m->n_vocab; r++) {
            const float *row = m->output + r * n_embd;
            double acc = 0.0;
            for (size_t c = 0; c < n_embd; c++) {
                acc += (double)row[c] * b.h[c];
            }
            logits[t * m->n_vocab + r] = (float)acc;
        }
    }
done:
    core_free(b.x);
    core_free(b.h);
    core_free(b.q);
    core_free(b.k);
    core_free(b.v);
    core_free(b.att);
    core_free(b.p);
    core_free(b.o);
    core_free(b.g);
    core_free(b.u);
    return rc;
}

int tiny_ref_greedy(const tiny_model *m, const int32_t *prompt, size_t n_prompt, size_t n_gen,
                    int32_t *out, double *margin_min, core_err *err)
{
    const size_t n_total = n_prompt + n_gen;
    int32_t *tokens = core_malloc(n_total * sizeof(*tokens));
    float *logits = core_malloc(n_total * m->n_vocab * sizeof(*logits));
    int rc = 0;
    if (tokens == NULL || logits == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "tiny ref: out of memory");
        goto done;
    }
    memcpy(tokens, prompt, n_prompt * sizeof(*tokens));
    *margin_min = HUGE_VAL;
    /* Recomputing the whole sequence per token is quadratic, but tiny sequences make it cheap. */
    for (size_t i = 0; i < n_gen; i++) {
        const size_t n = n_prompt + i;
        rc = tiny_ref_forward(m, tokens, n, logits, err);
        if (rc != 0) {
            goto done;
        }
        const float *row = logits + (n - 1) * m->n_vocab;
        size_t best = 0;
        for (size_t r = 1; r < m->n_vocab; r++) {
            best = row[r] > row[best] ? r : best;
        }
        double second = -HUGE_VAL;
        for (size_t r = 0; r < m->n_vocab; r++) {
            second = r != best && (double)row[r] > second ? (double)row[r] : second;
        }
        const double margin = (double)row[best] - second;
        *margin_min = margin < *margin_min ? margin : *margin_min;
        tokens[n] = (int32_t)best;
        out[i] = (int32_t)best;
    }
done:
    core_free(tokens);
    core_free(logits);
    return rc;
}
