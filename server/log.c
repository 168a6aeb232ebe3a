/* log.c - see log.h. */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

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

/* Where the trailing key=value fields of msg start (strlen(msg) if none). A
 * message made only of fields keeps them as its text. */
static size_t fields_start(const char *msg)
{
    size_t n = strlen(msg), start = n;
    size_t end = n;
    while (end > 0) {
        size_t b = end;
        while (b > 0 && msg[b - 1] != ' ')
            b--;
        if (!is_field(msg + b, end - b))
            break;
        start = b;
        if (b == 0)
            return n;
        end = b - 1;
        while (end > 0 && msg[end - 1] == ' ')
            end--;
    }
    return start;
}

size_t log_format_line(char *buf, size_t buflen, bool json, const char *ts, log_level_t level,
                       const char *msg)
{
    size_t n = 0;
    if (buflen < 2)
        return 0;
    if (json) {
        size_t fs = fields_start(msg);
        size_t ml = fs;
        while (ml > 0 && msg[ml - 1] == ' ')
            ml--;
        json_t *o = json_object();
        json_object_set_new(o, "ts", json_string(ts));
        json_object_set_new(o, "level", json_string(names[level]));
        json_object_set_new(o, "msg", json_stringn(msg, ml));
        for (const char *p = msg + fs; *p;) {
            const char *sp = strchr(p, ' ');
            size_t tl = sp ? (size_t)(sp - p) : strlen(p);
            const char *eq = memchr(p, '=', tl);
            char key[64];
            size_t kl = (size_t)(eq - p);
            if (kl < sizeof key) {
                memcpy(key, p, kl);
                key[kl] = '\0';
                /* the fixed members win over a field of the same name */
                if (!json_object_get(o, key))
                    json_object_set_new(o, key, json_stringn(eq + 1, tl - kl - 1));
            }
            p += tl;
            while (*p == ' ')
                p++;
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (s) {
            n = strlen(s);
            if (n > buflen - 3)
                n = 0; /* never emit a cut JSON object */
            memcpy(buf, s, n);
            free(s);
        }
        if (n == 0) {
            int w = snprintf(buf, buflen - 1,
                             "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(message too long)\"}", ts,
                             names[level]);
            n = w > 0 && (size_t)w < buflen - 1 ? (size_t)w : 0;
        }
    } else {
        int w = snprintf(buf, buflen, "%s %-5s ", ts, names[level]);
        n = w > 0 && (size_t)w < buflen ? (size_t)w : 0;
        for (const unsigned char *p = (const unsigned char *)msg; *p && n + 5 < buflen; p++) {
            if (*p == '\n') {
                buf[n++] = '\\';
                buf[n++] = 'n';
            } else if (*p < 0x20 || *p == 0x7F) {
                n += (size_t)snprintf(buf + n, buflen - n, "\\x%02x", *p);
            } else {
                buf[n++] = (char)*p;
            }
        }
    }
    buf[n++] = '\n';
    buf[n] = '\0';
    return n;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)tv.tv_usec);

    char line[8192];
    size_t n = log_format_line(line, sizeof line, as_json, ts, level, msg);
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
