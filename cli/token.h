/* token.h - `resonate token`: mints a JWT for a server started with
 * --auth-publickey (auth_mint does the signing). Its flags are one table,
 * which --help, the parser and the reference documentation (cli/doc.c)
 * all read. */
#ifndef RESONATE_TOKEN_H
#define RESONATE_TOKEN_H

#include <stdio.h>

typedef struct {
    const char *flag; /* "--private-key" */
    char shrt;        /* short letter, 0 if none */
    const char *meta; /* value placeholder ("FILE"); NULL: takes no value */
    const char *help; /* may hold '\n' (continued on the next --help line) */
} token_flag_t;

/* The flags of `resonate token` in --help order, ended by {NULL}. */
extern const token_flag_t token_flags[];

/* The summary line of `resonate token` (for usage and man pages). */
extern const char token_summary[];

/* Writes `resonate token --help` to f. */
void token_help(FILE *f);

/* Runs `resonate token argv...` (argv excludes "token"): prints the token.
 * Returns the exit status: 0, 1 when minting failed, 2 for a usage error. */
int token_main(int argc, char **argv);

#endif
