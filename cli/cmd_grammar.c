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
#include "solve/solve.h"

typedef struct grammar_args {
    const char *sub;      /* "check" or "replay" */
    const char *lang;     /* grammar name */
    cli_model_opts model; /* replay: the tokenizer's model; gen: the model (-m, -t, --device,
                             --kernels) */
    const char *path;     /* the file */
    bool json;
    bool words;                   /* replay: split into BPE-like pieces instead of using a model */
    size_t n_predict;             /* gen: tokens per generation */
    size_t n_timing;              /* gen: prompts whose 200-token generations are timed */
    gen_sampler_options sampling; /* gen: --seed (default 0), --temp (default 0.8) */
} grammar_args;

static void grammar_usage(FILE *f)
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
               "Shared options (--seed and --temp default to 0 and 0.8):\n");
    cli_model_usage(f, 1);
    cli_sampling_usage(f, true);
}

static int parse_args(grammar_args *a, int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_LANG, OPT_WORDS, OPT_TIMING };
    static const struct option longs[] = {{"lang", required_argument, NULL, OPT_LANG},
                                          {"json", no_argument, NULL, OPT_JSON},
                                          {"words", no_argument, NULL, OPT_WORDS},
                                          {"n-predict", required_argument, NULL, 'n'},
                                          {"timing", required_argument, NULL, OPT_TIMING},
                                          {"help", no_argument, NULL, 'h'},
                                          CLI_MODEL_LONGOPTS,
                                          CLI_SEED_TEMP_LONGOPTS,
                                          {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        grammar_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_BAD : -1;
    }
    a->sub = argv[1];
    a->n_predict = 200;
    a->n_timing = 20;
    cli_model_opts_init(&a->model);
    a->sampling = gen_sampler_options_default();
    a->sampling.seed = 0;
    a->sampling.temp = 0.8f;
    if (strcmp(a->sub, "check") != 0 && strcmp(a->sub, "replay") != 0 &&
        strcmp(a->sub, "gen") != 0) {
        fprintf(stderr, "kiln grammar: unknown subcommand '%s'\n", a->sub);
        grammar_usage(stderr);
        return CLI_EXIT_BAD;
    }
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "m:t:n:h", longs, NULL)) != -1) {
        int h = cli_model_option(&a->model, c, optarg);
        h = h ? h : cli_sampling_option(&a->sampling, c, optarg);
        if (h != 0) {
            if (h < 0) {
                return CLI_EXIT_BAD;
            }
            continue;
        }
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
            grammar_usage(stdout);
            return -1;
        default:
            grammar_usage(stderr);
            return CLI_EXIT_BAD;
        }
    }
    if (!a->lang || optind + 1 != argc - 1) {
        fprintf(stderr, "kiln grammar %s: need --lang and one FILE\n", a->sub);
        grammar_usage(stderr);
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

static int cmd_check(const grammar_args *a, const gram_lang *lang, core_str text)
{
    gram_source_report rep;
    core_err err = {0};
    if (gram_source_check(&rep, lang, text, &err) < 0) {
        return cli_fail(&err);
    }
    if (a->json) {
        printf("{\"file\":");
        cli_print_json(stdout, core_str_c(a->path));
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
static int model_ends(const cli_model_opts *mopts, core_str text, size_t **ends, size_t *n_out,
                      core_err *err)
{
    int rc = 0;
    gen_model *model = NULL;
    int32_t *tokens = NULL;
    size_t n = 0;
    *ends = NULL;
    *n_out = 0;

    rc = cli_model_open(&model, mopts, true, err);
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

static int cmd_replay(const grammar_args *a, const gram_lang *lang, core_str text)
{
    core_err err = {0};
    size_t *ends = NULL;
    size_t n = 0;
    int status = CLI_EXIT_OK;

    int rc = gram_text_validate(text, &err);
    if (rc == 0) {
        rc = a->words ? gram_text_split_words(text, &ends, &n, &err)
                      : model_ends(&a->model, text, &ends, &n, &err);
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
        (rep.n_fed + (rep.rejected_token != SIZE_MAX)) > 0
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
        cli_print_json(stderr, piece);
        fputc('\n', stderr);
        status = CLI_EXIT_FAIL;
    } else if (!rep.complete) {
        fprintf(stderr, "kiln: %s: every token accepted, but the program is incomplete\n", a->path);
        status = CLI_EXIT_FAIL;
    }
    if (a->json) {
        printf("{\"file\":");
        cli_print_json(stdout, core_str_c(a->path));
        printf(",\"lang\":\"%s\",\"accepted\":%s,\"complete\":%s,\"tokens\":%zu,\"fed\":%zu",
               gram_lang_name(lang), rep.accepted ? "true" : "false",
               rep.complete ? "true" : "false", rep.n_tokens, rep.n_fed);
        if (rep.rejected_token != SIZE_MAX) {
            printf(",\"rejected_at\":%zu,\"rejected_token\":%zu,\"line\":%zu,\"col\":%zu,"
                   "\"token_text\":",
                   rep.rejected_byte, rep.rejected_token, line, col);
            cli_print_json(stdout, piece);
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
typedef struct prompt_block {
    char *name; /* owned */
    char *task; /* owned */
    char *code; /* owned: the program's first lines (signature, docstring) */
} prompt_block;

static void prompts_free(prompt_block *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        core_free(p[i].name);
        core_free(p[i].task);
        core_free(p[i].code);
    }
    core_free(p);
}

/*
 * Reads a prompts file: blocks `=== NAME`, the task text, a line `---`, the code prefix.
 * Lines starting with '#' before the first block are comments.
 */
static int prompts_read(const char *path, prompt_block **out, size_t *n_out, core_err *err)
{
    core_buf buf = {0};
    int rc = read_source(path, &buf, err);
    prompt_block *p = NULL;
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
            prompt_block *q = core_realloc(p, cap * sizeof(*p));
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
    prompts_free(p, n);
    core_buf_dispose(&buf);
    return rc;
}

/* The figures of kiln grammar gen, gathered over the prompts. */
typedef struct grammar_tally {
    double *t_free; /* (n_prompts) us per token of the timing runs, free */
    double *t_con;  /* constrained */
    double *t_chk;  /* the checker's us per token */
    double *s_free; /* sampling us per token, free */
    double *s_con;  /* constrained */
    double checks_per_token;
    size_t n_time;
    size_t counts[2][4]; /* [constrained][parses, ended, ended and parses, limit] */
} grammar_tally;

/* One generation through the pipeline's decode loop (solve_generate); *parses: whether the code
   prefix and the kept text parse, as the pipeline checks its candidates. */
static int generate(solve_engine *engine, const grammar_args *a, solve_lang lang,
                    const gram_lang *gl, core_str prompt, core_str suffix, core_str code,
                    bool timing, bool constrained, solve_generation *g, bool *parses, core_err *err)
{
    solve_generate_options o = solve_generate_options_default();
    o.sampling = a->sampling;
    o.n_tokens_max = a->n_predict;
    o.grammar = constrained;
    /* Timing runs make exactly n_predict tokens; the others stop as the pipeline does. */
    o.stop = timing ? SOLVE_STOP_NONE : SOLVE_STOP_END;
    int rc = solve_generate(g, engine, lang, prompt, suffix, code, &o, NULL, err);
    if (rc == 0 && constrained && !g->constrained) {
        rc = core_err_set(err, CORE_EINVAL, "gen: the code prefix is not viable");
    }
    core_buf text = {0};
    if (rc == 0 && (core_buf_append(&text, code.ptr, code.len) < 0 ||
                    core_buf_appendf(&text, "%s\n", g->text) < 0)) {
        rc = core_err_set(err, CORE_ENOMEM, "gen: out of memory");
    }
    if (rc == 0) {
        gram_source_report rep;
        rc = gram_source_check(&rep, gl, (core_str){text.ptr, text.len}, err);
        *parses = rc == 0 && rep.ok;
    }
    core_buf_dispose(&text);
    return rc;
}

static double per_token(uint64_t ns, const solve_generation *g)
{
    return (double)ns / 1e3 / (double)(g->n_tokens + !g->n_tokens);
}

/* Generates prompt p free and constrained (and, for the first --timing prompts, both again
   without stops) and adds the figures to t. */
static int prompt_block_run(solve_engine *engine, const gen_model *model, const grammar_args *a,
                            solve_lang lang, const gram_lang *gl, const prompt_block *p, size_t i,
                            grammar_tally *t, core_err *err)
{
    core_buf user = {0};
    core_buf prompt = {0};
    core_buf suffix = {0};
    core_str code = core_str_c(p->code);
    solve_generation g[4];
    bool parses[4] = {false, false, false, false};
    memset(g, 0, sizeof(g));
    int rc = core_buf_appendf(&user, "Write a %s function. %s Reply with the code only.",
                              lang == SOLVE_LANG_PYTHON ? "Python" : "C", p->task) < 0
                 ? CORE_ENOMEM
                 : 0;
    if (rc == 0) {
        rc = gen_model_chat_apply(model, core_str_c(""), (core_str){user.ptr, user.len}, &prompt,
                                  err);
    }
    if (rc == 0 &&
        core_buf_appendf(&suffix, "%s%s", lang == SOLVE_LANG_PYTHON ? "```python\n" : "```c\n",
                         p->code) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "gen: out of memory");
    }
    /* free and constrained runs with stops; then both without, for the timing */
    for (int k = 0; rc == 0 && k < 4; k++) {
        bool timing = k >= 2;
        if (timing && i >= a->n_timing) {
            break;
        }
        rc = generate(engine, a, lang, gl, (core_str){prompt.ptr, prompt.len},
                      (core_str){suffix.ptr, suffix.len}, code, timing, k % 2 == 1, &g[k],
                      &parses[k], err);
    }
    if (rc == 0) {
        for (int k = 0; k < 2; k++) {
            t->counts[k][0] += parses[k];
            t->counts[k][1] += g[k].ended;
            t->counts[k][2] += g[k].ended && parses[k];
            t->counts[k][3] += !g[k].ended && !g[k].forbade_all;
        }
        if (i < a->n_timing) {
            t->t_free[t->n_time] = per_token(g[2].ns_decode, &g[2]);
            t->t_con[t->n_time] = per_token(g[3].ns_decode, &g[3]);
            t->t_chk[t->n_time] = per_token(g[3].ns_checks, &g[3]);
            t->s_free[t->n_time] = per_token(g[2].ns_sample, &g[2]);
            t->s_con[t->n_time] = per_token(g[3].ns_sample, &g[3]);
            t->checks_per_token += (double)g[3].n_checks / (double)(g[3].n_tokens + !g[3].n_tokens);
            t->n_time++;
        }
        if (a->json) {
            printf("{\"prompt\":");
            cli_print_json(stdout, core_str_c(p->name));
            for (int k = 0; k < 2; k++) {
                printf(",\"%s\":{\"tokens\":%zu,\"ended\":%s,\"parses\":%s,\"forbade_all\":%s}",
                       k ? "constrained" : "free", g[k].n_tokens, g[k].ended ? "true" : "false",
                       parses[k] ? "true" : "false", g[k].forbade_all ? "true" : "false");
            }
            printf("}\n");
            fflush(stdout);
        }
    }
    for (int k = 0; k < 4; k++) {
        solve_generation_dispose(&g[k]);
    }
    core_buf_dispose(&user);
    core_buf_dispose(&prompt);
    core_buf_dispose(&suffix);
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

static void summary_print(const grammar_args *a, const grammar_tally *t, size_t n_prompts)
{
    double m_free = median(t->t_free, t->n_time);
    double m_con = median(t->t_con, t->n_time);
    double m_chk = median(t->t_chk, t->n_time);
    double m_sfree = median(t->s_free, t->n_time);
    double m_scon = median(t->s_con, t->n_time);
    printf("{\"summary\":true,\"lang\":\"%s\",\"prompts\":%zu,\"n_predict\":%zu,\"seed\":%llu,"
           "\"temp\":%.2f,",
           a->lang, n_prompts, a->n_predict, (unsigned long long)a->sampling.seed,
           (double)a->sampling.temp);
    for (int k = 0; k < 2; k++) {
        printf("\"%s\":{\"parses\":%zu,\"ended\":%zu,\"ended_and_parses\":%zu,\"hit_limit\":%zu},",
               k ? "constrained" : "free", t->counts[k][0], t->counts[k][1], t->counts[k][2],
               t->counts[k][3]);
    }
    printf("\"timing_generations\":%zu,\"us_per_token_free\":%.1f,"
           "\"us_per_token_constrained\":%.1f,\"overhead_pct\":%.2f,\"checker_us_per_token\":%.2f,"
           "\"sample_us_per_token_free\":%.1f,\"sample_us_per_token_constrained\":%.1f,"
           "\"checks_per_token\":%.2f}\n",
           t->n_time, m_free, m_con, m_free > 0 ? 100.0 * (m_con - m_free) / m_free : 0.0, m_chk,
           m_sfree, m_scon, t->n_time ? t->checks_per_token / (double)t->n_time : 0.0);
}

static int cmd_gen(const grammar_args *a, const gram_lang *gl)
{
    core_err err = {0};
    gen_model *model = NULL;
    solve_engine *engine = NULL;
    prompt_block *prompts = NULL;
    size_t n_prompts = 0;
    grammar_tally t;
    memset(&t, 0, sizeof(t));
    int rc = 0;
    solve_lang lang = SOLVE_LANG_PYTHON;
    if (strcmp(a->lang, "c") == 0) {
        lang = SOLVE_LANG_C;
    } else if (strcmp(a->lang, "python") != 0) {
        rc = core_err_set(&err, CORE_EINVAL, "gen: --lang must be python or c, not '%s'", a->lang);
    }
    if (rc == 0) {
        rc = prompts_read(a->path, &prompts, &n_prompts, &err);
    }
    if (rc == 0) {
        rc = cli_model_open(&model, &a->model, false, &err);
    }
    solve_engine_options eo = solve_engine_options_default();
    eo.n_candidates_max = 1;
    eo.n_threads = a->model.n_threads;
    eo.n_ctx = a->n_predict + 1024;
    if (rc == 0) {
        rc = solve_engine_new(&engine, model, NULL, &eo, &err);
    }
    t.t_free = core_calloc(n_prompts + 1, sizeof(double));
    t.t_con = core_calloc(n_prompts + 1, sizeof(double));
    t.t_chk = core_calloc(n_prompts + 1, sizeof(double));
    t.s_free = core_calloc(n_prompts + 1, sizeof(double));
    t.s_con = core_calloc(n_prompts + 1, sizeof(double));
    if (rc == 0 && (!t.t_free || !t.t_con || !t.t_chk || !t.s_free || !t.s_con)) {
        rc = core_err_set(&err, CORE_ENOMEM, "gen: out of memory");
    }
    for (size_t i = 0; rc == 0 && i < n_prompts; i++) {
        rc = prompt_block_run(engine, model, a, lang, gl, &prompts[i], i, &t, &err);
    }
    if (rc == 0) {
        summary_print(a, &t, n_prompts);
    }
    prompts_free(prompts, n_prompts);
    core_free(t.t_free);
    core_free(t.t_con);
    core_free(t.t_chk);
    core_free(t.s_free);
    core_free(t.s_con);
    solve_engine_free(engine);
    gen_model_free(model);
    return rc < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}

int cli_cmd_grammar(int argc, char **argv)
{
    grammar_args a;
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
