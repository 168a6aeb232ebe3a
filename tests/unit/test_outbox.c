/* test_outbox.c - delivery of outbox rows (server/outbox.c) over the
 * failure-injecting store: back-off doubling up to its ceiling, the drop
 * after max_attempts, delivered rows deleted at the next flush, stale and
 * superseded executes, storage errors that keep a row, and no transport.
 *
 * Rows are made by the engine (a promise with a resonate:target makes a
 * task and its execute). An undelivered message is a poll address whose
 * group has no stream (poll_send refuses it at once, so the outcome is
 * synchronous and the clock is the `now` the test passes); a delivered one
 * is an HTTP push to the stub server of http_stub.h. */
#include <pthread.h>
#include <string.h>

#include <curl/curl.h>

#include "core/engine.h"
#include "server/outbox.h"
#include "tests/unit/fake_store.h"
#include "tests/unit/http_stub.h"
#include "tests/unit/unit.h"

#define WAIT_MS 5000
#define BASE_MS 100
#define MAX_MS 250
#define ATTEMPTS 5

static store_t *st;
static arena_t *a;
static poll_hub_t *hub;
static http_stub_t *stub;
static outbox_t *ob;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int wakes;
static bool shared;            /* the next new_outbox shares its outbox (PostgreSQL) */
static size_t push_max_queued; /* of the next new_outbox (0: push.c's default) */

static void on_wake(void *arg)
{
    ck_assert_ptr_eq(arg, &wakes);
    pthread_mutex_lock(&mu);
    wakes++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    st = fake_store_open();
    a = arena_new();
    hub = poll_hub_new(&(poll_config_t){.max_streams = 16, .buffer = 16});
    ck_assert_ptr_nonnull(hub);
    stub = NULL;
    ob = NULL;
    wakes = 0;
    push_max_queued = 0;
}

static void teardown(void)
{
    outbox_free(ob);
    http_stub_stop(stub);
    poll_hub_close_all(hub);
    poll_hub_free(hub);
    arena_free(a);
    store_close(st);
    curl_global_cleanup();
}

static void new_outbox(bool push, size_t batch)
{
    outbox_config_t cfg = {.server_url = "http://srv",
                           .batch = batch,
                           .max_attempts = ATTEMPTS,
                           .backoff_base_ms = BASE_MS,
                           .backoff_max_ms = MAX_MS,
                           .hub = hub,
                           .push_enabled = push,
                           .push = {.concurrency = 2,
                                    .max_queued = push_max_queued,
                                    .connect_timeout_ms = 2000,
                                    .request_timeout_ms = 2000},
                           .wake = on_wake,
                           .wake_arg = &wakes,
                           .shared = shared,
                           .orphan_ms = 500};
    char err[256];
    ob = outbox_new(&cfg, err, sizeof err);
    ck_assert_msg(ob != NULL, "outbox_new: %s", err);
}

/* Runs req at now in its own transaction; returns the status. */
static int apply(request_t *req, int64_t now)
{
    response_t resp = {0};
    engine_config_t ec = {.retry_timeout = 3600000};
    req->now = now;
    ck_assert_int_eq(store_begin(st), STORE_OK);
    ck_assert_int_eq(engine_apply(&ec, st, a, req, &resp), 0);
    ck_assert_int_eq(store_commit(st), STORE_OK);
    int status = resp.status;
    response_clear(&resp);
    return status;
}

/* A promise id targeted at address: a pending task (version 0) and its
 * execute row. */
static void create_task(const char *id, const char *address)
{
    request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
    kv_t *kv = arena_alloc(a, sizeof *kv);
    *kv = (kv_t){"resonate:target", address};
    r.u.promise_create =
        (promise_create_t){.id = id, .timeout_at = INT64_MAX / 2, .tags = {.items = kv, .n = 1}};
    ck_assert_int_eq(apply(&r, 1000), 200);
}

/* The outbox rows (every one, due or not). */
static size_t rows(outbox_msg_t **out)
{
    size_t n = 0;
    ck_assert_int_eq(store_outbox_due(st, a, INT64_MAX, 100, out, &n), STORE_OK);
    return n;
}

static void flush(void)
{
    ck_assert_int_eq(store_begin(st), STORE_OK);
    ck_assert_int_eq(outbox_flush(ob, st), STORE_OK);
    ck_assert_int_eq(store_commit(st), STORE_OK);
    outbox_flush_end(ob, true);
}

/* Waits (bounded) until a push result has woken the store thread n times. */
static void wait_wakes(int n)
{
    struct timespec dl = unit_deadline(WAIT_MS);
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (wakes < n && rc == 0)
        rc = pthread_cond_timedwait(&cv, &mu, &dl);
    int got = wakes;
    pthread_mutex_unlock(&mu);
    ck_assert_msg(got >= n, "%d of %d push results within %d ms", got, n, WAIT_MS);
}

/* The row of id (asserted present). */
static outbox_msg_t row_of(const char *id)
{
    outbox_msg_t *ms;
    size_t n = rows(&ms);
    for (size_t i = 0; i < n; i++)
        if (strcmp(ms[i].id, id) == 0)
            return ms[i];
    ck_abort_msg("no row for %s", id);
    return ms[0];
}

START_TEST(shared_outbox_leaves_a_poll_row_to_other_servers_until_it_is_orphaned)
{
    shared = true;
    new_outbox(false, 10);
    /* due since 10 000: no stream here, maybe one on another server */
    ck_assert_int_eq(store_begin(st), STORE_OK);
    ck_assert_int_eq(store_outbox_execute(st, "t", 0, "poll://any@nobody", 10000), STORE_OK);
    ck_assert_int_eq(store_commit(st), STORE_OK);
    outbox_deliver(ob, st, 10000 + 499);
    flush();
    outbox_msg_t m = row_of("t");
    ck_assert_int_eq(m.attempts, 0);
    ck_assert_int_eq(m.not_before, 10000);
    /* nobody took it for orphan_ms: one failed attempt, backed off */
    outbox_deliver(ob, st, 10000 + 500);
    flush();
    m = row_of("t");
    ck_assert_int_eq(m.attempts, 1);
    ck_assert_int_eq(m.not_before, 10000 + 500 + BASE_MS);
    /* not again before its back-off, plus orphan_ms, has passed */
    outbox_deliver(ob, st, 10000 + 500 + BASE_MS + 499);
    flush();
    ck_assert_int_eq(row_of("t").attempts, 1);
}
END_TEST

START_TEST(failed_delivery_backs_off_doubling_to_the_ceiling_then_is_dropped)
{
    new_outbox(false, 10);
    create_task("t", "poll://any@nobody");
    outbox_msg_t *m;
    /* attempt k fails at t_k and defers to t_k + min(BASE << (k-1), MAX);
     * the fifth failure reaches ATTEMPTS and drops the row. */
    const int64_t at[] = {1000, 1100, 1300, 1550, 1800};
    const int64_t next[] = {1100, 1300, 1550, 1800};
    for (int k = 0; k < 4; k++) {
        outbox_deliver(ob, st, at[k]);
        ck_assert(outbox_dirty(ob));
        flush();
        ck_assert_int_eq(rows(&m), 1);
        ck_assert_int_eq(m[0].attempts, k + 1);
        ck_assert_int_eq(m[0].not_before, next[k]);
        /* Not due one millisecond early: nothing is attempted. */
        outbox_deliver(ob, st, next[k] - 1);
        ck_assert(!outbox_dirty(ob));
    }
    outbox_deliver(ob, st, at[4]);
    flush();
    ck_assert_int_eq(rows(&m), 0);
    outbox_stats_t s = outbox_stats(ob);
    ck_assert_int_eq(s.retried, 4);
    ck_assert_int_eq(s.dropped, 1);
    ck_assert_int_eq(s.delivered, 0);
}
END_TEST

START_TEST(outbox_is_looked_at_only_when_something_can_be_due)
{
    new_outbox(false, 10);
    /* Never looked: rows of an earlier process may be waiting. */
    ck_assert(outbox_may_be_due(ob, st, 1000));
    outbox_deliver(ob, st, 1000);
    ck_assert(!outbox_may_be_due(ob, st, 1000));
    /* A batch that queues an execute due at once. */
    create_task("t", "poll://any@nobody");
    ck_assert(outbox_may_be_due(ob, st, 1000));
    outbox_deliver(ob, st, 1000);
    ck_assert(!outbox_may_be_due(ob, st, 1000));
    /* The failed attempt is deferred to 1000 + BASE_MS by the flush. */
    flush();
    ck_assert(!outbox_may_be_due(ob, st, 1000 + BASE_MS - 1));
    ck_assert(outbox_may_be_due(ob, st, 1000 + BASE_MS));
    outbox_deliver(ob, st, 1000 + BASE_MS);
    ck_assert(outbox_dirty(ob)); /* it was really due, and attempted again */
    ck_assert(!outbox_may_be_due(ob, st, 1000 + BASE_MS));
}
END_TEST

START_TEST(in_flight_rows_are_found_whatever_order_they_are_taken_in)
{
    stub = http_stub_start(200, 300);
    new_outbox(true, 10);
    /* t1 fails at once and is deferred; t2 is pushed (in flight until its
     * answer, 300 ms). When t1 is retried it is tracked before t2, which
     * is still in flight, and t3 after both: each is still found (t2's
     * late result included), none is sent twice. */
    create_task("t1", "poll://any@nobody");
    create_task("t2", http_stub_url(stub));
    outbox_deliver(ob, st, 1000);
    flush();
    create_task("t3", http_stub_url(stub));
    outbox_deliver(ob, st, 1000 + BASE_MS);
    outbox_deliver(ob, st, 1000 + BASE_MS);
    wait_wakes(2);
    flush();
    ck_assert_int_eq(http_stub_requests(stub), 2);
    ck_assert_int_eq(outbox_stats(ob).delivered, 2);
    ck_assert_int_eq(outbox_stats(ob).retried, 2);
}
END_TEST

START_TEST(delivered_push_deletes_its_row_at_the_next_flush)
{
    stub = http_stub_start(200, 0);
    new_outbox(true, 10);
    create_task("t", http_stub_url(stub));
    outbox_msg_t *m;
    ck_assert_int_eq(rows(&m), 1);
    outbox_deliver(ob, st, 1000);
    wait_wakes(1);
    ck_assert(outbox_dirty(ob));
    /* Delivered, but the row goes only with the next transaction. */
    ck_assert_int_eq(rows(&m), 1);
    flush();
    ck_assert_int_eq(rows(&m), 0);
    ck_assert(!outbox_dirty(ob));
    ck_assert_int_eq(outbox_stats(ob).delivered, 1);
    char body[512];
    http_stub_last_body(stub, body, sizeof body);
    ck_assert_str_eq(body,
                     "{\"data\":{\"task\":{\"id\":\"t\",\"version\":0}},\"head\":{\"serverUrl\":"
                     "\"http://srv\"},\"kind\":\"execute\"}");
}
END_TEST

/* A push target slower than the rows come holds at most max_queued
 * requests of the push queue (and bytes: PUSH_MAX_QUEUED_BYTES): the other
 * rows stay in the store, due, with no attempt counted, and go out as
 * requests end. Before, every due row was loaded and queued in memory at
 * once, each message up to a promise's ~4 MiB. */
START_TEST(a_slow_push_target_holds_at_most_max_queued_requests_the_rest_stay_due)
{
    stub = http_stub_start(200, 400);
    push_max_queued = 3;
    new_outbox(true, 100);
    for (int i = 0; i < 10; i++)
        create_task(arena_printf(a, "t%d", i), http_stub_url(stub));
    ck_assert(!outbox_deliver(ob, st, 1000));
    wait_wakes(3);
    /* Nothing more was queued: no fourth result comes. */
    struct timespec pause = {1, 200000000};
    nanosleep(&pause, NULL);
    pthread_mutex_lock(&mu);
    int got = wakes;
    pthread_mutex_unlock(&mu);
    ck_assert_int_eq(got, 3);
    flush();
    outbox_msg_t *m;
    size_t n = rows(&m);
    ck_assert_uint_eq(n, 7);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(m[i].attempts, 0);
    /* The next round sends the next three. */
    outbox_deliver(ob, st, 1000);
    wait_wakes(6);
    flush();
    ck_assert_uint_eq(rows(&m), 4);
    ck_assert_int_eq(outbox_stats(ob).delivered, 6);
}
END_TEST

START_TEST(row_in_flight_is_not_sent_twice)
{
    stub = http_stub_start(200, 300);
    new_outbox(true, 10);
    create_task("t", http_stub_url(stub));
    outbox_deliver(ob, st, 1000);
    outbox_deliver(ob, st, 1000);
    wait_wakes(1);
    flush();
    ck_assert_int_eq(http_stub_requests(stub), 1);
    ck_assert_int_eq(outbox_stats(ob).delivered, 1);
}
END_TEST

START_TEST(stale_execute_is_dropped_unsent)
{
    stub = http_stub_start(200, 0);
    new_outbox(true, 10);
    create_task("t", http_stub_url(stub));
    /* Acquiring moves the task to version 1: the queued execute(0) is stale. */
    request_t r = {.op = OP_TASK_ACQUIRE, .corr_id = "c"};
    r.u.task_acquire.id = "t";
    r.u.task_acquire.pid = "w";
    r.u.task_acquire.ttl = 60000;
    ck_assert_int_eq(apply(&r, 1000), 200);
    outbox_msg_t *m;
    ck_assert_int_eq(rows(&m), 1);
    outbox_deliver(ob, st, 1000);
    ck_assert(outbox_dirty(ob));
    flush();
    ck_assert_int_eq(rows(&m), 0);
    ck_assert_int_eq(http_stub_requests(stub), 0);
    outbox_stats_t s = outbox_stats(ob);
    ck_assert_int_eq(s.delivered + s.retried + s.dropped, 0);
}
END_TEST

START_TEST(newer_execute_queued_while_older_is_in_flight_survives_its_flush)
{
    stub = http_stub_start(200, 0);
    new_outbox(true, 10);
    create_task("t", http_stub_url(stub));
    outbox_msg_t *m;
    ck_assert_int_eq(rows(&m), 1);
    int64_t old_seq = m[0].seq;
    outbox_deliver(ob, st, 1000);
    /* Meanwhile the task moves to version 1 with a fresh execute, which
     * replaces the older row under a new seq. */
    ck_assert_int_eq(store_begin(st), STORE_OK);
    ck_assert_int_eq(store_task_update(st, "t", TSTATE_PENDING, 1), STORE_OK);
    ck_assert_int_eq(store_outbox_execute(st, "t", 1, http_stub_url(stub), 0), STORE_OK);
    ck_assert_int_eq(store_commit(st), STORE_OK);
    wait_wakes(1);
    flush();
    ck_assert_int_eq(rows(&m), 1);
    ck_assert_int_gt(m[0].seq, old_seq);
    ck_assert_int_eq(m[0].version, 1);
    outbox_deliver(ob, st, 1000);
    wait_wakes(2);
    flush();
    ck_assert_int_eq(rows(&m), 0);
    char body[512];
    http_stub_last_body(stub, body, sizeof body);
    ck_assert_ptr_nonnull(strstr(body, "\"version\":1"));
}
END_TEST

START_TEST(storage_error_while_building_a_message_keeps_the_row_for_a_retry)
{
    stub = http_stub_start(200, 0);
    new_outbox(true, 10);
    create_task("t", http_stub_url(stub));
    fake_store_fail(FAKE_TASK_GET, true);
    outbox_deliver(ob, st, 1000);
    fake_store_fail(FAKE_TASK_GET, false);
    flush();
    outbox_msg_t *m;
    ck_assert_int_eq(rows(&m), 1);
    ck_assert_int_eq(m[0].attempts, 1);
    ck_assert_int_eq(m[0].not_before, 1000 + BASE_MS);
    ck_assert_int_eq(http_stub_requests(stub), 0);
    outbox_deliver(ob, st, 1000 + BASE_MS);
    wait_wakes(1);
    flush();
    ck_assert_int_eq(rows(&m), 0);
    ck_assert_int_eq(http_stub_requests(stub), 1);
}
END_TEST

START_TEST(failed_flush_keeps_its_outcomes_for_the_next_transaction)
{
    new_outbox(false, 10);
    create_task("t", "poll://any@nobody");
    outbox_deliver(ob, st, 1000);
    fake_store_fail(FAKE_OUTBOX_DEFER, true);
    ck_assert_int_eq(store_begin(st), STORE_OK);
    ck_assert_int_eq(outbox_flush(ob, st), STORE_ERR);
    ck_assert_int_eq(store_rollback(st), STORE_OK);
    outbox_flush_end(ob, false);
    fake_store_fail(FAKE_OUTBOX_DEFER, false);
    ck_assert(outbox_dirty(ob));
    flush();
    outbox_msg_t *m;
    ck_assert_int_eq(rows(&m), 1);
    ck_assert_int_eq(m[0].attempts, 1);
}
END_TEST

static int stats_read; /* by read_stats, from inside a defer */

static void read_stats(void *arg)
{
    outbox_stats((outbox_t *)arg); /* takes the outbox's lock */
    stats_read++;
}

/* A poll stream reports its messages under the hub's lock, from an HTTP
 * thread (on_poll_result takes the outbox's lock): so the outcomes are
 * written without that lock held, and such a thread never waits for the
 * store's I/O. With the lock held across the write the hook, which takes
 * it, would never return. */
START_TEST(outcomes_are_written_to_the_store_without_the_outbox_lock_held)
{
    new_outbox(false, 10);
    create_task("t", "poll://any@nobody");
    outbox_deliver(ob, st, 1000);
    fake_store_on_defer(read_stats, ob);
    flush();
    fake_store_on_defer(NULL, NULL);
    ck_assert_int_eq(stats_read, 1);
    outbox_msg_t *m;
    ck_assert_int_eq(rows(&m), 1);
    ck_assert_int_eq(m[0].attempts, 1);
}
END_TEST

/* A batch that is rolled back (and run again, or failed) must not take the
 * outcomes it recorded with it: they are written again by the next
 * transaction, and the row stays in flight meanwhile. */
START_TEST(outcomes_written_into_a_rolled_back_transaction_are_written_again_by_the_next)
{
    new_outbox(false, 10);
    create_task("t", "poll://any@nobody");
    outbox_deliver(ob, st, 1000);
    ck_assert(outbox_dirty(ob));
    ck_assert_int_eq(store_begin(st), STORE_OK);
    ck_assert_int_eq(outbox_flush(ob, st), STORE_OK);
    /* written in the open transaction: nothing more to write in it, and the
     * row is not sent again while its outcome is not committed */
    ck_assert(!outbox_dirty(ob));
    outbox_deliver(ob, st, 1000 + BASE_MS);
    ck_assert_int_eq(outbox_stats(ob).retried, 1);
    ck_assert_int_eq(store_rollback(st), STORE_OK);
    outbox_flush_end(ob, false);
    ck_assert(outbox_dirty(ob));
    outbox_msg_t *m;
    ck_assert_int_eq(rows(&m), 1);
    ck_assert_int_eq(m[0].attempts, 0);
    flush();
    ck_assert(!outbox_dirty(ob));
    ck_assert_int_eq(rows(&m), 1);
    ck_assert_int_eq(m[0].attempts, 1);
    ck_assert_int_eq(m[0].not_before, 1000 + BASE_MS);
}
END_TEST

START_TEST(address_without_a_transport_is_dropped)
{
    new_outbox(false, 10); /* push disabled */
    create_task("t", "http://127.0.0.1:9/");
    outbox_deliver(ob, st, 1000);
    flush();
    outbox_msg_t *m;
    ck_assert_int_eq(rows(&m), 0);
    ck_assert_int_eq(fake_store_calls(FAKE_OUTBOX_DELETE), 1);
}
END_TEST

START_TEST(deliver_reports_a_full_batch_so_the_caller_comes_back)
{
    new_outbox(false, 2);
    create_task("a", "poll://any@nobody");
    create_task("b", "poll://any@nobody");
    create_task("c", "poll://any@nobody");
    ck_assert(outbox_deliver(ob, st, 1000));
    flush();
    /* One row left due at 1000: not a full batch. */
    ck_assert(!outbox_deliver(ob, st, 1000));
    flush();
    outbox_msg_t *m;
    ck_assert_int_eq(rows(&m), 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(m[i].attempts, 1);
}
END_TEST

static Suite *outbox_suite(void)
{
    Suite *s = suite_create("outbox");
    TCase *tc = tcase_create("delivery");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, shared_outbox_leaves_a_poll_row_to_other_servers_until_it_is_orphaned);
    tcase_add_test(tc, failed_delivery_backs_off_doubling_to_the_ceiling_then_is_dropped);
    tcase_add_test(tc, outbox_is_looked_at_only_when_something_can_be_due);
    tcase_add_test(tc, in_flight_rows_are_found_whatever_order_they_are_taken_in);
    tcase_add_test(tc, delivered_push_deletes_its_row_at_the_next_flush);
    tcase_add_test(tc, row_in_flight_is_not_sent_twice);
    tcase_add_test(tc, stale_execute_is_dropped_unsent);
    tcase_add_test(tc, newer_execute_queued_while_older_is_in_flight_survives_its_flush);
    tcase_add_test(tc, storage_error_while_building_a_message_keeps_the_row_for_a_retry);
    tcase_add_test(tc, failed_flush_keeps_its_outcomes_for_the_next_transaction);
    tcase_add_test(tc,
                   outcomes_written_into_a_rolled_back_transaction_are_written_again_by_the_next);
    tcase_add_test(tc, outcomes_are_written_to_the_store_without_the_outbox_lock_held);
    tcase_add_test(tc, address_without_a_transport_is_dropped);
    tcase_add_test(tc, deliver_reports_a_full_batch_so_the_caller_comes_back);
    tcase_add_test(tc, a_slow_push_target_holds_at_most_max_queued_requests_the_rest_stay_due);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(outbox_suite)
