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
    cli_model_opts model; /* -m, -t, --device, --kernels */
    size_t n_batch;       /* sequences decoding together */
    size_t n_pp;          /* prompt tokens */
    size_t n_tg;          /* generated tokens */
    size_t n_reps;
    bool json;
    bool no_fuse;
} bench_args;

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: kiln bench [-m MODEL] [options]\n\n"
               "  -b, --batch B     sequences decoding together for the batch test (default 8)\n"
               "  -p, --pp N        prompt tokens (default 128)\n"
               "  -n, --tg N        generated tokens (default 128)\n"
               "  -r, --reps N      repetitions; medians are reported (default 5)\n"
               "      --ref         use the plain reference kernels (--kernels ref, on the CPU)\n"
               "      --no-fuse     CUDA: one kernel per operation (to measure fusion)\n"
               "      --json        print one JSON object\n");
    cli_model_usage(f, 1);
}

static int parse_args(bench_args *a, int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_REF, OPT_NO_FUSE };
    static const struct option longs[] = {{"batch", required_argument, NULL, 'b'},
                                          {"pp", required_argument, NULL, 'p'},
                                          {"tg", required_argument, NULL, 'n'},
                                          {"reps", required_argument, NULL, 'r'},
                                          {"json", no_argument, NULL, OPT_JSON},
                                          {"ref", no_argument, NULL, OPT_REF},
                                          {"no-fuse", no_argument, NULL, OPT_NO_FUSE},
                                          {"help", no_argument, NULL, 'h'},
                                          CLI_MODEL_LONGOPTS,
                                          {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    cli_model_opts_init(&a->model);
    a->n_batch = 8;
    a->n_pp = 128;
    a->n_tg = 128;
    a->n_reps = 5;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:b:p:n:r:h", longs, NULL)) != -1) {
        int h = cli_model_option(&a->model, c, optarg);
        if (h != 0) {
            if (h < 0) {
                return -1;
            }
            continue;
        }
        bool ok = true;
        switch (c) {
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
            a->model.load.kernels = KERN_BACKEND_KIND_REF;
            a->model.load.kernel_variant = -1;
            a->model.device = GEN_DEVICE_CPU;
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
    if (optind < argc || a->n_batch == 0 || a->n_pp == 0 || a->n_tg == 0 || a->n_reps == 0) {
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

/* Prints the medians (and ranges) of the three measurements, as JSON with --json. */
static void report_print(const bench_args *a, const gen_model *model, stat3 spp, stat3 stg,
                         stat3 sbt)
{
    if (a->json) {
        printf("{\"model\": \"%s\", \"model_desc\": \"%s\", \"device\": \"%s\", \"threads\": %zu, "
               "\"reps\": %zu, "
               "\"pp_tokens\": %zu, \"pp_tok_s\": %.2f, \"pp_tok_s_min\": %.2f, "
               "\"pp_tok_s_max\": %.2f, \"tg_tokens\": %zu, \"tg_tok_s\": %.2f, "
               "\"tg_tok_s_min\": %.2f, \"tg_tok_s_max\": %.2f, \"batch\": %zu, "
               "\"batch_tok_s\": %.2f, \"batch_tok_s_min\": %.2f, \"batch_tok_s_max\": %.2f}\n",
               cli_model_path(a->model.path), gen_model_desc(model), gen_model_device(model),
               a->model.n_threads, a->n_reps, a->n_pp, spp.median, spp.min, spp.max, a->n_tg,
               stg.median, stg.min, stg.max, a->n_batch, sbt.median, sbt.min, sbt.max);
    } else {
        printf("model: %s\ndevice: %s%s, threads: %zu, repetitions: %zu (median [min, max])\n",
               gen_model_desc(model), gen_model_device(model), a->no_fuse ? " (unfused)" : "",
               a->model.n_threads, a->n_reps);
        printf("pp%-5zu %9.1f tok/s  [%.1f, %.1f]\n", a->n_pp, spp.median, spp.min, spp.max);
        printf("tg%-5zu %9.1f tok/s  [%.1f, %.1f]\n", a->n_tg, stg.median, stg.min, stg.max);
        printf("batch %zu x tg%zu %9.1f tok/s aggregate  [%.1f, %.1f]  (%.2fx one sequence)\n",
               a->n_batch, a->n_tg, sbt.median, sbt.min, sbt.max, sbt.median / stg.median);
    }
}

int cli_cmd_bench(int argc, char **argv)
{
    bench_args a;
    /* parse_args refuses zero sizes; the analyzer loses that through the shared parser */
    if (parse_args(&a, argc, argv) < 0 || a.n_pp == 0 || a.n_batch == 0) {
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
    rc = cli_model_open(&model, &a.model, false, &err);
    if (rc < 0) {
        goto done;
    }
    gen_ctx_options co = gen_ctx_options_default();
    co.n_threads = a.model.n_threads;
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
    report_print(&a, model, summarize(pp, a.n_reps), summarize(tg, a.n_reps),
                 summarize(bt, a.n_reps));
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
