/* Tests of sandbox/result.c: names, the JSON form (escaping, invalid UTF-8) and its failure
 * loop. */
#include <string.h>

#include "sandbox/sbx_int.h"
#include "tests/sandbox/tests.h"

START_TEST(result__names)
{
    ck_assert_str_eq(sbx_verdict_name(SBX_VERDICT_PASSED), "passed");
    ck_assert_str_eq(sbx_verdict_name(SBX_VERDICT_LIMIT), "limit");
    ck_assert_str_eq(sbx_limit_name(SBX_LIMIT_CPU), "cpu");
    ck_assert_str_eq(sbx_limit_name(SBX_LIMIT_FILE_SIZE), "file_size");
    ck_assert_str_eq(sbx_limit_name(SBX_LIMIT_COMPILE), "compile");
    ck_assert_str_eq(sbx_test_status_name(SBX_TEST_ERROR), "error");
}
END_TEST

static void fill(sbx_result *r)
{
    memset(r, 0, sizeof *r);
    r->verdict = SBX_VERDICT_LIMIT;
    r->limit = SBX_LIMIT_MEMORY;
    ck_assert_int_eq(sbx__result_set_message(r, "say \"hi\"\n"), 0);
    ck_assert_int_eq(sbx__result_add_test(r, "t\t1", 3, SBX_TEST_FAILED, "bad\xff", 4, 1.5), 0);
    ck_assert_int_eq(core_buf_append(&r->out, "\x01ok", 3), 0);
    r->wall_ms = 7;
}

START_TEST(result__json_escapes)
{
    sbx_result r;
    fill(&r);
    core_buf out = {0};
    ck_assert_int_eq(sbx_result_to_json(&out, &r, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"verdict\":\"limit\",\"limit\":\"memory\""));
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"message\":\"say \\\"hi\\\"\\n\""));
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"name\":\"t\\t1\",\"status\":\"failed\""));
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"message\":\"bad\\ufffd\""));
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"stdout\":\"\\u0001ok\""));
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"wall_ms\":7"));
    core_buf_dispose(&out);
    sbx_result_dispose(&r);
    ck_assert_int_eq((int)r.n_tests, 0);
    sbx_result_dispose(NULL);
}
END_TEST

START_TEST(result__json_alloc_failure_loop)
{
    sbx_result r;
    fill(&r);
    long live = core_alloc_live();
    int rc = CORE_ENOMEM;
    for (long n = 1; rc == CORE_ENOMEM && n < 1000; n++) {
        core_buf out = {0};
        core_alloc_fail_after(n);
        rc = sbx_result_to_json(&out, &r, NULL);
        core_alloc_fail_after(0);
        ck_assert_msg(rc == 0 || rc == CORE_ENOMEM, "rc %d", rc);
        core_buf_dispose(&out);
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(rc, 0);
    sbx_result_dispose(&r);
}
END_TEST

TCase *tcase_result(void)
{
    TCase *tc = tcase_create("result");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, result__names);
    tcase_add_test(tc, result__json_escapes);
    tcase_add_test(tc, result__json_alloc_failure_loop);
    return tc;
}
