/*
 * Tests of lsp/rpc.c: frames split at every byte, header names in any case, bodies with NUL
 * bytes, malformed and overlong headers and oversized bodies, after which reading goes on.
 */
#include "tests/lsp/tests.h"

#include <string.h>

#include "lsp/lsp.h"

static lsp_reader *reader_new(size_t body_max)
{
    lsp_reader *r = NULL;
    ck_assert_int_eq(lsp_reader_new(&r, body_max, NULL), 0);
    return r;
}

static void feed(lsp_reader *r, const char *data, size_t len)
{
    ck_assert_int_eq(lsp_reader_feed(r, data, len, NULL), 0);
}

/* Takes the next body and checks it is want (of want_len bytes). */
static void expect_body(lsp_reader *r, const char *want, size_t want_len)
{
    core_str body = {0};
    ck_assert_int_eq(lsp_reader_next(r, &body, NULL), 1);
    ck_assert_uint_eq(body.len, want_len);
    ck_assert_int_eq(memcmp(body.ptr, want, want_len), 0);
}

static const char stream[] =
    "Content-Length: 2\r\n\r\n{}"
    "content-length:3\r\nContent-Type: application/vscode-jsonrpc\r\n\r\n[1]"
    "CONTENT-LENGTH:  0 \r\n\r\n";

START_TEST(rpc__frames_split_anywhere)
{
    for (size_t split = 1; split <= sizeof(stream) - 1; split++) {
        lsp_reader *r = reader_new(LSP_BODY_MAX);
        const char *bodies[] = {"{}", "[1]", ""};
        size_t n_seen = 0;
        for (size_t at = 0; at < sizeof(stream) - 1; at += split) {
            size_t n = sizeof(stream) - 1 - at < split ? sizeof(stream) - 1 - at : split;
            feed(r, stream + at, n);
            core_str body = {0};
            int rc;
            while ((rc = lsp_reader_next(r, &body, NULL)) == 1) {
                ck_assert_uint_lt(n_seen, 3);
                ck_assert_uint_eq(body.len, strlen(bodies[n_seen]));
                ck_assert_int_eq(memcmp(body.ptr, bodies[n_seen], body.len), 0);
                n_seen++;
            }
            ck_assert_int_eq(rc, 0);
        }
        ck_assert_uint_eq(n_seen, 3);
        ck_assert_uint_eq(lsp_reader_n_buffered(r), 0);
        lsp_reader_free(r);
    }
}
END_TEST

START_TEST(rpc__body_may_hold_nul_bytes)
{
    lsp_reader *r = reader_new(LSP_BODY_MAX);
    static const char msg[] = "Content-Length: 5\r\n\r\na\0b\0c";
    feed(r, msg, sizeof(msg) - 1);
    expect_body(r, "a\0b\0c", 5);
    lsp_reader_free(r);
}
END_TEST

START_TEST(rpc__malformed_header_is_dropped_and_reading_goes_on)
{
    lsp_reader *r = reader_new(LSP_BODY_MAX);
    static const char msg[] = "garbage\r\n\r\n"
                              "Content-Length: x1\r\n\r\n"
                              "Content-Type: a\r\n\r\n"
                              "Content-Length: 2\r\n\r\nok";
    feed(r, msg, sizeof(msg) - 1);
    core_str body = {0};
    core_err err = {0};
    ck_assert_int_eq(lsp_reader_next(r, &body, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "':'"));
    ck_assert_int_eq(lsp_reader_next(r, &body, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a number"));
    ck_assert_int_eq(lsp_reader_next(r, &body, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "without Content-Length"));
    expect_body(r, "ok", 2);
    lsp_reader_free(r);
}
END_TEST

START_TEST(rpc__overlong_header_is_refused)
{
    lsp_reader *r = reader_new(LSP_BODY_MAX);
    char junk[LSP_HEADER_MAX + 100];
    memset(junk, 'x', sizeof(junk));
    feed(r, junk, sizeof(junk));
    core_str body = {0};
    ck_assert_int_eq(lsp_reader_next(r, &body, NULL), CORE_EPARSE);
    ck_assert_uint_le(lsp_reader_n_buffered(r), 3);
    static const char msg[] = "\r\n\r\nContent-Length: 2\r\n\r\nok";
    feed(r, msg, sizeof(msg) - 1);
    ck_assert_int_eq(lsp_reader_next(r, &body, NULL), CORE_EPARSE); /* the junk's end */
    expect_body(r, "ok", 2);
    lsp_reader_free(r);
}
END_TEST

START_TEST(rpc__oversized_body_is_skipped_unbuffered)
{
    lsp_reader *r = reader_new(16);
    static const char head[] = "Content-Length: 104857600\r\n\r\n";
    feed(r, head, sizeof(head) - 1);
    core_str body = {0};
    core_err err = {0};
    ck_assert_int_eq(lsp_reader_next(r, &body, &err), CORE_ELIMIT);
    ck_assert_ptr_nonnull(strstr(err.msg, "104857600"));
    char chunk[65536];
    memset(chunk, 'y', sizeof(chunk));
    size_t left = 104857600;
    while (left > 0) {
        size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
        feed(r, chunk, n);
        ck_assert_int_eq(lsp_reader_next(r, &body, NULL), 0);
        ck_assert_uint_eq(lsp_reader_n_buffered(r), 0);
        left -= n;
    }
    static const char msg[] = "Content-Length: 2\r\n\r\nok";
    feed(r, msg, sizeof(msg) - 1);
    expect_body(r, "ok", 2);
    lsp_reader_free(r);
}
END_TEST

START_TEST(rpc__content_length_overflow_is_malformed)
{
    lsp_reader *r = reader_new(LSP_BODY_MAX);
    static const char msg[] = "Content-Length: 99999999999999999999999999\r\n\r\n";
    feed(r, msg, sizeof(msg) - 1);
    core_str body = {0};
    ck_assert_int_eq(lsp_reader_next(r, &body, NULL), CORE_EPARSE);
    lsp_reader_free(r);
}
END_TEST

START_TEST(rpc__frame_round_trip)
{
    core_buf out = {0};
    ck_assert_int_eq(lsp_frame_append(&out, core_str_c("{\"a\":1}"), NULL), 0);
    ck_assert_str_eq(out.ptr, "Content-Length: 7\r\n\r\n{\"a\":1}");
    lsp_reader *r = reader_new(LSP_BODY_MAX);
    feed(r, out.ptr, out.len);
    expect_body(r, "{\"a\":1}", 7);
    lsp_reader_free(r);
    core_buf_dispose(&out);
}
END_TEST

START_TEST(rpc__feed_out_of_memory_leaves_reader_valid)
{
    lsp_reader *r = reader_new(LSP_BODY_MAX);
    static const char msg[] = "Content-Length: 2\r\n\r\nok";
    core_alloc_fail_after(1);
    ck_assert_int_eq(lsp_reader_feed(r, msg, sizeof(msg) - 1, NULL), CORE_ENOMEM);
    core_alloc_fail_after(0);
    feed(r, msg, sizeof(msg) - 1);
    expect_body(r, "ok", 2);
    lsp_reader_free(r);
}
END_TEST

TCase *tcase_rpc(void)
{
    TCase *tc = tcase_create("rpc");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, rpc__frames_split_anywhere);
    tcase_add_test(tc, rpc__body_may_hold_nul_bytes);
    tcase_add_test(tc, rpc__malformed_header_is_dropped_and_reading_goes_on);
    tcase_add_test(tc, rpc__overlong_header_is_refused);
    tcase_add_test(tc, rpc__oversized_body_is_skipped_unbuffered);
    tcase_add_test(tc, rpc__content_length_overflow_is_malformed);
    tcase_add_test(tc, rpc__frame_round_trip);
    tcase_add_test(tc, rpc__feed_out_of_memory_leaves_reader_valid);
    return tc;
}
