/* token.c - fuzz target: token parsing, verification and authorization.
 *
 * Feeds arbitrary bytes, as a bearer token, to three verifiers built once
 * from keys embedded below (test keys made for fuzzing; their private halves
 * signed the seed tokens in fuzz/corpus/token and were then discarded):
 *  - PEM: an Ed25519, an RSA-2048 and an EC P-256 public key, default
 *    configuration (exp required, 60 s leeway);
 *  - JWKS: the same keys with kids "ed", "rsa", "ec", issuer and audience
 *    required, exp optional, no leeway (the kid and claim-check paths);
 *  - unsigned mode ("none"): the signature is not checked, so the fuzzer
 *    reaches the claims path (exp, nbf, iss, aud, role, prefix) with any
 *    header and payload it invents.
 * An input starting with '{' is taken as the decoded parts of a token,
 * "header JSON\npayload JSON[\nsignature bytes]", and base64url-encoded into
 * one, so mutations work on the JSON the claims path parses rather than on
 * its encoding. Verification runs at a fixed time. A verified token's claims then go
 * through auth_authorize with fixed resource ids, and every reason text
 * through auth_reason_label. Checks: the status is one of the documented
 * ones, claims are zeroed on failure, a prefix is NUL-terminated within its
 * bound, and a reason never contains the token.
 * fuzz/regressions/token/ keeps the inputs that once failed a check. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/base64.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* 2027-01-15T08:00:00Z: the seed tokens were minted in December 2026, most
 * with exp in 2036. */
#define FUZZ_NOW 1800000000

static const char pem_keys[] = "-----BEGIN PUBLIC KEY-----\n"
                               "MCowBQYDK2VwAyEAczdlvRO7GH+lNQJ2nxbutIvsHJ1wq1beoQZ2n7ERxPc=\n"
                               "-----END PUBLIC KEY-----\n"
                               "-----BEGIN PUBLIC KEY-----\n"
                               "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAjxP/xbdEDWpFaJx/fSBm\n"
                               "Hr6DLE999DSzCMOtwBCo/hTL+VuKK+d5gGiwdtl6jsxHaFO6v7vR6xvmy5bfIApV\n"
                               "seAqsSV7PJmaoONewQ9ozfavfwkOKc5Vp72tesEyG5RaesBsD06zwyhNb8Pl1lc4\n"
                               "KFIhnR1un+Qrq2NNRZw5EOszeObADAczc47tWPUfpfAOTLx5hHuLUHIh3PIlMRwC\n"
                               "itSbtBtng5RKL+iuUQ47TsCz1BooJ5eIWLETt/HsbG6nnEjBYm/NRbrOxoA7gSME\n"
                               "OohhjKQ5pO0ek67FMmAuTZVNCw54ZO92CaBC3JUwTQj5WUA6Plk1VkiJVen6631t\n"
                               "RQIDAQAB\n"
                               "-----END PUBLIC KEY-----\n"
                               "-----BEGIN PUBLIC KEY-----\n"
                               "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAED2QY+tXw5hUQvKwA9YZ5nLoLD9ja\n"
                               "9iz2b4tzMDPDYtPxl/jxFsqVeP4XlSkWpRphcQnOvaefKKgexPibKKPvjQ==\n"
                               "-----END PUBLIC KEY-----\n";

static const char jwks_keys[] =
    "{\"keys\":[{\"crv\":\"Ed25519\",\"x\":\"czdlvRO7GH-lNQJ2nxbutIvsHJ1wq1beoQZ2n7ERxPc\",\"kty"
    "\":\"OKP\",\"kid\":\"ed\"},{\"kty\":\"RSA\",\"n\":\"jxP_xbdEDWpFaJx_fSBmHr6DLE999DSzCMOtwBCo_h"
    "TL-VuKK-d5gGiwdtl6jsxHaFO6v7vR6xvmy5bfIApVseAqsSV7PJmaoONewQ9ozfavfwkOKc5Vp72tes"
    "EyG5RaesBsD06zwyhNb8Pl1lc4KFIhnR1un-Qrq2NNRZw5EOszeObADAczc47tWPUfpfAOTLx5hHuLUH"
    "Ih3PIlMRwCitSbtBtng5RKL-iuUQ47TsCz1BooJ5eIWLETt_HsbG6nnEjBYm_NRbrOxoA7gSMEOohhjK"
    "Q5pO0ek67FMmAuTZVNCw54ZO92CaBC3JUwTQj5WUA6Plk1VkiJVen6631tRQ\",\"e\":\"AQAB\",\"kid\":\""
    "rsa\"},{\"kty\":\"EC\",\"x\":\"D2QY-tXw5hUQvKwA9YZ5nLoLD9ja9iz2b4tzMDPDYtM\",\"y\":\"8Zf48Rb"
    "KlXj-F5UpFqUaYXEJzr2nnyioHsT4myij740\",\"crv\":\"P-256\",\"kid\":\"ec\"}]}";

static auth_t *pem_verifier, *jwks_verifier, *unsigned_verifier;

/* Writes text to a temporary file and builds a verifier on it. */
static auth_t *verifier_new(const char *text, const char *suffix, const auth_config_t *base)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/resonate-fuzz-XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0)
        abort();
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len)
        abort();
    close(fd);
    auth_config_t cfg = *base;
    cfg.publickey_path = path;
    char err[256];
    auth_t *au = auth_new(&cfg, err, sizeof err);
    unlink(path);
    if (!au) {
        fprintf(stderr, "fuzz token: %s\n", err);
        abort();
    }
    return au;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    auth_config_t cfg;
    auth_config_default(&cfg);
    cfg.cache_size = 64;
    pem_verifier = verifier_new(pem_keys, ".pem", &cfg);

    cfg.iss = "fuzz-iss";
    cfg.aud = "fuzz-aud";
    cfg.require_exp = false;
    cfg.leeway_s = 0;
    jwks_verifier = verifier_new(jwks_keys, ".json", &cfg);

    auth_config_default(&cfg);
    cfg.cache_size = 64;
    cfg.publickey_path = "none";
    char err[256];
    unsigned_verifier = auth_new(&cfg, err, sizeof err);
    if (!unsigned_verifier) {
        fprintf(stderr, "fuzz token: %s\n", err);
        abort();
    }
    return 0;
}

static void check_reason(const char *why, size_t whylen, const char *token)
{
    if (strnlen(why, whylen) == whylen)
        abort(); /* not NUL-terminated */
    /* The token leaked into a reason. Only for a token of JWT shape (two
     * dots): no fixed reason text has two dots, and a decoded claim quoted
     * in a reason is shorter than the token that encodes it, so a match is
     * a leak ("malformed token:" alone is also a reason's prefix). */
    const char *dot = strchr(token, '.');
    if (strlen(token) >= 16 && dot && strchr(dot + 1, '.') && strstr(why, token))
        abort();
    if (!auth_reason_label(why))
        abort();
}

static void verify_with(auth_t *au, const char *token)
{
    static const char *const ids[] = {"orders:1", "billing:2", "", "orders"};
    auth_claims_t claims;
    char why[256];
    memset(why, 'x', sizeof why);
    why[sizeof why - 1] = '\0';
    auth_status_t st = auth_verify(au, token, FUZZ_NOW, &claims, why, sizeof why);
    if (st != AUTH_OK) {
        static const auth_claims_t zero;
        if (st != AUTH_UNAUTHORIZED || memcmp(&claims, &zero, sizeof zero) != 0)
            abort();
        check_reason(why, sizeof why, token);
        return;
    }
    if (strnlen(claims.prefix, sizeof claims.prefix) == sizeof claims.prefix)
        abort();
    if (claims.admin && claims.has_prefix)
        abort();
    for (size_t n = 0; n <= sizeof ids / sizeof *ids; n++) {
        char awhy[256] = "";
        auth_status_t as = auth_authorize(&claims, ids, n, awhy, sizeof awhy);
        if (as != AUTH_OK && as != AUTH_FORBIDDEN)
            abort();
        if (as == AUTH_FORBIDDEN)
            check_reason(awhy, sizeof awhy, token);
    }
}

/* "header\npayload[\nsignature]" as a token: each part base64url-encoded,
 * joined with '.'. Returns a malloc'd string. */
static char *encode_parts(const uint8_t *data, size_t size)
{
    char *out = malloc(b64_encoded_len(B64_URL, size) + 8), *o = out;
    if (!out)
        abort();
    size_t start = 0;
    for (int part = 0; part < 3; part++) {
        size_t end = start;
        while (end < size && (part == 2 || data[end] != '\n'))
            end++;
        if (part)
            *o++ = '.';
        b64_encode(B64_URL, data + start, end - start, o);
        o += strlen(o);
        start = end < size ? end + 1 : end;
    }
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > AUTH_MAX_TOKEN + 16)
        return 0;
    char *token = size && data[0] == '{' ? encode_parts(data, size) : fuzz_cstr(data, size);
    verify_with(pem_verifier, token);
    verify_with(jwks_verifier, token);
    verify_with(unsigned_verifier, token);
    free(token);
    return 0;
}
