/* exec.h - the store thread: every state change runs under its lock.
 *
 * HTTP threads parse and authenticate, then hand a job to exec_submit. The
 * store thread takes up to max_batch queued jobs, runs them in one
 * transaction (group commit), commits once, and only then calls each job's
 * done callback: an answer is never sent before its write is durable. Each
 * job runs in its own savepoint, or, over an optimistic store
 * (core/store.h), without one until a job fails: the batch is then rolled
 * back and run again with a savepoint per job, so that only the failing job
 * is answered 500.
 *
 * Over a file database the batches of concurrent writers are paced
 * (cfg->commit_interval_us): after a batch of two jobs or more, the next
 * starts no sooner than the interval after it, unless as many jobs are
 * queued by then as the largest recent batch held (2 to 8). Every commit
 * is a flush of the disk, and without the wait a moderate load commits
 * every two or three requests, as fast as the disk flushes: thousands of
 * flushes a second, whose cost shows in the tail of every request's
 * latency (bench/README.md). A few clients that each wait for their answer
 * before the next request are all queued by then, so they do not wait out
 * the interval; a batch of one (a lone client) lets the next start at
 * once.
 *
 * Batches are shared fairly among tenants. A job's tenant is its request's
 * scope (the prefix of a token limited to one); the requests without a
 * scope (admin, prefix "", no auth) are one tenant, and readiness probes
 * another. Each tenant has its own FIFO queue, and a batch takes one job of
 * each tenant with queued jobs in turn, going on where the previous batch
 * stopped. So a job waits behind its own tenant's earlier jobs and at
 * most one job of each other waiting tenant per round, however many those
 * have queued. Without the bounds on a batch's cost below, each of T
 * waiting tenants gets at least max_batch / T places of a batch, and a
 * tenant's lone write runs in the batch under way or the next one while
 * fewer than max_batch tenants wait; with them a batch may hold fewer
 * jobs, and the round goes on over more batches. Each tenant's jobs run in
 * the order they were submitted. A tenant's queue exists only
 * while it holds jobs (found by its prefix in a hash table, O(1) per job),
 * so there are never more tenants than queued jobs.
 *
 * Fairness counts jobs; what they cost is bounded per batch, twice:
 * - Bytes: a batch stops before a job that would take the bytes of its
 *   requests past max_batch_bytes (4 MiB by default), so a tenant sending
 *   bodies of megabytes makes the batch another tenant's write runs in
 *   hold a few of them, not hundreds. A larger job goes alone.
 * - Time: once a batch's jobs have run for max_batch_ns (20 ms by
 *   default) while another tenant has a job in it (run or not) or queued,
 *   each job run from then on sends the rest of its tenant's jobs in the
 *   batch back to the front of their queue, in order: the batch ends after
 *   at most one more job of each tenant in it, and commits. A tenant whose
 *   one job costs more than the whole budget (a heartbeat renewing 20,000
 *   leases) thus gets one job a batch, and every other tenant one more
 *   than it had before the time ran out. A tenant alone keeps its whole
 *   batch.
 * See docs/security.md "Fair store batches".
 *
 * Between batches the same thread runs the background tick (timeouts,
 * retries, schedules) every poll interval unless paused by debug.start.
 * Before each batch store_check runs (a stat or two): when the database
 * could no longer keep writes (its file deleted or replaced) the whole
 * batch is answered 503 with an ERROR line naming the cause, instead of
 * acknowledging writes that would be lost; readiness probes then get 503.
 *
 * With an in-memory store an HTTP thread that finds the store free runs its
 * own job (exec_run) under the same lock that the store thread holds for a
 * batch, a tick or a delivery round: one job at a time ever touches the
 * store. */
#ifndef RESONATE_EXEC_H
#define RESONATE_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/engine.h"
#include "server/metrics.h"
#include "server/outbox.h"

typedef struct exec exec_t;

/* Default of exec_config_t.max_batch_bytes: two bodies of the default
 * server.max_body (2 MiB), or thousands of ordinary requests. */
#define EXEC_BATCH_BYTES (4u << 20)

/* Default of exec_config_t.max_batch_ns: 20 ms. A batch of 512 ordinary
 * writes runs in a few ms; jobs that cost far more than their bytes (a
 * heartbeat renewing thousands of leases, creates with many tags) are
 * what it cuts, so another tenant's write waits for a batch of about this
 * long plus one job, and a job of each tenant ahead of it in the round. */
#define EXEC_BATCH_NS (20 * 1000000LL)

typedef struct job job_t;
struct job {
    /* NULL: a readiness probe (resp 200 or 503). req->scope names the
     * job's tenant and must stay valid until done is called. */
    const request_t *req;
    size_t cost;              /* bytes of the request as sent (its body); 0 for a probe */
    arena_t *arena;           /* owned by the submitter; used for the request's reads */
    response_t resp;          /* filled by the store thread */
    void (*done)(job_t *job); /* called on the store thread after commit */
    void *udata;
    job_t *next; /* queue link, private to exec */
};

typedef struct {
    engine_config_t engine;
    int64_t tick_interval_ms; /* timeouts.poll_interval */
    size_t tick_batch;        /* items per kind per background tick */
    size_t max_batch;         /* jobs per transaction */
    /* Bytes of requests (job.cost) per transaction: a batch takes no job
     * past this sum but always its first. 0: EXEC_BATCH_BYTES. */
    size_t max_batch_bytes;
    /* Time a batch's jobs may run before the rest go back to their queues
     * for the next batch (at least one job runs). 0: EXEC_BATCH_NS. */
    int64_t max_batch_ns;
    bool debug;                  /* honour head["resonate:debug_time"] */
    int64_t deliver_interval_ms; /* messages.poll_interval */
    bool deliver;                /* run the outbox (false in unit tests) */
    bool inline_jobs;            /* exec_run runs jobs on the caller's thread */
    outbox_config_t outbox;      /* wake/wake_arg are set by exec_start */
    metrics_t *metrics;          /* borrowed; NULL = not recorded */
    /* Refresh exec_outbox_depth at every tick, a count of every row on
     * the store thread: only where nothing else can count them (an
     * in-memory database has no readers; reads_outbox_count otherwise). */
    bool count_outbox;
    /* Least time between the starts of two batches when writers are
     * concurrent (the last batch had two jobs or more): the store thread
     * waits out the rest, unless as many jobs are queued as the largest
     * recent batch held (at least 2, at most 8 or max_batch), so that the
     * jobs arriving meanwhile share one commit and its flush. 0: a batch
     * starts as soon as the last one is answered.
     * storage.sqlite.commit_interval_us. */
    int64_t commit_interval_us;
} exec_config_t;

/* Starts the store thread over st (ownership of st passes to exec) and, when
 * cfg->deliver, the outbox deliverer and its transports. Returns NULL with
 * the reason in err (st is closed then). */
exec_t *exec_start(store_t *st, const exec_config_t *cfg, char *err, size_t errlen);

/* Queues job at the end of its tenant's queue; job->done runs later on the
 * store thread. Thread-safe. After exec_stop has begun, or when a new
 * tenant's queue cannot be allocated, job is answered 503 at once (done is
 * called before exec_submit returns). */
void exec_submit(exec_t *ex, job_t *job);

/* Runs job on the calling thread, in a transaction of its own, when
 * cfg->inline_jobs (a store whose commit costs no I/O, the in-memory
 * database: group commit saves nothing there, and the hand-off to the store
 * thread and back costs more than the job), and only when the store is free
 * and no job is queued at that moment (a queued job may be the same
 * tenant's, sent earlier): under load jobs are queued as before and share
 * batches. Never waits. Returns true with job->resp filled after the
 * commit (job->done is not called; 503 once exec_stop has begun), or false
 * when the job must go through exec_submit (not inline, a readiness probe,
 * the store busy or jobs queued). Thread-safe. */
bool exec_run(exec_t *ex, job_t *job);

/* Finishes queued jobs (every tenant's, in fair batches as always), records
 * delivered messages, stops the thread, checkpoints and closes the store. ex
 * stays valid: exec_submit answers 503 from now on (HTTP threads may still
 * call it on open connections). */
void exec_stop(exec_t *ex);

/* Frees ex; call after exec_stop once no thread can use ex any more (after
 * the HTTP daemon has stopped). NULL is a no-op. */
void exec_free(exec_t *ex);

/* Milliseconds since the epoch, never decreasing within this process. */
int64_t exec_now(exec_t *ex);

/* Outbox counters (zero when delivery is off). */
outbox_stats_t exec_outbox_stats(exec_t *ex);

/* Undelivered outbox rows as of the last background tick (0 unless
 * cfg->count_outbox). */
int64_t exec_outbox_depth(exec_t *ex);

#endif
