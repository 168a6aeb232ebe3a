/* reads.c - the pool of read-only store connections; see reads.h.
 *
 * The pool is a stack of idle readers under one mutex, held only to push or
 * pop: a request takes a reader, runs engine_read on it with no lock held,
 * and gives it back. A reader is owned by the thread that took it until it
 * is given back, so each store_t is used by one thread at a time
 * (core/store.h). */
#include "server/reads.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "store/sqlite.h"

struct reads {
    char *path;
    engine_config_t engine;
    pthread_mutex_t mu; /* guards everything below */
    store_t **idle;     /* readers not in use */
    size_t n_idle, cap;
    bool stopped;
};

/* Gives st back to the pool, or closes it once the pool is stopped or
 * cannot hold it. */
static void put_reader(reads_t *r, store_t *st)
{
    pthread_mutex_lock(&r->mu);
    if (!r->stopped && r->n_idle == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        store_t **idle = realloc(r->idle, cap * sizeof *idle);
        if (idle) {
            r->idle = idle;
            r->cap = cap;
        }
    }
    if (!r->stopped && r->n_idle < r->cap) {
        r->idle[r->n_idle++] = st;
        st = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    if (st)
        store_close(st);
}

/* An idle reader, or a new one; NULL with *stopped set when the pool is
 * stopped, or NULL with the reason in err when none could be opened. */
static store_t *take_reader(reads_t *r, bool *stopped, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->mu);
    *stopped = r->stopped;
    store_t *st = !r->stopped && r->n_idle ? r->idle[--r->n_idle] : NULL;
    pthread_mutex_unlock(&r->mu);
    if (st || *stopped)
        return st;
    return store_sqlite_open_reader(r->path, err, errlen);
}

reads_t *reads_new(const char *path, const engine_config_t *engine, char *err, size_t errlen)
{
    err[0] = '\0';
    if (strcmp(path, ":memory:") == 0)
        return NULL;
    reads_t *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        free(r);
        return NULL;
    }
    r->engine = *engine;
    pthread_mutex_init(&r->mu, NULL);
    store_t *st = store_sqlite_open_reader(path, err, errlen);
    if (!st) {
        reads_free(r);
        return NULL;
    }
    put_reader(r, st);
    return r;
}

int reads_run(reads_t *r, arena_t *a, const request_t *req, response_t *resp)
{
    if (!engine_is_read(req->op))
        return ENGINE_READ_WRITER;
    char err[512];
    bool stopped;
    store_t *st = take_reader(r, &stopped, err, sizeof err);
    if (stopped)
        return ENGINE_READ_WRITER;
    if (!st) {
        log_error("read refused: %s", err);
        response_error(resp, 503, "Service unavailable: no read connection: %s", err);
        return 0;
    }
    int rc = engine_read(&r->engine, st, a, req, resp);
    if (rc < 0) {
        /* A reader that failed once is not trusted again. */
        log_error("read failed: %s", store_errmsg(st));
        store_close(st);
        return 0;
    }
    put_reader(r, st);
    return rc;
}

void reads_stop(reads_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopped = true;
    size_t n = r->n_idle;
    r->n_idle = 0;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n; i++)
        store_close(r->idle[i]);
}

void reads_free(reads_t *r)
{
    if (!r)
        return;
    reads_stop(r);
    pthread_mutex_destroy(&r->mu);
    free(r->idle);
    free(r->path);
    free(r);
}
