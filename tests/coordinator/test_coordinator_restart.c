/*
 * test_coordinator_restart.c: ZooKeeper itself failing under live members.
 * A standalone server killed with -9 and restarted on the same port and data:
 * members report DISCONNECTED with a growing unconfirmed time while it is
 * down (the last view kept), then reconnect to the same session without
 * restarting (time printed as JSON). A 3-server ensemble losing its leader:
 * clients move to a surviving server and keep their sessions.
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

#define TIMEOUT_MS 6000 /* outlives a JVM restart on a busy machine */

static bool all_connected(tnode *n, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        coord_status_t st;
        coord_get_status(n[i].c, &st);
        if (st.state != COORD_CONNECTED) return false;
    }
    return true;
}

struct group {
    tnode *n;
    size_t count;
};

static bool group_connected(void *arg)
{
    struct group *g = arg;
    return all_connected(g->n, g->count);
}

static bool group_disconnected(void *arg)
{
    struct group *g = arg;
    for (size_t i = 0; i < g->count; i++) {
        coord_status_t st;
        coord_get_status(g->n[i].c, &st);
        if (st.state == COORD_CONNECTED) return false;
    }
    return true;
}

static void test_standalone_restart(void **state)
{
    (void)state;
    th_zk zk;
    assert_int_equal(th_zk_start(&zk), 0);
    enum { N = 3 };
    tnode n[N];
    const char *ids[N] = {"a", "b", "c"};
    for (int i = 0; i < N; i++) {
        assert_int_equal(
            tnode_open(
                &n[i], &zk, "z1",
                &(tnode_opts){.member_id = ids[i], .candidate = true, .timeout_ms = TIMEOUT_MS}),
            0);
        assert_int_equal(coord_wait_ready(n[i].c, 10000), 0);
    }
    for (int i = 0; i < N; i++)
        assert_true(tnode_wait_member(&n[0], ids[i], true, 5000));
    coord_status_t before[N];
    for (int i = 0; i < N; i++)
        coord_get_status(n[i].c, &before[i]);

    double reconnect[2], outage[2];
    for (int round = 0; round < 2; round++) {
        int64_t killed = th_now_ms();
        th_zk_stop_server(&zk, 0, SIGKILL);
        struct group g = {n, N};
        assert_true(th_wait_until(group_disconnected, &g, 5000));
        coord_status_t st;
        coord_get_status(n[1].c, &st);
        assert_int_equal(st.state, COORD_DISCONNECTED);
        assert_true(st.unconfirmed_ms > 0);
        assert_int_equal(tnode_member_count(&n[1]), N); /* the last view is kept */
        assert_int_equal(coord_revision_push(n[0].c, 0, "x", 1, "t", NULL, NULL), COORD_ENOCONN);
        assert_int_equal(th_zk_start_server(&zk, 0), 0);
        int64_t t0 = th_now_ms();
        assert_true(th_wait_until(group_connected, &g, TIMEOUT_MS));
        reconnect[round] = (double)(th_now_ms() - t0);
        outage[round] = (double)(th_now_ms() - killed);
    }
    /* reconnect: from the restarted server serving to every client connected;
     * outage: from kill -9 to every client connected (includes the JVM start) */
    printf("{\"reconnect_after_zk_serving_ms\":[%.0f,%.0f],\"outage_kill_to_reconnected_ms\":"
           "[%.0f,%.0f],\"zk_restart_serving_ms\":%lld}\n",
           reconnect[0], reconnect[1], outage[0], outage[1], (long long)zk.start_ms);
    for (int i = 0; i < N; i++) {
        coord_status_t st;
        coord_get_status(n[i].c, &st);
        assert_int_equal(st.session_id, before[i].session_id); /* same session */
        assert_int_equal(st.expiries, 0);
        assert_true(st.reconnects >= 2);
        assert_int_equal(st.unconfirmed_ms, 0);
    }
    /* and the group still works */
    int64_t num;
    assert_int_equal(coord_revision_push(n[0].c, 0, "x", 1, "t", NULL, &num), 0);
    for (int i = 0; i < N; i++)
        assert_true(tnode_wait_member(&n[(i + 1) % N], ids[i], true, 5000));
    coord_status_t st;
    coord_get_status(n[0].c, &st);
    assert_true(st.is_leader);
    for (int i = 0; i < N; i++)
        tnode_close(&n[i]);
    th_zk_stop(&zk);
}

static bool push_cond(void *arg)
{
    int64_t num;
    return coord_revision_push(arg, 0, "y", 1, "t", NULL, &num) == COORD_OK;
}

static void test_ensemble_leader_loss(void **state)
{
    (void)state;
    th_zk zk;
    assert_int_equal(th_zk_start_ensemble(&zk), 0);
    enum { N = 3 };
    tnode n[N];
    const char *ids[N] = {"e1", "e2", "e3"};
    for (int i = 0; i < N; i++) {
        assert_int_equal(
            tnode_open(&n[i], &zk, "z2",
                       &(tnode_opts){.member_id = ids[i], .candidate = true, .timeout_ms = 4000}),
            0);
        assert_int_equal(coord_wait_ready(n[i].c, 10000), 0);
    }
    coord_status_t before[N];
    for (int i = 0; i < N; i++)
        coord_get_status(n[i].c, &before[i]);
    int leader = th_zk_leader(&zk);
    assert_true(leader >= 0);
    int64_t t0 = th_now_ms();
    th_zk_stop_server(&zk, leader, SIGKILL);
    struct group g = {n, N};
    /* every client is back (same session), whichever server it was on */
    assert_true(th_wait_until(group_connected, &g, 8000));
    assert_true(th_wait_until(push_cond, n[0].c, 8000)); /* and writes commit again */
    int64_t push_ok = th_now_ms() - t0;
    printf("{\"ensemble_leader_killed_to_write_ok_ms\":%lld}\n", (long long)push_ok);
    for (int i = 0; i < N; i++) {
        coord_status_t st;
        coord_get_status(n[i].c, &st);
        assert_int_equal(st.session_id, before[i].session_id);
        assert_int_equal(st.expiries, 0);
        assert_true(tnode_wait_member(&n[0], ids[i], true, 5000));
    }
    for (int i = 0; i < N; i++)
        tnode_close(&n[i]);
    th_zk_stop(&zk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standalone_restart),
        cmocka_unit_test(test_ensemble_leader_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
