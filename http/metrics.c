/*
 * /metrics: Prometheus' text exposition format, version 0.0.4 (# HELP and # TYPE lines, then
 * samples; counters end in _total; a histogram has cumulative _bucket{le} samples with +Inf,
 * then _sum and _count). Names are prefixed kiln_.
 */
#include "http/http.h"

#include <math.h>

static const char *const status_class[6] = {"2xx", "400", "401", "4xx", "429_503", "5xx"};
static const char *const verdicts[4] = {"pass", "fail", "error", "limit"};

int http_metrics_render(core_buf *out, const http_metrics *m, core_err *err)
{
    int rc = core_buf_appendf(out, "# HELP kiln_requests_total HTTP requests by route and "
                                   "status.\n# TYPE kiln_requests_total counter\n");
    for (size_t r = 0; rc == 0 && r < HTTP_N_ROUTES && m->route_names[r]; r++) {
        for (size_t c = 0; rc == 0 && c < 6; c++) {
            if (m->requests[r][c] == 0 && c != 0) {
                continue;
            }
            rc = core_buf_appendf(out, "kiln_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                                  m->route_names[r], status_class[c],
                                  (unsigned long long)m->requests[r][c]);
        }
    }
    const gen_queue_stats *q = &m->queue;
    if (rc == 0) {
        rc = core_buf_appendf(
            out,
            "# HELP kiln_prompt_tokens_total Prompt tokens received.\n"
            "# TYPE kiln_prompt_tokens_total counter\nkiln_prompt_tokens_total %llu\n"
            "# HELP kiln_prompt_tokens_decoded_total Prompt tokens decoded (the rest came from "
            "the prefix cache).\n"
            "# TYPE kiln_prompt_tokens_decoded_total counter\n"
            "kiln_prompt_tokens_decoded_total %llu\n"
            "# HELP kiln_generated_tokens_total Tokens generated.\n"
            "# TYPE kiln_generated_tokens_total counter\nkiln_generated_tokens_total %llu\n"
            "# HELP kiln_cache_hits_total Requests that reused a cached prompt prefix.\n"
            "# TYPE kiln_cache_hits_total counter\nkiln_cache_hits_total %llu\n"
            "# HELP kiln_queue_length Requests waiting for a sequence.\n"
            "# TYPE kiln_queue_length gauge\nkiln_queue_length %zu\n"
            "# HELP kiln_sequences_decoding Requests decoding now.\n"
            "# TYPE kiln_sequences_decoding gauge\nkiln_sequences_decoding %zu\n"
            "# HELP kiln_sequences_max Sequences that decode at once.\n"
            "# TYPE kiln_sequences_max gauge\nkiln_sequences_max %zu\n",
            (unsigned long long)q->n_tokens_prompt, (unsigned long long)q->n_tokens_decoded,
            (unsigned long long)q->n_tokens_generated, (unsigned long long)q->n_cache_hits,
            q->n_pending, q->n_running, m->n_parallel);
    }
    if (rc == 0) {
        rc = core_buf_appendf(out, "# HELP kiln_step_seconds Time of one batched decode step.\n"
                                   "# TYPE kiln_step_seconds histogram\n");
    }
    uint64_t cum = 0;
    for (size_t b = 0; rc == 0 && b < 12; b++) {
        cum += q->step_hist[b];
        const double le = gen_queue_step_buckets_ms[b];
        if (isinf(le)) {
            rc = core_buf_appendf(out, "kiln_step_seconds_bucket{le=\"+Inf\"} %llu\n",
                                  (unsigned long long)cum);
        } else {
            rc = core_buf_appendf(out, "kiln_step_seconds_bucket{le=\"%g\"} %llu\n", le / 1000.0,
                                  (unsigned long long)cum);
        }
    }
    if (rc == 0) {
        rc = core_buf_appendf(out, "kiln_step_seconds_sum %.6f\nkiln_step_seconds_count %llu\n",
                              (double)q->ns_steps / 1e9, (unsigned long long)q->n_steps);
    }
    if (rc == 0) {
        rc = core_buf_appendf(out,
                              "# HELP kiln_sampling_seconds_total Time after the decode steps: "
                              "sampling, stop strings and writing the tokens' events.\n"
                              "# TYPE kiln_sampling_seconds_total counter\n"
                              "kiln_sampling_seconds_total %.6f\n",
                              (double)q->ns_sampling / 1e9);
    }
    if (rc == 0) {
        rc = core_buf_appendf(out, "# HELP kiln_sandbox_runs_total Sandbox runs of /v1/solve "
                                   "candidates by verdict.\n"
                                   "# TYPE kiln_sandbox_runs_total counter\n");
    }
    for (size_t v = 0; rc == 0 && v < 4; v++) {
        rc = core_buf_appendf(out, "kiln_sandbox_runs_total{verdict=\"%s\"} %llu\n", verdicts[v],
                              (unsigned long long)m->sandbox_runs[v]);
    }
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "metrics: out of memory") : 0;
}
