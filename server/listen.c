/* listen.c - see listen.h. */
#include "server/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/log.h"

int listen_addr(const char *bind, uint16_t port, struct sockaddr_storage *ss, bool *ipv6, char *err,
                size_t errlen)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (!bind)
        bind = "0.0.0.0";
    *ipv6 = false;
    if (inet_pton(AF_INET, bind, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        return 0;
    }
    if (inet_pton(AF_INET6, bind, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *ipv6 = true;
        return 0;
    }
    snprintf(err, errlen, "invalid bind address '%s' (expected an IPv4 or IPv6 address)", bind);
    return -1;
}

void listen_explain(const struct sockaddr_storage *ss, const char *host, uint16_t port,
                    const char *port_key, char *err, size_t errlen)
{
    if (!host)
        host = "0.0.0.0";
    int e = 0, one = 1;
    socklen_t len =
        ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        e = errno;
    else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
             bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 1) != 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    switch (e) {
    case EADDRINUSE:
        snprintf(err, errlen,
                 "cannot listen on %s:%u: address in use (another process listens on port %u, "
                 "`ss -ltnp` shows which): stop it, or set %s to a free port",
                 host, (unsigned)port, (unsigned)port, port_key);
        break;
    case EADDRNOTAVAIL:
        snprintf(err, errlen,
                 "cannot listen on %s:%u: %s is not an address of this machine (`ip -brief "
                 "address` lists them): set server.bind to one of them, or to 0.0.0.0 (every "
                 "IPv4 address) or :: (every address)",
                 host, (unsigned)port, host);
        break;
    case EACCES:
        snprintf(err, errlen,
                 "cannot listen on %s:%u: permission denied (ports below 1024 need root or "
                 "CAP_NET_BIND_SERVICE): set %s to 1024 or above, or grant the capability "
                 "(systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE)",
                 host, (unsigned)port, port_key);
        break;
    case 0:
        /* The address is free now: the daemon failed for another reason
         * (or the port was freed since). */
        snprintf(err, errlen,
                 "cannot start the HTTP daemon on %s:%u although the address can be bound now "
                 "(run with --level debug for libmicrohttpd's message; if another process held "
                 "the port, try again)",
                 host, (unsigned)port);
        break;
    default:
        snprintf(err, errlen, "cannot listen on %s:%u: %s: check server.bind and %s", host,
                 (unsigned)port, strerror(e), port_key);
        break;
    }
}

void listen_peer_name(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], ip, sizeof ip);
        else
            inet_ntop(AF_INET6, a, ip, sizeof ip);
    }
    snprintf(out, outlen, "ip:%s", ip);
}

void listen_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_debug("%s: %s", (const char *)cls, buf);
}
