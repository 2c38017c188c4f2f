/* Tests of gen/sampler.c. */
#include "tests/gen/tests.h"

#include <math.h>
#include <string.h>

#include "core/core.h"
#include "gen/gen.h"

#define N_VOCAB 50

static void fill(float *logits)
{
    for (int i = 0; i < N_VOCAB; i++) {
        logits[i] = (float)((i * 37) % N_VOCAB) / 10.0f; /* best ids: 27, 4, 31, 8 */
    }
}

static gen_sampler *make(float temp, int32_t top_k, float top_p, float min_p, uint64_t seed)
{
    gen_sampler_options o = gen_sampler_options_default();
    o.temp = temp;
    o.top_k = top_k;
    o.top_p = top_p;
    o.min_p = min_p;
    o.seed = seed;
    gen_sampler *s = NULL;
    ck_assert_int_eq(gen_sampler_new(&s, &o, N_VOCAB, NULL), 0);
    return s;
}

START_TEST(sampler__greedy_takes_argmax)
{
    gen_sampler *s = make(0.0f, 40, 1.0f, 0.0f, 1);
    float logits[N_VOCAB];
    fill(logits);
    int32_t t = -1;
    ck_assert_int_eq(gen_sampler_sample(s, logits, NULL, &t, NULL), 0);
    ck_assert_int_eq(t, 27);
    gen_sampler_free(s);
}
END_TEST

START_TEST(sampler__same_seed_same_tokens)
{
    int32_t a[32];
    int32_t b[32];
    for (int run = 0; run < 2; run++) {
        gen_sampler *s = make(1.0f, 0, 1.0f, 0.0f, 42);
        for (int i = 0; i < 32; i++) {
            float logits[N_VOCAB];
            fill(logits);
            ck_assert_int_eq(gen_sampler_sample(s, logits, NULL, run ? &b[i] : &a[i], NULL), 0);
        }
        gen_sampler_free(s);
    }
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
}
END_TEST

START_TEST(sampler__top_k_keeps_only_k_best)
{
    gen_sampler *s = make(5.0f, 3, 1.0f, 0.0f, 7);
    /* The three best logits are at ids 27, 4 and 31. */
    for (int i = 0; i < 300; i++) {
        float logits[N_VOCAB];
        fill(logits);
        int32_t t = -1;
        ck_assert_int_eq(gen_sampler_sample(s, logits, NULL, &t, NULL), 0);
        ck_assert_msg(t == 27 || t == 4 || t == 31, "drew %d", t);
    }
    gen_sampler_free(s);
}
END_TEST

START_TEST(sampler__top_p_keeps_smallest_set)
{
    gen_sampler *s = make(1.0f, 0, 0.5f, 0.0f, 3);
    float logits[N_VOCAB];
    int seen_other = 0;
    for (int i = 0; i < 200; i++) {
        for (int j = 0; j < N_VOCAB; j++) {
            logits[j] = -10.0f;
        }
        logits[7] = 10.0f; /* alone holds almost all the mass */
        logits[8] = 0.0f;
        int32_t t = -1;
        ck_assert_int_eq(gen_sampler_sample(s, logits, NULL, &t, NULL), 0);
        seen_other += t != 7;
    }
    ck_assert_int_eq(seen_other, 0);
    gen_sampler_free(s);
}
END_TEST

static int refuse_even(void *payload, int32_t token, bool *ok, core_err *err)
{
    (void)payload;
    (void)err;
    *ok = token % 2 != 0;
    return 0;
}

static int mask_below_10(void *payload, float *logits, size_t n, core_err *err)
{
    (void)payload;
    (void)err;
    for (size_t i = 0; i < n && i < 10; i++) {
        logits[i] = -INFINITY;
    }
    return 0;
}

START_TEST(sampler__constraint_is_obeyed)
{
    gen_constraint c = {mask_below_10, refuse_even, NULL};
    for (int greedy = 0; greedy < 2; greedy++) {
        gen_sampler *s = make(greedy ? 0.0f : 2.0f, 0, 1.0f, 0.0f, 9);
        for (int i = 0; i < 100; i++) {
            float logits[N_VOCAB];
            fill(logits);
            int32_t t = -1;
            ck_assert_int_eq(gen_sampler_sample(s, logits, &c, &t, NULL), 0);
            ck_assert_int_eq(t % 2, 1);
            ck_assert_int_ge(t, 10);
        }
        gen_sampler_free(s);
    }
}
END_TEST

static int refuse_all(void *payload, int32_t token, bool *ok, core_err *err)
{
    (void)payload;
    (void)token;
    (void)err;
    *ok = false;
    return 0;
}

START_TEST(sampler__all_refused_is_enotfound)
{
    gen_constraint c = {NULL, refuse_all, NULL};
    gen_sampler *s = make(0.7f, 5, 0.9f, 0.05f, 1);
    float logits[N_VOCAB];
    fill(logits);
    int32_t t = -1;
    core_err err = {0};
    ck_assert_int_eq(gen_sampler_sample(s, logits, &c, &t, &err), CORE_ENOTFOUND);
    gen_sampler_free(s);
}
END_TEST

START_TEST(sampler__repeat_penalty_demotes_history)
{
    gen_sampler_options o = gen_sampler_options_default();
    o.temp = 0.0f;
    o.repeat_penalty = 100.0f;
    gen_sampler *s = NULL;
    ck_assert_int_eq(gen_sampler_new(&s, &o, N_VOCAB, NULL), 0);
    gen_sampler_accept(s, 27);
    float logits[N_VOCAB];
    fill(logits);
    int32_t t = -1;
    ck_assert_int_eq(gen_sampler_sample(s, logits, NULL, &t, NULL), 0);
    ck_assert_int_eq(t, 4);
    gen_sampler_free(s);
}
END_TEST

START_TEST(sampler__sampling_allocates_nothing)
{
    gen_sampler *s = make(0.9f, 10, 0.9f, 0.05f, 5);
    long before = core_alloc_count();
    for (int i = 0; i < 50; i++) {
        float logits[N_VOCAB];
        fill(logits);
        int32_t t = -1;
        ck_assert_int_eq(gen_sampler_sample(s, logits, NULL, &t, NULL), 0);
        gen_sampler_accept(s, t);
    }
    ck_assert_int_eq(core_alloc_count(), before);
    gen_sampler_free(s);
}
END_TEST

/* Logits on a coarse grid (many ties), some -inf, from a seeded LCG. */
static void fill_random(float *logits, size_t n, uint64_t *x)
{
    for (size_t i = 0; i < n; i++) {
        *x = *x * 6364136223846793005ull + 1442695040888963407ull;
        const unsigned r = (unsigned)(*x >> 33);
        logits[i] = r % 13 == 0 ? -INFINITY : (float)(r % 64) / 8.0f - 4.0f;
    }
}

START_TEST(sampler__const_draws_what_sample_draws)
{
    enum { N = 1000 };
    static float logits[N];
    static float copy[N];
    const int32_t top_ks[] = {0, 1, 40, N};
    uint64_t x = 7;
    for (size_t v = 0; v < 8; v++) {
        gen_sampler_options o = gen_sampler_options_default();
        o.top_k = top_ks[v % 4];
        o.temp = v == 5 ? 0.0f : 0.8f;
        o.seed = 100 + v;
        gen_sampler *a = NULL;
        gen_sampler *b = NULL;
        ck_assert_int_eq(gen_sampler_new(&a, &o, N, NULL), 0);
        ck_assert_int_eq(gen_sampler_new(&b, &o, N, NULL), 0);
        for (int i = 0; i < 100; i++) {
            fill_random(logits, N, &x);
            memcpy(copy, logits, sizeof(copy));
            int32_t ta = -1;
            int32_t tb = -2;
            ck_assert_int_eq(gen_sampler_sample(a, copy, NULL, &ta, NULL), 0);
            ck_assert_int_eq(gen_sampler_sample_const(b, logits, &tb, NULL), 0);
            ck_assert_int_eq(ta, tb);
            gen_sampler_accept(a, ta);
            gen_sampler_accept(b, tb);
        }
        gen_sampler_free(a);
        gen_sampler_free(b);
    }
    /* It refuses what would change the logits, and reports a row with nothing finite. */
    gen_sampler_options o = gen_sampler_options_default();
    o.repeat_penalty = 1.1f;
    gen_sampler *s = NULL;
    ck_assert_int_eq(gen_sampler_new(&s, &o, N, NULL), 0);
    int32_t t = -1;
    ck_assert_int_eq(gen_sampler_sample_const(s, logits, &t, NULL), CORE_EINVAL);
    gen_sampler_free(s);
    s = make(0.8f, 40, 0.95f, 0.05f, 1);
    float none[N_VOCAB];
    for (int i = 0; i < N_VOCAB; i++) {
        none[i] = -INFINITY;
    }
    ck_assert_int_eq(gen_sampler_sample_const(s, none, &t, NULL), CORE_ENOTFOUND);
    gen_sampler_free(s);
}
END_TEST

/* The top-k selection keeps exactly the k best (lower id first among ties): drawing with top_k
 * gives the token that drawing over all candidates gives once every other one is -inf. */
START_TEST(sampler__top_k_equals_full_sort)
{
    enum { N = 2000 };
    static float logits[N];
    static float kept[N];
    static int32_t order[N];
    uint64_t x = 99;
    const int32_t ks[] = {1, 2, 40, 100, 1999};
    for (size_t v = 0; v < 5; v++) {
        const int32_t k = ks[v];
        gen_sampler_options o = gen_sampler_options_default();
        o.top_k = k;
        o.top_p = 1.0f;
        o.min_p = 0.0f;
        o.temp = 1.5f;
        o.seed = 5 + v;
        gen_sampler *a = NULL;
        ck_assert_int_eq(gen_sampler_new(&a, &o, N, NULL), 0);
        o.top_k = 0;
        gen_sampler *b = NULL;
        ck_assert_int_eq(gen_sampler_new(&b, &o, N, NULL), 0);
        for (int i = 0; i < 50; i++) {
            fill_random(logits, N, &x);
            /* The reference: a stable insertion sort of ids, best logit first. */
            size_t n = 0;
            for (size_t id = 0; id < N; id++) {
                if (!(logits[id] > -INFINITY)) {
                    continue;
                }
                size_t at = n++;
                while (at > 0 && logits[order[at - 1]] < logits[id]) {
                    order[at] = order[at - 1];
                    at--;
                }
                order[at] = (int32_t)id;
            }
            for (size_t id = 0; id < N; id++) {
                kept[id] = -INFINITY;
            }
            for (size_t r = 0; r < n && r < (size_t)k; r++) {
                kept[order[r]] = logits[order[r]];
            }
            int32_t ta = -1;
            int32_t tb = -2;
            ck_assert_int_eq(gen_sampler_sample_const(a, logits, &ta, NULL), 0);
            ck_assert_int_eq(gen_sampler_sample_const(b, kept, &tb, NULL), 0);
            ck_assert_int_eq(ta, tb);
        }
        gen_sampler_free(a);
        gen_sampler_free(b);
    }
}
END_TEST

TCase *tcase_sampler(void)
{
    TCase *tc = tcase_create("sampler");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, sampler__greedy_takes_argmax);
    tcase_add_test(tc, sampler__same_seed_same_tokens);
    tcase_add_test(tc, sampler__top_k_keeps_only_k_best);
    tcase_add_test(tc, sampler__top_p_keeps_smallest_set);
    tcase_add_test(tc, sampler__constraint_is_obeyed);
    tcase_add_test(tc, sampler__all_refused_is_enotfound);
    tcase_add_test(tc, sampler__repeat_penalty_demotes_history);
    tcase_add_test(tc, sampler__sampling_allocates_nothing);
    tcase_add_test(tc, sampler__const_draws_what_sample_draws);
    tcase_add_test(tc, sampler__top_k_equals_full_sort);
    return tc;
}
