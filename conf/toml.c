/* toml.c - the resonate.toml reader; see toml.h.
 *
 * A hand-written recursive-descent parser over one buffer. Every failure
 * goes through fail(), which records the first message with its line; the
 * callers then unwind returning -1, so the message always names the place
 * the problem was found, not where the unwinding ended. */
#include "conf/toml.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end;
    int line;
    const char *name;
    char *err;
    size_t errlen;
    bool failed;
    toml_doc_t *doc;
    char **headers; /* [table] names seen, to refuse a table defined twice */
    int *header_lines;
    size_t nheaders;
} cur_t;

static int fail(cur_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(cur_t *c, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    c->failed = true;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->name)
        snprintf(c->err, c->errlen, "%s:%d: %s", c->name, c->line, msg);
    else
        snprintf(c->err, c->errlen, "%s", msg);
    return -1;
}

static bool at_end(const cur_t *c)
{
    return c->p >= c->end;
}

static int peek(const cur_t *c)
{
    return at_end(c) ? -1 : (unsigned char)*c->p;
}

static void skip_ws(cur_t *c)
{
    while (!at_end(c) && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static void skip_comment(cur_t *c)
{
    if (peek(c) == '#')
        while (!at_end(c) && *c->p != '\n')
            c->p++;
}

/* Consumes a newline (LF or CRLF); false when none is here. */
static bool eat_newline(cur_t *c)
{
    if (peek(c) == '\n') {
        c->p++;
        c->line++;
        return true;
    }
    if (peek(c) == '\r' && c->p + 1 < c->end && c->p[1] == '\n') {
        c->p += 2;
        c->line++;
        return true;
    }
    return false;
}

/* Whitespace, comments and newlines, as allowed between array elements. */
static void skip_blank(cur_t *c)
{
    for (;;) {
        skip_ws(c);
        skip_comment(c);
        if (!eat_newline(c))
            return;
    }
}

/* After a key/value pair or a table header: only a comment may follow. */
static int expect_eol(cur_t *c)
{
    skip_ws(c);
    skip_comment(c);
    if (at_end(c) || eat_newline(c))
        return 0;
    return fail(c, "unexpected '%c' after the value (one key = value per line)", *c->p);
}

/* Appends the UTF-8 encoding of cp to buf at *n. */
static void put_utf8(char *buf, size_t *n, unsigned long cp)
{
    if (cp < 0x80) {
        buf[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        buf[(*n)++] = (char)(0xC0 | (cp >> 6));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        buf[(*n)++] = (char)(0xE0 | (cp >> 12));
        buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        buf[(*n)++] = (char)(0xF0 | (cp >> 18));
        buf[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static bool is_control(int ch)
{
    return (ch >= 0 && ch < 0x20 && ch != '\t') || ch == 0x7F;
}

/* A basic ("...") or literal ('...') string at c->p. Returns a malloc'd
 * copy with escapes decoded, or NULL after fail(). */
static char *parse_string(cur_t *c)
{
    char q = *c->p;
    if (c->end - c->p >= 3 && c->p[1] == q && c->p[2] == q) {
        fail(c, "multi-line strings are not supported");
        return NULL;
    }
    c->p++;
    /* The decoded text is never longer than the source. */
    const char *start = c->p;
    size_t cap = (size_t)(c->end - start) + 1, n = 0;
    char *out = malloc(cap);
    if (!out) {
        fail(c, "out of memory");
        return NULL;
    }
    for (;;) {
        if (at_end(c) || *c->p == '\n' || *c->p == '\r') {
            fail(c, "unterminated string");
            goto bad;
        }
        int ch = (unsigned char)*c->p;
        if (ch == q) {
            c->p++;
            break;
        }
        if (is_control(ch)) {
            fail(c, "control character 0x%02x in a string (use an escape)", ch);
            goto bad;
        }
        if (ch != '\\' || q == '\'') {
            out[n++] = (char)ch;
            c->p++;
            continue;
        }
        c->p++;
        int e = peek(c);
        c->p++;
        switch (e) {
        case 'b':
            out[n++] = '\b';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 'f':
            out[n++] = '\f';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case '"':
            out[n++] = '"';
            break;
        case '\\':
            out[n++] = '\\';
            break;
        case 'u':
        case 'U': {
            int digits = e == 'u' ? 4 : 8;
            unsigned long cp = 0;
            for (int i = 0; i < digits; i++, c->p++) {
                int h = peek(c);
                int v = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (v < 0) {
                    fail(c, "\\%c needs %d hex digits", e, digits);
                    goto bad;
                }
                cp = cp * 16 + (unsigned long)v;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) {
                fail(c, "\\%c escape is not a valid Unicode scalar value", e);
                goto bad;
            }
            put_utf8(out, &n, cp);
            break;
        }
        default:
            if (e < 0)
                fail(c, "unterminated string");
            else
                fail(c, "invalid escape '\\%c' in a string", e);
            goto bad;
        }
    }
    out[n] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

static bool is_bare(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* A dotted key: parts joined with '.'. Returns a malloc'd key or NULL. */
static char *parse_key(cur_t *c)
{
    size_t cap = 64, n = 0;
    char *key = malloc(cap);
    if (!key) {
        fail(c, "out of memory");
        return NULL;
    }
    for (;;) {
        skip_ws(c);
        char *part = NULL;
        size_t plen;
        if (peek(c) == '"' || peek(c) == '\'') {
            part = parse_string(c);
            if (!part)
                goto bad;
            plen = strlen(part);
        } else {
            const char *s = c->p;
            while (!at_end(c) && is_bare(*c->p))
                c->p++;
            plen = (size_t)(c->p - s);
            if (plen == 0) {
                if (at_end(c) || *c->p == '\n' || *c->p == '\r')
                    fail(c, "expected a key");
                else
                    fail(c, "invalid character '%c' in a key", *c->p);
                goto bad;
            }
            part = strndup(s, plen);
            if (!part) {
                fail(c, "out of memory");
                goto bad;
            }
        }
        if (n + plen + 2 > cap) {
            cap = (n + plen + 2) * 2;
            char *nk = realloc(key, cap);
            if (!nk) {
                free(part);
                fail(c, "out of memory");
                goto bad;
            }
            key = nk;
        }
        if (n)
            key[n++] = '.';
        memcpy(key + n, part, plen);
        n += plen;
        key[n] = '\0';
        free(part);
        skip_ws(c);
        if (peek(c) != '.')
            return key;
        c->p++;
    }
bad:
    free(key);
    return NULL;
}

static char *join_key(cur_t *c, const char *prefix, const char *key)
{
    size_t lp = prefix ? strlen(prefix) : 0, lk = strlen(key);
    char *s = malloc(lp + lk + 2);
    if (!s) {
        fail(c, "out of memory");
        return NULL;
    }
    if (lp) {
        memcpy(s, prefix, lp);
        s[lp] = '.';
        memcpy(s + lp + 1, key, lk + 1);
    } else {
        memcpy(s, key, lk + 1);
    }
    return s;
}

/* True when a is b or a table containing b ("server" vs "server.port"). */
static bool is_prefix_of(const char *a, const char *b)
{
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '.');
}

/* Refuses a value under key when the document already has it, or has a
 * value or table that the new key would contradict. */
static int check_new_key(cur_t *c, const char *key)
{
    for (size_t i = 0; i < c->doc->n; i++) {
        const toml_entry_t *e = &c->doc->v[i];
        if (strcmp(e->key, key) == 0)
            return fail(c, "duplicate key '%s' (first set on line %d)", key, e->line);
        if (is_prefix_of(e->key, key))
            return fail(c, "key '%s' needs '%s' to be a table, but line %d gives it a value", key,
                        e->key, e->line);
        if (is_prefix_of(key, e->key))
            return fail(c, "'%s' is a table (line %d sets '%s'); it cannot also be a value", key,
                        e->line, e->key);
    }
    for (size_t i = 0; i < c->nheaders; i++)
        if (strcmp(c->headers[i], key) == 0)
            return fail(c, "'%s' is a table (header on line %d); it cannot also be a value", key,
                        c->header_lines[i]);
    return 0;
}

static toml_entry_t *add_entry(cur_t *c, char *key, int line)
{
    if (check_new_key(c, key) != 0) {
        free(key);
        return NULL;
    }
    toml_doc_t *d = c->doc;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        toml_entry_t *nv = realloc(d->v, cap * sizeof *nv);
        if (!nv) {
            free(key);
            fail(c, "out of memory");
            return NULL;
        }
        d->v = nv;
        d->cap = cap;
    }
    toml_entry_t *e = &d->v[d->n++];
    memset(e, 0, sizeof *e);
    e->key = key;
    e->line = line;
    return e;
}

static bool ends_token(int ch)
{
    return ch < 0 || ch == ' ' || ch == '\t' || ch == ',' || ch == ']' || ch == '}' || ch == '#' ||
           ch == '\n' || ch == '\r';
}

/* An integer, a boolean, or a clear refusal of the scalar types we do not
 * take. */
static int parse_scalar(cur_t *c, toml_entry_t *e)
{
    const char *s = c->p;
    while (!ends_token(peek(c)))
        c->p++;
    size_t n = (size_t)(c->p - s);
    char tok[128];
    if (n == 0)
        return fail(c, "expected a value");
    if (n >= sizeof tok)
        return fail(c, "value too long: '%.20s...'", s);
    memcpy(tok, s, n);
    tok[n] = '\0';
    if (strcmp(tok, "true") == 0 || strcmp(tok, "false") == 0) {
        e->type = TOML_BOOL;
        e->b = tok[0] == 't';
        return 0;
    }
    if (!isalnum((unsigned char)tok[0]) && tok[0] != '+' && tok[0] != '-')
        return fail(c,
                    "expected a value (string in quotes, integer, true/false or array), "
                    "got '%s'",
                    tok);
    const char *t = tok;
    int base = 10;
    bool neg = false;
    if (t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
        base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
        t += 2;
    } else if (t[0] == '+' || t[0] == '-') {
        neg = t[0] == '-';
        t++;
    }
    if (strcmp(t, "inf") == 0 || strcmp(t, "nan") == 0)
        return fail(c, "floating-point values are not supported (no key takes one): '%s'", tok);
    /* Digits with single underscores between them. */
    char digits[128];
    size_t nd = 0;
    bool prev_digit = false;
    for (const char *q = t; *q; q++) {
        int ch = (unsigned char)*q;
        bool digit = base == 16  ? ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                                   (ch >= 'A' && ch <= 'F'))
                     : base == 8 ? (ch >= '0' && ch <= '7')
                     : base == 2 ? (ch == '0' || ch == '1')
                                 : (ch >= '0' && ch <= '9');
        if (digit) {
            digits[nd++] = (char)ch;
            prev_digit = true;
        } else if (ch == '_' && prev_digit && q[1] && q[1] != '_') {
            prev_digit = false;
        } else if (base == 10 && (ch == '.' || ch == 'e' || ch == 'E') && nd) {
            return fail(c, "floating-point values are not supported (no key takes one): '%s'", tok);
        } else if (base == 10 && (ch == '-' || ch == ':') && nd) {
            return fail(c, "dates and times are not supported: '%s'", tok);
        } else if (nd == 0 && base == 10 && (isalpha(ch) || ch == '"')) {
            return fail(c,
                        "expected a value (string in quotes, integer, true/false or array), "
                        "got '%s'",
                        tok);
        } else {
            return fail(c, "invalid number '%s'", tok);
        }
    }
    digits[nd] = '\0';
    if (nd == 0)
        return fail(c, "invalid number '%s'", tok);
    if (base == 10 && nd > 1 && digits[0] == '0')
        return fail(c, "leading zeros are not allowed in '%s'", tok);
    errno = 0;
    char *endp;
    unsigned long long v = strtoull(digits, &endp, base);
    if (errno || *endp || v > (unsigned long long)INT64_MAX + (neg ? 1u : 0u))
        return fail(c, "integer out of range: '%s'", tok);
    e->type = TOML_INT;
    e->i = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int parse_array(cur_t *c, toml_entry_t *e)
{
    c->p++; /* [ */
    e->type = TOML_ARRAY;
    size_t cap = 0;
    for (;;) {
        skip_blank(c);
        if (at_end(c))
            return fail(c, "unterminated array");
        if (*c->p == ']') {
            c->p++;
            return 0;
        }
        if (*c->p != '"' && *c->p != '\'')
            return fail(c, "arrays may only hold strings here");
        char *s = parse_string(c);
        if (!s)
            return -1;
        if (e->nitems == cap) {
            cap = cap ? cap * 2 : 4;
            char **ni = realloc(e->items, cap * sizeof *ni);
            if (!ni) {
                free(s);
                return fail(c, "out of memory");
            }
            e->items = ni;
        }
        e->items[e->nitems++] = s;
        skip_blank(c);
        if (peek(c) == ',') {
            c->p++;
            continue;
        }
        if (peek(c) == ']') {
            c->p++;
            return 0;
        }
        if (at_end(c))
            return fail(c, "unterminated array");
        return fail(c, "expected ',' or ']' in an array");
    }
}

static int parse_keyval(cur_t *c, const char *prefix);

/* { k = v, ... } on one line: each value becomes an entry under key. */
static int parse_inline_table(cur_t *c, const char *key)
{
    c->p++; /* { */
    skip_ws(c);
    if (peek(c) == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        if (parse_keyval(c, key) != 0)
            return -1;
        skip_ws(c);
        if (peek(c) == ',') {
            c->p++;
            continue;
        }
        if (peek(c) == '}') {
            c->p++;
            return 0;
        }
        return fail(c, "expected ',' or '}' in an inline table (inline tables fit on one line)");
    }
}

/* key = value, the key relative to prefix. */
static int parse_keyval(cur_t *c, const char *prefix)
{
    int line = c->line;
    char *k = parse_key(c);
    if (!k)
        return -1;
    char *full = join_key(c, prefix, k);
    free(k);
    if (!full)
        return -1;
    skip_ws(c);
    if (peek(c) != '=') {
        int ch = peek(c);
        if (ch < 0 || ch == '\n' || ch == '\r' || ch == '#')
            fail(c, "expected '=' after key '%s'", full);
        else
            fail(c, "invalid character '%c' after key '%s' (expected '=')", ch, full);
        free(full);
        return -1;
    }
    c->p++;
    skip_ws(c);
    int ch = peek(c);
    if (ch == '{') {
        int rc = parse_inline_table(c, full);
        free(full);
        return rc;
    }
    toml_entry_t *e = add_entry(c, full, line);
    if (!e)
        return -1;
    if (ch == '"' || ch == '\'') {
        e->type = TOML_STRING;
        e->str = parse_string(c);
        return e->str ? 0 : -1;
    }
    if (ch == '[')
        return parse_array(c, e);
    e->type = TOML_BOOL; /* harmless placeholder until parse_scalar decides */
    return parse_scalar(c, e);
}

static int parse_header(cur_t *c, char **table)
{
    int line = c->line;
    c->p++; /* [ */
    if (peek(c) == '[')
        return fail(c, "arrays of tables ([[...]]) are not supported");
    char *k = parse_key(c);
    if (!k)
        return -1;
    skip_ws(c);
    if (peek(c) != ']') {
        free(k);
        return fail(c, "expected ']' to close the table header");
    }
    c->p++;
    for (size_t i = 0; i < c->nheaders; i++)
        if (strcmp(c->headers[i], k) == 0) {
            int first = c->header_lines[i];
            free(k);
            return fail(c, "table [%s] defined twice (first on line %d)", c->headers[i], first);
        }
    for (size_t i = 0; i < c->doc->n; i++)
        if (is_prefix_of(c->doc->v[i].key, k)) {
            fail(c, "table [%s] conflicts with the value '%s' set on line %d", k, c->doc->v[i].key,
                 c->doc->v[i].line);
            free(k);
            return -1;
        }
    char **nh = realloc(c->headers, (c->nheaders + 1) * sizeof *nh);
    int *nl = nh ? realloc(c->header_lines, (c->nheaders + 1) * sizeof *nl) : NULL;
    if (nh)
        c->headers = nh;
    if (nl)
        c->header_lines = nl;
    if (!nh || !nl) {
        free(k);
        return fail(c, "out of memory");
    }
    c->headers[c->nheaders] = k;
    c->header_lines[c->nheaders++] = line;
    *table = k;
    return 0;
}

int toml_parse(const char *text, size_t len, const char *name, toml_doc_t *doc, char *err,
               size_t errlen)
{
    memset(doc, 0, sizeof *doc);
    cur_t c = {.p = text,
               .end = text + len,
               .line = 1,
               .name = name,
               .err = err,
               .errlen = errlen,
               .doc = doc};
    const char *table = NULL; /* borrowed from c.headers */
    int rc = 0;
    if (memchr(text, '\0', len)) {
        const char *z = memchr(text, '\0', len);
        for (const char *q = text; q < z; q++)
            c.line += *q == '\n';
        rc = fail(&c, "NUL byte in the file");
    }
    /* A UTF-8 byte order mark is allowed at the very start. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        c.p += 3;
    while (rc == 0 && !at_end(&c)) {
        skip_ws(&c);
        skip_comment(&c);
        if (at_end(&c) || eat_newline(&c))
            continue;
        if (*c.p == '[') {
            char *t = NULL;
            rc = parse_header(&c, &t);
            if (rc == 0) {
                table = t;
                rc = expect_eol(&c);
            }
        } else {
            rc = parse_keyval(&c, table);
            if (rc == 0)
                rc = expect_eol(&c);
        }
    }
    for (size_t i = 0; i < c.nheaders; i++)
        free(c.headers[i]);
    free(c.headers);
    free(c.header_lines);
    if (rc != 0)
        toml_free(doc);
    return rc;
}

void toml_free_strings(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

void toml_free(toml_doc_t *doc)
{
    for (size_t i = 0; i < doc->n; i++) {
        free(doc->v[i].key);
        free(doc->v[i].str);
        toml_free_strings(doc->v[i].items, doc->v[i].nitems);
    }
    free(doc->v);
    memset(doc, 0, sizeof *doc);
}

const char *toml_type_name(toml_type_t t)
{
    switch (t) {
    case TOML_STRING:
        return "a string";
    case TOML_INT:
        return "an integer";
    case TOML_BOOL:
        return "a boolean";
    case TOML_ARRAY:
        return "an array";
    }
    return "a value";
}

int toml_parse_string_array(const char *text, char ***items, size_t *n, char *err, size_t errlen)
{
    toml_doc_t doc = {0};
    cur_t c = {.p = text,
               .end = text + strlen(text),
               .line = 1,
               .err = err,
               .errlen = errlen,
               .doc = &doc};
    toml_entry_t e = {0};
    *items = NULL;
    *n = 0;
    skip_ws(&c);
    if (peek(&c) != '[')
        return fail(&c, "expected an array like [\"a\", \"b\"]");
    if (parse_array(&c, &e) != 0)
        goto bad;
    skip_ws(&c);
    if (!at_end(&c)) {
        fail(&c, "unexpected text after the array");
        goto bad;
    }
    *items = e.items;
    *n = e.nitems;
    return 0;
bad:
    toml_free_strings(e.items, e.nitems);
    return -1;
}

char *toml_parse_string(const char *text, char *err, size_t errlen)
{
    cur_t c = {.p = text, .end = text + strlen(text), .line = 1, .err = err, .errlen = errlen};
    if (peek(&c) != '"' && peek(&c) != '\'') {
        fail(&c, "expected a quoted string");
        return NULL;
    }
    char *s = parse_string(&c);
    if (s && !at_end(&c)) {
        free(s);
        fail(&c, "unexpected text after the string");
        return NULL;
    }
    return s;
}

char *toml_encode_string_array(char *const *items, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += strlen(items[i]) * 6 + 4; /* worst case: every byte a \u escape */
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const unsigned char *s = (const unsigned char *)items[i]; *s; s++) {
            if (*s == '"' || *s == '\\') {
                *o++ = '\\';
                *o++ = (char)*s;
            } else if (is_control(*s)) {
                o += sprintf(o, "\\u%04x", *s);
            } else {
                *o++ = (char)*s;
            }
        }
        *o++ = '"';
    }
    *o++ = ']';
    *o = '\0';
    return out;
}
