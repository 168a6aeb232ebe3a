/* test_metrics.c - the Prometheus registry: what a scrape shows after
 * recording, histogram consistency, and lock-free recording from many
 * threads. */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/metrics.h"
#include "tests/unit/unit.h"

static metrics_t *m;
static char *text;

static void setup(void)
{
    m = metrics_new(NULL);
    ck_assert_ptr_nonnull(m);
    text = NULL;
}

static void teardown(void)
{
    free(text);
    metrics_free(m);
}

static void render(void)
{
    free(text);
    text = metrics_render(m, NULL, NULL);
    ck_assert_ptr_nonnull(text);
}

/* The value of the sample line that starts with series, or -1. */
static double sample(const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

START_TEST(scrape_without_traffic_declares_families_but_no_request_series)
{
    render();
    ck_assert_ptr_nonnull(strstr(text, "# TYPE resonate_request_total counter\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE resonate_request_duration_seconds histogram\n"));
    ck_assert_ptr_null(strstr(text, "resonate_request_total{"));
    ck_assert_ptr_null(strstr(text, "resonate_sqlite_size_bytes"));
    ck_assert_ptr_nonnull(
        strstr(text, "# TYPE resonate_tls_cert_expiry_timestamp_seconds gauge\n"));
    ck_assert_ptr_null(strstr(text, "resonate_tls_cert_expiry_timestamp_seconds{"));
    ck_assert_double_eq(sample("resonate_outbox_depth"), 0);
}
END_TEST

START_TEST(requests_are_counted_by_kind_and_status)
{
    metrics_request(m, OP_PROMISE_CREATE, 200, 0.0002);
    metrics_request(m, OP_PROMISE_CREATE, 200, 0.003);
    metrics_request(m, OP_PROMISE_CREATE, 409, 0.001);
    metrics_request(m, OP_PROMISE_GET, 404, 0.0001);
    metrics_request(m, OP_UNKNOWN, 400, 0.0001);
    metrics_request(m, OP_TASK_GET, 418, 0.0001);
    render();
    ck_assert_double_eq(sample("resonate_request_total{kind=\"promise.create\",status=\"200\"}"),
                        2);
    ck_assert_double_eq(sample("resonate_request_total{kind=\"promise.create\",status=\"409\"}"),
                        1);
    ck_assert_double_eq(sample("resonate_request_total{kind=\"promise.get\",status=\"404\"}"), 1);
    ck_assert_double_eq(sample("resonate_request_total{kind=\"unknown\",status=\"400\"}"), 1);
    ck_assert_double_eq(sample("resonate_request_total{kind=\"task.get\",status=\"other\"}"), 1);
    ck_assert_double_eq(sample("resonate_request_total{kind=\"promise.get\",status=\"200\"}"), -1);
}
END_TEST

START_TEST(histogram_buckets_are_cumulative_and_end_at_the_count)
{
    metrics_request(m, OP_PROMISE_CREATE, 200, 0.0002); /* <= 0.0005 */
    metrics_request(m, OP_PROMISE_CREATE, 200, 0.003);  /* <= 0.005 */
    metrics_request(m, OP_PROMISE_CREATE, 200, 42);     /* above every bound */
    render();
#define H "resonate_request_duration_seconds"
#define L "kind=\"promise.create\",status=\"200\""
    ck_assert_double_eq(sample(H "_bucket{" L ",le=\"0.0005\"}"), 1);
    ck_assert_double_eq(sample(H "_bucket{" L ",le=\"0.0025\"}"), 1);
    ck_assert_double_eq(sample(H "_bucket{" L ",le=\"0.005\"}"), 2);
    ck_assert_double_eq(sample(H "_bucket{" L ",le=\"10\"}"), 2);
    ck_assert_double_eq(sample(H "_bucket{" L ",le=\"+Inf\"}"), 3);
    ck_assert_double_eq(sample(H "_count{" L "}"), 3);
    ck_assert_double_eq_tol(sample(H "_sum{" L "}"), 42.0032, 1e-6);
#undef H
#undef L
}
END_TEST

START_TEST(auth_failures_are_counted_by_reason)
{
    metrics_auth_failure(m, "expired");
    metrics_auth_failure(m, "expired");
    metrics_auth_failure(m, "outside_prefix");
    metrics_auth_failure(m, "something new");
    metrics_auth_failure(m, NULL);
    render();
    ck_assert_double_eq(sample("resonate_auth_failures_total{reason=\"expired\"}"), 2);
    ck_assert_double_eq(sample("resonate_auth_failures_total{reason=\"outside_prefix\"}"), 1);
    ck_assert_double_eq(sample("resonate_auth_failures_total{reason=\"other\"}"), 2);
}
END_TEST

START_TEST(store_batches_record_sizes_and_latency)
{
    metrics_batch(m, 3, 0.002);
    metrics_batch(m, 100, 0.004);
    metrics_batch(m, 0, 0.001); /* a tick: latency only */
    render();
    ck_assert_double_eq(sample("resonate_store_batch_jobs_bucket{le=\"4\"}"), 1);
    ck_assert_double_eq(sample("resonate_store_batch_jobs_bucket{le=\"128\"}"), 2);
    ck_assert_double_eq(sample("resonate_store_batch_jobs_count"), 2);
    ck_assert_double_eq(sample("resonate_store_batch_jobs_sum"), 103);
    ck_assert_double_eq(sample("resonate_store_batch_duration_seconds_count"), 3);
}
END_TEST

static void fake_gauges(void *arg, metrics_gauges_t *out)
{
    ck_assert_ptr_eq(arg, &m);
    out->pollers = 3;
    out->outbox_depth = 17;
    out->delivered = 40;
    out->retried = 5;
    out->dropped = 1;
    out->auth_verifications = 9;
    out->auth_cache_hits = 90;
    out->tls_api_expires = 1900000000;
}

START_TEST(gauges_are_read_at_scrape_time)
{
    text = metrics_render(m, fake_gauges, &m);
    ck_assert_double_eq(sample("resonate_poll_connections"), 3);
    ck_assert_double_eq(sample("resonate_outbox_depth"), 17);
    ck_assert_double_eq(sample("resonate_deliveries_total{status=\"success\"}"), 40);
    ck_assert_double_eq(sample("resonate_deliveries_total{status=\"error\"}"), 5);
    ck_assert_double_eq(sample("resonate_deliveries_total{status=\"dropped\"}"), 1);
    ck_assert_double_eq(sample("resonate_auth_verifications_total"), 9);
    ck_assert_double_eq(sample("resonate_auth_cache_hits_total"), 90);
    /* A listener without TLS has no series (review: certificate expiry). */
    ck_assert_double_eq(sample("resonate_tls_cert_expiry_timestamp_seconds{listener=\"api\"}"),
                        1900000000);
    ck_assert_ptr_null(
        strstr(text, "resonate_tls_cert_expiry_timestamp_seconds{listener=\"metrics\"}"));
}
END_TEST

START_TEST(sqlite_size_counts_the_wal_file)
{
    char dir[] = "/tmp/resonate-metrics-XXXXXX", db[PATH_MAX], wal[PATH_MAX];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/r.db", dir);
    snprintf(wal, sizeof wal, "%s/r.db-wal", dir);
    FILE *f = fopen(db, "w");
    fwrite("0123456789", 1, 10, f);
    fclose(f);
    metrics_t *fm = metrics_new(db);
    char *t = metrics_render(fm, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(t, "\nresonate_sqlite_size_bytes 10\n"));
    free(t);
    f = fopen(wal, "w");
    fwrite("01234", 1, 5, f);
    fclose(f);
    t = metrics_render(fm, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(t, "\nresonate_sqlite_size_bytes 15\n"));
    free(t);
    metrics_free(fm);
    unlink(wal);
    unlink(db);
    rmdir(dir);
}
END_TEST

#define THREADS 8
#define PER_THREAD 20000

static void *hammer(void *arg)
{
    metrics_t *mm = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_request(mm, OP_PROMISE_GET, 200, 0.001 * (i % 7));
        metrics_auth_failure(mm, "expired");
        metrics_batch(mm, 1, 0.001);
    }
    return NULL;
}

START_TEST(concurrent_recording_loses_no_counts)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, m), 0);
    /* Scrapes during the recording must stay consistent (+Inf = count). */
    for (int i = 0; i < 20; i++) {
        render();
        double inf = sample("resonate_request_duration_seconds_bucket{kind=\"promise.get\","
                            "status=\"200\",le=\"+Inf\"}");
        double count = sample("resonate_request_duration_seconds_count{kind=\"promise.get\","
                              "status=\"200\"}");
        ck_assert_double_eq(inf, count);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    render();
    ck_assert_double_eq(sample("resonate_request_total{kind=\"promise.get\",status=\"200\"}"),
                        THREADS * PER_THREAD);
    ck_assert_double_eq(sample("resonate_auth_failures_total{reason=\"expired\"}"),
                        THREADS * PER_THREAD);
    ck_assert_double_eq(sample("resonate_store_batch_jobs_count"), THREADS * PER_THREAD);
}
END_TEST

START_TEST(null_registry_records_nothing_and_does_not_crash)
{
    metrics_request(NULL, OP_PROMISE_GET, 200, 1);
    metrics_auth_failure(NULL, "expired");
    metrics_batch(NULL, 1, 1);
    metrics_stop(NULL);
    metrics_free(NULL);
    char *t = metrics_render(NULL, NULL, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(strstr(t, "resonate_request_total{"));
    free(t);
}
END_TEST

START_TEST(serve_reports_a_port_that_is_taken)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    uint16_t port = ntohs(sa.sin_port);
    char err[256] = "";
    ck_assert_int_eq(metrics_serve(m, "127.0.0.1", port, NULL, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot listen on 127.0.0.1:"));
    ck_assert_int_eq(metrics_serve(m, "not-an-ip", port, NULL, NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "invalid bind address 'not-an-ip' (expected an IPv4 or IPv6 address)");
    close(fd);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("registry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, scrape_without_traffic_declares_families_but_no_request_series);
    tcase_add_test(tc, requests_are_counted_by_kind_and_status);
    tcase_add_test(tc, histogram_buckets_are_cumulative_and_end_at_the_count);
    tcase_add_test(tc, auth_failures_are_counted_by_reason);
    tcase_add_test(tc, store_batches_record_sizes_and_latency);
    tcase_add_test(tc, gauges_are_read_at_scrape_time);
    tcase_add_test(tc, sqlite_size_counts_the_wal_file);
    tcase_add_test(tc, concurrent_recording_loses_no_counts);
    tcase_add_test(tc, null_registry_records_nothing_and_does_not_crash);
    tcase_add_test(tc, serve_reports_a_port_that_is_taken);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(metrics_suite)
