/*
 * The lexer tree-sitter's generated lex functions and external scanners run against
 * (struct TSLexer of the ABI-14 parser.h), reimplemented over one contiguous text that may
 * still grow. It follows the runtime's lib/src/lexer.c: UTF-8 decoding with a decode error of
 * -1 for invalid bytes, `skip` moving the token start, `mark_end` fixing the token end, an
 * unmarked end falling back to the current position, a byte-order mark skipped at offset 0,
 * and columns counted in characters. What it adds is hit_end: whether the lex function looked
 * at the end of a text that is not final, so that its answer may still change.
 */
#include "grammar/gram_int.h"

#include <string.h>

/* Decodes the character at lexer->pos into data.lookahead and la_size. */
static void fetch_lookahead(gram__lexer *lexer)
{
    if (lexer->pos >= lexer->len) {
        lexer->data.lookahead = 0;
        lexer->la_size = 0;
        lexer->reached_end = true;
        if (!lexer->final) {
            lexer->hit_end = true;
        }
        return;
    }
    const unsigned char *s = (const unsigned char *)lexer->text + lexer->pos;
    size_t avail = lexer->len - lexer->pos;
    unsigned char c = s[0];
    size_t n = 0;
    int32_t cp = 0;
    if (c < 0x80) {
        lexer->data.lookahead = c;
        lexer->la_size = 1;
        return;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        lexer->data.lookahead = -1;
        lexer->la_size = 1;
        return;
    }
    for (size_t i = 1; i < n; i++) {
        if (i >= avail) {
            /* A character split across pieces: what it is depends on bytes not yet fed. */
            if (!lexer->final) {
                lexer->hit_end = true;
            }
            lexer->data.lookahead = -1;
            lexer->la_size = i;
            return;
        }
        if ((s[i] & 0xc0) != 0x80) {
            lexer->data.lookahead = -1;
            lexer->la_size = i;
            return;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    lexer->data.lookahead = cp;
    lexer->la_size = n;
}

static void lex_advance(TSLexer *data, bool skip)
{
    gram__lexer *lexer = (gram__lexer *)data;
    if (lexer->pos >= lexer->len) {
        return;
    }
    lexer->pos += lexer->la_size;
    if (skip) {
        lexer->token_start = lexer->pos;
    }
    fetch_lookahead(lexer);
}

static void lex_mark_end(TSLexer *data)
{
    gram__lexer *lexer = (gram__lexer *)data;
    lexer->token_end = lexer->pos;
}

static uint32_t lex_get_column(TSLexer *data)
{
    gram__lexer *lexer = (gram__lexer *)data;
    size_t i = lexer->pos;
    uint32_t column = 0;
    while (i > 0 && lexer->text[i - 1] != '\n') {
        i--;
        /* count characters: skip UTF-8 continuation bytes */
        if (((unsigned char)lexer->text[i] & 0xc0) != 0x80) {
            column++;
        }
    }
    return column;
}

static bool lex_is_at_included_range_start(const TSLexer *data)
{
    (void)data;
    return false;
}

static bool lex_eof(const TSLexer *data)
{
    gram__lexer *lexer = (gram__lexer *)data;
    if (lexer->pos >= lexer->len) {
        lexer->reached_end = true;
        if (!lexer->final) {
            lexer->hit_end = true;
            return false;
        }
        return true;
    }
    return false;
}

static void lex_log(const TSLexer *data, const char *fmt, ...)
{
    (void)data;
    (void)fmt;
}

void gram__lexer_init(gram__lexer *lexer, const char *text, size_t len, bool final)
{
    memset(lexer, 0, sizeof(*lexer));
    lexer->data.advance = lex_advance;
    lexer->data.mark_end = lex_mark_end;
    lexer->data.get_column = lex_get_column;
    lexer->data.is_at_included_range_start = lex_is_at_included_range_start;
    lexer->data.eof = lex_eof;
    lexer->data.log = lex_log;
    lexer->text = text;
    lexer->len = len;
    lexer->final = final;
    lexer->token_end = SIZE_MAX;
}

void gram__lexer_reset(gram__lexer *lexer, size_t pos)
{
    lexer->pos = pos;
    lexer->token_start = pos;
    lexer->token_end = SIZE_MAX;
    lexer->hit_end = false;
    lexer->reached_end = false;
}

void gram__lexer_start(gram__lexer *lexer)
{
    lexer->token_start = lexer->pos;
    lexer->token_end = SIZE_MAX;
    lexer->data.result_symbol = 0;
    fetch_lookahead(lexer);
    if (lexer->pos == 0 && lexer->data.lookahead == 0xfeff) {
        lex_advance(&lexer->data, true);
    }
}

void gram__lexer_finish(gram__lexer *lexer)
{
    if (lexer->token_end == SIZE_MAX) {
        lexer->token_end = lexer->pos;
    }
    if (lexer->token_end < lexer->token_start) {
        lexer->token_start = lexer->token_end;
    }
}
