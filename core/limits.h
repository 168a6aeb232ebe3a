/* limits.h - bounds on the sizes a caller controls inside a request.
 *
 * server.max_body bounds a request as a whole; these bound its parts, so one
 * request cannot store an id, a tag map or a cron expression that is then
 * copied into every table, index, message, log line and preload it reaches.
 * A decoded request is checked once, on the HTTP thread, before it is
 * submitted: one over a limit is a 400 naming the limit and its setting,
 * and nothing of it is stored. Each bound is a [limits] key of
 * conf/config.c; the defaults are generous enough for every request an SDK
 * sends (SDK child ids grow by a segment per nesting level). */
#ifndef RESONATE_LIMITS_H
#define RESONATE_LIMITS_H

#include <stddef.h>

#include "core/types.h"
#include "core/wire.h"

/* Every member: 0 = unbounded. */
typedef struct {
    /* limits.id_max_bytes: each promise, task and schedule id, pid,
     * awaited/awaiter, listener address, search cursor, and a schedule's
     * promiseId template both as written and expanded (with the longest
     * timestamp). */
    size_t id_max_bytes;
    size_t tags_max_count;      /* limits.tags_max_count: entries of one tags/headers map */
    size_t tag_key_max_bytes;   /* limits.tag_key_max_bytes: one key of such a map */
    size_t tag_value_max_bytes; /* limits.tag_value_max_bytes: one value */
    size_t tags_max_bytes;      /* limits.tags_max_bytes: keys + values of one map */
    size_t cron_max_bytes;      /* limits.cron_max_bytes: a schedule's cron expression */
} limits_t;

/* The defaults of the [limits] keys (conf/config.c). */
#define LIMITS_ID_MAX_BYTES 4096
#define LIMITS_TAGS_MAX_COUNT 128
#define LIMITS_TAG_KEY_MAX_BYTES 1024
#define LIMITS_TAG_VALUE_MAX_BYTES 8192
#define LIMITS_TAGS_MAX_BYTES 65536
#define LIMITS_CRON_MAX_BYTES 1024

/* The default of limits.listeners_per_promise: listeners one pending
 * promise may hold (0 = unbounded). Unlike the bounds above it depends on
 * stored rows, not on the request, so it is not part of limits_t: the
 * engine enforces it on the store thread (engine_config_t), where settling
 * the promise costs one outbox row per listener. */
#define LIMITS_LISTENERS_PER_PROMISE 1000

/* The default of limits.settle_fanout_batch: awaiters resumed, and
 * listeners' unblocks queued, by one settlement in its own transaction and
 * by each background tick after it (0 = all at once). Resuming one awaiter
 * costs ~18 us of the store thread (bench/fanout.mjs), so a batch holds
 * every other tenant's writes for ~10 ms at most. */
#define LIMITS_SETTLE_FANOUT_BATCH 500

/* Checks the decoded request r against lim. Returns 0 when every size is
 * within its bound, or -1 with err set to a 400 naming the first field over
 * its limit, the limit and its setting ("Promise ID is 5000 bytes, over the
 * limit of 4096 (limits.id_max_bytes)"). Allocations go to a. */
int limits_check(const limits_t *lim, arena_t *a, const request_t *r, response_t *err);

#endif
