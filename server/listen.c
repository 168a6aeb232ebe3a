/* listen.c - see listen.h. */
#include "server/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

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
