/* test_expo_file_sd.c: Prometheus file_sd JSON target lists. */
#include "expo/expo.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static int sd(const char *text, expo_sd *out, char *err)
{
    return expo_sd_parse(text, strlen(text), "targets.json", out, err, 256);
}

static void test_valid(void **s)
{
    (void)s;
    expo_sd d;
    char err[256];
    assert_int_equal(sd("[{\"targets\": [\"a:9100\", \"b:9100\"], \"labels\": {\"env\": \"prod\"}},"
                        " {\"targets\": [\"[::1]:9090\"]}]",
                        &d, err),
                     0);
    assert_int_equal(d.n_groups, 2);
    assert_int_equal(d.groups[0].n_targets, 2);
    assert_string_equal(d.groups[0].targets[1], "b:9100");
    assert_int_equal(d.groups[0].n_labels, 1);
    assert_string_equal(d.groups[0].labels[0].name, "env");
    assert_string_equal(d.groups[0].labels[0].value, "prod");
    assert_string_equal(d.groups[1].targets[0], "[::1]:9090");
    expo_sd_free(&d);
    assert_int_equal(sd("[]", &d, err), 0);
    assert_int_equal(d.n_groups, 0);
    expo_sd_free(&d);
}

static void test_invalid(void **s)
{
    (void)s;
    static const char *const cases[][2] = {
        {"[{\"targets\": [\"a:1\"],}]", "targets.json:1:22: "},
        {"{}", "targets.json:1:1: expected an array of target groups"},
        {"[{\"target\": [\"a:1\"]}]",
         "targets.json: group 1: unknown key \"target\" (expected targets, labels)"},
        {"[{\"targets\": \"a:1\"}]",
         "targets.json: group 1: \"targets\" must be an array of \"host:port\""},
        {"[{\"targets\": [\"a:1\", 5]}]",
         "targets.json: group 1: target 2: expected \"host:port\""},
        {"[{\"targets\": [\"http://a:1/metrics\"]}]",
         "targets.json: group 1: target 1: expected \"host:port\""},
        {"[{\"targets\": []}, {\"targets\": [], \"labels\": {\"a-b\": \"x\"}}]",
         "targets.json: group 2: label \"a-b\": expected a name [a-zA-Z_][a-zA-Z0-9_]* with a "
         "string value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        expo_sd d;
        char err[256];
        assert_int_equal(sd(cases[i][0], &d, err), -1);
        if (strncmp(err, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, cases[i][1]);
        assert_int_equal(d.n_groups, 0);
    }
}

static void test_urls(void **s)
{
    (void)s;
    expo_sd d;
    char err[256], url[64];
    assert_int_equal(sd("[{\"targets\": [\"a:9100\"]}, {\"targets\": [\"b:443\"], \"labels\": "
                        "{\"__scheme__\": \"https\", \"__metrics_path__\": \"federate\"}},"
                        " {\"targets\": [\"c:1\"], \"labels\": {\"__scheme__\": \"ftp\"}}]",
                        &d, err),
                     0);
    assert_int_equal(expo_sd_url(&d.groups[0], "a:9100", url, sizeof url, err, sizeof err), 0);
    assert_string_equal(url, "http://a:9100/metrics");
    assert_int_equal(expo_sd_url(&d.groups[1], "b:443", url, sizeof url, err, sizeof err), 0);
    assert_string_equal(url, "https://b:443/federate");
    assert_int_equal(expo_sd_url(&d.groups[2], "c:1", url, sizeof url, err, sizeof err), -1);
    assert_string_equal(err, "target c:1: __scheme__ \"ftp\" (expected http or https)");
    assert_int_equal(expo_sd_url(&d.groups[0], "a:9100", url, 10, err, sizeof err), -1);
    assert_string_equal(err, "target a:9100: URL longer than 9 bytes");
    expo_sd_free(&d);
}

static int sdy(const char *text, expo_sd *out, char *err)
{
    return expo_sd_parse(text, strlen(text), "targets.yml", out, err, 256);
}

static void test_yaml(void **s)
{
    (void)s;
    expo_sd d;
    char err[256];
    assert_int_equal(sdy("- targets: ['a:9100', b:9100]\n  labels:\n    env: prod\n"
                         "- targets:\n    - '[::1]:9090'\n",
                         &d, err),
                     0);
    assert_int_equal(d.n_groups, 2);
    assert_string_equal(d.groups[0].targets[1], "b:9100");
    assert_string_equal(d.groups[0].labels[0].name, "env");
    assert_string_equal(d.groups[0].labels[0].value, "prod");
    assert_string_equal(d.groups[1].targets[0], "[::1]:9090");
    expo_sd_free(&d);
    assert_int_equal(sdy("", &d, err), 0);
    assert_int_equal(d.n_groups, 0);
    expo_sd_free(&d);
    /* JSON is YAML: the same document under a .yaml name */
    const char *json = "[{\"targets\": [\"a:1\"], \"labels\": {\"x\": \"y\"}}]";
    assert_int_equal(expo_sd_parse(json, strlen(json), "t.yaml", &d, err, sizeof err), 0);
    assert_int_equal(d.groups[0].n_labels, 1);
    expo_sd_free(&d);
    static const char *const bad[][2] = {
        {"targets: [a:1]\n", "targets.yml:1:1: expected a list of target groups"},
        {"- target: [a:1]\n",
         "targets.yml:1:3: unknown or repeated key (expected targets, labels)"},
        {"- labels: {a: b}\n", "targets.yml:1:3: a group needs \"targets\""},
        {"- targets: [a:1, [x]]\n", "targets.yml:1:18: expected \"host:port\""},
        {"- targets: [a:1]\n  labels: {a-b: x}\n",
         "targets.yml:2:12: expected a label name [a-zA-Z_][a-zA-Z0-9_]*"},
        {"- targets: [a:1]\n  labels: {a: [x]}\n",
         "targets.yml:2:15: expected a label value (text)"},
        {"- targets: &t [a:1]\n- targets: *t\n",
         "targets.yml:1:12: anchors and aliases are not accepted"},
        {"- targets: [a:1\n", "targets.yml:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(sdy(bad[i][0], &d, err), -1);
        if (strncmp(err, bad[i][1], strlen(bad[i][1])) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, bad[i][1]);
        assert_int_equal(d.n_groups, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_valid), cmocka_unit_test(test_invalid),
                                       cmocka_unit_test(test_urls), cmocka_unit_test(test_yaml)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
