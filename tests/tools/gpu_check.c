/*
 * kiln-gpu-check: the CUDA backend's checks in one run, for a GPU machine that has the CUDA
 * toolkit but no network and none of kiln's packages (kernels/cuda/check.sh builds and runs
 * it). It writes random-weight models of the default model's shape (SmolLM2-135M in Q4_1 and
 * Q8_0) and of Gemma 3 270M's shape (Q8_0) itself, since speed does not depend on the values,
 * then:
 *  - parity: the CUDA backend against the CPU backend on the same file. Relative L2 error of
 *    the logits after a prompt (cuBLAS path) and over 64 teacher-forced decoding steps
 *    (fused kernels), greedy agreement on those steps, the CPU's top-2 gap where they differ,
 *    free-running greedy generation on both, the unfused kernels against the fused ones, and
 *    8 sequences forked from one prefix decoding together;
 *  - speed on the SmolLM2-shaped Q4_1 model: one sequence decoding (fused and unfused), 64
 *    sequences decoding together, and a 512-token prompt, each the median of several runs.
 * Every figure is printed as one JSON object per line on stdout; progress goes to stderr.
 * Exits 1 when a parity bound fails, 77 when there is no CUDA device. Usage:
 * kiln-gpu-check [DIR [--write-only | --tiny [NAME]]]: models go to DIR (default /tmp);
 * --write-only stops there; --tiny checks parity on small models of every architecture and
 * weight type the engine reads instead (fast enough for compute-sanitizer and for kcemu, the
 * CPU emulator), only those whose name contains NAME when given.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"
#include "kernels/cuda/kern_cuda.h"
#include "tests/tools/tiny_model.h"
#include "tests/tools/tiny_ref.h"

#define N_PROMPT 32
#define N_STEPS  64
#define REL_MAX  1e-2

typedef struct shape {
    const char *name;
    tiny_model_spec spec;
} shape;

static tiny_model_spec smollm2(kern_type type)
{
    tiny_model_spec s = tiny_model_spec_default(TINY_ARCH_LLAMA, type);
    s.n_embd = 576;
    s.n_layer = 30;
    s.n_head = 9;
    s.n_head_kv = 3;
    s.head_dim = 64;
    s.n_ff = 1536;
    s.n_ctx_train = 8192;
    s.rope_base = 100000.0f;
    s.eps = 1e-5f;
    s.n_vocab = 49152;
    s.spm_vocab = true; /* no PCRE2 on the GPU machine; the vocabulary's kind does not matter */
    s.seed = 7;
    return s;
}

static tiny_model_spec gemma3(kern_type type)
{
    tiny_model_spec s = tiny_model_spec_default(TINY_ARCH_GEMMA3, type);
    s.n_embd = 640;
    s.n_layer = 18;
    s.n_head = 4;
    s.n_head_kv = 1;
    s.head_dim = 256;
    s.n_ff = 2048;
    s.n_ctx_train = 32768;
    s.n_swa = 512;
    s.rope_base = 1000000.0f;
    s.rope_base_swa = 10000.0f;
    s.eps = 1e-6f;
    s.n_vocab = 262144;
    s.seed = 11;
    return s;
}

/* A small model of arch and type with a head length the engine takes (64). */
static tiny_model_spec tiny(tiny_arch arch, kern_type type)
{
    tiny_model_spec s = tiny_model_spec_default(arch, type);
    s.n_embd = 256;
    s.n_head = 4;
    s.head_dim = 64;
    s.n_ff = 512;
    s.n_swa = arch == TINY_ARCH_GEMMA3 ? 16 : 0;   /* shorter than the prompt: the window acts */
    s.n_vocab = arch == TINY_ARCH_QWEN2 ? 301 : 0; /* odd: the LM head ends with a single row */
    s.spm_vocab = true;
    return s;
}

static int fail(const char *what, const core_err *err)
{
    fprintf(stderr, "kiln-gpu-check: %s: %s\n", what, err->msg);
    return 2;
}

static double now_s(void)
{
    return (double)core_time_ns() / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double rel_err(const float *a, const float *ref, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* The gap between the largest and second-largest logit. */
static double top2_gap(const float *l, size_t n)
{
    float a = -INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (l[i] > a) {
            b = a;
            a = l[i];
        } else if (l[i] > b) {
            b = l[i];
        }
    }
    return (double)(a - b);
}

typedef struct engine {
    gen_model *model;
    gen_ctx *ctx;
} engine;

static void engine_free(engine *e)
{
    gen_ctx_free(e->ctx);
    gen_model_free(e->model);
    e->ctx = NULL;
    e->model = NULL;
}

static int engine_new(engine *e, const char *path, gen_device dev, const gen_ctx_options *co,
                      core_err *err)
{
    gen_model_options mo = gen_model_options_default();
    mo.device = dev;
    int rc = gen_model_load(&e->model, path, &mo, err);
    if (rc == 0) {
        rc = gen_ctx_new(&e->ctx, e->model, co, err);
    }
    return rc;
}

static int decode(engine *e, const int32_t *tokens, const int32_t *seq, size_t n, core_err *err)
{
    gen_batch b = {tokens, seq, NULL, n};
    return gen_ctx_decode(e->ctx, &b, err);
}

static void make_tokens(int32_t *out, size_t n, size_t n_vocab, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Past the special and byte tokens when the vocabulary has more. */
        const size_t lo = n_vocab > 600 ? 300 : 0;
        out[i] = (int32_t)(lo + x % (n_vocab - lo));
    }
}

/* Parity of one model file; prints one JSON line; *ok false when a bound fails. */
static int parity(const char *name, const char *path, const tiny_model *tm, bool *ok, core_err *err)
{
    engine cpu = {0}, gpu = {0}, unf = {0};
    float *ref = NULL, *exact = NULL;
    int rc = 0;
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = 256;
    co.n_seq_max = 8;
    co.n_batch_max = 64;
    co.n_outputs_max = 8;
    co.n_threads = 8;
    gen_ctx_options cu = co;
    cu.no_fuse = true;
    if ((rc = engine_new(&cpu, path, GEN_DEVICE_CPU, &co, err)) != 0 ||
        (rc = engine_new(&gpu, path, GEN_DEVICE_CUDA, &co, err)) != 0 ||
        (rc = engine_new(&unf, path, GEN_DEVICE_CUDA, &cu, err)) != 0) {
        goto done;
    }
    const size_t V = gen_model_n_vocab(cpu.model);
    ref = malloc(V * sizeof(float));
    int32_t prompt[N_PROMPT];
    make_tokens(prompt, N_PROMPT, V, 1);
    if ((rc = decode(&cpu, prompt, NULL, N_PROMPT, err)) != 0 ||
        (rc = decode(&gpu, prompt, NULL, N_PROMPT, err)) != 0 ||
        (rc = decode(&unf, prompt, NULL, N_PROMPT, err)) != 0) {
        goto done;
    }
    memcpy(ref, gen_ctx_logits(cpu.ctx, 0), V * sizeof(float));
    const double rel_prompt = rel_err(gen_ctx_logits(gpu.ctx, 0), ref, V);
    const double rel_unfused_prompt = rel_err(gen_ctx_logits(unf.ctx, 0), ref, V);
    /* The exact (double precision, unquantized activations) forward pass over the prompt and
     * the first forced token: rows N_PROMPT - 1 (the prompt path) and N_PROMPT (a decode step). */
    int32_t seq_exact[N_PROMPT + 1];
    memcpy(seq_exact, prompt, sizeof(prompt));
    seq_exact[N_PROMPT] = gen_ctx_argmax(cpu.ctx, 0);
    exact = malloc((N_PROMPT + 1) * V * sizeof(float));
    if (!exact) {
        rc = core_err_set(err, CORE_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = tiny_ref_forward(tm, seq_exact, N_PROMPT + 1, exact, err)) != 0) {
        goto done;
    }
    const float *exact_prompt = exact + (size_t)(N_PROMPT - 1) * V;
    const float *exact_step = exact + (size_t)N_PROMPT * V;
    const double exact_gpu_prompt = rel_err(gen_ctx_logits(gpu.ctx, 0), exact_prompt, V);
    const double exact_cpu_prompt = rel_err(ref, exact_prompt, V);
    double exact_gpu_step = 0, exact_cpu_step = 0, exact_unf_step = 0;

    /* Teacher-forced steps: both fed the CPU's greedy token. */
    double rel_max = 0.0, rel_sum = 0.0, rel_unf_max = 0.0, flip_gap_max = 0.0;
    size_t same = 0, argmax_consistent = 0;
    int32_t tok = gen_ctx_argmax(cpu.ctx, 0);
    for (size_t s = 0; s < N_STEPS; s++) {
        if ((rc = decode(&cpu, &tok, NULL, 1, err)) != 0 ||
            (rc = decode(&gpu, &tok, NULL, 1, err)) != 0 ||
            (rc = decode(&unf, &tok, NULL, 1, err)) != 0) {
            goto done;
        }
        memcpy(ref, gen_ctx_logits(cpu.ctx, 0), V * sizeof(float));
        if (s == 0) {
            exact_gpu_step = rel_err(gen_ctx_logits(gpu.ctx, 0), exact_step, V);
            exact_unf_step = rel_err(gen_ctx_logits(unf.ctx, 0), exact_step, V);
            exact_cpu_step = rel_err(ref, exact_step, V);
        }
        const int32_t tc = gen_ctx_argmax(cpu.ctx, 0);
        const int32_t tg = gen_ctx_argmax(gpu.ctx, 0);
        const float *lg = gen_ctx_logits(gpu.ctx, 0);
        const double r = rel_err(lg, ref, V);
        rel_max = r > rel_max ? r : rel_max;
        rel_sum += r;
        const double ru = rel_err(gen_ctx_logits(unf.ctx, 0), ref, V);
        rel_unf_max = ru > rel_unf_max ? ru : rel_unf_max;
        size_t best = 0;
        for (size_t v = 1; v < V; v++) {
            best = lg[v] > lg[best] ? v : best;
        }
        argmax_consistent += (int32_t)best == tg;
        if (tc == tg) {
            same++;
        } else {
            const double gap = top2_gap(ref, V);
            flip_gap_max = gap > flip_gap_max ? gap : flip_gap_max;
        }
        tok = tc;
    }

    /* Free-running greedy from the prompt on each (fresh sequences 1). */
    size_t free_same = 0;
    int32_t tc = 0, tg = 0;
    bool diverged = false;
    if ((rc = gen_ctx_seq_copy(cpu.ctx, 1, 0, N_PROMPT, err)) != 0 ||
        (rc = gen_ctx_seq_copy(gpu.ctx, 1, 0, N_PROMPT, err)) != 0) {
        goto done;
    }
    tc = tg = prompt[N_PROMPT - 1];
    {
        /* Re-decode the last prompt token in sequence 1 so both start from their own logits. */
        if ((rc = gen_ctx_seq_truncate(cpu.ctx, 1, N_PROMPT - 1, err)) != 0 ||
            (rc = gen_ctx_seq_truncate(gpu.ctx, 1, N_PROMPT - 1, err)) != 0) {
            goto done;
        }
        const int32_t one = 1;
        for (size_t s = 0; s < N_STEPS; s++) {
            if ((rc = decode(&cpu, &tc, &one, 1, err)) != 0 ||
                (rc = decode(&gpu, &tg, &one, 1, err)) != 0) {
                goto done;
            }
            tc = gen_ctx_argmax(cpu.ctx, 0);
            tg = gen_ctx_argmax(gpu.ctx, 0);
            if (tc != tg) {
                diverged = true;
                break;
            }
            free_same++;
        }
    }

    /* Eight sequences forked from the prompt decode one token each, together. */
    double rel_batch_max = 0.0;
    {
        int32_t toks[8], seqs[8];
        make_tokens(toks, 8, V, 3);
        for (int32_t s = 0; s < 8; s++) {
            seqs[s] = s;
            if (s > 0 && ((rc = gen_ctx_seq_copy(cpu.ctx, s, 0, N_PROMPT, err)) != 0 ||
                          (rc = gen_ctx_seq_copy(gpu.ctx, s, 0, N_PROMPT, err)) != 0)) {
                goto done;
            }
        }
        if ((rc = gen_ctx_seq_truncate(cpu.ctx, 0, N_PROMPT, err)) != 0 ||
            (rc = gen_ctx_seq_truncate(gpu.ctx, 0, N_PROMPT, err)) != 0 ||
            (rc = decode(&cpu, toks, seqs, 8, err)) != 0 ||
            (rc = decode(&gpu, toks, seqs, 8, err)) != 0) {
            goto done;
        }
        for (size_t i = 0; i < 8; i++) {
            memcpy(ref, gen_ctx_logits(cpu.ctx, i), V * sizeof(float));
            const double r = rel_err(gen_ctx_logits(gpu.ctx, i), ref, V);
            rel_batch_max = r > rel_batch_max ? r : rel_batch_max;
        }
    }

    /* Three sequences decoding together (the fused matrix-vector kernels for several tokens)
     * against each of them decoding alone (the one-token kernels), both on the GPU: the same
     * arithmetic per token, so they agree to rounding. */
    double rel_tok3_max = 0.0;
    {
        float *three = malloc(3 * V * sizeof(float));
        int32_t toks[3], seqs[3] = {0, 1, 2};
        make_tokens(toks, 3, V, 5);
        rc = three ? 0 : core_err_set(err, CORE_ENOMEM, "out of memory");
        for (int32_t s = 0; rc == 0 && s < 3; s++) {
            rc = gen_ctx_seq_truncate(gpu.ctx, s, N_PROMPT, err);
        }
        rc = rc != 0 ? rc : decode(&gpu, toks, seqs, 3, err);
        for (size_t i = 0; rc == 0 && i < 3; i++) {
            memcpy(three + i * V, gen_ctx_logits(gpu.ctx, i), V * sizeof(float));
        }
        for (int32_t s = 0; rc == 0 && s < 3; s++) {
            if ((rc = gen_ctx_seq_truncate(gpu.ctx, s, N_PROMPT, err)) == 0 &&
                (rc = decode(&gpu, &toks[s], &seqs[s], 1, err)) == 0) {
                const double r = rel_err(three + (size_t)s * V, gen_ctx_logits(gpu.ctx, 0), V);
                rel_tok3_max = r > rel_tok3_max ? r : rel_tok3_max;
            }
        }
        free(three);
        if (rc != 0) {
            goto done;
        }
    }

    /* The bound holds against the exact pass; against the CPU backend it is reported (the CPU
     * rounds activations to 8 bits before every product, as llama.cpp does, which is itself
     * an error of this size on random weights). */
    const bool pass = exact_gpu_prompt <= REL_MAX && exact_gpu_step <= REL_MAX &&
                      exact_unf_step <= REL_MAX && argmax_consistent == N_STEPS &&
                      rel_tok3_max <= 1e-4;
    *ok = *ok && pass;
    printf("{\"check\": \"parity\", \"model\": \"%s\", \"rel_prompt\": %.3g, "
           "\"rel_unfused_prompt\": %.3g, \"rel_step_max\": %.3g, \"rel_step_mean\": %.3g, "
           "\"rel_unfused_step_max\": %.3g, \"rel_batch8_max\": %.3g, \"rel_tok3_max\": %.3g, "
           "\"greedy_same\": %zu, "
           "\"steps\": %d, \"flip_gap_max\": %.3g, \"free_run_same\": %zu, "
           "\"free_run_diverged\": %s, \"device_argmax_ok\": %zu, \"exact_gpu_prompt\": %.3g, "
           "\"exact_cpu_prompt\": %.3g, \"exact_gpu_step\": %.3g, \"exact_unfused_step\": %.3g, "
           "\"exact_cpu_step\": %.3g, \"pass\": %s}\n",
           name, rel_prompt, rel_unfused_prompt, rel_max, rel_sum / N_STEPS, rel_unf_max,
           rel_batch_max, rel_tok3_max, same, N_STEPS, flip_gap_max, free_same,
           diverged ? "true" : "false", argmax_consistent, exact_gpu_prompt, exact_cpu_prompt,
           exact_gpu_step, exact_unf_step, exact_cpu_step, pass ? "true" : "false");
    fflush(stdout);
done:
    free(ref);
    free(exact);
    engine_free(&cpu);
    engine_free(&gpu);
    engine_free(&unf);
    return rc;
}

/* Tokens per second of one sequence decoding greedily, median of reps runs of n steps. */
static int bench_decode(const char *path, bool no_fuse, size_t n, size_t reps, double *out,
                        core_err *err)
{
    engine e = {0};
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = 1024;
    co.no_fuse = no_fuse;
    int rc = engine_new(&e, path, GEN_DEVICE_CUDA, &co, err);
    double runs[16];
    int32_t prompt[16];
    if (rc == 0) {
        make_tokens(prompt, 16, gen_model_n_vocab(e.model), 5);
    }
    for (size_t r = 0; rc == 0 && r < reps + 1; r++) {
        rc = gen_ctx_seq_truncate(e.ctx, 0, 0, err);
        if (rc == 0) {
            rc = decode(&e, prompt, NULL, 16, err);
        }
        int32_t tok = prompt[15];
        const double t0 = now_s();
        for (size_t i = 0; rc == 0 && i < n; i++) {
            tok = gen_ctx_argmax(e.ctx, 0);
            rc = decode(&e, &tok, NULL, 1, err);
        }
        if (r > 0) { /* the first run captures the graphs */
            runs[r - 1] = (double)n / (now_s() - t0);
        }
    }
    if (rc == 0) {
        *out = median(runs, reps);
    }
    engine_free(&e);
    return rc;
}

/* Aggregate tokens per second of n_seq sequences forked from one prompt decoding together. */
static int bench_batch(const char *path, size_t n_seq, size_t n, size_t reps, double *out,
                       core_err *err)
{
    engine e = {0};
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = 512;
    co.n_seq_max = n_seq;
    co.n_outputs_max = n_seq;
    co.n_batch_max = 512;
    int rc = engine_new(&e, path, GEN_DEVICE_CUDA, &co, err);
    double runs[16];
    int32_t prompt[16];
    int32_t *toks = calloc(n_seq, sizeof(int32_t));
    int32_t *seqs = calloc(n_seq, sizeof(int32_t));
    if (rc == 0) {
        make_tokens(prompt, 16, gen_model_n_vocab(e.model), 9);
        make_tokens(toks, n_seq, gen_model_n_vocab(e.model), 13);
    }
    for (size_t r = 0; rc == 0 && r < reps + 1; r++) {
        for (size_t s = 0; rc == 0 && s < n_seq; s++) {
            seqs[s] = (int32_t)s;
            rc = gen_ctx_seq_truncate(e.ctx, (int32_t)s, 0, err);
        }
        if (rc == 0) {
            rc = decode(&e, prompt, NULL, 16, err);
        }
        for (size_t s = 1; rc == 0 && s < n_seq; s++) {
            rc = gen_ctx_seq_copy(e.ctx, (int32_t)s, 0, 16, err);
        }
        const double t0 = now_s();
        for (size_t i = 0; rc == 0 && i < n; i++) {
            rc = decode(&e, toks, seqs, n_seq, err);
            for (size_t s = 0; rc == 0 && s < n_seq; s++) {
                toks[s] = gen_ctx_argmax(e.ctx, s);
            }
        }
        if (r > 0) {
            runs[r - 1] = (double)(n * n_seq) / (now_s() - t0);
        }
    }
    if (rc == 0) {
        *out = median(runs, reps);
    }
    free(toks);
    free(seqs);
    engine_free(&e);
    return rc;
}

/* Prompt processing: tokens per second of an n-token prompt, median of reps. */
static int bench_prompt(const char *path, size_t n, size_t reps, double *out, core_err *err)
{
    engine e = {0};
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = 1024;
    co.n_batch_max = n;
    int rc = engine_new(&e, path, GEN_DEVICE_CUDA, &co, err);
    double runs[16];
    int32_t *toks = calloc(n, sizeof(int32_t));
    if (rc == 0) {
        make_tokens(toks, n, gen_model_n_vocab(e.model), 17);
    }
    for (size_t r = 0; rc == 0 && r < reps + 1; r++) {
        rc = gen_ctx_seq_truncate(e.ctx, 0, 0, err);
        const double t0 = now_s();
        if (rc == 0) {
            rc = decode(&e, toks, NULL, n, err);
        }
        if (r > 0) {
            runs[r - 1] = (double)n / (now_s() - t0);
        }
    }
    if (rc == 0) {
        *out = median(runs, reps);
    }
    free(toks);
    engine_free(&e);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    const bool write_only = argc > 2 && strcmp(argv[2], "--write-only") == 0;
    const bool tiny_only = argc > 2 && strcmp(argv[2], "--tiny") == 0;
    const char *only = tiny_only && argc > 3 ? argv[3] : NULL;
    core_err err = {0};
    int n_dev = 0;
    char dev_name[256] = "";
    kern_cuda_module *cuda = NULL;
    if (!write_only && !kern_cuda_device_present()) {
        printf("skipped: no CUDA device\n");
        return 77;
    }
    if (!write_only && kern_cuda_module_open(&cuda, NULL, &err) != 0) {
        return fail("module", &err);
    }
    const kern_cuda_api *cu = cuda ? kern_cuda_module_api(cuda) : NULL;
    if (cu && (cu->device_count(&n_dev, &err) != 0 || n_dev == 0)) {
        printf("skipped: no CUDA device\n");
        kern_cuda_module_close(cuda);
        return 77;
    }
    if (cu && cu->device_name(dev_name, sizeof(dev_name), &err) != 0) {
        kern_cuda_module_close(cuda);
        return fail("device", &err);
    }
    kern_cuda_module_close(cuda);
    printf("{\"check\": \"device\", \"name\": \"%s\"}\n", dev_name);
    const shape tinies[] = {
        {"tiny-llama-q4_0", tiny(TINY_ARCH_LLAMA, KERN_TYPE_Q4_0)},
        {"tiny-llama-q4_1", tiny(TINY_ARCH_LLAMA, KERN_TYPE_Q4_1)},
        {"tiny-llama-q5_0", tiny(TINY_ARCH_LLAMA, KERN_TYPE_Q5_0)},
        {"tiny-llama-q5_1", tiny(TINY_ARCH_LLAMA, KERN_TYPE_Q5_1)},
        {"tiny-llama-q8_0", tiny(TINY_ARCH_LLAMA, KERN_TYPE_Q8_0)},
        {"tiny-llama-q4_k", tiny(TINY_ARCH_LLAMA, KERN_TYPE_Q4_K)},
        {"tiny-llama-q5_k", tiny(TINY_ARCH_LLAMA, KERN_TYPE_Q5_K)},
        {"tiny-llama-q6_k", tiny(TINY_ARCH_LLAMA, KERN_TYPE_Q6_K)},
        {"tiny-llama-f16", tiny(TINY_ARCH_LLAMA, KERN_TYPE_F16)},
        {"tiny-llama-bf16", tiny(TINY_ARCH_LLAMA, KERN_TYPE_BF16)},
        {"tiny-llama-f32", tiny(TINY_ARCH_LLAMA, KERN_TYPE_F32)},
        {"tiny-qwen2-q8_0", tiny(TINY_ARCH_QWEN2, KERN_TYPE_Q8_0)},
        {"tiny-qwen2-q4_k", tiny(TINY_ARCH_QWEN2, KERN_TYPE_Q4_K)},
        {"tiny-gemma3-q8_0", tiny(TINY_ARCH_GEMMA3, KERN_TYPE_Q8_0)},
        {"tiny-gemma3-q6_k", tiny(TINY_ARCH_GEMMA3, KERN_TYPE_Q6_K)},
    };
    const shape reals[] = {
        {"smollm2-135m-q4_1", smollm2(KERN_TYPE_Q4_1)},
        {"smollm2-135m-q8_0", smollm2(KERN_TYPE_Q8_0)},
        {"gemma3-270m-q8_0", gemma3(KERN_TYPE_Q8_0)},
    };
    const shape *shapes = tiny_only ? tinies : reals;
    const size_t n_shapes =
        tiny_only ? sizeof(tinies) / sizeof(tinies[0]) : sizeof(reals) / sizeof(reals[0]);
    char paths[16][1024];
    bool ok = true;
    size_t n_run = 0;
    for (size_t i = 0; i < n_shapes; i++) {
        if (only && !strstr(shapes[i].name, only)) {
            continue;
        }
        n_run++;
        snprintf(paths[i], sizeof(paths[i]), "%s/%s.gguf", dir, shapes[i].name);
        const double t0 = now_s();
        tiny_model *tm = NULL;
        if (tiny_model_new(&tm, &shapes[i].spec, &err) != 0 ||
            tiny_model_save(tm, paths[i], &err) != 0) {
            tiny_model_free(tm);
            return fail(shapes[i].name, &err);
        }
        fprintf(stderr, "wrote %s in %.1f s\n", paths[i], now_s() - t0);
        const int prc = write_only ? 0 : parity(shapes[i].name, paths[i], tm, &ok, &err);
        tiny_model_free(tm);
        if (prc != 0) {
            return fail(shapes[i].name, &err);
        }
    }
    if (only && n_run == 0) {
        fprintf(stderr, "kiln-gpu-check: no small model's name contains '%s'\n", only);
        return 2;
    }
    if (write_only || tiny_only) {
        return ok ? 0 : 1;
    }
    double dec = 0, dec_unf = 0, b64 = 0, pp = 0, dec_g = 0;
    if (bench_decode(paths[0], false, 512, 5, &dec, &err) != 0 ||
        bench_decode(paths[0], true, 512, 5, &dec_unf, &err) != 0 ||
        bench_batch(paths[0], 64, 128, 5, &b64, &err) != 0 ||
        bench_prompt(paths[0], 512, 7, &pp, &err) != 0 ||
        bench_decode(paths[2], false, 256, 3, &dec_g, &err) != 0) {
        return fail("bench", &err);
    }
    /* Kernels a fused llama decoding step launches: five a layer, then the embedding, the
     * output head and the argmax. */
    const size_t kernels = 5 * shapes[0].spec.n_layer + 3;
    printf("{\"check\": \"speed\", \"model\": \"%s\", \"decode_tok_s\": %.1f, "
           "\"decode_unfused_tok_s\": %.1f, \"fusion_gain\": %.2f, \"batch64_tok_s\": %.1f, "
           "\"pp512_tok_s\": %.1f, \"gemma3_decode_tok_s\": %.1f, \"us_per_token\": %.1f, "
           "\"kernels_per_token\": %zu}\n",
           shapes[0].name, dec, dec_unf, dec / dec_unf, b64, pp, dec_g, 1e6 / dec, kernels);
    return ok ? 0 : 1;
}
