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
    return tc;
}
