/* engine.h - the protocol's state machine.
 *
 * engine_apply runs one decoded request against a store, inside a
 * transaction (or savepoint) the caller opened, and produces its response.
 * Every rule about what a request does to promises, tasks, callbacks,
 * listeners, schedules and the outbox lives here and nowhere else; the store
 * only keeps rows. A storage failure yields a 500 and a non-zero return so
 * the caller rolls the request's savepoint back. */
#ifndef RESONATE_ENGINE_H
#define RESONATE_ENGINE_H

#include "core/wire.h"
#include "core/store.h"

typedef struct {
    int64_t retry_timeout; /* ms before an undelivered pending task is re-dispatched */
    /* Bounds of a task's preload (tasks.preload_max_count, _bytes; 0 = none):
     * promises at most, and bytes of their encoded records at most. */
    size_t preload_max_count;
    size_t preload_max_bytes;
    /* limits.listeners_per_promise (0 = none): a promise.register_listener
     * that would add a listener past this many on one pending promise is
     * refused (429). Its settlement queues one unblock per listener in one
     * transaction, during which every other write waits. */
    size_t listeners_per_promise;
    /* limits.settle_fanout_batch (0 = none): a settlement resumes at most
     * this many awaiters and queues at most this many unblocks in its own
     * transaction; the rest go on the store's fan-out list, which
     * engine_tick works through in batches of this size, so one promise
     * with a huge fan-out never holds the store for long. */
    size_t settle_fanout_batch;
} engine_config_t;

/* Applies req (req->now set) and fills resp. Returns 0 when the request's
 * writes should be kept (whatever its status), -1 on a storage error (resp is
 * a 500 then and the writes must be rolled back). Allocations go to a. */
int engine_apply(const engine_config_t *cfg, store_t *st, arena_t *a, const request_t *req,
                 response_t *resp);

/* engine_read's answer when the request must go to engine_apply instead. */
#define ENGINE_READ_WRITER 1

/* True for the kinds engine_read answers: promise.get, promise.search,
 * task.get, task.search, schedule.get, schedule.search. */
bool engine_is_read(op_t op);

/* Answers a read kind (engine_is_read) from st, a reader (core/store.h) or
 * the writer outside a transaction, in one read transaction it opens and
 * ends, with exactly the answer engine_apply would give at req->now.
 * Returns 0 with resp filled; -1 on a storage error (resp is a 500);
 * ENGINE_READ_WRITER (resp left empty) when the request is not a read kind
 * or its answer needs a write: a promise.get or task.get of a promise still
 * pending past its timeoutAt. engine_apply's lazy timeout settles that
 * promise with the whole settlement chain (task fulfilled, awaiters resumed,
 * listeners unblocked), so such a request goes to the writer rather than
 * answering a settled record whose effects are not stored yet.
 *
 * Freshness: the read transaction begins after the request arrived, hence
 * after the answer to any write its client saw; the writer answers only
 * after its commit returned, and a WAL read transaction sees every commit
 * completed before it began. So a read never misses an acknowledged
 * write. */
int engine_read(const engine_config_t *cfg, store_t *st, arena_t *a, const request_t *req,
                response_t *resp);

/* Arena bytes each kind of a tick's work may take (the records it reads,
 * the copies it makes) before the tick ends with *more, after one item at
 * least: due promises, timers and schedules of ~4 MiB each would otherwise
 * make one tick hold gigabytes, in one transaction every other write waits
 * for. */
#define ENGINE_TICK_MAX_BYTES ((size_t)16 << 20)

/* One background tick at time t: continues the fan-outs of settled
 * promises (store fanout_due: awaiters resumed, unblocks queued), times out
 * due promises (timers resolve, others reject as timed out), expires
 * leases, re-dispatches pending tasks whose retry timer passed, and fires
 * each due schedule once; at most limit items of each kind, and of each
 * kind what fits in ENGINE_TICK_MAX_BYTES (schedules: their records, then
 * twice that with the promises they create), and at most
 * cfg->settle_fanout_batch awaiters and as many unblocks of fan-outs
 * together; limit 0 bounds none of these (debug.tick's complete pass: every
 * fan-out to its end). *more is set when a limit was reached and work was
 * left for the next tick. Returns 0, or -1 with the reason in
 * store_errmsg(st). */
int engine_tick(const engine_config_t *cfg, store_t *st, arena_t *a, int64_t t, size_t limit,
                bool *more);

/* The body of the message that outbox row m stands for, as sent to its
 * address (execute: {kind, head:{serverUrl}, data:{task:{id, version}}};
 * unblock: {kind, head:{}, data:{promise}}), malloc'd in *json (caller
 * frees). *json is NULL when the row is stale and must be dropped unsent:
 * an execute whose task has since left that version's pending state (a newer
 * execute supersedes it, or nobody could acquire it), or an unblock whose
 * promise no longer exists. Returns 0, or -1 on a storage error (the row
 * stays and is tried again). */
int engine_message(store_t *st, arena_t *a, const outbox_msg_t *m, const char *server_url,
                   char **json);

#endif
