/*
 * solve: kiln's pipeline, the generator that joins the model runtime to grammar, sandbox and
 * eval. Given a task (a Python signature with its docstring, or a C comment and prototype, plus
 * visible tests when there are any) it (1) plans: the model writes short numbered pseudocode
 * steps; (2) writes: N candidates sampled together in one batched decode from one shared prompt
 * prefix, each under its own grammar constraint, stopped at the end of the function; (3) tests:
 * runs each candidate against the visible tests in the sandbox (the task's own tests, else the
 * docstring's examples, else none); (4) repairs: when no candidate passes, feeds failing
 * candidates and their test messages back and writes new candidates, reusing the cached task
 * prefix; (5) scores every candidate (eval_card) and ranks them (eval_rank). Front ends (CLI,
 * LSP, HTTP) call solve_run with a progress callback and a cancel callback.
 */
#ifndef KILN_SOLVE_H
#define KILN_SOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "eval/eval.h"
#include "gen/gen.h"
#include "sandbox/sbx.h"

/* ------------------------------------------------------------------------------------------ */
/* Tasks and options                                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef enum solve_lang {
    SOLVE_LANG_PYTHON = 0,
    SOLVE_LANG_C = 1,
} solve_lang;

/** "python" or "c". Static storage. */
const char *solve_lang_name(solve_lang lang);

/**
 * What to solve. Plain value; the strings are borrowed for the call of solve_run.
 * Python: prompt is the signature + docstring (HumanEval style, imports and helpers before it
 * are kept); the candidate is the prompt followed by the generated body. C: prompt is a comment
 * describing the function and its prototype line ending in ';'; the candidate is the comment,
 * the prototype as a definition, and the generated body.
 */
typedef struct solve_task {
    solve_lang lang;
    core_str prompt;
    core_str entry;         /* the function's name */
    core_str visible_tests; /* Python: asserts or check(candidate); C: a file with main().
                               Empty: docstring examples (Python), else no tests */
} solve_task;

/** Where the visible tests came from. */
typedef enum solve_tests_source {
    SOLVE_TESTS_FIELD = 0,     /* the task's visible_tests */
    SOLVE_TESTS_DOCSTRING = 1, /* asserts extracted from the prompt's examples */
    SOLVE_TESTS_NONE = 2,      /* none: candidates are ranked without execution */
    SOLVE_TESTS_GENERATED = 3, /* none given: tests the model wrote (CodeT), which rank by
                                  dual agreement and never count as correctness */
} solve_tests_source;

/** "field", "docstring", "none", "generated". Static storage. */
const char *solve_tests_source_name(solve_tests_source source);

typedef struct solve_options {
    size_t n_candidates;      /* N candidates per round (default 8), at most SOLVE_N_MAX */
    size_t n_rounds;          /* repair rounds after the first write (default 2) */
    bool plan;                /* write a plan first (default false: measured not to pay) */
    bool grammar;             /* grammar-constrained writing (default true) */
    bool repair;              /* repair rounds (default true) */
    bool greedy_first;        /* candidate 0 of each round is greedy (default false) */
    bool repair_resample;     /* half of each repair round (the later half) samples afresh from
                                 the task's prompt instead of repairing (default true: this
                                 tiny model's repairs rarely succeed, fresh samples often do) */
    uint64_t seed;            /* candidate i of round r samples with a seed derived from it */
    float temp;               /* write temperature (default 0.8) */
    float top_p;              /* (default 0.95) */
    float temp_plan;          /* plan temperature (default 0: greedy) */
    size_t n_plan_tokens_max; /* (default 96) */
    size_t n_code_tokens_max; /* tokens per candidate (default 256) */
    size_t n_test_jobs;       /* sandbox runs at once (default: the pool's slots) */
    size_t n_gen_tests;       /* Python tasks with no visible tests: test inputs the model
                                 proposes (CodeT, solve_gentests.c; default 0: off, measured
                                 not to pay with the default model; 8 is a good start) */
    sbx_limits limits;        /* per sandbox run (default sbx_limits_default) */
    eval_rank_options rank;   /* ranking weights (default eval_rank_options_default) */
} solve_options;

#define SOLVE_N_MAX 64

solve_options solve_options_default(void);

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef enum solve_stage {
    SOLVE_STAGE_PLAN = 0,
    SOLVE_STAGE_WRITE = 1,
    SOLVE_STAGE_TEST = 2,
    SOLVE_STAGE_REPAIR = 3,
    SOLVE_STAGE_RANK = 4,
} solve_stage;

#define SOLVE_N_STAGES 5

/** "plan", "write", "test", "repair", "rank". Static storage. */
const char *solve_stage_name(solve_stage stage);

/** One candidate. Strings are owned by the result. */
typedef struct solve_candidate {
    char *code;          /* the whole function (Python: with the prompt's imports) */
    size_t round;        /* 0: first write; r: repair round r */
    size_t n_tokens;     /* tokens generated */
    double logprob_mean; /* mean log-probability of the generated tokens (unconstrained model) */
    bool ended;          /* the function ended by itself (else the token cap cut it) */
    bool parses;         /* it ended and parses (tree-sitter, Python's indentation) */
    bool tested;         /* the visible tests ran (else verdict and counts are meaningless) */
    sbx_verdict verdict; /* visible tests' verdict */
    size_t n_tests_run;
    size_t n_tests_passed;
    char *message;    /* the first failure (test message, load error or limit), or "" */
    char *behavior;   /* what card.behavior points to: test outcomes, or the normalized code */
    eval_card card;   /* card.behavior points into the result */
    eval_score score; /* score.rank: 0 = best */
} solve_candidate;

/** What solve_run found. Free with solve_result_free. */
typedef struct solve_result {
    solve_lang lang;
    char *plan;          /* "" without a plan */
    char *visible_tests; /* the tests that ran, "" when none */
    solve_tests_source tests_source;
    solve_candidate *candidates; /* (n_candidates), all rounds, in the order written */
    size_t n_candidates;
    size_t n_round0;     /* candidates of round 0 (the raw samples) */
    size_t n_rounds_run; /* repair rounds that ran */
    long chosen;         /* index of the ranked top-1 candidate, -1 when none */
    uint64_t ns_stage[SOLVE_N_STAGES];
    uint64_t ns_total;
    size_t n_tokens_prompt;    /* prompt tokens decoded (cached prefixes count once) */
    size_t n_tokens_generated; /* tokens sampled */
} solve_result;

void solve_result_free(solve_result *result);

/**
 * Appends the result as one JSON object (the fields of the `kiln eval` results schema that the
 * pipeline knows: language, plan, visible_tests, visible_source, candidates with visible test
 * summaries, cards and scores, chosen, n_samples, timings_ms, tokens). CORE_ENOMEM.
 */
int solve_result_to_json(core_buf *out, const solve_result *result, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* The engine                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/** Progress reports: a stage starting or a step inside it. Plain value, valid for the call. */
typedef struct solve_event {
    solve_stage stage;
    size_t round;    /* 0: first write; r: repair round */
    size_t i_done;   /* candidates finished in this stage (write: ended; test: tested) */
    size_t n_total;  /* candidates in this stage */
    size_t n_passed; /* candidates passing the visible tests so far (all rounds) */
} solve_event;

typedef struct solve_progress {
    void (*fn)(void *payload, const solve_event *event); /* called on solve_run's thread */
    void *payload;
} solve_progress;

/**
 * Holds what solve_run reuses between tasks: the decoding context (n_seq_max = candidates + 1),
 * the sampling vocabulary, both grammars. One thread at a time.
 */
typedef struct solve_engine solve_engine;

typedef struct solve_engine_options {
    size_t n_candidates_max; /* largest n_candidates solve_run will get (default 8) */
    size_t n_ctx;            /* positions per sequence (default 1536) */
    size_t n_threads;        /* compute threads (default 1) */
    core_log log;            /* borrowed sink; fn may be NULL */
} solve_engine_options;

solve_engine_options solve_engine_options_default(void);

/**
 * Creates an engine. Borrows model and pool (pool may be NULL: nothing is executed and
 * candidates are ranked without tests); both must outlive it. Loads the Python and C grammars
 * (a grammar that is not compiled in only turns the constraint off for that language). Codes:
 * CORE_EINVAL, CORE_ENOMEM, those of gen_ctx_new.
 */
int solve_engine_new(solve_engine **out, const gen_model *model, sbx_pool *pool,
                     const solve_engine_options *opts, core_err *err);
void solve_engine_free(solve_engine *engine);

/**
 * Runs the pipeline on task. *out belongs to the caller (solve_result_free). progress and
 * cancel may be NULL; cancel is polled between decode steps and while sandbox runs wait.
 * Codes: CORE_EINVAL (bad task or options: named), CORE_ECANCELED, CORE_ELIMIT (the prompt does
 * not fit the context), CORE_ENOMEM, and those of the runtime and the sandbox.
 */
int solve_run(solve_result **out, solve_engine *engine, const solve_task *task,
              const solve_options *opts, const solve_progress *progress, const core_cancel *cancel,
              core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Pieces (exposed for tests and front ends)                                                  */
/* ------------------------------------------------------------------------------------------ */

/**
 * Where a generated body ends. text is the generated part (after the code prefix). Python: the
 * text starts inside the body's first line (the prefix ends with its indentation); it ends at a
 * closing ``` fence, or before the first line that starts at column 0 with a non-blank
 * character. C: right after the brace that closes the function's body (braces in
 * strings, character constants and comments do not count); the body starts inside the opening
 * brace, at depth 1. Returns true and sets *end (the kept length, trailing blanks trimmed) when
 * the function is complete; false when more text is needed (*end is then text.len).
 */
bool solve_body_end(solve_lang lang, core_str text, size_t *end);

/**
 * Chooses the visible tests: task->visible_tests when set, else the prompt's examples (Python:
 * asserts from the docstring's `>>>` lines; C: a test program with main() from its comments'
 * `f(x) == y` examples, eval_c_examples_extract), else none. *out is the tests' text (arena-owned,
 * "" when none). CORE_ENOMEM.
 */
int solve_tests_select(const char **out, solve_tests_source *source, core_arena *arena,
                       const solve_task *task, core_err *err);

/**
 * The code the model continues from: Python: the prompt, ending with a newline and the body's
 * indentation less one space (the tokenizer joins that space to the next word); C: the prompt
 * (after common #includes when it has none) with its prototype's ';' turned into a
 * definition's opening "\n{\n", or its open definition's '{' (HumanEval-X, MultiPL-E) kept as
 * " {\n", then three spaces of indentation. Appended to out. CORE_EINVAL (a C prompt ending
 * in neither ';' nor '{', or one written in C++), CORE_ENOMEM.
 */
int solve_code_prefix(core_buf *out, const solve_task *task, core_err *err);

/**
 * Appends the chat text of a stage's prompt to out (tokenize with parse_special): the plan
 * prompt when plan is NULL and for_plan; else the shared write prompt (few-shot example, task,
 * plan when non-empty) that ends where the assistant's reply begins. CORE_ENOMEM, those of
 * gen_model_chat_apply.
 */
int solve_prompt_build(core_buf *out, const gen_model *model, const solve_task *task, bool for_plan,
                       core_str plan, core_err *err);

/**
 * Appends the repair turn that follows the shared write prompt: the failing candidate as the
 * assistant's reply, the test message as the user's next turn, and the start of the new reply
 * (ChatML or Gemma turns, as the model's template). CORE_ENOMEM.
 */
int solve_prompt_repair(core_buf *out, const gen_model *model, const solve_task *task,
                        core_str code, core_str message, core_err *err);

#endif /* KILN_SOLVE_H */
