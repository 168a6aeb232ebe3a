/* unit.c - helpers shared by the unit tests (see unit.h). */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <string.h>

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
