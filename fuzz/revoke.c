/* revoke.c - fuzz target: the revocation list (auth.revoked).
 *
 * Feeds arbitrary bytes, as the text of a revocation file, to
 * auth_revoked_parse (auth/internal.h). Checks: the result is 0 with a list
 * or -1 with no list and a message naming a line ("list line N: ..."); and
 * for an accepted text, every `jti ID` line (read again here, independently:
 * blanks split fields, a field starting with '#' ends the line) makes
 * auth_revoked_match true for ID, and every `sub S` line without a time
 * revokes S with any iat. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "fuzz/fuzz.h"

/* The fields of one line, at most 5. */
static size_t fields(char *line, char **f)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t", &save); tok && n < 5;
         tok = strtok_r(NULL, " \t", &save)) {
        if (tok[0] == '#')
            break;
        f[n++] = tok;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    auth_revoked_t *rl = (auth_revoked_t *)1;
    char err[512] = "";
    int rc = auth_revoked_parse((const char *)data, size, "list", &rl, err, sizeof err);
    if (rc != 0) {
        if (rc != -1 || rl != NULL || strncmp(err, "list line ", 10) != 0)
            abort();
        return 0;
    }
    if (!rl)
        abort();
    char *text = fuzz_cstr(data, size); /* an accepted text has no NUL */
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[len - 1] = '\0';
        char *f[5];
        size_t n = fields(line, f);
        if (n == 2 && strcmp(f[0], "jti") == 0 && !auth_revoked_match(rl, f[1], NULL, false, 0))
            abort();
        if (n == 2 && strcmp(f[0], "sub") == 0 &&
            !auth_revoked_match(rl, NULL, f[1], true, INT64_MAX - 1))
            abort();
    }
    free(text);
    auth_revoked_release(rl);
    return 0;
}
