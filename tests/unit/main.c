/* main.c - runs every registered Check suite; exit status 0 iff all pass.
 * An optional argument runs only the suite of that name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

#define MAX_SUITES 64

static Suite *(*makers[MAX_SUITES])(void);
static int n_makers;

void unit_register(Suite *(*make)(void))
{
    if (n_makers < MAX_SUITES)
        makers[n_makers++] = make;
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    SRunner *sr = NULL;
    for (int i = 0; i < n_makers; i++) {
        Suite *s = makers[i]();
        if (!sr)
            sr = srunner_create(s);
        else
            srunner_add_suite(sr, s);
    }
    if (!sr) {
        fputs("no test suites registered\n", stderr);
        return 1;
    }
    srunner_run(sr, only, NULL, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
