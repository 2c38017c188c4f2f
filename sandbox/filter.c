/*
 * The seccomp allow-list every box loads just before exec. It is built once per pool with
 * libseccomp and exported as raw BPF, so a forked child only has to call seccomp(2) on a buffer
 * prepared in advance (no allocation after the clone). Unlisted syscalls fail with EPERM;
 * clone3 fails with ENOSYS so that libc falls back to clone, whose flags we can inspect; the
 * namespace flags of clone, ioctls other than a few terminal queries (so TIOCSTI and TIOCLINUX
 * fail) and socket families other than unix and
 * inet are refused. The set*id calls are allowed only when every id they name is the box's own
 * (SBX__BOX_ID) or -1, "unchanged": GNU make switches between its real and effective ids around
 * each job, which in a box are the same, so those calls change nothing. Syscalls of other ABIs
 * (x32, i386) kill the process (libseccomp's default bad-arch action).
 */
#include "sandbox/sbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* What Python, gcc/as/ld, sh and ordinary test programs need. Missing on purpose: ptrace,
 * mount/umount, pivot_root, chroot, unshare, setns, keyctl/add_key/request_key, bpf,
 * io_uring_*, perf_event_open, userfaultfd, process_vm_*, kcmp, *_module, kexec_*, reboot,
 * swapon, acct, settimeofday, open_by_handle_at, name_to_handle_at, iopl, ioperm, syslog,
 * seccomp, personality, add_key, fanotify_*, quotactl, setgroups; the set*id calls are below. */
static const char *const allowed[] = {
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "open",
    "openat",
    "close",
    "close_range",
    "creat",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "mremap",
    "msync",
    "mincore",
    "madvise",
    "brk",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigsuspend",
    "rt_sigqueueinfo",
    "sigaltstack",
    "access",
    "faccessat",
    "faccessat2",
    "pipe",
    "pipe2",
    "select",
    "pselect6",
    "poll",
    "ppoll",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "dup",
    "dup2",
    "dup3",
    "pause",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "getitimer",
    "setitimer",
    "alarm",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "getpid",
    "getppid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "getpgrp",
    "getpgid",
    "setpgid",
    "getsid",
    "setsid",
    "sendfile",
    "connect",
    "accept",
    "accept4",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "bind",
    "listen",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "kill",
    "tkill",
    "tgkill",
    "uname",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "truncate",
    "ftruncate",
    "getdents",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "symlink",
    "symlinkat",
    "readlink",
    "readlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "umask",
    "getrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "sysinfo",
    "times",
    "prctl",
    "arch_prctl",
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "set_tid_address",
    "rseq",
    "getrandom",
    "memfd_create",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "copy_file_range",
    "splice",
    "tee",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "getpriority",
    "setpriority",
    "readahead",
    "fadvise64",
    "fallocate",
    "sync_file_range",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "capget",
    "membarrier",
    "getcpu",
    "mlock",
    "munlock",
    "mlock2",
    "pidfd_open",
    "pidfd_send_signal",
    "restart_syscall",
    "sync",
    "syncfs",
    "fchown",
    "chown",
    "lchown",
    "fchownat",
    "mknod",
    "mknodat",
    "sched_rr_get_interval",
    "ioprio_get",
    "socketpair",
};

/* The id-changing calls, with the number of ids each takes. */
static const struct {
    const char *name;
    unsigned n_ids;
} id_calls[] = {
    {"setresuid", 3}, {"setresgid", 3}, {"setreuid", 2}, {"setregid", 2},
    {"setuid", 1},    {"setgid", 1},    {"setfsuid", 1}, {"setfsgid", 1},
};

/* One rule per way of naming each id as the box's or as -1 (2^n rules for n ids), so a call
 * passes only when it changes nothing. Why that stays safe even beyond the filter: every id of
 * a box process already is SBX__BOX_ID, its user namespace maps no other id, it holds no
 * capability (bounding set dropped, no_new_privs), so the kernel would refuse a real change
 * anyway; the filter keeps that true should any of those layers fail. The kernel reads ids as
 * 32 bits, so only the low 32 bits are compared. */
static int add_id_rules(scmp_filter_ctx ctx)
{
    const scmp_datum_t values[2] = {SBX__BOX_ID, 0xffffffffu};
    for (size_t i = 0; i < sizeof id_calls / sizeof id_calls[0]; i++) {
        int nr = seccomp_syscall_resolve_name(id_calls[i].name);
        if (nr == __NR_SCMP_ERROR) {
            continue;
        }
        const unsigned n = id_calls[i].n_ids;
        for (unsigned pick = 0; pick < (1u << n); pick++) {
            struct scmp_arg_cmp cmp[3];
            for (unsigned a = 0; a < n; a++) {
                cmp[a] = (struct scmp_arg_cmp){.arg = a,
                                               .op = SCMP_CMP_MASKED_EQ,
                                               .datum_a = 0xffffffffu,
                                               .datum_b = values[(pick >> a) & 1u]};
            }
            int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp);
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int add_rules(scmp_filter_ctx ctx)
{
    int rc = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        int nr = seccomp_syscall_resolve_name(allowed[i]);
        if (nr == __NR_SCMP_ERROR) {
            continue; /* not a syscall of this architecture */
        }
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (rc < 0) {
            return rc;
        }
    }
    /* ioctl: only the requests that interpreters and compilers make (isatty, window size,
     * non-blocking and close-on-exec flags, bytes readable). TIOCSTI, TIOCLINUX and the rest
     * fail. The kernel truncates the request to 32 bits, so only those bits are compared. */
    const unsigned long ioctls[] = {TCGETS,   TIOCGWINSZ, FIONBIO,  FIOCLEX,
                                    FIONCLEX, FIONREAD,   TIOCGPGRP};
    for (size_t i = 0; i < sizeof ioctls / sizeof ioctls[0]; i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)ioctls[i]));
        if (rc < 0) {
            return rc;
        }
    }
    /* socket(2): unix and inet only; netlink, packet and the rest fail. */
    const int families[] = {AF_UNIX, AF_INET, AF_INET6};
    for (size_t i = 0; i < 3; i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0));
        if (rc < 0) {
            return rc;
        }
    }
    /* clone(2) without namespace flags (threads and forks are fine). */
    const scmp_datum_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                  CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags, 0));
    if (rc < 0) {
        return rc;
    }
    rc = add_id_rules(ctx);
    if (rc < 0) {
        return rc;
    }
    /* clone3 passes its flags in memory, out of seccomp's reach: say it does not exist. */
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
}

int sbx__filter_init(sbx__filter *filter, core_err *err)
{
    int rc = 0;
    int fd = -1;
    memset(filter, 0, sizeof *filter);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (ctx == NULL) {
        return core_err_set(err, CORE_EUNSUPPORTED, "seccomp: libseccomp could not initialize");
    }
    int src = add_rules(ctx);
    if (src < 0) {
        rc = core_err_set(err, CORE_ERROR, "seccomp: adding rules: %s", strerror(-src));
        goto done;
    }
    fd = memfd_create("kiln-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        rc = core_err_set(err, CORE_ERROR, "memfd_create: %s", strerror(errno));
        goto done;
    }
    src = seccomp_export_bpf(ctx, fd);
    if (src < 0) {
        rc = core_err_set(err, CORE_ERROR, "seccomp: exporting bpf: %s", strerror(-src));
        goto done;
    }
    off_t len = lseek(fd, 0, SEEK_END);
    if (len <= 0 || len % (off_t)sizeof(struct sock_filter) != 0) {
        rc = core_err_set(err, CORE_ERROR, "seccomp: exported program has %lld bytes",
                          (long long)len);
        goto done;
    }
    filter->insns = core_malloc((size_t)len);
    if (filter->insns == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "seccomp: out of memory");
        goto done;
    }
    if (pread(fd, filter->insns, (size_t)len, 0) != len) {
        rc = core_err_set(err, CORE_ERROR, "seccomp: reading exported program failed");
        goto done;
    }
    filter->n_insns = (size_t)len / sizeof(struct sock_filter);
    filter->prog.len = (unsigned short)filter->n_insns;
    filter->prog.filter = filter->insns;
done:
    if (fd >= 0) {
        close(fd);
    }
    seccomp_release(ctx);
    if (rc < 0) {
        sbx__filter_dispose(filter);
    }
    return rc;
}

void sbx__filter_dispose(sbx__filter *filter)
{
    if (filter == NULL) {
        return;
    }
    core_free(filter->insns);
    memset(filter, 0, sizeof *filter);
}
