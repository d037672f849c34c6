/*
 * test_statsd_wire.c: the statsd backend's exact datagrams, received on a
 * real loopback UDP socket: line format, naming (prefixes, host, reversed
 * host), negative gauges, sample rates (format and statistics), batching by
 * payload size, flush on the timer and at destroy, threads, a daemon that is
 * not there, and invalid values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "udp_sink.h"

typedef struct fixture {
    udp_sink sink;
    metrics_config cfg;
    metrics_registry *reg;
    size_t taken; /* datagrams received so far */
} fixture;

static char *take(fixture *f, size_t *count)
{
    size_t n;
    char *got = udp_sink_take(&f->sink, &n);
    f->taken += n;
    if (count) *count = n;
    return got;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(udp_sink_start(&f->sink), 0);
    metrics_config_init(&f->cfg);
    f->cfg.backend = METRICS_BACKEND_STATSD;
    snprintf(f->cfg.statsd_host, sizeof f->cfg.statsd_host, "127.0.0.1");
    f->cfg.statsd_port = f->sink.port;
    f->cfg.flush_interval_ms = 60000; /* tests flush explicitly unless they test the timer */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    metrics_registry_destroy(f->reg);
    udp_sink_stop(&f->sink);
    free(f);
    return 0;
}

static metrics_registry *open_reg(fixture *f)
{
    char err[256] = "";
    f->reg = metrics_registry_create(&f->cfg, err, sizeof err);
    if (!f->reg) fail_msg("registry: %s", err);
    return f->reg;
}

/*
 * Flushes and returns every datagram received, each followed by \x1e, once
 * as many arrived as the kernel accepted (at least min_dgrams).
 */
static char *flush_take(fixture *f, size_t min_dgrams, size_t *count)
{
    metrics_flush(f->reg);
    metrics_stats st;
    metrics_get_stats(f->reg, &st);
    size_t pending = st.datagrams_sent - f->taken;
    udp_sink_wait(&f->sink, pending > min_dgrams ? pending : min_dgrams, 5000);
    return take(f, count);
}

static void test_wire_format(void **state)
{
    fixture *f = *state;
    metrics_logger *log = metrics_get_logger(open_reg(f), "meterd.agent");
    assert_non_null(log);
    char err[256];
    metrics_metric *c = metrics_counter_get(log, "polls", err, sizeof err);
    metrics_metric *g = metrics_gauge_get(log, "queue", err, sizeof err);
    metrics_metric *t = metrics_timer_get(log, "poll_ms", err, sizeof err);
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(t);
    assert_string_equal(metrics_metric_name(c), "meterd.agent.polls");
    assert_int_equal(metrics_counter(c, 2), 0);
    assert_int_equal(metrics_counter(c, -1), 0);
    assert_int_equal(metrics_counter(c, INT64_MIN), 0);
    assert_int_equal(metrics_gauge(g, 1.5), 0);
    assert_int_equal(metrics_gauge(g, -5), 0);
    assert_int_equal(metrics_gauge(g, -0.0), 0);
    assert_int_equal(metrics_gauge(g, 0.1), 0);
    assert_int_equal(metrics_gauge(g, 1e20), 0);
    assert_int_equal(metrics_gauge(g, -2.75), 0);
    assert_int_equal(metrics_timer(t, 125), 0);
    assert_int_equal(metrics_timer(t, 1.25), 0);
    assert_int_equal(metrics_timer(t, 0.0005), 0);
    /* the seed's calls, by name */
    assert_int_equal(metrics_send_gauge(log, "one.fish", 1, 1.0), 0);
    assert_int_equal(metrics_send_counter(log, "two.fish", 2, 1.0), 0);
    assert_int_equal(metrics_send_counter(log, "red.fish", -1, 1.0), 0);
    assert_int_equal(metrics_send_timer(log, "black.fish", 125, 1.0), 0);
    size_t n;
    char *got = flush_take(f, 1, &n);
    assert_int_equal(n, 1);
    assert_string_equal(got, "meterd.agent.polls:2|c\n"
                             "meterd.agent.polls:-1|c\n"
                             "meterd.agent.polls:-9223372036854775808|c\n"
                             "meterd.agent.queue:1.5|g\n"
                             "meterd.agent.queue:0|g\nmeterd.agent.queue:-5|g\n"
                             "meterd.agent.queue:0|g\n"
                             "meterd.agent.queue:0.1|g\n"
                             "meterd.agent.queue:1e+20|g\n"
                             "meterd.agent.queue:0|g\nmeterd.agent.queue:-2.75|g\n"
                             "meterd.agent.poll_ms:125|ms\n"
                             "meterd.agent.poll_ms:1.25|ms\n"
                             "meterd.agent.poll_ms:0.0005|ms\n"
                             "meterd.agent.one.fish:1|g\n"
                             "meterd.agent.two.fish:2|c\n"
                             "meterd.agent.red.fish:-1|c\n"
                             "meterd.agent.black.fish:125|ms\x1e");
    free(got);
}

/* The seed's own example, sent right: "|ms|@0.25", not "|ms@0.25". */
static void test_seed_example_reverse_host(void **state)
{
    fixture *f = *state;
    snprintf(f->cfg.global_prefix, sizeof f->cfg.global_prefix, "globalprefix");
    snprintf(f->cfg.host_name, sizeof f->cfg.host_name, "host.example.com");
    f->cfg.prepend_host = true;
    f->cfg.prepend_host_reverse = true;
    metrics_logger *log = metrics_get_logger(open_reg(f), "moduleprefix");
    for (int i = 0; i < 400; i++)
        assert_int_equal(metrics_send_timer(log, "blue.fish", 125, 0.25), 0);
    size_t n;
    char *got = flush_take(f, 1, &n);
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(got, "\n\x1e", &save); l;
         l = strtok_r(NULL, "\n\x1e", &save), lines++)
        assert_string_equal(l, "globalprefix.com.example.host.moduleprefix.blue.fish:125|ms|@0.25");
    assert_true(lines > 40 && lines < 200); /* 100 expected */
    free(got);
}

static void test_host_not_reversed_and_empty_prefix(void **state)
{
    fixture *f = *state;
    snprintf(f->cfg.global_prefix, sizeof f->cfg.global_prefix, "gp");
    snprintf(f->cfg.host_name, sizeof f->cfg.host_name, "Web-01.example.com.");
    f->cfg.prepend_host = true;
    open_reg(f);
    metrics_send_counter(metrics_get_logger(f->reg, "mod"), "x", 1, 1.0);
    metrics_send_counter(metrics_get_logger(f->reg, ""), "y", 1, 1.0);
    size_t n;
    char *got = flush_take(f, 1, &n);
    assert_string_equal(got, "gp.Web-01.example.com.mod.x:1|c\ngp.Web-01.example.com.y:1|c\x1e");
    free(got);
}

static void test_reverse_needs_prepend_host(void **state)
{
    fixture *f = *state;
    snprintf(f->cfg.host_name, sizeof f->cfg.host_name, "host.example.com");
    f->cfg.prepend_host_reverse = true; /* without prepend_host: no host at all (as ironic-lib) */
    metrics_send_counter(metrics_get_logger(open_reg(f), "mod"), "x", 1, 1.0);
    size_t n;
    char *got = flush_take(f, 1, &n);
    assert_string_equal(got, "mod.x:1|c\x1e");
    free(got);
}

static void test_host_sanitised(void **state)
{
    fixture *f = *state;
    snprintf(f->cfg.host_name, sizeof f->cfg.host_name, "a b..c:d");
    f->cfg.prepend_host = true;
    f->cfg.prepend_host_reverse = true;
    metrics_send_counter(metrics_get_logger(open_reg(f), "m"), "x", 1, 1.0);
    size_t n;
    char *got = flush_take(f, 1, &n);
    assert_string_equal(got, "c_d.a_b.m.x:1|c\x1e");
    free(got);
}

/* Sampled lines carry |@rate after a '|'; the right fraction is sent. */
static void check_rate(fixture *f, double rate, const char *suffix)
{
    const int N = 40000;
    metrics_metric *c = metrics_counter_get(metrics_get_logger(f->reg, "s"), "c", NULL, 0);
    metrics_stats before, after;
    metrics_get_stats(f->reg, &before);
    for (int i = 0; i < N; i++)
        assert_int_equal(metrics_counter_sampled(c, 1, rate), 0);
    metrics_get_stats(f->reg, &after);
    /* chosen to be sent = buffered + dropped (a drop is not a sampling decision) */
    double sent = (double)(after.lines + after.lines_dropped - before.lines - before.lines_dropped);
    double out = (double)(after.sampled_out - before.sampled_out);
    assert_true(sent + out == N);
    size_t buffered = after.lines - before.lines;
    double mean = N * rate, sd = sqrt(N * rate * (1 - rate));
    if (fabs(sent - mean) > 6 * sd)
        fail_msg("rate %g: %g of %d sent, expected %g +- %g", rate, sent, N, mean, 6 * sd);
    metrics_flush(f->reg);
    size_t dgrams;
    /* wait until every line arrived, then check each one */
    size_t lines = 0;
    for (int64_t t0 = time(NULL); lines < buffered && time(NULL) - t0 < 5;) {
        udp_sink_wait(&f->sink, 1, 100);
        char *got = take(f, &dgrams);
        for (char *save = NULL, *l = strtok_r(got, "\n\x1e", &save); l;
             l = strtok_r(NULL, "\n\x1e", &save), lines++)
            assert_string_equal(l, suffix);
        free(got);
    }
    assert_int_equal(lines, buffered);
}

static void test_sample_rates(void **state)
{
    fixture *f = *state;
    open_reg(f);
    check_rate(f, 0.25, "s.c:1|c|@0.25");
    check_rate(f, 0.01, "s.c:1|c|@0.01");
    check_rate(f, 1.0 / 3, "s.c:1|c|@0.333333333");
    check_rate(f, 0.9, "s.c:1|c|@0.9");
    /* gauges and timers carry the rate the same way */
    metrics_logger *log = metrics_get_logger(f->reg, "s");
    for (int i = 0; i < 64; i++) {
        metrics_send_gauge(log, "g", 3, 0.5);
        metrics_send_gauge(log, "n", -3, 0.5);
        metrics_send_timer(log, "t", 7, 0.5);
    }
    size_t n;
    char *got = flush_take(f, 1, &n);
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(got, "\n\x1e", &save); l;
         l = strtok_r(NULL, "\n\x1e", &save), lines++)
        if (strcmp(l, "s.g:3|g|@0.5") && strcmp(l, "s.n:0|g|@0.5") && strcmp(l, "s.n:-3|g|@0.5") &&
            strcmp(l, "s.t:7|ms|@0.5"))
            fail_msg("unexpected line %s", l);
    assert_true(lines > 0);
    free(got);
}

/* Lines are packed into datagrams of at most payload_size, never split. */
static void test_batching(void **state)
{
    fixture *f = *state;
    f->cfg.payload_size = 512;
    metrics_logger *log = metrics_get_logger(open_reg(f), "meterd.batch");
    metrics_metric *c = metrics_counter_get(log, "lines", NULL, 0);
    metrics_metric *g = metrics_gauge_get(log, "g", NULL, 0);
    for (int i = 0; i < 300; i++) {
        metrics_counter(c, i);
        if (i % 7 == 0) metrics_gauge(g, -i - 1); /* a pair that must stay together */
    }
    size_t n;
    char *got = flush_take(f, 15, &n);
    assert_true(n >= 15);
    assert_true(f->sink.maxlen <= 512);
    assert_true(f->sink.maxlen > 400); /* packed, not one line per datagram */
    int next = 0, gauges = 0;
    for (char *dsave = NULL, *d = strtok_r(got, "\x1e", &dsave); d;
         d = strtok_r(NULL, "\x1e", &dsave)) {
        char *prev = NULL;
        for (char *save = NULL, *l = strtok_r(d, "\n", &save); l;
             prev = l, l = strtok_r(NULL, "\n", &save)) {
            int v;
            if (sscanf(l, "meterd.batch.lines:%d|c", &v) == 1) {
                assert_int_equal(v, next++);
            } else if (strcmp(l, "meterd.batch.g:0|g") != 0) {
                assert_int_equal(sscanf(l, "meterd.batch.g:%d|g", &v), 1);
                assert_true(v < 0);
                assert_non_null(prev);
                assert_string_equal(prev, "meterd.batch.g:0|g");
                gauges++;
            }
        }
    }
    assert_int_equal(next, 300);
    assert_int_equal(gauges, 43);
    free(got);
}

static void test_flush_on_timer(void **state)
{
    fixture *f = *state;
    f->cfg.flush_interval_ms = 20;
    metrics_send_counter(metrics_get_logger(open_reg(f), "t"), "x", 1, 1.0);
    assert_int_equal(udp_sink_wait(&f->sink, 1, 3000), 1); /* no explicit flush */
    char *got = take(f, NULL);
    assert_string_equal(got, "t.x:1|c\x1e");
    free(got);
}

static void test_flush_at_destroy(void **state)
{
    fixture *f = *state;
    metrics_send_gauge(metrics_get_logger(open_reg(f), "t"), "last", 7, 1.0);
    metrics_registry_destroy(f->reg);
    f->reg = NULL;
    assert_int_equal(udp_sink_wait(&f->sink, 1, 3000), 1);
    char *got = take(f, NULL);
    assert_string_equal(got, "t.last:7|g\x1e");
    free(got);
}

typedef struct worker {
    metrics_registry *reg;
    int calls;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    metrics_logger *log = metrics_get_logger(w->reg, "threads");
    for (int i = 0; i < w->calls; i++) {
        if (i % 500 == 0) metrics_flush(w->reg);     /* pace: the test counts every line */
        metrics_send_counter(log, "shared", 1, 1.0); /* registration races too */
        metrics_send_timer(log, "t", 2, 1.0);
    }
    return NULL;
}

static void test_threads(void **state)
{
    fixture *f = *state;
    f->cfg.flush_interval_ms = 5;
    open_reg(f);
    enum { T = 4, CALLS = 3000 };
    pthread_t th[T];
    worker w = {f->reg, CALLS};
    for (int i = 0; i < T; i++)
        pthread_create(&th[i], NULL, worker_main, &w);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    metrics_stats st;
    metrics_get_stats(f->reg, &st);
    assert_int_equal(st.lines_dropped, 0);
    assert_int_equal(st.lines, 2 * T * CALLS);
    metrics_flush(f->reg);
    long counted = 0, timed = 0;
    for (int64_t t0 = time(NULL);
         (counted < T * CALLS || timed < T * CALLS) && time(NULL) - t0 < 10;) {
        udp_sink_wait(&f->sink, 1, 100);
        char *got = take(f, NULL);
        for (char *save = NULL, *l = strtok_r(got, "\n\x1e", &save); l;
             l = strtok_r(NULL, "\n\x1e", &save)) {
            if (strcmp(l, "threads.shared:1|c") == 0)
                counted++;
            else if (strcmp(l, "threads.t:2|ms") == 0)
                timed++;
            else
                fail_msg("unexpected line %s", l);
        }
        free(got);
    }
    assert_int_equal(counted, T * CALLS);
    assert_int_equal(timed, T * CALLS);
}

/* A burst far beyond a shard's buffer: the caller sends, nothing is dropped. */
static void test_burst_not_dropped(void **state)
{
    fixture *f = *state;
    metrics_metric *c = metrics_counter_get(metrics_get_logger(open_reg(f), "b"), "x", NULL, 0);
    enum { N = 30000 }; /* ~240 KB of lines, 4 shard buffers */
    for (int i = 0; i < N; i++)
        metrics_counter(c, 1);
    metrics_stats st;
    metrics_get_stats(f->reg, &st);
    assert_int_equal(st.lines, N);
    assert_int_equal(st.lines_dropped, 0);
    size_t n;
    char *got = flush_take(f, 100, &n);
    long lines = 0;
    for (char *save = NULL, *l = strtok_r(got, "\n\x1e", &save); l;
         l = strtok_r(NULL, "\n\x1e", &save), lines++)
        assert_string_equal(l, "b.x:1|c");
    assert_int_equal(lines, N);
    free(got);
}

/* Nobody listens: calls neither fail nor wait. */
static void test_daemon_down(void **state)
{
    fixture *f = *state;
    udp_sink_stop(&f->sink);
    udp_sink_start(&f->sink);          /* a fresh one for teardown; then send to */
    f->cfg.statsd_port = f->sink.port; /* a port nobody listens on any more: */
    udp_sink_stop(&f->sink);
    udp_sink_start(&f->sink);
    f->cfg.flush_interval_ms = 1;
    metrics_metric *c = metrics_counter_get(metrics_get_logger(open_reg(f), "down"), "x", NULL, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 50000; i++)
        assert_int_equal(metrics_counter(c, 1), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s < 2.0); /* 40 us a call even under valgrind: no network wait */
    metrics_flush(f->reg);
    metrics_stats st;
    metrics_get_stats(f->reg, &st);
    assert_int_equal(st.lines, 50000);
    assert_int_equal(st.lines_dropped, 0);
    assert_true(st.datagrams_sent + st.datagrams_dropped > 0);
}

static void test_invalid_values(void **state)
{
    fixture *f = *state;
    metrics_logger *log = metrics_get_logger(open_reg(f), "bad");
    metrics_metric *c = metrics_counter_get(log, "c", NULL, 0);
    metrics_metric *g = metrics_gauge_get(log, "g", NULL, 0);
    metrics_metric *t = metrics_timer_get(log, "t", NULL, 0);
    assert_int_equal(metrics_counter_sampled(c, 1, 0), -1);
    assert_int_equal(metrics_counter_sampled(c, 1, 1.5), -1);
    assert_int_equal(metrics_counter_sampled(c, 1, NAN), -1);
    assert_int_equal(metrics_gauge(g, NAN), -1);
    assert_int_equal(metrics_gauge(g, INFINITY), -1);
    assert_int_equal(metrics_timer(t, -1), -1);
    assert_int_equal(metrics_gauge(c, 1), -1); /* wrong type */
    assert_int_equal(metrics_send_counter(log, "bad|name", 1, 1.0), -1);
    assert_int_equal(metrics_send_gauge(log, "c", 1, 1.0), -1); /* c is a counter */
    assert_int_equal(metrics_counter(NULL, 1), 0);
    assert_int_equal(metrics_send_counter(NULL, "x", 1, 1.0), 0);
    metrics_stats st;
    metrics_get_stats(f->reg, &st);
    assert_int_equal(st.rejected, 9);
    assert_int_equal(st.lines, 0);
    metrics_flush(f->reg);
    assert_int_equal(udp_sink_wait(&f->sink, 1, 100), 0);
}

static void test_bad_host(void **state)
{
    fixture *f = *state;
    snprintf(f->cfg.statsd_host, sizeof f->cfg.statsd_host, "no-such-host.invalid");
    char err[256] = "";
    assert_null(metrics_registry_create(&f->cfg, err, sizeof err));
    assert_non_null(strstr(err, "statsd_host = \"no-such-host.invalid\": cannot resolve"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wire_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_example_reverse_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_not_reversed_and_empty_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_needs_prepend_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_sanitised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_rates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_on_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_at_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_not_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_host, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
