/* arena.c - bump allocator over a chain of blocks; see arena.h. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 4096
#define ARENA_ALIGN 16

typedef struct block {
    struct block *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} block_t;

typedef struct deferred {
    struct deferred *next;
    void (*fn)(void *);
    void *ptr;
} deferred_t;

struct arena {
    block_t *head;
    deferred_t *deferred;
    size_t total;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("resonate: out of memory\n", stderr);
        abort();
    }
    return p;
}

arena_t *arena_new(void)
{
    arena_t *a = xmalloc(sizeof *a);
    a->head = NULL;
    a->deferred = NULL;
    a->total = 0;
    return a;
}

void arena_free(arena_t *a)
{
    if (!a)
        return;
    for (deferred_t *d = a->deferred; d; d = d->next)
        d->fn(d->ptr);
    block_t *b = a->head;
    while (b) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *arena_alloc(arena_t *a, size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    block_t *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        b = xmalloc(sizeof(block_t) + size);
        b->size = size;
        b->used = 0;
        /* A big one-off allocation goes behind the current block so the
         * current block's free space is not wasted. */
        if (a->head && need > ARENA_BLOCK) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return arena_strdup(a, "");
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t arena_used(const arena_t *a)
{
    return a->total;
}

void arena_defer(arena_t *a, void (*fn)(void *), void *ptr)
{
    deferred_t *d = arena_alloc(a, sizeof *d);
    d->fn = fn;
    d->ptr = ptr;
    d->next = a->deferred;
    a->deferred = d;
}
