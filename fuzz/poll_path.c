/* poll_path.c - fuzz target: the path of GET /poll/:group/:id.
 *
 * Feeds arbitrary bytes, as the NUL-terminated path libmicrohttpd hands the
 * front end, to poll_parse_path (server/poll.h). The query string is split
 * off and decoded by libmicrohttpd before that; the one query value the
 * server reads, ?token=, goes to auth_verify, which the token target fuzzes.
 * Checks: an accepted path has a non-empty group and id without '/' within
 * POLL_NAME_MAX bytes, and "/poll/" + group + "/" + id gives the path back
 * byte for byte (nothing dropped, nothing invented). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/poll.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *url = fuzz_cstr(data, size);
    char group[POLL_NAME_MAX + 1], id[POLL_NAME_MAX + 1];
    if (poll_parse_path(url, group, id)) {
        size_t gl = strlen(group), il = strlen(id);
        if (!gl || !il || gl > POLL_NAME_MAX || il > POLL_NAME_MAX || strchr(group, '/') ||
            strchr(id, '/'))
            abort();
        char back[2 * POLL_NAME_MAX + 16];
        snprintf(back, sizeof back, "/poll/%s/%s", group, id);
        if (strcmp(back, url) != 0)
            abort();
    }
    free(url);
    return 0;
}
