/*
 * `kiln grammar check`, `kiln grammar replay` and `kiln grammar gen`: whether a source file
 * parses with a tree-sitter grammar; how the incremental checker (grammar/checker.c) judges it
 * when it is fed token by token with the model's tokenizer; and what the grammar constraint
 * changes in generation (share of programs that parse, time per token), measured on a prompts
 * file with and without the constraint, same model and seeds. Replay is how kiln measures
 * false rejections and the checker's cost per token (scripts/grammar-corpus.sh runs it over
 * corpora). Exit codes: 0 accepted (or parses), 1 rejected (or does not parse), 2 bad input.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"
#include "grammar/gram.h"

typedef struct gram_args {
    const char *sub;   /* "check" or "replay" */
    const char *lang;  /* grammar name */
    const char *model; /* replay: tokenizer's model, NULL: the default */
    const char *path;  /* the file */
    bool json;
    bool words;       /* replay: split into BPE-like pieces instead of using a model */
    size_t n_predict; /* gen: tokens per generation */
    size_t n_timing;  /* gen: prompts whose 200-token generations are timed */
    uint64_t seed;    /* gen */
    float temp;       /* gen */
} gram_args;

static void gram_usage(FILE *f)
{
    fprintf(f, "usage: kiln grammar check --lang python|c [--json] FILE\n"
               "       kiln grammar replay --lang python|c [-m MODEL] [--words] [--json] FILE\n"
               "       kiln grammar gen --lang python|c [-m MODEL] [-n N] [--seed S] [--temp T]\n"
               "                        [--timing K] [--json] PROMPTS\n\n"
               "check   reports whether FILE parses with the language's tree-sitter grammar\n"
               "        (Python: and holds its indentation rules); if not, FILE:LINE:COL of the\n"
               "        first error, where the parse cannot go on, and what it is.\n"
               "replay  tokenizes FILE with the model's tokenizer and feeds it token by token\n"
               "        to the grammar checker; prints the first rejected token (if any) and\n"
               "        the time per check. Exit 0: every token accepted and the file complete;\n"
               "        1: a token was rejected or the file is incomplete; 2: bad input.\n"
               "  -m, --model M  the model whose tokenizer to use (default: the default model)\n"
               "  --words        split into word/blank/punctuation pieces instead (no model)\n"
               "  --json         print one JSON object\n"
               "gen     generates a function for each prompt of PROMPTS (blocks `=== NAME`, task,\n"
               "        `---`, code prefix) without and with the grammar constraint, same seed;\n"
               "        reports how many programs parse, how many generations ended by\n"
               "        themselves, and the time per token of 200-token generations (no stops)\n"
               "        for the first K prompts (--timing, default 20).\n"
               "  -n N           tokens per generation (default 200)\n"
               "  --seed S, --temp T  sampling (default 0 and 0.8)\n");
}

static int parse_args(gram_args *a, int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_LANG, OPT_WORDS, OPT_SEED, OPT_TEMP, OPT_TIMING };
    static const struct option longs[] = {{"model", required_argument, NULL, 'm'},
                                          {"lang", required_argument, NULL, OPT_LANG},
                                          {"json", no_argument, NULL, OPT_JSON},
                                          {"words", no_argument, NULL, OPT_WORDS},
                                          {"n-predict", required_argument, NULL, 'n'},
                                          {"seed", required_argument, NULL, OPT_SEED},
                                          {"temp", required_argument, NULL, OPT_TEMP},
                                          {"timing", required_argument, NULL, OPT_TIMING},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        gram_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_BAD : -1;
    }
    a->sub = argv[1];
    a->n_predict = 200;
    a->n_timing = 20;
    a->temp = 0.8f;
    if (strcmp(a->sub, "check") != 0 && strcmp(a->sub, "replay") != 0 &&
        strcmp(a->sub, "gen") != 0) {
        fprintf(stderr, "kiln grammar: unknown subcommand '%s'\n", a->sub);
        gram_usage(stderr);
        return CLI_EXIT_BAD;
    }
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "m:n:h", longs, NULL)) != -1) {
        size_t v = 0;
        switch (c) {
        case 'n':
            if (!cli_parse_size("--n-predict", optarg, &a->n_predict)) {
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_TIMING:
            if (!cli_parse_size("--timing", optarg, &a->n_timing)) {
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_SEED:
            if (!cli_parse_size("--seed", optarg, &v)) {
                return CLI_EXIT_BAD;
            }
            a->seed = v;
            break;
        case OPT_TEMP:
            if (!cli_parse_float("--temp", optarg, &a->temp)) {
                return CLI_EXIT_BAD;
            }
            break;
        case 'm':
            a->model = optarg;
            break;
        case OPT_LANG:
            a->lang = optarg;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_WORDS:
            a->words = true;
            break;
        case 'h':
            gram_usage(stdout);
            return -1;
        default:
            gram_usage(stderr);
            return CLI_EXIT_BAD;
        }
    }
    if (!a->lang || optind + 1 != argc - 1) {
        fprintf(stderr, "kiln grammar %s: need --lang and one FILE\n", a->sub);
        gram_usage(stderr);
        return CLI_EXIT_BAD;
    }
    a->path = argv[optind + 1];
    return 0;
}

/* Reads path into buf, refusing files larger than the grammar's limit before reading them. */
static int read_source(const char *path, core_buf *buf, core_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return core_err_set(err, CORE_ENOTFOUND, "%s: %s", path, strerror(errno));
    }
    int rc = 0;
    char chunk[65536];
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n == 0) {
            if (ferror(f)) {
                rc = core_err_set(err, CORE_EIO, "%s: read failed", path);
            }
            break;
        }
        if (buf->len + n > GRAM_TEXT_MAX) {
            rc = core_err_set(err, CORE_ELIMIT, "%s: larger than the %zu-byte limit", path,
                              GRAM_TEXT_MAX);
            break;
        }
        if (core_buf_append(buf, chunk, n) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "%s: out of memory", path);
            break;
        }
    }
    fclose(f);
    if (rc == 0 && !buf->ptr) {
        rc = core_buf_append(buf, "", 0) < 0 ? CORE_ENOMEM : 0;
    }
    return rc;
}

/* 1-based line and byte column of offset in text. */
static void line_col(core_str text, size_t offset, size_t *line, size_t *col)
{
    *line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < offset && i < text.len; i++) {
        if (text.ptr[i] == '\n') {
            (*line)++;
            line_start = i + 1;
        }
    }
    *col = offset - line_start + 1;
}

static void print_json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch == '\n') {
            fputs("\\n", f);
        } else if (ch == '\t') {
            fputs("\\t", f);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

static int cmd_check(const gram_args *a, const gram_lang *lang, core_str text)
{
    gram_source_report rep;
    core_err err = {0};
    if (gram_source_check(&rep, lang, text, &err) < 0) {
        return cli_fail(&err);
    }
    if (a->json) {
        printf("{\"file\":");
        print_json_str(stdout, a->path, strlen(a->path));
        printf(",\"lang\":\"%s\",\"ok\":%s", gram_lang_name(lang), rep.ok ? "true" : "false");
        if (!rep.ok) {
            printf(",\"err_byte\":%zu,\"line\":%u,\"col\":%u,\"error\":\"%s\"", rep.err_byte,
                   rep.err_line, rep.err_col, rep.what);
        }
        printf("}\n");
    } else if (rep.ok) {
        printf("%s: parses as %s\n", a->path, gram_lang_name(lang));
    } else {
        printf("%s:%u:%u: %s (byte %zu)\n", a->path, rep.err_line, rep.err_col, rep.what,
               rep.err_byte);
    }
    return rep.ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* Token end offsets from the model's tokenizer; the pieces must add up to the text. */
static int model_ends(const char *model_path, core_str text, size_t **ends, size_t *n_out,
                      core_err *err)
{
    int rc = 0;
    gen_model *model = NULL;
    int32_t *tokens = NULL;
    size_t n = 0;
    *ends = NULL;
    *n_out = 0;

    gen_model_options opts = gen_model_options_default();
    opts.vocab_only = true;
    rc = gen_model_load(&model, model_path, &opts, err);
    if (rc < 0) {
        goto done;
    }
    rc = gen_model_tokenize(model, text, false, false, &tokens, &n, err);
    if (rc < 0) {
        goto done;
    }
    *ends = core_malloc((n + 1) * sizeof(**ends));
    if (!*ends) {
        rc = core_err_set(err, CORE_ENOMEM, "replay: out of memory for %zu tokens", n);
        goto done;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        core_str piece = gen_model_token_piece(model, tokens[i], false);
        if (off + piece.len > text.len ||
            (piece.len > 0 && memcmp(text.ptr + off, piece.ptr, piece.len) != 0)) {
            rc = core_err_set(err, CORE_EUNSUPPORTED,
                              "replay: token %zu (id %d) does not detokenize to the text at "
                              "byte %zu",
                              i, (int)tokens[i], off);
            goto done;
        }
        off += piece.len;
        (*ends)[i] = off;
    }
    if (off != text.len) {
        rc = core_err_set(err, CORE_EUNSUPPORTED, "replay: tokens cover %zu of %zu bytes", off,
                          text.len);
        goto done;
    }
    *n_out = n;

done:
    if (rc < 0) {
        core_free(*ends);
        *ends = NULL;
    }
    core_free(tokens);
    gen_model_free(model);
    return rc;
}

static int cmd_replay(const gram_args *a, const gram_lang *lang, core_str text)
{
    core_err err = {0};
    size_t *ends = NULL;
    size_t n = 0;
    int status = CLI_EXIT_OK;

    int rc = gram_text_validate(text, &err);
    if (rc == 0) {
        rc = a->words ? gram_text_split_words(text, &ends, &n, &err)
                      : model_ends(cli_model_path(a->model), text, &ends, &n, &err);
    }
    if (rc < 0) {
        return cli_fail(&err);
    }
    gram_replay_report rep;
    rc = gram_replay(&rep, lang, text, ends, n, &err);
    if (rc < 0) {
        core_free(ends);
        return cli_fail(&err);
    }
    double us_per_token =
        rep.n_fed + (rep.rejected_token != SIZE_MAX)
            ? (double)rep.ns_total / 1e3 / (double)(rep.n_fed + (rep.rejected_token != SIZE_MAX))
            : 0.0;
    size_t line = 0;
    size_t col = 0;
    core_str piece = {"", 0};
    if (rep.rejected_token != SIZE_MAX && ends) {
        line_col(text, rep.rejected_byte, &line, &col);
        piece =
            (core_str){text.ptr + rep.rejected_byte, ends[rep.rejected_token] - rep.rejected_byte};
        fprintf(stderr, "kiln: %s:%zu:%zu: token %zu rejected at byte %zu: ", a->path, line, col,
                rep.rejected_token, rep.rejected_byte);
        print_json_str(stderr, piece.ptr, piece.len);
        fputc('\n', stderr);
        status = CLI_EXIT_FAIL;
    } else if (!rep.complete) {
        fprintf(stderr, "kiln: %s: every token accepted, but the program is incomplete\n", a->path);
        status = CLI_EXIT_FAIL;
    }
    if (a->json) {
        printf("{\"file\":");
        print_json_str(stdout, a->path, strlen(a->path));
        printf(",\"lang\":\"%s\",\"accepted\":%s,\"complete\":%s,\"tokens\":%zu,\"fed\":%zu",
               gram_lang_name(lang), rep.accepted ? "true" : "false",
               rep.complete ? "true" : "false", rep.n_tokens, rep.n_fed);
        if (rep.rejected_token != SIZE_MAX) {
            printf(",\"rejected_at\":%zu,\"rejected_token\":%zu,\"line\":%zu,\"col\":%zu,"
                   "\"token_text\":",
                   rep.rejected_byte, rep.rejected_token, line, col);
            print_json_str(stdout, piece.ptr, piece.len);
        } else {
            printf(",\"rejected_at\":null");
        }
        printf(",\"us_per_token\":%.3f,\"us_max\":%.1f,\"versions_peak\":%zu}\n", us_per_token,
               (double)rep.ns_max / 1e3, rep.n_versions_peak);
    } else {
        printf("%s: %s, %zu of %zu tokens accepted, %.2f us per check (max %.1f us)\n", a->path,
               rep.accepted ? "accepted"
                            : (rep.rejected_token != SIZE_MAX ? "rejected" : "incomplete"),
               rep.n_fed, rep.n_tokens, us_per_token, (double)rep.ns_max / 1e3);
    }
    core_free(ends);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* kiln grammar gen: constrained vs unconstrained generation                                  */
/* ------------------------------------------------------------------------------------------ */

/* One prompt of a prompts file: a task and the code the program starts with. */
typedef struct gen_prompt {
    char *name; /* owned */
    char *task; /* owned */
    char *code; /* owned: the program's first lines (signature, docstring) */
} gen_prompt;

/*
 * Reads a prompts file: blocks `=== NAME`, the task text, a line `---`, the code prefix.
 * Lines starting with '#' before the first block are comments.
 */
static int prompts_read(const char *path, gen_prompt **out, size_t *n_out, core_err *err)
{
    core_buf buf = {0};
    int rc = read_source(path, &buf, err);
    gen_prompt *p = NULL;
    size_t n = 0;
    *out = NULL;
    *n_out = 0;
    if (rc < 0) {
        return rc;
    }
    size_t cap = 0;
    char *s = buf.ptr ? buf.ptr : "";
    char *block = strncmp(s, "=== ", 4) == 0 ? s : strstr(s, "\n=== ");
    if (block && block != s) {
        block++;
    }
    while (block) {
        char *next = strstr(block + 4, "\n=== ");
        char *end = next ? next + 1 : buf.ptr + buf.len;
        char *nl = memchr(block, '\n', (size_t)(end - block));
        char *sep = nl ? strstr(nl, "\n---\n") : NULL;
        if (!nl || !sep || sep >= end) {
            rc = core_err_set(err, CORE_EPARSE, "%s: byte %zu: prompt without a --- line", path,
                              (size_t)(block - buf.ptr));
            goto done;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            gen_prompt *q = core_realloc(p, cap * sizeof(*p));
            if (!q) {
                rc = core_err_set(err, CORE_ENOMEM, "%s: out of memory", path);
                goto done;
            }
            p = q;
        }
        p[n].name = core_strndup(block + 4, (size_t)(nl - block - 4));
        p[n].task = core_strndup(nl + 1, (size_t)(sep - nl - 1));
        p[n].code = core_strndup(sep + 5, (size_t)(end - sep - 5));
        if (!p[n].name || !p[n].task || !p[n].code) {
            core_free(p[n].name);
            core_free(p[n].task);
            core_free(p[n].code);
            rc = core_err_set(err, CORE_ENOMEM, "%s: out of memory", path);
            goto done;
        }
        n++;
        block = next ? next + 1 : NULL;
    }
    *out = p;
    *n_out = n;
    p = NULL;
done:
    if (p) {
        for (size_t i = 0; i < n; i++) {
            core_free(p[i].name);
            core_free(p[i].task);
            core_free(p[i].code);
        }
        core_free(p);
    }
    core_buf_dispose(&buf);
    return rc;
}

/* The outcome of one generation. */
typedef struct gen_result {
    size_t n_tokens;     /* tokens generated */
    bool ended;          /* the model stopped (end of generation or closing fence) */
    bool parses;         /* code prefix + generation parses */
    bool forbade_all;    /* the constraint forbade every token */
    uint64_t ns_tokens;  /* decode + sampling (+ constraint) time of the generated tokens */
    uint64_t ns_checker; /* constraint time */
    uint64_t ns_sample;  /* sampling time, constraint included */
    uint64_t n_checks;   /* tokens the constraint was asked about */
} gen_result;

/* A token that closes the code block (``` after optional blanks) counts as a stop token. */
static bool piece_is_fence(core_str piece)
{
    size_t i = 0;
    while (i < piece.len && (piece.ptr[i] == ' ' || piece.ptr[i] == '\n' || piece.ptr[i] == '\t')) {
        i++;
    }
    return piece.len - i >= 3 && memcmp(piece.ptr + i, "```", 3) == 0;
}

typedef struct gen_env {
    gen_model *model;
    const gram_lang *lang;
    gram_vocab vocab; /* pieces and stop tokens (end of generation, closing fence) */
    core_str *pieces; /* owned */
    bool *is_stop;    /* owned */
    gen_sampler_options sampling;
    size_t n_predict;
} gen_env;

/*
 * Generates from prompt ids (chat prompt + code prefix) up to env->n_predict tokens. stops:
 * whether stop tokens end the generation (else they are forbidden). constrained: whether the
 * grammar constraint (started from the code prefix) filters tokens.
 */
static int generate(gen_env *env, const int32_t *ids, size_t n_ids, core_str code, bool stops,
                    bool constrained, gen_result *res, core_err *err)
{
    int rc = 0;
    gen_ctx *ctx = NULL;
    gen_sampler *sampler = NULL;
    gram_checker *checker = NULL;
    gram_constraint *gc = NULL;
    core_buf text = {0};
    size_t n_vocab = gen_model_n_vocab(env->model);
    memset(res, 0, sizeof(*res));

    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = n_ids + env->n_predict + 1;
    co.n_batch_max = n_ids < 512 ? n_ids : 512;
    rc = gen_ctx_new(&ctx, env->model, &co, err);
    if (rc == 0) {
        rc = gen_sampler_new(&sampler, &env->sampling, n_vocab, err);
    }
    if (rc == 0) {
        rc = core_buf_append(&text, code.ptr, code.len) < 0 ? CORE_ENOMEM : 0;
    }
    if (rc == 0 && constrained) {
        bool viable = false;
        rc = gram_checker_new(&checker, env->lang, NULL, err);
        if (rc == 0) {
            rc = gram_checker_feed(checker, code, &viable, err);
        }
        if (rc == 0 && !viable) {
            rc = core_err_set(err, CORE_EINVAL, "gen: the code prefix is not viable");
        }
        if (rc == 0) {
            rc = gram_constraint_new(&gc, checker, &env->vocab, err);
        }
    }
    gen_batch b = {ids, NULL, NULL, n_ids};
    if (rc == 0) {
        rc = gen_ctx_decode(ctx, &b, err);
    }
    for (size_t i = 0; rc == 0 && i < n_ids; i++) {
        gen_sampler_accept(sampler, ids[i]);
    }
    gen_constraint con = {NULL, gram_constraint_allows, gc};
    bool has_body = false;
    uint64_t t0 = core_time_ns();
    while (rc == 0 && res->n_tokens < env->n_predict) {
        float *logits = gen_ctx_logits(ctx, 0);
        /* Stop tokens are forbidden in timing runs (every generation makes n_predict tokens)
           and, in both modes alike, until the body has a non-blank character: the grammars
           accept an empty block, and a program that is only a signature says nothing. With
           the constraint, they are otherwise allowed only where the program is complete. */
        if (!stops || !has_body) {
            for (size_t t = 0; t < n_vocab; t++) {
                if (env->is_stop[t]) {
                    logits[t] = -INFINITY;
                }
            }
        }
        int32_t tok = 0;
        uint64_t ts = core_time_ns();
        rc = gen_sampler_sample(sampler, logits, constrained ? &con : NULL, &tok, err);
        res->ns_sample += core_time_ns() - ts;
        if (rc == CORE_ENOTFOUND && constrained) {
            res->forbade_all = true;
            rc = 0;
            break;
        }
        if (rc < 0) {
            break;
        }
        res->n_tokens++;
        if (env->is_stop[tok]) {
            res->ended = true;
            break;
        }
        if (gc) {
            rc = gram_constraint_accept(gc, tok, err);
            if (rc < 0) {
                break;
            }
        }
        gen_sampler_accept(sampler, tok);
        core_str piece = env->pieces[tok];
        for (size_t j = 0; j < piece.len && !has_body; j++) {
            has_body = piece.ptr[j] != ' ' && piece.ptr[j] != '\n' && piece.ptr[j] != '\t';
        }
        if (core_buf_append(&text, piece.ptr, piece.len) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "gen: out of memory");
            break;
        }
        if (res->n_tokens == env->n_predict) {
            break;
        }
        gen_batch next = {&tok, NULL, NULL, 1};
        rc = gen_ctx_decode(ctx, &next, err);
    }
    res->ns_tokens = core_time_ns() - t0;
    if (gc) {
        res->ns_checker = gram_constraint_ns_checks(gc);
        res->n_checks = gram_constraint_n_checks(gc);
    }
    if (rc == 0) {
        gram_source_report rep;
        rc = gram_source_check(&rep, env->lang, (core_str){text.ptr, text.len}, err);
        res->parses = rc == 0 && rep.ok;
    }
    gram_constraint_free(gc);
    gram_checker_free(checker);
    gen_sampler_free(sampler);
    gen_ctx_free(ctx);
    core_buf_dispose(&text);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    if (n == 0) {
        return 0.0;
    }
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static int cmd_gen(const gram_args *a, const gram_lang *lang)
{
    core_err err = {0};
    gen_env env;
    memset(&env, 0, sizeof(env));
    gen_prompt *prompts = NULL;
    size_t n_prompts = 0;
    int status = CLI_EXIT_BAD;
    double *t_free = NULL;
    double *t_con = NULL;
    double *t_chk = NULL;
    double *s_free = NULL;
    double *s_con = NULL;
    double checks_per_token = 0;
    size_t n_time = 0;
    size_t counts[2][4] = {{0}}; /* [constrained][parses, ended, ended and parses, limit] */

    if (prompts_read(a->path, &prompts, &n_prompts, &err) < 0) {
        return cli_fail(&err);
    }
    gen_model_options mo = gen_model_options_default();
    if (gen_model_load(&env.model, cli_model_path(a->model), &mo, &err) < 0) {
        goto done;
    }
    size_t n_vocab = gen_model_n_vocab(env.model);
    env.pieces = core_calloc(n_vocab, sizeof(*env.pieces));
    env.is_stop = core_calloc(n_vocab, sizeof(*env.is_stop));
    t_free = core_calloc(n_prompts + 1, sizeof(double));
    t_con = core_calloc(n_prompts + 1, sizeof(double));
    t_chk = core_calloc(n_prompts + 1, sizeof(double));
    s_free = core_calloc(n_prompts + 1, sizeof(double));
    s_con = core_calloc(n_prompts + 1, sizeof(double));
    if (!env.pieces || !env.is_stop || !t_free || !t_con || !t_chk || !s_free || !s_con) {
        core_err_set(&err, CORE_ENOMEM, "gen: out of memory");
        goto done;
    }
    for (size_t t = 0; t < n_vocab; t++) {
        env.pieces[t] = gen_model_token_piece(env.model, (int32_t)t, false);
        env.is_stop[t] =
            gen_model_token_is_eog(env.model, (int32_t)t) || piece_is_fence(env.pieces[t]);
    }
    env.vocab = (gram_vocab){env.pieces, env.is_stop, n_vocab};
    env.lang = lang;
    env.sampling = gen_sampler_options_default();
    env.sampling.seed = a->seed;
    env.sampling.temp = a->temp;
    env.n_predict = a->n_predict;
    const char *fence = strcmp(gram_lang_name(lang), "python") == 0 ? "```python\n" : "```c\n";
    for (size_t i = 0; i < n_prompts; i++) {
        core_buf user = {0};
        core_buf prompt = {0};
        int32_t *ids = NULL;
        size_t n_ids = 0;
        core_str code = core_str_c(prompts[i].code);
        gen_result r[4];
        memset(r, 0, sizeof(r));
        int rc = core_buf_appendf(&user, "Write a %s function. %s Reply with the code only.",
                                  strcmp(gram_lang_name(lang), "python") == 0 ? "Python" : "C",
                                  prompts[i].task) < 0
                     ? CORE_ENOMEM
                     : 0;
        if (rc == 0) {
            rc = gen_model_chat_apply(env.model, core_str_c(""), (core_str){user.ptr, user.len},
                                      &prompt, &err);
        }
        if (rc == 0 && (core_buf_appendf(&prompt, "%s%s", fence, prompts[i].code) < 0)) {
            rc = CORE_ENOMEM;
        }
        if (rc == 0) {
            rc = gen_model_tokenize(env.model, (core_str){prompt.ptr, prompt.len}, true, true, &ids,
                                    &n_ids, &err);
        }
        /* free and constrained runs with stops; then both without, for the timing */
        for (int k = 0; rc == 0 && k < 4; k++) {
            bool timing = k >= 2;
            if (timing && i >= a->n_timing) {
                break;
            }
            rc = generate(&env, ids, n_ids, code, !timing, k % 2 == 1, &r[k], &err);
        }
        core_free(ids);
        core_buf_dispose(&user);
        core_buf_dispose(&prompt);
        if (rc < 0) {
            goto done;
        }
        for (int k = 0; k < 2; k++) {
            counts[k][0] += r[k].parses;
            counts[k][1] += r[k].ended;
            counts[k][2] += r[k].ended && r[k].parses;
            counts[k][3] += !r[k].ended && !r[k].forbade_all;
        }
        if (i < a->n_timing) {
            t_free[n_time] =
                (double)r[2].ns_tokens / 1e3 / (double)(r[2].n_tokens + !r[2].n_tokens);
            t_con[n_time] = (double)r[3].ns_tokens / 1e3 / (double)(r[3].n_tokens + !r[3].n_tokens);
            t_chk[n_time] =
                (double)r[3].ns_checker / 1e3 / (double)(r[3].n_tokens + !r[3].n_tokens);
            s_free[n_time] =
                (double)r[2].ns_sample / 1e3 / (double)(r[2].n_tokens + !r[2].n_tokens);
            s_con[n_time] = (double)r[3].ns_sample / 1e3 / (double)(r[3].n_tokens + !r[3].n_tokens);
            checks_per_token += (double)r[3].n_checks / (double)(r[3].n_tokens + !r[3].n_tokens);
            n_time++;
        }
        if (a->json) {
            printf("{\"prompt\":");
            print_json_str(stdout, prompts[i].name, strlen(prompts[i].name));
            for (int k = 0; k < 2; k++) {
                printf(",\"%s\":{\"tokens\":%zu,\"ended\":%s,\"parses\":%s,\"forbade_all\":%s}",
                       k ? "constrained" : "free", r[k].n_tokens, r[k].ended ? "true" : "false",
                       r[k].parses ? "true" : "false", r[k].forbade_all ? "true" : "false");
            }
            printf("}\n");
            fflush(stdout);
        }
    }
    double m_free = median(t_free, n_time);
    double m_con = median(t_con, n_time);
    double m_chk = median(t_chk, n_time);
    double m_sfree = median(s_free, n_time);
    double m_scon = median(s_con, n_time);
    printf("{\"summary\":true,\"lang\":\"%s\",\"prompts\":%zu,\"n_predict\":%zu,\"seed\":%llu,"
           "\"temp\":%.2f,",
           gram_lang_name(lang), n_prompts, a->n_predict, (unsigned long long)a->seed,
           (double)a->temp);
    for (int k = 0; k < 2; k++) {
        printf("\"%s\":{\"parses\":%zu,\"ended\":%zu,\"ended_and_parses\":%zu,\"hit_limit\":%zu},",
               k ? "constrained" : "free", counts[k][0], counts[k][1], counts[k][2], counts[k][3]);
    }
    printf("\"timing_generations\":%zu,\"us_per_token_free\":%.1f,"
           "\"us_per_token_constrained\":%.1f,\"overhead_pct\":%.2f,\"checker_us_per_token\":%.2f,"
           "\"sample_us_per_token_free\":%.1f,\"sample_us_per_token_constrained\":%.1f,"
           "\"checks_per_token\":%.2f}\n",
           n_time, m_free, m_con, m_free > 0 ? 100.0 * (m_con - m_free) / m_free : 0.0, m_chk,
           m_sfree, m_scon, n_time ? checks_per_token / (double)n_time : 0.0);
    status = CLI_EXIT_OK;

done:
    if (status != CLI_EXIT_OK) {
        status = cli_fail(&err);
    }
    for (size_t i = 0; i < n_prompts; i++) {
        core_free(prompts[i].name);
        core_free(prompts[i].task);
        core_free(prompts[i].code);
    }
    core_free(prompts);
    core_free(env.pieces);
    core_free(env.is_stop);
    core_free(t_free);
    core_free(t_con);
    core_free(t_chk);
    core_free(s_free);
    core_free(s_con);
    gen_model_free(env.model);
    return status;
}

int cli_cmd_grammar(int argc, char **argv)
{
    gram_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc != 0) {
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    core_err err = {0};
    gram_lang *lang = NULL;
    if (gram_lang_load(&lang, a.lang, &err) < 0) {
        return cli_fail(&err);
    }
    if (strcmp(a.sub, "gen") == 0) {
        int status = cmd_gen(&a, lang);
        gram_lang_free(lang);
        return status;
    }
    core_buf buf = {0};
    if (read_source(a.path, &buf, &err) < 0) {
        gram_lang_free(lang);
        core_buf_dispose(&buf);
        return cli_fail(&err);
    }
    core_str text = {buf.ptr, buf.len};
    int status =
        strcmp(a.sub, "check") == 0 ? cmd_check(&a, lang, text) : cmd_replay(&a, lang, text);
    core_buf_dispose(&buf);
    gram_lang_free(lang);
    return status;
}
