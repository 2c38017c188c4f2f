/*
 * Per-slot zygotes. Starting `python3 -I -S` twice per run is a large part of a sandboxed run's
 * CPU, so each slot keeps one interpreter per side (tests, candidate) that has loaded its
 * harness once (harness/zygote.py) and forks a fresh box for every run. The zygote is started
 * with posix_spawn, the boxes' environment and no descriptor but its control socket (fd 3),
 * runs as root outside any box and only ever reads that socket, so candidate code never runs
 * in it or in anything it keeps. A box request is one SOCK_SEQPACKET message: text fields
 * (tmpfs options, number of box descriptors, rlimits, number of cgroups) plus, by SCM_RIGHTS,
 * the sync socket, the status pipe, the slot's network namespace, the cgroup.procs files to
 * join (opened here, so that no host path is in a box's memory) and the box's descriptors. The
 * zygote answers with a raw clone into fresh pid, mount, IPC and UTS
 * namespaces (the box's init) that goes through the same stages as box.c's child (cgroups,
 * tmpfs root, user and cgroup namespaces, uid 1000, no capabilities, no_new_privs, rlimits,
 * seccomp) and then forks the payload: the same two processes as an exec'd box. It reports on
 * the sync socket like box.c's child, so the service writes the uid map and turns failures into
 * errors with box.c's code. Each run still gets fresh processes, namespaces and a fresh root;
 * only the interpreter's start-up is shared, as copy-on-write memory.
 */
#include "sandbox/sbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* The boxes inherit the zygote's environment: the same as pyrun.c gives an exec'd box. */
static const char *const zyg_env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/work",
                                      "TMPDIR=/tmp", NULL};

void sbx__zyg_init(sbx__zyg *z)
{
    z->pid = 0;
    z->ctl = -1;
}

void sbx__zyg_stop(sbx__zyg *z)
{
    if (z->ctl >= 0) {
        close(z->ctl);
        z->ctl = -1;
    }
    if (z->pid > 0) {
        kill(z->pid, SIGKILL);
        waitpid(z->pid, NULL, 0);
        z->pid = 0;
    }
}

static int send_all(int fd, const void *data, size_t len)
{
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    return n == (ssize_t)len ? 0 : -1;
}

int sbx__zyg_start(sbx__zyg *z, const char *python, const char *src, size_t len,
                   const sbx__filter *filter, core_err *err)
{
    int rc = 0;
    int sv[2] = {-1, -1};
    bool fa_ready = false, at_ready = false;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sbx__zyg_init(z);
    if (access(python, X_OK) < 0) {
        return core_err_set(err, errno == ENOENT ? CORE_ENOTFOUND : CORE_ERROR, "box: %s: %s",
                            python, errno == ENOENT ? "not found" : strerror(errno));
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        return core_err_set(err, CORE_ERROR, "zygote: socketpair: %s", strerror(errno));
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        rc = core_err_set(err, CORE_ENOMEM, "zygote: out of memory");
        goto done;
    }
    fa_ready = true;
    if (posix_spawnattr_init(&at) != 0) {
        rc = core_err_set(err, CORE_ENOMEM, "zygote: out of memory");
        goto done;
    }
    at_ready = true;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, sv[1], 3) != 0 ||
        posix_spawn_file_actions_addclosefrom_np(&fa, 4) != 0 ||
        posix_spawnattr_setsigdefault(&at, &all) != 0 ||
        posix_spawnattr_setsigmask(&at, &none) != 0 ||
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) != 0) {
        rc = core_err_set(err, CORE_ENOMEM, "zygote: out of memory");
        goto done;
    }
    const char *const argv[] = {python, "-I", "-S", "-B", "-c", sbx__harness_zygote_py, NULL};
    pid_t pid = 0;
    int e = posix_spawn(&pid, python, &fa, &at, (char *const *)argv, (char *const *)zyg_env);
    if (e != 0) {
        rc = core_err_set(err, e == ENOENT ? CORE_ENOTFOUND : CORE_ERROR, "box: %s: %s", python,
                          e == ENOENT ? "not found" : strerror(e));
        goto done;
    }
    z->pid = pid;
    z->ctl = sv[0];
    sv[0] = -1;
    if (send_all(z->ctl, src, len) < 0 ||
        send_all(z->ctl, filter->insns, filter->n_insns * sizeof filter->insns[0]) < 0) {
        rc = core_err_set(err, CORE_ERROR, "zygote %d: sending the harness: %s", (int)pid,
                          strerror(errno));
        goto done;
    }
done:
    if (fa_ready) {
        posix_spawn_file_actions_destroy(&fa);
    }
    if (at_ready) {
        posix_spawnattr_destroy(&at);
    }
    for (int i = 0; i < 2; i++) {
        if (sv[i] >= 0) {
            close(sv[i]);
        }
    }
    if (rc < 0) {
        sbx__zyg_stop(z);
    }
    return rc;
}

/* Sends one box request; -1 with errno when the zygote is gone. */
static int send_request(const sbx__zyg *z, const char *text, size_t len, const int *fds,
                        size_t n_fds)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * (SBX__BOX_FDS_MAX + 6))];
    } cm;
    memset(&cm, 0, sizeof cm);
    struct iovec iov = {.iov_base = (void *)text, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    msg.msg_control = cm.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
    ssize_t n = sendmsg(z->ctl, &msg, MSG_NOSIGNAL);
    return n == (ssize_t)len ? 0 : -1;
}

/* How long a box's setup may take before the zygote is taken for stuck. */
#define SETUP_TIMEOUT_MS 10000

static ssize_t read_exact(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, SETUP_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            break;
        }
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* One try of a box request. *gone says that the zygote did not take it: the send failed, or
 * the sync socket closed before the first record (the zygote died with the request queued). */
static int spawn_once(sbx__zyg *z, pid_t *out, int *status_fd, const sbx__box_spec *spec,
                      const char *text, size_t len, const char *python, bool *gone, core_err *err)
{
    int rc = 0;
    int sv[2] = {-1, -1};
    int st[2] = {-1, -1};
    int cg[3] = {-1, -1, -1};
    int devnull = -1;
    *gone = false;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(st, O_CLOEXEC) < 0) {
        rc = core_err_set(err, CORE_ERROR, "box: socketpair: %s", strerror(errno));
        goto done;
    }
    /* sync, status, netns, the cgroup.procs files, then the box's descriptors */
    int fds[SBX__BOX_FDS_MAX + 6] = {sv[1], st[1], spec->netns_fd};
    size_t n_fds = 3;
    for (size_t i = 0; i < spec->cg->n_procs && i < 3; i++) {
        cg[i] = open(spec->cg->procs[i], O_WRONLY | O_CLOEXEC);
        if (cg[i] < 0) {
            rc = core_err_set(err, CORE_EUNSUPPORTED, "box: joining the cgroup: %s: %s",
                              spec->cg->procs[i], strerror(errno));
            goto done;
        }
        fds[n_fds++] = cg[i];
    }
    for (size_t i = 0; i < spec->n_fds; i++) {
        int fd = spec->fds[i];
        if (fd < 0) {
            if (devnull < 0) {
                devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
            }
            fd = devnull;
        }
        if (fd < 0) {
            rc = core_err_set(err, CORE_ERROR, "box: /dev/null: %s", strerror(errno));
            goto done;
        }
        fds[n_fds++] = fd;
    }
    if (send_request(z, text, len, fds, n_fds) < 0) {
        *gone = true;
        rc = core_err_set(err, CORE_ERROR, "zygote %d: sending a box request: %s", (int)z->pid,
                          strerror(errno));
        goto done;
    }
    close(sv[1]);
    sv[1] = -1;
    close(st[1]);
    st[1] = -1;

    /* The zygote's 'P' (the box's pid) and the box's 'U' (map my ids) may come in either
     * order; 'R' means ready, anything else is a failure record. */
    int rec[2] = {0, 0};
    pid_t pid = 0;
    bool want_map = false;
    bool any = false;
    for (;;) {
        char c = 0;
        if (read_exact(sv[0], &c, 1) != 1) {
            *gone = !any;
            rc = core_err_set(err, CORE_ERROR,
                              any ? "box: the zygote's box ended during its setup"
                                  : "zygote %d: ended before its box started",
                              (int)z->pid);
            goto done;
        }
        any = true;
        if (c == 'P' && pid == 0) {
            int p = 0;
            if (read_exact(sv[0], &p, sizeof p) != (ssize_t)sizeof p || p <= 0) {
                rc = core_err_set(err, CORE_ERROR, "box: the zygote's box vanished");
                goto done;
            }
            pid = (pid_t)p;
        } else if (c == 'U' && !want_map) {
            want_map = true;
        } else if (c == 'R' && pid > 0 && !want_map) {
            *out = pid;
            *status_fd = st[0];
            st[0] = -1;
            goto done;
        } else {
            /* the first byte of a failure record */
            char rest[sizeof rec];
            rest[0] = c;
            if (read_exact(sv[0], rest + 1, sizeof rec - 1) == (ssize_t)(sizeof rec - 1)) {
                memcpy(rec, rest, sizeof rec);
            }
            rc = sbx__box_fail(rec, python, err);
            goto done;
        }
        if (want_map && pid > 0) {
            rc = sbx__box_map_ids(pid, spec->host_uid, err);
            if (rc < 0) {
                goto done;
            }
            c = 'M';
            if (write(sv[0], &c, 1) != 1) {
                rc = core_err_set(err, CORE_ERROR, "box: child %d vanished", (int)pid);
                goto done;
            }
            want_map = false;
        }
    }
done:
    if (devnull >= 0) {
        close(devnull);
    }
    for (int i = 0; i < 3; i++) {
        if (cg[i] >= 0) {
            close(cg[i]);
        }
    }
    for (int i = 0; i < 2; i++) {
        if (sv[i] >= 0) {
            close(sv[i]);
        }
        if (st[i] >= 0) {
            close(st[i]);
        }
    }
    return rc;
}

int sbx__zyg_spawn(sbx__zyg *z, pid_t *out, int *status_fd, const sbx__box_spec *spec,
                   const char *python, const char *src, size_t len, core_err *err)
{
    *out = 0;
    *status_fd = -1;
    CORE_ASSERT(spec->n_fds <= SBX__BOX_FDS_MAX);
    const sbx_limits *lim = spec->limits;
    char text[4096];
    int n = snprintf(text, sizeof text, "size=%um,nr_inodes=%u,mode=755\n%zu\n%llu\n%u\n%u",
                     lim->disk_mb > 0 ? lim->disk_mb : 64,
                     lim->disk_inodes > 0 ? lim->disk_inodes : 4096, spec->n_fds,
                     (unsigned long long)lim->file_mb << 20, lim->n_files,
                     lim->cpu_ms > 0 ? lim->cpu_ms / 1000 + 2 : 0);
    if (n > 0 && (size_t)n < sizeof text) {
        n += snprintf(text + n, sizeof text - (size_t)n, "\n%zu",
                      spec->cg->n_procs < 3 ? spec->cg->n_procs : 3);
    }
    if (n <= 0 || (size_t)n >= sizeof text) {
        return core_err_set(err, CORE_EINVAL, "zygote: box request too long");
    }
    /* A zygote that died (or was never started) is started again, once. */
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (z->pid <= 0) {
            rc = sbx__zyg_start(z, python, src, len, spec->filter, err);
            if (rc < 0) {
                break;
            }
        }
        bool gone = false;
        rc = spawn_once(z, out, status_fd, spec, text, (size_t)n, python, &gone, err);
        if (rc == 0 || !gone) {
            break;
        }
        sbx__zyg_stop(z);
    }
    if (rc < 0) {
        sbx__cg_kill(spec->cg); /* whatever the zygote started for this box */
    }
    return rc;
}
