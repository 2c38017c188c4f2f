/* Tests of grammar/lang.c: loading, keywords, text validation and tree-sitter checks. */
#include "tests/grammar/tests.h"

#include <stdlib.h>
#include <string.h>

START_TEST(lang__loads_every_compiled_grammar)
{
    const char *const *names = gram_lang_names();
    size_t n = 0;
    for (; names[n]; n++) {
        gram_lang *lang = test_lang_load(names[n]);
        ck_assert_str_eq(gram_lang_name(lang), names[n]);
        gram_lang_free(lang);
    }
    ck_assert_uint_eq(n, 2);
}
END_TEST

START_TEST(lang__unknown_name_is_enotfound)
{
    gram_lang *lang = NULL;
    core_err err = {0};
    ck_assert_int_eq(gram_lang_load(&lang, "cobol", &err), CORE_ENOTFOUND);
    ck_assert_ptr_null(lang);
    ck_assert_ptr_nonnull(strstr(err.msg, "cobol"));
    ck_assert_int_eq(gram_lang_load(&lang, NULL, &err), CORE_ENOTFOUND);
}
END_TEST

START_TEST(lang__load_enomem_leaks_nothing)
{
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        gram_lang *lang = NULL;
        core_alloc_fail_after(n);
        int rc = gram_lang_load(&lang, "python", NULL);
        core_alloc_fail_after(0);
        if (rc == 0) {
            gram_lang_free(lang);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_ptr_null(lang);
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

START_TEST(lang__source_check_reports_first_error)
{
    gram_lang *py = test_lang_load("python");
    gram_source_report rep;
    const char *good = "def f(x):\n    return x\n";
    ck_assert_int_eq(gram_source_check(&rep, py, core_str_c(good), NULL), 0);
    ck_assert(rep.ok);
    const char *bad = "x = 1\ny = (2,\n";
    ck_assert_int_eq(gram_source_check(&rep, py, core_str_c(bad), NULL), 0);
    ck_assert(!rep.ok);
    ck_assert_uint_ge(rep.err_line, 2);
    gram_lang_free(py);

    gram_lang *c = test_lang_load("c");
    ck_assert_int_eq(gram_source_check(&rep, c, core_str_c("int main(void) { return 0; }\n"), NULL),
                     0);
    ck_assert(rep.ok);
    ck_assert_int_eq(gram_source_check(&rep, c, core_str_c("int main(void) { return 0 }\n"), NULL),
                     0);
    ck_assert(!rep.ok);
    gram_lang_free(c);
}
END_TEST

START_TEST(lang__source_check_holds_python_indentation)
{
    gram_lang *py = test_lang_load("python");
    gram_source_report rep;
    ck_assert_int_eq(gram_source_check(&rep, py, core_str_c("def f():\nreturn 1\n"), NULL), 0);
    ck_assert(!rep.ok);
    ck_assert_str_eq(rep.what, "expected an indented block");
    ck_assert_uint_eq(rep.err_line, 2);
    ck_assert_uint_eq(rep.err_col, 1);
    ck_assert_int_eq(gram_source_check(&rep, py, core_str_c("x = 1\n    y = 2\n"), NULL), 0);
    ck_assert(!rep.ok);
    ck_assert_str_eq(rep.what, "unexpected indent");
    ck_assert_uint_eq(rep.err_byte, 10);
    ck_assert_int_eq(
        gram_source_check(&rep, py, core_str_c("if x:\n        a = 1\n    b = 2\n"), NULL), 0);
    ck_assert(!rep.ok);
    ck_assert_str_eq(rep.what, "unindent does not match any outer indentation level");
    ck_assert_uint_eq(rep.err_line, 3);
    ck_assert_int_eq(gram_source_check(&rep, py, core_str_c("def f():\n"), NULL), 0);
    ck_assert(!rep.ok);
    ck_assert_uint_eq(rep.err_byte, 9);
    gram_lang_free(py);
}
END_TEST

/* Two rules of CPython's expressions that tree-sitter-python's grammar is looser about. */
START_TEST(lang__source_check_holds_python_expression_rules)
{
    gram_lang *py = test_lang_load("python");
    gram_source_report rep;
    ck_assert_int_eq(gram_source_check(&rep, py, core_str_c("y = sum(x for x in a, b)\n"), NULL),
                     0);
    ck_assert(!rep.ok);
    ck_assert_str_eq(rep.what, "a comprehension among other elements needs parentheses");
    ck_assert_uint_eq(rep.err_byte, 20);
    ck_assert_int_eq(
        gram_source_check(&rep, py, core_str_c("y = a if b if c else d else e\n"), NULL), 0);
    ck_assert(!rep.ok);
    ck_assert_str_eq(rep.what, "a conditional expression as a condition needs parentheses");
    ck_assert_uint_eq(rep.err_col, 12);
    ck_assert_int_eq(gram_source_check(&rep, py,
                                       core_str_c("y = sum((x for x in a), b)\n"
                                                  "z = a if (b if c else d) else e\n"),
                                       NULL),
                     0);
    ck_assert(rep.ok);
    gram_lang_free(py);
}
END_TEST

/* A missing `)` deep in a long file is reported where the parse fails, not at 1:1. */
START_TEST(lang__source_check_error_is_where_the_parse_fails)
{
    core_buf buf = {0};
    for (int i = 0; i < 282; i++) {
        ck_assert_int_eq(core_buf_appendf(&buf, "int f%d(int x) { return x + %d; }\n", i, i), 0);
    }
    ck_assert_int_eq(core_buf_appendf(&buf, "int g(int x) { return h(x, 2; }\nint k;\n"), 0);
    gram_lang *c = test_lang_load("c");
    gram_source_report rep;
    ck_assert_int_eq(gram_source_check(&rep, c, (core_str){buf.ptr, buf.len}, NULL), 0);
    ck_assert(!rep.ok);
    ck_assert_uint_eq(rep.err_line, 283);
    ck_assert_uint_eq(rep.err_col, 29); /* the `;` that cannot follow `2` inside h( */
    gram_lang_free(c);

    gram_lang *py = test_lang_load("python");
    buf.len = 0;
    for (int i = 0; i < 282; i++) {
        ck_assert_int_eq(core_buf_appendf(&buf, "x%d = %d\n", i, i), 0);
    }
    ck_assert_int_eq(core_buf_appendf(&buf, "y = max(1, 2\n"), 0);
    ck_assert_int_eq(gram_source_check(&rep, py, (core_str){buf.ptr, buf.len}, NULL), 0);
    ck_assert(!rep.ok);
    ck_assert_uint_eq(rep.err_line, 284);
    ck_assert_str_eq(rep.what, "unexpected end of input");
    gram_lang_free(py);
    core_buf_dispose(&buf);
}
END_TEST

START_TEST(lang__validate_rejects_binary_bad_utf8_and_huge)
{
    core_err err = {0};
    ck_assert_int_eq(gram_text_validate(core_str_c("caf\xc3\xa9 = 1\n"), &err), 0);
    ck_assert_int_eq(gram_text_validate((core_str){"ab\0cd", 5}, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "byte 2"));
    ck_assert_int_eq(gram_text_validate(core_str_c("x = '\xff'\n"), &err), CORE_EPARSE);
    ck_assert_int_eq(gram_text_validate(core_str_c("x = '\xc3'"), &err), CORE_EPARSE);
    ck_assert_int_eq(gram_text_validate(core_str_c("\xed\xa0\x80"), &err), CORE_EPARSE);
    ck_assert_int_eq(gram_text_validate((core_str){"x", GRAM_TEXT_MAX + 1}, &err), CORE_ELIMIT);

    gram_lang *py = test_lang_load("python");
    gram_source_report rep;
    ck_assert_int_eq(gram_source_check(&rep, py,
                                       (core_str){"\x7f"
                                                  "ELF\0\0\0",
                                                  7},
                                       &err),
                     CORE_EPARSE);
    gram_lang_free(py);
}
END_TEST

TCase *tcase_lang(void)
{
    TCase *tc = tcase_create("lang");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, lang__loads_every_compiled_grammar);
    tcase_add_test(tc, lang__unknown_name_is_enotfound);
    tcase_add_test(tc, lang__load_enomem_leaks_nothing);
    tcase_add_test(tc, lang__source_check_reports_first_error);
    tcase_add_test(tc, lang__source_check_holds_python_indentation);
    tcase_add_test(tc, lang__source_check_holds_python_expression_rules);
    tcase_add_test(tc, lang__source_check_error_is_where_the_parse_fails);
    tcase_add_test(tc, lang__validate_rejects_binary_bad_utf8_and_huge);
    return tc;
}
