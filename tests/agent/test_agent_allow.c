/*
 * test_agent_allow.c: the local allow-lists ([polling] allow_targets,
 * [publisher] allow): entry syntax, CIDR/address/glob/port matching, and a
 * revision's targets and destinations refused with their location.
 */
#include "agent/allow.h"
#include "registry/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

static allow_list *list(const char *text, bool pub)
{
    allow_list *l = NULL;
    char err[300];
    if (allow_list_parse(text, pub, &l, err, sizeof err) != 0) fail_msg("%s: %s", text, err);
    return l;
}

static bool target_ok(const allow_list *l, const char *t)
{
    char why[600];
    return allow_target(l, t, why, sizeof why) == 0;
}

static void test_targets(void **state)
{
    (void)state;
    allow_list *l = list("10.0.0.0/8, *.example.com  127.0.0.1:9100,[fd00::/8]:443", false);
    assert_true(target_ok(l, "tcp://10.1.2.3:22"));
    assert_true(target_ok(l, "http://db.example.com:8080/metrics"));
    assert_true(target_ok(l, "DB.Example.COM"));
    assert_true(target_ok(l, "http://127.0.0.1:9100/metrics"));
    assert_true(target_ok(l, "https://[fd00::5]:443/"));
    assert_false(target_ok(l, "tcp://11.0.0.1:22"));
    assert_false(target_ok(l, "http://127.0.0.1:9101/"));
    assert_false(target_ok(l, "https://[fd00::5]:80/"));
    assert_false(target_ok(l, "example.com")); /* *.example.com wants a subdomain */
    assert_false(target_ok(l, "http://user@evil.com:80/"));
    assert_false(target_ok(l, "10.0.0.1.evil.com")); /* a name is not an address */
    char why[600];
    assert_int_equal(allow_target(l, "tcp://11.0.0.1:22", why, sizeof why), -1);
    assert_non_null(strstr(why, "target tcp://11.0.0.1:22 is outside [polling] allow_targets"));
    assert_true(target_ok(NULL, "anything")); /* unset */
    allow_list_free(l);
    l = list("", false);
    assert_null(l); /* empty: unset */
}

static void test_bad_entries(void **state)
{
    (void)state;
    const char *bad[] = {"10.0.0.0/33", "host:0", "host:x", "[fd00::1", "a:b:c/8", "/8"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        allow_list *l = NULL;
        char err[300] = "";
        if (allow_list_parse(bad[i], false, &l, err, sizeof err) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(strstr(err, bad[i]));
    }
    allow_list *l = NULL;
    char err[300];
    assert_int_equal(allow_list_parse("prometheus", true, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "scheme://"));
}

static const char body[] = "sources:\n"
                           "  - name: probes\n"
                           "    interval: 10\n"
                           "    meters: [tcp.connect.up]\n"
                           "    resources: [tcp://10.0.0.1:22, tcp://192.168.1.1:22]\n"
                           "sinks:\n"
                           "  - name: default\n"
                           "    publishers:\n"
                           "      - file:///var/lib/meterd/out.jsonl\n"
                           "      - udp://collector.example.com:4952\n";

static void test_pipeline(void **state)
{
    (void)state;
    pipeline *p = NULL;
    pipeline_diags d = {0};
    registry_options ro; /* the agent's schemes: udp:// is split into host and port */
    registry_pipeline_options(&ro, NULL, 0);
    if (pipeline_parse(body, strlen(body), "rev.yaml", &ro.opt, &p, &d) != 0) {
        char buf[2000];
        pipeline_diags_format(&d, buf, sizeof buf);
        fail_msg("%s", buf);
    }
    pipeline_diags_free(&d);
    allow_list *t = list("10.0.0.0/8", false), *all_t = list("10.0.0.0/8 192.168.0.0/16", false);
    allow_list *pubs = list("file:///var/lib/meterd/, udp://*.example.com", true);
    allow_list *narrow = list("file:///var/lib/meterd/, udp://other.example.com", true);
    char why[1600];
    assert_int_equal(allow_pipeline(t, NULL, p, "rev.yaml", why, sizeof why), -1);
    assert_non_null(strstr(why, "rev.yaml:2:"));
    assert_non_null(strstr(why, "source probes: target tcp://192.168.1.1:22 is outside"));
    assert_int_equal(allow_pipeline(all_t, pubs, p, "rev.yaml", why, sizeof why), 0);
    assert_int_equal(allow_pipeline(all_t, narrow, p, "rev.yaml", why, sizeof why), -1);
    assert_non_null(strstr(why, "rev.yaml:10:"));
    assert_non_null(strstr(why, "destination udp://collector.example.com:4952 is outside "
                                "[publisher] allow"));
    assert_int_equal(allow_pipeline(NULL, NULL, p, "rev.yaml", why, sizeof why), 0);
    allow_list *files = list("file:///tmp/", true);
    assert_int_equal(allow_pipeline(NULL, files, p, "rev.yaml", why, sizeof why), -1);
    assert_non_null(strstr(why, "file:///var/lib/meterd/out.jsonl"));
    allow_list_free(files);
    allow_list_free(t);
    allow_list_free(all_t);
    allow_list_free(pubs);
    allow_list_free(narrow);
    pipeline_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
