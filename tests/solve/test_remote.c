/*
 * Tests of solve/remote.c without a server: the SSE reader (line ends, comments, multi-line
 * data, limits), completion chunks (text, finish reasons, the server's errors, garbage), the
 * backend's options, and a refused connection (retries spent, named). The client against real
 * and misbehaving servers is tests/solve/remote_test.py (ctest remote_backend).
 */
#include "tests/solve/tests.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "solve/solve_int.h"

typedef struct events {
    core_buf all; /* each event's data followed by '|' */
    size_t n;
    size_t stop_at; /* return 1 at this event (1-based; 0: never) */
} events;

static int on_event(void *payload, core_str data, core_err *err)
{
    (void)err;
    events *ev = payload;
    ev->n++;
    ck_assert_int_eq(core_buf_append(&ev->all, data.ptr, data.len), 0);
    ck_assert_int_eq(core_buf_append(&ev->all, "|", 1), 0);
    return ev->n == ev->stop_at ? 1 : 0;
}

/* Feeds text one byte at a time (the worst split) and returns the events' data. */
static int feed_bytewise(solve__sse *sse, const char *text, events *ev, core_err *err)
{
    for (size_t i = 0; text[i]; i++) {
        int rc = solve__sse_feed(sse, text + i, 1, on_event, ev, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

START_TEST(remote__sse_events_any_split)
{
    const char *text = ": keep-alive\r\n\r\n"
                       "data: {\"a\":1}\n\n"
                       "event: x\r\ndata:two\r\ndata: lines\r\n\r\n"
                       "id: 3\n\n" /* no data: no event */
                       "data: [DONE]\r\rdata: tail";
    solve__sse sse;
    memset(&sse, 0, sizeof(sse));
    events ev = {{0}, 0, 0};
    core_err err = {0};
    ck_assert_int_eq(feed_bytewise(&sse, text, &ev, &err), 0);
    ck_assert_uint_eq(ev.n, 3);
    ck_assert_str_eq(ev.all.ptr, "{\"a\":1}|two\nlines|[DONE]|");
    ck_assert_uint_eq(sse.line.len, 10); /* "data: tail" waits for its line end */
    solve__sse_dispose(&sse);
    core_buf_dispose(&ev.all);

    /* All at once gives the same. */
    memset(&sse, 0, sizeof(sse));
    events ev2 = {{0}, 0, 0};
    ck_assert_int_eq(solve__sse_feed(&sse, text, strlen(text), on_event, &ev2, &err), 0);
    ck_assert_str_eq(ev2.all.ptr, "{\"a\":1}|two\nlines|[DONE]|");
    solve__sse_dispose(&sse);
    core_buf_dispose(&ev2.all);
}
END_TEST

START_TEST(remote__sse_stop_and_limits)
{
    solve__sse sse;
    memset(&sse, 0, sizeof(sse));
    events ev = {{0}, 0, 1};
    core_err err = {0};
    const char *two = "data: a\n\ndata: b\n\n";
    ck_assert_int_eq(solve__sse_feed(&sse, two, strlen(two), on_event, &ev, &err), 1);
    ck_assert_uint_eq(ev.n, 1);
    solve__sse_dispose(&sse);
    core_buf_dispose(&ev.all);

    memset(&sse, 0, sizeof(sse));
    events ev2 = {{0}, 0, 0};
    const char nul[] = "data: a\0b\n\n";
    ck_assert_int_eq(solve__sse_feed(&sse, nul, sizeof(nul) - 1, on_event, &ev2, &err),
                     CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
    solve__sse_dispose(&sse);

    memset(&sse, 0, sizeof(sse));
    char *big = core_malloc(SOLVE__SSE_LINE_MAX + 16);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', SOLVE__SSE_LINE_MAX + 16);
    ck_assert_int_eq(solve__sse_feed(&sse, big, SOLVE__SSE_LINE_MAX + 16, on_event, &ev2, &err),
                     CORE_EPARSE);
    ck_assert_uint_eq(ev2.n, 0);
    core_free(big);
    solve__sse_dispose(&sse);
    core_buf_dispose(&ev2.all);
}
END_TEST

/* Parses each event as a chunk, into a chunk of its own; allocation failures pass up. */
static int on_event_nomem(void *payload, core_str data, core_err *err)
{
    events *ev = payload;
    solve__chunk c;
    memset(&c, 0, sizeof(c));
    int rc = solve__chunk_parse(&c, data, err);
    core_buf_dispose(&c.text);
    if (rc == 0) {
        ev->n++;
    }
    return rc;
}

static int parse(solve__chunk *c, const char *data, core_err *err)
{
    return solve__chunk_parse(c, core_str_c(data), err);
}

START_TEST(remote__chunks)
{
    solve__chunk c;
    memset(&c, 0, sizeof(c));
    core_err err = {0};
    ck_assert_int_eq(parse(&c, "{\"choices\":[{\"text\":\" ret\",\"finish_reason\":null}]}", &err),
                     0);
    ck_assert_int_eq(parse(&c, "{\"choices\":[{\"text\":\"urn\",\"logprobs\":null}]}", &err), 0);
    ck_assert_str_eq(c.text.ptr, " return");
    ck_assert(!c.finished);
    ck_assert_int_eq(
        parse(&c, "{\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}", &err), 0);
    ck_assert(c.finished);
    ck_assert_int_eq(c.finish, SOLVE_BACKEND_FINISH_LENGTH);
    ck_assert_int_eq(parse(&c, "{\"choices\":[{\"finish_reason\":\"eos\"}]}", &err), 0);
    ck_assert_int_eq(c.finish, SOLVE_BACKEND_FINISH_STOP);
    ck_assert(!c.done);
    ck_assert_int_eq(parse(&c, "[DONE]", &err), 0);
    ck_assert(c.done);
    core_buf_dispose(&c.text);
}
END_TEST

START_TEST(remote__chunk_garbage_named)
{
    static const char *const bad[] = {
        "not json",
        "[1,2]",
        "{\"choices\":[]}",
        "{\"choices\":[{\"text\":3}]}",
        "{\"choices\":[{\"text\":\"a\",\"finish_reason\":1}]}",
        "{\"object\":\"x\"}",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        solve__chunk c;
        memset(&c, 0, sizeof(c));
        core_err err = {0};
        ck_assert_int_eq(parse(&c, bad[i], &err), CORE_EPARSE);
        ck_assert_ptr_nonnull(strstr(err.msg, "backend"));
        core_buf_dispose(&c.text);
    }
    solve__chunk c;
    memset(&c, 0, sizeof(c));
    core_err err = {0};
    ck_assert_int_eq(parse(&c, "{\"error\":{\"message\":\"model overloaded\"}}", &err), CORE_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "model overloaded"));
    core_buf_dispose(&c.text);
}
END_TEST

START_TEST(remote__options_checked)
{
    solve_backend *b = NULL;
    core_err err = {0};
    solve_backend_options o = solve_backend_options_default();
    ck_assert(o.tls_verify);
    ck_assert_int_eq(solve_backend_new(&b, &o, &err), CORE_EINVAL);
    o.url = "ftp://example.org/";
    ck_assert_int_eq(solve_backend_new(&b, &o, &err), CORE_EINVAL);
    ck_assert_ptr_null(b);
    o.url = "http://127.0.0.1:1/v1/";
    o.key = "a\nInjected: header";
    ck_assert_int_eq(solve_backend_new(&b, &o, &err), CORE_EINVAL);
    o.key = "secret";
    ck_assert_int_eq(solve_backend_new(&b, &o, &err), 0);
    ck_assert_str_eq(solve_backend_url(b), "http://127.0.0.1:1/v1/");
    solve_backend_free(b);
    solve_backend_free(NULL);
}
END_TEST

static int never_piece(void *payload, core_str piece, core_err *err)
{
    (void)piece;
    (void)err;
    (*(size_t *)payload)++;
    return 0;
}

START_TEST(remote__refused_connection_retries_then_fails)
{
    /* A port nothing listens on: bind one, then close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));

    solve_backend_options o = solve_backend_options_default();
    o.url = url;
    o.n_retries = 2;
    o.backoff_ms = 10;
    solve_backend *b = NULL;
    core_err err = {0};
    ck_assert_int_eq(solve_backend_new(&b, &o, &err), 0);
    solve_backend_request req;
    memset(&req, 0, sizeof(req));
    req.prompt = core_str_c("def f():");
    req.n_tokens_max = 4;
    solve_backend_finish fin = SOLVE_BACKEND_FINISH_STOP;
    size_t n_http = 0;
    size_t n_pieces = 0;
    int rc = solve_backend_complete(&fin, &n_http, b, &req, never_piece, &n_pieces, NULL, &err);
    ck_assert_int_eq(rc, CORE_ERROR);
    ck_assert_uint_eq(n_http, 3);
    ck_assert_uint_eq(n_pieces, 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "unreachable"));
    solve_backend_free(b);
}
END_TEST

/* Every allocation of the reader and the chunk parser failing in turn: CORE_ENOMEM, no leak. */
START_TEST(remote__sse_alloc_failures)
{
    const char *text = "data: {\"choices\":[{\"text\":\" return x\"}]}\n\ndata: [DONE]\n\n";
    for (long n = 1;; n++) {
        long live = core_alloc_live();
        solve__sse sse;
        memset(&sse, 0, sizeof(sse));
        events ev = {{0}, 0, 0};
        core_err err = {0};
        core_alloc_fail_after(n);
        int rc = solve__sse_feed(&sse, text, strlen(text), on_event_nomem, &ev, &err);
        core_alloc_fail_after(0);
        solve__sse_dispose(&sse);
        core_buf_dispose(&ev.all);
        ck_assert_int_eq(core_alloc_live(), live);
        if (rc == 0) {
            ck_assert_uint_eq(ev.n, 2);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_lt(n, 1000);
    }
}
END_TEST

TCase *tcase_remote(void)
{
    TCase *tc = tcase_create("remote");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, remote__sse_events_any_split);
    tcase_add_test(tc, remote__sse_stop_and_limits);
    tcase_add_test(tc, remote__sse_alloc_failures);
    tcase_add_test(tc, remote__chunks);
    tcase_add_test(tc, remote__chunk_garbage_named);
    tcase_add_test(tc, remote__options_checked);
    tcase_add_test(tc, remote__refused_connection_retries_then_fails);
    return tc;
}
