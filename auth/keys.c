/* keys.c - the JWS algorithm table and public key sets.
 *
 * A key file is read and parsed once (start-up, SIGHUP) into OpenSSL key
 * objects: a PEM file may hold several keys (SPKI, PKCS#1 RSA, certificates),
 * a JSON file is a JWKS (or a single JWK) whose kids let tokens pick a key.
 * Anything malformed fails the whole load, so a typo in the key file stops
 * the server (or the reload) with a reason instead of silently dropping a
 * key; keys of kinds we do not verify with (oct, X25519, "use":"enc") are
 * skipped, as JWKS publishers mix them in. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/internal.h"

/* Key files are small; this only bounds a wrong path (a log, a database). */
#define KEYFILE_MAX (4u * 1024u * 1024u)
#define KEYSET_MAX 64

static const auth_alg_t algs[] = {
    {"RS256", AUTH_KF_RSA, 0, EVP_sha256, false},
    {"RS384", AUTH_KF_RSA, 0, EVP_sha384, false},
    {"RS512", AUTH_KF_RSA, 0, EVP_sha512, false},
    {"PS256", AUTH_KF_RSA, 0, EVP_sha256, true},
    {"PS384", AUTH_KF_RSA, 0, EVP_sha384, true},
    {"PS512", AUTH_KF_RSA, 0, EVP_sha512, true},
    {"ES256", AUTH_KF_EC, 256, EVP_sha256, false},
    {"ES384", AUTH_KF_EC, 384, EVP_sha384, false},
    {"EdDSA", AUTH_KF_ED25519, 0, NULL, false},
    /* RFC 9864's fully-specified name for the same signature. */
    {"Ed25519", AUTH_KF_ED25519, 0, NULL, false},
};

const auth_alg_t *auth_alg_find(const char *name)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0)
            return &algs[i];
    return NULL;
}

bool auth_alg_fits(const auth_alg_t *alg, const auth_key_t *k)
{
    if (alg->family != k->family)
        return false;
    if (alg->family == AUTH_KF_EC && alg->curve_bits != k->bits)
        return false;
    return k->alg == NULL || strcmp(k->alg, alg->name) == 0;
}

void auth_errf(char *buf, size_t len, const char *f, ...)
{
    if (!buf || len == 0)
        return;
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

int auth_key_classify(EVP_PKEY *pkey, auth_family_t *family, int *bits, char *err, size_t errlen)
{
    char group[64];
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        *family = AUTH_KF_RSA;
        *bits = EVP_PKEY_get_bits(pkey);
        if (*bits < 2048) {
            auth_errf(err, errlen, "RSA key of %d bits is too small (minimum 2048)", *bits);
            return -1;
        }
        return 0;
    case EVP_PKEY_EC:
        *family = AUTH_KF_EC;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            NULL)) {
            ERR_clear_error();
            auth_errf(err, errlen, "EC key without a named curve (supported: P-256, P-384)");
            return -1;
        }
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            *bits = 256;
            return 0;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            *bits = 384;
            return 0;
        }
        auth_errf(err, errlen, "unsupported EC curve %s (supported: P-256, P-384)", group);
        return -1;
    case EVP_PKEY_ED25519:
        *family = AUTH_KF_ED25519;
        *bits = 256;
        return 0;
    default: {
        const char *name = EVP_PKEY_get0_type_name(pkey);
        auth_errf(err, errlen, "unsupported key type %s (supported: RSA, EC P-256/P-384, Ed25519)",
                  name ? name : "unknown");
        return -1;
    }
    }
}

static auth_keyset_t *keyset_alloc(void)
{
    auth_keyset_t *ks = calloc(1, sizeof *ks);
    if (!ks)
        return NULL;
    ks->keys = calloc(KEYSET_MAX, sizeof *ks->keys);
    if (!ks->keys) {
        free(ks);
        return NULL;
    }
    atomic_init(&ks->refs, 1);
    return ks;
}

static void keyset_destroy(auth_keyset_t *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        EVP_PKEY_free(ks->keys[i].pkey);
        free(ks->keys[i].kid);
        free(ks->keys[i].alg);
    }
    free(ks->keys);
    free(ks);
}

void auth_keyset_release(auth_keyset_t *ks)
{
    if (ks && atomic_fetch_sub(&ks->refs, 1) == 1)
        keyset_destroy(ks);
}

/* Takes ownership of pkey (freed on failure). */
static int keyset_add(auth_keyset_t *ks, EVP_PKEY *pkey, const char *kid, const char *alg,
                      const char *where, char *err, size_t errlen)
{
    char why[160];
    auth_key_t *k;
    if (ks->n == KEYSET_MAX) {
        auth_errf(err, errlen, "more than %d keys", KEYSET_MAX);
        goto fail;
    }
    k = &ks->keys[ks->n];
    if (auth_key_classify(pkey, &k->family, &k->bits, why, sizeof why) != 0) {
        auth_errf(err, errlen, "%s: %s", where, why);
        goto fail;
    }
    if (alg) {
        const auth_alg_t *a = auth_alg_find(alg);
        auth_key_t probe = {.family = k->family, .bits = k->bits};
        if (!a || !auth_alg_fits(a, &probe)) {
            auth_errf(err, errlen, "%s: alg %s does not fit the key", where, alg);
            goto fail;
        }
    }
    k->kid = kid ? strdup(kid) : NULL;
    k->alg = alg ? strdup(alg) : NULL;
    if ((kid && !k->kid) || (alg && !k->alg)) {
        free(k->kid);
        free(k->alg);
        k->kid = k->alg = NULL;
        auth_errf(err, errlen, "out of memory");
        goto fail;
    }
    k->pkey = pkey;
    ks->n++;
    return 0;
fail:
    EVP_PKEY_free(pkey);
    return -1;
}

static int load_pem(auth_keyset_t *ks, const char *data, size_t len, char *err, size_t errlen)
{
    int rc = -1, block = 0;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (!bio) {
        auth_errf(err, errlen, "out of memory");
        return -1;
    }
    for (;;) {
        long derlen = 0;
        char where[48];
        EVP_PKEY *pkey = NULL;
        if (!PEM_read_bio(bio, &name, &header, &der, &derlen)) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
                break;
            auth_errf(err, errlen, "PEM block %d is malformed", block + 1);
            goto cleanup;
        }
        block++;
        snprintf(where, sizeof where, "PEM block %d (%.20s)", block, name);
        const unsigned char *p = der;
        if (strcmp(name, "PUBLIC KEY") == 0) {
            pkey = d2i_PUBKEY(NULL, &p, derlen);
        } else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
            pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, derlen);
        } else if (strcmp(name, "CERTIFICATE") == 0) {
            X509 *x = d2i_X509(NULL, &p, derlen);
            if (x)
                pkey = X509_get_pubkey(x);
            X509_free(x);
        } else if (strstr(name, "PRIVATE KEY")) {
            auth_errf(err, errlen,
                      "%s is a private key; configure the public key (openssl pkey -pubout)",
                      where);
            goto cleanup;
        } else {
            /* e.g. "EC PARAMETERS" next to a key: not a key, not an error. */
            goto next;
        }
        if (!pkey || p != der + derlen) {
            EVP_PKEY_free(pkey);
            auth_errf(err, errlen, "%s does not hold a valid key", where);
            goto cleanup;
        }
        if (keyset_add(ks, pkey, NULL, NULL, where, err, errlen) != 0)
            goto cleanup;
    next:
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        name = header = NULL;
        der = NULL;
    }
    rc = 0;
cleanup:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* Decodes the base64url member m of jwk into a malloc'd buffer. */
static unsigned char *jwk_bytes(json_t *jwk, const char *m, size_t *n)
{
    const char *s = json_string_value(json_object_get(jwk, m));
    if (!s || !*s)
        return NULL;
    size_t len = strlen(s);
    unsigned char *buf = malloc(len * 3 / 4 + 1);
    if (buf && b64_decode(B64_URL, s, len, buf, n) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *jwk_rsa(json_t *jwk)
{
    size_t nl = 0, el = 0;
    EVP_PKEY *pkey = NULL;
    unsigned char *n = jwk_bytes(jwk, "n", &nl), *e = jwk_bytes(jwk, "e", &el);
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!n || !e || !bld)
        goto cleanup;
    bn = BN_bin2bn(n, (int)nl, NULL);
    be = BN_bin2bn(e, (int)el, NULL);
    if (!bn || !be || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        goto cleanup;
    pkey = pkey_fromdata("RSA", bld);
cleanup:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pkey;
}

static EVP_PKEY *jwk_ec(json_t *jwk, const char *crv, size_t clen)
{
    size_t xl = 0, yl = 0;
    EVP_PKEY *pkey = NULL;
    unsigned char *x = jwk_bytes(jwk, "x", &xl), *y = jwk_bytes(jwk, "y", &yl);
    unsigned char point[1 + 2 * 48];
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!x || !y || !bld || xl != clen || yl != clen)
        goto cleanup;
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, clen);
    memcpy(point + 1 + clen, y, clen);
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * clen))
        goto cleanup;
    pkey = pkey_fromdata("EC", bld);
    if (pkey) {
        /* A point off the curve must not become a key. */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!ctx || EVP_PKEY_public_check(ctx) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(ctx);
    }
cleanup:
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return pkey;
}

static EVP_PKEY *jwk_okp(json_t *jwk)
{
    size_t xl = 0;
    EVP_PKEY *pkey = NULL;
    unsigned char *x = jwk_bytes(jwk, "x", &xl);
    if (x && xl == 32)
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
    free(x);
    return pkey;
}

/* Adds one JWK; returns 1 when added, 0 when skipped as not a signature key we
 * verify with, -1 on a malformed key. */
static int load_jwk(auth_keyset_t *ks, json_t *jwk, size_t idx, char *err, size_t errlen)
{
    char where[48];
    snprintf(where, sizeof where, "JWK %zu", idx);
    if (!json_is_object(jwk)) {
        auth_errf(err, errlen, "%s is not an object", where);
        return -1;
    }
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    json_t *jkid = json_object_get(jwk, "kid"), *jalg = json_object_get(jwk, "alg");
    json_t *juse = json_object_get(jwk, "use");
    if (!kty) {
        auth_errf(err, errlen, "%s has no kty", where);
        return -1;
    }
    if ((jkid && !json_is_string(jkid)) || (jalg && !json_is_string(jalg)) ||
        (juse && !json_is_string(juse))) {
        auth_errf(err, errlen, "%s: kid, alg and use must be strings", where);
        return -1;
    }
    if (juse && strcmp(json_string_value(juse), "sig") != 0)
        return 0;
    const char *alg = json_string_value(jalg);
    if (alg && !auth_alg_find(alg))
        return 0; /* e.g. RSA-OAEP, ES512: not a key for what we verify */
    if (jkid)
        snprintf(where, sizeof where, "JWK %zu (kid %.24s)", idx, json_string_value(jkid));

    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    EVP_PKEY *pkey;
    if (strcmp(kty, "RSA") == 0) {
        pkey = jwk_rsa(jwk);
    } else if (strcmp(kty, "EC") == 0) {
        if (crv && strcmp(crv, "P-256") == 0)
            pkey = jwk_ec(jwk, "P-256", 32);
        else if (crv && strcmp(crv, "P-384") == 0)
            pkey = jwk_ec(jwk, "P-384", 48);
        else
            return 0;
    } else if (strcmp(kty, "OKP") == 0) {
        if (!crv || strcmp(crv, "Ed25519") != 0)
            return 0;
        pkey = jwk_okp(jwk);
    } else {
        return 0; /* oct: never verify with a shared secret */
    }
    ERR_clear_error();
    if (!pkey) {
        auth_errf(err, errlen, "%s: malformed %s key", where, kty);
        return -1;
    }
    return keyset_add(ks, pkey, json_string_value(jkid), alg, where, err, errlen) == 0 ? 1 : -1;
}

static int load_jwks(auth_keyset_t *ks, const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    int rc = -1;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        auth_errf(err, errlen, "not valid JSON (line %d: %s)", jerr.line, jerr.text);
        return -1;
    }
    json_t *keys = json_object_get(root, "keys");
    if (json_is_array(keys) && json_array_size(keys) == 0) {
        auth_errf(err, errlen,
                  "the JWKS holds no key (its keys array is empty), so no token could be "
                  "verified: add the public key that signs the tokens (a JWK of kty RSA, EC "
                  "P-256/P-384 or OKP Ed25519), or point auth.publickey at a PEM public key");
        goto cleanup;
    } else if (json_is_array(keys)) {
        for (size_t i = 0; i < json_array_size(keys); i++)
            if (load_jwk(ks, json_array_get(keys, i), i, err, errlen) < 0)
                goto cleanup;
    } else if (json_is_object(root) && json_object_get(root, "kty")) {
        if (load_jwk(ks, root, 0, err, errlen) < 0)
            goto cleanup;
    } else {
        auth_errf(err, errlen, "JSON key file is neither a JWKS ({\"keys\": [...]}) nor a JWK");
        goto cleanup;
    }
    rc = 0;
cleanup:
    json_decref(root);
    return rc;
}

/* Reads the key file auth.publickey names (at most KEYFILE_MAX bytes) into
 * a NUL-terminated buffer; NULL with err set when it cannot. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        auth_errf(err, errlen, "Failed to read public key file '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        /* fopen opens a directory; only the read would fail, as "read error" */
        auth_errf(err, errlen,
                  "public key file '%s' is a directory, not a file: set auth.publickey to the key "
                  "file itself (a PEM public key, or a JWKS .json file)",
                  path);
        fclose(f);
        return NULL;
    }
    char *buf = malloc(KEYFILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, KEYFILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > KEYFILE_MAX) {
        auth_errf(err, errlen, "Failed to read public key file '%s': %s", path,
                  bad ? "read error" : "file too large");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int auth_keyset_load(const char *path, auth_keyset_t **out, char *err, size_t errlen)
{
    char why[256] = "";
    size_t len = 0;
    int rc = -1;
    auth_keyset_t *ks = NULL;
    char *data = read_file(path, &len, err, errlen);
    if (!data)
        return -1;
    ks = keyset_alloc();
    if (!ks) {
        auth_errf(err, errlen, "out of memory");
        goto cleanup;
    }
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    bool json = i < len && data[i] == '{';
    if ((json ? load_jwks(ks, data, len, why, sizeof why)
              : load_pem(ks, data, len, why, sizeof why)) != 0) {
        auth_errf(err, errlen, "Invalid public key in '%s': %s", path, why);
        goto cleanup;
    }
    if (ks->n == 0) {
        auth_errf(err, errlen,
                  "Unsupported or invalid public key in '%s'. Supported types: RSA, EC "
                  "(P-256/P-384), Ed25519.",
                  path);
        goto cleanup;
    }
    *out = ks;
    ks = NULL;
    rc = 0;
cleanup:
    if (ks)
        keyset_destroy(ks);
    free(data);
    return rc;
}

unsigned char *auth_ecdsa_raw_to_der(const unsigned char *raw, size_t rawlen, size_t *derlen)
{
    unsigned char *der = NULL, *p;
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    if (rawlen == 0 || rawlen % 2 != 0 || rawlen > 2 * 66)
        return NULL;
    r = BN_bin2bn(raw, (int)(rawlen / 2), NULL);
    s = BN_bin2bn(raw + rawlen / 2, (int)(rawlen / 2), NULL);
    sig = ECDSA_SIG_new();
    if (!r || !s || !sig || !ECDSA_SIG_set0(sig, r, s))
        goto fail;
    r = s = NULL; /* owned by sig now */
    int n = i2d_ECDSA_SIG(sig, NULL);
    if (n <= 0 || !(der = malloc((size_t)n)))
        goto fail;
    p = der;
    i2d_ECDSA_SIG(sig, &p);
    *derlen = (size_t)n;
    ECDSA_SIG_free(sig);
    return der;
fail:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    free(der);
    return NULL;
}

int auth_ecdsa_der_to_raw(const unsigned char *der, size_t derlen, size_t coordinate_len,
                          unsigned char *raw)
{
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    int rc = -1;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (!sig)
        return -1;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, (int)coordinate_len) >= 0 &&
        BN_bn2binpad(s, raw + coordinate_len, (int)coordinate_len) >= 0)
        rc = 0;
    ECDSA_SIG_free(sig);
    return rc;
}
