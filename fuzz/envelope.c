/* envelope.c - fuzz target: request envelopes and operation data.
 *
 * Feeds arbitrary bytes to wire_decode_envelope and, when the envelope
 * passed, through the rest of the HTTP front end's decoding path: the
 * operation decoded with debug operations disabled and enabled, without an
 * authorization checkpoint (auth off) and with one for a token limited to
 * the prefix "a" (wire_decode_request_authz, authorizing the structurally
 * decoded ids with auth_authorize as server/http.c does), then limits_check
 * with the default [limits]. Checks what the edge promises downstream: a
 * failure always carries a 4xx status and a string message and its error
 * envelope serialises; a success names a known operation; the checkpoint
 * runs at most once and a request it refused is never accepted; an accepted
 * limited request names only ids inside the prefix or is scoped; and
 * wire_json_load builds the tree (or the error) json_loadb builds. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/limits.h"
#include "core/wire.h"
#include "fuzz/fuzz.h"

static const limits_t default_limits = {
    .id_max_bytes = LIMITS_ID_MAX_BYTES,
    .tags_max_count = LIMITS_TAGS_MAX_COUNT,
    .tag_key_max_bytes = LIMITS_TAG_KEY_MAX_BYTES,
    .tag_value_max_bytes = LIMITS_TAG_VALUE_MAX_BYTES,
    .tags_max_bytes = LIMITS_TAGS_MAX_BYTES,
    .cron_max_bytes = LIMITS_CRON_MAX_BYTES,
};

/* The checkpoint's state: the claims of a token limited to "a". */
typedef struct {
    arena_t *a;
    auth_claims_t claims;
    int calls;
    bool refused;
} authz_t;

static bool authorize(void *udata, request_t *req, response_t *err)
{
    authz_t *z = udata;
    z->calls++;
    const char *const *ids = NULL;
    size_t n = request_resource_ids(req, z->a, &ids);
    char why[320];
    if ((n == 0 && request_is_scoped(req)) ||
        auth_authorize(&z->claims, ids, n, why, sizeof why) == AUTH_OK) {
        req->scope = z->claims.prefix;
        return true;
    }
    z->refused = true;
    response_error(err, 403, "Forbidden: %s", why);
    return false;
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

static void decode_once(const uint8_t *data, size_t size, bool debug, bool limited)
{
    arena_t *a = arena_new();
    envelope_t env;
    request_t req;
    response_t err = {0};
    authz_t z = {.a = a, .claims = {.has_prefix = true, .prefix = "a"}};
    if (wire_decode_envelope(a, (const char *)data, size, &env, &err) != 0) {
        check_error(&env, &err);
        goto done;
    }
    int rc = limited ? wire_decode_request_authz(a, &env, debug, authorize, &z, &req, &err)
                     : wire_decode_request(a, &env, debug, &req, &err);
    if (z.calls > 1 || (z.refused && (rc == 0 || err.status != 403)))
        abort();
    if (rc == 0 && limits_check(&default_limits, a, &req, &err) != 0)
        rc = -1;
    if (rc != 0) {
        check_error(&env, &err);
        goto done;
    }
    if (req.op == OP_UNKNOWN || !req.kind || !req.corr_id)
        abort();
    if (limited) {
        const char *const *ids = NULL;
        size_t n = request_resource_ids(&req, a, &ids);
        if (z.calls != 1 || (n == 0 && !request_is_scoped(&req)))
            abort();
        for (size_t i = 0; i < n; i++)
            if (!ids[i] || ids[i][0] != 'a')
                abort();
    }
done:
    response_clear(&err);
    arena_free(a);
}

/* wire_json_load's fast path must build what json_loadb builds, members in
 * the same order, or give the same error. */
static void load_matches_jansson(const uint8_t *data, size_t size)
{
    json_error_t je1, je2;
    json_t *x = wire_json_load((const char *)data, size, &je1);
    json_t *y = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je2);
    if (!x != !y)
        abort();
    if (!y) {
        if (strcmp(je1.text, je2.text) != 0 || je1.position != je2.position)
            abort();
        return;
    }
    char *dx = json_dumps(x, JSON_ENCODE_ANY), *dy = json_dumps(y, JSON_ENCODE_ANY);
    if (!json_equal(x, y) || !dx || !dy || strcmp(dx, dy) != 0)
        abort();
    free(dx);
    free(dy);
    json_decref(x);
    json_decref(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > WIRE_MAX_BODY)
        return 0;
    load_matches_jansson(data, size);
    decode_once(data, size, false, false);
    decode_once(data, size, true, false);
    decode_once(data, size, true, true);
    return 0;
}
