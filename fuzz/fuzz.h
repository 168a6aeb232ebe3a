/* fuzz.h - what the fuzz targets of fuzz/ share.
 *
 * The libFuzzer entry point's prototype, and the copy of an input into a
 * NUL-terminated string for the functions that take one. */
#ifndef RESONATE_FUZZ_H
#define RESONATE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Runs one input; libFuzzer (or fuzz/replay.c) calls it. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'd NUL-terminated copy of data (cut at its first NUL byte by any
 * reader of C strings); the caller frees it. Aborts when out of memory. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
