/* metrics.h - Prometheus metrics: counters fed by the request path and the
 * store thread, exposed as text format on their own port.
 *
 * Recording functions are lock-free (atomics) and may be called from any
 * thread; a NULL metrics_t is accepted everywhere and records nothing, so
 * callers need no checks. */
#ifndef RESONATE_METRICS_H
#define RESONATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

typedef struct metrics metrics_t;

/* Values read at scrape time from the rest of the server. */
typedef struct {
    size_t pollers;                       /* open SSE streams */
    size_t poll_queued_bytes;             /* message bytes queued on them */
    uint64_t poll_budget_closed;          /* streams closed for their byte budget */
    uint64_t poll_budget_refused;         /* messages refused for a byte budget */
    uint64_t poll_tenant_refused;         /* streams refused for the per-tenant limit */
    uint64_t poll_limit_refused;          /* streams refused for max_connections */
    size_t poll_max_streams;              /* transports.http_poll.max_connections */
    uint64_t request_timeouts;            /* requests cut off by server.request_timeout */
    int64_t outbox_depth;                 /* undelivered messages */
    uint64_t delivered, retried, dropped; /* outbox counters */
    uint64_t auth_verifications, auth_cache_hits;
    /* Unix seconds at which the served TLS certificate of the API and of the
     * /metrics listener expires; 0 = that listener has no TLS. */
    int64_t tls_api_expires, tls_metrics_expires;
} metrics_gauges_t;

typedef void (*metrics_gauges_fn)(void *arg, metrics_gauges_t *out);

/* Returns a registry. db_path (may be NULL or ":memory:") is the SQLite file
 * whose size (with its -wal) is reported. Free with metrics_free. */
metrics_t *metrics_new(const char *db_path);
void metrics_free(metrics_t *m);

/* One answered request: op (OP_UNKNOWN for unknown kinds and envelope
 * errors), HTTP status, seconds from first byte to answer. */
void metrics_request(metrics_t *m, op_t op, int status, double seconds);

/* One rejected credential; reason is a fixed label (auth_reason_label, or
 * "push_not_allowed" for a push address outside transports.http_push.allow). */
void metrics_auth_failure(metrics_t *m, const char *reason);

/* One store batch: jobs it carried and seconds spent, its commit and any
 * runs again (a lost race, a failed request) included. */
void metrics_batch(metrics_t *m, size_t jobs, double seconds);

/* Makes metrics_serve listen with HTTPS only, with tls's pair (borrowed;
 * it must outlive metrics_stop). Call before metrics_serve. */
typedef struct tls tls_t;
void metrics_set_tls(metrics_t *m, tls_t *tls);

/* Serves GET /metrics on bind:port until metrics_stop; gauges is called per
 * scrape. Returns 0, or -1 with the reason in err. */
int metrics_serve(metrics_t *m, const char *bind, uint16_t port, metrics_gauges_fn gauges,
                  void *arg, char *err, size_t errlen);
void metrics_stop(metrics_t *m);

/* Writes the exposition text into a malloc'd string (caller frees). */
char *metrics_render(metrics_t *m, metrics_gauges_fn gauges, void *arg);

#endif
