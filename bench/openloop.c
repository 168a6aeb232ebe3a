/* openloop.c - fixed-rate (open-loop) HTTP load for latency measurements.
 *
 * wrk is closed-loop: a slow answer delays the next request, so its
 * percentiles hide queueing ("coordinated omission"), and it has no rate
 * limit. This tool schedules request i at t0 + i/rate whatever happens, sends
 * it on the first idle keep-alive connection, and measures latency from the
 * scheduled instant to the end of the answer, so time spent waiting for a
 * free connection counts. Single-threaded (epoll + timerfd).
 *
 * Usage: openloop -p PORT -r RATE -d SECONDS [-c CONNECTIONS] [-i RUNID]
 *                 [-k KIND -j DATA] [-a TOKEN] [-x PREFIX]
 * Sends promise.create with unique ids "PREFIXol-RUNID-N" to 127.0.0.1:PORT,
 * or with -k and -j the same request of that kind and JSON data every time
 * (bench/search.sh: searches), with TOKEN in head.auth when given
 * (bench/fair.sh: a tenant's requests), and prints one summary line. An
 * answer counts as ok when both the HTTP status and the envelope's are 200.
 * Exit code 1 when any request failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define BUF_CAP (1u << 20) /* bytes of one answer at most (a page of promises) */

typedef struct {
    int fd;
    int busy;
    uint64_t start_ns; /* scheduled instant of the request in flight */
    char req[6144];
    size_t req_len, req_off;
    char *buf; /* BUF_CAP bytes */
    size_t buf_len;
} conn_t;

typedef struct {
    int port;
    double rate;
    double seconds;
    int nconns;
    const char *run_id;
    const char *kind; /* NULL: promise.create with unique ids */
    const char *data;
    const char *token;  /* NULL: no head.auth */
    const char *prefix; /* of the ids of promise.create */
} opts_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int connect_one(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i] / 1000.0; /* us -> ms */
}

/* Returns the length of a complete response at the start of c->buf, 0 when
 * more bytes are needed, -1 when it cannot be parsed; *status gets the code. */
static long parse_response(const conn_t *c, int *status)
{
    const char *end = memmem(c->buf, c->buf_len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->buf) + 4;
    if (c->buf_len < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(c->buf + 9);
    long clen = 0;
    for (const char *p = c->buf; p < end; p++) {
        if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
            clen = atol(p + 15);
            break;
        }
    }
    if (c->buf_len < head + (size_t)clen)
        return 0;
    return (long)(head + (size_t)clen);
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s -p PORT -r RATE -d SECONDS [-c CONNECTIONS] [-i RUNID] [-k KIND -j DATA]"
            " [-a TOKEN] [-x PREFIX]\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    opts_t o = {.nconns = 64, .run_id = "x", .prefix = ""};
    int ch;
    while ((ch = getopt(argc, argv, "p:r:d:c:i:k:j:a:x:")) != -1) {
        switch (ch) {
        case 'p':
            o.port = atoi(optarg);
            break;
        case 'r':
            o.rate = atof(optarg);
            break;
        case 'd':
            o.seconds = atof(optarg);
            break;
        case 'c':
            o.nconns = atoi(optarg);
            break;
        case 'i':
            o.run_id = optarg;
            break;
        case 'k':
            o.kind = optarg;
            break;
        case 'j':
            o.data = optarg;
            break;
        case 'a':
            o.token = optarg;
            break;
        case 'x':
            o.prefix = optarg;
            break;
        default:
            return usage(argv[0]);
        }
    }
    if (o.port <= 0 || o.rate <= 0 || o.seconds <= 0 || o.nconns < 1 || o.nconns > MAX_CONNS ||
        !o.kind != !o.data || (o.data && strlen(o.data) > 3000) ||
        (o.token && strlen(o.token) > 2000) || strlen(o.prefix) > 200)
        return usage(argv[0]);
    char auth[2100] = "";
    if (o.token)
        snprintf(auth, sizeof auth, ",\"auth\":\"%s\"", o.token);

    uint64_t total = (uint64_t)(o.rate * o.seconds);
    uint64_t interval = (uint64_t)(1e9 / o.rate);
    uint32_t *lat = calloc(total ? total : 1, sizeof *lat);
    uint64_t *queue =
        calloc(total ? total : 1, sizeof *queue); /* scheduled instants not yet sent */
    conn_t *conns = calloc((size_t)o.nconns, sizeof *conns);
    if (!lat || !queue || !conns) {
        fprintf(stderr, "openloop: out of memory\n");
        return 1;
    }
    int ep = epoll_create1(0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    for (int i = 0; i < o.nconns; i++) {
        if (!(conns[i].buf = malloc(BUF_CAP))) {
            fprintf(stderr, "openloop: out of memory\n");
            return 1;
        }
        conns[i].fd = connect_one(o.port);
        if (conns[i].fd < 0) {
            fprintf(stderr, "openloop: cannot connect to 127.0.0.1:%d\n", o.port);
            return 1;
        }
        struct epoll_event cev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &cev);
    }

    uint64_t t0 = now_ns() + 10000000ull; /* start 10 ms from now */
    uint64_t scheduled = 0, qhead = 0, qtail = 0, done = 0, ok = 0, failed = 0, nlat = 0;
    uint64_t deadline = t0 + (uint64_t)(o.seconds * 1e9) + 10000000000ull; /* 10 s grace */

    for (;;) {
        uint64_t now = now_ns();
        /* Everything scheduled up to now joins the queue. */
        while (scheduled < total && t0 + scheduled * interval <= now)
            queue[qtail++] = t0 + (scheduled++) * interval;
        /* Idle connections take queued requests, oldest first. */
        for (int i = 0; i < o.nconns && qhead < qtail; i++) {
            conn_t *c = &conns[i];
            if (c->busy || c->fd < 0)
                continue;
            uint64_t n = qhead;
            c->start_ns = queue[qhead++];
            char body[5600];
            int blen =
                o.kind ? snprintf(body, sizeof body,
                                  "{\"kind\":\"%s\",\"head\":{\"corrId\":\"%llu\","
                                  "\"version\":\"2026-04-01\"%s},\"data\":%s}",
                                  o.kind, (unsigned long long)n, auth, o.data)
                       : snprintf(body, sizeof body,
                                  "{\"kind\":\"promise.create\",\"head\":{\"corrId\":\"%llu\","
                                  "\"version\":\"2026-04-01\"%s},\"data\":{\"id\":\"%sol-%s-%llu\","
                                  "\"timeoutAt\":4102444800000,\"param\":{},\"tags\":{}}}",
                                  (unsigned long long)n, auth, o.prefix, o.run_id,
                                  (unsigned long long)n);
            c->req_len = (size_t)snprintf(c->req, sizeof c->req,
                                          "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "Content-Type: application/json\r\n"
                                          "Content-Length: %d\r\n\r\n%s",
                                          blen, body);
            c->req_off = 0;
            c->busy = 1;
            while (c->req_off < c->req_len) {
                ssize_t w = write(c->fd, c->req + c->req_off, c->req_len - c->req_off);
                if (w <= 0) {
                    if (w < 0 && errno == EINTR)
                        continue;
                    break; /* a 512-byte request fits any socket buffer */
                }
                c->req_off += (size_t)w;
            }
        }
        if (scheduled >= total && done + failed >= total)
            break;
        if (now > deadline)
            break;
        /* Sleep until the next scheduled instant or a socket event. */
        if (scheduled < total) {
            uint64_t next = t0 + scheduled * interval;
            struct itimerspec its = {.it_value = {.tv_sec = (time_t)(next / 1000000000ull),
                                                  .tv_nsec = (long)(next % 1000000000ull)}};
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 100);
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u64 == UINT64_MAX) {
                uint64_t exp;
                while (read(tfd, &exp, sizeof exp) > 0)
                    ;
                continue;
            }
            conn_t *c = &conns[evs[k].data.u64];
            ssize_t r = c->buf_len < BUF_CAP
                            ? read(c->fd, c->buf + c->buf_len, BUF_CAP - c->buf_len)
                            : -1; /* an answer over BUF_CAP: failed */
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                /* Server closed the connection: the request in flight failed. */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (c->busy)
                    failed++;
                c->busy = 0;
                c->buf_len = 0;
                c->fd = connect_one(o.port);
                if (c->fd >= 0) {
                    struct epoll_event cev = {.events = EPOLLIN, .data.u64 = evs[k].data.u64};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &cev);
                }
                continue;
            }
            c->buf_len += (size_t)r;
            int status = 0;
            long len = parse_response(c, &status);
            if (len == 0)
                continue;
            uint64_t t = now_ns();
            if (len < 0 || !c->busy) {
                failed++;
                c->buf_len = 0;
            } else {
                lat[nlat++] = (uint32_t)((t - c->start_ns) / 1000ull);
                done++;
                if (status == 200 && memmem(c->buf, (size_t)len, "\"status\":200", 12))
                    ok++;
                memmove(c->buf, c->buf + len, c->buf_len - (size_t)len);
                c->buf_len -= (size_t)len;
            }
            c->busy = 0;
        }
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    uint64_t lost = total - done - failed;
    printf("openloop: rate=%.0f/s duration=%.1fs connections=%d sent=%llu answered=%llu "
           "ok=%llu failed=%llu unanswered=%llu achieved=%.0f/s "
           "p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms\n",
           o.rate, o.seconds, o.nconns, (unsigned long long)scheduled, (unsigned long long)done,
           (unsigned long long)ok, (unsigned long long)failed, (unsigned long long)lost,
           (double)done / elapsed, pct(lat, nlat, 50), pct(lat, nlat, 90), pct(lat, nlat, 99),
           pct(lat, nlat, 99.9), nlat ? lat[nlat - 1] / 1000.0 : 0.0);
    for (int i = 0; i < o.nconns; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
        free(conns[i].buf);
    }
    close(tfd);
    close(ep);
    free(lat);
    free(queue);
    free(conns);
    return (failed || lost || ok != done) ? 1 : 0;
}
