/* main.c - the `resonate` command: serve, dev and help.
 *
 * main() owns the one server context: configuration, store thread, HTTP
 * daemon. Signals are blocked in every thread and taken synchronously here
 * with sigwait, so no handler runs concurrently with anything: SIGTERM and
 * SIGINT shut down gracefully. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth/auth.h"
#include "conf/config.h"
#include "server/client.h"
#include "server/exec.h"
#include "server/http.h"
#include "server/log.h"

#define RESONATE_VERSION "0.1.0"

static void print_line(const char *line, void *arg)
{
    fprintf((FILE *)arg, "%s\n", line);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Resonate Server (resonate-c %s) - durable promise engine, protocol %s\n\n"
            "Usage: resonate <COMMAND> [OPTIONS]\n\n"
            "Commands:\n"
            "  serve   Run the server (SQLite file resonate.db by default)\n"
            "  dev     Run the server for development (in-memory database)\n"
            "  help    Print this message\n\n"
            "Run 'resonate <COMMAND> --help' for the options of a command.\n",
            RESONATE_VERSION, PROTOCOL_VERSION);
}

static void serve_help(const char *cmd)
{
    printf("Usage: resonate %s [OPTIONS]\n\n%s\n\nOptions:\n", cmd,
           strcmp(cmd, "dev") == 0
               ? "Run the server for development: like serve, but the database defaults to\n"
                 ":memory: (nothing survives a restart) unless --storage-sqlite-path is given."
               : "Run the server. State is kept in the SQLite file given by\n"
                 "--storage-sqlite-path (default resonate.db); an answer is sent only after\n"
                 "its write is on disk.");
    conf_print_flags(print_line, stdout);
    printf("  %-46s %s\n", "-h, --help", "print this help");
    printf("\nNot implemented (Rust server flags for other backends and transports):\n"
           "  --storage-postgres-*, --storage-mysql-*, --transports-gcps-*,\n"
           "  --transports-bash-exec-*, --transports-http-push-auth-*, "
           "--observability-otlp-endpoint\n");
}

#define KEEPALIVE_MS 15000

/* Waits for SIGTERM/SIGINT, writing SSE keep-alives meanwhile and reloading
 * the auth keys on SIGHUP. Returns the signal. */
static int wait_for_signal(const sigset_t *set, poll_hub_t *hub, auth_t *auth)
{
    struct timespec every = {KEEPALIVE_MS / 1000, 0};
    for (;;) {
        int sig = sigtimedwait(set, NULL, &every);
        if (sig < 0) {
            if (hub)
                poll_keepalive(hub);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT)
            return sig;
        if (sig == SIGHUP && auth) {
            char err[512], desc[256];
            if (auth_reload(auth, err, sizeof err) == 0) {
                auth_describe(auth, desc, sizeof desc);
                log_info("SIGHUP: auth keys reloaded (%s)", desc);
            } else {
                log_error("SIGHUP: key reload failed, keeping the previous keys: %s", err);
            }
        } else if (sig == SIGHUP) {
            log_info("SIGHUP received: auth is off, nothing to reload");
        }
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int run_server(const char *cmd, int argc, char **argv)
{
    bool dev = strcmp(cmd, "dev") == 0;
    conf_t cfg;
    conf_defaults(&cfg, dev);
    char err[1024];
    bool help = false;
    int rc = 1;
    store_t *st = NULL;
    exec_t *ex = NULL;
    http_t *h = NULL;
    poll_hub_t *hub = NULL;
    auth_t *auth = NULL;
    char url[512];

    if (conf_parse_flags(&cfg, argc, argv, &help, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        conf_free(&cfg);
        return 2;
    }
    if (help) {
        serve_help(cmd);
        conf_free(&cfg);
        return 0;
    }
    log_init((log_level_t)log_level_parse(cfg.level), cfg.log_json);

    /* Block the signals we handle before any thread starts, so every thread
     * inherits the mask and only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cfg.server_url)
        snprintf(url, sizeof url, "%s", cfg.server_url);
    else
        snprintf(url, sizeof url, "http://%s:%lld", cfg.server_host, (long long)cfg.server_port);
    if (cfg.auth_publickey) {
        auth_config_t ac;
        auth_config_default(&ac);
        ac.publickey_path = cfg.auth_publickey;
        ac.iss = cfg.auth_iss;
        ac.aud = cfg.auth_aud;
        ac.require_exp = cfg.auth_require_exp;
        ac.leeway_s = cfg.auth_leeway;
        auth = auth_new(&ac, err, sizeof err);
        if (!auth) {
            log_error("Fatal: cannot load auth public key '%s': %s", cfg.auth_publickey, err);
            goto done;
        }
        char desc[256];
        auth_describe(auth, desc, sizeof desc);
        if (auth_is_unsigned(auth))
            log_warn("Auth enabled in UNSIGNED mode: token signatures are NOT verified");
        else
            log_info("Auth enabled: %s from %s%s%s%s%s", desc, cfg.auth_publickey,
                     cfg.auth_iss ? ", iss " : "", cfg.auth_iss ? cfg.auth_iss : "",
                     cfg.auth_aud ? ", aud " : "", cfg.auth_aud ? cfg.auth_aud : "");
    } else {
        log_info("Auth disabled: all requests accepted (use --auth-publickey to require tokens)");
    }
    if (cfg.http_poll_enabled) {
        hub =
            poll_hub_new((size_t)cfg.http_poll_max_connections, (size_t)cfg.http_poll_buffer_size);
        if (!hub) {
            log_error("Fatal: out of memory");
            goto done;
        }
    }

    st = store_sqlite_open(cfg.storage_sqlite_path, err, sizeof err);
    if (!st) {
        log_error("Fatal: Failed to open SQLite database '%s': %s", cfg.storage_sqlite_path, err);
        goto done;
    }
    exec_config_t ec = {
        .engine = {.retry_timeout = cfg.tasks_retry_timeout},
        .tick_interval_ms = cfg.timeouts_poll_interval,
        .tick_batch = 1000,
        .max_batch = 512,
        .debug = cfg.debug,
        .deliver = true,
        .deliver_interval_ms = cfg.messages_poll_interval,
        .outbox =
            {
                .server_url = url,
                .batch = (size_t)cfg.messages_batch_size,
                .max_attempts = 10,
                .backoff_max_ms = 30000,
                .hub = hub,
                .push_enabled = cfg.http_push_enabled,
                .push = {.concurrency = (size_t)cfg.http_push_concurrency,
                         .connect_timeout_ms = cfg.http_push_connect_timeout,
                         .request_timeout_ms = cfg.http_push_request_timeout},
            },
    };
    ex = exec_start(st, &ec, err, sizeof err);
    if (!ex) {
        log_error("Fatal: %s", err);
        goto done;
    }
    http_config_t hc = {
        .bind = cfg.server_bind,
        .port = (uint16_t)cfg.server_port,
        .debug = cfg.debug,
        .max_body = (size_t)cfg.server_max_body,
        .exec = ex,
        .hub = hub,
        .auth = auth,
    };
    h = http_start(&hc, err, sizeof err);
    if (!h) {
        log_error("Fatal: %s", err);
        goto done;
    }
    log_info("resonate %s listening on %s:%u (url %s, storage %s%s, auth %s)", RESONATE_VERSION,
             cfg.server_bind, (unsigned)http_port(h), url, cfg.storage_sqlite_path,
             cfg.debug ? ", debug mode" : "", auth ? "on" : "off");

    int sig = wait_for_signal(&set, hub, auth);
    log_info("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    http_quiesce(h);
    rc = 0;
done:
    /* Order matters: end the SSE streams, let the store thread answer every
     * queued job (so no connection stays suspended), give the HTTP threads
     * a moment to write those answers, then close the daemon. */
    if (hub)
        poll_hub_close_all(hub);
    exec_stop(ex);
    if (h) {
        for (int i = 0; i < 100 && hub && poll_count(hub) > 0; i++)
            sleep_ms(10);
        sleep_ms(50);
        http_stop(h);
    }
    poll_hub_free(hub);
    auth_free(auth);
    conf_free(&cfg);
    if (rc == 0)
        log_info("shutdown complete");
    return rc;
}

static void token_help(FILE *f)
{
    fprintf(f,
            "Usage: resonate token --private-key FILE [OPTIONS]\n\n"
            "Prints a JWT signed with FILE (PEM: RSA, EC P-256/P-384 or Ed25519), for a\n"
            "server started with the matching --auth-publickey.\n\n"
            "Options:\n"
            "  --private-key FILE   signing key (required)\n"
            "  --prefix P           claim \"prefix\": ids the token may touch (\"\" = all)\n"
            "  --role ROLE          claim \"role\" (admin: every id and operation)\n"
            "  --exp DURATION       lifetime, e.g. 30m, 12h, 7d (default 1h)\n"
            "  --no-exp             no exp claim (the server must set auth.require_exp = false)\n"
            "  --iss ISS            claim \"iss\"\n"
            "  --aud AUD            claim \"aud\"\n"
            "  --sub SUB            claim \"sub\"\n"
            "  --kid KID            header \"kid\" (selects the key on the server)\n"
            "  --alg ALG            algorithm (default from the key: RS256, ES256/ES384, EdDSA;\n"
            "                       PS256/384/512 and RS384/512 for RSA keys)\n"
            "  -h, --help           print this help\n");
}

/* resonate token: mints a token with auth_mint. */
static int run_token(int argc, char **argv)
{
    const char *key = NULL;
    auth_mint_opts_t o = {.ttl_s = 3600};
    char err[512];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            token_help(stdout);
            return 0;
        }
        if (strcmp(a, "--no-exp") == 0) {
            o.ttl_s = 0;
            continue;
        }
        static const char *const with_value[] = {"--private-key", "--prefix", "--role",
                                                 "--exp",         "--iss",    "--aud",
                                                 "--sub",         "--kid",    "--alg"};
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
            known |= strcmp(a, with_value[k]) == 0;
        if (!known) {
            fprintf(stderr, "error: unknown option '%s' (see resonate token --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "error: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--private-key") == 0)
            key = v;
        else if (strcmp(a, "--prefix") == 0)
            o.prefix = v;
        else if (strcmp(a, "--role") == 0)
            o.role = v;
        else if (strcmp(a, "--iss") == 0)
            o.iss = v;
        else if (strcmp(a, "--aud") == 0)
            o.aud = v;
        else if (strcmp(a, "--sub") == 0)
            o.sub = v;
        else if (strcmp(a, "--kid") == 0)
            o.kid = v;
        else if (strcmp(a, "--alg") == 0)
            o.alg = v;
        else {
            int64_t ms;
            if (conf_parse_duration(v, &ms, err, sizeof err) != 0) {
                fprintf(stderr, "error: --exp: %s\n", err);
                return 2;
            }
            o.ttl_s = ms / 1000 > 0 ? ms / 1000 : 1;
        }
    }
    if (!key) {
        fprintf(stderr, "error: --private-key is required\n\n");
        token_help(stderr);
        return 2;
    }
    if (!o.prefix && !o.role)
        fprintf(stderr, "warning: the token has neither --prefix nor --role; servers reject "
                        "such tokens (use --prefix \"\" for access to every id)\n");
    char *tok = NULL;
    if (auth_mint(key, &o, &tok, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    printf("%s\n", tok);
    free(tok);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "dev") == 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = run_server(cmd, argc - 2, argv + 2);
        curl_global_cleanup();
        return rc;
    }
    if (strcmp(cmd, "token") == 0)
        return run_token(argc - 2, argv + 2);
    if (client_is_command(cmd)) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = client_main(argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("resonate %s\n", RESONATE_VERSION);
        return 0;
    }
    fprintf(stderr, "error: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
