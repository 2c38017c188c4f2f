/*
 * `kiln patch REPO`: verified patches for a git repository, for CI bots (patch/patch.h does the
 * work). This file parses the options, opens the repository first (so a bad repository or
 * revision is reported before any model loads), loads the model, the sandbox pool and the
 * pipeline only when a target needs a candidate, and writes the diff or email patch to stdout,
 * the commit and the report where asked. Exit codes: 0 at least one verified patch, 1 none,
 * 2 bad input (named on stderr).
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/pipeline.h"
#include "patch/patch.h"
#include "sandbox/sbx.h"
#include "solve/solve.h"

enum {
    OPT_REV = CLI_PIPE_OPT_END,
    OPT_BASE,
    OPT_FUNCTION,
    OPT_TEST_CMD,
    OPT_FORMAT,
    OPT_COMMIT_TO,
    OPT_AUTHOR,
    OPT_MESSAGE,
    OPT_REPORT,
    OPT_UNVERIFIED,
    OPT_VERIFY_MAX,
    OPT_BLOB_MAX,
    OPT_TEST_TIMEOUT,
};

#define FUNCTIONS_MAX 64

/* The pipeline (kiln solve's options and opening), opened on the first target that needs
 * candidates. */
typedef struct patch_gen {
    cli_pipe pipe;
    bool opened;
    int rc; /* the opening's code */
} patch_gen;

static int gen_run(void *payload, solve_result **out, const solve_task *task, core_err *err)
{
    patch_gen *g = payload;
    if (!g->opened) {
        g->opened = true;
        g->rc = cli_pipe_open(&g->pipe, err);
        if (g->rc < 0) {
            return g->rc;
        }
    }
    if (g->rc < 0 || g->pipe.engine == NULL) {
        return core_err_set(err, CORE_ERROR, "the pipeline could not be opened");
    }
    return solve_run(out, g->pipe.engine, task, &g->pipe.opts, NULL, NULL, err);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: kiln patch REPO [options]\n\n"
        "Writes the missing functions of a git repository at a revision (stubs found with\n"
        "tree-sitter, or the ones named), verifies each patch with the repository's own\n"
        "tests in the sandbox (failing before, passing after, nothing else broken) and\n"
        "prints the verified patches as a unified diff.\n\n"
        "  --rev REV              revision to read (default HEAD); the object database is\n"
        "                         read, not the working tree\n"
        "  --base REV             only stubs added or changed since REV (a pull request)\n"
        "  --function PATH:NAME   a target (repeatable; NAME may be Class.method)\n"
        "  --test-cmd CMD         test command; {name} and {tests} expand to the function\n"
        "                         and its test files (default: pytest on the tests that mention\n"
        "                         the target; `make -s test` for C when a Makefile has it)\n"
        "  --test-timeout S       wall seconds per test run (default 60)\n"
        "  --format diff|mbox     stdout: unified diff (default) or an email patch\n"
        "  --commit-to BRANCH     commit the verified patches on a new branch\n"
        "  --author 'NAME <EMAIL>'  author of the commit or email (default kiln)\n"
        "  --message TEXT         commit message (default: summary and fixed tests)\n"
        "  --report FILE          write the report: FILE.json as JSON, else Markdown\n"
        "  --include-unverified   also print proposed, unverified patches\n"
        "  --verify-max K         candidates verified per target (default 3)\n"
        "  --blob-max BYTES       largest blob read (default 16 MiB)\n"
        "  -v, --verbose          progress on stderr\n\n"
        "The pipeline's options, as in kiln solve:\n");
    cli_pipe_usage(f);
    fprintf(f, "\nexit: 0 at least one verified patch, 1 none, 2 bad input\n");
}

static int write_file(const char *path, const core_buf *buf, core_err *err)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return core_err_set(err, CORE_EIO, "%s: %s", path, strerror(errno));
    }
    size_t n = buf->len > 0 ? fwrite(buf->ptr, 1, buf->len, f) : 0;
    if (fclose(f) != 0 || n != buf->len) {
        return core_err_set(err, CORE_EIO, "%s: write failed", path);
    }
    return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "Name <email>" into name and email (pointers into buf). */
static bool parse_author(char *buf, const char **name, const char **email)
{
    char *lt = strchr(buf, '<');
    char *gt = lt != NULL ? strchr(lt, '>') : NULL;
    if (lt == NULL || gt == NULL || lt == buf) {
        return false;
    }
    *gt = '\0';
    char *end = lt;
    while (end > buf && end[-1] == ' ') {
        end--;
    }
    *end = '\0';
    *name = buf;
    *email = lt + 1;
    return **name != '\0' && **email != '\0';
}

typedef struct patch_args {
    const char *repo_path;
    const char *rev;
    const char *format;
    const char *commit_to;
    char author[512]; /* --author's copy, split into info's name and email */
    const char *report;
    bool unverified;
    bool verbose;
    const char *functions[FUNCTIONS_MAX];
    patch_commit_info info;
    patch_options popts;
    patch_gen gen;
} patch_args;

/* One of kiln patch's own options (cli_pipe_getopt's own). */
static int patch_option(void *payload, int c, const char *arg)
{
    patch_args *a = payload;
    size_t v = 0;
    switch (c) {
    case OPT_REV:
        a->rev = arg;
        return 1;
    case OPT_BASE:
        a->popts.base = arg;
        return 1;
    case OPT_FUNCTION:
        if (a->popts.n_functions == FUNCTIONS_MAX || strchr(arg, ':') == NULL) {
            fprintf(stderr, "kiln: --function %s: expected PATH:NAME (at most %d)\n", arg,
                    FUNCTIONS_MAX);
            return -1;
        }
        a->functions[a->popts.n_functions++] = arg;
        return 1;
    case OPT_TEST_CMD:
        a->popts.test_cmd = arg;
        return 1;
    case OPT_TEST_TIMEOUT:
        if (!cli_parse_size("--test-timeout", arg, &v) || v == 0 || v > 86400) {
            return -1;
        }
        a->popts.limits.wall_ms = (uint32_t)(v * 1000);
        a->popts.limits.cpu_ms = (uint32_t)(v * 1000);
        return 1;
    case OPT_FORMAT:
        if (strcmp(arg, "diff") != 0 && strcmp(arg, "mbox") != 0) {
            fprintf(stderr, "kiln: --format %s: expected diff or mbox\n", arg);
            return -1;
        }
        a->format = arg;
        return 1;
    case OPT_COMMIT_TO:
        a->commit_to = arg;
        return 1;
    case OPT_AUTHOR:
        if (snprintf(a->author, sizeof a->author, "%s", arg) >= (int)sizeof a->author ||
            !parse_author(a->author, &a->info.author_name, &a->info.author_email)) {
            fprintf(stderr, "kiln: --author: expected 'NAME <EMAIL>'\n");
            return -1;
        }
        return 1;
    case OPT_MESSAGE:
        a->info.message = arg;
        return 1;
    case OPT_REPORT:
        a->report = arg;
        return 1;
    case OPT_UNVERIFIED:
        a->unverified = true;
        return 1;
    case OPT_VERIFY_MAX:
        return cli_parse_size("--verify-max", arg, &a->popts.n_verify_max) &&
                       a->popts.n_verify_max > 0
                   ? 1
                   : -1;
    case OPT_BLOB_MAX:
        return cli_parse_size("--blob-max", arg, &a->popts.blob_max) ? 1 : -1;
    case 'v':
        a->verbose = true;
        return 1;
    default:
        return 0;
    }
}

static int parse_args(patch_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_PIPE_LONGOPTS,
        {"rev", required_argument, NULL, OPT_REV},
        {"base", required_argument, NULL, OPT_BASE},
        {"function", required_argument, NULL, OPT_FUNCTION},
        {"test-cmd", required_argument, NULL, OPT_TEST_CMD},
        {"test-timeout", required_argument, NULL, OPT_TEST_TIMEOUT},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"commit-to", required_argument, NULL, OPT_COMMIT_TO},
        {"author", required_argument, NULL, OPT_AUTHOR},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"report", required_argument, NULL, OPT_REPORT},
        {"include-unverified", no_argument, NULL, OPT_UNVERIFIED},
        {"verify-max", required_argument, NULL, OPT_VERIFY_MAX},
        {"blob-max", required_argument, NULL, OPT_BLOB_MAX},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int rc =
        cli_pipe_getopt(&a->gen.pipe, argc, argv, "m:t:n:vh", longopts, patch_option, a, usage, 1);
    if (rc != 0) {
        return rc;
    }
    a->repo_path = argv[optind];
    return 0;
}

static int write_outputs(const patch_args *a, patch_repo *repo, const patch_result *res,
                         core_err *err)
{
    core_buf out = {0};
    int rc = 0;
    if (a->format != NULL && strcmp(a->format, "mbox") == 0) {
        rc = patch_result_mbox(&out, repo, res, &a->info, err);
    } else {
        rc = patch_result_diff(&out, repo, res, a->unverified, err);
    }
    if (rc == 0 && out.len > 0) {
        fwrite(out.ptr, 1, out.len, stdout);
        fflush(stdout);
    }
    core_buf_dispose(&out);
    if (rc == 0 && a->commit_to != NULL && res->n_verified == 0) {
        fprintf(stderr, "kiln: nothing verified: no commit on %s\n", a->commit_to);
    }
    if (rc == 0 && a->commit_to != NULL && res->n_verified > 0) {
        char hex[41];
        rc = patch_result_commit(hex, repo, res, a->commit_to, &a->info, err);
        if (rc == 0) {
            fprintf(stderr, "kiln: committed %s on branch %s\n", hex, a->commit_to);
        }
    }
    if (rc == 0 && a->report != NULL) {
        rc = patch_result_report(&out, res, has_suffix(a->report, ".json"), err);
        if (rc == 0) {
            rc = write_file(a->report, &out, err);
        }
        core_buf_dispose(&out);
    }
    return rc;
}

int cli_cmd_patch(int argc, char **argv)
{
    patch_args a = {0};
    a.popts = patch_options_default();
    cli_pipe_init(&a.gen.pipe);
    int prc = parse_args(&a, argc, argv);
    if (prc != 0) {
        return prc < 0 ? CLI_EXIT_OK : prc;
    }
    a.popts.functions = a.functions;
    a.popts.generator = (patch_generator){gen_run, &a.gen};
    a.popts.log = cli_log_stderr(a.verbose);
    core_err err = {0};
    patch_repo *repo = NULL;
    patch_result *res = NULL;
    sbx_tree *tree = NULL;
    int code = CLI_EXIT_BAD;
    int rc = patch_repo_open(&repo, a.repo_path, a.rev, &err);
    if (rc < 0) {
        goto done;
    }
    sbx_tree_options to = sbx_tree_options_default();
    to.log = a.popts.log;
    core_err terr = {0};
    if (sbx_tree_new(&tree, &to, &terr) < 0) {
        fprintf(stderr, "kiln: warning: no sandbox (%s): nothing can be verified\n", terr.msg);
        tree = NULL;
    }
    rc = patch_run(&res, repo, tree, &a.popts, &err);
    if (rc < 0) {
        goto done;
    }
    for (size_t i = 0; i < res->n_targets; i++) {
        const patch_target *t = &res->targets[i];
        fprintf(stderr, "kiln: %s:%s: %s (%s)\n", t->path, t->name, patch_verdict_name(t->verdict),
                t->message);
    }
    if (res->n_targets == 0) {
        fprintf(stderr, "kiln: no target: no stub%s found\n",
                a.popts.base != NULL ? " added or changed since the base" : "");
    }
    rc = write_outputs(&a, repo, res, &err);
    if (rc == 0) {
        code = res->n_verified > 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
done:
    if (rc < 0) {
        fprintf(stderr, "kiln: %s\n", err.msg);
    }
    patch_result_free(res);
    sbx_tree_free(tree);
    patch_repo_free(repo);
    cli_pipe_close(&a.gen.pipe);
    return code;
}
