/* envelope.c - fuzz target: request envelopes and operation data.
 *
 * Feeds arbitrary bytes to wire_decode_envelope, then (when the envelope
 * passed) to wire_decode_request with debug operations disabled and enabled,
 * exactly as the HTTP front end does with a POST body. Checks what the edge
 * promises downstream: a failure always carries a 4xx status and a string
 * message, a success names a known operation and its resource ids are
 * readable, and the error envelope serialises. Any crash, sanitizer report
 * or failed check is a finding. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire.h"
#include "fuzz/fuzz.h"

/* Every id an accepted request names is a NUL-terminated string. */
static void touch_ids(const request_t *req, arena_t *a)
{
    const char *const *ids = NULL;
    size_t n = request_resource_ids(req, a, &ids);
    for (size_t i = 0; i < n; i++)
        if (ids[i] && strlen(ids[i]) > WIRE_MAX_BODY)
            abort();
}

/* A failure must be answerable: 4xx, a string message, a serialisable
 * envelope echoing kind and corrId. */
static void check_error(const envelope_t *env, response_t *err)
{
    if (err->status < 400 || err->status > 499 || !json_is_string(err->data))
        abort();
    size_t len = 0;
    char *out = wire_encode_envelope(env->kind, env->corr_id, err->status, err->data, &len);
    if (!out || strlen(out) != len)
        abort();
    free(out);
}

static void decode_once(const uint8_t *data, size_t size, bool debug)
{
    arena_t *a = arena_new();
    envelope_t env;
    request_t req;
    response_t err = {0};
    if (wire_decode_envelope(a, (const char *)data, size, &env, &err) != 0) {
        check_error(&env, &err);
    } else if (wire_decode_request(a, &env, debug, &req, &err) != 0) {
        check_error(&env, &err);
    } else {
        if (req.op == OP_UNKNOWN || !req.kind || !req.corr_id)
            abort();
        touch_ids(&req, a);
    }
    response_clear(&err);
    arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > WIRE_MAX_BODY)
        return 0;
    decode_once(data, size, false);
    decode_once(data, size, true);
    return 0;
}
