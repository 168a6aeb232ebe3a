/* addr.c - fuzz target: message addresses (core/addr.h).
 *
 * Feeds arbitrary bytes, as a NUL-terminated string, to addr_parse with and
 * without an output struct. Checks: both calls agree, and an accepted poll
 * address has a non-empty group and an id within their 256-byte buffers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *s = fuzz_cstr(data, size);
    addr_t a;
    memset(&a, 0xa5, sizeof a);
    bool ok = addr_parse(s, &a);
    if (ok != addr_parse(s, NULL))
        abort();
    if (ok && a.scheme == ADDR_POLL) {
        if (!memchr(a.group, '\0', sizeof a.group) || !memchr(a.id, '\0', sizeof a.id) ||
            a.group[0] == '\0')
            abort();
    }
    free(s);
    return 0;
}
