/*
 * Score cards and ranking. Each candidate gets four scores that are compared one after the
 * other, so that a later one only breaks exact ties of the earlier ones: correctness (tests
 * passed, parse and limit penalties), agreement (CodeT's dual execution agreement, Chen et al.
 * 2022, arXiv 2207.10397, with MBR-exec's per-input agreement, Shi et al. 2022: a candidate is
 * worth one plus the mean number of other candidates that produced the same output on each input,
 * times one plus the generated tests it passes; an input it crashed on agrees with nothing;
 * without generated inputs the behavior is the code, and this is the size of its group of
 * identical candidates, as in AlphaCode's behavioural clustering; where generated inputs ran,
 * agreements within a band of the best tie and the code's log-probability, Coder-Reviewer's
 * coder score, breaks the tie), quality (a
 * weighted penalty over the syntax-tree measures) and likelihood (mean token log-probability).
 * The formulas and default weights are documented with eval_rank_options in eval/eval.h.
 * Grouping sorts the behaviors once; agreement compares every pair of candidates line by line.
 */
#include "eval/eval_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

eval_rank_options eval_rank_options_default(void)
{
    return (eval_rank_options){
        .pass = 1.0,
        .parse_fail = 1.0,
        .limit = 0.5,
        .agreement = 1.0,
        .band = 0.85,
        .coder = 1.0,
        .cyclomatic = 1.0,
        .cyclomatic_free = 5.0,
        .nesting = 1.0,
        .nesting_free = 2.0,
        .lines = 0.02,
        .tokens = 0.0,
        .bad_name = 0.5,
        .short_name = 0.25,
        .comment = 0.1,
        .comment_max = 5.0,
        .likelihood = 1.0,
    };
}

/* The config names and where each one lives in the options. */
typedef struct option_field {
    const char *name;
    size_t offset;
} option_field;

static const option_field option_fields[] = {
    {"pass", offsetof(eval_rank_options, pass)},
    {"parse_fail", offsetof(eval_rank_options, parse_fail)},
    {"limit", offsetof(eval_rank_options, limit)},
    {"agreement", offsetof(eval_rank_options, agreement)},
    {"band", offsetof(eval_rank_options, band)},
    {"coder", offsetof(eval_rank_options, coder)},
    {"cyclomatic", offsetof(eval_rank_options, cyclomatic)},
    {"cyclomatic_free", offsetof(eval_rank_options, cyclomatic_free)},
    {"nesting", offsetof(eval_rank_options, nesting)},
    {"nesting_free", offsetof(eval_rank_options, nesting_free)},
    {"lines", offsetof(eval_rank_options, lines)},
    {"tokens", offsetof(eval_rank_options, tokens)},
    {"bad_name", offsetof(eval_rank_options, bad_name)},
    {"short_name", offsetof(eval_rank_options, short_name)},
    {"comment", offsetof(eval_rank_options, comment)},
    {"comment_max", offsetof(eval_rank_options, comment_max)},
    {"likelihood", offsetof(eval_rank_options, likelihood)},
};

int eval_rank_options_parse(eval_rank_options *opts, core_str json, core_err *err)
{
    int rc = 0;
    cJSON *obj = NULL;
    eval_rank_options next = *opts;

    if (json.len == 0 || memchr(json.ptr, '\0', json.len)) {
        return core_err_set(err, CORE_EPARSE, "rank config: empty or binary text");
    }
    size_t at = 0;
    obj = eval__json_parse_whole(json, &at);
    if (!obj) {
        return core_err_set(err, CORE_EPARSE, "rank config: byte %zu: not valid JSON", at);
    }
    if (!cJSON_IsObject(obj)) {
        rc = core_err_set(err, CORE_EPARSE, "rank config: not a JSON object");
        goto done;
    }
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, obj)
    {
        const option_field *field = NULL;
        for (size_t i = 0; i < sizeof(option_fields) / sizeof(option_fields[0]); i++) {
            if (item->string && strcmp(item->string, option_fields[i].name) == 0) {
                field = &option_fields[i];
            }
        }
        if (!field) {
            rc = core_err_set(err, CORE_EPARSE, "rank config: unknown weight '%s'",
                              item->string ? item->string : "");
            goto done;
        }
        if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || item->valuedouble < 0.0) {
            rc = core_err_set(err, CORE_EPARSE, "rank config: weight '%s' must be a number >= 0",
                              field->name);
            goto done;
        }
        double value = item->valuedouble;
        memcpy((char *)&next + field->offset, &value, sizeof(value));
    }
    *opts = next;

done:
    cJSON_Delete(obj);
    return rc;
}

/* ---- grouping by behavior ---- */

typedef struct behavior_ref {
    core_str behavior;
    size_t i;
} behavior_ref;

static int compare_behavior(const void *pa, const void *pb)
{
    const behavior_ref *a = pa;
    const behavior_ref *b = pb;
    size_t n = a->behavior.len < b->behavior.len ? a->behavior.len : b->behavior.len;
    int c = n ? memcmp(a->behavior.ptr, b->behavior.ptr, n) : 0;
    if (c != 0) {
        return c;
    }
    if (a->behavior.len != b->behavior.len) {
        return a->behavior.len < b->behavior.len ? -1 : 1;
    }
    return a->i < b->i ? -1 : (a->i > b->i ? 1 : 0);
}

/* ---- agreement per observation ---- */

/* The next line of text from *at (without its '\n'); false at the end. */
static bool next_line(core_str text, size_t *at, core_str *line)
{
    if (!text.ptr || *at >= text.len) {
        return false;
    }
    const char *nl = memchr(text.ptr + *at, '\n', text.len - *at);
    size_t end = nl ? (size_t)(nl - text.ptr) : text.len;
    *line = (core_str){text.ptr + *at, end - *at};
    *at = end + 1;
    return true;
}

static bool has_line(core_str text, core_str line)
{
    size_t at = 0;
    core_str l;
    while (next_line(text, &at, &l)) {
        if (core_str_eq(l, line)) {
            return true;
        }
    }
    return false;
}

static size_t count_lines(core_str text)
{
    size_t n = 0;
    size_t at = 0;
    core_str l;
    while (next_line(text, &at, &l)) {
        n += l.len > 0;
    }
    return n;
}

/* The share of card i's observations that are values (lines not starting with '!'), 0 when it
   has none: how much its vote counts where generated inputs ran. */
static double coverage(const eval_card *card)
{
    size_t n = 0;
    size_t n_values = 0;
    size_t at = 0;
    core_str l;
    while (next_line(card->behavior, &at, &l)) {
        n += l.len > 0;
        n_values += l.len > 0 && l.ptr[0] != '!';
    }
    return n ? (double)n_values / (double)n : 0.0;
}

/* How many of the other candidates' behaviors hold each of card i's observations (its lines
   that are not empty and do not start with '!'), summed over its observations; each other
   candidate j counts weight[j] (1 when weight is NULL). */
static double agreeing(const eval_card *cards, size_t n_cards, size_t i, const double *weight)
{
    double sum = 0.0;
    size_t at = 0;
    core_str l;
    while (next_line(cards[i].behavior, &at, &l)) {
        if (l.len == 0 || l.ptr[0] == '!') {
            continue;
        }
        for (size_t j = 0; j < n_cards; j++) {
            if (j != i && has_line(cards[j].behavior, l)) {
                sum += weight ? weight[j] : 1.0;
            }
        }
    }
    return sum;
}

/* ---- ordering ---- */

typedef struct score_ref {
    const eval_score *score;
    size_t i;
    bool in_band; /* its agreement is within the band of the best (coder tie-break) */
    double coder; /* coder * logprob_sum, compared within the band */
} score_ref;

static int compare_desc(double a, double b)
{
    return a > b ? -1 : (a < b ? 1 : 0);
}

static int compare_score(const void *pa, const void *pb)
{
    const score_ref *a = pa;
    const score_ref *b = pb;
    int c = compare_desc(a->score->correctness, b->score->correctness);
    if (c == 0 && a->in_band != b->in_band) {
        c = a->in_band ? -1 : 1;
    }
    c = c ? c : (a->in_band ? compare_desc(a->coder, b->coder) : 0);
    c = c ? c : compare_desc(a->score->agreement, b->score->agreement);
    c = c ? c : compare_desc(a->score->quality, b->score->quality);
    c = c ? c : compare_desc(a->score->likelihood, b->score->likelihood);
    return c ? c : (a->i < b->i ? -1 : (a->i > b->i ? 1 : 0));
}

/* NaN would break the sort's ordering: it ranks below everything instead. */
static double ordered(double x)
{
    return isnan(x) ? -HUGE_VAL : x;
}

static double excess(double value, double free)
{
    return value > free ? value - free : 0.0;
}

static double quality_score(const eval_card *card, const eval_rank_options *o)
{
    if (!card->has_quality) {
        return 0.0;
    }
    const eval_quality *q = &card->quality;
    double penalty = o->cyclomatic * excess(q->cyclomatic, o->cyclomatic_free) +
                     o->nesting * excess(q->nesting_max, o->nesting_free) + o->lines * q->n_lines +
                     o->tokens * q->n_tokens + o->bad_name * q->n_names_bad +
                     o->short_name * q->n_names_short;
    double comments = q->n_comment_lines < o->comment_max ? q->n_comment_lines : o->comment_max;
    return o->comment * comments - penalty;
}

int eval_rank(size_t *order, eval_score *scores, const eval_card *cards, size_t n_cards,
              const eval_rank_options *opts, core_err *err)
{
    int rc = 0;
    eval_score *own = NULL;
    behavior_ref *groups = NULL;
    score_ref *refs = NULL;
    double *weight = NULL;
    const eval_rank_options defaults = eval_rank_options_default();
    const eval_rank_options *o = opts ? opts : &defaults;

    for (size_t i = 0; i < n_cards; i++) {
        if (cards[i].n_tests_passed > cards[i].n_tests_run ||
            cards[i].n_gen_passed > cards[i].n_gen_run) {
            return core_err_set(err, CORE_EINVAL, "candidate %zu: more tests passed than run", i);
        }
    }
    if (n_cards == 0) {
        return 0;
    }
    if (!scores) {
        own = core_calloc(n_cards, sizeof(*own));
        scores = own;
    }
    groups = core_malloc(sizeof(*groups) * n_cards);
    refs = core_malloc(sizeof(*refs) * n_cards);
    if (!scores || !groups || !refs) {
        rc = core_err_set(err, CORE_ENOMEM, "rank: out of memory for %zu candidates", n_cards);
        goto done;
    }

    bool any_gen = false;
    for (size_t i = 0; i < n_cards; i++) {
        any_gen = any_gen || cards[i].n_gen_run > 0;
        groups[i] = (behavior_ref){cards[i].behavior, i};
        if (groups[i].behavior.len > 0 && !groups[i].behavior.ptr) {
            groups[i].behavior.len = 0;
        }
    }
    qsort(groups, n_cards, sizeof(*groups), compare_behavior);
    /* Walk runs of equal behavior; empty behavior is a group of one. */
    double group_max = 0.0;
    for (size_t start = 0; start < n_cards;) {
        size_t end = start + 1;
        if (groups[start].behavior.len > 0) {
            while (end < n_cards && core_str_eq(groups[end].behavior, groups[start].behavior)) {
                end++;
            }
        }
        size_t first = groups[start].i; /* smallest index: ties sort by index */
        for (size_t j = start; j < end; j++) {
            eval_score *s = &scores[groups[j].i];
            s->group = first;
            s->group_size = end - start;
        }
        start = end;
    }
    /* Agreement per observation (MBR-exec-like): 1 + the mean, over the observations, of the
       other candidates that made the same one; times 1 + the generated tests passed (CodeT's
       dual agreement, plus one so that where no candidate passes one, which a small model's
       tests often are, the outputs still count). With one line per candidate (the code, when
       nothing ran) this is the group's size, AlphaCode's clustering. */
    size_t n_obs = 1;
    for (size_t i = 0; i < n_cards; i++) {
        size_t n = count_lines(cards[i].behavior);
        n_obs = n > n_obs ? n : n_obs;
    }
    /* Where generated inputs ran, a candidate that raised on some of them votes with the share
       of its observations that are values: a crowd that fails on half the inputs cannot carry
       a wrong output against candidates that return a value on every one. */
    if (any_gen) {
        weight = core_malloc(sizeof(*weight) * n_cards);
        if (!weight) {
            rc = core_err_set(err, CORE_ENOMEM, "rank: out of memory for %zu candidates", n_cards);
            goto done;
        }
        for (size_t i = 0; i < n_cards; i++) {
            weight[i] = coverage(&cards[i]);
        }
    }
    for (size_t i = 0; i < n_cards; i++) {
        double obs = agreeing(cards, n_cards, i, weight) / (double)n_obs;
        double value = 1.0 + obs;
        if (any_gen) {
            value *= (double)(cards[i].n_gen_passed + 1);
        }
        scores[i].agreement = value;
        group_max = value > group_max ? value : group_max;
    }

    /* Where generated inputs ran, the votes are noisy (few inputs, small crowds): candidates
       whose agreement is within the band of the best count as tied, and among them the model's
       probability of the whole code decides (Coder-Reviewer's coder score), when every
       candidate has one. */
    bool coder = any_gen && o->coder > 0.0 && o->band > 0.0;
    for (size_t i = 0; i < n_cards && coder; i++) {
        coder = cards[i].has_logprob && isfinite(cards[i].logprob_sum);
    }
    for (size_t i = 0; i < n_cards; i++) {
        const eval_card *card = &cards[i];
        eval_score *s = &scores[i];
        double pass =
            card->n_tests_run ? (double)card->n_tests_passed / (double)card->n_tests_run : 0.0;
        s->correctness = ordered(o->pass * pass - o->parse_fail * (card->parses ? 0.0 : 1.0) -
                                 o->limit * (card->limit_hit ? 1.0 : 0.0));
        bool in_band = coder && s->agreement >= o->band * group_max;
        s->agreement = ordered(group_max > 0.0 ? o->agreement * s->agreement / group_max : 0.0);
        s->quality = ordered(quality_score(card, o));
        s->likelihood =
            ordered(card->has_logprob && !isnan(card->logprob_mean) && o->likelihood != 0.0
                        ? o->likelihood * card->logprob_mean
                        : 0.0);
        refs[i] = (score_ref){s, i, in_band, in_band ? o->coder * card->logprob_sum : 0.0};
    }
    qsort(refs, n_cards, sizeof(*refs), compare_score);
    for (size_t r = 0; r < n_cards; r++) {
        order[r] = refs[r].i;
        scores[refs[r].i].rank = r;
    }

done:
    core_free(own);
    core_free(groups);
    core_free(refs);
    core_free(weight);
    return rc;
}
