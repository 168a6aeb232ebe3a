/* test_engine.c - the protocol state machine, run against an in-memory
 * SQLite store. Requests are built directly as typed structs (decoding has
 * its own suite); outcomes are read back through responses and debug.snap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/engine.h"
#include "store/sqlite.h"
#include "tests/unit/fake_store.h"
#include "tests/unit/unit.h"

typedef struct {
    store_t *st;
    arena_t *a;
    engine_config_t cfg;
    response_t resp;
} fx_t;

static fx_t fx;

static void setup_mem_store(void)
{
    char err[256];
    fx.st = store_sqlite_open(":memory:", err, sizeof err);
    ck_assert_msg(fx.st != NULL, "open: %s", err);
}

static void setup(void)
{
    setup_mem_store();
    fx.a = arena_new();
    fx.cfg.retry_timeout = 30000;
    memset(&fx.resp, 0, sizeof fx.resp);
}

static void teardown(void)
{
    response_clear(&fx.resp);
    arena_free(fx.a);
    store_close(fx.st);
}

/* Runs req at time now in its own transaction; returns the status. */
static int run(request_t *req, int64_t now)
{
    req->now = now;
    response_clear(&fx.resp);
    ck_assert_int_eq(store_begin(fx.st), STORE_OK);
    int rc = engine_apply(&fx.cfg, fx.st, fx.a, req, &fx.resp);
    ck_assert_int_eq(rc, 0);
    response_json(&fx.resp); /* the tests read the tree of a typed answer */
    ck_assert_int_eq(store_commit(fx.st), STORE_OK);
    return fx.resp.status;
}

static kvmap_t tags1(const char *k, const char *v)
{
    kvmap_t m = {.items = arena_alloc(fx.a, sizeof(kv_t)), .n = 1};
    m.items[0] = (kv_t){k, v};
    return m;
}

static kvmap_t no_tags(void)
{
    return (kvmap_t){0};
}

static int create(const char *id, int64_t timeout_at, kvmap_t tags, int64_t now)
{
    request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
    r.u.promise_create = (promise_create_t){.id = id, .timeout_at = timeout_at, .tags = tags};
    return run(&r, now);
}

static int settle(const char *id, pstate_t state, const char *data, int64_t now)
{
    request_t r = {.op = OP_PROMISE_SETTLE, .corr_id = "c"};
    r.u.promise_settle = (promise_settle_t){.id = id, .state = state, .value = {.data = data}};
    return run(&r, now);
}

static int get(const char *id, int64_t now)
{
    request_t r = {.op = OP_PROMISE_GET, .corr_id = "c"};
    r.u.get.id = id;
    return run(&r, now);
}

static int tick(int64_t t)
{
    request_t r = {.op = OP_DEBUG_TICK, .corr_id = "c"};
    r.u.tick.time = t;
    return run(&r, t);
}

static json_t *snap(void)
{
    request_t r = {.op = OP_DEBUG_SNAP, .corr_id = "c"};
    ck_assert_int_eq(run(&r, 0), 200);
    return fx.resp.data;
}

/* The promise record of the last response. */
static json_t *last_promise(void)
{
    return json_object_get(fx.resp.data, "promise");
}

static const char *str_at(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_int_t int_at(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

START_TEST(create_new_promise_is_pending_with_created_at_now)
{
    ck_assert_int_eq(create("p", 5000, no_tags(), 1000), 200);
    json_t *p = last_promise();
    ck_assert_str_eq(str_at(p, "state"), "pending");
    ck_assert_int_eq(int_at(p, "createdAt"), 1000);
    ck_assert_int_eq(int_at(p, "timeoutAt"), 5000);
    ck_assert_ptr_null(json_object_get(p, "settledAt"));
}
END_TEST

START_TEST(create_of_existing_id_returns_stored_record_unchanged)
{
    create("p", 5000, no_tags(), 1000);
    ck_assert_int_eq(create("p", 9000, tags1("x", "y"), 2000), 200);
    json_t *p = last_promise();
    ck_assert_int_eq(int_at(p, "timeoutAt"), 5000);
    ck_assert_int_eq(int_at(p, "createdAt"), 1000);
    ck_assert_int_eq(json_object_size(json_object_get(p, "tags")), 0);
}
END_TEST

START_TEST(create_past_deadline_is_born_timed_out_with_created_at_timeout)
{
    ck_assert_int_eq(create("p", 500, no_tags(), 1000), 200);
    json_t *p = last_promise();
    ck_assert_str_eq(str_at(p, "state"), "rejected_timedout");
    ck_assert_int_eq(int_at(p, "createdAt"), 500);
    ck_assert_int_eq(int_at(p, "settledAt"), 500);
    ck_assert_int_eq(create("t", 500, tags1("resonate:timer", "true"), 1000), 200);
    ck_assert_str_eq(str_at(last_promise(), "state"), "resolved");
}
END_TEST

START_TEST(create_with_target_makes_pending_task_retry_timer_and_execute)
{
    create("p", 100000, tags1("resonate:target", "poll://any@g"), 1000);
    json_t *s = snap();
    json_t *tasks = json_object_get(s, "tasks");
    ck_assert_int_eq(json_array_size(tasks), 1);
    ck_assert_str_eq(str_at(json_array_get(tasks, 0), "state"), "pending");
    ck_assert_int_eq(int_at(json_array_get(tasks, 0), "version"), 0);
    json_t *tt = json_array_get(json_object_get(s, "taskTimeouts"), 0);
    ck_assert_int_eq(int_at(tt, "timeout"), 31000);
    ck_assert_int_eq(int_at(tt, "type"), 0);
    json_t *m = json_array_get(json_object_get(s, "messages"), 0);
    ck_assert_str_eq(str_at(m, "address"), "poll://any@g");
    ck_assert_str_eq(str_at(json_object_get(m, "message"), "kind"), "execute");
}
END_TEST

START_TEST(settle_pending_sets_state_value_and_settled_at_now)
{
    create("p", 5000, no_tags(), 1000);
    ck_assert_int_eq(settle("p", PSTATE_RESOLVED, "aGk=", 2000), 200);
    json_t *p = last_promise();
    ck_assert_str_eq(str_at(p, "state"), "resolved");
    ck_assert_int_eq(int_at(p, "settledAt"), 2000);
    ck_assert_str_eq(str_at(json_object_get(p, "value"), "data"), "aGk=");
}
END_TEST

START_TEST(settle_of_settled_promise_returns_it_unchanged)
{
    create("p", 5000, no_tags(), 1000);
    settle("p", PSTATE_REJECTED, NULL, 2000);
    ck_assert_int_eq(settle("p", PSTATE_RESOLVED, "eA==", 3000), 200);
    json_t *p = last_promise();
    ck_assert_str_eq(str_at(p, "state"), "rejected");
    ck_assert_int_eq(int_at(p, "settledAt"), 2000);
}
END_TEST

START_TEST(get_and_settle_of_missing_promise_are_404)
{
    ck_assert_int_eq(get("nope", 1000), 404);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Promise not found");
    ck_assert_int_eq(settle("nope", PSTATE_RESOLVED, NULL, 1000), 404);
}
END_TEST

START_TEST(get_after_deadline_times_out_lazily_with_settled_at_timeout)
{
    create("p", 5000, no_tags(), 1000);
    ck_assert_int_eq(get("p", 7000), 200);
    ck_assert_str_eq(str_at(last_promise(), "state"), "rejected_timedout");
    ck_assert_int_eq(int_at(last_promise(), "settledAt"), 5000);
}
END_TEST

START_TEST(tick_settles_every_due_promise_timer_or_not)
{
    create("sleep", 5000, tags1("resonate:timer", "true"), 1000);
    create("plain", 5000, no_tags(), 1000);
    create("later", 9000, no_tags(), 1000);
    ck_assert_int_eq(tick(6000), 200);
    ck_assert(json_is_array(fx.resp.data));
    json_t *ps = json_object_get(snap(), "promises");
    ck_assert_str_eq(str_at(json_array_get(ps, 0), "state"), "pending"); /* later */
    ck_assert_str_eq(str_at(json_array_get(ps, 1), "state"), "rejected_timedout");
    ck_assert_str_eq(str_at(json_array_get(ps, 2), "state"), "resolved");
}
END_TEST

START_TEST(register_callback_reports_missing_awaited_awaiter_and_target)
{
    request_t r = {.op = OP_PROMISE_REGISTER_CALLBACK, .corr_id = "c"};
    r.u.callback = (callback_req_t){.awaited = "a:1", .awaiter = "a"};
    ck_assert_int_eq(run(&r, 1000), 404);
    create("a:1", 9000, no_tags(), 1000);
    ck_assert_int_eq(run(&r, 1000), 422);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Awaiter promise not found");
    create("a", 9000, no_tags(), 1000);
    ck_assert_int_eq(run(&r, 1000), 422);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Awaiter promise has no resonate:target tag");
}
END_TEST

START_TEST(listener_gets_unblock_message_when_promise_settles)
{
    create("p", 9000, no_tags(), 1000);
    request_t r = {.op = OP_PROMISE_REGISTER_LISTENER, .corr_id = "c"};
    r.u.listener.awaited = "p";
    r.u.listener.address = "poll://uni@g/w1";
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_int_eq(json_array_size(json_object_get(snap(), "listeners")), 1);
    settle("p", PSTATE_RESOLVED, NULL, 2000);
    json_t *s = snap();
    ck_assert_int_eq(json_array_size(json_object_get(s, "listeners")), 0);
    json_t *m = json_array_get(json_object_get(s, "messages"), 0);
    ck_assert_str_eq(str_at(json_object_get(m, "message"), "kind"), "unblock");
    ck_assert_str_eq(str_at(m, "address"), "poll://uni@g/w1");
}
END_TEST

static int register_listener(const char *awaited, const char *address, int64_t now)
{
    request_t r = {.op = OP_PROMISE_REGISTER_LISTENER, .corr_id = "c"};
    r.u.listener.awaited = awaited;
    r.u.listener.address = address;
    return run(&r, now);
}

/* Registers listeners poll://uni@g/<from> .. <to - 1> on awaited at 1000:
 * each must be answered 200. */
static void register_numbered_listeners(const char *awaited, int from, int to)
{
    char addr[32];
    for (int i = from; i < to; i++) {
        snprintf(addr, sizeof addr, "poll://uni@g/%d", i);
        ck_assert_int_eq(register_listener(awaited, addr, 1000), 200);
    }
}

static size_t n_listeners(void)
{
    return json_array_size(json_object_get(snap(), "listeners"));
}

#define LIMIT_TEXT(id, n)                                                                          \
    "Promise '" id "' already has " n " listeners, the limit of limits.listeners_per_promise: "    \
    "settle it, or retry once it has settled, or raise the limit"

START_TEST(register_listener_past_the_limit_is_429_naming_it_and_stores_nothing)
{
    fx.cfg.listeners_per_promise = 3;
    create("p", 9000, no_tags(), 1000);
    create("q", 9000, no_tags(), 1000);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/a", 1000), 200);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/b", 1000), 200);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/c", 1000), 200);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/d", 1000), 429);
    ck_assert_str_eq(json_string_value(fx.resp.data), LIMIT_TEXT("p", "3"));
    ck_assert_int_eq(n_listeners(), 3);
    /* the bound is per promise */
    ck_assert_int_eq(register_listener("q", "poll://uni@g/d", 1000), 200);
    settle("p", PSTATE_RESOLVED, NULL, 2000);
    json_t *msgs = json_object_get(snap(), "messages");
    ck_assert_int_eq(json_array_size(msgs), 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_ne(str_at(json_array_get(msgs, i), "address"), "poll://uni@g/d");
}
END_TEST

START_TEST(re_registering_a_stored_listener_at_or_past_the_limit_stays_200)
{
    fx.cfg.listeners_per_promise = 2;
    create("p", 9000, no_tags(), 1000);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/a", 1000), 200);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/b", 1000), 200);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/a", 1000), 200);
    ck_assert_str_eq(str_at(last_promise(), "state"), "pending");
    /* a limit lowered below what a promise already holds (a restart with a
     * smaller setting) refuses only new pairs */
    fx.cfg.listeners_per_promise = 1;
    ck_assert_int_eq(register_listener("p", "poll://uni@g/b", 1000), 200);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/c", 1000), 429);
    ck_assert_str_eq(json_string_value(fx.resp.data), LIMIT_TEXT("p", "1"));
    ck_assert_int_eq(n_listeners(), 2);
}
END_TEST

START_TEST(register_listener_on_a_settled_promise_answers_it_whatever_the_limit)
{
    fx.cfg.listeners_per_promise = 1;
    create("p", 9000, no_tags(), 1000);
    create("t", 5000, no_tags(), 1000);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/a", 1000), 200);
    ck_assert_int_eq(register_listener("t", "poll://uni@g/a", 1000), 200);
    settle("p", PSTATE_RESOLVED, NULL, 2000);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/b", 3000), 200);
    ck_assert_str_eq(str_at(last_promise(), "state"), "resolved");
    /* t is at its limit and past its deadline: the lazy timeout settles it,
     * and the answer is the timed-out record, not a refusal */
    ck_assert_int_eq(register_listener("t", "poll://uni@g/b", 6000), 200);
    ck_assert_str_eq(str_at(last_promise(), "state"), "rejected_timedout");
    ck_assert_int_eq(n_listeners(), 0);
    ck_assert_int_eq(json_array_size(json_object_get(snap(), "messages")), 2);
}
END_TEST

START_TEST(listeners_per_promise_0_lifts_the_bound)
{
    fx.cfg.listeners_per_promise = 3;
    create("p", 9000, no_tags(), 1000);
    register_numbered_listeners("p", 0, 3);
    ck_assert_int_eq(register_listener("p", "poll://uni@g/x", 1000), 429);
    fx.cfg.listeners_per_promise = 0;
    register_numbered_listeners("p", 3, 2000);
    ck_assert_int_eq(n_listeners(), 2000);
}
END_TEST

static int acquire(const char *id, int64_t version, int64_t now)
{
    request_t r = {.op = OP_TASK_ACQUIRE, .corr_id = "c"};
    r.u.task_acquire.id = id;
    r.u.task_acquire.version = version;
    r.u.task_acquire.pid = "w1";
    r.u.task_acquire.ttl = 60000;
    return run(&r, now);
}

/* task.suspend of task id at version on one awaited promise. */
static int suspend(const char *id, int64_t version, const char *awaited, int64_t now)
{
    request_t r = {.op = OP_TASK_SUSPEND, .corr_id = "c"};
    const char *aw[] = {awaited};
    r.u.task_suspend.id = id;
    r.u.task_suspend.version = version;
    r.u.task_suspend.awaited = aw;
    r.u.task_suspend.n_awaited = 1;
    return run(&r, now);
}

/* A task.suspend naming one promise of 2 MiB 20 times, then 8 such
 * promises: each is read once and only its head is kept, so the request's
 * memory does not grow with the promises' size (one request of 2 MiB could
 * name one promise of ~4 MiB 17,000 times: 552 MB for 300 of them in a
 * measured run before, 20 MB after). The callbacks are as if each were
 * named once. */
START_TEST(a_suspend_naming_large_promises_many_times_holds_their_heads_once)
{
    size_t big = (size_t)2 << 20;
    char *data = malloc(big + 1);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', big);
    data[big] = '\0';
    const char *ids[] = {"a:0", "b:0", "b:1", "b:2", "b:3", "b:4", "b:5", "b:6", "b:7"};
    for (int i = 0; i < 9; i++) {
        request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
        r.u.promise_create =
            (promise_create_t){.id = ids[i], .timeout_at = 900000, .param = {.data = data}};
        ck_assert_int_eq(run(&r, 1000), 200);
    }
    free(data);
    const char *same[20], *mixed[24];
    for (int i = 0; i < 20; i++)
        same[i] = "a:0";
    for (int i = 0; i < 24; i++)
        mixed[i] = ids[1 + (i * 5) % 8];
    const char *tasks[] = {"a", "b"}, **lists[] = {same, mixed};
    size_t lens[] = {20, 24}, callbacks[] = {1, 9};
    for (int k = 0; k < 2; k++) {
        create(tasks[k], 900000, tags1("resonate:target", "poll://any@g"), 1000);
        ck_assert_int_eq(acquire(tasks[k], 0, 1000), 200);
        request_t r = {.op = OP_TASK_SUSPEND, .corr_id = "c"};
        r.u.task_suspend.id = tasks[k];
        r.u.task_suspend.version = 1;
        r.u.task_suspend.awaited = lists[k];
        r.u.task_suspend.n_awaited = lens[k];
        size_t before = arena_used(fx.a);
        ck_assert_int_eq(run(&r, 1000), 200);
        ck_assert_uint_lt(arena_used(fx.a) - before, (size_t)1 << 20);
        ck_assert_uint_eq(json_array_size(json_object_get(snap(), "callbacks")), callbacks[k]);
    }
}
END_TEST

START_TEST(suspend_on_pending_promise_stores_callback_and_suspends)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    ck_assert_int_eq(acquire("a", 0, 1000), 200);
    ck_assert_int_eq(int_at(json_object_get(fx.resp.data, "task"), "version"), 1);
    create("a:1", 900000, no_tags(), 1000);
    ck_assert_int_eq(suspend("a", 1, "a:1", 1000), 200);
    json_t *s = snap();
    ck_assert_int_eq(json_array_size(json_object_get(s, "callbacks")), 1);
    ck_assert_str_eq(str_at(json_array_get(json_object_get(s, "tasks"), 0), "state"), "suspended");
    ck_assert_int_eq(json_array_size(json_object_get(s, "taskTimeouts")), 0);
}
END_TEST

START_TEST(suspend_then_settle_puts_task_back_to_pending_with_execute)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    acquire("a", 0, 1000);
    create("a:1", 900000, no_tags(), 1000);
    suspend("a", 1, "a:1", 1000);
    settle("a:1", PSTATE_RESOLVED, NULL, 2000);
    json_t *s = snap();
    json_t *t = json_array_get(json_object_get(s, "tasks"), 0);
    ck_assert_str_eq(str_at(t, "state"), "pending");
    ck_assert_int_eq(int_at(t, "version"), 1);
    ck_assert_int_eq(int_at(t, "resumes"), 1);
    json_t *m = json_array_get(json_object_get(s, "messages"), 0);
    json_t *task = json_object_get(json_object_get(json_object_get(m, "message"), "data"), "task");
    ck_assert_int_eq(int_at(task, "version"), 1);
}
END_TEST

START_TEST(acquire_with_stale_version_or_twice_is_409)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    ck_assert_int_eq(acquire("a", 1, 1000), 409);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Version mismatch");
    ck_assert_int_eq(acquire("a", 0, 1000), 200);
    ck_assert_int_eq(acquire("a", 0, 1000), 409);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Task is not pending");
}
END_TEST

START_TEST(expired_lease_returns_task_to_pending_on_tick)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    acquire("a", 0, 1000);
    tick(62000);
    json_t *t = json_array_get(json_object_get(snap(), "tasks"), 0);
    ck_assert_str_eq(str_at(t, "state"), "pending");
    ck_assert_int_eq(int_at(t, "version"), 1);
    ck_assert_int_eq(acquire("a", 1, 63000), 200);
}
END_TEST

START_TEST(heartbeat_with_empty_list_renews_every_lease_of_the_pid)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    acquire("a", 0, 1000);
    request_t r = {.op = OP_TASK_HEARTBEAT, .corr_id = "c"};
    r.u.task_heartbeat.pid = "w1";
    ck_assert_int_eq(run(&r, 50000), 200);
    json_t *tt = json_array_get(json_object_get(snap(), "taskTimeouts"), 0);
    ck_assert_int_eq(int_at(tt, "timeout"), 110000);
}
END_TEST

/* An empty heartbeat renews every lease of its pid in one store call: no
 * read per lease (a pid holding 20,000 leases cost ~240 ms of the store
 * thread per heartbeat that way, 30 ms now), leases of another pid stay as
 * they are, and a renewal at the end of time saturates. */
START_TEST(an_empty_heartbeat_renews_any_number_of_leases_without_a_read_per_lease)
{
    store_close(fx.st);
    fx.st = fake_store_open(); /* counts task_get */
    for (int i = 0; i < 50; i++) {
        const char *id = arena_printf(fx.a, "t%02d", i);
        create(id, 900000, tags1("resonate:target", "poll://any@g"), 1000);
        ck_assert_int_eq(acquire(id, 0, 1000), 200);
    }
    create("other", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    request_t a = {.op = OP_TASK_ACQUIRE, .corr_id = "c"};
    a.u.task_acquire.id = "other";
    a.u.task_acquire.pid = "w2";
    a.u.task_acquire.ttl = 60000;
    ck_assert_int_eq(run(&a, 1000), 200);
    int gets = fake_store_calls(FAKE_TASK_GET);
    request_t r = {.op = OP_TASK_HEARTBEAT, .corr_id = "c"};
    r.u.task_heartbeat.pid = "w1";
    ck_assert_int_eq(run(&r, 50000), 200);
    ck_assert_int_eq(fake_store_calls(FAKE_TASK_GET), gets);
    json_t *tt;
    size_t i;
    json_array_foreach(json_object_get(snap(), "taskTimeouts"), i, tt)
    {
        bool mine = strcmp(str_at(tt, "id"), "other") != 0;
        ck_assert_int_eq(int_at(tt, "timeout"), mine ? 110000 : 61000);
    }
    ck_assert_int_eq(run(&r, INT64_MAX - 10), 200);
    json_array_foreach(json_object_get(snap(), "taskTimeouts"), i, tt)
    {
        bool mine = strcmp(str_at(tt, "id"), "other") != 0;
        ck_assert_int_eq(int_at(tt, "timeout"), mine ? INT64_MAX : 61000);
    }
}
END_TEST

/* A heartbeat list reads each task once however often it names it (a body
 * of 1 MB named one task 50,000 times: 50,000 reads and writes that held
 * every tenant's writes for 400 ms), and renews it when one of the
 * versions named for it is the task's. */
START_TEST(a_heartbeat_list_reads_each_task_once_and_renews_it_if_a_named_version_holds)
{
    store_close(fx.st);
    fx.st = fake_store_open(); /* counts task_get */
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    ck_assert_int_eq(acquire("a", 0, 1000), 200); /* version 1 */
    enum { N = 1000 };
    task_ref_t *refs = arena_alloc(fx.a, N * sizeof *refs);
    for (int i = 0; i < N; i++)
        refs[i] = (task_ref_t){.id = "a", .version = i == N / 2 ? 1 : 7};
    request_t r = {.op = OP_TASK_HEARTBEAT, .corr_id = "c"};
    r.u.task_heartbeat.pid = "w1";
    r.u.task_heartbeat.tasks = refs;
    r.u.task_heartbeat.n_tasks = N;
    int gets = fake_store_calls(FAKE_TASK_GET);
    ck_assert_int_eq(run(&r, 50000), 200);
    ck_assert_int_eq(fake_store_calls(FAKE_TASK_GET) - gets, 1);
    json_t *tt = json_array_get(json_object_get(snap(), "taskTimeouts"), 0);
    ck_assert_int_eq(int_at(tt, "timeout"), 110000);
    /* Only other versions named: no renewal. */
    refs[N / 2].version = 7;
    ck_assert_int_eq(run(&r, 60000), 200);
    tt = json_array_get(json_object_get(snap(), "taskTimeouts"), 0);
    ck_assert_int_eq(int_at(tt, "timeout"), 110000);
}
END_TEST

/* DECISIONS #2: a prefixed caller's empty heartbeat renews only the pid's
 * leases inside its prefix (issue 9, finding 2). */
START_TEST(heartbeat_with_empty_list_and_a_scope_renews_only_leases_inside_it)
{
    const char *ids[] = {"acme:a", "acme2:a", "billing:a"};
    for (size_t i = 0; i < 3; i++) {
        create(ids[i], 900000, tags1("resonate:target", "poll://any@g"), 1000);
        acquire(ids[i], 0, 1000);
    }
    request_t r = {.op = OP_TASK_HEARTBEAT, .corr_id = "c", .scope = "acme:"};
    r.u.task_heartbeat.pid = "w1";
    ck_assert_int_eq(run(&r, 50000), 200);
    json_t *tts = json_object_get(snap(), "taskTimeouts");
    ck_assert_int_eq(json_array_size(tts), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *tt = json_array_get(tts, i);
        bool inside = strcmp(str_at(tt, "id"), "acme:a") == 0;
        ck_assert_int_eq(int_at(tt, "timeout"), inside ? 110000 : 61000);
    }
}
END_TEST

/* A branch tag may be shorter than the prefix ("acme" for "acme:x"): the
 * preload of a scoped caller leaves out promises outside its scope. */
START_TEST(preload_of_a_scoped_acquire_holds_only_promises_inside_the_scope)
{
    kvmap_t branch = tags1("resonate:branch", "acme");
    kvmap_t both = {.items = arena_alloc(fx.a, 2 * sizeof(kv_t)), .n = 2};
    both.items[0] = (kv_t){"resonate:branch", "acme"};
    both.items[1] = (kv_t){"resonate:target", "poll://any@g"};
    create("acme.foreign", 900000, branch, 1000);
    create("acme:child", 900000, branch, 1000);
    create("acme:root", 900000, both, 1000);
    request_t r = {.op = OP_TASK_ACQUIRE, .corr_id = "c", .scope = "acme:"};
    r.u.task_acquire.id = "acme:root";
    r.u.task_acquire.pid = "w";
    r.u.task_acquire.ttl = 60000;
    ck_assert_int_eq(run(&r, 1000), 200);
    json_t *pre = json_object_get(fx.resp.data, "preload");
    ck_assert_int_eq(json_array_size(pre), 1);
    ck_assert_str_eq(str_at(json_array_get(pre, 0), "id"), "acme:child");
}
END_TEST

START_TEST(fulfill_settles_promise_and_fulfils_task)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    acquire("a", 0, 1000);
    request_t r = {.op = OP_TASK_FULFILL, .corr_id = "c"};
    r.u.task_fulfill.id = "a";
    r.u.task_fulfill.version = 1;
    r.u.task_fulfill.action = (promise_settle_t){.id = "a", .state = PSTATE_RESOLVED};
    ck_assert_int_eq(run(&r, 2000), 200);
    ck_assert_str_eq(str_at(last_promise(), "state"), "resolved");
    ck_assert_int_eq(run(&r, 2000), 409);
    json_t *t = json_array_get(json_object_get(snap(), "tasks"), 0);
    ck_assert_str_eq(str_at(t, "state"), "fulfilled");
}
END_TEST

/* schedule.create of "s" every minute, promises with id template tpl and
 * promise_timeout, targeted at poll://any@g; returns the status. */
/* schedule.create of id at now; returns the status. */
static int create_schedule_with(const char *id, const char *cron, const char *tpl,
                                int64_t promise_timeout, kvmap_t promise_tags, int64_t now)
{
    request_t r = {.op = OP_SCHEDULE_CREATE, .corr_id = "c"};
    r.u.schedule_create = (schedule_create_t){.id = id,
                                              .cron = cron,
                                              .promise_id = tpl,
                                              .promise_timeout = promise_timeout,
                                              .promise_tags = promise_tags};
    return run(&r, now);
}

/* Schedule "s", every minute, promises targeted at poll://any@g. */
static int create_schedule(const char *tpl, int64_t promise_timeout, int64_t now)
{
    return create_schedule_with("s", "* * * * *", tpl, promise_timeout,
                                tags1("resonate:target", "poll://any@g"), now);
}

START_TEST(schedule_fires_on_tick_with_expanded_id_and_lineage_tags)
{
    ck_assert_int_eq(create_schedule("job.{{.id}}.{{.timestamp}}", 1000000, 1000), 200);
    ck_assert_int_eq(int_at(json_object_get(fx.resp.data, "schedule"), "nextRunAt"), 60000);
    tick(61000);
    ck_assert_int_eq(get("job.s.60000", 61000), 200);
    json_t *p = last_promise();
    ck_assert_int_eq(int_at(p, "createdAt"), 60000);
    json_t *tags = json_object_get(p, "tags");
    ck_assert_str_eq(str_at(tags, "resonate:schedule"), "s");
    ck_assert_str_eq(str_at(tags, "resonate:origin"), "job.s.60000");
    request_t r = {.op = OP_SCHEDULE_GET, .corr_id = "c"};
    r.u.get.id = "s";
    ck_assert_int_eq(run(&r, 61000), 200);
    json_t *s = json_object_get(fx.resp.data, "schedule");
    ck_assert_int_eq(int_at(s, "lastRunAt"), 60000);
    ck_assert_int_eq(int_at(s, "nextRunAt"), 120000);
}
END_TEST

START_TEST(promise_search_pages_with_cursor)
{
    create("a", 9000, no_tags(), 1000);
    create("b", 9000, no_tags(), 1000);
    create("c", 9000, no_tags(), 1000);
    request_t r = {.op = OP_PROMISE_SEARCH, .corr_id = "c"};
    r.u.search.limit = 2;
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_int_eq(json_array_size(json_object_get(fx.resp.data, "promises")), 2);
    ck_assert_str_eq(str_at(fx.resp.data, "cursor"), "b");
    r.u.search.cursor = "b";
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_int_eq(json_array_size(json_object_get(fx.resp.data, "promises")), 1);
    ck_assert_ptr_null(json_object_get(fx.resp.data, "cursor"));
}
END_TEST

/* The ids of the "<key>" array of the last search response, joined by ",". */
static const char *found_ids(const char *key)
{
    json_t *arr = json_object_get(fx.resp.data, key);
    char *out = arena_alloc(fx.a, 512);
    for (size_t i = 0; i < json_array_size(arr); i++)
        snprintf(out + strlen(out), 512 - strlen(out), "%s%s", i ? "," : "",
                 str_at(json_array_get(arr, i), "id"));
    return out;
}

/* DECISIONS #15: a search of a prefixed caller sees only ids inside the
 * prefix, byte-wise ("acme" is not "acme:"), and its cursor cannot leave
 * the scope in either direction. */
START_TEST(search_with_a_scope_sees_only_ids_inside_it_and_the_cursor_cannot_escape)
{
    const char *ids[] = {"a", "acme", "acme2:x", "acme:1", "acme:2", "acme:3", "acme;", "b"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        create(ids[i], 900000, tags1("resonate:target", "poll://any@g"), 1000);
    request_t r = {.op = OP_PROMISE_SEARCH, .corr_id = "c", .scope = "acme:"};
    r.u.search.limit = 2;
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_str_eq(found_ids("promises"), "acme:1,acme:2");
    ck_assert_str_eq(str_at(fx.resp.data, "cursor"), "acme:2");
    r.u.search.cursor = "acme:2";
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_str_eq(found_ids("promises"), "acme:3");
    ck_assert_ptr_null(json_object_get(fx.resp.data, "cursor"));
    /* A cursor below the prefix starts at it, one above it finds nothing. */
    r.u.search.cursor = "a";
    r.u.search.limit = 10;
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_str_eq(found_ids("promises"), "acme:1,acme:2,acme:3");
    r.u.search.cursor = "acme:3";
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_str_eq(found_ids("promises"), "");
    /* Tasks alike; no scope sees everything. */
    request_t t = {.op = OP_TASK_SEARCH, .corr_id = "c", .scope = "acme:"};
    t.u.search.limit = 10;
    ck_assert_int_eq(run(&t, 1000), 200);
    ck_assert_str_eq(found_ids("tasks"), "acme:1,acme:2,acme:3");
    t.scope = NULL;
    ck_assert_int_eq(run(&t, 1000), 200);
    ck_assert_str_eq(found_ids("tasks"), "a,acme,acme2:x,acme:1,acme:2,acme:3,acme;,b");
}
END_TEST

START_TEST(schedule_search_with_a_scope_sees_only_schedules_inside_it)
{
    const char *ids[] = {"acme", "acme2:s", "acme:s", "billing:s"};
    for (size_t i = 0; i < 4; i++) {
        request_t c = {.op = OP_SCHEDULE_CREATE, .corr_id = "c"};
        c.u.schedule_create = (schedule_create_t){
            .id = ids[i], .cron = "* * * * *", .promise_id = "{{.id}}", .promise_timeout = 1000};
        ck_assert_int_eq(run(&c, 1000), 200);
    }
    request_t r = {.op = OP_SCHEDULE_SEARCH, .corr_id = "c", .scope = "acme:"};
    r.u.search.limit = 10;
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_str_eq(found_ids("schedules"), "acme:s");
}
END_TEST

START_TEST(tick_expiring_task_and_its_awaited_together_queues_no_stale_execute)
{
    /* Task a is suspended on a:1; both deadlines pass before one tick, a:1's
     * first. a is fulfilled by its own timeout, so it must not be resumed. */
    create("a", 5000, tags1("resonate:target", "poll://any@g"), 1000);
    acquire("a", 0, 1000);
    create("a:1", 4000, no_tags(), 1000);
    ck_assert_int_eq(suspend("a", 1, "a:1", 1000), 200);
    tick(6000);
    json_t *s = snap();
    ck_assert_str_eq(str_at(json_array_get(json_object_get(s, "tasks"), 0), "state"), "fulfilled");
    /* Only the creation's execute (version 0) may be queued; a resume would
     * have replaced it with version 1. */
    json_t *msgs = json_object_get(s, "messages");
    ck_assert_int_eq(json_array_size(msgs), 1);
    json_t *data = json_object_get(json_object_get(json_array_get(msgs, 0), "message"), "data");
    ck_assert_int_eq(int_at(json_object_get(data, "task"), "version"), 0);
}
END_TEST

/* ---- preload bounds (issue 9, finding 5) ------------------------------------ */

/* Creates root (a task, branch root) and n children on its branch, each
 * with size bytes of param data. */
static void large_branch(size_t n, size_t size)
{
    kvmap_t tags = {.items = arena_alloc(fx.a, 2 * sizeof(kv_t)), .n = 2};
    tags.items[0] = (kv_t){"resonate:branch", "root"};
    tags.items[1] = (kv_t){"resonate:target", "poll://any@g"};
    ck_assert_int_eq(create("root", 900000, tags, 1000), 200);
    char *data = arena_alloc(fx.a, size + 1);
    memset(data, 'x', size);
    data[size] = '\0';
    for (size_t i = 0; i < n; i++) {
        request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
        r.u.promise_create = (promise_create_t){.id = arena_printf(fx.a, "root.%03zu", i),
                                                .timeout_at = 900000,
                                                .param = {.data = data},
                                                .tags = tags1("resonate:branch", "root")};
        ck_assert_int_eq(run(&r, 1000), 200);
    }
}

/* The preload of the last response: its size encoded, count in *n. */
static size_t preload_bytes(size_t *n)
{
    json_t *pre = json_object_get(fx.resp.data, "preload");
    ck_assert(json_is_array(pre));
    *n = json_array_size(pre);
    return json_dumpb(pre, NULL, 0, JSON_COMPACT);
}

START_TEST(preload_of_a_branch_of_large_promises_stays_within_both_budgets)
{
    large_branch(40, 100 * 1000);
    fx.cfg.preload_max_bytes = 1024 * 1024;
    fx.cfg.preload_max_count = 1000;
    ck_assert_int_eq(acquire("root", 0, 2000), 200);
    size_t n, bytes = preload_bytes(&n);
    ck_assert_uint_le(bytes, 1024 * 1024);
    ck_assert_uint_eq(n, 10); /* ten records of ~100 kB fit, the 11th does not */
    ck_assert_str_eq(str_at(json_array_get(json_object_get(fx.resp.data, "preload"), 0), "id"),
                     "root.000");

    /* task.fence answers with the same bounded preload; now the count binds. */
    fx.cfg.preload_max_count = 3;
    request_t r = {.op = OP_TASK_FENCE, .corr_id = "c"};
    r.u.task_fence = (task_fence_t){.id = "root",
                                    .version = 1,
                                    .action_kind = "promise.settle",
                                    .settle = {.id = "root.000", .state = PSTATE_RESOLVED}};
    ck_assert_int_eq(run(&r, 3000), 200);
    preload_bytes(&n);
    ck_assert_uint_eq(n, 3);
}
END_TEST

START_TEST(preload_without_budgets_returns_the_whole_branch)
{
    large_branch(40, 1000);
    ck_assert_int_eq(acquire("root", 0, 2000), 200);
    size_t n;
    preload_bytes(&n);
    ck_assert_uint_eq(n, 40);
}
END_TEST

/* ---- time sums saturate (issue 9, finding 8) ---------------------------------
 * The sanitized unit build aborts on signed overflow, so these fail there
 * if any sum wraps; the assertions check the stored values are sane. */

/* The first task timer of the store. */
static json_int_t first_task_timeout(void)
{
    json_t *tt = json_array_get(json_object_get(snap(), "taskTimeouts"), 0);
    ck_assert_ptr_nonnull(tt);
    return int_at(tt, "timeout");
}

START_TEST(task_create_with_ttl_int64_max_saturates_lease_and_renewal)
{
    request_t r = {.op = OP_TASK_CREATE, .corr_id = "c"};
    r.u.task_create.pid = "w1";
    r.u.task_create.ttl = INT64_MAX;
    r.u.task_create.action = (promise_create_t){
        .id = "a", .timeout_at = INT64_MAX, .tags = tags1("resonate:target", "poll://any@g")};
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_int_eq(first_task_timeout(), INT64_MAX);
    r = (request_t){.op = OP_TASK_HEARTBEAT, .corr_id = "c"};
    r.u.task_heartbeat.pid = "w1";
    ck_assert_int_eq(run(&r, 5000), 200);
    ck_assert_int_eq(first_task_timeout(), INT64_MAX);
    /* The lease never expires: a tick at the far end leaves it acquired. */
    tick(INT64_MAX - 1);
    json_t *t = json_array_get(json_object_get(snap(), "tasks"), 0);
    ck_assert_str_eq(str_at(t, "state"), "acquired");
}
END_TEST

START_TEST(delay_near_int64_max_saturates_retry_timer)
{
    kvmap_t tags = {.items = arena_alloc(fx.a, 2 * sizeof(kv_t)), .n = 2};
    tags.items[0] = (kv_t){"resonate:delay", "9223372036854775000"};
    tags.items[1] = (kv_t){"resonate:target", "poll://any@g"};
    ck_assert_int_eq(create("p", INT64_MAX, tags, 1000), 200);
    ck_assert_int_eq(first_task_timeout(), INT64_MAX);
    /* Nothing is due before then: the task stays pending, not re-sent. */
    tick(INT64_MAX - 1);
    ck_assert_int_eq(first_task_timeout(), INT64_MAX);
    json_t *t = json_array_get(json_object_get(snap(), "tasks"), 0);
    ck_assert_str_eq(str_at(t, "state"), "pending");
}
END_TEST

START_TEST(stored_schedule_with_promise_timeout_int64_max_fires_saturated)
{
    /* A row written before the decoder bounded promiseTimeout. */
    schedule_t s = {.id = "s",
                    .cron = "* * * * *",
                    .promise_id = "job.{{.timestamp}}",
                    .promise_timeout = INT64_MAX,
                    .promise_tags = tags1("resonate:target", "poll://any@g"),
                    .created_at = 0,
                    .next_run_at = 60000};
    ck_assert_int_eq(store_begin(fx.st), STORE_OK);
    ck_assert_int_eq(store_schedule_insert(fx.st, &s), STORE_OK);
    ck_assert_int_eq(store_commit(fx.st), STORE_OK);
    bool more;
    ck_assert_int_eq(store_begin(fx.st), STORE_OK);
    ck_assert_int_eq(engine_tick(&fx.cfg, fx.st, fx.a, 61000, 0, &more), 0);
    ck_assert_int_eq(store_commit(fx.st), STORE_OK);
    ck_assert_int_eq(get("job.60000", 61000), 200);
    ck_assert_str_eq(str_at(last_promise(), "state"), "pending");
    ck_assert_int_eq(int_at(last_promise(), "timeoutAt"), INT64_MAX);
}
END_TEST

/* One background tick (the server's: a limit) over 6 due promises and 6
 * due schedules of 4 MiB each: engine_tick at that limit reads and writes
 * at most ENGINE_TICK_MAX_BYTES of each kind (after one at least; timed
 * out promises are kept as heads) and says more is due; the ticks after it
 * do the rest, each item once. Without the bound one tick held every
 * record and its copies in its arena, and a tenant's thousand such
 * schedules gigabytes. */
static size_t server_tick(int64_t t, bool *more)
{
    arena_t *a = arena_new();
    ck_assert_int_eq(store_begin(fx.st), STORE_OK);
    ck_assert_int_eq(engine_tick(&fx.cfg, fx.st, a, t, 1000, more), 0);
    ck_assert_int_eq(store_commit(fx.st), STORE_OK);
    size_t used = arena_used(a);
    arena_free(a);
    return used;
}

START_TEST(a_server_tick_over_large_records_stays_within_its_byte_budget_and_ticks_again)
{
    size_t big = ENGINE_TICK_MAX_BYTES / 4;
    char *data = malloc(big + 1);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', big);
    data[big] = '\0';
    for (int i = 0; i < 6; i++) {
        request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
        r.u.promise_create = (promise_create_t){
            .id = arena_printf(fx.a, "p%02d", i), .timeout_at = 1000, .param = {.data = data}};
        ck_assert_int_eq(run(&r, 0), 200);
        schedule_t s = {.id = arena_printf(fx.a, "s%02d", i),
                        .cron = "* * * * *",
                        .promise_id = "{{.id}}.{{.timestamp}}",
                        .promise_timeout = 1000000,
                        .promise_param = {.data = data},
                        .created_at = 0,
                        .next_run_at = 60000};
        ck_assert_int_eq(store_begin(fx.st), STORE_OK);
        ck_assert_int_eq(store_schedule_insert(fx.st, &s), STORE_OK);
        ck_assert_int_eq(store_commit(fx.st), STORE_OK);
    }
    free(data);
    bool more = true;
    int ticks = 0;
    while (more) {
        size_t used = server_tick(61000, &more);
        ck_assert_uint_lt(used, 2 * ENGINE_TICK_MAX_BYTES); /* 25 MB here, 50 MB unbounded */
        ck_assert_int_lt(++ticks, 20);
    }
    ck_assert_int_ge(ticks, 2);
    json_t *s = snap();
    json_t *p;
    size_t i, timedout = 0, fired = 0;
    json_array_foreach(json_object_get(s, "promises"), i, p)
    {
        if (strcmp(str_at(p, "state"), "rejected_timedout") == 0)
            timedout++;
        if (strstr(str_at(p, "id"), ".60000"))
            fired++;
    }
    ck_assert_uint_eq(timedout, 6);
    ck_assert_uint_eq(fired, 6);
}
END_TEST

START_TEST(schedule_due_at_the_end_of_time_fires_without_overflow)
{
    ck_assert_int_eq(create_schedule("job.{{.timestamp}}", INT64_MAX, INT64_MAX - 1), 200);
    json_t *sc = json_object_get(fx.resp.data, "schedule");
    ck_assert_int_eq(int_at(sc, "nextRunAt"), INT64_MAX);
    tick(INT64_MAX);
    request_t r = {.op = OP_SCHEDULE_GET, .corr_id = "c"};
    r.u.get.id = "s";
    ck_assert_int_eq(run(&r, INT64_MAX), 200);
    ck_assert_int_eq(int_at(json_object_get(fx.resp.data, "schedule"), "nextRunAt"), INT64_MAX);
}
END_TEST

/* The state of task id as task.get reports it. */
static const char *task_state(const char *id, int64_t now)
{
    request_t r = {.op = OP_TASK_GET, .corr_id = "c"};
    r.u.get.id = id;
    ck_assert_int_eq(run(&r, now), 200);
    return str_at(json_object_get(fx.resp.data, "task"), "state");
}

static int task_create(const char *id, kvmap_t tags, int64_t now)
{
    request_t r = {.op = OP_TASK_CREATE, .corr_id = "c"};
    r.u.task_create.pid = "w1";
    r.u.task_create.ttl = 60000;
    r.u.task_create.action = (promise_create_t){.id = id, .timeout_at = 900000, .tags = tags};
    return run(&r, now);
}

static int task_by_id(op_t op, const char *id, int64_t now)
{
    request_t r = {.op = op, .corr_id = "c"};
    r.u.get.id = id;
    return run(&r, now);
}

static int release(const char *id, int64_t version, int64_t now)
{
    request_t r = {.op = OP_TASK_RELEASE, .corr_id = "c"};
    r.u.task_release = (task_ref_t){.id = id, .version = version};
    return run(&r, now);
}

/* task.fence of task id at version around promise.create of inner. */
static int fence_create(const char *id, int64_t version, const char *inner, int64_t now)
{
    request_t r = {.op = OP_TASK_FENCE, .corr_id = "f1"};
    r.u.task_fence = (task_fence_t){.id = id,
                                    .version = version,
                                    .is_create = true,
                                    .action_kind = "promise.create",
                                    .create = {.id = inner, .timeout_at = 900000}};
    return run(&r, now);
}

static int fence_settle(const char *id, int64_t version, const char *inner, int64_t now)
{
    request_t r = {.op = OP_TASK_FENCE, .corr_id = "f2"};
    r.u.task_fence = (task_fence_t){.id = id,
                                    .version = version,
                                    .action_kind = "promise.settle",
                                    .settle = {.id = inner, .state = PSTATE_RESOLVED}};
    return run(&r, now);
}

/* Number of outbox messages in debug.snap. */
static size_t n_messages(void)
{
    return json_array_size(json_object_get(snap(), "messages"));
}

START_TEST(task_get_reports_state_version_and_lease_or_404)
{
    ck_assert_int_eq(task_by_id(OP_TASK_GET, "a", 1000), 404);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Task not found");
    create("plain", 900000, no_tags(), 1000);
    ck_assert_int_eq(task_by_id(OP_TASK_GET, "plain", 1000), 404);
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    ck_assert_int_eq(task_by_id(OP_TASK_GET, "a", 1000), 200);
    json_t *t = json_object_get(fx.resp.data, "task");
    ck_assert_str_eq(str_at(t, "state"), "pending");
    ck_assert_int_eq(int_at(t, "version"), 0);
    ck_assert_ptr_null(json_object_get(t, "pid"));
    acquire("a", 0, 1000);
    ck_assert_int_eq(task_by_id(OP_TASK_GET, "a", 1000), 200);
    t = json_object_get(fx.resp.data, "task");
    ck_assert_str_eq(str_at(t, "state"), "acquired");
    ck_assert_int_eq(int_at(t, "version"), 1);
    ck_assert_str_eq(str_at(t, "pid"), "w1");
    ck_assert_int_eq(int_at(t, "ttl"), 60000);
}
END_TEST

START_TEST(task_create_makes_promise_and_task_acquired_by_its_creator_without_message)
{
    ck_assert_int_eq(task_create("a", tags1("resonate:target", "poll://any@g"), 1000), 200);
    json_t *t = json_object_get(fx.resp.data, "task");
    ck_assert_str_eq(str_at(t, "state"), "acquired");
    ck_assert_int_eq(int_at(t, "version"), 1);
    ck_assert_str_eq(str_at(t, "pid"), "w1");
    ck_assert_str_eq(str_at(last_promise(), "state"), "pending");
    ck_assert_int_eq(json_array_size(json_object_get(fx.resp.data, "preload")), 0);
    ck_assert_int_eq(n_messages(), 0);
    /* The lease runs from now. */
    json_t *tt = json_array_get(json_object_get(snap(), "taskTimeouts"), 0);
    ck_assert_int_eq(int_at(tt, "timeout"), 61000);
}
END_TEST

START_TEST(task_create_on_existing_ids_acquires_pending_refuses_held_and_reports_fulfilled)
{
    /* Pending (made by promise.create): acquired at its version. */
    create("p", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    ck_assert_int_eq(task_create("p", tags1("resonate:target", "poll://any@g"), 1000), 200);
    ck_assert_int_eq(int_at(json_object_get(fx.resp.data, "task"), "version"), 1);
    /* Already acquired: 409. */
    ck_assert_int_eq(task_create("p", tags1("resonate:target", "poll://any@g"), 1000), 409);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Already exists");
    /* A promise without a target has no task: 422. */
    create("plain", 900000, no_tags(), 1000);
    ck_assert_int_eq(task_create("plain", no_tags(), 1000), 422);
    ck_assert_str_eq(json_string_value(fx.resp.data),
                     "The promise does not have a resonate:target tag");
    /* Fulfilled: 200 with the fulfilled task and the settled promise. */
    settle("p", PSTATE_RESOLVED, NULL, 2000);
    ck_assert_int_eq(task_create("p", tags1("resonate:target", "poll://any@g"), 3000), 200);
    ck_assert_str_eq(str_at(json_object_get(fx.resp.data, "task"), "state"), "fulfilled");
    ck_assert_str_eq(str_at(last_promise(), "state"), "resolved");
}
END_TEST

START_TEST(task_create_past_its_deadline_is_born_fulfilled)
{
    request_t r = {.op = OP_TASK_CREATE, .corr_id = "c"};
    r.u.task_create.pid = "w1";
    r.u.task_create.ttl = 60000;
    r.u.task_create.action = (promise_create_t){
        .id = "late", .timeout_at = 500, .tags = tags1("resonate:target", "poll://any@g")};
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_str_eq(str_at(json_object_get(fx.resp.data, "task"), "state"), "fulfilled");
    ck_assert_str_eq(str_at(last_promise(), "state"), "rejected_timedout");
}
END_TEST

START_TEST(task_release_returns_held_task_to_pending_with_a_fresh_execute)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    acquire("a", 0, 1000);
    ck_assert_int_eq(release("a", 0, 2000), 409);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Task version mismatch or invalid state");
    ck_assert_int_eq(release("missing", 1, 2000), 404);
    ck_assert_int_eq(release("a", 1, 2000), 200);
    json_t *s = snap();
    json_t *t = json_array_get(json_object_get(s, "tasks"), 0);
    ck_assert_str_eq(str_at(t, "state"), "pending");
    ck_assert_int_eq(int_at(t, "version"), 1);
    json_t *m = json_array_get(json_object_get(s, "messages"), 0);
    json_t *task = json_object_get(json_object_get(json_object_get(m, "message"), "data"), "task");
    ck_assert_int_eq(int_at(task, "version"), 1);
    /* A pending task is not held: releasing it again is 409. */
    ck_assert_int_eq(release("a", 1, 2000), 409);
}
END_TEST

START_TEST(task_fence_create_runs_the_action_only_for_the_holder)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    ck_assert_int_eq(fence_create("a", 1, "a.1", 1000), 409);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Version mismatch");
    ck_assert_int_eq(fence_create("missing", 1, "m.1", 1000), 404);
    acquire("a", 0, 1000);
    ck_assert_int_eq(fence_create("a", 1, "a.1", 1000), 200);
    json_t *action = json_object_get(fx.resp.data, "action");
    ck_assert_str_eq(str_at(action, "kind"), "promise.create");
    ck_assert_int_eq(int_at(json_object_get(action, "head"), "status"), 200);
    ck_assert_str_eq(str_at(json_object_get(action, "head"), "corrId"), "f1");
    json_t *p = json_object_get(json_object_get(action, "data"), "promise");
    ck_assert_str_eq(str_at(p, "id"), "a.1");
    ck_assert_str_eq(str_at(p, "state"), "pending");
    ck_assert_ptr_nonnull(json_object_get(fx.resp.data, "preload"));
    ck_assert_int_eq(get("a.1", 1000), 200);
    ck_assert_int_eq(get("m.1", 1000), 404);
}
END_TEST

START_TEST(task_fence_settle_settles_the_inner_promise_or_reports_it_missing)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    acquire("a", 0, 1000);
    ck_assert_int_eq(fence_settle("a", 1, "a.1", 1000), 200);
    json_t *action = json_object_get(fx.resp.data, "action");
    ck_assert_int_eq(int_at(json_object_get(action, "head"), "status"), 404);
    ck_assert_str_eq(json_string_value(json_object_get(action, "data")), "Promise not found");
    create("a.1", 900000, no_tags(), 1000);
    ck_assert_int_eq(fence_settle("a", 1, "a.1", 2000), 200);
    action = json_object_get(fx.resp.data, "action");
    ck_assert_int_eq(int_at(json_object_get(action, "head"), "status"), 200);
    json_t *p = json_object_get(json_object_get(action, "data"), "promise");
    ck_assert_str_eq(str_at(p, "state"), "resolved");
    ck_assert_int_eq(int_at(p, "settledAt"), 2000);
}
END_TEST

START_TEST(task_halt_stops_a_task_until_continue_puts_it_back_to_pending)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    acquire("a", 0, 1000);
    ck_assert_int_eq(task_by_id(OP_TASK_CONTINUE, "a", 1000), 409);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Task is not halted");
    ck_assert_int_eq(task_by_id(OP_TASK_HALT, "a", 2000), 200);
    ck_assert_str_eq(task_state("a", 2000), "halted");
    /* Halting drops the lease; halting again is a no-op 200. */
    ck_assert_int_eq(json_array_size(json_object_get(snap(), "taskTimeouts")), 0);
    ck_assert_int_eq(task_by_id(OP_TASK_HALT, "a", 2000), 200);
    ck_assert_int_eq(task_by_id(OP_TASK_CONTINUE, "a", 3000), 200);
    ck_assert_str_eq(task_state("a", 3000), "pending");
    json_t *tt = json_array_get(json_object_get(snap(), "taskTimeouts"), 0);
    ck_assert_int_eq(int_at(tt, "timeout"), 3000 + 30000);
    ck_assert_int_eq(task_by_id(OP_TASK_HALT, "missing", 3000), 404);
    ck_assert_int_eq(task_by_id(OP_TASK_CONTINUE, "missing", 3000), 404);
}
END_TEST

START_TEST(task_halt_of_a_fulfilled_task_is_409)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    settle("a", PSTATE_RESOLVED, NULL, 2000);
    ck_assert_str_eq(task_state("a", 2000), "fulfilled");
    ck_assert_int_eq(task_by_id(OP_TASK_HALT, "a", 2000), 409);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Task is fulfilled");
}
END_TEST

START_TEST(task_search_filters_by_state_and_pages_with_cursor)
{
    create("a", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    create("b", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    create("c", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    acquire("b", 0, 1000);
    request_t r = {.op = OP_TASK_SEARCH, .corr_id = "c"};
    r.u.search.limit = 2;
    ck_assert_int_eq(run(&r, 1000), 200);
    json_t *ts = json_object_get(fx.resp.data, "tasks");
    ck_assert_int_eq(json_array_size(ts), 2);
    ck_assert_str_eq(str_at(json_array_get(ts, 0), "id"), "a");
    ck_assert_str_eq(str_at(fx.resp.data, "cursor"), "b");
    r.u.search.cursor = "b";
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_int_eq(json_array_size(json_object_get(fx.resp.data, "tasks")), 1);
    ck_assert_ptr_null(json_object_get(fx.resp.data, "cursor"));
    r.u.search = (search_req_t){.has_state = true, .state = TSTATE_ACQUIRED, .limit = 10};
    ck_assert_int_eq(run(&r, 1000), 200);
    ts = json_object_get(fx.resp.data, "tasks");
    ck_assert_int_eq(json_array_size(ts), 1);
    ck_assert_str_eq(str_at(json_array_get(ts, 0), "id"), "b");
}
END_TEST

/* Schedule id every five minutes, with promise tags. */
static int schedule_every_5m(const char *id, kvmap_t tags, int64_t now)
{
    return create_schedule_with(id, "*/5 * * * *", "{{.id}}.{{.timestamp}}", 60000, tags, now);
}

START_TEST(schedule_delete_removes_it_so_it_never_fires_and_is_404_after)
{
    ck_assert_int_eq(schedule_every_5m("s", no_tags(), 1000), 200);
    request_t r = {.op = OP_SCHEDULE_DELETE, .corr_id = "c"};
    r.u.get.id = "s";
    ck_assert_int_eq(run(&r, 2000), 200);
    ck_assert_int_eq(json_object_size(fx.resp.data), 0);
    ck_assert_int_eq(run(&r, 2000), 404);
    ck_assert_str_eq(json_string_value(fx.resp.data), "Schedule not found");
    r.op = OP_SCHEDULE_GET;
    ck_assert_int_eq(run(&r, 2000), 404);
    tick(400000);
    ck_assert_int_eq(json_array_size(json_object_get(snap(), "promises")), 0);
}
END_TEST

START_TEST(schedule_search_filters_by_promise_tags_and_pages_with_cursor)
{
    schedule_every_5m("s1", tags1("team", "x"), 1000);
    schedule_every_5m("s2", no_tags(), 1000);
    schedule_every_5m("s3", tags1("team", "x"), 1000);
    request_t r = {.op = OP_SCHEDULE_SEARCH, .corr_id = "c"};
    r.u.search.limit = 2;
    ck_assert_int_eq(run(&r, 1000), 200);
    json_t *ss = json_object_get(fx.resp.data, "schedules");
    ck_assert_int_eq(json_array_size(ss), 2);
    ck_assert_str_eq(str_at(json_array_get(ss, 0), "id"), "s1");
    ck_assert_str_eq(str_at(json_array_get(ss, 0), "cron"), "*/5 * * * *");
    ck_assert_int_eq(int_at(json_array_get(ss, 0), "nextRunAt"), 300000);
    ck_assert_str_eq(str_at(fx.resp.data, "cursor"), "s2");
    r.u.search.cursor = "s2";
    ck_assert_int_eq(run(&r, 1000), 200);
    ck_assert_int_eq(json_array_size(json_object_get(fx.resp.data, "schedules")), 1);
    ck_assert_ptr_null(json_object_get(fx.resp.data, "cursor"));
    r.u.search = (search_req_t){.tags = tags1("team", "x"), .limit = 10};
    ck_assert_int_eq(run(&r, 1000), 200);
    ss = json_object_get(fx.resp.data, "schedules");
    ck_assert_int_eq(json_array_size(ss), 2);
    ck_assert_str_eq(str_at(json_array_get(ss, 1), "id"), "s3");
}
END_TEST

START_TEST(schedule_create_of_existing_id_returns_it_unchanged)
{
    ck_assert_int_eq(schedule_every_5m("s", no_tags(), 1000), 200);
    request_t r = {.op = OP_SCHEDULE_CREATE, .corr_id = "c"};
    r.u.schedule_create =
        (schedule_create_t){.id = "s", .cron = "0 * * * *", .promise_id = "other"};
    ck_assert_int_eq(run(&r, 5000), 200);
    json_t *s = json_object_get(fx.resp.data, "schedule");
    ck_assert_str_eq(str_at(s, "cron"), "*/5 * * * *");
    ck_assert_int_eq(int_at(s, "createdAt"), 1000);
}
END_TEST

/* ---- engine_read ------------------------------------------------------------ */

/* Runs req at now through engine_read; returns its result code. The answer
 * is left in fx.resp. */
static int read_at(request_t *req, int64_t now)
{
    req->now = now;
    response_clear(&fx.resp);
    int rc = engine_read(&fx.cfg, fx.st, fx.a, req, &fx.resp);
    response_json(&fx.resp); /* the tests read the tree of a typed answer */
    return rc;
}

START_TEST(every_read_kind_answers_exactly_as_engine_apply)
{
    create("a", 900000, tags1("k", "v"), 1000);
    create("b", 900000, tags1("resonate:target", "poll://any@g"), 1000);
    create("c", 900000, no_tags(), 1000);
    settle("c", PSTATE_RESOLVED, "\"x\"", 1500);
    acquire("b", 0, 2000);
    schedule_every_5m("s", tags1("k", "v"), 1000);
    request_t reqs[11];
    for (size_t i = 0; i < 11; i++)
        reqs[i] = (request_t){.corr_id = "c"};
    reqs[0].op = OP_PROMISE_GET, reqs[0].u.get.id = "a";
    reqs[1].op = OP_PROMISE_GET, reqs[1].u.get.id = "c";
    reqs[2].op = OP_PROMISE_GET, reqs[2].u.get.id = "missing";
    reqs[3].op = OP_TASK_GET, reqs[3].u.get.id = "b";
    reqs[4].op = OP_TASK_GET, reqs[4].u.get.id = "a";
    reqs[5].op = OP_SCHEDULE_GET, reqs[5].u.get.id = "s";
    reqs[6].op = OP_SCHEDULE_GET, reqs[6].u.get.id = "missing";
    reqs[7].op = OP_PROMISE_SEARCH,
    reqs[7].u.search = (search_req_t){.tags = tags1("k", "v"), .limit = 10};
    reqs[8].op = OP_PROMISE_SEARCH, reqs[8].u.search = (search_req_t){.limit = 1};
    reqs[8].scope = "b";
    reqs[9].op = OP_TASK_SEARCH, reqs[9].u.search = (search_req_t){.limit = 10};
    reqs[10].op = OP_SCHEDULE_SEARCH,
    reqs[10].u.search = (search_req_t){.tags = tags1("k", "v"), .limit = 10};
    for (size_t i = 0; i < 11; i++) {
        ck_assert(engine_is_read(reqs[i].op));
        int status = run(&reqs[i], 3000);
        json_t *want = json_deep_copy(fx.resp.data);
        ck_assert_int_eq(read_at(&reqs[i], 3000), 0);
        ck_assert_int_eq(fx.resp.status, status);
        char *w = json_dumps(want, JSON_SORT_KEYS), *g = json_dumps(fx.resp.data, JSON_SORT_KEYS);
        ck_assert_msg(json_equal(want, fx.resp.data), "request %zu: want %s, got %s", i, w, g);
        free(w);
        free(g);
        json_decref(want);
    }
}
END_TEST

START_TEST(a_read_of_a_promise_past_its_timeout_goes_to_the_writer_and_writes_nothing)
{
    create("p", 5000, no_tags(), 1000);
    create("t", 5000, tags1("resonate:target", "poll://any@g"), 1000);
    request_t g = {.op = OP_PROMISE_GET, .corr_id = "c"};
    g.u.get.id = "p";
    ck_assert_int_eq(read_at(&g, 4999), 0);
    ck_assert_str_eq(str_at(last_promise(), "state"), "pending");
    ck_assert_int_eq(read_at(&g, 5000), ENGINE_READ_WRITER);
    ck_assert_ptr_null(fx.resp.data);
    request_t tg = {.op = OP_TASK_GET, .corr_id = "c"};
    tg.u.get.id = "t";
    ck_assert_int_eq(read_at(&tg, 6000), ENGINE_READ_WRITER);
    ck_assert_ptr_null(fx.resp.data);
    /* Nothing was settled by the reads. */
    json_t *ps = json_object_get(snap(), "promises");
    for (size_t i = 0; i < json_array_size(ps); i++)
        ck_assert_str_eq(str_at(json_array_get(ps, i), "state"), "pending");
    /* The writer's answer. */
    ck_assert_int_eq(get("p", 6000), 200);
    ck_assert_str_eq(str_at(last_promise(), "state"), "rejected_timedout");
    ck_assert_int_eq(int_at(last_promise(), "settledAt"), 5000);
}
END_TEST

START_TEST(engine_read_hands_every_write_kind_to_the_writer_untouched)
{
    request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
    r.u.promise_create = (promise_create_t){.id = "n", .timeout_at = 900000};
    ck_assert(!engine_is_read(r.op));
    ck_assert_int_eq(read_at(&r, 1000), ENGINE_READ_WRITER);
    ck_assert_ptr_null(fx.resp.data);
    ck_assert_int_eq(get("n", 1000), 404);
    for (int op = 0; op < OP__COUNT; op++)
        ck_assert_int_eq(engine_is_read((op_t)op),
                         op == OP_PROMISE_GET || op == OP_PROMISE_SEARCH || op == OP_TASK_GET ||
                             op == OP_TASK_SEARCH || op == OP_SCHEDULE_GET ||
                             op == OP_SCHEDULE_SEARCH);
}
END_TEST

/* ---- fan-outs of settlements (limits.settle_fanout_batch) ------------------ */

/* A background tick as the store thread runs it (limit per kind), in its
 * own transaction; returns whether it left work. */
static bool bg_tick(int64_t t, size_t limit)
{
    bool more = false;
    ck_assert_int_eq(store_begin(fx.st), STORE_OK);
    ck_assert_msg(engine_tick(&fx.cfg, fx.st, fx.a, t, limit, &more) == 0, "tick: %s",
                  store_errmsg(fx.st));
    ck_assert_int_eq(store_commit(fx.st), STORE_OK);
    return more;
}

/* Task id (target poll://any@g), acquired at version 1 and suspended on
 * awaited. */
static void suspended_on(const char *id, const char *awaited)
{
    ck_assert_int_eq(create(id, 900000, tags1("resonate:target", "poll://any@g"), 1000), 200);
    ck_assert_int_eq(acquire(id, 0, 1000), 200);
    ck_assert_int_eq(suspend(id, 1, awaited, 1000), 200);
}

/* With a fan-out batch of 1: r, awaited by suspended tasks w0 and w1, is
 * settled at 2000; its settlement resumes w0 and leaves w1 suspended, on
 * the fan-out list. */
static void settle_leaving_w1_listed(void)
{
    fx.cfg.settle_fanout_batch = 1;
    create("r", 900000, no_tags(), 1000);
    suspended_on("w0", "r");
    suspended_on("w1", "r");
    settle("r", PSTATE_RESOLVED, NULL, 2000);
    ck_assert_str_eq(task_state("w1", 2000), "suspended");
}

/* How many tasks of the snapshot are in state, and (when every is
 * non-NULL) whether each of them has version 1, one resume and an execute
 * of version 1 queued. */
static size_t tasks_in(const char *state, bool *every_resumed_once)
{
    json_t *s = snap();
    json_t *ts = json_object_get(s, "tasks"), *ms = json_object_get(s, "messages");
    size_t n = 0, i;
    json_t *t;
    if (every_resumed_once)
        *every_resumed_once = true;
    json_array_foreach(ts, i, t)
    {
        if (strcmp(str_at(t, "state"), state) != 0)
            continue;
        n++;
        size_t executes = 0, j;
        json_t *m;
        json_array_foreach(ms, j, m)
        {
            json_t *task =
                json_object_get(json_object_get(json_object_get(m, "message"), "data"), "task");
            if (task && strcmp(str_at(task, "id"), str_at(t, "id")) == 0 &&
                int_at(task, "version") == 1)
                executes++;
        }
        if (every_resumed_once &&
            (int_at(t, "version") != 1 || int_at(t, "resumes") != 1 || executes != 1))
            *every_resumed_once = false;
    }
    return n;
}

START_TEST(a_settle_past_the_fanout_batch_resumes_a_batch_at_once_and_the_rest_over_ticks_once_each)
{
    fx.cfg.settle_fanout_batch = 3;
    create("r", 900000, no_tags(), 1000);
    char id[16];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof id, "w%d", i);
        suspended_on(id, "r");
    }
    ck_assert_int_eq(settle("r", PSTATE_RESOLVED, NULL, 2000), 200);
    bool once = false;
    /* The settle's own transaction: the first 3 by id. */
    ck_assert_uint_eq(tasks_in("pending", &once), 3);
    ck_assert(once);
    ck_assert_str_eq(task_state("w2", 2000), "pending");
    ck_assert_str_eq(task_state("w3", 2000), "suspended");
    /* Each tick 3 more, other requests in between. */
    ck_assert(bg_tick(2100, 1000));
    ck_assert_uint_eq(tasks_in("pending", NULL), 6);
    ck_assert_int_eq(create("other", 900000, no_tags(), 2150), 200);
    ck_assert(!bg_tick(2200, 1000));
    ck_assert_uint_eq(tasks_in("pending", &once), 8);
    ck_assert_msg(once, "an awaiter was resumed twice or not with one execute of version 1");
    ck_assert_int_eq(json_array_size(json_object_get(snap(), "callbacks")), 0);
    /* Nothing left: a further tick changes nothing. */
    ck_assert(!bg_tick(2300, 1000));
    ck_assert_uint_eq(tasks_in("pending", &once), 8);
    ck_assert(once);
}
END_TEST

START_TEST(a_settle_past_the_fanout_batch_unblocks_a_batch_of_listeners_and_ticks_the_rest)
{
    fx.cfg.settle_fanout_batch = 2;
    create("p", 900000, no_tags(), 1000);
    register_numbered_listeners("p", 0, 7);
    settle("p", PSTATE_RESOLVED, NULL, 2000);
    ck_assert_int_eq(json_array_size(json_object_get(snap(), "messages")), 2);
    ck_assert_int_eq(n_listeners(), 5);
    ck_assert(bg_tick(2100, 1000));
    ck_assert_int_eq(json_array_size(json_object_get(snap(), "messages")), 4);
    /* debug.tick is one complete pass: the rest at once. */
    ck_assert_int_eq(tick(2200), 200);
    json_t *msgs = json_object_get(snap(), "messages");
    ck_assert_int_eq(json_array_size(msgs), 7);
    char addr[32];
    for (int i = 0; i < 7; i++) {
        snprintf(addr, sizeof addr, "poll://uni@g/%d", i);
        ck_assert_str_eq(str_at(json_array_get(msgs, (size_t)i), "address"), addr);
    }
    ck_assert_int_eq(n_listeners(), 0);
    ck_assert(!bg_tick(2300, 1000));
}
END_TEST

START_TEST(several_fanouts_share_a_tick_and_the_least_served_goes_first)
{
    fx.cfg.settle_fanout_batch = 2;
    create("a", 900000, no_tags(), 1000);
    create("b", 900000, no_tags(), 1000);
    char id[16];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "a%d", i);
        suspended_on(id, "a");
        snprintf(id, sizeof id, "b%d", i);
        suspended_on(id, "b");
    }
    settle("a", PSTATE_RESOLVED, NULL, 2000);
    settle("b", PSTATE_RESOLVED, NULL, 2000);
    /* A batch of 2 over two fan-outs: one awaiter of each per tick. */
    ck_assert(bg_tick(2100, 1000));
    ck_assert_str_eq(task_state("a2", 2100), "pending");
    ck_assert_str_eq(task_state("b2", 2100), "pending");
    ck_assert_str_eq(task_state("a3", 2100), "suspended");
    ck_assert_str_eq(task_state("b3", 2100), "suspended");
    /* A tick limited to one fan-out serves one, then the other. */
    ck_assert(bg_tick(2200, 1));
    ck_assert_str_eq(task_state("a4", 2200), "pending");
    ck_assert_str_eq(task_state("b4", 2200), "suspended");
    ck_assert(bg_tick(2300, 1));
    ck_assert_str_eq(task_state("b4", 2300), "pending");
    while (bg_tick(2400, 1000))
        ;
    ck_assert_uint_eq(tasks_in("suspended", NULL), 0);
}
END_TEST

START_TEST(register_callback_on_a_settled_promise_not_yet_fanned_out_resumes_once_and_marks_ready)
{
    settle_leaving_w1_listed();
    /* The direct path resumes w1 and marks its waiting callback ready. */
    request_t r = {.op = OP_PROMISE_REGISTER_CALLBACK, .corr_id = "c"};
    r.u.callback = (callback_req_t){.awaited = "r", .awaiter = "w1"};
    ck_assert_int_eq(run(&r, 2100), 200);
    bool once = false;
    ck_assert_uint_eq(tasks_in("pending", &once), 2);
    ck_assert(once);
    ck_assert_int_eq(json_array_size(json_object_get(snap(), "callbacks")), 0);
    while (bg_tick(2200, 1000))
        ;
    ck_assert_uint_eq(tasks_in("pending", &once), 2);
    ck_assert(once);
}
END_TEST

START_TEST(an_awaiter_resumed_by_another_settle_and_suspended_again_is_not_resumed_by_a_late_fanout)
{
    fx.cfg.settle_fanout_batch = 1;
    create("r", 900000, no_tags(), 1000);
    create("q", 900000, no_tags(), 1000);
    create("z", 900000, no_tags(), 1000);
    suspended_on("w0", "r");
    /* w1 suspended on r and q */
    ck_assert_int_eq(create("w1", 900000, tags1("resonate:target", "poll://any@g"), 1000), 200);
    ck_assert_int_eq(acquire("w1", 0, 1000), 200);
    request_t s = {.op = OP_TASK_SUSPEND, .corr_id = "c"};
    const char *aw[] = {"r", "q"};
    s.u.task_suspend.id = "w1";
    s.u.task_suspend.version = 1;
    s.u.task_suspend.awaited = aw;
    s.u.task_suspend.n_awaited = 2;
    ck_assert_int_eq(run(&s, 1000), 200);
    settle("r", PSTATE_RESOLVED, NULL, 2000); /* resumes w0; w1 waits for a tick */
    ck_assert_str_eq(task_state("w1", 2000), "suspended");
    settle("q", PSTATE_RESOLVED, NULL, 2100); /* resumes w1 */
    ck_assert_str_eq(task_state("w1", 2100), "pending");
    /* The worker replays w1 and suspends it on z: r's fan-out must not
     * resume it again (it would have been resumed by r already). */
    ck_assert_int_eq(acquire("w1", 1, 2200), 200);
    ck_assert_int_eq(suspend("w1", 2, "z", 2200), 200);
    while (bg_tick(2300, 1000))
        ;
    ck_assert_str_eq(task_state("w1", 2300), "suspended");
    json_t *cbs = json_object_get(snap(), "callbacks");
    ck_assert_int_eq(json_array_size(cbs), 1);
    ck_assert_str_eq(str_at(json_array_get(cbs, 0), "awaited"), "z");
}
END_TEST

START_TEST(an_awaiter_settled_before_the_fanout_reaches_it_stays_fulfilled)
{
    settle_leaving_w1_listed();
    settle("w1", PSTATE_RESOLVED, NULL, 2100);
    ck_assert_str_eq(task_state("w1", 2100), "fulfilled");
    while (bg_tick(2200, 1000))
        ;
    ck_assert_str_eq(task_state("w1", 2200), "fulfilled");
    ck_assert_str_eq(task_state("w0", 2200), "pending");
}
END_TEST

START_TEST(a_fanout_left_by_a_settle_continues_after_a_restart_on_a_file_database)
{
    char path[64] = "/tmp/resonate-engine-XXXXXX", err[256];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(path);
    store_close(fx.st);
    fx.st = store_sqlite_open(path, err, sizeof err);
    ck_assert_msg(fx.st != NULL, "open: %s", err);
    fx.cfg.settle_fanout_batch = 2;
    create("r", 900000, no_tags(), 1000);
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "w%d", i);
        suspended_on(id, "r");
    }
    ck_assert_int_eq(register_listener("r", "poll://uni@g/a", 1000), 200);
    ck_assert_int_eq(register_listener("r", "poll://uni@g/b", 1000), 200);
    ck_assert_int_eq(register_listener("r", "poll://uni@g/c", 1000), 200);
    settle("r", PSTATE_RESOLVED, NULL, 2000);
    ck_assert(bg_tick(2100, 1000));
    ck_assert_uint_eq(tasks_in("pending", NULL), 4);
    /* Restart: the list is in the file. */
    store_close(fx.st);
    fx.st = store_sqlite_open(path, err, sizeof err);
    ck_assert_msg(fx.st != NULL, "reopen: %s", err);
    ck_assert(!bg_tick(3000, 1000));
    bool once = false;
    ck_assert_uint_eq(tasks_in("pending", &once), 5);
    ck_assert(once);
    ck_assert_int_eq(n_listeners(), 0);
    store_close(fx.st);
    fx.st = NULL;
    char side[80];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    setup_mem_store();
}
END_TEST

START_TEST(a_fanout_batch_of_0_resumes_every_awaiter_in_the_settle)
{
    fx.cfg.settle_fanout_batch = 0;
    create("r", 900000, no_tags(), 1000);
    char id[16];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "w%02d", i);
        suspended_on(id, "r");
    }
    settle("r", PSTATE_RESOLVED, NULL, 2000);
    bool once = false;
    ck_assert_uint_eq(tasks_in("pending", &once), 20);
    ck_assert(once);
    ck_assert(!bg_tick(2100, 1000));
}
END_TEST

START_TEST(a_fanout_over_awaiters_of_large_records_holds_one_record_at_a_time)
{
    fx.cfg.settle_fanout_batch = 500;
    size_t big = (size_t)1 << 20;
    char *data = malloc(big + 1);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', big);
    data[big] = '\0';
    create("r", 900000, no_tags(), 1000);
    for (int i = 0; i < 12; i++) {
        const char *id = arena_printf(fx.a, "w%02d", i);
        request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
        r.u.promise_create = (promise_create_t){.id = id,
                                                .timeout_at = 900000,
                                                .param = {.data = data},
                                                .tags = tags1("resonate:target", "poll://any@g")};
        ck_assert_int_eq(run(&r, 1000), 200);
        ck_assert_int_eq(acquire(id, 0, 1000), 200);
        ck_assert_int_eq(suspend(id, 1, "r", 1000), 200);
    }
    free(data);
    /* 12 MiB of awaiters resumed in one transaction: one record in memory
     * at a time. */
    size_t before = arena_used(fx.a);
    ck_assert_int_eq(settle("r", PSTATE_RESOLVED, NULL, 2000), 200);
    ck_assert_uint_lt(arena_used(fx.a) - before, 2 * big);
    ck_assert_uint_eq(tasks_in("pending", NULL), 12);
}
END_TEST

static Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("promises");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_new_promise_is_pending_with_created_at_now);
    tcase_add_test(tc, create_of_existing_id_returns_stored_record_unchanged);
    tcase_add_test(tc, create_past_deadline_is_born_timed_out_with_created_at_timeout);
    tcase_add_test(tc, create_with_target_makes_pending_task_retry_timer_and_execute);
    tcase_add_test(tc, settle_pending_sets_state_value_and_settled_at_now);
    tcase_add_test(tc, settle_of_settled_promise_returns_it_unchanged);
    tcase_add_test(tc, get_and_settle_of_missing_promise_are_404);
    tcase_add_test(tc, get_after_deadline_times_out_lazily_with_settled_at_timeout);
    tcase_add_test(tc, tick_settles_every_due_promise_timer_or_not);
    tcase_add_test(tc, register_callback_reports_missing_awaited_awaiter_and_target);
    tcase_add_test(tc, listener_gets_unblock_message_when_promise_settles);
    tcase_add_test(tc, register_listener_past_the_limit_is_429_naming_it_and_stores_nothing);
    tcase_add_test(tc, re_registering_a_stored_listener_at_or_past_the_limit_stays_200);
    tcase_add_test(tc, register_listener_on_a_settled_promise_answers_it_whatever_the_limit);
    tcase_add_test(tc, listeners_per_promise_0_lifts_the_bound);
    tcase_add_test(tc, promise_search_pages_with_cursor);
    tcase_add_test(tc, search_with_a_scope_sees_only_ids_inside_it_and_the_cursor_cannot_escape);
    tcase_add_test(tc, schedule_search_with_a_scope_sees_only_schedules_inside_it);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("tasks");
    tcase_set_timeout(tt, 60); /* megabytes of records, under the sanitizers */
    tcase_add_checked_fixture(tt, setup, teardown);
    tcase_add_test(tt, suspend_on_pending_promise_stores_callback_and_suspends);
    tcase_add_test(tt, suspend_then_settle_puts_task_back_to_pending_with_execute);
    tcase_add_test(tt, acquire_with_stale_version_or_twice_is_409);
    tcase_add_test(tt, a_suspend_naming_large_promises_many_times_holds_their_heads_once);
    tcase_add_test(tt, expired_lease_returns_task_to_pending_on_tick);
    tcase_add_test(tt, heartbeat_with_empty_list_renews_every_lease_of_the_pid);
    tcase_add_test(tt, an_empty_heartbeat_renews_any_number_of_leases_without_a_read_per_lease);
    tcase_add_test(tt,
                   a_heartbeat_list_reads_each_task_once_and_renews_it_if_a_named_version_holds);
    tcase_add_test(tt, heartbeat_with_empty_list_and_a_scope_renews_only_leases_inside_it);
    tcase_add_test(tt, preload_of_a_scoped_acquire_holds_only_promises_inside_the_scope);
    tcase_add_test(tt, fulfill_settles_promise_and_fulfils_task);
    tcase_add_test(tt, tick_expiring_task_and_its_awaited_together_queues_no_stale_execute);
    tcase_add_test(tt, task_create_with_ttl_int64_max_saturates_lease_and_renewal);
    tcase_add_test(tt, delay_near_int64_max_saturates_retry_timer);
    tcase_add_test(tt, preload_of_a_branch_of_large_promises_stays_within_both_budgets);
    tcase_add_test(tt, preload_without_budgets_returns_the_whole_branch);
    tcase_add_test(tt, task_get_reports_state_version_and_lease_or_404);
    tcase_add_test(tt, task_create_makes_promise_and_task_acquired_by_its_creator_without_message);
    tcase_add_test(tt,
                   task_create_on_existing_ids_acquires_pending_refuses_held_and_reports_fulfilled);
    tcase_add_test(tt, task_create_past_its_deadline_is_born_fulfilled);
    tcase_add_test(tt, task_release_returns_held_task_to_pending_with_a_fresh_execute);
    tcase_add_test(tt, task_fence_create_runs_the_action_only_for_the_holder);
    tcase_add_test(tt, task_fence_settle_settles_the_inner_promise_or_reports_it_missing);
    tcase_add_test(tt, task_halt_stops_a_task_until_continue_puts_it_back_to_pending);
    tcase_add_test(tt, task_halt_of_a_fulfilled_task_is_409);
    tcase_add_test(tt, task_search_filters_by_state_and_pages_with_cursor);
    suite_add_tcase(s, tt);
    TCase *tf = tcase_create("fanouts");
    tcase_add_checked_fixture(tf, setup, teardown);
    tcase_add_test(
        tf,
        a_settle_past_the_fanout_batch_resumes_a_batch_at_once_and_the_rest_over_ticks_once_each);
    tcase_add_test(tf,
                   a_settle_past_the_fanout_batch_unblocks_a_batch_of_listeners_and_ticks_the_rest);
    tcase_add_test(tf, several_fanouts_share_a_tick_and_the_least_served_goes_first);
    tcase_add_test(
        tf, register_callback_on_a_settled_promise_not_yet_fanned_out_resumes_once_and_marks_ready);
    tcase_add_test(
        tf,
        an_awaiter_resumed_by_another_settle_and_suspended_again_is_not_resumed_by_a_late_fanout);
    tcase_add_test(tf, an_awaiter_settled_before_the_fanout_reaches_it_stays_fulfilled);
    tcase_add_test(tf, a_fanout_left_by_a_settle_continues_after_a_restart_on_a_file_database);
    tcase_add_test(tf, a_fanout_batch_of_0_resumes_every_awaiter_in_the_settle);
    tcase_add_test(tf, a_fanout_over_awaiters_of_large_records_holds_one_record_at_a_time);
    tcase_set_timeout(tf,
                      60); /* hundreds of tasks and megabytes of records, under the sanitizers */
    suite_add_tcase(s, tf);
    TCase *ts = tcase_create("schedules");
    tcase_set_timeout(ts, 60);
    tcase_add_checked_fixture(ts, setup, teardown);
    tcase_add_test(ts, schedule_fires_on_tick_with_expanded_id_and_lineage_tags);
    tcase_add_test(ts, stored_schedule_with_promise_timeout_int64_max_fires_saturated);
    tcase_add_test(ts, schedule_due_at_the_end_of_time_fires_without_overflow);
    tcase_add_test(ts,
                   a_server_tick_over_large_records_stays_within_its_byte_budget_and_ticks_again);
    tcase_add_test(ts, schedule_delete_removes_it_so_it_never_fires_and_is_404_after);
    tcase_add_test(ts, schedule_search_filters_by_promise_tags_and_pages_with_cursor);
    tcase_add_test(ts, schedule_create_of_existing_id_returns_it_unchanged);
    suite_add_tcase(s, ts);

    TCase *tr = tcase_create("reads");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_add_test(tr, every_read_kind_answers_exactly_as_engine_apply);
    tcase_add_test(tr, a_read_of_a_promise_past_its_timeout_goes_to_the_writer_and_writes_nothing);
    tcase_add_test(tr, engine_read_hands_every_write_kind_to_the_writer_untouched);
    suite_add_tcase(s, tr);
    return s;
}
UNIT_SUITE(engine_suite)
