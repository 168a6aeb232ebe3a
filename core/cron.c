/* cron.c - parsing and evaluation of schedule cron expressions (see cron.h).
 *
 * Evaluation works on a broken-down UTC time and jumps field by field
 * (month, day, hour, minute, second) to the next allowed value instead of
 * scanning seconds, so even rare expressions such as Feb 29 resolve in a few
 * hundred steps. Calendar arithmetic is done here (days-from-civil) so the
 * result never depends on TZ or on the libc's time_t range. */
#include "core/cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

typedef struct {
    const char *name;
    int lo, hi;
    const char *const *names; /* three-letter aliases for lo.., or NULL */
} field_info_t;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field_info_t fields[F_COUNT] = {
    {"second", 0, 59, NULL},       {"minute", 0, 59, NULL},       {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL}, {"month", 1, 12, month_names}, {"day-of-week", 0, 7, dow_names},
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

/* Reads a number or a name at *p (bounded by end). Returns 0, -1 on bad
 * syntax, or -2 for a number too long to be in any field's range (checked
 * before it can overflow). */
static int parse_value(const field_info_t *f, const char **p, const char *end, int *out)
{
    const char *s = *p;
    if (s < end && *s >= '0' && *s <= '9') {
        int v = 0, n = 0;
        while (s < end && *s >= '0' && *s <= '9') {
            if (++n > 3)
                return -2;
            v = v * 10 + (*s++ - '0');
        }
        *p = s;
        *out = v;
        return 0;
    }
    if (f->names && end - s >= 3) {
        for (int i = 0; f->names[i]; i++) {
            const char *nm = f->names[i];
            if (lower(s[0]) == nm[0] && lower(s[1]) == nm[1] && lower(s[2]) == nm[2]) {
                /* reject longer words such as "monday" or "mond" */
                if (s + 3 < end && ((lower(s[3]) >= 'a' && lower(s[3]) <= 'z')))
                    return -1;
                *p = s + 3;
                *out = f->lo + i;
                return 0;
            }
        }
    }
    return -1;
}

/* Parses one comma-separated field [s, end) into a bit mask over lo..hi.
 * *star is set when the field begins with `*` (or `?`), which is what Vixie
 * cron looks at to choose between the AND and OR day rules. */
static int parse_field(int kind, const char *s, const char *end, uint64_t *mask, bool *star,
                       char *err, size_t errlen)
{
    const field_info_t *f = &fields[kind];
    bool wild_ok = kind == F_DOM || kind == F_DOW;
    char text[64];
    size_t len = (size_t)(end - s);
    snprintf(text, sizeof text, "%.*s", (int)(len < 40 ? len : 40), s);

    *mask = 0;
    *star = (*s == '*') || (wild_ok && *s == '?');
    const char *p = s;
    int rc = 0;
    for (;;) {
        int a, b, step = 1;
        bool open = false; /* `N/S`: N..hi */
        if (p < end && (*p == '*' || *p == '?')) {
            if (*p == '?' && !wild_ok) {
                set_err(err, errlen, "%s field \"%s\": '?' is only allowed in day fields", f->name,
                        text);
                return -1;
            }
            p++;
            a = f->lo;
            b = f->hi;
        } else {
            if ((rc = parse_value(f, &p, end, &a)) < 0)
                goto bad_value;
            b = a;
            if (p < end && *p == '-') {
                p++;
                if ((rc = parse_value(f, &p, end, &b)) < 0)
                    goto bad_value;
            } else {
                open = true;
            }
            if (a < f->lo || a > f->hi || b < f->lo || b > f->hi)
                goto out_of_range;
            if (a > b) {
                set_err(err, errlen, "%s field \"%s\": range start is after its end", f->name,
                        text);
                return -1;
            }
        }
        if (p < end && *p == '/') {
            p++;
            if (p >= end || *p < '0' || *p > '9')
                goto bad;
            rc = parse_value(f, &p, end, &step);
            if (rc == -1)
                goto bad;
            if (rc == -2 || step < 1 || step > f->hi - f->lo + 1) {
                set_err(err, errlen, "%s field \"%s\": step out of range", f->name, text);
                return -1;
            }
            if (open)
                b = f->hi;
        }
        for (int v = a; v <= b; v += step)
            *mask |= (uint64_t)1 << v;
        if (p == end)
            break;
        if (*p != ',')
            goto bad;
        p++;
    }
    if (kind == F_DOW && (*mask & (1u << 7)))
        *mask = (*mask & ~(uint64_t)(1u << 7)) | 1u;
    return 0;
bad_value:
    if (rc == -2)
        goto out_of_range;
bad:
    set_err(err, errlen, "%s field \"%s\": invalid syntax", f->name, text);
    return -1;
out_of_range:
    set_err(err, errlen, "%s field \"%s\": value out of range", f->name, text);
    return -1;
}

static const struct {
    const char *name;
    const char *expr;
} shorthands[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int cron_parse(const char *expr, cron_t *out, char *err, size_t errlen)
{
    const char *start[F_COUNT], *stop[F_COUNT];
    int n = 0;
    uint64_t mask[F_COUNT];
    bool star[F_COUNT];

    if (!expr) {
        set_err(err, errlen, "empty expression");
        return -1;
    }
    const char *p = expr;
    while (is_space(*p))
        p++;
    if (*p == '@') {
        size_t len = 0;
        while (p[len] && !is_space(p[len]))
            len++;
        const char *rest = p + len;
        while (is_space(*rest))
            rest++;
        for (size_t i = 0; i < sizeof shorthands / sizeof shorthands[0]; i++) {
            if (strlen(shorthands[i].name) != len || strncasecmp(p, shorthands[i].name, len))
                continue;
            if (*rest) {
                set_err(err, errlen, "unexpected text after %s", shorthands[i].name);
                return -1;
            }
            return cron_parse(shorthands[i].expr, out, err, errlen);
        }
        set_err(err, errlen, "unknown shorthand \"%.*s\"", (int)(len < 40 ? len : 40), p);
        return -1;
    }
    while (*p) {
        if (n == F_COUNT) {
            set_err(err, errlen, "too many fields (expected 5 or 6)");
            return -1;
        }
        start[n] = p;
        while (*p && !is_space(*p))
            p++;
        stop[n++] = p;
        while (is_space(*p))
            p++;
    }
    if (n == 0) {
        set_err(err, errlen, "empty expression");
        return -1;
    }
    if (n != 5 && n != 6) {
        set_err(err, errlen, "wrong number of fields (expected 5 or 6)");
        return -1;
    }
    int first = n == 5 ? F_MIN : F_SEC;
    mask[F_SEC] = 1; /* five-field expressions fire at second 0 */
    star[F_SEC] = false;
    for (int i = 0; i < n; i++)
        if (parse_field(first + i, start[i], stop[i], &mask[first + i], &star[first + i], err,
                        errlen) < 0)
            return -1;

    out->sec = mask[F_SEC];
    out->min = mask[F_MIN];
    out->hour = (uint32_t)mask[F_HOUR];
    out->dom = (uint32_t)mask[F_DOM];
    out->month = (uint16_t)mask[F_MONTH];
    out->dow = (uint8_t)mask[F_DOW];
    out->dom_star = star[F_DOM];
    out->dow_star = star[F_DOW];
    return 0;
}

/* ---- calendar ---------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : len[m - 1];
}

/* Lowest set bit >= from in mask, or -1. */
static int next_bit(uint64_t mask, int from, int hi)
{
    for (int i = from; i <= hi; i++)
        if (mask & ((uint64_t)1 << i))
            return i;
    return -1;
}

static bool day_matches(const cron_t *c, int64_t days, int d)
{
    bool dom = c->dom & ((uint32_t)1 << d);
    int64_t k = days + 4; /* 1970-01-01 was a Thursday */
    int wd = (int)(k - floor_div(k, 7) * 7);
    bool dow = c->dow & (1u << wd);
    /* Vixie cron: a field starting with `*` makes the rule AND, else OR */
    return (c->dom_star || c->dow_star) ? (dom && dow) : (dom || dow);
}

int64_t cron_next(const cron_t *c, int64_t t_ms)
{
    int64_t s = floor_div(t_ms, 1000) + 1;
    int64_t days = floor_div(s, 86400);
    int64_t sod = s - days * 86400;
    int64_t y;
    int mo, d;
    civil_from_days(days, &y, &mo, &d);
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), se = (int)(sod % 60);
    /* the calendar repeats every 400 years, so one full cycle is enough */
    int64_t y_end = y + 401;

    while (y < y_end) {
        int v = next_bit(c->month, mo, 12);
        if (v < 0) {
            y++, mo = 1, d = 1, h = mi = se = 0;
            continue;
        }
        if (v != mo)
            mo = v, d = 1, h = mi = se = 0;
        if (d > days_in_month(y, mo)) {
            mo++, d = 1, h = mi = se = 0;
            if (mo > 12)
                y++, mo = 1;
            continue;
        }
        days = days_from_civil(y, mo, d);
        if (!day_matches(c, days, d)) {
            d++, h = mi = se = 0;
            continue;
        }
        v = next_bit(c->hour, h, 23);
        if (v < 0) {
            d++, h = mi = se = 0;
            continue;
        }
        if (v != h)
            h = v, mi = se = 0;
        v = next_bit(c->min, mi, 59);
        if (v < 0) {
            h++, mi = se = 0;
            if (h > 23)
                d++, h = 0;
            continue;
        }
        if (v != mi)
            mi = v, se = 0;
        v = next_bit(c->sec, se, 59);
        if (v < 0) {
            mi++, se = 0;
            if (mi > 59)
                h++, mi = 0;
            if (h > 23)
                d++, h = 0;
            continue;
        }
        se = v;
        int64_t r = days * 86400 + h * 3600 + mi * 60 + se;
        if (r > INT64_MAX / 1000 || r < INT64_MIN / 1000)
            return -1;
        return r * 1000;
    }
    return -1;
}
