/*
 * The box launcher: one clone per box, then namespace, filesystem and privilege setup in the
 * child, then exec. The child is created by a fork-like clone(2) with new pid, mount, IPC and
 * UTS namespaces while it is still root in the initial user namespace, so that it can join the
 * slot's network namespace, mount a tmpfs root, bind /usr read-only, mount its own /proc (the
 * pid namespace belongs to the initial user namespace) and pivot into the new root. Only then
 * does it unshare a user namespace (plus a cgroup namespace) in which the parent maps uid and
 * gid 1000 to a host uid that is neither root nor the service's; the mount namespace stays owned
 * by the initial user namespace, so the sandboxed user can never remount anything. It then
 * drops every capability (libcap), sets no_new_privs and the rlimits, closes every descriptor
 * it should not keep, loads the seccomp program prepared by the parent and execs.
 *
 * The child runs in a copy of a possibly multi-threaded process, so between clone and exec it
 * only makes system calls on memory prepared before the clone: no allocation, no stdio. It
 * reports a failure as (stage, errno) on a close-on-exec socket; EOF there means exec worked.
 * This is the approach of isolate and nsjail, without running a helper binary per box.
 */
#include "sandbox/sbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child's setup stages, reported with errno when one fails. */
enum stage {
    ST_CGROUP = 1,
    ST_PDEATH,
    ST_NETNS,
    ST_PRIVATE,
    ST_TMPFS,
    ST_TREE,
    ST_BIND,
    ST_DEV,
    ST_PROC,
    ST_FILES,
    ST_PIVOT,
    ST_UTS,
    ST_USERNS,
    ST_SYNC,
    ST_IDS,
    ST_CAPS,
    ST_RLIMIT,
    ST_FDS,
    ST_NNP,
    ST_SECCOMP,
    ST_EXEC,
};

static const char *stage_name(int stage)
{
    static const char *const names[] = {
        "?",
        "joining the cgroup",
        "setting the parent-death signal",
        "joining the network namespace",
        "making mounts private",
        "mounting the tmpfs root",
        "creating the root tree",
        "binding a read-only folder",
        "binding a device",
        "mounting /proc",
        "writing files into the box",
        "pivoting into the new root",
        "setting the host name",
        "creating the user namespace",
        "waiting for the uid map",
        "switching to the sandbox user",
        "dropping capabilities",
        "setting rlimits",
        "arranging descriptors",
        "setting no_new_privs",
        "loading the seccomp filter",
        "exec",
    };
    if (stage < 0 || stage >= (int)(sizeof names / sizeof names[0])) {
        return "?";
    }
    return names[stage];
}

/* Where the tmpfs is mounted before pivot_root; any existing folder works, since the mount
 * namespace is private to the box. */
#define STAGE_DIR "/tmp"

/* Folders bound read-only, or replicated as symlinks when they are symlinks on the host (merged
 * /usr on Debian 12). */
static const char *const ro_dirs[] = {"/usr",   "/bin",   "/sbin",  "/lib",
                                      "/lib64", "/lib32", "/libx32"};
static const char *const ro_dirs_in[] = {STAGE_DIR "/usr",   STAGE_DIR "/bin",   STAGE_DIR "/sbin",
                                         STAGE_DIR "/lib",   STAGE_DIR "/lib64", STAGE_DIR "/lib32",
                                         STAGE_DIR "/libx32"};
static const char *const devices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                      "/dev/urandom"};
static const char *const devices_in[] = {STAGE_DIR "/dev/null", STAGE_DIR "/dev/zero",
                                         STAGE_DIR "/dev/full", STAGE_DIR "/dev/random",
                                         STAGE_DIR "/dev/urandom"};

static const char etc_passwd[] = "root:x:0:0::/:/bin/false\n"
                                 "sandbox:x:1000:1000::/work:/bin/sh\n"
                                 "nobody:x:65534:65534::/:/bin/false\n";
static const char etc_group[] = "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n";
static const char etc_hosts[] = "127.0.0.1 localhost\n::1 localhost\n";

/* Failure report: the stage and errno, then _exit. */
_Noreturn static void fail(int sync_fd, int stage)
{
    int rec[2] = {stage, errno};
    ssize_t n = write(sync_fd, rec, sizeof rec);
    (void)n;
    _exit(127);
}

static int put_file(int root_fd, const char *path, const char *data, size_t len, unsigned mode)
{
    int fd = openat(root_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        return -1;
    }
    int rc = core_write_full(fd, data, len);
    if (rc == 0 && fchmod(fd, mode) < 0) {
        rc = -1;
    }
    close(fd);
    return rc;
}

static void set_rlimit(int sync_fd, int resource, rlim_t value)
{
    struct rlimit rl = {value, value};
    if (setrlimit(resource, &rl) < 0) {
        fail(sync_fd, ST_RLIMIT);
    }
}

/* Everything the child does; never returns. */
_Noreturn static void child_main(const sbx__box_spec *spec, int sync_fd, int status_fd,
                                 cap_t no_caps, const char *tmpfs_opts)
{
    /* 0. Signal dispositions and the mask are inherited from the service's thread: reset them,
     *    or a handler copied into init would let the payload kill it with a plain SIGTERM. */
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(sig, &sa, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* 1. Join the slot's cgroups before anything else runs. */
    for (size_t i = 0; i < spec->cg->n_procs; i++) {
        int fd = open(spec->cg->procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1) {
            fail(sync_fd, ST_CGROUP);
        }
        close(fd);
    }
    if (setns(spec->netns_fd, CLONE_NEWNET) < 0) {
        fail(sync_fd, ST_NETNS);
    }

    /* 2. The filesystem: a tmpfs root with read-only binds, /dev, /proc and the job's files. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fail(sync_fd, ST_PRIVATE);
    }
    if (mount("kiln-box", STAGE_DIR, "tmpfs", MS_NOSUID | MS_NODEV, tmpfs_opts) < 0) {
        fail(sync_fd, ST_TMPFS);
    }
    int root_fd = open(STAGE_DIR, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (root_fd < 0) {
        fail(sync_fd, ST_TREE);
    }
    static const char *const dirs[] = {"etc", "dev", "dev/shm", "proc", "tmp", "work", "kiln"};
    static const unsigned dir_modes[] = {0755, 0755, 01777, 0555, 01777, 0777, 0755};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (mkdirat(root_fd, dirs[i], dir_modes[i]) < 0 ||
            fchmodat(root_fd, dirs[i], dir_modes[i], 0) < 0) {
            fail(sync_fd, ST_TREE);
        }
    }
    for (size_t i = 0; i < sizeof ro_dirs / sizeof ro_dirs[0]; i++) {
        struct stat st;
        if (lstat(ro_dirs[i], &st) < 0) {
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[256];
            ssize_t n = readlink(ro_dirs[i], target, sizeof target - 1);
            if (n <= 0) {
                fail(sync_fd, ST_TREE);
            }
            target[n] = '\0';
            if (symlinkat(target, root_fd, ro_dirs[i] + 1) < 0) {
                fail(sync_fd, ST_TREE);
            }
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            continue;
        }
        if (mkdirat(root_fd, ro_dirs[i] + 1, 0755) < 0 ||
            mount(ro_dirs[i], ro_dirs_in[i], NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NULL, ro_dirs_in[i], NULL,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
            fail(sync_fd, ST_BIND);
        }
    }
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
        int fd = openat(root_fd, devices[i] + 1, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            fail(sync_fd, ST_DEV);
        }
        close(fd);
        if (mount(devices[i], devices_in[i], NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, devices_in[i], NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC, NULL) <
                0) {
            fail(sync_fd, ST_DEV);
        }
    }
    if (symlinkat("/proc/self/fd", root_fd, "dev/fd") < 0 ||
        symlinkat("/proc/self/fd/0", root_fd, "dev/stdin") < 0 ||
        symlinkat("/proc/self/fd/1", root_fd, "dev/stdout") < 0 ||
        symlinkat("/proc/self/fd/2", root_fd, "dev/stderr") < 0) {
        fail(sync_fd, ST_DEV);
    }
    if (mount("proc", STAGE_DIR "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
              NULL) < 0) {
        fail(sync_fd, ST_PROC);
    }
    if (put_file(root_fd, "etc/passwd", etc_passwd, sizeof etc_passwd - 1, 0644) < 0 ||
        put_file(root_fd, "etc/group", etc_group, sizeof etc_group - 1, 0644) < 0 ||
        put_file(root_fd, "etc/hosts", etc_hosts, sizeof etc_hosts - 1, 0644) < 0) {
        fail(sync_fd, ST_FILES);
    }
    for (size_t i = 0; i < spec->n_files; i++) {
        const sbx__file *f = &spec->files[i];
        if (put_file(root_fd, f->path, f->data, f->len, f->mode) < 0) {
            fail(sync_fd, ST_FILES);
        }
    }
    close(root_fd);
    if (chdir(STAGE_DIR) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/work") < 0) {
        fail(sync_fd, ST_PIVOT);
    }
    if (sethostname("kiln", 4) < 0) {
        fail(sync_fd, ST_UTS);
    }

    /* 3. The user namespace; the parent writes the maps. The bounding set is dropped while we
     *    still hold CAP_SETPCAP in the new namespace. */
    /* Raw syscalls for the id changes: libc's wrappers broadcast them to every thread it
     * believes exists, and in a child cloned from a multi-threaded service they would wait
     * forever for threads that are not there. */
    if (syscall(SYS_setgroups, 0, NULL) < 0 || unshare(CLONE_NEWUSER | CLONE_NEWCGROUP) < 0) {
        fail(sync_fd, ST_USERNS);
    }
    char go = 'U';
    if (write(sync_fd, &go, 1) != 1 || read(sync_fd, &go, 1) != 1 || go != 'M') {
        fail(sync_fd, ST_SYNC);
    }
    for (int c = 0; c <= CAP_LAST_CAP; c++) {
        if (cap_drop_bound((cap_value_t)c) < 0 && errno != EINVAL) {
            fail(sync_fd, ST_CAPS);
        }
    }
    if (syscall(SYS_setresgid, SBX__BOX_ID, SBX__BOX_ID, SBX__BOX_ID) < 0 ||
        syscall(SYS_setresuid, SBX__BOX_ID, SBX__BOX_ID, SBX__BOX_ID) < 0) {
        fail(sync_fd, ST_IDS);
    }
    if (cap_set_proc(no_caps) < 0 || cap_reset_ambient() < 0) {
        fail(sync_fd, ST_CAPS);
    }
    /* Changing the euid cleared any parent-death signal, so it is set only now. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
        fail(sync_fd, ST_PDEATH);
    }

    /* 4. Descriptors: fds[i] becomes i, the sync socket n_fds, the status pipe n_fds + 1; the
     *    rest closes. Everything is staged above the targets first so nothing is clobbered. */
    enum { STAGE_FD = 100 };
    int s_sync = fcntl(sync_fd, F_DUPFD_CLOEXEC, STAGE_FD);
    int s_status = fcntl(status_fd, F_DUPFD_CLOEXEC, STAGE_FD);
    if (s_sync < 0 || s_status < 0) {
        fail(sync_fd, ST_FDS);
    }
    sync_fd = s_sync;
    int staged[SBX__BOX_FDS_MAX];
    for (size_t i = 0; i < spec->n_fds; i++) {
        int src = spec->fds[i];
        if (src < 0) {
            src = open("/dev/null", O_RDWR | O_CLOEXEC);
        }
        staged[i] = src < 0 ? -1 : fcntl(src, F_DUPFD_CLOEXEC, STAGE_FD);
        if (staged[i] < 0) {
            fail(sync_fd, ST_FDS);
        }
    }
    for (size_t i = 0; i < spec->n_fds; i++) {
        if (dup2(staged[i], (int)i) < 0) {
            fail(sync_fd, ST_FDS);
        }
    }
    const int n = (int)spec->n_fds;
    if (dup3(s_sync, n, O_CLOEXEC) < 0 || dup3(s_status, n + 1, O_CLOEXEC) < 0) {
        fail(sync_fd, ST_FDS);
    }
    sync_fd = n;
    if (syscall(SYS_close_range, (unsigned)n + 2, ~0U, 0) < 0) {
        fail(sync_fd, ST_FDS);
    }

    /* 5. Limits. RLIMIT_CPU is a per-process backstop; the cgroup total is watched outside. */
    const sbx_limits *lim = spec->limits;
    set_rlimit(sync_fd, RLIMIT_CORE, 0);
    if (lim->file_mb > 0) {
        set_rlimit(sync_fd, RLIMIT_FSIZE, (rlim_t)lim->file_mb << 20);
    }
    if (lim->n_files > 0) {
        set_rlimit(sync_fd, RLIMIT_NOFILE,
                   lim->n_files > (uint32_t)n + 2 ? lim->n_files : (rlim_t)n + 2);
    }
    if (lim->cpu_ms > 0) {
        set_rlimit(sync_fd, RLIMIT_CPU, lim->cpu_ms / 1000 + 2);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        fail(sync_fd, ST_NNP);
    }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &spec->filter->prog) < 0) {
        fail(sync_fd, ST_SECCOMP);
    }

    /* 6. This process stays as the box's init: signals from inside a pid namespace to its init
     *    are dropped unless it handles them, so the payload must not be pid 1 (abort() and
     *    kill(getpid()) would not work). A raw clone, since libc's fork takes locks that
     *    another thread of the service may have held at our clone. */
    pid_t payload = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
    if (payload < 0) {
        fail(sync_fd, ST_EXEC);
    }
    if (payload == 0) {
        close(n + 1);
        execve(spec->argv[0], (char *const *)spec->argv, (char *const *)spec->envp);
        fail(sync_fd, ST_EXEC);
    }
    /* init: no descriptor but the status pipe (EOF on the box's pipes must not wait for us),
     * not dumpable (so the payload, with the same uid, cannot read our memory through /proc),
     * and it reaps every orphan until the payload itself exits. */
    syscall(SYS_close_range, 0U, (unsigned)n, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    for (;;) {
        int status = 0;
        pid_t w = waitpid(-1, &status, 0);
        if (w == payload) {
            ssize_t wr = write(n + 1, &status, sizeof status);
            (void)wr;
            _exit(0);
        }
        if (w < 0 && errno != EINTR) {
            _exit(0);
        }
    }
}

int sbx__box_status(int status_fd)
{
    int status = 0;
    if (status_fd < 0 || read(status_fd, &status, sizeof status) != (ssize_t)sizeof status) {
        return SIGKILL; /* the payload was killed with its init: "killed by SIGKILL" */
    }
    return status;
}

static int write_map(pid_t pid, const char *file, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

int sbx__box_map_ids(pid_t pid, uint32_t host_uid, core_err *err)
{
    char map[64];
    snprintf(map, sizeof map, "%u %u 1\n", SBX__BOX_ID, host_uid);
    if (write_map(pid, "uid_map", map) < 0 || write_map(pid, "gid_map", map) < 0) {
        return core_err_set(err, CORE_EUNSUPPORTED, "box: writing the uid map of %d: %s", (int)pid,
                            strerror(errno));
    }
    return 0;
}

int sbx__box_fail(const int rec[2], const char *argv0, core_err *err)
{
    if (rec[0] == ST_EXEC && rec[1] == ENOENT) {
        return core_err_set(err, CORE_ENOTFOUND, "box: %s: not found", argv0);
    }
    if (rec[0] == ST_USERNS || rec[0] == ST_NETNS || rec[0] == ST_SECCOMP || rec[0] == ST_CGROUP ||
        rec[0] == ST_PROC) {
        return core_err_set(err, CORE_EUNSUPPORTED, "box: %s: %s (kernel feature missing?)",
                            stage_name(rec[0]), strerror(rec[1]));
    }
    return core_err_set(err, CORE_ERROR, "box: %s: %s", stage_name(rec[0]), strerror(rec[1]));
}

int sbx__box_start(pid_t *out, int *status_fd, const sbx__box_spec *spec, core_err *err)
{
    int rc = 0;
    int sv[2] = {-1, -1};
    int st[2] = {-1, -1};
    pid_t pid = -1;
    cap_t no_caps = NULL;
    *out = 0;
    *status_fd = -1;
    CORE_ASSERT(spec->n_fds <= SBX__BOX_FDS_MAX);

    char tmpfs_opts[96];
    snprintf(tmpfs_opts, sizeof tmpfs_opts, "size=%um,nr_inodes=%u,mode=755",
             spec->limits->disk_mb > 0 ? spec->limits->disk_mb : 64,
             spec->limits->disk_inodes > 0 ? spec->limits->disk_inodes : 4096);
    no_caps = cap_init();
    if (no_caps == NULL) {
        return core_err_set(err, CORE_ENOMEM, "box: cap_init: out of memory");
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(st, O_CLOEXEC) < 0) {
        rc = core_err_set(err, CORE_ERROR, "box: socketpair: %s", strerror(errno));
        goto done;
    }
    pid = (pid_t)syscall(SYS_clone,
                         CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, NULL,
                         NULL, NULL, NULL);
    if (pid < 0) {
        rc = core_err_set(err, errno == EPERM ? CORE_EUNSUPPORTED : CORE_ERROR,
                          "box: clone with new pid, mount, ipc and uts namespaces: %s",
                          strerror(errno));
        goto done;
    }
    if (pid == 0) {
        close(sv[0]);
        close(st[0]);
        child_main(spec, sv[1], st[1], no_caps, tmpfs_opts);
    }
    close(sv[1]);
    sv[1] = -1;
    close(st[1]);
    st[1] = -1;

    char c = 0;
    ssize_t n = read(sv[0], &c, 1);
    if (n == 1 && c == 'U') {
        rc = sbx__box_map_ids(pid, spec->host_uid, err);
        if (rc < 0) {
            goto done;
        }
        c = 'M';
        if (write(sv[0], &c, 1) != 1) {
            rc = core_err_set(err, CORE_ERROR, "box: child %d vanished", (int)pid);
            goto done;
        }
        n = read(sv[0], &c, 1);
    }
    if (n == 0) {
        *out = pid; /* exec succeeded: the socket closed on exec */
        *status_fd = st[0];
        st[0] = -1;
        pid = -1;
        goto done;
    }
    int rec[2] = {0, 0};
    if (n == 1) {
        /* the first byte of a failure record */
        char rest[sizeof rec];
        rest[0] = c;
        ssize_t m = read(sv[0], rest + 1, sizeof rec - 1);
        if (m == (ssize_t)(sizeof rec - 1)) {
            memcpy(rec, rest, sizeof rec);
        }
    }
    rc = sbx__box_fail(rec, spec->argv[0], err);
done:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (sv[0] >= 0) {
        close(sv[0]);
    }
    if (sv[1] >= 0) {
        close(sv[1]);
    }
    for (int i = 0; i < 2; i++) {
        if (st[i] >= 0) {
            close(st[i]);
        }
    }
    cap_free(no_caps);
    return rc;
}

int sbx__netns_new(int *out, core_err *err)
{
    *out = -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return core_err_set(err, CORE_ERROR, "netns: socketpair: %s", strerror(errno));
    }
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return core_err_set(err, CORE_EUNSUPPORTED, "netns: clone with a new network namespace: %s",
                            strerror(e));
    }
    if (pid == 0) {
        /* Bring loopback up, then wait for the parent to open our namespace. */
        close(sv[0]);
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        memcpy(ifr.ifr_name, "lo", 3);
        char ok = 'E';
        if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
            ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
            if (ioctl(s, SIOCSIFFLAGS, &ifr) == 0) {
                ok = 'K';
            }
        }
        if (write(sv[1], &ok, 1) == 1) {
            ssize_t n = read(sv[1], &ok, 1);
            (void)n;
        }
        _exit(0);
    }
    close(sv[1]);
    int rc = 0;
    char c = 0;
    if (read(sv[0], &c, 1) != 1 || c != 'K') {
        rc = core_err_set(err, CORE_EUNSUPPORTED, "netns: bringing up loopback failed");
    } else {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
        *out = open(path, O_RDONLY | O_CLOEXEC);
        if (*out < 0) {
            rc = core_err_set(err, CORE_ERROR, "netns: open %s: %s", path, strerror(errno));
        }
    }
    close(sv[0]); /* the child reads EOF and exits */
    waitpid(pid, NULL, 0);
    return rc;
}
