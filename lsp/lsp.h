/*
 * lsp: kiln's language server, a front end like cli/ (it calls solve/ and gen/; nothing in the
 * library calls it). JSON-RPC 2.0 over a byte stream framed as in LSP 3.17's base protocol
 * (Content-Length headers), documents kept in UTF-8 with positions converted at the edge
 * (UTF-16 or UTF-8 columns, as negotiated), and the server: lifecycle, text sync, completion
 * (textDocument/completion and textDocument/inlineCompletion) from solve_complete with the
 * workspace's repository context, completionItem/resolve with the completed function's tests,
 * kiln.implement, and configuration (the model among it), with cancellation and supersession.
 */
#ifndef KILN_LSP_H
#define KILN_LSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "gen/gen.h"
#include "solve/solve.h"

/* ------------------------------------------------------------------------------------------ */
/* Framing (lsp/rpc.c)                                                                        */
/* ------------------------------------------------------------------------------------------ */

/** Largest message body the server reads (larger ones are skipped and answered -32600). */
#define LSP_BODY_MAX ((size_t)64 << 20)
/** Largest header block; a longer one is malformed. */
#define LSP_HEADER_MAX ((size_t)8192)

/**
 * Splits a byte stream into message bodies. Bytes go in with lsp_reader_feed in pieces of any
 * size; lsp_reader_next takes out whole bodies. Header names are case-insensitive; only
 * Content-Length matters (Content-Type is ignored); bodies may hold any bytes, NUL included.
 * A body over the limit is never buffered: its bytes are dropped as they come. One thread at a
 * time.
 */
typedef struct lsp_reader lsp_reader;

/** Creates a reader for bodies of at most body_max bytes. CORE_ENOMEM. */
int lsp_reader_new(lsp_reader **out, size_t body_max, core_err *err);
void lsp_reader_free(lsp_reader *reader);

/** Appends len bytes of the stream (copied). CORE_ENOMEM (reader unchanged). */
int lsp_reader_feed(lsp_reader *reader, const void *data, size_t len, core_err *err);

/**
 * Takes the next message. Returns 1 and sets *body (borrowed until the next call on reader),
 * 0 when more bytes are needed, or a code after which the reader goes on with the next
 * message: CORE_EPARSE (a malformed or overlong header block, dropped; the message says why),
 * CORE_ELIMIT (a Content-Length over the limit: the body will be skipped).
 */
int lsp_reader_next(lsp_reader *reader, core_str *body, core_err *err);

/** Bytes held (buffered and not yet taken). */
size_t lsp_reader_n_buffered(const lsp_reader *reader);

/** Appends body framed with its Content-Length header to out. CORE_ENOMEM. */
int lsp_frame_append(core_buf *out, core_str body, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Documents and positions (lsp/text.c)                                                       */
/* ------------------------------------------------------------------------------------------ */

/** How LSP positions count characters within a line. */
typedef enum lsp_encoding {
    LSP_ENCODING_UTF16 = 0, /* UTF-16 code units (the protocol's default) */
    LSP_ENCODING_UTF8 = 1,  /* bytes */
} lsp_encoding;

/** "utf-16" or "utf-8". Static storage. */
const char *lsp_encoding_name(lsp_encoding enc);

/**
 * Byte offset in text of the position line:character. Lines end at \n, \r\n or \r. Clamped,
 * never an error: a line past the end gives text.len, a character past its line's end gives
 * the line's end, a character inside a UTF-8 sequence (or between the two halves of a UTF-16
 * surrogate pair) gives that character's start. Invalid UTF-8 bytes count one unit each.
 */
size_t lsp_text_offset(core_str text, lsp_encoding enc, uint32_t line, uint32_t character);

/** The position of byte offset (clamped to text.len; inside a character: its start). */
void lsp_text_position(core_str text, lsp_encoding enc, size_t offset, uint32_t *line,
                       uint32_t *character);

/**
 * Replaces bytes [start, end) of text with repl; start and end are clamped to text->len and
 * start to end. CORE_ENOMEM (text unchanged).
 */
int lsp_text_replace(core_buf *text, size_t start, size_t end, core_str repl, core_err *err);

/**
 * The local path of a file:// URI (percent-escapes decoded; an empty or `localhost` authority;
 * query and fragment dropped) into out (cap bytes with its NUL). False for another scheme or
 * host, a bad or NUL escape, or a path that does not fit.
 */
bool lsp_uri_path(char *out, size_t cap, const char *uri);

/* ------------------------------------------------------------------------------------------ */
/* The server (lsp/server.c, lsp/handlers.c)                                                  */
/* ------------------------------------------------------------------------------------------ */

/** JSON-RPC and LSP error codes the server answers with. */
#define LSP_ERR_PARSE             (-32700)
#define LSP_ERR_INVALID_REQUEST   (-32600)
#define LSP_ERR_METHOD_NOT_FOUND  (-32601)
#define LSP_ERR_INVALID_PARAMS    (-32602)
#define LSP_ERR_INTERNAL          (-32603)
#define LSP_ERR_NOT_INITIALIZED   (-32002)
#define LSP_ERR_REQUEST_FAILED    (-32803)
#define LSP_ERR_CONTENT_MODIFIED  (-32801)
#define LSP_ERR_REQUEST_CANCELLED (-32800)

typedef struct lsp_server_options {
    const gen_model *model;          /* borrowed; NULL: no completions (protocol only) */
    size_t n_sessions_max;           /* documents keeping model state at once (default 4);
                                        beyond it the least recently completed loses it */
    solve_session_options session;   /* per document (solve_session_options_default) */
    solve_complete_options complete; /* defaults of each completion (language: from the
                                        document); workspace/didChangeConfiguration's
                                        "kiln" section changes candidates, maxTokens, scope,
                                        grammar */
    size_t n_context_tokens_max;     /* repository context of completions and kiln.implement
                                        (solve_context_build; default 384, 0: none); the
                                        "kiln" section's contextTokens changes it */
    core_log log;                    /* borrowed sink for the trace (--log); fn may be NULL */
    gen_model_options load;          /* how a model the configuration names is loaded: the
                                        "kiln" section's model (a GGUF path) switches to it,
                                        threads sets the compute threads */
    solve_backend *backend;          /* borrowed; NULL: the model writes. Else completions and
                                        kiln.implement's candidates are written by this remote
                                        server, and model gives only the vocabulary */
    gen_queue *queue;                /* borrowed (over model; must outlive the server), NULL:
                                        the server makes its own (LSP_QUEUE_PARALLEL
                                        sequences of LSP_QUEUE_CTX positions). Completions and
                                        kiln.implement's plan and candidates decode on it,
                                        beside whatever else it runs (kiln serve's requests);
                                        with a borrowed queue the "kiln" section's model and
                                        threads are refused. Unused with a backend */
} lsp_server_options;

/** Sequences and positions of the queue a server makes for itself: kiln.implement's 4
    candidates and a completion's decode together. */
#define LSP_QUEUE_PARALLEL 6
#define LSP_QUEUE_CTX      2048

lsp_server_options lsp_server_options_default(void);

/**
 * A language server. One thread runs it (lsp_server_run), which starts a reader thread of its
 * own; the rest of the program does not touch it while it runs.
 */
typedef struct lsp_server lsp_server;

/** Creates a server. Borrows opts->model. CORE_ENOMEM, those of solve_completer_new. */
int lsp_server_new(lsp_server **out, const lsp_server_options *opts, core_err *err);
void lsp_server_free(lsp_server *server);

/**
 * Serves the client on fd_in and fd_out until `exit`, the end of fd_in, or a write that
 * fails (the client went away). Nothing but protocol is written to fd_out. *exit_code is the
 * process's exit status the protocol asks for: 0 after shutdown then exit, else 1. Codes:
 * CORE_ENOMEM, CORE_ERROR (threads could not start).
 */
int lsp_server_run(lsp_server *server, int fd_in, int fd_out, int *exit_code, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Editors over TCP (lsp/listen.c)                                                            */
/* ------------------------------------------------------------------------------------------ */

/** Connections served at once; more are closed as they come. */
#define LSP_CONNECTIONS_MAX 16

/**
 * Language servers for editors that connect over TCP (kiln serve --lsp-port): every accepted
 * connection gets an lsp_server of its own, made with the listener's options (their borrowed
 * model and queue are shared: give it the program's queue so that every editor's completions
 * decode in one batch with the rest), run on a thread of its own with the socket as its input
 * and output, until the client exits or hangs up. Made and freed by one thread; it runs an
 * accept thread and a thread a connection inside.
 */
typedef struct lsp_listener lsp_listener;

/**
 * Listens on host (NULL: "127.0.0.1"; a name or a numeric address) and port (0: any free port,
 * see lsp_listener_port) and starts accepting. opts is copied; what it borrows must outlive the
 * listener. Codes: CORE_EINVAL (a host that does not resolve), CORE_EIO (socket, bind or
 * listen failed: the message says why), CORE_ENOMEM, CORE_ERROR (the thread did not start).
 */
int lsp_listener_new(lsp_listener **out, const char *host, uint16_t port,
                     const lsp_server_options *opts, core_err *err);
/** The port it listens on. */
uint16_t lsp_listener_port(const lsp_listener *listener);
/**
 * Stops accepting, closes every connection (each server sees the end of its input, finishes
 * the request it runs and returns) and frees. NULL is fine.
 */
void lsp_listener_free(lsp_listener *listener);

#endif /* KILN_LSP_H */
