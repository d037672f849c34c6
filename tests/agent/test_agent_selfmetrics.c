/*
 * test_agent_selfmetrics.c: the agent and the real Etsy statsd daemon, and
 * its self-metrics: with [metrics] backend = prometheus its figures appear on
 * /metrics (and promtool accepts the whole page); with backend = statsd they
 * reach the daemon with the documented names; and the statsd:// publisher
 * delivers polled samples to the daemon end to end.
 */
#include "agent_fixture.h"
#include "harness/harness.h"
#include "harness/statsd.h"
#include "test_pollster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pollster_plugin *const extra[] = {&test_pollster, NULL};
static const char pipeline_yaml[] =
    "sources:\n  - name: synthetic\n    interval: 1\n    meters: [test.clock.value]\n"
    "    resources: [sm-target]\n"
    "sinks:\n  - name: default\n    publishers: ['prometheus://']\n";

static bool polled(void *arg)
{
    return tp_done("sm-target") >= *(size_t *)arg;
}

static void test_prometheus_backend(void **state)
{
    (void)state;
    tp_reset();
    fixture f;
    fx_start(&f, pipeline_yaml, extra, "[metrics]\nbackend = prometheus\n");
    size_t two = 2;
    assert_true(th_wait_until(polled, &two, 6000));
    static char resp[1 << 18];
    ssize_t n = th_tcp_request("127.0.0.1", agent_api_port(f.a),
                               "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               resp, sizeof resp, 5000, NULL);
    assert_true(n > 0);
    const char *body = strstr(resp, "\r\n\r\n");
    assert_non_null(body);
    assert_non_null(strstr(body, "meterd_agent_poll_test_clock_runs_total "));
    assert_non_null(strstr(body, "meterd_agent_poll_test_clock_duration_seconds_count "));
    assert_non_null(strstr(body, "meterd_agent_reload_count_total 1"));
    char path[512], cmd[1200];
    th_write_file("selfmetrics.txt", body + 4, path, sizeof path);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", path);
    assert_int_equal(system(cmd), 0);
    fx_stop(&f);
}

/* Starts the daemon, or skips the test when it is not installed. */
static void statsd_start_or_skip(th_statsd *sd)
{
    char why[256];
    int rc = th_statsd_start(sd, why, sizeof why);
    if (rc == 1) th_skip_peer(why);
    if (rc != 0) fail_msg("statsd daemon: %s", why);
}

static char reply[1 << 16];

typedef struct sd_wait {
    th_statsd *sd;
    const char *cmd, *key;
    double min, value;
} sd_wait;

/* The daemon's admin view lags its UDP input: wait for the value to show. */
static bool sd_has(void *arg)
{
    sd_wait *w = arg;
    th_statsd_admin(w->sd, w->cmd, reply, sizeof reply);
    return th_statsd_lookup(reply, w->key, &w->value, 1) == 1 && w->value >= w->min;
}

static void test_statsd_backend(void **state)
{
    (void)state;
    th_statsd sd;
    statsd_start_or_skip(&sd);
    tp_reset();
    char conf[256];
    snprintf(conf, sizeof conf,
             "[metrics]\nbackend = statsd\nstatsd_host = 127.0.0.1\n"
             "statsd_port = %d\nglobal_prefix = it\n",
             sd.port);
    fixture f;
    fx_start(&f, pipeline_yaml, extra, conf);
    size_t two = 2;
    assert_true(th_wait_until(polled, &two, 6000));
    fx_stop(&f); /* flushes the statsd buffer */
    sd_wait w = {&sd, "counters", "it.meterd.agent.poll.test.clock.runs", 2, 0};
    bool ok = th_wait_until(sd_has, &w, 2000);
    if (!ok) fprintf(stderr, "statsd counters: %s\n", reply);
    assert_true(ok);
    double v = 0;
    assert_int_equal(th_statsd_lookup(reply, "it.meterd.agent.reload.count", &v, 1), 1);
    assert_true(v == 1);
    th_statsd_admin(&sd, "timers", reply, sizeof reply);
    assert_non_null(strstr(reply, "it.meterd.agent.poll.test.clock.duration"));
    th_statsd_stop(&sd);
}

static bool sd_polled(void *arg)
{
    (void)arg;
    return tp_done("sd.target") >= 2;
}

/* The statsd:// publisher, from a real poll to the real daemon. */
static void test_statsd_publisher(void **state)
{
    (void)state;
    th_statsd sd;
    statsd_start_or_skip(&sd);
    tp_reset();
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "sources:\n  - name: synthetic\n    interval: 1\n    meters: [test.clock.value]\n"
             "    resources: [sd.target]\n"
             "sinks:\n  - name: default\n    publishers: ['statsd://127.0.0.1:%d?prefix=pub']\n",
             sd.port);
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    assert_true(th_wait_until(sd_polled, NULL, 6000));
    fx_stop(&f); /* flushes the publisher */
    sd_wait w = {&sd, "gauges", "pub.sd_target.test.clock.value", 1, 0};
    bool ok = th_wait_until(sd_has, &w, 2000);
    if (!ok) fprintf(stderr, "statsd gauges: %s\n", reply);
    assert_true(ok);
    /* the gauge holds the last poll's sequence number: a positive integer */
    assert_true(w.value == (double)(long)w.value);
    th_statsd_admin(&sd, "counters", reply, sizeof reply);
    double bad = -1;
    assert_int_equal(th_statsd_lookup(reply, "statsd.bad_lines_seen", &bad, 1), 1);
    assert_true(bad == 0);
    th_statsd_stop(&sd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_backend),
        cmocka_unit_test(test_statsd_backend),
        cmocka_unit_test(test_statsd_publisher),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
