/*
 * bench_cluster.c: the cluster as a whole, printed as one JSON object.
 *
 * Its own ZooKeeper and real meterd processes on loopback (the cluster test
 * fixture), 200 tcp:// targets polled every second into one shared file,
 * agents at log_level = warning, session timeout 2 s, handover 1000 ms,
 * pub-sub on (the agents' default) with signed revisions (the fixture's
 * trusted keys). Figures carry the load average (start, after the pushes)
 * and ZooKeeper's forceSync (yes: the fixture's zoo.cfg sets none).
 *
 *   push_apply_ms    3, 10 and 20 agents, BENCH_PUSHES (default 20) pushes
 *                    each: from coord_revision_push to every member
 *                    acknowledging it under acks/<N>, as meterctl push
 *                    --wait sees it (docs/CLUSTER.md "Aggregated acks";
 *                    BENCH_ACKS=0: reporting it in its member node, the
 *                    observer's snapshot read every 1 ms); p50 and p99
 *                    (nearest rank: of 20 pushes, p99 is the largest), and
 *                    the stages of stages.h from the members' traces, for
 *                    every member and for the slowest one. The pushes
 *                    alternate two target sets (200, and 200 plus 10
 *                    uncounted ones), so each one is a reload that moves
 *                    slots between live members. BENCH_PUSH_ONLY=1 stops
 *                    after them. With them the agents' CPU per push per
 *                    member (/proc; less what polling used at the rate of
 *                    the 2 s before the pushes).
 *   failover_ms      kill -9 of one member of 20 (the leader once) until the
 *                    survivors report one table owning every target.
 *   duplicate_polls, missed_polls per scenario, counted from the samples:
 *                    for each target and each of its due instants in the
 *                    scenario's windows, a missed one has no poll, a
 *                    duplicate is every poll beyond the first.
 *                    steady: 5 s with 3 agents; join: 3 -> 10 -> 20 agents
 *                    and every restart after a kill; reload: the pushes;
 *                    failover: the kills, with misses split between the
 *                    dead member's targets and the others; leave: a
 *                    rolling restart of 5 of the 20 agents, the leader
 *                    first (SIGTERM, restart once the group planned
 *                    without it); freeze_keep, freeze_fence: one member
 *                    SIGSTOPped for the session + 1.5 s, from SIGCONT until
 *                    it is back with a share (the fence one was restarted
 *                    with on_loss = fence before).
 *
 * Run: build/bench/cluster/bench_cluster
 */
#include "cluster_fixture.h"
#include "stages.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TARGETS    200
#define EXTRA      10 /* uncounted targets some revisions add */
#define PUSHES     20
#define KILLS      5
#define SESSION_MS 2000
#define MAX_WIN    64

typedef struct window {
    int64_t from, to;
    bool has_mask;
    bool mask[TARGETS];
} window;

typedef struct scenario {
    const char *name;
    window w[MAX_WIN];
    int n;
} scenario;

static cluster_fx fx;
static scenario steady = {.name = "steady"}, join = {.name = "join"}, reload = {.name = "reload"},
                failover = {.name = "failover"}, leave = {.name = "leave"},
                freeze_keep = {.name = "freeze_keep"}, freeze_fence = {.name = "freeze_fence"};
#define N_SCENARIOS 7

static void add_window(scenario *s, int64_t from, int64_t to, const bool *mask)
{
    if (s->n == MAX_WIN) return;
    window *w = &s->w[s->n++];
    w->from = from;
    w->to = to;
    w->has_mask = mask != NULL;
    if (mask) memcpy(w->mask, mask, sizeof w->mask);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void fail(const char *what)
{
    fprintf(stderr, "bench_cluster: %s\n", what);
    cf_stop(&fx);
    exit(1);
}

/* The pipeline, with EXTRA more targets (ports above TARGETS: not counted)
 * when `extra`, and a comment that makes every body distinct. */
static char *body_for(int push, bool extra)
{
    char *base = cf_pipeline(&fx, TARGETS + (extra ? EXTRA : 0));
    fx.n_targets = TARGETS;
    size_t cap = strlen(base) + 64;
    char *b = malloc(cap);
    snprintf(b, cap, "# bench push %d\n%s", push, base);
    free(base);
    return b;
}

/* Stamps each member the first time the observer's view shows it applied
 * rev (seen[] keyed by position in the sorted snapshot); true once all n did. */
static bool all_applied(int n, int64_t rev, st_seen *seen)
{
    coord_members_t m = {0};
    if (coord_members_get(fx.obs, &m) != 0) return false;
    bool ok = (int)m.count == n;
    int64_t now = coord_trace_now_us();
    for (size_t i = 0; i < m.count && (int)i < n; i++) {
        bool done = m.members[i].info.applied_revision >= rev;
        if (done && !seen[i].seen_us) {
            seen[i].seen_us = now;
            seen[i].info = m.members[i].info;
        }
        ok = ok && done;
    }
    coord_members_free(&m);
    return ok;
}

/* The members' traces, from their nodes as the observer has them (it
 * reads them anyway); true once all n show rev. */
static bool traces_in(int n, int64_t rev, st_seen *seen)
{
    coord_members_t m = {0};
    if (coord_members_get(fx.obs, &m) != 0) return false;
    bool ok = (int)m.count == n;
    for (size_t i = 0; ok && i < m.count; i++)
        ok = m.members[i].info.applied_revision >= rev;
    for (size_t i = 0; ok && i < m.count; i++)
        seen[i].info = m.members[i].info;
    coord_members_free(&m);
    return ok;
}

/* Follows rev's acks until all n members acknowledged it, stamping each
 * (seen[] keyed by position: the view is sorted by id, as snapshots are);
 * the instant the last was seen in *done_us. */
static void follow_acks(int n, int64_t rev, st_seen *seen, int64_t t0, int64_t *done_us)
{
    coord_acks_t *a = coord_acks_open(fx.obs, rev, 600000);
    if (!a) fail("out of memory");
    coord_acks_view_t v = {0};
    for (;;) {
        int64_t now = coord_trace_now_us();
        if (coord_acks_next(a, 1000, &v) == 0) {
            now = coord_trace_now_us();
            int acked = 0;
            for (size_t i = 0; i < v.count && (int)i < n; i++)
                if (v.members[i].ack == COORD_ACK_APPLIED) {
                    if (!seen[i].seen_us) seen[i].seen_us = now;
                    acked++;
                }
            if ((int)v.count == n && acked == n) break;
        }
        if (now - t0 > 30000000) fail("push not acknowledged within 30 s");
    }
    *done_us = coord_trace_now_us();
    coord_acks_view_free(&v);
    coord_acks_close(a);
    while (!traces_in(n, rev, seen)) {
        if (coord_trace_now_us() - t0 > 60000000) fail("traces not in within 60 s");
        sleep_ms(1);
    }
}

static double load_avg(void)
{
    double l[1] = {0};
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* nearest rank */
static int64_t pct(int64_t *v, int n, int p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    int k = (p * n + 99) / 100;
    return v[k < 1 ? 0 : k - 1];
}

static int64_t rev_now;
static int dead_targets; /* targets the killed members owned, summed over kills */

static void wait_converged(int n, const char *what)
{
    if (!cf_wait_converged(&fx, n, rev_now, 60000)) fail(what);
}

/* Grows the group to n agents at once; a join window around it. */
static void grow(int from_n, int to_n)
{
    int64_t t0 = cf_wall_ms();
    for (int i = from_n; i < to_n; i++)
        cf_node_start(&fx, i, NULL);
    wait_converged(to_n, "join did not converge");
    add_window(&join, t0 - 500, cf_wall_ms() + 2000, NULL);
    sleep_ms(2500);
}

static int pushes_per_size(void)
{
    const char *e = getenv("BENCH_PUSHES");
    int n = e ? atoi(e) : PUSHES;
    return n > 0 ? n : PUSHES;
}

/* CPU ms (user + system) used so far by agents 0..n-1 (/proc). */
static double agents_cpu_ms(int n)
{
    double ms = 0;
    for (int i = 0; i < n; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)fx.nodes[i].proc.pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')'); /* the fields after the command name */
        unsigned long long ut = 0, st = 0;
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            ms += (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
    }
    return ms;
}

static void pushes(int n, char *out, size_t cap)
{
    int count = pushes_per_size();
    bool acks = !getenv("BENCH_ACKS") || strcmp(getenv("BENCH_ACKS"), "0") != 0;
    st_stats st = {0};
    st_seen seen[CF_MAX_NODES];
    /* the agents' CPU per push: what they used over the pushes less what
     * polling alone used at the rate of the 2 s before */
    double idle0 = agents_cpu_ms(n);
    int64_t t_idle = cf_wall_ms();
    sleep_ms(2000);
    double cpu0 = agents_cpu_ms(n);
    double idle_rate = (cpu0 - idle0) / (double)(cf_wall_ms() - t_idle);
    int64_t t_first = cf_wall_ms();
    for (int k = 0; k < count; k++) {
        char *b = body_for(k, k % 2 == 0);
        memset(seen, 0, sizeof seen);
        int64_t t0 = coord_trace_now_us();
        rev_now = cf_push(&fx, b);
        int64_t t_commit = coord_trace_now_us();
        free(b);
        int64_t done = 0;
        if (acks) follow_acks(n, rev_now, seen, t0, &done);
        while (!acks && !all_applied(n, rev_now, seen)) {
            if (coord_trace_now_us() - t0 > 30000000) fail("push not applied within 30 s");
            sleep_ms(1);
        }
        if (!acks) done = coord_trace_now_us();
        st_add_push(&st, seen, n, t_commit, (double)(done - t0) / 1000.0);
        sleep_ms(250); /* let the handover of the previous move start */
    }
    double used = agents_cpu_ms(n) - cpu0 - idle_rate * (double)(cf_wall_ms() - t_first);
    wait_converged(n, "reload did not converge");
    add_window(&reload, t_first - 500, cf_wall_ms() + 2000, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        st_print(f, &st);
        fclose(f);
    }
    if (buf && len && buf[len - 1] == '}') /* the CPU figures join st_print's object */
        snprintf(out, cap,
                 "%.*s,\"agents_cpu_ms_per_push_per_member\":%.2f,"
                 "\"agents_idle_cpu_ms_per_s_per_member\":%.1f}",
                 (int)len - 1, buf, used / count / n, idle_rate * 1000.0 / n);
    else
        snprintf(out, cap, "%s", buf ? buf : "null");
    free(buf);
    st_free(&st);
    sleep_ms(2500);
}

static void failovers(int n, char *out, size_t cap)
{
    int64_t ms[KILLS];
    int leader_kills = 0;
    for (int k = 0; k < KILLS; k++) {
        coord_leader_t l;
        coord_leader_get(fx.obs, &l);
        int leader = cf_node_index(l.member_id);
        /* the leader once (the last kill), other members otherwise */
        int victim = k == KILLS - 1 && leader >= 0 ? leader : (3 + 4 * k) % n;
        if (victim == leader && k != KILLS - 1) victim = (victim + 1) % n;
        leader_kills += victim == leader;
        char id[64], before[65];
        snprintf(id, sizeof id, "node-%d.central", victim);
        static bool mask[TARGETS + EXTRA];
        fx.n_targets = TARGETS;
        if (cf_table_read(&fx, before, id, mask, NULL) != 0) fail("no stored table");
        for (int j = 0; j < TARGETS; j++)
            dead_targets += mask[j];
        int64_t t_kill = cf_wall_ms();
        th_stop(&fx.nodes[victim].proc, SIGKILL, 1000);
        for (;;) {
            cf_view v;
            cf_view_get(&fx, &v);
            if (v.count == n - 1 && v.one_table && v.owned == TARGETS) break;
            if (cf_wall_ms() - t_kill > 30000) fail("no failover within 30 s");
            sleep_ms(2);
        }
        int64_t t_over = cf_wall_ms();
        ms[k] = t_over - t_kill;
        add_window(&failover, t_kill - 500, t_over + 1500, mask);
        sleep_ms(2000);
        int64_t t_back = cf_wall_ms();
        cf_node_start(&fx, victim, NULL);
        wait_converged(n, "rejoin after a kill did not converge");
        add_window(&join, t_back - 500, cf_wall_ms() + 2000, NULL);
        sleep_ms(2500);
    }
    int64_t max = pct(ms, KILLS, 100);
    snprintf(out, cap, "{\"p50\":%lld,\"max\":%lld,\"n\":%d,\"leader_kills\":%d,\"agents\":%d}",
             (long long)pct(ms, KILLS, 50), (long long)max, KILLS, leader_kills, n);
}

static bool absent_from_table(void *id)
{
    return cf_table_has(&fx, id) == 0;
}

/* Rolling restart of n_leaves members of n, the leader first: each gets
 * SIGTERM (a planned leave), is restarted once the stored table no longer
 * holds it, and the group converges before the next. Returns the slowest
 * SIGTERM to exit. */
static int64_t rolling_restart(int n, int n_leaves)
{
    int64_t slowest = 0;
    for (int k = 0; k < n_leaves; k++) {
        coord_leader_t l;
        coord_leader_get(fx.obs, &l);
        int victim = k == 0 && cf_node_index(l.member_id) >= 0 ? cf_node_index(l.member_id)
                                                               : (2 + 3 * k) % n;
        char id[64];
        snprintf(id, sizeof id, "node-%d.central", victim);
        int64_t t0 = cf_wall_ms();
        th_stop(&fx.nodes[victim].proc, SIGTERM, 30000);
        int64_t t_exit = cf_wall_ms();
        if (t_exit - t0 > slowest) slowest = t_exit - t0;
        if (!th_wait_until(absent_from_table, id, 30000)) fail("leaver still in the table");
        cf_node_start(&fx, victim, NULL);
        wait_converged(n, "rolling restart did not converge");
        add_window(&leave, t0 - 500, cf_wall_ms() + 2000, NULL);
        sleep_ms(2500);
    }
    return slowest;
}

/* One member frozen past its session, then resumed: the window runs from
 * SIGCONT until it is back with a share, plus 2 s. */
static void freeze(int n, int victim, scenario *sc)
{
    th_signal(&fx.nodes[victim].proc, SIGSTOP);
    sleep_ms(SESSION_MS + 1500);
    int64_t t_cont = cf_wall_ms();
    th_signal(&fx.nodes[victim].proc, SIGCONT);
    wait_converged(n, "a frozen member did not come back");
    add_window(sc, t_cont - 500, cf_wall_ms() + 2000, NULL);
    sleep_ms(2500);
}

/* BENCH_VERBOSE=1: every window's figures on stderr, and each faulty
 * instant (target, due instant relative to the window's start, polls). */
static void explain(const cf_samples *s, const scenario *sc, int i)
{
    const window *w = &sc->w[i];
    cf_window x;
    cf_samples_window(s, w->from, w->to, NULL, &x);
    fprintf(stderr, "%s[%d]: %lld ms, %lld due, %lld dup, %lld missed\n", sc->name, i,
            (long long)(w->to - w->from), (long long)x.due, (long long)x.duplicates,
            (long long)x.missed);
    for (int k = 0; k < s->n_targets && (x.duplicates || x.missed); k++) {
        bool one[TARGETS] = {false};
        one[k] = true;
        cf_window y;
        cf_samples_window(s, w->from, w->to, one, &y);
        if (!y.duplicates && !y.missed) continue;
        fprintf(stderr, "  target %d (phase %lld): %lld dup, %lld missed; polls at", k + 1,
                (long long)s->phase[k], (long long)y.duplicates, (long long)y.missed);
        for (int j = 0; j < s->count[k]; j++)
            if (s->t[k][j] >= w->from - 500 && s->t[k][j] < w->to + 500)
                fprintf(stderr, " %lld", (long long)(s->t[k][j] - w->from));
        fprintf(stderr, "\n");
    }
}

/* Sums the scenario's windows; for failover, misses on the dead member's
 * targets and on the others apart. */
static void count(const cf_samples *s, const scenario *sc, cf_window *all, int64_t *missed_dead)
{
    memset(all, 0, sizeof *all);
    *missed_dead = 0;
    for (int i = 0; i < sc->n; i++) {
        const window *w = &sc->w[i];
        if (getenv("BENCH_VERBOSE")) explain(s, sc, i);
        cf_window x;
        cf_samples_window(s, w->from, w->to, NULL, &x);
        all->due += x.due;
        all->polls += x.polls;
        all->duplicates += x.duplicates;
        all->missed += x.missed;
        if (w->has_mask) {
            cf_samples_window(s, w->from, w->to, w->mask, &x);
            *missed_dead += x.missed;
        }
    }
}

int main(void)
{
    double load_start = load_avg();
    cf_start(&fx);
    fx.log_level = "warning";
    char *b = body_for(-1, false);
    rev_now = cf_push(&fx, b);
    free(b);
    static char p3[2048], p10[2048], p20[2048];
    char fo[160];

    /* the first members start with no table and own every slot (design):
     * not a join into a running group, so not measured */
    grow(0, 3);
    join.n = 0;
    int64_t t = cf_wall_ms() + 500;
    sleep_ms(6000);
    add_window(&steady, t, t + 5000, NULL);
    pushes(3, p3, sizeof p3);
    grow(3, 10);
    pushes(10, p10, sizeof p10);
    grow(10, 20);
    pushes(20, p20, sizeof p20);
    double load_after_pushes = load_avg();
    const char *acks_on =
        !getenv("BENCH_ACKS") || strcmp(getenv("BENCH_ACKS"), "0") != 0 ? "true" : "false";
    if (getenv("BENCH_PUSH_ONLY")) {
        cf_stop(&fx);
        printf("{\"acks\":%s,\"zk_force_sync\":\"yes\",\"load\":[%.2f,%.2f],"
               "\"push_apply_ms\":{\"3\":%s,\"10\":%s,\"20\":%s}}\n",
               acks_on, load_start, load_after_pushes, p3, p10, p20);
        return 0;
    }
    failovers(20, fo, sizeof fo);
    int64_t leave_ms = rolling_restart(20, 5);
    freeze(20, 7, &freeze_keep);
    cf_node_start(&fx, 8, "on_loss = fence\n");
    wait_converged(20, "restart with on_loss = fence did not converge");
    sleep_ms(2500);
    freeze(20, 8, &freeze_fence);
    sleep_ms(1500); /* the last window's samples reach the file */

    cf_samples s;
    fx.n_targets = TARGETS;
    cf_samples_load(&fx, 1000, &s);
    const scenario *sc[N_SCENARIOS] = {&steady, &join,        &reload,      &failover,
                                       &leave,  &freeze_keep, &freeze_fence};
    cf_window w[N_SCENARIOS];
    int64_t dead[N_SCENARIOS];
    for (int i = 0; i < N_SCENARIOS; i++)
        count(&s, sc[i], &w[i], &dead[i]);
    cf_samples_free(&s);
    cf_stop(&fx);

    printf("{\"acks\":%s,\"zk_force_sync\":\"yes\",\"load\":[%.2f,%.2f],"
           "\"session_timeout_ms\":%d,\"handover_ms\":1000,\"targets\":%d,\"interval_s\":1,"
           "\"push_apply_ms\":{\"3\":%s,\"10\":%s,\"20\":%s},\"failover_ms\":%s,"
           "\"leave_sigterm_to_exit_max_ms\":%lld,",
           acks_on, load_start, load_after_pushes, SESSION_MS, TARGETS, p3, p10, p20, fo,
           (long long)leave_ms);
    const char *keys[] = {"duplicate_polls", "missed_polls", "due_instants"};
    for (int k = 0; k < 3; k++) {
        printf("\"%s\":{", keys[k]);
        for (int i = 0; i < N_SCENARIOS; i++)
            printf("%s\"%s\":%lld", i ? "," : "", sc[i]->name,
                   (long long)(k == 0   ? w[i].duplicates
                               : k == 1 ? w[i].missed
                                        : w[i].due));
        if (k == 1)
            printf(",\"failover_dead_member_targets\":%lld,\"failover_other_targets\":%lld,"
                   "\"failover_targets_of_killed_members\":%d",
                   (long long)dead[3], (long long)(w[3].missed - dead[3]), dead_targets);
        printf("},");
    }
    printf("\"windows\":{\"steady\":%d,\"join\":%d,\"reload\":%d,\"failover\":%d,\"leave\":%d,"
           "\"freeze_keep\":%d,\"freeze_fence\":%d}}\n",
           steady.n, join.n, reload.n, failover.n, leave.n, freeze_keep.n, freeze_fence.n);
    return 0;
}
