/*
 * kiln-logits: a model's raw logits along a given token sequence, to compare kiln's engine with
 * another one's token by token (scripts/compare-logits.py drives it against llama.cpp). The
 * prompt is decoded in passes of up to 512 tokens, as llama.cpp's default batch; then each
 * following token is decoded alone, as a server decodes a stream: the continuation given on
 * the second line is forced token by token (teacher forcing, so that one near-tie does not
 * derail the rest), or, with no second line, the greedy choice is taken for -n steps.
 *
 *   kiln-logits -m MODEL --out FILE [--kernels NAME] [-t N] [-n STEPS] < IDS
 *
 * IDS: line 1 the prompt's token ids, line 2 (optional) the continuation's, separated by
 * spaces. FILE gets, per step, the n_vocab float32 logits (host order) of the distribution that
 * step's token comes from; standard output gets the greedy choice of each step on one line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "gen/gen.h"

#define IDS_MAX  16384
#define PASS_MAX 512

/* Reads one line of token ids into ids (at most IDS_MAX); -1 on a malformed id or a long line,
   0 at the end of the input with nothing read. */
static long read_ids(FILE *f, int32_t *ids, size_t *n, int32_t n_vocab)
{
    *n = 0;
    long n_read = 0;
    char word[16];
    size_t len = 0;
    for (;;) {
        int ch = fgetc(f);
        if (ch == EOF || ch == '\n' || ch == ' ' || ch == '\t' || ch == '\r' || ch == ',') {
            if (len > 0) {
                word[len] = '\0';
                char *end = NULL;
                errno = 0;
                long v = strtol(word, &end, 10);
                if (*end != '\0' || errno != 0 || v < 0 || v >= n_vocab || *n >= IDS_MAX) {
                    fprintf(stderr, "kiln-logits: bad token id '%s' (vocabulary %d, at most %d)\n",
                            word, (int)n_vocab, IDS_MAX);
                    return -1;
                }
                ids[(*n)++] = (int32_t)v;
                len = 0;
            }
            if (ch == EOF || ch == '\n') {
                return ch == EOF && n_read == 0 ? 0 : 1;
            }
            n_read++;
            continue;
        }
        n_read++;
        if (len + 1 >= sizeof(word)) {
            fprintf(stderr, "kiln-logits: a token id of over %zu characters\n", sizeof(word) - 2);
            return -1;
        }
        word[len++] = (char)ch;
    }
}

static int32_t argmax(const float *l, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++) {
        if (l[i] > l[best]) {
            best = i;
        }
    }
    return (int32_t)best;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL;
    const char *out_path = NULL;
    const char *kernels = "best";
    long n_threads = 1;
    long n_steps = 64;
    for (int i = 1; i < argc; i++) {
        const bool has = i + 1 < argc;
        if (strcmp(argv[i], "-m") == 0 && has) {
            model_path = argv[++i];
        } else if (strcmp(argv[i], "--out") == 0 && has) {
            out_path = argv[++i];
        } else if (strcmp(argv[i], "--kernels") == 0 && has) {
            kernels = argv[++i];
        } else if (strcmp(argv[i], "-t") == 0 && has) {
            n_threads = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-n") == 0 && has) {
            n_steps = strtol(argv[++i], NULL, 10);
        } else {
            model_path = NULL;
            break;
        }
    }
    if (!model_path || !out_path || n_threads < 1 || n_threads > 256 || n_steps < 1 ||
        n_steps > IDS_MAX) {
        fprintf(stderr,
                "usage: kiln-logits -m MODEL --out FILE [--kernels NAME] [-t 1..256] "
                "[-n 1..%d] < IDS\n",
                IDS_MAX);
        return 2;
    }
    int rc = 1;
    core_err err = {0};
    gen_model *model = NULL;
    gen_ctx *ctx = NULL;
    FILE *out = NULL;
    int32_t *prompt = malloc(IDS_MAX * sizeof(int32_t));
    int32_t *forced = malloc(IDS_MAX * sizeof(int32_t));
    if (!prompt || !forced) {
        fprintf(stderr, "kiln-logits: out of memory\n");
        goto done;
    }
    gen_model_options mo = gen_model_options_default();
    mo.device = GEN_DEVICE_CPU;
    if (kern_backend_kind_parse(&mo.kernels, kernels, &err) < 0 ||
        gen_model_load(&model, model_path, &mo, &err) < 0) {
        fprintf(stderr, "kiln-logits: %s\n", err.msg);
        goto done;
    }
    const int32_t n_vocab = (int32_t)gen_model_n_vocab(model);
    size_t n_prompt = 0;
    size_t n_forced = 0;
    const long got = read_ids(stdin, prompt, &n_prompt, n_vocab);
    if (got == 0 || (got > 0 && n_prompt == 0)) {
        fprintf(stderr, "kiln-logits: the first line of standard input must hold the prompt's "
                        "token ids\n");
    }
    if (got <= 0 || n_prompt == 0 || read_ids(stdin, forced, &n_forced, n_vocab) < 0) {
        rc = 2;
        goto done;
    }
    const size_t steps = n_forced > 0 ? n_forced : (size_t)n_steps;
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = n_prompt + steps + 1;
    co.n_batch_max = PASS_MAX;
    co.n_threads = (size_t)n_threads;
    if (gen_ctx_new(&ctx, model, &co, &err) < 0) {
        fprintf(stderr, "kiln-logits: %s\n", err.msg);
        goto done;
    }
    out = fopen(out_path, "wb");
    if (!out) {
        fprintf(stderr, "kiln-logits: %s: %s\n", out_path, strerror(errno));
        goto done;
    }
    for (size_t at = 0; at < n_prompt; at += PASS_MAX) {
        const size_t k = n_prompt - at < PASS_MAX ? n_prompt - at : PASS_MAX;
        gen_batch b = {prompt + at, NULL, NULL, k};
        if (gen_ctx_decode(ctx, &b, &err) < 0) {
            fprintf(stderr, "kiln-logits: %s\n", err.msg);
            goto done;
        }
    }
    for (size_t s = 0; s < steps; s++) {
        const float *l = gen_ctx_logits(ctx, 0);
        if (!l || fwrite(l, sizeof(float), (size_t)n_vocab, out) != (size_t)n_vocab) {
            fprintf(stderr, "kiln-logits: %s: write failed\n", out_path);
            goto done;
        }
        const int32_t best = argmax(l, (size_t)n_vocab);
        printf("%d%s", (int)best, s + 1 < steps ? " " : "\n");
        const int32_t next = n_forced > 0 ? forced[s] : best;
        gen_batch one = {&next, NULL, NULL, 1};
        if (s + 1 < steps && gen_ctx_decode(ctx, &one, &err) < 0) {
            fprintf(stderr, "kiln-logits: %s\n", err.msg);
            goto done;
        }
    }
    rc = 0;

done:
    if (out && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "kiln-logits: %s: %s\n", out_path, strerror(errno));
        rc = 1;
    }
    gen_ctx_free(ctx);
    gen_model_free(model);
    free(prompt);
    free(forced);
    return rc;
}
