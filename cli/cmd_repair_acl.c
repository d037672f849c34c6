/* cmd_repair_acl.c -- `meterctl repair-acl --group G --auth-file OP --acl-file
 * zk-acl.txt`: sets the role ACLs (docs/SECURITY.md) on the group's nodes
 * that someone created first with others, the nodes agents refuse to adopt.
 * Without --acl-file (agents with auth_file alone), the group's nodes open
 * to anyone get the one-credential ACL: that credential all, others read.
 * It needs the right to change them (ADMIN): an open node gives it to
 * anyone; a node locked to another id needs ZooKeeper's super user.
 */
#include "cli/cli.h"

static const char usage[] =
    "usage: meterctl repair-acl --group G --auth-file OPERATOR.auth --acl-file zk-acl.txt\n"
    "       meterctl repair-acl --group G --auth-file AGENTS.auth\n"
    "  Sets the group's role ACLs on its existing nodes (chroot, group, pipeline,\n"
    "  revisions/, members/, election/, assignment) where they differ; without\n"
    "  --acl-file (agents with auth_file alone), gives the group's nodes that are\n"
    "  open to anyone to the agents' credential (others read).\n";

int cli_cmd_repair_acl(int argc, char **argv, FILE *out, FILE *err)
{
    cli_cluster k;
    cli_cluster_init(&k, argv[0], out, err);
    int rc = cli_parse_simple(&k, argc, argv, usage, NULL, NULL, NULL);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    if (!k.auth_file) {
        fprintf(err, "meterctl repair-acl: --auth-file is required\n%s", usage);
        return CLI_USAGE;
    }
    k.repair_acls = true;
    rc = cli_cluster_connect(&k, true); /* ready once every node has the role ACLs */
    if (rc == CLI_OK)
        fprintf(out, "group %s: every node carries the %s\n", k.group,
                k.acl_file ? "role ACLs" : "credential's ACL (none open to anyone)");
    cli_cluster_close(&k);
    return rc;
}
