/* Tests of core/arena.c. */
#include "tests/core/tests.h"

#include <stdint.h>
#include <string.h>

#include "core/core.h"

START_TEST(arena__allocations_are_aligned_and_distinct)
{
    core_arena *a = NULL;
    ck_assert_int_eq(core_arena_new(&a, 256, NULL), 0);
    char *p = core_arena_alloc(a, 3);
    char *q = core_arena_alloc(a, 1000);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq((uintptr_t)q % 16, 0);
    memset(q, 1, 1000);
    ck_assert_str_eq(core_arena_strndup(a, "hello", 5), "hello");
    core_arena_reset(a);
    ck_assert_ptr_nonnull(core_arena_alloc(a, 10));
    core_arena_free(a);
}
END_TEST

START_TEST(arena__enomem_leaks_nothing)
{
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        core_arena *a = NULL;
        core_alloc_fail_after(n);
        int rc = core_arena_new(&a, 64, NULL);
        core_alloc_fail_after(0);
        if (rc == 0) {
            core_arena_free(a);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_ptr_null(a);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

TCase *tcase_arena(void)
{
    TCase *tc = tcase_create("arena");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, arena__allocations_are_aligned_and_distinct);
    tcase_add_test(tc, arena__enomem_leaks_nothing);
    return tc;
}
