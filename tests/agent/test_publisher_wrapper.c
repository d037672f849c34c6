/*
 * test_publisher_wrapper.c: the asynchronous wrapper — URLs as plugins get them, plugin
 * lookup, drop-oldest accounting at the queue bound, flush and close that
 * deliver everything queued, concurrent submitters, and a close bounded by
 * flush_timeout_ms when the receiver is dead. Real receivers: files and the
 * test's HTTP server.
 */
#include "agent/publisher.h"
#include "registry/registry.h"
#include "harness/harness.h"
#include "publisher_testutil.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* What a plugin's open() gets: the pipeline's parse with the registry's
 * schemes, defaults filled in. */
static void parse_ok(const char *url, const char *scheme, const char *host, int port,
                     const char *path, const char *query)
{
    registry_options ro;
    assert_int_equal(registry_pipeline_options(&ro, NULL, 0), 0);
    pipeline_publisher u;
    pipeline_diags d = {0};
    if (pipeline_publisher_parse(url, &ro.opt, &u, &d) != 0)
        fail_msg("%s: %s", url, d.count ? d.items[0].message : "?");
    assert_false(u.foreign);
    assert_string_equal(u.url, url);
    assert_string_equal(u.scheme, scheme);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_string_equal(u.path, path);
    assert_string_equal(u.query, query);
    pipeline_publisher_clear(&u);
    pipeline_diags_free(&d);
}

static void open_bad(const char *url, const char *why)
{
    char err[256] = "";
    publisher *p = publisher_open_url(url, NULL, err, sizeof err);
    if (p) publisher_close(p);
    assert_null(p);
    if (!strstr(err, why)) fail_msg("%s: '%s' lacks '%s'", url, err, why);
}

static void test_url_parse(void **state)
{
    (void)state;
    parse_ok("file:///var/log/m.jsonl", "file", "", 0, "/var/log/m.jsonl", "");
    parse_ok("udp://10.0.0.1:4952", "udp", "10.0.0.1", 4952, "", "");
    parse_ok("statsd://[::1]:8125?prefix=x", "statsd", "::1", 8125, "", "prefix=x");
    parse_ok("HTTPS://collector.example:8443/v1/ingest?timeout=5&a=b", "https", "collector.example",
             8443, "/v1/ingest", "timeout=5&a=b");
    /* the registry's defaults reach the plugin (issue 10: validated, then refused) */
    parse_ok("http://h/p", "http", "h", 80, "/p", "");
    parse_ok("https://h", "https", "h", 443, "/", "");
    parse_ok("udp://127.0.0.1", "udp", "127.0.0.1", 4952, "", "");
    parse_ok("statsd://127.0.0.1", "statsd", "127.0.0.1", 8125, "", "");
    parse_ok("prometheus://", "prometheus", "", 0, "", "");
    parse_ok("prometheus://?max_age=600", "prometheus", "", 0, "", "max_age=600");
    open_bad("no-scheme", "scheme");
    open_bad("://x", "the scheme must start with a letter");
    open_bad("ud p://x:1", "the scheme must start with a letter");
    open_bad("udp://h:0", "port");
    open_bad("udp://h:65536", "port");
    open_bad("udp://h:12x", "port");
    open_bad("udp://::1:5", "port");
    open_bad("udp://[::1:5", "']'");
    /* credentials are refused, and never reach a message */
    char err[256] = "";
    assert_null(publisher_open_url("http://me:secret@h:8443/x?token=abc", NULL, err, sizeof err));
    assert_null(strstr(err, "me:secret"));
    assert_non_null(strstr(err, "credentials"));
    assert_non_null(strstr(err, "http://***@h:8443/x"));
}

/*
 * Issue 10 regression: what `meterctl validate` accepts (the registry's
 * options) opens in meterd, from the parsed publishers of the pipeline (no
 * second parse). Before, udp://127.0.0.1 and statsd://127.0.0.1 validated and
 * the agent refused them ("expected host:port").
 */
static void test_validated_defaults_open(void **state)
{
    (void)state;
    const char *yaml = "sources: [{name: s, meters: ['*'], sinks: [out]}]\n"
                       "sinks: [{name: out, publishers: ['udp://127.0.0.1', "
                       "'statsd://127.0.0.1', 'http://127.0.0.1', 'prometheus://']}]\n";
    registry_options ro;
    assert_int_equal(registry_pipeline_options(&ro, NULL, 0), 0);
    pipeline *p = NULL;
    pipeline_diags d = {0};
    assert_int_equal(pipeline_parse(yaml, strlen(yaml), "t.yaml", &ro.opt, &p, &d), 0);
    const pipeline_sink *k = pipeline_sink_find(p, "out");
    assert_int_equal(k->n_publishers, 4);
    for (size_t i = 0; i < k->n_publishers; i++) {
        char err[256] = "";
        publisher *pb = publisher_open(&k->publishers[i], NULL, err, sizeof err);
        if (!pb) fail_msg("%s validates but does not open: %s", k->publishers[i].url, err);
        publisher_close(pb);
    }
    pipeline_free(p);
    pipeline_diags_free(&d);
}

static void test_unknown_scheme(void **state)
{
    (void)state;
    char err[256];
    assert_null(publisher_open_url("gopher://x:70", NULL, err, sizeof err));
    assert_non_null(strstr(err, "scheme 'gopher' is not one of meterd's"));
    for (size_t i = 0; publisher_plugins[i]; i++)
        assert_non_null(publisher_plugins[i]->publish);
    /* every registry scheme has a plugin and every plugin a registry row */
    for (size_t i = 0; registry_publishers[i]; i++) {
        bool found = false;
        for (size_t k = 0; publisher_plugins[k]; k++)
            found |= strcmp(publisher_plugins[k]->scheme, registry_publishers[i]->url.name) == 0;
        if (!found) fail_msg("scheme %s has no plugin", registry_publishers[i]->url.name);
    }
    for (size_t k = 0; publisher_plugins[k]; k++)
        assert_non_null(registry_publisher_find(publisher_plugins[k]->scheme));
}

/* Many batches queued, then close at once: all of them reach the receiver. */
static void test_close_delivers_queue(void **state)
{
    (void)state;
    tu_http h;
    assert_int_equal(tu_http_start(&h, 200), 0);
    char url[128], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", h.port);
    publisher_options o = {.queue_batches = 1000, .flush_timeout_ms = 20000};
    publisher *p = publisher_open_url(url, &o, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(publisher_url_string(p), url);
    for (int i = 0; i < 300; i++) {
        sample_batch *b = tu_batch(2, i);
        publisher_submit(p, b);
        sample_batch_unref(b);
    }
    publisher_close(p);
    assert_int_equal(tu_http_count(&h), 300);
    tu_http_stop(&h);
}

typedef struct {
    publisher *p;
    int id, n;
} submitter;

static void *submit_thread(void *arg)
{
    submitter *s = arg;
    for (int i = 0; i < s->n; i++) {
        sample_batch *b = tu_batch(3, s->id * 100000 + i);
        publisher_submit(s->p, b);
        sample_batch_unref(b);
    }
    return NULL;
}

/*
 * Four threads submit at once into a small queue: every batch is either
 * published or counted as dropped; lines in the file match the count.
 */
static void test_concurrent_accounting(void **state)
{
    (void)state;
    char path[512], url[600], err[256];
    th_path(path, sizeof path, "conc.jsonl");
    snprintf(url, sizeof url, "file://%s", path);
    publisher_options o = {.queue_batches = 2};
    publisher *p = publisher_open_url(url, &o, err, sizeof err);
    assert_non_null(p);
    enum { T = 4, N = 500 };
    pthread_t th[T];
    submitter s[T];
    for (int i = 0; i < T; i++) {
        s[i] = (submitter){p, i, N};
        pthread_create(&th[i], NULL, submit_thread, &s[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    publisher_flush(p, 10000);
    publisher_stats st;
    publisher_get_stats(p, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.batches + st.dropped_batches, (uint64_t)(T * N));
    assert_int_equal(st.samples + st.dropped_samples, (uint64_t)(T * N * 3));
    publisher_close(p);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t lines = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    fclose(f);
    assert_int_equal(lines, st.samples);
}

/* Flush with nothing queued returns at once; stats follow a publish. */
static void test_flush_empty_and_stats(void **state)
{
    (void)state;
    char path[512], url[600], err[256];
    th_path(path, sizeof path, "empty.jsonl");
    snprintf(url, sizeof url, "file://%s", path);
    publisher *p = publisher_open_url(url, NULL, err, sizeof err);
    assert_non_null(p);
    int64_t t0 = th_now_ms();
    publisher_flush(p, 5000); /* nothing queued: returns at once */
    if (!th_slow()) assert_true(th_now_ms() - t0 < 1000);
    publisher_stats st;
    publisher_get_stats(p, &st);
    assert_int_equal(st.batches, 0);
    assert_int_equal(st.last_ok_ms, 0);
    sample_batch *b = tu_batch(1, 1);
    publisher_submit(p, b);
    sample_batch_unref(b);
    publisher_flush(p, 5000);
    publisher_get_stats(p, &st);
    assert_int_equal(st.batches, 1);
    assert_true(st.last_ok_ms > 1700000000000);
    publisher_close(p);
    publisher_close(NULL);
}

/* Dead receiver, retrying: close gives up after flush_timeout_ms. */
static void test_close_bounded(void **state)
{
    (void)state;
    char url[128], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", th_free_port());
    publisher_options o = {.retry_initial_ms = 1000, .retry_max_ms = 1000, .flush_timeout_ms = 150};
    publisher *p = publisher_open_url(url, &o, err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < 5; i++) {
        sample_batch *b = tu_batch(1, i);
        publisher_submit(p, b);
        sample_batch_unref(b);
    }
    int64_t t0 = th_now_ms();
    publisher_close(p);
    int64_t took = th_now_ms() - t0;
    assert_true(took >= 100);
    if (!th_slow()) assert_true(took < 150 + 800);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_unknown_scheme),
        cmocka_unit_test(test_validated_defaults_open),
        cmocka_unit_test(test_close_delivers_queue),
        cmocka_unit_test(test_concurrent_accounting),
        cmocka_unit_test(test_flush_empty_and_stats),
        cmocka_unit_test(test_close_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
