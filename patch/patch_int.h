/*
 * Private declarations of the patch module: the repository reader (repo.c, libgit2), the target
 * finder (target.c, tree-sitter), the test runs (verify.c) and the outputs (output.c).
 */
#ifndef KILN_PATCH_INT_H
#define KILN_PATCH_INT_H

#include "patch/patch.h"

#include <git2.h>

struct patch_repo {
    git_repository *git; /* owned */
    git_commit *commit;  /* owned: the revision */
    git_tree *tree;      /* owned: its tree */
    char hex[41];
};

/** One file of the snapshot. */
typedef struct patch__file {
    char *path; /* owned, NUL-terminated */
    char *data; /* owned (NUL-terminated copy), NULL for a gitlink */
    size_t len;
    bool exec;
    bool symlink;
    bool gitlink; /* a submodule entry: not in the snapshot */
} patch__file;

/** The tree at the revision, every blob read. */
typedef struct patch__snap {
    patch__file *files; /* (n_files), owned, in tree order */
    size_t n_files;
    size_t cap;
} patch__snap;

/** Makes room for one more item in *items (n used of *cap, each size bytes), doubling from
 *  16. CORE_ENOMEM (nothing changed). */
int patch__grow(void **items, size_t *cap, size_t n, size_t size);

/** Reads every blob of the revision's tree. CORE_ELIMIT (a blob over blob_max, named),
 *  CORE_EPARSE (a corrupt object), CORE_ENOMEM. */
int patch__snap_read(patch__snap *out, patch_repo *repo, size_t blob_max, core_err *err);
void patch__snap_dispose(patch__snap *snap);
/** The file at path, or NULL. */
const patch__file *patch__snap_find(const patch__snap *snap, const char *path);

/** Lines of the revision changed since base: (path, first line, n lines) triples. */
typedef struct patch__hunk {
    char *path; /* owned */
    uint32_t line;
    uint32_t n_lines; /* 0: a pure deletion before line */
} patch__hunk;

typedef struct patch__changes {
    patch__hunk *hunks; /* (n_hunks), owned */
    size_t n_hunks;
    size_t cap;
} patch__changes;

/** The hunks between base and the revision. CORE_ENOTFOUND (unknown base), CORE_ENOMEM,
 *  CORE_ERROR. */
int patch__changes_read(patch__changes *out, patch_repo *repo, const char *base, core_err *err);
void patch__changes_dispose(patch__changes *changes);
/** Whether lines [first, last] of path intersect a hunk (an added file is one hunk). */
bool patch__changes_touch(const patch__changes *changes, const char *path, uint32_t first,
                          uint32_t last);

/** Appends the file at path with the splices of the chosen targets applied (all targets when
 *  include_unverified, else the verified ones). */
int patch__apply(core_buf *out, core_str old, const patch_result *result, const char *path,
                 bool include_unverified, const patch_target *only, core_err *err);

/** Finds the targets (target.c): fills result->targets with path, name, prompt, tests and the
 *  splice range. */
int patch__targets_find(patch_result *result, const patch__snap *snap, const patch__changes *base,
                        const patch_options *opts, core_err *err);

/** The solve task of a target (strings borrowed from target and arena). */
int patch__task_make(solve_task *out, const patch_target *target, core_arena *arena,
                     const patch__snap *snap, core_err *err);

/** Turns the generator's candidate code into the target's replacement text (owned, core_malloc).
 *  CORE_EPARSE when the candidate does not define the function. */
int patch__splice_make(char **out, const patch_target *target, const patch__snap *snap,
                       core_str code, core_err *err);

/** Runs command over the snapshot with (when target and splice are given) one file replaced.
 *  Fills run. */
int patch__tests_run(patch_test_run *run, sbx_tree *tree, const patch__snap *snap,
                     const patch_target *target, const char *splice, const char *command,
                     const patch_options *opts, core_err *err);
void patch__run_dispose(patch_test_run *run);

/** Reads a test run's outcomes from its output (pytest's -rA summary lines, else run's exit
 *  status and limit) into run's counts and id lists, and keeps the output's tail. CORE_ENOMEM. */
int patch__outcomes_parse(patch_test_run *run, core_str out);

/** Whether a test id (failed before) is among run's failures. */
bool patch__run_has_failed(const patch_test_run *run, core_str id);

#endif /* KILN_PATCH_INT_H */
