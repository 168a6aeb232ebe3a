/* test_push.c - the HTTP push transport (server/push.c) against a stub
 * server on 127.0.0.1: each queued POST ends in exactly one result for its
 * seq, delivered only for a 2xx answer; 5xx, a refused connection and a
 * timeout are failures; stopping abandons queued work. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "server/push.h"
#include "tests/unit/http_stub.h"
#include "tests/unit/unit.h"

#define WAIT_MS 5000
#define MAX_RESULTS 16

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
typedef struct {
    int64_t seq;
    bool delivered;
} result_t;
static result_t results[MAX_RESULTS];
static int n_results;
static http_stub_t *stub;
static push_t *push;

static void on_result(void *arg, int64_t seq, bool delivered)
{
    ck_assert_ptr_eq(arg, &results);
    pthread_mutex_lock(&mu);
    if (n_results < MAX_RESULTS)
        results[n_results++] = (result_t){seq, delivered};
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    n_results = 0;
    stub = NULL;
    push = NULL;
}

static void teardown(void)
{
    push_stop(push);
    http_stub_stop(stub);
    curl_global_cleanup();
}

static void start(size_t concurrency, int64_t timeout_ms)
{
    push_config_t cfg = {.concurrency = concurrency,
                         .connect_timeout_ms = timeout_ms,
                         .request_timeout_ms = timeout_ms,
                         .on_result = on_result,
                         .arg = &results};
    char err[256];
    push = push_start(&cfg, err, sizeof err);
    ck_assert_msg(push != NULL, "push_start: %s", err);
}

/* Waits (bounded) for n results. */
static void wait_results(int n)
{
    struct timespec dl = unit_deadline(WAIT_MS);
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (n_results < n && rc == 0)
        rc = pthread_cond_timedwait(&cv, &mu, &dl);
    int got = n_results;
    pthread_mutex_unlock(&mu);
    ck_assert_msg(got >= n, "%d of %d push results within %d ms", got, n, WAIT_MS);
}

static void send_to(int64_t seq, const char *url, const char *body)
{
    push_send(push, seq, url, body, strlen(body));
}

START_TEST(push_2xx_is_delivered_with_its_seq_and_json_body)
{
    stub = http_stub_start(202, 0);
    start(2, 5000);
    send_to(7, http_stub_url(stub), "{\"kind\":\"execute\"}");
    wait_results(1);
    ck_assert_int_eq(results[0].seq, 7);
    ck_assert(results[0].delivered);
    char buf[256];
    http_stub_last_body(stub, buf, sizeof buf);
    ck_assert_str_eq(buf, "{\"kind\":\"execute\"}");
    http_stub_last_type(stub, buf, sizeof buf);
    ck_assert_str_eq(buf, "application/json");
}
END_TEST

START_TEST(push_5xx_is_a_failure)
{
    stub = http_stub_start(503, 0);
    start(1, 5000);
    send_to(3, http_stub_url(stub), "{}");
    wait_results(1);
    ck_assert_int_eq(results[0].seq, 3);
    ck_assert(!results[0].delivered);
    ck_assert_int_eq(http_stub_requests(stub), 1);
}
END_TEST

START_TEST(push_to_a_closed_port_is_a_failure)
{
    /* A port that was just free and on which nothing listens. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)ntohs(sa.sin_port));
    start(1, 5000);
    send_to(11, url, "{}");
    wait_results(1);
    ck_assert_int_eq(results[0].seq, 11);
    ck_assert(!results[0].delivered);
}
END_TEST

START_TEST(push_slower_than_request_timeout_is_a_failure)
{
    stub = http_stub_start(200, 3000);
    start(1, 200);
    int64_t t0 = unit_mono_ms();
    send_to(5, http_stub_url(stub), "{}");
    wait_results(1);
    ck_assert_int_eq(results[0].seq, 5);
    ck_assert(!results[0].delivered);
    /* Failed by the timeout, not by the stub's eventual answer. */
    ck_assert_int_lt(unit_mono_ms() - t0, 2500);
}
END_TEST

START_TEST(every_queued_push_gets_exactly_one_result_beyond_concurrency)
{
    stub = http_stub_start(200, 0);
    start(2, 5000);
    for (int64_t seq = 1; seq <= 6; seq++)
        send_to(seq, http_stub_url(stub), "{}");
    wait_results(6);
    bool seen[7] = {false};
    for (int i = 0; i < 6; i++) {
        ck_assert(results[i].delivered);
        ck_assert_int_ge(results[i].seq, 1);
        ck_assert_int_le(results[i].seq, 6);
        ck_assert(!seen[results[i].seq]);
        seen[results[i].seq] = true;
    }
    ck_assert_int_eq(http_stub_requests(stub), 6);
}
END_TEST

START_TEST(stop_abandons_running_and_queued_pushes_without_waiting)
{
    stub = http_stub_start(200, 3000);
    start(1, 10000);
    send_to(1, http_stub_url(stub), "{}");
    send_to(2, http_stub_url(stub), "{}");
    int64_t t0 = unit_mono_ms();
    push_stop(push);
    push = NULL;
    ck_assert_int_lt(unit_mono_ms() - t0, 2000);
    pthread_mutex_lock(&mu);
    int n = n_results;
    pthread_mutex_unlock(&mu);
    ck_assert_int_eq(n, 0);
}
END_TEST

static Suite *push_suite(void)
{
    Suite *s = suite_create("push");
    TCase *tc = tcase_create("deliveries");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, push_2xx_is_delivered_with_its_seq_and_json_body);
    tcase_add_test(tc, push_5xx_is_a_failure);
    tcase_add_test(tc, push_to_a_closed_port_is_a_failure);
    tcase_add_test(tc, push_slower_than_request_timeout_is_a_failure);
    tcase_add_test(tc, every_queued_push_gets_exactly_one_result_beyond_concurrency);
    tcase_add_test(tc, stop_abandons_running_and_queued_pushes_without_waiting);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(push_suite)
