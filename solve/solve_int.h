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

/** The state of one candidate being written. */
typedef struct solve__cand {
    gen_sampler *sampler;  /* owned */
    gram_checker *checker; /* owned, NULL without the grammar */
    gram_constraint *gc;   /* owned, NULL without the grammar */
    core_buf text;         /* generated text, owned */
    size_t end;            /* kept length of text once ended */
    size_t n_tokens;
    double logprob_sum;
    bool live;
    bool ended;
    bool has_body; /* a non-blank character was generated */
} solve__cand;

/**
 * Writes n candidates (n <= engine->n_candidates_max) into cands: sequence 0 must hold the
 * shared prompt; candidate i decodes suffixes[i] (tokens after the shared prompt, ending with
 * the code prefix) in sequence i + 1 and is then sampled until its function ends or the token
 * cap. code_prefix is the code the checker starts from. Codes: CORE_ECANCELED, CORE_ELIMIT,
 * CORE_ENOMEM, those of the runtime and the grammar.
 */
int solve__write(solve_engine *engine, solve__cand *cands, int32_t *const *suffixes,
                 const size_t *n_suffixes, size_t n, solve_lang lang, core_str code_prefix,
                 const solve_options *opts, size_t round, const core_cancel *cancel,
                 size_t *n_prompt_tokens, core_err *err);

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

/** Appends s to out as a JSON string (quotes included). CORE_ENOMEM. */
int solve__json_str(core_buf *out, core_str s);

#endif /* KILN_SOLVE_INT_H */
