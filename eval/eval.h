/*
 * eval: scores and ranks candidate programs and measures benchmark results. It loads benchmark
 * tasks (HumanEval and MBPP JSON lines), turns a docstring's examples into assert lines when a
 * task has no tests, estimates pass@k with the unbiased estimator of the Codex paper, and ranks
 * candidates from their score cards: correctness first, then CodeT-style agreement between
 * candidates, then code quality, then the model's likelihood. It depends only on core (and
 * cJSON); the generator fills the score cards from the sandbox's and the grammar module's
 * results, and eval never calls it back.
 */
#ifndef KILN_EVAL_H
#define KILN_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------------------------------------ */
/* Tasks (HumanEval and MBPP JSON lines)                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef enum eval_task_format {
    EVAL_TASK_FORMAT_HUMANEVAL = 0, /* task_id, prompt, entry_point, test[, canonical_solution] */
    EVAL_TASK_FORMAT_MBPP = 1,      /* task_id, text (or prompt), code, test_list[,
                                       test_setup_code][, test_imports] */
} eval_task_format;

/**
 * One benchmark task. Every string is NUL-terminated and owned by the arena the task was
 * loaded into; a missing optional field is an empty string, never NULL.
 */
typedef struct eval_task {
    eval_task_format format;
    const char *task_id;     /* "HumanEval/0"; MBPP's numeric ids are written in decimal */
    const char *prompt;      /* HumanEval: the prompt (signature + docstring); MBPP: text */
    const char *entry_point; /* HumanEval: entry_point; MBPP: the function the first test calls
                                (the `def` of code that the test names), "" when none is found */
    const char *test;        /* HumanEval: test (defines check(candidate)); MBPP: test_setup_code
                                and test_imports, then the test_list lines, one per line */
    const char *solution;    /* HumanEval: canonical_solution; MBPP: code; "" when absent */
    const char **test_list;  /* (n_tests) MBPP assert lines; NULL and 0 for HumanEval */
    size_t n_tests;
    size_t line;               /* 1-based line of the task in its file */
    const char *language;      /* kiln's extension "language": "python" (default) or "c" */
    const char *visible_tests; /* kiln's extension "visible_tests": the tests a generator may see
                                  and run (Python asserts or check(candidate); C: a file with
                                  main()); "" when absent. `test` stays hidden for grading */
} eval_task;

/** The tasks of one file, in file order. Arena-owned like the tasks; immutable once loaded. */
typedef struct eval_task_set {
    eval_task *tasks; /* (n_tasks) */
    size_t n_tasks;
} eval_task_set;

/**
 * Parses one JSON line into out; the format is chosen by the fields present (test_list or
 * text: MBPP; otherwise prompt: HumanEval). Both formats may carry kiln's optional fields
 * "language" ("python" or "c"; another value is an error) and "visible_tests" (a string).
 * line_no is used only in messages ("line 3: field 'test': not a string"). Everything is
 * copied into arena. A blank line is an error here (eval_task_set_parse skips them). Codes:
 * CORE_EPARSE (not JSON, not an object, a missing or mistyped field, named with the line),
 * CORE_ENOMEM. Fuzz-friendly: any bytes.
 */
int eval_task_parse_line(eval_task *out, core_arena *arena, core_str line, size_t line_no,
                         core_err *err);

/**
 * Parses a whole JSON-lines text (blank lines skipped); name prefixes every message
 * ("tasks.jsonl: line 7: ..."; may be NULL). Codes: those of eval_task_parse_line.
 */
int eval_task_set_parse(eval_task_set *out, core_arena *arena, core_str text, const char *name,
                        core_err *err);

/**
 * Reads and parses the file at path. Codes: CORE_ENOTFOUND (no such file), CORE_EIO (other
 * read errors), those of eval_task_set_parse. One thread at a time per arena.
 */
int eval_task_set_load(eval_task_set *out, core_arena *arena, const char *path, core_err *err);

/**
 * The prompt a generator sees for task: HumanEval's prompt as it is; for MBPP, the reference
 * solution's `def` line of the entry function with the text as its docstring and the first test
 * (when it is `assert call == value`) as a `>>>` example, as MBPP's own prompts show the tests.
 * *out is the task's string or an arena string. Codes: CORE_EINVAL (an MBPP task whose code
 * defines no function the tests call), CORE_ENOMEM.
 */
int eval_task_prompt(const char **out, core_arena *arena, const eval_task *task, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Tests from a docstring's examples                                                          */
/* ------------------------------------------------------------------------------------------ */

/**
 * Extracts tests from the examples in text (a docstring, or a whole HumanEval prompt):
 *  - `>>> f(2)` (with `... ` continuation lines) followed by expected output lines (up to a
 *    blank line, the next `>>>` or closing quotes) becomes `assert f(2) == 4`; output lines
 *    are joined with one space; a float is compared within 1e-6 (relative above 1);
 *  - `>>> print(x)` with output `hi` becomes `assert str(x) == 'hi'` (print shows str, not
 *    repr; output lines are joined with a newline there);
 *  - an example without output (`>>> x = [1, 2]`, `>>> assert ...`) is kept as a statement
 *    line, since later examples may use it;
 *  - a plain `assert ...` line outside the examples is kept as it is;
 *  - skipped: examples whose output is an exception (`Traceback`, `...Error: ...`), an object
 *    repr (`<... at 0x...>` or anything starting with `<`), elided (`...`), carries a
 *    `# doctest:` directive, or does not look like a Python value (bare words, unbalanced
 *    brackets or quotes), and examples whose source has unbalanced brackets or is a block
 *    (a `... ` line after a complete statement, as in `>>> for x in y:`).
 * The lines are MBPP-style top-level statements that the sandbox's Python runner accepts. *out
 * is an arena array of n_out arena strings (NUL-terminated, no newline); *n_skipped (may be
 * NULL) counts the skipped examples. Codes: CORE_ENOMEM.
 */
int eval_doctest_extract(const char ***out, size_t *n_out, size_t *n_skipped, core_arena *arena,
                         core_str text, core_err *err);

/**
 * Extracts tests from the examples in a C prompt (its comments): a call of the function named
 * entry, on one line, followed by `==`, `=`, `->`, `=>`, `returns`, `should return`, `gives` or
 * `is` and one C literal (`Example: count_char("banana", 'a') == 3`, `f(2) returns 4.`). Each
 * becomes a C expression that holds when the candidate agrees: `call == value` (integers,
 * characters, true/false, NULL), `strcmp(call, "value") == 0` (strings), or a 1e-6 tolerance
 * (floating point). Skipped (counted in *n_skipped, may be NULL): results that are not one C
 * literal; calls with brace or bracket literals are not examples. *out is an arena array of
 * n_out arena strings. Codes: CORE_ENOMEM. Any bytes.
 */
int eval_c_examples_extract(const char ***out, size_t *n_out, size_t *n_skipped, core_arena *arena,
                            core_str text, core_str entry, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* pass@k                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/**
 * The unbiased pass@k estimate for one problem with n samples of which c passed (Chen et al.,
 * "Evaluating Large Language Models Trained on Code", 2021): 1 - C(n-c, k) / C(n, k), computed
 * as 1 - prod_{i=n-c+1..n} (1 - k / i) so that no binomial overflows. 1 when n - c < k.
 * Codes: CORE_EINVAL (k == 0, k > n or c > n).
 */
int eval_passk(double *out, size_t n, size_t c, size_t k, core_err *err);

/**
 * The mean of eval_passk over n_problems problems (n[i] samples, c[i] correct each); 0 problems
 * give 0. Codes: those of eval_passk, naming the problem index.
 */
int eval_passk_mean(double *out, const size_t *n, const size_t *c, size_t n_problems, size_t k,
                    core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Score cards and ranking                                                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Code-quality measures of a candidate (the generator copies them from grammar's gram_metrics;
 * eval does not depend on the grammar module).
 */
typedef struct eval_quality {
    uint32_t cyclomatic;      /* 1 + decision points */
    uint32_t nesting_max;     /* deepest nesting of control statements */
    uint32_t n_lines;         /* lines holding code */
    uint32_t n_tokens;        /* tokens of code */
    uint32_t n_comment_lines; /* lines holding a comment or a docstring */
    uint32_t n_names;         /* distinct names the code defines */
    uint32_t n_names_bad;     /* of those, names that break the language's naming style */
    uint32_t n_names_short;   /* of those, single-letter names that are not loop variables */
} eval_quality;

/** What is known about one candidate. Plain value; behavior is borrowed. */
typedef struct eval_card {
    size_t n_tests_run;    /* tests that decide correctness (task tests or doctest asserts) */
    size_t n_tests_passed; /* <= n_tests_run */
    bool parses;           /* the source parses without error */
    bool limit_hit;        /* a sandbox limit (time, memory, output, ...) ended the run */
    size_t n_gen_run;      /* model-generated tests run (CodeT), 0 when none */
    size_t n_gen_passed;   /* <= n_gen_run */
    core_str behavior;     /* the candidate's observations, one line each (its outputs on the
                              generated inputs, one line per input); a line starting with '!' is
                              an input it produced no value for (it raised, a limit), which agrees
                              with nothing. Equal bytes = same group. Empty: unknown, the
                              candidate forms a group of its own */
    bool has_quality;      /* quality was measured */
    eval_quality quality;
    double logprob_mean; /* mean log-probability per generated token (<= 0) */
    double logprob_sum;  /* log-probability of all its generated tokens (<= 0) */
    bool has_logprob;    /* logprob_mean and logprob_sum are known */
} eval_card;

/**
 * Ranking weights. Candidates are ordered by four scores compared one after the other
 * (lexicographically; the next one only breaks exact ties of the previous), each a weighted
 * sum whose weights are below. A tier whose weights are all 0 ties every candidate and so
 * drops out. The defaults (eval_rank_options_default):
 *
 *  correctness = pass * n_tests_passed / n_tests_run (0 when no test ran)
 *                - parse_fail * !parses - limit * limit_hit
 *                pass 1, parse_fail 1, limit 0.5
 *  agreement   = agreement * value / max value over the candidates (0..1), where
 *                value = (1 + agree / n_obs) x (1 + n_gen_passed) when any candidate ran
 *                generated tests, else 1 + agree / n_obs; agree = over the candidate's
 *                behavior lines that do not start with '!', the number of other candidates
 *                whose behavior holds the same line, summed (when any candidate ran generated
 *                tests, each other candidate counts the share of its own lines that do not
 *                start with '!': one that raised on half the inputs is half a vote); n_obs =
 *                the most lines any candidate's behavior has (at least 1). So value is CodeT's
 *                dual agreement (Chen et al. 2022) with MBR-exec's per-input agreement (Shi et
 *                al. 2022): a candidate agreeing with more others on more inputs ranks
 *                higher, one that crashes where others return a value loses that input, and
 *                an input every candidate crashes on changes nothing; plus one so that where
 *                no candidate passes a generated test, which a small model's tests often are,
 *                the outputs still count. With one line per candidate (its code, when nothing
 *                ran) value is the size of its group of identical candidates (AlphaCode-style
 *                clustering).
 *                Where generated inputs ran and every card has its log-probability, a
 *                candidate whose value is at least band x the max value is in the band: the
 *                band ranks first, ordered by coder * logprob_sum (the model's probability of
 *                writing the whole code, the coder score of Coder-Reviewer reranking, Zhang et
 *                al. 2022, arXiv 2211.16490), then the rest by agreement. Without visible tests
 *                the votes come from few inputs and small crowds, so near-equal agreements are
 *                a tie, and the code the model was surest of breaks it better than quality
 *                does. band 0.85, coder 1 (0 for either: the votes alone)
 *                group and group_size (eval_score) are the candidates with identical behavior.
 *                agreement 1
 *  quality     = -(cyclomatic * max(0, cyclomatic - cyclomatic_free)
 *                  + nesting * max(0, nesting_max - nesting_free) + lines * n_lines
 *                  + tokens * n_tokens + bad_name * n_names_bad + short_name * n_names_short)
 *                + comment * min(n_comment_lines, comment_max); 0 without a measurement.
 *                cyclomatic 1, cyclomatic_free 5, nesting 1, nesting_free 2, lines 0.02,
 *                tokens 0, bad_name 0.5, short_name 0.25, comment 0.1, comment_max 5
 *  likelihood  = likelihood * logprob_mean (0 when unknown). likelihood 1
 *
 * Candidates that tie on all four keep their input order.
 */
typedef struct eval_rank_options {
    double pass;
    double parse_fail;
    double limit;
    double agreement;
    double band;
    double coder;
    double cyclomatic;
    double cyclomatic_free;
    double nesting;
    double nesting_free;
    double lines;
    double tokens;
    double bad_name;
    double short_name;
    double comment;
    double comment_max;
    double likelihood;
} eval_rank_options;

eval_rank_options eval_rank_options_default(void);

/**
 * Changes opts from a JSON object of weights named as the fields above, e.g.
 * `{"pass": 1, "agreement": 2, "lines": 0}`; fields not named keep their value. Every value must
 * be a finite number >= 0. Codes: CORE_EPARSE (not a JSON object, an unknown name, a bad value:
 * named), opts unchanged then.
 */
int eval_rank_options_parse(eval_rank_options *opts, core_str json, core_err *err);

/** The scores one candidate got, for display (LSP item data, HTTP JSON, CLI table). */
typedef struct eval_score {
    double correctness;
    double agreement;
    double quality;
    double likelihood;
    size_t group;      /* index of the group's first candidate */
    size_t group_size; /* candidates with the same behavior */
    size_t rank;       /* 0 = best */
} eval_score;

/**
 * Scores and ranks n_cards candidates. scores (may be NULL) gets one entry per card, in card
 * order; order gets the card indices best first. opts NULL means the defaults. Codes:
 * CORE_EINVAL (a card with more passed than run tests, named by index), CORE_ENOMEM.
 * Pure function of its inputs; any thread.
 */
int eval_rank(size_t *order, eval_score *scores, const eval_card *cards, size_t n_cards,
              const eval_rank_options *opts, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Reports                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Appends to out one self-contained HTML page (inline CSS and SVG; no script, no external font,
 * image or style sheet, so it opens in a browser with no network) made from the results JSON
 * lines of `kiln eval`: one object per problem (task_id, plan, candidates with code, visible and
 * hidden verdicts, score card and score, chosen, n_samples, n_samples_passed, ranked_pass,
 * oracle_pass, timings_ms, tokens) and optionally {"summary": {...}} lines, of which the last
 * counts. The page shows the summary beside the same figures recomputed from the records, a
 * plot of pass@k against k (k = 1 .. the smallest n_samples; eval_passk over each problem's
 * n_samples and n_samples_passed), an overview table and, per problem, the plan, the visible
 * tests and every candidate in a <details> block. All input text is HTML-escaped. Lines that
 * are not JSON objects with a task_id or a summary are listed in the page, not an error; missing
 * or mistyped fields are shown as absent. results_jsonl is borrowed for the call; empty input
 * gives a page that says there are no results. Codes: CORE_ENOMEM (out is left as it was).
 * Pure function of its input; any thread.
 */
int eval_report_html(core_buf *out, core_str results_jsonl, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Shards, summaries and merging results (`kiln eval --shard`, `kiln eval merge`)              */
/* ------------------------------------------------------------------------------------------ */

/**
 * A shard of a task file: the tasks whose 0-based index in the file is i modulo n. {0, 1} is
 * the whole file. Plain value.
 */
typedef struct eval_shard {
    size_t i; /* 0 <= i < n */
    size_t n; /* shards in all, >= 1 */
} eval_shard;

/**
 * Parses "I/N" (decimal, 0 <= I < N, N >= 1) into out. Codes: CORE_EPARSE (named; out
 * unchanged).
 */
int eval_shard_parse(eval_shard *out, core_str text, core_err *err);

/** Whether the task at index (0-based, in file order) belongs to shard. */
bool eval_shard_has(eval_shard shard, size_t index);

/** How many of n_tasks tasks (indices 0 .. n_tasks-1) belong to shard. */
size_t eval_shard_size(eval_shard shard, size_t n_tasks);

/**
 * The summary of a `kiln eval` run, accumulated from its records (the JSON lines it writes per
 * problem: n_samples, n_samples_passed, ranked_pass, oracle_pass, timings_ms, tokens) in task
 * order. One thread at a time.
 */
typedef struct eval_summary eval_summary;

/** What the summary states besides the records' sums. Plain value. */
typedef struct eval_summary_options {
    const size_t *ks; /* (n_ks) pass@k values, borrowed; a k above some problem's samples is
                         left out. Default 1, 10 */
    size_t n_ks;
    size_t n;         /* candidates per problem of the configuration ("n") */
    double wall_s;    /* the run's wall time, seconds ("wall_seconds") */
    eval_shard shard; /* a shard's summary (n > 1) names it and the tasks of the whole file */
    size_t n_tasks;   /* tasks in the file (after --limit), stated with the shard */
} eval_summary_options;

eval_summary_options eval_summary_options_default(void);

/** A new, empty summary. Codes: CORE_ENOMEM. */
int eval_summary_new(eval_summary **out, core_err *err);
void eval_summary_free(eval_summary *s);

/**
 * Adds one record (a JSON object with a task_id; missing numbers count as 0). Codes:
 * CORE_EPARSE (not such an object, or sample counts that are not counts), CORE_ENOMEM; the
 * summary is unchanged on failure. record is borrowed for the call.
 */
int eval_summary_add(eval_summary *s, core_str record, core_err *err);

/** Problems added so far. */
size_t eval_summary_n_problems(const eval_summary *s);

/** Problems whose record says the pipeline refused the task ("refused": the reason). */
size_t eval_summary_n_refused(const eval_summary *s);

/**
 * Appends the summary as one JSON object (no newline): problems, n, pass_at_k (unbiased
 * estimator, eval_passk_mean, over the problems in the order added), ranked_top1, oracle,
 * seconds and tokens_per_s (summed from the records), wall_seconds, stage_seconds, and for a
 * shard "shard": "I/N" and "tasks". The same records added in the same order with the same
 * options give the same bytes. Codes: CORE_ENOMEM.
 */
int eval_summary_json(core_buf *out, const eval_summary *s, const eval_summary_options *opts,
                      core_err *err);

/**
 * Merges the results files of the shards of one `kiln eval` run (files_text[f] is the text of
 * the file called names[f] in messages; both borrowed for the call). Each file must end its run
 * with a summary line naming its shard ("shard": "I/N"; a summary without one is the whole run,
 * 0/1); together they must be every shard 0..N-1 once, of one configuration. In each file the
 * records of its last run's configuration count (a rerun's resumed file may hold others), the
 * first record of a task if it appears twice; every record needs its task's "index", which
 * must belong to the file's shard. The records are sorted by index and appended to records, one
 * line each, followed by the line {"summary": ...}: the file one unsharded run writes, ready for
 * eval_report_html. summary gets the summary object alone, as eval_summary_json writes it with
 * ks, the configuration's n and the longest shard's wall_seconds: for the same records, the
 * bytes the unsharded run prints. Codes: CORE_EPARSE (a file without a summary line, a bad
 * shard name, a record without an index, bad counts), CORE_EINVAL (shards missing, repeated
 * or of different counts, configurations that differ, a task in the wrong shard: each
 * named), CORE_ENOMEM. Pure function of its inputs; any thread.
 */
int eval_results_merge(core_buf *records, core_buf *summary, const core_str *files_text,
                       const char *const *names, size_t n_files, const size_t *ks, size_t n_ks,
                       core_err *err);

#endif /* KILN_EVAL_H */
