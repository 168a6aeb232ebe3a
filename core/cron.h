/* cron.h - cron expressions for schedules (DECISIONS.md #5).
 *
 * Standard cron, evaluated in UTC: five fields (min hour dom month dow), or
 * six with a leading seconds field; `*`, numbers, ranges `a-b`, lists, steps
 * `x/s`, month and weekday names (jan..dec, sun..sat, case-insensitive),
 * day-of-week 0-7 with 0 and 7 = Sunday, `?` as `*` in dom/dow, and the
 * shorthands @yearly @annually @monthly @weekly @daily @midnight @hourly.
 * `N/S` means N through the field's maximum in steps of S.
 * Day rule as in Vixie cron / cronie: when neither day field starts with `*`
 * (or `?`) a day matches if either field matches (OR); otherwise both must
 * match (a stepped `*` day-of-month with a weekday selects days matching
 * both; cron-parser would OR them). */
#ifndef RESONATE_CRON_H
#define RESONATE_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t sec;   /* bit i set: second i allowed (0-59) */
    uint64_t min;   /* 0-59 */
    uint32_t hour;  /* 0-23 */
    uint32_t dom;   /* 1-31 */
    uint16_t month; /* 1-12 */
    uint8_t dow;    /* 0-6, Sunday = 0 */
    bool dom_star;  /* day-of-month field starts with `*` or `?` (AND rule) */
    bool dow_star;  /* day-of-week field starts with `*` or `?` */
} cron_t;

/* Parses expr into out (caller-owned; nothing is allocated). Returns 0, or
 * -1 with a short reason in err (may be NULL). Dates that can never occur
 * ("0 0 30 2 *") parse fine; cron_next reports them. */
int cron_parse(const char *expr, cron_t *out, char *err, size_t errlen);

/* The first matching instant strictly after the second containing t_ms, in
 * Unix ms (a multiple of 1000). Returns -1 when nothing matches within the
 * next 400 years (e.g. "0 0 30 2 *"), i.e. never, since the Gregorian
 * calendar repeats every 400 years. Any t_ms is accepted, including negative
 * (proleptic Gregorian); -1 also when the answer does not fit in int64 ms. */
int64_t cron_next(const cron_t *c, int64_t t_ms);

#endif
