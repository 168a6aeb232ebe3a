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
#include "store/postgres.h"
#include "store/sqlite.h"

struct reads {
    char *path; /* SQLite file or PostgreSQL URL */
    store_t *(*open)(const char *path, char *err, size_t errlen);
    size_t max_open; /* 0 = no bound */
    engine_config_t engine;
    pthread_mutex_t mu; /* guards everything below */
    store_t **idle;     /* readers not in use */
    size_t n_idle, cap;
    size_t n_open; /* readers open, idle or in use */
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
    if (st)
        r->n_open--;
    pthread_mutex_unlock(&r->mu);
    if (st)
        store_close(st);
}

/* Closes a reader that is not given back. */
static void drop_reader(reads_t *r, store_t *st)
{
    pthread_mutex_lock(&r->mu);
    r->n_open--;
    pthread_mutex_unlock(&r->mu);
    store_close(st);
}

/* An idle reader, or a new one; NULL with *stopped set when the pool is
 * stopped or every reader allowed is in use (the store thread answers
 * then), or NULL with the reason in err when none could be opened. */
static store_t *take_reader(reads_t *r, bool *stopped, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->mu);
    *stopped = r->stopped;
    store_t *st = !r->stopped && r->n_idle ? r->idle[--r->n_idle] : NULL;
    bool full = !st && !*stopped && r->max_open && r->n_open >= r->max_open;
    if (!st && !*stopped && !full)
        r->n_open++; /* counted before it opens: the bound holds meanwhile */
    pthread_mutex_unlock(&r->mu);
    if (full)
        *stopped = true;
    if (st || *stopped)
        return st;
    st = r->open(r->path, err, errlen);
    if (!st) {
        pthread_mutex_lock(&r->mu);
        r->n_open--;
        pthread_mutex_unlock(&r->mu);
    }
    return st;
}

static reads_t *pool_new(const char *path, store_t *(*open)(const char *, char *, size_t),
                         size_t max_open, const engine_config_t *engine, char *err, size_t errlen)
{
    reads_t *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        free(r);
        return NULL;
    }
    r->open = open;
    r->max_open = max_open;
    r->engine = *engine;
    pthread_mutex_init(&r->mu, NULL);
    store_t *st = open(path, err, errlen);
    if (!st) {
        reads_free(r);
        return NULL;
    }
    r->n_open = 1;
    put_reader(r, st);
    return r;
}

reads_t *reads_new(const char *path, const engine_config_t *engine, char *err, size_t errlen)
{
    err[0] = '\0';
    if (strcmp(path, ":memory:") == 0)
        return NULL;
    return pool_new(path, store_sqlite_open_reader, 0, engine, err, errlen);
}

reads_t *reads_new_postgres(const char *url, size_t max_open, const engine_config_t *engine,
                            char *err, size_t errlen)
{
    err[0] = '\0';
    return pool_new(url, store_postgres_open_reader, max_open, engine, err, errlen);
}

/* Closes every idle reader, taking the idle array under the lock and
 * closing outside it: after a reader found the database gone (the others'
 * connections are as dead), and at reads_stop. */
static void drop_idle(reads_t *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->n_idle;
    store_t **idle = r->idle;
    r->idle = NULL;
    r->n_idle = r->cap = 0;
    r->n_open -= n;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n; i++)
        store_close(idle[i]);
    free(idle);
}

int reads_run(reads_t *r, arena_t *a, const request_t *req, response_t *resp)
{
    if (!engine_is_read(req->op))
        return ENGINE_READ_WRITER;
    /* A second try, on a new connection, when the first reader's
     * connection turned out dead (a database restart leaves every idle
     * reader so). */
    for (int attempt = 0;; attempt++) {
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
        if (rc >= 0) {
            put_reader(r, st);
            return rc;
        }
        /* A reader that failed once is not trusted again. */
        bool down = store_fault(st) == STORE_FAULT_DOWN;
        if (down && attempt == 0) {
            drop_reader(r, st);
            drop_idle(r);
            response_clear(resp);
            continue;
        }
        log_error("read failed: %s", store_errmsg(st));
        if (down) {
            response_clear(resp);
            response_error(resp, 503, "Service unavailable: %s", store_errmsg(st));
        }
        drop_reader(r, st);
        return 0;
    }
}

int reads_outbox_count(reads_t *r, int64_t *n, char *err, size_t errlen)
{
    /* A second try on a new connection, as reads_run: after a database
     * restart every idle reader is dead. */
    for (int attempt = 0;; attempt++) {
        bool stopped;
        store_t *st = take_reader(r, &stopped, err, errlen);
        if (!st)
            return stopped ? 1 : -1;
        if (store_outbox_count(st, n) == STORE_OK) {
            put_reader(r, st);
            return 0;
        }
        snprintf(err, errlen, "%s", store_errmsg(st));
        bool down = store_fault(st) == STORE_FAULT_DOWN;
        drop_reader(r, st);
        if (!down || attempt > 0)
            return -1;
        drop_idle(r);
    }
}

void reads_stop(reads_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopped = true;
    pthread_mutex_unlock(&r->mu);
    /* The idle array is taken under the lock (drop_idle): an HTTP thread
     * whose reader found the database down may be dropping it right now. */
    drop_idle(r);
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
