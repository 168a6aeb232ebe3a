/* decode.c - the edge: request envelopes and operation data into request_t.
 *
 * Every rule that can reject a request before it touches storage lives here
 * (protocol-promises.md §1.2-1.3, §3-5, protocol-tasks.md §0.1 and §4). The
 * reference decodes with serde and validates with `validator`; to answer with
 * the same texts this file mimics both:
 *
 *  - decoding visits a struct's known members in ascending key order (serde
 *    walks a serde_json::Value map, which is sorted) and stops at the first
 *    bad value; missing required members are reported afterwards, in
 *    declaration order. The envelope itself is walked in document order
 *    (serde reads it straight from the text).
 *  - validation runs field rules (all of them, nested structs included), then
 *    schema rules (first failure per struct; an outer struct's schema only
 *    when nothing nested failed), then the checks the reference makes after
 *    validation (addresses, limit > 1000, the fenced action).
 *
 * Differences from the reference's texts and behaviour (for
 * docs/compatibility.md):
 *  1. Several failing rules are joined with "; " in declaration order, each
 *     message once; the reference's order is random and may repeat one.
 *  2. Envelope errors found after the JSON parsed (wrong type, missing or
 *     duplicate field) carry no " at line L column C" suffix: jansson keeps
 *     no positions for parsed values. Syntax errors do carry it, with the
 *     position jansson stopped at, which can differ from serde_json's by a
 *     token; jansson's texts are mapped onto serde_json's common ones
 *     ("EOF while parsing a value", "trailing characters", "expected value",
 *     "key must be a string", ...), rarer ones keep jansson's wording.
 *  3. An integer literal outside i64 anywhere in the body fails the parse
 *     ("Invalid request envelope: number out of range at ..."), where the
 *     reference reports a data-level type error, or ignores the member when
 *     it is not one it reads.
 *  4. Duplicate keys: "duplicate field `x`" for the envelope's own members
 *     (kind, head, data, and corrId, version, auth, resonate:debug_time in
 *     head) as in the reference; elsewhere the last occurrence wins, as in
 *     the reference.
 *  5. NUL bytes: an object key containing \u0000 is a parse error (jansson
 *     cannot represent it); the reference ignores such members. A NUL in any
 *     string we keep is a 400 ("Promise ID must not contain null bytes" as in
 *     the reference; "Field 'x' must not contain null bytes" or similar for
 *     the others, which the reference stores verbatim), reported after the
 *     field rules and before the schema rules. In the envelope: "Invalid
 *     request envelope: kind must not contain null bytes" (likewise corrId,
 *     version, auth).
 *  6. Not accepted: a JSON array in place of a struct (serde decodes it
 *     positionally) and an enum given as a single-key map
 *     ({"resolved":null}); both are 400 with the usual type error.
 *  7. task.fence: the inner action is decoded and validated here, so a bad
 *     action is rejected before the lazy timeouts the reference runs first.
 *  8. DECISIONS #2: task.heartbeat accepts an empty `tasks`. DECISIONS #3:
 *     origin/branch/prefix accept ':' or '.' as the separator, nothing is
 *     forbidden in resonate:origin/resonate:prefix, and the same-origin rules
 *     (register_callback, suspend, heartbeat) accept either origin rule.
 *     DECISIONS #14: resonate:parent need only share the id's origin (texts
 *     "Promise ID and resonate:parent must belong to the same origin"), and
 *     a present resonate:prefix must be extended by the id ("Promise ID must
 *     be prefixed by resonate:prefix"; the reference checks no relation).
 *  9. Address validation (resonate:target, listener address) follows
 *     core/addr.c, whose header comment lists its own simplifications. */
#include "core/wire.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/cron.h"

/* ---- serde-like rendering of values --------------------------------------- */

/* Shortest round-trip text of v, laid out as serde_json (ryu) prints it:
 * "5.0", "1.5", "1e20", "1.5e-7". */
static char *fmt_float(arena_t *a, double v)
{
    if (v == 0)
        return arena_strdup(a, signbit(v) ? "-0.0" : "0.0");
    char sci[40];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    const char *p = sci;
    bool neg = *p == '-';
    if (neg)
        p++;
    char dig[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            dig[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    int kk = exp10 + 1, k = kk - nd; /* 10^(kk-1) <= |v| < 10^kk */
    char out[64];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
#define PUT(src, count) (memcpy(out + o, (src), (size_t)(count)), o += (size_t)(count))
#define ZEROS(count) (memset(out + o, '0', (size_t)(count)), o += (size_t)(count))
    if (k >= 0 && kk <= 16) { /* 1234e7 -> 12340000000.0 */
        PUT(dig, nd);
        ZEROS(k);
        PUT(".0", 2);
    } else if (kk > 0 && kk <= 16) { /* 1234e-2 -> 12.34 */
        PUT(dig, kk);
        PUT(".", 1);
        PUT(dig + kk, nd - kk);
    } else if (kk > -5 && kk <= 0) { /* 1234e-6 -> 0.001234 */
        PUT("0.", 2);
        ZEROS(-kk);
        PUT(dig, nd);
    } else { /* 1e30, 1234e30 -> 1.234e33 */
        PUT(dig, 1);
        if (nd > 1) {
            PUT(".", 1);
            PUT(dig + 1, nd - 1);
        }
        o += (size_t)sprintf(out + o, "e%d", kk - 1);
    }
#undef PUT
#undef ZEROS
    out[o] = '\0';
    return arena_strdup(a, out);
}

/* s as Rust's Debug prints a str: quoted, with \" \\ \n \r \t \0 and \u{..}
 * for the other control characters. */
static char *fmt_debug_str(arena_t *a, const char *s, size_t n)
{
    char *out = arena_alloc(a, n * 6 + 3);
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                          : c == '\0' ? "\\0"
                                      : NULL;
        if (esc)
            o += (size_t)sprintf(out + o, "%s", esc);
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)sprintf(out + o, "\\u{%x}", c);
        else
            out[o++] = (char)c;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* serde's "Unexpected" rendering of a JSON value. */
static const char *unexpected(arena_t *a, const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT:
        return "map";
    case JSON_ARRAY:
        return "sequence";
    case JSON_STRING:
        return arena_printf(a, "string %s",
                            fmt_debug_str(a, json_string_value(v), json_string_length(v)));
    case JSON_INTEGER:
        return arena_printf(a, "integer `%lld`", (long long)json_integer_value(v));
    case JSON_REAL:
        return arena_printf(a, "floating point `%s`", fmt_float(a, json_real_value(v)));
    case JSON_TRUE:
        return "boolean `true`";
    case JSON_FALSE:
        return "boolean `false`";
    case JSON_NULL:
    default:
        return "null";
    }
}

/* ---- decoding context ------------------------------------------------------ */

#define MAX_MSGS 32
#define MAX_FIELDS 8

typedef struct {
    arena_t *a;
    const char *prefix;         /* put before decode errors: "Invalid request: " etc. */
    const char *nul;            /* message for the first kept string holding a NUL */
    const char *msgs[MAX_MSGS]; /* failed validation rules, in order, unique */
    size_t n_msgs;
    const char *error; /* the 400 text once something failed */
    /* The authorization checkpoint (wire_decode_request_authz); authz NULL
     * = none. refused: it answered, err holds its response. */
    wire_authz_fn authz;
    void *udata;
    request_t *req;
    response_t *err;
    bool checked, refused;
} dctx_t;

static bool fail(dctx_t *d, const char *msg)
{
    d->error = msg;
    return false;
}

/* The authorization checkpoint: every id field of the request is decoded,
 * no semantic rule has run yet (operations.md 3.5: authorization first, so
 * a foreign id is refused whatever else is wrong with the request). Runs
 * the caller's check once; false (its answer in d->err) stops decoding. */
static bool authorized(dctx_t *d)
{
    if (d->checked)
        return true;
    d->checked = true;
    if (!d->authz || d->authz(d->udata, d->req, d->err))
        return true;
    d->refused = true;
    return false;
}

static bool fail_decode(dctx_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail_decode(dctx_t *d, const char *fmt, ...)
{
    /* Not truncated: the text may quote user input, and cutting it could
     * split a UTF-8 sequence. */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t plen = strlen(d->prefix);
    char *s = arena_alloc(d->a, plen + (size_t)n + 1);
    memcpy(s, d->prefix, plen);
    va_start(ap, fmt);
    vsnprintf(s + plen, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return fail(d, s);
}

static bool fail_type(dctx_t *d, const json_t *v, const char *want)
{
    return fail_decode(d, "invalid type: %s, expected %s", unexpected(d->a, v), want);
}

/* Records a failed rule (msg non-NULL); each message is kept once. */
static void add_msg(dctx_t *d, const char *msg)
{
    if (!msg)
        return;
    for (size_t i = 0; i < d->n_msgs; i++)
        if (strcmp(d->msgs[i], msg) == 0)
            return;
    if (d->n_msgs < MAX_MSGS)
        d->msgs[d->n_msgs++] = msg;
}

static void rule(dctx_t *d, bool ok, const char *msg)
{
    if (!ok)
        add_msg(d, msg);
}

/* Ends a validation stage: false with the joined messages if any failed. */
static bool stage_ok(dctx_t *d)
{
    if (d->n_msgs == 0)
        return true;
    size_t len = 1;
    for (size_t i = 0; i < d->n_msgs; i++)
        len += strlen(d->msgs[i]) + 2;
    char *s = arena_alloc(d->a, len), *p = s;
    for (size_t i = 0; i < d->n_msgs; i++)
        p += sprintf(p, "%s%s", i ? "; " : "", d->msgs[i]);
    return fail(d, s);
}

/* Ends the field-rule stage; embedded NULs are reported next. */
static bool fields_ok(dctx_t *d)
{
    return stage_ok(d) && (!d->nul || fail(d, d->nul));
}

/* ---- typed field readers --------------------------------------------------- */

typedef struct field field_t;

/* Reads v (present and, for nullable fields, not null) into f->out. */
typedef bool (*reader_fn)(dctx_t *d, const field_t *f, json_t *v);

enum { F_REQUIRED = 1, F_NULLABLE = 2 };

struct field {
    const char *name;
    reader_fn read;
    void *out;           /* NULL: checked, not kept */
    unsigned flags;      /* neither flag: absent = default, null = type error */
    bool *seen;          /* set when the member was read */
    const char *nul_msg; /* for a NUL in a kept string; NULL = generic */
};

/* Field declarations: REQ required; DEF defaulted (absent = zero value, null
 * is a type error); OPT nullable (Option<T>: absent or null = not seen). */
// clang-format off
#define REQ(n, fn, o) {.name = (n), .read = (fn), .out = (o), .flags = F_REQUIRED}
#define DEF(n, fn, o) {.name = (n), .read = (fn), .out = (o)}
#define OPT(n, fn, o, s) {.name = (n), .read = (fn), .out = (o), .flags = F_NULLABLE, .seen = (s)}
#define REQ_STR(n, o, nul) \
    {.name = (n), .read = read_str, .out = (o), .flags = F_REQUIRED, .nul_msg = (nul)}
// clang-format on

typedef enum { BY_NAME, BY_DOCUMENT } visit_t;

static bool has_nul(const json_t *s)
{
    return strlen(json_string_value(s)) != json_string_length(s);
}

/* The C string to keep for a JSON string. One holding a NUL gets the
 * request rejected once the field rules have run (they only test emptiness),
 * so until then it stands in with its NULs replaced. */
static const char *kept_string(dctx_t *d, const field_t *f, const json_t *v)
{
    if (!has_nul(v))
        return json_string_value(v);
    if (!d->nul)
        d->nul = f->nul_msg ? f->nul_msg
                            : arena_printf(d->a, "Field '%s' must not contain null bytes", f->name);
    size_t n = json_string_length(v);
    char *s = arena_strndup(d->a, json_string_value(v), n);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0')
            s[i] = '?';
    return s;
}

static bool read_str(dctx_t *d, const field_t *f, json_t *v)
{
    if (!json_is_string(v))
        return fail_type(d, v, "a string");
    if (f->out)
        *(const char **)f->out = kept_string(d, f, v);
    return true;
}

static bool read_i64(dctx_t *d, const field_t *f, json_t *v)
{
    if (!json_is_integer(v))
        return fail_type(d, v, "i64");
    *(int64_t *)f->out = (int64_t)json_integer_value(v);
    return true;
}

static bool read_any(dctx_t *d, const field_t *f, json_t *v)
{
    (void)d;
    if (f->out)
        *(json_t **)f->out = v;
    return true;
}

typedef struct {
    const char *key;
    json_t *val;
} member_t;

static int member_cmp(const void *x, const void *y)
{
    return strcmp(((const member_t *)x)->key, ((const member_t *)y)->key);
}

/* A string-to-string map, sorted by key for kvmap_get. */
static bool read_kvmap(dctx_t *d, const field_t *f, json_t *v)
{
    if (!json_is_object(v))
        return fail_type(d, v, "a map");
    size_t n = json_object_size(v), i = 0;
    member_t *m = arena_alloc(d->a, (n ? n : 1) * sizeof *m);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        m[i].key = key;
        m[i++].val = val;
    }
    qsort(m, n, sizeof *m, member_cmp);
    kvmap_t *out = f->out;
    out->items = arena_alloc(d->a, (n ? n : 1) * sizeof *out->items);
    out->n = n;
    for (i = 0; i < n; i++) {
        if (!json_is_string(m[i].val))
            return fail_type(d, m[i].val, "a string");
        out->items[i] = (kv_t){m[i].key, kept_string(d, f, m[i].val)};
    }
    return true;
}

static bool visit_field(dctx_t *d, const field_t *f, json_t *v, bool *present)
{
    if (!v)
        return true;
    *present = true;
    if (json_is_null(v) && (f->flags & F_NULLABLE))
        return true;
    if (!f->read(d, f, v))
        return false;
    if (f->seen)
        *f->seen = true;
    return true;
}

/* Decodes obj as the struct `type` described by fs (at most MAX_FIELDS),
 * which lists the members in the reference struct's declaration order. */
static bool decode_struct(dctx_t *d, json_t *obj, const char *type, const field_t *fs, size_t n,
                          visit_t order)
{
    if (!json_is_object(obj))
        return fail_type(d, obj, arena_printf(d->a, "struct %s", type));
    bool present[MAX_FIELDS] = {false};
    if (order == BY_NAME) {
        size_t idx[MAX_FIELDS];
        for (size_t i = 0; i < n; i++) {
            size_t j = i;
            for (; j > 0 && strcmp(fs[idx[j - 1]].name, fs[i].name) > 0; j--)
                idx[j] = idx[j - 1];
            idx[j] = i;
        }
        for (size_t k = 0; k < n; k++)
            if (!visit_field(d, &fs[idx[k]], json_object_get(obj, fs[idx[k]].name),
                             &present[idx[k]]))
                return false;
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v)
        {
            for (size_t i = 0; i < n; i++)
                if (strcmp(key, fs[i].name) == 0 && !visit_field(d, &fs[i], v, &present[i]))
                    return false;
        }
    }
    for (size_t i = 0; i < n; i++)
        if ((fs[i].flags & F_REQUIRED) && !present[i])
            return fail_decode(d, "missing field `%s`", fs[i].name);
    return true;
}

#define DECODE(d, obj, type, fs) decode_struct(d, obj, type, fs, sizeof fs / sizeof *fs, BY_NAME)

/* A promise value: {headers?: map, data?: string}; null members are absent,
 * others are dropped. */
static bool read_pvalue(dctx_t *d, const field_t *f, json_t *v)
{
    pvalue_t *p = f->out;
    field_t fs[] = {
        {.name = "data",
         .read = read_str,
         .out = &p->data,
         .flags = F_NULLABLE,
         .nul_msg = "Value data must not contain null bytes"},
        {.name = "headers",
         .read = read_kvmap,
         .out = &p->headers,
         .flags = F_NULLABLE,
         .seen = &p->has_headers,
         .nul_msg = "Value headers must not contain null bytes"},
    };
    return DECODE(d, v, "PromiseValue", fs);
}

/* An enum given as its snake_case name; *idx = its position in names. */
static bool read_variant(dctx_t *d, json_t *v, const char *const *names, size_t n, int *idx)
{
    if (!json_is_string(v))
        return fail_type(d, v, "string or map");
    const char *s = json_string_value(v);
    for (size_t i = 0; i < n; i++) {
        if (!has_nul(v) && strcmp(s, names[i]) == 0) {
            *idx = (int)i;
            return true;
        }
    }
    char list[256];
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s`%s`", i ? ", " : "", names[i]);
    return fail_decode(d, "unknown variant `%s`, expected one of %s", s, list);
}

static const char *const pstate_names[] = {"pending", "resolved", "rejected", "rejected_canceled",
                                           "rejected_timedout"};
static const char *const tstate_names[] = {"pending", "acquired", "suspended", "halted",
                                           "fulfilled"};
/* The settle states are pstate_t RESOLVED.. REJECTED_CANCELED, in order. */
static const char *const settle_names[] = {"resolved", "rejected", "rejected_canceled"};

static bool read_pstate(dctx_t *d, const field_t *f, json_t *v)
{
    return read_variant(d, v, pstate_names, 5, f->out);
}

static bool read_tstate(dctx_t *d, const field_t *f, json_t *v)
{
    return read_variant(d, v, tstate_names, 5, f->out);
}

static bool read_settle_state(dctx_t *d, const field_t *f, json_t *v)
{
    int i;
    if (!read_variant(d, v, settle_names, 3, &i))
        return false;
    *(pstate_t *)f->out = (pstate_t)(PSTATE_RESOLVED + i);
    return true;
}

/* ---- nested structs --------------------------------------------------------- */

#define MSG_PROMISE_ID_NUL "Promise ID must not contain null bytes"
#define MSG_TASK_ID_NUL "Task ID must not contain null bytes"
#define MSG_PID_NUL "Process ID must not contain null bytes"

static bool create_struct(dctx_t *d, json_t *v, promise_create_t *c)
{
    field_t fs[] = {
        REQ_STR("id", &c->id, MSG_PROMISE_ID_NUL),
        REQ("timeoutAt", read_i64, &c->timeout_at),
        DEF("param", read_pvalue, &c->param),
        {.name = "tags",
         .read = read_kvmap,
         .out = &c->tags,
         .nul_msg = "Tags must not contain null bytes"},
    };
    return DECODE(d, v, "PromiseCreateData", fs);
}

static bool settle_struct(dctx_t *d, json_t *v, const char *type, promise_settle_t *s)
{
    field_t fs[] = {
        REQ_STR("id", &s->id, MSG_PROMISE_ID_NUL),
        REQ("state", read_settle_state, &s->state),
        DEF("value", read_pvalue, &s->value),
    };
    return decode_struct(d, v, type, fs, sizeof fs / sizeof *fs, BY_NAME);
}

static bool read_create_data(dctx_t *d, const field_t *f, json_t *v)
{
    return create_struct(d, v, f->out);
}

static bool read_fulfill_data(dctx_t *d, const field_t *f, json_t *v)
{
    return settle_struct(d, v, "TaskFulfillActionData", f->out);
}

static bool read_callback_data(dctx_t *d, const field_t *f, json_t *v)
{
    callback_req_t *cb = f->out;
    field_t fs[] = {
        REQ_STR("awaited", &cb->awaited, "Awaited promise ID must not contain null bytes"),
        REQ_STR("awaiter", &cb->awaiter, "Awaiter promise ID must not contain null bytes"),
    };
    return DECODE(d, v, "PromiseRegisterCallbackData", fs);
}

/* Decodes an action {kind, head, data} whose kind and head are unused. */
static bool action_struct(dctx_t *d, json_t *v, const char *type, reader_fn data_reader,
                          void *data_out)
{
    field_t fs[] = {
        REQ("kind", read_str, NULL),
        REQ("head", read_any, NULL),
        REQ("data", data_reader, data_out),
    };
    return decode_struct(d, v, type, fs, sizeof fs / sizeof *fs, BY_NAME);
}

static bool read_create_action(dctx_t *d, const field_t *f, json_t *v)
{
    return action_struct(d, v, "TaskCreateAction", read_create_data, f->out);
}

static bool read_fulfill_action(dctx_t *d, const field_t *f, json_t *v)
{
    return action_struct(d, v, "TaskFulfillAction", read_fulfill_data, f->out);
}

typedef struct {
    void *items;
    size_t n;
} list_t;

/* A JSON array decoded element by element with read into elements of size. */
static bool read_list(dctx_t *d, const field_t *f, json_t *v, size_t size,
                      bool (*read)(dctx_t *, json_t *, void *))
{
    if (!json_is_array(v))
        return fail_type(d, v, "a sequence");
    list_t *out = f->out;
    out->n = json_array_size(v);
    out->items = arena_alloc(d->a, (out->n ? out->n : 1) * size);
    for (size_t i = 0; i < out->n; i++)
        if (!read(d, json_array_get(v, i), (char *)out->items + i * size))
            return false;
    return true;
}

static bool suspend_action(dctx_t *d, json_t *v, void *out)
{
    return action_struct(d, v, "TaskSuspendAction", read_callback_data, out);
}

static bool read_suspend_actions(dctx_t *d, const field_t *f, json_t *v)
{
    return read_list(d, f, v, sizeof(callback_req_t), suspend_action);
}

static bool heartbeat_task(dctx_t *d, json_t *v, void *out)
{
    task_ref_t *t = out;
    field_t fs[] = {
        REQ_STR("id", &t->id, MSG_TASK_ID_NUL),
        REQ("version", read_i64, &t->version),
    };
    return DECODE(d, v, "TaskHeartbeatTask", fs);
}

static bool read_heartbeat_tasks(dctx_t *d, const field_t *f, json_t *v)
{
    return read_list(d, f, v, sizeof(task_ref_t), heartbeat_task);
}

typedef struct {
    const char *kind;
    json_t *data;
} fence_action_t;

static bool read_fence_action(dctx_t *d, const field_t *f, json_t *v)
{
    fence_action_t *fa = f->out;
    field_t fs[] = {
        REQ_STR("kind", &fa->kind, "Action kind must not contain null bytes"),
        OPT("head", read_any, NULL, NULL),
        REQ("data", read_any, &fa->data),
    };
    return DECODE(d, v, "TaskFenceActionData", fs);
}

/* ---- validation rules ------------------------------------------------------- */

#define MSG_PROMISE_ID "Promise ID is required"
#define MSG_TASK_ID "Task ID is required"
#define MSG_SCHEDULE_ID "Schedule ID is required"
#define MSG_PID "Process ID is required"
#define MSG_TTL "TTL must be a positive integer"
/* TIME_MAX_MS (core/types.h) as text. */
#define MAX_MS_TEXT "9007199254740991"
#define MSG_TTL_MAX "TTL must be at most " MAX_MS_TEXT " ms"
#define MSG_VERSION "Version must be a non-negative integer"
#define MSG_AWAITED "Awaited promise ID is required"
#define TAG_TARGET "resonate:target"
#define TAG_DELAY "resonate:delay"

/* Rust's i64 FromStr: optional sign, then one or more ASCII digits. */
static bool parse_i64_strict(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned dgt = (unsigned)(*s - '0');
        if (v > (lim - dgt) / 10)
            return false;
        v = v * 10 + dgt;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static void promise_create_fields(dctx_t *d, const promise_create_t *c)
{
    rule(d, *c->id, MSG_PROMISE_ID);
    rule(d, c->timeout_at >= 0, "TimeoutAt must be a non-negative integer");
}

/* The reference's schema rules, first failure only; lineage per DECISIONS
 * #3 (either separator, no forbidden characters in origin/prefix) and #14:
 * the id equals or extends resonate:origin, resonate:branch and (when
 * present) resonate:prefix, but only shares an origin with resonate:parent,
 * because a detached child of a detached child (`root.d<h2>`, minted off the
 * prefix `root`) names its sibling `root.d<h1>` as parent. */
static const char *promise_create_schema(const promise_create_t *c)
{
    static const struct {
        const char *tag, *msg;
        bool same_origin; /* share an origin with the tag (else extend it) */
    } lineage[] = {
        {"resonate:origin", "Promise ID must be prefixed by resonate:origin", false},
        {"resonate:branch", "Promise ID must be prefixed by resonate:branch", false},
        {"resonate:parent", "Promise ID and resonate:parent must belong to the same origin", true},
        {"resonate:prefix", "Promise ID must be prefixed by resonate:prefix", false},
    };
    for (size_t i = 0; i < sizeof lineage / sizeof *lineage; i++) {
        const char *base = kvmap_get(&c->tags, lineage[i].tag);
        if (!base)
            continue;
        if (lineage[i].same_origin ? !ids_same_origin(c->id, base) : !ids_extends(c->id, base))
            return lineage[i].msg;
    }
    const char *delay = kvmap_get(&c->tags, TAG_DELAY);
    if (delay) {
        int64_t t;
        if (!parse_i64_strict(delay, &t) || t < 0)
            return "resonate:delay must be a non-negative integer";
        if (t > TIME_MAX_MS)
            return "resonate:delay must be at most " MAX_MS_TEXT;
        if (t >= c->timeout_at)
            return "resonate:delay must be less than timeoutAt";
        if (!kvmap_get(&c->tags, TAG_TARGET))
            return "resonate:delay requires a resonate:target tag";
    }
    return NULL;
}

static bool target_ok(dctx_t *d, const kvmap_t *tags)
{
    const char *target = kvmap_get(tags, TAG_TARGET);
    return !target || addr_parse(target, NULL) || fail(d, "Invalid resonate:target address");
}

/* promise.create's rules; also a fenced create's. */
static bool check_promise_create(dctx_t *d, const promise_create_t *c)
{
    promise_create_fields(d, c);
    if (!fields_ok(d))
        return false;
    add_msg(d, promise_create_schema(c));
    return stage_ok(d) && target_ok(d, &c->tags);
}

static bool check_promise_settle(dctx_t *d, const promise_settle_t *s)
{
    rule(d, *s->id, MSG_PROMISE_ID);
    return fields_ok(d);
}

static void callback_fields(dctx_t *d, const callback_req_t *cb)
{
    rule(d, *cb->awaited, MSG_AWAITED);
    rule(d, *cb->awaiter, "Awaiter promise ID is required");
}

static const char *callback_schema(const callback_req_t *cb)
{
    if (strcmp(cb->awaited, cb->awaiter) == 0)
        return "Awaited and awaiter must be different promises";
    if (!ids_same_origin(cb->awaiter, cb->awaited))
        return "Awaiter and awaited must belong to the same origin";
    return NULL;
}

static void task_ref_fields(dctx_t *d, const char *id, int64_t version)
{
    rule(d, *id, MSG_TASK_ID);
    rule(d, version >= 0, MSG_VERSION);
}

/* ---- operations -------------------------------------------------------------- */

static bool dec_get(dctx_t *d, json_t *data, request_t *r, const char *required, const char *nul)
{
    field_t fs[] = {REQ_STR("id", &r->u.get.id, nul)};
    if (!DECODE(d, data, "GetData", fs) || !authorized(d))
        return false;
    rule(d, *r->u.get.id, required);
    return fields_ok(d);
}

static bool dec_promise_get(dctx_t *d, json_t *data, request_t *r)
{
    return dec_get(d, data, r, MSG_PROMISE_ID, MSG_PROMISE_ID_NUL);
}

static bool dec_task_get(dctx_t *d, json_t *data, request_t *r)
{
    return dec_get(d, data, r, MSG_TASK_ID, MSG_TASK_ID_NUL);
}

static bool dec_schedule_get(dctx_t *d, json_t *data, request_t *r)
{
    return dec_get(d, data, r, MSG_SCHEDULE_ID, "Schedule ID must not contain null bytes");
}

static bool dec_promise_create(dctx_t *d, json_t *data, request_t *r)
{
    return create_struct(d, data, &r->u.promise_create) && authorized(d) &&
           check_promise_create(d, &r->u.promise_create);
}

static bool dec_promise_settle(dctx_t *d, json_t *data, request_t *r)
{
    return settle_struct(d, data, "PromiseSettleData", &r->u.promise_settle) && authorized(d) &&
           check_promise_settle(d, &r->u.promise_settle);
}

static bool dec_register_callback(dctx_t *d, json_t *data, request_t *r)
{
    field_t f = {.out = &r->u.callback};
    if (!read_callback_data(d, &f, data) || !authorized(d))
        return false;
    callback_fields(d, &r->u.callback);
    if (!fields_ok(d))
        return false;
    add_msg(d, callback_schema(&r->u.callback));
    return stage_ok(d);
}

static bool dec_register_listener(dctx_t *d, json_t *data, request_t *r)
{
    field_t fs[] = {
        REQ_STR("awaited", &r->u.listener.awaited,
                "Awaited promise ID must not contain null bytes"),
        REQ_STR("address", &r->u.listener.address, "Address must not contain null bytes"),
    };
    if (!DECODE(d, data, "PromiseRegisterListenerData", fs) || !authorized(d))
        return false;
    rule(d, *r->u.listener.awaited, MSG_AWAITED);
    rule(d, *r->u.listener.address, "Address is required");
    if (!fields_ok(d))
        return false;
    return addr_parse(r->u.listener.address, NULL) || fail(d, "Invalid listener address");
}

/* promise.search, task.search, schedule.search: state_reader NULL = no
 * state member; with_tags false = no tags member. */
static bool dec_search(dctx_t *d, json_t *data, request_t *r, reader_fn state_reader,
                       bool with_tags, int64_t default_limit)
{
    search_req_t *s = &r->u.search;
    bool has_limit = false;
    s->limit = default_limit;
    field_t fs[4] = {
        OPT("cursor", read_str, &s->cursor, NULL),
        OPT("limit", read_i64, &s->limit, &has_limit),
    };
    size_t n = 2;
    if (state_reader)
        fs[n++] = (field_t)OPT("state", state_reader, &s->state, &s->has_state);
    if (with_tags)
        fs[n++] = (field_t)OPT("tags", read_kvmap, &s->tags, NULL);
    if (!decode_struct(d, data, "SearchData", fs, n, BY_NAME) || !authorized(d))
        return false;
    rule(d, !has_limit || s->limit >= 1, "Limit must be a positive integer");
    if (!fields_ok(d))
        return false;
    return s->limit <= 1000 || fail(d, "Invalid 'limit' \u2014 must be between 1 and 1000");
}

static bool dec_promise_search(dctx_t *d, json_t *data, request_t *r)
{
    return dec_search(d, data, r, read_pstate, true, 100);
}

static bool dec_task_search(dctx_t *d, json_t *data, request_t *r)
{
    return dec_search(d, data, r, read_tstate, false, 100);
}

static bool dec_schedule_search(dctx_t *d, json_t *data, request_t *r)
{
    return dec_search(d, data, r, NULL, true, 10);
}

static bool dec_task_create(dctx_t *d, json_t *data, request_t *r)
{
    promise_create_t *action = &r->u.task_create.action;
    field_t fs[] = {
        REQ_STR("pid", &r->u.task_create.pid, MSG_PID_NUL),
        REQ("ttl", read_i64, &r->u.task_create.ttl),
        REQ("action", read_create_action, action),
    };
    if (!DECODE(d, data, "TaskCreateData", fs) || !authorized(d))
        return false;
    rule(d, *r->u.task_create.pid, MSG_PID);
    rule(d, r->u.task_create.ttl >= 1, MSG_TTL);
    rule(d, r->u.task_create.ttl <= TIME_MAX_MS, MSG_TTL_MAX);
    promise_create_fields(d, action);
    if (!fields_ok(d))
        return false;
    const char *schema = promise_create_schema(action);
    if (!schema && !kvmap_get(&action->tags, TAG_TARGET))
        schema = "Action must have a resonate:target tag";
    if (!schema && kvmap_get(&action->tags, TAG_DELAY))
        schema = "Action must not have a resonate:delay tag";
    add_msg(d, schema);
    return stage_ok(d) && target_ok(d, &action->tags);
}

static bool dec_task_acquire(dctx_t *d, json_t *data, request_t *r)
{
    const char **id = &r->u.task_acquire.id, **pid = &r->u.task_acquire.pid;
    int64_t *version = &r->u.task_acquire.version, *ttl = &r->u.task_acquire.ttl;
    field_t fs[] = {
        REQ_STR("id", id, MSG_TASK_ID_NUL),
        REQ("version", read_i64, version),
        REQ_STR("pid", pid, MSG_PID_NUL),
        REQ("ttl", read_i64, ttl),
    };
    if (!DECODE(d, data, "TaskAcquireData", fs) || !authorized(d))
        return false;
    task_ref_fields(d, *id, *version);
    rule(d, **pid, MSG_PID);
    rule(d, *ttl >= 1, MSG_TTL);
    rule(d, *ttl <= TIME_MAX_MS, MSG_TTL_MAX);
    return fields_ok(d);
}

static bool dec_task_release(dctx_t *d, json_t *data, request_t *r)
{
    task_ref_t *t = &r->u.task_release;
    field_t fs[] = {
        REQ_STR("id", &t->id, MSG_TASK_ID_NUL),
        REQ("version", read_i64, &t->version),
    };
    if (!DECODE(d, data, "TaskReleaseData", fs) || !authorized(d))
        return false;
    task_ref_fields(d, t->id, t->version);
    return fields_ok(d);
}

static bool dec_task_fulfill(dctx_t *d, json_t *data, request_t *r)
{
    const char **id = &r->u.task_fulfill.id;
    int64_t *version = &r->u.task_fulfill.version;
    promise_settle_t *action = &r->u.task_fulfill.action;
    field_t fs[] = {
        REQ_STR("id", id, MSG_TASK_ID_NUL),
        REQ("version", read_i64, version),
        REQ("action", read_fulfill_action, action),
    };
    if (!DECODE(d, data, "TaskFulfillData", fs) || !authorized(d))
        return false;
    task_ref_fields(d, *id, *version);
    rule(d, *action->id, MSG_PROMISE_ID);
    if (!fields_ok(d))
        return false;
    rule(d, strcmp(action->id, *id) == 0, "Action ID must match the task ID");
    return stage_ok(d);
}

static bool dec_task_suspend(dctx_t *d, json_t *data, request_t *r)
{
    const char **id = &r->u.task_suspend.id;
    list_t actions = {0};
    field_t fs[] = {
        REQ_STR("id", id, MSG_TASK_ID_NUL),
        REQ("version", read_i64, &r->u.task_suspend.version),
        REQ("actions", read_suspend_actions, &actions),
    };
    if (!DECODE(d, data, "TaskSuspendData", fs))
        return false;
    const callback_req_t *cbs = actions.items;
    const char **awaited = arena_alloc(d->a, (actions.n ? actions.n : 1) * sizeof *awaited);
    for (size_t i = 0; i < actions.n; i++)
        awaited[i] = cbs[i].awaited;
    r->u.task_suspend.awaited = awaited;
    r->u.task_suspend.n_awaited = actions.n;
    if (!authorized(d))
        return false;
    task_ref_fields(d, *id, r->u.task_suspend.version);
    rule(d, actions.n > 0, "Actions array cannot be empty");
    for (size_t i = 0; i < actions.n; i++)
        callback_fields(d, &cbs[i]);
    if (!fields_ok(d))
        return false;
    for (size_t i = 0; i < actions.n; i++)
        add_msg(d, callback_schema(&cbs[i]));
    for (size_t i = 0; i < actions.n && d->n_msgs == 0; i++) {
        if (strcmp(cbs[i].awaiter, *id) != 0)
            add_msg(d, "All action awaiter IDs must match the task ID");
        else if (strcmp(cbs[i].awaited, *id) == 0)
            add_msg(d, "Action awaited promise must not equal the task ID");
        else if (!ids_same_origin(cbs[i].awaited, *id))
            add_msg(d, "Awaited promise must belong to the same origin as the task");
    }
    return stage_ok(d);
}

static bool dec_task_fence(dctx_t *d, json_t *data, request_t *r)
{
    task_fence_t *t = &r->u.task_fence;
    fence_action_t action = {0};
    field_t fs[] = {
        REQ_STR("id", &t->id, MSG_TASK_ID_NUL),
        REQ("version", read_i64, &t->version),
        REQ("action", read_fence_action, &action),
    };
    if (!DECODE(d, data, "TaskFenceData", fs))
        return false;
    /* The inner action's structure is read before authorization (its id is
     * a resource id), but a decode error of it is reported only after the
     * outer rules, as before. */
    t->action_kind = action.kind;
    dctx_t in = {.a = d->a, .prefix = "Invalid action data: "};
    bool known = true, inner_ok = false;
    if (strcmp(action.kind, "promise.create") == 0) {
        t->is_create = true;
        inner_ok = create_struct(&in, action.data, &t->create);
    } else if (strcmp(action.kind, "promise.settle") == 0) {
        inner_ok = settle_struct(&in, action.data, "PromiseSettleData", &t->settle);
    } else {
        known = false;
    }
    if (!authorized(d))
        return false;
    task_ref_fields(d, t->id, t->version);
    if (!fields_ok(d))
        return false;
    json_t *inner_id = json_object_get(action.data, "id");
    bool same = json_is_string(inner_id) && !has_nul(inner_id) &&
                strcmp(json_string_value(inner_id), t->id) == 0;
    rule(d, !same, "Action ID must not equal the task ID");
    if (!stage_ok(d))
        return false;
    if (!known)
        return fail(d, "Invalid fence action kind");
    /* The inner action's own rules, as the standalone operation's. */
    bool ok = inner_ok && (t->is_create ? check_promise_create(&in, &t->create)
                                        : check_promise_settle(&in, &t->settle));
    return ok || fail(d, in.error);
}

static bool dec_task_heartbeat(dctx_t *d, json_t *data, request_t *r)
{
    const char **pid = &r->u.task_heartbeat.pid;
    list_t tasks = {0};
    field_t fs[] = {
        REQ_STR("pid", pid, MSG_PID_NUL),
        REQ("tasks", read_heartbeat_tasks, &tasks),
    };
    if (!DECODE(d, data, "TaskHeartbeatData", fs))
        return false;
    const task_ref_t *refs = tasks.items;
    r->u.task_heartbeat.tasks = tasks.items;
    r->u.task_heartbeat.n_tasks = tasks.n;
    if (!authorized(d))
        return false;
    /* DECISIONS #2: an empty list is accepted (it renews every lease of pid). */
    rule(d, **pid, MSG_PID);
    if (!fields_ok(d))
        return false;
    for (size_t i = 1; i < tasks.n; i++)
        rule(d, ids_same_origin(refs[i].id, refs[0].id),
             "All tasks must belong to the same origin");
    return stage_ok(d);
}

static bool dec_schedule_create(dctx_t *d, json_t *data, request_t *r)
{
    schedule_create_t *s = &r->u.schedule_create;
    field_t fs[] = {
        REQ_STR("id", &s->id, "Schedule ID must not contain null bytes"),
        REQ_STR("cron", &s->cron, "Cron expression must not contain null bytes"),
        REQ_STR("promiseId", &s->promise_id, "Promise ID template must not contain null bytes"),
        REQ("promiseTimeout", read_i64, &s->promise_timeout),
        DEF("promiseParam", read_pvalue, &s->promise_param),
        {.name = "promiseTags",
         .read = read_kvmap,
         .out = &s->promise_tags,
         .nul_msg = "promiseTags must not contain null bytes"},
    };
    if (!DECODE(d, data, "ScheduleCreateData", fs) || !authorized(d))
        return false;
    rule(d, *s->id, MSG_SCHEDULE_ID);
    rule(d, *s->cron, "Cron expression is required");
    rule(d, *s->promise_id, "Promise ID template is required");
    rule(d, s->promise_timeout >= 0, "Promise timeout must be a non-negative integer");
    rule(d, s->promise_timeout <= TIME_MAX_MS,
         "Promise timeout must be at most " MAX_MS_TEXT " ms");
    if (!fields_ok(d))
        return false;
    if (strchr(s->id, '.'))
        add_msg(d, "Schedule ID must not contain '.'");
    else if (!kvmap_get(&s->promise_tags, TAG_TARGET))
        add_msg(d, "promiseTags must include a resonate:target tag");
    cron_t cron;
    return stage_ok(d) &&
           (cron_parse(s->cron, &cron, NULL, 0) == 0 || fail(d, "Invalid cron expression"));
}

static bool dec_debug_tick(dctx_t *d, json_t *data, request_t *r)
{
    json_t *time = json_object_get(data, "time");
    if (!json_is_integer(time))
        return fail(d, "Missing or invalid 'time' field");
    r->u.tick.time = (int64_t)json_integer_value(time);
    if (r->has_debug_time && r->debug_time != r->u.tick.time)
        return fail(d, "resonate:debug_time must equal data.time");
    return true;
}

/* debug.start/stop/reset/snap ignore their data. */
static bool dec_nothing(dctx_t *d, json_t *data, request_t *r)
{
    (void)d, (void)data, (void)r;
    return true;
}

typedef bool (*op_decoder_t)(dctx_t *d, json_t *data, request_t *r);

/* Sets err to status with msg; response_error would cap the length. */
static void set_error(response_t *err, int status, const char *msg)
{
    json_t *s = json_string(msg);
    response_set(err, status, s ? s : json_string("Invalid request"));
}

static const op_decoder_t decoders[OP__COUNT] = {
    [OP_PROMISE_GET] = dec_promise_get,
    [OP_PROMISE_CREATE] = dec_promise_create,
    [OP_PROMISE_SETTLE] = dec_promise_settle,
    [OP_PROMISE_REGISTER_CALLBACK] = dec_register_callback,
    [OP_PROMISE_REGISTER_LISTENER] = dec_register_listener,
    [OP_PROMISE_SEARCH] = dec_promise_search,
    [OP_TASK_GET] = dec_task_get,
    [OP_TASK_CREATE] = dec_task_create,
    [OP_TASK_ACQUIRE] = dec_task_acquire,
    [OP_TASK_RELEASE] = dec_task_release,
    [OP_TASK_FULFILL] = dec_task_fulfill,
    [OP_TASK_SUSPEND] = dec_task_suspend,
    [OP_TASK_FENCE] = dec_task_fence,
    [OP_TASK_HEARTBEAT] = dec_task_heartbeat,
    [OP_TASK_HALT] = dec_task_get,
    [OP_TASK_CONTINUE] = dec_task_get,
    [OP_TASK_SEARCH] = dec_task_search,
    [OP_SCHEDULE_GET] = dec_schedule_get,
    [OP_SCHEDULE_CREATE] = dec_schedule_create,
    [OP_SCHEDULE_DELETE] = dec_schedule_get,
    [OP_SCHEDULE_SEARCH] = dec_schedule_search,
    [OP_DEBUG_START] = dec_nothing,
    [OP_DEBUG_STOP] = dec_nothing,
    [OP_DEBUG_RESET] = dec_nothing,
    [OP_DEBUG_SNAP] = dec_nothing,
    [OP_DEBUG_TICK] = dec_debug_tick,
};

int wire_decode_request_authz(arena_t *a, const envelope_t *env, bool debug_enabled,
                              wire_authz_fn authz, void *udata, request_t *out, response_t *err)
{
    memset(out, 0, sizeof *out);
    out->kind = env->kind;
    out->corr_id = env->corr_id;
    out->token = env->token;
    out->has_debug_time = env->has_debug_time;
    out->debug_time = env->debug_time;
    out->op = op_from_name(env->kind);
    dctx_t d = {.a = a,
                .prefix = "Invalid request: ",
                .authz = authz,
                .udata = udata,
                .req = out,
                .err = err};
    /* Unknown and debug kinds name no id: authorized on the kind alone,
     * before saying that it is unknown or disabled. */
    if ((out->op == OP_UNKNOWN || op_is_debug(out->op)) && !authorized(&d))
        return -1;
    if (out->op == OP_UNKNOWN) {
        set_error(err, 400, arena_printf(a, "Unknown operation: %s", env->kind));
        return -1;
    }
    if (op_is_debug(out->op) && !debug_enabled) {
        set_error(err, 403, "Debug operations are disabled");
        return -1;
    }
    if (!decoders[out->op](&d, env->data, out)) {
        if (!d.refused)
            set_error(err, 400, d.error);
        return -1;
    }
    /* Every decoder passes the checkpoint; this only keeps a decoder that
     * forgot it from skipping authorization. */
    return authorized(&d) ? 0 : -1;
}

int wire_decode_request(arena_t *a, const envelope_t *env, bool debug_enabled, request_t *out,
                        response_t *err)
{
    return wire_decode_request_authz(a, env, debug_enabled, NULL, NULL, out, err);
}

/* ---- envelope ------------------------------------------------------------------ */

/* jansson's syntax error texts and serde_json's wording for the same case. */
static const struct {
    const char *jansson, *serde;
} syntax_texts[] = {
    {"string or '}' expected", "key must be a string"},
    {"'}' expected", "expected `,` or `}`"},
    {"']' expected", "expected `,` or `]`"},
    {"':' expected", "expected `:`"},
    {"invalid token", "expected value"},
    {"unexpected token", "expected value"},
    {"invalid escape", "invalid escape"},
    {"invalid Unicode", "invalid unicode code point"},
    {"control character", "control character (\\u0000-\\u001F) found while parsing a string"},
    {"unexpected newline", "control character (\\u0000-\\u001F) found while parsing a string"},
};

static const char *eof_text(const char *jansson)
{
    if (strstr(jansson, "'}'") || strstr(jansson, "':'"))
        return "EOF while parsing an object";
    if (strstr(jansson, "']'"))
        return "EOF while parsing a list";
    if (strncmp(jansson, "premature end of input", 22) == 0)
        return "EOF while parsing a string";
    return "EOF while parsing a value";
}

/* "<message> at line L column C" for a body jansson could not parse; C is
 * the byte column of the last byte consumed, as serde_json counts. */
static const char *parse_error_text(arena_t *a, const char *body, size_t len,
                                    const json_error_t *je)
{
    const char *msg = je->text;
    switch (json_error_code(je)) {
    case json_error_premature_end_of_input:
        msg = eof_text(je->text);
        break;
    case json_error_end_of_input_expected:
        msg = "trailing characters";
        break;
    case json_error_numeric_overflow:
        msg = "number out of range";
        break;
    case json_error_invalid_utf8:
        msg = "invalid unicode code point";
        break;
    case json_error_invalid_syntax:
        for (size_t i = 0; i < sizeof syntax_texts / sizeof *syntax_texts; i++)
            if (strncmp(je->text, syntax_texts[i].jansson, strlen(syntax_texts[i].jansson)) == 0)
                msg = syntax_texts[i].serde;
        break;
    default:
        break;
    }
    size_t pos = je->position < 0 ? 0 : (size_t)je->position, line = 1, bol = 0;
    if (pos > len)
        pos = len;
    for (size_t i = 0; i < pos; i++)
        if (body[i] == '\n')
            line++, bol = i + 1;
    return arena_printf(a, "Invalid request envelope: %s at line %zu column %zu", msg, line,
                        pos - bol);
}

/* Fast path of wire_json_load(): plain ASCII JSON only. Anything else
 * (escapes, non-ASCII or control bytes in strings, fractions, exponents,
 * integers of 19+ digits, leading zeros, deep nesting, any syntax error)
 * makes it give up with NULL, and jansson parses the whole text again. */
typedef struct {
    const char *p, *end;
} scan_t;

static void scan_ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* A string at s->p (the opening quote): its text in [*b, *b + *n). */
static bool scan_string(scan_t *s, const char **b, size_t *n)
{
    const char *q = ++s->p;
    while (q < s->end && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c >= 0x80 || c == '\\')
            return false;
        q++;
    }
    if (q == s->end)
        return false;
    *b = s->p;
    *n = (size_t)(q - s->p);
    s->p = q + 1;
    return true;
}

static bool scan_word(scan_t *s, const char *w, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return false;
    s->p += n;
    return s->p == s->end || !((*s->p >= 'a' && *s->p <= 'z') || (*s->p >= 'A' && *s->p <= 'Z'));
}

static json_t *scan_value(scan_t *s, int depth)
{
    if (depth > 32 || s->p == s->end)
        return NULL;
    char c = *s->p;
    if (c == '"') {
        const char *b;
        size_t n;
        return scan_string(s, &b, &n) ? json_stringn_nocheck(b, n) : NULL;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        bool neg = c == '-';
        const char *d = s->p + neg, *q = d;
        int64_t v = 0;
        while (q < s->end && *q >= '0' && *q <= '9' && q - d < 18)
            v = v * 10 + (*q++ - '0');
        if (q == d ||
            (q < s->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E')) ||
            (*d == '0' && q - d > 1))
            return NULL;
        s->p = q;
        return json_integer(neg ? -v : v);
    }
    if (c == 't')
        return scan_word(s, "true", 4) ? json_true() : NULL;
    if (c == 'f')
        return scan_word(s, "false", 5) ? json_false() : NULL;
    if (c == 'n')
        return scan_word(s, "null", 4) ? json_null() : NULL;
    bool obj = c == '{';
    if (!obj && c != '[')
        return NULL;
    json_t *v = obj ? json_object() : json_array();
    s->p++;
    scan_ws(s);
    if (v && s->p < s->end && *s->p == (obj ? '}' : ']')) {
        s->p++;
        return v;
    }
    while (v) {
        const char *k = NULL;
        size_t kn = 0;
        if (obj) {
            if (s->p == s->end || *s->p != '"' || !scan_string(s, &k, &kn))
                break;
            scan_ws(s);
            if (s->p == s->end || *s->p != ':')
                break;
            s->p++;
            scan_ws(s);
        }
        json_t *m = scan_value(s, depth + 1);
        if (!m || (obj ? json_object_setn_new_nocheck(v, k, kn, m) : json_array_append_new(v, m)))
            break;
        scan_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            scan_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
            s->p++;
            return v;
        }
        break;
    }
    json_decref(v);
    return NULL;
}

json_t *wire_json_load(const char *text, size_t len, json_error_t *je)
{
    scan_t s = {.p = text, .end = text + len};
    scan_ws(&s);
    json_t *v = scan_value(&s, 0);
    scan_ws(&s);
    if (v && s.p == s.end)
        return v;
    json_decref(v);
    return json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, je);
}

/* ---- request documents in the request's arena (wire_json_load_arena) ---- */

/* The arena jansson allocates from on this thread: set only for the length
 * of one wire_json_load_arena call. */
static _Thread_local arena_t *json_arena;

static void *json_arena_malloc(size_t n)
{
    arena_t *a = json_arena;
    return a ? arena_alloc_raw(a, n) : malloc(n);
}

/* Inside the window jansson frees only what it allocated there, from the
 * arena (a parse frees nothing it did not allocate): a large piece goes
 * back to the system, a small one stays until arena_free. Outside it every
 * pointer jansson frees came from malloc: request documents are never
 * freed (wire.h). */
static void json_arena_free(void *p)
{
    arena_t *a = json_arena;
    if (!a)
        free(p);
    else
        arena_release(a, p);
}

/* Before main and before any jansson allocation of this module's users;
 * until then jansson used malloc and free, which these functions are
 * outside the window, so the order does not matter. */
__attribute__((constructor)) static void json_arena_install(void)
{
    json_set_alloc_funcs(json_arena_malloc, json_arena_free);
}

json_t *wire_json_load_arena(arena_t *a, const char *text, size_t len, json_error_t *je)
{
    arena_t *outer = json_arena;
    json_arena = a;
    json_t *v = wire_json_load(text, len, je);
    json_arena = outer;
    return v;
}

/* The member names serde's derived envelope structs check for duplicates. */
static const char *const envelope_keys[] = {"kind", "head", "data"};
static const char *const head_keys[] = {"corrId", "version", "auth", "resonate:debug_time"};

/* Index in names of the JSON string key at body[b..e) (quotes excluded), -1
 * if none; escaped keys are decoded by jansson. */
static int key_index(const char *body, size_t b, size_t e, const char *const *names, size_t n)
{
    const char *key = body + b;
    size_t klen = e - b;
    json_t *decoded = NULL;
    if (memchr(key, '\\', klen)) {
        decoded = json_loadb(body + b - 1, klen + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!json_is_string(decoded)) {
            json_decref(decoded);
            return -1;
        }
        key = json_string_value(decoded);
        klen = json_string_length(decoded);
    }
    int found = -1;
    for (size_t i = 0; i < n && found < 0; i++)
        if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
            found = (int)i;
    json_decref(decoded);
    return found;
}

/* The first envelope or head member that occurs twice in body (valid JSON),
 * or NULL. jansson keeps the last duplicate, so the text is scanned. */
static const char *envelope_duplicate(const char *body, size_t len)
{
    int depth = 0, top_key = -1;
    bool obj[3] = {false}, expect_key = false, in_head = false;
    unsigned seen_top = 0, seen_head = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (c == '"') {
            size_t b = ++i;
            while (i < len && body[i] != '"')
                i += body[i] == '\\' ? 2 : 1;
            if (!expect_key || depth > 2 || (depth == 2 && !in_head))
                continue;
            expect_key = false;
            const char *const *names = depth == 1 ? envelope_keys : head_keys;
            size_t n = depth == 1 ? 3 : 4;
            unsigned *seen = depth == 1 ? &seen_top : &seen_head;
            int k = key_index(body, b, i, names, n);
            if (depth == 1)
                top_key = k;
            if (k >= 0 && (*seen & (1u << k)))
                return names[k];
            if (k >= 0)
                *seen |= 1u << k;
        } else if (c == '{' || c == '[') {
            depth++;
            if (depth <= 2) {
                obj[depth] = c == '{';
                expect_key = obj[depth];
                if (depth == 2)
                    in_head = obj[2] && top_key == 1;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth <= 2 && depth > 0) {
            expect_key = obj[depth];
        }
    }
    return NULL;
}

/* The envelope's head; version is only checked, so it is kept aside. */
typedef struct {
    envelope_t *env;
    const char *version;
} head_t;

static bool read_head(dctx_t *d, const field_t *f, json_t *v)
{
    head_t *h = f->out;
    envelope_t *env = h->env;
    field_t fs[] = {
        REQ_STR("corrId", &env->corr_id, "corrId must not contain null bytes"),
        REQ_STR("version", &h->version, "version must not contain null bytes"),
        {.name = "auth",
         .read = read_str,
         .out = &env->token,
         .flags = F_NULLABLE,
         .nul_msg = "auth must not contain null bytes"},
        OPT("resonate:debug_time", read_i64, &env->debug_time, &env->has_debug_time),
    };
    return decode_struct(d, v, "RequestHead", fs, sizeof fs / sizeof *fs, BY_DOCUMENT);
}

int wire_decode_envelope(arena_t *a, const char *body, size_t len, envelope_t *env, response_t *err)
{
    memset(env, 0, sizeof *env);
    env->kind = "unknown";
    env->corr_id = "0";
    if (!body) {
        body = "";
        len = 0;
    }
    json_error_t je;
    /* In the arena, read-only, never decref'd (wire.h): nothing but arena
     * memory hangs off it, as nothing changes it after the parse. */
    json_t *root = wire_json_load_arena(a, body, len, &je);
    if (!root) {
        set_error(err, 400, parse_error_text(a, body, len, &je));
        return -1;
    }

    /* Best-effort kind/corrId for the error response (§1.2 step 1). */
    json_t *kind = json_object_get(root, "kind");
    json_t *corr = json_object_get(json_object_get(root, "head"), "corrId");
    if (json_is_string(kind))
        env->kind = json_string_value(kind);
    if (json_is_string(corr))
        env->corr_id = json_string_value(corr);

    dctx_t d = {.a = a, .prefix = "Invalid request envelope: "};
    const char *dup = json_is_object(root) ? envelope_duplicate(body, len) : NULL;
    head_t head = {.env = env};
    field_t fs[] = {
        REQ_STR("kind", &env->kind, "kind must not contain null bytes"),
        REQ("head", read_head, &head),
        REQ("data", read_any, &env->data),
    };
    bool ok =
        dup ? fail_decode(&d, "duplicate field `%s`", dup)
            : decode_struct(&d, root, "RequestEnvelope", fs, sizeof fs / sizeof *fs, BY_DOCUMENT) &&
                  (!d.nul || fail_decode(&d, "%s", d.nul));
    if (ok && env->kind[0] == '\0')
        ok = fail(&d, "Missing or invalid 'kind' field \u2014 must be a non-empty string");
    if (ok && !json_is_object(env->data))
        ok = fail(&d, "Invalid 'data' field \u2014 must be an object");
    if (ok && strcmp(head.version, PROTOCOL_VERSION) != 0)
        ok = fail(&d, arena_printf(a,
                                   "Unsupported protocol version '%s', supported versions: "
                                   "[\"" PROTOCOL_VERSION "\"]",
                                   head.version));
    if (!ok) {
        set_error(err, 400, d.error);
        return -1;
    }
    return 0;
}
