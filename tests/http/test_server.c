/*
 * Tests of http/server.c and http/generate.c on a loopback port with the default model: /health
 * before and after the model is ready, the API key, 404/405/413 and 400 answers, a completion
 * whole and streamed (SSE framing, [DONE], usage), a client that hangs up mid-stream has its
 * sequence canceled, a stop with a request running answers it and ends, logit_bias bans and
 * forces tokens on both OpenAI endpoints, and a stream's tokens reach the client while it
 * decodes (the wake-ups the queue's steps gather).
 */
#include "tests/http/tests.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "gen/gen.h"
#include "http/http.h"
#include "http/http_int.h"

#define SERVER_MODEL KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

static gen_model *model;
static http_server *server;

static void start(const char *api_key)
{
    core_err err = {0};
    http_server_options o = http_server_options_default();
    o.port = 0;
    o.n_parallel = 2;
    o.n_ctx = 256;
    o.n_compute = 1;
    o.body_max = 4096;
    o.api_key = api_key;
    ck_assert_msg(http_server_new(&server, &o, &err) == 0, "%s", err.msg);
}

static void make_ready(void)
{
    core_err err = {0};
    ck_assert_msg(gen_model_load(&model, SERVER_MODEL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(http_server_ready(server, model, NULL, &err) == 0, "%s", err.msg);
}

static void stop(void)
{
    http_server_free(server);
    server = NULL;
    gen_model_free(model);
    model = NULL;
}

START_TEST(server__health_key_and_errors)
{
    start("sekrit");
    const uint16_t port = http_server_port(server);
    ck_assert_uint_gt(port, 0);
    core_buf b = {0};
    int status = 0;
    request(&b, &status, port, "GET", "/health", NULL, NULL);
    ck_assert_int_eq(status, 503);
    ck_assert_ptr_nonnull(strstr(b.ptr, "Retry-After: 1"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "Loading model"));
    make_ready();
    request(&b, &status, port, "GET", "/health", NULL, NULL);
    ck_assert_int_eq(status, 200);
    request(&b, &status, port, "GET", "/v1/models", NULL, NULL);
    ck_assert_int_eq(status, 401);
    ck_assert_ptr_nonnull(strstr(b.ptr, "authentication_error"));
    request(&b, &status, port, "GET", "/v1/models", "Authorization: Bearer sekriT\r\n", NULL);
    ck_assert_int_eq(status, 401);
    request(&b, &status, port, "GET", "/v1/models", "Authorization: Bearer sekrit2\r\n", NULL);
    ck_assert_int_eq(status, 401);
    const char *key = "Authorization: Bearer sekrit\r\n";
    request(&b, &status, port, "GET", "/v1/models", key, NULL);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"object\":\"list\""));
    request(&b, &status, port, "GET", "/nowhere", key, NULL);
    ck_assert_int_eq(status, 404);
    request(&b, &status, port, "GET", "/v1/completions", key, NULL);
    ck_assert_int_eq(status, 405);
    ck_assert_ptr_nonnull(strstr(b.ptr, "Allow: POST"));
    char big[6000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    request(&b, &status, port, "POST", "/v1/completions", key, big);
    ck_assert_int_eq(status, 413);
    request(&b, &status, port, "POST", "/v1/completions", key, "{\"prompt\":\"a\",\"n\":99}");
    ck_assert_int_eq(status, 400);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"param\":\"n\""));
    request(&b, &status, port, "POST", "/v1/completions", key, "{\"prompt\":");
    ck_assert_int_eq(status, 400);
    /* The grammar is fed the prompt: Python is not the start of a C program. */
    request(&b, &status, port, "POST", "/v1/completions", key,
            "{\"prompt\":\"def add(a, b):\\n\",\"grammar\":\"c\"}");
    ck_assert_int_eq(status, 400);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"param\":\"prompt\""));
    request(&b, &status, port, "POST", "/tokenize", key, "{\"content\":\"hello world\"}");
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(b.ptr, "{\"tokens\":["));
    request(&b, &status, port, "POST", "/detokenize", key, "{\"tokens\":[99999999]}");
    ck_assert_int_eq(status, 400);
    request(&b, &status, port, "GET", "/metrics", key, NULL);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(
        strstr(b.ptr, "kiln_requests_total{route=\"/v1/completions\",status=\"400\"} 3"));
    core_buf_dispose(&b);
    stop();
}
END_TEST

START_TEST(server__completion_whole_and_streamed)
{
    start(NULL);
    make_ready();
    const uint16_t port = http_server_port(server);
    core_buf b = {0};
    int status = 0;
    request(&b, &status, port, "POST", "/v1/completions", NULL,
            "{\"prompt\":\"def add(a, b):\",\"max_tokens\":6,\"temperature\":0}");
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"finish_reason\":\"length\""));
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"completion_tokens\":6"));
    request(&b, &status, port, "POST", "/v1/completions", NULL,
            "{\"prompt\":[\"def a():\",\"def b():\"],\"max_tokens\":2,\"echo\":true,"
            "\"temperature\":0}");
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"index\":0,\"text\":\"def a():"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"index\":1,\"text\":\"def b():"));
    request(&b, &status, port, "POST", "/v1/chat/completions", NULL,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":5,"
            "\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(b.ptr, "Content-Type: text/event-stream"));
    /* Count the events: 5 tokens (the last carries finish_reason), usage, [DONE]. */
    size_t n_data = 0;
    for (const char *p = b.ptr; (p = strstr(p, "data: ")) != NULL; p += 6) {
        n_data++;
    }
    ck_assert_uint_eq(n_data, 7);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"delta\":{\"role\":\"assistant\""));
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"completion_tokens\":5"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "data: [DONE]\n\n"));
    core_buf_dispose(&b);
    stop();
}
END_TEST

/* The "prompt_tokens" of an answer. */
static long prompt_tokens(const core_buf *b)
{
    const char *at = strstr(b->ptr, "\"prompt_tokens\":");
    ck_assert_ptr_nonnull(at);
    return strtol(at + strlen("\"prompt_tokens\":"), NULL, 10);
}

/* Tokens of text (special tokens parsed); add_special as /v1/completions does. */
static long n_tokens_as(const char *text, bool add_special)
{
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(gen_model_tokenize(model, core_str_c(text), add_special, true, &ids, &n, NULL),
                     0);
    core_free(ids);
    return (long)n;
}

/* Tokens of text as the chat endpoint tokenizes its prompt. */
static long n_tokens_of(const char *text)
{
    return n_tokens_as(text, false);
}

START_TEST(server__chat_turns_and_fim_prompt)
{
    start(NULL);
    make_ready();
    const uint16_t port = http_server_port(server);
    core_buf b = {0};
    int status = 0;
    /* Every message is a turn of the template: the prompt is the whole conversation. */
    request(&b, &status, port, "POST", "/v1/chat/completions", NULL,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"My name is Ann.\"},"
            "{\"role\":\"assistant\",\"content\":\"Hello Ann!\"},"
            "{\"role\":\"user\",\"content\":\"What is my name?\"}],\"max_tokens\":1}");
    ck_assert_int_eq(status, 200);
    const gen_chat_message turns[3] = {{core_str_c("user"), core_str_c("My name is Ann.")},
                                       {core_str_c("assistant"), core_str_c("Hello Ann!")},
                                       {core_str_c("user"), core_str_c("What is my name?")}};
    core_buf want = {0};
    ck_assert_int_eq(gen_model_chat_apply_messages(model, turns, 3, &want, NULL), 0);
    ck_assert_ptr_nonnull(strstr(want.ptr, "<|im_start|>assistant\nHello Ann!<|im_end|>"));
    ck_assert_int_eq(prompt_tokens(&b), n_tokens_of(want.ptr));
    /* SmolLM2 has no FIM tokens: a suffix leaves the prompt as it is. */
    request(&b, &status, port, "POST", "/v1/completions", NULL,
            "{\"prompt\":\"def add(a, b):\",\"suffix\":\"\\n    return c\\n\",\"max_tokens\":1}");
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(prompt_tokens(&b), n_tokens_as("def add(a, b):", true));
    /* With FIM tokens the prompt is [BOS] <prefix> prefix <suffix> suffix <middle>. */
    const int32_t fim[3] = {7, 8, 9};
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(http__fim_prompt(model, fim, core_str_c("def f(x):"),
                                      core_str_c("\n    return y\n"), &ids, &n, NULL),
                     0);
    const long n_pre = n_tokens_of("def f(x):");
    const long n_suf = n_tokens_of("\n    return y\n");
    const size_t at = gen_model_token_bos(model) >= 0 ? 1 : 0;
    ck_assert_uint_eq(n, at + (size_t)n_pre + (size_t)n_suf + 3);
    ck_assert_int_eq(ids[at], 7);
    ck_assert_int_eq(ids[at + 1 + (size_t)n_pre], 8);
    ck_assert_int_eq(ids[n - 1], 9);
    core_free(ids);
    core_buf_dispose(&want);
    core_buf_dispose(&b);
    stop();
}
END_TEST

/* The first choice's "text" (or chat "content") of an answer, unescaped only as far as the
   test's pieces need (they hold no quotes or backslashes). */
static void answer_text(const core_buf *b, const char *field, char *out, size_t size)
{
    char key[32];
    snprintf(key, sizeof(key), "\"%s\":\"", field);
    const char *at = strstr(b->ptr, key);
    ck_assert_msg(at != NULL, "no %s in %s", field, b->ptr);
    at += strlen(key);
    const char *end = strchr(at, '"');
    ck_assert_ptr_nonnull(end);
    ck_assert_uint_lt((size_t)(end - at), size);
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = '\0';
}

/* POSTs body to /v1/completions and copies the first choice's text into out. */
static void completion_text(uint16_t port, const char *body, char *out, size_t size)
{
    core_buf b = {0};
    int status = 0;
    request(&b, &status, port, "POST", "/v1/completions", NULL, body);
    ck_assert_int_eq(status, 200);
    answer_text(&b, "text", out, size);
    core_buf_dispose(&b);
}

/* The one token of piece (no special tokens), or -1 when it is not one token. */
static int32_t one_token(const char *piece)
{
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(gen_model_tokenize(model, core_str_c(piece), false, false, &ids, &n, NULL), 0);
    const int32_t id = n == 1 ? ids[0] : -1;
    core_free(ids);
    return id;
}

START_TEST(server__logit_bias_bans_and_forces)
{
    start(NULL);
    make_ready();
    const uint16_t port = http_server_port(server);
    core_buf b = {0};
    int status = 0;
    char body[512];
    char first[64];
    char text[64];
    /* Completions: the greedy first token, then the same request with it banned. */
    completion_text(
        port, "{\"prompt\":\"def add(a, b):\\n    return\",\"max_tokens\":1,\"temperature\":0}",
        first, sizeof(first));
    const int32_t greedy = one_token(first);
    ck_assert_int_ge(greedy, 0);
    snprintf(body, sizeof(body),
             "{\"prompt\":\"def add(a, b):\\n    return\",\"max_tokens\":1,\"temperature\":0,"
             "\"logit_bias\":{\"%d\":-100}}",
             (int)greedy);
    completion_text(port, body, text, sizeof(text));
    ck_assert_str_ne(text, first);
    /* +100 makes a token the choice at every step, also sampling. */
    const int32_t forced = one_token(" zebra");
    ck_assert_int_ge(forced, 0);
    snprintf(body, sizeof(body),
             "{\"prompt\":\"def add(a, b):\\n    return\",\"max_tokens\":3,\"temperature\":0.7,"
             "\"seed\":5,\"logit_bias\":{\"%d\":100}}",
             (int)forced);
    completion_text(port, body, text, sizeof(text));
    ck_assert_str_eq(text, " zebra zebra zebra");
    /* Chat, streamed: the same rules on the other endpoint. */
    snprintf(body, sizeof(body),
             "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":2,"
             "\"stream\":true,\"temperature\":0,\"logit_bias\":{\"%d\":100}}",
             (int)forced);
    request(&b, &status, port, "POST", "/v1/chat/completions", NULL, body);
    ck_assert_int_eq(status, 200);
    size_t n_zebra = 0;
    for (const char *at = b.ptr; (at = strstr(at, "\"content\":\" zebra\"")) != NULL; at++) {
        n_zebra++;
    }
    ck_assert_uint_eq(n_zebra, 2);
    /* Out of the vocabulary, out of range: 400 naming the field. */
    snprintf(body, sizeof(body), "{\"prompt\":\"x\",\"logit_bias\":{\"%zu\":1}}",
             gen_model_n_vocab(model));
    request(&b, &status, port, "POST", "/v1/completions", NULL, body);
    ck_assert_int_eq(status, 400);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"param\":\"logit_bias\""));
    request(&b, &status, port, "POST", "/v1/chat/completions", NULL,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"logit_bias\":{\"1\":-200}}");
    ck_assert_int_eq(status, 400);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"param\":\"logit_bias\""));
    core_buf_dispose(&b);
    stop();
}
END_TEST

/* Waits (10 s at most) until no sequence decodes; b holds the last /metrics. */
static void wait_no_sequence(uint16_t port, core_buf *b)
{
    int status = 0;
    const uint64_t t0 = core_time_ns();
    for (;;) {
        request(b, &status, port, "GET", "/metrics", NULL, NULL);
        if (strstr(b->ptr, "kiln_sequences_decoding 0\n")) {
            break;
        }
        ck_assert_uint_lt(core_time_ns() - t0, 10000000000ull);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
}

/* Starts a ready server without a key and sends it a completion request; returns the socket. */
static int post_to_new_server(uint16_t *port, const char *body)
{
    start(NULL);
    make_ready();
    *port = http_server_port(server);
    int fd = connect_to(*port);
    send_request(fd, "POST", "/v1/completions", NULL, body);
    return fd;
}

START_TEST(server__hang_up_cancels)
{
    uint16_t port = 0;
    int fd = post_to_new_server(&port, "{\"prompt\":\"Once\",\"max_tokens\":200,\"stream\":true}");
    char buf[256];
    ck_assert_int_gt(recv(fd, buf, sizeof(buf), 0), 0); /* the stream started */
    close(fd);
    /* The sequence is canceled long before its 200 tokens. */
    core_buf b = {0};
    wait_no_sequence(port, &b);
    const char *gen = strstr(b.ptr, "\nkiln_generated_tokens_total ");
    ck_assert_ptr_nonnull(gen);
    const unsigned long n_gen = strtoul(gen + strlen("\nkiln_generated_tokens_total "), NULL, 10);
    ck_assert_uint_lt(n_gen, 200);
    core_buf_dispose(&b);
    stop();
}
END_TEST

START_TEST(server__stop_answers_running_requests)
{
    uint16_t port = 0;
    int fd = post_to_new_server(&port, "{\"prompt\":\"Once\",\"max_tokens\":4000,\"n_predict\":200,"
                                       "\"ignore_eos\":true}");
    /* ignore_eos: the model's end of text must not finish the request before the stop */
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    http_server_stop(server, 100);
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 503"));
    close(fd);
    stop();
}
END_TEST

/* Count of the occurrences of needle in s. */
static size_t count_of(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* Tokens' events arrive one by one while the request still has hundreds of tokens to decode:
 * the worker wakes the connection at the end of each token's step, not only with the last
 * event (a wake-up lost would leave the bytes waiting for the end, or for a keep-alive ping
 * after 2 s of quiet). */
START_TEST(server__tokens_stream_while_decoding)
{
    uint16_t port = 0;
    int fd =
        post_to_new_server(&port, "{\"prompt\":\"Once\",\"max_tokens\":240,\"ignore_eos\":true,"
                                  "\"stream\":true}");
    static char got[65536];
    size_t n_got = 0;
    got[0] = '\0';
    while (count_of(got, "data: {") < 16) {
        ck_assert_uint_lt(n_got, sizeof(got) - 1);
        const ssize_t n = recv(fd, got + n_got, sizeof(got) - 1 - n_got, 0);
        ck_assert_int_gt(n, 0);
        n_got += (size_t)n;
        got[n_got] = '\0';
    }
    /* They came as they were made, not with a keep-alive ping's wake-up. */
    ck_assert_ptr_null(strstr(got, "keep-alive"));
    ck_assert_ptr_null(strstr(got, "[DONE]"));
    core_buf b = {0};
    int status = 0;
    request(&b, &status, port, "GET", "/metrics", NULL, NULL);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(b.ptr, "kiln_sequences_decoding 1\n"));
    close(fd);
    wait_no_sequence(port, &b);
    core_buf_dispose(&b);
    stop();
}
END_TEST

TCase *tcase_server(void)
{
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, server__health_key_and_errors);
    tcase_add_test(tc, server__completion_whole_and_streamed);
    tcase_add_test(tc, server__chat_turns_and_fim_prompt);
    tcase_add_test(tc, server__logit_bias_bans_and_forces);
    tcase_add_test(tc, server__hang_up_cancels);
    tcase_add_test(tc, server__stop_answers_running_requests);
    tcase_add_test(tc, server__tokens_stream_while_decoding);
    return tc;
}
