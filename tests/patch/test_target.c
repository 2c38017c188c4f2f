/* Tests of patch/target.c: which functions become targets (stubs, named ones, those changed
 * since a base), what each task says (imports, helpers, signature, docstring, the tests' asserts)
 * and how a candidate's body replaces the stub's. Runs without the sandbox (no tree runner). */
#include "tests/patch/tests.h"

#include <stdlib.h>
#include <string.h>

static patch_result *targets(const char *dir, const char *rev, patch_options *o, fx_gen *gen,
                             int want_rc)
{
    patch_repo *repo = NULL;
    core_err err = {0};
    ck_assert_msg(patch_repo_open(&repo, dir, rev, &err) == 0, "%s", err.msg);
    o->generator = (patch_generator){fx_gen_fn, gen};
    patch_result *r = NULL;
    int rc = patch_run(&r, repo, NULL, o, &err);
    ck_assert_msg(rc == want_rc, "rc %d: %s", rc, err.msg);
    patch_repo_free(repo);
    return r;
}

START_TEST(target__stubs_functions_and_base)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "targets");
    fx_python_project(dir);
    fx_gen gen = {.pairs = (const char *const[]){NULL}};
    patch_options o = patch_options_default();
    patch_result *r = targets(dir, NULL, &o, &gen, 0);
    ck_assert_uint_eq(r->n_targets, 3);
    ck_assert_str_eq(r->targets[0].name, "square");
    ck_assert_str_eq(r->targets[0].stub, "pass");
    ck_assert_str_eq(r->targets[0].tests, "tests/test_ops.py\n");
    ck_assert_str_eq(r->targets[1].name, "cube");
    ck_assert_str_eq(r->targets[1].stub, "ellipsis");
    ck_assert_str_eq(r->targets[2].name, "Shape.area");
    ck_assert_str_eq(r->targets[2].stub, "raise");
    ck_assert_str_eq(r->targets[2].tests, ""); /* no test mentions area */
    ck_assert_uint_eq(gen.n_calls, 3);
    patch_result_free(r);
    /* with a base, only what changed since: cube since v1; negate on the branch */
    o.base = "v1";
    r = targets(dir, NULL, &o, &gen, 0);
    ck_assert_uint_eq(r->n_targets, 1);
    ck_assert_str_eq(r->targets[0].name, "cube");
    patch_result_free(r);
    o.base = "HEAD";
    r = targets(dir, "feature", &o, &gen, 0);
    ck_assert_uint_eq(r->n_targets, 1);
    ck_assert_str_eq(r->targets[0].name, "negate");
    ck_assert_str_eq(r->targets[0].stub, "docstring");
    patch_result_free(r);
    o.base = "nosuch";
    targets(dir, NULL, &o, &gen, CORE_ENOTFOUND);
    /* named functions, stubs or not; unknown ones are a named error */
    o.base = NULL;
    const char *fns[] = {"calc/ops.py:add", "calc/ops.py:Shape.area"};
    o.functions = fns;
    o.n_functions = 2;
    r = targets(dir, NULL, &o, &gen, 0);
    ck_assert_uint_eq(r->n_targets, 2);
    ck_assert_str_eq(r->targets[0].name, "add");
    ck_assert_str_eq(r->targets[0].stub, "none");
    patch_result_free(r);
    const char *bad[] = {"calc/ops.py:nosuch"};
    o.functions = bad;
    o.n_functions = 1;
    targets(dir, NULL, &o, &gen, CORE_ENOTFOUND);
}
END_TEST

static int capture(void *payload, solve_result **out, const solve_task *task, core_err *err)
{
    fx_gen *g = payload;
    char **seen = (char **)g->pairs; /* [prompt, tests] slots of the test below */
    if (core_str_eq_c(task->entry, "square")) {
        seen[0] = strndup(task->prompt.ptr, task->prompt.len);
        seen[1] = strndup(task->visible_tests.ptr, task->visible_tests.len);
    }
    fx_gen none = {.pairs = (const char *const[]){NULL}};
    return fx_gen_fn(&none, out, task, err);
}

START_TEST(target__task_has_context)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "context");
    fx_python_project(dir);
    char *seen[2] = {NULL, NULL};
    fx_gen gen = {.pairs = (const char *const *)seen};
    patch_repo *repo = NULL;
    ck_assert_int_eq(patch_repo_open(&repo, dir, NULL, NULL), 0);
    patch_options o = patch_options_default();
    o.generator = (patch_generator){capture, &gen};
    patch_result *r = NULL;
    ck_assert_int_eq(patch_run(&r, repo, NULL, &o, NULL), 0);
    ck_assert_ptr_nonnull(seen[0]);
    ck_assert_ptr_nonnull(strstr(seen[0], "import math\n"));
    ck_assert_ptr_nonnull(strstr(seen[0], "def square(x):\n    \"\"\"Return x times x."));
    ck_assert_ptr_null(strstr(seen[0], "pass")); /* the stub's body is not shown */
    ck_assert_str_eq(seen[1], "assert square(3) == 9\nassert square(-2) == 4\n");
    free(seen[0]);
    free(seen[1]);
    patch_result_free(r);
    patch_repo_free(repo);
}
END_TEST

START_TEST(target__c_project)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "ctargets");
    fx_c_project(dir);
    fx_gen gen = {.pairs = (const char *const[]){NULL}};
    patch_options o = patch_options_default();
    patch_result *r = targets(dir, NULL, &o, &gen, 0);
    ck_assert_uint_eq(r->n_targets, 1);
    ck_assert_str_eq(r->targets[0].name, "max2");
    ck_assert_str_eq(r->targets[0].lang, "c");
    ck_assert_str_eq(r->targets[0].stub, "todo");
    ck_assert_str_eq(r->targets[0].command, "make -s test");
    ck_assert_str_eq(r->targets[0].prompt, "#include \"mathx.h\"\n\n"
                                           "/* Returns the larger of a and b. */\n"
                                           "int max2(int a, int b);\n");
    patch_result_free(r);
}
END_TEST

TCase *tcase_target(void)
{
    TCase *tc = tcase_create("target");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, target__stubs_functions_and_base);
    tcase_add_test(tc, target__task_has_context);
    tcase_add_test(tc, target__c_project);
    return tc;
}
