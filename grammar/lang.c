/*
 * Languages: the table of compiled-in tree-sitter grammars, their loading, the parse-table
 * lookups (tree-sitter's ts_language_lookup for large and small states, ABI 14), the keyword
 * strings and whole-text checks with tree-sitter's own parser.
 *
 * The keyword strings are not in the tables: tree-sitter lexes an identifier and then runs the
 * grammar's keyword lex function over it. kiln recovers them once per load by exploring that
 * lex function as a black box, breadth first over identifier characters: a string whose
 * characters were all consumed is a live prefix, and one accepted up to its end is a keyword.
 * The checker uses them to tell whether an unfinished word (`retu`) can still become a token
 * that the parse state accepts.
 */
#include "grammar/gram_int.h"

#include <string.h>
#include <tree_sitter/api.h>

const TSLanguage *tree_sitter_python(void);
const TSLanguage *tree_sitter_c(void);

/*
 * The language's reserved words: never a name, where tree-sitter's keyword-to-word fallback
 * (error tolerance) would lex one as an identifier when the keyword does not fit (`else: pass`
 * after a function, `import import`). Python: keyword.kwlist (its soft keywords match, case,
 * type and _, and tree-sitter's Python 2 print and exec, stay names); C: C11's keywords.
 */
static const char *const python_reserved[] = {
    "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
    "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
    "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
    "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield",    NULL};
static const char *const c_reserved[] = {
    "auto",       "break",     "case",           "char",
    "const",      "continue",  "default",        "do",
    "double",     "else",      "enum",           "extern",
    "float",      "for",       "goto",           "if",
    "inline",     "int",       "long",           "register",
    "restrict",   "return",    "short",          "signed",
    "sizeof",     "static",    "struct",         "switch",
    "typedef",    "union",     "unsigned",       "void",
    "volatile",   "while",     "_Alignas",       "_Alignof",
    "_Atomic",    "_Bool",     "_Complex",       "_Generic",
    "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local",
    NULL};

typedef struct lang_entry {
    const char *name;
    const TSLanguage *(*fn)(void);
    const char *const *reserved;
} lang_entry;

static const lang_entry lang_table[] = {
    {"python", tree_sitter_python, python_reserved},
    {"c", tree_sitter_c, c_reserved},
};

static const char *const lang_names[] = {"python", "c", NULL};

/* Keyword exploration bounds: longer or more keywords than these mean a strange grammar. */
#define KEYWORD_LEN_MAX   40
#define KEYWORD_NODES_MAX 20000
#define KEYWORD_FOUND_MAX 512

const char *const *gram_lang_names(void)
{
    return lang_names;
}

uint16_t gram__table_lookup(const TSLanguage *ts, TSStateId state, TSSymbol symbol)
{
    if (state >= ts->large_state_count) {
        uint32_t index = ts->small_parse_table_map[state - ts->large_state_count];
        const uint16_t *data = &ts->small_parse_table[index];
        uint16_t n_groups = *data++;
        for (uint16_t i = 0; i < n_groups; i++) {
            uint16_t value = *data++;
            uint16_t n_symbols = *data++;
            for (uint16_t j = 0; j < n_symbols; j++) {
                if (data[j] == symbol) {
                    return value;
                }
            }
            data += n_symbols;
        }
        return 0;
    }
    return ts->parse_table[(size_t)state * ts->symbol_count + symbol];
}

const TSParseAction *gram__actions(const TSLanguage *ts, TSStateId state, TSSymbol symbol,
                                   uint32_t *n_out)
{
    uint16_t index = gram__table_lookup(ts, state, symbol);
    const TSParseActionEntry *entry = &ts->parse_actions[index];
    *n_out = entry->entry.count;
    return &entry[1].action;
}

/* Runs the keyword lex function over s; *live: every byte consumed; returns the keyword or 0. */
static TSSymbol keyword_probe(const TSLanguage *ts, const char *s, size_t len, bool *live)
{
    gram__lexer lexer;
    gram__lexer_init(&lexer, s, len, true);
    gram__lexer_reset(&lexer, 0);
    gram__lexer_start(&lexer);
    bool found = ts->keyword_lex_fn(&lexer.data, 0);
    gram__lexer_finish(&lexer);
    *live = lexer.reached_end;
    if (found && lexer.token_start == 0 && lexer.token_end == len) {
        return lexer.data.result_symbol;
    }
    return 0;
}

static int keywords_find(gram_lang *lang, core_err *err)
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    const TSLanguage *ts = lang->ts;
    const size_t stride = KEYWORD_LEN_MAX + 1;
    int rc = 0;
    char *nodes = NULL; /* (KEYWORD_NODES_MAX, stride) live prefixes in BFS order */
    gram__keyword found[KEYWORD_FOUND_MAX];
    size_t off[KEYWORD_FOUND_MAX];
    size_t n_found = 0;
    core_buf text = {0};

    if (!ts->keyword_lex_fn || ts->keyword_capture_token == 0) {
        return 0;
    }
    nodes = core_malloc(KEYWORD_NODES_MAX * stride);
    if (!nodes) {
        rc = core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for keywords", lang->name);
        goto done;
    }
    size_t n_nodes = 1;
    nodes[0] = '\0';
    for (size_t i = 0; i < n_nodes; i++) {
        const char *prefix = nodes + i * stride;
        size_t len = strlen(prefix);
        if (len + 1 > KEYWORD_LEN_MAX) {
            continue;
        }
        for (const char *a = alphabet; *a; a++) {
            char s[KEYWORD_LEN_MAX + 1];
            memcpy(s, prefix, len);
            s[len] = *a;
            s[len + 1] = '\0';
            bool live = false;
            TSSymbol symbol = keyword_probe(ts, s, len + 1, &live);
            if (symbol != 0) {
                if (n_found == KEYWORD_FOUND_MAX) {
                    rc = core_err_set(err, CORE_EUNSUPPORTED, "grammar %s: more than %d keywords",
                                      lang->name, KEYWORD_FOUND_MAX);
                    goto done;
                }
                off[n_found] = text.len;
                found[n_found].symbol = symbol;
                found[n_found].len = len + 1;
                if (core_buf_append(&text, s, len + 2) < 0) {
                    rc = core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for keywords",
                                      lang->name);
                    goto done;
                }
                n_found++;
            }
            if (live) {
                if (n_nodes == KEYWORD_NODES_MAX) {
                    rc =
                        core_err_set(err, CORE_EUNSUPPORTED,
                                     "grammar %s: keyword lexer has too many prefixes", lang->name);
                    goto done;
                }
                memcpy(nodes + n_nodes * stride, s, len + 2);
                n_nodes++;
            }
        }
    }
    lang->keywords = core_malloc(sizeof(*lang->keywords) * (n_found + 1));
    if (!lang->keywords) {
        rc = core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for keywords", lang->name);
        goto done;
    }
    for (size_t i = 0; i < n_found; i++) {
        lang->keywords[i] = found[i];
        lang->keywords[i].str = text.ptr + off[i];
    }
    lang->n_keywords = n_found;
    lang->keyword_text = text.ptr;
    text.ptr = NULL;

done:
    core_buf_dispose(&text);
    core_free(nodes);
    return rc;
}

int gram_lang_load(gram_lang **out, const char *name, core_err *err)
{
    int rc = 0;
    gram_lang *lang = NULL;
    const lang_entry *entry = NULL;

    *out = NULL;
    for (size_t i = 0; i < sizeof(lang_table) / sizeof(lang_table[0]); i++) {
        if (name && strcmp(lang_table[i].name, name) == 0) {
            entry = &lang_table[i];
        }
    }
    if (!entry) {
        return core_err_set(err, CORE_ENOTFOUND, "grammar %s: no such language (python, c)",
                            name ? name : "(null)");
    }
    const TSLanguage *ts = entry->fn();
    if (!ts || ts->version != TREE_SITTER_LANGUAGE_VERSION ||
        ts->version < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "grammar %s: ABI version %u, the runtime loads %u to %u", entry->name,
                            ts ? ts->version : 0, TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
                            TREE_SITTER_LANGUAGE_VERSION);
    }
    lang = core_calloc(1, sizeof(*lang));
    if (!lang) {
        return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory", entry->name);
    }
    lang->name = entry->name;
    lang->ts = ts;
    lang->indent = strcmp(entry->name, "python") == 0;
    lang->reserved = entry->reserved;
    rc = keywords_find(lang, err);
    if (rc < 0) {
        goto done;
    }
    *out = lang;
    lang = NULL;

done:
    gram_lang_free(lang);
    return rc;
}

void gram_lang_free(gram_lang *lang)
{
    if (!lang) {
        return;
    }
    core_free(lang->keywords);
    core_free(lang->keyword_text);
    core_free(lang);
}

bool gram__lang_is_reserved(const gram_lang *lang, const char *word, size_t len)
{
    for (const char *const *r = lang->reserved; r && *r; r++) {
        if (strlen(*r) == len && memcmp(*r, word, len) == 0) {
            return true;
        }
    }
    return false;
}

const char *gram_lang_name(const gram_lang *lang)
{
    return lang->name;
}

/* ------------------------------------------------------------------------------------------ */
/* Whole-text checks                                                                          */
/* ------------------------------------------------------------------------------------------ */

int gram_text_validate(core_str text, core_err *err)
{
    if (text.len > GRAM_TEXT_MAX) {
        return core_err_set(err, CORE_ELIMIT, "text of %zu bytes: larger than the %zu-byte limit",
                            text.len, GRAM_TEXT_MAX);
    }
    const unsigned char *s = (const unsigned char *)text.ptr;
    size_t i = 0;
    while (i < text.len) {
        unsigned char c = s[i];
        if (c == 0) {
            return core_err_set(err, CORE_EPARSE, "byte %zu: NUL byte (binary data?)", i);
        }
        size_t n = 0;
        uint32_t cp = 0;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
            n = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
            n = 4;
            cp = c & 0x07;
        } else {
            return core_err_set(err, CORE_EPARSE, "byte %zu: invalid UTF-8 (0x%02x)", i, c);
        }
        if (i + n > text.len) {
            return core_err_set(err, CORE_EPARSE, "byte %zu: truncated UTF-8 sequence", i);
        }
        for (size_t j = 1; j < n; j++) {
            if ((s[i + j] & 0xc0) != 0x80) {
                return core_err_set(err, CORE_EPARSE, "byte %zu: invalid UTF-8 continuation",
                                    i + j);
            }
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
            return core_err_set(err, CORE_EPARSE, "byte %zu: invalid UTF-8 code point", i);
        }
        i += n;
    }
    return 0;
}

/*
 * The innermost error of the first erroneous subtree: descends through the first child that
 * holds an error (a MISSING node or an ERROR), down to a node none of whose children does.
 */
static TSNode first_error(TSNode node)
{
    for (;;) {
        if (ts_node_is_missing(node)) {
            return node;
        }
        uint32_t n = ts_node_child_count(node);
        bool descended = false;
        for (uint32_t i = 0; i < n; i++) {
            TSNode child = ts_node_child(node, i);
            if (ts_node_is_missing(child) || ts_node_has_error(child)) {
                node = child;
                descended = true;
                break;
            }
        }
        if (!descended) {
            return node;
        }
    }
}

/* Fills the report's position from a byte offset. */
static void report_at(gram_source_report *out, core_str text, size_t byte, const char *what)
{
    out->ok = false;
    out->what = what;
    out->err_byte = byte;
    out->err_line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < byte && i < text.len; i++) {
        if (text.ptr[i] == '\n') {
            out->err_line++;
            line_start = i + 1;
        }
    }
    out->err_col = (uint32_t)(byte - line_start + 1);
}

/*
 * The first error as the incremental checker sees it: the start of the first piece after
 * which the text cannot be continued, or the end of the text when every piece passes but the
 * text is not complete. *found is false when the checker accepts the whole text.
 */
static int checker_error(size_t *byte, bool *found, const gram_lang *lang, core_str text,
                         core_err *err)
{
    size_t *ends = NULL;
    size_t n_ends = 0;
    gram_replay_report rep;
    *found = false;
    int rc = gram_text_split_words(text, &ends, &n_ends, err);
    if (rc == 0) {
        rc = gram_replay(&rep, lang, text, ends, n_ends, err);
    }
    if (rc == 0 && !rep.accepted) {
        *found = true;
        *byte = rep.rejected_byte != SIZE_MAX ? rep.rejected_byte : text.len;
    }
    core_free(ends);
    return rc;
}

int gram_source_check(gram_source_report *out, const gram_lang *lang, core_str text, core_err *err)
{
    int rc = 0;
    TSParser *parser = NULL;
    TSTree *tree = NULL;

    memset(out, 0, sizeof(*out));
    rc = gram_text_validate(text, err);
    if (rc < 0) {
        return rc;
    }
    parser = ts_parser_new();
    if (!parser) {
        return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for a parser", lang->name);
    }
    if (!ts_parser_set_language(parser, lang->ts)) {
        rc = core_err_set(err, CORE_ERROR, "grammar %s: the tree-sitter runtime refused it",
                          lang->name);
        goto done;
    }
    tree = ts_parser_parse_string(parser, NULL, text.ptr, (uint32_t)text.len);
    if (!tree) {
        rc = core_err_set(err, CORE_ERROR, "grammar %s: parse failed", lang->name);
        goto done;
    }
    TSNode root = ts_tree_root_node(tree);
    gram__indent indent;
    gram__indent_init(&indent);
    bool indent_ok = !lang->indent || (gram__indent_scan(&indent, text.ptr, text.len, 0) &&
                                       gram__indent_is_complete(&indent));
    out->ok = !ts_node_has_error(root) && indent_ok;
    if (out->ok) {
        goto done;
    }
    size_t byte = 0;
    bool found = false;
    rc = checker_error(&byte, &found, lang, text, err);
    if (rc < 0) {
        goto done;
    }
    if (!indent_ok) {
        size_t at = indent.failed ? indent.err_byte : text.len;
        if (!found || at <= byte) {
            report_at(out, text, at, indent.failed ? indent.why : "expected an indented block");
            goto done;
        }
    }
    if (found) {
        report_at(out, text, byte, byte < text.len ? "syntax error" : "unexpected end of input");
    } else {
        TSNode bad = first_error(root);
        report_at(out, text, ts_node_start_byte(bad),
                  ts_node_is_missing(bad) ? "missing token" : "syntax error");
    }

done:
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    return rc;
}
