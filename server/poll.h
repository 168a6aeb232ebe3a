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
 * Bounds (issue 9): streams in total and per tenant (poll_open refuses the
 * excess), and the bytes queued per stream and over all streams. A message
 * that would overflow either byte budget is refused (poll_send returns false,
 * so the outbox keeps the row and retries it: nothing is lost); a stream over
 * its own budget is also closed: it still writes what it holds to a client
 * that reads, then ends, and the client reconnects. A closed stream whose
 * client took no byte for a whole keep-alive interval is cut off, so a client
 * that never reads holds its budget for at most two intervals. A message
 * counts as delivered only once its frame is written whole: what a stream
 * still holds when it ends is reported undelivered (poll_hub_on_result), and
 * the outbox sends it again, on the client's next stream (what the kernel
 * buffers for a connection that then dies is lost, as on any TCP stream).
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

/* Longest group or id of a stream path, in bytes. */
#define POLL_NAME_MAX 255

/* Splits url, the path of GET /poll/<group>/<id> as libmicrohttpd hands it
 * (percent-decoded, query string already removed), into group and id: each
 * 1 to POLL_NAME_MAX bytes, without '/'. Returns false for any other path
 * (the caller answers 404); group and id are then unspecified. Pure. */
bool poll_parse_path(const char *url, char group[POLL_NAME_MAX + 1], char id[POLL_NAME_MAX + 1]);

typedef struct {
    size_t max_streams;  /* most concurrent streams (further opens: 503) */
    size_t max_tenant;   /* most concurrent streams of one tenant (429); 0 = no limit */
    size_t buffer;       /* most message frames queued per stream; 0 = 100 */
    size_t stream_bytes; /* most bytes queued per stream; 0 = no limit. A message
                          * larger than this is still taken by an empty stream */
    size_t total_bytes;  /* most bytes queued over all streams; 0 = no limit.
                          * A message is still taken when nothing is queued */
} poll_config_t;

/* Returns a hub with the limits of cfg (copied), or NULL when out of memory.
 * Free with poll_hub_free. */
poll_hub_t *poll_hub_new(const poll_config_t *cfg);

/* Frees the hub; every stream must be closed (poll_hub_close_all, then the
 * HTTP daemon stopped). */
void poll_hub_free(poll_hub_t *hub);

/* Opens a stream for (group, id) on conn and returns the response to queue.
 * prefix: only messages whose resource id starts with it are delivered
 * (NULL = all). tenant: who opens it (token prefix, sub or client address,
 * any text), counted against max_tenant. owner: the token it was opened
 * with (copied; NULL = none), for poll_hub_close_if. until_s: the stream ends
 * once the wall clock passes it (Unix seconds: the token's exp plus the
 * leeway, auth_claims_t.valid_until; INT64_MAX = never); it is checked
 * before every message offered to the stream and at every keep-alive round,
 * so an expired stream hears nothing more and ends within one keep-alive
 * interval. The caller queues and destroys the
 * response; the stream lives until the connection ends. On refusal returns
 * NULL with the HTTP status in *status (429: the tenant's limit; 503: the
 * hub is full, closing or out of memory) and a message naming the limit and
 * its setting in err. */
struct MHD_Response *poll_open(poll_hub_t *hub, struct MHD_Connection *conn, const char *group,
                               const char *id, const char *prefix, const char *tenant,
                               const char *owner, int64_t until_s, unsigned *status, char *err,
                               size_t errlen);

/* Queues one SSE frame (the JSON text of a message) for addr. resource_id is
 * the task or promise id the message is about (for prefix filtering).
 * Returns true when a stream took it; false when no stream could (none open,
 * every candidate full or over a byte budget): the caller keeps the message
 * and retries it later. A message taken is not yet delivered: with seq >= 0
 * the hub's on_result hears of it later (poll_hub_on_result). */
bool poll_send(poll_hub_t *hub, const addr_t *addr, const char *resource_id, const char *json,
               size_t len, int64_t seq);

/* Sets the function told what became of each message poll_send took with a
 * seq >= 0: delivered once the stream handed its frame whole to the
 * connection, or not when the stream ended first (its client stopped
 * reading and was cut off, hung up, timed out, or the server is closing):
 * the sender then retries it, so a message a stream still holds when it
 * ends is not lost. (Delivered means handed to the connection: what the
 * kernel's socket buffers still hold when a connection dies is lost, as on
 * any TCP stream.) fn runs on the stream's HTTP thread, or on the thread
 * stopping the HTTP daemon, under the hub's lock: it must be quick, must
 * not call the hub and must not wait on I/O. fn NULL clears the function
 * if arg is the one set (else nothing changes); do so before arg is freed:
 * the call waits for a report under way. */
void poll_hub_on_result(poll_hub_t *hub, void (*fn)(void *arg, int64_t seq, bool delivered),
                        void *arg);

/* Whether poll_send may take a message for addr about resource_id now: an
 * open stream of the address would be offered it and the total byte budget
 * is not full (the message may still be refused for its size). When false
 * the caller retries later without building the message. A full total
 * budget closes a stalled stream to make room, as in poll_send. */
bool poll_ready(poll_hub_t *hub, const addr_t *addr, const char *resource_id);

/* Queues a keep-alive comment on every idle stream. */
void poll_keepalive(poll_hub_t *hub);

/* Ends every open stream with an owner for which end(arg, owner) is true
 * (a reload of the keys or the revocation list: the streams of tokens that
 * no longer verify), as poll_hub_close_all ends one. end is asked once per
 * distinct owner of the streams open at the call, WITHOUT the hub's lock
 * (it may take its time: messages flow meanwhile), on the calling thread;
 * it must not call the hub. Out of memory, it is asked per stream under
 * the lock instead. A stream opened during the call is ended only when
 * its owner was among those judged. Returns the number of streams ended. */
size_t poll_hub_close_if(poll_hub_t *hub, bool (*end)(void *arg, const char *owner), void *arg);

/* Ends every stream (shutdown) and refuses new ones. */
void poll_hub_close_all(poll_hub_t *hub);

/* Number of open streams. */
size_t poll_count(poll_hub_t *hub);

/* Counters for /metrics. */
typedef struct {
    size_t streams;          /* open streams */
    size_t groups;           /* groups held: those with an open stream */
    size_t queued_bytes;     /* bytes of messages queued over all streams */
    uint64_t budget_closed;  /* streams closed for going over stream_bytes */
    uint64_t budget_refused; /* messages refused for a byte budget (retried later) */
    uint64_t tenant_refused; /* opens refused for max_tenant */
    uint64_t limit_refused;  /* opens refused for max_streams */
    uint64_t expired;        /* streams ended because their token expired (until_s) */
    size_t max_streams;      /* the configured max_streams */
} poll_stats_t;
poll_stats_t poll_stats(poll_hub_t *hub);

#endif
