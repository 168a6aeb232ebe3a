/* server_fixture.c - see server_fixture.h. */
#include "tests/unit/server_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "server/exec.h"
#include "server/http.h"
#include "server/poll.h"
#include "store/sqlite.h"
#include "tests/unit/unit.h"

static struct {
    bool running;
    exec_t *ex;
    http_t *h;
    poll_hub_t *hub;
    auth_t *auth;
    char url[64];
} fx;

void fixture_start(const fixture_config_t *cfg)
{
    char err[512];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(&fx, 0, sizeof fx);
    if (cfg->auth) {
        auth_config_t ac;
        auth_config_default(&ac);
        ac.publickey_path = cfg->auth;
        ac.require_exp = false;
        fx.auth = auth_new(&ac, err, sizeof err);
        ck_assert_msg(fx.auth != NULL, "auth_new: %s", err);
    }
    fx.hub = poll_hub_new(&(poll_config_t){.max_streams = 64, .buffer = 64});
    ck_assert_ptr_nonnull(fx.hub);
    store_t *st = store_sqlite_open(":memory:", err, sizeof err);
    ck_assert_msg(st != NULL, "store: %s", err);
    exec_config_t ec = {.engine = {.retry_timeout = 30000},
                        .tick_interval_ms = 3600 * 1000,
                        .tick_batch = 100,
                        .max_batch = 64,
                        .debug = cfg->debug,
                        .deliver = true,
                        .deliver_interval_ms = 50,
                        .inline_jobs = cfg->inline_jobs,
                        .outbox = {.server_url = "http://127.0.0.1", .hub = fx.hub}};
    fx.ex = exec_start(st, &ec, err, sizeof err);
    ck_assert_msg(fx.ex != NULL, "exec_start: %s", err);
    http_config_t hc = {.bind = "127.0.0.1",
                        .port = 0,
                        .debug = cfg->debug,
                        .ui = cfg->ui,
                        .max_body = cfg->max_body,
                        .threads = 2,
                        .exec = fx.ex,
                        .hub = fx.hub,
                        .auth = fx.auth,
                        .cors_origins = cfg->cors_origins,
                        .n_cors_origins = cfg->n_cors_origins};
    fx.h = http_start(&hc, err, sizeof err);
    ck_assert_msg(fx.h != NULL, "http_start: %s", err);
    snprintf(fx.url, sizeof fx.url, "http://127.0.0.1:%u", (unsigned)http_port(fx.h));
    fx.running = true;
}

const char *fixture_url(void)
{
    return fx.url;
}

void fixture_stop(void)
{
    if (!fx.running)
        return;
    /* serve.c's order: streams, store thread, then the daemon. */
    poll_hub_close_all(fx.hub);
    exec_stop(fx.ex);
    for (int i = 0; i < 200 && poll_count(fx.hub) > 0; i++)
        unit_sleep_ms(5);
    http_stop(fx.h);
    exec_free(fx.ex);
    poll_hub_free(fx.hub);
    auth_free(fx.auth);
    fx.running = false;
    curl_global_cleanup();
}

typedef struct {
    char *p;
    size_t n;
} buf_t;

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    buf_t *b = ud;
    char *np = realloc(b->p, b->n + size * n + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, p, size * n);
    b->p = np;
    b->n += size * n;
    b->p[b->n] = '\0';
    return size * n;
}

long unit_http(const char *method, const char *url, const char *body, const char *const *headers,
               char **resp_body, char **resp_headers)
{
    CURL *e = curl_easy_init();
    ck_assert_ptr_nonnull(e);
    buf_t b = {0}, h = {0};
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(e);
    if (resp_body)
        *resp_body = b.p;
    else
        free(b.p);
    if (resp_headers)
        *resp_headers = h.p;
    else
        free(h.p);
    return status;
}

int fixture_http(const char *method, const char *path, const char *body, const char *const *headers,
                 char **resp_body, char **resp_headers)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", fx.url, path);
    long status = unit_http(method, url, body, headers, resp_body, resp_headers);
    ck_assert_msg(status != 0, "%s %s: no answer", method, path);
    return (int)status;
}
