/* test_registry.c -- the plugin registry's tables are consistent (namespaces,
 * unique meters, default discoveries that exist, every scheme's defaults),
 * fit what pipeline_parse is given, and match the agent's runtime rows one
 * for one. */
#include "agent/pollster.h"
#include "registry/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_pollster_rows(void **state)
{
    (void)state;
    size_t n = 0;
    for (size_t i = 0; registry_pollsters[i]; i++, n++) {
        const registry_pollster *p = registry_pollsters[i];
        if (!registry_namespace_known(p->ns, strlen(p->ns)))
            fail_msg("%s: namespace %s is not in registry_namespaces", p->name, p->ns);
        assert_true(registry_meter_count(p) > 0);
        if (p->default_discovery)
            assert_non_null(
                registry_discovery_find(p->default_discovery, strlen(p->default_discovery)));
        assert_ptr_equal(registry_pollster_find(p->name), p);
        if (p->section) assert_non_null(registry_section_find(p->section));
        /* a meter belongs to one pollster: want[] and known_meters rely on it */
        for (size_t m = 0; p->meters[m]; m++)
            for (size_t k = 0; registry_pollsters[k]; k++)
                for (size_t j = 0; registry_pollsters[k]->meters[j]; j++)
                    if ((k != i || j != m) &&
                        !strcmp(p->meters[m], registry_pollsters[k]->meters[j]))
                        fail_msg("meter %s listed twice", p->meters[m]);
    }
    assert_true(n >= 3);
    assert_null(registry_pollster_find("nope"));
}

static void test_scheme_rows(void **state)
{
    (void)state;
    static const struct {
        const char *scheme, *path;
        int port;
    } want[] = {{"prometheus", NULL, 0}, {"file", NULL, 0}, {"udp", NULL, 4952},
                {"statsd", NULL, 8125},  {"http", "/", 80}, {"https", "/", 443}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const registry_publisher *p = registry_publisher_find(want[i].scheme);
        assert_non_null(p);
        assert_int_equal(p->url.default_port, want[i].port);
        if (want[i].path)
            assert_string_equal(p->url.default_path, want[i].path);
        else
            assert_null(p->url.default_path);
        assert_non_null(p->doc);
        if (p->section) assert_non_null(registry_section_find(p->section));
    }
    assert_null(registry_publisher_find("gnocchi"));
}

static void test_pipeline_options(void **state)
{
    (void)state;
    registry_options ro;
    assert_int_equal(registry_pipeline_options(&ro, NULL, 0), 0);
    size_t meters = 0, schemes = 0;
    for (size_t i = 0; registry_pollsters[i]; i++) /* a dynamic family counts as one */
        meters +=
            registry_meter_count(registry_pollsters[i]) + !!registry_pollsters[i]->dynamic_meters;
    for (size_t i = 0; registry_publishers[i]; i++)
        schemes++;
    assert_int_equal(ro.opt.n_known_meters, meters);
    assert_int_equal(ro.opt.n_schemes, schemes);
    assert_ptr_equal(ro.opt.known_meters, ro.meters);

    /* what validates carries the defaults the plugins open with */
    pipeline_publisher u;
    pipeline_diags d = {0};
    assert_int_equal(pipeline_publisher_parse("statsd://127.0.0.1", &ro.opt, &u, &d), 0);
    assert_int_equal(u.port, 8125);
    pipeline_publisher_clear(&u);
    /* a scheme's own rule, reported at the URL */
    assert_int_equal(pipeline_publisher_parse("udp://h:1/path", &ro.opt, &u, &d), -1);
    assert_non_null(strstr(d.items[0].message, "takes no path"));
    pipeline_diags_free(&d);
    /* without the registry every scheme is foreign (a warning, not an error) */
    assert_int_equal(pipeline_publisher_parse("udp://h:1/path", NULL, &u, &d), 0);
    assert_true(u.foreign);
    assert_int_equal(d.errors, 0);
    pipeline_publisher_clear(&u);
    pipeline_diags_free(&d);
}

static void test_namespaces_and_options(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(registry_namespaces_check("central, compute,ipmi", err, sizeof err), 0);
    assert_int_equal(registry_namespaces_check("", err, sizeof err), 0);
    assert_int_equal(registry_namespaces_check("central,comptue", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown namespace \"comptue\" (known: central, compute, ipmi)"));
    registry_option o = {"n", REGISTRY_OPT_INT, "1", 1, 10, "doc"};
    assert_int_equal(registry_option_check(&o, "10", err, sizeof err), 0);
    assert_int_equal(registry_option_check(&o, "11", err, sizeof err), -1);
    assert_non_null(strstr(err, "between 1 and 10"));
    registry_option b = {"b", REGISTRY_OPT_BOOL, "true", 0, 0, "doc"};
    assert_int_equal(registry_option_check(&b, "off", err, sizeof err), 0);
    assert_int_equal(registry_option_check(&b, "maybe", err, sizeof err), -1);
    assert_non_null(registry_section_find("compute"));
    assert_non_null(registry_section_find("ipmi"));
    assert_null(registry_section_find("DEFAULT"));
}

static void test_query_options(void **state)
{
    (void)state;
    const registry_publisher *statsd = registry_publisher_find("statsd");
    const registry_publisher *http = registry_publisher_find("http");
    char err[256], out[64];
    assert_int_equal(registry_query_check(statsd, "payload=600&prefix=dc%201", err, sizeof err), 0);
    assert_int_equal(registry_query_long(statsd, "payload=600", "payload"), 600);
    assert_int_equal(registry_query_long(statsd, "", "payload"), 1432); /* the row's default */
    registry_query_str(statsd, "prefix=dc%201", "prefix", out, sizeof out);
    assert_string_equal(out, "dc 1");
    registry_query_str(statsd, "", "prefix", out, sizeof out);
    assert_string_equal(out, "meterd");
    assert_int_equal(registry_query_check(statsd, "payload=63", err, sizeof err), -1);
    assert_non_null(strstr(err, "option payload must be between 64 and 65507, got 63"));
    assert_int_equal(registry_query_check(statsd, "payload=x", err, sizeof err), -1);
    assert_int_equal(registry_query_check(statsd, "paylod=600", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown option 'paylod' (known: payload prefix max_age)"));
    char longp[200];
    memset(longp, 'a', sizeof longp);
    memcpy(longp, "prefix=", 7);
    longp[sizeof longp - 1] = 0;
    assert_int_equal(registry_query_check(statsd, longp, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 127 bytes"));
    /* http passes other keys to the receiver, but checks its own */
    assert_int_equal(registry_query_check(http, "tenant=a&timeout=5", err, sizeof err), 0);
    assert_int_equal(registry_query_check(http, "timeout=0", err, sizeof err), -1);
    assert_int_equal(registry_query_get("a=1&b=x+y%21", "b", out, sizeof out), 1);
    assert_string_equal(out, "x y!");
    assert_int_equal(registry_query_get("a=1", "b", out, sizeof out), 0);
    assert_int_equal(registry_query_get("a=12345", "a", out, 4), -1);
}

static void test_agent_rows_match(void **state)
{
    (void)state;
    char err[256] = "";
    if (plugins_check_tables(err, sizeof err) != 0) fail_msg("%s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pollster_rows),    cmocka_unit_test(test_scheme_rows),
        cmocka_unit_test(test_pipeline_options), cmocka_unit_test(test_namespaces_and_options),
        cmocka_unit_test(test_query_options),    cmocka_unit_test(test_agent_rows_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
