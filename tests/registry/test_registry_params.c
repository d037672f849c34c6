/* test_registry_params.c -- a source's `parameters:` as meterd and meterctl
 * validate them: known to a pollster the source selects, well-typed for it,
 * every refusal at the value's line:column; parameters in the digest (a
 * change is a changed source) and absent from it when there are none; and
 * the selection of a pollster with dynamic meters (scrape.*). */
#include "registry/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static registry_options ro;

static int parse(const char *text, pipeline **p, pipeline_diags *d)
{
    registry_pipeline_options(&ro, NULL, 0);
    return pipeline_parse(text, strlen(text), "p.yaml", &ro.opt, p, d);
}

static pipeline *parse_ok(const char *text)
{
    pipeline *p = NULL;
    pipeline_diags d = {0};
    if (parse(text, &p, &d) != 0) {
        char buf[4096];
        pipeline_diags_format(&d, buf, sizeof buf);
        fail_msg("expected valid:\n%s\n%s", text, buf);
    }
    pipeline_diags_free(&d);
    return p;
}

/* Expects exactly one error, at line:col, containing fragment. */
static void expect_error(const char *text, int line, int col, const char *fragment)
{
    pipeline *p = NULL;
    pipeline_diags d = {0};
    int rc = parse(text, &p, &d);
    char buf[4096];
    pipeline_diags_format(&d, buf, sizeof buf);
    if (rc == 0 || d.errors != 1) fail_msg("expected one error for:\n%s\ngot:\n%s", text, buf);
    for (size_t i = 0; i < d.count; i++) {
        const pipeline_diag *g = &d.items[i];
        if (g->severity != PIPELINE_ERROR) continue;
        if (g->line != line || g->column != col || !strstr(g->message, fragment))
            fail_msg("expected %d:%d '%s', got:\n%s", line, col, fragment, buf);
    }
    pipeline_diags_free(&d);
}

#define SRC                                                                                        \
    "sources:\n  - name: web\n    interval: 10\n    meters: ['http.*']\n"                          \
    "    resources: ['https://example.org/']\n"

static void test_valid_parameters(void **state)
{
    (void)state;
    pipeline *p = parse_ok(SRC "    parameters:\n"
                               "      timeout: 2s\n"
                               "      method: HEAD\n"
                               "      valid_status_codes: [200, 301]\n"
                               "      headers: {Host: example.org, X-Probe: '1'}\n"
                               "      body_must_match: 'ok|fine'\n"
                               "      follow_redirects: 0\n"
                               "      insecure: true\n"
                               "      ip_protocol: ip6\n");
    const pipeline_source *s = &p->sources[0];
    assert_int_equal(s->n_params, 8);
    /* sorted by name */
    assert_string_equal(s->params[0].name, "body_must_match");
    const pipeline_param *h = pipeline_param_find(s->params, s->n_params, "headers");
    assert_non_null(h);
    assert_int_equal(h->kind, PIPELINE_PARAM_MAP);
    assert_int_equal(h->n_items, 4);
    assert_string_equal(h->items[2], "X-Probe");
    const pipeline_param *st = pipeline_param_find(s->params, s->n_params, "valid_status_codes");
    assert_int_equal(st->kind, PIPELINE_PARAM_LIST);
    assert_int_equal(st->n_items, 2);
    assert_int_equal(registry_param_ms(&registry_http_probe, s->params, s->n_params, "timeout"),
                     2000);
    assert_string_equal(registry_param_str(&registry_http_probe, s->params, s->n_params, "method"),
                        "HEAD");
    /* a default where the source says nothing */
    assert_string_equal(
        registry_param_str(&registry_http_probe, s->params, s->n_params, "reuse_connections"),
        "false");
    assert_non_null(strstr(p->canonical, "\"parameters\":{\"body_must_match\":\"ok|fine\""));
    pipeline_free(p);
    /* a scalar is a list of one */
    p = parse_ok(SRC "    parameters: {valid_status_codes: 204}\n");
    pipeline_free(p);
}

static void test_digest(void **state)
{
    (void)state;
    pipeline *none = parse_ok(SRC);
    pipeline *a = parse_ok(SRC "    parameters: {timeout: 2s}\n");
    pipeline *b = parse_ok(SRC "    parameters: {timeout: 3s}\n");
    pipeline *a2 = parse_ok(SRC "    parameters:\n      timeout: \"2s\"\n");
    /* no parameters: no key at all, so digests from before parameters stay */
    assert_null(strstr(none->canonical, "parameters"));
    assert_memory_not_equal(none->sources[0].digest, a->sources[0].digest, 32);
    assert_memory_not_equal(a->sources[0].digest, b->sources[0].digest, 32);
    assert_memory_equal(a->sources[0].digest, a2->sources[0].digest, 32);
    pipeline_diff d;
    assert_int_equal(pipeline_diff_compute(a, b, &d), 0);
    assert_int_equal(d.n_sources, 1);
    assert_int_equal(d.sources[0].change, PIPELINE_CHANGED);
    pipeline_diff_free(&d);
    pipeline_free(none);
    pipeline_free(a);
    pipeline_free(b);
    pipeline_free(a2);
}

static void test_refusals_with_positions(void **state)
{
    (void)state;
    expect_error(SRC "    parameters:\n      timeuot: 2s\n", 7, 16,
                 "parameter 'timeuot': unknown parameter (the pollsters this source selects "
                 "take: method, timeout,");
    expect_error(SRC "    parameters:\n      timeout: soon\n", 7, 16,
                 "parameter 'timeout': expected a duration");
    expect_error(SRC "    parameters:\n      timeout: 20m\n", 7, 16,
                 "must be between 1 ms and 600000 ms");
    expect_error(SRC "    parameters:\n      method: POST\n", 7, 15,
                 "expected one of GET|HEAD, got \"POST\"");
    expect_error(SRC "    parameters:\n      valid_status_codes: [200, 999]\n", 7, 27,
                 "item 2: must be between 100 and 599");
    expect_error(SRC "    parameters:\n      headers: [a, b]\n", 7, 16,
                 "expected a mapping, found a list");
    expect_error(SRC "    parameters:\n      body_must_match: '(a'\n", 7, 24,
                 "not a valid extended regular expression");
    expect_error(SRC "    parameters:\n      follow_redirects: 100\n", 7, 25,
                 "must be between 0 and 50");
    expect_error(SRC "    parameters:\n      insecure: maybe\n", 7, 17, "expects true or false");
    expect_error(SRC "    parameters:\n      method: [GET]\n", 7, 15,
                 "expected a single value, found a list");
    expect_error(SRC "    parameters:\n      method:\n", 7, 14, "has no value");
    /* a header with a line break would smuggle a second header into the request */
    expect_error(SRC "    parameters:\n      headers: {X-A: \"a\\r\\nX-B: b\"}\n", 7, 22,
                 "without control characters");
    expect_error(SRC "    parameters:\n      timeout: 1s\n      timeout: 2s\n", 8, 7,
                 "duplicate parameter 'timeout'");
    expect_error(SRC "    parameters: [timeout]\n", 6, 17, "expected a mapping of parameter names");
    /* a source that selects no pollster taking parameters */
    expect_error("sources:\n  - name: t\n    interval: 10\n    meters: [host.load.1min]\n"
                 "    parameters: {timeout: 2s}\n",
                 5, 27, "no pollster this source selects takes any");
    /* each pollster's own bounds: tcp.connect's timeout is at most 10 s */
    expect_error("sources:\n  - name: t\n    interval: 10\n    meters: [tcp.connect.up]\n"
                 "    resources: ['tcp://h:1']\n    parameters: {timeout: 20s}\n",
                 6, 27,
                 "must be between 1 ms and 10000 ms, got 20000 ms (tcp.connect: connect timeout)");
    /* selected by both: the value must suit each pollster that declares it */
    expect_error("sources:\n  - name: t\n    interval: 10\n    meters: ['tcp.*', 'http.*']\n"
                 "    parameters: {timeout: 30s}\n",
                 5, 27, "(tcp.connect: connect timeout)");
}

static const char *const scrape_fixed[] = {"scrape.up", "scrape.duration", NULL};
static const registry_pollster scrape_row = {
    .name = "scrape.test",
    .ns = "central",
    .meters = scrape_fixed,
    .dynamic_meters = "scrape.*",
};

static bool selects(char **meters, size_t n)
{
    pipeline_source s = {.meters = meters, .n_meters = n};
    return registry_pollster_selected(&scrape_row, &s);
}

static void test_dynamic_selection(void **state)
{
    (void)state;
    char *go[] = {"scrape.go_*"}, *none[] = {"!scrape.*"}, *host[] = {"host.*"}, *all[] = {"*"},
         *not_host[] = {"!host.*"}, *exact[] = {"scrape.node_cpu_seconds"}, *near[] = {"scrape"},
         *star[] = {"scr*"};
    assert_true(selects(go, 1));
    assert_false(selects(none, 1));
    assert_false(selects(host, 1));
    assert_true(selects(all, 1));
    assert_true(selects(not_host, 1));
    assert_true(selects(exact, 1));
    assert_false(selects(near, 1));
    assert_true(selects(star, 1));

    /* known meters: a family entry makes its members known (no warning) */
    const char *known[] = {"scrape.up", "scrape.*"};
    pipeline_options o = {.known_meters = known, .n_known_meters = 2};
    const char *text = "sources:\n  - name: s\n    interval: 10\n"
                       "    meters: ['scrape.node_cpu', 'scrape.go_*', 'other.x']\n";
    pipeline *p = NULL;
    pipeline_diags d = {0};
    assert_int_equal(pipeline_parse(text, strlen(text), "k.yaml", &o, &p, &d), 0);
    assert_int_equal(d.count, 1); /* only other.x is unknown */
    assert_non_null(strstr(d.items[0].message, "other.x"));
    pipeline_diags_free(&d);
    pipeline_free(p);
}

static void test_params_copy(void **state)
{
    (void)state;
    pipeline *p = parse_ok(SRC "    parameters: {headers: {A: b}, timeout: 2s}\n");
    pipeline_param *c = NULL;
    assert_int_equal(pipeline_params_copy(p->sources[0].params, 2, &c), 0);
    pipeline_free(p);
    assert_string_equal(c[0].name, "headers");
    assert_string_equal(c[0].items[1], "b");
    assert_string_equal(c[1].items[0], "2s");
    pipeline_params_free(c, 2);
}

/* A malformed ipmi:// resource is refused at validation, at its own
 * line:col, when the source selects ipmi.sensors; the same text in a source
 * of another pollster, or another scheme's resource, is not ipmi.sensors'
 * affair. (Before: accepted, and every poll of it failed.) */
static void test_ipmi_resources(void **state)
{
    (void)state;
    static const char head[] = "sources:\n  - name: bmcs\n    interval: 60\n"
                               "    meters: ['hardware.ipmi.*']\n    resources:\n";
    char text[1024];
    snprintf(text, sizeof text,
             "%s      - 'ipmi://10.0.0.11'\n      - 'ipmi://[fd00::1]:6230'\n      - 'ipmi://'\n",
             head);
    pipeline *p = parse_ok(text);
    assert_int_equal(p->sources[0].n_resources, 3);
    pipeline_free(p);
    static const struct {
        const char *res, *what;
    } bad[] = {
        {"ipmi://bmc:0", "port 1..65535"},
        {"ipmi://bmc:70000", "port 1..65535"},
        {"ipmi://u@bmc", "expected ipmi://host[:port]"},
        {"ipmi://[::1", "IPv6 in brackets"},
        {"ipmi:bmc", "expected ipmi://host[:port]"},
        {"ipmi://bmc/x", "expected ipmi://host[:port]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%s      - 'ipmi://10.0.0.11'\n      - '%s'\n", head,
                 bad[i].res);
        char frag[200];
        snprintf(frag, sizeof frag, "source 'bmcs': ipmi.sensors: resource \"%s\": ", bad[i].res);
        expect_error(text, 7, 9, frag);
        expect_error(text, 7, 9, bad[i].what);
    }
    /* not ipmi.sensors' source: a tcp.connect source names what it likes */
    pipeline *q = parse_ok("sources:\n  - name: t\n    interval: 60\n"
                           "    meters: ['tcp.connect.*']\n    resources: ['ipmi://bmc:0']\n");
    pipeline_free(q);
    /* nor another scheme's resource in a source that selects every meter
     * (ipmi.sensors among them): that is the other pollsters' business */
    q = parse_ok("sources:\n  - name: all\n    interval: 60\n    meters: ['*']\n"
                 "    resources: ['http://example.org/', 'bmc-1']\n");
    pipeline_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_parameters),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_refusals_with_positions),
        cmocka_unit_test(test_dynamic_selection),
        cmocka_unit_test(test_params_copy),
        cmocka_unit_test(test_ipmi_resources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
