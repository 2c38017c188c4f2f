/*
 * Tests of grammar/names.c: C names that resolve to nothing, with the system headers' names
 * learnt from the compiler (cc, which scripts/setup.sh installs).
 */
#include "tests/grammar/tests.h"

#include <stdint.h>
#include <string.h>

static size_t first_undeclared(gram_names *names, const gram_lang *c, const char *text)
{
    size_t at = 0;
    ck_assert_int_eq(gram_names_check(&at, names, c, core_str_c(text), NULL), 0);
    return at;
}

START_TEST(names__declared_and_included_names_resolve)
{
    gram_lang *c = test_lang_load("c");
    gram_names *names = NULL;
    ck_assert_int_eq(gram_names_new(&names, NULL, NULL), 0);
    const char *ok = "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
                     "#include <stdbool.h>\n#define N 4\ntypedef struct { int x; } pt;\n"
                     "enum color { RED, GREEN };\nstatic int helper(int v);\n"
                     "int f(const char *s, pt *p) {\n"
                     "    size_t n = strlen(s);\n    bool seen = false;\n"
                     "    int (*cmp)(int) = helper;\n    struct node *later = NULL;\n"
                     "    for (int i = 0; i < N; i++) { seen = seen || s[i] == 'a'; }\n"
                     "    if (!seen) { printf(\"%zu\\n\", n); exit(GREEN); }\n"
                     "    return p->x + (int)n + RED + cmp(1) + __LINE__ + (later != 0);\n}\n";
    ck_assert_uint_eq(first_undeclared(names, c, ok), SIZE_MAX);
    gram_names_free(names);
    gram_lang_free(c);
}
END_TEST

START_TEST(names__undeclared_names_are_found)
{
    gram_lang *c = test_lang_load("c");
    gram_names *names = NULL;
    ck_assert_int_eq(gram_names_new(&names, NULL, NULL), 0);
    const char *var = "#include <stdio.h>\nint f(int a) {\n    return max_val + a;\n}\n";
    ck_assert_uint_eq(first_undeclared(names, c, var), strstr(var, "max_val") - var);
    /* bool and true need <stdbool.h>, strlen <string.h> */
    const char *type = "#include <stdio.h>\nint f(int a) {\n    bool b = a;\n    return b;\n}\n";
    ck_assert_uint_eq(first_undeclared(names, c, type), strstr(type, "bool") - type);
    const char *call = "#include <stdio.h>\nint f(const char *s) { return (int)strlen(s); }\n";
    ck_assert_uint_eq(first_undeclared(names, c, call), strstr(call, "strlen") - call);
    /* a header included with quotes or one that does not exist: unknown, nothing refused */
    ck_assert_uint_eq(
        first_undeclared(names, c, "#include \"mine.h\"\nint f(void) { return g; }\n"), SIZE_MAX);
    ck_assert_uint_eq(
        first_undeclared(names, c, "#include <no/such-header.h>\nint f(void) { return g; }\n"),
        SIZE_MAX);
    ck_assert_uint_eq(
        first_undeclared(names, c, "#include <../etc/passwd>\nint f(void) { return g; }\n"),
        SIZE_MAX);
    gram_names_free(names);
    gram_lang_free(c);
}
END_TEST

START_TEST(names__other_languages_are_unknown)
{
    gram_lang *py = test_lang_load("python");
    gram_names *names = NULL;
    ck_assert_int_eq(gram_names_new(&names, NULL, NULL), 0);
    ck_assert_uint_eq(first_undeclared(names, py, "x = undefined_name\n"), SIZE_MAX);
    gram_names_free(names);
    gram_lang_free(py);
}
END_TEST

TCase *tcase_names(void)
{
    TCase *tc = tcase_create("names");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, names__declared_and_included_names_resolve);
    tcase_add_test(tc, names__undeclared_names_are_found);
    tcase_add_test(tc, names__other_languages_are_unknown);
    return tc;
}
