/*
 * Golden parity with llama.cpp: tests/fixtures/gen/greedy-*.jsonl hold, for 10 prompts,
 * llama.cpp's 64 greedy tokens and the top-5 logits at each step (made by make_golden.py with
 * llama-cpp-python 0.3.36, F16 KV cache). kiln decodes the same prompts, fed the reference
 * tokens (teacher forcing, so one near-tie cannot derail the rest).
 *
 * What "the same" can mean: both engines round activations to 8 bits before every product,
 * and a last-bit difference in a sum (summation order) flips some of those roundings; 30
 * layers amplify the flips. kiln's own reference and AVX-512 kernels, which differ only in
 * summation order, differ from each other by as much as either differs from llama.cpp (mean
 * |logit difference| 0.18 on SmolLM2, 0.27 on Gemma 3; measured when these bounds were set).
 * So the test asserts: the greedy token equals llama.cpp's at every step where llama.cpp's
 * top two logits are more than GOLDEN_GAP apart, at least GOLDEN_AGREE of all steps agree,
 * and the top-5 logits are within the mean and max bounds below.
 */
#include "tests/gen/tests.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "gen/gen.h"

/* Steps whose reference top-2 gap is below this may flip: twice the worst flip measured. */
#define GOLDEN_GAP 1.5
/* Share of steps whose greedy token must equal llama.cpp's. */
#define GOLDEN_AGREE 0.95

typedef struct golden_stats {
    size_t n_prompts;
    size_t n_steps;
    size_t n_argmax_same;
    size_t n_argmax_near_tie;
    double max_diff;
    double sum_diff;
    size_t n_diff;
} golden_stats;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    core_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        ck_assert_int_eq(core_buf_append(&b, chunk, n), 0);
    }
    fclose(f);
    return b.ptr;
}

static int32_t *int_array(const cJSON *a, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(a);
    int32_t *v = core_malloc((*n ? *n : 1) * sizeof(*v));
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < *n; i++) {
        v[i] = (int32_t)cJSON_GetArrayItem(a, (int)i)->valuedouble;
    }
    return v;
}

static void check_prompt(const gen_model *model, gen_ctx *ctx, const cJSON *rec, golden_stats *st)
{
    const char *name = cJSON_GetObjectItem(rec, "name")->valuestring;
    size_t n_prompt = 0;
    size_t n_tokens = 0;
    int32_t *prompt = int_array(cJSON_GetObjectItem(rec, "prompt_ids"), &n_prompt);
    int32_t *tokens = int_array(cJSON_GetObjectItem(rec, "tokens"), &n_tokens);
    const cJSON *top5 = cJSON_GetObjectItem(rec, "top5");
    const cJSON *gaps = cJSON_GetObjectItem(rec, "gap12");
    const size_t n_vocab = gen_model_n_vocab(model);
    core_err err = {0};

    ck_assert_int_eq(gen_ctx_seq_truncate(ctx, 0, 0, &err), 0);
    gen_batch b = {prompt, NULL, NULL, n_prompt};
    ck_assert_msg(gen_ctx_decode(ctx, &b, &err) == 0, "%s: %s", name, err.msg);
    for (size_t step = 0; step < n_tokens; step++) {
        const float *logits = gen_ctx_logits(ctx, 0);
        ck_assert_ptr_nonnull(logits);
        int32_t best = 0;
        for (size_t i = 1; i < n_vocab; i++) {
            if (logits[i] > logits[best]) {
                best = (int32_t)i;
            }
        }
        double gap = cJSON_GetArrayItem(gaps, (int)step)->valuedouble;
        if (best == tokens[step]) {
            st->n_argmax_same++;
        } else {
            ck_assert_msg(gap < GOLDEN_GAP,
                          "%s: step %zu: kiln chose %d, llama.cpp %d (reference gap %.4f)", name,
                          step, best, tokens[step], gap);
            st->n_argmax_near_tie++;
        }
        const cJSON *top = cJSON_GetArrayItem(top5, (int)step);
        for (int k = 0; k < cJSON_GetArraySize(top); k++) {
            const cJSON *pair = cJSON_GetArrayItem(top, k);
            int32_t id = (int32_t)cJSON_GetArrayItem(pair, 0)->valuedouble;
            double ref = cJSON_GetArrayItem(pair, 1)->valuedouble;
            double d = fabs((double)logits[id] - ref);
            st->max_diff = d > st->max_diff ? d : st->max_diff;
            st->sum_diff += d;
            st->n_diff++;
        }
        gen_batch one = {&tokens[step], NULL, NULL, 1};
        ck_assert_msg(gen_ctx_decode(ctx, &one, &err) == 0, "%s: %s", name, err.msg);
        st->n_steps++;
    }
    st->n_prompts++;
    core_free(prompt);
    core_free(tokens);
}

/* Runs every prompt of fixture (at most max_prompts; 0: all) against model_file with kernel
 * variant `variant`; the top-5 logits must differ from llama.cpp's by at most mean_tol on
 * average and max_tol at worst. */
static void run_golden(const char *model_file, const char *fixture, int variant, size_t max_prompts,
                       double mean_tol, double max_tol)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", KILN_MODELS, model_file);
    gen_model *model = NULL;
    core_err err = {0};
    gen_model_options mo = gen_model_options_default();
    mo.kernel_variant = variant;
    ck_assert_msg(gen_model_load(&model, path, &mo, &err) == 0,
                  "%s (scripts/setup.sh fetches the models)", err.msg);
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = 512;
    co.n_threads = 2;
    gen_ctx *ctx = NULL;
    ck_assert_int_eq(gen_ctx_new(&ctx, model, &co, &err), 0);

    snprintf(path, sizeof(path), "%s/gen/%s", KILN_FIXTURES, fixture);
    char *text = read_file(path);
    golden_stats st = {0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *rec = cJSON_Parse(line);
        ck_assert_ptr_nonnull(rec);
        if (!cJSON_GetObjectItem(rec, "meta") && (max_prompts == 0 || st.n_prompts < max_prompts)) {
            check_prompt(model, ctx, rec, &st);
        }
        cJSON_Delete(rec);
    }
    ck_assert_uint_ge(st.n_prompts, max_prompts ? max_prompts : 8);
    const char *vname = NULL;
    kern_backend_variant((size_t)variant, &vname);
    printf("golden %s (%s kernels): %zu prompts, %zu steps, greedy same %zu, near-tie flips %zu, "
           "top-5 logit diff max %.4f mean %.4f\n",
           model_file, vname, st.n_prompts, st.n_steps, st.n_argmax_same, st.n_argmax_near_tie,
           st.max_diff, st.sum_diff / (double)(st.n_diff ? st.n_diff : 1));
    ck_assert_double_le(st.sum_diff / (double)st.n_diff, mean_tol);
    ck_assert_double_le(st.max_diff, max_tol);
    ck_assert_double_ge((double)st.n_argmax_same / (double)st.n_steps, GOLDEN_AGREE);
    core_free(text);
    gen_ctx_free(ctx);
    gen_model_free(model);
}

/*
 * Every kernel variant this CPU runs is checked: the one kiln picks (the last) on every prompt,
 * the others (reference, portable, AVX2) on the first two, which is what keeps the suite fast.
 * KILN_TEST_QUICK=1 checks two prompts on every variant.
 */
static void run_all_variants(const char *model_file, const char *fixture, double mean_tol,
                             double max_tol)
{
    const char *q = getenv("KILN_TEST_QUICK");
    const bool quick = q && q[0] == '1';
    const size_t n = kern_backend_n_variants();
    for (size_t i = 0; i < n; i++) {
        size_t limit = i + 1 == n && !quick ? 0 : 2;
        run_golden(model_file, fixture, (int)i, limit, mean_tol, max_tol);
    }
}

START_TEST(golden__smollm2_matches_llama_cpp)
{
    /* Measured: mean 0.18, max 1.29; kiln's ref vs AVX-512 kernels: mean 0.18. */
    run_all_variants("SmolLM2-135M-Instruct.Q4_1.gguf", "greedy-smollm2.jsonl", 0.25, 2.0);
}
END_TEST

START_TEST(golden__gemma3_matches_llama_cpp)
{
    /* Measured: mean 0.30, max 3.03; kiln's ref vs AVX-512 kernels: mean 0.27. */
    run_all_variants("gemma-3-270m-q4_k_m.gguf", "greedy-gemma3.jsonl", 0.40, 4.0);
}
END_TEST

TCase *tcase_golden(void)
{
    TCase *tc = tcase_create("golden");
    tcase_set_tags(tc, "slow");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, golden__smollm2_matches_llama_cpp);
    tcase_add_test(tc, golden__gemma3_matches_llama_cpp);
    return tc;
}
