/* Tests of kernels/types.c: the type table and the half / bfloat16 conversions. */
#include "tests/kernels/tests.h"

#include <math.h>
#include <string.h>

#include "kernels/kern.h"

START_TEST(types__table_matches_ggml)
{
    /* (type, block elems, block bytes, vec_dot type) as ggml's type_traits give them. */
    static const struct {
        kern_type t;
        size_t elems;
        size_t bytes;
        kern_type vec_dot;
        const char *name;
    } cases[] = {
        {KERN_TYPE_F32, 1, 4, KERN_TYPE_F32, "f32"},
        {KERN_TYPE_F16, 1, 2, KERN_TYPE_F16, "f16"},
        {KERN_TYPE_BF16, 1, 2, KERN_TYPE_BF16, "bf16"},
        {KERN_TYPE_Q4_0, 32, 18, KERN_TYPE_Q8_0, "q4_0"},
        {KERN_TYPE_Q4_1, 32, 20, KERN_TYPE_Q8_1, "q4_1"},
        {KERN_TYPE_Q5_0, 32, 22, KERN_TYPE_Q8_0, "q5_0"},
        {KERN_TYPE_Q5_1, 32, 24, KERN_TYPE_Q8_1, "q5_1"},
        {KERN_TYPE_Q8_0, 32, 34, KERN_TYPE_Q8_0, "q8_0"},
        {KERN_TYPE_Q8_1, 32, 36, KERN_TYPE_Q8_1, "q8_1"},
        {KERN_TYPE_Q4_K, 256, 144, KERN_TYPE_Q8_K, "q4_K"},
        {KERN_TYPE_Q5_K, 256, 176, KERN_TYPE_Q8_K, "q5_K"},
        {KERN_TYPE_Q6_K, 256, 210, KERN_TYPE_Q8_K, "q6_K"},
        {KERN_TYPE_Q8_K, 256, 292, KERN_TYPE_Q8_K, "q8_K"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert(kern_type_is_known(cases[i].t));
        ck_assert_uint_eq(kern_type_block_elems(cases[i].t), cases[i].elems);
        ck_assert_uint_eq(kern_type_block_bytes(cases[i].t), cases[i].bytes);
        ck_assert_int_eq(kern_type_vec_dot(cases[i].t), cases[i].vec_dot);
        ck_assert_str_eq(kern_type_name(cases[i].t), cases[i].name);
        ck_assert_uint_eq(kern_type_row_bytes(cases[i].t, 512),
                          512 / cases[i].elems * cases[i].bytes);
    }
    ck_assert_uint_eq(kern_type_row_bytes(KERN_TYPE_Q4_K, 100), 0);
    ck_assert(!kern_type_is_known(4));
    ck_assert(!kern_type_is_known(10));
    ck_assert(!kern_type_is_known(31));
    ck_assert(!kern_type_is_known(1000));
    ck_assert_str_eq(kern_type_name((kern_type)5), "unknown");
}
END_TEST

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

START_TEST(types__f16_known_values)
{
    ck_assert_uint_eq(kern_f32_to_f16(0.0f), 0x0000);
    ck_assert_uint_eq(kern_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(kern_f32_to_f16(1.0f), 0x3C00);
    ck_assert_uint_eq(kern_f32_to_f16(-2.0f), 0xC000);
    ck_assert_uint_eq(kern_f32_to_f16(0.1f), 0x2E66);
    ck_assert_uint_eq(kern_f32_to_f16(1.0f / 3.0f), 0x3555);
    ck_assert_uint_eq(kern_f32_to_f16(65504.0f), 0x7BFF);
    ck_assert_uint_eq(kern_f32_to_f16(65519.0f), 0x7BFF);
    ck_assert_uint_eq(kern_f32_to_f16(65520.0f), 0x7C00); /* the tie rounds to even: inf */
    ck_assert_uint_eq(kern_f32_to_f16(INFINITY), 0x7C00);
    ck_assert_uint_eq(kern_f32_to_f16(0x1p-24f), 0x0001);
    ck_assert_uint_eq(kern_f32_to_f16(0x1p-25f), 0x0000);   /* tie to even */
    ck_assert_uint_eq(kern_f32_to_f16(0x1.8p-25f), 0x0001); /* above the tie */
    ck_assert_uint_eq(kern_f32_to_f16(0x1.ffcp-15f),
                      0x0400); /* tie: rounds up to the smallest normal */
    ck_assert_uint_eq(kern_f32_to_f16(1.0f + 0x1p-11f), 0x3C00); /* tie to even, down */
    ck_assert_uint_eq(kern_f32_to_f16(1.0f + 0x3p-11f), 0x3C02); /* tie to even, up */
    ck_assert_uint_eq(kern_f32_to_f16(from_bits(0x7FC00000)) & 0x7E00, 0x7E00);
    KT_EQ(kern_f16_to_f32(0x3C00), 1.0f);
    KT_EQ(kern_f16_to_f32(0xC000), -2.0f);
    KT_EQ(kern_f16_to_f32(0x0001), 0x1p-24f);
    KT_EQ(kern_f16_to_f32(0x7BFF), 65504.0f);
    ck_assert(isinf(kern_f16_to_f32(0xFC00)));
    ck_assert(isnan(kern_f16_to_f32(0x7E00)));
}
END_TEST

START_TEST(types__f16_round_trips_every_value)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float f = kern_f16_to_f32((uint16_t)h);
        if (isnan(f)) {
            continue;
        }
        ck_assert_uint_eq(kern_f32_to_f16(f), h);
    }
}
END_TEST

START_TEST(types__f16_rounds_to_nearest)
{
    test_rng r = {0x1234567};
    for (int i = 0; i < 100000; i++) {
        /* Spread over the f16 range, subnormals included. */
        const float f = test_rng_uniform(&r) * ldexpf(1.0f, (int)(test_rng_u32(&r) % 42) - 26);
        const uint16_t h = kern_f32_to_f16(f);
        const double err = fabs((double)kern_f16_to_f32(h) - (double)f);
        for (int step = -1; step <= 1; step += 2) {
            const uint16_t n = (uint16_t)(h + step);
            if ((n & 0x7C00) == 0x7C00 || ((n ^ h) & 0x8000) != 0) {
                continue;
            }
            ck_assert_double_le(err, fabs((double)kern_f16_to_f32(n) - (double)f));
        }
    }
}
END_TEST

START_TEST(types__bf16_known_values)
{
    ck_assert_uint_eq(kern_f32_to_bf16(1.0f), 0x3F80);
    ck_assert_uint_eq(kern_f32_to_bf16(-2.0f), 0xC000);
    ck_assert_uint_eq(kern_f32_to_bf16(1.0f / 3.0f), 0x3EAB);
    ck_assert_uint_eq(kern_f32_to_bf16(from_bits(0x3F808000)), 0x3F80); /* tie to even, down */
    ck_assert_uint_eq(kern_f32_to_bf16(from_bits(0x3F818000)), 0x3F82); /* tie to even, up */
    ck_assert_uint_eq(kern_f32_to_bf16(from_bits(0x00000001)), 0x0000); /* subnormal kept, rounds */
    ck_assert_uint_eq(kern_f32_to_bf16(from_bits(0x00010000)), 0x0001);
    ck_assert_uint_eq(kern_f32_to_bf16(from_bits(0x7F800001)), 0x7FC0); /* NaN made quiet */
    KT_EQ(kern_bf16_to_f32(0x3F80), 1.0f);
    KT_EQ(kern_bf16_to_f32(0xC2F7), -123.5f);
}
END_TEST

TCase *tcase_types(void)
{
    TCase *tc = tcase_create("types");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, types__table_matches_ggml);
    tcase_add_test(tc, types__f16_known_values);
    tcase_add_test(tc, types__f16_round_trips_every_value);
    tcase_add_test(tc, types__f16_rounds_to_nearest);
    tcase_add_test(tc, types__bf16_known_values);
    return tc;
}
