/* main.c - the `resonate` command: dispatches serve and dev to the server
 * (server/serve.h), token to cli/token.c, every client subcommand to
 * client.c, and help (usage, man pages, completion) and --version to
 * cli/doc.c. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/client.h"
#include "cli/doc.h"
#include "cli/token.h"
#include "server/serve.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        doc_usage(stderr);
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
        return token_main(argc - 2, argv + 2);
    if (client_is_command(cmd)) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = client_main(argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    if (strcmp(cmd, "help") == 0)
        return doc_main(argc - 2, argv + 2);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        doc_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        doc_version(stdout);
        return 0;
    }
    fprintf(stderr, "error: unknown command '%s'\n\n", cmd);
    doc_usage(stderr);
    return 2;
}
