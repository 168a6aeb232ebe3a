/* auth.h - JWT verification, prefix authorization and token minting.
 *
 * The verifier is built once from the configured public keys (PEM or JWKS)
 * and shared by the HTTP threads: every function taking an auth_t* may be
 * called concurrently, including auth_reload. auth_verify checks a token's
 * signature (the algorithm must fit the key, never the token's word alone)
 * and its claims (exp, nbf, iss, aud, role, prefix); auth_authorize checks the
 * verified claims against the resource ids of one operation. Successful
 * verifications are cached by a SHA-256 of the token, so a worker's repeated
 * token costs one signature check. An optional revocation list (jti, sub,
 * sub before a time) is checked right after the signature; every reload of
 * the keys or of the list starts a new cache generation, so a cached
 * success never outlives the list it was checked against. auth/ knows
 * neither HTTP, SQL nor the
 * protocol envelope: callers hand it a token, a time and resource ids.
 * Reason texts written to why/err never contain the token. */
#ifndef RESONATE_AUTH_H
#define RESONATE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest token accepted; longer ones are rejected before any parsing.
 * 6 KiB keeps a token in an Authorization header (as the SDK sends it)
 * within the 8 KiB the HTTP layer gives each connection for its headers. */
#define AUTH_MAX_TOKEN 6144
/* Longest prefix claim accepted, in bytes. */
#define AUTH_PREFIX_MAX 255
/* Cache entries when auth_config_t.cache_size is 0. */
#define AUTH_CACHE_DEFAULT 4096
/* How long a verified token without exp stays cached, in seconds. */
#define AUTH_CACHE_MAX_AGE 300

typedef struct auth auth_t;

typedef struct {
    /* PEM file (one or more public keys or certificates) or JWKS / JWK JSON
     * file. The literal "none" selects the reference's unsigned mode:
     * signatures are not checked, every other rule still applies. */
    const char *publickey_path;
    const char *iss;   /* required issuer, NULL = not checked */
    const char *aud;   /* required audience, NULL = not checked */
    bool require_exp;  /* tokens without exp are rejected */
    int64_t leeway_s;  /* clock skew allowed for exp and nbf, >= 0 */
    size_t cache_size; /* verified-token cache entries, 0 = default */
    /* revocation list file (format: auth/revoke.c, README), NULL = none */
    const char *revoked_path;
} auth_config_t;

/* Fills cfg with the defaults: require_exp, 60 s leeway, default cache. */
void auth_config_default(auth_config_t *cfg);

/* The verified claims that authorization needs. A verified token is either
 * admin (role "admin" in any case; its prefix claim is then ignored and
 * has_prefix is false) or carries a string prefix ("" = everything). */
typedef struct {
    bool admin;
    bool has_prefix;
    char prefix[AUTH_PREFIX_MAX + 1];
    bool has_exp;
    int64_t exp; /* Unix seconds, when has_exp */
    /* The last second auth_verify accepts the token: exp + the leeway
     * (saturating), INT64_MAX without exp. What outlives the request (an
     * open /poll stream) must end after it. */
    int64_t valid_until;
    bool has_sub; /* a string sub claim of at most AUTH_PREFIX_MAX bytes */
    char sub[AUTH_PREFIX_MAX + 1];
} auth_claims_t;

typedef enum {
    AUTH_OK = 0,
    AUTH_UNAUTHORIZED = 401,
    AUTH_FORBIDDEN = 403,
} auth_status_t;

/* Counters since auth_new (monotonic, approximate under concurrency). */
typedef struct {
    uint64_t verifications; /* full parses + signature checks */
    uint64_t cache_hits;    /* verifications answered from the cache */
    uint64_t rejected;      /* auth_verify calls that returned 401 */
    uint64_t reloads;       /* successful auth_reload calls */
} auth_stats_t;

/* Loads the keys named by cfg (copied; cfg may be freed afterwards), and the
 * revocation list when one is named. Returns NULL with the reason in err
 * when a file cannot be read, the key file holds no usable key or the
 * revocation list has a bad line (its number is in err). Free with
 * auth_free. */
auth_t *auth_new(const auth_config_t *cfg, char *err, size_t errlen);

/* Releases au; no call on au may be running. NULL is a no-op. */
void auth_free(auth_t *au);

/* Verifies token at time now_s (Unix seconds). On success fills claims and
 * returns AUTH_OK; otherwise returns AUTH_UNAUTHORIZED with the reason in why
 * ("token expired", "bad signature", ...) and claims zeroed. */
auth_status_t auth_verify(auth_t *au, const char *token, int64_t now_s, auth_claims_t *claims,
                          char *why, size_t whylen);

/* Checks claims against the resource ids of an operation. Admin and prefix
 * "" allow everything; otherwise every id must start (byte-wise) with the
 * prefix, and n_ids == 0 (a search, an unknown kind) is forbidden, as is a
 * NULL entry in ids. Returns AUTH_OK or AUTH_FORBIDDEN with the reason in why
 * (e.g. `outside prefix "tenantA:"`). Needs no auth_t: pure function. */
auth_status_t auth_authorize(const auth_claims_t *claims, const char *const *ids, size_t n_ids,
                             char *why, size_t whylen);

/* Maps a reason written by auth_verify or auth_authorize to one of a fixed
 * set of labels, for metrics (bounded cardinality, unlike the texts):
 * no_token, too_large, malformed, unsupported_alg, unknown_kid,
 * key_mismatch, bad_signature, expired, not_yet_valid, no_exp, bad_claim,
 * wrong_issuer, wrong_audience, no_prefix, bad_prefix, revoked,
 * outside_prefix, internal; "other" for any other text. Returns a static
 * string. */
const char *auth_reason_label(const char *why);

/* Re-reads the key file (SIGHUP). On success swaps the key set atomically
 * (verifications in flight finish with the old set), empties the cache and
 * returns 0. On failure keeps the old keys and returns -1 with the reason in
 * err. In unsigned mode it is a successful no-op. */
int auth_reload(auth_t *au, char *err, size_t errlen);

/* Re-reads the revocation list (SIGHUP). On success swaps it in, starts a
 * new cache generation (no cached success of a now-revoked token is used
 * again) and returns 0. On failure (unreadable file, a bad line: its number
 * is in err) keeps the previous list and returns -1. Without a configured
 * file it returns -1. */
int auth_revoked_reload(auth_t *au, char *err, size_t errlen);

/* Whether id (a jti or sub to be minted) can be named by a revocation
 * entry: at most 1024 bytes, no blank or control character, not starting
 * with '#'. Returns 0, or -1 with why in err ("what ..." leads it). Pure. */
int auth_revocable_id(const char *what, const char *id, char *err, size_t errlen);

/* "3 jti, 1 sub" for the log; "none" without a list. */
void auth_revoked_describe(auth_t *au, char *buf, size_t buflen);

/* Entries (jti and sub) of the current revocation list; 0 without one. */
size_t auth_revoked_entries(auth_t *au);

/* Writes a one-line description of the loaded keys for the startup log, e.g.
 * "2 keys: RSA-2048 (kid a), Ed25519" or "unsigned mode". */
void auth_describe(auth_t *au, char *buf, size_t buflen);

/* True when built with publickey_path "none". */
bool auth_is_unsigned(const auth_t *au);

void auth_stats(const auth_t *au, auth_stats_t *out);

/* Options of auth_mint; NULL strings leave the claim/header out. */
typedef struct {
    const char *alg;    /* NULL = from the key: RS256, ES256/ES384 by curve,
                           EdDSA; or any algorithm that fits the key, e.g.
                           "PS256" */
    const char *prefix; /* claim "prefix"; "" = every resource */
    const char *role;   /* claim "role", e.g. "admin" */
    const char *iss;
    const char *aud;
    const char *sub;
    const char *kid; /* header "kid" */
    const char *jti; /* claim "jti"; NULL = random (128 bits, base64url), "" = none */
    int64_t ttl_s;   /* exp = now + ttl_s; <= 0 = no exp claim */
    int64_t now_s;   /* iat; 0 = the current time */
} auth_mint_opts_t;

/* Signs a token with the private key in the PEM file (PKCS#8, or the
 * traditional RSA/EC forms; not encrypted). On success stores a malloc'd
 * NUL-terminated token in *token_out (the caller frees it) and returns 0;
 * otherwise returns -1 with the reason in err. */
int auth_mint(const char *private_key_pem_path, const auth_mint_opts_t *opts, char **token_out,
              char *err, size_t errlen);

#endif
