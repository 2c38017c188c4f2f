/*
 * patch: verified patches for a git repository, the front end behind `kiln patch` (a CI bot's
 * view of kiln). It reads a repository at a revision through libgit2 (the object database, so a
 * dirty checkout or a bare repository reads the same), finds the functions to write (named ones,
 * or every stub tree-sitter finds, optionally only those added or changed since a base
 * revision), builds a task per function from its docstring or comment, signature, imports,
 * helpers and the repository's tests that mention it, asks a generator (the pipeline, solve_run)
 * for candidates, and verifies the best ones by running the repository's own tests in the
 * sandbox on a snapshot of the tree with the candidate applied, before and after. A patch is
 * verified when the target's tests go from failing to passing and no test that passed before
 * fails after. It writes the result as a unified diff, an mbox patch, a commit on a new branch
 * (the user's HEAD, index and working tree untouched) and a report (Markdown or JSON).
 */
#ifndef KILN_PATCH_H
#define KILN_PATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "sandbox/sbx.h"
#include "solve/solve.h"

/* ------------------------------------------------------------------------------------------ */
/* Repositories                                                                               */
/* ------------------------------------------------------------------------------------------ */

/** A repository opened at a revision. One thread at a time. */
typedef struct patch_repo patch_repo;

/**
 * Opens the repository at path (a working tree, its .git folder or a bare repository; the
 * path is not searched upwards) and resolves rev (NULL: "HEAD") to a commit. Caller frees with
 * patch_repo_free. Codes: CORE_ENOTFOUND (not a repository; unknown revision, also HEAD of an
 * empty repository), CORE_EPARSE (a corrupt repository), CORE_ENOMEM.
 */
int patch_repo_open(patch_repo **out, const char *path, const char *rev, core_err *err);
void patch_repo_free(patch_repo *repo);

/** The resolved commit's id in hex (40 characters). Valid as long as repo. */
const char *patch_repo_commit(const patch_repo *repo);

/** A file given by content: path relative to the repository's root ('/' between folders). */
typedef struct patch_file {
    core_str path;
    core_str data;
} patch_file;

#define PATCH_FILES_MAX       1000               /* files at most in patch_repo_from_files */
#define PATCH_FILES_BYTES_MAX ((size_t)16 << 20) /* their contents' bytes at most */

/**
 * Makes a repository that lives in memory (an object database of its own: no folder, nothing
 * written to disk, all gone with patch_repo_free) holding one commit, with a fixed author and
 * date, of files (regular, not executable), and opens it at that commit. Paths must be UTF-8,
 * relative, without NUL, empty, '.', '..' or '.git' components, and each given once; neither
 * files nor paths are kept. Caller frees with patch_repo_free. Codes: CORE_EINVAL (no files, a
 * bad path, or a path that is also a folder; named with its index), CORE_ELIMIT (more than
 * PATCH_FILES_MAX files or PATCH_FILES_BYTES_MAX bytes), CORE_ENOMEM, CORE_ERROR (libgit2).
 */
int patch_repo_from_files(patch_repo **out, const patch_file *files, size_t n_files, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Generates candidates for a task: fills *out (freed by the caller with solve_result_free)
 * with ranked candidates. The default generator is solve_run on an engine.
 */
typedef struct patch_generator {
    int (*fn)(void *payload, solve_result **out, const solve_task *task, core_err *err);
    void *payload;
} patch_generator;

typedef struct patch_options {
    const char *base;             /* only stubs added or changed since this revision; NULL */
    const char *const *functions; /* (n_functions) "PATH:NAME" targets; none: every stub */
    size_t n_functions;
    const char *test_cmd;      /* NULL: pytest on the tests that mention the target
                                  (Python), `make test` where a Makefile has it (C); {name}
                                  and {tests} expand to the function's name and test files */
    size_t n_verify_max;       /* candidates verified at most per target (default 3) */
    size_t blob_max;           /* largest blob in the snapshot, bytes (default 16 MiB) */
    sbx_limits limits;         /* per test run (default 30 s CPU, 60 s wall, 512 MiB) */
    patch_generator generator; /* required */
    core_cancel cancel;        /* fn may be NULL */
    core_log log;              /* borrowed sink; fn may be NULL */
} patch_options;

patch_options patch_options_default(void);

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef enum patch_verdict {
    PATCH_VERDICT_VERIFIED = 0, /* the target's tests went from failing to passing, no regression */
    PATCH_VERDICT_PROPOSED = 1, /* a candidate was written but not verified */
    PATCH_VERDICT_NO_TESTS = 2, /* no test mentions the target: proposed, never verified */
    PATCH_VERDICT_PASSING = 3,  /* the tests already passed before any patch: nothing to prove */
    PATCH_VERDICT_NONE = 4,     /* no usable candidate */
} patch_verdict;

/** "verified", "proposed", "no_tests", "already_passing", "none". Static storage. */
const char *patch_verdict_name(patch_verdict verdict);

/** Outcome of one test run over a snapshot. Strings are owned by the result. */
typedef struct patch_test_run {
    bool ran;
    int exit_code;   /* -1: killed by a signal */
    sbx_limit limit; /* a limit that ended the run */
    size_t n_passed; /* tests reported passing (pytest -rA lines), else 0/1 from the exit */
    size_t n_failed;
    char *failed; /* newline-separated ids of the tests that failed; owned */
    char *passed; /* newline-separated ids of the tests that passed (pytest); owned */
    char *output; /* the last 4 KiB of stdout and stderr; owned */
    double seconds;
} patch_test_run;

/** One target and what became of it. Strings are owned by the result. */
typedef struct patch_target {
    char *path;    /* file in the repository */
    char *name;    /* function name ("Class.method" for a method) */
    char *lang;    /* "python" or "c" */
    char *stub;    /* gram_stub_name of the body, "none" for a named non-stub */
    uint32_t line; /* 1-based line of the definition at REV */
    char *prompt;  /* the task given to the generator */
    char *tests;   /* newline-separated test files that mention the target */
    char *command; /* the test command that ran */
    patch_verdict verdict;
    char *message;       /* why, in one line */
    char *code;          /* the chosen function's new body text, "" when none */
    char *fixed;         /* newline-separated tests that now pass */
    size_t n_candidates; /* candidates written */
    size_t n_tried;      /* candidates verified in the sandbox */
    patch_test_run before;
    patch_test_run after;
    eval_card card; /* the chosen candidate's score card (card.behavior NULL) */
    double seconds_generate;
    double seconds_test;
    /* where the new text goes: bytes [splice_start, splice_end) of the file at REV */
    size_t splice_start;
    size_t splice_end;
    char *splice; /* the replacement, "" when none */
} patch_target;

/** What patch_run found. Free with patch_result_free. */
typedef struct patch_result {
    char *commit;          /* the revision's commit id (hex) */
    patch_target *targets; /* (n_targets) */
    size_t n_targets;
    size_t n_verified;
    double seconds;
} patch_result;

void patch_result_free(patch_result *result);

/* ------------------------------------------------------------------------------------------ */
/* Running                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Finds the targets of repo at its revision, generates and verifies a patch for each. tree runs
 * the tests (the sandbox); it may be NULL only when every target ends without tests (nothing is
 * verified then). *out belongs to the caller. Codes: CORE_ENOTFOUND (unknown base revision, no
 * such file or function named, test command not found), CORE_EINVAL (bad options, named),
 * CORE_ELIMIT (a blob larger than blob_max, named), CORE_EPARSE (a corrupt object),
 * CORE_ECANCELED, CORE_ENOMEM, those of the sandbox and the generator.
 */
int patch_run(patch_result **out, patch_repo *repo, sbx_tree *tree, const patch_options *opts,
              core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Output                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/**
 * Appends the unified diff of every verified target (all when include_unverified) to out, one
 * `diff --git` section per file, as `git apply` and `patch -p1` take it. Nothing is appended
 * when there is nothing to change. Codes: CORE_ENOMEM, CORE_ERROR (libgit2, named).
 */
int patch_result_diff(core_buf *out, patch_repo *repo, const patch_result *result,
                      bool include_unverified, core_err *err);

/** Author and message of a commit or email; NULL fields take the defaults. */
typedef struct patch_commit_info {
    const char *author_name;  /* default "kiln" */
    const char *author_email; /* default "kiln@localhost" */
    const char *message;      /* default: a summary line and the tests that now pass */
} patch_commit_info;

/**
 * Appends the verified diff as one email patch (`git am` takes it; libgit2's email API) to out.
 * Nothing is appended when there is nothing to change. Codes: CORE_ENOMEM, CORE_ERROR.
 */
int patch_result_mbox(core_buf *out, patch_repo *repo, const patch_result *result,
                      const patch_commit_info *info, core_err *err);

/**
 * Commits the verified changes on a new branch whose parent is the revision; HEAD, the index
 * and the working tree are not touched. hex (41 bytes) gets the new commit's id. Codes:
 * CORE_EINVAL (the branch exists or its name is not valid, named), CORE_ENOTFOUND (nothing
 * verified to commit), CORE_ERROR (libgit2, named), CORE_ENOMEM.
 */
int patch_result_commit(char hex[41], patch_repo *repo, const patch_result *result,
                        const char *branch, const patch_commit_info *info, core_err *err);

/**
 * Appends the report to out: Markdown for a pull-request comment (json false) or one JSON object:
 * per target the verdict, tests before and after, candidates written and tried, the chosen
 * candidate's score card and seconds. CORE_ENOMEM.
 */
int patch_result_report(core_buf *out, const patch_result *result, bool json, core_err *err);

#endif /* KILN_PATCH_H */
