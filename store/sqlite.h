/* sqlite.h - the SQLite adapter of the storage port (core/store.h).
 *
 * One database file (or a private in-memory database) in WAL mode with
 * synchronous=FULL, its schema migrated by PRAGMA user_version. The store_t
 * it returns is used through the store_*() wrappers of core/store.h, by one
 * thread at a time. Read-only connections to the same file (readers) serve
 * reads on other threads. */
#ifndef RESONATE_STORE_SQLITE_H
#define RESONATE_STORE_SQLITE_H

#include <stddef.h>

#include "core/store.h"

/* Current schema version written by this build. */
#define STORE_SCHEMA_VERSION 6

/* A search call stops after rejecting this many candidate rows, i.e. where
 * no single index serves the whole filter: a promise search by several
 * filters (state and tags, each indexed, intersected), a schedule search by
 * tags (not indexed). The page then ends early with a cursor to continue
 * (core/store.h). A search by one filter only rejects nothing. */
#define STORE_SEARCH_SCAN_MAX 2000

/* store_ping fails when the database's file system has less free space
 * than this (twice the default largest request body). */
#define STORE_MIN_FREE_BYTES (4u << 20)

/* Opens (creating if needed) the SQLite database at path (":memory:" for a
 * private in-memory database), applies pragmas (WAL, synchronous=FULL),
 * migrates the schema to the current version and proves the file takes a
 * write (one committed write of the readiness row). Returns NULL and writes
 * the reason to err on failure, naming what to fix when the file or its
 * directory is not writable (SQLite would otherwise open such a file
 * read-only without a word). Close with store_close(st).
 *
 * store_check compares the open file (and its -wal) with what is now at
 * path (one stat each, SQLITE_FCNTL_HAS_MOVED), so a file deleted or
 * replaced under the server is noticed before a write is lost; store_ping
 * adds that check, a writable-file check, a free-space check
 * (STORE_MIN_FREE_BYTES) and a real write. */
store_t *store_sqlite_open(const char *path, char *err, size_t errlen);

/* Opens a read-only connection (a reader) to the database at path, which
 * store_sqlite_open must already have opened and migrated. A reader
 * supports only begin (a read transaction: BEGIN DEFERRED, its snapshot
 * taken at the first read), commit, rollback, close and the reads
 * promise_get, promise_search, task_get, task_search, schedule_get and
 * schedule_search; any write fails with STORE_ERR. Like every store_t it is
 * used by one thread at a time, but readers and the writer may run at once
 * on different threads: in WAL mode a read transaction sees exactly the
 * commits that completed before it began, and neither blocks the other.
 * ":memory:" has no readers (a private in-memory database is visible to its
 * own connection only): NULL with that reason. Returns NULL with the reason
 * in err on failure. */
store_t *store_sqlite_open_reader(const char *path, char *err, size_t errlen);

#endif
