/*
 * kiln-gram-bench: the corpus tool behind scripts/grammar-corpus.sh. It replays files through
 * the checker without a model (pieces from gram_text_split_words, about 3 bytes each, many
 * ending inside a lexeme as BPE tokens do) and prints one JSON object per file, so that one
 * process measures a whole corpus.
 *
 *   kiln-gram-bench check  --lang L FILE...   {"file","ok","err_byte"} per file
 *   kiln-gram-bench replay --lang L FILE...   {"file","parses","accepted","tokens",...}
 *   kiln-gram-bench viable --lang L --at N FILE   whether FILE[0..N) plus one of a fixed set of
 *       short completions parses with tree-sitter (an oracle that is never wrong when it says
 *       yes; used to confirm that a rejection came no later than the breaking token)
 */
#include "grammar/gram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    size_t cap = 1 << 16;
    size_t n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return -1;
    }
    for (;;) {
        if (n == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = grown;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) {
            break;
        }
        n += r;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

/* Prints s as a JSON string (core_buf_append_json); out of memory prints "". */
static void json_str(const char *s)
{
    core_buf b = {0};
    fputs(core_buf_append_json(&b, core_str_c(s)) == 0 ? b.ptr : "\"\"", stdout);
    core_buf_dispose(&b);
}

static const char *const python_completions[] = {"",
                                                 "\n",
                                                 "x",
                                                 ")",
                                                 "]",
                                                 "}",
                                                 ":",
                                                 ":\n  pass\n",
                                                 " x",
                                                 "x)",
                                                 "\"",
                                                 "'",
                                                 "\"\"\"",
                                                 "'''",
                                                 "x:\n  pass\n",
                                                 "\n  pass\n",
                                                 "\n    pass\n",
                                                 "\n        pass\n",
                                                 "(x)",
                                                 " = x",
                                                 "x\n",
                                                 ")\n",
                                                 "):\n  pass\n",
                                                 "]\n",
                                                 "}\n",
                                                 "\"\"\"\n",
                                                 "'''\n",
                                                 ":x",
                                                 " in x:\n  pass\n",
                                                 "\n\n",
                                                 "\nexcept:\n  pass\n",
                                                 "\nfinally:\n  pass\n",
                                                 ":\n  pass\nexcept:\n  pass\n",
                                                 "\"\n",
                                                 "'\n",
                                                 "\")\n",
                                                 "')\n",
                                                 "}\"\n",
                                                 "}'\n",
                                                 "x}\"\n",
                                                 "))\n",
                                                 ")):\n  pass\n",
                                                 "x]\n",
                                                 "x}\n",
                                                 " else x\n",
                                                 "\ndef f():\n  pass\n",
                                                 NULL};
static const char *const c_completions[] = {
    "",           "\n",          ";",     ")",     "]",    "}",
    "x",          " x",          "x;",    ");",    "x);",  ";}",
    "}\n",        "\n}",         ")}",    "*/",    "*/\n", "\"",
    "'",          "\";",         "');",   "\");",  "x)",   " x;",
    "x;}",        ");}",         ")) {}", ") {}",  " {}",  "{}",
    ";\n}\n",     "}}",          "}}}",   ";}}",   ";}}}", ");}}",
    "\n#endif\n", "\n#endif\n}", " x)",   "x]",    "x];",  "]);",
    ": x;",       "x: x;",       "\";}",  "\");}", " {};", "};",
    "0",          "0;",          "0)",    " = 0;", "x\n",  "\n#endif\n#endif\n",
    NULL};

/* Pieces the completion search appends; the checker prunes, tree-sitter has the last word. */
static const char *const python_pieces[] = {")",
                                            "]",
                                            "}",
                                            ":",
                                            "\n",
                                            "x",
                                            "pass",
                                            " ",
                                            "    ",
                                            "        ",
                                            "\"",
                                            "'",
                                            "\"\"\"",
                                            "'''",
                                            ",",
                                            "=",
                                            "0",
                                            "in",
                                            "except",
                                            "finally",
                                            "else",
                                            "(",
                                            "{",
                                            "[",
                                            "import",
                                            "lambda",
                                            "if",
                                            "for",
                                            "as",
                                            ";",
                                            "\\\n",
                                            "            ",
                                            "                ",
                                            " else x",
                                            ":\n",
                                            "def f(): pass\n",
                                            "class C: pass\n",
                                            ".",
                                            " in x",
                                            "import x",
                                            " in x:\n",
                                            NULL};
static const char *const c_pieces[] = {
    ")", "]", "}", ";",   "x",      "\n",    " ",    "0", "\"", "'", "*/",     ":", ",",
    "=", "{", "(", "int", "#endif", "while", "else", ">", "<",  "?", "struct", "*", NULL};

/* Whether text + completion parses with tree-sitter (the only judge of a yes). */
static bool parses_with(const gram_lang *lang, const char *text, size_t at, const char *comp,
                        size_t n)
{
    char *buf = malloc(at + n + 1);
    memcpy(buf, text, at);
    memcpy(buf + at, comp, n);
    gram_source_report rep;
    core_err err;
    bool ok = gram_source_check(&rep, lang, (core_str){buf, at + n}, &err) == 0 && rep.ok;
    free(buf);
    return ok;
}

/*
 * Searches completions of text[0..at) by random walks guided by the checker: each step appends
 * the first piece (in a random order) that the checker accepts, and a text the checker judges
 * complete is verified with tree-sitter's parser, which alone decides.
 */
#define WALKS    300
#define WALK_LEN 40
static bool search_completion(const gram_lang *lang, const char *text, size_t at, char **found)
{
    const char *const *pieces =
        strcmp(gram_lang_name(lang), "python") == 0 ? python_pieces : c_pieces;
    size_t n_pieces = 0;
    while (pieces[n_pieces]) {
        n_pieces++;
    }
    gram_checker *checker = NULL;
    gram_snapshot *snap = NULL;
    core_err err;
    bool ok = false;
    bool viable = false;
    *found = NULL;
    if (gram_checker_new(&checker, lang, NULL, &err) < 0 || gram_snapshot_new(&snap, &err) < 0 ||
        gram_checker_feed(checker, (core_str){text, at}, &viable, &err) < 0 || !viable ||
        gram_checker_save(checker, snap, &err) < 0) {
        gram_snapshot_free(snap);
        gram_checker_free(checker);
        return false;
    }
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ at;
    size_t order[64];
    size_t n_verified = 0;
    char *walk = malloc(WALK_LEN * 16 + 1);
    for (int k = 0; k < WALKS && !ok && n_verified < 60; k++) {
        if (gram_checker_restore(checker, snap, &err) < 0) {
            break;
        }
        size_t wl = 0;
        for (int step = 0; step < WALK_LEN && !ok; step++) {
            /* Random order, but the first third of the list (closers) is tried first more often. */
            for (size_t i = 0; i < n_pieces; i++) {
                order[i] = i;
            }
            for (size_t i = n_pieces - 1; i > 0; i--) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t j = (size_t)(rng >> 33) % (i + 1);
                size_t t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            if ((rng >> 40) % 2 == 0) {
                for (size_t i = 0; i < n_pieces; i++) {
                    order[i] = i;
                }
            }
            bool moved = false;
            for (size_t i = 0; i < n_pieces && !moved; i++) {
                const char *p = pieces[order[i]];
                size_t pl = strlen(p);
                bool v = false;
                if (gram_checker_feed(checker, (core_str){p, pl}, &v, &err) == 0 && v) {
                    memcpy(walk + wl, p, pl);
                    wl += pl;
                    moved = true;
                }
            }
            if (!moved) {
                break;
            }
            bool complete = false;
            if (gram_checker_is_complete(checker, &complete, &err) == 0 && complete) {
                n_verified++;
                if (parses_with(lang, text, at, walk, wl)) {
                    walk[wl] = '\0';
                    *found = strdup(walk);
                    ok = true;
                }
            }
        }
    }
    free(walk);
    gram_snapshot_free(snap);
    gram_checker_free(checker);
    return ok;
}

static int cmd_viable(const gram_lang *lang, const char *path, size_t at)
{
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, &text, &len) < 0 || at > len) {
        fprintf(stderr, "viable: %s: cannot read or offset out of range\n", path);
        free(text);
        return 2;
    }
    const char *const *comps =
        strcmp(gram_lang_name(lang), "python") == 0 ? python_completions : c_completions;
    int found = 0;
    for (size_t i = 0; comps[i] && !found; i++) {
        if (parses_with(lang, text, at, comps[i], strlen(comps[i]))) {
            printf("{\"viable\":true,\"completion\":");
            json_str(comps[i]);
            printf("}\n");
            found = 1;
        }
    }
    char *comp = NULL;
    if (!found && search_completion(lang, text, at, &comp)) {
        printf("{\"viable\":true,\"completion\":");
        json_str(comp);
        printf(",\"searched\":true}\n");
        found = 1;
    }
    free(comp);
    if (!found) {
        printf("{\"viable\":null}\n");
    }
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    const char *lang_name = NULL;
    size_t at = 0;
    int argi = 2;
    if (argc < 2) {
        fprintf(stderr, "usage: kiln-gram-bench check|replay|viable --lang L [--at N] FILE...\n");
        return 2;
    }
    while (argi < argc && strncmp(argv[argi], "--", 2) == 0) {
        if (strcmp(argv[argi], "--lang") == 0 && argi + 1 < argc) {
            lang_name = argv[argi + 1];
            argi += 2;
        } else if (strcmp(argv[argi], "--at") == 0 && argi + 1 < argc) {
            at = (size_t)strtoull(argv[argi + 1], NULL, 10);
            argi += 2;
        } else {
            fprintf(stderr, "kiln-gram-bench: unknown option %s\n", argv[argi]);
            return 2;
        }
    }
    gram_lang *lang = NULL;
    core_err err = {0};
    if (gram_lang_load(&lang, lang_name, &err) < 0) {
        fprintf(stderr, "kiln-gram-bench: %s\n", err.msg);
        return 2;
    }
    int status = 0;
    if (strcmp(argv[1], "viable") == 0 && argi < argc) {
        status = cmd_viable(lang, argv[argi], at);
        gram_lang_free(lang);
        return status;
    }
    bool replay = strcmp(argv[1], "replay") == 0;
    for (; argi < argc; argi++) {
        char *text = NULL;
        size_t len = 0;
        if (read_file(argv[argi], &text, &len) < 0) {
            fprintf(stderr, "kiln-gram-bench: %s: cannot read\n", argv[argi]);
            status = 2;
            continue;
        }
        core_str s = {text, len};
        gram_source_report rep;
        printf("{\"file\":");
        json_str(argv[argi]);
        if (gram_source_check(&rep, lang, s, &err) < 0) {
            printf(",\"error\":");
            json_str(err.msg);
            printf("}\n");
            free(text);
            continue;
        }
        printf(",\"parses\":%s", rep.ok ? "true" : "false");
        if (!rep.ok) {
            printf(",\"err_byte\":%zu", rep.err_byte);
        }
        if (replay) {
            size_t *ends = NULL;
            size_t n = 0;
            gram_replay_report rr;
            if (gram_text_split_words(s, &ends, &n, &err) < 0 ||
                gram_replay(&rr, lang, s, ends, n, &err) < 0) {
                printf(",\"error\":");
                json_str(err.msg);
            } else {
                printf(",\"accepted\":%s,\"complete\":%s,\"tokens\":%zu,\"fed\":%zu",
                       rr.accepted ? "true" : "false", rr.complete ? "true" : "false", rr.n_tokens,
                       rr.n_fed);
                if (rr.rejected_token != SIZE_MAX) {
                    printf(",\"rejected_at\":%zu,\"rejected_token\":%zu,\"rejected_end\":%zu",
                           rr.rejected_byte, rr.rejected_token, ends[rr.rejected_token]);
                } else {
                    printf(",\"rejected_at\":null");
                }
                printf(",\"ns_total\":%llu,\"us_max\":%.1f,\"slowest_at\":%zu,"
                       "\"versions_peak\":%zu",
                       (unsigned long long)rr.ns_total, (double)rr.ns_max / 1e3,
                       rr.slowest_token < n ? (rr.slowest_token ? ends[rr.slowest_token - 1] : 0)
                                            : 0,
                       rr.n_versions_peak);
            }
            free(ends);
        }
        printf("}\n");
        fflush(stdout);
        free(text);
    }
    gram_lang_free(lang);
    return status;
}
