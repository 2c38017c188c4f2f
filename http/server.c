/*
 * The HTTP server: libmicrohttpd with its own polling threads (a pool of --threads), routing,
 * the API key, body limits, the simple endpoints (/health, /v1/models, /props, /metrics,
 * /tokenize, /detokenize), request lines, and the life of a "stream", the answer a worker
 * produces for a connection.
 *
 * A connection never blocks an HTTP thread: a request that waits for the model is suspended
 * (MHD_suspend_connection) and resumed by the worker when its answer, or the next piece of its
 * event stream, is ready. A suspended connection does not notice a client that hangs up, so a
 * ticker thread peeks at each waiting socket ten times a second and cancels the work of one
 * that is closed; it also sends SSE keep-alive comments on streams that have been quiet for two
 * seconds (long prompts). MHD reports a request's end through the completion callback with any
 * termination code; every code but COMPLETED_OK cancels what still runs.
 */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

http_server_options http_server_options_default(void)
{
    http_server_options o;
    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = 8080;
    o.n_threads = 2;
    o.n_parallel = 4;
    o.n_ctx = 2048;
    o.n_compute = 2;
    o.n_pending_max = 64;
    o.body_max = (size_t)1 << 20;
    o.n_connections_max = 512;
    o.limits = http_limits_default();
    o.model_name = "kiln";
    return o;
}

static const char *const route_names[HTTP_ROUTE_COUNT] = {
    "/health",     "/v1/models",      "/props",
    "/metrics",    "/v1/completions", "/v1/chat/completions",
    "/completion", "/infill",         "/tokenize",
    "/detokenize", "/v1/solve",       "/v1/patch",
    "other"};

/* Path -> route and whether it takes POST (else GET). */
static http_route route_of(const char *path, bool *post)
{
    static const struct {
        const char *path;
        http_route route;
        bool post;
    } table[] = {
        {"/health", HTTP_ROUTE_HEALTH, false},
        {"/v1/health", HTTP_ROUTE_HEALTH, false},
        {"/v1/models", HTTP_ROUTE_MODELS, false},
        {"/models", HTTP_ROUTE_MODELS, false},
        {"/props", HTTP_ROUTE_PROPS, false},
        {"/metrics", HTTP_ROUTE_METRICS, false},
        {"/v1/completions", HTTP_ROUTE_COMPLETIONS, true},
        {"/completions", HTTP_ROUTE_COMPLETIONS, true},
        {"/v1/chat/completions", HTTP_ROUTE_CHAT, true},
        {"/chat/completions", HTTP_ROUTE_CHAT, true},
        {"/completion", HTTP_ROUTE_COMPLETION, true},
        {"/infill", HTTP_ROUTE_INFILL, true},
        {"/tokenize", HTTP_ROUTE_TOKENIZE, true},
        {"/detokenize", HTTP_ROUTE_DETOKENIZE, true},
        {"/v1/solve", HTTP_ROUTE_SOLVE, true},
        {"/v1/patch", HTTP_ROUTE_PATCH, true},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(path, table[i].path) == 0) {
            *post = table[i].post;
            return table[i].route;
        }
    }
    *post = false;
    return HTTP_ROUTE_OTHER;
}

static size_t status_class(int status)
{
    if (status < 300) {
        return 0;
    }
    if (status == 400) {
        return 1;
    }
    if (status == 401 || status == 403) {
        return 2;
    }
    if (status < 500 && status != 429) {
        return 3;
    }
    if (status == 429 || status == 503) {
        return 4;
    }
    return 5;
}

/* ------------------------------------------------------------------------------------------ */
/* Streams                                                                                    */
/* ------------------------------------------------------------------------------------------ */

int http__stream_new(http_stream **out, http_server *srv, http_route route, core_err *err)
{
    http_stream *st = core_calloc(1, sizeof(*st));
    if (!st) {
        return core_err_set(err, CORE_ENOMEM, "request: out of memory");
    }
    int rc = core_arena_new(&st->arena, 16384, err);
    if (rc < 0) {
        core_free(st);
        return rc;
    }
    pthread_mutex_init(&st->mu, NULL);
    st->server = srv;
    st->route = route;
    st->n_refs = 1;
    st->fd = -1;
    st->status = 200;
    st->ns_last_out = core_time_ns();
    atomic_init(&st->solve_cancel, false);
    pthread_mutex_lock(&srv->mu);
    st->next = srv->streams;
    srv->streams = st;
    srv->n_streams++;
    pthread_mutex_unlock(&srv->mu);
    *out = st;
    return 0;
}

void http__stream_release(http_stream *st)
{
    pthread_mutex_lock(&st->mu);
    const bool last = --st->n_refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last) {
        return;
    }
    http_server *srv = st->server;
    pthread_mutex_lock(&srv->mu);
    for (http_stream **p = &srv->streams; *p; p = &(*p)->next) {
        if (*p == st) {
            *p = st->next;
            break;
        }
    }
    srv->n_streams--;
    pthread_mutex_unlock(&srv->mu);
    for (size_t i = 0; i < st->n_choices; i++) {
        core_buf_dispose(&st->choices[i].text);
        core_buf_dispose(&st->choices[i].tokens);
        core_buf_dispose(&st->choices[i].logprobs);
    }
    core_buf_dispose(&st->out);
    core_arena_free(st->arena);
    pthread_mutex_destroy(&st->mu);
    core_free(st);
}

void http__stream_wake(http_stream *st)
{
    /* Called with st->mu held, which the completion callback also takes before it forgets
     * conn: so conn is alive here. */
    st->ns_last_out = core_time_ns();
    if (st->suspended && st->conn) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
}

/* Cancels what st's workers still do. st->mu held. */
static void stream_cancel(http_stream *st)
{
    st->canceled = true;
    atomic_store(&st->solve_cancel, true);
    for (size_t i = 0; i < st->n_choices; i++) {
        if (st->choices[i].id && !st->choices[i].done && st->server->queue) {
            gen_queue_cancel(st->server->queue, st->choices[i].id);
        }
    }
}

/* SSE bytes for MHD, as they come. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    ssize_t n = 0;
    if (st->n_out_sent < st->out.len) {
        size_t left = st->out.len - st->n_out_sent;
        n = (ssize_t)(left < max ? left : max);
        memcpy(buf, st->out.ptr + st->n_out_sent, (size_t)n);
        st->n_out_sent += (size_t)n;
    } else if (st->finished) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else if (st->conn) {
        /* Nothing yet: the worker resumes the connection when there is. Suspending under mu
         * keeps the worker from resuming before this suspends. */
        st->suspended = true;
        MHD_suspend_connection(st->conn);
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Answers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct conn_state {
    http_server *srv;
    http_route route;
    bool post;
    char method[8];
    char path[96];
    core_buf body;
    bool too_large;
    uint64_t t_start;
    int status;
    http_stream *st; /* when a worker answers */
    bool dispatched;
    size_t n_prompt;
    size_t n_generated;
} conn_state;

static enum MHD_Result respond(struct MHD_Connection *conn, conn_state *cs, int status,
                               const char *type, const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 429 || status == 503) {
        MHD_add_response_header(r, "Retry-After", "1");
    }
    if (status == 401) {
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    }
    if (status == 405) {
        MHD_add_response_header(r, "Allow", cs->post ? "POST" : "GET");
    }
    cs->status = status;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *conn, conn_state *cs, int status,
                                    const core_buf *body)
{
    return respond(conn, cs, status, "application/json", body->ptr ? body->ptr : "{}",
                   body->ptr ? body->len : 2);
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, conn_state *cs, int status,
                                     const char *message, const char *param)
{
    core_buf b = {0};
    if (http_error_json(&b, status, message, param, NULL) < 0) {
        core_buf_dispose(&b);
        return MHD_NO;
    }
    enum MHD_Result ret = respond_json(conn, cs, status, &b);
    core_buf_dispose(&b);
    return ret;
}

static int json_answer(core_buf *out, cJSON *root, core_err *err)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    int rc = text ? core_buf_append(out, text, strlen(text)) : CORE_ENOMEM;
    cJSON_free(text);
    cJSON_Delete(root);
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "answer: out of memory") : 0;
}

static int answer_models(http_server *srv, core_buf *out, core_err *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", srv->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "kiln");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddNumberToObject(meta, "n_vocab", (double)gen_model_n_vocab(srv->model));
    cJSON_AddNumberToObject(meta, "n_ctx_train", (double)gen_model_n_ctx_train(srv->model));
    cJSON_AddNumberToObject(meta, "size", (double)gen_model_n_bytes(srv->model));
    cJSON_AddStringToObject(meta, "desc", gen_model_desc(srv->model));
    cJSON_AddItemToArray(data, m);
    return json_answer(out, root, err);
}

static int answer_props(http_server *srv, core_buf *out, core_err *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(root, "default_generation_settings");
    cJSON_AddNumberToObject(d, "n_ctx", (double)srv->opts.n_ctx);
    cJSON_AddNumberToObject(d, "temperature", 0.8);
    cJSON_AddNumberToObject(d, "top_k", 40);
    cJSON_AddNumberToObject(d, "top_p", 0.95);
    cJSON_AddNumberToObject(d, "min_p", 0.05);
    cJSON_AddNumberToObject(d, "n_predict", 256);
    cJSON_AddNumberToObject(root, "total_slots", (double)srv->opts.n_parallel);
    cJSON_AddStringToObject(root, "model_path", srv->model_name);
    core_str tmpl = gen_model_chat_template(srv->model);
    char *t = core_strndup(tmpl.ptr ? tmpl.ptr : "", tmpl.len);
    cJSON_AddStringToObject(root, "chat_template", t ? t : "");
    core_free(t);
    cJSON *mods = cJSON_AddObjectToObject(root, "modalities");
    cJSON_AddBoolToObject(mods, "vision", false);
    cJSON *gr = cJSON_AddArrayToObject(root, "grammars");
    for (size_t i = 0; i < 2; i++) {
        if (srv->langs[i]) {
            cJSON_AddItemToArray(gr, cJSON_CreateString(gram_lang_name(srv->langs[i])));
        }
    }
    cJSON_AddStringToObject(root, "build_info", "kiln");
    return json_answer(out, root, err);
}

static int answer_metrics(http_server *srv, core_buf *out, core_err *err)
{
    http_metrics m;
    memset(&m, 0, sizeof(m));
    for (size_t r = 0; r < HTTP_ROUTE_COUNT && r < HTTP_N_ROUTES; r++) {
        m.route_names[r] = route_names[r];
    }
    pthread_mutex_lock(&srv->mu);
    memcpy(m.requests, srv->requests, sizeof(srv->requests));
    memcpy(m.sandbox_runs, srv->sandbox_runs, sizeof(srv->sandbox_runs));
    pthread_mutex_unlock(&srv->mu);
    if (srv->queue) {
        m.queue = gen_queue_stats_get(srv->queue);
    }
    m.n_parallel = srv->opts.n_parallel;
    return http_metrics_render(out, &m, err);
}

/* Bearer key, compared in constant time (for keys of the same length). */
static bool key_ok(const http_server *srv, struct MHD_Connection *conn)
{
    if (!srv->api_key) {
        return true;
    }
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        return false;
    }
    const char *given = h + 7;
    const size_t n_given = strlen(given);
    const size_t n_key = strlen(srv->api_key);
    unsigned char diff = (unsigned char)(n_given != n_key);
    for (size_t i = 0; i < n_key; i++) {
        const unsigned char g = i < n_given ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)srv->api_key[i]);
    }
    return diff == 0;
}

/* The answer of a finished worker, for a connection that waited (not streaming). */
static enum MHD_Result respond_stream(struct MHD_Connection *conn, conn_state *cs)
{
    http_stream *st = cs->st;
    pthread_mutex_lock(&st->mu);
    if (!st->finished) {
        st->suspended = true;
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&st->mu);
        return MHD_YES;
    }
    int status = st->status;
    core_buf body = st->out;
    st->out = (core_buf){0};
    for (size_t i = 0; i < st->n_choices; i++) {
        cs->n_prompt += st->choices[i].n_prompt;
        cs->n_generated += st->choices[i].n_generated;
    }
    pthread_mutex_unlock(&st->mu);
    enum MHD_Result ret = respond_json(conn, cs, status, &body);
    core_buf_dispose(&body);
    return ret;
}

/* Starts the worker's answer for a POST that needs the model. */
static enum MHD_Result dispatch_work(struct MHD_Connection *conn, conn_state *cs)
{
    http_server *srv = cs->srv;
    http_stream *st = NULL;
    core_err err = {0};
    if (http__stream_new(&st, srv, cs->route, &err) < 0 || !st) {
        return respond_error(conn, cs, 500, err.msg, NULL);
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    st->fd = ci ? ci->connect_fd : -1;
    pthread_mutex_lock(&st->mu);
    st->conn = conn;
    pthread_mutex_unlock(&st->mu);
    cs->st = st;
    core_str body = {cs->body.ptr ? cs->body.ptr : "", cs->body.len};
    int status = 400;
    const char *param = NULL;
    int rc = 0;
    if (cs->route == HTTP_ROUTE_SOLVE) {
        rc = http__solve_start(st, body, &status, &param, &err);
    } else if ((cs->route == HTTP_ROUTE_COMPLETION || cs->route == HTTP_ROUTE_INFILL) &&
               srv->opts.backend) {
        /* The model here is only a vocabulary: llama.cpp's endpoints go to the backend. */
        status = 501;
        rc = core_err_set(&err, CORE_EUNSUPPORTED,
                          "this server passes OpenAI's completions on to the remote backend %s "
                          "and runs no model of its own: send /completion and /infill there",
                          solve_backend_url(srv->opts.backend));
    } else if (cs->route == HTTP_ROUTE_PATCH) {
        rc = http__patch_start(st, body, &status, &param, &err);
    } else {
        rc = http__generate_start(st, body, &status, &err);
        param = st->params.bad_param;
    }
    if (rc < 0) {
        return respond_error(conn, cs, status, err.msg, param);
    }
    pthread_mutex_lock(&st->mu);
    const bool streaming = st->streaming;
    pthread_mutex_unlock(&st->mu);
    if (!streaming) {
        return respond_stream(conn, cs);
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, NULL);
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    cs->status = 200;
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result dispatch(struct MHD_Connection *conn, conn_state *cs)
{
    http_server *srv = cs->srv;
    bool post = false;
    cs->route = route_of(cs->path, &post);
    cs->post = post;
    if (cs->route == HTTP_ROUTE_OTHER) {
        return respond_error(conn, cs, 404, "no such endpoint", NULL);
    }
    const bool is_post = strcmp(cs->method, "POST") == 0;
    const bool is_get = strcmp(cs->method, "GET") == 0 || strcmp(cs->method, "HEAD") == 0;
    if ((post && !is_post) || (!post && !is_get)) {
        return respond_error(conn, cs, 405, "method not allowed", NULL);
    }
    if (cs->route != HTTP_ROUTE_HEALTH && !key_ok(srv, conn)) {
        return respond_error(conn, cs, 401, "invalid or missing API key", NULL);
    }
    if (cs->too_large) {
        return respond_error(conn, cs, 413, "request body too large", NULL);
    }
    if (!atomic_load(&srv->ready)) {
        return respond_error(conn, cs, 503, "Loading model", NULL);
    }
    if (atomic_load(&srv->stopping)) {
        return respond_error(conn, cs, 503, "the server is stopping", NULL);
    }
    core_buf out = {0};
    core_err err = {0};
    int rc = 0;
    int status = 200;
    const char *param = NULL;
    core_str body = {cs->body.ptr ? cs->body.ptr : "", cs->body.len};
    switch (cs->route) {
    case HTTP_ROUTE_HEALTH:
        rc = core_buf_appendf(&out, "{\"status\":\"ok\"}");
        break;
    case HTTP_ROUTE_MODELS:
        rc = answer_models(srv, &out, &err);
        break;
    case HTTP_ROUTE_PROPS:
        rc = answer_props(srv, &out, &err);
        break;
    case HTTP_ROUTE_METRICS: {
        rc = answer_metrics(srv, &out, &err);
        enum MHD_Result ret =
            rc < 0 ? MHD_NO : respond(conn, cs, 200, "text/plain; version=0.0.4", out.ptr, out.len);
        core_buf_dispose(&out);
        return ret;
    }
    case HTTP_ROUTE_TOKENIZE:
    case HTTP_ROUTE_DETOKENIZE:
        rc = http__tokens(srv, cs->route, body, &out, &status, &param, &err);
        break;
    default:
        core_buf_dispose(&out);
        return dispatch_work(conn, cs);
    }
    enum MHD_Result ret =
        rc < 0 ? respond_error(conn, cs, status == 200 ? 500 : status, err.msg, param)
               : respond_json(conn, cs, status, &out);
    core_buf_dispose(&out);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server *srv = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        cs = core_calloc(1, sizeof(*cs));
        if (!cs) {
            return MHD_NO;
        }
        cs->srv = srv;
        cs->t_start = core_time_ns();
        snprintf(cs->method, sizeof(cs->method), "%s", method);
        snprintf(cs->path, sizeof(cs->path), "%s", url);
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!cs->too_large && cs->body.len + *upload_data_size > srv->opts.body_max) {
            cs->too_large = true;
            core_buf_dispose(&cs->body);
        }
        if (!cs->too_large && core_buf_append(&cs->body, upload_data, *upload_data_size) < 0) {
            cs->too_large = true;
            core_buf_dispose(&cs->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cs->dispatched) {
        return cs->st ? respond_stream(conn, cs) : MHD_YES;
    }
    cs->dispatched = true;
    return dispatch(conn, cs);
}

static void log_request(http_server *srv, const conn_state *cs, int code)
{
    const double ms = (double)(core_time_ns() - cs->t_start) / 1e6;
    const int status = cs->status ? cs->status : 499;
    if (srv->opts.log_json) {
        core_log_write(&srv->opts.log, CORE_LOG_LEVEL_INFO,
                       "{\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"prompt_tokens\":%zu,"
                       "\"completion_tokens\":%zu,\"ms\":%.1f%s}",
                       cs->method, cs->route == HTTP_ROUTE_OTHER ? "other" : cs->path, status,
                       cs->n_prompt, cs->n_generated, ms,
                       code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ",\"aborted\":true");
    } else {
        core_log_write(&srv->opts.log, CORE_LOG_LEVEL_INFO, "%s %s %d %zu+%zu tokens %.1f ms%s",
                       cs->method, cs->route == HTTP_ROUTE_OTHER ? "other" : cs->path, status,
                       cs->n_prompt, cs->n_generated, ms,
                       code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)conn;
    http_server *srv = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        return;
    }
    if (cs->st) {
        http_stream *st = cs->st;
        pthread_mutex_lock(&st->mu);
        st->conn = NULL;
        if (!st->finished || code != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
            stream_cancel(st);
        }
        if (st->streaming) {
            for (size_t i = 0; i < st->n_choices; i++) {
                cs->n_prompt += st->choices[i].n_prompt;
                cs->n_generated += st->choices[i].n_generated;
            }
        }
        pthread_mutex_unlock(&st->mu);
        http__stream_release(st);
    }
    if (cs->dispatched) {
        pthread_mutex_lock(&srv->mu);
        srv->requests[cs->route][status_class(cs->status ? cs->status : 499)]++;
        pthread_mutex_unlock(&srv->mu);
        log_request(srv, cs, (int)code);
    }
    core_buf_dispose(&cs->body);
    core_free(cs);
    *con_cls = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The ticker: hang-ups and keep-alive pings                                                  */
/* ------------------------------------------------------------------------------------------ */

static bool peer_closed(int fd)
{
    if (fd < 0) {
        return false;
    }
    char c = 0;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void *ticker_main(void *arg)
{
    http_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    while (srv->ticker_started) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->ticker_cv, &srv->mu, &ts);
        const uint64_t now = core_time_ns();
        for (http_stream *st = srv->streams; st; st = st->next) {
            pthread_mutex_lock(&st->mu);
            if (st->conn && !st->finished && !st->canceled) {
                if (st->suspended && peer_closed(st->fd)) {
                    stream_cancel(st);
                } else if (st->streaming && now - st->ns_last_out > 2000000000ull) {
                    (void)http_sse_comment(&st->out, "keep-alive", NULL);
                    http__stream_wake(st);
                }
            }
            pthread_mutex_unlock(&st->mu);
        }
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Life                                                                                       */
/* ------------------------------------------------------------------------------------------ */

int http_server_new(http_server **out, const http_server_options *opts, core_err *err)
{
    http_server_options o = opts ? *opts : http_server_options_default();
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(o.port);
    if (inet_pton(AF_INET, o.host ? o.host : "127.0.0.1", &addr.sin_addr) != 1) {
        return core_err_set(err, CORE_EINVAL, "--host %s: not an IPv4 address", o.host);
    }
    http_server *srv = core_calloc(1, sizeof(*srv));
    if (!srv) {
        return core_err_set(err, CORE_ENOMEM, "server: out of memory");
    }
    srv->opts = o;
    snprintf(srv->model_name, sizeof(srv->model_name), "%s", o.model_name ? o.model_name : "kiln");
    if (o.api_key && o.api_key[0]) {
        srv->api_key = core_strndup(o.api_key, strlen(o.api_key));
        if (!srv->api_key) {
            core_free(srv);
            return core_err_set(err, CORE_ENOMEM, "server: out of memory");
        }
    }
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->ticker_cv, NULL);
    pthread_cond_init(&srv->solve_cv, NULL);
    atomic_init(&srv->ready, false);
    atomic_init(&srv->stopping, false);
    atomic_init(&srv->n_requests, 0);
    atomic_init(&srv->n_remote, 0);
    srv->opts.api_key = NULL;
    srv->opts.host = NULL;
    srv->opts.model_name = NULL;
    srv->opts.patch_root = NULL;
    int prc = http__patch_init(srv, o.patch_root, err);
    if (prc < 0) {
        http_server_free(srv);
        return prc;
    }
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    srv->daemon = MHD_start_daemon(
        flags, o.port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(o.n_threads ? o.n_threads : 1), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)o.n_connections_max, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!srv->daemon) {
        int e = errno;
        http_server_free(srv);
        return core_err_set(err, CORE_EIO, "listen on %s:%u: %s", o.host, (unsigned)o.port,
                            e ? strerror(e) : "libmicrohttpd could not start");
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : o.port;
    srv->ticker_started = true;
    if (pthread_create(&srv->ticker, NULL, ticker_main, srv) != 0) {
        srv->ticker_started = false;
        http_server_free(srv);
        return core_err_set(err, CORE_ERROR, "server: pthread_create failed");
    }
    *out = srv;
    return 0;
}

int http_server_ready(http_server *server, const gen_model *model, sbx_pool *sandbox, core_err *err)
{
    const size_t n_vocab = gen_model_n_vocab(model);
    server->pieces = core_calloc(n_vocab, sizeof(core_str));
    server->is_eog = core_calloc(n_vocab, sizeof(bool));
    if (!server->pieces || !server->is_eog) {
        return core_err_set(err, CORE_ENOMEM, "server: out of memory");
    }
    for (size_t i = 0; i < n_vocab; i++) {
        server->pieces[i] = gen_model_token_piece(model, (int32_t)i, false);
        server->is_eog[i] = gen_model_token_is_eog(model, (int32_t)i);
    }
    server->vocab = (gram_vocab){server->pieces, server->is_eog, n_vocab};
    static const char *const names[2] = {"python", "c"};
    for (size_t i = 0; i < 2; i++) {
        if (gram_lang_load(&server->langs[i], names[i], NULL) < 0) {
            server->langs[i] = NULL;
        }
    }
    /* The FIM tokens, found as kiln complete finds them, for prompts with a suffix. */
    server->fim[0] = server->fim[1] = server->fim[2] = -1;
    solve_completer *completer = NULL;
    if (solve_completer_new(&completer, model, NULL) == 0) {
        (void)solve_completer_fim_tokens(completer, server->fim);
    }
    solve_completer_free(completer);
    int rc = 0;
    if (!server->opts.backend) {
        gen_queue_options qo = gen_queue_options_default();
        qo.n_parallel = server->opts.n_parallel;
        qo.n_ctx = server->opts.n_ctx;
        qo.n_threads = server->opts.n_compute;
        qo.n_pending_max = server->opts.n_pending_max;
        qo.log = server->opts.log;
        qo.on_step = http__queue_step;
        qo.step_payload = server;
        server->wake = core_calloc(qo.n_parallel, sizeof(http_stream *));
        rc = server->wake ? gen_queue_new(&server->queue, model, &qo, err)
                          : core_err_set(err, CORE_ENOMEM, "serve: out of memory");
    }
    if (rc < 0) {
        return rc;
    }
    server->model = model;
    server->sandbox = sandbox;
    pthread_mutex_lock(&server->mu);
    server->solver_started = pthread_create(&server->solver, NULL, http__solver_main, server) == 0;
    pthread_mutex_unlock(&server->mu);
    atomic_store(&server->ready, true);
    return 0;
}

uint16_t http_server_port(const http_server *server)
{
    return server->port;
}

gen_queue *http_server_queue(http_server *server)
{
    return server->queue;
}

static size_t n_streams(http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    size_t n = srv->n_streams;
    pthread_mutex_unlock(&srv->mu);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void http_server_stop(http_server *server, uint64_t grace_ms)
{
    if (!server->daemon) {
        return;
    }
    atomic_store(&server->stopping, true);
    if (server->queue) {
        gen_queue_close(server->queue);
    }
    const uint64_t t0 = core_time_ns();
    while (n_streams(server) > 0 && core_time_ns() - t0 < grace_ms * 1000000ull) {
        sleep_ms(20);
    }
    /* What still runs is canceled; its answers go out, then the connections close. */
    pthread_mutex_lock(&server->mu);
    for (http_stream *st = server->streams; st; st = st->next) {
        pthread_mutex_lock(&st->mu);
        stream_cancel(st);
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&server->mu);
    const uint64_t t1 = core_time_ns();
    while (n_streams(server) > 0 && core_time_ns() - t1 < 5000000000ull) {
        sleep_ms(20);
    }
    MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
}

void http_server_free(http_server *server)
{
    if (!server) {
        return;
    }
    if (server->daemon) {
        http_server_stop(server, 0);
    }
    pthread_mutex_lock(&server->mu);
    const bool ticker = server->ticker_started;
    server->ticker_started = false;
    const bool solver = server->solver_started;
    server->solver_started = false;
    pthread_cond_broadcast(&server->ticker_cv);
    pthread_cond_broadcast(&server->solve_cv);
    pthread_mutex_unlock(&server->mu);
    if (ticker) {
        pthread_join(server->ticker, NULL);
    }
    if (solver) {
        pthread_join(server->solver, NULL);
    }
    /* The backend's streams were canceled by the stop; their threads end within a poll. */
    while (atomic_load(&server->n_remote) > 0) {
        sleep_ms(10);
    }
    gen_queue_free(server->queue);
    core_free(server->wake);
    solve_engine_free(server->engine);
    sbx_tree_free(server->tree);
    for (size_t i = 0; i < 2; i++) {
        gram_lang_free(server->langs[i]);
    }
    core_free(server->pieces);
    core_free(server->is_eog);
    core_free(server->api_key);
    pthread_cond_destroy(&server->ticker_cv);
    pthread_cond_destroy(&server->solve_cv);
    pthread_mutex_destroy(&server->mu);
    core_free(server);
}

int http_sd_notify(const char *socket_path, const char *text, core_err *err)
{
    if (!socket_path || !socket_path[0]) {
        return 0;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    const size_t n = strlen(socket_path);
    if (n >= sizeof(sa.sun_path)) {
        return core_err_set(err, CORE_EIO, "sd_notify: socket path too long");
    }
    memcpy(sa.sun_path, socket_path, n);
    if (sa.sun_path[0] == '@') {
        sa.sun_path[0] = '\0'; /* an abstract socket */
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return core_err_set(err, CORE_EIO, "sd_notify: socket: %s", strerror(errno));
    }
    const socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    ssize_t sent = sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    const int e = errno;
    close(fd);
    if (sent < 0) {
        return core_err_set(err, CORE_EIO, "sd_notify: sendto %s: %s", socket_path, strerror(e));
    }
    return 0;
}
