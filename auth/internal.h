/* internal.h - what the auth/ sources share with each other (and with the
 * unit tests): base64url, the JWS algorithm table, key sets, the token cache.
 * Nothing outside auth/ includes this file but its unit tests
 * (tests/unit/test_auth.c, test_revoke.c) and fuzz targets (fuzz/revoke.c). */
#ifndef RESONATE_AUTH_INTERNAL_H
#define RESONATE_AUTH_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "auth/auth.h"
#include "core/base64.h"

/* ---- algorithms and keys ---- */

typedef enum {
    AUTH_KF_RSA,
    AUTH_KF_EC,
    AUTH_KF_ED25519,
} auth_family_t;

typedef struct {
    const char *name; /* JWS "alg" */
    auth_family_t family;
    int curve_bits;            /* EC only: 256 or 384 */
    const EVP_MD *(*md)(void); /* NULL for EdDSA */
    bool pss;
} auth_alg_t;

/* The algorithms we verify and sign; NULL for anything else (none, HS*). */
const auth_alg_t *auth_alg_find(const char *name);

typedef struct {
    EVP_PKEY *pkey;
    auth_family_t family;
    int bits;  /* RSA modulus or EC curve size */
    char *kid; /* malloc'd, NULL when the file named none */
    char *alg; /* malloc'd JWK "alg" restriction, NULL = any of the family */
} auth_key_t;

/* An immutable set of keys shared by verifications in flight; freed when the
 * last reference is released. */
typedef struct {
    atomic_uint refs;
    uint64_t gen; /* distinguishes sets across reloads (cache entries) */
    size_t n;
    auth_key_t *keys;
} auth_keyset_t;

/* Checks pkey is a supported public key (RSA >= 2048 bits, EC P-256/P-384,
 * Ed25519) and fills family and bits. Returns -1 with the reason in err. */
int auth_key_classify(EVP_PKEY *pkey, auth_family_t *family, int *bits, char *err, size_t errlen);

/* True when alg may be used with key k (family, curve, JWK restriction). */
bool auth_alg_fits(const auth_alg_t *alg, const auth_key_t *k);

/* Reads a PEM or JWKS file into a new key set with one reference. Returns -1
 * with the reason in err when it cannot be read or holds no usable key. */
int auth_keyset_load(const char *path, auth_keyset_t **out, char *err, size_t errlen);

/* Drops one reference; frees the set with the last one. NULL is a no-op. */
void auth_keyset_release(auth_keyset_t *ks);

/* JWS ECDSA signatures are r||s, each coordinate_len bytes; OpenSSL wants
 * DER. Return a malloc'd buffer, or NULL on bad input. */
unsigned char *auth_ecdsa_raw_to_der(const unsigned char *raw, size_t rawlen, size_t *derlen);
int auth_ecdsa_der_to_raw(const unsigned char *der, size_t derlen, size_t coordinate_len,
                          unsigned char *raw);

/* ---- revocation list (revoke.c) ---- */

/* An immutable, reference-counted list of revocation entries. */
typedef struct auth_revoked auth_revoked_t;

/* Parses the text of a revocation file (format: revoke.c). name is used in
 * messages ("revocation file 'x'"). On success stores a list with one
 * reference in *out and returns 0; on the first bad line returns -1 with its
 * number and what was expected in err. An empty text is an empty list. */
int auth_revoked_parse(const char *text, size_t len, const char *name, auth_revoked_t **out,
                       char *err, size_t errlen);

/* Reads and parses the file at path (at most 64 MiB). */
int auth_revoked_load(const char *path, auth_revoked_t **out, char *err, size_t errlen);

/* True when a token with these claims is revoked: jti listed, or a `sub`
 * rule for sub without a time, or with a time and (no iat or iat < time).
 * NULL jti/sub = the claim is absent or not a string. rl may be NULL. */
bool auth_revoked_match(const auth_revoked_t *rl, const char *jti, const char *sub, bool has_iat,
                        int64_t iat);

/* Distinct jti entries and subjects with a rule. */
void auth_revoked_counts(const auth_revoked_t *rl, size_t *n_jti, size_t *n_sub);

/* Adds one reference (NULL is a no-op) and returns rl. */
auth_revoked_t *auth_revoked_retain(auth_revoked_t *rl);

/* Drops one reference; frees the list with the last one. NULL is a no-op. */
void auth_revoked_release(auth_revoked_t *rl);

/* ---- verified-token cache ---- */

/* What a cache hit must re-check against the clock. */
typedef struct {
    auth_claims_t claims;
    bool has_nbf;
    int64_t nbf;
} auth_cached_t;

typedef struct auth_cache auth_cache_t;

/* A bounded, set-associative, lock-striped table. NULL on allocation failure. */
auth_cache_t *auth_cache_new(size_t capacity);
void auth_cache_free(auth_cache_t *c);

/* Finds the entry for key made under generation gen (of the key set and
 * revocation list) and not evicted by now_s. */
bool auth_cache_get(auth_cache_t *c, const unsigned char key[32], uint64_t gen, int64_t now_s,
                    auth_cached_t *out);

/* Stores val until evict_at (exclusive), replacing an empty, stale or the
 * soonest-to-expire way of the key's set. */
void auth_cache_put(auth_cache_t *c, const unsigned char key[32], uint64_t gen, int64_t evict_at,
                    const auth_cached_t *val);

void auth_cache_clear(auth_cache_t *c);

/* printf into buf (when non-NULL and len > 0): the one way auth/ writes
 * error and reason texts. */
void auth_errf(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));

#endif
