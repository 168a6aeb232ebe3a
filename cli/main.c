/* main.c - the `resonate` command: dispatches serve and dev to the server
 * (server/serve.h), token to auth's minting, and every client subcommand to
 * client.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "auth/auth.h"
#include "cli/client.h"
#include "conf/config.h"
#include "core/types.h"
#include "server/serve.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Resonate Server (resonate-c %s) - durable promise engine, protocol %s\n\n"
            "Usage: resonate <COMMAND> [OPTIONS]\n\n"
            "Commands:\n"
            "  serve     Run the server (SQLite file resonate.db by default)\n"
            "  dev       Run the server for development (in-memory database)\n"
            "  token     Mint a JWT for a server started with --auth-publickey\n",
            RESONATE_VERSION, PROTOCOL_VERSION);
    client_print_commands(f);
    fprintf(f, "  help      Print this message\n\n"
               "Run 'resonate <COMMAND> --help' for the options of a command.\n"
               "'resonate --version' prints the version.\n");
}

static void token_help(FILE *f)
{
    fprintf(f,
            "Usage: resonate token --private-key FILE [OPTIONS]\n\n"
            "Prints a JWT signed with FILE (PEM: RSA, EC P-256/P-384 or Ed25519), for a\n"
            "server started with the matching --auth-publickey.\n\n"
            "Options:\n"
            "  --private-key FILE   signing key (required)\n"
            "  --prefix P           claim \"prefix\": ids the token may touch (\"\" = all)\n"
            "  --role ROLE          claim \"role\" (admin: every id and operation)\n"
            "  --exp DURATION       lifetime, e.g. 30m, 12h, 7d (default 1h)\n"
            "  --no-exp             no exp claim (the server must set auth.require_exp = false)\n"
            "  --iss ISS            claim \"iss\"\n"
            "  --aud AUD            claim \"aud\"\n"
            "  --sub SUB            claim \"sub\"\n"
            "  --kid KID            header \"kid\" (selects the key on the server)\n"
            "  --alg ALG            algorithm (default from the key: RS256, ES256/ES384, EdDSA;\n"
            "                       PS256/384/512 and RS384/512 for RSA keys)\n"
            "  -h, --help           print this help\n");
}

/* resonate token: mints a token with auth_mint. */
static int run_token(int argc, char **argv)
{
    const char *key = NULL;
    auth_mint_opts_t o = {.ttl_s = 3600};
    char err[512];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            token_help(stdout);
            return 0;
        }
        if (strcmp(a, "--no-exp") == 0) {
            o.ttl_s = 0;
            continue;
        }
        static const char *const with_value[] = {"--private-key", "--prefix", "--role",
                                                 "--exp",         "--iss",    "--aud",
                                                 "--sub",         "--kid",    "--alg"};
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
            known |= strcmp(a, with_value[k]) == 0;
        if (!known) {
            fprintf(stderr, "error: unknown option '%s' (see resonate token --help)\n", a);
            return 2;
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
    if (!o.prefix && !o.role)
        fprintf(stderr, "warning: the token has neither --prefix nor --role; servers reject "
                        "such tokens (use --prefix \"\" for access to every id)\n");
    char *tok = NULL;
    if (auth_mint(key, &o, &tok, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    printf("%s\n", tok);
    free(tok);
    return 0;
}
int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "dev") == 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = server_main(cmd, argc - 2, argv + 2);
        curl_global_cleanup();
        return rc;
    }
    if (strcmp(cmd, "token") == 0)
        return run_token(argc - 2, argv + 2);
    if (client_is_command(cmd)) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = client_main(argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("resonate %s\n", RESONATE_VERSION);
        return 0;
    }
    fprintf(stderr, "error: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
