/* doc.h - the reference documentation of the `resonate` command, generated
 * from the very tables its --help output comes from: conf/config.c's keys
 * (serve, dev, resonate.toml), cli/token.c's flags and cli/client.c's
 * commands. A flag added to a table therefore shows up in --help, in the
 * man pages and in the shell completion at once; they cannot drift.
 *
 * `resonate help --man-pages`, `resonate help --man PAGE` and
 * `resonate help --completion bash|zsh` print them; `make install` and the
 * Debian package (debian/) install what they print. The top-level usage
 * and `resonate --version` live here too. */
#ifndef RESONATE_DOC_H
#define RESONATE_DOC_H

#include <stddef.h>
#include <stdio.h>

/* Writes `resonate --help` (the list of commands) to f. */
void doc_usage(FILE *f);

/* Writes `resonate --version` to f: the version of resonate-c, the protocol
 * version, and the versions of the libraries it runs with (read from the
 * libraries at run time, so an upgraded shared library shows its own). */
void doc_version(FILE *f);

/* Writes the file name of every man page, one per line: "resonate.1",
 * "resonate-serve.1", ..., "resonate.toml.5". */
void doc_man_pages(FILE *f);

/* Writes the man page page (a name doc_man_pages lists, with or without its
 * ".N" section suffix) to f as roff (man macros). Returns 0, or -1 with a
 * message in err naming the pages that exist. */
int doc_man(const char *page, FILE *f, char *err, size_t errlen);

/* Writes the completion script for shell ("bash" or "zsh") to f. Returns 0,
 * or -1 with a message in err. */
int doc_completion(const char *shell, FILE *f, char *err, size_t errlen);

/* Runs `resonate help argv...` (argv excludes "help"): no argument prints
 * the usage, a command (and subcommand) its --help; --man-pages, --man PAGE
 * and --completion SHELL print the above. Returns the exit status: 0, or 2
 * for a usage error. */
int doc_main(int argc, char **argv);

#endif
