/* write.c -- what a push checks before writing and how its wait is judged,
 * for `meterctl push` and meterproxy's PUT alike.
 *
 * A body is checked with the agents' own parser and the registry's rules
 * (what validates runs, issue 10), so a revision the members would refuse is
 * never written, whoever writes it.
 *
 * The wait (`push --wait`, PUT ?wait=) follows cluster-contract.md: a member
 * has applied revision N when its applied_revision >= N (it may run a newer
 * one already), rejected it when its state is "rejected" and last_error
 * starts with "revision N:", and is pending otherwise. A member that leaves
 * before settling is "left" and does not hold the wait up: "every live
 * member" is re-evaluated on each snapshot.
 */
#include "groupview/groupview.h"
#include "registry/registry.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int groupview_check_revision(const char *body, size_t len, const char *label, pipeline **out,
                             pipeline_diags *d)
{
    registry_options ro;
    registry_pipeline_options(&ro, NULL, 0);
    pipeline *p = NULL;
    int rc = pipeline_parse(body, len, label, &ro.opt, &p, d);
    if (out)
        *out = p;
    else
        pipeline_free(p);
    return rc == 0 ? 0 : -1;
}

json_t *groupview_diags_json(const pipeline_diags *d)
{
    json_t *errs = json_array();
    for (size_t i = 0; i < d->count; i++) {
        const pipeline_diag *it = &d->items[i];
        if (it->severity != PIPELINE_ERROR) continue;
        json_array_append_new(errs,
                              json_pack("{s:s?, s:i, s:i, s:s?}", "file", it->file, "line",
                                        it->line, "column", it->column, "message", it->message));
    }
    return errs;
}

void groupview_wait_init(groupview_wait *w, int64_t number, int64_t t0_ms)
{
    memset(w, 0, sizeof *w);
    w->number = number;
    w->t0_ms = t0_ms;
    w->t0_wall_us = coord_trace_now_us();
}

void groupview_wait_free(groupview_wait *w)
{
    free(w->m);
    memset(w, 0, sizeof *w);
}

static groupview_wresult evaluate(const coord_member_info_t *in, int64_t number)
{
    if (in->applied_revision >= number) return GROUPVIEW_W_APPLIED;
    char prefix[48];
    snprintf(prefix, sizeof prefix, "revision %lld:", (long long)number);
    if (strcmp(in->state, "rejected") == 0 && strncmp(in->last_error, prefix, strlen(prefix)) == 0)
        return GROUPVIEW_W_REJECTED;
    return GROUPVIEW_W_PENDING;
}

static groupview_wmember *find_or_add(groupview_wait *w, const char *id)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->m[i].id, id) == 0) return &w->m[i];
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        groupview_wmember *nm = realloc(w->m, cap * sizeof *nm);
        if (nm == NULL) return NULL;
        w->m = nm;
        w->cap = cap;
    }
    groupview_wmember *m = &w->m[w->n++];
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    return m;
}

void groupview_wait_observe(groupview_wait *w, const coord_members_t *s, int64_t now_ms)
{
    for (size_t i = 0; i < w->n; i++)
        w->m[i].live = false;
    for (size_t i = 0; i < s->count; i++) {
        groupview_wmember *m = find_or_add(w, s->members[i].id);
        if (m == NULL) continue;
        m->live = true;
        if (m->result != GROUPVIEW_W_PENDING) continue; /* settled: keep what it reported then */
        m->info = s->members[i].info;
        m->result = evaluate(&m->info, w->number);
        if (m->result != GROUPVIEW_W_PENDING) {
            m->seen_ms = now_ms;
            m->seen_wall_us = coord_trace_now_us();
        }
    }
}

/* What a member's ack child or node says, as the member node would. */
static coord_member_info_t ack_info(const coord_ack_t *e, int64_t number, const char *sha)
{
    coord_member_info_t in = {0};
    if (e->has_info) in = e->info;
    if (e->ack == COORD_ACK_APPLIED && in.applied_revision < number) {
        in.applied_revision = number;
        snprintf(in.applied_sha256, sizeof in.applied_sha256, "%s", sha ? sha : "");
        snprintf(in.state, sizeof in.state, "running");
    } else if (e->ack == COORD_ACK_REJECTED && !e->has_info) {
        snprintf(in.state, sizeof in.state, "rejected");
        snprintf(in.last_error, sizeof in.last_error,
                 "revision %lld: (its ack could not be read: meterctl members shows why)",
                 (long long)number);
    }
    return in;
}

void groupview_wait_observe_acks(groupview_wait *w, const coord_acks_view_t *v, const char *sha,
                                 int64_t now_ms)
{
    coord_members_t s = {.count = 0,
                         .members = calloc(v->count ? v->count : 1, sizeof(coord_member_t))};
    if (!s.members) return;
    for (size_t i = 0; i < v->count; i++) {
        coord_member_t *m = &s.members[s.count++];
        snprintf(m->id, sizeof m->id, "%s", v->members[i].id);
        m->info = ack_info(&v->members[i], w->number, sha);
    }
    groupview_wait_observe(w, &s, now_ms);
    free(s.members);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const groupview_wmember *slowest(const groupview_wait *w, int *stage,
                                        double ms[COORD_STAGES]);

int groupview_wait_acks(groupview_wait *w, coord_t *c, const char *sha, int64_t deadline_ms,
                        int fallback_ms)
{
    /* a wait shorter than the delay still reads the silent ones, at its end */
    int64_t left0 = deadline_ms - mono_ms();
    if (left0 < fallback_ms) fallback_ms = left0 > 0 ? (int)left0 : 0;
    coord_acks_t *a = coord_acks_open(c, w->number, fallback_ms);
    if (!a) return -1;
    coord_acks_view_t v = {0};
    bool settled = false;
    for (;;) {
        int64_t left = deadline_ms - mono_ms();
        int rc = coord_acks_next(a, left > 0 ? (int)left : 0, &v);
        if (rc == COORD_OK) {
            groupview_wait_observe_acks(w, &v, sha, mono_ms());
            /* no live member at all is settled too, once listed */
            if ((settled = groupview_wait_settled(w))) break;
        }
        if (mono_ms() >= deadline_ms) break;
    }
    coord_acks_view_free(&v);
    coord_acks_close(a);
    /* the slowest member's trace: its ack child, one read */
    int stage;
    double ms[COORD_STAGES];
    groupview_wmember *s = (groupview_wmember *)slowest(w, &stage, ms);
    coord_member_info_t info;
    if (s && stage < 0 && coord_acks_read(c, w->number, s->id, false, &info) == COORD_OK)
        s->info = info;
    return settled ? 0 : 1;
}

bool groupview_wait_settled(const groupview_wait *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->m[i].live && w->m[i].result == GROUPVIEW_W_PENDING) return false;
    return true;
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const groupview_wmember *)a)->id, ((const groupview_wmember *)b)->id);
}

const char *groupview_wait_result(const groupview_wmember *m)
{
    if (m->result == GROUPVIEW_W_APPLIED) return "applied";
    if (m->result == GROUPVIEW_W_REJECTED) return "rejected";
    return m->live ? "pending" : "left";
}

void groupview_wait_tally(groupview_wait *w, groupview_wait_counts *c)
{
    qsort(w->m, w->n, sizeof *w->m, cmp_member);
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < w->n; i++) {
        if (w->m[i].live) c->live++;
        if (w->m[i].result == GROUPVIEW_W_APPLIED)
            c->applied++;
        else if (w->m[i].result == GROUPVIEW_W_REJECTED)
            c->rejected++;
        else if (w->m[i].live)
            c->pending++;
    }
    bool done = groupview_wait_settled(w);
    c->verdict = c->rejected ? "rejected" : !done ? "timeout" : c->live ? "applied" : "no_members";
}

/* The member that applied last and the longest stage of its trace. NULL
 * when none applied; *stage -1 when its node carries no trace of this
 * revision. */
static const groupview_wmember *slowest(const groupview_wait *w, int *stage,
                                        double ms[COORD_STAGES])
{
    const groupview_wmember *s = NULL;
    for (size_t i = 0; i < w->n; i++)
        if (w->m[i].result == GROUPVIEW_W_APPLIED && (!s || w->m[i].seen_ms > s->seen_ms))
            s = &w->m[i];
    *stage = -1;
    if (!s || s->info.trace.revision != s->info.applied_revision) return s;
    coord_trace_stages(&s->info.trace, w->t0_wall_us, s->seen_wall_us, ms);
    *stage = coord_trace_slowest(ms);
    return s;
}

void groupview_wait_print_slowest(const groupview_wait *w, FILE *out)
{
    int stage;
    double ms[COORD_STAGES];
    const groupview_wmember *s = slowest(w, &stage, ms);
    if (!s) return;
    fprintf(out, "slowest: %s, %lld ms", s->id, (long long)(s->seen_ms - w->t0_ms));
    if (stage >= 0) {
        fprintf(out, "; its slowest stage: %s %.1f ms (", coord_stage_name(stage), ms[stage]);
        for (int i = 0; i < COORD_STAGES; i++)
            if (ms[i] >= 0) fprintf(out, "%s%s %.1f", i ? ", " : "", coord_stage_name(i), ms[i]);
        fprintf(out, ")");
    }
    fprintf(out, "\n");
}

static json_t *slowest_json(const groupview_wait *w)
{
    int stage;
    double ms[COORD_STAGES];
    const groupview_wmember *s = slowest(w, &stage, ms);
    if (!s) return json_null();
    json_t *o =
        json_pack("{s:s, s:I}", "member", s->id, "latency_ms", (json_int_t)(s->seen_ms - w->t0_ms));
    if (o && stage >= 0) {
        json_t *st = json_object();
        for (int i = 0; i < COORD_STAGES; i++)
            if (ms[i] >= 0) json_object_set_new(st, coord_stage_name(i), json_real(ms[i]));
        json_object_set_new(o, "stage", json_string(coord_stage_name(stage)));
        json_object_set_new(o, "stage_ms", json_real(ms[stage]));
        json_object_set_new(o, "stages_ms", st);
    }
    return o ? o : json_null();
}

json_t *groupview_wait_json(groupview_wait *w, int timeout_ms, int64_t elapsed_ms)
{
    groupview_wait_counts c;
    groupview_wait_tally(w, &c);
    json_t *a = json_array();
    for (size_t i = 0; i < w->n; i++) {
        const groupview_wmember *m = &w->m[i];
        json_array_append_new(
            a, json_pack(
                   "{s:s, s:s, s:I, s:s, s:s, s:s?, s:o, s:b}", "id", m->id, "host", m->info.host,
                   "applied_revision", (json_int_t)m->info.applied_revision, "applied_sha256",
                   m->info.applied_sha256, "result", groupview_wait_result(m), "error",
                   m->result == GROUPVIEW_W_REJECTED ? m->info.last_error : NULL, "latency_ms",
                   m->result == GROUPVIEW_W_PENDING
                       ? json_null()
                       : json_integer((json_int_t)(m->seen_ms - w->t0_ms)),
                   "live", m->live));
    }
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "result", c.verdict, "timeout_ms",
                     (json_int_t)timeout_ms, "elapsed_ms", (json_int_t)elapsed_ms, "applied",
                     (json_int_t)c.applied, "rejected", (json_int_t)c.rejected, "pending",
                     (json_int_t)c.pending, "members", a, "slowest", slowest_json(w));
}
