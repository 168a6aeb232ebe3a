/* metrics.c - placeholder registry; the full implementation replaces it. */
#include "server/metrics.h"

#include <stdlib.h>
#include <string.h>

struct metrics {
    int unused;
};

metrics_t *metrics_new(const char *db_path)
{
    (void)db_path;
    return calloc(1, sizeof(metrics_t));
}

void metrics_free(metrics_t *m)
{
    free(m);
}

void metrics_request(metrics_t *m, op_t op, int status, double seconds)
{
    (void)m;
    (void)op;
    (void)status;
    (void)seconds;
}

void metrics_auth_failure(metrics_t *m, const char *reason)
{
    (void)m;
    (void)reason;
}

void metrics_batch(metrics_t *m, size_t jobs, double seconds)
{
    (void)m;
    (void)jobs;
    (void)seconds;
}

int metrics_serve(metrics_t *m, const char *bind, uint16_t port, metrics_gauges_fn gauges,
                  void *arg, char *err, size_t errlen)
{
    (void)m;
    (void)bind;
    (void)port;
    (void)gauges;
    (void)arg;
    (void)err;
    (void)errlen;
    return 0;
}

void metrics_stop(metrics_t *m)
{
    (void)m;
}

char *metrics_render(metrics_t *m, metrics_gauges_fn gauges, void *arg)
{
    (void)m;
    (void)gauges;
    (void)arg;
    return strdup("");
}
