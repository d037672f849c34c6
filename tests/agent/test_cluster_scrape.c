/*
 * test_cluster_scrape.c (integration): a meterd group as a clustered
 * Prometheus scraper (issue 14). Three agents in one group (real ZooKeeper)
 * scrape 30 exporters: the three agents' own /metrics and 27 more served by
 * one Python process (scrape_server.py). Judged from the samples alone: every
 * target's scrape.up lands exactly once per interval group-wide (no member
 * scrapes a target another member owns), and after kill -9 of one agent the
 * survivors take its targets over: once they agree on a table, again exactly
 * once per interval, and no target was ever scraped twice for one instant
 * during the failover. The dead agent's own /metrics stays a target: it is
 * still scraped (scrape.up 0), which is what a down exporter looks like.
 *
 * The agents share the fixture's file:// output (O_APPEND, one write per
 * batch, so lines never interleave); each line's resource says which target
 * was scraped, and that is all the judgement needs. Last, a revision that
 * still names a file_sd document is refused by every member.
 */
#include "cluster_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NODES   3
#define TARGETS 30
#define KILLED  2

static cluster_fx fx;
static th_proc exporters;
static int ports[TARGETS];    /* target k's port: nodes' api ports first */
static bool up_seen[TARGETS]; /* a scrape of target k succeeded (scrape.up 1) */

static bool have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

static void pause_until(int64_t wall_ms)
{
    while (cf_wall_ms() < wall_ms) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL); /* the output is what we measure: let it accumulate */
    }
}

/* The 27 exporters that are not agents: one Python process on many ports. */
static void start_exporters(void)
{
    char path[512], dir[512], list[TARGETS * 8] = "";
    th_write_file("www/up.prom", "# TYPE demo_up gauge\ndemo_up 1\n", path, sizeof path);
    snprintf(dir, sizeof dir, "%.*s", (int)(strlen(path) - strlen("/up.prom")), path);
    size_t len = 0;
    for (int k = NODES; k < TARGETS; k++)
        len +=
            (size_t)snprintf(list + len, sizeof list - len, "%s%d", k > NODES ? "," : "", ports[k]);
    char *argv[] = {"python3", MeterdSourceDir "/tests/agent/scrape_server.py", dir, list, NULL};
    assert_int_equal(th_spawn(&exporters, "exporters", argv, NULL, NULL), 0);
    for (int k = NODES; k < TARGETS; k++)
        assert_true(th_wait_tcp("127.0.0.1", ports[k], 10000 * th_slack()));
}

static char *scrape_pipeline(void)
{
    size_t cap = 512 + TARGETS * 64;
    char *y = malloc(cap);
    size_t len = (size_t)snprintf(y, cap,
                                  "sources:\n  - name: exporters\n    interval: 1\n"
                                  "    meters: [scrape.up]\n    resources:\n");
    for (int k = 0; k < TARGETS; k++)
        len += (size_t)snprintf(y + len, cap - len, "      - http://127.0.0.1:%d/%s\n", ports[k],
                                k < NODES ? "metrics" : "up.prom");
    snprintf(y + len, cap - len, "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             fx.out_path);
    return y;
}

/*
 * The scrape.up lines, target k by its URL's port (cf_samples_by_port),
 * counted per due instant by the fixture.
 */
static void window(int64_t from_ms, int64_t to_ms, cf_window *w)
{
    static cluster_fx view;
    assert_int_equal(
        cf_samples_by_port(&fx, "scrape.up", "http://127.0.0.1:", ports, TARGETS, up_seen, &view),
        0);
    cf_count_window(&view, from_ms, to_ms, w);
    printf("# [%lld, %lld): %lld due instants, %lld scrapes, %lld duplicates, %lld missed\n",
           (long long)from_ms, (long long)to_ms, (long long)w->due, (long long)w->polls,
           (long long)w->duplicates, (long long)w->missed);
}

/* Every live member refused revision rev naming file_sd, keeping the old one. */
static bool file_sd_refused(void *arg)
{
    const int64_t *rev = arg;
    coord_members_t m = {0};
    if (coord_members_get(fx.obs, &m) != 0) return false;
    int n = 0;
    for (size_t i = 0; i < m.count; i++)
        if (!strcmp(m.members[i].info.state, "rejected") &&
            strstr(m.members[i].info.last_error, "members poll only what the revision lists") &&
            m.members[i].info.applied_revision == *rev - 1)
            n++;
    coord_members_free(&m);
    return n == NODES - 1;
}

static void test_cluster_scrape(void **state)
{
    (void)state;
    if (!have("python3")) th_skip_peer("python3 (for the exporters) is not installed");
    cf_start(&fx);
    for (int k = 0; k < TARGETS; k++)
        ports[k] = th_free_port();
    for (int i = 0; i < NODES; i++) {
        fx.nodes[i].api_port = ports[i]; /* an agent's own /metrics is a target */
        cf_node_start(&fx, i, NULL);
    }
    start_exporters();
    char *body = scrape_pipeline();
    int64_t rev = cf_push(&fx, body);
    free(body);
    fx.n_targets = TARGETS; /* what cf_converged counts the owned targets against */
    assert_true(cf_wait_converged(&fx, NODES, rev, 20000 * th_slack()));

    /* every target exactly once per interval, group-wide, over 4 intervals */
    int64_t from = cf_wall_ms() + 1000, to = from + 4000;
    pause_until(to + 1500);
    cf_window w;
    window(from, to, &w);
    assert_true(w.due >= 4 * TARGETS);
    assert_int_equal(w.duplicates, 0);
    assert_int_equal(w.missed, 0);
    for (int k = 0; k < TARGETS; k++)
        if (!up_seen[k])
            fail_msg("target %d (port %d) was never scraped successfully", k, ports[k]);

    /* kill -9 one agent: the survivors take its targets over */
    int64_t t_kill = cf_wall_ms();
    th_stop(&fx.nodes[KILLED].proc, SIGKILL, 1000);
    assert_true(cf_wait_converged(&fx, NODES - 1, rev, 15000 * th_slack()));
    int64_t t_over = cf_wall_ms();
    printf("# kill -9 of node-%d: the 2 survivors own all %d targets after %lld ms\n", KILLED,
           TARGETS, (long long)(t_over - t_kill));
    int64_t from2 = t_over + 1000, to2 = from2 + 4000;
    pause_until(to2 + 1500);
    window(from2, to2, &w);
    assert_true(w.due >= 4 * TARGETS);
    assert_int_equal(w.duplicates, 0);
    assert_int_equal(w.missed, 0);
    /* and through the failover itself: gaps while the session expires, never
     * one instant scraped twice */
    window(from, to2, &w);
    assert_int_equal(w.duplicates, 0);

    /* a revision naming a file_sd document (written past meterctl, which
     * would have expanded it): each member would read a file of its own, so
     * every member refuses it and keeps the list it has */
    th_write_file("members-own.json", "[{\"targets\": [\"127.0.0.1:1\"]}]", NULL, 0);
    int64_t bad = cf_push(&fx, "sources:\n  - name: exporters\n    interval: 1\n"
                               "    meters: [scrape.up]\n    file_sd: [members-own.json]\n");
    assert_true(th_wait_until(file_sd_refused, &bad, 10000 * th_slack()));

    assert_int_equal(cf_stop(&fx), 0);
    th_stop(&exporters, SIGTERM, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cluster_scrape)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
