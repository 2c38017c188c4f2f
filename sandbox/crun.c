/*
 * The C runner: compile, check, link and run in two boxes with limits of their own. The build
 * box (compile limits) compiles the candidate and the tests separately, keeps only the entry
 * symbol of the candidate global (objcopy --keep-global-symbol), so it cannot override exit,
 * __assert_fail, strcmp or the tests' helpers, renames the tests' main, links them with a small
 * wrapper, and sends back the candidate object and the executable. The parent refuses
 * candidates whose object has constructors or destructors (.init_array, .ctors, ...), ifuncs or
 * a defined main, or lacks the entry function (ELF64 checks below). The run box runs the
 * executable; the wrapper reads a fresh nonce on fd 3 before calling the tests' main and writes
 * it to fd 4 only after that main returns 0, so a candidate that exits early (exit(0),
 * _exit(0)) cannot pass.
 */
#include "sandbox/sbx_int.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char build_sh[] =
    "cd /work || exit 15\n"
    "CC=\"$2\"\n"
    "$CC -std=gnu11 -O1 -fno-lto -c cand.c -o cand.o || exit 10\n"
    "$CC -std=gnu11 -O1 -fno-lto -c tests.c -o tests.o || exit 11\n"
    "objcopy --keep-global-symbol=\"$1\" cand.o || exit 12\n"
    "objcopy --redefine-sym main=kiln_tests_main tests.o || exit 13\n"
    "$CC -std=gnu11 -O1 -c /kiln/wrap.c -o wrap.o || exit 13\n"
    "$CC -o t wrap.o tests.o cand.o -lm || exit 14\n"
    "printf '%s %s\\n' \"$(stat -c %s cand.o)\" \"$(stat -c %s t)\" || exit 13\n"
    "exec cat cand.o t\n";

static const char wrap_c[] = "#include <unistd.h>\n"
                             "int kiln_tests_main(int argc, char **argv, char **envp);\n"
                             "int main(int argc, char **argv, char **envp)\n"
                             "{\n"
                             "    char nonce[64];\n"
                             "    ssize_t n = read(3, nonce, sizeof nonce);\n"
                             "    close(3);\n"
                             "    int rc = kiln_tests_main(argc, argv, envp);\n"
                             "    if (rc == 0 && n > 0) {\n"
                             "        (void)!write(4, \"ok \", 3);\n"
                             "        (void)!write(4, nonce, (size_t)n);\n"
                             "    }\n"
                             "    return rc;\n"
                             "}\n";

static const char *const c_env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/work",
                                    "TMPDIR=/tmp", NULL};

/* Largest object or executable the build box may send back. */
#define ARTIFACT_MAX (32u << 20)

typedef struct box_run {
    const char *const *argv;
    const sbx__file *files;
    size_t n_files;
    const sbx_limits *limits;
    int extra_fd[2]; /* the box's fds 3 and 4, or -1 */
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

static int run_box(const sbx__env *env, box_run *r, const core_cancel *cancel, core_err *err)
{
    int rc = 0;
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    int pidfd = -1;
    int status_fd = -1;
    pid_t pid = 0;
    const sbx_limits *lim = r->limits;
    uint64_t mem = lim->mem_mb > 0 ? (uint64_t)lim->mem_mb << 20 : 0;
    rc = sbx__cg_set_limits(env->cg_cand, mem, lim->n_procs, err);
    if (rc < 0) {
        return rc;
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = core_err_set(err, CORE_ERROR, "sandbox: pipe: %s", strerror(errno));
        goto done;
    }
    sbx__cg_stat st0;
    sbx__cg_read(env->cg_cand, &st0);
    sbx__box_spec spec = {
        .argv = r->argv,
        .envp = c_env,
        .fds = {-1, out[1], errp[1], r->extra_fd[0], r->extra_fd[1]},
        .n_fds = r->extra_fd[0] >= 0 ? 5 : 3,
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
    close(out[1]);
    close(errp[1]);
    out[1] = errp[1] = -1;
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    sbx__watch w = {
        .job_fd = {-1, -1},
        .in_fd = {out[0], errp[0], -1, -1},
        .in_buf = {r->out, r->err, NULL, NULL},
        .in_cap = {r->out_cap, r->err_cap, 0, 0},
        .in_counted = {true, true, false, false},
        .end_fd = pidfd,
        .end_pipe = -1,
        .cg = env->cg_cand,
        .limits = lim,
        .t0_ns = t0,
        .cpu0_us = st0.cpu_us,
        .oom0 = st0.n_oom_kills,
        .pids0 = st0.n_pids_max,
        .cancel = cancel,
    };
    rc = sbx__watch_run(&w, err);
    /* the run's time ends here; the namespace teardown below is the sandbox's, not the run's */
    r->wall_ms = (core_time_ns() - t0) / 1000000u;
    sbx__cg_kill(env->cg_cand);
    waitpid(pid, NULL, 0);
    pid = 0;
    r->status = sbx__box_status(status_fd);
    uint64_t extra = 0;
    sbx__drain(out[0], r->out, r->out_cap, &extra);
    sbx__drain(errp[0], r->err, r->err_cap, &extra);
    sbx__cg_wait_empty(env->cg_cand, 2000);
    sbx__cg_stat st1;
    sbx__cg_read(env->cg_cand, &st1);
    r->cpu_ms = (st1.cpu_us - st0.cpu_us) / 1000u;
    r->rss_kb = st1.mem_peak / 1024u;
    r->n_out_bytes = w.n_out_bytes + extra;
    r->canceled = w.canceled;
    r->hit = w.hit;
    if (r->hit == SBX_LIMIT_NONE && st1.n_oom_kills > st0.n_oom_kills) {
        r->hit = SBX_LIMIT_MEMORY;
    }
    if (r->hit == SBX_LIMIT_NONE && st1.n_pids_max > st0.n_pids_max) {
        r->hit = SBX_LIMIT_PROCESSES;
    }
    if (r->hit == SBX_LIMIT_NONE && lim->cpu_ms > 0 && r->cpu_ms > lim->cpu_ms) {
        r->hit = SBX_LIMIT_CPU;
    }
    if (r->hit == SBX_LIMIT_NONE && WIFSIGNALED(r->status)) {
        int sig = WTERMSIG(r->status);
        r->hit = sig == SIGXFSZ   ? SBX_LIMIT_FILE_SIZE
                 : sig == SIGXCPU ? SBX_LIMIT_CPU
                                  : SBX_LIMIT_NONE;
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
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0) {
            close(out[i]);
        }
        if (errp[i] >= 0) {
            close(errp[i]);
        }
    }
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

int sbx__crun(const sbx__env *env, const sbx_job *job, sbx_result *res, core_err *err)
{
    int rc = 0;
    core_buf art = {0}, diag = {0}, done_buf = {0};
    int nonce_p[2] = {-1, -1}, done_p[2] = {-1, -1};
    char msg[2600];
    msg[0] = '\0';
    if (access(env->opts->cc_path, X_OK) < 0) {
        return core_err_set(err, CORE_ENOTFOUND, "c compiler %s: %s", env->opts->cc_path,
                            strerror(errno));
    }
    char entry[160];
    snprintf(entry, sizeof entry, "%.*s", (int)job->entry.len, job->entry.ptr);

    /* 1. Build. */
    const sbx__file build_files[] = {
        {"work/cand.c", job->candidate.ptr, job->candidate.len, 0644},
        {"work/tests.c", job->tests.ptr, job->tests.len, 0644},
        {"kiln/wrap.c", wrap_c, sizeof wrap_c - 1, 0444},
        {"kiln/build.sh", build_sh, sizeof build_sh - 1, 0444},
    };
    const char *const build_argv[] = {"/bin/sh", "/kiln/build.sh", entry, env->opts->cc_path, NULL};
    box_run b = {
        .argv = build_argv,
        .files = build_files,
        .n_files = 4,
        .limits = &job->compile_limits,
        .extra_fd = {-1, -1},
        .out = &art,
        .out_cap = 2 * ARTIFACT_MAX,
        .err = &diag,
        .err_cap = 64 * 1024,
    };
    sbx_limits build_lim = job->compile_limits;
    build_lim.output_kb = 0; /* the artifacts come back on stdout */
    b.limits = &build_lim;
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
    if (code == 11) {
        rc = core_err_set(err, CORE_EPARSE, "tests: do not compile: %s", tail(&diag, 400));
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
    unsigned long n_obj = 0, n_exe = 0;
    char *nl = art.ptr != NULL ? memchr(art.ptr, '\n', art.len < 64 ? art.len : 64) : NULL;
    char *end1 = NULL, *end2 = NULL;
    if (nl != NULL) {
        n_obj = strtoul(art.ptr, &end1, 10);
        n_exe = strtoul(end1, &end2, 10);
    }
    if (nl == NULL || end1 == art.ptr || end2 == end1 || end2 != nl || n_obj > ARTIFACT_MAX ||
        n_exe > ARTIFACT_MAX || (size_t)(nl + 1 - art.ptr) + n_obj + n_exe != art.len) {
        rc = core_err_set(err, CORE_ERROR, "sandbox: the build box sent malformed artifacts");
        goto done;
    }
    const unsigned char *obj = (const unsigned char *)nl + 1;
    const char *why = check_object(obj, n_obj, job->entry);
    if (why != NULL) {
        res->verdict = SBX_VERDICT_ERROR;
        snprintf(msg, sizeof msg, "candidate: %s", why);
        goto verdict;
    }

    /* 2. Run. */
    char nonce_raw[16], nonce[33];
    if (getrandom(nonce_raw, sizeof nonce_raw, 0) != (ssize_t)sizeof nonce_raw) {
        rc = core_err_set(err, CORE_ERROR, "getrandom: %s", strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < sizeof nonce_raw; i++) {
        snprintf(nonce + 2 * i, 3, "%02x", (unsigned char)nonce_raw[i]);
    }
    if (pipe2(nonce_p, O_CLOEXEC) < 0 || pipe2(done_p, O_CLOEXEC) < 0) {
        rc = core_err_set(err, CORE_ERROR, "sandbox: pipe: %s", strerror(errno));
        goto done;
    }
    if (write(nonce_p[1], nonce, 32) != 32) {
        rc = core_err_set(err, CORE_ERROR, "sandbox: nonce pipe: %s", strerror(errno));
        goto done;
    }
    close(nonce_p[1]);
    nonce_p[1] = -1;
    const sbx__file run_files[] = {
        {"work/t", (const char *)obj + n_obj, n_exe, 0755},
    };
    const char *const run_argv[] = {"/work/t", NULL};
    core_buf_dispose(&res->err);
    box_run r = {
        .argv = run_argv,
        .files = run_files,
        .n_files = 1,
        .limits = &job->limits,
        .extra_fd = {nonce_p[0], done_p[1]},
        .out = &res->out,
        .out_cap = env->opts->output_cap,
        .err = &res->err,
        .err_cap = env->opts->output_cap,
    };
    rc = run_box(env, &r, &job->cancel, err);
    close(done_p[1]);
    done_p[1] = -1;
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
    fcntl(done_p[0], F_SETFL, O_NONBLOCK);
    sbx__drain(done_p[0], &done_buf, 128, NULL);
    bool completed = done_buf.len == 35 && memcmp(done_buf.ptr, "ok ", 3) == 0 &&
                     memcmp(done_buf.ptr + 3, nonce, 32) == 0;
    bool exit0 = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
    if (r.hit != SBX_LIMIT_NONE) {
        res->verdict = SBX_VERDICT_LIMIT;
        res->limit = r.hit;
        snprintf(msg, sizeof msg, "the run reached its %s limit", sbx_limit_name(r.hit));
    } else if (completed && exit0) {
        res->verdict = SBX_VERDICT_PASSED;
    } else {
        res->verdict = SBX_VERDICT_FAILED;
        if (WIFSIGNALED(r.status)) {
            snprintf(msg, sizeof msg, "tests killed by signal %d%s%s", WTERMSIG(r.status),
                     res->err.len > 0 ? ": " : "", tail(&res->err, 400));
        } else if (!exit0) {
            snprintf(msg, sizeof msg, "tests exited with status %d%s%s", WEXITSTATUS(r.status),
                     res->err.len > 0 ? ": " : "", tail(&res->err, 400));
        } else {
            snprintf(msg, sizeof msg, "the process exited before the tests' main returned");
        }
    }
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
    for (int i = 0; i < 2; i++) {
        if (nonce_p[i] >= 0) {
            close(nonce_p[i]);
        }
        if (done_p[i] >= 0) {
            close(done_p[i]);
        }
    }
    core_buf_dispose(&art);
    core_buf_dispose(&diag);
    core_buf_dispose(&done_buf);
    return rc;
}
