/*
 * `kiln lsp`: the language server (lsp/lsp.h) on standard input and output. Nothing else is
 * ever written to standard output; --log FILE receives the trace (messages in and out,
 * completion timings), warnings go to standard error. Exit status: 0 after shutdown and exit,
 * 1 when the client left without them, 2 bad usage or a failure to start.
 */
#include "cli/cli.h"
#include "cli/pipeline.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lsp/lsp.h"

static void lsp_usage(FILE *f)
{
    fprintf(f, "usage: kiln lsp [options]   (a language server on standard input/output)\n"
               "  -n N                completion candidates (default 1)\n"
               "  --max-tokens N      tokens per completion (default 48)\n"
               "  --context-tokens N  repository context of a completion (default 384, 0: none)\n"
               "  --log FILE          write a trace of the session to FILE\n");
    cli_model_usage(f, 2);
    cli_backend_usage(f);
}

static void log_file(void *payload, core_log_level level, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    FILE *f = payload;
    fprintf(f, "%.3f %s: %s\n", (double)core_time_ns() / 1e9, names[level], msg);
    fflush(f);
}

int cli_cmd_lsp(int argc, char **argv)
{
    enum { OPT_LOG = 256, OPT_MAX, OPT_CONTEXT };
    static const struct option longs[] = {
        {"log", required_argument, NULL, OPT_LOG},
        {"max-tokens", required_argument, NULL, OPT_MAX},
        {"context-tokens", required_argument, NULL, OPT_CONTEXT},
        {"help", no_argument, NULL, 'h'},
        CLI_MODEL_LONGOPTS,
        CLI_BACKEND_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    lsp_server_options o = lsp_server_options_default();
    cli_model_opts mopts;
    cli_model_opts_init(&mopts);
    mopts.n_threads = 2;
    const char *log_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:n:h", longs, NULL)) != -1) {
        int h = cli_model_option(&mopts, c, optarg);
        if (h < 0) {
            return CLI_EXIT_BAD;
        }
        if (h > 0) {
            continue;
        }
        switch (c) {
        case OPT_CONTEXT:
            if (!cli_parse_size("--context-tokens", optarg, &o.n_context_tokens_max)) {
                return CLI_EXIT_BAD;
            }
            break;
        case 'n':
            if (!cli_parse_size("-n", optarg, &o.complete.n_candidates) ||
                o.complete.n_candidates == 0 || o.complete.n_candidates > SOLVE_N_MAX) {
                fprintf(stderr, "kiln: -n must be in 1..%d\n", SOLVE_N_MAX);
                return CLI_EXIT_BAD;
            }
            if (o.complete.n_candidates > o.session.n_candidates_max) {
                o.session.n_candidates_max = o.complete.n_candidates;
            }
            break;
        case OPT_MAX:
            if (!cli_parse_size("--max-tokens", optarg, &o.complete.n_tokens_max) ||
                !o.complete.n_tokens_max) {
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_LOG:
            log_path = optarg;
            break;
        case 'h':
            lsp_usage(stdout);
            return CLI_EXIT_OK;
        default:
            lsp_usage(stderr);
            return CLI_EXIT_BAD;
        }
    }
    if (optind != argc) {
        lsp_usage(stderr);
        return CLI_EXIT_BAD;
    }
    FILE *log = NULL;
    if (log_path) {
        log = fopen(log_path, "a");
        if (!log) {
            fprintf(stderr, "kiln: --log %s: %s\n", log_path, strerror(errno));
            return CLI_EXIT_BAD;
        }
        o.log = (core_log){log_file, log, CORE_LOG_LEVEL_DEBUG};
    } else {
        o.log = cli_log_stderr(false);
    }
    /* A client that goes away must not kill the server mid-write: writes fail instead. */
    signal(SIGPIPE, SIG_IGN);
    core_err err = {0};
    gen_model *model = NULL;
    solve_backend *backend = NULL;
    lsp_server *server = NULL;
    int exit_code = CLI_EXIT_BAD;
    o.session.n_threads = mopts.n_threads;
    mopts.load.log = &o.log;
    o.load = mopts.load;
    o.load.log = NULL;
    o.load.device = mopts.device == GEN_DEVICE_CUDA ? GEN_DEVICE_AUTO : (gen_device)mopts.device;
    /* With a remote backend the model here gives only its vocabulary. */
    int rc = cli_backend_open(&backend, &mopts, &err);
    if (rc == 0) {
        rc = cli_model_open(&model, &mopts, backend != NULL, &err);
    }
    o.model = model;
    o.backend = backend;
    if (rc == 0) {
        rc = lsp_server_new(&server, &o, &err);
    }
    if (rc == 0) {
        rc = lsp_server_run(server, STDIN_FILENO, STDOUT_FILENO, &exit_code, &err);
    }
    if (rc < 0) {
        exit_code = cli_fail(&err);
    }
    lsp_server_free(server);
    solve_backend_free(backend);
    gen_model_free(model);
    if (log) {
        fclose(log);
    }
    return exit_code;
}
