/*
 * test_cluster_ipmi.c (integration): an IPMI group (issue 16). Three agents
 * (namespace ipmi, real ZooKeeper) split 30 ipmi_sim BMCs: judged from the
 * samples alone, each BMC is read once per interval group-wide, by one
 * member; after kill -9 of one agent the survivors take its BMCs over, and
 * no BMC was read twice for one instant through the failover. Each agent has
 * an SDR cache folder of its own (docs/IPMI.md: two processes must not share
 * one). Skipped without ipmi_sim.
 *
 * A read that fails leaves no sample (unlike scrape.up), so a simulator
 * stalled past the 1 s timeout on a loaded machine shows as a missed
 * instant: at most 2 per window are tolerated, and printed.
 */
#include "cluster_fixture.h"
#include "harness/bmc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NODES    3
#define BMCS     30
#define KILLED   1
#define INTERVAL 2000
#define PASS     "grp-s3cret"

static cluster_fx fx;
static th_bmc bmc[BMCS];
static int read_by[BMCS]; /* reads of BMC k seen in the last window */

static void pause_until(int64_t wall_ms)
{
    while (cf_wall_ms() < wall_ms) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL); /* the output is what we measure: let it accumulate */
    }
}

/* One temperature sample per successful read, its resource
 * "127.0.0.1:PORT-cpu_temp_(0x1)": counted per due instant by the fixture. */
static void window(int64_t from_ms, int64_t to_ms, cf_window *w)
{
    static cluster_fx view;
    int ports[BMCS];
    for (int k = 0; k < BMCS; k++)
        ports[k] = bmc[k].port;
    assert_int_equal(cf_samples_by_port(&fx, "hardware.ipmi.temperature", "127.0.0.1:", ports, BMCS,
                                        NULL, &view),
                     0);
    cf_samples s;
    assert_int_equal(cf_samples_load(&view, INTERVAL, &s), 0);
    cf_samples_window(&s, from_ms, to_ms, NULL, w);
    for (int k = 0; k < BMCS; k++) {
        read_by[k] = 0;
        for (int j = 0; j < s.count[k]; j++)
            read_by[k] += s.t[k][j] >= from_ms && s.t[k][j] < to_ms;
    }
    cf_samples_free(&s);
    printf("# [%lld, %lld): %lld due instants, %lld reads, %lld duplicates, %lld missed\n",
           (long long)from_ms, (long long)to_ms, (long long)w->due, (long long)w->polls,
           (long long)w->duplicates, (long long)w->missed);
}

static void judge(int64_t from, int64_t to)
{
    cf_window w;
    window(from, to, &w);
    assert_true(w.due >= 3 * BMCS);
    assert_int_equal(w.duplicates, 0);
    assert_true(w.missed <= 2);
    for (int k = 0; k < BMCS; k++)
        if (read_by[k] == 0) fail_msg("BMC %d (port %d) was never read", k, bmc[k].port);
}

static void test_cluster_ipmi(void **state)
{
    (void)state;
    if (!th_bmc_available()) th_skip_peer("ipmi_sim not found on PATH (Debian openipmi)");
    char why[512];
    if (th_bmc_start_many(bmc, BMCS, "admin", PASS, why, sizeof why) != 0) fail_msg("%s", why);
    cf_start(&fx);
    char secrets[512], sdr[512], extra[2048];
    th_write_file("secrets", "bmc_pw = " PASS "\n", secrets, sizeof secrets);
    chmod(secrets, 0600);
    for (int i = 0; i < NODES; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "sdr-node-%d/x", i);
        th_path(sdr, sizeof sdr, rel);
        *strrchr(sdr, '/') = 0;
        /* the fixture's node is a central member: this one runs the ipmi
         * namespace in the group the fixture observes */
        snprintf(extra, sizeof extra,
                 "group_ipmi = central\n[DEFAULT]\nnamespaces = ipmi\nsecrets_file = %s\n"
                 "[ipmi]\nsdr_cache_dir = %s\n",
                 secrets, sdr);
        cf_node_start(&fx, i, extra);
    }
    size_t cap = 1024 + BMCS * 48, len;
    char *body = malloc(cap);
    len = (size_t)snprintf(body, cap,
                           "sources:\n  - name: bmcs\n    interval: %d\n"
                           "    meters: [hardware.ipmi.temperature]\n"
                           "    parameters: {username: admin, secret: bmc_pw, timeout: 1s}\n"
                           "    resources:\n",
                           INTERVAL / 1000);
    for (int k = 0; k < BMCS; k++)
        len +=
            (size_t)snprintf(body + len, cap - len, "      - ipmi://127.0.0.1:%d\n", bmc[k].port);
    snprintf(body + len, cap - len, "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             fx.out_path);
    int64_t rev = cf_push(&fx, body);
    free(body);
    fx.n_targets = BMCS;
    assert_true(cf_wait_converged(&fx, NODES, rev, 30000 * th_slack()));

    /* each BMC once per interval, group-wide, over 3 intervals */
    int64_t from = cf_wall_ms() + INTERVAL, to = from + 3 * INTERVAL;
    pause_until(to + INTERVAL);
    judge(from, to);

    /* kill -9 one agent: the survivors take its BMCs over */
    int64_t t_kill = cf_wall_ms();
    th_stop(&fx.nodes[KILLED].proc, SIGKILL, 1000);
    assert_true(cf_wait_converged(&fx, NODES - 1, rev, 15000 * th_slack()));
    int64_t t_over = cf_wall_ms();
    printf("# kill -9 of node-%d: the 2 survivors own all %d BMCs after %lld ms\n", KILLED, BMCS,
           (long long)(t_over - t_kill));
    int64_t from2 = t_over + INTERVAL, to2 = from2 + 3 * INTERVAL;
    pause_until(to2 + INTERVAL);
    judge(from2, to2);
    /* through the failover itself: gaps while the session expires, never
     * one instant read twice */
    cf_window w;
    window(from, to2, &w);
    assert_int_equal(w.duplicates, 0);

    assert_int_equal(cf_stop(&fx), 0);
    th_bmc_stop_many(bmc, BMCS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cluster_ipmi)};
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
