/*
 * Tests of http/metrics.c: the Prometheus text has HELP and TYPE lines for each family,
 * counters by route and status class, gauges from the queue, and a cumulative step histogram
 * ending in +Inf whose count equals the steps.
 */
#include "tests/http/tests.h"

#include <string.h>

#include "core/core.h"
#include "http/http.h"

START_TEST(metrics__text_format)
{
    http_metrics m;
    memset(&m, 0, sizeof(m));
    m.route_names[0] = "/health";
    m.route_names[1] = "/v1/completions";
    m.requests[1][0] = 7;
    m.requests[1][1] = 2;
    m.sandbox_runs[1] = 4;
    m.queue.n_pending = 3;
    m.queue.n_running = 2;
    m.queue.n_tokens_prompt = 100;
    m.queue.n_tokens_decoded = 60;
    m.queue.n_tokens_generated = 50;
    m.queue.n_steps = 5;
    m.queue.ns_steps = 1500000000ull;
    m.queue.ns_sampling = 250000000ull;
    m.queue.step_hist[0] = 1;
    m.queue.step_hist[3] = 3;
    m.queue.step_hist[11] = 1;
    m.n_parallel = 4;
    core_buf b = {0};
    ck_assert_int_eq(http_metrics_render(&b, &m, NULL), 0);
    const char *t = b.ptr;
    ck_assert_ptr_nonnull(strstr(t, "# TYPE kiln_requests_total counter\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "kiln_requests_total{route=\"/v1/completions\",status=\"2xx\"} 7\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "kiln_requests_total{route=\"/v1/completions\",status=\"400\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_requests_total{route=\"/health\",status=\"2xx\"} 0\n"));
    ck_assert_ptr_null(strstr(t, "route=\"/health\",status=\"400\""));
    ck_assert_ptr_nonnull(strstr(t, "kiln_prompt_tokens_total 100\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_prompt_tokens_decoded_total 60\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_generated_tokens_total 50\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE kiln_queue_length gauge\nkiln_queue_length 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_sequences_decoding 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_sequences_max 4\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE kiln_step_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_step_seconds_bucket{le=\"0.001\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_step_seconds_bucket{le=\"0.01\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_step_seconds_bucket{le=\"2\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_step_seconds_bucket{le=\"+Inf\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_step_seconds_sum 1.500000\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_step_seconds_count 5\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE kiln_sampling_seconds_total counter\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_sampling_seconds_total 0.250000\n"));
    ck_assert_ptr_nonnull(strstr(t, "kiln_sandbox_runs_total{verdict=\"fail\"} 4\n"));
    /* Every line is a comment or "name{labels} value". */
    for (const char *line = t; *line;) {
        const char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        ck_assert_msg(line[0] == '#' || (line[0] >= 'a' && line[0] <= 'z'), "line %.*s",
                      (int)(nl - line), line);
        line = nl + 1;
    }
    core_buf_dispose(&b);
}
END_TEST

TCase *tcase_metrics(void)
{
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, metrics__text_format);
    return tc;
}
