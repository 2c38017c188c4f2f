/*
 * kiln's C stub runtime, compiled inside the build box into both processes of a C run (the
 * sandbox embeds this file; it is not part of the library). With KILN_SIDE_TESTS it is the
 * tests' side: main() runs the tests' renamed main and writes the completion record "ok" on
 * fd 5 when it returns 0; kiln_call() sends a call on fd 4 and reads the answer on fd 3. Every
 * answer is checked to the byte (kiln_end); a candidate that dies, stops answering properly or
 * sends more or less than the call's types allow ends the tests with a record naming why
 * ("gone" or "proto") and exit status 1. With KILN_SIDE_CAND it is the candidate's side: main()
 * reads calls on fd 3, runs the generated kiln_dispatch and answers on fd 4; EOF on fd 3 ends
 * it. Frames are a 32-bit length and that many bytes; values are their bytes, strings and
 * arrays a 64-bit length (or all ones for NULL) and their bytes.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct kiln_msg {
    unsigned char *p;
    unsigned long len, cap, pos;
    int bad;
    const char *entry;
} kiln_msg;

enum { KILN_FRAME_MAX = 64 << 20 };
#define KILN_NULL UINT64_MAX

/* Declarations of what the generated stub calls (it declares them itself too). */
void kiln_put(kiln_msg *m, const void *src, unsigned long n);
void kiln_get(kiln_msg *m, void *dst, unsigned long n);
void kiln_put_bool(kiln_msg *m, int b);
int kiln_get_bool(kiln_msg *m);
void kiln_put_str(kiln_msg *m, const char *s);
char *kiln_get_str(kiln_msg *m);
unsigned long kiln_strsize(const char *s);
void kiln_put_arr(kiln_msg *m, const void *p, unsigned long elem, long long n);
void *kiln_get_arr(kiln_msg *m, unsigned long elem, unsigned long *n);
void kiln_put_back(kiln_msg *m, const void *p, unsigned long n);
void kiln_get_back(kiln_msg *m, void *p, unsigned long n);
void kiln_call(kiln_msg *q, kiln_msg *r);
void kiln_end(kiln_msg *q, kiln_msg *r);
void kiln_free(void *p);
int kiln_dispatch(kiln_msg *q, kiln_msg *r);

#ifdef KILN_SIDE_TESTS
/* Ends the tests: a record on fd 5 says why, a line on stderr says it to people. */
static void kiln_fail(const char *kind, const kiln_msg *m, const char *why)
{
    char line[512];
    const char *entry = m != NULL && m->entry != NULL ? m->entry : "?";
    int n = snprintf(line, sizeof line, "%s\t%s\t%s\n", kind, entry, why);
    if (n > 0) {
        (void)!write(5, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    fprintf(stderr, "kiln: call to %s: %s\n", entry, why);
    _exit(1);
}
#else
static void kiln_fail(const char *kind, const kiln_msg *m, const char *why)
{
    (void)kind;
    (void)m;
    (void)why;
    _exit(4);
}
#endif

void kiln_put(kiln_msg *m, const void *src, unsigned long n)
{
    if (n > KILN_FRAME_MAX || m->len > KILN_FRAME_MAX - n) {
        kiln_fail("big", m, "the values are larger than 64 MiB");
    }
    if (m->len + n > m->cap) {
        unsigned long cap = m->cap ? m->cap : 256;
        while (cap < m->len + n) {
            cap *= 2;
        }
        unsigned char *p = realloc(m->p, cap);
        if (p == NULL) {
            kiln_fail("big", m, "out of memory for the values");
        }
        m->p = p;
        m->cap = cap;
    }
    if (n > 0) {
        memcpy(m->p + m->len, src, n);
    }
    m->len += n;
}

void kiln_get(kiln_msg *m, void *dst, unsigned long n)
{
    if (m->bad || m->len - m->pos < n) {
        m->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, m->p + m->pos, n);
    m->pos += n;
}

static void put_u64(kiln_msg *m, uint64_t v)
{
    kiln_put(m, &v, sizeof v);
}

static uint64_t get_u64(kiln_msg *m)
{
    uint64_t v = 0;
    kiln_get(m, &v, sizeof v);
    return v;
}

void kiln_put_bool(kiln_msg *m, int b)
{
    unsigned char c = b ? 1 : 0;
    kiln_put(m, &c, 1);
}

int kiln_get_bool(kiln_msg *m)
{
    unsigned char c = 0;
    kiln_get(m, &c, 1);
    if (c > 1) {
        m->bad = 1;
    }
    return c == 1;
}

unsigned long kiln_strsize(const char *s)
{
    return s != NULL ? (unsigned long)strlen(s) + 1 : 0;
}

void kiln_put_str(kiln_msg *m, const char *s)
{
    if (s == NULL) {
        put_u64(m, KILN_NULL);
        return;
    }
    size_t n = strlen(s);
    put_u64(m, n);
    kiln_put(m, s, n);
}

/* A copy of the string in malloc'd memory, or NULL (sent as NULL, or malformed: m->bad). */
char *kiln_get_str(kiln_msg *m)
{
    uint64_t n = get_u64(m);
    if (m->bad || n == KILN_NULL) {
        return NULL;
    }
    if (n > m->len - m->pos || memchr(m->p + m->pos, 0, n) != NULL) {
        m->bad = 1;
        return NULL;
    }
    char *s = malloc(n + 1);
    if (s == NULL) {
        kiln_fail("big", m, "out of memory for a string");
        return NULL;
    }
    memcpy(s, m->p + m->pos, n);
    s[n] = '\0';
    m->pos += n;
    return s;
}

void kiln_put_arr(kiln_msg *m, const void *p, unsigned long elem, long long n)
{
    if (p == NULL) {
        put_u64(m, KILN_NULL);
        return;
    }
    if (n < 0 || (unsigned long long)n > KILN_FRAME_MAX / (elem ? elem : 1)) {
        kiln_fail("big", m, "an array is larger than 64 MiB");
    }
    put_u64(m, (uint64_t)n);
    kiln_put(m, p, (unsigned long)n * elem);
}

/* The array in malloc'd memory (at least one byte, so that a zero-length array is not NULL),
 * or NULL when sent as NULL; *n gets its length. */
void *kiln_get_arr(kiln_msg *m, unsigned long elem, unsigned long *n)
{
    uint64_t k = get_u64(m);
    *n = 0;
    if (m->bad || k == KILN_NULL) {
        return NULL;
    }
    if (elem == 0 || k > (m->len - m->pos) / elem) {
        m->bad = 1;
        return NULL;
    }
    void *p = malloc(k * elem + 1);
    if (p == NULL) {
        kiln_fail("big", m, "out of memory for an array");
        return NULL;
    }
    memcpy(p, m->p + m->pos, k * elem);
    m->pos += k * elem;
    *n = (unsigned long)k;
    return p;
}

void kiln_put_back(kiln_msg *m, const void *p, unsigned long n)
{
    if (p == NULL) {
        put_u64(m, KILN_NULL);
        return;
    }
    put_u64(m, n);
    kiln_put(m, p, n);
}

/* Copies an out-parameter back: exactly n bytes into p, which the call sent (NULL: none). */
void kiln_get_back(kiln_msg *m, void *p, unsigned long n)
{
    uint64_t k = get_u64(m);
    if (m->bad) {
        return;
    }
    if (p == NULL ? k != KILN_NULL : (k != n || n > m->len - m->pos)) {
        m->bad = 1;
        return;
    }
    if (p != NULL) {
        memcpy(p, m->p + m->pos, n);
        m->pos += n;
    }
}

void kiln_free(void *p)
{
    free(p);
}

#if defined(KILN_SIDE_TESTS) || defined(KILN_SIDE_CAND)
static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* 1: all n bytes; 0: EOF or an error first (the writer is gone, whatever it sent before). */
static int read_all(int fd, void *p, size_t n)
{
    unsigned char *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, b + got, n - got);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return 0;
        }
        got += (size_t)k;
    }
    return 1;
}

static int send_frame(int fd, const kiln_msg *m)
{
    uint32_t n = (uint32_t)m->len;
    if (write_all(fd, &n, sizeof n) < 0) {
        return -1;
    }
    return m->len > 0 ? write_all(fd, m->p, m->len) : 0;
}

/* 1: a frame; 0: EOF, also inside a frame; -1: an oversized frame or no memory for it. */
static int recv_frame(int fd, kiln_msg *m)
{
    uint32_t n = 0;
    int rc = read_all(fd, &n, sizeof n);
    if (rc <= 0) {
        return rc;
    }
    if (n > KILN_FRAME_MAX) {
        return -1;
    }
    m->p = malloc(n ? n : 1);
    if (m->p == NULL) {
        return -1;
    }
    m->len = m->cap = n;
    m->pos = 0;
    return n > 0 ? read_all(fd, m->p, n) : 1;
}
#endif

#ifdef KILN_SIDE_TESTS
void kiln_call(kiln_msg *q, kiln_msg *r)
{
    if (send_frame(4, q) < 0) {
        kiln_fail("gone", q, "the candidate's process is gone");
    }
    int rc = recv_frame(3, r);
    if (rc == 0) {
        kiln_fail("gone", q, "the candidate's process ended during the call");
    }
    if (rc < 0) {
        kiln_fail("proto", q, "the candidate's answer frame is larger than 64 MiB");
    }
}

void kiln_end(kiln_msg *q, kiln_msg *r)
{
    if (r->bad || r->pos != r->len) {
        kiln_fail("proto", r, "the candidate's answer does not match the entry's types");
    }
    free(q->p);
    free(r->p);
    q->p = r->p = NULL;
}

int kiln_tests_main(int argc, char **argv, char **envp);

int main(int argc, char **argv, char **envp)
{
    /* a write to a candidate that died must end in a record, not in SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    int rc = kiln_tests_main(argc, argv, envp);
    fflush(NULL);
    if (rc == 0) {
        (void)!write(5, "ok\n", 3);
    }
    return rc;
}
#endif

#ifdef KILN_SIDE_CAND
void kiln_call(kiln_msg *q, kiln_msg *r)
{
    (void)q;
    (void)r;
    _exit(4);
}

void kiln_end(kiln_msg *q, kiln_msg *r)
{
    (void)q;
    (void)r;
}

int main(void)
{
    for (;;) {
        kiln_msg q = {0};
        kiln_msg r = {0};
        int rc = recv_frame(3, &q);
        if (rc <= 0) {
            _exit(rc == 0 ? 0 : 3);
        }
        if (kiln_dispatch(&q, &r) < 0) {
            _exit(3);
        }
        /* the candidate's output reaches its pipes before the answer does */
        fflush(NULL);
        if (send_frame(4, &r) < 0) {
            _exit(0);
        }
        free(q.p);
        free(r.p);
    }
}
#endif
