/* sqlite_internal.h - pieces of the SQLite store exposed to its own tests.
 *
 * Nothing outside store/ and tests/unit/test_sqlite.c includes this file;
 * the rest of the server sees the store only through core/store.h and sqlite.h. */
#ifndef RESONATE_SQLITE_INTERNAL_H
#define RESONATE_SQLITE_INTERNAL_H

#include <sqlite3.h>

#include "store/sqlite.h"

/* Brings db from its PRAGMA user_version to n_steps by running
 * steps[version] (the SQL taking version to version+1) for every missing
 * version, all in one transaction, then sets user_version = n_steps. A file
 * whose version is newer than n_steps is refused untouched. Returns 0, or -1
 * with the reason in err (the file is left as it was). */
int store_sqlite_migrate(sqlite3 *db, const char *const *steps, int n_steps, char *err,
                         size_t errlen);

/* The schema steps of this build (migrations[v] takes version v to v + 1),
 * STORE_SCHEMA_VERSION of them: tests build files of older versions. */
const char *const *store_sqlite_migrations(void);

/* Runs constant SQL on the store's connection (tests use it to provoke
 * failures, e.g. PRAGMA max_page_count). Never pass user data. Returns
 * STORE_OK, or STORE_ERR with st->errmsg set. */
int store_sqlite_exec(store_t *st, const char *sql);

/* The store's connection, for tests that look at its prepared statements
 * (sqlite3_next_stmt, sqlite3_stmt_status). Never write through it. */
sqlite3 *store_sqlite_db(store_t *st);

#endif
