/* config.h - the server's configuration and where each value came from.
 *
 * One table (conf/config.c) lists every key with its type, default, flag and
 * help text; every source (built-in defaults, resonate.toml, RESONATE_*
 * environment, command-line flags) writes through conf_set so validation
 * and error messages are identical whatever the source. Key names are the
 * Rust server's (operations.md §1.2, §2.4).
 *
 * Layers, later wins: defaults < resonate.toml (--config FILE, else the
 * first resonate.toml in the working directory or a parent) < RESONATE_*
 * environment (`__` separates nesting levels) < flags. `dev` then forces
 * storage.sqlite.path to :memory: unless the flag gave one.
 *
 * Keys of the Rust server that resonate-c does not implement (Postgres,
 * MySQL, Pub/Sub and bash transports, outbound push auth, OTLP) are
 * accepted with a warning as long as their value asks for nothing: turning
 * one of those features on is an error, so nothing is silently not done. */
#ifndef RESONATE_CONFIG_H
#define RESONATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *level;      /* debug, info, warn, error */
    char *log_format; /* text or json */
    bool debug;
    char *server_host;
    int64_t server_port;
    char *server_bind;
    int64_t server_shutdown_timeout;
    char *server_url;      /* NULL: http://{host}:{port} */
    char *server_tls_cert; /* PEM chain; with server_tls_key: HTTPS only */
    char *server_tls_key;
    int64_t server_max_body;
    int64_t limits_id_max_bytes; /* [limits]: see core/limits.h */
    int64_t limits_tags_max_count;
    int64_t limits_tag_key_max_bytes;
    int64_t limits_tag_value_max_bytes;
    int64_t limits_tags_max_bytes;
    int64_t limits_cron_max_bytes;
    int64_t limits_listeners_per_promise;  /* 0 = no limit; enforced by the engine */
    int64_t limits_settle_fanout_batch;    /* 0 = no bound; applied by the engine */
    int64_t server_threads;                /* HTTP worker threads; 0 = one per core */
    int64_t server_max_connections;        /* all open connections */
    int64_t server_max_connections_per_ip; /* 0 = no limit */
    int64_t server_request_timeout;        /* ms; 0 = no deadline */
    char **cors_origins;                   /* server.cors.allow_origins; "*" = any */
    size_t n_cors_origins;
    bool ui_enabled; /* GET /ui console; default: dev true, serve false */
    char *storage_type;
    char *storage_sqlite_path;
    char *storage_postgres_url;         /* NULL: unset (required with storage.type postgres) */
    int64_t storage_postgres_pool_size; /* read connections at most */
    int64_t storage_sqlite_commit_interval_us; /* group commit pacing (exec_config_t) */
    char *auth_publickey;                      /* NULL: auth off */
    char *auth_iss;
    char *auth_aud;
    bool auth_require_exp;
    int64_t auth_leeway;
    char *auth_revoked; /* revocation list file, NULL: none */
    int64_t tasks_lease_timeout;
    int64_t tasks_retry_timeout;
    int64_t tasks_preload_max_count;
    int64_t tasks_preload_max_bytes;
    int64_t timeouts_poll_interval;
    int64_t messages_poll_interval;
    int64_t messages_batch_size;
    int64_t messages_max_attempts;
    int64_t messages_retry_base;
    int64_t messages_retry_max;
    int64_t messages_claim_ttl;
    int64_t http_poll_max_connections;
    int64_t http_poll_max_connections_per_tenant; /* 0 = no limit */
    int64_t http_poll_buffer_size;
    int64_t http_poll_buffer_bytes;       /* per stream */
    int64_t http_poll_total_buffer_bytes; /* over all streams */
    int64_t http_poll_keepalive;
    bool http_poll_enabled;
    bool http_push_enabled;
    int64_t http_push_concurrency;
    int64_t http_push_connect_timeout;
    int64_t http_push_request_timeout;
    char **push_allow; /* transports.http_push.allow: URL prefixes */
    size_t n_push_allow;
    char *push_cacert; /* CA bundle for https:// pushes, NULL: the system's */
    int64_t metrics_port;
    char *metrics_tls_cert; /* /metrics over HTTPS with its own pair */
    char *metrics_tls_key;

    char *config_file; /* the resonate.toml that was read, NULL when none */
    char **warnings;   /* for the startup log (ignored keys, ...) */
    size_t n_warnings;
    char **sources; /* private: per key, where its value came from */
} conf_t;

/* Fills cfg with the built-in defaults. dev selects `resonate dev`'s
 * defaults (in-memory database). Free with conf_free. */
void conf_defaults(conf_t *cfg, bool dev);

/* Frees everything cfg owns. */
void conf_free(conf_t *cfg);

/* Sets key (dotted, e.g. "server.port") from its text form. source names
 * where the value came from, for error messages ("flag --server-port",
 * "resonate.toml:12", "environment RESONATE_SERVER__PORT"). Lists
 * (server.cors.allow_origins, transports.http_push.allow) take a TOML array (["a", "b"]) or a
 * comma-separated list. Returns 0, or -1 with a message naming key and
 * source in err. */
int conf_set(conf_t *cfg, const char *key, const char *value, const char *source, char *err,
             size_t errlen);

/* Reads the TOML file at path into cfg (through conf_set). Returns 0, or -1
 * with "path:line: ..." in err. */
int conf_load_file(conf_t *cfg, const char *path, char *err, size_t errlen);

/* Looks for resonate.toml in dir and then in each parent directory; writes
 * the first found into out. Returns true when one was found. */
bool conf_find_file(const char *dir, char *out, size_t outlen);

typedef struct {
    bool dev;               /* `resonate dev` */
    int argc;               /* flags after the subcommand */
    char **argv;            /* borrowed */
    char *const *envp;      /* NAME=VALUE, NULL-terminated; NULL = empty environment */
    const char *search_dir; /* where the resonate.toml search starts; NULL = working dir */
} conf_sources_t;

typedef enum {
    CONF_OK,
    CONF_HELP,    /* --help/-h was given: print help, exit 0 */
    CONF_EUSAGE,  /* bad command line (unknown flag, bad flag value): exit 2 */
    CONF_ECONFIG, /* bad file or environment, or an invalid combination: exit 1 */
} conf_status_t;

/* Builds the configuration from every layer into cfg (which need not be
 * initialised; free it with conf_free whatever the result). On an error
 * the message in err names the key and the source. */
conf_status_t conf_load(conf_t *cfg, const conf_sources_t *src, char *err, size_t errlen);

/* Where key's current value came from: "default", "resonate.toml:12",
 * "environment RESONATE_...", "flag --...", "dev". NULL for unknown keys. */
const char *conf_source(const conf_t *cfg, const char *key);

/* Calls fn for each implemented key with its value as text ("(unset)" for
 * unset strings) and source, in table order. */
void conf_each(const conf_t *cfg,
               void (*fn)(const char *key, const char *value, const char *source, void *arg),
               void *arg);

/* Writes the serve/dev flag reference, one line per call of out: every
 * implemented flag with its default, then the flags accepted only for
 * compatibility with the Rust server. */
void conf_print_flags(void (*out)(const char *line, void *arg), void *arg);

/* One serve/dev flag as the reference documentation needs it (man pages,
 * shell completion: cli/doc.c), from the same table and in the same order
 * as conf_print_flags. Valid during the callback only. */
typedef struct {
    const char *key;  /* dotted key; NULL for flags that are not keys (--config, -h) */
    const char *flag; /* "--server-port" */
    char shrt;        /* short form ('h' for -h), 0 if none */
    const char *meta; /* value placeholder ("PORT", "true|false"); NULL: takes no value */
    const char *help;
    const char *type; /* "string", "integer", "boolean", "list of strings"; NULL */
    const char *def;  /* default as --help shows it; "" when none */
    int64_t min, max; /* bounds of an integer */
    bool implemented; /* false: accepted for compatibility only */
    bool repeatable;  /* a list flag: each use adds a value */
} conf_flag_t;

/* Calls fn for every flag conf_print_flags lists, in its order. */
void conf_each_flag(void (*fn)(const conf_flag_t *flag, void *arg), void *arg);

/* Parses a client duration: one or more <digits><unit> groups with units
 * ms, s, m, h, d (e.g. "1h30m", "250ms"). Returns 0 with the total in *ms,
 * or -1 with a message in err. A zero total is an error. */
int conf_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen);

#endif
