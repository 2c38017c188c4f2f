/*
 * Documents are kept in UTF-8; LSP positions are (line, character) where character counts
 * UTF-16 code units unless the client and server agreed on UTF-8 (LSP 3.17,
 * "positionEncoding"). A character of four UTF-8 bytes is two UTF-16 units (a surrogate pair);
 * one of two or three bytes is one unit. Positions that point past a line, past the document
 * or into the middle of a character are clamped, as the specification asks of servers.
 */
#include "lsp/lsp.h"

#include <string.h>

const char *lsp_encoding_name(lsp_encoding enc)
{
    return enc == LSP_ENCODING_UTF8 ? "utf-8" : "utf-16";
}

/* Length in bytes of the UTF-8 sequence starting at p[0] (1 for an invalid byte), and its
   UTF-16 length in *units. */
static size_t char_len(const unsigned char *p, size_t n, size_t *units)
{
    *units = 1;
    unsigned char b = p[0];
    size_t len = b < 0x80             ? 1
                 : (b & 0xE0) == 0xC0 ? 2
                 : (b & 0xF0) == 0xE0 ? 3
                 : (b & 0xF8) == 0xF0 ? 4
                                      : 1;
    if (len > n) {
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 1;
        }
    }
    if (len == 4) {
        *units = 2;
    }
    return len;
}

/* Byte offset of the start of line (clamped: text.len past the last line). */
static size_t line_start(core_str text, uint32_t line)
{
    size_t at = 0;
    for (uint32_t l = 0; l < line; l++) {
        while (at < text.len && text.ptr[at] != '\n' && text.ptr[at] != '\r') {
            at++;
        }
        if (at >= text.len) {
            return text.len;
        }
        if (text.ptr[at] == '\r' && at + 1 < text.len && text.ptr[at + 1] == '\n') {
            at++;
        }
        at++;
    }
    return at;
}

size_t lsp_text_offset(core_str text, lsp_encoding enc, uint32_t line, uint32_t character)
{
    size_t at = line_start(text, line);
    const unsigned char *p = (const unsigned char *)text.ptr;
    size_t col = 0;
    while (at < text.len && col < character && p[at] != '\n' && p[at] != '\r') {
        size_t units = 1;
        size_t len = char_len(p + at, text.len - at, &units);
        size_t step = enc == LSP_ENCODING_UTF8 ? len : units;
        if (col + step > character) {
            break; /* inside this character: its start */
        }
        col += step;
        at += len;
    }
    return at;
}

void lsp_text_position(core_str text, lsp_encoding enc, size_t offset, uint32_t *line,
                       uint32_t *character)
{
    if (offset > text.len) {
        offset = text.len;
    }
    const unsigned char *p = (const unsigned char *)text.ptr;
    uint32_t l = 0;
    size_t start = 0;
    for (size_t i = 0; i < offset; i++) {
        if (p[i] == '\n' || (p[i] == '\r' && (i + 1 >= text.len || p[i + 1] != '\n'))) {
            l++;
            start = i + 1;
        }
    }
    uint32_t col = 0;
    size_t at = start;
    while (at < offset) {
        size_t units = 1;
        size_t len = char_len(p + at, text.len - at, &units);
        if (at + len > offset) {
            break;
        }
        col += (uint32_t)(enc == LSP_ENCODING_UTF8 ? len : units);
        at += len;
    }
    *line = l;
    *character = col;
}

int lsp_text_replace(core_buf *text, size_t start, size_t end, core_str repl, core_err *err)
{
    end = end < text->len ? end : text->len;
    start = start < end ? start : end;
    size_t removed = end - start;
    if (repl.len > removed && core_buf_reserve(text, repl.len - removed) < 0) {
        return core_err_set(err, CORE_ENOMEM, "lsp: out of memory for an edit of %zu bytes",
                            repl.len);
    }
    if (text->len == 0 && repl.len == 0) {
        return 0;
    }
    memmove(text->ptr + start + repl.len, text->ptr + end, text->len - end);
    if (repl.len > 0) {
        memcpy(text->ptr + start, repl.ptr, repl.len);
    }
    text->len = text->len - removed + repl.len;
    text->ptr[text->len] = '\0';
    return 0;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

bool lsp_uri_path(char *out, size_t cap, const char *uri)
{
    static const char scheme[] = "file://";
    if (!uri || cap == 0 || strncmp(uri, scheme, sizeof(scheme) - 1) != 0) {
        return false;
    }
    const char *p = uri + sizeof(scheme) - 1;
    if (strncmp(p, "localhost/", 10) == 0) {
        p += 9; /* file://localhost/x is file:///x */
    }
    if (*p != '/') {
        return false; /* another host's file */
    }
    size_t n = 0;
    for (; *p && *p != '?' && *p != '#'; p++) {
        char ch = *p;
        if (ch == '%') {
            int hi = hex_value(p[1]);
            int lo = hi >= 0 ? hex_value(p[2]) : -1;
            if (lo < 0) {
                return false;
            }
            ch = (char)(hi * 16 + lo);
            p += 2;
        }
        if (ch == '\0' || n + 1 >= cap) {
            return false; /* a NUL inside the path, or too long */
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    return true;
}
