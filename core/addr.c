/* addr.c - validity of message addresses (protocol-promises.md §7).
 *
 * The reference accepts an address when the Rust `url` crate parses it as an
 * absolute URL and the scheme-specific parts are present. Only the parts of
 * the WHATWG URL parser that can make a parse FAIL matter for that, so this
 * is a validator, not a URL parser: scheme syntax, the authority (userinfo,
 * host, port) and, for http(s), the host rules of special schemes (forbidden
 * code points, IPv4 "ends in a number", IPv6). Paths, queries and fragments
 * never fail under WHATWG and are only looked at for the poll id and the
 * gcps topic.
 *
 * Known simplifications (an address accepted here that the reference would
 * reject, or the reverse, needs an unusual input): non-ASCII http hosts are
 * accepted when they are valid UTF-8 (no UTS #46 mapping), dot segments in
 * poll/gcps paths are not resolved, and the poll group/id are kept as written
 * (the reference keeps them percent-encoded). */
#include "core/addr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A byte range of the cleaned input. */
typedef struct {
    const char *p;
    size_t n;
} span_t;

static bool is_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int hex_val(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* True when s starts with lit (lower case), letters compared ASCII
 * case-insensitively. */
static bool starts_with_ci(const char *s, const char *lit)
{
    for (size_t i = 0; lit[i]; i++)
        if (s[i] != lit[i] && !(is_alpha((unsigned char)s[i]) && (s[i] | 0x20) == lit[i]))
            return false;
    return true;
}

static bool span_eq(span_t s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* WHATWG preprocessing: strip leading/trailing C0 controls and spaces, drop
 * every tab and newline. Returns a malloc'd copy. */
static char *clean_input(const char *s)
{
    size_t b = 0, e = strlen(s);
    while (b < e && (unsigned char)s[b] <= 0x20)
        b++;
    while (e > b && (unsigned char)s[e - 1] <= 0x20)
        e--;
    char *out = malloc(e - b + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = b; i < e; i++)
        if (s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            out[n++] = s[i];
    out[n] = '\0';
    return out;
}

/* WHATWG IPv4 number: decimal, 0x hex or leading-0 octal. */
static bool ipv4_number(span_t s, uint64_t *out)
{
    unsigned radix = 10;
    size_t i = 0;
    if (s.n >= 2 && s.p[0] == '0' && (s.p[1] | 0x20) == 'x') {
        radix = 16;
        i = 2;
    } else if (s.n >= 2 && s.p[0] == '0') {
        radix = 8;
        i = 1;
    }
    if (s.n == 0)
        return false;
    uint64_t v = 0;
    for (; i < s.n; i++) {
        int d = hex_val((unsigned char)s.p[i]);
        if (d < 0 || (unsigned)d >= radix)
            return false;
        v = v * radix + (unsigned)d;
        if (v > UINT32_MAX)
            v = (uint64_t)UINT32_MAX + 1; /* saturate: only "too big" matters */
    }
    *out = v;
    return true;
}

/* Splits host on '.', dropping one trailing empty label (WHATWG); returns
 * max + 1 when there are more than max labels before that. */
static size_t split_labels(span_t host, span_t *parts, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= host.n; i++) {
        if (i == host.n || host.p[i] == '.') {
            if (n == max)
                return max + 1;
            parts[n++] = (span_t){host.p + start, i - start};
            start = i + 1;
        }
    }
    if (n > 1 && parts[n - 1].n == 0)
        n--;
    return n;
}

/* WHATWG "ends in a number": such a host must then be a valid IPv4. */
static bool ends_in_number(span_t host)
{
    size_t start = host.n;
    if (start > 0 && host.p[start - 1] == '.') {
        if (start == 1)
            return false;
        start--;
    }
    size_t end = start;
    while (start > 0 && host.p[start - 1] != '.')
        start--;
    span_t last = {host.p + start, end - start};
    if (last.n == 0)
        return false;
    bool digits = true;
    for (size_t i = 0; i < last.n; i++)
        digits &= is_digit((unsigned char)last.p[i]);
    uint64_t v;
    return digits ||
           (last.n >= 2 && last.p[0] == '0' && (last.p[1] | 0x20) == 'x' && ipv4_number(last, &v));
}

static bool ipv4_valid(span_t host)
{
    span_t parts[6];
    size_t n = split_labels(host, parts, 5);
    if (n > 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (!ipv4_number(parts[i], &v))
            return false;
        uint64_t limit = (i + 1 < n) ? 255 : ((uint64_t)1 << (8 * (5 - n))) - 1;
        if (v > limit)
            return false;
    }
    return true;
}

/* The WHATWG IPv6 parser, reduced to its failure conditions. */
static bool ipv6_valid(span_t s)
{
    size_t p = 0, piece = 0;
    bool compressed = false;
#define C (p < s.n ? (unsigned char)s.p[p] : 0)
    if (C == ':') {
        if (p + 1 >= s.n || s.p[p + 1] != ':')
            return false;
        p += 2;
        piece++;
        compressed = true;
    }
    while (p < s.n) {
        if (piece == 8)
            return false;
        if (C == ':') {
            if (compressed)
                return false;
            p++;
            piece++;
            compressed = true;
            continue;
        }
        size_t len = 0;
        while (len < 4 && p < s.n && hex_val(C) >= 0) {
            p++;
            len++;
        }
        if (p < s.n && C == '.') {
            /* Embedded IPv4: four decimal numbers without leading zeros. */
            if (len == 0 || piece > 6)
                return false;
            p -= len;
            int seen = 0;
            while (p < s.n) {
                if (seen > 0) {
                    if (C != '.' || seen >= 4)
                        return false;
                    p++;
                }
                if (!is_digit(C))
                    return false;
                int v = -1;
                while (p < s.n && is_digit(C)) {
                    if (v == 0)
                        return false;
                    v = (v < 0 ? 0 : v * 10) + (C - '0');
                    if (v > 255)
                        return false;
                    p++;
                }
                seen++;
                if (seen == 2 || seen == 4)
                    piece++;
            }
            if (seen != 4)
                return false;
            return compressed || piece == 8;
        }
        if (p < s.n && C == ':') {
            p++;
            if (p == s.n)
                return false;
        } else if (p < s.n) {
            return false;
        }
        piece++;
    }
#undef C
    return compressed || piece == 8;
}

/* Host of a special (http/https) URL, after percent-decoding. */
static bool special_host_valid(span_t raw)
{
    if (raw.n == 0)
        return false;
    char *buf = malloc(raw.n);
    if (!buf)
        return false;
    size_t n = 0;
    bool ok = true, ascii = true;
    for (size_t i = 0; i < raw.n; i++) {
        unsigned char c = (unsigned char)raw.p[i];
        if (c == '%' && i + 2 < raw.n && hex_val((unsigned char)raw.p[i + 1]) >= 0 &&
            hex_val((unsigned char)raw.p[i + 2]) >= 0) {
            c = (unsigned char)(hex_val((unsigned char)raw.p[i + 1]) * 16 +
                                hex_val((unsigned char)raw.p[i + 2]));
            i += 2;
        }
        buf[n++] = (char)c;
    }
    for (size_t i = 0; i < n && ok; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x80) {
            ascii = false;
            continue;
        }
        ok = c > 0x20 && c != 0x7f && !strchr("#%/:<>?@[\\]^|", c);
    }
    if (ok && !ascii) {
        /* Domain-to-ASCII would punycode this; we only require UTF-8. */
        for (size_t i = 0; i < n && ok;) {
            unsigned char c = (unsigned char)buf[i];
            size_t len = c < 0x80         ? 1
                         : (c >> 5) == 6  ? 2
                         : (c >> 4) == 14 ? 3
                         : (c >> 3) == 30 ? 4
                                          : 0;
            ok = len > 0 && i + len <= n;
            for (size_t k = 1; ok && k < len; k++)
                ok = ((unsigned char)buf[i + k] >> 6) == 2;
            i += len ? len : 1;
        }
    }
    if (ok && ends_in_number((span_t){buf, n}))
        ok = ipv4_valid((span_t){buf, n});
    free(buf);
    return ok;
}

/* Opaque host of a non-special URL: forbidden host code points fail. */
static bool opaque_host_valid(span_t h)
{
    for (size_t i = 0; i < h.n; i++) {
        unsigned char c = (unsigned char)h.p[i];
        if (c == ' ' || strchr("#/:<>?@[\\]^|", c))
            return false;
    }
    return true;
}

typedef struct {
    span_t user; /* before the first ':' of the userinfo */
    span_t host; /* as written, brackets included */
} authority_t;

/* Parses [userinfo@]host[:port]; the authority's end was found by the caller. */
static bool authority_parse(span_t a, bool special, authority_t *out)
{
    const char *at = NULL;
    for (size_t i = 0; i < a.n; i++)
        if (a.p[i] == '@')
            at = a.p + i;
    out->user = (span_t){a.p, 0};
    span_t hp = a;
    if (at) {
        out->user.n = (size_t)(at - a.p);
        const char *colon = memchr(a.p, ':', out->user.n);
        if (colon)
            out->user.n = (size_t)(colon - a.p);
        hp = (span_t){at + 1, a.n - (size_t)(at + 1 - a.p)};
        if (hp.n == 0)
            return false; /* credentials without a host */
    }
    size_t hn;
    if (hp.n > 0 && hp.p[0] == '[') {
        const char *close = memchr(hp.p, ']', hp.n);
        if (!close || !ipv6_valid((span_t){hp.p + 1, (size_t)(close - hp.p) - 1}))
            return false;
        hn = (size_t)(close - hp.p) + 1;
        if (hn < hp.n && hp.p[hn] != ':')
            return false;
    } else {
        const char *colon = memchr(hp.p, ':', hp.n);
        hn = colon ? (size_t)(colon - hp.p) : hp.n;
        if (colon && hn == 0)
            return false; /* a port with no host */
        span_t h = {hp.p, hn};
        if (special ? !special_host_valid(h) : !opaque_host_valid(h))
            return false;
    }
    out->host = (span_t){hp.p, hn};
    /* Port: digits only, at most 65535; empty is allowed. */
    uint32_t port = 0;
    for (size_t i = hn + 1; i < hp.n; i++) {
        if (!is_digit((unsigned char)hp.p[i]))
            return false;
        port = port * 10 + (uint32_t)(hp.p[i] - '0');
        if (port > 65535)
            return false;
    }
    return true;
}

/* Copies s into a fixed buffer; false when it does not fit. */
static bool copy_field(char *dst, size_t cap, span_t s)
{
    if (s.n >= cap)
        return false;
    memcpy(dst, s.p, s.n);
    dst[s.n] = '\0';
    return true;
}

static bool parse_clean(const char *s, addr_t *out)
{
    /* Scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    size_t i = 0;
    if (!is_alpha((unsigned char)s[0]))
        return false;
    while (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) || s[i] == '+' ||
           s[i] == '-' || s[i] == '.')
        i++;
    if (s[i] != ':')
        return false;
    char scheme[8] = {0};
    if (i >= sizeof scheme)
        return false; /* longer than any scheme we accept */
    for (size_t k = 0; k < i; k++)
        scheme[k] = (char)(s[k] | 0x20);
    const char *rest = s + i + 1;

    bool special = strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
    bool bash = strcmp(scheme, "bash") == 0;
    bool poll = strcmp(scheme, "poll") == 0;
    bool gcps = strcmp(scheme, "gcps") == 0;
    if (!special && !bash && !poll && !gcps)
        return false;

    authority_t auth = {{rest, 0}, {rest, 0}};
    const char *path = rest;
    if (special) {
        /* Special schemes skip any run of slashes and backslashes. */
        while (*rest == '/' || *rest == '\\')
            rest++;
        size_t n = strcspn(rest, "/\\?#");
        if (!authority_parse((span_t){rest, n}, true, &auth))
            return false;
        if (out)
            out->scheme = ADDR_HTTP;
        return true;
    }
    if (rest[0] == '/' && rest[1] == '/') {
        rest += 2;
        size_t n = strcspn(rest, "/?#");
        if (!authority_parse((span_t){rest, n}, false, &auth))
            return false;
        path = rest + n;
    } else if (!bash) {
        return false; /* poll and gcps need a host */
    }
    if (bash) {
        if (out)
            out->scheme = ADDR_BASH;
        return true;
    }
    if (auth.host.n == 0)
        return false;
    /* The first path segment onwards, without query and fragment. */
    span_t tail = {path, 0};
    if (*path == '/') {
        tail.p = path + 1;
        tail.n = strcspn(tail.p, "?#");
    }
    if (gcps) {
        if (tail.n == 0)
            return false;
        if (out)
            out->scheme = ADDR_GCPS;
        return true;
    }
    bool any = span_eq(auth.user, "any");
    if (!any && !span_eq(auth.user, "uni"))
        return false;
    addr_t tmp = {.scheme = ADDR_POLL, .any = any};
    if (!copy_field(tmp.group, sizeof tmp.group, auth.host) ||
        !copy_field(tmp.id, sizeof tmp.id, tail))
        return false;
    if (out)
        *out = tmp;
    return true;
}

bool addr_parse(const char *s, addr_t *out)
{
    if (!s)
        return false;
    char *clean = clean_input(s);
    if (!clean)
        return false;
    if (out)
        memset(out, 0, sizeof *out);
    bool ok = parse_clean(clean, out);
    free(clean);
    return ok;
}

const char *addr_redact(const char *address, char *buf, size_t buflen)
{
    const char *sep = strstr(address, "://");
    const char *auth = sep ? sep + 3 : NULL;
    size_t alen = auth ? strcspn(auth, "/?#\\") : 0;
    const char *at = NULL; /* the last '@' of the authority */
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;
    if (!at || (sep - address == 4 && strncasecmp(address, "poll", 4) == 0)) {
        snprintf(buf, buflen, "%s", address);
        return buf;
    }
    snprintf(buf, buflen, "%.*s***%s", (int)(auth - address), address, at);
    return buf;
}

/* ---- push allow list ------------------------------------------------------- */

/* An http(s) URL in the plain form of addr.h. */
typedef struct {
    bool https;
    span_t host; /* brackets included for IPv6 */
    unsigned port;
    span_t path; /* from the first '/' up to '?', '#' or the end; may be empty */
    bool has_qf; /* a query or fragment follows */
} push_url_t;

static bool push_url_parse(const char *s, push_url_t *u)
{
    size_t i;
    if (starts_with_ci(s, "http://"))
        i = 7;
    else if (starts_with_ci(s, "https://"))
        i = 8;
    else
        return false;
    u->https = i == 8;
    const char *a = s + i;
    size_t an = strcspn(a, "/?#");
    size_t hn;
    if (an > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', an);
        if (!close || close == a + 1)
            return false;
        for (const char *p = a + 1; p < close; p++)
            if (!(hex_val((unsigned char)*p) >= 0 || *p == ':' || *p == '.'))
                return false;
        if (!ipv6_valid((span_t){a + 1, (size_t)(close - a) - 1}))
            return false;
        hn = (size_t)(close - a) + 1;
    } else {
        for (hn = 0; hn < an && a[hn] != ':'; hn++) {
            unsigned char c = (unsigned char)a[hn];
            if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '-' && c != '_')
                return false;
        }
        if (hn == 0)
            return false;
    }
    u->host = (span_t){a, hn};
    u->port = u->https ? 443 : 80;
    if (hn < an) {
        if (a[hn] != ':' || hn + 1 == an || an - hn - 1 > 5)
            return false;
        unsigned port = 0;
        for (size_t k = hn + 1; k < an; k++) {
            if (!is_digit((unsigned char)a[k]))
                return false;
            port = port * 10 + (unsigned)(a[k] - '0');
        }
        if (port == 0 || port > 65535)
            return false;
        u->port = port;
    }
    const char *rest = a + an;
    for (const char *p = rest; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '\\')
            return false;
    size_t pn = strcspn(rest, "?#");
    u->path = (span_t){rest, pn};
    u->has_qf = rest[pn] != '\0';
    return true;
}

/* True when the path has a "." or ".." segment, also percent-encoded. */
static bool has_dot_segment(span_t path)
{
    size_t i = 0;
    while (i < path.n) {
        size_t b = i + 1; /* path.p[i] == '/' */
        size_t e = b;
        while (e < path.n && path.p[e] != '/')
            e++;
        size_t dots = 0;
        bool only_dots = true;
        for (size_t k = b; k < e && only_dots;) {
            if (path.p[k] == '.') {
                dots++;
                k++;
            } else if (k + 2 < e && path.p[k] == '%' && path.p[k + 1] == '2' &&
                       (path.p[k + 2] | 0x20) == 'e') {
                dots++;
                k += 3;
            } else {
                only_dots = false;
            }
        }
        if (only_dots && (dots == 1 || dots == 2))
            return true;
        i = e;
    }
    return false;
}

bool addr_push_prefix_valid(const char *prefix, char *why, size_t whylen)
{
    push_url_t u;
    if (!push_url_parse(prefix, &u)) {
        snprintf(why, whylen,
                 "'%s' is not a push URL prefix (expected http(s)://host[:port][/path], with a "
                 "plain host: no user@, no percent-encoding, no spaces or backslashes)",
                 prefix);
        return false;
    }
    if (u.has_qf) {
        snprintf(why, whylen, "'%s': a push URL prefix has no query or fragment", prefix);
        return false;
    }
    if (has_dot_segment(u.path)) {
        snprintf(why, whylen, "'%s': a push URL prefix has no '.' or '..' path segment", prefix);
        return false;
    }
    return true;
}

static bool entry_covers(const push_url_t *e, const push_url_t *a)
{
    if (e->https != a->https || e->port != a->port || e->host.n != a->host.n)
        return false;
    for (size_t i = 0; i < e->host.n; i++)
        if ((e->host.p[i] | 0x20) != (a->host.p[i] | 0x20))
            return false;
    span_t ep = e->path;
    if (ep.n <= 1)
        return true; /* "" or "/": the whole origin */
    if (a->path.n < ep.n || memcmp(a->path.p, ep.p, ep.n) != 0 || has_dot_segment(a->path))
        return false;
    return ep.p[ep.n - 1] == '/' || a->path.n == ep.n || a->path.p[ep.n] == '/';
}

bool addr_push_allowed(const char *address, char *const *allow, size_t n)
{
    addr_t parsed;
    if (!address || !addr_parse(address, &parsed))
        return false;
    if (parsed.scheme != ADDR_HTTP)
        return true;
    push_url_t a;
    if (!push_url_parse(address, &a))
        return false;
    for (size_t i = 0; i < n; i++) {
        push_url_t e;
        if (push_url_parse(allow[i], &e) && entry_covers(&e, &a))
            return true;
    }
    return false;
}
