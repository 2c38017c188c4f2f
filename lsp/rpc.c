/*
 * The base protocol's framing (LSP 3.17, "Base Protocol"): a header block of `Name: value`
 * lines ended by an empty line (\r\n\r\n), then Content-Length bytes of body. The reader keeps
 * one buffer with a read position; a body is handed out as a slice of it, so the buffer is
 * compacted only at the next call. Header names compare case-insensitively; a header block
 * without a valid Content-Length, or longer than LSP_HEADER_MAX, is dropped with an error and
 * reading resumes after it. A body over the limit is counted down as bytes arrive and never
 * stored.
 */
#include "lsp/lsp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef enum reader_state {
    READER_HEADER = 0, /* reading a header block */
    READER_BODY = 1,   /* waiting for n_body bytes */
    READER_SKIP = 2,   /* dropping n_body bytes of an oversized body */
} reader_state;

struct lsp_reader {
    core_buf buf;  /* bytes received, owned; [pos, buf.len) not yet taken */
    size_t pos;    /* read position in buf */
    size_t n_body; /* READER_BODY/SKIP: bytes of the body (still to drop, for SKIP) */
    size_t body_max;
    reader_state state;
};

int lsp_reader_new(lsp_reader **out, size_t body_max, core_err *err)
{
    *out = core_calloc(1, sizeof(**out));
    if (!*out) {
        return core_err_set(err, CORE_ENOMEM, "lsp: out of memory for the reader");
    }
    (*out)->body_max = body_max;
    return 0;
}

void lsp_reader_free(lsp_reader *reader)
{
    if (!reader) {
        return;
    }
    core_buf_dispose(&reader->buf);
    core_free(reader);
}

size_t lsp_reader_n_buffered(const lsp_reader *reader)
{
    return reader->buf.len - reader->pos;
}

/* Drops the taken bytes at the front of the buffer. */
static void compact(lsp_reader *r)
{
    if (r->pos == 0) {
        return;
    }
    size_t n = r->buf.len - r->pos;
    if (n > 0) {
        memmove(r->buf.ptr, r->buf.ptr + r->pos, n);
    }
    r->buf.len = n;
    r->buf.ptr[n] = '\0';
    r->pos = 0;
}

int lsp_reader_feed(lsp_reader *reader, const void *data, size_t len, core_err *err)
{
    compact(reader);
    if (reader->state == READER_SKIP) {
        size_t drop = len < reader->n_body ? len : reader->n_body;
        reader->n_body -= drop;
        data = (const char *)data + drop;
        len -= drop;
        if (reader->n_body == 0) {
            reader->state = READER_HEADER;
        }
    }
    if (len > 0 && core_buf_append(&reader->buf, data, len) < 0) {
        return core_err_set(err, CORE_ENOMEM, "lsp: out of memory for %zu bytes of input", len);
    }
    return 0;
}

/* Finds "\r\n\r\n" in [p, p + n); returns the offset after it, or 0. */
static size_t header_end(const char *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
            return i + 4;
        }
    }
    return 0;
}

/* Parses a header block (without its final empty line): sets *length from Content-Length. */
static int header_parse(const char *p, size_t n, size_t *length, core_err *err)
{
    bool have = false;
    size_t i = 0;
    while (i < n) {
        size_t eol = i;
        while (eol + 1 < n && !(p[eol] == '\r' && p[eol + 1] == '\n')) {
            eol++;
        }
        if (eol + 1 >= n) {
            eol = n;
        }
        const char *colon = memchr(p + i, ':', eol - i);
        if (!colon) {
            return core_err_set(err, CORE_EPARSE, "lsp: header line without ':' at byte %zu", i);
        }
        size_t name_len = (size_t)(colon - (p + i));
        static const char cl[] = "Content-Length";
        if (name_len == sizeof(cl) - 1 && strncasecmp(p + i, cl, name_len) == 0) {
            size_t v = (size_t)(colon - p) + 1;
            while (v < eol && (p[v] == ' ' || p[v] == '\t')) {
                v++;
            }
            size_t value = 0;
            size_t digits = 0;
            while (v < eol && p[v] >= '0' && p[v] <= '9') {
                if (value > (SIZE_MAX - 9) / 10) {
                    return core_err_set(err, CORE_EPARSE, "lsp: Content-Length overflows");
                }
                value = value * 10 + (size_t)(p[v] - '0');
                v++;
                digits++;
            }
            while (v < eol && (p[v] == ' ' || p[v] == '\t')) {
                v++;
            }
            if (digits == 0 || v != eol) {
                return core_err_set(err, CORE_EPARSE, "lsp: Content-Length is not a number");
            }
            *length = value;
            have = true;
        }
        i = eol + 2;
    }
    if (!have) {
        return core_err_set(err, CORE_EPARSE, "lsp: header without Content-Length");
    }
    return 0;
}

int lsp_reader_next(lsp_reader *reader, core_str *body, core_err *err)
{
    lsp_reader *r = reader;
    compact(r);
    if (r->state == READER_SKIP) {
        size_t avail = r->buf.len - r->pos;
        size_t drop = avail < r->n_body ? avail : r->n_body;
        r->pos += drop;
        r->n_body -= drop;
        if (r->n_body > 0) {
            return 0;
        }
        r->state = READER_HEADER;
    }
    if (r->state == READER_HEADER) {
        size_t avail = r->buf.len - r->pos;
        if (avail == 0) {
            return 0;
        }
        const char *p = r->buf.ptr + r->pos;
        size_t end = header_end(p, avail);
        if (end == 0) {
            if (avail > LSP_HEADER_MAX) {
                /* No end of header in sight: drop all but a possible start of "\r\n\r\n". */
                r->pos += avail - 3;
                return core_err_set(err, CORE_EPARSE, "lsp: header block over %zu bytes",
                                    LSP_HEADER_MAX);
            }
            return 0;
        }
        size_t length = 0;
        int rc = header_parse(p, end - 4, &length, err);
        r->pos += end;
        if (rc < 0) {
            return rc;
        }
        r->n_body = length;
        if (length > r->body_max) {
            r->state = READER_SKIP;
            return core_err_set(err, CORE_ELIMIT, "lsp: body of %zu bytes over the limit of %zu",
                                length, r->body_max);
        }
        r->state = READER_BODY;
    }
    if (r->buf.len - r->pos < r->n_body) {
        return 0;
    }
    body->ptr = r->buf.ptr ? r->buf.ptr + r->pos : "";
    body->len = r->n_body;
    r->pos += r->n_body;
    r->state = READER_HEADER;
    return 1;
}

int lsp_frame_append(core_buf *out, core_str body, core_err *err)
{
    if (core_buf_appendf(out, "Content-Length: %zu\r\n\r\n", body.len) < 0 ||
        core_buf_append(out, body.ptr, body.len) < 0) {
        return core_err_set(err, CORE_ENOMEM, "lsp: out of memory for a message");
    }
    return 0;
}
