/* poll.h - Server-Sent-Events streams of GET /poll/:group/:id.
 *
 * A hub keeps every open stream, indexed by group. The store thread's
 * deliverer calls poll_send to queue a message frame on one stream (the
 * addressed one for uni addresses; for any addresses the stream of that id
 * if connected, else the next stream of the group in turn). A stream with
 * nothing to write is a suspended libmicrohttpd connection: it costs no
 * thread and no polling, and poll_send resumes it. Suspended connections do
 * not see disconnects, so before a stream is chosen for a message (and at
 * every keep-alive) its socket is checked for a hang-up: a vanished worker's
 * stream is closed and skipped, and the message goes to another stream of
 * the group (any@) or is reported undelivered (uni@) so the outbox retries.
 * A keep-alive comment is written every keepalive interval.
 *
 * Thread-safety: every function may be called from any thread. */
#ifndef RESONATE_POLL_H
#define RESONATE_POLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "core/addr.h"

typedef struct poll_hub poll_hub_t;

/* max_streams: most concurrent streams (further opens get 503);
 * buffer: most frames queued per stream. Free with poll_hub_free. */
poll_hub_t *poll_hub_new(size_t max_streams, size_t buffer);

/* Frees the hub; every stream must be closed (poll_hub_close_all, then the
 * HTTP daemon stopped). */
void poll_hub_free(poll_hub_t *hub);

/* Opens a stream for (group, id) on conn and returns the response to queue,
 * or NULL when the hub is full or closing. prefix: only messages whose
 * resource id starts with it are delivered (NULL = all). The caller queues
 * and destroys the response; the stream lives until the connection ends. */
struct MHD_Response *poll_open(poll_hub_t *hub, struct MHD_Connection *conn, const char *group,
                               const char *id, const char *prefix);

/* Queues one SSE frame (the JSON text of a message) for addr. resource_id is
 * the task or promise id the message is about (for prefix filtering).
 * Returns true when a stream took it. */
bool poll_send(poll_hub_t *hub, const addr_t *addr, const char *resource_id, const char *json,
               size_t len);

/* Queues a keep-alive comment on every idle stream. */
void poll_keepalive(poll_hub_t *hub);

/* Ends every stream (shutdown) and refuses new ones. */
void poll_hub_close_all(poll_hub_t *hub);

/* Number of open streams. */
size_t poll_count(poll_hub_t *hub);

#endif
