/* Tests of solve/solve_text.c: where a function ends, the code prefix, the choice of tests. */
#include "tests/solve/tests.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "solve/solve_int.h"

extern char **environ;

static size_t end_of(solve_lang lang, const char *text, bool *complete)
{
    size_t end = 0;
    *complete = solve_body_end(lang, core_str_c(text), &end);
    return end;
}

START_TEST(text__python_ends_at_dedent)
{
    bool done = false;
    const char *t = " x = 1\n    return x\n\nprint(f(2))\n";
    ck_assert_uint_eq(end_of(SOLVE_LANG_PYTHON, t, &done), strlen(" x = 1\n    return x"));
    ck_assert(done);
    /* a blank line inside the body does not end it; the text so far is not complete */
    t = " x = 1\n\n    return x\n";
    ck_assert_uint_eq(end_of(SOLVE_LANG_PYTHON, t, &done), strlen(t));
    ck_assert(!done);
    /* nested blocks and a column-0 comment */
    t = " for i in xs:\n        if i:\n            return i\n# test\n";
    ck_assert_uint_eq(end_of(SOLVE_LANG_PYTHON, t, &done),
                      strlen(" for i in xs:\n        if i:\n            return i"));
    ck_assert(done);
}
END_TEST

/* A candidate as solve_write.c holds it: a checker fed the code prefix and then the text. */
static void cand_make(solve__cand *c, const gram_lang *gl, const char *prefix, const char *text)
{
    memset(c, 0, sizeof(*c));
    bool viable = false;
    ck_assert_int_eq(gram_checker_new(&c->checker, gl, NULL, NULL), 0);
    ck_assert_int_eq(gram_checker_feed(c->checker, core_str_c(prefix), &viable, NULL), 0);
    ck_assert(viable);
    ck_assert_int_eq(gram_checker_feed(c->checker, core_str_c(text), &viable, NULL), 0);
    ck_assert(viable);
    ck_assert_int_eq(core_buf_append(&c->text, text, strlen(text)), 0);
}

START_TEST(text__python_end_waits_for_the_checker)
{
    gram_lang *py = NULL;
    ck_assert_int_eq(gram_lang_load(&py, "python", NULL), 0);
    const char *prefix = "def f(xs):\n   ";
    solve__cand c;
    bool ended = false;
    size_t end = 0;
    /* a column-0 line inside brackets and inside a string is no end */
    const char *t = " return max(1,\n2) + len('''\nx''')\n";
    cand_make(&c, py, prefix, t);
    ck_assert(solve_body_end(SOLVE_LANG_PYTHON, core_str_c(t), &end)); /* the text's guess */
    ck_assert_int_eq(solve__cand_end(&c, SOLVE_LANG_PYTHON, false, &ended, &end, NULL), 0);
    ck_assert(!ended);
    ck_assert_uint_eq(end, strlen(t));
    solve__cand_dispose(&c);
    /* the same text, then a real dedent */
    const char *t2 = " return max(1,\n2) + len('''\nx''')\nprint(1)";
    cand_make(&c, py, prefix, t2);
    ck_assert_int_eq(solve__cand_end(&c, SOLVE_LANG_PYTHON, false, &ended, &end, NULL), 0);
    ck_assert(ended);
    ck_assert_uint_eq(end, strlen(t) - 1);
    solve__cand_dispose(&c);
    /* at a stop token, an unfinished body is cut, not ended */
    const char *t3 = " try:\n        x = 1\n   ";
    cand_make(&c, py, prefix, t3);
    ck_assert_int_eq(solve__cand_end(&c, SOLVE_LANG_PYTHON, true, &ended, &end, NULL), 0);
    ck_assert(!ended);
    solve__cand_dispose(&c);
    const char *t4 = " return 1\n";
    cand_make(&c, py, prefix, t4);
    ck_assert_int_eq(solve__cand_end(&c, SOLVE_LANG_PYTHON, true, &ended, &end, NULL), 0);
    ck_assert(ended);
    ck_assert_uint_eq(end, strlen(" return 1"));
    solve__cand_dispose(&c);
    gram_lang_free(py);
}
END_TEST

START_TEST(text__python_ends_at_fence)
{
    bool done = false;
    const char *t = " return a + b\n```\nThis adds.";
    ck_assert_uint_eq(end_of(SOLVE_LANG_PYTHON, t, &done), strlen(" return a + b"));
    ck_assert(done);
    /* a fence inside the body line cuts there too */
    t = " return 1```";
    ck_assert_uint_eq(end_of(SOLVE_LANG_PYTHON, t, &done), strlen(" return 1"));
    ck_assert(done);
}
END_TEST

START_TEST(text__c_ends_at_closing_brace)
{
    bool done = false;
    const char *t = "    if (n) {\n        return 1;\n    }\n    return 0;\n}\nint main(void) {}";
    ck_assert_uint_eq(end_of(SOLVE_LANG_C, t, &done),
                      strlen("    if (n) {\n        return 1;\n    }\n    return 0;\n}"));
    ck_assert(done);
    /* braces in strings, characters and comments do not count */
    t = "    const char *s = \"}\"; char c = '}'; /* } */ // }\n    return s[0] == c;\n}";
    ck_assert_uint_eq(end_of(SOLVE_LANG_C, t, &done), strlen(t));
    ck_assert(done);
    t = "    return \"\\\"}\";\n";
    ck_assert_uint_eq(end_of(SOLVE_LANG_C, t, &done), strlen(t));
    ck_assert(!done);
    t = "    return 0;\n```";
    ck_assert_uint_eq(end_of(SOLVE_LANG_C, t, &done), strlen("    return 0;"));
    ck_assert(done);
}
END_TEST

START_TEST(text__code_prefix_python_keeps_prompt_and_indents)
{
    core_buf b = {0};
    solve_task t = {SOLVE_LANG_PYTHON,
                    core_str_c("from typing import List\n\ndef f(xs: List[int]):\n"
                               "  \"\"\"Doc.\"\"\"\n"),
                    core_str_c("f"), core_str_c("")};
    ck_assert_int_eq(solve_code_prefix(&b, &t, NULL), 0);
    /* the docstring's 2-space indentation, less one space */
    ck_assert_str_eq(b.ptr,
                     "from typing import List\n\ndef f(xs: List[int]):\n  \"\"\"Doc.\"\"\"\n ");
    b.len = 0;
    t.prompt = core_str_c("def g():");
    ck_assert_int_eq(solve_code_prefix(&b, &t, NULL), 0);
    ck_assert_str_eq(b.ptr, "def g():\n   ");
    core_buf_dispose(&b);
}
END_TEST

START_TEST(text__code_prefix_c_turns_prototype_into_definition)
{
    core_buf b = {0};
    solve_task t = {SOLVE_LANG_C, core_str_c("/* Sum. */\nint sum(const int *a, int n);\n"),
                    core_str_c("sum"), core_str_c("")};
    ck_assert_int_eq(solve_code_prefix(&b, &t, NULL), 0);
    ck_assert_ptr_nonnull(strstr(b.ptr, "#include <string.h>\n"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "/* Sum. */\nint sum(const int *a, int n)\n{\n   "));
    ck_assert_str_eq(b.ptr + b.len - 5, "{\n   ");
    b.len = 0;
    t.prompt = core_str_c("#include <math.h>\ndouble h(double x);");
    ck_assert_int_eq(solve_code_prefix(&b, &t, NULL), 0);
    ck_assert_str_eq(b.ptr, "#include <math.h>\ndouble h(double x)\n{\n   ");
    core_err err = {0};
    t.prompt = core_str_c("/* no prototype */\nint h(int x)");
    ck_assert_int_eq(solve_code_prefix(&b, &t, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "prototype"));
    core_buf_dispose(&b);
}
END_TEST

/* HumanEval-X / MultiPL-E: the prompt ends with the definition's opening brace. */
START_TEST(text__code_prefix_c_takes_an_open_definition)
{
    core_buf b = {0};
    solve_task t = {SOLVE_LANG_C,
                    core_str_c("#include <stdio.h>\n/* Example: count_char(\"banana\", 'a') == 3 "
                               "*/\nint count_char(const char *s, char c) {\n"),
                    core_str_c("count_char"), core_str_c("")};
    ck_assert_int_eq(solve_code_prefix(&b, &t, NULL), 0);
    ck_assert_str_eq(b.ptr, "#include <stdio.h>\n/* Example: count_char(\"banana\", 'a') == 3 "
                            "*/\nint count_char(const char *s, char c) {\n   ");
    b.len = 0;
    t.prompt = core_str_c("int twice(int x)\n{");
    ck_assert_int_eq(solve_code_prefix(&b, &t, NULL), 0);
    ck_assert_ptr_nonnull(strstr(b.ptr, "#include <string.h>\n"));
    ck_assert_str_eq(b.ptr + b.len - strlen("int twice(int x) {\n   "), "int twice(int x) {\n   ");
    core_err err = {0};
    t.prompt = core_str_c("#include<vector>\nusing namespace std;\nint f(vector<int> v){\n");
    ck_assert_int_eq(solve_code_prefix(&b, &t, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "C++"));
    core_buf_dispose(&b);
}
END_TEST

START_TEST(text__tests_from_field_docstring_or_none)
{
    core_arena *a = NULL;
    ck_assert_int_eq(core_arena_new(&a, 1024, NULL), 0);
    const char *tests = NULL;
    solve_tests_source src = SOLVE_TESTS_NONE;
    solve_task t = {
        SOLVE_LANG_PYTHON,
        core_str_c("def add(a, b):\n    \"\"\"Add.\n    >>> add(2, 3)\n    5\n    \"\"\"\n"),
        core_str_c("add"), core_str_c("assert add(1, 1) == 2\n")};
    ck_assert_int_eq(solve_tests_select(&tests, &src, a, &t, NULL), 0);
    ck_assert_int_eq(src, SOLVE_TESTS_FIELD);
    ck_assert_str_eq(tests, "assert add(1, 1) == 2\n");

    t.visible_tests = core_str_c("  \n");
    ck_assert_int_eq(solve_tests_select(&tests, &src, a, &t, NULL), 0);
    ck_assert_int_eq(src, SOLVE_TESTS_DOCSTRING);
    ck_assert_str_eq(tests, "assert add(2, 3) == 5\n");
    ck_assert_str_eq(solve_tests_source_name(src), "docstring");

    t.prompt = core_str_c("def add(a, b):\n    \"\"\"Add a and b.\"\"\"\n");
    ck_assert_int_eq(solve_tests_select(&tests, &src, a, &t, NULL), 0);
    ck_assert_int_eq(src, SOLVE_TESTS_NONE);
    ck_assert_str_eq(tests, "");

    /* C has no docstring examples */
    solve_task c = {SOLVE_LANG_C, core_str_c("/* >>> f(1)\n 2 */\nint f(int x);"), core_str_c("f"),
                    core_str_c("")};
    ck_assert_int_eq(solve_tests_select(&tests, &src, a, &c, NULL), 0);
    ck_assert_int_eq(src, SOLVE_TESTS_NONE);
    core_arena_free(a);
}
END_TEST

/* Runs argv[0] (searched in PATH) and returns its exit status, -1 when it did not exit. */
static int run_program(char *const argv[])
{
    pid_t pid = 0;
    ck_assert_int_eq(posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* C comments' examples become a test program that compiles against the declaration. */
START_TEST(text__c_tests_from_comment_examples)
{
    core_arena *a = NULL;
    ck_assert_int_eq(core_arena_new(&a, 4096, NULL), 0);
    const char *tests = NULL;
    solve_tests_source src = SOLVE_TESTS_NONE;
    solve_task c = {SOLVE_LANG_C,
                    core_str_c("#include <stdio.h>\n/* Counts c in s.\n   Example: "
                               "count_char(\"banana\", 'a') == 3\n   count_char(\"\", 'a') "
                               "returns 0 */\nint count_char(const char *s,\n    char c) {\n"),
                    core_str_c("count_char"), core_str_c("")};
    ck_assert_int_eq(solve_tests_select(&tests, &src, a, &c, NULL), 0);
    ck_assert_int_eq(src, SOLVE_TESTS_DOCSTRING);
    ck_assert_ptr_nonnull(strstr(tests, "\nint count_char(const char *s,\n    char c);\n"));
    ck_assert_ptr_nonnull(strstr(tests, "    CHECK(count_char(\"banana\", 'a') == 3);\n"));
    ck_assert_ptr_nonnull(strstr(tests, "    CHECK(count_char(\"\", 'a') == 0);\n"));
    /* the program compiles and passes with a right definition, fails with a wrong one */
    char path[] = "/tmp/kiln-test-c-examples-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "%s\nint count_char(const char *s, char c)\n{\n    int n = 0;\n"
            "    for (; *s; s++) {\n        n += *s == c;\n    }\n    return n;\n}\n",
            tests);
    fclose(f);
    char bin[64];
    snprintf(bin, sizeof(bin), "%s.bin", path);
    char *const cc[] = {"cc", "-x", "c", "-o", bin, path, NULL};
    ck_assert_int_eq(run_program(cc), 0);
    char *const prog[] = {bin, NULL};
    ck_assert_int_eq(run_program(prog), 0);
    unlink(bin);
    unlink(path);
    core_arena_free(a);
}
END_TEST

START_TEST(text__names)
{
    ck_assert_str_eq(solve_lang_name(SOLVE_LANG_C), "c");
    ck_assert_str_eq(solve_lang_name(SOLVE_LANG_PYTHON), "python");
    ck_assert_str_eq(solve_stage_name(SOLVE_STAGE_REPAIR), "repair");
    ck_assert_str_eq(solve_tests_source_name(SOLVE_TESTS_FIELD), "field");
}
END_TEST

TCase *tcase_text(void)
{
    TCase *tc = tcase_create("text");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, text__python_ends_at_dedent);
    tcase_add_test(tc, text__python_ends_at_fence);
    tcase_add_test(tc, text__python_end_waits_for_the_checker);
    tcase_add_test(tc, text__c_ends_at_closing_brace);
    tcase_add_test(tc, text__code_prefix_python_keeps_prompt_and_indents);
    tcase_add_test(tc, text__code_prefix_c_turns_prototype_into_definition);
    tcase_add_test(tc, text__code_prefix_c_takes_an_open_definition);
    tcase_add_test(tc, text__tests_from_field_docstring_or_none);
    tcase_add_test(tc, text__c_tests_from_comment_examples);
    tcase_add_test(tc, text__names);
    return tc;
}
