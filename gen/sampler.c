/*
 * Token sampling: repetition penalty, an optional constraint (a mask over the logits and/or a
 * check of each drawn token, which the grammar provides), then greedy choice or top-k, top-p,
 * min-p and temperature, and a draw from a seeded xoshiro256** generator. The candidate
 * buffers are allocated once for the vocabulary, so sampling allocates nothing. A token that
 * the constraint refuses is forbidden and the draw repeats, so only allowed tokens come out.
 */
#include "gen/gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    int32_t id;
    float logit;
} cand;

struct gen_sampler {
    gen_sampler_options opts;
    size_t n_vocab;
    cand *cands;       /* (n_vocab) scratch */
    int32_t *history;  /* (repeat_last_n) ring of accepted tokens */
    size_t n_history;  /* tokens in the ring, <= repeat_last_n */
    size_t history_at; /* next slot to write */
    uint64_t rng[4];   /* xoshiro256** state */
};

gen_sampler_options gen_sampler_options_default(void)
{
    gen_sampler_options o = {0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0};
    return o;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(gen_sampler *s)
{
    uint64_t *r = s->rng;
    uint64_t result = rotl(r[1] * 5, 7) * 9;
    uint64_t t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 bits. */
static double next_unit(gen_sampler *s)
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

void gen_sampler_reset(gen_sampler *sampler, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        sampler->rng[i] = splitmix64(&x);
    }
    sampler->n_history = 0;
    sampler->history_at = 0;
}

int gen_sampler_new(gen_sampler **out, const gen_sampler_options *opts, size_t n_vocab,
                    core_err *err)
{
    *out = NULL;
    gen_sampler_options o = opts ? *opts : gen_sampler_options_default();
    if (n_vocab == 0 || !(o.temp >= 0.0f) || o.top_k < 0 || !(o.top_p > 0.0f && o.top_p <= 1.0f) ||
        !(o.min_p >= 0.0f && o.min_p < 1.0f) || !(o.repeat_penalty > 0.0f)) {
        return core_err_set(err, CORE_EINVAL,
                            "sampler: bad options (temp %g, top_k %d, top_p %g, min_p %g, "
                            "repeat_penalty %g)",
                            (double)o.temp, o.top_k, (double)o.top_p, (double)o.min_p,
                            (double)o.repeat_penalty);
    }
    gen_sampler *s = core_calloc(1, sizeof(*s));
    if (!s) {
        return core_err_set(err, CORE_ENOMEM, "sampler: out of memory");
    }
    s->opts = o;
    s->n_vocab = n_vocab;
    s->cands = core_malloc(n_vocab * sizeof(*s->cands));
    s->history = core_malloc((o.repeat_last_n ? o.repeat_last_n : 1) * sizeof(*s->history));
    if (!s->cands || !s->history) {
        gen_sampler_free(s);
        return core_err_set(err, CORE_ENOMEM, "sampler: out of memory");
    }
    gen_sampler_reset(s, o.seed);
    *out = s;
    return 0;
}

void gen_sampler_free(gen_sampler *sampler)
{
    if (!sampler) {
        return;
    }
    core_free(sampler->cands);
    core_free(sampler->history);
    core_free(sampler);
}

void gen_sampler_accept(gen_sampler *sampler, int32_t token)
{
    if (sampler->opts.repeat_last_n == 0) {
        return;
    }
    sampler->history[sampler->history_at] = token;
    sampler->history_at = (sampler->history_at + 1) % sampler->opts.repeat_last_n;
    if (sampler->n_history < sampler->opts.repeat_last_n) {
        sampler->n_history++;
    }
}

/* llama.cpp's penalty: divide positive logits, multiply negative ones, once per token. */
static void apply_penalty(gen_sampler *s, float *logits)
{
    const float p = s->opts.repeat_penalty;
    if (p == 1.0f) {
        return;
    }
    for (size_t i = 0; i < s->n_history; i++) {
        int32_t t = s->history[i];
        if (t < 0 || (size_t)t >= s->n_vocab) {
            continue;
        }
        bool seen = false;
        for (size_t j = 0; j < i; j++) {
            seen = seen || s->history[j] == t;
        }
        if (!seen) {
            logits[t] = logits[t] > 0 ? logits[t] / p : logits[t] * p;
        }
    }
}

static int cmp_cand_desc(const void *a, const void *b)
{
    const cand *x = a;
    const cand *y = b;
    if (x->logit != y->logit) {
        return x->logit < y->logit ? 1 : -1;
    }
    return (x->id > y->id) - (x->id < y->id);
}

/* Sift-down for a min-heap on logit (ties: larger id is "smaller", so lower ids win). */
static void heap_down(cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t m = i;
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        if (l < n && cmp_cand_desc(&h[l], &h[m]) > 0) {
            m = l;
        }
        if (r < n && cmp_cand_desc(&h[r], &h[m]) > 0) {
            m = r;
        }
        if (m == i) {
            return;
        }
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

enum { SELECT_BLOCK = 64 };

/* Whether one of x[0..SELECT_BLOCK) is above v (NaN is not). No early exit, so it vectorizes. */
static bool any_above(const float *x, float v)
{
    int any = 0;
    for (size_t j = 0; j < SELECT_BLOCK; j++) {
        any |= x[j] > v;
    }
    return any != 0;
}

/* Puts the k best finite candidates first, sorted; returns how many there are. */
static size_t select_top(gen_sampler *s, const float *logits, size_t k)
{
    size_t n = 0;
    cand *c = s->cands;
    if (k == 0 || k >= s->n_vocab) {
        for (size_t i = 0; i < s->n_vocab; i++) {
            if (logits[i] > -INFINITY) {
                c[n].id = (int32_t)i;
                c[n].logit = logits[i];
                n++;
            }
        }
        qsort(c, n, sizeof(*c), cmp_cand_desc);
        return n;
    }
    /* A min-heap of the k best so far: O(n log k). */
    size_t i = 0;
    for (; i < s->n_vocab && n < k; i++) {
        if (logits[i] > -INFINITY) {
            c[n].id = (int32_t)i;
            c[n].logit = logits[i];
            n++;
        }
    }
    for (size_t j = n / 2; j-- > 0;) {
        heap_down(c, n, j);
    }
    /* The rest of the vocabulary against the heap's worst: ids only grow, so a tie with it
     * loses (cmp_cand_desc prefers the lower id) and one comparison of floats decides. Most
     * logits fail it, so whole blocks are first tested at once (a loop the compiler turns
     * into vector compares), and only a block holding a better one is walked. */
    float worst = n == k ? c[0].logit : INFINITY;
    while (i < s->n_vocab) {
        const size_t end = i + SELECT_BLOCK <= s->n_vocab ? i + SELECT_BLOCK : s->n_vocab;
        if (end - i == SELECT_BLOCK && !any_above(logits + i, worst)) {
            i = end;
            continue;
        }
        for (; i < end; i++) {
            if (logits[i] > worst) {
                c[0].id = (int32_t)i;
                c[0].logit = logits[i];
                heap_down(c, n, 0);
                worst = c[0].logit;
            }
        }
    }
    qsort(c, n, sizeof(*c), cmp_cand_desc);
    return n;
}

static int32_t argmax(const float *logits, size_t n)
{
    int32_t best = -1;
    float v = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (logits[i] > v) {
            v = logits[i];
            best = (int32_t)i;
        }
    }
    return best;
}

static int32_t draw(gen_sampler *s, const float *logits)
{
    const gen_sampler_options *o = &s->opts;
    size_t n = select_top(s, logits, (size_t)o->top_k);
    if (n == 0) {
        return -1;
    }
    cand *c = s->cands;
    /* Softmax at temperature over the kept candidates (sorted, best first); the weights
     * replace the logits in place. */
    double sum = 0;
    const float max = c[0].logit;
    for (size_t i = 0; i < n; i++) {
        c[i].logit = (float)exp((double)(c[i].logit - max) / (double)o->temp);
        sum += (double)c[i].logit;
    }
    /* top-p: the smallest prefix whose mass reaches top_p; min-p: drop p < min_p * p_max. */
    size_t keep = n;
    double acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc += (double)c[i].logit / sum;
        if (acc >= (double)o->top_p) {
            keep = i + 1;
            break;
        }
    }
    if (o->min_p > 0.0f) {
        for (size_t i = 1; i < keep; i++) {
            if ((double)c[i].logit < (double)o->min_p * (double)c[0].logit) {
                keep = i;
                break;
            }
        }
    }
    double total = 0;
    for (size_t i = 0; i < keep; i++) {
        total += (double)c[i].logit;
    }
    double r = next_unit(s) * total;
    for (size_t i = 0; i < keep; i++) {
        r -= (double)c[i].logit;
        if (r < 0) {
            return c[i].id;
        }
    }
    return c[keep - 1].id;
}

/* The token the options pick from logits: the best at temperature 0, else a draw; -1 if every
 * logit is -inf. */
static int32_t pick(gen_sampler *s, const float *logits)
{
    return s->opts.temp <= 0.0f ? argmax(logits, s->n_vocab) : draw(s, logits);
}

int gen_sampler_sample_const(gen_sampler *sampler, const float *logits, int32_t *out, core_err *err)
{
    if (sampler->opts.repeat_penalty != 1.0f) {
        return core_err_set(err, CORE_EINVAL,
                            "sampler: a repetition penalty (%g) changes the logits: use "
                            "gen_sampler_sample",
                            (double)sampler->opts.repeat_penalty);
    }
    const int32_t t = pick(sampler, logits);
    if (t < 0) {
        return core_err_set(err, CORE_ENOTFOUND, "sampler: every logit is -inf");
    }
    *out = t;
    return 0;
}

int gen_sampler_sample(gen_sampler *sampler, float *logits, const gen_constraint *constraint,
                       int32_t *out, core_err *err)
{
    apply_penalty(sampler, logits);
    if (constraint && constraint->mask) {
        int rc = constraint->mask(constraint->payload, logits, sampler->n_vocab, err);
        if (rc < 0) {
            return rc;
        }
    }
    /* Each refusal forbids one token, so this ends within n_vocab rounds. */
    for (size_t round = 0; round < sampler->n_vocab; round++) {
        const int32_t t = pick(sampler, logits);
        if (t < 0) {
            break;
        }
        bool ok = true;
        if (constraint && constraint->allows) {
            int rc = constraint->allows(constraint->payload, t, &ok, err);
            if (rc < 0) {
                return rc;
            }
        }
        if (ok) {
            *out = t;
            return 0;
        }
        logits[t] = -INFINITY;
    }
    return core_err_set(err, CORE_ENOTFOUND, "sampler: the constraint forbids every token");
}
