/*
 * The Python runner. A run uses two boxes started together: the tests box runs
 * harness/tests.py, the candidate box runs harness/cand.py, and two pipes join them. The tests
 * process calls the candidate's functions through proxies; the candidate's process answers with
 * plain values of exact types (harness/codec.py) and never sees the tests. Per-test records come
 * back on a pipe only the tests box holds, so no exit status, printed text or object from the
 * candidate can decide the verdict. Both boxes block reading their job socket first, so a pair
 * can be started before its job is known (the pool's prefork) and the run is the same either
 * way. Interpreters run as `python3 -I -S`: no environment, no user site, no site-packages.
 * With the slot's zygotes (zygote.c) the boxes are forked from interpreters that loaded the
 * harness once instead of exec'ing a new one; everything else about a run is the same.
 */
#include "sandbox/sbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const py_env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/work",
                                     "TMPDIR=/tmp", NULL};

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static int make_pipe(int p[2], core_err *err)
{
    if (pipe2(p, O_CLOEXEC) < 0) {
        return core_err_set(err, CORE_ERROR, "sandbox: pipe: %s", strerror(errno));
    }
    return 0;
}

static int make_job_socket(int sv[2], core_err *err)
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return core_err_set(err, CORE_ERROR, "sandbox: socketpair: %s", strerror(errno));
    }
    return 0;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
}

void sbx__pybox_init(sbx__pybox *box)
{
    memset(box, 0, sizeof *box);
    box->job_t = box->job_c = box->res_t = box->out_t = box->out_c = box->err_c = -1;
    box->status_t = box->status_c = box->root_c = -1;
}

int sbx__pybox_start(sbx__pybox *box, const sbx__env *env, const sbx_limits *limits, core_err *err)
{
    int rc = 0;
    int job_t[2] = {-1, -1}, job_c[2] = {-1, -1}, res[2] = {-1, -1}, out_t[2] = {-1, -1};
    int out_c[2] = {-1, -1}, err_c[2] = {-1, -1}, c2t[2] = {-1, -1}, t2c[2] = {-1, -1};
    sbx__pybox_init(box);

    if ((rc = make_job_socket(job_t, err)) < 0 || (rc = make_job_socket(job_c, err)) < 0 ||
        (rc = make_pipe(res, err)) < 0 || (rc = make_pipe(out_t, err)) < 0 ||
        (rc = make_pipe(out_c, err)) < 0 || (rc = make_pipe(err_c, err)) < 0 ||
        (rc = make_pipe(c2t, err)) < 0 || (rc = make_pipe(t2c, err)) < 0) {
        goto done;
    }
    const char *py = env->opts->python_path;
    /* Bytecode compiled once per pool (sbx__py_precompile) saves each interpreter the compile
     * of its harness; the sources are the fallback. */
    bool pyc = env->pyc_tests != NULL && env->pyc_cand != NULL;
    const char *const argv_t[] = {py,  "-I", "-S", "-B", pyc ? "/kiln/tests.pyc" : "/kiln/tests.py",
                                  NULL};
    const char *const argv_c[] = {py,  "-I", "-S", "-B", pyc ? "/kiln/cand.pyc" : "/kiln/cand.py",
                                  NULL};
    const sbx__file file_t =
        pyc ? (sbx__file){"kiln/tests.pyc", env->pyc_tests->ptr, env->pyc_tests->len, 0444}
            : (sbx__file){"kiln/tests.py", sbx__harness_tests_py, sbx__harness_tests_py_len, 0444};
    const sbx__file file_c =
        pyc ? (sbx__file){"kiln/cand.pyc", env->pyc_cand->ptr, env->pyc_cand->len, 0444}
            : (sbx__file){"kiln/cand.py", sbx__harness_cand_py, sbx__harness_cand_py_len, 0444};
    sbx_limits lim = *limits;
    lim.cpu_ms = 0; /* the job's CPU limit is applied when the job arrives */
    box->disk_mb = limits->disk_mb;
    box->disk_inodes = limits->disk_inodes;
    sbx__box_spec spec_t = {
        .argv = argv_t,
        .envp = py_env,
        .fds = {job_t[1], out_t[1], out_t[1], res[1], c2t[0], t2c[1]},
        .n_fds = 6,
        .files = &file_t,
        .n_files = 1,
        .host_uid = env->uid_tests,
        .limits = &lim,
        .cg = env->cg_tests,
        .netns_fd = env->netns_fd,
        .filter = env->filter,
    };
    box->foreign = env->zyg_t != NULL && env->zyg_c != NULL;
    if (box->foreign) {
        rc = sbx__zyg_spawn(env->zyg_t, &box->pid_t_, &box->status_t, &spec_t, py,
                            sbx__harness_tests_py, sbx__harness_tests_py_len, err);
    } else {
        rc = sbx__box_start(&box->pid_t_, &box->status_t, &spec_t, err);
    }
    if (rc < 0) {
        goto done;
    }
    sbx__box_spec spec_c = spec_t;
    spec_c.argv = argv_c;
    spec_c.files = &file_c;
    spec_c.host_uid = env->uid_cand;
    spec_c.cg = env->cg_cand;
    spec_c.fds[0] = job_c[1];
    spec_c.fds[1] = out_c[1];
    spec_c.fds[2] = err_c[1];
    spec_c.fds[3] = t2c[0];
    spec_c.fds[4] = c2t[1];
    spec_c.n_fds = 5;
    if (box->foreign) {
        rc = sbx__zyg_spawn(env->zyg_c, &box->pid_c, &box->status_c, &spec_c, py,
                            sbx__harness_cand_py, sbx__harness_cand_py_len, err);
    } else {
        rc = sbx__box_start(&box->pid_c, &box->status_c, &spec_c, err);
    }
    if (rc < 0) {
        goto done;
    }
    char root[64];
    snprintf(root, sizeof root, "/proc/%d/root", (int)box->pid_c);
    box->root_c = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    box->job_t = job_t[0];
    box->job_c = job_c[0];
    box->res_t = res[0];
    box->out_t = out_t[0];
    box->out_c = out_c[0];
    box->err_c = err_c[0];
    job_t[0] = job_c[0] = res[0] = out_t[0] = out_c[0] = err_c[0] = -1;
    set_nonblock(box->res_t);
    set_nonblock(box->out_t);
    set_nonblock(box->out_c);
    set_nonblock(box->err_c);
    box->started = true;
done : {
    int *all[] = {job_t, job_c, res, out_t, out_c, err_c, c2t, t2c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        close_fd(&all[i][0]);
        close_fd(&all[i][1]);
    }
}
    if (rc < 0) {
        sbx__pybox_stop(box, env);
    }
    return rc;
}

void sbx__pybox_stop(sbx__pybox *box, const sbx__env *env)
{
    box->dying = false;
    if (box->pid_t_ > 0 || box->pid_c > 0) {
        sbx__cg_kill(env->cg_tests);
        sbx__cg_kill(env->cg_cand);
    }
    /* A zygote's boxes are not our children: their zygote reaps them. */
    if (box->pid_t_ > 0 && !box->foreign) {
        waitpid(box->pid_t_, NULL, 0);
    }
    if (box->pid_c > 0 && !box->foreign) {
        waitpid(box->pid_c, NULL, 0);
    }
    if (box->pid_t_ > 0 || box->pid_c > 0) {
        sbx__cg_wait_empty(env->cg_tests, 2000);
        sbx__cg_wait_empty(env->cg_cand, 2000);
    }
    box->pid_t_ = box->pid_c = 0;
    close_fd(&box->job_t);
    close_fd(&box->job_c);
    close_fd(&box->res_t);
    close_fd(&box->out_t);
    close_fd(&box->out_c);
    close_fd(&box->err_c);
    close_fd(&box->status_t);
    close_fd(&box->status_c);
    close_fd(&box->root_c);
    box->started = false;
}

/* Appends a codec frame holding the tuple (a, b) of two strings. */
static int encode_pair(core_buf *out, core_str a, core_str b)
{
    core_buf body = {0};
    int rc = core_buf_appendf(&body, "t2;s%zu:", a.len);
    if (rc == 0) {
        rc = core_buf_append(&body, a.ptr, a.len);
    }
    if (rc == 0) {
        rc = core_buf_appendf(&body, "s%zu:", b.len);
    }
    if (rc == 0) {
        rc = core_buf_append(&body, b.ptr, b.len);
    }
    if (rc == 0) {
        rc = core_buf_appendf(out, "%08zx", body.len);
    }
    if (rc == 0) {
        rc = core_buf_append(out, body.ptr, body.len);
    }
    core_buf_dispose(&body);
    return rc;
}

/* Undoes the tests harness's escaping in place; returns the new length. */
static size_t unescape(char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            i++;
            s[j++] = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : s[i];
        } else {
            s[j++] = s[i];
        }
    }
    return j;
}

int sbx__report_parse(sbx__report *rec, sbx_result *res, core_buf *buf)
{
    memset(rec, 0, sizeof *rec);
    char *p = buf->ptr;
    char *end = p != NULL ? p + buf->len : NULL;
    while (p != NULL && p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            break; /* a partial record from a process that died mid-write */
        }
        char *field[5] = {0};
        size_t len[5] = {0};
        size_t nf = 0;
        char *q = p;
        while (nf < 5) {
            char *tab = memchr(q, '\t', (size_t)(nl - q));
            char *fe = tab != NULL ? tab : nl;
            field[nf] = q;
            len[nf] = unescape(q, (size_t)(fe - q));
            nf++;
            if (tab == NULL) {
                break;
            }
            q = tab + 1;
        }
        if (nf == 1 && len[0] == 4 && memcmp(field[0], "done", 4) == 0) {
            rec->done = true;
        } else if (nf == 2 && (len[0] == 10 || len[0] == 11)) {
            bool load = memcmp(field[0], "load_error", len[0]) == 0 && len[0] == 10;
            bool tests = len[0] == 11 && memcmp(field[0], "tests_error", 11) == 0;
            rec->load_error |= load;
            rec->tests_error |= tests;
            if (load || tests) {
                snprintf(rec->msg, sizeof rec->msg, "%.*s", (int)len[1], field[1]);
            }
        } else if (nf == 5 && len[0] == 4 && memcmp(field[0], "test", 4) == 0) {
            sbx_test_status st = SBX_TEST_ERROR;
            if (len[1] == 6 && memcmp(field[1], "passed", 6) == 0) {
                st = SBX_TEST_PASSED;
            } else if (len[1] == 6 && memcmp(field[1], "failed", 6) == 0) {
                st = SBX_TEST_FAILED;
            }
            char ms[32];
            snprintf(ms, sizeof ms, "%.*s", (int)(len[2] < 31 ? len[2] : 31), field[2]);
            int rc =
                sbx__result_add_test(res, field[3], len[3], st, field[4], len[4], strtod(ms, NULL));
            if (rc < 0) {
                return rc;
            }
        }
        p = nl + 1;
    }
    return 0;
}

/* True when the box's tmpfs root has no free blocks or inodes left. */
static bool disk_full(int root_fd)
{
    struct statvfs st;
    if (root_fd < 0 || fstatvfs(root_fd, &st) < 0) {
        return false;
    }
    /* tmpfs hands out inodes and blocks in per-CPU batches, so "full" is "almost empty". */
    return st.f_bavail * st.f_frsize < (64u << 10) || st.f_favail < 16;
}

int sbx__pybox_run(sbx__pybox *box, const sbx__env *env, const sbx_job *job, sbx_result *res,
                   core_err *err)
{
    int rc = 0;
    int pidfd = -1;
    core_buf job_t = {0}, job_c = {0}, res_buf = {0}, out_t = {0};
    const sbx_limits *lim = &job->limits;
    if (box->dying) {
        sbx__pybox_stop(box, env);
    }
    if (box->started && (box->disk_mb != lim->disk_mb || box->disk_inodes != lim->disk_inodes)) {
        sbx__pybox_stop(box, env); /* the tmpfs of a preforked pair has the default size */
    }
    if (!box->started) {
        /* a cold start: the pair gets this job's tmpfs size */
        rc = sbx__pybox_start(box, env, lim, err);
        if (rc < 0) {
            goto done;
        }
    }
    uint64_t t0 = core_time_ns();
    uint64_t mem = lim->mem_mb > 0 ? (uint64_t)lim->mem_mb << 20 : 0;
    rc = sbx__cg_set_limits(env->cg_cand, mem, lim->n_procs, err);
    if (rc == 0) {
        rc = sbx__cg_set_limits(env->cg_tests, mem > (512u << 20) ? mem : (512u << 20), 16, err);
    }
    if (rc < 0) {
        goto done;
    }
    /* The pair was started with default rlimits: apply this job's to the candidate's
     * processes (its init and the interpreter; nothing else runs before the job arrives). */
    pid_t pids[8];
    size_t n_pids = sbx__cg_pids(env->cg_cand, pids, 8);
    for (size_t i = 0; i < n_pids; i++) {
        struct rlimit rl;
        if (lim->file_mb > 0) {
            rl.rlim_cur = rl.rlim_max = (rlim_t)lim->file_mb << 20;
            prlimit(pids[i], RLIMIT_FSIZE, &rl, NULL);
        }
        if (lim->n_files > 0) {
            rl.rlim_cur = rl.rlim_max = lim->n_files;
            prlimit(pids[i], RLIMIT_NOFILE, &rl, NULL);
        }
        if (lim->cpu_ms > 0) {
            rl.rlim_cur = rl.rlim_max = lim->cpu_ms / 1000 + 2;
            prlimit(pids[i], RLIMIT_CPU, &rl, NULL);
        }
    }
    sbx__cg_stat st0;
    sbx__cg_read(env->cg_cand, &st0);
    if (encode_pair(&job_t, job->tests, job->entry) < 0 ||
        encode_pair(&job_c, job->candidate, job->entry) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "sandbox: job: out of memory");
        goto done;
    }
    pidfd = (int)syscall(SYS_pidfd_open, box->pid_t_, 0);
    size_t cap = env->opts->output_cap;
    sbx__watch w = {
        .job_fd = {box->job_t, box->job_c},
        .job = {job_t.ptr, job_c.ptr},
        .job_len = {job_t.len, job_c.len},
        .in_fd = {box->res_t, box->out_c, box->err_c, box->out_t},
        .in_buf = {&res_buf, &res->out, &res->err, &out_t},
        .in_cap = {1u << 20, cap, cap, 16384},
        .in_counted = {false, true, true, false},
        .end_fd = pidfd,
        .end_pipe = 0,
    };
    sbx__watch_baseline(&w, env->cg_cand, lim, t0, &st0, &job->cancel);
    rc = sbx__watch_run(&w, err);
    bool full = disk_full(box->root_c);
    sbx__report rec;
    int prc = sbx__report_parse(&rec, res, &res_buf);
    bool clean = rec.done && prc == 0;
    for (size_t i = 0; i < res->n_tests; i++) {
        clean = clean && res->tests[i].status == SBX_TEST_PASSED;
    }
    if (!clean && w.hit == SBX_LIMIT_NONE && rc == 0) {
        /* The candidate may have just died (SIGXFSZ, SIGXCPU): give its init a moment to
         * report how before the kill hides it. Clean runs do not wait. */
        struct pollfd p = {.fd = box->status_c, .events = POLLIN};
        poll(&p, 1, 50);
    }
    /* Counters first (the candidate is idle or gone), then the kill. */
    sbx__cg_stat st1;
    sbx__cg_read(env->cg_cand, &st1);
    sbx__cg_kill(env->cg_cand);
    sbx__cg_kill(env->cg_tests);
    int status_c = 0;
    struct pollfd sp = {.fd = box->status_c, .events = POLLIN};
    if (poll(&sp, 1, 0) == 1) {
        status_c = sbx__box_status(box->status_c);
    }
    res->wall_ms = (core_time_ns() - t0) / 1000000u;
    if (rc < 0) {
        goto done;
    }
    if (w.canceled) {
        rc = core_err_set(err, CORE_ECANCELED, "sandbox: run canceled");
        goto done;
    }
    /* Whatever is left in the candidate's pipes (the records were complete: the tests process
     * had exited). */
    uint64_t extra = 0;
    sbx__drain(box->out_c, &res->out, cap, &extra);
    sbx__drain(box->err_c, &res->err, cap, &extra);
    res->n_out_bytes = w.n_out_bytes + extra;
    res->cpu_ms = (st1.cpu_us - st0.cpu_us) / 1000u;
    res->max_rss_kb = st1.mem_peak / 1024u;
    rc = prc;
    if (rc < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "sandbox: results: out of memory");
        goto done;
    }
    sbx_limit hit = w.hit;
    if (hit == SBX_LIMIT_NONE && st1.n_oom_kills > st0.n_oom_kills) {
        hit = SBX_LIMIT_MEMORY;
    }
    if (hit == SBX_LIMIT_NONE && st1.n_pids_max > st0.n_pids_max) {
        hit = SBX_LIMIT_PROCESSES;
    }
    if (hit == SBX_LIMIT_NONE && lim->cpu_ms > 0 && res->cpu_ms > lim->cpu_ms) {
        hit = SBX_LIMIT_CPU;
    }
    if (hit == SBX_LIMIT_NONE &&
        (full || (WIFSIGNALED(status_c) && WTERMSIG(status_c) == SIGXFSZ))) {
        hit = SBX_LIMIT_FILE_SIZE;
    }
    if (hit == SBX_LIMIT_NONE && WIFSIGNALED(status_c) && WTERMSIG(status_c) == SIGXCPU) {
        hit = SBX_LIMIT_CPU;
    }
    if (rec.tests_error && hit == SBX_LIMIT_NONE) {
        rc = core_err_set(err, CORE_EPARSE, "tests: %s", rec.msg);
        goto done;
    }
    char msg[1200];
    msg[0] = '\0';
    if (hit != SBX_LIMIT_NONE) {
        res->verdict = SBX_VERDICT_LIMIT;
        res->limit = hit;
        snprintf(msg, sizeof msg, "the run reached its %s limit", sbx_limit_name(hit));
    } else if (rec.load_error) {
        res->verdict = SBX_VERDICT_ERROR;
        snprintf(msg, sizeof msg, "candidate: %s", rec.msg);
    } else if (!rec.done) {
        res->verdict = SBX_VERDICT_FAILED;
        snprintf(msg, sizeof msg, "the tests process ended before finishing%s%.*s",
                 out_t.len > 0 ? ": " : "", (int)(out_t.len < 600 ? out_t.len : 600),
                 out_t.ptr != NULL ? out_t.ptr : "");
    } else {
        res->verdict = SBX_VERDICT_PASSED;
        for (size_t i = 0; i < res->n_tests; i++) {
            if (res->tests[i].status != SBX_TEST_PASSED) {
                res->verdict = SBX_VERDICT_FAILED;
            }
        }
        if (res->n_tests == 0) {
            res->verdict = SBX_VERDICT_FAILED;
        }
    }
    if (sbx__result_set_message(res, msg) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "sandbox: result: out of memory");
    }
done:
    if (pidfd >= 0) {
        close(pidfd);
    }
    /* The pair was killed; reaping it and waiting for its cgroups to empty is left to whoever
     * uses the slot next (the prefork thread), unless the pool has none. */
    box->started = false;
    box->dying = true;
    if (!env->opts->prefork || rc < 0) {
        sbx__pybox_stop(box, env);
    }
    core_buf_dispose(&job_t);
    core_buf_dispose(&job_c);
    core_buf_dispose(&res_buf);
    core_buf_dispose(&out_t);
    return rc;
}

/* Compiles both harness scripts to .pyc with the pool's own interpreter, inside a box. */
static const char precompile_py[] =
    "import marshal, sys, _frozen_importlib_external as e\n"
    "out = sys.stdout.buffer\n"
    "for name in ('tests', 'cand'):\n"
    "    src = open('/kiln/%s.py' % name, 'rb').read()\n"
    "    code = compile(src, '/kiln/%s.py' % name, 'exec', dont_inherit=True)\n"
    "    data = e.MAGIC_NUMBER + bytes(12) + marshal.dumps(code)\n"
    "    out.write(b'%08x' % len(data) + data)\n"
    "out.flush()\n";

int sbx__py_precompile(const sbx__env *env, core_buf *pyc_tests, core_buf *pyc_cand, core_err *err)
{
    int rc = 0;
    int out[2] = {-1, -1};
    int status_fd = -1;
    pid_t pid = 0;
    core_buf buf = {0};
    if (pipe2(out, O_CLOEXEC) < 0) {
        return core_err_set(err, CORE_ERROR, "sandbox: pipe: %s", strerror(errno));
    }
    const sbx__file files[] = {
        {"kiln/tests.py", sbx__harness_tests_py, sbx__harness_tests_py_len, 0444},
        {"kiln/cand.py", sbx__harness_cand_py, sbx__harness_cand_py_len, 0444},
    };
    const char *const argv[] = {env->opts->python_path, "-I", "-S", "-B", "-c",
                                precompile_py,          NULL};
    sbx_limits lim = sbx_limits_default();
    sbx__box_spec spec = {
        .argv = argv,
        .envp = py_env,
        .fds = {-1, out[1], -1},
        .n_fds = 3,
        .files = files,
        .n_files = 2,
        .host_uid = env->uid_tests,
        .limits = &lim,
        .cg = env->cg_tests,
        .netns_fd = env->netns_fd,
        .filter = env->filter,
    };
    rc = sbx__cg_set_limits(env->cg_tests, 256u << 20, 8, err);
    if (rc == 0) {
        rc = sbx__box_start(&pid, &status_fd, &spec, err);
    }
    close(out[1]);
    out[1] = -1;
    if (rc < 0) {
        goto done;
    }
    uint64_t deadline = core_time_ns() + 10000000000u;
    for (;;) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        if (poll(&p, 1, 100) < 0 && errno != EINTR) {
            break;
        }
        int d = sbx__drain(out[0], &buf, 8u << 20, NULL);
        if (d != 0 || core_time_ns() > deadline) {
            break;
        }
    }
    sbx__cg_kill(env->cg_tests);
    waitpid(pid, NULL, 0);
    sbx__cg_wait_empty(env->cg_tests, 2000);
    /* Two frames: 8 hex digits of length, then the .pyc bytes. */
    core_buf *dst[2] = {pyc_tests, pyc_cand};
    size_t off = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        char hex[9] = {0};
        unsigned long n = 0;
        if (buf.len - off < 8) {
            rc = core_err_set(err, CORE_ERROR, "sandbox: precompiling the harness failed");
            break;
        }
        memcpy(hex, buf.ptr + off, 8);
        n = strtoul(hex, NULL, 16);
        if (n > buf.len - off - 8) {
            rc = core_err_set(err, CORE_ERROR, "sandbox: precompiled harness is truncated");
            break;
        }
        if (core_buf_append(dst[i], buf.ptr + off + 8, n) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "sandbox: out of memory");
            break;
        }
        off += 8 + n;
    }
done:
    if (out[0] >= 0) {
        close(out[0]);
    }
    if (status_fd >= 0) {
        close(status_fd);
    }
    core_buf_dispose(&buf);
    return rc;
}
