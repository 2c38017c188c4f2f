/*
 * Reference dot products and matmul. Each weight type is dotted with its activation type
 * (kern_type_vec_dot) with ggml's semantics (ggml-cpu/quants.c, the _generic vec_dot
 * functions): an exact integer dot per block, then the block's scales in float; Q4_1/Q5_1 add
 * m * s from the Q8_1 block's precomputed s; the K types combine 6-bit sub-block scales and
 * subtract dmin * mins * bsums. Float types accumulate products in double, as ggml's scalar
 * path does.
 */
#include "kernels/kern_impl.h"

static uint32_t load_qh(const uint8_t *qh)
{
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) |
           ((uint32_t)qh[3] << 24);
}

static float dot_q4_0(const kern_block_q4_0 *restrict x, const kern_block_q8_0 *restrict y,
                      size_t nb)
{
    float sumf = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + KERN_QK / 2];
        }
        sumf += (float)sumi * (kern_f16_to_f32(x[i].d) * kern_f16_to_f32(y[i].d));
    }
    return sumf;
}

static float dot_q4_1(const kern_block_q4_1 *restrict x, const kern_block_q8_1 *restrict y,
                      size_t nb)
{
    float sumf = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            sumi += (x[i].qs[j] & 0xF) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[j + KERN_QK / 2];
        }
        sumf += (kern_f16_to_f32(x[i].d) * kern_f16_to_f32(y[i].d)) * (float)sumi +
                kern_f16_to_f32(x[i].m) * kern_f16_to_f32(y[i].s);
    }
    return sumf;
}

static float dot_q5_0(const kern_block_q5_0 *restrict x, const kern_block_q8_0 *restrict y,
                      size_t nb)
{
    float sumf = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            const int x0 = (int)((x[i].qs[j] & 0xF) | (((qh >> j) << 4) & 0x10)) - 16;
            const int x1 = (int)((x[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
            sumi += x0 * y[i].qs[j] + x1 * y[i].qs[j + KERN_QK / 2];
        }
        sumf += (float)sumi * (kern_f16_to_f32(x[i].d) * kern_f16_to_f32(y[i].d));
    }
    return sumf;
}

static float dot_q5_1(const kern_block_q5_1 *restrict x, const kern_block_q8_1 *restrict y,
                      size_t nb)
{
    float sumf = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            const int x0 = (int)((x[i].qs[j] & 0xF) | (((qh >> j) << 4) & 0x10));
            const int x1 = (int)((x[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
            sumi += x0 * y[i].qs[j] + x1 * y[i].qs[j + KERN_QK / 2];
        }
        sumf += (kern_f16_to_f32(x[i].d) * kern_f16_to_f32(y[i].d)) * (float)sumi +
                kern_f16_to_f32(x[i].m) * kern_f16_to_f32(y[i].s);
    }
    return sumf;
}

/* Q8_0 x Q8_0, and Q8_1 x Q8_1 (same quants and d at different offsets). */
static float dot_q8(const int8_t *restrict xq, const uint16_t *xd, const int8_t *restrict yq,
                    const uint16_t *yd, size_t nb, size_t stride)
{
    float sumf = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const int8_t *a = (const int8_t *)((const char *)xq + i * stride);
        const int8_t *b = (const int8_t *)((const char *)yq + i * stride);
        int sumi = 0;
        for (int j = 0; j < KERN_QK; j++) {
            sumi += a[j] * b[j];
        }
        const uint16_t *dx = (const uint16_t *)((const char *)xd + i * stride);
        const uint16_t *dy = (const uint16_t *)((const char *)yd + i * stride);
        sumf += (float)sumi * (kern_f16_to_f32(*dx) * kern_f16_to_f32(*dy));
    }
    return sumf;
}

static float dot_q4_k(const kern_block_q4_k *restrict x, const kern_block_q8_k *restrict y,
                      size_t nb)
{
    float sumf = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int sumi = 0;
        int summ = 0;
        const uint8_t *q = x[i].qs;
        const int8_t *a = y[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32, a += 64) {
            uint8_t sc1;
            uint8_t m1;
            uint8_t sc2;
            uint8_t m2;
            kern__scale_min_k4(x[i].scales, j, &sc1, &m1);
            kern__scale_min_k4(x[i].scales, j + 1, &sc2, &m2);
            int s1 = 0;
            int s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (q[l] & 0xF) * a[l];
                s2 += (q[l] >> 4) * a[l + 32];
            }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]) +
                    m2 * (y[i].bsums[2 * j + 2] + y[i].bsums[2 * j + 3]);
        }
        const float d = y[i].d * kern_f16_to_f32(x[i].d);
        const float dmin = y[i].d * kern_f16_to_f32(x[i].dmin);
        sumf += d * (float)sumi - dmin * (float)summ;
    }
    return sumf;
}

static float dot_q5_k(const kern_block_q5_k *restrict x, const kern_block_q8_k *restrict y,
                      size_t nb)
{
    float sumf = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int sumi = 0;
        int summ = 0;
        const uint8_t *q = x[i].qs;
        const int8_t *a = y[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32, a += 64) {
            uint8_t sc1;
            uint8_t m1;
            uint8_t sc2;
            uint8_t m2;
            kern__scale_min_k4(x[i].scales, j, &sc1, &m1);
            kern__scale_min_k4(x[i].scales, j + 1, &sc2, &m2);
            int s1 = 0;
            int s2 = 0;
            for (int l = 0; l < 32; l++) {
                const int h1 = (x[i].qh[l] >> j) & 1;
                const int h2 = (x[i].qh[l] >> (j + 1)) & 1;
                s1 += ((q[l] & 0xF) | (h1 << 4)) * a[l];
                s2 += ((q[l] >> 4) | (h2 << 4)) * a[l + 32];
            }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]) +
                    m2 * (y[i].bsums[2 * j + 2] + y[i].bsums[2 * j + 3]);
        }
        const float d = y[i].d * kern_f16_to_f32(x[i].d);
        const float dmin = y[i].d * kern_f16_to_f32(x[i].dmin);
        sumf += d * (float)sumi - dmin * (float)summ;
    }
    return sumf;
}

static float dot_q6_k(const kern_block_q6_k *restrict x, const kern_block_q8_k *restrict y,
                      size_t nb)
{
    float sumf = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].ql;
        const uint8_t *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        const int8_t *a = y[i].qs;
        int sumi = 0;
        for (int n = 0; n < KERN_QK_K; n += 128, ql += 64, qh += 32, sc += 8, a += 128) {
            int s[8] = {0};
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                s[is + 0] += q1 * a[l];
                s[is + 2] += q2 * a[l + 32];
                s[is + 4] += q3 * a[l + 64];
                s[is + 6] += q4 * a[l + 96];
            }
            for (int g = 0; g < 8; g++) {
                sumi += sc[g] * s[g];
            }
        }
        sumf += kern_f16_to_f32(x[i].d) * y[i].d * (float)sumi;
    }
    return sumf;
}

static float dot_q8_k(const kern_block_q8_k *restrict x, const kern_block_q8_k *restrict y,
                      size_t nb)
{
    float sumf = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < KERN_QK_K; j++) {
            sumi += x[i].qs[j] * y[i].qs[j];
        }
        sumf += x[i].d * y[i].d * (float)sumi;
    }
    return sumf;
}

float kern_vec_dot_ref(kern_type w_type, const void *restrict w, const void *restrict x, size_t n)
{
    const size_t nb = n / kern_type_block_elems(w_type);
    double sum = 0.0;
    switch (w_type) {
    case KERN_TYPE_F32:
        for (size_t i = 0; i < n; i++) {
            sum += (double)(((const float *)w)[i] * ((const float *)x)[i]);
        }
        return (float)sum;
    case KERN_TYPE_F16:
        for (size_t i = 0; i < n; i++) {
            sum += (double)(kern_f16_to_f32(((const uint16_t *)w)[i]) *
                            kern_f16_to_f32(((const uint16_t *)x)[i]));
        }
        return (float)sum;
    case KERN_TYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            sum += (double)(kern_bf16_to_f32(((const uint16_t *)w)[i]) *
                            kern_bf16_to_f32(((const uint16_t *)x)[i]));
        }
        return (float)sum;
    case KERN_TYPE_Q4_0:
        return dot_q4_0(w, x, nb);
    case KERN_TYPE_Q4_1:
        return dot_q4_1(w, x, nb);
    case KERN_TYPE_Q5_0:
        return dot_q5_0(w, x, nb);
    case KERN_TYPE_Q5_1:
        return dot_q5_1(w, x, nb);
    case KERN_TYPE_Q8_0: {
        const kern_block_q8_0 *a = w;
        const kern_block_q8_0 *b = x;
        return dot_q8(a->qs, &a->d, b->qs, &b->d, nb, sizeof(*a));
    }
    case KERN_TYPE_Q8_1: {
        const kern_block_q8_1 *a = w;
        const kern_block_q8_1 *b = x;
        return dot_q8(a->qs, &a->d, b->qs, &b->d, nb, sizeof(*a));
    }
    case KERN_TYPE_Q4_K:
        return dot_q4_k(w, x, nb);
    case KERN_TYPE_Q5_K:
        return dot_q5_k(w, x, nb);
    case KERN_TYPE_Q6_K:
        return dot_q6_k(w, x, nb);
    case KERN_TYPE_Q8_K:
        return dot_q8_k(w, x, nb);
    }
    return 0.0f;
}

void kern_matmul_ref(const kern_matmul *m, size_t ith, size_t nth)
{
    /* Only ggml's layout here: this variant has no pack. */
    CORE_ASSERT(!m->w_packed);
    size_t lo;
    size_t hi;
    kern__split(m->n_rows, ith, nth, &lo, &hi);
    for (size_t b = 0; b < m->n_batch; b++) {
        const char *x = (const char *)m->xq + b * m->xq_row_bytes;
        for (size_t r = lo; r < hi; r++) {
            const char *w = (const char *)m->w + r * m->w_row_bytes;
            m->y[b * m->y_stride + r] = kern_vec_dot_ref(m->w_type, w, x, m->n_cols);
        }
    }
}
