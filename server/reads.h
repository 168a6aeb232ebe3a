/* reads.h - reads off the store thread: a pool of read-only store
 * connections.
 *
 * promise.get, task.get, schedule.get and the three searches
 * (engine_is_read) are answered on the HTTP thread that decoded them, from a
 * reader (core/store.h) taken from this pool for the one request, so they
 * never queue behind a write batch and never hold one up. Each answer comes
 * from a read transaction begun after the request arrived, which in WAL mode
 * sees every commit acknowledged before (engine_read, core/engine.h). The
 * few reads whose answer needs a write (a lazy timeout) go to the store
 * thread as before.
 *
 * Readers are opened lazily, one per thread reading at the same time (so at
 * most one per HTTP thread), and kept for reuse. A private in-memory database
 * (":memory:", `resonate dev` by default) is visible to its own connection
 * only: there is no pool then and every request goes to the store thread.
 * The shareable in-memory forms do not help: neither a shared-cache
 * database (file:x?mode=memory&cache=shared) nor the memdb VFS has WAL
 * (journal_mode stays "memory"), so a reader fails at once with "database
 * table is locked" (shared cache) or "database is locked" (memdb) while a
 * write batch is open, i.e. it would wait for the writer after all.
 *
 * Threads: reads_run from any number of threads at once; reads_stop and
 * reads_free from the main thread. */
#ifndef RESONATE_READS_H
#define RESONATE_READS_H

#include <stddef.h>

#include "core/engine.h"

typedef struct reads reads_t;

/* A pool over the database at path, which the store thread's connection has
 * already opened and migrated. Opens one reader at once, so a database that
 * readers cannot open fails the start. Returns NULL with the reason in err;
 * for ":memory:" NULL with err empty (no pool: reads go to the store
 * thread). */
reads_t *reads_new(const char *path, const engine_config_t *engine, char *err, size_t errlen);

/* A pool of PostgreSQL readers (store_postgres_open_reader) on url, at
 * most max_open of them at once (storage.postgres.pool_size; 0 = no
 * bound): a read arriving while all are in use goes to the store thread.
 * Opens one at once. NULL with the reason in err. A reader that fails
 * because the database is unreachable answers 503 and is replaced by a new
 * connection at the next read. */
reads_t *reads_new_postgres(const char *url, size_t max_open, const engine_config_t *engine,
                            char *err, size_t errlen);

/* Answers req (req->now set) into resp with a reader, allocating from a.
 * Returns 0 when resp holds the answer: engine_read's, or 503 naming the
 * cause when no reader could be opened, or 500 on a read error (the store
 * thread is unaffected either way). Returns ENGINE_READ_WRITER (resp left
 * empty) when the store thread must answer: not a read kind, a read needing
 * a write (see engine_read), the pool is stopped, or every reader it may
 * open is in use. */
int reads_run(reads_t *r, arena_t *a, const request_t *req, response_t *resp);

/* Counts the outbox's rows (resonate_outbox_depth) with a reader, so that
 * a count of every row never holds up the store thread (with a million
 * rows queued it reads them all: tens to hundreds of milliseconds). Returns
 * 0 with *n set; 1 when no reader is free (the pool is stopped, or every
 * reader it may open is in use); -1 when the count failed, the reason in
 * err. Thread-safe. */
int reads_outbox_count(reads_t *r, int64_t *n, char *err, size_t errlen);

/* Closes every idle reader; a reader in use is closed when its request ends.
 * From now on reads_run sends every request to the store thread. Call before
 * the store thread's final checkpoint and close, so that the writer is the
 * last connection to the file and removes its -wal. NULL is a no-op. */
void reads_stop(reads_t *r);

/* Frees r once no thread can call reads_run (after the HTTP daemon has
 * stopped); closes any reader left. NULL is a no-op. */
void reads_free(reads_t *r);

#endif
