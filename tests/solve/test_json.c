/* Tests of solve/solve_json.c: a result as JSON, escaping and UTF-8 repair. */
#include "tests/solve/tests.h"

#include <string.h>

#include "solve/solve.h"

START_TEST(json__escapes_and_repairs_utf8)
{
    char code[] = "def f():\n    return \"\\t\x01 \xc3\xa9 \xe2\x82\"\n";
    char msg[] = "bad \xff byte";
    char empty[] = "";
    solve_candidate c;
    memset(&c, 0, sizeof(c));
    c.code = code;
    c.message = msg;
    c.behavior = empty;
    c.tested = true;
    c.verdict = SBX_VERDICT_FAILED;
    c.n_tests_run = 2;
    c.n_tests_passed = 1;
    solve_result r;
    memset(&r, 0, sizeof(r));
    r.plan = empty;
    r.visible_tests = empty;
    r.tests_source = SOLVE_TESTS_NONE;
    r.candidates = &c;
    r.n_candidates = 1;
    r.n_round0 = 1;
    r.chosen = 0;
    core_buf out = {0};
    ck_assert_int_eq(solve_result_to_json(&out, &r, NULL), 0);
    /* quote and backslash escaped, control bytes as \u, é kept, the cut sequence replaced */
    ck_assert_ptr_nonnull(strstr(
        out.ptr,
        "\"code\":\"def f():\\n    return \\\"\\\\t\\u0001 \xc3\xa9 \\ufffd\\ufffd\\\"\\n\""));
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"message\":\"bad \\ufffd byte\""));
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"verdict\":\"failed\",\"run\":2,\"passed\":1"));
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"visible_source\":\"none\""));
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"chosen\":0,\"n_samples\":1"));
    c.tested = false;
    out.len = 0;
    ck_assert_int_eq(solve_result_to_json(&out, &r, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out.ptr, "\"verdict\":\"not-run\""));
    core_buf_dispose(&out);
}
END_TEST

TCase *tcase_json(void)
{
    TCase *tc = tcase_create("json");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, json__escapes_and_repairs_utf8);
    return tc;
}
