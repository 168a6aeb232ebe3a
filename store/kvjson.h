/* kvjson.h - tags and headers as canonical JSON text, for store backends.
 *
 * A kvmap_t is stored as a compact JSON object of string values with sorted
 * keys, byte-identical to wire_dump(wire_kvmap(m)). The store's hot paths
 * (every promise create and read) encode and decode these maps, so this
 * codec works on a reusable buffer and the caller's arena instead of
 * building jansson objects: no malloc per call once the buffer has grown. */
#ifndef RESONATE_KVJSON_H
#define RESONATE_KVJSON_H

#include <stddef.h>

#include "core/arena.h"
#include "core/types.h"

/* A growable byte buffer; owned by whoever embeds it, released with
 * kvbuf_free. Zero-initialised is empty. */
typedef struct {
    char *p;
    size_t len;
    size_t cap;
} kvbuf_t;

void kvbuf_free(kvbuf_t *b);

/* Appends m as a JSON object to b (no NUL terminator; the text occupies
 * b->p[start .. b->len) where start is b->len before the call). m must be
 * sorted by key with unique keys (the kvmap_t invariant). Returns 0, or -1
 * when memory runs out (b is unchanged then). */
int kvjson_encode(kvbuf_t *b, const kvmap_t *m);

/* Parses text[0..len), a JSON object whose values are all strings, into m,
 * allocating from a; keys come out sorted. Returns 0, or -1 when the text is
 * not such an object, a string holds a NUL, or a key repeats. */
int kvjson_decode(arena_t *a, const char *text, size_t len, kvmap_t *m);

#endif
