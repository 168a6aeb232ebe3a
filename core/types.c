/* types.c - names of operations and states, the id lineage rules and the
 * expansion of schedule promise id templates. */
#include "core/types.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const op_names[OP__COUNT] = {
    [OP_PROMISE_GET] = "promise.get",
    [OP_PROMISE_CREATE] = "promise.create",
    [OP_PROMISE_SETTLE] = "promise.settle",
    [OP_PROMISE_REGISTER_CALLBACK] = "promise.register_callback",
    [OP_PROMISE_REGISTER_LISTENER] = "promise.register_listener",
    [OP_PROMISE_SEARCH] = "promise.search",
    [OP_TASK_GET] = "task.get",
    [OP_TASK_CREATE] = "task.create",
    [OP_TASK_ACQUIRE] = "task.acquire",
    [OP_TASK_RELEASE] = "task.release",
    [OP_TASK_FULFILL] = "task.fulfill",
    [OP_TASK_SUSPEND] = "task.suspend",
    [OP_TASK_FENCE] = "task.fence",
    [OP_TASK_HEARTBEAT] = "task.heartbeat",
    [OP_TASK_HALT] = "task.halt",
    [OP_TASK_CONTINUE] = "task.continue",
    [OP_TASK_SEARCH] = "task.search",
    [OP_SCHEDULE_GET] = "schedule.get",
    [OP_SCHEDULE_CREATE] = "schedule.create",
    [OP_SCHEDULE_DELETE] = "schedule.delete",
    [OP_SCHEDULE_SEARCH] = "schedule.search",
    [OP_DEBUG_START] = "debug.start",
    [OP_DEBUG_STOP] = "debug.stop",
    [OP_DEBUG_RESET] = "debug.reset",
    [OP_DEBUG_SNAP] = "debug.snap",
    [OP_DEBUG_TICK] = "debug.tick",
};

const char *op_name(op_t op)
{
    return (op >= 0 && op < OP__COUNT) ? op_names[op] : NULL;
}

op_t op_from_name(const char *name)
{
    for (int i = 0; i < OP__COUNT; i++)
        if (strcmp(op_names[i], name) == 0)
            return (op_t)i;
    return OP_UNKNOWN;
}

bool op_is_debug(op_t op)
{
    return op >= OP_DEBUG_START && op <= OP_DEBUG_TICK;
}

static const char *const pstate_names[] = {"pending", "resolved", "rejected", "rejected_canceled",
                                           "rejected_timedout"};
static const char *const tstate_names[] = {"pending", "acquired", "suspended", "halted",
                                           "fulfilled"};

const char *pstate_name(pstate_t s)
{
    return pstate_names[s];
}

const char *tstate_name(tstate_t s)
{
    return tstate_names[s];
}

static int parse_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

int pstate_parse(const char *s)
{
    return parse_name(pstate_names, 5, s);
}

int tstate_parse(const char *s)
{
    return parse_name(tstate_names, 5, s);
}

const char *kvmap_get(const kvmap_t *m, const char *key)
{
    /* Maps are sorted by key; binary search. */
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->items[mid].key, key);
        if (c == 0)
            return m->items[mid].val;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Length of the origin of id under the rule that splits at sep. */
static size_t origin_len(const char *id, char sep)
{
    const char *p = strchr(id, sep);
    return p ? (size_t)(p - id) : strlen(id);
}

bool ids_same_origin(const char *a, const char *b)
{
    static const char seps[] = {':', '.'};
    for (size_t i = 0; i < sizeof seps; i++) {
        size_t la = origin_len(a, seps[i]), lb = origin_len(b, seps[i]);
        if (la == lb && memcmp(a, b, la) == 0)
            return true;
    }
    return false;
}

bool ids_extends(const char *id, const char *base)
{
    size_t n = strlen(base);
    if (strncmp(id, base, n) != 0)
        return false;
    return id[n] == '\0' || id[n] == ':' || id[n] == '.';
}

/* The list {x, y} allocated from a. */
static size_t two_ids(arena_t *a, const char *x, const char *y, const char *const **ids)
{
    const char **list = arena_alloc(a, 2 * sizeof *list);
    list[0] = x;
    list[1] = y;
    *ids = list;
    return 2;
}

/* Replaces every occurrence of pat in s by rep, left to right (arena). */
static const char *replace_all(arena_t *a, const char *s, const char *pat, const char *rep)
{
    size_t np = strlen(pat), nr = strlen(rep), count = 0;
    for (const char *p = strstr(s, pat); p; p = strstr(p + np, pat))
        count++;
    if (!count)
        return s;
    char *out = arena_alloc(a, strlen(s) + count * nr + 1 - count * np);
    char *w = out;
    for (const char *p = strstr(s, pat); p; p = strstr(s, pat)) {
        memcpy(w, s, (size_t)(p - s));
        w += p - s;
        memcpy(w, rep, nr);
        w += nr;
        s = p + np;
    }
    strcpy(w, s);
    return out;
}

const char *schedule_promise_id(arena_t *a, const char *tpl, const char *schedule_id, int64_t t)
{
    char ts[32];
    snprintf(ts, sizeof ts, "%" PRId64, t);
    return replace_all(a, replace_all(a, tpl, "{{.id}}", schedule_id), "{{.timestamp}}", ts);
}

/* Writes into out the first cap bytes (at most) of s with every pat
 * replaced by rep, left to right as replace_all does, reading s only as far
 * as that needs; returns the bytes written (no NUL). */
static size_t replace_head(const char *s, const char *pat, const char *rep, char *out, size_t cap)
{
    size_t np = strlen(pat), nr = strlen(rep), w = 0;
    while (w < cap && *s) {
        if (strncmp(s, pat, np) == 0) {
            size_t k = nr < cap - w ? nr : cap - w;
            memcpy(out + w, rep, k);
            w += k;
            s += np;
        } else {
            out[w++] = *s++;
        }
    }
    return w;
}

const char *schedule_promise_id_head(arena_t *a, const char *tpl, const char *schedule_id,
                                     int64_t t)
{
    char ts[32];
    snprintf(ts, sizeof ts, "%" PRId64, t);
    /* Each {{.timestamp}} (14 bytes) of the first pass's output gives at
     * least one byte of the second's, and one may straddle the end. */
    size_t cap1 = 14 * SCHEDULE_ID_HEAD + 14;
    char *mid = arena_alloc(a, cap1 + 1);
    mid[replace_head(tpl, "{{.id}}", schedule_id, mid, cap1)] = '\0';
    char *out = arena_alloc(a, SCHEDULE_ID_HEAD + 1);
    out[replace_head(mid, "{{.timestamp}}", ts, out, SCHEDULE_ID_HEAD)] = '\0';
    return out;
}

size_t request_resource_ids(const request_t *r, arena_t *a, const char *const **ids)
{
    *ids = NULL;
    switch (r->op) {
    case OP_TASK_HEARTBEAT: {
        /* Every listed task; an empty list names none (request_is_scoped). */
        size_t n = r->u.task_heartbeat.n_tasks;
        const char **list = arena_alloc(a, (n ? n : 1) * sizeof *list);
        for (size_t i = 0; i < n; i++)
            list[i] = r->u.task_heartbeat.tasks[i].id;
        *ids = list;
        return n;
    }
    case OP_PROMISE_GET:
    case OP_TASK_GET:
    case OP_TASK_HALT:
    case OP_TASK_CONTINUE:
    case OP_SCHEDULE_GET:
    case OP_SCHEDULE_DELETE:
        *ids = &r->u.get.id;
        return 1;
    case OP_PROMISE_CREATE:
        *ids = &r->u.promise_create.id;
        return 1;
    case OP_PROMISE_SETTLE:
        *ids = &r->u.promise_settle.id;
        return 1;
    case OP_PROMISE_REGISTER_CALLBACK:
        /* Stricter than the reference (awaited only): the awaiter's task is
         * the one a settlement resumes. */
        return two_ids(a, r->u.callback.awaited, r->u.callback.awaiter, ids);
    case OP_PROMISE_REGISTER_LISTENER:
        *ids = &r->u.listener.awaited;
        return 1;
    case OP_TASK_CREATE:
        *ids = &r->u.task_create.action.id;
        return 1;
    case OP_TASK_ACQUIRE:
        *ids = &r->u.task_acquire.id;
        return 1;
    case OP_TASK_RELEASE:
        *ids = &r->u.task_release.id;
        return 1;
    case OP_TASK_FULFILL:
        return two_ids(a, r->u.task_fulfill.id, r->u.task_fulfill.action.id, ids);
    case OP_TASK_SUSPEND: {
        /* Stricter than the reference, which checks only data.id: a task
         * may not wait on promises outside the token's prefix either. */
        size_t n = r->u.task_suspend.n_awaited;
        const char **list = arena_alloc(a, (n + 1) * sizeof *list);
        list[0] = r->u.task_suspend.id;
        for (size_t i = 0; i < n; i++)
            list[i + 1] = r->u.task_suspend.awaited[i];
        *ids = list;
        return n + 1;
    }
    case OP_TASK_FENCE: {
        /* Stricter than the reference: the fenced create/settle must also
         * stay inside the prefix, or a token could reach other tenants'
         * promises through a task it holds. */
        const task_fence_t *f = &r->u.task_fence;
        const char *inner = f->is_create ? f->create.id : f->settle.id;
        if (!inner) { /* not decoded: the request is answered 400 later */
            *ids = &f->id;
            return 1;
        }
        return two_ids(a, f->id, inner, ids);
    }
    case OP_SCHEDULE_CREATE: {
        /* The schedule's name (a create of an existing name answers that
         * schedule), the template of the promises it will create, and the
         * start of that template filled in at times 0 and 1: a placeholder
         * that overlaps the prefix ("{{" or "x{" as a prefix) passes as
         * written but not filled in, and where a timestamp's digits fall
         * inside the prefix the two differ there, so one of them fails.
         * Otherwise the prefix comes before every timestamp, and every
         * promise the schedule creates starts with it. */
        const schedule_create_t *s = &r->u.schedule_create;
        if (!s->id || !s->promise_id)
            return two_ids(a, s->id, s->promise_id, ids);
        const char **list = arena_alloc(a, 4 * sizeof *list);
        list[0] = s->id;
        list[1] = s->promise_id;
        list[2] = schedule_promise_id_head(a, s->promise_id, s->id, 0);
        list[3] = schedule_promise_id_head(a, s->promise_id, s->id, 1);
        *ids = list;
        return 4;
    }
    default:
        return 0;
    }
}

bool request_is_scoped(const request_t *r)
{
    switch (r->op) {
    case OP_PROMISE_SEARCH:
    case OP_TASK_SEARCH:
    case OP_SCHEDULE_SEARCH:
        return true;
    case OP_TASK_HEARTBEAT:
        return r->u.task_heartbeat.n_tasks == 0;
    default:
        return false;
    }
}

bool id_in_scope(const char *id, const char *scope)
{
    return !scope || strncmp(id, scope, strlen(scope)) == 0;
}

const char *request_address(const request_t *r)
{
    static const char target[] = "resonate:target";
    switch (r->op) {
    case OP_PROMISE_CREATE:
        return kvmap_get(&r->u.promise_create.tags, target);
    case OP_TASK_CREATE:
        return kvmap_get(&r->u.task_create.action.tags, target);
    case OP_TASK_FENCE:
        return r->u.task_fence.is_create ? kvmap_get(&r->u.task_fence.create.tags, target) : NULL;
    case OP_SCHEDULE_CREATE:
        return kvmap_get(&r->u.schedule_create.promise_tags, target);
    case OP_PROMISE_REGISTER_LISTENER:
        return r->u.listener.address;
    default:
        return NULL;
    }
}
