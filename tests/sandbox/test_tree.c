/* Tests of sandbox/tree.c: a command over a copy of a tree, its exit status and output, paths
 * refused before packing, and hostile commands contained (network, writes outside the copy,
 * fork bombs, endless runs, symlinks out of the tree). */
#include "tests/sandbox/tests.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sbx_tree *tree_new(void)
{
    sbx_tree_options o = sbx_tree_options_default();
    o.uid = sbx_test_uid_base() + 60;
    sbx_tree *t = NULL;
    core_err err = {0};
    ck_assert_msg(sbx_tree_new(&t, &o, &err) == 0, "%s", err.msg);
    return t;
}

static int run(sbx_tree *t, const sbx_tree_file *files, size_t n, const char *cmd,
               sbx_tree_result *res, core_err *err)
{
    sbx_tree_job job = {
        .files = files, .n_files = n, .command = cmd, .limits = sbx_limits_default()};
    job.limits.disk_mb = 0;
    job.limits.wall_ms = 4000;
    return sbx_tree_run(res, t, &job, err);
}

#define F(p, d)                                                                                    \
    {                                                                                              \
        .path = {(p), sizeof(p) - 1}, .data = {(d), sizeof(d) - 1 }                                \
    }

START_TEST(tree__runs_over_a_copy)
{
    sbx_tree *t = tree_new();
    sbx_tree_file files[] = {
        F("a.txt", "hello\n"),
        F("pkg/sub/b.txt", "deep\n"),
        {.path = core_str_c("run.sh"), .data = core_str_c("#!/bin/sh\necho ran\n"), .exec = true},
    };
    sbx_tree_result res = {0};
    core_err err = {0};
    ck_assert_int_eq(run(t, files, 3, "cat a.txt pkg/sub/b.txt && ./run.sh && pwd", &res, &err), 0);
    ck_assert_int_eq(res.exit_code, 0);
    ck_assert_int_eq(res.limit, SBX_LIMIT_NONE);
    ck_assert_str_eq(res.out.ptr, "hello\ndeep\nran\n/work\n");
    sbx_tree_result_dispose(&res);
    ck_assert_int_eq(run(t, files, 3, "exit 3", &res, &err), 0);
    ck_assert_int_eq(res.exit_code, 3);
    sbx_tree_result_dispose(&res);
    sbx_tree_free(t);
}
END_TEST

START_TEST(tree__unsafe_paths_are_refused)
{
    sbx_tree *t = tree_new();
    const char *bad[] = {"../x", "/etc/x", "a/../../x", "a//b", "./a", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sbx_tree_file f = {.path = core_str_c(bad[i]), .data = core_str_c("x")};
        sbx_tree_result res = {0};
        core_err err = {0};
        ck_assert_int_eq(run(t, &f, 1, "true", &res, &err), CORE_EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "path"));
        sbx_tree_result_dispose(&res);
    }
    /* odd but safe names travel */
    sbx_tree_file odd[] = {F("new\nline", "1"), F("bad\xff\xfe", "2"), F("-dash", "3")};
    sbx_tree_result res = {0};
    core_err err = {0};
    ck_assert_int_eq(run(t, odd, 3, "cat ./-dash \"$(printf 'new\\nline')\"", &res, &err), 0);
    ck_assert_int_eq(res.exit_code, 0);
    ck_assert_str_eq(res.out.ptr, "31");
    sbx_tree_result_dispose(&res);
    sbx_tree_free(t);
}
END_TEST

START_TEST(tree__hostile_commands_are_contained)
{
    sbx_tree *t = tree_new();
    char marker[128];
    snprintf(marker, sizeof marker, "/tmp/kiln-tree-escape-%d", (int)getpid());
    unlink(marker);
    sbx_tree_file files[] = {
        {.path = core_str_c("out"), .data = core_str_c(marker), .symlink = true},
        {.path = core_str_c("shadow"), .data = core_str_c("/etc/shadow"), .symlink = true},
    };
    sbx_tree_result res = {0};
    core_err err = {0};
    /* writes outside the copy land in the box (a symlink out of the tree, an absolute path) */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "echo x > out; echo y > %s; echo z > ../escape; cat shadow", marker);
    ck_assert_int_eq(run(t, files, 2, cmd, &res, &err), 0);
    ck_assert_int_ne(res.exit_code, 0); /* the box has no /etc/shadow */
    ck_assert_int_ne(access(marker, F_OK), 0);
    sbx_tree_result_dispose(&res);
    /* no network */
    ck_assert_int_eq(
        run(t, files, 0,
            "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\"", &res,
            &err),
        0);
    ck_assert_int_ne(res.exit_code, 0);
    sbx_tree_result_dispose(&res);
    /* a fork bomb meets the process limit; an endless run meets the wall limit */
    ck_assert_int_eq(run(t, files, 0, "b() { b | b & }; b; sleep 10", &res, &err), 0);
    ck_assert_int_ne(res.limit, SBX_LIMIT_NONE);
    sbx_tree_result_dispose(&res);
    ck_assert_int_eq(run(t, files, 0, "while :; do :; done", &res, &err), 0);
    ck_assert(res.limit == SBX_LIMIT_WALL || res.limit == SBX_LIMIT_CPU);
    ck_assert_int_eq(res.exit_code, -1);
    sbx_tree_result_dispose(&res);
    ck_assert_int_eq(sbx_test_wait_no_box_procs(), 0);
    sbx_tree_free(t);
}
END_TEST

TCase *tcase_tree(void)
{
    TCase *tc = tcase_create("tree");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tree__runs_over_a_copy);
    tcase_add_test(tc, tree__unsafe_paths_are_refused);
    tcase_add_test(tc, tree__hostile_commands_are_contained);
    return tc;
}
