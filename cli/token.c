/* token.c - `resonate token`: parses its flags from one table and mints the
 * token with auth_mint; see token.h. */
#include "cli/token.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/auth.h"
#include "conf/config.h"

const char token_summary[] = "Mint a JWT for a server started with --auth-publickey";

const token_flag_t token_flags[] = {
    {"--private-key", 0, "FILE", "signing key (required)"},
    {"--prefix", 0, "P", "claim \"prefix\": ids the token may touch (\"\" = all)"},
    {"--role", 0, "ROLE", "claim \"role\" (admin: every id and operation)"},
    {"--exp", 0, "DURATION", "lifetime, e.g. 30m, 12h, 7d (default 1h)"},
    {"--no-exp", 0, NULL, "no exp claim (the server must set auth.require_exp = false)"},
    {"--iss", 0, "ISS", "claim \"iss\""},
    {"--aud", 0, "AUD", "claim \"aud\""},
    {"--sub", 0, "SUB",
     "claim \"sub\" (all tokens of a subject are revoked by a\n"
     "`sub SUB` entry: no blank, no leading #)"},
    {"--kid", 0, "KID", "header \"kid\" (selects the key on the server)"},
    {"--jti", 0, "ID",
     "claim \"jti\", for revoking this token alone (default: a\n"
     "random one; \"\" = none)"},
    {"--alg", 0, "ALG",
     "algorithm (default from the key: RS256, ES256/ES384, EdDSA;\n"
     "PS256/384/512 and RS384/512 for RSA keys)"},
    {"--help", 'h', NULL, "print this help"},
    {NULL, 0, NULL, NULL},
};

#define TOKEN_HELP_COL 20

void token_help(FILE *f)
{
    fprintf(f, "Usage: resonate token --private-key FILE [OPTIONS]\n\n"
               "Prints a JWT signed with FILE (PEM: RSA, EC P-256/P-384 or Ed25519), for a\n"
               "server started with the matching --auth-publickey.\n\n"
               "Options:\n");
    for (const token_flag_t *t = token_flags; t->flag; t++) {
        char shrt[8] = "", left[64];
        if (t->shrt)
            snprintf(shrt, sizeof shrt, "-%c, ", t->shrt);
        snprintf(left, sizeof left, "%s%s%s%s", shrt, t->flag, t->meta ? " " : "",
                 t->meta ? t->meta : "");
        fprintf(f, "  %-*s ", TOKEN_HELP_COL, left);
        for (const char *p = t->help; *p; p++) {
            fputc(*p, f);
            if (*p == '\n')
                fprintf(f, "%*s", TOKEN_HELP_COL + 3, "");
        }
        fputc('\n', f);
    }
}

static const token_flag_t *find_flag(const char *a)
{
    for (const token_flag_t *t = token_flags; t->flag; t++)
        if (strcmp(a, t->flag) == 0 || (t->shrt && a[0] == '-' && a[1] == t->shrt && !a[2]))
            return t;
    return NULL;
}

int token_main(int argc, char **argv)
{
    const char *key = NULL;
    auth_mint_opts_t o = {.ttl_s = 3600};
    char err[512];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const token_flag_t *t = find_flag(a);
        if (!t) {
            fprintf(stderr, "error: unknown option '%s' (see resonate token --help)\n", a);
            return 2;
        }
        if (strcmp(t->flag, "--help") == 0) {
            token_help(stdout);
            return 0;
        }
        if (strcmp(t->flag, "--no-exp") == 0) {
            o.ttl_s = 0;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "error: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--private-key") == 0)
            key = v;
        else if (strcmp(a, "--prefix") == 0)
            o.prefix = v;
        else if (strcmp(a, "--role") == 0)
            o.role = v;
        else if (strcmp(a, "--iss") == 0)
            o.iss = v;
        else if (strcmp(a, "--aud") == 0)
            o.aud = v;
        else if (strcmp(a, "--sub") == 0)
            o.sub = v;
        else if (strcmp(a, "--kid") == 0)
            o.kid = v;
        else if (strcmp(a, "--alg") == 0)
            o.alg = v;
        else if (strcmp(a, "--jti") == 0)
            o.jti = v;
        else {
            int64_t ms;
            if (conf_parse_duration(v, &ms, err, sizeof err) != 0) {
                fprintf(stderr, "error: --exp: %s\n", err);
                return 2;
            }
            o.ttl_s = ms / 1000 > 0 ? ms / 1000 : 1;
        }
    }
    if (!key) {
        fprintf(stderr, "error: --private-key is required\n\n");
        token_help(stderr);
        return 2;
    }
    /* --jti exists to revoke the token: one no entry can name is refused. */
    if (o.jti && *o.jti && auth_revocable_id("--jti", o.jti, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 2;
    }
    /* So is a subject no `sub` entry can name: its tokens could only be
     * revoked one jti at a time. */
    if (o.sub && !*o.sub) {
        fprintf(stderr, "error: --sub is empty, so no revocation entry could name it; choose a "
                        "subject or leave --sub out\n");
        return 2;
    }
    if (o.sub && auth_revocable_id("--sub", o.sub, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 2;
    }
    if (!o.prefix && !o.role)
        fprintf(stderr, "warning: the token has neither --prefix nor --role; servers reject "
                        "such tokens (use --prefix \"\" for access to every id)\n");
    struct stat st;
    if (stat(key, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* the PEM reader would only say it found no key in it */
        fprintf(stderr,
                "error: --private-key %s is a directory, not a file: give the PEM private key "
                "file itself (e.g. keys/private.pem, from openssl genpkey)\n",
                key);
        return 1;
    }
    char *tok = NULL;
    if (auth_mint(key, &o, &tok, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    printf("%s\n", tok);
    free(tok);
    return 0;
}
