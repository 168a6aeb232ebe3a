/* tls.h - HTTPS for the libmicrohttpd daemons: one reloadable certificate
 * chain and private key per listener (the API, /metrics).
 *
 * A tls_t holds the current pair (tls_pair_t, immutable, reference-counted)
 * and hands it to GnuTLS through libmicrohttpd's certificate callback
 * (MHD_OPTION_HTTPS_CERT_CALLBACK, tls_cert_callback), once per handshake.
 * tls_reload (SIGHUP, main thread) loads a new pair and swaps it in under a
 * mutex; a handshake in progress or a connection already established keeps
 * the pair it got, and a bad new pair leaves the old one in place.
 *
 * Ownership: the tls_t owns one reference to its current pair. Every
 * connection of a TLS daemon carries a tls_conn_t as the FIRST member of its
 * socket context (MHD_OPTION_NOTIFY_CONNECTION); the callback stores there
 * the pair it returned to GnuTLS, with a reference of its own, and the
 * connection's close notification drops it (tls_conn_release). So a pair is
 * freed when it is neither current nor used by any open connection, on
 * whichever thread drops the last reference (an HTTP thread or main).
 * libmicrohttpd sends the close notification after its last TLS write on the
 * session, and gnutls_deinit does not touch certificates returned by a
 * retrieve_function2 callback (the caller owns them).
 *
 * Policy: TLS 1.2 and 1.3 only, ECDHE key exchange, AEAD ciphers (AES-GCM,
 * ChaCha20-Poly1305): tls_priorities. The key file must not be accessible
 * to "other" users nor writable by its group (mode & 027 == 0): a
 * group-readable key (0640, Debian's ssl-cert group) is accepted. */
#ifndef RESONATE_TLS_H
#define RESONATE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tls tls_t;
typedef struct tls_pair tls_pair_t;

/* The head of every TLS daemon's socket context (see above). Zeroed by the
 * connection's start notification (tls_conn_init). */
typedef struct {
    tls_t *tls;
    tls_pair_t *pair; /* referenced; NULL before the handshake */
} tls_conn_t;

/* Loads a PEM certificate chain (the server's certificate first, then each
 * issuer) and a PEM private key matching it. what names the settings in
 * messages ("server.tls_cert/server.tls_key"). Returns NULL with the reason
 * (naming the file and the fix) in err. */
tls_t *tls_new(const char *cert_path, const char *key_path, const char *what, char *err,
               size_t errlen);

/* Re-reads both files. On success swaps the pair in (new handshakes get it)
 * and returns 0; otherwise keeps the current pair and returns -1 with the
 * reason in err. Any thread; one reload at a time is serialised inside. */
int tls_reload(tls_t *t, char *err, size_t errlen);

/* Frees t's reference to its pair and t itself; the daemon using it must be
 * stopped. NULL is a no-op. */
void tls_free(tls_t *t);

/* One line for the log: "chain of 2, expires 2027-01-01T00:00:00Z,
 * sha256 ab12..". */
void tls_describe(tls_t *t, char *buf, size_t buflen);

/* A served certificate that expires within this many days is warned about
 * (tls_expiry_warning). */
#define TLS_EXPIRY_WARN_DAYS 30

/* Unix seconds at which the served certificate (the chain's first) expires;
 * for resonate_tls_cert_expiry_timestamp_seconds. */
int64_t tls_expires(tls_t *t);

/* When the served certificate has expired at now_s, or expires within
 * TLS_EXPIRY_WARN_DAYS days of it, writes a warning naming the settings,
 * the certificate file, the date and the fix into buf and returns true;
 * otherwise returns false and leaves buf alone. Called at start and after
 * every reload. */
bool tls_expiry_warning(tls_t *t, int64_t now_s, char *buf, size_t buflen);

/* The GnuTLS priority string every TLS daemon uses. */
const char *tls_priorities(void);

/* The MHD_OPTION_HTTPS_CERT_CALLBACK function (a
 * gnutls_certificate_retrieve_function2); declared with void* so this header
 * needs no GnuTLS include. */
void *tls_cert_callback(void);

/* Start and close notifications of a TLS daemon's connection. */
void tls_conn_init(tls_conn_t *c, tls_t *t);
void tls_conn_release(tls_conn_t *c);

/* Checks that the key file at path is not readable by other users (mode &
 * 027 == 0). Returns 0, or -1 with a message naming the file, its mode and
 * the chmod that fixes it. Exposed for the unit tests. */
int tls_check_key_mode(const char *path, unsigned mode, char *err, size_t errlen);

#endif
