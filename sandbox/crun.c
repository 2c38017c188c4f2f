/*
 * The C runner: build in one box, then run the tests and the candidate in two boxes of their
 * own, joined only by a pipe each way. The entry's prototype, found in the tests, gives a stub
 * (cstub.c): the tests' translation unit gets a definition of the entry that sends the
 * arguments to the candidate's process and returns its answer, the candidate's gets a
 * dispatcher that calls the real entry. The build box (compile limits) compiles both, keeps
 * only the entry and the dispatcher global in the candidate's object (objcopy
 * --keep-global-symbol), renames the tests' main and links two executables: the tests with the
 * stub runtime (cstub/rt.c, tests side) and the candidate with its server loop (candidate
 * side). The parent still refuses candidates whose object has constructors or destructors,
 * ifuncs or other global symbols, or lacks the entry (ELF64 checks below). The tests' box
 * (its own uid, cgroup and tmpfs) holds the only copy of the tests and the only descriptor the
 * completion record can be written to (fd 5): its runtime writes "ok" there after the tests'
 * main returns 0, or "gone"/"proto" when the candidate died or answered out of protocol. The
 * candidate's box holds the request pipe (fd 3, read) and the answer pipe (fd 4, write): all
 * it can write there is an answer, which the tests' side checks against the entry's types and
 * hands to the tests as a return value. So the verdict depends only on what the tests'
 * process observed and on the candidate box's limits and exit, which the parent reads from
 * the kernel.
 */
#include "sandbox/sbx_int.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The build. Every step writes to stderr: the artifacts alone go to the box's stdout (saved as
 * fd 5), so nothing a compile prints (gas's .print, for one) can pose as them. The stub runtime
 * is compiled before any candidate input is read, once per slot (the parent hands the objects
 * back on later builds). */
static const char build_sh[] =
    "cd /work || exit 15\n"
    "exec 5>&1 1>&2\n"
    "CC=\"$2\"\n"
    "if [ ! -f rt_c.o ]; then\n"
    "    $CC -std=gnu11 -O1 -DKILN_SIDE_TESTS -c /kiln/rt.c -o rt_t.o 5>&- || exit 13\n"
    "    $CC -std=gnu11 -O1 -DKILN_SIDE_CAND -c /kiln/rt.c -o rt_c.o 5>&- || exit 13\n"
    "fi\n"
    "$CC -std=gnu11 -O1 -fno-lto -c cand.c -o cand.o 3<&- 5>&- || exit 10\n"
    "head -c \"$3\" <&3 >tests.c && exec 3<&- || exit 13\n"
    "$CC -std=gnu11 -O1 -fno-lto -c tests.c -o tests.o 5>&- || exit 11\n"
    "objcopy --keep-global-symbol=\"$1\" --keep-global-symbol=kiln_dispatch cand.o 5>&- "
    "|| exit 12\n"
    "objcopy --redefine-sym main=kiln_tests_main tests.o 5>&- || exit 13\n"
    "$CC -o t rt_t.o tests.o -lm 5>&- || exit 16\n"
    "$CC -o c rt_c.o cand.o -lm 5>&- || exit 14\n"
    "printf '%s %s %s %s %s\\n' $(stat -c %s cand.o t c rt_t.o rt_c.o) >&5 || exit 13\n"
    "exec cat cand.o t c rt_t.o rt_c.o >&5\n";

static const char *const c_env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/work",
                                    "TMPDIR=/tmp", NULL};

/* Largest object or executable the build box may send back. */
#define ARTIFACT_MAX (32u << 20)

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void close_pair(int p[2])
{
    close_fd(&p[0]);
    close_fd(&p[1]);
}

typedef struct box_run {
    const char *const *argv;
    const sbx__file *files;
    size_t n_files;
    const sbx_limits *limits;
    core_str job; /* bytes the box reads on fd 3 (a socket), or empty: no fd 3 */
    core_buf *out;
    size_t out_cap;
    core_buf *err;
    size_t err_cap;
    /* out */
    int status;
    sbx_limit hit;
    uint64_t wall_ms;
    uint64_t cpu_ms;
    uint64_t rss_kb;
    uint64_t n_out_bytes;
    bool canceled;
} box_run;

/* The limit a run reached: the watch's finding, else what the candidate cgroup's counters
 * say happened between st0 and st1. */
static sbx_limit limit_reached(sbx_limit hit, const sbx__cg_stat *st0, const sbx__cg_stat *st1,
                               const sbx_limits *lim, uint64_t cpu_ms)
{
    if (hit != SBX_LIMIT_NONE) {
        return hit;
    }
    if (st1->n_oom_kills > st0->n_oom_kills) {
        return SBX_LIMIT_MEMORY;
    }
    if (st1->n_pids_max > st0->n_pids_max) {
        return SBX_LIMIT_PROCESSES;
    }
    if (lim->cpu_ms > 0 && cpu_ms > lim->cpu_ms) {
        return SBX_LIMIT_CPU;
    }
    return SBX_LIMIT_NONE;
}

/* The limit a process's end names (its wait status): SIGXFSZ or SIGXCPU from an rlimit. */
static sbx_limit limit_of_end(int status)
{
    if (!WIFSIGNALED(status)) {
        return SBX_LIMIT_NONE;
    }
    return WTERMSIG(status) == SIGXFSZ   ? SBX_LIMIT_FILE_SIZE
           : WTERMSIG(status) == SIGXCPU ? SBX_LIMIT_CPU
                                         : SBX_LIMIT_NONE;
}

static int run_box(const sbx__env *env, box_run *r, const core_cancel *cancel, core_err *err)
{
    int rc = 0;
    int out[2] = {-1, -1}, errp[2] = {-1, -1}, job[2] = {-1, -1};
    int pidfd = -1;
    int status_fd = -1;
    pid_t pid = 0;
    const sbx_limits *lim = r->limits;
    uint64_t mem = lim->mem_mb > 0 ? (uint64_t)lim->mem_mb << 20 : 0;
    rc = sbx__cg_set_limits(env->cg_cand, mem, lim->n_procs, err);
    if (rc < 0) {
        return rc;
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
        (r->job.len > 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, job) < 0)) {
        rc = core_err_set(err, CORE_ERROR, "sandbox: pipe: %s", strerror(errno));
        goto done;
    }
    sbx__cg_stat st0;
    sbx__cg_read(env->cg_cand, &st0);
    sbx__box_spec spec = {
        .argv = r->argv,
        .envp = c_env,
        .fds = {-1, out[1], errp[1], job[1]},
        .n_fds = r->job.len > 0 ? 4 : 3,
        .files = r->files,
        .n_files = r->n_files,
        .host_uid = env->uid_cand,
        .limits = lim,
        .cg = env->cg_cand,
        .netns_fd = env->netns_fd,
        .filter = env->filter,
    };
    uint64_t t0 = core_time_ns();
    rc = sbx__box_start(&pid, &status_fd, &spec, err);
    if (rc < 0) {
        goto done;
    }
    close_fd(&out[1]);
    close_fd(&errp[1]);
    close_fd(&job[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    sbx__watch w = {
        .job_fd = {job[0], -1},
        .job = {r->job.ptr, NULL},
        .job_len = {r->job.len, 0},
        .in_fd = {out[0], errp[0], -1, -1},
        .in_buf = {r->out, r->err, NULL, NULL},
        .in_cap = {r->out_cap, r->err_cap, 0, 0},
        .in_counted = {true, true, false, false},
        .end_fd = pidfd,
        .end_pipe = -1,
    };
    sbx__watch_baseline(&w, env->cg_cand, lim, t0, &st0, cancel);
    rc = sbx__watch_run(&w, err);
    /* the run's time ends here; the namespace teardown below is the sandbox's, not the run's */
    r->wall_ms = (core_time_ns() - t0) / 1000000u;
    uint64_t extra = 0;
    sbx__cg_stat st1;
    r->status = sbx__watch_reap(
        &st1, &extra, pid, status_fd, env->cg_cand, (const int[2]){out[0], errp[0]},
        (core_buf *const[2]){r->out, r->err}, (const size_t[2]){r->out_cap, r->err_cap});
    pid = 0;
    r->cpu_ms = (st1.cpu_us - st0.cpu_us) / 1000u;
    r->rss_kb = st1.mem_peak / 1024u;
    r->n_out_bytes = w.n_out_bytes + extra;
    r->canceled = w.canceled;
    r->hit = limit_reached(w.hit, &st0, &st1, lim, r->cpu_ms);
    if (r->hit == SBX_LIMIT_NONE) {
        r->hit = limit_of_end(r->status);
    }
done:
    if (pid > 0) {
        sbx__cg_kill(env->cg_cand);
        waitpid(pid, NULL, 0);
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    if (status_fd >= 0) {
        close(status_fd);
    }
    close_pair(out);
    close_pair(errp);
    close_pair(job);
    return rc;
}

/* ---- ELF64 checks on the candidate object (untrusted bytes: every offset is checked) ---- */

static bool in_bounds(size_t len, uint64_t off, uint64_t size)
{
    return off <= len && size <= len - off;
}

static bool has_prefix(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && memcmp(s, p, pl) == 0;
}

/* Returns NULL when the object is acceptable, or why not. */
static const char *check_object(const unsigned char *obj, size_t len, core_str entry)
{
    if (len < sizeof(Elf64_Ehdr) || memcmp(obj, ELFMAG, SELFMAG) != 0 ||
        obj[EI_CLASS] != ELFCLASS64) {
        return "the candidate object is not ELF64";
    }
    Elf64_Ehdr eh;
    memcpy(&eh, obj, sizeof eh);
    if (eh.e_shentsize != sizeof(Elf64_Shdr) ||
        !in_bounds(len, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)) ||
        eh.e_shstrndx >= eh.e_shnum) {
        return "the candidate object has a malformed section table";
    }
    Elf64_Shdr strsh;
    memcpy(&strsh, obj + eh.e_shoff + (size_t)eh.e_shstrndx * sizeof(Elf64_Shdr), sizeof strsh);
    if (!in_bounds(len, strsh.sh_offset, strsh.sh_size)) {
        return "the candidate object has a malformed section table";
    }
    bool entry_found = false;
    for (size_t i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        memcpy(&sh, obj + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof sh);
        if (sh.sh_name >= strsh.sh_size) {
            return "the candidate object has a malformed section name";
        }
        const char *name = (const char *)obj + strsh.sh_offset + sh.sh_name;
        size_t name_len = strnlen(name, (size_t)(strsh.sh_size - sh.sh_name));
        if (sh.sh_type == SHT_INIT_ARRAY || sh.sh_type == SHT_FINI_ARRAY ||
            sh.sh_type == SHT_PREINIT_ARRAY || has_prefix(name, name_len, ".init_array") ||
            has_prefix(name, name_len, ".fini_array") ||
            has_prefix(name, name_len, ".preinit_array") || has_prefix(name, name_len, ".ctors") ||
            has_prefix(name, name_len, ".dtors") ||
            (name_len == 5 && (memcmp(name, ".init", 5) == 0 || memcmp(name, ".fini", 5) == 0))) {
            return "the candidate defines constructors or destructors, which are not allowed";
        }
        if (sh.sh_type != SHT_SYMTAB) {
            continue;
        }
        if (sh.sh_entsize != sizeof(Elf64_Sym) || !in_bounds(len, sh.sh_offset, sh.sh_size) ||
            sh.sh_link >= eh.e_shnum) {
            return "the candidate object has a malformed symbol table";
        }
        Elf64_Shdr names;
        memcpy(&names, obj + eh.e_shoff + (size_t)sh.sh_link * sizeof(Elf64_Shdr), sizeof names);
        if (!in_bounds(len, names.sh_offset, names.sh_size)) {
            return "the candidate object has a malformed symbol table";
        }
        size_t n_syms = (size_t)(sh.sh_size / sizeof(Elf64_Sym));
        for (size_t j = 0; j < n_syms; j++) {
            Elf64_Sym sym;
            memcpy(&sym, obj + sh.sh_offset + j * sizeof(Elf64_Sym), sizeof sym);
            if (sym.st_name >= names.sh_size) {
                continue;
            }
            const char *sn = (const char *)obj + names.sh_offset + sym.st_name;
            size_t sn_len = strnlen(sn, (size_t)(names.sh_size - sym.st_name));
            int type = ELF64_ST_TYPE(sym.st_info);
            int bind = ELF64_ST_BIND(sym.st_info);
            if (type == STT_GNU_IFUNC) {
                return "the candidate defines an ifunc, which is not allowed";
            }
            if (sym.st_shndx == SHN_UNDEF || bind == STB_LOCAL) {
                continue;
            }
            if (sn_len == entry.len && memcmp(sn, entry.ptr, entry.len) == 0) {
                if (type == STT_FUNC) {
                    entry_found = true;
                }
                continue;
            }
            if (sn_len == 13 && memcmp(sn, "kiln_dispatch", 13) == 0 && type == STT_FUNC) {
                continue; /* the stub's dispatcher, appended to the candidate */
            }
            return "the candidate defines a global symbol other than its entry";
        }
    }
    if (!entry_found) {
        return "the candidate does not define its entry function";
    }
    return NULL;
}

/* Keeps the last lines of text (at most cap bytes) for a message. */
static const char *tail(const core_buf *b, size_t cap)
{
    if (b->ptr == NULL) {
        return "";
    }
    return b->len > cap ? b->ptr + b->len - cap : b->ptr;
}

/* ---- The run: the tests' box and the candidate's box ---- */

typedef struct pair_run {
    const sbx__file *file_t; /* the tests' executable */
    const sbx__file *file_c; /* the candidate's executable */
    const sbx_limits *limits;
    core_buf *out_c; /* candidate's stdout */
    core_buf *err_c; /* candidate's stderr */
    core_buf *out_t; /* tests' stdout + stderr */
    core_buf *rec;   /* the tests' completion record */
    size_t out_cap;
    /* out */
    int status_t; /* the tests' wait status */
    int status_c; /* the candidate's wait status, when it ended before the kill */
    bool c_ended; /* status_c is the candidate's own end, not the final kill */
    sbx_limit hit;
    uint64_t wall_ms;
    uint64_t cpu_ms; /* the candidate's processes */
    uint64_t rss_kb;
    uint64_t n_out_bytes;
    bool canceled;
} pair_run;

static bool record_is_ok(const core_buf *rec)
{
    return rec->ptr != NULL && rec->len == 3 && memcmp(rec->ptr, "ok\n", 3) == 0;
}

static int run_pair(const sbx__env *env, pair_run *r, const core_cancel *cancel, core_err *err)
{
    int rc = 0;
    int req[2] = {-1, -1}, rep[2] = {-1, -1}, rec[2] = {-1, -1};
    int out_t[2] = {-1, -1}, out_c[2] = {-1, -1}, err_c[2] = {-1, -1};
    int pidfd = -1, sfd_t = -1, sfd_c = -1;
    pid_t pid_t_ = 0, pid_c = 0;
    const sbx_limits *lim = r->limits;
    uint64_t mem = lim->mem_mb > 0 ? (uint64_t)lim->mem_mb << 20 : 0;
    rc = sbx__cg_set_limits(env->cg_cand, mem, lim->n_procs, err);
    if (rc == 0) {
        rc = sbx__cg_set_limits(env->cg_tests, mem > (512u << 20) ? mem : (512u << 20), 16, err);
    }
    if (rc < 0) {
        return rc;
    }
    int *all[] = {req, rep, rec, out_t, out_c, err_c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (pipe2(all[i], O_CLOEXEC) < 0) {
            rc = core_err_set(err, CORE_ERROR, "sandbox: pipe: %s", strerror(errno));
            goto done;
        }
    }
    sbx__cg_stat st0;
    sbx__cg_read(env->cg_cand, &st0);
    const char *const argv_c[] = {"/work/c", NULL};
    const char *const argv_t[] = {"/work/t", NULL};
    /* The candidate: requests on 3, answers on 4, nothing else beyond 0-2. */
    sbx__box_spec spec_c = {
        .argv = argv_c,
        .envp = c_env,
        .fds = {-1, out_c[1], err_c[1], req[0], rep[1]},
        .n_fds = 5,
        .files = r->file_c,
        .n_files = 1,
        .host_uid = env->uid_cand,
        .limits = lim,
        .cg = env->cg_cand,
        .netns_fd = env->netns_fd,
        .filter = env->filter,
    };
    /* The tests: answers on 3, requests on 4, the completion record on 5. */
    sbx__box_spec spec_t = spec_c;
    spec_t.argv = argv_t;
    spec_t.files = r->file_t;
    spec_t.host_uid = env->uid_tests;
    spec_t.cg = env->cg_tests;
    spec_t.fds[1] = out_t[1];
    spec_t.fds[2] = out_t[1];
    spec_t.fds[3] = rep[0];
    spec_t.fds[4] = req[1];
    spec_t.fds[5] = rec[1];
    spec_t.n_fds = 6;
    uint64_t t0 = core_time_ns();
    rc = sbx__box_start(&pid_c, &sfd_c, &spec_c, err);
    if (rc == 0) {
        rc = sbx__box_start(&pid_t_, &sfd_t, &spec_t, err);
    }
    if (rc < 0) {
        goto done;
    }
    /* Only the boxes keep the pipes' other ends, so EOF means their processes are gone. */
    close_pair(req);
    close_pair(rep);
    close_fd(&rec[1]);
    close_fd(&out_t[1]);
    close_fd(&out_c[1]);
    close_fd(&err_c[1]);
    fcntl(rec[0], F_SETFL, O_NONBLOCK);
    fcntl(out_t[0], F_SETFL, O_NONBLOCK);
    fcntl(out_c[0], F_SETFL, O_NONBLOCK);
    fcntl(err_c[0], F_SETFL, O_NONBLOCK);
    pidfd = (int)syscall(SYS_pidfd_open, pid_t_, 0);
    sbx__watch w = {
        .job_fd = {-1, -1},
        .in_fd = {rec[0], out_c[0], err_c[0], out_t[0]},
        .in_buf = {r->rec, r->out_c, r->err_c, r->out_t},
        .in_cap = {4096, r->out_cap, r->out_cap, 16384},
        .in_counted = {false, true, true, false},
        .end_fd = pidfd, /* the tests' init, which exits when the tests do */
        .end_pipe = -1,
    };
    sbx__watch_baseline(&w, env->cg_cand, lim, t0, &st0, cancel);
    rc = sbx__watch_run(&w, err);
    r->wall_ms = (core_time_ns() - t0) / 1000000u;
    if (rc == 0 && w.hit == SBX_LIMIT_NONE && !record_is_ok(r->rec)) {
        /* The candidate may have just died (SIGSYS, SIGXFSZ, SIGXCPU, exit): give its init a
         * moment to report how before the kill hides it. Clean runs do not wait. */
        struct pollfd p = {.fd = sfd_c, .events = POLLIN};
        poll(&p, 1, 50);
    }
    struct pollfd sp = {.fd = sfd_c, .events = POLLIN};
    r->c_ended = poll(&sp, 1, 0) == 1;
    sbx__cg_stat st1;
    sbx__cg_read(env->cg_cand, &st1);
    sbx__cg_kill(env->cg_cand);
    sbx__cg_kill(env->cg_tests);
    waitpid(pid_c, NULL, 0);
    waitpid(pid_t_, NULL, 0);
    pid_c = pid_t_ = 0;
    r->status_c = sbx__box_status(sfd_c);
    r->status_t = sbx__box_status(sfd_t);
    uint64_t extra = 0;
    sbx__drain(rec[0], r->rec, 4096, NULL);
    sbx__drain(out_c[0], r->out_c, r->out_cap, &extra);
    sbx__drain(err_c[0], r->err_c, r->out_cap, &extra);
    sbx__drain(out_t[0], r->out_t, 16384, NULL);
    sbx__cg_wait_empty(env->cg_cand, 2000);
    sbx__cg_wait_empty(env->cg_tests, 2000);
    r->cpu_ms = (st1.cpu_us - st0.cpu_us) / 1000u;
    r->rss_kb = st1.mem_peak / 1024u;
    r->n_out_bytes = w.n_out_bytes + extra;
    r->canceled = w.canceled;
    r->hit = limit_reached(w.hit, &st0, &st1, lim, r->cpu_ms);
    if (r->hit == SBX_LIMIT_NONE) {
        r->hit = limit_of_end(r->status_t);
    }
    if (r->hit == SBX_LIMIT_NONE && r->c_ended) {
        r->hit = limit_of_end(r->status_c);
    }
done:
    if (pid_c > 0 || pid_t_ > 0) {
        sbx__cg_kill(env->cg_cand);
        sbx__cg_kill(env->cg_tests);
        if (pid_c > 0) {
            waitpid(pid_c, NULL, 0);
        }
        if (pid_t_ > 0) {
            waitpid(pid_t_, NULL, 0);
        }
        sbx__cg_wait_empty(env->cg_cand, 2000);
        sbx__cg_wait_empty(env->cg_tests, 2000);
    }
    close_fd(&pidfd);
    close_fd(&sfd_t);
    close_fd(&sfd_c);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        close_pair(all[i]);
    }
    return rc;
}

/* Describes how the candidate's process ended, for a "gone" record. */
static void describe_end(char *out, size_t cap, const pair_run *r)
{
    if (!r->c_ended) {
        snprintf(out, cap, "it closed its answer pipe");
    } else if (WIFSIGNALED(r->status_c)) {
        int sig = WTERMSIG(r->status_c);
        const char *name = sig == SIGSYS    ? " (SIGSYS: a system call the sandbox forbids)"
                           : sig == SIGSEGV ? " (SIGSEGV)"
                           : sig == SIGABRT ? " (SIGABRT)"
                           : sig == SIGKILL ? " (SIGKILL)"
                           : sig == SIGBUS  ? " (SIGBUS)"
                           : sig == SIGFPE  ? " (SIGFPE)"
                                            : "";
        snprintf(out, cap, "killed by signal %d%s", sig, name);
    } else {
        snprintf(out, cap, "it exited with status %d", WEXITSTATUS(r->status_c));
    }
}

/* Sets the run's verdict and message from what the tests' process recorded and how the boxes
 * ended. Nothing the candidate wrote is read here except its output, which is only shown. */
static void judge_run(sbx_result *res, const pair_run *r, const core_buf *out_t, char *msg,
                      size_t cap)
{
    const char *rec = r->rec->ptr != NULL ? r->rec->ptr : "";
    bool exit0 = WIFEXITED(r->status_t) && WEXITSTATUS(r->status_t) == 0;
    const char *tail_t = tail(out_t, 400);
    const char *sep = out_t->len > 0 ? ": " : "";
    if (r->hit != SBX_LIMIT_NONE) {
        res->verdict = SBX_VERDICT_LIMIT;
        res->limit = r->hit;
        snprintf(msg, cap, "the run reached its %s limit", sbx_limit_name(r->hit));
        return;
    }
    if (record_is_ok(r->rec) && exit0) {
        res->verdict = SBX_VERDICT_PASSED;
        return;
    }
    res->verdict = SBX_VERDICT_FAILED;
    char why[128];
    if (strncmp(rec, "gone\t", 5) == 0) {
        describe_end(why, sizeof why, r);
        const char *entry = rec + 5;
        const char *tab = strchr(entry, '\t');
        snprintf(msg, cap, "the candidate's process ended during a call to %.*s: %s",
                 (int)(tab != NULL ? tab - entry : 0), entry, why);
    } else if (strncmp(rec, "proto\t", 6) == 0 || strncmp(rec, "big\t", 4) == 0) {
        const char *entry = rec + (rec[0] == 'p' ? 6 : 4);
        const char *tab = strchr(entry, '\t');
        const char *nl = tab != NULL ? strchr(tab, '\n') : NULL;
        snprintf(msg, cap, "call to %.*s: %.*s", (int)(tab != NULL ? tab - entry : 0), entry,
                 (int)(tab != NULL && nl != NULL ? nl - tab - 1 : 0), tab != NULL ? tab + 1 : "");
    } else if (WIFSIGNALED(r->status_t)) {
        snprintf(msg, cap, "tests killed by signal %d%s%s", WTERMSIG(r->status_t), sep, tail_t);
    } else if (!exit0) {
        snprintf(msg, cap, "tests exited with status %d%s%s", WEXITSTATUS(r->status_t), sep,
                 tail_t);
    } else {
        snprintf(msg, cap, "the tests' process exited before their main returned");
    }
}

int sbx__crun(const sbx__env *env, const sbx_job *job, sbx_result *res, core_err *err)
{
    int rc = 0;
    core_buf art = {0}, diag = {0}, rec = {0}, out_t = {0}, src_c = {0}, src_t = {0};
    char msg[2600];
    msg[0] = '\0';
    if (access(env->opts->cc_path, X_OK) < 0) {
        return core_err_set(err, CORE_ENOTFOUND, "c compiler %s: %s", env->opts->cc_path,
                            strerror(errno));
    }
    char entry[160];
    snprintf(entry, sizeof entry, "%.*s", (int)job->entry.len, job->entry.ptr);

    /* 0. The stub, from the prototype the tests declare. */
    sbx__cproto proto;
    rc = sbx__cproto_parse(&proto, job->tests, job->entry, err);
    if (rc < 0) {
        goto done;
    }
    if (core_buf_append(&src_c, job->candidate.ptr, job->candidate.len) < 0 ||
        core_buf_append(&src_t, job->tests.ptr, job->tests.len) < 0 ||
        sbx__cstub_cand(&src_c, &proto, job->entry) < 0 ||
        sbx__cstub_tests(&src_t, &proto, job->entry) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "sandbox: out of memory");
        goto done;
    }

    /* 1. Build. */
    /* The tests reach the build box on a socket, read only after the candidate's compile has
     * ended, so that no #include or .incbin of the candidate can copy them. */
    const sbx__crt *crt = env->crt;
    const sbx__file build_files[] = {
        {"work/cand.c", src_c.ptr, src_c.len, 0644},
        {"kiln/rt.c", sbx__cstub_rt_c, sbx__cstub_rt_c_len, 0444},
        {"kiln/build.sh", build_sh, sizeof build_sh - 1, 0444},
        {"work/rt_t.o", crt->objs.ptr, crt->n_t, 0644},
        {"work/rt_c.o", crt->n_t > 0 ? crt->objs.ptr + crt->n_t : NULL, crt->objs.len - crt->n_t,
         0644},
    };
    char tests_len[32];
    snprintf(tests_len, sizeof tests_len, "%zu", src_t.len);
    const char *const build_argv[] = {"/bin/sh",          "/kiln/build.sh", entry,
                                      env->opts->cc_path, tests_len,        NULL};
    sbx_limits build_lim = job->compile_limits;
    build_lim.output_kb = 0; /* the artifacts come back on stdout */
    box_run b = {
        .argv = build_argv,
        .files = build_files,
        .n_files = crt->n_t > 0 ? 5 : 3,
        .limits = &build_lim,
        .job = {src_t.ptr, src_t.len},
        .out = &art,
        .out_cap = 5 * ARTIFACT_MAX,
        .err = &diag,
        .err_cap = 64 * 1024,
    };
    rc = run_box(env, &b, &job->cancel, err);
    res->compile_ms = b.wall_ms;
    if (rc < 0) {
        goto done;
    }
    if (b.canceled) {
        rc = core_err_set(err, CORE_ECANCELED, "sandbox: run canceled");
        goto done;
    }
    if (core_buf_append(&res->err, diag.ptr != NULL ? diag.ptr : "", diag.len) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "sandbox: out of memory");
        goto done;
    }
    if (b.hit != SBX_LIMIT_NONE) {
        res->verdict = SBX_VERDICT_LIMIT;
        res->limit = SBX_LIMIT_COMPILE;
        snprintf(msg, sizeof msg, "compiling reached its %s limit", sbx_limit_name(b.hit));
        goto verdict;
    }
    int code = WIFEXITED(b.status) ? WEXITSTATUS(b.status) : 128 + WTERMSIG(b.status);
    if (code == 11 || code == 16) {
        rc = core_err_set(err, CORE_EPARSE, "tests: do not %s: %s", code == 11 ? "compile" : "link",
                          tail(&diag, 400));
        goto done;
    }
    if (code == 10 || code == 14) {
        res->verdict = SBX_VERDICT_ERROR;
        snprintf(msg, sizeof msg, "candidate: %s: %s",
                 code == 10 ? "does not compile" : "does not link", tail(&diag, 2000));
        goto verdict;
    }
    if (code != 0) {
        rc = core_err_set(err, CORE_ERROR, "sandbox: build step failed with status %d: %s", code,
                          tail(&diag, 400));
        goto done;
    }
    /* cand.o, t, c, rt_t.o, rt_c.o */
    unsigned long n_art[5] = {0, 0, 0, 0, 0};
    char *nl = art.ptr != NULL ? memchr(art.ptr, '\n', art.len < 160 ? art.len : 160) : NULL;
    bool ok = nl != NULL;
    size_t total = 0;
    const char *p = art.ptr;
    for (int i = 0; i < 5 && ok; i++) {
        char *end = NULL;
        n_art[i] = strtoul(p, &end, 10);
        ok = end != p && end <= nl && n_art[i] <= ARTIFACT_MAX;
        total += n_art[i];
        p = end;
    }
    if (!ok || p != nl || (size_t)(nl + 1 - art.ptr) + total != art.len) {
        rc = core_err_set(err, CORE_ERROR, "sandbox: the build box sent malformed artifacts");
        goto done;
    }
    const unsigned char *obj = (const unsigned char *)nl + 1;
    const char *why = check_object(obj, n_art[0], job->entry);
    if (why != NULL) {
        res->verdict = SBX_VERDICT_ERROR;
        snprintf(msg, sizeof msg, "candidate: %s", why);
        goto verdict;
    }

    /* 2. Run. */
    const sbx__file file_t = {"work/t", (const char *)obj + n_art[0], n_art[1], 0755};
    const sbx__file file_c = {"work/c", (const char *)obj + n_art[0] + n_art[1], n_art[2], 0755};
    if (env->crt->n_t == 0) {
        /* the slot's first build: keep its stub runtime for the next ones */
        const char *rt = (const char *)obj + n_art[0] + n_art[1] + n_art[2];
        core_buf_dispose(&env->crt->objs);
        if (core_buf_append(&env->crt->objs, rt, n_art[3] + n_art[4]) == 0) {
            env->crt->n_t = n_art[3];
        }
    }
    core_buf_dispose(&res->err);
    pair_run r = {
        .file_t = &file_t,
        .file_c = &file_c,
        .limits = &job->limits,
        .out_c = &res->out,
        .err_c = &res->err,
        .out_t = &out_t,
        .rec = &rec,
        .out_cap = env->opts->output_cap,
    };
    rc = run_pair(env, &r, &job->cancel, err);
    res->wall_ms = r.wall_ms;
    res->cpu_ms = r.cpu_ms;
    res->max_rss_kb = r.rss_kb;
    res->n_out_bytes = r.n_out_bytes;
    if (rc < 0) {
        goto done;
    }
    if (r.canceled) {
        rc = core_err_set(err, CORE_ECANCELED, "sandbox: run canceled");
        goto done;
    }
    judge_run(res, &r, &out_t, msg, sizeof msg);
    rc = sbx__result_add_test(res, "main", 4,
                              res->verdict == SBX_VERDICT_PASSED   ? SBX_TEST_PASSED
                              : res->verdict == SBX_VERDICT_FAILED ? SBX_TEST_FAILED
                                                                   : SBX_TEST_ERROR,
                              msg, strlen(msg), (double)r.wall_ms);
    if (rc < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "sandbox: out of memory");
        goto done;
    }
verdict:
    if (sbx__result_set_message(res, msg) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "sandbox: out of memory");
    }
done:
    core_buf_dispose(&art);
    core_buf_dispose(&diag);
    core_buf_dispose(&rec);
    core_buf_dispose(&out_t);
    core_buf_dispose(&src_c);
    core_buf_dispose(&src_t);
    return rc;
}
