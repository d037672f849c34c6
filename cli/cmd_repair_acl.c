/* cmd_repair_acl.c -- `meterctl repair-acl --group G --auth-file OP --acl-file
 * zk-acl.txt`: sets the role ACLs (docs/SECURITY.md) on the group's nodes
 * that someone created first with others, the nodes agents refuse to adopt.
 * It needs the right to change them (ADMIN): an open node gives it to
 * anyone; a node locked to another id needs ZooKeeper's super user.
 */
#include "cli/cli.h"

static const char usage[] =
    "usage: meterctl repair-acl --group G --auth-file OPERATOR.auth --acl-file zk-acl.txt\n"
    "  Sets the group's role ACLs on its existing nodes (chroot, group, pipeline,\n"
    "  revisions/, members/, election/, assignment) where they differ.\n";

int cli_cmd_repair_acl(int argc, char **argv, FILE *out, FILE *err)
{
    cli_cluster k;
    cli_cluster_init(&k, argv[0], out, err);
    int rc = cli_parse_simple(&k, argc, argv, usage, NULL, NULL, NULL);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    if (!k.acl_file || !k.auth_file) {
        fprintf(err, "meterctl repair-acl: --acl-file and --auth-file are required\n%s", usage);
        return CLI_USAGE;
    }
    k.repair_acls = true;
    rc = cli_cluster_connect(&k, true); /* ready once every node has the role ACLs */
    if (rc == CLI_OK) fprintf(out, "group %s: every node carries the role ACLs\n", k.group);
    cli_cluster_close(&k);
    return rc;
}
