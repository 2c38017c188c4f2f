/* TCase constructors of the patch suite, one per patch/ file, and the fixtures they share:
 * repositories written with libgit2 by the tests themselves, and a generator that answers
 * with fixed candidates instead of a model. */
#ifndef KILN_TESTS_PATCH_H
#define KILN_TESTS_PATCH_H

#include <check.h>
#include <git2.h>
#include <stdbool.h>

#include "patch/patch.h"

TCase *tcase_repo(void);
TCase *tcase_target(void);
TCase *tcase_patch(void);
TCase *tcase_agree(void); /* test_patch.c: kiln solve's and kiln patch's verdicts */
TCase *tcase_output(void);
TCase *tcase_ci(void);

/** A file of a fixture commit. */
typedef struct fx_file {
    const char *path;
    const char *data; /* a gitlink: the commit id in hex */
    size_t len;       /* 0: strlen(data) */
    unsigned mode;    /* 0: 0100644; 0100755, 0120000 (symlink), 0160000 (gitlink) */
} fx_file;

#define FX_PATH_MAX 512

/** Names a fresh folder under the build tree's scratch folder (removed first) in out. */
void fx_dir(char out[FX_PATH_MAX], const char *name);

/** A new repository at dir (bare or with a working tree). */
git_repository *fx_repo_new(const char *dir, bool bare);

/** Commits exactly files as the whole tree, with the commit ref points at (or none) as
 *  parent, and moves ref ("HEAD" or "refs/heads/NAME") to it. */
void fx_commit(git_oid *out, git_repository *repo, const char *ref, const fx_file *files, size_t n,
               const char *msg);

/** Tags commit as name (lightweight). */
void fx_tag(git_repository *repo, const char *name, const git_oid *commit);

/** Checks HEAD out into the working tree (force). */
void fx_checkout(git_repository *repo);

/** The Python project: v1 (tag v1: add done, square a stub), HEAD (cube added as a stub),
 *  branch feature (negate added). Written at dir with a working tree checked out. */
void fx_python_project(const char *dir);

/** The C project (Makefile with a test target, max2 and clamp stubs). */
void fx_c_project(const char *dir);

/** A generator answering every task whose entry is named in pairs (entry, code, entry, code,
 *  ..., NULL) with those codes in order. */
typedef struct fx_gen {
    const char *const *pairs;
    size_t n_calls;
} fx_gen;

int fx_gen_fn(void *payload, solve_result **out, const solve_task *task, core_err *err);

/** A sandbox tree runner for the tests (fails the test when the host has no sandbox). */
sbx_tree *fx_tree(void);

/** Opens dir at rev and runs patch with gen's candidates; returns patch_run's code. */
int fx_patch(patch_result **out, const char *dir, const char *rev, patch_options *opts, fx_gen *gen,
             core_err *err);

/** Runs a shell command (printf format); returns its exit status. */
int fx_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** A digest of what a user sees of a repository: HEAD, refs, index and working tree bytes. */
char *fx_state(const char *dir);

/** The target named name in r, or a test failure. */
const patch_target *fx_target(const patch_result *r, const char *name);

#endif
