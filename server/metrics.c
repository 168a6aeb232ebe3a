/* metrics.c - the Prometheus registry and its /metrics listener; see
 * metrics.h.
 *
 * Every series lives in a fixed slot chosen from closed label sets (the
 * operation kinds, a list of HTTP statuses, the auth reason labels), so
 * recording is a relaxed atomic add with no lock and no allocation, and a
 * client cannot grow the registry by sending odd kinds. Histograms keep
 * per-bucket (not cumulative) counts; the scrape sums them and derives
 * _count from the same reads, so +Inf always equals _count even while
 * other threads record. Only series that have been used are written, as
 * the Rust server's lazily registered metrics do. */
#include "server/metrics.h"

#include "server/listen.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/log.h"
#include "server/tls.h"

/* Statuses the server answers with; anything else is counted as "other". */
static const int statuses[] = {200, 201, 202, 204, 300, 400, 401, 403, 404, 405,
                               409, 410, 413, 422, 429, 500, 501, 502, 503, 504};
#define N_STATUS (sizeof statuses / sizeof *statuses + 1)
#define N_KINDS (OP__COUNT + 1) /* + OP_UNKNOWN */

static const char *const reasons[] = {
    "no_token",     "too_large",      "malformed",      "unsupported_alg",  "unknown_kid",
    "key_mismatch", "bad_signature",  "expired",        "not_yet_valid",    "no_exp",
    "bad_claim",    "wrong_issuer",   "wrong_audience", "no_prefix",        "bad_prefix",
    "revoked",      "outside_prefix", "internal",       "push_not_allowed",
};
#define N_REASONS (sizeof reasons / sizeof *reasons + 1) /* + "other" */

/* Seconds; finer than Prometheus' defaults at the low end because a
 * group-committed request takes a millisecond or two. */
static const double sec_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_SEC (sizeof sec_bounds / sizeof *sec_bounds)
static const double job_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
#define N_JOB (sizeof job_bounds / sizeof *job_bounds)
#define MAX_BOUNDS 16

typedef struct {
    _Atomic uint64_t bucket[MAX_BOUNDS + 1]; /* last = above every bound */
    _Atomic uint64_t sum;                    /* in units of scale */
} hist_t;

struct metrics {
    hist_t req[N_KINDS][N_STATUS]; /* resonate_request_duration_seconds */
    _Atomic uint64_t auth[N_REASONS];
    hist_t batch_jobs, batch_secs;
    char *db_path, *wal_path; /* NULL for :memory: */
    struct MHD_Daemon *d;
    tls_t *tls; /* borrowed; NULL = plain HTTP */
    metrics_gauges_fn gauges;
    void *gauges_arg;
};

#define SEC_SCALE 1e9 /* seconds are summed as nanoseconds */

static void hist_observe(hist_t *h, const double *bounds, size_t n, double v, double scale)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    double s = v * scale;
    atomic_fetch_add_explicit(&h->sum, s > 0 ? (uint64_t)(s + 0.5) : 0, memory_order_relaxed);
}

metrics_t *metrics_new(const char *db_path)
{
    metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (db_path && *db_path && strcmp(db_path, ":memory:") != 0 &&
        strncmp(db_path, "file::memory:", 13) != 0) {
        m->db_path = strdup(db_path);
        size_t n = strlen(db_path);
        m->wal_path = malloc(n + 5);
        if (m->wal_path) {
            memcpy(m->wal_path, db_path, n);
            memcpy(m->wal_path + n, "-wal", 5);
        }
        if (!m->db_path || !m->wal_path) {
            metrics_free(m);
            return NULL;
        }
    }
    return m;
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    metrics_stop(m);
    free(m->db_path);
    free(m->wal_path);
    free(m);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < N_STATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return N_STATUS - 1;
}

void metrics_request(metrics_t *m, op_t op, int status, double seconds)
{
    if (!m)
        return;
    if ((int)op < 0 || op > OP_UNKNOWN)
        op = OP_UNKNOWN;
    hist_observe(&m->req[op][status_slot(status)], sec_bounds, N_SEC, seconds, SEC_SCALE);
}

void metrics_auth_failure(metrics_t *m, const char *reason)
{
    if (!m)
        return;
    size_t i = 0;
    while (i < N_REASONS - 1 && !(reason && strcmp(reason, reasons[i]) == 0))
        i++;
    atomic_fetch_add_explicit(&m->auth[i], 1, memory_order_relaxed);
}

void metrics_batch(metrics_t *m, size_t jobs, double seconds)
{
    if (!m)
        return;
    /* Every transaction's latency; sizes only of those that carried
     * requests (the background ticks would otherwise drown them). */
    hist_observe(&m->batch_secs, sec_bounds, N_SEC, seconds, SEC_SCALE);
    if (jobs)
        hist_observe(&m->batch_jobs, job_bounds, N_JOB, (double)jobs, 1);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes a family with its one sample; labels is "" or `{k="v"}`. */
static void single(FILE *f, const char *name, const char *type, const char *help,
                   const char *labels, unsigned long long v)
{
    family(f, name, type, help);
    fprintf(f, "%s%s %llu\n", name, labels, v);
}

/* Writes one histogram series; labels is "" or `k="v",` pairs with a
 * trailing comma. Returns false when it has no observations. */
static bool hist_write(FILE *f, const char *name, const char *labels, const hist_t *h,
                       const double *bounds, size_t n, double scale)
{
    uint64_t counts[MAX_BOUNDS + 1], total = 0;
    for (size_t i = 0; i <= n; i++) {
        counts[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        total += counts[i];
    }
    if (!total)
        return false;
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += counts[i];
        fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, bounds[i],
                (unsigned long long)cum);
    }
    fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)total);
    size_t ll = strlen(labels);
    /* _sum and _count carry the same labels without the trailing comma. */
    fprintf(f, "%s_sum%s%.*s%s %.9g\n", name, ll ? "{" : "", ll ? (int)ll - 1 : 0, labels,
            ll ? "}" : "", (double)atomic_load_explicit(&h->sum, memory_order_relaxed) / scale);
    fprintf(f, "%s_count%s%.*s%s %llu\n", name, ll ? "{" : "", ll ? (int)ll - 1 : 0, labels,
            ll ? "}" : "", (unsigned long long)total);
    return true;
}

static uint64_t hist_total(const hist_t *h, size_t n)
{
    uint64_t t = 0;
    for (size_t i = 0; i <= n; i++)
        t += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    return t;
}

static void status_label(size_t s, char *buf, size_t n)
{
    if (s < N_STATUS - 1)
        snprintf(buf, n, "%d", statuses[s]);
    else
        snprintf(buf, n, "other");
}

static const char *kind_label(size_t k)
{
    const char *name = k < OP_UNKNOWN ? op_name((op_t)k) : NULL;
    return name ? name : "unknown";
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

char *metrics_render(metrics_t *m, metrics_gauges_fn gauges, void *arg)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    metrics_gauges_t g = {0};
    if (gauges)
        gauges(arg, &g);
    char st[16], labels[160];

    family(f, "resonate_request_total", "counter",
           "Protocol requests answered, by kind and status.");
    for (size_t k = 0; m && k < N_KINDS; k++)
        for (size_t s = 0; s < N_STATUS; s++) {
            uint64_t t = hist_total(&m->req[k][s], N_SEC);
            if (!t)
                continue;
            status_label(s, st, sizeof st);
            fprintf(f, "resonate_request_total{kind=\"%s\",status=\"%s\"} %llu\n", kind_label(k),
                    st, (unsigned long long)t);
        }
    family(f, "resonate_request_duration_seconds", "histogram",
           "Time from a request's arrival to its answer (after its commit), by kind and status.");
    for (size_t k = 0; m && k < N_KINDS; k++)
        for (size_t s = 0; s < N_STATUS; s++) {
            status_label(s, st, sizeof st);
            snprintf(labels, sizeof labels, "kind=\"%s\",status=\"%s\",", kind_label(k), st);
            hist_write(f, "resonate_request_duration_seconds", labels, &m->req[k][s], sec_bounds,
                       N_SEC, SEC_SCALE);
        }
    family(f, "resonate_auth_failures_total", "counter",
           "Requests refused by authentication (401) or authorization (403), by reason.");
    for (size_t r = 0; m && r < N_REASONS; r++) {
        uint64_t v = atomic_load_explicit(&m->auth[r], memory_order_relaxed);
        if (v)
            fprintf(f, "resonate_auth_failures_total{reason=\"%s\"} %llu\n",
                    r < N_REASONS - 1 ? reasons[r] : "other", (unsigned long long)v);
    }
    family(f, "resonate_auth_verifications_total", "counter",
           "Token signature verifications (cache misses).");
    fprintf(f, "resonate_auth_verifications_total %llu\n",
            (unsigned long long)g.auth_verifications);
    family(f, "resonate_auth_cache_hits_total", "counter",
           "Tokens accepted from the verified-token cache.");
    fprintf(f, "resonate_auth_cache_hits_total %llu\n", (unsigned long long)g.auth_cache_hits);

    family(f, "resonate_outbox_depth", "gauge",
           "Messages waiting in the outbox, counted at each scrape on a read connection "
           "(resonate dev: as of the last background tick). On PostgreSQL every server "
           "reports the one shared outbox: do not sum it across servers.");
    fprintf(f, "resonate_outbox_depth %lld\n", (long long)g.outbox_depth);
    family(f, "resonate_deliveries_total", "counter",
           "Outbox delivery attempts: success, error (will be retried), dropped (gave up).");
    fprintf(f, "resonate_deliveries_total{status=\"success\"} %llu\n",
            (unsigned long long)g.delivered);
    fprintf(f, "resonate_deliveries_total{status=\"error\"} %llu\n", (unsigned long long)g.retried);
    fprintf(f, "resonate_deliveries_total{status=\"dropped\"} %llu\n",
            (unsigned long long)g.dropped);
    family(f, "resonate_poll_connections", "gauge", "Open SSE streams on /poll.");
    fprintf(f, "resonate_poll_connections %zu\n", g.pollers);
    single(f, "resonate_poll_queued_bytes", "gauge",
           "Bytes of messages queued on /poll streams, not yet written.", "", g.poll_queued_bytes);
    single(f, "resonate_poll_streams_closed_total", "counter",
           "Poll streams closed by the server, by reason (budget: over "
           "transports.http_poll.buffer_bytes or total_buffer_bytes).",
           "{reason=\"budget\"}", g.poll_budget_closed);
    single(f, "resonate_poll_budget_refusals_total", "counter",
           "Messages a poll stream could not take for a byte budget (retried by the outbox).", "",
           g.poll_budget_refused);
    family(f, "resonate_poll_streams_refused_total", "counter",
           "Poll streams refused, by reason (tenant: "
           "transports.http_poll.max_connections_per_tenant; limit: "
           "transports.http_poll.max_connections).");
    fprintf(f, "resonate_poll_streams_refused_total{reason=\"tenant\"} %llu\n",
            (unsigned long long)g.poll_tenant_refused);
    fprintf(f, "resonate_poll_streams_refused_total{reason=\"limit\"} %llu\n",
            (unsigned long long)g.poll_limit_refused);
    single(f, "resonate_poll_max_connections", "gauge",
           "Poll streams allowed at once (transports.http_poll.max_connections).", "",
           g.poll_max_streams);
    family(f, "resonate_tls_cert_expiry_timestamp_seconds", "gauge",
           "When the served TLS certificate expires (Unix seconds), by listener (api: "
           "server.tls_cert; metrics: observability.metrics_tls_cert); none without TLS.");
    if (g.tls_api_expires)
        fprintf(f, "resonate_tls_cert_expiry_timestamp_seconds{listener=\"api\"} %lld\n",
                (long long)g.tls_api_expires);
    if (g.tls_metrics_expires)
        fprintf(f, "resonate_tls_cert_expiry_timestamp_seconds{listener=\"metrics\"} %lld\n",
                (long long)g.tls_metrics_expires);
    single(f, "resonate_request_timeouts_total", "counter",
           "Requests answered 408 because headers and body did not arrive within "
           "server.request_timeout.",
           "", g.request_timeouts);

    family(f, "resonate_store_batch_jobs", "histogram",
           "Requests carried by one store batch (group commit; a batch run again after a "
           "lost race or a failed request counts once).");
    if (m)
        hist_write(f, "resonate_store_batch_jobs", "", &m->batch_jobs, job_bounds, N_JOB, 1);
    family(f, "resonate_store_batch_duration_seconds", "histogram",
           "Time to run and commit one store batch, its runs again included.");
    if (m)
        hist_write(f, "resonate_store_batch_duration_seconds", "", &m->batch_secs, sec_bounds,
                   N_SEC, SEC_SCALE);
    if (m && m->db_path) {
        family(f, "resonate_sqlite_size_bytes", "gauge",
               "Size of the SQLite database file plus its -wal file.");
        fprintf(f, "resonate_sqlite_size_bytes %lld\n",
                (long long)(file_size(m->db_path) + file_size(m->wal_path)));
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static enum MHD_Result on_scrape(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    metrics_t *m = cls;
    unsigned status = MHD_HTTP_OK;
    char *body = NULL;
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (strcmp(url, "/metrics") != 0)
        status = MHD_HTTP_NOT_FOUND;
    else if (!head && strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    else if (!(body = metrics_render(m, m->gauges, m->gauges_arg)))
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (body)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; version=0.0.4; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A TLS scrape's socket context: just the pair its handshake used. */
static void on_scrape_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                 enum MHD_ConnectionNotificationCode code)
{
    (void)conn;
    metrics_t *m = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        tls_conn_t *c = malloc(sizeof *c);
        if (c)
            tls_conn_init(c, m->tls);
        *socket_context = c; /* NULL: its handshake fails */
        return;
    }
    tls_conn_release(*socket_context);
    free(*socket_context);
    *socket_context = NULL;
}

void metrics_set_tls(metrics_t *m, tls_t *tls)
{
    if (m)
        m->tls = tls;
}

int metrics_serve(metrics_t *m, const char *bind, uint16_t port, metrics_gauges_fn gauges,
                  void *arg, char *err, size_t errlen)
{
    if (!m) {
        snprintf(err, errlen, "no metrics registry");
        return -1;
    }
    struct sockaddr_storage ss;
    bool ipv6;
    if (listen_addr(bind, port, &ss, &ipv6, err, errlen) != 0)
        return -1;
    if (!bind)
        bind = "0.0.0.0";
    /* One thread: a scrape every few seconds needs no more. epoll, not
     * select: with many poll streams open, the scrape's socket number can
     * exceed FD_SETSIZE. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     (ipv6 ? MHD_USE_IPv6 : 0) | (m->tls ? MHD_USE_TLS : 0);
    m->gauges = gauges;
    m->gauges_arg = arg;
    /* The TLS options come last: without TLS the list ends before them. */
    m->d = MHD_start_daemon(flags, port, NULL, NULL, on_scrape, m, MHD_OPTION_EXTERNAL_LOGGER,
                            listen_mhd_log, (void *)"metrics http", MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                            m->tls ? MHD_OPTION_NOTIFY_CONNECTION : MHD_OPTION_END,
                            on_scrape_connection, m, MHD_OPTION_HTTPS_PRIORITIES, tls_priorities(),
                            MHD_OPTION_HTTPS_CERT_CALLBACK, tls_cert_callback(), MHD_OPTION_END);
    if (!m->d) {
        listen_explain(&ss, bind, port, "observability.metrics_port", err, errlen);
        return -1;
    }
    return 0;
}

void metrics_stop(metrics_t *m)
{
    if (m && m->d) {
        MHD_stop_daemon(m->d);
        m->d = NULL;
    }
}
