/*
 * test_publisher_pipeline.c: what `meterctl validate` accepts is what meterd
 * runs (issue 10). One pipeline file goes through the real meterctl binary
 * and then into an in-process agent; its udp:// and statsd:// publishers must
 * deliver polled samples to receivers on loopback. With explicit (free)
 * ports always; with the schemes' default ports (udp 4952, statsd 8125: no
 * port in the URL) when both are free here, else that case is skipped.
 * And a sample goes once to each distinct publisher of a source's sinks,
 * however many there are (sinks_publish remembered only the first 16); and
 * a publisher URL names a secret that the agent reads from its 0600
 * secrets_file (the plugin's process hook gets it, the pipeline never).
 */
#include "agent_fixture.h"
#include "harness/harness.h"
#include "publisher_testutil.h"
#include "test_pollster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const pollster_plugin *const extra[] = {&test_pollster, NULL};

/* Runs `meterctl validate FILE`; returns its exit status, output in out. */
static int validate(const char *path, char *out, size_t cap)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' validate '%s' 2>&1", MeterctlPath, path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    int st = pclose(f);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* Waits for a datagram holding the test pollster's meter. */
static void expect_sample(tu_udp *r, const char *what, fixture *f)
{
    char buf[65536];
    int64_t until = th_now_ms() + 15000;
    while (th_now_ms() < until) {
        if (tu_udp_recv(r, buf, sizeof buf, 1000) > 0 && strstr(buf, "test.clock.value")) return;
    }
    char err[512] = "";
    fx_revision(f, err, sizeof err);
    fail_msg("%s: no sample arrived (pipeline error: '%s')", what, err);
}

static void run_case(const char *udp_url, const char *statsd_url, tu_udp *ru, tu_udp *rs)
{
    char yaml[1024], path[512], out[4096];
    snprintf(yaml, sizeof yaml,
             "sources:\n  - name: e2e\n    interval: 1\n    meters: [test.clock.value]\n"
             "    resources: [e2e-target]\n    sinks: [out]\n"
             "sinks:\n  - name: out\n    publishers: ['%s', '%s']\n",
             udp_url, statsd_url);
    th_write_file("e2e.yaml", yaml, path, sizeof path);
    int rc = validate(path, out, sizeof out);
    /* (a warning names test.clock.value: the test's pollster is no registry row) */
    if (rc != 0 || strstr(out, "\nok ") == NULL) fail_msg("validate: exit %d\n%s", rc, out);
    tp_reset();
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    expect_sample(ru, udp_url, &f);
    expect_sample(rs, statsd_url, &f);
    fx_stop(&f);
}

static void test_explicit_ports(void **state)
{
    (void)state;
    tu_udp ru, rs;
    assert_int_equal(tu_udp_open(&ru), 0);
    assert_int_equal(tu_udp_open(&rs), 0);
    char u[64], s[64];
    snprintf(u, sizeof u, "udp://127.0.0.1:%d", ru.port);
    snprintf(s, sizeof s, "statsd://127.0.0.1:%d", rs.port);
    run_case(u, s, &ru, &rs);
    tu_udp_close(&ru);
    tu_udp_close(&rs);
}

static void test_default_ports(void **state)
{
    (void)state;
    tu_udp ru, rs;
    int a = tu_udp_open_fixed(&ru, 4952), b = tu_udp_open_fixed(&rs, 8125);
    if (a != 0 || b != 0) {
        tu_udp_close(&ru);
        tu_udp_close(&rs);
        th_skip_peer("UDP port 4952 or 8125 (the default ports) is taken on this machine");
    }
    run_case("udp://127.0.0.1", "statsd://127.0.0.1", &ru, &rs);
    tu_udp_close(&ru);
    tu_udp_close(&rs);
}

static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static bool polled_twice(void *arg)
{
    (void)arg;
    return tp_done("dedup-target") >= 2;
}

static void test_shared_publisher_once(void **state)
{
    (void)state;
    enum { N = 20 };
    const char *dir = th_tmpdir();
    char yaml[16384];
    size_t n = (size_t)snprintf(yaml, sizeof yaml,
                                "sources:\n  - name: dedup\n    interval: 1\n"
                                "    meters: [test.clock.value]\n    resources: [dedup-target]\n"
                                "    sinks: [");
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "%ss%02d", i ? ", " : "", i);
    n += (size_t)snprintf(yaml + n, sizeof yaml - n, "]\nsinks:\n");
    /* twenty distinct publishers, and one more shared by the last two sinks */
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(yaml + n, sizeof yaml - n,
                              "  - name: s%02d\n    publishers: ['file://%s/f%02d.jsonl'%s%s%s]\n",
                              i, dir, i, i >= N - 2 ? ", 'file://" : "", i >= N - 2 ? dir : "",
                              i >= N - 2 ? "/shared.jsonl'" : "");
    assert_true(n < sizeof yaml);
    tp_reset();
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    assert_true(th_wait_until(polled_twice, NULL, 15000));
    fx_stop(&f); /* flushes every publisher */
    char first[512], shared[512];
    snprintf(first, sizeof first, "%s/f00.jsonl", dir);
    snprintf(shared, sizeof shared, "%s/shared.jsonl", dir);
    size_t once = count_lines(first);
    assert_true(once >= 2);
    assert_int_equal(count_lines(shared), once);
}

static bool got_request(void *arg)
{
    return tu_http_count(arg) >= 1;
}

static void test_http_token_from_secrets_file(void **state)
{
    (void)state;
    char secrets_path[512], conf[700], yaml[512];
    th_write_file("secrets", "# name = value\ncollector = s3cr3t-token\n", secrets_path,
                  sizeof secrets_path);
    assert_int_equal(chmod(secrets_path, 0600), 0);
    tu_http h;
    assert_int_equal(tu_http_start(&h, 200), 0);
    snprintf(yaml, sizeof yaml,
             "sources:\n  - name: tok\n    interval: 1\n    meters: [test.clock.value]\n"
             "    resources: [tok-target]\n"
             "sinks:\n  - name: default\n    publishers: "
             "['http://127.0.0.1:%d/ingest?token_secret=collector']\n",
             h.port);
    snprintf(conf, sizeof conf, "[DEFAULT]\nsecrets_file = %s\n", secrets_path);
    tp_reset();
    fixture f;
    fx_start(&f, yaml, extra, conf);
    assert_true(th_wait_until(got_request, &h, 15000));
    fx_stop(&f);
    pthread_mutex_lock(&h.mu);
    bool auth = strstr(h.last_head, "Authorization: Bearer s3cr3t-token") != NULL;
    bool leaked = strstr(h.last_head, "token_secret") != NULL;
    pthread_mutex_unlock(&h.mu);
    assert_true(auth);
    assert_false(leaked); /* our option, not the receiver's */
    tu_http_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explicit_ports),
        cmocka_unit_test(test_default_ports),
        cmocka_unit_test(test_shared_publisher_once),
        cmocka_unit_test(test_http_token_from_secrets_file),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
