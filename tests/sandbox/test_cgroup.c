/* Tests of sandbox/cgroup.c: the layout is detected, leaves take limits, report counters,
 * and cgroup.kill empties them. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sbx_int.h"
#include "tests/sandbox/tests.h"

START_TEST(cgroup__leaf_limits_and_kill)
{
    sbx__cg_host host;
    core_err err = {0};
    char tag[64];
    snprintf(tag, sizeof tag, "kiln-sbx-test-%d", (int)getpid());
    ck_assert_msg(sbx__cg_host_init(&host, tag, &err) == 0, "%s", err.msg);
    sbx__cg cg;
    ck_assert_int_eq(sbx__cg_init(&cg, &host, "leaf", &err), 0);
    ck_assert_int_eq(access(cg.v2, F_OK), 0);
    ck_assert_int_eq(sbx__cg_set_limits(&cg, 64u << 20, 4, &err), 0);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (size_t i = 0; i < cg.n_procs; i++) {
            FILE *f = fopen(cg.procs[i], "w");
            if (f == NULL || fprintf(f, "0\n") < 0 || fclose(f) != 0) {
                _exit(3);
            }
        }
        if (write(p[1], "j", 1) != 1) {
            _exit(4);
        }
        for (;;) {
            pause();
        }
    }
    char c = 0;
    ck_assert_int_eq((int)read(p[0], &c, 1), 1);
    pid_t pids[4];
    ck_assert_int_eq((int)sbx__cg_pids(&cg, pids, 4), 1);
    ck_assert_int_eq(pids[0], pid);
    sbx__cg_stat st;
    ck_assert_int_eq(sbx__cg_read(&cg, &st), 0);
    ck_assert_int_eq(sbx__cg_wait_empty(&cg, 20), CORE_ETIMEOUT);
    ck_assert_int_eq(sbx__cg_kill(&cg), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGKILL);
    ck_assert_int_eq(sbx__cg_wait_empty(&cg, 2000), 0);
    char dir[SBX__PATH_MAX];
    snprintf(dir, sizeof dir, "%s", cg.v2);
    sbx__cg_dispose(&cg);
    ck_assert_int_ne(access(dir, F_OK), 0);
    sbx__cg_host_dispose(&host);
    ck_assert_int_ne(access(host.v2_base, F_OK), 0);
    close(p[0]);
    close(p[1]);
}
END_TEST

TCase *tcase_cgroup(void)
{
    TCase *tc = tcase_create("cgroup");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, cgroup__leaf_limits_and_kill);
    return tc;
}
