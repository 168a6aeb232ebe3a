/* postgres.h - the PostgreSQL adapter of the storage port (core/store.h),
 * through libpq, for any number of servers on one database.
 *
 * The writer (store_postgres_open) is one connection, used by the store
 * thread: READ COMMITTED transactions, every read-for-write inside one
 * (promise_get, task_get, schedule_get) locks its row (SELECT ... FOR
 * UPDATE), so two servers changing the same promise or task take turns and
 * the second sees the first's commit. A race lost on a key that did not
 * exist yet (two creates of one id) fails with a unique violation; that,
 * deadlocks and lock waits past PG_LOCK_TIMEOUT_MS fail with
 * STORE_FAULT_CONFLICT, and the caller runs the whole transaction again
 * (nothing of it was answered). docs/postgres.md explains the scheme.
 *
 * The schema is versioned in the table resonate_schema and migrated at open
 * under a transaction-level advisory lock, so servers starting together
 * apply each step once. Background work runs on the server holding a
 * session-level advisory lock on its writer connection (store_leader);
 * outbox rows are claimed with a lease (outbox_claim); a commit that queued
 * messages sends NOTIFY resonate_outbox, which store_watch's listener
 * connection (a thread of this adapter) turns into a wake-up.
 *
 * Failures: when the connection is lost, calls fail with STORE_FAULT_DOWN
 * and store_check reconnects (one attempt per call, bounded by
 * PG_CONNECT_TIMEOUT_S), so the server answers 503 meanwhile and recovers
 * by itself. */
#ifndef RESONATE_STORE_POSTGRES_H
#define RESONATE_STORE_POSTGRES_H

#include <stddef.h>

#include "core/store.h"

/* Current schema version written by this build. */
#define PG_SCHEMA_VERSION 4

/* Rows a promise or schedule search examines at most per call before it
 * answers a cursor (core/store.h, promise_search; the same bound as
 * store/sqlite.h's STORE_SEARCH_SCAN_MAX). */
#define PG_SEARCH_SCAN_MAX 2000

/* A statement waiting longer than this for a row lock fails (conflict). */
#define PG_LOCK_TIMEOUT_MS 5000

/* Seconds a connection attempt may take (unless the URL says otherwise). */
#define PG_CONNECT_TIMEOUT_S 5

/* Seconds after which either end gives up a peer that stopped answering
 * without closing the connection (its host crashed or was cut off): TCP
 * keepalives probe an idle connection (idle 4 s, then 3 probes 2 s apart)
 * and a write unacknowledged this long fails (TCP_USER_TIMEOUT), set on
 * both ends (the client's unless the URL says otherwise). On the
 * database's end this ends a dead leader's session, which frees the leader
 * lock for another server; on ours a call fails with STORE_FAULT_DOWN (503)
 * instead of hanging. The kernel's defaults would take two hours (idle) or
 * about 15 minutes (unacknowledged data). */
#define PG_DEAD_PEER_S 10

/* Opens the writer on the database at url (a postgres:// URL or libpq
 * key=value words), migrates the schema and proves a write. Returns NULL
 * with the reason (libpq's, and what to fix) in err. */
store_t *store_postgres_open(const char *url, char *err, size_t errlen);

/* Opens a reader (core/store.h): its own connection; begin starts a
 * REPEATABLE READ READ ONLY transaction, whose snapshot (taken at its first
 * read) holds every commit completed before. Writes fail. The schema must
 * already be this build's (a writer opened first). */
store_t *store_postgres_open_reader(const char *url, char *err, size_t errlen);

/* Runs constant SQL on st's connection (tests: provoke failures, inspect
 * rows). Never pass user data. STORE_OK or STORE_ERR with errmsg set. */
int store_postgres_exec(store_t *st, const char *sql);

/* Rows st's connection has received for records (searches, preloads and
 * the other reads of whole records) since it opened: tests check that a
 * search or preload cut by its byte budget is not received whole. */
size_t store_postgres_rows_received(store_t *st);

#endif
