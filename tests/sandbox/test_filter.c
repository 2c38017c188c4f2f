/* Tests of sandbox/filter.c: the exported program loads and refuses what it should. */
#include <errno.h>
#include <stdbool.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sbx_int.h"
#include "tests/sandbox/tests.h"

START_TEST(filter__exports_program)
{
    sbx__filter f;
    ck_assert_int_eq(sbx__filter_init(&f, NULL), 0);
    ck_assert_int_gt((int)f.n_insns, 50);
    ck_assert_ptr_eq(f.prog.filter, f.insns);
    sbx__filter_dispose(&f);
    sbx__filter_dispose(NULL);
}
END_TEST

/* Loads the filter into this process, as a box does before exec. */
static bool load(const sbx__filter *f)
{
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &f->prog) == 0;
}

/* In a child: load the filter, then each refused call must fail with EPERM (or ENOSYS for
 * clone3) and allowed ones must work. The exit code is the number of the first mismatch. */
static int probe(const sbx__filter *f)
{
    if (!load(f)) {
        return 1;
    }
    if (syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) != -1 || errno != EPERM) {
        return 2;
    }
    if (syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0) != -1 || errno != EPERM) {
        return 3;
    }
    if (syscall(SYS_unshare, CLONE_NEWUSER) != -1 || errno != EPERM) {
        return 4;
    }
    char c = 'x';
    if (syscall(SYS_ioctl, 0, TIOCSTI, &c) != -1 || errno != EPERM) {
        return 5;
    }
    if (syscall(SYS_ioctl, 0, 0x100000000ul | TIOCSTI, &c) != -1 || errno != EPERM) {
        return 6;
    }
    if (syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0) != -1 || errno != EPERM) {
        return 7;
    }
    if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS) {
        return 8;
    }
    if (syscall(SYS_bpf, 0, 0, 0) != -1 || errno != EPERM) {
        return 9;
    }
    int fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || syscall(SYS_getpid) <= 0) {
        return 10;
    }
    return 0;
}

/* Runs probe in a child with the filter; it must exit 0. */
static void run_probe(int (*probe_fn)(const sbx__filter *))
{
    sbx__filter f;
    ck_assert_int_eq(sbx__filter_init(&f, NULL), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(probe_fn(&f));
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    sbx__filter_dispose(&f);
}

START_TEST(filter__refuses_in_child)
{
    run_probe(probe);
}
END_TEST

/* In a child that stays root (as the test runs): set*id calls that name any id but the box's
 * (or -1) fail with EPERM although the kernel would allow them, so the refusal is the filter's;
 * those that name only the box's id work, as GNU make's do in a box. */
static int probe_ids(const sbx__filter *f)
{
    const long box = (long)SBX__BOX_ID;
    const long keep = -1;
    const bool root = geteuid() == 0;
    if (!load(f)) {
        return 1;
    }
    if (syscall(SYS_setresuid, keep, 0L, keep) != -1 || errno != EPERM) {
        return 2;
    }
    if (syscall(SYS_setresgid, box + 1, box, box) != -1 || errno != EPERM) {
        return 3;
    }
    if (syscall(SYS_setuid, 0L) != -1 || errno != EPERM) {
        return 4;
    }
    if (syscall(SYS_setgroups, 0, NULL) != -1 || errno != EPERM) {
        return 5;
    }
    if (root && (syscall(SYS_setresgid, keep, box, keep) != 0 ||
                 syscall(SYS_setresuid, box, box, box) != 0 ||
                 syscall(SYS_setresuid, keep, box, keep) != 0 ||
                 syscall(SYS_setreuid, box, keep) != 0 || syscall(SYS_setuid, box) != 0 ||
                 syscall(SYS_setfsgid, keep) < 0 || geteuid() != (uid_t)box)) {
        return 6;
    }
    return 0;
}

START_TEST(filter__set_ids_only_to_own)
{
    run_probe(probe_ids);
}
END_TEST

TCase *tcase_filter(void)
{
    TCase *tc = tcase_create("filter");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, filter__exports_program);
    tcase_add_test(tc, filter__refuses_in_child);
    tcase_add_test(tc, filter__set_ids_only_to_own);
    return tc;
}
