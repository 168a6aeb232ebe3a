/* test_poll.c - the SSE hub (server/poll.c) behind a minimal libmicrohttpd
 * daemon on 127.0.0.1 that opens a stream for GET /<group>/<id>[?prefix=P],
 * read by plain sockets speaking HTTP/1.0 (so the body arrives unchunked and
 * the exact bytes of each frame can be compared). Covers the framing
 * (": connected", "data: <json>", ": keep-alive", each ended by a blank
 * line), routing (uni, any with round robin, any preferring its id), prefix
 * filtering, the per-stream queue bound, the stream limit, hang-ups and
 * close_all. Every read has a deadline. Also the parser of the stream path
 * GET /poll/:group/:id (poll_parse_path). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/engine.h"
#include "server/outbox.h"
#include "server/poll.h"
#include "tests/unit/fake_store.h"
#include "tests/unit/unit.h"

#define WAIT_MS 3000

static poll_hub_t *hub;
static struct MHD_Daemon *d;
static uint16_t port;

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **ctx)
{
    (void)cls, (void)method, (void)version, (void)data, (void)size, (void)ctx;
    char group[64] = "", id[64] = "";
    sscanf(url, "/%63[^/]/%63s", group, id);
    const char *prefix = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "prefix");
    /* ?until=S: the stream's token is valid until Unix second S */
    const char *until = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "until");
    unsigned status = MHD_HTTP_OK;
    char why[256];
    struct MHD_Response *r =
        poll_open(hub, conn, group, id, prefix, "tenant",
                  MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "owner"),
                  until ? strtoll(until, NULL, 10) : INT64_MAX, &status, why, sizeof why);
    if (!r)
        r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    else
        status = MHD_HTTP_OK;
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static void start(size_t max_streams, size_t buffer)
{
    hub = poll_hub_new(&(poll_config_t){.max_streams = max_streams, .buffer = buffer});
    ck_assert_ptr_nonnull(hub);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC,
                         0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    ck_assert_ptr_nonnull(d);
    port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void setup(void)
{
    start(16, 8);
}

static void teardown(void)
{
    poll_hub_close_all(hub);
    MHD_stop_daemon(d);
    poll_hub_free(hub);
}

/* Reads from fd until buf (of cap bytes) holds needle or the deadline
 * passes; returns the bytes held (NUL-terminated), -1 on end-of-file
 * before the needle. */
static ssize_t read_until(int fd, char *buf, size_t cap, size_t have, const char *needle)
{
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    buf[have] = '\0';
    while (!strstr(buf, needle)) {
        int64_t left = deadline - unit_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = recv(fd, buf + have, cap - 1 - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
    }
    return (ssize_t)have;
}

/* An open stream: its socket and the body bytes not yet consumed. */
typedef struct {
    int fd;
    char buf[8192];
    size_t have;
} client_t;

/* Connects to path; returns the HTTP status. On 200 the response head and
 * the ": connected" frame have been consumed. */
static int open_stream(client_t *c, const char *path)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    ck_assert_int_eq(send(c->fd, req, (size_t)n, 0), n);
    ssize_t have = read_until(c->fd, c->buf, sizeof c->buf, 0, "\r\n\r\n");
    ck_assert_msg(have > 0, "no response head for %s", path);
    int status = 0;
    sscanf(c->buf, "HTTP/1.%*d %d", &status);
    if (status != 200)
        return status;
    ck_assert_ptr_nonnull(strcasestr(c->buf, "\r\nContent-Type: text/event-stream\r\n"));
    ck_assert_ptr_nonnull(strcasestr(c->buf, "\r\nCache-Control: no-cache\r\n"));
    char *body = strstr(c->buf, "\r\n\r\n") + 4;
    c->have = (size_t)have - (size_t)(body - c->buf);
    memmove(c->buf, body, c->have + 1);
    return status;
}

/* Reads exactly the next frame (up to and including its blank line) and
 * compares it byte for byte. */
static void expect_frame(client_t *c, const char *frame)
{
    ssize_t have = read_until(c->fd, c->buf, sizeof c->buf, c->have, "\n\n");
    ck_assert_msg(have > 0, "stream ended before %s", frame);
    size_t len = strlen(frame);
    ck_assert_msg((size_t)have >= len && memcmp(c->buf, frame, len) == 0,
                  "expected frame [%s], got [%s]", frame, c->buf);
    c->have = (size_t)have - len;
    memmove(c->buf, c->buf + len, c->have + 1);
}

/* Nothing more arrives within ms. */
static void expect_quiet(client_t *c, int ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    ck_assert_int_eq(c->have, 0);
    ck_assert_int_eq(poll(&p, 1, ms), 0);
}

static bool send_to(const char *address, const char *resource, const char *json)
{
    addr_t a;
    ck_assert(addr_parse(address, &a));
    return poll_send(hub, &a, resource, json, strlen(json), -1);
}

/* Waits (bounded) until the hub holds n streams. */
static void wait_count(size_t n)
{
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    while (poll_count(hub) != n && unit_mono_ms() < deadline)
        unit_sleep_ms(2);
    ck_assert_int_eq(poll_count(hub), n);
}

START_TEST(stream_starts_with_a_connected_comment_then_data_frames)
{
    client_t c;
    ck_assert_int_eq(open_stream(&c, "/g/w1"), 200);
    expect_frame(&c, ": connected\n\n");
    ck_assert(send_to("poll://uni@g/w1", "t1", "{\"kind\":\"execute\"}"));
    expect_frame(&c, "data: {\"kind\":\"execute\"}\n\n");
    ck_assert(send_to("poll://uni@g/w1", "t2", "{}"));
    ck_assert(send_to("poll://uni@g/w1", "t3", "[1]"));
    expect_frame(&c, "data: {}\n\n");
    expect_frame(&c, "data: [1]\n\n");
    close(c.fd);
}
END_TEST

START_TEST(uni_address_reaches_only_its_own_stream)
{
    client_t w1, w2;
    open_stream(&w1, "/g/w1");
    open_stream(&w2, "/g/w2");
    expect_frame(&w1, ": connected\n\n");
    expect_frame(&w2, ": connected\n\n");
    ck_assert(send_to("poll://uni@g/w2", "t", "{\"n\":1}"));
    expect_frame(&w2, "data: {\"n\":1}\n\n");
    expect_quiet(&w1, 50);
    ck_assert(!send_to("poll://uni@g/w3", "t", "{}"));
    ck_assert(!send_to("poll://uni@other/w1", "t", "{}"));
    close(w1.fd);
    close(w2.fd);
}
END_TEST

START_TEST(any_address_takes_the_streams_of_its_group_in_turn)
{
    client_t w[2];
    open_stream(&w[0], "/g/w1");
    open_stream(&w[1], "/g/w2");
    for (int i = 0; i < 2; i++)
        expect_frame(&w[i], ": connected\n\n");
    for (int i = 0; i < 4; i++) {
        char json[32];
        snprintf(json, sizeof json, "{\"n\":%d}", i);
        ck_assert(send_to("poll://any@g", "t", json));
    }
    /* The first stream opened takes 0 and 2, the other 1 and 3. */
    expect_frame(&w[0], "data: {\"n\":0}\n\n");
    expect_frame(&w[0], "data: {\"n\":2}\n\n");
    expect_frame(&w[1], "data: {\"n\":1}\n\n");
    expect_frame(&w[1], "data: {\"n\":3}\n\n");
    ck_assert(!send_to("poll://any@empty", "t", "{}"));
    close(w[0].fd);
    close(w[1].fd);
}
END_TEST

START_TEST(any_address_with_an_id_prefers_that_stream_and_falls_back_to_the_group)
{
    client_t w1, w2;
    open_stream(&w1, "/g/w1");
    open_stream(&w2, "/g/w2");
    expect_frame(&w1, ": connected\n\n");
    expect_frame(&w2, ": connected\n\n");
    ck_assert(send_to("poll://any@g/w2", "t", "{\"to\":2}"));
    ck_assert(send_to("poll://any@g/w2", "t", "{\"to\":2}"));
    expect_frame(&w2, "data: {\"to\":2}\n\n");
    expect_frame(&w2, "data: {\"to\":2}\n\n");
    expect_quiet(&w1, 50);
    ck_assert(send_to("poll://any@g/gone", "t", "{\"to\":\"any\"}"));
    expect_frame(&w1, "data: {\"to\":\"any\"}\n\n");
    close(w1.fd);
    close(w2.fd);
}
END_TEST

START_TEST(prefixed_stream_hears_only_about_ids_under_its_prefix)
{
    client_t c;
    open_stream(&c, "/g/w1?prefix=acme.");
    expect_frame(&c, ": connected\n\n");
    ck_assert(!send_to("poll://uni@g/w1", "other.1", "{\"n\":1}"));
    ck_assert(!send_to("poll://any@g", "acm", "{\"n\":2}"));
    ck_assert(send_to("poll://uni@g/w1", "acme.1", "{\"n\":3}"));
    expect_frame(&c, "data: {\"n\":3}\n\n");
    close(c.fd);
}
END_TEST

START_TEST(stream_queue_is_bounded_while_its_client_does_not_read)
{
    client_t c;
    open_stream(&c, "/g/w1");
    expect_frame(&c, ": connected\n\n");
    /* The client stops reading: once the socket buffers are full, frames
     * pile up in the stream's queue until its bound refuses the next one. */
    static char big[65536];
    memset(big, 'x', sizeof big - 1);
    int sent = 0;
    bool refused = false;
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    while (!refused && sent < 4096 && unit_mono_ms() < deadline) {
        refused = !send_to("poll://uni@g/w1", "t", big);
        sent += !refused;
    }
    ck_assert_msg(refused, "queue never refused a frame (%d sent)", sent);
    ck_assert_int_ge(sent, 8); /* at least the bound (setup: 8 per stream) */
    /* Reading makes room again. */
    static char sink[65536];
    deadline = unit_mono_ms() + WAIT_MS;
    bool took = false;
    while (!took && unit_mono_ms() < deadline) {
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0 && recv(c.fd, sink, sizeof sink, 0) <= 0)
            break;
        took = send_to("poll://uni@g/w1", "t", "{}");
    }
    ck_assert(took);
    close(c.fd);
}
END_TEST

START_TEST(keepalive_writes_a_comment_to_idle_streams)
{
    client_t c;
    open_stream(&c, "/g/w1");
    expect_frame(&c, ": connected\n\n");
    poll_keepalive(hub);
    expect_frame(&c, ": keep-alive\n\n");
    unit_sleep_ms(50); /* rounds come an interval apart */
    poll_keepalive(hub);
    expect_frame(&c, ": keep-alive\n\n");
    close(c.fd);
}
END_TEST

/* Regression: a stream opened just before a round got its keep-alive at
 * once (0 ms after opening); a round now skips streams that queued a frame
 * in the last half interval, so the first comes 0.5 to 1.5 intervals in. */
START_TEST(a_stream_opened_just_before_a_round_gets_its_keep_alive_from_the_next)
{
    poll_keepalive(hub);
    unit_sleep_ms(200);
    client_t c;
    open_stream(&c, "/g/w1");
    expect_frame(&c, ": connected\n\n");
    poll_keepalive(hub);
    struct pollfd p = {.fd = c.fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 150), 0);
    unit_sleep_ms(200);
    poll_keepalive(hub);
    expect_frame(&c, ": keep-alive\n\n");
    close(c.fd);
}
END_TEST

START_TEST(hung_up_stream_is_unregistered_and_no_longer_takes_messages)
{
    client_t c;
    open_stream(&c, "/g/w1");
    expect_frame(&c, ": connected\n\n");
    wait_count(1);
    close(c.fd);
    /* The watcher sees the hang-up and the stream goes, without any send. */
    wait_count(0);
    ck_assert(!send_to("poll://uni@g/w1", "t", "{}"));
}
END_TEST

/* What poll_hub_on_result heard, in order. */
static pthread_mutex_t res_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t res_seq[16];
static bool res_delivered[16];
static int n_res;

static void record_result(void *arg, int64_t seq, bool delivered)
{
    ck_assert_ptr_eq(arg, &n_res);
    pthread_mutex_lock(&res_mu);
    if (n_res < 16) {
        res_seq[n_res] = seq;
        res_delivered[n_res++] = delivered;
    }
    pthread_mutex_unlock(&res_mu);
}

/* Waits (bounded) for the report on seq; returns whether it said delivered
 * (fails the test when none came). */
static bool result_of(int64_t seq)
{
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    for (;;) {
        pthread_mutex_lock(&res_mu);
        for (int i = 0; i < n_res; i++)
            if (res_seq[i] == seq) {
                bool got = res_delivered[i];
                pthread_mutex_unlock(&res_mu);
                return got;
            }
        pthread_mutex_unlock(&res_mu);
        ck_assert_msg(unit_mono_ms() < deadline, "no report on message %lld within %d ms",
                      (long long)seq, WAIT_MS);
        unit_sleep_ms(2);
    }
}

/* A message a stream takes is delivered only once written: one still queued
 * when the stream ends (here its client stopped reading, then hung up) is
 * reported undelivered, so the outbox sends it again rather than losing it. */
START_TEST(a_message_is_reported_delivered_once_written_and_undelivered_if_its_stream_ends_first)
{
    poll_hub_on_result(hub, record_result, &n_res);
    client_t c;
    open_stream(&c, "/g/w1");
    expect_frame(&c, ": connected\n\n");
    addr_t a;
    ck_assert(addr_parse("poll://uni@g/w1", &a));
    ck_assert(poll_send(hub, &a, "t", "{}", 2, 7));
    expect_frame(&c, "data: {}\n\n");
    ck_assert(result_of(7));
    /* Far more than the socket buffers hold, to a client that reads no more. */
    size_t big = 32u << 20;
    char *json = malloc(big);
    ck_assert_ptr_nonnull(json);
    memset(json, 'x', big);
    json[0] = json[big - 1] = '"';
    ck_assert(poll_send(hub, &a, "t", json, big, 8));
    ck_assert(poll_send(hub, &a, "t", "{}", 2, 9));
    free(json);
    unit_sleep_ms(100);
    pthread_mutex_lock(&res_mu);
    int before = n_res;
    pthread_mutex_unlock(&res_mu);
    ck_assert_int_eq(before, 1); /* neither is written whole yet */
    close(c.fd);
    ck_assert(!result_of(8));
    ck_assert(!result_of(9));
    wait_count(0);
    poll_hub_on_result(hub, NULL, &n_res);
}
END_TEST

/* ---- with the outbox: results of the messages a stream took ---- */

static store_t *ost;
static arena_t *oa;
static outbox_t *ob;
static client_t oc; /* the stream of poll://uni@g/w1 */

/* A store, an outbox over the hub, the stream of poll://uni@g/w1 made to
 * hold what it takes (behind a frame larger than the socket buffers, to a
 * client that reads no more), and a task whose execute the outbox has just
 * handed to that stream at time 1000. */
static void message_taken_and_unwritten(void)
{
    ost = fake_store_open();
    oa = arena_new();
    outbox_config_t cfg = {.server_url = "http://srv",
                           .batch = 10,
                           .max_attempts = 5,
                           .backoff_base_ms = 100,
                           .backoff_max_ms = 100,
                           .hub = hub};
    char err[256];
    ob = outbox_new(&cfg, err, sizeof err);
    ck_assert_msg(ob != NULL, "outbox_new: %s", err);
    open_stream(&oc, "/g/w1");
    expect_frame(&oc, ": connected\n\n");
    size_t big = 32u << 20;
    char *json = malloc(big);
    ck_assert_ptr_nonnull(json);
    memset(json, 'x', big);
    json[0] = json[big - 1] = '"';
    addr_t addr;
    ck_assert(addr_parse("poll://uni@g/w1", &addr));
    ck_assert(poll_send(hub, &addr, "t", json, big, -1));
    free(json);
    request_t r = {.op = OP_PROMISE_CREATE, .corr_id = "c", .now = 1000};
    static kv_t tag = {"resonate:target", "poll://uni@g/w1"};
    r.u.promise_create =
        (promise_create_t){.id = "t", .timeout_at = INT64_MAX / 2, .tags = {.items = &tag, .n = 1}};
    response_t resp = {0};
    engine_config_t ec = {.retry_timeout = 3600000};
    ck_assert_int_eq(store_begin(ost), STORE_OK);
    ck_assert_int_eq(engine_apply(&ec, ost, oa, &r, &resp), 0);
    ck_assert_int_eq(store_commit(ost), STORE_OK);
    response_clear(&resp);
    outbox_deliver(ob, ost, 1000);
}

static void outbox_done(void)
{
    outbox_free(ob);
    arena_free(oa);
    store_close(ost);
}

/* One transaction that records what the outbox holds. */
static void record(void)
{
    ck_assert_int_eq(store_begin(ost), STORE_OK);
    ck_assert_int_eq(outbox_flush(ob, ost), STORE_OK);
    ck_assert_int_eq(store_commit(ost), STORE_OK);
    outbox_flush_end(ob, true);
}

/* The outbox row of the task (asserted the only one, due or not). */
static outbox_msg_t the_row(void)
{
    outbox_msg_t *m;
    size_t n = 0;
    ck_assert_int_eq(store_outbox_due(ost, oa, INT64_MAX, 10, &m, &n), STORE_OK);
    ck_assert_uint_eq(n, 1);
    return m[0];
}

/* The message is held: its row is deferred at the next transaction, so
 * that delivery rounds stop reading it; once the stream ends it is due
 * again with a failed attempt. */
START_TEST(the_outbox_holds_a_message_a_stream_took_until_its_result_then_retries_it)
{
    message_taken_and_unwritten();
    ck_assert(outbox_dirty(ob)); /* the hold */
    record();
    ck_assert(!outbox_dirty(ob));
    ck_assert_int_eq(the_row().not_before, 1000 + OUTBOX_POLL_HOLD_MS);
    ck_assert_int_eq(the_row().attempts, 0);
    close(oc.fd); /* the client goes: not delivered */
    wait_count(0);
    ck_assert(outbox_dirty(ob));
    record();
    ck_assert_int_eq(the_row().attempts, 1);
    ck_assert_int_ne(the_row().not_before, 1000 + OUTBOX_POLL_HOLD_MS); /* the back-off */
    outbox_done();
}
END_TEST

/* From inside the hold's write: the client goes, and the result comes. */
static void client_goes(void *arg)
{
    (void)arg;
    close(oc.fd);
    wait_count(0);
}

/* The result arrives while the hold is being written: the transaction
 * keeps the hold, and the result is written by the next one, not lost. */
START_TEST(a_result_that_comes_while_its_hold_is_written_is_written_next)
{
    message_taken_and_unwritten();
    fake_store_on_defer(client_goes, NULL);
    record();
    fake_store_on_defer(NULL, NULL);
    ck_assert_int_eq(the_row().attempts, 0); /* the hold */
    ck_assert(outbox_dirty(ob));
    record();
    ck_assert_int_eq(the_row().attempts, 1);
    ck_assert(!outbox_dirty(ob));
    outbox_done();
}
END_TEST

START_TEST(a_group_is_freed_with_its_last_stream)
{
    /* A client naming a new group for each stream must not grow the hub:
     * each group goes with its last stream. */
    teardown();
    start(64, 8);
    client_t keep;
    ck_assert_int_eq(open_stream(&keep, "/kept/w"), 200);
    for (int round = 0; round < 3; round++) {
        client_t c[20];
        for (int i = 0; i < 20; i++) {
            char path[64];
            snprintf(path, sizeof path, "/g%d-%d/w", round, i);
            ck_assert_int_eq(open_stream(&c[i], path), 200);
        }
        wait_count(21);
        ck_assert_int_eq(poll_stats(hub).groups, 21);
        for (int i = 0; i < 20; i++)
            close(c[i].fd);
        wait_count(1);
        ck_assert_int_eq(poll_stats(hub).groups, 1);
    }
    /* The group left is whole: it takes messages and keep-alives. */
    expect_frame(&keep, ": connected\n\n");
    ck_assert(send_to("poll://any@kept", "t", "{}"));
    expect_frame(&keep, "data: {}\n\n");
    poll_keepalive(hub);
    expect_frame(&keep, ": keep-alive\n\n");
    close(keep.fd);
    wait_count(0);
    ck_assert_int_eq(poll_stats(hub).groups, 0);
    ck_assert(!send_to("poll://any@kept", "t", "{}"));
}
END_TEST

START_TEST(streams_beyond_the_limit_are_refused)
{
    teardown();
    start(1, 8);
    client_t a, b;
    ck_assert_int_eq(open_stream(&a, "/g/w1"), 200);
    ck_assert_int_eq(open_stream(&b, "/g/w2"), 503);
    close(b.fd);
    close(a.fd);
    wait_count(0);
    ck_assert_int_eq(open_stream(&b, "/g/w2"), 200);
    close(b.fd);
}
END_TEST

START_TEST(close_all_ends_every_stream_and_refuses_new_ones)
{
    client_t a;
    open_stream(&a, "/g/w1");
    expect_frame(&a, ": connected\n\n");
    poll_hub_close_all(hub);
    ck_assert_int_eq(read_until(a.fd, a.buf, sizeof a.buf, 0, "never"), -1);
    close(a.fd);
    client_t b;
    ck_assert_int_eq(open_stream(&b, "/g/w2"), 503);
    close(b.fd);
    wait_count(0);
}
END_TEST

static size_t asked; /* calls of owner_is */
static bool owner_is(void *arg, const char *owner)
{
    asked++;
    return strcmp(owner, arg) == 0;
}

/* Review finding: a stream outlived the revocation of the token it was
 * opened with; the reload ends exactly the streams whose owner is named.
 * Each distinct owner is asked once (a reload's question is a signature
 * check). */
START_TEST(close_if_ends_only_the_streams_whose_owner_is_named)
{
    client_t leaked, leaked2, other, none;
    open_stream(&leaked, "/g/w1?owner=leaked");
    open_stream(&leaked2, "/g/w4?owner=leaked");
    open_stream(&other, "/g/w2?owner=other");
    open_stream(&none, "/g/w3");
    expect_frame(&leaked, ": connected\n\n");
    expect_frame(&leaked2, ": connected\n\n");
    expect_frame(&other, ": connected\n\n");
    expect_frame(&none, ": connected\n\n");
    asked = 0;
    ck_assert_uint_eq(poll_hub_close_if(hub, owner_is, "leaked"), 2);
    ck_assert_uint_eq(asked, 2);
    ck_assert_int_eq(read_until(leaked.fd, leaked.buf, sizeof leaked.buf, 0, "never"), -1);
    ck_assert_int_eq(read_until(leaked2.fd, leaked2.buf, sizeof leaked2.buf, 0, "never"), -1);
    close(leaked.fd);
    close(leaked2.fd);
    wait_count(2);
    /* The others still take messages. */
    ck_assert(send_to("poll://uni@g/w2", "x", "{\"n\":1}"));
    expect_frame(&other, "data: {\"n\":1}\n\n");
    ck_assert(send_to("poll://uni@g/w3", "x", "{\"n\":2}"));
    expect_frame(&none, "data: {\"n\":2}\n\n");
    ck_assert_uint_eq(poll_hub_close_if(hub, owner_is, "nobody"), 0);
    close(other.fd);
    close(none.fd);
    wait_count(0);
}
END_TEST

/* Review finding: a stream outlived its token's exp. A stream ends once the
 * clock passes its until_s: before a message is offered to it (the message
 * goes nowhere and is retried), and at a keep-alive round. */
START_TEST(a_stream_ends_when_its_token_expires)
{
    client_t msg, idle, forever;
    char path[64];
    long long until = (long long)time(NULL) + 1;
    snprintf(path, sizeof path, "/g/w1?until=%lld", until);
    open_stream(&msg, path);
    snprintf(path, sizeof path, "/g/w2?until=%lld", until);
    open_stream(&idle, path);
    open_stream(&forever, "/g/w3");
    expect_frame(&msg, ": connected\n\n");
    expect_frame(&idle, ": connected\n\n");
    expect_frame(&forever, ": connected\n\n");
    ck_assert(send_to("poll://uni@g/w1", "x", "{\"n\":1}")); /* still valid */
    expect_frame(&msg, "data: {\"n\":1}\n\n");
    while ((long long)time(NULL) <= until) /* at most 2 s */
        unit_sleep_ms(20);
    addr_t a;
    ck_assert(addr_parse("poll://uni@g/w1", &a));
    ck_assert(!poll_ready(hub, &a, "x"));
    ck_assert(!send_to("poll://uni@g/w1", "x", "{\"n\":2}"));
    ck_assert_int_eq(read_until(msg.fd, msg.buf, sizeof msg.buf, 0, "never"), -1);
    poll_keepalive(hub);
    ck_assert_int_eq(read_until(idle.fd, idle.buf, sizeof idle.buf, 0, "never"), -1);
    expect_frame(&forever, ": keep-alive\n\n");
    ck_assert_uint_eq(poll_stats(hub).expired, 2);
    close(msg.fd);
    close(idle.fd);
    wait_count(1);
    close(forever.fd);
    wait_count(0);
}
END_TEST

/* ---- the stream path (poll_parse_path) ---------------------------------- */

START_TEST(poll_path_yields_group_and_id)
{
    char g[POLL_NAME_MAX + 1], id[POLL_NAME_MAX + 1];
    ck_assert(poll_parse_path("/poll/default/w1", g, id));
    ck_assert_str_eq(g, "default");
    ck_assert_str_eq(id, "w1");
    ck_assert(poll_parse_path("/poll/a b:c@d/\xc3\xa9?x", g, id));
    ck_assert_str_eq(g, "a b:c@d");
    ck_assert_str_eq(id, "\xc3\xa9?x");
}
END_TEST

START_TEST(poll_path_without_group_or_id_or_with_more_segments_is_refused)
{
    static const char *const bad[] = {
        "",           "/poll",       "/poll/",     "/poll/g",   "/poll/g/", "/poll//w",
        "/poll/g/w/", "/poll/g/w/x", "/polls/g/w", "/POLL/g/w", "poll/g/w", "/poll///",
    };
    char g[POLL_NAME_MAX + 1], id[POLL_NAME_MAX + 1];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!poll_parse_path(bad[i], g, id), "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(poll_path_group_and_id_are_bounded_by_poll_name_max)
{
    char url[2 * POLL_NAME_MAX + 16], g[POLL_NAME_MAX + 1], id[POLL_NAME_MAX + 1];
    strcpy(url, "/poll/");
    memset(url + 6, 'g', POLL_NAME_MAX);
    strcpy(url + 6 + POLL_NAME_MAX, "/");
    memset(url + 7 + POLL_NAME_MAX, 'i', POLL_NAME_MAX);
    url[7 + 2 * POLL_NAME_MAX] = '\0';
    ck_assert(poll_parse_path(url, g, id));
    ck_assert_uint_eq(strlen(g), POLL_NAME_MAX);
    ck_assert_uint_eq(strlen(id), POLL_NAME_MAX);

    strcat(url, "i"); /* id one byte over */
    ck_assert(!poll_parse_path(url, g, id));

    strcpy(url, "/poll/");
    memset(url + 6, 'g', POLL_NAME_MAX + 1); /* group one byte over */
    strcpy(url + 7 + POLL_NAME_MAX, "/w");
    ck_assert(!poll_parse_path(url, g, id));
}
END_TEST

static Suite *poll_suite(void)
{
    Suite *s = suite_create("poll");
    TCase *tc = tcase_create("sse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, stream_starts_with_a_connected_comment_then_data_frames);
    tcase_add_test(tc, uni_address_reaches_only_its_own_stream);
    tcase_add_test(tc, any_address_takes_the_streams_of_its_group_in_turn);
    tcase_add_test(tc, any_address_with_an_id_prefers_that_stream_and_falls_back_to_the_group);
    tcase_add_test(tc, prefixed_stream_hears_only_about_ids_under_its_prefix);
    tcase_add_test(tc, stream_queue_is_bounded_while_its_client_does_not_read);
    tcase_add_test(tc, keepalive_writes_a_comment_to_idle_streams);
    tcase_add_test(tc, a_stream_opened_just_before_a_round_gets_its_keep_alive_from_the_next);
    tcase_add_test(tc, hung_up_stream_is_unregistered_and_no_longer_takes_messages);
    tcase_add_test(
        tc, a_message_is_reported_delivered_once_written_and_undelivered_if_its_stream_ends_first);
    tcase_add_test(tc, the_outbox_holds_a_message_a_stream_took_until_its_result_then_retries_it);
    tcase_add_test(tc, a_result_that_comes_while_its_hold_is_written_is_written_next);
    tcase_add_test(tc, a_group_is_freed_with_its_last_stream);
    tcase_add_test(tc, streams_beyond_the_limit_are_refused);
    tcase_add_test(tc, close_all_ends_every_stream_and_refuses_new_ones);
    tcase_add_test(tc, close_if_ends_only_the_streams_whose_owner_is_named);
    tcase_add_test(tc, a_stream_ends_when_its_token_expires);
    suite_add_tcase(s, tc);
    TCase *path = tcase_create("path");
    tcase_add_test(path, poll_path_yields_group_and_id);
    tcase_add_test(path, poll_path_without_group_or_id_or_with_more_segments_is_refused);
    tcase_add_test(path, poll_path_group_and_id_are_bounded_by_poll_name_max);
    suite_add_tcase(s, path);
    return s;
}
UNIT_SUITE(poll_suite)
