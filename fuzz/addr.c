/* addr.c - fuzz target: message addresses and the push allow list
 * (core/addr.h).
 *
 * Feeds arbitrary bytes, as a NUL-terminated string, to addr_parse with and
 * without an output struct, to addr_push_prefix_valid, and to
 * addr_push_allowed under a fixed allow list. Checks: both addr_parse calls
 * agree; an accepted poll address has a non-empty group and an id within
 * their buffers; a valid prefix that is also a valid address is allowed by
 * itself; and, the SSRF property, an http(s) address the allow list lets
 * through is one libcurl (which the pusher hands it to unchanged) reads as
 * the scheme, host, port and path of an entry: curl's URL parser is the
 * independent oracle, so a spelling the two parsers disagree on is a
 * finding. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/addr.h"
#include "fuzz/fuzz.h"

typedef struct {
    const char *url, *scheme, *host, *port, *path;
} entry_t;

static const entry_t entries[] = {
    {"http://allowed.example", "http", "allowed.example", "80", ""},
    {"https://Hooks.Example.com:8443/resonate/", "https", "hooks.example.com", "8443",
     "/resonate/"},
    {"http://[::1]:9000/", "http", "[::1]", "9000", "/"},
    {"http://10.0.0.5/a", "http", "10.0.0.5", "80", "/a"},
};
#define N_ENTRIES (sizeof entries / sizeof *entries)

static char *allow[N_ENTRIES];

/* curl's reading of part of h, or NULL. Free with curl_free. */
static char *part(CURLU *h, CURLUPart what, unsigned flags)
{
    char *v = NULL;
    return curl_url_get(h, what, &v, flags) == CURLUE_OK ? v : NULL;
}

/* Whether curl reads s as a URL on one of the entries. True too when curl
 * cannot parse s at all (then the pusher cannot connect anywhere). */
static bool curl_agrees(const char *s)
{
    CURLU *h = curl_url();
    if (!h)
        abort();
    if (curl_url_set(h, CURLUPART_URL, s, 0) != CURLUE_OK) {
        curl_url_cleanup(h);
        return true;
    }
    char *scheme = part(h, CURLUPART_SCHEME, 0), *host = part(h, CURLUPART_HOST, 0);
    char *port = part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT), *path = part(h, CURLUPART_PATH, 0);
    bool ok = false;
    for (size_t i = 0; i < N_ENTRIES && !ok && scheme && host && port && path; i++) {
        const entry_t *e = &entries[i];
        size_t pn = strlen(e->path);
        ok = strcasecmp(scheme, e->scheme) == 0 && strcasecmp(host, e->host) == 0 &&
             strcmp(port, e->port) == 0 &&
             (pn <= 1 || (strncmp(path, e->path, pn) == 0 &&
                          (e->path[pn - 1] == '/' || path[pn] == '\0' || path[pn] == '/')));
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(h);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    if (!allow[0])
        for (size_t i = 0; i < N_ENTRIES; i++)
            allow[i] = (char *)entries[i].url;
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

    char why[512];
    if (addr_push_prefix_valid(s, why, sizeof why)) {
        if (ok && !addr_push_allowed(s, &s, 1))
            abort();
    } else if (!memchr(why, '\0', sizeof why)) {
        abort();
    }
    if (addr_push_allowed(s, allow, N_ENTRIES) && ok && a.scheme == ADDR_HTTP && !curl_agrees(s))
        abort();
    free(s);
    return 0;
}
