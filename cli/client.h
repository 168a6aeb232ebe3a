/* client.h - the client subcommands: promises, tasks, schedules, invoke, tree.
 *
 * They talk to a running server over the protocol (POST / envelopes), with
 * -S/--server (or RESONATE_URL) and -T/--token (or RESONATE_TOKEN); flags win
 * over the environment. Output is a short human summary by default and the
 * response data as pretty JSON with --json. */
#ifndef RESONATE_CLIENT_H
#define RESONATE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* True when cmd names a client subcommand (or one of its aliases). */
bool client_is_command(const char *cmd);

/* Runs `resonate <cmd> ...`; argv[0] is the subcommand name. Returns the
 * process exit status (0 ok, 1 request failed, 2 usage error). Expects
 * curl_global_init to have been called. */
int client_main(int argc, char **argv);

/* Writes one line per client command ("  promises   Get, create, ...") for
 * the top-level usage text. */
void client_print_commands(FILE *f);

/* ---- pure helpers, exposed for the unit tests ---- */

/* Standard base64 (RFC 4648 §4, padded) of n bytes. The result is malloc'd
 * and owned by the caller; NULL when out of memory. */
char *client_base64_encode(const unsigned char *in, size_t n);

/* Decodes padded standard base64. Returns a malloc'd buffer owned by the
 * caller (NUL-terminated after *n bytes), or NULL when s is not valid
 * base64. */
unsigned char *client_base64_decode(const char *s, size_t *n);

/* Encodes a --param/--value/--promise-param flag as the Rust CLI does: the
 * text must be a JSON object; a "data" member is replaced by the base64 of
 * its text (a string as is, any other JSON serialised compactly with sorted
 * keys). Returns the compact JSON of the result, malloc'd and owned by the
 * caller, or NULL with a message in err naming flag. */
char *client_payload_encode(const char *flag, const char *text, char *err, size_t errlen);

/* Writes ms as a short duration: "250ms", "45s", "1h30m", "2d3h". */
void client_format_duration(int64_t ms, char *buf, size_t len);

#endif
