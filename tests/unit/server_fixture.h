/* server_fixture.h - a whole server in the test process for the unit tests
 * of the HTTP front end and of the command-line client: a private in-memory
 * SQLite store, the store thread with delivery on (poll transport only), an
 * SSE hub and the libmicrohttpd front end on 127.0.0.1 at an ephemeral
 * port, wired as server/serve.c wires them and stopped in its order.
 *
 * The background tick runs every hour only, so a test's state changes come
 * from its own requests (debug.tick drives time when needed). */
#ifndef RESONATE_SERVER_FIXTURE_H
#define RESONATE_SERVER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"

typedef struct {
    bool debug;                /* debug.* kinds and resonate:debug_time */
    bool ui;                   /* the web console at GET /ui */
    size_t max_body;           /* 0 = the protocol's 2 MiB */
    const char *auth;          /* auth.publickey_path ("none": unsigned); NULL = off */
    char *const *cors_origins; /* NULL = no CORS */
    size_t n_cors_origins;
    bool inline_jobs; /* HTTP threads run jobs when the store is free (exec_run) */
} fixture_config_t;

/* Starts the server; fails the test when it cannot. One at a time. */
void fixture_start(const fixture_config_t *cfg);

/* "http://127.0.0.1:PORT" of the running server. */
const char *fixture_url(void);

/* Stops and frees everything fixture_start made. Safe when not started. */
void fixture_stop(void);

/* One HTTP request with libcurl (10 s timeout): method, url, an optional
 * body and optional extra header lines (NULL-terminated). Returns the
 * status, 0 when nothing answered; *resp_body (malloc'd, NUL-terminated,
 * may be NULL) receives the response body and *resp_headers (same) the
 * response header block, each when not NULL. Needs curl_global_init. */
long unit_http(const char *method, const char *url, const char *body, const char *const *headers,
               char **resp_body, char **resp_headers);

/* unit_http to path ("/", "/ready", ...) of the running server; fails the
 * test when nothing answers. */
int fixture_http(const char *method, const char *path, const char *body, const char *const *headers,
                 char **resp_body, char **resp_headers);

#endif
