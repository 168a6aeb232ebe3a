/* test_cron.c - cron expression parsing and next-fire computation.
 *
 * Expected instants in the fixed tables were taken from the npm cron-parser
 * (TZ=UTC) where its semantics match ours; the randomized tests compare
 * cron_next against a deliberately naive scan that uses the libc's gmtime_r,
 * so the two sides share no calendar code. */
#include <string.h>
#include <time.h>

#include "core/cron.h"
#include "tests/unit/unit.h"

static cron_t must_parse(const char *expr)
{
    cron_t c;
    char err[128] = "";
    int rc = cron_parse(expr, &c, err, sizeof err);
    ck_assert_msg(rc == 0, "\"%s\" rejected: %s", expr, err);
    return c;
}

static int64_t next_of(const char *expr, int64_t t_ms)
{
    cron_t c = must_parse(expr);
    return cron_next(&c, t_ms);
}

static uint64_t bits(int lo, int hi, int step)
{
    uint64_t m = 0;
    for (int i = lo; i <= hi; i += step)
        m |= (uint64_t)1 << i;
    return m;
}

/* ---- parsing ------------------------------------------------------------ */

START_TEST(parse_accepts_every_supported_form)
{
    static const char *const ok[] = {
        "* * * * *",         "0 0 * * *",
        "*/10 * * * * *",    "0 0 1 1 *",
        "59 23 31 12 7",     "0,15,30,45 * * * *",
        "1-5 * * * *",       "1-59/2 * * * *",
        "5/20 * * * *",      "0 0 ? * mon",
        "0 0 1 * ?",         "0 0 * JAN-Mar sun",
        "0 0 * * MON-FRI",   "0 0 * * 0-7",
        "0 0 * * 5-7/2",     "0 0 * jan,feb,DEC *",
        "0 0 1,15 * wed",    "0 0 30 2 *",
        "*/60 * * * *",      "  0   0\t* *  *  ",
        "\t*/5 * * * * *\n", "@yearly",
        "@annually",         "@monthly",
        "@weekly",           "@daily",
        "@midnight",         "@hourly",
        "  @Daily  ",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        must_parse(ok[i]);
}
END_TEST

START_TEST(parse_rejects_bad_expressions_with_a_reason)
{
    static const struct {
        const char *expr;
        const char *reason; /* substring of err */
    } bad[] = {
        {"", "empty"},
        {"   \t ", "empty"},
        {"* * * *", "number of fields"},
        {"* * * * * * *", "too many fields"},
        {"60 * * * *", "out of range"},
        {"* 24 * * *", "out of range"},
        {"* * 0 * *", "out of range"},
        {"* * 32 * *", "out of range"},
        {"* * * 0 *", "out of range"},
        {"* * * 13 *", "out of range"},
        {"* * * * 8", "out of range"},
        {"60 * * * * *", "second field"},
        {"*/0 * * * *", "step out of range"},
        {"*/61 * * * *", "step out of range"},
        {"5-1 * * * *", "range start is after its end"},
        {"* * * * mon-sun", "range start is after its end"},
        {"-1 * * * *", "invalid syntax"},
        {"99999999999999999999 * * * *", "out of range"},
        {"1000 * * * *", "out of range"},
        {"* * L * *", "invalid syntax"},
        {"* * 15W * *", "invalid syntax"},
        {"* * * * 5#3", "invalid syntax"},
        {"* * * * 5L", "invalid syntax"},
        {"? * * * *", "only allowed in day fields"},
        {"* * * ? *", "only allowed in day fields"},
        {"* * * * monday", "invalid syntax"},
        {"* * * mon *", "invalid syntax"},
        {"* * * * jan", "invalid syntax"},
        {"1, * * * *", "invalid syntax"},
        {",1 * * * *", "invalid syntax"},
        {"1-* * * * *", "invalid syntax"},
        {"*-5 * * * *", "invalid syntax"},
        {"1/ * * * *", "invalid syntax"},
        {"*/mon * * * *", "invalid syntax"},
        {"1x * * * *", "invalid syntax"},
        {"garbage", "number of fields"},
        {"@every 5m", "unknown shorthand"},
        {"@reboot", "unknown shorthand"},
        {"@daily 0", "unexpected text"},
        {"@", "unknown shorthand"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cron_t c;
        char err[128] = "";
        ck_assert_msg(cron_parse(bad[i].expr, &c, err, sizeof err) == -1, "\"%s\" accepted",
                      bad[i].expr);
        ck_assert_msg(strstr(err, bad[i].reason) != NULL, "\"%s\": err \"%s\" lacks \"%s\"",
                      bad[i].expr, err, bad[i].reason);
    }
    cron_t c;
    ck_assert_int_eq(cron_parse(NULL, &c, NULL, 0), -1);
    ck_assert_int_eq(cron_parse("x", &c, NULL, 0), -1);
}
END_TEST

START_TEST(parse_fills_each_field_mask)
{
    cron_t c = must_parse("1-10/3 0,12 */10 feb-apr 1");
    ck_assert_uint_eq(c.sec, 1); /* five fields: second 0 only */
    ck_assert_uint_eq(c.min, (1u << 1) | (1u << 4) | (1u << 7) | (1u << 10));
    ck_assert_uint_eq(c.hour, (1u << 0) | (1u << 12));
    ck_assert_uint_eq(c.dom, (1u << 1) | (1u << 11) | (1u << 21) | (1u << 31));
    ck_assert_uint_eq(c.month, (1u << 2) | (1u << 3) | (1u << 4));
    ck_assert_uint_eq(c.dow, 1u << 1);
    ck_assert(c.dom_star);
    ck_assert(!c.dow_star);

    c = must_parse("7,8 * * * * *");
    ck_assert_uint_eq(c.sec, (1u << 7) | (1u << 8));
    ck_assert_uint_eq(c.min, bits(0, 59, 1));
    ck_assert_uint_eq(c.hour, bits(0, 23, 1));
    ck_assert_uint_eq(c.dom, bits(1, 31, 1));
    ck_assert_uint_eq(c.month, bits(1, 12, 1));
    ck_assert_uint_eq(c.dow, bits(0, 6, 1));

    c = must_parse("0 50/5 * * * *");
    ck_assert_uint_eq(c.min, bits(50, 55, 5));
}
END_TEST

START_TEST(parse_accepts_names_case_insensitively)
{
    cron_t a = must_parse("0 0 * Jan,MAR,dec Sun,mon,SAT");
    cron_t b = must_parse("0 0 * 1,3,12 0,1,6");
    ck_assert_uint_eq(a.month, b.month);
    ck_assert_uint_eq(a.dow, b.dow);
    cron_t r = must_parse("0 0 * * mon-fri");
    ck_assert_uint_eq(r.dow, bits(1, 5, 1));
    r = must_parse("0 0 * jun-AUG *");
    ck_assert_uint_eq(r.month, bits(6, 8, 1));
}
END_TEST

START_TEST(parse_treats_0_and_7_as_sunday)
{
    ck_assert_uint_eq(must_parse("0 0 * * 0").dow, 1);
    ck_assert_uint_eq(must_parse("0 0 * * 7").dow, 1);
    ck_assert_uint_eq(must_parse("0 0 * * sun").dow, 1);
    ck_assert_uint_eq(must_parse("0 0 * * 5-7").dow, (1u << 5) | (1u << 6) | 1u);
    ck_assert_uint_eq(must_parse("0 0 * * *").dow, 0x7f);
    /* 2024-01-07 was a Sunday */
    ck_assert_int_eq(next_of("0 0 * * 7", 1704067200000), 1704585600000);
    ck_assert_int_eq(next_of("0 0 * * 0", 1704067200000), 1704585600000);
}
END_TEST

START_TEST(parse_marks_star_day_fields_like_vixie_cron)
{
    cron_t c = must_parse("0 0 */2 * 1");
    ck_assert(c.dom_star);
    ck_assert(!c.dow_star);
    c = must_parse("0 0 ? * 1");
    ck_assert(c.dom_star);
    c = must_parse("0 0 1-31 * 1-5");
    ck_assert(!c.dom_star);
    ck_assert(!c.dow_star);
    c = must_parse("0 0 13 * ?");
    ck_assert(c.dow_star);
}
END_TEST

START_TEST(parse_expands_shorthands)
{
    static const struct {
        const char *shorthand, *expr;
    } map[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        cron_t a = must_parse(map[i].shorthand), b = must_parse(map[i].expr);
        ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "%s", map[i].shorthand);
    }
}
END_TEST

/* ---- cron_next: fixed cases ----------------------------------------------- */

START_TEST(next_is_strictly_after_the_containing_second)
{
    ck_assert_int_eq(next_of("* * * * *", 60000), 120000);
    ck_assert_int_eq(next_of("* * * * *", 60500), 120000);
    ck_assert_int_eq(next_of("* * * * *", 59999), 60000);
    ck_assert_int_eq(next_of("* * * * *", 0), 60000);
    ck_assert_int_eq(next_of("*/10 * * * * *", 69999), 70000);
    ck_assert_int_eq(next_of("*/10 * * * * *", 70000), 80000);
    ck_assert_int_eq(next_of("* * * * * *", 70000), 71000);
    ck_assert_int_eq(next_of("* * * * * *", 70999), 71000);
}
END_TEST

/* Values from cron-parser 5.10 (TZ=UTC). */
static const struct {
    const char *expr;
    int64_t from, want;
} known[] = {
    {"0 0 13 * 5", 1704067200000, 1704412800000},       /* 2024-01-01 -> Fri 01-05 */
    {"0 0 13 * 5", 1725580800000, 1726185600000},       /* Fri 2024-09-06 -> 09-13 */
    {"30 9 * * mon-fri", 1709892000000, 1710149400000}, /* Fri 10:00 -> Mon 09:30 */
    {"0 0 1 */3 *", 1707955200000, 1711929600000},      /* 2024-02-15 -> 04-01 */
    {"15,45 */6 * * *", 1714891800000, 1714911300000},  /* 06:50 -> 12:15 */
    {"0 0 29 2 *", 1709251200000, 1835395200000},       /* 2024-03-01 -> 2028-02-29 */
    {"0 0 29 2 *", 3981398400000, 4233686400000},       /* 2096-03-01 -> 2104-02-29 */
    {"0 0 29 2 *", 928195200000, 951782400000},         /* 1999-06-01 -> 2000-02-29 */
    {"0 0 31 * *", 1675123200000, 1680220800000},       /* 2023-01-31 -> 03-31 */
    {"0 12 30 * *", 1706616000000, 1711800000000},      /* 2024-01-30 12:00 -> 03-30 */
    {"0 12 1 jan,jul *", 1719835200000, 1735732800000}, /* 2024-07-01 12:00 -> 2025-01-01 */
    {"@weekly", 1704067200000, 1704585600000},          /* 2024-01-01 -> Sun 01-07 */
    {"@yearly", 1704067200000, 1735689600000},          /* 2024-01-01 -> 2025-01-01 */
    {"@monthly", 1706745599999, 1706745600000},         /* 01-31 23:59:59.999 -> 02-01 */
    {"@hourly", 1709247600000, 1709251200000},          /* 02-29 23:00 -> 03-01 00:00 */
    {"5/20 1-3 * * *", 1704081000000, 1704157500000},   /* 03:50 -> next day 01:05 */
    {"0 0 1,15 * wed", 1704153600000, 1704240000000},   /* Tue 01-02 -> Wed 01-03 */
    {"59 23 31 12 *", 1704067140000, 1735689540000},    /* 2023-12-31 23:59 -> 2024 */
    {"* * * * *", 1704067170000, 1704067200000},        /* 2023-12-31 23:59:30 -> 2024 */
    {"*/15 30 2 * * *", 1704076245000, 1704162600000},  /* 02:30:45 -> next day 02:30:00 */
    {"0-10/5 * * * * *", 1704067210500, 1704067260000}, /* 00:00:10.5 -> 00:01:00 */
    {"0 0 0 * * SUN-tue", 1704240000000, 1704585600000},
    {"0 0 ? * 0", 1704067200000, 1704585600000},
    {"0 0 1 * ?", 1704067200000, 1706745600000},
    {"0 9-17/4 * AUG-Oct 1-5", 1722448800000, 1722502800000},
    {"0 0 29 2 1", 1709251200000, 1738540800000}, /* OR: first Monday in Feb 2025 */
    {"0 0 30 2 mon", 1706572800000, 1707091200000},
};

START_TEST(next_matches_reference_values)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        int64_t got = next_of(known[i].expr, known[i].from);
        ck_assert_msg(got == known[i].want, "\"%s\" from %lld: got %lld, want %lld", known[i].expr,
                      (long long)known[i].from, (long long)got, (long long)known[i].want);
    }
}
END_TEST

START_TEST(next_applies_or_rule_when_both_day_fields_are_restricted)
{
    /* 2024-09-01 is a Sunday: Fri 6th, Fri 13th, the 13th (also Fri), ... */
    cron_t c = must_parse("0 0 13 * 5");
    int64_t t = 1725148800000; /* 2024-09-01 */
    static const int64_t want[] = {
        1725580800000, /* Fri 09-06 */
        1726185600000, /* Fri 09-13 */
        1726790400000, /* Fri 09-20 */
        1727395200000, /* Fri 09-27 */
        1728000000000, /* Fri 10-04 */
        1728604800000, /* Fri 10-11 */
        1728777600000, /* Sun 10-13: the 13th though not a Friday */
        1729209600000, /* Fri 10-18 */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        t = cron_next(&c, t);
        ck_assert_int_eq(t, want[i]);
    }
}
END_TEST

START_TEST(next_applies_and_rule_when_a_day_field_starts_with_star)
{
    /* Vixie/cronie: dom "*\/2" counts as star, so both must hold: odd days
     * that are Mondays. 1970-01-05 was a Monday (cron-parser says 01-03). */
    ck_assert_int_eq(next_of("0 0 */2 * 1", 0), 4 * 86400000LL);
    /* dow "*\/3" = Sun, Wed, Sat, and dom 1: 1970-02-01 was a Sunday */
    ck_assert_int_eq(next_of("0 0 1 * */3", 0), 31 * 86400000LL);
    /* a plain star leaves only the other field: every 13th */
    ck_assert_int_eq(next_of("0 0 13 * *", 0), 12 * 86400000LL);
    ck_assert_int_eq(next_of("0 0 * * 5", 0), 1 * 86400000LL);
}
END_TEST

START_TEST(next_handles_leap_years_and_month_ends)
{
    /* 2100 is not a leap year, 2000 is */
    ck_assert_int_eq(next_of("0 0 29 2 *", 3981398400000), 4233686400000);
    ck_assert_int_eq(next_of("0 0 29 2 *", 928195200000), 951782400000);
    /* 1900 is not a leap year either: 1900-01-01 -> 1904-02-29 */
    ck_assert_int_eq(next_of("0 0 29 2 *", -2208988800000), -2077747200000);
    /* the 31st skips 30-day months: 2024-04-01 -> 2024-05-31 */
    ck_assert_int_eq(next_of("0 0 31 * *", 1711929600000), 1717113600000);
    /* last second of February in a leap year: 2024-02-29 23:59:59 */
    ck_assert_int_eq(next_of("59 59 23 * 2 *", 1709164800000), 1709251199000);
}
END_TEST

START_TEST(next_rolls_over_the_year)
{
    ck_assert_int_eq(next_of("* * * * * *", 1704067199000), 1704067200000);
    ck_assert_int_eq(next_of("0 0 1 1 *", 1704067199999), 1704067200000);
    ck_assert_int_eq(next_of("0 0 1 1 *", 1704067200000), 1735689600000);
    ck_assert_int_eq(next_of("0 0 * dec *", 1704067200000), 1733011200000);
}
END_TEST

START_TEST(next_returns_minus_one_for_impossible_dates)
{
    static const char *const never[] = {"0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *",
                                        "0 0 30,31 feb *", "* * * 31 11 *"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        ck_assert_int_eq(next_of(never[i], 0), -1);
        ck_assert_int_eq(next_of(never[i], 1704067200000), -1);
    }
    /* with a restricted weekday the OR rule makes them possible again */
    ck_assert_int_ne(next_of("0 0 30 2 1", 0), -1);
}
END_TEST

START_TEST(next_handles_negative_and_extreme_times)
{
    ck_assert_int_eq(next_of("* * * * *", -1), 0);
    ck_assert_int_eq(next_of("* * * * *", -60000), 0);
    ck_assert_int_eq(next_of("* * * * *", -61000), -60000);
    ck_assert_int_eq(next_of("* * * * * *", -1500), -1000);
    ck_assert_int_eq(next_of("0 0 1 1 *", -1), 0);
    /* 1969-12-31 was a Wednesday */
    ck_assert_int_eq(next_of("0 0 * * wed", -86400001), -86400000);
    ck_assert_int_eq(next_of("* * * * *", INT64_MAX), -1);
    int64_t lo = next_of("* * * * *", INT64_MIN);
    ck_assert_int_gt(lo, INT64_MIN);
    ck_assert_int_lt(lo, INT64_MIN + 61000);
    ck_assert_int_eq(lo % 60000, 0);
}
END_TEST

/* ---- cron_next: randomized cross-check ------------------------------------ */

static uint64_t rng_next(uint64_t *state)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool naive_matches(const cron_t *c, int64_t s)
{
    time_t tt = (time_t)s;
    struct tm tm;
    gmtime_r(&tt, &tm);
    bool dom = c->dom & (1u << tm.tm_mday);
    bool dow = c->dow & (1u << tm.tm_wday);
    bool day = (c->dom_star || c->dow_star) ? (dom && dow) : (dom || dow);
    return (c->sec >> tm.tm_sec & 1) && (c->min >> tm.tm_min & 1) && (c->hour >> tm.tm_hour & 1) &&
           (c->month >> (tm.tm_mon + 1) & 1) && day;
}

/* Scans every candidate instant (multiples of `unit` seconds) after the
 * second containing t_ms, up to `window` seconds; returns ms or -2. */
static int64_t naive_next(const cron_t *c, int64_t t_ms, int64_t unit, int64_t window)
{
    int64_t s = floor_div(t_ms, 1000);
    int64_t x = (floor_div(s, unit) + 1) * unit;
    for (; x <= s + window; x += unit)
        if (naive_matches(c, x))
            return x * 1000;
    return -2;
}

static void cross_check(const char *expr, int64_t unit, int64_t window, int runs, uint64_t seed)
{
    cron_t c = must_parse(expr);
    uint64_t st = seed;
    int found = 0;
    for (int i = 0; i < runs; i++) {
        /* 1970..2200, half of them just before a day boundary */
        int64_t t = (int64_t)(rng_next(&st) % 7258118400000ULL);
        if (i % 2)
            t = t - t % 86400000 - (int64_t)(rng_next(&st) % 3000000);
        int64_t want = naive_next(&c, t, unit, window);
        int64_t got = cron_next(&c, t);
        if (want == -2) { /* beyond the naive window: only check it is later */
            ck_assert_msg(got == -1 || got > t + window * 1000, "\"%s\" from %lld: %lld", expr,
                          (long long)t, (long long)got);
            continue;
        }
        found++;
        ck_assert_msg(got == want, "\"%s\" from %lld: got %lld, naive %lld", expr, (long long)t,
                      (long long)got, (long long)want);
    }
    /* the window must be wide enough for the comparison to mean something */
    ck_assert_msg(found > 0, "\"%s\": no run found a match in the naive window", expr);
}

START_TEST(next_agrees_with_minute_by_minute_scan)
{
    static const char *const exprs[] = {
        "* * * * *",        "*/7 * * * *",          "0 */5 * * *",
        "30 9 * * mon-fri", "15,45 3-6 1-10 * *",   "0 0 13 * 5",
        "0 12 * * 0,7",     "59 23 28-31 * *",      "5/20 1-3 * * *",
        "0 0 */2 * 1",      "0 0 1 * */3",          "10 4 ? * sat",
        "@hourly",          "0 0 * feb,mar,dec 2-4"};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++)
        cross_check(exprs[i], 60, 40 * 86400, 60, 0x9e3779b97f4a7c15ULL + i);
}
END_TEST

START_TEST(next_agrees_with_day_by_day_scan_for_rare_dates)
{
    /* Only fire at midnight, so checking each midnight is a full scan. */
    static const char *const exprs[] = {"0 0 29 2 *", "0 0 31 * *",        "0 0 13 * 5",
                                        "0 0 29 2 1", "0 0 1 jan,jul *",   "0 0 30 feb fri",
                                        "0 0 1 1 *",  "0 0 28-31 2,4 sun", "@yearly"};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++)
        cross_check(exprs[i], 86400, 10 * 366 * 86400, 60, 0x1234567ULL + i);
}
END_TEST

START_TEST(next_agrees_with_second_by_second_scan)
{
    static const char *const exprs[] = {"* * * * * *",      "*/10 * * * * *", "7,13 * * * * *",
                                        "0-10/5 5 * * * *", "59 59 * * * *",  "30 */2 * * * *",
                                        "0 0 0 * * *"};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++)
        cross_check(exprs[i], 1, 2 * 86400, 40, 0xabcdefULL + i);
}
END_TEST

START_TEST(next_resolves_rare_expressions_quickly)
{
    /* A second-by-second scan would need ~1e10 steps for each of these. */
    cron_t never = must_parse("0 0 30 2 *");
    cron_t leap = must_parse("0 0 29 2 *");
    cron_t secs = must_parse("59 59 23 29 2 *");
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(cron_next(&never, (int64_t)i * 86400000 * 37), -1);
        ck_assert_int_gt(cron_next(&leap, (int64_t)i * 86400000 * 37), 0);
        ck_assert_int_gt(cron_next(&secs, (int64_t)i * 86400000 * 37), 0);
    }
}
END_TEST

static Suite *cron_suite(void)
{
    Suite *s = suite_create("cron");
    TCase *tp = tcase_create("parse");
    tcase_add_test(tp, parse_accepts_every_supported_form);
    tcase_add_test(tp, parse_rejects_bad_expressions_with_a_reason);
    tcase_add_test(tp, parse_fills_each_field_mask);
    tcase_add_test(tp, parse_accepts_names_case_insensitively);
    tcase_add_test(tp, parse_treats_0_and_7_as_sunday);
    tcase_add_test(tp, parse_marks_star_day_fields_like_vixie_cron);
    tcase_add_test(tp, parse_expands_shorthands);
    suite_add_tcase(s, tp);

    TCase *tn = tcase_create("next");
    tcase_set_timeout(tn, 60);
    tcase_add_test(tn, next_is_strictly_after_the_containing_second);
    tcase_add_test(tn, next_matches_reference_values);
    tcase_add_test(tn, next_applies_or_rule_when_both_day_fields_are_restricted);
    tcase_add_test(tn, next_applies_and_rule_when_a_day_field_starts_with_star);
    tcase_add_test(tn, next_handles_leap_years_and_month_ends);
    tcase_add_test(tn, next_rolls_over_the_year);
    tcase_add_test(tn, next_returns_minus_one_for_impossible_dates);
    tcase_add_test(tn, next_handles_negative_and_extreme_times);
    tcase_add_test(tn, next_agrees_with_minute_by_minute_scan);
    tcase_add_test(tn, next_agrees_with_day_by_day_scan_for_rare_dates);
    tcase_add_test(tn, next_agrees_with_second_by_second_scan);
    tcase_add_test(tn, next_resolves_rare_expressions_quickly);
    suite_add_tcase(s, tn);
    return s;
}
UNIT_SUITE(cron_suite)
