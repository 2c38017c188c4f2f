/*
 * Private to the .c files of solve/: the engine's state and the pieces the stages share.
 */
#ifndef KILN_SOLVE_INT_H
#define KILN_SOLVE_INT_H

#include "solve/solve.h"

#include "grammar/gram.h"

struct solve_engine {
    const gen_model *model; /* borrowed */
    sbx_pool *pool;         /* borrowed, may be NULL */
    gen_ctx *ctx;           /* owned; sequence 0 holds the shared prompt, 1.. the candidates */
    gram_lang *langs[2];    /* owned, by solve_lang; NULL when not compiled in */
    core_str *pieces;       /* (n_vocab) owned array; the bytes are the model's */
    bool *is_stop;          /* (n_vocab) owned: end of generation or a closing ``` fence */
    gram_vocab vocab;       /* pieces + is_stop for the constraint */
    float *scratch;         /* (n_vocab) owned: logits the sampler may change */
    size_t n_vocab;
    size_t n_candidates_max;
    size_t n_ctx;
    core_log log;
};

/* ------------------------------------------------------------------------------------------ */
/* The decode loop (solve_write.c): one for the write stage, solve_generate and completions    */
/* ------------------------------------------------------------------------------------------ */

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
    bool forbade_all; /* the constraint forbade every token */
    bool has_body;    /* a non-blank character was generated */
} solve__cand;

/**
 * Starts a candidate: its sampler, and with o->grammar its checker (fed the code prefix, with
 * o->suffix as the text after the cursor) and constraint. A code prefix the grammar does not
 * accept turns the constraint off for this candidate (logged as a warning; c->gc stays NULL).
 * Borrows e's tables for the candidate's life. CORE_EINVAL (bad sampling options), CORE_ENOMEM.
 */
int solve__cand_start(solve_engine *e, solve__cand *c, const solve__cand_options *o, core_err *err);

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
    adds its tokens to *n_tokens. CORE_ELIMIT (it does not fit), those of the runtime. */
int solve__decode_shared(solve_engine *engine, core_str text, size_t *n_tokens, core_err *err);

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

#endif /* KILN_SOLVE_INT_H */
