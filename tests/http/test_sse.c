/*
 * Tests of http/sse.c: SSE events split multi-line data into data: lines (LF, CR and CRLF),
 * carry an event name, end with a blank line; comments; OpenAI error bodies and their types.
 */
#include "tests/http/tests.h"

#include <string.h>

#include "core/core.h"
#include "http/http.h"

START_TEST(sse__event_framing)
{
    core_buf b = {0};
    ck_assert_int_eq(http_sse_event(&b, NULL, core_str_c("{\"a\":1}"), NULL), 0);
    ck_assert_str_eq(b.ptr, "data: {\"a\":1}\n\n");
    b.len = 0;
    ck_assert_int_eq(http_sse_event(&b, "stage", core_str_c("one\ntwo\r\nthree\rfour"), NULL), 0);
    ck_assert_str_eq(b.ptr, "event: stage\ndata: one\ndata: two\ndata: three\ndata: four\n\n");
    b.len = 0;
    ck_assert_int_eq(http_sse_event(&b, "", core_str_c("end\n"), NULL), 0);
    ck_assert_str_eq(b.ptr, "data: end\ndata: \n\n");
    b.len = 0;
    ck_assert_int_eq(http_sse_event(&b, NULL, (core_str){NULL, 0}, NULL), 0);
    ck_assert_str_eq(b.ptr, "data: \n\n");
    b.len = 0;
    ck_assert_int_eq(http_sse_comment(&b, "keep-alive", NULL), 0);
    ck_assert_str_eq(b.ptr, ": keep-alive\n\n");
    core_buf_dispose(&b);
}
END_TEST

START_TEST(sse__error_bodies)
{
    core_buf b = {0};
    ck_assert_int_eq(http_error_json(&b, 400, "'n': must be \"at least\" 1", "n", NULL), 0);
    ck_assert_str_eq(b.ptr, "{\"error\":{\"message\":\"'n': must be \\\"at least\\\" 1\","
                            "\"type\":\"invalid_request_error\",\"param\":\"n\",\"code\":400}}");
    b.len = 0;
    ck_assert_int_eq(http_error_json(&b, 503, "Loading model", NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"param\":null"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"unavailable_error\""));
    ck_assert_str_eq(http_error_type(401), "authentication_error");
    ck_assert_str_eq(http_error_type(429), "rate_limit_error");
    ck_assert_str_eq(http_error_type(413), "invalid_request_error");
    ck_assert_str_eq(http_error_type(500), "server_error");
    core_buf_dispose(&b);
}
END_TEST

TCase *tcase_sse(void)
{
    TCase *tc = tcase_create("sse");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, sse__event_framing);
    tcase_add_test(tc, sse__error_bodies);
    return tc;
}
