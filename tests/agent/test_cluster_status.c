/*
 * test_cluster_status.c (integration, issue 11 item 4): `meterctl status`
 * is honest about a ZooKeeper outage. Three agents under on_loss = fence
 * poll 20 targets; ZooKeeper is killed for longer than the session timeout
 * (every agent fences itself: polls nothing) and started again on the same
 * port and data. meterctl status, run over and over from the moment
 * ZooKeeper serves again, must not exit 0 ("consistent") before every agent
 * polls again: judged from the samples, a "consistent" verdict at t means
 * every target is polled exactly once at each due instant from t on. Before
 * the fix status said consistent ~100 ms after ZooKeeper served while the
 * agents stayed fenced for up to 2.5 s more (member nodes outlive their
 * members' connections); status now asks ZooKeeper which sessions are
 * connected (`cons`) and reads the members' ready markers. Then a member
 * restarted: its new session shows not_ready until it has read the table.
 *
 * test_marker_before_reconnect: a member reconnected in its session keeps
 * its node, marker included, until it writes again; status counted that old
 * marker while the member was still fenced (re-reading the table 100-300 ms
 * after ZooKeeper's restart: this test's status run caught it about 1 in 20,
 * the member ready after "consistent" and due polls missed). A member that
 * never writes after reconnecting holds that moment still.
 */
#include "cluster_fixture.h"

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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODES     3
#define TARGETS   20
#define OUTAGE_MS 5000 /* > session_timeout_ms (2000): sessions may have expired */

static cluster_fx fx;

static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void sleep_until(int64_t wall_ms)
{
    while (cf_wall_ms() < wall_ms)
        nap(50); /* the samples are what we measure: let them accumulate */
}

/* Runs meterctl status (extra options appended); its exit code, output in out. */
static int status(const char *extra, char *out, size_t cap)
{
    char cmd[2048], path[600];
    th_path(path, sizeof path, "status.out");
    const char *wrap = getenv("METERD_TEST_WRAP");
    snprintf(cmd, sizeof cmd,
             "%s '%s' status --group central --zk '%s' --auth-file '%s' --connect-timeout 2 %s "
             ">'%s' 2>&1",
             wrap ? wrap : "", MeterctlPath, fx.url, fx.auth_path, extra, path);
    int st = system(cmd);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* When each agent answered /ready 200 again after ZooKeeper served (the
 * reconnect delay, docs/CLUSTER.md): a thread asks every 20 ms. An answer
 * is seen later than the agent became ready (the nap, the other agents'
 * requests, a loaded machine), so what contradicts a "consistent" verdict
 * is a request sent after it that was answered not ready (asked_not_ready). */
static int64_t ready_at[NODES], asked_not_ready[NODES];
static int64_t probe_from;

static void *probe_ready(void *arg)
{
    (void)arg;
    int left = NODES;
    int64_t until = probe_from + 60000 * th_slack();
    while (left && cf_wall_ms() < until) {
        for (int i = 0; i < NODES; i++) {
            if (ready_at[i]) continue;
            char resp[512];
            int64_t asked = cf_wall_ms();
            if (th_tcp_request("127.0.0.1", fx.nodes[i].api_port,
                               "GET /ready HTTP/1.0\r\nHost: x\r\n\r\n", resp, sizeof resp, 1000,
                               NULL) > 0 &&
                strstr(resp, " 200 ")) {
                ready_at[i] = cf_wall_ms();
                left--;
            } else {
                asked_not_ready[i] = asked;
            }
        }
        nap(20);
    }
    return NULL;
}

#define STALL_TEXT "this process did not run for "

/*
 * When the first stall an agent reported at or after from_ms began
 * (INT64_MAX: none). A loaded machine may not run an agent for a third of
 * its session timeout (667 ms here); under fence it then polls nothing until
 * it has read the table again (cluster_session.c): a new event after
 * status's verdict, not a lie in it.
 */
static int64_t first_stall_from(int64_t from_ms)
{
    int64_t first = INT64_MAX;
    for (int i = 0; i < NODES; i++) {
        FILE *f = fopen(fx.nodes[i].proc.log, "r");
        char line[2048];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, STALL_TEXT);
            int64_t at = p ? cf_parse_ts(line) : -1;
            int64_t start = at - strtoll(p ? p + strlen(STALL_TEXT) : "0", NULL, 10);
            if (at >= from_ms && start < first) first = start;
        }
        if (f) fclose(f);
    }
    return first;
}

static void assert_exactly_once(const char *what, int64_t from, int64_t to)
{
    /* a poll due up to half an interval before a stall may still wait for
     * its worker when it begins */
    int64_t stall = first_stall_from(from), cut = stall - 500;
    bool whole = cut >= to;
    if (!whole) {
        printf("# an agent stalled %lld ms after status said consistent: judged up to half an "
               "interval before\n",
               (long long)(stall - from));
        to = cut > from ? cut : from;
    }
    cf_window w;
    cf_count_window(&fx, from, to, &w);
    printf("# %s [+%lld ms]: %lld due, %lld polls, %lld duplicates, %lld missed\n", what,
           (long long)(to - from), (long long)w.due, (long long)w.polls, (long long)w.duplicates,
           (long long)w.missed);
    if (whole) assert_true(w.due >= TARGETS);
    if (w.duplicates || w.missed)
        fail_msg("%s: %lld duplicates, %lld missed after status said consistent", what,
                 (long long)w.duplicates, (long long)w.missed);
}

static void test_status_after_outage(void **state)
{
    (void)state;
    static char out[65536];
    cf_start(&fx);
    for (int i = 0; i < NODES; i++)
        cf_node_start(&fx, i, "on_loss = fence\n");
    char *body = cf_pipeline(&fx, TARGETS);
    int64_t rev = cf_push(&fx, body);
    free(body);
    assert_true(cf_wait_converged(&fx, NODES, rev, 30000 * th_slack()));
    int rc = status("", out, sizeof out);
    for (int tries = 0; rc != 0 && tries < 50 * th_slack(); tries++) { /* markers on their way */
        nap(100);
        rc = status("", out, sizeof out);
    }
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "consistent:"));

    int64_t t_down = cf_wall_ms();
    assert_int_equal(th_zk_stop_server(&fx.zk, 0, SIGKILL), 0);
    sleep_until(t_down + OUTAGE_MS);
    rc = status("", out, sizeof out);
    printf("# during the outage: status exit %d\n", rc);
    assert_int_equal(rc, 6); /* unreachable */
    assert_int_equal(th_zk_start_server(&fx.zk, 0), 0);
    int64_t t_up = cf_wall_ms();
    probe_from = t_up;
    pthread_t prober;
    assert_int_equal(pthread_create(&prober, NULL, probe_ready, NULL), 0);

    /* from the moment ZooKeeper serves: status until consistent (it sees who
     * is connected through `cons`, which the harness allows, and waits up to
     * one session timeout for members not ready) */
    int runs = 0, not_ready = 0;
    int64_t t_ok = 0, deadline = t_up + 60000 * th_slack();
    while (cf_wall_ms() < deadline) {
        rc = status("", out, sizeof out);
        runs++;
        not_ready += strstr(out, "not_ready") != NULL || strstr(out, "fenced") != NULL;
        if (rc == 0) {
            t_ok = cf_wall_ms();
            break;
        }
    }
    printf("# after ZooKeeper returned: %d status runs, %d naming a member not ready or "
           "fenced; consistent %lld ms after it served\n%s",
           runs, not_ready, (long long)(t_ok - t_up), out);
    assert_true(t_ok > 0);
    pthread_join(prober, NULL);
    int64_t stall = first_stall_from(t_ok);
    for (int i = 0; i < NODES; i++) {
        printf("# node-%d ready again %lld ms after ZooKeeper served", i,
               (long long)(ready_at[i] - t_up));
        if (asked_not_ready[i])
            printf(" (last asked not ready at %lld ms)", (long long)(asked_not_ready[i] - t_up));
        printf("\n");
        /* status said consistent: this member polled by then */
        assert_true(ready_at[i] > 0);
        if (asked_not_ready[i] >= t_ok && asked_not_ready[i] < stall)
            fail_msg("node-%d answered not ready to a request sent %lld ms after status said "
                     "consistent",
                     i, (long long)(asked_not_ready[i] - t_ok));
    }
    /* "consistent" means every member polls under the table in force */
    sleep_until(t_ok + 3000 + 1500);
    assert_exactly_once("after status said consistent", t_ok, t_ok + 3000);
    assert_int_equal(status("--settle session", out, sizeof out), 0);

    /* a member restarted: its new session has no marker until it read the table */
    th_stop(&fx.nodes[2].proc, SIGKILL, 5000);
    cf_node_start(&fx, 2, "on_loss = fence\n");
    int seen_not_ready = 0;
    int64_t until = cf_wall_ms() + 30000 * th_slack();
    while (cf_wall_ms() < until) {
        rc = status("-o json", out, sizeof out);
        seen_not_ready += strstr(out, "\"not_ready\"") != NULL;
        if (rc == 0 && strstr(out, "node-2.central")) break;
        nap(20);
    }
    printf("# restarted member: %d status runs named it not_ready before it was counted\n",
           seen_not_ready);
    assert_int_equal(rc, 0);
    assert_int_equal(cf_stop(&fx), 0);
}

/* A member of our own in this process: the coordinator writes its node when
 * told to (coord_member_update), and not on reconnecting. */
static coord_t *open_member(const char *id)
{
    coord_config_t cc = {.backend_url = fx.url,
                         .group = "central",
                         .member_id = id,
                         .candidate = true,
                         .session_timeout_ms = 4000, /* outlives the restart below */
                         .auth = fx.auth};
    char err[300];
    coord_t *c = coord_open(&cc, err, sizeof err);
    if (!c) fail_msg("%s: %s", id, err);
    assert_int_equal(coord_wait_ready(c, 10000 * th_slack()), 0);
    return c;
}

/* Writes a member node the way an agent that read the table would. */
static void mark_ready(coord_t *c)
{
    coord_status_t st;
    coord_get_status(c, &st);
    coord_member_info_t in = {.pid = getpid(), .session_timeout_ms = st.session_timeout_ms};
    snprintf(in.host, sizeof in.host, "fake");
    snprintf(in.namespaces, sizeof in.namespaces, "central");
    snprintf(in.state, sizeof in.state, "running");
    snprintf(in.ready, sizeof in.ready, "%llx:%lld", (unsigned long long)st.session_id,
             (long long)st.reconnects);
    assert_int_equal(coord_member_update(c, &in), 0);
}

/* Status until it exits want (or the deadline); its last exit code. */
static int status_until(int want, char *out, size_t cap)
{
    int rc = -1;
    int64_t until = cf_wall_ms() + 30000 * th_slack();
    while ((rc = status("", out, cap)) != want && cf_wall_ms() < until)
        nap(100);
    return rc;
}

static void test_marker_before_reconnect(void **state)
{
    (void)state;
    static char out[65536];
    cf_start(&fx);
    coord_t *m = open_member("fake.central");
    mark_ready(m);
    int rc = status_until(0, out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 0); /* its marker names its session, which is connected */
    coord_status_t before, after;
    coord_get_status(m, &before);

    /* ZooKeeper restarted: the member reconnects in the same session and its
     * node (written before) stays as it was */
    assert_int_equal(th_zk_stop_server(&fx.zk, 0, SIGKILL), 0);
    assert_int_equal(th_zk_start_server(&fx.zk, 0), 0);
    int64_t until = cf_wall_ms() + 30000 * th_slack();
    do {
        nap(20);
        coord_get_status(m, &after);
    } while (!(after.state == COORD_CONNECTED && after.reconnects > before.reconnects) &&
             cf_wall_ms() < until);
    assert_int_equal(after.state, COORD_CONNECTED);
    assert_true(after.session_id == before.session_id); /* not an expiry: a new sid shows */
    rc = status("", out, sizeof out);
    printf("# reconnected, node not written since: status exit %d\n%s", rc, out);
    assert_int_equal(rc, 5);
    assert_non_null(strstr(out, "fake.central: not_ready: its session"));
    assert_non_null(strstr(out, "has not written its node since"));

    /* written again in this connection: counted again */
    mark_ready(m);
    rc = status_until(0, out, sizeof out);
    printf("# written again: status exit %d\n", rc);
    assert_int_equal(rc, 0);
    coord_close(m);
    assert_int_equal(cf_stop(&fx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_status_after_outage),
                                       cmocka_unit_test(test_marker_before_reconnect)};
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
