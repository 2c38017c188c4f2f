/*
 * solve: kiln's pipeline, the generator that joins the model runtime to grammar, sandbox and
 * eval. Given a task (a Python signature with its docstring, or a C comment and prototype, plus
 * visible tests when there are any) it (1) plans: the model writes short numbered pseudocode
 * steps; (2) writes: N candidates sampled together in one batched decode from one shared prompt
 * prefix, each under its own grammar constraint, stopped at the end of the function; (3) tests:
 * runs each candidate against the visible tests in the sandbox (the task's own tests, else the
 * docstring's examples, else none); (4) repairs: when no candidate passes, feeds failing
 * candidates and their test messages back and writes new candidates, reusing the cached task
 * prefix; (5) scores every candidate (eval_card) and ranks them (eval_rank).
 *
 * Front ends (the CLI, the LSP server, the HTTP service, the patch bot) need only this header
 * and gen/gen.h. A front end:
 *   - loads one gen_model (gen_model_load) and, when it runs tests, one sbx_pool
 *     (sbx_pool_new); both are shared by every task: the model is immutable after loading, the
 *     pool is internally synchronized (its slots bound the sandbox runs of all callers);
 *   - creates one solve_engine per worker thread (solve_engine_new): an engine holds a decoding
 *     context and scratch and serves one call at a time, so N tasks at once need N engines (each
 *     its own KV cache: n_ctx x (n_candidates_max + 1) positions) over the same model and pool;
 *   - runs a task with solve_run (the whole pipeline), one candidate with solve_generate (the
 *     same decode loop on a prompt of its own), or sandbox runs with solve_test_all;
 *   - cancels a call through its core_cancel: the callback is polled between decode steps (and
 *     between a prompt's passes) and while sandbox runs wait; the call then returns
 *     CORE_ECANCELED with nothing leaked and the engine ready for the next call. The callback
 *     runs on the calling thread (and sandbox waiters); make it read an atomic flag that another
 *     thread (the I/O loop) sets;
 *   - follows a run through solve_progress (stage events) and solve_options.on_candidate
 *     (candidate events: written, tested, repairing, with the candidate's index, code and
 *     verdict), both called on the calling thread; a server forwards them as messages to its
 *     I/O thread (SSE, $/progress).
 * Results (solve_result, solve_generation) belong to the caller and hold no pointer into the
 * engine; solve_result_to_json writes the `kiln eval` record fields.
 */
#ifndef KILN_SOLVE_H
#define KILN_SOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "eval/eval.h"
#include "gen/gen.h"
#include "grammar/gram.h"
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

struct solve_candidate_event;

/**
 * Where solve_run sends candidate events (solve_candidate_event): fn may be NULL. Called on
 * solve_run's thread, as solve_progress is.
 */
typedef struct solve_candidate_sink {
    void (*fn)(void *payload, const struct solve_candidate_event *event);
    void *payload;
} solve_candidate_sink;

typedef struct solve_options {
    size_t n_candidates;      /* N candidates per round (default 8), at most SOLVE_N_MAX */
    size_t n_rounds;          /* repair rounds after the first write (default 2) */
    bool plan;                /* write a plan first (default false: measured not to pay) */
    bool grammar;             /* grammar-constrained writing (default true) */
    bool repair;              /* repair rounds (default false: measured not to pay) */
    bool greedy_first;        /* candidate 0 of each round is greedy (default false) */
    bool end_gate;            /* a finished candidate's end is accepted only when the
                                 language's own front end accepts it (C names, cc, CPython),
                                 else it is written again (default true) */
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
    size_t n_probes;          /* Python tasks with no visible tests: calls built from the
                                 signature's types (solve_probes.c) whose outputs the ranking
                                 compares between candidates (default 10, at most 10; 0: off) */
    size_t n_fresh_rounds;    /* after the first write (and any repair), rounds of
                                 n_candidates fresh samples from the task's prompt, each drawn
                                 only while no candidate passes the visible tests, or, with no
                                 visible tests, while the candidates agree weakly (below
                                 fresh_agree); every candidate of the pool is ranked. None at
                                 temp 0 (default 1, see README; 0: off; at most
                                 SOLVE_FRESH_ROUNDS_MAX) */
    double fresh_agree;       /* without visible tests: the share of the pool in its largest
                                 group of candidates that return the same values on the same
                                 inputs (the probes' and generated tests'; identical code where
                                 nothing ran) at which no further round is drawn (default 0.5) */
    sbx_limits limits;        /* per sandbox run (default sbx_limits_default) */
    eval_rank_options rank;   /* ranking weights (default eval_rank_options_default) */
    solve_candidate_sink on_candidate; /* candidate events (default none) */
} solve_options;

#define SOLVE_N_MAX 64
/** The most fresh rounds a run draws (solve_options.n_fresh_rounds). */
#define SOLVE_FRESH_ROUNDS_MAX 8

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
    size_t round;        /* 0: first write; 1..n_rounds_run: repair rounds; then fresh rounds */
    size_t n_tokens;     /* tokens generated */
    double logprob_mean; /* mean log-probability of the generated tokens (unconstrained model) */
    bool ended;          /* the function ended by itself (else the token cap cut it, or the
                            end gate refused its end: end_refused) */
    bool end_refused;    /* the language's own front end refused the text where it ended */
    bool parses;         /* it ended and parses (tree-sitter, Python's indentation) */
    bool tested;         /* the visible tests ran (else verdict and counts are meaningless) */
    sbx_verdict verdict; /* visible tests' verdict */
    size_t n_tests_run;
    size_t n_tests_passed;
    char *message;    /* the first failure (test message, load error or limit), or "" */
    char *behavior;   /* what card.behavior points to: test outcomes, or the normalized code */
    eval_card card;   /* card.behavior points into the result */
    eval_score score; /* score.rank: 0 = best */

    size_t n_requests; /* remote backend: requests it took (1 + the grammar's retries); 0 local */
} solve_candidate;

/** What solve_run found. Free with solve_result_free. */
typedef struct solve_result {
    solve_lang lang;
    char *plan;          /* "" without a plan */
    char *visible_tests; /* the tests that ran, "" when none */
    solve_tests_source tests_source;
    solve_candidate *candidates; /* (n_candidates), all rounds, in the order written */
    size_t n_candidates;
    size_t n_round0;           /* candidates of round 0 (the raw samples) */
    size_t n_rounds_run;       /* repair rounds that ran */
    size_t n_fresh_rounds_run; /* fresh rounds that ran (solve_options.n_fresh_rounds) */
    long chosen;               /* index of the ranked top-1 candidate, -1 when none */
    uint64_t ns_stage[SOLVE_N_STAGES];
    uint64_t ns_total;
    size_t n_tokens_prompt;    /* prompt tokens decoded (cached prefixes count once) */
    size_t n_tokens_generated; /* tokens sampled */
    size_t n_resampled;        /* candidates written again: the end gate refused them */
    size_t n_requests;         /* remote backend: completion requests, all candidates (0 local) */
    size_t n_requests_extra;   /* of those, the grammar's (cut and continued from the valid
                                  prefix); HTTP retries on 429/503 are not counted */
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
    size_t round;    /* 0: first write; then repair rounds, then fresh rounds */
    size_t i_done;   /* candidates finished in this stage (write: ended; test: tested) */
    size_t n_total;  /* candidates in this stage */
    size_t n_passed; /* candidates passing the visible tests so far (all rounds) */
} solve_event;

/** What happened to one candidate. */
typedef enum solve_candidate_event_kind {
    SOLVE_CANDIDATE_WRITTEN = 0,   /* written: code, n_tokens, ended, parses are set */
    SOLVE_CANDIDATE_TESTED = 1,    /* its visible tests ran: verdict, counts and message too */
    SOLVE_CANDIDATE_REPAIRING = 2, /* a repair round starts from this failing candidate */
} solve_candidate_event_kind;

/** "written", "tested", "repairing". Static storage. */
const char *solve_candidate_event_kind_name(solve_candidate_event_kind kind);

/**
 * A candidate event, for streaming a run (an HTTP server's SSE events, an LSP $/progress): the
 * candidate's index in the result's candidates (the order written, all rounds), the round of the
 * event (REPAIRING: the repair round about to write) and the candidate itself, whose code,
 * verdict and message are borrowed for the call only (copy what you keep).
 */
typedef struct solve_candidate_event {
    solve_candidate_event_kind kind;
    size_t round;
    size_t i_candidate;
    const solve_candidate *candidate; /* borrowed for the call */
} solve_candidate_event;

/**
 * Stage progress; fn may be NULL. Called on solve_run's thread, in order, never from a worker,
 * so it may write to the caller's own stream without locking; it should return quickly (a
 * front end posts a message to its I/O thread). Candidate events come through
 * solve_options.on_candidate, under the same rules, between a stage's start and end events.
 */
typedef struct solve_progress {
    void (*fn)(void *payload, const solve_event *event);
    void *payload;
} solve_progress;

/**
 * Holds what solve_run reuses between tasks: the decoding context (n_seq_max = candidates + 1),
 * the sampling vocabulary and stop tables, both grammars. One thread at a time: a caller that
 * runs tasks on several threads gives each thread its own engine over the shared model and
 * pool. Borrows the model and the pool.
 */
typedef struct solve_engine solve_engine;

struct solve_backend;

typedef struct solve_engine_options {
    size_t n_candidates_max; /* largest n_candidates solve_run will get (default 8) */
    size_t n_ctx;            /* positions per sequence (default 1536) */
    size_t n_threads;        /* compute threads (default 1) */
    core_log log;            /* borrowed sink; fn may be NULL */

    /* Borrowed, default NULL: the write stage runs on the model here. Set: candidates are
       written by this remote server (see "Remote backend" below); the model is then used for
       its vocabulary and chat template only (load it vocab_only), no context is made, and
       plans and generated tests are refused (CORE_EUNSUPPORTED). */
    struct solve_backend *backend;
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
 * Makes the plan and write stages decode on queue (borrowed; NULL: the engine's own context
 * again): the plan and each candidate are one request of the queue, with the engine's sampler,
 * grammar constraint and end rules as the request's own token choice
 * (gen_queue_request.sample), so a server's completions and solve candidates share one batch.
 * The queue must run over the engine's model and outlive its use; plan and candidates are the
 * same as on the engine's context for the same seed.
 */
void solve_engine_set_queue(solve_engine *engine, gen_queue *queue);

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
/* One generation: the write stage's decode loop on a prompt of the caller's                   */
/* ------------------------------------------------------------------------------------------ */

/** What ends a generation. */
typedef enum solve_stop {
    SOLVE_STOP_END = 0,  /* as the pipeline: an end-of-generation token, a closing ``` fence, or
                            the function's end (solve_body_end) */
    SOLVE_STOP_NONE = 1, /* stop tokens are forbidden and the function's end is not looked for:
                            exactly n_tokens_max tokens (for timing) */
} solve_stop;

typedef struct solve_generate_options {
    gen_sampler_options sampling; /* default gen_sampler_options_default() */
    size_t n_tokens_max;          /* token cap (default 256) */
    bool grammar;                 /* under the language's grammar constraint (default true) */
    solve_stop stop;              /* default SOLVE_STOP_END */
} solve_generate_options;

solve_generate_options solve_generate_options_default(void);

/** What solve_generate wrote. Owned by the caller: solve_generation_dispose. */
typedef struct solve_generation {
    char *text;         /* the generated text kept, after the code prefix (at an end: up to the
                           function's end, trailing blanks trimmed), NUL-terminated, owned */
    int32_t *tokens;    /* (n_tokens) the sampled token ids, a stop token included, owned */
    size_t n_tokens;    /* tokens sampled */
    double logprob_sum; /* log-probabilities of the sampled tokens (unconstrained model) */
    bool ended;         /* a stop token or the function's end ended it (not the cap) */
    bool forbade_all;   /* the constraint forbade every token: it ended where it was */
    bool constrained;   /* the grammar constraint was on (false: asked off, not compiled in, or
                           the code prefix is not viable for the grammar) */
    uint64_t ns_decode; /* the decode loop (model, sampling, constraint), prompt excluded */
    uint64_t ns_sample; /* sampling, constraint included */
    uint64_t ns_checks; /* the constraint's checks (gram_constraint_ns_checks) */
    uint64_t n_checks;  /* tokens the constraint was asked about */
} solve_generation;

void solve_generation_dispose(solve_generation *gen);

/**
 * Writes one candidate with the pipeline's decode loop (the same step as the write stage:
 * grammar constraint, blank-body rules, end rule, log-probabilities): decodes prompt (chat
 * text, tokenized with special tokens and BOS) into the engine's shared sequence, then suffix
 * (the text after it that ends with the code, e.g. a code fence and code_prefix; tokenized
 * without BOS; not empty) in a candidate sequence, as the write stage decodes its shared prompt
 * and a candidate's suffix, and samples until opts->stop's rule or the cap ends it.
 * code_prefix is the code the grammar checker starts from. With the same prompt, suffix,
 * sampling and seed, a candidate of solve_run (n_candidates 1) gets the same tokens. *out
 * belongs to the caller. Uses the engine (one thread at a time). Codes: CORE_EINVAL (empty
 * suffix, bad options), CORE_ELIMIT (does not fit the context), CORE_ECANCELED, CORE_ENOMEM,
 * those of the runtime and the grammar.
 */
int solve_generate(solve_generation *out, solve_engine *engine, solve_lang lang, core_str prompt,
                   core_str suffix, core_str code_prefix, const solve_generate_options *opts,
                   const core_cancel *cancel, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Running candidates in the sandbox, many at once                                            */
/* ------------------------------------------------------------------------------------------ */

/**
 * Called once per candidate when its run is over, on the thread that ran it (calls for
 * different candidates may come at once from different threads; write only to candidate i's
 * own state). rc is the run's code (0, or sbx_pool_run's failure with run_err's message, the
 * result then empty); result is borrowed for the call. A negative return stops the runs not yet
 * started, and solve_test_all returns it (with the message set in err).
 */
typedef int (*solve_test_fn)(void *payload, size_t i, int rc, const sbx_result *result,
                             const core_err *run_err, core_err *err);

/** What solve_test_all runs: the same tests against n candidates. Plain value, borrowed. */
typedef struct solve_test_batch {
    solve_lang lang;
    const char *const *codes; /* (n) the candidates' whole code, NUL-terminated */
    size_t n;
    core_str tests;            /* the tests (Python asserts or check(); C: a file with main()) */
    core_str entry;            /* the function's name */
    sbx_limits limits;         /* per run */
    size_t n_jobs;             /* runs at once (0: the pool's slots) */
    const core_cancel *cancel; /* polled while runs wait; may be NULL */
} solve_test_batch;

/**
 * Runs batch's candidates in pool, up to n_jobs at once on threads started for the call (the
 * calling thread is one of them; all are joined before it returns), and reports each to fn. The
 * pipeline's test stage (visible tests) and `kiln eval` (hidden tests) both run through it.
 * Returns 0 or the first negative return of fn. The pool is internally synchronized, so calls
 * from several threads may share it.
 */
int solve_test_all(sbx_pool *pool, const solve_test_batch *batch, solve_test_fn fn, void *payload,
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

/* ------------------------------------------------------------------------------------------ */
/* Completion at a cursor (solve/complete.c)                                                  */
/* ------------------------------------------------------------------------------------------ */

/** Where a completion stops. */
typedef enum solve_scope {
    SOLVE_SCOPE_LINE = 0,      /* the end of the cursor's line */
    SOLVE_SCOPE_STATEMENT = 1, /* the end of the statement (with its block, for a header) */
    SOLVE_SCOPE_BLOCK = 2,     /* the end of the block the cursor is in */
    SOLVE_SCOPE_FUNCTION = 3,  /* the end of the function (top-level definition) */
} solve_scope;

/** "line", "statement", "block", "function". Static storage. */
const char *solve_scope_name(solve_scope scope);
/** Parses a scope name; false when name is none of them. */
bool solve_scope_parse(solve_scope *out, const char *name);

typedef struct solve_complete_options {
    solve_lang lang;
    solve_scope scope;         /* default SOLVE_SCOPE_LINE */
    size_t n_tokens_max;       /* tokens per candidate (default 48) */
    size_t n_candidates;       /* candidates (default 1; the first is greedy), at most the
                                  session's n_candidates_max */
    bool grammar;              /* keep prefix + completion viable, with the suffix (default
                                  true); off by itself when the prefix is not viable */
    float temp;                /* temperature of candidates after the first (default 0.7) */
    uint64_t seed;             /* (default 1) */
    size_t n_prefix_bytes_max; /* window: text before the cursor the model sees (default 3072:
                                  a cold completion of about 700 tokens decodes within 1 s);
                                  it starts at a line boundary that moves in quarter-window
                                  steps, so the cached tokens survive typing */
    size_t n_suffix_bytes_max; /* text after the cursor the model sees with FIM (default 1024) */
    core_str context;          /* text the prompt starts with, before the prefix's window
                                  (solve_context_build; borrowed; default none) */
} solve_complete_options;

solve_complete_options solve_complete_options_default(void);

/** One completion. text is owned by the result. */
typedef struct solve_completion {
    char *text;          /* what to insert at the cursor */
    size_t n_tokens;     /* tokens generated */
    double logprob_mean; /* mean log-probability of those tokens (unconstrained model) */
    bool ended;          /* stopped at the end of its scope (else the token cap or the model) */
    bool parses;         /* prefix + text + suffix parses (tree-sitter), when a grammar exists */
} solve_completion;

/** What solve_complete found. Free with solve_completions_free. */
typedef struct solve_completions {
    solve_completion *items; /* (n_items), owned; distinct texts, best (greedy) first */
    size_t n_items;
    bool fim;                  /* the prompt used the model's fill-in-the-middle tokens */
    bool grammar;              /* the grammar constraint ran */
    size_t n_tokens_prompt;    /* tokens of the prompt */
    size_t n_tokens_reused;    /* of those, kept from the session's cache */
    size_t n_tokens_decoded;   /* of those, decoded by this call */
    size_t n_tokens_generated; /* tokens sampled, all candidates */
    uint64_t ns_prompt;        /* tokenizing and decoding the prompt */
    uint64_t ns_total;
} solve_completions;

void solve_completions_free(solve_completions *completions);

/**
 * What completion needs from a model: the vocabulary's pieces and stop tokens, the FIM tokens
 * when the vocabulary has them (<|fim_prefix|> style, <fim_prefix> style, CodeLlama's <PRE>),
 * and the grammars. Immutable after creation: share it between threads. Borrows model.
 * CORE_ENOMEM.
 */
typedef struct solve_completer solve_completer;

int solve_completer_new(solve_completer **out, const gen_model *model, core_err *err);
void solve_completer_free(solve_completer *completer);
/** Whether the model's vocabulary has fill-in-the-middle tokens. */
bool solve_completer_has_fim(const solve_completer *completer);
/** The FIM tokens (prefix, suffix, middle) into ids, or false (ids untouched) without them. */
bool solve_completer_fim_tokens(const solve_completer *completer, int32_t ids[3]);

/**
 * One document's model state: a decoding context whose sequence 0 keeps the last prompt's
 * tokens, so that the next completion decodes only the tokens after the longest common prefix
 * with them. One thread at a time; borrows its completer. Free it when the document closes.
 */
typedef struct solve_session solve_session;

typedef struct solve_session_options {
    size_t n_ctx;            /* positions (default 1536): prompt window + generated tokens */
    size_t n_candidates_max; /* (default 3) */
    size_t n_threads;        /* compute threads (default 1) */
} solve_session_options;

solve_session_options solve_session_options_default(void);

/** Creates a session. CORE_EINVAL, CORE_ENOMEM, those of gen_ctx_new. */
int solve_session_new(solve_session **out, const solve_completer *completer,
                      const solve_session_options *opts, core_err *err);
void solve_session_free(solve_session *session);
/** Tokens held in the session's cache (the last prompt). */
size_t solve_session_n_cached(const solve_session *session);

/**
 * Completes the text between prefix and suffix (the document before and after the cursor;
 * borrowed for the call). The prompt is the prefix's window (FIM: with the suffix's window);
 * the candidates stop at the end of opts->scope. *out belongs to the caller. cancel (may be
 * NULL) is polled between decode steps and passes. Codes: CORE_EINVAL (bad options, named),
 * CORE_ECANCELED, CORE_ENOMEM, those of the runtime.
 */
int solve_complete(solve_completions **out, solve_session *session, core_str prefix,
                   core_str suffix, const solve_complete_options *opts, const core_cancel *cancel,
                   core_err *err);

/**
 * Where a completion ends (exposed for tests). line is the text of the cursor's line before
 * the cursor; depth the bracket depth of the whole prefix (C braces; ignored for Python);
 * text what was generated so far. Returns true and sets *end (the length to keep) when the
 * scope has ended; false while more text may belong to it.
 */
bool solve_complete_end(solve_lang lang, solve_scope scope, core_str line, size_t depth,
                        core_str text, size_t *end);

/** C brace depth at the end of text (braces in strings, characters and comments ignored). */
size_t solve_complete_depth(solve_lang lang, core_str text);

/* ------------------------------------------------------------------------------------------ */
/* Remote backend: an OpenAI-compatible server's /v1/completions (solve/remote.c)             */
/* ------------------------------------------------------------------------------------------ */

/**
 * A model served elsewhere (vLLM, llama.cpp's server, TGI, another `kiln serve`), reached
 * with libcurl at URL/v1/completions with "stream": true. Immutable after creation: share it
 * between threads (each request has its own connection).
 */
typedef struct solve_backend solve_backend;

typedef struct solve_backend_options {
    const char *url;         /* base URL, e.g. "https://llm.example:8000" (a trailing "/v1"
                                is accepted); copied */
    const char *key;         /* bearer key, NULL for none; copied. Front ends read it from a
                                file or the environment, never from the command line */
    const char *model;       /* "model" field sent, NULL to send none; copied */
    long connect_timeout_ms; /* (default 10000) */
    long idle_timeout_ms;    /* no byte for this long ends the request (default 60000) */
    long timeout_ms;         /* a whole request at most (default 600000) */
    size_t n_retries;        /* retries on 429, 502, 503, 504 and failed connections before
                                the first piece (default 4) */
    long backoff_ms;         /* the first retry's wait, doubled each time (default 500); a
                                Retry-After header (seconds) replaces it */
    long retry_after_max_ms; /* longest wait honoured (default 30000) */
    bool tls_verify;         /* verify the server's certificate and name (default true) */
    const char *ca_file;     /* CA bundle, NULL for the system's; copied */
} solve_backend_options;

solve_backend_options solve_backend_options_default(void);

/** Creates a backend. CORE_EINVAL (no URL, or not http:// or https://), CORE_ENOMEM. */
int solve_backend_new(solve_backend **out, const solve_backend_options *opts, core_err *err);
void solve_backend_free(solve_backend *backend);
/** The base URL. Borrowed, as long as the backend. */
const char *solve_backend_url(const solve_backend *backend);

/** One completion request. Plain value; everything borrowed for the call. */
typedef struct solve_backend_request {
    core_str prompt;         /* the whole prompt text (chat template applied) */
    size_t n_tokens_max;     /* "max_tokens" */
    float temp;              /* "temperature" (0: greedy) */
    float top_p;             /* "top_p" */
    int32_t top_k;           /* "top_k" (llama.cpp's and vLLM's; 0: off) */
    float min_p;             /* "min_p" (theirs too) */
    float repeat_penalty;    /* "repeat_penalty" (llama.cpp's: its servers' default is 1.1,
                                kiln's 1, so it is always sent) */
    uint64_t seed;           /* "seed" */
    const char *const *stop; /* (n_stop) "stop" strings */
    size_t n_stop;
    const int32_t *bias_tokens; /* (n_bias) token ids sent with "logit_bias" -100 */
    size_t n_bias;
    /* The client's own "logit_bias" (kiln serve --backend), sent as given beside bias_tokens
     * (which win for a token in both; -INFINITY is sent as -100). (n_logit_bias) */
    const gen_logit_bias *logit_bias;
    size_t n_logit_bias;
    bool ignore_eos; /* sent as "ignore_eos": true (llama.cpp's and vLLM's field) */
} solve_backend_request;

/** Why a completion ended. */
typedef enum solve_backend_finish {
    SOLVE_BACKEND_FINISH_STOP = 0,   /* the model stopped (end of generation or a stop string) */
    SOLVE_BACKEND_FINISH_LENGTH = 1, /* max_tokens */
    SOLVE_BACKEND_FINISH_CUT = 2,    /* the piece callback cut the stream */
} solve_backend_finish;

/**
 * Called for each streamed piece of text (borrowed for the call), in order, on the calling
 * thread. Returns 0 to go on, 1 to cut the stream there (the connection is closed), or a
 * negative code (with err set) that solve_backend_complete returns.
 */
typedef int (*solve_backend_piece_fn)(void *payload, core_str piece, core_err *err);

/**
 * Streams one completion of req from the backend, passing each piece to fn. Retries (with
 * backoff, honouring Retry-After) on 429, 502, 503, 504 and failed connections while no piece
 * has come; *n_http_out (may be NULL) gets the HTTP requests made. cancel (may be NULL) is
 * polled while waiting. Codes: CORE_ETIMEOUT (connect, idle or total timeout), CORE_ECANCELED,
 * CORE_EPARSE (the server's answer is not an SSE stream of completion chunks: garbage),
 * CORE_EIO (the connection failed, or the stream died before its end: nothing of the cut
 * completion is to be trusted), CORE_EUNSUPPORTED (401 or 403: the key), CORE_ERROR (another
 * HTTP status, or retries spent; the message has the status and the server's error text),
 * CORE_ENOMEM, and fn's codes.
 */
int solve_backend_complete(solve_backend_finish *finish, size_t *n_http_out,
                           const solve_backend *backend, const solve_backend_request *req,
                           solve_backend_piece_fn fn, void *payload, const core_cancel *cancel,
                           core_err *err);

/**
 * A grammar-checked pass-through of one completion (kiln serve --backend): streams req from
 * backend as solve_backend_complete does, and passes fn each piece that checker (borrowed;
 * NULL: none) keeps viable; at a refused piece it cuts the stream and continues from the
 * accepted text, the refused continuation's first token excluded through "logit_bias", as the
 * write stage does (solve__remote_write; req's own bias list is replaced). checker has been fed
 * the code the completion continues and told the text after it; the model's end is taken only
 * where that text is complete with what was passed on, else it is refused and excluded too
 * (with stop strings in req, any end is taken: finish_reason does not tell them apart).
 * model tokenizes refused pieces and is_stop (n_vocab) are the end tokens to exclude.
 * req->n_tokens_max caps the pieces passed on (one piece a token, as servers stream them).
 * *finish: SOLVE_BACKEND_FINISH_STOP (the model ended, or refusals left nothing to go on
 * with) or SOLVE_BACKEND_FINISH_LENGTH (the cap); *n_requests: the requests made. Codes: those
 * of solve_backend_complete and of fn, CORE_ENOMEM.
 */
int solve_backend_complete_checked(solve_backend_finish *finish, size_t *n_requests,
                                   const solve_backend *backend, const gen_model *model,
                                   const bool *is_stop, gram_checker *checker,
                                   const solve_backend_request *req, solve_backend_piece_fn fn,
                                   void *payload, const core_cancel *cancel, core_err *err);

/**
 * Makes the completer's sessions write their candidates through backend (borrowed; it must
 * outlive the completer and its sessions; NULL: the local model again) instead of the model,
 * which then only gives the vocabulary (it may be loaded vocab_only): sessions made afterwards
 * hold no decoding context, and solve_complete streams each candidate from the backend with the
 * same rules as a local token (the grammar, told the document's suffix; the scope's end; the
 * cap; an end of generation only where the document is complete), continuing past a refused
 * piece as the write stage does (solve__remote_write). The prompt is the context and the
 * prefix's window as text (no fill-in-the-middle); logprob_mean is 0. Call it
 * before making sessions. Codes of solve_complete then include solve_backend_complete's.
 */
void solve_completer_set_backend(solve_completer *completer, const solve_backend *backend);

/**
 * Makes the completer's sessions decode on queue (borrowed; it must run over the completer's
 * model and outlive the completer and its sessions; NULL: each session's own context again):
 * sessions made afterwards hold no decoding context (at most the queue's n_ctx positions), and
 * solve_complete submits each candidate as one request of the queue whose tokens it picks with
 * the same rules as in a session's context (gen_queue_request.sample), so completions join
 * whatever else the queue decodes (the pipeline's candidates, a server's requests) and give
 * the same text for the same prompt. The queue's prefix cache replaces the session's: after an
 * edit only the tokens after the longest prefix any of its slots holds are decoded
 * (n_tokens_reused comes from it). A cancel ends the requests within a step of the queue.
 * Call it before making sessions; not with a backend (which wins).
 */
void solve_completer_set_queue(solve_completer *completer, gen_queue *queue);

/* ------------------------------------------------------------------------------------------ */
/* Repository context (solve/context.c)                                                       */
/* ------------------------------------------------------------------------------------------ */

#define SOLVE_IMPORT_PATH_MAX  256
#define SOLVE_IMPORT_NAME_MAX  64
#define SOLVE_IMPORT_NAMES_MAX 16

/** One import of a document. Plain value. */
typedef struct solve_import {
    char path[SOLVE_IMPORT_PATH_MAX];  /* Python: the module as a path without ".py" ("pkg/mod";
                                          a relative import's extra levels as "../"); C: the
                                          include's path as written ("util.h") */
    char alias[SOLVE_IMPORT_NAME_MAX]; /* Python `import m [as a]`: the name the document uses
                                          for the module ("" for from-imports and C) */
    bool relative;                     /* resolved from the document's folder only */
    size_t n_names;                    /* Python from-imports: the names (0: whole module) */
    char names[SOLVE_IMPORT_NAMES_MAX][SOLVE_IMPORT_NAME_MAX];
} solve_import;

/**
 * Lists the imports of doc (Python `import a.b [as c], d`, `from [..]m import x [as y], (...)`
 * over several lines; C `#include "h"`; `<system>` headers and star imports add nothing) into
 * out, at most n_max. Returns how many. Never fails: what it cannot read is skipped.
 */
size_t solve_context_imports(solve_import *out, size_t n_max, solve_lang lang, core_str doc);

/** A workspace file the caller holds (an editor's open document). Borrowed. */
typedef struct solve_context_file {
    const char *path; /* its path (absolute, or relative to the working directory) */
    core_str text;
} solve_context_file;

#define SOLVE_N_LANGS 2

/**
 * How one language's tests are found and run in a workspace (kiln lsp's `kiln.tests.<lang>.*`
 * settings, kiln complete's --test-files and --test-cmd). Plain value; the strings are
 * borrowed.
 */
typedef struct solve_test_config {
    const char *const *files; /* (n_files) globs of the test files, relative to the root
                                 (solve_glob_match); none: Python's test_*.py and *_test.py,
                                 C: no test files */
    size_t n_files;
    const char *command; /* NULL: the built-in run (the sandbox's harness on the tests found);
                            else a /bin/sh command run in a sandboxed copy of the workspace
                            (solve_workspace_command), where {file}, {tests} and {name} expand
                            to the document's path, the test files that mention the function
                            (both relative to the copy's root, quoted) and the function's name */
} solve_test_config;

/** Largest glob and test command solve_test_glob_check and solve_test_command_check accept. */
#define SOLVE_TEST_GLOB_MAX    256
#define SOLVE_TEST_COMMAND_MAX 4096

/**
 * Whether path (relative, '/'-separated) matches glob: '*' any run of characters but '/', '?'
 * one such character, '[...]' a class ('!' or '^' negates, ranges a-z), '\' quotes the next
 * character, and a whole component '**' any number of components (none included). Never
 * fails: a malformed class matches its '[' literally.
 */
bool solve_glob_match(const char *glob, const char *path);

/**
 * Checks a test-file glob from outside (a client's setting, a command-line option): non-empty,
 * at most SOLVE_TEST_GLOB_MAX bytes, relative, without a ".." component. False with why (a
 * phrase) set otherwise.
 */
bool solve_test_glob_check(const char *glob, const char **why);

/** Checks a test command: at most SOLVE_TEST_COMMAND_MAX bytes and not blank. As above. */
bool solve_test_command_check(const char *command, const char **why);

typedef struct solve_context_options {
    const char *dir;                 /* the document's folder: imports resolve from it first
                                        (NULL: the working directory) */
    const char *root;                /* the workspace's root, where absolute imports resolve
                                        next (NULL: none) */
    const char *self;                /* the document's own path, never its own context */
    const solve_context_file *files; /* (n_files) open documents: read instead of the disk,
                                        and searched for the functions doc calls */
    size_t n_files;
    size_t n_tokens_max;                    /* budget (default 384; 0: no context) */
    bool comment;                           /* every line as a comment (default false), for a prompt
                                               that ends up in the code (kiln.implement) */
    solve_test_config tests[SOLVE_N_LANGS]; /* per solve_lang: how the workspace's tests are
                                               found and run (default: built-in) */
    sbx_tree *tree; /* borrowed: runs a configured test command; NULL: commands do not run */
} solve_context_options;

solve_context_options solve_context_options_default(void);

/**
 * Appends to out the repository context of doc: the definitions doc uses from the workspace,
 * found with tree-sitter in the files doc imports (resolved beside doc, then under the root;
 * at most 16 files of at most 1 MiB) and in the other open documents of its language, shown as
 * signatures with their docstrings (Python, bodies as `...`; C: prototypes with the comment
 * above them, and included headers as they are) under a `# file: PATH` line. Names doc imports
 * or calls come first, the other public functions of a whole-module import next, while they fit
 * opts->n_tokens_max tokens of the completer's model (*n_tokens: the tokens used). Files that
 * are missing or unreadable add nothing. Codes: CORE_ENOMEM (out unchanged).
 */
int solve_context_build(core_buf *out, size_t *n_tokens, const solve_completer *completer,
                        solve_lang lang, core_str doc, const solve_context_options *opts,
                        core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* The workspace's tests of a function (solve/workspace.c)                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Appends to out the workspace's tests of the function entry, ready for the sandbox's harness.
 * Python: from the pytest files (test_*.py, *_test.py, or those matching
 * opts->tests[SOLVE_LANG_PYTHON].files) among opts->files and under opts->root (else opts->dir;
 * 4 folders deep, 32 files at most; hidden folders, __pycache__, venv, build and node_modules
 * skipped) that mention entry, the test_* functions without parameters that mention it, with
 * the file's other top-level statements; imports of workspace modules and of pytest, decorated
 * definitions, classes and `if __name__` blocks are dropped (their lines left blank), and
 * `module.name` uses of a dropped module become `name`. Each file taken starts with a `# PATH`
 * line. *n_tests: the test functions taken (0: out unchanged). C: the first (by path) of the
 * files matching opts->tests[SOLVE_LANG_C].files that mentions entry, a program with main
 * that declares entry: its `#include "..."` lines that resolve beside it or under the root
 * are replaced by the header's text (each header once, 4 levels deep; one that resolves to
 * opts->self, the document under test, is dropped); *n_tests is 1. CORE_ENOMEM.
 */
int solve_workspace_tests(core_buf *out, size_t *n_tests, solve_lang lang, core_str entry,
                          const solve_context_options *opts, core_err *err);

/**
 * Appends C text to out with each `#include "name"` line that resolves (beside opts->dir, then
 * under opts->root; open documents first) replaced by the header's text, recursively (each
 * header once, 4 levels deep); includes that resolve nowhere, and one of opts->self, stay as
 * they are. For a document that the sandbox compiles alone (a candidate, kiln.implement's
 * prompt). *n_inlined: the headers inlined. CORE_ENOMEM (out unchanged).
 */
int solve_c_includes_inline(core_buf *out, size_t *n_inlined, core_str text,
                            const solve_context_options *opts, core_err *err);

/** What running a completed function's tests said. Plain value. */
typedef struct solve_complete_verdict {
    char entry[128];           /* the top-level function around the cursor ("": none) */
    solve_tests_source source; /* FIELD: the given tests or the workspace's; DOCSTRING: its
                                  examples (the workspace's may follow); NONE: none found */
    size_t n_workspace_tests;  /* test functions (test files, with a command) taken from the
                                  workspace */
    bool command;              /* the configured test command ran (solve_workspace_command) */
    bool tested;               /* the sandbox ran them (else what follows is meaningless) */
    sbx_verdict verdict;
    size_t n_tests_run;
    size_t n_tests_passed;
    char message[512]; /* the first failure, or "" */
} solve_complete_verdict;

/**
 * Tests the top-level function around byte offset at of doc (a document with a completion in
 * it): runs the whole document (Python: its workspace imports dropped, as
 * solve_workspace_tests does) in pool against tests when given, else, when ws configures a
 * test command for lang and has a tree, that command (solve_workspace_command), else the
 * function's docstring examples followed by the workspace's tests (ws, may be NULL: none;
 * C: the workspace's test file alone when there is one). Nothing runs (tested false) when the
 * cursor is in no function, there are no tests, or pool is NULL. cancel is polled while the
 * run waits. Codes: CORE_ECANCELED, CORE_ENOMEM, those of solve_test_all and
 * solve_workspace_command.
 */
int solve_complete_test(solve_complete_verdict *out, sbx_pool *pool,
                        const solve_completer *completer, solve_lang lang, core_str doc, size_t at,
                        core_str tests, const solve_context_options *ws, const sbx_limits *limits,
                        const core_cancel *cancel, core_err *err);

/**
 * Runs lang's configured test command (ws->tests[lang].command) for the function entry in
 * ws->tree, over a copy of the workspace in which the document ws->self has the text doc. The
 * copy holds the regular files under ws->root (else ws->dir), 8 folders deep, at most 1000
 * files of at most 1 MiB and 32 MiB in all (hidden files and folders, __pycache__, venv,
 * build, node_modules and site-packages skipped; symbolic links not followed), open documents
 * (ws->files) with the editor's text, and the document even when it is new or outside the
 * root (then the copy is rooted at its folder). The command runs with /bin/sh in the copy's
 * root, {file}, {tests} and {name} expanded (solve_test_config); a command that names {tests}
 * when no test file mentions entry does not run (tested false). Exit status 0 is "passed", a
 * limit "limit", else "failed"; n_tests_run and n_tests_passed come from pytest's summary line
 * when the output has one, else 1 and 1 or 0; message holds the output's last lines.
 * limits NULL: 60 s CPU, 120 s wall, 1 GiB. Nothing runs without a command, a tree or a
 * document path. Codes: CORE_ECANCELED, CORE_ENOMEM, CORE_ELIMIT (the copy exceeds the box),
 * CORE_ERROR (the sandbox failed).
 */
int solve_workspace_command(solve_complete_verdict *out, solve_lang lang, core_str doc,
                            core_str entry, const solve_context_options *ws,
                            const sbx_limits *limits, const core_cancel *cancel, core_err *err);

#endif /* KILN_SOLVE_H */
