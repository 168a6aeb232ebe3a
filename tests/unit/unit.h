/* unit.h - glue for the Check unit tests.
 *
 * Each tests/unit/test_<module>.c mirrors one module and ends with
 * UNIT_SUITE(suite_fn); the runner in main.c collects every registered suite,
 * so adding a test file needs no edit elsewhere. */
#ifndef RESONATE_UNIT_H
#define RESONATE_UNIT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <check.h>

#include "core/wire.h"

void unit_register(Suite *(*make)(void));

/* Decodes kind with data (a JSON text) into *req as the server does, with
 * debug operations enabled; fails the test when either step refuses it.
 * req's strings live in a. */
void unit_decode(arena_t *a, const char *kind, const char *data, request_t *req);

/* Time for the tests that wait on other threads (unit.c); every such wait
 * is bounded by a deadline. */

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t unit_mono_ms(void);

/* Sleeps ms milliseconds. */
void unit_sleep_ms(long ms);

/* The CLOCK_REALTIME instant ms from now: the deadline of a
 * pthread_cond_timedwait on a condition variable with default attributes. */
struct timespec unit_deadline(long ms);

/* The process's standard output and error as they were before
 * unit_redirect_stdio. */
typedef struct {
    int out, err;
} unit_stdio_t;

/* Sends standard output and error (file descriptors 1 and 2, so the code
 * under test may print any way it likes) to out and err until
 * unit_restore_stdio; both are flushed first. */
unit_stdio_t unit_redirect_stdio(FILE *out, FILE *err);
void unit_restore_stdio(unit_stdio_t saved);

#define UNIT_SUITE(fn)                                                                             \
    __attribute__((constructor)) static void unit_register_##fn(void)                              \
    {                                                                                              \
        unit_register(fn);                                                                         \
    }

#endif
