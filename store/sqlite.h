/* sqlite.h - the SQLite adapter of the storage port (core/store.h).
 *
 * One database file (or a private in-memory database) in WAL mode with
 * synchronous=FULL, its schema migrated by PRAGMA user_version. The store_t
 * it returns is used through the store_*() wrappers of core/store.h, by one
 * thread at a time. */
#ifndef RESONATE_STORE_SQLITE_H
#define RESONATE_STORE_SQLITE_H

#include <stddef.h>

#include "core/store.h"

/* Current schema version written by this build. */
#define STORE_SCHEMA_VERSION 1

/* Opens (creating if needed) the SQLite database at path (":memory:" for a
 * private in-memory database), applies pragmas (WAL, synchronous=FULL) and
 * migrates the schema to the current version. Returns NULL and writes the
 * reason to err on failure. Close with store_close(st). */
store_t *store_sqlite_open(const char *path, char *err, size_t errlen);

#endif
