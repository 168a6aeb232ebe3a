/* log.h - one line per event on stderr, text or JSON.
 *
 * The level and format are set once at start-up (log_init) before any
 * thread starts and only read afterwards. Lines are written with a single
 * write so concurrent threads never interleave within a line, and control
 * characters in a message are escaped so one event is always one line.
 *
 * Messages end with key=value fields ("request kind=%s status=%d"). The
 * fields are found in the FORMAT string, which is trusted, never in the
 * formatted text, whose arguments may come from a client: an argument can
 * never add, end or overwrite a field. In JSON mode the fields become
 * members of the object ({"ts":..,"level":"debug","msg":"request",
 * "kind":"promise.get","status":"200"}), so collectors can index them; in
 * text mode a field value containing a space, '"', '=', '\\' or a control
 * character is written quoted with C-style escapes (corrId="a b=c"), as is
 * an argument in the message text that contains '=' or '"'. A field is a
 * trailing space-separated token key=value of the format whose key is made
 * of letters, digits, '_' and '.'. Never pass a token or other secret to
 * these functions. */
#ifndef RESONATE_LOG_H
#define RESONATE_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

/* Parses "debug" (or "trace"), "info", "warn"/"warning", "error" (any
 * case). Returns -1 for anything else. */
int log_level_parse(const char *s);

void log_init(log_level_t level, bool json);
bool log_enabled(log_level_t level);

void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats the line log_msg would write for fmt and its arguments (with its
 * newline, NUL-terminated) into buf without writing it; returns its length.
 * ts is the timestamp text. A field value over 256 bytes is cut to 256
 * ending in "...", so a client's long string never pushes the fields after
 * it out of the line. A line longer than buflen then loses the end of its
 * message text (text) or has it replaced by "(message too long)" (JSON),
 * and the fields stay; only fields that alone exceed buflen are lost. A
 * line is never split. */
size_t log_format_line(char *buf, size_t buflen, bool json, const char *ts, log_level_t level,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
