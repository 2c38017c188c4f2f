/*
 * The remote backend's client: one streamed completion from an OpenAI-compatible server
 * (POST URL/v1/completions with "stream": true), read with libcurl. The answer is a stream of
 * server-sent events (WHATWG HTML, "Server-sent events": lines, "data:" fields, a blank line
 * ends an event); each event's data is a completion chunk (OpenAI's API reference,
 * "completions" streaming: choices[0].text and finish_reason) and the stream ends with
 * "data: [DONE]". Before the first piece has reached the caller, 429, 502, 503, 504 and
 * failed connections are retried with a doubling backoff that a Retry-After header (seconds)
 * replaces; after it, a failure is an error, because the caller has already acted on the
 * pieces. A stream that closes before a finish_reason or [DONE] is CORE_EIO: the candidate it
 * was writing is not finished, whatever its text looks like.
 */
#include "solve/solve_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

struct solve_backend {
    char *url;   /* base + "/v1/completions", owned */
    char *base;  /* as given, owned */
    char *auth;  /* "Authorization: Bearer KEY" or NULL, owned */
    char *model; /* owned, may be NULL */
    char *ca_file;
    solve_backend_options opts; /* its strings point to the copies above */
};

/* ------------------------------------------------------------------------------------------ */
/* SSE                                                                                        */
/* ------------------------------------------------------------------------------------------ */

void solve__sse_dispose(solve__sse *sse)
{
    if (!sse) {
        return;
    }
    core_buf_dispose(&sse->line);
    core_buf_dispose(&sse->data);
    memset(sse, 0, sizeof(*sse));
}

/* One complete line (without its end): a field, a comment, or the blank line of an event. */
static int sse_line(solve__sse *sse, solve__sse_fn fn, void *payload, core_err *err)
{
    core_str l = {sse->line.ptr ? sse->line.ptr : "", sse->line.len};
    sse->line.len = 0;
    if (l.len == 0) {
        if (!sse->has_data) {
            return 0;
        }
        sse->has_data = false;
        core_str d = {sse->data.ptr ? sse->data.ptr : "", sse->data.len};
        int rc = fn(payload, d, err);
        sse->data.len = 0;
        return rc;
    }
    if (l.ptr[0] == ':') {
        return 0; /* a comment (keep-alive) */
    }
    size_t colon = 0;
    while (colon < l.len && l.ptr[colon] != ':') {
        colon++;
    }
    core_str name = {l.ptr, colon};
    size_t at = colon < l.len ? colon + 1 : l.len;
    if (at < l.len && l.ptr[at] == ' ') {
        at++;
    }
    if (!core_str_eq_c(name, "data")) {
        return 0; /* event, id, retry and unknown fields do not matter here */
    }
    if ((sse->has_data && core_buf_append(&sse->data, "\n", 1) < 0) ||
        core_buf_append(&sse->data, l.ptr + at, l.len - at) < 0) {
        return core_err_set(err, CORE_ENOMEM, "backend: out of memory for an event");
    }
    sse->has_data = true;
    if (sse->data.len > SOLVE__SSE_LINE_MAX) {
        return core_err_set(err, CORE_EPARSE, "backend: an event of over %u bytes",
                            SOLVE__SSE_LINE_MAX);
    }
    return 0;
}

int solve__sse_feed(solve__sse *sse, const char *bytes, size_t len, solve__sse_fn fn, void *payload,
                    core_err *err)
{
    for (size_t i = 0; i < len; i++) {
        char ch = bytes[i];
        if (sse->skip_lf) {
            sse->skip_lf = false;
            if (ch == '\n') {
                continue;
            }
        }
        if (ch == '\r' || ch == '\n') {
            sse->skip_lf = ch == '\r';
            int rc = sse_line(sse, fn, payload, err);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (ch == '\0') {
            return core_err_set(err, CORE_EPARSE, "backend: a NUL byte in the event stream");
        }
        if (sse->line.len >= SOLVE__SSE_LINE_MAX) {
            return core_err_set(err, CORE_EPARSE, "backend: an event-stream line of over %u bytes",
                                SOLVE__SSE_LINE_MAX);
        }
        if (core_buf_append(&sse->line, &ch, 1) < 0) {
            return core_err_set(err, CORE_ENOMEM, "backend: out of memory for a line");
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Completion chunks                                                                          */
/* ------------------------------------------------------------------------------------------ */

int solve__chunk_parse(solve__chunk *chunk, core_str data, core_err *err)
{
    int rc = 0;
    if (core_str_eq_c(data, "[DONE]")) {
        chunk->done = true;
        return 0;
    }
    cJSON *root = cJSON_ParseWithLength(data.ptr, data.len);
    if (!root || !cJSON_IsObject(root)) {
        rc = core_err_set(err, CORE_EPARSE, "backend: an event that is not a JSON object: %.60s",
                          data.ptr);
        goto done;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (e && !cJSON_IsNull(e)) {
        const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
        rc = core_err_set(err, CORE_EIO, "backend: the server sent an error: %.200s",
                          cJSON_IsString(m) ? m->valuestring : "(no message)");
        goto done;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    if (!cJSON_IsObject(c0)) {
        rc = core_err_set(err, CORE_EPARSE, "backend: a chunk without choices[0]");
        goto done;
    }
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(c0, "text");
    if (text && !cJSON_IsNull(text)) {
        if (!cJSON_IsString(text)) {
            rc = core_err_set(err, CORE_EPARSE, "backend: choices[0].text is not a string");
            goto done;
        }
        const char *t = text->valuestring;
        if (core_buf_append(&chunk->text, t, strlen(t)) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "backend: out of memory for a piece");
            goto done;
        }
    }
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
    if (fr && !cJSON_IsNull(fr)) {
        if (!cJSON_IsString(fr)) {
            rc = core_err_set(err, CORE_EPARSE, "backend: finish_reason is not a string");
            goto done;
        }
        chunk->finished = true;
        chunk->finish = strcmp(fr->valuestring, "length") == 0 ? SOLVE_BACKEND_FINISH_LENGTH
                                                               : SOLVE_BACKEND_FINISH_STOP;
    }

done:
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The backend                                                                                */
/* ------------------------------------------------------------------------------------------ */

solve_backend_options solve_backend_options_default(void)
{
    solve_backend_options o;
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 10000;
    o.idle_timeout_ms = 60000;
    o.timeout_ms = 600000;
    o.n_retries = 4;
    o.backoff_ms = 500;
    o.retry_after_max_ms = 30000;
    o.tls_verify = true;
    return o;
}

static char *dup_or_null(const char *s, bool *nomem)
{
    if (!s) {
        return NULL;
    }
    char *d = core_strndup(s, strlen(s));
    *nomem = *nomem || !d;
    return d;
}

int solve_backend_new(solve_backend **out, const solve_backend_options *opts, core_err *err)
{
    solve_backend_options o = opts ? *opts : solve_backend_options_default();
    *out = NULL;
    if (!o.url || (strncmp(o.url, "http://", 7) != 0 && strncmp(o.url, "https://", 8) != 0)) {
        return core_err_set(err, CORE_EINVAL, "backend: URL %s: http:// or https:// expected",
                            o.url ? o.url : "(none)");
    }
    if (o.key && strpbrk(o.key, "\r\n")) {
        return core_err_set(err, CORE_EINVAL, "backend: the key has a line break");
    }
    solve_backend *b = core_calloc(1, sizeof(*b));
    if (!b) {
        return core_err_set(err, CORE_ENOMEM, "backend: out of memory");
    }
    bool nomem = false;
    b->base = dup_or_null(o.url, &nomem);
    b->model = dup_or_null(o.model, &nomem);
    b->ca_file = dup_or_null(o.ca_file, &nomem);
    core_buf u = {0};
    size_t n = strlen(o.url);
    while (n > 0 && o.url[n - 1] == '/') {
        n--;
    }
    if (n >= 3 && strncmp(o.url + n - 3, "/v1", 3) == 0) {
        n -= 3;
    }
    nomem = nomem || core_buf_appendf(&u, "%.*s/v1/completions", (int)n, o.url) < 0;
    b->url = u.ptr;
    if (o.key && o.key[0]) {
        core_buf a = {0};
        nomem = nomem || core_buf_appendf(&a, "Authorization: Bearer %s", o.key) < 0;
        b->auth = a.ptr;
    }
    if (nomem || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        solve_backend_free(b);
        return core_err_set(err, CORE_ENOMEM, "backend: out of memory");
    }
    b->opts = o;
    b->opts.url = b->base;
    b->opts.key = NULL; /* only b->auth keeps it */
    b->opts.model = b->model;
    b->opts.ca_file = b->ca_file;
    *out = b;
    return 0;
}

void solve_backend_free(solve_backend *backend)
{
    if (!backend) {
        return;
    }
    if (backend->auth) {
        /* The key should not outlive its use in freed memory. */
        memset(backend->auth, 0, strlen(backend->auth));
    }
    if (backend->opts.url) {
        curl_global_cleanup(); /* pairs with the successful init of solve_backend_new */
    }
    core_free(backend->url);
    core_free(backend->base);
    core_free(backend->auth);
    core_free(backend->model);
    core_free(backend->ca_file);
    core_free(backend);
}

const char *solve_backend_url(const solve_backend *backend)
{
    return backend->base;
}

/* Whether token is one of req->bias_tokens (the bans). */
static bool in_bias_tokens(const solve_backend_request *req, int32_t token)
{
    for (size_t i = 0; i < req->n_bias; i++) {
        if (req->bias_tokens[i] == token) {
            return true;
        }
    }
    return false;
}

/*
 * The request's JSON body. Every sampling field that changes the choice is sent, with kiln's
 * meaning, rather than left to the server's defaults: llama.cpp's servers penalize repeats
 * (repeat_penalty 1.1 in llama-cpp-python's) and OpenAI's API has presence and frequency
 * penalties, none of which kiln's sampler applies. With "temperature": 0 the servers take the
 * largest logit, which top_k, top_p and min_p always keep, so greedy requests decode plainly.
 */
static int request_body(core_buf *out, const solve_backend *b, const solve_backend_request *req)
{
    int rc = core_buf_appendf(out, "{");
    if (b->model) {
        rc = rc < 0 ? rc : core_buf_appendf(out, "\"model\":");
        rc = rc < 0 ? rc : core_buf_append_json(out, core_str_c(b->model));
        rc = rc < 0 ? rc : core_buf_appendf(out, ",");
    }
    rc = rc < 0 ? rc : core_buf_appendf(out, "\"prompt\":");
    rc = rc < 0 ? rc : core_buf_append_json(out, req->prompt);
    rc = rc < 0 ? rc
                : core_buf_appendf(out,
                                   ",\"stream\":true,\"max_tokens\":%zu,\"temperature\":%.4g,"
                                   "\"top_p\":%.4g,\"top_k\":%d,\"min_p\":%.4g,"
                                   "\"repeat_penalty\":%.4g,\"presence_penalty\":0,"
                                   "\"frequency_penalty\":0,\"seed\":%llu",
                                   req->n_tokens_max, (double)req->temp, (double)req->top_p,
                                   (int)req->top_k, (double)req->min_p, (double)req->repeat_penalty,
                                   (unsigned long long)(req->seed & 0x1fffffffffffffULL));
    if (req->n_stop > 0) {
        rc = rc < 0 ? rc : core_buf_appendf(out, ",\"stop\":[");
        for (size_t i = 0; i < req->n_stop; i++) {
            rc = rc < 0 ? rc : core_buf_appendf(out, "%s", i ? "," : "");
            rc = rc < 0 ? rc : core_buf_append_json(out, core_str_c(req->stop[i]));
        }
        rc = rc < 0 ? rc : core_buf_appendf(out, "]");
    }
    if (req->n_bias + req->n_logit_bias > 0) {
        rc = rc < 0 ? rc : core_buf_appendf(out, ",\"logit_bias\":{");
        size_t n_sent = 0;
        for (size_t i = 0; i < req->n_logit_bias; i++) {
            const gen_logit_bias *lb = &req->logit_bias[i];
            if (in_bias_tokens(req, lb->token)) {
                continue; /* the ban below wins */
            }
            const double v = lb->bias < -100.0f ? -100.0 : (double)lb->bias;
            rc = rc < 0 ? rc
                        : core_buf_appendf(out, "%s\"%d\":%.9g", n_sent++ ? "," : "",
                                           (int)lb->token, v);
        }
        for (size_t i = 0; i < req->n_bias; i++) {
            rc = rc < 0 ? rc
                        : core_buf_appendf(out, "%s\"%d\":-100", n_sent++ ? "," : "",
                                           (int)req->bias_tokens[i]);
        }
        rc = rc < 0 ? rc : core_buf_appendf(out, "}");
    }
    if (req->ignore_eos) {
        rc = rc < 0 ? rc : core_buf_appendf(out, ",\"ignore_eos\":true");
    }
    rc = rc < 0 ? rc : core_buf_appendf(out, "}");
    return rc;
}

/* The state of one HTTP request. */
typedef struct xfer {
    const solve_backend *b;
    solve_backend_piece_fn fn;
    void *payload;
    const core_cancel *cancel;
    core_err *err;
    CURL *curl;
    long status;        /* the response's status, once its headers have come */
    long retry_after_s; /* Retry-After in seconds, -1 when none */
    solve__sse sse;
    solve__chunk chunk;
    core_buf body;   /* a non-200 answer's first bytes (for the message) */
    size_t n_events; /* events parsed */
    size_t n_pieces; /* pieces passed to fn */
    int rc;          /* what stopped the write callback: fn's code, a parse error, or 1 */
    bool cut;        /* fn asked to cut */
    bool ended;      /* a finish_reason or [DONE] came */
    solve_backend_finish finish;
} xfer;

static size_t on_header(char *buf, size_t size, size_t n, void *userdata)
{
    xfer *x = userdata;
    size_t len = size * n;
    if (len > 5 && memcmp(buf, "HTTP/", 5) == 0) {
        x->retry_after_s = -1; /* a new response (after a 100 Continue, say) */
    }
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        char tmp[64];
        size_t m =
            len - (sizeof(name) - 1) < sizeof(tmp) - 1 ? len - (sizeof(name) - 1) : sizeof(tmp) - 1;
        memcpy(tmp, buf + sizeof(name) - 1, m);
        tmp[m] = '\0';
        char *end = NULL;
        errno = 0;
        long s = strtol(tmp, &end, 10);
        if (end != tmp && errno == 0 && s >= 0) {
            x->retry_after_s = s;
        } else {
            /* An HTTP date: the wait is its distance from now. */
            time_t at = curl_getdate(tmp, NULL);
            time_t now = time(NULL);
            if (at >= 0) {
                x->retry_after_s = at > now ? (long)(at - now) : 0;
            }
        }
    }
    return len;
}

/* One SSE event: a chunk whose text goes to the caller. */
static int on_event(void *payload, core_str data, core_err *err)
{
    xfer *x = payload;
    x->n_events++;
    if (x->ended) {
        return 0; /* [DONE] after a finish_reason */
    }
    x->chunk.text.len = 0;
    int rc = solve__chunk_parse(&x->chunk, data, err);
    if (rc < 0) {
        return core_err_wrap(err, rc, "%s", x->b->base);
    }
    if (x->chunk.text.len > 0) {
        x->n_pieces++;
        rc = x->fn(x->payload, (core_str){x->chunk.text.ptr, x->chunk.text.len}, err);
        if (rc != 0) {
            x->cut = rc == 1;
            x->finish = SOLVE_BACKEND_FINISH_CUT;
            return rc;
        }
    }
    if (x->chunk.done || x->chunk.finished) {
        x->ended = true;
        x->finish =
            x->chunk.done && !x->chunk.finished ? SOLVE_BACKEND_FINISH_STOP : x->chunk.finish;
    }
    return 0;
}

static size_t on_write(char *buf, size_t size, size_t n, void *userdata)
{
    xfer *x = userdata;
    size_t len = size * n;
    if (x->status == 0) {
        (void)curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
    }
    if (x->status != 200) {
        if (x->body.len < 1024 && core_buf_append(&x->body, buf, len) < 0) {
            x->rc = core_err_set(x->err, CORE_ENOMEM, "backend: out of memory");
            return 0;
        }
        return len;
    }
    int rc = solve__sse_feed(&x->sse, buf, len, on_event, x, x->err);
    if (rc != 0) {
        x->rc = rc;
        return 0; /* stops the transfer: CURLE_WRITE_ERROR */
    }
    return len;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    const xfer *x = userdata;
    return core_cancel_is_requested(x->cancel) ? 1 : 0;
}

/* Sleeps ms milliseconds, polling cancel every 50 ms. */
static int wait_ms(long ms, const core_cancel *cancel, core_err *err)
{
    uint64_t until = core_time_ns() + (uint64_t)ms * 1000000u;
    while (core_time_ns() < until) {
        if (core_cancel_is_requested(cancel)) {
            return core_err_set(err, CORE_ECANCELED, "backend: canceled while waiting to retry");
        }
        uint64_t left = until - core_time_ns();
        uint64_t step = left < 50000000u ? left : 50000000u;
        struct timespec ts = {(time_t)(step / 1000000000u), (long)(step % 1000000000u)};
        (void)nanosleep(&ts, NULL);
    }
    return 0;
}

static bool status_is_retried(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

/* The first line of a non-200 answer's body, for the message. */
static void body_excerpt(const xfer *x, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < x->body.len && n + 1 < cap; i++) {
        char ch = x->body.ptr[i];
        out[n++] = (ch == '\n' || ch == '\r' || (unsigned char)ch < 0x20) ? ' ' : ch;
    }
    out[n] = '\0';
}

/* Sets the options of one request on x->curl. */
static int xfer_setup(xfer *x, struct curl_slist *headers, const core_buf *body)
{
    const solve_backend_options *o = &x->b->opts;
    CURL *c = x->curl;
    CURLcode cc = curl_easy_setopt(c, CURLOPT_URL, x->b->url);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->ptr);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    /* Idle: under 1 byte/s for the idle time (libcurl's granularity is a second). */
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    cc = cc ? cc
            : curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                               o->idle_timeout_ms > 999 ? o->idle_timeout_ms / 1000 : 1L);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->tls_verify ? 1L : 0L);
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->tls_verify ? 2L : 0L);
    if (o->ca_file) {
        cc = cc ? cc : curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    }
    cc = cc ? cc : curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    return cc == CURLE_OK ? 0
                          : core_err_set(x->err, CORE_ERROR, "backend: curl_easy_setopt: %s",
                                         curl_easy_strerror(cc));
}

/* What one performed request came to: 0 (finished or cut), 1 (retry it), or a code. */
static int xfer_outcome(xfer *x, CURLcode cc, const char *url)
{
    core_err *err = x->err;
    if (x->rc < 0) {
        return x->rc; /* fn's or the parser's code, message set */
    }
    if (x->cut) {
        return 0;
    }
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        return core_err_set(err, CORE_ECANCELED, "backend %s: canceled", url);
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        if (x->n_pieces == 0 && x->status == 0) {
            return 1;
        }
        return core_err_set(err, CORE_ETIMEOUT, "backend %s: timed out after %zu pieces", url,
                            x->n_pieces);
    }
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
        return 1;
    }
    if (x->status != 200 && x->status != 0 && (cc == CURLE_OK || x->n_pieces == 0)) {
        char excerpt[200];
        body_excerpt(x, excerpt, sizeof(excerpt));
        if (status_is_retried(x->status)) {
            return 1;
        }
        if (x->status == 401 || x->status == 403) {
            return core_err_set(err, CORE_EUNSUPPORTED,
                                "backend %s: HTTP %ld: the key was refused "
                                "(--backend-key-file or KILN_BACKEND_KEY): %s",
                                url, x->status, excerpt);
        }
        return core_err_set(err, CORE_ERROR, "backend %s: HTTP %ld: %s", url, x->status, excerpt);
    }
    if (cc != CURLE_OK) {
        if (cc == CURLE_SSL_CACERT || cc == CURLE_PEER_FAILED_VERIFICATION) {
            return core_err_set(err, CORE_EIO, "backend %s: TLS verification failed: %s", url,
                                curl_easy_strerror(cc));
        }
        return core_err_set(err, CORE_EIO, "backend %s: the stream died after %zu pieces: %s", url,
                            x->n_pieces, curl_easy_strerror(cc));
    }
    if (x->sse.line.len > 0 || x->sse.has_data) {
        return core_err_set(err, CORE_EIO, "backend %s: the stream ended inside an event", url);
    }
    if (x->n_events == 0) {
        return core_err_set(err, CORE_EPARSE,
                            "backend %s: the answer has no server-sent events (not a streaming "
                            "completion)",
                            url);
    }
    if (!x->ended) {
        return core_err_set(err, CORE_EIO,
                            "backend %s: the stream died after %zu pieces, before its end", url,
                            x->n_pieces);
    }
    return 0;
}

int solve_backend_complete(solve_backend_finish *finish, size_t *n_http_out,
                           const solve_backend *backend, const solve_backend_request *req,
                           solve_backend_piece_fn fn, void *payload, const core_cancel *cancel,
                           core_err *err)
{
    int rc = 0;
    core_buf body = {0};
    struct curl_slist *headers = NULL;
    struct curl_slist *h = NULL;
    xfer x;
    memset(&x, 0, sizeof(x));
    size_t n_http = 0;
    const solve_backend_options *o = &backend->opts;
    const char *url = backend->base;
    if (request_body(&body, backend, req) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "backend: out of memory for the request");
        goto done;
    }
    h = curl_slist_append(headers, "Content-Type: application/json");
    headers = h ? h : headers;
    h = h ? curl_slist_append(headers, "Accept: text/event-stream") : NULL;
    headers = h ? h : headers;
    if (h && backend->auth) {
        h = curl_slist_append(headers, backend->auth);
        headers = h ? h : headers;
    }
    if (!h) {
        rc = core_err_set(err, CORE_ENOMEM, "backend: out of memory for the headers");
        goto done;
    }
    long backoff = o->backoff_ms;
    for (size_t attempt = 0;; attempt++) {
        solve__sse_dispose(&x.sse);
        core_buf_dispose(&x.chunk.text);
        core_buf_dispose(&x.body);
        curl_easy_cleanup(x.curl);
        memset(&x, 0, sizeof(x));
        x.b = backend;
        x.fn = fn;
        x.payload = payload;
        x.cancel = cancel;
        x.err = err;
        x.retry_after_s = -1;
        x.curl = curl_easy_init();
        if (!x.curl) {
            rc = core_err_set(err, CORE_ENOMEM, "backend: curl_easy_init failed");
            goto done;
        }
        rc = xfer_setup(&x, headers, &body);
        if (rc < 0) {
            goto done;
        }
        n_http++;
        CURLcode cc = curl_easy_perform(x.curl);
        if (x.status == 0) {
            (void)curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &x.status);
        }
        rc = xfer_outcome(&x, cc, url);
        if (rc <= 0) {
            break;
        }
        if (attempt >= o->n_retries) {
            rc = core_err_set(err, CORE_ERROR, "backend %s: %s after %zu tries", url,
                              x.status ? "still busy (HTTP 429/5xx)" : "unreachable", n_http);
            goto done;
        }
        long wait = backoff;
        if (x.retry_after_s >= 0) {
            wait = x.retry_after_s * 1000 < o->retry_after_max_ms ? x.retry_after_s * 1000
                                                                  : o->retry_after_max_ms;
        }
        backoff = backoff < o->retry_after_max_ms / 2 ? backoff * 2 : o->retry_after_max_ms;
        rc = wait_ms(wait, cancel, err);
        if (rc < 0) {
            goto done;
        }
    }
    if (rc == 0) {
        *finish = x.cut ? SOLVE_BACKEND_FINISH_CUT : x.finish;
    }

done:
    if (n_http_out) {
        *n_http_out = n_http;
    }
    solve__sse_dispose(&x.sse);
    core_buf_dispose(&x.chunk.text);
    core_buf_dispose(&x.body);
    curl_easy_cleanup(x.curl);
    curl_slist_free_all(headers);
    core_buf_dispose(&body);
    return rc;
}
