/* cmd_status.c -- `meterctl status` and `meterctl members`.
 *
 * members prints what each live member advertises in its node, verbatim.
 * status puts it next to what is stored and judges: a member lags when its
 * applied revision is older than the current one or the slot-table digest it
 * obeys is not the sha256 of the stored table bytes (once that table is in
 * force: during a handover members obey the previous one); it disagrees when it
 * claims the current number with another sha256, a newer number, a table
 * when none is stored, or is missing from the stored table. Members in state
 * rejected / error / fenced are named too. Exit 5 when anything is named, so
 * `meterctl status` works as a health probe in scripts and monitoring.
 *
 * The judgement is of one moment: right after a push or a membership change
 * a healthy group is briefly "inconsistent" until members report back.
 *
 * Ready markers: a member node outlives its member's connection (a member
 * cut off, or not yet reconnected after ZooKeeper returned, keeps its node
 * until its session expires, and under `fence` polls nothing meanwhile), so
 * what a node says is trusted only under the member's ready marker
 * ("<session>:<reconnects>", written once it has read the table in force in
 * that connection): a marker naming another session than the one owning the
 * node, or "none", means the member has not (re)joined the table in force.
 * status then waits, re-reading, up to one session timeout after its own
 * connect (by then such a member has read the table or its session expired
 * and its node went), and names it "not_ready". So does a member whose node
 * was last written before its connection began (`cons` says when): it
 * reconnected and its marker is from an earlier connection. A member whose
 * session survived a ZooKeeper restart but which has not reconnected yet
 * still shows its old marker: --settle waits one session timeout after connecting before
 * judging, after which every node left belongs to a member that reconnected
 * and wrote its marker again (docs/CLUSTER.md).
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char status_usage[] =
    "usage: meterctl status --group G [-o json] [--settle MS|session] [options]\n"
    "  Leader, slot table, current revision, members, and a consistency check.\n"
    "  --settle: judge only MS (or one member session timeout) after connecting:\n"
    "  right after ZooKeeper returned, members not yet reconnected are then seen.\n"
    "  Exit status: 0 consistent, 5 some member lags, disagrees or is not ready,\n"
    "  6 unreachable.\n";

static const char members_usage[] = "usage: meterctl members --group G [-o json] [options]\n"
                                    "  The live members and the data each one advertises.\n";

/* The sessions connected to ZooKeeper now (`cons`), when every server told. */
typedef struct live_sessions {
    int64_t *sids, *est;
    groupview_sessions g;
} live_sessions;

static void live_free(live_sessions *l)
{
    free(l->sids);
    free(l->est);
    memset(l, 0, sizeof *l);
}

static void live_load(cli_cluster *k, live_sessions *l)
{
    live_free(l);
    coord_url_t u;
    char err[300];
    size_t n = 0;
    if (coord_url_parse(k->url, &u, err, sizeof err) == 0)
        l->g.known = cli_zk_sessions(u.hosts, 2000, &l->sids, &l->est, &n) == 0;
    l->g.sids = l->sids;
    l->g.est = l->est;
    l->g.n = n;
}

/* The longest session timeout members report (default when none does). */
static int64_t session_ms(const cli_view *v)
{
    int64_t ms = 0;
    for (size_t i = 0; i < v->members.count; i++)
        if (v->members.members[i].info.session_timeout_ms > ms)
            ms = v->members.members[i].info.session_timeout_ms;
    return ms > 0 ? ms : COORD_SESSION_TIMEOUT_DEFAULT_MS;
}

/*
 * Loads the view at least settle_ms (-1: one session timeout) after
 * connected_ms, and while some member is not ready, again until one session
 * timeout after it. CLI_OK or the exit code.
 */
static int load_settled(cli_cluster *k, cli_view *v, live_sessions *l, int64_t connected_ms,
                        int64_t settle_ms)
{
    int rc = cli_view_load(k, v, true);
    while (rc == CLI_OK) {
        live_load(k, l);
        int64_t session = session_ms(v), now = cli_now_ms();
        int64_t settle = settle_ms < 0 ? session : settle_ms;
        bool early = now < connected_ms + settle;
        if (!early && (groupview_all_ready(v, &l->g) || now >= connected_ms + session)) break;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
        cli_view_free(v);
        memset(v, 0, sizeof *v);
        rc = cli_view_load(k, v, true);
    }
    return rc;
}

static void print_status_text(cli_cluster *k, const cli_view *v, const groupview_sessions *l,
                              json_t *doc)
{
    json_t *probs = json_object_get(doc, "problems");
    json_t *docmem = json_object_get(doc, "members");
    FILE *out = k->out;
    fprintf(out, "group:     %s\n", k->group);
    fprintf(out, "leader:    %s\n", v->leader.known ? v->leader.member_id : "(none)");
    if (v->has_rev)
        fprintf(out, "revision:  %lld %s by %s at %s\n", (long long)v->rev.number, v->rev.sha256,
                v->rev.author, v->rev.time);
    else
        fprintf(out, "revision:  (none pushed yet)\n");
    if (v->table) {
        char eff[48];
        groupview_format_ms(v->table->effective_ms, eff, sizeof eff);
        fprintf(out, "slots:     epoch %lld, in force since %s, %u members, digest %.12s\n",
                (long long)v->epoch, eff, v->table->n_members, v->table_digest);
    } else {
        fprintf(out, "slots:     %s\n", CLI_NO_TABLE_NOTE);
    }
    fputc('\n', out);
    static const char *const head[] = {"MEMBER", "HOST",   "STATE", "READY", "APPLIED",
                                       "OWNED",  "WEIGHT", "SLOTS", "TABLE"};
    static const char *const ready[] = {"-", "no", "yes"};
    cli_table t;
    cli_table_init(&t, 9, head);
    for (size_t i = 0; i < v->members.count; i++) {
        const coord_member_t *m = &v->members.members[i];
        char applied[32], owned[32], weight[32], slots[32];
        snprintf(applied, sizeof applied, "%lld", (long long)m->info.applied_revision);
        snprintf(owned, sizeof owned, "%lld", (long long)m->info.owned);
        snprintf(weight, sizeof weight, "%lld",
                 (long long)(m->info.weight > 0 ? m->info.weight : 1));
        const char *tab = "none";
        if (v->table) {
            snprintf(
                slots, sizeof slots, "%lld",
                (long long)json_integer_value(json_object_get(json_array_get(docmem, i), "slots")));
            tab = strcmp(m->info.assignment_digest, v->table_digest) == 0 ? "ok" : "stale";
        } else {
            snprintf(slots, sizeof slots, "all");
            if (m->info.assignment_digest[0]) tab = "stale";
        }
        const char *row[] = {m->id,
                             m->info.host[0] ? m->info.host : "-",
                             m->info.state[0] ? m->info.state : "-",
                             ready[groupview_member_ready(m, l) + 1],
                             applied,
                             owned,
                             weight,
                             slots,
                             tab};
        cli_table_add(&t, row);
    }
    if (v->members.count > 0)
        cli_table_print(&t, out);
    else
        fprintf(out, "no live members\n");
    cli_table_free(&t);
    fputc('\n', out);
    for (size_t i = 0; i < v->members.count; i++)
        if (v->members.members[i].info.insecure)
            fprintf(out,
                    "insecure: %s runs without credentials or trusted keys (insecure = true)\n",
                    v->members.members[i].id);
    if (!l->known)
        fprintf(out, "note: ZooKeeper did not answer `cons` (4lw.commands.whitelist): members' "
                     "connections unverified; after an outage use --settle session\n");
    if (json_array_size(probs) == 0) {
        fprintf(out, "consistent: %zu member%s at revision %lld, slot table epoch %lld\n",
                v->members.count, v->members.count == 1 ? "" : "s",
                (long long)(v->has_rev ? v->rev.number : 0), (long long)v->epoch);
        return;
    }
    fprintf(out, "inconsistent:\n");
    size_t i;
    json_t *p;
    json_array_foreach(probs, i, p)
    {
        const char *mem = json_string_value(json_object_get(p, "member"));
        fprintf(out, "  %s: %s: %s\n", mem ? mem : "(group)",
                json_string_value(json_object_get(p, "problem")),
                json_string_value(json_object_get(p, "detail")));
        const char *why = json_string_value(json_object_get(p, "reason"));
        if (why) fprintf(out, "    why: %s\n", why);
    }
}

int cli_cmd_status(int argc, char **argv, FILE *out, FILE *err)
{
    cli_cluster k;
    cli_cluster_init(&k, argv[0], out, err);
    const char *settle_arg = NULL;
    int rc = cli_parse_simple(&k, argc, argv, status_usage, NULL, "--settle", &settle_arg);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    int64_t settle = 0;
    if (settle_arg) {
        char *end;
        settle = strcmp(settle_arg, "session") == 0 ? -1 : strtoll(settle_arg, &end, 10);
        if (settle != -1 && (end == settle_arg || *end || settle < 0 || settle > 3600000))
            return cli_fail(&k, CLI_USAGE,
                            "--settle %s: expected milliseconds (0 to 3600000) or \"session\"",
                            settle_arg);
    }
    cli_view v = {0};
    rc = cli_cluster_connect(&k, false);
    live_sessions live = {0};
    if (rc == CLI_OK) rc = load_settled(&k, &v, &live, cli_now_ms(), settle);
    if (rc == CLI_OK) {
        bool ok = false;
        json_t *doc = groupview_status_json(&v, k.group, &live.g, &ok);
        if (doc && v.bad_rev) cli_malformed_reason(&k, v.bad_rev_version, doc);
        if (doc == NULL) {
            rc = cli_fail(&k, CLI_FAILED, "out of memory");
        } else if (k.fmt == CLI_OUT_JSON) {
            cli_print_json(&k, doc);
        } else {
            print_status_text(&k, &v, &live.g, doc);
            json_decref(doc);
        }
        if (rc == CLI_OK) rc = ok ? CLI_OK : CLI_INCONSISTENT;
    }
    live_free(&live);
    cli_view_free(&v);
    cli_cluster_close(&k);
    return rc;
}

int cli_cmd_members(int argc, char **argv, FILE *out, FILE *err)
{
    cli_cluster k;
    cli_cluster_init(&k, argv[0], out, err);
    int rc = cli_parse_simple(&k, argc, argv, members_usage, NULL, NULL, NULL);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    cli_view v = {0};
    rc = cli_cluster_connect(&k, false);
    if (rc == CLI_OK) rc = cli_view_load(&k, &v, true);
    if (rc == CLI_OK && k.fmt == CLI_OUT_JSON) {
        cli_print_json(&k, groupview_members_json(&v, k.group));
    } else if (rc == CLI_OK && v.members.count == 0) {
        fprintf(out, "no live members in group %s\n", k.group);
    } else if (rc == CLI_OK) {
        static const char *const head[] = {"MEMBER", "HOST",  "PID",    "STATE", "APPLIED",
                                           "SHA256", "OWNED", "WEIGHT", "API",   "LAST_ERROR"};
        cli_table t;
        cli_table_init(&t, 10, head);
        for (size_t i = 0; i < v.members.count; i++) {
            const coord_member_info_t *in = &v.members.members[i].info;
            char pid[32], applied[32], sha[16], owned[32], weight[32];
            snprintf(pid, sizeof pid, "%lld", (long long)in->pid);
            snprintf(applied, sizeof applied, "%lld", (long long)in->applied_revision);
            snprintf(sha, sizeof sha, "%.12s", in->applied_sha256[0] ? in->applied_sha256 : "-");
            snprintf(owned, sizeof owned, "%lld", (long long)in->owned);
            snprintf(weight, sizeof weight, "%lld", (long long)(in->weight > 0 ? in->weight : 1));
            const char *row[] = {v.members.members[i].id,
                                 in->host[0] ? in->host : "-",
                                 pid,
                                 in->state[0] ? in->state : "-",
                                 applied,
                                 sha,
                                 owned,
                                 weight,
                                 in->api[0] ? in->api : "-",
                                 in->last_error[0] ? in->last_error : "-"};
            cli_table_add(&t, row);
        }
        cli_table_print(&t, out);
        cli_table_free(&t);
    }
    cli_view_free(&v);
    cli_cluster_close(&k);
    return rc;
}
