/*
 * Tests of solve/context.c: the imports read from Python and C documents, and on the default
 * model's completer the context built from a workspace in a temporary folder: the definitions
 * the document names first, bodies left out, the token budget kept, an open document's text
 * preferred to the disk's, the document's own definitions and private names left out.
 */
#include "tests/solve/tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/sbx.h"
#include "solve/solve.h"

#define MODEL_PATH KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(context__python_imports)
{
    static const char doc[] = "import os, pkg.util as u\n"
                              "from .sib import a, b as c\n"
                              "from ..up.mod import (x,\n"
                              "    y)  # more\n"
                              "from m import *\n"
                              "    import late\n"
                              "importer = 1\n"
                              "from . import nothing\n";
    solve_import im[8];
    size_t n = solve_context_imports(im, 8, SOLVE_LANG_PYTHON, core_str_c(doc));
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(im[0].path, "os");
    ck_assert_str_eq(im[0].alias, "os");
    ck_assert_str_eq(im[1].path, "pkg/util");
    ck_assert_str_eq(im[1].alias, "u");
    ck_assert_str_eq(im[2].path, "sib");
    ck_assert(im[2].relative);
    ck_assert_uint_eq(im[2].n_names, 2);
    ck_assert_str_eq(im[2].names[0], "a");
    ck_assert_str_eq(im[2].names[1], "b");
    ck_assert_str_eq(im[3].path, "../up/mod");
    ck_assert_uint_eq(im[3].n_names, 2);
    ck_assert_str_eq(im[3].names[1], "y");
    ck_assert_str_eq(im[4].path, "late");
    /* n_max bounds what is written. */
    ck_assert_uint_eq(solve_context_imports(im, 1, SOLVE_LANG_PYTHON, core_str_c(doc)), 1);
}
END_TEST

START_TEST(context__c_includes)
{
    static const char doc[] = "#include <stdio.h>\n"
                              "# include \"util.h\"\n"
                              "#include \"unterminated.h\n"
                              "#include \"\"\n"
                              "int main(void) { return 0; }\n";
    solve_import im[4];
    size_t n = solve_context_imports(im, 4, SOLVE_LANG_C, core_str_c(doc));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(im[0].path, "util.h");
}
END_TEST

/* Bytes that are no import at all read as none, without reading past the text. */
START_TEST(context__garbage_imports)
{
    static const char junk[] = "from\nimport\nfrom x\nfrom x import\nimport ,\n#include\n"
                               "from y import (a as  ";
    solve_import im[4];
    for (size_t len = 0; len <= sizeof(junk) - 1; len++) {
        char *copy = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, junk, len);
        (void)solve_context_imports(im, 4, SOLVE_LANG_PYTHON, (core_str){copy, len});
        (void)solve_context_imports(im, 4, SOLVE_LANG_C, (core_str){copy, len});
        free(copy);
    }
    /* Only the last line is an import (cut short after its alias's 'as'). */
    ck_assert_uint_eq(solve_context_imports(im, 4, SOLVE_LANG_PYTHON, core_str_c(junk)), 1);
    ck_assert_str_eq(im[0].path, "y");
    ck_assert_uint_eq(im[0].n_names, 1);
    ck_assert_str_eq(im[0].names[0], "a");
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* On the model's completer                                                                   */
/* ------------------------------------------------------------------------------------------ */

static const char geometry[] = "import math\n"
                               "\n"
                               "def rect_area(width, height):\n"
                               "    \"\"\"Area of a rectangle.\"\"\"\n"
                               "    return width * height\n"
                               "\n"
                               "def circle_area(radius):\n"
                               "    return math.pi * radius ** 2\n"
                               "\n"
                               "class Box:\n"
                               "    def __init__(self, width, depth):\n"
                               "        self.width = width\n"
                               "\n"
                               "def _hidden(x):\n"
                               "    return x\n";

typedef struct ws {
    char dir[64];
    gen_model *model;
    solve_completer *completer;
} ws;

static void ws_open(ws *w)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->dir, sizeof(w->dir), "/tmp/kiln-context-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(w->dir));
    write_file(w->dir, "geometry.py", geometry);
    gen_model_options mo = gen_model_options_default();
    mo.vocab_only = true;
    core_err err = {0};
    ck_assert_msg(gen_model_load(&w->model, MODEL_PATH, &mo, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(solve_completer_new(&w->completer, w->model, &err), 0);
}

static void ws_close(ws *w)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/geometry.py", w->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/util.h", w->dir);
    unlink(path);
    rmdir(w->dir);
    solve_completer_free(w->completer);
    gen_model_free(w->model);
}

static char *build(ws *w, solve_lang lang, const char *doc, const solve_context_options *o,
                   size_t *n_tokens)
{
    core_buf out = {0};
    core_err err = {0};
    ck_assert_msg(
        solve_context_build(&out, n_tokens, w->completer, lang, core_str_c(doc), o, &err) == 0,
        "%s", err.msg);
    char *text = core_strndup(out.ptr ? out.ptr : "", out.len);
    core_buf_dispose(&out);
    ck_assert_ptr_nonnull(text);
    return text;
}

START_TEST(context__named_definitions_without_bodies)
{
    ws w;
    ws_open(&w);
    solve_context_options o = solve_context_options_default();
    o.dir = w.dir;
    size_t n = 0;
    char *text = build(&w, SOLVE_LANG_PYTHON, "from geometry import rect_area, Box\n", &o, &n);
    ck_assert_ptr_nonnull(strstr(text, "# file: geometry.py\n"));
    ck_assert_ptr_nonnull(strstr(text, "def rect_area(width, height):\n"
                                       "    \"\"\"Area of a rectangle.\"\"\"\n    ...\n"));
    ck_assert_ptr_nonnull(strstr(text, "class Box:\n    def __init__(self, width, depth):\n"));
    ck_assert_ptr_null(strstr(text, "circle_area")); /* not imported */
    ck_assert_ptr_null(strstr(text, "return width"));
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_le(n, o.n_tokens_max);
    core_free(text);

    /* A whole-module import: its public functions, what the document uses first. */
    text = build(&w, SOLVE_LANG_PYTHON, "import geometry as g\nprint(g.circle_area(1))\n", &o, &n);
    ck_assert_ptr_nonnull(strstr(text, "def circle_area(radius):"));
    ck_assert_ptr_nonnull(strstr(text, "def rect_area("));
    ck_assert_ptr_null(strstr(text, "_hidden"));
    core_free(text);

    /* A budget that holds one definition keeps the used one. */
    o.n_tokens_max = 24;
    text = build(&w, SOLVE_LANG_PYTHON, "import geometry as g\nprint(g.circle_area(1))\n", &o, &n);
    ck_assert_ptr_nonnull(strstr(text, "def circle_area(radius):"));
    ck_assert_ptr_null(strstr(text, "def rect_area("));
    ck_assert_uint_le(n, 24);
    core_free(text);

    /* No budget, no context; an import that resolves nowhere adds nothing. */
    o.n_tokens_max = 0;
    text = build(&w, SOLVE_LANG_PYTHON, "from geometry import rect_area\n", &o, &n);
    ck_assert_str_eq(text, "");
    core_free(text);
    o.n_tokens_max = 384;
    text = build(&w, SOLVE_LANG_PYTHON, "from nowhere import rect_area\n", &o, &n);
    ck_assert_str_eq(text, "");
    ck_assert_uint_eq(n, 0);
    core_free(text);
    ws_close(&w);
}
END_TEST

START_TEST(context__open_documents_win_over_the_disk)
{
    ws w;
    ws_open(&w);
    char path[256];
    char other[256];
    snprintf(path, sizeof(path), "%s/./geometry.py", w.dir);
    snprintf(other, sizeof(other), "%s/helpers.py", w.dir);
    solve_context_file files[2] = {
        {path, core_str_c("def rect_area(w, h, unsaved):\n    pass\n")},
        {other, core_str_c("def helper(a):\n    \"\"\"Helps.\"\"\"\n    return a\n"
                           "def unused(b):\n    return b\n")},
    };
    solve_context_options o = solve_context_options_default();
    o.dir = w.dir;
    o.files = files;
    o.n_files = 2;
    size_t n = 0;
    char *text =
        build(&w, SOLVE_LANG_PYTHON,
              "from geometry import rect_area\n\ndef f(x):\n    return helper(x)\n", &o, &n);
    ck_assert_ptr_nonnull(strstr(text, "def rect_area(w, h, unsaved):"));
    ck_assert_ptr_nonnull(strstr(text, "# file: helpers.py\ndef helper(a):"));
    ck_assert_ptr_null(strstr(text, "unused"));
    core_free(text);

    /* The document itself is never its own context. */
    o.self = other;
    text = build(&w, SOLVE_LANG_PYTHON, "def helper(a):\n    return helper(a)\n", &o, &n);
    ck_assert_ptr_null(strstr(text, "helpers.py"));
    core_free(text);
    ws_close(&w);
}
END_TEST

START_TEST(context__c_headers_as_they_are)
{
    ws w;
    ws_open(&w);
    write_file(w.dir, "util.h", "/* Sums n ints. */\nint sum(const int *xs, int n);\n");
    solve_context_options o = solve_context_options_default();
    o.dir = w.dir;
    o.comment = true;
    size_t n = 0;
    char *text = build(&w, SOLVE_LANG_C,
                       "#include \"util.h\"\nint main(void) { return sum(0, 0); }\n", &o, &n);
    ck_assert_str_eq(text, "// file: util.h\n// /* Sums n ints. */\n"
                           "// int sum(const int *xs, int n);\n\n");
    core_free(text);
    ws_close(&w);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* The workspace's tests                                                                      */
/* ------------------------------------------------------------------------------------------ */

static const char test_file[] = "import os\n"
                                "import pytest\n"
                                "from mathx import add\n"
                                "import mathx as mx\n"
                                "\n"
                                "BASE = 1\n"
                                "\n"
                                "def helper():\n"
                                "    return BASE\n"
                                "\n"
                                "def test_add():\n"
                                "    assert add(BASE, 1) == 2\n"
                                "\n"
                                "def test_module():\n"
                                "    assert mx.add(1, helper()) == 2\n"
                                "\n"
                                "@pytest.mark.parametrize('x', [1])\n"
                                "def test_param(x):\n"
                                "    assert add(x, 0) == x\n"
                                "\n"
                                "def test_fixture(tmp_path):\n"
                                "    assert add(1, 1)\n"
                                "\n"
                                "class TestAdd:\n"
                                "    def test_in_class(self):\n"
                                "        assert add(0, 0) == 0\n"
                                "\n"
                                "def test_other():\n"
                                "    assert os.sep\n";

START_TEST(context__workspace_tests_of_a_function)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/kiln-wstests-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/tests", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    write_file(dir, "mathx.py", "def add(a, b):\n    return a + b\n");
    write_file(sub, "test_mathx.py", test_file);
    write_file(sub, "test_unrelated.py", "def test_x():\n    assert True\n");
    solve_context_options o = solve_context_options_default();
    o.root = dir;
    core_buf out = {0};
    size_t n = 0;
    core_err err = {0};
    ck_assert_int_eq(
        solve_workspace_tests(&out, &n, SOLVE_LANG_PYTHON, core_str_c("add"), &o, &err), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_nonnull(out.ptr);
    ck_assert_ptr_nonnull(strstr(out.ptr, "test_mathx.py\nimport os\n\n\n\n\nBASE = 1\n"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "def test_add():\n    assert add(BASE, 1) == 2\n"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "assert add(1, helper()) == 2")); /* mx. dropped */
    ck_assert_ptr_nonnull(strstr(out.ptr, "def helper():"));
    ck_assert_ptr_null(strstr(out.ptr, "pytest"));
    ck_assert_ptr_null(strstr(out.ptr, "test_param"));
    ck_assert_ptr_null(strstr(out.ptr, "test_fixture"));
    ck_assert_ptr_null(strstr(out.ptr, "TestAdd"));
    ck_assert_ptr_null(strstr(out.ptr, "test_other"));
    ck_assert_ptr_null(strstr(out.ptr, "test_x"));
    core_buf_dispose(&out);

    /* An open test document wins over the disk; C and unknown functions get nothing. */
    char open_path[160];
    snprintf(open_path, sizeof(open_path), "%s/test_mathx.py", sub);
    solve_context_file f = {open_path, core_str_c("def test_open():\n    assert add(2, 2) == 4\n")};
    o.files = &f;
    o.n_files = 1;
    ck_assert_int_eq(
        solve_workspace_tests(&out, &n, SOLVE_LANG_PYTHON, core_str_c("add"), &o, &err), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_nonnull(strstr(out.ptr, "def test_open():"));
    core_buf_dispose(&out);
    ck_assert_int_eq(solve_workspace_tests(&out, &n, SOLVE_LANG_C, core_str_c("add"), &o, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(
        solve_workspace_tests(&out, &n, SOLVE_LANG_PYTHON, core_str_c("nope"), &o, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(out.len, 0);
    char path[192];
    snprintf(path, sizeof(path), "%s/test_mathx.py", sub);
    unlink(path);
    snprintf(path, sizeof(path), "%s/test_unrelated.py", sub);
    unlink(path);
    snprintf(path, sizeof(path), "%s/mathx.py", dir);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}
END_TEST

/* A completed function runs against its docstring's examples and the workspace's tests;
   a wrong completion fails them. Needs the sandbox (skipped where the host has none). */
START_TEST(context__completed_function_is_tested)
{
    sbx_pool_options po = sbx_pool_options_default();
    po.n_slots = 1;
    sbx_pool *pool = NULL;
    core_err err = {0};
    if (sbx_pool_new(&pool, &po, &err) < 0) {
        fprintf(stderr, "test_solve: no sandbox (%s): completion tests skipped\n", err.msg);
        return;
    }
    ws w;
    ws_open(&w);
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/t", w.dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    write_file(sub, "test_geo.py",
               "from geometry import scale\n\n"
               "def test_scale():\n    assert scale(2, 3) == 6\n");
    static const char good[] = "from geometry import rect_area\n\n"
                               "def scale(x, k):\n"
                               "    \"\"\"\n    >>> scale(1, 5)\n    5\n    \"\"\"\n"
                               "    return x * k\n";
    solve_context_options o = solve_context_options_default();
    o.dir = w.dir;
    o.root = w.dir;
    solve_complete_verdict v;
    size_t at = strstr(good, "x * k") - good;
    ck_assert_int_eq(solve_complete_test(&v, pool, w.completer, SOLVE_LANG_PYTHON, core_str_c(good),
                                         at, core_str_c(""), &o, NULL, NULL, &err),
                     0);
    ck_assert_str_eq(v.entry, "scale");
    ck_assert(v.tested);
    ck_assert_uint_eq(v.n_workspace_tests, 1);
    ck_assert_uint_eq(v.n_tests_run, 2);
    ck_assert_int_eq(v.verdict, SBX_VERDICT_PASSED);

    char bad[sizeof(good)];
    memcpy(bad, good, sizeof(good));
    bad[at + 2] = '+';
    ck_assert_int_eq(solve_complete_test(&v, pool, w.completer, SOLVE_LANG_PYTHON, core_str_c(bad),
                                         at, core_str_c(""), &o, NULL, NULL, &err),
                     0);
    ck_assert(v.tested);
    ck_assert_int_eq(v.verdict, SBX_VERDICT_FAILED);
    ck_assert_uint_eq(v.n_tests_passed, 0);

    /* Given tests replace the others; outside any function nothing runs. */
    ck_assert_int_eq(solve_complete_test(&v, pool, w.completer, SOLVE_LANG_PYTHON, core_str_c(good),
                                         at, core_str_c("assert scale(0, 9) == 0\n"), &o, NULL,
                                         NULL, &err),
                     0);
    ck_assert_int_eq(v.source, SOLVE_TESTS_FIELD);
    ck_assert_uint_eq(v.n_tests_run, 1);
    ck_assert_int_eq(v.verdict, SBX_VERDICT_PASSED);
    ck_assert_int_eq(solve_complete_test(&v, pool, w.completer, SOLVE_LANG_PYTHON, core_str_c(good),
                                         3, core_str_c(""), &o, NULL, NULL, &err),
                     0);
    ck_assert(!v.tested);
    ck_assert_str_eq(v.entry, "");
    char path[192];
    snprintf(path, sizeof(path), "%s/test_geo.py", sub);
    unlink(path);
    rmdir(sub);
    ws_close(&w);
    sbx_pool_free(pool);
}
END_TEST

TCase *tcase_context(void)
{
    TCase *tc = tcase_create("context");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, context__python_imports);
    tcase_add_test(tc, context__c_includes);
    tcase_add_test(tc, context__garbage_imports);
    tcase_add_test(tc, context__workspace_tests_of_a_function);
    return tc;
}

TCase *tcase_context_model(void)
{
    TCase *tc = tcase_create("context_model");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, context__named_definitions_without_bodies);
    tcase_add_test(tc, context__open_documents_win_over_the_disk);
    tcase_add_test(tc, context__c_headers_as_they_are);
    tcase_add_test(tc, context__completed_function_is_tested);
    return tc;
}
