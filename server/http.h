/* http.h - the libmicrohttpd front end.
 *
 * Routes: POST / (the RPC envelope), GET /poll/:group/:id (SSE, see poll.h),
 * GET|HEAD /health and /ready, GET|HEAD /ui and /ui/<file> (the web console,
 * ui.h; 404 unless ui is set), the removed REST paths (410). A request is parsed and validated on
 * an HTTP thread, then its connection is suspended while the store thread runs it; the store thread
 * resumes the connection after the commit and the HTTP thread writes the answer. No HTTP thread
 * ever waits for the store thread. With a reads pool, the read kinds (engine_is_read) are answered
 * on the HTTP thread itself from a read-only connection (reads.h), never queued behind writes.
 *
 * Connection bounds (issue 9, slowloris): at most max_connections in all and
 * max_connections_per_ip from one address (libmicrohttpd refuses the excess
 * at accept); and a request must arrive whole, headers and body, within
 * request_timeout_ms of its connection opening or of the previous answer on
 * it, whatever its pace: a reaper thread answers 408 to a late request and
 * shuts its socket down (a connection that sent nothing yet is just closed).
 * An open /poll stream is exempt (long-lived by design) but counts toward the
 * connection limits, as does a request waiting for the store.
 *
 * With cfg.tls every route is served over HTTPS only (server/tls.h: the
 * certificate callback, pair ownership per connection, reload); a late
 * request is then closed without the 408, which only the connection's own
 * thread could encrypt. */
#ifndef RESONATE_HTTP_H
#define RESONATE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "core/limits.h"
#include "server/exec.h"
#include "server/metrics.h"
#include "server/poll.h"
#include "server/reads.h"
#include "server/tls.h"

/* libmicrohttpd closes a connection that sends and takes nothing for this
 * long, an idle /poll stream included (OUTBOX_POLL_HOLD_MS outlasts it). */
#define HTTP_IDLE_TIMEOUT_S 120

typedef struct http http_t;

typedef struct {
    const char *bind;           /* listen address, e.g. "0.0.0.0" or "127.0.0.1" */
    uint16_t port;              /* 0 = pick a free port (see http_port) */
    bool debug;                 /* debug.* operations and resonate:debug_time */
    bool ui;                    /* serve the web console at GET /ui (ui.h) */
    size_t max_body;            /* bytes; larger bodies get 413 */
    limits_t limits;            /* sizes inside a request; larger: 400 */
    unsigned max_connections;   /* 0 = 20000 */
    unsigned max_conns_per_ip;  /* 0 = no limit */
    int64_t request_timeout_ms; /* 0 = no deadline */
    unsigned threads;           /* HTTP threads; 0 = one per core */
    exec_t *exec;               /* borrowed */
    reads_t *reads;             /* borrowed; NULL = reads go to the store thread too */
    poll_hub_t *hub;            /* borrowed; NULL = poll transport disabled */
    auth_t *auth;               /* borrowed; NULL = authentication off */
    metrics_t *metrics;         /* borrowed; NULL = not recorded */
    tls_t *tls;                 /* borrowed; NULL = plain HTTP, else HTTPS only */
    char *const *cors_origins;  /* borrowed; allowed Origins, "*" = any; none = no CORS */
    size_t n_cors_origins;
    /* borrowed; transports.http_push.allow: with auth on, the only push
     * addresses a token without the admin role may name */
    char *const *push_allow;
    size_t n_push_allow;
} http_config_t;

/* Starts listening. Returns NULL with the reason in err. */
http_t *http_start(const http_config_t *cfg, char *err, size_t errlen);

/* The port actually bound. */
uint16_t http_port(const http_t *h);

/* Requests cut off by request_timeout_ms since http_start (any thread). */
uint64_t http_request_timeouts(http_t *h);

/* Closes every connection and frees h. Call after the store thread has
 * answered every job (exec_stop), so no connection is still suspended. */
void http_stop(http_t *h);

#endif
