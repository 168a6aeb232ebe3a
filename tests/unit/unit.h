/* unit.h - glue for the Check unit tests.
 *
 * Each tests/unit/test_<module>.c mirrors one module and ends with
 * UNIT_SUITE(suite_fn); the runner in main.c collects every registered suite,
 * so adding a test file needs no edit elsewhere. */
#ifndef RESONATE_UNIT_H
#define RESONATE_UNIT_H

#include <check.h>

#include "core/wire.h"

void unit_register(Suite *(*make)(void));

/* Decodes kind with data (a JSON text) into *req as the server does, with
 * debug operations enabled; fails the test when either step refuses it.
 * req's strings live in a. */
void unit_decode(arena_t *a, const char *kind, const char *data, request_t *req);

#define UNIT_SUITE(fn)                                                                             \
    __attribute__((constructor)) static void unit_register_##fn(void)                              \
    {                                                                                              \
        unit_register(fn);                                                                         \
    }

#endif
