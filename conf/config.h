/* config.h - the server's configuration and where each value came from.
 *
 * One table (conf/config.c) lists every key with its type, default, flag and
 * help text; every source (built-in defaults, resonate.toml, RESONATE_*
 * environment, command-line flags) writes through conf_set so validation
 * and error messages are identical whatever the source. Key names are the
 * Rust server's (operations.md §1.2). */
#ifndef RESONATE_CONFIG_H
#define RESONATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *level;
    bool debug;
    char *server_host;
    int64_t server_port;
    char *server_bind;
    int64_t server_shutdown_timeout;
    char *server_url;
    int64_t server_max_body;
    char *storage_type;
    char *storage_sqlite_path;
    char *auth_publickey;
    char *auth_iss;
    char *auth_aud;
    bool auth_require_exp;
    int64_t auth_leeway;
    int64_t tasks_lease_timeout;
    int64_t tasks_retry_timeout;
    int64_t timeouts_poll_interval;
    int64_t messages_poll_interval;
    int64_t messages_batch_size;
    int64_t http_poll_max_connections;
    int64_t http_poll_buffer_size;
    bool http_poll_enabled;
    bool http_push_enabled;
    int64_t http_push_concurrency;
    int64_t http_push_connect_timeout;
    int64_t http_push_request_timeout;
    int64_t metrics_port;
    bool log_json;
} conf_t;

/* Fills cfg with the built-in defaults. dev selects `resonate dev`'s
 * defaults (in-memory database). Free with conf_free. */
void conf_defaults(conf_t *cfg, bool dev);

/* Frees the strings cfg owns. */
void conf_free(conf_t *cfg);

/* Sets key (dotted, e.g. "server.port") from its text form. source names
 * where the value came from, for error messages ("flag --server-port",
 * "resonate.toml:12", "RESONATE_SERVER__PORT"). Returns 0, or -1 with a
 * message naming key and source in err. */
int conf_set(conf_t *cfg, const char *key, const char *value, const char *source, char *err,
             size_t errlen);

/* Applies command-line flags argv[0..argc) of serve/dev. *help is set when
 * --help/-h was given. Returns 0, or -1 with the message in err (the caller
 * exits with status 2). */
int conf_parse_flags(conf_t *cfg, int argc, char **argv, bool *help, char *err, size_t errlen);

/* Parses a client duration: one or more <digits><unit> groups with units
 * ms, s, m, h, d (e.g. "1h30m", "250ms"). Returns 0 with the total in *ms,
 * or -1 with a message in err. A zero total is an error. */
int conf_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen);

/* Writes the serve/dev flag reference to f-like buffer via the callback. */
void conf_print_flags(void (*out)(const char *line, void *arg), void *arg);

#endif
