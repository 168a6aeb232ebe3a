/* tls.c - certificate chains and keys for the HTTPS listeners; see tls.h.
 *
 * A pair is parsed once (GnuTLS pcerts and privkey, ready for the handshake)
 * and never changed; reload builds a new one beside it and swaps the
 * pointer, so the callback on an HTTP thread takes a reference under a short
 * mutex and never sees a half-built pair. */
#include "server/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHAIN 16
#define MAX_PEM (1 << 20)

/* Mozilla's "intermediate" profile in GnuTLS terms: TLS 1.2 and 1.3,
 * forward-secret ECDHE, AEAD ciphers only; the server's order wins. */
static const char PRIORITIES[] =
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE";

struct tls_pair {
    atomic_uint refs;
    gnutls_pcert_st certs[MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
    time_t expires;
    char sha256[65]; /* of the server's certificate, hex */
};

struct tls {
    char *cert_path, *key_path, *what;
    pthread_mutex_t reload_lock; /* one reload at a time */
    pthread_mutex_t lock;        /* guards pair */
    tls_pair_t *pair;
};

const char *tls_priorities(void)
{
    return PRIORITIES;
}

static void pair_release(tls_pair_t *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    for (unsigned i = 0; i < p->n; i++)
        gnutls_pcert_deinit(&p->certs[i]);
    if (p->key)
        gnutls_privkey_deinit(p->key);
    free(p);
}

int tls_check_key_mode(const char *path, unsigned mode, char *err, size_t errlen)
{
    if ((mode & 027) == 0)
        return 0;
    snprintf(err, errlen,
             "TLS key file '%s' has mode %04o: it is %s; run `chmod 600 '%s'` (or 640 with a "
             "group only the server's user is in)",
             path, mode & 07777, mode & 07 ? "accessible to every user" : "writable by its group",
             path);
    return -1;
}

/* Reads a whole file (at most MAX_PEM bytes) into a NUL-terminated buffer;
 * with key, first checks its permissions on the opened file (fstat of the
 * fd that is read: a symlink is judged by its target, and a swap after the
 * check cannot slip in another file). O_NONBLOCK: a FIFO must not hang the
 * start or a SIGHUP; fstat refuses it. */
static char *read_pem(const char *path, const char *what, bool key, size_t *len, char *err,
                      size_t errlen)
{
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s file '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot read %s file '%s': %s", what, path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s file '%s' is not a regular file (name the PEM file itself)", what,
                 path);
        goto done;
    }
    if (key && tls_check_key_mode(path, (unsigned)st.st_mode, err, errlen) != 0)
        goto done;
    if (st.st_size <= 0 || st.st_size > MAX_PEM) {
        snprintf(err, errlen, "%s file '%s' is %s (PEM files are between 1 byte and %d bytes)",
                 what, path, st.st_size <= 0 ? "empty" : "too large", MAX_PEM);
        goto done;
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *len = got;
    if (got != (size_t)st.st_size) {
        /* Shorter than fstat said: being rewritten, or a read error. */
        *len = 0;
        snprintf(err, errlen,
                 "cannot read %s file '%s': %zu of %lld bytes read (was it being rewritten? "
                 "replace it with a rename, then send SIGHUP again)",
                 what, path, got, (long long)st.st_size);
    }
done:
    close(fd);
    if (buf && *len == 0) {
        explicit_bzero(buf, (size_t)st.st_size);
        free(buf);
        buf = NULL;
    }
    return buf;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Parses both files into a new pair with one reference. */
static tls_pair_t *pair_load(const tls_t *t, char *err, size_t errlen)
{
    tls_pair_t *p = calloc(1, sizeof *p);
    char *cert_pem = NULL, *key_pem = NULL;
    size_t cert_len = 0, key_len = 0;
    gnutls_pubkey_t pub = NULL;
    gnutls_x509_crt_t crt = NULL;
    int rc;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&p->refs, 1);
    if (!(cert_pem = read_pem(t->cert_path, "TLS certificate", false, &cert_len, err, errlen)) ||
        !(key_pem = read_pem(t->key_path, "TLS key", true, &key_len, err, errlen)))
        goto fail;
    gnutls_datum_t cd = {(unsigned char *)cert_pem, (unsigned)cert_len};
    p->n = MAX_CHAIN;
    rc = gnutls_pcert_list_import_x509_raw(p->certs, &p->n, &cd, GNUTLS_X509_FMT_PEM,
                                           GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    if (rc < 0) {
        p->n = 0;
        snprintf(err, errlen,
                 "TLS certificate file '%s': %s (expected PEM certificates, the server's first, "
                 "then each issuer, at most %d)",
                 t->cert_path, gnutls_strerror(rc), MAX_CHAIN);
        goto fail;
    }
    if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(
             p->key, &(gnutls_datum_t){(unsigned char *)key_pem, (unsigned)key_len},
             GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(err, errlen, "TLS key file '%s': %s (expected an unencrypted PEM private key)",
                 t->key_path, gnutls_strerror(rc));
        goto fail;
    }
    unsigned char id1[64], id2[64];
    size_t n1 = sizeof id1, n2 = sizeof id2;
    if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_privkey(pub, p->key, 0, 0) < 0 ||
        gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id1, &n1) < 0 ||
        gnutls_pubkey_get_key_id(p->certs[0].pubkey, GNUTLS_KEYID_USE_SHA256, id2, &n2) < 0 ||
        n1 != n2 || memcmp(id1, id2, n1) != 0) {
        snprintf(err, errlen,
                 "TLS key file '%s' does not match the first certificate of '%s' (the server's "
                 "own certificate must come first)",
                 t->key_path, t->cert_path);
        goto fail;
    }
    unsigned char fp[32];
    size_t fpn = sizeof fp;
    if (gnutls_pcert_export_x509(&p->certs[0], &crt) < 0 ||
        gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &fpn) < 0 || fpn != 32) {
        snprintf(err, errlen, "TLS certificate file '%s': cannot read the first certificate",
                 t->cert_path);
        goto fail;
    }
    hex(fp, fpn, p->sha256);
    p->expires = gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
    gnutls_pubkey_deinit(pub);
    explicit_bzero(key_pem, key_len);
    free(key_pem);
    free(cert_pem);
    return p;
fail:
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (pub)
        gnutls_pubkey_deinit(pub);
    if (key_pem)
        explicit_bzero(key_pem, key_len);
    free(key_pem);
    free(cert_pem);
    pair_release(p);
    return NULL;
}

tls_t *tls_new(const char *cert_path, const char *key_path, const char *what, char *err,
               size_t errlen)
{
    if (!cert_path || !key_path) {
        snprintf(err, errlen, "%s: both a certificate and a key file are needed", what);
        return NULL;
    }
    tls_t *t = calloc(1, sizeof *t);
    if (!t || !(t->cert_path = strdup(cert_path)) || !(t->key_path = strdup(key_path)) ||
        !(t->what = strdup(what))) {
        snprintf(err, errlen, "out of memory");
        if (t) {
            free(t->cert_path);
            free(t->key_path);
        }
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->reload_lock, NULL);
    pthread_mutex_init(&t->lock, NULL);
    if (!(t->pair = pair_load(t, err, errlen))) {
        tls_free(t);
        return NULL;
    }
    return t;
}

int tls_reload(tls_t *t, char *err, size_t errlen)
{
    pthread_mutex_lock(&t->reload_lock);
    tls_pair_t *p = pair_load(t, err, errlen), *old = NULL;
    if (p) {
        pthread_mutex_lock(&t->lock);
        old = t->pair;
        t->pair = p;
        pthread_mutex_unlock(&t->lock);
        pair_release(old); /* freed now, or by the last connection using it */
    }
    pthread_mutex_unlock(&t->reload_lock);
    return p ? 0 : -1;
}

void tls_free(tls_t *t)
{
    if (!t)
        return;
    pair_release(t->pair);
    pthread_mutex_destroy(&t->reload_lock);
    pthread_mutex_destroy(&t->lock);
    free(t->cert_path);
    free(t->key_path);
    free(t->what);
    free(t);
}

static tls_pair_t *pair_acquire(tls_t *t)
{
    pthread_mutex_lock(&t->lock);
    tls_pair_t *p = t->pair;
    atomic_fetch_add(&p->refs, 1);
    pthread_mutex_unlock(&t->lock);
    return p;
}

void tls_describe(tls_t *t, char *buf, size_t buflen)
{
    tls_pair_t *p = pair_acquire(t);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&p->expires, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, buflen, "%s: chain of %u from %s, expires %s%s, sha256 %s", t->what, p->n,
             t->cert_path, when, p->expires < time(NULL) ? " (EXPIRED)" : "", p->sha256);
    pair_release(p);
}

int64_t tls_expires(tls_t *t)
{
    tls_pair_t *p = pair_acquire(t);
    int64_t when = (int64_t)p->expires;
    pair_release(p);
    return when;
}

bool tls_expiry_warning(tls_t *t, int64_t now_s, char *buf, size_t buflen)
{
    int64_t when = tls_expires(t), left = when - now_s; /* both far from overflow */
    if (left >= (int64_t)TLS_EXPIRY_WARN_DAYS * 86400)
        return false;
    struct tm tm;
    char date[32] = "?";
    time_t tt = (time_t)when;
    if (gmtime_r(&tt, &tm))
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (left <= 0)
        snprintf(buf, buflen,
                 "%s: the certificate in '%s' EXPIRED on %s (%lld day%s ago): clients refuse "
                 "it; install a renewed certificate and send SIGHUP",
                 t->what, t->cert_path, date, (long long)(-left / 86400),
                 -left / 86400 == 1 ? "" : "s");
    else
        snprintf(buf, buflen,
                 "%s: the certificate in '%s' expires on %s (in %lld day%s, under %d): install "
                 "a renewed certificate and send SIGHUP",
                 t->what, t->cert_path, date, (long long)(left / 86400),
                 left / 86400 == 1 ? "" : "s", TLS_EXPIRY_WARN_DAYS);
    return true;
}

void tls_conn_init(tls_conn_t *c, tls_t *t)
{
    c->tls = t;
    c->pair = NULL;
}

void tls_conn_release(tls_conn_t *c)
{
    if (!c)
        return;
    pair_release(c->pair);
    c->pair = NULL;
}

/* gnutls_certificate_retrieve_function2, called by GnuTLS on the
 * connection's HTTP thread during the handshake. libmicrohttpd sets the
 * session's pointer to its connection. */
static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)req_ca_dn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    struct MHD_Connection *conn = gnutls_session_get_ptr(session);
    const union MHD_ConnectionInfo *ci =
        conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    tls_conn_t *c = ci ? ci->socket_context : NULL;
    if (!c || !c->tls)
        return -1; /* no socket context (out of memory): no handshake */
    tls_pair_t *p = pair_acquire(c->tls);
    pair_release(c->pair); /* a second handshake on one connection */
    c->pair = p;
    *pcert = p->certs;
    *pcert_length = p->n;
    *pkey = p->key;
    return 0;
}

void *tls_cert_callback(void)
{
    return (void *)(gnutls_certificate_retrieve_function2 *)retrieve;
}
