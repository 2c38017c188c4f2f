/* Tests of core/alloc.c: counting and failure injection. */
#include "tests/core/tests.h"

#include "core/core.h"

START_TEST(alloc__fail_after_fails_exactly_the_nth)
{
    core_alloc_fail_after(2);
    void *a = core_malloc(8);
    void *b = core_malloc(8);
    void *c = core_malloc(8);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(c);
    core_free(a);
    core_free(c);
    core_alloc_fail_after(0);
}
END_TEST

START_TEST(alloc__live_count_returns_to_start)
{
    long live = core_alloc_live();
    char *s = core_strndup("abc", 3);
    ck_assert_str_eq(s, "abc");
    ck_assert_int_eq(core_alloc_live(), live + 1);
    core_free(s);
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

TCase *tcase_alloc(void)
{
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, alloc__fail_after_fails_exactly_the_nth);
    tcase_add_test(tc, alloc__live_count_returns_to_start);
    return tc;
}
