/* test_config.c - configuration layers (defaults < resonate.toml <
 * RESONATE_* < flags), the example file, and every error message. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/config.h"
#include "tests/unit/unit.h"

static char dir[PATH_MAX];
static char file[PATH_MAX + 32];
static conf_t cfg;
static char err[1024];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/resonate-conf-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/resonate.toml", dir);
    memset(&cfg, 0, sizeof cfg);
    err[0] = '\0';
}

static void teardown(void)
{
    conf_free(&cfg);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* conf_load of `serve` (or dev) with flags and environment given as
 * NULL-terminated lists; the file search starts in dir. */
static conf_status_t load(bool dev, const char *const *flags, const char *const *env)
{
    int argc = 0;
    while (flags && flags[argc])
        argc++;
    conf_free(&cfg);
    conf_sources_t src = {.dev = dev,
                          .argc = argc,
                          .argv = (char **)flags,
                          .envp = (char *const *)env,
                          .search_dir = dir};
    err[0] = '\0';
    return conf_load(&cfg, &src, err, sizeof err);
}

static void assert_error(conf_status_t got, conf_status_t want, const char *msg)
{
    ck_assert_int_eq(got, want);
    ck_assert_str_eq(err, msg);
}

START_TEST(same_key_from_four_sources_later_wins)
{
    write_file(file, "[server]\nport = 8100\n");
    const char *env[] = {"RESONATE_SERVER__PORT=8200", NULL};
    const char *flags[] = {"--server-port", "8300", NULL};

    ck_assert_int_eq(load(false, flags, env), CONF_OK);
    ck_assert_int_eq(cfg.server_port, 8300);
    ck_assert_str_eq(conf_source(&cfg, "server.port"), "flag --server-port");

    ck_assert_int_eq(load(false, NULL, env), CONF_OK);
    ck_assert_int_eq(cfg.server_port, 8200);
    ck_assert_str_eq(conf_source(&cfg, "server.port"), "environment RESONATE_SERVER__PORT");

    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert_int_eq(cfg.server_port, 8100);
    char where[PATH_MAX + 40];
    snprintf(where, sizeof where, "%s:2", file);
    ck_assert_str_eq(conf_source(&cfg, "server.port"), where);
    ck_assert_str_eq(cfg.config_file, file);

    unlink(file);
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert_int_eq(cfg.server_port, 8001);
    ck_assert_str_eq(conf_source(&cfg, "server.port"), "default");
    ck_assert_ptr_null(cfg.config_file);
}
END_TEST

START_TEST(layers_combine_per_key)
{
    write_file(file, "level = \"warn\"\n[server]\nhost = \"filehost\"\nport = 1\n");
    const char *env[] = {"RESONATE_SERVER__PORT=2", "RESONATE_SERVER__BIND=127.0.0.1", NULL};
    const char *flags[] = {"--server-bind=::1", NULL};
    ck_assert_int_eq(load(false, flags, env), CONF_OK);
    ck_assert_str_eq(cfg.level, "warn");           /* file only */
    ck_assert_str_eq(cfg.server_host, "filehost"); /* file only */
    ck_assert_int_eq(cfg.server_port, 2);          /* env over file */
    ck_assert_str_eq(cfg.server_bind, "::1");      /* flag over env */
    ck_assert_int_eq(cfg.metrics_port, 9090);      /* default */
}
END_TEST

START_TEST(config_flag_replaces_the_search)
{
    char other[PATH_MAX + 32];
    snprintf(other, sizeof other, "%s/other.toml", dir);
    write_file(file, "[server]\nport = 1\n");
    write_file(other, "[server]\nport = 2\n");
    const char *flags[] = {"--config", other, NULL};
    ck_assert_int_eq(load(false, flags, NULL), CONF_OK);
    ck_assert_int_eq(cfg.server_port, 2);
    ck_assert_str_eq(cfg.config_file, other);
}
END_TEST

START_TEST(file_search_walks_up_to_parent_directories)
{
    char sub[PATH_MAX + 32], found[PATH_MAX + 32];
    snprintf(sub, sizeof sub, "%s/a", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    write_file(file, "debug = true\n");
    ck_assert(conf_find_file(sub, found, sizeof found));
    ck_assert_str_eq(found, file);
    char nearer[PATH_MAX + 48];
    snprintf(nearer, sizeof nearer, "%s/a/resonate.toml", dir);
    write_file(nearer, "debug = false\n");
    ck_assert(conf_find_file(sub, found, sizeof found));
    ck_assert_str_eq(found, nearer);
}
END_TEST

START_TEST(dev_forces_memory_database_unless_the_flag_says_otherwise)
{
    write_file(file, "[storage.sqlite]\npath = \"file.db\"\n");
    const char *env[] = {"RESONATE_STORAGE__SQLITE__PATH=env.db", NULL};
    ck_assert_int_eq(load(true, NULL, env), CONF_OK);
    ck_assert_str_eq(cfg.storage_sqlite_path, ":memory:");
    ck_assert_str_eq(conf_source(&cfg, "storage.sqlite.path"), "dev");

    const char *flags[] = {"--storage-sqlite-path", "flag.db", NULL};
    ck_assert_int_eq(load(true, flags, env), CONF_OK);
    ck_assert_str_eq(cfg.storage_sqlite_path, "flag.db");

    ck_assert_int_eq(load(false, NULL, env), CONF_OK);
    ck_assert_str_eq(cfg.storage_sqlite_path, "env.db");
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert_str_eq(cfg.storage_sqlite_path, "file.db");
}
END_TEST

START_TEST(ui_is_on_for_dev_and_off_for_serve_unless_set)
{
    ck_assert_int_eq(load(true, NULL, NULL), CONF_OK);
    ck_assert(cfg.ui_enabled);
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert(!cfg.ui_enabled);
    const char *on[] = {"--ui-enabled", "true", NULL};
    ck_assert_int_eq(load(false, on, NULL), CONF_OK);
    ck_assert(cfg.ui_enabled);
    const char *off[] = {"--ui-enabled=false", NULL};
    ck_assert_int_eq(load(true, off, NULL), CONF_OK);
    ck_assert(!cfg.ui_enabled);
    const char *env[] = {"RESONATE_UI__ENABLED=true", NULL};
    ck_assert_int_eq(load(false, NULL, env), CONF_OK);
    ck_assert(cfg.ui_enabled);
    write_file(file, "[ui]\nenabled = false\n");
    ck_assert_int_eq(load(true, NULL, NULL), CONF_OK);
    ck_assert(!cfg.ui_enabled);
    ck_assert_ptr_nonnull(strstr(conf_source(&cfg, "ui.enabled"), "resonate.toml:2"));
}
END_TEST

typedef struct {
    char keys[64][64];
    char values[64][256];
    int n;
} dump_t;

static void dump_entry(const char *key, const char *value, const char *source, void *arg)
{
    (void)source;
    dump_t *d = arg;
    ck_assert_int_lt(d->n, 64);
    snprintf(d->keys[d->n], sizeof d->keys[0], "%s", key);
    snprintf(d->values[d->n], sizeof d->values[0], "%s", value);
    d->n++;
}

START_TEST(example_file_loads_and_changes_no_default)
{
    conf_t defaults;
    conf_defaults(&defaults, false);
    conf_defaults(&cfg, false);
    ck_assert_msg(conf_load_file(&cfg, "resonate.toml.example", err, sizeof err) == 0, "%s", err);
    static dump_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    conf_each(&defaults, dump_entry, &a);
    conf_each(&cfg, dump_entry, &b);
    ck_assert_int_eq(a.n, b.n);
    for (int i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.keys[i], b.keys[i]);
        ck_assert_msg(strcmp(a.values[i], b.values[i]) == 0, "%s: default %s, example %s",
                      a.keys[i], a.values[i], b.values[i]);
    }
    /* Keys set in the file are recorded as coming from it. */
    ck_assert_ptr_nonnull(strstr(conf_source(&cfg, "server.port"), "resonate.toml.example:"));
    conf_free(&defaults);
}
END_TEST

START_TEST(example_file_mentions_every_implemented_key)
{
    FILE *f = fopen("resonate.toml.example", "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    static dump_t d;
    memset(&d, 0, sizeof d);
    conf_defaults(&cfg, false);
    conf_each(&cfg, dump_entry, &d);
    for (int i = 0; i < d.n; i++) {
        /* "server.cors.allow_origins" is written "[server.cors]" + "allow_origins =" */
        const char *dot = strrchr(d.keys[i], '.');
        const char *leaf = dot ? dot + 1 : d.keys[i];
        char table[96] = "", line[96];
        if (dot)
            snprintf(table, sizeof table, "[%.*s]\n", (int)(dot - d.keys[i]), d.keys[i]);
        snprintf(line, sizeof line, "%s = ", leaf);
        const char *t = dot ? strstr(text, table) : text;
        ck_assert_msg(t != NULL, "no table %s", table);
        const char *next = strstr(t + 1, "\n[");
        const char *at = strstr(t, line);
        ck_assert_msg(at && (!next || at < next), "key %s missing from the example", d.keys[i]);
    }
}
END_TEST

static void append_line(const char *line, void *arg)
{
    char *buf = arg;
    size_t n = strlen(buf);
    snprintf(buf + n, 32768 - n, "%s\n", line);
}

START_TEST(every_implemented_key_has_a_flag_in_help)
{
    static char help[32768];
    help[0] = '\0';
    conf_print_flags(append_line, help);
    static dump_t d;
    memset(&d, 0, sizeof d);
    conf_defaults(&cfg, false);
    conf_each(&cfg, dump_entry, &d);
    for (int i = 0; i < d.n; i++) {
        char flag[96] = "  --";
        size_t n = strlen(flag);
        for (const char *p = d.keys[i]; *p && n + 2 < sizeof flag; p++)
            flag[n++] = *p == '.' || *p == '_' ? '-' : *p;
        flag[n] = '\0';
        if (strcmp(d.keys[i], "server.cors.allow_origins") == 0)
            snprintf(flag, sizeof flag, "  --server-cors-allow-origin ");
        else
            strcat(flag, " ");
        if (strcmp(d.keys[i], "debug") == 0)
            snprintf(flag, sizeof flag, "  --debug ");
        ck_assert_msg(strstr(help, flag) != NULL, "help lacks '%s'", flag);
    }
    ck_assert_ptr_nonnull(strstr(help, "  --config FILE"));
    ck_assert_ptr_nonnull(strstr(help, "  --storage-postgres-url URL"));
    ck_assert_ptr_nonnull(strstr(help, "  --observability-otlp-endpoint"));
    ck_assert_ptr_nonnull(strstr(help, "[default: 8001]"));
}
END_TEST

START_TEST(help_flag_wins_over_everything)
{
    const char *flags[] = {"--bogus", "-h", NULL};
    ck_assert_int_eq(load(false, flags, NULL), CONF_HELP);
    const char *flags2[] = {"--server-port", "1", "--help", NULL};
    ck_assert_int_eq(load(true, flags2, NULL), CONF_HELP);
}
END_TEST

START_TEST(file_errors_name_the_file_line_and_key)
{
    char want[PATH_MAX + 256];
    write_file(file, "# comment\n[server]\nprot = 8001\n");
    snprintf(want, sizeof want,
             "%s:3: unknown configuration key 'server.prot' (did you mean 'server.port'?)", file);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);

    write_file(file, "[server]\nport = \"8001\"\n");
    snprintf(want, sizeof want,
             "%s:2: invalid value for server.port: expected an integer, found a string", file);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);

    write_file(file, "[server]\nport = 70000\n");
    snprintf(want, sizeof want,
             "%s:2: invalid value '70000' for server.port: expected an integer from 0 to 65535",
             file);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);

    write_file(file, "debug = \"yes\"\n");
    snprintf(want, sizeof want,
             "%s:1: invalid value for debug: expected a boolean (true or false), found a string",
             file);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);

    write_file(file, "[server.cors]\nallow_origins = \"*\"\n");
    snprintf(want, sizeof want,
             "%s:2: invalid value for server.cors.allow_origins: expected an array of strings, "
             "found a string",
             file);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);

    write_file(file, "[server]\nport = 1\n[server]\n");
    snprintf(want, sizeof want, "%s:3: table [server] defined twice (first on line 1)", file);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);

    write_file(file, "totally_unknown = 1\n");
    snprintf(want, sizeof want, "%s:1: unknown configuration key 'totally_unknown'", file);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);
}
END_TEST

START_TEST(missing_config_file_is_an_error_but_no_file_found_is_not)
{
    const char *flags[] = {"--config", "/nonexistent/resonate.toml", NULL};
    assert_error(load(false, flags, NULL), CONF_ECONFIG,
                 "cannot read configuration file /nonexistent/resonate.toml: No such file or "
                 "directory");
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
}
END_TEST

/* It read "cannot read configuration file DIR: read error". */
START_TEST(a_directory_as_the_config_file_is_named_with_the_file_to_give)
{
    char want[PATH_MAX * 2 + 128], slash[PATH_MAX + 2];
    const char *flags[] = {"--config", dir, NULL};
    snprintf(want, sizeof want,
             "configuration file %s is a directory, not a file: give --config the TOML file "
             "itself (e.g. %s/resonate.toml)",
             dir, dir);
    assert_error(load(false, flags, NULL), CONF_ECONFIG, want);
    snprintf(slash, sizeof slash, "%s/", dir);
    const char *with_slash[] = {"--config", slash, NULL};
    snprintf(want, sizeof want,
             "configuration file %s is a directory, not a file: give --config the TOML file "
             "itself (e.g. %s/resonate.toml)",
             slash, dir);
    assert_error(load(false, with_slash, NULL), CONF_ECONFIG, want);
}
END_TEST

START_TEST(environment_errors_name_the_variable)
{
    const char *e1[] = {"RESONATE_SERVER__PROT=1", NULL};
    assert_error(load(false, NULL, e1), CONF_ECONFIG,
                 "environment RESONATE_SERVER__PROT: unknown configuration key 'server.prot' "
                 "(did you mean 'server.port'?)");
    const char *e2[] = {"RESONATE_SERVER_PORT=1", NULL};
    assert_error(load(false, NULL, e2), CONF_ECONFIG,
                 "environment RESONATE_SERVER_PORT: unknown configuration key 'server_port'; "
                 "nested keys are separated by a double underscore: RESONATE_SERVER__PORT");
    const char *e3[] = {"RESONATE_SERVER__PORT=abc", NULL};
    assert_error(load(false, NULL, e3), CONF_ECONFIG,
                 "environment RESONATE_SERVER__PORT: invalid value 'abc' for server.port: "
                 "expected an integer from 0 to 65535");
    const char *e4[] = {"RESONATE_AUTH=x", NULL};
    assert_error(load(false, NULL, e4), CONF_ECONFIG,
                 "environment RESONATE_AUTH: 'auth' is a section, not a value; set its keys, "
                 "e.g. RESONATE_AUTH__...");
    const char *e5[] = {"RESONATE_DEBUG=yes", NULL};
    assert_error(load(false, NULL, e5), CONF_ECONFIG,
                 "environment RESONATE_DEBUG: invalid value 'yes' for debug: expected true or "
                 "false");
    const char *e6[] = {"RESONATE_LEVEL=\"unterminated", NULL};
    assert_error(load(false, NULL, e6), CONF_ECONFIG,
                 "environment RESONATE_LEVEL: invalid value for level: unterminated string");
}
END_TEST

START_TEST(environment_of_other_programs_is_ignored)
{
    const char *env[] = {"RESONATE_URL=http://x",
                         "RESONATE_TOKEN=secret",
                         "RESONATE_PREFIX=p",
                         "RESONATE_TIMEOUT=5",
                         "PATH=/bin",
                         "resonate_level=debug",
                         NULL};
    ck_assert_int_eq(load(false, NULL, env), CONF_OK);
    /* the prefix and the names are matched without regard to case */
    ck_assert_str_eq(cfg.level, "debug");
}
END_TEST

START_TEST(environment_values_take_toml_forms)
{
    const char *env[] = {
        "RESONATE_SERVER__CORS__ALLOW_ORIGINS=[\"https://a.example\", 'http://b:8080']",
        "RESONATE_AUTH__PUBLICKEY=\"/etc/k.pem\"", "RESONATE_AUTH__ISS=plain",
        "RESONATE_TRANSPORTS__HTTP_POLL__ENABLED=false", NULL};
    ck_assert_int_eq(load(false, NULL, env), CONF_OK);
    ck_assert_uint_eq(cfg.n_cors_origins, 2);
    ck_assert_str_eq(cfg.cors_origins[0], "https://a.example");
    ck_assert_str_eq(cfg.cors_origins[1], "http://b:8080");
    ck_assert_str_eq(cfg.auth_publickey, "/etc/k.pem");
    ck_assert_str_eq(cfg.auth_iss, "plain");
    ck_assert(!cfg.http_poll_enabled);

    const char *env2[] = {"RESONATE_SERVER__CORS__ALLOW_ORIGINS=https://a.example, *", NULL};
    ck_assert_int_eq(load(false, NULL, env2), CONF_OK);
    ck_assert_uint_eq(cfg.n_cors_origins, 2);
    ck_assert_str_eq(cfg.cors_origins[1], "*");
}
END_TEST

START_TEST(flag_errors_are_usage_errors)
{
    const char *f1[] = {"--server-prot", "1", NULL};
    assert_error(load(false, f1, NULL), CONF_EUSAGE, "unknown flag '--server-prot' (see --help)");
    const char *f2[] = {"--server-port", NULL};
    assert_error(load(false, f2, NULL), CONF_EUSAGE, "flag --server-port needs a value");
    const char *f3[] = {"--server-port", "--debug", NULL};
    assert_error(load(false, f3, NULL), CONF_EUSAGE, "flag --server-port needs a value");
    const char *f4[] = {"--server-port=x", NULL};
    assert_error(load(false, f4, NULL), CONF_EUSAGE,
                 "flag --server-port: invalid value 'x' for server.port: expected an integer "
                 "from 0 to 65535");
    const char *f5[] = {"serve", NULL};
    assert_error(load(false, f5, NULL), CONF_EUSAGE, "unexpected argument 'serve' (see --help)");
    const char *f6[] = {"--transports-http-poll-enabled", "maybe", NULL};
    assert_error(load(false, f6, NULL), CONF_EUSAGE,
                 "flag --transports-http-poll-enabled: invalid value 'maybe' for "
                 "transports.http_poll.enabled: expected true or false");
    const char *f7[] = {"--config", NULL};
    assert_error(load(false, f7, NULL), CONF_EUSAGE, "flag --config needs a value");
}
END_TEST

START_TEST(connection_and_poll_limits_have_bounded_defaults)
{
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert_int_eq(cfg.server_threads, 0); /* one per core */
    ck_assert_int_eq(cfg.server_max_connections, 20000);
    ck_assert_int_eq(cfg.server_max_connections_per_ip, 1000);
    ck_assert_int_eq(cfg.server_request_timeout, 30000);
    ck_assert_int_eq(cfg.http_poll_max_connections_per_tenant, 100);
    ck_assert_int_eq(cfg.http_poll_buffer_bytes, 8 << 20);
    ck_assert_int_eq(cfg.http_poll_total_buffer_bytes, 128 << 20);
    /* 0 lifts the per-address, per-tenant and deadline limits, never the
     * global ones */
    const char *off[] = {"--server-max-connections-per-ip",
                         "0",
                         "--transports-http-poll-max-connections-per-tenant",
                         "0",
                         "--server-request-timeout",
                         "0",
                         NULL};
    ck_assert_int_eq(load(false, off, NULL), CONF_OK);
    ck_assert_int_eq(cfg.server_max_connections_per_ip, 0);
    const char *f1[] = {"--server-max-connections", "0", NULL};
    assert_error(load(false, f1, NULL), CONF_EUSAGE,
                 "flag --server-max-connections: invalid value '0' for server.max_connections: "
                 "expected an integer from 1 to 1000000");
    const char *f3[] = {"--server-threads", "2000", NULL};
    assert_error(load(false, f3, NULL), CONF_EUSAGE,
                 "flag --server-threads: invalid value '2000' for server.threads: expected an "
                 "integer from 0 to 1024");
    const char *f2[] = {"--transports-http-poll-buffer-bytes", "0", NULL};
    assert_error(load(false, f2, NULL), CONF_EUSAGE,
                 "flag --transports-http-poll-buffer-bytes: invalid value '0' for "
                 "transports.http_poll.buffer_bytes: expected an integer from 1024 to "
                 "1099511627776");
}
END_TEST

START_TEST(value_rules_have_their_own_messages)
{
    static const struct {
        const char *flag, *value, *msg;
    } cases[] = {
        {"--level", "loud",
         "flag --level: invalid value 'loud' for level: expected debug, info, warn or error"},
        {"--log-format", "xml",
         "flag --log-format: invalid value 'xml' for log_format: expected text or json"},
        {"--server-bind", "localhost",
         "flag --server-bind: invalid value 'localhost' for server.bind: expected an IPv4 or "
         "IPv6 address such as 0.0.0.0, 127.0.0.1 or ::"},
        {"--server-url", "localhost:8001",
         "flag --server-url: invalid value 'localhost:8001' for server.url: expected an http:// "
         "or https:// URL"},
        {"--server-host", "",
         "flag --server-host: invalid value '' for server.host: must not be "
         "empty"},
        {"--storage-type", "mysql",
         "flag --storage-type: invalid value 'mysql' for storage.type: the mysql backend "
         "is not implemented by resonate-c; use 'sqlite' or 'postgres'"},
        {"--storage-type", "oracle",
         "flag --storage-type: invalid value 'oracle' for storage.type: unknown storage "
         "backend. Valid options are 'sqlite', 'postgres', and 'mysql' (resonate-c implements "
         "'sqlite' and 'postgres')"},
        {"--storage-postgres-pool-size", "0",
         "flag --storage-postgres-pool-size: invalid value '0' for storage.postgres.pool_size: "
         "expected an integer from 1 to 1024"},
        {"--storage-mysql-url", "mysql://x",
         "flag --storage-mysql-url: the MySQL backend is not implemented by resonate-c (this "
         "flag selects it)"},
        {"--transports-gcps-enabled", "true",
         "flag --transports-gcps-enabled: invalid value 'true' for transports.gcps.enabled: the "
         "Google Cloud Pub/Sub transport is not implemented by resonate-c"},
        {"--transports-bash-exec-enabled", "true",
         "flag --transports-bash-exec-enabled: invalid value 'true' for "
         "transports.bash_exec.enabled: the bash exec transport is not implemented by "
         "resonate-c"},
        {"--transports-http-push-auth-mode", "bearer",
         "flag --transports-http-push-auth-mode: invalid value 'bearer' for "
         "transports.http_push.auth.mode: authenticated HTTP push ('bearer') is not implemented "
         "by resonate-c; pushes are sent without credentials, so only 'none' is accepted"},
        {"--transports-http-push-auth-mode", "magic",
         "flag --transports-http-push-auth-mode: invalid value 'magic' for "
         "transports.http_push.auth.mode: expected none, bearer or gcp"},
        {"--server-cors-allow-origin", "https://a.example/",
         "flag --server-cors-allow-origin: invalid value for server.cors.allow_origins: "
         "'https://a.example/' is not an origin: an origin has no path (browsers send e.g. "
         "https://app.example.com, without a trailing slash)"},
        {"--server-cors-allow-origin", "a.example",
         "flag --server-cors-allow-origin: invalid value for server.cors.allow_origins: "
         "'a.example' is not an origin (expected scheme://host[:port], or *)"},
        {"--transports-http-push-concurrency", "0",
         "flag --transports-http-push-concurrency: invalid value '0' for "
         "transports.http_push.concurrency: expected an integer from 1 to 100000"},
        {"--auth-publickey", "",
         "flag --auth-publickey: invalid value '' for auth.publickey: "
         "must not be empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *flags[] = {cases[i].flag, cases[i].value, NULL};
        conf_status_t st = load(false, flags, NULL);
        ck_assert_msg(st == CONF_EUSAGE, "%s %s: status %d", cases[i].flag, cases[i].value, st);
        ck_assert_str_eq(err, cases[i].msg);
    }
}
END_TEST

START_TEST(issuer_without_public_key_is_refused)
{
    write_file(file, "[auth]\niss = \"me\"\n");
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want,
             "%s:2: auth.iss is set but auth.publickey is not, so no token would be checked; "
             "set auth.publickey (a key file, or none)",
             file);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);
    const char *flags[] = {"--auth-publickey", "none", NULL};
    ck_assert_int_eq(load(false, flags, NULL), CONF_OK);
    ck_assert_str_eq(cfg.auth_iss, "me");
    const char *aud[] = {"--auth-aud", "x", NULL};
    unlink(file);
    assert_error(load(false, aud, NULL), CONF_ECONFIG,
                 "flag --auth-aud: auth.aud is set but auth.publickey is not, so no token would "
                 "be checked; set auth.publickey (a key file, or none)");
}
END_TEST

START_TEST(revocation_list_without_public_key_is_refused)
{
    const char *flags[] = {"--auth-revoked", "/etc/revoked", NULL};
    assert_error(load(false, flags, NULL), CONF_ECONFIG,
                 "flag --auth-revoked: auth.revoked is set but auth.publickey is not, so no token "
                 "would be checked; set auth.publickey (a key file, or none)");
    const char *with_key[] = {"--auth-revoked", "/etc/revoked", "--auth-publickey", "none", NULL};
    ck_assert_int_eq(load(false, with_key, NULL), CONF_OK);
    ck_assert_str_eq(cfg.auth_revoked, "/etc/revoked");
}
END_TEST

START_TEST(a_tls_certificate_without_its_key_is_refused_and_the_reverse)
{
    const char *cert[] = {"--server-tls-cert", "c.pem", NULL};
    assert_error(load(false, cert, NULL), CONF_ECONFIG,
                 "flag --server-tls-cert: server.tls_cert is set but server.tls_key is not; set "
                 "both (or neither)");
    write_file(file, "[observability]\nmetrics_tls_key = \"k.pem\"\n");
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want,
             "%s:2: observability.metrics_tls_key is set but observability.metrics_tls_cert is "
             "not; set both (or neither)",
             file);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);
    unlink(file);
    const char *both[] = {"--server-tls-cert", "c.pem", "--server-tls-key", "k.pem", NULL};
    ck_assert_int_eq(load(false, both, NULL), CONF_OK);
    ck_assert_str_eq(cfg.server_tls_cert, "c.pem");
    ck_assert_str_eq(cfg.server_tls_key, "k.pem");
}
END_TEST

START_TEST(tag_value_limit_below_id_limit_is_refused)
{
    const char *flags[] = {"--limits-id-max-bytes", "9000", NULL};
    assert_error(load(false, flags, NULL), CONF_ECONFIG,
                 "default: limits.tag_value_max_bytes (8192) is less than limits.id_max_bytes "
                 "(9000) set by flag --limits-id-max-bytes; tags such as resonate:origin hold "
                 "ids, so raise it to at least 9000");
    const char *both[] = {"--limits-id-max-bytes", "9000", "--limits-tag-value-max-bytes", "9000",
                          NULL};
    ck_assert_int_eq(load(false, both, NULL), CONF_OK);
    ck_assert_int_eq(cfg.limits_id_max_bytes, 9000);
}
END_TEST

START_TEST(listeners_per_promise_defaults_to_1000_and_0_lifts_it)
{
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert_int_eq(cfg.limits_listeners_per_promise, 1000);
    ck_assert_str_eq(conf_source(&cfg, "limits.listeners_per_promise"), "default");
    const char *env[] = {"RESONATE_LIMITS__LISTENERS_PER_PROMISE=50", NULL};
    ck_assert_int_eq(load(false, NULL, env), CONF_OK);
    ck_assert_int_eq(cfg.limits_listeners_per_promise, 50);
    const char *off[] = {"--limits-listeners-per-promise", "0", NULL};
    ck_assert_int_eq(load(false, off, env), CONF_OK);
    ck_assert_int_eq(cfg.limits_listeners_per_promise, 0);
    const char *bad[] = {"--limits-listeners-per-promise", "-1", NULL};
    assert_error(load(false, bad, NULL), CONF_EUSAGE,
                 "flag --limits-listeners-per-promise: invalid value '-1' for "
                 "limits.listeners_per_promise: expected an integer from 0 to 1073741824");
}
END_TEST

START_TEST(settle_fanout_batch_defaults_to_500_and_0_lifts_it)
{
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert_int_eq(cfg.limits_settle_fanout_batch, 500);
    ck_assert_str_eq(conf_source(&cfg, "limits.settle_fanout_batch"), "default");
    const char *env[] = {"RESONATE_LIMITS__SETTLE_FANOUT_BATCH=50", NULL};
    ck_assert_int_eq(load(false, NULL, env), CONF_OK);
    ck_assert_int_eq(cfg.limits_settle_fanout_batch, 50);
    const char *off[] = {"--limits-settle-fanout-batch", "0", NULL};
    ck_assert_int_eq(load(false, off, env), CONF_OK);
    ck_assert_int_eq(cfg.limits_settle_fanout_batch, 0);
    const char *bad[] = {"--limits-settle-fanout-batch", "-1", NULL};
    assert_error(load(false, bad, NULL), CONF_EUSAGE,
                 "flag --limits-settle-fanout-batch: invalid value '-1' for "
                 "limits.settle_fanout_batch: expected an integer from 0 to 1073741824");
}
END_TEST

START_TEST(commit_interval_defaults_to_a_millisecond_and_0_turns_pacing_off)
{
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert_int_eq(cfg.storage_sqlite_commit_interval_us, 1000);
    const char *off[] = {"--storage-sqlite-commit-interval-us", "0", NULL};
    ck_assert_int_eq(load(false, off, NULL), CONF_OK);
    ck_assert_int_eq(cfg.storage_sqlite_commit_interval_us, 0);
    const char *env[] = {"RESONATE_STORAGE__SQLITE__COMMIT_INTERVAL_US=250", NULL};
    ck_assert_int_eq(load(false, NULL, env), CONF_OK);
    ck_assert_int_eq(cfg.storage_sqlite_commit_interval_us, 250);
    const char *bad[] = {"--storage-sqlite-commit-interval-us", "1000001", NULL};
    assert_error(load(false, bad, NULL), CONF_EUSAGE,
                 "flag --storage-sqlite-commit-interval-us: invalid value '1000001' for "
                 "storage.sqlite.commit_interval_us: expected an integer from 0 to 1000000");
}
END_TEST

START_TEST(postgres_storage_needs_a_url_from_any_layer)
{
    const char *type[] = {"--storage-type", "postgres", NULL};
    ck_assert_int_eq(load(false, type, NULL), CONF_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "storage.postgres.url is not set"));
    const char *env[] = {"RESONATE_STORAGE__POSTGRES__URL=postgresql:///r?host=/tmp",
                         "RESONATE_STORAGE__POSTGRES__POOL_SIZE=3", NULL};
    ck_assert_int_eq(load(false, type, env), CONF_OK);
    ck_assert_str_eq(cfg.storage_type, "postgres");
    ck_assert_str_eq(cfg.storage_postgres_url, "postgresql:///r?host=/tmp");
    ck_assert_int_eq(cfg.storage_postgres_pool_size, 3);
    ck_assert_uint_eq(cfg.n_warnings, 0);
    /* the default stays sqlite: a url alone selects nothing */
    const char *url[] = {"--storage-postgres-url", "postgres://x", NULL};
    ck_assert_int_eq(load(false, url, NULL), CONF_OK);
    ck_assert_str_eq(cfg.storage_type, "sqlite");
    ck_assert_int_eq(cfg.storage_postgres_pool_size, 10);
    /* dev never needs PostgreSQL unless its command line asks for it */
    const char *penv[] = {"RESONATE_STORAGE__TYPE=postgres",
                          "RESONATE_STORAGE__POSTGRES__URL=postgres://x", NULL};
    ck_assert_int_eq(load(true, NULL, penv), CONF_OK);
    ck_assert_str_eq(cfg.storage_type, "sqlite");
    ck_assert_str_eq(conf_source(&cfg, "storage.type"), "dev");
    const char *pflags[] = {"--storage-type", "postgres", NULL};
    ck_assert_int_eq(load(true, pflags, penv), CONF_OK);
    ck_assert_str_eq(cfg.storage_type, "postgres");
}
END_TEST

START_TEST(
    a_postgres_url_of_another_scheme_or_none_is_refused_at_load_naming_the_setting_and_the_forms)
{
    static const char forms[] =
        "give a postgres:// or postgresql:// URL (postgres://user:pass@host:5432/db) or key=value "
        "words (host=db.example.com dbname=resonate user=resonate)";
    char want[PATH_MAX + 1024];
    const char *mysql[] = {"--storage-type", "postgres", "--storage-postgres-url",
                           "mysql://u:s3cret@db/resonate", NULL};
    snprintf(want, sizeof want,
             "flag --storage-postgres-url: storage.postgres.url is not a PostgreSQL connection "
             "string: its scheme is 'mysql://', which PostgreSQL does not take; %s",
             forms);
    assert_error(load(false, mysql, NULL), CONF_ECONFIG, want);
    /* no scheme at all: libpq would take it for a database name */
    write_file(file, "[storage]\ntype = \"postgres\"\n[storage.postgres]\n"
                     "url = \"u:s3cret@db:5432/resonate\"\n");
    snprintf(want, sizeof want,
             "%s:4: storage.postgres.url is not a PostgreSQL connection string: it has no scheme "
             "(the value is not shown: it may hold a password); %s",
             file, forms);
    assert_error(load(false, NULL, NULL), CONF_ECONFIG, want);
    const char *env[] = {"RESONATE_STORAGE__TYPE=postgres",
                         "RESONATE_STORAGE__POSTGRES__URL=http://u:s3cret@db/resonate", NULL};
    ck_assert_int_eq(load(false, NULL, env), CONF_ECONFIG);
    ck_assert_msg(
        strstr(err, "environment RESONATE_STORAGE__POSTGRES__URL: storage.postgres.url") == err &&
            strstr(err, "'http://'"),
        "%s", err);
    ck_assert_msg(!strstr(err, "s3cret"), "%s", err);
    /* what libpq takes is kept: both URL schemes, key=value words, a bare database name */
    static const char *const ok[] = {
        "postgres://u:s3cret@db/resonate", "postgresql:///resonate?host=/tmp",
        "host=db port=5432 dbname=resonate password=a://b", "resonate"};
    ck_assert_int_eq(unlink(file), 0);
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        const char *flags[] = {"--storage-type", "postgres", "--storage-postgres-url", ok[i], NULL};
        ck_assert_msg(load(false, flags, NULL) == CONF_OK, "%s: %s", ok[i], err);
    }
    /* sqlite ignores the setting, as dev ignores the environment's postgres */
    const char *penv[] = {"RESONATE_STORAGE__TYPE=postgres",
                          "RESONATE_STORAGE__POSTGRES__URL=mysql://x", NULL};
    ck_assert_int_eq(load(true, NULL, penv), CONF_OK);
}
END_TEST

START_TEST(unimplemented_keys_are_accepted_with_a_warning)
{
    write_file(file, "[storage.mysql]\nurl = \"mysql://x\"\npool_size = 5\n"
                     "[transports.gcps]\nenabled = false\n"
                     "[transports.http_push.auth]\nmode = \"none\"\n");
    const char *flags[] = {"--observability-otlp-endpoint", "x:4317", NULL};
    ck_assert_int_eq(load(false, flags, NULL), CONF_OK);
    /* two mysql keys and the otlp flag; the disabled values say nothing */
    ck_assert_uint_eq(cfg.n_warnings, 3);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want,
             "storage.mysql.url (%s:2) is not implemented by resonate-c and is ignored", file);
    ck_assert_str_eq(cfg.warnings[0], want);
    ck_assert_str_eq(cfg.warnings[2], "observability.otlp_endpoint (flag "
                                      "--observability-otlp-endpoint) is not implemented by "
                                      "resonate-c and is ignored");
    /* still type-checked */
    write_file(file, "[storage.mysql]\npool_size = \"5\"\n");
    ck_assert_int_eq(load(false, NULL, NULL), CONF_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "storage.mysql.pool_size: expected an integer"));
}
END_TEST

START_TEST(cors_flags_repeat_and_replace_the_configured_list)
{
    write_file(file, "[server.cors]\nallow_origins = [\"https://file.example\"]\n");
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert_uint_eq(cfg.n_cors_origins, 1);
    ck_assert_str_eq(cfg.cors_origins[0], "https://file.example");
    const char *flags[] = {"--server-cors-allow-origin", "https://a.example",
                           "--server-cors-allow-origin=http://localhost:3000", NULL};
    ck_assert_int_eq(load(false, flags, NULL), CONF_OK);
    ck_assert_uint_eq(cfg.n_cors_origins, 2);
    ck_assert_str_eq(cfg.cors_origins[0], "https://a.example");
    ck_assert_str_eq(cfg.cors_origins[1], "http://localhost:3000");
    ck_assert_str_eq(conf_source(&cfg, "server.cors.allow_origins"),
                     "flag --server-cors-allow-origin");
}
END_TEST

START_TEST(push_allow_is_a_list_from_every_source_and_entries_are_checked)
{
    write_file(file, "[transports.http_push]\nallow = [\"https://file.example/\"]\n");
    ck_assert_int_eq(load(false, NULL, NULL), CONF_OK);
    ck_assert_uint_eq(cfg.n_push_allow, 1);
    ck_assert_str_eq(cfg.push_allow[0], "https://file.example/");
    ck_assert_uint_eq(cfg.n_cors_origins, 0);
    const char *env[] = {"RESONATE_TRANSPORTS__HTTP_PUSH__ALLOW=http://a.example, http://b:81/x",
                         NULL};
    ck_assert_int_eq(load(false, NULL, env), CONF_OK);
    ck_assert_uint_eq(cfg.n_push_allow, 2);
    ck_assert_str_eq(cfg.push_allow[1], "http://b:81/x");
    /* both list flags repeat, each into its own list */
    const char *flags[] = {"--transports-http-push-allow",
                           "http://c.example",
                           "--server-cors-allow-origin",
                           "https://o.example",
                           "--transports-http-push-allow=https://d.example/hooks/",
                           NULL};
    ck_assert_int_eq(load(false, flags, env), CONF_OK);
    ck_assert_uint_eq(cfg.n_push_allow, 2);
    ck_assert_str_eq(cfg.push_allow[0], "http://c.example");
    ck_assert_str_eq(cfg.push_allow[1], "https://d.example/hooks/");
    ck_assert_uint_eq(cfg.n_cors_origins, 1);
    ck_assert_str_eq(conf_source(&cfg, "transports.http_push.allow"),
                     "flag --transports-http-push-allow");
    const char *bad[] = {"--transports-http-push-allow", "http://user@a.example", NULL};
    ck_assert_int_eq(load(false, bad, NULL), CONF_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err, "transports.http_push.allow"));
    ck_assert_ptr_nonnull(strstr(err, "is not a push URL prefix"));
}
END_TEST

START_TEST(switches_aliases_and_equals_forms)
{
    const char *flags[] = {
        "--debug", "--api-auth-public-key", "none", "--level=DEBUG", "--auth-require-exp", "false",
        NULL};
    ck_assert_int_eq(load(false, flags, NULL), CONF_OK);
    ck_assert(cfg.debug);
    ck_assert_str_eq(cfg.auth_publickey, "none");
    ck_assert_str_eq(cfg.level, "DEBUG");
    ck_assert(!cfg.auth_require_exp);
    const char *off[] = {"--debug=false", NULL};
    ck_assert_int_eq(load(false, off, NULL), CONF_OK);
    ck_assert(!cfg.debug);
}
END_TEST

START_TEST(conf_set_refuses_unknown_keys_with_a_suggestion)
{
    conf_defaults(&cfg, false);
    ck_assert_int_eq(conf_set(&cfg, "messages.batch_sise", "1", "test", err, sizeof err), -1);
    ck_assert_str_eq(err, "test: unknown configuration key 'messages.batch_sise' (did you mean "
                          "'messages.batch_size'?)");
    ck_assert_int_eq(conf_set(&cfg, "messages.batch_size", "7", "test", err, sizeof err), 0);
    ck_assert_int_eq(cfg.messages_batch_size, 7);
    ck_assert_str_eq(conf_source(&cfg, "messages.batch_size"), "test");
    ck_assert_ptr_null(conf_source(&cfg, "nope"));
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("layers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, same_key_from_four_sources_later_wins);
    tcase_add_test(tc, push_allow_is_a_list_from_every_source_and_entries_are_checked);
    tcase_add_test(tc, layers_combine_per_key);
    tcase_add_test(tc, config_flag_replaces_the_search);
    tcase_add_test(tc, file_search_walks_up_to_parent_directories);
    tcase_add_test(tc, dev_forces_memory_database_unless_the_flag_says_otherwise);
    tcase_add_test(tc, ui_is_on_for_dev_and_off_for_serve_unless_set);
    tcase_add_test(tc, example_file_loads_and_changes_no_default);
    tcase_add_test(tc, example_file_mentions_every_implemented_key);
    tcase_add_test(tc, every_implemented_key_has_a_flag_in_help);
    tcase_add_test(tc, help_flag_wins_over_everything);
    tcase_add_test(tc, file_errors_name_the_file_line_and_key);
    tcase_add_test(tc, missing_config_file_is_an_error_but_no_file_found_is_not);
    tcase_add_test(tc, a_directory_as_the_config_file_is_named_with_the_file_to_give);
    tcase_add_test(tc, environment_errors_name_the_variable);
    tcase_add_test(tc, environment_of_other_programs_is_ignored);
    tcase_add_test(tc, environment_values_take_toml_forms);
    tcase_add_test(tc, flag_errors_are_usage_errors);
    tcase_add_test(tc, connection_and_poll_limits_have_bounded_defaults);
    tcase_add_test(tc, listeners_per_promise_defaults_to_1000_and_0_lifts_it);
    tcase_add_test(tc, settle_fanout_batch_defaults_to_500_and_0_lifts_it);
    tcase_add_test(tc, commit_interval_defaults_to_a_millisecond_and_0_turns_pacing_off);
    tcase_add_test(tc, value_rules_have_their_own_messages);
    tcase_add_test(tc, issuer_without_public_key_is_refused);
    tcase_add_test(tc, revocation_list_without_public_key_is_refused);
    tcase_add_test(tc, a_tls_certificate_without_its_key_is_refused_and_the_reverse);
    tcase_add_test(tc, tag_value_limit_below_id_limit_is_refused);
    tcase_add_test(tc, postgres_storage_needs_a_url_from_any_layer);
    tcase_add_test(
        tc,
        a_postgres_url_of_another_scheme_or_none_is_refused_at_load_naming_the_setting_and_the_forms);
    tcase_add_test(tc, unimplemented_keys_are_accepted_with_a_warning);
    tcase_add_test(tc, cors_flags_repeat_and_replace_the_configured_list);
    tcase_add_test(tc, switches_aliases_and_equals_forms);
    tcase_add_test(tc, conf_set_refuses_unknown_keys_with_a_suggestion);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(config_suite)
