/* cron.h - cron expressions for schedules (DECISIONS.md #5).
 *
 * Standard cron, evaluated in UTC: five fields (min hour dom month dow), or
 * six with a leading seconds field; `*`, numbers, ranges `a-b`, lists, steps
 * `x/s`, month and weekday names (jan..dec, sun..sat, case-insensitive),
 * day-of-week 0-7 with 0 and 7 = Sunday, `?` as `*` in dom/dow, and the
 * shorthands @yearly @annually @monthly @weekly @daily @midnight @hourly.
 * When both day-of-month and day-of-week are restricted, a day matches if
 * either matches (Vixie cron's OR rule). */
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
    bool dom_star;  /* day-of-month was unrestricted (`*` or `?`) */
    bool dow_star;
} cron_t;

/* Parses expr into out. Returns 0, or -1 with a reason in err. */
int cron_parse(const char *expr, cron_t *out, char *err, size_t errlen);

/* The first matching instant strictly after the second containing t_ms, in
 * Unix ms (a multiple of 1000). Returns -1 when nothing matches within the
 * next 400 years (e.g. "0 0 30 2 *"). */
int64_t cron_next(const cron_t *c, int64_t t_ms);

#endif
