/*
 * test_statsd_daemon.c: integration with the real Etsy statsd daemon (npm
 * statsd 0.9.0) on loopback: counters (+/-, sampled), gauges (negative
 * included) and timers arrive under the right names with the right values,
 * read back through the daemon's admin interface. Skipped only when the
 * daemon is not installed (deploy/deps.sh installs it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/statsd.h"
#include "metrics/metrics.h"

typedef struct probe {
    th_statsd *d;
    const char *cmd, *key;
    double want;
    double got;
    char reply[65536];
} probe;

/* True once the admin reply shows key with the wanted value (or any, if NAN). */
static bool shows(void *arg)
{
    probe *p = arg;
    if (th_statsd_admin(p->d, p->cmd, p->reply, sizeof p->reply) <= 0) return false;
    double v;
    if (th_statsd_lookup(p->reply, p->key, &v, 1) < 1) return false;
    p->got = v;
    return isnan(p->want) || v == p->want;
}

static double wait_value(th_statsd *d, const char *cmd, const char *key, double want)
{
    probe *p = calloc(1, sizeof *p);
    *p = (probe){.d = d, .cmd = cmd, .key = key, .want = want, .got = NAN};
    if (!th_wait_until(shows, p, 10000))
        fail_msg("statsd %s: %s is %g, expected %g; reply:\n%s", cmd, key, p->got, want, p->reply);
    double got = p->got;
    free(p);
    return got;
}

static void test_daemon_receives(void **state)
{
    (void)state;
    th_statsd d;
    char why[512];
    int rc = th_statsd_start(&d, why, sizeof why);
    if (rc == 1) th_skip_peer(why);
    if (rc != 0) fail_msg("%s", why);

    metrics_config cfg;
    metrics_config_init(&cfg);
    char err[256], port[16];
    snprintf(port, sizeof port, "%d", d.port);
    const char *opts[][2] = {{"backend", "statsd"},
                             {"statsd_host", "127.0.0.1"},
                             {"statsd_port", port},
                             {"prepend_host", "true"},
                             {"prepend_host_reverse", "true"},
                             {"global_prefix", "it"},
                             {"host_name", "host.example.com"},
                             {"statsd_flush_interval_ms", "10"},
                             /* few, large datagrams: the daemon loses back-to-back ones */
                             {"statsd_payload_size", "8192"}};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (metrics_config_set(&cfg, opts[i][0], opts[i][1], err, sizeof err) != 0)
            fail_msg("%s", err);
    metrics_registry *reg = metrics_registry_create(&cfg, err, sizeof err);
    if (!reg) fail_msg("%s", err);
    metrics_logger *log = metrics_get_logger(reg, "meterd.agent");
    const char *P = "it.com.example.host.meterd.agent.";
    char key[256];

    /* counters: +3 +4 -2 */
    metrics_metric *polls = metrics_counter_get(log, "polls", err, sizeof err);
    metrics_counter(polls, 3);
    metrics_counter(polls, 4);
    metrics_counter(polls, -2);
    /* gauges: absolute, then negative (0 then -5 on the wire), then fractional */
    metrics_send_gauge(log, "queue", 42, 1.0);
    metrics_send_gauge(log, "queue", -5, 1.0);
    metrics_send_gauge(log, "ratio", 0.75, 1.0);
    for (int i = 0; i < 50; i++) /* a sampled gauge: statsd keeps the value */
        metrics_send_gauge(log, "sampled_gauge", 9, 0.5);
    /* timers */
    metrics_send_timer(log, "poll_ms", 125, 1.0);
    metrics_send_timer(log, "poll_ms", 1.5, 1.0);
    metrics_flush(reg);

    snprintf(key, sizeof key, "%spolls", P);
    wait_value(&d, "counters", key, 5);
    snprintf(key, sizeof key, "%squeue", P);
    wait_value(&d, "gauges", key, -5);
    snprintf(key, sizeof key, "%sratio", P);
    wait_value(&d, "gauges", key, 0.75);
    snprintf(key, sizeof key, "%ssampled_gauge", P);
    wait_value(&d, "gauges", key, 9);
    snprintf(key, sizeof key, "%spoll_ms", P);
    wait_value(&d, "timers", key, NAN);
    char reply[65536];
    assert_true(th_statsd_admin(&d, "timers", reply, sizeof reply) > 0);
    double t[4];
    assert_int_equal(th_statsd_lookup(reply, key, t, 4), 2);
    assert_true(t[0] == 125 && t[1] == 1.5);

    /*
     * A sampled counter: 4000 calls of +1 at rate 0.5; statsd scales what it
     * receives by 1/0.5, so it shows ~4000. Flushed in slices: the daemon
     * loses back-to-back datagrams.
     */
    metrics_metric *sampled = metrics_counter_get(log, "sampled", err, sizeof err);
    metrics_stats st;
    metrics_get_stats(reg, &st);
    uint64_t out_before = st.sampled_out;
    for (int i = 0; i < 4000; i++) {
        metrics_counter_sampled(sampled, 1, 0.5);
        if (i % 500 == 499) metrics_flush(reg);
    }
    metrics_flush(reg);
    metrics_get_stats(reg, &st);
    double sent = (double)(4000 - (st.sampled_out - out_before));
    snprintf(key, sizeof key, "%ssampled", P);
    double got = wait_value(&d, "counters", key, 2 * sent);
    assert_true(fabs(got - 4000) < 6 * 2 * sqrt(4000 * 0.25)); /* binomial, 6 sigma */

    /* nothing arrived malformed */
    assert_true(th_statsd_admin(&d, "counters", reply, sizeof reply) > 0);
    double bad = -1;
    assert_int_equal(th_statsd_lookup(reply, "statsd.bad_lines_seen", &bad, 1), 1);
    assert_true(bad == 0);

    metrics_registry_destroy(reg);
    th_statsd_stop(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_receives),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
