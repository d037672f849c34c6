/* test_pipeline_select.c -- meter selection: Python fnmatch globs and
 * Ceilometer's is_supported (exclusions first, exclusions-only allow all). */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    const char *pattern, *name;
    bool match;
} glob_case;

/* Each row checked against Python 3's fnmatch.fnmatchcase by hand. */
static const glob_case globs[] = {
    {"*", "", true},
    {"*", "disk.read.bytes", true},
    {"disk.*", "disk.read.bytes", true},
    {"disk.*", "disk", false},
    {"disk.*", "disk.", true},
    {"*.bytes", "network.incoming.bytes", true},
    {"*/x", "a/b/x", true}, /* '*' crosses '/' (no FNM_PATHNAME) */
    {"cpu", "cpu", true},
    {"cpu", "CPU", false}, /* case-sensitive, as on POSIX */
    {"cpu", "cpu_util", false},
    {"cpu?", "cpu1", true},
    {"cpu?", "cpu", false},
    {"cpu?", "cpu12", false},
    {"?", "\xc3\xa9", true}, /* '?' is one character, not one byte */
    {"??", "\xc3\xa9", false},
    {"[abc]pu", "cpu", true},
    {"[!abc]pu", "cpu", false},
    {"[!abc]pu", "xpu", true},
    {"[^c]pu", "^pu", true}, /* only '!' negates: [^c] is the set of '^' and 'c' */
    {"[^c]pu", "cpu", true},
    {"[^c]pu", "xpu", false},
    {"[a-c]", "b", true},
    {"[a-c]", "d", false},
    {"[z-a]", "m", false}, /* reversed range is empty */
    {"[!z-a]", "m", true},
    {"[]]", "]", true}, /* ']' first is a member */
    {"[!]]", "a", true},
    {"[!]]", "]", false},
    {"[a-]", "-", true}, /* '-' last is a literal */
    {"[", "[", true},    /* unclosed '[' is a literal */
    {"[cpu", "[cpu", true},
    {"a\\b", "a\\b", true}, /* no escapes: backslash is literal */
    {"a\\*", "a\\xyz", true},
    {"[é]", "\xc3\xa9", true},
    {"[a-é]", "b", true},
    {"**a", "bba", true},
    {"*a*b*c*", "aXbXc", true},
    {"*a*b*c*", "aXcXb", false},
    {"hardware.ipmi.*", "hardware.ipmi.node.power", true},
    {"", "", true},
    {"", "a", false},
};

static void test_glob(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof globs / sizeof globs[0]; i++) {
        bool got = pipeline_glob_match(globs[i].pattern, globs[i].name);
        if (got != globs[i].match)
            fail_msg("glob '%s' vs '%s': expected %d", globs[i].pattern, globs[i].name,
                     globs[i].match);
    }
}

static pipeline *with_meters(const char *meters)
{
    char text[512];
    snprintf(text, sizeof text, "sources: [{name: s, interval: 60, meters: %s}]", meters);
    return tu_parse_ok(text);
}

static void test_is_supported(void **state)
{
    (void)state;
    /* only includes */
    pipeline *p = with_meters("[cpu, 'disk.*']");
    const pipeline_source *s = &p->sources[0];
    assert_true(pipeline_source_selects(s, "cpu"));
    assert_true(pipeline_source_selects(s, "disk.read.bytes"));
    assert_false(pipeline_source_selects(s, "memory.usage"));
    pipeline_free(p);
    /* wildcard with exclusions: deny first, then allow */
    p = with_meters("['*', '!disk.*', '!network.*.packets']");
    s = &p->sources[0];
    assert_true(pipeline_source_selects(s, "cpu"));
    assert_false(pipeline_source_selects(s, "disk.read.bytes"));
    assert_false(pipeline_source_selects(s, "network.incoming.packets"));
    assert_true(pipeline_source_selects(s, "network.incoming.bytes"));
    pipeline_free(p);
    /* only exclusions: the default is allow */
    p = with_meters("['!disk.*']");
    s = &p->sources[0];
    assert_true(pipeline_source_selects(s, "cpu"));
    assert_false(pipeline_source_selects(s, "disk.write.bytes"));
    pipeline_free(p);
    /* a pattern starting with '*' counts as neither included nor excluded in
     * Ceilometer's mixing rule, so it may sit beside '*' or exclusions */
    p = with_meters("['*.bytes', '!disk.*']");
    s = &p->sources[0];
    assert_true(pipeline_source_selects(s, "network.incoming.bytes"));
    assert_false(pipeline_source_selects(s, "disk.read.bytes"));
    assert_false(pipeline_source_selects(s, "cpu"));
    pipeline_free(p);
    p = with_meters("['*', '*.bytes']");
    assert_true(pipeline_source_selects(&p->sources[0], "cpu"));
    pipeline_free(p);
    /* and the two rules */
    pipeline_diags d = tu_parse_bad("sources: [{name: s, meters: [cpu, '!disk.*']}]");
    assert_non_null(strstr(tu_first_error(&d)->message, "Both included and excluded"));
    assert_int_equal(tu_first_error(&d)->column, 35);
    pipeline_diags_free(&d);
    /* ours (issue 14): exclusions that narrow an included pattern are no mix,
     * the way to drop part of a family of scraped series */
    p = with_meters("['scrape.*', '!scrape.go_*', 'tcp.connect.up']");
    s = &p->sources[0];
    assert_true(pipeline_source_selects(s, "scrape.up"));
    assert_true(pipeline_source_selects(s, "tcp.connect.up"));
    assert_false(pipeline_source_selects(s, "scrape.go_gc_duration_seconds"));
    assert_false(pipeline_source_selects(s, "host.load.1min"));
    pipeline_free(p);
    /* one exclusion outside every inclusion is the mix again, reported at it */
    d = tu_parse_bad("sources: [{name: s, meters: ['scrape.*', '!scrape.go_*', '!disk.*']}]");
    assert_non_null(strstr(tu_first_error(&d)->message, "('!disk.*')"));
    assert_int_equal(tu_first_error(&d)->column, 58);
    pipeline_diags_free(&d);
    d = tu_parse_bad("sources: [{name: s, meters: [cpu, '*']}]");
    assert_non_null(strstr(tu_first_error(&d)->message, "Included meters specified with wildcard"));
    assert_int_equal(tu_first_error(&d)->column, 35);
    pipeline_diags_free(&d);
    assert_false(pipeline_source_selects(NULL, "cpu"));
    /* '!*' is legal in Ceilometer and selects nothing: a warning, not an error */
    const char *none = "sources: [{name: s, interval: 1, meters: ['!*']}]";
    pipeline *q = NULL;
    pipeline_diags w = {0};
    assert_int_equal(pipeline_parse(none, strlen(none), "n", tu_options(), &q, &w), 0);
    assert_false(pipeline_source_selects(&q->sources[0], "cpu"));
    assert_int_equal(w.count, 1);
    assert_non_null(strstr(w.items[0].message, "polls nothing"));
    pipeline_free(q);
    pipeline_diags_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_is_supported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
