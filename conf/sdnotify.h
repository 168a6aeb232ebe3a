/* sdnotify.h - systemd readiness notification without libsystemd.
 *
 * Implements the documented $NOTIFY_SOCKET protocol (sd_notify(3)): one
 * datagram of newline-separated VAR=VALUE assignments sent to the
 * AF_UNIX socket named by the variable; a leading '@' names an abstract
 * socket. Outside systemd (no NOTIFY_SOCKET) every call is a no-op. */
#ifndef RESONATE_SDNOTIFY_H
#define RESONATE_SDNOTIFY_H

#include <stddef.h>

/* Sends state (e.g. "READY=1\nSTATUS=listening") to the socket at path
 * (NULL or "" = do nothing). Returns 1 when sent, 0 when there was nothing
 * to do, -1 with the reason in err. */
int sdnotify_send_to(const char *path, const char *state, char *err, size_t errlen);

/* sdnotify_send_to with the path from $NOTIFY_SOCKET. */
int sdnotify_send(const char *state, char *err, size_t errlen);

#endif
