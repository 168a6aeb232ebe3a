/* unit.c - helpers shared by the unit tests (see unit.h): decoding a
 * request as the server does, time for the tests that wait on threads, and
 * redirecting standard output and error. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void unit_decode(arena_t *a, const char *kind, const char *data, request_t *req)
{
    size_t len = strlen(kind) + strlen(data) + 128;
    char *body = arena_alloc(a, len);
    snprintf(body, len,
             "{\"kind\":\"%s\",\"head\":{\"corrId\":\"c\",\"version\":\"2026-04-01\"},\"data\":%s}",
             kind, data);
    envelope_t env;
    response_t err = {0};
    ck_assert_int_eq(wire_decode_envelope(a, body, strlen(body), &env, &err), 0);
    int rc = wire_decode_request(a, &env, true, req, &err);
    ck_assert_msg(rc == 0, "%s %s: %s", kind, data, err.data ? json_string_value(err.data) : "");
    response_clear(&err);
}

int64_t unit_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void unit_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct timespec unit_deadline(long ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    return dl;
}

unit_stdio_t unit_redirect_stdio(FILE *out, FILE *err)
{
    fflush(stdout);
    fflush(stderr);
    unit_stdio_t saved = {dup(1), dup(2)};
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    return saved;
}

void unit_restore_stdio(unit_stdio_t saved)
{
    fflush(stdout);
    fflush(stderr);
    dup2(saved.out, 1);
    dup2(saved.err, 2);
    close(saved.out);
    close(saved.err);
}
