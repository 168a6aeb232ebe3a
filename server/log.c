/* log.c - see log.h. */
#include "server/log.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/wire.h"

/* Written once by log_init before threads start, read-only afterwards. */
static log_level_t min_level = LOG_INFO;
static bool as_json;

static const char *const names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return LOG_WARN;
    if (strcasecmp(s, "trace") == 0)
        return LOG_DEBUG;
    return -1;
}

void log_init(log_level_t level, bool json)
{
    min_level = level;
    as_json = json;
}

bool log_enabled(log_level_t level)
{
    return level >= min_level;
}

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

/* True when tok (len n) is key=value with a plain key. */
static bool is_field(const char *tok, size_t n)
{
    if (!n || !is_alpha(tok[0]))
        return false;
    size_t i = 0;
    while (i < n && tok[i] != '=') {
        if (!is_alpha(tok[i]) && tok[i] != '.' && !(tok[i] >= '0' && tok[i] <= '9'))
            return false;
        i++;
    }
    return i < n;
}

/* Where the trailing key=value fields of the format start (strlen(fmt) if
 * none). A format made only of fields keeps them as its text. */
static size_t fields_start(const char *fmt)
{
    size_t n = strlen(fmt), start = n;
    size_t end = n;
    while (end > 0) {
        size_t b = end;
        while (b > 0 && fmt[b - 1] != ' ')
            b--;
        if (!is_field(fmt + b, end - b))
            break;
        start = b;
        if (b == 0)
            return n;
        end = b - 1;
        while (end > 0 && fmt[end - 1] == ' ')
            end--;
    }
    return start;
}

/* A bounded text buffer: what does not fit is dropped, and cut says so. */
typedef struct {
    char *p;
    size_t n, cap;
    bool cut;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (n > b->cap - b->n) {
        n = b->cap - b->n;
        b->cut = true;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_putc(sbuf_t *b, char ch)
{
    sb_put(b, &ch, 1);
}

/* The integer argument of a conversion with length modifier longs (1 l,
 * 2 ll, 'z', 'j', 't'; h and hh arrive promoted), widened; a signed one
 * sign-extended, to be printed as intmax_t. */
static uintmax_t int_arg(va_list *ap, int longs, bool sign)
{
    switch (longs) {
    case 2:
        return sign ? (uintmax_t)va_arg(*ap, long long) : va_arg(*ap, unsigned long long);
    case 1:
        return sign ? (uintmax_t)va_arg(*ap, long) : va_arg(*ap, unsigned long);
    case 'z':
        return sign ? (uintmax_t)va_arg(*ap, ssize_t) : va_arg(*ap, size_t);
    case 'j':
        return va_arg(*ap, uintmax_t);
    case 't':
        return (uintmax_t)va_arg(*ap, ptrdiff_t);
    default:
        return sign ? (uintmax_t)va_arg(*ap, int) : va_arg(*ap, unsigned);
    }
}

/* Formats the conversion at f ('%'), taking its arguments from ap, into out.
 * Handles what printf(3) does except %n. Returns the end of the spec. */
static const char *convert(const char *f, const char *end, va_list *ap, sbuf_t *out)
{
    const char *p = f + 1;
    char spec[64];
    size_t sl = 0;
    spec[sl++] = '%';
    /* Flags, width and precision are copied with any '*' replaced by its
     * argument, so one snprintf call formats the value. */
    while (p < end && strchr("-+ #0'", *p) && sl < 8)
        spec[sl++] = *p++;
    if (p < end && *p == '*') {
        sl += (size_t)snprintf(spec + sl, 16, "%d", va_arg(*ap, int));
        p++;
    } else {
        while (p < end && *p >= '0' && *p <= '9' && sl < 24)
            spec[sl++] = *p++;
    }
    int prec = -1;
    if (p < end && *p == '.') {
        p++;
        if (p < end && *p == '*') {
            prec = va_arg(*ap, int);
            p++;
        } else {
            for (prec = 0; p < end && *p >= '0' && *p <= '9'; p++)
                if (prec < 100000)
                    prec = prec * 10 + (*p - '0');
        }
        if (prec >= 0)
            sl += (size_t)snprintf(spec + sl, 16, ".%d", prec);
    }
    int longs = 0; /* 1 l, 2 ll, or 'z', 'j', 't', 'L'; h and hh promote to int */
    while (p < end && strchr("hlLzjt", *p)) {
        longs = *p == 'l' ? (longs == 1 ? 2 : 1) : *p == 'h' ? longs : *p;
        p++;
    }
    if (longs == 'L')
        spec[sl++] = 'L';
    if (p >= end)
        return end;
    char conv = *p++;
    spec[sl++] = conv;
    spec[sl] = '\0';
    char tmp[512];
    int w = 0;
    switch (conv) {
    case 'd':
    case 'i':
        spec[sl - 1] = 'j';
        spec[sl++] = conv;
        spec[sl] = '\0';
        w = snprintf(tmp, sizeof tmp, spec, (intmax_t)int_arg(ap, longs, true));
        break;
    case 'u':
    case 'x':
    case 'X':
    case 'o':
        spec[sl - 1] = 'j';
        spec[sl++] = conv;
        spec[sl] = '\0';
        w = snprintf(tmp, sizeof tmp, spec, int_arg(ap, longs, false));
        break;
    case 'c':
        w = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, int));
        break;
    case 'p':
        w = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, void *));
        break;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
        if (longs == 'L')
            w = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, long double));
        else
            w = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, double));
        break;
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (!s)
            s = "(null)";
        /* Strings can be long: no bounce through tmp. */
        size_t len = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
        if (sl == 2 || spec[1] == '.') {
            sb_put(out, s, len);
            return p;
        }
        w = snprintf(tmp, sizeof tmp, spec, s);
        break;
    }
    case '%':
        w = 1;
        tmp[0] = '%';
        break;
    default: /* %n or an unknown conversion: written as is, no argument */
        sb_put(out, f, (size_t)(p - f));
        return p;
    }
    if (w > 0)
        sb_put(out, tmp, (size_t)w < sizeof tmp ? (size_t)w : sizeof tmp - 1);
    return p;
}

/* True when s[i] starts a C1 control (wire_control_len), which a terminal
 * may act on as it does on ESC. */
static bool is_c1(const char *s, size_t n, size_t i)
{
    return wire_control_len(s, n, i) == 2;
}

/* True when s (len n) must be quoted: in a field value anything that could
 * end the value or fake another field; in the message text only '=' and
 * '"' (spaces are the message's own). */
static bool needs_quotes(const char *s, size_t n, bool field)
{
    if (field && n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '=' || ch == '"')
            return true;
        if (field && (ch <= ' ' || ch == 0x7F || ch == '\\' || is_c1(s, n, i)))
            return true;
    }
    return false;
}

/* Appends s (len n) to out, escaping control characters; inside quotes
 * also '"' and '\'. */
static void put_escaped(sbuf_t *out, const char *s, size_t n, bool quoted)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n') {
            sb_put(out, "\\n", 2);
        } else if (ch < 0x20 || ch == 0x7F) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            sb_put(out, esc, 4);
        } else if (is_c1(s, n, i)) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)s[++i]);
            sb_put(out, esc, 6);
        } else if (quoted && (ch == '"' || ch == '\\')) {
            sb_putc(out, '\\');
            sb_putc(out, (char)ch);
        } else {
            sb_putc(out, (char)ch);
        }
    }
}

/* Ends the text written to out from start on, which was cut short: back
 * to the end of its last whole character or escape that leaves room for
 * "...\"", then "..." and the closing quote of a quoted argument it was
 * cut in, so that the fields after it still read as fields. */
static void seal_cut(sbuf_t *out, size_t start)
{
    size_t limit = out->cap >= start + 4 ? out->cap - 4 : start;
    size_t end = start;
    bool quoted = false;
    for (size_t i = start; i < out->n;) {
        size_t len = 1;
        if (out->p[i] == '\\' && i + 1 < out->n)
            len = out->p[i + 1] == 'x' ? 4 : out->p[i + 1] == 'u' ? 6 : 2;
        if (i + len > limit)
            break;
        if (out->p[i] == '"')
            quoted = !quoted;
        i += len;
        end = i;
    }
    while (end > start && end < out->n && ((unsigned char)out->p[end] & 0xC0) == 0x80)
        end--;
    out->n = end;
    sb_put(out, quoted ? "...\"" : "...", quoted ? 4 : 3);
}

static void put_quoted(sbuf_t *out, const char *s, size_t n)
{
    sb_putc(out, '"');
    put_escaped(out, s, n, true);
    sb_putc(out, '"');
}

/* Expands fmt[0..len) with arguments from ap into out. With quote, an
 * argument that needs_quotes() in message text is written quoted. */
static void expand(const char *fmt, size_t len, va_list *ap, sbuf_t *out, bool quote)
{
    const char *end = fmt + len;
    for (const char *p = fmt; p < end;) {
        if (*p != '%') {
            const char *q = memchr(p, '%', (size_t)(end - p));
            size_t n = q ? (size_t)(q - p) : (size_t)(end - p);
            sb_put(out, p, n);
            p += n;
            continue;
        }
        if (!quote) {
            p = convert(p, end, ap, out);
            continue;
        }
        char tmp[2048];
        sbuf_t arg = {.p = tmp, .cap = sizeof tmp};
        p = convert(p, end, ap, &arg);
        if (needs_quotes(tmp, arg.n, false)) {
            put_quoted(out, tmp, arg.n);
        } else {
            sb_put(out, tmp, arg.n);
        }
    }
}

#define MAX_FIELDS 32

/* Bytes of one field value at most; a longer one (a client's corrId of
 * kilobytes) is cut at a character boundary and ends in "...". Escaped, a
 * value then takes at most 6 times this (\u001b per byte in JSON), so the
 * few fields of a line always fit whatever the client sent. */
#define LOG_VALUE_MAX 256

/* Cuts the value that ends the buffer at off back to LOG_VALUE_MAX bytes,
 * "..." included, never inside a UTF-8 sequence. */
static void cut_value(sbuf_t *vals, size_t off)
{
    if (vals->n - off <= LOG_VALUE_MAX)
        return;
    size_t n = off + LOG_VALUE_MAX - 3;
    while (n > off && ((unsigned char)vals->p[n] & 0xC0) == 0x80)
        n--;
    vals->n = n;
    sb_put(vals, "...", 3);
}

typedef struct {
    const char *key; /* into the format */
    size_t klen;
    size_t off, len; /* value, in the values buffer */
} field_t;

/* A JSON string of s (len n); invalid UTF-8 bytes become '?'. */
static json_t *json_text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *copy = malloc(n + 1);
    if (!copy)
        return json_string("");
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    j = json_stringn(copy, n);
    free(copy);
    return j ? j : json_string("");
}

static size_t vformat_line(char *buf, size_t buflen, bool json, const char *ts, log_level_t level,
                           const char *fmt, va_list ap0)
{
    if (buflen < 2)
        return 0;
    va_list ap;
    va_copy(ap, ap0);
    size_t fs = fields_start(fmt), ml = fs;
    while (ml > 0 && fmt[ml - 1] == ' ')
        ml--;
    char mbuf[2048], vbuf[4096];
    sbuf_t msg = {.p = mbuf, .cap = sizeof mbuf}, vals = {.p = vbuf, .cap = sizeof vbuf};
    expand(fmt, ml, &ap, &msg, !json);
    field_t fields[MAX_FIELDS];
    size_t nf = 0;
    for (const char *p = fmt + fs; *p;) {
        const char *sp = strchr(p, ' ');
        size_t tl = sp ? (size_t)(sp - p) : strlen(p);
        const char *eq = memchr(p, '=', tl);
        size_t off = vals.n;
        expand(eq + 1, tl - (size_t)(eq + 1 - p), &ap, &vals, false);
        cut_value(&vals, off);
        if (nf < MAX_FIELDS)
            fields[nf++] = (field_t){p, (size_t)(eq - p), off, vals.n - off};
        p += tl;
        while (*p == ' ')
            p++;
    }
    va_end(ap);

    size_t n = 0;
    /* JSON: the whole line, else the fields with the message replaced,
     * else the bare replacement; a cut object is never written. */
    for (int pass = 0; json && n == 0 && pass < 2; pass++) {
        json_t *o = json_object();
        json_object_set_new(o, "ts", json_string(ts));
        json_object_set_new(o, "level", json_string(names[level]));
        json_object_set_new(o, "msg",
                            pass == 0 ? json_text(mbuf, msg.n) : json_string("(message too long)"));
        for (size_t i = 0; i < nf; i++) {
            char key[64];
            if (fields[i].klen >= sizeof key)
                continue;
            memcpy(key, fields[i].key, fields[i].klen);
            key[fields[i].klen] = '\0';
            /* the fixed members win over a field of the same name */
            if (!json_object_get(o, key))
                json_object_set_new(o, key, json_text(vbuf + fields[i].off, fields[i].len));
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (s) {
            /* jansson writes DEL and C1 controls as they are: JSON escapes
             * here, the same string for a reader, inert in a terminal. */
            size_t sn = strlen(s);
            for (size_t i = 0; i < sn && n != SIZE_MAX; i++) {
                bool c1 = is_c1(s, sn, i);
                if (n + 9 > buflen)
                    n = SIZE_MAX; /* never emit a cut JSON object */
                else if (c1 || s[i] == 0x7F)
                    n += (size_t)snprintf(buf + n, 7, "\\u%04x",
                                          (unsigned char)(c1 ? s[++i] : s[i]));
                else
                    buf[n++] = s[i];
            }
            if (n == SIZE_MAX)
                n = 0;
            free(s);
        }
    }
    if (json && n == 0) {
        int w = snprintf(buf, buflen - 1,
                         "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(message too long)\"}", ts,
                         names[level]);
        n = w > 0 && (size_t)w < buflen - 1 ? (size_t)w : 0;
    } else if (!json) {
        /* The fields first, at the end of buf, so that a long message is
         * what gets cut, never a field after it. */
        size_t cap = buflen - 2;
        sbuf_t tail = {.p = buf, .cap = cap};
        for (size_t i = 0; i < nf; i++) {
            sb_putc(&tail, ' ');
            sb_put(&tail, fields[i].key, fields[i].klen + 1);
            const char *v = vbuf + fields[i].off;
            if (needs_quotes(v, fields[i].len, true))
                put_quoted(&tail, v, fields[i].len);
            else
                sb_put(&tail, v, fields[i].len);
        }
        size_t fl = tail.n;
        memmove(buf + cap - fl, buf, fl);
        sbuf_t out = {.p = buf, .cap = cap - fl};
        char head[96];
        int w = snprintf(head, sizeof head, "%.64s %-5s ", ts, names[level]);
        sb_put(&out, head, w > 0 && (size_t)w < sizeof head ? (size_t)w : 0);
        size_t start = out.n;
        put_escaped(&out, mbuf, msg.n, false);
        if (msg.cut || out.cut)
            seal_cut(&out, start);
        memmove(buf + out.n, buf + cap - fl, fl);
        n = out.n + fl;
    }
    buf[n++] = '\n';
    buf[n] = '\0';
    return n;
}

size_t log_format_line(char *buf, size_t buflen, bool json, const char *ts, log_level_t level,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = vformat_line(buf, buflen, json, ts, level, fmt, ap);
    va_end(ap);
    return n;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)tv.tv_usec);

    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    size_t n = vformat_line(line, sizeof line, as_json, ts, level, fmt, ap);
    va_end(ap);
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
