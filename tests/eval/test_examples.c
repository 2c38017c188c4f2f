/* Tests of eval/examples.c: the cases in tests/fixtures/eval/c_examples.txt, and OOM. */
#include "tests/eval/tests.h"

#include <string.h>

/* The case's name starts with the entry function's name and a colon. */
static int examples_extract(const char ***out, size_t *n_out, size_t *n_skipped, core_arena *arena,
                            core_str text, const char *name, core_err *err)
{
    core_str entry = {name, strcspn(name, ":")};
    return eval_c_examples_extract(out, n_out, n_skipped, arena, text, entry, err);
}

START_TEST(examples__fixture_cases)
{
    test_extract_cases(KILN_FIXTURES "/eval/c_examples.txt", examples_extract, 8);
}
END_TEST

START_TEST(examples__enomem_leaks_nothing)
{
    const char *text = "/* f(1) == 2, f(2) -> 4; g(\"a\") returns \"b\" */\nint f(int x);\n";
    test_extract_enomem(examples_extract, "f", text, 2,
                        "eval: out of memory for the examples' tests");
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
