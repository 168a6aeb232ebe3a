/* addr.h - message addresses (resonate:target, listener addresses).
 *
 * Accepted forms (protocol-promises.md §7): http(s)://host..., poll://uni@group[/id],
 * poll://any@group[/id], gcps://project/topic, bash://... Anything else is
 * invalid. Parsing follows WHATWG URL rules as far as these schemes need. */
#ifndef RESONATE_ADDR_H
#define RESONATE_ADDR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { ADDR_HTTP, ADDR_POLL, ADDR_GCPS, ADDR_BASH } addr_scheme_t;

typedef struct {
    addr_scheme_t scheme;
    bool any;        /* poll: "any" (one connection of the group) vs "uni" */
    char group[256]; /* poll: the host part */
    char id[256];    /* poll: path after '/', "" when absent */
} addr_t;

/* True when s is a valid address; fills out when non-NULL. */
bool addr_parse(const char *s, addr_t *out);

/* Copies address into buf (of buflen > 0 bytes, truncated to fit) for a
 * log line, with the userinfo of its authority ("user:pass@" in
 * "https://user:pass@host/x") replaced by "***@": a push target's
 * credentials never reach the log. poll:// addresses are copied as they are
 * (their "uni@"/"any@" is no secret). Every log line naming a target uses
 * it. Returns buf. Pure. */
const char *addr_redact(const char *address, char *buf, size_t buflen);

/* Push destinations a token may name (transports.http_push.allow).
 *
 * Both sides are read by one strict parser, so no spelling can make the
 * check see one host and libcurl connect to another: http:// or https://
 * (any case), then host[:port] where host is letters, digits, '.', '-', '_'
 * or a bracketed IPv6 literal, then nothing or a path/query/fragment
 * starting with '/', '?' or '#', without spaces, control characters or
 * backslashes. No userinfo ('@'), no percent-encoding in the host. */

/* Checks that prefix can be an allow-list entry: a URL as above with at
 * most a path (no query or fragment), e.g. "https://hooks.example.com" or
 * "http://10.0.0.5:8080/resonate/". Writes why (naming what to change) on
 * failure. */
bool addr_push_prefix_valid(const char *prefix, char *why, size_t whylen);

/* True when address may be named as a push destination under the allow
 * list allow[0..n): always for a non-http(s) address (poll://... is not
 * pushed); for an http(s) one only when it parses as above and an entry
 * has the same scheme, host (ASCII case-insensitive) and port (80 or 443
 * when absent), and the entry's path, if any, is a prefix of the address's
 * path ending at a '/' boundary, with no "." or ".." segment in the
 * address's path. "http://a.example" therefore allows
 * "http://a.example:80/x" but neither "http://a.example.evil.com" nor
 * "http://a.example@evil.com". Entries are assumed valid. */
bool addr_push_allowed(const char *address, char *const *allow, size_t n);

#endif
