/* arena.h - per-request memory pool.
 *
 * Every request owns one arena: the decoded request, its strings, the records
 * read from the store while serving it all live here and are released in one
 * place (arena_free) when the response has been sent. Nothing allocated from
 * an arena is freed individually (but see arena_release). Allocation failure
 * aborts the process: the server cannot make progress without memory, and a
 * partial state change is impossible because the store transaction is still
 * open.
 *
 * Threads: an arena is used by one thread at a time (handing it to another
 * thread, as the HTTP threads do to the store thread, must order the two,
 * e.g. through a queue under a mutex), and may be freed on any thread. The
 * arena's header lives in its first block, and each thread keeps up to
 * ARENA_CACHE freed first blocks for its next arena_new (given back to the
 * system when the thread exits), so a request costs no malloc for its arena
 * unless it outgrows the first block. */
#ifndef RESONATE_ARENA_H
#define RESONATE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct arena arena_t;

/* First blocks a thread keeps for reuse (8 KiB each). An HTTP thread with
 * dozens of requests in flight frees their arenas in bursts, as the store
 * thread answers a batch, then makes as many again: under wrk with 32
 * connections a thread, a cache of 8 served half of the arena_new calls,
 * one of 32 nearly all. */
#define ARENA_CACHE 32

/* Returns a new empty arena; free it with arena_free. */
arena_t *arena_new(void);

/* Releases the arena and everything allocated from it. NULL is a no-op. */
void arena_free(arena_t *a);

/* Returns n zeroed bytes, aligned for any type, owned by the arena. */
void *arena_alloc(arena_t *a, size_t n);

/* As arena_alloc, not zeroed. */
void *arena_alloc_raw(arena_t *a, size_t n);

/* Gives back p, which a handed out: an allocation larger than a block (it
 * has a block of its own) is returned to the system at once, any other
 * stays until arena_free. Returns true then; false, touching nothing, when
 * p is no such large allocation of a (it may still be a smaller one of a:
 * callers that may hold foreign pointers must know which they hold). For
 * foreign allocators running on an arena (wire_json_load_arena) that free
 * what they outgrow. */
bool arena_release(arena_t *a, void *p);

/* True when p points into memory a handed out and still holds. Walks a's
 * blocks: for tests and assertions, not for hot paths. */
bool arena_owns(const arena_t *a, const void *p);

/* Copies s (or its first n bytes) into the arena, NUL-terminated. NULL in,
 * NULL out. */
char *arena_strdup(arena_t *a, const char *s);
char *arena_strndup(arena_t *a, const char *s, size_t n);

/* printf into the arena. */
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Registers fn(ptr) to run when the arena is freed (last registered runs
 * first); for foreign objects kept on the heap. */
void arena_defer(arena_t *a, void (*fn)(void *), void *ptr);

/* Bytes handed out so far (for tests and metrics); never decreases, not
 * even by arena_release. */
size_t arena_used(const arena_t *a);

/* Bytes of memory the arena holds now, its headers included (for tests). */
size_t arena_held(const arena_t *a);

/* The calling thread's cache of first blocks, for tests: how many it holds
 * now. */
int arena_cached(void);

/* False in an AddressSanitizer build, where freed first blocks go back to
 * malloc at once (ASan's quarantine then reports a use after arena_free)
 * and arena_cached() stays 0. */
bool arena_caching(void);

#endif
