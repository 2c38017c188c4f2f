/*
 * Reference quantize_row and dequantize_row for every kern_type, in plain scalar C. The block
 * layouts are ggml's (ggml-common.h). The quantizers of the activation types (Q8_0, Q8_1, Q8_K)
 * and of F16/BF16 reproduce ggml's reference quantizers (ggml-quants.c) exactly, rounding
 * included: roundf (half away from zero) for Q8_0/Q8_1 with id = 1/d, nearest_int (half to
 * even) with iscale = -127/max for Q8_K. The 32-value weight quantizers are ggml's reference
 * ones too; the K-type weight quantizers are simple min/max fits (they only write test models)
 * while their dequantizers are exact.
 */
#include "kernels/kern_impl.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* 32-value types                                                                             */
/* ------------------------------------------------------------------------------------------ */

static void quantize_q4_0(const float *restrict x, kern_block_q4_0 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        float amax = 0.0f;
        float max = 0.0f;
        for (int j = 0; j < KERN_QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        for (int j = 0; j < KERN_QK / 2; j++) {
            const int q0 = (int8_t)(x[j] * id + 8.5f);
            const int q1 = (int8_t)(x[j + KERN_QK / 2] * id + 8.5f);
            y[i].qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4));
        }
    }
}

static void quantize_q4_1(const float *restrict x, kern_block_q4_1 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        float min = FLT_MAX;
        float max = -FLT_MAX;
        for (int j = 0; j < KERN_QK; j++) {
            min = x[j] < min ? x[j] : min;
            max = x[j] > max ? x[j] : max;
        }
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        y[i].m = kern_f32_to_f16(min);
        for (int j = 0; j < KERN_QK / 2; j++) {
            const int q0 = (int8_t)((x[j] - min) * id + 0.5f);
            const int q1 = (int8_t)((x[j + KERN_QK / 2] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4));
        }
    }
}

/* Packs 32 5-bit values (low nibbles into qs, fifth bits into the qh word). */
static void pack5(const int *restrict q, uint8_t *restrict qs, uint8_t *restrict qh_bytes)
{
    uint32_t qh = 0;
    for (int j = 0; j < KERN_QK / 2; j++) {
        const int q0 = q[j];
        const int q1 = q[j + KERN_QK / 2];
        qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
        qh |= ((uint32_t)(q0 & 0x10) >> 4) << j;
        qh |= ((uint32_t)(q1 & 0x10) >> 4) << (j + KERN_QK / 2);
    }
    for (int k = 0; k < 4; k++) {
        qh_bytes[k] = (uint8_t)(qh >> (8 * k));
    }
}

static uint32_t unpack_qh(const uint8_t *qh)
{
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) |
           ((uint32_t)qh[3] << 24);
}

static void quantize_q5_0(const float *restrict x, kern_block_q5_0 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        float amax = 0.0f;
        float max = 0.0f;
        for (int j = 0; j < KERN_QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        int q[KERN_QK];
        for (int j = 0; j < KERN_QK; j++) {
            const int v = (int8_t)(x[j] * id + 16.5f);
            q[j] = v < 31 ? v : 31;
        }
        pack5(q, y[i].qs, y[i].qh);
    }
}

static void quantize_q5_1(const float *restrict x, kern_block_q5_1 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        float min = FLT_MAX;
        float max = -FLT_MAX;
        for (int j = 0; j < KERN_QK; j++) {
            min = x[j] < min ? x[j] : min;
            max = x[j] > max ? x[j] : max;
        }
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        y[i].m = kern_f32_to_f16(min);
        int q[KERN_QK];
        for (int j = 0; j < KERN_QK; j++) {
            const int v = (uint8_t)((x[j] - min) * id + 0.5f);
            q[j] = v < 31 ? v : 31;
        }
        pack5(q, y[i].qs, y[i].qh);
    }
}

static void quantize_q8_0(const float *restrict x, kern_block_q8_0 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        float amax = 0.0f;
        for (int j = 0; j < KERN_QK; j++) {
            amax = fmaxf(amax, fabsf(x[j]));
        }
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        for (int j = 0; j < KERN_QK; j++) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
        }
    }
}

static void quantize_q8_1(const float *restrict x, kern_block_q8_1 *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK) {
        float amax = 0.0f;
        for (int j = 0; j < KERN_QK; j++) {
            amax = fmaxf(amax, fabsf(x[j]));
        }
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < KERN_QK; j++) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += y[i].qs[j];
        }
        /* s uses the unrounded float d, as ggml does. */
        y[i].s = kern_f32_to_f16((float)sum * d);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* K types                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void quantize_q8_k(const float *restrict x, kern_block_q8_k *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK_K) {
        float max = 0.0f;
        float amax = 0.0f;
        for (int j = 0; j < KERN_QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        /* -127/max, not -128/max: the value of largest magnitude lands on -127. */
        const float iscale = -127.f / max;
        for (int j = 0; j < KERN_QK_K; j++) {
            const int v = kern__nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < KERN_QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                sum += y[i].qs[g * 16 + j];
            }
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Packs 8 6-bit scales and mins the way kern__scale_min_k4 unpacks them. */
static void pack_scales_k4(const int *ls, const int *lm, uint8_t *restrict scales)
{
    memset(scales, 0, KERN_K_SCALE_BYTES);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            scales[j] = (uint8_t)ls[j];
            scales[j + 4] = (uint8_t)lm[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/*
 * Fits x (256 values) as d * sc_j * q - dmin * m_j per sub-block j of 32, q in [0, qmax], and
 * writes the levels to L. A plain min/max fit (ggml searches for better scales; we only need
 * valid blocks for test models).
 */
static void fit_k_minmax(const float *restrict x, int qmax, uint16_t *d16, uint16_t *dmin16,
                         uint8_t *restrict scales, uint8_t *restrict L)
{
    float scale[8];
    float minv[8];
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        float mn = 0.0f;
        float mx = 0.0f;
        for (int l = 0; l < 32; l++) {
            mn = fminf(mn, x[32 * j + l]);
            mx = fmaxf(mx, x[32 * j + l]);
        }
        scale[j] = (mx - mn) / (float)qmax;
        minv[j] = -mn;
        max_scale = fmaxf(max_scale, scale[j]);
        max_min = fmaxf(max_min, minv[j]);
    }
    const float d = max_scale / 63;
    const float dmin = max_min / 63;
    int ls[8];
    int lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = d > 0.0f ? clamp_int(kern__nearest_int(scale[j] / d), 0, 63) : 0;
        lm[j] = dmin > 0.0f ? clamp_int(kern__nearest_int(minv[j] / dmin), 0, 63) : 0;
    }
    *d16 = kern_f32_to_f16(d);
    *dmin16 = kern_f32_to_f16(dmin);
    pack_scales_k4(ls, lm, scales);
    const float df = kern_f16_to_f32(*d16);
    const float dminf = kern_f16_to_f32(*dmin16);
    for (int j = 0; j < 8; j++) {
        uint8_t sc;
        uint8_t m;
        kern__scale_min_k4(scales, j, &sc, &m);
        const float dl = df * sc;
        const float ml = dminf * m;
        for (int l = 0; l < 32; l++) {
            const int q = dl != 0.0f ? kern__nearest_int((x[32 * j + l] + ml) / dl) : 0;
            L[32 * j + l] = (uint8_t)clamp_int(q, 0, qmax);
        }
    }
}

static void quantize_q4_k(const float *restrict x, kern_block_q4_k *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK_K) {
        uint8_t L[KERN_QK_K];
        fit_k_minmax(x, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        for (int j = 0; j < KERN_QK_K; j += 64) {
            for (int l = 0; l < 32; l++) {
                y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            }
        }
    }
}

static void quantize_q5_k(const float *restrict x, kern_block_q5_k *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK_K) {
        uint8_t L[KERN_QK_K];
        fit_k_minmax(x, 31, &y[i].d, &y[i].dmin, y[i].scales, L);
        memset(y[i].qh, 0, sizeof(y[i].qh));
        /* Sub-block pair n/32, n/32 + 1 shares qs[n/2 ..]; their fifth bits are qh bits 2k, 2k+1.
         */
        for (int n = 0, k = 0; n < KERN_QK_K; n += 64, k++) {
            for (int l = 0; l < 32; l++) {
                const int l1 = L[n + l];
                const int l2 = L[n + l + 32];
                y[i].qh[l] |= (uint8_t)(((l1 >> 4) << (2 * k)) | ((l2 >> 4) << (2 * k + 1)));
                y[i].qs[n / 2 + l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            }
        }
    }
}

static void quantize_q6_k(const float *restrict x, kern_block_q6_k *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += KERN_QK_K) {
        float scale[16];
        float max_scale = 0.0f;
        float amax_scale = 0.0f;
        for (int g = 0; g < 16; g++) {
            float amax = 0.0f;
            float max = 0.0f;
            for (int l = 0; l < 16; l++) {
                if (fabsf(x[16 * g + l]) > amax) {
                    amax = fabsf(x[16 * g + l]);
                    max = x[16 * g + l];
                }
            }
            scale[g] = max / -32; /* the extreme value maps to level -32 */
            if (fabsf(scale[g]) > amax_scale) {
                amax_scale = fabsf(scale[g]);
                max_scale = scale[g];
            }
        }
        memset(&y[i], 0, sizeof(y[i]));
        if (amax_scale == 0.0f) {
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = kern_f32_to_f16(1 / iscale);
        const float d = kern_f16_to_f32(y[i].d);
        uint8_t L[KERN_QK_K];
        for (int g = 0; g < 16; g++) {
            y[i].scales[g] = (int8_t)clamp_int(kern__nearest_int(iscale * scale[g]), -128, 127);
            const float dl = d * y[i].scales[g];
            for (int l = 0; l < 16; l++) {
                const int q = dl != 0.0f ? kern__nearest_int(x[16 * g + l] / dl) : 0;
                L[16 * g + l] = (uint8_t)(clamp_int(q, -32, 31) + 32);
            }
        }
        uint8_t *ql = y[i].ql;
        uint8_t *qh = y[i].qh;
        for (int j = 0; j < KERN_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l];
                const int q2 = L[j + l + 32];
                const int q3 = L[j + l + 64];
                const int q4 = L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] =
                    (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

void kern_quantize_row_ref(kern_type t, const float *restrict x, void *restrict y, size_t n)
{
    const size_t nb = n / kern_type_block_elems(t);
    switch (t) {
    case KERN_TYPE_F32:
        memcpy(y, x, n * sizeof(float));
        break;
    case KERN_TYPE_F16:
        for (size_t i = 0; i < n; i++) {
            ((uint16_t *)y)[i] = kern_f32_to_f16(x[i]);
        }
        break;
    case KERN_TYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            ((uint16_t *)y)[i] = kern_f32_to_bf16(x[i]);
        }
        break;
    case KERN_TYPE_Q4_0:
        quantize_q4_0(x, y, nb);
        break;
    case KERN_TYPE_Q4_1:
        quantize_q4_1(x, y, nb);
        break;
    case KERN_TYPE_Q5_0:
        quantize_q5_0(x, y, nb);
        break;
    case KERN_TYPE_Q5_1:
        quantize_q5_1(x, y, nb);
        break;
    case KERN_TYPE_Q8_0:
        quantize_q8_0(x, y, nb);
        break;
    case KERN_TYPE_Q8_1:
        quantize_q8_1(x, y, nb);
        break;
    case KERN_TYPE_Q4_K:
        quantize_q4_k(x, y, nb);
        break;
    case KERN_TYPE_Q5_K:
        quantize_q5_k(x, y, nb);
        break;
    case KERN_TYPE_Q6_K:
        quantize_q6_k(x, y, nb);
        break;
    case KERN_TYPE_Q8_K:
        quantize_q8_k(x, y, nb);
        break;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Dequantization                                                                             */
/* ------------------------------------------------------------------------------------------ */

static void dequantize_q4_k(const kern_block_q4_k *restrict x, float *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        const float d = kern_f16_to_f32(x[i].d);
        const float dmin = kern_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
            uint8_t sc;
            uint8_t m;
            kern__scale_min_k4(x[i].scales, j, &sc, &m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            kern__scale_min_k4(x[i].scales, j + 1, &sc, &m);
            const float d2 = d * sc;
            const float m2 = dmin * m;
            for (int l = 0; l < 32; l++) {
                y[l] = d1 * (q[l] & 0xF) - m1;
                y[l + 32] = d2 * (q[l] >> 4) - m2;
            }
        }
    }
}

static void dequantize_q5_k(const kern_block_q5_k *restrict x, float *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        const float d = kern_f16_to_f32(x[i].d);
        const float dmin = kern_f16_to_f32(x[i].dmin);
        const uint8_t *ql = x[i].qs;
        const uint8_t *qh = x[i].qh;
        uint8_t u1 = 1;
        uint8_t u2 = 2;
        for (int j = 0; j < 8; j += 2, ql += 32, y += 64) {
            uint8_t sc;
            uint8_t m;
            kern__scale_min_k4(x[i].scales, j, &sc, &m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            kern__scale_min_k4(x[i].scales, j + 1, &sc, &m);
            const float d2 = d * sc;
            const float m2 = dmin * m;
            for (int l = 0; l < 32; l++) {
                y[l] = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
                y[l + 32] = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            }
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

static void dequantize_q6_k(const kern_block_q6_k *restrict x, float *restrict y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        const float d = kern_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql;
        const uint8_t *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < KERN_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

void kern_dequantize_row_ref(kern_type t, const void *restrict x, float *restrict y, size_t n)
{
    const size_t nb = n / kern_type_block_elems(t);
    const int h = KERN_QK / 2;
    switch (t) {
    case KERN_TYPE_F32:
        memcpy(y, x, n * sizeof(float));
        break;
    case KERN_TYPE_F16:
        for (size_t i = 0; i < n; i++) {
            y[i] = kern_f16_to_f32(((const uint16_t *)x)[i]);
        }
        break;
    case KERN_TYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            y[i] = kern_bf16_to_f32(((const uint16_t *)x)[i]);
        }
        break;
    case KERN_TYPE_Q4_0:
        for (size_t i = 0; i < nb; i++, y += KERN_QK) {
            const kern_block_q4_0 *b = (const kern_block_q4_0 *)x + i;
            const float d = kern_f16_to_f32(b->d);
            for (int j = 0; j < h; j++) {
                y[j] = (float)((b->qs[j] & 0xF) - 8) * d;
                y[j + h] = (float)((b->qs[j] >> 4) - 8) * d;
            }
        }
        break;
    case KERN_TYPE_Q4_1:
        for (size_t i = 0; i < nb; i++, y += KERN_QK) {
            const kern_block_q4_1 *b = (const kern_block_q4_1 *)x + i;
            const float d = kern_f16_to_f32(b->d);
            const float m = kern_f16_to_f32(b->m);
            for (int j = 0; j < h; j++) {
                y[j] = (float)(b->qs[j] & 0xF) * d + m;
                y[j + h] = (float)(b->qs[j] >> 4) * d + m;
            }
        }
        break;
    case KERN_TYPE_Q5_0:
        for (size_t i = 0; i < nb; i++, y += KERN_QK) {
            const kern_block_q5_0 *b = (const kern_block_q5_0 *)x + i;
            const float d = kern_f16_to_f32(b->d);
            const uint32_t qh = unpack_qh(b->qh);
            for (int j = 0; j < h; j++) {
                const int x0 = (int)((b->qs[j] & 0xF) | (((qh >> j) << 4) & 0x10)) - 16;
                const int x1 = (int)((b->qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
                y[j] = (float)x0 * d;
                y[j + h] = (float)x1 * d;
            }
        }
        break;
    case KERN_TYPE_Q5_1:
        for (size_t i = 0; i < nb; i++, y += KERN_QK) {
            const kern_block_q5_1 *b = (const kern_block_q5_1 *)x + i;
            const float d = kern_f16_to_f32(b->d);
            const float m = kern_f16_to_f32(b->m);
            const uint32_t qh = unpack_qh(b->qh);
            for (int j = 0; j < h; j++) {
                const int x0 = (int)((b->qs[j] & 0xF) | (((qh >> j) << 4) & 0x10));
                const int x1 = (int)((b->qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
                y[j] = (float)x0 * d + m;
                y[j + h] = (float)x1 * d + m;
            }
        }
        break;
    case KERN_TYPE_Q8_0:
        for (size_t i = 0; i < nb; i++, y += KERN_QK) {
            const kern_block_q8_0 *b = (const kern_block_q8_0 *)x + i;
            const float d = kern_f16_to_f32(b->d);
            for (int j = 0; j < KERN_QK; j++) {
                y[j] = (float)b->qs[j] * d;
            }
        }
        break;
    case KERN_TYPE_Q8_1:
        for (size_t i = 0; i < nb; i++, y += KERN_QK) {
            const kern_block_q8_1 *b = (const kern_block_q8_1 *)x + i;
            const float d = kern_f16_to_f32(b->d);
            for (int j = 0; j < KERN_QK; j++) {
                y[j] = (float)b->qs[j] * d;
            }
        }
        break;
    case KERN_TYPE_Q4_K:
        dequantize_q4_k(x, y, nb);
        break;
    case KERN_TYPE_Q5_K:
        dequantize_q5_k(x, y, nb);
        break;
    case KERN_TYPE_Q6_K:
        dequantize_q6_k(x, y, nb);
        break;
    case KERN_TYPE_Q8_K:
        for (size_t i = 0; i < nb; i++, y += KERN_QK_K) {
            const kern_block_q8_k *b = (const kern_block_q8_k *)x + i;
            for (int j = 0; j < KERN_QK_K; j++) {
                y[j] = b->d * (float)b->qs[j];
            }
        }
        break;
    }
}
