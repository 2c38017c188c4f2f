/*
 * `kiln tokenize` and `kiln detokenize`: the model's tokenizer on standard input, for users
 * and for parity checks against other implementations. Only the vocabulary is loaded.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

typedef struct tok_args {
    const char *model;
    bool json;
    bool no_special;     /* tokenize: do not add BOS/EOS */
    bool parse_special;  /* tokenize: special-token text becomes its id */
    bool render_special; /* detokenize: print control tokens' text */
} tok_args;

static void tok_usage(FILE *f, const char *cmd)
{
    if (strcmp(cmd, "tokenize") == 0) {
        fprintf(f, "usage: kiln tokenize [-m MODEL] [--json] [--no-bos] [--special] < TEXT\n\n"
                   "Prints the token ids of standard input, space-separated on one line.\n"
                   "  --json      print a JSON array instead\n"
                   "  --no-bos    do not add the BOS/EOS tokens the model asks for\n"
                   "  --special   turn special-token text (<|im_start|>) into its id\n");
    } else {
        fprintf(f, "usage: kiln detokenize [-m MODEL] [--special] < IDS\n\n"
                   "Prints the text of token ids read from standard input (whitespace- or\n"
                   "comma-separated, or a JSON array).\n"
                   "  --special   print the text of control tokens too\n");
    }
}

static int parse_args(tok_args *a, int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_NOBOS, OPT_SPECIAL };
    static const struct option longs[] = {
        {"model", required_argument, NULL, 'm'},  {"json", no_argument, NULL, OPT_JSON},
        {"no-bos", no_argument, NULL, OPT_NOBOS}, {"special", no_argument, NULL, OPT_SPECIAL},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", longs, NULL)) != -1) {
        switch (c) {
        case 'm':
            a->model = optarg;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_NOBOS:
            a->no_special = true;
            break;
        case OPT_SPECIAL:
            a->parse_special = true;
            a->render_special = true;
            break;
        case 'h':
            tok_usage(stdout, argv[0]);
            exit(CLI_EXIT_OK);
        default:
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kiln %s: unexpected argument '%s'\n", argv[0], argv[optind]);
        return -1;
    }
    return 0;
}

static int load_vocab(gen_model **model, const char *path, core_err *err)
{
    gen_model_options mo = gen_model_options_default();
    mo.vocab_only = true;
    return gen_model_load(model, cli_model_path(path), &mo, err);
}

int cli_cmd_tokenize(int argc, char **argv)
{
    tok_args a;
    if (parse_args(&a, argc, argv) < 0) {
        tok_usage(stderr, "tokenize");
        return CLI_EXIT_BAD;
    }
    core_err err = {0};
    gen_model *model = NULL;
    core_buf in = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = load_vocab(&model, a.model, &err);
    if (rc == 0) {
        rc = cli_read_all(stdin, &in, &err);
    }
    if (rc == 0) {
        rc = gen_model_tokenize(model, (core_str){in.ptr, in.len}, !a.no_special, a.parse_special,
                                &ids, &n, &err);
    }
    if (rc == 0) {
        fputs(a.json ? "[" : "", stdout);
        for (size_t i = 0; i < n; i++) {
            printf("%s%d", i == 0 ? "" : (a.json ? ", " : " "), ids[i]);
        }
        fputs(a.json ? "]\n" : "\n", stdout);
    }
    core_free(ids);
    core_buf_dispose(&in);
    gen_model_free(model);
    return rc < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}

/* Reads integers separated by anything that is not a digit or '-'. */
static int parse_ids(const core_buf *in, int32_t **out, size_t *n_out, core_err *err)
{
    size_t cap = 64;
    size_t n = 0;
    int32_t *ids = core_malloc(cap * sizeof(*ids));
    if (!ids) {
        return core_err_set(err, CORE_ENOMEM, "detokenize: out of memory");
    }
    const char *p = in->ptr;
    const char *end = in->ptr + in->len;
    while (p < end) {
        if (!(*p == '-' || (*p >= '0' && *p <= '9'))) {
            if (!(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',' || *p == '[' ||
                  *p == ']')) {
                core_free(ids);
                return core_err_set(err, CORE_EPARSE, "detokenize: byte %zu: unexpected '%c'",
                                    (size_t)(p - in->ptr), *p);
            }
            p++;
            continue;
        }
        char *q = NULL;
        long v = strtol(p, &q, 10);
        if (q == p || v < INT32_MIN || v > INT32_MAX) {
            core_free(ids);
            return core_err_set(err, CORE_EPARSE, "detokenize: byte %zu: bad token id",
                                (size_t)(p - in->ptr));
        }
        if (n == cap) {
            int32_t *grown = core_realloc(ids, 2 * cap * sizeof(*ids));
            if (!grown) {
                core_free(ids);
                return core_err_set(err, CORE_ENOMEM, "detokenize: out of memory");
            }
            ids = grown;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
        p = q;
    }
    *out = ids;
    *n_out = n;
    return 0;
}

int cli_cmd_detokenize(int argc, char **argv)
{
    tok_args a;
    if (parse_args(&a, argc, argv) < 0) {
        tok_usage(stderr, "detokenize");
        return CLI_EXIT_BAD;
    }
    core_err err = {0};
    gen_model *model = NULL;
    core_buf in = {0};
    core_buf out = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = load_vocab(&model, a.model, &err);
    if (rc == 0) {
        rc = cli_read_all(stdin, &in, &err);
    }
    if (rc == 0) {
        rc = parse_ids(&in, &ids, &n, &err);
    }
    if (rc == 0) {
        rc = gen_model_detokenize(model, ids, n, a.render_special, &out, &err);
    }
    if (rc == 0 && out.len) {
        fwrite(out.ptr, 1, out.len, stdout);
    }
    core_free(ids);
    core_buf_dispose(&in);
    core_buf_dispose(&out);
    gen_model_free(model);
    return rc < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}
