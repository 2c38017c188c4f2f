/* Tests of grammar/metrics.c: exact measures of small Python and C snippets. */
#include "tests/grammar/tests.h"

#include <string.h>

static gram_metrics measure(const char *lang_name, const char *text)
{
    gram_lang *lang = test_lang_load(lang_name);
    gram_metrics m;
    core_err err = {0};
    ck_assert_int_eq(gram_metrics_compute(&m, lang, core_str_c(text), &err), 0);
    gram_lang_free(lang);
    return m;
}

START_TEST(metrics__python_function)
{
    gram_metrics m = measure("python", "def count_evens(nums):\n"
                                       "    \"\"\"Count even numbers.\"\"\"\n"
                                       "    total = 0  # running count\n"
                                       "    for n in nums:\n"
                                       "        if n % 2 == 0 and n > 0:\n"
                                       "            total += 1\n"
                                       "    return total\n");
    ck_assert(m.parses);
    ck_assert_uint_eq(m.cyclomatic, 4); /* for, if, and */
    ck_assert_uint_eq(m.nesting_max, 2);
    ck_assert_uint_eq(m.n_lines, 6);
    ck_assert_uint_eq(m.n_comment_lines, 2); /* the docstring and the comment */
    ck_assert_uint_eq(m.n_tokens, 30);
    ck_assert_uint_eq(m.n_functions, 1);
    ck_assert_uint_eq(m.n_names, 4); /* count_evens, nums, total, n */
    ck_assert_uint_eq(m.n_names_bad, 0);
    ck_assert_uint_eq(m.n_names_short, 0); /* n is a loop variable */
}
END_TEST

START_TEST(metrics__python_names_and_decisions)
{
    gram_metrics m = measure("python", "MAX_N = 10\n"
                                       "class bad_name:\n"
                                       "    pass\n"
                                       "def Compute(a, limitValue=3, *args, **kw):\n"
                                       "    x = [i for i in args if i]\n"
                                       "    y = a if a else limitValue\n"
                                       "    LOCAL = 1\n"
                                       "    try:\n"
                                       "        while x:\n"
                                       "            x.pop()\n"
                                       "    except ValueError:\n"
                                       "        return 0\n"
                                       "    return (lambda q: q)(y)\n");
    ck_assert(m.parses);
    /* comprehension for and if, conditional expression, while, except */
    ck_assert_uint_eq(m.cyclomatic, 6);
    ck_assert_uint_eq(m.nesting_max, 2); /* try > while */
    /* MAX_N bad_name Compute a limitValue args kw x i y LOCAL q */
    ck_assert_uint_eq(m.n_names, 12);
    /* bad_name (a class), Compute, limitValue, LOCAL (constant case inside a function) */
    ck_assert_uint_eq(m.n_names_bad, 4);
    ck_assert_uint_eq(m.n_names_short, 4); /* a, x, y, q */
    ck_assert_uint_eq(m.n_functions, 1);
}
END_TEST

START_TEST(metrics__python_match_and_elif)
{
    gram_metrics m = measure("python", "def f(v):\n"
                                       "    match v:\n"
                                       "        case 1:\n"
                                       "            return 'one'\n"
                                       "        case _:\n"
                                       "            return 'other'\n");
    ck_assert_uint_eq(m.cyclomatic, 2); /* `case _` is the default */
    ck_assert_uint_eq(m.nesting_max, 1);
    ck_assert_uint_eq(m.n_names_short, 2);
    m = measure("python", "def g(a, b):\n"
                          "    if a:\n"
                          "        return 1\n"
                          "    elif b:\n"
                          "        return 2\n"
                          "    else:\n"
                          "        return 3\n");
    ck_assert_uint_eq(m.cyclomatic, 3);
    ck_assert_uint_eq(m.nesting_max, 1);
    ck_assert_uint_eq(m.n_tokens, 22);
}
END_TEST

START_TEST(metrics__c_function)
{
    gram_metrics m = measure("c", "/* Sum of positive values. */\n"
                                  "int sum_pos(const int *vals, int n)\n"
                                  "{\n"
                                  "    int total = 0; // acc\n"
                                  "    for (int i = 0; i < n; i++) {\n"
                                  "        if (vals[i] > 0 && vals[i] < 100) {\n"
                                  "            total += vals[i];\n"
                                  "        } else if (vals[i] == 7 || n == 3) {\n"
                                  "            break;\n"
                                  "        }\n"
                                  "    }\n"
                                  "    return total > 0 ? total : 0;\n"
                                  "}\n");
    ck_assert(m.parses);
    ck_assert_uint_eq(m.cyclomatic, 7);  /* for, if, &&, else if, ||, ?: */
    ck_assert_uint_eq(m.nesting_max, 2); /* for > if; else if does not nest */
    ck_assert_uint_eq(m.n_lines, 12);
    ck_assert_uint_eq(m.n_comment_lines, 2);
    ck_assert_uint_eq(m.n_tokens, 86);
    ck_assert_uint_eq(m.n_functions, 1);
    ck_assert_uint_eq(m.n_names, 5); /* sum_pos vals n total i */
    ck_assert_uint_eq(m.n_names_bad, 0);
    ck_assert_uint_eq(m.n_names_short, 1); /* n; i is a loop variable */
}
END_TEST

START_TEST(metrics__c_naming_consistency_and_switch)
{
    gram_metrics m = measure("c", "static int helperFn(int itemCount, int max_len, int MyVal)\n"
                                  "{\n"
                                  "    int outVal = itemCount + max_len + MyVal;\n"
                                  "    switch (outVal) {\n"
                                  "    case 1:\n"
                                  "    case 2:\n"
                                  "        return 1;\n"
                                  "    default:\n"
                                  "        do { outVal--; } while (outVal > 0);\n"
                                  "    }\n"
                                  "    return outVal;\n"
                                  "}\n");
    ck_assert(m.parses);
    ck_assert_uint_eq(m.cyclomatic, 4);  /* two cases, do */
    ck_assert_uint_eq(m.nesting_max, 2); /* switch > do */
    ck_assert_uint_eq(m.n_names, 5);
    ck_assert_uint_eq(m.n_names_bad, 2); /* camelCase wins: max_len and MyVal break it */
    ck_assert_uint_eq(m.n_names_short, 0);
}
END_TEST

START_TEST(metrics__broken_and_bad_input)
{
    gram_lang *lang = test_lang_load("python");
    gram_metrics m;
    ck_assert_int_eq(gram_metrics_compute(&m, lang, core_str_c("def f(:\n    return 1\n"), NULL),
                     0);
    ck_assert(!m.parses);
    ck_assert_uint_ge(m.n_tokens, 5);
    ck_assert_int_eq(gram_metrics_compute(&m, lang, core_str_c(""), NULL), 0);
    ck_assert_uint_eq(m.cyclomatic, 1);
    ck_assert_uint_eq(m.n_lines, 0);
    core_err err = {0};
    ck_assert_int_eq(gram_metrics_compute(&m, lang, (core_str){"a\0b", 3}, &err), CORE_EPARSE);
    ck_assert_uint_eq(m.cyclomatic, 0);
    gram_lang_free(lang);
}
END_TEST

START_TEST(metrics__enomem_leaks_nothing)
{
    gram_lang *lang = test_lang_load("c");
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        gram_metrics m;
        core_alloc_fail_after(n);
        int rc =
            gram_metrics_compute(&m, lang, core_str_c("int f(int a) { return a ? 1 : 2; }"), NULL);
        core_alloc_fail_after(0);
        if (rc == 0) {
            ck_assert_uint_eq(m.cyclomatic, 2);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_lt(n, 100);
    }
    ck_assert_int_eq(core_alloc_live(), live);
    gram_lang_free(lang);
}
END_TEST

TCase *tcase_metrics(void)
{
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, metrics__python_function);
    tcase_add_test(tc, metrics__python_names_and_decisions);
    tcase_add_test(tc, metrics__python_match_and_elif);
    tcase_add_test(tc, metrics__c_function);
    tcase_add_test(tc, metrics__c_naming_consistency_and_switch);
    tcase_add_test(tc, metrics__broken_and_bad_input);
    tcase_add_test(tc, metrics__enomem_leaks_nothing);
    return tc;
}
