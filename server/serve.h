/* serve.h - one server process: `resonate serve` and `resonate dev`.
 *
 * The entry point the command line (cli/main.c) calls; everything a server
 * needs (configuration layers, store, store thread, HTTP front end, poll
 * hub, push, metrics, signals, systemd notification) is set up and torn
 * down inside server_main. Runs on the process's main thread, which it
 * keeps for signal handling; call it at most once per process, after
 * curl_global_init. */
#ifndef RESONATE_SERVE_H
#define RESONATE_SERVE_H

/* Version of this build, as `resonate --version` prints it. */
#define RESONATE_VERSION "0.1.0"

/* Runs `resonate <cmd> argv...` with cmd "serve" or "dev" (argv excludes
 * the command). Returns the process exit status: 0 after a graceful
 * shutdown, 1 when the server could not start, 2 for a usage error. */
int server_main(const char *cmd, int argc, char **argv);

/* The paragraph that describes `resonate <cmd>` ("serve" or "dev") in its
 * --help and its man page. */
const char *server_description(const char *cmd);

/* Prints `resonate <cmd> --help` (every flag of the configuration table) to
 * standard output. */
void server_help(const char *cmd);

#endif
