/*
 * A pipeline result as JSON, in the shape of the `kiln eval` results schema
 * (notes/pipeline-schema.md): the fields the pipeline knows; `kiln eval` adds the task id, the
 * configuration and the hidden-test grades. Written by hand: the library has no JSON
 * dependency, and every string goes through one escaping function, which also turns bytes that
 * are not UTF-8 into U+FFFD (RFC 8259 section 8.1).
 */
#include "solve/solve_int.h"

#include <math.h>
#include <stdio.h>

/* Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when the bytes there are not one. */
static size_t utf8_len(core_str s, size_t i)
{
    unsigned char c = (unsigned char)s.ptr[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.len || (n == 2 && c < 0xc2)) {
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if (((unsigned char)s.ptr[i + k] >> 6) != 0x2) {
            return 0;
        }
    }
    unsigned char c1 = (unsigned char)s.ptr[i + 1 < s.len ? i + 1 : i];
    if ((n == 3 && c == 0xe0 && c1 < 0xa0) || (n == 3 && c == 0xed && c1 >= 0xa0) ||
        (n == 4 && c == 0xf0 && c1 < 0x90) || (n == 4 && (c > 0xf4 || (c == 0xf4 && c1 >= 0x90)))) {
        return 0; /* overlong, surrogate or beyond U+10FFFF */
    }
    return n;
}

int solve__json_str(core_buf *out, core_str s)
{
    if (core_buf_append(out, "\"", 1) < 0) {
        return CORE_ENOMEM;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        int rc = 0;
        if (ch == '"' || ch == '\\') {
            rc = core_buf_appendf(out, "\\%c", ch);
        } else if (ch == '\n') {
            rc = core_buf_append(out, "\\n", 2);
        } else if (ch == '\t') {
            rc = core_buf_append(out, "\\t", 2);
        } else if (ch == '\r') {
            rc = core_buf_append(out, "\\r", 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            rc = core_buf_appendf(out, "\\u%04x", ch);
        } else if (ch < 0x80) {
            rc = core_buf_append(out, &s.ptr[i], 1);
        } else {
            /* Generated text may stop inside a character (a token cap, a byte token): JSON
               must be UTF-8, so a broken sequence becomes U+FFFD. */
            size_t n = utf8_len(s, i);
            rc = n ? core_buf_append(out, s.ptr + i, n) : core_buf_append(out, "\\ufffd", 6);
            i += n ? n - 1 : 0;
        }
        if (rc < 0) {
            return CORE_ENOMEM;
        }
    }
    return core_buf_append(out, "\"", 1) < 0 ? CORE_ENOMEM : 0;
}

static double finite_or_zero(double v)
{
    return isfinite(v) ? v : 0.0;
}

static int candidate_json(core_buf *out, const solve_candidate *c)
{
    int rc = core_buf_append(out, "{\"code\":", 8);
    rc = rc < 0 ? rc : solve__json_str(out, core_str_c(c->code));
    rc = rc < 0 ? rc
                : core_buf_appendf(out,
                                   ",\"round\":%zu,\"n_tokens\":%zu,\"logprob_mean\":%.4f,"
                                   "\"ended\":%s,\"parses\":%s,\"visible\":{\"verdict\":\"%s\","
                                   "\"run\":%zu,\"passed\":%zu,\"message\":",
                                   c->round, c->n_tokens, finite_or_zero(c->logprob_mean),
                                   c->ended ? "true" : "false", c->parses ? "true" : "false",
                                   c->tested ? sbx_verdict_name(c->verdict) : "not-run",
                                   c->n_tests_run, c->n_tests_passed);
    rc = rc < 0 ? rc : solve__json_str(out, core_str_c(c->message));
    const eval_quality *q = &c->card.quality;
    rc = rc < 0 ? rc
                : core_buf_appendf(out,
                                   "},\"card\":{\"cyclomatic\":%u,\"nesting_max\":%u,"
                                   "\"n_lines\":%u,\"n_comment_lines\":%u,\"n_names_bad\":%u,"
                                   "\"n_names_short\":%u,\"limit_hit\":%s,\"n_gen_run\":%zu,"
                                   "\"n_gen_passed\":%zu},",
                                   q->cyclomatic, q->nesting_max, q->n_lines, q->n_comment_lines,
                                   q->n_names_bad, q->n_names_short,
                                   c->card.limit_hit ? "true" : "false", c->card.n_gen_run,
                                   c->card.n_gen_passed);
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
    rc = rc < 0 ? rc : solve__json_str(out, core_str_c(r->plan));
    rc = rc < 0 ? rc : core_buf_append(out, ",\"visible_tests\":", 17);
    rc = rc < 0 ? rc : solve__json_str(out, core_str_c(r->visible_tests));
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
                      "],\"chosen\":%ld,\"n_samples\":%zu,\"rounds_run\":%zu,\"timings_ms\":{"
                      "\"plan\":%.1f,\"write\":%.1f,\"test\":%.1f,\"repair\":%.1f,"
                      "\"rank\":%.1f,\"total\":%.1f},\"tokens\":%zu,\"tokens_prompt\":%zu,"
                      "\"tokens_generated\":%zu}",
                      r->chosen, r->n_round0, r->n_rounds_run,
                      (double)r->ns_stage[SOLVE_STAGE_PLAN] / 1e6,
                      (double)r->ns_stage[SOLVE_STAGE_WRITE] / 1e6,
                      (double)r->ns_stage[SOLVE_STAGE_TEST] / 1e6,
                      (double)r->ns_stage[SOLVE_STAGE_REPAIR] / 1e6,
                      (double)r->ns_stage[SOLVE_STAGE_RANK] / 1e6, (double)r->ns_total / 1e6,
                      r->n_tokens_prompt + r->n_tokens_generated, r->n_tokens_prompt,
                      r->n_tokens_generated);
    if (rc < 0) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the json");
    }
    return 0;
}
