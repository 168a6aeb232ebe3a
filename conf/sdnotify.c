/* sdnotify.c - see sdnotify.h. */
#include "conf/sdnotify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sdnotify_send_to(const char *path, const char *state, char *err, size_t errlen)
{
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof sa.sun_path) {
        snprintf(err, errlen, "NOTIFY_SOCKET '%s' is not a socket path", path);
        return -1;
    }
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
        return -1;
    }
    ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    int saved = errno;
    close(fd);
    if (sent < 0) {
        snprintf(err, errlen, "NOTIFY_SOCKET %s: %s", path, strerror(saved));
        return -1;
    }
    return 1;
}

int sdnotify_send(const char *state, char *err, size_t errlen)
{
    return sdnotify_send_to(getenv("NOTIFY_SOCKET"), state, err, errlen);
}
