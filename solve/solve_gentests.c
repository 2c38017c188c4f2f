/*
 * Tests the model writes for a task that comes with none, after CodeT (Chen et al., "CodeT:
 * Code Generation with Generated Tests", 2022). A task without visible tests and without
 * examples leaves the ranking with nothing but the model's likelihood and the agreement of the
 * candidates' code. CodeT asks the same model for tests and ranks the candidates by dual
 * execution agreement: candidates that pass the same generated tests form a group, and a group
 * scores its size times the tests it passes, so a test that many independent candidates agree
 * with counts, and a wrong test that no candidate passes costs nothing. eval_rank computes
 * that score from the cards (n_gen_run, n_gen_passed, behavior); this file writes the tests.
 *
 * Two passes, as the inputs and the expected values come from different kinds of reasoning:
 *   1. inputs: n sequences sample continuations of the task's code followed by
 *      `assert ENTRY(`, each up to the ')' that closes the call (a line break, a stop token
 *      or the token cap discards it); distinct calls that parse are kept;
 *   2. expected values: for each call, the model continues `assert CALL ==` greedily to the
 *      end of the line; the assert is kept when it parses. Its message is the candidate's
 *      value (`assert (_v := CALL) == VALUE, repr(_v)`), so candidates that return the same
 *      values agree even where the model's expected value is wrong.
 * The context's sequences 1.. are used (sequence 0 keeps the shared write prompt). Python
 * only: a C task gets no generated tests.
 */
#include "solve/solve_int.h"

#include <string.h>

/* Tokens a call's arguments, and an expected value, may take. */
#define INPUT_TOKENS_MAX  48
#define OUTPUT_TOKENS_MAX 32

/* The text both passes continue: the task's code, an empty body, a comment on the tests. */
static int base_text(core_buf *b, const solve_task *task)
{
    core_str p = task->prompt;
    const char *nl = p.len > 0 && p.ptr[p.len - 1] == '\n' ? "" : "\n";
    return core_buf_appendf(b,
                            "%.*s%s    ...\n\n\n# Tests of %.*s: each assert calls it once with "
                            "different arguments and checks the result.\n",
                            (int)p.len, p.ptr, nl, (int)task->entry.len, task->entry.ptr);
}

/* One sampled continuation. */
typedef struct line {
    gen_sampler *sampler; /* owned */
    core_buf text;        /* owned */
    int depth;            /* pass 1: open brackets of the call (starts at 1) */
    char quote;           /* pass 1: the open string's quote, or 0 */
    bool live;
    bool done; /* finished well (pass 1: the call closed; pass 2: the line ended) */
    size_t n_tokens;
} line;

/* Pass 1: follows the call's brackets through piece; true once the call's ')' is reached (the
   text is then cut right after it). A line break ends the line unfinished. */
static bool call_closes(line *l, core_str piece)
{
    for (size_t i = 0; i < piece.len; i++) {
        char ch = piece.ptr[i];
        if (ch == '\n') {
            l->live = false;
            return false;
        }
        if (l->quote) {
            if (ch == '\\' && i + 1 < piece.len) {
                i++;
            } else if (ch == l->quote) {
                l->quote = 0;
            }
        } else if (ch == '\'' || ch == '"') {
            l->quote = ch;
        } else if (ch == '(' || ch == '[' || ch == '{') {
            l->depth++;
        } else if ((ch == ')' || ch == ']' || ch == '}') && --l->depth == 0) {
            l->text.len -= piece.len - i - 1;
            l->text.ptr[l->text.len] = '\0';
            return true;
        }
    }
    return false;
}

/*
 * Decodes texts[i] into sequence i + 1 (cleared first), all in one batch, then samples each
 * sequence until its line is done, not live, or n_max tokens. pass_inputs selects pass 1's end
 * (the call closes) over pass 2's (the line ends).
 */
static int sample_lines(solve_engine *e, line *lines, const core_buf *texts, size_t n,
                        bool pass_inputs, size_t n_max, const core_cancel *cancel, size_t *n_prompt,
                        size_t *n_generated, core_err *err)
{
    int rc = 0;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    core_buf tok = {0}; /* int32 tokens of the batch */
    core_buf seq = {0}; /* int32 sequence ids */
    size_t rows[SOLVE_N_MAX];
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = gen_ctx_seq_truncate(e->ctx, (int32_t)(i + 1), 0, err);
        if (rc == 0) {
            rc = gen_model_tokenize(e->model, (core_str){texts[i].ptr, texts[i].len}, true, false,
                                    &ids, &n_ids, err);
        }
        if (rc == 0 && n_ids + n_max + 2 >= e->n_ctx) {
            rc = core_err_set(err, CORE_ELIMIT, "solve: test prompt of %zu tokens is too long",
                              n_ids);
        }
        for (size_t j = 0; rc == 0 && j < n_ids; j++) {
            int32_t s = (int32_t)(i + 1);
            if (core_buf_append(&tok, &ids[j], sizeof(int32_t)) < 0 ||
                core_buf_append(&seq, &s, sizeof(int32_t)) < 0) {
                rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for test prompts");
            }
        }
        *n_prompt += n_ids;
        core_free(ids);
        ids = NULL;
        rows[i] = i;
    }
    if (rc == 0) {
        gen_batch b = {(const int32_t *)(const void *)tok.ptr,
                       (const int32_t *)(const void *)seq.ptr, NULL, tok.len / sizeof(int32_t)};
        rc = gen_ctx_decode(e->ctx, &b, err);
    }
    size_t n_rows = n;
    while (rc == 0 && n_rows > 0) {
        if (core_cancel_is_requested(cancel)) {
            rc = core_err_set(err, CORE_ECANCELED, "solve: canceled while writing tests");
            break;
        }
        int32_t next_tok[SOLVE_N_MAX];
        int32_t next_seq[SOLVE_N_MAX];
        size_t next_rows[SOLVE_N_MAX];
        size_t n_next = 0;
        for (size_t r = 0; r < n_rows && rc == 0; r++) {
            line *l = &lines[rows[r]];
            const float *logits = gen_ctx_logits(e->ctx, r);
            if (!CORE_ALWAYS(logits)) {
                rc = core_err_set(err, CORE_ERROR, "solve: no logits for test row %zu", r);
                break;
            }
            memcpy(e->scratch, logits, e->n_vocab * sizeof(float));
            int32_t t = 0;
            rc = gen_sampler_sample(l->sampler, e->scratch, NULL, &t, err);
            if (rc < 0) {
                break;
            }
            (*n_generated)++;
            l->n_tokens++;
            if (e->is_stop[t]) {
                l->live = false;
                continue;
            }
            gen_sampler_accept(l->sampler, t);
            core_str piece = e->pieces[t];
            if (core_buf_append(&l->text, piece.ptr, piece.len) < 0) {
                rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for tests");
                break;
            }
            if (pass_inputs ? call_closes(l, piece) : memchr(piece.ptr, '\n', piece.len) != NULL) {
                l->done = true;
                l->live = false;
            }
            if (l->n_tokens >= n_max) {
                l->live = false;
            }
            if (l->live) {
                next_tok[n_next] = t;
                next_seq[n_next] = (int32_t)(rows[r] + 1);
                next_rows[n_next] = rows[r];
                n_next++;
            }
        }
        if (rc < 0 || n_next == 0) {
            break;
        }
        gen_batch b = {next_tok, next_seq, NULL, n_next};
        rc = gen_ctx_decode(e->ctx, &b, err);
        memcpy(rows, next_rows, n_next * sizeof(size_t));
        n_rows = n_next;
    }
    core_buf_dispose(&tok);
    core_buf_dispose(&seq);
    return rc;
}

static void lines_dispose(line *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gen_sampler_free(lines[i].sampler);
        core_buf_dispose(&lines[i].text);
    }
    memset(lines, 0, n * sizeof(*lines));
}

static int lines_init(solve_engine *e, line *lines, size_t n, float temp, uint64_t seed,
                      core_err *err)
{
    memset(lines, 0, n * sizeof(*lines));
    for (size_t i = 0; i < n; i++) {
        gen_sampler_options so = gen_sampler_options_default();
        so.temp = temp;
        so.top_p = 0.95f;
        so.seed = seed * 7919u + i + 1;
        int rc = gen_sampler_new(&lines[i].sampler, &so, e->n_vocab, err);
        if (rc < 0) {
            return rc;
        }
        lines[i].live = true;
        lines[i].depth = 1;
    }
    return 0;
}

/* Whether text is one Python statement that parses (tree-sitter and indentation). */
static int parses(bool *ok, solve_engine *e, core_str text, core_err *err)
{
    gram_source_report rep;
    *ok = false;
    const gram_lang *gl = e->langs[SOLVE_LANG_PYTHON];
    if (!gl) {
        *ok = true;
        return 0;
    }
    int rc = gram_source_check(&rep, gl, text, err);
    if (rc == CORE_ENOMEM) {
        return rc;
    }
    *ok = rc == 0 && rep.ok;
    core_err_clear(err);
    return 0;
}

int solve__gentests(const char **out, solve_engine *e, const solve_task *task, size_t n,
                    uint64_t seed, core_arena *arena, const core_cancel *cancel, size_t *n_prompt,
                    size_t *n_generated, core_err *err)
{
    int rc = 0;
    line lines[SOLVE_N_MAX];
    core_buf texts[SOLVE_N_MAX];
    core_buf calls[SOLVE_N_MAX];
    core_buf result = {0};
    size_t n_calls = 0;
    *out = "";
    n = n < e->n_candidates_max ? n : e->n_candidates_max;
    n = n < SOLVE_N_MAX ? n : SOLVE_N_MAX;
    memset(texts, 0, sizeof(texts));
    memset(calls, 0, sizeof(calls));
    memset(lines, 0, sizeof(lines));
    if (task->lang != SOLVE_LANG_PYTHON || n == 0 || task->entry.len == 0) {
        return 0;
    }

    /* 1. inputs */
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = base_text(&texts[i], task) < 0 ||
                     core_buf_appendf(&texts[i], "assert %.*s(", (int)task->entry.len,
                                      task->entry.ptr) < 0
                 ? CORE_ENOMEM
                 : 0;
    }
    if (rc == 0) {
        rc = lines_init(e, lines, n, 0.8f, seed, err);
    }
    if (rc == 0) {
        rc = sample_lines(e, lines, texts, n, true, INPUT_TOKENS_MAX, cancel, n_prompt, n_generated,
                          err);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!lines[i].done) {
            continue;
        }
        core_buf *c = &calls[n_calls];
        if (core_buf_appendf(c, "%.*s(%s", (int)task->entry.len, task->entry.ptr,
                             lines[i].text.ptr) < 0) {
            rc = CORE_ENOMEM;
            break;
        }
        bool dup = false;
        for (size_t j = 0; j < n_calls && !dup; j++) {
            dup = strcmp(calls[j].ptr, c->ptr) == 0;
        }
        bool ok = false;
        core_buf stmt = {0};
        if (!dup && core_buf_appendf(&stmt, "_ = %s\n", c->ptr) < 0) {
            rc = CORE_ENOMEM;
        }
        if (rc == 0 && !dup) {
            rc = parses(&ok, e, (core_str){stmt.ptr, stmt.len}, err);
        }
        core_buf_dispose(&stmt);
        if (ok) {
            n_calls++;
        } else {
            c->len = 0;
        }
    }
    lines_dispose(lines, n);

    /* 2. expected values, greedy */
    for (size_t i = 0; i < n_calls && rc == 0; i++) {
        texts[i].len = 0;
        rc = base_text(&texts[i], task) < 0 ||
                     core_buf_appendf(&texts[i], "assert %s ==", calls[i].ptr) < 0
                 ? CORE_ENOMEM
                 : 0;
    }
    if (rc == 0 && n_calls > 0) {
        rc = lines_init(e, lines, n_calls, 0.0f, seed, err);
    }
    if (rc == 0 && n_calls > 0) {
        rc = sample_lines(e, lines, texts, n_calls, false, OUTPUT_TOKENS_MAX, cancel, n_prompt,
                          n_generated, err);
    }
    for (size_t i = 0; i < n_calls && rc == 0; i++) {
        if (!lines[i].done) {
            continue;
        }
        core_str v = {lines[i].text.ptr, strcspn(lines[i].text.ptr, "\n")};
        while (v.len > 0 && (v.ptr[0] == ' ' || v.ptr[0] == '\t')) {
            v.ptr++;
            v.len--;
        }
        while (v.len > 0 && (v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\r')) {
            v.len--;
        }
        if (v.len == 0) {
            continue;
        }
        size_t at = result.len;
        /* The message carries the candidate's value, so that candidates that fail a test
           with the same output still agree (behavior is compared with the messages). */
        if (core_buf_appendf(&result, "assert (_v := %s) == %.*s, repr(_v)\n", calls[i].ptr,
                             (int)v.len, v.ptr) < 0) {
            rc = CORE_ENOMEM;
            break;
        }
        bool ok = false;
        rc = parses(&ok, e, (core_str){result.ptr + at, result.len - at}, err);
        if (!ok) {
            result.len = at;
            result.ptr[at] = '\0';
        }
    }
    lines_dispose(lines, n_calls);
    if (rc == 0 && result.len > 0) {
        *out = core_arena_strndup(arena, result.ptr, result.len);
        if (!*out) {
            *out = "";
            rc = CORE_ENOMEM;
        }
    }
    if (rc == CORE_ENOMEM && (!err || err->code != CORE_ENOMEM)) {
        rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for generated tests");
    }
    for (size_t i = 0; i < SOLVE_N_MAX; i++) {
        core_buf_dispose(&texts[i]);
        core_buf_dispose(&calls[i]);
    }
    core_buf_dispose(&result);
    return rc;
}
