/* http_stub.c - see http_stub.h. */
#include "tests/unit/http_stub.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "tests/unit/unit.h"

#define MAX_BODY 65536

struct http_stub {
    struct MHD_Daemon *d;
    char url[64];
    int status, delay_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled by stop, to cut delays short */
    bool stopping;
    int requests;
    char body[MAX_BODY];
    char type[128];
};

/* Per-request accumulation of the body. */
typedef struct {
    char buf[MAX_BODY];
    size_t len;
} upload_t;

static void delay(http_stub_t *s)
{
    struct timespec dl = unit_deadline(s->delay_ms);
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (!s->stopping && rc == 0)
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &dl);
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **ctx)
{
    (void)url, (void)method, (void)version;
    http_stub_t *s = cls;
    upload_t *u = *ctx;
    if (!u) {
        if (!(u = calloc(1, sizeof *u)))
            return MHD_NO;
        *ctx = u;
        return MHD_YES;
    }
    if (*size) {
        size_t take = *size < MAX_BODY - 1 - u->len ? *size : MAX_BODY - 1 - u->len;
        memcpy(u->buf + u->len, data, take);
        u->len += take;
        *size = 0;
        return MHD_YES;
    }
    const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    pthread_mutex_lock(&s->mu);
    s->requests++;
    memcpy(s->body, u->buf, u->len + 1);
    snprintf(s->type, sizeof s->type, "%s", type ? type : "");
    pthread_mutex_unlock(&s->mu);
    if (s->delay_ms > 0)
        delay(s);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)s->status, r);
    MHD_destroy_response(r);
    return rc;
}

static void completed(void *cls, struct MHD_Connection *conn, void **ctx,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    free(*ctx);
    *ctx = NULL;
}

http_stub_t *http_stub_start(int status, int delay_ms)
{
    http_stub_t *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    s->status = status;
    s->delay_ms = delay_ms;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
    ck_assert_msg(s->d != NULL, "cannot start the stub HTTP server");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    ck_assert_msg(di && di->port, "stub HTTP server has no port");
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", (unsigned)di->port);
    return s;
}

const char *http_stub_url(const http_stub_t *s)
{
    return s->url;
}

int http_stub_requests(http_stub_t *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void http_stub_last_body(http_stub_t *s, char *buf, size_t len)
{
    pthread_mutex_lock(&s->mu);
    snprintf(buf, len, "%s", s->body);
    pthread_mutex_unlock(&s->mu);
}

void http_stub_last_type(http_stub_t *s, char *buf, size_t len)
{
    pthread_mutex_lock(&s->mu);
    snprintf(buf, len, "%s", s->type);
    pthread_mutex_unlock(&s->mu);
}

void http_stub_stop(http_stub_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(s->d);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
