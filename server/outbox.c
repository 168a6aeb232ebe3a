/* outbox.c - see outbox.h. */
#include "server/outbox.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/addr.h"
#include "core/engine.h"
#include "server/log.h"

typedef struct {
    int64_t seq;
    bool done;         /* outcome known */
    bool flushed;      /* written in the open transaction (outbox_flush_end) */
    bool flushed_done; /* what was written is the outcome, not the hold */
    /* Taken by a poll stream, its result not known yet: a defer of the row
     * to hold_until (attempts unchanged) is written so that it stops being
     * due meanwhile, and delivery rounds do not read it again and again;
     * held once that write is committed. */
    bool hold, held;
    int64_t hold_until;
    bool delete_row;    /* delivered, dropped or stale */
    int64_t not_before; /* defer */
    int attempts;
} outcome_t;

struct outbox {
    outbox_config_t cfg;
    char *server_url;
    push_t *push;
    pthread_mutex_t mu; /* guards everything below (push results arrive on another thread) */
    /* Rows in flight: pushing, taken by a poll stream, or settled and not
     * yet committed. */
    outcome_t *items;
    size_t n, cap;
    size_t n_flushed; /* items flushed in the open transaction */
    /* Items with something to write (pending()), kept as they change so
     * that outbox_dirty, asked several times a batch, costs O(1) however
     * many messages poll streams hold. */
    size_t n_pending;
    outbox_stats_t stats;
    /* Store thread only: what outbox_may_be_due knows. */
    bool looked;          /* outbox_deliver has run once */
    uint64_t seen_writes; /* st->outbox_writes at the last look */
    int64_t next_due;     /* earliest not_before written and not yet looked at */
};

/* Whether o has something to write in the open transaction: its outcome,
 * or its hold; caller holds the lock. */
static bool pending(const outcome_t *o)
{
    return !o->flushed && (o->done || (o->hold && !o->held));
}

/* Counts o's change in ob->n_pending: call with what pending(o) was
 * before the change (caller holds the lock). */
static void repend(outbox_t *ob, const outcome_t *o, bool was)
{
    bool is = pending(o);
    if (is && !was)
        ob->n_pending++;
    else if (was && !is)
        ob->n_pending--;
}

/* Index of the first item with a seq >= seq (items are sorted by seq). */
static size_t lower_bound(const outbox_t *ob, int64_t seq)
{
    size_t lo = 0, hi = ob->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ob->items[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static outcome_t *find(outbox_t *ob, int64_t seq)
{
    size_t i = lower_bound(ob, seq);
    return i < ob->n && ob->items[i].seq == seq ? &ob->items[i] : NULL;
}

/* Adds seq (not in flight) in its sorted place; pointers to items are
 * invalid afterwards. */
static outcome_t *track(outbox_t *ob, int64_t seq, int attempts)
{
    if (ob->n == ob->cap) {
        size_t cap = ob->cap ? ob->cap * 2 : 64;
        outcome_t *ni = realloc(ob->items, cap * sizeof *ni);
        if (!ni)
            return NULL;
        ob->items = ni;
        ob->cap = cap;
    }
    /* New rows come in queue order, so they nearly always go at the end;
     * a retried one (an older seq) goes between, after a binary search. */
    size_t i = ob->n && ob->items[ob->n - 1].seq < seq ? ob->n : lower_bound(ob, seq);
    memmove(&ob->items[i + 1], &ob->items[i], (ob->n - i) * sizeof *ob->items);
    ob->n++;
    outcome_t *o = &ob->items[i];
    *o = (outcome_t){.seq = seq, .attempts = attempts};
    return o;
}

/* Forgets seq (in flight, not sent): another server delivers it, or a later
 * round tries again. */
static void untrack(outbox_t *ob, int64_t seq)
{
    pthread_mutex_lock(&ob->mu);
    size_t i = lower_bound(ob, seq);
    if (i < ob->n && ob->items[i].seq == seq) {
        ob->n_pending -= pending(&ob->items[i]);
        memmove(&ob->items[i], &ob->items[i + 1], (ob->n - i - 1) * sizeof *ob->items);
        ob->n--;
    }
    pthread_mutex_unlock(&ob->mu);
}

/* Records the outcome of a delivery attempt; caller holds the lock. */
static void settle_outcome(outbox_t *ob, outcome_t *o, bool delivered, int64_t now)
{
    bool was = pending(o);
    o->done = true;
    repend(ob, o, was);
    if (delivered) {
        o->delete_row = true;
        ob->stats.delivered++;
        return;
    }
    o->attempts++;
    if (o->attempts >= ob->cfg.max_attempts) {
        o->delete_row = true;
        ob->stats.dropped++;
        log_warn("outbox: message %lld dropped after %d failed deliveries", (long long)o->seq,
                 o->attempts);
        return;
    }
    int shift = o->attempts - 1 < 20 ? o->attempts - 1 : 20;
    int64_t backoff = ob->cfg.backoff_base_ms << shift;
    if (backoff > ob->cfg.backoff_max_ms)
        backoff = ob->cfg.backoff_max_ms;
    o->not_before = time_add_sat(now, backoff);
    ob->stats.retried++;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_push_result(void *arg, int64_t seq, bool delivered)
{
    outbox_t *ob = arg;
    pthread_mutex_lock(&ob->mu);
    outcome_t *o = find(ob, seq);
    if (o)
        settle_outcome(ob, o, delivered, wall_ms());
    pthread_mutex_unlock(&ob->mu);
    if (ob->cfg.wake)
        ob->cfg.wake(ob->cfg.wake_arg);
}

/* poll_hub_on_result: a poll stream wrote a message whole, or ended before.
 * No wake-up: the outcome rides with the next batch, or the next delivery
 * round records it; meanwhile the row stays in flight. */
static void on_poll_result(void *arg, int64_t seq, bool delivered)
{
    outbox_t *ob = arg;
    pthread_mutex_lock(&ob->mu);
    outcome_t *o = find(ob, seq);
    if (o && !o->done)
        settle_outcome(ob, o, delivered, wall_ms());
    pthread_mutex_unlock(&ob->mu);
}

outbox_t *outbox_new(const outbox_config_t *cfg, char *err, size_t errlen)
{
    outbox_t *ob = calloc(1, sizeof *ob);
    if (!ob || !(ob->server_url = strdup(cfg->server_url ? cfg->server_url : ""))) {
        free(ob);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ob->cfg = *cfg;
    ob->next_due = INT64_MAX;
    if (ob->cfg.batch == 0)
        ob->cfg.batch = 100;
    if (ob->cfg.max_attempts <= 0)
        ob->cfg.max_attempts = 10;
    if (ob->cfg.backoff_max_ms <= 0)
        ob->cfg.backoff_max_ms = 30000;
    if (ob->cfg.backoff_base_ms <= 0)
        ob->cfg.backoff_base_ms = 500;
    if (ob->cfg.claim_ms <= 0)
        ob->cfg.claim_ms = 30000;
    if (ob->cfg.orphan_ms <= 0)
        ob->cfg.orphan_ms = 1000;
    pthread_mutex_init(&ob->mu, NULL);
    if (cfg->push_enabled) {
        push_config_t pc = cfg->push;
        pc.on_result = on_push_result;
        pc.arg = ob;
        ob->push = push_start(&pc, err, errlen);
        if (!ob->push) {
            pthread_mutex_destroy(&ob->mu);
            free(ob->server_url);
            free(ob);
            return NULL;
        }
    }
    if (ob->cfg.hub)
        poll_hub_on_result(ob->cfg.hub, on_poll_result, ob);
    return ob;
}

void outbox_stop_push(outbox_t *ob)
{
    push_stop(ob->push);
    ob->push = NULL;
}

void outbox_free(outbox_t *ob)
{
    if (!ob)
        return;
    if (ob->cfg.hub)
        poll_hub_on_result(ob->cfg.hub, NULL, ob);
    push_stop(ob->push);
    pthread_mutex_destroy(&ob->mu);
    free(ob->items);
    free(ob->server_url);
    free(ob);
}

/* Takes in the writes st noted since the last look. */
static void take_writes(outbox_t *ob, store_t *st)
{
    if (st->outbox_writes == ob->seen_writes)
        return;
    ob->seen_writes = st->outbox_writes;
    if (st->outbox_next < ob->next_due)
        ob->next_due = st->outbox_next;
    st->outbox_next = INT64_MAX;
}

bool outbox_may_be_due(outbox_t *ob, store_t *st, int64_t now)
{
    take_writes(ob, st);
    return !ob->looked || ob->next_due <= now;
}

bool outbox_deliver(outbox_t *ob, store_t *st, int64_t now)
{
    take_writes(ob, st);
    ob->looked = true;
    /* Whatever was due by now is read below (or, with a full batch, by the
     * call the caller makes at once); a later time stays known. */
    if (ob->next_due <= now)
        ob->next_due = INT64_MAX;
    arena_t *a = arena_new();
    outbox_msg_t *msgs = NULL;
    size_t n = 0;
    /* Rows in flight are skipped, so ask for enough to fill a batch. */
    pthread_mutex_lock(&ob->mu);
    size_t inflight = ob->n;
    pthread_mutex_unlock(&ob->mu);
    /* Shared: rows for streams on other servers are skipped, so look
     * further to still fill a batch. */
    size_t want = (ob->cfg.shared ? 4 * ob->cfg.batch : ob->cfg.batch) + inflight;
    if (store_outbox_due(st, a, now, want, &msgs, &n) != STORE_OK) {
        log_error("outbox: %s", store_errmsg(st));
        arena_free(a);
        return false;
    }
    size_t handled = 0;
    for (size_t i = 0; i < n && handled < ob->cfg.batch; i++) {
        const outbox_msg_t *m = &msgs[i];
        pthread_mutex_lock(&ob->mu);
        bool busy = find(ob, m->seq) != NULL;
        outcome_t *o = busy ? NULL : track(ob, m->seq, m->attempts);
        pthread_mutex_unlock(&ob->mu);
        if (busy || !o)
            continue;
        handled++;
        char *json = NULL;
        /* No poll stream could take it now (none open for the address, or
         * the byte budget full): try again later, without loading and
         * encoding a message (up to a promise's size) only to see it refused.
         * A stale row is then found stale at a later attempt. */
        addr_t addr;
        bool parsed = addr_parse(m->address, &addr);
        if (parsed && addr.scheme == ADDR_POLL && ob->cfg.hub &&
            !poll_ready(ob->cfg.hub, &addr, m->id)) {
            /* Maybe a stream on another server: its server sends it. Once
             * no server has for orphan_ms since it became due, the server
             * that claims it counts a failed attempt, as one server would. */
            int64_t since = m->not_before > m->queued_at ? m->not_before : m->queued_at;
            bool won = !ob->cfg.shared;
            if (ob->cfg.shared && now - since >= ob->cfg.orphan_ms &&
                store_outbox_claim(st, m->seq, now, time_add_sat(now, ob->cfg.claim_ms), &won) !=
                    STORE_OK)
                won = false;
            if (!won) {
                untrack(ob, m->seq);
                handled--;
                continue;
            }
            pthread_mutex_lock(&ob->mu);
            settle_outcome(ob, find(ob, m->seq), false, now);
            pthread_mutex_unlock(&ob->mu);
            continue;
        }
        /* A push target slower than the rows come: they wait here, due,
         * rather than in the push queue's memory (push_full). */
        if (parsed && addr.scheme == ADDR_HTTP && ob->push && push_full(ob->push)) {
            untrack(ob, m->seq);
            handled--;
            continue;
        }
        /* With several servers, the one whose claim succeeds sends it. */
        bool won = true;
        if (ob->cfg.shared &&
            (store_outbox_claim(st, m->seq, now, time_add_sat(now, ob->cfg.claim_ms), &won) !=
                 STORE_OK ||
             !won)) {
            untrack(ob, m->seq);
            handled--;
            continue;
        }
        /* One arena per message: a batch of large promises must not be
         * loaded all at once (100 rows of 2 MB would be 200 MB at a time,
         * again at every retry round). */
        arena_t *ma = arena_new();
        bool failed = !ma || engine_message(st, ma, m, ob->server_url, &json) != 0;
        arena_free(ma);
        if (failed)
            log_error("outbox: message %lld: %s", (long long)m->seq, store_errmsg(st));
        bool async = false, delivered = false, drop = !failed && (!json || !parsed);
        if (failed) {
            /* not delivered: retried with back-off */
        } else if (!drop && addr.scheme == ADDR_POLL && ob->cfg.hub) {
            /* Taken by a stream: delivered once written (on_poll_result);
             * meanwhile held, should its result take longer than the next
             * transaction. The lock first: the result may come at once. */
            pthread_mutex_lock(&ob->mu);
            o = find(ob, m->seq);
            bool was = pending(o);
            o->hold = true;
            repend(ob, o, was);
            o->hold_until = time_add_sat(now, OUTBOX_POLL_HOLD_MS);
            pthread_mutex_unlock(&ob->mu);
            async = poll_send(ob->cfg.hub, &addr, m->id, json, strlen(json), m->seq);
            if (!async) {
                pthread_mutex_lock(&ob->mu);
                o = find(ob, m->seq);
                was = pending(o);
                o->hold = false;
                repend(ob, o, was);
                pthread_mutex_unlock(&ob->mu);
            }
        } else if (!drop && addr.scheme == ADDR_HTTP && ob->push) {
            push_send(ob->push, m->seq, m->address, json, strlen(json));
            async = true;
        } else if (!drop) {
            char target[512];
            log_warn("outbox: no transport for %s, message %lld dropped",
                     addr_redact(m->address, target, sizeof target), (long long)m->seq);
            drop = true;
        }
        free(json);
        if (async)
            continue;
        pthread_mutex_lock(&ob->mu);
        o = find(ob, m->seq);
        if (drop) {
            bool was = pending(o);
            o->done = true;
            o->delete_row = true;
            repend(ob, o, was);
        } else {
            settle_outcome(ob, o, delivered, now);
        }
        pthread_mutex_unlock(&ob->mu);
    }
    arena_free(a);
    return n >= want && n > 0 && handled >= ob->cfg.batch;
}

/* Outcomes written per round of outbox_flush (a stack array). */
#define FLUSH_ROUND 64

int outbox_flush(outbox_t *ob, store_t *st)
{
    /* The outcomes are copied under the lock and written without it: a
     * poll stream reports under the hub's lock from an HTTP thread
     * (on_poll_result), which must never wait on the store's I/O. Only
     * the store thread (this caller) adds or removes items, so their
     * indexes hold while the lock is released. */
    int rc = STORE_OK;
    size_t next = 0;
    while (rc == STORE_OK) {
        outcome_t todo[FLUSH_ROUND];
        size_t at[FLUSH_ROUND], k = 0, written = 0;
        pthread_mutex_lock(&ob->mu);
        for (; next < ob->n && k < FLUSH_ROUND && k < ob->n_pending; next++)
            if (pending(&ob->items[next])) {
                todo[k] = ob->items[next];
                at[k++] = next;
            }
        pthread_mutex_unlock(&ob->mu);
        if (k == 0)
            break;
        for (; written < k && rc == STORE_OK; written++) {
            const outcome_t *o = &todo[written];
            if (!o->done)
                rc = store_outbox_defer(st, o->seq, o->hold_until, o->attempts);
            else if (o->delete_row)
                rc = store_outbox_delete(st, o->seq);
            else
                rc = store_outbox_defer(st, o->seq, o->not_before, o->attempts);
        }
        if (rc != STORE_OK)
            written--;
        pthread_mutex_lock(&ob->mu);
        for (size_t i = 0; i < written; i++) {
            /* Pending when copied, and still: a result only sets done, and
             * the other changes that clear it (untrack, a hold undone) are
             * made by this thread, the store thread, as this one is. */
            ob->n_pending--;
            ob->items[at[i]].flushed = true;
            ob->items[at[i]].flushed_done = todo[i].done;
        }
        ob->n_flushed += written;
        pthread_mutex_unlock(&ob->mu);
    }
    return rc;
}

void outbox_flush_end(outbox_t *ob, bool kept)
{
    pthread_mutex_lock(&ob->mu);
    if (ob->n_flushed) {
        size_t keep = 0;
        for (size_t i = 0; i < ob->n; i++) {
            outcome_t *o = &ob->items[i];
            bool was_flushed = o->flushed;
            if (o->flushed && kept && o->flushed_done)
                continue; /* its outcome is kept: forgotten */
            if (o->flushed && kept)
                o->held = true; /* still in flight; its outcome comes later */
            o->flushed = false;
            ob->n_pending += pending(o) && was_flushed;
            ob->items[keep++] = *o;
        }
        ob->n = keep;
        ob->n_flushed = 0;
    }
    pthread_mutex_unlock(&ob->mu);
}

bool outbox_dirty(outbox_t *ob)
{
    pthread_mutex_lock(&ob->mu);
    bool dirty = ob->n_pending > 0;
    pthread_mutex_unlock(&ob->mu);
    return dirty;
}

outbox_stats_t outbox_stats(outbox_t *ob)
{
    pthread_mutex_lock(&ob->mu);
    outbox_stats_t s = ob->stats;
    pthread_mutex_unlock(&ob->mu);
    return s;
}
