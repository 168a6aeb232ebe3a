/* outbox.h - delivery of committed outbox rows to their addresses.
 *
 * Runs on the store thread. outbox_deliver reads due rows (committed ones
 * only: it runs between transactions), hands each to its transport (SSE
 * stream or HTTP push) and records the outcome in memory; outbox_flush,
 * called inside the next transaction, deletes delivered rows and defers
 * failed ones with exponential back-off, dropping a row (log line and
 * counter) once it has failed max_attempts times; the outcomes are
 * forgotten only once that transaction is committed (outbox_flush_end).
 * Deleting in the next
 * transaction rather than in one of its own saves an fsync per delivery;
 * the price is that a crash in between re-delivers a message
 * (at-least-once), which workers tolerate: executes carry a version and
 * unblocks are idempotent. A message a poll stream took is delivered only
 * once written (poll_hub_on_result); until then its row is held (see
 * OUTBOX_POLL_HOLD_MS).
 *
 * What a row says and whether it is still worth sending is a protocol rule
 * and lives in the engine (engine_message): a stale row is dropped unsent. */
#ifndef RESONATE_OUTBOX_H
#define RESONATE_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "server/poll.h"
#include "server/push.h"
#include "core/store.h"

typedef struct outbox outbox_t;

/* How long a message a poll stream took may wait there for its result:
 * longer than a stream can hold it, as libmicrohttpd closes a connection
 * that takes nothing for HTTP_IDLE_TIMEOUT_S (server/http.h; http.c
 * asserts the order), and the stream then reports it undelivered. Its
 * row is deferred to this time at the next transaction, unless the result
 * came first, so that delivery rounds do not read it again meanwhile;
 * after a crash it is due again then. */
#define OUTBOX_POLL_HOLD_MS 150000

typedef struct {
    const char *server_url;  /* head.serverUrl of execute messages (copied) */
    size_t batch;            /* rows per delivery round */
    int max_attempts;        /* failed deliveries before a row is dropped */
    int64_t backoff_base_ms; /* delay before the first retry; doubles per failure */
    int64_t backoff_max_ms;  /* ceiling of the retry back-off */
    poll_hub_t *hub;         /* NULL: poll transport disabled */
    bool push_enabled;
    push_config_t push;      /* on_result/arg are set by outbox_new */
    void (*wake)(void *arg); /* asks the store thread to run soon */
    void *wake_arg;
    /* Several servers share the outbox (storage.type postgres): a row is
     * sent only after this server claims it (store_outbox_claim) for
     * claim_ms, and a row for a poll address with no stream open here is
     * left to the server that has one, until orphan_ms. */
    bool shared;
    int64_t claim_ms; /* 0: 30000 */
    /* Shared: a poll row no server has sent for this long since it became
     * due (not_before, or queued_at when later) counts as a failed attempt,
     * by the server that claims it (0: 1000). */
    int64_t orphan_ms;
} outbox_config_t;

/* Returns NULL with the reason in err. */
outbox_t *outbox_new(const outbox_config_t *cfg, char *err, size_t errlen);

/* Stops the push transport (pushes still running are abandoned: their rows
 * stay in the outbox and are retried after a restart). */
void outbox_stop_push(outbox_t *ob);

void outbox_free(outbox_t *ob);

/* Store thread, outside a transaction: delivers up to batch due rows.
 * Returns true when a full batch was found (more may be due). */
bool outbox_deliver(outbox_t *ob, store_t *st, int64_t now);

/* Store thread, outside a transaction: false when outbox_deliver would
 * surely find nothing new. Since its last look nothing was written to the
 * outbox through st's wrappers (core/store.h) that is due by now: no
 * insert due at once, no delayed or deferred row whose time has come (the
 * earliest such time is kept in memory). Rows it cannot know of (those of
 * an earlier process, the second and later of several delayed rows) are
 * found by the periodic call of outbox_deliver every messages.poll_interval,
 * which the caller must keep making whatever this returns. */
bool outbox_may_be_due(outbox_t *ob, store_t *st, int64_t now);

/* Store thread, inside a transaction: writes the recorded outcomes not yet
 * written in it (deletes and defers). They stay in memory, and their rows
 * are not delivered again, until outbox_flush_end says whether the
 * transaction was kept. On STORE_ERR the outcomes before the failing one
 * are written: the caller rolls back (the transaction or its savepoint)
 * and calls outbox_flush_end(ob, false). */
int outbox_flush(outbox_t *ob, store_t *st);

/* Store thread, after the commit (kept) or the rollback (!kept) of the
 * transaction, or the rollback to the savepoint, that outbox_flush wrote
 * into: kept forgets the outcomes written, !kept keeps them for the next
 * outbox_flush, so that no outcome is lost with a transaction that is
 * rolled back or run again. */
void outbox_flush_end(outbox_t *ob, bool kept);

/* True when outcomes are waiting for outbox_flush (recorded and not
 * written in the open transaction). */
bool outbox_dirty(outbox_t *ob);

/* Counters for /metrics. */
typedef struct {
    uint64_t delivered, retried, dropped;
} outbox_stats_t;
outbox_stats_t outbox_stats(outbox_t *ob);

#endif
