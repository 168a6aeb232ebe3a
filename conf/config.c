/* config.c - the configuration table and its one setter; see config.h. */
#include "conf/config.h"

#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { T_STR, T_INT, T_BOOL, T_SWITCH } ctype_t;

typedef struct {
    const char *key;  /* dotted config key */
    const char *flag; /* command-line flag, NULL when file/env only */
    ctype_t type;
    size_t off;
    int64_t min, max; /* integers only */
    const char *help;
} opt_t;

#define OFF(f) offsetof(conf_t, f)
#define MS_MAX ((int64_t)1 << 40)

static const opt_t opts[] = {
    {"level", "--level", T_STR, OFF(level), 0, 0, "log level: debug, info, warn, error"},
    {"debug", "--debug", T_SWITCH, OFF(debug), 0, 0,
     "enable debug.* operations and head[\"resonate:debug_time\"]"},
    {"server.host", "--server-host", T_STR, OFF(server_host), 0, 0,
     "host name used to build the default server URL"},
    {"server.port", "--server-port", T_INT, OFF(server_port), 0, 65535, "HTTP API port"},
    {"server.bind", "--server-bind", T_STR, OFF(server_bind), 0, 0, "listen address"},
    {"server.shutdown_timeout", "--server-shutdown-timeout", T_INT, OFF(server_shutdown_timeout), 0,
     MS_MAX, "ms to finish in-flight work on SIGTERM"},
    {"server.url", "--server-url", T_STR, OFF(server_url), 0, 0,
     "URL advertised to workers (default http://{host}:{port})"},
    {"server.max_body", "--server-max-body", T_INT, OFF(server_max_body), 1024, 1 << 30,
     "largest request body in bytes"},
    {"storage.type", "--storage-type", T_STR, OFF(storage_type), 0, 0, "storage backend (sqlite)"},
    {"storage.sqlite.path", "--storage-sqlite-path", T_STR, OFF(storage_sqlite_path), 0, 0,
     "SQLite database file (:memory: for none)"},
    {"auth.publickey", "--auth-publickey", T_STR, OFF(auth_publickey), 0, 0,
     "public key file (PEM or JWKS); enables JWT auth"},
    {"auth.iss", "--auth-iss", T_STR, OFF(auth_iss), 0, 0, "required token issuer"},
    {"auth.aud", "--auth-aud", T_STR, OFF(auth_aud), 0, 0, "required token audience"},
    {"auth.require_exp", NULL, T_BOOL, OFF(auth_require_exp), 0, 0, "reject tokens without exp"},
    {"auth.leeway", NULL, T_INT, OFF(auth_leeway), 0, 86400, "clock leeway for exp/nbf, seconds"},
    {"tasks.lease_timeout", "--tasks-lease-timeout", T_INT, OFF(tasks_lease_timeout), 1, MS_MAX,
     "default task lease, ms"},
    {"tasks.retry_timeout", "--tasks-retry-timeout", T_INT, OFF(tasks_retry_timeout), 1, MS_MAX,
     "ms before an undelivered pending task is re-dispatched"},
    {"timeouts.poll_interval", "--timeouts-poll-interval", T_INT, OFF(timeouts_poll_interval), 1,
     MS_MAX, "ms between timeout/schedule scans"},
    {"messages.poll_interval", "--messages-poll-interval", T_INT, OFF(messages_poll_interval), 1,
     MS_MAX, "ms between outbox scans"},
    {"messages.batch_size", "--messages-batch-size", T_INT, OFF(messages_batch_size), 1, 100000,
     "outbox rows per scan"},
    {"transports.http_poll.enabled", "--transports-http-poll-enabled", T_BOOL,
     OFF(http_poll_enabled), 0, 0, "SSE poll transport"},
    {"transports.http_poll.max_connections", "--transports-http-poll-max-connections", T_INT,
     OFF(http_poll_max_connections), 1, 1000000, "most concurrent pollers"},
    {"transports.http_poll.buffer_size", "--transports-http-poll-buffer-size", T_INT,
     OFF(http_poll_buffer_size), 1, 1000000, "messages queued per poller"},
    {"transports.http_push.enabled", "--transports-http-push-enabled", T_BOOL,
     OFF(http_push_enabled), 0, 0, "HTTP push transport"},
    {"transports.http_push.concurrency", "--transports-http-push-concurrency", T_INT,
     OFF(http_push_concurrency), 1, 100000, "concurrent pushes"},
    {"transports.http_push.connect_timeout", "--transports-http-push-connect-timeout", T_INT,
     OFF(http_push_connect_timeout), 1, MS_MAX, "push connect timeout, ms"},
    {"transports.http_push.request_timeout", "--transports-http-push-request-timeout", T_INT,
     OFF(http_push_request_timeout), 1, MS_MAX, "push request timeout, ms"},
    {"observability.metrics_port", "--observability-metrics-port", T_INT, OFF(metrics_port), 0,
     65535, "Prometheus /metrics port (0 disables)"},
    {"observability.log_json", "--log-json", T_SWITCH, OFF(log_json), 0, 0,
     "write logs as JSON lines"},
};

#define N_OPTS (sizeof opts / sizeof *opts)

static char **str_at(conf_t *c, const opt_t *o)
{
    return (char **)((char *)c + o->off);
}

static void set_str(conf_t *c, const opt_t *o, const char *v)
{
    char **p = str_at(c, o);
    free(*p);
    *p = v ? strdup(v) : NULL;
}

void conf_defaults(conf_t *c, bool dev)
{
    memset(c, 0, sizeof *c);
    c->level = strdup("info");
    c->server_host = strdup("localhost");
    c->server_port = 8001;
    c->server_bind = strdup("0.0.0.0");
    c->server_shutdown_timeout = 10000;
    c->server_max_body = 2 * 1024 * 1024;
    c->storage_type = strdup("sqlite");
    c->storage_sqlite_path = strdup(dev ? ":memory:" : "resonate.db");
    c->auth_require_exp = true;
    c->auth_leeway = 60;
    c->tasks_lease_timeout = 15000;
    c->tasks_retry_timeout = 30000;
    c->timeouts_poll_interval = 1000;
    c->messages_poll_interval = 100;
    c->messages_batch_size = 100;
    c->http_poll_enabled = true;
    c->http_poll_max_connections = 1000;
    c->http_poll_buffer_size = 100;
    c->http_push_enabled = true;
    c->http_push_concurrency = 256;
    c->http_push_connect_timeout = 10000;
    c->http_push_request_timeout = 180000;
    c->metrics_port = 9090;
}

void conf_free(conf_t *c)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].type == T_STR)
            set_str(c, &opts[i], NULL);
}

static const opt_t *find_key(const char *key)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

int conf_set(conf_t *c, const char *key, const char *value, const char *source, char *err,
             size_t errlen)
{
    const opt_t *o = find_key(key);
    if (!o) {
        snprintf(err, errlen, "%s: unknown configuration key '%s'", source, key);
        return -1;
    }
    switch (o->type) {
    case T_STR:
        if (strcmp(key, "level") == 0 && strcasecmp(value, "debug") != 0 &&
            strcasecmp(value, "info") != 0 && strcasecmp(value, "warn") != 0 &&
            strcasecmp(value, "warning") != 0 && strcasecmp(value, "error") != 0) {
            snprintf(err, errlen,
                     "%s: invalid value '%s' for %s: expected debug, info, warn or error", source,
                     value, key);
            return -1;
        }
        if (strcmp(key, "storage.type") == 0 && strcmp(value, "sqlite") != 0) {
            snprintf(err, errlen,
                     "%s: unknown storage backend '%s' for %s: this build supports 'sqlite'",
                     source, value, key);
            return -1;
        }
        set_str(c, o, value);
        return 0;
    case T_INT: {
        errno = 0;
        char *end = NULL;
        long long v = strtoll(value, &end, 10);
        if (errno || !end || end == value || *end || v < o->min || v > o->max) {
            snprintf(err, errlen,
                     "%s: invalid value '%s' for %s: expected an integer from %lld to %lld", source,
                     value, key, (long long)o->min, (long long)o->max);
            return -1;
        }
        *(int64_t *)((char *)c + o->off) = v;
        return 0;
    }
    case T_BOOL:
    case T_SWITCH:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
            *(bool *)((char *)c + o->off) = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
            *(bool *)((char *)c + o->off) = false;
        } else {
            snprintf(err, errlen, "%s: invalid value '%s' for %s: expected true or false", source,
                     value, key);
            return -1;
        }
        return 0;
    }
    return -1;
}

static const opt_t *find_flag(const char *flag, size_t n)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].flag && strlen(opts[i].flag) == n && strncmp(opts[i].flag, flag, n) == 0)
            return &opts[i];
    /* The older Go server's name for the key file (DECISIONS.md #12). */
    if (n == strlen("--api-auth-public-key") && strncmp(flag, "--api-auth-public-key", n) == 0)
        return find_key("auth.publickey");
    return NULL;
}

int conf_parse_flags(conf_t *c, int argc, char **argv, bool *help, char *err, size_t errlen)
{
    *help = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = true;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s'", arg);
            return -1;
        }
        const char *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        const opt_t *o = find_flag(arg, n);
        if (!o) {
            snprintf(err, errlen, "unknown flag '%.*s' (see --help)", (int)n, arg);
            return -1;
        }
        const char *value;
        if (o->type == T_SWITCH && !eq) {
            value = "true";
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, errlen, "flag %s needs a value", o->flag);
            return -1;
        }
        char source[128];
        snprintf(source, sizeof source, "flag %s", o->flag);
        if (conf_set(c, o->key, value, source, err, errlen) != 0)
            return -1;
    }
    return 0;
}

void conf_print_flags(void (*out)(const char *line, void *arg), void *arg)
{
    char line[256];
    for (size_t i = 0; i < N_OPTS; i++) {
        if (!opts[i].flag)
            continue;
        const char *meta = opts[i].type == T_SWITCH ? ""
                           : opts[i].type == T_INT  ? " <N>"
                           : opts[i].type == T_BOOL ? " <true|false>"
                                                    : " <VALUE>";
        char left[96];
        snprintf(left, sizeof left, "%s%s", opts[i].flag, meta);
        snprintf(line, sizeof line, "  %-46s %s", left, opts[i].help);
        out(line, arg);
    }
}

int conf_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    int64_t total = 0;
    const char *p = s;
    if (!*p)
        goto bad;
    while (*p) {
        if (*p < '0' || *p > '9')
            goto bad;
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > (INT64_MAX - 9) / 10)
                goto bad;
            n = n * 10 + (*p++ - '0');
        }
        size_t best = 0;
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
            size_t l = strlen(units[i].unit);
            /* "ms" must win over "m" */
            if (strncmp(p, units[i].unit, l) == 0 && l > best &&
                !(l == 1 && units[i].unit[0] == 'm' && p[1] == 's')) {
                best = l;
                mult = units[i].ms;
            }
        }
        if (!best || n > INT64_MAX / mult || total > INT64_MAX - n * mult)
            goto bad;
        total += n * mult;
        p += best;
    }
    if (total == 0)
        goto bad;
    *ms = total;
    return 0;
bad:
    snprintf(err, errlen,
             "invalid duration '%s': expected groups like 30s, 5m, 1h30m (units ms, s, m, h, d)",
             s);
    return -1;
}
