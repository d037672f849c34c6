/* test_pipeline_digest.c -- canonical form and sha256: same meaning, same
 * digest (formatting, key order, comments, quoting, set order, duplicates,
 * anchors, implicit defaults); any change of meaning, another digest. */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

static void digest_of(const char *text, char out[65])
{
    pipeline *p = tu_parse_ok(text);
    memcpy(out, p->sha256_hex, 65);
    pipeline_free(p);
}

static void test_equivalent_files(void **state)
{
    (void)state;
    const char *pairs[][2] = {
        {"equivalent/a.yaml", "equivalent/b.yaml"},
        {"valid/default-implicit.yaml", "valid/default-explicit.yaml"},
        {"ceilometer/pipeline.yaml", "ceilometer/pipeline-transformers.yaml"},
        {"ceilometer/polling_all.yaml", "ceilometer/polling-all_pollsters.yaml"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char pa[1024], pb[1024];
        tu_data_path(pa, sizeof pa, pairs[i][0]);
        tu_data_path(pb, sizeof pb, pairs[i][1]);
        pipeline *a = NULL, *b = NULL;
        assert_int_equal(pipeline_load_file(pa, tu_options(), &a, NULL), 0);
        assert_int_equal(pipeline_load_file(pb, tu_options(), &b, NULL), 0);
        assert_string_equal(a->sha256_hex, b->sha256_hex);
        assert_string_equal(a->canonical, b->canonical);
        for (size_t s = 0; s < a->n_sources; s++)
            assert_memory_equal(a->sources[s].digest, b->sources[s].digest, 32);
        pipeline_free(a);
        pipeline_free(b);
    }
}

static void test_canonical_text(void **state)
{
    (void)state;
    pipeline *p = tu_parse_ok("# comment\n"
                              "sources:\n"
                              "  - meters: ['!b', '!a', '!b']\n"
                              "    name: n\n"
                              "    interval: '30'\n");
    assert_string_equal(p->canonical,
                        "{\"sinks\":[{\"name\":\"default\",\"publishers\":[\"prometheus://\"]}],"
                        "\"sources\":[{\"discovery\":[],\"interval\":30,\"meters\":[\"!a\",\"!b\"],"
                        "\"name\":\"n\",\"resources\":[],\"sinks\":[\"default\"]}],\"version\":1}");
    assert_int_equal(p->canonical_len, strlen(p->canonical));
    /* sha256 of the canonical text, in hex */
    char hex[65];
    pipeline_digest_hex(p->sha256, hex);
    assert_string_equal(hex, p->sha256_hex);
    pipeline_free(p);
}

/* The canonical text is assembled from the pieces serialised for each
 * digest (issue 19: one serialisation per parse, not two): it must be byte
 * for byte what jansson makes of it, compact with sorted keys, for many
 * sources and sinks, parameters, labels and the empty lists. */
static void test_canonical_is_jansson(void **state)
{
    (void)state;
    const char *files[] = {"valid/parameters.yaml", "ceilometer/pipeline.yaml",
                           "ceilometer/polling_all.yaml", "equivalent/a.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[1024];
        tu_data_path(path, sizeof path, files[i]);
        pipeline *p = NULL;
        assert_int_equal(pipeline_load_file(path, tu_options(), &p, NULL), 0);
        json_error_t je;
        json_t *doc = json_loadb(p->canonical, p->canonical_len, 0, &je);
        assert_non_null(doc);
        char *again = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        assert_non_null(again);
        assert_string_equal(p->canonical, again);
        free(again);
        json_decref(doc);
        pipeline_free(p);
    }
    pipeline *p = tu_parse_ok("sources: []\nsinks: []\n");
    assert_string_equal(p->canonical, "{\"sinks\":[],\"sources\":[],\"version\":1}");
    pipeline_free(p);
}

static void test_meaning_changes_digest(void **state)
{
    (void)state;
    const char *base = "sources: [{name: a, interval: 60, meters: [cpu], sinks: [s]}]\n"
                       "sinks: [{name: s, publishers: ['udp://h:1']}]\n";
    const char *changed[] = {
        "sources: [{name: b, interval: 60, meters: [cpu], sinks: [s]}]\n"
        "sinks: [{name: s, publishers: ['udp://h:1']}]\n",
        "sources: [{name: a, interval: 61, meters: [cpu], sinks: [s]}]\n"
        "sinks: [{name: s, publishers: ['udp://h:1']}]\n",
        "sources: [{name: a, interval: 60, meters: [cpu, mem], sinks: [s]}]\n"
        "sinks: [{name: s, publishers: ['udp://h:1']}]\n",
        "sources: [{name: a, interval: 60, meters: [cpu], sinks: [s], resources: [r]}]\n"
        "sinks: [{name: s, publishers: ['udp://h:1']}]\n",
        "sources: [{name: a, interval: 60, meters: [cpu], sinks: [s], discovery: [d]}]\n"
        "sinks: [{name: s, publishers: ['udp://h:1']}]\n",
        "sources: [{name: a, interval: 60, meters: [cpu], sinks: [s]}]\n"
        "sinks: [{name: s, publishers: ['udp://h:2']}]\n",
        /* the default sink with other publishers is not the built-in one */
        "sources: [{name: a, interval: 60, meters: [cpu]}]\n"
        "sinks: [{name: default, publishers: ['udp://h:1']}]\n",
    };
    char d0[65], d1[65];
    digest_of(base, d0);
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        digest_of(changed[i], d1);
        if (strcmp(d0, d1) == 0) fail_msg("change %zu kept the digest", i);
    }
    /* and the implicit default sink differs from an explicit non-default one */
    char e1[65], e2[65];
    digest_of("sources: [{name: a, interval: 60, meters: [cpu]}]", e1);
    digest_of("sources: [{name: a, interval: 60, meters: [cpu]}]\n"
              "sinks: [{name: default, publishers: ['prometheus://', 'udp://h:1']}]",
              e2);
    assert_string_not_equal(e1, e2);
}

static void test_source_digest_own_fields(void **state)
{
    (void)state;
    /* a publisher edit changes the sink digest, never the source digest */
    pipeline *a = tu_parse_ok("sources: [{name: a, interval: 60, meters: [cpu], sinks: [s]}]\n"
                              "sinks: [{name: s, publishers: ['udp://h:1']}]\n");
    pipeline *b = tu_parse_ok("sources: [{name: a, interval: 60, meters: [cpu], sinks: [s]}]\n"
                              "sinks: [{name: s, publishers: ['statsd://h:1']}]\n");
    assert_memory_equal(a->sources[0].digest, b->sources[0].digest, 32);
    assert_memory_not_equal(a->sinks[0].digest, b->sinks[0].digest, 32);
    assert_string_not_equal(a->sha256_hex, b->sha256_hex);
    pipeline_free(a);
    pipeline_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equivalent_files),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_canonical_is_jansson),
        cmocka_unit_test(test_meaning_changes_digest),
        cmocka_unit_test(test_source_digest_own_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
