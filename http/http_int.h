/*
 * http's private declarations: the server state shared by server.c (the daemon, routing,
 * simple endpoints), generate.c (completions and chat through the request queue), solve.c
 * (the pipeline on its own worker), patch.c (kiln patch on that worker) and grammar.c (the
 * per-request grammar constraint).
 */
#ifndef KILN_HTTP_INT_H
#define KILN_HTTP_INT_H

#include "http/http.h"

#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "grammar/gram.h"
#include "patch/patch.h"
#include "solve/solve.h"

/* Routes, also the rows of the request counters. */
typedef enum http_route {
    HTTP_ROUTE_HEALTH = 0,
    HTTP_ROUTE_MODELS,
    HTTP_ROUTE_PROPS,
    HTTP_ROUTE_METRICS,
    HTTP_ROUTE_COMPLETIONS,
    HTTP_ROUTE_CHAT,
    HTTP_ROUTE_COMPLETION,
    HTTP_ROUTE_INFILL,
    HTTP_ROUTE_TOKENIZE,
    HTTP_ROUTE_DETOKENIZE,
    HTTP_ROUTE_SOLVE,
    HTTP_ROUTE_PATCH,
    HTTP_ROUTE_OTHER,
    HTTP_ROUTE_COUNT,
} http_route;

typedef struct http_stream http_stream;

/* A /v1/patch request (patch.c). Strings point into the stream's arena or the parsed body. */
typedef struct http_patch_req {
    const char *repository; /* as the client named it; NULL with files */
    patch_file *files;      /* (n_files) "files": the tree given inline; NULL with repository */
    size_t n_files;
    const char *rev;        /* NULL: HEAD */
    const char *base;       /* NULL: every stub */
    const char **functions; /* (n_functions) "PATH:NAME" */
    size_t n_functions;
    const char *test_cmd; /* NULL: the default */
    size_t n_candidates;  /* "n", 1..16 (default 4) */
    size_t n_rounds;      /* "rounds", 0..4 (default 1) */
    size_t n_tokens_max;  /* "max_tokens" per candidate, 16..4096 (0: the pipeline's) */
    bool plan;            /* "plan" (default true) */
    bool has_seed;
    uint64_t seed;
    size_t n_verify_max;     /* "verify_max", 1..8 (default 3) */
    uint32_t test_timeout_s; /* "test_timeout", 1..600 s (default 60) */
    bool stream;             /* "stream": SSE */
    bool include_unverified; /* "include_unverified": the diff has the proposed patches too */
    const char *bad_param;   /* the field a 400 names */
    patch_repo *repo;        /* opened (or made in memory from files) by http__patch_start,
                                freed by the worker */
} http_patch_req;

/* One generated choice of a request (a job of the queue). */
typedef struct http_choice {
    http_stream *stream; /* back pointer */
    size_t index;
    uint64_t id;         /* the queue's job id, 0 before submit */
    bool done;           /* its done event came (guarded by stream->mu) */
    core_buf text;       /* non-streaming: the text so far */
    core_buf tokens;     /* logprobs: int32 token ids */
    core_buf logprobs;   /* logprobs: floats */
    size_t n_lp_sent;    /* streaming: logprobs sent so far */
    uint64_t ns_compute; /* the model's own time for this choice */
    gen_finish finish;
    size_t n_prompt;
    size_t n_cached;
    size_t n_generated;
    bool sent_role;   /* chat streaming: the first delta carried the role */
    const char *echo; /* "echo": the prompt's text (arena), else NULL */
} http_choice;

/*
 * What a request's answer is made of, shared by the HTTP thread that serves the connection and
 * the worker that produces it (the queue's worker or the solve worker). Reference-counted: the
 * connection holds one reference until MHD reports the request complete, each unfinished job
 * one; the last release frees it. mu guards every field after it.
 */
struct http_stream {
    struct http_server *server;
    http_route route;
    pthread_mutex_t mu;
    int n_refs;
    struct MHD_Connection *conn; /* NULL once the request is complete */
    int fd;                      /* the connection's socket, for hang-up checks */
    bool suspended;              /* the connection is suspended, waiting for us */
    bool streaming;              /* SSE: out is sent as it grows */
    bool finished;               /* every job ended; out (or body) is complete */
    bool canceled;               /* the client went away or the server stops */
    bool wake_pending;           /* in the server's wake list until the queue's step ends */
    core_buf out;                /* bytes for the client: SSE or the whole JSON body */
    size_t n_out_sent;
    uint64_t ns_last_out; /* when out last grew (keep-alive pings) */
    int status;           /* status of a non-streaming answer */
    /* Generation: */
    http_params params; /* arena-owned strings */
    core_arena *arena;
    http_choice *choices; /* (n_choices) */
    size_t n_choices;
    size_t n_done;
    char id[48];
    long created;
    size_t n_prompt_total;
    core_err err; /* the first job error */
    /* Solve: */
    atomic_bool solve_cancel; /* set by the HTTP side, polled by solve_run */
    http_patch_req *patch;    /* /v1/patch: the request (arena) */
    struct http_stream *next; /* the server's list of live streams (server->mu) */
};

struct http_server {
    http_server_options opts;
    char *api_key; /* owned copy, NULL when none */
    char model_name[256];
    struct MHD_Daemon *daemon;
    uint16_t port;
    const gen_model *model; /* borrowed, NULL until ready */
    gen_queue *queue;       /* owned */
    sbx_pool *sandbox;      /* borrowed, may be NULL */
    gram_lang *langs[2];    /* python, c; NULL when not compiled in */
    core_str *pieces;       /* (n_vocab) for the grammar vocabulary, owned */
    bool *is_eog;           /* (n_vocab), owned */
    gram_vocab vocab;
    int32_t fim[3];       /* fill-in-the-middle tokens (prefix, suffix, middle); -1: none */
    atomic_bool ready;    /* the model is loaded (read by HTTP threads) */
    atomic_bool stopping; /* new requests get 503 */
    atomic_uint_fast64_t n_requests; /* ids of requests */

    pthread_mutex_t mu; /* guards the counters, streams and the solve mailbox below */
    uint64_t requests[HTTP_ROUTE_COUNT][6];
    uint64_t sandbox_runs[4];
    http_stream *streams; /* live streams */
    size_t n_streams;

    pthread_t ticker; /* hang-up checks and keep-alive pings */
    bool ticker_started;
    pthread_cond_t ticker_cv;

    /* The solve worker: one task at a time. */
    pthread_t solver;
    bool solver_started;
    pthread_cond_t solve_cv;
    http_stream *solve_next; /* the task handed to the worker, NULL when none */
    bool solve_busy;
    solve_engine *engine; /* created on first use by the worker */

    atomic_size_t n_remote; /* choices streaming from opts.backend (generate.c's threads) */

    /* Streams whose new bytes wait for the end of the queue's step to wake their connection
     * (one wake-up a step instead of one an event); the queue's worker alone uses them. */
    http_stream **wake; /* (n_parallel), owned */
    size_t n_wake;

    /* /v1/patch: repositories under patch_root only (empty: the endpoint is off). */
    char patch_root[PATH_MAX]; /* realpath of --patch-root */
    sbx_tree *tree;            /* the tests' sandbox, created on first use by the worker */
    bool tree_tried;
};

/* params.c: the offset of the first byte of s that is not UTF-8 (overlongs, surrogates and
 * code points past U+10FFFF included), or len. */
size_t http__utf8_check(const unsigned char *s, size_t len);
/* A NUL-terminated copy of text with each byte that is not UTF-8 replaced by U+FFFD (JSON
 * strings must be UTF-8). Free with core_free; NULL when out of memory. */
char *http__utf8_clean(core_str text);

/* server.c */
void http__stream_release(http_stream *st);
/* Wakes the connection of st (st->mu held): resumes it when suspended. */
void http__stream_wake(http_stream *st);
int http__stream_new(http_stream **out, http_server *srv, http_route route, core_err *err);

/* generate.c: starts a generation request; on success the stream is shared with the queue. */
int http__generate_start(http_stream *st, core_str body, int *status, core_err *err);
/* The queue's on_step (payload: the server): wakes the streams its step's events left in the
 * wake list. */
void http__queue_step(void *payload);
/* /tokenize and /detokenize: the JSON answer in out. */
int http__tokens(http_server *srv, http_route route, core_str body, core_buf *out, int *status,
                 const char **param, core_err *err);

/* solve.c */
int http__solve_start(http_stream *st, core_str body, int *status, const char **param,
                      core_err *err);
void *http__solver_main(void *arg);
/* Hands st to the solve worker (a reference for it); 429 (CORE_ELIMIT) while it is busy. */
int http__worker_submit(http_stream *st, int *status, core_err *err);
/* The worker's pipeline, created on first use (worker thread only). */
int http__engine_open(http_server *srv, core_err *err);
/* The worker's answer: error (then status says which) or json, as SSE when streaming. */
void http__worker_answer(http_stream *st, int status, const char *error, const core_buf *json);

/* patch.c: /v1/patch. init resolves --patch-root (NULL: off; CORE_ENOTFOUND); parse reads a
 * request body (CORE_EINVAL naming the field in req->bad_param, CORE_ENOMEM); start parses,
 * opens the repository and hands the request to the worker, which calls run. */
int http__patch_init(http_server *srv, const char *root, core_err *err);
int http__patch_parse(http_patch_req *req, core_arena *arena, core_str body, core_err *err);
int http__patch_start(http_stream *st, core_str body, int *status, const char **param,
                      core_err *err);
void http__patch_run(http_server *srv, http_stream *st);

/* grammar.c: the checker of the request's "grammar" with its suffix, fed prefix first (the code
 * before the cursor), and the same wrapped as a constraint for the queue. CORE_EINVAL when the
 * language is not compiled in or prefix is not a viable start of a program, naming the
 * parameter in st->params.bad_param. */
int http__grammar_checker(gram_checker **out, http_stream *st, core_str prefix, core_err *err);
int http__grammar_constraint(gen_queue_constraint *out, http_stream *st, core_str prefix,
                             core_err *err);

/**
 * The fill-in-the-middle prompt (PSM, as kiln complete writes it) of a request with a suffix:
 * [BOS] fim[0] prefix fim[1] suffix fim[2], with fim the vocabulary's prefix, suffix and middle
 * tokens. *out is the caller's (core_free). CORE_ENOMEM.
 */
int http__fim_prompt(const gen_model *model, const int32_t fim[3], core_str prefix, core_str suffix,
                     int32_t **out, size_t *n_out, core_err *err);

#endif /* KILN_HTTP_INT_H */
