/*
 * `kiln patch REPO`: verified patches for a git repository, for CI bots (patch/patch.h does the
 * work). This file parses the options, opens the repository first (so a bad repository or
 * revision is reported before any model loads), loads the model, the sandbox pool and the
 * pipeline only when a target needs a candidate, and writes the diff or email patch to stdout,
 * the commit and the report where asked. Exit codes: 0 at least one verified patch, 1 none,
 * 2 bad input (named on stderr).
 */
#include "cli/pipeline.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch/patch.h"
#include "sandbox/sbx.h"
#include "solve/solve.h"

enum {
    OPT_REV = 400,
    OPT_BASE,
    OPT_FUNCTION,
    OPT_TEST_CMD,
    OPT_ROUNDS,
    OPT_FORMAT,
    OPT_COMMIT_TO,
    OPT_AUTHOR,
    OPT_MESSAGE,
    OPT_REPORT,
    OPT_UNVERIFIED,
    OPT_VERIFY_MAX,
    OPT_BLOB_MAX,
    OPT_SEED,
    OPT_NO_PLAN,
    OPT_TEMP,
    OPT_MAX_TOKENS,
    OPT_TEST_TIMEOUT,
};

#define FUNCTIONS_MAX 64

/* The pipeline, opened on the first target that needs candidates. */
typedef struct patch_gen {
    const char *model_path;
    size_t n_threads;
    solve_options opts;
    cli_model_opts backend_opts; /* only its --backend fields are used */
    bool opened;
    gen_model *model;
    sbx_pool *pool;
    solve_engine *engine;
    solve_backend *backend; /* --backend, else NULL */
} patch_gen;

static void log_quiet(void *payload, core_log_level level, const char *msg)
{
    (void)payload;
    if (level >= CORE_LOG_LEVEL_ERROR) {
        fprintf(stderr, "kiln: %s\n", msg);
    }
}

static int gen_open(patch_gen *g, core_err *err)
{
    g->opened = true;
    gen_model_options mo = gen_model_options_default();
    int rc = cli_backend_open(&g->backend, &g->backend_opts, err);
    if (rc < 0) {
        return rc;
    }
    mo.vocab_only = g->backend != NULL; /* its tokenizer and chat template only */
    rc = cli_model_load(&g->model, cli_model_path(g->model_path), &mo, GEN_DEVICE_AUTO, err);
    if (rc < 0) {
        return rc;
    }
    sbx_pool_options po = sbx_pool_options_default();
    po.log = cli_log_stderr(false);
    core_err perr = {0};
    if (sbx_pool_new(&g->pool, &po, &perr) < 0) {
        fprintf(stderr, "kiln: warning: no sandbox for the pipeline's own tests (%s)\n", perr.msg);
        g->pool = NULL;
    }
    solve_engine_options eo = solve_engine_options_default();
    eo.n_candidates_max = g->opts.n_candidates;
    eo.n_threads = g->n_threads;
    eo.log = (core_log){log_quiet, NULL, CORE_LOG_LEVEL_WARN};
    eo.backend = g->backend;
    return solve_engine_new(&g->engine, g->model, g->pool, &eo, err);
}

static int gen_run(void *payload, solve_result **out, const solve_task *task, core_err *err)
{
    patch_gen *g = payload;
    if (!g->opened) {
        int rc = gen_open(g, err);
        if (rc < 0) {
            return rc;
        }
    }
    if (g->engine == NULL) {
        return core_err_set(err, CORE_ERROR, "the pipeline could not be opened");
    }
    return solve_run(out, g->engine, task, &g->opts, NULL, NULL, err);
}

static void gen_close(patch_gen *g)
{
    solve_engine_free(g->engine);
    sbx_pool_free(g->pool);
    gen_model_free(g->model);
    solve_backend_free(g->backend);
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
        "  -m, --model PATH       GGUF model (default: $KILN_MODEL, else the default model)\n"
        "  -t, --threads N        compute threads (default 1)\n"
        "  -n N                   candidates per round (default 8)\n"
        "  --rounds R             repair rounds (default 2)\n"
        "  --seed S, --temp T, --max-tokens N, --no-plan\n"
        "  -v, --verbose          progress on stderr\n");
    cli_backend_usage(f);
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
    char *author;
    const char *report;
    bool unverified;
    bool verbose;
    const char *functions[FUNCTIONS_MAX];
    patch_commit_info info;
    patch_options popts;
    patch_gen gen;
} patch_args;

static int parse_args(patch_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rev", required_argument, NULL, OPT_REV},
        {"base", required_argument, NULL, OPT_BASE},
        {"function", required_argument, NULL, OPT_FUNCTION},
        {"test-cmd", required_argument, NULL, OPT_TEST_CMD},
        {"test-timeout", required_argument, NULL, OPT_TEST_TIMEOUT},
        {"rounds", required_argument, NULL, OPT_ROUNDS},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"commit-to", required_argument, NULL, OPT_COMMIT_TO},
        {"author", required_argument, NULL, OPT_AUTHOR},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"report", required_argument, NULL, OPT_REPORT},
        {"include-unverified", no_argument, NULL, OPT_UNVERIFIED},
        {"verify-max", required_argument, NULL, OPT_VERIFY_MAX},
        {"blob-max", required_argument, NULL, OPT_BLOB_MAX},
        {"seed", required_argument, NULL, OPT_SEED},
        {"no-plan", no_argument, NULL, OPT_NO_PLAN},
        {"temp", required_argument, NULL, OPT_TEMP},
        {"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
        {"model", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        CLI_BACKEND_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    size_t v = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:n:vh", longopts, NULL)) != -1) {
        if (c >= CLI_OPT_BACKEND && c <= CLI_OPT_BACKEND_CA) {
            if (cli_model_option(&a->gen.backend_opts, c, optarg) < 0) {
                return CLI_EXIT_BAD;
            }
            continue;
        }
        switch (c) {
        case OPT_REV:
            a->rev = optarg;
            break;
        case OPT_BASE:
            a->popts.base = optarg;
            break;
        case OPT_FUNCTION:
            if (a->popts.n_functions == FUNCTIONS_MAX || strchr(optarg, ':') == NULL) {
                fprintf(stderr, "kiln: --function %s: expected PATH:NAME (at most %d)\n", optarg,
                        FUNCTIONS_MAX);
                return CLI_EXIT_BAD;
            }
            a->functions[a->popts.n_functions++] = optarg;
            break;
        case OPT_TEST_CMD:
            a->popts.test_cmd = optarg;
            break;
        case OPT_TEST_TIMEOUT:
            if (!cli_parse_size("--test-timeout", optarg, &v) || v == 0 || v > 86400) {
                return CLI_EXIT_BAD;
            }
            a->popts.limits.wall_ms = (uint32_t)(v * 1000);
            a->popts.limits.cpu_ms = (uint32_t)(v * 1000);
            break;
        case OPT_ROUNDS:
            if (!cli_parse_size("--rounds", optarg, &a->gen.opts.n_rounds)) {
                return CLI_EXIT_BAD;
            }
            a->gen.opts.repair = a->gen.opts.n_rounds > 0;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "diff") != 0 && strcmp(optarg, "mbox") != 0) {
                fprintf(stderr, "kiln: --format %s: expected diff or mbox\n", optarg);
                return CLI_EXIT_BAD;
            }
            a->format = optarg;
            break;
        case OPT_COMMIT_TO:
            a->commit_to = optarg;
            break;
        case OPT_AUTHOR:
            a->author = optarg;
            if (!parse_author(a->author, &a->info.author_name, &a->info.author_email)) {
                fprintf(stderr, "kiln: --author: expected 'NAME <EMAIL>'\n");
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_MESSAGE:
            a->info.message = optarg;
            break;
        case OPT_REPORT:
            a->report = optarg;
            break;
        case OPT_UNVERIFIED:
            a->unverified = true;
            break;
        case OPT_VERIFY_MAX:
            if (!cli_parse_size("--verify-max", optarg, &a->popts.n_verify_max) ||
                a->popts.n_verify_max == 0) {
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_BLOB_MAX:
            if (!cli_parse_size("--blob-max", optarg, &a->popts.blob_max)) {
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_SEED:
            if (!cli_parse_size("--seed", optarg, &v)) {
                return CLI_EXIT_BAD;
            }
            a->gen.opts.seed = v;
            break;
        case OPT_NO_PLAN:
            a->gen.opts.plan = false;
            break;
        case OPT_TEMP:
            if (!cli_parse_float("--temp", optarg, &a->gen.opts.temp)) {
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_MAX_TOKENS:
            if (!cli_parse_size("--max-tokens", optarg, &a->gen.opts.n_code_tokens_max)) {
                return CLI_EXIT_BAD;
            }
            break;
        case 'm':
            a->gen.model_path = optarg;
            break;
        case 't':
            if (!cli_parse_size("--threads", optarg, &a->gen.n_threads) || a->gen.n_threads == 0) {
                return CLI_EXIT_BAD;
            }
            break;
        case 'n':
            if (!cli_parse_size("-n", optarg, &a->gen.opts.n_candidates) ||
                a->gen.opts.n_candidates == 0 || a->gen.opts.n_candidates > SOLVE_N_MAX) {
                fprintf(stderr, "kiln: -n must be 1..%d\n", SOLVE_N_MAX);
                return CLI_EXIT_BAD;
            }
            break;
        case 'v':
            a->verbose = true;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return CLI_EXIT_BAD;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return CLI_EXIT_BAD;
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
    a.gen.opts = solve_options_default();
    a.gen.n_threads = 1;
    cli_model_opts_init(&a.gen.backend_opts);
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
    gen_close(&a.gen);
    return code;
}
