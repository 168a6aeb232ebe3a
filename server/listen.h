/* listen.h - what the two libmicrohttpd daemons (API and /metrics) share:
 * turning a bind address into a socket address, and routing the library's
 * own messages into our log. */
#ifndef RESONATE_LISTEN_H
#define RESONATE_LISTEN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Fills ss with bind (an IPv4 or IPv6 literal; NULL = 0.0.0.0) and port.
 * *ipv6 tells whether MHD_USE_IPv6 is needed. Returns 0, or -1 with the
 * reason in err. */
int listen_addr(const char *bind, uint16_t port, struct sockaddr_storage *ss, bool *ipv6, char *err,
                size_t errlen);

/* After a daemon failed to listen on ss (filled by listen_addr from bind
 * and port): binds a socket to ss as libmicrohttpd does (SO_REUSEADDR) to
 * learn why, and writes into err a message naming host:port, the cause
 * and the fix. port_key is the setting of that port ("server.port"), the
 * address's is server.bind. */
void listen_explain(const struct sockaddr_storage *ss, const char *host, uint16_t port,
                    const char *port_key, char *err, size_t errlen);

/* Writes "ip:<address>" for a client's socket address (IPv4 or IPv6; an
 * IPv4-mapped IPv6 address as IPv4, so one client has one name), or "ip:?"
 * when sa is NULL or of another family. */
void listen_peer_name(const struct sockaddr *sa, char *out, size_t outlen);

/* An MHD_OPTION_EXTERNAL_LOGGER: logs at debug level, cls is a prefix
 * string naming the daemon ("http", "metrics"). */
void listen_mhd_log(void *cls, const char *fmt, va_list ap);

#endif
