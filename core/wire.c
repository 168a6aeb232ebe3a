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
}

void response_set(response_t *r, int status, json_t *data)
{
    json_decref(r->data);
    r->status = status;
    r->data = data;
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

char *wire_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* Appends s to buf as a JSON string literal. */
static void put_string(char **buf, size_t *len, size_t *cap, const char *s)
{
    json_t *j = json_string(s);
    char *enc = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    if (!enc) {
        enc = strdup("\"\"");
        if (!enc)
            abort();
    }
    size_t n = strlen(enc);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf)
            abort();
    }
    memcpy(*buf + *len, enc, n);
    *len += n;
    (*buf)[*len] = '\0';
    free(enc);
}

static void put_raw(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf)
            abort();
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

char *wire_encode_envelope(const char *kind, const char *corr_id, int status, const json_t *data,
                           size_t *len_out)
{
    /* The envelope's member order (kind, head, data; corrId, status,
     * version) is the reference's struct order; data is key-sorted. */
    size_t len = 0, cap = 256;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    buf[0] = '\0';
    char status_s[64];
    snprintf(status_s, sizeof status_s, ",\"status\":%d,\"version\":\"" PROTOCOL_VERSION "\"},",
             status);
    put_raw(&buf, &len, &cap, "{\"kind\":");
    put_string(&buf, &len, &cap, kind);
    put_raw(&buf, &len, &cap, ",\"head\":{\"corrId\":");
    put_string(&buf, &len, &cap, corr_id);
    put_raw(&buf, &len, &cap, status_s);
    put_raw(&buf, &len, &cap, "\"data\":");
    char *d = data ? wire_dump(data) : NULL;
    put_raw(&buf, &len, &cap, d ? d : "{}");
    free(d);
    put_raw(&buf, &len, &cap, "}");
    if (len_out)
        *len_out = len;
    return buf;
}
