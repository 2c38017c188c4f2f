/*
 * kiln-bench-matmul: the matrix products of one decoding step of a model-shaped stack of
 * weights (SmolLM2-135M's by default: 30 layers of q, k, v, o, gate, up, down and the tied
 * output head), for batches of 1 to 8 tokens, on one kernel variant and one thread. It reports
 * the thread's CPU time per step (median and minimum of --reps), which a shared machine
 * disturbs far less than wall time, and the tokens a second of each batch against a batch of
 * one: the ceiling that the batched step sets for continuous batching. Where the variant
 * packs weights (kern_ops.pack: avx512), each step also runs on the packed copies, alternating
 * with the stored layout in every round, and the ratio of the two is printed.
 *
 *   kiln-bench-matmul [--kernels NAME] [--layer-type T] [--head-type T] [--reps N]
 *                     [--embd N] [--ff N] [--kv N] [--layers N] [--vocab N]
 *
 * Types are ggml's numbers or names (3 or q4_1, 8 or q8_0, 12 or q4_k, 14 or q6_k); the
 * defaults are the default model's (Q4_1 layers, Q8_0 head).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/core.h"
#include "kernels/kern.h"

#define N_PER_LAYER 7
#define BATCH_MAX   8

typedef struct bench_mat {
    kern_type type;
    size_t n_rows;
    size_t n_cols;
    void *w;      /* (n_rows, n_cols) of type, owned */
    void *packed; /* w packed by the variant (64-byte aligned), owned; NULL if it does not */
} bench_mat;

/* The activation types a weight type may want (kern_type_vec_dot). */
static const kern_type X_TYPES[] = {KERN_TYPE_Q8_0, KERN_TYPE_Q8_1, KERN_TYPE_Q8_K,
                                    KERN_TYPE_F32,  KERN_TYPE_F16,  KERN_TYPE_BF16};
#define N_X_TYPES (sizeof(X_TYPES) / sizeof(X_TYPES[0]))

typedef struct bench {
    const kern_ops *ops;
    bench_mat *mats; /* n_mats, owned */
    size_t n_mats;
    void *xq[N_X_TYPES]; /* BATCH_MAX rows of n_cols_max values of X_TYPES[i], owned */
    size_t n_cols_max;   /* the widest matrix, rounded up to 256 */
    float *y;            /* (BATCH_MAX, y_stride), owned */
    size_t y_stride;     /* floats between output rows */
} bench;

static double thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a;
    const double y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A deterministic value in [-scale, scale). */
static float next_value(uint64_t *s, float scale)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return ((float)(uint32_t)(*s >> 40) / 16777216.0f * 2.0f - 1.0f) * scale;
}

static int mat_init(bench_mat *m, const kern_ops *ops, kern_type type, size_t n_rows, size_t n_cols,
                    uint64_t *seed)
{
    const size_t rb = kern_type_row_bytes(type, n_cols);
    if (rb == 0) {
        fprintf(stderr, "kiln-bench-matmul: %zu columns are not whole blocks of %s\n", n_cols,
                kern_type_name(type));
        return CORE_EINVAL;
    }
    float *row = malloc(n_cols * sizeof(float));
    m->w = malloc(n_rows * rb);
    if (row == NULL || m->w == NULL) {
        free(row);
        return CORE_ENOMEM;
    }
    m->type = type;
    m->n_rows = n_rows;
    m->n_cols = n_cols;
    for (size_t r = 0; r < n_rows; r++) {
        for (size_t j = 0; j < n_cols; j++) {
            row[j] = next_value(seed, 0.1f);
        }
        ops->quantize_row(type, row, (char *)m->w + r * rb, n_cols);
    }
    free(row);
    const size_t n_packed = ops->pack_size ? ops->pack_size(type, n_rows, n_cols) : 0;
    if (n_packed > 0) {
        m->packed = aligned_alloc(64, (n_packed + 63) / 64 * 64);
        if (m->packed == NULL) {
            return CORE_ENOMEM;
        }
        ops->pack(m->packed, type, m->w, rb, n_rows, n_cols, 0,
                  (n_rows + KERN_PACK_ROWS - 1) / KERN_PACK_ROWS);
    }
    return 0;
}

/* One step: every matrix against n_batch tokens (its packed copy where it has one and packed). */
static void step(const bench *b, size_t n_batch, bool packed)
{
    for (size_t i = 0; i < b->n_mats; i++) {
        const bench_mat *mm = &b->mats[i];
        const kern_type xt = kern_type_vec_dot(mm->type);
        size_t x = 0;
        while (X_TYPES[x] != xt) {
            x++;
        }
        kern_matmul m = {
            .w_type = mm->type,
            .w = mm->w,
            .w_row_bytes = kern_type_row_bytes(mm->type, mm->n_cols),
            .xq = b->xq[x],
            .xq_row_bytes = kern_type_row_bytes(xt, b->n_cols_max),
            .y = b->y,
            .y_stride = b->y_stride,
            .n_rows = mm->n_rows,
            .n_cols = mm->n_cols,
            .n_batch = n_batch,
            .w_packed = packed && mm->packed != NULL,
        };
        if (m.w_packed) {
            m.w = mm->packed;
        }
        b->ops->matmul(&m, 0, 1);
    }
}

static size_t arg_size(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "kiln-bench-matmul: %s needs a value\n", argv[*i]);
        exit(2);
    }
    const char *v = argv[++*i];
    char *end = NULL;
    const unsigned long n = strtoul(v, &end, 10);
    if (end != v && *end == '\0' && v[0] != '-') {
        return (size_t)n;
    }
    /* A type may also be named (q4_k, Q8_0): ggml's names, as kern_type_name gives them. */
    for (uint32_t t = 0; t < 64; t++) {
        if (kern_type_is_known(t) && strcasecmp(v, kern_type_name((kern_type)t)) == 0) {
            return t;
        }
    }
    fprintf(stderr, "kiln-bench-matmul: %s: '%s' is neither a number nor a type's name\n",
            argv[*i - 1], v);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *kernels = "best";
    size_t layer_type = KERN_TYPE_Q4_1;
    size_t head_type = KERN_TYPE_Q8_0;
    size_t reps = 21;
    size_t embd = 576;
    size_t ff = 1536;
    size_t kv = 192;
    size_t n_layers = 30;
    size_t vocab = 49152;
    const struct {
        const char *name;
        size_t *value;
    } sizes[] = {{"--layer-type", &layer_type},
                 {"--head-type", &head_type},
                 {"--reps", &reps},
                 {"--embd", &embd},
                 {"--ff", &ff},
                 {"--kv", &kv},
                 {"--layers", &n_layers},
                 {"--vocab", &vocab}};
    for (int i = 1; i < argc; i++) {
        bool known = false;
        if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc) {
            kernels = argv[++i];
            known = true;
        }
        for (size_t k = 0; !known && k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            if (strcmp(argv[i], sizes[k].name) == 0) {
                *sizes[k].value = arg_size(argc, argv, &i);
                known = true;
            }
        }
        if (!known) {
            fprintf(stderr, "usage: kiln-bench-matmul [--kernels NAME] [--layer-type T] "
                            "[--head-type T] [--reps N] [--embd N] [--ff N] [--kv N] "
                            "[--layers N] [--vocab N]\n");
            return 2;
        }
    }
    if (!kern_type_is_known((uint32_t)layer_type) || !kern_type_is_known((uint32_t)head_type) ||
        reps == 0 || reps > 1000) {
        fprintf(stderr, "kiln-bench-matmul: unknown type or reps out of 1..1000\n");
        return 2;
    }
    core_err err = {0};
    kern_backend_kind kind;
    kern_backend *backend = NULL;
    if (kern_backend_kind_parse(&kind, kernels, &err) < 0 ||
        kern_backend_new(&backend, kind, &err) < 0) {
        fprintf(stderr, "kiln-bench-matmul: %s\n", err.msg);
        return 1;
    }
    bench b = {.ops = kern_backend_ops(backend)};
    int rc = 0;
    double *t = malloc(2 * BATCH_MAX * reps * sizeof(double));
    b.n_mats = n_layers * N_PER_LAYER + 1;
    b.mats = calloc(b.n_mats, sizeof(bench_mat));
    const size_t widest = ff > embd ? ff : embd;
    b.n_cols_max = (widest + 255) / 256 * 256;
    b.y_stride = vocab > widest ? vocab : widest;
    bool x_ok = true;
    for (size_t x = 0; x < N_X_TYPES; x++) {
        b.xq[x] = malloc(BATCH_MAX * kern_type_row_bytes(X_TYPES[x], b.n_cols_max));
        x_ok = x_ok && b.xq[x] != NULL;
    }
    b.y = malloc(BATCH_MAX * b.y_stride * sizeof(float));
    float *row = malloc(b.n_cols_max * sizeof(float));
    if (t == NULL || b.mats == NULL || !x_ok || b.y == NULL || row == NULL) {
        rc = CORE_ENOMEM;
        goto done;
    }
    uint64_t seed = 1;
    const size_t shapes[N_PER_LAYER][2] = {{embd, embd}, {kv, embd}, {kv, embd}, {embd, embd},
                                           {ff, embd},   {ff, embd}, {embd, ff}};
    for (size_t l = 0; l < n_layers && rc == 0; l++) {
        for (size_t k = 0; k < N_PER_LAYER && rc == 0; k++) {
            rc = mat_init(&b.mats[l * N_PER_LAYER + k], b.ops, (kern_type)layer_type, shapes[k][0],
                          shapes[k][1], &seed);
        }
    }
    if (rc == 0) {
        rc = mat_init(&b.mats[b.n_mats - 1], b.ops, (kern_type)head_type, vocab, embd, &seed);
    }
    if (rc < 0) {
        goto done;
    }
    /* Activations of every type, BATCH_MAX rows; a matrix reads the first n_cols of each. */
    for (size_t x = 0; x < N_X_TYPES; x++) {
        const size_t xrb = kern_type_row_bytes(X_TYPES[x], b.n_cols_max);
        for (size_t k = 0; k < BATCH_MAX; k++) {
            for (size_t j = 0; j < b.n_cols_max; j++) {
                row[j] = next_value(&seed, 2.0f);
            }
            b.ops->quantize_row(X_TYPES[x], row, (char *)b.xq[x] + k * xrb, b.n_cols_max);
        }
    }
    printf("kiln-bench-matmul: %s, %zu layers of %s, head %s, one thread, CPU time per step, "
           "%zu reps (median, min)\n",
           kern_backend_name(backend), n_layers, kern_type_name((kern_type)layer_type),
           kern_type_name((kern_type)head_type), reps);
    /* Rounds over every batch size in turn, so that what disturbs the machine for a while
     * falls on all of them alike. */
    const bool packs = b.mats[b.n_mats - 1].packed != NULL || b.mats[0].packed != NULL;
    const size_t n_modes = packs ? 2 : 1;
    for (size_t mode = 0; mode < n_modes; mode++) {
        step(&b, 1, mode == 1); /* warm-up */
    }
    for (size_t r = 0; r < reps; r++) {
        for (size_t n_batch = 1; n_batch <= BATCH_MAX; n_batch++) {
            for (size_t mode = 0; mode < n_modes; mode++) {
                const double t0 = thread_seconds();
                step(&b, n_batch, mode == 1);
                t[(mode * BATCH_MAX + n_batch - 1) * reps + r] = thread_seconds() - t0;
            }
        }
    }
    for (size_t mode = 0; mode < n_modes; mode++) {
        if (packs) {
            printf(mode == 0 ? " weights as stored (ggml's layout):\n"
                             : " weights packed (kern_ops.pack):\n");
        }
        double one = 0.0;
        for (size_t n_batch = 1; n_batch <= BATCH_MAX; n_batch++) {
            double *tb = t + (mode * BATCH_MAX + n_batch - 1) * reps;
            qsort(tb, reps, sizeof(double), cmp_double);
            const double med = tb[reps / 2];
            if (n_batch == 1) {
                one = med;
            }
            printf("  batch %zu  step %8.3f ms  [min %8.3f]  %6.2fx the tokens/s of batch 1\n",
                   n_batch, med * 1e3, tb[0] * 1e3, (double)n_batch * one / med);
        }
    }
    if (packs) {
        printf(" packed / as stored, tokens/s per batch:");
        for (size_t n_batch = 1; n_batch <= BATCH_MAX; n_batch++) {
            const double u = t[(n_batch - 1) * reps + reps / 2];
            const double p = t[(BATCH_MAX + n_batch - 1) * reps + reps / 2];
            printf(" %.2fx", u / p);
        }
        printf("\n");
    }
done:
    if (rc < 0) {
        fprintf(stderr, "kiln-bench-matmul: %s\n", core_status_name(rc));
    }
    for (size_t i = 0; b.mats != NULL && i < b.n_mats; i++) {
        free(b.mats[i].w);
        free(b.mats[i].packed);
    }
    free(b.mats);
    for (size_t x = 0; x < N_X_TYPES; x++) {
        free(b.xq[x]);
    }
    free(b.y);
    free(row);
    free(t);
    kern_backend_free(backend);
    return rc < 0 ? 1 : 0;
}
