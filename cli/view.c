/* view.c -- one read of a group's whole state for the inspecting commands.
 *
 * status, members, assignment and whohas all need the same facts: the live
 * members and their node data, the leader, the current revision, the slot
 * table (raw bytes for the digest members compare against, and decoded) and
 * the group's partitioned targets. Reading them in one place means every
 * command answers from the same definitions, group/'s, which the agents use
 * too: targets are group_revision_targets() of the current revision, the
 * owner of a target at an instant is group_clock_owner_at() over the stored
 * table (which may still be pending: ZooKeeper keeps only the newest), the
 * table's epoch is the assignment node's version.
 *
 * The facts and their JSON are groupview/'s (meterproxy shows the same).
 * The reads are not one atomic snapshot (ZooKeeper has none across nodes);
 * the members snapshot carries its zxid, and a command run twice converges.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

int cli_view_load(cli_cluster *k, cli_view *v, bool require_known)
{
    groupview_init(v);
    coord_members_t members;
    int rc = coord_members_get(k->c, &members);
    if (rc != COORD_OK)
        return cli_fail(k, CLI_UNREACHABLE, "reading members: %s", coord_strerror(rc));
    groupview_set_members(v, &members);
    coord_leader_get(k->c, &v->leader);
    coord_revision_t rev;
    rc = coord_revision_read(k->c, &rev);
    if (rc == COORD_OK) {
        groupview_set_revision(v, &rev);
    } else if (rc == COORD_EMALFORMED) { /* status names it; push --force replaces it */
        groupview_set_bad_revision(v, rev.number);
    } else if (rc != COORD_ENOENT) {
        return cli_fail(k, rc == COORD_ENOCONN ? CLI_UNREACHABLE : CLI_FAILED,
                        "reading the current revision: %s", coord_strerror(rc));
    }
    void *bytes = NULL;
    size_t len = 0;
    int64_t epoch = 0;
    rc = coord_assignment_read(k->c, &bytes, &len, &epoch);
    if (rc != COORD_OK && rc != COORD_ENOENT)
        return cli_fail(k, rc == COORD_ENOCONN ? CLI_UNREACHABLE : CLI_FAILED,
                        "reading the slot table: %s", coord_strerror(rc));
    if (len > 0) {
        char err[256];
        int irc = groupview_set_table(v, bytes, len, epoch, err, sizeof err);
        free(bytes);
        if (irc < 0)
            return cli_fail(k, CLI_FAILED, "the slot table (epoch %lld) is malformed: %s",
                            (long long)epoch, err);
    } else {
        free(bytes);
    }
    groupview_at(v, cli_wall_ms());
    if (require_known && !groupview_known(v))
        return cli_fail(k, CLI_FAILED,
                        "unknown group '%s' at %s: no members, no revision, no slot table",
                        k->group, k->url);
    return CLI_OK;
}

void cli_view_free(cli_view *v)
{
    groupview_free(v);
}
