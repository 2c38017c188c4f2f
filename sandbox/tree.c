/*
 * Tree runs: a shell command over a copy of a source tree, for running a repository's own tests
 * on a snapshot (kiln patch). The runner owns what a pool slot owns (a cgroup leaf, a network
 * namespace with only loopback, the seccomp program) and starts one box per run with box.c's
 * launcher, so a tree run is confined exactly like a candidate run. The tree travels as one
 * ustar archive (POSIX.1-1988 ustar headers: name/prefix split, octal fields, checksum over the
 * header with the checksum field as blanks), written into the box's tmpfs before the box drops
 * its privileges and unpacked by /bin/tar inside the box as the sandbox user; the host's file
 * system is never written. Paths are checked before packing: relative, no "." or ".."
 * components, so the archive names nothing outside /work; symbolic links are kept and resolve
 * inside the box, where the rest of the host is not reachable.
 */
#include "sandbox/sbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct sbx_tree {
    sbx_tree_options opts;
    sbx__filter filter;
    bool filter_ok;
    sbx__cg_host cg_host;
    bool cg_host_ok;
    sbx__cg cg;
    bool cg_ok;
    int netns_fd;
};

enum { TAR_BLOCK = 512, TREE_OUT_CAP = 256 * 1024 };

/* The unpack step reports its failure with this exit status and line, so it cannot be mistaken
 * for the command's own. */
static const char unpack_fail[] = "kiln-tree: unpacking the tree failed";

static const char tree_script[] = "cd /work || exit 125\n"
                                  "/bin/tar -xf /kiln/tree.tar --no-same-owner -m 2>&1 || "
                                  "{ echo 'kiln-tree: unpacking the tree failed'; exit 125; }\n"
                                  "exec /bin/sh -c \"$0\"\n";

static const char *const tree_env[] = {"PATH=/usr/bin:/bin",
                                       "LANG=C.UTF-8",
                                       "HOME=/work",
                                       "TMPDIR=/tmp",
                                       "PYTHONDONTWRITEBYTECODE=1",
                                       NULL};

sbx_tree_options sbx_tree_options_default(void)
{
    sbx_tree_options o = {.uid = 3190000};
    return o;
}

void sbx_tree_free(sbx_tree *tree)
{
    if (tree == NULL) {
        return;
    }
    if (tree->cg_ok) {
        sbx__cg_dispose(&tree->cg);
    }
    if (tree->cg_host_ok) {
        sbx__cg_host_dispose(&tree->cg_host);
    }
    if (tree->netns_fd >= 0) {
        close(tree->netns_fd);
    }
    if (tree->filter_ok) {
        sbx__filter_dispose(&tree->filter);
    }
    core_free(tree);
}

int sbx_tree_new(sbx_tree **out, const sbx_tree_options *opts, core_err *err)
{
    *out = NULL;
    sbx_tree_options o = opts != NULL ? *opts : sbx_tree_options_default();
    if (o.uid == 0 || o.uid <= (uint32_t)geteuid()) {
        return core_err_set(err, CORE_EINVAL,
                            "sandbox tree: uid %u must be above root and the service's uid", o.uid);
    }
    if (geteuid() != 0) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "sandbox tree: needs root (namespaces, cgroups)");
    }
    sbx_tree *t = core_calloc(1, sizeof *t);
    if (t == NULL) {
        return core_err_set(err, CORE_ENOMEM, "sandbox tree: out of memory");
    }
    t->opts = o;
    t->netns_fd = -1;
    int rc = sbx__filter_init(&t->filter, err);
    if (rc < 0) {
        goto done;
    }
    t->filter_ok = true;
    char tag[64];
    /* the pool's naming, so that its sweep removes what a killed process left */
    snprintf(tag, sizeof tag, "kiln-sbx-%d-tree%lx", (int)getpid(), (unsigned long)(uintptr_t)t);
    rc = sbx__cg_host_init(&t->cg_host, tag, err);
    if (rc < 0) {
        goto done;
    }
    t->cg_host_ok = true;
    rc = sbx__cg_init(&t->cg, &t->cg_host, "run", err);
    if (rc < 0) {
        goto done;
    }
    t->cg_ok = true;
    rc = sbx__netns_new(&t->netns_fd, err);
done:
    if (rc < 0) {
        sbx_tree_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void sbx_tree_result_dispose(sbx_tree_result *result)
{
    if (result == NULL) {
        return;
    }
    core_buf_dispose(&result->out);
    memset(result, 0, sizeof *result);
}

/* ---- the archive ------------------------------------------------------------------------- */

static bool path_is_safe(core_str p)
{
    if (p.len == 0 || p.ptr[0] == '/') {
        return false;
    }
    size_t start = 0;
    for (size_t i = 0; i <= p.len; i++) {
        if (i < p.len && p.ptr[i] == '\0') {
            return false;
        }
        if (i == p.len || p.ptr[i] == '/') {
            size_t n = i - start;
            if (n == 0 || (n == 1 && p.ptr[start] == '.') ||
                (n == 2 && p.ptr[start] == '.' && p.ptr[start + 1] == '.')) {
                return false;
            }
            start = i + 1;
        }
    }
    return true;
}

static void put_octal(char *field, size_t width, uint64_t v)
{
    /* width - 1 digits and a NUL, as ustar writes them */
    field[width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0;) {
        field[i] = (char)('0' + (v & 7u));
        v >>= 3;
    }
}

/* Splits path into ustar's prefix (155) and name (100) at a '/'; false when it cannot. */
static bool split_path(core_str p, size_t *cut)
{
    if (p.len <= 100) {
        *cut = 0;
        return true;
    }
    for (size_t i = p.len; i-- > 0;) {
        if (i <= 155 && p.ptr[i] == '/' && p.len - i - 1 <= 100 && p.len - i - 1 > 0) {
            *cut = i + 1;
            return true;
        }
    }
    return false;
}

static int tar_add(core_buf *tar, const sbx_tree_file *f, core_err *err)
{
    if (!path_is_safe(f->path)) {
        return core_err_set(err, CORE_EINVAL, "sandbox tree: unsafe path '%.*s'",
                            (int)(f->path.len > 200 ? 200 : f->path.len), f->path.ptr);
    }
    size_t cut = 0;
    if (!split_path(f->path, &cut)) {
        return core_err_set(err, CORE_EINVAL, "sandbox tree: path too long for the archive: '%.*s'",
                            (int)(f->path.len > 200 ? 200 : f->path.len), f->path.ptr);
    }
    if (f->symlink &&
        (f->data.len == 0 || f->data.len >= 100 || memchr(f->data.ptr, 0, f->data.len))) {
        return core_err_set(err, CORE_EINVAL, "sandbox tree: symlink '%.*s': unusable target",
                            (int)f->path.len, f->path.ptr);
    }
    size_t body = f->symlink ? 0 : (f->data.len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    if (core_buf_reserve(tar, TAR_BLOCK + body) < 0) {
        return core_err_set(err, CORE_ENOMEM, "sandbox tree: out of memory packing the tree");
    }
    char *h = tar->ptr + tar->len;
    memset(h, 0, TAR_BLOCK + body);
    if (cut > 0) {
        memcpy(h + 345, f->path.ptr, cut - 1);
        memcpy(h, f->path.ptr + cut, f->path.len - cut);
    } else {
        memcpy(h, f->path.ptr, f->path.len);
    }
    put_octal(h + 100, 8, f->exec ? 0755 : 0644);
    put_octal(h + 108, 8, 1000);
    put_octal(h + 116, 8, 1000);
    put_octal(h + 124, 12, f->symlink ? 0 : f->data.len);
    put_octal(h + 136, 12, 0);
    h[156] = f->symlink ? '2' : '0';
    if (f->symlink) {
        /* a fixed-width field: NUL-padded by the memset above, not a C string */
        memcpy(h + 157, f->data.ptr, f->data.len); // NOLINT(bugprone-not-null-terminated-result)
    }
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2); // NOLINT(bugprone-not-null-terminated-result): the version field
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++) {
        sum += (unsigned char)h[i];
    }
    put_octal(h + 148, 7, sum);
    h[155] = ' ';
    if (!f->symlink && f->data.len > 0) {
        memcpy(h + TAR_BLOCK, f->data.ptr, f->data.len);
    }
    tar->len += TAR_BLOCK + body;
    tar->ptr[tar->len] = '\0';
    return 0;
}

static int tar_build(core_buf *tar, const sbx_tree_job *job, core_err *err)
{
    for (size_t i = 0; i < job->n_files; i++) {
        int rc = tar_add(tar, &job->files[i], err);
        if (rc < 0) {
            return rc;
        }
    }
    /* two zero blocks end the archive */
    if (core_buf_reserve(tar, 2 * TAR_BLOCK) < 0) {
        return core_err_set(err, CORE_ENOMEM, "sandbox tree: out of memory packing the tree");
    }
    memset(tar->ptr + tar->len, 0, 2 * TAR_BLOCK);
    tar->len += 2 * TAR_BLOCK;
    tar->ptr[tar->len] = '\0';
    return 0;
}

/* ---- the run ----------------------------------------------------------------------------- */

static void classify(sbx_tree_result *res, int status, const sbx__cg_stat *st0,
                     const sbx__cg_stat *st1, const sbx_limits *lim, sbx_limit hit)
{
    res->cpu_ms = (st1->cpu_us - st0->cpu_us) / 1000u;
    if (WIFEXITED(status)) {
        res->exit_code = WEXITSTATUS(status);
    } else {
        res->exit_code = -1;
        res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    }
    if (hit == SBX_LIMIT_NONE && st1->n_oom_kills > st0->n_oom_kills) {
        hit = SBX_LIMIT_MEMORY;
    }
    if (hit == SBX_LIMIT_NONE && st1->n_pids_max > st0->n_pids_max) {
        hit = SBX_LIMIT_PROCESSES;
    }
    if (hit == SBX_LIMIT_NONE && lim->cpu_ms > 0 && res->cpu_ms > lim->cpu_ms) {
        hit = SBX_LIMIT_CPU;
    }
    if (hit == SBX_LIMIT_NONE && res->signal == SIGXFSZ) {
        hit = SBX_LIMIT_FILE_SIZE;
    }
    res->limit = hit;
}

int sbx_tree_run(sbx_tree_result *res, sbx_tree *t, const sbx_tree_job *job, core_err *err)
{
    memset(res, 0, sizeof *res);
    if (job->command == NULL || job->command[0] == '\0') {
        return core_err_set(err, CORE_EINVAL, "sandbox tree: empty command");
    }
    core_buf tar = {0};
    int outp[2] = {-1, -1};
    int pidfd = -1;
    int status_fd = -1;
    pid_t pid = 0;
    int rc = tar_build(&tar, job, err);
    if (rc < 0) {
        goto done;
    }
    sbx_limits lim = job->limits;
    uint64_t need_mb = (uint64_t)tar.len * 2u / (1u << 20) + 64u;
    if (lim.disk_mb == 0) {
        lim.disk_mb = need_mb > UINT32_MAX ? UINT32_MAX : (uint32_t)need_mb;
    } else if (need_mb > lim.disk_mb) {
        rc = core_err_set(err, CORE_ELIMIT,
                          "sandbox tree: the tree (%zu bytes packed) does not fit the box's %u MiB",
                          tar.len, lim.disk_mb);
        goto done;
    }
    if (lim.disk_inodes > 0 && lim.disk_inodes < job->n_files * 2 + 256) {
        lim.disk_inodes = (uint32_t)(job->n_files * 2 + 256);
    }
    uint64_t mem = lim.mem_mb > 0 ? (uint64_t)lim.mem_mb << 20 : 0;
    rc = sbx__cg_set_limits(&t->cg, mem, lim.n_procs, err);
    if (rc < 0) {
        goto done;
    }
    if (pipe2(outp, O_CLOEXEC) < 0) {
        rc = core_err_set(err, CORE_ERROR, "sandbox tree: pipe: %s", strerror(errno));
        goto done;
    }
    const char *argv[] = {"/bin/sh", "-c", tree_script, job->command, NULL};
    sbx__file files[] = {{.path = "kiln/tree.tar", .data = tar.ptr, .len = tar.len, .mode = 0444}};
    sbx__box_spec spec = {
        .argv = argv,
        .envp = tree_env,
        .fds = {-1, outp[1], outp[1]},
        .n_fds = 3,
        .files = files,
        .n_files = 1,
        .host_uid = t->opts.uid,
        .limits = &lim,
        .cg = &t->cg,
        .netns_fd = t->netns_fd,
        .filter = &t->filter,
    };
    sbx__cg_stat st0;
    sbx__cg_read(&t->cg, &st0);
    uint64_t t0 = core_time_ns();
    rc = sbx__box_start(&pid, &status_fd, &spec, err);
    if (rc < 0) {
        goto done;
    }
    close(outp[1]);
    outp[1] = -1;
    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    sbx__watch w = {
        .job_fd = {-1, -1},
        .in_fd = {outp[0], -1, -1, -1},
        .in_buf = {&res->out, NULL, NULL, NULL},
        .in_cap = {TREE_OUT_CAP, 0, 0, 0},
        .in_counted = {true, false, false, false},
        .end_fd = pidfd,
        .end_pipe = -1,
    };
    sbx__watch_baseline(&w, &t->cg, &lim, t0, &st0, &job->cancel);
    rc = sbx__watch_run(&w, err);
    res->wall_ms = (core_time_ns() - t0) / 1000000u;
    uint64_t extra = 0;
    sbx__cg_stat st1;
    const int status =
        sbx__watch_reap(&st1, &extra, pid, status_fd, &t->cg, (const int[2]){outp[0], -1},
                        (core_buf *const[2]){&res->out, NULL}, (const size_t[2]){TREE_OUT_CAP, 0});
    pid = 0;
    res->n_out_bytes = w.n_out_bytes + extra;
    if (rc < 0) {
        goto done;
    }
    if (w.canceled) {
        rc = core_err_set(err, CORE_ECANCELED, "sandbox tree: canceled");
        goto done;
    }
    classify(res, status, &st0, &st1, &lim, w.hit);
    if (res->limit == SBX_LIMIT_NONE && res->exit_code == 125 && res->out.ptr != NULL &&
        strstr(res->out.ptr, unpack_fail) != NULL) {
        rc = core_err_set(err, CORE_ERROR, "sandbox tree: unpacking the tree failed: %.200s",
                          res->out.ptr);
    }
done:
    if (pid > 0) {
        sbx__cg_kill(&t->cg);
        waitpid(pid, NULL, 0);
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    if (status_fd >= 0) {
        close(status_fd);
    }
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0) {
            close(outp[i]);
        }
    }
    core_buf_dispose(&tar);
    return rc;
}
