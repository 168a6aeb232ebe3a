/* sqlite.c - the SQLite adapter of the storage port (see sqlite.h, core/store.h).
 *
 * One connection, used by one thread at a time, with every statement
 * prepared once at open and reset after each call: the server batches many
 * requests per transaction, so per-call overhead (parsing SQL, malloc) is
 * what limits throughput. Tags and headers are stored as canonical JSON text
 * (store/kvjson.c); states as their wire names so the file reads plainly in
 * the sqlite3 shell.
 *
 * The schema is versioned with PRAGMA user_version and upgraded at open by
 * the migrations array below; a release that changes the schema appends a
 * step, never edits an old one. There are no foreign keys: the engine owns
 * every integrity rule (core/store.h), and checking them again here would cost a
 * lookup per write. */
#include "store/sqlite.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store/kvjson.h"
#include "store/sqlite_internal.h"

/* ---- schema ---------------------------------------------------------------- */

/* migrations[v] takes a file from user_version v to v + 1. */
static const char *const migrations[] = {
    /* 0 -> 1: the initial schema. */
    "CREATE TABLE promises ("
    "  id            TEXT PRIMARY KEY,"
    "  state         TEXT NOT NULL CHECK (state IN ('pending', 'resolved', 'rejected',"
    "                  'rejected_canceled', 'rejected_timedout')),"
    "  param_headers TEXT," /* JSON object; NULL = absent */
    "  param_data    TEXT,"
    "  value_headers TEXT,"
    "  value_data    TEXT,"
    "  tags          TEXT NOT NULL," /* JSON object, sorted keys */
    /* tags["resonate:branch"], copied at insert (tags never change) so the
     * index costs no JSON parsing. */
    "  branch        TEXT,"
    "  timeout_at    INTEGER NOT NULL,"
    "  created_at    INTEGER NOT NULL,"
    "  settled_at    INTEGER"
    ");"
    /* Every pending promise has a timer (DECISIONS #1): this index is the
     * timer queue, and a promise leaves it when it settles. */
    "CREATE INDEX promises_due ON promises (timeout_at, id) WHERE state = 'pending';"
    "CREATE INDEX promises_branch ON promises (branch, id) WHERE branch IS NOT NULL;"
    "CREATE TABLE callbacks ("
    "  awaited TEXT NOT NULL,"
    "  awaiter TEXT NOT NULL,"
    "  ready   INTEGER NOT NULL CHECK (ready IN (0, 1)),"
    "  PRIMARY KEY (awaited, awaiter)"
    ") WITHOUT ROWID;"
    "CREATE INDEX callbacks_awaiter ON callbacks (awaiter, ready);"
    "CREATE TABLE listeners ("
    "  promise_id TEXT NOT NULL,"
    "  address    TEXT NOT NULL,"
    "  PRIMARY KEY (promise_id, address)"
    ") WITHOUT ROWID;"
    "CREATE TABLE tasks ("
    "  id      TEXT PRIMARY KEY,"
    "  state   TEXT NOT NULL CHECK (state IN ('pending', 'acquired', 'suspended', 'halted',"
    "            'fulfilled')),"
    "  version INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE task_timers ("
    "  id         TEXT PRIMARY KEY,"
    "  type       INTEGER NOT NULL CHECK (type IN (0, 1))," /* TIMER_RETRY, TIMER_LEASE */
    "  timeout_at INTEGER NOT NULL,"
    "  pid        TEXT,"
    "  ttl        INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX task_timers_due ON task_timers (timeout_at, id);"
    /* Serves heartbeats, which renew every lease of a process. */
    "CREATE INDEX task_timers_pid ON task_timers (pid, id) WHERE type = 1;"
    /* AUTOINCREMENT: a seq is never reused, so deleting a delivered message
     * by seq can never hit a row queued after it was read. */
    "CREATE TABLE outbox ("
    "  seq        INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind       TEXT NOT NULL CHECK (kind IN ('execute', 'unblock')),"
    "  id         TEXT NOT NULL," /* task id / promise id */
    "  version    INTEGER NOT NULL,"
    "  address    TEXT NOT NULL,"
    "  not_before INTEGER NOT NULL,"
    "  attempts   INTEGER NOT NULL"
    ");"
    "CREATE UNIQUE INDEX outbox_execute ON outbox (id) WHERE kind = 'execute';"
    "CREATE UNIQUE INDEX outbox_unblock ON outbox (id, address) WHERE kind = 'unblock';"
    "CREATE TABLE schedules ("
    "  id                    TEXT PRIMARY KEY,"
    "  cron                  TEXT NOT NULL,"
    "  promise_id            TEXT NOT NULL,"
    "  promise_timeout       INTEGER NOT NULL,"
    "  promise_param_headers TEXT,"
    "  promise_param_data    TEXT,"
    "  promise_tags          TEXT NOT NULL,"
    "  created_at            INTEGER NOT NULL,"
    "  next_run_at           INTEGER NOT NULL,"
    "  last_run_at           INTEGER"
    ");"
    "CREATE INDEX schedules_due ON schedules (next_run_at, id);",
    /* 1 -> 2: the readiness probe's row (store_ping writes it). */
    "CREATE TABLE health ("
    "  id         INTEGER PRIMARY KEY CHECK (id = 1),"
    "  written_at INTEGER NOT NULL"
    ");",
    /* 2 -> 3: indexes that make searches cost what they return. One row per
     * tag of every promise (tags never change after create), filled here
     * from the rows already stored; the state indexes serve search by
     * state. */
    "CREATE TABLE promise_tags ("
    "  key   TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  id    TEXT NOT NULL,"
    "  PRIMARY KEY (key, value, id)"
    ") WITHOUT ROWID;"
    "INSERT INTO promise_tags (key, value, id)"
    "  SELECT g.key, g.value, p.id FROM promises p, json_each(p.tags) g ORDER BY 1, 2, 3;"
    "CREATE INDEX promises_state ON promises (state, id);"
    "CREATE INDEX tasks_state ON tasks (state, id);",
    /* 3 -> 4: the same CHECK constraints, written as OR chains. SQLite
     * evaluates `x IN (list)` in a CHECK with an ephemeral table built on
     * every INSERT and UPDATE (about 3 us a row with 3.40); `x = a OR x = b`
     * costs next to nothing and still rejects any other value. Only the
     * stored table text changes (no row is rewritten, so a file of any size
     * upgrades at once): the documented procedure for changing CHECK
     * constraints (sqlite.org/lang_altertable.html, "other kinds of table
     * schema changes"); store_sqlite_migrate bumps the schema cookie. */
    "PRAGMA writable_schema = ON;"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    "  'CHECK (state IN (''pending'', ''resolved'', ''rejected'','"
    "  || '                  ''rejected_canceled'', ''rejected_timedout''))',"
    "  'CHECK (state = ''pending'' OR state = ''resolved'' OR state = ''rejected'''"
    "  || ' OR state = ''rejected_canceled'' OR state = ''rejected_timedout'')')"
    "  WHERE type = 'table' AND name = 'promises';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    "  'CHECK (state IN (''pending'', ''acquired'', ''suspended'', ''halted'','"
    "  || '            ''fulfilled''))',"
    "  'CHECK (state = ''pending'' OR state = ''acquired'' OR state = ''suspended'''"
    "  || ' OR state = ''halted'' OR state = ''fulfilled'')')"
    "  WHERE type = 'table' AND name = 'tasks';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''execute'', ''unblock''))',"
    "  'CHECK (kind = ''execute'' OR kind = ''unblock'')')"
    "  WHERE type = 'table' AND name = 'outbox';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (ready IN (0, 1))',"
    "  'CHECK (ready = 0 OR ready = 1)') WHERE type = 'table' AND name = 'callbacks';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (type IN (0, 1))',"
    "  'CHECK (type = 0 OR type = 1)') WHERE type = 'table' AND name = 'task_timers';"
    "PRAGMA writable_schema = OFF;",
    /* 4 -> 5: the fan-out list (core/store.h fanout_add): settled promises
     * whose awaiters and listeners are not all processed yet, with the last
     * awaiter resumed and how many ticks have passed over each. */
    "CREATE TABLE fanouts ("
    "  id           TEXT PRIMARY KEY,"
    "  last_awaiter TEXT,"
    "  passes       INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 5 -> 6: the due messages by index (Q_OUTBOX_DUE). Without it every
     * delivery round read past all the rows queued for later, e.g. one
     * tenant's executes delayed (resonate:delay) far ahead, on the store
     * thread: with a million of them 60-100 ms a round, for every tenant.
     * Likewise the fan-outs a tick continues (Q_FANOUT_DUE), which it
     * sorted whole every time. In parentheses: one step of two statements
     * (clang's -Wstring-concatenation). */
    ("CREATE INDEX outbox_due ON outbox (not_before, seq);"
     "CREATE INDEX fanouts_next ON fanouts (passes, id);"),
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(N_MIGRATIONS == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION must equal the number of migrations");

/* Per-connection settings; synchronous=FULL so that a committed (and thus
 * acknowledged) write survives power loss (DECISIONS #13). */
static const char pragmas[] = "PRAGMA journal_mode = WAL;"
                              "PRAGMA synchronous = FULL;"
                              "PRAGMA foreign_keys = OFF;"
                              "PRAGMA cache_size = -32768;"
                              "PRAGMA temp_store = MEMORY;";

#define BUSY_TIMEOUT_MS 5000

/* ---- statements ------------------------------------------------------------ */

#define PROMISE_COLS                                                                               \
    "id, state, param_headers, param_data, value_headers, value_data, tags, timeout_at, "          \
    "created_at, settled_at"
#define TASK_SELECT                                                                                \
    "SELECT t.id, t.state, t.version,"                                                             \
    " (SELECT count(*) FROM callbacks c WHERE c.awaiter = t.id AND c.ready = 1),"                  \
    " l.pid, l.ttl, l.id IS NOT NULL"                                                              \
    " FROM tasks t LEFT JOIN task_timers l ON l.id = t.id AND l.type = 1 "
#define TIMER_COLS "id, type, timeout_at, pid, ttl"
#define OUTBOX_COLS "seq, kind, id, version, address, not_before, attempts"
#define SCHEDULE_COLS                                                                              \
    "id, cron, promise_id, promise_timeout, promise_param_headers, promise_param_data, "           \
    "promise_tags, created_at, next_run_at, last_run_at"
/* Search paging: ?1 is the cursor ('' when none) and ?2 is true when there
 * is no cursor, so "id >= ?1" keeps a range scan on the primary key even
 * from the start. Tag filter: every key/value of the JSON object ?4 (NULL =
 * no filter) is present and equal in the row's tags; json_each compares keys
 * as data, so no key ever becomes part of a JSON path. */
#define HAS_TAGS_S                                                                                 \
    "NOT EXISTS (SELECT 1 FROM json_each(?4) f WHERE NOT EXISTS"                                   \
    " (SELECT 1 FROM json_each(s.promise_tags) g WHERE g.key = f.key AND g.value = f.value))"

enum {
    Q_BEGIN,
    Q_BEGIN_READ,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_ROLLBACK_TO,
    Q_PING,
    Q_CHECKPOINT,
    Q_PROMISE_GET,
    Q_PROMISE_INSERT,
    Q_PROMISE_SETTLE,
    Q_PROMISE_IDS,
    Q_PROMISE_IDS_STATE,
    Q_PROMISE_BY_ROWID,
    Q_PROMISE_TAG_INSERT,
    Q_PROMISE_DUE,
    Q_PROMISE_BRANCH,
    Q_CALLBACK_INSERT,
    Q_CALLBACK_AWAITERS,
    Q_CALLBACK_MARK_READY,
    Q_CALLBACK_DELETE_AWAITER,
    Q_CALLBACK_DELETE_READY,
    Q_LISTENER_INSERT,
    Q_LISTENER_SELECT,
    Q_LISTENER_DELETE,
    Q_LISTENER_COUNT,
    Q_CALLBACK_DELETE_LISTED,
    Q_FANOUT_ADD,
    Q_FANOUT_DUE,
    Q_FANOUT_PASS,
    Q_FANOUT_DELETE,
    Q_TASK_GET,
    Q_TASK_INSERT,
    Q_TASK_UPDATE,
    Q_TASK_SEARCH,
    Q_TASK_SEARCH_STATE,
    Q_TIMER_GET,
    Q_TIMER_SET,
    Q_TIMER_DELETE,
    Q_TIMER_DUE,
    Q_LEASE_RENEW_PID,
    Q_OUTBOX_EXECUTE,
    Q_OUTBOX_UNBLOCK,
    Q_OUTBOX_DUE,
    Q_OUTBOX_DELETE,
    Q_OUTBOX_DEFER,
    Q_OUTBOX_COUNT,
    Q_SCHEDULE_GET,
    Q_SCHEDULE_INSERT,
    Q_SCHEDULE_DELETE,
    Q_SCHEDULE_SEARCH,
    Q_SCHEDULE_DUE,
    Q_SCHEDULE_ADVANCE,
    Q_SNAP_PROMISES,
    Q_SNAP_CALLBACKS,
    Q_SNAP_LISTENERS,
    Q_SNAP_TASKS,
    Q_SNAP_TIMERS,
    Q_SNAP_MESSAGES,
    Q__COUNT,
};

static const char *const sql[Q__COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    /* A reader's snapshot: taken at its first read, kept until commit. */
    [Q_BEGIN_READ] = "BEGIN DEFERRED",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT req",
    [Q_RELEASE] = "RELEASE req",
    [Q_ROLLBACK_TO] = "ROLLBACK TO req",
    [Q_PING] = "INSERT OR REPLACE INTO health (id, written_at) VALUES (1, ?1)",
    [Q_CHECKPOINT] = "PRAGMA wal_checkpoint(TRUNCATE)",

    [Q_PROMISE_GET] = "SELECT " PROMISE_COLS " FROM promises WHERE id = ?1",
    [Q_PROMISE_INSERT] = "INSERT INTO promises (" PROMISE_COLS ", branch)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_PROMISE_SETTLE] = "UPDATE promises SET state = ?2, value_headers = ?3, value_data = ?4,"
                         " settled_at = ?5 WHERE id = ?1",
    /* The sorted id lists a promise search intersects (sq_promise_search):
     * ?1 the least id wanted, ?2 the upper bound (bind_upper), ?3.. the
     * filter. Each is a range of one index, so a seek costs O(log n). */
    /* These two also give the rowid (in their index), so a match is read
     * with one b-tree descent instead of two. */
    [Q_PROMISE_IDS] = "SELECT id, rowid FROM promises WHERE id >= ?1 AND id < ?2 ORDER BY id",
    [Q_PROMISE_IDS_STATE] = "SELECT id, rowid FROM promises INDEXED BY promises_state"
                            " WHERE state = ?3 AND id >= ?1 AND id < ?2 ORDER BY id",
    [Q_PROMISE_BY_ROWID] = "SELECT " PROMISE_COLS " FROM promises WHERE rowid = ?1",
    [Q_PROMISE_TAG_INSERT] = "INSERT INTO promise_tags (key, value, id) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT DO NOTHING",
    /* INDEXED BY: without it SQLite may take promises_state for "state =
     * 'pending'" and sort every pending promise on each tick. */
    [Q_PROMISE_DUE] = "SELECT id FROM promises INDEXED BY promises_due"
                      " WHERE state = 'pending' AND timeout_at <= ?1"
                      " ORDER BY timeout_at, id LIMIT ?2",
    [Q_PROMISE_BRANCH] = "SELECT " PROMISE_COLS " FROM promises"
                         " WHERE branch = ?1 AND (?2 IS NULL OR id <> ?2) ORDER BY id LIMIT ?3",

    [Q_CALLBACK_INSERT] = "INSERT INTO callbacks (awaited, awaiter, ready) VALUES (?1, ?2, ?3)"
                          " ON CONFLICT (awaited, awaiter) DO UPDATE SET ready = 1"
                          " WHERE excluded.ready = 1 AND ready = 0",
    /* A range of the primary key past ?2 ('' = from the first), at most ?3
     * rows; then the same range up to the last one read, ?3. */
    [Q_CALLBACK_AWAITERS] = "SELECT awaiter FROM callbacks WHERE awaited = ?1 AND awaiter > ?2"
                            " AND ready = 0 ORDER BY awaiter LIMIT ?3",
    [Q_CALLBACK_MARK_READY] = "UPDATE callbacks SET ready = 1 WHERE awaited = ?1 AND awaiter > ?2"
                              " AND awaiter <= ?3 AND ready = 0",
    [Q_CALLBACK_DELETE_AWAITER] = "DELETE FROM callbacks WHERE awaiter = ?1",
    [Q_CALLBACK_DELETE_READY] = "DELETE FROM callbacks WHERE awaiter = ?1 AND ready = 1",
    /* One primary key lookup per listed fan-out (none, mostly). */
    [Q_CALLBACK_DELETE_LISTED] = "DELETE FROM callbacks WHERE awaiter = ?1"
                                 " AND awaited IN (SELECT id FROM fanouts)",
    [Q_FANOUT_ADD] = "INSERT INTO fanouts (id, last_awaiter, passes) VALUES (?1, ?2, 0)"
                     " ON CONFLICT (id) DO NOTHING",
    [Q_FANOUT_DUE] = "SELECT id, last_awaiter FROM fanouts ORDER BY passes, id LIMIT ?1",
    [Q_FANOUT_PASS] = "UPDATE fanouts SET last_awaiter = ?2, passes = passes + 1 WHERE id = ?1",
    [Q_FANOUT_DELETE] = "DELETE FROM fanouts WHERE id = ?1",

    [Q_LISTENER_INSERT] = "INSERT INTO listeners (promise_id, address) VALUES (?1, ?2)"
                          " ON CONFLICT (promise_id, address) DO NOTHING",
    [Q_LISTENER_SELECT] = "SELECT address FROM listeners WHERE promise_id = ?1 ORDER BY address"
                          " LIMIT ?2",
    [Q_LISTENER_DELETE] = "DELETE FROM listeners WHERE promise_id = ?1 AND address <= ?2",
    /* Both a range of the primary key: at most ?2 entries, and one lookup. */
    [Q_LISTENER_COUNT] = "SELECT (SELECT count(*) FROM (SELECT 1 FROM listeners"
                         " WHERE promise_id = ?1 LIMIT ?2)),"
                         " EXISTS (SELECT 1 FROM listeners WHERE promise_id = ?1 AND address = ?3)",

    [Q_TASK_GET] = TASK_SELECT "WHERE t.id = ?1",
    [Q_TASK_INSERT] = "INSERT INTO tasks (id, state, version) VALUES (?1, ?2, ?3)",
    [Q_TASK_UPDATE] = "UPDATE tasks SET state = ?2, version = ?3 WHERE id = ?1",
    /* ?3 is NULL here (no state filter); one statement per case so that
     * each keeps its index: the primary key, or tasks_state. */
    [Q_TASK_SEARCH] = TASK_SELECT "WHERE t.id >= ?1 AND (t.id > ?1 OR ?2) AND t.id < ?5"
                                  " AND ?3 IS NULL ORDER BY t.id LIMIT ?4",
    [Q_TASK_SEARCH_STATE] = TASK_SELECT "WHERE t.state = ?3 AND t.id >= ?1 AND (t.id > ?1 OR ?2)"
                                        " AND t.id < ?5 ORDER BY t.id LIMIT ?4",

    [Q_TIMER_GET] = "SELECT " TIMER_COLS " FROM task_timers WHERE id = ?1",
    [Q_TIMER_SET] = "INSERT INTO task_timers (" TIMER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)"
                    " ON CONFLICT (id) DO UPDATE SET type = excluded.type,"
                    " timeout_at = excluded.timeout_at, pid = excluded.pid, ttl = excluded.ttl",
    [Q_TIMER_DELETE] = "DELETE FROM task_timers WHERE id = ?1",
    [Q_TIMER_DUE] = "SELECT " TIMER_COLS " FROM task_timers WHERE timeout_at <= ?1"
                    " ORDER BY timeout_at, id LIMIT ?2",
    /* ?1 pid, ?2 now, ?3 and ?4 the id range (bind_upper). */
    [Q_LEASE_RENEW_PID] = "UPDATE task_timers SET timeout_at = CASE WHEN ?2 > 0 AND ttl >"
                          " 9223372036854775807 - ?2 THEN 9223372036854775807 ELSE ?2 + ttl END"
                          " WHERE type = 1 AND pid = ?1 AND id >= ?3 AND id < ?4 AND EXISTS"
                          " (SELECT 1 FROM tasks t WHERE t.id = task_timers.id"
                          " AND t.state = 'acquired')",

    /* REPLACE deletes the task's older execute and queues the new one with a
     * fresh seq: an in-flight delivery of the old row then deletes nothing. */
    [Q_OUTBOX_EXECUTE] = "INSERT OR REPLACE INTO outbox"
                         " (kind, id, version, address, not_before, attempts)"
                         " VALUES ('execute', ?1, ?2, ?3, ?4, 0)",
    [Q_OUTBOX_UNBLOCK] = "INSERT INTO outbox (kind, id, version, address, not_before, attempts)"
                         " VALUES ('unblock', ?1, 0, ?2, 0, 0)"
                         " ON CONFLICT (id, address) WHERE kind = 'unblock' DO NOTHING",
    /* Two ranges of the outbox_due index, each read no further than the
     * limit: the never-tried rows (not_before 0) in queue order, and the
     * retried and delayed ones due by now in the order they became due;
     * taken in turn, one of each, so that neither waits behind the other. */
    [Q_OUTBOX_DUE] = "SELECT " OUTBOX_COLS " FROM ("
                     "SELECT *, row_number() OVER (ORDER BY seq) AS rn, 0 AS part FROM ("
                     "SELECT " OUTBOX_COLS " FROM outbox WHERE not_before = 0"
                     " ORDER BY seq LIMIT ?2)"
                     " UNION ALL "
                     "SELECT *, row_number() OVER (ORDER BY not_before, seq), 1 FROM ("
                     "SELECT " OUTBOX_COLS " FROM outbox WHERE not_before > 0"
                     " AND not_before <= ?1 ORDER BY not_before, seq LIMIT ?2))"
                     " ORDER BY rn, part LIMIT ?2",
    [Q_OUTBOX_DELETE] = "DELETE FROM outbox WHERE seq = ?1",
    [Q_OUTBOX_DEFER] = "UPDATE outbox SET not_before = ?2, attempts = ?3 WHERE seq = ?1",
    [Q_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",

    [Q_SCHEDULE_GET] = "SELECT " SCHEDULE_COLS " FROM schedules WHERE id = ?1",
    [Q_SCHEDULE_INSERT] = "INSERT INTO schedules (" SCHEDULE_COLS ")"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [Q_SCHEDULE_DELETE] = "DELETE FROM schedules WHERE id = ?1",
    /* Every row of the id range, with whether it matches as a last
     * column: the caller stops after the page or STORE_SEARCH_SCAN_MAX
     * rows, whichever comes first (?5 is that cap plus one). */
    [Q_SCHEDULE_SEARCH] = "SELECT " SCHEDULE_COLS ", " HAS_TAGS_S " FROM schedules s"
                          " WHERE s.id >= ?1 AND (s.id > ?1 OR ?2) AND s.id < ?6"
                          " ORDER BY s.id LIMIT ?5",
    [Q_SCHEDULE_DUE] = "SELECT " SCHEDULE_COLS " FROM schedules WHERE next_run_at <= ?1"
                       " ORDER BY next_run_at, id LIMIT ?2",
    [Q_SCHEDULE_ADVANCE] = "UPDATE schedules SET last_run_at = ?2, next_run_at = ?3 WHERE id = ?1",

    [Q_SNAP_PROMISES] = "SELECT " PROMISE_COLS " FROM promises ORDER BY id",
    [Q_SNAP_CALLBACKS] = "SELECT awaited, awaiter FROM callbacks WHERE ready = 0"
                         " ORDER BY awaiter, awaited",
    [Q_SNAP_LISTENERS] = "SELECT promise_id, address FROM listeners ORDER BY promise_id, address",
    [Q_SNAP_TASKS] = TASK_SELECT "ORDER BY t.id",
    [Q_SNAP_TIMERS] = "SELECT " TIMER_COLS " FROM task_timers ORDER BY id",
    [Q_SNAP_MESSAGES] = "SELECT " OUTBOX_COLS " FROM outbox"
                        " ORDER BY kind <> 'execute', id, address",
};

/* One tag of a promise search's filter as a sorted id list (see
 * Q_PROMISE_IDS): ?3 the key, ?4 the value. */
static const char tag_seek_sql[] = "SELECT id FROM promise_tags"
                                   " WHERE key = ?3 AND value = ?4 AND id >= ?1 AND id < ?2"
                                   " ORDER BY id";

static const char reset_sql[] = "DELETE FROM promises;"
                                "DELETE FROM promise_tags;"
                                "DELETE FROM callbacks;"
                                "DELETE FROM listeners;"
                                "DELETE FROM tasks;"
                                "DELETE FROM task_timers;"
                                "DELETE FROM outbox;"
                                "DELETE FROM schedules;"
                                "DELETE FROM fanouts;";

/* ---- the store object -------------------------------------------------------- */

typedef struct {
    store_t base; /* first: a store_t * is a sq_store_t * */
    sqlite3 *db;
    kvbuf_t buf; /* encoded JSON of the call in progress; bound SQLITE_STATIC */
    /* Between a successful begin and its commit/rollback. */
    bool in_tx;
    bool reader; /* opened by store_sqlite_open_reader: read-only */
    char *path;  /* the database file; NULL for :memory: */
    char *wal;   /* path + "-wal" */
    /* The -wal file's identity once open: SQLite keeps it open until the
     * connection closes, so another one at that path means it was deleted
     * or replaced (SQLITE_FCNTL_HAS_MOVED covers only the main file). */
    bool wal_known;
    dev_t wal_dev;
    ino_t wal_ino;
    sqlite3_stmt *q[Q__COUNT];
    /* A promise search keeps one open tag list per tag of its filter:
     * tag_seek_sql, prepared on first need, n_tagq of them. */
    sqlite3_stmt **tagq;
    size_t n_tagq;
} sq_store_t;

static sq_store_t *sq(store_t *st)
{
    return (sq_store_t *)st;
}

/* Records the connection's last error for the operation what. */
static int sq_fail(sq_store_t *s, const char *what)
{
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "%s: %s", what, sqlite3_errmsg(s->db));
    return STORE_ERR;
}

static int sq_failf(sq_store_t *s, const char *what, const char *reason)
{
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "%s: %s", what, reason);
    return STORE_ERR;
}

/* Readies a cached statement for its next use. Bindings are cleared because
 * they point (SQLITE_STATIC) at the caller's memory. */
static void sq_done(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* After some errors (disk full, I/O) SQLite rolls the whole transaction
 * back by itself. Every later statement would then run, and commit, on its
 * own, while the caller still believes it is inside its transaction: refuse
 * them until the caller rolls back. */
static int sq_guard(sq_store_t *s, const char *what)
{
    if (s->in_tx && sqlite3_get_autocommit(s->db))
        return sq_failf(s, what,
                        "the transaction was rolled back after an earlier error; roll back");
    return STORE_OK;
}

/* Steps a statement that returns nothing (or whose rows are ignored) after
 * binding yielded brc, then readies it again. */
static int sq_run(sq_store_t *s, sqlite3_stmt *q, int brc, const char *what)
{
    int ret = STORE_OK;
    if (brc != SQLITE_OK) {
        ret = sq_fail(s, what);
    } else if (sq_guard(s, what) != STORE_OK) {
        ret = STORE_ERR;
    } else {
        int rc = sqlite3_step(q);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
            ret = sq_fail(s, what);
    }
    sq_done(q);
    return ret;
}

static int bind_str(sqlite3_stmt *q, int i, const char *v)
{
    return v ? sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(q, i);
}

static int bind_limit(sqlite3_stmt *q, int i, size_t limit)
{
    return sqlite3_bind_int64(q, i, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
}

/* Binds buf[off .. off+len) or NULL when off is (size_t)-1. */
#define NO_TEXT ((size_t)-1)

static int bind_buf(sq_store_t *s, sqlite3_stmt *q, int i, size_t off, size_t end)
{
    if (off == NO_TEXT)
        return sqlite3_bind_null(q, i);
    return sqlite3_bind_text(q, i, s->buf.p + off, (int)(end - off), SQLITE_STATIC);
}

/* Encodes m into s->buf; *off receives its start. */
static int enc_kvmap(sq_store_t *s, const kvmap_t *m, size_t *off, size_t *end, const char *what)
{
    *off = s->buf.len;
    if (kvjson_encode(&s->buf, m) != 0)
        return sq_failf(s, what, "out of memory encoding JSON");
    if (s->buf.len - *off > INT32_MAX)
        return sq_failf(s, what, "JSON text too large");
    *end = s->buf.len;
    return STORE_OK;
}

static int enc_headers(sq_store_t *s, const pvalue_t *v, size_t *off, size_t *end, const char *what)
{
    if (!v || !v->has_headers) {
        *off = *end = NO_TEXT;
        return STORE_OK;
    }
    return enc_kvmap(s, &v->headers, off, end, what);
}

static const char *col_str(arena_t *a, sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    if (!t)
        return NULL;
    return arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(q, i));
}

static int col_kvmap(arena_t *a, sqlite3_stmt *q, int i, kvmap_t *m)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    if (!t) {
        m->items = NULL;
        m->n = 0;
        return 0;
    }
    return kvjson_decode(a, (const char *)t, (size_t)sqlite3_column_bytes(q, i), m);
}

/* Headers column i and data column i + 1. */
static int col_pvalue(arena_t *a, sqlite3_stmt *q, int i, pvalue_t *v)
{
    v->has_headers = sqlite3_column_type(q, i) != SQLITE_NULL;
    if (v->has_headers && col_kvmap(a, q, i, &v->headers) != 0)
        return -1;
    v->data = col_str(a, q, i + 1);
    return 0;
}

/* Grows a result array from the arena (doubling, old copy abandoned). */
static void *grow(arena_t *a, void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = arena_alloc(a, ncap * size);
    if (n)
        memcpy(p, arr, n * size);
    *cap = ncap;
    return p;
}

/* ---- row readers (column order as in the *_COLS macros) ------------------ */

static int rd_promise(arena_t *a, sqlite3_stmt *q, void *row)
{
    promise_t *p = row;
    memset(p, 0, sizeof *p);
    p->id = col_str(a, q, 0);
    const unsigned char *state = sqlite3_column_text(q, 1);
    int ps = state ? pstate_parse((const char *)state) : -1;
    if (!p->id || ps < 0)
        return -1;
    p->state = (pstate_t)ps;
    if (col_pvalue(a, q, 2, &p->param) != 0 || col_pvalue(a, q, 4, &p->value) != 0 ||
        col_kvmap(a, q, 6, &p->tags) != 0)
        return -1;
    p->timeout_at = sqlite3_column_int64(q, 7);
    p->created_at = sqlite3_column_int64(q, 8);
    p->has_settled_at = sqlite3_column_type(q, 9) != SQLITE_NULL;
    p->settled_at = p->has_settled_at ? sqlite3_column_int64(q, 9) : 0;
    return 0;
}

static int rd_task(arena_t *a, sqlite3_stmt *q, void *row)
{
    task_t *t = row;
    memset(t, 0, sizeof *t);
    t->id = col_str(a, q, 0);
    const unsigned char *state = sqlite3_column_text(q, 1);
    int ts = state ? tstate_parse((const char *)state) : -1;
    if (!t->id || ts < 0)
        return -1;
    t->state = (tstate_t)ts;
    t->version = sqlite3_column_int64(q, 2);
    t->resumes = sqlite3_column_int64(q, 3);
    t->has_lease = sqlite3_column_int(q, 6) != 0;
    if (t->has_lease) {
        t->pid = col_str(a, q, 4);
        t->ttl = sqlite3_column_int64(q, 5);
    }
    return 0;
}

static int rd_timer(arena_t *a, sqlite3_stmt *q, void *row)
{
    task_timer_t *t = row;
    t->id = col_str(a, q, 0);
    t->type = sqlite3_column_int(q, 1);
    t->timeout = sqlite3_column_int64(q, 2);
    t->pid = col_str(a, q, 3);
    t->ttl = sqlite3_column_int64(q, 4);
    return t->id ? 0 : -1;
}

static int rd_outbox(arena_t *a, sqlite3_stmt *q, void *row)
{
    outbox_msg_t *m = row;
    m->seq = sqlite3_column_int64(q, 0);
    const unsigned char *kind = sqlite3_column_text(q, 1);
    if (!kind)
        return -1;
    m->kind = strcmp((const char *)kind, "execute") == 0 ? MSG_EXECUTE : MSG_UNBLOCK;
    m->id = col_str(a, q, 2);
    m->version = sqlite3_column_int64(q, 3);
    m->address = col_str(a, q, 4);
    m->not_before = sqlite3_column_int64(q, 5);
    m->attempts = sqlite3_column_int(q, 6);
    m->queued_at = 0;
    return m->id && m->address ? 0 : -1;
}

static int rd_schedule(arena_t *a, sqlite3_stmt *q, void *row)
{
    schedule_t *s = row;
    memset(s, 0, sizeof *s);
    s->id = col_str(a, q, 0);
    s->cron = col_str(a, q, 1);
    s->promise_id = col_str(a, q, 2);
    if (!s->id || !s->cron || !s->promise_id)
        return -1;
    s->promise_timeout = sqlite3_column_int64(q, 3);
    if (col_pvalue(a, q, 4, &s->promise_param) != 0 || col_kvmap(a, q, 6, &s->promise_tags) != 0)
        return -1;
    s->created_at = sqlite3_column_int64(q, 7);
    s->next_run_at = sqlite3_column_int64(q, 8);
    s->has_last_run_at = sqlite3_column_type(q, 9) != SQLITE_NULL;
    s->last_run_at = s->has_last_run_at ? sqlite3_column_int64(q, 9) : 0;
    return 0;
}

typedef int (*reader_fn)(arena_t *a, sqlite3_stmt *q, void *row);

/* The stored bytes of the current row: the sum of its columns' sizes. */
static size_t row_bytes(sqlite3_stmt *q)
{
    size_t n = 0;
    for (int i = 0, cols = sqlite3_column_count(q); i < cols; i++)
        n += (size_t)sqlite3_column_bytes(q, i);
    return n;
}

/* Steps a bound statement, reading each row with rd into a growing array
 * of size-byte elements. With max set, reads at most max rows; with
 * max_bytes non-zero, stops before the first row whose stored bytes
 * (row_bytes) would take the total past it, but for the first row when
 * first_fits (a page of one large record). *more (when non-NULL) says
 * whether a row was left out. */
static int sq_collect_budget(sq_store_t *s, arena_t *a, sqlite3_stmt *q, int brc, reader_fn rd,
                             size_t size, void **out, size_t *n, const size_t *max,
                             size_t max_bytes, bool first_fits, bool *more, const char *what)
{
    void *arr = NULL;
    size_t cnt = 0, cap = 0, bytes = 0;
    int ret = STORE_OK;
    if (more)
        *more = false;
    if (brc != SQLITE_OK) {
        ret = sq_fail(s, what);
        goto done;
    }
    if (sq_guard(s, what) != STORE_OK) {
        ret = STORE_ERR;
        goto done;
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t row = max_bytes ? row_bytes(q) : 0;
        if ((max && cnt == *max) ||
            (max_bytes && (cnt || !first_fits) && store_over_budget(bytes, row, max_bytes))) {
            if (more)
                *more = true;
            rc = SQLITE_DONE;
            break;
        }
        bytes += row;
        arr = grow(a, arr, cnt, &cap, size);
        if (rd(a, q, (char *)arr + cnt * size) != 0) {
            ret = sq_failf(s, what, "corrupt row in database");
            goto done;
        }
        cnt++;
    }
    if (rc != SQLITE_DONE)
        ret = sq_fail(s, what);
done:
    sq_done(q);
    *out = ret == STORE_OK ? arr : NULL;
    *n = ret == STORE_OK ? cnt : 0;
    if (ret != STORE_OK && more)
        *more = false;
    return ret;
}

/* sq_collect_budget without a byte budget. */
static int sq_collect(sq_store_t *s, arena_t *a, sqlite3_stmt *q, int brc, reader_fn rd,
                      size_t size, void **out, size_t *n, const size_t *max, bool *more,
                      const char *what)
{
    return sq_collect_budget(s, a, q, brc, rd, size, out, n, max, 0, false, more, what);
}

/* Reads at most one row (a lookup by key); *out stays NULL when absent. */
static int sq_get_one(sq_store_t *s, arena_t *a, sqlite3_stmt *q, int brc, reader_fn rd,
                      size_t size, void **out, const char *what)
{
    size_t n, one = 1;
    void *arr;
    int ret = sq_collect(s, a, q, brc, rd, size, &arr, &n, &one, NULL, what);
    *out = ret == STORE_OK && n ? arr : NULL;
    return ret;
}

static int rd_string(arena_t *a, sqlite3_stmt *q, void *row)
{
    const char **s = row;
    *s = col_str(a, q, 0);
    return *s ? 0 : -1;
}
static int rd_callback(arena_t *a, sqlite3_stmt *q, void *row)
{
    callback_t *c = row;
    c->awaited = col_str(a, q, 0);
    c->awaiter = col_str(a, q, 1);
    return c->awaited && c->awaiter ? 0 : -1;
}
static int rd_listener(arena_t *a, sqlite3_stmt *q, void *row)
{
    listener_t *l = row;
    l->promise_id = col_str(a, q, 0);
    l->address = col_str(a, q, 1);
    return l->promise_id && l->address ? 0 : -1;
}

/* ---- lifecycle and transactions -------------------------------------------- */

static void sq_close(store_t *st)
{
    if (!st)
        return;
    sq_store_t *s = sq(st);
    for (int i = 0; i < Q__COUNT; i++)
        sqlite3_finalize(s->q[i]);
    for (size_t i = 0; i < s->n_tagq; i++)
        sqlite3_finalize(s->tagq[i]);
    free(s->tagq);
    sqlite3_close(s->db);
    kvbuf_free(&s->buf);
    free(s->path);
    free(s->wal);
    free(s);
}

static int sq_simple(store_t *st, int which, const char *what)
{
    sq_store_t *s = sq(st);
    return sq_run(s, s->q[which], SQLITE_OK, what);
}

/* True when the open file f no longer is the file at its path (unlinked,
 * or another file renamed over it): SQLite keeps writing to the open one,
 * and everything written is gone once the process ends. */
static bool file_moved(sqlite3_file *f)
{
    int moved = 0;
    return f && f->pMethods && f->pMethods->xFileControl &&
           f->pMethods->xFileControl(f, SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved;
}

static int sq_check(store_t *st)
{
    sq_store_t *s = sq(st);
    if (!s->path)
        return STORE_OK;
    /* One stat(2) per file: cheap enough for every batch. */
    sqlite3_file *db = NULL;
    sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &db);
    bool db_moved = file_moved(db);
    struct stat sb;
    bool wal_moved = s->wal_known &&
                     (stat(s->wal, &sb) != 0 || sb.st_dev != s->wal_dev || sb.st_ino != s->wal_ino);
    if (db_moved || wal_moved) {
        snprintf(st->errmsg, sizeof st->errmsg,
                 "the database file %s%s was deleted or replaced while the server was running, "
                 "so writes would be lost: restore it, or restart the server to open the file "
                 "now at that path",
                 s->path, db_moved ? "" : "-wal");
        return STORE_ERR;
    }
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        snprintf(st->errmsg, sizeof st->errmsg, "the database %s is open read-only", s->path);
        return STORE_ERR;
    }
    return STORE_OK;
}

/* A real write of the probe row, durable with the enclosing transaction
 * (or at once outside one): a read-only file or an I/O error shows here. */
static int sq_write_probe(sq_store_t *s)
{
    sqlite3_stmt *q = s->q[Q_PING];
    return sq_run(s, q, sqlite3_bind_int64(q, 1, (sqlite3_int64)time(NULL)), "ping");
}

static int sq_ping(store_t *st)
{
    sq_store_t *s = sq(st);
    if (sq_check(st) != STORE_OK)
        return STORE_ERR;
    /* Still writable now, but not after a restart: say so while there is
     * time to fix it. */
    if (s->path && access(s->path, W_OK) != 0) {
        snprintf(st->errmsg, sizeof st->errmsg,
                 "the database file %s is no longer writable (%s): the server could not "
                 "reopen it after a restart; make it writable by the server's user",
                 s->path, strerror(errno));
        return STORE_ERR;
    }
    /* A disk that is full fails writes that need new space while a small
     * probe can still reuse space the -wal file already holds: ask for room
     * for a request of the default largest size, twice (data and index
     * pages in the -wal, then the checkpoint). */
    struct statvfs vfs;
    if (s->path && statvfs(s->path, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < STORE_MIN_FREE_BYTES) {
        snprintf(st->errmsg, sizeof st->errmsg,
                 "only %llu KiB are free on the file system of %s, less than the %u MiB a write "
                 "may need: free disk space",
                 (unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize / 1024), s->path,
                 STORE_MIN_FREE_BYTES >> 20);
        return STORE_ERR;
    }
    return sq_write_probe(s);
}

static int sq_begin(store_t *st)
{
    if (sq_simple(st, sq(st)->reader ? Q_BEGIN_READ : Q_BEGIN, "begin") != STORE_OK)
        return STORE_ERR;
    sq(st)->in_tx = true;
    return STORE_OK;
}

static int sq_commit(store_t *st)
{
    /* On failure the transaction (or its remains) stays the caller's to
     * roll back. */
    if (sq_simple(st, Q_COMMIT, "commit") != STORE_OK)
        return STORE_ERR;
    sq(st)->in_tx = false;
    return STORE_OK;
}

static int sq_rollback(store_t *st)
{
    sq_store_t *s = sq(st);
    s->in_tx = false;
    /* SQLite may already have rolled back on its own (disk full, I/O
     * error); then there is nothing left to undo. */
    if (sqlite3_get_autocommit(s->db))
        return STORE_OK;
    return sq_simple(st, Q_ROLLBACK, "rollback");
}

static int sq_savepoint(store_t *st)
{
    return sq_simple(st, Q_SAVEPOINT, "savepoint");
}

static int sq_release(store_t *st)
{
    return sq_simple(st, Q_RELEASE, "release");
}

static int sq_rollback_to(store_t *st)
{
    sq_store_t *s = sq(st);
    if (sqlite3_get_autocommit(s->db))
        return sq_failf(s, "rollback_to", "the transaction was already rolled back");
    /* Ending the savepoint too keeps nesting at one level per request. */
    if (sq_simple(st, Q_ROLLBACK_TO, "rollback_to") != STORE_OK)
        return STORE_ERR;
    return sq_simple(st, Q_RELEASE, "rollback_to");
}

static int sq_checkpoint(store_t *st)
{
    return sq_simple(st, Q_CHECKPOINT, "checkpoint");
}

/* ---- promises -------------------------------------------------------------- */

static int sq_promise_get(store_t *st, arena_t *a, const char *id, promise_t **out)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_PROMISE_GET];
    return sq_get_one(s, a, q, bind_str(q, 1, id), rd_promise, sizeof(promise_t), (void **)out,
                      "promise_get");
}

static bool pstate_valid(pstate_t v)
{
    return (int)v >= PSTATE_PENDING && (int)v <= PSTATE_REJECTED_TIMEDOUT;
}

static bool tstate_valid(tstate_t v)
{
    return (int)v >= TSTATE_PENDING && (int)v <= TSTATE_FULFILLED;
}

static int sq_promise_insert(store_t *st, const promise_t *p)
{
    static const char what[] = "promise_insert";
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_PROMISE_INSERT];
    if (!pstate_valid(p->state))
        return sq_failf(s, what, "invalid promise state");
    size_t ph, ph_end, vh, vh_end, tg, tg_end;
    s->buf.len = 0;
    if (enc_headers(s, &p->param, &ph, &ph_end, what) != STORE_OK ||
        enc_headers(s, &p->value, &vh, &vh_end, what) != STORE_OK ||
        enc_kvmap(s, &p->tags, &tg, &tg_end, what) != STORE_OK)
        return STORE_ERR;
    /* Bound only now: encoding may have moved the buffer. */
    int rc = bind_str(q, 1, p->id);
    rc |= bind_str(q, 2, pstate_name(p->state));
    rc |= bind_buf(s, q, 3, ph, ph_end);
    rc |= bind_str(q, 4, p->param.data);
    rc |= bind_buf(s, q, 5, vh, vh_end);
    rc |= bind_str(q, 6, p->value.data);
    rc |= bind_buf(s, q, 7, tg, tg_end);
    rc |= sqlite3_bind_int64(q, 8, p->timeout_at);
    rc |= sqlite3_bind_int64(q, 9, p->created_at);
    rc |= p->has_settled_at ? sqlite3_bind_int64(q, 10, p->settled_at) : sqlite3_bind_null(q, 10);
    rc |= bind_str(q, 11, kvmap_get(&p->tags, "resonate:branch"));
    if (sq_run(s, q, rc, what) != STORE_OK)
        return STORE_ERR;
    /* The tag index; tags never change after this (settle keeps them). */
    q = s->q[Q_PROMISE_TAG_INSERT];
    for (size_t i = 0; i < p->tags.n; i++) {
        rc = bind_str(q, 1, p->tags.items[i].key);
        rc |= bind_str(q, 2, p->tags.items[i].val);
        rc |= bind_str(q, 3, p->id);
        if (sq_run(s, q, rc, what) != STORE_OK)
            return STORE_ERR;
    }
    return STORE_OK;
}

static int sq_promise_settle(store_t *st, const char *id, pstate_t state, const pvalue_t *value,
                             int64_t settled_at)
{
    static const char what[] = "promise_settle";
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_PROMISE_SETTLE];
    if (!pstate_valid(state))
        return sq_failf(s, what, "invalid promise state");
    size_t vh, vh_end;
    s->buf.len = 0;
    if (enc_headers(s, value, &vh, &vh_end, what) != STORE_OK)
        return STORE_ERR;
    int rc = bind_str(q, 1, id);
    rc |= bind_str(q, 2, pstate_name(state));
    rc |= bind_buf(s, q, 3, vh, vh_end);
    rc |= bind_str(q, 4, value ? value->data : NULL);
    rc |= sqlite3_bind_int64(q, 5, settled_at);
    return sq_run(s, q, rc, what);
}

/* Binds at i the least string above every id that starts with prefix: the
 * prefix without its trailing 0xFF bytes, last byte incremented. When there
 * is none (no prefix, or one of 0xFF bytes only) an empty BLOB: SQLite
 * orders every TEXT below every BLOB, so "id < ?i" holds for every row and
 * each search keeps one plan, an index range on id. */
static int bind_upper(sqlite3_stmt *q, int i, const char *prefix)
{
    size_t n = prefix ? strlen(prefix) : 0;
    while (n > 0 && (unsigned char)prefix[n - 1] == 0xFF)
        n--;
    if (n == 0)
        return sqlite3_bind_zeroblob(q, i, 0);
    char *up = malloc(n);
    if (!up)
        return SQLITE_NOMEM;
    memcpy(up, prefix, n);
    up[n - 1] = (char)((unsigned char)up[n - 1] + 1);
    int rc = sqlite3_bind_text64(q, i, up, n, SQLITE_TRANSIENT, SQLITE_UTF8);
    free(up);
    return rc;
}

/* The lower bound of r's id range: the cursor (excluded) or the prefix
 * (included), whichever is higher; "" included when neither. */
static const char *search_lower(const search_req_t *r, bool *inclusive)
{
    const char *lo = r->cursor ? r->cursor : "";
    *inclusive = r->cursor == NULL;
    if (r->id_prefix && strcmp(lo, r->id_prefix) < 0) {
        lo = r->id_prefix;
        *inclusive = true;
    }
    return lo;
}

/* Binds the parameters shared by the search statements: ?1/?2 the lower id
 * bound and whether it is included, ?3 state name (or NULL), ?4 tag filter
 * (or NULL), the LIMIT at limit_i (one more than asked, to learn whether
 * more rows exist; with scan_cap, STORE_SEARCH_SCAN_MAX more as well) and the upper id bound at
 * limit_i + 1. The id range is [id_prefix, bind_upper) intersected with (cursor, ...): a cursor
 * below the prefix starts at the prefix. */
static int bind_search(sq_store_t *s, sqlite3_stmt *q, const search_req_t *r,
                       const char *state_name, bool tags, bool scan_cap, int limit_i, size_t *want,
                       const char *what)
{
    size_t tg = NO_TEXT, tg_end = NO_TEXT;
    s->buf.len = 0;
    if (tags && r->tags.n > 0 && enc_kvmap(s, &r->tags, &tg, &tg_end, what) != STORE_OK)
        return -1;
    int64_t lim = r->limit < 0 ? 0 : r->limit;
    *want = (size_t)lim;
    bool inclusive;
    const char *lo = search_lower(r, &inclusive);
    int rc = bind_str(q, 1, lo);
    rc |= sqlite3_bind_int(q, 2, inclusive);
    rc |= bind_str(q, 3, state_name);
    if (tags)
        rc |= bind_buf(s, q, 4, tg, tg_end);
    /* With scan_cap the caller counts the page and the rejected rows. */
    int64_t rows = scan_cap ? lim + STORE_SEARCH_SCAN_MAX : lim;
    rc |= sqlite3_bind_int64(q, limit_i, rows >= INT64_MAX - 1 ? INT64_MAX : rows + 1);
    rc |= bind_upper(q, limit_i + 1, r->id_prefix);
    return rc;
}

/* ---- promise search: a leapfrog join of sorted id lists --------------------
 *
 * Each filter of a promise search is a sorted list of ids, read from one
 * index: the state from promises_state, each tag from promise_tags, and with
 * no filter at all the primary key; the id range [lower, upper) bounds every
 * list. The matches are the ids present in every list. The join seeks each
 * list in turn to the current candidate: a list whose next id is past it
 * rejects the candidate and proposes its own id, so one call costs one seek
 * (O(log n)) per list per candidate, and the candidates are only ids of the
 * lists themselves. A single filter thus costs what it returns; when several
 * filters each match many rows but rarely together, the rejected candidates
 * are capped at STORE_SEARCH_SCAN_MAX per call and the cursor continues. */

typedef struct {
    sqlite3_stmt *q;           /* ?1 lower bound (rebound to seek), ?2 upper, ?3.. filter */
    bool open;                 /* stepped since ?1 was last bound */
    bool end;                  /* no id >= the last seek target: final, targets only grow */
    const unsigned char *head; /* current id while open && !end */
    int head_len;
    bool rowid; /* column 1 is the promise's rowid */
} lf_list_t;

/* A growing copy of one id (ids are bytes; no terminator needed inside). */
typedef struct {
    char *p;
    int len;
    size_t cap;
} lf_id_t;

static int lf_id_set(lf_id_t *x, const void *p, int len)
{
    if ((size_t)len + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 64;
        while (cap < (size_t)len + 1)
            cap *= 2;
        char *np = realloc(x->p, cap);
        if (!np)
            return -1;
        x->p = np;
        x->cap = cap;
    }
    memcpy(x->p, p, (size_t)len);
    x->p[len] = '\0';
    x->len = len;
    return 0;
}

/* Byte order, as SQLite's BINARY collation compares TEXT. */
static int lf_cmp(const unsigned char *a, int an, const char *b, int bn)
{
    int c = memcmp(a, b, (size_t)(an < bn ? an : bn));
    return c ? c : (an > bn) - (an < bn);
}

/* 1 with L->head set, 0 at the end of the list, -1 on error. */
static int lf_step(lf_list_t *L)
{
    int rc = sqlite3_step(L->q);
    if (rc == SQLITE_ROW) {
        L->head = sqlite3_column_text(L->q, 0);
        L->head_len = sqlite3_column_bytes(L->q, 0);
        return L->head ? 1 : -1;
    }
    if (rc == SQLITE_DONE) {
        L->end = true;
        return 0;
    }
    return -1;
}

static bool lf_reached(const lf_list_t *L, const lf_id_t *x, bool strict)
{
    int c = lf_cmp(L->head, L->head_len, x->p, x->len);
    return c > 0 || (c == 0 && !strict);
}

/* Moves L to its first id >= x (> x when strict): 1 found (L->head), 0 none,
 * -1 error. The next id is often the one wanted (dense matches, the step
 * after a match), so one step is tried before a new seek. */
static int lf_seek(lf_list_t *L, const lf_id_t *x, bool strict)
{
    if (L->end)
        return 0;
    if (L->open) {
        if (lf_reached(L, x, strict))
            return 1;
        int r = lf_step(L);
        if (r <= 0 || lf_reached(L, x, strict))
            return r;
    }
    sqlite3_reset(L->q);
    if (sqlite3_bind_text(L->q, 1, x->p, x->len, SQLITE_TRANSIENT) != SQLITE_OK)
        return -1;
    L->open = true;
    int r = lf_step(L);
    if (r == 1 && strict && !lf_reached(L, x, strict))
        r = lf_step(L);
    return r;
}

/* The i-th tag statement of s, prepared on first use. */
static sqlite3_stmt *tag_stmt(sq_store_t *s, size_t i)
{
    if (i >= s->n_tagq) {
        sqlite3_stmt **nq = realloc(s->tagq, (i + 1) * sizeof *nq);
        if (!nq)
            return NULL;
        s->tagq = nq;
        for (; s->n_tagq <= i; s->n_tagq++) {
            s->tagq[s->n_tagq] = NULL;
            if (sqlite3_prepare_v3(s->db, tag_seek_sql, -1, SQLITE_PREPARE_PERSISTENT,
                                   &s->tagq[s->n_tagq], NULL) != SQLITE_OK)
                return NULL;
        }
    }
    return s->tagq[i];
}

static int sq_promise_search(store_t *st, arena_t *a, const search_req_t *r, promise_t **out,
                             size_t *n, const char **cursor)
{
    static const char what[] = "promise_search";
    sq_store_t *s = sq(st);
    *out = NULL;
    *n = 0;
    *cursor = NULL;
    if (r->has_state && !pstate_valid((pstate_t)r->state))
        return sq_failf(s, what, "invalid promise state");
    if (sq_guard(s, what) != STORE_OK)
        return STORE_ERR;
    size_t want = r->limit < 0 ? 0 : (size_t)r->limit;
    size_t k = r->tags.n + (r->has_state ? 1 : 0);
    if (k == 0)
        k = 1;
    lf_list_t *L = calloc(k, sizeof *L);
    lf_id_t x = {0};
    promise_t *arr = NULL;
    size_t cnt = 0, cap = 0;
    int ret = STORE_ERR;
    if (!L) {
        sq_failf(s, what, "out of memory");
        goto done;
    }
    /* The lists: every tag, then the state; the primary key when neither. */
    size_t nl = 0;
    int rc = SQLITE_OK;
    for (size_t i = 0; i < r->tags.n; i++, nl++) {
        if (!(L[nl].q = tag_stmt(s, i))) {
            sq_fail(s, what);
            goto done;
        }
        rc |= bind_str(L[nl].q, 3, r->tags.items[i].key);
        rc |= bind_str(L[nl].q, 4, r->tags.items[i].val);
    }
    if (r->has_state) {
        L[nl].q = s->q[Q_PROMISE_IDS_STATE];
        L[nl].rowid = true;
        rc |= bind_str(L[nl++].q, 3, pstate_name((pstate_t)r->state));
    }
    if (nl == 0) {
        L[nl].q = s->q[Q_PROMISE_IDS];
        L[nl++].rowid = true;
    }
    for (size_t i = 0; i < nl; i++)
        rc |= bind_upper(L[i].q, 2, r->id_prefix);
    bool strict;
    const char *lo = search_lower(r, &strict);
    strict = !strict;
    if (rc != SQLITE_OK || lf_id_set(&x, lo, (int)strlen(lo)) != 0) {
        sq_failf(s, what, rc != SQLITE_OK ? sqlite3_errmsg(s->db) : "out of memory");
        goto done;
    }
    /* x is the candidate; x_open: it is an id of some list, not yet matched
     * or rejected (the starting bound is not). agree counts the lists seen
     * to hold x since it became the candidate. */
    bool x_open = false;
    size_t agree = 0, rejected = 0, bytes = 0;
    for (size_t i = 0;; i = (i + 1) % nl) {
        int f = lf_seek(&L[i], &x, strict);
        if (f < 0) {
            sq_fail(s, what);
            goto done;
        }
        if (f == 0)
            break; /* a list is exhausted: no further match */
        if (!strict && lf_cmp(L[i].head, L[i].head_len, x.p, x.len) == 0) {
            agree++;
        } else {
            if (x_open && ++rejected >= STORE_SEARCH_SCAN_MAX) {
                /* Every id up to x is decided; a full page keeps the
                 * cursor at its last id, as without the cap. */
                *cursor = cnt && cnt == want ? arr[cnt - 1].id : arena_strndup(a, x.p, x.len);
                break;
            }
            if (lf_id_set(&x, L[i].head, L[i].head_len) != 0) {
                sq_failf(s, what, "out of memory");
                goto done;
            }
            strict = false;
            x_open = true;
            agree = 1;
        }
        if (agree < nl)
            continue;
        /* x is in every list: a match. */
        if (cnt == want) {
            *cursor = cnt ? arr[cnt - 1].id : NULL;
            break;
        }
        /* The record, read straight into the page; every list's head is x
         * now, and the last list (state or primary key) knows its rowid. */
        sqlite3_stmt *g = s->q[L[nl - 1].rowid ? Q_PROMISE_BY_ROWID : Q_PROMISE_GET];
        arr = grow(a, arr, cnt, &cap, sizeof *arr);
        int grc = L[nl - 1].rowid ? sqlite3_bind_int64(g, 1, sqlite3_column_int64(L[nl - 1].q, 1))
                                  : sqlite3_bind_text(g, 1, x.p, x.len, SQLITE_STATIC);
        if (grc == SQLITE_OK)
            grc = sqlite3_step(g);
        /* The byte budget: a page of large promises ends before the one
         * that would pass it, as a full page does. */
        size_t row = grc == SQLITE_ROW ? row_bytes(g) : 0;
        if (grc == SQLITE_ROW && cnt && store_over_budget(bytes, row, STORE_SEARCH_MAX_BYTES)) {
            sq_done(g);
            *cursor = arr[cnt - 1].id;
            break;
        }
        bytes += row;
        if (grc == SQLITE_ROW && rd_promise(a, g, &arr[cnt]) != 0)
            grc = SQLITE_CORRUPT;
        if (grc != SQLITE_ROW) {
            if (grc == SQLITE_DONE || grc == SQLITE_CORRUPT)
                sq_failf(s, what, "corrupt index in database: a listed promise is missing");
            else
                sq_fail(s, what);
            sq_done(g);
            goto done;
        }
        sq_done(g);
        cnt++;
        strict = true;
        x_open = false;
        agree = 0;
    }
    ret = STORE_OK;
done:
    for (size_t i = 0; L && i < k; i++)
        if (L[i].q)
            sq_done(L[i].q);
    free(L);
    free(x.p);
    if (ret == STORE_OK) {
        *out = arr;
        *n = cnt;
    } else {
        *cursor = NULL;
    }
    return ret;
}

static int sq_promise_due(store_t *st, arena_t *a, int64_t t, size_t limit, const char ***ids,
                          size_t *n)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_PROMISE_DUE];
    int rc = sqlite3_bind_int64(q, 1, t);
    rc |= bind_limit(q, 2, limit);
    return sq_collect(s, a, q, rc, rd_string, sizeof(const char *), (void **)ids, n, NULL, NULL,
                      "promise_due");
}

static int sq_promise_branch(store_t *st, arena_t *a, const char *branch, const char *exclude_id,
                             size_t max_n, size_t max_bytes, promise_t **out, size_t *n, bool *more)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_PROMISE_BRANCH];
    int rc = bind_str(q, 1, branch);
    rc |= bind_str(q, 2, exclude_id);
    /* One row past max_n tells whether something was left out. */
    rc |= bind_limit(q, 3, max_n ? max_n + 1 : SIZE_MAX);
    return sq_collect_budget(s, a, q, rc, rd_promise, sizeof(promise_t), (void **)out, n,
                             max_n ? &max_n : NULL, max_bytes, false, more, "promise_branch");
}

/* ---- callbacks and listeners ------------------------------------------------ */

static int sq_callback_insert(store_t *st, const char *awaited, const char *awaiter, bool ready)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_CALLBACK_INSERT];
    int rc = bind_str(q, 1, awaited);
    rc |= bind_str(q, 2, awaiter);
    rc |= sqlite3_bind_int(q, 3, ready ? 1 : 0);
    return sq_run(s, q, rc, "callback_insert");
}

/* Reads the strings that select returns (?1 key, then ?2 after when
 * after_param, then the row limit: max + 1, or none when max is 0), at most
 * max of them, then runs change over those (?1 key, ?2 after when
 * after_param, then the last string read) unless there were none: the
 * read-then-update of callback_ready and listener_take. *more says whether
 * a row was left out. On failure *out and *n are cleared. */
static int sq_take(sq_store_t *s, arena_t *a, int select, int change, const char *key,
                   bool after_param, const char *after, size_t max, const char ***out, size_t *n,
                   bool *more, const char *what)
{
    sqlite3_stmt *q = s->q[select];
    int p = 1;
    int rc = bind_str(q, p++, key);
    if (after_param)
        rc |= bind_str(q, p++, after ? after : "");
    rc |= bind_limit(q, p, max ? max + 1 : SIZE_MAX);
    if (sq_collect(s, a, q, rc, rd_string, sizeof(const char *), (void **)out, n, max ? &max : NULL,
                   more, what) != STORE_OK)
        return STORE_ERR;
    if (*n == 0)
        return STORE_OK;
    q = s->q[change];
    p = 1;
    rc = bind_str(q, p++, key);
    if (after_param)
        rc |= bind_str(q, p++, after ? after : "");
    rc |= bind_str(q, p, (*out)[*n - 1]);
    if (sq_run(s, q, rc, what) != STORE_OK) {
        *out = NULL;
        *n = 0;
        *more = false;
        return STORE_ERR;
    }
    return STORE_OK;
}

static int sq_callback_ready(store_t *st, arena_t *a, const char *awaited, const char *after,
                             size_t max, const char ***awaiters, size_t *n, bool *more)
{
    return sq_take(sq(st), a, Q_CALLBACK_AWAITERS, Q_CALLBACK_MARK_READY, awaited, true, after, max,
                   awaiters, n, more, "callback_ready");
}

static int sq_callback_delete_awaiter(store_t *st, const char *awaiter)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_CALLBACK_DELETE_AWAITER];
    return sq_run(s, q, bind_str(q, 1, awaiter), "callback_delete_awaiter");
}

static int sq_callback_delete_ready(store_t *st, const char *awaiter)
{
    static const char what[] = "callback_delete_ready";
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_CALLBACK_DELETE_READY];
    if (sq_run(s, q, bind_str(q, 1, awaiter), what) != STORE_OK)
        return STORE_ERR;
    q = s->q[Q_CALLBACK_DELETE_LISTED];
    return sq_run(s, q, bind_str(q, 1, awaiter), what);
}

static int sq_listener_insert(store_t *st, const char *promise_id, const char *address)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_LISTENER_INSERT];
    int rc = bind_str(q, 1, promise_id);
    rc |= bind_str(q, 2, address);
    return sq_run(s, q, rc, "listener_insert");
}

static int sq_listener_take(store_t *st, arena_t *a, const char *promise_id, size_t max,
                            const char ***addresses, size_t *n, bool *more)
{
    return sq_take(sq(st), a, Q_LISTENER_SELECT, Q_LISTENER_DELETE, promise_id, false, NULL, max,
                   addresses, n, more, "listener_take");
}

static int sq_listener_count(store_t *st, const char *promise_id, const char *address, size_t max,
                             size_t *n, bool *registered)
{
    static const char what[] = "listener_count";
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_LISTENER_COUNT];
    *n = 0;
    *registered = false;
    int rc = bind_str(q, 1, promise_id);
    rc |= bind_limit(q, 2, max);
    rc |= bind_str(q, 3, address);
    int ret = STORE_OK;
    if (rc != SQLITE_OK) {
        ret = sq_fail(s, what);
    } else if (sq_guard(s, what) != STORE_OK) {
        ret = STORE_ERR;
    } else if (sqlite3_step(q) == SQLITE_ROW) {
        *n = (size_t)sqlite3_column_int64(q, 0);
        *registered = sqlite3_column_int(q, 1) != 0;
    } else {
        ret = sq_fail(s, what);
    }
    sq_done(q);
    return ret;
}

/* ---- the fan-out list ------------------------------------------------------- */

static int sq_fanout_add(store_t *st, const char *id, const char *after)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_FANOUT_ADD];
    int rc = bind_str(q, 1, id);
    rc |= bind_str(q, 2, after);
    return sq_run(s, q, rc, "fanout_add");
}

static int rd_fanout(arena_t *a, sqlite3_stmt *q, void *row)
{
    fanout_t *f = row;
    f->id = col_str(a, q, 0);
    f->after = col_str(a, q, 1);
    return f->id ? 0 : -1;
}

static int sq_fanout_due(store_t *st, arena_t *a, size_t limit, fanout_t **out, size_t *n)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_FANOUT_DUE];
    return sq_collect(s, a, q, bind_limit(q, 1, limit ? limit : SIZE_MAX), rd_fanout,
                      sizeof(fanout_t), (void **)out, n, NULL, NULL, "fanout_due");
}

static int sq_fanout_pass(store_t *st, const char *id, const char *after)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_FANOUT_PASS];
    int rc = bind_str(q, 1, id);
    rc |= bind_str(q, 2, after);
    return sq_run(s, q, rc, "fanout_pass");
}

static int sq_fanout_delete(store_t *st, const char *id)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_FANOUT_DELETE];
    return sq_run(s, q, bind_str(q, 1, id), "fanout_delete");
}

/* ---- tasks and their timers ------------------------------------------------- */

static int sq_task_get(store_t *st, arena_t *a, const char *id, task_t **out)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_TASK_GET];
    return sq_get_one(s, a, q, bind_str(q, 1, id), rd_task, sizeof(task_t), (void **)out,
                      "task_get");
}

static int task_write(store_t *st, int which, const char *id, tstate_t state, int64_t version,
                      const char *what)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[which];
    if (!tstate_valid(state))
        return sq_failf(s, what, "invalid task state");
    int rc = bind_str(q, 1, id);
    rc |= bind_str(q, 2, tstate_name(state));
    rc |= sqlite3_bind_int64(q, 3, version);
    return sq_run(s, q, rc, what);
}

static int sq_task_insert(store_t *st, const char *id, tstate_t state, int64_t version)
{
    return task_write(st, Q_TASK_INSERT, id, state, version, "task_insert");
}

static int sq_task_update(store_t *st, const char *id, tstate_t state, int64_t version)
{
    return task_write(st, Q_TASK_UPDATE, id, state, version, "task_update");
}

static int sq_task_search(store_t *st, arena_t *a, const search_req_t *r, task_t **out, size_t *n,
                          const char **cursor)
{
    static const char what[] = "task_search";
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[r->has_state ? Q_TASK_SEARCH_STATE : Q_TASK_SEARCH];
    *out = NULL;
    *n = 0;
    *cursor = NULL;
    if (r->has_state && !tstate_valid((tstate_t)r->state))
        return sq_failf(s, what, "invalid task state");
    size_t want;
    bool more;
    int brc = bind_search(s, q, r, r->has_state ? tstate_name((tstate_t)r->state) : NULL, false,
                          false, 4, &want, what);
    if (sq_collect(s, a, q, brc, rd_task, sizeof(task_t), (void **)out, n, &want, &more, what) !=
        STORE_OK)
        return STORE_ERR;
    *cursor = more && *n ? (*out)[*n - 1].id : NULL;
    return STORE_OK;
}

static int sq_timer_get(store_t *st, arena_t *a, const char *id, task_timer_t **out)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_TIMER_GET];
    return sq_get_one(s, a, q, bind_str(q, 1, id), rd_timer, sizeof(task_timer_t), (void **)out,
                      "timer_get");
}

static int sq_timer_set(store_t *st, const task_timer_t *t)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_TIMER_SET];
    int rc = bind_str(q, 1, t->id);
    rc |= sqlite3_bind_int(q, 2, t->type);
    rc |= sqlite3_bind_int64(q, 3, t->timeout);
    rc |= bind_str(q, 4, t->pid);
    rc |= sqlite3_bind_int64(q, 5, t->ttl);
    return sq_run(s, q, rc, "timer_set");
}

static int sq_timer_delete(store_t *st, const char *id)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_TIMER_DELETE];
    return sq_run(s, q, bind_str(q, 1, id), "timer_delete");
}

static int sq_timer_due(store_t *st, arena_t *a, int64_t t, size_t limit, task_timer_t **out,
                        size_t *n)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_TIMER_DUE];
    int rc = sqlite3_bind_int64(q, 1, t);
    rc |= bind_limit(q, 2, limit);
    return sq_collect(s, a, q, rc, rd_timer, sizeof(task_timer_t), (void **)out, n, NULL, NULL,
                      "timer_due");
}

static int sq_lease_renew_pid(store_t *st, const char *pid, const char *prefix, int64_t now)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_LEASE_RENEW_PID];
    int rc = bind_str(q, 1, pid);
    rc |= sqlite3_bind_int64(q, 2, now);
    rc |= bind_str(q, 3, prefix ? prefix : "");
    rc |= bind_upper(q, 4, prefix);
    return sq_run(s, q, rc, "lease_renew_pid");
}

/* ---- outbox ------------------------------------------------------------------ */

static int sq_outbox_execute(store_t *st, const char *task_id, int64_t version, const char *address,
                             int64_t not_before)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_OUTBOX_EXECUTE];
    int rc = bind_str(q, 1, task_id);
    rc |= sqlite3_bind_int64(q, 2, version);
    rc |= bind_str(q, 3, address);
    rc |= sqlite3_bind_int64(q, 4, not_before);
    return sq_run(s, q, rc, "outbox_execute");
}

static int sq_outbox_unblock(store_t *st, const char *promise_id, const char *address)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_OUTBOX_UNBLOCK];
    int rc = bind_str(q, 1, promise_id);
    rc |= bind_str(q, 2, address);
    return sq_run(s, q, rc, "outbox_unblock");
}

static int sq_outbox_due(store_t *st, arena_t *a, int64_t t, size_t limit, outbox_msg_t **out,
                         size_t *n)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_OUTBOX_DUE];
    int rc = sqlite3_bind_int64(q, 1, t);
    rc |= bind_limit(q, 2, limit);
    return sq_collect(s, a, q, rc, rd_outbox, sizeof(outbox_msg_t), (void **)out, n, NULL, NULL,
                      "outbox_due");
}

static int sq_outbox_delete(store_t *st, int64_t seq)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_OUTBOX_DELETE];
    return sq_run(s, q, sqlite3_bind_int64(q, 1, seq), "outbox_delete");
}

static int sq_outbox_defer(store_t *st, int64_t seq, int64_t not_before, int attempts)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_OUTBOX_DEFER];
    int rc = sqlite3_bind_int64(q, 1, seq);
    rc |= sqlite3_bind_int64(q, 2, not_before);
    rc |= sqlite3_bind_int(q, 3, attempts);
    return sq_run(s, q, rc, "outbox_defer");
}

static int sq_outbox_count(store_t *st, int64_t *n)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_OUTBOX_COUNT];
    if (sq_guard(s, "outbox_count") != STORE_OK)
        return STORE_ERR;
    int rc = sqlite3_step(q);
    int ret = STORE_OK;
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(q, 0);
    else
        ret = sq_fail(s, "outbox_count");
    sq_done(q);
    return ret;
}

/* One server per file (the file is locked by its writer): every claim is
 * won, this server is always the leader and no other server ever queues a
 * message (core/store.h). */
static int sq_outbox_claim(store_t *st, int64_t seq, int64_t now, int64_t until, bool *won)
{
    (void)st;
    (void)seq;
    (void)now;
    (void)until;
    *won = true;
    return STORE_OK;
}

static int sq_leader(store_t *st, bool *leader)
{
    (void)st;
    *leader = true;
    return STORE_OK;
}

static int sq_watch(store_t *st, void (*fn)(void *arg), void *arg)
{
    (void)st;
    (void)fn;
    (void)arg;
    return STORE_OK;
}

/* ---- schedules --------------------------------------------------------------- */

static int sq_schedule_get(store_t *st, arena_t *a, const char *id, schedule_t **out)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_SCHEDULE_GET];
    return sq_get_one(s, a, q, bind_str(q, 1, id), rd_schedule, sizeof(schedule_t), (void **)out,
                      "schedule_get");
}

static int sq_schedule_insert(store_t *st, const schedule_t *sc)
{
    static const char what[] = "schedule_insert";
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_SCHEDULE_INSERT];
    size_t ph, ph_end, tg, tg_end;
    s->buf.len = 0;
    if (enc_headers(s, &sc->promise_param, &ph, &ph_end, what) != STORE_OK ||
        enc_kvmap(s, &sc->promise_tags, &tg, &tg_end, what) != STORE_OK)
        return STORE_ERR;
    int rc = bind_str(q, 1, sc->id);
    rc |= bind_str(q, 2, sc->cron);
    rc |= bind_str(q, 3, sc->promise_id);
    rc |= sqlite3_bind_int64(q, 4, sc->promise_timeout);
    rc |= bind_buf(s, q, 5, ph, ph_end);
    rc |= bind_str(q, 6, sc->promise_param.data);
    rc |= bind_buf(s, q, 7, tg, tg_end);
    rc |= sqlite3_bind_int64(q, 8, sc->created_at);
    rc |= sqlite3_bind_int64(q, 9, sc->next_run_at);
    rc |=
        sc->has_last_run_at ? sqlite3_bind_int64(q, 10, sc->last_run_at) : sqlite3_bind_null(q, 10);
    return sq_run(s, q, rc, what);
}

static int sq_schedule_delete(store_t *st, const char *id, bool *found)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_SCHEDULE_DELETE];
    *found = false;
    if (sq_run(s, q, bind_str(q, 1, id), "schedule_delete") != STORE_OK)
        return STORE_ERR;
    *found = sqlite3_changes(s->db) > 0;
    return STORE_OK;
}

/* Schedules have no tag index (they are few): the scan reads the id range
 * in order and stops after STORE_SEARCH_SCAN_MAX rows that do not match. */
static int sq_schedule_search(store_t *st, arena_t *a, const search_req_t *r, schedule_t **out,
                              size_t *n, const char **cursor)
{
    static const char what[] = "schedule_search";
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_SCHEDULE_SEARCH];
    *out = NULL;
    *n = 0;
    *cursor = NULL;
    schedule_t *arr = NULL;
    size_t want, cnt = 0, cap = 0, rejected = 0, bytes = 0;
    int ret = STORE_ERR;
    int brc = bind_search(s, q, r, NULL, true, true, 5, &want, what);
    if (brc != SQLITE_OK) {
        if (brc > 0)
            sq_fail(s, what);
        goto done;
    }
    if (sq_guard(s, what) != STORE_OK)
        goto done;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!sqlite3_column_int(q, 10)) {
            if (++rejected < STORE_SEARCH_SCAN_MAX)
                continue;
            /* The cap: every id up to this one is decided; a full page
             * keeps the cursor at its last id, as without the cap. */
            *cursor = cnt && cnt == want ? arr[cnt - 1].id : col_str(a, q, 0);
            if (!*cursor) {
                sq_failf(s, what, "corrupt row in database");
                goto done;
            }
            break;
        }
        /* A full page, or one the next schedule would take past the byte
         * budget, ends here. */
        size_t row = row_bytes(q);
        if (cnt == want || (cnt && store_over_budget(bytes, row, STORE_SEARCH_MAX_BYTES))) {
            *cursor = cnt ? arr[cnt - 1].id : NULL;
            break;
        }
        bytes += row;
        arr = grow(a, arr, cnt, &cap, sizeof *arr);
        if (rd_schedule(a, q, &arr[cnt]) != 0) {
            sq_failf(s, what, "corrupt row in database");
            goto done;
        }
        cnt++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sq_fail(s, what);
        goto done;
    }
    *out = arr;
    *n = cnt;
    ret = STORE_OK;
done:
    sq_done(q);
    if (ret != STORE_OK)
        *cursor = NULL;
    return ret;
}

static int sq_schedule_due(store_t *st, arena_t *a, int64_t t, size_t limit, size_t max_bytes,
                           schedule_t **out, size_t *n, bool *more)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_SCHEDULE_DUE];
    int rc = sqlite3_bind_int64(q, 1, t);
    rc |= bind_limit(q, 2, limit);
    return sq_collect_budget(s, a, q, rc, rd_schedule, sizeof(schedule_t), (void **)out, n, NULL,
                             max_bytes, true, more, "schedule_due");
}

static int sq_schedule_advance(store_t *st, const char *id, int64_t last_run_at,
                               int64_t next_run_at)
{
    sq_store_t *s = sq(st);
    sqlite3_stmt *q = s->q[Q_SCHEDULE_ADVANCE];
    int rc = bind_str(q, 1, id);
    rc |= sqlite3_bind_int64(q, 2, last_run_at);
    rc |= sqlite3_bind_int64(q, 3, next_run_at);
    return sq_run(s, q, rc, "schedule_advance");
}

/* ---- debug ------------------------------------------------------------------- */

static int sq_reset(store_t *st)
{
    sq_store_t *s = sq(st);
    char *msg = NULL;
    if (sq_guard(s, "reset") != STORE_OK)
        return STORE_ERR;
    if (sqlite3_exec(s->db, reset_sql, NULL, NULL, &msg) != SQLITE_OK) {
        sq_failf(s, "reset", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return STORE_ERR;
    }
    return STORE_OK;
}

static int sq_snap(store_t *st, arena_t *a, store_snap_t *out)
{
    static const char what[] = "snap";
    sq_store_t *s = sq(st);
    memset(out, 0, sizeof *out);
    if (sq_collect(s, a, s->q[Q_SNAP_PROMISES], SQLITE_OK, rd_promise, sizeof(promise_t),
                   (void **)&out->promises, &out->n_promises, NULL, NULL, what) != STORE_OK ||
        sq_collect(s, a, s->q[Q_SNAP_CALLBACKS], SQLITE_OK, rd_callback, sizeof(callback_t),
                   (void **)&out->callbacks, &out->n_callbacks, NULL, NULL, what) != STORE_OK ||
        sq_collect(s, a, s->q[Q_SNAP_LISTENERS], SQLITE_OK, rd_listener, sizeof(listener_t),
                   (void **)&out->listeners, &out->n_listeners, NULL, NULL, what) != STORE_OK ||
        sq_collect(s, a, s->q[Q_SNAP_TASKS], SQLITE_OK, rd_task, sizeof(task_t),
                   (void **)&out->tasks, &out->n_tasks, NULL, NULL, what) != STORE_OK ||
        sq_collect(s, a, s->q[Q_SNAP_TIMERS], SQLITE_OK, rd_timer, sizeof(task_timer_t),
                   (void **)&out->timers, &out->n_timers, NULL, NULL, what) != STORE_OK ||
        sq_collect(s, a, s->q[Q_SNAP_MESSAGES], SQLITE_OK, rd_outbox, sizeof(outbox_msg_t),
                   (void **)&out->messages, &out->n_messages, NULL, NULL, what) != STORE_OK) {
        memset(out, 0, sizeof *out);
        return STORE_ERR;
    }
    return STORE_OK;
}

static const store_vtab_t sqlite_vtab = {
    .close = sq_close,
    .ping = sq_ping,
    .check = sq_check,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .release = sq_release,
    .rollback_to = sq_rollback_to,
    .checkpoint = sq_checkpoint,
    .promise_get = sq_promise_get,
    .promise_insert = sq_promise_insert,
    .promise_settle = sq_promise_settle,
    .promise_search = sq_promise_search,
    .promise_due = sq_promise_due,
    .promise_branch = sq_promise_branch,
    .callback_insert = sq_callback_insert,
    .callback_ready = sq_callback_ready,
    .callback_delete_awaiter = sq_callback_delete_awaiter,
    .callback_delete_ready = sq_callback_delete_ready,
    .listener_insert = sq_listener_insert,
    .listener_take = sq_listener_take,
    .listener_count = sq_listener_count,
    .fanout_add = sq_fanout_add,
    .fanout_due = sq_fanout_due,
    .fanout_pass = sq_fanout_pass,
    .fanout_delete = sq_fanout_delete,
    .task_get = sq_task_get,
    .task_insert = sq_task_insert,
    .task_update = sq_task_update,
    .task_search = sq_task_search,
    .timer_get = sq_timer_get,
    .timer_set = sq_timer_set,
    .timer_delete = sq_timer_delete,
    .timer_due = sq_timer_due,
    .lease_renew_pid = sq_lease_renew_pid,
    .outbox_execute = sq_outbox_execute,
    .outbox_unblock = sq_outbox_unblock,
    .outbox_due = sq_outbox_due,
    .outbox_delete = sq_outbox_delete,
    .outbox_defer = sq_outbox_defer,
    .outbox_count = sq_outbox_count,
    .outbox_claim = sq_outbox_claim,
    .leader = sq_leader,
    .watch = sq_watch,
    .schedule_get = sq_schedule_get,
    .schedule_insert = sq_schedule_insert,
    .schedule_delete = sq_schedule_delete,
    .schedule_search = sq_schedule_search,
    .schedule_due = sq_schedule_due,
    .schedule_advance = sq_schedule_advance,
    .reset = sq_reset,
    .snap = sq_snap,
};

/* ---- open and migrate ------------------------------------------------------ */

/* Reads the integer a pragma such as "PRAGMA user_version" returns. */
static int read_pragma_int(sqlite3 *db, const char *pragma, int *out, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, pragma, -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        snprintf(err, errlen, "reading %s: %s", pragma + 7, sqlite3_errmsg(db));
        sqlite3_finalize(q);
        return -1;
    }
    *out = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return 0;
}

static int read_user_version(sqlite3 *db, int *version, char *err, size_t errlen)
{
    return read_pragma_int(db, "PRAGMA user_version", version, err, errlen);
}

static int check_version(int version, int known, char *err, size_t errlen)
{
    if (version < 0 || version > known) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this build supports (%d); "
                 "use a newer resonate or another database file",
                 version, known);
        return -1;
    }
    return 0;
}

int store_sqlite_migrate(sqlite3 *db, const char *const *steps, int n_steps, char *err,
                         size_t errlen)
{
    char *msg = NULL;
    int version;
    /* Step 3 -> 4 edits sqlite_schema, which a connection in defensive mode
     * (a build may turn it on by default) refuses: off while migrating, then
     * as it was. */
    int defensive = 0;
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, -1, &defensive);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 0, NULL);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "starting schema migration: %s", msg ? msg : sqlite3_errmsg(db));
        goto fail;
    }
    /* Read under the write lock, so two processes opening a fresh file
     * cannot both apply the same steps. */
    if (read_user_version(db, &version, err, errlen) != 0 ||
        check_version(version, n_steps, err, errlen) != 0)
        goto fail;
    for (int v = version; v < n_steps; v++) {
        if (sqlite3_exec(db, steps[v], NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "schema migration %d -> %d failed: %s", v, v + 1,
                     msg ? msg : sqlite3_errmsg(db));
            goto fail;
        }
    }
    if (version < n_steps) {
        /* A step may edit sqlite_schema directly (writable_schema): bumping
         * the schema cookie makes every connection, this one included,
         * parse the schema again. CREATE and DROP bump it anyway. */
        int cookie;
        if (read_pragma_int(db, "PRAGMA schema_version", &cookie, err, errlen) != 0)
            goto fail;
        char set[96];
        snprintf(set, sizeof set, "PRAGMA schema_version = %d; PRAGMA user_version = %d",
                 cookie + 1, n_steps);
        if (sqlite3_exec(db, set, NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "setting schema version: %s", msg ? msg : sqlite3_errmsg(db));
            goto fail;
        }
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "committing schema migration: %s", msg ? msg : sqlite3_errmsg(db));
        goto fail;
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, defensive, NULL);
    return 0;
fail:
    sqlite3_free(msg);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, defensive, NULL);
    return -1;
}

const char *const *store_sqlite_migrations(void)
{
    return migrations;
}

int store_sqlite_exec(store_t *st, const char *text)
{
    sq_store_t *s = sq(st);
    char *msg = NULL;
    if (sqlite3_exec(s->db, text, NULL, NULL, &msg) != SQLITE_OK) {
        sq_failf(s, "exec", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return STORE_ERR;
    }
    return STORE_OK;
}

sqlite3 *store_sqlite_db(store_t *st)
{
    return sq(st)->db;
}

/* Why path may not be writable, as advice for an error message ("" when
 * the file and its directory both look writable). */
static void write_hint(const char *path, char *out, size_t outlen)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    const char *d = dirname(dir);
    struct stat sb;
    out[0] = '\0';
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(out, outlen,
                 "; it is a directory: set storage.sqlite.path to a file in it (e.g. "
                 "%s/resonate.db)",
                 path);
    else if (stat(d, &sb) != 0 && errno == ENOENT)
        snprintf(out, outlen,
                 "; its directory %s does not exist: create it (mkdir -p %s, writable by the "
                 "server's user), or set storage.sqlite.path elsewhere",
                 d, d);
    else if (access(path, F_OK) == 0 && access(path, W_OK) != 0)
        snprintf(out, outlen,
                 "; the file is not writable by this process (%s): make it writable by the "
                 "server's user (chown/chmod), or set storage.sqlite.path to a writable file",
                 strerror(errno));
    else if (access(d, W_OK) != 0)
        snprintf(out, outlen,
                 "; its directory %s is not writable by this process (%s), and SQLite must "
                 "create the -wal and -shm files next to the database: make the directory "
                 "writable by the server's user, or set storage.sqlite.path elsewhere",
                 d, strerror(errno));
}

/* Refuses a database this process cannot write: SQLite silently opens an
 * unwritable file read-only, and every write would then fail while reads
 * (and a read-only readiness check) still worked. */
static int check_writable(sq_store_t *s, const char *path, char *err, size_t errlen)
{
    char hint[640];
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        write_hint(path, hint, sizeof hint);
        snprintf(err, errlen, "%s is read-only for this process%s", path,
                 hint[0] ? hint
                         : " (a read-only mount?): make it writable, or set "
                           "storage.sqlite.path to a writable file");
        return -1;
    }
    /* A real write and commit, as the readiness probe does (a nearly full
     * disk does not stop the start: /ready reports it). */
    if (sq_write_probe(s) != STORE_OK) {
        write_hint(path, hint, sizeof hint);
        snprintf(err, errlen, "%s cannot be written: %s%s", path, s->base.errmsg,
                 hint[0] ? hint : "; check free disk space and the file's permissions");
        return -1;
    }
    return 0;
}

/* Prepares every statement of sql[] on s's connection. Returns 0, or -1
 * with the reason in err. */
static int prepare_all(sq_store_t *s, const char *path, char *err, size_t errlen)
{
    for (int i = 0; i < Q__COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) !=
            SQLITE_OK) {
            snprintf(err, errlen, "%s: preparing statement %d: %s", path, i, sqlite3_errmsg(s->db));
            return -1;
        }
    }
    return 0;
}

/* Process-wide settings, made once before the first connection opens
 * (sqlite3_config refuses them once the library is initialized). Memory
 * statistics off: with them on, every allocation SQLite makes takes one
 * global mutex to count it, about 37 per promise.create, shared by the
 * store thread and every reader; nothing here reads the statistics.
 * Measured with callgrind on `resonate dev`: 6.5% fewer instructions per
 * promise.create (bench/README.md). */
static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void library_configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

store_t *store_sqlite_open(const char *path, char *err, size_t errlen)
{
    pthread_once(&library_once, library_configure);
    char *msg = NULL;
    sq_store_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.v = &sqlite_vtab;
    /* Optimistic (core/store.h): a savepoint makes SQLite copy every page a
     * request is about to change into a statement journal first, ~8 pages
     * of 4 KiB and 20 allocations per promise.create, for a rollback that
     * almost never comes. Without one a failed request costs its batch a
     * second run instead (server/exec.c). Measured with callgrind on
     * `resonate serve`: 16% fewer instructions per promise.create, and
     * 12-16% less CPU on the store thread (bench/README.md). */
    s->base.optimistic = true;
    /* NOMUTEX: the store is used by one thread at a time (store.h), so
     * SQLite's per-call locking would be pure overhead. */
    bool memory = strcmp(path, ":memory:") == 0;
    if (!memory && !(s->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    char hint[640] = "";
    if (rc != SQLITE_OK) {
        if (!memory)
            write_hint(path, hint, sizeof hint);
        snprintf(err, errlen, "cannot open %s: %s%s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc), hint);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (!memory && sqlite3_db_readonly(s->db, "main") == 1) {
        check_writable(s, path, err, errlen);
        goto fail;
    }

    /* Refuse a file from a newer release before changing anything in it
     * (journal_mode=WAL below is persistent). */
    int version;
    char why[256];
    if (read_user_version(s->db, &version, why, sizeof why) != 0 ||
        check_version(version, STORE_SCHEMA_VERSION, why, sizeof why) != 0) {
        if (sqlite3_errcode(s->db) == SQLITE_NOTADB)
            snprintf(hint, sizeof hint,
                     "; the file is not a SQLite database, or is damaged: check that "
                     "storage.sqlite.path names the server's database, restore it from a "
                     "backup, or move it aside to start with an empty one");
        else if (!memory)
            write_hint(path, hint, sizeof hint);
        snprintf(err, errlen, "%s: %s%s", path, why, hint);
        goto fail;
    }
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        if (!memory)
            write_hint(path, hint, sizeof hint);
        snprintf(err, errlen, "%s: setting pragmas: %s%s", path, msg ? msg : sqlite3_errmsg(s->db),
                 hint);
        goto fail;
    }
    if (store_sqlite_migrate(s->db, migrations, N_MIGRATIONS, why, sizeof why) != 0) {
        if (!memory)
            write_hint(path, hint, sizeof hint);
        snprintf(err, errlen, "%s: %s%s", path, why, hint);
        goto fail;
    }
    if (prepare_all(s, path, err, errlen) != 0)
        goto fail;
    if (!memory && check_writable(s, path, err, errlen) != 0)
        goto fail;
    /* The write above left the -wal file open. */
    struct stat sb;
    size_t wl = strlen(path) + sizeof "-wal";
    if (!memory && (s->wal = malloc(wl)) && snprintf(s->wal, wl, "%s-wal", path) > 0 &&
        stat(s->wal, &sb) == 0) {
        s->wal_known = true;
        s->wal_dev = sb.st_dev;
        s->wal_ino = sb.st_ino;
    }
    return &s->base;
fail:
    sqlite3_free(msg);
    sq_close(&s->base);
    return NULL;
}

/* Read-only connections (see sqlite.h). A reader never migrates nor writes:
 * it refuses a file whose schema is not this build's (the writer, opened
 * first, has migrated it), and SQLITE_OPEN_READONLY makes any write fail.
 * It keeps a smaller page cache than the writer: there may be one per HTTP
 * thread, and the OS caches the file for all of them. */
store_t *store_sqlite_open_reader(const char *path, char *err, size_t errlen)
{
    pthread_once(&library_once, library_configure);
    sq_store_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.v = &sqlite_vtab;
    s->reader = true;
    if (strcmp(path, ":memory:") == 0) {
        snprintf(err, errlen,
                 "a private in-memory database (:memory:) has no read connections: "
                 "serve reads on the writer, or set storage.sqlite.path to a file");
        goto fail;
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s for reading: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    int version;
    char why[256];
    if (read_user_version(s->db, &version, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto fail;
    }
    if (version != STORE_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "%s: schema version %d, this build reads %d: open it with "
                 "store_sqlite_open (which migrates) before any reader",
                 path, version, STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (sqlite3_exec(s->db, "PRAGMA cache_size = -8192;", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: setting pragmas: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (prepare_all(s, path, err, errlen) != 0)
        goto fail;
    return &s->base;
fail:
    sq_close(&s->base);
    return NULL;
}
