/* Tests of core/str.c. */
#include "tests/core/tests.h"

#include "core/core.h"

START_TEST(str__buf_appends_and_formats)
{
    core_buf b = {0};
    ck_assert_int_eq(core_buf_append(&b, "ab", 2), 0);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(core_buf_appendf(&b, "%d,", i % 10), 0);
    }
    ck_assert_uint_eq(b.len, 202);
    ck_assert_int_eq(b.ptr[b.len], '\0');
    ck_assert_int_eq(b.ptr[2], '0');
    core_buf_dispose(&b);
    ck_assert_ptr_null(b.ptr);
}
END_TEST

START_TEST(str__slices_compare_by_bytes)
{
    core_str a = {"abcdef", 3};
    ck_assert(core_str_eq_c(a, "abc"));
    ck_assert(!core_str_eq_c(a, "abcd"));
    ck_assert(core_str_has_prefix(a, core_str_c("ab")));
}
END_TEST

TCase *tcase_str(void)
{
    TCase *tc = tcase_create("str");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, str__buf_appends_and_formats);
    tcase_add_test(tc, str__slices_compare_by_bytes);
    return tc;
}
