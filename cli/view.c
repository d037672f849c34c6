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
 * The reads are not one atomic snapshot (ZooKeeper has none across nodes);
 * the members snapshot carries its zxid, and a command run twice converges.
 */
#include "cli/cli.h"
#include "pipeline/pipeline.h"
#include "registry/registry.h"

#include <stdlib.h>
#include <string.h>

/* The current revision and its partitioned targets (group/'s definition). */
static void collect_targets(cli_view *v)
{
    /* an invalid revision is refused by the agents too: no targets anyone
     * polls; the agents judge it with the registry's schemes and meters */
    registry_options ro;
    registry_pipeline_options(&ro, NULL, 0);
    if (pipeline_parse((const char *)v->rev.body, v->rev.body_len, "revision", &ro.opt, &v->pipe,
                       NULL) != 0)
        v->pipe = NULL;
    if (group_revision_targets(v->pipe, &v->targets) != 0) v->targets.n = 0;
}

int cli_view_load(cli_cluster *k, cli_view *v, bool require_known)
{
    memset(v, 0, sizeof *v);
    group_clock_init(&v->clock);
    int rc = coord_members_get(k->c, &v->members);
    if (rc != COORD_OK)
        return cli_fail(k, CLI_UNREACHABLE, "reading members: %s", coord_strerror(rc));
    coord_leader_get(k->c, &v->leader);
    rc = coord_revision_read(k->c, &v->rev);
    if (rc == COORD_OK) {
        v->has_rev = true;
    } else if (rc == COORD_EMALFORMED) { /* status names it; push --force replaces it */
        v->bad_rev = true;
        v->bad_rev_version = v->rev.number;
    } else if (rc != COORD_ENOENT) {
        return cli_fail(k, rc == COORD_ENOCONN ? CLI_UNREACHABLE : CLI_FAILED,
                        "reading the current revision: %s", coord_strerror(rc));
    }
    void *bytes = NULL;
    size_t len = 0;
    rc = coord_assignment_read(k->c, &bytes, &len, &v->epoch);
    if (rc != COORD_OK && rc != COORD_ENOENT)
        return cli_fail(k, rc == COORD_ENOCONN ? CLI_UNREACHABLE : CLI_FAILED,
                        "reading the slot table: %s", coord_strerror(rc));
    v->table_bytes = bytes;
    v->table_len = len;
    v->loaded_ms = cli_wall_ms();
    if (len > 0) {
        char err[256];
        if (group_clock_install(&v->clock, bytes, len, v->epoch, err, sizeof err) < 0)
            return cli_fail(k, CLI_FAILED, "the slot table (epoch %lld) is malformed: %s",
                            (long long)v->epoch, err);
        const group_clock_table *stored = group_clock_newest(&v->clock);
        v->table = stored->t;
        snprintf(v->table_digest, sizeof v->table_digest, "%s", stored->digest);
        group_clock_promote(&v->clock, v->loaded_ms);
    } else {
        v->epoch = 0;
    }
    if (require_known && v->members.count == 0 && !v->has_rev && !v->bad_rev && v->table == NULL)
        return cli_fail(k, CLI_FAILED,
                        "unknown group '%s' at %s: no members, no revision, no slot table",
                        k->group, k->url);
    if (v->has_rev) collect_targets(v);
    return CLI_OK;
}

void cli_view_free(cli_view *v)
{
    coord_members_free(&v->members);
    coord_revision_free(&v->rev);
    free(v->table_bytes);
    group_clock_free(&v->clock);
    group_targets_free(&v->targets);
    pipeline_free(v->pipe);
    memset(v, 0, sizeof *v);
}

const coord_member_t *cli_view_member(const cli_view *v, const char *id)
{
    for (size_t i = 0; i < v->members.count; i++)
        if (strcmp(v->members.members[i].id, id) == 0) return &v->members.members[i];
    return NULL;
}

json_t *cli_member_json(const coord_member_t *m)
{
    const coord_member_info_t *in = &m->info;
    json_t *ns = json_array();
    char buf[sizeof in->namespaces];
    snprintf(buf, sizeof buf, "%s", in->namespaces);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(ns, json_string(t));
    char session[32];
    snprintf(session, sizeof session, "0x%llx", (unsigned long long)m->session);
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:o, s:I, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:i, s:b}",
                  "id", m->id, "host", in->host, "pid", (json_int_t)in->pid, "namespaces", ns,
                  "weight", (json_int_t)(in->weight > 0 ? in->weight : 1), "api", in->api,
                  "applied_revision", (json_int_t)in->applied_revision, "applied_sha256",
                  in->applied_sha256, "owned", (json_int_t)in->owned, "assignment_digest",
                  in->assignment_digest, "state", in->state, "last_error", in->last_error,
                  "session", session, "version", (int)m->version, "insecure", in->insecure);
    /* the ready marker and session timeout (agents; absent from other writers) */
    if (o && in->ready[0]) json_object_set_new(o, "ready", json_string(in->ready));
    if (o && in->session_timeout_ms > 0)
        json_object_set_new(o, "session_timeout_ms", json_integer(in->session_timeout_ms));
    return o;
}
