/* client.c - placeholder until the client subcommands land. */
#include "server/client.h"

#include <stdio.h>
#include <string.h>

bool client_is_command(const char *cmd)
{
    static const char *const names[] = {"promises",  "promise",  "tasks", "task",
                                        "schedules", "schedule", "invoke"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(cmd, names[i]) == 0)
            return true;
    return false;
}

int client_main(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "error: '%s' is not implemented yet\n", argv[0]);
    return 2;
}
