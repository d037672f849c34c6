/* test_pipeline_diff.c -- per-source and per-sink diff of two revisions:
 * the basis of the graceful reload. */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const pipeline_source_delta *src_delta(const pipeline_diff *d, const char *name)
{
    for (size_t i = 0; i < d->n_sources; i++)
        if (strcmp(d->sources[i].name, name) == 0) return &d->sources[i];
    fail_msg("no source delta for %s", name);
    return NULL;
}

static const pipeline_sink_delta *sink_delta(const pipeline_diff *d, const char *name)
{
    for (size_t i = 0; i < d->n_sinks; i++)
        if (strcmp(d->sinks[i].name, name) == 0) return &d->sinks[i];
    fail_msg("no sink delta for %s", name);
    return NULL;
}

static void test_diff_kinds(void **state)
{
    (void)state;
    pipeline *old_p = tu_parse_ok("sources:\n"
                                  "  - {name: keep, interval: 60, meters: [cpu, mem], sinks: [s]}\n"
                                  "  - {name: edit, interval: 60, meters: [disk.*], sinks: [s]}\n"
                                  "  - {name: gone, interval: 60, meters: [net.*], sinks: [t]}\n"
                                  "sinks:\n"
                                  "  - {name: s, publishers: ['udp://h:1']}\n"
                                  "  - {name: t, publishers: ['prometheus://']}\n");
    /* reordered, reformatted, one source edited, one removed, one added,
     * sink s gets a new publisher, sink t removed, sink u added */
    pipeline *new_p = tu_parse_ok("sinks:\n"
                                  "  - {name: u, publishers: ['file:///tmp/x']}\n"
                                  "  - {name: s, publishers: ['udp://h:1', 'statsd://h']}\n"
                                  "sources:\n"
                                  "  - {name: new, interval: 10, meters: [ipmi.*], sinks: [u]}\n"
                                  "  - {name: edit, interval: 30, meters: [disk.*], sinks: [s]}\n"
                                  "  - name: keep\n"
                                  "    meters: [mem, cpu]   # order is irrelevant\n"
                                  "    interval: \"60\"\n"
                                  "    sinks: [s]\n");
    pipeline_diff d;
    assert_int_equal(pipeline_diff_compute(old_p, new_p, &d), 0);
    assert_int_equal(d.n_sources, 4);
    assert_int_equal(d.n_sinks, 3);
    /* sorted by name */
    assert_string_equal(d.sources[0].name, "edit");
    assert_string_equal(d.sources[3].name, "new");
    assert_int_equal(src_delta(&d, "keep")->change, PIPELINE_UNCHANGED);
    assert_non_null(src_delta(&d, "keep")->old_src);
    assert_non_null(src_delta(&d, "keep")->new_src);
    assert_int_equal(src_delta(&d, "edit")->change, PIPELINE_CHANGED);
    assert_int_equal(src_delta(&d, "edit")->new_src->interval, 30);
    assert_int_equal(src_delta(&d, "edit")->old_src->interval, 60);
    assert_int_equal(src_delta(&d, "gone")->change, PIPELINE_REMOVED);
    assert_null(src_delta(&d, "gone")->new_src);
    assert_int_equal(src_delta(&d, "new")->change, PIPELINE_ADDED);
    assert_null(src_delta(&d, "new")->old_src);
    /* a sink's publisher change is a sink change: source "keep" stayed unchanged */
    assert_int_equal(sink_delta(&d, "s")->change, PIPELINE_CHANGED);
    assert_int_equal(sink_delta(&d, "t")->change, PIPELINE_REMOVED);
    assert_int_equal(sink_delta(&d, "u")->change, PIPELINE_ADDED);
    assert_int_equal(d.n_changes, 6);
    assert_string_equal(pipeline_change_name(src_delta(&d, "keep")->change), "unchanged");
    assert_string_equal(pipeline_change_name(PIPELINE_CHANGED), "changed");
    assert_string_equal(pipeline_change_name(PIPELINE_ADDED), "added");
    assert_string_equal(pipeline_change_name(PIPELINE_REMOVED), "removed");
    pipeline_diff_free(&d);
    pipeline_free(old_p);
    pipeline_free(new_p);
}

static void test_diff_identity_and_null(void **state)
{
    (void)state;
    char path[1024];
    tu_data_path(path, sizeof path, "valid/full.yaml");
    pipeline *a = NULL, *b = NULL;
    assert_int_equal(pipeline_load_file(path, tu_options(), &a, NULL), 0);
    assert_int_equal(pipeline_load_file(path, tu_options(), &b, NULL), 0);
    pipeline_diff d;
    assert_int_equal(pipeline_diff_compute(a, b, &d), 0);
    assert_int_equal(d.n_changes, 0);
    assert_int_equal(d.n_sources, a->n_sources);
    pipeline_diff_free(&d);
    /* first revision: everything added; to nothing: everything removed */
    assert_int_equal(pipeline_diff_compute(NULL, b, &d), 0);
    assert_int_equal(d.n_changes, b->n_sources + b->n_sinks);
    for (size_t i = 0; i < d.n_sources; i++)
        assert_int_equal(d.sources[i].change, PIPELINE_ADDED);
    pipeline_diff_free(&d);
    assert_int_equal(pipeline_diff_compute(a, NULL, &d), 0);
    for (size_t i = 0; i < d.n_sinks; i++)
        assert_int_equal(d.sinks[i].change, PIPELINE_REMOVED);
    pipeline_diff_free(&d);
    pipeline_diff_free(&d); /* idempotent */
    pipeline_free(a);
    pipeline_free(b);
}

static void test_diff_default_sink_spellings(void **state)
{
    (void)state;
    /* implicit default -> explicit identical default: nothing changes */
    pipeline *a = tu_parse_ok("sources: [{name: a, interval: 60, meters: [cpu]}]");
    pipeline *b =
        tu_parse_ok("sources: [{name: a, interval: 60, meters: [cpu], sinks: [default]}]\n"
                    "sinks: [{name: default, publishers: [prometheus://]}]");
    pipeline_diff d;
    assert_int_equal(pipeline_diff_compute(a, b, &d), 0);
    assert_int_equal(d.n_changes, 0);
    pipeline_diff_free(&d);
    pipeline_free(a);
    pipeline_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_kinds),
        cmocka_unit_test(test_diff_identity_and_null),
        cmocka_unit_test(test_diff_default_sink_spellings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
