/*
 * `kiln bench`: prompt-processing and generation speed of a model, and the aggregate speed of
 * several sequences decoding together, each the median of several repetitions (the machines
 * are shared and noisy; the spread is printed too). Token ids are fixed pseudo-random values:
 * speed does not depend on them. Generation starts from an empty cache, as llama-bench's tg
 * test does.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

typedef struct bench_args {
    const char *model;
    size_t n_threads;
    size_t n_batch; /* sequences decoding together */
    size_t n_pp;    /* prompt tokens */
    size_t n_tg;    /* generated tokens */
    size_t n_reps;
    bool json;
    bool ref;    /* plain reference kernels */
    int kernels; /* kern_backend_kind */
    int device;
    bool no_fuse;
} bench_args;

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: kiln bench [-m MODEL] [options]\n\n"
               "  -t, --threads N   compute threads (default 1)\n"
               "  -b, --batch B     sequences decoding together for the batch test (default 8)\n"
               "  -p, --pp N        prompt tokens (default 128)\n"
               "  -n, --tg N        generated tokens (default 128)\n"
               "  -r, --reps N      repetitions; medians are reported (default 5)\n"
               "      --ref         use the plain reference kernels (--kernels ref)\n"
               "      --kernels K   CPU kernels: ref, generic, avx2, avx512, amx (default best)\n"
               "      --device D    cpu, cuda or auto (default: cuda when a GPU is present)\n"
               "      --no-fuse     CUDA: one kernel per operation (to measure fusion)\n"
               "      --json        print one JSON object\n");
}

static int parse_args(bench_args *a, int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_REF, OPT_DEVICE, OPT_NO_FUSE, OPT_KERNELS };
    static const struct option longs[] = {{"model", required_argument, NULL, 'm'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"batch", required_argument, NULL, 'b'},
                                          {"pp", required_argument, NULL, 'p'},
                                          {"tg", required_argument, NULL, 'n'},
                                          {"reps", required_argument, NULL, 'r'},
                                          {"json", no_argument, NULL, OPT_JSON},
                                          {"ref", no_argument, NULL, OPT_REF},
                                          {"device", required_argument, NULL, OPT_DEVICE},
                                          {"no-fuse", no_argument, NULL, OPT_NO_FUSE},
                                          {"kernels", required_argument, NULL, OPT_KERNELS},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    a->n_threads = 1;
    a->n_batch = 8;
    a->n_pp = 128;
    a->n_tg = 128;
    a->n_reps = 5;
    a->device = GEN_DEVICE_AUTO;
    a->kernels = KERN_BACKEND_KIND_BEST;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:b:p:n:r:h", longs, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm':
            a->model = optarg;
            break;
        case 't':
            ok = cli_parse_size("--threads", optarg, &a->n_threads);
            break;
        case 'b':
            ok = cli_parse_size("--batch", optarg, &a->n_batch);
            break;
        case 'p':
            ok = cli_parse_size("--pp", optarg, &a->n_pp);
            break;
        case 'n':
            ok = cli_parse_size("--tg", optarg, &a->n_tg);
            break;
        case 'r':
            ok = cli_parse_size("--reps", optarg, &a->n_reps);
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_REF:
            a->ref = true;
            a->kernels = KERN_BACKEND_KIND_REF;
            break;
        case OPT_KERNELS:
            ok = cli_parse_kernels(optarg, &a->kernels);
            break;
        case OPT_DEVICE:
            ok = cli_parse_device(optarg, &a->device);
            break;
        case OPT_NO_FUSE:
            a->no_fuse = true;
            break;
        case 'h':
            bench_usage(stdout);
            exit(CLI_EXIT_OK);
        default:
            ok = false;
        }
        if (!ok) {
            return -1;
        }
    }
    if (optind < argc || a->n_threads == 0 || a->n_batch == 0 || a->n_pp == 0 || a->n_tg == 0 ||
        a->n_reps == 0) {
        fprintf(stderr, "kiln bench: bad arguments\n");
        return -1;
    }
    return 0;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x;
    double b = *(const double *)y;
    return (a > b) - (a < b);
}

typedef struct stat3 {
    double median;
    double min;
    double max;
} stat3;

static stat3 summarize(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    stat3 s = {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1]};
    return s;
}

static int clear_all(gen_ctx *ctx, size_t n_seq, core_err *err)
{
    for (size_t s = 0; s < n_seq; s++) {
        int rc = gen_ctx_seq_truncate(ctx, (int32_t)s, 0, err);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

int cli_cmd_bench(int argc, char **argv)
{
    bench_args a;
    if (parse_args(&a, argc, argv) < 0) {
        bench_usage(stderr);
        return CLI_EXIT_BAD;
    }
    core_err err = {0};
    gen_model *model = NULL;
    gen_ctx *ctx = NULL;
    int32_t *tokens = NULL;
    int32_t *seqs = NULL;
    double *pp = NULL;
    double *tg = NULL;
    double *bt = NULL;
    int rc = 0;
    gen_model_options mo = gen_model_options_default();
    mo.kernels = (kern_backend_kind)a.kernels;
    const size_t n_tok = a.n_pp > a.n_batch ? a.n_pp : a.n_batch;
    tokens = core_malloc(n_tok * sizeof(*tokens));
    seqs = core_malloc(a.n_batch * sizeof(*seqs));
    pp = core_malloc(a.n_reps * sizeof(double));
    tg = core_malloc(a.n_reps * sizeof(double));
    bt = core_malloc(a.n_reps * sizeof(double));
    if (!tokens || !seqs || !pp || !tg || !bt) {
        rc = core_err_set(&err, CORE_ENOMEM, "bench: out of memory");
        goto done;
    }
    rc = cli_model_load(&model, cli_model_path(a.model), &mo, a.ref ? GEN_DEVICE_CPU : a.device,
                        &err);
    if (rc < 0) {
        goto done;
    }
    gen_ctx_options co = gen_ctx_options_default();
    co.n_threads = a.n_threads;
    co.no_fuse = a.no_fuse;
    co.n_seq_max = a.n_batch;
    co.n_batch_max = n_tok;
    co.n_ctx = (a.n_pp > a.n_tg ? a.n_pp : a.n_tg) + 1;
    rc = gen_ctx_new(&ctx, model, &co, &err);
    if (rc < 0) {
        goto done;
    }
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (size_t i = 0; i < n_tok; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        tokens[i] = (int32_t)(x % gen_model_n_vocab(model));
    }
    for (size_t s = 0; s < a.n_batch; s++) {
        seqs[s] = (int32_t)s;
    }
    /* One untimed pass warms the page cache and the thread pool. */
    gen_batch warm = {tokens, NULL, NULL, a.n_pp < 16 ? a.n_pp : 16};
    if ((rc = gen_ctx_decode(ctx, &warm, &err)) < 0) {
        goto done;
    }
    for (size_t r = 0; r < a.n_reps; r++) {
        if ((rc = clear_all(ctx, a.n_batch, &err)) < 0) {
            goto done;
        }
        gen_batch b = {tokens, NULL, NULL, a.n_pp};
        uint64_t t0 = core_time_ns();
        if ((rc = gen_ctx_decode(ctx, &b, &err)) < 0) {
            goto done;
        }
        pp[r] = (double)a.n_pp / ((double)(core_time_ns() - t0) / 1e9);

        if ((rc = clear_all(ctx, a.n_batch, &err)) < 0) {
            goto done;
        }
        t0 = core_time_ns();
        for (size_t i = 0; i < a.n_tg; i++) {
            gen_batch one = {&tokens[i % n_tok], NULL, NULL, 1};
            if ((rc = gen_ctx_decode(ctx, &one, &err)) < 0) {
                goto done;
            }
        }
        tg[r] = (double)a.n_tg / ((double)(core_time_ns() - t0) / 1e9);

        if ((rc = clear_all(ctx, a.n_batch, &err)) < 0) {
            goto done;
        }
        t0 = core_time_ns();
        for (size_t i = 0; i < a.n_tg; i++) {
            gen_batch many = {tokens, seqs, NULL, a.n_batch};
            if ((rc = gen_ctx_decode(ctx, &many, &err)) < 0) {
                goto done;
            }
        }
        bt[r] = (double)(a.n_tg * a.n_batch) / ((double)(core_time_ns() - t0) / 1e9);
    }
    stat3 spp = summarize(pp, a.n_reps);
    stat3 stg = summarize(tg, a.n_reps);
    stat3 sbt = summarize(bt, a.n_reps);
    if (a.json) {
        printf("{\"model\": \"%s\", \"model_desc\": \"%s\", \"device\": \"%s\", \"threads\": %zu, "
               "\"reps\": %zu, "
               "\"pp_tokens\": %zu, \"pp_tok_s\": %.2f, \"pp_tok_s_min\": %.2f, "
               "\"pp_tok_s_max\": %.2f, \"tg_tokens\": %zu, \"tg_tok_s\": %.2f, "
               "\"tg_tok_s_min\": %.2f, \"tg_tok_s_max\": %.2f, \"batch\": %zu, "
               "\"batch_tok_s\": %.2f, \"batch_tok_s_min\": %.2f, \"batch_tok_s_max\": %.2f}\n",
               cli_model_path(a.model), gen_model_desc(model), gen_model_device(model), a.n_threads,
               a.n_reps, a.n_pp, spp.median, spp.min, spp.max, a.n_tg, stg.median, stg.min, stg.max,
               a.n_batch, sbt.median, sbt.min, sbt.max);
    } else {
        printf("model: %s\ndevice: %s%s, threads: %zu, repetitions: %zu (median [min, max])\n",
               gen_model_desc(model), gen_model_device(model), a.no_fuse ? " (unfused)" : "",
               a.n_threads, a.n_reps);
        printf("pp%-5zu %9.1f tok/s  [%.1f, %.1f]\n", a.n_pp, spp.median, spp.min, spp.max);
        printf("tg%-5zu %9.1f tok/s  [%.1f, %.1f]\n", a.n_tg, stg.median, stg.min, stg.max);
        printf("batch %zu x tg%zu %9.1f tok/s aggregate  [%.1f, %.1f]  (%.2fx one sequence)\n",
               a.n_batch, a.n_tg, sbt.median, sbt.min, sbt.max, sbt.median / stg.median);
    }
done:
    core_free(tokens);
    core_free(seqs);
    core_free(pp);
    core_free(tg);
    core_free(bt);
    gen_ctx_free(ctx);
    gen_model_free(model);
    return rc < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}
