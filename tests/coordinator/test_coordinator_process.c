/*
 * test_coordinator_process.c: members in other processes, against a real
 * ZooKeeper. kill -9: the member's node vanishes after the session timeout
 * (and not long before). SIGSTOP past the session timeout, then SIGCONT: the
 * member notices the expiry and rejoins with the same id and a new session,
 * without restarting. Leader killed with -9: a new leader within the session
 * timeout (failover time printed as JSON).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_test_util.h"

#define TIMEOUT_MS 2000

static void spawn_member(th_proc *p, const char *group, const char *id, bool candidate)
{
    char url[512], timeout[16], endpoint[64];
    turl(tzk(), url, sizeof url);
    snprintf(timeout, sizeof timeout, "%d", TIMEOUT_MS);
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:1%s", id + strlen(id) - 1);
    char *argv[] = {CoordHelperPath,       url,      (char *)group, (char *)id, timeout,
                    candidate ? "1" : "0", endpoint, NULL};
    assert_int_equal(th_spawn(p, id, argv, NULL, NULL), 0);
}

static bool log_has(th_proc *p, const char *text)
{
    FILE *f = fopen(p->log, "r");
    if (!f) return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

struct logwait {
    th_proc *p;
    const char *text;
};

static bool log_cond(void *arg)
{
    struct logwait *w = arg;
    return log_has(w->p, w->text);
}

static void test_kill9_node_vanishes(void **state)
{
    (void)state;
    tnode obs;
    assert_int_equal(tnode_open(&obs, tzk(), "p1", &(tnode_opts){0}), 0);
    th_proc p;
    spawn_member(&p, "p1", "k1", false);
    assert_true(tnode_wait_member(&obs, "k1", true, 10000));
    int64_t t0 = th_now_ms();
    th_signal(&p, SIGKILL);
    assert_true(tnode_wait_member(&obs, "k1", false, TIMEOUT_MS * 3));
    int64_t gone = th_now_ms() - t0;
    printf("{\"kill9_node_gone_ms\":%lld,\"session_timeout_ms\":%d}\n", (long long)gone,
           TIMEOUT_MS);
    /* the server, not a guess, removes it: never before ~the session timeout */
    assert_true(gone >= TIMEOUT_MS / 2);
    th_stop(&p, SIGKILL, 1000);
    tnode_close(&obs);
}

static void test_sigstop_expiry_rejoin(void **state)
{
    (void)state;
    tnode obs, d;
    assert_int_equal(tnode_open(&obs, tzk(), "p2", &(tnode_opts){0}), 0);
    assert_int_equal(tnode_open(&d, tzk(), "p2", &(tnode_opts){.member_id = "d1"}), 0);
    th_proc p;
    spawn_member(&p, "p2", "s1", true);
    assert_true(tnode_wait_member(&obs, "s1", true, 10000));
    struct logwait w = {&p, "member d1 starting"};
    assert_true(th_wait_until(log_cond, &w, 5000));
    int64_t first = tnode_member_session(&obs, "s1");
    th_signal(&p, SIGSTOP);
    assert_true(tnode_wait_member(&obs, "s1", false, TIMEOUT_MS * 3));
    int64_t t0 = th_now_ms();
    th_signal(&p, SIGCONT);
    assert_true(tnode_wait_member(&obs, "s1", true, 10000));
    int64_t rejoin = th_now_ms() - t0;
    int64_t second = tnode_member_session(&obs, "s1");
    assert_true(second != 0 && second != first); /* a new session, the same id */
    assert_true(th_alive(&p));                   /* no restart */
    assert_true(log_has(&p, "state expired"));
    /* it stands in the election again */
    assert_true(tnode_wait_leader(&obs, NULL, 5000));
    /* its watches were re-armed in the new session: it sees d1's next update */
    coord_member_info_t info = {.weight = 1};
    snprintf(info.state, sizeof info.state, "after-expiry");
    assert_int_equal(coord_member_update(d.c, &info), 0);
    w.text = "member d1 after-expiry";
    assert_true(th_wait_until(log_cond, &w, 5000));
    printf("{\"sigcont_to_rejoined_ms\":%lld}\n", (long long)rejoin);
    assert_int_equal(th_stop(&p, SIGTERM, 5000), 0);
    assert_true(log_has(&p, "closed"));
    tnode_close(&d);
    tnode_close(&obs);
}

static void test_leader_killed_failover(void **state)
{
    (void)state;
    tnode obs;
    assert_int_equal(tnode_open(&obs, tzk(), "p3", &(tnode_opts){0}), 0);
    enum { N = 3 };
    th_proc p[N];
    const char *ids[N] = {"c1", "c2", "c3"};
    for (int i = 0; i < N; i++) {
        spawn_member(&p[i], "p3", ids[i], true);
        assert_true(tnode_wait_member(&obs, ids[i], true, 10000));
    }
    double failover[N - 1];
    for (int round = 0; round < N - 1; round++) {
        assert_true(tnode_wait_leader(&obs, NULL, 5000));
        coord_leader_t l;
        tnode_leader(&obs, &l);
        /* candidates stood in order: the oldest surviving one leads */
        assert_string_equal(l.member_id, ids[round]);
        assert_string_equal(l.endpoint, round == 0 ? "tcp://127.0.0.1:11" : "tcp://127.0.0.1:12");
        int64_t t0 = th_now_ms();
        th_signal(&p[round], SIGKILL);
        assert_true(tnode_wait_leader(&obs, ids[round], TIMEOUT_MS * 3));
        failover[round] = (double)(th_now_ms() - t0);
        th_stop(&p[round], SIGKILL, 1000);
        char me[160];
        tnode_leader(&obs, &l);
        snprintf(me, sizeof me, "leader %s me", l.member_id);
        int idx = round + 1;
        struct logwait w = {&p[idx], me};
        assert_true(th_wait_until(log_cond, &w, 2000)); /* the new leader knows it leads */
    }
    printf("{\"leader_failover_ms\":[%.0f,%.0f],\"session_timeout_ms\":%d}\n", failover[0],
           failover[1], TIMEOUT_MS);
    for (int i = 0; i < N - 1; i++)
        assert_true(failover[i] <= TIMEOUT_MS + 1500); /* + one 500 ms tick + load */
    th_stop(&p[N - 1], SIGTERM, 5000);
    tnode_close(&obs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_node_vanishes),
        cmocka_unit_test(test_sigstop_expiry_rejoin),
        cmocka_unit_test(test_leader_killed_failover),
    };
    return cmocka_run_group_tests(tests, tzk_setup, tzk_teardown);
}
