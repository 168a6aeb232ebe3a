/* test_auth.c - JWT verification, prefix authorization, key loading and
 * reload, the verified-token cache and minting.
 *
 * Keys are generated once per run with OpenSSL and written as PEM/JWKS files
 * under a private /tmp directory. Tokens come from auth_mint and from an
 * independent signer in this file (which can also produce the malformed and
 * hostile tokens auth_mint refuses to make). If RESONATE_JOSE_VECTORS names
 * a file written by tests/auth/jose-vectors.mjs, tokens minted by the `jose`
 * npm package are checked too. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "auth/auth.h"
#include "auth/internal.h"
#include "tests/unit/unit.h"

#define NOW 1700000000LL

/* Generated once in the Check parent process and inherited by the forked
 * tests; the directory is removed when the parent exits. */
static struct {
    bool ready;
    pid_t owner;
    char dir[64];
    EVP_PKEY *rsa, *rsa2, *p256, *p256b, *p384, *ed, *ed2;
} K;

/* ---- files and keys ---- */

static char *path(const char *name)
{
    static char ring[8][128];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", K.dir, name);
    return p;
}

static void write_file(const char *p, const char *data, size_t len)
{
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_str(const char *p, const char *s)
{
    write_file(p, s, strlen(s));
}

static char *bio_string(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static char *pub_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PUBKEY(b, k), 1);
    return bio_string(b);
}

static char *priv_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    return bio_string(b);
}

/* PEM in OpenSSL's "type-specific" structure: PKCS#1 for RSA, SEC1 for EC. */
static char *type_specific_pem(EVP_PKEY *k, int selection)
{
    BIO *b = BIO_new(BIO_s_mem());
    OSSL_ENCODER_CTX *ctx =
        OSSL_ENCODER_CTX_new_for_pkey(k, selection, "PEM", "type-specific", NULL);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(OSSL_ENCODER_to_bio(ctx, b), 1);
    OSSL_ENCODER_CTX_free(ctx);
    return bio_string(b);
}

static void write_pub(EVP_PKEY *k, const char *name)
{
    char *s = pub_pem(k);
    write_str(path(name), s);
    free(s);
}

static void write_priv(EVP_PKEY *k, const char *name)
{
    char *s = priv_pem(k);
    write_str(path(name), s);
    free(s);
}

static void remove_dir(void)
{
    char cmd[128];
    if (getpid() != K.owner || !K.ready)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", K.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", K.dir);
}

static void keys_setup(void)
{
    if (K.ready)
        return;
    snprintf(K.dir, sizeof K.dir, "/tmp/resonate-auth-XXXXXX");
    if (!mkdtemp(K.dir))
        abort();
    K.owner = getpid();
    K.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    K.rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    K.p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    K.p256b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    K.p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    K.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    K.ed2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!K.rsa || !K.rsa2 || !K.p256 || !K.p256b || !K.p384 || !K.ed || !K.ed2)
        abort();
    struct {
        EVP_PKEY *k;
        const char *name;
    } files[] = {{K.rsa, "rsa"},   {K.rsa2, "rsa2"}, {K.p256, "p256"}, {K.p256b, "p256b"},
                 {K.p384, "p384"}, {K.ed, "ed"},     {K.ed2, "ed2"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s.pub", files[i].name);
        write_pub(files[i].k, name);
        snprintf(name, sizeof name, "%s.key", files[i].name);
        write_priv(files[i].k, name);
    }
    K.ready = true;
    atexit(remove_dir);
}

/* ---- an independent JWS signer ---- */

static char *b64(const void *data, size_t n)
{
    char *s = malloc(b64_encoded_len(B64_URL, n) + 1);
    b64_encode(B64_URL, data, n, s);
    return s;
}

static const EVP_MD *md_of(const char *alg)
{
    if (strstr(alg, "384"))
        return EVP_sha384();
    if (strstr(alg, "512"))
        return EVP_sha512();
    return EVP_sha256();
}

enum { SIG_RAW = 0, SIG_DER = 1 };

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 3;
    char *s = malloc(n);
    snprintf(s, n, "%s.%s%s%s", a, b, c ? "." : "", c ? c : "");
    return s;
}

/* Signs header.claims with key the way alg says (RS*, PS*, ES*, EdDSA,
 * "none"); ES* signatures are r||s unless SIG_DER. header NULL means
 * {"alg":alg,"typ":"JWT"}. The result is malloc'd. */
static char *jws(const char *header, const char *claims, EVP_PKEY *key, const char *alg, int flags)
{
    char hbuf[256];
    if (!header) {
        snprintf(hbuf, sizeof hbuf, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
        header = hbuf;
    }
    char *h = b64(header, strlen(header)), *c = b64(claims, strlen(claims));
    char *input = join3(h, c, NULL);
    unsigned char sig[1024];
    size_t siglen = 0;
    if (strcmp(alg, "none") != 0) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pc = NULL;
        bool ed = strcmp(alg, "EdDSA") == 0;
        ck_assert_int_eq(EVP_DigestSignInit(m, &pc, ed ? NULL : md_of(alg), NULL, key), 1);
        if (alg[0] == 'P') {
            ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 0);
            ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST), 0);
        }
        siglen = sizeof sig;
        ck_assert_int_eq(EVP_DigestSign(m, sig, &siglen, (unsigned char *)input, strlen(input)), 1);
        EVP_MD_CTX_free(m);
        if (alg[0] == 'E' && !ed && flags != SIG_DER) {
            const unsigned char *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
            const BIGNUM *r, *s;
            ECDSA_SIG_get0(es, &r, &s);
            int clen = (EVP_PKEY_get_bits(key) + 7) / 8;
            BN_bn2binpad(r, sig, clen);
            BN_bn2binpad(s, sig + clen, clen);
            siglen = 2 * (size_t)clen;
            ECDSA_SIG_free(es);
        }
    }
    char *s64 = b64(sig, siglen);
    char *tok = join3(h, c, s64);
    free(h), free(c), free(s64), free(input);
    return tok;
}

static char *jws_hmac(const char *alg, const char *claims, const void *secret, size_t n)
{
    char header[64];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    char *h = b64(header, strlen(header)), *c = b64(claims, strlen(claims));
    char *input = join3(h, c, NULL);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    ck_assert_ptr_nonnull(
        HMAC(md_of(alg), secret, (int)n, (unsigned char *)input, strlen(input), mac, &maclen));
    char *m64 = b64(mac, maclen);
    char *tok = join3(h, c, m64);
    free(h), free(c), free(m64), free(input);
    return tok;
}

/* Builds a claims JSON from a printf format (static ring of buffers). */
static const char *cl(const char *f, ...) __attribute__((format(printf, 1, 2)));

static const char *cl(const char *f, ...)
{
    static char ring[8][4096];
    static int next;
    char *p = ring[next++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(p, sizeof ring[0], f, ap);
    va_end(ap);
    return p;
}

/* The claims most tests start from: valid at NOW, prefix "tenantA:". */
#define GOOD_CLAIMS cl("{\"exp\":%lld,\"prefix\":\"tenantA:\"}", NOW + 3600)

/* ---- verifier helpers ---- */

static auth_t *open_auth_cfg(const auth_config_t *cfg)
{
    char err[512] = "";
    auth_t *au = auth_new(cfg, err, sizeof err);
    ck_assert_msg(au != NULL, "auth_new failed: %s", err);
    return au;
}

static auth_t *open_auth(const char *keyfile)
{
    auth_config_t cfg;
    auth_config_default(&cfg);
    cfg.publickey_path = keyfile;
    return open_auth_cfg(&cfg);
}

static void expect_ok(auth_t *au, const char *tok, int64_t now, auth_claims_t *c)
{
    char why[256] = "";
    auth_claims_t tmp;
    auth_status_t st = auth_verify(au, tok, now, c ? c : &tmp, why, sizeof why);
    ck_assert_msg(st == AUTH_OK, "expected AUTH_OK, got %d (%s)", st, why);
}

static void expect_401(auth_t *au, const char *tok, int64_t now, const char *reason)
{
    char why[256] = "";
    auth_claims_t c;
    memset(&c, 0xab, sizeof c);
    auth_status_t st = auth_verify(au, tok, now, &c, why, sizeof why);
    ck_assert_msg(st == AUTH_UNAUTHORIZED, "expected 401 (%s), got %d", reason, st);
    ck_assert_msg(strstr(why, reason) != NULL, "reason \"%s\" lacks \"%s\"", why, reason);
    ck_assert_msg(strcmp(auth_reason_label(why), "other") != 0, "no label for \"%s\"", why);
    ck_assert(!c.admin && !c.has_prefix && c.prefix[0] == '\0');
}

static char *mint(const char *keyname, const auth_mint_opts_t *o)
{
    char err[256] = "";
    char *tok = NULL;
    int rc = auth_mint(path(keyname), o, &tok, err, sizeof err);
    ck_assert_msg(rc == 0, "auth_mint failed: %s", err);
    ck_assert_ptr_nonnull(tok);
    return tok;
}

/* Decodes segment i (0 header, 1 claims) of tok as JSON. */
static json_t *segment_json(const char *tok, int i)
{
    const char *s = tok;
    for (int k = 0; k < i; k++)
        s = strchr(s, '.') + 1;
    size_t n = strcspn(s, ".");
    unsigned char buf[4096];
    size_t len = 0;
    ck_assert_int_eq(b64_decode(B64_URL, s, n, buf, &len), 0);
    json_t *j = json_loadb((char *)buf, len, 0, NULL);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* ---- token structure ---- */

START_TEST(verify_rejects_missing_and_empty_tokens)
{
    auth_t *au = open_auth(path("ed.pub"));
    expect_401(au, NULL, NOW, "no token");
    expect_401(au, "", NOW, "no token");
    auth_free(au);
}
END_TEST

START_TEST(verify_rejects_tokens_over_the_size_cap_before_parsing)
{
    auth_t *au = open_auth(path("ed.pub"));
    /* A validly signed token whose claims push it just past the cap. */
    char *pad = malloc(AUTH_MAX_TOKEN);
    memset(pad, 'x', AUTH_MAX_TOKEN - 1);
    pad[AUTH_MAX_TOKEN - 1] = '\0';
    char *claims = malloc(AUTH_MAX_TOKEN + 100);
    snprintf(claims, AUTH_MAX_TOKEN + 100, "{\"exp\":%lld,\"prefix\":\"\",\"pad\":\"%s\"}",
             NOW + 60, pad);
    char *tok = jws(NULL, claims, K.ed, "EdDSA", 0);
    ck_assert_uint_gt(strlen(tok), AUTH_MAX_TOKEN);
    expect_401(au, tok, NOW, "token too large");
    /* One megabyte of header. */
    char *huge = malloc(1 << 20);
    memset(huge, 'A', (1 << 20) - 1);
    huge[(1 << 20) - 1] = '\0';
    expect_401(au, huge, NOW, "token too large");
    /* At the cap exactly the size check passes and parsing decides. */
    huge[AUTH_MAX_TOKEN] = '\0';
    expect_401(au, huge, NOW, "malformed token");
    free(pad), free(claims), free(tok), free(huge);
    auth_free(au);
}
END_TEST

START_TEST(verify_rejects_wrong_segment_counts_and_truncation)
{
    auth_t *au = open_auth(path("ed.pub"));
    char *tok = jws(NULL, GOOD_CLAIMS, K.ed, "EdDSA", 0);
    expect_ok(au, tok, NOW, NULL);
    const char *shapes[] = {"abc", "abc.def", "a.b.c.d", "..", "...", "."};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        expect_401(au, shapes[i], NOW, "malformed token");
    char *four = join3(tok, "x", NULL);
    expect_401(au, four, NOW, "three dot-separated segments");
    /* Every truncation of a valid token fails. */
    size_t len = strlen(tok);
    for (size_t cut = 1; cut < len; cut++) {
        char *t = strndup(tok, cut);
        char why[256];
        auth_claims_t c;
        ck_assert_msg(auth_verify(au, t, NOW, &c, why, sizeof why) == AUTH_UNAUTHORIZED,
                      "truncation at %zu accepted", cut);
        free(t);
    }
    free(tok), free(four);
    auth_free(au);
}
END_TEST

START_TEST(verify_rejects_segments_that_are_not_strict_base64url)
{
    auth_t *au = open_auth(path("ed.pub"));
    char *tok = jws(NULL, GOOD_CLAIMS, K.ed, "EdDSA", 0);
    char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char buf[2048];
    /* Padding on the header. */
    snprintf(buf, sizeof buf, "%.*s==%s", (int)(d1 - tok), tok, d1);
    expect_401(au, buf, NOW, "header is not base64url");
    /* A '+' (base64, not base64url) in the claims. */
    snprintf(buf, sizeof buf, "%.*s+%s", (int)(d2 - tok), tok, d2);
    expect_401(au, buf, NOW, "claims is not base64url");
    /* Garbage in the signature. */
    snprintf(buf, sizeof buf, "%.*s*%s", (int)(d2 + 1 - tok), tok, d2 + 1);
    expect_401(au, buf, NOW, "signature is not base64url");
    /* An empty header or claims segment. */
    snprintf(buf, sizeof buf, "%s", d1);
    expect_401(au, buf, NOW, "header is not non-empty base64url");
    snprintf(buf, sizeof buf, "%.*s.%s", (int)(d1 - tok), tok, d2);
    expect_401(au, buf, NOW, "claims is not non-empty base64url");
    free(tok);
    auth_free(au);
}
END_TEST

START_TEST(verify_rejects_headers_that_are_not_json_objects_with_string_alg)
{
    auth_t *au = open_auth(path("ed.pub"));
    struct {
        const char *header, *reason;
    } cases[] = {
        {"[\"EdDSA\"]", "header is not a JSON object"},
        {"\"EdDSA\"", "header is not a JSON object"},
        {"{\"alg\":\"EdDSA\"", "header is not JSON"},
        {"{\"alg\":\"EdDSA\"} x", "header is not JSON"},
        {"not json", "header is not JSON"},
        {"{\"typ\":\"JWT\"}", "header has no alg"},
        {"{\"alg\":256}", "alg is not a string"},
        {"{\"alg\":null}", "alg is not a string"},
        {"{\"alg\":\"EdDSA\",\"kid\":7}", "kid is not a string"},
        {"{\"alg\":\"EdDSA\",\"crit\":[\"b64\"],\"b64\":false}", "unsupported crit header"},
        /* Two parsers could pick different members: refused outright. */
        {"{\"alg\":\"EdDSA\",\"alg\":\"none\"}", "header is not JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = jws(cases[i].header, GOOD_CLAIMS, K.ed, "EdDSA", 0);
        expect_401(au, tok, NOW, cases[i].reason);
        free(tok);
    }
    auth_free(au);
}
END_TEST

START_TEST(verify_rejects_signed_claims_that_are_not_json_objects)
{
    auth_t *au = open_auth(path("ed.pub"));
    struct {
        const char *claims, *reason;
    } cases[] = {
        {"[1,2]", "claims is not a JSON object"},
        {"\"prefix\"", "claims is not a JSON object"},
        {"{\"prefix\":\"a\",", "claims is not JSON"},
        {"{\"prefix\":\"a\",\"prefix\":\"\"}", "claims is not JSON"},
        {"{\"prefix\":\"a\\u0000b\"}", "claims is not JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = jws(NULL, cases[i].claims, K.ed, "EdDSA", 0);
        expect_401(au, tok, NOW, cases[i].reason);
        free(tok);
    }
    auth_free(au);
}
END_TEST

/* ---- algorithms ---- */

static const struct {
    const char *alg, *key;
    EVP_PKEY **pkey;
} every_alg[] = {
    {"RS256", "rsa", &K.rsa},   {"RS384", "rsa", &K.rsa},   {"RS512", "rsa", &K.rsa},
    {"PS256", "rsa", &K.rsa},   {"PS384", "rsa", &K.rsa},   {"PS512", "rsa", &K.rsa},
    {"ES256", "p256", &K.p256}, {"ES384", "p384", &K.p384}, {"EdDSA", "ed", &K.ed},
};
#define N_ALGS (sizeof every_alg / sizeof every_alg[0])

START_TEST(every_algorithm_verifies_tokens_minted_by_auth_mint)
{
    for (size_t i = 0; i < N_ALGS; i++) {
        char pub[32], priv[32];
        snprintf(pub, sizeof pub, "%s.pub", every_alg[i].key);
        snprintf(priv, sizeof priv, "%s.key", every_alg[i].key);
        auth_t *au = open_auth(path(pub));
        auth_mint_opts_t o = {
            .alg = every_alg[i].alg, .prefix = "tenantA:", .ttl_s = 600, .now_s = NOW};
        char *tok = mint(priv, &o);
        json_t *h = segment_json(tok, 0);
        ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), every_alg[i].alg);
        json_decref(h);
        auth_claims_t c;
        expect_ok(au, tok, NOW, &c);
        ck_assert(c.has_prefix && !c.admin);
        ck_assert_str_eq(c.prefix, "tenantA:");
        ck_assert(c.has_exp);
        ck_assert_int_eq(c.exp, NOW + 600);
        free(tok);
        auth_free(au);
    }
}
END_TEST

START_TEST(every_algorithm_verifies_tokens_from_an_independent_signer)
{
    for (size_t i = 0; i < N_ALGS; i++) {
        char pub[32];
        snprintf(pub, sizeof pub, "%s.pub", every_alg[i].key);
        auth_t *au = open_auth(path(pub));
        char *tok = jws(NULL, GOOD_CLAIMS, *every_alg[i].pkey, every_alg[i].alg, SIG_RAW);
        auth_claims_t c;
        expect_ok(au, tok, NOW, &c);
        ck_assert_str_eq(c.prefix, "tenantA:");
        free(tok);
        auth_free(au);
    }
}
END_TEST

START_TEST(signature_by_another_key_of_the_same_type_is_rejected)
{
    struct {
        const char *pub, *alg;
        EVP_PKEY **other;
    } cases[] = {{"rsa.pub", "RS256", &K.rsa2},
                 {"rsa.pub", "PS256", &K.rsa2},
                 {"p256.pub", "ES256", &K.p256b},
                 {"ed.pub", "EdDSA", &K.ed2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        auth_t *au = open_auth(path(cases[i].pub));
        char *tok = jws(NULL, GOOD_CLAIMS, *cases[i].other, cases[i].alg, SIG_RAW);
        expect_401(au, tok, NOW, "bad signature");
        free(tok);
        auth_free(au);
    }
}
END_TEST

START_TEST(changed_claims_break_the_signature)
{
    auth_t *au = open_auth(path("rsa.pub"));
    char *tok = jws(NULL, GOOD_CLAIMS, K.rsa, "RS256", 0);
    char *admin =
        jws(NULL, cl("{\"exp\":%lld,\"role\":\"admin\"}", NOW + 3600), K.rsa2, "RS256", 0);
    /* Graft the admin claims onto the first token's header and signature. */
    char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char *a1 = strchr(admin, '.'), *a2 = strchr(a1 + 1, '.');
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s%.*s%s", (int)(d1 - tok), tok, (int)(a2 - a1), a1, d2);
    expect_401(au, buf, NOW, "bad signature");
    /* Flip one bit of the signature. */
    char *last = tok + strlen(tok) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    expect_401(au, tok, NOW, "bad signature");
    free(tok), free(admin);
    auth_free(au);
}
END_TEST

START_TEST(hmac_keyed_with_the_public_key_bytes_is_rejected)
{
    const char *pubs[] = {"rsa.pub", "p256.pub", "ed.pub"};
    EVP_PKEY **keys[] = {&K.rsa, &K.p256, &K.ed};
    const char *hs[] = {"HS256", "HS384", "HS512"};
    for (size_t i = 0; i < 3; i++) {
        auth_t *au = open_auth(path(pubs[i]));
        char *pem = pub_pem(*keys[i]);
        for (size_t j = 0; j < 3; j++) {
            char *tok = jws_hmac(hs[j], GOOD_CLAIMS, pem, strlen(pem));
            char reason[64];
            snprintf(reason, sizeof reason, "unsupported algorithm \"%s\"", hs[j]);
            expect_401(au, tok, NOW, reason);
            free(tok);
        }
        free(pem);
        auth_free(au);
    }
}
END_TEST

START_TEST(alg_none_is_rejected_with_or_without_a_signature)
{
    auth_t *au = open_auth(path("rsa.pub"));
    char *tok = jws(NULL, GOOD_CLAIMS, NULL, "none", 0);
    ck_assert(tok[strlen(tok) - 1] == '.');
    expect_401(au, tok, NOW, "unsupported algorithm \"none\"");
    /* A real RS256 signature under an alg:none header. */
    char *signed_none = jws("{\"alg\":\"none\"}", GOOD_CLAIMS, K.rsa, "RS256", 0);
    expect_401(au, signed_none, NOW, "unsupported algorithm \"none\"");
    const char *spellings[] = {"{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}", "{\"alg\":\"\"}"};
    for (size_t i = 0; i < 3; i++) {
        char *t = jws(spellings[i], GOOD_CLAIMS, K.rsa, "RS256", 0);
        expect_401(au, t, NOW, "unsupported algorithm");
        free(t);
    }
    free(tok), free(signed_none);
    auth_free(au);
}
END_TEST

START_TEST(alg_of_another_key_family_is_rejected)
{
    struct {
        const char *pub, *alg, *reason;
        EVP_PKEY **signer;
    } cases[] = {
        {"rsa.pub", "ES256", "algorithm ES256 does not fit the RSA key", &K.p256},
        {"rsa.pub", "EdDSA", "algorithm EdDSA does not fit the RSA key", &K.ed},
        {"p256.pub", "RS256", "algorithm RS256 does not fit the EC P-256 key", &K.rsa},
        {"p256.pub", "ES384", "algorithm ES384 does not fit the EC P-256 key", &K.p384},
        {"p384.pub", "ES256", "algorithm ES256 does not fit the EC P-384 key", &K.p256},
        {"ed.pub", "ES256", "algorithm ES256 does not fit the Ed25519 key", &K.p256},
        {"ed.pub", "PS256", "algorithm PS256 does not fit the Ed25519 key", &K.rsa},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        auth_t *au = open_auth(path(cases[i].pub));
        char *tok = jws(NULL, GOOD_CLAIMS, *cases[i].signer, cases[i].alg, SIG_RAW);
        expect_401(au, tok, NOW, cases[i].reason);
        free(tok);
        auth_free(au);
    }
}
END_TEST

START_TEST(rsa_padding_must_match_the_alg)
{
    auth_t *au = open_auth(path("rsa.pub"));
    /* PSS signature under an RS256 header, and PKCS#1 v1.5 under PS256. */
    char *a = jws("{\"alg\":\"RS256\"}", GOOD_CLAIMS, K.rsa, "PS256", 0);
    char *b = jws("{\"alg\":\"PS256\"}", GOOD_CLAIMS, K.rsa, "RS256", 0);
    /* RS384 signature under RS256: the hash is part of the alg too. */
    char *c = jws("{\"alg\":\"RS256\"}", GOOD_CLAIMS, K.rsa, "RS384", 0);
    expect_401(au, a, NOW, "bad signature");
    expect_401(au, b, NOW, "bad signature");
    expect_401(au, c, NOW, "bad signature");
    free(a), free(b), free(c);
    auth_free(au);
}
END_TEST

START_TEST(ecdsa_signature_must_be_raw_r_s_of_the_curve_size)
{
    auth_t *au = open_auth(path("p256.pub"));
    char *der = jws(NULL, GOOD_CLAIMS, K.p256, "ES256", SIG_DER);
    expect_401(au, der, NOW, "bad signature");
    /* A raw signature with one byte cut off or one added. */
    char *tok = jws(NULL, GOOD_CLAIMS, K.p256, "ES256", SIG_RAW);
    expect_ok(au, tok, NOW, NULL);
    char *sig = strrchr(tok, '.') + 1;
    unsigned char raw[80];
    size_t n = 0;
    ck_assert_int_eq(b64_decode(B64_URL, sig, strlen(sig), raw, &n), 0);
    ck_assert_uint_eq(n, 64);
    char *h = strndup(tok, (size_t)(sig - 1 - tok));
    raw[64] = 0;
    for (size_t len = 63; len <= 65; len += 2) {
        char *s64 = b64(raw, len), *t = join3(h, s64, NULL);
        /* join3 with NULL gives h.s64: header.claims.sig */
        expect_401(au, t, NOW, "bad signature");
        free(s64), free(t);
    }
    free(der), free(tok), free(h);
    auth_free(au);
}
END_TEST

START_TEST(unknown_algorithms_are_rejected_by_name)
{
    auth_t *au = open_auth(path("rsa.pub"));
    const char *algs[] = {"ES512", "RS1", "rs256", "EdDSA ", "RSA-OAEP"};
    for (size_t i = 0; i < 5; i++) {
        char header[64], reason[64];
        snprintf(header, sizeof header, "{\"alg\":\"%s\"}", algs[i]);
        snprintf(reason, sizeof reason, "unsupported algorithm \"%s\"", algs[i]);
        char *tok = jws(header, GOOD_CLAIMS, K.rsa, "RS256", 0);
        expect_401(au, tok, NOW, reason);
        free(tok);
    }
    /* A hostile alg is not echoed raw into the reason. */
    char *tok = jws("{\"alg\":\"x\\\"\\n\\u0001y\"}", GOOD_CLAIMS, K.rsa, "RS256", 0);
    expect_401(au, tok, NOW, "unsupported algorithm \"x???y\"");
    free(tok);
    auth_free(au);
}
END_TEST

/* ---- claims ---- */

static auth_t *ed_auth(const char *iss, const char *aud, bool require_exp, int64_t leeway)
{
    auth_config_t cfg;
    auth_config_default(&cfg);
    cfg.publickey_path = path("ed.pub");
    cfg.iss = iss;
    cfg.aud = aud;
    cfg.require_exp = require_exp;
    cfg.leeway_s = leeway;
    return open_auth_cfg(&cfg);
}

static void claims_ok(auth_t *au, const char *claims, int64_t now, auth_claims_t *c)
{
    char *tok = jws(NULL, claims, K.ed, "EdDSA", 0);
    expect_ok(au, tok, now, c);
    free(tok);
}

static void claims_401(auth_t *au, const char *claims, int64_t now, const char *reason)
{
    char *tok = jws(NULL, claims, K.ed, "EdDSA", 0);
    expect_401(au, tok, now, reason);
    free(tok);
}

START_TEST(config_defaults_require_exp_with_sixty_seconds_leeway)
{
    auth_config_t cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    auth_config_default(&cfg);
    ck_assert(cfg.require_exp);
    ck_assert_int_eq(cfg.leeway_s, 60);
    ck_assert_ptr_null(cfg.publickey_path);
    ck_assert_ptr_null(cfg.iss);
    ck_assert_ptr_null(cfg.aud);
    ck_assert_uint_eq(cfg.cache_size, 0);
    char err[256];
    cfg.publickey_path = path("ed.pub");
    cfg.leeway_s = -1;
    ck_assert_ptr_null(auth_new(&cfg, err, sizeof err));
    ck_assert(strstr(err, "leeway") != NULL);
}
END_TEST

START_TEST(exp_is_required_unless_require_exp_is_false)
{
    auth_t *strict = ed_auth(NULL, NULL, true, 60), *lax = ed_auth(NULL, NULL, false, 60);
    claims_401(strict, "{\"prefix\":\"\"}", NOW, "token has no exp claim");
    auth_claims_t c;
    claims_ok(lax, "{\"prefix\":\"\"}", NOW, &c);
    ck_assert(!c.has_exp);
    /* A malformed exp is never mistaken for an absent one. */
    const char *bad[] = {"\"1800000000\"", "true", "null", "[1800000000]", "{}"};
    for (size_t i = 0; i < 5; i++) {
        claims_401(strict, cl("{\"exp\":%s,\"prefix\":\"\"}", bad[i]), NOW,
                   "exp claim is not a number");
        claims_401(lax, cl("{\"exp\":%s,\"prefix\":\"\"}", bad[i]), NOW,
                   "exp claim is not a number");
    }
    auth_free(strict);
    auth_free(lax);
}
END_TEST

START_TEST(exp_is_checked_with_the_configured_leeway)
{
    auth_t *au = ed_auth(NULL, NULL, true, 60), *tight = ed_auth(NULL, NULL, true, 0);
    claims_ok(au, cl("{\"exp\":%lld,\"prefix\":\"\"}", NOW - 60), NOW, NULL);
    claims_401(au, cl("{\"exp\":%lld,\"prefix\":\"\"}", NOW - 61), NOW, "token expired");
    claims_ok(tight, cl("{\"exp\":%lld,\"prefix\":\"\"}", NOW), NOW, NULL);
    claims_401(tight, cl("{\"exp\":%lld,\"prefix\":\"\"}", NOW - 1), NOW, "token expired");
    /* Fractions count against the token. */
    claims_401(tight, cl("{\"exp\":%lld.5,\"prefix\":\"\"}", NOW - 1), NOW, "token expired");
    claims_ok(tight, cl("{\"exp\":%lld.5,\"prefix\":\"\"}", NOW), NOW, NULL);
    /* Extreme values neither overflow nor wrap around. */
    claims_ok(tight, "{\"exp\":1e300,\"prefix\":\"\"}", NOW, NULL);
    claims_ok(tight, "{\"exp\":9223372036854775807,\"prefix\":\"\"}", NOW, NULL);
    claims_401(tight, "{\"exp\":-1e300,\"prefix\":\"\"}", NOW, "token expired");
    claims_401(tight, "{\"exp\":-9223372036854775807,\"prefix\":\"\"}", NOW, "token expired");
    claims_401(au, "{\"exp\":0,\"prefix\":\"\"}", NOW, "token expired");
    auth_free(au);
    auth_free(tight);
}
END_TEST

/* Review finding: a /poll stream outlived its token's exp. The verified
 * claims say until when the token is accepted (exp + leeway), so that what
 * outlives the request can end then; a cache hit says the same. */
START_TEST(verified_claims_say_until_when_the_token_is_accepted)
{
    auth_t *au = ed_auth(NULL, NULL, true, 60), *lax = ed_auth(NULL, NULL, false, 0);
    auth_claims_t c;
    char *tok = jws(NULL, cl("{\"exp\":%lld,\"prefix\":\"\"}", NOW + 100), K.ed, "EdDSA", 0);
    expect_ok(au, tok, NOW, &c);
    ck_assert_int_eq(c.valid_until, NOW + 160);
    expect_ok(au, tok, NOW + 160, &c); /* from the cache, at its last second */
    ck_assert_int_eq(c.valid_until, NOW + 160);
    expect_401(au, tok, NOW + 161, "token expired");
    free(tok);
    claims_ok(lax, "{\"prefix\":\"\"}", NOW, &c);
    ck_assert(c.valid_until == INT64_MAX);
    claims_ok(lax, "{\"exp\":9223372036854775807,\"prefix\":\"\"}", NOW, &c);
    ck_assert(c.valid_until > NOW);
    auth_free(au);
    auth_free(lax);
}
END_TEST

START_TEST(nbf_is_checked_with_the_configured_leeway)
{
    auth_t *au = ed_auth(NULL, NULL, true, 60);
    long long exp = NOW + 3600;
    claims_ok(au, cl("{\"exp\":%lld,\"nbf\":%lld,\"prefix\":\"\"}", exp, NOW + 60), NOW, NULL);
    claims_401(au, cl("{\"exp\":%lld,\"nbf\":%lld,\"prefix\":\"\"}", exp, NOW + 61), NOW,
               "token not yet valid");
    claims_401(au, cl("{\"exp\":%lld,\"nbf\":%lld.5,\"prefix\":\"\"}", exp, NOW + 60), NOW,
               "token not yet valid");
    claims_401(au, cl("{\"exp\":%lld,\"nbf\":\"soon\",\"prefix\":\"\"}", exp), NOW,
               "nbf claim is not a number");
    /* iat is not a validity rule. */
    claims_ok(au, cl("{\"exp\":%lld,\"iat\":%lld,\"prefix\":\"\"}", exp, NOW + 9999), NOW, NULL);
    auth_free(au);
}
END_TEST

START_TEST(issuer_must_match_when_configured)
{
    auth_t *au = ed_auth("https://issuer.example", NULL, true, 60);
    auth_t *any = ed_auth(NULL, NULL, true, 60);
    long long exp = NOW + 60;
    claims_ok(au, cl("{\"exp\":%lld,\"iss\":\"https://issuer.example\",\"prefix\":\"\"}", exp), NOW,
              NULL);
    claims_401(au, cl("{\"exp\":%lld,\"iss\":\"https://evil.example\",\"prefix\":\"\"}", exp), NOW,
               "wrong issuer");
    claims_401(au, cl("{\"exp\":%lld,\"iss\":\"https://issuer.example/\",\"prefix\":\"\"}", exp),
               NOW, "wrong issuer");
    claims_401(au, cl("{\"exp\":%lld,\"iss\":[\"https://issuer.example\"],\"prefix\":\"\"}", exp),
               NOW, "wrong issuer");
    claims_401(au, cl("{\"exp\":%lld,\"prefix\":\"\"}", exp), NOW, "token has no iss claim");
    claims_ok(any, cl("{\"exp\":%lld,\"iss\":\"anyone\",\"prefix\":\"\"}", exp), NOW, NULL);
    auth_free(au);
    auth_free(any);
}
END_TEST

START_TEST(audience_may_be_a_string_or_an_array_containing_the_configured_value)
{
    auth_t *au = ed_auth(NULL, "resonate", true, 60);
    auth_t *any = ed_auth(NULL, NULL, true, 60);
    long long exp = NOW + 60;
    claims_ok(au, cl("{\"exp\":%lld,\"aud\":\"resonate\",\"prefix\":\"\"}", exp), NOW, NULL);
    claims_ok(au, cl("{\"exp\":%lld,\"aud\":[\"other\",\"resonate\"],\"prefix\":\"\"}", exp), NOW,
              NULL);
    claims_401(au, cl("{\"exp\":%lld,\"aud\":[\"other\",5],\"prefix\":\"\"}", exp), NOW,
               "wrong audience");
    claims_401(au, cl("{\"exp\":%lld,\"aud\":\"Resonate\",\"prefix\":\"\"}", exp), NOW,
               "wrong audience");
    claims_401(au, cl("{\"exp\":%lld,\"aud\":[],\"prefix\":\"\"}", exp), NOW, "wrong audience");
    claims_401(au, cl("{\"exp\":%lld,\"aud\":{\"resonate\":1},\"prefix\":\"\"}", exp), NOW,
               "wrong audience");
    claims_401(au, cl("{\"exp\":%lld,\"prefix\":\"\"}", exp), NOW, "token has no aud claim");
    claims_ok(any, cl("{\"exp\":%lld,\"aud\":42,\"prefix\":\"\"}", exp), NOW, NULL);
    auth_free(au);
    auth_free(any);
}
END_TEST

START_TEST(role_admin_in_any_case_needs_no_prefix)
{
    auth_t *au = ed_auth(NULL, NULL, true, 60);
    long long exp = NOW + 60;
    const char *roles[] = {"admin", "ADMIN", "Admin", "aDmIn"};
    for (size_t i = 0; i < 4; i++) {
        auth_claims_t c;
        claims_ok(au, cl("{\"exp\":%lld,\"role\":\"%s\"}", exp, roles[i]), NOW, &c);
        ck_assert(c.admin);
        ck_assert(!c.has_prefix);
    }
    /* An admin's prefix claim is ignored, whatever its type. */
    auth_claims_t c;
    claims_ok(au, cl("{\"exp\":%lld,\"role\":\"admin\",\"prefix\":5}", exp), NOW, &c);
    ck_assert(c.admin && !c.has_prefix);
    claims_401(au, cl("{\"exp\":%lld,\"role\":\"administrator\"}", exp), NOW,
               "token has no prefix claim");
    claims_401(au, cl("{\"exp\":%lld,\"role\":\"admin \"}", exp), NOW, "token has no prefix claim");
    claims_401(au, cl("{\"exp\":%lld,\"role\":[\"admin\"]}", exp), NOW,
               "role claim is not a string");
    claims_ok(au, cl("{\"exp\":%lld,\"role\":\"worker\",\"prefix\":\"w:\"}", exp), NOW, &c);
    ck_assert(!c.admin);
    ck_assert_str_eq(c.prefix, "w:");
    auth_free(au);
}
END_TEST

START_TEST(prefix_claim_must_be_a_string_for_non_admin_tokens)
{
    auth_t *au = ed_auth(NULL, NULL, true, 60);
    long long exp = NOW + 60;
    claims_401(au, cl("{\"exp\":%lld}", exp), NOW, "token has no prefix claim");
    claims_401(au, cl("{\"exp\":%lld,\"prefix\":null}", exp), NOW, "prefix claim is null");
    const char *bad[] = {"5", "true", "[\"a\"]", "{\"p\":\"a\"}"};
    for (size_t i = 0; i < 4; i++)
        claims_401(au, cl("{\"exp\":%lld,\"prefix\":%s}", exp, bad[i]), NOW,
                   "prefix claim is not a string");
    auth_claims_t c;
    claims_ok(au, cl("{\"exp\":%lld,\"prefix\":\"\"}", exp), NOW, &c);
    ck_assert(c.has_prefix && !c.admin);
    ck_assert_str_eq(c.prefix, "");
    char longp[AUTH_PREFIX_MAX + 2];
    memset(longp, 'p', sizeof longp - 1);
    longp[AUTH_PREFIX_MAX] = '\0';
    claims_ok(au, cl("{\"exp\":%lld,\"prefix\":\"%s\"}", exp, longp), NOW, &c);
    ck_assert_uint_eq(strlen(c.prefix), AUTH_PREFIX_MAX);
    longp[AUTH_PREFIX_MAX] = 'p';
    longp[AUTH_PREFIX_MAX + 1] = '\0';
    claims_401(au, cl("{\"exp\":%lld,\"prefix\":\"%s\"}", exp, longp), NOW,
               "prefix claim longer than");
    /* Unicode escapes decode to the UTF-8 the resource ids will use. */
    claims_ok(au, cl("{\"exp\":%lld,\"prefix\":\"t\\u00e9n:\"}", exp), NOW, &c);
    ck_assert_str_eq(c.prefix, "t\xc3\xa9n:");
    auth_free(au);
}
END_TEST

/* ---- authorization ---- */

static auth_claims_t with_prefix(const char *p)
{
    auth_claims_t c;
    memset(&c, 0, sizeof c);
    c.has_prefix = true;
    snprintf(c.prefix, sizeof c.prefix, "%s", p);
    return c;
}

START_TEST(admin_and_empty_prefix_are_allowed_everything)
{
    auth_claims_t admin;
    memset(&admin, 0, sizeof admin);
    admin.admin = true;
    auth_claims_t all = with_prefix("");
    const char *ids[] = {"x", "tenantB:1", ""};
    char why[128];
    ck_assert_int_eq(auth_authorize(&admin, ids, 3, why, sizeof why), AUTH_OK);
    ck_assert_int_eq(auth_authorize(&admin, NULL, 0, why, sizeof why), AUTH_OK);
    ck_assert_int_eq(auth_authorize(&all, ids, 3, why, sizeof why), AUTH_OK);
    ck_assert_int_eq(auth_authorize(&all, NULL, 0, why, sizeof why), AUTH_OK);
}
END_TEST

START_TEST(prefix_must_start_every_resource_id)
{
    auth_claims_t c = with_prefix("tenantA:");
    char why[128] = "";
    const char *ok[] = {"tenantA:1", "tenantA:", "tenantA:x.y.z"};
    ck_assert_int_eq(auth_authorize(&c, ok, 3, why, sizeof why), AUTH_OK);
    ck_assert_int_eq(auth_authorize(&c, ok, 1, why, sizeof why), AUTH_OK);
    const char *one_bad[] = {"tenantA:1", "tenantB:2", "tenantA:3"};
    ck_assert_int_eq(auth_authorize(&c, one_bad, 3, why, sizeof why), AUTH_FORBIDDEN);
    ck_assert_str_eq(why, "outside prefix \"tenantA:\"");
    const char *near[] = {"TenantA:1"}, *shorter[] = {"tenantA"}, *empty[] = {""};
    ck_assert_int_eq(auth_authorize(&c, near, 1, why, sizeof why), AUTH_FORBIDDEN);
    ck_assert_int_eq(auth_authorize(&c, shorter, 1, why, sizeof why), AUTH_FORBIDDEN);
    ck_assert_int_eq(auth_authorize(&c, empty, 1, why, sizeof why), AUTH_FORBIDDEN);
    const char *with_null[] = {"tenantA:1", NULL};
    ck_assert_int_eq(auth_authorize(&c, with_null, 2, why, sizeof why), AUTH_FORBIDDEN);
    /* Plain byte prefix, no separator semantics. */
    auth_claims_t t = with_prefix("tenant");
    const char *other[] = {"tenant-b:x"};
    ck_assert_int_eq(auth_authorize(&t, other, 1, why, sizeof why), AUTH_OK);
}
END_TEST

START_TEST(operations_without_resource_ids_are_forbidden_for_prefixed_tokens)
{
    auth_claims_t c = with_prefix("tenantA:");
    char why[128] = "";
    ck_assert_int_eq(auth_authorize(&c, NULL, 0, why, sizeof why), AUTH_FORBIDDEN);
    ck_assert(strstr(why, "prefix \"tenantA:\"") != NULL);
    /* Claims that carry neither admin nor a prefix fail closed. */
    auth_claims_t none;
    memset(&none, 0, sizeof none);
    const char *ids[] = {"x"};
    ck_assert_int_eq(auth_authorize(&none, ids, 1, why, sizeof why), AUTH_FORBIDDEN);
    ck_assert_str_eq(why, "token has no prefix claim");
}
END_TEST

START_TEST(reasons_map_to_a_fixed_set_of_metric_labels)
{
    auth_t *au = ed_auth("iss", "aud", true, 0);
    struct {
        const char *token_claims, *label;
    } cases[] = {
        {"{\"exp\":1,\"iss\":\"iss\",\"aud\":\"aud\",\"prefix\":\"\"}", "expired"},
        {"{\"iss\":\"iss\",\"aud\":\"aud\",\"prefix\":\"\"}", "no_exp"},
        {"{\"exp\":\"x\",\"prefix\":\"\"}", "bad_claim"},
        {"{\"exp\":9999999999,\"iss\":\"other\",\"prefix\":\"\"}", "wrong_issuer"},
        {"{\"exp\":9999999999,\"iss\":\"iss\",\"aud\":\"x\",\"prefix\":\"\"}", "wrong_audience"},
        {"{\"exp\":9999999999,\"iss\":\"iss\",\"aud\":\"aud\"}", "no_prefix"},
        {"{\"exp\":9999999999,\"iss\":\"iss\",\"aud\":\"aud\",\"prefix\":1}", "bad_prefix"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = jws(NULL, cases[i].token_claims, K.ed, "EdDSA", 0), why[256];
        auth_claims_t c;
        ck_assert_int_eq(auth_verify(au, tok, NOW, &c, why, sizeof why), AUTH_UNAUTHORIZED);
        ck_assert_str_eq(auth_reason_label(why), cases[i].label);
        free(tok);
    }
    char why[256];
    auth_claims_t c;
    ck_assert_int_eq(auth_verify(au, NULL, NOW, &c, why, sizeof why), AUTH_UNAUTHORIZED);
    ck_assert_str_eq(auth_reason_label(why), "no_token");
    auth_claims_t p = with_prefix("a:");
    const char *ids[] = {"b:1"};
    ck_assert_int_eq(auth_authorize(&p, ids, 1, why, sizeof why), AUTH_FORBIDDEN);
    ck_assert_str_eq(auth_reason_label(why), "outside_prefix");
    ck_assert_str_eq(auth_reason_label("token revoked"), "revoked");
    ck_assert_str_eq(auth_reason_label("something else"), "other");
    ck_assert_str_eq(auth_reason_label(NULL), "other");
    auth_free(au);
}
END_TEST

/* ---- key files ---- */

static void expect_load_error(const char *file, const char *reason)
{
    auth_config_t cfg;
    auth_config_default(&cfg);
    cfg.publickey_path = file;
    char err[512] = "";
    auth_t *au = auth_new(&cfg, err, sizeof err);
    ck_assert_msg(au == NULL, "%s loaded", file);
    ck_assert_msg(strstr(err, reason) != NULL, "error \"%s\" lacks \"%s\"", err, reason);
}

START_TEST(pem_file_with_several_keys_verifies_tokens_of_each)
{
    char *a = pub_pem(K.rsa), *b = pub_pem(K.p256), *c = pub_pem(K.ed), *d = pub_pem(K.ed2);
    char all[8192];
    snprintf(all, sizeof all, "# rotated keys\n%s\n%s%s%s", a, b, c, d);
    write_str(path("multi.pem"), all);
    auth_t *au = open_auth(path("multi.pem"));
    char desc[256];
    auth_describe(au, desc, sizeof desc);
    ck_assert_str_eq(desc, "4 keys: RSA-2048, EC P-256, Ed25519, Ed25519");
    EVP_PKEY *signers[] = {K.rsa, K.p256, K.ed, K.ed2};
    const char *algs[] = {"RS256", "ES256", "EdDSA", "EdDSA"};
    for (int i = 0; i < 4; i++) {
        char *tok = jws(NULL, GOOD_CLAIMS, signers[i], algs[i], 0);
        expect_ok(au, tok, NOW, NULL);
        free(tok);
    }
    char *tok = jws(NULL, GOOD_CLAIMS, K.rsa2, "RS256", 0);
    expect_401(au, tok, NOW, "bad signature");
    /* PEM keys carry no kid, so a token's kid cannot exclude them. */
    char *kid = jws("{\"alg\":\"EdDSA\",\"kid\":\"2024-01\"}", GOOD_CLAIMS, K.ed2, "EdDSA", 0);
    expect_ok(au, kid, NOW, NULL);
    free(a), free(b), free(c), free(d), free(tok), free(kid);
    auth_free(au);
}
END_TEST

START_TEST(pkcs1_rsa_public_keys_and_certificates_load)
{
    char *pkcs1 = type_specific_pem(K.rsa, EVP_PKEY_PUBLIC_KEY);
    ck_assert(strstr(pkcs1, "BEGIN RSA PUBLIC KEY") != NULL);
    write_str(path("pkcs1.pem"), pkcs1);
    auth_t *au = open_auth(path("pkcs1.pem"));
    char *tok = jws(NULL, GOOD_CLAIMS, K.rsa, "RS256", 0);
    expect_ok(au, tok, NOW, NULL);
    auth_free(au);

    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, K.p256);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"resonate", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    ck_assert_int_gt(X509_sign(x, K.p256, EVP_sha256()), 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    X509_free(x);
    char *cert = bio_string(b);
    write_str(path("cert.pem"), cert);
    au = open_auth(path("cert.pem"));
    char *etok = jws(NULL, GOOD_CLAIMS, K.p256, "ES256", 0);
    expect_ok(au, etok, NOW, NULL);
    auth_free(au);
    free(pkcs1), free(tok), free(cert), free(etok);
}
END_TEST

START_TEST(unusable_key_files_fail_with_the_reason)
{
    expect_load_error(path("missing.pem"), "Failed to read public key file");
    expect_load_error("", "no public key file configured");
    write_str(path("empty.pem"), "");
    expect_load_error(path("empty.pem"), "Unsupported or invalid public key");
    write_str(path("garbage.pem"), "this is not a key\n");
    expect_load_error(path("garbage.pem"), "Unsupported or invalid public key");
    expect_load_error(path("rsa.key"), "is a private key");
    write_str(path("badb64.pem"), "-----BEGIN PUBLIC KEY-----\n@@@@\n-----END PUBLIC KEY-----\n");
    expect_load_error(path("badb64.pem"), "malformed");
    write_str(path("notkey.pem"), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    expect_load_error(path("notkey.pem"), "does not hold a valid key");

    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    write_pub(small, "rsa1024.pub");
    expect_load_error(path("rsa1024.pub"), "too small");
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    write_pub(k1, "k1.pub");
    expect_load_error(path("k1.pub"), "unsupported EC curve");
    EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    write_pub(x25519, "x25519.pub");
    expect_load_error(path("x25519.pub"), "unsupported key type");
    /* One bad key spoils the file: no silent partial loads. */
    char *good = pub_pem(K.ed), *bad = pub_pem(small), both[8192];
    snprintf(both, sizeof both, "%s%s", good, bad);
    write_str(path("mixed.pem"), both);
    expect_load_error(path("mixed.pem"), "PEM block 2");
    EVP_PKEY_free(small), EVP_PKEY_free(k1), EVP_PKEY_free(x25519);
    free(good), free(bad);
}
END_TEST

static char *bn_b64(const BIGNUM *bn, int pad)
{
    unsigned char buf[600];
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    return b64(buf, (size_t)n);
}

/* The public JWK of k as a JSON object (new reference). */
static json_t *jwk_of(EVP_PKEY *k, const char *kid)
{
    json_t *j = json_object();
    char *a = NULL, *b = NULL;
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        BIGNUM *n = NULL, *e = NULL;
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
        a = bn_b64(n, 0), b = bn_b64(e, 0);
        json_object_set_new(j, "kty", json_string("RSA"));
        json_object_set_new(j, "n", json_string(a));
        json_object_set_new(j, "e", json_string(b));
        BN_free(n), BN_free(e);
    } else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
        BIGNUM *x = NULL, *y = NULL;
        int clen = EVP_PKEY_get_bits(k) / 8;
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x);
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
        a = bn_b64(x, clen), b = bn_b64(y, clen);
        json_object_set_new(j, "kty", json_string("EC"));
        json_object_set_new(j, "crv", json_string(clen == 32 ? "P-256" : "P-384"));
        json_object_set_new(j, "x", json_string(a));
        json_object_set_new(j, "y", json_string(b));
        BN_free(x), BN_free(y);
    } else {
        unsigned char raw[32];
        size_t n = sizeof raw;
        EVP_PKEY_get_raw_public_key(k, raw, &n);
        a = b64(raw, n);
        json_object_set_new(j, "kty", json_string("OKP"));
        json_object_set_new(j, "crv", json_string("Ed25519"));
        json_object_set_new(j, "x", json_string(a));
    }
    if (kid)
        json_object_set_new(j, "kid", json_string(kid));
    free(a), free(b);
    return j;
}

static void write_jwks(const char *name, json_t *keys)
{
    json_t *root = json_pack("{s:o}", "keys", keys);
    char *s = json_dumps(root, JSON_INDENT(2));
    write_str(path(name), s);
    free(s);
    json_decref(root);
}

START_TEST(jwks_loads_rsa_ec_and_okp_keys_and_kid_selects_the_key)
{
    json_t *keys = json_array();
    json_array_append_new(keys, jwk_of(K.rsa, "r1"));
    json_array_append_new(keys, jwk_of(K.p256, "e256"));
    json_array_append_new(keys, jwk_of(K.p384, "e384"));
    json_array_append_new(keys, jwk_of(K.ed, "ed-a"));
    json_array_append_new(keys, jwk_of(K.ed2, "ed-b"));
    /* Keys we never verify with are skipped, not fatal. */
    json_array_append_new(
        keys, json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "hmac", "k", "c2VjcmV0"));
    json_t *enc = jwk_of(K.rsa2, "enc");
    json_object_set_new(enc, "use", json_string("enc"));
    json_array_append_new(keys, enc);
    write_jwks("keys.jwks", keys);
    auth_t *au = open_auth(path("keys.jwks"));
    char desc[256];
    auth_describe(au, desc, sizeof desc);
    ck_assert_str_eq(desc, "5 keys: RSA-2048 (kid r1), EC P-256 (kid e256), EC P-384 (kid e384), "
                           "Ed25519 (kid ed-a), Ed25519 (kid ed-b)");
    struct {
        const char *kid, *alg;
        EVP_PKEY **k;
    } good[] = {{"r1", "RS256", &K.rsa},    {"r1", "PS512", &K.rsa},  {"e256", "ES256", &K.p256},
                {"e384", "ES384", &K.p384}, {"ed-a", "EdDSA", &K.ed}, {"ed-b", "EdDSA", &K.ed2},
                {NULL, "ES384", &K.p384},   {NULL, "EdDSA", &K.ed2}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char header[96];
        if (good[i].kid)
            snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\"}", good[i].alg,
                     good[i].kid);
        else
            snprintf(header, sizeof header, "{\"alg\":\"%s\"}", good[i].alg);
        char *tok = jws(header, GOOD_CLAIMS, *good[i].k, good[i].alg, 0);
        expect_ok(au, tok, NOW, NULL);
        free(tok);
    }
    /* The kid names the other Ed25519 key: that key alone is tried. */
    char *t1 = jws("{\"alg\":\"EdDSA\",\"kid\":\"ed-b\"}", GOOD_CLAIMS, K.ed, "EdDSA", 0);
    expect_401(au, t1, NOW, "bad signature");
    char *t2 = jws("{\"alg\":\"ES256\",\"kid\":\"r1\"}", GOOD_CLAIMS, K.p256, "ES256", 0);
    expect_401(au, t2, NOW, "algorithm ES256 does not fit the RSA key");
    char *t3 = jws("{\"alg\":\"EdDSA\",\"kid\":\"nope\"}", GOOD_CLAIMS, K.ed, "EdDSA", 0);
    expect_401(au, t3, NOW, "unknown key id \"nope\"");
    char *t4 = jws("{\"alg\":\"RS256\",\"kid\":\"enc\"}", GOOD_CLAIMS, K.rsa2, "RS256", 0);
    expect_401(au, t4, NOW, "unknown key id");
    char *t5 = jws("{\"alg\":\"HS256\",\"kid\":\"hmac\"}", GOOD_CLAIMS, K.ed, "EdDSA", 0);
    expect_401(au, t5, NOW, "unsupported algorithm \"HS256\"");
    free(t1), free(t2), free(t3), free(t4), free(t5);
    auth_free(au);
}
END_TEST

START_TEST(jwk_alg_member_restricts_the_key_to_that_algorithm)
{
    json_t *k = jwk_of(K.rsa, "r");
    json_object_set_new(k, "alg", json_string("RS256"));
    json_t *keys = json_array();
    json_array_append_new(keys, k);
    write_jwks("restricted.jwks", keys);
    auth_t *au = open_auth(path("restricted.jwks"));
    char *ok = jws(NULL, GOOD_CLAIMS, K.rsa, "RS256", 0);
    char *pss = jws(NULL, GOOD_CLAIMS, K.rsa, "PS256", 0);
    expect_ok(au, ok, NOW, NULL);
    expect_401(au, pss, NOW, "algorithm PS256 does not fit the RSA key");
    free(ok), free(pss);
    auth_free(au);
    /* A single JWK (not a set) is accepted as a one-key set. */
    json_t *one = jwk_of(K.ed, NULL);
    char *s = json_dumps(one, 0);
    write_str(path("one.jwk"), s);
    au = open_auth(path("one.jwk"));
    char *tok = jws(NULL, GOOD_CLAIMS, K.ed, "EdDSA", 0);
    expect_ok(au, tok, NOW, NULL);
    auth_free(au);
    free(s), free(tok);
    json_decref(one);
}
END_TEST

/* Both read "Failed to read public key file '...': read error". */
START_TEST(a_directory_as_the_key_file_is_named_with_the_setting_and_what_to_give)
{
    ck_assert_int_eq(mkdir(path("keys.d"), 0700), 0);
    char want[256];
    snprintf(want, sizeof want,
             "public key file '%s' is a directory, not a file: set auth.publickey to the key "
             "file itself (a PEM public key, or a JWKS .json file)",
             path("keys.d"));
    expect_load_error(path("keys.d"), want);
    ck_assert_int_eq(rmdir(path("keys.d")), 0);
}
END_TEST

/* It read "Unsupported or invalid public key in '...'. Supported types: ...",
 * as if the keys in it were of the wrong kind. */
START_TEST(an_empty_jwks_says_it_holds_no_key_and_what_to_add)
{
    write_str(path("empty.json"), "{\"keys\": []}");
    expect_load_error(path("empty.json"),
                      "the JWKS holds no key (its keys array is empty), so no token could be "
                      "verified: add the public key that signs the tokens (a JWK of kty RSA, EC "
                      "P-256/P-384 or OKP Ed25519), or point auth.publickey at a PEM public key");
}
END_TEST

START_TEST(malformed_jwks_files_fail_with_the_reason)
{
    write_str(path("bad.json"), "{\"keys\": [");
    expect_load_error(path("bad.json"), "not valid JSON");
    write_str(path("nokeys.json"), "{\"issuer\": \"x\"}");
    expect_load_error(path("nokeys.json"), "neither a JWKS");
    write_str(path("oct.json"), "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}");
    expect_load_error(path("oct.json"), "Unsupported or invalid public key");

    json_t *rsa = jwk_of(K.rsa, "r");
    json_object_set_new(rsa, "n", json_string("not+base64url"));
    json_t *keys = json_array();
    json_array_append_new(keys, rsa);
    write_jwks("badn.jwks", keys);
    expect_load_error(path("badn.jwks"), "malformed RSA key");

    json_t *ec = jwk_of(K.p256, "e");
    json_object_set(ec, "y", json_object_get(ec, "x")); /* (x, x) is not on the curve */
    keys = json_array();
    json_array_append_new(keys, ec);
    write_jwks("offcurve.jwks", keys);
    expect_load_error(path("offcurve.jwks"), "malformed EC key");

    json_t *ec2 = jwk_of(K.p384, "e");
    json_object_set_new(ec2, "crv", json_string("P-256")); /* coordinates too long */
    keys = json_array();
    json_array_append_new(keys, ec2);
    write_jwks("crv.jwks", keys);
    expect_load_error(path("crv.jwks"), "malformed EC key");

    json_t *kid = jwk_of(K.ed, NULL);
    json_object_set_new(kid, "kid", json_integer(1));
    keys = json_array();
    json_array_append_new(keys, kid);
    write_jwks("kidnum.jwks", keys);
    expect_load_error(path("kidnum.jwks"), "must be strings");

    json_t *mis = jwk_of(K.ed, "x");
    json_object_set_new(mis, "alg", json_string("RS256"));
    keys = json_array();
    json_array_append_new(keys, mis);
    write_jwks("misfit.jwks", keys);
    expect_load_error(path("misfit.jwks"), "alg RS256 does not fit the key");
}
END_TEST

/* ---- cache ---- */

START_TEST(a_repeated_token_costs_one_signature_verification)
{
    auth_t *au = open_auth(path("rsa.pub"));
    char *tok = jws(NULL, GOOD_CLAIMS, K.rsa, "RS256", 0);
    auth_claims_t a, b;
    expect_ok(au, tok, NOW, &a);
    expect_ok(au, tok, NOW + 1, &b);
    expect_ok(au, tok, NOW + 2, &b);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    auth_stats_t st;
    auth_stats(au, &st);
    ck_assert_uint_eq(st.verifications, 1);
    ck_assert_uint_eq(st.cache_hits, 2);
    free(tok);
    auth_free(au);
}
END_TEST

START_TEST(cached_tokens_still_expire_and_respect_nbf)
{
    auth_t *au = ed_auth(NULL, NULL, true, 60);
    char *tok = jws(NULL, cl("{\"exp\":%lld,\"nbf\":%lld,\"prefix\":\"\"}", NOW + 10, NOW), K.ed,
                    "EdDSA", 0);
    expect_ok(au, tok, NOW, NULL);
    expect_ok(au, tok, NOW + 70, NULL); /* inside the leeway: a hit */
    /* A clock that reads earlier than nbf - leeway rejects the cached token. */
    expect_401(au, tok, NOW - 61, "token not yet valid");
    auth_stats_t st;
    auth_stats(au, &st);
    ck_assert_uint_eq(st.verifications, 1);
    ck_assert_uint_eq(st.cache_hits, 2);
    expect_401(au, tok, NOW + 71, "token expired");
    expect_401(au, tok, NOW + 72, "token expired");
    auth_stats(au, &st);
    ck_assert_uint_eq(st.rejected, 3);
    free(tok);
    auth_free(au);
}
END_TEST

START_TEST(failures_are_never_cached)
{
    auth_t *au = open_auth(path("ed.pub"));
    char *bad = jws(NULL, GOOD_CLAIMS, K.ed2, "EdDSA", 0);
    expect_401(au, bad, NOW, "bad signature");
    expect_401(au, bad, NOW, "bad signature");
    char *early = jws(NULL, cl("{\"exp\":%lld,\"nbf\":%lld,\"prefix\":\"\"}", NOW + 999, NOW + 500),
                      K.ed, "EdDSA", 0);
    expect_401(au, early, NOW, "token not yet valid");
    expect_ok(au, early, NOW + 500, NULL);
    auth_stats_t st;
    auth_stats(au, &st);
    ck_assert_uint_eq(st.verifications, 4);
    ck_assert_uint_eq(st.cache_hits, 0);
    free(bad), free(early);
    auth_free(au);
}
END_TEST

START_TEST(cache_is_bounded)
{
    auth_config_t cfg;
    auth_config_default(&cfg);
    cfg.publickey_path = path("ed.pub");
    cfg.cache_size = 8;
    auth_t *au = open_auth_cfg(&cfg);
    char *toks[100];
    for (int i = 0; i < 100; i++) {
        toks[i] =
            jws(NULL, cl("{\"exp\":%lld,\"prefix\":\"t%d:\"}", NOW + 60, i), K.ed, "EdDSA", 0);
        expect_ok(au, toks[i], NOW, NULL);
    }
    for (int i = 0; i < 100; i++) {
        auth_claims_t c;
        expect_ok(au, toks[i], NOW, &c);
        char want[16];
        snprintf(want, sizeof want, "t%d:", i);
        ck_assert_str_eq(c.prefix, want);
        free(toks[i]);
    }
    auth_stats_t st;
    auth_stats(au, &st);
    ck_assert_uint_le(st.cache_hits, 8);
    ck_assert_uint_eq(st.verifications + st.cache_hits, 200);
    auth_free(au);
}
END_TEST

/* ---- reload ---- */

START_TEST(reload_swaps_keys_and_forgets_cached_tokens)
{
    write_pub(K.ed, "rot.pub");
    auth_t *au = open_auth(path("rot.pub"));
    char *a = jws(NULL, GOOD_CLAIMS, K.ed, "EdDSA", 0),
         *b = jws(NULL, GOOD_CLAIMS, K.p256, "ES256", 0);
    expect_ok(au, a, NOW, NULL);
    expect_401(au, b, NOW, "does not fit");
    write_pub(K.p256, "rot.pub");
    char err[256] = "";
    ck_assert_msg(auth_reload(au, err, sizeof err) == 0, "%s", err);
    expect_401(au, a, NOW, "algorithm EdDSA does not fit the EC P-256 key");
    expect_ok(au, b, NOW, NULL);
    auth_stats_t st;
    auth_stats(au, &st);
    ck_assert_uint_eq(st.reloads, 1);
    ck_assert_uint_eq(st.cache_hits, 0);
    free(a), free(b);
    auth_free(au);
}
END_TEST

START_TEST(failed_reload_keeps_the_old_keys)
{
    write_pub(K.rsa, "keep.pub");
    auth_t *au = open_auth(path("keep.pub"));
    char *tok = jws(NULL, GOOD_CLAIMS, K.rsa, "PS384", 0);
    expect_ok(au, tok, NOW, NULL);
    char err[256] = "";
    write_str(path("keep.pub"), "garbage\n");
    ck_assert_int_eq(auth_reload(au, err, sizeof err), -1);
    ck_assert(strstr(err, "Unsupported or invalid public key") != NULL);
    ck_assert(strstr(err, "keep.pub") != NULL);
    unlink(path("keep.pub"));
    ck_assert_int_eq(auth_reload(au, err, sizeof err), -1);
    ck_assert(strstr(err, "Failed to read public key file") != NULL);
    char desc[128];
    auth_describe(au, desc, sizeof desc);
    ck_assert_str_eq(desc, "1 key: RSA-2048");
    /* Verified afresh (not from the cache) with the old key. */
    char *fresh = jws(NULL, GOOD_CLAIMS, K.rsa, "RS512", 0);
    expect_ok(au, fresh, NOW, NULL);
    expect_ok(au, tok, NOW, NULL);
    auth_stats_t st;
    auth_stats(au, &st);
    ck_assert_uint_eq(st.reloads, 0);
    ck_assert_uint_eq(st.verifications, 2);
    free(tok), free(fresh);
    auth_free(au);
}
END_TEST

typedef struct {
    auth_t *au;
    char *toks[4];
    int failures;
} race_t;

static void *race_verify(void *arg)
{
    race_t *r = arg;
    for (int i = 0; i < 400; i++) {
        char why[256];
        auth_claims_t c;
        if (auth_verify(r->au, r->toks[i % 4], NOW, &c, why, sizeof why) != AUTH_OK)
            __atomic_fetch_add(&r->failures, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

START_TEST(concurrent_verification_survives_reloads)
{
    char *a = pub_pem(K.ed), *b = pub_pem(K.p256), both[4096];
    snprintf(both, sizeof both, "%s%s", a, b);
    write_str(path("race.pem"), both);
    auth_config_t cfg;
    auth_config_default(&cfg);
    cfg.publickey_path = path("race.pem");
    cfg.cache_size = 2; /* force misses alongside hits */
    race_t r = {.au = open_auth_cfg(&cfg)};
    for (int i = 0; i < 4; i++)
        r.toks[i] =
            i % 2 ? jws(NULL, cl("{\"exp\":%lld,\"prefix\":\"%d\"}", NOW + 60, i), K.ed, "EdDSA", 0)
                  : jws(NULL, cl("{\"exp\":%lld,\"prefix\":\"%d\"}", NOW + 60, i), K.p256, "ES256",
                        0);
    pthread_t th[6];
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_verify, &r), 0);
    char err[256];
    for (int i = 0; i < 30; i++)
        ck_assert_msg(auth_reload(r.au, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(r.failures, 0);
    auth_stats_t st;
    auth_stats(r.au, &st);
    ck_assert_uint_eq(st.verifications + st.cache_hits, 2400);
    ck_assert_uint_eq(st.reloads, 30);
    for (int i = 0; i < 4; i++)
        free(r.toks[i]);
    free(a), free(b);
    auth_free(r.au);
}
END_TEST

/* ---- minting ---- */

START_TEST(mint_writes_the_requested_claims_and_header)
{
    auth_mint_opts_t o = {.prefix = "worker-1",
                          .role = "worker",
                          .iss = "resonate",
                          .aud = "api",
                          .sub = "w1",
                          .kid = "k-2024",
                          .ttl_s = 3600,
                          .now_s = NOW};
    char *tok = mint("ed.key", &o);
    json_t *h = segment_json(tok, 0), *c = segment_json(tok, 1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "EdDSA");
    ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
    ck_assert_str_eq(json_string_value(json_object_get(h, "kid")), "k-2024");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "iat")), NOW);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "exp")), NOW + 3600);
    ck_assert_str_eq(json_string_value(json_object_get(c, "prefix")), "worker-1");
    ck_assert_str_eq(json_string_value(json_object_get(c, "role")), "worker");
    ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), "resonate");
    ck_assert_str_eq(json_string_value(json_object_get(c, "aud")), "api");
    ck_assert_str_eq(json_string_value(json_object_get(c, "sub")), "w1");
    /* A random jti by default: 128 bits of base64url. */
    char jti[64];
    ck_assert_ptr_nonnull(json_string_value(json_object_get(c, "jti")));
    snprintf(jti, sizeof jti, "%s", json_string_value(json_object_get(c, "jti")));
    ck_assert_uint_eq(strlen(jti), 22);
    ck_assert_uint_eq(json_object_size(c), 8);
    auth_t *au = ed_auth("resonate", "api", true, 60);
    auth_claims_t cl_;
    expect_ok(au, tok, NOW, &cl_);
    ck_assert_str_eq(cl_.prefix, "worker-1");
    json_decref(h), json_decref(c);
    free(tok);
    /* Two tokens never share the random jti; --jti sets it, "" leaves it
     * out. */
    char *again = mint("ed.key", &o);
    json_t *c2 = segment_json(again, 1);
    ck_assert_str_ne(json_string_value(json_object_get(c2, "jti")), jti);
    json_decref(c2);
    free(again);
    o.jti = "leak-42";
    again = mint("ed.key", &o);
    c2 = segment_json(again, 1);
    ck_assert_str_eq(json_string_value(json_object_get(c2, "jti")), "leak-42");
    json_decref(c2);
    free(again);
    /* Empty options but no jti: iat only, so a verifier requiring exp
     * refuses it. */
    auth_mint_opts_t bare = {.now_s = NOW, .jti = ""};
    tok = mint("ed.key", &bare);
    c = segment_json(tok, 1);
    ck_assert_uint_eq(json_object_size(c), 1);
    json_decref(c);
    auth_t *plain = open_auth(path("ed.pub"));
    expect_401(plain, tok, NOW, "token has no exp claim");
    free(tok);
    /* Admin needs no prefix; current time is used when now_s is 0. */
    auth_mint_opts_t admin = {.role = "admin", .ttl_s = 60};
    tok = mint("ed.key", &admin);
    expect_ok(plain, tok, (int64_t)time(NULL), &cl_);
    ck_assert(cl_.admin);
    free(tok);
    auth_free(au);
    auth_free(plain);
}
END_TEST

START_TEST(mint_chooses_the_algorithm_from_the_key)
{
    const char *keys[] = {"rsa.key", "p256.key", "p384.key", "ed.key"};
    const char *algs[] = {"RS256", "ES256", "ES384", "EdDSA"};
    for (int i = 0; i < 4; i++) {
        auth_mint_opts_t o = {.prefix = "", .ttl_s = 60, .now_s = NOW};
        char *tok = mint(keys[i], &o);
        json_t *h = segment_json(tok, 0);
        ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), algs[i]);
        json_decref(h);
        free(tok);
    }
}
END_TEST

START_TEST(mint_reads_traditional_private_key_pems)
{
    EVP_PKEY *keys[] = {K.rsa, K.p384};
    const char *labels[] = {"BEGIN RSA PRIVATE KEY", "BEGIN EC PRIVATE KEY"};
    const char *pubs[] = {"rsa.pub", "p384.pub"};
    for (int i = 0; i < 2; i++) {
        char *pem = type_specific_pem(keys[i], EVP_PKEY_KEYPAIR);
        ck_assert_msg(strstr(pem, labels[i]) != NULL, "%s", pem);
        write_str(path("trad.key"), pem);
        auth_mint_opts_t o = {.prefix = "", .ttl_s = 60, .now_s = NOW};
        char *tok = mint("trad.key", &o);
        auth_t *au = open_auth(path(pubs[i]));
        expect_ok(au, tok, NOW, NULL);
        auth_free(au);
        free(tok), free(pem);
    }
}
END_TEST

static void expect_mint_error(const char *file, const auth_mint_opts_t *o, const char *reason)
{
    char err[256] = "", *tok = (char *)"untouched";
    ck_assert_int_eq(auth_mint(file, o, &tok, err, sizeof err), -1);
    ck_assert_ptr_null(tok);
    ck_assert_msg(strstr(err, reason) != NULL, "error \"%s\" lacks \"%s\"", err, reason);
}

START_TEST(mint_refuses_what_it_cannot_sign_properly)
{
    auth_mint_opts_t es = {.alg = "ES256"}, hs = {.alg = "HS256"}, none = {.alg = "none"};
    auth_mint_opts_t es384 = {.alg = "ES384"};
    expect_mint_error(path("missing.key"), NULL, "Failed to read private key file");
    expect_mint_error(path("ed.pub"), NULL, "no unencrypted private key");
    expect_mint_error(path("rsa.key"), &es, "algorithm ES256 cannot be used with this key");
    expect_mint_error(path("p256.key"), &es384, "algorithm ES384 cannot be used");
    expect_mint_error(path("rsa.key"), &hs, "algorithm HS256 cannot be used");
    expect_mint_error(path("ed.key"), &none, "algorithm none cannot be used");
    /* Encrypted keys are refused without prompting for a passphrase. */
    BIO *b = BIO_new(BIO_s_mem());
    ck_assert_int_eq(
        PEM_write_bio_PKCS8PrivateKey(b, K.ed, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"secret"),
        1);
    char *enc = bio_string(b);
    write_str(path("enc.key"), enc);
    expect_mint_error(path("enc.key"), NULL, "no unencrypted private key");
    /* A token the verifier would refuse as too large is not minted. */
    char *big = malloc(AUTH_MAX_TOKEN);
    memset(big, 'x', AUTH_MAX_TOKEN - 1);
    big[AUTH_MAX_TOKEN - 1] = '\0';
    auth_mint_opts_t huge = {.prefix = big};
    expect_mint_error(path("ed.key"), &huge, "exceeds");
    free(enc), free(big);
}
END_TEST

/* ---- unsigned mode ---- */

START_TEST(unsigned_mode_skips_signatures_but_keeps_every_other_rule)
{
    auth_t *au = open_auth("none");
    ck_assert(auth_is_unsigned(au));
    char desc[64], err[64];
    auth_describe(au, desc, sizeof desc);
    ck_assert(strstr(desc, "unsigned") != NULL);
    ck_assert_int_eq(auth_reload(au, err, sizeof err), 0);
    char *tok = jws(NULL, GOOD_CLAIMS, K.rsa2, "RS256", 0);
    auth_claims_t c;
    expect_ok(au, tok, NOW, &c);
    ck_assert_str_eq(c.prefix, "tenantA:");
    char *hs = jws_hmac("HS256", GOOD_CLAIMS, "k", 1);
    expect_ok(au, hs, NOW, NULL);
    char *none = jws(NULL, GOOD_CLAIMS, NULL, "none", 0);
    expect_401(au, none, NOW, "unsupported algorithm \"none\"");
    char *old = jws(NULL, cl("{\"exp\":%lld,\"prefix\":\"\"}", NOW - 100), K.ed, "EdDSA", 0);
    expect_401(au, old, NOW, "token expired");
    char *nopfx = jws(NULL, cl("{\"exp\":%lld}", NOW + 100), K.ed, "EdDSA", 0);
    expect_401(au, nopfx, NOW, "token has no prefix claim");
    free(tok), free(hs), free(none), free(old), free(nopfx);
    auth_free(au);
}
END_TEST

/* ---- vectors minted by the jose npm package ---- */

static char *vector_key_file(json_t *v, int i)
{
    const char *pem = json_string_value(json_object_get(v, "publicKeyPem"));
    const char *jwks = json_string_value(json_object_get(v, "jwks"));
    char name[32];
    snprintf(name, sizeof name, "vector-%d.key", i);
    char *p = path(name);
    write_str(p, pem ? pem : jwks ? jwks : "");
    return p;
}

START_TEST(jose_vectors_get_the_expected_outcome)
{
    const char *file = getenv("RESONATE_JOSE_VECTORS");
    if (!file || !*file) {
        printf("auth: RESONATE_JOSE_VECTORS unset; skipping the jose vectors "
               "(node tests/auth/jose-vectors.mjs OUT.json to make them)\n");
        fflush(stdout);
        return;
    }
    json_error_t jerr;
    json_t *root = json_load_file(file, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", file, jerr.text);
    json_t *vectors = json_object_get(root, "vectors");
    ck_assert_msg(json_array_size(vectors) >= 20, "too few vectors in %s", file);
    int failures = 0;
    size_t i;
    json_t *v;
    json_array_foreach(vectors, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *token = json_string_value(json_object_get(v, "token"));
        json_t *expect = json_object_get(v, "expect");
        const char *reason = json_string_value(json_object_get(v, "reason"));
        auth_config_t cfg;
        auth_config_default(&cfg);
        cfg.publickey_path = vector_key_file(v, (int)i);
        cfg.iss = json_string_value(json_object_get(v, "iss"));
        cfg.aud = json_string_value(json_object_get(v, "aud"));
        if (json_is_false(json_object_get(v, "requireExp")))
            cfg.require_exp = false;
        char err[512] = "", why[256] = "";
        auth_t *au = auth_new(&cfg, err, sizeof err);
        if (!au) {
            printf("vector %s: auth_new failed: %s\n", name, err);
            failures++;
            continue;
        }
        auth_claims_t c;
        auth_status_t st = auth_verify(au, token, json_integer_value(json_object_get(v, "now")), &c,
                                       why, sizeof why);
        bool want_ok = json_is_string(expect) && strcmp(json_string_value(expect), "ok") == 0;
        int want = want_ok ? AUTH_OK : (int)json_integer_value(expect);
        if ((int)st != want) {
            printf("vector %s: status %d (%s), want %d\n", name, st, why, want);
            failures++;
        } else if (!want_ok && reason && !strstr(why, reason)) {
            printf("vector %s: reason \"%s\" lacks \"%s\"\n", name, why, reason);
            failures++;
        } else if (want_ok) {
            const char *prefix = json_string_value(json_object_get(v, "prefix"));
            bool admin = json_is_true(json_object_get(v, "admin"));
            if (c.admin != admin || (prefix && strcmp(c.prefix, prefix) != 0)) {
                printf("vector %s: claims admin=%d prefix=\"%s\"\n", name, c.admin, c.prefix);
                failures++;
            }
        }
        auth_free(au);
        fflush(stdout); /* a failing check ends the forked test abruptly */
    }
    printf("auth: %zu jose vectors, %d failed\n", json_array_size(vectors), failures);
    fflush(stdout);
    json_decref(root);
    ck_assert_int_eq(failures, 0);
}
END_TEST

/* ---- revocation ---- */

static auth_t *revoking_auth(const char *list)
{
    write_pub(K.ed, "rev.pub");
    write_str(path("rev.list"), list);
    auth_config_t cfg;
    auth_config_default(&cfg);
    cfg.publickey_path = path("rev.pub");
    cfg.revoked_path = path("rev.list");
    return open_auth_cfg(&cfg);
}

static char *ed_token(const char *claims)
{
    return jws(NULL, claims, K.ed, "EdDSA", 0);
}

START_TEST(each_revocation_entry_kind_revokes_exactly_what_it_names)
{
    auth_t *au = revoking_auth("# leaked on 2026-12-01\n"
                               "jti leaked-1\n"
                               "sub mallory\n"
                               "sub bob before 1699999000   # bob's laptop was stolen\n");
    const long long exp = NOW + 3600;
    char *jti_hit = ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"jti\":\"leaked-1\"}", exp));
    char *jti_other = ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"jti\":\"leaked-2\"}", exp));
    char *sub_any =
        ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"sub\":\"mallory\",\"iat\":%lld}", exp, NOW));
    char *sub_close = ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"sub\":\"mallory2\"}", exp));
    char *bob_old =
        ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"sub\":\"bob\",\"iat\":1699998999}", exp));
    char *bob_at =
        ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"sub\":\"bob\",\"iat\":1699999000}", exp));
    char *bob_no_iat = ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"sub\":\"bob\"}", exp));
    char *bob_bad_iat =
        ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"sub\":\"bob\",\"iat\":\"x\"}", exp));
    char *admin_mallory =
        ed_token(cl("{\"exp\":%lld,\"role\":\"admin\",\"sub\":\"mallory\"}", exp));
    char *expired_revoked = ed_token("{\"exp\":1,\"prefix\":\"\",\"jti\":\"leaked-1\"}");
    expect_401(au, jti_hit, NOW, "token revoked");
    expect_ok(au, jti_other, NOW, NULL);
    expect_401(au, sub_any, NOW, "token revoked");
    expect_ok(au, sub_close, NOW, NULL);
    expect_401(au, bob_old, NOW, "token revoked");
    expect_ok(au, bob_at, NOW, NULL);
    expect_401(au, bob_no_iat, NOW, "token revoked");  /* safest reading */
    expect_401(au, bob_bad_iat, NOW, "token revoked"); /* an unreadable iat is none */
    expect_401(au, admin_mallory, NOW, "token revoked");
    expect_401(au, expired_revoked, NOW, "token revoked"); /* the reason that matters */
    char desc[64];
    auth_revoked_describe(au, desc, sizeof desc);
    ck_assert_str_eq(desc, "1 jti, 2 sub");
    free(jti_hit), free(jti_other), free(sub_any), free(sub_close), free(bob_old);
    free(bob_at), free(bob_no_iat), free(bob_bad_iat), free(admin_mallory), free(expired_revoked);
    auth_free(au);
}
END_TEST

START_TEST(a_reloaded_revocation_list_applies_to_cached_tokens_at_once)
{
    auth_t *au = revoking_auth("");
    char *tok =
        ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"jti\":\"j1\",\"sub\":\"s1\"}", NOW + 3600));
    expect_ok(au, tok, NOW, NULL);
    expect_ok(au, tok, NOW, NULL); /* now cached */
    auth_stats_t st;
    auth_stats(au, &st);
    ck_assert_uint_eq(st.cache_hits, 1);
    char err[256] = "";
    write_str(path("rev.list"), "jti j1\n");
    ck_assert_msg(auth_revoked_reload(au, err, sizeof err) == 0, "%s", err);
    expect_401(au, tok, NOW, "token revoked");
    expect_401(au, tok, NOW, "token revoked"); /* failures are never cached as successes */
    /* Taken off the list again: valid again. */
    write_str(path("rev.list"), "# nothing\n");
    ck_assert_msg(auth_revoked_reload(au, err, sizeof err) == 0, "%s", err);
    expect_ok(au, tok, NOW, NULL);
    /* A key reload does not forget the list. */
    write_str(path("rev.list"), "sub s1\n");
    ck_assert_msg(auth_revoked_reload(au, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(auth_reload(au, err, sizeof err) == 0, "%s", err);
    expect_401(au, tok, NOW, "token revoked");
    free(tok);
    auth_free(au);
}
END_TEST

/* What the reload's shrink warning compares (serve.c). */
START_TEST(revoked_entries_counts_the_current_list)
{
    auth_t *au = revoking_auth("jti j1\njti j2\nsub s1\nsub s2 before 100\n");
    ck_assert_uint_eq(auth_revoked_entries(au), 4);
    char err[256] = "";
    write_str(path("rev.list"), "# none\n");
    ck_assert_msg(auth_revoked_reload(au, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(auth_revoked_entries(au), 0);
    auth_free(au);
    write_pub(K.ed, "rev.pub");
    auth_config_t cfg;
    auth_config_default(&cfg);
    cfg.publickey_path = path("rev.pub");
    au = open_auth_cfg(&cfg);
    ck_assert_uint_eq(auth_revoked_entries(au), 0); /* no list */
    auth_free(au);
}
END_TEST

START_TEST(an_unparsable_revocation_list_at_reload_keeps_the_previous_one)
{
    auth_t *au = revoking_auth("jti j1\n");
    char *tok = ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"jti\":\"j1\"}", NOW + 3600));
    char *other = ed_token(cl("{\"exp\":%lld,\"prefix\":\"\",\"jti\":\"j2\"}", NOW + 3600));
    expect_401(au, tok, NOW, "token revoked");
    expect_ok(au, other, NOW, NULL);
    char err[256] = "";
    write_str(path("rev.list"), "jti j2\n\njit j1\n");
    ck_assert_int_eq(auth_revoked_reload(au, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "rev.list' line 3") != NULL, "%s", err);
    expect_401(au, tok, NOW, "token revoked");
    expect_ok(au, other, NOW, NULL);
    unlink(path("rev.list"));
    ck_assert_int_eq(auth_revoked_reload(au, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot read revocation file") != NULL, "%s", err);
    expect_401(au, tok, NOW, "token revoked");
    free(tok), free(other);
    auth_free(au);
}
END_TEST

START_TEST(an_unparsable_revocation_list_at_start_refuses_to_start)
{
    write_pub(K.ed, "rev.pub");
    write_str(path("bad.list"), "jti a\nsub b before yesterday\n");
    auth_config_t cfg;
    auth_config_default(&cfg);
    cfg.publickey_path = path("rev.pub");
    cfg.revoked_path = path("bad.list");
    char err[256] = "";
    ck_assert_ptr_null(auth_new(&cfg, err, sizeof err));
    ck_assert_msg(strstr(err, "bad.list' line 2") != NULL, "%s", err);
    cfg.revoked_path = path("missing.list");
    ck_assert_ptr_null(auth_new(&cfg, err, sizeof err));
    ck_assert_msg(strstr(err, "missing.list") != NULL, "%s", err);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    struct {
        const char *name;
        const TTest *tests[16];
    } groups[] = {
        {"structure",
         {verify_rejects_missing_and_empty_tokens,
          verify_rejects_tokens_over_the_size_cap_before_parsing,
          verify_rejects_wrong_segment_counts_and_truncation,
          verify_rejects_segments_that_are_not_strict_base64url,
          verify_rejects_headers_that_are_not_json_objects_with_string_alg,
          verify_rejects_signed_claims_that_are_not_json_objects}},
        {"algorithms",
         {every_algorithm_verifies_tokens_minted_by_auth_mint,
          every_algorithm_verifies_tokens_from_an_independent_signer,
          signature_by_another_key_of_the_same_type_is_rejected, changed_claims_break_the_signature,
          hmac_keyed_with_the_public_key_bytes_is_rejected,
          alg_none_is_rejected_with_or_without_a_signature, alg_of_another_key_family_is_rejected,
          rsa_padding_must_match_the_alg, ecdsa_signature_must_be_raw_r_s_of_the_curve_size,
          unknown_algorithms_are_rejected_by_name}},
        {"claims",
         {config_defaults_require_exp_with_sixty_seconds_leeway,
          exp_is_required_unless_require_exp_is_false, exp_is_checked_with_the_configured_leeway,
          verified_claims_say_until_when_the_token_is_accepted,
          nbf_is_checked_with_the_configured_leeway, issuer_must_match_when_configured,
          audience_may_be_a_string_or_an_array_containing_the_configured_value,
          role_admin_in_any_case_needs_no_prefix,
          prefix_claim_must_be_a_string_for_non_admin_tokens}},
        {"authorize",
         {admin_and_empty_prefix_are_allowed_everything, prefix_must_start_every_resource_id,
          operations_without_resource_ids_are_forbidden_for_prefixed_tokens,
          reasons_map_to_a_fixed_set_of_metric_labels}},
        {"keys",
         {pem_file_with_several_keys_verifies_tokens_of_each,
          pkcs1_rsa_public_keys_and_certificates_load, unusable_key_files_fail_with_the_reason,
          jwks_loads_rsa_ec_and_okp_keys_and_kid_selects_the_key,
          jwk_alg_member_restricts_the_key_to_that_algorithm,
          malformed_jwks_files_fail_with_the_reason,
          a_directory_as_the_key_file_is_named_with_the_setting_and_what_to_give,
          an_empty_jwks_says_it_holds_no_key_and_what_to_add}},
        {"cache",
         {a_repeated_token_costs_one_signature_verification,
          cached_tokens_still_expire_and_respect_nbf, failures_are_never_cached, cache_is_bounded,
          concurrent_verification_survives_reloads}},
        {"reload", {reload_swaps_keys_and_forgets_cached_tokens, failed_reload_keeps_the_old_keys}},
        {"revocation",
         {each_revocation_entry_kind_revokes_exactly_what_it_names,
          a_reloaded_revocation_list_applies_to_cached_tokens_at_once,
          revoked_entries_counts_the_current_list,
          an_unparsable_revocation_list_at_reload_keeps_the_previous_one,
          an_unparsable_revocation_list_at_start_refuses_to_start}},
        {"mint",
         {mint_writes_the_requested_claims_and_header, mint_chooses_the_algorithm_from_the_key,
          mint_reads_traditional_private_key_pems, mint_refuses_what_it_cannot_sign_properly,
          unsigned_mode_skips_signatures_but_keeps_every_other_rule}},
        {"jose", {jose_vectors_get_the_expected_outcome}},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        TCase *tc = tcase_create(groups[g].name);
        tcase_add_unchecked_fixture(tc, keys_setup, NULL);
        tcase_set_timeout(tc, 120);
        for (int t = 0; t < 16 && groups[g].tests[t]; t++)
            tcase_add_test(tc, groups[g].tests[t]);
        suite_add_tcase(s, tc);
    }
    return s;
}
UNIT_SUITE(auth_suite)
