/*
 * `kiln sandbox run`: runs one candidate against its tests in the sandbox and prints the
 * per-test results and the verdict (or, with --json, one JSON object). Exit status 0 when the
 * verdict is passed, 1 for any other verdict, 2 when kiln could not run it (bad usage, a tests
 * file that does not parse, a missing compiler, a host without the needed kernel features).
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sbx.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln sandbox run --lang python|c --tests TESTS --entry NAME CANDIDATE\n"
               "                        [--json] [--cpu-ms N] [--wall-ms N] [--mem-mb N]\n"
               "                        [--procs N] [--file-mb N] [--files N] [--output-kb N]\n"
               "                        [--disk-mb N] [--compile-cpu-ms N] [--compile-mem-mb N]\n"
               "                        [--no-prefork] [--python PATH] [--cc PATH]\n\n"
               "Runs CANDIDATE (a file; - for standard input) against TESTS in a sandbox.\n"
               "Python TESTS: a file defining check(candidate) (HumanEval), test_* functions, or\n"
               "top-level `assert NAME(...) == ...` lines (MBPP). C TESTS: a file with a main\n"
               "that calls NAME, which CANDIDATE defines.\n"
               "Exit status: 0 passed, 1 failed/error/limit, 2 kiln could not run it.\n");
}

static int read_file(const char *path, core_buf *buf, core_err *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        return core_err_set(err, CORE_ENOTFOUND, "%s: cannot open", path);
    }
    int rc = cli_read_all(f, buf, err);
    if (f != stdin) {
        fclose(f);
    }
    if (rc < 0) {
        return core_err_wrap(err, rc, "%s", path);
    }
    return 0;
}

static bool parse_u32(const char *opt, const char *arg, uint32_t *out)
{
    size_t v = 0;
    if (!cli_parse_size(opt, arg, &v) || v > UINT32_MAX) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static void print_text(const sbx_result *r)
{
    for (size_t i = 0; i < r->n_tests; i++) {
        const sbx_test *t = &r->tests[i];
        printf("%-7s %s (%.1f ms)%s%s\n", sbx_test_status_name(t->status), t->name, t->ms,
               t->message[0] != '\0' ? ": " : "", t->message);
    }
    if (r->out.len > 0) {
        printf("--- stdout ---\n%s%s", r->out.ptr, r->out.ptr[r->out.len - 1] == '\n' ? "" : "\n");
    }
    if (r->err.len > 0) {
        printf("--- stderr ---\n%s%s", r->err.ptr, r->err.ptr[r->err.len - 1] == '\n' ? "" : "\n");
    }
    printf("verdict: %s", sbx_verdict_name(r->verdict));
    if (r->verdict == SBX_VERDICT_LIMIT) {
        printf(" (%s)", sbx_limit_name(r->limit));
    }
    if (r->message != NULL && r->message[0] != '\0') {
        printf(": %s", r->message);
    }
    printf("\nwall %llu ms, cpu %llu ms, max rss %llu KiB", (unsigned long long)r->wall_ms,
           (unsigned long long)r->cpu_ms, (unsigned long long)r->max_rss_kb);
    if (r->compile_ms > 0) {
        printf(", compile %llu ms", (unsigned long long)r->compile_ms);
    }
    printf("\n");
}

enum {
    O_LANG = 256,
    O_TESTS,
    O_ENTRY,
    O_JSON,
    O_CPU,
    O_WALL,
    O_MEM,
    O_PROCS,
    O_FILE_MB,
    O_FILES,
    O_OUTPUT,
    O_DISK,
    O_CCPU,
    O_CMEM,
    O_NOPRE,
    O_PY,
    O_CC,
    O_HELP
};

/* The limit options: which field of a job's limits (or compile limits) each one sets. */
typedef struct limit_opt {
    int code;
    const char *name;
    bool compile;  /* job.compile_limits, else job.limits */
    size_t offset; /* of the uint32_t field in sbx_limits */
} limit_opt;

static const limit_opt LIMIT_OPTS[] = {
    {O_CPU, "--cpu-ms", false, offsetof(sbx_limits, cpu_ms)},
    {O_WALL, "--wall-ms", false, offsetof(sbx_limits, wall_ms)},
    {O_MEM, "--mem-mb", false, offsetof(sbx_limits, mem_mb)},
    {O_PROCS, "--procs", false, offsetof(sbx_limits, n_procs)},
    {O_FILE_MB, "--file-mb", false, offsetof(sbx_limits, file_mb)},
    {O_FILES, "--files", false, offsetof(sbx_limits, n_files)},
    {O_OUTPUT, "--output-kb", false, offsetof(sbx_limits, output_kb)},
    {O_DISK, "--disk-mb", false, offsetof(sbx_limits, disk_mb)},
    {O_CCPU, "--compile-cpu-ms", true, offsetof(sbx_limits, cpu_ms)},
    {O_CMEM, "--compile-mem-mb", true, offsetof(sbx_limits, mem_mb)},
};

/* Handles a limit option into job: 1 handled, -1 bad argument, 0 not a limit option. */
static int limit_option(sbx_job *job, int c, const char *arg)
{
    for (size_t i = 0; i < sizeof(LIMIT_OPTS) / sizeof(LIMIT_OPTS[0]); i++) {
        const limit_opt *o = &LIMIT_OPTS[i];
        if (o->code == c) {
            char *base = (char *)(o->compile ? &job->compile_limits : &job->limits);
            uint32_t v = 0;
            if (!parse_u32(o->name, arg, &v)) {
                return -1;
            }
            memcpy(base + o->offset, &v, sizeof(v));
            return 1;
        }
    }
    return 0;
}

/* Runs the candidate file against the tests file in a one-slot pool and prints the result. */
static int run_job(sbx_job *job, sbx_pool_options *popts, const char *cand_path,
                   const char *tests_path, const char *entry, bool json)
{
    core_err err = {0};
    core_buf cand = {0};
    core_buf tests = {0};
    core_buf out = {0};
    sbx_pool *pool = NULL;
    sbx_result res = {0};
    int exit_code = CLI_EXIT_BAD;
    if (read_file(cand_path, &cand, &err) < 0 || read_file(tests_path, &tests, &err) < 0) {
        exit_code = cli_fail(&err);
        goto done;
    }
    job->candidate = (core_str){cand.ptr, cand.len};
    job->tests = (core_str){tests.ptr, tests.len};
    job->entry = core_str_c(entry);
    popts->log = cli_log_stderr(false);
    if (sbx_pool_new(&pool, popts, &err) < 0) {
        exit_code = cli_fail(&err);
        goto done;
    }
    if (sbx_pool_run(pool, job, &res, &err) < 0) {
        exit_code = cli_fail(&err);
        goto done;
    }
    if (json) {
        if (sbx_result_to_json(&out, &res, &err) < 0) {
            exit_code = cli_fail(&err);
            goto done;
        }
        printf("%s\n", out.ptr);
    } else {
        print_text(&res);
    }
    exit_code = res.verdict == SBX_VERDICT_PASSED ? CLI_EXIT_OK : CLI_EXIT_FAIL;
done:
    sbx_result_dispose(&res);
    sbx_pool_free(pool);
    core_buf_dispose(&cand);
    core_buf_dispose(&tests);
    core_buf_dispose(&out);
    return exit_code;
}

static int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"lang", required_argument, NULL, O_LANG},
        {"tests", required_argument, NULL, O_TESTS},
        {"entry", required_argument, NULL, O_ENTRY},
        {"json", no_argument, NULL, O_JSON},
        {"cpu-ms", required_argument, NULL, O_CPU},
        {"wall-ms", required_argument, NULL, O_WALL},
        {"mem-mb", required_argument, NULL, O_MEM},
        {"procs", required_argument, NULL, O_PROCS},
        {"file-mb", required_argument, NULL, O_FILE_MB},
        {"files", required_argument, NULL, O_FILES},
        {"output-kb", required_argument, NULL, O_OUTPUT},
        {"disk-mb", required_argument, NULL, O_DISK},
        {"compile-cpu-ms", required_argument, NULL, O_CCPU},
        {"compile-mem-mb", required_argument, NULL, O_CMEM},
        {"no-prefork", no_argument, NULL, O_NOPRE},
        {"python", required_argument, NULL, O_PY},
        {"cc", required_argument, NULL, O_CC},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    sbx_job job = sbx_job_default();
    sbx_pool_options popts = sbx_pool_options_default();
    popts.n_slots = 1;
    popts.prefork = false; /* one run: a pair started ahead of time would not be faster */
    const char *tests_path = NULL;
    const char *entry = NULL;
    const char *lang = NULL;
    bool json = false;
    bool ok = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int h = limit_option(&job, c, optarg);
        if (h != 0) {
            ok = ok && h > 0;
            continue;
        }
        switch (c) {
        case O_LANG:
            lang = optarg;
            break;
        case O_TESTS:
            tests_path = optarg;
            break;
        case O_ENTRY:
            entry = optarg;
            break;
        case O_JSON:
            json = true;
            break;
        case O_NOPRE:
            popts.prefork = false;
            break;
        case O_PY:
            popts.python_path = optarg;
            break;
        case O_CC:
            popts.cc_path = optarg;
            break;
        case O_HELP:
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            usage(stderr);
            return CLI_EXIT_BAD;
        }
    }
    if (!ok) {
        return CLI_EXIT_BAD;
    }
    if (lang == NULL || tests_path == NULL || entry == NULL || optind != argc - 1) {
        fprintf(stderr, "kiln sandbox run: --lang, --tests, --entry and one CANDIDATE are "
                        "required\n");
        usage(stderr);
        return CLI_EXIT_BAD;
    }
    if (strcmp(lang, "python") == 0) {
        job.lang = SBX_LANG_PYTHON;
    } else if (strcmp(lang, "c") == 0) {
        job.lang = SBX_LANG_C;
    } else {
        fprintf(stderr, "kiln sandbox run: --lang must be python or c, not '%s'\n", lang);
        return CLI_EXIT_BAD;
    }
    return run_job(&job, &popts, argv[optind], tests_path, entry, json);
}

int cli_cmd_sandbox(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_BAD : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "run") == 0) {
        return cmd_run(argc - 1, argv + 1);
    }
    fprintf(stderr, "kiln sandbox: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_BAD;
}
