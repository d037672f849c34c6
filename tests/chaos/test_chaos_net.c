/*
 * test_chaos_net.c: one agent cut off from ZooKeeper and the group by the
 * network, twice: its link down (connections fail at once), then an
 * nftables rule dropping everything silently (connections time out).
 *
 * Two network namespaces of the test's own (unique names, always deleted):
 * "core" holds ZooKeeper, the observer and the other agents (the test's
 * main thread enters it, so whatever it starts is there), "victim" one
 * agent, joined to core by a veth pair on 10.213.0.0/24. ZooKeeper listens
 * on every address of core, the agents reach it at 10.213.0.1. Skipped when
 * namespaces cannot be made (not root, no ip, no nft).
 */
#include "chaos_scenarios.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define R (&chaos_the_run)

static char ns_core[32], ns_victim[32];
static int root_fd = -1;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "# chaos partition: `%s` failed (%d)\n", cmd, rc);
    return rc;
}

/* Processes inside die first (ip netns del does not kill them). */
static void netns_cleanup(void)
{
    th_stop_all();
    if (root_fd >= 0) setns(root_fd, CLONE_NEWNET);
    if (ns_core[0]) sh("ip netns del %s 2>/dev/null", ns_core);
    if (ns_victim[0]) sh("ip netns del %s 2>/dev/null", ns_victim);
    ns_core[0] = ns_victim[0] = 0;
}

static int enter(const char *ns)
{
    char path[64];
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

/* 0, or 1 with why when namespaces cannot be made here. */
static int netns_up(char *why, size_t cap)
{
    if (geteuid() != 0) return snprintf(why, cap, "network namespaces need root"), 1;
    if (system("command -v ip >/dev/null && command -v nft >/dev/null") != 0)
        return snprintf(why, cap, "ip or nft missing (iproute2, nftables: deploy/deps.sh)"), 1;
    root_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    snprintf(ns_core, sizeof ns_core, "mchaos%dc", (int)getpid());
    snprintf(ns_victim, sizeof ns_victim, "mchaos%dv", (int)getpid());
    atexit(netns_cleanup);
    if (sh("ip netns add %s", ns_core) != 0 || sh("ip netns add %s", ns_victim) != 0) {
        netns_cleanup();
        return snprintf(why, cap, "ip netns add failed (no CAP_SYS_ADMIN?)"), 1;
    }
    if (sh("ip -n %s link set lo up", ns_core) || sh("ip -n %s link set lo up", ns_victim) ||
        sh("ip -n %s link add vc type veth peer name vv netns %s", ns_core, ns_victim) ||
        sh("ip -n %s addr add 10.213.0.1/24 dev vc", ns_core) ||
        sh("ip -n %s addr add 10.213.0.2/24 dev vv", ns_victim) ||
        sh("ip -n %s link set vc up", ns_core) || sh("ip -n %s link set vv up", ns_victim) ||
        enter(ns_core) != 0) {
        netns_cleanup();
        return snprintf(why, cap, "veth between namespaces failed"), 1;
    }
    return 0;
}

/* ZooKeeper started by the fixture on 127.0.0.1 (in core) restarted on
 * every address of core, so the victim reaches it through the veth. */
static void zk_on_all_addresses(void)
{
    th_zk *z = &R->fx.zk;
    assert_int_equal(th_zk_stop_server(z, 0, SIGTERM), 0);
    assert_int_equal(
        sh("sed -i 's/^clientPortAddress=.*/clientPortAddress=0.0.0.0/' %s/zoo.cfg", z->dir[0]), 0);
    assert_int_equal(th_zk_start_server(z, 0), 0);
    snprintf(R->fx.url, sizeof R->fx.url, "zookeeper://10.213.0.1:%d/meterd", z->client_port[0]);
}

/* The victim cut off for the session timeout + 3 s by `cut`, healed by
 * `heal`, its share's misses excused for the detection window, then the
 * whole group converged again. */
static void cut_off(int v, int n, int64_t rev, const char *what, const char *cut, const char *heal)
{
    bool *mask = chaos_owned_mask(R, v);
    int64_t t = cf_wall_ms();
    assert_int_equal(sh("ip netns exec %s sh -c '%s'", ns_victim, cut), 0);
    int64_t over = chaos_hold_cut_off(R, mask, t, n);
    int64_t t_heal = cf_wall_ms();
    assert_int_equal(sh("ip netns exec %s sh -c '%s'", ns_victim, heal), 0);
    assert_true(over >= 0);
    chaos_converge(n, rev);
    printf("# %s: node-%d cut off %lld ms; the others owned its share after %lld ms; whole "
           "again %lld ms after healing\n",
           what, v, (long long)(t_heal - t), (long long)over, (long long)(cf_wall_ms() - t_heal));
    chaos_sleep_until(cf_wall_ms() + 2000);
}

void chaos_test_partition(void **state)
{
    (void)state;
    enum { N = 5, TARGETS = 50 };
    const char *fence = "on_loss = fence\n";
    char why[256];
    if (netns_up(why, sizeof why) != 0) th_skip_peer(why);
    chaos_seed(R, "partition");
    cf_start(&R->fx);
    zk_on_all_addresses();
    chaos_set_output(R);
    char *body = cf_pipeline(&R->fx, TARGETS);
    int64_t rev = cf_push(&R->fx, body);
    free(body);
    int v = chaos_rand(R, N);
    for (int i = 0; i < N; i++) {
        if (i == v) assert_int_equal(enter(ns_victim), 0); /* its child is born there */
        cf_node_start(&R->fx, i, fence);
        if (i == v) assert_int_equal(enter(ns_core), 0);
    }
    chaos_converge(N, rev);
    int64_t t0 = cf_wall_ms() + 1000;
    chaos_sleep_until(t0 + 2000);
    cut_off(v, N, rev, "link down", "ip link set vv down", "ip link set vv up");
    cut_off(v, N, rev, "nftables drop",
            "nft add table inet mchaos && nft add chain inet mchaos in "
            "{ type filter hook input priority 0 \\; iifname vv drop \\; } && "
            "nft add chain inet mchaos out "
            "{ type filter hook output priority 0 \\; oifname vv drop \\; }",
            "nft delete table inet mchaos");
    int64_t t_end = cf_wall_ms();
    chaos_sleep_until(t_end + 1500);
    chaos_counts c;
    chaos_check(R, "one agent partitioned (link down, then silent drop)", t0, t_end, &c);
    chaos_assert_bounds(&c, false);
    assert_true(c.missed > 0); /* the cut was real */
    assert_int_equal(cf_stop(&R->fx), 0);
    netns_cleanup();
}
