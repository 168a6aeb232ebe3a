/* bare.c - the benchmark's yardstick: a libmicrohttpd server that answers
 * every POST / with a fixed small JSON envelope and does nothing else.
 *
 * It uses the same daemon flags and thread pool as server/http.c (internal
 * polling thread, epoll, suspend/resume allowed, one thread per core), so
 * the ratio resonate/bare measures what the server adds on top of the HTTP
 * library: decoding, the store thread, SQLite and the fsync.
 *
 * Usage: bare PORT   (binds 127.0.0.1; runs until SIGINT/SIGTERM) */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char reply[] =
    "{\"kind\":\"promise.create\",\"head\":{\"corrId\":\"c\",\"status\":200,\"version\":"
    "\"2026-04-01\"},\"data\":{\"promise\":{\"createdAt\":1,\"id\":\"x\",\"param\":{},"
    "\"state\":\"pending\",\"tags\":{},\"timeoutAt\":2,\"value\":{}}}}";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    static int marker;
    if (*con_cls == NULL) {
        /* First call for this request: headers only. */
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* Discard the body, as a real handler would after copying it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    unsigned status =
        (strcmp(method, "POST") == 0 && strcmp(url, "/") == 0) ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof reply - 1, (void *)reply, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "bad port '%s'\n", argv[1]);
        return 2;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = n > 0 ? (unsigned)n : 1; /* as server/http.c by default */

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);

    /* Signals are taken with sigwait below, in no thread's context. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&sin, MHD_OPTION_THREAD_POOL_SIZE, threads,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)20000, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    fprintf(stderr, "bare: listening on 127.0.0.1:%d with %u threads\n", port, threads);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    return 0;
}
