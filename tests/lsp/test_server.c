/*
 * Tests of lsp/server.c and lsp/handlers.c: a server runs on a thread of the test, and the
 * test talks to it through pipes as a client would. Without a model: the lifecycle (-32002
 * before initialize, shutdown and exit codes), encoding negotiation, malformed input answered
 * and survived, the end of input. With the default model: completions that parse after
 * incremental edits, the cached tokens reused after a one-character edit, cancellation and
 * supersession answered -32800.
 */
#include "tests/lsp/tests.h"

#include <cjson/cJSON.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lsp/lsp.h"
#include "sandbox/sbx.h"

#define MODEL_PATH KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

typedef struct harness {
    lsp_server *server;
    gen_model *model;
    int to_server[2];   /* the server reads [0] */
    int from_server[2]; /* the server writes [1] */
    pthread_t thread;
    int exit_code;
    int rc;
    lsp_reader *reader;
} harness;

static void *serve(void *arg)
{
    harness *h = arg;
    h->rc = lsp_server_run(h->server, h->to_server[0], h->from_server[1], &h->exit_code, NULL);
    return NULL;
}

static void start(harness *h, bool with_model)
{
    memset(h, 0, sizeof(*h));
    lsp_server_options o = lsp_server_options_default();
    if (with_model) {
        gen_model_options mo = gen_model_options_default();
        core_err err = {0};
        ck_assert_msg(gen_model_load(&h->model, MODEL_PATH, &mo, &err) == 0, "%s", err.msg);
        o.model = h->model;
        o.session.n_threads = 2;
        o.session.n_ctx = 512;
    }
    ck_assert_int_eq(lsp_server_new(&h->server, &o, NULL), 0);
    ck_assert_int_eq(pipe(h->to_server), 0);
    ck_assert_int_eq(pipe(h->from_server), 0);
    ck_assert_int_eq(lsp_reader_new(&h->reader, LSP_BODY_MAX, NULL), 0);
    ck_assert_int_eq(pthread_create(&h->thread, NULL, serve, h), 0);
}

/* Closes the client's side of the input and waits for the server; returns its exit code. */
static int finish(harness *h)
{
    close(h->to_server[1]);
    pthread_join(h->thread, NULL);
    ck_assert_int_eq(h->rc, 0);
    close(h->to_server[0]);
    close(h->from_server[0]);
    close(h->from_server[1]);
    lsp_reader_free(h->reader);
    lsp_server_free(h->server);
    gen_model_free(h->model);
    return h->exit_code;
}

static void send_raw(harness *h, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(h->to_server[1], data, len);
        ck_assert_int_gt(w, 0);
        data += w;
        len -= (size_t)w;
    }
}

static void send_json(harness *h, const char *json)
{
    core_buf frame = {0};
    ck_assert_int_eq(lsp_frame_append(&frame, core_str_c(json), NULL), 0);
    send_raw(h, frame.ptr, frame.len);
    core_buf_dispose(&frame);
}

/* The next message from the server (a response when responses_only), within 60 s. */
static cJSON *next_message(harness *h, bool responses_only)
{
    for (;;) {
        core_str body = {0};
        int rc = lsp_reader_next(h->reader, &body, NULL);
        ck_assert_int_ge(rc, 0);
        if (rc == 1) {
            cJSON *m = cJSON_ParseWithLength(body.ptr, body.len);
            ck_assert_ptr_nonnull(m);
            if (!responses_only || !cJSON_GetObjectItem(m, "method")) {
                return m;
            }
            cJSON_Delete(m);
            continue;
        }
        struct pollfd p = {h->from_server[0], POLLIN, 0};
        ck_assert_int_eq(poll(&p, 1, 60000), 1);
        char chunk[4096];
        ssize_t n = read(h->from_server[0], chunk, sizeof(chunk));
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(lsp_reader_feed(h->reader, chunk, (size_t)n, NULL), 0);
    }
}

static int error_code(const cJSON *m)
{
    const cJSON *e = cJSON_GetObjectItem(m, "error");
    return e ? cJSON_GetObjectItem(e, "code")->valueint : 0;
}

static int response_id(const cJSON *m)
{
    const cJSON *id = cJSON_GetObjectItem(m, "id");
    return cJSON_IsNumber(id) ? id->valueint : -1;
}

static void initialize(harness *h, const char *encodings)
{
    char msg[512];
    snprintf(
        msg, sizeof(msg),
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"capabilities\":"
        "{\"general\":{\"positionEncodings\":%s},\"textDocument\":{\"inlineCompletion\":{}}}}}",
        encodings);
    send_json(h, msg);
    cJSON *r = next_message(h, true);
    ck_assert_int_eq(response_id(r), 1);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(r, "result"));
    cJSON_Delete(r);
    send_json(h, "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}");
}

START_TEST(server__lifecycle_and_exit_codes)
{
    harness h;
    start(&h, false);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"textDocument/completion\"}");
    cJSON *r = next_message(&h, true);
    ck_assert_int_eq(error_code(r), -32002);
    ck_assert_int_eq(response_id(r), 7);
    cJSON_Delete(r);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}");
    r = next_message(&h, true);
    const cJSON *caps = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "capabilities");
    ck_assert_str_eq(cJSON_GetObjectItem(caps, "positionEncoding")->valuestring, "utf-16");
    ck_assert_ptr_null(cJSON_GetObjectItem(caps, "inlineCompletionProvider"));
    cJSON_Delete(r);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"shutdown\"}");
    r = next_message(&h, true);
    ck_assert_int_eq(response_id(r), 2);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(r, "result")));
    cJSON_Delete(r);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"textDocument/hover\"}");
    r = next_message(&h, true);
    ck_assert_int_eq(error_code(r), -32600); /* after shutdown */
    cJSON_Delete(r);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
    ck_assert_int_eq(finish(&h), 0);
}
END_TEST

START_TEST(server__exit_without_shutdown_is_1)
{
    harness h;
    start(&h, false);
    initialize(&h, "[\"utf-8\",\"utf-16\"]");
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

START_TEST(server__utf8_is_chosen_when_offered)
{
    harness h;
    start(&h, false);
    send_json(&h,
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
              "\"capabilities\":{\"general\":{\"positionEncodings\":[\"utf-32\",\"utf-8\"]}}}}");
    cJSON *r = next_message(&h, true);
    const cJSON *caps = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "capabilities");
    ck_assert_str_eq(cJSON_GetObjectItem(caps, "positionEncoding")->valuestring, "utf-8");
    cJSON_Delete(r);
    ck_assert_int_eq(finish(&h), 1); /* the input ended without exit */
}
END_TEST

START_TEST(server__malformed_input_is_answered_and_survived)
{
    harness h;
    start(&h, false);
    initialize(&h, "[]");
    static const char garbage[] = "hello\r\n\r\nContent-Length: 4\r\n\r\n{x:1";
    send_raw(&h, garbage, sizeof(garbage) - 1);
    cJSON *r = next_message(&h, true);
    ck_assert_int_eq(error_code(r), -32700); /* the header */
    cJSON_Delete(r);
    r = next_message(&h, true);
    ck_assert_int_eq(error_code(r), -32700); /* the body */
    cJSON_Delete(r);
    send_json(&h, "[1,2]");
    r = next_message(&h, true);
    ck_assert_int_eq(error_code(r), -32600);
    cJSON_Delete(r);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"x\"}");
    r = next_message(&h, true);
    ck_assert_int_eq(error_code(r), -32600);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(r, "id")));
    cJSON_Delete(r);
    send_raw(&h, "Content-Length: 104857600\r\n\r\n", 29);
    r = next_message(&h, true);
    ck_assert_int_eq(error_code(r), -32600);
    cJSON_Delete(r);
    ck_assert_int_eq(finish(&h), 1); /* the body never came: the input ends */
}
END_TEST

START_TEST(server__unknown_request_is_method_not_found)
{
    harness h;
    start(&h, false);
    initialize(&h, "[]");
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"kiln/unknownNotification\"}");
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"kiln/unknown\"}");
    cJSON *r = next_message(&h, true);
    ck_assert_int_eq(error_code(r), -32601);
    ck_assert_str_eq(cJSON_GetObjectItem(r, "id")->valuestring, "s1");
    cJSON_Delete(r);
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* With the model                                                                             */
/* ------------------------------------------------------------------------------------------ */

static void open_doc(harness *h)
{
    send_json(h,
              "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{"
              "\"textDocument\":{\"uri\":\"file:///t.py\",\"languageId\":\"python\","
              "\"version\":1,\"text\":\"# \xf0\x9f\x98\x80\\ndef add(a, b):\\n    return\\n\"}}}");
    /* Incremental edits: " a" typed after return, then " +" (UTF-16 columns). */
    send_json(h, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{"
                 "\"textDocument\":{\"uri\":\"file:///t.py\",\"version\":2},\"contentChanges\":["
                 "{\"range\":{\"start\":{\"line\":2,\"character\":10},\"end\":{\"line\":2,"
                 "\"character\":10}},\"text\":\" a\"},"
                 "{\"range\":{\"start\":{\"line\":2,\"character\":12},\"end\":{\"line\":2,"
                 "\"character\":12}},\"text\":\" +\"}]}}");
}

static void request_completion(harness *h, int id, const char *method, int character)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///t.py\"},\"position\":{\"line\":2,\"character\":%d}}}",
             id, method, character);
    send_json(h, msg);
}

START_TEST(server__inline_completion_after_edits_parses)
{
    harness h;
    start(&h, true);
    initialize(&h, "[\"utf-16\"]");
    open_doc(&h);
    request_completion(&h, 10, "textDocument/inlineCompletion", 14);
    cJSON *r = next_message(&h, true);
    ck_assert_int_eq(response_id(r), 10);
    const cJSON *items = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "items");
    ck_assert_int_ge(cJSON_GetArraySize(items), 1);
    const char *text = cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "insertText")->valuestring;
    ck_assert_ptr_null(strchr(text, '\n')); /* one line */
    cJSON_Delete(r);
    /* One more character: the cached prompt is reused but for its tail. */
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{"
                  "\"textDocument\":{\"uri\":\"file:///t.py\",\"version\":3},\"contentChanges\":["
                  "{\"range\":{\"start\":{\"line\":2,\"character\":14},\"end\":{\"line\":2,"
                  "\"character\":14}},\"text\":\" b\"}]}}");
    request_completion(&h, 11, "textDocument/completion", 16);
    r = next_message(&h, true);
    const cJSON *res = cJSON_GetObjectItem(r, "result");
    const cJSON *stats = cJSON_GetObjectItem(res, "kiln");
    int prompt = cJSON_GetObjectItem(stats, "promptTokens")->valueint;
    int decoded = cJSON_GetObjectItem(stats, "decodedTokens")->valueint;
    ck_assert_int_gt(prompt, 10);
    ck_assert_int_le(decoded, 3);
    cJSON_Delete(r);
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

START_TEST(server__cancel_and_supersession_answer_32800)
{
    harness h;
    start(&h, true);
    initialize(&h, "[\"utf-16\"]");
    open_doc(&h);
    /* Three completions of one document: each supersedes the one before it (queued or
       running), and the last is canceled. */
    request_completion(&h, 20, "textDocument/completion", 14);
    request_completion(&h, 21, "textDocument/completion", 14);
    request_completion(&h, 22, "textDocument/completion", 14);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":22}}");
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        cJSON *r = next_message(&h, true);
        int id = response_id(r);
        if (id == 20 || id == 21 || id == 22) {
            seen |= 1 << (id - 20);
        }
        ck_assert_int_eq(error_code(r), -32800);
        cJSON_Delete(r);
    }
    ck_assert_int_eq(seen, 7);
    /* The server still serves. */
    request_completion(&h, 23, "textDocument/inlineCompletion", 14);
    cJSON *r = next_message(&h, true);
    ck_assert_int_eq(response_id(r), 23);
    ck_assert_int_eq(error_code(r), 0);
    cJSON_Delete(r);
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

static const char stub_doc[] =
    "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":{"
    "\"uri\":\"file:///s.py\",\"languageId\":\"python\",\"version\":1,\"text\":"
    "\"def add(a, b):\\n    \\\"\\\"\\\"Sum.\\n    >>> add(2, 3)\\n    5\\n    \\\"\\\"\\\"\\n"
    "    pass\\n\\n\\ndef neg(x):\\n    return -x\\n\"}}}";

static cJSON *code_actions(harness *h, int id, int line)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"textDocument/codeAction\",\"params\":"
             "{\"textDocument\":{\"uri\":\"file:///s.py\"},\"range\":{\"start\":{\"line\":%d,"
             "\"character\":1},\"end\":{\"line\":%d,\"character\":1}},\"context\":{}}}",
             id, line, line);
    send_json(h, msg);
    cJSON *r = next_message(h, true);
    ck_assert_int_eq(response_id(r), id);
    return r;
}

START_TEST(server__implement_applies_a_tested_candidate)
{
    harness h;
    start(&h, true);
    initialize(&h, "[\"utf-16\"]");
    send_json(&h, stub_doc);
    cJSON *r = code_actions(&h, 30, 9); /* neg: implemented, no action */
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "result")), 0);
    cJSON_Delete(r);
    r = code_actions(&h, 31, 5); /* add's `pass` */
    const cJSON *action = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "result"), 0);
    ck_assert_ptr_nonnull(action);
    const cJSON *cmd = cJSON_GetObjectItem(action, "command");
    ck_assert_str_eq(cJSON_GetObjectItem(cmd, "command")->valuestring, "kiln.implement");
    char *args = cJSON_PrintUnformatted(cJSON_GetObjectItem(cmd, "arguments"));
    cJSON_Delete(r);
    char msg[512];
    snprintf(msg, sizeof(msg),
             "{\"jsonrpc\":\"2.0\",\"id\":32,\"method\":\"workspace/executeCommand\",\"params\":"
             "{\"command\":\"kiln.implement\",\"arguments\":%s,\"workDoneToken\":\"w\"}}",
             args);
    cJSON_free(args);
    send_json(&h, msg);
    bool edited = false;
    bool progress = false;
    for (;;) {
        cJSON *m = next_message(&h, false);
        const cJSON *method = cJSON_GetObjectItem(m, "method");
        if (method && strcmp(method->valuestring, "workspace/applyEdit") == 0) {
            edited = true;
        } else if (method && strcmp(method->valuestring, "$/progress") == 0) {
            progress = true;
        } else if (!method && response_id(m) == 32) {
            ck_assert_int_eq(error_code(m), 0);
            const cJSON *res = cJSON_GetObjectItem(m, "result");
            ck_assert_str_eq(cJSON_GetObjectItem(res, "name")->valuestring, "add");
            cJSON_Delete(m);
            break;
        }
        cJSON_Delete(m);
    }
    ck_assert(edited);
    ck_assert(progress);
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

/* The arguments of add's kiln.implement action (cJSON_free them). */
static char *implement_args(harness *h, int id)
{
    cJSON *r = code_actions(h, id, 5);
    const cJSON *action = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "result"), 0);
    ck_assert_ptr_nonnull(action);
    const cJSON *cmd = cJSON_GetObjectItem(action, "command");
    char *args = cJSON_PrintUnformatted(cJSON_GetObjectItem(cmd, "arguments"));
    cJSON_Delete(r);
    return args;
}

/* kiln.implement as request id, with a workDoneToken "w<id>". */
static void execute_implement(harness *h, int id, const char *args)
{
    char msg[512];
    snprintf(msg, sizeof(msg),
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"workspace/executeCommand\",\"params\":"
             "{\"command\":\"kiln.implement\",\"arguments\":%s,\"workDoneToken\":\"w%d\"}}",
             id, args, id);
    send_json(h, msg);
}

/* Waits for the "begin" progress of request id (its pipeline is being set up). */
static void wait_begin(harness *h, int id)
{
    char token[16];
    snprintf(token, sizeof(token), "w%d", id);
    for (;;) {
        cJSON *m = next_message(h, false);
        const cJSON *method = cJSON_GetObjectItem(m, "method");
        const cJSON *params = cJSON_GetObjectItem(m, "params");
        const cJSON *tok = cJSON_GetObjectItem(params, "token");
        const cJSON *kind = cJSON_GetObjectItem(cJSON_GetObjectItem(params, "value"), "kind");
        const bool begun = method && strcmp(method->valuestring, "$/progress") == 0 &&
                           cJSON_IsString(tok) && strcmp(tok->valuestring, token) == 0 &&
                           cJSON_IsString(kind) && strcmp(kind->valuestring, "begin") == 0;
        ck_assert_int_ne(response_id(m), id); /* not answered before it began */
        cJSON_Delete(m);
        if (begun) {
            return;
        }
    }
}

/* kiln.implement runs on a worker thread, its candidates on the server's queue: a completion
 * asked for while it runs is answered first, a second kiln.implement is refused at once, and a
 * canceled one answers -32800. */
START_TEST(server__completion_is_answered_while_implement_runs)
{
    harness h;
    start(&h, true);
    initialize(&h, "[\"utf-16\"]");
    send_json(&h, stub_doc);
    open_doc(&h);
    char *args = implement_args(&h, 40);
    execute_implement(&h, 41, args);
    request_completion(&h, 42, "textDocument/inlineCompletion", 14);
    int order[2] = {0, 0};
    for (int n = 0; n < 2;) {
        cJSON *m = next_message(&h, true);
        const int id = response_id(m);
        if (id == 41 || id == 42) {
            ck_assert_int_eq(error_code(m), 0);
            order[n++] = id;
        }
        cJSON_Delete(m);
    }
    ck_assert_int_eq(order[0], 42); /* the completion did not wait for the pipeline */
    ck_assert_int_eq(order[1], 41);

    /* One at a time; a cancel reaches the worker's pipeline. */
    execute_implement(&h, 43, args);
    wait_begin(&h, 43);
    execute_implement(&h, 44, args);
    cJSON *m = next_message(&h, true);
    ck_assert_int_eq(response_id(m), 44);
    ck_assert_int_eq(error_code(m), LSP_ERR_REQUEST_FAILED);
    cJSON_Delete(m);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":43}}");
    m = next_message(&h, true);
    ck_assert_int_eq(response_id(m), 43);
    ck_assert_int_eq(error_code(m), LSP_ERR_REQUEST_CANCELLED);
    cJSON_Delete(m);
    cJSON_free(args);
    /* The server goes on serving. */
    request_completion(&h, 45, "textDocument/inlineCompletion", 14);
    cJSON *r = next_message(&h, true);
    ck_assert_int_eq(response_id(r), 45);
    ck_assert_int_eq(error_code(r), 0);
    cJSON_Delete(r);
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

START_TEST(server__c_prototypes_and_empty_bodies_are_stubs)
{
    harness h;
    start(&h, true);
    initialize(&h, "[\"utf-16\"]");
    send_json(&h,
              "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{"
              "\"textDocument\":{\"uri\":\"file:///s.py\",\"languageId\":\"c\",\"version\":1,"
              "\"text\":\"/* Larger. */\\nint max2(int a, int b);\\n\\nint sq(int x)\\n{\\n"
              "    /* TODO */\\n}\\n\\nint main(void)\\n{\\n    return max2(1, 2);\\n}\\n\"}}}");
    /* languageId "c" wins over the ".py" of the uri. */
    static const int lines[] = {1, 5, 10};
    static const char *const titles[] = {"kiln: implement and test max2",
                                         "kiln: implement and test sq", NULL};
    for (int i = 0; i < 3; i++) {
        cJSON *r = code_actions(&h, 40 + i, lines[i]);
        const cJSON *action = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "result"), 0);
        if (titles[i]) {
            ck_assert_ptr_nonnull(action);
            ck_assert_str_eq(cJSON_GetObjectItem(action, "title")->valuestring, titles[i]);
        } else {
            ck_assert_ptr_null(action); /* main has a body */
        }
        cJSON_Delete(r);
    }
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

/* A document's completions see what it imports from another open document (the editor's
   unsaved text: the files exist nowhere on disk), until the configuration turns it off. */
START_TEST(server__completion_context_from_open_documents)
{
    harness h;
    start(&h, true);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                  "\"rootUri\":\"file:///kiln-ws%20test\",\"capabilities\":{}}}");
    cJSON *r = next_message(&h, true);
    cJSON_Delete(r);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{"
                  "\"textDocument\":{\"uri\":\"file:///kiln-ws%20test/pkg/helpers.py\","
                  "\"languageId\":\"python\",\"version\":1,\"text\":\"def scale(value, "
                  "factor):\\n    \\\"\\\"\\\"Scales.\\\"\\\"\\\"\\n    return value * "
                  "factor\\n\"}}}");
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{"
                  "\"textDocument\":{\"uri\":\"file:///kiln-ws%20test/main.py\","
                  "\"languageId\":\"python\",\"version\":1,\"text\":\"from pkg.helpers "
                  "import scale\\n\\ndef twice(x):\\n    return scale(\\n\"}}}");
#define CONTEXT_REQ                                                                                \
    "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"textDocument/completion\",\"params\":{"           \
    "\"textDocument\":{\"uri\":\"file:///kiln-ws%%20test/main.py\"},\"position\":{\"line\":3,"     \
    "\"character\":17}}}"
    char msg[512];
    snprintf(msg, sizeof(msg), CONTEXT_REQ, 2);
    send_json(&h, msg);
    r = next_message(&h, true);
    ck_assert_int_eq(response_id(r), 2);
    const cJSON *stats = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "kiln");
    ck_assert_int_gt(cJSON_GetObjectItem(stats, "contextTokens")->valueint, 5);
    int with_context = cJSON_GetObjectItem(stats, "promptTokens")->valueint;
    cJSON_Delete(r);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"workspace/didChangeConfiguration\","
                  "\"params\":{\"settings\":{\"kiln\":{\"contextTokens\":0}}}}");
    snprintf(msg, sizeof(msg), CONTEXT_REQ, 3);
    send_json(&h, msg);
    r = next_message(&h, true);
    ck_assert_int_eq(response_id(r), 3);
    stats = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "kiln");
    ck_assert_int_eq(cJSON_GetObjectItem(stats, "contextTokens")->valueint, 0);
    ck_assert_int_lt(cJSON_GetObjectItem(stats, "promptTokens")->valueint, with_context);
    cJSON_Delete(r);
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

/* Resolving a completion item runs the completed function's docstring examples in the
   sandbox (where the host has one); an item of an older version comes back as it was. */
START_TEST(server__resolve_adds_the_tests_verdict)
{
    sbx_pool_options po = sbx_pool_options_default();
    po.n_slots = 1;
    sbx_pool *probe = NULL;
    bool sandbox = sbx_pool_new(&probe, &po, NULL) == 0;
    sbx_pool_free(probe);
    harness h;
    start(&h, true);
    initialize(&h, "[\"utf-16\"]");
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{"
                  "\"textDocument\":{\"uri\":\"file:///kiln-resolve/m.py\",\"languageId\":"
                  "\"python\",\"version\":4,\"text\":\"def add(a, b):\\n    \\\"\\\"\\\"Adds."
                  "\\n\\n    >>> add(2, 3)\\n    5\\n    \\\"\\\"\\\"\\n    return \\n\"}}}");
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"id\":40,\"method\":\"textDocument/completion\","
                  "\"params\":{\"textDocument\":{\"uri\":\"file:///kiln-resolve/m.py\"},"
                  "\"position\":{\"line\":6,\"character\":11}}}");
    cJSON *r = next_message(&h, true);
    ck_assert_int_eq(response_id(r), 40);
    cJSON *item =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "items"), 0);
    ck_assert_ptr_nonnull(item);
    const cJSON *data = cJSON_GetObjectItem(item, "data");
    ck_assert_int_eq(cJSON_GetObjectItem(data, "version")->valueint, 4);
    ck_assert_int_eq(cJSON_GetObjectItem(data, "at")->valueint, 72);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(req, "id", 41);
    cJSON_AddStringToObject(req, "method", "completionItem/resolve");
    cJSON_AddItemToObject(req, "params", cJSON_Duplicate(item, true));
    char *text = cJSON_PrintUnformatted(req);
    send_json(&h, text);
    cJSON_free(text);
    cJSON *res = next_message(&h, true);
    ck_assert_int_eq(response_id(res), 41);
    const cJSON *k = cJSON_GetObjectItem(cJSON_GetObjectItem(res, "result"), "kiln");
    if (sandbox) {
        ck_assert_ptr_nonnull(k);
        ck_assert_str_eq(cJSON_GetObjectItem(k, "function")->valuestring, "add");
        /* One docstring example ran, unless the completion kept the module from loading (a
           model on other kernels may complete differently: still a verdict). */
        const char *verdict = cJSON_GetObjectItem(k, "verdict")->valuestring;
        if (strcmp(verdict, "error") != 0) {
            ck_assert_int_eq(cJSON_GetObjectItem(k, "testsRun")->valueint, 1);
        }
        ck_assert_ptr_nonnull(
            cJSON_GetObjectItem(cJSON_GetObjectItem(res, "result"), "documentation"));
    } else {
        ck_assert_ptr_null(k);
    }
    cJSON_Delete(res);
    /* The same item once the document moved on: unchanged. */
    cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(req, "params"), "data"), "version")
        ->valuedouble = 3;
    cJSON_GetObjectItem(req, "id")->valuedouble = 42;
    text = cJSON_PrintUnformatted(req);
    send_json(&h, text);
    cJSON_free(text);
    res = next_message(&h, true);
    ck_assert_int_eq(response_id(res), 42);
    ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "result"), "kiln"));
    cJSON_Delete(res);
    cJSON_Delete(req);
    cJSON_Delete(r);
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

/* Waits for a window/showMessage and returns its type. */
static int next_show_message(harness *h, char *text, size_t cap)
{
    for (;;) {
        cJSON *m = next_message(h, false);
        const cJSON *method = cJSON_GetObjectItem(m, "method");
        if (method && strcmp(method->valuestring, "window/showMessage") == 0) {
            const cJSON *p = cJSON_GetObjectItem(m, "params");
            int type = cJSON_GetObjectItem(p, "type")->valueint;
            snprintf(text, cap, "%s", cJSON_GetObjectItem(p, "message")->valuestring);
            cJSON_Delete(m);
            return type;
        }
        cJSON_Delete(m);
    }
}

/* A completion of t.py (id) answered with a result; returns its decoded prompt tokens. */
static int completion_ok(harness *h, int id)
{
    request_completion(h, id, "textDocument/completion", 14);
    cJSON *r = next_message(h, true);
    ck_assert_int_eq(response_id(r), id);
    ck_assert_int_eq(error_code(r), 0);
    const cJSON *stats = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "kiln");
    int decoded = cJSON_GetObjectItem(stats, "decodedTokens")->valueint;
    cJSON_Delete(r);
    return decoded;
}

/* The configuration switches the model: a path that does not load is an error message and the
   old model keeps serving; a good one serves the requests after it, and the one queued before
   it is answered first. */
START_TEST(server__configuration_switches_the_model)
{
    harness h;
    start(&h, true);
    initialize(&h, "[\"utf-16\"]");
    open_doc(&h);
    ck_assert_int_gt(completion_ok(&h, 50), 0);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"workspace/didChangeConfiguration\","
                  "\"params\":{\"settings\":{\"kiln\":{\"model\":\"/nonexistent/m.gguf\"}}}}");
    char text[1024];
    ck_assert_int_eq(next_show_message(&h, text, sizeof(text)), 1);
    ck_assert_ptr_nonnull(strstr(text, "/nonexistent/m.gguf"));
    ck_assert_int_le(completion_ok(&h, 51), 3); /* the same session: its cache survived */

    /* A completion, the switch and another completion, back to back. */
    request_completion(&h, 52, "textDocument/completion", 14);
    send_json(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"workspace/didChangeConfiguration\","
                  "\"params\":{\"settings\":{\"kiln\":{\"model\":\"" MODEL_PATH "\","
                  "\"threads\":1}}}}");
    cJSON *r = next_message(&h, true);
    ck_assert_int_eq(response_id(r), 52);
    ck_assert_int_eq(error_code(r), 0);
    cJSON_Delete(r);
    ck_assert_int_eq(next_show_message(&h, text, sizeof(text)), 3);
    ck_assert_ptr_nonnull(strstr(text, MODEL_PATH));
    ck_assert_int_gt(completion_ok(&h, 53), 3); /* a new session on the new model */
    ck_assert_int_eq(finish(&h), 1);
}
END_TEST

TCase *tcase_server(void)
{
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, server__lifecycle_and_exit_codes);
    tcase_add_test(tc, server__exit_without_shutdown_is_1);
    tcase_add_test(tc, server__utf8_is_chosen_when_offered);
    tcase_add_test(tc, server__malformed_input_is_answered_and_survived);
    tcase_add_test(tc, server__unknown_request_is_method_not_found);
    return tc;
}

TCase *tcase_server_model(void)
{
    TCase *tc = tcase_create("server_model");
    tcase_set_tags(tc, "slow");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, server__inline_completion_after_edits_parses);
    tcase_add_test(tc, server__cancel_and_supersession_answer_32800);
    tcase_add_test(tc, server__implement_applies_a_tested_candidate);
    tcase_add_test(tc, server__completion_is_answered_while_implement_runs);
    tcase_add_test(tc, server__c_prototypes_and_empty_bodies_are_stubs);
    tcase_add_test(tc, server__completion_context_from_open_documents);
    tcase_add_test(tc, server__resolve_adds_the_tests_verdict);
    tcase_add_test(tc, server__configuration_switches_the_model);
    return tc;
}
