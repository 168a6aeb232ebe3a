/* test_exec.c - the store thread's group commit (server/exec.c), over the
 * failure-injecting store of fake_store.h: answers come only after the
 * commit, a failed request is rolled back to its savepoint alone, a lost
 * transaction fails its whole batch, readiness probes, shutdown, batches
 * shared fairly among tenants, and jobs run inline on the caller's thread
 * when the store lock is free (exec_run). The background tick is kept out
 * of the way with an interval of an hour, and delivery is off (the outbox
 * has its own suite). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/exec.h"
#include "tests/unit/fake_store.h"
#include "tests/unit/unit.h"

#define WAIT_MS 5000 /* bound of every wait for the store thread */
#define MAX_JOBS 400
#define TICK_MS 10 /* tick interval of the "background" cases */

#define FAIR_BATCH 4 /* max_batch of the "fair batches" cases */

/* A job and what its done callback saw. */
typedef struct {
    job_t job;
    request_t req;
    bool answered;
    int commits_seen; /* fake_store_calls(FAKE_COMMIT) when answered */
    int begins_seen;
    int seq; /* answers before this one */
} tjob_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static store_t *st;
static exec_t *ex;
static tjob_t jobs[MAX_JOBS];
static int n_jobs;
static bool optimistic;     /* the store of the next start() is optimistic */
static bool inline_jobs;    /* the exec of the next start() runs jobs inline */
static size_t fanout_batch; /* limits.settle_fanout_batch of the next start() */
static poll_hub_t *hub;     /* set: the exec of the next start() delivers through it */

static size_t max_batch = 16; /* exec_config_t.max_batch of the next start() */
static size_t batch_bytes;    /* exec_config_t.max_batch_bytes of the next start() */
static int64_t batch_ns;      /* exec_config_t.max_batch_ns of the next start() */
static int64_t interval_us;   /* exec_config_t.commit_interval_us of the next start() */
static int n_answered;        /* answers so far (on_done) */
static metrics_t *metrics;    /* exec_config_t.metrics of every start() */
static bool count_outbox;     /* exec_config_t.count_outbox of the next start() */

static void on_done(job_t *job)
{
    tjob_t *t = job->udata;
    pthread_mutex_lock(&mu);
    t->commits_seen = fake_store_calls(FAKE_COMMIT);
    t->begins_seen = fake_store_calls(FAKE_BEGIN);
    t->seq = n_answered++;
    t->answered = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Starts ex over a fresh fake store; the jobs are left as they are. */
static void start(int64_t tick_ms)
{
    st = fake_store_open();
    st->optimistic = optimistic;
    exec_config_t cfg = {.engine = {.retry_timeout = 30000, .settle_fanout_batch = fanout_batch},
                         .tick_interval_ms = tick_ms,
                         .tick_batch = 100,
                         .max_batch = max_batch,
                         .max_batch_bytes = batch_bytes,
                         .max_batch_ns = batch_ns,
                         .commit_interval_us = interval_us,
                         .inline_jobs = inline_jobs,
                         .metrics = metrics,
                         .count_outbox = count_outbox};
    if (hub) {
        /* Delivery right after a commit that queued a message, and
         * otherwise not for an hour. */
        cfg.deliver = true;
        cfg.deliver_interval_ms = 3600 * 1000;
        cfg.outbox = (outbox_config_t){.server_url = "http://srv",
                                       .batch = 10,
                                       .max_attempts = 5,
                                       .backoff_base_ms = 1000,
                                       .backoff_max_ms = 1000,
                                       .hub = hub};
    }
    char err[256];
    ex = exec_start(st, &cfg, err, sizeof err);
    ck_assert_msg(ex != NULL, "exec_start: %s", err);
}

static void setup(void)
{
    metrics = metrics_new(NULL);
    memset(jobs, 0, sizeof jobs);
    n_jobs = 0;
    n_answered = 0;
    start(3600 * 1000);
}

/* A commit interval longer than the 200 ms these tests watch a wait
 * for and the 1 s they give it to end, and shorter than WAIT_MS. */
static void setup_paced(void)
{
    interval_us = 3 * 1000000LL;
    setup();
}

/* An interval far longer than any wait of these tests: a batch that waits
 * it out is never answered in time. */
static void setup_paced_hour(void)
{
    interval_us = 3600 * 1000000LL;
    setup();
}

/* Batches of FAIR_BATCH jobs at most. */
static void setup_fair(void)
{
    max_batch = FAIR_BATCH;
    setup();
}

/* Batches of 100 bytes of requests at most (and of 16 jobs). */
static void setup_bytes(void)
{
    batch_bytes = 100;
    setup();
}

/* Batches out of time after 1 ns: after their first job, always. */
static void setup_time(void)
{
    batch_ns = 1;
    setup();
}

/* Inline runs, and batches paced for an hour. */
static void setup_inline_paced(void)
{
    interval_us = 3600 * 1000000LL;
    inline_jobs = true;
    setup();
}

/* Inline runs, and batches out of time after their first job. */
static void setup_inline_time(void)
{
    batch_ns = 1;
    inline_jobs = true;
    setup();
}

static void setup_optimistic(void)
{
    memset(jobs, 0, sizeof jobs);
    n_jobs = 0;
    optimistic = true;
    start(3600 * 1000);
}

static void setup_inline(void)
{
    memset(jobs, 0, sizeof jobs);
    n_jobs = 0;
    inline_jobs = true;
    start(3600 * 1000);
}

/* A settlement resumes or unblocks one at a time; the tick interval is an
 * hour, so only the wake-up after a listed fan-out can continue it. */
static void setup_fanout(void)
{
    memset(jobs, 0, sizeof jobs);
    n_jobs = 0;
    fanout_batch = 1;
    start(3600 * 1000);
}

static void setup_fanout_inline(void)
{
    inline_jobs = true;
    setup_fanout();
}

/* Delivers through a poll hub with no stream, so that every delivery
 * fails at once and leaves an outcome (a retry) to record. */
static void setup_delivering(void)
{
    memset(jobs, 0, sizeof jobs);
    n_jobs = 0;
    hub = poll_hub_new(&(poll_config_t){.max_streams = 4, .buffer = 4});
    ck_assert_ptr_nonnull(hub);
    start(3600 * 1000);
}

static void setup_delivering_optimistic(void)
{
    optimistic = true;
    setup_delivering();
}

static void setup_ticking(void)
{
    memset(jobs, 0, sizeof jobs);
    n_jobs = 0;
    start(TICK_MS);
}

/* A paced store thread (setup_paced's interval) that ticks every TICK_MS. */
static void setup_paced_ticking(void)
{
    interval_us = 3 * 1000000LL;
    setup_ticking();
}

static void teardown(void)
{
    count_outbox = false;
    optimistic = false;
    inline_jobs = false;
    fanout_batch = 0;
    max_batch = 16;
    batch_bytes = 0;
    batch_ns = 0;
    interval_us = 0;
    fake_store_release_begin();
    exec_stop(ex);
    exec_free(ex);
    for (int i = 0; i < n_jobs; i++) {
        response_clear(&jobs[i].job.resp);
        arena_free(jobs[i].job.arena);
    }
    if (hub) {
        poll_hub_free(hub);
        hub = NULL;
    }
    metrics_free(metrics);
    metrics = NULL;
}

/* For tests that stopped ex themselves: exec_stop runs once per exec, so
 * teardown gets a fresh one to stop. */
static void restart(void)
{
    exec_free(ex);
    start(3600 * 1000);
}

/* A new job for req (NULL: a readiness probe); not yet submitted. */
static tjob_t *new_job(const request_t *req)
{
    ck_assert_int_lt(n_jobs, MAX_JOBS);
    tjob_t *t = &jobs[n_jobs++];
    if (req) {
        t->req = *req;
        t->job.req = &t->req;
    }
    t->job.arena = arena_new();
    t->job.done = on_done;
    t->job.udata = t;
    return t;
}

static tjob_t *create_job(const char *id)
{
    request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
    r.u.promise_create = (promise_create_t){.id = id, .timeout_at = INT64_MAX / 2};
    return new_job(&r);
}

static tjob_t *get_job(const char *id)
{
    request_t r = {.op = OP_PROMISE_GET, .corr_id = "c"};
    r.u.get.id = id;
    return new_job(&r);
}

/* Waits until t is answered, ms at most. */
static void wait_answered_within(tjob_t *t, int ms)
{
    struct timespec dl = unit_deadline(ms);
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (!t->answered && rc == 0)
        rc = pthread_cond_timedwait(&cv, &mu, &dl);
    bool answered = t->answered;
    pthread_mutex_unlock(&mu);
    ck_assert_msg(answered, "job not answered within %d ms", ms);
}

/* Waits (bounded) until t is answered. */
static void wait_answered(tjob_t *t)
{
    wait_answered_within(t, WAIT_MS);
}

/* Submits t and waits for its answer; returns the status. */
static int submit_wait(tjob_t *t)
{
    exec_submit(ex, &t->job);
    wait_answered(t);
    return t->job.resp.status;
}

/* Submits the jobs while the store thread is held in the begin of a probe's
 * batch, so that they all run as the next batch. */
static void submit_batch(tjob_t **ts, int n)
{
    tjob_t *gate = new_job(NULL);
    fake_store_hold_begin();
    exec_submit(ex, &gate->job);
    ck_assert_msg(fake_store_wait_held(WAIT_MS), "store thread never began the probe's batch");
    for (int i = 0; i < n; i++)
        exec_submit(ex, &ts[i]->job);
    fake_store_release_begin();
    wait_answered(gate);
    for (int i = 0; i < n; i++)
        wait_answered(ts[i]);
}

static const char *message(const tjob_t *t)
{
    return json_string_value(t->job.resp.data);
}

START_TEST(jobs_of_one_batch_are_answered_only_after_its_commit)
{
    tjob_t *b[] = {create_job("a"), create_job("b"), create_job("c")};
    int commits_before = fake_store_calls(FAKE_COMMIT);
    submit_batch(b, 3);
    /* The probe's batch committed once, then the three jobs' batch once. */
    ck_assert_int_eq(fake_store_calls(FAKE_COMMIT), commits_before + 2);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(b[i]->job.resp.status, 200);
        ck_assert_int_eq(b[i]->commits_seen, commits_before + 2);
        /* One transaction for all three. */
        ck_assert_int_eq(b[i]->begins_seen, b[0]->begins_seen);
    }
    ck_assert_int_eq(submit_wait(get_job("b")), 200);
}
END_TEST

START_TEST(failed_request_is_rolled_back_alone_and_the_rest_of_its_batch_kept)
{
    fake_store_fail_insert("bad");
    tjob_t *b[] = {create_job("a"), create_job("bad"), create_job("c")};
    submit_batch(b, 3);
    ck_assert_int_eq(b[0]->job.resp.status, 200);
    ck_assert_int_eq(b[1]->job.resp.status, 500);
    ck_assert_ptr_nonnull(strstr(message(b[1]), "injected promise_insert failure"));
    ck_assert_int_eq(b[2]->job.resp.status, 200);
    ck_assert_int_eq(fake_store_calls(FAKE_ROLLBACK_TO), 1);
    fake_store_fail_insert(NULL);
    ck_assert_int_eq(submit_wait(get_job("a")), 200);
    ck_assert_int_eq(submit_wait(get_job("bad")), 404);
    ck_assert_int_eq(submit_wait(get_job("c")), 200);
}
END_TEST

START_TEST(a_batch_that_lost_a_race_runs_again_and_every_job_gets_its_answer)
{
    fake_store_fail_insert_as("b", STORE_FAULT_CONFLICT, 2);
    tjob_t *b[] = {create_job("a"), create_job("b"), create_job("c")};
    submit_batch(b, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(b[i]->job.resp.status, 200);
    /* the gate probe's batch, then the jobs' batch three times */
    ck_assert_int_eq(fake_store_calls(FAKE_BEGIN), 1 + 3);
    ck_assert_int_eq(fake_store_calls(FAKE_COMMIT), 1 + 1);
    ck_assert_int_eq(submit_wait(get_job("a")), 200);
    ck_assert_int_eq(submit_wait(get_job("b")), 200);
}
END_TEST

/* One value of the exec's metrics, e.g. "resonate_store_batch_jobs_sum". */
static double metric(const char *name)
{
    char *text = metrics_render(metrics, NULL, NULL);
    ck_assert_ptr_nonnull(text);
    size_t n = strlen(name);
    double v = -1;
    for (const char *p = text; (p = strstr(p, name)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            v = strtod(p + n + 1, NULL);
    free(text);
    ck_assert_msg(v >= 0, "no %s in the metrics", name);
    return v;
}

START_TEST(a_batch_run_three_times_counts_as_one_batch_of_its_jobs_in_the_metrics)
{
    fake_store_fail_insert_as("b", STORE_FAULT_CONFLICT, 2);
    tjob_t *b[] = {create_job("a"), create_job("b"), create_job("c")};
    submit_batch(b, 3);
    ck_assert_int_eq(b[1]->job.resp.status, 200);
    ck_assert_int_eq(fake_store_calls(FAKE_BEGIN), 1 + 3);
    /* the gate probe's batch, then the jobs' batch once, not three times */
    ck_assert_double_eq(metric("resonate_store_batch_jobs_count"), 2);
    ck_assert_double_eq(metric("resonate_store_batch_jobs_sum"), 1 + 3);
    ck_assert_double_eq(metric("resonate_store_batch_duration_seconds_count"), 2);
}
END_TEST

START_TEST(a_batch_losing_every_rerun_answers_500_and_keeps_nothing)
{
    fake_store_fail_insert_as("b", STORE_FAULT_CONFLICT, -1);
    tjob_t *b[] = {create_job("a"), create_job("b")};
    submit_batch(b, 2);
    fake_store_fail_insert(NULL);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(b[i]->job.resp.status, 500);
    /* the gate probe's batch, then 1 + EXEC_MAX_RETRIES runs */
    ck_assert_int_eq(fake_store_calls(FAKE_BEGIN), 1 + 9);
    ck_assert_int_eq(submit_wait(get_job("a")), 404);
}
END_TEST

START_TEST(an_unreachable_database_answers_the_batch_503_and_keeps_nothing)
{
    fake_store_fail_insert_as("b", STORE_FAULT_DOWN, 1);
    tjob_t *probe = new_job(NULL);
    tjob_t *b[] = {create_job("a"), create_job("b"), probe};
    submit_batch(b, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(b[i]->job.resp.status, 503);
    ck_assert_ptr_nonnull(strstr(message(b[0]), "injected promise_insert failure"));
    ck_assert_int_eq(submit_wait(get_job("a")), 404);
}
END_TEST

START_TEST(an_optimistic_store_runs_without_savepoints_until_a_request_fails)
{
    tjob_t *ok[] = {create_job("a"), create_job("b")};
    submit_batch(ok, 2);
    ck_assert_int_eq(ok[0]->job.resp.status, 200);
    /* only the gate probe of submit_batch (probes always have one) */
    ck_assert_int_eq(fake_store_calls(FAKE_SAVEPOINT), 1);
    /* a failing request: the batch runs again, a savepoint per request,
     * and only that request fails */
    fake_store_fail_insert("bad");
    tjob_t *b[] = {create_job("c"), create_job("bad"), create_job("d")};
    submit_batch(b, 3);
    ck_assert_int_eq(b[0]->job.resp.status, 200);
    ck_assert_int_eq(b[1]->job.resp.status, 500);
    ck_assert_int_eq(b[2]->job.resp.status, 200);
    ck_assert_int_eq(fake_store_calls(FAKE_SAVEPOINT), 1 + 1 + 3);
    ck_assert_int_eq(fake_store_calls(FAKE_ROLLBACK_TO), 1);
    fake_store_fail_insert(NULL);
    ck_assert_int_eq(submit_wait(get_job("c")), 200);
    ck_assert_int_eq(submit_wait(get_job("bad")), 404);
    ck_assert_int_eq(submit_wait(get_job("d")), 200);
}
END_TEST

START_TEST(failed_commit_answers_every_job_of_the_batch_500_and_keeps_nothing)
{
    tjob_t *probe = new_job(NULL);
    tjob_t *b[] = {create_job("a"), create_job("b"), probe};
    fake_store_fail(FAKE_COMMIT, true);
    submit_batch(b, 3);
    fake_store_fail(FAKE_COMMIT, false);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(b[i]->job.resp.status, 500);
        ck_assert_ptr_nonnull(strstr(message(b[i]), "injected commit failure"));
    }
    ck_assert_int_eq(probe->job.resp.status, 503);
    ck_assert_int_eq(submit_wait(get_job("a")), 404);
    ck_assert_int_eq(submit_wait(get_job("b")), 404);
}
END_TEST

START_TEST(failed_rollback_to_savepoint_fails_the_whole_batch_and_keeps_nothing)
{
    /* a succeeds, then bad fails and its savepoint cannot be rolled back:
     * the transaction is lost, so a must not be reported as created. */
    fake_store_fail_insert("bad");
    fake_store_fail(FAKE_ROLLBACK_TO, true);
    tjob_t *b[] = {create_job("a"), create_job("bad"), create_job("c")};
    submit_batch(b, 3);
    fake_store_fail(FAKE_ROLLBACK_TO, false);
    fake_store_fail_insert(NULL);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(b[i]->job.resp.status, 500);
    ck_assert_ptr_nonnull(strstr(message(b[0]), "injected rollback_to failure"));
    /* c never ran: the batch was abandoned at bad. */
    ck_assert_int_eq(submit_wait(get_job("a")), 404);
    ck_assert_int_eq(submit_wait(get_job("c")), 404);
}
END_TEST

START_TEST(failed_savepoint_fails_the_whole_batch)
{
    fake_store_fail(FAKE_SAVEPOINT, true);
    tjob_t *b[] = {create_job("a"), create_job("b")};
    submit_batch(b, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(b[i]->job.resp.status, 500);
        ck_assert_ptr_nonnull(strstr(message(b[i]), "injected savepoint failure"));
    }
    fake_store_fail(FAKE_SAVEPOINT, false);
    ck_assert_int_eq(submit_wait(get_job("a")), 404);
}
END_TEST

START_TEST(a_lone_job_runs_without_a_savepoint_and_gets_one_when_it_fails)
{
    int sp_before = fake_store_calls(FAKE_SAVEPOINT);
    ck_assert_int_eq(submit_wait(create_job("a")), 200);
    ck_assert_int_eq(fake_store_calls(FAKE_SAVEPOINT), sp_before);
    /* A failing lone job: rolled back, run again in a savepoint, and only
     * then answered 500 (its transaction commits nothing). */
    fake_store_fail_insert("b");
    int commits = fake_store_calls(FAKE_COMMIT);
    tjob_t *b = create_job("b");
    ck_assert_int_eq(submit_wait(b), 500);
    ck_assert_ptr_nonnull(strstr(message(b), "injected promise_insert failure"));
    ck_assert_int_eq(fake_store_calls(FAKE_SAVEPOINT), sp_before + 1);
    ck_assert_int_eq(fake_store_calls(FAKE_ROLLBACK_TO), 1);
    ck_assert_int_eq(fake_store_calls(FAKE_COMMIT), commits + 1);
    fake_store_fail_insert(NULL);
    ck_assert_int_eq(submit_wait(get_job("b")), 404);
    ck_assert_int_eq(submit_wait(get_job("a")), 200);
}
END_TEST

START_TEST(failed_begin_answers_500_and_503_for_probes)
{
    fake_store_fail(FAKE_BEGIN, true);
    tjob_t *a = create_job("a");
    tjob_t *probe = new_job(NULL);
    tjob_t *b[] = {a, probe};
    submit_batch(b, 2);
    fake_store_fail(FAKE_BEGIN, false);
    ck_assert_int_eq(a->job.resp.status, 500);
    ck_assert_ptr_nonnull(strstr(message(a), "injected begin failure"));
    ck_assert_int_eq(probe->job.resp.status, 503);
    ck_assert_int_eq(fake_store_calls(FAKE_COMMIT), 0);
    ck_assert_int_eq(submit_wait(get_job("a")), 404);
}
END_TEST

START_TEST(readiness_probe_answers_200_or_503_from_ping)
{
    ck_assert_int_eq(submit_wait(new_job(NULL)), 200);
    fake_store_fail(FAKE_PING, true);
    ck_assert_int_eq(submit_wait(new_job(NULL)), 503);
    fake_store_fail(FAKE_PING, false);
    ck_assert_int_eq(submit_wait(new_job(NULL)), 200);
    ck_assert_int_eq(fake_store_calls(FAKE_PING), 3);
}
END_TEST

START_TEST(submit_after_stop_answers_503_at_once)
{
    exec_stop(ex);
    tjob_t *a = create_job("a");
    exec_submit(ex, &a->job);
    /* Answered on the caller's thread, before exec_submit returned. */
    ck_assert(a->answered);
    ck_assert_int_eq(a->job.resp.status, 503);
    ck_assert_str_eq(message(a), "Server is shutting down");
    restart();
}
END_TEST

START_TEST(stop_finishes_queued_jobs_before_closing_the_store)
{
    tjob_t *gate = new_job(NULL);
    tjob_t *a = create_job("a");
    fake_store_hold_begin();
    exec_submit(ex, &gate->job);
    ck_assert(fake_store_wait_held(WAIT_MS));
    exec_submit(ex, &a->job);
    fake_store_release_begin();
    exec_stop(ex);
    ck_assert(gate->answered && a->answered);
    ck_assert_int_eq(a->job.resp.status, 200);
    restart();
}
END_TEST

START_TEST(exec_now_never_goes_backwards)
{
    int64_t prev = exec_now(ex);
    for (int i = 0; i < 1000; i++) {
        int64_t t = exec_now(ex);
        ck_assert_int_ge(t, prev);
        prev = t;
    }
    ck_assert_int_gt(prev, 1600000000000LL);
}
END_TEST

/* ---- delivery outcomes ---- */

/* Creates a task (promise id) for an address no stream listens on and
 * waits (bounded) until its execute has failed: the n-th failed delivery of
 * the test, whose outcome waits to be recorded. */
static void outcome_waiting(const char *id, uint64_t n)
{
    request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
    r.u.promise_create = (promise_create_t){.id = id, .timeout_at = INT64_MAX / 2};
    static kv_t tag = {"resonate:target", "poll://any@nobody"};
    r.u.promise_create.tags = (kvmap_t){.items = &tag, .n = 1};
    ck_assert_int_eq(submit_wait(new_job(&r)), 200);
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    while (exec_outbox_stats(ex).retried < n) {
        ck_assert_msg(unit_mono_ms() < deadline, "no delivery attempt within %d ms", WAIT_MS);
        unit_sleep_ms(5);
    }
}

START_TEST(a_batch_whose_commit_fails_leaves_its_delivery_outcomes_to_the_next_transaction)
{
    outcome_waiting("t", 1);
    int defers = fake_store_calls(FAKE_OUTBOX_DEFER);
    fake_store_fail(FAKE_COMMIT, true);
    ck_assert_int_eq(submit_wait(create_job("a")), 500);
    fake_store_fail(FAKE_COMMIT, false);
    ck_assert_int_eq(fake_store_calls(FAKE_OUTBOX_DEFER), defers + 1);
    /* written again by the next transaction, and then no more */
    ck_assert_int_eq(submit_wait(create_job("b")), 200);
    ck_assert_int_eq(fake_store_calls(FAKE_OUTBOX_DEFER), defers + 2);
    ck_assert_int_eq(submit_wait(create_job("c")), 200);
    ck_assert_int_eq(fake_store_calls(FAKE_OUTBOX_DEFER), defers + 2);
}
END_TEST

START_TEST(an_optimistic_store_records_delivery_outcomes_in_the_batch_and_again_in_its_rerun)
{
    outcome_waiting("t1", 1);
    int defers = fake_store_calls(FAKE_OUTBOX_DEFER);
    int commits = fake_store_calls(FAKE_COMMIT);
    /* no transaction of their own: one commit for outcome and request */
    ck_assert_int_eq(submit_wait(create_job("a")), 200);
    ck_assert_int_eq(fake_store_calls(FAKE_COMMIT), commits + 1);
    ck_assert_int_eq(fake_store_calls(FAKE_OUTBOX_DEFER), defers + 1);
    /* a batch run again with savepoints, after its request failed, writes
     * the outcome again: once in each run */
    outcome_waiting("t2", 2);
    fake_store_fail_insert("bad");
    ck_assert_int_eq(submit_wait(create_job("bad")), 500);
    fake_store_fail_insert(NULL);
    ck_assert_int_eq(fake_store_calls(FAKE_OUTBOX_DEFER), defers + 3);
    ck_assert_int_eq(submit_wait(create_job("d")), 200);
    ck_assert_int_eq(fake_store_calls(FAKE_OUTBOX_DEFER), defers + 3);
}
END_TEST

/* ---- fair batches across tenants ---- */

/* A promise.create of id by the tenant scope (NULL: admin, prefix "" or no
 * auth). Both strings must outlive the job. */
static tjob_t *tenant_job(const char *scope, const char *id)
{
    tjob_t *t = create_job(id);
    t->req.scope = scope;
    return t;
}

/* The batch t ran in, counting from the first one after submit_batch's
 * gate (1). */
static int batch_of(const tjob_t *t, const tjob_t *gate)
{
    return t->begins_seen - gate->begins_seen;
}

/* Checks that ts were answered in exactly this order. */
static void assert_answer_order(tjob_t **ts, int n)
{
    for (int i = 1; i < n; i++)
        ck_assert_msg(ts[i]->seq == ts[i - 1]->seq + 1, "job %d answered %d-th, job %d %d-th",
                      i - 1, ts[i - 1]->seq, i, ts[i]->seq);
}

/* Checks that ts ran in exactly this order, in full batches of FAIR_BATCH
 * from the first one after submit_batch's gate. */
static void assert_run_in_full_batches(tjob_t **ts, int n)
{
    assert_answer_order(ts, n);
    tjob_t *gate = &jobs[n_jobs - 1];
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(batch_of(ts[i], gate), 1 + i / FAIR_BATCH);
}

/* n creates (ids <tag>0, <tag>1, ...) into ts, not yet submitted. */
static void creates(tjob_t **ts, int n, const char *tag)
{
    static char ids[MAX_JOBS][16];
    for (int i = 0; i < n; i++) {
        int k = n_jobs;
        snprintf(ids[k], sizeof ids[k], "%s%d", tag, i);
        ts[i] = create_job(ids[k]);
    }
}

/* n jobs of tenant "a:" (ids a:0, a:1, ...) into ts, not yet submitted. */
static void backlog_of_a(tjob_t **ts, int n)
{
    creates(ts, n, "a:");
    for (int i = 0; i < n; i++)
        ts[i]->req.scope = "a:";
}

START_TEST(a_tenants_job_behind_another_tenants_backlog_runs_in_the_next_batch)
{
    /* 40 jobs of a: ten batches of FAIR_BATCH; b's one job comes after. */
    tjob_t *ts[41];
    backlog_of_a(ts, 40);
    tjob_t *b = ts[40] = tenant_job("b:", "b:0");
    submit_batch(ts, 41);
    tjob_t *gate = &jobs[n_jobs - 1];
    ck_assert_int_eq(b->job.resp.status, 200);
    ck_assert_int_eq(batch_of(b, gate), 1);
    /* a's jobs fill the rest of every batch */
    ck_assert_int_eq(batch_of(ts[FAIR_BATCH - 2], gate), 1);
    ck_assert_int_eq(batch_of(ts[FAIR_BATCH - 1], gate), 2);
    ck_assert_int_eq(batch_of(ts[39], gate), (41 + FAIR_BATCH - 1) / FAIR_BATCH);
}
END_TEST

START_TEST(each_tenants_jobs_run_in_submission_order_one_tenant_after_the_other)
{
    /* a submits six, then b six: a batch alternates between them, and each
     * keeps its own order. */
    static const char *const ids[] = {"a:0", "a:1", "a:2", "a:3", "a:4", "a:5",
                                      "b:0", "b:1", "b:2", "b:3", "b:4", "b:5"};
    tjob_t *ts[12];
    for (int i = 0; i < 12; i++)
        ts[i] = tenant_job(i < 6 ? "a:" : "b:", ids[i]);
    submit_batch(ts, 12);
    tjob_t *order[12];
    for (int i = 0; i < 6; i++) {
        order[2 * i] = ts[i];
        order[2 * i + 1] = ts[6 + i];
    }
    assert_run_in_full_batches(order, 12);
}
END_TEST

START_TEST(the_next_batch_resumes_the_round_where_the_last_one_stopped)
{
    /* Three tenants of three jobs, batches of four: a b c a | b c a b | c.
     * A round that started over at a would give a b c a | a b c b. */
    static const char *const ids[] = {"a:0", "a:1", "a:2", "b:0", "b:1",
                                      "b:2", "c:0", "c:1", "c:2"};
    static const char *const scopes[] = {"a:", "b:", "c:"};
    tjob_t *ts[9];
    for (int i = 0; i < 9; i++)
        ts[i] = tenant_job(scopes[i / 3], ids[i]);
    submit_batch(ts, 9);
    tjob_t *order[9];
    for (int i = 0; i < 9; i++)
        order[i] = ts[(i % 3) * 3 + i / 3];
    assert_run_in_full_batches(order, 9);
}
END_TEST

START_TEST(a_batch_is_filled_up_to_max_batch_when_one_tenant_alone_has_work)
{
    /* a has ten jobs, b one: b takes one place of the first batch and
     * leaves the rest to a; then a alone fills whole batches. */
    tjob_t *ts[11];
    backlog_of_a(ts, 10);
    ts[10] = tenant_job("b:", "b:0");
    submit_batch(ts, 11);
    tjob_t *gate = &jobs[n_jobs - 1];
    int per_batch[4] = {0};
    for (int i = 0; i < 11; i++) {
        ck_assert_int_eq(ts[i]->job.resp.status, 200);
        int k = batch_of(ts[i], gate);
        ck_assert(k >= 1 && k <= 3);
        per_batch[k]++;
        if (i > 0 && i < 10)
            ck_assert_int_eq(ts[i]->seq, ts[i - 1]->seq + (i == 1 ? 2 : 1)); /* b after a:0 */
    }
    ck_assert_int_eq(batch_of(ts[10], gate), 1);
    ck_assert_int_eq(per_batch[1], FAIR_BATCH);
    ck_assert_int_eq(per_batch[2], FAIR_BATCH);
    ck_assert_int_eq(per_batch[3], 11 - 2 * FAIR_BATCH);
}
END_TEST

START_TEST(requests_without_a_scope_and_readiness_probes_are_a_tenant_each)
{
    /* Five jobs without a scope (admin, prefix "", no auth), then one of
     * a, then a probe: n a p n | n n n. */
    static const char *const ids[] = {"n0", "n1", "n2", "n3", "n4"};
    tjob_t *ts[7];
    for (int i = 0; i < 5; i++)
        ts[i] = tenant_job(NULL, ids[i]);
    ts[5] = tenant_job("a:", "a:0");
    tjob_t *probe = ts[6] = new_job(NULL);
    submit_batch(ts, 7);
    tjob_t *order[] = {ts[0], ts[5], probe, ts[1], ts[2], ts[3], ts[4]};
    assert_answer_order(order, 7);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(ts[i]->job.resp.status, 200);
    tjob_t *gate = &jobs[n_jobs - 1];
    ck_assert_int_eq(batch_of(probe, gate), 1);
    ck_assert_int_eq(batch_of(ts[4], gate), 2);
}
END_TEST

START_TEST(many_distinct_tenants_are_each_served_and_leave_nothing_behind)
{
    /* 300 tenants of one job each queued at once (the tenant table grows
     * from 16 buckets to 512, and more entries empty than are kept as
     * spares), twice with new names: the second round reuses what the
     * first left. ASan's leak check ends the case (build/san/unit). */
    enum { N = 300 };
    static char names[2 * N][16];
    static tjob_t *ts[N];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            char *name = names[round * N + i];
            snprintf(name, sizeof names[0], "t%d:", round * N + i);
            ts[i] = tenant_job(name, name); /* the id is inside the prefix */
        }
        submit_batch(ts, N);
        tjob_t *gate = &jobs[n_jobs - 1];
        for (int i = 0; i < N; i++) {
            ck_assert_int_eq(ts[i]->job.resp.status, 200);
            ck_assert_int_eq(batch_of(ts[i], gate), 1 + i / FAIR_BATCH);
        }
        /* slots for the next round */
        for (int i = 0; i < n_jobs; i++) {
            response_clear(&jobs[i].job.resp);
            arena_free(jobs[i].job.arena);
        }
        memset(jobs, 0, sizeof jobs);
        n_jobs = 0;
    }
}
END_TEST

/* ---- group commit pacing (commit_interval_us) ---------------------------- */

/* Runs n creates as one batch, after submit_batch's probe: concurrent
 * writers, so the next batch is paced. */
static void one_batch_of(int n, const char *tag)
{
    tjob_t *ts[MAX_JOBS];
    creates(ts, n, tag);
    submit_batch(ts, n);
    ck_assert_int_eq(ts[n - 1]->begins_seen, ts[0]->begins_seen);
}

/* Submits n creates (ids <tag>0, ...), checks that none of the first n - 1
 * is answered after 200 ms (its batch would have been by then), then
 * submits the last and checks that all n run in one transaction, answered
 * within 1 s: well before the interval of these tests ends. */
static void assert_wait_ends_at(int n, const char *tag)
{
    tjob_t *ts[MAX_JOBS];
    creates(ts, n, tag);
    for (int i = 0; i < n - 1; i++)
        exec_submit(ex, &ts[i]->job);
    struct timespec pause = {0, 200 * 1000000};
    nanosleep(&pause, NULL);
    pthread_mutex_lock(&mu);
    bool any = false;
    for (int i = 0; i < n - 1; i++)
        any |= ts[i]->answered;
    pthread_mutex_unlock(&mu);
    ck_assert_msg(!any, "the first %d jobs did not wait", n - 1);
    exec_submit(ex, &ts[n - 1]->job);
    for (int i = 0; i < n; i++) {
        wait_answered_within(ts[i], 1000);
        ck_assert_int_eq(ts[i]->job.resp.status, 200);
        ck_assert_int_eq(ts[i]->begins_seen, ts[0]->begins_seen);
    }
}

/* ---- the bytes of a batch ---- */

START_TEST(a_batch_stops_before_the_job_that_would_take_it_past_its_bytes)
{
    /* Six jobs of 40 bytes, 100 a batch: 40 + 40, then 40 would be 120. */
    tjob_t *ts[6];
    backlog_of_a(ts, 6);
    for (int i = 0; i < 6; i++)
        ts[i]->job.cost = 40;
    submit_batch(ts, 6);
    tjob_t *gate = &jobs[n_jobs - 1];
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(batch_of(ts[i], gate), 1 + i / 2);
    assert_answer_order(ts, 6);
}
END_TEST

START_TEST(a_job_larger_than_a_batchs_bytes_runs_in_a_batch_of_its_own)
{
    /* a:1 alone is five times the budget: it ends the batch of a:0 and
     * goes first in the next, where nothing fits beside it. */
    tjob_t *ts[3];
    backlog_of_a(ts, 3);
    ts[0]->job.cost = 10;
    ts[1]->job.cost = 500;
    ts[2]->job.cost = 10;
    submit_batch(ts, 3);
    tjob_t *gate = &jobs[n_jobs - 1];
    ck_assert_int_eq(ts[1]->job.resp.status, 200);
    ck_assert_int_eq(batch_of(ts[0], gate), 1);
    ck_assert_int_eq(batch_of(ts[1], gate), 2);
    ck_assert_int_eq(batch_of(ts[2], gate), 3);
}
END_TEST

START_TEST(another_tenants_small_write_shares_its_batch_with_few_large_ones)
{
    /* a queues ten writes of 60 bytes before b's one of 10: b's runs in
     * the first batch beside one of a's, not beside fifteen. */
    tjob_t *ts[11];
    backlog_of_a(ts, 10);
    for (int i = 0; i < 10; i++)
        ts[i]->job.cost = 60;
    tjob_t *b = ts[10] = tenant_job("b:", "b:0");
    b->job.cost = 10;
    submit_batch(ts, 11);
    tjob_t *gate = &jobs[n_jobs - 1];
    ck_assert_int_eq(batch_of(b, gate), 1);
    ck_assert_int_eq(batch_of(ts[0], gate), 1);
    ck_assert_int_eq(batch_of(ts[1], gate), 2);
    ck_assert_int_eq(batch_of(ts[9], gate), 10);
}
END_TEST

/* ---- the time of a batch ---- */

START_TEST(a_batch_out_of_time_runs_one_more_job_of_each_tenant_and_puts_the_rest_back)
{
    /* a queues four, b two: one batch takes a0 b0 a1 b1 a2 a3 and is out
     * of time after a0 (1 ns). a0 sends a1-a3 back, b0 then b1: the batch
     * commits a0 b0. The next takes b1 a1 a2 a3 (b first, as put back
     * last) and commits b1 a1; a alone is left, and a2 a3 share one. Each
     * tenant's jobs keep their order, each is answered once after its own
     * batch's commit. */
    static const char *const ids[] = {"a:0", "a:1", "a:2", "a:3", "b:0", "b:1"};
    tjob_t *ts[6];
    for (int i = 0; i < 6; i++)
        ts[i] = tenant_job(i < 4 ? "a:" : "b:", ids[i]);
    submit_batch(ts, 6);
    tjob_t *order[6] = {ts[0], ts[4], ts[5], ts[1], ts[2], ts[3]};
    assert_answer_order(order, 6);
    tjob_t *gate = &jobs[n_jobs - 1];
    static const int batch[6] = {1, 1, 2, 2, 3, 3};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(order[i]->job.resp.status, 200);
        ck_assert_int_eq(batch_of(order[i], gate), batch[i]);
        ck_assert_int_eq(order[i]->commits_seen, gate->commits_seen + batch[i]);
    }
    /* four batches (the gate's and three) of seven jobs, not two */
    ck_assert_double_eq(metric("resonate_store_batch_jobs_count"), 4);
    ck_assert_double_eq(metric("resonate_store_batch_jobs_sum"), 7);
}
END_TEST

START_TEST(a_batch_out_of_time_commits_for_a_tenant_whose_job_already_ran_in_it)
{
    /* b's one job runs first, then a's: nothing of b's is left to run,
     * but its answer waits for the commit, so a's rest goes back after
     * a0 and b is answered after two jobs, not five. */
    static const char *const ids[] = {"b:0", "a:0", "a:1", "a:2", "a:3"};
    tjob_t *ts[5];
    for (int i = 0; i < 5; i++)
        ts[i] = tenant_job(i == 0 ? "b:" : "a:", ids[i]);
    submit_batch(ts, 5);
    assert_answer_order(ts, 5);
    tjob_t *gate = &jobs[n_jobs - 1];
    static const int batch[5] = {1, 1, 2, 2, 2};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(batch_of(ts[i], gate), batch[i]);
}
END_TEST

/* A job submitted while the store thread writes the promise id, once. */
typedef struct {
    const char *id;
    tjob_t *job;
} late_t;

static void submit_late(void *arg, const char *id)
{
    late_t *l = arg;
    if (l->job && strcmp(id, l->id) == 0) {
        exec_submit(ex, &l->job->job);
        l->job = NULL;
    }
}

/* submit_batch(ts, n), with late submitted while the batch writes id;
 * returns once late is answered too. */
static void submit_batch_with_late(tjob_t **ts, int n, const char *id, tjob_t *late)
{
    static late_t l; /* static: the store thread may read it until the hook is gone */
    l = (late_t){id, late};
    fake_store_on_insert(submit_late, &l);
    submit_batch(ts, n);
    wait_answered(late);
    fake_store_on_insert(NULL, NULL);
}

START_TEST(a_tenant_that_comes_while_a_batch_runs_out_of_time_gets_the_rest_put_back)
{
    /* a's six jobs are a batch of their own; b's job is submitted while
     * a:2 runs: the batch commits a:0-a:2 and b's runs next but one (a
     * first, as taken), not after a:5. */
    tjob_t *ts[6];
    backlog_of_a(ts, 6);
    tjob_t *b = tenant_job("b:", "b:0");
    submit_batch_with_late(ts, 6, "a:2", b);
    tjob_t *gate = &jobs[n_jobs - 1];
    ck_assert_int_eq(b->job.resp.status, 200);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(batch_of(ts[i], gate), 1);
    ck_assert_int_eq(batch_of(ts[3], gate), 2);
    tjob_t *order[] = {ts[0], ts[1], ts[2], ts[3], b, ts[4], ts[5]};
    assert_answer_order(order, 7);
}
END_TEST

START_TEST(jobs_put_back_go_before_what_their_tenant_sent_meanwhile)
{
    /* a:9 is sent while a:0 runs; a:1-a:3 go back in front of it. */
    tjob_t *ts[5];
    backlog_of_a(ts, 4);
    ts[4] = tenant_job("b:", "b:0");
    tjob_t *a9 = tenant_job("a:", "a:9");
    submit_batch_with_late(ts, 5, "a:0", a9);
    tjob_t *order[] = {ts[0], ts[4], ts[1], ts[2], ts[3], a9};
    assert_answer_order(order, 6);
    tjob_t *gate = &jobs[n_jobs - 1];
    static const int batch[6] = {1, 1, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(batch_of(order[i], gate), batch[i]);
}
END_TEST

START_TEST(a_tenant_alone_keeps_its_whole_batch_out_of_time)
{
    /* Nobody else waits: a smaller batch would only cost a more commits. */
    tjob_t *ts[5];
    backlog_of_a(ts, 5);
    submit_batch(ts, 5);
    tjob_t *gate = &jobs[n_jobs - 1];
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(batch_of(ts[i], gate), 1);
}
END_TEST

START_TEST(after_a_batch_of_two_the_next_waits_until_two_jobs_are_queued)
{
    /* A closed loop of two clients: once both are back, the batch goes. */
    one_batch_of(2, "p");
    assert_wait_ends_at(2, "q");
}
END_TEST

START_TEST(after_a_batch_of_ten_the_next_waits_for_eight_jobs_at_most)
{
    one_batch_of(10, "p");
    assert_wait_ends_at(8, "q");
}
END_TEST

START_TEST(the_largest_recent_batch_counts_one_job_less_after_64_smaller_ones)
{
    one_batch_of(8, "p");
    /* The first lone job waits out the interval (3 s); a batch of one lets
     * the next go at once. */
    tjob_t *lone[64];
    creates(lone, 64, "l");
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(submit_wait(lone[i]), 200);
    /* 64 batches under 8 (the last one that of submit_batch's probe): the
     * wait now ends at 7. */
    one_batch_of(2, "r");
    assert_wait_ends_at(7, "q");
}
END_TEST

START_TEST(background_ticks_between_two_batches_do_not_end_the_pacing)
{
    /* Ticks every TICK_MS: the store thread wakes with no job many times
     * between the batch of two and the next, which is paced all the same. */
    one_batch_of(2, "p");
    struct timespec pause = {0, 10 * TICK_MS * 1000000};
    nanosleep(&pause, NULL);
    assert_wait_ends_at(2, "q");
}
END_TEST

START_TEST(a_lone_client_is_never_paced)
{
    /* Each job is a batch of one: nobody to gather, so none waits out the
     * hour-long interval (wait_answered gives up after WAIT_MS). */
    static const char *const ids[] = {"l0", "l1", "l2"};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(submit_wait(create_job(ids[i])), 200);
}
END_TEST

START_TEST(stop_ends_a_pacing_wait_and_runs_the_waiting_jobs)
{
    one_batch_of(2, "p");
    tjob_t *a = create_job("a");
    exec_submit(ex, &a->job);
    exec_stop(ex);
    ck_assert(a->answered);
    ck_assert_int_eq(a->job.resp.status, 200);
    restart();
}
END_TEST

/* ---- the background tick ---- */

/* The stored state of promise id as debug.snap shows it (no lazy timeout,
 * unlike promise.get); NULL when absent. Uses one job slot per call. */
static const char *snap_state(const char *id)
{
    request_t r = {.op = OP_DEBUG_SNAP, .corr_id = "c"};
    tjob_t *t = new_job(&r);
    ck_assert_int_eq(submit_wait(t), 200);
    json_t *ps = json_object_get(t->job.resp.data, "promises");
    for (size_t i = 0; i < json_array_size(ps); i++) {
        json_t *p = json_array_get(ps, i);
        if (strcmp(json_string_value(json_object_get(p, "id")), id) == 0)
            return json_string_value(json_object_get(p, "state"));
    }
    return NULL;
}

/* Creates promise id due in ms from now (exec's clock). */
static void create_due(const char *id, int64_t ms, const char *target)
{
    request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c"};
    r.u.promise_create = (promise_create_t){.id = id, .timeout_at = exec_now(ex) + ms};
    static kv_t tag; /* outlives the job, which only reads it */
    if (target) {
        tag = (kv_t){"resonate:target", target};
        r.u.promise_create.tags = (kvmap_t){.items = &tag, .n = 1};
    }
    ck_assert_int_eq(submit_wait(new_job(&r)), 200);
}

/* Waits (bounded) until promise id is stored as timed out; polls with a
 * few snapshots at most WAIT_MS / 20 apart. */
static void wait_timed_out(const char *id)
{
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    for (;;) {
        const char *state = snap_state(id);
        if (state && strcmp(state, "rejected_timedout") == 0)
            return;
        ck_assert_msg(unit_mono_ms() < deadline, "%s still %s after %d ms", id, state, WAIT_MS);
        ck_assert_int_lt(n_jobs, MAX_JOBS - 2);
        unit_sleep_ms(WAIT_MS / 40);
    }
}

START_TEST(tick_times_out_due_promises_between_batches)
{
    /* Neither creating (it is not yet due) nor reading times it out: only
     * a tick can. */
    create_due("p", 100, NULL);
    wait_timed_out("p");
}
END_TEST

START_TEST(debug_start_pauses_the_tick_until_debug_stop)
{
    request_t r = {.op = OP_DEBUG_START, .corr_id = "c"};
    ck_assert_int_eq(submit_wait(new_job(&r)), 200);
    create_due("p", 50, NULL); /* not due at creation, even on a slow machine */
    /* p falls due and many tick intervals pass: paused, nothing times out. */
    unit_sleep_ms(30 * TICK_MS);
    ck_assert_str_eq(snap_state("p"), "pending");
    r.op = OP_DEBUG_STOP;
    ck_assert_int_eq(submit_wait(new_job(&r)), 200);
    wait_timed_out("p");
}
END_TEST

START_TEST(failed_tick_transaction_is_retried_at_the_next_tick)
{
    /* p falls due well after the failures begin, and ticks keep failing
     * for a while after that. */
    create_due("p", 200, NULL);
    fake_store_fail(FAKE_COMMIT, true);
    int64_t due = unit_mono_ms() + 200;
    int before = fake_store_calls(FAKE_COMMIT);
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    while ((unit_mono_ms() < due + 5 * TICK_MS || fake_store_calls(FAKE_COMMIT) < before + 2) &&
           unit_mono_ms() < deadline)
        unit_sleep_ms(TICK_MS);
    fake_store_fail(FAKE_COMMIT, false);
    ck_assert_int_ge(fake_store_calls(FAKE_COMMIT), before + 2);
    wait_timed_out("p");
}
END_TEST

/* Without count_outbox the readers count (reads_outbox_count): the tick
 * leaves the depth alone rather than read every row on the store thread. */
START_TEST(tick_leaves_the_outbox_depth_to_the_readers)
{
    create_due("t", 3600 * 1000, "poll://any@g");
    int before = fake_store_calls(FAKE_COMMIT);
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    while (fake_store_calls(FAKE_COMMIT) < before + 3 && unit_mono_ms() < deadline)
        unit_sleep_ms(TICK_MS);
    ck_assert_int_ge(fake_store_calls(FAKE_COMMIT), before + 3); /* ticks ran */
    ck_assert_int_eq(exec_outbox_depth(ex), 0);
}
END_TEST

/* With count_outbox (an in-memory database: no readers to count). */
START_TEST(tick_refreshes_the_outbox_depth)
{
    exec_stop(ex);
    exec_free(ex);
    count_outbox = true;
    start(TICK_MS);
    ck_assert_int_eq(exec_outbox_depth(ex), 0);
    create_due("t", 3600 * 1000, "poll://any@g");
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    while (exec_outbox_depth(ex) != 1 && unit_mono_ms() < deadline)
        unit_sleep_ms(TICK_MS);
    ck_assert_int_eq(exec_outbox_depth(ex), 1);
    /* Delivery is off: no counters. */
    outbox_stats_t s = exec_outbox_stats(ex);
    ck_assert_int_eq(s.delivered + s.retried + s.dropped, 0);
}
END_TEST

START_TEST(exec_run_declines_when_jobs_are_not_inline)
{
    tjob_t *a = create_job("a");
    int commits_before = fake_store_calls(FAKE_COMMIT);
    ck_assert(!exec_run(ex, &a->job));
    ck_assert_int_eq(fake_store_calls(FAKE_COMMIT), commits_before);
    ck_assert_int_eq(a->job.resp.status, 0);
    ck_assert_int_eq(submit_wait(a), 200);
}
END_TEST

START_TEST(an_inline_run_declines_while_jobs_are_queued_so_it_never_passes_them)
{
    /* A batch of two makes the next wait (paced for an hour) for a second
     * queued job: x waits queued while the store itself is free. y, sent
     * after x, must not run before it. */
    tjob_t *two[] = {create_job("p"), create_job("q")};
    submit_batch(two, 2);
    tjob_t *x = create_job("x"), *y = create_job("y");
    exec_submit(ex, &x->job);
    ck_assert(!exec_run(ex, &y->job));
    ck_assert_int_eq(y->job.resp.status, 0);
    exec_submit(ex, &y->job); /* the second queued job ends the wait */
    wait_answered(y);
    ck_assert_int_eq(x->job.resp.status, 200);
    ck_assert_int_eq(y->job.resp.status, 200);
    ck_assert_int_lt(x->seq, y->seq);
}
END_TEST

START_TEST(after_jobs_went_back_and_ran_nothing_counts_as_queued)
{
    /* A batch out of time puts jobs back; once all are answered the queue
     * is empty, so an inline run goes (a count that drifted would keep
     * every later request off the inline path). run_mu may still be held
     * for a moment by the store thread's delivery or tick: retried. */
    static const char *const ids[] = {"a:0", "a:1", "b:0", "b:1"};
    tjob_t *ts[4];
    for (int i = 0; i < 4; i++)
        ts[i] = tenant_job(i < 2 ? "a:" : "b:", ids[i]);
    submit_batch(ts, 4);
    tjob_t *gate = &jobs[n_jobs - 1];
    ck_assert_int_eq(batch_of(ts[1], gate), 2); /* jobs went back */
    tjob_t *c = create_job("c");
    bool ran = false;
    for (int i = 0; i < 1000 && !ran; i++) {
        ran = exec_run(ex, &c->job);
        if (!ran)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    ck_assert(ran);
    ck_assert_int_eq(c->job.resp.status, 200);
}
END_TEST

START_TEST(an_inline_run_is_committed_when_it_returns_and_calls_no_done)
{
    tjob_t *a = create_job("a");
    int commits_before = fake_store_calls(FAKE_COMMIT);
    ck_assert(exec_run(ex, &a->job));
    ck_assert_int_eq(a->job.resp.status, 200);
    ck_assert_int_eq(fake_store_calls(FAKE_COMMIT), commits_before + 1);
    ck_assert(!a->answered); /* the caller answers, not a callback */
    tjob_t *g = get_job("a");
    ck_assert(exec_run(ex, &g->job));
    ck_assert_int_eq(g->job.resp.status, 200);
}
END_TEST

START_TEST(a_readiness_probe_is_never_run_inline)
{
    tjob_t *p = new_job(NULL);
    ck_assert(!exec_run(ex, &p->job));
    ck_assert_int_eq(submit_wait(p), 200);
}
END_TEST

START_TEST(an_inline_run_gives_way_while_the_store_thread_holds_the_store)
{
    tjob_t *gate = new_job(NULL);
    fake_store_hold_begin();
    exec_submit(ex, &gate->job);
    ck_assert(fake_store_wait_held(WAIT_MS));
    /* The store thread is inside the probe's begin: the store is not free,
     * so the job is left to the queue, untouched. */
    tjob_t *a = create_job("a");
    int begins = fake_store_calls(FAKE_BEGIN);
    ck_assert(!exec_run(ex, &a->job));
    ck_assert_int_eq(a->job.resp.status, 0);
    ck_assert_int_eq(fake_store_calls(FAKE_BEGIN), begins);
    exec_submit(ex, &a->job);
    fake_store_release_begin();
    wait_answered(gate);
    wait_answered(a);
    ck_assert_int_eq(a->job.resp.status, 200);
    /* Free again: the next job runs inline. */
    tjob_t *g = get_job("a");
    ck_assert(exec_run(ex, &g->job));
    ck_assert_int_eq(g->job.resp.status, 200);
}
END_TEST

START_TEST(an_inline_run_after_stop_answers_503)
{
    exec_stop(ex);
    tjob_t *a = create_job("a");
    ck_assert(exec_run(ex, &a->job));
    ck_assert_int_eq(a->job.resp.status, 503);
    ck_assert_str_eq(message(a), "Server is shutting down");
    restart();
}
END_TEST

/* ---- fan-outs ---- */

/* The listeners debug.snap shows, read through the store thread or, with
 * run_inline, on this thread (which wakes nothing). Uses one job slot per
 * call. */
static size_t snap_listeners(bool run_inline)
{
    request_t r = {.op = OP_DEBUG_SNAP, .corr_id = "c"};
    tjob_t *t = new_job(&r);
    if (!run_inline)
        ck_assert_int_eq(submit_wait(t), 200);
    else
        while (!exec_run(ex, &t->job))
            unit_sleep_ms(1); /* the store thread holds the store */
    ck_assert_int_eq(t->job.resp.status, 200);
    return json_array_size(json_object_get(t->job.resp.data, "listeners"));
}

/* Promise r with 4 listeners, settled by the store thread or inline: one
 * unblock in the settle, the rest must follow at once. */
static void settle_with_listeners(bool run_inline)
{
    ck_assert_int_eq(submit_wait(create_job("r")), 200);
    static const char *const addrs[] = {"poll://uni@g/0", "poll://uni@g/1", "poll://uni@g/2",
                                        "poll://uni@g/3"};
    for (int i = 0; i < 4; i++) {
        request_t r = {.op = OP_PROMISE_REGISTER_LISTENER, .corr_id = "c"};
        r.u.listener.awaited = "r";
        r.u.listener.address = addrs[i];
        ck_assert_int_eq(submit_wait(new_job(&r)), 200);
    }
    request_t r = {.op = OP_PROMISE_SETTLE, .corr_id = "c"};
    r.u.promise_settle = (promise_settle_t){.id = "r", .state = PSTATE_RESOLVED};
    tjob_t *t = new_job(&r);
    if (run_inline) {
        unit_sleep_ms(50); /* the store thread is back waiting */
        ck_assert(exec_run(ex, &t->job));
    } else {
        submit_wait(t);
    }
    ck_assert_int_eq(t->job.resp.status, 200);
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    size_t left;
    while ((left = snap_listeners(run_inline)) != 0 && unit_mono_ms() < deadline) {
        ck_assert_int_lt(n_jobs, MAX_JOBS - 2);
        unit_sleep_ms(WAIT_MS / 40);
    }
    ck_assert_msg(left == 0, "%zu listeners left %d ms after the settle", left, WAIT_MS);
}

START_TEST(a_settle_that_lists_a_fanout_gets_it_continued_at_once_not_a_tick_interval_later)
{
    settle_with_listeners(false);
}
END_TEST

START_TEST(an_inline_settle_that_lists_a_fanout_wakes_the_store_thread_to_continue_it)
{
    settle_with_listeners(true);
}
END_TEST

static Suite *exec_suite(void)
{
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("group commit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, jobs_of_one_batch_are_answered_only_after_its_commit);
    tcase_add_test(tc, failed_request_is_rolled_back_alone_and_the_rest_of_its_batch_kept);
    tcase_add_test(tc, a_batch_that_lost_a_race_runs_again_and_every_job_gets_its_answer);
    tcase_add_test(tc, a_batch_run_three_times_counts_as_one_batch_of_its_jobs_in_the_metrics);
    tcase_add_test(tc, a_batch_losing_every_rerun_answers_500_and_keeps_nothing);
    tcase_add_test(tc, an_unreachable_database_answers_the_batch_503_and_keeps_nothing);
    tcase_add_test(tc, failed_commit_answers_every_job_of_the_batch_500_and_keeps_nothing);
    tcase_add_test(tc, failed_rollback_to_savepoint_fails_the_whole_batch_and_keeps_nothing);
    tcase_add_test(tc, failed_savepoint_fails_the_whole_batch);
    tcase_add_test(tc, a_lone_job_runs_without_a_savepoint_and_gets_one_when_it_fails);
    tcase_add_test(tc, failed_begin_answers_500_and_503_for_probes);
    tcase_add_test(tc, readiness_probe_answers_200_or_503_from_ping);
    tcase_add_test(tc, submit_after_stop_answers_503_at_once);
    tcase_add_test(tc, stop_finishes_queued_jobs_before_closing_the_store);
    tcase_add_test(tc, exec_now_never_goes_backwards);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("fair batches");
    tcase_add_checked_fixture(tt, setup_fair, teardown);
    tcase_add_test(tt, a_tenants_job_behind_another_tenants_backlog_runs_in_the_next_batch);
    tcase_add_test(tt, each_tenants_jobs_run_in_submission_order_one_tenant_after_the_other);
    tcase_add_test(tt, the_next_batch_resumes_the_round_where_the_last_one_stopped);
    tcase_add_test(tt, a_batch_is_filled_up_to_max_batch_when_one_tenant_alone_has_work);
    tcase_add_test(tt, requests_without_a_scope_and_readiness_probes_are_a_tenant_each);
    tcase_add_test(tt, many_distinct_tenants_are_each_served_and_leave_nothing_behind);
    suite_add_tcase(s, tt);
    TCase *tby = tcase_create("bytes of a batch");
    tcase_add_checked_fixture(tby, setup_bytes, teardown);
    tcase_add_test(tby, a_batch_stops_before_the_job_that_would_take_it_past_its_bytes);
    tcase_add_test(tby, a_job_larger_than_a_batchs_bytes_runs_in_a_batch_of_its_own);
    tcase_add_test(tby, another_tenants_small_write_shares_its_batch_with_few_large_ones);
    suite_add_tcase(s, tby);
    TCase *tti = tcase_create("time of a batch");
    tcase_add_checked_fixture(tti, setup_time, teardown);
    tcase_add_test(tti,
                   a_batch_out_of_time_runs_one_more_job_of_each_tenant_and_puts_the_rest_back);
    tcase_add_test(tti, a_tenant_alone_keeps_its_whole_batch_out_of_time);
    tcase_add_test(tti, jobs_put_back_go_before_what_their_tenant_sent_meanwhile);
    tcase_add_test(tti, a_batch_out_of_time_commits_for_a_tenant_whose_job_already_ran_in_it);
    tcase_add_test(tti, a_tenant_that_comes_while_a_batch_runs_out_of_time_gets_the_rest_put_back);
    suite_add_tcase(s, tti);
    TCase *tp = tcase_create("pacing");
    tcase_add_checked_fixture(tp, setup_paced, teardown);
    tcase_add_test(tp, after_a_batch_of_two_the_next_waits_until_two_jobs_are_queued);
    tcase_add_test(tp, after_a_batch_of_ten_the_next_waits_for_eight_jobs_at_most);
    tcase_add_test(tp, the_largest_recent_batch_counts_one_job_less_after_64_smaller_ones);
    suite_add_tcase(s, tp);
    TCase *tk = tcase_create("pacing with ticks");
    tcase_add_checked_fixture(tk, setup_paced_ticking, teardown);
    tcase_add_test(tk, background_ticks_between_two_batches_do_not_end_the_pacing);
    suite_add_tcase(s, tk);
    TCase *th = tcase_create("pacing for an hour");
    tcase_add_checked_fixture(th, setup_paced_hour, teardown);
    tcase_add_test(th, a_lone_client_is_never_paced);
    tcase_add_test(th, stop_ends_a_pacing_wait_and_runs_the_waiting_jobs);
    suite_add_tcase(s, th);
    TCase *to = tcase_create("optimistic");
    tcase_add_checked_fixture(to, setup_optimistic, teardown);
    tcase_add_test(to, an_optimistic_store_runs_without_savepoints_until_a_request_fails);
    suite_add_tcase(s, to);
    tcase_add_test(tc, exec_run_declines_when_jobs_are_not_inline);
    TCase *tit = tcase_create("inline and out of time");
    tcase_add_checked_fixture(tit, setup_inline_time, teardown);
    tcase_add_test(tit, after_jobs_went_back_and_ran_nothing_counts_as_queued);
    suite_add_tcase(s, tit);
    TCase *tip = tcase_create("inline and paced");
    tcase_add_checked_fixture(tip, setup_inline_paced, teardown);
    tcase_add_test(tip, an_inline_run_declines_while_jobs_are_queued_so_it_never_passes_them);
    suite_add_tcase(s, tip);
    TCase *ti = tcase_create("inline");
    tcase_add_checked_fixture(ti, setup_inline, teardown);
    tcase_add_test(ti, an_inline_run_is_committed_when_it_returns_and_calls_no_done);
    tcase_add_test(ti, a_readiness_probe_is_never_run_inline);
    tcase_add_test(ti, an_inline_run_gives_way_while_the_store_thread_holds_the_store);
    tcase_add_test(ti, an_inline_run_after_stop_answers_503);
    suite_add_tcase(s, ti);
    TCase *tf = tcase_create("fanout");
    tcase_add_checked_fixture(tf, setup_fanout, teardown);
    tcase_add_test(
        tf, a_settle_that_lists_a_fanout_gets_it_continued_at_once_not_a_tick_interval_later);
    suite_add_tcase(s, tf);
    TCase *tfi = tcase_create("fanout inline");
    tcase_add_checked_fixture(tfi, setup_fanout_inline, teardown);
    tcase_add_test(tfi, an_inline_settle_that_lists_a_fanout_wakes_the_store_thread_to_continue_it);
    suite_add_tcase(s, tfi);
    TCase *td = tcase_create("delivery outcomes");
    tcase_add_checked_fixture(td, setup_delivering, teardown);
    tcase_add_test(td,
                   a_batch_whose_commit_fails_leaves_its_delivery_outcomes_to_the_next_transaction);
    suite_add_tcase(s, td);
    TCase *tdo = tcase_create("delivery outcomes, optimistic");
    tcase_add_checked_fixture(tdo, setup_delivering_optimistic, teardown);
    tcase_add_test(
        tdo, an_optimistic_store_records_delivery_outcomes_in_the_batch_and_again_in_its_rerun);
    suite_add_tcase(s, tdo);
    TCase *tb = tcase_create("background");
    tcase_add_checked_fixture(tb, setup_ticking, teardown);
    tcase_add_test(tb, tick_times_out_due_promises_between_batches);
    tcase_add_test(tb, debug_start_pauses_the_tick_until_debug_stop);
    tcase_add_test(tb, failed_tick_transaction_is_retried_at_the_next_tick);
    tcase_add_test(tb, tick_refreshes_the_outbox_depth);
    tcase_add_test(tb, tick_leaves_the_outbox_depth_to_the_readers);
    suite_add_tcase(s, tb);
    return s;
}
UNIT_SUITE(exec_suite)
