/* client.c - the client subcommands: promises, tasks, schedules, invoke, tree.
 *
 * Every subcommand is one row of a table: its arguments and flags, its help
 * text, how it builds the request data and how it shows the answer. Parsing,
 * --help and error reporting are therefore written once. A command sends one
 * protocol envelope (tree: one per page) with libcurl and prints the answer's
 * data, as a short human summary or, with --json, as the data itself.
 *
 * Exit codes: 0 success, 1 the request failed (transport error or a
 * non-2xx status; 300 counts as success for tasks suspend), 2 usage error
 * (nothing was sent). */
#include "cli/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "conf/config.h"
#include "core/base64.h"
#include "core/types.h"
#include "core/wire.h"

#define CLIENT_DEFAULT_URL "http://localhost:8001"
#define CONNECT_TIMEOUT_MS 10000L
#define REQUEST_TIMEOUT_MS 60000L
#define MAX_REPLY (256u << 20)
#define MAX_OPTS 8
#define MAX_POS 2
#define TEXT_SHOWN 2000 /* bytes of a decoded payload shown before "..." */

enum { O_REQ = 1, O_MULTI = 2 }; /* O_MULTI: repeatable, at most one per command */

typedef struct {
    const char *name; /* long name without the dashes */
    char shrt;        /* short letter, 0 if none */
    const char *meta; /* value placeholder in --help */
    unsigned flags;
    const char *def; /* default shown in help and used when absent */
    const char *help;
} opt_t;

typedef struct {
    const char *name;
    const char *help;
} pos_t;

typedef struct args args_t;
typedef struct cmd cmd_t;

typedef struct {
    const char *url; /* POST target: server without trailing '/', plus '/' */
    const char *server;
    const char *token;
    const char *cacert; /* PEM CA file for https://, NULL = the system's */
} conn_t;

/* Builds the request data; returns NULL with a usage error in err. */
typedef json_t *(*build_fn)(const args_t *a, char *err, size_t errlen);
/* Shows a successful answer (status 2xx, or 300 where allowed). */
typedef void (*show_fn)(FILE *f, const args_t *a, int status, json_t *data);
/* Runs a command that is more than one request (tree); returns the exit code. */
typedef int (*run_fn)(const args_t *a, const conn_t *c);

struct cmd {
    const char *name;
    const char *kind; /* protocol kind sent */
    const char *summary;
    const char *notes; /* extra paragraph of --help, may be NULL */
    pos_t pos[MAX_POS];
    opt_t opts[MAX_OPTS];
    build_fn build;
    show_fn show;
    run_fn run;
    const char *extra; /* per-command constant (settle state, done message) */
    bool accepts_300;  /* 300 is an answer, not an error (task.suspend) */
};

typedef struct {
    const char *name;
    const char *alias;
    const char *summary;
    const cmd_t *cmds; /* subcommands; NULL when the group is one command */
    size_t ncmds;
    const cmd_t *self;
} group_t;

struct args {
    const group_t *group;
    const cmd_t *cmd;
    const char *pos[MAX_POS];
    size_t npos;
    const char *val[MAX_OPTS];
    const char **multi; /* values of the O_MULTI option, owned by args */
    size_t nmulti;
    const char *server;
    const char *token;
    const char *cacert;
    bool json;
    bool help;
    int64_t now;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jint(json_t *o, const char *k, int64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

static int opt_index(const cmd_t *c, const char *name)
{
    for (int i = 0; i < MAX_OPTS && c->opts[i].name; i++)
        if (strcmp(c->opts[i].name, name) == 0)
            return i;
    return -1;
}

/* The value of option name: as given, else its default, else NULL. */
static const char *opt(const args_t *a, const char *name)
{
    int i = opt_index(a->cmd, name);
    if (i < 0)
        return NULL;
    return a->val[i] ? a->val[i] : a->cmd->opts[i].def;
}

/* ------------------------------------------------------------------ */
/* base64                                                              */

char *client_base64_encode(const unsigned char *in, size_t n)
{
    char *out = malloc(b64_encoded_len(B64_STD, n) + 1);
    if (out)
        b64_encode(B64_STD, in, n, out);
    return out;
}

unsigned char *client_base64_decode(const char *s, size_t *n)
{
    size_t len = strlen(s);
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (out && b64_decode(B64_STD, s, len, out, n) != 0) {
        free(out);
        return NULL;
    }
    if (out)
        out[*n] = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* JSON flags and payloads                                             */

/* Parses the JSON text of a flag; type is JSON_OBJECT or JSON_ARRAY. */
static json_t *parse_flag(const char *flag, const char *text, json_type type, char *err,
                          size_t errlen)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        set_err(err, errlen, "invalid JSON in %s: %s (line %d, column %d)", flag, je.text, je.line,
                je.column);
        return NULL;
    }
    if (json_typeof(v) != type) {
        set_err(err, errlen, "%s must be a JSON %s, e.g. %s", flag,
                type == JSON_OBJECT ? "object" : "array",
                type == JSON_OBJECT ? "'{\"key\":\"value\"}'" : "'[...]'");
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Replaces v.data by the base64 of its text. Returns 0, -1 out of memory. */
static int encode_data_member(json_t *v)
{
    json_t *d = json_object_get(v, "data");
    if (!d)
        return 0;
    char *raw = json_is_string(d) ? strdup(json_string_value(d))
                                  : json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (!raw)
        return -1;
    char *b = client_base64_encode((const unsigned char *)raw, strlen(raw));
    free(raw);
    if (!b)
        return -1;
    int rc = json_object_set_new(v, "data", json_string(b));
    free(b);
    return rc;
}

static json_t *parse_payload(const char *flag, const char *text, char *err, size_t errlen)
{
    json_t *v = parse_flag(flag, text, JSON_OBJECT, err, errlen);
    if (v && encode_data_member(v) != 0) {
        set_err(err, errlen, "out of memory");
        json_decref(v);
        return NULL;
    }
    return v;
}

char *client_payload_encode(const char *flag, const char *text, char *err, size_t errlen)
{
    json_t *v = parse_payload(flag, text, err, errlen);
    if (!v)
        return NULL;
    char *out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    if (!out)
        set_err(err, errlen, "out of memory");
    return out;
}

static int parse_duration_flag(const char *flag, const char *s, int64_t *ms, char *err,
                               size_t errlen)
{
    char why[256];
    if (conf_parse_duration(s, ms, why, sizeof why) != 0) {
        set_err(err, errlen, "%s: %s", flag, why);
        return -1;
    }
    return 0;
}

static int parse_int_flag(const char *flag, const char *s, int64_t *v, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno) {
        set_err(err, errlen, "invalid %s '%s': expected an integer", flag, s);
        return -1;
    }
    *v = x;
    return 0;
}

/* An action object as the protocol wants it: "head" is required by
 * task.fulfill and task.suspend, so an absent one becomes {}. */
static json_t *parse_action(const char *flag, const char *text, char *err, size_t errlen)
{
    json_t *v = parse_flag(flag, text, JSON_OBJECT, err, errlen);
    if (v && !json_object_get(v, "head"))
        json_object_set_new(v, "head", json_object());
    return v;
}

/* ------------------------------------------------------------------ */
/* formatting                                                          */

void client_format_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    if (ms < 0)
        ms = -ms;
    if (ms < 1000) {
        snprintf(buf, len, "%lldms", (long long)ms);
        return;
    }
    size_t o = 0;
    int shown = 0;
    buf[0] = '\0';
    /* Two most significant units are enough for a human ("1d2h", "5m30s"). */
    for (size_t i = 0; i < sizeof units / sizeof *units && shown < 2; i++) {
        int64_t q = ms / units[i].ms;
        if (q == 0 && shown == 0)
            continue;
        if (q > 0 && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%lld%s", (long long)q, units[i].unit);
        ms -= q * units[i].ms;
        shown++;
    }
}

/* "2026-04-01T12:00:00.000Z"; the raw number when out of range. */
static void format_time(int64_t ms, bool with_ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (ms < -62135596800000LL || ms > 253402300799999LL || !gmtime_r(&t, &tm)) {
        snprintf(buf, len, "%lld", (long long)ms);
        return;
    }
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_ms)
        snprintf(buf, len, "%s.%03dZ", base, (int)(((ms % 1000) + 1000) % 1000));
    else
        snprintf(buf, len, "%sZ", base);
}

/* "2026-04-01T12:00:00.000Z (in 5m)" or "(...) (3s ago)". */
static void format_when(int64_t ms, int64_t now, char *buf, size_t len)
{
    char t[40], d[32];
    format_time(ms, true, t, sizeof t);
    client_format_duration(ms - now, d, sizeof d);
    if (ms - now >= 1000)
        snprintf(buf, len, "%s (in %s)", t, d);
    else if (now - ms >= 1000)
        snprintf(buf, len, "%s (%s ago)", t, d);
    else
        snprintf(buf, len, "%s (now)", t);
}

/* True when s[i] starts a control character a terminal acts on
 * (wire_control_len) other than the C0 ones in keep. Sets *len to the
 * bytes to step over (1 when it is none). */
static bool is_control(const unsigned char *s, size_t n, size_t i, const char *keep, size_t *len)
{
    size_t k = wire_control_len((const char *)s, n, i);
    *len = k ? k : 1;
    return k && !(k == 1 && s[i] && keep && strchr(keep, s[i]));
}

char *client_term_escape(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t cap = n * 4 + 1, o = 0; /* a byte is at most 4: "\\x1b" (C1: 2 bytes, 6) */
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t len;
        if (is_control(u, n, i, NULL, &len)) {
            /* C1 is 2 bytes shown as 6; C0 and DEL 1 byte shown as 4. */
            o += (size_t)snprintf(out + o, cap - o, len == 2 ? "\\u%04x" : "\\x%02x",
                                  len == 2 ? u[i + 1] : u[i]);
        } else {
            out[o++] = s[i];
        }
        i += len;
    }
    out[o] = '\0';
    return out;
}

json_t *client_term_safe(json_t *v)
{
    size_t i;
    const char *k;
    json_t *x, *out;
    switch (json_typeof(v)) {
    case JSON_STRING: {
        char *e = client_term_escape(json_string_value(v), json_string_length(v));
        out = e ? json_string(e) : NULL;
        free(e);
        return out;
    }
    case JSON_ARRAY:
        out = json_array();
        json_array_foreach(v, i, x) json_array_append_new(out, client_term_safe(x));
        return out;
    case JSON_OBJECT:
        out = json_object();
        json_object_foreach(v, k, x)
        {
            char *e = client_term_escape(k, strlen(k));
            if (e)
                json_object_set_new(out, e, client_term_safe(x));
            free(e);
        }
        return out;
    default:
        return json_incref(v);
    }
}

/* True when the n bytes are UTF-8 text a terminal can show as is. */
static bool is_text(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len;
        if (is_control(p, n, i, "\n\t\r", &len))
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = c >= 0xc2 && c < 0xe0   ? 1
                   : c >= 0xe0 && c < 0xf0 ? 2
                   : c >= 0xf0 && c < 0xf5 ? 3
                                           : 0;
        if (k == 0)
            return false;
        for (size_t j = 1; j <= k; j++)
            if (i + j >= n || (p[i + j] & 0xc0) != 0x80)
                return false;
        i += k + 1;
    }
    return true;
}

/* Prints text, continuation lines indented by width columns, then a newline
 * when newline. A '\r' is left out: it would move back over the label. */
static void print_indented(FILE *f, const char *text, size_t n, int width, bool newline)
{
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\r')
            continue;
        fputc(text[i], f);
        if (text[i] == '\n' && i + 1 < n)
            fprintf(f, "%*s", width, "");
    }
    if (newline)
        fputc('\n', f);
}

static void field(FILE *f, int width, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void field(FILE *f, int width, const char *label, const char *fmt, ...)
{
    fprintf(f, "%-*s", width, label);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

/* One line per tag, "(none)" when empty. */
static void show_tags(FILE *f, int width, const char *label, json_t *tags)
{
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(tags, k, v)
    {
        char *vs = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(f, "%-*s%s=%s\n", width, first ? label : "", k, vs ? vs : json_string_value(v));
        free(vs);
        first = false;
    }
    if (first)
        field(f, width, label, "(none)");
}

/* A payload ({headers?, data?}): decoded data when it is text. */
static void show_value(FILE *f, int width, const char *label, json_t *v)
{
    const char *data = jstr(v, "data");
    json_t *headers = json_object_get(v, "headers");
    if (!data) {
        field(f, width, label, "(empty)");
    } else {
        size_t n = 0;
        unsigned char *raw = client_base64_decode(data, &n);
        fprintf(f, "%-*s", width, label);
        if (!raw) {
            fprintf(f, "%s  (not base64)\n", data);
        } else if (!is_text(raw, n)) {
            fprintf(f, "<%zu bytes of binary data; --json shows the base64>\n", n);
        } else if (n > TEXT_SHOWN) {
            size_t cut = TEXT_SHOWN;
            while (cut > 0 && (raw[cut] & 0xc0) == 0x80)
                cut--;
            print_indented(f, (const char *)raw, cut, width, false);
            fprintf(f, "... (%zu bytes in all; --json shows everything)\n", n);
        } else {
            print_indented(f, (const char *)raw, n, width, true);
        }
        free(raw);
    }
    if (json_object_size(headers) > 0)
        show_tags(f, width, "  headers", headers);
}

#define W 10 /* label column of promise and task views */

static void show_promise_record(FILE *f, json_t *p, int64_t now)
{
    char buf[96];
    int64_t t;
    const char *state = jstr(p, "state");
    field(f, W, "id", "%s", jstr(p, "id") ? jstr(p, "id") : "?");
    field(f, W, "state", "%s", state ? state : "?");
    if (jint(p, "timeoutAt", &t)) {
        format_when(t, now, buf, sizeof buf);
        field(f, W, "timeout", "%s", buf);
    }
    if (jint(p, "createdAt", &t)) {
        format_when(t, now, buf, sizeof buf);
        field(f, W, "created", "%s", buf);
    }
    if (jint(p, "settledAt", &t)) {
        format_when(t, now, buf, sizeof buf);
        field(f, W, "settled", "%s", buf);
    }
    show_tags(f, W, "tags", json_object_get(p, "tags"));
    show_value(f, W, "param", json_object_get(p, "param"));
    if (state && strcmp(state, "pending") != 0)
        show_value(f, W, "value", json_object_get(p, "value"));
}

static void show_task_record(FILE *f, json_t *t, int64_t now)
{
    (void)now;
    int64_t v;
    char buf[32];
    field(f, W, "id", "%s", jstr(t, "id") ? jstr(t, "id") : "?");
    field(f, W, "state", "%s", jstr(t, "state") ? jstr(t, "state") : "?");
    if (jint(t, "version", &v))
        field(f, W, "version", "%lld", (long long)v);
    if (jint(t, "resumes", &v))
        field(f, W, "resumes", "%lld", (long long)v);
    if (jstr(t, "pid"))
        field(f, W, "pid", "%s", jstr(t, "pid"));
    if (jint(t, "ttl", &v)) {
        client_format_duration(v, buf, sizeof buf);
        field(f, W, "ttl", "%s (lease renewed by heartbeats)", buf);
    }
}

static void show_preload(FILE *f, json_t *preload)
{
    if (!json_is_array(preload))
        return;
    if (json_array_size(preload) == 0) {
        field(f, W, "preload", "(none)");
        return;
    }
    size_t i;
    json_t *p;
    json_array_foreach(preload, i, p)
    {
        const char *id = jstr(p, "id"), *st = jstr(p, "state");
        fprintf(f, "%-*s%s (%s)\n", W, i == 0 ? "preload" : "", id ? id : "?", st ? st : "?");
    }
}

/* Shows data as JSON when it has none of the expected members. */
static void show_raw(FILE *f, json_t *data)
{
    char *s = json_dumps(data, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s)
        fprintf(f, "%s\n", s);
    free(s);
}

/* ---- tables ---- */

#define TCOLS 5

typedef struct {
    size_t ncols;
    const char *head[TCOLS];
    char **cells; /* rows * ncols strings, owned */
    size_t rows, cap;
} table_t;

static void table_add(table_t *t, const char *const *vals)
{
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c)
            return;
        t->cells = c;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->rows * t->ncols + i] = strdup(vals[i] ? vals[i] : "");
    t->rows++;
}

static void table_print(FILE *f, const table_t *t)
{
    size_t w[TCOLS] = {0};
    for (size_t i = 0; i < t->ncols; i++)
        w[i] = strlen(t->head[i]);
    for (size_t r = 0; r < t->rows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            const char *c = t->cells[r * t->ncols + i];
            size_t l = c ? strlen(c) : 0;
            if (l > w[i])
                w[i] = l;
        }
    for (size_t r = 0; r <= t->rows; r++) {
        const char *const *row =
            r == 0 ? t->head : (const char *const *)&t->cells[(r - 1) * t->ncols];
        size_t last = 0; /* no padding after the last non-empty cell */
        for (size_t i = 0; i < t->ncols; i++)
            if (row[i] && *row[i])
                last = i;
        for (size_t i = 0; i < last; i++)
            fprintf(f, "%-*s  ", (int)w[i], row[i] ? row[i] : "");
        fprintf(f, "%s\n", row[last] ? row[last] : "");
    }
}

static void table_free(table_t *t)
{
    for (size_t i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* "k=v, k2=v2", cut to max bytes. */
static void tags_inline(json_t *tags, char *buf, size_t max)
{
    const char *k;
    json_t *v;
    size_t o = 0;
    buf[0] = '\0';
    json_object_foreach(tags, k, v)
    {
        if (o >= max)
            break;
        o += (size_t)snprintf(buf + o, max - o, "%s%s=%s", o ? ", " : "", k,
                              json_is_string(v) ? json_string_value(v) : "?");
    }
    if (o >= max && max > 4)
        memcpy(buf + max - 4, "...", 4);
}

static void show_cursor(FILE *f, const args_t *a, json_t *data, size_t n, const char *what)
{
    const char *cursor = jstr(data, "cursor");
    fprintf(f, "%zu %s%s", n, what, n == 1 ? "" : "s");
    if (cursor)
        fprintf(f, "; more with: resonate %s search --cursor '%s'", a->group->name, cursor);
    fputc('\n', f);
}

/* ------------------------------------------------------------------ */
/* show functions                                                      */

/* The record under key in data, shown by fn; the raw data when the answer
 * has no such object. */
static void show_object(FILE *f, const args_t *a, json_t *data, const char *key,
                        void (*fn)(FILE *, json_t *, int64_t))
{
    json_t *rec = json_object_get(data, key);
    if (!json_is_object(rec)) {
        show_raw(f, data);
        return;
    }
    fn(f, rec, a->now);
}

/* One table row: cells point into buf or into the item. */
typedef struct {
    char buf[TCOLS][96];
    const char *cell[TCOLS];
} row_t;

/* A search answer: the array under key as a table (columns from t, one row
 * per item filled by fill), then the next-page hint. */
static void show_list(FILE *f, const args_t *a, json_t *data, const char *key, const char *what,
                      table_t t, void (*fill)(json_t *item, row_t *r))
{
    json_t *list = json_object_get(data, key);
    if (!json_is_array(list)) {
        show_raw(f, data);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        row_t r = {0};
        fill(item, &r);
        table_add(&t, r.cell);
    }
    if (t.rows)
        table_print(f, &t);
    table_free(&t);
    show_cursor(f, a, data, json_array_size(list), what);
}

/* r->buf[col] = the integer member name of item, "" when absent. */
static const char *int_cell(row_t *r, int col, json_t *item, const char *name)
{
    int64_t v;
    r->buf[col][0] = '\0';
    if (jint(item, name, &v))
        snprintf(r->buf[col], sizeof r->buf[col], "%lld", (long long)v);
    return r->buf[col];
}

/* r->buf[col] = the time member name of item, "" when absent. */
static const char *time_cell(row_t *r, int col, json_t *item, const char *name)
{
    int64_t ms;
    r->buf[col][0] = '\0';
    if (jint(item, name, &ms))
        format_time(ms, false, r->buf[col], sizeof r->buf[col]);
    return r->buf[col];
}

static void promise_row(json_t *p, row_t *r)
{
    tags_inline(json_object_get(p, "tags"), r->buf[3], sizeof r->buf[3]);
    r->cell[0] = jstr(p, "id");
    r->cell[1] = jstr(p, "state");
    r->cell[2] = time_cell(r, 2, p, "timeoutAt");
    r->cell[3] = r->buf[3];
}

static void task_row(json_t *t, row_t *r)
{
    r->cell[0] = jstr(t, "id");
    r->cell[1] = jstr(t, "state");
    r->cell[2] = int_cell(r, 2, t, "version");
    r->cell[3] = int_cell(r, 3, t, "resumes");
    r->cell[4] = jstr(t, "pid");
}

static void schedule_row(json_t *s, row_t *r)
{
    r->cell[0] = jstr(s, "id");
    r->cell[1] = jstr(s, "cron");
    r->cell[2] = time_cell(r, 2, s, "nextRunAt");
    r->cell[3] = jstr(s, "promiseId");
}

static void show_promise(FILE *f, const args_t *a, int status, json_t *data)
{
    (void)status;
    show_object(f, a, data, "promise", show_promise_record);
}

static void show_promises(FILE *f, const args_t *a, int status, json_t *data)
{
    (void)status;
    table_t t = {.ncols = 4, .head = {"ID", "STATE", "TIMEOUT", "TAGS"}};
    show_list(f, a, data, "promises", "promise", t, promise_row);
}

/* task.create / task.acquire: the task, its promise and the preload. */
static void show_acquired(FILE *f, const args_t *a, int status, json_t *data)
{
    (void)status;
    json_t *task = json_object_get(data, "task");
    if (!json_is_object(task)) {
        show_raw(f, data);
        return;
    }
    show_task_record(f, task, a->now);
    json_t *p = json_object_get(data, "promise");
    if (json_is_object(p)) {
        fprintf(f, "\npromise:\n");
        show_promise_record(f, p, a->now);
    }
    fputc('\n', f);
    show_preload(f, json_object_get(data, "preload"));
}

static void show_task(FILE *f, const args_t *a, int status, json_t *data)
{
    (void)status;
    show_object(f, a, data, "task", show_task_record);
}

static void show_tasks(FILE *f, const args_t *a, int status, json_t *data)
{
    (void)status;
    table_t t = {.ncols = 5, .head = {"ID", "STATE", "VERSION", "RESUMES", "PID"}};
    show_list(f, a, data, "tasks", "task", t, task_row);
}

/* Answers with empty data: a sentence from the command's extra text. */
static void show_done(FILE *f, const args_t *a, int status, json_t *data)
{
    (void)status;
    (void)data;
    const char *subject = a->npos ? a->pos[0] : opt(a, "pid");
    fprintf(f, a->cmd->extra, subject ? subject : "");
    fputc('\n', f);
}

static void show_suspend(FILE *f, const args_t *a, int status, json_t *data)
{
    if (status == 300) {
        fprintf(f,
                "task %s was NOT suspended: an awaited promise is already settled; "
                "it stays acquired, keep executing\n",
                a->pos[0]);
        show_preload(f, json_object_get(data, "preload"));
        return;
    }
    fprintf(f, "task %s suspended until an awaited promise settles\n", a->pos[0]);
}

/* task.fence: the inner answer is an envelope of its own. */
static void show_fence(FILE *f, const args_t *a, int status, json_t *data)
{
    (void)status;
    json_t *inner = json_object_get(data, "action");
    json_t *head = json_object_get(inner, "head");
    int64_t st = 0;
    if (!json_is_object(inner) || !jint(head, "status", &st)) {
        show_raw(f, data);
        return;
    }
    const char *kind = jstr(inner, "kind");
    json_t *idata = json_object_get(inner, "data");
    fprintf(f, "fenced %s: status %lld", kind ? kind : "action", (long long)st);
    if (json_is_string(idata))
        fprintf(f, " (%s)", json_string_value(idata));
    fputc('\n', f);
    json_t *p = json_object_get(idata, "promise");
    if (json_is_object(p)) {
        fputc('\n', f);
        show_promise_record(f, p, a->now);
    }
    fputc('\n', f);
    show_preload(f, json_object_get(data, "preload"));
}

#define SW 17 /* label column of the schedule view */

static void show_schedule_record(FILE *f, json_t *s, int64_t now)
{
    char buf[96];
    int64_t t;
    field(f, SW, "id", "%s", jstr(s, "id") ? jstr(s, "id") : "?");
    field(f, SW, "cron", "%s", jstr(s, "cron") ? jstr(s, "cron") : "?");
    field(f, SW, "promise id", "%s", jstr(s, "promiseId") ? jstr(s, "promiseId") : "?");
    if (jint(s, "promiseTimeout", &t)) {
        client_format_duration(t, buf, sizeof buf);
        field(f, SW, "promise timeout", "%s", buf);
    }
    show_tags(f, SW, "promise tags", json_object_get(s, "promiseTags"));
    show_value(f, SW, "promise param", json_object_get(s, "promiseParam"));
    if (jint(s, "createdAt", &t)) {
        format_when(t, now, buf, sizeof buf);
        field(f, SW, "created", "%s", buf);
    }
    if (jint(s, "nextRunAt", &t)) {
        format_when(t, now, buf, sizeof buf);
        field(f, SW, "next run", "%s", buf);
    }
    if (jint(s, "lastRunAt", &t))
        format_when(t, now, buf, sizeof buf);
    else
        snprintf(buf, sizeof buf, "(never)");
    field(f, SW, "last run", "%s", buf);
}

static void show_schedule(FILE *f, const args_t *a, int status, json_t *data)
{
    (void)status;
    show_object(f, a, data, "schedule", show_schedule_record);
}

static void show_schedules(FILE *f, const args_t *a, int status, json_t *data)
{
    (void)status;
    table_t t = {.ncols = 4, .head = {"ID", "CRON", "NEXT RUN", "PROMISE ID"}};
    show_list(f, a, data, "schedules", "schedule", t, schedule_row);
}

/* ------------------------------------------------------------------ */
/* request builders                                                    */

static json_t *build_id(const args_t *a, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return json_pack("{s:s}", "id", a->pos[0]);
}

/* Adds key: parsed JSON flag (payloads get their data base64-encoded). */
static int add_flag(json_t *data, const char *key, const args_t *a, const char *name, bool payload,
                    char *err, size_t errlen)
{
    const char *text = opt(a, name);
    if (!text)
        return 0;
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", name);
    json_t *v = payload ? parse_payload(flag, text, err, errlen)
                        : parse_flag(flag, text, JSON_OBJECT, err, errlen);
    if (!v)
        return -1;
    json_object_set_new(data, key, v);
    return 0;
}

/* tags from --tags plus resonate:target from --target (for commands whose
 * promise needs a target). */
static int add_tags(json_t *data, const char *key, const args_t *a, const char *name, char *err,
                    size_t errlen)
{
    if (add_flag(data, key, a, name, false, err, errlen) != 0)
        return -1;
    const char *target = opt(a, "target");
    if (target) {
        json_t *tags = json_object_get(data, key);
        if (!tags) {
            tags = json_object();
            json_object_set_new(data, key, tags);
        }
        json_object_set_new(tags, "resonate:target", json_string(target));
    }
    return 0;
}

static json_t *build_promise_create(const args_t *a, char *err, size_t errlen)
{
    int64_t ms;
    if (parse_duration_flag("--timeout", opt(a, "timeout"), &ms, err, errlen) != 0)
        return NULL;
    json_t *d = json_pack("{s:s, s:I}", "id", a->pos[0], "timeoutAt", (json_int_t)(a->now + ms));
    if (add_flag(d, "param", a, "param", true, err, errlen) != 0 ||
        add_tags(d, "tags", a, "tags", err, errlen) != 0) {
        json_decref(d);
        return NULL;
    }
    return d;
}

static json_t *build_settle(const args_t *a, char *err, size_t errlen)
{
    json_t *d = json_pack("{s:s, s:s}", "id", a->pos[0], "state", a->cmd->extra);
    if (add_flag(d, "value", a, "value", true, err, errlen) != 0) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* {limit, cursor?, state?}: the common part of the three searches. */
static json_t *build_search_common(const args_t *a, char *err, size_t errlen)
{
    int64_t limit;
    if (parse_int_flag("--limit", opt(a, "limit"), &limit, err, errlen) != 0)
        return NULL;
    json_t *d = json_pack("{s:I}", "limit", (json_int_t)limit);
    if (opt(a, "cursor"))
        json_object_set_new(d, "cursor", json_string(opt(a, "cursor")));
    if (opt(a, "state"))
        json_object_set_new(d, "state", json_string(opt(a, "state")));
    return d;
}

static json_t *build_search_tags(const args_t *a, char *err, size_t errlen)
{
    json_t *d = build_search_common(a, err, errlen);
    if (d && add_flag(d, "tags", a, "tags", false, err, errlen) != 0) {
        json_decref(d);
        return NULL;
    }
    return d;
}

static json_t *build_register_callback(const args_t *a, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return json_pack("{s:s, s:s}", "awaited", a->pos[0], "awaiter", a->pos[1]);
}

static json_t *build_register_listener(const args_t *a, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return json_pack("{s:s, s:s}", "awaited", a->pos[0], "address", a->pos[1]);
}

static json_t *build_task_create(const args_t *a, char *err, size_t errlen)
{
    int64_t ttl, timeout;
    if (parse_duration_flag("--ttl", opt(a, "ttl"), &ttl, err, errlen) != 0 ||
        parse_duration_flag("--timeout", opt(a, "timeout"), &timeout, err, errlen) != 0)
        return NULL;
    json_t *ad =
        json_pack("{s:s, s:I}", "id", a->pos[0], "timeoutAt", (json_int_t)(a->now + timeout));
    if (add_flag(ad, "param", a, "param", true, err, errlen) != 0 ||
        add_tags(ad, "tags", a, "tags", err, errlen) != 0) {
        json_decref(ad);
        return NULL;
    }
    return json_pack("{s:s, s:I, s:{s:s, s:{}, s:o}}", "pid", opt(a, "pid"), "ttl", (json_int_t)ttl,
                     "action", "kind", "promise.create", "head", "data", ad);
}

static int task_version(const args_t *a, int64_t *v, char *err, size_t errlen)
{
    return parse_int_flag("--version", opt(a, "version"), v, err, errlen);
}

static json_t *build_task_claim(const args_t *a, char *err, size_t errlen)
{
    int64_t v, ttl;
    if (task_version(a, &v, err, errlen) != 0 ||
        parse_duration_flag("--ttl", opt(a, "ttl"), &ttl, err, errlen) != 0)
        return NULL;
    return json_pack("{s:s, s:s, s:I, s:I}", "id", a->pos[0], "pid", opt(a, "pid"), "version",
                     (json_int_t)v, "ttl", (json_int_t)ttl);
}

static json_t *build_task_fence(const args_t *a, char *err, size_t errlen)
{
    int64_t v;
    if (task_version(a, &v, err, errlen) != 0)
        return NULL;
    json_t *act = parse_flag("--action", opt(a, "action"), JSON_OBJECT, err, errlen);
    if (!act)
        return NULL;
    return json_pack("{s:s, s:I, s:o}", "id", a->pos[0], "version", (json_int_t)v, "action", act);
}

static json_t *build_task_heartbeat(const args_t *a, char *err, size_t errlen)
{
    json_t *tasks = parse_flag("--tasks", opt(a, "tasks"), JSON_ARRAY, err, errlen);
    if (!tasks)
        return NULL;
    return json_pack("{s:s, s:o}", "pid", opt(a, "pid"), "tasks", tasks);
}

static json_t *build_task_suspend(const args_t *a, char *err, size_t errlen)
{
    int64_t v;
    if (task_version(a, &v, err, errlen) != 0)
        return NULL;
    json_t *actions;
    if (opt(a, "actions")) {
        if (a->nmulti) {
            set_err(err, errlen, "give either --actions or --awaited, not both");
            return NULL;
        }
        actions = parse_flag("--actions", opt(a, "actions"), JSON_ARRAY, err, errlen);
        if (!actions)
            return NULL;
        size_t i;
        json_t *act;
        json_array_foreach(actions, i, act)
        {
            if (json_is_object(act) && !json_object_get(act, "head"))
                json_object_set_new(act, "head", json_object());
        }
    } else if (a->nmulti) {
        actions = json_array();
        for (size_t i = 0; i < a->nmulti; i++)
            json_array_append_new(actions, json_pack("{s:s, s:{}, s:{s:s, s:s}}", "kind",
                                                     "promise.register_callback", "head", "data",
                                                     "awaited", a->multi[i], "awaiter", a->pos[0]));
    } else {
        set_err(err, errlen,
                "give the promises to wait for with --awaited ID (repeatable) "
                "or --actions JSON");
        return NULL;
    }
    return json_pack("{s:s, s:I, s:o}", "id", a->pos[0], "version", (json_int_t)v, "actions",
                     actions);
}

static json_t *build_task_complete(const args_t *a, char *err, size_t errlen)
{
    int64_t v;
    if (task_version(a, &v, err, errlen) != 0)
        return NULL;
    json_t *act;
    if (opt(a, "action")) {
        if (opt(a, "state") || opt(a, "value")) {
            set_err(err, errlen, "give either --action or --state/--value, not both");
            return NULL;
        }
        act = parse_action("--action", opt(a, "action"), err, errlen);
        if (!act)
            return NULL;
    } else if (opt(a, "state")) {
        const char *st = opt(a, "state");
        if (strcmp(st, "resolved") != 0 && strcmp(st, "rejected") != 0 &&
            strcmp(st, "rejected_canceled") != 0) {
            set_err(err, errlen,
                    "invalid --state '%s': expected resolved, rejected or rejected_canceled", st);
            return NULL;
        }
        json_t *sd = json_pack("{s:s, s:s}", "id", a->pos[0], "state", st);
        if (add_flag(sd, "value", a, "value", true, err, errlen) != 0) {
            json_decref(sd);
            return NULL;
        }
        act = json_pack("{s:s, s:{}, s:o}", "kind", "promise.settle", "head", "data", sd);
    } else {
        set_err(err, errlen, "give the outcome with --state (and --value) or --action JSON");
        return NULL;
    }
    return json_pack("{s:s, s:I, s:o}", "id", a->pos[0], "version", (json_int_t)v, "action", act);
}

static json_t *build_task_release(const args_t *a, char *err, size_t errlen)
{
    int64_t v;
    if (task_version(a, &v, err, errlen) != 0)
        return NULL;
    return json_pack("{s:s, s:I}", "id", a->pos[0], "version", (json_int_t)v);
}

static json_t *build_schedule_create(const args_t *a, char *err, size_t errlen)
{
    int64_t ms;
    if (parse_duration_flag("--promise-timeout", opt(a, "promise-timeout"), &ms, err, errlen) != 0)
        return NULL;
    json_t *d = json_pack("{s:s, s:s, s:s, s:I}", "id", a->pos[0], "cron", opt(a, "cron"),
                          "promiseId", opt(a, "promise-id"), "promiseTimeout", (json_int_t)ms);
    if (add_flag(d, "promiseParam", a, "promise-param", true, err, errlen) != 0 ||
        add_tags(d, "promiseTags", a, "promise-tags", err, errlen) != 0) {
        json_decref(d);
        return NULL;
    }
    return d;
}

static json_t *build_invoke(const args_t *a, char *err, size_t errlen)
{
    int64_t version, timeout, delay = 0;
    if (parse_int_flag("--version", opt(a, "version"), &version, err, errlen) != 0)
        return NULL;
    if (version <= 0) {
        set_err(err, errlen, "--version must be greater than 0");
        return NULL;
    }
    if (parse_duration_flag("--timeout", opt(a, "timeout"), &timeout, err, errlen) != 0 ||
        (opt(a, "delay") && parse_duration_flag("--delay", opt(a, "delay"), &delay, err, errlen)))
        return NULL;
    json_t *args;
    if (opt(a, "json-args")) {
        args = parse_flag("--json-args", opt(a, "json-args"), JSON_ARRAY, err, errlen);
        if (!args)
            return NULL;
    } else {
        /* each --arg is JSON when it parses as JSON, else a plain string */
        args = json_array();
        for (size_t i = 0; i < a->nmulti; i++) {
            json_t *v = json_loads(a->multi[i], JSON_DECODE_ANY, NULL);
            json_array_append_new(args, v ? v : json_string(a->multi[i]));
        }
    }
    json_t *call =
        json_pack("{s:s, s:o, s:I}", "func", opt(a, "func"), "args", args, "version", version);
    char *text = json_dumps(call, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(call);
    char *b64 = text ? client_base64_encode((unsigned char *)text, strlen(text)) : NULL;
    free(text);
    if (!b64) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    json_t *tags = json_pack("{s:s}", "resonate:target", opt(a, "target"));
    if (delay > 0) {
        char at[24];
        snprintf(at, sizeof at, "%lld", (long long)(a->now + delay));
        json_object_set_new(tags, "resonate:delay", json_string(at));
    }
    json_t *d = json_pack("{s:s, s:I, s:{s:{}, s:s}, s:o}", "id", a->pos[0], "timeoutAt",
                          (json_int_t)(a->now + timeout + delay), "param", "headers", "data", b64,
                          "tags", tags);
    free(b64);
    return d;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */

typedef struct {
    char *buf;
    size_t len, cap;
    bool too_big;
} membuf_t;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    membuf_t *m = ud;
    size_t n = size * nmemb;
    if (m->len + n + 1 > MAX_REPLY) {
        m->too_big = true;
        return 0;
    }
    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + n + 1)
            cap *= 2;
        char *b = realloc(m->buf, cap);
        if (!b)
            return 0;
        m->buf = b;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
    m->buf[m->len] = '\0';
    return n;
}

/* Discards a probe's answer. */
static size_t on_discard(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    (void)ud;
    return size * nmemb;
}

#define PROBE_TIMEOUT_MS 3000L

/* After a failed request to c->url, tells whether the server at that
 * address speaks the other protocol: for an https:// URL, whether a plain
 * HTTP GET of the same URL gets an HTTP answer (any status); for an http://
 * URL, whether a TLS handshake completes (CURLOPT_CONNECT_ONLY: nothing is
 * sent, so the token never leaves; the certificate is not checked, as only
 * the protocol is asked). Writes the URL with the other scheme to other.
 * Learned by asking again rather than from the TLS library's words, which
 * differ between a refused handshake ("wrong version number") and a reset
 * (SSL_ERROR_SYSCALL) for the same mistake. */
static bool other_scheme_answers(const conn_t *c, bool https, char *other, size_t otherlen)
{
    size_t skip = https ? strlen("https://") : strlen("http://");
    set_err(other, otherlen, "%s%s", https ? "http://" : "https://", c->server + skip);
    char *url = malloc(strlen(c->url) + 2);
    CURL *h = curl_easy_init();
    bool yes = false;
    if (!url || !h)
        goto cleanup;
    sprintf(url, "%s%s", https ? "http://" : "https://", c->url + skip);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, PROBE_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, PROBE_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "resonate-cli");
    if (https) {
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_discard);
        long status = 0;
        yes = curl_easy_perform(h) == CURLE_OK &&
              curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status >= 100;
    } else {
        curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        yes = curl_easy_perform(h) == CURLE_OK;
    }
cleanup:
    if (h)
        curl_easy_cleanup(h);
    free(url);
    return yes;
}

/* Whether cc, from a request to c, is how a server speaking the other
 * protocol fails it, and the server at c does: then err says so and how
 * to fix the address. A TLS handshake answered in plain HTTP fails as
 * CURLE_SSL_CONNECT_ERROR; plain HTTP sent to a TLS port is answered by
 * nothing, a reset or a TLS alert (GOT_NOTHING, RECV_ERROR,
 * WEIRD_SERVER_REPLY, UNSUPPORTED_PROTOCOL for "HTTP/0.9"). */
static bool explain_scheme(const conn_t *c, CURLcode cc, char *err, size_t errlen)
{
    bool https = strncasecmp(c->server, "https://", 8) == 0;
    bool http = strncasecmp(c->server, "http://", 7) == 0;
    char other[1024];
    if (https && (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_RECV_ERROR) &&
        other_scheme_answers(c, true, other, sizeof other)) {
        set_err(err, errlen,
                "the server at %s answered in plain HTTP, not TLS: use -S %s (or RESONATE_URL), "
                "or turn TLS on at the server (server.tls_cert and server.tls_key: "
                "--server-tls-cert FILE --server-tls-key FILE)",
                c->server, other);
        return true;
    }
    if (http &&
        (cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_WEIRD_SERVER_REPLY ||
         cc == CURLE_UNSUPPORTED_PROTOCOL) &&
        other_scheme_answers(c, false, other, sizeof other)) {
        set_err(err, errlen,
                "the server at %s speaks TLS (HTTPS), not plain HTTP: use -S %s (or "
                "RESONATE_URL), with --cacert FILE if its certificate is from a private CA",
                c->server, other);
        return true;
    }
    return false;
}

/* POSTs {kind, head, data} to the server. On 0, *status is the envelope's
 * head.status and *reply its data (a new reference owned by the caller). On
 * -1 (no usable answer) err says why. */
static int client_post(const conn_t *c, const char *kind, json_t *data, int *status, json_t **reply,
                       char *err, size_t errlen)
{
    int rc = -1;
    char *body = NULL;
    struct curl_slist *hdrs = NULL;
    membuf_t m = {0};
    json_t *env = NULL, *resp = NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    char corr[64];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(corr, sizeof corr, "cli-%lld-%ld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
             ts.tv_nsec % 1000000);
    env = json_pack("{s:s, s:{s:s, s:s}, s:O}", "kind", kind, "head", "corrId", corr, "version",
                    PROTOCOL_VERSION, "data", data);
    if (env && c->token)
        json_object_set_new(json_object_get(env, "head"), "auth", json_string(c->token));
    body = env ? json_dumps(env, JSON_COMPACT) : NULL;
    CURL *h = curl_easy_init();
    if (!body || !h) {
        set_err(err, errlen, "out of memory");
        goto cleanup;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (c->token) {
        char *auth = malloc(strlen(c->token) + 32);
        if (auth) {
            sprintf(auth, "Authorization: Bearer %s", c->token);
            hdrs = curl_slist_append(hdrs, auth);
            free(auth);
        }
    }
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "resonate-cli");
    if (c->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);

    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        struct stat st;
        const char *why = cerr[0] ? cerr : curl_easy_strerror(cc);
        if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
            set_err(err, errlen,
                    "cannot connect to the server at %s: %s (is it running? set the address "
                    "with -S or RESONATE_URL)",
                    c->server, why);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            set_err(err, errlen, "no answer from %s: %s", c->server, why);
        else if (cc == CURLE_PEER_FAILED_VERIFICATION)
            set_err(err, errlen,
                    "the certificate of %s is not trusted: %s (for a private CA pass its "
                    "certificate with --cacert FILE or RESONATE_CACERT)",
                    c->server, why);
        else if (cc == CURLE_SSL_CACERT_BADFILE && c->cacert && stat(c->cacert, &st) == 0 &&
                 S_ISDIR(st.st_mode))
            set_err(err, errlen,
                    "the CA file %s is a directory, not a file: give --cacert (or "
                    "RESONATE_CACERT) the PEM file of the CA certificates",
                    c->cacert);
        else if (cc == CURLE_SSL_CACERT_BADFILE)
            set_err(err, errlen, "cannot use the CA file %s: %s", c->cacert ? c->cacert : "", why);
        else if (explain_scheme(c, cc, err, errlen))
            ;
        else if (m.too_big)
            set_err(err, errlen, "the answer from %s is larger than %u MiB", c->server,
                    MAX_REPLY >> 20);
        else
            set_err(err, errlen, "request to %s failed: %s", c->server, why);
        goto cleanup;
    }
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    resp = m.buf ? json_loadb(m.buf, m.len, 0, NULL) : NULL;
    json_t *st = json_object_get(json_object_get(resp, "head"), "status");
    if (!json_is_object(resp) || !json_is_integer(st)) {
        char snippet[201] = "";
        if (m.buf)
            snprintf(snippet, sizeof snippet, "%s", m.buf);
        for (char *p = snippet; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        set_err(err, errlen,
                "unexpected answer from %s (HTTP %ld, not a Resonate envelope)%s%s — is this "
                "a Resonate server?",
                c->server, http, snippet[0] ? ": " : "", snippet);
        goto cleanup;
    }
    *status = (int)json_integer_value(st);
    *reply = json_incref(json_object_get(resp, "data"));
    if (!*reply)
        *reply = json_null();
    rc = 0;
cleanup:
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(body);
    free(m.buf);
    json_decref(env);
    json_decref(resp);
    return rc;
}

/* The message of a failed answer, with what to do about it. */
static void report_failure(const conn_t *c, int status, json_t *raw)
{
    json_t *data = client_term_safe(raw); /* its text may quote a client's ids */
    char *dumped = json_is_string(data) ? NULL : json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *msg = json_is_string(data) ? json_string_value(data) : dumped ? dumped : "";
    /* the server's text often repeats the status word: "Unauthorized: why" */
    const char *word = status == 401 ? "Unauthorized" : status == 403 ? "Forbidden" : NULL;
    if (word && strncasecmp(msg, word, strlen(word)) == 0) {
        msg += strlen(word);
        while (*msg == ':' || *msg == ' ')
            msg++;
    }
    const char *sep = *msg ? ": " : "";
    switch (status) {
    case 400:
        fprintf(stderr, "error: bad request: %s\n", msg);
        break;
    case 401:
        if (c->token)
            fprintf(stderr,
                    "error: unauthorized%s%s — the server rejected the token (check that it "
                    "was signed with the server's key and has not expired)\n",
                    sep, msg);
        else
            fprintf(stderr, "error: unauthorized%s%s — pass a token with -T or RESONATE_TOKEN\n",
                    sep, msg);
        break;
    case 403:
        fprintf(stderr,
                "error: forbidden%s%s — the token's prefix or role does not allow this "
                "request\n",
                sep, msg);
        break;
    case 404:
        fprintf(stderr, "error: not found: %s\n", msg);
        break;
    case 409:
        fprintf(stderr, "error: conflict: %s\n", msg);
        break;
    case 422:
        fprintf(stderr, "error: cannot do that: %s\n", msg);
        break;
    default:
        fprintf(stderr, "error: %s (status %d)%s%s\n",
                status >= 500 ? "server error" : "request failed", status, sep, msg);
    }
    free(dumped);
    json_decref(data);
}

/* data as pretty JSON. jansson escapes C0 controls but writes DEL and C1
 * controls (U+0080-U+009F, U+009B is CSI) as they are: they are written
 * here as JSON escapes, which decode to the same string. */
static void print_json(json_t *data)
{
    char *s = json_dumps(data, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (!s)
        return;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len;
        if (is_control((const unsigned char *)s, n, i, "\n", &len))
            printf("\\u%04x", len == 2 ? (unsigned char)s[i + 1] : (unsigned char)s[i]);
        else
            putchar(s[i]);
        i += len;
    }
    putchar('\n');
    free(s);
}

/* ------------------------------------------------------------------ */
/* tree                                                                */

typedef struct {
    json_t *p;
    const char *id, *parent;
    int64_t created;
    bool seen;
} node_t;

static int node_by_created(const void *x, const void *y)
{
    const node_t *a = x, *b = y;
    return (a->created > b->created) - (a->created < b->created);
}

static const char *tree_glyph(const char *state)
{
    if (!state)
        return "";
    if (strcmp(state, "pending") == 0)
        return " 🟡";
    if (strcmp(state, "resolved") == 0)
        return " 🟢";
    if (strncmp(state, "rejected", 8) == 0)
        return " 🔴";
    return "";
}

/* "(sleep)", "(rpc f)", "(run f)" or "". */
static void tree_detail(json_t *p, char *buf, size_t len)
{
    json_t *tags = json_object_get(p, "tags");
    const char *timer = jstr(tags, "resonate:timer"), *scope = jstr(tags, "resonate:scope");
    char func[128] = "";
    const char *data = jstr(json_object_get(p, "param"), "data");
    size_t n;
    unsigned char *raw = data ? client_base64_decode(data, &n) : NULL;
    json_t *call = raw ? json_loadb((char *)raw, n, 0, NULL) : NULL;
    if (jstr(call, "func"))
        snprintf(func, sizeof func, " %s", jstr(call, "func"));
    json_decref(call);
    free(raw);
    buf[0] = '\0';
    if (timer && *timer)
        snprintf(buf, len, " (sleep)");
    else if (scope && strcmp(scope, "global") == 0)
        snprintf(buf, len, " (rpc%s)", func);
    else if (scope && strcmp(scope, "local") == 0)
        snprintf(buf, len, " (run%s)", func);
}

/* Prints node i and its children (human) or returns it as JSON with a
 * "children" array (json). Nodes are sorted by createdAt, so children come
 * out in creation order; seen guards against parent cycles. */
static json_t *tree_walk(FILE *f, node_t *nodes, size_t n, node_t *me, const char *prefix,
                         bool last, bool root, bool json)
{
    me->seen = true;
    json_t *out = NULL, *kids = NULL;
    if (json) {
        out = json_deep_copy(me->p);
        kids = json_array();
        json_object_set_new(out, "children", kids);
    } else {
        char detail[160];
        tree_detail(me->p, detail, sizeof detail);
        /* the id and the function name are a client's: no terminal controls */
        char *id = client_term_escape(me->id, strlen(me->id));
        char *dt = client_term_escape(detail, strlen(detail));
        fprintf(f, "%s%s%s%s%s\n", prefix,
                root   ? ""
                : last ? "└── "
                       : "├── ",
                id ? id : "?", tree_glyph(jstr(me->p, "state")), dt ? dt : "");
        free(id);
        free(dt);
    }
    size_t plen = strlen(prefix);
    char *sub = malloc(plen + 8);
    if (!sub)
        return out;
    snprintf(sub, plen + 8, "%s%s", prefix, root ? "" : last ? "    " : "│   ");
    size_t count = 0, done = 0;
    for (size_t i = 0; i < n; i++)
        if (!nodes[i].seen && nodes[i].parent && strcmp(nodes[i].parent, me->id) == 0)
            count++;
    for (size_t i = 0; i < n && done < count; i++) {
        if (nodes[i].seen || !nodes[i].parent || strcmp(nodes[i].parent, me->id) != 0)
            continue;
        done++;
        json_t *child = tree_walk(f, nodes, n, &nodes[i], sub, done == count, false, json);
        if (kids && child)
            json_array_append_new(kids, child);
    }
    free(sub);
    return out;
}

static int run_tree(const args_t *a, const conn_t *c)
{
    int rc = 1;
    json_t *all = json_array();
    char *cursor = NULL;
    node_t *nodes = NULL;
    char err[1024];
    for (;;) {
        json_t *q = json_pack("{s:i, s:{s:s}}", "limit", 100, "tags", "resonate:origin", a->pos[0]);
        if (cursor)
            json_object_set_new(q, "cursor", json_string(cursor));
        int status;
        json_t *page = NULL;
        int prc = client_post(c, "promise.search", q, &status, &page, err, sizeof err);
        json_decref(q);
        if (prc != 0) {
            fprintf(stderr, "error: %s\n", err);
            goto cleanup;
        }
        if (status < 200 || status > 299) {
            report_failure(c, status, page);
            json_decref(page);
            goto cleanup;
        }
        json_array_extend(all, json_object_get(page, "promises"));
        free(cursor);
        cursor = jstr(page, "cursor") ? strdup(jstr(page, "cursor")) : NULL;
        json_decref(page);
        if (!cursor)
            break;
    }
    size_t n = json_array_size(all);
    nodes = calloc(n + 1, sizeof *nodes);
    if (!nodes)
        goto cleanup;
    node_t *root = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(all, i);
        nodes[i].p = p;
        nodes[i].id = jstr(p, "id") ? jstr(p, "id") : "";
        nodes[i].parent = jstr(json_object_get(p, "tags"), "resonate:parent");
        if (nodes[i].parent && strcmp(nodes[i].parent, nodes[i].id) == 0)
            nodes[i].parent = NULL;
        if (!jint(p, "createdAt", &nodes[i].created))
            nodes[i].created = 0;
    }
    qsort(nodes, n, sizeof *nodes, node_by_created);
    for (size_t i = 0; i < n; i++)
        if (strcmp(nodes[i].id, a->pos[0]) == 0)
            root = &nodes[i];
    /* an unknown root is shown as its bare id, as the Rust CLI does */
    json_t *placeholder = json_pack("{s:s}", "id", a->pos[0]);
    node_t fake = {.p = placeholder, .id = a->pos[0]};
    json_t *tree = tree_walk(stdout, nodes, n, root ? root : &fake, "", true, true, a->json);
    if (a->json)
        print_json(tree);
    json_decref(tree);
    json_decref(placeholder);
    rc = 0;
cleanup:
    free(nodes);
    free(cursor);
    json_decref(all);
    return rc;
}

/* ------------------------------------------------------------------ */
/* the command table                                                   */

/* Initialisers of common table entries; used inside braces. */
#define POS_ID(what) "ID", what
#define OPT_LIMIT(d) "limit", 0, "N", 0, d, "results per page (1-1000)"
#define OPT_CURSOR "cursor", 0, "CURSOR", 0, NULL, "continue after a previous page"
#define OPT_VERSION "version", 0, "N", O_REQ, NULL, "task version (fencing token)"

static const char PAYLOAD_NOTE[] =
    "Payloads (--param, --value, --promise-param) are JSON objects {\"data\": ..., \"headers\": "
    "{...}}.\nThe \"data\" member is sent base64-encoded: a string as is, other JSON serialised "
    "first,\nso --value '{\"data\":{\"ok\":true}}' stores base64 of {\"ok\":true}.";

static const cmd_t PROMISE_CMDS[] = {
    {.name = "get",
     .kind = "promise.get",
     .summary = "Show a promise",
     .pos = {{POS_ID("promise id")}},
     .build = build_id,
     .show = show_promise},
    {.name = "create",
     .kind = "promise.create",
     .summary = "Create a promise (an existing id is returned unchanged)",
     .notes = PAYLOAD_NOTE,
     .pos = {{POS_ID("promise id")}},
     .opts = {{"timeout", 0, "DURATION", O_REQ, NULL, "time until it times out, e.g. 30s, 1h30m"},
              {"param", 0, "JSON", 0, NULL, "parameter, e.g. '{\"data\":\"hello\"}'"},
              {"tags", 0, "JSON", 0, NULL, "tags, e.g. '{\"env\":\"dev\"}'"},
              {"target", 0, "ADDR", 0, NULL,
               "shorthand for the tag resonate:target (makes it a task), e.g. poll://any@default"}},
     .build = build_promise_create,
     .show = show_promise},
    {.name = "resolve",
     .kind = "promise.settle",
     .summary = "Resolve a pending promise",
     .notes = PAYLOAD_NOTE,
     .pos = {{POS_ID("promise id")}},
     .opts = {{"value", 0, "JSON", 0, NULL, "value, e.g. '{\"data\":\"ok\"}'"}},
     .build = build_settle,
     .show = show_promise,
     .extra = "resolved"},
    {.name = "reject",
     .kind = "promise.settle",
     .summary = "Reject a pending promise",
     .notes = PAYLOAD_NOTE,
     .pos = {{POS_ID("promise id")}},
     .opts = {{"value", 0, "JSON", 0, NULL, "value, e.g. '{\"data\":\"failed\"}'"}},
     .build = build_settle,
     .show = show_promise,
     .extra = "rejected"},
    {.name = "cancel",
     .kind = "promise.settle",
     .summary = "Cancel a pending promise (state rejected_canceled)",
     .notes = PAYLOAD_NOTE,
     .pos = {{POS_ID("promise id")}},
     .opts = {{"value", 0, "JSON", 0, NULL, "value, e.g. '{\"data\":\"no longer needed\"}'"}},
     .build = build_settle,
     .show = show_promise,
     .extra = "rejected_canceled"},
    {.name = "search",
     .kind = "promise.search",
     .summary = "List promises by state and tags, ordered by id",
     .opts = {{"state", 0, "STATE", 0, NULL,
               "pending, resolved, rejected, rejected_canceled or rejected_timedout"},
              {"tags", 0, "JSON", 0, NULL,
               "only promises with all these tags, e.g. '{\"k\":\"v\"}'"},
              {OPT_LIMIT("100")},
              {OPT_CURSOR}},
     .build = build_search_tags,
     .show = show_promises},
    {.name = "register-callback",
     .kind = "promise.register_callback",
     .summary = "Resume the task of AWAITER when AWAITED settles",
     .pos = {{"AWAITED", "promise waited for"}, {"AWAITER", "promise whose task resumes"}},
     .build = build_register_callback,
     .show = show_promise},
    {.name = "register-listener",
     .kind = "promise.register_listener",
     .summary = "Send an unblock message to ADDRESS when AWAITED settles",
     .pos = {{"AWAITED", "promise waited for"},
             {"ADDRESS", "where to send it, e.g. poll://uni@default/me or http://host/path"}},
     .build = build_register_listener,
     .show = show_promise},
};

static const cmd_t TASK_CMDS[] = {
    {.name = "get",
     .kind = "task.get",
     .summary = "Show a task",
     .pos = {{POS_ID("task id (the id of its promise)")}},
     .build = build_id,
     .show = show_task},
    {.name = "create",
     .kind = "task.create",
     .summary = "Create a promise and its task, acquired by PID",
     .notes = "The promise needs a resonate:target tag: give --target or put it in --tags.\n"
              "--param is encoded like promises create (data sent base64-encoded).",
     .pos = {{POS_ID("promise id")}},
     .opts = {{"pid", 0, "PID", O_REQ, NULL, "process that holds the task"},
              {"ttl", 0, "DURATION", O_REQ, NULL, "lease, e.g. 15s"},
              {"timeout", 0, "DURATION", O_REQ, NULL, "time until the promise times out"},
              {"param", 0, "JSON", 0, NULL, "promise parameter, e.g. '{\"data\":\"x\"}'"},
              {"tags", 0, "JSON", 0, NULL, "promise tags"},
              {"target", 0, "ADDR", 0, NULL, "sets the tag resonate:target"}},
     .build = build_task_create,
     .show = show_acquired},
    {.name = "claim",
     .kind = "task.acquire",
     .summary = "Acquire a pending task",
     .pos = {{POS_ID("task id")}},
     .opts = {{"pid", 0, "PID", O_REQ, NULL, "process that takes the task"},
              {OPT_VERSION},
              {"ttl", 0, "DURATION", O_REQ, NULL, "lease, e.g. 15s"}},
     .build = build_task_claim,
     .show = show_acquired},
    {.name = "fence",
     .kind = "task.fence",
     .summary = "Create or settle another promise, only if the task is still held",
     .notes = "The action is sent as given (its data is not base64-encoded for you), e.g.\n"
              "  --action '{\"kind\":\"promise.create\",\"data\":{\"id\":\"child\","
              "\"timeoutAt\":1767225600000}}'",
     .pos = {{POS_ID("task id")}},
     .opts = {{OPT_VERSION},
              {"action", 0, "JSON", O_REQ, NULL, "promise.create or promise.settle request"}},
     .build = build_task_fence,
     .show = show_fence},
    {.name = "heartbeat",
     .kind = "task.heartbeat",
     .summary = "Renew the leases of the tasks held by PID",
     .opts = {{"pid", 0, "PID", O_REQ, NULL, "process that holds the tasks"},
              {"tasks", 0, "JSON", 0, "[]",
               "tasks to renew, e.g. '[{\"id\":\"foo\",\"version\":1}]'; [] renews all of PID's"}},
     .build = build_task_heartbeat,
     .show = show_done,
     .extra = "leases of %s renewed"},
    {.name = "suspend",
     .kind = "task.suspend",
     .summary = "Suspend a task until one of the awaited promises settles",
     .notes = "Exit status 0 also when the task is not suspended because an awaited promise is\n"
              "already settled (status 300); --json then prints {\"preload\": [...]}.",
     .pos = {{POS_ID("task id")}},
     .opts = {{OPT_VERSION},
              {"awaited", 0, "ID", O_MULTI, NULL, "promise to wait for (repeatable)"},
              {"actions", 0, "JSON", 0, NULL,
               "raw register_callback actions instead of --awaited, e.g.\n"
               "'[{\"kind\":\"promise.register_callback\",\"data\":{\"awaited\":\"a.1\","
               "\"awaiter\":\"a\"}}]'"}},
     .build = build_task_suspend,
     .show = show_suspend,
     .accepts_300 = true},
    {.name = "complete",
     .kind = "task.fulfill",
     .summary = "Settle the task's promise and finish the task",
     .notes = PAYLOAD_NOTE,
     .pos = {{POS_ID("task id")}},
     .opts = {{OPT_VERSION},
              {"state", 0, "STATE", 0, NULL, "resolved, rejected or rejected_canceled"},
              {"value", 0, "JSON", 0, NULL, "value with --state, e.g. '{\"data\":\"ok\"}'"},
              {"action", 0, "JSON", 0, NULL,
               "raw promise.settle request instead of --state/--value"}},
     .build = build_task_complete,
     .show = show_promise},
    {.name = "release",
     .kind = "task.release",
     .summary = "Give an acquired task back (it is dispatched again)",
     .pos = {{POS_ID("task id")}},
     .opts = {{OPT_VERSION}},
     .build = build_task_release,
     .show = show_done,
     .extra = "task %s released"},
    {.name = "halt",
     .kind = "task.halt",
     .summary = "Stop a task from being dispatched until continued",
     .pos = {{POS_ID("task id")}},
     .build = build_id,
     .show = show_done,
     .extra = "task %s halted"},
    {.name = "continue",
     .kind = "task.continue",
     .summary = "Resume a halted task",
     .pos = {{POS_ID("task id")}},
     .build = build_id,
     .show = show_done,
     .extra = "task %s continued"},
    {.name = "search",
     .kind = "task.search",
     .summary = "List tasks by state, ordered by id",
     .opts = {{"state", 0, "STATE", 0, NULL, "pending, acquired, suspended, halted or fulfilled"},
              {OPT_LIMIT("100")},
              {OPT_CURSOR}},
     .build = build_search_common,
     .show = show_tasks},
};

static const cmd_t SCHEDULE_CMDS[] = {
    {.name = "get",
     .kind = "schedule.get",
     .summary = "Show a schedule",
     .pos = {{POS_ID("schedule id")}},
     .build = build_id,
     .show = show_schedule},
    {.name = "create",
     .kind = "schedule.create",
     .summary = "Create a schedule that creates a promise on every cron tick",
     .notes =
         "The promises need a resonate:target tag: give --target or put it in --promise-tags.\n"
         "--promise-param is encoded like promises create (data sent base64-encoded).",
     .pos = {{POS_ID("schedule id")}},
     .opts = {{"cron", 0, "EXPR", O_REQ, NULL, "cron expression (UTC), e.g. '*/5 * * * *'"},
              {"promise-id", 0, "TEMPLATE", O_REQ, NULL,
               "id of each promise; {{.timestamp}} is replaced by the tick time"},
              {"promise-timeout", 0, "DURATION", O_REQ, NULL, "timeout of each promise, e.g. 1h"},
              {"promise-param", 0, "JSON", 0, NULL, "parameter of each promise"},
              {"promise-tags", 0, "JSON", 0, NULL, "tags of each promise"},
              {"target", 0, "ADDR", 0, NULL, "sets the promise tag resonate:target"}},
     .build = build_schedule_create,
     .show = show_schedule},
    {.name = "delete",
     .kind = "schedule.delete",
     .summary = "Delete a schedule (promises it created stay)",
     .pos = {{POS_ID("schedule id")}},
     .build = build_id,
     .show = show_done,
     .extra = "schedule %s deleted"},
    {.name = "search",
     .kind = "schedule.search",
     .summary = "List schedules by promise tags, ordered by id",
     .opts = {{"tags", 0, "JSON", 0, NULL, "only schedules whose promise tags include these"},
              {OPT_LIMIT("10")},
              {OPT_CURSOR}},
     .build = build_search_tags,
     .show = show_schedules},
};

static const cmd_t INVOKE_CMD = {
    .name = "invoke",
    .kind = "promise.create",
    .summary = "Start a function on a worker: create a promise with a resonate:target",
    .notes =
        "The promise parameter is {\"func\": F, \"args\": [...], \"version\": N}, base64-encoded,\n"
        "as the SDKs send it; a worker of the target group picks it up.",
    .pos = {{POS_ID("promise id of the invocation")}},
    .opts = {{"func", 'f', "NAME", O_REQ, NULL, "function to run"},
             {"arg", 0, "VALUE", O_MULTI, NULL,
              "an argument (repeatable): JSON if it parses, else a string"},
             {"json-args", 0, "JSON", 0, NULL, "all arguments as a JSON array (wins over --arg)"},
             {"version", 0, "N", 0, "1", "function version (> 0)"},
             {"timeout", 't', "DURATION", 0, "1h", "time until the promise times out"},
             {"target", 0, "ADDR", 0, "poll://any@default", "where the task is sent"},
             {"delay", 0, "DURATION", 0, NULL, "do not dispatch before this delay"}},
    .build = build_invoke,
    .show = show_promise,
};

static const cmd_t TREE_CMD = {
    .name = "tree",
    .kind = "promise.search",
    .summary = "Show the call graph under a root promise",
    .notes = "Finds the promises tagged resonate:origin=ID and links them by resonate:parent.\n"
             "Searching needs a token with prefix \"\" or role admin when auth is on.",
    .pos = {{POS_ID("root promise id")}},
    .run = run_tree,
};

#define N(a) (sizeof(a) / sizeof *(a))

static const group_t GROUPS[] = {
    {"promises", "promise", "Get, create, settle and search promises", PROMISE_CMDS,
     N(PROMISE_CMDS), NULL},
    {"tasks", "task", "Get, create, claim, complete and search tasks", TASK_CMDS, N(TASK_CMDS),
     NULL},
    {"schedules", "schedule", "Get, create, delete and search schedules", SCHEDULE_CMDS,
     N(SCHEDULE_CMDS), NULL},
    {"invoke", NULL, "Invoke a function by creating a promise for a worker", NULL, 0, &INVOKE_CMD},
    {"tree", NULL, "Show the call graph of a root promise", NULL, 0, &TREE_CMD},
};

static const group_t *group_find(const char *name)
{
    for (size_t i = 0; i < N(GROUPS); i++)
        if (strcmp(GROUPS[i].name, name) == 0 ||
            (GROUPS[i].alias && strcmp(GROUPS[i].alias, name) == 0))
            return &GROUPS[i];
    return NULL;
}

bool client_is_command(const char *cmd)
{
    return group_find(cmd) != NULL;
}

void client_print_commands(FILE *f)
{
    for (size_t i = 0; i < N(GROUPS); i++)
        fprintf(f, "  %-10s%s\n", GROUPS[i].name, GROUPS[i].summary);
}

/* ------------------------------------------------------------------ */
/* help                                                                */

#define HELP_COL 26 /* width of the flag column in --help */

static void help_line(FILE *f, const char *flag, const char *text)
{
    fprintf(f, "  %-*s  ", HELP_COL, flag);
    for (const char *p = text; *p; p++) {
        fputc(*p, f);
        if (*p == '\n' && p[1])
            fprintf(f, "%*s", HELP_COL + 4, "");
    }
}

/* The options of every command (parse_args knows them by name). */
static const opt_t COMMON_OPTS[] = {
    {"server", 'S', "URL", 0, CLIENT_DEFAULT_URL, "server address (env RESONATE_URL)"},
    {"token", 'T', "JWT", 0, NULL, "token, when the server has auth on (env RESONATE_TOKEN)"},
    {"cacert", 0, "FILE", 0, NULL,
     "CA certificates (PEM) of a private CA, for https:// (env RESONATE_CACERT)"},
    {"json", 0, NULL, 0, NULL, "print the answer's data as JSON (for scripts)"},
    {"help", 'h', NULL, 0, NULL, "print this help"},
};

static void print_common_opts(FILE *f)
{
    for (size_t i = 0; i < N(COMMON_OPTS); i++) {
        const opt_t *o = &COMMON_OPTS[i];
        char n[64], text[160];
        snprintf(n, sizeof n, "%c%c%s--%s%s%s%s", o->shrt ? '-' : ' ', o->shrt ? o->shrt : ' ',
                 o->shrt ? ", " : "  ", o->name, o->meta ? " <" : "", o->meta ? o->meta : "",
                 o->meta ? ">" : "");
        snprintf(text, sizeof text, "%s%s%s%s\n", o->help, o->def ? " [default: " : "",
                 o->def ? o->def : "", o->def ? "]" : "");
        help_line(f, n, text);
    }
}

static void cmd_path(const args_t *a, char *buf, size_t len)
{
    if (a->cmd && a->group->cmds)
        snprintf(buf, len, "resonate %s %s", a->group->name, a->cmd->name);
    else
        snprintf(buf, len, "resonate %s", a->group->name);
}

static void print_cmd_help(FILE *f, const args_t *a)
{
    const cmd_t *c = a->cmd;
    char path[64];
    cmd_path(a, path, sizeof path);
    fprintf(f, "%s\n\nUsage: %s", c->summary, path);
    for (int i = 0; i < MAX_POS && c->pos[i].name; i++)
        fprintf(f, " <%s>", c->pos[i].name);
    for (int i = 0; i < MAX_OPTS && c->opts[i].name; i++)
        if (c->opts[i].flags & O_REQ)
            fprintf(f, " --%s <%s>", c->opts[i].name, c->opts[i].meta);
    fprintf(f, " [OPTIONS]\n");
    if (c->kind && !c->run)
        fprintf(f, "\nSends %s.\n", c->kind);
    if (c->pos[0].name) {
        fprintf(f, "\nArguments:\n");
        for (int i = 0; i < MAX_POS && c->pos[i].name; i++) {
            char n[40];
            snprintf(n, sizeof n, "<%s>", c->pos[i].name);
            fprintf(f, "  %-*s  %s\n", HELP_COL, n, c->pos[i].help);
        }
    }
    fprintf(f, "\nOptions:\n");
    for (int i = 0; i < MAX_OPTS && c->opts[i].name; i++) {
        const opt_t *o = &c->opts[i];
        char n[64];
        if (o->shrt)
            snprintf(n, sizeof n, "-%c, --%s <%s>", o->shrt, o->name, o->meta);
        else
            snprintf(n, sizeof n, "    --%s <%s>", o->name, o->meta);
        help_line(f, n, o->help);
        if (o->flags & O_REQ)
            fprintf(f, " (required)");
        if (o->def)
            fprintf(f, " [default: %s]", o->def);
        fputc('\n', f);
    }
    print_common_opts(f);
    if (c->notes)
        fprintf(f, "\n%s\n", c->notes);
}

static void print_group_help(FILE *f, const group_t *g)
{
    fprintf(f, "%s\n\nUsage: resonate %s <COMMAND> [OPTIONS]\n\nCommands:\n", g->summary, g->name);
    for (size_t i = 0; i < g->ncmds; i++)
        fprintf(f, "  %-*s  %s\n", HELP_COL, g->cmds[i].name, g->cmds[i].summary);
    fprintf(f, "\nOptions (accepted before or after the command):\n");
    print_common_opts(f);
    fprintf(f, "\nRun 'resonate %s <COMMAND> --help' for the options of a command.\n", g->name);
}

/* ------------------------------------------------------------------ */
/* the tables, for cli/doc.c                                           */

_Static_assert(CLIENT_DOC_MAX_OPTS == MAX_OPTS && CLIENT_DOC_MAX_POS == MAX_POS,
               "client.h's documentation limits follow the tables");

static void opt_doc(const opt_t *o, client_opt_doc_t *out)
{
    *out = (client_opt_doc_t){.name = o->name,
                              .shrt = o->shrt,
                              .meta = o->meta,
                              .help = o->help,
                              .def = o->def,
                              .required = (o->flags & O_REQ) != 0,
                              .repeatable = (o->flags & O_MULTI) != 0};
}

size_t client_doc_groups(void)
{
    return N(GROUPS);
}

size_t client_doc_commands(size_t g)
{
    return GROUPS[g].cmds ? GROUPS[g].ncmds : 1;
}

void client_doc_command(size_t g, size_t c, client_cmd_doc_t *out)
{
    const group_t *gr = &GROUPS[g];
    const cmd_t *cmd = gr->cmds ? &gr->cmds[c] : gr->self;
    *out = (client_cmd_doc_t){.group = gr->name,
                              .alias = gr->alias,
                              .group_summary = gr->summary,
                              .name = gr->cmds ? cmd->name : NULL,
                              .summary = cmd->summary,
                              .kind = cmd->run ? NULL : cmd->kind,
                              .notes = cmd->notes};
    for (int i = 0; i < MAX_POS && cmd->pos[i].name; i++) {
        out->pos[i] = cmd->pos[i].name;
        out->pos_help[i] = cmd->pos[i].help;
    }
    for (int i = 0; i < MAX_OPTS && cmd->opts[i].name; i++)
        opt_doc(&cmd->opts[i], &out->opts[out->nopts++]);
}

bool client_doc_common_opt(size_t i, client_opt_doc_t *out)
{
    if (i >= N(COMMON_OPTS))
        return false;
    opt_doc(&COMMON_OPTS[i], out);
    return true;
}

/* ------------------------------------------------------------------ */
/* argument parsing                                                    */

/* Matches tok against the options of cmd (NULL: none). Sets *takes to the
 * option index, or -1 when it is not one of them. */
static int match_cmd_opt(const cmd_t *c, const char *name, char shrt)
{
    if (!c)
        return -1;
    for (int i = 0; i < MAX_OPTS && c->opts[i].name; i++)
        if ((name && strcmp(c->opts[i].name, name) == 0) || (shrt && c->opts[i].shrt == shrt))
            return i;
    return -1;
}

/* Parses argv (argv[0] is the group). Returns 0, or -1 with err set. */
static int parse_args(args_t *a, int argc, char **argv, char *err, size_t errlen)
{
    a->group = group_find(argv[0]);
    a->cmd = a->group->self;
    bool positional_only = false;
    for (int i = 1; i < argc; i++) {
        const char *tok = argv[i];
        if (!positional_only && strcmp(tok, "--") == 0) {
            positional_only = true;
            continue;
        }
        bool is_long = !positional_only && strncmp(tok, "--", 2) == 0;
        bool is_short = !positional_only && !is_long && tok[0] == '-' && tok[1] && !tok[2];
        if (!is_long && !is_short) {
            if (!a->cmd) {
                const char *name = tok;
                if (strcmp(name, "help") == 0) {
                    a->help = true;
                    if (i + 1 < argc)
                        name = argv[++i];
                    else
                        return 0;
                }
                for (size_t k = 0; k < a->group->ncmds; k++)
                    if (strcmp(a->group->cmds[k].name, name) == 0)
                        a->cmd = &a->group->cmds[k];
                if (!a->cmd) {
                    set_err(err, errlen, "unknown command '%s' for 'resonate %s'", name,
                            a->group->name);
                    return -1;
                }
                continue;
            }
            if (a->npos >= MAX_POS || !a->cmd->pos[a->npos].name) {
                set_err(err, errlen, "unexpected argument '%s'", tok);
                return -1;
            }
            a->pos[a->npos++] = tok;
            continue;
        }
        /* an option: --name, --name=value or -x */
        char name[64] = "";
        char shrt = 0;
        const char *inline_val = NULL;
        if (is_long) {
            const char *eq = strchr(tok + 2, '=');
            size_t l = eq ? (size_t)(eq - tok - 2) : strlen(tok + 2);
            if (l >= sizeof name)
                l = sizeof name - 1;
            memcpy(name, tok + 2, l);
            name[l] = '\0';
            inline_val = eq ? eq + 1 : NULL;
        } else {
            shrt = tok[1];
        }
        if ((is_long && strcmp(name, "help") == 0) || shrt == 'h') {
            a->help = true;
            continue;
        }
        if (is_long && strcmp(name, "json") == 0) {
            a->json = true;
            continue;
        }
        const char **global = NULL;
        int idx = -1;
        if ((is_long && strcmp(name, "server") == 0) || shrt == 'S')
            global = &a->server;
        else if ((is_long && strcmp(name, "token") == 0) || shrt == 'T')
            global = &a->token;
        else if (is_long && strcmp(name, "cacert") == 0)
            global = &a->cacert;
        else
            idx = match_cmd_opt(a->cmd, is_long ? name : NULL, shrt);
        if (!global && idx < 0) {
            if (!a->cmd)
                set_err(err, errlen, "unknown option '%s' (options of a command go after its name)",
                        tok);
            else
                set_err(err, errlen, "unknown option '%s'", tok);
            return -1;
        }
        const char *val = inline_val;
        if (!val) {
            /* "-S", "--pid": the value was forgotten; "-1" is a value */
            const char *next = i + 1 < argc ? argv[i + 1] : NULL;
            if (!next || (next[0] == '-' && next[1] && (next[1] < '0' || next[1] > '9'))) {
                set_err(err, errlen, "%s needs a value", tok);
                return -1;
            }
            val = argv[++i];
        }
        if (global) {
            if (*global) {
                set_err(err, errlen, "%s given twice", tok);
                return -1;
            }
            *global = val;
        } else if (a->cmd->opts[idx].flags & O_MULTI) {
            a->multi[a->nmulti++] = val;
        } else {
            if (a->val[idx]) {
                set_err(err, errlen, "--%s given twice", a->cmd->opts[idx].name);
                return -1;
            }
            a->val[idx] = val;
        }
    }
    if (a->help)
        return 0;
    if (!a->cmd) {
        set_err(err, errlen, "missing command: one of");
        for (size_t k = 0; k < a->group->ncmds; k++) {
            size_t l = strlen(err);
            snprintf(err + l, errlen - l, "%s %s", k ? "," : "", a->group->cmds[k].name);
        }
        return -1;
    }
    for (size_t k = a->npos; k < MAX_POS && a->cmd->pos[k].name; k++) {
        set_err(err, errlen, "missing argument <%s>", a->cmd->pos[k].name);
        return -1;
    }
    for (int k = 0; k < MAX_OPTS && a->cmd->opts[k].name; k++)
        if ((a->cmd->opts[k].flags & O_REQ) && !a->val[k]) {
            set_err(err, errlen, "missing required option --%s <%s>", a->cmd->opts[k].name,
                    a->cmd->opts[k].meta);
            return -1;
        }
    return 0;
}

/* ------------------------------------------------------------------ */

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int client_main(int argc, char **argv)
{
    args_t a = {.now = now_ms()};
    char err[1024];
    char *url = NULL;
    json_t *data = NULL, *reply = NULL;
    int rc = 2;

    if (!group_find(argv[0])) {
        fprintf(stderr, "error: unknown command '%s'\n", argv[0]);
        return 2;
    }
    a.multi = calloc((size_t)argc + 1, sizeof *a.multi);
    if (!a.multi) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    if (parse_args(&a, argc, argv, err, sizeof err) != 0) {
        char path[64];
        cmd_path(&a, path, sizeof path);
        fprintf(stderr, "error: %s\n\nRun '%s --help' for usage.\n", err, path);
        goto cleanup;
    }
    if (a.help) {
        if (a.cmd)
            print_cmd_help(stdout, &a);
        else
            print_group_help(stdout, a.group);
        rc = 0;
        goto cleanup;
    }

    conn_t c = {.server = a.server                      ? a.server
                          : env_or_null("RESONATE_URL") ? env_or_null("RESONATE_URL")
                                                        : CLIENT_DEFAULT_URL,
                .token = a.token ? a.token : env_or_null("RESONATE_TOKEN"),
                .cacert = a.cacert ? a.cacert : env_or_null("RESONATE_CACERT")};
    if (c.token && !*c.token)
        c.token = NULL;
    for (const char *p = c.token; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            /* it would end up in an HTTP header line */
            fprintf(stderr, "error: the token contains a control character (a stray newline?)\n");
            goto cleanup;
        }
    size_t l = strlen(c.server);
    while (l > 0 && c.server[l - 1] == '/')
        l--;
    url = malloc(l + 2);
    if (!url) {
        rc = 1;
        goto cleanup;
    }
    memcpy(url, c.server, l);
    memcpy(url + l, "/", 2);
    c.url = url;

    if (a.cmd->run) {
        rc = a.cmd->run(&a, &c);
        goto cleanup;
    }
    data = a.cmd->build(&a, err, sizeof err);
    if (!data) {
        char path[64];
        cmd_path(&a, path, sizeof path);
        fprintf(stderr, "error: %s\n\nRun '%s --help' for usage.\n", err, path);
        goto cleanup;
    }
    int status = 0;
    rc = 1;
    if (client_post(&c, a.cmd->kind, data, &status, &reply, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        goto cleanup;
    }
    if ((status >= 200 && status <= 299) || (status == 300 && a.cmd->accepts_300)) {
        a.now = now_ms(); /* relative times are shown from the moment of the answer */
        if (a.json)
            print_json(reply);
        else {
            /* Stored strings are other clients' (a tenant's): shown without
             * the terminal controls they may hold (ESC, CSI, OSC 52). */
            json_t *safe = client_term_safe(reply);
            a.cmd->show(stdout, &a, status, safe ? safe : json_null());
            json_decref(safe);
        }
        rc = 0;
    } else {
        report_failure(&c, status, reply);
    }
cleanup:
    json_decref(data);
    json_decref(reply);
    free(url);
    free(a.multi);
    return rc;
}
