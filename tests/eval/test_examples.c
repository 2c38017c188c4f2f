/* Tests of eval/examples.c: the cases in tests/fixtures/eval/c_examples.txt, and OOM. */
#include "tests/eval/tests.h"

#include <string.h>

/* The case's name starts with the entry function's name and a colon. */
static int examples_extract(const char ***out, size_t *n_out, size_t *n_skipped, core_arena *arena,
                            core_str text, const char *name)
{
    core_str entry = {name, strcspn(name, ":")};
    return eval_c_examples_extract(out, n_out, n_skipped, arena, text, entry, NULL);
}

START_TEST(examples__fixture_cases)
{
    test_extract_cases(KILN_FIXTURES "/eval/c_examples.txt", examples_extract, 8);
}
END_TEST

START_TEST(examples__enomem_leaks_nothing)
{
    const char *text = "/* f(1) == 2, f(2) -> 4; g(\"a\") returns \"b\" */\nint f(int x);\n";
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        core_arena *a = NULL;
        ck_assert_int_eq(core_arena_new(&a, 64, NULL), 0);
        const char **got = NULL;
        size_t n_got = 0;
        core_err err = {0};
        core_alloc_fail_after(n);
        int rc =
            eval_c_examples_extract(&got, &n_got, NULL, a, core_str_c(text), core_str_c("f"), &err);
        core_alloc_fail_after(0);
        core_arena_free(a);
        if (rc == 0) {
            ck_assert_uint_eq(n_got, 2);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

TCase *tcase_examples(void)
{
    TCase *tc = tcase_create("examples");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, examples__fixture_cases);
    tcase_add_test(tc, examples__enomem_leaks_nothing);
    return tc;
}
