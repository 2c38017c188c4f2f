/*
 * A pipeline result as JSON, in the shape of the `kiln eval` results schema
 * (notes/pipeline-schema.md): the fields the pipeline knows; `kiln eval` adds the task id, the
 * configuration and the hidden-test grades. Written by hand: the library has no JSON
 * dependency, and every string goes through core's escaping function (core_buf_append_json),
 * which also turns bytes that are not UTF-8 into U+FFFD (RFC 8259 section 8.1).
 */
#include "solve/solve_int.h"

#include <math.h>
#include <stdio.h>

static double finite_or_zero(double v)
{
    return isfinite(v) ? v : 0.0;
}

static int candidate_json(core_buf *out, const solve_candidate *c)
{
    int rc = core_buf_append(out, "{\"code\":", 8);
    rc = rc < 0 ? rc : core_buf_append_json(out, core_str_c(c->code));
    rc = rc < 0 ? rc
                : core_buf_appendf(out,
                                   ",\"round\":%zu,\"n_tokens\":%zu,\"logprob_mean\":%.4f,"
                                   "\"ended\":%s,\"end_refused\":%s,\"parses\":%s,"
                                   "\"visible\":{\"verdict\":\"%s\","
                                   "\"run\":%zu,\"passed\":%zu,\"message\":",
                                   c->round, c->n_tokens, finite_or_zero(c->logprob_mean),
                                   c->ended ? "true" : "false", c->end_refused ? "true" : "false",
                                   c->parses ? "true" : "false",
                                   c->tested ? sbx_verdict_name(c->verdict) : "not-run",
                                   c->n_tests_run, c->n_tests_passed);
    rc = rc < 0 ? rc : core_buf_append_json(out, core_str_c(c->message));
    const eval_quality *q = &c->card.quality;
    rc = rc < 0 ? rc
                : core_buf_appendf(out,
                                   "},\"card\":{\"cyclomatic\":%u,\"nesting_max\":%u,"
                                   "\"n_lines\":%u,\"n_comment_lines\":%u,\"n_names_bad\":%u,"
                                   "\"n_names_short\":%u,\"limit_hit\":%s,\"n_gen_run\":%zu,"
                                   "\"n_gen_passed\":%zu",
                                   q->cyclomatic, q->nesting_max, q->n_lines, q->n_comment_lines,
                                   q->n_names_bad, q->n_names_short,
                                   c->card.limit_hit ? "true" : "false", c->card.n_gen_run,
                                   c->card.n_gen_passed);
    if (c->card.n_gen_run > 0 && c->behavior) {
        /* what it returned on the probes and generated tests, as the ranking compared them */
        rc = rc < 0 ? rc : core_buf_append(out, ",\"behavior\":", 12);
        rc = rc < 0 ? rc : core_buf_append_json(out, core_str_c(c->behavior));
    }
    rc = rc < 0 ? rc : core_buf_append(out, "},", 2);
    if (c->n_requests > 0) {
        /* Written by a remote backend: its requests (local records stay as they were). */
        rc = rc < 0 ? rc : core_buf_appendf(out, "\"requests\":%zu,", c->n_requests);
    }
    rc = rc < 0 ? rc
                : core_buf_appendf(
                      out,
                      "\"score\":{\"correctness\":%.4f,\"agreement\":%.4f,"
                      "\"quality\":%.4f,\"likelihood\":%.4f,\"group\":%zu,"
                      "\"group_size\":%zu,\"rank\":%zu}}",
                      finite_or_zero(c->score.correctness), finite_or_zero(c->score.agreement),
                      finite_or_zero(c->score.quality), finite_or_zero(c->score.likelihood),
                      c->score.group, c->score.group_size, c->score.rank);
    return rc < 0 ? CORE_ENOMEM : 0;
}

int solve_result_to_json(core_buf *out, const solve_result *r, core_err *err)
{
    int rc = core_buf_appendf(out, "{\"language\":\"%s\",\"plan\":", solve_lang_name(r->lang));
    rc = rc < 0 ? rc : core_buf_append_json(out, core_str_c(r->plan));
    rc = rc < 0 ? rc : core_buf_append(out, ",\"visible_tests\":", 17);
    rc = rc < 0 ? rc : core_buf_append_json(out, core_str_c(r->visible_tests));
    rc = rc < 0 ? rc
                : core_buf_appendf(out, ",\"visible_source\":\"%s\",\"candidates\":[",
                                   solve_tests_source_name(r->tests_source));
    for (size_t i = 0; rc >= 0 && i < r->n_candidates; i++) {
        if (i > 0) {
            rc = core_buf_append(out, ",", 1);
        }
        rc = rc < 0 ? rc : candidate_json(out, &r->candidates[i]);
    }
    rc = rc < 0 ? rc
                : core_buf_appendf(
                      out,
                      "],\"chosen\":%ld,\"n_samples\":%zu,\"rounds_run\":%zu,"
                      "\"fresh_rounds_run\":%zu,\"timings_ms\":{"
                      "\"plan\":%.1f,\"write\":%.1f,\"test\":%.1f,\"repair\":%.1f,"
                      "\"rank\":%.1f,\"total\":%.1f},\"tokens\":%zu,\"tokens_prompt\":%zu,"
                      "\"tokens_generated\":%zu,\"resampled\":%zu",
                      r->chosen, r->n_round0, r->n_rounds_run, r->n_fresh_rounds_run,
                      (double)r->ns_stage[SOLVE_STAGE_PLAN] / 1e6,
                      (double)r->ns_stage[SOLVE_STAGE_WRITE] / 1e6,
                      (double)r->ns_stage[SOLVE_STAGE_TEST] / 1e6,
                      (double)r->ns_stage[SOLVE_STAGE_REPAIR] / 1e6,
                      (double)r->ns_stage[SOLVE_STAGE_RANK] / 1e6, (double)r->ns_total / 1e6,
                      r->n_tokens_prompt + r->n_tokens_generated, r->n_tokens_prompt,
                      r->n_tokens_generated, r->n_resampled);
    if (r->n_requests > 0) {
        rc = rc < 0 ? rc
                    : core_buf_appendf(out, ",\"requests\":%zu,\"requests_extra\":%zu",
                                       r->n_requests, r->n_requests_extra);
    }
    rc = rc < 0 ? rc : core_buf_append(out, "}", 1);
    if (rc < 0) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the json");
    }
    return 0;
}
