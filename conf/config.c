/* config.c - the configuration table, its one setter and the layer loader;
 * see config.h.
 *
 * Adding a key means one table row (and a field in conf_t): flag, TOML key,
 * RESONATE_* variable, --help line and the error messages all derive from
 * it. Keys with off == NOOFF are the Rust server's keys that we accept but
 * do not implement: their values are validated and then dropped. */
#include "conf/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/toml.h"
#include "core/addr.h"
#include "core/limits.h"

typedef enum { T_STR, T_INT, T_BOOL, T_SWITCH, T_LIST } ctype_t;

/* Checks a key's text value beyond its type; writes why on failure. */
typedef bool (*check_fn)(const char *value, char *why, size_t whylen);

typedef struct {
    const char *key;  /* dotted config key */
    const char *flag; /* command-line flag */
    ctype_t type;
    size_t off;       /* field in conf_t; NOOFF = accepted, not implemented */
    int64_t min, max; /* integers only */
    check_fn check;   /* NULL = the type says it all */
    const char *meta; /* value placeholder in --help */
    const char *help;
    size_t count_off; /* lists: the size_t count next to the char ** at off */
} opt_t;

#define OFF(f) offsetof(conf_t, f)
#define NOOFF ((size_t)-1)
#define MS_MAX ((int64_t)1 << 40)
#define MAX_FILE (1 << 20)

static bool one_of(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(v, *allowed) == 0)
            return true;
    return false;
}

static bool check_level(const char *v, char *why, size_t n)
{
    static const char *const ok[] = {"trace", "debug", "info", "warn", "warning", "error", NULL};
    char low[16];
    size_t i = 0;
    for (; v[i] && i + 1 < sizeof low; i++)
        low[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
    low[i] = '\0';
    if (!v[i] && one_of(low, ok))
        return true;
    snprintf(why, n, "expected debug, info, warn or error");
    return false;
}

static bool check_log_format(const char *v, char *why, size_t n)
{
    static const char *const ok[] = {"text", "json", NULL};
    if (one_of(v, ok))
        return true;
    snprintf(why, n, "expected text or json");
    return false;
}

static bool check_nonempty(const char *v, char *why, size_t n)
{
    if (*v)
        return true;
    snprintf(why, n, "must not be empty");
    return false;
}

static bool check_bind(const char *v, char *why, size_t n)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
        return true;
    snprintf(why, n, "expected an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1 or ::");
    return false;
}

static bool check_url(const char *v, char *why, size_t n)
{
    bool ok = (strncmp(v, "http://", 7) == 0 && v[7]) || (strncmp(v, "https://", 8) == 0 && v[8]);
    for (const char *p = v; ok && *p; p++)
        ok = (unsigned char)*p > ' ' && *p != 0x7F;
    if (ok)
        return true;
    snprintf(why, n, "expected an http:// or https:// URL");
    return false;
}

/* The scheme of a URL ("mysql" of "mysql://..."): writes it to out and
 * returns true when v starts with one (RFC 3986: a letter, then letters,
 * digits, '+', '-' or '.', then "://"). */
static bool url_scheme(const char *v, char *out, size_t n)
{
    size_t i = 0;
    if (!((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= 'A' && v[0] <= 'Z')))
        return false;
    while ((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
           (v[i] >= '0' && v[i] <= '9') || v[i] == '+' || v[i] == '-' || v[i] == '.')
        i++;
    if (strncmp(v + i, "://", 3) != 0)
        return false;
    snprintf(out, n, "%.*s", (int)(i < 32 ? i : 32), v);
    return true;
}

/* Checks storage.postgres.url as libpq will read it (PQconnectdbParams with
 * expand_dbname): a postgres:// or postgresql:// URL, or key=value words;
 * any other scheme, or an address with no scheme (user:pass@host/db), would
 * be taken as a database name and only fail when connecting, in a message
 * that may quote the password. A bare word stays a database name, as libpq
 * has it. The value is never quoted back: it may hold a password. */
static bool check_postgres_url(const char *v, char *why, size_t n)
{
    static const char accepted[] =
        "give a postgres:// or postgresql:// URL (postgres://user:pass@host:5432/db) or "
        "key=value words (host=db.example.com dbname=resonate user=resonate)";
    char scheme[40];
    if (url_scheme(v, scheme, sizeof scheme)) {
        if (strcmp(scheme, "postgres") == 0 || strcmp(scheme, "postgresql") == 0)
            return true;
        snprintf(why, n, "its scheme is '%s://', which PostgreSQL does not take; %s", scheme,
                 accepted);
        return false;
    }
    if (strchr(v, '=') || !strpbrk(v, "@:/"))
        return true;
    snprintf(why, n, "it has no scheme (the value is not shown: it may hold a password); %s",
             accepted);
    return false;
}

static bool check_storage_type(const char *v, char *why, size_t n)
{
    if (strcmp(v, "sqlite") == 0 || strcmp(v, "postgres") == 0)
        return true;
    if (strcmp(v, "mysql") == 0)
        snprintf(why, n,
                 "the %s backend is not implemented by resonate-c; use 'sqlite' or "
                 "'postgres'",
                 v);
    else
        snprintf(why, n,
                 "unknown storage backend. Valid options are 'sqlite', 'postgres', and 'mysql' "
                 "(resonate-c implements 'sqlite' and 'postgres')");
    return false;
}

static bool check_gcps_enabled(const char *v, char *why, size_t n)
{
    if (strcmp(v, "true") != 0 && strcmp(v, "1") != 0)
        return true;
    snprintf(why, n, "the Google Cloud Pub/Sub transport is not implemented by resonate-c");
    return false;
}

static bool check_bash_enabled(const char *v, char *why, size_t n)
{
    if (strcmp(v, "true") != 0 && strcmp(v, "1") != 0)
        return true;
    snprintf(why, n, "the bash exec transport is not implemented by resonate-c");
    return false;
}

static bool check_push_auth_mode(const char *v, char *why, size_t n)
{
    if (strcmp(v, "none") == 0)
        return true;
    if (strcmp(v, "bearer") == 0 || strcmp(v, "gcp") == 0)
        snprintf(why, n,
                 "authenticated HTTP push ('%s') is not implemented by resonate-c; pushes are "
                 "sent without credentials, so only 'none' is accepted",
                 v);
    else
        snprintf(why, n, "expected none, bearer or gcp");
    return false;
}

static bool check_origin(const char *v, char *why, size_t n)
{
    if (strcmp(v, "*") == 0)
        return true;
    const char *sep = strstr(v, "://");
    bool ok = sep && sep > v && sep[3];
    for (const char *p = v; ok && *p; p++)
        ok = (unsigned char)*p > ' ' && *p != 0x7F && *p != ',';
    if (ok && strchr(sep + 3, '/')) {
        snprintf(why, n,
                 "'%s' is not an origin: an origin has no path (browsers send e.g. "
                 "https://app.example.com, without a trailing slash)",
                 v);
        return false;
    }
    if (ok)
        return true;
    snprintf(why, n, "'%s' is not an origin (expected scheme://host[:port], or *)", v);
    return false;
}

static bool check_push_allow(const char *v, char *why, size_t n)
{
    return addr_push_prefix_valid(v, why, n);
}

static const opt_t opts[] = {
    {"level", "--level", T_STR, OFF(level), 0, 0, check_level, "LEVEL",
     "log level: debug, info, warn or error"},
    {"log_format", "--log-format", T_STR, OFF(log_format), 0, 0, check_log_format, "FORMAT",
     "log lines as text, or json (one object per line, for log collectors)"},
    {"debug", "--debug", T_SWITCH, OFF(debug), 0, 0, NULL, NULL,
     "enable debug.* operations and head[\"resonate:debug_time\"]"},
    {"server.host", "--server-host", T_STR, OFF(server_host), 0, 0, check_nonempty, "HOST",
     "host name used to build the default server.url"},
    {"server.port", "--server-port", T_INT, OFF(server_port), 0, 65535, NULL, "PORT",
     "HTTP API port"},
    {"server.bind", "--server-bind", T_STR, OFF(server_bind), 0, 0, check_bind, "ADDR",
     "listen address of the API and of /metrics"},
    {"server.shutdown_timeout", "--server-shutdown-timeout", T_INT, OFF(server_shutdown_timeout), 0,
     MS_MAX, NULL, "MS", "on SIGTERM/SIGINT, exit within this many ms"},
    {"server.url", "--server-url", T_STR, OFF(server_url), 0, 0, check_url, "URL",
     "URL advertised to workers (default http://{host}:{port}, https:// with server.tls_cert)"},
    {"server.tls_cert", "--server-tls-cert", T_STR, OFF(server_tls_cert), 0, 0, check_nonempty,
     "FILE", "PEM certificate chain (server's first); with server.tls_key the API is HTTPS only"},
    {"server.tls_key", "--server-tls-key", T_STR, OFF(server_tls_key), 0, 0, check_nonempty, "FILE",
     "PEM private key of server.tls_cert (mode 600 or 640); SIGHUP reloads both"},
    {"server.max_body", "--server-max-body", T_INT, OFF(server_max_body), 1024, 1 << 30, NULL,
     "BYTES", "largest request body (larger: 413)"},
    {"server.threads", "--server-threads", T_INT, OFF(server_threads), 0, 1024, NULL, "N",
     "HTTP worker threads (0 = one per core)"},
    {"server.max_connections", "--server-max-connections", T_INT, OFF(server_max_connections), 1,
     1000000, NULL, "N", "most open HTTP connections (poll streams included)"},
    {"server.max_connections_per_ip", "--server-max-connections-per-ip", T_INT,
     OFF(server_max_connections_per_ip), 0, 1000000, NULL, "N",
     "most open HTTP connections from one client address (0 = no limit)"},
    {"server.request_timeout", "--server-request-timeout", T_INT, OFF(server_request_timeout), 0,
     MS_MAX, NULL, "MS",
     "a request's headers and body must arrive within this many ms (else 408; 0 = no deadline)"},
    {"limits.id_max_bytes", "--limits-id-max-bytes", T_INT, OFF(limits_id_max_bytes), 64, 1 << 20,
     NULL, "BYTES", "longest id, pid, address or expanded schedule promiseId (longer: 400)"},
    {"limits.tags_max_count", "--limits-tags-max-count", T_INT, OFF(limits_tags_max_count), 8,
     1 << 20, NULL, "N", "most entries in one tags or headers map (more: 400)"},
    {"limits.tag_key_max_bytes", "--limits-tag-key-max-bytes", T_INT, OFF(limits_tag_key_max_bytes),
     64, 1 << 20, NULL, "BYTES", "longest key of a tag or header (longer: 400)"},
    {"limits.tag_value_max_bytes", "--limits-tag-value-max-bytes", T_INT,
     OFF(limits_tag_value_max_bytes), 64, 1 << 30, NULL, "BYTES",
     "longest value of a tag or header, at least limits.id_max_bytes (longer: 400)"},
    {"limits.tags_max_bytes", "--limits-tags-max-bytes", T_INT, OFF(limits_tags_max_bytes), 64,
     1 << 30, NULL, "BYTES", "keys plus values of one tags or headers map (more: 400)"},
    {"limits.cron_max_bytes", "--limits-cron-max-bytes", T_INT, OFF(limits_cron_max_bytes), 16,
     1 << 20, NULL, "BYTES", "longest cron expression of a schedule (longer: 400)"},
    {"limits.listeners_per_promise", "--limits-listeners-per-promise", T_INT,
     OFF(limits_listeners_per_promise), 0, 1 << 30, NULL, "N",
     "most listeners of one pending promise (more: 429 until it settles; 0 = no limit)"},
    {"limits.settle_fanout_batch", "--limits-settle-fanout-batch", T_INT,
     OFF(limits_settle_fanout_batch), 0, 1 << 30, NULL, "N",
     "awaiters resumed (and listeners unblocked) per store transaction when a promise settles: "
     "the rest follow in background ticks (0 = all in the settle's own)"},
    {"server.cors.allow_origins", "--server-cors-allow-origin", T_LIST, OFF(cors_origins), 0, 0,
     check_origin, "ORIGIN",
     "allow browser calls from ORIGIN (repeatable; * = any); the flags replace the list",
     OFF(n_cors_origins)},
    {"ui.enabled", "--ui-enabled", T_BOOL, OFF(ui_enabled), 0, 0, NULL, "true|false",
     "serve the web console at GET /ui on the API port (it calls POST / like any client)"},
    {"storage.type", "--storage-type", T_STR, OFF(storage_type), 0, 0, check_storage_type, "TYPE",
     "storage backend: sqlite or postgres"},
    {"storage.sqlite.path", "--storage-sqlite-path", T_STR, OFF(storage_sqlite_path), 0, 0,
     check_nonempty, "PATH", "SQLite database file (:memory: = nothing kept)"},
    {"storage.sqlite.commit_interval_us", "--storage-sqlite-commit-interval-us", T_INT,
     OFF(storage_sqlite_commit_interval_us), 0, 1000000, NULL, "US",
     "while writers are concurrent, microseconds at least between the starts of two write "
     "transactions: requests arriving meanwhile share one commit and its fdatasync (0 = commit "
     "as soon as the last one ends; no effect on :memory:)"},
    {"storage.postgres.url", "--storage-postgres-url", T_STR, OFF(storage_postgres_url), 0, 0,
     check_nonempty, "URL",
     "PostgreSQL connection string (postgres://user:pass@host/db or key=value; with "
     "--storage-type postgres)"},
    {"storage.postgres.pool_size", "--storage-postgres-pool-size", T_INT,
     OFF(storage_postgres_pool_size), 1, 1024, NULL, "N",
     "PostgreSQL read connections at most (the store thread and the notification listener "
     "use one each besides)"},
    {"auth.publickey", "--auth-publickey", T_STR, OFF(auth_publickey), 0, 0, check_nonempty, "FILE",
     "public key file (PEM or JWKS), or none; enables JWT auth"},
    {"auth.iss", "--auth-iss", T_STR, OFF(auth_iss), 0, 0, NULL, "ISS", "required token issuer"},
    {"auth.aud", "--auth-aud", T_STR, OFF(auth_aud), 0, 0, NULL, "AUD", "required token audience"},
    {"auth.require_exp", "--auth-require-exp", T_BOOL, OFF(auth_require_exp), 0, 0, NULL,
     "true|false", "reject tokens without an exp claim"},
    {"auth.leeway", "--auth-leeway", T_INT, OFF(auth_leeway), 0, 86400, NULL, "SECONDS",
     "clock leeway for exp and nbf"},
    {"auth.revoked", "--auth-revoked", T_STR, OFF(auth_revoked), 0, 0, check_nonempty, "FILE",
     "revoked tokens, one a line: jti ID, sub SUBJECT, sub SUBJECT before UNIX-SECONDS; SIGHUP "
     "reloads it"},
    {"tasks.lease_timeout", "--tasks-lease-timeout", T_INT, OFF(tasks_lease_timeout), 1, MS_MAX,
     NULL, "MS", "accepted as the Rust server does; leases come from each request's ttl"},
    {"tasks.retry_timeout", "--tasks-retry-timeout", T_INT, OFF(tasks_retry_timeout), 1, MS_MAX,
     NULL, "MS", "ms before an undelivered pending task is dispatched again"},
    {"tasks.preload_max_count", "--tasks-preload-max-count", T_INT, OFF(tasks_preload_max_count), 1,
     1000000, NULL, "N", "most promises preloaded with a task (the worker fetches the rest)"},
    {"tasks.preload_max_bytes", "--tasks-preload-max-bytes", T_INT, OFF(tasks_preload_max_bytes),
     1024, 1 << 30, NULL, "BYTES", "largest preload sent with a task, encoded"},
    {"timeouts.poll_interval", "--timeouts-poll-interval", T_INT, OFF(timeouts_poll_interval), 1,
     MS_MAX, NULL, "MS", "ms between timeout and schedule scans"},
    {"messages.poll_interval", "--messages-poll-interval", T_INT, OFF(messages_poll_interval), 1,
     MS_MAX, NULL, "MS", "ms between outbox scans"},
    {"messages.batch_size", "--messages-batch-size", T_INT, OFF(messages_batch_size), 1, 100000,
     NULL, "N", "outbox rows per scan"},
    {"messages.max_attempts", "--messages-max-attempts", T_INT, OFF(messages_max_attempts), 1, 1000,
     NULL, "N", "failed deliveries before a message is dropped"},
    {"messages.retry_base", "--messages-retry-base", T_INT, OFF(messages_retry_base), 1, MS_MAX,
     NULL, "MS", "delay before the first retry of a failed delivery (doubles each time)"},
    {"messages.retry_max", "--messages-retry-max", T_INT, OFF(messages_retry_max), 1, MS_MAX, NULL,
     "MS", "longest delay between delivery retries"},
    {"messages.claim_ttl", "--messages-claim-ttl", T_INT, OFF(messages_claim_ttl), 100, MS_MAX,
     NULL, "MS",
     "storage.type postgres: how long a server's claim on a message lasts; a message held by a "
     "server that died is sent by another one after it"},
    {"transports.http_push.enabled", "--transports-http-push-enabled", T_BOOL,
     OFF(http_push_enabled), 0, 0, NULL, "true|false", "deliver to http:// addresses"},
    {"transports.http_push.concurrency", "--transports-http-push-concurrency", T_INT,
     OFF(http_push_concurrency), 1, 100000, NULL, "N", "concurrent pushes"},
    {"transports.http_push.connect_timeout", "--transports-http-push-connect-timeout", T_INT,
     OFF(http_push_connect_timeout), 1, MS_MAX, NULL, "MS", "push connect timeout"},
    {"transports.http_push.request_timeout", "--transports-http-push-request-timeout", T_INT,
     OFF(http_push_request_timeout), 1, MS_MAX, NULL, "MS", "push request timeout"},
    {"transports.http_push.allow", "--transports-http-push-allow", T_LIST, OFF(push_allow), 0, 0,
     check_push_allow, "URL",
     "with auth on, tokens without the admin role may name only push addresses starting with "
     "one of these URL prefixes (repeatable; default none); the flags replace the list",
     OFF(n_push_allow)},
    {"transports.http_push.cacert", "--transports-http-push-cacert", T_STR, OFF(push_cacert), 0, 0,
     check_nonempty, "FILE",
     "CA certificates (PEM) that https:// push targets are verified against (default: the "
     "system's)"},
    {"transports.http_poll.enabled", "--transports-http-poll-enabled", T_BOOL,
     OFF(http_poll_enabled), 0, 0, NULL, "true|false", "serve GET /poll/{group}/{id} (SSE)"},
    {"transports.http_poll.max_connections", "--transports-http-poll-max-connections", T_INT,
     OFF(http_poll_max_connections), 1, 1000000, NULL, "N", "most concurrent poll streams"},
    {"transports.http_poll.max_connections_per_tenant",
     "--transports-http-poll-max-connections-per-tenant", T_INT,
     OFF(http_poll_max_connections_per_tenant), 0, 1000000, NULL, "N",
     "most poll streams of one token prefix, else sub, else client address (0 = no limit)"},
    {"transports.http_poll.buffer_size", "--transports-http-poll-buffer-size", T_INT,
     OFF(http_poll_buffer_size), 1, 1000000, NULL, "N", "messages queued per poll stream"},
    {"transports.http_poll.buffer_bytes", "--transports-http-poll-buffer-bytes", T_INT,
     OFF(http_poll_buffer_bytes), 1024, (int64_t)1 << 40, NULL, "BYTES",
     "bytes queued per poll stream; a stream that would pass it is closed (messages retried)"},
    {"transports.http_poll.total_buffer_bytes", "--transports-http-poll-total-buffer-bytes", T_INT,
     OFF(http_poll_total_buffer_bytes), 1024, (int64_t)1 << 40, NULL, "BYTES",
     "bytes queued over all poll streams (messages past it are retried later)"},
    {"transports.http_poll.keepalive", "--transports-http-poll-keepalive", T_INT,
     OFF(http_poll_keepalive), 100, MS_MAX, NULL, "MS",
     "ms between keep-alive rounds on poll streams (a stream idle for half of it gets a comment)"},
    {"observability.metrics_port", "--observability-metrics-port", T_INT, OFF(metrics_port), 0,
     65535, NULL, "PORT", "Prometheus /metrics port (0 disables)"},
    {"observability.metrics_tls_cert", "--observability-metrics-tls-cert", T_STR,
     OFF(metrics_tls_cert), 0, 0, check_nonempty, "FILE",
     "PEM certificate chain for /metrics; with metrics_tls_key /metrics is HTTPS only"},
    {"observability.metrics_tls_key", "--observability-metrics-tls-key", T_STR,
     OFF(metrics_tls_key), 0, 0, check_nonempty, "FILE", "PEM private key of metrics_tls_cert"},

    /* The Rust server's keys for features resonate-c does not have. */
    {"storage.mysql.url", "--storage-mysql-url", T_STR, NOOFF, 0, 0, NULL, "URL",
     "MySQL backend (the flag is an error: it selects MySQL)"},
    {"storage.mysql.pool_size", "--storage-mysql-pool-size", T_INT, NOOFF, 0, UINT32_MAX, NULL, "N",
     "MySQL backend"},
    {"transports.http_push.auth.mode", "--transports-http-push-auth-mode", T_STR, NOOFF, 0, 0,
     check_push_auth_mode, "MODE", "outbound push credentials (only none)"},
    {"transports.http_push.auth.token", "--transports-http-push-auth-token", T_STR, NOOFF, 0, 0,
     NULL, "TOKEN", "outbound push credentials"},
    {"transports.http_push.auth.audience", "--transports-http-push-auth-aud", T_STR, NOOFF, 0, 0,
     NULL, "AUD", "outbound push credentials"},
    {"transports.http_push.auth.header", "--transports-http-push-auth-header", T_STR, NOOFF, 0, 0,
     NULL, "NAME", "outbound push credentials"},
    {"transports.gcps.enabled", "--transports-gcps-enabled", T_BOOL, NOOFF, 0, 0,
     check_gcps_enabled, "true|false", "Pub/Sub transport (only false)"},
    {"transports.gcps.project", "--transports-gcps-project", T_STR, NOOFF, 0, 0, NULL, "PROJECT",
     "Pub/Sub transport"},
    {"transports.gcps.concurrency", "--transports-gcps-concurrency", T_INT, NOOFF, 1, 100000, NULL,
     "N", "Pub/Sub transport"},
    {"transports.gcps.timeout", "--transports-gcps-timeout", T_INT, NOOFF, 0, MS_MAX, NULL, "MS",
     "Pub/Sub transport"},
    {"transports.bash_exec.enabled", "--transports-bash-exec-enabled", T_BOOL, NOOFF, 0, 0,
     check_bash_enabled, "true|false", "bash exec transport (only false)"},
    {"observability.otlp_endpoint", "--observability-otlp-endpoint", T_STR, NOOFF, 0, 0, NULL,
     "ENDPOINT", "OpenTelemetry export (the Rust server ignores it too)"},
};

#define N_OPTS (sizeof opts / sizeof *opts)

static size_t opt_index(const opt_t *o)
{
    return (size_t)(o - opts);
}

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

static void set_source(conf_t *c, const opt_t *o, const char *source)
{
    if (!c->sources)
        return;
    size_t i = opt_index(o);
    free(c->sources[i]);
    c->sources[i] = source ? strdup(source) : NULL;
}

static char ***list_at(conf_t *c, const opt_t *o)
{
    return (char ***)((char *)c + o->off);
}

static size_t *count_at(conf_t *c, const opt_t *o)
{
    return (size_t *)((char *)c + o->count_off);
}

static void free_list(conf_t *c, const opt_t *o)
{
    toml_free_strings(*list_at(c, o), *count_at(c, o));
    *list_at(c, o) = NULL;
    *count_at(c, o) = 0;
}

void conf_defaults(conf_t *c, bool dev)
{
    memset(c, 0, sizeof *c);
    c->level = strdup("info");
    c->log_format = strdup("text");
    c->server_host = strdup("localhost");
    c->server_port = 8001;
    c->server_bind = strdup("0.0.0.0");
    c->server_shutdown_timeout = 10000;
    c->server_max_body = 2 * 1024 * 1024;
    c->server_max_connections = 20000;
    c->server_max_connections_per_ip = 1000;
    c->server_request_timeout = 30000;
    c->limits_id_max_bytes = LIMITS_ID_MAX_BYTES;
    c->limits_tags_max_count = LIMITS_TAGS_MAX_COUNT;
    c->limits_tag_key_max_bytes = LIMITS_TAG_KEY_MAX_BYTES;
    c->limits_tag_value_max_bytes = LIMITS_TAG_VALUE_MAX_BYTES;
    c->limits_tags_max_bytes = LIMITS_TAGS_MAX_BYTES;
    c->limits_cron_max_bytes = LIMITS_CRON_MAX_BYTES;
    c->limits_listeners_per_promise = LIMITS_LISTENERS_PER_PROMISE;
    c->limits_settle_fanout_batch = LIMITS_SETTLE_FANOUT_BATCH;
    c->storage_type = strdup("sqlite");
    c->storage_sqlite_path = strdup(dev ? ":memory:" : "resonate.db");
    c->ui_enabled = dev;
    c->storage_postgres_pool_size = 10;
    c->storage_sqlite_commit_interval_us = 1000;
    c->auth_require_exp = true;
    c->auth_leeway = 60;
    c->tasks_lease_timeout = 15000;
    c->tasks_retry_timeout = 30000;
    c->tasks_preload_max_count = 1000;
    c->tasks_preload_max_bytes = 1024 * 1024;
    c->timeouts_poll_interval = 1000;
    c->messages_poll_interval = 100;
    c->messages_batch_size = 100;
    c->messages_max_attempts = 10;
    c->messages_retry_base = 500;
    c->messages_retry_max = 30000;
    c->messages_claim_ttl = 30000;
    c->http_push_enabled = true;
    c->http_push_concurrency = 256;
    c->http_push_connect_timeout = 10000;
    c->http_push_request_timeout = 180000;
    c->http_poll_enabled = true;
    c->http_poll_max_connections = 1000;
    c->http_poll_max_connections_per_tenant = 100;
    c->http_poll_buffer_size = 100;
    c->http_poll_buffer_bytes = 8 * 1024 * 1024;
    c->http_poll_total_buffer_bytes = 128 * 1024 * 1024;
    c->http_poll_keepalive = 15000;
    c->metrics_port = 9090;
    c->sources = calloc(N_OPTS, sizeof *c->sources);
}

void conf_free(conf_t *c)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        if (opts[i].type == T_STR && opts[i].off != NOOFF)
            set_str(c, &opts[i], NULL);
        if (opts[i].type == T_LIST)
            free_list(c, &opts[i]);
    }
    if (c->sources)
        for (size_t i = 0; i < N_OPTS; i++)
            free(c->sources[i]);
    free(c->sources);
    c->sources = NULL;
    toml_free_strings(c->warnings, c->n_warnings);
    c->warnings = NULL;
    c->n_warnings = 0;
    free(c->config_file);
    c->config_file = NULL;
}

static void add_warning(conf_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_warning(conf_t *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char **nw = realloc(c->warnings, (c->n_warnings + 1) * sizeof *nw);
    if (!nw)
        return;
    c->warnings = nw;
    if ((c->warnings[c->n_warnings] = strdup(msg)))
        c->n_warnings++;
}

static const opt_t *find_key(const char *key)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

/* Edit distance, capped: enough to suggest a key for a typo. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* " (did you mean 'server.port'?)" for a near miss, else "". */
static void suggest(const char *key, char *out, size_t outlen)
{
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < N_OPTS; i++) {
        size_t d = distance(key, opts[i].key);
        if (d < bd) {
            bd = d;
            best = opts[i].key;
        }
    }
    if (best)
        snprintf(out, outlen, " (did you mean '%s'?)", best);
    else
        out[0] = '\0';
}

static int set_list(conf_t *c, const opt_t *o, const char *value, const char *source, char *err,
                    size_t errlen)
{
    char **items = NULL;
    size_t n = 0;
    char why[256];
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '[') {
        if (toml_parse_string_array(p, &items, &n, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: invalid value for %s: %s", source, o->key, why);
            return -1;
        }
    } else {
        /* Comma-separated, for environment variables and hand-typed values. */
        for (const char *s = p; *s;) {
            const char *e = strchr(s, ',');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
                len--;
            char **ni = len ? realloc(items, (n + 1) * sizeof *ni) : items;
            if (len && ni) {
                items = ni;
                if ((items[n] = strndup(s, len)))
                    n++;
            }
            if (!e)
                break;
            s = e + 1;
            while (*s == ' ' || *s == '\t')
                s++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (o->check && !o->check(items[i], why, sizeof why)) {
            snprintf(err, errlen, "%s: invalid value for %s: %s", source, o->key, why);
            toml_free_strings(items, n);
            return -1;
        }
    }
    free_list(c, o);
    *list_at(c, o) = items;
    *count_at(c, o) = n;
    return 0;
}

static bool parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return false;
    return true;
}

int conf_set(conf_t *c, const char *key, const char *value, const char *source, char *err,
             size_t errlen)
{
    const opt_t *o = find_key(key);
    char why[320];
    if (!o) {
        char hint[96];
        suggest(key, hint, sizeof hint);
        snprintf(err, errlen, "%s: unknown configuration key '%s'%s", source, key, hint);
        return -1;
    }
    if (o->off == NOOFF && strcmp(key, "storage.mysql.url") == 0 &&
        strncmp(source, "flag ", 5) == 0) {
        snprintf(err, errlen,
                 "%s: the MySQL backend is not implemented by resonate-c (this flag selects it)",
                 source);
        return -1;
    }
    /* Values that ask nothing of an unimplemented feature leave no trace. */
    bool quiet = false;
    switch (o->type) {
    case T_LIST:
        if (set_list(c, o, value, source, err, errlen) != 0)
            return -1;
        break;
    case T_STR:
        if (o->check && !o->check(value, why, sizeof why))
            goto invalid;
        if (o->off != NOOFF)
            set_str(c, o, value);
        quiet = strcmp(value, "none") == 0 && strcmp(key, "transports.http_push.auth.mode") == 0;
        break;
    case T_INT: {
        errno = 0;
        char *end = NULL;
        long long v = strtoll(value, &end, 10);
        if (errno || !end || end == value || *end || v < o->min || v > o->max) {
            snprintf(why, sizeof why, "expected an integer from %lld to %lld", (long long)o->min,
                     (long long)o->max);
            goto invalid;
        }
        if (o->off != NOOFF)
            *(int64_t *)((char *)c + o->off) = v;
        break;
    }
    case T_BOOL:
    case T_SWITCH: {
        bool b;
        if (!parse_bool(value, &b)) {
            snprintf(why, sizeof why, "expected true or false");
            goto invalid;
        }
        if (o->check && !o->check(value, why, sizeof why))
            goto invalid;
        if (o->off != NOOFF)
            *(bool *)((char *)c + o->off) = b;
        quiet = !b;
        break;
    }
    }
    set_source(c, o, o->off == NOOFF && quiet ? NULL : source);
    return 0;
invalid:
    snprintf(err, errlen, "%s: invalid value '%s' for %s: %s", source, value, key, why);
    return -1;
}

/* Reads the configuration file named by --config (or found by the search)
 * into a NUL-terminated buffer of at most MAX_FILE bytes. */
static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read configuration file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        /* fopen opens a directory; only the read would fail, as "read error" */
        int n = (int)strlen(path);
        while (n > 0 && path[n - 1] == '/')
            n--;
        snprintf(err, errlen,
                 "configuration file %s is a directory, not a file: give --config the TOML file "
                 "itself (e.g. %.*s/resonate.toml)",
                 path, n, path);
        fclose(f);
        return -1;
    }
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > MAX_FILE) {
        snprintf(err, errlen, "cannot read configuration file %s: %s", path,
                 bad ? "read error" : "larger than 1 MiB");
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static const char *expected_type(ctype_t t)
{
    switch (t) {
    case T_STR:
        return "a string";
    case T_INT:
        return "an integer";
    case T_BOOL:
    case T_SWITCH:
        return "a boolean (true or false)";
    case T_LIST:
        return "an array of strings";
    }
    return "a value";
}

static bool type_fits(ctype_t t, toml_type_t v)
{
    switch (t) {
    case T_STR:
        return v == TOML_STRING;
    case T_INT:
        return v == TOML_INT;
    case T_BOOL:
    case T_SWITCH:
        return v == TOML_BOOL;
    case T_LIST:
        return v == TOML_ARRAY;
    }
    return false;
}

int conf_load_file(conf_t *c, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    toml_doc_t doc;
    int rc = -1;
    if (read_file(path, &text, &len, err, errlen) != 0)
        return -1;
    if (toml_parse(text, len, path, &doc, err, errlen) != 0)
        goto cleanup;
    for (size_t i = 0; i < doc.n; i++) {
        const toml_entry_t *e = &doc.v[i];
        char source[PATH_MAX + 32];
        snprintf(source, sizeof source, "%s:%d", path, e->line);
        const opt_t *o = find_key(e->key);
        if (!o) {
            char hint[96];
            suggest(e->key, hint, sizeof hint);
            snprintf(err, errlen, "%s: unknown configuration key '%s'%s", source, e->key, hint);
            goto fail;
        }
        if (!type_fits(o->type, e->type)) {
            snprintf(err, errlen, "%s: invalid value for %s: expected %s, found %s", source, e->key,
                     expected_type(o->type), toml_type_name(e->type));
            goto fail;
        }
        char num[32];
        char *owned = NULL;
        const char *text_value = num;
        if (e->type == TOML_STRING)
            text_value = e->str;
        else if (e->type == TOML_INT)
            snprintf(num, sizeof num, "%lld", (long long)e->i);
        else if (e->type == TOML_BOOL)
            text_value = e->b ? "true" : "false";
        else if (!(text_value = owned = toml_encode_string_array(e->items, e->nitems))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        int set = conf_set(c, e->key, text_value, source, err, errlen);
        free(owned);
        if (set != 0)
            goto fail;
    }
    rc = 0;
fail:
    toml_free(&doc);
cleanup:
    free(text);
    return rc;
}

bool conf_find_file(const char *dir, char *out, size_t outlen)
{
    char d[PATH_MAX];
    if (snprintf(d, sizeof d, "%s", dir) >= (int)sizeof d)
        return false;
    for (;;) {
        size_t n = strlen(d);
        while (n > 1 && d[n - 1] == '/')
            d[--n] = '\0';
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s%sresonate.toml", d, strcmp(d, "/") == 0 ? "" : "/");
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            snprintf(out, outlen, "%s", path);
            return true;
        }
        char *slash = strrchr(d, '/');
        if (!slash || strcmp(d, "/") == 0)
            return false;
        if (slash == d)
            d[1] = '\0';
        else
            *slash = '\0';
    }
}

/* The first components of the dotted keys ("server", "storage", ...). */
static bool is_section(const char *name, size_t n)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        const char *dot = strchr(opts[i].key, '.');
        if (dot && (size_t)(dot - opts[i].key) == n && strncmp(opts[i].key, name, n) == 0)
            return true;
    }
    return false;
}

/* RESONATE_* variables. Other programs use the prefix too (the SDK's
 * RESONATE_URL, RESONATE_TOKEN, ...): a variable without `__` that names
 * neither a key nor a section is theirs and is left alone. One that looks
 * like ours but is misspelt is an error, since ignoring it would silently
 * run with a different configuration. */
static int load_env(conf_t *c, char *const *envp, char *err, size_t errlen)
{
    for (; envp && *envp; envp++) {
        const char *kv = *envp;
        const char *eq = strchr(kv, '=');
        if (!eq || strncasecmp(kv, "RESONATE_", 9) != 0)
            continue;
        char name[256], key[256];
        size_t nl = (size_t)(eq - kv);
        if (nl >= sizeof name)
            continue;
        memcpy(name, kv, nl);
        name[nl] = '\0';
        size_t k = 0;
        bool nested = false;
        for (const char *p = name + 9; *p && k + 1 < sizeof key; p++) {
            if (p[0] == '_' && p[1] == '_') {
                key[k++] = '.';
                p++;
                nested = true;
            } else {
                key[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            }
        }
        key[k] = '\0';
        const char *value = eq + 1;
        char source[300];
        snprintf(source, sizeof source, "environment %s", name);
        const opt_t *o = find_key(key);
        if (!o) {
            const char *under = strchr(key, '_');
            bool ours = nested || is_section(key, strlen(key)) ||
                        (under && is_section(key, (size_t)(under - key)));
            if (!ours)
                continue;
            if (!nested && is_section(key, strlen(key))) {
                snprintf(err, errlen,
                         "%s: '%s' is a section, not a value; set its keys, e.g. "
                         "RESONATE_%s__...",
                         source, key, name + 9);
                return -1;
            }
            /* RESONATE_SERVER_PORT for RESONATE_SERVER__PORT */
            for (size_t i = 0; i < N_OPTS; i++) {
                char flat[128];
                snprintf(flat, sizeof flat, "%s", opts[i].key);
                for (char *p = flat; *p; p++)
                    if (*p == '.')
                        *p = '_';
                if (strcmp(flat, key) == 0) {
                    char want[160];
                    size_t w = 0;
                    for (const char *p = opts[i].key; *p && w + 3 < sizeof want; p++) {
                        if (*p == '.') {
                            want[w++] = '_';
                            want[w++] = '_';
                        } else {
                            want[w++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
                        }
                    }
                    want[w] = '\0';
                    snprintf(err, errlen,
                             "%s: unknown configuration key '%s'; nested keys are separated "
                             "by a double underscore: RESONATE_%s",
                             source, key, want);
                    return -1;
                }
            }
            char hint[96];
            suggest(key, hint, sizeof hint);
            snprintf(err, errlen, "%s: unknown configuration key '%s'%s", source, key, hint);
            return -1;
        }
        char *unquoted = NULL;
        if (o->type == T_STR && (value[0] == '"' || value[0] == '\'')) {
            char why[256];
            unquoted = toml_parse_string(value, why, sizeof why);
            if (!unquoted) {
                snprintf(err, errlen, "%s: invalid value for %s: %s", source, key, why);
                return -1;
            }
            value = unquoted;
        }
        int rc = conf_set(c, key, value, source, err, errlen);
        free(unquoted);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static const opt_t *find_flag(const char *flag, size_t n)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strlen(opts[i].flag) == n && strncmp(opts[i].flag, flag, n) == 0)
            return &opts[i];
    /* The older Go server's name for the key file (DECISIONS.md #12). */
    if (n == strlen("--api-auth-public-key") && strncmp(flag, "--api-auth-public-key", n) == 0)
        return find_key("auth.publickey");
    return NULL;
}

typedef struct {
    const opt_t *o;
    const char *value;
    char flag[64];
    char **items; /* a list flag: every value given, in order */
    size_t nitems;
} pending_t;

static void append_item(char ***list, size_t *n, const char *v)
{
    char **nl = realloc(*list, (*n + 1) * sizeof *nl);
    if (!nl)
        return;
    *list = nl;
    if ((nl[*n] = strdup(v)))
        (*n)++;
}

conf_status_t conf_load(conf_t *c, const conf_sources_t *src, char *err, size_t errlen)
{
    conf_defaults(c, src->dev);
    conf_status_t st = CONF_EUSAGE;
    pending_t *pend = calloc((size_t)src->argc + 1, sizeof *pend);
    size_t np = 0;
    const char *config = NULL;
    if (!pend) {
        snprintf(err, errlen, "out of memory");
        return CONF_ECONFIG;
    }
    for (int i = 0; i < src->argc; i++)
        if (strcmp(src->argv[i], "--help") == 0 || strcmp(src->argv[i], "-h") == 0) {
            st = CONF_HELP;
            goto cleanup;
        }

    /* Flags are read first, so a mistyped command line is reported before
     * any file is opened, but applied last. */
    for (int i = 0; i < src->argc; i++) {
        const char *arg = src->argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", arg);
            goto cleanup;
        }
        const char *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        bool is_config = n == strlen("--config") && strncmp(arg, "--config", n) == 0;
        const opt_t *o = is_config ? NULL : find_flag(arg, n);
        if (!o && !is_config) {
            snprintf(err, errlen, "unknown flag '%.*s' (see --help)", (int)n, arg);
            goto cleanup;
        }
        const char *value;
        if (o && o->type == T_SWITCH && !eq) {
            value = "true";
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < src->argc && strncmp(src->argv[i + 1], "--", 2) != 0) {
            value = src->argv[++i];
        } else {
            snprintf(err, errlen, "flag %.*s needs a value", (int)n, arg);
            goto cleanup;
        }
        if (is_config) {
            config = value;
        } else if (o->type == T_LIST) {
            /* Repeatable: the values of one list flag form one entry. */
            size_t k = 0;
            while (k < np && pend[k].o != o)
                k++;
            if (k == np) {
                pend[np].o = o;
                snprintf(pend[np].flag, sizeof pend[np].flag, "%.*s", (int)n, arg);
                np++;
            }
            append_item(&pend[k].items, &pend[k].nitems, value);
        } else {
            pend[np].o = o;
            pend[np].value = value;
            snprintf(pend[np].flag, sizeof pend[np].flag, "%.*s", (int)n, arg);
            np++;
        }
    }

    st = CONF_ECONFIG;
    char found[PATH_MAX + 16];
    if (config) {
        snprintf(found, sizeof found, "%s", config);
    } else {
        char cwd[PATH_MAX];
        const char *dir = src->search_dir ? src->search_dir : getcwd(cwd, sizeof cwd);
        if (!dir || !conf_find_file(dir, found, sizeof found))
            found[0] = '\0';
    }
    if (found[0]) {
        if (conf_load_file(c, found, err, errlen) != 0)
            goto cleanup;
        c->config_file = strdup(found);
    }
    if (load_env(c, src->envp, err, errlen) != 0)
        goto cleanup;

    st = CONF_EUSAGE;
    bool path_flag = false, type_flag = false;
    for (size_t i = 0; i < np; i++) {
        char source[96];
        snprintf(source, sizeof source, "flag %s", pend[i].flag);
        char *list = NULL;
        if (pend[i].o->type == T_LIST &&
            !(list = toml_encode_string_array(pend[i].items, pend[i].nitems))) {
            snprintf(err, errlen, "out of memory");
            goto cleanup;
        }
        int rc = conf_set(c, pend[i].o->key, list ? list : pend[i].value, source, err, errlen);
        free(list);
        if (rc != 0)
            goto cleanup;
        path_flag |= strcmp(pend[i].o->key, "storage.sqlite.path") == 0;
        type_flag |= strcmp(pend[i].o->key, "storage.type") == 0;
    }
    /* `dev` never touches a file unless told to on the command line
     * (operations.md §1.3), nor a PostgreSQL database (issue 12). */
    if (src->dev && !path_flag) {
        const opt_t *o = find_key("storage.sqlite.path");
        set_str(c, o, ":memory:");
        set_source(c, o, "dev");
    }
    if (src->dev && !type_flag && strcmp(c->storage_type, "sqlite") != 0) {
        const opt_t *o = find_key("storage.type");
        set_str(c, o, "sqlite");
        set_source(c, o, "dev");
    }

    st = CONF_ECONFIG;
    static const char *const auth_keys[] = {"auth.iss", "auth.aud", "auth.revoked"};
    for (size_t i = 0; i < sizeof auth_keys / sizeof *auth_keys; i++) {
        const char *from = conf_source(c, auth_keys[i]);
        if (!c->auth_publickey && from && strcmp(from, "default") != 0) {
            snprintf(err, errlen,
                     "%s: %s is set but auth.publickey is not, so no token would be checked; "
                     "set auth.publickey (a key file, or none)",
                     from, auth_keys[i]);
            goto cleanup;
        }
    }
    /* A certificate without its key (or the reverse) would silently serve
     * plain HTTP. */
    static const char *const pairs[][2] = {
        {"server.tls_cert", "server.tls_key"},
        {"observability.metrics_tls_cert", "observability.metrics_tls_key"}};
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        const char *a = conf_source(c, pairs[i][0]), *b = conf_source(c, pairs[i][1]);
        bool has_a = a && strcmp(a, "default") != 0, has_b = b && strcmp(b, "default") != 0;
        if (has_a != has_b) {
            snprintf(err, errlen, "%s: %s is set but %s is not; set both (or neither)",
                     has_a ? a : b, pairs[i][has_a ? 0 : 1], pairs[i][has_a ? 1 : 0]);
            goto cleanup;
        }
    }
    if (strcmp(c->storage_type, "postgres") == 0 && !c->storage_postgres_url) {
        snprintf(err, errlen,
                 "%s: storage.type is postgres but storage.postgres.url is not set; set it "
                 "(--storage-postgres-url postgres://user:pass@host/db)",
                 conf_source(c, "storage.type"));
        goto cleanup;
    }
    char pg_why[320];
    if (strcmp(c->storage_type, "postgres") == 0 &&
        !check_postgres_url(c->storage_postgres_url, pg_why, sizeof pg_why)) {
        snprintf(err, errlen, "%s: storage.postgres.url is not a PostgreSQL connection string: %s",
                 conf_source(c, "storage.postgres.url"), pg_why);
        goto cleanup;
    }
    /* resonate:origin/branch/parent carry ids and resonate:target an
     * address: a tag value must be able to hold any id that is allowed. */
    if (c->limits_tag_value_max_bytes < c->limits_id_max_bytes) {
        snprintf(err, errlen,
                 "%s: limits.tag_value_max_bytes (%lld) is less than limits.id_max_bytes (%lld) "
                 "set by %s; tags such as resonate:origin hold ids, so raise it to at least %lld",
                 conf_source(c, "limits.tag_value_max_bytes"),
                 (long long)c->limits_tag_value_max_bytes, (long long)c->limits_id_max_bytes,
                 conf_source(c, "limits.id_max_bytes"), (long long)c->limits_id_max_bytes);
        goto cleanup;
    }
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].off == NOOFF && c->sources[i])
            add_warning(c, "%s (%s) is not implemented by resonate-c and is ignored", opts[i].key,
                        c->sources[i]);
    st = CONF_OK;
cleanup:
    for (size_t i = 0; i < np; i++)
        toml_free_strings(pend[i].items, pend[i].nitems);
    free(pend);
    return st;
}

const char *conf_source(const conf_t *c, const char *key)
{
    const opt_t *o = find_key(key);
    if (!o)
        return NULL;
    const char *s = c->sources ? c->sources[opt_index(o)] : NULL;
    return s ? s : "default";
}

/* The value of o in c as text. */
static void format_value(const conf_t *c, const opt_t *o, char *buf, size_t n)
{
    const char *base = (const char *)c;
    switch (o->type) {
    case T_STR: {
        const char *s = *(char *const *)(base + o->off);
        snprintf(buf, n, "%s", s ? s : "(unset)");
        break;
    }
    case T_INT:
        snprintf(buf, n, "%lld", (long long)*(const int64_t *)(base + o->off));
        break;
    case T_BOOL:
    case T_SWITCH:
        snprintf(buf, n, "%s", *(const bool *)(base + o->off) ? "true" : "false");
        break;
    case T_LIST: {
        char *s = toml_encode_string_array(*(char **const *)(base + o->off),
                                           *(const size_t *)(base + o->count_off));
        snprintf(buf, n, "%s", s ? s : "[]");
        free(s);
        break;
    }
    }
}

void conf_each(const conf_t *c,
               void (*fn)(const char *key, const char *value, const char *source, void *arg),
               void *arg)
{
    char buf[512];
    for (size_t i = 0; i < N_OPTS; i++) {
        if (opts[i].off == NOOFF)
            continue;
        format_value(c, &opts[i], buf, sizeof buf);
        fn(opts[i].key, buf, conf_source(c, opts[i].key), arg);
    }
}

#define HELP_WIDTH 100
#define HELP_COL 40

/* One help entry: left column, then text wrapped at HELP_WIDTH. */
static void help_entry(void (*out)(const char *line, void *arg), void *arg, const char *left,
                       const char *text)
{
    char line[HELP_WIDTH + 64];
    int n = snprintf(line, sizeof line, "  %-*s ", HELP_COL - 3, left);
    if (n > HELP_COL) {
        out(line, arg);
        n = snprintf(line, sizeof line, "%*s", HELP_COL, "");
    }
    const char *p = text;
    while (*p) {
        size_t room = HELP_WIDTH - (size_t)n, len = strlen(p);
        size_t take = len;
        if (len > room) {
            take = room;
            while (take > 0 && p[take] != ' ')
                take--;
            if (take == 0)
                take = room;
        }
        snprintf(line + n, sizeof line - (size_t)n, "%.*s", (int)take, p);
        out(line, arg);
        p += take;
        while (*p == ' ')
            p++;
        n = snprintf(line, sizeof line, "%*s", HELP_COL, "");
    }
}

/* Flags of serve and dev that are not keys of the table. */
static const struct {
    const char *flag;
    char shrt;
    const char *meta;
    const char *help;
} extra_flags[] = {
    {"--config", 0, "FILE",
     "read FILE instead of the first resonate.toml found in the working directory or a parent"},
    {"--api-auth-public-key", 0, "FILE", "alias of --auth-publickey (the older Go server's name)"},
    {"--help", 'h', NULL, "print this help"},
};

void conf_each_flag(void (*fn)(const conf_flag_t *flag, void *arg), void *arg)
{
    static const char *const type_names[] = {[T_STR] = "string",
                                             [T_INT] = "integer",
                                             [T_BOOL] = "boolean",
                                             [T_SWITCH] = "boolean",
                                             [T_LIST] = "list of strings"};
    conf_t d;
    conf_defaults(&d, false);
    char def[128];
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < N_OPTS; i++) {
            const opt_t *o = &opts[i];
            if ((o->off == NOOFF) != (pass == 1))
                continue;
            def[0] = '\0';
            if (o->off != NOOFF && o->type != T_SWITCH && o->type != T_LIST) {
                char v[96];
                format_value(&d, o, v, sizeof v);
                if (strcmp(o->key, "storage.sqlite.path") == 0)
                    snprintf(def, sizeof def, "serve %s, dev :memory:", v);
                else if (strcmp(o->key, "ui.enabled") == 0)
                    snprintf(def, sizeof def, "serve false, dev true");
                else if (strcmp(v, "(unset)") != 0)
                    snprintf(def, sizeof def, "%s", v);
            }
            conf_flag_t f = {.key = o->key,
                             .flag = o->flag,
                             .meta = o->meta,
                             .help = o->help,
                             .type = type_names[o->type],
                             .def = def,
                             .min = o->type == T_INT ? o->min : 0,
                             .max = o->type == T_INT ? o->max : 0,
                             .implemented = o->off != NOOFF,
                             .repeatable = o->type == T_LIST};
            fn(&f, arg);
        }
        for (size_t i = 0; pass == 0 && i < sizeof extra_flags / sizeof *extra_flags; i++) {
            conf_flag_t f = {.flag = extra_flags[i].flag,
                             .shrt = extra_flags[i].shrt,
                             .meta = extra_flags[i].meta,
                             .help = extra_flags[i].help,
                             .def = "",
                             .implemented = true};
            fn(&f, arg);
        }
    }
    conf_free(&d);
}

typedef struct {
    void (*out)(const char *line, void *arg);
    void *arg;
    bool compat_shown;
} print_state_t;

static void print_flag(const conf_flag_t *f, void *arg)
{
    print_state_t *ps = arg;
    if (!f->implemented && !ps->compat_shown) {
        ps->compat_shown = true;
        ps->out("", ps->arg);
        ps->out("Accepted for compatibility with the Rust server, not implemented: setting one",
                ps->arg);
        ps->out("only logs a warning; turning the feature on (storage type mysql,", ps->arg);
        ps->out("--storage-mysql-url, gcps/bash_exec enabled, push auth mode other than none) is",
                ps->arg);
        ps->out("an error.", ps->arg);
    }
    char shrt[8] = "", left[96], text[512];
    if (f->shrt)
        snprintf(shrt, sizeof shrt, "-%c, ", f->shrt);
    snprintf(left, sizeof left, "%s%s%s%s", shrt, f->flag, f->meta ? " " : "",
             f->meta ? f->meta : "");
    snprintf(text, sizeof text, "%s%s%s%s", f->help, f->def[0] ? " [default: " : "", f->def,
             f->def[0] ? "]" : "");
    help_entry(ps->out, ps->arg, left, text);
}

void conf_print_flags(void (*out)(const char *line, void *arg), void *arg)
{
    print_state_t ps = {.out = out, .arg = arg};
    conf_each_flag(print_flag, &ps);
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
