/* test_serve.c - one server process (server/serve.c) run in the test
 * process: server_main on a thread of its own serves HTTP and /metrics
 * until SIGTERM, then shuts down and returns 0; SIGHUP is handled while it
 * runs; usage and configuration errors return 2 and 1 at once, and a port
 * already taken ends start-up with 1.
 *
 * The signals server_main waits for are blocked in the test thread before
 * any thread starts (every thread inherits the mask), so a kill() to the
 * process is taken by server_main's sigtimedwait and by nothing else. An
 * empty --config file keeps any resonate.toml around the checkout out. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "server/serve.h"
#include "tests/unit/server_fixture.h"
#include "tests/unit/unit.h"

#define WAIT_MS 10000

static char config[64];

typedef struct {
    const char *cmd;
    char *argv[32];
    int argc;
    int rc;
} run_t;

static void *server_thread(void *arg)
{
    run_t *r = arg;
    r->rc = server_main(r->cmd, r->argc, r->argv);
    return NULL;
}

static void setup(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(config, sizeof config, "/tmp/resonate-test-serve-XXXXXX");
    int fd = mkstemp(config);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void teardown(void)
{
    unlink(config);
    curl_global_cleanup();
}

/* A loopback port that was free a moment ago. With fd_out the socket
 * stays bound and listening (the port is then taken) and *fd_out is its
 * descriptor, for the caller to close. */
static unsigned free_port(int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    if (fd_out) {
        ck_assert_int_eq(listen(fd, 1), 0);
        *fd_out = fd;
    } else {
        close(fd);
    }
    return ntohs(sa.sin_port);
}

/* POST body to url, or GET it when body is NULL; the status, 0 when
 * nothing answered. */
static long request(const char *url, const char *body, char **out)
{
    return unit_http(body ? "POST" : "GET", url, body, NULL, out, NULL);
}

/* Polls url until it answers 200 (bounded). */
static void wait_up(const char *url)
{
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    while (request(url, NULL, NULL) != 200) {
        ck_assert_msg(unit_mono_ms() < deadline, "%s never came up", url);
        unit_sleep_ms(10);
    }
}

/* Appends the arguments (NULL-terminated) to r's argv. */
static void add(run_t *r, ...)
{
    va_list ap;
    va_start(ap, r);
    for (const char *a; (a = va_arg(ap, const char *));)
        r->argv[r->argc++] = (char *)a;
    va_end(ap);
}

/* Runs server_main synchronously with stdout/stderr discarded. */
static int run_sync(run_t *r)
{
    FILE *null = fopen("/dev/null", "w");
    unit_stdio_t saved = unit_redirect_stdio(null, null);
    int rc = server_main(r->cmd, r->argc, r->argv);
    unit_restore_stdio(saved);
    fclose(null);
    return rc;
}

/* Runs server_main on a thread of its own and waits until health answers;
 * returns the thread. */
static pthread_t start_async(run_t *r, const char *health)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, server_thread, r), 0);
    wait_up(health);
    return t;
}

/* Sends sig to the process and expects server_main to return 0. */
static void stop_with(int sig, pthread_t t, run_t *r)
{
    kill(getpid(), sig);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(r->rc, 0);
}

START_TEST(dev_server_serves_api_and_metrics_until_sigterm_then_returns_0)
{
    char port[8], mport[8], base[64], metrics[64];
    snprintf(port, sizeof port, "%u", free_port(NULL));
    snprintf(mport, sizeof mport, "%u", free_port(NULL));
    snprintf(base, sizeof base, "http://127.0.0.1:%s", port);
    snprintf(metrics, sizeof metrics, "http://127.0.0.1:%s/metrics", mport);
    run_t r = {.cmd = "dev", .rc = -1};
    add(&r, "--config", config, "--server-port", port, "--server-bind", "127.0.0.1",
        "--observability-metrics-port", mport, "--transports-http-poll-keepalive", "100", "--level",
        "error", "--server-cors-allow-origin", "*", "--debug", NULL);
    char health[96];
    snprintf(health, sizeof health, "%s/health", base);
    pthread_t t = start_async(&r, health);
    char root[80];
    snprintf(root, sizeof root, "%s/", base);
    ck_assert_int_eq(request(root,
                             "{\"kind\":\"promise.create\",\"head\":{\"corrId\":\"1\",\"version\":"
                             "\"2026-04-01\"},\"data\":{\"id\":\"p\",\"timeoutAt\":99999999999999,"
                             "\"param\":{},\"tags\":{}}}",
                             NULL),
                     200);
    ck_assert_int_eq(
        request(root,
                "{\"kind\":\"debug.snap\",\"head\":{\"corrId\":\"2\",\"version\":\"2026-04-01\"},"
                "\"data\":{}}",
                NULL),
        200);
    /* /metrics starts listening just after the API: wait for it too. */
    wait_up(metrics);
    char *text = NULL;
    ck_assert_int_eq(request(metrics, NULL, &text), 200);
    ck_assert_ptr_nonnull(strstr(text, "promise.create"));
    free(text);
    /* SIGHUP with auth off: logged, and the server keeps serving. */
    kill(getpid(), SIGHUP);
    ck_assert_int_eq(request(health, NULL, NULL), 200);
    stop_with(SIGTERM, t, &r);
    ck_assert_int_eq(request(health, NULL, NULL), 0);
}
END_TEST

START_TEST(serve_with_unsigned_auth_reloads_on_sighup_and_stops_on_sigint)
{
    char port[8], base[64];
    snprintf(port, sizeof port, "%u", free_port(NULL));
    snprintf(base, sizeof base, "http://127.0.0.1:%s/health", port);
    run_t r = {.cmd = "serve", .rc = -1};
    add(&r, "--config", config, "--server-port", port, "--server-bind", "127.0.0.1",
        "--storage-sqlite-path", ":memory:", "--auth-publickey", "none", "--level", "error", NULL);
    pthread_t t = start_async(&r, base);
    kill(getpid(), SIGHUP);
    ck_assert_int_eq(request(base, NULL, NULL), 200);
    stop_with(SIGINT, t, &r);
}
END_TEST

START_TEST(usage_errors_return_2_and_help_returns_0)
{
    run_t r = {.cmd = "serve"};
    add(&r, "--no-such-flag", NULL);
    ck_assert_int_eq(run_sync(&r), 2);
    run_t range = {.cmd = "serve"};
    add(&range, "--server-port", "70000", NULL);
    ck_assert_int_eq(run_sync(&range), 2);
    run_t h = {.cmd = "dev"};
    add(&h, "--help", NULL);
    ck_assert_int_eq(run_sync(&h), 0);
}
END_TEST

START_TEST(configuration_errors_and_a_taken_port_return_1)
{
    FILE *f = fopen(config, "w");
    fputs("[server\n", f);
    fclose(f);
    run_t r = {.cmd = "serve"};
    add(&r, "--config", config, NULL);
    ck_assert_int_eq(run_sync(&r), 1);
    f = fopen(config, "w");
    fclose(f);
    int fd;
    char port[8];
    snprintf(port, sizeof port, "%u", free_port(&fd));
    run_t taken = {.cmd = "dev"};
    add(&taken, "--config", config, "--server-port", port, "--server-bind", "127.0.0.1", "--level",
        "error", NULL);
    ck_assert_int_eq(run_sync(&taken), 1);
    close(fd);
}
END_TEST

static Suite *serve_suite(void)
{
    Suite *s = suite_create("serve");
    TCase *tc = tcase_create("server_main");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, dev_server_serves_api_and_metrics_until_sigterm_then_returns_0);
    tcase_add_test(tc, serve_with_unsigned_auth_reloads_on_sighup_and_stops_on_sigint);
    tcase_add_test(tc, usage_errors_return_2_and_help_returns_0);
    tcase_add_test(tc, configuration_errors_and_a_taken_port_return_1);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(serve_suite)
