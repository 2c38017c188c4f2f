/* Tests of sandbox/box.c: what a process sees inside a box (user, capabilities, no_new_privs,
 * seccomp, host name, environment, descriptors, file system, pid namespace), that a missing
 * binary is reported, and that the payload is not pid 1. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sbx_int.h"
#include "tests/sandbox/tests.h"

typedef struct boxenv {
    sbx__filter filter;
    sbx__cg_host host;
    sbx__cg cg;
    int netns;
} boxenv;

static void env_init(boxenv *e)
{
    core_err err = {0};
    char tag[64];
    snprintf(tag, sizeof tag, "kiln-sbx-boxtest-%d", (int)getpid());
    ck_assert_int_eq(sbx__filter_init(&e->filter, &err), 0);
    ck_assert_msg(sbx__cg_host_init(&e->host, tag, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(sbx__cg_init(&e->cg, &e->host, "b", &err), 0);
    ck_assert_int_eq(sbx__cg_set_limits(&e->cg, 128u << 20, 16, &err), 0);
    ck_assert_msg(sbx__netns_new(&e->netns, &err) == 0, "%s", err.msg);
}

static void env_dispose(boxenv *e)
{
    sbx__cg_dispose(&e->cg);
    sbx__cg_host_dispose(&e->host);
    sbx__filter_dispose(&e->filter);
    close(e->netns);
}

/* Runs sh -c script in a box; returns its wait status and fills out with its stdout. */
static int run_sh(boxenv *e, const char *script, core_buf *out, int *rc_start)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    const char *const argv[] = {"/bin/sh", "-c", script, NULL};
    const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    sbx_limits lim = sbx_limits_default();
    sbx__box_spec spec = {
        .argv = argv,
        .envp = envp,
        .fds = {-1, p[1], p[1]},
        .n_fds = 3,
        .host_uid = SBX_TEST_UID_BASE + 60,
        .limits = &lim,
        .cg = &e->cg,
        .netns_fd = e->netns,
        .filter = &e->filter,
    };
    pid_t pid = 0;
    int status_fd = -1;
    core_err err = {0};
    *rc_start = sbx__box_start(&pid, &status_fd, &spec, &err);
    close(p[1]);
    if (*rc_start < 0) {
        close(p[0]);
        return -1;
    }
    for (;;) {
        int d = sbx__drain(p[0], out, 1 << 16, NULL);
        if (d != 0) {
            break;
        }
    }
    close(p[0]);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    int st = sbx__box_status(status_fd);
    close(status_fd);
    return st;
}

START_TEST(box__inside_view)
{
    boxenv e;
    env_init(&e);
    core_buf out = {0};
    int rc = 0;
    int st = run_sh(&e,
                    "id -u; id -g; hostname; grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):'"
                    " /proc/self/status; echo pids=$(ls /proc | grep -c '^[0-9]');"
                    " echo fds=$(ls /proc/self/fd | tr '\\n' ' '); env | sort | tr '\\n' ' ';"
                    " echo; ls / | tr '\\n' ' '; echo; ls /root /home /work/main 2>&1 | wc -l;"
                    " touch /usr/x 2>/dev/null && echo usr-writable; echo done",
                    &out, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %x: %s", st, out.ptr);
    const char *s = out.ptr;
    ck_assert_msg(strncmp(s, "1000\n1000\nkiln\n", 15) == 0, "%s", s);
    ck_assert_ptr_nonnull(strstr(s, "CapPrm:\t0000000000000000"));
    ck_assert_ptr_nonnull(strstr(s, "CapEff:\t0000000000000000"));
    ck_assert_ptr_nonnull(strstr(s, "CapBnd:\t0000000000000000"));
    ck_assert_ptr_nonnull(strstr(s, "NoNewPrivs:\t1"));
    ck_assert_ptr_nonnull(strstr(s, "Seccomp:\t2"));
    /* ls's own directory descriptor is 3; nothing else is inherited */
    ck_assert_msg(strstr(s, "fds=0 1 2 3\n") != NULL, "%s", s);
    /* the environment is exactly what the box was given (plus the shell's PWD) */
    ck_assert_msg(strstr(s, "\nPATH=/usr/bin:/bin PWD=/work \n") != NULL, "%s", s);
    ck_assert_msg(strstr(s, "bin dev etc kiln lib") != NULL, "%s", s);
    ck_assert_msg(strstr(s, "proc sbin tmp usr work \n") != NULL, "%s", s);
    /* /root, /home and the host's /work/main do not exist in the box: three errors */
    ck_assert_msg(strstr(s, "\n3\n") != NULL, "%s", s);
    ck_assert_ptr_null(strstr(s, "usr-writable"));
    ck_assert_ptr_nonnull(strstr(s, "done\n"));
    core_buf_dispose(&out);
    env_dispose(&e);
}
END_TEST

START_TEST(box__payload_is_not_init)
{
    boxenv e;
    env_init(&e);
    core_buf out = {0};
    int rc = 0;
    int st = run_sh(&e, "echo $$; kill -ABRT $$", &out, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(out.ptr, "2\n");
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGABRT);
    core_buf_dispose(&out);
    env_dispose(&e);
}
END_TEST

START_TEST(box__missing_binary)
{
    boxenv e;
    env_init(&e);
    const char *const argv[] = {"/usr/bin/kiln-no-such-binary", NULL};
    const char *const envp[] = {NULL};
    sbx_limits lim = sbx_limits_default();
    sbx__box_spec spec = {
        .argv = argv,
        .envp = envp,
        .fds = {-1, -1, -1},
        .n_fds = 3,
        .host_uid = SBX_TEST_UID_BASE + 60,
        .limits = &lim,
        .cg = &e.cg,
        .netns_fd = e.netns,
        .filter = &e.filter,
    };
    pid_t pid = 0;
    int status_fd = -1;
    core_err err = {0};
    ck_assert_int_eq(sbx__box_start(&pid, &status_fd, &spec, &err), CORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "kiln-no-such-binary"));
    ck_assert_int_eq(status_fd, -1);
    env_dispose(&e);
}
END_TEST

TCase *tcase_box(void)
{
    TCase *tc = tcase_create("box");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, box__inside_view);
    tcase_add_test(tc, box__payload_is_not_init);
    tcase_add_test(tc, box__missing_binary);
    return tc;
}
