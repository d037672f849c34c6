/* cmd_assignment.c -- `meterctl assignment` and `meterctl whohas T`.
 *
 * Both are reads of the stored slot table, never guesses. The owner of a
 * target at an instant is group_clock_owner_at(), the function the agents
 * obey, so meterctl and the members cannot disagree. ZooKeeper stores only
 * the newest table; during a planned handover it is pending (in force from
 * its instant) and the table the members follow until then is no longer
 * stored: the owner now is then unknown, and the pending owner is reported
 * with its instant, never as the current one. whohas waits (at most
 * CLI_WHOHAS_WAIT_MS) for a table about to come into force and answers
 * then, saying it waited. Target counts per member use the contract's
 * definition (group_revision_targets). A table may still name a member that
 * died (until the leader replans): such owners are shown as not live rather
 * than hidden.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A handover lasts handover_ms (1 s by default): worth waiting for. */
#define CLI_WHOHAS_WAIT_MS 5000

static const char assignment_usage[] =
    "usage: meterctl assignment --group G [--target T] [-o json] [options]\n"
    "  The slot table: epoch, slots and targets per member; --target T: its slot and owner.\n";

static const char whohas_usage[] =
    "usage: meterctl whohas T --group G [-o json] [options]\n"
    "  The member that polls target T now, its slot and the epoch; during a handover the\n"
    "  pending owner and its instant (waits up to 5 s for a table about to be in force).\n";

static json_t *owner_json(const cli_view *v, const char *id)
{
    const coord_member_t *m = cli_view_member(v, id);
    return json_pack("{s:s, s:s?, s:s?, s:b}", "id", id, "host", m ? m->info.host : NULL, "api",
                     m ? m->info.api : NULL, "live", m != NULL);
}

static void owner_text(cli_cluster *k, const cli_view *v, const char *id)
{
    const coord_member_t *m = cli_view_member(v, id);
    fprintf(k->out, "%s (%s, api %s)", id,
            m ? m->info.host : "not live: its slots move when the leader replans",
            m && m->info.api[0] ? m->info.api : "-");
}

/*
 * {"id", "slot", "epoch", "known", "owner": {...} | null, "pending":
 * {"owner", "epoch", "effective_ms", "effective"} | null} and a text line.
 * owner is the owner at v->loaded_ms (null when no table is stored, or when
 * the stored one is still pending: the one in force is unknown).
 */
static json_t *locate(cli_cluster *k, const cli_view *v, const char *target, bool text)
{
    group_owner now;
    group_clock_owner_at(&v->clock, target, v->loaded_ms, &now);
    bool known = group_targets_has(&v->targets, target);
    const char *pending = NULL;
    int64_t eff = group_clock_next_ms(&v->clock);
    if (eff >= 0) pending = partition_owner_id(v->table, target, strlen(target));
    char effs[48] = "";
    if (pending) cli_format_ms(eff, effs, sizeof effs);
    if (text) {
        fprintf(k->out, "target %s: slot %u", target, now.slot);
        if (now.kind == GROUP_OWNER_MEMBER) {
            fprintf(k->out, ", owner ");
            owner_text(k, v, now.owner_id);
            fprintf(k->out, ", epoch %lld", (long long)v->epoch);
        } else if (now.kind == GROUP_OWNER_NO_TABLE) {
            fprintf(k->out, "; %s", CLI_NO_TABLE_NOTE);
        } else {
            fprintf(k->out,
                    ", owner now unknown (the table in force before epoch %lld is no "
                    "longer stored)",
                    (long long)v->epoch);
        }
        if (pending) {
            fprintf(k->out, "; from %s (slot table epoch %lld, pending): ", effs,
                    (long long)v->epoch);
            owner_text(k, v, pending);
        }
        if (!known)
            fprintf(k->out, " [not a target of %s]",
                    v->has_rev ? "the current revision" : "any revision: none pushed");
        fputc('\n', k->out);
        return NULL;
    }
    json_t *o = json_pack("{s:s, s:i, s:I, s:b}", "id", target, "slot", (int)now.slot, "epoch",
                          (json_int_t)v->epoch, "known", known);
    json_object_set_new(o, "owner",
                        now.kind == GROUP_OWNER_MEMBER ? owner_json(v, now.owner_id) : json_null());
    json_object_set_new(o, "pending",
                        pending ? json_pack("{s:o, s:I, s:I, s:s}", "owner", owner_json(v, pending),
                                            "epoch", (json_int_t)v->epoch, "effective_ms",
                                            (json_int_t)eff, "effective", effs)
                                : json_null());
    return o;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int cli_cmd_whohas(int argc, char **argv, FILE *out, FILE *err)
{
    cli_cluster k;
    cli_cluster_init(&k, argv[0], out, err);
    const char *target = NULL;
    int rc = cli_parse_simple(&k, argc, argv, whohas_usage, &target, NULL, NULL);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    if (target == NULL) {
        fprintf(err, "meterctl whohas: no target given\n%s", whohas_usage);
        return CLI_USAGE;
    }
    cli_view v = {0};
    group_clock_init(&v.clock);
    rc = cli_cluster_connect(&k, false);
    if (rc == CLI_OK) rc = cli_view_load(&k, &v, true);
    /* a table about to be in force: wait for it, then read again (a newer
     * one may have been written meanwhile); a few rounds at most */
    int64_t waited = 0;
    for (int round = 0; rc == CLI_OK && round < 3; round++) {
        group_owner o;
        group_clock_owner_at(&v.clock, target, v.loaded_ms, &o);
        int64_t wait = group_clock_next_ms(&v.clock) - v.loaded_ms;
        if (o.kind != GROUP_OWNER_UNKNOWN || wait > CLI_WHOHAS_WAIT_MS) break;
        sleep_ms(wait + 1);
        waited += wait + 1;
        cli_view_free(&v);
        rc = cli_view_load(&k, &v, true);
    }
    if (rc == CLI_OK && k.fmt == CLI_OUT_JSON) {
        json_t *doc = locate(&k, &v, target, false);
        json_object_set_new(doc, "group", json_string(k.group));
        json_object_set_new(doc, "waited_ms", json_integer((json_int_t)waited));
        if (v.table == NULL) json_object_set_new(doc, "note", json_string(CLI_NO_TABLE_NOTE));
        cli_print_json(&k, doc);
    } else if (rc == CLI_OK) {
        if (waited)
            fprintf(out, "(waited %lld ms for slot table epoch %lld to come into force)\n",
                    (long long)waited, (long long)v.epoch);
        locate(&k, &v, target, true);
    }
    cli_view_free(&v);
    cli_cluster_close(&k);
    return rc;
}

typedef struct member_row {
    const char *id;
    int64_t weight;
    bool live;
    int64_t slots, targets;
} member_row;

/* Rows for the table's members, then live members it does not name. */
static member_row *member_rows(const cli_view *v, size_t *n)
{
    size_t cap = v->members.count + (v->table ? v->table->n_members : 0);
    member_row *r = calloc(cap ? cap : 1, sizeof *r);
    if (r == NULL) return NULL;
    *n = 0;
    if (v->table) {
        for (uint32_t i = 0; i < v->table->n_members; i++) {
            const coord_member_t *m = cli_view_member(v, v->table->ids[i]);
            r[(*n)++] = (member_row){v->table->ids[i], v->table->weights[i], m != NULL, 0, 0};
        }
        for (uint32_t s = 0; s < PARTITION_SLOTS; s++)
            r[v->table->owner[s]].slots++;
        for (size_t i = 0; i < v->targets.n; i++) {
            const char *t = v->targets.ids[i];
            r[partition_owner(v->table, partition_slot_of(t, strlen(t)))].targets++;
        }
    }
    for (size_t i = 0; i < v->members.count; i++) {
        const coord_member_t *m = &v->members.members[i];
        if (v->table && partition_member_index(v->table, m->id) >= 0) continue;
        /* without a table every member owns every slot; with one, a newcomer owns none yet */
        int64_t w = m->info.weight > 0 ? m->info.weight : 1;
        r[(*n)++] = (member_row){m->id, w, true, v->table ? 0 : PARTITION_SLOTS,
                                 v->table ? 0 : (int64_t)v->targets.n};
    }
    return r;
}

int cli_cmd_assignment(int argc, char **argv, FILE *out, FILE *err)
{
    cli_cluster k;
    cli_cluster_init(&k, argv[0], out, err);
    const char *target = NULL;
    int rc = cli_parse_simple(&k, argc, argv, assignment_usage, NULL, "--target", &target);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    cli_view v = {0};
    member_row *rows = NULL;
    size_t n = 0;
    rc = cli_cluster_connect(&k, false);
    if (rc == CLI_OK) rc = cli_view_load(&k, &v, true);
    if (rc == CLI_OK && (rows = member_rows(&v, &n)) == NULL) rc = cli_fail(&k, 1, "out of memory");
    if (rc == CLI_OK && k.fmt == CLI_OUT_JSON) {
        json_t *mem = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(mem, json_pack("{s:s, s:I, s:b, s:I, s:I}", "id", rows[i].id,
                                                 "weight", (json_int_t)rows[i].weight, "live",
                                                 rows[i].live, "slots", (json_int_t)rows[i].slots,
                                                 "targets", (json_int_t)rows[i].targets));
        char eff[48] = "";
        if (v.table) cli_format_ms(v.table->effective_ms, eff, sizeof eff);
        json_t *doc = json_pack(
            "{s:s, s:I, s:o, s:o, s:o, s:I, s:o, s:o}", "group", k.group, "epoch",
            (json_int_t)v.epoch, "effective_ms",
            v.table ? json_integer((json_int_t)v.table->effective_ms) : json_null(), "effective",
            v.table ? json_string(eff) : json_null(), "digest",
            v.table ? json_string(v.table_digest) : json_null(), "targets", (json_int_t)v.targets.n,
            "revision", v.has_rev ? json_integer((json_int_t)v.rev.number) : json_null(), "members",
            mem);
        if (v.table == NULL) json_object_set_new(doc, "note", json_string(CLI_NO_TABLE_NOTE));
        /* true while the stored table waits for its instant (a handover) */
        json_object_set_new(doc, "pending", json_boolean(group_clock_next_ms(&v.clock) >= 0));
        if (target) json_object_set_new(doc, "target", locate(&k, &v, target, false));
        cli_print_json(&k, doc);
    } else if (rc == CLI_OK) {
        if (v.table) {
            char eff[48];
            cli_format_ms(v.table->effective_ms, eff, sizeof eff);
            if (group_clock_next_ms(&v.clock) >= 0) /* the stored table is not in force yet */
                fprintf(out,
                        "slot table epoch %lld, pending: in force from %s (the table in force "
                        "until then is no longer stored), %zu targets",
                        (long long)v.epoch, eff, v.targets.n);
            else
                fprintf(out, "slot table epoch %lld, in force since %s, %zu targets",
                        (long long)v.epoch, eff, v.targets.n);
        } else {
            fprintf(out, "%s; %zu targets", CLI_NO_TABLE_NOTE, v.targets.n);
        }
        if (v.has_rev) fprintf(out, " (revision %lld)", (long long)v.rev.number);
        fprintf(out, "\n\n");
        static const char *const head[] = {"MEMBER", "WEIGHT", "LIVE", "SLOTS", "TARGETS"};
        cli_table t;
        cli_table_init(&t, 5, head);
        for (size_t i = 0; i < n; i++) {
            char w[32], s[32], tg[32];
            snprintf(w, sizeof w, "%lld", (long long)rows[i].weight);
            snprintf(s, sizeof s, "%lld", (long long)rows[i].slots);
            snprintf(tg, sizeof tg, "%lld", (long long)rows[i].targets);
            const char *row[] = {rows[i].id, w, rows[i].live ? "yes" : "no", s, tg};
            cli_table_add(&t, row);
        }
        cli_table_print(&t, out);
        cli_table_free(&t);
        if (target) {
            fputc('\n', out);
            locate(&k, &v, target, true);
        }
    }
    free(rows);
    cli_view_free(&v);
    cli_cluster_close(&k);
    return rc;
}
