/* store.h - the storage port: the durable state the protocol needs, as
 * row-level primitives. The core owns this interface; adapters in store/
 * (store/sqlite.c today) implement it by filling in a store_vtab_t, and
 * nothing in core/ knows which one it talks to or any SQL.
 *
 * The engine (core/engine.c) owns every protocol rule; a store only keeps
 * rows and answers queries. Callers use the store_*() wrappers below, never
 * the vtable directly.
 *
 * Threading: a store_t is used by exactly one thread at a time (the server's
 * store thread). Transactions: the caller brackets work with begin/commit;
 * inside a transaction, savepoint/release/rollback_to give each request of a
 * group commit its own atomicity.
 *
 * Readers: an adapter may also open read-only stores on the same data
 * (store/sqlite.h: store_sqlite_open_reader), each used by one thread at a
 * time while the writer runs on its own. A reader supports begin (a read
 * transaction: one consistent snapshot that includes every commit completed
 * before it began), commit, rollback, close, and the reads promise_get,
 * promise_search, task_get, task_search, schedule_get, schedule_search;
 * every other call fails with STORE_ERR. engine_read (core/engine.h) uses
 * nothing else.
 *
 * Errors: every function returns STORE_OK (0) or STORE_ERR (-1); after
 * STORE_ERR, store_errmsg() describes the failure until the next call and
 * store_fault() classifies it (STORE_FAULT_*): a transaction that lost a
 * race with another server is worth running again, a database that cannot
 * be reached is answered 503.
 * Inside a transaction without an open savepoint, an adapter may only
 * send a write whose result the caller does not read (an insert, update or
 * delete) and report its failure at the next read, savepoint, release or
 * commit of that transaction (PostgreSQL pipelines them): a failure is
 * then not the current call's own, and the caller must give up the whole
 * transaction (rollback), as it does after any failure without a
 * savepoint. Commit fails when any write of the transaction failed.
 *
 * Several servers: an adapter may share its database with other servers
 * (store/postgres.c). Then background work runs where store_leader says so,
 * an outbox row is delivered by the server that claims it
 * (outbox_claim), and store_watch tells this server when another one may
 * have queued messages. A single-server adapter (SQLite) is always the
 * leader, always wins its claims and never calls the watcher.
 * Records returned by reads are allocated from the arena passed in; the
 * caller owns nothing else. */
#ifndef RESONATE_STORE_H
#define RESONATE_STORE_H

#include "core/arena.h"
#include "core/types.h"

#define STORE_OK 0
#define STORE_ERR (-1)

/* What the last STORE_ERR was (store_fault). */
#define STORE_FAULT_NONE 0 /* any other failure: a bug, a full disk, bad data */
#define STORE_FAULT_CONFLICT                                                                       \
    1 /* lost a race with another connection (unique key,                                          \
         deadlock, serialization, lock wait timeout): roll                                         \
         back and run the whole transaction again */
#define STORE_FAULT_DOWN                                                                           \
    2 /* the database is unreachable now; the adapter                                              \
         reconnects by itself at the next check */

/* Most stored bytes (the sum of a record's columns) of the records of one
 * promise or schedule search page, though a page always holds one record:
 * a record may be ~4 MiB (param and value each up to server.max_body), so
 * without it one search of limit 1000 would build gigabytes (the records,
 * then their JSON, then its text) on the thread that answers it. The page
 * then ends with a cursor, as a full one does. */
#define STORE_SEARCH_MAX_BYTES ((size_t)STORE_SEARCH_MAX_BYTES_N)
#define STORE_SEARCH_MAX_BYTES_N 4194304 /* the same, as a literal (for SQL text) */

/* Whether a record of row bytes, after records of bytes already taken,
 * passes a budget of max bytes. bytes may already be over max (a first
 * record larger than the budget is taken alone), and then every further
 * record passes it. */
static inline bool store_over_budget(size_t bytes, size_t row, size_t max)
{
    return bytes > max || row > max - bytes;
}

typedef struct store store_t;

/* Task timer types, as the reference numbers them in debug.snap. */
#define TIMER_RETRY 0
#define TIMER_LEASE 1

typedef struct {
    const char *id;
    int type; /* TIMER_RETRY or TIMER_LEASE */
    int64_t timeout;
    const char *pid; /* lease only */
    int64_t ttl;     /* lease only */
} task_timer_t;

typedef enum { MSG_EXECUTE, MSG_UNBLOCK } msg_kind_t;

/* One row of the outbox: a message waiting for delivery. */
typedef struct {
    int64_t seq; /* outbox row id */
    msg_kind_t kind;
    const char *address;
    const char *id;     /* task id (execute) or promise id (unblock) */
    int64_t version;    /* execute only */
    int64_t not_before; /* earliest delivery time (resonate:delay, back-off) */
    int attempts;
    /* When the row was queued (ms), by the database's clock, for adapters
     * shared by several servers; 0 = not kept (SQLite). */
    int64_t queued_at;
} outbox_msg_t;

typedef struct {
    const char *awaited;
    const char *awaiter;
} callback_t;

typedef struct {
    const char *promise_id;
    const char *address;
} listener_t;

/* A row of the fan-out list (fanout_add). */
typedef struct {
    const char *id;
    const char *after; /* last awaiter resumed; NULL = none yet */
} fanout_t;

/* Everything debug.snap shows, each list in the order the protocol gives. */
typedef struct {
    /* by id */
    promise_t *promises;
    size_t n_promises;
    /* not-ready only, by (awaiter, awaited) */
    callback_t *callbacks;
    size_t n_callbacks;
    /* by (promise id, address) */
    listener_t *listeners;
    size_t n_listeners;
    /* by id */
    task_t *tasks;
    size_t n_tasks;
    /* by id */
    task_timer_t *timers;
    size_t n_timers;
    /* executes by task id, then unblocks by (promise id, address) */
    outbox_msg_t *messages;
    size_t n_messages;
} store_snap_t;

typedef struct store_vtab {
    /* lifecycle and transactions */
    void (*close)(store_t *st);
    /* Readiness: STORE_OK only when the database takes a write now: check
     * below, then a real write (durable with the enclosing transaction's
     * commit, or at once outside one), so a read-only file, a full disk or
     * an I/O error fail it. */
    int (*ping)(store_t *st);
    /* Cheap (meant for every batch, outside a transaction): STORE_ERR when
     * writes could no longer be kept, e.g. the database file was deleted or
     * replaced while open; errmsg names the cause and the fix. Callers then
     * answer 503 instead of acknowledging writes that would be lost. */
    int (*check)(store_t *st);
    int (*begin)(store_t *st);
    int (*commit)(store_t *st);
    int (*rollback)(store_t *st);
    /* rollback is a no-op when no transaction is open (the database may
     * have rolled back by itself after a disk-full or I/O error). */
    int (*savepoint)(store_t *st);
    int (*release)(store_t *st);
    /* Undoes every write since savepoint and ends the savepoint (one level,
     * no nesting). Fails when the whole transaction is already gone; the
     * caller must then roll back and fail the entire group. */
    int (*rollback_to)(store_t *st);
    int (*checkpoint)(store_t *st);

    /* promises; *out is NULL when not found. Inserting an existing key
     * (promise, task, schedule) is an error; updates and deletes of a
     * missing row are no-ops. */
    int (*promise_get)(store_t *st, arena_t *a, const char *id, promise_t **out);
    int (*promise_insert)(store_t *st, const promise_t *p);
    int (*promise_settle)(store_t *st, const char *id, pstate_t state, const pvalue_t *value,
                          int64_t settled_at);
    /* Up to q->limit matches with id > q->cursor (byte order), by id. A
     * match has q->state (when has_state), every key/value of q->tags among
     * its tags and, when q->id_prefix is set, an id starting with it
     * (byte-wise; a cursor below it starts at it). Adapters serve the
     * prefix as an id range.
     *
     * *cursor (arena) is where the next page starts, NULL when no further
     * match exists. With a full page and a further match it is the last
     * returned id; a page whose records hold STORE_SEARCH_MAX_BYTES ends
     * before the match that would pass it (unless it is the first) and is
     * full in this sense. An adapter may bound the rows it examines per call
     * (store/sqlite.c: STORE_SEARCH_SCAN_MAX): it then stops early with
     * *cursor set past the ids it has decided, possibly with fewer than
     * limit matches (even none); *cursor may then be set although no
     * further match exists. A caller pages on until *cursor is NULL. */
    int (*promise_search)(store_t *st, arena_t *a, const search_req_t *q, promise_t **out,
                          size_t *n, const char **cursor);
    /* Ids of pending promises with timeout_at <= t, by (timeout, id), at
     * most limit. */
    int (*promise_due)(store_t *st, arena_t *a, int64_t t, size_t limit, const char ***ids,
                       size_t *n);
    /* Promises whose resonate:branch tag equals branch, except exclude_id, by
     * id, as many as fit both bounds (0 = unbounded): at most max_n of them,
     * and at most max_bytes counting the stored bytes of each one (all its
     * columns); the first that does not fit ends the list, so no more than
     * one row past the budget is read. *more says whether a match was
     * left out. */
    int (*promise_branch)(store_t *st, arena_t *a, const char *branch, const char *exclude_id,
                          size_t max_n, size_t max_bytes, promise_t **out, size_t *n, bool *more);

    /* callbacks */
    /* An existing (awaited, awaiter) pair is kept as it is, except that
     * ready true marks it ready. */
    int (*callback_insert)(store_t *st, const char *awaited, const char *awaiter, bool ready);
    /* Of the callbacks on awaited whose awaiter comes after `after` (byte
     * order; NULL = from the first) and that are not ready yet, marks the
     * first max (by awaiter; max 0 = all of them) ready and returns their
     * awaiters, by id. *more says whether such callbacks remain past the
     * last one returned. Reads the callbacks past `after` only, so a
     * fan-out taken in steps costs each step its own rows. */
    int (*callback_ready)(store_t *st, arena_t *a, const char *awaited, const char *after,
                          size_t max, const char ***awaiters, size_t *n, bool *more);
    int (*callback_delete_awaiter)(store_t *st, const char *awaiter);
    /* Deletes the ready callbacks of awaiter and its callbacks on the
     * promises of the fan-out list (fanout_add), which the settlement has
     * not marked ready yet: what is left is as if each settlement had
     * marked all its callbacks ready at once. */
    int (*callback_delete_ready)(store_t *st, const char *awaiter);

    /* listeners */
    /* Inserting an existing (promise, address) pair is a no-op. */
    int (*listener_insert)(store_t *st, const char *promise_id, const char *address);
    /* Removes the first max listeners of promise_id (by address; max 0 =
     * all of them) and returns their addresses, sorted. *more says whether
     * listeners of promise_id remain. */
    int (*listener_take)(store_t *st, arena_t *a, const char *promise_id, size_t max,
                         const char ***addresses, size_t *n, bool *more);
    /* How many listeners promise_id has, counted up to max: *n is
     * min(count, max), so *n == max means max or more (max 0: *n is 0).
     * Reads at most max entries of the (promise_id, address) key, never
     * the rest, so asking whether a promise has reached a bound costs the
     * bound whatever the promise holds. *registered: whether the pair
     * (promise_id, address) is stored (one key lookup). */
    int (*listener_count)(store_t *st, const char *promise_id, const char *address, size_t max,
                          size_t *n, bool *registered);

    /* The fan-out list: settled promises whose callbacks and listeners
     * are not all processed yet (a settlement takes a bounded batch in its
     * own transaction, engine_tick the rest), each with how far its
     * awaiters have been resumed: after, the last awaiter resumed (NULL =
     * none yet), as callback_ready takes it. Adding an id already listed
     * is a no-op; deleting a missing one too. */
    int (*fanout_add)(store_t *st, const char *id, const char *after);
    /* At most limit listed fan-outs (0 = all), those passed over the
     * fewest times (fanout_pass) first, then by id. On a database shared
     * by several servers each returned row stays locked until the
     * transaction ends, and rows another transaction holds are skipped: a
     * fan-out is continued by one server at a time. */
    int (*fanout_due)(store_t *st, arena_t *a, size_t limit, fanout_t **out, size_t *n);
    /* Records one more pass over listed id, which has now resumed its
     * awaiters up to after (NULL = none yet): other listed ids, passed
     * over fewer times, come first next time. */
    int (*fanout_pass)(store_t *st, const char *id, const char *after);
    int (*fanout_delete)(store_t *st, const char *id);

    /* tasks; task_get fills resumes and, while a lease exists, ttl/pid */
    int (*task_get)(store_t *st, arena_t *a, const char *id, task_t **out);
    int (*task_insert)(store_t *st, const char *id, tstate_t state, int64_t version);
    int (*task_update)(store_t *st, const char *id, tstate_t state, int64_t version);
    /* As promise_search, with q->tags ignored. */
    int (*task_search)(store_t *st, arena_t *a, const search_req_t *q, task_t **out, size_t *n,
                       const char **cursor);
    /* task timers: at most one per task */
    int (*timer_get)(store_t *st, arena_t *a, const char *id, task_timer_t **out);
    int (*timer_set)(store_t *st, const task_timer_t *t); /* upsert */
    int (*timer_delete)(store_t *st, const char *id);
    /* Timers with timeout <= t, by (timeout, id), at most limit. */
    int (*timer_due)(store_t *st, arena_t *a, int64_t t, size_t limit, task_timer_t **out,
                     size_t *n);
    /* Renews every lease pid holds on an acquired task whose id starts
     * with prefix (NULL or "": every id): timeout = now + ttl, saturating
     * (time_add_sat). One statement, whatever the number of leases (an
     * empty task.heartbeat). Under a shared database a lease another
     * server changed meanwhile (released, taken by another pid) is left as
     * that server wrote it. */
    int (*lease_renew_pid)(store_t *st, const char *pid, const char *prefix, int64_t now);

    /* outbox */
    /* Queues execute(id, version) to address with attempts 0, replacing an
     * older execute of the same task. The replacement gets a new seq (it
     * queues last), so deleting the old seq after an in-flight delivery
     * cannot remove it. Seqs are never reused. */
    int (*outbox_execute)(store_t *st, const char *task_id, int64_t version, const char *address,
                          int64_t not_before);
    /* Queues unblock(promise) to address, deliverable at once (not_before
     * 0), unless one is already queued. */
    int (*outbox_unblock)(store_t *st, const char *promise_id, const char *address);
    /* Messages with not_before <= t, at most limit: the never-tried ones
     * (not_before 0) by seq and the others (retried, delayed) by
     * (not_before, seq), taken one of each in turn, so that a stream of new
     * messages cannot hold the retries back, nor a backlog of retries the
     * new ones. The cost follows the rows returned, not the rows queued for
     * later (an index on (not_before, seq)). */
    int (*outbox_due)(store_t *st, arena_t *a, int64_t t, size_t limit, outbox_msg_t **out,
                      size_t *n);
    int (*outbox_delete)(store_t *st, int64_t seq);
    int (*outbox_defer)(store_t *st, int64_t seq, int64_t not_before, int attempts);
    int (*outbox_count)(store_t *st, int64_t *n);
    /* Claims row seq for delivery by this server until `until` (ms), outside
     * a transaction (committed at once): *won is true when the row exists and
     * no other claim on it lasts past now. outbox_due leaves out rows claimed
     * past t by anyone; outbox_defer ends the claim. A server that dies
     * holding a claim loses nothing: the row is due again after until. */
    int (*outbox_claim)(store_t *st, int64_t seq, int64_t now, int64_t until, bool *won);

    /* several servers */
    /* *leader is true when this server is the one that runs background
     * work (timeouts, retries, leases, schedules) now; outside a
     * transaction. Another server takes over once the leader's connection
     * is gone. */
    int (*leader)(store_t *st, bool *leader);
    /* Calls fn(arg) on another thread, from now until close, whenever
     * another server may have queued a message (a hint; the outbox is still
     * polled). fn must be cheap and thread-safe. */
    int (*watch)(store_t *st, void (*fn)(void *arg), void *arg);

    /* schedules */
    int (*schedule_get)(store_t *st, arena_t *a, const char *id, schedule_t **out);
    int (*schedule_insert)(store_t *st, const schedule_t *s);
    int (*schedule_delete)(store_t *st, const char *id, bool *found);
    /* As promise_search, with q->tags matched against promise_tags and
     * q->state ignored. */
    int (*schedule_search)(store_t *st, arena_t *a, const search_req_t *q, schedule_t **out,
                           size_t *n, const char **cursor);
    /* Schedules with next_run_at <= t, by (next_run_at, id), at most limit;
     * with max_bytes non-zero, also ending before the first schedule that
     * would take their stored bytes past it (one schedule at least), and
     * *more set when that left a due schedule out. */
    int (*schedule_due)(store_t *st, arena_t *a, int64_t t, size_t limit, size_t max_bytes,
                        schedule_t **out, size_t *n, bool *more);
    int (*schedule_advance)(store_t *st, const char *id, int64_t last_run_at, int64_t next_run_at);

    /* debug; reset deletes every row, keeping the schema */
    int (*reset)(store_t *st);
    int (*snap)(store_t *st, arena_t *a, store_snap_t *out);
} store_vtab_t;

struct store {
    const store_vtab_t *v;
    char errmsg[512];
    int fault; /* STORE_FAULT_* of the last STORE_ERR */
    /* Set by an adapter whose savepoints cost something on every request
     * (PostgreSQL: a round trip each; SQLite: a statement journal holding
     * a copy of every page the request changes) and whose failures are
     * rare: callers may then run a group of requests without savepoints
     * and, only when one fails, roll the group back and run it again with
     * a savepoint per request (server/exec.c). */
    bool optimistic;
    /* Outbox rows written through the wrappers below (inserts and defers,
     * committed or not), for the deliverer to skip looking at the outbox
     * when nothing can be due: how many so far, and the earliest
     * not_before among those since the deliverer last reset outbox_next to
     * INT64_MAX. Owned by the thread that owns st. Adapters allocate st
     * zeroed, so a new store reads as "something may be due". */
    uint64_t outbox_writes;
    int64_t outbox_next;
    /* Fan-outs listed through store_fanout_add (committed or not), for the
     * store thread to run its next tick at once rather than a
     * timeouts.poll_interval later. Owned by the thread that owns st. */
    uint64_t fanout_writes;
};

/* Notes an outbox write deliverable from not_before. */
static inline void store_outbox_note(store_t *st, int64_t not_before)
{
    st->outbox_writes++;
    if (not_before < st->outbox_next)
        st->outbox_next = not_before;
}

/* The last error message of st. */
static inline const char *store_errmsg(const store_t *st)
{
    return st->errmsg;
}

/* The class of the last failure (STORE_FAULT_*). */
static inline int store_fault(const store_t *st)
{
    return st->fault;
}

/* One wrapper per vtable entry; the contracts are those of store_vtab_t. */

static inline void store_close(store_t *st)
{
    st->v->close(st);
}

static inline int store_ping(store_t *st)
{
    return st->v->ping(st);
}

static inline int store_check(store_t *st)
{
    return st->v->check(st);
}

static inline int store_begin(store_t *st)
{
    return st->v->begin(st);
}

static inline int store_commit(store_t *st)
{
    return st->v->commit(st);
}

static inline int store_rollback(store_t *st)
{
    return st->v->rollback(st);
}

static inline int store_savepoint(store_t *st)
{
    return st->v->savepoint(st);
}

static inline int store_release(store_t *st)
{
    return st->v->release(st);
}

static inline int store_rollback_to(store_t *st)
{
    return st->v->rollback_to(st);
}

static inline int store_checkpoint(store_t *st)
{
    return st->v->checkpoint(st);
}

static inline int store_promise_get(store_t *st, arena_t *a, const char *id, promise_t **out)
{
    return st->v->promise_get(st, a, id, out);
}

static inline int store_promise_insert(store_t *st, const promise_t *p)
{
    return st->v->promise_insert(st, p);
}

static inline int store_promise_settle(store_t *st, const char *id, pstate_t state,
                                       const pvalue_t *value, int64_t settled_at)
{
    return st->v->promise_settle(st, id, state, value, settled_at);
}

static inline int store_promise_search(store_t *st, arena_t *a, const search_req_t *q,
                                       promise_t **out, size_t *n, const char **cursor)
{
    return st->v->promise_search(st, a, q, out, n, cursor);
}

static inline int store_promise_due(store_t *st, arena_t *a, int64_t t, size_t limit,
                                    const char ***ids, size_t *n)
{
    return st->v->promise_due(st, a, t, limit, ids, n);
}

static inline int store_promise_branch(store_t *st, arena_t *a, const char *branch,
                                       const char *exclude_id, size_t max_n, size_t max_bytes,
                                       promise_t **out, size_t *n, bool *more)
{
    return st->v->promise_branch(st, a, branch, exclude_id, max_n, max_bytes, out, n, more);
}

static inline int store_callback_insert(store_t *st, const char *awaited, const char *awaiter,
                                        bool ready)
{
    return st->v->callback_insert(st, awaited, awaiter, ready);
}

static inline int store_callback_ready(store_t *st, arena_t *a, const char *awaited,
                                       const char *after, size_t max, const char ***awaiters,
                                       size_t *n, bool *more)
{
    return st->v->callback_ready(st, a, awaited, after, max, awaiters, n, more);
}

static inline int store_callback_delete_awaiter(store_t *st, const char *awaiter)
{
    return st->v->callback_delete_awaiter(st, awaiter);
}

static inline int store_callback_delete_ready(store_t *st, const char *awaiter)
{
    return st->v->callback_delete_ready(st, awaiter);
}

static inline int store_listener_insert(store_t *st, const char *promise_id, const char *address)
{
    return st->v->listener_insert(st, promise_id, address);
}

static inline int store_listener_take(store_t *st, arena_t *a, const char *promise_id, size_t max,
                                      const char ***addresses, size_t *n, bool *more)
{
    return st->v->listener_take(st, a, promise_id, max, addresses, n, more);
}

static inline int store_listener_count(store_t *st, const char *promise_id, const char *address,
                                       size_t max, size_t *n, bool *registered)
{
    return st->v->listener_count(st, promise_id, address, max, n, registered);
}

static inline int store_fanout_add(store_t *st, const char *id, const char *after)
{
    st->fanout_writes++;
    return st->v->fanout_add(st, id, after);
}

static inline int store_fanout_due(store_t *st, arena_t *a, size_t limit, fanout_t **out, size_t *n)
{
    return st->v->fanout_due(st, a, limit, out, n);
}

static inline int store_fanout_pass(store_t *st, const char *id, const char *after)
{
    return st->v->fanout_pass(st, id, after);
}

static inline int store_fanout_delete(store_t *st, const char *id)
{
    return st->v->fanout_delete(st, id);
}

static inline int store_task_get(store_t *st, arena_t *a, const char *id, task_t **out)
{
    return st->v->task_get(st, a, id, out);
}

static inline int store_task_insert(store_t *st, const char *id, tstate_t state, int64_t version)
{
    return st->v->task_insert(st, id, state, version);
}

static inline int store_task_update(store_t *st, const char *id, tstate_t state, int64_t version)
{
    return st->v->task_update(st, id, state, version);
}

static inline int store_task_search(store_t *st, arena_t *a, const search_req_t *q, task_t **out,
                                    size_t *n, const char **cursor)
{
    return st->v->task_search(st, a, q, out, n, cursor);
}

static inline int store_timer_get(store_t *st, arena_t *a, const char *id, task_timer_t **out)
{
    return st->v->timer_get(st, a, id, out);
}

static inline int store_timer_set(store_t *st, const task_timer_t *t)
{
    return st->v->timer_set(st, t);
}

static inline int store_timer_delete(store_t *st, const char *id)
{
    return st->v->timer_delete(st, id);
}

static inline int store_timer_due(store_t *st, arena_t *a, int64_t t, size_t limit,
                                  task_timer_t **out, size_t *n)
{
    return st->v->timer_due(st, a, t, limit, out, n);
}

static inline int store_lease_renew_pid(store_t *st, const char *pid, const char *prefix,
                                        int64_t now)
{
    return st->v->lease_renew_pid(st, pid, prefix, now);
}

static inline int store_outbox_execute(store_t *st, const char *task_id, int64_t version,
                                       const char *address, int64_t not_before)
{
    store_outbox_note(st, not_before);
    return st->v->outbox_execute(st, task_id, version, address, not_before);
}

static inline int store_outbox_unblock(store_t *st, const char *promise_id, const char *address)
{
    store_outbox_note(st, INT64_MIN);
    return st->v->outbox_unblock(st, promise_id, address);
}

static inline int store_outbox_due(store_t *st, arena_t *a, int64_t t, size_t limit,
                                   outbox_msg_t **out, size_t *n)
{
    return st->v->outbox_due(st, a, t, limit, out, n);
}

static inline int store_outbox_delete(store_t *st, int64_t seq)
{
    return st->v->outbox_delete(st, seq);
}

static inline int store_outbox_defer(store_t *st, int64_t seq, int64_t not_before, int attempts)
{
    store_outbox_note(st, not_before);
    return st->v->outbox_defer(st, seq, not_before, attempts);
}

static inline int store_outbox_count(store_t *st, int64_t *n)
{
    return st->v->outbox_count(st, n);
}

static inline int store_outbox_claim(store_t *st, int64_t seq, int64_t now, int64_t until,
                                     bool *won)
{
    return st->v->outbox_claim(st, seq, now, until, won);
}

static inline int store_leader(store_t *st, bool *leader)
{
    return st->v->leader(st, leader);
}

static inline int store_watch(store_t *st, void (*fn)(void *arg), void *arg)
{
    return st->v->watch(st, fn, arg);
}

static inline int store_schedule_get(store_t *st, arena_t *a, const char *id, schedule_t **out)
{
    return st->v->schedule_get(st, a, id, out);
}

static inline int store_schedule_insert(store_t *st, const schedule_t *s)
{
    return st->v->schedule_insert(st, s);
}

static inline int store_schedule_delete(store_t *st, const char *id, bool *found)
{
    return st->v->schedule_delete(st, id, found);
}

static inline int store_schedule_search(store_t *st, arena_t *a, const search_req_t *q,
                                        schedule_t **out, size_t *n, const char **cursor)
{
    return st->v->schedule_search(st, a, q, out, n, cursor);
}

static inline int store_schedule_due(store_t *st, arena_t *a, int64_t t, size_t limit,
                                     size_t max_bytes, schedule_t **out, size_t *n, bool *more)
{
    return st->v->schedule_due(st, a, t, limit, max_bytes, out, n, more);
}

static inline int store_schedule_advance(store_t *st, const char *id, int64_t last_run_at,
                                         int64_t next_run_at)
{
    return st->v->schedule_advance(st, id, last_run_at, next_run_at);
}

static inline int store_reset(store_t *st)
{
    return st->v->reset(st);
}

static inline int store_snap(store_t *st, arena_t *a, store_snap_t *out)
{
    return st->v->snap(st, a, out);
}

#endif
