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

/* "id (host, api URL)" from an owner document of groupview_locate_json(). */
static void owner_text(cli_cluster *k, json_t *o)
{
    const char *host = json_string_value(json_object_get(o, "host"));
    const char *api = json_string_value(json_object_get(o, "api"));
    fprintf(k->out, "%s (%s, api %s)", json_string_value(json_object_get(o, "id")),
            host ? host : "not live: its slots move when the leader replans",
            api && api[0] ? api : "-");
}

/* The text form of groupview_locate_json(): one line. */
static void locate_text(cli_cluster *k, const cli_view *v, json_t *o)
{
    const char *target = json_string_value(json_object_get(o, "id"));
    json_t *owner = json_object_get(o, "owner");
    json_t *pending = json_object_get(o, "pending");
    fprintf(k->out, "target %s: slot %lld", target,
            (long long)json_integer_value(json_object_get(o, "slot")));
    if (json_is_object(owner)) {
        fprintf(k->out, ", owner ");
        owner_text(k, owner);
        fprintf(k->out, ", epoch %lld", (long long)v->epoch);
    } else if (v->table == NULL) {
        fprintf(k->out, "; %s", CLI_NO_TABLE_NOTE);
    } else {
        fprintf(k->out,
                ", owner now unknown (the table in force before epoch %lld is no "
                "longer stored)",
                (long long)v->epoch);
    }
    if (json_is_object(pending)) {
        fprintf(k->out, "; from %s (slot table epoch %lld, pending): ",
                json_string_value(json_object_get(pending, "effective")), (long long)v->epoch);
        owner_text(k, json_object_get(pending, "owner"));
    }
    if (!json_is_true(json_object_get(o, "known")))
        fprintf(k->out, " [not a target of %s]",
                v->has_rev ? "the current revision" : "any revision: none pushed");
    fputc('\n', k->out);
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
    json_t *doc = rc == CLI_OK ? groupview_locate_json(&v, target) : NULL;
    if (rc == CLI_OK && doc == NULL) rc = cli_fail(&k, CLI_FAILED, "out of memory");
    if (rc == CLI_OK && k.fmt == CLI_OUT_JSON) {
        json_object_set_new(doc, "group", json_string(k.group));
        json_object_set_new(doc, "waited_ms", json_integer((json_int_t)waited));
        if (v.table == NULL) json_object_set_new(doc, "note", json_string(CLI_NO_TABLE_NOTE));
        cli_print_json(&k, doc);
    } else if (rc == CLI_OK) {
        if (waited)
            fprintf(out, "(waited %lld ms for slot table epoch %lld to come into force)\n",
                    (long long)waited, (long long)v.epoch);
        locate_text(&k, &v, doc);
        json_decref(doc);
    }
    cli_view_free(&v);
    cli_cluster_close(&k);
    return rc;
}

int cli_cmd_assignment(int argc, char **argv, FILE *out, FILE *err)
{
    cli_cluster k;
    cli_cluster_init(&k, argv[0], out, err);
    const char *target = NULL;
    int rc = cli_parse_simple(&k, argc, argv, assignment_usage, NULL, "--target", &target);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    cli_view v = {0};
    json_t *doc = NULL;
    rc = cli_cluster_connect(&k, false);
    if (rc == CLI_OK) rc = cli_view_load(&k, &v, true);
    if (rc == CLI_OK && (doc = groupview_assignment_json(&v, k.group, target)) == NULL)
        rc = cli_fail(&k, CLI_FAILED, "out of memory");
    if (rc == CLI_OK && k.fmt == CLI_OUT_JSON) {
        cli_print_json(&k, doc);
        doc = NULL;
    } else if (rc == CLI_OK) {
        if (v.table) {
            char eff[48];
            groupview_format_ms(v.table->effective_ms, eff, sizeof eff);
            if (group_clock_next_ms(&v.clock) >= 0 && v.clock.cur.t) /* named in it */
                fprintf(out,
                        "slot table epoch %lld, pending: in force from %s (epoch %lld until "
                        "then), %zu targets",
                        (long long)v.epoch, eff, (long long)v.clock.cur.epoch, v.targets.n);
            else if (group_clock_next_ms(&v.clock) >= 0) /* an older leader's: not named */
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
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(doc, "members"), i, m)
        {
            char w[32], sl[32], tg[32];
            snprintf(w, sizeof w, "%lld",
                     (long long)json_integer_value(json_object_get(m, "weight")));
            snprintf(sl, sizeof sl, "%lld",
                     (long long)json_integer_value(json_object_get(m, "slots")));
            snprintf(tg, sizeof tg, "%lld",
                     (long long)json_integer_value(json_object_get(m, "targets")));
            const char *row[] = {json_string_value(json_object_get(m, "id")), w,
                                 json_is_true(json_object_get(m, "live")) ? "yes" : "no", sl, tg};
            cli_table_add(&t, row);
        }
        cli_table_print(&t, out);
        cli_table_free(&t);
        if (target) {
            fputc('\n', out);
            locate_text(&k, &v, json_object_get(doc, "target"));
        }
    }
    json_decref(doc);
    cli_view_free(&v);
    cli_cluster_close(&k);
    return rc;
}
