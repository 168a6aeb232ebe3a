/* http_stub.h - a tiny HTTP server on 127.0.0.1 for the unit tests of the
 * push transport and the outbox: it answers every request with a set status
 * (optionally after a delay) and remembers what it received.
 *
 * One thread per connection (libmicrohttpd), so a delayed answer holds only
 * its own connection; http_stub_stop interrupts delays. Thread-safe. */
#ifndef RESONATE_HTTP_STUB_H
#define RESONATE_HTTP_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_stub http_stub_t;

/* Starts on an ephemeral port; fails the test if it cannot. Every request is
 * answered with status (an empty body) after delay_ms. */
http_stub_t *http_stub_start(int status, int delay_ms);

/* The base URL, "http://127.0.0.1:PORT" (owned by the stub). */
const char *http_stub_url(const http_stub_t *s);

/* Requests fully received so far. */
int http_stub_requests(http_stub_t *s);

/* Copies the body and Content-Type of the last request received into buf
 * (NUL-terminated, truncated to len); "" when none. */
void http_stub_last_body(http_stub_t *s, char *buf, size_t len);
void http_stub_last_type(http_stub_t *s, char *buf, size_t len);

/* Stops the server (cutting short any delay) and frees s. NULL is a no-op. */
void http_stub_stop(http_stub_t *s);

#endif
