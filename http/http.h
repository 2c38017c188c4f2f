/*
 * http: kiln's HTTP front end (`kiln serve`). An OpenAI-compatible service on libmicrohttpd:
 * completions and chat (streamed as server-sent events or whole), llama.cpp's /completion,
 * /infill, /tokenize and /detokenize, kiln's /v1/solve (the pipeline) and /v1/patch (kiln patch
 * on a repository under the operator's --patch-root), /health, /v1/models,
 * /props and Prometheus /metrics. Generation goes through gen's request queue, so concurrent
 * requests decode together; the grammar module's constraint is wired in per request. The
 * request parsing, SSE framing and metrics text are exposed for tests and fuzzing.
 */
#ifndef KILN_HTTP_H
#define KILN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "gen/gen.h"
#include "sandbox/sbx.h"
#include "solve/solve.h"

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/** The endpoints that take a JSON body. */
typedef enum http_endpoint {
    HTTP_ENDPOINT_COMPLETIONS = 0, /* POST /v1/completions (OpenAI) */
    HTTP_ENDPOINT_CHAT = 1,        /* POST /v1/chat/completions (OpenAI) */
    HTTP_ENDPOINT_COMPLETION = 2,  /* POST /completion (llama.cpp) */
    HTTP_ENDPOINT_INFILL = 3,      /* POST /infill (llama.cpp) */
    HTTP_ENDPOINT_TOKENIZE = 4,    /* POST /tokenize */
    HTTP_ENDPOINT_DETOKENIZE = 5,  /* POST /detokenize */
    HTTP_ENDPOINT_SOLVE = 6,       /* POST /v1/solve (kiln) */
} http_endpoint;

/** Caps on what a request may ask for; larger values are refused with 400. */
typedef struct http_limits {
    size_t n_choices_max;  /* `n` (default 8) */
    size_t n_tokens_max;   /* `max_tokens`/`n_predict` (default 4096) */
    size_t n_stops_max;    /* stop strings (default 8) */
    size_t n_prompts_max;  /* prompts in an array (default 16) */
    size_t n_messages_max; /* chat messages (default 256) */
    size_t n_bias_max;     /* `logit_bias` entries (default 1024) */
} http_limits;

http_limits http_limits_default(void);

/** One chat message. Strings are arena-owned, NUL-terminated. */
typedef struct http_message {
    const char *role;
    const char *content;
} http_message;

/** One prompt: text, or token ids (OpenAI accepts both). */
typedef struct http_prompt {
    const char *text;      /* NULL when tokens are given */
    const int32_t *tokens; /* (n_tokens) */
    size_t n_tokens;
} http_prompt;

/**
 * A parsed request body. Every pointer is arena-owned. Fields a request does not carry keep the
 * defaults noted; unknown fields are ignored.
 */
typedef struct http_params {
    http_endpoint endpoint;
    const char *model;    /* "model", NULL when absent */
    http_prompt *prompts; /* (n_prompts) "prompt": string, array of strings, array of ids,
                             array of id arrays; /tokenize: "content" */
    size_t n_prompts;
    const char *suffix;     /* "suffix" / "input_suffix", NULL when absent */
    const char *prefix;     /* /infill "input_prefix", NULL when absent */
    http_message *messages; /* (n_messages) chat */
    size_t n_messages;
    size_t n_tokens_max;  /* "max_tokens" / "max_completion_tokens" / "n_predict"
                             (default 256; -1 in n_predict means the cap) */
    float temperature;    /* default 0.8 (/v1: 1.0 as OpenAI) */
    float top_p;          /* default 0.95 (/v1: 1.0) */
    int32_t top_k;        /* default 40 */
    float min_p;          /* default 0.05 */
    float repeat_penalty; /* default 1 */
    size_t n_choices;     /* "n" (default 1) */
    const char **stops;   /* (n_stops) "stop": string or array */
    size_t n_stops;
    uint64_t seed; /* "seed" */
    bool has_seed;
    bool stream;         /* "stream" */
    bool include_usage;  /* "stream_options": {"include_usage"} */
    bool logprobs;       /* "logprobs" (bool, or a number for completions) */
    bool echo;           /* "echo" */
    bool ignore_eos;     /* llama.cpp's "ignore_eos": generate past end-of-generation tokens */
    const char *grammar; /* kiln: "python" or "c", NULL when absent */
    bool add_special;    /* /tokenize "add_special" (default false) */
    bool parse_special;  /* /tokenize "parse_special" (default true) */
    bool with_pieces;    /* /tokenize "with_pieces" */
    int32_t *tokens;     /* (n_tokens) /detokenize "tokens" */
    size_t n_tokens;
    /* /v1/solve: the fields of `kiln solve --json`'s input. */
    const char *language;      /* "language" (default "python") */
    const char *entry;         /* "entry_point" or "entry" */
    const char *visible_tests; /* "visible_tests" or "tests" */
    size_t n_rounds;           /* "rounds" (default 2) */
    bool plan;                 /* "plan" (default true) */
    bool repair;               /* "repair" (default true) */
    bool use_grammar;          /* "grammar" as a bool on /v1/solve (default true) */
    const char *bad_param;     /* on failure: the field at fault, or NULL (the body) */

    /* "logit_bias": {"<token id>": bias in [-100, 100]}, added to the logits; -100 becomes
     * -INFINITY (a ban). The ids are checked against the vocabulary when the request is
     * queued. (n_logit_bias) */
    gen_logit_bias *logit_bias;
    size_t n_logit_bias;
} http_params;

/**
 * Parses a JSON body for endpoint into out, checking every field's type and range against
 * limits. Codes: CORE_EPARSE (not JSON, not an object, invalid UTF-8), CORE_EINVAL (a field
 * of the wrong type or out of range: the message names it and out->bad_param is set),
 * CORE_ENOMEM. Any thread; arena is the request's.
 */
int http_params_parse(http_params *out, core_arena *arena, http_endpoint endpoint, core_str body,
                      const http_limits *limits, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Server-sent events and errors                                                              */
/* ------------------------------------------------------------------------------------------ */

/**
 * Appends one SSE event to out: an optional "event: <name>" line, then the data, each of its
 * lines as a "data: " line, then a blank line. CORE_ENOMEM.
 */
int http_sse_event(core_buf *out, const char *event, core_str data, core_err *err);
/** Appends an SSE comment (": <text>\n\n"), the keep-alive ping. CORE_ENOMEM. */
int http_sse_comment(core_buf *out, const char *text, core_err *err);

/** The "type" of an OpenAI error for a status ("invalid_request_error", ...). Static. */
const char *http_error_type(int status);
/**
 * Appends {"error":{"message","type","param","code"}} to out; param may be NULL (JSON null).
 * CORE_ENOMEM.
 */
int http_error_json(core_buf *out, int status, const char *message, const char *param,
                    core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Metrics                                                                                    */
/* ------------------------------------------------------------------------------------------ */

#define HTTP_N_ROUTES 16

/** Counters the server keeps; a plain value, copied for rendering. */
typedef struct http_metrics {
    const char *route_names[HTTP_N_ROUTES]; /* static strings; NULL past the last */
    uint64_t requests[HTTP_N_ROUTES][6];    /* by route and status class: 2xx, 400, 401/403,
                                               404/405/413, 429/503, other 5xx */
    uint64_t sandbox_runs[4];               /* by verdict: pass, fail, error, limit */
    gen_queue_stats queue;
    size_t n_parallel;
} http_metrics;

/** Appends the Prometheus text exposition (version 0.0.4) of m. CORE_ENOMEM. */
int http_metrics_render(core_buf *out, const http_metrics *m, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* The server                                                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct http_server_options {
    const char *host;         /* default "127.0.0.1"; borrowed for http_server_new */
    uint16_t port;            /* default 8080; 0: any free port (http_server_port tells) */
    const char *api_key;      /* NULL: none. Copied */
    size_t n_threads;         /* HTTP threads (default 2) */
    size_t n_parallel;        /* sequences decoding at once (default 4) */
    size_t n_ctx;             /* positions per sequence (default 2048) */
    size_t n_compute;         /* compute threads of the model (default 2) */
    size_t n_pending_max;     /* requests waiting for a sequence before 429 (default 64) */
    size_t body_max;          /* request body bytes before 413 (default 1 MiB) */
    size_t n_connections_max; /* open connections at most (default 512) */
    http_limits limits;
    bool log_json;          /* one JSON object per request line instead of text */
    const char *model_name; /* id in /v1/models; borrowed for http_server_new */
    const char *patch_root; /* /v1/patch reads repositories under this folder only; NULL: the
                               endpoint answers 403. Borrowed for http_server_new */
    core_log log;           /* request lines and errors; borrowed sink */
    /* A remote backend (borrowed; must outlive the server; NULL: none) that writes /v1/solve's
     * and /v1/patch's candidates (planning off: it needs the local model; testing, repair and
     * ranking stay here). The model given to http_server_ready is then only a vocabulary
     * (loaded vocab_only) and no request queue is made: /v1/completions and
     * /v1/chat/completions are passed on to the backend, one stream a choice, with "grammar"
     * checked here (solve_backend_complete_checked); /completion and /infill answer 501. */
    solve_backend *backend;
} http_server_options;

http_server_options http_server_options_default(void);

/**
 * The service. Its methods are called from the thread that created it (the program's main
 * thread); the HTTP threads, the queue's worker and the solve worker run inside it.
 */
typedef struct http_server http_server;

/**
 * Binds host:port and starts serving; /health answers 503 until http_server_ready. Codes:
 * CORE_EINVAL (bad host), CORE_ENOTFOUND (patch_root does not exist), CORE_EIO (bind or start
 * failed: the message says why), CORE_ENOMEM.
 */
int http_server_new(http_server **out, const http_server_options *opts, core_err *err);

/**
 * Hands the loaded model to the server (borrowed: must outlive the server) and starts the
 * request queue; the solve pipeline is set up on first use with sandbox (borrowed, may be
 * NULL: candidates are ranked without tests). Codes: those of gen_queue_new.
 */
int http_server_ready(http_server *server, const gen_model *model, sbx_pool *sandbox,
                      core_err *err);

/** The port the server listens on. */
uint16_t http_server_port(const http_server *server);

/**
 * The request queue the model decodes on (borrowed, as long as the server), NULL before
 * http_server_ready or with a backend: other front ends of the process (kiln serve
 * --lsp-port's language servers) submit to it, so their requests join the same batch.
 */
gen_queue *http_server_queue(http_server *server);

/**
 * Graceful stop: refuses new requests (503), lets running ones finish for up to grace_ms, then
 * cancels what remains and waits for their answers to go out.
 */
void http_server_stop(http_server *server, uint64_t grace_ms);

/** Stops (without grace) if needed and frees. NULL is fine. */
void http_server_free(http_server *server);

/** Notifies systemd (sd_notify protocol on $NOTIFY_SOCKET, path given by the caller): text such
 * as "READY=1". No-op when socket_path is NULL or empty. CORE_EIO. */
int http_sd_notify(const char *socket_path, const char *text, core_err *err);

#endif /* KILN_HTTP_H */
