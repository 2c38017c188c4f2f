/*
 * The server's threads and lifecycle. A reader thread reads the input, frames and parses it
 * and queues each message; it answers framing and JSON errors itself (-32700, -32600) and acts
 * at once on what must not wait behind a running completion: `$/cancelRequest` and a newer
 * completion of the same document set the cancel flag of the running request (polled by the
 * decode loop between steps) or mark the queued one, which is then answered -32800 without
 * running. The main thread takes messages in order and runs them: lifecycle (initialize,
 * shutdown, exit; -32002 before initialize), then lsp__handle. Frames are written whole under
 * a lock, so nothing but protocol reaches the output.
 */
#include "lsp/lsp_int.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

lsp_server_options lsp_server_options_default(void)
{
    lsp_server_options o;
    memset(&o, 0, sizeof(o));
    o.n_sessions_max = 4;
    o.session = solve_session_options_default();
    o.complete = solve_complete_options_default();
    o.n_context_tokens_max = 384;
    o.load = gen_model_options_default();
    return o;
}

int lsp_server_new(lsp_server **out, const lsp_server_options *opts, core_err *err)
{
    *out = NULL;
    lsp_server *s = core_calloc(1, sizeof(*s));
    if (!s) {
        return core_err_set(err, CORE_ENOMEM, "lsp: out of memory for the server");
    }
    s->opts = opts ? *opts : lsp_server_options_default();
    if (s->opts.n_sessions_max == 0) {
        s->opts.n_sessions_max = 1;
    }
    s->complete = s->opts.complete;
    s->n_context_tokens_max = s->opts.n_context_tokens_max;
    if (s->opts.model) {
        int rc = solve_completer_new(&s->completer, s->opts.model, err);
        if (rc == 0) {
            solve_completer_set_backend(s->completer, s->opts.backend);
            rc = lsp__queue_new(&s->queue_owned, s, s->opts.model, err);
        }
        if (rc < 0) {
            solve_completer_free(s->completer);
            core_free(s);
            return rc;
        }
        s->queue = s->opts.backend ? NULL : s->queue_owned ? s->queue_owned : s->opts.queue;
        solve_completer_set_queue(s->completer, s->queue);
    }
    *out = s;
    return 0;
}

void lsp_server_free(lsp_server *server)
{
    if (!server) {
        return;
    }
    lsp__docs_free(server);
    lsp__cards_free(server);
    solve_engine_free(server->engine);
    sbx_pool_free(server->pool);
    gen_queue_free(server->queue_owned);
    solve_completer_free(server->completer);
    gen_model_free(server->model_owned);
    core_free(server->model_path);
    core_free(server->root);
    for (size_t l = 0; l < SOLVE_N_LANGS; l++) {
        lsp__tests_dispose(&server->tests[l]);
    }
    sbx_tree_free(server->tree);
    core_free(server);
}

/* ------------------------------------------------------------------------------------------ */
/* Output                                                                                     */
/* ------------------------------------------------------------------------------------------ */

void lsp__send(lsp_server *s, cJSON *msg)
{
    char *text = msg ? cJSON_PrintUnformatted(msg) : NULL;
    cJSON_Delete(msg);
    core_buf frame = {0};
    if (!text || lsp_frame_append(&frame, core_str_c(text), NULL) < 0) {
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_ERROR, "lsp: out of memory for a reply");
        cJSON_free(text);
        return;
    }
    core_log_write(&s->opts.log, CORE_LOG_LEVEL_DEBUG, "-> %s", text);
    cJSON_free(text);
    pthread_mutex_lock(&s->write_lock);
    bool ok = !atomic_load_explicit(&s->out_broken, memory_order_relaxed) &&
              core_write_full(s->fd_out, frame.ptr, frame.len) == 0;
    pthread_mutex_unlock(&s->write_lock);
    if (!ok) {
        atomic_store_explicit(&s->out_broken, true, memory_order_relaxed);
    }
    core_buf_dispose(&frame);
}

static cJSON *message_new(void)
{
    cJSON *m = cJSON_CreateObject();
    if (m && !cJSON_AddStringToObject(m, "jsonrpc", "2.0")) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

static void add_id(cJSON *m, const cJSON *id)
{
    cJSON *copy = id ? cJSON_Duplicate(id, true) : cJSON_CreateNull();
    if (copy) {
        cJSON_AddItemToObject(m, "id", copy);
    }
}

void lsp__reply(lsp_server *s, const cJSON *id, cJSON *result)
{
    cJSON *m = message_new();
    if (!m) {
        cJSON_Delete(result);
        return;
    }
    add_id(m, id);
    cJSON_AddItemToObject(m, "result", result ? result : cJSON_CreateNull());
    lsp__send(s, m);
}

void lsp__reply_error(lsp_server *s, const cJSON *id, int code, const char *message)
{
    cJSON *m = message_new();
    if (!m) {
        return;
    }
    add_id(m, id);
    cJSON *e = cJSON_AddObjectToObject(m, "error");
    if (e) {
        cJSON_AddNumberToObject(e, "code", code);
        cJSON_AddStringToObject(e, "message", message);
    }
    lsp__send(s, m);
}

void lsp__notify(lsp_server *s, const char *method, cJSON *params)
{
    cJSON *m = message_new();
    if (!m) {
        cJSON_Delete(params);
        return;
    }
    cJSON_AddStringToObject(m, "method", method);
    cJSON_AddItemToObject(m, "params", params ? params : cJSON_CreateObject());
    lsp__send(s, m);
}

/* ------------------------------------------------------------------------------------------ */
/* The reader thread                                                                          */
/* ------------------------------------------------------------------------------------------ */

static void msg_free(lsp__msg *m)
{
    if (!m) {
        return;
    }
    cJSON_Delete(m->json);
    cJSON_free(m->id_key);
    core_free(m->uri);
    core_free(m);
}

void lsp__enqueue(lsp_server *s, lsp__msg *m)
{
    pthread_mutex_lock(&s->lock);
    while (s->n_queued >= LSP__QUEUE_MAX && !m->eof && !m->job_done &&
           !atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        pthread_cond_wait(&s->room, &s->lock);
    }
    if (s->tail) {
        s->tail->next = m;
    } else {
        s->head = m;
    }
    s->tail = m;
    s->n_queued++;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static bool is_completion(const char *method)
{
    return method && (strcmp(method, "textDocument/completion") == 0 ||
                      strcmp(method, "textDocument/inlineCompletion") == 0);
}

static const char *doc_uri(const cJSON *json)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(json, "params");
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(params, "textDocument");
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(td, "uri");
    return cJSON_IsString(uri) ? uri->valuestring : NULL;
}

/* $/cancelRequest: stops the running request it names, or marks the queued one. */
static void cancel_request(lsp_server *s, const cJSON *json)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(json, "params");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(params, "id");
    char *key =
        id && (cJSON_IsNumber(id) || cJSON_IsString(id)) ? cJSON_PrintUnformatted(id) : NULL;
    if (!key) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (s->inflight_id && strcmp(s->inflight_id, key) == 0) {
        atomic_store(&s->cancel_reason, 1);
    }
    if (s->job_key && strcmp(s->job_key, key) == 0) {
        atomic_store(&s->job_cancel, true);
    }
    for (lsp__msg *q = s->head; q; q = q->next) {
        if (q->id_key && strcmp(q->id_key, key) == 0) {
            q->canceled = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    cJSON_free(key);
}

/* A newer completion of uri supersedes the running and queued ones. */
static void supersede(lsp_server *s, const char *uri)
{
    pthread_mutex_lock(&s->lock);
    if (s->inflight_uri && strcmp(s->inflight_uri, uri) == 0) {
        atomic_store(&s->cancel_reason, 2);
    }
    for (lsp__msg *q = s->head; q; q = q->next) {
        if (q->uri && strcmp(q->uri, uri) == 0) {
            q->superseded = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* One body: parse, check the envelope, act on cancels, queue. */
static void on_body(lsp_server *s, core_str body)
{
    cJSON *json = cJSON_ParseWithLength(body.ptr, body.len);
    if (!json) {
        lsp__reply_error(s, NULL, LSP_ERR_PARSE, "parse error: the body is not JSON");
        return;
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        lsp__reply_error(s, NULL, LSP_ERR_INVALID_REQUEST, "a message must be a JSON object");
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(json, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(json, "method");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(json, "jsonrpc");
    bool id_ok = !id || cJSON_IsNumber(id) || cJSON_IsString(id);
    bool is_response = !method && id &&
                       (cJSON_GetObjectItemCaseSensitive(json, "result") ||
                        cJSON_GetObjectItemCaseSensitive(json, "error"));
    if (!id_ok || (!is_response && !cJSON_IsString(method)) || !cJSON_IsString(version) ||
        strcmp(version->valuestring, "2.0") != 0) {
        lsp__reply_error(s, id_ok ? id : NULL, LSP_ERR_INVALID_REQUEST,
                         "invalid request: needs jsonrpc \"2.0\", a string method and a number "
                         "or string id");
        cJSON_Delete(json);
        return;
    }
    if (is_response || !method) {
        cJSON_Delete(json); /* answers to our requests (applyEdit, showMessage): nothing waits */
        return;
    }
    const char *name = method->valuestring;
    core_log_write(&s->opts.log, CORE_LOG_LEVEL_DEBUG, "<- %s (%zu bytes)", name, body.len);
    if (strcmp(name, "$/cancelRequest") == 0) {
        cancel_request(s, json);
        cJSON_Delete(json);
        return;
    }
    lsp__msg *m = core_calloc(1, sizeof(*m));
    if (!m) {
        lsp__reply_error(s, id, LSP_ERR_INTERNAL, "out of memory");
        cJSON_Delete(json);
        return;
    }
    m->json = json;
    m->method = name;
    m->id = id;
    m->id_key = id ? cJSON_PrintUnformatted(id) : NULL;
    const char *uri = is_completion(name) && id ? doc_uri(json) : NULL;
    if (uri) {
        m->uri = core_strndup(uri, strlen(uri));
        supersede(s, uri);
    }
    if ((id && !m->id_key) || (uri && !m->uri)) {
        lsp__reply_error(s, id, LSP_ERR_INTERNAL, "out of memory");
        msg_free(m);
        return;
    }
    lsp__enqueue(s, m);
}

static void *reader_main(void *arg)
{
    lsp_server *s = arg;
    lsp_reader *r = NULL;
    char chunk[65536];
    core_err err = {0};
    if (lsp_reader_new(&r, LSP_BODY_MAX, &err) < 0) {
        goto eof;
    }
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        struct pollfd pfd = {s->fd_in, POLLIN, 0};
        int pr = poll(&pfd, 1, 100);
        if (pr < 0 && errno != EINTR) {
            break;
        }
        if (pr <= 0) {
            continue;
        }
        ssize_t n = read(s->fd_in, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (lsp_reader_feed(r, chunk, (size_t)n, &err) < 0) {
            lsp__reply_error(s, NULL, LSP_ERR_INTERNAL, err.msg);
            break;
        }
        for (;;) {
            core_str body = {0};
            int rc = lsp_reader_next(r, &body, &err);
            if (rc == 0) {
                break;
            }
            if (rc == 1) {
                on_body(s, body);
            } else {
                core_log_write(&s->opts.log, CORE_LOG_LEVEL_WARN, "%s", err.msg);
                lsp__reply_error(
                    s, NULL, rc == CORE_ELIMIT ? LSP_ERR_INVALID_REQUEST : LSP_ERR_PARSE, err.msg);
            }
        }
    }
eof:
    lsp_reader_free(r);
    lsp__msg *m = core_calloc(1, sizeof(*m));
    if (m) {
        m->eof = true;
        lsp__enqueue(s, m);
    } else {
        /* Without memory for the message, end the main loop through the flag it polls. */
        atomic_store_explicit(&s->out_broken, true, memory_order_relaxed);
        pthread_mutex_lock(&s->lock);
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The main loop                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* Takes the next message (waits); NULL when the output broke. */
static lsp__msg *dequeue(lsp_server *s, bool *canceled)
{
    pthread_mutex_lock(&s->lock);
    while (!s->head && !atomic_load_explicit(&s->out_broken, memory_order_relaxed)) {
        pthread_cond_wait(&s->cond, &s->lock);
    }
    lsp__msg *m = s->head;
    if (m) {
        s->head = m->next;
        if (!s->head) {
            s->tail = NULL;
        }
        s->n_queued--;
        pthread_cond_signal(&s->room);
        *canceled = m->canceled || m->superseded;
        /* From now on a cancel reaches it through the flag. */
        s->inflight_id = m->id_key;
        s->inflight_uri = m->uri;
        atomic_store(&s->cancel_reason, 0);
    }
    pthread_mutex_unlock(&s->lock);
    return m;
}

void lsp__job_key_set(lsp_server *s, const char *key)
{
    char *copy = key ? core_strndup(key, strlen(key)) : NULL;
    pthread_mutex_lock(&s->lock);
    core_free(s->job_key);
    s->job_key = copy; /* without memory, the request cannot be canceled by id */
    pthread_mutex_unlock(&s->lock);
}

static void done_with(lsp_server *s, lsp__msg *m)
{
    pthread_mutex_lock(&s->lock);
    s->inflight_id = NULL;
    s->inflight_uri = NULL;
    pthread_mutex_unlock(&s->lock);
    msg_free(m);
}

/* Runs one message; returns false when the server must stop (exit). */
static bool run_one(lsp_server *s, lsp__msg *m, bool canceled, bool *shutdown_seen)
{
    if (m->job_done) {
        lsp__implement_end(s);
        return true;
    }
    const char *method = m->method;
    if (strcmp(method, "exit") == 0) {
        return false;
    }
    if (canceled) {
        if (m->id) {
            lsp__reply_error(s, m->id, LSP_ERR_REQUEST_CANCELLED, "request cancelled");
        }
        return true;
    }
    if (s->state == LSP__STATE_NEW) {
        if (strcmp(method, "initialize") == 0 && m->id) {
            const cJSON *params = cJSON_GetObjectItemCaseSensitive(m->json, "params");
            lsp__reply(s, m->id, lsp__initialize(s, params));
            s->state = LSP__STATE_RUNNING;
        } else if (m->id) {
            lsp__reply_error(s, m->id, LSP_ERR_NOT_INITIALIZED, "server not initialized");
        }
        return true; /* notifications before initialize are dropped */
    }
    if (strcmp(method, "initialize") == 0 && m->id) {
        lsp__reply_error(s, m->id, LSP_ERR_INVALID_REQUEST, "initialize was already received");
        return true;
    }
    if (s->state == LSP__STATE_SHUTDOWN) {
        if (m->id) {
            lsp__reply_error(s, m->id, LSP_ERR_INVALID_REQUEST, "the server is shutting down");
        }
        return true;
    }
    if (strcmp(method, "shutdown") == 0 && m->id) {
        *shutdown_seen = true;
        s->state = LSP__STATE_SHUTDOWN;
        lsp__implement_stop(s);
        lsp__docs_free(s);
        lsp__reply(s, m->id, NULL);
        return true;
    }
    lsp__handle(s, m);
    return true;
}

int lsp_server_run(lsp_server *server, int fd_in, int fd_out, int *exit_code, core_err *err)
{
    lsp_server *s = server;
    *exit_code = 1;
    s->fd_in = fd_in;
    s->fd_out = fd_out;
    s->state = LSP__STATE_NEW;
    s->enc = LSP_ENCODING_UTF16;
    atomic_init(&s->out_broken, false);
    atomic_init(&s->stop, false);
    atomic_init(&s->cancel_reason, 0);
    atomic_init(&s->job_cancel, false);
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        return core_err_set(err, CORE_ERROR, "lsp: pthread_mutex_init failed");
    }
    if (pthread_mutex_init(&s->write_lock, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        return core_err_set(err, CORE_ERROR, "lsp: pthread_mutex_init failed");
    }
    if (pthread_cond_init(&s->cond, NULL) != 0) {
        pthread_mutex_destroy(&s->write_lock);
        pthread_mutex_destroy(&s->lock);
        return core_err_set(err, CORE_ERROR, "lsp: pthread_cond_init failed");
    }
    if (pthread_cond_init(&s->room, NULL) != 0) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->write_lock);
        pthread_mutex_destroy(&s->lock);
        return core_err_set(err, CORE_ERROR, "lsp: pthread_cond_init failed");
    }
    pthread_t reader;
    int rc = 0;
    if (pthread_create(&reader, NULL, reader_main, s) != 0) {
        rc = core_err_set(err, CORE_ERROR, "lsp: could not start the reader thread");
        goto done;
    }
    bool shutdown_seen = false;
    for (;;) {
        bool canceled = false;
        lsp__msg *m = dequeue(s, &canceled);
        if (!m) {
            break; /* the client is gone */
        }
        if (m->eof) {
            done_with(s, m);
            break;
        }
        bool go_on = run_one(s, m, canceled, &shutdown_seen);
        done_with(s, m);
        if (!go_on || atomic_load_explicit(&s->out_broken, memory_order_relaxed)) {
            break;
        }
    }
    *exit_code = shutdown_seen ? 0 : 1;
    atomic_store_explicit(&s->stop, true, memory_order_relaxed);
    lsp__implement_stop(s); /* the stop flag cancels it */
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->room); /* a reader waiting for room sees the stop */
    pthread_mutex_unlock(&s->lock);
    pthread_join(reader, NULL);
    while (s->head) {
        lsp__msg *m = s->head;
        s->head = m->next;
        msg_free(m);
    }
    s->tail = NULL;
    s->n_queued = 0;
    lsp__job_key_set(s, NULL);
    lsp__docs_free(s);
done:
    pthread_cond_destroy(&s->room);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->write_lock);
    pthread_mutex_destroy(&s->lock);
    return rc;
}
