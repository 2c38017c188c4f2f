/*
 * Private declarations of the grammar module: the loaded language (tree-sitter's TSLanguage
 * tables plus the keyword strings kiln extracts from them), the parse-table lookups, and the
 * lexer that runs the grammar's generated lex functions and external scanner over a text that
 * may still grow.
 */
#ifndef KILN_GRAM_INT_H
#define KILN_GRAM_INT_H

#include "grammar/gram.h"

#include "tree_sitter/parser.h"

/* Largest external scanner state, as tree-sitter's runtime allows. */
#define GRAM__SCAN_MAX TREE_SITTER_SERIALIZATION_BUFFER_SIZE

/* A keyword: a string the grammar's keyword lexer turns into its own token. */
typedef struct gram__keyword {
    const char *str; /* owned by the language's keyword block, NUL-terminated */
    size_t len;
    TSSymbol symbol;
} gram__keyword;

struct gram_lang {
    const char *name;        /* static storage */
    const TSLanguage *ts;    /* the grammar's tables, static storage */
    gram__keyword *keywords; /* (n_keywords), owned */
    size_t n_keywords;
    char *keyword_text;          /* the keywords' strings, owned */
    bool indent;                 /* Python: the indentation rules of indent.c apply too */
    const char *const *reserved; /* words that are never names, NULL-terminated; static */
};

/* Whether word[0..len) is one of the language's reserved words (never an identifier). */
bool gram__lang_is_reserved(const gram_lang *lang, const char *word, size_t len);

/* ---- parse table ---- */

/* The table value for (state, symbol): an action index for terminals, a state for others. */
uint16_t gram__table_lookup(const TSLanguage *ts, TSStateId state, TSSymbol symbol);

/* The actions for a terminal in state; *n_out is 0 when there are none. */
const TSParseAction *gram__actions(const TSLanguage *ts, TSStateId state, TSSymbol symbol,
                                   uint32_t *n_out);

/* ---- lexer ---- */

/*
 * A TSLexer over a byte range of a text that may still grow. When `final` is false, the end
 * of the text is not the end of the input: hit_end then records that the lex function looked
 * at the end, so its answer may change once more text arrives.
 */
typedef struct gram__lexer {
    TSLexer data;       /* first member: the generated code gets &data */
    const char *text;   /* borrowed */
    size_t len;         /* bytes of text */
    bool final;         /* len is the end of the input */
    size_t pos;         /* byte offset of the lookahead character */
    size_t la_size;     /* bytes of the lookahead character (0 at the end) */
    size_t token_start; /* byte offset */
    size_t token_end;   /* byte offset, SIZE_MAX until mark_end */
    bool hit_end;       /* the lookahead reached len while !final */
    bool reached_end;   /* the lookahead reached len (final or not) */
} gram__lexer;

/* Prepares lexer over text[0..len) with the next token at pos. */
void gram__lexer_init(gram__lexer *lexer, const char *text, size_t len, bool final);
void gram__lexer_reset(gram__lexer *lexer, size_t pos);
/* Starts a token at the current position (tree-sitter's ts_lexer_start). */
void gram__lexer_start(gram__lexer *lexer);
/* Ends a token: an unmarked end becomes the current position (ts_lexer_finish). */
void gram__lexer_finish(gram__lexer *lexer);

/* ---- Python's indentation (indent.c) ---- */

/* Indentation levels CPython allows (its tokenizer's MAXINDENT). */
#define GRAM__INDENT_MAX 100
/* Bracket depths whose expressions indent.c follows (0: the logical line; deeper: unchecked). */
#define GRAM__INDENT_NEST 32

/*
 * The indentation scanner's state: a plain value, copied to try a piece and saved in
 * snapshots. Columns count tabs to the next multiple of 8 (col) and as one (alt).
 */
typedef struct gram__indent {
    uint8_t mode;      /* where the scanner is (indent.c) */
    char quote;        /* the open string's quote */
    uint8_t n_quotes;  /* quotes seen in a row (opening or closing) */
    bool triple;       /* the open string is triple-quoted */
    bool escaped;      /* the previous string byte was a backslash */
    bool joined;       /* the previous code byte was a backslash */
    bool blank_line;   /* the comment being skipped started its line */
    bool header;       /* the logical line's last token so far is `:` */
    bool dangling;     /* its last token so far is an operator that needs a right operand */
    bool want_block;   /* a header ended: the next logical line must indent */
    bool failed;       /* a violation was found (at err_byte) */
    bool as_ok;        /* the logical line has had with, except, import or case */
    bool line_first;   /* no word or punctuation of the logical line yet (a statement's
                          keyword comes first) */
    char word[8];      /* the word of code being read (its first bytes) */
    uint8_t n_word;    /* its length so far (saturates) */
    size_t word_start; /* byte offset of its first byte */
    uint32_t depth;    /* open brackets */
    uint32_t col, alt; /* indentation of the line being measured */
    uint32_t n_levels; /* >= 1; levels[0] is 0 */
    uint32_t levels[GRAM__INDENT_MAX];
    uint32_t alts[GRAM__INDENT_MAX];
    uint8_t nest[GRAM__INDENT_NEST]; /* per bracket depth: what its expression has had (indent.c) */
    size_t err_byte;                 /* byte offset of the violation; SIZE_MAX: none */
    const char *why;                 /* static text naming the violation */
} gram__indent;

void gram__indent_init(gram__indent *in);
/*
 * Scans text[0..len), which starts at byte base of the whole text. Returns false at the first
 * violation (then in->failed, err_byte and why tell where and what; later calls return false).
 */
bool gram__indent_scan(gram__indent *in, const char *text, size_t len, size_t base);
/* Whether a text may end here: no violation, no header waiting for its block, no open string. */
bool gram__indent_is_complete(const gram__indent *in);

#endif
