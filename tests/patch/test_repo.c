/* Tests of patch/repo.c: opening repositories at revisions (work tree, bare, dirty, empty,
 * corrupt, shallow, not one at all), reading the snapshot (huge blobs refused by size before
 * they are read), the lines changed since a base, and repositories made from files in memory
 * (the same targets and diff as the same files committed; bad paths and limits refused). */
#include "tests/patch/tests.h"

#include <stdio.h>
#include <stdlib.h>
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

#define MOD_PY  "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    pass\n"
#define TEST_PY "from pkg.mod import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"

static int from_files_rc(const patch_file *files, size_t n, core_err *err)
{
    patch_repo *r = NULL;
    int rc = patch_repo_from_files(&r, files, n, err);
    ck_assert(rc < 0 ? r == NULL : r != NULL);
    patch_repo_free(r);
    return rc;
}

START_TEST(repo__from_files_like_a_commit)
{
    const patch_file files[] = {
        {core_str_c("pkg/__init__.py"), core_str_c("")},
        {core_str_c("pkg/mod.py"), core_str_c(MOD_PY)},
        {core_str_c("tests/test_mod.py"), core_str_c(TEST_PY)},
    };
    /* the same files committed to a folder */
    char dir[FX_PATH_MAX];
    fx_dir(dir, "from-files");
    git_repository *g = fx_repo_new(dir, false);
    const fx_file fx[] = {
        {.path = "pkg/__init__.py", .data = "", .len = 0},
        {.path = "pkg/mod.py", .data = MOD_PY},
        {.path = "tests/test_mod.py", .data = TEST_PY},
    };
    git_oid c;
    fx_commit(&c, g, "HEAD", fx, 3, "m\n");
    git_repository_free(g);
    patch_repo *repos[2] = {NULL, NULL};
    core_err err = {0};
    ck_assert_msg(patch_repo_from_files(&repos[0], files, 3, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(patch_repo_open(&repos[1], dir, NULL, &err), 0);
    patch_repo *again = NULL;
    ck_assert_int_eq(patch_repo_from_files(&again, files, 3, &err), 0);
    ck_assert_str_eq(patch_repo_commit(again), patch_repo_commit(repos[0])); /* fixed date */
    patch_repo_free(again);
    core_buf diffs[2] = {{0}, {0}};
    sbx_tree *t = fx_tree();
    for (size_t i = 0; i < 2; i++) {
        fx_gen gen = {.pairs =
                          (const char *const[]){"add", "def add(a, b):\n    return a + b\n", NULL}};
        patch_options o = patch_options_default();
        o.generator = (patch_generator){fx_gen_fn, &gen};
        patch_result *r = NULL;
        ck_assert_msg(patch_run(&r, repos[i], t, &o, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(r->n_targets, 1);
        ck_assert_str_eq(patch_verdict_name(r->targets[0].verdict), "verified");
        ck_assert_str_eq(r->targets[0].fixed, "tests/test_mod.py::test_add\n");
        ck_assert_int_eq(patch_result_diff(&diffs[i], repos[i], r, false, &err), 0);
        patch_result_free(r);
        patch_repo_free(repos[i]);
    }
    sbx_tree_free(t);
    ck_assert_ptr_nonnull(strstr(diffs[0].ptr, "+++ b/pkg/mod.py\n"));
    ck_assert_str_eq(diffs[0].ptr, diffs[1].ptr);
    core_buf_dispose(&diffs[0]);
    core_buf_dispose(&diffs[1]);
}
END_TEST

START_TEST(repo__from_files_refused)
{
    static const char *const bad[] = {
        "",     "/etc/passwd", "../x",        "a/../b",        "a/./b",  "./a",
        "a//b", "a/",          ".git/config", "a/.git/config", "a/.GIT", "bad\xff.py",
    };
    core_err err = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const patch_file f[] = {{core_str_c("ok.py"), core_str_c("")},
                                {core_str_c(bad[i]), core_str_c("x")}};
        ck_assert_msg(from_files_rc(f, 2, &err) == CORE_EINVAL, "%s", bad[i]);
        ck_assert_msg(strstr(err.msg, "files[1]: path") != NULL, "%s", err.msg);
    }
    const patch_file nul[] = {{{"a\0b", 3}, core_str_c("")}};
    ck_assert_int_eq(from_files_rc(nul, 1, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
    const patch_file twice[] = {{core_str_c("a.py"), core_str_c("")},
                                {core_str_c("a.py"), core_str_c("")}};
    ck_assert_int_eq(from_files_rc(twice, 2, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "twice"));
    const patch_file dir_too[] = {{core_str_c("a"), core_str_c("")},
                                  {core_str_c("a/b.py"), core_str_c("")}};
    ck_assert_int_eq(from_files_rc(dir_too, 2, &err), CORE_EINVAL);
    ck_assert_int_eq(from_files_rc(NULL, 0, &err), CORE_EINVAL);
    /* too many, too large */
    patch_file *many = calloc(PATCH_FILES_MAX + 1, sizeof *many);
    ck_assert_ptr_nonnull(many);
    char(*names)[16] = calloc(PATCH_FILES_MAX + 1, sizeof *names);
    ck_assert_ptr_nonnull(names);
    for (size_t i = 0; i <= PATCH_FILES_MAX; i++) {
        snprintf(names[i], sizeof names[i], "f%zu.py", i);
        many[i] = (patch_file){core_str_c(names[i]), core_str_c("")};
    }
    ck_assert_int_eq(from_files_rc(many, PATCH_FILES_MAX + 1, &err), CORE_ELIMIT);
    ck_assert_int_eq(from_files_rc(many, PATCH_FILES_MAX, &err), 0);
    const size_t half = PATCH_FILES_BYTES_MAX / 2 + 1;
    char *big = calloc(1, half);
    ck_assert_ptr_nonnull(big);
    const patch_file large[] = {{core_str_c("a"), {big, half}}, {core_str_c("b"), {big, half}}};
    ck_assert_int_eq(from_files_rc(large, 2, &err), CORE_ELIMIT);
    ck_assert_int_eq(from_files_rc(large, 1, &err), 0);
    free(big);
    free(names);
    free(many);
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
    tcase_add_test(tc, repo__from_files_like_a_commit);
    tcase_add_test(tc, repo__from_files_refused);
    return tc;
}
