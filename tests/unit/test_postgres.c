/* test_postgres.c - what the PostgreSQL adapter adds to the port's contract
 * (test_sqlite.c runs that contract against it): migrations by several
 * servers at once, row locks and conflicts between connections, losing and
 * regaining the connection, leadership, outbox claims and notifications.
 *
 * Runs when RESONATE_TEST_PG_URL names a database the tests may empty and
 * rebuild (scripts/pg-cluster.sh starts one; tests/run.sh does it itself). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "store/postgres.h"
#include "tests/unit/unit.h"

#define OK(st, call) ck_assert_msg((call) == STORE_OK, "%s: %s", #call, store_errmsg(st))

static const char *url(void)
{
    return getenv("RESONATE_TEST_PG_URL");
}

static store_t *open_pg(void)
{
    char err[512] = "";
    store_t *st = store_postgres_open(url(), err, sizeof err);
    ck_assert_msg(st != NULL, "open: %s", err);
    return st;
}

static store_t *a_st, *b_st; /* two servers' writers */
static arena_t *ar;

static void setup(void)
{
    a_st = open_pg();
    b_st = open_pg();
    OK(a_st, store_reset(a_st));
    ar = arena_new();
}

static void teardown(void)
{
    store_close(a_st);
    store_close(b_st);
    a_st = b_st = NULL;
    arena_free(ar);
}

static promise_t pending(const char *id)
{
    promise_t p = {0};
    p.id = id;
    p.state = PSTATE_PENDING;
    p.timeout_at = INT64_C(1) << 50;
    p.created_at = 1;
    return p;
}

/* ---- schema ---------------------------------------------------------------- */

static void *open_and_close(void *arg)
{
    char err[512] = "";
    store_t *st = store_postgres_open(url(), err, sizeof err);
    if (!st)
        snprintf(arg, 512, "%s", err);
    store_close(st);
    return NULL;
}

START_TEST(servers_starting_together_migrate_the_schema_once)
{
    /* An empty database, then four servers at once. */
    OK(a_st, store_postgres_exec(a_st, "DROP TABLE promises, promise_tags, callbacks, listeners, "
                                       "tasks, task_timers, outbox, schedules, health, fanouts, "
                                       "resonate_schema"));
    enum { N = 4 };
    pthread_t th[N];
    char errs[N][512];
    for (int i = 0; i < N; i++) {
        errs[i][0] = '\0';
        ck_assert_int_eq(pthread_create(&th[i], NULL, open_and_close, errs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(errs[i][0] == '\0', "server %d: %s", i, errs[i]);
    }
    /* One version row; the tables work. */
    store_close(a_st);
    a_st = open_pg();
    OK(a_st, store_postgres_exec(a_st, "DO $$ BEGIN IF (SELECT count(*) FROM resonate_schema) "
                                       "<> 1 THEN RAISE 'version rows'; END IF; END $$"));
    promise_t p = pending("m");
    OK(a_st, store_promise_insert(a_st, &p));
}
END_TEST

START_TEST(a_database_with_a_newer_schema_is_refused_untouched)
{
    OK(a_st, store_postgres_exec(a_st, "UPDATE resonate_schema SET version = 99"));
    char err[512] = "";
    store_t *st = store_postgres_open(url(), err, sizeof err);
    char restore[64];
    snprintf(restore, sizeof restore, "UPDATE resonate_schema SET version = %d", PG_SCHEMA_VERSION);
    OK(a_st, store_postgres_exec(a_st, restore));
    ck_assert_ptr_null(st);
    ck_assert_ptr_nonnull(strstr(err, "schema version 99 is newer than this build supports"));
}
END_TEST

/* Version 2 indexes tags (promise_tags): a database of version 1 gains the
 * index, filled with the tags of the promises it already holds. */
START_TEST(a_version_1_database_gains_the_tag_index_of_the_promises_it_holds)
{
    kv_t both[] = {{"a", "1"}, {"b", "2"}}, one[] = {{"a", "1"}};
    promise_t p1 = pending("t1"), p2 = pending("t2"), p3 = pending("t3");
    p1.tags = (kvmap_t){both, 2};
    p2.tags = (kvmap_t){one, 1};
    OK(a_st, store_promise_insert(a_st, &p1));
    OK(a_st, store_promise_insert(a_st, &p2));
    OK(a_st, store_promise_insert(a_st, &p3));
    OK(a_st, store_postgres_exec(a_st, "DROP TABLE promise_tags; DROP TABLE fanouts;"
                                       " DROP INDEX outbox_due;"
                                       " UPDATE resonate_schema SET version = 1"));
    store_close(a_st);
    a_st = open_pg();
    search_req_t q = {.limit = 10, .tags = {one, 1}};
    promise_t *ps;
    size_t n;
    const char *cursor;
    OK(a_st, store_promise_search(a_st, ar, &q, &ps, &n, &cursor));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(ps[0].id, "t1");
    ck_assert_str_eq(ps[1].id, "t2");
    q.tags = (kvmap_t){both, 2};
    OK(a_st, store_promise_search(a_st, ar, &q, &ps, &n, &cursor));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ps[0].id, "t1");
    ck_assert_ptr_null(cursor);
}
END_TEST

START_TEST(an_unreachable_database_fails_the_open_with_what_to_check)
{
    char err[512] = "";
    store_t *st =
        store_postgres_open("postgresql:///resonate?host=/nonexistent-dir", err, sizeof err);
    ck_assert_ptr_null(st);
    ck_assert_ptr_nonnull(strstr(err, "cannot connect to PostgreSQL"));
    ck_assert_ptr_nonnull(strstr(err, "storage.postgres.url"));
}
END_TEST

/* ---- two writers --------------------------------------------------------------- */

/* rc, a write's result inside a transaction, or else that of then (the
 * next call that waits for results) is a conflict; rolls back. */
static void expect_conflict(store_t *st, int rc, int (*then)(store_t *))
{
    if (rc == STORE_OK)
        rc = then(st);
    ck_assert_int_eq(rc, STORE_ERR);
    ck_assert_int_eq(store_fault(st), STORE_FAULT_CONFLICT);
    OK(st, store_rollback(st));
}

START_TEST(a_second_insert_of_one_id_is_a_conflict_to_retry)
{
    promise_t p = pending("dup");
    OK(a_st, store_begin(a_st));
    OK(a_st, store_promise_insert(a_st, &p));
    OK(a_st, store_commit(a_st));
    /* outside a transaction at once */
    ck_assert_int_eq(store_promise_insert(b_st, &p), STORE_ERR);
    ck_assert_int_eq(store_fault(b_st), STORE_FAULT_CONFLICT);
    /* inside one (pipelined) at the latest at the commit */
    OK(b_st, store_begin(b_st));
    expect_conflict(b_st, store_promise_insert(b_st, &p), store_commit);
    /* a retry sees the row */
    OK(b_st, store_begin(b_st));
    promise_t *got = NULL;
    OK(b_st, store_promise_get(b_st, ar, "dup", &got));
    ck_assert_ptr_nonnull(got);
    OK(b_st, store_commit(b_st));
}
END_TEST

/* ---- pipelined writes ---------------------------------------------------------- */

START_TEST(writes_of_a_transaction_are_seen_by_its_next_read_in_order)
{
    promise_t p = pending("w");
    pvalue_t v = {.data = "done"};
    promise_t *got = NULL;
    task_t *t = NULL;
    OK(a_st, store_begin(a_st));
    OK(a_st, store_promise_insert(a_st, &p));
    OK(a_st, store_task_insert(a_st, "w", TSTATE_PENDING, 0));
    OK(a_st, store_promise_get(a_st, ar, "w", &got));
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(got->state, PSTATE_PENDING);
    OK(a_st, store_promise_settle(a_st, "w", PSTATE_RESOLVED, &v, 7));
    OK(a_st, store_task_update(a_st, "w", TSTATE_FULFILLED, 3));
    OK(a_st, store_promise_get(a_st, ar, "w", &got));
    ck_assert_int_eq(got->state, PSTATE_RESOLVED);
    ck_assert_str_eq(got->value.data, "done");
    OK(a_st, store_task_get(a_st, ar, "w", &t));
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->state, TSTATE_FULFILLED);
    ck_assert_int_eq(t->version, 3);
    OK(a_st, store_commit(a_st));
    OK(b_st, store_promise_get(b_st, ar, "w", &got));
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(got->state, PSTATE_RESOLVED);
}
END_TEST

START_TEST(a_failed_pipelined_write_fails_the_next_read_and_nothing_of_it_is_kept)
{
    promise_t dup = pending("dup"), first = pending("first");
    OK(a_st, store_promise_insert(a_st, &dup));
    OK(b_st, store_begin(b_st));
    OK(b_st, store_promise_insert(b_st, &first));
    int rc = store_promise_insert(b_st, &dup);
    if (rc == STORE_OK)
        rc = store_task_insert(b_st, "t", TSTATE_PENDING, 0);
    promise_t *got = NULL;
    if (rc == STORE_OK)
        rc = store_promise_get(b_st, ar, "first", &got);
    ck_assert_int_eq(rc, STORE_ERR);
    ck_assert_int_eq(store_fault(b_st), STORE_FAULT_CONFLICT);
    ck_assert_msg(strstr(store_errmsg(b_st), "promise_insert") != NULL, "errmsg: %s",
                  store_errmsg(b_st));
    /* a commit now cannot keep anything */
    ck_assert_int_eq(store_commit(b_st), STORE_ERR);
    OK(b_st, store_rollback(b_st));
    got = (promise_t *)1;
    OK(b_st, store_promise_get(b_st, ar, "first", &got));
    ck_assert_ptr_null(got);
    task_t *t = (task_t *)1;
    OK(b_st, store_task_get(b_st, ar, "t", &t));
    ck_assert_ptr_null(t);
    /* and the connection goes on */
    OK(b_st, store_begin(b_st));
    OK(b_st, store_promise_insert(b_st, &first));
    OK(b_st, store_commit(b_st));
    OK(a_st, store_promise_get(a_st, ar, "first", &got));
    ck_assert_ptr_nonnull(got);
}
END_TEST

START_TEST(a_failed_write_found_at_commit_fails_it_with_its_own_class)
{
    promise_t ok = pending("ok"), bad = pending("bad\xff\xfe"); /* not UTF-8: refused */
    OK(a_st, store_begin(a_st));
    OK(a_st, store_promise_insert(a_st, &ok));
    int rc = store_promise_insert(a_st, &bad);
    if (rc == STORE_OK)
        rc = store_commit(a_st);
    ck_assert_int_eq(rc, STORE_ERR);
    /* not a race: the store thread reruns with a savepoint per request */
    ck_assert_int_eq(store_fault(a_st), STORE_FAULT_NONE);
    ck_assert_msg(strstr(store_errmsg(a_st), "promise_insert") != NULL, "errmsg: %s",
                  store_errmsg(a_st));
    OK(a_st, store_rollback(a_st));
    promise_t *got = (promise_t *)1;
    OK(a_st, store_promise_get(a_st, ar, "ok", &got));
    ck_assert_ptr_null(got);
}
END_TEST

START_TEST(a_savepoint_checks_the_writes_before_it)
{
    promise_t dup = pending("dup");
    OK(a_st, store_promise_insert(a_st, &dup));
    OK(b_st, store_begin(b_st));
    expect_conflict(b_st, store_promise_insert(b_st, &dup), store_savepoint);
    /* after a savepoint, writes fail at once, in their own request */
    OK(b_st, store_begin(b_st));
    OK(b_st, store_savepoint(b_st));
    ck_assert_int_eq(store_promise_insert(b_st, &dup), STORE_ERR);
    ck_assert_int_eq(store_fault(b_st), STORE_FAULT_CONFLICT);
    OK(b_st, store_rollback_to(b_st));
    promise_t other = pending("other");
    OK(b_st, store_promise_insert(b_st, &other));
    OK(b_st, store_commit(b_st));
    promise_t *got = NULL;
    OK(a_st, store_promise_get(a_st, ar, "other", &got));
    ck_assert_ptr_nonnull(got);
}
END_TEST

START_TEST(a_transaction_of_many_writes_is_kept_whole_or_not_at_all)
{
    enum { N = 300 }; /* past the pipeline's bound of pending results */
    char ids[N][16];
    for (int i = 0; i < N; i++)
        snprintf(ids[i], sizeof ids[i], "m%03d", i);
    OK(a_st, store_begin(a_st));
    for (int i = 0; i < N; i++) {
        promise_t p = pending(ids[i]);
        OK(a_st, store_promise_insert(a_st, &p));
    }
    OK(a_st, store_commit(a_st));
    search_req_t q = {.limit = N + 10, .id_prefix = "m"};
    promise_t *ps;
    size_t n;
    const char *cursor;
    OK(b_st, store_promise_search(b_st, ar, &q, &ps, &n, &cursor));
    ck_assert_uint_eq(n, N);
    /* again, with one duplicate late in the batch: nothing new is kept */
    OK(a_st, store_begin(a_st));
    int rc = STORE_OK;
    for (int i = 0; i < N && rc == STORE_OK; i++) {
        promise_t p = pending(i == 250 ? "m000" : arena_printf(ar, "n%03d", i));
        rc = store_promise_insert(a_st, &p);
    }
    expect_conflict(a_st, rc, store_commit);
    q.id_prefix = "n";
    OK(b_st, store_promise_search(b_st, ar, &q, &ps, &n, &cursor));
    ck_assert_uint_eq(n, 0);
}
END_TEST

typedef struct {
    _Atomic bool done;
    pstate_t seen;
    char err[512];
} getter_t;

/* Server B reads "x" for write (and releases at commit). */
static void *locked_get(void *arg)
{
    getter_t *g = arg;
    arena_t *a = arena_new();
    promise_t *p = NULL;
    if (store_begin(b_st) != STORE_OK || store_promise_get(b_st, a, "x", &p) != STORE_OK || !p ||
        store_commit(b_st) != STORE_OK)
        snprintf(g->err, sizeof g->err, "%s", p ? store_errmsg(b_st) : "no row");
    else
        g->seen = p->state;
    arena_free(a);
    atomic_store(&g->done, true);
    return NULL;
}

START_TEST(a_read_for_write_waits_for_the_other_writer_and_sees_its_commit)
{
    promise_t p = pending("x");
    OK(a_st, store_promise_insert(a_st, &p));
    OK(a_st, store_begin(a_st));
    promise_t *mine = NULL;
    OK(a_st, store_promise_get(a_st, ar, "x", &mine));
    ck_assert_ptr_nonnull(mine);
    getter_t g = {.seen = PSTATE_PENDING};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, locked_get, &g), 0);
    unit_sleep_ms(300);
    ck_assert_msg(!atomic_load(&g.done), "B read the row while A held it");
    pvalue_t v = {0};
    OK(a_st, store_promise_settle(a_st, "x", PSTATE_RESOLVED, &v, 5));
    OK(a_st, store_commit(a_st));
    pthread_join(th, NULL);
    ck_assert_msg(g.err[0] == '\0', "B: %s", g.err);
    ck_assert_int_eq(g.seen, PSTATE_RESOLVED);
}
END_TEST

START_TEST(a_lost_connection_is_down_and_check_reconnects)
{
    ck_assert_int_eq(store_postgres_exec(a_st, "SELECT pg_terminate_backend(pg_backend_pid())"),
                     STORE_ERR);
    ck_assert_int_eq(store_fault(a_st), STORE_FAULT_DOWN);
    ck_assert_ptr_nonnull(strstr(store_errmsg(a_st), "reconnects by itself"));
    promise_t *got = NULL;
    ck_assert_int_eq(store_promise_get(a_st, ar, "nope", &got), STORE_ERR);
    ck_assert_int_eq(store_fault(a_st), STORE_FAULT_DOWN);
    OK(a_st, store_check(a_st));
    OK(a_st, store_ping(a_st));
    promise_t p = pending("after");
    OK(a_st, store_promise_insert(a_st, &p));
}
END_TEST

/* The database ends the session of a server whose host died (and frees its
 * leader lock) within PG_DEAD_PEER_S: the session sets TCP keepalives and a
 * user timeout. Over a Unix socket PostgreSQL shows them as 0, so what is
 * checked is that the session set them (the effect needs TCP: a host cut
 * off behind a veth, see the commit that added this). */
START_TEST(a_session_sets_the_tcp_bounds_that_end_it_when_its_host_dies)
{
    OK(a_st,
       store_postgres_exec(
           a_st, "DO $$ BEGIN IF (SELECT count(*) FROM pg_settings WHERE source = 'session'"
                 " AND name IN ('tcp_keepalives_idle', 'tcp_keepalives_interval',"
                 " 'tcp_keepalives_count', 'tcp_user_timeout')) <> 4 THEN RAISE EXCEPTION"
                 " 'TCP keepalives and user timeout not set by the session'; END IF; END $$"));
}
END_TEST

START_TEST(a_commit_after_the_transaction_failed_is_not_reported_as_kept)
{
    OK(a_st, store_begin(a_st));
    ck_assert_int_eq(store_postgres_exec(a_st, "SELECT 1/0"), STORE_ERR);
    ck_assert_int_eq(store_commit(a_st), STORE_ERR);
    ck_assert_ptr_nonnull(strstr(store_errmsg(a_st), "rolled back"));
}
END_TEST

/* ---- several servers ----------------------------------------------------------- */

START_TEST(one_leader_at_a_time_and_another_takes_over_when_it_closes)
{
    bool la = false, lb = true;
    OK(a_st, store_leader(a_st, &la));
    OK(b_st, store_leader(b_st, &lb));
    ck_assert(la);
    ck_assert(!lb);
    store_close(a_st);
    a_st = open_pg();
    int64_t until = unit_mono_ms() + 3000;
    while (!lb && unit_mono_ms() < until) {
        OK(b_st, store_leader(b_st, &lb));
        if (!lb)
            unit_sleep_ms(20);
    }
    ck_assert(lb);
    OK(a_st, store_leader(a_st, &la));
    ck_assert(!la);
}
END_TEST

START_TEST(one_claim_of_a_message_wins_until_it_expires)
{
    OK(a_st, store_outbox_unblock(a_st, "p", "poll://any@g"));
    outbox_msg_t *m;
    size_t n;
    OK(a_st, store_outbox_due(a_st, ar, 100, 10, &m, &n));
    ck_assert_uint_eq(n, 1);
    bool won = false;
    OK(a_st, store_outbox_claim(a_st, m[0].seq, 100, 200, &won));
    ck_assert(won);
    OK(b_st, store_outbox_claim(b_st, m[0].seq, 150, 250, &won));
    ck_assert(!won);
    /* claimed rows are not due for anyone until the claim ends */
    OK(b_st, store_outbox_due(b_st, ar, 150, 10, &m, &n));
    ck_assert_uint_eq(n, 0);
    OK(b_st, store_outbox_due(b_st, ar, 200, 10, &m, &n));
    ck_assert_uint_eq(n, 1);
    OK(b_st, store_outbox_claim(b_st, m[0].seq, 200, 300, &won));
    ck_assert(won);
    /* a defer ends the claim */
    OK(b_st, store_outbox_defer(b_st, m[0].seq, 0, 1));
    OK(a_st, store_outbox_due(a_st, ar, 201, 10, &m, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(m[0].attempts, 1);
}
END_TEST

static _Atomic int wakes;

static void count_wake(void *arg)
{
    (void)arg;
    atomic_fetch_add(&wakes, 1);
}

static bool wait_wakes(int at_least, long ms)
{
    int64_t until = unit_mono_ms() + ms;
    while (atomic_load(&wakes) < at_least && unit_mono_ms() < until)
        unit_sleep_ms(5);
    return atomic_load(&wakes) >= at_least;
}

START_TEST(a_commit_that_queues_a_message_wakes_the_other_servers)
{
    atomic_store(&wakes, 0);
    OK(b_st, store_watch(b_st, count_wake, NULL));
    ck_assert(wait_wakes(1, 3000)); /* once at connect: something may be queued */
    unit_sleep_ms(100);
    atomic_store(&wakes, 0);
    /* rolled back: nothing to say */
    OK(a_st, store_begin(a_st));
    OK(a_st, store_outbox_unblock(a_st, "p", "poll://any@g"));
    OK(a_st, store_rollback(a_st));
    /* committed: B hears of it promptly */
    int64_t t0 = unit_mono_ms();
    OK(a_st, store_begin(a_st));
    OK(a_st, store_outbox_execute(a_st, "t", 1, "poll://any@g", 0));
    OK(a_st, store_commit(a_st));
    ck_assert(wait_wakes(1, 2000));
    ck_assert_int_lt(unit_mono_ms() - t0, 1000);
    ck_assert_int_eq(atomic_load(&wakes), 1);
    /* B's own commits are not news to B */
    OK(b_st, store_begin(b_st));
    OK(b_st, store_outbox_unblock(b_st, "q", "poll://any@g"));
    OK(b_st, store_commit(b_st));
    unit_sleep_ms(300);
    ck_assert_int_eq(atomic_load(&wakes), 1);
}
END_TEST

/* ---- text ---------------------------------------------------------------------- */

START_TEST(a_prefix_search_takes_exactly_the_ids_that_start_with_it_in_byte_order)
{
    static const char *const ids[] = {
        "ab",
        "abc",
        "ab\xc3\xbf",
        "ab\xf4\x8f\xbf\xbf",
        "ab\xf4\x8f\xbf\xbfz",
        "ab\xef\xbf\xbf",
        "ac",
        "aa",
        "ab\xed\x9f\xbf",
    };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        promise_t p = pending(ids[i]);
        OK(a_st, store_promise_insert(a_st, &p));
    }
    search_req_t q = {.limit = 100, .id_prefix = "ab"};
    promise_t *ps;
    size_t n;
    const char *cursor;
    OK(a_st, store_promise_search(a_st, ar, &q, &ps, &n, &cursor));
    ck_assert_uint_eq(n, 7);
    const char *const want[] = {"ab",
                                "abc",
                                "ab\xc3\xbf",
                                "ab\xed\x9f\xbf",
                                "ab\xef\xbf\xbf",
                                "ab\xf4\x8f\xbf\xbf",
                                "ab\xf4\x8f\xbf\xbfz"};
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(ps[i].id, want[i]);
    /* a prefix ending in U+D7FF (the next is U+E000) and in U+10FFFF (none) */
    q.id_prefix = "ab\xed\x9f\xbf";
    OK(a_st, store_promise_search(a_st, ar, &q, &ps, &n, &cursor));
    ck_assert_uint_eq(n, 1);
    q.id_prefix = "ab\xf4\x8f\xbf\xbf";
    OK(a_st, store_promise_search(a_st, ar, &q, &ps, &n, &cursor));
    ck_assert_uint_eq(n, 2);
}
END_TEST

/* ---- searches ------------------------------------------------------------------ */

/* Pages search q (promises, or schedules when sched) to its end; returns the
 * number of calls and the ids found, joined by commas, in *found. */
static size_t page_all(search_req_t q, bool sched, char *found, size_t len)
{
    size_t calls = 0, at = 0;
    found[0] = '\0';
    const char *cursor;
    do {
        size_t n;
        const char **ids = NULL;
        if (sched) {
            schedule_t *ss;
            OK(a_st, store_schedule_search(a_st, ar, &q, &ss, &n, &cursor));
            ids = n ? arena_alloc(ar, n * sizeof *ids) : NULL;
            for (size_t i = 0; i < n; i++)
                ids[i] = ss[i].id;
        } else {
            promise_t *ps;
            OK(a_st, store_promise_search(a_st, ar, &q, &ps, &n, &cursor));
            ids = n ? arena_alloc(ar, n * sizeof *ids) : NULL;
            for (size_t i = 0; i < n; i++)
                ids[i] = ps[i].id;
        }
        for (size_t i = 0; i < n; i++)
            at += (size_t)snprintf(found + at, len - at, "%s%s", at ? "," : "", ids[i]);
        if (cursor)
            ck_assert_msg(!q.cursor || strcmp(cursor, q.cursor) > 0, "cursor goes back");
        q.cursor = cursor;
        calls++;
    } while (q.cursor && calls < 100);
    return calls;
}

/* A tag search's range bounds the primary key too: when every row has the
 * tag, the planner merges the tag's rows with the primary key, whose scan
 * started at its first row when only promise_tags was bounded, so a page
 * far into the ids (a cursor, or a tenant whose prefix sorts late) read
 * every key before it. Counted by the key's index reads (pg_stat): 19,414
 * without the bound on promises.id, about 1,300 with it. */
START_TEST(a_tag_search_far_into_the_ids_reads_the_key_from_its_range_only)
{
    kv_t t[] = {{"k", "v"}};
    OK(a_st, store_begin(a_st));
    for (size_t i = 0; i < 20000; i++) {
        promise_t p = pending(arena_printf(ar, "p%06zu", i));
        p.tags = (kvmap_t){t, 1};
        OK(a_st, store_promise_insert(a_st, &p));
    }
    OK(a_st, store_commit(a_st));
    OK(a_st, store_postgres_exec(a_st, "ANALYZE promises, promise_tags"));
    OK(a_st, store_postgres_exec(a_st, "SELECT pg_stat_force_next_flush()"));
    OK(a_st, store_postgres_exec(a_st, "CREATE TEMP TABLE key_reads AS SELECT idx_tup_read AS n"
                                       " FROM pg_stat_user_indexes"
                                       " WHERE indexrelname = 'promises_pkey'"));
    search_req_t q = {.limit = 100, .cursor = "p019000", .tags = {t, 1}};
    promise_t *ps;
    size_t n;
    const char *cursor;
    OK(a_st, store_promise_search(a_st, ar, &q, &ps, &n, &cursor));
    ck_assert_uint_eq(n, 100);
    ck_assert_str_eq(ps[0].id, "p019001");
    OK(a_st, store_postgres_exec(a_st, "SELECT pg_stat_force_next_flush()"));
    OK(a_st, store_postgres_exec(
                 a_st, "DO $$ DECLARE d bigint; BEGIN SELECT s.idx_tup_read - k.n INTO d"
                       " FROM pg_stat_user_indexes s, key_reads k"
                       " WHERE s.indexrelname = 'promises_pkey';"
                       " IF d > 5000 THEN RAISE 'the primary key was read % times', d; END IF;"
                       " END $$"));
}
END_TEST

/* A search page of large records ends at STORE_SEARCH_MAX_BYTES, and so
 * does what libpq receives for it: the rows kept and the one after them,
 * never the whole LIMIT (a tenant's search of limit 1000 over promises of
 * ~2 MB each would otherwise make libpq hold gigabytes in the server's
 * memory for a page of 4 MiB). Also a tag search, a schedule search and a
 * preload (tasks.preload_max_bytes). */
START_TEST(a_page_cut_by_its_byte_budget_is_not_received_whole)
{
    size_t big = STORE_SEARCH_MAX_BYTES / 3 + 1; /* two fit, not three */
    char *data = malloc(big + 1);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', big);
    data[big] = '\0';
    kv_t t[] = {{"k", "v"}, {"resonate:branch", "root"}};
    OK(a_st, store_begin(a_st));
    for (size_t i = 0; i < 12; i++) {
        promise_t p = pending(arena_printf(ar, "p%02zu", i));
        p.param.data = data;
        p.tags = (kvmap_t){t, 2};
        OK(a_st, store_promise_insert(a_st, &p));
        schedule_t sc = {.id = arena_printf(ar, "s%02zu", i),
                         .cron = "* * * * *",
                         .promise_id = "x",
                         .promise_timeout = 1000,
                         .promise_param = {.data = data},
                         .promise_tags = {t, 1},
                         .created_at = 1,
                         .next_run_at = 1};
        OK(a_st, store_schedule_insert(a_st, &sc));
    }
    OK(a_st, store_commit(a_st));
    free(data);

    promise_t *ps;
    schedule_t *ss;
    size_t n, before;
    bool more;
    const char *cursor;
    search_req_t q = {.limit = 1000};
    search_req_t by_tag = {.limit = 1000, .tags = {t, 1}};
    search_req_t by_state = {.limit = 1000, .has_state = true, .state = PSTATE_PENDING};
    search_req_t *qs[] = {&q, &by_tag, &by_state};
    for (size_t i = 0; i < 3; i++) {
        before = store_postgres_rows_received(a_st);
        OK(a_st, store_promise_search(a_st, ar, qs[i], &ps, &n, &cursor));
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(cursor, "p01");
        ck_assert_uint_le(store_postgres_rows_received(a_st) - before, 4);
    }
    before = store_postgres_rows_received(a_st);
    OK(a_st, store_schedule_search(a_st, ar, &q, &ss, &n, &cursor));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(cursor, "s01");
    ck_assert_uint_le(store_postgres_rows_received(a_st) - before, 4);
    /* A preload keeps what fits whole: one of these, in a budget of two
     * thirds of the page budget. */
    before = store_postgres_rows_received(a_st);
    OK(a_st, store_promise_branch(a_st, ar, "root", NULL, 1000, 2 * big - 1, &ps, &n, &more));
    ck_assert_uint_eq(n, 1);
    ck_assert(more);
    ck_assert_uint_le(store_postgres_rows_received(a_st) - before, 3);
    /* Without a byte budget the preload is the whole branch. */
    OK(a_st, store_promise_branch(a_st, ar, "root", NULL, 1000, 0, &ps, &n, &more));
    ck_assert_uint_eq(n, 12);
    ck_assert(!more);
}
END_TEST

/* A tag search reads the rows of its first tag from the index (promise_tags)
 * and rejects those of another state or without the other tags: at most
 * PG_SEARCH_SCAN_MAX of them per call, then a cursor past them. A search by
 * that tag alone rejects nothing and answers a full page at once. */
START_TEST(a_tag_search_examines_at_most_the_scan_cap_per_call_and_pages_on)
{
    size_t total = 2 * PG_SEARCH_SCAN_MAX + 10;
    kv_t y[] = {{"y", "1"}}, xy[] = {{"x", "1"}, {"y", "1"}};
    OK(a_st, store_begin(a_st));
    for (size_t i = 0; i < total; i++) {
        promise_t p = pending(arena_printf(ar, "p%06zu", i));
        p.tags = (kvmap_t){y, 1};
        OK(a_st, store_promise_insert(a_st, &p));
        schedule_t sc = {.id = arena_printf(ar, "s%06zu", i),
                         .cron = "* * * * *",
                         .promise_id = "x",
                         .promise_timeout = 1000,
                         .promise_tags = {y, 1},
                         .created_at = 1,
                         .next_run_at = 1};
        OK(a_st, store_schedule_insert(a_st, &sc));
    }
    promise_t z = pending("z");
    z.state = PSTATE_RESOLVED;
    z.tags = (kvmap_t){xy, 2};
    OK(a_st, store_promise_insert(a_st, &z));
    schedule_t sz = {.id = "z",
                     .cron = "* * * * *",
                     .promise_id = "x",
                     .promise_timeout = 1000,
                     .promise_tags = {xy, 2},
                     .created_at = 1,
                     .next_run_at = 1};
    OK(a_st, store_schedule_insert(a_st, &sz));
    OK(a_st, store_commit(a_st));

    char found[256];
    search_req_t q = {.limit = 10, .tags = {y, 1}, .has_state = true, .state = PSTATE_RESOLVED};
    ck_assert_uint_eq(page_all(q, false, found, sizeof found), 3);
    ck_assert_str_eq(found, "z");
    q = (search_req_t){.limit = 10, .tags = {xy, 2}};
    ck_assert_uint_eq(page_all(q, false, found, sizeof found), 1); /* x drives: one row */
    ck_assert_str_eq(found, "z");
    q = (search_req_t){.limit = 10, .tags = {y, 1}};
    promise_t *ps;
    size_t n;
    const char *cursor;
    OK(a_st, store_promise_search(a_st, ar, &q, &ps, &n, &cursor));
    ck_assert_uint_eq(n, 10);
    ck_assert_str_eq(cursor, "p000009");
    /* Schedules have no tag index: the cap bounds the rows read. */
    q = (search_req_t){.limit = 10, .tags = {xy, 2}};
    ck_assert_uint_eq(page_all(q, true, found, sizeof found), 3);
    ck_assert_str_eq(found, "z");
}
END_TEST

/* ---- background work racing requests on another server ---------------------- */

static const engine_config_t engine_cfg = {.retry_timeout = 30000};

/* Runs req at now on st in its own transaction; returns the status. */
static int apply(store_t *st, request_t *req, int64_t now, bool commit)
{
    response_t resp = {0};
    req->now = now;
    OK(st, store_begin(st));
    ck_assert_int_eq(engine_apply(&engine_cfg, st, ar, req, &resp), 0);
    if (commit)
        OK(st, store_commit(st));
    int status = resp.status;
    response_clear(&resp);
    return status;
}

/* Creates promise id with a task for a poll target at now (its retry timer
 * is due at now + 30 s). */
static void create_task(const char *id, int64_t now)
{
    request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
    kv_t *tag = arena_alloc(ar, sizeof *tag);
    *tag = (kv_t){"resonate:target", "poll://any@g"};
    r.u.promise_create = (promise_create_t){
        .id = id, .timeout_at = INT64_C(1) << 50, .tags = {.items = tag, .n = 1}};
    ck_assert_int_eq(apply(a_st, &r, now, true), 200);
}

/* Server B's task.acquire of id at version by pid (ttl 60 s), left
 * uncommitted when !commit: B then holds the task's row lock. */
static int acquire_on_b(const char *id, int64_t version, const char *pid, int64_t now, bool commit)
{
    request_t r = {.op = OP_TASK_ACQUIRE, .corr_id = "c"};
    r.u.task_acquire.id = id;
    r.u.task_acquire.version = version;
    r.u.task_acquire.pid = pid;
    r.u.task_acquire.ttl = 60000;
    return apply(b_st, &r, now, commit);
}

typedef struct {
    store_t *st;
    int64_t t;
    const char *pid; /* heartbeat: this pid's empty heartbeat; else a tick */
    _Atomic bool done;
    char err[512];
} racer_t;

/* Server A's tick at t, or heartbeat of pid, in one transaction. */
static void *race_on_a(void *arg)
{
    racer_t *r = arg;
    arena_t *a = arena_new();
    bool more = false;
    response_t resp = {0};
    request_t hb = {.op = OP_TASK_HEARTBEAT, .corr_id = "c", .now = r->t};
    hb.u.task_heartbeat.pid = r->pid;
    int rc = store_begin(r->st);
    if (rc == STORE_OK)
        rc = r->pid ? engine_apply(&engine_cfg, r->st, a, &hb, &resp)
                    : engine_tick(&engine_cfg, r->st, a, r->t, 0, &more);
    if (rc == STORE_OK)
        rc = store_commit(r->st);
    if (rc != STORE_OK) {
        snprintf(r->err, sizeof r->err, "%s", store_errmsg(r->st));
        store_rollback(r->st);
    }
    response_clear(&resp);
    arena_free(a);
    atomic_store(&r->done, true);
    return NULL;
}

/* Runs racer r on A while B holds the task's lock with its request
 * uncommitted, then commits B: A has read what it read before the lock. */
static void race_b_commit(racer_t *r)
{
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, race_on_a, r), 0);
    unit_sleep_ms(300);
    ck_assert_msg(!atomic_load(&r->done), "A did not wait for B's lock on the task");
    OK(b_st, store_commit(b_st));
    pthread_join(th, NULL);
    ck_assert_msg(r->err[0] == '\0', "A: %s", r->err);
}

START_TEST(a_retry_timer_due_at_a_tick_keeps_the_lease_of_an_acquire_committed_meanwhile)
{
    create_task("t", 1000);
    /* B acquires at 40 s while the retry timer (due at 31 s) is being
     * handled by A's tick: the lease (due at 100 s) must survive it. */
    ck_assert_int_eq(acquire_on_b("t", 0, "w1", 40000, false), 200);
    racer_t r = {.st = a_st, .t = 40000};
    race_b_commit(&r);
    task_timer_t *tm = NULL;
    OK(a_st, store_timer_get(a_st, ar, "t", &tm));
    ck_assert_msg(tm != NULL, "the tick deleted the lease taken meanwhile");
    ck_assert_int_eq(tm->type, TIMER_LEASE);
    ck_assert_int_eq(tm->timeout, 100000);
    task_t *t = NULL;
    OK(a_st, store_task_get(a_st, ar, "t", &t));
    ck_assert_int_eq(t->state, TSTATE_ACQUIRED);
}
END_TEST

START_TEST(an_expired_lease_at_a_tick_is_not_taken_from_a_new_acquire_committed_meanwhile)
{
    create_task("t", 1000);
    ck_assert_int_eq(acquire_on_b("t", 0, "w1", 2000, true), 200); /* lease due at 62 s */
    /* B, at 70 s: the lease has expired (B's own tick), and w2 acquires
     * version 1 (lease due at 130 s); A's tick at 70 s read w1's lease as
     * due before that commit. */
    OK(b_st, store_begin(b_st));
    bool more = false;
    ck_assert_int_eq(engine_tick(&engine_cfg, b_st, ar, 70000, 0, &more), 0);
    ck_assert_int_eq(acquire_on_b("t", 1, "w2", 70000, false), 200);
    racer_t r = {.st = a_st, .t = 70000};
    race_b_commit(&r);
    task_t *t = NULL;
    OK(a_st, store_task_get(a_st, ar, "t", &t));
    ck_assert_msg(t->state == TSTATE_ACQUIRED && t->version == 2,
                  "w2's lease was expired by a tick that read w1's (state %d, version %d)",
                  (int)t->state, (int)t->version);
    task_timer_t *tm = NULL;
    OK(a_st, store_timer_get(a_st, ar, "t", &tm));
    ck_assert_ptr_nonnull(tm);
    ck_assert_str_eq(tm->pid, "w2");
}
END_TEST

START_TEST(a_heartbeat_renews_only_the_lease_its_pid_holds_once_it_has_the_task_lock)
{
    create_task("t", 1000);
    ck_assert_int_eq(acquire_on_b("t", 0, "w1", 2000, true), 200); /* lease due at 62 s */
    /* B, at 70 s: w1's lease expires and w2 acquires; meanwhile A's empty
     * heartbeat of w1 has found w1's lease and waits for the task. */
    OK(b_st, store_begin(b_st));
    bool more = false;
    ck_assert_int_eq(engine_tick(&engine_cfg, b_st, ar, 70000, 0, &more), 0);
    ck_assert_int_eq(acquire_on_b("t", 1, "w2", 70000, false), 200);
    racer_t r = {.st = a_st, .t = 70000, .pid = "w1"};
    race_b_commit(&r);
    task_timer_t *tm = NULL;
    OK(a_st, store_timer_get(a_st, ar, "t", &tm));
    ck_assert_ptr_nonnull(tm);
    ck_assert_msg(strcmp(tm->pid, "w2") == 0 && tm->timeout == 130000,
                  "w1's heartbeat overwrote w2's lease: pid %s, timeout %lld", tm->pid,
                  (long long)tm->timeout);
}
END_TEST

START_TEST(a_schedule_deleted_on_another_server_while_a_tick_fires_it_creates_no_promise)
{
    request_t c = {.op = OP_SCHEDULE_CREATE, .corr_id = "c"};
    c.u.schedule_create = (schedule_create_t){.id = "s",
                                              .cron = "* * * * *",
                                              .promise_id = "job.{{.timestamp}}",
                                              .promise_timeout = 1000};
    ck_assert_int_eq(apply(a_st, &c, 1000, true), 200); /* due at 60 s */
    /* B deletes it at 61 s while A's tick at 61 s has read it as due. */
    request_t d = {.op = OP_SCHEDULE_DELETE, .corr_id = "c"};
    d.u.get.id = "s";
    ck_assert_int_eq(apply(b_st, &d, 61000, false), 200);
    racer_t r = {.st = a_st, .t = 61000};
    race_b_commit(&r);
    promise_t *p = NULL;
    OK(a_st, store_promise_get(a_st, ar, "job.60000", &p));
    ck_assert_msg(p == NULL, "a schedule deleted (200) before the tick's commit fired after it");
}
END_TEST

/* A fan-out left by a settlement (limits.settle_fanout_batch) is continued
 * by one server's tick at a time: while B's tick holds its row (not
 * committed), A's tick skips it at once (SKIP LOCKED) instead of waiting or
 * resuming the same awaiters; after B's commit A's next tick finishes it,
 * and every awaiter was resumed once. */
START_TEST(a_fanout_being_continued_by_one_server_is_skipped_by_the_others_tick)
{
    static const engine_config_t cfg = {.retry_timeout = 30000, .settle_fanout_batch = 2};
    request_t c = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
    c.u.promise_create = (promise_create_t){.id = "root", .timeout_at = INT64_C(1) << 50};
    ck_assert_int_eq(apply(a_st, &c, 1000, true), 200);
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "w%d", i);
        create_task(id, 1000);
        OK(a_st, store_task_update(a_st, id, TSTATE_SUSPENDED, 1));
        OK(a_st, store_timer_delete(a_st, id));
        OK(a_st, store_callback_insert(a_st, "root", id, false));
    }
    request_t st = {.op = OP_PROMISE_SETTLE, .corr_id = "c", .now = 2000};
    st.u.promise_settle = (promise_settle_t){.id = "root", .state = PSTATE_RESOLVED};
    response_t resp = {0};
    OK(a_st, store_begin(a_st));
    ck_assert_int_eq(engine_apply(&cfg, a_st, ar, &st, &resp), 0);
    OK(a_st, store_commit(a_st));
    response_clear(&resp);

    bool more = false;
    OK(b_st, store_begin(b_st));
    ck_assert_int_eq(engine_tick(&cfg, b_st, ar, 3000, 1000, &more), 0); /* w2, w3 */
    ck_assert(more);
    OK(a_st, store_begin(a_st));
    ck_assert_msg(engine_tick(&cfg, a_st, ar, 3000, 1000, &more) == 0, "A's tick: %s",
                  store_errmsg(a_st));
    OK(a_st, store_commit(a_st));
    task_t *t = NULL;
    OK(a_st, store_task_get(a_st, ar, "w4", &t));
    ck_assert_msg(t->state == TSTATE_SUSPENDED, "A continued the fan-out B holds");
    OK(b_st, store_commit(b_st));
    OK(a_st, store_begin(a_st));
    ck_assert_int_eq(engine_tick(&cfg, a_st, ar, 3100, 1000, &more), 0); /* w4 */
    OK(a_st, store_commit(a_st));
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "w%d", i);
        OK(a_st, store_task_get(a_st, ar, id, &t));
        ck_assert_msg(t->state == TSTATE_PENDING && t->version == 1 && t->resumes == 1,
                      "%s: state %d version %d resumes %d", id, (int)t->state, (int)t->version,
                      (int)t->resumes);
    }
    fanout_t *fs;
    size_t n;
    OK(a_st, store_fanout_due(a_st, ar, 0, &fs, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

static Suite *postgres_suite(void)
{
    Suite *s = suite_create("postgres");
    if (!url()) {
        fprintf(stderr, "postgres adapter tests SKIPPED: RESONATE_TEST_PG_URL is not set "
                        "(scripts/pg-cluster.sh start prints one)\n");
        return s;
    }
    TCase *tc = tcase_create("postgres");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, servers_starting_together_migrate_the_schema_once);
    tcase_add_test(tc, a_database_with_a_newer_schema_is_refused_untouched);
    tcase_add_test(tc, a_version_1_database_gains_the_tag_index_of_the_promises_it_holds);
    tcase_add_test(tc, an_unreachable_database_fails_the_open_with_what_to_check);
    tcase_add_test(tc, a_second_insert_of_one_id_is_a_conflict_to_retry);
    tcase_add_test(tc, writes_of_a_transaction_are_seen_by_its_next_read_in_order);
    tcase_add_test(tc, a_failed_pipelined_write_fails_the_next_read_and_nothing_of_it_is_kept);
    tcase_add_test(tc, a_failed_write_found_at_commit_fails_it_with_its_own_class);
    tcase_add_test(tc, a_savepoint_checks_the_writes_before_it);
    tcase_add_test(tc, a_transaction_of_many_writes_is_kept_whole_or_not_at_all);
    tcase_add_test(tc, a_read_for_write_waits_for_the_other_writer_and_sees_its_commit);
    tcase_add_test(tc, a_lost_connection_is_down_and_check_reconnects);
    tcase_add_test(tc, a_commit_after_the_transaction_failed_is_not_reported_as_kept);
    tcase_add_test(tc, a_session_sets_the_tcp_bounds_that_end_it_when_its_host_dies);
    tcase_add_test(tc, one_leader_at_a_time_and_another_takes_over_when_it_closes);
    tcase_add_test(tc, one_claim_of_a_message_wins_until_it_expires);
    tcase_add_test(tc, a_commit_that_queues_a_message_wakes_the_other_servers);
    tcase_add_test(tc, a_prefix_search_takes_exactly_the_ids_that_start_with_it_in_byte_order);
    tcase_add_test(tc, a_tag_search_examines_at_most_the_scan_cap_per_call_and_pages_on);
    tcase_add_test(tc, a_page_cut_by_its_byte_budget_is_not_received_whole);
    tcase_add_test(tc, a_tag_search_far_into_the_ids_reads_the_key_from_its_range_only);
    tcase_add_test(tc,
                   a_retry_timer_due_at_a_tick_keeps_the_lease_of_an_acquire_committed_meanwhile);
    tcase_add_test(tc,
                   an_expired_lease_at_a_tick_is_not_taken_from_a_new_acquire_committed_meanwhile);
    tcase_add_test(tc, a_heartbeat_renews_only_the_lease_its_pid_holds_once_it_has_the_task_lock);
    tcase_add_test(tc,
                   a_schedule_deleted_on_another_server_while_a_tick_fires_it_creates_no_promise);
    tcase_add_test(tc, a_fanout_being_continued_by_one_server_is_skipped_by_the_others_tick);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(postgres_suite)
