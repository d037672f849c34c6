/* json.c -- the documents of `meterctl -o json` and meterproxy's API.
 *
 * status judges each member against what is stored: it lags when its
 * applied revision is older than the current one or the slot-table digest
 * it obeys is not the sha256 of the stored table bytes (once that table is
 * in force: during a handover members obey the previous one); it disagrees
 * when it claims the current number with another sha256, a newer number, a
 * table when none is stored, or is missing from the stored table. Members in
 * state rejected / error / fenced are named too. The judgement is of one
 * moment: right after a push or a membership change a healthy group is
 * briefly inconsistent until members report back.
 */
#include "groupview/groupview.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *groupview_member_json(const coord_member_t *m)
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

json_t *groupview_members_json(const groupview *v, const char *group)
{
    json_t *mem = json_array();
    for (size_t i = 0; i < v->members.count; i++)
        json_array_append_new(mem, groupview_member_json(&v->members.members[i]));
    return json_pack("{s:s, s:I, s:o}", "group", group, "zxid", (json_int_t)v->members.zxid,
                     "members", mem);
}

static void problem(json_t *list, const char *member, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(json_t *list, const char *member, const char *kind, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_array_append_new(
        list, json_pack("{s:s?, s:s, s:s}", "member", member, "problem", kind, "detail", detail));
}

static int32_t slots_of(const partition_table *t, int32_t idx)
{
    int32_t n = 0;
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++)
        if (t->owner[s] == idx) n++;
    return n;
}

/* sid's index among the connected sessions, or -1. */
static long live_find(const groupview_sessions *l, int64_t sid)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->sids[i] == sid) return (long)i;
    return -1;
}

static bool live_has(const groupview_sessions *l, int64_t sid)
{
    return live_find(l, sid) >= 0;
}

/*
 * A member that reconnected in the same session keeps its node, marker
 * included, until it writes again: it re-reads the table first, and fenced
 * while cut off it polls nothing until then (100-300 ms after a ZooKeeper
 * restart). Its node last written before its connection began says nothing
 * about this connection. mtime is by the ZooKeeper leader's clock and est
 * by the connected server's: CLOCK_SLACK_MS allows for their skew, far
 * below what separates a fenced member's last write from its reconnection
 * (a third of the session timeout at least, 333 ms).
 */
#define CLOCK_SLACK_MS 100

static bool written_before_connecting(const coord_member_t *m, const groupview_sessions *l)
{
    long i = l->est ? live_find(l, m->session) : -1;
    return i >= 0 && l->est[i] > 0 && m->mtime_ms > 0 && m->mtime_ms < l->est[i] - CLOCK_SLACK_MS;
}

int groupview_member_ready(const coord_member_t *m, const groupview_sessions *l)
{
    if (l && l->known && (!live_has(l, m->session) || written_before_connecting(m, l))) return 0;
    const char *r = m->info.ready;
    if (!r[0]) return -1;
    char *end;
    unsigned long long sid = strtoull(r, &end, 16);
    return end != r && *end == ':' && sid != 0 && (int64_t)sid == m->session;
}

bool groupview_all_ready(const groupview *v, const groupview_sessions *l)
{
    for (size_t i = 0; i < v->members.count; i++)
        if (groupview_member_ready(&v->members.members[i], l) == 0) return false;
    return true;
}

static void judge_member(const groupview *v, const groupview_sessions *l, const coord_member_t *m,
                         json_t *p)
{
    const coord_member_info_t *in = &m->info;
    int64_t cur = v->has_rev ? v->rev.number : 0;
    if (in->applied_revision < cur)
        problem(p, m->id, "lags", "applied revision %lld < current %lld",
                (long long)in->applied_revision, (long long)cur);
    else if (in->applied_revision > cur)
        problem(p, m->id, "disagrees", "reports revision %lld, newer than the stored %lld",
                (long long)in->applied_revision, (long long)cur);
    else if (cur > 0 && strcmp(in->applied_sha256, v->rev.sha256) != 0)
        problem(p, m->id, "disagrees", "runs revision %lld with sha256 %.12s, stored is %.12s",
                (long long)cur, in->applied_sha256[0] ? in->applied_sha256 : "(none)",
                v->rev.sha256);
    if (v->table != NULL) {
        /* while the stored table is pending (a handover), members rightly
         * obey the one before it, which is no longer stored */
        bool pending = group_clock_next_ms(&v->clock) >= 0;
        if (!pending && strcmp(in->assignment_digest, v->table_digest) != 0)
            problem(p, m->id, "lags",
                    "obeys slot table %.12s, the stored one (epoch %lld) is %.12s",
                    in->assignment_digest[0] ? in->assignment_digest : "(none)",
                    (long long)v->epoch, v->table_digest);
        if (partition_member_index(v->table, m->id) < 0)
            problem(p, m->id, "disagrees",
                    "not in the slot table of epoch %lld (owns nothing until the leader replans)",
                    (long long)v->epoch);
    } else if (in->assignment_digest[0]) {
        problem(p, m->id, "disagrees", "obeys slot table %.12s but none is stored",
                in->assignment_digest);
    }
    /* not ready yet, and refusing something: both are the operator's news */
    const char *err_sep = in->last_error[0] ? "; its last error: " : "";
    if (strcmp(in->state, "rejected") == 0 || strcmp(in->state, "error") == 0 ||
        strcmp(in->state, "fenced") == 0)
        problem(p, m->id, "state", "%s%s%s", in->state, in->last_error[0] ? ": " : "",
                in->last_error);
    else if (groupview_member_ready(m, l) == 0 && l && l->known && !live_has(l, m->session))
        problem(p, m->id, "not_ready",
                "its session 0x%llx is not connected to ZooKeeper (reconnecting, or cut off)%s%s",
                (unsigned long long)m->session, err_sep, in->last_error);
    else if (groupview_member_ready(m, l) == 0 && l && l->known && written_before_connecting(m, l))
        problem(p, m->id, "not_ready",
                "its session 0x%llx reconnected and has not written its node since (reading "
                "the slot table again)%s%s",
                (unsigned long long)m->session, err_sep, in->last_error);
    else if (groupview_member_ready(m, l) == 0)
        problem(p, m->id, "not_ready",
                "has not read the slot table in force since session 0x%llx connected "
                "(reconnecting or starting; marker %s)%s%s",
                (unsigned long long)m->session, in->ready[0] ? in->ready : "none", err_sep,
                in->last_error);
    else if (in->last_error[0]) /* running, but refused something (a forged slot table) */
        problem(p, m->id, "error", "%s", in->last_error);
}

json_t *groupview_revision_entry_json(const coord_revision_t *r, bool current)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:b, s:b}", "number", (json_int_t)r->number,
                     "sha256", r->sha256, "author", r->author, "time", r->time, "size",
                     (json_int_t)r->body_len, "current", current, "signed",
                     r->signature[0] != '\0');
}

json_t *groupview_revision_json(const groupview *v)
{
    if (!v->has_rev) return json_null();
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:b}", "number", (json_int_t)v->rev.number,
                     "sha256", v->rev.sha256, "author", v->rev.author, "time", v->rev.time, "size",
                     (json_int_t)v->rev.body_len, "signed", v->rev.signature[0] != '\0');
}

static json_t *table_json(const groupview *v)
{
    if (v->table == NULL) return json_null();
    char eff[48];
    groupview_format_ms(v->table->effective_ms, eff, sizeof eff);
    return json_pack("{s:I, s:I, s:s, s:s, s:I, s:I}", "epoch", (json_int_t)v->epoch,
                     "effective_ms", (json_int_t)v->table->effective_ms, "effective", eff, "digest",
                     v->table_digest, "members", (json_int_t)v->table->n_members, "size",
                     (json_int_t)v->table_len);
}

json_t *groupview_status_json(const groupview *v, const char *group, const groupview_sessions *live,
                              bool *consistent)
{
    json_t *probs = json_array();
    if (!v->leader.known && v->members.count > 0)
        problem(probs, NULL, "no_leader", "no member leads the group");
    if (v->bad_rev)
        problem(probs, NULL, "malformed_revision",
                "the pipeline node (version %lld) is not a revision; members keep what they "
                "run; `meterctl push FILE --force` replaces it",
                (long long)v->bad_rev_version);
    for (size_t i = 0; i < v->members.count; i++)
        judge_member(v, live, &v->members.members[i], probs);
    bool ok = json_array_size(probs) == 0;
    if (consistent) *consistent = ok;
    json_t *mem = json_array();
    for (size_t i = 0; i < v->members.count; i++) {
        const coord_member_t *m = &v->members.members[i];
        json_t *o = groupview_member_json(m);
        int32_t idx = v->table ? partition_member_index(v->table, m->id) : -1;
        json_object_set_new(o, "slots",
                            v->table ? json_integer(idx < 0 ? 0 : slots_of(v->table, idx))
                                     : json_integer(PARTITION_SLOTS));
        json_array_append_new(mem, o);
    }
    json_t *doc =
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:o}", "group", group, "leader",
                  v->leader.known ? json_pack("{s:s, s:s}", "member_id", v->leader.member_id,
                                              "endpoint", v->leader.endpoint)
                                  : json_null(),
                  "revision", groupview_revision_json(v), "assignment", table_json(v), "members",
                  mem, "consistent", ok, "problems", probs);
    if (doc && v->table == NULL)
        json_object_set_new(doc, "note", json_string(GROUPVIEW_NO_TABLE_NOTE));
    if (doc) json_object_set_new(doc, "connections_checked", json_boolean(live && live->known));
    return doc;
}

static json_t *owner_json(const groupview *v, const char *id)
{
    const coord_member_t *m = groupview_member(v, id);
    return json_pack("{s:s, s:s?, s:s?, s:b}", "id", id, "host", m ? m->info.host : NULL, "api",
                     m ? m->info.api : NULL, "live", m != NULL);
}

/* owner is the owner at loaded_ms (null when no table is stored, or when the
 * stored one is still pending: the one in force is unknown). */
json_t *groupview_locate_json(const groupview *v, const char *target)
{
    group_owner now;
    group_clock_owner_at(&v->clock, target, v->loaded_ms, &now);
    bool known = group_targets_has(&v->targets, target);
    const char *pending = NULL;
    int64_t eff = group_clock_next_ms(&v->clock);
    if (eff >= 0) pending = partition_owner_id(v->table, target, strlen(target));
    char effs[48] = "";
    if (pending) groupview_format_ms(eff, effs, sizeof effs);
    json_t *o = json_pack("{s:s, s:i, s:I, s:b}", "id", target, "slot", (int)now.slot, "epoch",
                          (json_int_t)v->epoch, "known", known);
    if (o == NULL) return NULL;
    json_object_set_new(o, "owner",
                        now.kind == GROUP_OWNER_MEMBER ? owner_json(v, now.owner_id) : json_null());
    json_object_set_new(o, "pending",
                        pending ? json_pack("{s:o, s:I, s:I, s:s}", "owner", owner_json(v, pending),
                                            "epoch", (json_int_t)v->epoch, "effective_ms",
                                            (json_int_t)eff, "effective", effs)
                                : json_null());
    return o;
}

typedef struct member_row {
    const char *id;
    int64_t weight;
    bool live;
    int64_t slots, targets;
} member_row;

/* Rows for the table's members, then live members it does not name. */
static member_row *member_rows(const groupview *v, size_t *n)
{
    size_t cap = v->members.count + (v->table ? v->table->n_members : 0);
    member_row *r = calloc(cap ? cap : 1, sizeof *r);
    if (r == NULL) return NULL;
    *n = 0;
    if (v->table) {
        for (uint32_t i = 0; i < v->table->n_members; i++) {
            const coord_member_t *m = groupview_member(v, v->table->ids[i]);
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

json_t *groupview_assignment_json(const groupview *v, const char *group, const char *target)
{
    size_t n = 0;
    member_row *rows = member_rows(v, &n);
    if (rows == NULL) return NULL;
    json_t *mem = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(mem, json_pack("{s:s, s:I, s:b, s:I, s:I}", "id", rows[i].id,
                                             "weight", (json_int_t)rows[i].weight, "live",
                                             rows[i].live, "slots", (json_int_t)rows[i].slots,
                                             "targets", (json_int_t)rows[i].targets));
    free(rows);
    char eff[48] = "";
    if (v->table) groupview_format_ms(v->table->effective_ms, eff, sizeof eff);
    json_t *doc = json_pack(
        "{s:s, s:I, s:o, s:o, s:o, s:I, s:o, s:o}", "group", group, "epoch", (json_int_t)v->epoch,
        "effective_ms", v->table ? json_integer((json_int_t)v->table->effective_ms) : json_null(),
        "effective", v->table ? json_string(eff) : json_null(), "digest",
        v->table ? json_string(v->table_digest) : json_null(), "targets", (json_int_t)v->targets.n,
        "revision", v->has_rev ? json_integer((json_int_t)v->rev.number) : json_null(), "members",
        mem);
    if (doc == NULL) return NULL;
    if (v->table == NULL) json_object_set_new(doc, "note", json_string(GROUPVIEW_NO_TABLE_NOTE));
    /* true while the stored table waits for its instant (a handover) */
    json_object_set_new(doc, "pending", json_boolean(group_clock_next_ms(&v->clock) >= 0));
    if (target) json_object_set_new(doc, "target", groupview_locate_json(v, target));
    return doc;
}
