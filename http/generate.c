/*
 * Generation endpoints: OpenAI's /v1/completions and /v1/chat/completions, llama.cpp's
 * /completion and /infill, and the tokenizer endpoints. A request becomes one job of the
 * request queue per choice (prompts x n); the queue's worker reports tokens to on_event, which
 * appends them to the request's stream (SSE chunks when streaming, else the text) and, when the
 * last choice ends, writes the closing chunks or the whole JSON answer and wakes the connection.
 * With a remote backend (kiln serve --backend) each choice is instead one thread that streams
 * it from the backend (solve_backend_complete_checked: the grammar checked here) and reports
 * to on_event the same way.
 *
 * Answer shapes follow OpenAI's API reference (text_completion, chat.completion and their
 * .chunk forms, usage, logprobs) and llama.cpp's server README (content, stop, stop_type,
 * tokens_predicted, tokens_evaluated, tokens_cached).
 */
#include "http/http_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool is_openai(http_route r)
{
    return r == HTTP_ROUTE_COMPLETIONS || r == HTTP_ROUTE_CHAT;
}

static const char *finish_reason(gen_finish f)
{
    return f == GEN_FINISH_LENGTH ? "length" : "stop";
}

static const char *stop_type(gen_finish f, bool has_stops)
{
    if (f == GEN_FINISH_LENGTH) {
        return "limit";
    }
    return has_stops ? "word" : "eos";
}

/* {"tokens":[...],"token_logprobs":[...]} (completions) or {"content":[{token,logprob}]}
 * (chat) for tokens [from, to) of c. */
static cJSON *logprobs_json(const http_stream *st, const http_choice *c, size_t from, size_t to)
{
    const int32_t *ids = (const int32_t *)(const void *)c->tokens.ptr;
    const float *lps = (const float *)(const void *)c->logprobs.ptr;
    const gen_model *model = st->server->model;
    cJSON *root = cJSON_CreateObject();
    if (st->route == HTTP_ROUTE_CHAT) {
        cJSON *content = cJSON_AddArrayToObject(root, "content");
        for (size_t i = from; i < to; i++) {
            core_str piece = gen_model_token_piece(model, ids[i], false);
            char *t = http__utf8_clean(piece);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "token", t ? t : "");
            cJSON_AddNumberToObject(e, "logprob", (double)lps[i]);
            cJSON_AddArrayToObject(e, "top_logprobs");
            cJSON_AddItemToArray(content, e);
            core_free(t);
        }
    } else {
        cJSON *toks = cJSON_AddArrayToObject(root, "tokens");
        cJSON *lp = cJSON_AddArrayToObject(root, "token_logprobs");
        for (size_t i = from; i < to; i++) {
            core_str piece = gen_model_token_piece(model, ids[i], false);
            char *t = http__utf8_clean(piece);
            cJSON_AddItemToArray(toks, cJSON_CreateString(t ? t : ""));
            cJSON_AddItemToArray(lp, cJSON_CreateNumber((double)lps[i]));
            core_free(t);
        }
        cJSON_AddNullToObject(root, "top_logprobs");
    }
    return root;
}

static size_t n_logprobs(const http_choice *c)
{
    return c->tokens.len / sizeof(int32_t);
}

static void add_usage(cJSON *obj, const http_stream *st)
{
    size_t n_gen = 0;
    size_t n_cached = 0;
    for (size_t i = 0; i < st->n_choices; i++) {
        n_gen += st->choices[i].n_generated;
        n_cached += st->choices[i].n_cached;
    }
    cJSON *u = cJSON_AddObjectToObject(obj, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)st->n_prompt_total);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(st->n_prompt_total + n_gen));
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", (double)n_cached);
}

/* "timings": the model's own time (the steps a choice took part in and its sampling) of
 * choice c, or the longest of the request's choices. */
static void add_timings(cJSON *obj, const http_stream *st, const http_choice *c)
{
    uint64_t ns = 0;
    for (size_t i = 0; !c && i < st->n_choices; i++) {
        ns = st->choices[i].ns_compute > ns ? st->choices[i].ns_compute : ns;
    }
    cJSON *t = cJSON_AddObjectToObject(obj, "timings");
    cJSON_AddNumberToObject(t, "model_ms", (double)(c ? c->ns_compute : ns) / 1e6);
}

static cJSON *envelope(const http_stream *st, bool chunk)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", st->id);
    const bool chat = st->route == HTTP_ROUTE_CHAT;
    cJSON_AddStringToObject(root, "object",
                            chat ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                 : "text_completion");
    cJSON_AddNumberToObject(root, "created", (double)st->created);
    cJSON_AddStringToObject(root, "model", st->server->model_name);
    return root;
}

static void append_event(http_stream *st, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    if (text) {
        (void)http_sse_event(&st->out, NULL, core_str_c(text), NULL);
    }
    cJSON_free(text);
    cJSON_Delete(root);
}

/* One streamed piece of choice c: text, the logprobs of the tokens not sent yet (whose text
 * may have been held back) and, when done, its finish. st->mu held. */
static void stream_piece(http_stream *st, http_choice *c, core_str text, bool done)
{
    const size_t lp_from = c->n_lp_sent;
    c->n_lp_sent = n_logprobs(c);
    char *t = http__utf8_clean(text);
    if (!t) {
        return;
    }
    if (is_openai(st->route)) {
        cJSON *root = envelope(st, true);
        cJSON *choices = cJSON_AddArrayToObject(root, "choices");
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", (double)c->index);
        if (st->route == HTTP_ROUTE_CHAT) {
            cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
            if (!c->sent_role) {
                cJSON_AddStringToObject(delta, "role", "assistant");
                c->sent_role = true;
            }
            if (text.len > 0 || !done) {
                cJSON_AddStringToObject(delta, "content", t);
            }
        } else {
            cJSON_AddStringToObject(ch, "text", t);
        }
        if (st->params.logprobs && n_logprobs(c) > lp_from) {
            cJSON_AddItemToObject(ch, "logprobs", logprobs_json(st, c, lp_from, n_logprobs(c)));
        } else {
            cJSON_AddNullToObject(ch, "logprobs");
        }
        if (done) {
            cJSON_AddStringToObject(ch, "finish_reason", finish_reason(c->finish));
        } else {
            cJSON_AddNullToObject(ch, "finish_reason");
        }
        cJSON_AddItemToArray(choices, ch);
        append_event(st, root);
    } else {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "content", t);
        cJSON_AddNumberToObject(root, "index", (double)c->index);
        cJSON_AddBoolToObject(root, "stop", done);
        if (done) {
            cJSON_AddStringToObject(root, "stop_type",
                                    stop_type(c->finish, st->params.n_stops > 0));
            cJSON_AddStringToObject(root, "model", st->server->model_name);
            cJSON_AddNumberToObject(root, "tokens_predicted", (double)c->n_generated);
            cJSON_AddNumberToObject(root, "tokens_evaluated", (double)c->n_prompt);
            cJSON_AddNumberToObject(root, "tokens_cached", (double)c->n_cached);
        }
        append_event(st, root);
    }
    core_free(t);
}

/* The closing events of a stream. st->mu held. */
static void stream_close(http_stream *st)
{
    if (st->err.code) {
        core_buf e = {0};
        if (http_error_json(&e, 500, st->err.msg, NULL, NULL) == 0) {
            (void)http_sse_event(&st->out, NULL, (core_str){e.ptr, e.len}, NULL);
        }
        core_buf_dispose(&e);
    }
    if (is_openai(st->route)) {
        if (st->params.include_usage) {
            cJSON *root = envelope(st, true);
            cJSON_AddArrayToObject(root, "choices");
            add_usage(root, st);
            append_event(st, root);
        }
        (void)http_sse_event(&st->out, NULL, core_str_c("[DONE]"), NULL);
    }
}

/* The whole answer of a finished request into st->out. st->mu held. */
static int answer(http_stream *st, core_err *err)
{
    if (st->err.code) {
        st->status = 500;
        return http_error_json(&st->out, 500, st->err.msg, NULL, err);
    }
    if (st->canceled) {
        st->status = 503;
        return http_error_json(&st->out, 503, "the request was canceled", NULL, err);
    }
    cJSON *root = NULL;
    if (is_openai(st->route)) {
        root = envelope(st, false);
        cJSON *choices = cJSON_AddArrayToObject(root, "choices");
        for (size_t i = 0; i < st->n_choices; i++) {
            http_choice *c = &st->choices[i];
            core_buf full = {0};
            if (st->params.echo && c->echo) {
                (void)core_buf_append(&full, c->echo, strlen(c->echo));
            }
            (void)core_buf_append(&full, c->text.ptr ? c->text.ptr : "", c->text.len);
            char *clean = http__utf8_clean((core_str){full.ptr, full.len});
            core_buf_dispose(&full);
            cJSON *ch = cJSON_CreateObject();
            cJSON_AddNumberToObject(ch, "index", (double)c->index);
            if (st->route == HTTP_ROUTE_CHAT) {
                cJSON *m = cJSON_AddObjectToObject(ch, "message");
                cJSON_AddStringToObject(m, "role", "assistant");
                cJSON_AddStringToObject(m, "content", clean ? clean : "");
            } else {
                cJSON_AddStringToObject(ch, "text", clean ? clean : "");
            }
            core_free(clean);
            if (st->params.logprobs) {
                cJSON_AddItemToObject(ch, "logprobs", logprobs_json(st, c, 0, n_logprobs(c)));
            } else {
                cJSON_AddNullToObject(ch, "logprobs");
            }
            cJSON_AddStringToObject(ch, "finish_reason", finish_reason(c->finish));
            cJSON_AddItemToArray(choices, ch);
        }
        add_usage(root, st);
        add_timings(root, st, NULL);
    } else {
        /* llama.cpp: one object for one choice, an array for several. */
        cJSON *arr = st->n_choices > 1 ? cJSON_CreateArray() : NULL;
        for (size_t i = 0; i < st->n_choices; i++) {
            http_choice *c = &st->choices[i];
            cJSON *o = cJSON_CreateObject();
            char *t = http__utf8_clean((core_str){c->text.ptr, c->text.len});
            cJSON_AddStringToObject(o, "content", t ? t : "");
            core_free(t);
            cJSON_AddNumberToObject(o, "index", (double)c->index);
            cJSON_AddBoolToObject(o, "stop", true);
            cJSON_AddStringToObject(o, "stop_type", stop_type(c->finish, st->params.n_stops > 0));
            cJSON_AddStringToObject(o, "model", st->server->model_name);
            cJSON_AddNumberToObject(o, "tokens_predicted", (double)c->n_generated);
            cJSON_AddNumberToObject(o, "tokens_evaluated", (double)c->n_prompt);
            cJSON_AddNumberToObject(o, "tokens_cached", (double)c->n_cached);
            add_timings(o, st, c);
            if (arr) {
                cJSON_AddItemToArray(arr, o);
            } else {
                root = o;
            }
        }
        if (arr) {
            root = arr;
        }
    }
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    int rc = text ? core_buf_append(&st->out, text, strlen(text)) : CORE_ENOMEM;
    cJSON_free(text);
    cJSON_Delete(root);
    st->status = 200;
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "answer: out of memory") : 0;
}

/* Puts st in the server's wake list (st->mu held, on the queue's worker); false when it is
 * full, which it never is: each stream in it has a request decoding, one a slot. */
static bool defer_wake(http_stream *st)
{
    http_server *srv = st->server;
    if (st->wake_pending) {
        return true;
    }
    if (!srv->wake || srv->n_wake >= srv->opts.n_parallel) {
        return false;
    }
    srv->wake[srv->n_wake++] = st;
    st->wake_pending = true;
    return true;
}

void http__queue_step(void *payload)
{
    http_server *srv = payload;
    /* Each stream listed has a request that was decoding and did not end in this step: it
     * holds a reference, so the stream is alive. */
    for (size_t i = 0; i < srv->n_wake; i++) {
        http_stream *st = srv->wake[i];
        pthread_mutex_lock(&st->mu);
        st->wake_pending = false;
        http__stream_wake(st);
        pthread_mutex_unlock(&st->mu);
    }
    srv->n_wake = 0;
}

/* Reports on one choice, for the queue's worker (queued: a wake-up for new bytes waits for the
 * end of the step, one that ends the request does not) or a backend thread. */
static void report(http_choice *c, const gen_queue_event *ev, bool queued)
{
    http_stream *st = c->stream;
    pthread_mutex_lock(&st->mu);
    const size_t n_out = st->out.len;
    if (ev->token >= 0 && st->params.logprobs) {
        (void)core_buf_append(&c->tokens, &ev->token, sizeof(int32_t));
        (void)core_buf_append(&c->logprobs, &ev->logprob, sizeof(float));
    }
    c->n_prompt = ev->n_prompt;
    c->n_cached = ev->n_cached;
    c->n_generated = ev->n_generated;
    c->ns_compute = ev->ns_compute;
    if (ev->done) {
        c->done = true;
        c->finish = ev->finish;
        st->n_done++;
        if (ev->finish == GEN_FINISH_ERROR && !st->err.code && ev->err) {
            st->err = *ev->err;
        }
    }
    if (st->streaming) {
        if (ev->text.len > 0 || ev->done) {
            stream_piece(st, c, ev->text, ev->done);
        }
    } else if (ev->text.len > 0) {
        (void)core_buf_append(&c->text, ev->text.ptr, ev->text.len);
    }
    if (ev->done && st->n_done == st->n_choices) {
        if (st->streaming) {
            stream_close(st);
        } else {
            (void)answer(st, NULL);
        }
        st->finished = true;
    }
    /* A resume costs the worker a wake-up of an HTTP thread (tens of us on a busy machine):
     * only for bytes to send or the end, not for a token whose text is held back. */
    if (st->finished || (st->streaming && st->out.len > n_out)) {
        if (st->finished || ev->done || !queued || !defer_wake(st)) {
            http__stream_wake(st);
        }
    }
    pthread_mutex_unlock(&st->mu);
    if (ev->done) {
        http__stream_release(st);
    }
}

static void on_event(void *payload, const gen_queue_event *ev)
{
    report(payload, ev, false);
}

/* The queue's worker reports on one choice. */
static void on_queue_event(void *payload, const gen_queue_event *ev)
{
    report(payload, ev, true);
}

/* The chat prompt: every message a turn of the model's template. */
static int chat_prompt(core_buf *out, const http_stream *st, core_err *err)
{
    const http_params *p = &st->params;
    gen_chat_message *m = core_calloc(p->n_messages ? p->n_messages : 1, sizeof(*m));
    if (!m) {
        return core_err_set(err, CORE_ENOMEM, "chat: out of memory");
    }
    for (size_t i = 0; i < p->n_messages; i++) {
        m[i].role = core_str_c(p->messages[i].role);
        m[i].content = core_str_c(p->messages[i].content);
    }
    int rc = gen_model_chat_apply_messages(st->server->model, m, p->n_messages, out, err);
    core_free(m);
    return rc;
}

int http__fim_prompt(const gen_model *model, const int32_t fim[3], core_str prefix, core_str suffix,
                     int32_t **out, size_t *n_out, core_err *err)
{
    int32_t *pre = NULL;
    int32_t *suf = NULL;
    size_t n_pre = 0;
    size_t n_suf = 0;
    int rc = gen_model_tokenize(model, prefix, false, false, &pre, &n_pre, err);
    if (rc == 0) {
        rc = gen_model_tokenize(model, suffix, false, false, &suf, &n_suf, err);
    }
    int32_t *ids = rc == 0 ? core_malloc((n_pre + n_suf + 4) * sizeof(int32_t)) : NULL;
    if (rc == 0 && !ids) {
        rc = core_err_set(err, CORE_ENOMEM, "request: out of memory");
    }
    if (rc == 0 && ids) {
        size_t n = 0;
        const int32_t bos = gen_model_token_bos(model);
        if (bos >= 0) {
            ids[n++] = bos;
        }
        ids[n++] = fim[0];
        if (n_pre > 0) {
            memcpy(ids + n, pre, n_pre * sizeof(int32_t));
        }
        n += n_pre;
        ids[n++] = fim[1];
        if (n_suf > 0) {
            memcpy(ids + n, suf, n_suf * sizeof(int32_t));
        }
        n += n_suf;
        ids[n++] = fim[2];
        *out = ids;
        *n_out = n;
    }
    core_free(pre);
    core_free(suf);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Choices written by the remote backend (kiln serve --backend)                               */
/* ------------------------------------------------------------------------------------------ */

/* One choice streamed from the backend on a thread of its own, reported to on_event as the
   queue's worker would (text pieces, then the done event). */
typedef struct remote_choice {
    http_choice *c;
    char *prompt;          /* the prompt text, owned */
    gram_checker *checker; /* owned, NULL without "grammar" */
    solve_backend_request req;
    size_t n_prompt;
    size_t n_generated;
    uint64_t t0;
} remote_choice;

static bool remote_canceled(void *payload)
{
    const http_stream *st = payload;
    return atomic_load(&st->solve_cancel);
}

static int remote_piece(void *payload, core_str piece, core_err *err)
{
    (void)err;
    remote_choice *r = payload;
    gen_queue_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.id = r->c->id;
    ev.text = piece;
    ev.token = -1;
    ev.n_prompt = r->n_prompt;
    ev.n_generated = ++r->n_generated;
    ev.ns_compute = core_time_ns() - r->t0;
    on_event(r->c, &ev);
    return 0;
}

static void *remote_main(void *payload)
{
    remote_choice *r = payload;
    http_choice *c = r->c;
    http_server *srv = c->stream->server;
    const core_cancel cancel = {remote_canceled, c->stream};
    solve_backend_finish finish = SOLVE_BACKEND_FINISH_STOP;
    size_t n_requests = 0;
    core_err err = {0};
    const int rc = solve_backend_complete_checked(&finish, &n_requests, srv->opts.backend,
                                                  srv->model, srv->is_eog, r->checker, &r->req,
                                                  remote_piece, r, &cancel, &err);
    gen_queue_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.id = c->id;
    ev.done = true;
    ev.token = -1;
    ev.finish = rc == CORE_ECANCELED                    ? GEN_FINISH_CANCELED
                : rc < 0                                ? GEN_FINISH_ERROR
                : finish == SOLVE_BACKEND_FINISH_LENGTH ? GEN_FINISH_LENGTH
                                                        : GEN_FINISH_STOP;
    ev.err = &err;
    ev.n_prompt = r->n_prompt;
    ev.n_generated = r->n_generated;
    ev.ns_compute = core_time_ns() - r->t0;
    gram_checker_free(r->checker);
    core_free(r->prompt);
    core_free(r);
    on_event(c, &ev); /* the last use of the stream, which it may release */
    atomic_fetch_sub(&srv->n_remote, 1);
    return NULL;
}

/* Starts choice c on the backend: the prompt text as the model would read it, the grammar
   checked here. */
static int start_remote(http_stream *st, http_choice *c, core_str text, size_t n_tokens,
                        core_str code_prefix, const gen_sampler_options *so, core_err *err)
{
    http_server *srv = st->server;
    const http_params *p = &st->params;
    remote_choice *r = core_calloc(1, sizeof(*r));
    char *prompt = core_strndup(text.ptr ? text.ptr : "", text.len);
    if (!r || !prompt) {
        core_free(r);
        core_free(prompt);
        return core_err_set(err, CORE_ENOMEM, "request: out of memory");
    }
    int rc = p->grammar ? http__grammar_checker(&r->checker, st, code_prefix, err) : 0;
    r->c = c;
    r->prompt = prompt;
    r->req = (solve_backend_request){
        {prompt, text.len}, p->n_tokens_max, so->temp,     so->top_p,  so->top_k, so->min_p,
        so->repeat_penalty, so->seed,        p->stops,     p->n_stops, NULL,      0,
        p->logit_bias,      p->n_logit_bias, p->ignore_eos};
    r->n_prompt = n_tokens;
    r->t0 = core_time_ns();
    pthread_t thread;
    pthread_attr_t attr;
    bool started = false;
    if (rc == 0 && pthread_attr_init(&attr) == 0) {
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&st->mu);
        st->n_refs++;
        pthread_mutex_unlock(&st->mu);
        atomic_fetch_add(&srv->n_remote, 1);
        started = pthread_create(&thread, &attr, remote_main, r) == 0;
        pthread_attr_destroy(&attr);
        if (!started) {
            atomic_fetch_sub(&srv->n_remote, 1);
            pthread_mutex_lock(&st->mu);
            st->n_refs--;
            pthread_mutex_unlock(&st->mu);
        }
    }
    if (rc == 0 && !started) {
        rc = core_err_set(err, CORE_ERROR, "request: no thread for the backend's stream");
    }
    if (rc < 0) {
        gram_checker_free(r->checker);
        core_free(r->prompt);
        core_free(r);
    }
    return rc;
}

/* Submits one job for choice c with prompt tokens (text: the prompt as text, for a backend). */
static int submit_choice(http_stream *st, http_choice *c, const int32_t *tokens, size_t n_tokens,
                         core_str text, core_str code_prefix, size_t seed_offset, core_err *err)
{
    http_server *srv = st->server;
    const http_params *p = &st->params;
    gen_queue_request r;
    memset(&r, 0, sizeof(r));
    r.prompt = tokens;
    r.n_prompt = n_tokens;
    r.sampler = gen_sampler_options_default();
    r.sampler.temp = p->temperature;
    r.sampler.top_p = p->top_p;
    r.sampler.top_k = p->top_k;
    r.sampler.min_p = p->min_p;
    r.sampler.repeat_penalty = p->repeat_penalty;
    r.sampler.seed =
        (p->has_seed ? p->seed : core_time_ns() ^ (uint64_t)(uintptr_t)c) + seed_offset;
    if (srv->opts.backend) {
        return start_remote(st, c, text, n_tokens, code_prefix, &r.sampler, err);
    }
    r.n_tokens_max = p->n_tokens_max;
    r.ignore_eog = p->ignore_eos;
    r.logprobs = p->logprobs;
    r.logit_bias = p->logit_bias;
    r.n_logit_bias = p->n_logit_bias;
    core_str stops[16];
    for (size_t i = 0; i < p->n_stops && i < 16; i++) {
        stops[i] = core_str_c(p->stops[i]);
    }
    r.stops = stops;
    r.n_stops = p->n_stops < 16 ? p->n_stops : 16;
    r.on_event = on_queue_event;
    r.payload = c;
    if (p->grammar) {
        int rc = http__grammar_constraint(&r.constraint, st, code_prefix, err);
        if (rc < 0) {
            return rc;
        }
    }
    pthread_mutex_lock(&st->mu);
    st->n_refs++;
    pthread_mutex_unlock(&st->mu);
    uint64_t id = 0;
    int rc = gen_queue_submit(srv->queue, &id, &r, err);
    pthread_mutex_lock(&st->mu);
    if (rc < 0) {
        st->n_refs--;
    } else {
        c->id = id;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int http__generate_start(http_stream *st, core_str body, int *status, core_err *err)
{
    http_server *srv = st->server;
    http_endpoint ep = st->route == HTTP_ROUTE_CHAT         ? HTTP_ENDPOINT_CHAT
                       : st->route == HTTP_ROUTE_COMPLETION ? HTTP_ENDPOINT_COMPLETION
                       : st->route == HTTP_ROUTE_INFILL     ? HTTP_ENDPOINT_INFILL
                                                            : HTTP_ENDPOINT_COMPLETIONS;
    *status = 400;
    int rc = http_params_parse(&st->params, st->arena, ep, body, &srv->opts.limits, err);
    if (rc < 0) {
        *status = rc == CORE_ENOMEM ? 500 : 400;
        return rc;
    }
    http_params *p = &st->params;
    const size_t n_vocab = gen_model_n_vocab(srv->model);
    for (size_t i = 0; i < p->n_logit_bias; i++) {
        if ((size_t)p->logit_bias[i].token >= n_vocab) {
            p->bad_param = "logit_bias";
            return core_err_set(err, CORE_EINVAL,
                                "'logit_bias': token %d is not in the vocabulary (%zu tokens)",
                                p->logit_bias[i].token, n_vocab);
        }
    }
    if (srv->opts.backend && p->logprobs) {
        /* The backend's tokens are its own: their log-probabilities are not passed on. */
        p->bad_param = "logprobs";
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "'logprobs': not available through the remote backend %s",
                            solve_backend_url(srv->opts.backend));
    }
    snprintf(st->id, sizeof(st->id), "%s-%llu", st->route == HTTP_ROUTE_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)atomic_fetch_add(&srv->n_requests, 1));
    st->created = (long)time(NULL);
    /* The prompts' tokens and code. */
    const size_t n_prompts = st->route == HTTP_ROUTE_CHAT ? 1 : (p->n_prompts ? p->n_prompts : 1);
    const size_t n_choices = n_prompts * p->n_choices;
    if (n_choices > srv->opts.limits.n_choices_max * 2) {
        p->bad_param = "n";
        return core_err_set(err, CORE_EINVAL, "'n': %zu choices in all, at most %zu", n_choices,
                            srv->opts.limits.n_choices_max * 2);
    }
    st->choices = core_arena_alloc(st->arena, n_choices * sizeof(http_choice));
    if (!st->choices) {
        *status = 500;
        return core_err_set(err, CORE_ENOMEM, "request: out of memory");
    }
    memset(st->choices, 0, n_choices * sizeof(http_choice));
    st->streaming = p->stream;
    for (size_t k = 0; k < n_prompts; k++) {
        core_buf text = {0};
        int32_t *tokens = NULL;
        size_t n_tokens = 0;
        bool owned = false;
        if (st->route == HTTP_ROUTE_CHAT) {
            rc = chat_prompt(&text, st, err);
        } else if (st->route == HTTP_ROUTE_INFILL) {
            rc = core_buf_appendf(&text, "%s%s", p->prefix ? p->prefix : "",
                                  p->n_prompts && p->prompts[0].text ? p->prompts[0].text : "");
            rc = rc < 0 ? core_err_set(err, CORE_ENOMEM, "request: out of memory") : 0;
        } else if (p->prompts[k].text) {
            rc = core_buf_appendf(&text, "%s", p->prompts[k].text);
            rc = rc < 0 ? core_err_set(err, CORE_ENOMEM, "request: out of memory") : 0;
        } else {
            tokens = (int32_t *)p->prompts[k].tokens;
            n_tokens = p->prompts[k].n_tokens;
            rc = gen_model_detokenize(srv->model, tokens, n_tokens, false, &text, err);
            if (rc == CORE_EINVAL) {
                p->bad_param = "prompt";
            }
        }
        if (rc == 0 && !tokens && st->route != HTTP_ROUTE_CHAT && p->suffix && p->suffix[0] &&
            srv->fim[0] >= 0) {
            rc = http__fim_prompt(srv->model, srv->fim,
                                  (core_str){text.ptr ? text.ptr : "", text.len},
                                  core_str_c(p->suffix), &tokens, &n_tokens, err);
            owned = rc == 0;
        }
        if (rc == 0 && !tokens) {
            const bool chat = st->route == HTTP_ROUTE_CHAT;
            rc = gen_model_tokenize(srv->model, (core_str){text.ptr ? text.ptr : "", text.len},
                                    !chat, true, &tokens, &n_tokens, err);
            owned = rc == 0;
        }
        if (rc == 0 && n_tokens == 0) {
            p->bad_param = "prompt";
            rc = core_err_set(err, CORE_EINVAL, "'prompt': is empty");
        }
        const char *echo = NULL;
        if (rc == 0 && p->echo && text.ptr) {
            echo = core_arena_strndup(st->arena, text.ptr, text.len);
        }
        const core_str code = st->route == HTTP_ROUTE_CHAT
                                  ? (core_str){"", 0}
                                  : (core_str){text.ptr ? text.ptr : "", text.len};
        for (size_t j = 0; rc == 0 && j < p->n_choices; j++) {
            http_choice *c = &st->choices[k * p->n_choices + j];
            c->stream = st;
            c->index = k * p->n_choices + j;
            c->n_prompt = n_tokens;
            c->echo = echo;
            pthread_mutex_lock(&st->mu);
            st->n_choices++;
            pthread_mutex_unlock(&st->mu);
            rc = submit_choice(st, c, tokens, n_tokens,
                               (core_str){text.ptr ? text.ptr : "", text.len}, code, j, err);
            if (rc < 0) {
                pthread_mutex_lock(&st->mu);
                st->n_choices--;
                pthread_mutex_unlock(&st->mu);
            }
        }
        st->n_prompt_total += n_tokens;
        if (owned) {
            core_free(tokens);
        }
        core_buf_dispose(&text);
        if (rc < 0) {
            break;
        }
    }
    if (rc < 0) {
        /* Jobs already queued are canceled; their events still come and release the stream. */
        pthread_mutex_lock(&st->mu);
        for (size_t i = 0; i < st->n_choices; i++) {
            gen_queue_cancel(srv->queue, st->choices[i].id);
        }
        st->canceled = true;
        st->streaming = false;
        pthread_mutex_unlock(&st->mu);
        *status = rc == CORE_ELIMIT      ? 429
                  : rc == CORE_ECANCELED ? 503
                  : rc == CORE_ENOMEM    ? 500
                                         : 400;
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* /tokenize and /detokenize                                                                  */
/* ------------------------------------------------------------------------------------------ */

int http__tokens(http_server *srv, http_route route, core_str body, core_buf *out, int *status,
                 const char **param, core_err *err)
{
    core_arena *arena = NULL;
    int rc = core_arena_new(&arena, 4096, err);
    if (rc < 0) {
        *status = 500;
        return rc;
    }
    http_params p;
    rc = http_params_parse(
        &p, arena, route == HTTP_ROUTE_TOKENIZE ? HTTP_ENDPOINT_TOKENIZE : HTTP_ENDPOINT_DETOKENIZE,
        body, &srv->opts.limits, err);
    *param = NULL;
    cJSON *root = NULL;
    int32_t *tokens = NULL;
    size_t n_tokens = 0;
    core_buf text = {0};
    if (rc < 0) {
        *param = p.bad_param ? (p.bad_param[0] == 'c' ? "content" : "tokens") : NULL;
        *status = rc == CORE_ENOMEM ? 500 : 400;
        goto done;
    }
    root = cJSON_CreateObject();
    if (route == HTTP_ROUTE_TOKENIZE) {
        rc = gen_model_tokenize(srv->model, core_str_c(p.prompts[0].text), p.add_special,
                                p.parse_special, &tokens, &n_tokens, err);
        if (rc < 0) {
            *status = 500;
            goto done;
        }
        cJSON *arr = cJSON_AddArrayToObject(root, "tokens");
        for (size_t i = 0; i < n_tokens; i++) {
            if (p.with_pieces) {
                core_str piece = gen_model_token_piece(srv->model, tokens[i], true);
                char *t = http__utf8_clean(piece);
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "id", tokens[i]);
                cJSON_AddStringToObject(e, "piece", t ? t : "");
                core_free(t);
                cJSON_AddItemToArray(arr, e);
            } else {
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(tokens[i]));
            }
        }
    } else {
        rc = gen_model_detokenize(srv->model, p.tokens, p.n_tokens, false, &text, err);
        if (rc < 0) {
            *param = "tokens";
            *status = rc == CORE_EINVAL ? 400 : 500;
            goto done;
        }
        cJSON_AddStringToObject(root, "content", text.ptr ? text.ptr : "");
    }
    char *s = cJSON_PrintUnformatted(root);
    rc = s ? core_buf_append(out, s, strlen(s)) : CORE_ENOMEM;
    cJSON_free(s);
    if (rc < 0) {
        *status = 500;
        rc = core_err_set(err, CORE_ENOMEM, "answer: out of memory");
    }
done:
    cJSON_Delete(root);
    core_free(tokens);
    core_buf_dispose(&text);
    core_arena_free(arena);
    return rc;
}
