/* limits.c - bounds on the sizes a caller controls inside a request; see
 * limits.h. Each operation's strings and maps are visited in the order they
 * appear in the request's data; the first one over its bound is reported. */
#include "core/limits.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const limits_t *lim;
    arena_t *a;
    const char *error; /* the first violation, NULL while none */
} lctx_t;

/* Records "<part><what> is N bytes, over the limit of M (<key>)" (or "has N
 * entries") when n > max and nothing was recorded before. */
static void over(lctx_t *l, const char *part, const char *what, size_t n, size_t max,
                 const char *key)
{
    if (l->error || !max || n <= max)
        return;
    bool count = strcmp(key, "limits.tags_max_count") == 0;
    l->error = arena_printf(l->a, "%s%s %s %zu %s, over the limit of %zu (%s)", part, what,
                            count ? "has" : "is", n, count ? "entries" : "bytes", max, key);
}

static void check_id(lctx_t *l, const char *what, const char *id)
{
    if (id)
        over(l, "", what, strlen(id), l->lim->id_max_bytes, "limits.id_max_bytes");
}

/* A tags or headers map named what ("tags", "param headers", ...). */
static void check_map(lctx_t *l, const char *what, const kvmap_t *m)
{
    const limits_t *lim = l->lim;
    over(l, "", what, m->n, lim->tags_max_count, "limits.tags_max_count");
    size_t total = 0;
    for (size_t i = 0; i < m->n && !l->error; i++) {
        size_t nk = strlen(m->items[i].key), nv = strlen(m->items[i].val);
        over(l, "A key of ", what, nk, lim->tag_key_max_bytes, "limits.tag_key_max_bytes");
        over(l, "A value of ", what, nv, lim->tag_value_max_bytes, "limits.tag_value_max_bytes");
        total += nk + nv;
    }
    over(l, "The total of ", what, total, lim->tags_max_bytes, "limits.tags_max_bytes");
}

static void check_create(lctx_t *l, const promise_create_t *c)
{
    check_id(l, "Promise ID", c->id);
    check_map(l, "param headers", &c->param.headers);
    check_map(l, "tags", &c->tags);
}

static void check_settle(lctx_t *l, const promise_settle_t *s)
{
    check_id(l, "Promise ID", s->id);
    check_map(l, "value headers", &s->value.headers);
}

/* The template as written, then expanded as it will be when the schedule
 * fires (INT64_MIN has the longest decimal form). Both inputs are already
 * within id_max_bytes, so the expansion is bounded too. */
static void check_schedule(lctx_t *l, const schedule_create_t *s)
{
    check_id(l, "Schedule ID", s->id);
    over(l, "", "Cron expression", strlen(s->cron), l->lim->cron_max_bytes,
         "limits.cron_max_bytes");
    check_id(l, "Promise ID template", s->promise_id);
    if (!l->error && l->lim->id_max_bytes) {
        const char *pid = schedule_promise_id(l->a, s->promise_id, s->id, INT64_MIN);
        over(l, "", "Promise ID template expanded", strlen(pid), l->lim->id_max_bytes,
             "limits.id_max_bytes");
    }
    check_map(l, "promiseParam headers", &s->promise_param.headers);
    check_map(l, "promiseTags", &s->promise_tags);
}

int limits_check(const limits_t *lim, arena_t *a, const request_t *r, response_t *err)
{
    lctx_t l = {.lim = lim, .a = a};
    switch (r->op) {
    case OP_PROMISE_GET:
    case OP_SCHEDULE_GET:
    case OP_SCHEDULE_DELETE:
        check_id(&l, r->op == OP_PROMISE_GET ? "Promise ID" : "Schedule ID", r->u.get.id);
        break;
    case OP_TASK_GET:
    case OP_TASK_HALT:
    case OP_TASK_CONTINUE:
        check_id(&l, "Task ID", r->u.get.id);
        break;
    case OP_PROMISE_CREATE:
        check_create(&l, &r->u.promise_create);
        break;
    case OP_PROMISE_SETTLE:
        check_settle(&l, &r->u.promise_settle);
        break;
    case OP_PROMISE_REGISTER_CALLBACK:
        check_id(&l, "Awaited promise ID", r->u.callback.awaited);
        check_id(&l, "Awaiter promise ID", r->u.callback.awaiter);
        break;
    case OP_PROMISE_REGISTER_LISTENER:
        check_id(&l, "Awaited promise ID", r->u.listener.awaited);
        check_id(&l, "Address", r->u.listener.address);
        break;
    case OP_PROMISE_SEARCH:
    case OP_TASK_SEARCH:
    case OP_SCHEDULE_SEARCH:
        check_id(&l, "Cursor", r->u.search.cursor);
        check_map(&l, "the tags filter", &r->u.search.tags);
        break;
    case OP_TASK_CREATE:
        check_id(&l, "Process ID", r->u.task_create.pid);
        check_create(&l, &r->u.task_create.action);
        break;
    case OP_TASK_ACQUIRE:
        check_id(&l, "Task ID", r->u.task_acquire.id);
        check_id(&l, "Process ID", r->u.task_acquire.pid);
        break;
    case OP_TASK_RELEASE:
        check_id(&l, "Task ID", r->u.task_release.id);
        break;
    case OP_TASK_FULFILL:
        check_id(&l, "Task ID", r->u.task_fulfill.id);
        check_settle(&l, &r->u.task_fulfill.action);
        break;
    case OP_TASK_SUSPEND:
        check_id(&l, "Task ID", r->u.task_suspend.id);
        for (size_t i = 0; i < r->u.task_suspend.n_awaited; i++)
            check_id(&l, "Awaited promise ID", r->u.task_suspend.awaited[i]);
        break;
    case OP_TASK_FENCE:
        check_id(&l, "Task ID", r->u.task_fence.id);
        if (r->u.task_fence.is_create)
            check_create(&l, &r->u.task_fence.create);
        else
            check_settle(&l, &r->u.task_fence.settle);
        break;
    case OP_TASK_HEARTBEAT:
        check_id(&l, "Process ID", r->u.task_heartbeat.pid);
        for (size_t i = 0; i < r->u.task_heartbeat.n_tasks; i++)
            check_id(&l, "Task ID", r->u.task_heartbeat.tasks[i].id);
        break;
    case OP_SCHEDULE_CREATE:
        check_schedule(&l, &r->u.schedule_create);
        break;
    default: /* debug.* and unknown kinds carry nothing stored */
        break;
    }
    if (!l.error)
        return 0;
    response_set(err, 400, json_string(l.error));
    return -1;
}
