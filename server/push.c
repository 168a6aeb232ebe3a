/* push.c - libcurl multi driver for HTTP push; see push.h. */
#include "server/push.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "server/log.h"

typedef struct item {
    struct item *next;
    int64_t seq;
    char *url;
    char *body;
    size_t len;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    CURL *easy; /* while running */
    struct item *prev_active, *next_active;
} item_t;

struct push {
    push_config_t cfg; /* cfg.cacert points at cacert */
    char *cacert;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    item_t *head, *tail; /* waiting for a slot */
    item_t *active;      /* running, owned by the push thread */
    size_t running;
    size_t queued, queued_bytes; /* items queued or running, their bodies' bytes */
    bool stopping;
};

/* Frees it, which was counted in p->queued (push thread or push_stop). */
static void item_done(push_t *p, item_t *it)
{
    pthread_mutex_lock(&p->mu);
    p->queued--;
    p->queued_bytes -= it->len;
    pthread_mutex_unlock(&p->mu);
    curl_slist_free_all(it->headers);
    free(it->url);
    free(it->body);
    free(it);
}

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * n;
}

static void start_one(push_t *p, item_t *it)
{
    CURL *e = curl_easy_init();
    if (!e) {
        p->cfg.on_result(p->cfg.arg, it->seq, false);
        item_done(p, it);
        return;
    }
    it->headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, it->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, it->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)it->len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->headers);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->cfg.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* Only http(s), and no redirect: a target must not be able to send the
     * push (the tenant's data) on to an address the allow list refused. A
     * 3xx counts as a failed delivery. */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 0L);
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* libcurl's defaults, set explicitly: a push carries a tenant's data,
     * so an https:// target must prove it is the host the URL names. */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (p->cacert)
        curl_easy_setopt(e, CURLOPT_CAINFO, p->cacert);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, it->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, it);
    curl_multi_add_handle(p->multi, e);
    it->easy = e;
    it->next_active = p->active;
    if (p->active)
        p->active->prev_active = it;
    p->active = it;
    p->running++;
}

static void *push_main(void *arg)
{
    push_t *p = arg;
    pthread_setname_np(pthread_self(), "resonate-push");
    for (;;) {
        pthread_mutex_lock(&p->mu);
        bool stopping = p->stopping;
        while (!stopping && p->head && p->running < p->cfg.concurrency) {
            item_t *it = p->head;
            p->head = it->next;
            if (!p->head)
                p->tail = NULL;
            it->next = NULL;
            pthread_mutex_unlock(&p->mu);
            start_one(p, it);
            pthread_mutex_lock(&p->mu);
        }
        pthread_mutex_unlock(&p->mu);
        if (stopping)
            break;

        int still = 0;
        curl_multi_perform(p->multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(p->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *e = m->easy_handle;
            item_t *it = NULL;
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&it);
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            CURLcode cc = m->data.result;
            bool ok = cc == CURLE_OK && code >= 200 && code < 300;
            const char *why = it->errbuf[0] ? it->errbuf : curl_easy_strerror(cc);
            char target[512]; /* never user:pass@ in the log */
            if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                cc == CURLE_SSL_CONNECT_ERROR)
                log_warn("push to %s refused: TLS: %s (the target needs a valid certificate "
                         "for its host name, from a CA the server trusts: "
                         "transports.http_push.cacert)",
                         addr_redact(it->url, target, sizeof target), why);
            else if (!ok)
                log_debug("push to %s failed: %s (HTTP %ld)",
                          addr_redact(it->url, target, sizeof target), why, code);
            curl_multi_remove_handle(p->multi, e);
            curl_easy_cleanup(e);
            if (it->prev_active)
                it->prev_active->next_active = it->next_active;
            else
                p->active = it->next_active;
            if (it->next_active)
                it->next_active->prev_active = it->prev_active;
            p->running--;
            p->cfg.on_result(p->cfg.arg, it->seq, ok);
            item_done(p, it);
        }
        curl_multi_poll(p->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

push_t *push_start(const push_config_t *cfg, char *err, size_t errlen)
{
    push_t *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    if (cfg->cacert && !(p->cacert = strdup(cfg->cacert))) {
        snprintf(err, errlen, "out of memory");
        free(p);
        return NULL;
    }
    p->cfg.cacert = p->cacert;
    if (!p->cfg.concurrency)
        p->cfg.concurrency = 1;
    if (!p->cfg.max_queued)
        p->cfg.max_queued = 8 * p->cfg.concurrency;
    if (!p->cfg.max_queued_bytes)
        p->cfg.max_queued_bytes = PUSH_MAX_QUEUED_BYTES;
    p->multi = curl_multi_init();
    if (!p->multi) {
        snprintf(err, errlen, "cannot initialise libcurl");
        free(p->cacert);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    if (pthread_create(&p->thread, NULL, push_main, p) != 0) {
        snprintf(err, errlen, "cannot start push thread");
        curl_multi_cleanup(p->multi);
        pthread_mutex_destroy(&p->mu);
        free(p->cacert);
        free(p);
        return NULL;
    }
    return p;
}

void push_send(push_t *p, int64_t seq, const char *url, const char *body, size_t len)
{
    item_t *it = calloc(1, sizeof *it);
    if (!it || !(it->url = strdup(url)) || !(it->body = malloc(len + 1))) {
        if (it)
            free(it->url);
        free(it);
        p->cfg.on_result(p->cfg.arg, seq, false);
        return;
    }
    memcpy(it->body, body, len);
    it->body[len] = '\0';
    it->len = len;
    it->seq = seq;
    pthread_mutex_lock(&p->mu);
    p->queued++;
    p->queued_bytes += len;
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    pthread_mutex_unlock(&p->mu);
    curl_multi_wakeup(p->multi);
}

bool push_full(push_t *p)
{
    pthread_mutex_lock(&p->mu);
    bool full = p->queued >= p->cfg.max_queued || p->queued_bytes >= p->cfg.max_queued_bytes;
    pthread_mutex_unlock(&p->mu);
    return full;
}

void push_stop(push_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_mutex_unlock(&p->mu);
    curl_multi_wakeup(p->multi);
    pthread_join(p->thread, NULL);
    /* Abandoned work stays in the outbox and is retried after restart. */
    while (p->active) {
        item_t *it = p->active;
        p->active = it->next_active;
        curl_multi_remove_handle(p->multi, it->easy);
        curl_easy_cleanup(it->easy);
        item_done(p, it);
    }
    while (p->head) {
        item_t *it = p->head;
        p->head = it->next;
        item_done(p, it);
    }
    curl_multi_cleanup(p->multi);
    pthread_mutex_destroy(&p->mu);
    free(p->cacert);
    free(p);
}
