/* meterctl.c -- the operator CLI: global options and subcommand dispatch.
 *
 * `meterctl [--help|--version] COMMAND [ARGS...]`. The table below is the
 * only place that lists commands; each lives in its own cmd_<name>.c and
 * parses its own options (so `-o json` is per command, as with kubectl).
 */
#include "cli/cli.h"

#include <string.h>

#ifndef METERD_VERSION
#define METERD_VERSION "unknown"
#endif

static const cli_command commands[] = {
    {"validate", "check pipeline files: prints 'ok <sha256>' or file:line:col errors",
     cli_cmd_validate},
    {"push", "validate, sign and CAS-write a pipeline revision; --wait for the members",
     cli_cmd_push},
    {"rollback", "push revision N's body again as a new revision", cli_cmd_rollback},
    {"revisions", "list the kept revisions of a group", cli_cmd_revisions},
    {"status", "leader, slot table, revision, members and a consistency check", cli_cmd_status},
    {"members", "the live members of a group and what they advertise", cli_cmd_members},
    {"assignment", "the slot table: slots and targets per member (--target T)", cli_cmd_assignment},
    {"whohas", "the member that polls target T", cli_cmd_whohas},
    {"init-credentials", "create a group's signing key, trusted keys and ZooKeeper credentials",
     cli_cmd_credentials},
    {"repair-acl", "set the role ACLs on a group's nodes created with others", cli_cmd_repair_acl},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: meterctl [--help] [--version] COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n'meterctl COMMAND --help' describes a command. Exit status: 0 ok, 1 invalid,\n"
            "rejected or failed, 2 usage, 3 CAS lost, 4 timeout, 5 inconsistent, 6 cannot reach\n"
            "ZooKeeper.\n");
}

int cli_parse_output(const char *value, cli_output *out)
{
    if (strcmp(value, "text") == 0)
        *out = CLI_OUT_TEXT;
    else if (strcmp(value, "json") == 0)
        *out = CLI_OUT_JSON;
    else
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("meterctl %s\n", METERD_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1, stdout, stderr);
    fprintf(stderr, "meterctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
