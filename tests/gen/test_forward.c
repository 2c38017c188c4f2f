/*
 * Tests of the forward pass (gen/ctx.c, gen/model.c) on tiny random models: kiln's logits are
 * compared with the scalar double-precision reference of tests/tools/tiny_ref.c for every
 * architecture and weight type, over a 12-token prompt and single-token decode steps, by
 * normalized mean squared error (NMSE, per logits row). The tolerances allow for what kiln
 * does like ggml: activations converted to the weights' vec-dot type (8-bit for quantized
 * weights, BF16 for BF16) and an F16 KV cache. llama.cpp itself (llama-cpp-python 0.3.x) stays
 * within a quarter of them on the same files: at most 3e-6 for F32/F16, 9e-5 for BF16, 1.4e-3
 * for the quantized types (gemma3 Q5_0 being the worst).
 */
#include "tests/gen/tests.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "gen/gen.h"
#include "tests/tools/tiny_model.h"
#include "tests/tools/tiny_ref.h"

#define N_PROMPT 12
#define N_STEPS  6
#define N_TOTAL  (N_PROMPT + N_STEPS)
#define N_GOLDEN 16

/* The prompt after the model's BOS token, then the tokens fed one at a time. Ids are valid in
 * every tiny vocabulary and avoid its control tokens. */
static const int32_t prompt_body[N_PROMPT - 1] = {40, 77, 123, 200, 261, 150, 99, 17, 250, 33, 66};
static const int32_t step_tokens[N_STEPS] = {7, 270, 101, 55, 180, 290};

typedef struct forward_case {
    tiny_arch arch;
    kern_type type;
} forward_case;

static const forward_case forward_cases[] = {
    {TINY_ARCH_LLAMA, KERN_TYPE_F32},   {TINY_ARCH_LLAMA, KERN_TYPE_F16},
    {TINY_ARCH_LLAMA, KERN_TYPE_BF16},  {TINY_ARCH_LLAMA, KERN_TYPE_Q8_0},
    {TINY_ARCH_LLAMA, KERN_TYPE_Q4_0},  {TINY_ARCH_LLAMA, KERN_TYPE_Q4_1},
    {TINY_ARCH_LLAMA, KERN_TYPE_Q5_0},  {TINY_ARCH_LLAMA, KERN_TYPE_Q4_K},
    {TINY_ARCH_LLAMA, KERN_TYPE_Q5_K},  {TINY_ARCH_LLAMA, KERN_TYPE_Q6_K},
    {TINY_ARCH_QWEN2, KERN_TYPE_F32},   {TINY_ARCH_QWEN2, KERN_TYPE_F16},
    {TINY_ARCH_QWEN2, KERN_TYPE_BF16},  {TINY_ARCH_QWEN2, KERN_TYPE_Q8_0},
    {TINY_ARCH_QWEN2, KERN_TYPE_Q4_0},  {TINY_ARCH_QWEN2, KERN_TYPE_Q4_1},
    {TINY_ARCH_QWEN2, KERN_TYPE_Q5_0},  {TINY_ARCH_QWEN2, KERN_TYPE_Q4_K},
    {TINY_ARCH_QWEN2, KERN_TYPE_Q5_K},  {TINY_ARCH_QWEN2, KERN_TYPE_Q6_K},
    {TINY_ARCH_GEMMA3, KERN_TYPE_F32},  {TINY_ARCH_GEMMA3, KERN_TYPE_F16},
    {TINY_ARCH_GEMMA3, KERN_TYPE_BF16}, {TINY_ARCH_GEMMA3, KERN_TYPE_Q8_0},
    {TINY_ARCH_GEMMA3, KERN_TYPE_Q4_0}, {TINY_ARCH_GEMMA3, KERN_TYPE_Q4_1},
    {TINY_ARCH_GEMMA3, KERN_TYPE_Q5_0}, {TINY_ARCH_GEMMA3, KERN_TYPE_Q4_K},
    {TINY_ARCH_GEMMA3, KERN_TYPE_Q5_K}, {TINY_ARCH_GEMMA3, KERN_TYPE_Q6_K},
};
#define N_FORWARD_CASES ((int)(sizeof(forward_cases) / sizeof(forward_cases[0])))

/* Batched decoding and sequence copies run on these (one with a sliding window). */
static const forward_case batch_cases[] = {
    {TINY_ARCH_LLAMA, KERN_TYPE_Q8_0},
    {TINY_ARCH_GEMMA3, KERN_TYPE_F32},
};
#define N_BATCH_CASES ((int)(sizeof(batch_cases) / sizeof(batch_cases[0])))

/* Largest NMSE per logits row allowed against the reference. */
static double tolerance(kern_type type)
{
    switch (type) {
    case KERN_TYPE_F32:
    case KERN_TYPE_F16:
        return 1e-5;
    case KERN_TYPE_BF16:
        return 4e-4;
    default:
        return 5e-3;
    }
}

/* Two runs of kiln that should compute the same thing may differ only by rounding. */
#define SAME_NMSE 1e-9

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Fails the test with err's message when rc is not 0. */
static void expect_ok(int rc, const core_err *err, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "forward: %s: %s\n", what, err->msg);
    }
    ck_assert_int_eq(rc, 0);
}

static double nmse(const float *got, const float *want, size_t n)
{
    double err = 0.0;
    double ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)got[i] - (double)want[i];
        err += d * d;
        ref += (double)want[i] * (double)want[i];
    }
    return ref > 0.0 ? err / ref : err;
}

/* Whether n floats have the same bits (NaNs and signed zeros included). */
static bool same_bits(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        uint32_t y;
        memcpy(&x, &a[i], sizeof(x));
        memcpy(&y, &b[i], sizeof(y));
        if (x != y) {
            return false;
        }
    }
    return true;
}

/* A tiny model written to KILN_TEST_TMP and loaded by kiln, with the reference's copy. */
typedef struct tiny_env {
    tiny_model *tm;
    gen_model *gm;
    char path[512];
    int32_t tokens[N_TOTAL]; /* prompt (BOS first), then the steps */
} tiny_env;

static void env_open_spec(tiny_env *env, const tiny_model_spec *spec, kern_backend_kind kind,
                          const char *tag)
{
    core_err err = {0};
    memset(env, 0, sizeof(*env));
    expect_ok(tiny_model_new(&env->tm, spec, &err), &err, "tiny model");
    snprintf(env->path, sizeof(env->path), "%s/tiny-%s-%s-%s-%ld.gguf", KILN_TEST_TMP,
             tiny_arch_name(spec->arch), kern_type_name(spec->type), tag, (long)getpid());
    expect_ok(tiny_model_save(env->tm, env->path, &err), &err, "save");
    gen_model_options mo = gen_model_options_default();
    mo.kernels = kind;
    expect_ok(gen_model_load(&env->gm, env->path, &mo, &err), &err, env->path);
    ck_assert_uint_eq(gen_model_n_vocab(env->gm), TINY_MODEL_N_VOCAB);
    env->tokens[0] = env->tm->token_bos;
    memcpy(env->tokens + 1, prompt_body, sizeof(prompt_body));
    memcpy(env->tokens + N_PROMPT, step_tokens, sizeof(step_tokens));
}

static void env_open(tiny_env *env, const forward_case *c, kern_backend_kind kind, const char *tag)
{
    const tiny_model_spec spec = tiny_model_spec_default(c->arch, c->type);
    env_open_spec(env, &spec, kind, tag);
}

static void env_close(tiny_env *env)
{
    gen_model_free(env->gm);
    tiny_model_free(env->tm);
    unlink(env->path);
}

static gen_ctx *ctx_open(const gen_model *gm, size_t n_seq, size_t n_batch, size_t n_threads)
{
    core_err err = {0};
    gen_ctx *ctx = NULL;
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = 64;
    co.n_seq_max = n_seq;
    co.n_batch_max = n_batch;
    co.n_outputs_max = N_TOTAL;
    co.n_threads = n_threads;
    expect_ok(gen_ctx_new(&ctx, gm, &co, &err), &err, "context");
    return ctx;
}

/* Decodes n tokens into seq; keeps logits of all of them when all_logits, else of the last. */
static void decode_seq(gen_ctx *ctx, const int32_t *tokens, size_t n, int32_t seq_id,
                       bool all_logits)
{
    int32_t seq[N_TOTAL];
    bool keep[N_TOTAL];
    ck_assert_uint_le(n, N_TOTAL);
    for (size_t i = 0; i < n; i++) {
        seq[i] = seq_id;
        keep[i] = all_logits || i + 1 == n;
    }
    const gen_batch batch = {tokens, seq, keep, n};
    core_err err = {0};
    expect_ok(gen_ctx_decode(ctx, &batch, &err), &err, "decode");
}

static float *logits_at(gen_ctx *ctx, size_t i)
{
    float *l = gen_ctx_logits(ctx, i);
    ck_assert_ptr_nonnull(l);
    return l;
}

/* ------------------------------------------------------------------------------------------ */
/* Logits against the reference                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Cases [0, N_FORWARD_CASES) run kiln's best kernels, the next N_FORWARD_CASES the ref ones. */
START_TEST(forward__logits_match_reference)
{
    const forward_case *c = &forward_cases[_i % N_FORWARD_CASES];
    const kern_backend_kind kind =
        _i < N_FORWARD_CASES ? KERN_BACKEND_KIND_BEST : KERN_BACKEND_KIND_REF;
    const size_t n_vocab = TINY_MODEL_N_VOCAB;
    tiny_env env;
    core_err err = {0};
    env_open(&env, c, kind, kind == KERN_BACKEND_KIND_REF ? "ref" : "best");
    float *ref = malloc(N_TOTAL * n_vocab * sizeof(float));
    ck_assert_ptr_nonnull(ref);
    ck_assert_int_eq(tiny_ref_forward(env.tm, env.tokens, N_TOTAL, ref, &err), 0);

    gen_ctx *ctx = ctx_open(env.gm, 1, 16, 1);
    double worst = 0.0;
    size_t worst_row = 0;
    decode_seq(ctx, env.tokens, N_PROMPT, 0, true);
    for (size_t i = 0; i < N_PROMPT; i++) {
        const double e = nmse(logits_at(ctx, i), ref + i * n_vocab, n_vocab);
        worst_row = e > worst ? i : worst_row;
        worst = e > worst ? e : worst;
    }
    for (size_t s = 0; s < N_STEPS; s++) {
        decode_seq(ctx, env.tokens + N_PROMPT + s, 1, 0, true);
        const size_t row = N_PROMPT + s;
        const double e = nmse(logits_at(ctx, 0), ref + row * n_vocab, n_vocab);
        worst_row = e > worst ? row : worst_row;
        worst = e > worst ? e : worst;
    }
    if (worst >= tolerance(c->type)) {
        fprintf(stderr,
                "forward: %s %s, %s kernels: position %zu (%s): nmse %.3e, tolerance %.1e\n",
                tiny_arch_name(c->arch), kern_type_name(c->type),
                kind == KERN_BACKEND_KIND_REF ? "ref" : "best", worst_row,
                worst_row < N_PROMPT ? "prompt" : "decode step", worst, tolerance(c->type));
    }
    ck_assert_double_lt(worst, tolerance(c->type));
    gen_ctx_free(ctx);
    free(ref);
    env_close(&env);
}
END_TEST

/* A prompt longer than n_batch_max goes through several passes with the same result. */
START_TEST(forward__long_batch_splits_into_passes)
{
    const forward_case c = {TINY_ARCH_GEMMA3, KERN_TYPE_F32};
    tiny_env env;
    env_open(&env, &c, KERN_BACKEND_KIND_BEST, "split");
    gen_ctx *whole = ctx_open(env.gm, 1, 32, 1);
    gen_ctx *split = ctx_open(env.gm, 1, 5, 1);
    decode_seq(whole, env.tokens, N_TOTAL, 0, true);
    decode_seq(split, env.tokens, N_TOTAL, 0, true);
    for (size_t i = 0; i < N_TOTAL; i++) {
        ck_assert_double_lt(nmse(logits_at(split, i), logits_at(whole, i), TINY_MODEL_N_VOCAB),
                            SAME_NMSE);
    }
    gen_ctx_free(whole);
    gen_ctx_free(split);
    env_close(&env);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Batches and sequences                                                                      */
/* ------------------------------------------------------------------------------------------ */

/*
 * Three sequences of different lengths decoded in one interleaved batch, then one more token
 * each in a second batch, give the logits of decoding each alone.
 */
START_TEST(forward__batched_sequences_match_single)
{
    const forward_case *c = &batch_cases[_i];
    const size_t n_vocab = TINY_MODEL_N_VOCAB;
    static const size_t lens[3] = {N_PROMPT, 7, 10};
    tiny_env env;
    env_open(&env, c, KERN_BACKEND_KIND_BEST, "batch");

    /* Sequence k is the prompt rotated by k, so the three differ from the first token on. */
    int32_t seqs[3][N_PROMPT + 1];
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i <= N_PROMPT; i++) {
            seqs[k][i] = env.tokens[(i + 3 * k) % N_TOTAL];
        }
    }
    float *alone = malloc(2 * 3 * n_vocab * sizeof(float));
    ck_assert_ptr_nonnull(alone);
    for (size_t k = 0; k < 3; k++) {
        gen_ctx *ctx = ctx_open(env.gm, 1, 16, 1);
        decode_seq(ctx, seqs[k], lens[k], 0, false);
        memcpy(alone + k * n_vocab, logits_at(ctx, 0), n_vocab * sizeof(float));
        decode_seq(ctx, &seqs[k][lens[k]], 1, 0, false);
        memcpy(alone + (3 + k) * n_vocab, logits_at(ctx, 0), n_vocab * sizeof(float));
        gen_ctx_free(ctx);
    }

    /* Round-robin interleaving: each sequence's tokens stay in order. */
    int32_t tokens[3 * N_PROMPT];
    int32_t seq[3 * N_PROMPT];
    size_t n = 0;
    for (size_t i = 0; i < N_PROMPT; i++) {
        for (size_t k = 0; k < 3; k++) {
            if (i < lens[k]) {
                tokens[n] = seqs[k][i];
                seq[n++] = (int32_t)k;
            }
        }
    }
    gen_ctx *ctx = ctx_open(env.gm, 3, 3 * N_PROMPT, 2);
    const gen_batch batch = {tokens, seq, NULL, n};
    core_err err = {0};
    ck_assert_int_eq(gen_ctx_decode(ctx, &batch, &err), 0);
    /* With logits NULL, each sequence's last token keeps them, in batch order: 1, 2, 0. */
    static const size_t order[3] = {1, 2, 0};
    for (size_t j = 0; j < 3; j++) {
        const size_t k = order[j];
        ck_assert_double_lt(nmse(logits_at(ctx, j), alone + k * n_vocab, n_vocab), SAME_NMSE);
    }
    ck_assert_ptr_null(gen_ctx_logits(ctx, 3));

    int32_t next[3];
    const int32_t next_seq[3] = {2, 0, 1};
    for (size_t j = 0; j < 3; j++) {
        next[j] = seqs[next_seq[j]][lens[next_seq[j]]];
    }
    const gen_batch step = {next, next_seq, NULL, 3};
    ck_assert_int_eq(gen_ctx_decode(ctx, &step, &err), 0);
    for (size_t j = 0; j < 3; j++) {
        const size_t k = (size_t)next_seq[j];
        ck_assert_uint_eq(gen_ctx_seq_len(ctx, (int32_t)k), lens[k] + 1);
        ck_assert_double_lt(nmse(logits_at(ctx, j), alone + (3 + k) * n_vocab, n_vocab), SAME_NMSE);
    }
    gen_ctx_free(ctx);
    free(alone);
    env_close(&env);
}
END_TEST

/*
 * A decoding step's logits are the bits of each sequence's step alone on one thread, whatever
 * the threads (1 to 3) and the step's sequences (1, 3 or 4): the step's attention then goes by
 * tokens (4 on 2 threads, 3 on 3) or by query heads (1 on 2 threads, 4 on 3), in groups that
 * share a KV head or split between threads, with wo's input converted head by head (Q8_0 on
 * heads of 64) or (F32, Gemma's sliding window) as a whole.
 */
START_TEST(forward__step_same_bits_any_threads_and_batch)
{
    const forward_case *c = &batch_cases[_i];
    tiny_model_spec spec = tiny_model_spec_default(c->arch, c->type);
    if (c->arch == TINY_ARCH_LLAMA) {
        spec.n_head = 6; /* groups of 3 on 2 KV heads, Q8_0 blocks within a head */
        spec.head_dim = 64;
        spec.n_embd = 6 * 64;
    }
    const size_t n_vocab = TINY_MODEL_N_VOCAB;
    static const size_t lens[4] = {N_PROMPT, 7, 10, 5};
    tiny_env env;
    env_open_spec(&env, &spec, KERN_BACKEND_KIND_BEST, "steps");
    int32_t seqs[4][N_PROMPT + 1];
    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i <= N_PROMPT; i++) {
            seqs[k][i] = env.tokens[(i + 3 * k) % N_TOTAL];
        }
    }
    float *alone = malloc(4 * n_vocab * sizeof(float));
    ck_assert_ptr_nonnull(alone);
    for (size_t k = 0; k < 4; k++) {
        gen_ctx *ctx = ctx_open(env.gm, 1, 16, 1);
        decode_seq(ctx, seqs[k], lens[k], 0, false);
        decode_seq(ctx, &seqs[k][lens[k]], 1, 0, false);
        memcpy(alone + k * n_vocab, logits_at(ctx, 0), n_vocab * sizeof(float));
        gen_ctx_free(ctx);
    }
    static const size_t widths[3] = {1, 3, 4};
    for (size_t nth = 1; nth <= 3; nth++) {
        for (size_t wi = 0; wi < 3; wi++) {
            const size_t w = widths[wi];
            gen_ctx *ctx = ctx_open(env.gm, 4, 16, nth);
            int32_t next[4];
            int32_t next_seq[4];
            for (size_t k = 0; k < w; k++) {
                decode_seq(ctx, seqs[k], lens[k], (int32_t)k, false);
                next[k] = seqs[k][lens[k]];
                next_seq[k] = (int32_t)k;
            }
            const gen_batch step = {next, next_seq, NULL, w};
            core_err err = {0};
            expect_ok(gen_ctx_decode(ctx, &step, &err), &err, "step");
            for (size_t k = 0; k < w; k++) {
                const bool same = same_bits(logits_at(ctx, k), alone + k * n_vocab, n_vocab);
                if (!same) {
                    fprintf(stderr, "forward: %s: %zu threads, step of %zu: sequence %zu differs\n",
                            tiny_arch_name(c->arch), nth, w, k);
                }
                ck_assert(same);
            }
            gen_ctx_free(ctx);
        }
    }
    free(alone);
    env_close(&env);
}
END_TEST

/*
 * Copying the first 8 positions of a decoded prompt into another sequence and decoding the
 * rest there gives the logits of decoding the whole prompt; the source is left intact.
 */
START_TEST(forward__seq_copy_matches_recompute)
{
    const forward_case *c = &batch_cases[_i];
    const size_t n_vocab = TINY_MODEL_N_VOCAB;
    const size_t n_prefix = 8;
    tiny_env env;
    core_err err = {0};
    env_open(&env, c, KERN_BACKEND_KIND_BEST, "copy");

    gen_ctx *fresh = ctx_open(env.gm, 1, 16, 1);
    decode_seq(fresh, env.tokens, N_PROMPT + 1, 0, true);

    gen_ctx *ctx = ctx_open(env.gm, 2, 16, 1);
    /* Sequence 0 runs ahead with the first step token before the copy. */
    decode_seq(ctx, env.tokens, N_PROMPT + 1, 0, false);
    ck_assert_int_eq(gen_ctx_seq_copy(ctx, 1, 0, n_prefix, &err), 0);
    ck_assert_uint_eq(gen_ctx_seq_len(ctx, 1), n_prefix);
    ck_assert_uint_eq(gen_ctx_seq_len(ctx, 0), N_PROMPT + 1);
    decode_seq(ctx, env.tokens + n_prefix, N_PROMPT - n_prefix, 1, true);
    for (size_t i = 0; i < N_PROMPT - n_prefix; i++) {
        ck_assert_double_lt(nmse(logits_at(ctx, i), logits_at(fresh, n_prefix + i), n_vocab),
                            SAME_NMSE);
    }
    /* Sequence 1 then takes the first step token, as the fresh context did. */
    decode_seq(ctx, env.tokens + N_PROMPT, 1, 1, false);
    ck_assert_double_lt(nmse(logits_at(ctx, 0), logits_at(fresh, N_PROMPT), n_vocab), SAME_NMSE);

    gen_ctx_free(ctx);
    gen_ctx_free(fresh);
    env_close(&env);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Golden greedy decoding                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Reads the token ids of tests/fixtures/gen/tiny-greedy.txt ('#' lines are comments). */
static size_t golden_read(int32_t *out, size_t n_max)
{
    const char *path = KILN_FIXTURES "/gen/tiny-greedy.txt";
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    size_t n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#') {
            continue;
        }
        char *p = line;
        char *end = NULL;
        for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
            ck_assert_uint_lt(n, n_max);
            out[n++] = (int32_t)v;
            p = end;
        }
    }
    fclose(f);
    return n;
}

static void golden_prompt(const tiny_model *tm, int32_t *prompt)
{
    prompt[0] = tm->token_bos;
    memcpy(prompt + 1, prompt_body, sizeof(prompt_body));
}

/* The fixture is the reference's own greedy output: this catches a changed model generator. */
START_TEST(forward__reference_greedy_matches_golden)
{
    const tiny_model_spec spec = tiny_model_spec_default(TINY_ARCH_LLAMA, KERN_TYPE_F32);
    tiny_model *tm = NULL;
    core_err err = {0};
    ck_assert_int_eq(tiny_model_new(&tm, &spec, &err), 0);
    int32_t prompt[N_PROMPT];
    golden_prompt(tm, prompt);
    int32_t want[N_GOLDEN + 1];
    ck_assert_uint_eq(golden_read(want, N_GOLDEN + 1), N_GOLDEN);
    int32_t got[N_GOLDEN];
    double margin = 0.0;
    ck_assert_int_eq(tiny_ref_greedy(tm, prompt, N_PROMPT, N_GOLDEN, got, &margin, &err), 0);
    if (memcmp(got, want, sizeof(got)) != 0) {
        fprintf(stderr, "forward: reference greedy tokens:");
        for (size_t i = 0; i < N_GOLDEN; i++) {
            fprintf(stderr, " %d", (int)got[i]);
        }
        fprintf(stderr, "\n");
    }
    for (size_t i = 0; i < N_GOLDEN; i++) {
        ck_assert_int_eq(got[i], want[i]);
    }
    /* Each choice wins by far more than kiln's F32 error (about 1e-3 per logit). */
    ck_assert_double_gt(margin, 0.03);
    tiny_model_free(tm);
}
END_TEST

START_TEST(forward__greedy_matches_golden)
{
    const forward_case c = {TINY_ARCH_LLAMA, KERN_TYPE_F32};
    tiny_env env;
    core_err err = {0};
    env_open(&env, &c, KERN_BACKEND_KIND_BEST, "golden");
    int32_t want[N_GOLDEN + 1];
    ck_assert_uint_eq(golden_read(want, N_GOLDEN + 1), N_GOLDEN);

    gen_sampler_options so = gen_sampler_options_default();
    so.temp = 0.0f;
    so.top_k = 0;
    so.top_p = 1.0f;
    so.min_p = 0.0f;
    so.repeat_penalty = 1.0f;
    gen_sampler *sampler = NULL;
    ck_assert_int_eq(gen_sampler_new(&sampler, &so, TINY_MODEL_N_VOCAB, &err), 0);
    gen_ctx *ctx = ctx_open(env.gm, 1, 16, 1);
    decode_seq(ctx, env.tokens, N_PROMPT, 0, false);
    for (size_t i = 0; i < N_GOLDEN; i++) {
        int32_t tok = -1;
        ck_assert_int_eq(gen_sampler_sample(sampler, logits_at(ctx, 0), NULL, &tok, &err), 0);
        ck_assert_int_eq(tok, want[i]);
        gen_sampler_accept(sampler, tok);
        decode_seq(ctx, &tok, 1, 0, false);
    }
    gen_ctx_free(ctx);
    gen_sampler_free(sampler);
    env_close(&env);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Packed weights                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* The packed types, on a tied (llama) and an untied (qwen2) model. */
static const forward_case pack_cases[] = {
    {TINY_ARCH_LLAMA, KERN_TYPE_Q4_0}, {TINY_ARCH_LLAMA, KERN_TYPE_Q4_1},
    {TINY_ARCH_LLAMA, KERN_TYPE_Q8_0}, {TINY_ARCH_QWEN2, KERN_TYPE_Q4_1},
    {TINY_ARCH_QWEN2, KERN_TYPE_Q8_0},
};
#define N_PACK_CASES ((int)(sizeof(pack_cases) / sizeof(pack_cases[0])))

/* Logits of the prompt (one pass of 12 tokens, the > 8 token kernels), then of single decode
 * steps and of a step of 3 sequences (the few-token kernels), on 2 threads; as bit patterns. */
static void pack_logits(const tiny_env *env, bool pack, const char *cache, uint32_t *out)
{
    core_err err = {0};
    gen_model *gm = NULL;
    gen_model_options mo = gen_model_options_default();
    mo.pack = pack;
    mo.pack_cache = cache;
    expect_ok(gen_model_load(&gm, env->path, &mo, &err), &err, env->path);
    if (!pack || strstr(gen_model_desc(gm), "avx512") != NULL) {
        /* avx512 packs these types; nothing else does, and nothing packs when told not to. */
        ck_assert_int_eq(strstr(gen_model_desc(gm), ", packed") != NULL, pack);
    }
    gen_ctx *ctx = ctx_open(gm, 3, 16, 2);
    const size_t n_vocab = TINY_MODEL_N_VOCAB;
    decode_seq(ctx, env->tokens, N_PROMPT, 0, true);
    for (size_t i = 0; i < N_PROMPT; i++) {
        memcpy(out + i * n_vocab, logits_at(ctx, i), n_vocab * sizeof(float));
    }
    for (size_t s = 0; s < N_STEPS; s++) {
        decode_seq(ctx, env->tokens + N_PROMPT + s, 1, 0, true);
        memcpy(out + (N_PROMPT + s) * n_vocab, logits_at(ctx, 0), n_vocab * sizeof(float));
    }
    const int32_t toks[3] = {5, 6, 7};
    const int32_t seqs[3] = {0, 1, 2};
    const bool keep[3] = {true, true, true};
    const gen_batch batch = {toks, seqs, keep, 3};
    expect_ok(gen_ctx_decode(ctx, &batch, &err), &err, "decode");
    for (size_t i = 0; i < 3; i++) {
        memcpy(out + (N_TOTAL + i) * n_vocab, logits_at(ctx, i), n_vocab * sizeof(float));
    }
    gen_ctx_free(ctx);
    gen_model_free(gm);
}

/* A model whose matrices are packed at load gives the logits of the same model read as stored,
 * bit for bit (on a CPU whose kernels do not pack, both runs read the file's layout). */
START_TEST(forward__packed_weights_match_unpacked)
{
    const forward_case *c = &pack_cases[_i];
    const size_t n = (N_TOTAL + 3) * TINY_MODEL_N_VOCAB;
    tiny_env env;
    env_open(&env, c, KERN_BACKEND_KIND_BEST, "pack");
    uint32_t *packed = malloc(n * sizeof(uint32_t));
    uint32_t *plain = malloc(n * sizeof(uint32_t));
    ck_assert_ptr_nonnull(packed);
    ck_assert_ptr_nonnull(plain);
    pack_logits(&env, true, NULL, packed);
    pack_logits(&env, false, NULL, plain);
    if (memcmp(packed, plain, n * sizeof(uint32_t)) != 0) {
        fprintf(stderr, "forward: %s %s: packed weights change the logits\n",
                tiny_arch_name(c->arch), kern_type_name(c->type));
    }
    ck_assert_int_eq(memcmp(packed, plain, n * sizeof(uint32_t)), 0);
    free(packed);
    free(plain);
    env_close(&env);
}
END_TEST

/* The one file in dir (its path in out): true when there is exactly one. */
static bool only_file(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) {
        return false;
    }
    int n = 0;
    for (const struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n == 1;
}

static ino_t inode_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_ino;
}

/* A pack cache folder: the first load writes the packed copy there, the next maps it (the file
 * is not written again), and a damaged or truncated copy is replaced; the logits are those of
 * the weights read as stored every time. Where the kernels pack nothing, nothing is written. */
START_TEST(forward__pack_cache_reused_and_replaced)
{
    const forward_case c = {TINY_ARCH_LLAMA, KERN_TYPE_Q4_1};
    const size_t n = (N_TOTAL + 3) * TINY_MODEL_N_VOCAB;
    tiny_env env;
    env_open(&env, &c, KERN_BACKEND_KIND_BEST, "cache");
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/pack-cache-%ld/kiln", KILN_TEST_TMP, (long)getpid());
    uint32_t *got = malloc(n * sizeof(uint32_t));
    uint32_t *plain = malloc(n * sizeof(uint32_t));
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_nonnull(plain);
    pack_logits(&env, false, dir, plain);
    char file[600];
    ck_assert(!only_file(dir, file, sizeof(file)));
    pack_logits(&env, true, dir, got);
    ck_assert_int_eq(memcmp(got, plain, n * sizeof(uint32_t)), 0);
    if (strstr(gen_model_desc(env.gm), "avx512") != NULL) {
        ck_assert(only_file(dir, file, sizeof(file)));
        const ino_t first = inode_of(file);
        memset(got, 0, n * sizeof(uint32_t));
        pack_logits(&env, true, dir, got);
        ck_assert_int_eq(memcmp(got, plain, n * sizeof(uint32_t)), 0);
        ck_assert(only_file(dir, file, sizeof(file)));
        ck_assert_uint_eq(inode_of(file), first);
        /* One packed byte of the first matrix changed: found, and the copy written again. */
        FILE *f = fopen(file, "r+b");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fseek(f, 4096 + 100, SEEK_SET), 0);
        const int b = fgetc(f);
        ck_assert_int_eq(fseek(f, 4096 + 100, SEEK_SET), 0);
        ck_assert_int_ne(fputc(b ^ 0x5a, f), EOF);
        ck_assert_int_eq(fclose(f), 0);
        memset(got, 0, n * sizeof(uint32_t));
        pack_logits(&env, true, dir, got);
        ck_assert_int_eq(memcmp(got, plain, n * sizeof(uint32_t)), 0);
        ck_assert(only_file(dir, file, sizeof(file)));
        const ino_t second = inode_of(file);
        ck_assert_uint_ne(second, first);
        /* Truncated: ignored and written again. */
        ck_assert_int_eq(truncate(file, 4096 + 64), 0);
        memset(got, 0, n * sizeof(uint32_t));
        pack_logits(&env, true, dir, got);
        ck_assert_int_eq(memcmp(got, plain, n * sizeof(uint32_t)), 0);
        ck_assert(only_file(dir, file, sizeof(file)));
        ck_assert_uint_ne(inode_of(file), second);
        unlink(file);
    } else {
        ck_assert(!only_file(dir, file, sizeof(file)));
    }
    rmdir(dir);
    *strrchr(dir, '/') = '\0';
    rmdir(dir);
    free(got);
    free(plain);
    env_close(&env);
}
END_TEST

TCase *tcase_forward(void)
{
    TCase *tc = tcase_create("forward");
    /* Sanitizer builds run the scalar reference and the quantizers about ten times slower. */
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, forward__logits_match_reference, 0, 2 * N_FORWARD_CASES);
    tcase_add_test(tc, forward__long_batch_splits_into_passes);
    tcase_add_loop_test(tc, forward__batched_sequences_match_single, 0, N_BATCH_CASES);
    tcase_add_loop_test(tc, forward__seq_copy_matches_recompute, 0, N_BATCH_CASES);
    tcase_add_loop_test(tc, forward__step_same_bits_any_threads_and_batch, 0, N_BATCH_CASES);
    tcase_add_test(tc, forward__reference_greedy_matches_golden);
    tcase_add_test(tc, forward__greedy_matches_golden);
    tcase_add_loop_test(tc, forward__packed_weights_match_unpacked, 0, N_PACK_CASES);
    tcase_add_test(tc, forward__pack_cache_reused_and_replaced);
    return tc;
}
