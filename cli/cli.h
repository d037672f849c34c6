/* cli.h -- meterctl's subcommand table, shared by meterctl.c and cmd_*.c.
 *
 * meterctl is one program with subcommands (validate, later push, rollback,
 * status, members, assignment, whohas). Like collectd's plugin table, the
 * dispatcher in meterctl.c knows commands only through this table: a new
 * subcommand is a cmd_<name>.c file plus one line in meterctl.c.
 *
 * Exit codes are shared by every subcommand: 0 success, 1 the request was
 * understood but failed (an invalid pipeline, an unreachable cluster), 2 a
 * usage error.
 */
#ifndef METERD_CLI_H
#define METERD_CLI_H

#include <stdio.h>

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

typedef enum { CLI_OUT_TEXT, CLI_OUT_JSON } cli_output;

typedef struct {
    const char *name;
    const char *summary; /* one line for `meterctl --help` */
    /* argv[0] is the subcommand name; returns an exit code */
    int (*run)(int argc, char **argv, FILE *out, FILE *err);
} cli_command;

int cli_cmd_validate(int argc, char **argv, FILE *out, FILE *err);

/* Parses "-o text|json" / "--output=json" values; -1 when unknown. */
int cli_parse_output(const char *value, cli_output *out);

#endif /* METERD_CLI_H */
