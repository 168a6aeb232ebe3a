/* kvjson.c - canonical JSON text for string maps (see kvjson.h).
 *
 * Strings are escaped by wire_put_string (core/wire.h), as jansson's
 * compact output and wire_dump are. */
#include "store/kvjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire.h"

void kvbuf_free(kvbuf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int kvbuf_reserve(kvbuf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return -1;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int kvjson_encode(kvbuf_t *b, const kvmap_t *m)
{
    /* Reserve the worst case once so the loop below never reallocates. */
    size_t worst = 2;
    for (size_t i = 0; i < m->n; i++) {
        size_t kl = strlen(m->items[i].key), vl = strlen(m->items[i].val);
        if (kl > SIZE_MAX / 16 || vl > SIZE_MAX / 16)
            return -1;
        size_t item = 6 * (kl + vl) + 6;
        if (item > SIZE_MAX - worst)
            return -1;
        worst += item;
    }
    if (kvbuf_reserve(b, worst) != 0)
        return -1;
    char *o = b->p + b->len;
    *o++ = '{';
    for (size_t i = 0; i < m->n; i++) {
        if (i)
            *o++ = ',';
        o += wire_put_string(o, m->items[i].key, strlen(m->items[i].key));
        *o++ = ':';
        o += wire_put_string(o, m->items[i].val, strlen(m->items[i].val));
    }
    *o++ = '}';
    b->len = (size_t)(o - b->p);
    return 0;
}

/* ---- decoding ------------------------------------------------------------ */

typedef struct {
    const char *p;
    const char *end;
} cursor_t;

static void skip_ws(cursor_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (unsigned)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Consumes the string literal at c->p. With out, writes the decoded bytes
 * and a NUL there (never more bytes than the literal occupies). Returns the
 * decoded length, or -1 on malformed input. */
static ptrdiff_t scan_string(cursor_t *c, char *out)
{
    if (c->p >= c->end || *c->p != '"')
        return -1;
    c->p++;
    size_t n = 0;
    char tmp[4];
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"') {
            if (out)
                out[n] = '\0';
            return (ptrdiff_t)n;
        }
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            if (out)
                out[n] = (char)ch;
            n++;
            continue;
        }
        if (c->p >= c->end)
            return -1;
        char e = *c->p++;
        unsigned cp;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            cp = (unsigned char)e;
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            if (c->end - c->p < 4 || hex4(c->p, &cp) != 0)
                return -1;
            c->p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
                    hex4(c->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                c->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0)
                return -1;
            break;
        default:
            return -1;
        }
        size_t k = put_utf8(tmp, cp);
        if (out)
            memcpy(out + n, tmp, k);
        n += k;
    }
    return -1;
}

/* Walks the object once. Without items it only validates and counts; with
 * items it also decodes every string into *block (advancing it). */
static int walk_object(const char *text, size_t len, kv_t *items, char **block, size_t *count)
{
    cursor_t c = {text, text + len};
    size_t n = 0;
    skip_ws(&c);
    if (c.p >= c.end || *c.p++ != '{')
        return -1;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            char *out = items ? *block : NULL;
            ptrdiff_t kl = scan_string(&c, out);
            if (kl < 0)
                return -1;
            if (items) {
                items[n].key = out;
                *block += kl + 1;
            }
            skip_ws(&c);
            if (c.p >= c.end || *c.p++ != ':')
                return -1;
            skip_ws(&c);
            out = items ? *block : NULL;
            ptrdiff_t vl = scan_string(&c, out);
            if (vl < 0)
                return -1;
            if (items) {
                items[n].val = out;
                *block += vl + 1;
            }
            n++;
            skip_ws(&c);
            if (c.p >= c.end)
                return -1;
            char ch = *c.p++;
            if (ch == '}')
                break;
            if (ch != ',')
                return -1;
            skip_ws(&c);
        }
    }
    skip_ws(&c);
    if (c.p != c.end)
        return -1;
    *count = n;
    return 0;
}

static int kv_cmp(const void *x, const void *y)
{
    return strcmp(((const kv_t *)x)->key, ((const kv_t *)y)->key);
}

int kvjson_decode(arena_t *a, const char *text, size_t len, kvmap_t *m)
{
    m->items = NULL;
    m->n = 0;
    size_t n;
    if (walk_object(text, len, NULL, NULL, &n) != 0)
        return -1;
    if (n == 0)
        return 0;
    /* Decoded strings plus their NULs never exceed the literal's bytes (two
     * quotes per string), so one block of len bytes holds them all. */
    kv_t *items = arena_alloc(a, n * sizeof *items);
    char *block = arena_alloc(a, len);
    if (walk_object(text, len, items, &block, &n) != 0)
        return -1;
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = strcmp(items[i - 1].key, items[i].key) < 0;
    if (!sorted) {
        qsort(items, n, sizeof *items, kv_cmp);
        for (size_t i = 1; i < n; i++)
            if (strcmp(items[i - 1].key, items[i].key) == 0)
                return -1;
    }
    m->items = items;
    m->n = n;
    return 0;
}
