/* Tests of grammar/funcs.c: function listing, byte ranges and stub kinds (Python and C). */
#include "tests/grammar/tests.h"

#include <string.h>

static gram_func *find(const char *lang_name, const char *text, size_t *n)
{
    gram_lang *lang = test_lang_load(lang_name);
    gram_func *funcs = NULL;
    core_err err = {0};
    ck_assert_int_eq(gram_funcs_find(&funcs, n, lang, core_str_c(text), &err), 0);
    gram_lang_free(lang);
    return funcs;
}

static void assert_name(const char *text, const gram_func *f, const char *name)
{
    ck_assert_uint_eq(f->name_len, strlen(name));
    ck_assert_int_eq(memcmp(text + f->name_start, name, f->name_len), 0);
}

START_TEST(funcs__python_stub_kinds)
{
    const char *text = "import os\n\n"
                       "def a(x):\n    \"\"\"Doc.\"\"\"\n    pass\n\n"
                       "def b():\n    ...\n\n"
                       "def c():\n    raise NotImplementedError('later')\n\n"
                       "def d():\n    \"\"\"Only a docstring.\"\"\"\n\n"
                       "def e():\n    return 1\n\n"
                       "def f():\n    raise ValueError('no')\n\n"
                       "@property\ndef g():\n    pass  # soon\n";
    size_t n = 0;
    gram_func *fs = find("python", text, &n);
    ck_assert_uint_eq(n, 7);
    const gram_stub want[] = {GRAM_STUB_PASS,      GRAM_STUB_ELLIPSIS, GRAM_STUB_RAISE,
                              GRAM_STUB_DOCSTRING, GRAM_STUB_NONE,     GRAM_STUB_NONE,
                              GRAM_STUB_PASS};
    const char *names[] = {"a", "b", "c", "d", "e", "f", "g"};
    for (size_t i = 0; i < n; i++) {
        assert_name(text, &fs[i], names[i]);
        ck_assert_int_eq(fs[i].stub, want[i]);
        ck_assert_uint_eq(fs[i].indent, 4);
    }
    /* a: the docstring, the head ends after it, the body starts at `pass` */
    ck_assert_uint_eq(fs[0].line, 3);
    ck_assert_int_eq(memcmp(text + fs[0].doc_start, "\"\"\"Doc.\"\"\"", fs[0].doc_len), 0);
    ck_assert_uint_eq(fs[0].head_end, fs[0].doc_start + fs[0].doc_len);
    ck_assert_int_eq(memcmp(text + fs[0].impl_start, "pass", 4), 0);
    /* b: no docstring: the head ends at the ':' */
    ck_assert_uint_eq(fs[1].doc_len, 0);
    ck_assert_int_eq(text[fs[1].head_end - 1], ':');
    /* d: a docstring alone: nothing after it */
    ck_assert_uint_eq(fs[3].impl_start, fs[3].def_end);
    /* g: after its decorator */
    ck_assert_int_eq(memcmp(text + fs[6].def_start, "def g", 5), 0);
    ck_assert_str_eq(gram_stub_name(fs[2].stub), "raise");
    core_free(fs);
}
END_TEST

START_TEST(funcs__python_methods_have_scope)
{
    const char *text = "class Shape:\n    def area(self):\n        pass\n\n"
                       "    def name(self):\n        return 'shape'\n\n"
                       "def outer():\n    def inner():\n        pass\n    return inner\n";
    size_t n = 0;
    gram_func *fs = find("python", text, &n);
    ck_assert_uint_eq(n, 3); /* inner is nested: not listed */
    assert_name(text, &fs[0], "area");
    ck_assert_int_eq(memcmp(text + fs[0].scope_start, "Shape", fs[0].scope_len), 0);
    ck_assert_uint_eq(fs[0].indent, 8);
    ck_assert_int_eq(fs[0].stub, GRAM_STUB_PASS);
    ck_assert_int_eq(fs[1].stub, GRAM_STUB_NONE);
    assert_name(text, &fs[2], "outer");
    ck_assert_uint_eq(fs[2].scope_len, 0);
    ck_assert_int_eq(fs[2].stub, GRAM_STUB_NONE);
    core_free(fs);
}
END_TEST

START_TEST(funcs__c_stubs_need_a_comment)
{
    const char *text = "#include <stdio.h>\n\n"
                       "/* Returns the larger of a and b. */\nint max2(int a, int b)\n{\n}\n\n"
                       "// Counts the set bits of x.\n// Any width.\nint popcount(unsigned x)\n{\n"
                       "    // TODO\n    return 0;\n}\n\n"
                       "int bare(void)\n{\n}\n\n"
                       "/* Done. */\nstatic int *ptr(void)\n{\n    return NULL;\n}\n\n"
                       "#ifdef X\n/* In a block. */\nvoid later(void) {}\n#endif\n";
    size_t n = 0;
    gram_func *fs = find("c", text, &n);
    ck_assert_uint_eq(n, 5);
    assert_name(text, &fs[0], "max2");
    ck_assert_int_eq(fs[0].stub, GRAM_STUB_EMPTY);
    ck_assert_int_eq(text[fs[0].impl_start], '{');
    ck_assert_int_eq(memcmp(text + fs[0].doc_start, "/* Returns", 10), 0);
    assert_name(text, &fs[1], "popcount");
    ck_assert_int_eq(fs[1].stub, GRAM_STUB_TODO);
    ck_assert_int_eq(memcmp(text + fs[1].doc_start, "// Counts", 9), 0); /* both lines */
    assert_name(text, &fs[2], "bare");
    ck_assert_int_eq(fs[2].stub, GRAM_STUB_NONE); /* no describing comment */
    assert_name(text, &fs[3], "ptr");
    ck_assert_int_eq(fs[3].stub, GRAM_STUB_NONE);
    assert_name(text, &fs[4], "later");
    ck_assert_int_eq(fs[4].stub, GRAM_STUB_EMPTY);
    core_free(fs);
}
END_TEST

START_TEST(funcs__bad_input_is_named)
{
    gram_lang *lang = test_lang_load("python");
    gram_func *fs = NULL;
    size_t n = 7;
    core_err err = {0};
    const char bin[] = "def a():\n    pass\n\0";
    ck_assert_int_eq(gram_funcs_find(&fs, &n, lang, (core_str){bin, sizeof bin}, &err),
                     CORE_EPARSE);
    ck_assert_ptr_null(fs);
    ck_assert_uint_eq(n, 0);
    /* a broken file is listed as far as the parser recovered */
    ck_assert_int_eq(
        gram_funcs_find(&fs, &n, lang, core_str_c("def a(:\n  pass\ndef b():\n    pass\n"), &err),
        0);
    core_free(fs);
    gram_lang_free(lang);
}
END_TEST

TCase *tcase_funcs(void)
{
    TCase *tc = tcase_create("funcs");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, funcs__python_stub_kinds);
    tcase_add_test(tc, funcs__python_methods_have_scope);
    tcase_add_test(tc, funcs__c_stubs_need_a_comment);
    tcase_add_test(tc, funcs__bad_input_is_named);
    return tc;
}
