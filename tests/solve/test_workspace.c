/*
 * Tests of solve/workspace.c and solve/workspace_cmd.c as far as the test configuration goes:
 * globs, the checks of settings from outside, C test files found by glob with their headers
 * inlined, Python test files found by glob, and the configured command run in the sandbox over
 * a copy of the workspace (skipped where the host has no sandbox).
 */
#include "tests/solve/tests.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/sbx.h"
#include "solve/solve.h"

START_TEST(workspace__glob_match)
{
    static const struct {
        const char *glob;
        const char *path;
        bool match;
    } cases[] = {
        {"tests/*.c", "tests/test_add.c", true},
        {"tests/*.c", "tests/sub/test_add.c", false},
        {"tests/*.c", "test_add.c", false},
        {"tests/**/*.c", "tests/test_add.c", true},
        {"tests/**/*.c", "tests/a/b/test_add.c", true},
        {"**/test_*.c", "test_x.c", true},
        {"**/test_*.c", "a/b/test_x.c", true},
        {"**/test_*.c", "a/b/x_test.c", false},
        {"**", "anything/at/all", true},
        {"t?st.c", "test.c", true},
        {"t?st.c", "t/st.c", false},
        {"test_[a-c].c", "test_b.c", true},
        {"test_[!a-c].c", "test_b.c", false},
        {"test_[!a-c].c", "test_d.c", true},
        {"test_[ab", "test_[ab", true},
        {"a\\*b", "a*b", true},
        {"a\\*b", "axb", false},
        {"*.c", ".c", true},
        {"", "", true},
        {"x", "", false},
        {"a*b*c*d*e*f*g*h*i*j*k*l*m*n",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(solve_glob_match(cases[i].glob, cases[i].path) == cases[i].match,
                      "glob '%s' path '%s': expected %d", cases[i].glob, cases[i].path,
                      (int)cases[i].match);
    }
}
END_TEST

START_TEST(workspace__setting_checks)
{
    const char *why = NULL;
    ck_assert(solve_test_glob_check("tests/**/*.c", &why));
    ck_assert_ptr_null(why);
    ck_assert(!solve_test_glob_check("", &why));
    ck_assert_str_eq(why, "is empty");
    ck_assert(!solve_test_glob_check("/etc/*.c", &why));
    ck_assert_str_eq(why, "must be relative to the workspace folder");
    ck_assert(!solve_test_glob_check("tests/../../x.c", &why));
    ck_assert_ptr_nonnull(strstr(why, ".."));
    ck_assert(solve_test_glob_check("tests/..x/a.c", &why)); /* "..x" is a name */
    char long_glob[SOLVE_TEST_GLOB_MAX + 2];
    memset(long_glob, 'a', sizeof(long_glob) - 1);
    long_glob[sizeof(long_glob) - 1] = '\0';
    ck_assert(!solve_test_glob_check(long_glob, &why));
    ck_assert(solve_test_command_check("python3 -m pytest -q {tests}", &why));
    ck_assert(!solve_test_command_check(" \t\n", &why));
    ck_assert_str_eq(why, "is blank");
}
END_TEST

/* A workspace in a temporary folder. */
typedef struct tmp_ws {
    char dir[64];
    char self[128]; /* the document under test: calc.c in dir (ws_options) */
} tmp_ws;

static void put(const tmp_ws *w, const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", w->dir, rel);
    for (char *p = path + strlen(w->dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void tmp_ws_open(tmp_ws *w)
{
    snprintf(w->dir, sizeof(w->dir), "/tmp/kiln-wscfg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(w->dir));
}

/* Removes path and what is under it. */
static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    const struct dirent *e = NULL;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            rm_tree(sub);
        }
    }
    if (d) {
        closedir(d);
        ck_assert_int_eq(rmdir(path), 0);
    } else {
        ck_assert_int_eq(unlink(path), 0);
    }
}

static void tmp_ws_close(const tmp_ws *w)
{
    rm_tree(w->dir);
}

/* Context options rooted at the workspace, with calc.c as the document under test. */
static solve_context_options ws_options(tmp_ws *w)
{
    snprintf(w->self, sizeof(w->self), "%s/calc.c", w->dir);
    solve_context_options o = solve_context_options_default();
    o.root = w->dir;
    o.dir = w->dir;
    o.self = w->self;
    return o;
}

static const char calc_h[] = "#ifndef CALC_H\n#define CALC_H\nint add(int a, int b);\n#endif\n";
static const char calc_c[] =
    "#include \"calc.h\"\n\nint add(int a, int b)\n{\n    return a + b;\n}\n";
static const char test_calc_c[] = "#include <stdio.h>\n"
                                  "#include \"../calc.h\"\n"
                                  "#include \"../calc.c\"\n"
                                  "#include \"missing.h\"\n"
                                  "\n"
                                  "int main(void)\n"
                                  "{\n"
                                  "    return add(2, 3) == 5 ? 0 : 1;\n"
                                  "}\n";

START_TEST(workspace__c_test_files_from_globs)
{
    tmp_ws w = {{0}, {0}};
    tmp_ws_open(&w);
    put(&w, "calc.h", calc_h);
    put(&w, "calc.c", calc_c);
    put(&w, "tests/test_calc.c", test_calc_c);
    put(&w, "tests/test_zz.c", "int add(int a, int b);\nint main(void) { return add(0, 0); }\n");
    put(&w, "tests/test_other.c", "int main(void) { return 0; }\n");
    solve_context_options o = ws_options(&w);
    core_buf out = {0};
    size_t n = 0;
    core_err err = {0};
    /* Without globs C has no test files. */
    ck_assert_int_eq(solve_workspace_tests(&out, &n, SOLVE_LANG_C, core_str_c("add"), &o, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(out.len, 0);
    const char *globs[] = {"tests/*.c"};
    o.tests[SOLVE_LANG_C].files = globs;
    o.tests[SOLVE_LANG_C].n_files = 1;
    ck_assert_int_eq(solve_workspace_tests(&out, &n, SOLVE_LANG_C, core_str_c("add"), &o, &err), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_nonnull(out.ptr);
    /* The first file by path that mentions add, its header inlined once, the document under
       test left to the candidate, an include that resolves nowhere kept. */
    ck_assert_ptr_nonnull(strstr(out.ptr, "tests/test_calc.c */\n#include <stdio.h>\n"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "int add(int a, int b);\n#endif\n"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "the document under test"));
    ck_assert_ptr_null(strstr(out.ptr, "return a + b"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "#include \"missing.h\"\n"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "return add(2, 3) == 5 ? 0 : 1;"));
    ck_assert_ptr_null(strstr(out.ptr, "test_zz"));
    core_buf_dispose(&out);
    /* A glob that matches nothing, a function no test mentions. */
    const char *none[] = {"spec/**/*.c"};
    o.tests[SOLVE_LANG_C].files = none;
    ck_assert_int_eq(solve_workspace_tests(&out, &n, SOLVE_LANG_C, core_str_c("add"), &o, &err), 0);
    ck_assert_uint_eq(n, 0);
    o.tests[SOLVE_LANG_C].files = globs;
    ck_assert_int_eq(solve_workspace_tests(&out, &n, SOLVE_LANG_C, core_str_c("sub"), &o, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(out.len, 0);
    tmp_ws_close(&w);
}
END_TEST

START_TEST(workspace__c_document_headers_inlined)
{
    tmp_ws w = {{0}, {0}};
    tmp_ws_open(&w);
    put(&w, "calc.h", calc_h);
    put(&w, "inc/util.h", "#include \"../calc.h\"\nint twice(int x);\n");
    solve_context_options o = ws_options(&w);
    core_buf out = {0};
    size_t n = 0;
    core_err err = {0};
    const char *doc = "#include <stdio.h>\n#include \"inc/util.h\"\n#include \"calc.h\"\n"
                      "#include \"calc.c\"\n#include \"nowhere.h\"\nint add(int a, int b);\n";
    ck_assert_int_eq(solve_c_includes_inline(&out, &n, core_str_c(doc), &o, &err), 0);
    ck_assert_uint_eq(n, 2); /* util.h, and calc.h through it (once) */
    ck_assert_ptr_nonnull(out.ptr);
    ck_assert_ptr_nonnull(strstr(out.ptr, "#include <stdio.h>\n"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "int add(int a, int b);\n#endif\nint twice(int x);\n"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "/* calc.h: above */\n"));
    ck_assert_ptr_null(strstr(out.ptr, "#include \"inc/util.h\""));
    ck_assert_ptr_nonnull(strstr(out.ptr, "#include \"nowhere.h\"\n"));
    core_buf_dispose(&out);
    tmp_ws_close(&w);
}
END_TEST

START_TEST(workspace__python_test_files_from_globs)
{
    tmp_ws w = {{0}, {0}};
    tmp_ws_open(&w);
    put(&w, "calc.py", "def add(a, b):\n    return a + b\n");
    put(&w, "checks/check_calc.py",
        "from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n");
    put(&w, "tests/test_calc.py",
        "from calc import add\n\ndef test_zero():\n    assert add(0, 0) == 0\n");
    solve_context_options o = solve_context_options_default();
    o.root = w.dir;
    core_buf out = {0};
    size_t n = 0;
    core_err err = {0};
    ck_assert_int_eq(
        solve_workspace_tests(&out, &n, SOLVE_LANG_PYTHON, core_str_c("add"), &o, &err), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_nonnull(strstr(out.ptr, "test_zero"));
    core_buf_dispose(&out);
    /* Configured globs replace pytest's names. */
    const char *globs[] = {"checks/check_*.py"};
    o.tests[SOLVE_LANG_PYTHON].files = globs;
    o.tests[SOLVE_LANG_PYTHON].n_files = 1;
    ck_assert_int_eq(
        solve_workspace_tests(&out, &n, SOLVE_LANG_PYTHON, core_str_c("add"), &o, &err), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_nonnull(strstr(out.ptr, "def test_add():"));
    ck_assert_ptr_null(strstr(out.ptr, "test_zero"));
    core_buf_dispose(&out);
    tmp_ws_close(&w);
}
END_TEST

/* The configured command runs in the sandbox over a copy of the workspace with the document's
   given text: {file}, {tests} and {name} expand, exit 0 passes, pytest's summary counts. */
START_TEST(workspace__command_in_a_sandboxed_copy)
{
    sbx_tree *tree = NULL;
    core_err err = {0};
    if (sbx_tree_new(&tree, NULL, &err) < 0) {
        fprintf(stderr, "test_solve: no sandbox (%s): test command skipped\n", err.msg);
        return;
    }
    tmp_ws w = {{0}, {0}};
    tmp_ws_open(&w);
    put(&w, "calc.h", calc_h);
    put(&w, "calc.c", "#include \"calc.h\"\n\nint add(int a, int b)\n{\n}\n"); /* the stub */
    put(&w, "tests/test_calc.c",
        "#include \"../calc.h\"\nint main(void) { return add(2, 3) == 5 ? 0 : 1; }\n");
    const char *globs[] = {"tests/*.c"};
    solve_context_options o = ws_options(&w);
    o.tree = tree;
    o.tests[SOLVE_LANG_C].files = globs;
    o.tests[SOLVE_LANG_C].n_files = 1;
    o.tests[SOLVE_LANG_C].command = "gcc -o /tmp/t {file} {tests} && /tmp/t && echo {name} ok";
    solve_complete_verdict v;
    ck_assert_int_eq(solve_workspace_command(&v, SOLVE_LANG_C, core_str_c(calc_c),
                                             core_str_c("add"), &o, NULL, NULL, &err),
                     0);
    ck_assert(v.tested);
    ck_assert(v.command);
    ck_assert_str_eq(v.entry, "add");
    ck_assert_uint_eq(v.n_workspace_tests, 1);
    ck_assert_int_eq(v.verdict, SBX_VERDICT_PASSED);
    ck_assert_uint_eq(v.n_tests_run, 1);
    ck_assert_uint_eq(v.n_tests_passed, 1);
    /* A wrong body fails, with the output's tail as the message. */
    o.tests[SOLVE_LANG_C].command = "gcc -o /tmp/t {file} {tests} && /tmp/t || { echo wrong; "
                                    "exit 3; }";
    const char *wrong = "#include \"calc.h\"\n\nint add(int a, int b)\n{\n    return a - b;\n}\n";
    ck_assert_int_eq(solve_workspace_command(&v, SOLVE_LANG_C, core_str_c(wrong), core_str_c("add"),
                                             &o, NULL, NULL, &err),
                     0);
    ck_assert(v.tested);
    ck_assert_int_eq(v.verdict, SBX_VERDICT_FAILED);
    ck_assert_uint_eq(v.n_tests_passed, 0);
    ck_assert_str_eq(v.message, "wrong");
    /* {tests} with no test file that mentions the function: nothing runs. */
    ck_assert_int_eq(solve_workspace_command(&v, SOLVE_LANG_C, core_str_c(wrong), core_str_c("sub"),
                                             &o, NULL, NULL, &err),
                     0);
    ck_assert(!v.tested);
    /* Python with pytest (Debian's python3-pytest, which scripts/setup.sh installs): the
       summary line gives the counts. */
    put(&w, "calc.py", "def add(a, b):\n    pass\n");
    put(&w, "tests/test_calc.py",
        "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n\n"
        "def test_zero():\n    assert add(0, 0) == 0\n");
    snprintf(w.self, sizeof(w.self), "%s/calc.py", w.dir);
    o.tests[SOLVE_LANG_PYTHON].command = "python3 -m pytest -q -p no:cacheprovider {tests}";
    ck_assert_int_eq(solve_workspace_command(&v, SOLVE_LANG_PYTHON,
                                             core_str_c("def add(a, b):\n    return a * b\n"),
                                             core_str_c("add"), &o, NULL, NULL, &err),
                     0);
    ck_assert(v.tested);
    ck_assert_int_eq(v.verdict, SBX_VERDICT_FAILED);
    ck_assert_uint_eq(v.n_tests_run, 2);
    ck_assert_uint_eq(v.n_tests_passed, 1);
    ck_assert_int_eq(solve_workspace_command(&v, SOLVE_LANG_PYTHON,
                                             core_str_c("def add(a, b):\n    return a + b\n"),
                                             core_str_c("add"), &o, NULL, NULL, &err),
                     0);
    ck_assert_int_eq(v.verdict, SBX_VERDICT_PASSED);
    ck_assert_uint_eq(v.n_tests_run, 2);
    ck_assert_uint_eq(v.n_tests_passed, 2);
    /* Without a tree nothing runs. */
    o.tree = NULL;
    ck_assert_int_eq(solve_workspace_command(&v, SOLVE_LANG_PYTHON,
                                             core_str_c("def add(a, b):\n    return a + b\n"),
                                             core_str_c("add"), &o, NULL, NULL, &err),
                     0);
    ck_assert(!v.tested);
    tmp_ws_close(&w);
    sbx_tree_free(tree);
}
END_TEST

TCase *tcase_workspace(void)
{
    TCase *tc = tcase_create("workspace");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, workspace__glob_match);
    tcase_add_test(tc, workspace__setting_checks);
    tcase_add_test(tc, workspace__c_test_files_from_globs);
    tcase_add_test(tc, workspace__c_document_headers_inlined);
    tcase_add_test(tc, workspace__python_test_files_from_globs);
    tcase_add_test(tc, workspace__command_in_a_sandboxed_copy);
    return tc;
}
