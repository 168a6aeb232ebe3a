/* arena.h - per-request memory pool.
 *
 * Every request owns one arena: the decoded request, its strings, the records
 * read from the store while serving it all live here and are released in one
 * place (arena_free) when the response has been sent. Nothing allocated from
 * an arena is freed individually. Allocation failure aborts the process: the
 * server cannot make progress without memory, and a partial state change is
 * impossible because the store transaction is still open. */
#ifndef RESONATE_ARENA_H
#define RESONATE_ARENA_H

#include <stddef.h>

typedef struct arena arena_t;

/* Returns a new empty arena; free it with arena_free. */
arena_t *arena_new(void);

/* Releases the arena and everything allocated from it. NULL is a no-op. */
void arena_free(arena_t *a);

/* Returns n zeroed bytes, aligned for any type, owned by the arena. */
void *arena_alloc(arena_t *a, size_t n);

/* Copies s (or its first n bytes) into the arena, NUL-terminated. NULL in,
 * NULL out. */
char *arena_strdup(arena_t *a, const char *s);
char *arena_strndup(arena_t *a, const char *s, size_t n);

/* printf into the arena. */
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Registers fn(ptr) to run when the arena is freed (last registered runs
 * first); for foreign objects such as parsed JSON documents. */
void arena_defer(arena_t *a, void (*fn)(void *), void *ptr);

/* Bytes handed out so far (for tests and metrics). */
size_t arena_used(const arena_t *a);

#endif
