/*
 * test_cluster_faults.c: the cluster under faults, with real meterd
 * processes and a real ZooKeeper per case (label integration).
 *
 * One binary, five groups chosen by argv[1] so that ctest -j2 runs them in
 * parallel (each group is a ctest entry): "session" (a member frozen past
 * its session, under keep and under fence, ten members starting at once),
 * "leave" (a rolling restart: planned leaves are handovers; a leaver's
 * ZooKeeper connection cut while it hands over), "zk" (ZooKeeper stopped for
 * 20 s under on_loss = keep, then fence), "push" (the leader killed right
 * after a push, two concurrent pushes), "expiry" (ZooKeeper out until every
 * session expired, under fence), "skew" (one member's clock off: the bound
 * it puts on strays), "bugs" (regressions for two agent
 * bugs this test found: duplicates when members join while a table is
 * pending, gaps when a reload hands a source over; both fixed).
 *
 * What is measured is the shared file publisher's output: every due instant
 * of every target should carry exactly one poll (cf_samples_window). The
 * file has no member field, so who polls is read from the member nodes
 * (owned counts, digests) and the stored slot table.
 */
#include "cluster_fixture.h"
#include "tcp_relay.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SESSION_MS     2000 /* cluster_fixture's session_timeout_ms (the agents) */
#define OBS_SESSION_MS 4000 /* cluster_fixture's observer session */

static cluster_fx fx;

/* cf_start with an output file of the case's own: a failed case's agents
 * must not write into the next case's measurements */
static void start(const char *name)
{
    cf_start(&fx);
    char rel[128];
    snprintf(rel, sizeof rel, "out/%s.jsonl", name);
    th_path(fx.out_path, sizeof fx.out_path, rel);
}

/*
 * A converged group: ZooKeeper, the pipeline of `targets` probes pushed, n
 * agents (with extra [coordination] lines) all on it. Returns the revision.
 */
static int64_t group_up(const char *name, int n, int targets, const char *extra)
{
    start(name);
    char *body = cf_pipeline(&fx, targets);
    int64_t rev = cf_push(&fx, body);
    free(body);
    for (int i = 0; i < n; i++)
        cf_node_start(&fx, i, extra);
    assert_true(cf_wait_converged(&fx, n, rev, 40000 * th_slack()));
    return rev;
}

/* Runs after every case, passed or failed: no frozen or stray agents left. */
static int teardown(void **state)
{
    (void)state;
    if (!fx.obs) return 0; /* the case stopped its cluster itself */
    for (int i = 0; i < fx.n_nodes; i++)
        if (fx.nodes[i].proc.pid) th_signal(&fx.nodes[i].proc, SIGCONT);
    assert_int_equal(cf_stop(&fx), 0);
    return 0;
}

static void sleep_until(int64_t wall_ms)
{
    for (int64_t now = cf_wall_ms(); now < wall_ms; now = cf_wall_ms()) {
        int64_t d = wall_ms - now > 100 ? 100 : wall_ms - now;
        struct timespec ts = {0, d * 1000 * 1000};
        nanosleep(&ts, NULL); /* the output is what we measure: let it accumulate */
    }
}

/*
 * Every due instant in [from, to) polled exactly once (asserted), in every
 * build. The sanitizer builds used to let two strays through for the join
 * and leave strays issue 11 had left open (a table reaching a member after
 * its instant); with a new table superseding the pending one (group/clock.c)
 * and a leaver staying through a lost connection (agent/cluster_leave.c),
 * 10 ASan runs of every group showed none at a join or leave.
 */
static void assert_exactly_once(const char *what, int64_t from, int64_t to)
{
    cf_window w;
    cf_count_window(&fx, from, to, &w);
    printf("# %s: %lld due instants over %lld ms, %lld polls, %lld duplicates, %lld missed\n", what,
           (long long)w.due, (long long)(to - from), (long long)w.polls, (long long)w.duplicates,
           (long long)w.missed);
    assert_true(w.due >= (to - from) / 1000 * fx.n_targets);
    assert_int_equal(w.duplicates, 0);
    assert_int_equal(w.missed, 0);
}

typedef struct view_arg {
    int n;
} view_arg;

/* n members, one table, every target owned once. */
static bool view_ok(void *arg)
{
    view_arg *a = arg;
    cf_view v;
    cf_view_get(&fx, &v);
    return v.count == a->n && v.one_table && v.owned == fx.n_targets;
}

static int64_t member_session(const char *id)
{
    coord_members_t m = {0};
    int64_t s = 0;
    if (coord_members_get(fx.obs, &m) != 0) return 0;
    for (size_t i = 0; i < m.count; i++)
        if (!strcmp(m.members[i].id, id)) s = m.members[i].session;
    coord_members_free(&m);
    return s;
}

typedef struct rejoin_arg {
    const char *id;
    int64_t old_session;
} rejoin_arg;

static bool rejoined(void *arg)
{
    rejoin_arg *r = arg;
    int64_t s = member_session(r->id);
    /* in the stored table and reporting a share under it: right after the
     * rejoin the node still carries its old data (owned > 0 already) */
    return s && s != r->old_session && cf_owned(&fx, r->id) > 0 && cf_table_has(&fx, r->id) == 1 &&
           cf_converged(&fx, 4, 1);
}

/* ---- session group ---- */

/*
 * SIGSTOP one member for the session timeout + 1.5 s: while it is frozen
 * the others own its slots; after SIGCONT it learns its session expired,
 * rejoins under the same id with a new session, gets a share and polls it.
 */
static void frozen_member(const char *name, const char *extra)
{
    enum { N = 4, TARGETS = 40, VICTIM = 1 };
    int64_t rev = group_up(name, N, TARGETS, extra);
    const char *victim = "node-1.central";
    int64_t old_session = member_session(victim);
    assert_true(old_session != 0);
    assert_true(cf_owned(&fx, victim) > 0);

    int64_t t_stop = cf_wall_ms();
    assert_int_equal(th_signal(&fx.nodes[VICTIM].proc, SIGSTOP), 0);
    view_arg three = {N - 1};
    /* the survivors take over once the server expires the session (up to a
     * tick past it) and a table is planned and handed over; the bound on how
     * soon is kept to the normal build, the victim stays frozen until then */
    bool took_over = th_wait_until(view_ok, &three, (SESSION_MS + 10000) * th_slack());
    int64_t t_over = cf_wall_ms();
    if (!th_slow()) assert_true(t_over - t_stop <= SESSION_MS + 1400 + 600);
    /* frozen long enough to measure at least a second after the takeover */
    sleep_until(t_over + 2000 > t_stop + SESSION_MS + 1500 ? t_over + 2000
                                                           : t_stop + SESSION_MS + 1500);
    int64_t t_cont = cf_wall_ms();
    assert_int_equal(th_signal(&fx.nodes[VICTIM].proc, SIGCONT), 0);
    printf("# frozen member: survivors own every target %lld ms after SIGSTOP\n",
           (long long)(t_over - t_stop));
    assert_true(took_over);
    /* between the takeover and SIGCONT the frozen member polls nothing, so
     * every due instant there was served by a survivor, exactly once. A poll
     * counts for the due instant within half an interval of it, so the window
     * ends half an interval before SIGCONT. */
    assert_exactly_once("while frozen", t_over + 200, t_cont - 500);

    rejoin_arg r = {victim, old_session};
    assert_true(th_wait_until(rejoined, &r, 15000 * th_slack()));
    assert_true(cf_wait_converged(&fx, N, rev, 15000 * th_slack()));
    int64_t t_conv = cf_wall_ms();
    printf("# frozen member rejoined with a new session and %lld targets %lld ms after SIGCONT\n",
           (long long)cf_owned(&fx, victim), (long long)(t_conv - t_cont));
    assert_int_equal(cf_table_has(&fx, victim), 1);
    /* its share is polled again: the group still covers every instant once */
    int64_t from = t_conv + 1500;
    sleep_until(from + 4000 + 1500);
    assert_exactly_once("after the rejoin", from, from + 4000);
    /*
     * Around SIGCONT, under either policy: the member knows it did not run
     * for longer than its session (its loop beats), so it polls neither the
     * instants that fell during the freeze nor its old share, only what the
     * table read in its new session gives it. It used to poll under its old
     * table until it read the new one: 12-32 duplicates per freeze.
     */
    assert_exactly_once("around SIGCONT", t_cont - 500, from);
    assert_int_equal(cf_stop(&fx), 0);
}

static void test_frozen_member(void **state)
{
    (void)state;
    frozen_member("frozen", NULL);
}

static void test_frozen_member_fence(void **state)
{
    (void)state;
    frozen_member("frozenfence", "on_loss = fence\n");
}

/* Ten members started at the same instant agree on one table holding all. */
static void test_ten_at_once(void **state)
{
    (void)state;
    enum { N = 10, TARGETS = 50 };
    start("ten");
    char *body = cf_pipeline(&fx, TARGETS);
    int64_t rev = cf_push(&fx, body);
    free(body);
    for (int i = 0; i < N; i++)
        cf_node_start(&fx, i, NULL);
    int64_t t0 = cf_wall_ms();
    assert_true(cf_wait_converged(&fx, N, rev, 40000 * th_slack()));
    printf("# %d members started at once converged after %lld ms\n", N,
           (long long)(cf_wall_ms() - t0));
    char digest[65];
    int n_members = 0;
    assert_int_equal(cf_table_read(&fx, digest, NULL, NULL, &n_members), 0);
    assert_int_equal(n_members, N);
    coord_members_t m = {0};
    assert_int_equal(coord_members_get(fx.obs, &m), 0);
    assert_int_equal((int)m.count, N);
    int64_t owned = 0;
    for (size_t i = 0; i < m.count; i++) {
        assert_string_equal(m.members[i].info.assignment_digest, digest);
        assert_int_equal(cf_table_has(&fx, m.members[i].id), 1);
        owned += m.members[i].info.owned;
    }
    coord_members_free(&m);
    assert_int_equal(owned, TARGETS);
    int64_t from = cf_wall_ms() + 1000;
    sleep_until(from + 3000 + 1500);
    assert_exactly_once("ten members", from, from + 3000);
    assert_int_equal(cf_stop(&fx), 0);
}

/* ---- zk group ---- */

enum { ZK_N = 3, ZK_TARGETS = 30, OUTAGE_MS = 20000 };

static bool obs_connected(void *arg)
{
    (void)arg;
    coord_status_t st;
    coord_get_status(fx.obs, &st);
    return st.state == COORD_CONNECTED;
}

static void zk_outage(bool fence)
{
    int64_t rev =
        group_up(fence ? "fence" : "keep", ZK_N, ZK_TARGETS, fence ? "on_loss = fence\n" : NULL);
    char before[65];
    assert_int_equal(cf_table_read(&fx, before, NULL, NULL, NULL), 0);
    int64_t conv = cf_wall_ms();
    sleep_until(conv + 3500);
    assert_exactly_once("before the outage", conv + 1000, conv + 3000);

    int64_t t_down = cf_wall_ms();
    assert_int_equal(th_zk_stop_server(&fx.zk, 0, SIGKILL), 0);
    sleep_until(t_down + OUTAGE_MS);
    int64_t t_up = cf_wall_ms();
    assert_int_equal(th_zk_start_server(&fx.zk, 0), 0);
    printf("# ZooKeeper down %lld ms (on_loss = %s)\n", (long long)(t_up - t_down),
           fence ? "fence" : "keep");

    if (!fence) {
        assert_exactly_once("ZooKeeper down, keep", t_down + 500, t_up);
    } else {
        /* not at all once the session may have expired (the coordinator
         * assumes the worst: fenced from a third of the timeout after the
         * connection closed, see coord_session.c) */
        cf_window w;
        cf_count_window(&fx, t_down + SESSION_MS + 500, t_up, &w);
        printf("# fenced window: %lld polls over %lld due instants\n", (long long)w.polls,
               (long long)w.due);
        assert_true(w.due > 0);
        assert_int_equal(w.polls, 0);
    }

    /* ZooKeeper back: the group reconverges and covers every instant once.
     * The observer's view is the last known one while it is cut off; once
     * it is connected again and a session timeout has passed, the member
     * nodes it reads belong to live sessions (the server drops the
     * ephemerals of clients that did not come back in time). */
    /* the client reconnects within up to two thirds of its session after the
     * server serves again (4 s seen under load): waited for, not assumed */
    int64_t reconnect_deadline = (int64_t)(2 * OBS_SESSION_MS + 10000) * th_slack();
    assert_true(th_wait_until(obs_connected, NULL, (int)reconnect_deadline));
    sleep_until(cf_wall_ms() + SESSION_MS);
    view_arg all = {ZK_N};
    assert_true(th_wait_until(view_ok, &all, 30000 * th_slack()));
    assert_true(cf_wait_converged(&fx, ZK_N, rev, 30000 * th_slack()));
    int64_t t_conv = cf_wall_ms();
    printf("# reconverged %lld ms after ZooKeeper returned\n", (long long)(t_conv - t_up));
    char after[65];
    assert_int_equal(cf_table_read(&fx, after, NULL, NULL, NULL), 0);
    coord_members_t m = {0};
    assert_int_equal(coord_members_get(fx.obs, &m), 0);
    for (size_t i = 0; i < m.count; i++)
        assert_string_equal(m.members[i].info.assignment_digest, after);
    coord_members_free(&m);
    int64_t from = t_conv + 1500;
    sleep_until(from + 3000 + 1500);
    assert_exactly_once("after ZooKeeper returned", from, from + 3000);
    assert_int_equal(cf_stop(&fx), 0);
}

/* Points server 0's zoo.cfg (and the harness) at another client port. */
static void zk_move_port(int port)
{
    char path[700], text[4096];
    snprintf(path, sizeof path, "%s/zoo.cfg", fx.zk.dir[0]);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *at = strstr(text, "clientPort="), out[4200];
    assert_non_null(at);
    snprintf(out, sizeof out, "%.*sclientPort=%d%s", (int)(at - text), text, port,
             strchr(at, '\n'));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(out, f);
    fclose(f);
    fx.zk.client_port[0] = port;
}

/* The server holds no session with ephemeral nodes (they expired). */
static bool no_ephemerals(void *arg)
{
    (void)arg;
    char out[16384];
    return th_zk_4lw(&fx.zk, 0, "dump", out, sizeof out) == 0 &&
           strstr(out, "Sessions with Ephemerals (0)") != NULL;
}

typedef struct new_sessions_arg {
    int n;
    int64_t old[8];
} new_sessions_arg;

/* n members, none in a session from before. */
static bool all_new_sessions(void *arg)
{
    new_sessions_arg *a = arg;
    coord_members_t m = {0};
    if (coord_members_get(fx.obs, &m) != 0) return false;
    bool ok = (int)m.count == a->n;
    for (size_t i = 0; ok && i < m.count; i++)
        for (int k = 0; k < a->n; k++)
            ok &= m.members[i].session != a->old[k];
    coord_members_free(&m);
    return ok;
}

/*
 * ZooKeeper out long enough to expire every session (issue 11 item 4): it
 * comes back on a port no client knows until the sessions have expired
 * there, then on its own port again. Every member finds its session expired,
 * rejoins in a new one and, under fence, polls nothing it has not read in
 * that session: no duplicate from the outage to the reconverged group, and
 * exactly once after.
 */
static void test_zk_outage_expiry(void **state)
{
    (void)state;
    enum { N = 3, TARGETS = 30 };
    int64_t rev = group_up("expiry", N, TARGETS, "on_loss = fence\n");
    int64_t conv = cf_wall_ms();
    sleep_until(conv + 3500);
    assert_exactly_once("before the outage", conv + 1000, conv + 3000);
    new_sessions_arg old = {N, {0}};
    coord_members_t m = {0};
    assert_int_equal(coord_members_get(fx.obs, &m), 0);
    assert_int_equal((int)m.count, N);
    for (size_t i = 0; i < m.count; i++)
        old.old[i] = m.members[i].session;
    coord_members_free(&m);

    int port = fx.zk.client_port[0];
    int64_t t_down = cf_wall_ms();
    assert_int_equal(th_zk_stop_server(&fx.zk, 0, SIGKILL), 0);
    zk_move_port(th_free_port());
    assert_int_equal(th_zk_start_server(&fx.zk, 0), 0);
    assert_true(th_wait_until(no_ephemerals, NULL, (SESSION_MS + 15000) * th_slack()));
    int64_t t_expired = cf_wall_ms();
    assert_int_equal(th_zk_stop_server(&fx.zk, 0, SIGKILL), 0);
    zk_move_port(port);
    assert_int_equal(th_zk_start_server(&fx.zk, 0), 0);
    int64_t t_up = cf_wall_ms();
    printf("# ZooKeeper out of reach %lld ms; every session expired after %lld ms\n",
           (long long)(t_up - t_down), (long long)(t_expired - t_down));

    assert_true(th_wait_until(all_new_sessions, &old, 30000 * th_slack()));
    assert_true(cf_wait_converged(&fx, N, rev, 30000 * th_slack()));
    int64_t t_conv = cf_wall_ms();
    printf("# every member rejoined in a new session and reconverged %lld ms after ZooKeeper "
           "returned\n",
           (long long)(t_conv - t_up));
    int64_t from = t_conv + 1500;
    sleep_until(from + 3000 + 1500);
    assert_exactly_once("after the expiry", from, from + 3000);
    /* fence: from the outage to the end, gaps but never a duplicate */
    cf_window w;
    cf_count_window(&fx, t_down, from + 3000, &w);
    printf("# outage to end: %lld due, %lld polls, %lld duplicates, %lld missed\n",
           (long long)w.due, (long long)w.polls, (long long)w.duplicates, (long long)w.missed);
    assert_true(w.duplicates <= (th_slow() ? 2 : 0));
    assert_int_equal(cf_stop(&fx), 0);
}

static void test_zk_outage_keep(void **state)
{
    (void)state;
    zk_outage(false);
}

static void test_zk_outage_fence(void **state)
{
    (void)state;
    zk_outage(true);
}

/* ---- push group ---- */

/* The leader killed right after a push: every survivor still applies it. */
static void test_leader_killed_after_push(void **state)
{
    (void)state;
    enum { N = 4 };
    int64_t rev = group_up("leader", N, 30, NULL);
    assert_int_equal(rev, 1);
    coord_leader_t l;
    coord_leader_get(fx.obs, &l);
    assert_true(l.known);
    int leader = cf_node_index(l.member_id);
    assert_true(leader >= 0 && leader < N);

    char *body = cf_pipeline(&fx, 36);
    int64_t rev2 = cf_push(&fx, body);
    free(body);
    th_stop(&fx.nodes[leader].proc, SIGKILL, 1000);
    int64_t t_kill = cf_wall_ms();
    printf("# killed leader %s right after pushing revision %lld\n", l.member_id, (long long)rev2);
    assert_true(cf_wait_converged(&fx, N - 1, rev2, 15000 * th_slack()));
    printf("# the %d survivors applied it and share one table %lld ms later\n", N - 1,
           (long long)(cf_wall_ms() - t_kill));
    coord_leader_get(fx.obs, &l);
    assert_true(l.known && cf_node_index(l.member_id) != leader);
    int64_t from = cf_wall_ms() + 1000;
    sleep_until(from + 3000 + 1500);
    assert_exactly_once("after the leader's death", from, from + 3000);
    assert_int_equal(cf_stop(&fx), 0);
}

typedef struct push_arg {
    coord_t *c;
    pthread_barrier_t *go;
    int64_t expected;
    char *body;
    int rc;
    int64_t number;
} push_arg;

static void *pusher(void *arg)
{
    push_arg *p = arg;
    char sig[GROUP_SIGNATURE_MAX];
    if (group_revision_sign_ed25519(fx.signer, "central", p->expected + 1, p->body, strlen(p->body),
                                    sig) != 0)
        abort();
    pthread_barrier_wait(p->go);
    p->rc =
        coord_revision_push(p->c, p->expected, p->body, strlen(p->body), "race", sig, &p->number);
    return NULL;
}

/* Two pushes from the same expected revision: one wins, one conflicts. */
static void test_concurrent_pushes(void **state)
{
    (void)state;
    enum { N = 3 };
    int64_t rev = group_up("race", N, 20, NULL);

    coord_config_t cc = {
        .backend_url = fx.url, .group = "central", .session_timeout_ms = 4000, .auth = fx.auth};
    char err[300];
    coord_t *other = coord_open(&cc, err, sizeof err);
    assert_non_null(other);
    assert_int_equal(coord_wait_ready(other, 10000), 0);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    push_arg a[2] = {{fx.obs, &go, rev, cf_pipeline(&fx, 24), -1, 0},
                     {other, &go, rev, cf_pipeline(&fx, 28), -1, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, pusher, &a[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    coord_close(other);
    printf("# concurrent pushes: %s, %s\n", coord_strerror(a[0].rc), coord_strerror(a[1].rc));
    int win = a[0].rc == 0 ? 0 : 1;
    assert_int_equal(a[win].rc, 0);
    assert_int_equal(a[1 - win].rc, COORD_ECONFLICT);
    assert_int_equal(a[win].number, rev + 1);

    fx.n_targets = win ? 28 : 24;
    assert_true(cf_wait_converged(&fx, N, rev + 1, 15000 * th_slack()));
    coord_revision_t cur = {0};
    assert_int_equal(coord_revision_read(fx.obs, &cur), 0);
    assert_int_equal(cur.number, rev + 1);
    assert_int_equal(cur.body_len, strlen(a[win].body));
    assert_memory_equal(cur.body, a[win].body, cur.body_len);
    coord_members_t m = {0};
    assert_int_equal(coord_members_get(fx.obs, &m), 0);
    for (size_t i = 0; i < m.count; i++)
        assert_string_equal(m.members[i].info.applied_sha256, cur.sha256);
    coord_members_free(&m);
    coord_revision_free(&cur);
    free(a[0].body);
    free(a[1].body);
    int64_t from = cf_wall_ms() + 1000;
    sleep_until(from + 2000 + 1500);
    assert_exactly_once("the winner's targets", from, from + 2000);
    assert_int_equal(cf_stop(&fx), 0);
}

/* ---- regressions for agent bugs found here (fixed) ---- */

/*
 * FIXED (agent/cluster.c, cluster_owns + install_table): a member that joins
 * while the stored slot table is pending (written by the leader for another
 * join a moment earlier, effective_ms in the future) installs it as `next`
 * with `cur` NULL; for due instants before next_effective_ms cluster_owns
 * then finds no table in force and answers "owned" for EVERY slot. A burst
 * of joins therefore polls the whole target set once more per joiner at one
 * instant. Fix: once synced, a member with no table in force owns nothing
 * if a table exists at all (cur == NULL && next != NULL -> false), since it
 * was not part of any table in force before its pending one.
 */
static void test_join_burst_no_duplicates(void **state)
{
    (void)state;
    enum { N0 = 3, N = 10, TARGETS = 100 };
    int64_t rev = group_up("joinburst", N0, TARGETS, NULL);
    sleep_until(cf_wall_ms() + 1500);
    /* one join every 150 ms: each finds the table planned for the previous
     * one still pending (handover_ms = 1000) */
    int64_t t0 = cf_wall_ms();
    for (int i = N0; i < N; i++) {
        cf_node_start(&fx, i, NULL);
        sleep_until(cf_wall_ms() + 150);
    }
    assert_true(cf_wait_converged(&fx, N, rev, 30000 * th_slack()));
    int64_t t1 = cf_wall_ms() + 2000;
    sleep_until(t1 + 1500);
    assert_exactly_once("joins into a running group", t0 - 1000, t1);
    assert_int_equal(cf_stop(&fx), 0);
}

/*
 * FIXED (agent/scheduler.c, src_start, reached from src_finish when a changed
 * source hands over to its successor): the successor's tasks start at
 * next_due(now), strictly after the hand-over instant, so every due instant
 * between the old source's retirement (its timers stop at once) and the
 * successor's start is lost: a reload that changes a source (in cluster
 * mode: every revision that changes the target list, and every rebalance
 * follows) misses about gap_ms / interval_ms of its targets' polls. Fix:
 * start the successor's tasks from the retirement instant (next_due of the
 * retire time, or inherit due_wall_ms of the predecessor's task with the
 * same pollster and target), so an instant that passed during the drain is
 * polled late (within half an interval) rather than lost.
 */
static void test_reload_no_gaps(void **state)
{
    (void)state;
    enum { N = 3, TARGETS = 400, PUSHES = 12 };
    int64_t rev = group_up("reloadgap", N, TARGETS, NULL);
    sleep_until(cf_wall_ms() + 1500);
    int64_t t0 = cf_wall_ms();
    for (int k = 0; k < PUSHES; k++) {
        /* every other revision adds targets that are not counted */
        char *body = cf_pipeline(&fx, TARGETS + (k % 2 ? 0 : 5));
        fx.n_targets = TARGETS;
        rev = cf_push(&fx, body);
        free(body);
        sleep_until(cf_wall_ms() + 400);
    }
    assert_true(cf_wait_converged(&fx, N, rev, 20000 * th_slack()));
    int64_t t1 = cf_wall_ms() + 2000;
    sleep_until(t1 + 1500);
    assert_exactly_once("reloads that change the target list", t0 - 1000, t1);
    assert_int_equal(cf_stop(&fx), 0);
}

/* ---- leave group ---- */

/*
 * Rolling restart: each of N agents in turn gets SIGTERM, exits, starts
 * again and is converged on before the next. A planned leave is a planned
 * handover (the leaver announces it, keeps polling until the table without
 * it is in force, then goes), so every due instant of every target is
 * polled exactly once throughout, the leader's own restart included.
 * Before the fix the leaver stopped polling first and its slots became
 * orphans at once: 2-7 instants missed per round.
 */
typedef struct back_arg {
    const char *id;
    int64_t old_session;
    int n;
    int64_t rev;
} back_arg;

static bool left_table(void *id)
{
    return cf_table_has(&fx, id) == 0;
}

/* A member restarted with a new session, in the stored table, owning a
 * share, and the group converged on it. */
static bool back(void *arg)
{
    back_arg *b = arg;
    int64_t s = member_session(b->id);
    return s && s != b->old_session && cf_table_has(&fx, b->id) == 1 && cf_owned(&fx, b->id) > 0 &&
           cf_converged(&fx, b->n, b->rev);
}

static bool member_leaving(void *id)
{
    coord_members_t m = {0};
    bool yes = false;
    if (coord_members_get(fx.obs, &m) != 0) return false;
    for (size_t i = 0; i < m.count; i++)
        yes |= !strcmp(m.members[i].id, id) && !strcmp(m.members[i].info.state, "leaving");
    coord_members_free(&m);
    return yes;
}

static bool exited(void *proc)
{
    return !th_alive(proc);
}

/*
 * FIXED (agent/cluster_leave.c): a leaver whose ZooKeeper connection drops
 * while it hands over (a loaded machine: the client gives up on a connection
 * it has not heard from for 2/3 of the session, and reconnects within ms in
 * the same session) took the lost connection for the end of its session and
 * stopped at once, while the table without it was only due handover_ms
 * later: its targets went unpolled until then (test_cluster_prom beside two
 * CPU hogs: 210 reads showing none of them; here 18 instants missed, the
 * leaver gone 270 ms after SIGTERM). A leaver now goes only once its session
 * is gone or may be.
 * Its connection is cut by a relay the others do not use.
 */
static void test_leave_cut_off(void **state)
{
    (void)state;
    enum { N = 3, TARGETS = 60 };
    start("leavecut");
    char *body = cf_pipeline(&fx, TARGETS);
    int64_t rev = cf_push(&fx, body);
    free(body);
    tcp_relay *relay = tcp_relay_start(fx.zk.client_port[0]);
    assert_non_null(relay);
    snprintf(fx.nodes[0].url, sizeof fx.nodes[0].url, "zookeeper://127.0.0.1:%d/meterd",
             tcp_relay_port(relay));
    for (int i = 0; i < N; i++)
        cf_node_start(&fx, i, NULL);
    assert_true(cf_wait_converged(&fx, N, rev, 40000 * th_slack()));
    sleep_until(cf_wall_ms() + 1500);
    int64_t t0 = cf_wall_ms();
    assert_int_equal(th_signal(&fx.nodes[0].proc, SIGTERM), 0);
    assert_true(th_wait_until(member_leaving, "node-0.central", 10000 * th_slack()));
    int cut = tcp_relay_cut(relay);
    int64_t t_cut = cf_wall_ms();
    assert_true(cut >= 1);
    assert_true(th_wait_until(exited, &fx.nodes[0].proc, 20000 * th_slack()));
    int64_t t_exit = cf_wall_ms();
    assert_int_equal(th_stop(&fx.nodes[0].proc, 0, 1000), 0); /* exit 0 */
    printf("# node-0: SIGTERM to exit %lld ms, its %d connection(s) cut %lld ms after SIGTERM\n",
           (long long)(t_exit - t0), cut, (long long)(t_cut - t0));
    assert_true(th_wait_until(left_table, "node-0.central", 20000 * th_slack()));
    assert_true(cf_wait_converged(&fx, N - 1, rev, 20000 * th_slack()));
    int64_t t1 = cf_wall_ms() + 1000;
    sleep_until(t1 + 1500);
    assert_exactly_once("a leave cut off from ZooKeeper", t0 - 1000, t1);
    assert_int_equal(cf_stop(&fx), 0);
    tcp_relay_stop(relay);
}

/* ---- skew group: one member's clock off (issue 11) ---- */

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
enum { HANDOVER_MS = 1000 }; /* cluster_fixture's handover_ms */

/* Starts node i with its wall clock offset by `offset` seconds (libfaketime;
 * its monotonic clock stays true). */
static void node_start_skewed(int i, const char *offset)
{
    char *asan = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    char opts[2048];
    /* the preload comes before the sanitizer's runtime */
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "", asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    setenv("LD_PRELOAD", FAKETIME_LIB, 1);
    setenv("FAKETIME", offset, 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    cf_node_start(&fx, i, NULL);
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME");
    unsetenv("FAKETIME_DONT_FAKE_MONOTONIC");
    if (asan)
        setenv("ASAN_OPTIONS", asan, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(asan);
}

/* Targets member id owns under the stored table. */
static int owned_in_table(const char *id)
{
    bool mask[64] = {0};
    char digest[65];
    assert_int_equal(cf_table_read(&fx, digest, id, mask, NULL), 0);
    int n = 0;
    for (int k = 0; k < fx.n_targets; k++)
        n += mask[k];
    return n;
}

/*
 * Handover instants are wall-clock times: the leader writes "from E = its
 * now + handover_ms" and every member obeys the table from E by its own
 * clock. Samples carry each member's own time, and ownership is decided per
 * due instant in that time, so a skewed clock alone moves when a member
 * polls, not which instants it owns. What skew changes is whether the table
 * arrives before the member's clock reaches E: with the member ahead of the
 * leader by d and propagation p, a table lands d + p - handover_ms after its
 * instant when that is positive; a new owner then misses, and an old owner
 * duplicates, each moved target's instants in that span. Behind by d, tables
 * come early, but a leaving member's deadline (handover_ms and a margin, on
 * its true clock) can run out before its instant: it stops, and the moved
 * instants before E are missed. At most ceil((|d| + p - handover_ms) /
 * interval) strays per moved target per handover; with |d| + p below
 * handover_ms, none (docs/CLUSTER.md).
 */
static void skew_case(const char *name, const char *offset, int skew_ms)
{
    enum { TARGETS = 30, INTERVAL = 1000, P_MAX = 400 };
    if (th_wrapped()) th_skip_peer("libfaketime under a wrapper (valgrind)");
    if (access(FAKETIME_LIB, R_OK) != 0) th_skip_peer("libfaketime (Debian faketime) is missing");
    int64_t rev = group_up(name, 2, TARGETS, NULL);
    sleep_until(cf_wall_ms() + 2000); /* steady before the join */
    int64_t t_join = cf_wall_ms();
    node_start_skewed(2, offset); /* a join of the skewed member */
    assert_true(cf_wait_converged(&fx, 3, rev, 30000 * th_slack()));
    int moved_in = owned_in_table("node-2.central");
    int64_t t_conv = cf_wall_ms();
    sleep_until(t_conv + 2500);
    int64_t t_leave = cf_wall_ms();
    th_stop(&fx.nodes[2].proc, SIGTERM, 15000 * th_slack()); /* its planned leave */
    view_arg two = {2};
    assert_true(th_wait_until(view_ok, &two, 30000 * th_slack()));
    int64_t t_end = cf_wall_ms() + 2500;
    sleep_until(t_end + 1500);
    cf_window join, leave;
    cf_count_window(&fx, t_join - 1500, t_leave, &join);
    cf_count_window(&fx, t_leave, t_end, &leave);
    int d = abs(skew_ms), p = P_MAX * th_slack();
    int per_target = d + p > HANDOVER_MS ? (d + p - HANDOVER_MS + INTERVAL - 1) / INTERVAL : 0;
    printf("# clock %+d ms: join moved %d targets to it: %lld duplicates, %lld missed; its leave: "
           "%lld duplicates, %lld missed (bound %d per moved target)\n",
           skew_ms, moved_in, (long long)join.duplicates, (long long)join.missed,
           (long long)leave.duplicates, (long long)leave.missed, per_target);
    int slack = th_slow() ? 2 : 0; /* the slow builds' stray tables (assert_exactly_once) */
    assert_true(join.duplicates + join.missed <= (int64_t)moved_in * per_target + slack);
    assert_true(leave.duplicates + leave.missed <= (int64_t)moved_in * per_target + slack);
    assert_int_equal(cf_stop(&fx), 0);
}

static void test_skew_within(void **state)
{
    (void)state;
    skew_case("skew400", "+0.4", 400); /* ahead, within handover_ms */
}

static void test_skew_behind(void **state)
{
    (void)state;
    skew_case("skewm2500", "-2.5", -2500); /* behind: tables arrive early, nothing lost */
}

static void test_skew_beyond(void **state)
{
    (void)state;
    skew_case("skew2500", "+2.5", 2500); /* ahead past handover_ms: bounded strays */
}

static void test_rolling_restart(void **state)
{
    (void)state;
    enum { N = 5, TARGETS = 100 };
    int64_t rev = group_up("rolling", N, TARGETS, NULL);
    sleep_until(cf_wall_ms() + 1500);
    int64_t t0 = cf_wall_ms();
    for (int i = 0; i < N; i++) {
        char id[64];
        snprintf(id, sizeof id, "node-%d.central", i);
        back_arg b = {id, member_session(id), N, rev};
        assert_true(b.old_session != 0);
        int64_t t = cf_wall_ms();
        assert_int_equal(th_stop(&fx.nodes[i].proc, SIGTERM, 20000 * th_slack()), 0);
        int64_t t_exit = cf_wall_ms();
        /* a restart that takes a moment: the group has planned without it
         * (a quick one finds its slots still its own and changes nothing) */
        assert_true(th_wait_until(left_table, id, 20000 * th_slack()));
        sleep_until(cf_wall_ms() + 300);
        cf_node_start(&fx, i, NULL);
        assert_true(th_wait_until(back, &b, 30000 * th_slack()));
        printf("# node-%d: SIGTERM to exit %lld ms, back with a share %lld ms later\n", i,
               (long long)(t_exit - t), (long long)(cf_wall_ms() - t_exit));
    }
    int64_t t1 = cf_wall_ms() + 1000;
    sleep_until(t1 + 1500);
    assert_exactly_once("rolling restart", t0 - 1000, t1);
    assert_int_equal(cf_stop(&fx), 0);
}

int main(int argc, char **argv)
{
    const char *group = argc > 1 ? argv[1] : "";
    const struct CMUnitTest session[] = {
        cmocka_unit_test_teardown(test_frozen_member, teardown),
        cmocka_unit_test_teardown(test_frozen_member_fence, teardown),
        cmocka_unit_test_teardown(test_ten_at_once, teardown)};
    const struct CMUnitTest zk[] = {cmocka_unit_test_teardown(test_zk_outage_keep, teardown),
                                    cmocka_unit_test_teardown(test_zk_outage_fence, teardown)};
    const struct CMUnitTest push[] = {
        cmocka_unit_test_teardown(test_leader_killed_after_push, teardown),
        cmocka_unit_test_teardown(test_concurrent_pushes, teardown)};
    if (!strcmp(group, "session"))
        return cmocka_run_group_tests_name("session", session, NULL, NULL);
    if (!strcmp(group, "zk")) return cmocka_run_group_tests_name("zk", zk, NULL, NULL);
    const struct CMUnitTest bugs[] = {
        cmocka_unit_test_teardown(test_join_burst_no_duplicates, teardown),
        cmocka_unit_test_teardown(test_reload_no_gaps, teardown)};
    if (!strcmp(group, "bugs")) return cmocka_run_group_tests_name("bugs", bugs, NULL, NULL);
    const struct CMUnitTest leave[] = {cmocka_unit_test_teardown(test_rolling_restart, teardown),
                                       cmocka_unit_test_teardown(test_leave_cut_off, teardown)};
    if (!strcmp(group, "leave")) return cmocka_run_group_tests_name("leave", leave, NULL, NULL);
    if (!strcmp(group, "push")) return cmocka_run_group_tests_name("push", push, NULL, NULL);
    const struct CMUnitTest skew[] = {cmocka_unit_test_teardown(test_skew_within, teardown),
                                      cmocka_unit_test_teardown(test_skew_behind, teardown),
                                      cmocka_unit_test_teardown(test_skew_beyond, teardown)};
    if (!strcmp(group, "skew"))
        return th_tests_result(cmocka_run_group_tests_name("skew", skew, NULL, NULL));
    const struct CMUnitTest expiry[] = {cmocka_unit_test_teardown(test_zk_outage_expiry, teardown)};
    if (!strcmp(group, "expiry")) return cmocka_run_group_tests_name("expiry", expiry, NULL, NULL);
    fprintf(stderr, "usage: %s session|zk|push|bugs|leave|expiry|skew\n", argv[0]);
    return 2;
}
