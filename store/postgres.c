/* postgres.c - the PostgreSQL adapter of the storage port (see postgres.h,
 * core/store.h, docs/postgres.md).
 *
 * One libpq connection per store_t, every statement prepared once per
 * connection (again after a reconnect) and run with text parameters. Rows
 * mirror store/sqlite.c's schema: tags and headers as canonical JSON text
 * (store/kvjson.c), states by their wire names, ids with COLLATE "C" so that
 * ORDER BY id and the id ranges of searches are byte order, as the port
 * requires whatever the database's locale. A promise search by tags reads
 * the ids of one tag from promise_tags (an index, in id order) and checks
 * the state and the other tags (jsonb containment) on those rows only, at
 * most STORE_SEARCH_SCAN_MAX of them per call.
 *
 * Concurrency between servers (several writers on one database): the
 * writer's reads of a promise, task or schedule inside a transaction lock
 * the row (FOR UPDATE); READ COMMITTED then makes each statement see the
 * latest commit, so a settle, an acquire or a fence waits for the other
 * server's transaction and decides on its result. What a lock cannot cover
 * (a key that does not exist yet) the unique keys catch; those failures,
 * deadlocks and lock timeouts are STORE_FAULT_CONFLICT, retried by the
 * caller as a whole transaction.
 *
 * Round trips: the writer's transactions run in libpq's pipeline mode, so
 * a write costs no wait of its own ("pipeline" below). */
#include "store/postgres.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "store/kvjson.h"

/* ---- schema ---------------------------------------------------------------- */

/* migrations[v] takes a database from version v to v + 1; a release that
 * changes the schema appends a step, never edits an old one. */
static const char *const migrations[] = {
    /* 0 -> 1: the initial schema (store/sqlite.c's version 3, plus outbox
     * claims and one health row per connection). */
    "CREATE TABLE promises ("
    "  id            text COLLATE \"C\" PRIMARY KEY,"
    "  state         text NOT NULL CHECK (state IN ('pending', 'resolved', 'rejected',"
    "                  'rejected_canceled', 'rejected_timedout')),"
    "  param_headers text,"
    "  param_data    text,"
    "  value_headers text,"
    "  value_data    text,"
    "  tags          text NOT NULL,"
    "  branch        text COLLATE \"C\","
    "  timeout_at    bigint NOT NULL,"
    "  created_at    bigint NOT NULL,"
    "  settled_at    bigint"
    ");"
    "CREATE INDEX promises_due ON promises (timeout_at, id) WHERE state = 'pending';"
    "CREATE INDEX promises_branch ON promises (branch, id) WHERE branch IS NOT NULL;"
    "CREATE INDEX promises_state ON promises (state, id);"
    "CREATE TABLE callbacks ("
    "  awaited text COLLATE \"C\" NOT NULL,"
    "  awaiter text COLLATE \"C\" NOT NULL,"
    "  ready   boolean NOT NULL,"
    "  PRIMARY KEY (awaited, awaiter)"
    ");"
    "CREATE INDEX callbacks_awaiter ON callbacks (awaiter, ready);"
    "CREATE TABLE listeners ("
    "  promise_id text COLLATE \"C\" NOT NULL,"
    "  address    text COLLATE \"C\" NOT NULL,"
    "  PRIMARY KEY (promise_id, address)"
    ");"
    "CREATE TABLE tasks ("
    "  id      text COLLATE \"C\" PRIMARY KEY,"
    "  state   text NOT NULL CHECK (state IN ('pending', 'acquired', 'suspended', 'halted',"
    "            'fulfilled')),"
    "  version bigint NOT NULL"
    ");"
    "CREATE INDEX tasks_state ON tasks (state, id);"
    "CREATE TABLE task_timers ("
    "  id         text COLLATE \"C\" PRIMARY KEY,"
    "  type       integer NOT NULL CHECK (type IN (0, 1)),"
    "  timeout_at bigint NOT NULL,"
    "  pid        text COLLATE \"C\","
    "  ttl        bigint NOT NULL"
    ");"
    "CREATE INDEX task_timers_due ON task_timers (timeout_at, id);"
    "CREATE INDEX task_timers_pid ON task_timers (pid, id) WHERE type = 1;"
    /* claim_until: the row is being delivered by some server until then
     * (ms); 0 = unclaimed. */
    "CREATE TABLE outbox ("
    "  seq         bigserial PRIMARY KEY,"
    "  kind        text NOT NULL CHECK (kind IN ('execute', 'unblock')),"
    "  id          text COLLATE \"C\" NOT NULL,"
    "  version     bigint NOT NULL,"
    "  address     text COLLATE \"C\" NOT NULL,"
    "  not_before  bigint NOT NULL,"
    "  attempts    integer NOT NULL,"
    "  claim_until bigint NOT NULL DEFAULT 0,"
    "  queued_at   bigint NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
    ");"
    "CREATE UNIQUE INDEX outbox_execute ON outbox (id) WHERE kind = 'execute';"
    "CREATE UNIQUE INDEX outbox_unblock ON outbox (id, address) WHERE kind = 'unblock';"
    "CREATE TABLE schedules ("
    "  id                    text COLLATE \"C\" PRIMARY KEY,"
    "  cron                  text NOT NULL,"
    "  promise_id            text NOT NULL,"
    "  promise_timeout       bigint NOT NULL,"
    "  promise_param_headers text,"
    "  promise_param_data    text,"
    "  promise_tags          text NOT NULL,"
    "  created_at            bigint NOT NULL,"
    "  next_run_at           bigint NOT NULL,"
    "  last_run_at           bigint"
    ");"
    "CREATE INDEX schedules_due ON schedules (next_run_at, id);"
    /* The readiness probe's rows, one per backend pid (servers never
     * contend on one row). */
    "CREATE TABLE health ("
    "  pid        integer PRIMARY KEY,"
    "  written_at bigint NOT NULL"
    ");",
    /* 1 -> 2: tag searches by index (as SQLite's promise_tags). One row per
     * tag of every promise (tags never change after create), filled here
     * from the rows already stored; a search reads the rows of one tag in
     * id order. A GIN index on tags::jsonb was measured too: the planner
     * does not use it for ORDER BY id LIMIT n (docs/postgres.md). */
    "CREATE TABLE promise_tags ("
    "  key   text COLLATE \"C\" NOT NULL,"
    "  value text COLLATE \"C\" NOT NULL,"
    "  id    text COLLATE \"C\" NOT NULL,"
    "  PRIMARY KEY (key, value, id)"
    ");"
    "INSERT INTO promise_tags (key, value, id)"
    "  SELECT g.key, g.value, p.id FROM promises p, jsonb_each_text(p.tags::jsonb) g;",
    /* 2 -> 3: the fan-out list (core/store.h fanout_add), as SQLite's
     * version 5. */
    "CREATE TABLE fanouts ("
    "  id           text COLLATE \"C\" PRIMARY KEY,"
    "  last_awaiter text COLLATE \"C\","
    "  passes       bigint NOT NULL"
    ");",
    /* 3 -> 4: the due messages and the next fan-outs by index, as
     * SQLite's version 6 (in parentheses: one step of two statements). */
    ("CREATE INDEX outbox_due ON outbox (not_before, seq);"
     "CREATE INDEX fanouts_next ON fanouts (passes, id);"),
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(N_MIGRATIONS == PG_SCHEMA_VERSION,
               "PG_SCHEMA_VERSION must equal the number of migrations");

/* Advisory lock keys (any constant 64-bit numbers, "resonate" + purpose). */
#define KEY_MIGRATE "7370291846120001"
#define KEY_LEADER "7370291846120002"

#define CHANNEL "resonate_outbox"

/* Milliseconds between two attempts to reconnect a lost connection. */
#define PG_RECONNECT_MS 500

/* Statements a pipeline holds unread at most: then their results are read
 * (bounds pwhat; libpq buffers the rest). */
#define PG_PIPE_MAX 128

/* ---- statements ------------------------------------------------------------ */

#define PROMISE_COLS                                                                               \
    "id, state, param_headers, param_data, value_headers, value_data, tags, timeout_at, "          \
    "created_at, settled_at"
#define TASK_SELECT                                                                                \
    "SELECT t.id, t.state, t.version,"                                                             \
    " (SELECT count(*) FROM callbacks c WHERE c.awaiter = t.id AND c.ready),"                      \
    " l.pid, l.ttl, l.id IS NOT NULL"                                                              \
    " FROM tasks t LEFT JOIN task_timers l ON l.id = t.id AND l.type = 1 "
#define TIMER_COLS "id, type, timeout_at, pid, ttl"
#define OUTBOX_COLS "seq, kind, id, version, address, not_before, attempts, queued_at"
#define SCHEDULE_COLS                                                                              \
    "id, cron, promise_id, promise_timeout, promise_param_headers, promise_param_data, "           \
    "promise_tags, created_at, next_run_at, last_run_at"
/* Bytes a row holds in its text columns: a lower bound of what libpq
 * receives for it (pg_collect counts every column). */
#define PROMISE_BYTES                                                                              \
    "octet_length(id) + octet_length(state) + coalesce(octet_length(param_headers), 0) + "         \
    "coalesce(octet_length(param_data), 0) + coalesce(octet_length(value_headers), 0) + "          \
    "coalesce(octet_length(value_data), 0) + octet_length(tags)"
#define SCHEDULE_BYTES                                                                             \
    "octet_length(id) + octet_length(cron) + octet_length(promise_id) + "                          \
    "coalesce(octet_length(promise_param_headers), 0) + "                                          \
    "coalesce(octet_length(promise_param_data), 0) + octet_length(promise_tags)"
#define STR_(x) #x
#define STR(x) STR_(x)
/* Statement `SELECT cols <rest>` (rest: FROM ... ORDER BY order LIMIT ...;
 * page_order: the same order by the page's column names) cut where its
 * rows' bytes pass budget (SQL text: a literal or a parameter; NULL = no
 * cut), so that a page of large records is not received whole only for
 * pg_collect to keep part of it: a row is sent
 * while the rows before the one before it hold at most budget bytes (bytes
 * as counted by `bytes`). Whatever pg_collect's byte budget keeps (the same
 * budget over every column, so never fewer bytes a row) is sent, and so is
 * the row after it, which tells it that more remain. The window runs in
 * the scan's order, so the plan is still an ordered scan stopped by the
 * LIMIT; octet_length of a stored value reads no TOASTed data. */
#define BUDGETED(cols, bytes, rest, order, page_order, budget)                                     \
    "SELECT " cols " FROM (SELECT " cols ", coalesce(sum(" bytes ") OVER (ORDER BY " order         \
    " ROWS BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING), 0) AS bytes_before " rest                 \
    ") page WHERE " budget "::bigint IS NULL OR bytes_before <= " budget                           \
    "::bigint ORDER BY " page_order
#define SEARCH_BUDGETED(cols, bytes, rest, order)                                                  \
    BUDGETED(cols, bytes, rest, order, "id", STR(STORE_SEARCH_MAX_BYTES_N))

/* Search parameters shared by every search: $1 the lower id bound, $2
 * whether it is included, $4 the row limit, $5 the upper bound (NULL =
 * none); $3 the state (promises, tasks) or the tag filter (schedules):
 * NULL = no filter; the statements that follow name theirs. */
#define SEARCH_RANGE(col) SEARCH_RANGE_AT(col, "$1", "$2", "$5")
#define SEARCH_RANGE_AT(col, lo, inclusive, up)                                                    \
    col " >= " lo "::text AND (" col " > " lo "::text OR " inclusive "::bool) AND (" up            \
        "::text IS NULL OR " col " < " up "::text)"

enum {
    Q_PING,
    Q_PROMISE_GET,
    Q_PROMISE_GET_LOCK,
    Q_PROMISE_INSERT,
    Q_PROMISE_SETTLE,
    Q_PROMISE_SEARCH,
    Q_PROMISE_SEARCH_STATE,
    Q_PROMISE_SEARCH_TAG,
    Q_PROMISE_TAG_WINDOW,
    Q_PROMISE_TAGS_INSERT,
    Q_PROMISE_DUE,
    Q_PROMISE_BRANCH,
    Q_CALLBACK_INSERT,
    Q_CALLBACK_AWAITERS,
    Q_CALLBACK_MARK_READY,
    Q_CALLBACK_DELETE_AWAITER,
    Q_CALLBACK_DELETE_READY,
    Q_LISTENER_INSERT,
    Q_LISTENER_TAKE,
    Q_LISTENER_COUNT,
    Q_CALLBACK_DELETE_LISTED,
    Q_FANOUT_ADD,
    Q_FANOUT_DUE,
    Q_FANOUT_PASS,
    Q_FANOUT_DELETE,
    Q_TASK_LOCK,
    Q_TASK_GET,
    Q_TASK_INSERT,
    Q_TASK_UPDATE,
    Q_TASK_SEARCH,
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
    Q_OUTBOX_CLAIM,
    Q_LEADER,
    Q_SCHEDULE_GET,
    Q_SCHEDULE_GET_LOCK,
    Q_SCHEDULE_INSERT,
    Q_SCHEDULE_DELETE,
    Q_SCHEDULE_SEARCH,
    Q_SCHEDULE_WINDOW,
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
    [Q_PING] = "INSERT INTO health (pid, written_at) VALUES (pg_backend_pid(), $1::bigint)"
               " ON CONFLICT (pid) DO UPDATE SET written_at = excluded.written_at",

    [Q_PROMISE_GET] = "SELECT " PROMISE_COLS " FROM promises WHERE id = $1::text",
    [Q_PROMISE_GET_LOCK] = "SELECT " PROMISE_COLS " FROM promises WHERE id = $1::text FOR UPDATE",
    [Q_PROMISE_INSERT] =
        "INSERT INTO promises (" PROMISE_COLS ", branch)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint, $9::bigint, $10::bigint, $11)",
    [Q_PROMISE_SETTLE] = "UPDATE promises SET state = $2, value_headers = $3, value_data = $4,"
                         " settled_at = $5::bigint WHERE id = $1::text",
    /* One statement per driving index, without `$n IS NULL OR` on it, so
     * that a generic plan uses it: the primary key (no filter, every row a
     * match; $3 is always NULL, kept for the layout), promises_state
     * (every row a match), or the rows of the first tag in promise_tags
     * ($6 key, $7 value), where the state ($3) and all the tags ($8, when
     * more than one) are checked, up to the id $9 (NULL = no such bound;
     * pg_search). The range is repeated on promises.id: when the planner
     * merges the tag's rows with the primary key, that is where its scan
     * of the key starts (without it, a page far into the ids read the key
     * from its first row: 82 ms against 1 ms at id 150,000 of 200,000). */
    [Q_PROMISE_SEARCH] =
        SEARCH_BUDGETED(PROMISE_COLS, PROMISE_BYTES,
                        " FROM promises WHERE " SEARCH_RANGE(
                            "id") " AND $3::text IS NULL ORDER BY id LIMIT $4::bigint",
                        "id"),
    [Q_PROMISE_SEARCH_STATE] =
        SEARCH_BUDGETED(PROMISE_COLS, PROMISE_BYTES,
                        " FROM promises WHERE " SEARCH_RANGE(
                            "id") " AND state = $3::text ORDER BY id LIMIT $4::bigint",
                        "id"),
    [Q_PROMISE_SEARCH_TAG] = SEARCH_BUDGETED(
        PROMISE_COLS, PROMISE_BYTES,
        " FROM promise_tags t JOIN promises USING (id)"
        " WHERE t.key = $6::text AND t.value = $7::text AND " SEARCH_RANGE(
            "t.id") " AND ($9::text IS NULL OR t.id <= $9::text)"
                    " AND " SEARCH_RANGE(
                        "promises.id") " AND ($3::text IS NULL OR state = $3::text)"
                                       " AND ($8::jsonb IS NULL OR tags::jsonb @> $8::jsonb)"
                                       " ORDER BY t.id LIMIT $4::bigint",
        "t.id"),
    /* A window statement names the last row a capped search may examine:
     * the ($4 + 1)-th of the range ($1 lower, $2 inclusive, $3 upper), here
     * of tag ($5, $6). */
    [Q_PROMISE_TAG_WINDOW] = "SELECT id FROM promise_tags WHERE key = $5::text AND value ="
                             " $6::text AND " SEARCH_RANGE_AT(
                                 "id", "$1", "$2", "$3") " ORDER BY id OFFSET $4::bigint LIMIT 1",
    [Q_PROMISE_TAGS_INSERT] = "INSERT INTO promise_tags (key, value, id)"
                              " SELECT key, value, $2::text FROM jsonb_each_text($1::jsonb)",
    [Q_PROMISE_DUE] = "SELECT id FROM promises WHERE state = 'pending' AND timeout_at <= $1::bigint"
                      " ORDER BY timeout_at, id LIMIT $2::bigint",
    /* $4: the preload's byte budget (NULL = none). */
    [Q_PROMISE_BRANCH] =
        BUDGETED(PROMISE_COLS, PROMISE_BYTES,
                 " FROM promises WHERE branch = $1::text"
                 " AND ($2::text IS NULL OR id <> $2::text) ORDER BY id LIMIT $3::bigint",
                 "id", "id", "$4"),

    [Q_CALLBACK_INSERT] =
        "INSERT INTO callbacks (awaited, awaiter, ready)"
        " VALUES ($1, $2, $3::bool) ON CONFLICT (awaited, awaiter)"
        " DO UPDATE SET ready = true WHERE excluded.ready AND NOT callbacks.ready",
    /* A range of the primary key past $2 ('' = from the first), at most $3
     * rows (NULL = all); then the same range up to the last one read, $3. */
    [Q_CALLBACK_AWAITERS] = "SELECT awaiter FROM callbacks WHERE awaited = $1::text"
                            " AND awaiter > $2::text AND NOT ready ORDER BY awaiter"
                            " LIMIT $3::bigint",
    [Q_CALLBACK_MARK_READY] = "UPDATE callbacks SET ready = true WHERE awaited = $1::text"
                              " AND awaiter > $2::text AND awaiter <= $3::text AND NOT ready",
    [Q_CALLBACK_DELETE_AWAITER] = "DELETE FROM callbacks WHERE awaiter = $1::text",
    [Q_CALLBACK_DELETE_READY] = "DELETE FROM callbacks WHERE awaiter = $1::text AND ready",

    [Q_LISTENER_INSERT] = "INSERT INTO listeners (promise_id, address) VALUES ($1, $2)"
                          " ON CONFLICT (promise_id, address) DO NOTHING",
    /* The first $2 (NULL = all) by address, and whether one more exists. */
    [Q_LISTENER_TAKE] = "WITH s AS (SELECT address FROM listeners WHERE promise_id = $1::text"
                        " ORDER BY address LIMIT $2::bigint + 1),"
                        " d AS (DELETE FROM listeners WHERE promise_id = $1::text AND address IN"
                        " (SELECT address FROM s ORDER BY address LIMIT $2::bigint)"
                        " RETURNING address)"
                        " SELECT address, coalesce((SELECT count(*) FROM s) > $2::bigint, false)"
                        " FROM d ORDER BY address COLLATE \"C\"",
    /* Both a range of the primary key: at most $2 entries, and one lookup. */
    [Q_LISTENER_COUNT] = "SELECT (SELECT count(*) FROM (SELECT 1 FROM listeners"
                         " WHERE promise_id = $1::text LIMIT $2::bigint) l),"
                         " EXISTS (SELECT 1 FROM listeners WHERE promise_id = $1::text"
                         " AND address = $3::text)",

    /* One primary key lookup per listed fan-out (none, mostly). */
    [Q_CALLBACK_DELETE_LISTED] = "DELETE FROM callbacks WHERE awaiter = $1::text"
                                 " AND awaited IN (SELECT id FROM fanouts)",
    [Q_FANOUT_ADD] = "INSERT INTO fanouts (id, last_awaiter, passes) VALUES ($1, $2, 0)"
                     " ON CONFLICT (id) DO NOTHING",
    /* SKIP LOCKED: a fan-out another server is continuing is left to it. */
    [Q_FANOUT_DUE] = "SELECT id, last_awaiter FROM fanouts ORDER BY passes, id"
                     " LIMIT $1::bigint FOR UPDATE SKIP LOCKED",
    [Q_FANOUT_PASS] = "UPDATE fanouts SET last_awaiter = $2, passes = passes + 1"
                      " WHERE id = $1::text",
    [Q_FANOUT_DELETE] = "DELETE FROM fanouts WHERE id = $1::text",

    /* The row lock first, then a fresh statement (READ COMMITTED: a new
     * snapshot) reads the task with its timer and callbacks as committed
     * by whoever held the lock before. */
    [Q_TASK_LOCK] = "SELECT 1 FROM tasks WHERE id = $1::text FOR UPDATE",
    [Q_TASK_GET] = TASK_SELECT "WHERE t.id = $1::text",
    [Q_TASK_INSERT] = "INSERT INTO tasks (id, state, version) VALUES ($1, $2, $3::bigint)",
    [Q_TASK_UPDATE] = "UPDATE tasks SET state = $2, version = $3::bigint WHERE id = $1::text",
    [Q_TASK_SEARCH] = TASK_SELECT "WHERE " SEARCH_RANGE(
        "t.id") " AND ($3::text IS NULL OR t.state = $3::text) ORDER BY t.id LIMIT $4::bigint",

    [Q_TIMER_GET] = "SELECT " TIMER_COLS " FROM task_timers WHERE id = $1::text",
    [Q_TIMER_SET] = "INSERT INTO task_timers (" TIMER_COLS ")"
                    " VALUES ($1, $2::integer, $3::bigint, $4, $5::bigint)"
                    " ON CONFLICT (id) DO UPDATE SET type = excluded.type,"
                    " timeout_at = excluded.timeout_at, pid = excluded.pid, ttl = excluded.ttl",
    [Q_TIMER_DELETE] = "DELETE FROM task_timers WHERE id = $1::text",
    [Q_TIMER_DUE] = "SELECT " TIMER_COLS " FROM task_timers WHERE timeout_at <= $1::bigint"
                    " ORDER BY timeout_at, id LIMIT $2::bigint",
    /* $1 pid, $2 now, $3 and $4 the id range (NULL: no upper bound). A
     * lease another server changed after this statement's snapshot is
     * re-read before it is written (READ COMMITTED) and renewed only if it
     * is still pid's: every change of a task's state writes its timer row
     * in the same transaction (acquire, release, expiry, suspend, fulfil). */
    [Q_LEASE_RENEW_PID] = "UPDATE task_timers l SET timeout_at = CASE WHEN $2::bigint > 0 AND"
                          " l.ttl > 9223372036854775807 - $2::bigint THEN 9223372036854775807"
                          " ELSE $2::bigint + l.ttl END WHERE l.type = 1 AND l.pid = $1::text"
                          " AND l.id >= $3::text AND ($4::text IS NULL OR l.id < $4::text)"
                          " AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = l.id"
                          " AND t.state = 'acquired')",

    /* The replacement takes a fresh seq (and drops any claim): an in-flight
     * delivery of the old row then deletes nothing. */
    [Q_OUTBOX_EXECUTE] =
        "INSERT INTO outbox (kind, id, version, address, not_before, attempts)"
        " VALUES ('execute', $1, $2::bigint, $3, $4::bigint, 0)"
        " ON CONFLICT (id) WHERE kind = 'execute' DO UPDATE SET"
        " seq = nextval(pg_get_serial_sequence('outbox', 'seq')), version = excluded.version,"
        " address = excluded.address, not_before = excluded.not_before, attempts = 0,"
        " claim_until = 0, queued_at = excluded.queued_at",
    [Q_OUTBOX_UNBLOCK] = "INSERT INTO outbox (kind, id, version, address, not_before, attempts)"
                         " VALUES ('unblock', $1, 0, $2, 0, 0)"
                         " ON CONFLICT (id, address) WHERE kind = 'unblock' DO NOTHING",
    /* As SQLite's: the never-tried rows and the due retried or delayed
     * ones, each read through outbox_due no further than the limit, in
     * turn. */
    [Q_OUTBOX_DUE] = "SELECT " OUTBOX_COLS " FROM ("
                     "SELECT *, row_number() OVER (ORDER BY seq) AS rn, 0 AS part FROM ("
                     "SELECT " OUTBOX_COLS " FROM outbox WHERE not_before = 0"
                     " AND claim_until <= $1::bigint ORDER BY seq LIMIT $2::bigint) f"
                     " UNION ALL "
                     "SELECT *, row_number() OVER (ORDER BY not_before, seq), 1 FROM ("
                     "SELECT " OUTBOX_COLS " FROM outbox WHERE not_before > 0"
                     " AND not_before <= $1::bigint AND claim_until <= $1::bigint"
                     " ORDER BY not_before, seq LIMIT $2::bigint) d) u"
                     " ORDER BY rn, part LIMIT $2::bigint",
    [Q_OUTBOX_DELETE] = "DELETE FROM outbox WHERE seq = $1::bigint",
    [Q_OUTBOX_DEFER] = "UPDATE outbox SET not_before = $2::bigint, attempts = $3::integer,"
                       " claim_until = 0 WHERE seq = $1::bigint",
    [Q_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
    [Q_OUTBOX_CLAIM] = "UPDATE outbox SET claim_until = $3::bigint WHERE seq = $1::bigint"
                       " AND claim_until <= $2::bigint RETURNING seq",
    [Q_LEADER] = "SELECT pg_try_advisory_lock(" KEY_LEADER ")",

    [Q_SCHEDULE_GET] = "SELECT " SCHEDULE_COLS " FROM schedules WHERE id = $1::text",
    [Q_SCHEDULE_GET_LOCK] = "SELECT " SCHEDULE_COLS " FROM schedules WHERE id = $1::text"
                            " FOR UPDATE",
    [Q_SCHEDULE_INSERT] = "INSERT INTO schedules (" SCHEDULE_COLS ")"
                          " VALUES ($1, $2, $3, $4::bigint, $5, $6, $7, $8::bigint, $9::bigint,"
                          " $10::bigint)",
    [Q_SCHEDULE_DELETE] = "DELETE FROM schedules WHERE id = $1::text RETURNING 1",
    [Q_SCHEDULE_SEARCH] =
        SEARCH_BUDGETED(SCHEDULE_COLS, SCHEDULE_BYTES,
                        " FROM schedules WHERE " SEARCH_RANGE(
                            "id") " AND ($6::text IS NULL OR id <= $6::text)"
                                  " AND ($3::jsonb IS NULL OR promise_tags::jsonb @> $3::jsonb)"
                                  " ORDER BY id LIMIT $4::bigint",
                        "id"),
    /* Schedules have no tag index: a tag search examines the id range, up
     * to the id $6 (NULL = no such bound; pg_search). */
    [Q_SCHEDULE_WINDOW] = "SELECT id FROM schedules WHERE " SEARCH_RANGE_AT(
        "id", "$1", "$2", "$3") " ORDER BY id OFFSET $4::bigint LIMIT 1",
    /* $3: the tick's byte budget (NULL = none). */
    [Q_SCHEDULE_DUE] = BUDGETED(SCHEDULE_COLS, SCHEDULE_BYTES,
                                " FROM schedules WHERE next_run_at <= $1::bigint"
                                " ORDER BY next_run_at, id LIMIT $2::bigint",
                                "next_run_at, id", "next_run_at, id", "$3"),
    [Q_SCHEDULE_ADVANCE] = "UPDATE schedules SET last_run_at = $2::bigint,"
                           " next_run_at = $3::bigint WHERE id = $1::text",

    [Q_SNAP_PROMISES] = "SELECT " PROMISE_COLS " FROM promises ORDER BY id",
    [Q_SNAP_CALLBACKS] = "SELECT awaited, awaiter FROM callbacks WHERE NOT ready"
                         " ORDER BY awaiter, awaited",
    [Q_SNAP_LISTENERS] = "SELECT promise_id, address FROM listeners ORDER BY promise_id, address",
    [Q_SNAP_TASKS] = TASK_SELECT "ORDER BY t.id",
    [Q_SNAP_TIMERS] = "SELECT " TIMER_COLS " FROM task_timers ORDER BY id",
    [Q_SNAP_MESSAGES] = "SELECT " OUTBOX_COLS " FROM outbox"
                        " ORDER BY kind <> 'execute', id, address",
};

static const char reset_sql[] = "DELETE FROM promises; DELETE FROM promise_tags;"
                                " DELETE FROM callbacks;"
                                " DELETE FROM listeners; DELETE FROM tasks;"
                                " DELETE FROM task_timers; DELETE FROM outbox;"
                                " DELETE FROM schedules; DELETE FROM fanouts";

/* Per-session settings: bounded lock waits (a conflict, retried), no
 * transaction left open by a stuck server holds locks forever, and the
 * session of a server whose host died ends within PG_DEAD_PEER_S (its
 * leader lock with it); these TCP settings are no-ops on a Unix socket. */
static const char session_sql[] = "SET lock_timeout = '5000ms';"
                                  " SET idle_in_transaction_session_timeout = '60s';"
                                  " SET default_transaction_isolation = 'read committed';"
                                  " SET tcp_keepalives_idle = 4; SET tcp_keepalives_interval = 2;"
                                  " SET tcp_keepalives_count = 3; SET tcp_user_timeout = 10000";

_Static_assert(PG_LOCK_TIMEOUT_MS == 5000, "session_sql's lock_timeout must match");
_Static_assert(PG_DEAD_PEER_S == 10, "session_sql's and connect_url's TCP settings must match");

/* ---- the store object -------------------------------------------------------- */

typedef struct {
    store_t base; /* first: a store_t * is a pg_store_t * */
    PGconn *conn;
    char *url;
    bool reader;
    bool in_tx;
    bool leader; /* this connection holds the leader lock */
    bool notify; /* the open transaction queued outbox rows */
    /* Pipeline mode (writer only, inside a transaction without savepoints):
     * statements sent whose results are not read yet, and their names for
     * error messages. */
    bool pipe;
    int pending;
    const char *pwhat[PG_PIPE_MAX];
    struct timespec last_try; /* of the last failed reconnect */
    kvbuf_t buf;              /* encoded JSON of the call in progress */
    size_t rows_received;     /* by pg_collect, ever (store_postgres_rows_received) */
    /* store_watch's listener thread (its own connection). */
    pthread_t lthread;
    bool lrunning;
    _Atomic bool lstop;
    _Atomic int writer_pid; /* our own notifications are not news */
    void (*wfn)(void *arg);
    void *warg;
} pg_store_t;

static pg_store_t *pg(store_t *st)
{
    return (pg_store_t *)st;
}

/* Copies src into dst on one line: libpq's messages end in a newline and
 * may hold several lines (with tabs) inside. */
static void copy_msg(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
    char *o = dst;
    for (const char *p = dst; *p; p++) {
        bool ws = *p == '\n' || *p == '\t' || *p == ' ';
        if (ws && (o == dst || o[-1] == ' '))
            continue;
        *o++ = ws ? ' ' : *p;
    }
    while (o > dst && o[-1] == ' ')
        o--;
    *o = '\0';
}

static int pg_failf(pg_store_t *s, int fault, const char *what, const char *reason)
{
    char msg[440];
    copy_msg(msg, sizeof msg, reason);
    snprintf(s->base.errmsg, sizeof s->base.errmsg, "%s: %s", what, msg);
    s->base.fault = fault;
    return STORE_ERR;
}

static bool conn_ok(const pg_store_t *s)
{
    return s->conn && PQstatus(s->conn) == CONNECTION_OK;
}

/* The fault class of a failed result (NULL: out of memory or connection). */
static int classify(pg_store_t *s, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!conn_ok(s) || !state)
        return conn_ok(s) ? STORE_FAULT_NONE : STORE_FAULT_DOWN;
    /* 08: connection exception; 57P01-3: shutdown, crash, cannot connect */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return STORE_FAULT_DOWN;
    /* serialization failure, deadlock, unique violation, lock timeout */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "23505") == 0 ||
        strcmp(state, "55P03") == 0)
        return STORE_FAULT_CONFLICT;
    return STORE_FAULT_NONE;
}

static int pg_fail_res(pg_store_t *s, const PGresult *r, const char *what)
{
    int fault = classify(s, r);
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (!msg || !*msg)
        msg = s->conn ? PQerrorMessage(s->conn) : "not connected";
    if (fault == STORE_FAULT_DOWN) {
        char why[200];
        copy_msg(why, sizeof why, msg);
        char full[420];
        snprintf(full, sizeof full,
                 "PostgreSQL is unreachable (%s); the server reconnects by itself once it is "
                 "back: check that it runs and storage.postgres.url",
                 why);
        return pg_failf(s, fault, what, full);
    }
    return pg_failf(s, fault, what, msg);
}

/* ---- pipeline -----------------------------------------------------------------
 *
 * Inside the writer's transaction the connection is in libpq's pipeline
 * mode: a statement whose result nobody reads (pg_write: the inserts,
 * updates and deletes) is only sent, and the next statement that needs its
 * own result (a read, SAVEPOINT, COMMIT) first reads every pending result
 * in order, in the same round trip. A failure among them is the failure of
 * that call, classified as usual (a unique violation is a conflict): after
 * an error PostgreSQL skips the rest of the pipeline, the transaction is
 * aborted and COMMIT can no longer succeed, so no request of the batch is
 * answered from it; the store thread runs the batch again (with a savepoint
 * per request, synchronous, when the failure was not a conflict). The
 * first SAVEPOINT or any other plain SQL text ends the pipeline for the
 * rest of the transaction. */

/* Drops a connection whose protocol state is unknown: the next check
 * reconnects. */
static void pipe_lost(pg_store_t *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    s->pipe = false;
    s->pending = 0;
    s->leader = false; /* the lock went with the session */
}

/* Reads up to the Sync's result after PQpipelineSync. */
static int pipe_read_sync(pg_store_t *s)
{
    for (int i = 0; i < 64; i++) {
        PGresult *r = PQgetResult(s->conn);
        if (!r) {
            if (!conn_ok(s))
                break;
            continue;
        }
        ExecStatusType es = PQresultStatus(r);
        PQclear(r);
        if (es == PGRES_PIPELINE_SYNC)
            return STORE_OK;
    }
    return STORE_ERR;
}

/* Reads the results of every pending statement, in order; the last one's
 * goes to *out (when non-NULL and it succeeded). With sync (or after a
 * failure) a Sync follows them, so that the server takes statements again.
 * Returns the first failure. */
static int pipe_drain(pg_store_t *s, PGresult **out, bool sync)
{
    int n = s->pending, rc = STORE_OK;
    s->pending = 0;
    if (n == 0 && !sync)
        return STORE_OK;
    const char *last = n ? s->pwhat[n - 1] : "pipeline";
    bool sent = sync ? PQpipelineSync(s->conn) == 1
                     : PQsendFlushRequest(s->conn) == 1 && PQflush(s->conn) == 0;
    if (!sent) {
        pg_fail_res(s, NULL, last);
        pipe_lost(s);
        return STORE_ERR;
    }
    for (int i = 0; i < n; i++) {
        PGresult *r = PQgetResult(s->conn);
        if (!r) {
            if (rc == STORE_OK)
                pg_fail_res(s, NULL, s->pwhat[i]);
            pipe_lost(s);
            return STORE_ERR;
        }
        ExecStatusType es = PQresultStatus(r);
        bool good = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK;
        if (!good && rc == STORE_OK) {
            rc = STORE_ERR;
            if (es == PGRES_PIPELINE_ABORTED)
                pg_failf(s, STORE_FAULT_NONE, s->pwhat[i], "skipped after an earlier error");
            else
                pg_fail_res(s, r, s->pwhat[i]);
        }
        if (good && rc == STORE_OK && out && i == n - 1)
            *out = r;
        else
            PQclear(r);
        /* Each statement's results end with a NULL. */
        PGresult *end = PQgetResult(s->conn);
        if (end || !conn_ok(s)) {
            PQclear(end);
            if (out && *out) {
                PQclear(*out);
                *out = NULL;
            }
            if (rc == STORE_OK)
                pg_failf(s, conn_ok(s) ? STORE_FAULT_NONE : STORE_FAULT_DOWN, s->pwhat[i],
                         "unexpected results in the pipeline");
            pipe_lost(s);
            return STORE_ERR;
        }
    }
    if (rc != STORE_OK && !sync) {
        sync = true;
        if (PQpipelineSync(s->conn) != 1) {
            pipe_lost(s);
            return rc;
        }
    }
    if (sync && pipe_read_sync(s) != STORE_OK) {
        if (out && *out) {
            PQclear(*out);
            *out = NULL;
        }
        if (rc == STORE_OK)
            pg_fail_res(s, NULL, last);
        pipe_lost(s);
        return STORE_ERR;
    }
    return rc;
}

/* Sends text (planned for these values) or else prepared statement q
 * down the pipeline. */
static int pipe_send(pg_store_t *s, int q, const char *text, int n, const char *const *v,
                     const char *what)
{
    if (s->pending == PG_PIPE_MAX && pipe_drain(s, NULL, false) != STORE_OK)
        return STORE_ERR;
    int sent;
    if (text) {
        sent = PQsendQueryParams(s->conn, text, n, NULL, v, NULL, NULL, 0);
    } else {
        char name[16];
        snprintf(name, sizeof name, "q%d", q);
        sent = PQsendQueryPrepared(s->conn, name, n, v, NULL, NULL, 0);
    }
    if (!sent) {
        pg_fail_res(s, NULL, what);
        pipe_lost(s);
        return STORE_ERR;
    }
    s->pwhat[s->pending++] = what;
    return STORE_OK;
}

/* Leaves pipeline mode once every result was read; rc is returned unless
 * leaving fails. */
static int pipe_exit(pg_store_t *s, int rc)
{
    if (s->conn && s->pipe && PQexitPipelineMode(s->conn) != 1) {
        if (rc == STORE_OK)
            pg_failf(s, STORE_FAULT_NONE, "pipeline", PQerrorMessage(s->conn));
        pipe_lost(s);
        return STORE_ERR;
    }
    s->pipe = false;
    s->pending = 0;
    return rc;
}

/* Ends pipeline mode: every pending result read (the first failure
 * returned), the connection back to one statement at a time. */
static int pipe_end(pg_store_t *s)
{
    if (!s->pipe)
        return STORE_OK;
    int rc = conn_ok(s) ? pipe_drain(s, NULL, true) : pg_fail_res(s, NULL, "pipeline");
    return pipe_exit(s, rc);
}

/* ---- statements -------------------------------------------------------------- */

/* Runs statement q with n text parameters (NULL = SQL NULL): prepared, or
 * when planned, planned for these values; waits for its result (and, in a
 * pipeline, for every pending one). On success *out (when non-NULL)
 * receives the result, to PQclear. */
static int run_query(pg_store_t *s, int q, bool planned, int n, const char *const *v,
                     PGresult **out, const char *what)
{
    if (out)
        *out = NULL;
    if (!conn_ok(s))
        return pg_fail_res(s, NULL, what);
    if (s->pipe) {
        PGresult *r = NULL;
        if (pipe_send(s, q, planned ? sql[q] : NULL, n, v, what) != STORE_OK ||
            pipe_drain(s, &r, false) != STORE_OK)
            return STORE_ERR;
        if (out)
            *out = r;
        else
            PQclear(r);
        return STORE_OK;
    }
    char name[16];
    snprintf(name, sizeof name, "q%d", q);
    PGresult *r = planned ? PQexecParams(s->conn, sql[q], n, NULL, v, NULL, NULL, 0)
                          : PQexecPrepared(s->conn, name, n, v, NULL, NULL, 0);
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return STORE_OK;
    }
    pg_fail_res(s, r, what);
    PQclear(r);
    return STORE_ERR;
}

/* Runs prepared statement q (see run_query). */
static int pg_query(pg_store_t *s, int q, int n, const char *const *v, PGresult **out,
                    const char *what)
{
    return run_query(s, q, false, n, v, out, what);
}

/* As pg_query, but planned for these parameter values (the unnamed
 * statement): for searches, whose `$n IS NULL OR` bounds a cached generic
 * plan cannot use as index bounds (it would read on past them). Planning
 * costs about 0.2 ms. */
static int pg_query_planned(pg_store_t *s, int q, int n, const char *const *v, PGresult **out,
                            const char *what)
{
    return run_query(s, q, true, n, v, out, what);
}

/* A write whose result nobody reads: in a pipeline only sent (its failure
 * shows at the next statement that waits, at the latest at COMMIT),
 * otherwise as pg_query. */
static int pg_write(pg_store_t *s, int q, int n, const char *const *v, const char *what)
{
    if (s->pipe && conn_ok(s))
        return pipe_send(s, q, NULL, n, v, what);
    return pg_query(s, q, n, v, NULL, what);
}

/* Runs constant SQL text (no parameters; may hold several statements),
 * ending a pipeline first; *out as pg_query. */
static int pg_exec(pg_store_t *s, const char *text, PGresult **out, const char *what)
{
    if (out)
        *out = NULL;
    if (!conn_ok(s))
        return pg_fail_res(s, NULL, what);
    if (pipe_end(s) != STORE_OK)
        return STORE_ERR;
    PGresult *r = PQexec(s->conn, text);
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return STORE_OK;
    }
    pg_fail_res(s, r, what);
    PQclear(r);
    return STORE_ERR;
}

/* ---- parameters ------------------------------------------------------------ */

typedef char num_t[24];

static const char *i64(num_t b, int64_t v)
{
    snprintf(b, sizeof(num_t), "%" PRId64, v);
    return b;
}

static const char *lim(num_t b, size_t v)
{
    return i64(b, v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

#define NO_TEXT ((size_t)-1)

/* Appends m as JSON and a NUL to s->buf; *off is its start. */
static int enc_kvmap(pg_store_t *s, const kvmap_t *m, size_t *off, const char *what)
{
    *off = s->buf.len;
    if (kvjson_encode(&s->buf, m) != 0)
        return pg_failf(s, STORE_FAULT_NONE, what, "out of memory encoding JSON");
    if (s->buf.len == s->buf.cap) {
        size_t cap = s->buf.cap * 2 + 16;
        char *p = realloc(s->buf.p, cap);
        if (!p)
            return pg_failf(s, STORE_FAULT_NONE, what, "out of memory encoding JSON");
        s->buf.p = p;
        s->buf.cap = cap;
    }
    s->buf.p[s->buf.len++] = '\0';
    return STORE_OK;
}

static int enc_headers(pg_store_t *s, const pvalue_t *v, size_t *off, const char *what)
{
    if (!v || !v->has_headers) {
        *off = NO_TEXT;
        return STORE_OK;
    }
    return enc_kvmap(s, &v->headers, off, what);
}

/* The text at off of s->buf (after every encoding: the buffer may move). */
static const char *buf_at(const pg_store_t *s, size_t off)
{
    return off == NO_TEXT ? NULL : s->buf.p + off;
}

/* ---- row readers -------------------------------------------------------------- */

static const char *col_str(arena_t *a, const PGresult *r, int row, int i)
{
    if (PQgetisnull(r, row, i))
        return NULL;
    return arena_strndup(a, PQgetvalue(r, row, i), (size_t)PQgetlength(r, row, i));
}

static int64_t col_i64(const PGresult *r, int row, int i)
{
    return PQgetisnull(r, row, i) ? 0 : strtoll(PQgetvalue(r, row, i), NULL, 10);
}

static bool col_bool(const PGresult *r, int row, int i)
{
    return !PQgetisnull(r, row, i) && PQgetvalue(r, row, i)[0] == 't';
}

static int col_kvmap(arena_t *a, const PGresult *r, int row, int i, kvmap_t *m)
{
    if (PQgetisnull(r, row, i)) {
        m->items = NULL;
        m->n = 0;
        return 0;
    }
    return kvjson_decode(a, PQgetvalue(r, row, i), (size_t)PQgetlength(r, row, i), m);
}

static int col_pvalue(arena_t *a, const PGresult *r, int row, int i, pvalue_t *v)
{
    v->has_headers = !PQgetisnull(r, row, i);
    if (v->has_headers && col_kvmap(a, r, row, i, &v->headers) != 0)
        return -1;
    v->data = col_str(a, r, row, i + 1);
    return 0;
}

static int rd_promise(arena_t *a, const PGresult *r, int row, void *out)
{
    promise_t *p = out;
    memset(p, 0, sizeof *p);
    p->id = col_str(a, r, row, 0);
    int ps = PQgetisnull(r, row, 1) ? -1 : pstate_parse(PQgetvalue(r, row, 1));
    if (!p->id || ps < 0)
        return -1;
    p->state = (pstate_t)ps;
    if (col_pvalue(a, r, row, 2, &p->param) != 0 || col_pvalue(a, r, row, 4, &p->value) != 0 ||
        col_kvmap(a, r, row, 6, &p->tags) != 0)
        return -1;
    p->timeout_at = col_i64(r, row, 7);
    p->created_at = col_i64(r, row, 8);
    p->has_settled_at = !PQgetisnull(r, row, 9);
    p->settled_at = col_i64(r, row, 9);
    return 0;
}

static int rd_task(arena_t *a, const PGresult *r, int row, void *out)
{
    task_t *t = out;
    memset(t, 0, sizeof *t);
    t->id = col_str(a, r, row, 0);
    int ts = PQgetisnull(r, row, 1) ? -1 : tstate_parse(PQgetvalue(r, row, 1));
    if (!t->id || ts < 0)
        return -1;
    t->state = (tstate_t)ts;
    t->version = col_i64(r, row, 2);
    t->resumes = col_i64(r, row, 3);
    t->has_lease = col_bool(r, row, 6);
    if (t->has_lease) {
        t->pid = col_str(a, r, row, 4);
        t->ttl = col_i64(r, row, 5);
    }
    return 0;
}

static int rd_timer(arena_t *a, const PGresult *r, int row, void *out)
{
    task_timer_t *t = out;
    t->id = col_str(a, r, row, 0);
    t->type = (int)col_i64(r, row, 1);
    t->timeout = col_i64(r, row, 2);
    t->pid = col_str(a, r, row, 3);
    t->ttl = col_i64(r, row, 4);
    return t->id ? 0 : -1;
}

static int rd_outbox(arena_t *a, const PGresult *r, int row, void *out)
{
    outbox_msg_t *m = out;
    m->seq = col_i64(r, row, 0);
    if (PQgetisnull(r, row, 1))
        return -1;
    m->kind = strcmp(PQgetvalue(r, row, 1), "execute") == 0 ? MSG_EXECUTE : MSG_UNBLOCK;
    m->id = col_str(a, r, row, 2);
    m->version = col_i64(r, row, 3);
    m->address = col_str(a, r, row, 4);
    m->not_before = col_i64(r, row, 5);
    m->attempts = (int)col_i64(r, row, 6);
    m->queued_at = col_i64(r, row, 7);
    return m->id && m->address ? 0 : -1;
}

static int rd_schedule(arena_t *a, const PGresult *r, int row, void *out)
{
    schedule_t *s = out;
    memset(s, 0, sizeof *s);
    s->id = col_str(a, r, row, 0);
    s->cron = col_str(a, r, row, 1);
    s->promise_id = col_str(a, r, row, 2);
    if (!s->id || !s->cron || !s->promise_id)
        return -1;
    s->promise_timeout = col_i64(r, row, 3);
    if (col_pvalue(a, r, row, 4, &s->promise_param) != 0 ||
        col_kvmap(a, r, row, 6, &s->promise_tags) != 0)
        return -1;
    s->created_at = col_i64(r, row, 7);
    s->next_run_at = col_i64(r, row, 8);
    s->has_last_run_at = !PQgetisnull(r, row, 9);
    s->last_run_at = col_i64(r, row, 9);
    return 0;
}

static int rd_string(arena_t *a, const PGresult *r, int row, void *out)
{
    const char **s = out;
    *s = col_str(a, r, row, 0);
    return *s ? 0 : -1;
}

static int rd_callback(arena_t *a, const PGresult *r, int row, void *out)
{
    callback_t *c = out;
    c->awaited = col_str(a, r, row, 0);
    c->awaiter = col_str(a, r, row, 1);
    return c->awaited && c->awaiter ? 0 : -1;
}

static int rd_listener(arena_t *a, const PGresult *r, int row, void *out)
{
    listener_t *l = out;
    l->promise_id = col_str(a, r, row, 0);
    l->address = col_str(a, r, row, 1);
    return l->promise_id && l->address ? 0 : -1;
}

typedef int (*reader_fn)(arena_t *a, const PGresult *r, int row, void *out);

/* Reads the rows of r with rd into an arena array of size-byte elements:
 * at most max rows (0 = all) and, with max_bytes, no row that would take
 * the sum of the rows' stored bytes past it (the first row excepted when
 * first_fits). *more (when non-NULL) says whether a row was left out.
 * Clears r. */
static int pg_collect(pg_store_t *s, arena_t *a, PGresult *r, reader_fn rd, size_t size, void **out,
                      size_t *n, size_t max, size_t max_bytes, bool first_fits, bool *more,
                      const char *what)
{
    int rows = PQntuples(r), cols = PQnfields(r);
    size_t cnt = 0, bytes = 0;
    s->rows_received += (size_t)rows;
    char *arr = rows ? arena_alloc(a, (size_t)rows * size) : NULL;
    if (more)
        *more = false;
    for (int i = 0; i < rows; i++) {
        size_t rb = 0;
        for (int c = 0; max_bytes && c < cols; c++)
            rb += (size_t)PQgetlength(r, i, c);
        if ((max && cnt == max) ||
            (max_bytes && (cnt || !first_fits) && store_over_budget(bytes, rb, max_bytes))) {
            if (more)
                *more = true;
            break;
        }
        bytes += rb;
        if (rd(a, r, i, arr + cnt * size) != 0) {
            PQclear(r);
            *out = NULL;
            *n = 0;
            return pg_failf(s, STORE_FAULT_NONE, what, "corrupt row in database");
        }
        cnt++;
    }
    PQclear(r);
    *out = cnt ? arr : NULL;
    *n = cnt;
    return STORE_OK;
}

/* Runs q and collects every row. */
static int pg_rows(pg_store_t *s, arena_t *a, int q, int n, const char *const *v, reader_fn rd,
                   size_t size, void **out, size_t *cnt, const char *what)
{
    PGresult *r;
    *out = NULL;
    *cnt = 0;
    if (pg_query(s, q, n, v, &r, what) != STORE_OK)
        return STORE_ERR;
    return pg_collect(s, a, r, rd, size, out, cnt, 0, 0, false, NULL, what);
}

/* Runs q and reads at most one row; *out stays NULL when there is none. */
static int pg_one(pg_store_t *s, arena_t *a, int q, int n, const char *const *v, reader_fn rd,
                  size_t size, void **out, const char *what)
{
    size_t cnt;
    return pg_rows(s, a, q, n, v, rd, size, out, &cnt, what);
}

/* ---- connection ------------------------------------------------------------ */

/* Server notices ("relation already exists, skipping") are not errors:
 * libpq would print them on stderr. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_url(const char *url, char *err, size_t errlen)
{
    /* Our defaults first: the URL's own words override them (libpq reads
     * the keywords in order and expands dbname in place). */
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", PG_CONNECT_TIMEOUT_S);
    /* A database host that died is given up within PG_DEAD_PEER_S. */
    const char *keys[] = {"connect_timeout",
                          "application_name",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "dbname",
                          NULL};
    const char *vals[] = {timeout, "resonate", "1", "4", "2", "3", "10000", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[400];
        copy_msg(msg, sizeof msg, PQerrorMessage(c));
        snprintf(err, errlen,
                 "cannot connect to PostgreSQL: %s; check that the server runs and that "
                 "storage.postgres.url (user, password, host, database) is right",
                 msg);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

/* Session settings and prepared statements of a new connection. */
static int setup_conn(pg_store_t *s, char *err, size_t errlen)
{
    PGresult *r = PQexec(s->conn, session_sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "session settings: %s", PQresultErrorMessage(r));
    PQclear(r);
    for (int i = 0; ok && i < Q__COUNT; i++) {
        char name[16];
        snprintf(name, sizeof name, "q%d", i);
        r = PQprepare(s->conn, name, sql[i], 0, NULL);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, errlen, "preparing statement %d: %s", i, PQresultErrorMessage(r));
        PQclear(r);
    }
    if (ok && !s->reader)
        atomic_store(&s->writer_pid, PQbackendPID(s->conn));
    return ok ? 0 : -1;
}

/* A new connection in place of a lost one. */
static int reconnect(pg_store_t *s)
{
    char err[512];
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    s->leader = false; /* the lock went with the old session */
    s->in_tx = false;
    s->notify = false;
    s->pipe = false;
    s->pending = 0;
    s->conn = connect_url(s->url, err, sizeof err);
    if (s->conn && setup_conn(s, err, sizeof err) != 0) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    if (!s->conn)
        return pg_failf(s, STORE_FAULT_DOWN, "reconnect", err);
    return STORE_OK;
}

/* ---- lifecycle and transactions -------------------------------------------- */

static void pg_close(store_t *st)
{
    if (!st)
        return;
    pg_store_t *s = pg(st);
    if (s->lrunning) {
        atomic_store(&s->lstop, true);
        pthread_join(s->lthread, NULL);
    }
    if (s->conn)
        PQfinish(s->conn);
    kvbuf_free(&s->buf);
    free(s->url);
    free(s);
}

/* Outside a transaction: reconnects a lost connection (one attempt). */
static int pg_check(store_t *st)
{
    pg_store_t *s = pg(st);
    if (conn_ok(s))
        return STORE_OK;
    if (s->in_tx)
        return pg_fail_res(s, NULL, "check");
    /* At most one attempt per PG_RECONNECT_MS: a connect may block up to
     * PG_CONNECT_TIMEOUT_S, and the store thread answers 503s meanwhile. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t since = (int64_t)(now.tv_sec - s->last_try.tv_sec) * 1000 +
                    (now.tv_nsec - s->last_try.tv_nsec) / 1000000;
    if (s->last_try.tv_sec && since < PG_RECONNECT_MS)
        return STORE_ERR; /* errmsg and fault still those of the last attempt */
    if (reconnect(s) == STORE_OK) {
        s->last_try.tv_sec = 0;
        return STORE_OK;
    }
    s->last_try = now;
    return STORE_ERR;
}

static int pg_ping(store_t *st)
{
    pg_store_t *s = pg(st);
    if (pg_check(st) != STORE_OK)
        return STORE_ERR;
    num_t now;
    const char *v[] = {i64(now, (int64_t)time(NULL))};
    return pg_query(s, Q_PING, 1, v, NULL, "ping");
}

static int pg_begin(store_t *st)
{
    pg_store_t *s = pg(st);
    s->notify = false;
    /* The writer's transactions are pipelined (see "pipeline" above). */
    if (!s->reader && conn_ok(s) && !s->pipe && PQenterPipelineMode(s->conn) == 1) {
        s->pipe = true;
        if (pipe_send(s, -1, "BEGIN", 0, NULL, "begin") != STORE_OK)
            return STORE_ERR;
        s->in_tx = true;
        return STORE_OK;
    }
    if (pg_exec(s, s->reader ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", NULL,
                "begin") != STORE_OK)
        return STORE_ERR;
    s->in_tx = true;
    return STORE_OK;
}

static int pg_commit(store_t *st)
{
    pg_store_t *s = pg(st);
    PGresult *r = NULL;
    if (s->pipe && conn_ok(s)) {
        /* NOTIFY, COMMIT and a Sync after the pending writes: one round
         * trip; any failure among them fails the commit. */
        int rc = STORE_OK;
        if (s->notify)
            rc = pipe_send(s, -1, "NOTIFY " CHANNEL, 0, NULL, "commit");
        if (rc == STORE_OK)
            rc = pipe_send(s, -1, "COMMIT", 0, NULL, "commit");
        if (rc == STORE_OK)
            rc = pipe_drain(s, &r, true);
        if (pipe_exit(s, rc) != STORE_OK) {
            PQclear(r);
            return STORE_ERR;
        }
    } else {
        /* Delivered with the commit, or not at all (a rollback drops it). */
        if (s->notify && pg_exec(s, "NOTIFY " CHANNEL, NULL, "commit") != STORE_OK)
            return STORE_ERR;
        if (pg_exec(s, "COMMIT", &r, "commit") != STORE_OK)
            return STORE_ERR;
    }
    /* COMMIT of a failed transaction "succeeds" as a ROLLBACK. */
    bool rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    PQclear(r);
    s->in_tx = false;
    s->notify = false;
    if (rolled_back)
        return pg_failf(s, STORE_FAULT_NONE, "commit",
                        "the transaction was rolled back after an earlier error");
    return STORE_OK;
}

static int pg_rollback(store_t *st)
{
    pg_store_t *s = pg(st);
    bool was = s->in_tx;
    s->in_tx = false;
    s->notify = false;
    /* Pending results (and their failures) no longer matter. */
    if (s->pipe)
        pipe_end(s);
    if (!was || !conn_ok(s))
        return STORE_OK;
    return pg_exec(s, "ROLLBACK", NULL, "rollback");
}

static int pg_savepoint(store_t *st)
{
    return pg_exec(pg(st), "SAVEPOINT req", NULL, "savepoint");
}

static int pg_release(store_t *st)
{
    return pg_exec(pg(st), "RELEASE SAVEPOINT req", NULL, "release");
}

static int pg_rollback_to(store_t *st)
{
    pg_store_t *s = pg(st);
    if (!s->in_tx)
        return pg_failf(s, STORE_FAULT_NONE, "rollback_to", "no transaction is open");
    if (pg_exec(s, "ROLLBACK TO SAVEPOINT req", NULL, "rollback_to") != STORE_OK)
        return STORE_ERR;
    return pg_exec(s, "RELEASE SAVEPOINT req", NULL, "rollback_to");
}

static int pg_checkpoint(store_t *st)
{
    (void)st; /* PostgreSQL checkpoints by itself */
    return STORE_OK;
}

/* ---- promises -------------------------------------------------------------- */

static int pg_promise_get(store_t *st, arena_t *a, const char *id, promise_t **out)
{
    pg_store_t *s = pg(st);
    const char *v[] = {id};
    /* A read inside the writer's transaction is a read-for-write. */
    int q = s->in_tx && !s->reader ? Q_PROMISE_GET_LOCK : Q_PROMISE_GET;
    return pg_one(s, a, q, 1, v, rd_promise, sizeof(promise_t), (void **)out, "promise_get");
}

static bool pstate_valid(pstate_t v)
{
    return (int)v >= PSTATE_PENDING && (int)v <= PSTATE_REJECTED_TIMEDOUT;
}

static bool tstate_valid(tstate_t v)
{
    return (int)v >= TSTATE_PENDING && (int)v <= TSTATE_FULFILLED;
}

static int pg_promise_insert(store_t *st, const promise_t *p)
{
    static const char what[] = "promise_insert";
    pg_store_t *s = pg(st);
    if (!pstate_valid(p->state))
        return pg_failf(s, STORE_FAULT_NONE, what, "invalid promise state");
    size_t ph, vh, tg;
    s->buf.len = 0;
    if (enc_headers(s, &p->param, &ph, what) != STORE_OK ||
        enc_headers(s, &p->value, &vh, what) != STORE_OK ||
        enc_kvmap(s, &p->tags, &tg, what) != STORE_OK)
        return STORE_ERR;
    num_t t1, t2, t3;
    const char *v[] = {p->id,
                       pstate_name(p->state),
                       buf_at(s, ph),
                       p->param.data,
                       buf_at(s, vh),
                       p->value.data,
                       buf_at(s, tg),
                       i64(t1, p->timeout_at),
                       i64(t2, p->created_at),
                       p->has_settled_at ? i64(t3, p->settled_at) : NULL,
                       kvmap_get(&p->tags, "resonate:branch")};
    if (pg_write(s, Q_PROMISE_INSERT, 11, v, what) != STORE_OK)
        return STORE_ERR;
    const char *tv[] = {buf_at(s, tg), p->id};
    return p->tags.n == 0 ? STORE_OK : pg_write(s, Q_PROMISE_TAGS_INSERT, 2, tv, what);
}

static int pg_promise_settle(store_t *st, const char *id, pstate_t state, const pvalue_t *value,
                             int64_t settled_at)
{
    static const char what[] = "promise_settle";
    pg_store_t *s = pg(st);
    if (!pstate_valid(state))
        return pg_failf(s, STORE_FAULT_NONE, what, "invalid promise state");
    size_t vh;
    s->buf.len = 0;
    if (enc_headers(s, value, &vh, what) != STORE_OK)
        return STORE_ERR;
    num_t t;
    const char *v[] = {id, pstate_name(state), buf_at(s, vh), value ? value->data : NULL,
                       i64(t, settled_at)};
    return pg_write(s, Q_PROMISE_SETTLE, 5, v, what);
}

/* The least string above every string that starts with prefix, under byte
 * order (COLLATE "C" on UTF-8 text): the prefix with its last character
 * replaced by the next code point (characters at U+10FFFF dropped first).
 * Malloc'd into *up; NULL when there is none (no prefix, or only such
 * characters). Returns -1 when memory runs out. */
static int upper_bound(const char *prefix, char **up)
{
    *up = NULL;
    size_t n = prefix ? strlen(prefix) : 0;
    while (n > 0) {
        size_t start = n - 1;
        while (start > 0 && ((unsigned char)prefix[start] & 0xC0) == 0x80)
            start--;
        const unsigned char *c = (const unsigned char *)prefix + start;
        size_t len = n - start;
        uint32_t cp;
        if (len == 1)
            cp = c[0];
        else if (len == 2)
            cp = (uint32_t)(c[0] & 0x1F) << 6 | (c[1] & 0x3F);
        else if (len == 3)
            cp = (uint32_t)(c[0] & 0x0F) << 12 | (uint32_t)(c[1] & 0x3F) << 6 | (c[2] & 0x3F);
        else
            cp = (uint32_t)(c[0] & 0x07) << 18 | (uint32_t)(c[1] & 0x3F) << 12 |
                 (uint32_t)(c[2] & 0x3F) << 6 | (c[3] & 0x3F);
        if (cp >= 0x10FFFF) {
            n = start;
            continue;
        }
        cp++;
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = 0xE000;
        char *out = malloc(start + 5);
        if (!out)
            return -1;
        memcpy(out, prefix, start);
        char *o = out + start;
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xC0 | cp >> 6);
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xE0 | cp >> 12);
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (char)(0xF0 | cp >> 18);
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
        *o = '\0';
        *up = out;
        return 0;
    }
    return 0;
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

/* The last id a capped search may examine: the (PG_SEARCH_SCAN_MAX)-th of
 * the range of window statement wq (with p5, p6 when wq takes them), as
 * *last (arena); NULL when the range holds fewer. */
static int search_window(pg_store_t *s, arena_t *a, int wq, const char *lo, bool inclusive,
                         const char *up, const char *p5, const char *p6, const char **last,
                         const char *what)
{
    *last = NULL;
    num_t off;
    const char *v[] = {lo, inclusive ? "true" : "false", up, lim(off, PG_SEARCH_SCAN_MAX - 1), p5,
                       p6};
    PGresult *res;
    if (pg_query_planned(s, wq, wq == Q_PROMISE_TAG_WINDOW ? 6 : 4, v, &res, what) != STORE_OK)
        return STORE_ERR;
    int rc = STORE_OK;
    if (PQntuples(res) > 0 && !(*last = arena_strdup(a, PQgetvalue(res, 0, 0))))
        rc = pg_failf(s, STORE_FAULT_NONE, what, "out of memory");
    PQclear(res);
    return rc;
}

/* A search: statement q with the shared parameters ($1 lower, $2
 * inclusive, $3 p3, $4 limit + 1, $5 upper) and then the n_extra of extra.
 * One row past the limit tells whether more match; *cursor is then the
 * last id returned (the port's contract).
 *
 * A statement that may reject rows examines at most PG_SEARCH_SCAN_MAX per
 * call: its final parameter, the last of extra (given as NULL: no bound),
 * is then the last id it may examine, as named by window statement wq (-1:
 * every row examined matches, no window). When the page is not full there,
 * the ids up to that one are decided and *cursor is it. */
static int pg_search(pg_store_t *s, arena_t *a, int q, int wq, const search_req_t *r,
                     const char *p3, const char *const *extra, int n_extra, reader_fn rd,
                     size_t size, void **out, size_t *n, const char **cursor, const char *what)
{
    *out = NULL;
    *n = 0;
    *cursor = NULL;
    size_t want = r->limit < 0 ? 0 : (size_t)r->limit;
    if (want == 0)
        return STORE_OK; /* nothing returned, nothing to continue from */
    char *up;
    if (upper_bound(r->id_prefix, &up) != 0)
        return pg_failf(s, STORE_FAULT_NONE, what, "out of memory");
    bool inclusive;
    const char *lo = search_lower(r, &inclusive);
    const char *last = NULL;
    int rc = STORE_ERR;
    PGresult *res = NULL;
    if (wq >= 0 && search_window(s, a, wq, lo, inclusive, up, n_extra > 1 ? extra[0] : NULL,
                                 n_extra > 1 ? extra[1] : NULL, &last, what) != STORE_OK)
        goto done;
    num_t l;
    const char *v[9] = {lo, inclusive ? "true" : "false", p3, lim(l, want + 1), up};
    int nparams = 5;
    for (int i = 0; i < n_extra && nparams < 9; i++)
        v[nparams++] = extra[i];
    if (wq >= 0)
        v[nparams - 1] = last;
    if (pg_query_planned(s, q, nparams, v, &res, what) != STORE_OK)
        goto done;
    /* The page's records stay within STORE_SEARCH_MAX_BYTES (one at
     * least); a page cut there continues from its last id. */
    bool more;
    if (pg_collect(s, a, res, rd, size, out, n, want, STORE_SEARCH_MAX_BYTES, true, &more, what) !=
        STORE_OK)
        goto done;
    rc = STORE_OK;
    /* id is the first member of promise_t, task_t and schedule_t. */
    if ((more || (last && *n == want)) && *n)
        *cursor = *(const char *const *)((char *)*out + (*n - 1) * size);
    else if (last)
        *cursor = last;
done:
    free(up);
    return rc;
}

static int pg_promise_search(store_t *st, arena_t *a, const search_req_t *r, promise_t **out,
                             size_t *n, const char **cursor)
{
    static const char what[] = "promise_search";
    pg_store_t *s = pg(st);
    if (r->has_state && !pstate_valid((pstate_t)r->state))
        return pg_failf(s, STORE_FAULT_NONE, what, "invalid promise state");
    const char *state = r->has_state ? pstate_name((pstate_t)r->state) : NULL;
    if (r->tags.n == 0)
        return pg_search(s, a, state ? Q_PROMISE_SEARCH_STATE : Q_PROMISE_SEARCH, -1, r, state,
                         NULL, 0, rd_promise, sizeof(promise_t), (void **)out, n, cursor, what);
    /* The first tag's rows drive; the state and the other tags reject. */
    size_t tg = NO_TEXT;
    s->buf.len = 0;
    if (r->tags.n > 1 && enc_kvmap(s, &r->tags, &tg, what) != STORE_OK)
        return STORE_ERR;
    const char *extra[] = {r->tags.items[0].key, r->tags.items[0].val, buf_at(s, tg), NULL};
    bool rejects = state || r->tags.n > 1;
    return pg_search(s, a, Q_PROMISE_SEARCH_TAG, rejects ? Q_PROMISE_TAG_WINDOW : -1, r, state,
                     extra, 4, rd_promise, sizeof(promise_t), (void **)out, n, cursor, what);
}

static int pg_promise_due(store_t *st, arena_t *a, int64_t t, size_t limit, const char ***ids,
                          size_t *n)
{
    num_t b1, b2;
    const char *v[] = {i64(b1, t), lim(b2, limit)};
    return pg_rows(pg(st), a, Q_PROMISE_DUE, 2, v, rd_string, sizeof(const char *), (void **)ids, n,
                   "promise_due");
}

static int pg_promise_branch(store_t *st, arena_t *a, const char *branch, const char *exclude_id,
                             size_t max_n, size_t max_bytes, promise_t **out, size_t *n, bool *more)
{
    static const char what[] = "promise_branch";
    pg_store_t *s = pg(st);
    num_t b, mb;
    const char *v[] = {branch, exclude_id, lim(b, max_n ? max_n + 1 : SIZE_MAX),
                       max_bytes ? lim(mb, max_bytes) : NULL};
    PGresult *r;
    *out = NULL;
    *n = 0;
    *more = false;
    if (pg_query(s, Q_PROMISE_BRANCH, 4, v, &r, what) != STORE_OK)
        return STORE_ERR;
    return pg_collect(s, a, r, rd_promise, sizeof(promise_t), (void **)out, n, max_n, max_bytes,
                      false, more, what);
}

/* ---- callbacks and listeners ------------------------------------------------ */

static int pg_callback_insert(store_t *st, const char *awaited, const char *awaiter, bool ready)
{
    const char *v[] = {awaited, awaiter, ready ? "true" : "false"};
    return pg_write(pg(st), Q_CALLBACK_INSERT, 3, v, "callback_insert");
}

static int pg_callback_ready(store_t *st, arena_t *a, const char *awaited, const char *after,
                             size_t max, const char ***awaiters, size_t *n, bool *more)
{
    static const char what[] = "callback_ready";
    pg_store_t *s = pg(st);
    num_t b;
    const char *v[] = {awaited, after ? after : "", max ? lim(b, max + 1) : NULL};
    PGresult *r;
    *awaiters = NULL;
    *n = 0;
    *more = false;
    if (pg_query(s, Q_CALLBACK_AWAITERS, 3, v, &r, what) != STORE_OK ||
        pg_collect(s, a, r, rd_string, sizeof(const char *), (void **)awaiters, n, max, 0, false,
                   more, what) != STORE_OK)
        return STORE_ERR;
    if (*n == 0)
        return STORE_OK;
    v[2] = (*awaiters)[*n - 1];
    if (pg_write(s, Q_CALLBACK_MARK_READY, 3, v, what) != STORE_OK) {
        *awaiters = NULL;
        *n = 0;
        *more = false;
        return STORE_ERR;
    }
    return STORE_OK;
}

static int pg_callback_delete_awaiter(store_t *st, const char *awaiter)
{
    const char *v[] = {awaiter};
    return pg_write(pg(st), Q_CALLBACK_DELETE_AWAITER, 1, v, "callback_delete_awaiter");
}

static int pg_callback_delete_ready(store_t *st, const char *awaiter)
{
    const char *v[] = {awaiter};
    if (pg_write(pg(st), Q_CALLBACK_DELETE_READY, 1, v, "callback_delete_ready") != STORE_OK)
        return STORE_ERR;
    return pg_write(pg(st), Q_CALLBACK_DELETE_LISTED, 1, v, "callback_delete_ready");
}

static int pg_listener_insert(store_t *st, const char *promise_id, const char *address)
{
    const char *v[] = {promise_id, address};
    return pg_write(pg(st), Q_LISTENER_INSERT, 2, v, "listener_insert");
}

static int pg_listener_take(store_t *st, arena_t *a, const char *promise_id, size_t max,
                            const char ***addresses, size_t *n, bool *more)
{
    static const char what[] = "listener_take";
    pg_store_t *s = pg(st);
    num_t b;
    const char *v[] = {promise_id, max ? lim(b, max) : NULL};
    PGresult *r;
    *addresses = NULL;
    *n = 0;
    *more = false;
    if (pg_query(s, Q_LISTENER_TAKE, 2, v, &r, what) != STORE_OK)
        return STORE_ERR;
    *more = PQntuples(r) > 0 && col_bool(r, 0, 1);
    if (pg_collect(s, a, r, rd_string, sizeof(const char *), (void **)addresses, n, 0, 0, false,
                   NULL, what) != STORE_OK) {
        *more = false;
        return STORE_ERR;
    }
    return STORE_OK;
}

/* ---- the fan-out list ------------------------------------------------------- */

static int pg_fanout_add(store_t *st, const char *id, const char *after)
{
    const char *v[] = {id, after};
    return pg_write(pg(st), Q_FANOUT_ADD, 2, v, "fanout_add");
}

static int rd_fanout(arena_t *a, const PGresult *r, int row, void *out)
{
    fanout_t *f = out;
    f->id = col_str(a, r, row, 0);
    f->after = col_str(a, r, row, 1);
    return f->id ? 0 : -1;
}

static int pg_fanout_due(store_t *st, arena_t *a, size_t limit, fanout_t **out, size_t *n)
{
    num_t b;
    const char *v[] = {limit ? lim(b, limit) : NULL};
    return pg_rows(pg(st), a, Q_FANOUT_DUE, 1, v, rd_fanout, sizeof(fanout_t), (void **)out, n,
                   "fanout_due");
}

static int pg_fanout_pass(store_t *st, const char *id, const char *after)
{
    const char *v[] = {id, after};
    return pg_write(pg(st), Q_FANOUT_PASS, 2, v, "fanout_pass");
}

static int pg_fanout_delete(store_t *st, const char *id)
{
    const char *v[] = {id};
    return pg_write(pg(st), Q_FANOUT_DELETE, 1, v, "fanout_delete");
}

static int pg_listener_count(store_t *st, const char *promise_id, const char *address, size_t max,
                             size_t *n, bool *registered)
{
    pg_store_t *s = pg(st);
    num_t b;
    const char *v[] = {promise_id, lim(b, max), address};
    PGresult *r;
    *n = 0;
    *registered = false;
    if (pg_query(s, Q_LISTENER_COUNT, 3, v, &r, "listener_count") != STORE_OK)
        return STORE_ERR;
    if (PQntuples(r)) {
        *n = (size_t)col_i64(r, 0, 0);
        *registered = col_bool(r, 0, 1);
    }
    PQclear(r);
    return STORE_OK;
}

/* ---- tasks and their timers ------------------------------------------------- */

static int pg_task_get(store_t *st, arena_t *a, const char *id, task_t **out)
{
    pg_store_t *s = pg(st);
    const char *v[] = {id};
    *out = NULL;
    if (s->in_tx && !s->reader && pg_write(s, Q_TASK_LOCK, 1, v, "task_get") != STORE_OK)
        return STORE_ERR;
    return pg_one(s, a, Q_TASK_GET, 1, v, rd_task, sizeof(task_t), (void **)out, "task_get");
}

static int task_write(store_t *st, int q, const char *id, tstate_t state, int64_t version,
                      const char *what)
{
    pg_store_t *s = pg(st);
    if (!tstate_valid(state))
        return pg_failf(s, STORE_FAULT_NONE, what, "invalid task state");
    num_t b;
    const char *v[] = {id, tstate_name(state), i64(b, version)};
    return pg_write(s, q, 3, v, what);
}

static int pg_task_insert(store_t *st, const char *id, tstate_t state, int64_t version)
{
    return task_write(st, Q_TASK_INSERT, id, state, version, "task_insert");
}

static int pg_task_update(store_t *st, const char *id, tstate_t state, int64_t version)
{
    return task_write(st, Q_TASK_UPDATE, id, state, version, "task_update");
}

static int pg_task_search(store_t *st, arena_t *a, const search_req_t *r, task_t **out, size_t *n,
                          const char **cursor)
{
    static const char what[] = "task_search";
    pg_store_t *s = pg(st);
    if (r->has_state && !tstate_valid((tstate_t)r->state))
        return pg_failf(s, STORE_FAULT_NONE, what, "invalid task state");
    return pg_search(s, a, Q_TASK_SEARCH, -1, r,
                     r->has_state ? tstate_name((tstate_t)r->state) : NULL, NULL, 0, rd_task,
                     sizeof(task_t), (void **)out, n, cursor, what);
}

static int pg_timer_get(store_t *st, arena_t *a, const char *id, task_timer_t **out)
{
    const char *v[] = {id};
    return pg_one(pg(st), a, Q_TIMER_GET, 1, v, rd_timer, sizeof(task_timer_t), (void **)out,
                  "timer_get");
}

static int pg_timer_set(store_t *st, const task_timer_t *t)
{
    num_t b1, b2, b3;
    const char *v[] = {t->id, i64(b1, t->type), i64(b2, t->timeout), t->pid, i64(b3, t->ttl)};
    return pg_write(pg(st), Q_TIMER_SET, 5, v, "timer_set");
}

static int pg_timer_delete(store_t *st, const char *id)
{
    const char *v[] = {id};
    return pg_write(pg(st), Q_TIMER_DELETE, 1, v, "timer_delete");
}

static int pg_timer_due(store_t *st, arena_t *a, int64_t t, size_t limit, task_timer_t **out,
                        size_t *n)
{
    num_t b1, b2;
    const char *v[] = {i64(b1, t), lim(b2, limit)};
    return pg_rows(pg(st), a, Q_TIMER_DUE, 2, v, rd_timer, sizeof(task_timer_t), (void **)out, n,
                   "timer_due");
}

static int pg_lease_renew_pid(store_t *st, const char *pid, const char *prefix, int64_t now)
{
    pg_store_t *s = pg(st);
    char *up;
    if (upper_bound(prefix, &up) != 0)
        return pg_failf(s, STORE_FAULT_NONE, "lease_renew_pid", "out of memory");
    num_t b;
    const char *v[] = {pid, i64(b, now), prefix ? prefix : "", up};
    int rc = pg_write(s, Q_LEASE_RENEW_PID, 4, v, "lease_renew_pid");
    free(up);
    return rc;
}

/* ---- outbox ------------------------------------------------------------------ */

static int pg_outbox_execute(store_t *st, const char *task_id, int64_t version, const char *address,
                             int64_t not_before)
{
    pg_store_t *s = pg(st);
    num_t b1, b2;
    const char *v[] = {task_id, i64(b1, version), address, i64(b2, not_before)};
    s->notify = true;
    return pg_write(s, Q_OUTBOX_EXECUTE, 4, v, "outbox_execute");
}

static int pg_outbox_unblock(store_t *st, const char *promise_id, const char *address)
{
    pg_store_t *s = pg(st);
    const char *v[] = {promise_id, address};
    s->notify = true;
    return pg_write(s, Q_OUTBOX_UNBLOCK, 2, v, "outbox_unblock");
}

static int pg_outbox_due(store_t *st, arena_t *a, int64_t t, size_t limit, outbox_msg_t **out,
                         size_t *n)
{
    num_t b1, b2;
    const char *v[] = {i64(b1, t), lim(b2, limit)};
    return pg_rows(pg(st), a, Q_OUTBOX_DUE, 2, v, rd_outbox, sizeof(outbox_msg_t), (void **)out, n,
                   "outbox_due");
}

static int pg_outbox_delete(store_t *st, int64_t seq)
{
    num_t b;
    const char *v[] = {i64(b, seq)};
    return pg_write(pg(st), Q_OUTBOX_DELETE, 1, v, "outbox_delete");
}

static int pg_outbox_defer(store_t *st, int64_t seq, int64_t not_before, int attempts)
{
    pg_store_t *s = pg(st);
    num_t b1, b2, b3;
    const char *v[] = {i64(b1, seq), i64(b2, not_before), i64(b3, attempts)};
    s->notify = true; /* another server may hold the stream it waits for */
    return pg_write(s, Q_OUTBOX_DEFER, 3, v, "outbox_defer");
}

static int pg_outbox_count(store_t *st, int64_t *n)
{
    pg_store_t *s = pg(st);
    PGresult *r;
    if (pg_query(s, Q_OUTBOX_COUNT, 0, NULL, &r, "outbox_count") != STORE_OK)
        return STORE_ERR;
    *n = PQntuples(r) ? col_i64(r, 0, 0) : 0;
    PQclear(r);
    return STORE_OK;
}

static int pg_outbox_claim(store_t *st, int64_t seq, int64_t now, int64_t until, bool *won)
{
    pg_store_t *s = pg(st);
    num_t b1, b2, b3;
    const char *v[] = {i64(b1, seq), i64(b2, now), i64(b3, until)};
    PGresult *r;
    *won = false;
    if (pg_query(s, Q_OUTBOX_CLAIM, 3, v, &r, "outbox_claim") != STORE_OK)
        return STORE_ERR;
    *won = PQntuples(r) == 1;
    PQclear(r);
    return STORE_OK;
}

/* ---- several servers ----------------------------------------------------------- */

static int pg_leader(store_t *st, bool *leader)
{
    pg_store_t *s = pg(st);
    *leader = false;
    if (!s->leader) {
        PGresult *r;
        if (pg_query(s, Q_LEADER, 0, NULL, &r, "leader") != STORE_OK)
            return STORE_ERR;
        s->leader = PQntuples(r) == 1 && col_bool(r, 0, 0);
        PQclear(r);
    }
    *leader = s->leader && conn_ok(s);
    return STORE_OK;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The listener thread: LISTEN on its own connection, fn(arg) for every
 * notification from another backend, reconnecting (and calling fn once,
 * as messages may have been queued meanwhile) after a loss. */
static void *listen_main(void *arg)
{
    pg_store_t *s = arg;
    pthread_setname_np(pthread_self(), "resonate-listen");
    PGconn *c = NULL;
    while (!atomic_load(&s->lstop)) {
        if (!c) {
            char err[512];
            c = connect_url(s->url, err, sizeof err);
            PGresult *r = c ? PQexec(c, "LISTEN " CHANNEL) : NULL;
            bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) {
                if (c)
                    PQfinish(c);
                c = NULL;
                for (int i = 0; i < 10 && !atomic_load(&s->lstop); i++)
                    sleep_ms(100);
                continue;
            }
            s->wfn(s->warg);
        }
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        int pr = poll(&pfd, 1, 200);
        if (pr < 0 && errno != EINTR)
            sleep_ms(100);
        if (pr <= 0)
            continue;
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = NULL;
            continue;
        }
        bool news = false;
        PGnotify *nt;
        while ((nt = PQnotifies(c))) {
            news |= nt->be_pid != atomic_load(&s->writer_pid);
            PQfreemem(nt);
        }
        if (news)
            s->wfn(s->warg);
    }
    if (c)
        PQfinish(c);
    return NULL;
}

static int pg_watch(store_t *st, void (*fn)(void *arg), void *arg)
{
    pg_store_t *s = pg(st);
    if (s->lrunning || s->reader)
        return pg_failf(s, STORE_FAULT_NONE, "watch",
                        s->reader ? "a reader cannot watch" : "already watching");
    s->wfn = fn;
    s->warg = arg;
    atomic_store(&s->lstop, false);
    int rc = pthread_create(&s->lthread, NULL, listen_main, s);
    if (rc != 0)
        return pg_failf(s, STORE_FAULT_NONE, "watch", strerror(rc));
    s->lrunning = true;
    return STORE_OK;
}

/* ---- schedules --------------------------------------------------------------- */

static int pg_schedule_get(store_t *st, arena_t *a, const char *id, schedule_t **out)
{
    pg_store_t *s = pg(st);
    const char *v[] = {id};
    int q = s->in_tx && !s->reader ? Q_SCHEDULE_GET_LOCK : Q_SCHEDULE_GET;
    return pg_one(s, a, q, 1, v, rd_schedule, sizeof(schedule_t), (void **)out, "schedule_get");
}

static int pg_schedule_insert(store_t *st, const schedule_t *sc)
{
    static const char what[] = "schedule_insert";
    pg_store_t *s = pg(st);
    size_t ph, tg;
    s->buf.len = 0;
    if (enc_headers(s, &sc->promise_param, &ph, what) != STORE_OK ||
        enc_kvmap(s, &sc->promise_tags, &tg, what) != STORE_OK)
        return STORE_ERR;
    num_t b1, b2, b3, b4;
    const char *v[] = {sc->id,
                       sc->cron,
                       sc->promise_id,
                       i64(b1, sc->promise_timeout),
                       buf_at(s, ph),
                       sc->promise_param.data,
                       buf_at(s, tg),
                       i64(b2, sc->created_at),
                       i64(b3, sc->next_run_at),
                       sc->has_last_run_at ? i64(b4, sc->last_run_at) : NULL};
    return pg_write(s, Q_SCHEDULE_INSERT, 10, v, what);
}

static int pg_schedule_delete(store_t *st, const char *id, bool *found)
{
    pg_store_t *s = pg(st);
    const char *v[] = {id};
    PGresult *r;
    *found = false;
    if (pg_query(s, Q_SCHEDULE_DELETE, 1, v, &r, "schedule_delete") != STORE_OK)
        return STORE_ERR;
    *found = PQntuples(r) > 0;
    PQclear(r);
    return STORE_OK;
}

static int pg_schedule_search(store_t *st, arena_t *a, const search_req_t *r, schedule_t **out,
                              size_t *n, const char **cursor)
{
    static const char what[] = "schedule_search";
    pg_store_t *s = pg(st);
    size_t tg = NO_TEXT;
    s->buf.len = 0;
    if (r->tags.n > 0 && enc_kvmap(s, &r->tags, &tg, what) != STORE_OK)
        return STORE_ERR;
    const char *extra[] = {NULL};
    return pg_search(s, a, Q_SCHEDULE_SEARCH, r->tags.n > 0 ? Q_SCHEDULE_WINDOW : -1, r,
                     buf_at(s, tg), extra, 1, rd_schedule, sizeof(schedule_t), (void **)out, n,
                     cursor, what);
}

static int pg_schedule_due(store_t *st, arena_t *a, int64_t t, size_t limit, size_t max_bytes,
                           schedule_t **out, size_t *n, bool *more)
{
    static const char what[] = "schedule_due";
    pg_store_t *s = pg(st);
    num_t b1, b2, b3;
    const char *v[] = {i64(b1, t), lim(b2, limit), max_bytes ? lim(b3, max_bytes) : NULL};
    PGresult *r;
    *out = NULL;
    *n = 0;
    *more = false;
    if (pg_query(s, Q_SCHEDULE_DUE, 3, v, &r, what) != STORE_OK)
        return STORE_ERR;
    return pg_collect(s, a, r, rd_schedule, sizeof(schedule_t), (void **)out, n, 0, max_bytes, true,
                      more, what);
}

static int pg_schedule_advance(store_t *st, const char *id, int64_t last_run_at,
                               int64_t next_run_at)
{
    num_t b1, b2;
    const char *v[] = {id, i64(b1, last_run_at), i64(b2, next_run_at)};
    return pg_write(pg(st), Q_SCHEDULE_ADVANCE, 3, v, "schedule_advance");
}

/* ---- debug ------------------------------------------------------------------- */

static int pg_reset(store_t *st)
{
    return pg_exec(pg(st), reset_sql, NULL, "reset");
}

static int pg_snap(store_t *st, arena_t *a, store_snap_t *out)
{
    static const char what[] = "snap";
    pg_store_t *s = pg(st);
    memset(out, 0, sizeof *out);
    if (pg_rows(s, a, Q_SNAP_PROMISES, 0, NULL, rd_promise, sizeof(promise_t),
                (void **)&out->promises, &out->n_promises, what) != STORE_OK ||
        pg_rows(s, a, Q_SNAP_CALLBACKS, 0, NULL, rd_callback, sizeof(callback_t),
                (void **)&out->callbacks, &out->n_callbacks, what) != STORE_OK ||
        pg_rows(s, a, Q_SNAP_LISTENERS, 0, NULL, rd_listener, sizeof(listener_t),
                (void **)&out->listeners, &out->n_listeners, what) != STORE_OK ||
        pg_rows(s, a, Q_SNAP_TASKS, 0, NULL, rd_task, sizeof(task_t), (void **)&out->tasks,
                &out->n_tasks, what) != STORE_OK ||
        pg_rows(s, a, Q_SNAP_TIMERS, 0, NULL, rd_timer, sizeof(task_timer_t), (void **)&out->timers,
                &out->n_timers, what) != STORE_OK ||
        pg_rows(s, a, Q_SNAP_MESSAGES, 0, NULL, rd_outbox, sizeof(outbox_msg_t),
                (void **)&out->messages, &out->n_messages, what) != STORE_OK) {
        memset(out, 0, sizeof *out);
        return STORE_ERR;
    }
    return STORE_OK;
}

static const store_vtab_t postgres_vtab = {
    .close = pg_close,
    .ping = pg_ping,
    .check = pg_check,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .release = pg_release,
    .rollback_to = pg_rollback_to,
    .checkpoint = pg_checkpoint,
    .promise_get = pg_promise_get,
    .promise_insert = pg_promise_insert,
    .promise_settle = pg_promise_settle,
    .promise_search = pg_promise_search,
    .promise_due = pg_promise_due,
    .promise_branch = pg_promise_branch,
    .callback_insert = pg_callback_insert,
    .callback_ready = pg_callback_ready,
    .callback_delete_awaiter = pg_callback_delete_awaiter,
    .callback_delete_ready = pg_callback_delete_ready,
    .listener_insert = pg_listener_insert,
    .listener_take = pg_listener_take,
    .listener_count = pg_listener_count,
    .fanout_add = pg_fanout_add,
    .fanout_due = pg_fanout_due,
    .fanout_pass = pg_fanout_pass,
    .fanout_delete = pg_fanout_delete,
    .task_get = pg_task_get,
    .task_insert = pg_task_insert,
    .task_update = pg_task_update,
    .task_search = pg_task_search,
    .timer_get = pg_timer_get,
    .timer_set = pg_timer_set,
    .timer_delete = pg_timer_delete,
    .timer_due = pg_timer_due,
    .lease_renew_pid = pg_lease_renew_pid,
    .outbox_execute = pg_outbox_execute,
    .outbox_unblock = pg_outbox_unblock,
    .outbox_due = pg_outbox_due,
    .outbox_delete = pg_outbox_delete,
    .outbox_defer = pg_outbox_defer,
    .outbox_count = pg_outbox_count,
    .outbox_claim = pg_outbox_claim,
    .leader = pg_leader,
    .watch = pg_watch,
    .schedule_get = pg_schedule_get,
    .schedule_insert = pg_schedule_insert,
    .schedule_delete = pg_schedule_delete,
    .schedule_search = pg_schedule_search,
    .schedule_due = pg_schedule_due,
    .schedule_advance = pg_schedule_advance,
    .reset = pg_reset,
    .snap = pg_snap,
};

/* ---- open and migrate ------------------------------------------------------ */

/* The schema version recorded in the database (0 when it has none). */
static int read_version(PGconn *c, int *version, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT max(version) FROM resonate_schema");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading the schema version: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    *version = PQntuples(r) && !PQgetisnull(r, 0, 0) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return 0;
}

static int exec_ok(PGconn *c, const char *text, const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, text);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
        char msg[400];
        copy_msg(msg, sizeof msg, PQresultErrorMessage(r));
        snprintf(err, errlen, "%s: %s", what, msg);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

/* Brings the database to this build's schema in one transaction, under a
 * transaction-level advisory lock: servers starting together wait for each
 * other, and each step runs once. A newer schema is refused untouched. */
static int migrate(PGconn *c, char *err, size_t errlen)
{
    int version;
    if (exec_ok(c, "BEGIN", "starting schema migration", err, errlen) != 0)
        return -1;
    if (exec_ok(c, "SELECT pg_advisory_xact_lock(" KEY_MIGRATE ")", "locking for migration", err,
                errlen) != 0 ||
        exec_ok(c, "CREATE TABLE IF NOT EXISTS resonate_schema (version integer NOT NULL)",
                "creating resonate_schema", err, errlen) != 0 ||
        read_version(c, &version, err, errlen) != 0)
        goto fail;
    if (version > N_MIGRATIONS) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this build supports (%d); use a "
                 "newer resonate or another database",
                 version, N_MIGRATIONS);
        goto fail;
    }
    for (int v = version; v < N_MIGRATIONS; v++) {
        char what[64];
        snprintf(what, sizeof what, "schema migration %d -> %d", v, v + 1);
        if (exec_ok(c, migrations[v], what, err, errlen) != 0)
            goto fail;
    }
    if (version < N_MIGRATIONS) {
        char set[128];
        snprintf(set, sizeof set,
                 "DELETE FROM resonate_schema; INSERT INTO resonate_schema VALUES (%d)",
                 N_MIGRATIONS);
        if (exec_ok(c, set, "setting the schema version", err, errlen) != 0)
            goto fail;
    }
    return exec_ok(c, "COMMIT", "committing schema migration", err, errlen);
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}

static pg_store_t *pg_new(const char *url, bool reader, char *err, size_t errlen)
{
    pg_store_t *s = calloc(1, sizeof *s);
    if (!s || !(s->url = strdup(url))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.v = &postgres_vtab;
    s->base.optimistic = true;
    s->reader = reader;
    s->conn = connect_url(url, err, errlen);
    if (!s->conn) {
        pg_close(&s->base);
        return NULL;
    }
    return s;
}

store_t *store_postgres_open(const char *url, char *err, size_t errlen)
{
    pg_store_t *s = pg_new(url, false, err, errlen);
    if (!s)
        return NULL;
    char why[512];
    if (migrate(s->conn, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    if (setup_conn(s, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    if (pg_ping(&s->base) != STORE_OK) {
        snprintf(err, errlen, "the database does not take a write: %s (a read-only standby?)",
                 s->base.errmsg);
        goto fail;
    }
    return &s->base;
fail:
    pg_close(&s->base);
    return NULL;
}

store_t *store_postgres_open_reader(const char *url, char *err, size_t errlen)
{
    pg_store_t *s = pg_new(url, true, err, errlen);
    if (!s)
        return NULL;
    int version;
    char why[512];
    if (read_version(s->conn, &version, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    if (version != PG_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "schema version %d, this build reads %d: open the writer (which migrates) "
                 "before any reader",
                 version, PG_SCHEMA_VERSION);
        goto fail;
    }
    if (setup_conn(s, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    return &s->base;
fail:
    pg_close(&s->base);
    return NULL;
}

int store_postgres_exec(store_t *st, const char *text)
{
    return pg_exec(pg(st), text, NULL, "exec");
}

size_t store_postgres_rows_received(store_t *st)
{
    return pg(st)->rows_received;
}
