/* Tests of eval/doctest.c: the cases in tests/fixtures/eval/doctest.txt, and OOM. */
#include "tests/eval/tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

static char *read_fixture(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static const size_t cap = 1 << 16;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The next line of *p (without its newline) into line; false at the end. */
static bool take_line(char **p, const char **line)
{
    if (**p == '\0') {
        return false;
    }
    char *nl = strchr(*p, '\n');
    *line = *p;
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p += strlen(*p);
    }
    return true;
}

void test_extract_cases(const char *path, test_extract_fn extract, size_t n_cases_want)
{
    char *text = read_fixture(path);
    char *p = text;
    const char *line = NULL;
    size_t n_cases = 0;
    bool have = take_line(&p, &line);
    while (have) {
        if (strncmp(line, "=== ", 4) != 0) {
            have = take_line(&p, &line);
            continue;
        }
        const char *name = line + 4;
        core_buf input = {0};
        while ((have = take_line(&p, &line)) && strcmp(line, "--- expect") != 0) {
            ck_assert_int_eq(core_buf_appendf(&input, "%s\n", line), 0);
        }
        ck_assert_msg(have, "case '%s': no '--- expect'", name);
        const char *expect[32];
        size_t n_expect = 0;
        while ((have = take_line(&p, &line)) && strncmp(line, "--- skipped ", 12) != 0) {
            ck_assert_uint_lt(n_expect, 32);
            expect[n_expect++] = line;
        }
        ck_assert_msg(have, "case '%s': no '--- skipped'", name);
        size_t skipped_want = strtoul(line + 12, NULL, 10);

        core_arena *a = NULL;
        ck_assert_int_eq(core_arena_new(&a, 1024, NULL), 0);
        const char **got = NULL;
        size_t n_got = 0;
        size_t skipped = 99;
        core_str in = {input.ptr ? input.ptr : "", input.len};
        ck_assert_int_eq(extract(&got, &n_got, &skipped, a, in, name, NULL), 0);
        for (size_t i = 0; i < n_got && i < n_expect; i++) {
            ck_assert_msg(strcmp(got[i], expect[i]) == 0, "case '%s' line %zu: got [%s] want [%s]",
                          name, i, got[i], expect[i]);
        }
        ck_assert_msg(n_got == n_expect, "case '%s': %zu lines, want %zu", name, n_got, n_expect);
        ck_assert_msg(skipped == skipped_want, "case '%s': %zu skipped, want %zu", name, skipped,
                      skipped_want);
        core_arena_free(a);
        core_buf_dispose(&input);
        n_cases++;
        have = take_line(&p, &line);
    }
    ck_assert_uint_eq(n_cases, n_cases_want);
    free(text);
}

static int doctest_extract(const char ***out, size_t *n_out, size_t *n_skipped, core_arena *arena,
                           core_str text, const char *name, core_err *err)
{
    (void)name;
    return eval_doctest_extract(out, n_out, n_skipped, arena, text, err);
}

START_TEST(doctest__fixture_cases)
{
    test_extract_cases(KILN_FIXTURES "/eval/doctest.txt", doctest_extract, 8);
}
END_TEST

void test_extract_enomem(test_extract_fn extract, const char *name, const char *text, size_t n_want,
                         const char *msg_want)
{
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        core_arena *a = NULL;
        ck_assert_int_eq(core_arena_new(&a, 64, NULL), 0);
        const char **got = NULL;
        size_t n_got = 0;
        core_err err = {0};
        core_alloc_fail_after(n);
        int rc = extract(&got, &n_got, NULL, a, core_str_c(text), name, &err);
        core_alloc_fail_after(0);
        core_arena_free(a);
        if (rc == 0) {
            ck_assert_uint_eq(n_got, n_want);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_str_eq(err.msg, msg_want);
        ck_assert_int_lt(n, 1000);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}

START_TEST(doctest__enomem_leaks_nothing)
{
    const char *text = ">>> f([1,\n...  2])\n[2,\n 1]\n>>> print(g('x'))\nx'y\n>>> h()\n1.25\n\n"
                       "assert k(1) == 1\n";
    test_extract_enomem(doctest_extract, "", text, 4, "doctest: out of memory");
}
END_TEST

TCase *tcase_doctest(void)
{
    TCase *tc = tcase_create("doctest");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, doctest__fixture_cases);
    tcase_add_test(tc, doctest__enomem_leaks_nothing);
    return tc;
}
