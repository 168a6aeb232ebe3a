/* mint.c - signing tokens for `resonate token`, so users need no jwt-cli.
 *
 * The algorithm follows the private key (RS256 for RSA, ES256/ES384 by
 * curve, EdDSA for Ed25519) unless the caller names another one that fits
 * the key; the same fit rule as verification keeps the two sides in step.
 * Tokens we could not verify ourselves (too large) are refused here. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "auth/internal.h"

/* Never prompt on the terminal: encrypted keys are simply refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static char *b64_of(const unsigned char *in, size_t n)
{
    char *out = malloc(b64_encoded_len(B64_URL, n) + 1);
    if (out)
        b64_encode(B64_URL, in, n, out);
    return out;
}

static json_t *make_claims(const auth_mint_opts_t *o, int64_t now)
{
    json_t *c = json_object();
    if (!c)
        return NULL;
    int bad = json_object_set_new(c, "iat", json_integer(now));
    /* A random jti lets one token be revoked without its siblings. */
    char rnd[32];
    const char *jti = o->jti;
    if (!jti) {
        unsigned char r[16];
        if (RAND_bytes(r, sizeof r) != 1) {
            json_decref(c);
            return NULL;
        }
        b64_encode(B64_URL, r, sizeof r, rnd);
        jti = rnd;
    }
    if (*jti)
        bad |= json_object_set_new(c, "jti", json_string(jti));
    if (o->ttl_s > 0)
        bad |= json_object_set_new(c, "exp", json_integer(now + o->ttl_s));
    const char *names[] = {"iss", "aud", "sub", "prefix", "role"};
    const char *vals[] = {o->iss, o->aud, o->sub, o->prefix, o->role};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (vals[i])
            bad |= json_object_set_new(c, names[i], json_string(vals[i]));
    if (bad) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* Signs msg; ECDSA signatures are returned as JWS r||s. */
static unsigned char *sign(const auth_alg_t *a, EVP_PKEY *pkey, int bits, const char *msg,
                           size_t *siglen)
{
    unsigned char *sig = NULL, *raw = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    size_t n = 0;
    if (!mctx || EVP_DigestSignInit(mctx, &pctx, a->md ? a->md() : NULL, NULL, pkey) != 1)
        goto fail;
    if (a->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
                   EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
                   EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, a->md()) <= 0))
        goto fail;
    if (EVP_DigestSign(mctx, NULL, &n, (const unsigned char *)msg, strlen(msg)) != 1 ||
        !(sig = malloc(n)) ||
        EVP_DigestSign(mctx, sig, &n, (const unsigned char *)msg, strlen(msg)) != 1)
        goto fail;
    if (a->family == AUTH_KF_EC) {
        size_t clen = (size_t)bits / 8;
        if (!(raw = malloc(2 * clen)) || auth_ecdsa_der_to_raw(sig, n, clen, raw) != 0)
            goto fail;
        free(sig);
        sig = raw;
        raw = NULL;
        n = 2 * clen;
    }
    EVP_MD_CTX_free(mctx);
    *siglen = n;
    return sig;
fail:
    EVP_MD_CTX_free(mctx);
    free(sig);
    free(raw);
    return NULL;
}

static const char *default_alg(auth_family_t family, int bits)
{
    switch (family) {
    case AUTH_KF_RSA:
        return "RS256";
    case AUTH_KF_EC:
        return bits == 256 ? "ES256" : "ES384";
    case AUTH_KF_ED25519:
        return "EdDSA";
    }
    return "";
}

int auth_mint(const char *private_key_pem_path, const auth_mint_opts_t *opts, char **token_out,
              char *err, size_t errlen)
{
    static const auth_mint_opts_t no_opts;
    int rc = -1;
    char why[160];
    char *hdr_json = NULL, *claims_json = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL;
    char *input = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    json_t *hdr = NULL, *claims = NULL;
    EVP_PKEY *pkey = NULL;
    auth_family_t family;
    int bits;

    *token_out = NULL;
    if (!opts)
        opts = &no_opts;
    FILE *f = private_key_pem_path ? fopen(private_key_pem_path, "r") : NULL;
    if (!f) {
        auth_errf(err, errlen, "Failed to read private key file '%s': %s",
                  private_key_pem_path ? private_key_pem_path : "",
                  strerror(errno ? errno : ENOENT));
        return -1;
    }
    pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!pkey) {
        auth_errf(err, errlen, "no unencrypted private key in '%s'", private_key_pem_path);
        goto cleanup;
    }
    if (auth_key_classify(pkey, &family, &bits, why, sizeof why) != 0) {
        auth_errf(err, errlen, "%s: %s", private_key_pem_path, why);
        goto cleanup;
    }
    const char *alg_name = opts->alg ? opts->alg : default_alg(family, bits);
    const auth_alg_t *a = auth_alg_find(alg_name);
    auth_key_t probe = {.family = family, .bits = bits};
    if (!a || !auth_alg_fits(a, &probe)) {
        auth_errf(err, errlen, "algorithm %s cannot be used with this key", alg_name);
        goto cleanup;
    }

    int64_t now = opts->now_s ? opts->now_s : (int64_t)time(NULL);
    hdr = json_pack("{s:s, s:s}", "alg", a->name, "typ", "JWT");
    if (hdr && opts->kid && json_object_set_new(hdr, "kid", json_string(opts->kid)) != 0)
        goto oom;
    claims = make_claims(opts, now);
    if (!hdr || !claims || !(hdr_json = json_dumps(hdr, JSON_COMPACT)) ||
        !(claims_json = json_dumps(claims, JSON_COMPACT)) ||
        !(h64 = b64_of((const unsigned char *)hdr_json, strlen(hdr_json))) ||
        !(c64 = b64_of((const unsigned char *)claims_json, strlen(claims_json))) ||
        !(input = malloc(strlen(h64) + strlen(c64) + 2)))
        goto oom;
    snprintf(input, strlen(h64) + strlen(c64) + 2, "%s.%s", h64, c64);
    if (!(sig = sign(a, pkey, bits, input, &siglen))) {
        auth_errf(err, errlen, "signing with %s failed", a->name);
        goto cleanup;
    }
    if (!(s64 = b64_of(sig, siglen)))
        goto oom;
    size_t total = strlen(input) + 1 + strlen(s64);
    if (total > AUTH_MAX_TOKEN) {
        auth_errf(err, errlen, "token of %zu bytes exceeds the %d-byte limit", total,
                  AUTH_MAX_TOKEN);
        goto cleanup;
    }
    if (!(*token_out = malloc(total + 1)))
        goto oom;
    size_t ilen = strlen(input);
    memcpy(*token_out, input, ilen);
    (*token_out)[ilen] = '.';
    memcpy(*token_out + ilen + 1, s64, strlen(s64) + 1);
    rc = 0;
    goto cleanup;
oom:
    auth_errf(err, errlen, "out of memory");
cleanup:
    EVP_PKEY_free(pkey);
    json_decref(hdr);
    json_decref(claims);
    free(hdr_json);
    free(claims_json);
    free(h64);
    free(c64);
    free(s64);
    free(input);
    free(sig);
    ERR_clear_error();
    return rc;
}
