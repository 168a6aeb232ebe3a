/* auth.h - JWT verification and prefix authorization.
 *
 * The verifier is built once from the configured public keys (PEM or JWKS)
 * and shared read-only by the HTTP threads. auth_verify checks a token's
 * signature (the algorithm comes from the key, never from the token alone)
 * and its claims (exp, nbf, iss, aud); auth_authorize checks the verified
 * claims against the resource ids of one operation. auth/ knows neither HTTP
 * nor SQL. */
#ifndef RESONATE_AUTH_H
#define RESONATE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct auth auth_t;

typedef struct {
    const char *publickey_path; /* PEM file (one or more keys) or JWKS */
    const char *iss;            /* required issuer, NULL = any */
    const char *aud;            /* required audience, NULL = any */
    bool require_exp;           /* default true */
    int64_t leeway_s;           /* default 60 */
} auth_config_t;

/* Verified claims that authorization needs. */
typedef struct {
    bool admin;
    bool has_prefix;
    char prefix[256];
    int64_t exp; /* 0 when absent */
} auth_claims_t;

typedef enum {
    AUTH_OK = 0,
    AUTH_UNAUTHORIZED = 401,
    AUTH_FORBIDDEN = 403,
} auth_status_t;

/* Loads the keys named by cfg. Returns NULL with the reason in err when the
 * file cannot be read or holds no usable key. Free with auth_free. */
auth_t *auth_new(const auth_config_t *cfg, char *err, size_t errlen);
void auth_free(auth_t *au);

/* Verifies token at time now_s (Unix seconds). On success fills claims and
 * returns AUTH_OK; otherwise AUTH_UNAUTHORIZED with the reason in why. */
auth_status_t auth_verify(auth_t *au, const char *token, int64_t now_s, auth_claims_t *claims,
                          char *why, size_t whylen);

/* Checks claims against the resource ids of an operation (n_ids == 0 means an
 * operation with no single resource, such as a search or an unknown kind).
 * Returns AUTH_OK or AUTH_FORBIDDEN with the reason in why. */
auth_status_t auth_authorize(const auth_claims_t *claims, const char *const *ids, size_t n_ids,
                             char *why, size_t whylen);

#endif
