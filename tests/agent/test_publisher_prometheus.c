/*
 * test_publisher_prometheus.c: prometheus:// keeps the latest value per
 * series and renders exposition text: exact output for names, labels,
 * escapes, counters vs gauges, sorted families; stale series expire (by
 * observed interval and by max_age); concurrent updates and renders; in
 * cluster mode a series leaves the page once its target is not owned.
 * promtool's verdict on the same text is test_publisher_promtool.
 */
#include "agent/publisher.h"
#include "harness/harness.h"
#include "publisher_testutil.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static publisher *open_prom(const char *query)
{
    char url[256], err[256] = "";
    snprintf(url, sizeof url, "prometheus://%s", query);
    publisher *p = publisher_open_url(url, NULL, err, sizeof err);
    if (!p) fail_msg("open %s: %s", url, err);
    return p;
}

static void add(sample_batch *b, const char *name, sample_type t, const char *unit, double v,
                const char *res, const sample_label *l, size_t nl)
{
    assert_int_equal(sample_batch_add(b, name, t, unit, v, res, 1, l, nl), 0);
}

static char *render(publisher *p)
{
    strbuf s;
    strbuf_init(&s);
    publisher_render(p, &s);
    strbuf_putc(&s, 0); /* an empty render still yields "" */
    return s.buf;
}

static void test_exposition(void **state)
{
    (void)state;
    publisher *p = open_prom("");
    sample_batch *b = sample_batch_new("src", 0, 0);
    sample_label cpu[] = {{"mode", "user"}, {"cpu", "0"}};
    add(b, "host.cpu.util", SAMPLE_GAUGE, "%", 12.5, "node-1", cpu, 2);
    add(b, "host.pressure.cpu.some.avg10", SAMPLE_GAUGE, "%", 0.25, "node-1", NULL, 0);
    add(b, "net.bytes", SAMPLE_CUMULATIVE, "B", 1e6, "node-1", NULL, 0);
    add(b, "req_total", SAMPLE_CUMULATIVE, "1", 3, "node-1", NULL, 0);
    add(b, "disk.ops", SAMPLE_DELTA, "1", -2, "node-1", NULL, 0);
    sample_label weird[] = {{"resource", "clash"}, {"9bad-key", "x"}, {"__r", "y"}};
    add(b, "temp", SAMPLE_GAUGE, "C", 41, "bmc \"a\"\\b\nc", weird, 3);
    publisher_submit(p, b);
    sample_batch_unref(b);
    /* a newer value replaces, a new resource adds a series */
    b = sample_batch_new("src", 0, 0);
    add(b, "host.cpu.util", SAMPLE_GAUGE, "%", 13, "node-1", cpu, 2);
    add(b, "host.cpu.util", SAMPLE_GAUGE, "%", 1, "a-node", cpu, 2);
    publisher_submit(p, b);
    sample_batch_unref(b);

    char *text = render(p);
    const char *want =
        "# HELP meterd_disk_ops meterd meter disk.ops (unit 1), delta\n"
        "# TYPE meterd_disk_ops gauge\n"
        "meterd_disk_ops{resource=\"node-1\",source=\"src\"} -2\n"
        "# HELP meterd_host_cpu_util meterd meter host.cpu.util (unit %), gauge\n"
        "# TYPE meterd_host_cpu_util gauge\n"
        "meterd_host_cpu_util{resource=\"a-node\",source=\"src\",cpu=\"0\",mode=\"user\"} 1\n"
        "meterd_host_cpu_util{resource=\"node-1\",source=\"src\",cpu=\"0\",mode=\"user\"} 13\n"
        "# HELP meterd_host_pressure_cpu_some_avg10 meterd meter host.pressure.cpu.some.avg10 "
        "(unit %), gauge\n"
        "# TYPE meterd_host_pressure_cpu_some_avg10 gauge\n"
        "meterd_host_pressure_cpu_some_avg10{resource=\"node-1\",source=\"src\"} 0.25\n"
        "# HELP meterd_net_bytes_total meterd meter net.bytes (unit B), cumulative\n"
        "# TYPE meterd_net_bytes_total counter\n"
        "meterd_net_bytes_total{resource=\"node-1\",source=\"src\"} 1000000\n"
        "# HELP meterd_req_total meterd meter req_total (unit 1), cumulative\n"
        "# TYPE meterd_req_total counter\n"
        "meterd_req_total{resource=\"node-1\",source=\"src\"} 3\n"
        "# HELP meterd_temp meterd meter temp (unit C), gauge\n"
        "# TYPE meterd_temp gauge\n"
        "meterd_temp{resource=\"bmc \\\"a\\\"\\\\b\\nc\",source=\"src\",_9bad_key=\"x\","
        "exported___r=\"y\",exported_resource=\"clash\"} 41\n";
    assert_string_equal(text, want);
    free(text);
    publisher_stats st;
    publisher_get_stats(p, &st);
    assert_int_equal(st.batches, 2);
    assert_int_equal(st.samples, 8);
    publisher_close(p);
}

/*
 * Scraped series (marked by the scrape pollster's first label __name__) keep
 * their names and labels, with no prefix and no _total added; meterd adds
 * instance, resource and source, and on a clash keeps the scraped label and
 * renames its own exported_<name>.
 */
static void test_scraped_series(void **state)
{
    (void)state;
    publisher *p = open_prom("");
    sample_batch *b = sample_batch_new("scr", 0, 0);
    const char *url = "http://10.0.0.1:9100/metrics";
    sample_label load[] = {{"__name__", "node_load1"}};
    add(b, "scrape.node_load1", SAMPLE_GAUGE, "", 0.5, url, load, 1);
    sample_label req[] = {{"__name__", "http_requests_total"},
                          {"instance", "pod-7"},
                          {"code", "200"},
                          {"source", "app"}};
    add(b, "scrape.http_requests_total", SAMPLE_CUMULATIVE, "", 7, url, req, 4);
    sample_label bucket[] = {{"__name__", "lat_bucket"}, {"le", "+Inf"}};
    add(b, "scrape.lat_bucket", SAMPLE_CUMULATIVE, "", 3, "https://h/m", bucket, 2);
    /* a clash on the renamed label too: the scraped one stays, meterd's goes */
    sample_label clash[] = {{"__name__", "clash"}, {"source", "a"}, {"exported_source", "keep"}};
    add(b, "scrape.clash", SAMPLE_GAUGE, "", 1, url, clash, 3);
    /* meterd's own per-target meter keeps meterd's naming */
    add(b, "scrape.up", SAMPLE_GAUGE, "1", 1, url, NULL, 0);
    publisher_submit(p, b);
    sample_batch_unref(b);
    char *text = render(p);
    const char *want =
        "# HELP clash meterd meter scrape.clash, gauge\n"
        "# TYPE clash untyped\n"
        "clash{exported_source=\"keep\",instance=\"10.0.0.1:9100\","
        "resource=\"http://10.0.0.1:9100/metrics\",source=\"a\"} 1\n"
        "# HELP http_requests_total meterd meter scrape.http_requests_total, cumulative\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{code=\"200\",exported_instance=\"10.0.0.1:9100\","
        "exported_source=\"scr\",instance=\"pod-7\",resource=\"http://10.0.0.1:9100/metrics\","
        "source=\"app\"} 7\n"
        "# HELP lat_bucket meterd meter scrape.lat_bucket, cumulative\n"
        "# TYPE lat_bucket untyped\n"
        "lat_bucket{instance=\"h:443\",le=\"+Inf\",resource=\"https://h/m\",source=\"scr\"} 3\n"
        "# HELP meterd_scrape_up meterd meter scrape.up (unit 1), gauge\n"
        "# TYPE meterd_scrape_up gauge\n"
        "meterd_scrape_up{resource=\"http://10.0.0.1:9100/metrics\",source=\"scr\"} 1\n"
        "# HELP node_load1 meterd meter scrape.node_load1, gauge\n"
        "# TYPE node_load1 untyped\n"
        "node_load1{instance=\"10.0.0.1:9100\",resource=\"http://10.0.0.1:9100/metrics\","
        "source=\"scr\"} 0.5\n";
    assert_string_equal(text, want);
    free(text);
    publisher_close(p);
}

/* Values render as the shortest text that reads back to the same double,
 * without an exponent where %g writes none: the printf-free decimal path and
 * the %.15g/%.17g one agree (exporters' 1234.5 comes back as 1234.5). */
static void test_value_text(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "0.1"},
        {1234.5, "1234.5"},
        {-98.765, "-98.765"},
        {0.000123, "0.000123"},
        {1e-5, "1e-05"},
        {0.30000000000000004, "0.30000000000000004"},
        {1e20, "1e+20"},
        {123456789012.25, "123456789012.25"},
        {-0.0, "0"},
        {42, "42"},
        {2.0 / 3, "0.66666666666666663"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        publisher *p = open_prom("");
        sample_batch *b = sample_batch_new("s", 0, 0);
        add(b, "v", SAMPLE_GAUGE, "", cases[i].v, "r", NULL, 0);
        publisher_submit(p, b);
        sample_batch_unref(b);
        char *text = render(p), want[96];
        snprintf(want, sizeof want, "meterd_v{resource=\"r\",source=\"s\"} %s\n", cases[i].text);
        if (!strstr(text, want)) fail_msg("%.17g: want %s in:\n%s", cases[i].v, want, text);
        free(text);
        publisher_close(p);
    }
}

static void publish_scraped(publisher *p, const char *url, const sample_label *l, size_t n,
                            double v)
{
    sample_batch *b = sample_batch_new("scr", 0, 0);
    add(b, "scrape.m", SAMPLE_GAUGE, "", v, url, l, n);
    add(b, "scrape.up", SAMPLE_GAUGE, "1", 1, url, NULL, 0);
    publisher_submit(p, b);
    sample_batch_unref(b);
}

/*
 * A scraped series stores its own labels and shares its target's instance,
 * resource and source: the page still shows them sorted among the series'
 * labels (before, between and after them), escapes kept; the next scrape
 * finds its series whether its labels come in the same order (compared in
 * place) or another (the key rebuilt), and a changed value escape or
 * another target is a series of its own.
 */
static void test_scraped_split_labels(void **state)
{
    (void)state;
    publisher *p = open_prom("");
    const char *u1 = "http://10.0.0.1:9100/metrics", *u2 = "http://10.0.0.2:9100/metrics";
    sample_label l[] = {{"__name__", "m"}, {"a", "q\"x\\y\nz"}, {"job", "j"},
                        {"region", "eu"},  {"team", "t"},       {"zone", "z1"}};
    publish_scraped(p, u1, l, 6, 1);
    publish_scraped(p, u1, l, 6, 2); /* in place */
    sample_label r[] = {l[0], l[5], l[3], l[1], l[4], l[2]};
    publish_scraped(p, u1, r, 6, 3); /* reordered: the same series */
    publish_scraped(p, u2, l, 6, 4); /* another target */
    sample_label e[] = {l[0], {"a", "q\"x\\y\nz2"}, l[2], l[3], l[4], l[5]};
    publish_scraped(p, u1, e, 6, 5); /* another value: another series */
    sample_label none[] = {{"__name__", "m"}};
    publish_scraped(p, u1, none, 1, 6);
    char *text = render(p);
    static const char *const want[] = {
        "m{a=\"q\\\"x\\\\y\\nz\",instance=\"10.0.0.1:9100\",job=\"j\","
        "region=\"eu\",resource=\"http://10.0.0.1:9100/metrics\",source=\"scr\",team=\"t\","
        "zone=\"z1\"} 3\n",
        "m{a=\"q\\\"x\\\\y\\nz\",instance=\"10.0.0.2:9100\",job=\"j\","
        "region=\"eu\",resource=\"http://10.0.0.2:9100/metrics\",source=\"scr\",team=\"t\","
        "zone=\"z1\"} 4\n",
        "m{a=\"q\\\"x\\\\y\\nz2\",instance=\"10.0.0.1:9100\",job=\"j\","
        "region=\"eu\",resource=\"http://10.0.0.1:9100/metrics\",source=\"scr\",team=\"t\","
        "zone=\"z1\"} 5\n",
        ("m{instance=\"10.0.0.1:9100\",resource=\"http://10.0.0.1:9100/metrics\","
         "source=\"scr\"} 6\n"),
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(text, want[i])) fail_msg("missing:\n%s\nin:\n%s", want[i], text);
    size_t series = 0;
    for (const char *c = text; (c = strstr(c, "\nm{")); c++)
        series++;
    assert_int_equal(series, 4);
    free(text);
    publisher_close(p);
}

static void test_type_conflict_and_prefix(void **state)
{
    (void)state;
    publisher *p = open_prom("?prefix=&max_age=60");
    sample_batch *b = sample_batch_new("s", 0, 0);
    add(b, "1x_total", SAMPLE_GAUGE, "", 1, "r", NULL, 0);
    add(b, "1x", SAMPLE_CUMULATIVE, "", 2, "q", NULL, 0); /* same family, other type */
    publisher_submit(p, b);
    sample_batch_unref(b);
    char *text = render(p);
    assert_string_equal(text, "# HELP _1x_total meterd meter 1x_total, gauge\n"
                              "# TYPE _1x_total gauge\n"
                              "_1x_total{resource=\"r\",source=\"s\"} 1\n");
    free(text);
    publisher_stats st;
    publisher_get_stats(p, &st);
    assert_non_null(strstr(st.last_error, "type differs"));
    publisher_close(p);

    char err[256];
    /* host and port are ignored, as validation warns: it opens (it was
     * refused while `meterctl validate` accepted it) */
    publisher *ignored = publisher_open_url("prometheus://host:9090", NULL, err, sizeof err);
    assert_non_null(ignored);
    publisher_close(ignored);
    assert_null(publisher_open_url("prometheus://?max_age=0", NULL, err, sizeof err));
    assert_non_null(strstr(err, "max_age"));
}

static void submit1(publisher *p, const char *name, const char *res, double v)
{
    sample_batch *b = sample_batch_new("s", 0, 0);
    sample_batch_add(b, name, SAMPLE_GAUGE, "", v, res, 0, NULL, 0);
    publisher_submit(p, b);
    sample_batch_unref(b);
}

typedef struct {
    publisher *p;
    const char *needle;
} gone_arg;

static bool gone(void *arg)
{
    gone_arg *g = arg;
    char *text = render(g->p);
    bool r = !strstr(text, g->needle);
    free(text);
    return r;
}

static void test_stale_by_interval(void **state)
{
    (void)state;
    publisher *p = open_prom("?stale_intervals=3&min_age=0");
    submit1(p, "a", "removed", 1);
    submit1(p, "a", "kept", 1);
    int64_t t0 = th_now_ms();
    nanosleep(&(struct timespec){.tv_nsec = 40 * 1000000}, NULL); /* the interval itself */
    submit1(p, "a", "removed", 2); /* interval ~40 ms: stale after ~120 ms */
    char *text = render(p);
    assert_non_null(strstr(text, "resource=\"removed\""));
    free(text);
    gone_arg g = {p, "resource=\"removed\""};
    assert_true(th_wait_until(gone, &g, 3000));
    assert_true(th_now_ms() - t0 >= 100);
    text = render(p);
    /* seen once: only max_age (600 s) applies */
    assert_non_null(strstr(text, "resource=\"kept\""));
    free(text);
    publisher_close(p);
}

static void test_stale_by_max_age(void **state)
{
    (void)state;
    publisher *p = open_prom("?max_age=1");
    submit1(p, "b", "x", 1);
    int64_t t0 = th_now_ms();
    gone_arg g = {p, "meterd_b"};
    assert_true(th_wait_until(gone, &g, 5000));
    assert_true(th_now_ms() - t0 >= 900);
    char *text = render(p);
    assert_string_equal(text, ""); /* the family went with its last series */
    free(text);
    submit1(p, "b", "x", 2); /* and comes back */
    text = render(p);
    assert_non_null(strstr(text, "meterd_b{resource=\"x\",source=\"s\"} 2\n"));
    free(text);
    publisher_close(p);
}

typedef struct {
    publisher *p;
    int id;
} worker_arg;

static void *update_thread(void *arg)
{
    worker_arg *w = arg;
    char res[16];
    snprintf(res, sizeof res, "r%d", w->id);
    for (int i = 0; i < 300; i++) {
        sample_batch *b = sample_batch_new("s", 0, 0);
        for (int j = 0; j < 5; j++) {
            char name[16];
            snprintf(name, sizeof name, "m%d", j);
            sample_batch_add(b, name, SAMPLE_CUMULATIVE, "", i, res, 0, NULL, 0);
        }
        publisher_submit(w->p, b);
        sample_batch_unref(b);
        if (i % 50 == 0) free(render(w->p));
    }
    return NULL;
}

/* Which targets the fake member owns (sample_batch.owned). */
static bool owns_a = true, owns_b = true;

static bool fake_owned(void *ctx, const char *target, int64_t wall_ms)
{
    (void)ctx;
    (void)wall_ms;
    return !strcmp(target, "tcp://a") ? owns_a : !strcmp(target, "tcp://b") ? owns_b : false;
}

static void publish_target(publisher *p, const char *target, double v)
{
    sample_batch *b = sample_batch_new("probes", 3, 0);
    b->target = sample_batch_strdup(b, target);
    b->owned = fake_owned;
    add(b, "tcp.connect.up", SAMPLE_GAUGE, "1", v, target, NULL, 0);
    publisher_submit(p, b);
    sample_batch_unref(b);
}

/* Issue 11 item 3: a member that stops owning a target stops exporting its
 * series at once (before: they stayed, frozen, for max_age), and a target
 * regained shows nothing until polled again (not the value from before). */
static void test_ownership(void **state)
{
    (void)state;
    publisher *p = open_prom("");
    owns_a = owns_b = true;
    publish_target(p, "tcp://a", 1);
    publish_target(p, "tcp://b", 0);
    sample_batch *local = sample_batch_new("probes", 3, 0); /* no owner: always shown */
    add(local, "host.up", SAMPLE_GAUGE, "1", 1, "node-1", NULL, 0);
    publisher_submit(p, local);
    sample_batch_unref(local);
    char *text = render(p);
    assert_non_null(strstr(text, "resource=\"tcp://a\""));
    assert_non_null(strstr(text, "resource=\"tcp://b\""));
    free(text);

    owns_a = false; /* handed over */
    text = render(p);
    assert_null(strstr(text, "resource=\"tcp://a\""));
    assert_non_null(strstr(text, "resource=\"tcp://b\""));
    assert_non_null(strstr(text, "meterd_host_up{resource=\"node-1\""));
    free(text);

    owns_a = true; /* regained: nothing until a poll here */
    text = render(p);
    assert_null(strstr(text, "resource=\"tcp://a\""));
    free(text);
    publish_target(p, "tcp://a", 7);
    text = render(p);
    assert_non_null(
        strstr(text, "meterd_tcp_connect_up{resource=\"tcp://a\",source=\"probes\"} 7"));
    free(text);

    owns_a = owns_b = false; /* fenced: nothing shared */
    text = render(p);
    assert_null(strstr(text, "tcp://"));
    assert_non_null(strstr(text, "meterd_host_up"));
    free(text);
    publisher_close(p);
}

static void test_concurrent(void **state)
{
    (void)state;
    publisher *p = open_prom("");
    enum { T = 4 };
    pthread_t th[T];
    worker_arg w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker_arg){p, i};
        pthread_create(&th[i], NULL, update_thread, &w[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    char *text = render(p);
    size_t series = 0;
    for (const char *c = text; (c = strstr(c, "_total{")); c++)
        series++;
    assert_int_equal(series, 5 * T);
    assert_non_null(strstr(text, "meterd_m4_total{resource=\"r3\",source=\"s\"} 299\n"));
    free(text);
    publisher_close(p);
}

/* ?names=psi_perf_monitor: the cgroup pollsters' pressure and perf meters
 * under seed 002's names, labels type/window, container_name, pod_name
 * (beside meterd's); every other meter keeps meterd's name; another value
 * of names is refused at open. */
static void test_psi_perf_monitor_names(void **state)
{
    (void)state;
    publisher *p = open_prom("?names=psi_perf_monitor");
    sample_batch *b = sample_batch_new("pods", 0, 0);
    sample_label ctr[] = {{"kind", "container"}, {"container_id", "4f1e"}, {"pod_uid", "0b7c"}};
    add(b, "cgroup.pressure.cpu.some.avg10", SAMPLE_GAUGE, "%", 1.5, "4f1e", ctr, 3);
    add(b, "cgroup.pressure.cpu.some.total", SAMPLE_CUMULATIVE, "us", 328157795, "4f1e", ctr, 3);
    add(b, "cgroup.pressure.memory.full.avg300", SAMPLE_GAUGE, "%", 0, "4f1e", ctr, 3);
    add(b, "perf.instructions", SAMPLE_CUMULATIVE, "1", 5e7, "4f1e", ctr, 3);
    add(b, "perf.task_clock", SAMPLE_CUMULATIVE, "ns", 9, "ssh.service", NULL, 0);
    add(b, "cgroup.pids.current", SAMPLE_GAUGE, "1", 3, "4f1e", ctr, 3);
    publisher_submit(p, b);
    sample_batch_unref(b);
    char *text = render(p);
    static const char *const want[] = {
        "# HELP psi_perf_monitor_sc_monitored_cpu_psi CPU PSI of monitored container\n"
        "# TYPE psi_perf_monitor_sc_monitored_cpu_psi gauge\n",
        "psi_perf_monitor_sc_monitored_cpu_psi{resource=\"4f1e\",source=\"pods\","
        "container_id=\"4f1e\",container_name=\"4f1e\",kind=\"container\",pod_name=\"0b7c\","
        "pod_uid=\"0b7c\",type=\"some\",window=\"10s\"} 1.5\n",
        "type=\"some\",window=\"total\"} 328157795\n",
        "# TYPE psi_perf_monitor_sc_monitored_mem_psi gauge\n",
        "type=\"full\",window=\"300s\"} 0\n",
        "# TYPE psi_perf_monitor_instruction gauge\n",
        "psi_perf_monitor_task_clock{resource=\"ssh.service\",source=\"pods\","
        "container_name=\"ssh.service\"} 9\n",
        "# TYPE meterd_cgroup_pids_current gauge\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i])) fail_msg("missing:\n%s\nin:\n%s", want[i], text);
    assert_null(strstr(text, "meterd_cgroup_pressure"));
    assert_null(strstr(text, "meterd_perf"));
    free(text);
    publisher_close(p);
    char err[256] = "";
    assert_null(publisher_open_url("prometheus://?names=seed", NULL, err, sizeof err));
    assert_non_null(strstr(err, "expected psi_perf_monitor"));
}

/* A target's next batch finds its series by position (the memo) only when
 * the rendered key is the same: reordered, replaced and renamed series of
 * one target land on their own series, never on the one at their index. */
static void test_series_memo(void **state)
{
    (void)state;
    publisher *p = open_prom("");
    static const char *const first[] = {"1", "2", "3"}, *const second[] = {"2", "1", "30"};
    for (int round = 0; round < 2; round++) {
        sample_batch *b = sample_batch_new("src", 0, 0);
        for (int i = 0; i < 3; i++) {
            const char *k = round ? second[i] : first[i];
            sample_label l[] = {{"k", k}};
            add(b, "g", SAMPLE_GAUGE, "", atof(k) * (round ? 10 : 1), "r", l, 1);
        }
        publisher_submit(p, b);
        sample_batch_unref(b);
    }
    char *text = render(p);
    assert_non_null(strstr(text, "meterd_g{resource=\"r\",source=\"src\",k=\"1\"} 10\n"));
    assert_non_null(strstr(text, "meterd_g{resource=\"r\",source=\"src\",k=\"2\"} 20\n"));
    assert_non_null(strstr(text, "meterd_g{resource=\"r\",source=\"src\",k=\"3\"} 3\n"));
    assert_non_null(strstr(text, "meterd_g{resource=\"r\",source=\"src\",k=\"30\"} 300\n"));
    free(text);
    publisher_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition),
        cmocka_unit_test(test_type_conflict_and_prefix),
        cmocka_unit_test(test_stale_by_interval),
        cmocka_unit_test(test_stale_by_max_age),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_ownership),
        cmocka_unit_test(test_scraped_series),
        cmocka_unit_test(test_psi_perf_monitor_names),
        cmocka_unit_test(test_series_memo),
        cmocka_unit_test(test_value_text),
        cmocka_unit_test(test_scraped_split_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
