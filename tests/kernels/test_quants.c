/*
 * Tests of kernels/ref/quants.c and of every variant's quantize_row / dequantize_row: round-trip
 * error per type, ggml's rounding of the activation quantizers on hand-made ties, the 6-bit
 * scale packing of the K types, and bit-for-bit equality of every variant with the reference.
 */
#include "tests/kernels/tests.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/kern.h"

static const kern_type ALL_TYPES[] = {
    KERN_TYPE_F32,  KERN_TYPE_F16,  KERN_TYPE_BF16, KERN_TYPE_Q4_0, KERN_TYPE_Q4_1,
    KERN_TYPE_Q5_0, KERN_TYPE_Q5_1, KERN_TYPE_Q8_0, KERN_TYPE_Q8_1, KERN_TYPE_Q4_K,
    KERN_TYPE_Q5_K, KERN_TYPE_Q6_K, KERN_TYPE_Q8_K,
};
#define N_TYPES (sizeof(ALL_TYPES) / sizeof(ALL_TYPES[0]))

/* Largest accepted round-trip NMSE per type for test_rng_activation data (outliers included). */
static double roundtrip_tolerance(kern_type t)
{
    switch (t) {
    case KERN_TYPE_F32:
        return 0.0;
    case KERN_TYPE_F16:
        return 1e-7;
    case KERN_TYPE_BF16:
        return 1e-5;
    case KERN_TYPE_Q8_0:
    case KERN_TYPE_Q8_1:
        return 2e-4;
    case KERN_TYPE_Q8_K: /* one scale per 256 values: an outlier coarsens the whole block */
        return 1e-3;
    case KERN_TYPE_Q6_K:
        return 3e-3;
    case KERN_TYPE_Q5_0:
    case KERN_TYPE_Q5_1:
    case KERN_TYPE_Q5_K:
        return 1e-2;
    default:
        return 5e-2;
    }
}

START_TEST(quants__round_trip_error_is_bounded)
{
    const size_t n = 4096;
    float *x = test_alloc(n * sizeof(float));
    float *y = test_alloc(n * sizeof(float));
    void *q = test_alloc(n * 4);
    test_rng r = {42};
    test_fill(&r, x, n);
    const kern_ops *ref = kern_backend_variant(0, NULL);
    for (size_t i = 0; i < N_TYPES; i++) {
        const kern_type t = ALL_TYPES[i];
        ref->quantize_row(t, x, q, n);
        ref->dequantize_row(t, q, y, n);
        const double e = test_nmse(y, x, n);
        if (e > roundtrip_tolerance(t)) {
            fprintf(stderr, "%s: round-trip nmse %g\n", kern_type_name(t), e);
        }
        ck_assert_double_le(e, roundtrip_tolerance(t));
        if (t != KERN_TYPE_F32) {
            ck_assert_double_gt(e, 0.0); /* the data really went through the type */
        }
    }
    test_free(x);
    test_free(y);
    test_free(q);
}
END_TEST

/* A block whose values land exactly on .5 after scaling: amax 127 makes d = 1 and id = 1. */
static void fill_ties(float *x, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        x[j] = j % 32 == 5 ? 127.0f : (float)((int)(j % 7) - 3) + 0.5f; /* -2.5 .. 3.5 */
    }
}

START_TEST(quants__q8_0_and_q8_1_round_half_away_from_zero)
{
    float x[32];
    fill_ties(x, 32);
    unsigned char q0[34];
    unsigned char q1[36];
    const kern_ops *ref = kern_backend_variant(0, NULL);
    ref->quantize_row(KERN_TYPE_Q8_0, x, q0, 32);
    ref->quantize_row(KERN_TYPE_Q8_1, x, q1, 32);
    uint16_t d;
    memcpy(&d, q0, 2);
    ck_assert_uint_eq(d, 0x3C00); /* d = 127 / 127 = 1 */
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        const int8_t v0 = (int8_t)q0[2 + j];
        const int8_t v1 = (int8_t)q1[4 + j];
        const float want = j == 5 ? 127.0f : roundf(x[j]);
        ck_assert_int_eq(v0, (int)want);
        ck_assert_int_eq(v1, (int)want);
        sum += v1;
    }
    ck_assert_int_eq((int8_t)q0[2 + 0], -3); /* -2.5 -> -3 (away from zero, not to even) */
    ck_assert_int_eq((int8_t)q0[2 + 6], 4);  /* 3.5 -> 4 */
    ck_assert_int_eq((int8_t)q0[2 + 2], -1); /* -0.5 -> -1 */
    uint16_t s;
    memcpy(&s, q1 + 2, 2);
    ck_assert_uint_eq(s, kern_f32_to_f16((float)sum)); /* s = d * sum(qs) */
}
END_TEST

START_TEST(quants__q8_k_rounds_half_to_even_with_bsums)
{
    float x[256];
    for (int j = 0; j < 256; j++) {
        x[j] = (float)((j % 9) - 4) + 0.5f; /* -3.5 .. 4.5 */
    }
    x[17] = -127.0f; /* max = -127: iscale = -127 / max = 1 */
    unsigned char q[292];
    const kern_ops *ref = kern_backend_variant(0, NULL);
    ref->quantize_row(KERN_TYPE_Q8_K, x, q, 256);
    float d;
    memcpy(&d, q, 4);
    KT_EQ(d, 1.0f);
    int16_t bsums[16];
    memcpy(bsums, q + 4 + 256, sizeof(bsums));
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) {
            const int8_t v = (int8_t)q[4 + 16 * g + j];
            const int i = 16 * g + j;
            const int want = i == 17 ? -127 : (int)nearbyintf(x[i]);
            ck_assert_int_eq(v, want);
            sum += v;
        }
        ck_assert_int_eq(bsums[g], sum);
    }
    ck_assert_int_eq((int8_t)q[4 + 0], -4); /* -3.5 -> -4 (even) */
    ck_assert_int_eq((int8_t)q[4 + 1], -2); /* -2.5 -> -2 */
    ck_assert_int_eq((int8_t)q[4 + 8], 4);  /* 4.5 -> 4 */

    /* The sign of the first value of largest magnitude decides: here +127, so d = -1. */
    memset(x, 0, sizeof(x));
    x[3] = 127.0f;
    x[9] = -127.0f;
    x[10] = 2.5f;
    ref->quantize_row(KERN_TYPE_Q8_K, x, q, 256);
    memcpy(&d, q, 4);
    KT_EQ(d, -1.0f);
    ck_assert_int_eq((int8_t)q[4 + 3], -127);
    ck_assert_int_eq((int8_t)q[4 + 9], 127);
    ck_assert_int_eq((int8_t)q[4 + 10], -2);

    /* An all-zero block gives d = 0 and zero quants and sums. */
    memset(x, 0, sizeof(x));
    memset(q, 0xAB, sizeof(q));
    ref->quantize_row(KERN_TYPE_Q8_K, x, q, 256);
    for (size_t i = 0; i < sizeof(q); i++) {
        ck_assert_uint_eq(q[i], 0);
    }
}
END_TEST

START_TEST(quants__q4_k_scales_unpack_as_ggml)
{
    /* Hand-packed block: 6-bit scales and mins, the last four split across bytes 8..11. */
    static const int sc[8] = {3, 17, 33, 63, 5, 40, 62, 1};
    static const int mn[8] = {0, 1, 31, 63, 16, 47, 2, 60};
    unsigned char b[144] = {0};
    const uint16_t d = kern_f32_to_f16(0.25f);
    const uint16_t dmin = kern_f32_to_f16(0.5f);
    memcpy(b, &d, 2);
    memcpy(b + 2, &dmin, 2);
    unsigned char *s = b + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = (unsigned char)(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (unsigned char)(mn[j] | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (unsigned char)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
    unsigned char *qs = b + 16;
    for (int i = 0; i < 128; i++) {
        qs[i] = (unsigned char)((i % 16) | ((15 - i % 16) << 4));
    }
    float y[256];
    kern_backend_variant(0, NULL)->dequantize_row(KERN_TYPE_Q4_K, b, y, 256);
    for (int i = 0; i < 256; i++) {
        /* Value i: sub-block i / 32; 64-value chunk c uses low nibbles then high nibbles. */
        const int sub = i / 32;
        const int l = i % 32;
        const int byte = (i / 64) * 32 + l;
        const int q = sub % 2 == 0 ? qs[byte] & 0xF : qs[byte] >> 4;
        const float want = 0.25f * (float)sc[sub] * (float)q - 0.5f * (float)mn[sub];
        KT_NEAR(y[i], want, 1e-5f);
    }
}
END_TEST

/* Reads a whole fixture file of tests/fixtures/kernels/ into a new buffer; *len gets its size. */
static void *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/kernels/%s", KILN_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    const long size = ftell(f);
    ck_assert_int_gt(size, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    void *buf = test_alloc((size_t)size);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/*
 * Vectors from gguf-py (tests/fixtures/kernels/make_vectors.py), an independent port of ggml's
 * formats: every variant must dequantize its blocks and quantize its input exactly as it does.
 */
START_TEST(quants__match_independent_ggml_port)
{
    static const struct {
        const char *name;
        kern_type t;
    } deq[] = {
        {"q4_0", KERN_TYPE_Q4_0}, {"q4_1", KERN_TYPE_Q4_1}, {"q5_0", KERN_TYPE_Q5_0},
        {"q5_1", KERN_TYPE_Q5_1}, {"q8_0", KERN_TYPE_Q8_0}, {"q4_K", KERN_TYPE_Q4_K},
        {"q5_K", KERN_TYPE_Q5_K}, {"q6_K", KERN_TYPE_Q6_K},
    };
    static const struct {
        const char *name;
        kern_type t;
    } quant[] = {
        {"q4_0", KERN_TYPE_Q4_0}, {"q4_1", KERN_TYPE_Q4_1}, {"q5_0", KERN_TYPE_Q5_0},
        {"q5_1", KERN_TYPE_Q5_1}, {"q8_0", KERN_TYPE_Q8_0}, {"bf16", KERN_TYPE_BF16},
    };
    for (size_t v = 0; v < kern_backend_n_variants(); v++) {
        const kern_ops *ops = kern_backend_variant(v, NULL);
        for (size_t i = 0; i < sizeof(deq) / sizeof(deq[0]); i++) {
            char name[64];
            size_t q_len;
            size_t f_len;
            snprintf(name, sizeof(name), "deq_%s.q", deq[i].name);
            void *q = read_fixture(name, &q_len);
            snprintf(name, sizeof(name), "deq_%s.f32", deq[i].name);
            float *want = read_fixture(name, &f_len);
            const size_t n = f_len / sizeof(float);
            ck_assert_uint_eq(kern_type_row_bytes(deq[i].t, n), q_len);
            float *got = test_alloc(f_len);
            ops->dequantize_row(deq[i].t, q, got, n);
            for (size_t j = 0; j < n; j++) {
                KT_EQ(got[j], want[j]);
            }
            test_free(q);
            test_free(want);
            test_free(got);
        }
        size_t x_len;
        float *x = read_fixture("quant_input.f32", &x_len);
        const size_t n = x_len / sizeof(float);
        for (size_t i = 0; i < sizeof(quant) / sizeof(quant[0]); i++) {
            char name[64];
            size_t q_len;
            snprintf(name, sizeof(name), "quant_%s.q", quant[i].name);
            void *want = read_fixture(name, &q_len);
            ck_assert_uint_eq(kern_type_row_bytes(quant[i].t, n), q_len);
            void *got = test_alloc(q_len);
            ops->quantize_row(quant[i].t, x, got, n);
            ck_assert_int_eq(memcmp(got, want, q_len), 0);
            test_free(want);
            test_free(got);
        }
        test_free(x);
    }
}
END_TEST

START_TEST(quants__every_variant_matches_ref_bit_for_bit)
{
    const size_t n = 1024;
    float *x = test_alloc(n * sizeof(float));
    void *want = test_alloc(n * 4);
    void *got = test_alloc(n * 4);
    float *yw = test_alloc(n * sizeof(float));
    float *yg = test_alloc(n * sizeof(float));
    const kern_ops *ref = kern_backend_variant(0, NULL);
    for (int pass = 0; pass < 3; pass++) {
        test_rng r = {(uint64_t)(7 + pass)};
        test_fill(&r, x, n);
        if (pass == 1) {
            fill_ties(x, n); /* exact .5 ties after scaling */
            for (size_t j = 0; j < n; j += 256) {
                x[j + 17] = -127.0f;
            }
        }
        if (pass == 2) {
            memset(x, 0, 256 * sizeof(float)); /* all-zero blocks */
            x[300] = 3.0f;
            x[301] = -3.0f; /* equal magnitudes of both signs: the first one wins */
        }
        for (size_t v = 1; v < kern_backend_n_variants(); v++) {
            const char *name = NULL;
            const kern_ops *ops = kern_backend_variant(v, &name);
            for (size_t i = 0; i < N_TYPES; i++) {
                const kern_type t = ALL_TYPES[i];
                const size_t bytes = kern_type_row_bytes(t, n);
                memset(want, 0x55, bytes);
                memset(got, 0xAA, bytes);
                ref->quantize_row(t, x, want, n);
                ops->quantize_row(t, x, got, n);
                if (memcmp(want, got, bytes) != 0) {
                    fprintf(stderr, "%s quantize %s differs (pass %d)\n", name, kern_type_name(t),
                            pass);
                }
                ck_assert_int_eq(memcmp(want, got, bytes), 0);
                ref->dequantize_row(t, want, yw, n);
                ops->dequantize_row(t, want, yg, n);
                /* Bit-exact on purpose: the variants must reproduce ref's bytes. */
                // NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c)
                const int differ = memcmp(yw, yg, n * sizeof(float));
                ck_assert_int_eq(differ, 0);
            }
        }
    }
    test_free(x);
    test_free(want);
    test_free(got);
    test_free(yw);
    test_free(yg);
}
END_TEST

TCase *tcase_quants(void)
{
    TCase *tc = tcase_create("quants");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, quants__round_trip_error_is_bounded);
    tcase_add_test(tc, quants__q8_0_and_q8_1_round_half_away_from_zero);
    tcase_add_test(tc, quants__q8_k_rounds_half_to_even_with_bsums);
    tcase_add_test(tc, quants__q4_k_scales_unpack_as_ggml);
    tcase_add_test(tc, quants__match_independent_ggml_port);
    tcase_add_test(tc, quants__every_variant_matches_ref_bit_for_bit);
    return tc;
}
