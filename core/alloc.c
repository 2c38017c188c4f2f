/*
 * Allocator hooks: every heap allocation in kiln goes through here so that tests can count
 * allocations (the decode loop must make none) and fail the n-th one (out-of-memory paths must
 * return CORE_ENOMEM without leaking). The counters are the one piece of mutable static state
 * STYLE.md allows in core/; they are atomics so that worker threads may allocate freely.
 */
#include "core/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Countdown to the failing allocation; 0 = never fail. Set only by tests before threads start. */
static atomic_long fail_countdown;
/* Successful allocations since start, and allocations not yet freed (for leak checks). */
static atomic_long n_allocs;
static atomic_long n_live;

void core_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

long core_alloc_count(void)
{
    return atomic_load(&n_allocs);
}

long core_alloc_live(void)
{
    return atomic_load(&n_live);
}

static bool should_fail(void)
{
    long c = atomic_load(&fail_countdown);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1)) {
            return c == 1;
        }
    }
    return false;
}

static void *counted(void *p)
{
    if (p) {
        atomic_fetch_add(&n_allocs, 1);
        atomic_fetch_add(&n_live, 1);
    }
    return p;
}

void *core_malloc(size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return counted(malloc(size ? size : 1));
}

void *core_calloc(size_t n, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    if (n == 0 || size == 0) {
        n = 1;
        size = 1;
    }
    return counted(calloc(n, size));
}

void *core_realloc(void *ptr, size_t size)
{
    if (!ptr) {
        return core_malloc(size);
    }
    if (should_fail()) {
        return NULL;
    }
    void *p = realloc(ptr, size ? size : 1);
    if (p) {
        atomic_fetch_add(&n_allocs, 1);
    }
    return p;
}

void core_free(void *ptr)
{
    if (ptr) {
        atomic_fetch_sub(&n_live, 1);
        free(ptr);
    }
}

void *core_malloc_aligned(size_t size, size_t align)
{
    if (should_fail()) {
        return NULL;
    }
    size = (size + align - 1) / align * align;
    return counted(aligned_alloc(align, size ? size : align));
}

void core_free_aligned(void *ptr)
{
    core_free(ptr);
}

char *core_strndup(const char *s, size_t len)
{
    char *p = core_malloc(len + 1);
    if (p) {
        if (len) {
            memcpy(p, s, len);
        }
        p[len] = '\0';
    }
    return p;
}
