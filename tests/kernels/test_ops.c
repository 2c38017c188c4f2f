/*
 * Tests of kernels/ref/ops.c and every variant's rmsnorm, softmax, rope, swiglu, geglu and attn:
 * hand-computed values for the reference, then every compiled variant against the reference by
 * NMSE over several sizes.
 */
#include "tests/kernels/tests.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/kern.h"

static const kern_ops *ref_ops(void)
{
    return kern_backend_variant(0, NULL);
}

static const size_t SIZES[] = {1, 7, 64, 576, 1000};
#define N_SIZES (sizeof(SIZES) / sizeof(SIZES[0]))

START_TEST(ops__rmsnorm_known_values)
{
    const float x[4] = {1.0f, -1.0f, 1.0f, -1.0f};
    const float w[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float y[4];
    ref_ops()->rmsnorm(y, x, w, 4, 0.0f);
    KT_NEAR(y[0], 1.0f, 1e-6f);
    KT_NEAR(y[1], -2.0f, 1e-6f);
    KT_NEAR(y[3], -4.0f, 1e-6f);
    const float x2[2] = {3.0f, 4.0f}; /* mean square 12.5 */
    ref_ops()->rmsnorm(y, x2, NULL, 2, 1e-5f);
    KT_NEAR(y[0], 3.0f / sqrtf(12.5f + 1e-5f), 1e-6f);
    KT_NEAR(y[1], 4.0f / sqrtf(12.5f + 1e-5f), 1e-6f);
}
END_TEST

START_TEST(ops__softmax_known_values)
{
    float x[3] = {1.0f, 2.0f, 3.0f};
    ref_ops()->softmax(x, 3, 0.5f);
    const double e0 = exp(0.5);
    const double e1 = exp(1.0);
    const double e2 = exp(1.5);
    const double sum = e0 + e1 + e2;
    KT_NEAR(x[0], (float)(e0 / sum), 1e-6f);
    KT_NEAR(x[1], (float)(e1 / sum), 1e-6f);
    KT_NEAR(x[2], (float)(e2 / sum), 1e-6f);
    float big[2] = {1000.0f, 1000.0f}; /* no overflow: the max is subtracted first */
    ref_ops()->softmax(big, 2, 1.0f);
    KT_NEAR(big[0], 0.5f, 1e-6f);
}
END_TEST

START_TEST(ops__rope_norm_and_neox_rotate_their_pairs)
{
    /* One head of 8, n_rot 4, pos 3, base 100: pair 0 angle 3, pair 1 angle 3 * 100^(-1/2). */
    const float a0 = 3.0f;
    const float a1 = 3.0f * powf(100.0f, -0.5f);
    float x[8];
    for (int i = 0; i < 8; i++) {
        x[i] = (float)(i + 1);
    }
    ref_ops()->rope(x, 1, 8, 4, 3, 100.0f, KERN_ROPE_MODE_NORM);
    KT_NEAR(x[0], 1.0f * cosf(a0) - 2.0f * sinf(a0), 1e-5f);
    KT_NEAR(x[1], 1.0f * sinf(a0) + 2.0f * cosf(a0), 1e-5f);
    KT_NEAR(x[2], 3.0f * cosf(a1) - 4.0f * sinf(a1), 1e-5f);
    KT_NEAR(x[3], 3.0f * sinf(a1) + 4.0f * cosf(a1), 1e-5f);
    KT_EQ(x[4], 5.0f); /* beyond n_rot: untouched */
    KT_EQ(x[7], 8.0f);
    for (int i = 0; i < 8; i++) {
        x[i] = (float)(i + 1);
    }
    ref_ops()->rope(x, 1, 8, 4, 3, 100.0f, KERN_ROPE_MODE_NEOX);
    KT_NEAR(x[0], 1.0f * cosf(a0) - 3.0f * sinf(a0), 1e-5f); /* pairs (0, 2) */
    KT_NEAR(x[2], 1.0f * sinf(a0) + 3.0f * cosf(a0), 1e-5f);
    KT_NEAR(x[1], 2.0f * cosf(a1) - 4.0f * sinf(a1), 1e-5f); /* and (1, 3) */
    KT_NEAR(x[3], 2.0f * sinf(a1) + 4.0f * cosf(a1), 1e-5f);
    KT_EQ(x[5], 6.0f);
    /* Position 0 is the identity. */
    float z[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    ref_ops()->rope(z, 2, 2, 2, 0, 10000.0f, KERN_ROPE_MODE_NORM);
    KT_EQ(z[0], 1.0f);
    KT_EQ(z[3], 4.0f);
}
END_TEST

START_TEST(ops__rope_every_head_gets_the_same_angles)
{
    /* The angles are taken once per call and shared by the heads; past 256 pairs they are
     * recomputed per head. Both must give each head what a lone head gets, bit for bit, and
     * the angles ggml's cache builds (repeated products by base^(-2/n_rot)), up to FMA
     * contraction. */
    const size_t rots[] = {64, 1024};
    for (size_t k = 0; k < 2; k++) {
        const size_t n_rot = rots[k];
        const size_t hd = n_rot + 2;
        float *x = test_alloc(3 * hd * sizeof(float));
        float *one = test_alloc(hd * sizeof(float));
        for (size_t i = 0; i < 3 * hd; i++) {
            x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
        }
        float *orig = test_alloc(3 * hd * sizeof(float));
        memcpy(orig, x, 3 * hd * sizeof(float));
        ref_ops()->rope(x, 3, hd, n_rot, 17, 10000.0f, KERN_ROPE_MODE_NEOX);
        for (size_t h = 0; h < 3; h++) {
            memcpy(one, orig + h * hd, hd * sizeof(float));
            ref_ops()->rope(one, 1, hd, n_rot, 17, 10000.0f, KERN_ROPE_MODE_NEOX);
            ck_assert_int_eq(memcmp(one, x + h * hd, hd * sizeof(float)), 0);
        }
        /* The last pair's angle, built as ggml builds it. */
        const float scale = powf(10000.0f, -2.0f / (float)n_rot);
        float theta = 17.0f;
        for (size_t i = 0; i + 1 < n_rot / 2; i++) {
            theta *= scale;
        }
        const size_t i0 = n_rot / 2 - 1;
        const size_t i1 = n_rot - 1;
        KT_NEAR(x[i0], orig[i0] * cosf(theta) - orig[i1] * sinf(theta), 1e-6f);
        KT_NEAR(x[i1], orig[i0] * sinf(theta) + orig[i1] * cosf(theta), 1e-6f);
        KT_EQ(x[hd - 1], orig[hd - 1]); /* beyond n_rot: untouched */
        test_free(orig);
        test_free(one);
        test_free(x);
    }
}
END_TEST

START_TEST(ops__glu_known_values)
{
    const float g[4] = {1.0f, -2.0f, 0.0f, 12.0f};
    const float u[4] = {2.0f, 1.0f, 5.0f, 0.5f};
    float y[4];
    ref_ops()->swiglu(y, g, u, 4);
    KT_NEAR(y[0], 2.0f / (1.0f + expf(-1.0f)), 1e-6f);
    KT_NEAR(y[1], -2.0f / (1.0f + expf(2.0f)), 1e-6f);
    KT_EQ(y[2], 0.0f);
    ref_ops()->geglu(y, g, u, 4);
    /* gelu_tanh(1) = 0.841192, -> f16 0.8413 (0x3ABB); gelu_tanh(-2) = -0.04540 -> f16. */
    KT_EQ(y[0], 2.0f * kern_f16_to_f32(kern_f32_to_f16(0.841192f)));
    KT_NEAR(y[1], -0.04540f, 2e-4f);
    KT_EQ(y[2], 0.0f);
    KT_EQ(y[3], 6.0f); /* above 10: gelu(x) = x */
}
END_TEST

START_TEST(ops__attn_known_values)
{
    enum { HD = 8, NKV = 3, STRIDE = 16 };
    uint16_t k[NKV * STRIDE] = {0};
    uint16_t v[NKV * STRIDE] = {0};
    float q[HD];
    float scores[NKV];
    float out[HD];
    for (int d = 0; d < HD; d++) {
        q[d] = 0.25f;
        for (int j = 0; j < NKV; j++) {
            k[j * STRIDE + d] = kern_f32_to_f16(j == 2 ? 1.0f : 0.0f);
            v[j * STRIDE + d] = kern_f32_to_f16((float)(j + d));
        }
    }
    kern_attn a = {q, k, v, STRIDE, NKV, HD, 0.5f, scores, out, 1, HD};
    ref_ops()->attn(&a);
    /* s = (0, 0, 0.5 * 8 * 0.25 = 1): p = (1, 1, e) / (2 + e), each rounded to f16. */
    const float e = expf(1.0f);
    const float p0 = kern_f16_to_f32(kern_f32_to_f16(1.0f / (2.0f + e)));
    const float p2 = kern_f16_to_f32(kern_f32_to_f16(e / (2.0f + e)));
    for (int d = 0; d < HD; d++) {
        const float want = p0 * (float)d + p0 * (float)(1 + d) + p2 * (float)(2 + d);
        KT_NEAR(out[d], want, 1e-5f);
    }
    a.n_kv = 1; /* one position: the output is its value */
    ref_ops()->attn(&a);
    KT_EQ(out[3], 3.0f);
}
END_TEST

static void check(const char *what, const char *variant, size_t n, const float *got,
                  const float *want, double tol)
{
    const double e = test_nmse(got, want, n);
    if (e > tol) {
        fprintf(stderr, "%s %s n=%zu: nmse %g\n", variant, what, n, e);
    }
    ck_assert_double_le(e, tol);
}

START_TEST(ops__every_variant_matches_ref)
{
    const size_t n_max = 1000;
    float *x = test_alloc(n_max * sizeof(float));
    float *w = test_alloc(n_max * sizeof(float));
    float *u = test_alloc(n_max * sizeof(float));
    float *want = test_alloc(n_max * sizeof(float));
    float *got = test_alloc(n_max * sizeof(float));
    const kern_ops *ref = ref_ops();
    test_rng r = {99};
    for (size_t v = 1; v < kern_backend_n_variants(); v++) {
        const char *name = NULL;
        const kern_ops *ops = kern_backend_variant(v, &name);
        for (size_t si = 0; si < N_SIZES; si++) {
            const size_t n = SIZES[si];
            test_fill(&r, x, n);
            test_fill(&r, w, n);
            test_fill(&r, u, n);
            ref->rmsnorm(want, x, w, n, 1e-6f);
            ops->rmsnorm(got, x, w, n, 1e-6f);
            check("rmsnorm", name, n, got, want, 1e-12);
            ref->rmsnorm(want, x, NULL, n, 1e-6f);
            ops->rmsnorm(got, x, NULL, n, 1e-6f);
            check("rmsnorm (no weight)", name, n, got, want, 1e-12);
            memcpy(want, x, n * sizeof(float));
            memcpy(got, x, n * sizeof(float));
            ref->softmax(want, n, 0.125f);
            ops->softmax(got, n, 0.125f);
            check("softmax", name, n, got, want, 1e-10);
            ref->swiglu(want, x, u, n);
            ops->swiglu(got, x, u, n);
            check("swiglu", name, n, got, want, 1e-10);
            ref->geglu(want, x, u, n);
            ops->geglu(got, x, u, n);
            check("geglu", name, n, got, want, 1e-10);
        }
        /* rope: 3 heads of 64 with n_rot 64 and 32, both modes, a few positions. */
        for (int mode = 0; mode < 2; mode++) {
            const kern_rope_mode rm = mode ? KERN_ROPE_MODE_NEOX : KERN_ROPE_MODE_NORM;
            for (size_t n_rot = 32; n_rot <= 64; n_rot += 32) {
                for (int32_t pos = 0; pos < 300; pos += 137) {
                    test_fill(&r, x, 192);
                    memcpy(want, x, 192 * sizeof(float));
                    memcpy(got, x, 192 * sizeof(float));
                    ref->rope(want, 3, 64, n_rot, pos, 10000.0f, rm);
                    ops->rope(got, 3, 64, n_rot, pos, 10000.0f, rm);
                    check("rope", name, 192, got, want, 1e-10);
                }
            }
        }
    }
    test_free(x);
    test_free(w);
    test_free(u);
    test_free(want);
    test_free(got);
}
END_TEST

START_TEST(ops__every_variant_attn_matches_ref)
{
    static const size_t head_dims[] = {64, 128, 12};
    static const size_t n_kvs[] = {1, 5, 130};
    const size_t stride = 2 * 128 + 8; /* heads interleaved in the cache row */
    uint16_t *k = test_alloc(130 * stride * sizeof(uint16_t));
    uint16_t *v = test_alloc(130 * stride * sizeof(uint16_t));
    float q[128];
    float s_ref[130] = {0};
    float s_got[130] = {0};
    float want[128] = {0};
    float got[128] = {0};
    test_rng r = {5};
    for (size_t i = 0; i < 130 * stride; i++) {
        k[i] = kern_f32_to_f16(test_rng_activation(&r));
        v[i] = kern_f32_to_f16(test_rng_activation(&r));
    }
    for (size_t vi = 1; vi < kern_backend_n_variants(); vi++) {
        const char *name = NULL;
        const kern_ops *ops = kern_backend_variant(vi, &name);
        for (size_t hi = 0; hi < 3; hi++) {
            for (size_t ni = 0; ni < 3; ni++) {
                const size_t hd = head_dims[hi];
                test_fill(&r, q, hd);
                kern_attn a = {q,     k + 8, v + 8, stride, n_kvs[ni], hd, 1.0f / sqrtf((float)hd),
                               s_ref, want,  1,     hd};
                ref_ops()->attn(&a);
                a.scores = s_got;
                a.out = got;
                ops->attn(&a);
                check("attn", name, hd, got, want, 1e-8);
            }
        }
    }
    test_free(k);
    test_free(v);
}
END_TEST

/* Bits of n floats equal. */
static void check_same(const char *what, const char *variant, const float *got, const float *want,
                       size_t n)
{
    const int diff = memcmp(got, want, n * sizeof(float));
    if (diff != 0) {
        fprintf(stderr, "%s %s: not the same bits\n", variant, what);
    }
    ck_assert_int_eq(diff, 0);
}

START_TEST(ops__grouped_attn_equals_each_head_alone)
{
    /* Groups of 1, 3 and 4 query heads on one KV head (interleaved in a cache row with others,
     * as the context lays them out), key counts on both sides of 16's multiples: every
     * variant's grouped call gives each head the bits of its call alone. */
    static const size_t head_dims[] = {64, 128, 256, 48, 12};
    static const size_t groups[] = {1, 3, 4};
    static const size_t n_kvs[] = {1, 15, 16, 17, 31, 33, 100};
    const size_t hd_max = 256;
    const size_t n_kv_max = 100;
    const size_t stride = 3 * hd_max;
    uint16_t *k = test_alloc(n_kv_max * stride * sizeof(uint16_t));
    uint16_t *v = test_alloc(n_kv_max * stride * sizeof(uint16_t));
    const size_t span = 4 * (hd_max + 16); /* 4 heads q_stride apart */
    float *q = test_alloc(span * sizeof(float));
    float *s_one = test_alloc(n_kv_max * sizeof(float));
    float *s_grp = test_alloc(4 * n_kv_max * sizeof(float));
    float *want = test_alloc(span * sizeof(float));
    float *got = test_alloc(span * sizeof(float));
    test_rng r = {11};
    for (size_t i = 0; i < n_kv_max * stride; i++) {
        k[i] = kern_f32_to_f16(test_rng_activation(&r));
        v[i] = kern_f32_to_f16(test_rng_activation(&r));
    }
    for (size_t vi = 0; vi < kern_backend_n_variants(); vi++) {
        const char *name = NULL;
        const kern_ops *ops = kern_backend_variant(vi, &name);
        for (size_t hi = 0; hi < sizeof(head_dims) / sizeof(head_dims[0]); hi++) {
            const size_t hd = head_dims[hi];
            const size_t qs = hd + 16; /* heads of q and out a little apart */
            for (size_t gi = 0; gi < 3; gi++) {
                for (size_t ni = 0; ni < sizeof(n_kvs) / sizeof(n_kvs[0]); ni++) {
                    const size_t g = groups[gi];
                    test_fill(&r, q, 4 * qs);
                    memset(want, 0, span * sizeof(float));
                    memset(got, 0, span * sizeof(float));
                    for (size_t h = 0; h < g; h++) {
                        kern_attn a = {.q = q + h * qs,
                                       .k = k + hd_max,
                                       .v = v + hd_max,
                                       .kv_stride = stride,
                                       .n_kv = n_kvs[ni],
                                       .head_dim = hd,
                                       .scale = 0.125f,
                                       .scores = s_one,
                                       .out = want + h * qs}; /* n_q 0: one head */
                        ops->attn(&a);
                    }
                    kern_attn a = {q,      k + hd_max, v + hd_max, stride, n_kvs[ni], hd,
                                   0.125f, s_grp,      got,        g,      qs};
                    ops->attn(&a);
                    check_same("grouped attn", name, got, want, span);
                }
            }
        }
    }
    test_free(k);
    test_free(v);
    test_free(q);
    test_free(s_one);
    test_free(s_grp);
    test_free(want);
    test_free(got);
}
END_TEST

START_TEST(ops__rope_from_table_equals_rope)
{
    /* The pass's table (kern_rope_table) and rope_cs give rope's bits: every variant, both
     * modes, partial rotation, a few positions and bases. */
    float x[3 * 128];
    float want[3 * 128];
    float got[3 * 128];
    float cs[128];
    test_rng r = {21};
    static const float bases[] = {10000.0f, 1000000.0f};
    for (size_t vi = 0; vi < kern_backend_n_variants(); vi++) {
        const char *name = NULL;
        const kern_ops *ops = kern_backend_variant(vi, &name);
        for (int mode = 0; mode < 2; mode++) {
            const kern_rope_mode rm = mode ? KERN_ROPE_MODE_NEOX : KERN_ROPE_MODE_NORM;
            for (size_t n_rot = 32; n_rot <= 128; n_rot += 32) {
                for (int32_t pos = 0; pos < 5000; pos += 1237) {
                    for (size_t b = 0; b < 2; b++) {
                        test_fill(&r, x, 3 * 128);
                        memcpy(want, x, sizeof(x));
                        memcpy(got, x, sizeof(x));
                        ops->rope(want, 3, 128, n_rot, pos, bases[b], rm);
                        kern_rope_table(cs, n_rot, pos, bases[b]);
                        ops->rope_cs(got, 3, 128, n_rot, cs, rm);
                        check_same("rope_cs", name, got, want, 3 * 128);
                    }
                }
            }
        }
    }
    /* The table's values: cos and sin of pos * base^(-2i/n_rot), built by products. */
    kern_rope_table(cs, 64, 7, 10000.0f);
    const float scale = powf(10000.0f, -2.0f / 64.0f);
    float theta = 7.0f;
    for (size_t i = 0; i < 32; i++) {
        KT_EQ(cs[2 * i], cosf(theta));
        KT_EQ(cs[2 * i + 1], sinf(theta));
        theta *= scale;
    }
}
END_TEST

TCase *tcase_ops(void)
{
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, ops__rmsnorm_known_values);
    tcase_add_test(tc, ops__softmax_known_values);
    tcase_add_test(tc, ops__rope_norm_and_neox_rotate_their_pairs);
    tcase_add_test(tc, ops__rope_every_head_gets_the_same_angles);
    tcase_add_test(tc, ops__glu_known_values);
    tcase_add_test(tc, ops__attn_known_values);
    tcase_add_test(tc, ops__every_variant_matches_ref);
    tcase_add_test(tc, ops__every_variant_attn_matches_ref);
    tcase_add_test(tc, ops__grouped_attn_equals_each_head_alone);
    tcase_add_test(tc, ops__rope_from_table_equals_rope);
    return tc;
}
