/*
 * The write stage and the one decode loop of kiln (solve__decode): every candidate the pipeline
 * writes, every `kiln grammar gen` generation (solve_generate) and every completion at a cursor
 * goes through the same step (cand_step): mask, sample under the grammar constraint, accept,
 * and the end rule. The write stage: N candidates sampled together. Sequence 0 of the context
 * holds the shared
 * prompt; each candidate copies it into its own sequence (gen_ctx_seq_copy, no recomputation),
 * its suffix is decoded (once for all when every suffix is the same: decoded in one sequence
 * and copied), and then one gen_ctx_decode per step appends the last sampled token of every
 * live candidate. Each candidate has its own sampler and, with the grammar on, its own checker
 * and constraint, which starts from the code the model continues (the prompt's code). The
 * log-probability of each sampled token is taken from the model's unmodified distribution.
 */
#include "solve/solve_int.h"

#include <math.h>
#include <string.h>

void solve__cand_dispose(solve__cand *cand)
{
    if (!cand) {
        return;
    }
    gram_constraint_free(cand->gc);
    gram_checker_free(cand->checker);
    gen_sampler_free(cand->sampler);
    core_buf_dispose(&cand->text);
    core_buf_dispose(&cand->ids);
    memset(cand, 0, sizeof(*cand));
}

static bool suffixes_equal(int32_t *const *suffixes, const size_t *n_suffixes, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (n_suffixes[i] != n_suffixes[0] ||
            memcmp(suffixes[i], suffixes[0], n_suffixes[0] * sizeof(int32_t)) != 0) {
            return false;
        }
    }
    return true;
}

/* log(sum(exp(logits))) */
static double log_sum_exp(const float *logits, size_t n)
{
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        mx = logits[i] > mx ? logits[i] : mx;
    }
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)expf(logits[i] - mx);
    }
    if (!(sum > 0.0)) {
        return (double)mx; /* no logits, or all -inf */
    }
    return (double)mx + log(sum);
}

/* Copies the shared prompt to every candidate's sequence and decodes the suffixes; on return
   the logits of candidate i's last suffix token are gen_ctx_logits(ctx, i). */
static int decode_suffixes(solve_engine *e, int32_t *const *suffixes, const size_t *n_suffixes,
                           size_t n, size_t *n_prompt_tokens, core_err *err)
{
    int rc = 0;
    int32_t *tokens = NULL;
    int32_t *seq = NULL;
    size_t n0 = gen_ctx_seq_len(e->ctx, 0);
    for (size_t i = 0; i < n; i++) {
        if (n_suffixes[i] == 0) {
            return core_err_set(err, CORE_EINVAL, "solve: candidate %zu has an empty suffix", i);
        }
        if (n0 + n_suffixes[i] >= e->n_ctx) {
            return core_err_set(err, CORE_ELIMIT,
                                "solve: prompt of %zu tokens does not fit the context of %zu",
                                n0 + n_suffixes[i], e->n_ctx);
        }
    }
    if (suffixes_equal(suffixes, n_suffixes, n)) {
        /* One sequence decodes all but the last token; the others copy it; then one batch
           of the last token of each gives every candidate its own logits. */
        size_t m = n_suffixes[0] - 1;
        rc = gen_ctx_seq_copy(e->ctx, 1, 0, n0, err);
        if (rc == 0 && m > 0) {
            gen_batch b = {suffixes[0], NULL, NULL, m};
            /* Sequence ids default to 0 when seq is NULL, so name sequence 1 explicitly. */
            seq = core_malloc(m * sizeof(*seq));
            if (!seq) {
                return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
            }
            for (size_t j = 0; j < m; j++) {
                seq[j] = 1;
            }
            b.seq = seq;
            rc = gen_ctx_decode(e->ctx, &b, err);
            *n_prompt_tokens += m;
            core_free(seq);
            seq = NULL;
        }
        for (size_t i = 1; rc == 0 && i < n; i++) {
            rc = gen_ctx_seq_copy(e->ctx, (int32_t)(i + 1), 1, n0 + m, err);
        }
        if (rc < 0) {
            return rc;
        }
        tokens = core_malloc(n * sizeof(*tokens));
        seq = core_malloc(n * sizeof(*seq));
        if (!tokens || !seq) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            tokens[i] = suffixes[0][m];
            seq[i] = (int32_t)(i + 1);
        }
        gen_batch b = {tokens, seq, NULL, n};
        rc = gen_ctx_decode(e->ctx, &b, err);
        *n_prompt_tokens += 1;
        goto done;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += n_suffixes[i];
        rc = gen_ctx_seq_copy(e->ctx, (int32_t)(i + 1), 0, n0, err);
        if (rc < 0) {
            return rc;
        }
    }
    tokens = core_malloc(total * sizeof(*tokens));
    seq = core_malloc(total * sizeof(*seq));
    if (!tokens || !seq) {
        rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
        goto done;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(tokens + at, suffixes[i], n_suffixes[i] * sizeof(*tokens));
        for (size_t j = 0; j < n_suffixes[i]; j++) {
            seq[at + j] = (int32_t)(i + 1);
        }
        at += n_suffixes[i];
    }
    gen_batch b = {tokens, seq, NULL, total};
    rc = gen_ctx_decode(e->ctx, &b, err);
    *n_prompt_tokens += total;

done:
    core_free(tokens);
    core_free(seq);
    return rc;
}

int solve__cand_start(solve_engine *e, solve__cand *c, const solve__cand_options *o, core_err *err)
{
    c->lang = o->lang;
    c->stop = o->stop;
    c->n_tokens_max = o->n_tokens_max;
    c->prefix_ends_line =
        o->code_prefix.len > 0 && o->code_prefix.ptr[o->code_prefix.len - 1] == '\n';
    int rc = gen_sampler_new(&c->sampler, &o->sampling, e->n_vocab, err);
    const gram_lang *gl = e->langs[o->lang];
    if (rc == 0 && o->grammar && gl) {
        bool viable = false;
        gram_checker_options co = gram_checker_options_default();
        co.suffix = o->suffix;
        rc = gram_checker_new(&c->checker, gl, &co, err);
        if (rc == 0) {
            rc = gram_checker_feed(c->checker, o->code_prefix, &viable, err);
        }
        if (rc == 0 && !viable) {
            /* The task's own code is not a viable prefix (a grammar gap, or a broken
               prompt): write this candidate without the constraint rather than fail. */
            core_log_write(&e->log, CORE_LOG_LEVEL_WARN,
                           "solve: the task's code is not viable for the %s grammar; "
                           "writing without the constraint",
                           gram_lang_name(gl));
            gram_checker_free(c->checker);
            c->checker = NULL;
        }
        if (rc == 0 && c->checker) {
            rc = gram_constraint_new(&c->gc, c->checker, &e->vocab, err);
        }
    }
    if (rc == 0 && (core_buf_reserve(&c->text, 256) < 0 || core_buf_reserve(&c->ids, 1024) < 0)) {
        rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    c->live = rc == 0;
    return rc;
}

bool solve__body_start_ok(solve_lang lang, core_str piece, bool at_line_start)
{
    bool col0 = at_line_start;
    for (size_t i = 0; i < piece.len; i++) {
        char ch = piece.ptr[i];
        if (ch == '\n') {
            col0 = true;
        } else if (ch == ' ' || ch == '\t' || ch == '\r') {
            col0 = false;
        } else {
            /* the first non-blank character */
            return lang == SOLVE_LANG_C ? ch != '}' : !col0;
        }
    }
    return true;
}

/* Forbids in e->scratch what may not come next: stop tokens where the rule has none, and,
   while the body is still blank, stop tokens, Python text at column 0 and C's closing brace
   (the grammars accept an empty body, a docstring alone or `{}`, and this model likes to close
   the block at once). */
static void mask_next(solve_engine *e, const solve__cand *c)
{
    if (c->has_body) {
        if (c->stop == SOLVE_STOP_NONE) {
            for (size_t t = 0; t < e->n_vocab; t++) {
                e->scratch[t] = e->is_stop[t] ? -INFINITY : e->scratch[t];
            }
        }
        return;
    }
    bool at_line_start =
        c->text.len > 0 ? c->text.ptr[c->text.len - 1] == '\n' : c->prefix_ends_line;
    for (size_t t = 0; t < e->n_vocab; t++) {
        if (e->is_stop[t] || !solve__body_start_ok(c->lang, e->pieces[t], at_line_start)) {
            e->scratch[t] = -INFINITY;
        }
    }
}

int solve__cand_take(solve__cand *c, core_str piece, size_t n_max, core_err *err)
{
    for (size_t j = 0; j < piece.len && !c->has_body; j++) {
        c->has_body = piece.ptr[j] != ' ' && piece.ptr[j] != '\n' && piece.ptr[j] != '\t';
    }
    if (core_buf_append(&c->text, piece.ptr, piece.len) < 0) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    size_t end = 0;
    bool ended = false;
    if (c->stop == SOLVE_STOP_END) {
        int rc = solve__cand_end(c, c->lang, false, &ended, &end, err);
        if (rc < 0) {
            return rc;
        }
    }
    if (ended) {
        c->live = false;
        c->ended = true;
        c->end = end;
        return 1;
    }
    if (c->n_tokens >= n_max) {
        c->live = false;
        c->end = c->text.len;
        return 1;
    }
    return 0;
}

/* Samples c's next token from logits (n_max: its cap for this step); returns 1 with the
   token in *tok_out, or 0 when c has stopped. */
static int cand_step(solve_engine *e, solve__cand *c, const float *logits, size_t n_max,
                     int32_t *tok_out, core_err *err)
{
    double lse = log_sum_exp(logits, e->n_vocab);
    memcpy(e->scratch, logits, e->n_vocab * sizeof(float));
    mask_next(e, c);
    gen_constraint con = {NULL, gram_constraint_allows, c->gc};
    int32_t tok = 0;
    uint64_t t0 = core_time_ns();
    int rc = gen_sampler_sample(c->sampler, e->scratch, c->gc ? &con : NULL, &tok, err);
    c->ns_sample += core_time_ns() - t0;
    if (rc == CORE_ENOTFOUND) {
        /* The constraint forbade every token: the candidate ends where it is. */
        c->live = false;
        c->forbade_all = true;
        c->end = c->text.len;
        core_err_clear(err);
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    c->n_tokens++;
    c->logprob_sum += (double)logits[tok] - lse;
    if (core_buf_append(&c->ids, &tok, sizeof(tok)) < 0) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    if (e->is_stop[tok]) {
        c->live = false;
        return solve__cand_end(c, c->lang, true, &c->ended, &c->end, err);
    }
    if (c->gc) {
        rc = gram_constraint_accept(c->gc, tok, err);
        if (rc < 0) {
            return rc;
        }
    }
    gen_sampler_accept(c->sampler, tok);
    rc = solve__cand_take(c, e->pieces[tok], n_max, err);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    *tok_out = tok;
    return 1;
}

int solve__cand_next(solve_engine *e, solve__cand *c, const float *logits, size_t seq_len,
                     size_t n_ctx, int32_t *tok, core_err *err)
{
    size_t n_max = c->n_tokens_max;
    if (seq_len + 1 >= n_ctx && c->n_tokens < n_max) {
        n_max = c->n_tokens + 1; /* the context is full: this token is the last */
    }
    return c->live ? cand_step(e, c, logits, n_max, tok, err) : 0;
}

int solve__decode(solve_engine *e, gen_ctx *ctx, solve__cand *cands, const int32_t *seqs, size_t n,
                  size_t n_ctx, const core_cancel *cancel, core_err *err)
{
    int32_t tokens[SOLVE_N_MAX];
    int32_t seq[SOLVE_N_MAX];
    size_t idx[SOLVE_N_MAX]; /* candidate of each logits row */
    CORE_ASSERT(n <= SOLVE_N_MAX);
    for (size_t i = 0; i < n; i++) {
        idx[i] = i;
    }
    size_t n_rows = n;
    for (;;) {
        if (core_cancel_is_requested(cancel)) {
            return core_err_set(err, CORE_ECANCELED, "solve: canceled while writing");
        }
        size_t n_next = 0;
        for (size_t r = 0; r < n_rows; r++) {
            solve__cand *c = &cands[idx[r]];
            float *logits = gen_ctx_logits(ctx, r);
            if (!CORE_ALWAYS(logits)) {
                return core_err_set(err, CORE_ERROR, "solve: no logits for row %zu", r);
            }
            int32_t tok = 0;
            int rc = solve__cand_next(e, c, logits, gen_ctx_seq_len(ctx, seqs[idx[r]]), n_ctx, &tok,
                                      err);
            if (rc < 0) {
                return rc;
            }
            if (rc == 1) {
                tokens[n_next] = tok;
                seq[n_next] = seqs[idx[r]];
                idx[n_next] = idx[r];
                n_next++;
            }
        }
        if (n_next == 0) {
            return 0;
        }
        gen_batch b = {tokens, seq, NULL, n_next};
        int rc = gen_ctx_decode(ctx, &b, err);
        if (rc < 0) {
            return rc;
        }
        n_rows = n_next;
    }
}

int solve__write(solve_engine *e, solve__cand *cands, const solve__cand_options *opts,
                 int32_t *const *suffixes, const size_t *n_suffixes, size_t n,
                 const core_cancel *cancel, size_t *n_prompt_tokens, core_err *err)
{
    int32_t seqs[SOLVE_N_MAX];
    CORE_ASSERT(n <= e->n_candidates_max && n <= SOLVE_N_MAX);
    if (e->backend) {
        return solve__write_remote(e, cands, opts, suffixes, n_suffixes, n, cancel, err);
    }
    for (size_t i = 0; i < n; i++) {
        int rc = solve__cand_start(e, &cands[i], &opts[i], err);
        if (rc == 0 && !e->queue) {
            rc = gen_ctx_seq_truncate(e->ctx, (int32_t)(i + 1), 0, err);
        }
        if (rc < 0) {
            return rc;
        }
        seqs[i] = (int32_t)(i + 1);
    }
    if (e->queue) {
        return solve__write_queue(e, cands, suffixes, n_suffixes, n, cancel, n_prompt_tokens, err);
    }
    int rc = decode_suffixes(e, suffixes, n_suffixes, n, n_prompt_tokens, err);
    if (rc < 0) {
        return rc;
    }
    return solve__decode(e, e->ctx, cands, seqs, n, e->n_ctx, cancel, err);
}

/* ------------------------------------------------------------------------------------------ */
/* solve_generate                                                                             */
/* ------------------------------------------------------------------------------------------ */

solve_generate_options solve_generate_options_default(void)
{
    solve_generate_options o;
    memset(&o, 0, sizeof(o));
    o.sampling = gen_sampler_options_default();
    o.n_tokens_max = 256;
    o.grammar = true;
    o.stop = SOLVE_STOP_END;
    return o;
}

void solve_generation_dispose(solve_generation *gen)
{
    if (!gen) {
        return;
    }
    core_free(gen->text);
    core_free(gen->tokens);
    memset(gen, 0, sizeof(*gen));
}

/* Moves what the caller keeps out of the finished candidate c. */
static int generation_fill(solve_generation *out, solve__cand *c, core_err *err)
{
    out->text = core_strndup(c->text.ptr ? c->text.ptr : "", c->end);
    out->tokens = core_malloc((c->n_tokens + 1) * sizeof(int32_t));
    if (!out->text || !out->tokens) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the generation");
    }
    if (c->n_tokens > 0) {
        memcpy(out->tokens, c->ids.ptr, c->n_tokens * sizeof(int32_t));
    }
    out->n_tokens = c->n_tokens;
    out->logprob_sum = c->logprob_sum;
    out->ended = c->ended;
    out->forbade_all = c->forbade_all;
    out->constrained = c->gc != NULL;
    out->ns_sample = c->ns_sample;
    if (c->gc) {
        out->ns_checks = gram_constraint_ns_checks(c->gc);
        out->n_checks = gram_constraint_n_checks(c->gc);
    }
    return 0;
}

int solve_generate(solve_generation *out, solve_engine *e, solve_lang lang, core_str prompt,
                   core_str suffix, core_str code_prefix, const solve_generate_options *opts,
                   const core_cancel *cancel, core_err *err)
{
    solve_generate_options o = opts ? *opts : solve_generate_options_default();
    solve__cand cand;
    memset(&cand, 0, sizeof(cand));
    memset(out, 0, sizeof(*out));
    int32_t *ids = NULL;
    size_t n_ids = 0;
    size_t n_prompt = 0;
    if (lang != SOLVE_LANG_PYTHON && lang != SOLVE_LANG_C) {
        return core_err_set(err, CORE_EINVAL, "solve: unknown language %d", (int)lang);
    }
    if (o.n_tokens_max == 0) {
        return core_err_set(err, CORE_EINVAL, "solve: n_tokens_max is 0");
    }
    if (e->backend) {
        return core_err_set(err, CORE_EUNSUPPORTED, "solve: solve_generate is local only");
    }
    solve__cand_options co = {o.sampling, lang,   code_prefix,   core_str_c(""),
                              o.grammar,  o.stop, o.n_tokens_max};
    gen_ctx_set_cancel(e->ctx, cancel);
    int rc = solve__decode_shared(e, prompt, &n_prompt, err);
    if (rc == 0) {
        rc = solve__shared_ensure(e, err);
    }
    if (rc == 0) {
        rc = gen_model_tokenize(e->model, suffix, false, true, &ids, &n_ids, err);
    }
    if (rc == 0) {
        rc = solve__cand_start(e, &cand, &co, err);
    }
    if (rc == 0) {
        rc = gen_ctx_seq_truncate(e->ctx, 1, 0, err);
    }
    if (rc == 0) {
        rc = decode_suffixes(e, &ids, &n_ids, 1, &n_prompt, err);
    }
    uint64_t t0 = core_time_ns();
    const int32_t seq = 1;
    if (rc == 0) {
        rc = solve__decode(e, e->ctx, &cand, &seq, 1, e->n_ctx, cancel, err);
    }
    if (rc == 0) {
        out->ns_decode = core_time_ns() - t0;
        rc = generation_fill(out, &cand, err);
    }
    if (rc < 0) {
        solve_generation_dispose(out);
    }
    gen_ctx_set_cancel(e->ctx, NULL);
    solve__cand_dispose(&cand);
    core_free(ids);
    return rc;
}
