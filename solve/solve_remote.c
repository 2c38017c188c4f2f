/*
 * The write stage through a remote backend (solve_backend): each candidate is streamed from
 * the server's /v1/completions, and every piece goes through the same rules as a token of the
 * local decode loop (solve_write.c): the blank-body rule, the grammar checker (the piece must
 * keep the code viable), the end rule, the cap. A remote server cannot be told which tokens the
 * grammar forbids, so the first rejected piece cuts the stream, and a new request continues
 * from the valid prefix (the prompt plus the text accepted so far) with the rejected
 * continuation's first token excluded through "logit_bias" (a stop refused because the code is
 * not complete excludes the stop tokens). A server that ignores logit_bias sends the same piece
 * again: the following requests at that position then sample from the whole vocabulary
 * (top-k, top-p and min-p off, a temperature from SOLVE_REMOTE_TEMP_RETRY rising with each
 * try, a new seed each), since the truncated distribution may hold nothing else. After
 * SOLVE_REMOTE_REJECTS_MAX rejections the candidate ends unfinished, as a local candidate whose
 * constraint forbade every token. So a candidate that ends by itself was accepted piece by piece
 * and judged complete by the checker, exactly as a local one. The candidates are written at once,
 * one thread and one connection each (the engine's tables and the model are only read; each
 * candidate has its own checker). The loop of requests (solve__remote_write) takes the
 * candidate's rules as callbacks, so completions at a cursor (complete.c) write through it too,
 * with their own rules: the grammar told the document's suffix, and the scope's end.
 */
#include "solve/solve_int.h"

#include <pthread.h>
#include <string.h>

#define SOLVE_REMOTE_REJECTS_MAX 8
#define SOLVE_REMOTE_BIAS_MAX    64
#define SOLVE_REMOTE_TEMP_RETRY  1.0f
#define SOLVE_REMOTE_TEMP_STEP   0.25f
#define SOLVE_REMOTE_TEMP_MAX    2.0f

/* The stream of one request: the rules, and the piece they refused. */
typedef struct stream {
    const solve__remote_rules *rules;
    bool refused;          /* the last piece was refused (stream cut before it) */
    bool done;             /* the candidate ended on a piece */
    core_buf refused_text; /* that piece, owned */
} stream;

/* Passes a piece to the rules; returns 1 to cut the stream. */
static int on_piece(void *payload, core_str piece, core_err *err)
{
    stream *st = payload;
    int rc = st->rules->piece(st->rules->payload, piece, err);
    if (rc < 0) {
        return rc;
    }
    if (rc == SOLVE__PIECE_REFUSED) {
        st->refused = true;
        st->refused_text.len = 0;
        if (core_buf_append(&st->refused_text, piece.ptr, piece.len) < 0) {
            return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
        }
        return 1;
    }
    st->done = rc == SOLVE__PIECE_DONE;
    return st->done ? 1 : 0;
}

static bool has_token(const int32_t *ids, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* Adds the tokens to exclude after a refusal: the stop tokens (piece NULL), or the first
   token of the refused piece. */
static int bias_add(const solve__remote_req *r, int32_t *bias, size_t *n_bias,
                    const core_buf *piece, core_err *err)
{
    if (!piece) {
        for (size_t t = 0; t < r->n_vocab && *n_bias < SOLVE_REMOTE_BIAS_MAX; t++) {
            if (r->is_stop[t] && !has_token(bias, *n_bias, (int32_t)t)) {
                bias[(*n_bias)++] = (int32_t)t;
            }
        }
        return 0;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = gen_model_tokenize(r->model, (core_str){piece->ptr, piece->len}, false, false, &ids,
                                &n, err);
    if (rc == 0 && n > 0 && *n_bias < SOLVE_REMOTE_BIAS_MAX && !has_token(bias, *n_bias, ids[0])) {
        bias[(*n_bias)++] = ids[0];
    }
    core_free(ids);
    return rc;
}

int solve__remote_write(size_t *n_requests, const solve__remote_req *r,
                        const solve__remote_rules *rules, const core_cancel *cancel, core_err *err)
{
    int32_t bias[SOLVE_REMOTE_BIAS_MAX];
    size_t n_bias = 0;
    size_t bias_at = 0;       /* the text length the bias list is for */
    bool sample = false;      /* the server ignored the bias here: sample instead */
    bool stop_banned = false; /* the stop tokens are in the bias list */
    size_t n_sampled = 0;     /* requests that sampled at bias_at */
    size_t n_rejects = 0;
    core_buf last = {0}; /* the previous refused piece at bias_at */
    core_buf req_prompt = {0};
    stream st = {rules, false, false, {0}};
    int rc = 0;
    for (size_t n_sent = 0;; n_sent++) {
        if (core_cancel_is_requested(cancel)) {
            rc = core_err_set(err, CORE_ECANCELED, "solve: canceled while writing");
            break;
        }
        const core_str text = rules->text(rules->payload);
        req_prompt.len = 0;
        if (core_buf_append(&req_prompt, r->prompt.ptr, r->prompt.len) < 0 ||
            core_buf_append(&req_prompt, text.ptr ? text.ptr : "", text.len) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
            break;
        }
        gen_sampler_options so = r->sampling;
        if (sample) {
            float t = SOLVE_REMOTE_TEMP_RETRY + SOLVE_REMOTE_TEMP_STEP * (float)n_sampled++;
            so.temp = t < SOLVE_REMOTE_TEMP_MAX ? t : SOLVE_REMOTE_TEMP_MAX;
            so.top_k = 0;
            so.top_p = 1.0f;
            so.min_p = 0.0f;
        }
        solve_backend_request req = {{req_prompt.ptr, req_prompt.len},
                                     rules->n_tokens_left(rules->payload),
                                     so.temp,
                                     so.top_p,
                                     so.top_k,
                                     so.min_p,
                                     r->sampling.repeat_penalty,
                                     r->sampling.seed + n_sent,
                                     r->stop,
                                     r->n_stop,
                                     bias,
                                     n_bias,
                                     r->logit_bias,
                                     r->n_logit_bias,
                                     r->ignore_eos};
        solve_backend_finish finish = SOLVE_BACKEND_FINISH_STOP;
        st.refused = false;
        st.done = false;
        (*n_requests)++;
        rc = solve_backend_complete(&finish, NULL, r->backend, &req, on_piece, &st, cancel, err);
        if (rc < 0 || st.done) {
            break; /* ended, or the cap */
        }
        bool stop_refused = false;
        if (finish == SOLVE_BACKEND_FINISH_LENGTH) {
            rules->cut(rules->payload, false); /* the server's token count reached the cap */
            break;
        }
        if (finish == SOLVE_BACKEND_FINISH_STOP) {
            rc = rules->stop(rules->payload, err);
            if (rc != 0) {
                rc = rc < 0 ? rc : 0;
                break;
            }
            stop_refused = true; /* a blank body, or code the checker does not call complete */
        }
        if (CORE_NEVER(!stop_refused && !st.refused)) {
            rc = core_err_set(err, CORE_ERROR, "solve: the backend's stream was cut for no reason");
            break;
        }
        const size_t at = rules->text(rules->payload).len;
        core_log_write(r->log, CORE_LOG_LEVEL_DEBUG,
                       "solve: remote candidate: %s refused after %zu bytes: \"%.40s\"",
                       stop_refused ? "a stop" : "a piece", at,
                       stop_refused ? "" : st.refused_text.ptr);
        if (++n_rejects > SOLVE_REMOTE_REJECTS_MAX) {
            rules->cut(rules->payload, true);
            break;
        }
        if (at != bias_at) {
            n_bias = 0;
            bias_at = at;
            sample = false;
            n_sampled = 0;
            stop_banned = false;
            last.len = 0;
        }
        const core_buf *piece = stop_refused ? NULL : &st.refused_text;
        bool again = piece && last.len > 0 && last.len == piece->len &&
                     memcmp(last.ptr, piece->ptr, piece->len) == 0;
        sample = sample || again || (stop_refused && stop_banned);
        stop_banned = stop_banned || stop_refused;
        last.len = 0;
        if (piece && core_buf_append(&last, piece->ptr, piece->len) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
            break;
        }
        rc = bias_add(r, bias, &n_bias, piece, err);
        if (rc < 0) {
            break;
        }
    }
    core_buf_dispose(&last);
    core_buf_dispose(&req_prompt);
    core_buf_dispose(&st.refused_text);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The write stage's rules                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* The blank-body rule, the grammar, the end rule and the cap, as for a local token. */
static int cand_piece(void *payload, core_str piece, core_err *err)
{
    solve__cand *c = payload;
    bool at_line_start =
        c->text.len > 0 ? c->text.ptr[c->text.len - 1] == '\n' : c->prefix_ends_line;
    bool ok = c->has_body || solve__body_start_ok(c->lang, piece, at_line_start);
    if (ok && c->checker) {
        int rc = gram_checker_feed(c->checker, piece, &ok, err);
        if (rc < 0) {
            return rc;
        }
    }
    if (!ok) {
        return SOLVE__PIECE_REFUSED;
    }
    c->n_tokens++;
    int rc = solve__cand_take(c, piece, c->n_tokens_max, err);
    return rc < 0 ? rc : rc == 1 || !c->live ? SOLVE__PIECE_DONE : SOLVE__PIECE_TAKEN;
}

static int cand_stop(void *payload, core_err *err)
{
    solve__cand *c = payload;
    bool ended = false;
    size_t end = 0;
    if (c->has_body) {
        int rc = solve__cand_end(c, c->lang, true, &ended, &end, err);
        if (rc < 0) {
            return rc;
        }
    }
    if (!ended) {
        return 0;
    }
    c->live = false;
    c->ended = true;
    c->end = end;
    return 1;
}

static void cand_cut(void *payload, bool gave_up)
{
    solve__cand *c = payload;
    c->live = false;
    c->forbade_all = gave_up;
    c->end = c->text.len;
}

static core_str cand_text(void *payload)
{
    const solve__cand *c = payload;
    return (core_str){c->text.ptr ? c->text.ptr : "", c->text.len};
}

static size_t cand_left(void *payload)
{
    const solve__cand *c = payload;
    return c->n_tokens_max > c->n_tokens ? c->n_tokens_max - c->n_tokens : 0;
}

/* Writes one started candidate c from prompt (the text before the code's continuation). */
static int write_one(solve_engine *e, solve__cand *c, const solve__cand_options *o, core_str prompt,
                     const core_cancel *cancel, core_err *err)
{
    static const char *const stop[] = {"```"};
    if (!c->live) {
        return 0;
    }
    const solve__remote_rules rules = {cand_piece, cand_stop, cand_cut, cand_text, cand_left, c};
    const solve__remote_req req = {e->backend,
                                   e->model,
                                   e->is_stop,
                                   e->n_vocab,
                                   o->sampling,
                                   stop,
                                   c->stop == SOLVE_STOP_END ? 1u : 0u,
                                   prompt,
                                   &e->log,
                                   NULL,
                                   0,
                                   false};
    return solve__remote_write(&c->n_requests, &req, &rules, cancel, err);
}

/* ------------------------------------------------------------------------------------------ */
/* A grammar-checked pass-through                                                             */
/* ------------------------------------------------------------------------------------------ */

typedef struct pass {
    gram_checker *checker; /* NULL: none */
    solve_backend_piece_fn fn;
    void *payload;
    core_buf text; /* passed on so far, owned */
    size_t n_pieces;
    size_t n_max;
    solve_backend_finish finish;
    bool stop_any; /* the client sent stop strings: "stop" may be one of them, which ends the
                      text whatever the grammar says (finish_reason does not tell which) */
} pass;

static int pass_piece(void *payload, core_str piece, core_err *err)
{
    pass *ps = payload;
    bool ok = true;
    int rc = ps->checker ? gram_checker_feed(ps->checker, piece, &ok, err) : 0;
    if (rc < 0 || !ok) {
        return rc < 0 ? rc : SOLVE__PIECE_REFUSED;
    }
    if (core_buf_append(&ps->text, piece.ptr, piece.len) < 0) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory");
    }
    ps->n_pieces++;
    rc = ps->fn(ps->payload, piece, err);
    if (rc != 0) {
        return rc < 0 ? rc : SOLVE__PIECE_DONE; /* fn asked to stop */
    }
    if (ps->n_pieces >= ps->n_max) {
        ps->finish = SOLVE_BACKEND_FINISH_LENGTH;
        return SOLVE__PIECE_DONE;
    }
    return SOLVE__PIECE_TAKEN;
}

static int pass_stop(void *payload, core_err *err)
{
    pass *ps = payload;
    bool complete = true;
    if (ps->checker && !ps->stop_any) {
        int rc = gram_checker_is_complete(ps->checker, &complete, err);
        if (rc < 0) {
            return rc;
        }
    }
    return complete ? 1 : 0;
}

static void pass_cut(void *payload, bool gave_up)
{
    ((pass *)payload)->finish = gave_up ? SOLVE_BACKEND_FINISH_STOP : SOLVE_BACKEND_FINISH_LENGTH;
}

static core_str pass_text(void *payload)
{
    const pass *ps = payload;
    return (core_str){ps->text.ptr ? ps->text.ptr : "", ps->text.len};
}

static size_t pass_left(void *payload)
{
    const pass *ps = payload;
    return ps->n_max > ps->n_pieces ? ps->n_max - ps->n_pieces : 0;
}

int solve_backend_complete_checked(solve_backend_finish *finish, size_t *n_requests,
                                   const solve_backend *backend, const gen_model *model,
                                   const bool *is_stop, gram_checker *checker,
                                   const solve_backend_request *req, solve_backend_piece_fn fn,
                                   void *payload, const core_cancel *cancel, core_err *err)
{
    pass ps = {checker,        fn, payload, {0}, 0, req->n_tokens_max, SOLVE_BACKEND_FINISH_STOP,
               req->n_stop > 0};
    *finish = SOLVE_BACKEND_FINISH_STOP;
    *n_requests = 0;
    if (req->n_tokens_max == 0) {
        return 0;
    }
    gen_sampler_options so = gen_sampler_options_default();
    so.temp = req->temp;
    so.top_p = req->top_p;
    so.top_k = req->top_k;
    so.min_p = req->min_p;
    so.repeat_penalty = req->repeat_penalty;
    so.seed = req->seed;
    const solve__remote_rules rules = {pass_piece, pass_stop, pass_cut, pass_text, pass_left, &ps};
    const solve__remote_req r = {
        backend, model,           is_stop,           gen_model_n_vocab(model),
        so,      req->stop,       req->n_stop,       req->prompt,
        NULL,    req->logit_bias, req->n_logit_bias, req->ignore_eos};
    int rc = solve__remote_write(n_requests, &r, &rules, cancel, err);
    *finish = ps.finish;
    core_buf_dispose(&ps.text);
    return rc;
}

/* One candidate's writing on its own thread. */
typedef struct job {
    solve_engine *e;
    solve__cand *c;
    const solve__cand_options *o;
    core_buf prompt; /* owned */
    const core_cancel *cancel;
    core_err err;
    int rc;
} job;

static void *job_run(void *payload)
{
    job *j = payload;
    j->rc =
        write_one(j->e, j->c, j->o, (core_str){j->prompt.ptr, j->prompt.len}, j->cancel, &j->err);
    return NULL;
}

int solve__write_remote(solve_engine *e, solve__cand *cands, const solve__cand_options *opts,
                        int32_t *const *suffixes, const size_t *n_suffixes, size_t n,
                        const core_cancel *cancel, core_err *err)
{
    job jobs[SOLVE_N_MAX];
    pthread_t threads[SOLVE_N_MAX];
    bool started[SOLVE_N_MAX];
    CORE_ASSERT(n <= SOLVE_N_MAX);
    memset(jobs, 0, sizeof(jobs));
    memset(started, 0, sizeof(started));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        job *j = &jobs[i];
        *j = (job){e, &cands[i], &opts[i], {0}, cancel, {0}, 0};
        rc = solve__cand_start(e, &cands[i], &opts[i], err);
        if (rc == 0 && core_buf_append(&j->prompt, e->shared_text.ptr, e->shared_text.len) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory");
        }
        if (rc == 0) {
            rc = gen_model_detokenize(e->model, suffixes[i], n_suffixes[i], true, &j->prompt, err);
        }
    }
    /* The candidates' requests go out at once (the server batches or queues them); the last
       one runs on this thread, and one whose thread cannot start runs here too. */
    for (size_t i = 0; rc == 0 && i + 1 < n; i++) {
        started[i] = pthread_create(&threads[i], NULL, job_run, &jobs[i]) == 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!started[i]) {
            job_run(&jobs[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (started[i]) {
            (void)pthread_join(threads[i], NULL);
        }
        if (rc == 0 && jobs[i].rc < 0) {
            rc = core_err_set(err, jobs[i].rc, "%s", jobs[i].err.msg);
        }
        core_buf_dispose(&jobs[i].prompt);
    }
    return rc;
}
