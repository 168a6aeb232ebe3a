/* exec.c - the store thread and its group commit; see exec.h. */
#include "server/exec.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/log.h"

/* Runs of a batch that loses races with other servers, at most. */
#define EXEC_MAX_RETRIES 8

/* Buckets of the first tenant table (a power of two); a table this size or
 * smaller is kept when its last tenant leaves, a larger one is freed. */
#define EXEC_MIN_BUCKETS 16

/* Queued jobs that end a pacing wait (pace()) at most: a batch this large
 * already shares its flush widely, and a wait for more would only idle the
 * store thread while clients that send their next request after each
 * answer (a closed loop of more than a few) sit waiting for theirs. */
#define EXEC_PACE_JOBS 8

/* Batches after which the largest recent batch (exec.peak) counts one job
 * less unless a batch as large came meanwhile. */
#define EXEC_PEAK_BATCHES 64

/* Emptied tenant entries kept for reuse, at most (56 bytes each). */
#define EXEC_SPARE_TENANTS 256

/* The queued jobs of one tenant, in submission order. A named tenant (a
 * prefixed token's scope) exists only while it has queued jobs: it is
 * created by the submit that finds none and dropped by the batch that takes
 * its last, so there are never more tenants than queued jobs. */
typedef struct tenant tenant_t;
struct tenant {
    /* The tenant's prefix: the scope of the job at the head of its queue,
     * borrowed from that request's arena, which lives until the job is
     * answered; moved to the next job's when the head is taken. NULL for
     * the two classes of exec (probes, requests without a scope). */
    const char *name;
    uint64_t hash;
    job_t *head, *tail;
    tenant_t *prev, *next; /* the ring of tenants with queued jobs */
    tenant_t *chain;       /* the hash bucket's list, or the spare list */
};

struct exec {
    store_t *st;
    exec_config_t cfg;
    pthread_t thread;
    pthread_mutex_t mu; /* guards the queue and the flags below it */
    pthread_cond_t cv;
    /* The queue: one FIFO per tenant, and a batch takes one job of each
     * tenant in turn (take_batch). Readiness probes and the requests
     * without a scope (admin, prefix "", no auth) are a tenant each. */
    tenant_t probes, open;
    tenant_t *turn;     /* the tenant served next; NULL: nothing queued */
    tenant_t **buckets; /* named tenants by prefix; nbuckets a power of 2 */
    size_t nbuckets, ntenants;
    tenant_t *spare; /* emptied entries for reuse, nspare of them */
    size_t nspare;
    bool stopping;
    bool woken;  /* the outbox has results to record */
    bool remote; /* another server queued messages (store_watch) */
    bool due;    /* an inline run queued a message that may be due */
    bool kick;   /* an inline run listed a fan-out: tick now */
    /* run_mu is held by whoever uses st, the outbox or the flags below: the
     * store thread for a batch, a tick or a delivery round, or an HTTP
     * thread running its own job inline (exec_run). */
    pthread_mutex_t run_mu;
    bool closed; /* exec_stop has begun: inline runs answer 503 */
    bool paused; /* debug.start: background work paused */
    bool broken; /* store_check failed last time */
    bool leader; /* ran background work at the last tick */
    /* st->fanout_writes when the store thread last looked: a change means
     * a settlement listed a fan-out, which the next tick continues, run
     * at once rather than a timeouts.poll_interval later. */
    uint64_t fanouts_seen;
    /* Group commit pacing (cfg.commit_interval_us, pace()), under mu. */
    /* Jobs in the tenants' queues: changed under mu, read without it by
     * exec_run. */
    _Atomic size_t queued;
    size_t last_jobs;           /* jobs of the last batch taken */
    size_t peak, peak_age;      /* the largest recent batch, batches since */
    struct timespec next_batch; /* the interval since it was taken ends */
    bool pacing;                /* the store thread is waiting it out */
    outbox_t *outbox;
    _Atomic int64_t last_now;
    _Atomic int64_t outbox_depth; /* cfg.count_outbox: refreshed every tick */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t exec_now(exec_t *ex)
{
    int64_t now = wall_ms();
    int64_t prev = atomic_load(&ex->last_now);
    while (now > prev && !atomic_compare_exchange_weak(&ex->last_now, &prev, now))
        ;
    return now > prev ? now : prev;
}

/* Runs one job inside the open transaction, in its own savepoint when sp
 * (or always for a readiness probe, whose failure must not cost the batch).
 * Returns false when the transaction itself is lost (SQLite rolls a whole
 * transaction back on some errors, e.g. a full disk; without a savepoint
 * any failure loses it), when the request lost a race with another server
 * (STORE_FAULT_CONFLICT: the whole batch runs again) or when the database
 * is unreachable: the batch must then be abandoned. */
static bool run_job(exec_t *ex, job_t *job, bool sp)
{
    store_t *st = ex->st;
    if (!job->req) {
        if (store_savepoint(st) != STORE_OK)
            return false;
        bool up = store_ping(st) == STORE_OK;
        response_set(&job->resp, up ? 200 : 503, NULL);
        if (up)
            return store_release(st) == STORE_OK;
        return store_fault(st) == STORE_FAULT_NONE && store_rollback_to(st) == STORE_OK;
    }
    request_t *req = (request_t *)job->req;
    req->now = (ex->cfg.debug && req->has_debug_time) ? req->debug_time : exec_now(ex);
    if (sp && store_savepoint(st) != STORE_OK)
        return false;
    if (engine_apply(&ex->cfg.engine, st, job->arena, req, &job->resp) == 0) {
        if (sp && store_release(st) != STORE_OK)
            return false;
    } else if (!sp || store_fault(st) != STORE_FAULT_NONE || store_rollback_to(st) != STORE_OK) {
        return false;
    }
    if (req->op == OP_DEBUG_START)
        ex->paused = true;
    else if (req->op == OP_DEBUG_STOP)
        ex->paused = false;
    return true;
}

/* Answers every job of batch with status (500 or 503; 503 for probes):
 * nothing of the batch was kept. */
static void fail_batch(job_t *batch, int status, const char *err)
{
    for (job_t *j = batch; j; j = j->next)
        if (!j->req)
            response_set(&j->resp, 503, NULL);
        else if (status == 503)
            response_error(&j->resp, 503, "Service unavailable: %s", err);
        else
            response_error(&j->resp, 500, "Internal error: %s", err);
}

/* store_check before a transaction: false (with an ERROR line for the
 * batch, or once per outage for background work) when writes would not be
 * kept. */
static bool store_usable(exec_t *ex, bool for_batch)
{
    if (store_check(ex->st) == STORE_OK) {
        if (ex->broken)
            log_info("database usable again: writes are kept");
        ex->broken = false;
        return true;
    }
    if (for_batch || !ex->broken)
        log_error("%s refused: %s", for_batch ? "batch" : "background work", store_errmsg(ex->st));
    ex->broken = true;
    return false;
}

/* Writes the delivery outcomes waiting in memory into the open
 * transaction, in a savepoint of their own when sp: a failure to record
 * them then costs nothing but the outcomes, which wait in memory for the
 * next transaction. Returns false when the transaction must be given up:
 * a failure without sp, or a savepoint that cannot be opened, released or
 * rolled back to, or a database that is unreachable or lost a race
 * (store_fault). The caller ends with outbox_flush_end once the
 * transaction is committed or rolled back. */
static bool flush_outcomes(exec_t *ex, bool sp)
{
    store_t *st = ex->st;
    if (!ex->outbox || !outbox_dirty(ex->outbox))
        return true;
    if (sp && store_savepoint(st) != STORE_OK)
        return false;
    if (outbox_flush(ex->outbox, st) == STORE_OK)
        return !sp || store_release(st) == STORE_OK;
    log_error("outbox: recording deliveries failed: %s", store_errmsg(st));
    outbox_flush_end(ex->outbox, false);
    return sp && store_fault(st) == STORE_FAULT_NONE && store_rollback_to(st) == STORE_OK;
}

static job_t *put_back(exec_t *ex, job_t *rest);
static bool mixed(const job_t *batch);
static bool others_queued(const exec_t *ex, const job_t *j);
static void put_back_rest_of(exec_t *ex, job_t *j);

/* True once the jobs of a batch, begun at t0, have run for max_batch_ns. */
static bool out_of_time(const exec_t *ex, const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t ns = (int64_t)(t.tv_sec - t0->tv_sec) * 1000000000 + (t.tv_nsec - t0->tv_nsec);
    return ns >= ex->cfg.max_batch_ns;
}

/* One transaction over a batch of jobs (run_mu held); fills every job's
 * response, which the caller sends after the commit (answer). A
 * batch that lost a race with another server (STORE_FAULT_CONFLICT) is
 * rolled back and run again from the start, up to EXEC_MAX_RETRIES times:
 * nothing of it was answered, and the rerun sees the other server's commit,
 * so each request gets the answer a single server would give. An
 * unreachable database answers 503; any other failure 500. An optimistic
 * store (core/store.h) runs without savepoints until a request fails. */
static void run_batch(exec_t *ex, job_t *batch)
{
    store_t *st = ex->st;
    char err[512] = "";
    if (!store_usable(ex, true)) {
        snprintf(err, sizeof err, "%s", store_errmsg(st));
        fail_batch(batch, 503, err);
        return;
    }
    /* An optimistic store runs the batch without savepoints first, and
     * again with one per request (and one for the delivery outcomes) only
     * when something failed. Any store runs a lone job without one: the
     * transaction is the job's alone, and a savepoint costs a statement
     * journal (SQLite) or a round trip (PostgreSQL). Delivery outcomes
     * written into a run that is rolled back are written again into the
     * next (outbox_flush_end). */
    bool sp = !st->optimistic && (batch->next || (ex->outbox && outbox_dirty(ex->outbox)));
    struct timespec t0, t1, tj;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int attempt = 0;; attempt++) {
        bool began = store_begin(st) == STORE_OK;
        if (!began)
            snprintf(err, sizeof err, "%s", store_errmsg(st));
        bool ok = began && flush_outcomes(ex, sp);
        clock_gettime(CLOCK_MONOTONIC, &tj);
        bool late = false, shared = mixed(batch);
        for (job_t *j = batch; j && ok; j = j->next) {
            ok = run_job(ex, j, sp);
            /* Out of time while another tenant has a job in the batch
             * (run or not: its answer waits for the commit) or queued:
             * each job run from then on sends the rest of its tenant's
             * back to their queue for the next batch, so that the batch
             * ends after at most one more job of each tenant in it. A
             * tenant alone keeps its whole batch (fewer, larger commits:
             * its own throughput), and is looked at again after each job,
             * for a tenant that comes while it runs. */
            if (!ok || !j->next || (!late && !(late = out_of_time(ex, &tj))))
                continue;
            pthread_mutex_lock(&ex->mu);
            if (shared || others_queued(ex, j))
                put_back_rest_of(ex, j);
            pthread_mutex_unlock(&ex->mu);
        }
        if (ok && store_commit(st) != STORE_OK)
            ok = false;
        if (ex->outbox)
            outbox_flush_end(ex->outbox, ok);
        if (ok)
            break;
        /* Nothing of this batch is durable: no job may report success. */
        int fault = store_fault(st);
        if (began) {
            snprintf(err, sizeof err, "%s", store_errmsg(st));
            store_rollback(st);
        }
        bool again = fault == STORE_FAULT_CONFLICT && attempt < EXEC_MAX_RETRIES;
        if (again)
            log_debug("batch lost a race with another server, running it again: %s", err);
        /* A request failed without a savepoint: again with one per request,
         * so that only the failing request gets its 500. */
        if (!again && fault == STORE_FAULT_NONE && !sp) {
            sp = true;
            again = true;
        }
        if (again) {
            for (job_t *j = batch; j; j = j->next)
                response_clear(&j->resp);
            continue;
        }
        log_error("batch rolled back: %s", err);
        if (fault == STORE_FAULT_DOWN)
            ex->broken = true; /* logged once more when it is usable again */
        fail_batch(batch, fault == STORE_FAULT_DOWN ? 503 : 500, err);
        break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* The metrics see one transaction per batch, its reruns included, of
     * the jobs it kept (those put back count in the batch that runs them):
     * the jobs' sum stays the number of requests the batches carried. */
    size_t jobs = 0;
    for (job_t *j = batch; j; j = j->next)
        jobs++;
    metrics_batch(ex->cfg.metrics, jobs,
                  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* Calls every job's done callback (run_mu not held: a callback may wake
 * other threads). */
static void answer(job_t *batch)
{
    while (batch) {
        job_t *next = batch->next;
        batch->next = NULL;
        batch->done(batch);
        batch = next;
    }
}

/* One background tick in its own transaction. Returns true when work was
 * left over (run again soon). */
static bool run_tick(exec_t *ex)
{
    store_t *st = ex->st;
    arena_t *a = arena_new();
    bool more = false, leader = false;
    if (!store_usable(ex, false))
        goto done;
    /* With several servers on one database only the leader does it. */
    if (store_leader(st, &leader) != STORE_OK)
        leader = false;
    if (leader != ex->leader && ex->cfg.outbox.shared)
        log_info("%s", leader ? "background work (timeouts, retries, leases, schedules) runs "
                                "on this server now"
                              : "background work runs on another server now");
    ex->leader = leader;
    if (!leader)
        goto done;
    if (store_begin(st) != STORE_OK) {
        log_error("tick: %s", store_errmsg(st));
        goto done;
    }
    /* The outcomes in a savepoint: a failure to record them must not stop
     * the tick (timeouts, retries, schedules) until it is fixed. */
    if (!flush_outcomes(ex, true) ||
        engine_tick(&ex->cfg.engine, st, a, exec_now(ex), ex->cfg.tick_batch, &more) != 0) {
        /* A race lost to a request on another server: again at once. */
        bool conflict = store_fault(st) == STORE_FAULT_CONFLICT;
        if (!conflict)
            log_error("tick failed: %s", store_errmsg(st));
        store_rollback(st);
        if (ex->outbox)
            outbox_flush_end(ex->outbox, false);
        more = conflict;
        goto done;
    }
    bool kept = store_commit(st) == STORE_OK;
    if (!kept) {
        log_error("tick commit failed: %s", store_errmsg(st));
        store_rollback(st);
        more = false;
    }
    if (ex->outbox)
        outbox_flush_end(ex->outbox, kept);
    int64_t depth = 0;
    if (ex->cfg.count_outbox && store_outbox_count(st, &depth) == STORE_OK)
        atomic_store(&ex->outbox_depth, depth);
done:
    arena_free(a);
    return more;
}

/* Records delivery outcomes when no batch is coming to carry them. */
static void run_flush(exec_t *ex)
{
    store_t *st = ex->st;
    if (!store_usable(ex, false) || store_begin(st) != STORE_OK)
        return;
    bool kept = outbox_flush(ex->outbox, st) == STORE_OK && store_commit(st) == STORE_OK;
    if (!kept) {
        log_error("outbox: recording deliveries failed: %s", store_errmsg(st));
        store_rollback(st);
    }
    outbox_flush_end(ex->outbox, kept);
}

/* ts = now (monotonic) + s seconds + ns nanoseconds (0 <= ns < 1e9). */
static void deadline_in(struct timespec *ts, int64_t s, long ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += s;
    ts->tv_nsec += ns;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
    deadline_in(ts, ms / 1000, (long)(ms % 1000) * 1000000);
}

static bool past(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static const struct timespec *earlier(const struct timespec *a, const struct timespec *b)
{
    return (a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec)) ? a : b;
}

/* ---- the queue: fair batches across tenants ---- */

/* FNV-1a of a prefix, its high bits folded in (buckets use the low ones).
 * Prefixes are chosen by the operator who mints the tokens, not by the
 * tenants, so no seed against chosen collisions. */
static uint64_t prefix_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h ^ (h >> 32);
}

/* Doubles the tenant table (EXEC_MIN_BUCKETS at first). Returns false when
 * out of memory: the old table stays, with longer chains. */
static bool buckets_grow(exec_t *ex)
{
    size_t n = ex->nbuckets ? ex->nbuckets * 2 : EXEC_MIN_BUCKETS;
    tenant_t **b = calloc(n, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < ex->nbuckets; i++)
        for (tenant_t *t = ex->buckets[i], *next; t; t = next) {
            next = t->chain;
            t->chain = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
        }
    free(ex->buckets);
    ex->buckets = b;
    ex->nbuckets = n;
    return true;
}

/* The queue job goes into (mu held): its tenant's, found by the prefix,
 * or a new empty one (its name set to job's scope: the caller queues job
 * first). NULL when out of memory. O(1) on average: the table grows to
 * hold at least as many buckets as tenants. */
static tenant_t *tenant_of(exec_t *ex, const job_t *job)
{
    if (!job->req)
        return &ex->probes;
    const char *name = job->req->scope;
    if (!name)
        return &ex->open;
    uint64_t h = prefix_hash(name);
    for (tenant_t *t = ex->buckets ? ex->buckets[h & (ex->nbuckets - 1)] : NULL; t; t = t->chain)
        if (t->hash == h && strcmp(t->name, name) == 0)
            return t;
    if (ex->ntenants >= ex->nbuckets && !buckets_grow(ex) && !ex->buckets)
        return NULL;
    tenant_t *t = ex->spare;
    if (t) {
        ex->spare = t->chain;
        ex->nspare--;
    } else if (!(t = malloc(sizeof *t))) {
        return NULL;
    }
    *t = (tenant_t){.name = name, .hash = h, .chain = ex->buckets[h & (ex->nbuckets - 1)]};
    ex->buckets[h & (ex->nbuckets - 1)] = t;
    ex->ntenants++;
    return t;
}

/* Puts t, whose queue just got its first job, last in the round: before
 * the tenant served next. */
static void ring_join(exec_t *ex, tenant_t *t)
{
    if (!ex->turn) {
        t->prev = t->next = t;
        ex->turn = t;
        return;
    }
    t->next = ex->turn;
    t->prev = ex->turn->prev;
    t->prev->next = t;
    ex->turn->prev = t;
}

/* Takes t, whose queue is now empty, out of the ring (ex->turn has moved
 * past it already) and, when named, out of the table: its entry goes to
 * the spare list or is freed, and the table is freed with its last tenant
 * when it grew past EXEC_MIN_BUCKETS. */
static void tenant_leave(exec_t *ex, tenant_t *t)
{
    if (t->next == t) {
        ex->turn = NULL;
    } else {
        t->prev->next = t->next;
        t->next->prev = t->prev;
    }
    t->prev = t->next = NULL;
    t->tail = NULL;
    if (t == &ex->probes || t == &ex->open)
        return;
    tenant_t **p = &ex->buckets[t->hash & (ex->nbuckets - 1)];
    while (*p != t)
        p = &(*p)->chain;
    *p = t->chain;
    if (--ex->ntenants == 0 && ex->nbuckets > EXEC_MIN_BUCKETS) {
        free(ex->buckets);
        ex->buckets = NULL;
        ex->nbuckets = 0;
    }
    if (ex->nspare < EXEC_SPARE_TENANTS) {
        t->chain = ex->spare;
        ex->spare = t;
        ex->nspare++;
    } else {
        free(t);
    }
}

/* True when a and b are jobs of one tenant (exec.h: a probe, no scope,
 * or one prefix). */
static bool same_tenant(const job_t *a, const job_t *b)
{
    if (!a->req || !b->req)
        return !a->req && !b->req;
    const char *x = a->req->scope, *y = b->req->scope;
    return x && y ? strcmp(x, y) == 0 : x == y;
}

/* True when batch holds jobs of more than one tenant. */
static bool mixed(const job_t *batch)
{
    for (const job_t *k = batch; k; k = k->next)
        if (!same_tenant(k, batch))
            return true;
    return false;
}

/* True when a tenant other than j's has jobs queued (mu held). */
static bool others_queued(const exec_t *ex, const job_t *j)
{
    const tenant_t *t = ex->turn;
    return t && (t->next != t || !same_tenant(t->head, j));
}

/* Puts rest, jobs take_batch took that their batch did not run (it ran
 * out of time), back at the front of their tenants' queues in their order
 * (mu held), the first one's tenant first in the round. Returns what it
 * could not put back, a start of rest (out of memory for a tenant's entry),
 * for the batch to run after all; NULL when all went back. */
static job_t *put_back(exec_t *ex, job_t *rest)
{
    job_t *rev = NULL; /* last first: each goes in front of the one after it */
    while (rest) {
        job_t *next = rest->next;
        rest->next = rev;
        rev = rest;
        rest = next;
    }
    while (rev) {
        tenant_t *t = tenant_of(ex, rev);
        if (!t)
            break;
        job_t *j = rev;
        rev = rev->next;
        j->next = t->head;
        t->head = j;
        if (!t->tail) {
            t->tail = j;
            ring_join(ex, t);
        }
        if (t->name)
            t->name = j->req->scope;
        ex->queued++;
        /* first in the round, so they are served in the order taken */
        ex->turn = t;
    }
    job_t *keep = NULL;
    while (rev) {
        job_t *next = rev->next;
        rev->next = keep;
        keep = rev;
        rev = next;
    }
    return keep;
}

/* Sends the jobs of j's tenant after j in its batch back to their queue
 * (mu held, put_back); the other jobs stay after j in their order. Those
 * put_back could not place stay too, first. */
static void put_back_rest_of(exec_t *ex, job_t *j)
{
    job_t *mine = NULL, **end = &mine;
    for (job_t **p = &j->next; *p;) {
        job_t *k = *p;
        if (same_tenant(k, j)) {
            *p = k->next;
            k->next = NULL;
            *end = k;
            end = &k->next;
        } else {
            p = &k->next;
        }
    }
    job_t *keep = mine ? put_back(ex, mine) : NULL;
    if (keep) {
        job_t *last = keep;
        while (last->next)
            last = last->next;
        last->next = j->next;
        j->next = keep;
    }
}

/* Takes up to max_batch queued jobs (mu held), one of each tenant in turn
 * from ex->turn on, so that with T tenants waiting each gets at least
 * max_batch / T places, and a tenant with fewer jobs leaves its places to
 * the others. The batch ends early before a job whose cost would take it
 * past max_batch_bytes (its first job is always taken); that job's tenant
 * is then first in the next, unless the batch runs out of time and puts
 * jobs back (put_back: theirs go first). The next batch goes on from where this one
 * stopped. Each tenant's jobs keep their order. Returns them linked by
 * next, NULL when nothing is queued. */
static job_t *take_batch(exec_t *ex)
{
    job_t *batch = NULL, **end = &batch;
    size_t n = 0, bytes = 0;
    for (; ex->turn && n < ex->cfg.max_batch; n++) {
        tenant_t *t = ex->turn;
        job_t *j = t->head;
        if (n > 0 &&
            (bytes >= ex->cfg.max_batch_bytes || j->cost > ex->cfg.max_batch_bytes - bytes))
            break;
        bytes += j->cost;
        t->head = j->next;
        j->next = NULL;
        *end = j;
        end = &j->next;
        ex->turn = t->next;
        if (!t->head)
            tenant_leave(ex, t);
        else if (t->name)
            t->name = t->head->req->scope;
    }
    /* A turn of the loop without jobs (a tick, a delivery round) leaves
     * the pacing as the last batch set it. */
    if (n == 0)
        return NULL;
    ex->queued -= n;
    ex->last_jobs = n;
    if (n >= ex->peak) {
        ex->peak = n;
        ex->peak_age = 0;
    } else if (++ex->peak_age >= EXEC_PEAK_BATCHES) {
        ex->peak--;
        ex->peak_age = 0;
    }
    /* pace() waits for next_batch only after a batch of two or more */
    int64_t us = ex->cfg.commit_interval_us;
    if (us > 0 && n >= 2)
        deadline_in(&ex->next_batch, us / 1000000, (long)(us % 1000000) * 1000);
    return batch;
}

/* The number of queued jobs that ends a pacing wait: as many as the
 * largest recent batch held, at least 2 and at most EXEC_PACE_JOBS (or
 * max_batch). A few clients that each wait for their answer before the
 * next request never make a batch larger than their number: once they are
 * all queued, nothing more will come, and the batch goes. */
static size_t pace_jobs(const exec_t *ex)
{
    size_t n = ex->peak < 2 ? 2 : ex->peak;
    if (n > EXEC_PACE_JOBS)
        n = EXEC_PACE_JOBS;
    return n < ex->cfg.max_batch ? n : ex->cfg.max_batch;
}

/* Waits out the commit interval (mu held) before the next batch is taken,
 * when the last batch had two jobs or more: writers arrive concurrently,
 * and the jobs that arrive meanwhile share the next batch's flush, so that
 * a moderate load commits (and flushes) at most once an interval instead
 * of once every few requests. A batch of one says there is nobody to
 * gather (a lone client waiting for each answer before its next request):
 * then the next goes at once. The wait also ends once pace_jobs() jobs are
 * queued, or when exec_stop begins. */
static void pace(exec_t *ex)
{
    if (ex->cfg.commit_interval_us <= 0 || ex->last_jobs < 2)
        return;
    ex->pacing = true;
    while (!ex->stopping && ex->queued < pace_jobs(ex) && !past(&ex->next_batch))
        pthread_cond_timedwait(&ex->cv, &ex->mu, &ex->next_batch);
    ex->pacing = false;
}

static void *exec_main(void *arg)
{
    exec_t *ex = arg;
    pthread_setname_np(pthread_self(), "resonate-store");
    struct timespec next_tick, next_deliver;
    deadline_after(&next_tick, ex->cfg.tick_interval_ms);
    deadline_after(&next_deliver, 0);
    pthread_mutex_lock(&ex->mu);
    for (;;) {
        while (!ex->turn && !ex->stopping && !ex->woken && !ex->remote && !ex->due && !ex->kick &&
               !past(&next_tick) && !(ex->outbox && past(&next_deliver)))
            pthread_cond_timedwait(&ex->cv, &ex->mu,
                                   ex->outbox ? earlier(&next_tick, &next_deliver) : &next_tick);
        if (!ex->turn && ex->stopping)
            break;
        if (ex->turn)
            pace(ex);
        bool woken = ex->woken;
        ex->woken = false;
        bool due = ex->due;
        ex->due = false;
        ex->kick = false;
        if (ex->remote)
            deadline_after(&next_deliver, 0); /* another server queued messages */
        ex->remote = false;
        job_t *batch = take_batch(ex);
        pthread_mutex_unlock(&ex->mu);

        /* Delivery outcomes must reach the store even when no request comes
         * to carry them: until then a failed message stays "in flight" and
         * is never retried (an unblock for a worker that is reconnecting
         * after a restart would wait for its 60 s listener refresh). So an
         * idle server records them on a push result (woken) or at the next
         * delivery round. */
        pthread_mutex_lock(&ex->run_mu);
        if (batch)
            run_batch(ex, batch);
        else if (ex->outbox && (woken || past(&next_deliver)) && outbox_dirty(ex->outbox))
            run_flush(ex);
        if (batch) {
            pthread_mutex_unlock(&ex->run_mu);
            answer(batch);
            pthread_mutex_lock(&ex->run_mu);
        }
        /* Deliver right after a commit that queued something due (a
         * settle's unblock goes out now, not at the next scan), and every
         * poll interval for retries and delayed rows; a batch that queued
         * nothing due costs no look at the outbox. */
        if (ex->outbox && (past(&next_deliver) || due ||
                           (batch && outbox_may_be_due(ex->outbox, ex->st, exec_now(ex))))) {
            /* Nothing can be read while the database is unusable (one
             * log line per outage, from store_usable). */
            bool usable = store_usable(ex, false);
            /* While paused (debug.start) nothing is delivered, but the
             * deadline still moves on, or this loop would spin. */
            bool more = usable && !ex->paused && outbox_deliver(ex->outbox, ex->st, exec_now(ex));
            deadline_after(&next_deliver, more ? 0 : ex->cfg.deliver_interval_ms);
        }
        if (ex->st->fanout_writes != ex->fanouts_seen) {
            ex->fanouts_seen = ex->st->fanout_writes;
            deadline_after(&next_tick, 0);
        }
        if (past(&next_tick)) {
            bool more = !ex->paused && run_tick(ex);
            deadline_after(&next_tick, more ? 0 : ex->cfg.tick_interval_ms);
            /* A tick's messages (a timer's resume, an expired lease's
             * re-dispatch) go out now, not one messages interval later. */
            if (!ex->paused)
                deadline_after(&next_deliver, 0);
        }
        pthread_mutex_unlock(&ex->run_mu);
        pthread_mutex_lock(&ex->mu);
    }
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}

static void exec_wake(void *arg)
{
    exec_t *ex = arg;
    pthread_mutex_lock(&ex->mu);
    ex->woken = true;
    pthread_cond_signal(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
}

/* store_watch's callback (on the store's listener thread). */
static void exec_remote(void *arg)
{
    exec_t *ex = arg;
    pthread_mutex_lock(&ex->mu);
    ex->remote = true;
    pthread_cond_signal(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
}

exec_t *exec_start(store_t *st, const exec_config_t *cfg, char *err, size_t errlen)
{
    exec_t *ex = calloc(1, sizeof *ex);
    if (!ex) {
        snprintf(err, errlen, "out of memory");
        store_close(st);
        return NULL;
    }
    ex->st = st;
    ex->cfg = *cfg;
    if (cfg->deliver) {
        outbox_config_t oc = cfg->outbox;
        oc.wake = exec_wake;
        oc.wake_arg = ex;
        ex->outbox = outbox_new(&oc, err, errlen);
        if (!ex->outbox) {
            store_close(st);
            free(ex);
            return NULL;
        }
    }
    if (ex->cfg.max_batch == 0)
        ex->cfg.max_batch = 512;
    if (ex->cfg.max_batch_bytes == 0)
        ex->cfg.max_batch_bytes = EXEC_BATCH_BYTES;
    if (ex->cfg.max_batch_ns <= 0)
        ex->cfg.max_batch_ns = EXEC_BATCH_NS;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_mutex_init(&ex->run_mu, NULL);
    /* Before the thread starts, so ex->st is still this thread's. */
    if (ex->outbox && store_watch(st, exec_remote, ex) != STORE_OK)
        log_warn("messages of other servers are found by polling only: %s", store_errmsg(st));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ex->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_store(&ex->last_now, 0);
    int rc = pthread_create(&ex->thread, NULL, exec_main, ex);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start store thread: %s", strerror(rc));
        outbox_free(ex->outbox);
        store_close(st);
        pthread_cond_destroy(&ex->cv);
        pthread_mutex_destroy(&ex->mu);
        pthread_mutex_destroy(&ex->run_mu);
        free(ex);
        return NULL;
    }
    return ex;
}

void exec_submit(exec_t *ex, job_t *job)
{
    job->next = NULL;
    pthread_mutex_lock(&ex->mu);
    tenant_t *t = ex->stopping ? NULL : tenant_of(ex, job);
    if (!t) {
        bool stopping = ex->stopping;
        pthread_mutex_unlock(&ex->mu);
        if (stopping)
            response_error(&job->resp, 503, "Server is shutting down");
        else
            response_error(&job->resp, 503,
                           "Service unavailable: out of memory queueing the request; retry");
        job->done(job);
        return;
    }
    if (t->tail) {
        t->tail->next = job;
    } else {
        t->head = job;
        ring_join(ex, t);
    }
    t->tail = job;
    ex->queued++;
    /* While the store thread waits out the commit interval, only the job
     * that ends the wait wakes it: no wake-up per job. */
    if (!ex->pacing || ex->queued >= pace_jobs(ex))
        pthread_cond_signal(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
}

bool exec_run(exec_t *ex, job_t *job)
{
    /* Only when the store is free at once: a job that would wait is better
     * queued, where it shares a transaction (and its journal) with the
     * others that arrive meanwhile. */
    if (!ex->cfg.inline_jobs || !job->req || pthread_mutex_trylock(&ex->run_mu) != 0)
        return false;
    /* Nor ahead of queued jobs: they may be this job's tenant's, sent
     * before it, or put back by a batch out of time (run_batch). Those
     * were queued before run_mu was released, so they are seen here. */
    if (atomic_load(&ex->queued) > 0) {
        pthread_mutex_unlock(&ex->run_mu);
        return false;
    }
    job->next = NULL;
    bool due = false, kick = false;
    if (ex->closed) {
        response_error(&job->resp, 503, "Server is shutting down");
    } else {
        run_batch(ex, job);
        due = ex->outbox && outbox_may_be_due(ex->outbox, ex->st, exec_now(ex));
        kick = ex->st->fanout_writes != ex->fanouts_seen;
    }
    pthread_mutex_unlock(&ex->run_mu);
    if (due || kick) {
        /* The store thread delivers it now, as after one of its batches,
         * and continues a listed fan-out in a tick. */
        pthread_mutex_lock(&ex->mu);
        ex->due |= due;
        ex->kick |= kick;
        pthread_cond_signal(&ex->cv);
        pthread_mutex_unlock(&ex->mu);
    }
    return true;
}

void exec_stop(exec_t *ex)
{
    if (!ex)
        return;
    /* No inline run starts from now on; one under way finishes first. */
    pthread_mutex_lock(&ex->run_mu);
    ex->closed = true;
    pthread_mutex_unlock(&ex->run_mu);
    pthread_mutex_lock(&ex->mu);
    ex->stopping = true;
    pthread_cond_signal(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    pthread_join(ex->thread, NULL);
    if (ex->outbox) {
        /* Stop pushes first so no result arrives after the last record. */
        outbox_t *ob = ex->outbox;
        ex->outbox = NULL;
        outbox_stop_push(ob);
        if (outbox_dirty(ob)) {
            ex->outbox = ob;
            run_flush(ex);
            ex->outbox = NULL;
        }
        outbox_free(ob);
    }
    if (store_checkpoint(ex->st) != STORE_OK)
        log_warn("checkpoint at shutdown failed: %s", store_errmsg(ex->st));
    store_close(ex->st);
    ex->st = NULL;
}

void exec_free(exec_t *ex)
{
    if (!ex)
        return;
    /* exec_stop answered every queued job, so every tenant has left. */
    while (ex->spare) {
        tenant_t *t = ex->spare;
        ex->spare = t->chain;
        free(t);
    }
    free(ex->buckets);
    pthread_cond_destroy(&ex->cv);
    pthread_mutex_destroy(&ex->mu);
    pthread_mutex_destroy(&ex->run_mu);
    free(ex);
}

outbox_stats_t exec_outbox_stats(exec_t *ex)
{
    outbox_stats_t zero = {0};
    return ex->outbox ? outbox_stats(ex->outbox) : zero;
}

int64_t exec_outbox_depth(exec_t *ex)
{
    return atomic_load(&ex->outbox_depth);
}
