/* http.c - libmicrohttpd front end; see http.h.
 *
 * Life of POST /: the access handler is called once with headers (route,
 * size check, context allocated), then with body chunks (buffered up to
 * max_body), then once more with no data: the envelope is decoded, the
 * connection suspended and a job submitted (or, with an in-memory store, the
 * job run and answered on this thread: exec_run). The store thread's done callback
 * only marks the context answered and resumes the connection; serialising
 * the answer happens back on the HTTP thread, keeping the store thread
 * short. The context and everything the request allocated are freed in one
 * place, the request-completed callback.
 *
 * Request deadline: libmicrohttpd's own timeout is an idle timeout (any byte
 * resets it), so each connection gets a track_t (socket context, created and
 * freed by the connection-notify callback) saying whether a request is being
 * received and since when. The tracks form a list under h->mu; the reaper
 * thread walks it a few times per second and shuts down the socket of a
 * request past its deadline. That is safe from another thread because
 * libmicrohttpd reports a connection closed (unlinking its track under
 * h->mu) before it closes the socket, so a listed fd is never a reused
 * one. */
#include "server/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "server/listen.h"
#include "server/log.h"
#include "server/tls.h"
#include "server/ui.h"

/* A schedule's filled-in template is checked against the prefix on its
 * first SCHEDULE_ID_HEAD bytes (request_resource_ids): every prefix fits. */
_Static_assert(AUTH_PREFIX_MAX < SCHEDULE_ID_HEAD, "SCHEDULE_ID_HEAD must exceed AUTH_PREFIX_MAX");

/* A message a poll stream took is held longer than the stream can live. */
_Static_assert(OUTBOX_POLL_HOLD_MS > (int64_t)HTTP_IDLE_TIMEOUT_S * 1000,
               "OUTBOX_POLL_HOLD_MS must outlast HTTP_IDLE_TIMEOUT_S");

/* What a connection is doing, for the request deadline. */
typedef enum {
    TRACK_IDLE,      /* between requests: nothing of the next one seen yet */
    TRACK_RECEIVING, /* its request line arrived; headers or body pending */
    TRACK_EXEMPT,    /* request complete (being answered) or a /poll stream */
} track_phase_t;

/* One connection; owned by the connection-notify callback, fields under
 * h->mu (but tls, which only the connection's own thread touches: it must
 * stay the first member, see tls.h). */
typedef struct track {
    tls_conn_t tls;
    struct track *prev, *next;
    int fd;
    track_phase_t phase;
    struct timespec since; /* start of the current deadline (monotonic) */
    bool cut;              /* its socket was shut down by the reaper */
} track_t;

struct http {
    struct MHD_Daemon *d;
    http_config_t cfg;
    uint16_t port;
    pthread_mutex_t mu; /* guards the tracks and stop below */
    pthread_cond_t cv;  /* wakes the reaper to stop */
    track_t *tracks;
    bool stop;
    bool reaper_running;
    pthread_t reaper;
    _Atomic uint64_t timeouts;
    char late[320]; /* the whole 408 answer */
    size_t late_len;
};

typedef enum { ROUTE_RPC, ROUTE_READY } route_t;

typedef enum { CONN_READING, CONN_WAITING, CONN_ANSWERED } conn_state_t;

typedef struct {
    http_t *h;
    struct MHD_Connection *conn;
    route_t route;
    _Atomic int state;
    char *body; /* in arena */
    size_t len, cap;
    bool too_large;
    arena_t *arena;
    request_t req;
    envelope_t env;
    job_t job;
    struct timespec started;
} conn_t;

static const char legacy_body[] =
    "{\"error\":\"This endpoint is no longer supported. Please update to the latest SDK.\"}";

/* CORS (operations.md §4.6): with no allowed origins nothing is added;
 * "*" allows every origin; otherwise an allowed Origin is echoed back. */
static const char *cors_origin(const http_t *h, struct MHD_Connection *conn, bool *any)
{
    *any = false;
    if (!h || !h->cfg.n_cors_origins)
        return NULL;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    for (size_t i = 0; i < h->cfg.n_cors_origins; i++) {
        if (strcmp(h->cfg.cors_origins[i], "*") == 0) {
            *any = true;
            return "*";
        }
        if (origin && strcmp(h->cfg.cors_origins[i], origin) == 0)
            return origin;
    }
    return NULL;
}

static void cors_apply(const http_t *h, struct MHD_Connection *conn, struct MHD_Response *r)
{
    bool any;
    const char *allow = cors_origin(h, conn, &any);
    if (allow)
        MHD_add_response_header(r, "Access-Control-Allow-Origin", allow);
    if (h && h->cfg.n_cors_origins && !any)
        MHD_add_response_header(r, "Vary", "Origin");
}

/* OPTIONS with Access-Control-Request-Method: the browser asks first. */
static enum MHD_Result cors_preflight(const http_t *h, struct MHD_Connection *conn)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    bool any;
    const char *allow = cors_origin(h, conn, &any);
    if (allow) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", allow);
        MHD_add_response_header(r, "Access-Control-Allow-Methods",
                                "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        /* A wildcard does not cover Authorization (Fetch standard), so the
         * names are always listed; "*" mode also echoes what was asked. */
        const char *asked = any ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                              "Access-Control-Request-Headers")
                                : NULL;
        char headers[1024];
        snprintf(headers, sizeof headers, "Authorization, Content-Type, Origin, Content-Length%s%s",
                 asked && *asked && strlen(asked) < 900 ? ", " : "",
                 asked && *asked && strlen(asked) < 900 ? asked : "");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", headers);
    }
    if (!any)
        MHD_add_response_header(r, "Vary", "Origin");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_buffer(const http_t *h, struct MHD_Connection *conn, unsigned status,
                                   void *buf, size_t len, enum MHD_ResponseMemoryMode mode,
                                   const char *content_type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, mode);
    if (!r)
        return MHD_NO;
    if (content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    cors_apply(h, conn, r);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_empty(const http_t *h, struct MHD_Connection *conn, unsigned status,
                                  const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    cors_apply(h, conn, r);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends a protocol envelope; HTTP status = head.status. */
static enum MHD_Result send_envelope(conn_t *c, const response_t *r)
{
    size_t len;
    int status = r->status;
    char *out = wire_encode_response(c->env.kind ? c->env.kind : "unknown",
                                     c->env.corr_id ? c->env.corr_id : "0", r, &len);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double secs =
        (double)(now.tv_sec - c->started.tv_sec) + (double)(now.tv_nsec - c->started.tv_nsec) / 1e9;
    /* Envelope errors happen before the kind is known to be valid. */
    op_t op = c->env.kind ? op_from_name(c->env.kind) : OP_UNKNOWN;
    metrics_request(c->h->cfg.metrics, op, status, secs);
    log_debug("request kind=%s corrId=%s status=%d duration_ms=%.3f",
              c->env.kind ? c->env.kind : "unknown", c->env.corr_id ? c->env.corr_id : "0", status,
              secs * 1e3);
    return send_buffer(c->h, c->conn, (unsigned)status, out, len, MHD_RESPMEM_MUST_FREE,
                       "application/json");
}

/* Milliseconds from a to b (monotonic), saturating at 0. */
static int64_t ms_between(const struct timespec *a, const struct timespec *b)
{
    int64_t ms = (int64_t)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
    return ms > 0 ? ms : 0;
}

/* Moves conn's track to phase, restarting its deadline: an idle connection
 * has request_timeout to send a request line, and from there the request
 * has request_timeout to arrive whole. HTTP threads. */
static void track_set(http_t *h, struct MHD_Connection *conn, track_phase_t phase)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    track_t *t = ci ? ci->socket_context : NULL;
    if (!t)
        return;
    pthread_mutex_lock(&h->mu);
    if (t->phase != phase) {
        t->phase = phase;
        clock_gettime(CLOCK_MONOTONIC, &t->since);
    }
    pthread_mutex_unlock(&h->mu);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_t *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        track_t *t = calloc(1, sizeof *t);
        if (!t)
            return; /* this connection has no deadline, only the idle timeout */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        t->fd = ci ? (int)ci->connect_fd : -1;
        t->phase = TRACK_IDLE;
        clock_gettime(CLOCK_MONOTONIC, &t->since);
        tls_conn_init(&t->tls, h->cfg.tls);
        pthread_mutex_lock(&h->mu);
        t->next = h->tracks;
        if (h->tracks)
            h->tracks->prev = t;
        h->tracks = t;
        pthread_mutex_unlock(&h->mu);
        *socket_context = t;
        return;
    }
    track_t *t = *socket_context;
    if (!t)
        return;
    pthread_mutex_lock(&h->mu);
    if (t->prev)
        t->prev->next = t->next;
    else
        h->tracks = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&h->mu);
    tls_conn_release(&t->tls);
    free(t);
    *socket_context = NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: a request line arrived; from now on a late
 * request is answered 408 rather than closed silently. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)uri;
    track_set(cls, conn, TRACK_RECEIVING);
    return NULL; /* on_request relies on a NULL context at its first call */
}

/* Cuts off every request past its deadline; caller holds h->mu. */
static void reap(http_t *h, const struct timespec *now)
{
    for (track_t *t = h->tracks; t; t = t->next) {
        if (t->cut || t->fd < 0 || t->phase == TRACK_EXEMPT ||
            ms_between(&t->since, now) < h->cfg.request_timeout_ms)
            continue;
        /* Nothing of the response is being written in these phases, and the
         * socket is non-blocking: the 408 goes out whole or not at all. An
         * idle connection gets no answer: a request the client may be
         * sending right now must not read it as its own. Over TLS the
         * bytes would have to be encrypted by the connection's own thread,
         * so a late TLS request is only closed. */
        if (t->phase == TRACK_RECEIVING && !h->cfg.tls) {
            ssize_t w = send(t->fd, h->late, h->late_len, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w;
        }
        if (t->phase == TRACK_RECEIVING) {
            atomic_fetch_add(&h->timeouts, 1);
        }
        shutdown(t->fd, SHUT_RDWR); /* libmicrohttpd then reads EOF and closes */
        t->cut = true;
        log_debug("connection fd=%d closed: %s past server.request_timeout=%lld ms", t->fd,
                  t->phase == TRACK_RECEIVING ? "request" : "idle",
                  (long long)h->cfg.request_timeout_ms);
    }
}

/* The reaper thread: a few passes per deadline, at least every 250 ms. */
static void *reaper_main(void *arg)
{
    http_t *h = arg;
    int64_t step = h->cfg.request_timeout_ms / 4;
    if (step > 250)
        step = 250;
    if (step < 10)
        step = 10;
    pthread_setname_np(pthread_self(), "resonate-reaper");
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec now, until;
        clock_gettime(CLOCK_MONOTONIC, &now);
        reap(h, &now);
        until = now;
        until.tv_nsec += (long)step * 1000000L;
        while (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!h->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&h->cv, &h->mu, &until);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Store thread: the job is answered and durable. */
static void job_done(job_t *job)
{
    conn_t *c = job->udata;
    atomic_store(&c->state, CONN_ANSWERED);
    MHD_resume_connection(c->conn);
}

static bool is_legacy(const char *url)
{
    static const char *const roots[] = {"/promises", "/schedules", "/tasks"};
    for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
        size_t n = strlen(roots[i]);
        if (strncmp(url, roots[i], n) != 0)
            continue;
        if (url[n] == '\0')
            return true;
        if (url[n] == '/' && url[n + 1] != '\0')
            return true;
    }
    return false;
}

/* The bearer token of the request: head.auth, else the Authorization
 * header (DECISIONS.md #7); for /poll also ?token= (EventSource cannot set
 * headers). NULL when none. */
static const char *find_token(struct MHD_Connection *conn, const char *head_auth, bool query)
{
    if (head_auth)
        return head_auth;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && strncmp(h, "Bearer ", 7) == 0 && h[7])
        return h + 7;
    return query ? MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token") : NULL;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static bool is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* GET|HEAD /ui and /ui/<file>: the web console (ui.h), its security
 * headers on every answer; an unknown file is 404, another method 405. */
static enum MHD_Result send_ui(const http_t *h, struct MHD_Connection *conn, const char *url,
                               const char *method)
{
    static const char missing[] = "Not Found: no such file in the console (see GET /ui)\n";
    const ui_asset_t *a = is_get(method) ? ui_find(url) : NULL;
    unsigned status = !is_get(method) ? MHD_HTTP_METHOD_NOT_ALLOWED
                      : a             ? MHD_HTTP_OK
                                      : MHD_HTTP_NOT_FOUND;
    struct MHD_Response *r =
        a ? MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT)
        : status == MHD_HTTP_NOT_FOUND
            ? MHD_create_response_from_buffer(sizeof missing - 1, (void *)missing,
                                              MHD_RESPMEM_PERSISTENT)
            : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            a ? a->content_type : "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    size_t n;
    const ui_header_t *hd = ui_security_headers(&n);
    for (size_t i = 0; i < n; i++)
        MHD_add_response_header(r, hd[i].name, hd[i].value);
    cors_apply(h, conn, r);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* poll_hub_close_if predicate: the streams of one token (arg). */
static bool owner_is(void *arg, const char *owner)
{
    return strcmp(owner, arg) == 0;
}

/* Answers a /poll request whose token does not verify: 401 with the
 * reason (never the token), as the API's errors, so a worker whose stream
 * ended on a reload or at its token's expiry learns why on reconnecting. */
static enum MHD_Result poll_unauthorized(http_t *h, struct MHD_Connection *conn, const char *g,
                                         const char *why)
{
    metrics_auth_failure(h->cfg.metrics, auth_reason_label(why));
    log_debug("poll rejected group=%s status=401 reason=%s", g, why);
    char *body = malloc(strlen(why) + sizeof "Unauthorized: ");
    if (!body)
        return MHD_NO;
    int n = sprintf(body, "Unauthorized: %s", why);
    return send_buffer(h, conn, MHD_HTTP_UNAUTHORIZED, body, (size_t)n, MHD_RESPMEM_MUST_FREE,
                       "text/plain");
}

/* GET /poll/<group>/<id>: opens an SSE stream. */
static enum MHD_Result open_poll(http_t *h, struct MHD_Connection *conn, const char *url,
                                 const char *method)
{
    if (!is_get(method))
        return send_empty(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET");
    char g[POLL_NAME_MAX + 1], id[POLL_NAME_MAX + 1];
    if (!h->cfg.hub || !poll_parse_path(url, g, id))
        return send_empty(h, conn, MHD_HTTP_NOT_FOUND, NULL);
    /* Any valid token may listen; a prefixed one only hears about its own
     * ids (DECISIONS.md #11). */
    const char *prefix = NULL;
    auth_claims_t claims;
    /* Who the stream counts against (transports.http_poll.
     * max_connections_per_tenant): a prefixed token's prefix, else the
     * token's sub, else (no auth, no sub) the client's address. */
    char tenant[AUTH_PREFIX_MAX + 16] = "";
    const char *tok = NULL;      /* kept by the stream: a reload re-verifies it */
    int64_t until_s = INT64_MAX; /* the token's exp + leeway: the stream ends then */
    if (h->cfg.auth) {
        char why[256] = "no token";
        tok = find_token(conn, NULL, true);
        if (!tok || auth_verify(h->cfg.auth, tok, now_s(), &claims, why, sizeof why) != AUTH_OK)
            return poll_unauthorized(h, conn, g, why);
        until_s = claims.valid_until;
        if (!claims.admin && claims.has_prefix && claims.prefix[0])
            prefix = claims.prefix;
        if (prefix)
            snprintf(tenant, sizeof tenant, "prefix:%s", prefix);
        else if (claims.has_sub)
            snprintf(tenant, sizeof tenant, "sub:%s", claims.sub);
    }
    if (!tenant[0]) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        listen_peer_name(ci ? ci->client_addr : NULL, tenant, sizeof tenant);
    }
    unsigned status;
    char why[320];
    struct MHD_Response *r =
        poll_open(h->cfg.hub, conn, g, id, prefix, tenant, tok, until_s, &status, why, sizeof why);
    if (!r) {
        log_debug("poll rejected group=%s status=%u reason=%s", g, status, why);
        size_t n = strlen(why);
        char *body = malloc(n + 1);
        if (!body)
            return MHD_NO;
        memcpy(body, why, n + 1);
        return send_buffer(h, conn, status, body, n, MHD_RESPMEM_MUST_FREE, "text/plain");
    }
    /* A reload of the keys or the revocation list between the check above
     * and the stream's registration would have missed it: now registered,
     * verify again (a cache hit unless a reload came in between; the stream
     * then ends after its first comment, and the reconnect is 401). */
    if (tok && auth_verify(h->cfg.auth, tok, now_s(), &claims, why, sizeof why) != AUTH_OK)
        poll_hub_close_if(h->cfg.hub, owner_is, (void *)tok);
    track_set(h, conn, TRACK_EXEMPT);
    log_debug("poll stream opened group=%s id=%s", g, id);
    cors_apply(h, conn, r);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* A request's context, in its own arena (with the body and everything
 * decoded from it): one arena_free releases all. */
static conn_t *conn_new(http_t *h, struct MHD_Connection *conn, route_t route)
{
    arena_t *a = arena_new();
    conn_t *c = arena_alloc(a, sizeof *c);
    c->arena = a;
    c->h = h;
    c->conn = conn;
    c->route = route;
    atomic_store(&c->state, CONN_READING);
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    return c;
}

static void conn_free(conn_t *c)
{
    if (!c)
        return;
    response_clear(&c->job.resp);
    arena_free(c->arena); /* c included */
}

static void submit(conn_t *c, const request_t *req)
{
    c->job.req = req;
    c->job.cost = c->len;
    c->job.arena = c->arena;
    c->job.done = job_done;
    c->job.udata = c;
    atomic_store(&c->state, CONN_WAITING);
    MHD_suspend_connection(c->conn);
    exec_submit(c->h->cfg.exec, &c->job);
}

/* Verifies the token of c (401 on failure). */
static bool authenticate(conn_t *c, auth_claims_t *claims, response_t *err)
{
    char why[256];
    const char *tok = find_token(c->conn, c->env.token, false);
    if (!tok) {
        snprintf(why, sizeof why, "no token");
    } else if (auth_verify(c->h->cfg.auth, tok, now_s(), claims, why, sizeof why) == AUTH_OK) {
        return true;
    }
    metrics_auth_failure(c->h->cfg.metrics, auth_reason_label(why));
    log_debug("auth rejected kind=%s corrId=%s status=401 reason=%s", c->env.kind, c->env.corr_id,
              why);
    response_error(err, 401, "Unauthorized: %s", why);
    return false;
}

/* What authorize needs besides the request. */
typedef struct {
    conn_t *c;
    const auth_claims_t *claims;
} authz_t;

/* When a schedule.create was refused only for its template filled in (ids
 * 2 and 3 of request_resource_ids: the schedule id and the template as
 * written pass), says so in why, which holds auth_authorize's reason:
 * "outside prefix" alone would point at a template that starts with it. */
static void template_why(const auth_claims_t *claims, const request_t *req, const char *const *ids,
                         size_t n, char *why, size_t whylen)
{
    char reason[320];
    if (req->op != OP_SCHEDULE_CREATE || n != 4 ||
        auth_authorize(claims, ids, 2, reason, sizeof reason) != AUTH_OK)
        return;
    const char *head = ids[2];
    if (auth_authorize(claims, ids + 2, 1, reason, sizeof reason) == AUTH_OK) {
        head = ids[3];
        if (auth_authorize(claims, ids + 3, 1, reason, sizeof reason) == AUTH_OK)
            return;
    }
    char shown[33];
    size_t k = 0;
    for (; head[k] && k < sizeof shown - 1; k++)
        shown[k] = head[k] >= 0x20 && head[k] < 0x7f ? head[k] : '?';
    shown[k] = '\0';
    snprintf(why, whylen,
             "promiseId filled in when the schedule fires (e.g. \"%s%s\") is %.200s: write the "
             "whole prefix before the first {{.timestamp}}",
             shown, head[k] ? "..." : "", reason);
}

/* The decoder's authorization checkpoint (wire_authz_fn): req is decoded
 * structurally, nothing validated yet. Every id it names must be inside the
 * token's prefix, else 403; the kinds that name none are refused to a
 * prefixed token unless the engine limits them to its scope
 * (request_is_scoped), which is then set. */
static bool authorize(void *udata, request_t *req, response_t *err)
{
    const authz_t *z = udata;
    conn_t *c = z->c;
    const auth_claims_t *claims = z->claims;
    bool limited = !claims->admin && claims->has_prefix && claims->prefix[0];
    const char *const *ids = NULL;
    size_t n = request_resource_ids(req, c->arena, &ids);
    char why[512];
    bool scoped = n == 0 && limited && request_is_scoped(req);
    if (scoped || auth_authorize(claims, ids, n, why, sizeof why) == AUTH_OK) {
        if (limited)
            req->scope = arena_strdup(c->arena, claims->prefix);
        return true;
    }
    metrics_auth_failure(c->h->cfg.metrics, auth_reason_label(why));
    template_why(claims, req, ids, n, why, sizeof why);
    log_debug("auth rejected kind=%s corrId=%s status=403 reason=%s", c->env.kind, c->env.corr_id,
              why);
    response_error(err, 403, "Forbidden: %s", why);
    return false;
}

/* A token without the admin role may make the server push only to the
 * destinations the operator listed (transports.http_push.allow); otherwise
 * a tenant could have the server POST to addresses of its own network. */
static bool authorize_push(conn_t *c, const auth_claims_t *claims, response_t *err)
{
    const char *addr = request_address(&c->req);
    if (claims->admin || !addr ||
        addr_push_allowed(addr, c->h->cfg.push_allow, c->h->cfg.n_push_allow))
        return true;
    metrics_auth_failure(c->h->cfg.metrics, "push_not_allowed");
    log_debug("auth rejected kind=%s corrId=%s status=403 reason=%s", c->env.kind, c->env.corr_id,
              "push address not allowed");
    response_error(err, 403,
                   "Forbidden: push address '%.300s' is not allowed: it must start with an entry "
                   "of transports.http_push.allow (--transports-http-push-allow), or the token "
                   "needs the admin role",
                   addr);
    return false;
}

/* The body is complete: decode, then answer a read here (server/reads.h)
 * or hand the request to the store thread. */
static enum MHD_Result rpc_dispatch(conn_t *c)
{
    response_t err = {0};
    enum MHD_Result ret;
    track_set(c->h, c->conn, TRACK_EXEMPT); /* received whole: answered at the store's pace */
    if (c->too_large) {
        c->env.kind = "unknown";
        c->env.corr_id = "0";
        response_error(&err, 413, "Request body too large: the limit is %zu bytes",
                       c->h->cfg.max_body);
        goto answer;
    }
    if (wire_decode_envelope(c->arena, c->body ? c->body : "", c->len, &c->env, &err) != 0)
        goto answer;
    /* Nothing is decoded further, let alone stored, for an unauthenticated
     * caller. */
    auth_claims_t claims;
    if (c->h->cfg.auth && !authenticate(c, &claims, &err))
        goto answer;
    /* Authorized between structural decoding and validation. */
    authz_t z = {c, &claims};
    if (wire_decode_request_authz(c->arena, &c->env, c->h->cfg.debug,
                                  c->h->cfg.auth ? authorize : NULL, &z, &c->req, &err) != 0)
        goto answer;
    if (limits_check(&c->h->cfg.limits, c->arena, &c->req, &err) != 0)
        goto answer;
    if (c->h->cfg.auth && !authorize_push(c, &claims, &err))
        goto answer;
    if (!c->h->cfg.debug)
        c->req.has_debug_time = false;
    if (c->h->cfg.reads && engine_is_read(c->req.op)) {
        /* The store thread's clock (exec_now), or the debug time. */
        c->req.now = c->req.has_debug_time ? c->req.debug_time : exec_now(c->h->cfg.exec);
        if (reads_run(c->h->cfg.reads, c->arena, &c->req, &c->job.resp) != ENGINE_READ_WRITER)
            return send_envelope(c, &c->job.resp);
    }
    c->job.req = &c->req;
    c->job.arena = c->arena;
    if (exec_run(c->h->cfg.exec, &c->job))
        return send_envelope(c, &c->job.resp);
    submit(c, &c->req);
    return MHD_YES;
answer:
    ret = send_envelope(c, &err);
    response_clear(&err);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_t *h = cls;
    conn_t *c = *con_cls;

    if (!c) {
        /* First call: headers only. */
        if (h->cfg.n_cors_origins && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0 &&
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method"))
            return cors_preflight(h, conn);
        if (strcmp(url, "/") == 0) {
            if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
                return send_empty(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "POST");
            const char *cl =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            c = conn_new(h, conn, ROUTE_RPC);
            if (cl && strtoull(cl, NULL, 10) > h->cfg.max_body)
                c->too_large = true;
            *con_cls = c;
            return MHD_YES;
        }
        if (strcmp(url, "/health") == 0)
            return is_get(method) ? send_empty(h, conn, MHD_HTTP_OK, NULL)
                                  : send_empty(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET,HEAD");
        if (strcmp(url, "/ready") == 0) {
            if (!is_get(method))
                return send_empty(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET,HEAD");
            c = conn_new(h, conn, ROUTE_READY);
            *con_cls = c;
            track_set(h, conn, TRACK_EXEMPT);
            submit(c, NULL);
            return MHD_YES;
        }
        if (strncmp(url, "/poll/", 6) == 0)
            return open_poll(h, conn, url, method);
        if (strcmp(url, "/ui") == 0 || strncmp(url, "/ui/", 4) == 0)
            return h->cfg.ui ? send_ui(h, conn, url, method)
                             : send_empty(h, conn, MHD_HTTP_NOT_FOUND, NULL);
        if (is_legacy(url))
            return send_buffer(h, conn, MHD_HTTP_GONE, (void *)legacy_body, sizeof legacy_body - 1,
                               MHD_RESPMEM_PERSISTENT, "application/json");
        return send_empty(h, conn, MHD_HTTP_NOT_FOUND, NULL);
    }

    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->too_large || c->len + n > c->h->cfg.max_body) {
            c->too_large = true;
            return MHD_YES; /* drain and discard */
        }
        if (c->len + n + 1 > c->cap) {
            /* Doubling in the arena: a buffer outgrown is lost until the
             * arena is freed if small (under 8 KiB in all), returned at once
             * if it had a block of its own (arena_release). */
            size_t cap = c->cap ? c->cap * 2 : 256;
            while (cap < c->len + n + 1)
                cap *= 2;
            char *nb = arena_alloc_raw(c->arena, cap);
            if (c->len)
                memcpy(nb, c->body, c->len);
            if (c->body)
                arena_release(c->arena, c->body);
            c->body = nb;
            c->cap = cap;
        }
        memcpy(c->body + c->len, upload_data, n);
        c->len += n;
        c->body[c->len] = '\0';
        return MHD_YES;
    }

    switch (atomic_load(&c->state)) {
    case CONN_READING:
        return rpc_dispatch(c);
    case CONN_ANSWERED:
        if (c->route == ROUTE_READY)
            return send_empty(
                h, conn, c->job.resp.status == 200 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                NULL);
        return send_envelope(c, &c->job.resp);
    default:
        return MHD_YES; /* spurious call while waiting */
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    conn_free(*con_cls);
    *con_cls = NULL;
    track_set(cls, conn, TRACK_IDLE); /* the next request's deadline starts */
}

http_t *http_start(const http_config_t *cfg, char *err, size_t errlen)
{
    http_t *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->cfg = *cfg;
    if (!h->cfg.max_body)
        h->cfg.max_body = WIRE_MAX_BODY;
    if (!h->cfg.max_connections)
        h->cfg.max_connections = 20000;
    static const char late_body[] =
        "Request Timeout: the request (headers and body) did not arrive within "
        "server.request_timeout\n";
    h->late_len = (size_t)snprintf(h->late, sizeof h->late,
                                   "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                                   "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                                   sizeof late_body - 1, late_body);
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    unsigned threads = h->cfg.threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }

    struct sockaddr_storage ss;
    bool ipv6;
    if (listen_addr(h->cfg.bind, h->cfg.port, &ss, &ipv6, err, errlen) != 0) {
        http_stop(h);
        return NULL;
    }
    const char *bind = h->cfg.bind ? h->cfg.bind : "0.0.0.0";
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0) |
                     (h->cfg.tls ? MHD_USE_TLS : 0);

    /* libmicrohttpd names its own threads "MHD-worker" (this pool) and
     * "MHD-single" (the metrics daemon); it offers no option to rename
     * them. */
    h->d = MHD_start_daemon(
        flags, h->cfg.port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        h->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->cfg.max_conns_per_ip,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_URI_LOG_CALLBACK,
        on_request_line, h,
        /* Idle SSE streams dominate memory: keep each
         * connection's pool small. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)8192, MHD_OPTION_EXTERNAL_LOGGER,
        listen_mhd_log, (void *)"http",
        /* Last: without TLS the list ends here. */
        h->cfg.tls ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, tls_priorities(),
        MHD_OPTION_HTTPS_CERT_CALLBACK, tls_cert_callback(), MHD_OPTION_END);
    if (!h->d) {
        listen_explain(&ss, bind, h->cfg.port, "server.port", err, errlen);
        http_stop(h);
        return NULL;
    }
    if (h->cfg.request_timeout_ms > 0) {
        if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
            snprintf(err, errlen, "cannot start the request-deadline thread");
            http_stop(h);
            return NULL;
        }
        h->reaper_running = true;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : h->cfg.port;
    return h;
}

uint16_t http_port(const http_t *h)
{
    return h->port;
}

void http_stop(http_t *h)
{
    if (!h)
        return;
    if (h->reaper_running) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->reaper, NULL);
    }
    if (h->d)
        MHD_stop_daemon(h->d);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

uint64_t http_request_timeouts(http_t *h)
{
    return h ? atomic_load(&h->timeouts) : 0;
}
