/*
 * UTF-8 validation and JSON string escaping, the one copy every module uses: sandbox reports,
 * pipeline results, the command line's --json output. Validation follows RFC 3629 section 4's
 * table of well-formed byte sequences (the lead byte's range narrows the second byte's for
 * E0, ED, F0 and F4); escaping follows RFC 8259 section 7, and since JSON text must be UTF-8
 * (section 8.1), a byte that does not start a well-formed sequence becomes U+FFFD.
 */
#include "core/core.h"

size_t core_utf8_len(core_str s, size_t i)
{
    if (i >= s.len) {
        return 0;
    }
    const unsigned char *p = (const unsigned char *)s.ptr + i;
    size_t room = s.len - i;
    unsigned char c = p[0];
    if (c < 0x80) {
        return 1;
    }
    size_t n = 0;
    unsigned char lo = 0x80; /* the second byte's range */
    unsigned char hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80; /* E0 80..9F would be overlong */
        hi = c == 0xed ? 0x9f : 0xbf; /* ED A0..BF would be a surrogate */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80; /* F0 80..8F would be overlong */
        hi = c == 0xf4 ? 0x8f : 0xbf; /* F4 90.. would be above U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
    }
    if (n > room || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t k = 2; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return n;
}

int core_buf_append_json(core_buf *buf, core_str s)
{
    if (core_buf_append(buf, "\"", 1) < 0) {
        return CORE_ENOMEM;
    }
    size_t i = 0;
    while (i < s.len) {
        unsigned char ch = (unsigned char)s.ptr[i];
        int rc = 0;
        size_t used = 1;
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            rc = core_buf_append(buf, esc, 2);
        } else if (ch == '\n') {
            rc = core_buf_append(buf, "\\n", 2);
        } else if (ch == '\t') {
            rc = core_buf_append(buf, "\\t", 2);
        } else if (ch == '\r') {
            rc = core_buf_append(buf, "\\r", 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            rc = core_buf_appendf(buf, "\\u%04x", ch);
        } else {
            /* Plain ASCII runs and whole UTF-8 sequences are copied as they are. */
            used = core_utf8_len(s, i);
            rc = used ? core_buf_append(buf, s.ptr + i, used) : core_buf_append(buf, "\\ufffd", 6);
            used = used ? used : 1;
        }
        if (rc < 0) {
            return CORE_ENOMEM;
        }
        i += used;
    }
    return core_buf_append(buf, "\"", 1) < 0 ? CORE_ENOMEM : 0;
}
