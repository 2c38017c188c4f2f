/*
 * Private to the .c files of solve/: the engine's state and the pieces the stages share.
 */
#ifndef KILN_SOLVE_INT_H
#define KILN_SOLVE_INT_H

#include "solve/solve.h"

#include <pthread.h>

#include "grammar/gram.h"

struct solve_engine {
    const gen_model *model; /* borrowed */
    sbx_pool *pool;         /* borrowed, may be NULL */
    gen_ctx *ctx;           /* owned; sequence 0 holds the shared prompt, 1.. the candidates */
    gram_lang *langs[2];    /* owned, by solve_lang; NULL when not compiled in */
    gram_names *names;      /* owned, made at first use: the C headers' names */
    sbx_tree *gate;         /* owned, made at first use when pool is set: the compiler's box */
    bool gate_failed;       /* the box could not be made or run: the gate is off */
    core_str *pieces;       /* (n_vocab) owned array; the bytes are the model's */
    bool *is_stop;          /* (n_vocab) owned: end of generation or a closing ``` fence */
    gram_vocab vocab;       /* pieces + is_stop for the constraint */
    float *scratch;         /* (n_vocab) owned: logits the sampler may change */
    size_t n_vocab;
    size_t n_candidates_max;
    size_t n_ctx;
    core_log log;
    gen_queue *queue; /* borrowed, NULL: the write stage decodes in ctx (solve_engine_set_queue) */
    int32_t *shared;  /* (n_ctx) owned: the n_shared tokens of the last shared prompt */
    size_t n_shared;
    bool shared_decoded;    /* sequence 0 of ctx holds them */
    solve_backend *backend; /* borrowed, NULL: local writing (solve_remote.c) */
    core_buf shared_text;   /* remote: the shared prompt's text (solve__decode_shared), owned */
};

/* ------------------------------------------------------------------------------------------ */
/* The decode loop (solve_write.c): one for the write stage, solve_generate and completions    */
/* ------------------------------------------------------------------------------------------ */

/** Times a finished candidate that the end gate refuses is written again. */
#define SOLVE_RESAMPLES 2

/**
 * The end gate (solve_gate.c): whether the language's own front end refuses code, a finished
 * candidate with its prefix. C: a name that resolves to nothing (gram_names_check), then
 * `cc -fsyntax-only`; Python: CPython's compile(); the compilers run in a sandbox box (only
 * when e->pool is set), and a gate that cannot run refuses nothing. CORE_ENOMEM,
 * CORE_ECANCELED.
 */
int solve__end_refused(solve_engine *e, solve_lang lang, core_str code, bool *refused,
                       core_err *err);

/** How one candidate is written: plain value; the strings are copied by solve__cand_start. */
typedef struct solve__cand_options {
    gen_sampler_options sampling;
    solve_lang lang;
    core_str code_prefix; /* the code before the candidate: the checker starts from it, and
                             whether it ends a line decides where the body's first column is */
    core_str suffix;      /* code after the cursor ("" when none): the checker's completeness
                             test is on text + suffix (gram_checker_options.suffix) */
    bool grammar;         /* constrain with the language's grammar when it is compiled in */
    solve_stop stop;      /* what ends the candidate */
    size_t n_tokens_max;  /* token cap */
} solve__cand_options;

/** The state of one candidate being written. One thread at a time. */
typedef struct solve__cand {
    gen_sampler *sampler;  /* owned */
    gram_checker *checker; /* owned, NULL without the grammar */
    gram_constraint *gc;   /* owned, NULL without the grammar */
    core_buf text;         /* generated text, owned */
    core_buf ids;          /* generated token ids (int32_t each), owned */
    solve_lang lang;
    solve_stop stop;
    size_t n_tokens_max;
    bool prefix_ends_line; /* the code prefix ends with '\n': text starts at column 0 */
    size_t end;            /* kept length of text once ended */
    size_t n_tokens;
    double logprob_sum;
    uint64_t ns_sample; /* time in the sampler, constraint included */
    bool live;
    bool ended;       /* an end rule ended it (else the cap, the context or the constraint) */
    bool end_refused; /* the end gate refused its end, after SOLVE_RESAMPLES fresh tries */
    bool forbade_all; /* the constraint forbade every token */
    bool has_body;    /* a non-blank character was generated */

    size_t n_requests; /* remote: completion requests made for it */
} solve__cand;

/**
 * Starts a candidate: its sampler, and with o->grammar its checker (fed the code prefix, with
 * o->suffix as the text after the cursor) and constraint. A code prefix the grammar does not
 * accept turns the constraint off for this candidate (logged as a warning; c->gc stays NULL).
 * Borrows e's tables for the candidate's life. CORE_EINVAL (bad sampling options), CORE_ENOMEM.
 */
int solve__cand_start(solve_engine *e, solve__cand *c, const solve__cand_options *o, core_err *err);

/** Whether piece may come while the body is still blank (what mask_next forbids then: stop
    tokens aside, Python text at column 0 and C's closing brace). */
bool solve__body_start_ok(solve_lang lang, core_str piece, bool at_line_start);

/**
 * Appends an accepted piece (its token already counted in c->n_tokens) to the candidate's text
 * and applies the end rule and the cap n_max: returns 1 when the candidate stopped there (live
 * false, end and ended set), 0 when it goes on. CORE_ENOMEM, solve__cand_end's codes.
 */
int solve__cand_take(solve__cand *c, core_str piece, size_t n_max, core_err *err);

/**
 * Where the candidate's function ends (solve_text.c), asked after each token and at a stop
 * token (at_stop): *ended and the kept length *end. Under the grammar, only where the checker
 * judges the code prefix plus text[0..*end) complete; otherwise as solve_body_end says (at a
 * stop token: the whole text, trimmed). A candidate left unended is cut, never finished.
 * CORE_ENOMEM.
 */
int solve__cand_end(solve__cand *cand, solve_lang lang, bool at_stop, bool *ended, size_t *end,
                    core_err *err);

/**
 * CodeT's generated tests for a Python task without visible tests (solve_gentests.c): the
 * model proposes up to n inputs (calls of the entry function) and then, separately, each
 * one's expected value; *out gets the assert lines (an arena string; "" when none came out, or
 * for C). Uses the context's sequences 1..n (sequence 0 is left alone). Adds the tokens it
 * decodes and samples to *n_prompt and *n_generated. Codes: CORE_ECANCELED, CORE_ELIMIT,
 * CORE_ENOMEM, the runtime's.
 */
int solve__gentests(const char **out, solve_engine *engine, const solve_task *task, size_t n,
                    uint64_t seed, core_arena *arena, const core_cancel *cancel, size_t *n_prompt,
                    size_t *n_generated, core_err *err);

/**
 * Appends up to n_max (at most 10) probe calls of entry to out, built from the signature of
 * `def entry(` in a Python prompt (solve_probes.c): `assert False, repr(entry(ARGS))` lines,
 * one per probe, whose values follow the parameters' annotations or names. Appends nothing
 * when the prompt has no such definition or its parameters cannot be read. 0 or CORE_ENOMEM.
 */
int solve__probes(core_buf *out, core_str prompt, core_str entry, size_t n_max);

/**
 * Appends behavior (sandbox observations, one a line, see eval_card) to out, each line ending
 * in '\n', with the probe lines marked '!' (no observation) when the candidate is constant: it
 * answered at least 3 probes and returned the same value on every one, ignoring its input as a
 * small model's `return False` does; such candidates would otherwise outvote a varying minority
 * on every input whose right answer happens to be that value. 0 or CORE_ENOMEM.
 */
int solve__probes_mark_constant(core_buf *out, core_str behavior);

/**
 * The share of cands (0..1) in their largest group whose behaviors report the same values: the
 * lines that are neither '!' (no value) nor the code observation, compared as a whole; a
 * candidate with no such line is in no group. 0 when n is 0. CORE_ENOMEM.
 */
int solve__agreement_share(double *share, const solve_candidate *cands, size_t n);

/** Frees what cand owns and zeroes it. */
void solve__cand_dispose(solve__cand *cand);

/**
 * The decode loop: samples the n live candidates cands[i] in sequences seqs[i] of ctx (the
 * engine's or a caller's own context over the same model, of n_ctx positions per sequence)
 * until each ends. On entry the last gen_ctx_decode of ctx kept the next-token logits of
 * candidate i in row i (the prompt is already decoded); each step decodes the sampled tokens
 * of the live candidates in one batch. With n = 1 it is the single-candidate loop that
 * solve_generate and completions at a cursor use. Uses e's tables and scratch (so one engine
 * serves one loop at a time). Codes: CORE_ECANCELED (polled every step), those of the runtime
 * and the grammar.
 */
int solve__decode(solve_engine *e, gen_ctx *ctx, solve__cand *cands, const int32_t *seqs, size_t n,
                  size_t n_ctx, const core_cancel *cancel, core_err *err);

/**
 * The write stage: writes n candidates (n <= engine->n_candidates_max) into cands, started
 * with opts[i]: sequence 0 must hold the shared prompt; candidate i decodes suffixes[i] (tokens
 * after the shared prompt, ending with the code prefix) in sequence i + 1, then solve__decode
 * samples them together. Adds the prompt tokens decoded to *n_prompt_tokens. Codes:
 * CORE_ECANCELED, CORE_ELIMIT, CORE_ENOMEM, those of the runtime and the grammar.
 */
int solve__write(solve_engine *engine, solve__cand *cands, const solve__cand_options *opts,
                 int32_t *const *suffixes, const size_t *n_suffixes, size_t n,
                 const core_cancel *cancel, size_t *n_prompt_tokens, core_err *err);

/** Decodes text (tokenized with special tokens, BOS first) into sequence 0, cleared first;
    adds its tokens to *n_tokens. With a queue (solve_engine_set_queue) it only keeps the tokens,
    which the write stage sends to the queue; solve__shared_ensure decodes them for the stages
    that read sequence 0. CORE_ELIMIT (it does not fit), those of the runtime. */
int solve__decode_shared(solve_engine *engine, core_str text, size_t *n_tokens, core_err *err);

/** Decodes the shared prompt into sequence 0 if solve__decode_shared left it to the queue. */
int solve__shared_ensure(solve_engine *engine, core_err *err);

/**
 * One step of candidate c (see solve__decode) from its row of logits, its sequence holding
 * seq_len positions of n_ctx: returns 1 with the next token in *tok, 0 when c has stopped (or
 * was not live), or a negative code. Uses e's scratch.
 */
int solve__cand_next(solve_engine *e, solve__cand *c, const float *logits, size_t seq_len,
                     size_t n_ctx, int32_t *tok, core_err *err);

/**
 * The write stage on the engine's queue (solve_queue.c): candidate i, started, is submitted as
 * one request of the shared prompt and suffixes[i], which picks its tokens with
 * solve__cand_next, so the candidates join the queue's running batch. Waits for all of them.
 * Adds the suffixes' tokens to *n_prompt_tokens. Codes: CORE_ECANCELED,
 * CORE_ELIMIT (the queue is full, the prompt does not fit), CORE_ENOMEM, those of the
 * candidates' steps.
 */
int solve__write_queue(solve_engine *engine, solve__cand *cands, int32_t *const *suffixes,
                       const size_t *n_suffixes, size_t n, const core_cancel *cancel,
                       size_t *n_prompt_tokens, core_err *err);

/**
 * Requests of one stage on a gen_queue and the wait for their ends (solve_queue.c): the plan,
 * the candidates, a completion's candidates. Each request's on_event must pass its done event
 * to solve__qset_done. Submitting and waiting happen on one thread; the queue's worker calls
 * solve__qset_done.
 */
typedef struct solve__qset {
    gen_queue *queue;              /* borrowed */
    pthread_mutex_t mu;            /* guards n_live, rc and err */
    pthread_cond_t cv;             /* signals a done event */
    size_t n_live;                 /* submitted requests without their done event */
    int rc;                        /* the first error a request ended with */
    core_err err;                  /* its message */
    uint64_t ids[SOLVE_N_MAX + 1]; /* (n_ids) the requests submitted */
    size_t n_ids;
} solve__qset;

/** Starts an empty set on queue. CORE_ERROR (the lock or condition could not be made). */
int solve__qset_init(solve__qset *qs, gen_queue *queue, core_err *err);
void solve__qset_dispose(solve__qset *qs);
/** What one request of a set is: its prompt (copied), its token cap (its own rules end it
    first: one more than theirs), and its callbacks (gen_queue_request.sample and on_event) with
    their payload. Plain value. */
typedef struct solve__qreq {
    const int32_t *prompt;
    size_t n_prompt;
    size_t n_tokens_max;
    int (*pick)(void *payload, const float *logits, size_t n_past, int32_t *token, core_err *err);
    void (*on_event)(void *payload, const gen_queue_event *event);
    void *payload;
} solve__qreq;

/** Submits a request that picks its own tokens (at most SOLVE_N_MAX + 1 a set). Codes:
    gen_queue_submit's. */
int solve__qset_submit(solve__qset *qs, const solve__qreq *r, core_err *err);
/** Counts a request's done event (called from its on_event), keeping the first error. */
void solve__qset_done(solve__qset *qs, const gen_queue_event *ev);
/**
 * Waits for every submitted request's done event; when cancel asks (polled every few
 * milliseconds), or when abandon is set, they are canceled first (each ends within a step).
 * Returns 0, the first error a request ended with, or CORE_ECANCELED (cancel asked; the
 * message names what, e.g. "writing").
 */
int solve__qset_wait(solve__qset *qs, const core_cancel *cancel, bool abandon, const char *what,
                     core_err *err);
/* ------------------------------------------------------------------------------------------ */
/* The remote backend's stream (remote.c) and writing through it (solve_remote.c)             */
/* ------------------------------------------------------------------------------------------ */

/** An SSE reader (the WHATWG "server-sent events" format): bytes in, events out. */
typedef struct solve__sse {
    core_buf line; /* the line being read, owned */
    core_buf data; /* the event's data lines, joined by '\n', owned */
    bool has_data; /* a data line came since the last event */
    bool skip_lf;  /* the last line ended with '\r': a following '\n' belongs to it */
} solve__sse;

/** Longest SSE line accepted (CORE_EPARSE past it). */
#define SOLVE__SSE_LINE_MAX (1u << 20)

/** Called with each event's data (borrowed for the call): 0 to go on, 1 to stop, or < 0. */
typedef int (*solve__sse_fn)(void *payload, core_str data, core_err *err);

/**
 * Feeds len bytes of a stream; each complete event (a blank line after data lines) goes to fn.
 * Returns 0, 1 when fn asked to stop, or a negative code: CORE_EPARSE (a line past
 * SOLVE__SSE_LINE_MAX or with a NUL byte), CORE_ENOMEM, fn's.
 */
int solve__sse_feed(solve__sse *sse, const char *bytes, size_t len, solve__sse_fn fn, void *payload,
                    core_err *err);
void solve__sse_dispose(solve__sse *sse);

/** What a completion chunk said (solve__chunk_parse). */
typedef struct solve__chunk {
    bool done;     /* the "[DONE]" sentinel */
    bool finished; /* finish_reason was set */
    solve_backend_finish finish;
    core_buf text; /* choices[0].text, owned by the caller (appended to) */
} solve__chunk;

/**
 * Parses one SSE data payload of /v1/completions: "[DONE]", or a JSON object whose
 * choices[0] has "text" (a string) and "finish_reason" (null, "stop", "length", or another
 * string, read as "stop"); an "error" object is the server's error. Appends the text to
 * chunk->text. Codes: CORE_EPARSE (garbage, named), CORE_EIO (the server's error, with its
 * message), CORE_ENOMEM.
 */
int solve__chunk_parse(solve__chunk *chunk, core_str data, core_err *err);

/**
 * The write stage through engine->backend: as solve__write, but each candidate's prompt is
 * the shared prompt's text followed by suffix_text, streamed and checked piece by piece.
 * Codes: CORE_ECANCELED, CORE_ENOMEM, those of solve_backend_complete and the grammar.
 */
int solve__write_remote(solve_engine *engine, solve__cand *cands, const solve__cand_options *opts,
                        int32_t *const *suffixes, const size_t *n_suffixes, size_t n,
                        const core_cancel *cancel, core_err *err);
/** What a remote candidate's rules said of a streamed piece (solve__remote_rules.piece). */
#define SOLVE__PIECE_TAKEN   0 /* accepted; the stream goes on */
#define SOLVE__PIECE_DONE    1 /* accepted, and the candidate ended there (or hit its cap) */
#define SOLVE__PIECE_REFUSED 2 /* refused: the stream is cut before it */

/**
 * One candidate's rules for solve__remote_write, as callbacks on payload (a write stage
 * candidate, or a completion at a cursor). All are called on the writing thread.
 */
typedef struct solve__remote_rules {
    /* A piece of the stream: a SOLVE__PIECE_* or a negative code (err set). */
    int (*piece)(void *payload, core_str piece, core_err *err);
    /* The server ended its completion (end of generation, a stop string): 1 when the candidate
       ends there, 0 when the code is not complete (the stop is refused), or a negative code. */
    int (*stop)(void *payload, core_err *err);
    /* The candidate ends unfinished: the server's token cap, or (gave_up) too many refusals. */
    void (*cut)(void *payload, bool gave_up);
    /* The text accepted so far, borrowed until the next call; the continuation's prompt is the
       prompt followed by it. */
    core_str (*text)(void *payload);
    /* Tokens the candidate may still take. */
    size_t (*n_tokens_left)(void *payload);
    void *payload;
} solve__remote_rules;

/** What solve__remote_write sends. Plain value, everything borrowed for the call. */
typedef struct solve__remote_req {
    const solve_backend *backend;
    const gen_model *model; /* tokenizes a refused piece for logit_bias */
    const bool *is_stop;    /* (n_vocab) the tokens a refused stop excludes */
    size_t n_vocab;
    gen_sampler_options sampling; /* the seed grows by one each request */
    const char *const *stop;      /* (n_stop) "stop" strings */
    size_t n_stop;
    core_str prompt;                  /* the text before the candidate's */
    const core_log *log;              /* the refusals, at debug level; may be NULL */
    const gen_logit_bias *logit_bias; /* (n_logit_bias) the client's, sent with each request */
    size_t n_logit_bias;
    bool ignore_eos; /* sent with each request */
} solve__remote_req;

/**
 * Writes one candidate through req->backend under rules: each streamed piece goes to
 * rules.piece; at the first refused piece (or refused stop) the stream is cut and a new
 * request continues from the accepted text with the refused continuation's first token (the
 * stop tokens) excluded through "logit_bias"; where the server sends the same piece again, the
 * following requests sample from the whole vocabulary (solve_remote.c says how). Returns when
 * the candidate ended (rules.piece said DONE, rules.stop 1, or rules.cut was called).
 * *n_requests is incremented for each request. Codes: CORE_ECANCELED, CORE_ENOMEM, those of
 * solve_backend_complete and of the rules.
 */
int solve__remote_write(size_t *n_requests, const solve__remote_req *req,
                        const solve__remote_rules *rules, const core_cancel *cancel, core_err *err);

/** The completer's model and its grammar of lang (NULL when not compiled in) (complete.c). */
const gen_model *solve__completer_model(const solve_completer *completer);
const gram_lang *solve__completer_lang(const solve_completer *completer, solve_lang lang);

/* Workspace files (context.c), shared with workspace.c. */

/** Whether ch may be part of an identifier (ASCII letters, digits, '_', any non-ASCII byte). */
bool solve__ident_char(char ch);
/** out = a then b; false (out "") when it does not fit in cap bytes. */
bool solve__str_cat(char *out, size_t cap, const char *a, const char *b);
/** Joins dir (NULL: none) and rel into out, folding "." and ".."; false when too long. */
bool solve__path_join(char *out, size_t cap, const char *dir, const char *rel);
/** Appends path's text (an open document's of o->files, else the disk's, at most 1 MiB):
    1 found, 0 not found or unreadable, CORE_ENOMEM. */
int solve__file_read(core_buf *out, const solve_context_options *o, const char *path,
                     core_err *err);
/** Resolves import im from o->dir then o->root (relative imports: o->dir only) and reads it
    into text (cleared first); its path into found. 1 found, 0 not, CORE_ENOMEM. */
int solve__import_read(core_buf *text, char *found, size_t cap, const solve_context_options *o,
                       solve_lang lang, const solve_import *im, core_err *err);

/** Whether a workspace walk skips the entry called name: hidden entries and the folders of
    caches, environments and builds (__pycache__, node_modules, venv, build, site-packages). */
bool solve__walk_skips(const char *name);
/** path relative to top (both normalized by solve__path_join; top "." or "": any relative
    path), or NULL when it is not under top. Points into path. */
const char *solve__path_rel(const char *path, const char *top);
/** Appends the paths, relative to o->root (else o->dir), of lang's test files that mention
    entry (solve_workspace_tests' discovery), one a line; *n_files: how many. CORE_ENOMEM. */
int solve__workspace_test_files(core_buf *out, size_t *n_files, solve_lang lang, core_str entry,
                                const solve_context_options *o, core_err *err);

#endif /* KILN_SOLVE_INT_H */
