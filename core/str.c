/*
 * String slices and growable NUL-terminated byte buffers. Buffers grow geometrically and are
 * left unchanged when an append fails, so a caller can report CORE_ENOMEM and still free them.
 */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

core_str core_str_c(const char *s)
{
    core_str r = {s ? s : "", s ? strlen(s) : 0};
    return r;
}

bool core_str_eq(core_str a, core_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool core_str_eq_c(core_str a, const char *b)
{
    return core_str_eq(a, core_str_c(b));
}

bool core_str_has_prefix(core_str s, core_str prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

int core_buf_reserve(core_buf *buf, size_t extra)
{
    if (extra > SIZE_MAX / 2 - buf->len) {
        return CORE_ENOMEM;
    }
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap) {
        return 0;
    }
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    char *p = core_realloc(buf->ptr, cap);
    if (!p) {
        return CORE_ENOMEM;
    }
    if (!buf->ptr) {
        p[0] = '\0';
    }
    buf->ptr = p;
    buf->cap = cap;
    return 0;
}

int core_buf_append(core_buf *buf, const void *data, size_t len)
{
    int rc = core_buf_reserve(buf, len);
    if (rc < 0) {
        return rc;
    }
    if (len) {
        memcpy(buf->ptr + buf->len, data, len);
    }
    buf->len += len;
    buf->ptr[buf->len] = '\0';
    return 0;
}

int core_buf_appendf(core_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    int rc = n < 0 ? CORE_ERROR : core_buf_reserve(buf, (size_t)n);
    if (rc == 0) {
        vsnprintf(buf->ptr + buf->len, (size_t)n + 1, fmt, ap2);
        buf->len += (size_t)n;
    }
    va_end(ap2);
    return rc;
}

void core_buf_dispose(core_buf *buf)
{
    if (buf) {
        core_free(buf->ptr);
        buf->ptr = NULL;
        buf->len = 0;
        buf->cap = 0;
    }
}
