/*
 * Tests of kernels/ref/matmul.c and every variant's matmul: the reference against a float
 * oracle (dequantize both sides, dot in double), then every compiled variant against the
 * reference by NMSE with a per-type tolerance, over shapes with odd row counts, odd block
 * counts, batches of 1, 3, 5 and 8, a y_stride wider than the rows, and ith/nth row splits; and
 * larger shapes for the batched (register-tiled, AMX) kernels: batches past one token tile and
 * one token chunk, rows past one panel, columns past one K chunk; rows of large batches against
 * batches of one; every batch of 1 to 8 tokens (decoding steps) against the reference and
 * against batches of one; and the amx variant (where this CPU has one) against avx512 bit for bit.
 */
#include "tests/kernels/tests.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/kern.h"

static const kern_type W_TYPES[] = {
    KERN_TYPE_F32,  KERN_TYPE_F16,  KERN_TYPE_BF16, KERN_TYPE_Q4_0, KERN_TYPE_Q4_1, KERN_TYPE_Q5_0,
    KERN_TYPE_Q5_1, KERN_TYPE_Q8_0, KERN_TYPE_Q4_K, KERN_TYPE_Q5_K, KERN_TYPE_Q6_K,
};
#define N_W_TYPES (sizeof(W_TYPES) / sizeof(W_TYPES[0]))

typedef struct shape {
    size_t n_rows;
    size_t n_cols; /* scaled to a multiple of 256 for the K types */
    size_t n_batch;
} shape;

static const shape SHAPES[] = {
    {1, 32, 1}, {7, 96, 3}, {33, 160, 8}, {64, 512, 1}, {5, 64, 5}, {17, 256, 2},
};
#define N_SHAPES (sizeof(SHAPES) / sizeof(SHAPES[0]))

/* Variants differ from the reference only in the order of float additions. */
static double variant_tolerance(kern_type t)
{
    switch (t) {
    case KERN_TYPE_F32:
    case KERN_TYPE_F16:
    case KERN_TYPE_BF16:
        return 1e-10;
    default:
        return 1e-9;
    }
}

static const float SENTINEL = 12345.0f;

typedef struct problem {
    kern_matmul m;
    void *w;
    void *xq;
    float *y_ref;
} problem;

static void problem_init(problem *p, kern_type t, shape s, uint64_t seed)
{
    const size_t be = kern_type_block_elems(t);
    const size_t n_cols = be == 256 ? (s.n_cols + 255) / 256 * 256 : s.n_cols;
    const kern_type xt = kern_type_vec_dot(t);
    const size_t y_stride = s.n_rows + 3;
    const kern_ops *ref = kern_backend_variant(0, NULL);
    test_rng r = {seed};
    float *row = test_alloc(n_cols * sizeof(float));
    p->m = (kern_matmul){
        .w_type = t,
        .w_row_bytes = kern_type_row_bytes(t, n_cols),
        .xq_row_bytes = kern_type_row_bytes(xt, n_cols),
        .y_stride = y_stride,
        .n_rows = s.n_rows,
        .n_cols = n_cols,
        .n_batch = s.n_batch,
    };
    p->w = test_alloc(s.n_rows * p->m.w_row_bytes);
    p->xq = test_alloc(s.n_batch * p->m.xq_row_bytes);
    p->y_ref = test_alloc(s.n_batch * y_stride * sizeof(float));
    for (size_t i = 0; i < s.n_rows; i++) {
        for (size_t j = 0; j < n_cols; j++) {
            row[j] = test_rng_uniform(&r) * 0.1f;
        }
        ref->quantize_row(t, row, (char *)p->w + i * p->m.w_row_bytes, n_cols);
    }
    for (size_t b = 0; b < s.n_batch; b++) {
        test_fill(&r, row, n_cols);
        ref->quantize_row(xt, row, (char *)p->xq + b * p->m.xq_row_bytes, n_cols);
    }
    p->m.w = p->w;
    p->m.xq = p->xq;
    p->m.y = p->y_ref;
    ref->matmul(&p->m, 0, 1);
    test_free(row);
}

static void problem_dispose(problem *p)
{
    test_free(p->w);
    test_free(p->xq);
    test_free(p->y_ref);
}

static void gather(const kern_matmul *m, const float *y, float *out)
{
    for (size_t b = 0; b < m->n_batch; b++) {
        memcpy(out + b * m->n_rows, y + b * m->y_stride, m->n_rows * sizeof(float));
    }
}

/*
 * The reference against the float oracle: the integer dots are exact, so only float rounding
 * differs, except for Q4_1/Q5_1 whose m * s term uses the Q8_1 block's s rounded to f16.
 */
static double oracle_tolerance(kern_type t)
{
    return t == KERN_TYPE_Q4_1 || t == KERN_TYPE_Q5_1 ? 1e-5 : 1e-9;
}

START_TEST(matmul__ref_matches_dequantized_float_dot)
{
    const kern_ops *ref = kern_backend_variant(0, NULL);
    for (size_t ti = 0; ti < N_W_TYPES; ti++) {
        for (size_t si = 0; si < N_SHAPES; si++) {
            problem p;
            problem_init(&p, W_TYPES[ti], SHAPES[si], 100 + si);
            const kern_matmul *m = &p.m;
            const kern_type xt = kern_type_vec_dot(m->w_type);
            float *wf = test_alloc(m->n_cols * sizeof(float));
            float *xf = test_alloc(m->n_cols * sizeof(float));
            float *want = test_alloc(m->n_batch * m->n_rows * sizeof(float));
            float *got = test_alloc(m->n_batch * m->n_rows * sizeof(float));
            for (size_t b = 0; b < m->n_batch; b++) {
                ref->dequantize_row(xt, (const char *)m->xq + b * m->xq_row_bytes, xf, m->n_cols);
                for (size_t r = 0; r < m->n_rows; r++) {
                    ref->dequantize_row(m->w_type, (const char *)m->w + r * m->w_row_bytes, wf,
                                        m->n_cols);
                    double dot = 0.0;
                    for (size_t j = 0; j < m->n_cols; j++) {
                        dot += (double)wf[j] * (double)xf[j];
                    }
                    want[b * m->n_rows + r] = (float)dot;
                }
            }
            gather(m, p.y_ref, got);
            const double e = test_nmse(got, want, m->n_batch * m->n_rows);
            if (e > oracle_tolerance(m->w_type)) {
                fprintf(stderr, "ref %s %zux%zu: nmse %g vs float oracle\n",
                        kern_type_name(m->w_type), m->n_rows, m->n_cols, e);
            }
            ck_assert_double_le(e, oracle_tolerance(m->w_type));
            test_free(wf);
            test_free(xf);
            test_free(want);
            test_free(got);
            problem_dispose(&p);
        }
    }
}
END_TEST

/* Runs m on ops into y1 in one call and into y3 split over nth threads' calls, after filling
 * both (n_y floats) with SENTINEL. */
static void run_split(const kern_ops *ops, kern_matmul *m, float *y1, float *y3, size_t n_y,
                      size_t nth)
{
    for (size_t i = 0; i < n_y; i++) {
        y1[i] = SENTINEL;
        y3[i] = SENTINEL;
    }
    m->y = y1;
    ops->matmul(m, 0, 1);
    m->y = y3;
    for (size_t ith = 0; ith < nth; ith++) {
        ops->matmul(m, ith, nth);
    }
}

START_TEST(matmul__every_variant_matches_ref)
{
    for (size_t ti = 0; ti < N_W_TYPES; ti++) {
        for (size_t si = 0; si < N_SHAPES; si++) {
            problem p;
            problem_init(&p, W_TYPES[ti], SHAPES[si], 200 + si);
            kern_matmul m = p.m;
            const size_t n_y = m.n_batch * m.y_stride;
            float *y1 = test_alloc(n_y * sizeof(float));
            float *y3 = test_alloc(n_y * sizeof(float));
            float *got = test_alloc(m.n_batch * m.n_rows * sizeof(float));
            float *want = test_alloc(m.n_batch * m.n_rows * sizeof(float));
            gather(&m, p.y_ref, want);
            for (size_t v = 1; v < kern_backend_n_variants(); v++) {
                const char *name = NULL;
                const kern_ops *ops = kern_backend_variant(v, &name);
                run_split(ops, &m, y1, y3, n_y, 3);
                gather(&m, y1, got);
                const double e = test_nmse(got, want, m.n_batch * m.n_rows);
                if (e > variant_tolerance(m.w_type)) {
                    fprintf(stderr, "%s %s %zux%zu batch %zu: nmse %g\n", name,
                            kern_type_name(m.w_type), m.n_rows, m.n_cols, m.n_batch, e);
                }
                ck_assert_double_le(e, variant_tolerance(m.w_type));
                /* Rows are independent: a split computes exactly the same values. */
                ck_assert_int_eq(memcmp(y1, y3, n_y * sizeof(float)), 0);
                for (size_t b = 0; b < m.n_batch; b++) {
                    for (size_t i = m.n_rows; i < m.y_stride; i++) {
                        KT_EQ(y1[b * m.y_stride + i], SENTINEL);
                    }
                }
            }
            test_free(y1);
            test_free(y3);
            test_free(got);
            test_free(want);
            problem_dispose(&p);
        }
    }
}
END_TEST

START_TEST(matmul__batch_rows_equal_single_rows)
{
    /* Batched decoding must give each token what a batch of one gives it, on every variant;
     * bit for bit on avx512 and amx, whose one-token kernel (gemv32) sums as the tiles do.
     * 40 rows x 1088 columns: a partial row group and a partial second K chunk. */
    const shape s = {40, 1088, 7};
    for (size_t ti = 0; ti < N_W_TYPES; ti++) {
        problem p;
        problem_init(&p, W_TYPES[ti], s, 300 + ti);
        for (size_t v = 0; v < kern_backend_n_variants(); v++) {
            const char *name = NULL;
            const kern_ops *ops = kern_backend_variant(v, &name);
            const bool exact = strcmp(name, "avx512") == 0 || strcmp(name, "amx") == 0;
            kern_matmul m = p.m;
            float *yb = test_alloc(m.n_batch * m.y_stride * sizeof(float));
            float y1[64];
            m.y = yb;
            ops->matmul(&m, 0, 1);
            for (size_t b = 0; b < m.n_batch; b++) {
                kern_matmul one = p.m;
                one.xq = (const char *)p.m.xq + b * p.m.xq_row_bytes;
                one.n_batch = 1;
                one.y = y1;
                ops->matmul(&one, 0, 1);
                for (size_t r = 0; r < m.n_rows; r++) {
                    KT_NEAR(yb[b * m.y_stride + r], y1[r], 1e-5f * (1.0f + fabsf(y1[r])));
                }
                if (exact) {
                    ck_assert_int_eq(memcmp(yb + b * m.y_stride, y1, m.n_rows * sizeof(float)), 0);
                }
            }
            test_free(yb);
        }
        problem_dispose(&p);
    }
}
END_TEST

/* Batches of 4 and more take the tiled kernels: rows 1 and 16..100 (partial and several
 * 32-row panels), columns over 1024 (several K chunks), batches up to 130 (two token chunks). */
static const shape BIG_SHAPES[] = {
    {67, 1088, 16}, {33, 1536, 33}, {40, 2112, 130}, {1, 96, 128}, {100, 64, 4}, {16, 544, 6},
};
#define N_BIG_SHAPES (sizeof(BIG_SHAPES) / sizeof(BIG_SHAPES[0]))

START_TEST(matmul__large_batches_match_ref)
{
    for (size_t ti = 0; ti < N_W_TYPES; ti++) {
        for (size_t si = 0; si < N_BIG_SHAPES; si++) {
            problem p;
            problem_init(&p, W_TYPES[ti], BIG_SHAPES[si], 400 + si);
            kern_matmul m = p.m;
            const size_t n_y = m.n_batch * m.y_stride;
            float *y1 = test_alloc(n_y * sizeof(float));
            float *y2 = test_alloc(n_y * sizeof(float));
            float *got = test_alloc(m.n_batch * m.n_rows * sizeof(float));
            float *want = test_alloc(m.n_batch * m.n_rows * sizeof(float));
            gather(&m, p.y_ref, want);
            for (size_t v = 1; v < kern_backend_n_variants(); v++) {
                const char *name = NULL;
                const kern_ops *ops = kern_backend_variant(v, &name);
                run_split(ops, &m, y1, y2, n_y, 2);
                gather(&m, y1, got);
                const double e = test_nmse(got, want, m.n_batch * m.n_rows);
                if (e > variant_tolerance(m.w_type)) {
                    fprintf(stderr, "%s %s %zux%zu batch %zu: nmse %g\n", name,
                            kern_type_name(m.w_type), m.n_rows, m.n_cols, m.n_batch, e);
                }
                ck_assert_double_le(e, variant_tolerance(m.w_type));
                ck_assert_int_eq(memcmp(y1, y2, n_y * sizeof(float)), 0);
                for (size_t b = 0; b < m.n_batch; b++) {
                    for (size_t i = m.n_rows; i < m.y_stride; i++) {
                        KT_EQ(y1[b * m.y_stride + i], SENTINEL);
                    }
                }
            }
            test_free(y1);
            test_free(y2);
            test_free(got);
            test_free(want);
            problem_dispose(&p);
        }
    }
}
END_TEST

START_TEST(matmul__large_batch_rows_equal_single_rows)
{
    /* As batch_rows_equal_single_rows, with a batch large enough for the AMX kernel (which then
     * answers for the batch while avx512 answers for each single token). */
    const shape s = {40, 1088, 20};
    for (size_t ti = 0; ti < N_W_TYPES; ti++) {
        problem p;
        problem_init(&p, W_TYPES[ti], s, 500 + ti);
        float *yb = test_alloc(p.m.n_batch * p.m.y_stride * sizeof(float));
        float *y1 = test_alloc(p.m.y_stride * sizeof(float));
        for (size_t v = 1; v < kern_backend_n_variants(); v++) {
            const char *name = NULL;
            const kern_ops *ops = kern_backend_variant(v, &name);
            const bool exact = strcmp(name, "avx512") == 0 || strcmp(name, "amx") == 0;
            kern_matmul m = p.m;
            m.y = yb;
            ops->matmul(&m, 0, 1);
            for (size_t b = 0; b < m.n_batch; b++) {
                kern_matmul one = p.m;
                one.xq = (const char *)p.m.xq + b * p.m.xq_row_bytes;
                one.n_batch = 1;
                one.y = y1;
                ops->matmul(&one, 0, 1);
                for (size_t r = 0; r < m.n_rows; r++) {
                    KT_NEAR(yb[b * m.y_stride + r], y1[r], 1e-5f * (1.0f + fabsf(y1[r])));
                }
                if (exact) {
                    ck_assert_int_eq(memcmp(yb + b * m.y_stride, y1, m.n_rows * sizeof(float)), 0);
                }
            }
        }
        test_free(yb);
        test_free(y1);
        problem_dispose(&p);
    }
}
END_TEST

/* How many of n floats differ in their bits. */
static size_t count_bit_diffs(const float *a, const float *b, size_t n)
{
    size_t n_diff = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t ua;
        uint32_t ub;
        memcpy(&ua, &a[i], sizeof(ua));
        memcpy(&ub, &b[i], sizeof(ub));
        n_diff += ua != ub;
    }
    return n_diff;
}

START_TEST(matmul__few_tokens_match_ref_and_single_rows)
{
    /* Decoding steps of continuous batching: every batch of 1 to 8 tokens (the avx512 kernel
     * for a few tokens), 47 rows (two groups of 16 and a partial one; split over 3 threads, a
     * partial group in the first share too) and 1088 columns (a full and a partial K chunk):
     * each variant matches the reference, a thread split computes the same bits, rows past
     * n_rows stay untouched, and on avx512 and amx each token's row equals a batch of one bit
     * for bit. */
    const size_t n_rows = 47;
    for (size_t ti = 0; ti < N_W_TYPES; ti++) {
        for (size_t n_batch = 1; n_batch <= 8; n_batch++) {
            problem p;
            const shape s = {n_rows, 1088, n_batch};
            problem_init(&p, W_TYPES[ti], s, 700 + 10 * ti + n_batch);
            const size_t n_y = n_batch * p.m.y_stride;
            float *y1 = test_alloc(n_y * sizeof(float));
            float *y3 = test_alloc(n_y * sizeof(float));
            float *got = test_alloc(n_batch * n_rows * sizeof(float));
            float *want = test_alloc(n_batch * n_rows * sizeof(float));
            float *one_y = test_alloc(p.m.y_stride * sizeof(float));
            gather(&p.m, p.y_ref, want);
            for (size_t v = 1; v < kern_backend_n_variants(); v++) {
                const char *name = NULL;
                const kern_ops *ops = kern_backend_variant(v, &name);
                const bool exact = strcmp(name, "avx512") == 0 || strcmp(name, "amx") == 0;
                kern_matmul m = p.m;
                run_split(ops, &m, y1, y3, n_y, 3);
                gather(&m, y1, got);
                const double e = test_nmse(got, want, n_batch * n_rows);
                if (e > variant_tolerance(m.w_type)) {
                    fprintf(stderr, "%s %s batch %zu: nmse %g\n", name, kern_type_name(m.w_type),
                            n_batch, e);
                }
                ck_assert_double_le(e, variant_tolerance(m.w_type));
                ck_assert_int_eq(memcmp(y1, y3, n_y * sizeof(float)), 0);
                for (size_t b = 0; b < n_batch; b++) {
                    for (size_t i = n_rows; i < m.y_stride; i++) {
                        KT_EQ(y1[b * m.y_stride + i], SENTINEL);
                    }
                    if (!exact) {
                        continue;
                    }
                    kern_matmul one = p.m;
                    one.xq = (const char *)p.m.xq + b * p.m.xq_row_bytes;
                    one.n_batch = 1;
                    one.y = one_y;
                    ops->matmul(&one, 0, 1);
                    const size_t n_diff = count_bit_diffs(y1 + b * m.y_stride, one_y, n_rows);
                    if (n_diff != 0) {
                        fprintf(stderr, "%s %s batch %zu: token %zu differs from a batch of one\n",
                                name, kern_type_name(m.w_type), n_batch, b);
                    }
                    ck_assert_uint_eq(n_diff, 0);
                }
            }
            test_free(y1);
            test_free(y3);
            test_free(got);
            test_free(want);
            test_free(one_y);
            problem_dispose(&p);
        }
    }
}
END_TEST

/* The variant named name, or NULL when this CPU does not run it. */
static const kern_ops *variant_named(const char *name)
{
    for (size_t v = 0; v < kern_backend_n_variants(); v++) {
        const char *n = NULL;
        const kern_ops *ops = kern_backend_variant(v, &n);
        if (strcmp(n, name) == 0) {
            return ops;
        }
    }
    return NULL;
}

START_TEST(matmul__amx_equals_avx512_bit_for_bit)
{
    /* The AMX kernel computes gemm_avx512's exact integers and float steps, so that a token's
     * results do not depend on which of the two ran (batch size): equal bits, every shape,
     * every thread split. Nothing to check on a CPU without AMX. */
    const kern_ops *amx = variant_named("amx");
    const kern_ops *avx512 = variant_named("avx512");
    if (amx == NULL) {
        return;
    }
    ck_assert_ptr_nonnull(avx512);
    for (size_t ti = 0; ti < N_W_TYPES; ti++) {
        for (size_t si = 0; si < N_BIG_SHAPES; si++) {
            problem p;
            problem_init(&p, W_TYPES[ti], BIG_SHAPES[si], 600 + si);
            kern_matmul m = p.m;
            const size_t n_y = m.n_batch * m.y_stride;
            float *want = test_alloc(n_y * sizeof(float));
            float *got = test_alloc(n_y * sizeof(float));
            for (size_t i = 0; i < n_y; i++) {
                want[i] = SENTINEL;
                got[i] = SENTINEL;
            }
            m.y = want;
            avx512->matmul(&m, 0, 1);
            m.y = got;
            for (size_t ith = 0; ith < 3; ith++) {
                amx->matmul(&m, ith, 3);
            }
            if (memcmp(want, got, n_y * sizeof(float)) != 0) {
                fprintf(stderr, "amx %s %zux%zu batch %zu differs from avx512\n",
                        kern_type_name(m.w_type), m.n_rows, m.n_cols, m.n_batch);
            }
            ck_assert_int_eq(memcmp(want, got, n_y * sizeof(float)), 0);
            test_free(want);
            test_free(got);
            problem_dispose(&p);
        }
    }
}
END_TEST

/* Shapes for packed weights: rows in whole and partial groups of 16 (fewer than one, one
 * exactly, 47 = 2 + 15/16, 300 like the tiny vocabulary), one to three K chunks (1088 and
 * 2112 columns end in partial ones; 96 and 1120 in an odd number of blocks, whose last Q4_0 or
 * Q8_0 block is packed without a pair), batches of 1 to 8 (the few-token kernel) and past 8
 * (the panels: 9, one tile of 4 and a partial one; 130, past one token chunk). */
static const shape PACK_SHAPES[] = {
    {5, 64, 1},    {16, 96, 2},   {16, 96, 1},   {47, 1088, 1}, {47, 1088, 2},
    {47, 1088, 3}, {47, 1088, 4}, {47, 1088, 5}, {47, 1088, 6}, {47, 1088, 7},
    {47, 1088, 8}, {47, 1088, 9}, {33, 2112, 3}, {33, 2112, 1}, {40, 2112, 130},
    {300, 64, 12}, {33, 1120, 1}, {33, 1120, 8}, {33, 1120, 9},
};
#define N_PACK_SHAPES (sizeof(PACK_SHAPES) / sizeof(PACK_SHAPES[0]))

START_TEST(matmul__packed_equals_unpacked_bit_for_bit)
{
    /* For every variant that packs: each type it packs gives the bits of the unpacked weight
     * at every batch size and thread split, packed in two parts; rows past n_rows (the last
     * group's padding) are never written. Variants that read only ggml's layout have no pack,
     * and avx512 packs Q4_0, Q4_1 and Q8_0. */
    size_t n_packed = 0;
    for (size_t v = 0; v < kern_backend_n_variants(); v++) {
        const char *name = NULL;
        const kern_ops *ops = kern_backend_variant(v, &name);
        ck_assert_int_eq(ops->pack_size == NULL, ops->pack == NULL);
        if (strcmp(name, "avx512") != 0) {
            ck_assert_int_eq(ops->pack != NULL, 0);
            continue;
        }
        for (size_t ti = 0; ti < N_W_TYPES; ti++) {
            const kern_type t = W_TYPES[ti];
            const bool packs = t == KERN_TYPE_Q4_0 || t == KERN_TYPE_Q4_1 || t == KERN_TYPE_Q8_0;
            ck_assert_int_eq(ops->pack_size(t, 47, 1088) != 0, packs);
            if (!packs) {
                continue;
            }
            for (size_t si = 0; si < N_PACK_SHAPES; si++) {
                problem p;
                problem_init(&p, t, PACK_SHAPES[si], 900 + 20 * ti + si);
                const size_t n_groups = (p.m.n_rows + 15) / 16;
                const size_t size = ops->pack_size(t, p.m.n_rows, p.m.n_cols);
                ck_assert_uint_eq(size, n_groups * 16 * p.m.w_row_bytes);
                char *packed = test_alloc(size + 64);
                char *dst = packed + (64 - (uintptr_t)packed % 64) % 64;
                memset(dst, 0xA5, size);
                ops->pack(dst, t, p.w, p.m.w_row_bytes, p.m.n_rows, p.m.n_cols, 0, 1);
                ops->pack(dst, t, p.w, p.m.w_row_bytes, p.m.n_rows, p.m.n_cols, 1, n_groups);
                const size_t n_y = p.m.n_batch * p.m.y_stride;
                float *want = test_alloc(n_y * sizeof(float));
                float *want3 = test_alloc(n_y * sizeof(float));
                float *got = test_alloc(n_y * sizeof(float));
                float *got3 = test_alloc(n_y * sizeof(float));
                kern_matmul m = p.m;
                run_split(ops, &m, want, want3, n_y, 3);
                kern_matmul mp = p.m;
                mp.w = dst;
                mp.w_packed = true;
                run_split(ops, &mp, got, got3, n_y, 3);
                if (memcmp(want, got, n_y * sizeof(float)) != 0) {
                    fprintf(stderr, "packed %s %zux%zu batch %zu differs from unpacked\n",
                            kern_type_name(t), m.n_rows, m.n_cols, m.n_batch);
                }
                ck_assert_int_eq(memcmp(want, got, n_y * sizeof(float)), 0);
                ck_assert_int_eq(memcmp(want, got3, n_y * sizeof(float)), 0);
                ck_assert_int_eq(memcmp(want, want3, n_y * sizeof(float)), 0);
                for (size_t b = 0; b < m.n_batch; b++) {
                    for (size_t i = m.n_rows; i < m.y_stride; i++) {
                        KT_EQ(got3[b * m.y_stride + i], SENTINEL);
                    }
                }
                n_packed++;
                test_free(want);
                test_free(want3);
                test_free(got);
                test_free(got3);
                test_free(packed);
                problem_dispose(&p);
            }
        }
    }
    if (kern_backend_n_variants() > 3) {
        ck_assert_uint_eq(n_packed, 3 * N_PACK_SHAPES);
    }
}
END_TEST

TCase *tcase_matmul(void)
{
    TCase *tc = tcase_create("matmul");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, matmul__ref_matches_dequantized_float_dot);
    tcase_add_test(tc, matmul__every_variant_matches_ref);
    tcase_add_test(tc, matmul__batch_rows_equal_single_rows);
    tcase_add_test(tc, matmul__large_batches_match_ref);
    tcase_add_test(tc, matmul__large_batch_rows_equal_single_rows);
    tcase_add_test(tc, matmul__few_tokens_match_ref_and_single_rows);
    tcase_add_test(tc, matmul__amx_equals_avx512_bit_for_bit);
    tcase_add_test(tc, matmul__packed_equals_unpacked_bit_for_bit);
    return tc;
}
