/* types.h - the protocol's typed vocabulary.
 *
 * Requests are decoded from JSON exactly once, at the edge (core/decode.c),
 * into the structs below; the engine and the store only ever see these. All
 * strings are NUL-terminated UTF-8 (embedded NULs are rejected while
 * decoding) and, unless a function says otherwise, owned by the request's
 * arena. Timestamps are Unix milliseconds. */
#ifndef RESONATE_TYPES_H
#define RESONATE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

#define PROTOCOL_VERSION "2026-04-01"

/* The largest duration a request may carry (task ttl, schedule
 * promiseTimeout) and the largest resonate:delay: 2^53 - 1 ms, JavaScript's
 * Number.MAX_SAFE_INTEGER (about 285,000 years), so every value an SDK can
 * express exactly is accepted and adding one to any real clock reading
 * cannot overflow. timeoutAt, an absolute deadline that is only compared, is
 * not bounded (the SDK sends now + timeout for any timeout it is given). */
#define TIME_MAX_MS INT64_C(9007199254740991)

/* a + b clamped to [INT64_MIN, INT64_MAX] instead of overflowing (signed
 * overflow is undefined behaviour, and wraps to a past time in practice).
 * Every sum of times (now + ttl, delay + retry timeout, firing time +
 * promiseTimeout, back-off) goes through it: a saturated time means
 * "never". */
static inline int64_t time_add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* A string-to-string map (tags, headers), sorted by key, keys unique. */
typedef struct {
    const char *key;
    const char *val;
} kv_t;

typedef struct {
    kv_t *items;
    size_t n;
} kvmap_t;

/* Returns the value for key, or NULL when absent. */
const char *kvmap_get(const kvmap_t *m, const char *key);

/* A promise's param or value: both members optional. */
typedef struct {
    bool has_headers;
    kvmap_t headers;
    const char *data; /* NULL = absent */
} pvalue_t;

typedef enum {
    PSTATE_PENDING,
    PSTATE_RESOLVED,
    PSTATE_REJECTED,
    PSTATE_REJECTED_CANCELED,
    PSTATE_REJECTED_TIMEDOUT,
} pstate_t;

typedef struct {
    const char *id;
    pstate_t state;
    pvalue_t param;
    pvalue_t value;
    kvmap_t tags;
    int64_t timeout_at;
    int64_t created_at;
    bool has_settled_at;
    int64_t settled_at;
} promise_t;

typedef enum {
    TSTATE_PENDING,
    TSTATE_ACQUIRED,
    TSTATE_SUSPENDED,
    TSTATE_HALTED,
    TSTATE_FULFILLED,
} tstate_t;

typedef struct {
    const char *id;
    tstate_t state;
    int64_t version;
    int64_t resumes; /* ready callbacks whose awaiter is this task */
    bool has_lease;  /* ttl and pid valid only while acquired */
    int64_t ttl;
    const char *pid;
} task_t;

typedef struct {
    const char *id;
    const char *cron;
    const char *promise_id; /* template: {{.id}}, {{.timestamp}} */
    int64_t promise_timeout;
    pvalue_t promise_param;
    kvmap_t promise_tags;
    int64_t created_at;
    int64_t next_run_at;
    bool has_last_run_at;
    int64_t last_run_at;
} schedule_t;

/* ---- operations ---------------------------------------------------------- */

typedef enum {
    OP_PROMISE_GET,
    OP_PROMISE_CREATE,
    OP_PROMISE_SETTLE,
    OP_PROMISE_REGISTER_CALLBACK,
    OP_PROMISE_REGISTER_LISTENER,
    OP_PROMISE_SEARCH,
    OP_TASK_GET,
    OP_TASK_CREATE,
    OP_TASK_ACQUIRE,
    OP_TASK_RELEASE,
    OP_TASK_FULFILL,
    OP_TASK_SUSPEND,
    OP_TASK_FENCE,
    OP_TASK_HEARTBEAT,
    OP_TASK_HALT,
    OP_TASK_CONTINUE,
    OP_TASK_SEARCH,
    OP_SCHEDULE_GET,
    OP_SCHEDULE_CREATE,
    OP_SCHEDULE_DELETE,
    OP_SCHEDULE_SEARCH,
    OP_DEBUG_START,
    OP_DEBUG_STOP,
    OP_DEBUG_RESET,
    OP_DEBUG_SNAP,
    OP_DEBUG_TICK,
    OP_UNKNOWN,
    OP__COUNT = OP_UNKNOWN,
} op_t;

/* The wire name of op ("promise.get"), or NULL for OP_UNKNOWN. */
const char *op_name(op_t op);

/* The op for a wire name, OP_UNKNOWN when there is none. */
op_t op_from_name(const char *name);

/* True for the debug.* operations. */
bool op_is_debug(op_t op);

typedef struct {
    const char *id;
    int64_t timeout_at;
    pvalue_t param;
    kvmap_t tags;
} promise_create_t;

typedef struct {
    const char *id;
    pstate_t state; /* resolved, rejected or rejected_canceled */
    pvalue_t value;
} promise_settle_t;

typedef struct {
    const char *awaited;
    const char *awaiter;
} callback_req_t;

typedef struct {
    bool has_state;
    int state;    /* pstate_t or tstate_t, per the operation */
    kvmap_t tags; /* empty = no filter (promise/schedule search only) */
    int64_t limit;
    const char *cursor; /* NULL = from the start */
    /* Only ids starting with id_prefix (byte-wise), NULL or "" = every id:
     * the scope of a prefixed token (DECISIONS #15). Set by the engine from
     * request_t.scope, never decoded from the wire. */
    const char *id_prefix;
} search_req_t;

typedef struct {
    const char *id;
    int64_t version;
} task_ref_t;

typedef struct {
    const char *id;
    int64_t version;
    /* The fenced action: exactly one of create/settle, per is_create. */
    bool is_create;
    const char *action_kind;
    promise_create_t create;
    promise_settle_t settle;
} task_fence_t;

typedef struct {
    const char *id;
    const char *cron;
    const char *promise_id;
    int64_t promise_timeout;
    pvalue_t promise_param;
    kvmap_t promise_tags;
} schedule_create_t;

typedef struct request {
    op_t op;
    const char *kind;    /* verbatim, echoed in the response */
    const char *corr_id; /* verbatim, echoed in the response */
    const char *token;   /* bearer token, NULL when none was sent */
    bool has_debug_time;
    int64_t debug_time;
    int64_t now; /* effective time, set by the server before dispatch */
    /* The prefix of the caller's token when it is limited to one (not admin,
     * prefix not ""), else NULL. Set by the front end once the request is
     * authorized; the engine limits the kinds that name no id to it (see
     * request_is_scoped). Not owned. */
    const char *scope;
    union {
        struct {
            const char *id;
        } get; /* promise/task/schedule get, delete, halt, continue */
        promise_create_t promise_create;
        promise_settle_t promise_settle;
        callback_req_t callback; /* register_callback */
        struct {
            const char *awaited, *address;
        } listener;
        search_req_t search; /* promise/task/schedule search */
        struct {
            const char *pid;
            int64_t ttl;
            promise_create_t action;
        } task_create;
        struct {
            const char *id;
            int64_t version;
            const char *pid;
            int64_t ttl;
        } task_acquire;
        task_ref_t task_release;
        struct {
            const char *id;
            int64_t version;
            promise_settle_t action;
        } task_fulfill;
        struct {
            const char *id;
            int64_t version;
            const char **awaited;
            size_t n_awaited;
        } task_suspend;
        task_fence_t task_fence;
        struct {
            const char *pid;
            task_ref_t *tasks;
            size_t n_tasks;
        } task_heartbeat;
        schedule_create_t schedule_create;
        struct {
            int64_t time;
        } tick;
    } u;
} request_t;

/* The resource ids an operation reads or changes, for prefix authorization
 * (docs/security.md has the table): data.id for most kinds; awaited AND
 * awaiter of register_callback; awaited of register_listener;
 * action.data.id of task.create; id and action.data.id of task.fulfill;
 * the schedule id AND the promiseId template of schedule.create; every
 * task id of a heartbeat; a suspend's id and awaited ids; a fence's id and
 * its inner promise id (when the inner action was decoded). Searches, an
 * empty heartbeat, debug kinds and unknown kinds name none. Meant to run on
 * a request that is only structurally decoded: an id field not decoded yet
 * is NULL (and a NULL id never passes a prefix check). *ids points into the
 * request or into a list allocated from a; returns the count. */
size_t request_resource_ids(const struct request *r, arena_t *a, const char *const **ids);

/* True when r names no resource id but a prefixed token may still send it,
 * the engine limiting it to request_t.scope: the three searches
 * (DECISIONS #15) and a heartbeat with no task (DECISIONS #2). */
bool request_is_scoped(const struct request *r);

/* True when id is inside scope: scope NULL, or id starts with it
 * (byte-wise, as every prefix check). */
bool id_in_scope(const char *id, const char *scope);

/* The id of the promise a schedule creates when it fires at time t: tpl
 * with every {{.id}} replaced by schedule_id, then every {{.timestamp}} by t
 * in decimal (arena-allocated; tpl itself when there is nothing to
 * replace). */
const char *schedule_promise_id(arena_t *a, const char *tpl, const char *schedule_id, int64_t t);

/* Bytes of a filled-in template that schedule_promise_id_head gives: more
 * than any prefix claim (AUTH_PREFIX_MAX, asserted in server/http.c). */
#define SCHEDULE_ID_HEAD 256

/* The first SCHEDULE_ID_HEAD bytes (at most) of schedule_promise_id(tpl,
 * schedule_id, t), without filling in the rest: it stops once 14 times that
 * many bytes of the first pass ({{.id}}) are written, or at the end of tpl,
 * however large the whole would be (a template of 2 MiB of {{.id}} with an
 * id of 1 MiB fills in to terabytes); linear in tpl's length at worst.
 * Arena-allocated. */
const char *schedule_promise_id_head(arena_t *a, const char *tpl, const char *schedule_id,
                                     int64_t t);

/* The message address an operation asks the server to deliver to, for the
 * push allow list (transports.http_push.allow): the resonate:target tag of
 * promise.create, of task.create's action, of a fenced create and of
 * schedule.create's promiseTags, or register_listener's address. NULL when
 * the operation names none (no kind names more than one). */
const char *request_address(const struct request *r);

/* Names of states on the wire ("pending", "rejected_canceled", ...). */
const char *pstate_name(pstate_t s);
const char *tstate_name(tstate_t s);
/* Parse a state name; returns -1 when unknown. */
int pstate_parse(const char *s);
int tstate_parse(const char *s);

/* Origin of an id for the callback/suspend/heartbeat same-origin rules and
 * a create's resonate:parent (DECISIONS #3 and #14: two ids share an origin
 * when they agree under either the ':' or the '.' rule). */
bool ids_same_origin(const char *a, const char *b);

/* True when id equals base or extends it with ':' or '.' (DECISIONS #3). */
bool ids_extends(const char *id, const char *base);

#endif
