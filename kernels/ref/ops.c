/*
 * Reference element-wise and attention ops: rmsnorm, softmax, rope, swiglu, geglu, attn. Each
 * follows what ggml's CPU backend computes (ggml-cpu/ops.cpp, vec.h) so that kiln's logits can
 * be compared with llama.cpp's: sums of squares and of exponentials in double; rope angles
 * built by repeated multiplication by base^(-2/n_rot), as ggml's rope cache does; gelu through
 * f16 (ggml's GGML_GELU_FP16 table: the input rounded to f16, the result rounded to f16);
 * attention with q and the probabilities rounded to f16 before their products with an f16
 * cache, as ggml's mul_mat does when converting to the cache's vec_dot type.
 */
#include "kernels/kern_impl.h"

#include <math.h>

void kern_rmsnorm_ref(float *y, const float *x, const float *w, size_t n, float eps)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)(x[i] * x[i]);
    }
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (size_t i = 0; i < n; i++) {
        y[i] = w ? (x[i] * scale) * w[i] : x[i] * scale;
    }
}

void kern_softmax_ref(float *x, size_t n, float scale)
{
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        x[i] *= scale;
        max = fmaxf(max, x[i]);
    }
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++) {
        x[i] *= inv;
    }
}

/* Pairs whose angles one table on the stack holds. */
#define ROPE_PAIRS_MAX 256

/* The angles of pairs [i0, i0 + n) into cs, from theta (pair i0's angle), which it advances. */
static void rope_angles(float *cs, size_t n, float *theta, float theta_scale)
{
    for (size_t i = 0; i < n; i++) {
        cs[2 * i] = cosf(*theta);
        cs[2 * i + 1] = sinf(*theta);
        *theta *= theta_scale;
    }
}

/* Rotates pairs [i0, i0 + n) of one head v by the angles cs (pair i0's first). */
static void rope_pairs(float *v, const float *cs, size_t i0, size_t n, size_t n_pairs,
                       kern_rope_mode mode)
{
    for (size_t i = i0; i < i0 + n; i++) {
        const float c = cs[2 * (i - i0)];
        const float s = cs[2 * (i - i0) + 1];
        const size_t a = mode == KERN_ROPE_MODE_NEOX ? i : 2 * i;
        const size_t b = mode == KERN_ROPE_MODE_NEOX ? i + n_pairs : 2 * i + 1;
        const float x0 = v[a];
        const float x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

void kern_rope_table(float *cs, size_t n_rot, int32_t pos, float theta_base)
{
    float theta = (float)pos;
    rope_angles(cs, n_rot / 2, &theta, powf(theta_base, -2.0f / (float)n_rot));
}

void kern_rope_cs_ref(float *x, size_t n_heads, size_t head_dim, size_t n_rot, const float *cs,
                      kern_rope_mode mode)
{
    for (size_t h = 0; h < n_heads; h++) {
        rope_pairs(x + h * head_dim, cs, 0, n_rot / 2, n_rot / 2, mode);
    }
}

void kern_rope_ref(float *x, size_t n_heads, size_t head_dim, size_t n_rot, int32_t pos,
                   float theta_base, kern_rope_mode mode)
{
    /* Every head sees the same angles: take their cosines and sines once (the same values). */
    float cs[2 * ROPE_PAIRS_MAX];
    const size_t n_pairs = n_rot / 2;
    if (n_pairs <= ROPE_PAIRS_MAX) {
        kern_rope_table(cs, n_rot, pos, theta_base);
        kern_rope_cs_ref(x, n_heads, head_dim, n_rot, cs, mode);
        return;
    }
    /* Longer rotations: each head's angles a table at a time, the same values. */
    const float theta_scale = powf(theta_base, -2.0f / (float)n_rot);
    for (size_t h = 0; h < n_heads; h++) {
        float theta = (float)pos;
        for (size_t i0 = 0; i0 < n_pairs; i0 += ROPE_PAIRS_MAX) {
            const size_t n = n_pairs - i0 < ROPE_PAIRS_MAX ? n_pairs - i0 : ROPE_PAIRS_MAX;
            rope_angles(cs, n, &theta, theta_scale);
            rope_pairs(x + h * head_dim, cs, i0, n, n_pairs, mode);
        }
    }
}

void kern_swiglu_ref(float *y, const float *g, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

float kern__gelu_f16(float x)
{
    /* ggml clamps outside [-10, 10] and otherwise looks up f16(gelu(f16(x))). */
    if (x <= -10.0f) {
        return 0.0f;
    }
    if (x >= 10.0f) {
        return x;
    }
    const float xh = kern_f16_to_f32(kern_f32_to_f16(x));
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float g = 0.5f * xh * (1.0f + tanhf(sqrt_2_over_pi * xh * (1.0f + 0.044715f * xh * xh)));
    return kern_f16_to_f32(kern_f32_to_f16(g));
}

void kern_geglu_ref(float *y, const float *g, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        y[i] = kern__gelu_f16(g[i]) * u[i];
    }
}

void kern_attn_ref(const kern_attn *a)
{
    if (a->n_q > 1) {
        for (size_t i = 0; i < a->n_q; i++) {
            const kern_attn h = kern__attn_head(a, i);
            kern_attn_ref(&h);
        }
        return;
    }
    for (size_t j = 0; j < a->n_kv; j++) {
        const uint16_t *k = a->k + j * a->kv_stride;
        double dot = 0.0;
        for (size_t d = 0; d < a->head_dim; d++) {
            const float qh = kern_f16_to_f32(kern_f32_to_f16(a->q[d]));
            dot += (double)(qh * kern_f16_to_f32(k[d]));
        }
        a->scores[j] = (float)dot;
    }
    kern_softmax_ref(a->scores, a->n_kv, a->scale);
    for (size_t d = 0; d < a->head_dim; d++) {
        double sum = 0.0;
        for (size_t j = 0; j < a->n_kv; j++) {
            const float p = kern_f16_to_f32(kern_f32_to_f16(a->scores[j]));
            sum += (double)(p * kern_f16_to_f32(a->v[j * a->kv_stride + d]));
        }
        a->out[d] = (float)sum;
    }
}
