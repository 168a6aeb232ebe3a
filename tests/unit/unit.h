/* unit.h - glue for the Check unit tests.
 *
 * Each tests/unit/test_<module>.c mirrors one module and ends with
 * UNIT_SUITE(suite_fn); the runner in main.c collects every registered suite,
 * so adding a test file needs no edit elsewhere. */
#ifndef RESONATE_UNIT_H
#define RESONATE_UNIT_H

#include <check.h>

void unit_register(Suite *(*make)(void));

#define UNIT_SUITE(fn)                                                                             \
    __attribute__((constructor)) static void unit_register_##fn(void)                              \
    {                                                                                              \
        unit_register(fn);                                                                         \
    }

#endif
