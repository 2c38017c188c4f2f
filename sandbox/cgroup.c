/*
 * Cgroups for the sandbox's limits and kills. Two layouts are handled: pure cgroup v2 (one
 * hierarchy at /sys/fs/cgroup with the memory and pids controllers delegated), and the hybrid
 * layout of our CI machines, where cgroup2 at /sys/fs/cgroup/unified gives cgroup.kill and
 * cpu.stat while memory and pids are v1 controllers at /sys/fs/cgroup/{memory,pids}. The pool's
 * folders are nested under the cgroups the service itself is in (read from /proc/self/cgroup),
 * so the service's own limits still bound the sandboxes. Counters (CPU, OOM kills, fork
 * failures at pids.max, peak memory) are read before and after a run and reported as deltas.
 * References: Documentation/admin-guide/cgroup-v2.rst; cgroup-v1/memory.rst, pids.rst.
 */
#include "sandbox/sbx_int.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define CGROUP2_MAGIC 0x63677270

/* out = a/b; false when it does not fit. */
static bool join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n >= 0 && (size_t)n < cap;
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[SBX__PATH_MAX + 64];
    if (!join(path, sizeof path, dir, name)) {
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

/* Reads a small file into buf (NUL-terminated); returns bytes or -errno. */
static ssize_t read_file(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[SBX__PATH_MAX + 64];
    if (!join(path, sizeof path, dir, name)) {
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read(fd, buf, cap - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        return -e;
    }
    buf[n] = '\0';
    return n;
}

/* Finds "key value" in text and returns value (0 when absent). */
static uint64_t keyed_value(const char *text, const char *key)
{
    size_t klen = strlen(key);
    const char *p = text;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
            return strtoull(p + klen + 1, NULL, 10);
        }
        p = strchr(p, '\n');
        if (p != NULL) {
            p++;
        }
    }
    return 0;
}

/* Finds this process's path in the hierarchy named by key ("0:" entry for v2, a controller
 * name for v1) in /proc/self/cgroup. */
static int own_path(char *out, size_t cap, const char *controller)
{
    char buf[4096];
    ssize_t n = read_file("/proc/self", "cgroup", buf, sizeof buf);
    if (n < 0) {
        return (int)n;
    }
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL) {
            continue;
        }
        *c2 = '\0';
        const char *ctrls = c1 + 1;
        bool match = false;
        if (controller == NULL) {
            match = strncmp(line, "0", (size_t)(c1 - line)) == 0 && *ctrls == '\0';
        } else {
            /* the controller list is comma-separated */
            size_t clen = strlen(controller);
            for (const char *q = ctrls; q != NULL && *q != '\0';) {
                if (strncmp(q, controller, clen) == 0 && (q[clen] == ',' || q[clen] == '\0')) {
                    match = true;
                    break;
                }
                q = strchr(q, ',');
                if (q != NULL) {
                    q++;
                }
            }
        }
        if (match) {
            snprintf(out, cap, "%s", strcmp(c2 + 1, "/") == 0 ? "" : c2 + 1);
            return 0;
        }
    }
    return -ENOENT;
}

static bool is_cgroup2(const char *path)
{
    struct statfs st;
    return statfs(path, &st) == 0 && st.f_type == CGROUP2_MAGIC;
}

/* Removes the empty folders that pools of dead processes left in parent (a service killed
 * before sbx_pool_free): "kiln-sbx-<pid>-..." whose pid is gone, and their empty leaves. */
static void sweep_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "kiln-sbx-", 9) != 0) {
            continue;
        }
        char *end = NULL;
        long pid = strtol(e->d_name + 9, &end, 10);
        if (end == e->d_name + 9 || *end != '-' || pid <= 0 ||
            (kill((pid_t)pid, 0) == 0 || errno != ESRCH)) {
            continue;
        }
        char dir[SBX__PATH_MAX];
        if (!join(dir, sizeof dir, parent, e->d_name)) {
            continue;
        }
        DIR *sub = opendir(dir);
        if (sub != NULL) {
            struct dirent *f;
            while ((f = readdir(sub)) != NULL) {
                char leaf[SBX__PATH_MAX];
                if (f->d_type == DT_DIR && f->d_name[0] != '.' &&
                    join(leaf, sizeof leaf, dir, f->d_name)) {
                    rmdir(leaf);
                }
            }
            closedir(sub);
        }
        rmdir(dir);
    }
    closedir(d);
}

static int make_dir(const char *path, core_err *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        return core_err_set(err,
                            errno == EACCES || errno == EPERM || errno == EROFS ? CORE_EUNSUPPORTED
                                                                                : CORE_ERROR,
                            "cgroup %s: mkdir: %s", path, strerror(errno));
    }
    return 0;
}

int sbx__cg_host_init(sbx__cg_host *host, const char *tag, core_err *err)
{
    memset(host, 0, sizeof *host);
    char own[SBX__PATH_MAX / 2];
    if (is_cgroup2("/sys/fs/cgroup")) {
        host->layout = SBX__CG_V2;
        if (own_path(own, sizeof own, NULL) < 0) {
            return core_err_set(err, CORE_EUNSUPPORTED, "cgroup v2: no entry in /proc/self/cgroup");
        }
        char parent0[SBX__PATH_MAX];
        snprintf(parent0, sizeof parent0, "/sys/fs/cgroup%s", own);
        sweep_stale(parent0);
        if (!join(host->v2_base, sizeof host->v2_base, parent0, tag)) {
            return core_err_set(err, CORE_EINVAL, "cgroup %s: path too long", parent0);
        }
        char ctl[256];
        char parent[SBX__PATH_MAX];
        snprintf(parent, sizeof parent, "/sys/fs/cgroup%s", own);
        if (read_file(parent, "cgroup.controllers", ctl, sizeof ctl) < 0 ||
            strstr(ctl, "memory") == NULL || strstr(ctl, "pids") == NULL) {
            return core_err_set(err, CORE_EUNSUPPORTED,
                                "cgroup v2: the memory and pids controllers are not delegated to "
                                "%s",
                                parent);
        }
        int rc = make_dir(host->v2_base, err);
        if (rc < 0) {
            return rc;
        }
        if (write_file(host->v2_base, "cgroup.subtree_control", "+memory +pids") < 0) {
            rmdir(host->v2_base);
            return core_err_set(err, CORE_EUNSUPPORTED,
                                "cgroup v2: cannot enable memory and pids in %s (enable them in "
                                "%s/cgroup.subtree_control)",
                                host->v2_base, parent);
        }
        return 0;
    }
    if (!is_cgroup2("/sys/fs/cgroup/unified")) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "cgroup v2: no cgroup2 hierarchy at /sys/fs/cgroup or "
                            "/sys/fs/cgroup/unified (needed for cgroup.kill)");
    }
    host->layout = SBX__CG_HYBRID;
    if (own_path(own, sizeof own, NULL) < 0) {
        return core_err_set(err, CORE_EUNSUPPORTED, "cgroup v2: no entry in /proc/self/cgroup");
    }
    {
        char parent0[SBX__PATH_MAX];
        snprintf(parent0, sizeof parent0, "/sys/fs/cgroup/unified%s", own);
        if (!join(host->v2_base, sizeof host->v2_base, parent0, tag)) {
            return core_err_set(err, CORE_EINVAL, "cgroup %s: path too long", parent0);
        }
    }
    if (own_path(own, sizeof own, "memory") < 0) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "cgroup v1: the memory controller is not mounted");
    }
    {
        char parent0[SBX__PATH_MAX];
        snprintf(parent0, sizeof parent0, "/sys/fs/cgroup/memory%s", own);
        if (!join(host->mem_base, sizeof host->mem_base, parent0, tag)) {
            return core_err_set(err, CORE_EINVAL, "cgroup %s: path too long", parent0);
        }
    }
    if (own_path(own, sizeof own, "pids") < 0) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "cgroup v1: the pids controller is not mounted");
    }
    {
        char parent0[SBX__PATH_MAX];
        snprintf(parent0, sizeof parent0, "/sys/fs/cgroup/pids%s", own);
        if (!join(host->pid_base, sizeof host->pid_base, parent0, tag)) {
            return core_err_set(err, CORE_EINVAL, "cgroup %s: path too long", parent0);
        }
    }
    for (int i = 0; i < 3; i++) {
        char parent[SBX__PATH_MAX];
        const char *base = i == 0 ? host->v2_base : i == 1 ? host->mem_base : host->pid_base;
        snprintf(parent, sizeof parent, "%s", base);
        char *slash = strrchr(parent, '/');
        if (slash != NULL) {
            *slash = '\0';
            sweep_stale(parent);
        }
    }
    int rc = make_dir(host->v2_base, err);
    if (rc == 0) {
        rc = make_dir(host->mem_base, err);
    }
    if (rc == 0) {
        rc = make_dir(host->pid_base, err);
    }
    if (rc == 0) {
        char probe[SBX__PATH_MAX + 32];
        snprintf(probe, sizeof probe, "%s/cgroup.kill", host->v2_base);
        if (access(probe, F_OK) < 0) {
            rc = core_err_set(err, CORE_EUNSUPPORTED,
                              "cgroup v2: %s missing (cgroup.kill needs linux 5.14)", probe);
        }
    }
    if (rc < 0) {
        sbx__cg_host_dispose(host);
    }
    return rc;
}

void sbx__cg_host_dispose(sbx__cg_host *host)
{
    if (host == NULL) {
        return;
    }
    if (host->v2_base[0] != '\0') {
        rmdir(host->v2_base);
    }
    if (host->mem_base[0] != '\0') {
        rmdir(host->mem_base);
    }
    if (host->pid_base[0] != '\0') {
        rmdir(host->pid_base);
    }
}

int sbx__cg_init(sbx__cg *cg, const sbx__cg_host *host, const char *name, core_err *err)
{
    memset(cg, 0, sizeof *cg);
    cg->host = host;
    if (!join(cg->v2, sizeof cg->v2, host->v2_base, name) ||
        !join(cg->procs[0], sizeof cg->procs[0], cg->v2, "cgroup.procs")) {
        return core_err_set(err, CORE_EINVAL, "cgroup %s: path too long", host->v2_base);
    }
    int rc = make_dir(cg->v2, err);
    if (rc < 0) {
        return rc;
    }
    if (host->layout == SBX__CG_V2) {
        memcpy(cg->mem, cg->v2, sizeof cg->mem);
        memcpy(cg->pid, cg->v2, sizeof cg->pid);
        cg->n_procs = 1;
        return 0;
    }
    if (!join(cg->mem, sizeof cg->mem, host->mem_base, name) ||
        !join(cg->pid, sizeof cg->pid, host->pid_base, name) ||
        !join(cg->procs[1], sizeof cg->procs[1], cg->mem, "cgroup.procs") ||
        !join(cg->procs[2], sizeof cg->procs[2], cg->pid, "cgroup.procs")) {
        rmdir(cg->v2);
        return core_err_set(err, CORE_EINVAL, "cgroup %s: path too long", host->mem_base);
    }
    rc = make_dir(cg->mem, err);
    if (rc == 0) {
        rc = make_dir(cg->pid, err);
    }
    if (rc < 0) {
        rmdir(cg->v2);
        rmdir(cg->mem);
        return rc;
    }
    cg->n_procs = 3;
    return 0;
}

void sbx__cg_dispose(sbx__cg *cg)
{
    if (cg == NULL || cg->v2[0] == '\0') {
        return;
    }
    sbx__cg_kill(cg);
    sbx__cg_wait_empty(cg, 2000);
    /* v1 memory folders may stay busy for a moment after their last task left. */
    for (int i = 0; i < 200; i++) {
        bool left = false;
        if (rmdir(cg->v2) < 0 && errno != ENOENT) {
            left = true;
        }
        if (cg->host->layout == SBX__CG_HYBRID) {
            if (rmdir(cg->mem) < 0 && errno != ENOENT) {
                left = true;
            }
            if (rmdir(cg->pid) < 0 && errno != ENOENT) {
                left = true;
            }
        }
        if (!left) {
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cg->v2[0] = '\0';
}

int sbx__cg_set_limits(sbx__cg *cg, uint64_t mem_bytes, uint32_t n_procs, core_err *err)
{
    char text[32];
    int e = 0;
    if (cg->host->layout == SBX__CG_V2) {
        if (mem_bytes > 0) {
            snprintf(text, sizeof text, "%" PRIu64, mem_bytes);
        } else {
            snprintf(text, sizeof text, "max");
        }
        e = write_file(cg->mem, "memory.max", text);
        if (e == 0) {
            e = write_file(cg->mem, "memory.swap.max", "0");
            e = e == -ENOENT ? 0 : e;
        }
        if (e == 0) {
            /* resets the peak on linux 6.12+; older kernels refuse, which is fine */
            (void)write_file(cg->mem, "memory.peak", "0");
        }
    } else {
        /* -1 means unlimited in v1 */
        snprintf(text, sizeof text, "%lld", mem_bytes > 0 ? (long long)mem_bytes : -1LL);
        e = write_file(cg->mem, "memory.limit_in_bytes", text);
        if (e == 0) {
            e = write_file(cg->mem, "memory.max_usage_in_bytes", "0");
        }
    }
    if (e < 0) {
        return core_err_set(err, CORE_ERROR, "cgroup %s: setting the memory limit: %s", cg->mem,
                            strerror(-e));
    }
    if (n_procs > 0) {
        snprintf(text, sizeof text, "%u", n_procs);
    } else {
        snprintf(text, sizeof text, "max");
    }
    e = write_file(cg->pid, "pids.max", text);
    if (e < 0) {
        return core_err_set(err, CORE_ERROR, "cgroup %s: setting pids.max: %s", cg->pid,
                            strerror(-e));
    }
    return 0;
}

int sbx__cg_read(const sbx__cg *cg, sbx__cg_stat *stat)
{
    char buf[2048] = {0};
    memset(stat, 0, sizeof *stat);
    if (read_file(cg->v2, "cpu.stat", buf, sizeof buf) > 0) {
        stat->cpu_us = keyed_value(buf, "usage_usec");
    }
    if (read_file(cg->pid, "pids.events", buf, sizeof buf) > 0) {
        stat->n_pids_max = keyed_value(buf, "max");
    }
    if (cg->host->layout == SBX__CG_V2) {
        if (read_file(cg->mem, "memory.events", buf, sizeof buf) > 0) {
            stat->n_oom_kills = keyed_value(buf, "oom_kill");
        }
        if (read_file(cg->mem, "memory.peak", buf, sizeof buf) > 0) {
            stat->mem_peak = strtoull(buf, NULL, 10);
        }
    } else {
        if (read_file(cg->mem, "memory.oom_control", buf, sizeof buf) > 0) {
            stat->n_oom_kills = keyed_value(buf, "oom_kill");
        }
        if (read_file(cg->mem, "memory.max_usage_in_bytes", buf, sizeof buf) > 0) {
            stat->mem_peak = strtoull(buf, NULL, 10);
        }
    }
    return 0;
}

size_t sbx__cg_pids(const sbx__cg *cg, pid_t *out, size_t cap)
{
    char buf[4096] = {0};
    if (read_file(cg->v2, "cgroup.procs", buf, sizeof buf) <= 0) {
        return 0;
    }
    size_t n = 0;
    char *p = buf;
    while (*p != '\0' && n < cap) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        out[n++] = (pid_t)v;
        p = end;
        while (*p == '\n') {
            p++;
        }
    }
    return n;
}

int sbx__cg_kill(const sbx__cg *cg)
{
    int e = write_file(cg->v2, "cgroup.kill", "1");
    return e < 0 ? CORE_ERROR : 0;
}

int sbx__cg_wait_empty(const sbx__cg *cg, uint32_t timeout_ms)
{
    uint64_t deadline = core_time_ns() + (uint64_t)timeout_ms * 1000000u;
    char buf[256] = {0};
    for (;;) {
        if (read_file(cg->v2, "cgroup.events", buf, sizeof buf) < 0 ||
            strstr(buf, "populated 0") != NULL) {
            return 0;
        }
        if (core_time_ns() > deadline) {
            return CORE_ETIMEOUT;
        }
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}
