/* Tests of patch/repo.c: opening repositories at revisions (work tree, bare, dirty, empty,
 * corrupt, shallow, not one at all), reading the snapshot (huge blobs refused by size before
 * they are read) and the lines changed since a base. */
#include "tests/patch/tests.h"

#include <stdio.h>
#include <string.h>

static int open_rc(const char *dir, const char *rev, core_err *err)
{
    patch_repo *r = NULL;
    int rc = patch_repo_open(&r, dir, rev, err);
    patch_repo_free(r);
    return rc;
}

START_TEST(repo__revisions_and_bad_repositories)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "revs");
    fx_python_project(dir);
    core_err err = {0};
    ck_assert_int_eq(open_rc(dir, NULL, &err), 0);
    ck_assert_int_eq(open_rc(dir, "v1", &err), 0);
    ck_assert_int_eq(open_rc(dir, "feature", &err), 0);
    ck_assert_int_eq(open_rc(dir, "HEAD~1", &err), 0);
    ck_assert_int_eq(open_rc(dir, "nosuchrev", &err), CORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown revision 'nosuchrev'"));
    ck_assert_int_eq(open_rc(dir, "HEAD:calc", &err), CORE_ENOTFOUND); /* a tree */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/calc", dir);
    ck_assert_int_eq(open_rc(sub, NULL, &err), CORE_ENOTFOUND); /* never searched upwards */
    ck_assert_ptr_nonnull(strstr(err.msg, "not a repository"));
    ck_assert_int_eq(open_rc("/nonexistent/kiln", NULL, &err), CORE_ENOTFOUND);
    char empty[FX_PATH_MAX];
    fx_dir(empty, "empty");
    git_repository_free(fx_repo_new(empty, false));
    ck_assert_int_eq(open_rc(empty, NULL, &err), CORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty repository"));
}
END_TEST

START_TEST(repo__object_database_not_work_tree)
{
    /* a dirty checkout and a bare repository read the same as the commit */
    char dir[FX_PATH_MAX];
    fx_dir(dir, "dirty");
    fx_python_project(dir);
    ck_assert_int_eq(fx_sh("echo 'def square(x):\n    return 0\n' > '%s/calc/ops.py'", dir), 0);
    char bare[FX_PATH_MAX];
    fx_dir(bare, "bare");
    git_repository *b = fx_repo_new(bare, true);
    git_oid c;
    fx_file f[] = {{.path = "m.py", .data = "def f():\n    pass\n"}};
    fx_commit(&c, b, "HEAD", f, 1, "m\n");
    git_repository_free(b);
    const char *dirs[] = {dir, bare};
    const size_t n_want[] = {3, 1}; /* square, cube, Shape.area; f */
    for (size_t i = 0; i < 2; i++) {
        fx_gen gen = {.pairs = (const char *const[]){NULL}};
        patch_options o = patch_options_default();
        patch_result *r = NULL;
        core_err err = {0};
        ck_assert_msg(fx_patch(&r, dirs[i], NULL, &o, &gen, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(r->n_targets, n_want[i]);
        ck_assert_uint_eq(strlen(r->commit), 40);
        patch_result_free(r);
    }
}
END_TEST

START_TEST(repo__corrupt_and_shallow)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "corrupt");
    fx_python_project(dir);
    /* the blob of calc/ops.py at HEAD goes missing */
    ck_assert_int_eq(fx_sh("cd '%s' && o=$(git rev-parse HEAD:calc/ops.py) && "
                           "rm -f .git/objects/$(echo $o | cut -c1-2)/$(echo $o | cut -c3-)",
                           dir),
                     0);
    fx_gen gen = {.pairs = (const char *const[]){NULL}};
    patch_options o = patch_options_default();
    patch_result *r = NULL;
    core_err err = {0};
    ck_assert_int_eq(fx_patch(&r, dir, NULL, &o, &gen, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "calc/ops.py"));
    ck_assert_ptr_null(r);
    /* a shallow clone reads its tip; a base beyond it is an unknown revision */
    char src[FX_PATH_MAX];
    fx_dir(src, "shallow-src");
    fx_python_project(src);
    char dir2[FX_PATH_MAX];
    fx_dir(dir2, "shallow");
    ck_assert_int_eq(fx_sh("git clone -q --depth 1 'file://%s' '%s'", src, dir2), 0);
    ck_assert_int_eq(fx_patch(&r, dir2, NULL, &o, &gen, &err), 0);
    ck_assert_uint_eq(r->n_targets, 3);
    patch_result_free(r);
    r = NULL;
    o.base = "HEAD~1";
    ck_assert_int_eq(fx_patch(&r, dir2, NULL, &o, &gen, &err), CORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "base"));
}
END_TEST

START_TEST(repo__big_blobs_binaries_submodules_links)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "odd");
    git_repository *repo = fx_repo_new(dir, false);
    size_t big_len = (size_t)100 << 20;
    char *big = calloc(1, big_len);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', big_len);
    char bin[64];
    for (size_t i = 0; i < sizeof bin; i++) {
        bin[i] = (char)(i * 37);
    }
    fx_file f[] = {
        {.path = "m.py", .data = "def f():\n    pass\n"},
        {.path = "big.dat", .data = big, .len = big_len},
        {.path = "bin.py", .data = bin, .len = sizeof bin},
        {.path = "vendor/lib", .data = "0123456789abcdef0123456789abcdef01234567", .mode = 0160000},
        {.path = ".gitmodules", .data = "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = x\n"},
        {.path = "up", .data = "../../../etc/passwd", .mode = 0120000},
        {.path = "new\nline.py", .data = "def g():\n    pass\n"},
        {.path = "bad\xff.py", .data = "def h():\n    pass\n"},
    };
    git_oid c;
    fx_commit(&c, repo, "HEAD", f, 8, "odd\n");
    git_repository_free(repo);
    free(big);
    fx_gen gen = {.pairs = (const char *const[]){NULL}};
    patch_options o = patch_options_default();
    patch_result *r = NULL;
    core_err err = {0};
    ck_assert_int_eq(fx_patch(&r, dir, NULL, &o, &gen, &err), CORE_ELIMIT);
    ck_assert_ptr_nonnull(strstr(err.msg, "big.dat"));
    /* allowed, the rest reads: the binary is no source, the submodule is left out, the odd
     * names are not targets (a patch could not carry them) */
    o.blob_max = (size_t)128 << 20;
    ck_assert_msg(fx_patch(&r, dir, NULL, &o, &gen, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r->n_targets, 1);
    ck_assert_str_eq(r->targets[0].name, "f");
    ck_assert_int_eq(r->targets[0].verdict, PATCH_VERDICT_NONE);
    patch_result_free(r);
}
END_TEST

TCase *tcase_repo(void)
{
    TCase *tc = tcase_create("repo");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, repo__revisions_and_bad_repositories);
    tcase_add_test(tc, repo__object_database_not_work_tree);
    tcase_add_test(tc, repo__corrupt_and_shallow);
    tcase_add_test(tc, repo__big_blobs_binaries_submodules_links);
    return tc;
}
