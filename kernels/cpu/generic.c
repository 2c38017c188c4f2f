/*
 * Portable optimized kernels (_generic): a batched matmul that decodes each weight block once
 * into plain int8 values and then dots it with up to KERN_GENERIC_BATCH activation rows, so a
 * batch of tokens reads the weights once per group instead of once per token. The per-block
 * arithmetic (integer dot, then the same float expression as the reference) is kept, so for the
 * 32-value types the results equal the reference bit for bit. Other ops use the reference.
 */
#include "kernels/kern_impl.h"

#define KERN_GENERIC_BATCH 8

/* One decoded 32-value weight block: signed levels, scale and (for Q4_1/Q5_1) the min. */
typedef struct wblock {
    int8_t q[KERN_QK];
    float d;
    float m;
} wblock;

static uint32_t load_qh(const uint8_t *qh)
{
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) |
           ((uint32_t)qh[3] << 24);
}

static void decode_nibbles(const uint8_t *qs, int offset, int8_t *q)
{
    for (int j = 0; j < KERN_QK / 2; j++) {
        q[j] = (int8_t)((qs[j] & 0xF) - offset);
        q[j + KERN_QK / 2] = (int8_t)((qs[j] >> 4) - offset);
    }
}

static void decode_5bit(const uint8_t *qs, const uint8_t *qh_bytes, int offset, int8_t *q)
{
    const uint32_t qh = load_qh(qh_bytes);
    for (int j = 0; j < KERN_QK / 2; j++) {
        q[j] = (int8_t)((int)((qs[j] & 0xF) | (((qh >> j) << 4) & 0x10)) - offset);
        q[j + KERN_QK / 2] = (int8_t)((int)((qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - offset);
    }
}

static inline __attribute__((always_inline)) void decode32(kern_type t, const char *row, size_t i,
                                                           wblock *wb)
{
    switch (t) {
    case KERN_TYPE_Q4_0: {
        const kern_block_q4_0 *b = (const kern_block_q4_0 *)row + i;
        decode_nibbles(b->qs, 8, wb->q);
        wb->d = kern_f16_to_f32(b->d);
        break;
    }
    case KERN_TYPE_Q4_1: {
        const kern_block_q4_1 *b = (const kern_block_q4_1 *)row + i;
        decode_nibbles(b->qs, 0, wb->q);
        wb->d = kern_f16_to_f32(b->d);
        wb->m = kern_f16_to_f32(b->m);
        break;
    }
    case KERN_TYPE_Q5_0: {
        const kern_block_q5_0 *b = (const kern_block_q5_0 *)row + i;
        decode_5bit(b->qs, b->qh, 16, wb->q);
        wb->d = kern_f16_to_f32(b->d);
        break;
    }
    case KERN_TYPE_Q5_1: {
        const kern_block_q5_1 *b = (const kern_block_q5_1 *)row + i;
        decode_5bit(b->qs, b->qh, 0, wb->q);
        wb->d = kern_f16_to_f32(b->d);
        wb->m = kern_f16_to_f32(b->m);
        break;
    }
    default: {
        const kern_block_q8_0 *b = (const kern_block_q8_0 *)row + i;
        for (int j = 0; j < KERN_QK; j++) {
            wb->q[j] = b->qs[j];
        }
        wb->d = kern_f16_to_f32(b->d);
        break;
    }
    }
}

static inline __attribute__((always_inline)) int dot_i8(const int8_t *restrict a,
                                                        const int8_t *restrict b, int n)
{
    int s = 0;
    for (int j = 0; j < n; j++) {
        s += a[j] * b[j];
    }
    return s;
}

static inline __attribute__((always_inline)) void row32(const kern_matmul *m, size_t r, size_t b0,
                                                        size_t nbk, const kern_type t)
{
    const char *row = (const char *)m->w + r * m->w_row_bytes;
    const bool has_min = t == KERN_TYPE_Q4_1 || t == KERN_TYPE_Q5_1;
    float acc[KERN_GENERIC_BATCH] = {0};
    for (size_t i = 0; i < m->n_cols / KERN_QK; i++) {
        wblock wb;
        decode32(t, row, i, &wb);
        for (size_t k = 0; k < nbk; k++) {
            const char *x = (const char *)m->xq + (b0 + k) * m->xq_row_bytes;
            if (has_min) {
                const kern_block_q8_1 *y = (const kern_block_q8_1 *)x + i;
                const int sumi = dot_i8(wb.q, y->qs, KERN_QK);
                acc[k] +=
                    (wb.d * kern_f16_to_f32(y->d)) * (float)sumi + wb.m * kern_f16_to_f32(y->s);
            } else {
                const kern_block_q8_0 *y = (const kern_block_q8_0 *)x + i;
                const int sumi = dot_i8(wb.q, y->qs, KERN_QK);
                acc[k] += (float)sumi * (wb.d * kern_f16_to_f32(y->d));
            }
        }
    }
    for (size_t k = 0; k < nbk; k++) {
        m->y[(b0 + k) * m->y_stride + r] = acc[k];
    }
}

/*
 * One decoded K super-block: levels (unsigned for Q4_K/Q5_K, signed for Q6_K), a scale per
 * group of 16 and, for Q4_K/Q5_K, a min per sub-block of 32.
 */
typedef struct kblock {
    int8_t q[KERN_QK_K];
    int sc[16];
    int mins[8];
    float d;
    float dmin;
} kblock;

static void decode_k(kern_type t, const char *row, size_t i, kblock *kb)
{
    if (t == KERN_TYPE_Q6_K) {
        const kern_block_q6_k *b = (const kern_block_q6_k *)row + i;
        const uint8_t *ql = b->ql;
        const uint8_t *qh = b->qh;
        int8_t *q = kb->q;
        for (int n = 0; n < KERN_QK_K; n += 128, ql += 64, qh += 32, q += 128) {
            for (int l = 0; l < 32; l++) {
                q[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                q[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                q[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                q[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        for (int g = 0; g < 16; g++) {
            kb->sc[g] = b->scales[g];
        }
        kb->d = kern_f16_to_f32(b->d);
        return;
    }
    const uint8_t *scales;
    const uint8_t *qs;
    const uint8_t *qh = NULL;
    if (t == KERN_TYPE_Q4_K) {
        const kern_block_q4_k *b = (const kern_block_q4_k *)row + i;
        scales = b->scales;
        qs = b->qs;
        kb->d = kern_f16_to_f32(b->d);
        kb->dmin = kern_f16_to_f32(b->dmin);
    } else {
        const kern_block_q5_k *b = (const kern_block_q5_k *)row + i;
        scales = b->scales;
        qs = b->qs;
        qh = b->qh;
        kb->d = kern_f16_to_f32(b->d);
        kb->dmin = kern_f16_to_f32(b->dmin);
    }
    for (int j = 0; j < 8; j += 2) {
        const uint8_t *q = qs + 16 * j;
        int8_t *lo = kb->q + 32 * j;
        int8_t *hi = lo + 32;
        for (int l = 0; l < 32; l++) {
            lo[l] = (int8_t)(q[l] & 0xF);
            hi[l] = (int8_t)(q[l] >> 4);
        }
        if (qh != NULL) {
            for (int l = 0; l < 32; l++) {
                lo[l] = (int8_t)(lo[l] | (((qh[l] >> j) & 1) << 4));
                hi[l] = (int8_t)(hi[l] | (((qh[l] >> (j + 1)) & 1) << 4));
            }
        }
    }
    for (int j = 0; j < 8; j++) {
        uint8_t sc;
        uint8_t mn;
        kern__scale_min_k4(scales, j, &sc, &mn);
        kb->sc[2 * j] = sc;
        kb->sc[2 * j + 1] = sc;
        kb->mins[j] = mn;
    }
}

static void row_k(const kern_matmul *m, size_t r, size_t b0, size_t nbk)
{
    const char *row = (const char *)m->w + r * m->w_row_bytes;
    float acc[KERN_GENERIC_BATCH] = {0};
    for (size_t i = 0; i < m->n_cols / KERN_QK_K; i++) {
        kblock kb;
        decode_k(m->w_type, row, i, &kb);
        for (size_t k = 0; k < nbk; k++) {
            const kern_block_q8_k *y =
                (const kern_block_q8_k *)((const char *)m->xq + (b0 + k) * m->xq_row_bytes) + i;
            int sumi = 0;
            for (int g = 0; g < 16; g++) {
                sumi += kb.sc[g] * dot_i8(kb.q + 16 * g, y->qs + 16 * g, 16);
            }
            if (m->w_type == KERN_TYPE_Q6_K) {
                acc[k] += kb.d * y->d * (float)sumi;
            } else {
                int summ = 0;
                for (int j = 0; j < 8; j++) {
                    summ += kb.mins[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
                }
                acc[k] += y->d * kb.d * (float)sumi - y->d * kb.dmin * (float)summ;
            }
        }
    }
    for (size_t k = 0; k < nbk; k++) {
        m->y[(b0 + k) * m->y_stride + r] = acc[k];
    }
}

void kern_matmul_generic(const kern_matmul *m, size_t ith, size_t nth)
{
    /* Only ggml's layout here: this variant has no pack. */
    CORE_ASSERT(!m->w_packed);
    switch (m->w_type) {
    case KERN_TYPE_Q4_0:
    case KERN_TYPE_Q4_1:
    case KERN_TYPE_Q5_0:
    case KERN_TYPE_Q5_1:
    case KERN_TYPE_Q8_0:
    case KERN_TYPE_Q4_K:
    case KERN_TYPE_Q5_K:
    case KERN_TYPE_Q6_K:
        break;
    default:
        kern_matmul_ref(m, ith, nth);
        return;
    }
    size_t lo;
    size_t hi;
    kern__split(m->n_rows, ith, nth, &lo, &hi);
    for (size_t b0 = 0; b0 < m->n_batch; b0 += KERN_GENERIC_BATCH) {
        const size_t left = m->n_batch - b0;
        const size_t nbk = left < KERN_GENERIC_BATCH ? left : KERN_GENERIC_BATCH;
        for (size_t r = lo; r < hi; r++) {
            switch (m->w_type) {
            case KERN_TYPE_Q4_0:
                row32(m, r, b0, nbk, KERN_TYPE_Q4_0);
                break;
            case KERN_TYPE_Q4_1:
                row32(m, r, b0, nbk, KERN_TYPE_Q4_1);
                break;
            case KERN_TYPE_Q5_0:
                row32(m, r, b0, nbk, KERN_TYPE_Q5_0);
                break;
            case KERN_TYPE_Q5_1:
                row32(m, r, b0, nbk, KERN_TYPE_Q5_1);
                break;
            case KERN_TYPE_Q8_0:
                row32(m, r, b0, nbk, KERN_TYPE_Q8_0);
                break;
            default:
                row_k(m, r, b0, nbk);
                break;
            }
        }
    }
}
