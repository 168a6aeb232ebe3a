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

#endif
