/*
 * Tests of gen/ctx.c on the default model: batched decoding of several sequences equals
 * decoding them one by one; a copied prompt prefix equals a recomputed one; 1 and 2 threads
 * agree; decoding allocates nothing; bad batches are refused without changing the cache.
 */
#include "tests/gen/tests.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "gen/gen.h"

#define CTX_MODEL KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

static gen_model *model;

static void load_model(void)
{
    core_err err = {0};
    ck_assert_msg(gen_model_load(&model, CTX_MODEL, NULL, &err) == 0,
                  "%s (scripts/setup.sh fetches the models)", err.msg);
}

static void unload_model(void)
{
    gen_model_free(model);
    model = NULL;
}

static gen_ctx *make_ctx(size_t n_seq, size_t n_threads)
{
    gen_ctx_options o = gen_ctx_options_default();
    o.n_ctx = 64;
    o.n_seq_max = n_seq;
    o.n_outputs_max = 16;
    o.n_threads = n_threads;
    gen_ctx *c = NULL;
    core_err err = {0};
    ck_assert_msg(gen_ctx_new(&c, model, &o, &err) == 0, "%s", err.msg);
    return c;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        m = d > m ? d : m;
    }
    return m;
}

static const int32_t prompts[3][5] = {
    {1, 330, 2580, 28, 198}, {9, 7, 1500, 30000, 12}, {44, 45, 46, 47, 48}};

START_TEST(ctx__batched_equals_sequential)
{
    const size_t V = gen_model_n_vocab(model);
    gen_ctx *one = make_ctx(1, 1);
    gen_ctx *many = make_ctx(3, 1);
    static float ref[3][49152];
    for (int s = 0; s < 3; s++) {
        gen_batch b = {prompts[s], NULL, NULL, 5};
        ck_assert_int_eq(gen_ctx_seq_truncate(one, 0, 0, NULL), 0);
        ck_assert_int_eq(gen_ctx_decode(one, &b, NULL), 0);
        memcpy(ref[s], gen_ctx_logits(one, 0), V * sizeof(float));
    }
    /* All three prompts interleaved in one batch. */
    int32_t toks[15];
    int32_t seqs[15];
    for (int i = 0; i < 5; i++) {
        for (int s = 0; s < 3; s++) {
            toks[i * 3 + s] = prompts[s][i];
            seqs[i * 3 + s] = s;
        }
    }
    gen_batch b = {toks, seqs, NULL, 15};
    ck_assert_int_eq(gen_ctx_decode(many, &b, NULL), 0);
    for (int s = 0; s < 3; s++) {
        /* Outputs come in batch order: the last tokens are those of sequences 0, 1, 2. */
        double d = max_abs_diff(gen_ctx_logits(many, (size_t)s), ref[s], V);
        ck_assert_msg(d < 1e-3, "sequence %d differs by %g", s, d);
        ck_assert_uint_eq(gen_ctx_seq_len(many, s), 5);
    }
    gen_ctx_free(one);
    gen_ctx_free(many);
}
END_TEST

START_TEST(ctx__copied_prefix_equals_recomputed)
{
    const size_t V = gen_model_n_vocab(model);
    gen_ctx *c = make_ctx(2, 1);
    gen_batch b = {prompts[0], NULL, NULL, 4};
    ck_assert_int_eq(gen_ctx_decode(c, &b, NULL), 0);
    ck_assert_int_eq(gen_ctx_seq_copy(c, 1, 0, 4, NULL), 0);
    int32_t last = prompts[0][4];
    int32_t seq1 = 1;
    gen_batch next = {&last, &seq1, NULL, 1};
    ck_assert_int_eq(gen_ctx_decode(c, &next, NULL), 0);
    static float copied[49152];
    memcpy(copied, gen_ctx_logits(c, 0), V * sizeof(float));
    ck_assert_int_eq(gen_ctx_seq_truncate(c, 0, 0, NULL), 0);
    gen_batch full = {prompts[0], NULL, NULL, 5};
    ck_assert_int_eq(gen_ctx_decode(c, &full, NULL), 0);
    ck_assert_double_lt(max_abs_diff(gen_ctx_logits(c, 0), copied, V), 1e-4);
    gen_ctx_free(c);
}
END_TEST

/* A prompt, then single tokens (where one thread does every token-wise step), on 1-3 threads. */
START_TEST(ctx__threads_agree)
{
    const size_t V = gen_model_n_vocab(model);
    static float ref[2][49152];
    for (size_t nt = 1; nt <= 3; nt++) {
        gen_ctx *c = make_ctx(1, nt);
        gen_batch b = {prompts[1], NULL, NULL, 5};
        ck_assert_int_eq(gen_ctx_decode(c, &b, NULL), 0);
        const float *got[2] = {gen_ctx_logits(c, 0), NULL};
        if (nt == 1) {
            memcpy(ref[0], got[0], V * sizeof(float));
        } else {
            ck_assert_double_lt(max_abs_diff(got[0], ref[0], V), 1e-4);
        }
        for (size_t i = 0; i < 3; i++) {
            gen_batch one = {&prompts[0][i], NULL, NULL, 1};
            ck_assert_int_eq(gen_ctx_decode(c, &one, NULL), 0);
        }
        got[1] = gen_ctx_logits(c, 0);
        if (nt == 1) {
            memcpy(ref[1], got[1], V * sizeof(float));
        } else {
            ck_assert_double_lt(max_abs_diff(got[1], ref[1], V), 1e-4);
        }
        gen_ctx_free(c);
    }
}
END_TEST

START_TEST(ctx__decode_allocates_nothing)
{
    gen_ctx *c = make_ctx(2, 2);
    gen_batch b = {prompts[2], NULL, NULL, 5};
    ck_assert_int_eq(gen_ctx_decode(c, &b, NULL), 0);
    long before = core_alloc_count();
    for (int i = 0; i < 8; i++) {
        int32_t toks[2] = {100 + i, 200 + i};
        int32_t seqs[2] = {0, 1};
        gen_batch step = {toks, seqs, NULL, 2};
        ck_assert_int_eq(gen_ctx_decode(c, &step, NULL), 0);
    }
    ck_assert_int_eq(core_alloc_count(), before);
    gen_ctx_free(c);
}
END_TEST

START_TEST(ctx__bad_batches_are_refused)
{
    gen_ctx *c = make_ctx(1, 1);
    core_err err = {0};
    int32_t bad_tok = 1 << 30;
    gen_batch b = {&bad_tok, NULL, NULL, 1};
    ck_assert_int_eq(gen_ctx_decode(c, &b, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "out of range"));
    int32_t tok = 5;
    int32_t seq = 3;
    gen_batch bs = {&tok, &seq, NULL, 1};
    ck_assert_int_eq(gen_ctx_decode(c, &bs, &err), CORE_EINVAL);
    static int32_t many[65];
    for (int i = 0; i < 65; i++) {
        many[i] = 7;
    }
    gen_batch over = {many, NULL, NULL, 65};
    ck_assert_int_eq(gen_ctx_decode(c, &over, &err), CORE_ELIMIT);
    ck_assert_uint_eq(gen_ctx_seq_len(c, 0), 0);
    ck_assert_int_eq(gen_ctx_seq_copy(c, 0, 0, 3, &err), CORE_EINVAL);
    gen_ctx_free(c);
}
END_TEST

START_TEST(ctx__enomem_leaks_nothing)
{
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        gen_ctx_options o = gen_ctx_options_default();
        o.n_ctx = 16;
        o.n_threads = 2;
        gen_ctx *c = NULL;
        core_alloc_fail_after(n);
        int rc = gen_ctx_new(&c, model, &o, NULL);
        core_alloc_fail_after(0);
        if (rc == 0) {
            gen_ctx_free(c);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

/* gen_ctx_argmax is the first largest logit of each kept row, and -1 past the last. */
START_TEST(ctx__argmax_matches_logits)
{
    const size_t V = gen_model_n_vocab(model);
    gen_ctx *c = make_ctx(3, 1);
    int32_t toks[3] = {prompts[0][0], prompts[1][0], prompts[2][0]};
    int32_t seqs[3] = {0, 1, 2};
    gen_batch b = {toks, seqs, NULL, 3};
    core_err err = {0};
    ck_assert_msg(gen_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < 3; i++) {
        const float *l = gen_ctx_logits(c, i);
        size_t best = 0;
        for (size_t v = 1; v < V; v++) {
            best = l[v] > l[best] ? v : best;
        }
        ck_assert_int_eq(gen_ctx_argmax(c, i), (int32_t)best);
    }
    ck_assert_int_eq(gen_ctx_argmax(c, 3), -1);
    gen_ctx_free(c);
}
END_TEST

TCase *tcase_ctx(void)
{
    TCase *tc = tcase_create("ctx");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, load_model, unload_model);
    tcase_add_test(tc, ctx__batched_equals_sequential);
    tcase_add_test(tc, ctx__copied_prefix_equals_recomputed);
    tcase_add_test(tc, ctx__threads_agree);
    tcase_add_test(tc, ctx__decode_allocates_nothing);
    tcase_add_test(tc, ctx__bad_batches_are_refused);
    tcase_add_test(tc, ctx__enomem_leaks_nothing);
    tcase_add_test(tc, ctx__argmax_matches_logits);
    return tc;
}
