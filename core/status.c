/*
 * Status codes and error reports: the one table of codes in core.h expanded into name and
 * description lookups, and the core_err writer that every failing function calls once.
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *core_status_name(int code)
{
#define CORE_STATUS_NAME_(name, value, text)                                                       \
    if (code == (value)) {                                                                         \
        return #name;                                                                              \
    }
    CORE_STATUS_TABLE(CORE_STATUS_NAME_)
#undef CORE_STATUS_NAME_
    return "CORE_UNKNOWN";
}

const char *core_status_str(int code)
{
#define CORE_STATUS_STR_(name, value, text)                                                        \
    if (code == (value)) {                                                                         \
        return text;                                                                               \
    }
    CORE_STATUS_TABLE(CORE_STATUS_STR_)
#undef CORE_STATUS_STR_
    return "unknown status";
}

void core_err_clear(core_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

int core_err_set(core_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int core_err_wrap(core_err *err, int code, const char *fmt, ...)
{
    if (err) {
        char prefix[CORE_ERR_MSG_MAX];
        char old[CORE_ERR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        err->code = code;
        size_t n = strlen(prefix);
        const char *rest = old[0] ? old : core_status_str(code);
        /* Assemble by hand: snprintf("%s: %s") trips -Wformat-truncation on fixed buffers. */
        size_t i = 0;
        for (size_t j = 0; j < n && i + 1 < sizeof(err->msg); j++) {
            err->msg[i++] = prefix[j];
        }
        for (const char *p = ": "; *p && i + 1 < sizeof(err->msg); p++) {
            err->msg[i++] = *p;
        }
        for (const char *p = rest; *p && i + 1 < sizeof(err->msg); p++) {
            err->msg[i++] = *p;
        }
        err->msg[i] = '\0';
    }
    return code;
}

CORE_NORETURN void core_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
