/*
 * core: status codes, the error struct, allocator hooks, arenas, string slices, growable
 * buffers, logging and the clock. Every other module depends on this one and on nothing else
 * of kiln's.
 */
#ifndef KILN_CORE_H
#define KILN_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------ */
/* Status codes                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* One table: name, value, description. Functions return 0 or one of these negatives. */
#define CORE_STATUS_TABLE(X)                                                                       \
    X(CORE_OK, 0, "success")                                                                       \
    X(CORE_ERROR, -1, "error")                                                                     \
    X(CORE_ENOMEM, -2, "out of memory")                                                            \
    X(CORE_EINVAL, -3, "invalid argument")                                                         \
    X(CORE_EPARSE, -4, "malformed input")                                                          \
    X(CORE_ENOTFOUND, -5, "not found")                                                             \
    X(CORE_ETIMEOUT, -6, "timed out")                                                              \
    X(CORE_ECANCELED, -7, "canceled")                                                              \
    X(CORE_EIO, -8, "input/output error")                                                          \
    X(CORE_EUNSUPPORTED, -9, "not supported")                                                      \
    X(CORE_ELIMIT, -10, "limit reached")

#define CORE_STATUS_ENUM_(name, value, text) name = (value),
typedef enum core_status { CORE_STATUS_TABLE(CORE_STATUS_ENUM_) } core_status;
#undef CORE_STATUS_ENUM_

/** Returns the code's symbolic name ("CORE_EPARSE"), or "CORE_UNKNOWN". Static storage. */
const char *core_status_name(int code);

/** Returns a short description of the code ("malformed input"). Static storage. */
const char *core_status_str(int code);

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                     */
/* ------------------------------------------------------------------------------------------ */

#define CORE_ERR_MSG_MAX 512

/** An error report: the code and a message. Callers own it, usually on the stack. */
typedef struct core_err {
    int code;                   /* last code set, 0 if none */
    char msg[CORE_ERR_MSG_MAX]; /* NUL-terminated, lowercase, no final period */
} core_err;

/** Clears err (code 0, empty message). err may be NULL. */
void core_err_clear(core_err *err);

/**
 * Records code and a printf-style message into err (which may be NULL) and returns code, so
 * that `return core_err_set(err, CORE_EPARSE, "...", ...)` reports and fails in one line.
 */
int core_err_set(core_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Like core_err_set, but prefixes the existing message with a context ("model x: ..."). */
int core_err_wrap(core_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Aborts with file, line and expression when x is false; active in every build. */
#define CORE_ASSERT(x) ((x) ? (void)0 : core_assert_fail(#x, __FILE__, __LINE__))

/* "Cannot happen, but handled": assert in debug builds, evaluate to the condition otherwise. */
#ifdef NDEBUG
#define CORE_ALWAYS(x) (x)
#define CORE_NEVER(x)  (x)
#else
#define CORE_ALWAYS(x) ((x) ? 1 : (core_assert_fail(#x, __FILE__, __LINE__), 0))
#define CORE_NEVER(x)  ((x) ? (core_assert_fail("!(" #x ")", __FILE__, __LINE__), 1) : 0)
#endif

#ifdef __cplusplus
#define CORE_NORETURN [[noreturn]]
#else
#define CORE_NORETURN _Noreturn
#endif

/** Prints "file:line: assertion failed: expr" to stderr and aborts. */
CORE_NORETURN void core_assert_fail(const char *expr, const char *file, int line);

/* ------------------------------------------------------------------------------------------ */
/* Allocation                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* All heap memory goes through these. They return NULL on failure (never abort). */
void *core_malloc(size_t size);
void *core_calloc(size_t n, size_t size);
void *core_realloc(void *ptr, size_t size);
void core_free(void *ptr);
/** Allocates size bytes aligned to align (a power of two >= sizeof(void *)); free with
 * core_free_aligned. */
void *core_malloc_aligned(size_t size, size_t align);
void core_free_aligned(void *ptr);
/** Returns a NUL-terminated copy of s, or NULL when out of memory. Caller frees with core_free. */
char *core_strndup(const char *s, size_t len);

/**
 * Test hooks. core_alloc_fail_after(n) makes the n-th allocation from now fail (n = 1: the next
 * one), and every later one succeed again; n = 0 turns failure off. core_alloc_count() returns
 * the number of successful allocations so far. Only tests call these, before threads start.
 */
void core_alloc_fail_after(long n);
long core_alloc_count(void);
/** Number of allocations made but not yet freed (a leak counter for tests). */
long core_alloc_live(void);

/* ------------------------------------------------------------------------------------------ */
/* String slices and buffers                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** A borrowed byte string, not necessarily NUL-terminated. */
typedef struct core_str {
    const char *ptr;
    size_t len;
} core_str;

/** Returns a slice over the NUL-terminated s (s may be NULL: empty slice). */
core_str core_str_c(const char *s);
bool core_str_eq(core_str a, core_str b);
bool core_str_eq_c(core_str a, const char *b);
bool core_str_has_prefix(core_str s, core_str prefix);

/** A growable byte buffer; always NUL-terminated when ptr is non-NULL. Owned by its holder. */
typedef struct core_buf {
    char *ptr;  /* owned, NULL until the first append */
    size_t len; /* bytes used, excluding the terminating NUL */
    size_t cap; /* bytes allocated */
} core_buf;

/** Ensures room for len + extra bytes plus the NUL. Returns 0 or CORE_ENOMEM (buf unchanged). */
int core_buf_reserve(core_buf *buf, size_t extra);
int core_buf_append(core_buf *buf, const void *data, size_t len);
int core_buf_appendf(core_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void core_buf_dispose(core_buf *buf);

/* ------------------------------------------------------------------------------------------ */
/* UTF-8 and JSON strings                                                                     */
/* ------------------------------------------------------------------------------------------ */

/**
 * The length (1..4) of the well-formed UTF-8 sequence that starts at s.ptr[i] (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF, not cut by the end of s), or 0 when the
 * bytes there are not one, or i >= s.len.
 */
size_t core_utf8_len(core_str s, size_t i);

/**
 * Appends s to buf as a JSON string, quotes included (RFC 8259 section 7): '"' and '\\' are
 * escaped, newline, tab and carriage return as \n \t \r, the other control characters and DEL
 * as \u00XX; bytes that are not well-formed UTF-8 (core_utf8_len) become \ufffd, one a byte, so
 * the output is always valid UTF-8 JSON. Returns 0 or CORE_ENOMEM (buf then holds a prefix).
 */
int core_buf_append_json(core_buf *buf, core_str s);

/* ------------------------------------------------------------------------------------------ */
/* Arena                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** A bump allocator for request-scoped memory. One thread at a time. */
typedef struct core_arena core_arena;

/** Creates an arena that grows in blocks of at least block_size bytes. CORE_ENOMEM. */
int core_arena_new(core_arena **out, size_t block_size, core_err *err);
/** Returns size bytes aligned to 16, or NULL when out of memory. Valid until reset or free. */
void *core_arena_alloc(core_arena *arena, size_t size);
/** Copies len bytes of s into the arena and NUL-terminates them; NULL when out of memory. */
char *core_arena_strndup(core_arena *arena, const char *s, size_t len);
/** Releases everything allocated from the arena but keeps its first block. */
void core_arena_reset(core_arena *arena);
void core_arena_free(core_arena *arena);

/* ------------------------------------------------------------------------------------------ */
/* Logging                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef enum core_log_level {
    CORE_LOG_LEVEL_DEBUG = 0,
    CORE_LOG_LEVEL_INFO = 1,
    CORE_LOG_LEVEL_WARN = 2,
    CORE_LOG_LEVEL_ERROR = 3,
} core_log_level;

/** A log sink: library code logs through one held in its context; fn may be NULL (silence). */
typedef struct core_log {
    void (*fn)(void *payload, core_log_level level, const char *msg);
    void *payload;
    core_log_level level_min; /* messages below this level are dropped before formatting */
} core_log;

/** Formats and sends a message to log (which may be NULL). */
void core_log_write(const core_log *log, core_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** Writes all len bytes of data to fd through short writes and EINTR. 0, or -1 with errno set
 * (EIO for a write that wrote nothing). Async-signal-safe. */
int core_write_full(int fd, const void *data, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Clock                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** Monotonic time in nanoseconds. */
uint64_t core_time_ns(void);

/** Cancellation: a long call polls fn(payload) and returns CORE_ECANCELED when it is true. */
typedef struct core_cancel {
    bool (*fn)(void *payload);
    void *payload;
} core_cancel;

/** True when cancel (which may be NULL) asks to stop. */
bool core_cancel_is_requested(const core_cancel *cancel);

#endif /* KILN_CORE_H */
