/* engine.c - the protocol's state machine (see engine.h).
 *
 * Each operation is a function of (request, stored rows) -> (new rows,
 * response), written against the storage port of core/store.h. The
 * settlement chain (settle -> fulfil own task -> resume awaiters -> unblock
 * listeners) is shared by every path that settles a promise: explicit
 * settles, task fulfilment, fenced settles, lazy timeouts and the background
 * tick. */
#include "core/engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/cron.h"

typedef struct {
    const engine_config_t *cfg;
    store_t *st;
    arena_t *a;
    int64_t now;
    const char *scope; /* the request's scope (request_t.scope), NULL = all */
    /* engine_read: st is a reader and nothing may be written; a lazy
     * timeout that would write sets to_writer instead. */
    bool read_only;
    bool to_writer;
} ctx_t;

/* Propagates a storage failure: the caller turns it into a 500. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if ((expr) != STORE_OK)                                                                    \
            return -1;                                                                             \
    } while (0)

#define TAG_TARGET "resonate:target"
#define TAG_TIMER "resonate:timer"
#define TAG_DELAY "resonate:delay"
#define TAG_BRANCH "resonate:branch"

static bool is_timer(const promise_t *p)
{
    const char *v = kvmap_get(&p->tags, TAG_TIMER);
    return v && strcmp(v, "true") == 0;
}

/* The state a promise takes when its deadline passes. */
static pstate_t timeout_state(const promise_t *p)
{
    return is_timer(p) ? PSTATE_RESOLVED : PSTATE_REJECTED_TIMEDOUT;
}

/* resonate:delay as an absolute "not before" time; 0 when absent (the
 * decoder has already validated it). DECISIONS.md #4: honoured. */
static int64_t delay_of(const promise_t *p)
{
    const char *d = kvmap_get(&p->tags, TAG_DELAY);
    if (!d)
        return 0;
    long long v = 0;
    if (sscanf(d, "%lld", &v) != 1 || v < 0)
        return 0;
    return (int64_t)v;
}

/* Queues execute(task id, version) to the task promise's target. */
static int dispatch(ctx_t *c, const promise_t *p, int64_t version, int64_t not_before)
{
    const char *target = kvmap_get(&p->tags, TAG_TARGET);
    if (!target)
        return STORE_OK;
    return store_outbox_execute(c->st, p->id, version, target, not_before);
}

/* Puts a task back to pending: retry timer and a fresh execute. */
static int task_to_pending(ctx_t *c, const promise_t *p, int64_t version)
{
    TRY(store_task_update(c->st, p->id, TSTATE_PENDING, version));
    task_timer_t tm = {
        .id = p->id, .type = TIMER_RETRY, .timeout = time_add_sat(c->now, c->cfg->retry_timeout)};
    TRY(store_timer_set(c->st, &tm));
    return dispatch(c, p, version, 0);
}

/* Resumes the suspended task of awaiter (T11), reading into c->a. */
static int resume_in(ctx_t *c, const char *awaiter)
{
    task_t *t = NULL;
    TRY(store_task_get(c->st, c->a, awaiter, &t));
    if (!t || t->state != TSTATE_SUSPENDED)
        return STORE_OK;
    promise_t *p = NULL;
    TRY(store_promise_get(c->st, c->a, awaiter, &p));
    if (!p)
        return STORE_OK;
    return task_to_pending(c, p, t->version);
}

/* Resumes the suspended task of awaiter (T11). Its promise (up to ~4 MiB)
 * is read into an arena of its own, freed at once: a settlement resumes
 * up to cfg->settle_fanout_batch awaiters in one transaction, whose arena
 * would otherwise hold all their records. Nothing read survives the call
 * (the store copies what it writes). */
static int resume_awaiter(ctx_t *c, const char *awaiter)
{
    ctx_t one = *c;
    one.a = arena_new();
    int rc = resume_in(&one, awaiter);
    arena_free(one.a);
    return rc;
}

/* A copy in a of p without its param and value (left absent): what a
 * caller that checks states and tags keeps of a record, a few hundred
 * bytes where the record may hold ~4 MiB. */
static promise_t *promise_head(arena_t *a, const promise_t *p)
{
    promise_t *h = arena_alloc(a, sizeof *h);
    h->id = arena_strdup(a, p->id);
    h->state = p->state;
    h->tags.n = p->tags.n;
    h->tags.items = arena_alloc(a, (p->tags.n ? p->tags.n : 1) * sizeof *h->tags.items);
    for (size_t i = 0; i < p->tags.n; i++)
        h->tags.items[i] =
            (kv_t){arena_strdup(a, p->tags.items[i].key), arena_strdup(a, p->tags.items[i].val)};
    h->timeout_at = p->timeout_at;
    h->created_at = p->created_at;
    h->has_settled_at = p->has_settled_at;
    h->settled_at = p->settled_at;
    return h;
}

/* Reads promise id (locking its row on a shared database) into a scratch
 * arena and keeps only its head in c->a: *out is NULL when there is none. */
static int promise_get_head(ctx_t *c, const char *id, promise_t **out)
{
    arena_t *scratch = arena_new();
    promise_t *p = NULL;
    int rc = store_promise_get(c->st, scratch, id, &p);
    *out = rc == STORE_OK && p ? promise_head(c->a, p) : NULL;
    arena_free(scratch);
    return rc;
}

/* First step of a settlement: the promise row, then its own task (T14).
 * p is updated in place to the settled record. */
static int settle_one(ctx_t *c, promise_t *p, pstate_t state, const pvalue_t *value,
                      int64_t settled_at)
{
    store_t *st = c->st;
    p->state = state;
    if (value)
        p->value = *value;
    p->has_settled_at = true;
    p->settled_at = settled_at;
    TRY(store_promise_settle(st, p->id, state, &p->value, settled_at));
    task_t *t = NULL;
    TRY(store_task_get(st, c->a, p->id, &t));
    if (t && t->state != TSTATE_FULFILLED) {
        TRY(store_task_update(st, p->id, TSTATE_FULFILLED, t->version));
        TRY(store_timer_delete(st, p->id));
        TRY(store_callback_delete_awaiter(st, p->id));
    }
    return STORE_OK;
}

/* One step of the fan-out of settled promise id: resumes (T11) at most max
 * of its awaiters not resumed yet, those after *after (NULL = from the
 * first; set to the last one resumed), and queues the unblocks of at most
 * max of its listeners (max 0: all of them). *more says whether either
 * kind has some left. */
static int fanout_step(ctx_t *c, const char *id, const char **after, size_t max, bool *more)
{
    store_t *st = c->st;
    const char **awaiters = NULL;
    size_t n = 0;
    bool more_cb = false, more_l = false;
    TRY(store_callback_ready(st, c->a, id, *after, max, &awaiters, &n, &more_cb));
    for (size_t i = 0; i < n; i++)
        TRY(resume_awaiter(c, awaiters[i]));
    if (n)
        *after = awaiters[n - 1];
    const char **addrs = NULL;
    TRY(store_listener_take(st, c->a, id, max, &addrs, &n, &more_l));
    for (size_t i = 0; i < n; i++)
        TRY(store_outbox_unblock(st, id, addrs[i]));
    *more = more_cb || more_l;
    return STORE_OK;
}

/* Rest of a settlement of id: awaiters resume (T11), listeners get their
 * unblock, at most cfg->settle_fanout_batch of each in this transaction.
 * What is left goes on the fan-out list for engine_tick (core/engine.h):
 * every other tenant's writes wait while one transaction runs, and a
 * promise may have any number of callbacks (task.suspend must not fail a
 * fan-in), so a settlement's own transaction stays bounded. Until then an
 * awaiter left over stays suspended, as if the settlement had not reached
 * it yet; the store keeps the rest exact (callback_insert,
 * callback_delete_ready in core/store.h). */
static int settle_notify(ctx_t *c, const char *id)
{
    const char *after = NULL;
    bool more = false;
    TRY(fanout_step(c, id, &after, c->cfg->settle_fanout_batch, &more));
    if (more)
        TRY(store_fanout_add(c->st, id, after));
    return STORE_OK;
}

/* Continues the listed fan-outs (settle_notify) in engine_tick: with limit
 * 0 each to its end; else at most min(limit, cfg->settle_fanout_batch)
 * promises, the batch shared among them (one of each kind at least), those
 * passed over the fewest times first, so that one tenant's many fan-outs
 * do not hold back another's. */
static int fanout_tick(ctx_t *c, size_t limit, bool *more)
{
    store_t *st = c->st;
    size_t batch = c->cfg->settle_fanout_batch;
    size_t rows = limit;
    if (limit && batch && batch < rows)
        rows = batch;
    fanout_t *fs = NULL;
    size_t n = 0;
    TRY(store_fanout_due(st, c->a, rows, &fs, &n));
    size_t share = 0; /* 0 = no bound */
    if (limit && batch && n)
        share = batch / n ? batch / n : 1;
    for (size_t i = 0; i < n; i++) {
        /* The promise's row lock first (a shared database), as its
         * settlement and a register_callback on it take it; only its head
         * is kept (the record may hold ~4 MiB, one per listed fan-out). */
        promise_t *p = NULL;
        TRY(promise_get_head(c, fs[i].id, &p));
        bool left = p != NULL;
        while (left) {
            TRY(fanout_step(c, fs[i].id, &fs[i].after, share, &left));
            if (limit)
                break;
        }
        if (left) {
            TRY(store_fanout_pass(st, fs[i].id, fs[i].after));
            *more = true;
        } else {
            TRY(store_fanout_delete(st, fs[i].id));
        }
    }
    if (rows && n == rows)
        *more = true;
    return STORE_OK;
}

/* Settles p (pending in the store) and runs the whole settlement chain. */
static int settle_chain(ctx_t *c, promise_t *p, pstate_t state, const pvalue_t *value,
                        int64_t settled_at)
{
    TRY(settle_one(c, p, state, value, settled_at));
    return settle_notify(c, p->id);
}

/* Lazy (and background) timeout of several ids as one batch, as the
 * reference does: every due promise is settled and its own task fulfilled
 * first, and only then are awaiters resumed, so a task whose own promise
 * expires in the same batch is not resumed (and sent a stale execute).
 * out[i] (when out is non-NULL) receives the current record of ids[i], NULL
 * if there is none. With max_bytes non-zero the batch ends, after one id
 * at least, once the records it read take more than max_bytes of the
 * arena (a tick over promises of ~4 MiB each must not hold gigabytes):
 * *taken says how many ids it covered, the others are left for later.
 * With heads, each record is read into a scratch arena and only its head
 * (promise_head) is kept: a pending promise has no value to lose, and a
 * request naming many large promises holds one at a time. */
static int timeout_batch_within(ctx_t *c, const char *const *ids, size_t n, promise_t **out,
                                size_t max_bytes, size_t *taken, bool heads)
{
    promise_t **due = arena_alloc(c->a, (n ? n : 1) * sizeof *due);
    size_t n_due = 0, start = arena_used(c->a);
    *taken = n;
    for (size_t i = 0; i < n; i++) {
        if (i && max_bytes && arena_used(c->a) - start > max_bytes) {
            *taken = i;
            break;
        }
        promise_t *p = NULL;
        TRY(heads ? promise_get_head(c, ids[i], &p) : store_promise_get(c->st, c->a, ids[i], &p));
        if (p && p->state == PSTATE_PENDING && p->timeout_at <= c->now) {
            if (c->read_only) {
                c->to_writer = true; /* answered by the writer, see engine_read */
            } else {
                TRY(settle_one(c, p, timeout_state(p), NULL, p->timeout_at));
                due[n_due++] = p;
            }
        }
        if (out)
            out[i] = p;
    }
    for (size_t i = 0; i < n_due; i++)
        TRY(settle_notify(c, due[i]->id));
    return STORE_OK;
}

/* timeout_batch_within over all of ids. */
static int timeout_batch(ctx_t *c, const char *const *ids, size_t n, promise_t **out)
{
    size_t taken;
    return timeout_batch_within(c, ids, n, out, 0, &taken, false);
}

/* Lazy timeout of one id; *out (when non-NULL) receives its record. */
static int try_timeout(ctx_t *c, const char *id, promise_t **out)
{
    return timeout_batch(c, &id, 1, out);
}

/* Inserts a new promise (and its task when it has a target) as
 * promise.create does. A promise born pending gets createdAt = created_at; one
 * born past its deadline gets born_settled_at (promise.create uses timeoutAt,
 * a schedule firing its firing time). A pending task is dispatched unless
 * dispatch_task is false (task.create: the creator acquires it at once).
 * *out receives the stored record. */
static int create_promise(ctx_t *c, const promise_create_t *req, int64_t created_at,
                          int64_t born_settled_at, bool dispatch_task, promise_t **out)
{
    store_t *st = c->st;
    promise_t *p = arena_alloc(c->a, sizeof *p);
    p->id = req->id;
    p->param = req->param;
    p->tags = req->tags;
    p->timeout_at = req->timeout_at;
    const char *target = kvmap_get(&p->tags, TAG_TARGET);
    if (c->now >= req->timeout_at) {
        /* Born settled: createdAt = settledAt = timeoutAt. */
        p->state = timeout_state(p);
        p->created_at = born_settled_at;
        p->has_settled_at = true;
        p->settled_at = req->timeout_at;
        TRY(store_promise_insert(st, p));
        if (target)
            TRY(store_task_insert(st, p->id, TSTATE_FULFILLED, 0));
    } else {
        p->state = PSTATE_PENDING;
        p->created_at = created_at;
        TRY(store_promise_insert(st, p));
        if (target) {
            int64_t delay = delay_of(p);
            int64_t base = delay > c->now ? delay : c->now;
            TRY(store_task_insert(st, p->id, TSTATE_PENDING, 0));
            if (!dispatch_task)
                goto done;
            task_timer_t tm = {.id = p->id,
                               .type = TIMER_RETRY,
                               .timeout = time_add_sat(base, c->cfg->retry_timeout)};
            TRY(store_timer_set(st, &tm));
            TRY(dispatch(c, p, 0, delay > c->now ? delay : 0));
        }
    }
done:
    *out = p;
    return STORE_OK;
}

static json_t *wrap(const char *key, json_t *v)
{
    json_t *o = json_object();
    json_object_set_new(o, key, v);
    return o;
}

/* ---- promises ------------------------------------------------------------ */

static int op_promise_get(ctx_t *c, const request_t *r, response_t *resp)
{
    promise_t *p;
    TRY(try_timeout(c, r->u.get.id, &p));
    if (!p)
        response_error(resp, 404, "Promise not found");
    else
        response_promise(resp, 200, p);
    return 0;
}

static int op_promise_create(ctx_t *c, const request_t *r, response_t *resp)
{
    const promise_create_t *q = &r->u.promise_create;
    promise_t *p;
    TRY(try_timeout(c, q->id, &p));
    if (!p)
        TRY(create_promise(c, q, c->now, q->timeout_at, true, &p));
    response_promise(resp, 200, p);
    return 0;
}

static int op_promise_settle(ctx_t *c, const request_t *r, response_t *resp)
{
    const promise_settle_t *q = &r->u.promise_settle;
    promise_t *p;
    TRY(try_timeout(c, q->id, &p));
    if (!p) {
        response_error(resp, 404, "Promise not found");
        return 0;
    }
    if (p->state == PSTATE_PENDING)
        TRY(settle_chain(c, p, q->state, &q->value, c->now));
    response_promise(resp, 200, p);
    return 0;
}

static int op_register_callback(ctx_t *c, const request_t *r, response_t *resp)
{
    store_t *st = c->st;
    const callback_req_t *q = &r->u.callback;
    const char *ids[2] = {q->awaited, q->awaiter};
    promise_t *recs[2];
    TRY(timeout_batch(c, ids, 2, recs));
    promise_t *awaited = recs[0], *awaiter = recs[1];
    bool has_target = awaiter && kvmap_get(&awaiter->tags, TAG_TARGET);

    if (awaited && awaiter && has_target) {
        if (awaited->state == PSTATE_PENDING) {
            if (awaiter->state == PSTATE_PENDING)
                TRY(store_callback_insert(st, q->awaited, q->awaiter, false));
        } else {
            /* Direct resume: the awaited already settled. */
            TRY(resume_awaiter(c, q->awaiter));
            task_t *t = NULL;
            TRY(store_task_get(st, c->a, q->awaiter, &t));
            if (t && (t->state == TSTATE_PENDING || t->state == TSTATE_ACQUIRED))
                TRY(store_callback_insert(st, q->awaited, q->awaiter, true));
        }
    }

    if (!awaited)
        response_error(resp, 404, "Awaited promise not found");
    else if (!awaiter)
        response_error(resp, 422, "Awaiter promise not found");
    else if (!has_target)
        response_error(resp, 422, "Awaiter promise has no resonate:target tag");
    else
        response_promise(resp, 200, awaited);
    return 0;
}

/* A pending promise takes a new listener only while it has fewer than
 * cfg->listeners_per_promise (0 = no bound): its settlement queues one
 * unblock per listener in one store transaction, so an unbounded set lets
 * one tenant stall every other tenant's writes. Re-registering a stored
 * pair stays a no-op success at any count. The refusal is 429, which the
 * SDK retries (every 5 s) instead of failing the caller: once the promise
 * settles the same request answers 200 with the settled record. The count
 * and the insert share the request's transaction on the store thread
 * (PostgreSQL: the promise row is locked by the read), so no concurrent
 * registration slips past the bound. */
static int op_register_listener(ctx_t *c, const request_t *r, response_t *resp)
{
    const char *awaited = r->u.listener.awaited, *address = r->u.listener.address;
    size_t max = c->cfg->listeners_per_promise;
    promise_t *p;
    TRY(try_timeout(c, awaited, &p));
    if (!p) {
        response_error(resp, 404, "Awaited promise not found");
        return 0;
    }
    if (p->state == PSTATE_PENDING) {
        size_t n = 0;
        bool registered = false;
        if (max)
            TRY(store_listener_count(c->st, p->id, address, max, &n, &registered));
        if (max && !registered && n >= max) {
            response_error(resp, 429,
                           "Promise '%s' already has %zu listeners, the limit of "
                           "limits.listeners_per_promise: settle it, or retry once it has "
                           "settled, or raise the limit",
                           p->id, n);
            return 0;
        }
        TRY(store_listener_insert(c->st, p->id, address));
    }
    response_promise(resp, 200, p);
    return 0;
}

/* The search of r, limited to the caller's scope (DECISIONS #15). */
static search_req_t scoped_search(const request_t *r)
{
    search_req_t q = r->u.search;
    q.id_prefix = r->scope;
    return q;
}

/* {"<key>": [...], "cursor"?: where the next page starts} */
static json_t *search_result(const char *key, json_t *items, const char *cursor)
{
    json_t *o = wrap(key, items);
    if (cursor)
        json_object_set_new(o, "cursor", json_string(cursor));
    return o;
}

static int op_promise_search(ctx_t *c, const request_t *r, response_t *resp)
{
    promise_t *ps = NULL;
    size_t n = 0;
    const char *cursor = NULL;
    search_req_t q = scoped_search(r);
    TRY(store_promise_search(c->st, c->a, &q, &ps, &n, &cursor));
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, wire_promise(&ps[i]));
    response_set(resp, 200, search_result("promises", arr, cursor));
    return 0;
}

/* ---- tasks --------------------------------------------------------------- */

/* Promises sharing the branch of p (excluding p), for the worker's replay:
 * by id, as many as fit cfg->preload_max_count and, encoded as they are
 * sent (wire_promise_size, an upper bound), cfg->preload_max_bytes. The first that does not fit
 * ends the list, and the store reads no further, so a branch of many large promises costs the store
 * thread one budget's worth of work. A cut list is still correct: the preload only spares the
 * worker requests, and the SDK fetches what it lacks through task.fence (protocol-tasks.md §4.12).
 * A scoped caller gets only those inside its scope (a branch tag may name an id shorter than the
 * prefix, e.g. "acme" for "acme:x"); rows left out that way still count
 * against the store's budget. */
static int preload(ctx_t *c, const promise_t *p, json_t **out)
{
    json_t *arr = json_array();
    *out = arr;
    const char *branch = p ? kvmap_get(&p->tags, TAG_BRANCH) : NULL;
    if (!branch)
        return STORE_OK;
    size_t max_bytes = c->cfg->preload_max_bytes, used = 0, n = 0;
    promise_t *ps = NULL;
    bool more;
    TRY(store_promise_branch(c->st, c->a, branch, p->id, c->cfg->preload_max_count, max_bytes, &ps,
                             &n, &more));
    for (size_t i = 0; i < n; i++) {
        if (!id_in_scope(ps[i].id, c->scope))
            continue;
        /* The record as the response carries it (bounded above), plus its
         * comma; counted before it is built. */
        size_t size = wire_promise_size(&ps[i]) + 1;
        if (max_bytes && size > max_bytes - used)
            break;
        used += size;
        json_array_append_new(arr, wire_promise(&ps[i]));
    }
    return STORE_OK;
}

/* Acquires a pending task (T5) and builds the acquire-shaped answer. */
static int acquire(ctx_t *c, const promise_t *p, int64_t version, const char *pid, int64_t ttl,
                   response_t *resp)
{
    store_t *st = c->st;
    TRY(store_task_update(st, p->id, TSTATE_ACQUIRED, version + 1));
    task_timer_t tm = {.id = p->id,
                       .type = TIMER_LEASE,
                       .timeout = time_add_sat(c->now, ttl),
                       .pid = pid,
                       .ttl = ttl};
    TRY(store_timer_set(st, &tm));
    TRY(store_callback_delete_ready(st, p->id));
    task_t t = {.id = p->id,
                .state = TSTATE_ACQUIRED,
                .version = version + 1,
                .has_lease = true,
                .ttl = ttl,
                .pid = pid};
    json_t *pre;
    TRY(preload(c, p, &pre));
    json_t *o = wrap("task", wire_task(&t));
    json_object_set_new(o, "promise", wire_promise(p));
    json_object_set_new(o, "preload", pre);
    response_set(resp, 200, o);
    return STORE_OK;
}

/* Reads the task and its promise after a lazy timeout of id. */
static int load_task(ctx_t *c, const char *id, task_t **t, promise_t **p)
{
    TRY(try_timeout(c, id, p));
    *t = NULL;
    if (*p)
        TRY(store_task_get(c->st, c->a, id, t));
    return STORE_OK;
}

static bool holds(const task_t *t, int64_t version)
{
    return t && t->state == TSTATE_ACQUIRED && t->version == version;
}

static int op_task_get(ctx_t *c, const request_t *r, response_t *resp)
{
    task_t *t;
    promise_t *p;
    TRY(load_task(c, r->u.get.id, &t, &p));
    if (!t)
        response_error(resp, 404, "Task not found");
    else
        response_set(resp, 200, wrap("task", wire_task(t)));
    return 0;
}

static int op_task_create(ctx_t *c, const request_t *r, response_t *resp)
{
    const promise_create_t *q = &r->u.task_create.action;
    task_t *t;
    promise_t *p;
    TRY(load_task(c, q->id, &t, &p));
    if (!p) {
        TRY(create_promise(c, q, c->now, q->timeout_at, false, &p));
        if (p->state != PSTATE_PENDING) {
            task_t ft = {.id = p->id, .state = TSTATE_FULFILLED};
            json_t *o = wrap("task", wire_task(&ft));
            json_object_set_new(o, "promise", wire_promise(p));
            json_object_set_new(o, "preload", json_array());
            response_set(resp, 200, o);
            return 0;
        }
        /* T3: born acquired by its creator, version 1, no message. */
        return acquire(c, p, 0, r->u.task_create.pid, r->u.task_create.ttl, resp);
    }
    if (!t) {
        response_error(resp, 422, "The promise does not have a resonate:target tag");
        return 0;
    }
    switch (t->state) {
    case TSTATE_FULFILLED: {
        task_t ft = {.id = t->id, .state = TSTATE_FULFILLED, .version = t->version};
        json_t *o = wrap("task", wire_task(&ft));
        json_object_set_new(o, "promise", wire_promise(p));
        json_object_set_new(o, "preload", json_array());
        response_set(resp, 200, o);
        return 0;
    }
    case TSTATE_PENDING:
        return acquire(c, p, t->version, r->u.task_create.pid, r->u.task_create.ttl, resp);
    default:
        response_error(resp, 409, "Already exists");
        return 0;
    }
}

static int op_task_acquire(ctx_t *c, const request_t *r, response_t *resp)
{
    task_t *t;
    promise_t *p;
    TRY(load_task(c, r->u.task_acquire.id, &t, &p));
    if (!t)
        response_error(resp, 404, "Task not found");
    else if (t->state != TSTATE_PENDING)
        response_error(resp, 409, "Task is not pending");
    else if (t->version != r->u.task_acquire.version)
        response_error(resp, 409, "Version mismatch");
    else
        return acquire(c, p, t->version, r->u.task_acquire.pid, r->u.task_acquire.ttl, resp);
    return 0;
}

static int op_task_release(ctx_t *c, const request_t *r, response_t *resp)
{
    task_t *t;
    promise_t *p;
    TRY(load_task(c, r->u.task_release.id, &t, &p));
    if (!t) {
        response_error(resp, 404, "Task not found");
    } else if (!holds(t, r->u.task_release.version)) {
        response_error(resp, 409, "Task version mismatch or invalid state");
    } else {
        TRY(task_to_pending(c, p, t->version));
        response_set(resp, 200, json_object());
    }
    return 0;
}

static int op_task_fulfill(ctx_t *c, const request_t *r, response_t *resp)
{
    task_t *t;
    promise_t *p;
    TRY(load_task(c, r->u.task_fulfill.id, &t, &p));
    if (!t) {
        response_error(resp, 404, "Task not found");
    } else if (!holds(t, r->u.task_fulfill.version)) {
        response_error(resp, 409, "Task version mismatch or invalid state");
    } else {
        const promise_settle_t *q = &r->u.task_fulfill.action;
        /* The settlement chain fulfils the task, drops its timer and its
         * callbacks (T10). */
        TRY(settle_chain(c, p, q->state, &q->value, c->now));
        response_promise(resp, 200, p);
    }
    return 0;
}

/* Orders pointers into one array of ids by id, then by place. */
static int cmp_id_then_place(const void *a, const void *b)
{
    const char *const *x = *(const char *const *const *)a, *const *y =
                                                               *(const char *const *const *)b;
    int c = strcmp(*x, *y);
    return c ? c : (x > y) - (x < y);
}

/* The ids of list (n of them) without repeats, in the order of their first
 * occurrence; *n_out of them, in a. */
static const char **distinct_ids(arena_t *a, const char *const *list, size_t n, size_t *n_out)
{
    const char *const **by = arena_alloc(a, (n ? n : 1) * sizeof *by);
    bool *repeat = arena_alloc(a, (n ? n : 1) * sizeof *repeat);
    const char **out = arena_alloc(a, (n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++)
        by[i] = &list[i];
    qsort(by, n, sizeof *by, cmp_id_then_place); /* a run of one id: its first place first */
    for (size_t i = 1; i < n; i++)
        if (strcmp(*by[i], *by[i - 1]) == 0)
            repeat[by[i] - list] = true;
    *n_out = 0;
    for (size_t i = 0; i < n; i++)
        if (!repeat[i])
            out[(*n_out)++] = list[i];
    return out;
}

static int op_task_suspend(ctx_t *c, const request_t *r, response_t *resp)
{
    store_t *st = c->st;
    const char *id = r->u.task_suspend.id;
    task_t *before = NULL;
    TRY(store_task_get(st, c->a, id, &before));
    /* Each awaited promise once, and only its head: a request may name
     * one promise of ~4 MiB thousands of times, or thousands of them. */
    size_t n;
    const char **awaited =
        distinct_ids(c->a, r->u.task_suspend.awaited, r->u.task_suspend.n_awaited, &n);
    const char **ids = arena_alloc(c->a, (n + 1) * sizeof *ids);
    promise_t **recs = arena_alloc(c->a, (n + 1) * sizeof *recs);
    ids[0] = id;
    memcpy(ids + 1, awaited, n * sizeof *ids);
    size_t taken;
    TRY(timeout_batch_within(c, ids, n + 1, recs, 0, &taken, true));
    promise_t *p = recs[0], **aw = recs + 1;
    task_t *t = NULL;
    if (p)
        TRY(store_task_get(st, c->a, id, &t));
    if (!holds(t, r->u.task_suspend.version)) {
        if (!before)
            response_error(resp, 404, "Task not found");
        else
            response_error(resp, 409, "Task is not acquired or version mismatch");
        return 0;
    }
    bool all_pending = true;
    for (size_t i = 0; i < n; i++) {
        if (!aw[i]) {
            response_error(resp, 422, "Awaited promise not found");
            return 0;
        }
        all_pending &= aw[i]->state == PSTATE_PENDING;
    }
    TRY(store_callback_delete_ready(st, id));
    if (!all_pending) {
        /* T9: something already settled; the worker keeps going. */
        json_t *pre;
        TRY(preload(c, p, &pre));
        response_set(resp, 300, wrap("preload", pre));
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        TRY(store_callback_insert(st, aw[i]->id, id, false));
    TRY(store_task_update(st, id, TSTATE_SUSPENDED, t->version));
    TRY(store_timer_delete(st, id));
    response_set(resp, 200, json_object());
    return 0;
}

static int op_task_fence(ctx_t *c, const request_t *r, response_t *resp)
{
    const task_fence_t *q = &r->u.task_fence;
    const char *inner_id = q->is_create ? q->create.id : q->settle.id;
    const char *ids[2] = {q->id, inner_id};
    promise_t *recs[2];
    TRY(timeout_batch(c, ids, 2, recs));
    promise_t *p = recs[0], *ip = recs[1];
    task_t *t = NULL;
    if (p)
        TRY(store_task_get(c->st, c->a, q->id, &t));
    if (!t) {
        response_error(resp, 404, "Task not found");
        return 0;
    }
    if (!holds(t, q->version)) {
        response_error(resp, 409, "Version mismatch");
        return 0;
    }
    int status = 200;
    json_t *data;
    if (q->is_create) {
        if (!ip)
            TRY(create_promise(c, &q->create, c->now, q->create.timeout_at, true, &ip));
        data = wrap("promise", wire_promise(ip));
    } else if (!ip) {
        status = 404;
        data = json_string("Promise not found");
    } else {
        if (ip->state == PSTATE_PENDING)
            TRY(settle_chain(c, ip, q->settle.state, &q->settle.value, c->now));
        data = wrap("promise", wire_promise(ip));
    }
    /* The task's own promise may have changed (a settled child can't touch
     * it, but read it back for an exact preload). */
    TRY(store_promise_get(c->st, c->a, q->id, &p));
    json_t *pre;
    TRY(preload(c, p, &pre));
    json_t *action =
        json_pack("{s:s,s:{s:s,s:i,s:s},s:o}", "kind", q->action_kind, "head", "corrId", r->corr_id,
                  "status", status, "version", PROTOCOL_VERSION, "data", data);
    json_t *o = wrap("action", action);
    json_object_set_new(o, "preload", pre);
    response_set(resp, 200, o);
    return 0;
}

/* Orders pointers to task references by id. */
static int cmp_ref_id(const void *a, const void *b)
{
    return strcmp((*(const task_ref_t *const *)a)->id, (*(const task_ref_t *const *)b)->id);
}

/* Renews the lease of one task held by pid (DECISIONS.md #2) when one of
 * the n versions named for it is the task's. The task first:
 * store_task_get locks it on a shared database, so the timer read next is
 * the one of the task's current holder, not a lease that another server
 * expired and gave to another pid meanwhile (which this renewal would then
 * hand back to pid). */
static int renew(ctx_t *c, const char *pid, const char *id, const task_ref_t *const *refs, size_t n)
{
    task_t *t = NULL;
    TRY(store_task_get(c->st, c->a, id, &t));
    bool named = false;
    for (size_t i = 0; t && i < n && !named; i++)
        named = refs[i]->version == t->version;
    if (!named || t->state != TSTATE_ACQUIRED)
        return STORE_OK;
    task_timer_t *tm = NULL;
    TRY(store_timer_get(c->st, c->a, id, &tm));
    if (!tm || tm->type != TIMER_LEASE || !tm->pid || strcmp(tm->pid, pid) != 0)
        return STORE_OK;
    tm->timeout = time_add_sat(c->now, tm->ttl);
    return store_timer_set(c->st, tm);
}

static int op_task_heartbeat(ctx_t *c, const request_t *r, response_t *resp)
{
    const char *pid = r->u.task_heartbeat.pid;
    if (r->u.task_heartbeat.n_tasks == 0) {
        /* The SDK sends an empty list: renew every lease this pid holds, of
         * a prefixed caller only those inside its prefix (DECISIONS #2; a
         * pid can be guessed, a lease of another tenant must not be kept
         * alive by it). One statement: a pid holding 20,000 leases cost
         * about 240 ms of the store thread a heartbeat as a read and a
         * write per lease, which every tenant's writes waited for. */
        TRY(store_lease_renew_pid(c->st, pid, r->scope, c->now));
    } else {
        /* Each task once, whatever the list repeats: a body of 1 MB named
         * one task 50,000 times, and held every tenant's writes for 400
         * ms. By id, so that the tasks' locks are taken in one order. */
        size_t n = r->u.task_heartbeat.n_tasks;
        const task_ref_t **by = arena_alloc(c->a, n * sizeof *by);
        for (size_t i = 0; i < n; i++)
            by[i] = &r->u.task_heartbeat.tasks[i];
        qsort(by, n, sizeof *by, cmp_ref_id);
        for (size_t i = 0, run; i < n; i += run) {
            for (run = 1; i + run < n && strcmp(by[i + run]->id, by[i]->id) == 0; run++)
                ;
            if (by[i]->id[0])
                TRY(renew(c, pid, by[i]->id, by + i, run));
        }
    }
    response_set(resp, 200, json_object());
    return 0;
}

static int op_task_halt(ctx_t *c, const request_t *r, response_t *resp)
{
    task_t *t;
    promise_t *p;
    TRY(load_task(c, r->u.get.id, &t, &p));
    if (!t) {
        response_error(resp, 404, "Task not found");
    } else if (t->state == TSTATE_FULFILLED) {
        response_error(resp, 409, "Task is fulfilled");
    } else {
        if (t->state != TSTATE_HALTED) {
            TRY(store_task_update(c->st, t->id, TSTATE_HALTED, t->version));
            TRY(store_timer_delete(c->st, t->id));
        }
        response_set(resp, 200, json_object());
    }
    return 0;
}

static int op_task_continue(ctx_t *c, const request_t *r, response_t *resp)
{
    task_t *t;
    promise_t *p;
    TRY(load_task(c, r->u.get.id, &t, &p));
    if (!t) {
        response_error(resp, 404, "Task not found");
    } else if (t->state != TSTATE_HALTED) {
        response_error(resp, 409, "Task is not halted");
    } else {
        TRY(task_to_pending(c, p, t->version));
        response_set(resp, 200, json_object());
    }
    return 0;
}

static int op_task_search(ctx_t *c, const request_t *r, response_t *resp)
{
    task_t *ts = NULL;
    size_t n = 0;
    const char *cursor = NULL;
    search_req_t q = scoped_search(r);
    TRY(store_task_search(c->st, c->a, &q, &ts, &n, &cursor));
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, wire_task(&ts[i]));
    response_set(resp, 200, search_result("tasks", arr, cursor));
    return 0;
}

/* ---- schedules ----------------------------------------------------------- */

/* Next run after t; the reference falls back to t + 60 s when a (valid)
 * expression never matches. */
static int64_t next_run(const char *expr, int64_t t)
{
    cron_t cr;
    char err[128];
    if (cron_parse(expr, &cr, err, sizeof err) != 0)
        return time_add_sat(t, 60000);
    int64_t n = cron_next(&cr, t);
    return n < 0 ? time_add_sat(t, 60000) : n;
}

static int op_schedule_get(ctx_t *c, const request_t *r, response_t *resp)
{
    schedule_t *s = NULL;
    TRY(store_schedule_get(c->st, c->a, r->u.get.id, &s));
    if (!s)
        response_error(resp, 404, "Schedule not found");
    else
        response_set(resp, 200, wrap("schedule", wire_schedule(s)));
    return 0;
}

static int op_schedule_create(ctx_t *c, const request_t *r, response_t *resp)
{
    const schedule_create_t *q = &r->u.schedule_create;
    schedule_t *s = NULL;
    TRY(store_schedule_get(c->st, c->a, q->id, &s));
    if (!s) {
        s = arena_alloc(c->a, sizeof *s);
        s->id = q->id;
        s->cron = q->cron;
        s->promise_id = q->promise_id;
        s->promise_timeout = q->promise_timeout;
        s->promise_param = q->promise_param;
        s->promise_tags = q->promise_tags;
        s->created_at = c->now;
        s->next_run_at = next_run(q->cron, c->now);
        TRY(store_schedule_insert(c->st, s));
    }
    response_set(resp, 200, wrap("schedule", wire_schedule(s)));
    return 0;
}

static int op_schedule_delete(ctx_t *c, const request_t *r, response_t *resp)
{
    bool found = false;
    TRY(store_schedule_delete(c->st, r->u.get.id, &found));
    if (!found)
        response_error(resp, 404, "Schedule not found");
    else
        response_set(resp, 200, json_object());
    return 0;
}

static int op_schedule_search(ctx_t *c, const request_t *r, response_t *resp)
{
    schedule_t *ss = NULL;
    size_t n = 0;
    const char *cursor = NULL;
    search_req_t q = scoped_search(r);
    TRY(store_schedule_search(c->st, c->a, &q, &ss, &n, &cursor));
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, wire_schedule(&ss[i]));
    response_set(resp, 200, search_result("schedules", arr, cursor));
    return 0;
}

/* Returns m with key set to val (arena copy, still sorted). */
static kvmap_t kv_with(arena_t *a, kvmap_t m, const char *key, const char *val)
{
    kvmap_t out = {.items = arena_alloc(a, (m.n + 1) * sizeof(kv_t)), .n = 0};
    bool placed = false;
    for (size_t i = 0; i < m.n; i++) {
        int cmp = strcmp(m.items[i].key, key);
        if (!placed && cmp >= 0) {
            out.items[out.n++] = (kv_t){key, val};
            placed = true;
            if (cmp == 0)
                continue;
        }
        out.items[out.n++] = m.items[i];
    }
    if (!placed)
        out.items[out.n++] = (kv_t){key, val};
    return out;
}

/* Fires schedule s once at its due time F = s->next_run_at (tick time c->now). */
static int fire_schedule(ctx_t *c, const schedule_t *s)
{
    int64_t f = s->next_run_at;
    const char *pid = schedule_promise_id(c->a, s->promise_id, s->id, f);

    kvmap_t tags = kv_with(c->a, s->promise_tags, "resonate:schedule", s->id);
    static const char *const lineage[] = {"resonate:origin", "resonate:branch", "resonate:parent",
                                          "resonate:prefix"};
    for (size_t i = 0; i < sizeof lineage / sizeof *lineage; i++)
        tags = kv_with(c->a, tags, lineage[i], pid);

    promise_t *existing = NULL;
    TRY(store_promise_get(c->st, c->a, pid, &existing));
    if (!existing) {
        promise_create_t q = {.id = pid,
                              .timeout_at = time_add_sat(f, s->promise_timeout),
                              .param = s->promise_param,
                              .tags = tags};
        promise_t *p;
        TRY(create_promise(c, &q, f, f, true, &p));
    }
    return store_schedule_advance(c->st, s->id, f, next_run(s->cron, f));
}

/* ---- debug --------------------------------------------------------------- */

static json_t *snap_json(const store_snap_t *s)
{
    json_t *callbacks = json_array(), *listeners = json_array(), *messages = json_array();
    json_t *ptimeouts = json_array(), *promises = json_array(), *ttimeouts = json_array();
    json_t *tasks = json_array();
    for (size_t i = 0; i < s->n_promises; i++) {
        const promise_t *p = &s->promises[i];
        json_array_append_new(promises, wire_promise(p));
        if (p->state == PSTATE_PENDING) {
            json_t *o = json_pack("{s:s,s:I}", "id", p->id, "timeout", (json_int_t)p->timeout_at);
            json_array_append_new(ptimeouts, o);
        }
    }
    for (size_t i = 0; i < s->n_callbacks; i++)
        json_array_append_new(callbacks, json_pack("{s:s,s:s}", "awaited", s->callbacks[i].awaited,
                                                   "awaiter", s->callbacks[i].awaiter));
    for (size_t i = 0; i < s->n_listeners; i++)
        json_array_append_new(listeners, json_pack("{s:s,s:s}", "id", s->listeners[i].promise_id,
                                                   "address", s->listeners[i].address));
    for (size_t i = 0; i < s->n_tasks; i++)
        json_array_append_new(tasks, wire_task(&s->tasks[i]));
    for (size_t i = 0; i < s->n_timers; i++)
        json_array_append_new(ttimeouts, json_pack("{s:s,s:i,s:I}", "id", s->timers[i].id, "type",
                                                   s->timers[i].type, "timeout",
                                                   (json_int_t)s->timers[i].timeout));
    for (size_t i = 0; i < s->n_messages; i++) {
        const outbox_msg_t *m = &s->messages[i];
        json_t *data;
        if (m->kind == MSG_EXECUTE) {
            data = wrap("task",
                        json_pack("{s:s,s:I}", "id", m->id, "version", (json_int_t)m->version));
        } else {
            json_t *rec = json_null();
            for (size_t j = 0; j < s->n_promises; j++)
                if (strcmp(s->promises[j].id, m->id) == 0) {
                    rec = wire_promise(&s->promises[j]);
                    break;
                }
            data = wrap("promise", rec);
        }
        json_t *msg =
            json_pack("{s:s,s:{},s:o}", "kind", m->kind == MSG_EXECUTE ? "execute" : "unblock",
                      "head", "data", data);
        json_array_append_new(messages,
                              json_pack("{s:s,s:o}", "address", m->address, "message", msg));
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "callbacks", callbacks, "listeners",
                     listeners, "messages", messages, "promiseTimeouts", ptimeouts, "promises",
                     promises, "taskTimeouts", ttimeouts, "tasks", tasks);
}

static int op_debug(ctx_t *c, const request_t *r, response_t *resp)
{
    switch (r->op) {
    case OP_DEBUG_RESET:
        if (store_reset(c->st) != STORE_OK) {
            response_error(resp, 500, "Reset failed: %s", store_errmsg(c->st));
            return -1;
        }
        response_set(resp, 200, json_object());
        return 0;
    case OP_DEBUG_SNAP: {
        store_snap_t snap;
        if (store_snap(c->st, c->a, &snap) != STORE_OK) {
            response_error(resp, 500, "Snap failed: %s", store_errmsg(c->st));
            return -1;
        }
        response_set(resp, 200, snap_json(&snap));
        return 0;
    }
    case OP_DEBUG_TICK: {
        /* One complete pass: every due timer, each due schedule once. */
        bool more;
        if (engine_tick(c->cfg, c->st, c->a, r->u.tick.time, 0, &more) != 0) {
            response_error(resp, 500, "Tick failed: %s", store_errmsg(c->st));
            return -1;
        }
        response_set(resp, 200, json_array());
        return 0;
    }
    default:
        /* debug.start / debug.stop pause and resume the server's loops; the
         * executor acts on them, the store has nothing to do. */
        response_set(resp, 200, json_object());
        return 0;
    }
}

/* ---- entry points -------------------------------------------------------- */

typedef int (*op_fn)(ctx_t *, const request_t *, response_t *);

static const op_fn ops[OP__COUNT] = {
    [OP_PROMISE_GET] = op_promise_get,
    [OP_PROMISE_CREATE] = op_promise_create,
    [OP_PROMISE_SETTLE] = op_promise_settle,
    [OP_PROMISE_REGISTER_CALLBACK] = op_register_callback,
    [OP_PROMISE_REGISTER_LISTENER] = op_register_listener,
    [OP_PROMISE_SEARCH] = op_promise_search,
    [OP_TASK_GET] = op_task_get,
    [OP_TASK_CREATE] = op_task_create,
    [OP_TASK_ACQUIRE] = op_task_acquire,
    [OP_TASK_RELEASE] = op_task_release,
    [OP_TASK_FULFILL] = op_task_fulfill,
    [OP_TASK_SUSPEND] = op_task_suspend,
    [OP_TASK_FENCE] = op_task_fence,
    [OP_TASK_HEARTBEAT] = op_task_heartbeat,
    [OP_TASK_HALT] = op_task_halt,
    [OP_TASK_CONTINUE] = op_task_continue,
    [OP_TASK_SEARCH] = op_task_search,
    [OP_SCHEDULE_GET] = op_schedule_get,
    [OP_SCHEDULE_CREATE] = op_schedule_create,
    [OP_SCHEDULE_DELETE] = op_schedule_delete,
    [OP_SCHEDULE_SEARCH] = op_schedule_search,
    [OP_DEBUG_START] = op_debug,
    [OP_DEBUG_STOP] = op_debug,
    [OP_DEBUG_RESET] = op_debug,
    [OP_DEBUG_SNAP] = op_debug,
    [OP_DEBUG_TICK] = op_debug,
};

int engine_apply(const engine_config_t *cfg, store_t *st, arena_t *a, const request_t *req,
                 response_t *resp)
{
    ctx_t c = {.cfg = cfg, .st = st, .a = a, .now = req->now, .scope = req->scope};
    op_fn fn = (req->op >= 0 && req->op < OP__COUNT) ? ops[req->op] : NULL;
    if (!fn) {
        response_error(resp, 501, "Not implemented");
        return 0;
    }
    if (fn(&c, req, resp) != 0) {
        if (!resp->data || resp->status != 500)
            response_error(resp, 500, "Internal error: %s", store_errmsg(st));
        return -1;
    }
    return 0;
}

bool engine_is_read(op_t op)
{
    switch (op) {
    case OP_PROMISE_GET:
    case OP_PROMISE_SEARCH:
    case OP_TASK_GET:
    case OP_TASK_SEARCH:
    case OP_SCHEDULE_GET:
    case OP_SCHEDULE_SEARCH:
        return true;
    default:
        return false;
    }
}

int engine_read(const engine_config_t *cfg, store_t *st, arena_t *a, const request_t *req,
                response_t *resp)
{
    if (!engine_is_read(req->op))
        return ENGINE_READ_WRITER;
    ctx_t c = {
        .cfg = cfg, .st = st, .a = a, .now = req->now, .scope = req->scope, .read_only = true};
    /* One read transaction per request, ended before the answer is sent:
     * its snapshot is taken now, after the request arrived, so it holds
     * every commit acknowledged before (see engine.h), and no reader keeps
     * an old snapshot (which would also hold back checkpoints). */
    if (store_begin(st) != STORE_OK) {
        response_error(resp, 500, "Internal error: read transaction: %s", store_errmsg(st));
        return -1;
    }
    int rc = ops[req->op](&c, req, resp);
    if (rc != 0 && (!resp->data || resp->status != 500))
        response_error(resp, 500, "Internal error: %s", store_errmsg(st));
    store_rollback(st); /* nothing was written: ending the snapshot cannot fail usefully */
    if (rc != 0)
        return -1;
    if (c.to_writer) {
        response_clear(resp);
        return ENGINE_READ_WRITER;
    }
    return 0;
}

int engine_tick(const engine_config_t *cfg, store_t *st, arena_t *a, int64_t t, size_t limit,
                bool *more)
{
    ctx_t c = {.cfg = cfg, .st = st, .a = a, .now = t};
    size_t budget = limit ? ENGINE_TICK_MAX_BYTES : 0; /* 0: no bound */
    *more = false;

    /* Fan-outs of settlements, before new ones start (timeouts below). */
    TRY(fanout_tick(&c, limit, more));

    if (limit == 0)
        limit = (size_t)INT64_MAX;

    /* Promise timers (DECISIONS.md #1: every pending promise has one). */
    const char **ids = NULL;
    size_t n = 0, taken, start;
    TRY(store_promise_due(st, a, t, limit, &ids, &n));
    TRY(timeout_batch_within(&c, ids, n, NULL, budget, &taken, true));
    *more |= n == limit || taken < n;

    /* Task timers: retries re-dispatch, expired leases return to pending. */
    task_timer_t *tms = NULL;
    TRY(store_timer_due(st, a, t, limit, &tms, &n));
    start = arena_used(a);
    for (size_t i = 0; i < n; i++) {
        if (i && budget && arena_used(a) - start > budget) {
            *more = true;
            break;
        }
        task_t *task = NULL;
        promise_t *p = NULL;
        TRY(store_task_get(st, a, tms[i].id, &task));
        TRY(store_promise_get(st, a, tms[i].id, &p));
        if (!task || !p) {
            TRY(store_timer_delete(st, tms[i].id));
            continue;
        }
        /* The timer again, now that the task is locked: on a shared
         * database another server's request may have replaced it (an
         * acquire's lease, a heartbeat's renewal) or deleted it since
         * store_timer_due read it, and acting on the stale one would drop
         * a live lease. Only a timer still due is acted on. */
        task_timer_t *cur = NULL;
        TRY(store_timer_get(st, a, tms[i].id, &cur));
        if (!cur || cur->timeout > t)
            continue;
        if (cur->type == TIMER_RETRY && task->state == TSTATE_PENDING) {
            task_timer_t tm = {
                .id = p->id, .type = TIMER_RETRY, .timeout = time_add_sat(t, cfg->retry_timeout)};
            TRY(store_timer_set(st, &tm));
            TRY(dispatch(&c, p, task->version, 0));
        } else if (cur->type == TIMER_LEASE && task->state == TSTATE_ACQUIRED) {
            TRY(task_to_pending(&c, p, task->version));
        } else {
            TRY(store_timer_delete(st, tms[i].id));
        }
    }
    *more |= n == limit;

    /* Schedules: one firing per schedule per tick. */
    schedule_t *ss = NULL;
    bool cut;
    start = arena_used(a);
    TRY(store_schedule_due(st, a, t, limit, budget, &ss, &n, &cut));
    *more |= cut;
    for (size_t i = 0; i < n; i++) {
        if (i && budget && arena_used(a) - start > 2 * budget) {
            *more = true;
            break;
        }
        /* Again with its row lock (store_schedule_get): on a shared
         * database another server may have deleted it (or created another
         * under its id) since store_schedule_due read it. */
        schedule_t *cur = NULL;
        TRY(store_schedule_get(st, a, ss[i].id, &cur));
        if (cur && cur->next_run_at <= t)
            TRY(fire_schedule(&c, cur));
    }
    *more |= n == limit;
    return 0;
}

int engine_message(store_t *st, arena_t *a, const outbox_msg_t *m, const char *server_url,
                   char **json)
{
    json_t *msg = NULL;
    *json = NULL;
    if (m->kind == MSG_EXECUTE) {
        task_t *t = NULL;
        TRY(store_task_get(st, a, m->id, &t));
        if (!t || t->state != TSTATE_PENDING || t->version != m->version)
            return 0;
        msg = json_pack("{s:s,s:{s:s},s:{s:{s:s,s:I}}}", "kind", "execute", "head", "serverUrl",
                        server_url, "data", "task", "id", m->id, "version", (json_int_t)m->version);
    } else {
        promise_t *p = NULL;
        TRY(store_promise_get(st, a, m->id, &p));
        if (!p)
            return 0;
        msg = json_pack("{s:s,s:{},s:{s:o}}", "kind", "unblock", "head", "data", "promise",
                        wire_promise(p));
    }
    if (msg) {
        *json = wire_dump(msg);
        json_decref(msg);
    }
    return 0;
}
