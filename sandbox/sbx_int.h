/*
 * Private declarations shared by the sandbox module's files: the box launcher (box.c), the
 * cgroup layer (cgroup.c), the seccomp filter (filter.c), the runners (pyrun.c, crun.c) and the
 * pool (pool.c). Nothing here is part of the public API.
 */
#ifndef KILN_SBX_INT_H
#define KILN_SBX_INT_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"
#include "sandbox/sbx.h"

/* ------------------------------------------------------------------------------------------ */
/* Seccomp filter (filter.c)                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** The uid and gid of every box inside its user namespace: the only id mapped there, so no
 *  process in a box can hold any other (box.c sets it, filter.c lets set*id name only it). */
#define SBX__BOX_ID 1000u

/** A compiled BPF program, exported once from libseccomp so that a forked child can load it
 *  without allocating. */
typedef struct sbx__filter {
    struct sock_filter *insns; /* (n_insns), owned */
    size_t n_insns;
    struct sock_fprog prog; /* points at insns */
} sbx__filter;

int sbx__filter_init(sbx__filter *filter, core_err *err);
void sbx__filter_dispose(sbx__filter *filter);

/* ------------------------------------------------------------------------------------------ */
/* Cgroups (cgroup.c)                                                                         */
/* ------------------------------------------------------------------------------------------ */

enum { SBX__PATH_MAX = 512 };

typedef enum sbx__cg_layout {
    SBX__CG_V2 = 0,     /* /sys/fs/cgroup is cgroup2 with memory and pids */
    SBX__CG_HYBRID = 1, /* /sys/fs/cgroup/unified is cgroup2; memory and pids are v1 */
} sbx__cg_layout;

/** The host's layout and the pool's base folders in each hierarchy. */
typedef struct sbx__cg_host {
    sbx__cg_layout layout;
    char v2_base[SBX__PATH_MAX];  /* cgroup2 folder of the pool (kill, cpu.stat; v2: all) */
    char mem_base[SBX__PATH_MAX]; /* hybrid: v1 memory folder of the pool */
    char pid_base[SBX__PATH_MAX]; /* hybrid: v1 pids folder of the pool */
} sbx__cg_host;

/** One leaf cgroup (in each hierarchy) that a box joins. */
typedef struct sbx__cg {
    const sbx__cg_host *host;     /* borrowed */
    char v2[SBX__PATH_MAX];       /* folder */
    char mem[SBX__PATH_MAX];      /* folder (v2: same as v2) */
    char pid[SBX__PATH_MAX];      /* folder (v2: same as v2) */
    char procs[3][SBX__PATH_MAX]; /* cgroup.procs files to join, n_procs of them */
    size_t n_procs;
} sbx__cg;

/** Counters read at the start of a run, to report deltas. */
typedef struct sbx__cg_stat {
    uint64_t cpu_us;
    uint64_t n_oom_kills;
    uint64_t n_pids_max; /* times fork failed at pids.max */
    uint64_t mem_peak;   /* bytes */
} sbx__cg_stat;

/** Detects the layout and creates the pool's base folders named after tag. CORE_EUNSUPPORTED. */
int sbx__cg_host_init(sbx__cg_host *host, const char *tag, core_err *err);
void sbx__cg_host_dispose(sbx__cg_host *host);
/** Creates the leaf name under the pool's base. */
int sbx__cg_init(sbx__cg *cg, const sbx__cg_host *host, const char *name, core_err *err);
/** Kills everything in the leaf, waits until it is empty and removes it. */
void sbx__cg_dispose(sbx__cg *cg);
/** Sets memory (bytes, 0 = none) and process limits; resets the memory peak. */
int sbx__cg_set_limits(sbx__cg *cg, uint64_t mem_bytes, uint32_t n_procs, core_err *err);
int sbx__cg_read(const sbx__cg *cg, sbx__cg_stat *stat);
/** Fills out with up to cap pids of the processes in the leaf; returns how many. */
size_t sbx__cg_pids(const sbx__cg *cg, pid_t *out, size_t cap);
/** SIGKILLs every process of the leaf (cgroup.kill). */
int sbx__cg_kill(const sbx__cg *cg);
/** Waits up to timeout_ms until the leaf has no process. CORE_ETIMEOUT. */
int sbx__cg_wait_empty(const sbx__cg *cg, uint32_t timeout_ms);

/* ------------------------------------------------------------------------------------------ */
/* Boxes (box.c)                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** A file the box writes into its tmpfs root before dropping privileges. */
typedef struct sbx__file {
    const char *path; /* relative to the box root, in an existing folder ("work/c.py") */
    const char *data; /* borrowed */
    size_t len;
    unsigned mode;
} sbx__file;

enum { SBX__BOX_FDS_MAX = 8 };

/** Everything a box needs; all memory is prepared by the caller before the clone. */
typedef struct sbx__box_spec {
    const char *const *argv; /* argv[0] is the path inside the box */
    const char *const *envp;
    int fds[SBX__BOX_FDS_MAX]; /* the box's fd i is fds[i]; -1: /dev/null */
    size_t n_fds;
    const sbx__file *files;
    size_t n_files;
    uint32_t host_uid;        /* the sandbox user (uid and gid 1000 inside) */
    const sbx_limits *limits; /* rlimits and tmpfs size */
    const sbx__cg *cg;        /* joined before anything runs */
    int netns_fd;             /* the slot's network namespace */
    const sbx__filter *filter;
} sbx__box_spec;

/** Starts a box; on return its payload has been exec'd. *out gets pid 1 of the box (its init,
 *  a child of the caller, which exits when the payload does); *status_fd gets a pipe on which
 *  init writes the payload's wait status. CORE_ENOTFOUND when argv[0] does not exist in the
 *  box, CORE_EUNSUPPORTED for a missing kernel feature, CORE_ERROR. */
int sbx__box_start(pid_t *out, int *status_fd, const sbx__box_spec *spec, core_err *err);
/** Reads the payload's wait status after init exited (SIGKILL when init was killed first). */
int sbx__box_status(int status_fd);
/** Writes the uid and gid maps of pid's user namespace: 1000 inside is host_uid. */
int sbx__box_map_ids(pid_t pid, uint32_t host_uid, core_err *err);
/** Turns a child's failure record (stage, errno) into an error naming the stage; argv0 names
 *  the payload when exec found nothing. Returns the code. */
int sbx__box_fail(const int rec[2], const char *argv0, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Zygotes (zygote.c)                                                                         */
/* ------------------------------------------------------------------------------------------ */

/** A per-slot interpreter that loaded one side's harness once and forks a fresh box per run
 *  (harness/zygote.py). It runs as root outside any box and never runs candidate code; a box it
 *  forks is set up exactly as box.c's child does before the harness touches a job. Used by one
 *  thread at a time (the thread holding the slot). */
typedef struct sbx__zyg {
    pid_t pid; /* the zygote, a child of the service, or 0 */
    int ctl;   /* SOCK_SEQPACKET control socket, or -1 */
} sbx__zyg;

void sbx__zyg_init(sbx__zyg *z);
/** Starts the zygote with python (an absolute path), handing it the harness src and the pool's
 *  seccomp program. CORE_ENOTFOUND when python does not exist, CORE_ERROR. */
int sbx__zyg_start(sbx__zyg *z, const char *python, const char *src, size_t len,
                   const sbx__filter *filter, core_err *err);
/** Kills and reaps the zygote (its boxes live on until their cgroups are killed). */
void sbx__zyg_stop(sbx__zyg *z);
/** Like sbx__box_start, but the box is forked from the zygote and its payload runs the
 *  zygote's harness instead of exec'ing spec->argv (spec->files are not written). *out is the
 *  box's init, which is not a child of the caller: it is never waited for. Restarts a zygote
 *  that died. Same error codes as sbx__box_start. */
int sbx__zyg_spawn(sbx__zyg *z, pid_t *out, int *status_fd, const sbx__box_spec *spec,
                   const char *python, const char *src, size_t len, core_err *err);

/** Creates a network namespace with loopback up; returns an fd to it. */
int sbx__netns_new(int *out, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Runs (pool.c, pyrun.c, crun.c)                                                             */
/* ------------------------------------------------------------------------------------------ */

typedef struct sbx__slot sbx__slot;

/** A slot's compiled C stub runtime (cstub/rt.c), built by the slot's first C build. Used by
 *  the thread holding the slot. */
typedef struct sbx__crt {
    core_buf objs; /* the tests' side object, then the candidate's; owned */
    size_t n_t;    /* bytes of the tests' side object; 0: none yet */
} sbx__crt;

/** What the runners need from a slot. */
typedef struct sbx__env {
    const sbx_pool_options *opts; /* borrowed */
    const sbx__filter *filter;
    int netns_fd;
    sbx__cg *cg_tests; /* the tests process (Python) */
    sbx__cg *cg_cand;  /* the candidate, and compile steps */
    uint32_t uid_tests;
    uint32_t uid_cand;
    const core_buf *pyc_tests; /* precompiled harness, or NULL to run the sources */
    const core_buf *pyc_cand;
    sbx__zyg *zyg_t; /* the slot's zygotes (tests, candidate), or NULL: exec per box */
    sbx__zyg *zyg_c;
    sbx__crt *crt; /* the slot's C stub runtime */
} sbx__env;

/** A Python box pair, started and waiting for a job on its job socket. */
typedef struct sbx__pybox {
    pid_t pid_t_;     /* tests box pid 1, or 0 */
    pid_t pid_c;      /* candidate box pid 1, or 0 */
    int status_t;     /* read: the tests payload's wait status */
    int status_c;     /* read: the candidate payload's wait status */
    int root_c;       /* O_PATH: the candidate box's root, to see whether its tmpfs filled */
    int job_t;        /* write: job for the tests box */
    int job_c;        /* write: job for the candidate box */
    int res_t;        /* read: per-test records */
    int out_t;        /* read: tests box stdout + stderr */
    int out_c;        /* read: candidate stdout */
    int err_c;        /* read: candidate stderr */
    uint32_t disk_mb; /* tmpfs size the pair was started with */
    uint32_t disk_inodes;
    bool started;
    bool dying;   /* killed after a run, not yet reaped */
    bool foreign; /* forked by a zygote: the pids are not the caller's children */
} sbx__pybox;

/** Makes box an empty, stopped pair (every descriptor -1). */
void sbx__pybox_init(sbx__pybox *box);
/** Starts a pair whose tmpfs and rlimits follow limits (the CPU limit is applied per job). */
int sbx__pybox_start(sbx__pybox *box, const sbx__env *env, const sbx_limits *limits, core_err *err);
/** Kills the pair (if running), reaps it and closes its descriptors. */
void sbx__pybox_stop(sbx__pybox *box, const sbx__env *env);
/** Runs job on a started pair; the pair is stopped afterwards. */
int sbx__pybox_run(sbx__pybox *box, const sbx__env *env, const sbx_job *job, sbx_result *res,
                   core_err *err);

/** Compiles the harness scripts to .pyc in a box with env's interpreter. */
int sbx__py_precompile(const sbx__env *env, core_buf *pyc_tests, core_buf *pyc_cand, core_err *err);

int sbx__crun(const sbx__env *env, const sbx_job *job, sbx_result *res, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* The C entry's stub (cstub.c; its runtime is cstub/rt.c, embedded)                          */
/* ------------------------------------------------------------------------------------------ */

/** How one parameter or the result crosses between the tests' process and the candidate's. */
typedef enum sbx__ckind {
    SBX__CK_VOID = 0, /* the result only: nothing */
    SBX__CK_VALUE,    /* a non-pointer value as its bytes (integers, floats, char, structs), and
                         a struct's string members (strs) as strings */
    SBX__CK_BOOL,     /* a byte that must be 0 or 1 */
    SBX__CK_STR,      /* char *: a NUL-terminated string, written back when not const */
    SBX__CK_ARRAY,    /* T * with a length parameter (len_of), written back when not const */
    SBX__CK_REF,      /* T * without a length: one value, written back when not const */
} sbx__ckind;

enum { SBX__CPARAMS_MAX = 16, SBX__CSTRS_MAX = 8, SBX__CNAME_MAX = 64 };

typedef struct sbx__cparam {
    sbx__ckind kind;
    char type[128];  /* the (pointed-to) type without qualifiers: "unsigned long", "struct p" */
    bool base_const; /* the (pointed-to) type is const: nothing is written back */
    int len_of;      /* SBX__CK_ARRAY: index of the length parameter; else -1 */
    bool is_len;     /* an integer: the length of an array right before it */
    char strs[SBX__CSTRS_MAX][SBX__CNAME_MAX]; /* SBX__CK_VALUE: the struct's char * members,
                                                  which cross as strings after its bytes */
    size_t n_strs;
} sbx__cparam;

/** The entry function's prototype as the tests declare it. */
typedef struct sbx__cproto {
    sbx__cparam ret;
    sbx__cparam params[SBX__CPARAMS_MAX];
    size_t n_params;
} sbx__cproto;

/** Finds the entry's prototype in the tests and classifies it. CORE_EPARSE when the tests
 *  declare no such function; CORE_EUNSUPPORTED, naming the parameter, for a type that cannot
 *  cross (void *, pointers to pointers, function pointers, variadics, structs with pointers);
 *  CORE_ENOMEM. */
int sbx__cproto_parse(sbx__cproto *out, core_str tests, core_str entry, core_err *err);
/** Appends the tests' half of the stub (a definition of entry) to out. CORE_ENOMEM. */
int sbx__cstub_tests(core_buf *out, const sbx__cproto *proto, core_str entry);
/** Appends the candidate's half (kiln_dispatch, which calls entry) to out. CORE_ENOMEM. */
int sbx__cstub_cand(core_buf *out, const sbx__cproto *proto, core_str entry);

/** One run's supervision (watch.c): feeds job bytes, drains outputs, enforces CPU, wall,
 *  output, memory and process limits on cg until end_fd (a pidfd or a pipe) signals the end. */
typedef struct sbx__watch {
    int job_fd[2];      /* nonblocking sockets to write job bytes to, or -1 */
    const char *job[2]; /* borrowed bytes */
    size_t job_len[2];
    int in_fd[4];        /* nonblocking pipes to drain, or -1 */
    core_buf *in_buf[4]; /* where their bytes go */
    size_t in_cap[4];    /* bytes kept per buffer */
    bool in_counted[4];  /* counts towards the output limit */
    int end_fd;          /* pidfd of the process whose exit ends the run */
    int end_pipe;        /* index into in_fd whose EOF also ends the run, or -1 */
    const sbx__cg *cg;   /* the candidate's cgroup */
    const sbx_limits *limits;
    uint64_t t0_ns;   /* start of the run */
    uint64_t cpu0_us; /* cg's CPU at the start */
    uint64_t oom0;    /* cg's OOM kills at the start */
    uint64_t pids0;   /* cg's pids.max events at the start */
    const core_cancel *cancel;
    /* out */
    sbx_limit hit; /* the limit that ended the run, or SBX_LIMIT_NONE */
    uint64_t n_out_bytes;
    bool canceled;
} sbx__watch;

int sbx__watch_run(sbx__watch *w, core_err *err);
/** Points w at the cgroup cg and the limits lim of a run that started at t0 with the counters
 *  st0, and at cancel (borrowed, like lim, for the run). */
void sbx__watch_baseline(sbx__watch *w, const sbx__cg *cg, const sbx_limits *lim, uint64_t t0,
                         const sbx__cg_stat *st0, const core_cancel *cancel);
/** Ends a box's run once its watch is over: kills what is left in cg, reaps pid, drains the
 *  output pipes fds (-1: none) into bufs (capped at caps; *n_extra counts the bytes), waits
 *  (up to 2 s) for cg to empty and reads its counters into st1. Returns the payload's wait
 *  status (sbx__box_status of status_fd). */
int sbx__watch_reap(sbx__cg_stat *st1, uint64_t *n_extra, pid_t pid, int status_fd,
                    const sbx__cg *cg, const int fds[2], core_buf *const bufs[2],
                    const size_t caps[2]);

/* Shared helpers (result.c). */
int sbx__result_add_test(sbx_result *res, const char *name, size_t name_len, sbx_test_status status,
                         const char *msg, size_t msg_len, double ms);
int sbx__result_set_message(sbx_result *res, const char *msg);
/** Reads what is available on fd into buf (up to cap kept bytes; *n_total counts all).
 *  Returns 1 at EOF, 0 otherwise, or CORE_EIO. */
int sbx__drain(int fd, core_buf *buf, size_t cap, uint64_t *n_total);

/** The embedded harness scripts (harness.c, generated from sandbox/harness/). */
extern const char sbx__harness_tests_py[];
extern const size_t sbx__harness_tests_py_len;
extern const char sbx__harness_cand_py[];
extern const size_t sbx__harness_cand_py_len;
extern const char sbx__harness_zygote_py[];
extern const size_t sbx__harness_zygote_py_len;
extern const char sbx__cstub_rt_c[];
extern const size_t sbx__cstub_rt_c_len;

/* What the tests box reported: one record a line, tab-separated, backslash-escaped. */
typedef struct sbx__report {
    bool done;        /* the harness reached its end */
    bool load_error;  /* the candidate could not be loaded */
    bool tests_error; /* the tests file could not be run */
    char msg[1024];   /* the load or tests error, truncated */
} sbx__report;

/**
 * Parses the tests box's records in buf (unescaped in place) into rec and res->tests. A
 * partial last line is ignored; unknown records are skipped. CORE_ENOMEM.
 */
int sbx__report_parse(sbx__report *rec, sbx_result *res, core_buf *buf);

#endif /* KILN_SBX_INT_H */
