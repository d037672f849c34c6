/*
 * test_zk_harness.c: the ZooKeeper starter itself — a standalone server and a
 * 3-server ensemble come up within the promised time, serve, survive a
 * restart on the same port and data, and elect a new leader when theirs dies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/zk.h"

static void test_standalone(void **state)
{
    (void)state;
    th_zk z;
    assert_int_equal(th_zk_start(&z), 0);
    printf("{\"zk_standalone_start_ms\":%lld}\n", (long long)z.start_ms);
    if (!th_slow()) assert_true(z.start_ms <= 5000);
    char mode[32], buf[64];
    assert_int_equal(th_zk_mode(&z, 0, mode, sizeof mode), 0);
    assert_string_equal(mode, "standalone");
    assert_int_equal(th_zk_4lw(&z, 0, "ruok", buf, sizeof buf), 0);
    assert_string_equal(buf, "imok");

    int port = z.client_port[0];
    assert_int_equal(th_zk_restart(&z), 0);
    assert_int_equal(z.client_port[0], port);
    assert_int_equal(th_zk_mode(&z, 0, mode, sizeof mode), 0);
    assert_string_equal(mode, "standalone");

    char dir[512];
    snprintf(dir, sizeof dir, "%s", z.dir[0]);
    th_zk_stop(&z);
    assert_false(th_alive(&z.proc[0]));
    assert_false(th_tcp_ready("127.0.0.1", port));
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0);
}

static void test_ensemble(void **state)
{
    (void)state;
    th_zk z;
    assert_int_equal(th_zk_start_ensemble(&z), 0);
    printf("{\"zk_ensemble_start_ms\":%lld}\n", (long long)z.start_ms);
    if (!th_slow()) assert_true(z.start_ms <= 10000);
    int leader = th_zk_leader(&z);
    assert_true(leader >= 0);
    int followers = 0;
    char mode[32];
    for (int i = 0; i < 3; i++)
        if (th_zk_mode(&z, i, mode, sizeof mode) == 0 && strcmp(mode, "follower") == 0) followers++;
    assert_int_equal(followers, 2);

    int64_t t0 = th_now_ms();
    th_zk_stop_server(&z, leader, SIGKILL);
    int next = -1;
    while (next < 0 && th_now_ms() - t0 < 10000)
        next = th_zk_leader(&z);
    assert_true(next >= 0 && next != leader);
    printf("{\"zk_ensemble_reelect_ms\":%lld}\n", (long long)(th_now_ms() - t0));
    assert_int_equal(th_zk_start_server(&z, leader), 0);
    assert_int_equal(th_zk_mode(&z, leader, mode, sizeof mode), 0);
    assert_string_equal(mode, "follower");
    th_zk_stop(&z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standalone),
        cmocka_unit_test(test_ensemble),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
