/* Tests of patch/output.c: the diff applies with Debian's git apply and patch, the patched tree
 * passes its tests outside the sandbox, the email patch goes through git am, the commit lands on
 * a new branch whose tree is HEAD plus the diff while HEAD, index and files stay as they were,
 * and the reports carry the verdicts. */
#include "tests/patch/tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQUARE_OK "def square(x):\n    return x * x\n"
#define CUBE_OK   "def cube(x):\n    return x * x * x\n"
#define AREA      "def area(self):\n    return 0\n"

static void write_buf(const char *path, const core_buf *b)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b->ptr, 1, b->len, f), b->len);
    fclose(f);
}

START_TEST(output__diff_mbox_commit_report)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "out");
    fx_python_project(dir);
    char *state0 = fx_state(dir);
    fx_gen gen = {
        .pairs = (const char *const[]){"square", SQUARE_OK, "cube", CUBE_OK, "area", AREA, NULL}};
    patch_options o = patch_options_default();
    patch_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(fx_patch(&r, dir, NULL, &o, &gen, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r->n_verified, 2);
    patch_repo *repo = NULL;
    ck_assert_int_eq(patch_repo_open(&repo, dir, NULL, &err), 0);

    /* the diff: verified targets only, one section for the file */
    core_buf diff = {0};
    ck_assert_int_eq(patch_result_diff(&diff, repo, r, false, &err), 0);
    ck_assert_ptr_nonnull(strstr(diff.ptr, "diff --git a/calc/ops.py b/calc/ops.py\n"));
    ck_assert_ptr_nonnull(strstr(diff.ptr, "-    pass\n+    return x * x\n"));
    ck_assert_ptr_nonnull(strstr(diff.ptr, "+    return x * x * x\n"));
    ck_assert_ptr_null(strstr(diff.ptr, "return 0")); /* area is not verified */
    char diff_path[600];
    snprintf(diff_path, sizeof diff_path, "%s.diff", dir);
    write_buf(diff_path, &diff);
    ck_assert_int_eq(fx_sh("cd '%s' && git apply --check '%s'", dir, diff_path), 0);
    ck_assert_int_eq(fx_sh("cd '%s' && patch --dry-run -s -p1 < '%s' >/dev/null", dir, diff_path),
                     0);
    core_buf all = {0};
    ck_assert_int_eq(patch_result_diff(&all, repo, r, true, &err), 0);
    ck_assert_ptr_nonnull(strstr(all.ptr, "+        return 0\n")); /* re-indented for the method */

    /* the patched tree passes its tests outside the sandbox */
    char clone[600];
    snprintf(clone, sizeof clone, "%s-clone", dir);
    ck_assert_int_eq(fx_sh("rm -rf '%s' && git clone -q '%s' '%s' && cd '%s' && git apply '%s' && "
                           "/usr/bin/python3 -m pytest -q -p no:cacheprovider tests >/dev/null",
                           clone, dir, clone, clone, diff_path),
                     0);

    /* mbox through git am */
    core_buf mbox = {0};
    patch_commit_info info = {.author_name = "Patch Bot", .author_email = "bot@example.com"};
    ck_assert_int_eq(patch_result_mbox(&mbox, repo, r, &info, &err), 0);
    ck_assert_ptr_nonnull(strstr(mbox.ptr, "From: Patch Bot <bot@example.com>"));
    ck_assert_ptr_nonnull(strstr(mbox.ptr, "Subject: [PATCH] Implement 2 stubs"));
    char mbox_path[600];
    snprintf(mbox_path, sizeof mbox_path, "%s.mbox", dir);
    write_buf(mbox_path, &mbox);
    ck_assert_int_eq(fx_sh("cd '%s' && git checkout -q -f -B am origin/HEAD && "
                           "git -c user.name=t -c user.email=t@t am -q '%s' && "
                           "git log -1 --format=%%an | grep -qx 'Patch Bot'",
                           clone, mbox_path),
                     0);

    /* a commit on a new branch: its tree is HEAD + the diff */
    char hex[41];
    ck_assert_int_eq(patch_result_commit(hex, repo, r, "kiln/stubs", &info, &err), 0);
    ck_assert_uint_eq(strlen(hex), 40);
    ck_assert_int_eq(patch_result_commit(hex, repo, r, "kiln/stubs", &info, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "exists"));
    ck_assert_int_eq(patch_result_commit(hex, repo, r, "bad..name", &info, &err), CORE_EINVAL);
    ck_assert_int_eq(fx_sh("cd '%s' && git fetch -q origin kiln/stubs && git checkout -q -f -B x "
                           "origin/HEAD && git apply '%s' && git diff --quiet FETCH_HEAD && "
                           "git log -1 --format=%%B FETCH_HEAD | grep -q test_square",
                           clone, diff_path),
                     0);
    /* HEAD, index and files as they were (once the new branch is set aside) */
    ck_assert_int_eq(fx_sh("cd '%s' && git update-ref -d refs/heads/kiln/stubs", dir), 0);
    char *state1 = fx_state(dir);
    ck_assert_str_eq(state0, state1);

    /* reports */
    core_buf md = {0}, js = {0};
    ck_assert_int_eq(patch_result_report(&md, r, false, &err), 0);
    ck_assert_ptr_nonnull(
        strstr(md.ptr, "| `calc/ops.py:square` (line 9) | pass | **verified** |"));
    ck_assert_ptr_nonnull(strstr(md.ptr, "tests/test_ops.py::test_square"));
    ck_assert_int_eq(patch_result_report(&js, r, true, &err), 0);
    char js_path[600];
    snprintf(js_path, sizeof js_path, "%s.json", dir);
    write_buf(js_path, &js);
    ck_assert_int_eq(fx_sh("/usr/bin/python3 -c \"import json,sys; d=json.load(open(sys.argv[1])); "
                           "t={x['name']: x for x in d['targets']}; "
                           "assert d['n_verified'] == 2; "
                           "assert t['square']['verdict'] == 'verified'; "
                           "assert t['square']['before']['failed'] == 2; "
                           "assert t['Shape.area']['verdict'] == 'no_tests'\" '%s'",
                           js_path),
                     0);
    core_buf_dispose(&md);
    core_buf_dispose(&js);
    core_buf_dispose(&mbox);
    core_buf_dispose(&all);
    core_buf_dispose(&diff);
    free(state0);
    free(state1);
    patch_repo_free(repo);
    patch_result_free(r);
}
END_TEST

START_TEST(output__docstring_only_stub)
{
    /* a docstring-only stub's splice is empty (it ends where it starts): applied once */
    char dir[FX_PATH_MAX];
    fx_dir(dir, "docstub");
    fx_python_project(dir);
    fx_gen gen = {.pairs =
                      (const char *const[]){"negate", "def negate(x):\n    return -x\n", NULL}};
    const char *fns[] = {"calc/ops.py:negate"};
    patch_options o = patch_options_default();
    o.functions = fns;
    o.n_functions = 1;
    patch_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(fx_patch(&r, dir, "feature", &o, &gen, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r->targets[0].verdict, PATCH_VERDICT_VERIFIED);
    ck_assert_uint_eq(r->targets[0].splice_start, r->targets[0].splice_end);
    patch_repo *repo = NULL;
    ck_assert_int_eq(patch_repo_open(&repo, dir, "feature", &err), 0);
    core_buf diff = {0};
    ck_assert_int_eq(patch_result_diff(&diff, repo, r, false, &err), 0);
    ck_assert_ptr_nonnull(strstr(diff.ptr, "     \"\"\"Return -x.\"\"\"\n+    return -x\n"));
    char path[FX_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.diff", dir);
    write_buf(path, &diff);
    ck_assert_int_eq(
        fx_sh("cd '%s' && git checkout -q feature && git apply --check '%s'", dir, path), 0);
    core_buf_dispose(&diff);
    patch_repo_free(repo);
    patch_result_free(r);
}
END_TEST

TCase *tcase_output(void)
{
    TCase *tc = tcase_create("output");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, output__diff_mbox_commit_report);
    tcase_add_test(tc, output__docstring_only_stub);
    return tc;
}
