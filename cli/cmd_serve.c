/*
 * `kiln serve`: the HTTP service (http/http.h). Listens first (so /health answers 503 while the
 * model loads), loads the model and the sandbox, then serves until SIGTERM or SIGINT, which it
 * takes with sigwait (blocked in every thread): stop accepting, let running requests finish
 * within the grace period, cancel the rest, exit 0. Tells systemd through $NOTIFY_SOCKET when
 * it is ready and when it stops (Type=notify).
 */
#include "cli/cli.h"
#include "cli/pipeline.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "lsp/lsp.h"
#include "sandbox/sbx.h"

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: kiln serve [-m MODEL] [options]\n\n"
            "  -m, --model PATH       GGUF model (default: the embedded SmolLM2-135M-Instruct)\n"
            "      --host ADDR        IPv4 address to listen on (default 127.0.0.1)\n"
            "      --port N           port (default 8080; 0: any free port)\n"
            "      --api-key KEY      require 'Authorization: Bearer KEY' (not on /health;\n"
            "                         $KILN_API_KEY also sets it)\n"
            "  -t, --threads N        compute threads (default 2)\n"
            "      --threads-http N   HTTP threads (default 2)\n"
            "      --parallel N       requests decoding at once (default 4; also --np)\n"
            "  -c, --ctx N            positions per request (default 2048)\n"
            "      --queue N          requests waiting for a slot before 429 (default 64)\n"
            "      --body-max BYTES   largest request body before 413 (default 1048576)\n"
            "      --grace-ms MS      on SIGTERM, how long running requests may finish "
            "(default 10000)\n"
            "      --log-format F     text or json: one line per request on stderr\n"
            "      --alias NAME       the model's id in /v1/models (default: file name)\n"
            "      --no-sandbox       /v1/solve ranks candidates without running tests\n"
            "      --patch-root DIR   POST /v1/patch may read the git repositories under DIR\n"
            "      --device D         cpu, cuda or auto (default: cuda when a GPU is present)\n");
    fprintf(f, "      --lsp-port N       also a language server for editors on 127.0.0.1:N (TCP;\n"
               "                         0: any free port), on the same model and queue\n");
    cli_backend_usage(f);
    fprintf(f, "                        (with --backend, /v1/solve and /v1/patch write with it,\n"
               "                        -m gives only the tokenizer, /v1/completions and chat\n"
               "                        are passed on to it grammar-checked, /completion and\n"
               "                        /infill answer 501)\n");
}

typedef struct serve_args {
    const char *model;
    http_server_options http;
    uint64_t grace_ms;
    bool no_sandbox;
    int device;
    cli_model_opts backend; /* --backend and its key, CA and model options */
    bool lsp;               /* --lsp-port was given */
    uint16_t lsp_port;
} serve_args;

static void log_line(void *payload, core_log_level level, const char *msg)
{
    (void)payload;
    (void)level;
    fprintf(stderr, "%s\n", msg);
}

static int parse_args(serve_args *a, int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_KEY,
        O_THTTP,
        O_QUEUE,
        O_BODY,
        O_GRACE,
        O_LOGF,
        O_ALIAS,
        O_NOSBX,
        O_DEVICE,
        O_PATCH_ROOT,
        O_LSP_PORT
    };
    static const struct option longs[] = {{"model", required_argument, NULL, 'm'},
                                          {"host", required_argument, NULL, O_HOST},
                                          {"port", required_argument, NULL, O_PORT},
                                          {"api-key", required_argument, NULL, O_KEY},
                                          {"threads", required_argument, NULL, 't'},
                                          {"threads-http", required_argument, NULL, O_THTTP},
                                          {"parallel", required_argument, NULL, 'P'},
                                          {"np", required_argument, NULL, 'P'},
                                          {"ctx", required_argument, NULL, 'c'},
                                          {"queue", required_argument, NULL, O_QUEUE},
                                          {"body-max", required_argument, NULL, O_BODY},
                                          {"grace-ms", required_argument, NULL, O_GRACE},
                                          {"log-format", required_argument, NULL, O_LOGF},
                                          {"alias", required_argument, NULL, O_ALIAS},
                                          {"no-sandbox", no_argument, NULL, O_NOSBX},
                                          {"device", required_argument, NULL, O_DEVICE},
                                          {"patch-root", required_argument, NULL, O_PATCH_ROOT},
                                          {"lsp-port", required_argument, NULL, O_LSP_PORT},
                                          {"help", no_argument, NULL, 'h'},
                                          CLI_BACKEND_LONGOPTS,
                                          {NULL, 0, NULL, 0}};
    size_t v = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:c:h", longs, NULL)) != -1) {
        switch (c) {
        case 'm':
            a->model = optarg;
            break;
        case CLI_OPT_BACKEND:
        case CLI_OPT_BACKEND_KEY:
        case CLI_OPT_BACKEND_KEY_FILE:
        case CLI_OPT_BACKEND_MODEL:
        case CLI_OPT_BACKEND_CA:
            if (cli_model_option(&a->backend, c, optarg) < 0) {
                return -1;
            }
            break;
        case O_HOST:
            a->http.host = optarg;
            break;
        case O_PORT:
            if (!cli_parse_size("--port", optarg, &v) || v > 65535) {
                fprintf(stderr, "kiln: --port: expected 0..65535\n");
                return -1;
            }
            a->http.port = (uint16_t)v;
            break;
        case O_LSP_PORT:
            if (!cli_parse_size("--lsp-port", optarg, &v) || v > 65535) {
                fprintf(stderr, "kiln: --lsp-port: expected 0..65535\n");
                return -1;
            }
            a->lsp = true;
            a->lsp_port = (uint16_t)v;
            break;
        case O_KEY:
            a->http.api_key = optarg;
            break;
        case 't':
            if (!cli_parse_size("--threads", optarg, &a->http.n_compute)) {
                return -1;
            }
            break;
        case O_THTTP:
            if (!cli_parse_size("--threads-http", optarg, &a->http.n_threads)) {
                return -1;
            }
            break;
        case 'P':
            if (!cli_parse_size("--parallel", optarg, &a->http.n_parallel)) {
                return -1;
            }
            break;
        case 'c':
            if (!cli_parse_size("--ctx", optarg, &a->http.n_ctx)) {
                return -1;
            }
            break;
        case O_QUEUE:
            if (!cli_parse_size("--queue", optarg, &a->http.n_pending_max)) {
                return -1;
            }
            break;
        case O_BODY:
            if (!cli_parse_size("--body-max", optarg, &a->http.body_max)) {
                return -1;
            }
            break;
        case O_GRACE:
            if (!cli_parse_size("--grace-ms", optarg, &v)) {
                return -1;
            }
            a->grace_ms = v;
            break;
        case O_LOGF:
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "kiln: --log-format: expected text or json\n");
                return -1;
            }
            a->http.log_json = strcmp(optarg, "json") == 0;
            break;
        case O_ALIAS:
            a->http.model_name = optarg;
            break;
        case O_NOSBX:
            a->no_sandbox = true;
            break;
        case O_PATCH_ROOT:
            a->http.patch_root = optarg;
            break;
        case O_DEVICE:
            if (!cli_parse_device(optarg, &a->device)) {
                return -1;
            }
            break;
        case 'h':
            serve_usage(stdout);
            return 1;
        default:
            serve_usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kiln: serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (a->http.n_parallel == 0 || a->http.n_compute == 0 || a->http.n_threads == 0) {
        fprintf(stderr, "kiln: --parallel and the thread counts must be at least 1\n");
        return -1;
    }
    return 0;
}

/* --lsp-port: language servers for editors on loopback, on the server's model and queue (so
 * their completions and kiln.implement decode in the batch with the HTTP requests). Loopback
 * only: the protocol has no authentication. */
static int lsp_open(lsp_listener **out, const serve_args *a, const gen_model *model,
                    solve_backend *backend, gen_queue *queue, core_err *err)
{
    lsp_server_options o = lsp_server_options_default();
    o.model = model;
    o.backend = backend;
    o.queue = queue;
    o.session.n_threads = a->http.n_compute;
    o.log = cli_log_stderr(false);
    int rc = lsp_listener_new(out, "127.0.0.1", a->lsp_port, &o, err);
    if (rc == 0) {
        fprintf(stderr, "kiln: language server on tcp://127.0.0.1:%u\n",
                (unsigned)lsp_listener_port(*out));
    }
    return rc;
}

int cli_cmd_serve(int argc, char **argv)
{
    serve_args a;
    memset(&a, 0, sizeof(a));
    a.http = http_server_options_default();
    a.http.model_name = NULL; /* the file name unless --alias */
    a.grace_ms = 10000;
    a.device = GEN_DEVICE_AUTO;
    cli_model_opts_init(&a.backend);
    const char *env_key = getenv("KILN_API_KEY");
    if (env_key && env_key[0]) {
        a.http.api_key = env_key;
    }
    int prc = parse_args(&a, argc, argv);
    if (prc != 0) {
        return prc > 0 ? CLI_EXIT_OK : CLI_EXIT_BAD;
    }
    const char *path = cli_model_path(a.model);
    if (!a.http.model_name) {
        const char *slash = strrchr(path, '/');
        a.http.model_name = slash ? slash + 1 : path;
    }
    a.http.log = (core_log){log_line, NULL, CORE_LOG_LEVEL_INFO};
    /* Every thread started from here on inherits the blocked signals; main takes them with
     * sigwait. SIGPIPE: a client that hangs up must not end the server. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    const char *notify = getenv("NOTIFY_SOCKET");

    core_err err = {0};
    http_server *srv = NULL;
    gen_model *model = NULL;
    sbx_pool *pool = NULL;
    solve_backend *backend = NULL;
    int rc = cli_backend_open(&backend, &a.backend, &err);
    a.http.backend = backend;
    if (rc == 0) {
        rc = http_server_new(&srv, &a.http, &err);
    }
    if (rc == 0) {
        fprintf(stderr, "kiln: listening on http://%s:%u (loading %s)\n", a.http.host,
                (unsigned)http_server_port(srv), path);
        gen_model_options mo = gen_model_options_default();
        mo.vocab_only = backend != NULL; /* the backend writes: only the tokenizer is needed */
        rc = cli_model_load(&model, path, &mo, a.device, &err);
    }
    if (rc == 0 && !a.no_sandbox) {
        sbx_pool_options po = sbx_pool_options_default();
        core_err perr = {0};
        if (sbx_pool_new(&pool, &po, &perr) < 0) {
            fprintf(stderr, "kiln: warning: no sandbox (%s): /v1/solve ranks without tests\n",
                    perr.msg);
            pool = NULL;
        }
    }
    if (rc == 0) {
        rc = http_server_ready(srv, model, pool, &err);
    }
    if (rc == 0 && backend) {
        fprintf(stderr, "kiln: ready: /v1/solve and /v1/patch write with %s (tokenizer of %s)\n",
                solve_backend_url(backend), path);
    } else if (rc == 0) {
        fprintf(stderr, "kiln: ready: %s, %zu parallel sequences of %zu positions\n",
                gen_model_desc(model), a.http.n_parallel, a.http.n_ctx);
    }
    lsp_listener *lsp = NULL;
    if (rc == 0 && a.lsp) {
        rc = lsp_open(&lsp, &a, model, backend, http_server_queue(srv), &err);
    }
    if (rc == 0) {
        core_err nerr = {0};
        if (http_sd_notify(notify, "READY=1", &nerr) < 0) {
            fprintf(stderr, "kiln: warning: %s\n", nerr.msg);
        }
        int sig = 0;
        sigwait(&set, &sig);
        fprintf(stderr, "kiln: %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        (void)http_sd_notify(notify, "STOPPING=1", NULL);
        lsp_listener_free(lsp); /* its servers finish what they run on the queue */
        lsp = NULL;
        http_server_stop(srv, a.grace_ms);
    }
    lsp_listener_free(lsp);
    http_server_free(srv);
    solve_backend_free(backend);
    sbx_pool_free(pool);
    gen_model_free(model);
    return rc < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}
