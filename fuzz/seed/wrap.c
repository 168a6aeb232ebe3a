/* wrap.c - records the inputs the tests give the fuzzed functions.
 *
 * Linked with -Wl,--wrap=<function> into the unit tests and the server by
 * fuzz/seed/seed.sh: each wrapper writes its input to
 * $FUZZ_SEED_DIR/<target>/<FNV-1a hash of the input> (one file per distinct
 * input) and calls the real function. Without FUZZ_SEED_DIR nothing is
 * written. Not part of any shipped binary. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "conf/toml.h"
#include "core/addr.h"
#include "core/cron.h"
#include "core/wire.h"
#include "server/poll.h"

/* Largest input kept as a seed; bigger ones teach the fuzzer little. */
#define SEED_MAX 16384

static void record(const char *target, const void *data, size_t len)
{
    const char *dir = getenv("FUZZ_SEED_DIR");
    if (!dir || !data || len > SEED_MAX)
        return;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ ((const unsigned char *)data)[i]) * 1099511628211ull;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return;
    snprintf(path, sizeof path, "%s/%s/%016llx", dir, target, (unsigned long long)h);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return;
    if (write(fd, data, len) != (ssize_t)len)
        unlink(path);
    close(fd);
}

int __real_wire_decode_envelope(arena_t *a, const char *body, size_t len, envelope_t *env,
                                response_t *err);
int __wrap_wire_decode_envelope(arena_t *a, const char *body, size_t len, envelope_t *env,
                                response_t *err);
int __wrap_wire_decode_envelope(arena_t *a, const char *body, size_t len, envelope_t *env,
                                response_t *err)
{
    record("envelope", body, len);
    return __real_wire_decode_envelope(a, body, len, env, err);
}

auth_status_t __real_auth_verify(auth_t *au, const char *token, int64_t now_s,
                                 auth_claims_t *claims, char *why, size_t whylen);
auth_status_t __wrap_auth_verify(auth_t *au, const char *token, int64_t now_s,
                                 auth_claims_t *claims, char *why, size_t whylen);
auth_status_t __wrap_auth_verify(auth_t *au, const char *token, int64_t now_s,
                                 auth_claims_t *claims, char *why, size_t whylen)
{
    if (token)
        record("token", token, strlen(token));
    return __real_auth_verify(au, token, now_s, claims, why, whylen);
}

int __real_toml_parse(const char *text, size_t len, const char *name, toml_doc_t *doc, char *err,
                      size_t errlen);
int __wrap_toml_parse(const char *text, size_t len, const char *name, toml_doc_t *doc, char *err,
                      size_t errlen);
int __wrap_toml_parse(const char *text, size_t len, const char *name, toml_doc_t *doc, char *err,
                      size_t errlen)
{
    record("toml", text, len);
    return __real_toml_parse(text, len, name, doc, err, errlen);
}

int __real_cron_parse(const char *expr, cron_t *out, char *err, size_t errlen);
int __wrap_cron_parse(const char *expr, cron_t *out, char *err, size_t errlen);
int __wrap_cron_parse(const char *expr, cron_t *out, char *err, size_t errlen)
{
    if (expr)
        record("cron", expr, strlen(expr));
    return __real_cron_parse(expr, out, err, errlen);
}

bool __real_addr_parse(const char *s, addr_t *out);
bool __wrap_addr_parse(const char *s, addr_t *out);
bool __wrap_addr_parse(const char *s, addr_t *out)
{
    if (s)
        record("addr", s, strlen(s));
    return __real_addr_parse(s, out);
}

bool __real_poll_parse_path(const char *url, char group[POLL_NAME_MAX + 1],
                            char id[POLL_NAME_MAX + 1]);
bool __wrap_poll_parse_path(const char *url, char group[POLL_NAME_MAX + 1],
                            char id[POLL_NAME_MAX + 1]);
bool __wrap_poll_parse_path(const char *url, char group[POLL_NAME_MAX + 1],
                            char id[POLL_NAME_MAX + 1])
{
    if (url)
        record("poll_path", url, strlen(url));
    return __real_poll_parse_path(url, group, id);
}
