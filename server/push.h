/* push.h - HTTP push transport: POSTs messages to http(s):// addresses.
 *
 * One thread drives a libcurl multi handle, so the store thread only queues
 * work and never waits on the network. Each result (2xx = delivered) is
 * reported through the callback given to push_start, on the push thread.
 * Redirects are never followed (a 3xx is a failed delivery) and only http
 * and https are spoken. An https:// target's certificate is always
 * verified (chain to a trusted CA, not expired, name matching the URL's
 * host); a target that fails it is a failed delivery, logged at warn. */
#ifndef RESONATE_PUSH_H
#define RESONATE_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct push push_t;

typedef void (*push_result_fn)(void *arg, int64_t seq, bool delivered);

/* Bytes of bodies queued or in flight past which push_full says so: a
 * message may hold a promise of ~4 MiB, and a slow target must not make
 * the server hold them by the thousand. */
#define PUSH_MAX_QUEUED_BYTES ((size_t)128 << 20)

typedef struct {
    size_t concurrency; /* requests in flight at once */
    /* Requests queued or in flight past which push_full says so (0: 8 x
     * concurrency), and bodies' bytes (0: PUSH_MAX_QUEUED_BYTES). */
    size_t max_queued, max_queued_bytes;
    int64_t connect_timeout_ms;
    int64_t request_timeout_ms;
    const char *cacert; /* PEM CA bundle for https:// (copied); NULL = the system's */
    push_result_fn on_result;
    void *arg;
} push_config_t;

/* Starts the push thread. Returns NULL with the reason in err. */
push_t *push_start(const push_config_t *cfg, char *err, size_t errlen);

/* Queues a POST of body (JSON, copied) to url for outbox row seq. It is
 * queued even when push_full: the caller asks first. */
void push_send(push_t *p, int64_t seq, const char *url, const char *body, size_t len);

/* Any thread: whether the requests queued or in flight (sent, not yet
 * answered) have reached cfg.max_queued, or their bodies
 * cfg.max_queued_bytes. The outbox then leaves push rows in the store,
 * due, until requests end (a slow or hung target holds at most this much
 * of the server's memory, and each delivery round reads no more rows). */
bool push_full(push_t *p);

/* Abandons queued work, waits for the thread, frees p. */
void push_stop(push_t *p);

#endif
