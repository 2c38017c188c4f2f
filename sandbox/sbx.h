/*
 * sbx: runs untrusted candidate code against tests and returns a verdict that the candidate
 * cannot fake. Every run gets fresh user, pid, mount, IPC, UTS and cgroup namespaces, a shared
 * per-slot network namespace with only loopback, a size- and inode-limited tmpfs root with
 * read-only binds of /usr, its own /proc and a minimal /dev, an empty environment plus an
 * allow-list, no inherited descriptors, no capabilities, no_new_privs and a seccomp allow-list.
 * Limits (CPU summed over the run's processes, wall time, memory, processes, file size, open
 * files, output) are enforced with cgroups (v2, or the hybrid v1/v2 layout) and rlimits, and the
 * whole process tree is killed at the end of each run.
 *
 * Python runs use two sandboxes: the candidate's functions are called through a proxy over a
 * pipe from a separate tests process, so only plain values of exact types cross back and the
 * asserts run outside the candidate's process. C runs do the same with a stub made from the
 * entry's prototype in the tests: the tests' process calls a generated entry that passes the
 * arguments and results over a pipe to the candidate's process (values, bool, char, strings,
 * arrays with a length parameter, out-parameters, structs of those); the completion
 * record is written by the tests' process alone, on a descriptor only it holds. Candidates are
 * compiled under their own limits, keep only the entry symbol global, and may not have
 * constructors or ifuncs.
 */
#ifndef KILN_SBX_H
#define KILN_SBX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------------------------------------ */
/* Jobs and limits                                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef enum sbx_lang {
    SBX_LANG_PYTHON = 0,
    SBX_LANG_C = 1,
} sbx_lang;

/** Resource limits of one run (or of one compile step). 0 in a field means "no limit". */
typedef struct sbx_limits {
    uint32_t cpu_ms;      /* CPU time summed over every process of the run */
    uint32_t wall_ms;     /* wall-clock time from the start of the run */
    uint32_t mem_mb;      /* memory of the run's cgroup, page cache and tmpfs included */
    uint32_t n_procs;     /* processes and threads alive at once */
    uint32_t file_mb;     /* largest file a process may write (RLIMIT_FSIZE) */
    uint32_t n_files;     /* open descriptors per process (RLIMIT_NOFILE) */
    uint32_t output_kb;   /* stdout + stderr bytes; more ends the run with limit "output" */
    uint32_t disk_mb;     /* size of the sandbox's tmpfs root */
    uint32_t disk_inodes; /* inodes of the sandbox's tmpfs root */
} sbx_limits;

/** Returns the default run limits (2 s CPU, 5 s wall, 256 MiB, 32 processes, ...). */
sbx_limits sbx_limits_default(void);

/** Returns the default compile limits for C (10 s CPU, 20 s wall, 512 MiB, ...). */
sbx_limits sbx_limits_compile_default(void);

/** One run: a candidate, its tests and limits. Plain value; the strings are borrowed. */
typedef struct sbx_job {
    sbx_lang lang;
    core_str candidate;        /* candidate source */
    core_str tests;            /* Python: check(candidate), test_* functions or top-level asserts;
                                  C: a file with a main that calls entry */
    core_str entry;            /* name of the function the candidate must define */
    sbx_limits limits;         /* the run */
    sbx_limits compile_limits; /* C only: compiling and linking */
    core_cancel cancel;        /* polled while the run waits; fn may be NULL */
} sbx_job;

/** Returns a job with default limits, language Python and empty strings. */
sbx_job sbx_job_default(void);

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef enum sbx_verdict {
    SBX_VERDICT_PASSED = 0, /* every test passed and no limit was reached */
    SBX_VERDICT_FAILED = 1, /* a test failed or errored, or the candidate died during the tests */
    SBX_VERDICT_ERROR = 2,  /* the candidate did not compile, load or define the entry */
    SBX_VERDICT_LIMIT = 3,  /* a limit ended the run; see sbx_result.limit */
} sbx_verdict;

typedef enum sbx_limit {
    SBX_LIMIT_NONE = 0,
    SBX_LIMIT_CPU,
    SBX_LIMIT_WALL,
    SBX_LIMIT_MEMORY,
    SBX_LIMIT_OUTPUT,
    SBX_LIMIT_PROCESSES,
    SBX_LIMIT_FILE_SIZE, /* RLIMIT_FSIZE, or the tmpfs root filled up */
    SBX_LIMIT_COMPILE,   /* a compile limit ended compiling or linking */
} sbx_limit;

typedef enum sbx_test_status {
    SBX_TEST_PASSED = 0,
    SBX_TEST_FAILED = 1,
    SBX_TEST_ERROR = 2,
} sbx_test_status;

/** One test's outcome. Strings are owned by the result. */
typedef struct sbx_test {
    char *name; /* "check", "test_x", "assert@L3", "main" */
    sbx_test_status status;
    char *message; /* "" when passed */
    double ms;     /* time the test took, measured in the tests process */
} sbx_test;

/** The result of a run. Filled by sbx_pool_run; free the contents with sbx_result_dispose. */
typedef struct sbx_result {
    sbx_verdict verdict;
    sbx_limit limit; /* SBX_LIMIT_NONE unless verdict is SBX_VERDICT_LIMIT */
    char *message;   /* owned; why the verdict (load error, compile errors, limit), or "" */
    sbx_test *tests; /* (n_tests), owned */
    size_t n_tests;
    core_buf out;         /* candidate's stdout, capped */
    core_buf err;         /* candidate's stderr, capped (compiler diagnostics for C) */
    uint64_t n_out_bytes; /* stdout + stderr bytes written, before capping */
    uint64_t wall_ms;     /* the run (not compiling) */
    uint64_t cpu_ms;      /* the candidate's processes */
    uint64_t max_rss_kb;  /* peak memory of the candidate's cgroup */
    uint64_t compile_ms;  /* C: compile and link wall time */
} sbx_result;

/** Frees what the result owns and zeroes it. Accepts NULL and zeroed results. */
void sbx_result_dispose(sbx_result *result);

/** "passed", "failed", "error", "limit". Static storage. */
const char *sbx_verdict_name(sbx_verdict verdict);

/** "none", "cpu", "wall", "memory", "output", "processes", "file_size", "compile". */
const char *sbx_limit_name(sbx_limit limit);

/** "passed", "failed", "error". Static storage. */
const char *sbx_test_status_name(sbx_test_status status);

/**
 * Appends the result as one JSON object to out: verdict, limit (null or a name), message, tests
 * (name, status, message, ms), stdout, stderr, wall_ms, cpu_ms, max_rss_kb, compile_ms.
 * Returns 0 or CORE_ENOMEM.
 */
int sbx_result_to_json(core_buf *out, const sbx_result *result, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Pool of worker slots                                                                       */
/* ------------------------------------------------------------------------------------------ */

/**
 * A pool of sandbox slots. Internally synchronized: any number of threads may call
 * sbx_pool_run at once; each run takes a free slot and waits for one when all are busy.
 */
typedef struct sbx_pool sbx_pool;

typedef struct sbx_pool_options {
    size_t n_slots;          /* concurrent runs; 0 = one per online CPU */
    bool prefork;            /* keep an already-sandboxed interpreter pair ready per slot */
    bool zygote;             /* fork Python boxes from per-slot interpreters that loaded the
                                harness once, instead of starting two interpreters per run */
    const char *python_path; /* default "/usr/bin/python3"; must live under /usr */
    const char *cc_path;     /* default "/usr/bin/gcc" */
    uint32_t uid_base;       /* host uids uid_base .. uid_base + 2 * n_slots - 1 run the boxes */
    size_t output_cap;       /* bytes of stdout and of stderr kept in a result (default 64 KiB) */
    core_log log;            /* borrowed sink; fn may be NULL */
} sbx_pool_options;

/** Returns the defaults: one slot per CPU, prefork and zygote on, uid_base 3200000. */
sbx_pool_options sbx_pool_options_default(void);

/**
 * Checks the host (user and pid namespaces, cgroup v2 with cgroup.kill, memory and pids
 * controllers in v2 or v1, seccomp), creates the slots' cgroups and network namespaces and, with
 * prefork, starts the first interpreters. opts is copied (python_path and cc_path too).
 * Returns CORE_EUNSUPPORTED, naming the feature, when the host lacks one; CORE_EINVAL for bad
 * options; CORE_ENOMEM.
 */
int sbx_pool_new(sbx_pool **out, const sbx_pool_options *opts, core_err *err);

/** Kills every sandbox of the pool, removes its cgroups and frees it. Accepts NULL. */
void sbx_pool_free(sbx_pool *pool);

/** Number of slots. */
size_t sbx_pool_n_slots(const sbx_pool *pool);

/**
 * Runs job on a free slot and fills result (which the caller disposes, also on failure). A
 * verdict is a successful return, whatever it is. Returns CORE_EINVAL for a malformed job,
 * CORE_EPARSE when the tests do not parse (the message names the line; C: or declare no
 * prototype of the entry), CORE_EUNSUPPORTED when a C entry's prototype has a type that cannot
 * cross between the two processes (the message names the parameter; nothing ran),
 * CORE_ENOTFOUND when the interpreter or compiler is missing, CORE_ECANCELED when job->cancel
 * asked to stop, CORE_ENOMEM, or CORE_ERROR when the sandbox itself failed. Internally
 * synchronized.
 */
int sbx_pool_run(sbx_pool *pool, const sbx_job *job, sbx_result *result, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Tree runs: a command over a copy of a source tree                                          */
/* ------------------------------------------------------------------------------------------ */

/**
 * Runs a shell command in a box that holds a copy of a source tree (a repository snapshot) in
 * /work: the same namespaces, read-only system binds, seccomp filter, cgroup limits and empty
 * network as the pool's boxes, under one sandbox user of its own. The tree is packed into a
 * ustar archive that the box unpacks with /bin/tar before the command runs, so nothing of the
 * host's file system is written. Used by kiln patch to run a repository's own tests. One
 * thread at a time.
 */
typedef struct sbx_tree sbx_tree;

typedef struct sbx_tree_options {
    uint32_t uid; /* host uid that runs the boxes (default 3190000; above root) */
    core_log log; /* borrowed sink; fn may be NULL */
} sbx_tree_options;

sbx_tree_options sbx_tree_options_default(void);

/**
 * Creates the runner: checks the host, creates its cgroup leaf, network namespace and seccomp
 * program. opts is copied. Codes: CORE_EUNSUPPORTED (a missing host feature, named),
 * CORE_EINVAL, CORE_ENOMEM.
 */
int sbx_tree_new(sbx_tree **out, const sbx_tree_options *opts, core_err *err);
void sbx_tree_free(sbx_tree *tree);

/** One file of a tree. Plain value; path and data are borrowed. */
typedef struct sbx_tree_file {
    core_str path; /* relative, '/'-separated; no empty, "." or ".." component */
    core_str data; /* contents; for a symlink, its target */
    bool exec;     /* executable bit */
    bool symlink;  /* a symbolic link (contained: it resolves inside the box) */
} sbx_tree_file;

/** What to run. Plain value; strings are borrowed for the call. */
typedef struct sbx_tree_job {
    const sbx_tree_file *files; /* (n_files) the tree, written under /work */
    size_t n_files;
    const char *command; /* run with /bin/sh -c in /work */
    sbx_limits limits;   /* disk_mb 0: sized from the tree */
    core_cancel cancel;  /* polled while the run waits; fn may be NULL */
} sbx_tree_job;

/** The outcome of a tree run. Free the contents with sbx_tree_result_dispose. */
typedef struct sbx_tree_result {
    int exit_code;   /* the command's exit status, or -1 when a signal ended it */
    int signal;      /* the signal that ended it, or 0 */
    sbx_limit limit; /* the limit that ended the run, or SBX_LIMIT_NONE */
    core_buf out;    /* stdout and stderr together, capped at 256 KiB */
    uint64_t n_out_bytes;
    uint64_t wall_ms;
    uint64_t cpu_ms;
} sbx_tree_result;

void sbx_tree_result_dispose(sbx_tree_result *result);

/**
 * Runs job->command over a copy of job->files and fills result (disposed by the caller, also on
 * failure). Any exit status or limit is a successful return. Codes: CORE_EINVAL (a bad path,
 * named, or too long for the archive), CORE_ELIMIT (the tree exceeds the box's disk),
 * CORE_ECANCELED, CORE_ENOMEM, CORE_ERROR (the sandbox itself failed).
 */
int sbx_tree_run(sbx_tree_result *result, sbx_tree *tree, const sbx_tree_job *job, core_err *err);

#endif /* KILN_SBX_H */
