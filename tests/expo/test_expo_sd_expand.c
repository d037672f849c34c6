/*
 * test_expo_sd_expand.c: a source's file_sd documents expanded into its
 * targets (pipeline_expand_file_sd with expo_sd_read_targets), as meterctl
 * validate/push and a standalone agent's reload do. The expanded pipeline
 * hashes as the same pipeline written out by hand (resources and
 * target_labels), its canonical form parses back to the same digest (it is
 * what meterctl pushes), and every refusal names the file and what was wrong.
 */
#include "expo/expo.h"
#include "harness/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SOURCE "sources:\n  - name: exporters\n    interval: 10\n    meters: ['scrape.*']\n"

static pipeline *load(const char *rel, const char *text, pipeline_diags *d)
{
    char path[512];
    assert_int_equal(th_write_file(rel, text, path, sizeof path), 0);
    pipeline *p = NULL;
    if (pipeline_load_file(path, NULL, &p, d) != 0) return NULL;
    expo_sd_expand(&p, path, d);
    return p;
}

static char *diag_text(const pipeline_diags *d)
{
    static char buf[4096];
    pipeline_diags_format(d, buf, sizeof buf);
    return buf;
}

static void test_expand(void **s)
{
    (void)s;
    th_write_file("conf/sd/nodes.json",
                  "[{\"targets\": [\"10.0.0.1:9100\", \"10.0.0.2:9100\"],"
                  "  \"labels\": {\"job\": \"node\", \"__meta_x\": \"dropped\"}},"
                  " {\"targets\": [\"10.0.0.3:9100\"],"
                  "  \"labels\": {\"__scheme__\": \"https\", \"__metrics_path__\": \"/m\"}}]",
                  NULL, 0);
    th_write_file("conf/sd/apps.yml", "- targets: ['10.0.0.9:8080']\n  labels: {team: a}\n", NULL,
                  0);
    pipeline_diags d = {0};
    pipeline *p = load("conf/pipeline.yaml",
                       SOURCE "    resources: ['http://10.0.0.5:9100/metrics']\n"
                              "    file_sd: [sd/nodes.json, sd/apps.yml]\n",
                       &d);
    if (!p) fail_msg("%s", diag_text(&d));
    pipeline_diags_free(&d);
    const pipeline_source *src = &p->sources[0];
    assert_int_equal(src->n_file_sd, 0); /* expanded away */
    assert_int_equal(src->n_resources, 5);
    assert_string_equal(src->resources[0], "http://10.0.0.1:9100/metrics");
    assert_string_equal(src->resources[1], "http://10.0.0.2:9100/metrics");
    assert_string_equal(src->resources[2], "http://10.0.0.5:9100/metrics");
    assert_string_equal(src->resources[3], "http://10.0.0.9:8080/metrics");
    assert_string_equal(src->resources[4], "https://10.0.0.3:9100/m");
    assert_int_equal(src->n_target_labels, 3); /* 10.0.0.3 has only "__" labels, .5 none */
    assert_null(strstr(p->canonical, "__meta_x"));
    assert_null(strstr(p->canonical, "file_sd"));

    /* the same pipeline written out by hand hashes the same */
    pipeline *hand = load("conf/hand.yaml",
                          SOURCE "    resources: ['http://10.0.0.1:9100/metrics',"
                                 " 'http://10.0.0.5:9100/metrics',"
                                 " 'http://10.0.0.2:9100/metrics', 'https://10.0.0.3:9100/m',"
                                 " 'http://10.0.0.9:8080/metrics']\n"
                                 "    target_labels:\n"
                                 "      'http://10.0.0.2:9100/metrics': {job: node}\n"
                                 "      'http://10.0.0.1:9100/metrics': {job: node}\n"
                                 "      'http://10.0.0.9:8080/metrics': {team: a}\n",
                          &d);
    if (!hand) fail_msg("%s", diag_text(&d));
    pipeline_diags_free(&d);
    assert_string_equal(hand->canonical, p->canonical);
    assert_string_equal(hand->sha256_hex, p->sha256_hex);

    /* the canonical form is what meterctl pushes: it parses back the same */
    pipeline *back = NULL;
    assert_int_equal(pipeline_parse(p->canonical, p->canonical_len, "pushed", NULL, &back, &d), 0);
    if (d.errors) fail_msg("%s", diag_text(&d)); /* (a warning: no schemes known here) */
    assert_string_equal(back->sha256_hex, p->sha256_hex);
    const pipeline_param *l =
        pipeline_param_find(back->sources[0].target_labels, back->sources[0].n_target_labels,
                            "http://10.0.0.9:8080/metrics");
    assert_non_null(l);
    assert_int_equal(l->n_items, 2);
    assert_string_equal(l->items[0], "team");
    assert_string_equal(l->items[1], "a");
    pipeline_diags_free(&d);
    pipeline_free(back);
    pipeline_free(hand);
    pipeline_free(p);
}

static void expect_refused(const char *rel, const char *text, const char *why)
{
    pipeline_diags d = {0};
    pipeline *p = load(rel, text, &d);
    const char *got = diag_text(&d);
    if (p || !strstr(got, why)) fail_msg("expected \"%s\", got \"%s\"", why, got);
    pipeline_diags_free(&d);
}

static void test_refused(void **s)
{
    (void)s;
    th_write_file("bad/sd/broken.json", "[{\"targets\": [\"a:1\"]},\n  {\"targets\": 5}]", NULL, 0);
    th_write_file("bad/sd/job.json", "[{\"targets\": [\"a:1\"], \"labels\": {\"job\": \"x\"}}]",
                  NULL, 0);
    th_write_file("bad/sd/job2.json", "[{\"targets\": [\"a:1\"], \"labels\": {\"job\": \"y\"}}]",
                  NULL, 0);
    expect_refused("bad/p1.yaml", SOURCE "    file_sd: [sd/missing.json]\n",
                   "source 'exporters': file_sd ");
    expect_refused("bad/p2.yaml", SOURCE "    file_sd: [sd/missing.json]\n",
                   "sd/missing.json: No such file or directory");
    expect_refused("bad/p3.yaml", SOURCE "    file_sd: [sd/broken.json]\n", "sd/broken.json");
    expect_refused("bad/p4.yaml", SOURCE "    file_sd: [sd/job.json, sd/job2.json]\n",
                   "lists target http://a:1/metrics again with other labels");
    /* a target the source lists without labels cannot get some from a file */
    expect_refused("bad/p5.yaml",
                   SOURCE "    resources: ['http://a:1/metrics']\n    file_sd: [sd/job.json]\n",
                   "again with other labels");
    /* hand-written labels must name one of the source's resources, at line:col */
    expect_refused("bad/p6.yaml",
                   SOURCE "    resources: [r1]\n    target_labels:\n      r2: {job: x}\n",
                   "p6.yaml:7:11: error: target_labels names 'r2', which is not one of the "
                   "source's resources");
    expect_refused("bad/p7.yaml",
                   SOURCE "    resources: [r1]\n    target_labels:\n      r1: [job, x]\n",
                   "expected a mapping of label names to values");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_expand),
                                       cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
