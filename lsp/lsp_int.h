/*
 * Private to lsp/: the server's state, shared by server.c (threads, queue, I/O, lifecycle)
 * and handlers.c (documents, configuration, completion).
 */
#ifndef KILN_LSP_INT_H
#define KILN_LSP_INT_H

#include "lsp/lsp.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>

/** One message from the client, as the reader thread queued it. */
typedef struct lsp__msg {
    struct lsp__msg *next;
    cJSON *json;        /* owned */
    const char *method; /* borrowed from json; NULL for a response to one of ours */
    const cJSON *id;    /* borrowed from json; NULL for a notification */
    char *id_key;       /* owned: id printed as JSON, to match $/cancelRequest; NULL: none */
    char *uri;          /* owned: the document of a completion request, else NULL */
    bool canceled;      /* guarded by the queue's lock: a $/cancelRequest named it */
    bool superseded;    /* guarded by the queue's lock: a newer completion of its document */
    bool eof;           /* the input ended (no json) */
    bool job_done;      /* kiln.implement's worker ended (no json): lsp__implement_end */
} lsp__msg;

/** kiln.implement running on its worker thread (lsp/implement.c). */
typedef struct lsp__job lsp__job;

/** An open document. Main thread only. */
typedef struct lsp__doc {
    char *uri;              /* owned */
    core_buf text;          /* owned, UTF-8 */
    int64_t version;        /* the client's version */
    bool known_lang;        /* python or c */
    solve_lang lang;        /* when known_lang */
    solve_session *session; /* owned, NULL until the first completion or after eviction */
    uint64_t used;          /* server tick of the last completion (least recently used) */
    bool has_diagnostics;   /* kiln published diagnostics for it (cleared on change) */
} lsp__doc;

/** The score card of a function kiln.implement wrote, for hover. Main thread only. */
typedef struct lsp__card {
    char *uri;  /* owned, NULL: unused slot */
    char *name; /* owned: the function's name */
    char *text; /* owned: the card as Markdown */
} lsp__card;

#define LSP__CARDS_MAX 16

/* Messages queued at most: beyond it the reader stops reading until the main thread catches
   up, so a client that floods the server while it decodes is slowed, not buffered. */
#define LSP__QUEUE_MAX 4096

/** One language's test settings (kiln.tests.<lang>.*). Main thread only. */
typedef struct lsp__tests {
    char *command; /* owned, NULL: the built-in run */
    char **files;  /* (n_files) owned globs, relative to the workspace folder */
    size_t n_files;
} lsp__tests;

typedef enum lsp__state {
    LSP__STATE_NEW = 0,      /* before initialize */
    LSP__STATE_RUNNING = 1,  /* initialized */
    LSP__STATE_SHUTDOWN = 2, /* after shutdown: only exit is welcome */
} lsp__state;

struct lsp_server {
    lsp_server_options opts;
    solve_completer *completer; /* owned, NULL without a model */
    gen_queue *queue;           /* where the model decodes: opts.queue or queue_owned; NULL
                                   without a model or with a backend */
    gen_queue *queue_owned;     /* owned: the server's own queue, NULL when borrowed */

    int fd_in;
    int fd_out;
    pthread_mutex_t write_lock; /* orders whole frames written by the reader and main threads */
    atomic_bool out_broken;     /* a write failed: the client is gone (relaxed: a flag) */
    atomic_bool stop;           /* main asks the reader thread to end (relaxed: a flag) */

    pthread_mutex_t lock; /* guards the queue, the in-flight request and the msgs' flags */
    pthread_cond_t cond;  /* signalled when a message is queued */
    pthread_cond_t room;  /* signalled when the queue shrinks below LSP__QUEUE_MAX */
    lsp__msg *head;
    lsp__msg *tail;
    size_t n_queued;
    const char *inflight_id;  /* id_key of the request running on main, NULL: none */
    const char *inflight_uri; /* its document when a completion */
    atomic_int cancel_reason; /* 0, or why the running request must stop: 1 canceled,
                                 2 superseded; set under lock, read by the decode loop */
    char *job_key;            /* id_key of the running kiln.implement (owned), NULL: none;
                                 guarded by lock */
    atomic_bool job_cancel;   /* a $/cancelRequest named it, or main stops it; read by its
                                 pipeline's cancel callback */

    /* Main thread only. */
    lsp__state state;
    lsp_encoding enc;
    bool inline_ok; /* the client advertised textDocument.inlineCompletion */
    lsp__doc *docs; /* (n_docs), owned */
    size_t n_docs;
    size_t cap_docs;
    uint64_t tick;
    solve_complete_options complete; /* current configuration */
    solve_engine *engine;            /* owned, made by the first kiln.implement */
    sbx_pool *pool;                  /* owned, NULL without a sandbox */
    bool pool_tried;                 /* lsp__pool_ready ran (pool NULL: the host has none) */
    lsp__card cards[LSP__CARDS_MAX]; /* the last score cards, for hover */
    char *root;                      /* owned: the workspace's root folder, NULL: none */
    gen_model *model_owned;          /* owned: a model the configuration switched to (then
                                        opts.model points to it), NULL: opts.model is the
                                        caller's */
    char *model_path;                /* owned: model_owned's path, NULL: none */
    size_t n_context_tokens_max;     /* current configuration (0: no repository context) */
    size_t n_cards_made;             /* cards written so far (the next slot, modulo) */
    lsp__tests tests[SOLVE_N_LANGS]; /* current configuration, per solve_lang */
    sbx_tree *tree;                  /* owned: runs test commands, NULL until one runs or
                                        where the host has no sandbox */
    lsp__job *job;                   /* kiln.implement on its worker thread, NULL: none (one
                                        at a time; completions go on beside it) */
    bool tree_tried;                 /* lsp__tree_ready ran */
};

/** Writes one JSON message as a frame; marks the output broken on failure. Any thread. */
void lsp__send(lsp_server *s, cJSON *msg);
/** Sends a response with result (taken; NULL: JSON null) to id. */
void lsp__reply(lsp_server *s, const cJSON *id, cJSON *result);
/** Sends an error response to id (NULL: null id). */
void lsp__reply_error(lsp_server *s, const cJSON *id, int code, const char *message);
/** Sends a notification with params (taken). */
void lsp__notify(lsp_server *s, const char *method, cJSON *params);

/** Handles a request or notification of the running state (main thread). */
void lsp__handle(lsp_server *s, lsp__msg *m);
/** The initialize request's result; reads the client's capabilities and options. */
cJSON *lsp__initialize(lsp_server *s, const cJSON *params);
/** Frees every document and its state. */
void lsp__docs_free(lsp_server *s);

/** The open document uri (may be NULL: none), or NULL. */
lsp__doc *lsp__doc_find(lsp_server *s, const char *uri);
/** Reads an LSP Position; false when pos is not one (numbers in 0..2^32-1). */
bool lsp__position(const cJSON *pos, uint32_t *line, uint32_t *character);
/** An LSP Range of bytes [start, end) of text, in the negotiated encoding. */
cJSON *lsp__range_json(const lsp_server *s, core_str text, size_t start, size_t end);

/** textDocument/codeAction: kiln.implement on a stub function (lsp/implement.c). */
void lsp__code_action(lsp_server *s, const lsp__msg *m);
/**
 * workspace/executeCommand kiln.implement: prepares the task and starts the pipeline on a
 * worker thread (its candidates decode on the queue beside the completions main goes on
 * serving); the worker queues a job_done message when it ends.
 */
void lsp__implement(lsp_server *s, const lsp__msg *m);
/** Joins the ended worker, then applies, diagnoses and answers (main thread). */
void lsp__implement_end(lsp_server *s);
/** Cancels a running kiln.implement and finishes it (answered -32800); nothing when none. */
void lsp__implement_stop(lsp_server *s);
/** Queues a message for the main thread (any thread; job_done and eof messages never wait
    for room). */
void lsp__enqueue(lsp_server *s, lsp__msg *m);
/** Sets the id_key (copied; NULL: none) that $/cancelRequest matches to the running
    kiln.implement. */
void lsp__job_key_set(lsp_server *s, const char *key);
/** textDocument/hover: the score card of a function kiln.implement wrote. */
void lsp__hover(lsp_server *s, const lsp__msg *m);
/** The cancel callback of long requests (payload: the server): the running request was
    canceled or superseded, or the server is stopping. */
bool lsp__cancel_requested(void *payload);
/** The workspace around a document, as solve_context_options (lsp/context.c). */
typedef struct lsp__ws {
    solve_context_options o;   /* its pointers point into this struct and the documents */
    solve_context_file *files; /* owned: the other open documents with a file path */
    char *paths;               /* owned: their paths */
    char self[1024];           /* the document's path */
    char dir[1024];            /* its folder */
    bool ok;                   /* a path or a root to resolve from */
} lsp__ws;

/** Fills ws for document d (valid while the documents do not change). CORE_ENOMEM. */
int lsp__ws_init(lsp__ws *ws, lsp_server *s, const lsp__doc *d, core_err *err);
void lsp__ws_dispose(lsp__ws *ws);
/** Takes the workspace root from initialize's params (lsp/context.c). */
void lsp__root_set(lsp_server *s, const cJSON *params);
/**
 * Appends document d's repository context (solve_context_build: its imports' and the other
 * open documents' definitions; as comments when comment) to out; *n_tokens its tokens.
 * Nothing without a model, a known language or a file path. CORE_ENOMEM.
 */
int lsp__context(core_buf *out, size_t *n_tokens, lsp_server *s, const lsp__doc *d, bool comment,
                 core_err *err);
/** window/showMessage of type (1 error, 2 warning, 3 info). */
void lsp__show_message(lsp_server *s, int type, const char *text);
/** Frees every document's session and the engine (made again on first use) (lsp/model.c). */
void lsp__sessions_drop(lsp_server *s);
/** Loads the model at path and serves it; on failure the old one keeps serving (showMessage). */
void lsp__model_switch(lsp_server *s, const char *path);
/**
 * Makes the server's own queue over model with the current threads into *out (lsp/model.c).
 * With a backend or a borrowed queue (opts.queue) *out stays NULL. Codes: gen_queue_new's.
 */
int lsp__queue_new(gen_queue **out, const lsp_server *s, const gen_model *model, core_err *err);
/** Runs one token through the model, so that the first completion finds its pages mapped. */
void lsp__warm_up(lsp_server *s);
/** Sets the compute threads of the sessions and the engine made from now on. */
void lsp__threads_set(lsp_server *s, size_t n_threads);
/** Makes the sandbox pool on first use (s->pool stays NULL where the host has none). */
void lsp__pool_ready(lsp_server *s);
/** completionItem/resolve: runs the completed function's tests (lsp/resolve.c). */
void lsp__resolve(lsp_server *s, const lsp__msg *m);
/**
 * Applies a "kiln" settings section (lsp/config.c): model, threads, candidates, maxTokens,
 * scope, grammar, contextTokens and tests; a bad value gets a window/showMessage error naming
 * the setting, and its old value stays.
 */
void lsp__configure(lsp_server *s, const cJSON *kiln);
/**
 * Applies the kiln.tests.<lang>.command and .files settings of the section kiln (nested or
 * dotted keys) to tests (SOLVE_N_LANGS, by solve_lang). A setting that is absent stays; null
 * resets it; a bad one stays as it was and a line naming it goes into msgs. CORE_ENOMEM.
 */
int lsp__tests_configure(lsp__tests *tests, const cJSON *kiln, core_buf *msgs, core_err *err);
void lsp__tests_dispose(lsp__tests *t);
/** Makes the test commands' runner on first use (s->tree stays NULL where the host has none). */
void lsp__tree_ready(lsp_server *s);
/** Frees the kept score cards. */
void lsp__cards_free(lsp_server *s);

#endif /* KILN_LSP_INT_H */
