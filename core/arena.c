/* arena.c - bump allocator over a chain of blocks; see arena.h.
 *
 * Memory layout: the first block is one malloc'd chunk of ARENA_FIRST bytes
 * holding the arena's header, then the block's header, then its data. Later
 * blocks of ARENA_BLOCK bytes of data join the chain `head` (newest first,
 * the first block last); an allocation larger than ARENA_BLOCK gets a block
 * of its own in the chain `big`, so the current block's free space is not
 * wasted and arena_release can return it early. A freed arena's first
 * chunk goes to the freeing thread's cache (at most ARENA_CACHE chunks, a
 * pthread key's destructor frees them when the thread exits), where the
 * next arena_new on that thread finds it. */
#include "core/arena.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An AddressSanitizer build keeps no cache (cache_put). */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif

#define ARENA_BLOCK 4096 /* data bytes of a later block */
#define ARENA_FIRST 8192 /* bytes of the first chunk, headers included */
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
    block_t *head; /* current block first; the first block last */
    block_t *big;  /* blocks of one large allocation each */
    deferred_t *deferred;
    size_t total;
};

/* Where the first block starts in the first chunk, and its data bytes. */
#define FIRST_OFFSET ((sizeof(arena_t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))
#define FIRST_DATA (ARENA_FIRST - FIRST_OFFSET - sizeof(block_t))

_Static_assert(ARENA_FIRST > FIRST_OFFSET + sizeof(block_t) + ARENA_ALIGN,
               "the first chunk must hold its headers and some data");

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("resonate: out of memory\n", stderr);
        abort();
    }
    return p;
}

static block_t *first_block(arena_t *a)
{
    return (block_t *)((unsigned char *)a + FIRST_OFFSET);
}

/* ---- the per-thread cache of first chunks ---------------------------------- */

typedef struct {
    void *chunk[ARENA_CACHE];
    int n;
    bool keyed; /* cache_key is set on this thread: its destructor will drain */
    bool gone;  /* drained at thread exit: cache nothing more */
} cache_t;

static _Thread_local cache_t cache;
static pthread_key_t cache_key;
static bool cache_key_ok;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

/* Thread exit (cache_key's destructor): frees the thread's chunks. */
static void cache_drain(void *p)
{
    cache_t *c = p;
    while (c->n > 0) {
        void *chunk = c->chunk[--c->n];
        free(chunk);
    }
    c->gone = true;
}

static void cache_init(void)
{
    cache_key_ok = pthread_key_create(&cache_key, cache_drain) == 0;
}

/* Keeps chunk for this thread's next arena_new, or frees it when the cache
 * is full (or cannot be drained at thread exit). Under AddressSanitizer it
 * is always freed: the next arena_new would take the same chunk back at
 * once, and a late use of the freed arena (a request context, say) would
 * land unreported in the next request's; free() puts it in ASan's
 * quarantine instead, where such a use is reported. */
static void cache_put(void *chunk)
{
    cache_t *c = &cache;
    if (arena_caching() && c->n < ARENA_CACHE && !c->gone) {
        if (!c->keyed) {
            pthread_once(&cache_once, cache_init);
            c->keyed = cache_key_ok && pthread_setspecific(cache_key, c) == 0;
        }
        if (c->keyed) {
            c->chunk[c->n++] = chunk;
            return;
        }
    }
    free(chunk);
}

bool arena_caching(void)
{
#ifdef ARENA_ASAN
    return false;
#else
    return true;
#endif
}

int arena_cached(void)
{
    return cache.n;
}

/* ---- arenas ------------------------------------------------------------------ */

arena_t *arena_new(void)
{
    arena_t *a;
    if (cache.n > 0) {
        a = cache.chunk[--cache.n];
    } else {
        a = xmalloc(ARENA_FIRST);
    }
    block_t *b = first_block(a);
    b->next = NULL;
    b->size = FIRST_DATA;
    b->used = 0;
    a->head = b;
    a->big = NULL;
    a->deferred = NULL;
    a->total = 0;
    return a;
}

static void free_chain(block_t *b, const block_t *stop)
{
    while (b != stop) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
}

void arena_free(arena_t *a)
{
    if (!a)
        return;
    for (deferred_t *d = a->deferred; d; d = d->next)
        d->fn(d->ptr);
    free_chain(a->big, NULL);
    free_chain(a->head, first_block(a));
    cache_put(a);
}

void *arena_alloc_raw(arena_t *a, size_t n)
{
    if (n > SIZE_MAX / 2) {
        fputs("resonate: out of memory\n", stderr);
        abort();
    }
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    block_t *b = a->head;
    if (b->size - b->used < need) {
        if (need > ARENA_BLOCK) {
            b = xmalloc(sizeof(block_t) + need);
            b->size = b->used = need;
            b->next = a->big;
            a->big = b;
            a->total += n;
            return b->data;
        }
        b = xmalloc(sizeof(block_t) + ARENA_BLOCK);
        b->size = ARENA_BLOCK;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += n;
    return p;
}

void *arena_alloc(arena_t *a, size_t n)
{
    void *p = arena_alloc_raw(a, n);
    memset(p, 0, n);
    return p;
}

bool arena_release(arena_t *a, void *p)
{
    for (block_t **pb = &a->big; *pb; pb = &(*pb)->next) {
        block_t *b = *pb;
        if ((void *)b->data == p) {
            *pb = b->next;
            free(b);
            return true;
        }
    }
    return false;
}

static bool in_block(const block_t *b, const void *p)
{
    uintptr_t x = (uintptr_t)p, lo = (uintptr_t)b->data;
    return x >= lo && x < lo + b->used;
}

bool arena_owns(const arena_t *a, const void *p)
{
    for (const block_t *b = a->head; b; b = b->next)
        if (in_block(b, p))
            return true;
    for (const block_t *b = a->big; b; b = b->next)
        if (in_block(b, p))
            return true;
    return false;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = arena_alloc_raw(a, n + 1);
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
    char *p = arena_alloc_raw(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t arena_used(const arena_t *a)
{
    return a->total;
}

size_t arena_held(const arena_t *a)
{
    size_t n = ARENA_FIRST;
    for (const block_t *b = a->head; b->next; b = b->next)
        n += sizeof(block_t) + b->size;
    for (const block_t *b = a->big; b; b = b->next)
        n += sizeof(block_t) + b->size;
    return n;
}

void arena_defer(arena_t *a, void (*fn)(void *), void *ptr)
{
    deferred_t *d = arena_alloc_raw(a, sizeof *d);
    d->fn = fn;
    d->ptr = ptr;
    d->next = a->deferred;
    a->deferred = d;
}
