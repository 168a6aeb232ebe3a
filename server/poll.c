/* poll.c - SSE stream hub; see poll.h.
 *
 * Locking: one mutex guards the whole hub (indexes, queues, flags). The
 * invariant that makes suspend/resume safe: a stream's `suspended` flag is
 * set, and MHD_suspend_connection called, under the lock by the content
 * reader; poll_send and friends resume only streams whose flag is set, and
 * clear it under the same lock, so a resume never precedes its suspend.
 *
 * Hang-ups: libmicrohttpd does not watch a suspended connection, so an idle
 * stream whose client went away would keep its registration (and its place
 * under max_streams, refusing reconnecting workers with 503) until the next
 * keep-alive. One watcher thread per hub waits on an epoll set holding every
 * stream's socket for EPOLLRDHUP (an SSE client never sends after its
 * request, so any readiness we ask for means it is gone) and ends the stream
 * at once.
 *
 * Keep-alives: writing a comment to every stream at once makes
 * libmicrohttpd resume, write and re-suspend thousands of connections in one
 * burst, stalling requests (and message delivery, behind the hub lock) for
 * a noticeable time with 10k pollers. So poll_keepalive only starts a round,
 * and the watcher thread walks the streams a slice at a time, releasing the
 * lock and pausing between slices.
 *
 * Budgets: s->bytes and hub->bytes count the bytes of queued message frames
 * (comments are a few bytes and not counted), both under the lock. A frame
 * counts until it has been handed to libmicrohttpd whole. hub->closing_bytes
 * is the part held by closing streams (on its way out). When the total
 * budget refuses a message and less than half of it is on its way out, the
 * stalled stream holding the most (its client took nothing for STALL_MS
 * while it had a message queued) is closed as if over its own budget:
 * streams that stopped reading cannot keep the total full, and so every
 * other stream's messages, for longer than a keep-alive interval or two;
 * a stream that reads is left alone. */
#include "server/poll.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"

#define BUCKETS 4096

typedef struct frame {
    struct frame *next;
    size_t len, off;
    bool msg;    /* a message (counted in the byte budgets), not a comment */
    int64_t seq; /* the message's outbox seq, reported on_result; -1: none */
    char data[];
} frame_t;

typedef struct stream stream_t;
typedef struct group group_t;

/* Streams open per tenant; an entry lives while its count is not zero. */
typedef struct tenant {
    struct tenant *next; /* bucket chain */
    size_t count;
    char name[];
} tenant_t;

struct stream {
    poll_hub_t *hub;
    struct MHD_Connection *conn;
    int fd; /* the connection's socket, -1 if unknown */
    group_t *group;
    size_t group_idx;  /* position in group->streams */
    stream_t *id_next; /* chain of the (group, id) index */
    char *id;
    char *prefix;    /* NULL = every message */
    char *owner;     /* the token it was opened with, NULL = none (poll_hub_close_if) */
    int64_t until_s; /* Unix seconds: ends once the clock passes it (poll_open) */
    tenant_t *tenant;
    frame_t *head, *tail;
    size_t queued;   /* frames */
    size_t bytes;    /* bytes of message frames */
    uint32_t serial; /* tells a stale epoll event from one for a reused fd */
    bool watched;    /* s->fd is in hub->epfd and hub->by_fd */
    bool suspended;
    bool closing;
    bool over_budget;      /* closed for going over cfg.stream_bytes */
    bool progressed;       /* the client took bytes since the last keep-alive round */
    bool cut;              /* its socket was shut down (over budget and not reading) */
    int64_t waiting_since; /* ms (monotonic) since a queued message has waited for
                            * the client: the last read, or the enqueue onto an
                            * empty queue */
    int64_t last_enqueue;  /* ms (monotonic) of the last frame queued, any kind */
};

struct group {
    group_t *next; /* bucket chain */
    char *name;
    stream_t **streams;
    size_t n, cap;
    size_t rr; /* round-robin cursor for any@ addresses */
};

struct poll_hub {
    pthread_mutex_t mu;
    group_t *groups[BUCKETS];
    stream_t *by_id[BUCKETS];
    tenant_t *tenants[BUCKETS];
    poll_config_t cfg;
    size_t count;
    size_t n_groups;      /* groups held: each has an open stream */
    size_t bytes;         /* message bytes queued over all streams */
    size_t closing_bytes; /* the part of bytes held by closing streams */
    poll_stats_t stats;
    /* poll_hub_on_result: told, under mu, of each message frame with a seq
     * once it is written whole (delivered) or dropped with its stream. */
    void (*on_result)(void *arg, int64_t seq, bool delivered);
    void *result_arg;
    bool closing;
    /* watcher thread: hang-ups and keep-alive rounds */
    int epfd, ctlfd; /* ctlfd: eventfd waking the watcher (stop, keep-alive) */
    pthread_t watcher;
    bool stopping;
    bool ka_running; /* a keep-alive round is under way; cursor below */
    size_t ka_bucket, ka_index;
    /* The round's start, and the streams it skips: those that queued a frame
     * after ka_recent (half the time since the previous round's start), so
     * that a stream opened just before a round is not sent a keep-alive at
     * once. Idle gaps therefore stay within 0.5 and 1.5 intervals. */
    int64_t ka_start, ka_recent;
    group_t *ka_group; /* a group leaving moves it on (group_drop) */
    stream_t **by_fd;  /* watched streams by socket; owned array */
    size_t n_by_fd;
    uint32_t next_serial;
};

/* epoll key of ctlfd; stream keys are (serial << 32 | fd). */
#define CTL_KEY UINT64_MAX
/* A stream whose client took nothing for this long while a message waited
 * is stalled: the first to close when the total budget is full. */
#define STALL_MS 250
/* A keep-alive round touches this many streams per slice, then pauses. */
#define KA_SLICE 64
#define KA_PAUSE_MS 4

static uint32_t hash2(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (const char *p = b ? b : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % BUCKETS;
}

static void *watch_main(void *arg);

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

poll_hub_t *poll_hub_new(const poll_config_t *cfg)
{
    poll_hub_t *hub = calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    hub->cfg = *cfg;
    if (!hub->cfg.buffer)
        hub->cfg.buffer = 100;
    hub->epfd = epoll_create1(EPOLL_CLOEXEC);
    hub->ctlfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = CTL_KEY};
    if (hub->epfd < 0 || hub->ctlfd < 0 ||
        epoll_ctl(hub->epfd, EPOLL_CTL_ADD, hub->ctlfd, &ev) != 0)
        goto fail;
    pthread_mutex_init(&hub->mu, NULL);
    if (pthread_create(&hub->watcher, NULL, watch_main, hub) != 0) {
        pthread_mutex_destroy(&hub->mu);
        goto fail;
    }
    return hub;
fail:
    if (hub->epfd >= 0)
        close(hub->epfd);
    if (hub->ctlfd >= 0)
        close(hub->ctlfd);
    free(hub);
    return NULL;
}

/* Wakes the watcher thread. */
static void kick(poll_hub_t *hub)
{
    uint64_t one = 1;
    ssize_t w = write(hub->ctlfd, &one, sizeof one); /* cannot fail: counter far from overflow */
    (void)w;
}

void poll_hub_free(poll_hub_t *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->mu);
    hub->stopping = true;
    pthread_mutex_unlock(&hub->mu);
    kick(hub);
    pthread_join(hub->watcher, NULL);
    close(hub->epfd);
    close(hub->ctlfd);
    free(hub->by_fd);
    for (size_t i = 0; i < BUCKETS; i++) {
        for (tenant_t *t = hub->tenants[i], *next; t; t = next) {
            next = t->next;
            free(t);
        }
        group_t *g = hub->groups[i];
        while (g) {
            group_t *next = g->next;
            free(g->streams);
            free(g->name);
            free(g);
            g = next;
        }
    }
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}

static group_t *group_get(poll_hub_t *hub, const char *name, bool create)
{
    uint32_t b = hash2(name, NULL);
    for (group_t *g = hub->groups[b]; g; g = g->next)
        if (strcmp(g->name, name) == 0)
            return g;
    if (!create)
        return NULL;
    group_t *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(name))) {
        free(g);
        return NULL;
    }
    g->next = hub->groups[b];
    hub->groups[b] = g;
    hub->n_groups++;
    return g;
}

/* Frees g once its last stream has gone, so that the groups held are those
 * with a stream (a client naming a new group per stream would otherwise grow
 * the hub, and every walk over it, without bound); a keep-alive round at g
 * goes on with the next group of its bucket. Caller holds the lock. */
static void group_drop(poll_hub_t *hub, group_t *g)
{
    if (g->n)
        return;
    group_t **pp = &hub->groups[hash2(g->name, NULL)];
    while (*pp != g)
        pp = &(*pp)->next;
    *pp = g->next;
    if (hub->ka_group == g) {
        hub->ka_group = g->next;
        hub->ka_index = 0;
    }
    hub->n_groups--;
    free(g->streams);
    free(g->name);
    free(g);
}

/* Takes one stream of tenant name, creating its entry; NULL when out of
 * memory. Caller holds the lock and has checked the limit. */
static tenant_t *tenant_get(poll_hub_t *hub, const char *name)
{
    uint32_t b = hash2(name, NULL);
    tenant_t *t = hub->tenants[b];
    while (t && strcmp(t->name, name) != 0)
        t = t->next;
    if (!t) {
        size_t n = strlen(name);
        if (!(t = calloc(1, sizeof *t + n + 1)))
            return NULL;
        memcpy(t->name, name, n + 1);
        t->next = hub->tenants[b];
        hub->tenants[b] = t;
    }
    return t;
}

/* Gives back one stream of t, freeing the entry at zero; caller holds the
 * lock. */
static void tenant_put(poll_hub_t *hub, tenant_t *t)
{
    if (--t->count)
        return;
    tenant_t **pp = &hub->tenants[hash2(t->name, NULL)];
    while (*pp != t)
        pp = &(*pp)->next;
    *pp = t->next;
    free(t);
}

/* Appends a copy of text to s's queue; msg: a message (counted in the byte
 * budgets) rather than a comment. Caller holds the lock. */
static bool enqueue(stream_t *s, bool msg, int64_t seq, const char *prefix, const char *text,
                    size_t len, const char *suffix)
{
    size_t np = strlen(prefix), ns = strlen(suffix);
    frame_t *f = malloc(sizeof *f + np + len + ns);
    if (!f)
        return false;
    memcpy(f->data, prefix, np);
    memcpy(f->data + np, text, len);
    memcpy(f->data + np + len, suffix, ns);
    f->len = np + len + ns;
    f->off = 0;
    f->msg = msg;
    f->seq = seq;
    f->next = NULL;
    if (msg) {
        if (!s->bytes)
            s->waiting_since = mono_ms();
        s->bytes += f->len;
        s->hub->bytes += f->len; /* never on a closing stream: accepts() refuses */
    }
    if (s->tail)
        s->tail->next = f;
    else
        s->head = f;
    s->tail = f;
    s->queued++;
    s->last_enqueue = mono_ms();
    return true;
}

/* Resumes s if its reader suspended it; caller holds the lock. */
static void wake(stream_t *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

/* Adds s's socket to the hang-up watcher; caller holds the lock. Without it
 * (no fd, out of memory) the stream still works: its hang-up is then found
 * by the probes before a send and at keep-alives. */
static void watch(poll_hub_t *hub, stream_t *s)
{
    if (s->fd < 0)
        return;
    size_t fd = (size_t)s->fd;
    if (fd >= hub->n_by_fd) {
        size_t n = hub->n_by_fd ? hub->n_by_fd : 1024;
        while (n <= fd)
            n *= 2;
        stream_t **nb = realloc(hub->by_fd, n * sizeof *nb);
        if (!nb)
            return;
        memset(nb + hub->n_by_fd, 0, (n - hub->n_by_fd) * sizeof *nb);
        hub->by_fd = nb;
        hub->n_by_fd = n;
    }
    s->serial = ++hub->next_serial;
    /* No EPOLLIN: the client sends nothing after its request, and a level-
     * triggered read event would fire forever for a pipelined byte. */
    struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT,
                             .data.u64 = (uint64_t)s->serial << 32 | (uint32_t)s->fd};
    if (epoll_ctl(hub->epfd, EPOLL_CTL_ADD, s->fd, &ev) != 0 &&
        (errno != EEXIST || epoll_ctl(hub->epfd, EPOLL_CTL_MOD, s->fd, &ev) != 0))
        return;
    hub->by_fd[fd] = s;
    s->watched = true;
}

/* Removes s from the watcher; caller holds the lock. libmicrohttpd frees the
 * response before it closes the socket, but should the number already have
 * been reused by a newer stream, that stream's entry is left alone. */
static void unwatch(poll_hub_t *hub, stream_t *s)
{
    if (!s->watched)
        return;
    s->watched = false;
    if (hub->by_fd[s->fd] != s)
        return;
    hub->by_fd[s->fd] = NULL;
    epoll_ctl(hub->epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

/* Tells the hub's on_result what became of f's message; caller holds the
 * lock. */
static void report(poll_hub_t *hub, const frame_t *f, bool delivered)
{
    if (f->seq >= 0 && hub->on_result)
        hub->on_result(hub->result_arg, f->seq, delivered);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_t *s = cls;
    poll_hub_t *hub = s->hub;
    size_t n = 0;
    pthread_mutex_lock(&hub->mu);
    while (s->head && n < max) {
        frame_t *f = s->head;
        size_t take = f->len - f->off;
        if (take > max - n)
            take = max - n;
        memcpy(buf + n, f->data + f->off, take);
        n += take;
        f->off += take;
        if (f->off == f->len) {
            s->head = f->next;
            if (!s->head)
                s->tail = NULL;
            s->queued--;
            if (f->msg) {
                s->bytes -= f->len;
                hub->bytes -= f->len;
                if (s->closing)
                    hub->closing_bytes -= f->len;
            }
            report(hub, f, true);
            free(f);
        }
    }
    if (n) {
        s->progressed = true;
        s->waiting_since = mono_ms();
    }
    if (n == 0 && s->closing) {
        pthread_mutex_unlock(&hub->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n == 0) {
        /* Nothing to write: park the connection until poll_send wakes it. */
        s->suspended = true;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&hub->mu);
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_t *s = cls;
    poll_hub_t *hub = s->hub;
    pthread_mutex_lock(&hub->mu);
    group_t *g = s->group;
    g->streams[s->group_idx] = g->streams[--g->n];
    g->streams[s->group_idx]->group_idx = s->group_idx;
    stream_t **pp = &hub->by_id[hash2(g->name, s->id)];
    while (*pp != s)
        pp = &(*pp)->id_next;
    *pp = s->id_next;
    hub->count--;
    hub->bytes -= s->bytes;
    if (s->closing)
        hub->closing_bytes -= s->bytes;
    tenant_put(hub, s->tenant);
    unwatch(hub, s);
    group_drop(hub, g);
    /* What the client did not take whole is not delivered: the sender
     * retries it (a part of a frame is dropped by the client's SSE parser
     * when the stream ends). */
    for (frame_t *f = s->head; f; f = f->next)
        report(hub, f, false);
    pthread_mutex_unlock(&hub->mu);
    while (s->head) {
        frame_t *f = s->head;
        s->head = f->next;
        free(f);
    }
    free(s->id);
    free(s->prefix);
    free(s->owner);
    free(s);
}

bool poll_parse_path(const char *url, char group[POLL_NAME_MAX + 1], char id[POLL_NAME_MAX + 1])
{
    static const char root[] = "/poll/";
    if (strncmp(url, root, sizeof root - 1) != 0)
        return false;
    const char *g = url + sizeof root - 1;
    const char *slash = strchr(g, '/');
    if (!slash || slash == g || !slash[1] || strchr(slash + 1, '/'))
        return false;
    size_t gl = (size_t)(slash - g), il = strlen(slash + 1);
    if (gl > POLL_NAME_MAX || il > POLL_NAME_MAX)
        return false;
    memcpy(group, g, gl);
    group[gl] = '\0';
    memcpy(id, slash + 1, il + 1);
    return true;
}

struct MHD_Response *poll_open(poll_hub_t *hub, struct MHD_Connection *conn, const char *group,
                               const char *id, const char *prefix, const char *tenant,
                               const char *owner, int64_t until_s, unsigned *status, char *err,
                               size_t errlen)
{
    *status = MHD_HTTP_SERVICE_UNAVAILABLE;
    snprintf(err, errlen, "cannot open a poll stream: out of memory");
    stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->hub = hub;
    s->conn = conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? (int)ci->connect_fd : -1;
    s->id = strdup(id);
    s->prefix = prefix && *prefix ? strdup(prefix) : NULL;
    s->owner = owner ? strdup(owner) : NULL;
    s->until_s = until_s;
    if (!s->id || (prefix && *prefix && !s->prefix) || (owner && !s->owner))
        goto fail;

    pthread_mutex_lock(&hub->mu);
    group_t *g = NULL;
    if (hub->closing) {
        snprintf(err, errlen, "the server is shutting down");
        pthread_mutex_unlock(&hub->mu);
        goto fail;
    }
    if (hub->count >= hub->cfg.max_streams) {
        snprintf(err, errlen,
                 "too many poll connections: the server allows %zu streams "
                 "(transports.http_poll.max_connections)",
                 hub->cfg.max_streams);
        hub->stats.limit_refused++;
        pthread_mutex_unlock(&hub->mu);
        goto fail;
    }
    if (!(s->tenant = tenant_get(hub, tenant ? tenant : ""))) {
        pthread_mutex_unlock(&hub->mu);
        goto fail;
    }
    if (hub->cfg.max_tenant && s->tenant->count >= hub->cfg.max_tenant) {
        *status = 429;
        snprintf(err, errlen,
                 "too many poll streams for this token: the limit is %zu per tenant "
                 "(transports.http_poll.max_connections_per_tenant); close unused streams or "
                 "raise the setting",
                 hub->cfg.max_tenant);
        hub->stats.tenant_refused++;
        pthread_mutex_unlock(&hub->mu);
        goto fail;
    }
    s->tenant->count++;
    if (!(g = group_get(hub, group, true))) {
        tenant_put(hub, s->tenant);
        pthread_mutex_unlock(&hub->mu);
        goto fail;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4;
        stream_t **ns = realloc(g->streams, cap * sizeof *ns);
        if (!ns) {
            tenant_put(hub, s->tenant);
            group_drop(hub, g);
            pthread_mutex_unlock(&hub->mu);
            goto fail;
        }
        g->streams = ns;
        g->cap = cap;
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (!r) {
        tenant_put(hub, s->tenant);
        group_drop(hub, g);
        pthread_mutex_unlock(&hub->mu);
        goto fail;
    }
    s->group = g;
    s->group_idx = g->n;
    g->streams[g->n++] = s;
    uint32_t b = hash2(group, id);
    s->id_next = hub->by_id[b];
    hub->by_id[b] = s;
    hub->count++;
    watch(hub, s);
    /* A first comment makes the stream (and the client's "open") happen at
     * once rather than with the first message. */
    enqueue(s, false, -1, "", ": connected", 11, "\n\n");
    pthread_mutex_unlock(&hub->mu);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
fail:
    free(s->id);
    free(s->prefix);
    free(s->owner);
    free(s);
    return NULL;
}

/* True when the client has closed its end or the connection broke. A parked
 * (suspended) connection is not watched by libmicrohttpd, so a worker that
 * died would otherwise keep its registration until a write fails, and a
 * message routed to it in the meantime would wait there until then before
 * it is reported undelivered and sent elsewhere. An SSE client sends
 * nothing after its request, so a readable end-of-file is a hang-up. The fd
 * stays open while the stream is registered: libmicrohttpd frees the
 * response (stream_free, which unregisters under the hub lock) before it
 * closes the socket. */
static bool peer_gone(const stream_t *s)
{
    if (s->fd < 0)
        return false;
    char c;
    ssize_t r = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0)
        return true;
    return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* Ends s: its reader returns end-of-stream and libmicrohttpd closes the
 * connection, which unregisters it; caller holds the lock. */
static void close_one(stream_t *s)
{
    if (!s->closing)
        s->hub->closing_bytes += s->bytes;
    s->closing = true;
    wake(s);
}

/* Whether the token s was opened with has expired (poll_open's until_s). */
static bool token_expired(const stream_t *s)
{
    return s->until_s != INT64_MAX && (int64_t)time(NULL) > s->until_s;
}

/* Ends s when its token has expired (its client's reconnect is refused with
 * 401 "token expired") and returns true. Caller holds the lock. */
static bool end_if_expired(stream_t *s)
{
    if (!token_expired(s))
        return false;
    log_debug("poll stream %s/%s ended: its token expired", s->group->name, s->id);
    s->hub->stats.expired++;
    close_one(s);
    return true;
}

/* Closes s for a byte budget (setting names the budget); caller holds the
 * lock. It still writes what it holds to a client that reads; one that does
 * not is cut off at the second keep-alive round (keepalive_one). */
static void close_over_budget(stream_t *s, size_t len, const char *setting, size_t limit)
{
    poll_hub_t *hub = s->hub;
    log_info("poll stream %s/%s closed: %zu bytes queued and a message of %zu would pass %s=%zu "
             "(the client is not reading fast enough); its messages are retried after the "
             "client reconnects",
             s->group->name, s->id, s->bytes, len, setting, limit);
    s->over_budget = true;
    s->progressed = true; /* a full keep-alive interval to read what it holds */
    hub->stats.budget_closed++;
    close_one(s);
}

/* The total budget is full: closes the stalled open stream holding the
 * most, unless half the budget is already held by closing streams. Caller
 * holds the lock. */
static void relieve_total(poll_hub_t *hub, size_t len)
{
    if (hub->closing_bytes >= hub->cfg.total_bytes / 2)
        return;
    stream_t *big = NULL;
    int64_t stalled = mono_ms() - STALL_MS;
    for (size_t i = 0; i < BUCKETS; i++)
        for (group_t *g = hub->groups[i]; g; g = g->next)
            for (size_t j = 0; j < g->n; j++) {
                stream_t *c = g->streams[j];
                if (!c->closing && c->bytes && c->waiting_since <= stalled &&
                    (!big || c->bytes > big->bytes))
                    big = c;
            }
    if (big)
        close_over_budget(big, len, "transports.http_poll.total_buffer_bytes",
                          hub->cfg.total_bytes);
}

/* Whether s may take a message frame of len bytes about resource_id. A
 * stream whose client has gone is closed instead, and so is one that would
 * go over its byte budget (*over is then set); *over_total is set when the
 * total budget is full. Caller holds the lock. */
static bool accepts(stream_t *s, const char *resource_id, size_t len, bool *over, bool *over_total)
{
    poll_hub_t *hub = s->hub;
    if (s->closing || s->queued >= hub->cfg.buffer)
        return false;
    if (s->prefix && strncmp(resource_id, s->prefix, strlen(s->prefix)) != 0)
        return false;
    if (end_if_expired(s))
        return false;
    if (peer_gone(s)) {
        close_one(s);
        return false;
    }
    if (hub->cfg.stream_bytes && s->bytes && len > hub->cfg.stream_bytes - s->bytes) {
        close_over_budget(s, len, "transports.http_poll.buffer_bytes", hub->cfg.stream_bytes);
        *over = true;
        return false;
    }
    if (hub->cfg.total_bytes && hub->bytes && len > hub->cfg.total_bytes - hub->bytes) {
        *over = *over_total = true;
        return false;
    }
    return true;
}

/* The newest open stream of (group, id) that accepts the message. */
static stream_t *find_id(poll_hub_t *hub, const char *group, const char *id,
                         const char *resource_id, size_t len, bool *over, bool *over_total)
{
    for (stream_t *s = hub->by_id[hash2(group, id)]; s; s = s->id_next)
        if (strcmp(s->id, id) == 0 && strcmp(s->group->name, group) == 0 &&
            accepts(s, resource_id, len, over, over_total))
            return s;
    return NULL;
}

void poll_hub_on_result(poll_hub_t *hub, void (*fn)(void *arg, int64_t seq, bool delivered),
                        void *arg)
{
    pthread_mutex_lock(&hub->mu);
    if (fn || hub->result_arg == arg) {
        hub->on_result = fn;
        hub->result_arg = fn ? arg : NULL;
    }
    pthread_mutex_unlock(&hub->mu);
}

bool poll_send(poll_hub_t *hub, const addr_t *addr, const char *resource_id, const char *json,
               size_t len, int64_t seq)
{
    if (addr->scheme != ADDR_POLL)
        return false;
    bool sent = false, over = false, over_total = false;
    size_t flen = len + 8; /* "data: " ... "\n\n" */
    pthread_mutex_lock(&hub->mu);
    stream_t *s = addr->id[0]
                      ? find_id(hub, addr->group, addr->id, resource_id, flen, &over, &over_total)
                      : NULL;
    if (!s && addr->any) {
        group_t *g = group_get(hub, addr->group, false);
        for (size_t i = 0; g && i < g->n && !s; i++) {
            stream_t *c = g->streams[(g->rr + i) % g->n];
            if (accepts(c, resource_id, flen, &over, &over_total)) {
                s = c;
                g->rr = (g->rr + i + 1) % g->n;
            }
        }
    }
    if (s && enqueue(s, true, seq, "data: ", json, len, "\n\n")) {
        wake(s);
        sent = true;
    } else if (over) {
        hub->stats.budget_refused++;
        if (over_total)
            relieve_total(hub, flen);
    }
    pthread_mutex_unlock(&hub->mu);
    return sent;
}

/* Whether s could be offered a message about resource_id (cheap: no
 * probe, no size); caller holds the lock. */
static bool may_offer(const stream_t *s, const char *resource_id)
{
    return !s->closing && s->queued < s->hub->cfg.buffer &&
           (!s->prefix || strncmp(resource_id, s->prefix, strlen(s->prefix)) == 0) &&
           !token_expired(s);
}

bool poll_ready(poll_hub_t *hub, const addr_t *addr, const char *resource_id)
{
    if (addr->scheme != ADDR_POLL)
        return false;
    pthread_mutex_lock(&hub->mu);
    bool ready = false;
    if (hub->cfg.total_bytes && hub->bytes >= hub->cfg.total_bytes) {
        hub->stats.budget_refused++;
        relieve_total(hub, 0);
    } else {
        if (addr->id[0])
            for (stream_t *s = hub->by_id[hash2(addr->group, addr->id)]; s && !ready;
                 s = s->id_next)
                ready = strcmp(s->id, addr->id) == 0 && strcmp(s->group->name, addr->group) == 0 &&
                        may_offer(s, resource_id);
        group_t *g = !ready && addr->any ? group_get(hub, addr->group, false) : NULL;
        for (size_t i = 0; g && i < g->n && !ready; i++)
            ready = may_offer(g->streams[i], resource_id);
    }
    pthread_mutex_unlock(&hub->mu);
    return ready;
}

/* Applies fn to every stream; caller holds the lock. */
static void each_stream(poll_hub_t *hub, void (*fn)(stream_t *))
{
    for (size_t i = 0; i < BUCKETS; i++)
        for (group_t *g = hub->groups[i]; g; g = g->next)
            for (size_t j = 0; j < g->n; j++)
                fn(g->streams[j]);
}

static void keepalive_one(stream_t *s)
{
    if (s->closing) {
        /* Over its budget and not read from for a whole interval: shut the
         * socket down, so that libmicrohttpd ends the connection (and frees
         * the queue) now rather than at its idle timeout. The fd is still
         * the connection's: stream_free runs before the socket is closed. */
        if (s->over_budget && !s->progressed && !s->cut && s->fd >= 0) {
            shutdown(s->fd, SHUT_RDWR);
            s->cut = true;
        }
        s->progressed = false;
        return;
    }
    if (end_if_expired(s))
        return;
    /* A watched stream's hang-up is seen by the watcher; probe the others. */
    if (!s->watched && peer_gone(s))
        close_one(s);
    else if (!s->head && s->last_enqueue <= s->hub->ka_recent &&
             enqueue(s, false, -1, "", ": keep-alive", 12, "\n\n"))
        wake(s);
}

void poll_keepalive(poll_hub_t *hub)
{
    pthread_mutex_lock(&hub->mu);
    bool start = !hub->ka_running;
    if (start) {
        int64_t now = mono_ms();
        hub->ka_recent = now - (hub->ka_start ? (now - hub->ka_start) / 2 : 0);
        hub->ka_start = now;
        hub->ka_running = true;
        hub->ka_bucket = 0;
        hub->ka_group = hub->groups[0];
        hub->ka_index = 0;
    }
    pthread_mutex_unlock(&hub->mu);
    if (start)
        kick(hub);
}

/* Runs one slice of the keep-alive round; caller holds the lock. Streams
 * come and go between slices (a removal moves the group's last stream into
 * the hole), so a round may skip or repeat a stream: it then gets its
 * keep-alive one interval later, or a harmless second one. */
static void keepalive_slice(poll_hub_t *hub)
{
    size_t done = 0;
    while (done < KA_SLICE) {
        group_t *g = hub->ka_group;
        if (!g) {
            if (++hub->ka_bucket >= BUCKETS) {
                hub->ka_running = false;
                return;
            }
            hub->ka_group = hub->groups[hub->ka_bucket];
            hub->ka_index = 0;
            continue;
        }
        if (hub->ka_index >= g->n) {
            hub->ka_group = g->next;
            hub->ka_index = 0;
            continue;
        }
        keepalive_one(g->streams[hub->ka_index++]);
        done++;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Ends the open streams whose owner is in bad[0..n) (sorted); NULL bad:
 * asks end under the lock instead (out of memory). Returns how many. */
static size_t close_owners(poll_hub_t *hub, char **bad, size_t n,
                           bool (*end)(void *arg, const char *owner), void *arg)
{
    size_t ended = 0;
    pthread_mutex_lock(&hub->mu);
    for (size_t i = 0; i < BUCKETS; i++)
        for (group_t *g = hub->groups[i]; g; g = g->next)
            for (size_t j = 0; j < g->n; j++) {
                stream_t *s = g->streams[j];
                if (!s->closing && s->owner &&
                    (bad ? bsearch(&s->owner, bad, n, sizeof *bad, cmp_str) != NULL
                         : end(arg, s->owner))) {
                    close_one(s);
                    ended++;
                }
            }
    pthread_mutex_unlock(&hub->mu);
    return ended;
}

size_t poll_hub_close_if(poll_hub_t *hub, bool (*end)(void *arg, const char *owner), void *arg)
{
    /* Copy the owners under the lock, judge them without it (a signature
     * check each: 10k distinct tokens must not stall delivery for a
     * second), then end the matching streams under it again. A stream
     * opened meanwhile was verified after the reload this follows, so it
     * needs no look (it is ended too if its owner was judged bad). */
    size_t n = 0, n_bad = 0;
    bool oom = false;
    pthread_mutex_lock(&hub->mu);
    size_t cap = hub->count;
    char **own = cap ? malloc(cap * sizeof *own) : NULL;
    oom = cap && !own;
    for (size_t i = 0; !oom && i < BUCKETS; i++)
        for (group_t *g = hub->groups[i]; !oom && g; g = g->next)
            for (size_t j = 0; !oom && j < g->n && n < cap; j++) {
                stream_t *s = g->streams[j];
                if (!s->closing && s->owner && !(oom = !(own[n] = strdup(s->owner))))
                    n++;
            }
    pthread_mutex_unlock(&hub->mu);
    size_t ended = 0;
    if (oom) {
        ended = close_owners(hub, NULL, 0, end, arg);
    } else if (n) {
        qsort(own, n, sizeof *own, cmp_str);
        /* Each distinct owner is judged once; bad (sorted) points at the
         * ones to end. */
        char **bad = malloc(n * sizeof *bad);
        if (!bad) {
            ended = close_owners(hub, NULL, 0, end, arg);
        } else {
            for (size_t i = 0; i < n; i++)
                if ((i == 0 || strcmp(own[i], own[i - 1]) != 0) && end(arg, own[i]))
                    bad[n_bad++] = own[i];
            ended = n_bad ? close_owners(hub, bad, n_bad, end, arg) : 0;
            free(bad);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(own[i]);
    free(own);
    return ended;
}

void poll_hub_close_all(poll_hub_t *hub)
{
    pthread_mutex_lock(&hub->mu);
    hub->closing = true;
    each_stream(hub, close_one);
    pthread_mutex_unlock(&hub->mu);
}

/* The watcher thread: ends each stream whose socket reports a hang-up,
 * and runs keep-alive rounds slice by slice. */
static void *watch_main(void *arg)
{
    poll_hub_t *hub = arg;
    pthread_setname_np(pthread_self(), "resonate-pollw");
    struct epoll_event evs[64];
    bool ka = false; /* a round is under way: come back after the pause */
    for (;;) {
        int n = epoll_wait(hub->epfd, evs, 64, ka ? KA_PAUSE_MS : -1);
        if (n < 0 && errno != EINTR)
            return NULL;
        pthread_mutex_lock(&hub->mu);
        for (int i = 0; i < n; i++) {
            uint64_t key = evs[i].data.u64;
            if (key == CTL_KEY) {
                uint64_t v;
                ssize_t r = read(hub->ctlfd, &v, sizeof v); /* reset; EAGAIN is fine */
                (void)r;
                continue;
            }
            size_t fd = (uint32_t)key;
            stream_t *s = fd < hub->n_by_fd ? hub->by_fd[fd] : NULL;
            /* The stream may have ended and its fd been reused since the
             * event was queued: the serial tells. */
            if (s && s->serial == (uint32_t)(key >> 32) && !s->closing)
                close_one(s);
        }
        if (hub->stopping) {
            pthread_mutex_unlock(&hub->mu);
            return NULL;
        }
        if (hub->ka_running)
            keepalive_slice(hub);
        ka = hub->ka_running;
        pthread_mutex_unlock(&hub->mu);
    }
}

size_t poll_count(poll_hub_t *hub)
{
    pthread_mutex_lock(&hub->mu);
    size_t n = hub->count;
    pthread_mutex_unlock(&hub->mu);
    return n;
}

poll_stats_t poll_stats(poll_hub_t *hub)
{
    pthread_mutex_lock(&hub->mu);
    poll_stats_t st = hub->stats;
    st.streams = hub->count;
    st.max_streams = hub->cfg.max_streams;
    st.queued_bytes = hub->bytes;
    st.groups = hub->n_groups;
    pthread_mutex_unlock(&hub->mu);
    return st;
}
