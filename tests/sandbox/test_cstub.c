/* Tests of sandbox/cstub.c: finding the entry's prototype in the tests, classifying each
 * parameter, the refusals, the two generated halves and the allocation-failure loop. No root
 * needed: nothing here starts a box (the hostile suite runs the stubs). */
#include <string.h>

#include "sandbox/sbx_int.h"
#include "tests/sandbox/tests.h"

static int parse(sbx__cproto *p, const char *tests, const char *entry, core_err *err)
{
    return sbx__cproto_parse(p, core_str_c(tests), core_str_c(entry), err);
}

START_TEST(cstub__finds_the_declaration_not_the_calls)
{
    const char *tests = "#include <assert.h>\n"
                        "/* int add(char *s); in a comment */\n"
                        "#define TWICE(x) add(x, x)\n"
                        "static const char *s = \"int add(void *p);\";\n"
                        "int main(void) { return add(1, 2) == 3 ? 0 : 1; }\n"
                        "extern long add(const int *a, unsigned long n);\n";
    sbx__cproto p;
    core_err err = {0};
    ck_assert_int_eq(parse(&p, tests, "add", &err), 0);
    ck_assert_int_eq(p.ret.kind, SBX__CK_VALUE);
    ck_assert_str_eq(p.ret.type, "long");
    ck_assert_uint_eq(p.n_params, 2);
    ck_assert_int_eq(p.params[0].kind, SBX__CK_ARRAY);
    ck_assert_int_eq(p.params[0].len_of, 1);
    ck_assert(p.params[0].base_const);
    ck_assert_str_eq(p.params[0].type, "int");
    ck_assert_int_eq(p.params[1].kind, SBX__CK_VALUE);
    ck_assert_str_eq(p.params[1].type, "unsigned long");
}
END_TEST

START_TEST(cstub__classifies_each_kind)
{
    const char *tests = "#include <stdbool.h>\n"
                        "struct pt { int x; double y; };\n"
                        "typedef struct { char tag[4]; } tag_t;\n"
                        "char *f(bool b, char c, const char *s, char *io, char *buf, size_t n,\n"
                        "        int *out, struct pt p, tag_t t, const struct pt *ps, int n_ps,\n"
                        "        float v[], int len);\n";
    sbx__cproto p;
    core_err err = {0};
    ck_assert_int_eq(parse(&p, tests, "f", &err), 0);
    ck_assert_int_eq(p.ret.kind, SBX__CK_STR);
    ck_assert(!p.ret.base_const);
    static const sbx__ckind want[] = {SBX__CK_BOOL,  SBX__CK_VALUE, SBX__CK_STR,   SBX__CK_STR,
                                      SBX__CK_ARRAY, SBX__CK_VALUE, SBX__CK_REF,   SBX__CK_VALUE,
                                      SBX__CK_VALUE, SBX__CK_ARRAY, SBX__CK_VALUE, SBX__CK_ARRAY,
                                      SBX__CK_VALUE};
    ck_assert_uint_eq(p.n_params, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < p.n_params; i++) {
        ck_assert_msg(p.params[i].kind == want[i], "parameter %zu: kind %d, want %d", i,
                      (int)p.params[i].kind, (int)want[i]);
    }
    ck_assert(p.params[2].base_const);
    ck_assert(!p.params[3].base_const);
    ck_assert_int_eq(p.params[4].len_of, 5);
    ck_assert_str_eq(p.params[7].type, "struct pt");
    ck_assert_str_eq(p.params[8].type, "tag_t");
    ck_assert_int_eq(p.params[9].len_of, 10);
    ck_assert_str_eq(p.params[11].type, "float");
}
END_TEST

START_TEST(cstub__void_and_empty_lists)
{
    sbx__cproto p;
    core_err err = {0};
    ck_assert_int_eq(parse(&p, "void g(void);", "g", &err), 0);
    ck_assert_int_eq(p.ret.kind, SBX__CK_VOID);
    ck_assert_uint_eq(p.n_params, 0);
    ck_assert_int_eq(parse(&p, "const char *g();", "g", &err), 0);
    ck_assert_int_eq(p.ret.kind, SBX__CK_STR);
    ck_assert(p.ret.base_const);
    ck_assert_uint_eq(p.n_params, 0);
}
END_TEST

START_TEST(cstub__refusals_name_the_parameter)
{
    static const struct {
        const char *tests;
        const char *text;
    } cases[] = {
        {"int f(int a, void *p);", "parameter 2: void *"},
        {"int f(int (*cb)(int));", "function pointers"},
        {"int f(char **argv);", "parameter 1: pointers to pointers"},
        {"int f(int n, ...);", "variadic"},
        {"int *f(int n);", "the result: a returned pointer"},
        {"struct s { int *p; };\nint f(struct s v);", "pointer members other than strings"},
        {"struct s { const char *name; };\nint f(const struct s *v);",
         "pointers to structs with string members"},
        {"struct in { char *s; };\nstruct out { struct in i; };\nint f(struct out v);",
         "holding a struct with pointer members"},
        {"typedef char *str;\nint f(str v);", "pointer members"},
        {"int f(int a0, int a1, int a2, int a3, int a4, int a5, int a6, int a7, int a8, int a9,"
         " int b0, int b1, int b2, int b3, int b4, int b5, int b6);",
         "too many parameters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sbx__cproto p;
        core_err err = {0};
        ck_assert_int_eq(parse(&p, cases[i].tests, "f", &err), CORE_EUNSUPPORTED);
        ck_assert_msg(strstr(err.msg, cases[i].text) != NULL, "%s: %s", cases[i].tests, err.msg);
        ck_assert_ptr_nonnull(strstr(err.msg, "c entry f"));
    }
}
END_TEST

START_TEST(cstub__missing_prototype_is_a_parse_error)
{
    sbx__cproto p;
    core_err err = {0};
    ck_assert_int_eq(parse(&p, "int main(void) { return add(1, 2); }", "add", &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "no prototype of the entry function add"));
    ck_assert_int_eq(parse(&p, "int x = sizeof add(1);", "add", &err), CORE_EPARSE);
    ck_assert_int_eq(parse(&p, "", "add", &err), CORE_EPARSE);
    ck_assert_int_eq(parse(&p, "/* unterminated", "add", &err), CORE_EPARSE);
}
END_TEST

START_TEST(cstub__struct_string_members)
{
    sbx__cproto p;
    core_err err = {0};
    /* a pointer member other than a string is refused, even after a string member */
    ck_assert_int_eq(parse(&p,
                           "typedef struct { const char *name; int age, *p; } person;\n"
                           "int f(person x);",
                           "f", &err),
                     CORE_EUNSUPPORTED);
    const char *ok = "struct pet { char kind[8]; const char *name; char *owner; double w; };\n"
                     "struct pet rename(struct pet p, const char *to);\n";
    ck_assert_int_eq(parse(&p, ok, "rename", &err), 0);
    ck_assert_int_eq(p.params[0].kind, SBX__CK_VALUE);
    ck_assert_uint_eq(p.params[0].n_strs, 2);
    ck_assert_str_eq(p.params[0].strs[0], "name");
    ck_assert_str_eq(p.params[0].strs[1], "owner");
    ck_assert_uint_eq(p.ret.n_strs, 2);
    core_buf t = {0};
    core_buf c = {0};
    ck_assert_int_eq(sbx__cstub_tests(&t, &p, core_str_c("rename")), 0);
    ck_assert_int_eq(sbx__cstub_cand(&c, &p, core_str_c("rename")), 0);
    ck_assert_ptr_nonnull(strstr(t.ptr, "kiln_put_str(&q, a0.name);"));
    ck_assert_ptr_nonnull(strstr(t.ptr, "v.owner = kiln_get_str(&r);"));
    ck_assert_ptr_nonnull(strstr(c.ptr, "a0.owner = kiln_get_str(q);"));
    ck_assert_ptr_nonnull(strstr(c.ptr, "kiln_put_str(r, v.name);"));
    core_buf_dispose(&t);
    core_buf_dispose(&c);
}
END_TEST

START_TEST(cstub__generated_halves)
{
    sbx__cproto p;
    core_err err = {0};
    ck_assert_int_eq(parse(&p, "int sum(const int *a, int n, int *out);", "sum", &err), 0);
    core_buf t = {0};
    core_buf c = {0};
    ck_assert_int_eq(sbx__cstub_tests(&t, &p, core_str_c("sum")), 0);
    ck_assert_int_eq(sbx__cstub_cand(&c, &p, core_str_c("sum")), 0);
    /* the tests' half defines the entry with the declared types and copies back only what the
     * candidate may write */
    ck_assert_ptr_nonnull(strstr(t.ptr, "int sum(const int *a0, int a1, int *a2)"));
    ck_assert_ptr_nonnull(strstr(t.ptr, "kiln_put_arr(&q, a0, sizeof *a0, n0);"));
    ck_assert_ptr_nonnull(strstr(t.ptr, "kiln_get_back(&r, a2, sizeof *a2);"));
    ck_assert_ptr_null(strstr(t.ptr, "kiln_get_back(&r, a0"));
    ck_assert_ptr_nonnull(strstr(t.ptr, "kiln_end(&q, &r);"));
    /* the candidate's half calls the entry and answers */
    ck_assert_ptr_nonnull(strstr(c.ptr, "int kiln_dispatch(kiln_msg *q, kiln_msg *r)"));
    ck_assert_ptr_nonnull(strstr(c.ptr, "int v = sum(a0, a1, a2);"));
    ck_assert_ptr_nonnull(strstr(c.ptr, "kiln_put_back(r, a2, n2 * sizeof *a2);"));
    core_buf_dispose(&t);
    core_buf_dispose(&c);
}
END_TEST

START_TEST(cstub__allocation_failures)
{
    const char *tests = "#include <stdio.h>\nchar *f(const char *s, int *a, int n);\n"
                        "int main(void) { return f(\"x\", 0, 0) != 0; }\n";
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        core_alloc_fail_after(n);
        sbx__cproto p;
        core_err err = {0};
        int rc = parse(&p, tests, "f", &err);
        core_buf t = {0};
        if (rc == 0) {
            rc = sbx__cstub_tests(&t, &p, core_str_c("f"));
        }
        core_buf_dispose(&t);
        core_alloc_fail_after(0);
        ck_assert_int_eq(core_alloc_live(), live);
        if (rc == 0) {
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_lt(n, 64);
    }
}
END_TEST

TCase *tcase_cstub(void)
{
    TCase *tc = tcase_create("cstub");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, cstub__finds_the_declaration_not_the_calls);
    tcase_add_test(tc, cstub__classifies_each_kind);
    tcase_add_test(tc, cstub__void_and_empty_lists);
    tcase_add_test(tc, cstub__refusals_name_the_parameter);
    tcase_add_test(tc, cstub__missing_prototype_is_a_parse_error);
    tcase_add_test(tc, cstub__struct_string_members);
    tcase_add_test(tc, cstub__generated_halves);
    tcase_add_test(tc, cstub__allocation_failures);
    return tc;
}
