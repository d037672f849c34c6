/* wait.c -- `push --wait`: watch the group until every live member has
 * applied or rejected revision N, or the timeout passes.
 *
 * The coordinator's members callback is the fast path: it runs on the
 * handle's event thread right after ZooKeeper told us a member node changed,
 * so the time we stamp there is when meterctl saw the change (latency from
 * the push's completion, as the operator experiences it). A copy of the last
 * snapshot (coord_members_get, no ZooKeeper round trip) is re-read every
 * WAIT_POLL_MS as a backstop, so a lost wake-up costs at most that much.
 *
 * Results follow cluster-contract.md: applied when applied_revision >= N
 * (a member may already run a newer one), rejected when state is "rejected"
 * and last_error starts with "revision N:", pending otherwise. A member that
 * leaves before settling is "left" and does not hold the wait up: "every
 * live member" is re-evaluated on each snapshot.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_POLL_MS 50

typedef enum { W_PENDING, W_APPLIED, W_REJECTED } wresult;

typedef struct wmember {
    char id[128];
    coord_member_info_t info;
    wresult result;
    int64_t seen_ms;      /* monotonic, when it settled */
    int64_t seen_wall_us; /* the same instant on the wall clock (its trace's) */
    bool live;
} wmember;

struct cli_wait {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool started;
    int64_t number, t0;
    int64_t t0_wall_us; /* t0 on the wall clock: the commit of a pub-sub copy */
    wmember *m;
    size_t n, cap;
};

cli_wait *cli_wait_new(void)
{
    cli_wait *w = calloc(1, sizeof *w);
    if (w == NULL) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    return w;
}

void cli_wait_free(cli_wait *w)
{
    if (w == NULL) return;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    free(w->m);
    free(w);
}

static wresult evaluate(const coord_member_info_t *in, int64_t number)
{
    if (in->applied_revision >= number) return W_APPLIED;
    char prefix[48];
    snprintf(prefix, sizeof prefix, "revision %lld:", (long long)number);
    if (strcmp(in->state, "rejected") == 0 && strncmp(in->last_error, prefix, strlen(prefix)) == 0)
        return W_REJECTED;
    return W_PENDING;
}

static wmember *find_or_add(cli_wait *w, const char *id)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->m[i].id, id) == 0) return &w->m[i];
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        wmember *nm = realloc(w->m, cap * sizeof *nm);
        if (nm == NULL) return NULL;
        w->m = nm;
        w->cap = cap;
    }
    wmember *m = &w->m[w->n++];
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    return m;
}

/* Under w->mu. */
static void observe(cli_wait *w, const coord_members_t *s, int64_t now)
{
    if (!w->started) return;
    for (size_t i = 0; i < w->n; i++)
        w->m[i].live = false;
    for (size_t i = 0; i < s->count; i++) {
        wmember *m = find_or_add(w, s->members[i].id);
        if (m == NULL) continue;
        m->live = true;
        if (m->result != W_PENDING) continue; /* settled: keep what it reported then */
        m->info = s->members[i].info;
        m->result = evaluate(&m->info, w->number);
        if (m->result != W_PENDING) {
            m->seen_ms = now;
            m->seen_wall_us = coord_trace_now_us();
        }
    }
    pthread_cond_broadcast(&w->cond);
}

void cli_wait_on_members(void *arg, const coord_members_t *m)
{
    cli_wait *w = arg;
    int64_t now = cli_now_ms();
    pthread_mutex_lock(&w->mu);
    observe(w, m, now);
    pthread_mutex_unlock(&w->mu);
}

static void poll_snapshot(cli_wait *w, coord_t *c)
{
    coord_members_t s = {0};
    if (coord_members_get(c, &s) != COORD_OK) return;
    int64_t now = cli_now_ms();
    pthread_mutex_lock(&w->mu);
    observe(w, &s, now);
    pthread_mutex_unlock(&w->mu);
    coord_members_free(&s);
}

/* Under w->mu. */
static bool settled(const cli_wait *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->m[i].live && w->m[i].result == W_PENDING) return false;
    return true;
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const wmember *)a)->id, ((const wmember *)b)->id);
}

static const char *result_name(const wmember *m)
{
    if (m->result == W_APPLIED) return "applied";
    if (m->result == W_REJECTED) return "rejected";
    return m->live ? "pending" : "left";
}

/* The error text after "revision N: ". */
static const char *reject_reason(const wmember *m)
{
    const char *colon = strchr(m->info.last_error, ':');
    if (colon == NULL) return m->info.last_error;
    colon++;
    while (*colon == ' ')
        colon++;
    return colon;
}

static void print_text(cli_wait *w, FILE *out)
{
    static const char *const head[] = {"MEMBER", "HOST",   "APPLIED",
                                       "SHA256", "RESULT", "LATENCY_MS"};
    cli_table t;
    cli_table_init(&t, 6, head);
    for (size_t i = 0; i < w->n; i++) {
        const wmember *m = &w->m[i];
        char applied[32], sha[16], result[600], lat[32];
        snprintf(applied, sizeof applied, "%lld", (long long)m->info.applied_revision);
        snprintf(sha, sizeof sha, "%.12s",
                 m->info.applied_sha256[0] ? m->info.applied_sha256 : "-");
        if (m->result == W_REJECTED)
            snprintf(result, sizeof result, "rejected: %s", reject_reason(m));
        else
            snprintf(result, sizeof result, "%s", result_name(m));
        if (m->result == W_PENDING)
            snprintf(lat, sizeof lat, "-");
        else
            snprintf(lat, sizeof lat, "%lld", (long long)(m->seen_ms - w->t0));
        const char *row[] = {m->id, m->info.host[0] ? m->info.host : "-", applied, sha, result,
                             lat};
        cli_table_add(&t, row);
    }
    cli_table_print(&t, out);
    cli_table_free(&t);
}

/*
 * The member that applied last and the longest stage of its trace
 * (docs/CLUSTER.md): where a slow push spent its time. NULL when none
 * applied; *stage -1 when its node carries no trace of this revision.
 */
static const wmember *slowest(const cli_wait *w, int *stage, double ms[COORD_STAGES])
{
    const wmember *s = NULL;
    for (size_t i = 0; i < w->n; i++)
        if (w->m[i].result == W_APPLIED && (!s || w->m[i].seen_ms > s->seen_ms)) s = &w->m[i];
    *stage = -1;
    if (!s || s->info.trace.revision != s->info.applied_revision) return s;
    coord_trace_stages(&s->info.trace, w->t0_wall_us, s->seen_wall_us, ms);
    *stage = coord_trace_slowest(ms);
    return s;
}

static void print_slowest(const cli_wait *w, FILE *out)
{
    int stage;
    double ms[COORD_STAGES];
    const wmember *s = slowest(w, &stage, ms);
    if (!s) return;
    fprintf(out, "slowest: %s, %lld ms", s->id, (long long)(s->seen_ms - w->t0));
    if (stage >= 0) {
        fprintf(out, "; its slowest stage: %s %.1f ms (", coord_stage_name(stage), ms[stage]);
        for (int i = 0; i < COORD_STAGES; i++)
            if (ms[i] >= 0) fprintf(out, "%s%s %.1f", i ? ", " : "", coord_stage_name(i), ms[i]);
        fprintf(out, ")");
    }
    fprintf(out, "\n");
}

static json_t *slowest_json(const cli_wait *w)
{
    int stage;
    double ms[COORD_STAGES];
    const wmember *s = slowest(w, &stage, ms);
    if (!s) return json_null();
    json_t *o =
        json_pack("{s:s, s:I}", "member", s->id, "latency_ms", (json_int_t)(s->seen_ms - w->t0));
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

static json_t *members_json(cli_wait *w)
{
    json_t *a = json_array();
    for (size_t i = 0; i < w->n; i++) {
        const wmember *m = &w->m[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:I, s:s, s:s, s:s?, s:o, s:b}", "id", m->id, "host",
                         m->info.host, "applied_revision", (json_int_t)m->info.applied_revision,
                         "applied_sha256", m->info.applied_sha256, "result", result_name(m),
                         "error", m->result == W_REJECTED ? m->info.last_error : NULL, "latency_ms",
                         m->result == W_PENDING ? json_null()
                                                : json_integer((json_int_t)(m->seen_ms - w->t0)),
                         "live", m->live));
    }
    return a;
}

int cli_wait_run(cli_wait *w, cli_cluster *k, int64_t number, int64_t t0, int timeout_ms,
                 json_t *doc)
{
    pthread_mutex_lock(&w->mu);
    w->number = number;
    w->t0 = t0;
    w->t0_wall_us = coord_trace_now_us() - (cli_now_ms() - t0) * 1000;
    w->started = true;
    pthread_mutex_unlock(&w->mu);
    poll_snapshot(w, k->c);

    int64_t deadline = t0 + timeout_ms;
    pthread_mutex_lock(&w->mu);
    while (!settled(w)) {
        int64_t now = cli_now_ms();
        if (now >= deadline) break;
        int64_t wake = now + WAIT_POLL_MS < deadline ? now + WAIT_POLL_MS : deadline;
        struct timespec ts = {.tv_sec = wake / 1000, .tv_nsec = (wake % 1000) * 1000000};
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
        pthread_mutex_unlock(&w->mu);
        poll_snapshot(w, k->c);
        pthread_mutex_lock(&w->mu);
    }
    bool done = settled(w);
    w->started = false; /* freeze the results while we print them */
    int64_t elapsed = cli_now_ms() - t0;
    pthread_mutex_unlock(&w->mu);

    qsort(w->m, w->n, sizeof *w->m, cmp_member);
    size_t applied = 0, rejected = 0, pending = 0, live = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->m[i].live) live++;
        if (w->m[i].result == W_APPLIED)
            applied++;
        else if (w->m[i].result == W_REJECTED)
            rejected++;
        else if (w->m[i].live)
            pending++;
    }
    int code = rejected ? CLI_FAILED : !done ? CLI_TIMEOUT : CLI_OK;
    const char *verdict = rejected ? "rejected"
                          : !done  ? "timeout"
                          : live   ? "applied"
                                   : "no_members";
    if (k->fmt == CLI_OUT_JSON) {
        json_object_set_new(
            doc, "wait",
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "result", verdict, "timeout_ms",
                      (json_int_t)timeout_ms, "elapsed_ms", (json_int_t)elapsed, "applied",
                      (json_int_t)applied, "rejected", (json_int_t)rejected, "pending",
                      (json_int_t)pending, "members", members_json(w), "slowest", slowest_json(w)));
        return code;
    }
    if (w->n > 0) print_text(w, k->out);
    print_slowest(w, k->out);
    if (live == 0 && w->n == 0)
        fprintf(k->out, "no live member in group %s to wait for\n", k->group);
    else
        fprintf(k->out, "%zu applied, %zu rejected, %zu pending after %lld ms%s\n", applied,
                rejected, pending, (long long)elapsed,
                done ? "" : " (timed out: --timeout to wait longer)");
    return code;
}
