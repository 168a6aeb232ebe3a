/* wire.c - the encoding half of wire.h: responses and records as JSON
 * (request decoding is decode.c).
 *
 * Output mirrors the reference byte for byte where it matters: objects inside
 * `data` key-sorted at every depth, absent optionals omitted, compact form,
 * non-ASCII written raw. */
#include "core/wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void response_clear(response_t *r)
{
    json_decref(r->data);
    r->data = NULL;
    r->promise = NULL;
}

void response_set(response_t *r, int status, json_t *data)
{
    json_decref(r->data);
    r->status = status;
    r->data = data;
    r->promise = NULL;
}

void response_promise(response_t *r, int status, const promise_t *p)
{
    response_set(r, status, NULL);
    r->promise = p;
}

void response_error(response_t *r, int status, const char *fmt, ...)
{
    char *buf = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&buf, fmt, ap);
    va_end(ap);
    /* Messages may embed client text: never let invalid UTF-8 (or a failed
     * allocation) turn the answer into a body without data. */
    json_t *msg = n >= 0 ? json_string(buf) : NULL;
    free(buf);
    response_set(r, status, msg ? msg : json_string("invalid message text"));
}

json_t *wire_kvmap(const kvmap_t *m)
{
    json_t *o = json_object();
    for (size_t i = 0; i < m->n; i++)
        json_object_set_new(o, m->items[i].key, json_string(m->items[i].val));
    return o;
}

json_t *wire_pvalue(const pvalue_t *v)
{
    json_t *o = json_object();
    if (v->has_headers)
        json_object_set_new(o, "headers", wire_kvmap(&v->headers));
    if (v->data)
        json_object_set_new(o, "data", json_string(v->data));
    return o;
}

json_t *wire_promise(const promise_t *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(p->id));
    json_object_set_new(o, "state", json_string(pstate_name(p->state)));
    json_object_set_new(o, "param", wire_pvalue(&p->param));
    json_object_set_new(o, "value", wire_pvalue(&p->value));
    json_object_set_new(o, "tags", wire_kvmap(&p->tags));
    json_object_set_new(o, "timeoutAt", json_integer(p->timeout_at));
    json_object_set_new(o, "createdAt", json_integer(p->created_at));
    if (p->has_settled_at)
        json_object_set_new(o, "settledAt", json_integer(p->settled_at));
    return o;
}

/* An upper bound of the JSON string literal of s: quotes, and 6 bytes
 * (\u00XX) for each byte that may be escaped. */
static size_t str_size(const char *s)
{
    size_t n = 2;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p < 0x20 || *p == '"' || *p == '\\') ? 6 : 1;
    return n;
}

static size_t kvmap_size(const kvmap_t *m)
{
    size_t n = 2;
    for (size_t i = 0; i < m->n; i++)
        n += str_size(m->items[i].key) + str_size(m->items[i].val) + 2; /* : and , */
    return n;
}

static size_t pvalue_size(const pvalue_t *v)
{
    return 32 + kvmap_size(&v->headers) + (v->data ? str_size(v->data) : 0);
}

size_t wire_promise_size(const promise_t *p)
{
    /* Member names, punctuation, the state and three integers: < 160. */
    return 160 + str_size(p->id) + pvalue_size(&p->param) + pvalue_size(&p->value) +
           kvmap_size(&p->tags);
}

json_t *wire_task(const task_t *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(t->id));
    json_object_set_new(o, "state", json_string(tstate_name(t->state)));
    json_object_set_new(o, "version", json_integer(t->version));
    json_object_set_new(o, "resumes", json_integer(t->resumes));
    if (t->has_lease) {
        json_object_set_new(o, "ttl", json_integer(t->ttl));
        json_object_set_new(o, "pid", json_string(t->pid ? t->pid : ""));
    }
    return o;
}

json_t *wire_schedule(const schedule_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(s->id));
    json_object_set_new(o, "cron", json_string(s->cron));
    json_object_set_new(o, "promiseId", json_string(s->promise_id));
    json_object_set_new(o, "promiseTimeout", json_integer(s->promise_timeout));
    json_object_set_new(o, "promiseParam", wire_pvalue(&s->promise_param));
    json_object_set_new(o, "promiseTags", wire_kvmap(&s->promise_tags));
    json_object_set_new(o, "createdAt", json_integer(s->created_at));
    json_object_set_new(o, "nextRunAt", json_integer(s->next_run_at));
    if (s->has_last_run_at)
        json_object_set_new(o, "lastRunAt", json_integer(s->last_run_at));
    return o;
}

/* ---- the envelope encoder ---------------------------------------------------
 *
 * One growing buffer, written in one pass: no intermediate strings. The
 * output is byte for byte what json_dumps(JSON_COMPACT | JSON_SORT_KEYS)
 * writes (test_wire.c compares them on random trees): keys ordered as
 * jansson orders them (bytes, then length), '"', '\\' and control
 * characters escaped (\u00XX in upper case where there is no short form),
 * everything else, UTF-8 included, copied; reals, rare in answers, are
 * formatted by jansson itself. */

typedef struct {
    char *p;
    size_t len, cap;
} outbuf_t;

/* Room for extra more bytes; aborts when memory is exhausted, as the
 * callers of wire_encode_envelope cannot answer without it. */
static void ob_reserve(outbuf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        abort();
    b->p = p;
    b->cap = cap;
}

static void ob_put(outbuf_t *b, const char *s, size_t n)
{
    ob_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* v in decimal, as printf's %lld writes it (no printf on the hot path). */
static void ob_i64(outbuf_t *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    /* Negated as unsigned, so INT64_MIN needs no special case. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    ob_put(b, tmp + i, sizeof tmp - i);
}

size_t wire_control_len(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
        return 1;
    if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] < 0xa0)
        return 2;
    return 0;
}

size_t wire_put_string(char *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = out;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    return (size_t)(o - out);
}

static void ob_str(outbuf_t *b, const char *s, size_t n)
{
    ob_reserve(b, n * 6 + 2);
    b->len += wire_put_string(b->p + b->len, s, n);
}

typedef struct {
    const char *key;
    size_t len;
    json_t *val;
} member_t;

/* jansson's order of sorted keys: bytes first, then length. */
static int member_cmp(const void *x, const void *y)
{
    const member_t *a = x, *b = y;
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void ob_json(outbuf_t *b, const json_t *v);

static void ob_object(outbuf_t *b, const json_t *v)
{
    size_t n = json_object_size(v);
    member_t small[16];
    member_t *m = n <= 16 ? small : malloc(n * sizeof *m);
    if (!m)
        abort();
    size_t i = 0;
    for (void *it = json_object_iter((json_t *)v); it && i < n;
         it = json_object_iter_next((json_t *)v, it), i++) {
        m[i].key = json_object_iter_key(it);
        m[i].len = json_object_iter_key_len(it);
        m[i].val = json_object_iter_value(it);
    }
    if (i > 1)
        qsort(m, i, sizeof *m, member_cmp);
    ob_put(b, "{", 1);
    for (size_t k = 0; k < i; k++) {
        if (k)
            ob_put(b, ",", 1);
        ob_str(b, m[k].key, m[k].len);
        ob_put(b, ":", 1);
        ob_json(b, m[k].val);
    }
    ob_put(b, "}", 1);
    if (m != small)
        free(m);
}

static void ob_json(outbuf_t *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        ob_object(b, v);
        break;
    case JSON_ARRAY:
        ob_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                ob_put(b, ",", 1);
            ob_json(b, json_array_get(v, i));
        }
        ob_put(b, "]", 1);
        break;
    case JSON_STRING:
        ob_str(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        ob_i64(b, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL: {
        char *r = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!r)
            abort();
        ob_put(b, r, strlen(r));
        free(r);
        break;
    }
    case JSON_TRUE:
        ob_put(b, "true", 4);
        break;
    case JSON_FALSE:
        ob_put(b, "false", 5);
        break;
    case JSON_NULL:
        ob_put(b, "null", 4);
        break;
    }
}

char *wire_dump(const json_t *v)
{
    if (!v)
        return NULL;
    outbuf_t b = {0};
    ob_json(&b, v);
    b.p[b.len] = '\0';
    return b.p;
}

/* kind and corrId come from the request as C strings: valid UTF-8 (jansson
 * decoded them) unless a caller passes other bytes, which json_string would
 * refuse; the old encoder wrote "" then, and so does this one. */
static void ob_cstr(outbuf_t *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) {
            json_t *j = json_string(s);
            if (!j) {
                ob_put(b, "\"\"", 2);
                return;
            }
            json_decref(j);
            break;
        }
    ob_str(b, s, n);
}

static void ob_promise(outbuf_t *b, const promise_t *p);

/* The envelope with data, or with {"promise": *promise} when promise is
 * set. */
static char *encode(const char *kind, const char *corr_id, int status, const json_t *data,
                    const promise_t *promise, size_t *len_out)
{
    /* The envelope's member order (kind, head, data; corrId, status,
     * version) is the reference's struct order; data is key-sorted. */
    outbuf_t b = {0};
    ob_reserve(&b, 255);
    ob_put(&b, "{\"kind\":", 8);
    ob_cstr(&b, kind);
    ob_put(&b, ",\"head\":{\"corrId\":", 18);
    ob_cstr(&b, corr_id);
    static const char version[] = ",\"version\":\"" PROTOCOL_VERSION "\"},\"data\":";
    ob_put(&b, ",\"status\":", 10);
    ob_i64(&b, status);
    ob_put(&b, version, sizeof version - 1);
    if (data) {
        ob_json(&b, data);
    } else if (promise) {
        ob_put(&b, "{\"promise\":", 11);
        ob_promise(&b, promise);
        ob_put(&b, "}", 1);
    } else {
        ob_put(&b, "{}", 2);
    }
    ob_put(&b, "}", 1);
    b.p[b.len] = '\0';
    if (len_out)
        *len_out = b.len;
    return b.p;
}

char *wire_encode_envelope(const char *kind, const char *corr_id, int status, const json_t *data,
                           size_t *len_out)
{
    return encode(kind, corr_id, status, data, NULL, len_out);
}

/* ---- typed records, written without a tree ---------------------------------
 * Member names in sorted order, as wire_promise's tree is dumped. */

static int kv_cmp(const void *x, const void *y)
{
    return strcmp(((const kv_t *)x)->key, ((const kv_t *)y)->key);
}

static void ob_kvmap(outbuf_t *b, const kvmap_t *m)
{
    kv_t small[16];
    const kv_t *items = m->items;
    kv_t *sorted = NULL;
    if (m->n > 1) {
        sorted = m->n <= 16 ? small : malloc(m->n * sizeof *sorted);
        if (!sorted)
            abort();
        memcpy(sorted, m->items, m->n * sizeof *sorted);
        qsort(sorted, m->n, sizeof *sorted, kv_cmp);
        items = sorted;
    }
    ob_put(b, "{", 1);
    for (size_t i = 0; i < m->n; i++) {
        if (i)
            ob_put(b, ",", 1);
        ob_str(b, items[i].key, strlen(items[i].key));
        ob_put(b, ":", 1);
        ob_str(b, items[i].val, strlen(items[i].val));
    }
    ob_put(b, "}", 1);
    if (sorted && sorted != small)
        free(sorted);
}

static void ob_pvalue(outbuf_t *b, const pvalue_t *v)
{
    ob_put(b, "{", 1);
    if (v->data) {
        ob_put(b, "\"data\":", 7);
        ob_str(b, v->data, strlen(v->data));
    }
    if (v->has_headers) {
        ob_put(b, v->data ? ",\"headers\":" : "\"headers\":", v->data ? 11 : 10);
        ob_kvmap(b, &v->headers);
    }
    ob_put(b, "}", 1);
}

static void ob_int(outbuf_t *b, const char *member, int64_t v)
{
    ob_put(b, member, strlen(member));
    ob_i64(b, v);
}

static void ob_promise(outbuf_t *b, const promise_t *p)
{
    ob_int(b, "{\"createdAt\":", p->created_at);
    ob_put(b, ",\"id\":", 6);
    ob_str(b, p->id, strlen(p->id));
    ob_put(b, ",\"param\":", 9);
    ob_pvalue(b, &p->param);
    if (p->has_settled_at)
        ob_int(b, ",\"settledAt\":", p->settled_at);
    ob_put(b, ",\"state\":", 9);
    const char *state = pstate_name(p->state);
    ob_str(b, state, strlen(state));
    ob_put(b, ",\"tags\":", 8);
    ob_kvmap(b, &p->tags);
    ob_int(b, ",\"timeoutAt\":", p->timeout_at);
    ob_put(b, ",\"value\":", 9);
    ob_pvalue(b, &p->value);
    ob_put(b, "}", 1);
}

json_t *response_json(response_t *r)
{
    if (!r->data && r->promise) {
        json_t *o = json_object();
        json_object_set_new(o, "promise", wire_promise(r->promise));
        r->data = o;
    }
    return r->data;
}

char *wire_encode_response(const char *kind, const char *corr_id, const response_t *r, size_t *len)
{
    return encode(kind, corr_id, r->status, r->data, r->data ? NULL : r->promise, len);
}
