/*
 * test_core.c: everything but the statsd wire: [metrics] options and their
 * errors, name validation and collisions, loggers and handles, the noop
 * backend, the prometheus backend's values and text, and the scoped blocks
 * (with early return, break, continue and goto).
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

/* ---- config ---- */

static void test_config_defaults(void **state)
{
    (void)state;
    metrics_config c;
    metrics_config_init(&c);
    assert_int_equal(c.backend, METRICS_BACKEND_NOOP);
    assert_string_equal(c.statsd_host, "localhost");
    assert_int_equal(c.statsd_port, 8125);
    assert_false(c.prepend_host);
    assert_false(c.prepend_host_reverse);
    assert_string_equal(c.global_prefix, "");
    assert_int_equal(c.payload_size, 1432);
    assert_int_equal(c.flush_interval_ms, 100);
}

static void test_config_set(void **state)
{
    (void)state;
    metrics_config c;
    metrics_config_init(&c);
    char err[512];
    /* the seed's sample, quotes included */
    assert_int_equal(metrics_config_set(&c, "backend", "\"statsd\"", err, sizeof err), 0);
    assert_int_equal(c.backend, METRICS_BACKEND_STATSD);
    assert_int_equal(metrics_config_set(&c, "statsd_host", "\"127.0.0.1\"", err, sizeof err), 0);
    assert_string_equal(c.statsd_host, "127.0.0.1");
    assert_int_equal(metrics_config_set(&c, "statsd_port", "9125", err, sizeof err), 0);
    assert_int_equal(c.statsd_port, 9125);
    assert_int_equal(metrics_config_set(&c, "prepend_host", "True", err, sizeof err), 0);
    assert_true(c.prepend_host);
    assert_int_equal(metrics_config_set(&c, "prepend_host_reverse", "yes", err, sizeof err), 0);
    assert_true(c.prepend_host_reverse);
    assert_int_equal(metrics_config_set(&c, "prepend_host", "0", err, sizeof err), 0);
    assert_false(c.prepend_host);
    assert_int_equal(metrics_config_set(&c, "global_prefix", "\"\"", err, sizeof err), 0);
    assert_string_equal(c.global_prefix, "");
    assert_int_equal(metrics_config_set(&c, "global_prefix", "prod.dc1", err, sizeof err), 0);
    assert_string_equal(c.global_prefix, "prod.dc1");
    assert_int_equal(metrics_config_set(&c, "host_name", "h1.example.com", err, sizeof err), 0);
    assert_string_equal(c.host_name, "h1.example.com");
    assert_int_equal(metrics_config_set(&c, "statsd_payload_size", "8932", err, sizeof err), 0);
    assert_int_equal(c.payload_size, 8932);
    assert_int_equal(metrics_config_set(&c, "statsd_flush_interval_ms", " 250 ", err, sizeof err),
                     0);
    assert_int_equal(c.flush_interval_ms, 250);
    assert_int_equal(metrics_config_set(&c, "backend", "prometheus", err, sizeof err), 0);
    assert_int_equal(c.backend, METRICS_BACKEND_PROMETHEUS);
    assert_int_equal(metrics_config_set(&c, "backend", "noop", err, sizeof err), 0);
    assert_int_equal(c.backend, METRICS_BACKEND_NOOP);
}

static void expect_error(const char *key, const char *value, const char *needle)
{
    metrics_config c;
    metrics_config_init(&c);
    metrics_config before = c;
    char err[512] = "";
    assert_int_equal(metrics_config_set(&c, key, value, err, sizeof err), -1);
    if (!strstr(err, needle)) fail_msg("%s=%s: error \"%s\" lacks \"%s\"", key, value, err, needle);
    assert_memory_equal(&c, &before, sizeof c); /* a bad value changes nothing */
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("backend", "graphite",
                 "[metrics] backend = \"graphite\": expected noop, statsd or prometheus");
    expect_error("statsd_port", "0", "expected a port 1..65535");
    expect_error("statsd_port", "70000", "expected a port 1..65535");
    expect_error("statsd_port", "81x", "statsd_port = \"81x\"");
    expect_error("statsd_host", "", "expected a host name or address");
    expect_error("prepend_host", "maybe",
                 "[metrics] prepend_host = \"maybe\": expected true or false");
    expect_error("prepend_host_reverse", "2", "prepend_host_reverse = \"2\"");
    expect_error("global_prefix", "a..b", "global_prefix \"a..b\": empty component at byte 2");
    expect_error("global_prefix", "a b", "character ' ' at byte 2");
    expect_error("statsd_payload_size", "100", "expected bytes per datagram, 512..65000");
    expect_error("statsd_flush_interval_ms", "0", "expected milliseconds, 1..60000");
    expect_error("statsd_hots", "x", "unknown option \"statsd_hots\"");
}

/* ---- names ---- */

static void test_names(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(metrics_check_name("a.b-c.d_e.F9", err, sizeof err), 0);
    const char *bad[][2] = {
        {"", "empty"},
        {".a", "empty component at byte 1"},
        {"a.", "empty component at byte 2"},
        {"a..b", "empty component at byte 2"},
        {"a:b", "character ':' at byte 2"},
        {"a|b", "character '|' at byte 2"},
        {"a@b", "character '@'"},
        {"a b", "character ' '"},
        {"a/b", "character '/'"},
        {"a\nb", "byte 0x0a at byte 2"},
        {"caf\xc3\xa9", "byte 0xc3 at byte 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(metrics_check_name(bad[i][0], err, sizeof err), -1);
        if (!strstr(err, bad[i][1]))
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i][0], err, bad[i][1]);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(metrics_check_name(longname, err, sizeof err), -1);
    assert_non_null(strstr(err, "299 bytes, at most 255"));

    char out[64];
    metrics_sanitize_name("hardware.ipmi..fan:speed/rpm.", out, sizeof out);
    assert_string_equal(out, "hardware.ipmi.fan_speed_rpm");
    assert_int_equal(metrics_check_name(out, err, sizeof err), 0);
    metrics_sanitize_name("...", out, sizeof out);
    assert_string_equal(out, "");
}

static metrics_registry *make(metrics_backend b, const char *global_prefix)
{
    metrics_config c;
    metrics_config_init(&c);
    c.backend = b;
    snprintf(c.global_prefix, sizeof c.global_prefix, "%s", global_prefix);
    snprintf(c.host_name, sizeof c.host_name, "h.example.com");
    c.prepend_host = true;
    char err[256];
    metrics_registry *r = metrics_registry_create(&c, err, sizeof err);
    if (!r) fail_msg("%s", err);
    return r;
}

static void test_registration(void **state)
{
    (void)state;
    metrics_registry *r = make(METRICS_BACKEND_NOOP, "gp");
    char err[512];
    metrics_logger *a = metrics_get_logger(r, "meterd.agent");
    assert_non_null(a);
    assert_ptr_equal(a, metrics_get_logger(r, "meterd.agent"));
    assert_null(metrics_get_logger_ex(r, "meterd..agent", err, sizeof err));
    assert_non_null(strstr(err, "logger prefix \"meterd..agent\": empty component"));
    metrics_metric *m = metrics_counter_get(a, "polls", err, sizeof err);
    assert_non_null(m);
    assert_string_equal(metrics_metric_name(m), "gp.h.example.com.meterd.agent.polls");
    assert_ptr_equal(m, metrics_counter_get(a, "polls", err, sizeof err));
    /* the same full name through another logger is the same metric */
    metrics_logger *b = metrics_get_logger(r, "meterd");
    assert_ptr_equal(m, metrics_counter_get(b, "agent.polls", err, sizeof err));
    /* type conflicts */
    assert_null(metrics_gauge_get(a, "polls", err, sizeof err));
    assert_string_equal(err, "metric name \"gp.h.example.com.meterd.agent.polls\": already "
                             "registered as a counter, not a gauge");
    assert_null(metrics_timer_get(b, "agent.polls", err, sizeof err));
    assert_non_null(strstr(err, "already registered as a counter, not a timer"));
    /* collisions once sanitised for prometheus, checked whatever the backend */
    assert_non_null(metrics_gauge_get(a, "queue-len", err, sizeof err));
    assert_null(metrics_gauge_get(a, "queue_len", err, sizeof err));
    assert_string_equal(err, "metric name \"gp.h.example.com.meterd.agent.queue_len\": collides "
                             "with \"gp.h.example.com.meterd.agent.queue-len\" once sanitised "
                             "for prometheus (gp_meterd_agent_queue_len)");
    /* invalid names */
    assert_null(metrics_timer_get(a, "poll time", err, sizeof err));
    assert_non_null(strstr(err, "metric name \"poll time\": character ' ' at byte 5"));
    assert_null(metrics_counter_get(NULL, "x", err, sizeof err));
    assert_non_null(strstr(err, "no logger"));
    /* a full name too long with its prefixes */
    char name[250];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = 0;
    assert_null(metrics_counter_get(a, name, err, sizeof err));
    assert_non_null(strstr(err, "bytes with its prefixes, at most 255"));
    metrics_stats st;
    metrics_get_stats(r, &st);
    assert_int_equal(st.rejected, 5); /* every refused metric; the NULL logger has no registry */
    metrics_registry_destroy(r);
}

static void test_registry_errors(void **state)
{
    (void)state;
    metrics_config c;
    metrics_config_init(&c);
    char err[256];
    snprintf(c.global_prefix, sizeof c.global_prefix, "bad prefix");
    assert_null(metrics_registry_create(&c, err, sizeof err));
    assert_non_null(strstr(err, "global_prefix \"bad prefix\": character ' '"));
    metrics_config_init(&c);
    c.backend = METRICS_BACKEND_STATSD;
    c.payload_size = 10;
    assert_null(metrics_registry_create(&c, err, sizeof err));
    assert_non_null(strstr(err, "statsd_payload_size = 10"));
    c.payload_size = METRICS_PAYLOAD_DEFAULT;
    c.statsd_port = 0;
    assert_null(metrics_registry_create(&c, err, sizeof err));
    assert_non_null(strstr(err, "statsd_port = 0"));
    assert_null(metrics_registry_create(NULL, err, sizeof err));
}

static void test_noop(void **state)
{
    (void)state;
    metrics_registry *r = make(METRICS_BACKEND_NOOP, "");
    metrics_logger *l = metrics_get_logger(r, "x");
    metrics_metric *m = metrics_counter_get(l, "c", NULL, 0);
    assert_int_equal(metrics_counter(m, 1), 0);
    assert_int_equal(metrics_send_counter(l, "c", 1, 0.5), 0);
    assert_int_equal(metrics_send_gauge(l, "g", 1, 1), 0);
    assert_int_equal(metrics_send_timer(l, "t", 1, 1), 0);
    size_t len = 99;
    char *text = metrics_render_prometheus_text(r, &len);
    assert_string_equal(text, "");
    assert_int_equal(len, 0);
    free(text);
    metrics_flush(r);
    metrics_registry_destroy(r);
    metrics_registry_destroy(NULL);
}

/* ---- prometheus ---- */

/* The value on the line starting with "name " in the text; NAN if absent. */
static double prom_value(metrics_registry *r, const char *name)
{
    char *text = metrics_render_prometheus_text(r, NULL);
    double v = NAN;
    size_t n = strlen(name);
    for (char *p = text; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    free(text);
    return v;
}

static void test_prometheus_text(void **state)
{
    (void)state;
    metrics_registry *r = make(METRICS_BACKEND_PROMETHEUS, "gp");
    metrics_logger *l = metrics_get_logger(r, "meterd.agent");
    metrics_metric *c = metrics_counter_get(l, "polls", NULL, 0);
    metrics_metric *g = metrics_gauge_get(l, "Queue-Len", NULL, 0);
    metrics_metric *t = metrics_timer_get(l, "poll.duration", NULL, 0);
    metrics_metric *d = metrics_counter_get(metrics_get_logger(r, ""), "9lives_total", NULL, 0);
    assert_int_equal(metrics_counter(c, 3), 0);
    assert_int_equal(metrics_counter_sampled(c, 2, 0.01), 0); /* in-process: exact */
    assert_int_equal(metrics_counter(c, -1), -1);             /* counters never go down */
    assert_int_equal(metrics_gauge(g, -2.5), 0);
    assert_int_equal(metrics_timer(t, 125), 0);
    assert_int_equal(metrics_timer_sampled(t, 1.5, 0.5), 0);
    assert_int_equal(metrics_counter(d, 1), 0);
    size_t len;
    char *text = metrics_render_prometheus_text(r, &len);
    assert_int_equal(len, strlen(text));
    assert_string_equal(
        text,
        "# HELP gp_9lives_total meterd self-metric gp.h.example.com.9lives_total (counter)\n"
        "# TYPE gp_9lives_total counter\n"
        "gp_9lives_total 1\n"
        "# HELP gp_meterd_agent_poll_duration_seconds meterd self-metric "
        "gp.h.example.com.meterd.agent.poll.duration (timer, in seconds)\n"
        "# TYPE gp_meterd_agent_poll_duration_seconds summary\n"
        "gp_meterd_agent_poll_duration_seconds_count 2\n"
        "gp_meterd_agent_poll_duration_seconds_sum 0.1265\n"
        "# HELP gp_meterd_agent_polls_total meterd self-metric gp.h.example.com.meterd.agent.polls "
        "(counter)\n"
        "# TYPE gp_meterd_agent_polls_total counter\n"
        "gp_meterd_agent_polls_total 5\n"
        "# HELP gp_meterd_agent_queue_len meterd self-metric "
        "gp.h.example.com.meterd.agent.Queue-Len (gauge)\n"
        "# TYPE gp_meterd_agent_queue_len gauge\n"
        "gp_meterd_agent_queue_len -2.5\n");
    free(text);
    /* by name, like the seed */
    assert_int_equal(metrics_send_gauge(l, "one.fish", 1, 1.0), 0);
    assert_int_equal(metrics_send_counter(l, "two.fish", 2, 1.0), 0);
    assert_int_equal(metrics_send_timer(l, "black.fish", 125, 1.0), 0);
    assert_true(prom_value(r, "gp_meterd_agent_one_fish") == 1);
    assert_true(prom_value(r, "gp_meterd_agent_two_fish_total") == 2);
    assert_true(prom_value(r, "gp_meterd_agent_black_fish_seconds_sum") == 0.125);
    metrics_stats st;
    metrics_get_stats(r, &st);
    assert_int_equal(st.rejected, 1);
    metrics_registry_destroy(r);
}

static int stop_writer(void *arg, const char *data, size_t len)
{
    (void)data;
    (void)len;
    return ++*(int *)arg == 2 ? 7 : 0;
}

static void test_prometheus_writer_stops(void **state)
{
    (void)state;
    metrics_registry *r = make(METRICS_BACKEND_PROMETHEUS, "");
    metrics_logger *l = metrics_get_logger(r, "m");
    for (int i = 0; i < 5; i++) {
        char n[8];
        snprintf(n, sizeof n, "c%d", i);
        metrics_counter_get(l, n, NULL, 0);
    }
    /* a leading digit is guarded: Prometheus names cannot start with one */
    assert_int_equal(
        metrics_counter(metrics_counter_get(metrics_get_logger(r, ""), "9lives", NULL, 0), 4), 0);
    assert_true(prom_value(r, "_9lives_total") == 4);
    int calls = 0;
    assert_int_equal(metrics_render_prometheus(r, stop_writer, &calls), 7);
    assert_int_equal(calls, 2);
    metrics_registry_destroy(r);
}

typedef struct prom_worker {
    metrics_registry *reg;
    int calls;
} prom_worker;

static void *prom_worker_main(void *arg)
{
    prom_worker *w = arg;
    metrics_logger *l = metrics_get_logger(w->reg, "mt");
    for (int i = 0; i < w->calls; i++) {
        metrics_send_counter(l, "c", 1, 1.0); /* registers on first use, racing */
        metrics_send_timer(l, "t", 0.5, 1.0);
        metrics_send_gauge(l, "g", i, 1.0);
    }
    return NULL;
}

/* Threads update while another renders: totals exact, text always whole. */
static void test_prometheus_threads(void **state)
{
    (void)state;
    metrics_registry *r = make(METRICS_BACKEND_PROMETHEUS, "");
    enum { T = 4, CALLS = 5000 };
    prom_worker w = {r, CALLS};
    pthread_t th[T];
    for (int i = 0; i < T; i++)
        pthread_create(&th[i], NULL, prom_worker_main, &w);
    for (int i = 0; i < 20; i++) {
        char *text = metrics_render_prometheus_text(r, NULL);
        assert_non_null(text);
        free(text);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    assert_true(prom_value(r, "mt_c_total") == T * CALLS);
    assert_true(prom_value(r, "mt_t_seconds_count") == T * CALLS);
    assert_true(fabs(prom_value(r, "mt_t_seconds_sum") - T * CALLS * 0.0005) < 1e-9);
    assert_true(prom_value(r, "mt_g") == CALLS - 1);
    metrics_registry_destroy(r);
}

/* ---- scoped blocks ---- */

static void spin_ms(int ms)
{
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

static int timed_early_return(metrics_metric *t, int x)
{
    METRICS_TIMED(t)
    {
        spin_ms(2);
        if (x) return 1; /* the block is left by return: still timed */
        spin_ms(1);
    }
    return 0;
}

static int scope_early_return(metrics_metric *t, metrics_metric *c, int x)
{
    METRICS_COUNT_SCOPE(c);
    METRICS_TIME_SCOPE(t);
    if (x) return 1;
    spin_ms(1);
    return 0;
}

static void test_scopes(void **state)
{
    (void)state;
    metrics_registry *r = make(METRICS_BACKEND_PROMETHEUS, "");
    metrics_logger *l = metrics_get_logger(r, "scope");
    metrics_metric *t = metrics_timer_get(l, "t", NULL, 0);
    metrics_metric *c = metrics_counter_get(l, "c", NULL, 0);

    assert_int_equal(timed_early_return(t, 1), 1);
    assert_int_equal(timed_early_return(t, 0), 0);
    assert_true(prom_value(r, "scope_t_seconds_count") == 2);
    assert_true(prom_value(r, "scope_t_seconds_sum") >= 0.004);

    /* break and continue leave the block form once, and it is timed once */
    int after = 0;
    METRICS_TIMED(t)
    {
        if (after == 0) break;
        after = 99; /* not reached */
    }
    assert_int_equal(after, 0);
    for (int i = 0; i < 3; i++) {
        METRICS_TIMED(t)
        {
            if (i == 1) continue;
            after++;
        }
    }
    assert_int_equal(after, 2);
    assert_true(prom_value(r, "scope_t_seconds_count") == 6);

    /* the statement form: break leaves the enclosing loop, timed each pass */
    int passes = 0;
    for (int i = 0; i < 10; i++) {
        METRICS_TIME_SCOPE(t);
        passes++;
        if (i == 2) break;
    }
    assert_int_equal(passes, 3);
    assert_true(prom_value(r, "scope_t_seconds_count") == 9);

    assert_int_equal(scope_early_return(t, c, 1), 1);
    assert_int_equal(scope_early_return(t, c, 0), 0);
    assert_true(prom_value(r, "scope_t_seconds_count") == 11);
    assert_true(prom_value(r, "scope_c_total") == 2);

    /* counting blocks count on entry, once, whatever happens inside */
    for (int i = 0; i < 4; i++) {
        METRICS_COUNTED(c)
        {
            if (i % 2) break;
        }
    }
    assert_true(prom_value(r, "scope_c_total") == 6);

    /* goto out of a timed block */
    METRICS_TIMED(t)
    {
        goto out;
    }
out:
    assert_true(prom_value(r, "scope_t_seconds_count") == 12);

    /* NULL and noop metrics: the blocks still run their bodies */
    int ran = 0;
    METRICS_TIMED(NULL) ran++;
    METRICS_COUNTED(NULL) ran++;
    assert_int_equal(ran, 2);
    metrics_registry_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_set),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_registry_errors),
        cmocka_unit_test(test_noop),
        cmocka_unit_test(test_prometheus_text),
        cmocka_unit_test(test_prometheus_writer_stops),
        cmocka_unit_test(test_prometheus_threads),
        cmocka_unit_test(test_scopes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
