/* Tests of eval/report.c: escaping, summary and pass@k figures, malformed lines, empty input,
 * OOM. */
#include "tests/eval/tests.h"

#include <string.h>

#include "eval/eval.h"

/* Two problems with n = 2: c = 1 and c = 0, so pass@1 = (0.5 + 0) / 2 and pass@2 = (1 + 0) / 2;
 * the first candidate's code and the plan are hostile HTML. */
static const char results[] =
    "{\"task_id\": \"kiln/py/0\", \"language\": \"python\", \"config\": {\"n\": 2, \"plan\": "
    "true}, \"plan\": \"1. <b>bold</b> & co\", \"visible_tests\": \"assert f(1) == 2\", "
    "\"visible_source\": \"docstring\", \"candidates\": [{\"code\": \"def f(x):\\n    return "
    "'</pre><script>alert(1)</script>'\", \"round\": 0, \"n_tokens\": 12, \"logprob_mean\": "
    "-0.5, \"parses\": true, \"visible\": {\"verdict\": \"passed\", \"run\": 1, \"passed\": 1, "
    "\"message\": \"\"}, \"hidden\": {\"verdict\": \"failed\", \"run\": 5, \"passed\": 4, "
    "\"message\": \"line 3: assert <x>\"}, \"card\": {\"cyclomatic\": 1, \"n_lines\": 2}, "
    "\"score\": {\"correctness\": 1.0, \"rank\": 0}}, {\"code\": \"def f(x):\\n    return x + "
    "1\", \"round\": 0, \"visible\": {\"verdict\": \"passed\"}, \"hidden\": {\"verdict\": "
    "\"passed\"}, \"score\": {\"rank\": 1}}], \"chosen\": 0, \"n_samples\": 2, "
    "\"n_samples_passed\": 1, \"ranked_pass\": false, \"oracle_pass\": true, \"timings_ms\": "
    "{\"plan\": 100, \"write\": 900, \"test\": 50, \"repair\": 0, \"total\": 1050}, "
    "\"tokens\": 300}\n"
    "{\"task_id\": \"kiln/c/\\\"><img src=x>\", \"language\": \"c\", \"plan\": \"\", "
    "\"candidates\": [], \"chosen\": -1, \"n_samples\": 2, \"n_samples_passed\": 0, "
    "\"ranked_pass\": false, \"oracle_pass\": false, \"timings_ms\": {\"total\": 950}}\n"
    "{\"summary\": {\"problems\": 2, \"n\": 2, \"pass_at_k\": {\"1\": 0.25, \"2\": 0.5}, "
    "\"ranked_top1\": 0.125, \"oracle\": 0.5, \"seconds\": 2.0, \"tokens_per_s\": 150.0, "
    "\"stage_seconds\": {\"plan\": 0.1, \"write\": 0.9}}}\n";

static char *render(const char *text, int *rc)
{
    core_buf out = {0};
    core_err err = {0};
    *rc = eval_report_html(&out, core_str_c(text), &err);
    return out.ptr;
}

START_TEST(report__escapes_hostile_text)
{
    int rc = 0;
    char *page = render(results, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(page, "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(page, "1. &lt;b&gt;bold&lt;/b&gt; &amp; co"));
    ck_assert_ptr_nonnull(strstr(page, "kiln/c/&quot;&gt;&lt;img src=x&gt;"));
    ck_assert_ptr_nonnull(strstr(page, "line 3: assert &lt;x&gt;"));
    /* The page itself carries no script and no tag from the input. */
    ck_assert_ptr_null(strstr(page, "<script"));
    ck_assert_ptr_null(strstr(page, "<img"));
    ck_assert_ptr_null(strstr(page, "<b>"));
    /* No resource from the network. */
    ck_assert_ptr_null(strstr(page, "src=\"http"));
    ck_assert_ptr_null(strstr(page, "@import"));
    ck_assert_ptr_null(strstr(page, "url("));
    core_free(page);
}
END_TEST

START_TEST(report__shows_summary_and_passk_curve)
{
    int rc = 0;
    char *page = render(results, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(page, "<!DOCTYPE html>"));
    ck_assert_ptr_nonnull(strstr(page, "</html>\n"));
    /* Summary line figures. */
    ck_assert_ptr_nonnull(strstr(page, "<th>ranked top-1</th><td class=\"num\">12.5%</td>"));
    ck_assert_ptr_nonnull(strstr(page, "<th>pass@1</th><td class=\"num\">25.0%</td>"));
    ck_assert_ptr_nonnull(strstr(page, "<th>tokens/s</th><td class=\"num\">150.0</td>"));
    /* Recomputed from the records: oracle 1 of 2; pass@2 from the counts. */
    ck_assert_ptr_nonnull(strstr(page, "50.0% (1/2)"));
    ck_assert_ptr_nonnull(strstr(page, "<th>pass@2</th><td class=\"num\">50.0%</td>"
                                       "<td class=\"num\">50.0%</td>"));
    /* The plot: one point per k with its value, axes labelled. */
    ck_assert_ptr_nonnull(strstr(page, "<svg"));
    ck_assert_ptr_nonnull(strstr(page, "<title>pass@1 = 25.0%</title>"));
    ck_assert_ptr_nonnull(strstr(page, "<title>pass@2 = 50.0%</title>"));
    ck_assert_ptr_null(strstr(page, "<title>pass@3"));
    ck_assert_ptr_nonnull(strstr(page, ">k (samples drawn)</text>"));
    ck_assert_ptr_nonnull(strstr(page, ">pass@k</text>"));
    /* Per problem: badges, chosen marker, candidates in details. */
    ck_assert_ptr_nonnull(strstr(page, "<details open><summary>candidate 0"));
    ck_assert_ptr_nonnull(strstr(page, "<span class=\"badge chosen\">chosen</span>"));
    ck_assert_ptr_nonnull(strstr(page, "<span class=\"badge fail\">hidden failed</span>"));
    ck_assert_ptr_nonnull(strstr(page, "4/5 tests passed"));
    ck_assert_ptr_nonnull(strstr(page, "0 candidates; none chosen"));
    ck_assert_ptr_nonnull(strstr(page, "<th>cyclomatic</th><td class=\"num\">1</td>"));
    core_free(page);
}
END_TEST

START_TEST(report__lists_malformed_lines)
{
    const char *text = "{\"task_id\": \"a\", \"n_samples\": 1, \"n_samples_passed\": 1}\n"
                       "not json {<b>\n"
                       "\n"
                       "[1, 2]\n"
                       "{\"neither\": 1}\n"
                       "{\"task_id\": \"b\"} trailing\n";
    int rc = 0;
    char *page = render(text, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(page, "Lines that were not read (4)"));
    ck_assert_ptr_nonnull(strstr(page, "line 2: not valid JSON: <code>not json {&lt;b&gt;"));
    ck_assert_ptr_nonnull(strstr(page, "line 4: not a JSON object"));
    ck_assert_ptr_nonnull(strstr(page, "line 5: no task_id and no summary"));
    ck_assert_ptr_nonnull(strstr(page, "line 6: text after the JSON value"));
    /* The good record is still there, with pass@1 = 1. */
    ck_assert_ptr_nonnull(strstr(page, "<title>pass@1 = 100.0%</title>"));
    core_free(page);
}
END_TEST

START_TEST(report__empty_input)
{
    static const char *const inputs[] = {"", "\n\n  \n"};
    for (size_t i = 0; i < 2; i++) {
        int rc = 0;
        char *page = render(inputs[i], &rc);
        ck_assert_int_eq(rc, 0);
        ck_assert_ptr_nonnull(strstr(page, "No results"));
        ck_assert_ptr_nonnull(strstr(page, "</html>\n"));
        ck_assert_ptr_null(strstr(page, "<svg"));
        core_free(page);
    }
}
END_TEST

START_TEST(report__appends_to_buffer)
{
    core_buf out = {0};
    ck_assert_int_eq(core_buf_append(&out, "head:", 5), 0);
    ck_assert_int_eq(eval_report_html(&out, core_str_c(results), NULL), 0);
    ck_assert_int_eq(strncmp(out.ptr, "head:<!DOCTYPE html>", 20), 0);
    core_buf_dispose(&out);
}
END_TEST

START_TEST(report__enomem_leaks_nothing)
{
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        core_buf out = {0};
        ck_assert_int_eq(core_buf_append(&out, "x", 1), 0);
        core_err err = {0};
        core_alloc_fail_after(n);
        int rc = eval_report_html(&out, core_str_c(results), &err);
        core_alloc_fail_after(0);
        if (rc == 0) {
            ck_assert_ptr_nonnull(strstr(out.ptr, "</html>"));
            core_buf_dispose(&out);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_str_eq(out.ptr, "x");
        core_buf_dispose(&out);
        ck_assert_int_lt(n, 200);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

TCase *tcase_report(void)
{
    TCase *tc = tcase_create("report");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, report__escapes_hostile_text);
    tcase_add_test(tc, report__shows_summary_and_passk_curve);
    tcase_add_test(tc, report__lists_malformed_lines);
    tcase_add_test(tc, report__empty_input);
    tcase_add_test(tc, report__appends_to_buffer);
    tcase_add_test(tc, report__enomem_leaks_nothing);
    return tc;
}
