/* client.h - the client subcommands: promises, tasks, schedules, invoke, tree.
 *
 * They talk to a running server over the protocol (POST / envelopes), with
 * -S/--server (or RESONATE_URL) and -T/--token (or RESONATE_TOKEN); flags win
 * over the environment. An https:// server's certificate is verified
 * against the system's CAs, or those of --cacert FILE (RESONATE_CACERT). Output is a short human
 * summary by default and the response data as pretty JSON with --json. */
#ifndef RESONATE_CLIENT_H
#define RESONATE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* True when cmd names a client subcommand (or one of its aliases). */
bool client_is_command(const char *cmd);

/* Runs `resonate <cmd> ...`; argv[0] is the subcommand name. Returns the
 * process exit status (0 ok, 1 request failed, 2 usage error). Expects
 * curl_global_init to have been called. */
int client_main(int argc, char **argv);

/* Writes one line per client command ("  promises   Get, create, ...") for
 * the top-level usage text. */
void client_print_commands(FILE *f);

/* ---- the command tables, for the reference documentation (cli/doc.c) ---- */

#define CLIENT_DOC_MAX_OPTS 8
#define CLIENT_DOC_MAX_POS 2

/* One option of a client command, as --help shows it. */
typedef struct {
    const char *name; /* long name without the dashes ("server") */
    char shrt;        /* short letter ('S'), 0 if none */
    const char *meta; /* value placeholder ("URL"); NULL: takes no value */
    const char *help; /* may hold '\n' (continued on the next --help line) */
    const char *def;  /* default shown in --help, NULL if none */
    bool required;
    bool repeatable;
} client_opt_doc_t;

/* One client command: `resonate GROUP NAME` (or `resonate GROUP` when the
 * group is a single command; then name is NULL). */
typedef struct {
    const char *group; /* "promises" */
    const char *alias; /* "promise", NULL if none */
    const char *group_summary;
    const char *name;                    /* "create"; NULL for a single-command group */
    const char *summary;                 /* first line of --help */
    const char *kind;                    /* protocol kind sent; NULL when more than one request */
    const char *notes;                   /* closing paragraph of --help, NULL if none */
    const char *pos[CLIENT_DOC_MAX_POS]; /* positional arguments, NULL-padded */
    const char *pos_help[CLIENT_DOC_MAX_POS]; /* their help */
    client_opt_doc_t opts[CLIENT_DOC_MAX_OPTS];
    size_t nopts;
} client_cmd_doc_t;

/* Number of command groups (promises, tasks, schedules, invoke, tree). */
size_t client_doc_groups(void);

/* Number of commands of group g (< client_doc_groups()): its subcommands,
 * or 1 for a single-command group. */
size_t client_doc_commands(size_t g);

/* Fills *out with command c of group g. Strings point into static tables. */
void client_doc_command(size_t g, size_t c, client_cmd_doc_t *out);

/* The options every client command takes (-S, -T, --json, -h), in --help
 * order: fills *out with the i-th and returns true, false past the last. */
bool client_doc_common_opt(size_t i, client_opt_doc_t *out);

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

/* s (n bytes) with each terminal control escaped: C0 and DEL as "\x1b",
 * C1 in UTF-8 (U+0080-U+009F) as "\u009b"; newlines and tabs too (a
 * stored id cannot start a fake line). malloc'd, owned by the caller; NULL
 * when out of memory. */
char *client_term_escape(const char *s, size_t n);

/* A copy of v whose strings and object keys are client_term_escape'd: what
 * the human output shows of an answer, whose strings (ids, tags, pids,
 * crons, error texts) were stored by any client. A new reference, NULL when
 * out of memory. */
json_t *client_term_safe(json_t *v);

/* Writes ms as a short duration: "250ms", "45s", "1h30m", "2d3h". */
void client_format_duration(int64_t ms, char *buf, size_t len);

#endif
