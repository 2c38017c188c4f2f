/*
 * A bump arena for request-scoped memory: a linked list of blocks, allocations 16-byte
 * aligned, released all at once. Large requests get a block of their own.
 */
#include "core/core.h"

#include <string.h>

typedef struct arena_block {
    struct arena_block *next;
    size_t cap;  /* usable bytes after the header */
    size_t used; /* bytes handed out */
    /* data follows, 16-byte aligned */
} arena_block;

struct core_arena {
    arena_block *head; /* current block; the first block is last in the list */
    size_t block_size;
};

#define ARENA_HDR ((sizeof(arena_block) + 15) & ~(size_t)15)

static arena_block *block_new(size_t cap)
{
    arena_block *b = core_malloc(ARENA_HDR + cap);
    if (b) {
        b->next = NULL;
        b->cap = cap;
        b->used = 0;
    }
    return b;
}

int core_arena_new(core_arena **out, size_t block_size, core_err *err)
{
    *out = NULL;
    core_arena *a = core_malloc(sizeof(*a));
    if (!a) {
        return core_err_set(err, CORE_ENOMEM, "arena: out of memory");
    }
    a->block_size = block_size < 256 ? 256 : block_size;
    a->head = block_new(a->block_size);
    if (!a->head) {
        core_free(a);
        return core_err_set(err, CORE_ENOMEM, "arena: out of memory");
    }
    *out = a;
    return 0;
}

void *core_arena_alloc(core_arena *arena, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    arena_block *b = arena->head;
    if (b->cap - b->used < size) {
        size_t cap = size > arena->block_size ? size : arena->block_size;
        arena_block *nb = block_new(cap);
        if (!nb) {
            return NULL;
        }
        nb->next = b;
        arena->head = nb;
        b = nb;
    }
    void *p = (char *)b + ARENA_HDR + b->used;
    b->used += size;
    return p;
}

char *core_arena_strndup(core_arena *arena, const char *s, size_t len)
{
    char *p = core_arena_alloc(arena, len + 1);
    if (p) {
        if (len) {
            memcpy(p, s, len);
        }
        p[len] = '\0';
    }
    return p;
}

void core_arena_reset(core_arena *arena)
{
    while (arena->head->next) {
        arena_block *next = arena->head->next;
        core_free(arena->head);
        arena->head = next;
    }
    arena->head->used = 0;
}

void core_arena_free(core_arena *arena)
{
    if (!arena) {
        return;
    }
    arena_block *b = arena->head;
    while (b) {
        arena_block *next = b->next;
        core_free(b);
        b = next;
    }
    core_free(arena);
}
