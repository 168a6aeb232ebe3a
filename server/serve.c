/* serve.c - `resonate serve` and `resonate dev`: one server process.
 *
 * server_main() owns the one server context: configuration, store thread,
 * HTTP daemon. Signals are blocked in every thread and taken synchronously
 * here with sigwait, so no handler runs concurrently with anything: SIGTERM
 * and SIGINT shut down gracefully. */
#include "server/serve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth/auth.h"
#include "conf/config.h"
#include "conf/sdnotify.h"
#include "server/exec.h"
#include "server/http.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/tls.h"
#include "store/postgres.h"
#include "store/sqlite.h"

extern char **environ;

static void print_line(const char *line, void *arg)
{
    fprintf((FILE *)arg, "%s\n", line);
}

const char *server_description(const char *cmd)
{
    return strcmp(cmd, "dev") == 0
               ? "Run the server for development: like serve, but the database is :memory:\n"
                 "(nothing survives a restart) unless --storage-sqlite-path is given, whatever\n"
                 "resonate.toml or the environment say."
               : "Run the server. State is kept in the SQLite file given by\n"
                 "--storage-sqlite-path (default resonate.db), or with --storage-type postgres\n"
                 "in the PostgreSQL database of --storage-postgres-url, which several servers\n"
                 "may share; an answer is sent only after its write is committed.";
}

void server_help(const char *cmd)
{
    printf("Usage: resonate %s [OPTIONS]\n\n%s\n\n", cmd, server_description(cmd));
    printf("Configuration, later wins: built-in defaults < resonate.toml (--config FILE,\n"
           "else the first resonate.toml in the working directory or a parent) <\n"
           "RESONATE_* environment variables (`__` between levels, e.g.\n"
           "RESONATE_SERVER__PORT=8001, RESONATE_SERVER__CORS__ALLOW_ORIGINS='[\"*\"]') <\n"
           "these flags. Every flag --a-b-c sets the key a.b_c of resonate.toml (see\n"
           "resonate.toml.example). Durations are integers in milliseconds.\n\n"
           "Options:\n");
    conf_print_flags(print_line, stdout);
    printf("\nSignals: SIGTERM/SIGINT shut down gracefully (within --server-shutdown-timeout);\n"
           "SIGHUP reloads the auth key file, the revocation list and the TLS certificates\n"
           "and keys (a file that fails to load keeps the previous one). Under systemd "
           "(Type=notify) readiness is\n"
           "reported through $NOTIFY_SOCKET.\n");
}

/* What SIGHUP reloads; any member may be NULL. */
typedef struct {
    auth_t *auth;
    bool revoked;    /* auth has a revocation file */
    poll_hub_t *hub; /* its streams are verified again after an auth reload */
    tls_t *api_tls, *metrics_tls;
} reloadable_t;

/* The tokens of open streams a reload refused, by reason label
 * (auth_reason_label). */
typedef struct {
    auth_t *auth;
    int64_t now_s;
    size_t n;
    struct {
        const char *label;
        size_t count;
    } by[8];
} reverify_t;

/* poll_hub_close_if predicate, once per distinct token of the open
 * streams: whether it no longer verifies (auth_verify: signature with the
 * current keys, times, revocation list). */
static bool poll_token_fails(void *arg, const char *token)
{
    reverify_t *rv = arg;
    auth_claims_t claims;
    char why[256];
    if (auth_verify(rv->auth, token, rv->now_s, &claims, why, sizeof why) == AUTH_OK)
        return false;
    const char *label = auth_reason_label(why);
    size_t i = 0;
    while (i < rv->n && strcmp(rv->by[i].label, label) != 0)
        i++;
    if (i == rv->n && rv->n < sizeof rv->by / sizeof rv->by[0]) {
        rv->by[i].label = label;
        rv->by[rv->n++].count = 0;
    }
    if (i < rv->n)
        rv->by[i].count++;
    return true;
}

/* After a reload of the keys or the revocation list: a stream was verified
 * when it opened, so each open stream's token is verified again in full
 * (signature with the new key set, exp, revocation) and the streams of
 * tokens that fail are ended; the client's reconnect gets 401 and the
 * reason. Each distinct token costs one signature check (the reload
 * emptied the cache), made without the hub's lock. */
static void reverify_streams(const reloadable_t *r)
{
    reverify_t rv = {.auth = r->auth, .now_s = (int64_t)time(NULL)};
    size_t ended = poll_hub_close_if(r->hub, poll_token_fails, &rv);
    char reasons[256] = "";
    for (size_t i = 0, o = 0; i < rv.n && o < sizeof reasons; i++)
        o += (size_t)snprintf(reasons + o, sizeof reasons - o, "%s%s %zu",
                              i ? ", " : "; tokens refused: ", rv.by[i].label, rv.by[i].count);
    log_info("SIGHUP: open poll streams verified again: %zu ended%s", ended, reasons);
}

/* Warns when the certificate t serves expires within TLS_EXPIRY_WARN_DAYS
 * days or has expired (at start and after every reload). */
static void warn_cert_expiry(tls_t *t)
{
    char msg[1024];
    if (t && tls_expiry_warning(t, (int64_t)time(NULL), msg, sizeof msg))
        log_warn("%s", msg);
}

/* SIGHUP: each part reloads on its own; one that fails keeps its previous
 * state and says why. */
static void reload_all(const reloadable_t *r)
{
    char err[512], desc[256];
    bool any = false;
    if (r->auth) {
        any = true;
        if (auth_reload(r->auth, err, sizeof err) == 0) {
            auth_describe(r->auth, desc, sizeof desc);
            log_info("SIGHUP: auth keys reloaded (%s)", desc);
        } else {
            log_error("SIGHUP: key reload failed, keeping the previous keys: %s", err);
        }
    }
    if (r->auth && r->revoked) {
        size_t before = auth_revoked_entries(r->auth);
        if (auth_revoked_reload(r->auth, err, sizeof err) == 0) {
            auth_revoked_describe(r->auth, desc, sizeof desc);
            log_info("SIGHUP: revocation list reloaded (%s)", desc);
            size_t after = auth_revoked_entries(r->auth);
            /* A file read while being written in place parses as a
             * shorter list: say so when it lost more than half. */
            if (after < before / 2 + before % 2)
                log_warn("SIGHUP: the revocation list shrank from %zu to %zu entries; the tokens "
                         "of the removed entries are accepted again. If that was not meant, the "
                         "file may have been read while being written: write it aside and rename "
                         "it over the path (atomic), then send SIGHUP again",
                         before, after);
        } else {
            log_error("SIGHUP: revocation list reload failed, keeping the previous list: %s", err);
        }
    }
    if (r->auth && r->hub)
        reverify_streams(r);
    tls_t *const pairs[] = {r->api_tls, r->metrics_tls};
    for (size_t i = 0; i < 2; i++) {
        if (!pairs[i])
            continue;
        any = true;
        if (tls_reload(pairs[i], err, sizeof err) == 0) {
            tls_describe(pairs[i], desc, sizeof desc);
            log_info("SIGHUP: TLS certificate reloaded (%s)", desc);
        } else {
            log_error("SIGHUP: TLS reload failed, keeping the previous certificate and key: %s",
                      err);
        }
        warn_cert_expiry(pairs[i]);
    }
    if (!any)
        log_info("SIGHUP received: auth and TLS are off, nothing to reload");
}

/* Waits for SIGTERM/SIGINT, writing SSE keep-alives meanwhile and reloading
 * keys, revocations and certificates on SIGHUP. Returns the signal. */
static int wait_for_signal(const sigset_t *set, poll_hub_t *hub, const reloadable_t *reload,
                           int64_t keepalive_ms)
{
    struct timespec every = {keepalive_ms / 1000, (keepalive_ms % 1000) * 1000000L};
    for (;;) {
        int sig = sigtimedwait(set, NULL, &every);
        if (sig < 0) {
            if (hub)
                poll_keepalive(hub);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT)
            return sig;
        if (sig == SIGHUP)
            reload_all(reload);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What /metrics reads from the rest of the server at each scrape; read and
 * written by read_gauges only, on the metrics daemon's one thread. */
typedef struct {
    exec_t *ex;
    reads_t *reads;    /* counts the outbox; NULL: the store thread's tick does */
    int64_t depth;     /* the last count, kept when a count fails */
    bool depth_failed; /* the last count failed (logged once per outage) */
    poll_hub_t *hub;
    auth_t *auth;
    http_t *http;
    tls_t *api_tls, *metrics_tls; /* NULL: that listener has no TLS */
} gauge_src_t;

static void read_gauges(void *arg, metrics_gauges_t *out)
{
    gauge_src_t *g = arg;
    if (g->hub) {
        poll_stats_t ps = poll_stats(g->hub);
        out->pollers = ps.streams;
        out->poll_queued_bytes = ps.queued_bytes;
        out->poll_budget_closed = ps.budget_closed;
        out->poll_budget_refused = ps.budget_refused;
        out->poll_tenant_refused = ps.tenant_refused;
        out->poll_limit_refused = ps.limit_refused;
        out->poll_max_streams = ps.max_streams;
    }
    out->request_timeouts = http_request_timeouts(g->http);
    if (g->ex) {
        outbox_stats_t os = exec_outbox_stats(g->ex);
        char err[512];
        int rc = 0;
        if (g->reads)
            rc = reads_outbox_count(g->reads, &g->depth, err, sizeof err);
        else
            g->depth = exec_outbox_depth(g->ex);
        if (rc < 0 && !g->depth_failed)
            log_warn("metrics: counting the outbox failed (resonate_outbox_depth keeps its "
                     "last value until a count succeeds): %s",
                     err);
        else if (rc == 0 && g->depth_failed)
            log_info("metrics: the outbox is counted again");
        if (rc <= 0)
            g->depth_failed = rc < 0;
        out->outbox_depth = g->depth;
        out->delivered = os.delivered;
        out->retried = os.retried;
        out->dropped = os.dropped;
    }
    if (g->auth) {
        auth_stats_t as;
        auth_stats(g->auth, &as);
        out->auth_verifications = as.verifications;
        out->auth_cache_hits = as.cache_hits;
    }
    out->tls_api_expires = g->api_tls ? tls_expires(g->api_tls) : 0;
    out->tls_metrics_expires = g->metrics_tls ? tls_expires(g->metrics_tls) : 0;
}

/* Enforces server.shutdown_timeout: once shutdown begins, a thread waits
 * for it to finish and ends the process when the budget is spent. Ending
 * the process from here (_exit) is deliberate: a stuck drain cannot be
 * interrupted any other way, and every acknowledged write is already on
 * disk. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int64_t timeout_ms;
    pthread_t thread;
} watchdog_t;

static void *watchdog_main(void *arg)
{
    watchdog_t *w = arg;
    pthread_setname_np(pthread_self(), "resonate-wdog");
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(w->timeout_ms / 1000);
    deadline.tv_nsec += (long)(w->timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!w->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &deadline);
    bool done = w->done;
    pthread_mutex_unlock(&w->mu);
    if (!done) {
        log_warn("Shutdown did not finish within server.shutdown_timeout=%lld ms, forcing exit",
                 (long long)w->timeout_ms);
        _exit(0);
    }
    return NULL;
}

static bool watchdog_start(watchdog_t *w, int64_t timeout_ms)
{
    memset(w, 0, sizeof *w);
    w->timeout_ms = timeout_ms;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return false;
    }
    return true;
}

static void watchdog_finish(watchdog_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

static void notify_systemd(const char *state)
{
    char err[256];
    if (sdnotify_send(state, err, sizeof err) < 0)
        log_warn("sd_notify failed: %s", err);
}

static void log_config_entry(const char *key, const char *value, const char *source, void *arg)
{
    (void)arg;
    log_debug("config key=%s value=%s source=%s", key, value, source);
}

int server_main(const char *cmd, int argc, char **argv)
{
    bool dev = strcmp(cmd, "dev") == 0;
    conf_t cfg;
    char err[1024];
    int rc = 1;
    store_t *st = NULL;
    exec_t *ex = NULL;
    reads_t *rd = NULL;
    http_t *h = NULL;
    poll_hub_t *hub = NULL;
    auth_t *auth = NULL;
    tls_t *api_tls = NULL, *metrics_tls = NULL;
    metrics_t *metrics = NULL;
    watchdog_t wd;
    bool wd_running = false;
    char url[512];

    conf_sources_t src = {.dev = dev, .argc = argc, .argv = argv, .envp = environ};
    switch (conf_load(&cfg, &src, err, sizeof err)) {
    case CONF_OK:
        break;
    case CONF_HELP:
        server_help(cmd);
        conf_free(&cfg);
        return 0;
    case CONF_EUSAGE:
        fprintf(stderr, "error: %s\n", err);
        conf_free(&cfg);
        return 2;
    case CONF_ECONFIG:
        fprintf(stderr, "Fatal: Configuration error: %s\n", err);
        conf_free(&cfg);
        return 1;
    }
    log_init((log_level_t)log_level_parse(cfg.level), strcmp(cfg.log_format, "json") == 0);

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
        snprintf(url, sizeof url, "%s://%s:%lld", cfg.server_tls_cert ? "https" : "http",
                 cfg.server_host, (long long)cfg.server_port);
    log_info("Resonate Server starting version=%s protocol=%s command=%s config=%s",
             RESONATE_VERSION, PROTOCOL_VERSION, cmd, cfg.config_file ? cfg.config_file : "(none)");
    for (size_t i = 0; i < cfg.n_warnings; i++)
        log_warn("%s", cfg.warnings[i]);
    conf_each(&cfg, log_config_entry, NULL);
    log_info("Operational config timeouts_poll_interval_ms=%lld messages_poll_interval_ms=%lld "
             "messages_batch_size=%lld tasks_retry_timeout_ms=%lld",
             (long long)cfg.timeouts_poll_interval, (long long)cfg.messages_poll_interval,
             (long long)cfg.messages_batch_size, (long long)cfg.tasks_retry_timeout);

    if (cfg.auth_publickey) {
        auth_config_t ac;
        auth_config_default(&ac);
        ac.publickey_path = cfg.auth_publickey;
        ac.iss = cfg.auth_iss;
        ac.aud = cfg.auth_aud;
        ac.require_exp = cfg.auth_require_exp;
        ac.leeway_s = cfg.auth_leeway;
        ac.revoked_path = cfg.auth_revoked;
        auth = auth_new(&ac, err, sizeof err);
        if (!auth) {
            log_error("Fatal: cannot load auth public key '%s'%s%s: %s", cfg.auth_publickey,
                      cfg.auth_revoked ? " or revocation list " : "",
                      cfg.auth_revoked ? cfg.auth_revoked : "", err);
            goto done;
        }
        if (cfg.auth_revoked) {
            char rdesc[256];
            auth_revoked_describe(auth, rdesc, sizeof rdesc);
            log_info("Revocation list loaded from %s (%s)", cfg.auth_revoked, rdesc);
        }
        char desc[256];
        auth_describe(auth, desc, sizeof desc);
        if (auth_is_unsigned(auth))
            log_warn("Auth enabled in UNSIGNED mode: token signatures are NOT verified");
        else
            log_info("Auth enabled: %s from %s%s%s%s%s", desc, cfg.auth_publickey,
                     cfg.auth_iss ? ", iss " : "", cfg.auth_iss ? cfg.auth_iss : "",
                     cfg.auth_aud ? ", aud " : "", cfg.auth_aud ? cfg.auth_aud : "");
        if (cfg.http_push_enabled)
            log_info("HTTP push: tokens without the admin role may name only addresses under "
                     "transports.http_push.allow entries=%zu",
                     cfg.n_push_allow);
    } else {
        log_info("Auth disabled: all requests accepted (use --auth-publickey to require tokens)");
    }
    if (cfg.server_tls_cert) {
        char desc[512];
        api_tls = tls_new(cfg.server_tls_cert, cfg.server_tls_key, "server.tls_cert/server.tls_key",
                          err, sizeof err);
        if (!api_tls) {
            log_error("Fatal: %s", err);
            goto done;
        }
        tls_describe(api_tls, desc, sizeof desc);
        log_info("TLS enabled, the API is HTTPS only (%s)", desc);
        warn_cert_expiry(api_tls);
    }
    if (cfg.metrics_port && cfg.metrics_tls_cert) {
        char desc[512];
        metrics_tls = tls_new(cfg.metrics_tls_cert, cfg.metrics_tls_key,
                              "observability.metrics_tls_cert/metrics_tls_key", err, sizeof err);
        if (!metrics_tls) {
            log_error("Fatal: %s", err);
            goto done;
        }
        tls_describe(metrics_tls, desc, sizeof desc);
        log_info("TLS enabled for /metrics (%s)", desc);
        warn_cert_expiry(metrics_tls);
    }
    if (cfg.push_cacert && access(cfg.push_cacert, R_OK) != 0) {
        log_error("Fatal: cannot read transports.http_push.cacert '%s': %s", cfg.push_cacert,
                  strerror(errno));
        goto done;
    }
    struct stat cacert_st;
    if (cfg.push_cacert && stat(cfg.push_cacert, &cacert_st) == 0 && S_ISDIR(cacert_st.st_mode)) {
        /* access() passes a directory; every push to https:// would fail */
        log_error("Fatal: transports.http_push.cacert '%s' is a directory, not a file: give it the "
                  "PEM file of the CA certificates (several may be concatenated in one file)",
                  cfg.push_cacert);
        goto done;
    }
    if (cfg.http_poll_enabled) {
        poll_config_t pc = {
            .max_streams = (size_t)cfg.http_poll_max_connections,
            .max_tenant = (size_t)cfg.http_poll_max_connections_per_tenant,
            .buffer = (size_t)cfg.http_poll_buffer_size,
            .stream_bytes = (size_t)cfg.http_poll_buffer_bytes,
            .total_bytes = (size_t)cfg.http_poll_total_buffer_bytes,
        };
        hub = poll_hub_new(&pc);
        if (!hub) {
            log_error("Fatal: out of memory");
            goto done;
        }
    }
    if (cfg.metrics_port) {
        metrics =
            metrics_new(strcmp(cfg.storage_type, "postgres") == 0 ? NULL : cfg.storage_sqlite_path);
        if (!metrics) {
            log_error("Fatal: out of memory");
            goto done;
        }
    }

    bool postgres = strcmp(cfg.storage_type, "postgres") == 0;
    bool memory = !postgres && strcmp(cfg.storage_sqlite_path, ":memory:") == 0;
    if (postgres) {
        st = store_postgres_open(cfg.storage_postgres_url, err, sizeof err);
        if (!st) {
            log_error("Fatal: Failed to open the PostgreSQL database: %s", err);
            goto done;
        }
        log_info("Using PostgreSQL backend pool_size=%lld",
                 (long long)cfg.storage_postgres_pool_size);
    } else {
        st = store_sqlite_open(cfg.storage_sqlite_path, err, sizeof err);
        if (!st) {
            log_error("Fatal: Failed to open SQLite database '%s': %s", cfg.storage_sqlite_path,
                      err);
            goto done;
        }
        log_info("Using SQLite backend path=%s", cfg.storage_sqlite_path);
    }
    exec_config_t ec = {
        .engine = {.retry_timeout = cfg.tasks_retry_timeout,
                   .preload_max_count = (size_t)cfg.tasks_preload_max_count,
                   .preload_max_bytes = (size_t)cfg.tasks_preload_max_bytes,
                   .listeners_per_promise = (size_t)cfg.limits_listeners_per_promise,
                   .settle_fanout_batch = (size_t)cfg.limits_settle_fanout_batch},
        .tick_interval_ms = cfg.timeouts_poll_interval,
        .tick_batch = 1000,
        .max_batch = 512,
        /* SQLite on a file only: an in-memory commit flushes nothing, and
         * PostgreSQL gathers its own flushes (commit_delay) */
        .commit_interval_us = postgres || memory ? 0 : cfg.storage_sqlite_commit_interval_us,
        .debug = cfg.debug,
        .deliver = true,
        /* an in-memory database's commit costs no I/O: no group commit */
        .inline_jobs = memory,
        .deliver_interval_ms = cfg.messages_poll_interval,
        .outbox =
            {
                .server_url = url,
                .batch = (size_t)cfg.messages_batch_size,
                .max_attempts = (int)cfg.messages_max_attempts,
                .backoff_base_ms = cfg.messages_retry_base,
                .backoff_max_ms = cfg.messages_retry_max,
                .hub = hub,
                .shared = postgres,
                .claim_ms = cfg.messages_claim_ttl,
                /* every server has looked at a due row twice by then */
                .orphan_ms = time_add_sat(2 * cfg.messages_poll_interval, 100),
                .push_enabled = cfg.http_push_enabled,
                .push = {.concurrency = (size_t)cfg.http_push_concurrency,
                         .cacert = cfg.push_cacert,
                         .connect_timeout_ms = cfg.http_push_connect_timeout,
                         .request_timeout_ms = cfg.http_push_request_timeout},
            },
        .metrics = metrics,
        .count_outbox = memory,
    };
    ex = exec_start(st, &ec, err, sizeof err);
    if (!ex) {
        log_error("Fatal: %s", err);
        goto done;
    }
    rd = postgres
             ? reads_new_postgres(cfg.storage_postgres_url, (size_t)cfg.storage_postgres_pool_size,
                                  &ec.engine, err, sizeof err)
             : reads_new(cfg.storage_sqlite_path, &ec.engine, err, sizeof err);
    if (!rd && err[0]) {
        log_error("Fatal: Failed to open a read connection to '%s': %s",
                  postgres ? "PostgreSQL" : cfg.storage_sqlite_path, err);
        goto done;
    }
    log_info("Reads path=%s", rd ? "read-only connections" : "store thread (in-memory database)");
    log_info("Transport config http_poll=%s http_push=%s push_concurrency=%lld",
             cfg.http_poll_enabled ? "enabled" : "disabled",
             cfg.http_push_enabled ? "enabled" : "disabled", (long long)cfg.http_push_concurrency);
    http_config_t hc = {
        .bind = cfg.server_bind,
        .port = (uint16_t)cfg.server_port,
        .debug = cfg.debug,
        .ui = cfg.ui_enabled,
        .max_body = (size_t)cfg.server_max_body,
        .limits = {.id_max_bytes = (size_t)cfg.limits_id_max_bytes,
                   .tags_max_count = (size_t)cfg.limits_tags_max_count,
                   .tag_key_max_bytes = (size_t)cfg.limits_tag_key_max_bytes,
                   .tag_value_max_bytes = (size_t)cfg.limits_tag_value_max_bytes,
                   .tags_max_bytes = (size_t)cfg.limits_tags_max_bytes,
                   .cron_max_bytes = (size_t)cfg.limits_cron_max_bytes},
        .threads = (unsigned)cfg.server_threads,
        .max_connections = (unsigned)cfg.server_max_connections,
        .max_conns_per_ip = (unsigned)cfg.server_max_connections_per_ip,
        .request_timeout_ms = cfg.server_request_timeout,
        .exec = ex,
        .reads = rd,
        .hub = hub,
        .auth = auth,
        .metrics = metrics,
        .tls = api_tls,
        .cors_origins = cfg.cors_origins,
        .n_cors_origins = cfg.n_cors_origins,
        .push_allow = cfg.push_allow,
        .n_push_allow = cfg.n_push_allow,
    };
    h = http_start(&hc, err, sizeof err);
    if (!h) {
        log_error("Fatal: %s", err);
        goto done;
    }
    gauge_src_t gauges = {.ex = ex,
                          .reads = rd,
                          .hub = hub,
                          .auth = auth,
                          .http = h,
                          .api_tls = api_tls,
                          .metrics_tls = metrics_tls};
    if (metrics) {
        metrics_set_tls(metrics, metrics_tls);
        if (metrics_serve(metrics, cfg.server_bind, (uint16_t)cfg.metrics_port, read_gauges,
                          &gauges, err, sizeof err) == 0)
            log_info("Metrics server listening bind=%s port=%lld path=/metrics scheme=%s",
                     cfg.server_bind, (long long)cfg.metrics_port, metrics_tls ? "https" : "http");
        else
            /* As the reference: the API matters more than its metrics. */
            log_error("Failed to bind metrics port: %s", err);
    }
    if (cfg.n_cors_origins) {
        char origins[512] = "";
        for (size_t i = 0; i < cfg.n_cors_origins; i++)
            snprintf(origins + strlen(origins), sizeof origins - strlen(origins), "%s%s",
                     i ? "," : "", cfg.cors_origins[i]);
        log_info("CORS enabled origins=%s", origins);
    }
    log_info("Server listening bind=%s port=%u server_url=%s storage=%s debug=%s auth=%s tls=%s",
             cfg.server_bind, (unsigned)http_port(h), url,
             postgres ? "postgres" : cfg.storage_sqlite_path, cfg.debug ? "on" : "off",
             auth ? "on" : "off", api_tls ? "on" : "off");
    if (cfg.ui_enabled)
        log_info("Web console at %s/ui (ui.enabled; --ui-enabled false turns it off)", url);
    notify_systemd("READY=1\nSTATUS=Serving");

    reloadable_t reload = {.auth = auth,
                           .revoked = cfg.auth_revoked != NULL,
                           .hub = hub,
                           .api_tls = api_tls,
                           .metrics_tls = metrics_tls};
    int sig = wait_for_signal(&set, hub, &reload, cfg.http_poll_keepalive);
    log_info("Received %s, initiating graceful shutdown", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    notify_systemd("STOPPING=1\nSTATUS=Shutting down");
    wd_running = watchdog_start(&wd, cfg.server_shutdown_timeout);
    /* The listener stays open until http_stop: libmicrohttpd's quiesce
     * races its epoll worker threads and can abort. Requests arriving now are
     * served until exec_stop, and answered 503 after. */
    rc = 0;
done:
    /* Order matters: stop the scrapes (they read exec), end the SSE
     * streams, let the store thread answer every queued job (so no
     * connection stays suspended), record deliveries and checkpoint the WAL
     * (exec_stop), give the HTTP threads a moment to write those answers,
     * then close the daemon; only then may exec go (requests on open
     * keep-alive connections reach exec_submit until http_stop). */
    metrics_stop(metrics);
    if (hub)
        poll_hub_close_all(hub);
    reads_stop(rd); /* before the writer's checkpoint and close: it removes the -wal last */
    exec_stop(ex);
    if (h) {
        for (int i = 0; i < 100 && hub && poll_count(hub) > 0; i++)
            sleep_ms(10);
        sleep_ms(50);
        http_stop(h);
    }
    exec_free(ex);
    reads_free(rd);
    poll_hub_free(hub);
    metrics_free(metrics);
    tls_free(api_tls); /* after both daemons stopped: no handshake left */
    tls_free(metrics_tls);
    auth_free(auth);
    if (wd_running)
        watchdog_finish(&wd);
    if (rc == 0)
        log_info("Resonate Server stopped");
    conf_free(&cfg);
    return rc;
}
