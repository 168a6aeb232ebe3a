/* client.h - the client subcommands: promises, tasks, schedules, invoke.
 *
 * They talk to a running server over the protocol (POST / envelopes), with
 * -S/--server (or RESONATE_URL) and -T/--token (or RESONATE_TOKEN). */
#ifndef RESONATE_CLIENT_H
#define RESONATE_CLIENT_H

#include <stdbool.h>

/* True when cmd names a client subcommand (or one of its aliases). */
bool client_is_command(const char *cmd);

/* Runs `resonate <cmd> ...`; argv[0] is the subcommand name. Returns the
 * process exit status (0 ok, 1 request failed, 2 usage error). */
int client_main(int argc, char **argv);

#endif
