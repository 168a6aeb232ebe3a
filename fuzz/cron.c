/* cron.c - fuzz target: cron expressions and next-run computation.
 *
 * The input is a cron expression, optionally followed by a NUL byte and up
 * to 8 more bytes read as a little-endian int64 time in Unix ms. The
 * expression goes to cron_parse; when it parses, cron_next runs from that
 * time and from fixed ones reaching both ends of int64 (year ~292 million
 * either way), the Unix epoch, a recent date and the year 9999. Each answer
 * is checked against the contract of core/cron.h: -1, or a multiple of 1000
 * strictly after the second containing the start, whose UTC broken-down time
 * the expression matches (gmtime_r is the independent oracle), and from
 * which one second earlier leads to the same answer. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cron.h"
#include "fuzz/fuzz.h"

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Whether the instant at s (Unix seconds) matches c, by gmtime_r. */
static bool matches(const cron_t *c, int64_t s)
{
    time_t t = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        abort();
    bool dom = c->dom & ((uint32_t)1 << tm.tm_mday);
    bool dow = c->dow & (1u << tm.tm_wday);
    bool day = (c->dom_star || c->dow_star) ? (dom && dow) : (dom || dow);
    return day && (c->sec & ((uint64_t)1 << tm.tm_sec)) && (c->min & ((uint64_t)1 << tm.tm_min)) &&
           (c->hour & (1u << tm.tm_hour)) && (c->month & (1u << (tm.tm_mon + 1)));
}

static void check_next(const cron_t *c, int64_t t_ms)
{
    int64_t r = cron_next(c, t_ms);
    if (r == -1)
        return;
    int64_t start = floor_div(t_ms, 1000);
    if (r % 1000 != 0 || r / 1000 <= start || !matches(c, r / 1000))
        abort();
    if (r / 1000 - 1 > start && cron_next(c, r - 1000) != r)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *expr = fuzz_cstr(data, size);
    size_t elen = strlen(expr);

    cron_t c;
    char err[128];
    memset(err, 'x', sizeof err);
    if (cron_parse(expr, &c, err, sizeof err) != 0) {
        if (!memchr(err, '\0', sizeof err))
            abort();
        free(expr);
        return 0;
    }
    if ((c.sec >> 60) || (c.min >> 60) || (c.hour >> 24) || (c.dom & 1) || (c.month & 0xe001) ||
        (c.dow & 0x80))
        abort(); /* a bit outside the field's range */

    static const int64_t fixed[] = {
        INT64_MIN,
        -62135596800000, /* 0001-01-01 */
        -1,
        0,
        1767225600123,
        253402300799999, /* 9999-12-31T23:59:59.999 */
        INT64_MAX / 2,
        INT64_MAX - 86400000LL * 366 * 400,
        INT64_MAX,
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        check_next(&c, fixed[i]);
    if (elen < size) {
        uint64_t u = 0;
        size_t n = size - elen - 1;
        for (size_t i = 0; i < n && i < 8; i++)
            u |= (uint64_t)data[elen + 1 + i] << (8 * i);
        check_next(&c, (int64_t)u);
    }
    free(expr);
    return 0;
}
