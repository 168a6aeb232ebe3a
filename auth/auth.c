/* auth.c - token verification, the verified-token cache, key reload and
 * prefix authorization.
 *
 * The order of checks is fixed so that nothing about a token is believed
 * before its signature is: size, three strict base64url segments, header
 * (alg, kid), key selection, signature, and only then the claims. The alg
 * must name an asymmetric algorithm that fits the selected key, which is what
 * shuts out "none" and HMAC-with-the-public-key. Keys live in a refcounted,
 * immutable key set swapped under a mutex on reload, so a verification never
 * sees a half-built set and never blocks a reload for long. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "auth/internal.h"

/* Claims and leeway are clamped so time arithmetic cannot overflow. */
#define TIME_CLAMP 4000000000000000000LL
#define LEEWAY_MAX 1000000000LL

struct auth {
    char *path;
    char *revoked_path; /* NULL: no revocation list */
    char *iss;
    char *aud;
    bool require_exp;
    bool unsigned_mode;
    int64_t leeway_s;
    pthread_mutex_t reload_lock; /* one reload at a time */
    pthread_mutex_t ks_lock;     /* guards ks, rl and next_gen */
    auth_keyset_t *ks;           /* NULL in unsigned mode */
    auth_revoked_t *rl;          /* NULL without a revocation list */
    uint64_t next_gen;
    /* Generation of (ks, rl): set after either is swapped, still under
     * ks_lock, and read lock-free by cache lookups. A verification reads it
     * BEFORE taking ks and rl, so the entry it stores is stamped no later
     * than the pair it was checked against. */
    _Atomic uint64_t gen;
    auth_cache_t *cache;
    _Atomic uint64_t n_verifications, n_hits, n_rejected, n_reloads;
};

/* Copies an attacker-controlled string for a reason text: printable ASCII
 * only (no quotes, no control characters for log injection), bounded. */
static const char *printable(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; *s && o + 4 < len; s++)
        buf[o++] = (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\') ? *s : '?';
    if (*s && len >= 4) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

void auth_config_default(auth_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->require_exp = true;
    cfg->leeway_s = 60;
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

auth_t *auth_new(const auth_config_t *cfg, char *err, size_t errlen)
{
    bool oom = false;
    if (!cfg || !cfg->publickey_path || !*cfg->publickey_path) {
        auth_errf(err, errlen, "no public key file configured");
        return NULL;
    }
    if (cfg->leeway_s < 0 || cfg->leeway_s > LEEWAY_MAX) {
        auth_errf(err, errlen, "auth leeway must be between 0 and %lld seconds",
                  (long long)LEEWAY_MAX);
        return NULL;
    }
    auth_t *au = calloc(1, sizeof *au);
    if (!au) {
        auth_errf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&au->reload_lock, NULL);
    pthread_mutex_init(&au->ks_lock, NULL);
    au->require_exp = cfg->require_exp;
    au->leeway_s = cfg->leeway_s;
    au->unsigned_mode = strcmp(cfg->publickey_path, "none") == 0;
    au->path = dup_or_null(cfg->publickey_path, &oom);
    au->iss = dup_or_null(cfg->iss, &oom);
    au->aud = dup_or_null(cfg->aud, &oom);
    au->revoked_path = dup_or_null(cfg->revoked_path, &oom);
    au->cache = auth_cache_new(cfg->cache_size ? cfg->cache_size : AUTH_CACHE_DEFAULT);
    if (oom || !au->cache) {
        auth_errf(err, errlen, "out of memory");
        goto fail;
    }
    if (!au->unsigned_mode) {
        if (auth_keyset_load(au->path, &au->ks, err, errlen) != 0)
            goto fail;
        au->ks->gen = ++au->next_gen;
        atomic_store(&au->gen, au->ks->gen);
    }
    if (au->revoked_path && auth_revoked_load(au->revoked_path, &au->rl, err, errlen) != 0)
        goto fail;
    return au;
fail:
    auth_free(au);
    return NULL;
}

void auth_free(auth_t *au)
{
    if (!au)
        return;
    auth_keyset_release(au->ks);
    auth_revoked_release(au->rl);
    auth_cache_free(au->cache);
    pthread_mutex_destroy(&au->reload_lock);
    pthread_mutex_destroy(&au->ks_lock);
    free(au->path);
    free(au->revoked_path);
    free(au->iss);
    free(au->aud);
    free(au);
}

bool auth_is_unsigned(const auth_t *au)
{
    return au->unsigned_mode;
}

/* Takes a reference to the current key set and, when rl is not NULL, to
 * the current revocation list (NULL when there is none). */
static auth_keyset_t *keyset_acquire(auth_t *au, auth_revoked_t **rl)
{
    pthread_mutex_lock(&au->ks_lock);
    auth_keyset_t *ks = au->ks;
    if (ks)
        atomic_fetch_add(&ks->refs, 1);
    if (rl)
        *rl = auth_revoked_retain(au->rl);
    pthread_mutex_unlock(&au->ks_lock);
    return ks;
}

int auth_revoked_reload(auth_t *au, char *err, size_t errlen)
{
    auth_revoked_t *rl = NULL, *old;
    if (!au->revoked_path) {
        auth_errf(err, errlen, "no revocation file configured (auth.revoked)");
        return -1;
    }
    pthread_mutex_lock(&au->reload_lock);
    if (auth_revoked_load(au->revoked_path, &rl, err, errlen) != 0) {
        pthread_mutex_unlock(&au->reload_lock);
        return -1;
    }
    pthread_mutex_lock(&au->ks_lock);
    old = au->rl;
    au->rl = rl;
    atomic_store(&au->gen, ++au->next_gen);
    pthread_mutex_unlock(&au->ks_lock);
    auth_cache_clear(au->cache);
    auth_revoked_release(old);
    pthread_mutex_unlock(&au->reload_lock);
    return 0;
}

void auth_revoked_describe(auth_t *au, char *buf, size_t buflen)
{
    auth_revoked_t *rl = NULL;
    auth_keyset_release(keyset_acquire(au, &rl));
    size_t nj, ns;
    auth_revoked_counts(rl, &nj, &ns);
    if (rl)
        auth_errf(buf, buflen, "%zu jti, %zu sub", nj, ns);
    else
        auth_errf(buf, buflen, "none");
    auth_revoked_release(rl);
}

size_t auth_revoked_entries(auth_t *au)
{
    auth_revoked_t *rl = NULL;
    auth_keyset_release(keyset_acquire(au, &rl));
    size_t nj, ns;
    auth_revoked_counts(rl, &nj, &ns);
    auth_revoked_release(rl);
    return nj + ns;
}

int auth_reload(auth_t *au, char *err, size_t errlen)
{
    auth_keyset_t *ks = NULL, *old;
    if (au->unsigned_mode)
        return 0;
    pthread_mutex_lock(&au->reload_lock);
    if (auth_keyset_load(au->path, &ks, err, errlen) != 0) {
        pthread_mutex_unlock(&au->reload_lock);
        return -1;
    }
    pthread_mutex_lock(&au->ks_lock);
    ks->gen = ++au->next_gen;
    old = au->ks;
    au->ks = ks;
    atomic_store(&au->gen, ks->gen);
    pthread_mutex_unlock(&au->ks_lock);
    /* Entries of the old generation can no longer match; clearing only
     * returns their slots now rather than on the next collision. */
    auth_cache_clear(au->cache);
    auth_keyset_release(old);
    atomic_fetch_add(&au->n_reloads, 1);
    pthread_mutex_unlock(&au->reload_lock);
    return 0;
}

static const char *family_name(const auth_key_t *k)
{
    switch (k->family) {
    case AUTH_KF_RSA:
        return "RSA";
    case AUTH_KF_EC:
        return k->bits == 256 ? "EC P-256" : "EC P-384";
    case AUTH_KF_ED25519:
        return "Ed25519";
    }
    return "?";
}

static void append(char *buf, size_t buflen, size_t *o, const char *f, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t buflen, size_t *o, const char *f, ...)
{
    if (*o >= buflen)
        return;
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf + *o, buflen - *o, f, ap);
    va_end(ap);
    if (n > 0)
        *o += (size_t)n;
}

void auth_describe(auth_t *au, char *buf, size_t buflen)
{
    size_t o = 0;
    if (!buf || buflen == 0)
        return;
    if (au->unsigned_mode) {
        auth_errf(buf, buflen, "unsigned mode (no signature verification)");
        return;
    }
    auth_keyset_t *ks = keyset_acquire(au, NULL);
    append(buf, buflen, &o, "%zu key%s:", ks->n, ks->n == 1 ? "" : "s");
    for (size_t i = 0; i < ks->n; i++) {
        const auth_key_t *k = &ks->keys[i];
        char kid[48];
        append(buf, buflen, &o, "%s %s", i ? "," : "", family_name(k));
        if (k->family == AUTH_KF_RSA)
            append(buf, buflen, &o, "-%d", k->bits);
        if (k->kid)
            append(buf, buflen, &o, " (kid %s)", printable(k->kid, kid, sizeof kid));
    }
    auth_keyset_release(ks);
}

void auth_stats(const auth_t *au, auth_stats_t *out)
{
    out->verifications = atomic_load(&au->n_verifications);
    out->cache_hits = atomic_load(&au->n_hits);
    out->rejected = atomic_load(&au->n_rejected);
    out->reloads = atomic_load(&au->n_reloads);
}

/* ---- signatures ---- */

static bool verify_sig(const auth_alg_t *a, const auth_key_t *k, const unsigned char *msg,
                       size_t msglen, const unsigned char *sig, size_t siglen)
{
    bool ok = false;
    unsigned char *der = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *mctx = NULL;
    if (a->family == AUTH_KF_EC) {
        /* Exactly two coordinates: a DER signature here is not JWS. */
        if (siglen != 2 * (size_t)(k->bits / 8))
            goto cleanup;
        size_t derlen = 0;
        if (!(der = auth_ecdsa_raw_to_der(sig, siglen, &derlen)))
            goto cleanup;
        sig = der;
        siglen = derlen;
    } else if (a->family == AUTH_KF_ED25519 && siglen != 64) {
        goto cleanup;
    }
    if (!(mctx = EVP_MD_CTX_new()) ||
        EVP_DigestVerifyInit(mctx, &pctx, a->md ? a->md() : NULL, NULL, k->pkey) != 1)
        goto cleanup;
    if (a->family == AUTH_KF_RSA) {
        int pad = a->pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING;
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, pad) <= 0)
            goto cleanup;
        /* RFC 7518 §3.5: salt as long as the hash, MGF1 with the same hash. */
        if (a->pss && (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
                       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, a->md()) <= 0))
            goto cleanup;
    }
    ok = EVP_DigestVerify(mctx, sig, siglen, msg, msglen) == 1;
cleanup:
    EVP_MD_CTX_free(mctx);
    free(der);
    ERR_clear_error();
    return ok;
}

/* Picks the keys the token may be checked with and checks the signature. */
static auth_status_t check_signature(auth_keyset_t *ks, const auth_alg_t *a, const char *kid,
                                     const unsigned char *msg, size_t msglen,
                                     const unsigned char *sig, size_t siglen, char *why,
                                     size_t whylen)
{
    char tmp[48];
    bool kid_known = false;
    size_t candidates = 0, fitting = 0;
    const auth_key_t *first = NULL;
    for (size_t i = 0; kid && i < ks->n; i++)
        if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0)
            kid_known = true;
    for (size_t i = 0; i < ks->n; i++) {
        const auth_key_t *k = &ks->keys[i];
        /* A kid picks its key; keys that came without one (PEM) stay
         * candidates for a kid nobody claims, since the file cannot name
         * them. */
        if (kid && (kid_known ? !k->kid || strcmp(k->kid, kid) != 0 : k->kid != NULL))
            continue;
        if (candidates++ == 0)
            first = k;
        if (!auth_alg_fits(a, k))
            continue;
        fitting++;
        if (verify_sig(a, k, msg, msglen, sig, siglen))
            return AUTH_OK;
    }
    if (candidates == 0)
        auth_errf(why, whylen, "unknown key id \"%s\"", printable(kid, tmp, sizeof tmp));
    else if (fitting == 0 && candidates == 1)
        auth_errf(why, whylen, "algorithm %s does not fit the %s key", a->name, family_name(first));
    else if (fitting == 0)
        auth_errf(why, whylen, "algorithm %s does not fit any configured key", a->name);
    else
        auth_errf(why, whylen, "bad signature");
    return AUTH_UNAUTHORIZED;
}

/* ---- claims ---- */

/* Reads a NumericDate claim. Fractions round towards the stricter side
 * (exp down, nbf up). Returns -1 when present but not a number. */
static int read_time(json_t *claims, const char *name, bool round_up, bool *has, int64_t *v)
{
    json_t *j = json_object_get(claims, name);
    *has = false;
    if (!j)
        return 0;
    if (json_is_integer(j)) {
        json_int_t i = json_integer_value(j);
        *v = i > TIME_CLAMP ? TIME_CLAMP : i < -TIME_CLAMP ? -TIME_CLAMP : (int64_t)i;
    } else if (json_is_real(j)) {
        double d = round_up ? ceil(json_real_value(j)) : floor(json_real_value(j));
        *v = d >= (double)TIME_CLAMP    ? TIME_CLAMP
             : d <= -(double)TIME_CLAMP ? -TIME_CLAMP
                                        : (int64_t)d;
    } else {
        return -1;
    }
    *has = true;
    return 0;
}

static auth_status_t check_times(const auth_t *au, const auth_cached_t *c, int64_t now, char *why,
                                 size_t whylen)
{
    if (c->claims.has_exp && now > sat_add(c->claims.exp, au->leeway_s)) {
        auth_errf(why, whylen, "token expired");
        return AUTH_UNAUTHORIZED;
    }
    if (c->has_nbf && c->nbf > sat_add(now, au->leeway_s)) {
        auth_errf(why, whylen, "token not yet valid");
        return AUTH_UNAUTHORIZED;
    }
    return AUTH_OK;
}

static bool aud_contains(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud); i++) {
        const char *s = json_string_value(json_array_get(aud, i));
        if (s && strcmp(s, want) == 0)
            return true;
    }
    return false;
}

static auth_status_t check_claims(const auth_t *au, json_t *claims, int64_t now, auth_cached_t *c,
                                  char *why, size_t whylen)
{
    if (read_time(claims, "exp", false, &c->claims.has_exp, &c->claims.exp) != 0) {
        auth_errf(why, whylen, "exp claim is not a number");
        return AUTH_UNAUTHORIZED;
    }
    if (read_time(claims, "nbf", true, &c->has_nbf, &c->nbf) != 0) {
        auth_errf(why, whylen, "nbf claim is not a number");
        return AUTH_UNAUTHORIZED;
    }
    if (!c->claims.has_exp && au->require_exp) {
        auth_errf(why, whylen, "token has no exp claim");
        return AUTH_UNAUTHORIZED;
    }
    c->claims.valid_until = c->claims.has_exp ? sat_add(c->claims.exp, au->leeway_s) : INT64_MAX;
    if (check_times(au, c, now, why, whylen) != AUTH_OK)
        return AUTH_UNAUTHORIZED;
    if (au->iss) {
        json_t *iss = json_object_get(claims, "iss");
        if (!iss) {
            auth_errf(why, whylen, "token has no iss claim");
            return AUTH_UNAUTHORIZED;
        }
        if (!json_is_string(iss) || strcmp(json_string_value(iss), au->iss) != 0) {
            auth_errf(why, whylen, "wrong issuer");
            return AUTH_UNAUTHORIZED;
        }
    }
    if (au->aud) {
        json_t *aud = json_object_get(claims, "aud");
        if (!aud) {
            auth_errf(why, whylen, "token has no aud claim");
            return AUTH_UNAUTHORIZED;
        }
        if (!aud_contains(aud, au->aud)) {
            auth_errf(why, whylen, "wrong audience");
            return AUTH_UNAUTHORIZED;
        }
    }
    json_t *role = json_object_get(claims, "role");
    if (role && !json_is_null(role) && !json_is_string(role)) {
        auth_errf(why, whylen, "role claim is not a string");
        return AUTH_UNAUTHORIZED;
    }
    c->claims.admin = json_is_string(role) && strcasecmp(json_string_value(role), "admin") == 0;
    /* sub only names the caller (per-tenant limits); a missing or odd one is
     * not an error. */
    json_t *sub = json_object_get(claims, "sub");
    if (json_is_string(sub) && json_string_length(sub) <= AUTH_PREFIX_MAX) {
        c->claims.has_sub = true;
        memcpy(c->claims.sub, json_string_value(sub), json_string_length(sub) + 1);
    }
    if (c->claims.admin)
        return AUTH_OK; /* admin is never limited by a prefix, so it is not read */
    json_t *prefix = json_object_get(claims, "prefix");
    if (!prefix) {
        auth_errf(why, whylen, "token has no prefix claim");
        return AUTH_UNAUTHORIZED;
    }
    if (json_is_null(prefix)) {
        auth_errf(why, whylen, "prefix claim is null");
        return AUTH_UNAUTHORIZED;
    }
    if (!json_is_string(prefix)) {
        auth_errf(why, whylen, "prefix claim is not a string");
        return AUTH_UNAUTHORIZED;
    }
    if (json_string_length(prefix) > AUTH_PREFIX_MAX) {
        auth_errf(why, whylen, "prefix claim longer than %d bytes", AUTH_PREFIX_MAX);
        return AUTH_UNAUTHORIZED;
    }
    c->claims.has_prefix = true;
    memcpy(c->claims.prefix, json_string_value(prefix), json_string_length(prefix) + 1);
    return AUTH_OK;
}

/* ---- parsing ---- */

static json_t *decode_object(const unsigned char *buf, size_t len, const char *what, char *why,
                             size_t whylen)
{
    json_error_t jerr;
    /* Duplicate members are refused: two parsers must not read two
     * different tokens out of one. */
    json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!json_is_object(j)) {
        auth_errf(why, whylen, "malformed token: %s %s", what,
                  j ? "is not a JSON object" : "is not JSON");
        json_decref(j);
        return NULL;
    }
    return j;
}

static auth_status_t reject_alg(const char *alg, char *why, size_t whylen)
{
    char tmp[32];
    if (strcmp(alg, "none") == 0)
        auth_errf(why, whylen, "unsupported algorithm \"none\" (unsigned tokens are not accepted)");
    else if (strncmp(alg, "HS", 2) == 0)
        auth_errf(why, whylen,
                  "unsupported algorithm \"%s\" (shared-secret algorithms are not accepted)",
                  printable(alg, tmp, sizeof tmp));
    else
        auth_errf(why, whylen, "unsupported algorithm \"%s\"", printable(alg, tmp, sizeof tmp));
    return AUTH_UNAUTHORIZED;
}

/* Whether the verified claims name a revoked token (revoke.c). */
static bool is_revoked(const auth_revoked_t *rl, json_t *claims)
{
    if (!rl)
        return false;
    bool has_iat = false;
    int64_t iat = 0;
    /* A non-numeric iat counts as none: revoked under a `before` rule. */
    if (read_time(claims, "iat", false, &has_iat, &iat) != 0)
        has_iat = false;
    return auth_revoked_match(rl, json_string_value(json_object_get(claims, "jti")),
                              json_string_value(json_object_get(claims, "sub")), has_iat, iat);
}

static auth_status_t verify_full(auth_t *au, auth_keyset_t *ks, const auth_revoked_t *rl,
                                 const char *token, size_t len, int64_t now, auth_cached_t *c,
                                 char *why, size_t whylen)
{
    auth_status_t st = AUTH_UNAUTHORIZED;
    json_t *header = NULL, *claims = NULL;
    const char *seg[3];
    size_t seglen[3], declen[3];
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        auth_errf(why, whylen, "malformed token: expected three dot-separated segments");
        return AUTH_UNAUTHORIZED;
    }
    seg[0] = token, seglen[0] = (size_t)(dot1 - token);
    seg[1] = dot1 + 1, seglen[1] = (size_t)(dot2 - dot1 - 1);
    seg[2] = dot2 + 1, seglen[2] = len - (size_t)(dot2 + 1 - token);
    /* Decoded segments are shorter than the encoded ones, so one buffer of
     * the token's length holds all three. */
    unsigned char *buf = malloc(len + 1), *dec[3];
    if (!buf) {
        auth_errf(why, whylen, "out of memory");
        return AUTH_UNAUTHORIZED;
    }
    static const char *const names[3] = {"header", "claims", "signature"};
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        dec[i] = buf + off;
        if ((i < 2 && seglen[i] == 0) ||
            b64_decode(B64_URL, seg[i], seglen[i], dec[i], &declen[i]) != 0) {
            auth_errf(why, whylen, "malformed token: %s is not %sbase64url", names[i],
                      seglen[i] == 0 ? "non-empty " : "");
            goto cleanup;
        }
        off += declen[i];
    }
    if (!(header = decode_object(dec[0], declen[0], "header", why, whylen)))
        goto cleanup;
    json_t *jalg = json_object_get(header, "alg"), *jkid = json_object_get(header, "kid");
    if (!json_is_string(jalg)) {
        auth_errf(why, whylen, "malformed token: header %s",
                  jalg ? "alg is not a string" : "has no alg");
        goto cleanup;
    }
    if (jkid && !json_is_string(jkid)) {
        auth_errf(why, whylen, "malformed token: header kid is not a string");
        goto cleanup;
    }
    if (json_object_get(header, "crit")) {
        /* RFC 7515 §4.1.11: extensions we do not implement must fail. */
        auth_errf(why, whylen, "unsupported crit header");
        goto cleanup;
    }
    const char *alg = json_string_value(jalg);
    const auth_alg_t *a = auth_alg_find(alg);
    if (au->unsigned_mode) {
        /* The reference's unsigned mode still wants a known, non-"none"
         * alg (its header parser knows HS* too); the signature is ignored. */
        if (!a && strcmp(alg, "HS256") != 0 && strcmp(alg, "HS384") != 0 &&
            strcmp(alg, "HS512") != 0) {
            reject_alg(alg, why, whylen);
            goto cleanup;
        }
    } else {
        if (!a) {
            reject_alg(alg, why, whylen);
            goto cleanup;
        }
        if (check_signature(ks, a, json_string_value(jkid), (const unsigned char *)token,
                            (size_t)(dot2 - token), dec[2], declen[2], why, whylen) != AUTH_OK)
            goto cleanup;
    }
    if (!(claims = decode_object(dec[1], declen[1], "claims", why, whylen)))
        goto cleanup;
    if (is_revoked(rl, claims)) {
        auth_errf(why, whylen, "token revoked");
        goto cleanup;
    }
    st = check_claims(au, claims, now, c, why, whylen);
cleanup:
    json_decref(header);
    json_decref(claims);
    free(buf);
    return st;
}

auth_status_t auth_verify(auth_t *au, const char *token, int64_t now_s, auth_claims_t *claims,
                          char *why, size_t whylen)
{
    auth_status_t st;
    auth_cached_t c;
    unsigned char key[32];
    memset(claims, 0, sizeof *claims);
    memset(&c, 0, sizeof c);
    if (!token || !*token) {
        auth_errf(why, whylen, "no token");
        st = AUTH_UNAUTHORIZED;
        goto done;
    }
    size_t len = strnlen(token, AUTH_MAX_TOKEN + 1);
    if (len > AUTH_MAX_TOKEN) {
        auth_errf(why, whylen, "token too large");
        st = AUTH_UNAUTHORIZED;
        goto done;
    }
    SHA256((const unsigned char *)token, len, key);
    uint64_t gen = atomic_load(&au->gen);
    if (auth_cache_get(au->cache, key, gen, now_s, &c)) {
        atomic_fetch_add(&au->n_hits, 1);
        /* Cached successes still expire: the clock is checked again. */
        st = check_times(au, &c, now_s, why, whylen);
        goto done;
    }
    atomic_fetch_add(&au->n_verifications, 1);
    auth_revoked_t *rl = NULL;
    auth_keyset_t *ks = keyset_acquire(au, &rl);
    st = verify_full(au, ks, rl, token, len, now_s, &c, why, whylen);
    if (st == AUTH_OK) {
        int64_t evict_at = c.claims.has_exp ? sat_add(sat_add(c.claims.exp, au->leeway_s), 1)
                                            : sat_add(now_s, AUTH_CACHE_MAX_AGE);
        /* gen was read before ks and rl were taken: if either was replaced
         * since, this entry is already unreachable. */
        auth_cache_put(au->cache, key, gen, evict_at, &c);
    }
    auth_revoked_release(rl);
    auth_keyset_release(ks);
done:
    if (st == AUTH_OK)
        *claims = c.claims;
    else
        atomic_fetch_add(&au->n_rejected, 1);
    return st;
}

/* ---- authorization ---- */

auth_status_t auth_authorize(const auth_claims_t *claims, const char *const *ids, size_t n_ids,
                             char *why, size_t whylen)
{
    char tmp[64];
    if (claims->admin || (claims->has_prefix && claims->prefix[0] == '\0'))
        return AUTH_OK;
    if (!claims->has_prefix) {
        auth_errf(why, whylen, "token has no prefix claim");
        return AUTH_FORBIDDEN;
    }
    const char *p = printable(claims->prefix, tmp, sizeof tmp);
    if (n_ids == 0) {
        auth_errf(why, whylen, "operation not allowed for prefix \"%s\"", p);
        return AUTH_FORBIDDEN;
    }
    size_t plen = strlen(claims->prefix);
    for (size_t i = 0; i < n_ids; i++) {
        if (!ids[i] || strncmp(ids[i], claims->prefix, plen) != 0) {
            auth_errf(why, whylen, "outside prefix \"%s\"", p);
            return AUTH_FORBIDDEN;
        }
    }
    return AUTH_OK;
}

const char *auth_reason_label(const char *why)
{
    /* Each reason text of this file starts with one of these phrases. */
    static const struct {
        const char *start, *label;
    } labels[] = {
        {"no token", "no_token"},
        {"token too large", "too_large"},
        {"malformed token", "malformed"},
        {"unsupported crit header", "malformed"},
        {"unsupported algorithm", "unsupported_alg"},
        {"unknown key id", "unknown_kid"},
        {"algorithm ", "key_mismatch"},
        {"bad signature", "bad_signature"},
        {"token expired", "expired"},
        {"token not yet valid", "not_yet_valid"},
        {"token has no exp claim", "no_exp"},
        {"exp claim", "bad_claim"},
        {"nbf claim", "bad_claim"},
        {"role claim", "bad_claim"},
        {"wrong issuer", "wrong_issuer"},
        {"token has no iss claim", "wrong_issuer"},
        {"wrong audience", "wrong_audience"},
        {"token has no aud claim", "wrong_audience"},
        {"token has no prefix claim", "no_prefix"},
        {"token revoked", "revoked"},
        {"prefix claim", "bad_prefix"},
        {"outside prefix", "outside_prefix"},
        {"operation not allowed for prefix", "outside_prefix"},
        {"out of memory", "internal"},
    };
    for (size_t i = 0; why && i < sizeof labels / sizeof labels[0]; i++)
        if (strncmp(why, labels[i].start, strlen(labels[i].start)) == 0)
            return labels[i].label;
    return "other";
}
