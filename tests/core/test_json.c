/* Tests of core/json.c: UTF-8 validation and JSON string escaping. */
#include "tests/core/tests.h"

#include <string.h>

#include "core/core.h"

static size_t len_of(const char *bytes, size_t n, size_t i)
{
    return core_utf8_len((core_str){bytes, n}, i);
}

START_TEST(json__utf8_len_accepts_well_formed_sequences)
{
    ck_assert_uint_eq(len_of("a", 1, 0), 1);
    ck_assert_uint_eq(len_of("\xc3\xa9", 2, 0), 2);         /* U+00E9 */
    ck_assert_uint_eq(len_of("\xe2\x82\xac", 3, 0), 3);     /* U+20AC */
    ck_assert_uint_eq(len_of("\xed\x9f\xbf", 3, 0), 3);     /* U+D7FF, below the surrogates */
    ck_assert_uint_eq(len_of("\xf0\x9f\x98\x80", 4, 0), 4); /* U+1F600 */
    ck_assert_uint_eq(len_of("\xf4\x8f\xbf\xbf", 4, 0), 4); /* U+10FFFF */
    ck_assert_uint_eq(len_of("x\xc3\xa9", 3, 1), 2);
}
END_TEST

START_TEST(json__utf8_len_refuses_ill_formed_sequences)
{
    ck_assert_uint_eq(len_of("\x80", 1, 0), 0);             /* a lone continuation byte */
    ck_assert_uint_eq(len_of("\xc0\xaf", 2, 0), 0);         /* overlong '/' */
    ck_assert_uint_eq(len_of("\xc1\xbf", 2, 0), 0);         /* overlong */
    ck_assert_uint_eq(len_of("\xe0\x80\xaf", 3, 0), 0);     /* overlong */
    ck_assert_uint_eq(len_of("\xed\xa0\x80", 3, 0), 0);     /* U+D800, a surrogate */
    ck_assert_uint_eq(len_of("\xf0\x80\x80\xaf", 4, 0), 0); /* overlong */
    ck_assert_uint_eq(len_of("\xf4\x90\x80\x80", 4, 0), 0); /* U+110000 */
    ck_assert_uint_eq(len_of("\xf5\x80\x80\x80", 4, 0), 0);
    ck_assert_uint_eq(len_of("\xe2\x82", 2, 0), 0);     /* cut by the end */
    ck_assert_uint_eq(len_of("\xe2\x82\xac", 2, 0), 0); /* cut by the slice */
    ck_assert_uint_eq(len_of("\xe2\x28\xac", 3, 0), 0); /* bad continuation */
    ck_assert_uint_eq(len_of("a", 1, 1), 0);            /* past the end */
}
END_TEST

static void expect_json(const char *in, size_t n, const char *want)
{
    core_buf b = {0};
    ck_assert_int_eq(core_buf_append_json(&b, (core_str){in, n}), 0);
    ck_assert_str_eq(b.ptr, want);
    core_buf_dispose(&b);
}

START_TEST(json__escapes_quotes_controls_and_bad_bytes)
{
    expect_json("", 0, "\"\"");
    expect_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    expect_json("\n\t\r", 3, "\"\\n\\t\\r\"");
    expect_json("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"");
    expect_json("nul\0x", 5, "\"nul\\u0000x\"");
    expect_json("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"");
    /* a cut sequence and a surrogate: one U+FFFD per byte, the rest kept */
    expect_json("a\xe2\x82", 3, "\"a\\ufffd\\ufffd\"");
    expect_json("\xed\xa0\x80z", 4, "\"\\ufffd\\ufffd\\ufffdz\"");
}
END_TEST

START_TEST(json__out_of_memory_is_reported)
{
    /* Fail the n-th allocation for n = 1, 2, ... until the call succeeds: each failure is
       CORE_ENOMEM, leaves a buffer that still disposes, and leaks nothing. */
    const char *text = "a \"quoted\" line\nthat needs more than one growth of the buffer, "
                       "caf\xc3\xa9 and a bad byte \xff at the end";
    long live = core_alloc_live();
    int rc = CORE_ENOMEM;
    long n = 0;
    while (rc == CORE_ENOMEM) {
        core_buf out = {0};
        core_alloc_fail_after(++n);
        rc = core_buf_append_json(&out, core_str_c(text));
        core_alloc_fail_after(0);
        if (rc == 0) {
            ck_assert_ptr_nonnull(strstr(out.ptr, "\\ufffd at the end\""));
        }
        core_buf_dispose(&out);
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_gt(n, 1);
}
END_TEST

TCase *tcase_json(void)
{
    TCase *tc = tcase_create("json");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, json__utf8_len_accepts_well_formed_sequences);
    tcase_add_test(tc, json__utf8_len_refuses_ill_formed_sequences);
    tcase_add_test(tc, json__escapes_quotes_controls_and_bad_bytes);
    tcase_add_test(tc, json__out_of_memory_is_reported);
    return tc;
}
