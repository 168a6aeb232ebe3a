/* test_threads.c - the threaded modules driven from several threads at
 * once, for ThreadSanitizer (`make tsan`): each case makes the threads that
 * share state in the server touch it concurrently, as they do under load,
 * and checks the answers stay right. Without TSan they are plain
 * (if short) load tests. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "server/exec.h"
#include "server/poll.h"
#include "server/reads.h"
#include "store/postgres.h"
#include "store/sqlite.h"
#include "tests/unit/server_fixture.h"
#include "tests/unit/unit.h"

#define WORKERS 3
#define RUN_MS 300

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool answered;
} waiter_t;

typedef struct {
    job_t job;
    request_t req;
    waiter_t w;
} sjob_t;

static void on_done(job_t *job)
{
    sjob_t *s = job->udata;
    pthread_mutex_lock(&s->w.mu);
    s->w.answered = true;
    pthread_cond_signal(&s->w.cv);
    pthread_mutex_unlock(&s->w.mu);
}

static struct {
    exec_t *ex;
    poll_hub_t *hub;
    _Atomic bool stop_workers;
    _Atomic bool stopped; /* exec_stop has begun */
    _Atomic int ok, refused;
} hx;

/* Runs req inline when the store is free, else through the queue; returns
 * the status. */
static int run(const request_t *req, arena_t *a)
{
    sjob_t s = {0};
    s.req = *req;
    s.job.req = &s.req;
    s.job.arena = a;
    s.job.done = on_done;
    s.job.udata = &s;
    pthread_mutex_init(&s.w.mu, NULL);
    pthread_cond_init(&s.w.cv, NULL);
    if (!exec_run(hx.ex, &s.job)) {
        exec_submit(hx.ex, &s.job);
        pthread_mutex_lock(&s.w.mu);
        while (!s.w.answered)
            pthread_cond_wait(&s.w.cv, &s.w.mu);
        pthread_mutex_unlock(&s.w.mu);
    }
    int status = s.job.resp.status;
    response_clear(&s.job.resp);
    pthread_mutex_destroy(&s.w.mu);
    pthread_cond_destroy(&s.w.cv);
    return status;
}

/* Creates tasks for poll://any@g (half already timed out, for the tick),
 * until stop_workers; after exec_stop each create must be answered 503. */
static void *worker(void *arg)
{
    int n = (int)(intptr_t)arg;
    for (int i = 0; !atomic_load(&hx.stop_workers); i++) {
        arena_t *a = arena_new();
        char id[64];
        snprintf(id, sizeof id, "w%d-%d", n, i);
        kv_t *kv = arena_alloc(a, sizeof *kv);
        *kv = (kv_t){"resonate:target", "poll://any@g"};
        request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
        r.u.promise_create = (promise_create_t){
            .id = id, .timeout_at = (i % 2) ? INT64_MAX / 2 : 0, .tags = {.items = kv, .n = 1}};
        bool stopped = atomic_load(&hx.stopped);
        int status = run(&r, a);
        if (status == 503)
            atomic_fetch_add(&hx.refused, 1);
        else if (!stopped)
            atomic_fetch_add(&hx.ok, 1);
        ck_assert_msg(status == 200 || status == 201 || status == 503, "create: %d", status);
        exec_now(hx.ex);
        exec_outbox_depth(hx.ex);
        arena_free(a);
    }
    return NULL;
}

START_TEST(inline_runs_queued_jobs_ticks_deliveries_and_stop_share_the_store_safely)
{
    char err[256];
    hx.hub = poll_hub_new(&(poll_config_t){.max_streams = 8, .buffer = 8});
    ck_assert_ptr_nonnull(hx.hub);
    store_t *st = store_sqlite_open(":memory:", err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    exec_config_t cfg = {.engine = {.retry_timeout = 30000},
                         .tick_interval_ms = 1,
                         .tick_batch = 16,
                         .max_batch = 8,
                         .deliver = true,
                         .deliver_interval_ms = 1,
                         .inline_jobs = true,
                         .outbox = {.server_url = "http://127.0.0.1", .hub = hx.hub}};
    hx.ex = exec_start(st, &cfg, err, sizeof err);
    ck_assert_msg(hx.ex != NULL, "%s", err);
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i), 0);
    unit_sleep_ms(RUN_MS);
    atomic_store(&hx.stopped, true);
    exec_stop(hx.ex);
    unit_sleep_ms(20);
    atomic_store(&hx.stop_workers, true);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    exec_outbox_stats(hx.ex);
    exec_free(hx.ex);
    poll_hub_free(hx.hub);
    ck_assert_int_gt(atomic_load(&hx.ok), 0);
    ck_assert_int_gt(atomic_load(&hx.refused), 0);
}
END_TEST

static _Atomic bool http_stop;
static _Atomic size_t streamed; /* bytes the SSE readers received */

/* POSTs creates of tasks for poll://any@g (every fourth already timed out)
 * and gets, until http_stop. */
static void *http_worker(void *arg)
{
    int n = (int)(intptr_t)arg;
    char body[512];
    for (int i = 0; !atomic_load(&http_stop); i++) {
        snprintf(body, sizeof body,
                 "{\"kind\":\"%s\",\"head\":{\"corrId\":\"c\",\"version\":\"2026-04-01\"},"
                 "\"data\":{\"id\":\"h%d-%d\",\"timeoutAt\":%s,\"param\":{},"
                 "\"tags\":{\"resonate:target\":\"poll://any@g\"}}}",
                 i % 3 == 2 ? "promise.get" : "promise.create", n, i % 3 == 2 ? i - 1 : i,
                 i % 4 ? "9999999999999" : "1");
        int status = fixture_http("POST", "/", body, NULL, NULL, NULL);
        ck_assert_msg(status == 200 || status == 201 || status == 404, "status %d", status);
    }
    return NULL;
}

/* curl write callback: counts the stream's bytes. */
static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    atomic_fetch_add((_Atomic size_t *)ud, size * n);
    return size * n;
}

/* An SSE reader of /poll/g/<arg> for RUN_MS. */
static void *stream_reader(void *arg)
{
    char url[128];
    snprintf(url, sizeof url, "%s/poll/g/%s", fixture_url(), (const char *)arg);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &streamed);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)RUN_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(e);
    curl_easy_cleanup(e);
    return NULL;
}

START_TEST(http_threads_store_thread_and_poll_streams_answer_concurrent_requests)
{
    atomic_store(&http_stop, false);
    atomic_store(&streamed, 0);
    fixture_start(&(fixture_config_t){.inline_jobs = _i == 1});
    pthread_t th[WORKERS], rd[2];
    ck_assert_int_eq(pthread_create(&rd[0], NULL, stream_reader, "a"), 0);
    ck_assert_int_eq(pthread_create(&rd[1], NULL, stream_reader, "b"), 0);
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, http_worker, (void *)(intptr_t)i), 0);
    unit_sleep_ms(RUN_MS);
    atomic_store(&http_stop, true);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    pthread_join(rd[0], NULL);
    pthread_join(rd[1], NULL);
    fixture_stop();
    /* At least the streams' ": connected" comments, and tasks' messages. */
    ck_assert_uint_gt(atomic_load(&streamed), 2 * sizeof ": connected\n\n");
}
END_TEST

/* ---- the reader pool over PostgreSQL (RESONATE_TEST_PG_URL) -------------- */

static struct {
    reads_t *r;
    engine_config_t cfg;
} px;

/* One promise.get through the pool; returns reads_run's result. */
static void *pool_read(void *arg)
{
    (void)arg;
    arena_t *a = arena_new();
    request_t req = {.op = OP_PROMISE_GET, .corr_id = "c", .now = 1000};
    req.u.get.id = "p";
    response_t resp = {0};
    intptr_t rc = reads_run(px.r, a, &req, &resp);
    response_clear(&resp);
    arena_free(a);
    return (void *)rc;
}

/* Waits (bounded) until n sessions of the database wait for a lock. */
static void wait_blocked(PGconn *c, int n)
{
    for (int i = 0; i < 500; i++) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                "'Lock' AND datname = current_database()");
        int got = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
        PQclear(r);
        if (got == n)
            return;
        unit_sleep_ms(10);
    }
    ck_abort_msg("%d reads never blocked on the lock", n);
}

/* reads_stop on the main thread while an HTTP thread's reader finds the
 * database gone (its connection ended mid-read): that thread drops the
 * idle readers (drop_idle) as the pool is being stopped. */
START_TEST(a_pool_stopped_while_a_read_finds_the_database_down_closes_every_reader_once)
{
    const char *url = getenv("RESONATE_TEST_PG_URL");
    char err[512] = "";
    store_t *w = store_postgres_open(url, err, sizeof err);
    ck_assert_msg(w != NULL, "%s", err);
    ck_assert_int_eq(store_reset(w), STORE_OK);
    PGconn *admin = PQconnectdb(url);
    ck_assert_int_eq(PQstatus(admin), CONNECTION_OK);
    px.cfg = (engine_config_t){.retry_timeout = 30000};
    px.r = reads_new_postgres(url, 0, &px.cfg, err, sizeof err);
    ck_assert_msg(px.r != NULL, "%s", err);
    /* Two readers in the pool: two reads held at once by a table lock. */
    ck_assert_int_eq(store_begin(w), STORE_OK);
    ck_assert_int_eq(store_postgres_exec(w, "LOCK TABLE promises IN ACCESS EXCLUSIVE MODE"),
                     STORE_OK);
    pthread_t t0, t1, t2;
    ck_assert_int_eq(pthread_create(&t0, NULL, pool_read, NULL), 0);
    wait_blocked(admin, 1);
    ck_assert_int_eq(pthread_create(&t1, NULL, pool_read, NULL), 0);
    wait_blocked(admin, 2);
    ck_assert_int_eq(store_rollback(w), STORE_OK);
    void *rc;
    pthread_join(t0, &rc);
    ck_assert_int_eq((intptr_t)rc, 0);
    pthread_join(t1, &rc);
    ck_assert_int_eq((intptr_t)rc, 0);
    /* One read takes a reader and waits; the other reader stays idle. */
    ck_assert_int_eq(store_begin(w), STORE_OK);
    ck_assert_int_eq(store_postgres_exec(w, "LOCK TABLE promises IN ACCESS EXCLUSIVE MODE"),
                     STORE_OK);
    ck_assert_int_eq(pthread_create(&t2, NULL, pool_read, NULL), 0);
    wait_blocked(admin, 1);
    reads_stop(px.r);
    /* The waiting read's connection ends: it is DOWN and drops the idle
     * readers, after the stop. */
    PQclear(PQexec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "wait_event_type = 'Lock' AND datname = current_database()"));
    pthread_join(t2, &rc);
    ck_assert_int_eq((intptr_t)rc, ENGINE_READ_WRITER); /* its second try finds the pool stopped */
    ck_assert_int_eq(store_rollback(w), STORE_OK);
    reads_free(px.r);
    PQfinish(admin);
    store_close(w);
}
END_TEST

static Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("concurrent");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, inline_runs_queued_jobs_ticks_deliveries_and_stop_share_the_store_safely);
    tcase_add_loop_test(tc, http_threads_store_thread_and_poll_streams_answer_concurrent_requests,
                        0, 2);
    suite_add_tcase(s, tc);
    if (getenv("RESONATE_TEST_PG_URL")) {
        TCase *pg = tcase_create("postgres");
        tcase_set_timeout(pg, 60);
        tcase_add_test(
            pg, a_pool_stopped_while_a_read_finds_the_database_down_closes_every_reader_once);
        suite_add_tcase(s, pg);
    } else {
        fprintf(stderr, "threads: reader pool tests SKIPPED: RESONATE_TEST_PG_URL is not set "
                        "(scripts/pg-cluster.sh start prints one)\n");
    }
    return s;
}
UNIT_SUITE(threads_suite)
