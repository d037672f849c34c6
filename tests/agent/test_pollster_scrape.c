/*
 * test_pollster_scrape.c (integration): the scrape pollster against real
 * exporters on loopback: Debian's prometheus-node-exporter, Prometheus' own
 * /metrics and meterd's own /metrics; and against bodies a small HTTP server
 * (scrape_server.py, python3) serves: OpenMetrics, gzip, truncated, over the
 * series limit, over the body limit (a gzip bomb too), missing, never
 * answered. A peer that cannot run skips its test.
 */
#include "agent/curl_api.h"
#include "agent/pollsters/scrape.h"
#include "harness/harness.h"

#include <math.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static bool have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

typedef struct scraped {
    int rc;
    char err[1024];
    size_t series; /* samples named scrape.* other than the three per-target meters */
    double up, samples;
    bool found;       /* the sample looked for */
    double found_val; /* its value */
} scraped;

static bool own_meter(const char *n)
{
    return !strcmp(n, "scrape.up") || !strcmp(n, "scrape.duration") || !strcmp(n, "scrape.samples");
}

/* One poll of url with params (NULL: defaults); looks for `look` (a meter). */
static void scrape_once(const char *url, const scrape_params *params, const char *look, scraped *r)
{
    memset(r, 0, sizeof *r);
    r->up = r->samples = -1;
    scrape_params p;
    scrape_params_default(&p);
    if (params) p = *params;
    scrape_target *t = NULL;
    char err[512];
    if (scrape_target_new(url, &p, &t, err, sizeof err) != 0) fail_msg("%s", err);
    poll_target pt = {.id = (char *)url, .resource = (char *)url};
    sample_batch *b = sample_batch_new("s", 0, 0);
    assert_non_null(b);
    /* the row's steps on this thread (the row itself runs in the e2e test) */
    size_t series = 0;
    r->rc = scrape_fetch_sync(t, 0, r->err, sizeof r->err);
    if (r->rc == 0)
        r->rc = scrape_emit(t, &pt, 1000, NULL, NULL, b, &series, r->err, sizeof r->err);
    r->up = r->rc == 0;
    r->samples = r->rc == 0 ? (double)series : 0;
    for (size_t i = 0; i < b->n; i++) {
        const sample *s = &b->v[i];
        if (own_meter(s->name)) continue;
        r->series++;
        assert_true(s->n_labels >= 1);
        assert_string_equal(s->labels[0].key, "__name__");
        assert_string_equal(s->name + 7, s->labels[0].value);
        assert_string_equal(s->resource, url);
        if (look && !strcmp(s->name, look)) {
            r->found = true;
            r->found_val = s->value;
        }
    }
    sample_batch_unref(b);
    scrape_target_free(t);
}

static void expect_good(const scraped *r, const char *what, size_t min_series)
{
    if (r->rc != 0) fail_msg("%s: %s", what, r->err);
    assert_true(r->up == 1);
    assert_true(r->series >= min_series);
    assert_true(r->samples == (double)r->series);
}

static void test_node_exporter(void **state)
{
    (void)state;
    if (!have("prometheus-node-exporter"))
        th_skip_peer("prometheus-node-exporter (Debian) is not installed");
    int port = th_free_port();
    char listen[64], url[128];
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", port);
    char *argv[] = {"prometheus-node-exporter", listen, NULL};
    th_proc p;
    assert_int_equal(th_spawn(&p, "node_exporter", argv, NULL, NULL), 0);
    assert_true(th_wait_tcp("127.0.0.1", port, 10000 * th_slack()));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    scraped r;
    scrape_once(url, NULL, "scrape.node_load1", &r);
    expect_good(&r, "node_exporter", 200);
    assert_true(r.found);
    assert_true(r.found_val >= 0);
    th_stop(&p, SIGTERM, 5000 * th_slack());
}

static void test_prometheus_self(void **state)
{
    (void)state;
    if (!have("prometheus")) th_skip_peer("prometheus (Debian) is not installed");
    int port = th_free_port();
    char cfg[512], tsdb[512], a1[600], a2[600], a3[64], url[128];
    th_write_file("prometheus.yml", "global: {scrape_interval: 1h}\n", cfg, sizeof cfg);
    th_path(tsdb, sizeof tsdb, "tsdb/x");
    tsdb[strlen(tsdb) - 2] = 0;
    snprintf(a1, sizeof a1, "--config.file=%s", cfg);
    snprintf(a2, sizeof a2, "--storage.tsdb.path=%s", tsdb);
    snprintf(a3, sizeof a3, "--web.listen-address=127.0.0.1:%d", port);
    char *argv[] = {"prometheus", a1, a2, a3, NULL};
    th_proc p;
    assert_int_equal(th_spawn(&p, "prometheus", argv, NULL, NULL), 0);
    assert_true(th_wait_tcp("127.0.0.1", port, 30000 * th_slack()));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    scraped r;
    scrape_once(url, NULL, "scrape.prometheus_build_info", &r);
    expect_good(&r, "prometheus", 100);
    assert_true(r.found && r.found_val == 1);
    th_stop(&p, SIGTERM, 10000 * th_slack());
}

typedef struct body_url {
    const char *url, *needle;
} body_url;

static bool body_has(void *arg)
{
    const body_url *b = arg;
    size_t cap = 4u << 20; /* the whole page: a scraper's holds every scraped series */
    char *resp = malloc(cap), req[256];
    int port = atoi(strrchr(b->url, ':') + 1);
    snprintf(req, sizeof req, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    ssize_t n = th_tcp_request("127.0.0.1", port, req, resp, cap - 1, 2000, NULL);
    if (n > 0) resp[n] = 0;
    if (n > 0 && (size_t)n >= cap - 1) fail_msg("%s: page larger than %zu bytes", b->url, cap);
    bool found = n > 0 && strstr(resp, b->needle) != NULL;
    free(resp);
    return found;
}

/* Starts meterd (name: its files' and log's stem) with the pipeline text and
 * its API (and so its /metrics) on api_port. */
static void start_meterd(th_proc *p, const char *name, const char *pipeline_text, const char *ns,
                         int api_port)
{
    char conf[512], pipe[512], rel[128], text[2048];
    snprintf(rel, sizeof rel, "%s.yaml", name);
    th_write_file(rel, pipeline_text, pipe, sizeof pipe);
    snprintf(text, sizeof text,
             "[DEFAULT]\nreload_pipeline_config = false\nnamespaces = %s\n"
             "[polling]\ncfg_file = %s\n[api]\nport = %d\n",
             ns, pipe, api_port);
    snprintf(rel, sizeof rel, "%s.conf", name);
    th_write_file(rel, text, conf, sizeof conf);
    char *argv[] = {MeterdBinary, "-c", conf, "-f", NULL};
    assert_int_equal(th_spawn_daemon(p, name, argv, NULL, NULL), 0);
}

/* GETs url's /metrics into tmpdir/rel (the body only); 0 or -1. */
static int save_page(int port, const char *rel, char *path, size_t cap)
{
    size_t rcap = 4u << 20;
    char *resp = malloc(rcap);
    ssize_t n =
        th_tcp_request("127.0.0.1", port, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", resp,
                       rcap - 1, 5000, NULL);
    int rc = -1;
    if (n > 0) {
        resp[n] = 0;
        char *body = strstr(resp, "\r\n\r\n");
        if (body) rc = th_write_file(rel, body + 4, path, cap);
    }
    free(resp);
    return rc;
}

static void test_meterd_self(void **state)
{
    (void)state;
    char url[128];
    int api_port = th_free_port();
    th_proc p;
    start_meterd(&p, "meterd",
                 "sources:\n  - name: host\n    interval: 1\n    meters: ['host.load.*']\n"
                 "sinks:\n  - name: default\n    publishers: ['prometheus://']\n",
                 "compute", api_port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", api_port);
    body_url b = {url, "meterd_host_load_1min"};
    assert_true(th_wait_until(body_has, &b, 10000 * th_slack()));
    scraped r;
    scrape_once(url, NULL, "scrape.meterd_host_load_1min", &r);
    expect_good(&r, "meterd", 5);
    assert_true(r.found);
    th_stop(&p, SIGTERM, 10000 * th_slack());
    th_expect_clean_exit(&p, 0);
}

/* End to end: a meterd agent scrapes node_exporter with meters: ['scrape.*']
 * and its prometheus:// publisher exposes the series under their own names
 * with the instance label, next to meterd_scrape_up. */
static void test_meterd_scrapes_node_exporter(void **state)
{
    (void)state;
    if (!have("prometheus-node-exporter"))
        th_skip_peer("prometheus-node-exporter (Debian) is not installed");
    int port = th_free_port(), api_port = th_free_port();
    char listen[64], text[2048], url[128], needle[128];
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", port);
    char *ne_argv[] = {"prometheus-node-exporter", listen, NULL};
    th_proc ne, md;
    assert_int_equal(th_spawn(&ne, "node_exporter", ne_argv, NULL, NULL), 0);
    assert_true(th_wait_tcp("127.0.0.1", port, 10000 * th_slack()));
    snprintf(
        text, sizeof text,
        "sources:\n  - name: nodes\n    interval: 1\n    meters: ['scrape.node_*', 'scrape.up']\n"
        "    resources: ['http://127.0.0.1:%d/metrics']\n"
        "  - name: small\n    interval: 1\n    meters: ['scrape.up']\n"
        "    resources: ['http://127.0.0.1:%d/metrics?small']\n"
        "    parameters:\n      series_limit: 5\n"
        "sinks:\n  - name: default\n    publishers: ['prometheus://']\n",
        port, port);
    start_meterd(&md, "meterd-scraper", text, "central", api_port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", api_port);
    snprintf(needle, sizeof needle, "node_load1{instance=\"127.0.0.1:%d\",resource=", port);
    body_url b = {url, needle};
    assert_true(th_wait_until(body_has, &b, 15000 * th_slack()));
    b.needle = "meterd_scrape_up{";
    assert_true(th_wait_until(body_has, &b, 5000 * th_slack()));
    /* no scraped series under meterd's prefix; the unselected go_* not at all */
    b.needle = "meterd_node_load1";
    assert_false(body_has(&b));
    b.needle = "go_goroutines";
    assert_false(body_has(&b));
    /* the source with series_limit 5 fails its target: up 0, no series */
    snprintf(needle, sizeof needle,
             "meterd_scrape_up{resource=\"http://127.0.0.1:%d/metrics?small\",source=\"small\"} 0",
             port);
    b.needle = needle;
    assert_true(th_wait_until(body_has, &b, 5000 * th_slack()));
    /* promtool reads the re-exposed page with no remark beyond those it
     * makes on the exporter's own page (its names are not ours to fix) */
    if (have("promtool")) {
        char mine[512], theirs[512], cmd[2048];
        assert_int_equal(save_page(api_port, "page-meterd.prom", mine, sizeof mine), 0);
        assert_int_equal(save_page(port, "page-node.prom", theirs, sizeof theirs), 0);
        snprintf(cmd, sizeof cmd,
                 "promtool check metrics < '%s' > '%s.lint' 2>&1; r=$?;"
                 " promtool check metrics < '%s' > '%s.lint' 2>&1;"
                 " [ $r -eq 0 -o $r -eq 3 ] && ! grep -qvxFf '%s.lint' '%s.lint'",
                 mine, mine, theirs, theirs, theirs, mine);
        if (system(cmd) != 0) fail_msg("promtool: new remarks on meterd's page: %s.lint", mine);
    }
    th_stop(&md, SIGTERM, 10000 * th_slack());
    th_expect_clean_exit(&md, 0);
    th_stop(&ne, SIGTERM, 5000 * th_slack());
}

/* ---- malformed and oversized bodies from a plain file server ---- */
static th_proc files;
static int files_port;

static int start_files(void)
{
    char dir[512], path[512];
    th_write_file("www/good.prom", "# TYPE a counter\na_total{x=\"1\"} 3\nb NaN\nc +Inf\n", path,
                  sizeof path);
    th_write_file("www/truncated.prom", "a 1\nb{x=\"1", NULL, 0);
    char om[4096] = "";
    FILE *f = fopen(MeterdTestData "/expo/openmetrics/sample.om", "rb");
    assert_non_null(f);
    assert_true(fread(om, 1, sizeof om - 1, f) > 0);
    fclose(f);
    th_write_file("www/sample.om", om, NULL, 0);
    th_write_file("www/sample.gz.om", om, NULL, 0);
    th_write_file("www/dup.prom", "a{x=\"1\"} 1\na{x=\"1\"} 2\n", NULL, 0);
    th_write_file("www/wrongtype.prom", "# TYPE h histogram\nh_bucket 1\n", NULL, 0);
    char many[4096] = "";
    for (int i = 0; i < 50; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "m{i=\"%d\"} %d\n", i, i);
    th_write_file("www/many.prom", many, NULL, 0);
    size_t n = 200000;
    char *huge = malloc(n + 64);
    strcpy(huge, "a{x=\"");
    memset(huge + 5, 'v', n);
    strcpy(huge + 5 + n, "\"} 1\n");
    th_write_file("www/hugelabel.prom", huge, NULL, 0);
    free(huge);
    snprintf(dir, sizeof dir, "%.*s", (int)(strlen(path) - strlen("/good.prom")), path);
    files_port = th_free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", files_port);
    char *argv[] = {"python3", MeterdSourceDir "/tests/agent/scrape_server.py", dir, port, NULL};
    if (th_spawn(&files, "httpserver", argv, NULL, NULL) != 0) return -1;
    return th_wait_tcp("127.0.0.1", files_port, 10000 * th_slack()) ? 0 : -1;
}

static void expect_failed(const char *file, const scrape_params *params, const char *why)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/%s", files_port, file);
    scraped r;
    scrape_once(url, params, NULL, &r);
    if (r.rc != -1 || !strstr(r.err, why))
        fail_msg("%s: rc %d, err \"%s\", expected \"%s\"", file, r.rc, r.err, why);
    assert_true(r.up == 0);
    assert_true(r.samples == 0);
    assert_int_equal(r.series, 0); /* nothing half-published */
}

static void test_bodies(void **state)
{
    (void)state;
    if (!have("python3")) th_skip_peer("python3 (for a plain HTTP file server) is not installed");
    assert_int_equal(start_files(), 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/good.prom", files_port);
    scraped r;
    scrape_once(url, NULL, "scrape.b", &r);
    expect_good(&r, "good", 3);
    assert_true(r.found && isnan(r.found_val));

    /* OpenMetrics by its Content-Type: _created dropped, exemplars ignored */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/sample.om", files_port);
    scrape_once(url, NULL, "scrape.foo_bucket", &r);
    expect_good(&r, "OpenMetrics", 16);
    assert_int_equal(r.series, 16);
    /* gzip-encoded: libcurl decodes what it asked for */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/sample.gz.om", files_port);
    scrape_once(url, NULL, "scrape.weird", &r);
    expect_good(&r, "gzip", 16);
    assert_true(r.found && isnan(r.found_val));

    expect_failed("truncated.prom", NULL, "text body, line 2:7: body ends in the middle");
    expect_failed("dup.prom", NULL, "line 2:1: duplicate series a");
    expect_failed("wrongtype.prom", NULL, "histogram h: series without the \"le\" label");
    expect_failed("hugelabel.prom", NULL, "line longer than 65536 bytes");
    expect_failed("missing.prom", NULL, "HTTP status 404 (expected 200)");
    scrape_params p;
    scrape_params_default(&p);
    p.series_limit = 20;
    expect_failed("many.prom", &p, "line 21:1: more than 20 series (the series limit)");
    p.series_limit = 50;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/many.prom", files_port);
    scrape_once(url, &p, NULL, &r);
    expect_good(&r, "many", 50);
    scrape_params_default(&p);
    p.body_limit = 1024;
    expect_failed("hugelabel.prom", &p, "body larger than the limit of 1024 bytes (body_limit)");
    /* the limit is on decompressed bytes: 16 KiB of gzip that inflates to 16 MiB */
    p.body_limit = 1 << 20;
    expect_failed("bomb", &p, "body larger than the limit of 1048576 bytes (body_limit)");
    /* a server that accepts and never answers costs the timeout, then up = 0 */
    scrape_params_default(&p);
    p.timeout_ms = 300;
    expect_failed("hang", &p, "imed out");
    /* nobody listening: a measurement (up = 0) and the reason */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", th_free_port());
    scrape_once(url, NULL, NULL, &r);
    assert_int_equal(r.rc, -1);
    assert_true(r.up == 0);
    assert_non_null(strstr(r.err, url));
}

/* The fetch driven by a multi handle that is not the target's (what the
 * asynchronous contract's engine does): prepare, run elsewhere, finish, emit;
 * two targets in flight on one multi handle at once. */
static bool select_not_b(void *ctx, const char *meter)
{
    (void)ctx;
    return strcmp(meter, "scrape.b") != 0;
}

static void test_external_multi(void **state)
{
    (void)state;
    if (files_port == 0) th_skip_peer("the file server of test_bodies did not run");
    char err[512], u1[128], u2[128];
    const curl_api *api = curl_api_get(err, sizeof err);
    assert_non_null(api);
    scrape_params p;
    scrape_params_default(&p);
    scrape_target *t[2];
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/good.prom", files_port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/sample.gz.om", files_port);
    assert_int_equal(scrape_target_new(u1, &p, &t[0], err, sizeof err), 0);
    assert_int_equal(scrape_target_new(u2, &p, &t[1], err, sizeof err), 0);
    CURLM *m = api->multi_init();
    CURL *e[2];
    for (int i = 0; i < 2; i++) {
        e[i] = scrape_fetch_prepare(t[i], i == 0 ? 5000 : 0);
        assert_int_equal(api->multi_add_handle(m, e[i]), CURLM_OK);
    }
    CURLcode res[2] = {CURLE_OK, CURLE_OK};
    int done = 0;
    while (done < 2) {
        int running, left;
        assert_int_equal(api->multi_perform(m, &running), CURLM_OK);
        CURLMsg *msg;
        while ((msg = api->multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE) {
                res[msg->easy_handle == e[1]] = msg->data.result;
                done++;
            }
        if (done < 2) api->multi_poll(m, NULL, 0, 1000, NULL);
    }
    const char *urls[2] = {u1, u2};
    size_t want[2] = {2, 16}; /* good.prom: a_total and c; b is not selected */
    for (int i = 0; i < 2; i++) {
        api->multi_remove_handle(m, e[i]);
        assert_int_equal(scrape_fetch_finish(t[i], res[i], err, sizeof err), 0);
        sample_batch *b = sample_batch_new("s", 0, 0);
        poll_target pt = {.id = (char *)urls[i], .resource = (char *)urls[i]};
        size_t series;
        if (scrape_emit(t[i], &pt, 5, select_not_b, NULL, b, &series, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_int_equal(b->n, want[i]);
        assert_int_equal(series, i == 0 ? 3 : 16);
        sample_batch_unref(b);
        scrape_target_free(t[i]);
    }
    api->multi_cleanup(m);
    th_stop(&files, SIGTERM, 5000 * th_slack());
}

typedef struct out_needle {
    const char *path, *needle;
} out_needle;

static bool out_has(void *arg)
{
    const out_needle *o = arg;
    FILE *f = fopen(o->path, "r");
    char line[8192];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, o->needle) != NULL;
    if (f) fclose(f);
    return found;
}

/* A standalone agent reads a source's file_sd document at each reload: the
 * targets it lists are scraped with their labels (the "__" ones consumed),
 * and after the document changes, SIGHUP brings the new list. */
static void test_file_sd_reload(void **state)
{
    (void)state;
    if (!have("python3")) th_skip_peer("python3 (for a plain HTTP file server) is not installed");
    assert_int_equal(start_files(), 0);
    char sd[2048], out[512];
    th_path(out, sizeof out, "sd-out.jsonl");
    snprintf(sd, sizeof sd,
             "[{\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"__metrics_path__\": "
             "\"/good.prom\", \"team\": \"a\"}}]",
             files_port);
    th_write_file("sd-targets.json", sd, NULL, 0);
    char text[1024];
    snprintf(text, sizeof text,
             "sources:\n  - name: exporters\n    interval: 1\n    meters: [scrape.up, "
             "scrape.a_total, scrape.m]\n    file_sd: [sd-targets.json]\n"
             "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             out);
    th_proc p;
    start_meterd(&p, "meterd-file-sd", text, "central", th_free_port());
    char needle[256];
    snprintf(needle, sizeof needle,
             "\"name\":\"scrape.a_total\",\"type\":\"cumulative\",\"unit\":\"\",\"value\":3,"
             "\"resource\":\"http://127.0.0.1:%d/good.prom\"",
             files_port);
    out_needle o = {out, needle};
    assert_true(th_wait_until(out_has, &o, 15000 * th_slack()));
    o.needle = "\"labels\":{\"__name__\":\"a_total\",\"x\":\"1\",\"team\":\"a\"}";
    assert_true(th_wait_until(out_has, &o, 5000 * th_slack()));

    /* a second target with other labels; the first one's changed */
    snprintf(sd, sizeof sd,
             "[{\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"__metrics_path__\": "
             "\"/good.prom\", \"team\": \"b\"}},"
             " {\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"__metrics_path__\": "
             "\"/many.prom\", \"i\": \"overridden\"}}]",
             files_port, files_port);
    th_write_file("sd-targets.json", sd, NULL, 0);
    assert_int_equal(th_signal(&p, SIGHUP), 0);
    o.needle = "\"labels\":{\"__name__\":\"a_total\",\"x\":\"1\",\"team\":\"b\"}";
    assert_true(th_wait_until(out_has, &o, 15000 * th_slack()));
    snprintf(needle, sizeof needle, "\"resource\":\"http://127.0.0.1:%d/many.prom\"", files_port);
    o.needle = needle;
    assert_true(th_wait_until(out_has, &o, 5000 * th_slack()));
    /* a label the series has itself keeps the scraped value */
    o.needle = "\"labels\":{\"__name__\":\"m\",\"i\":\"7\"}}";
    assert_true(th_wait_until(out_has, &o, 5000 * th_slack()));
    o.needle = ",\"i\":\"overridden\""; /* (scrape.up, with no label of its own, has it) */
    assert_false(out_has(&o));
    th_stop(&p, SIGTERM, 10000 * th_slack());
    th_expect_clean_exit(&p, 0);
    th_stop(&files, SIGTERM, 5000 * th_slack());
}

static void test_params(void **state)
{
    (void)state;
    scrape_params p;
    char err[256];
    scrape_params_default(&p);
    scrape_target *t;
    assert_int_equal(scrape_target_new("tcp://a:1", &p, &t, err, sizeof err), -1);
    assert_string_equal(err, "resource \"tcp://a:1\": expected http(s)://host:port/path");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_external_multi),
        cmocka_unit_test(test_node_exporter),
        cmocka_unit_test(test_prometheus_self),
        cmocka_unit_test(test_meterd_self),
        cmocka_unit_test(test_meterd_scrapes_node_exporter),
        cmocka_unit_test(test_file_sd_reload),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
