/* cache.c - verified tokens, keyed by SHA-256 of the token.
 *
 * Workers send the same token with every request; caching the outcome of a
 * successful verification turns a signature check (tens of microseconds for
 * RSA) into a hash and a lookup. Only successes are stored, each stamped with
 * the generation (key set and revocation list) it was verified under, so a reload makes old entries
 * unreachable even if a verification that began before the reload stores its
 * result after it. The generation also changes when the revocation list is
 * reloaded, so no cached success outlives the list it was checked against. The table is
 * set-associative with a fixed size (bounded memory whatever tokens arrive) and its sets are spread
 * over a few mutexes so HTTP threads rarely wait for one another. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"

#define WAYS 4
#define STRIPES 32

typedef struct {
    bool used;
    unsigned char key[32];
    uint64_t gen;
    int64_t evict_at;
    auth_cached_t val;
} entry_t;

struct auth_cache {
    size_t n_sets;    /* power of two */
    entry_t *entries; /* n_sets * WAYS */
    pthread_mutex_t locks[STRIPES];
};

auth_cache_t *auth_cache_new(size_t capacity)
{
    auth_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->n_sets = 1;
    while (c->n_sets * WAYS < capacity)
        c->n_sets *= 2;
    c->entries = calloc(c->n_sets * WAYS, sizeof *c->entries);
    if (!c->entries) {
        free(c);
        return NULL;
    }
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    return c;
}

void auth_cache_free(auth_cache_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c->entries);
    free(c);
}

static size_t set_of(const auth_cache_t *c, const unsigned char key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof h); /* a SHA-256 prefix is already uniform */
    return (size_t)(h & (c->n_sets - 1));
}

bool auth_cache_get(auth_cache_t *c, const unsigned char key[32], uint64_t gen, int64_t now_s,
                    auth_cached_t *out)
{
    size_t set = set_of(c, key);
    entry_t *e = &c->entries[set * WAYS];
    bool found = false;
    pthread_mutex_lock(&c->locks[set % STRIPES]);
    for (int w = 0; w < WAYS; w++) {
        if (!e[w].used || memcmp(e[w].key, key, 32) != 0)
            continue;
        if (e[w].gen != gen || now_s >= e[w].evict_at) {
            e[w].used = false;
            continue;
        }
        *out = e[w].val;
        found = true;
        break;
    }
    pthread_mutex_unlock(&c->locks[set % STRIPES]);
    return found;
}

void auth_cache_put(auth_cache_t *c, const unsigned char key[32], uint64_t gen, int64_t evict_at,
                    const auth_cached_t *val)
{
    size_t set = set_of(c, key);
    entry_t *e = &c->entries[set * WAYS], *victim = NULL;
    pthread_mutex_lock(&c->locks[set % STRIPES]);
    for (int w = 0; w < WAYS && !victim; w++)
        if (e[w].used && memcmp(e[w].key, key, 32) == 0)
            victim = &e[w];
    for (int w = 0; w < WAYS && !victim; w++)
        if (!e[w].used || e[w].gen != gen)
            victim = &e[w];
    if (!victim) {
        victim = &e[0];
        for (int w = 1; w < WAYS; w++)
            if (e[w].evict_at < victim->evict_at)
                victim = &e[w];
    }
    victim->used = true;
    memcpy(victim->key, key, 32);
    victim->gen = gen;
    victim->evict_at = evict_at;
    victim->val = *val;
    pthread_mutex_unlock(&c->locks[set % STRIPES]);
}

void auth_cache_clear(auth_cache_t *c)
{
    for (size_t set = 0; set < c->n_sets; set++) {
        pthread_mutex_lock(&c->locks[set % STRIPES]);
        memset(&c->entries[set * WAYS], 0, WAYS * sizeof *c->entries);
        pthread_mutex_unlock(&c->locks[set % STRIPES]);
    }
}
