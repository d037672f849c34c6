/* test_pipeline_parse.c -- parsing and validation: Ceilometer's own files,
 * every publisher form, defaults, warnings, limits and hostile input. */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static pipeline *load_ok(const char *rel, pipeline_diags *d)
{
    char path[1024];
    tu_data_path(path, sizeof path, rel);
    pipeline *p = NULL;
    int rc = pipeline_load_file(path, tu_options(), &p, d);
    if (rc != 0 && d->count) fprintf(stderr, "%s: %s\n", rel, d->items[0].message);
    assert_int_equal(rc, 0);
    assert_non_null(p);
    assert_int_equal(d->errors, 0);
    return p;
}

static bool has_warning(const pipeline_diags *d, const char *fragment)
{
    for (size_t i = 0; i < d->count; i++)
        if (d->items[i].severity == PIPELINE_WARNING && strstr(d->items[i].message, fragment))
            return true;
    return false;
}

static void test_ceilometer_polling(void **state)
{
    (void)state;
    pipeline_diags d = {0};
    pipeline *p = load_ok("ceilometer/polling.yaml", &d);
    assert_int_equal(d.count, 0); /* a clean polling file: not even a warning */
    assert_int_equal(p->n_sources, 1);
    const pipeline_source *s = &p->sources[0];
    assert_string_equal(s->name, "some_pollsters");
    assert_int_equal(s->interval, 300);
    assert_int_equal(s->n_meters, 21);
    assert_string_equal(s->meters[0], "cpu"); /* sorted */
    assert_int_equal(s->n_sinks, 1);
    assert_string_equal(s->sinks[0], "default");
    /* no sinks in the file: the built-in default sink, prometheus:// */
    assert_int_equal(p->n_sinks, 1);
    assert_true(p->sinks[0].builtin);
    assert_string_equal(p->sinks[0].name, "default");
    assert_int_equal(p->sinks[0].n_publishers, 1);
    assert_string_equal(p->sinks[0].publishers[0].scheme, "prometheus");
    assert_false(p->sinks[0].publishers[0].foreign);
    assert_int_equal(strlen(p->sha256_hex), 64);
    assert_true(pipeline_source_selects(s, "hardware.memory.swap.avail"));
    assert_false(pipeline_source_selects(s, "disk.device.read.bytes"));
    pipeline_free(p);
    pipeline_diags_free(&d);

    const char *others[] = {"ceilometer/polling_all.yaml", "ceilometer/polling-all_pollsters.yaml"};
    for (size_t i = 0; i < 2; i++) {
        p = load_ok(others[i], &d);
        assert_int_equal(p->n_sources, 1);
        assert_string_equal(p->sources[0].meters[0], "*");
        assert_true(pipeline_source_selects(&p->sources[0], "anything.at.all"));
        pipeline_free(p);
        pipeline_diags_free(&d);
    }
}

static void test_ceilometer_pipeline(void **state)
{
    (void)state;
    pipeline_diags d = {0};
    pipeline *p = load_ok("ceilometer/pipeline.yaml", &d);
    assert_int_equal(p->n_sources, 4);
    assert_int_equal(p->n_sinks, 5);
    /* sorted by name */
    assert_string_equal(p->sources[0].name, "cpu_source");
    assert_int_equal(p->sources[0].interval, PIPELINE_DEFAULT_INTERVAL);
    assert_int_equal(p->sources[0].n_sinks, 2);
    assert_string_equal(p->sinks[0].name, "cpu_delta_sink");
    assert_true(p->sinks[0].publishers[0].foreign);
    assert_string_equal(p->sinks[0].publishers[0].scheme, "gnocchi");
    assert_true(has_warning(&d, "transformers are not supported"));
    assert_true(has_warning(&d, "scheme 'gnocchi' is not implemented"));
    assert_true(has_warning(&d, "has no 'interval'"));
    pipeline_free(p);
    pipeline_diags_free(&d);

    p = load_ok("ceilometer/example_pipeline-monasca.yaml", &d);
    assert_int_equal(p->n_sources, 5);
    assert_non_null(pipeline_source_find(p, "swift_source"));
    assert_int_equal(pipeline_source_find(p, "swift_source")->interval, 3600);
    assert_null(pipeline_source_find(p, "nope"));
    pipeline_free(p);
    pipeline_diags_free(&d);
}

static const pipeline_publisher *pub(const pipeline *p, const char *sink, const char *scheme)
{
    const pipeline_sink *k = pipeline_sink_find(p, sink);
    assert_non_null(k);
    for (size_t i = 0; i < k->n_publishers; i++)
        if (strcmp(k->publishers[i].scheme, scheme) == 0) return &k->publishers[i];
    fail_msg("no %s publisher in %s", scheme, sink);
    return NULL;
}

static void test_publishers(void **state)
{
    (void)state;
    pipeline_diags d = {0};
    pipeline *p = load_ok("valid/full.yaml", &d);
    assert_int_equal(d.count, 0);
    const pipeline_publisher *u = pub(p, "remote", "udp");
    assert_false(u->foreign);
    assert_string_equal(u->host, "::1");
    assert_int_equal(u->port, 4952);
    const pipeline_publisher *h = pub(p, "remote", "https");
    assert_string_equal(h->host, "collector.example.com");
    assert_int_equal(h->port, 8443);
    assert_string_equal(h->path, "/v1/samples");
    assert_string_equal(h->query, "batch=100");
    const pipeline_publisher *h2 = pub(p, "remote", "http");
    assert_string_equal(h2->host, "10.0.0.7");
    assert_int_equal(h2->port, 80);
    assert_string_equal(h2->path, "/samples");
    const pipeline_publisher *f = pub(p, "local", "file");
    assert_false(f->foreign);
    assert_string_equal(f->path, "/var/lib/meterd/samples.jsonl");
    assert_int_equal(f->port, 0);
    const pipeline_publisher *s = pub(p, "local", "statsd");
    assert_int_equal(s->port, 8125);
    assert_int_equal(s->line, 33);
    assert_int_equal(s->column, 13);
    /* the file defines "default", so no built-in one */
    assert_false(pipeline_sink_find(p, "default")->builtin);
    assert_int_equal(pipeline_sink_find(p, "default")->line, 27);
    const pipeline_source *c = pipeline_source_find(p, "compute");
    assert_int_equal(c->interval, 60); /* quoted "60" */
    assert_string_equal(c->discovery[0], "local_instances");
    pipeline_free(p);
    pipeline_diags_free(&d);

    /* defaults */
    p = tu_parse_ok("sources: [{name: a, interval: 5, meters: [cpu], sinks: [s]}]\n"
                    "sinks: [{name: s, publishers: ['udp://h', 'statsd://h.example', "
                    "'https://H', 'HTTP://h:1/', 'prometheus://', 'file://localhost/x']}]\n");
    const pipeline_sink *k = pipeline_sink_find(p, "s");
    assert_int_equal(k->n_publishers, 6);
    assert_int_equal(pub(p, "s", "udp")->port, 4952);
    assert_int_equal(pub(p, "s", "statsd")->port, 8125);
    assert_int_equal(pub(p, "s", "https")->port, 443);
    assert_string_equal(pub(p, "s", "https")->path, "/");
    assert_int_equal(pub(p, "s", "http")->port, 1); /* scheme lower-cased */
    assert_string_equal(pub(p, "s", "file")->path, "/x");
    assert_int_equal(pub(p, "s", "prometheus")->port, 0);
    pipeline_free(p);
}

static void test_interval_forms(void **state)
{
    (void)state;
    const char *ok[] = {"60", "\"60\"", "'60'", "\" 60 \"", "+60"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "sources: [{name: a, interval: %s, meters: [cpu]}]\n", ok[i]);
        pipeline *p = tu_parse_ok(text);
        assert_int_equal(p->sources[0].interval, 60);
        pipeline_free(p);
    }
    pipeline *p = tu_parse_ok("sources: [{name: a, interval: 31536000, meters: [cpu]}]");
    assert_int_equal(p->sources[0].interval, PIPELINE_MAX_INTERVAL);
    pipeline_free(p);
    const char *bad[] = {"31536001", "0x10", "1e3", "true", "\"\"", "60s", "'- 1'", "[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "sources: [{name: a, interval: %s, meters: [cpu]}]\n", bad[i]);
        pipeline_diags d = tu_parse_bad(text);
        assert_int_equal(tu_first_error(&d)->line, 1);
        assert_non_null(strstr(tu_first_error(&d)->message, "interval"));
        pipeline_diags_free(&d);
    }
}

static void test_known_meters_warn(void **state)
{
    (void)state;
    static const char *const known[] = {"cpu", "memory.usage", "disk.read.bytes"};
    pipeline_options opt = {.known_meters = known, .n_known_meters = 3};
    const char *text = "sources:\n"
                       "  - name: a\n"
                       "    interval: 60\n"
                       "    meters: [cpu, cpuu, 'disk.*', 'gpu.*']\n";
    pipeline *p = NULL;
    pipeline_diags d = {0};
    assert_int_equal(pipeline_parse(text, strlen(text), "k.yaml", &opt, &p, &d), 0);
    assert_non_null(p);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.count, 2);
    assert_int_equal(d.items[0].line, 4);
    assert_int_equal(d.items[0].column, 19);
    assert_non_null(strstr(d.items[0].message, "unknown meter 'cpuu'"));
    assert_non_null(strstr(d.items[1].message, "'gpu.*' matches no meter"));
    pipeline_free(p);
    pipeline_diags_free(&d);
}

static void test_several_errors_one_pass(void **state)
{
    (void)state;
    char path[1024];
    tu_data_path(path, sizeof path, "invalid/67-many-errors.yaml");
    pipeline *p = NULL;
    pipeline_diags d = {0};
    assert_int_equal(pipeline_load_file(path, tu_options(), &p, &d), -1);
    assert_null(p);
    assert_int_equal(d.errors, 5);
    /* sorted by position */
    for (size_t i = 1; i < d.count; i++)
        assert_true(d.items[i - 1].line <= d.items[i].line);
    int need = pipeline_diags_format(&d, NULL, 0);
    assert_true(need > 0);
    char *buf = malloc((size_t)need + 1);
    assert_int_equal(pipeline_diags_format(&d, buf, (size_t)need + 1), need);
    assert_int_equal(strlen(buf), (size_t)need);
    assert_non_null(strstr(buf, "67-many-errors.yaml:3:17: error: interval must be > 0"));
    assert_non_null(strstr(buf, ":5:7: warning: source 'b' has no 'interval'"));
    /* a short buffer is truncated, terminated, and the needed size still returned */
    char small[16];
    assert_int_equal(pipeline_diags_format(&d, small, sizeof small), need);
    assert_int_equal(strlen(small), sizeof small - 1);
    free(buf);
    pipeline_diags_free(&d);
}

static void test_diags_accumulate_and_null(void **state)
{
    (void)state;
    /* diags may be NULL; errors from an earlier file do not fail a valid one */
    pipeline *p = NULL;
    const char *bad = "sources: 1";
    assert_int_equal(pipeline_parse(bad, strlen(bad), NULL, tu_options(), &p, NULL), -1);
    pipeline_diags d = {0};
    assert_int_equal(pipeline_parse(bad, strlen(bad), NULL, tu_options(), &p, &d), -1);
    assert_string_equal(d.items[0].file, "<buffer>");
    const char *good = pipeline_default_yaml();
    assert_int_equal(pipeline_parse(good, strlen(good), "default", tu_options(), &p, &d), 0);
    assert_int_equal(d.errors, 1);
    assert_int_equal(p->sources[0].interval, 600);
    pipeline_free(p);
    pipeline_diags_free(&d);
    pipeline_free(NULL);
    pipeline_diags_free(NULL);
}

static void test_load_file_errors(void **state)
{
    (void)state;
    pipeline *p = NULL;
    pipeline_diags d = {0};
    assert_int_equal(pipeline_load_file("/nonexistent/pipeline.yaml", tu_options(), &p, &d), -1);
    assert_int_equal(d.items[0].line, 0);
    assert_non_null(strstr(d.items[0].message, "No such file"));
    assert_int_equal(pipeline_load_file(MeterdTestData, tu_options(), &p, &d), -1);
    assert_non_null(strstr(d.items[1].message, "directory"));
    assert_null(p);
    pipeline_diags_free(&d);
}

/* ~10 MB: one source with ~40000 meters of 240 characters each (a meter
 * pattern may be 255 bytes at most) */
static char *big_document(size_t target, size_t *len)
{
    size_t cap = target + 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    n += (size_t)snprintf(buf, cap, "sources:\n  - name: big\n    interval: 60\n    meters:\n");
    for (int i = 0; n + 400 < target; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "      - m%07d.", i);
        memset(buf + n, 'x', 230);
        n += 230;
        buf[n++] = '\n';
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void test_limits(void **state)
{
    (void)state;
    size_t len;
    char *big = big_document(10u * 1024 * 1024, &len);
    assert_true(len > 10u * 1000 * 1000);
    pipeline *p = NULL;
    pipeline_diags d = {0};
    assert_int_equal(pipeline_parse(big, len, "big.yaml", tu_options(), &p, &d), 0);
    assert_true(p->sources[0].n_meters > 9000);
    pipeline_free(p);
    /* a tighter byte limit refuses the same document before parsing it */
    pipeline_options opt = {.max_bytes = 1024 * 1024};
    assert_int_equal(pipeline_parse(big, len, "big.yaml", &opt, &p, &d), -1);
    assert_non_null(strstr(d.items[0].message, "document too large"));
    assert_int_equal(d.items[0].line, 1);
    free(big);
    pipeline_diags_free(&d);

    /* the default limit is 16 MiB */
    size_t over = PIPELINE_DEFAULT_MAX_BYTES + 1;
    char *huge = calloc(1, over);
    assert_non_null(huge);
    memset(huge, '#', over);
    assert_int_equal(pipeline_parse(huge, over, "huge.yaml", tu_options(), &p, &d), -1);
    assert_non_null(strstr(d.items[0].message, "document too large"));
    free(huge);
    pipeline_diags_free(&d);

    /* depth, nodes, sources */
    const char *nested = "sources: [{name: a, interval: 1, meters: [cpu], x-deep: [[[[1]]]]}]";
    pipeline_options shallow = {.max_depth = 5};
    assert_int_equal(pipeline_parse(nested, strlen(nested), "n", &shallow, &p, &d), -1);
    assert_non_null(strstr(d.items[0].message, "nesting deeper than 5"));
    pipeline_diags_free(&d);
    pipeline_options few = {.max_nodes = 8};
    assert_int_equal(pipeline_parse(nested, strlen(nested), "n", &few, &p, &d), -1);
    assert_non_null(strstr(d.items[0].message, "more than 8 nodes"));
    pipeline_diags_free(&d);
    const char *two = "sources: [{name: a, meters: [x]}, {name: b, meters: [y]}]";
    pipeline_options one = {.max_sources = 1};
    assert_int_equal(pipeline_parse(two, strlen(two), "n", &one, &p, &d), -1);
    assert_non_null(strstr(tu_first_error(&d)->message, "more than the limit of 1"));
    pipeline_diags_free(&d);
}

/* Deterministic mutation fuzzing: never crash, never leak, always a verdict. */
static void test_hostile_mutations(void **state)
{
    (void)state;
    char path[1024];
    tu_data_path(path, sizeof path, "valid/full.yaml");
    size_t len;
    char *orig = tu_read_file(path, &len);
    char *buf = malloc(len + 1);
    uint32_t seed = 12345;
    int accepted = 0, refused = 0;
    for (int round = 0; round < 400; round++) {
        memcpy(buf, orig, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            static const char alphabet[] = "\t\n :-[]{}&*!|>'\"#%@`,?\\\xff\x80\0";
            buf[at] = alphabet[(seed >> 3) % (sizeof alphabet - 1)];
        }
        pipeline *p = NULL;
        pipeline_diags d = {0};
        int rc = pipeline_parse(buf, len, "m.yaml", tu_options(), &p, &d);
        if (rc == 0) {
            assert_non_null(p);
            assert_int_equal(d.errors, 0);
            accepted++;
        } else {
            assert_null(p);
            assert_true(d.errors > 0);
            for (size_t i = 0; i < d.count; i++)
                assert_true(d.items[i].line >= 1);
            refused++;
        }
        pipeline_free(p);
        pipeline_diags_free(&d);
    }
    assert_true(refused > 0);
    (void)accepted;
    /* pure noise */
    for (int round = 0; round < 100; round++) {
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (char)(seed >> 16);
        }
        pipeline *p = NULL;
        pipeline_diags d = {0};
        pipeline_parse(buf, len, "noise", tu_options(), &p, &d);
        pipeline_free(p);
        pipeline_diags_free(&d);
    }
    free(buf);
    free(orig);
}

static void test_utf16_and_bom(void **state)
{
    (void)state;
    /* a UTF-8 BOM is fine; libyaml also decodes UTF-16 with a BOM */
    const char bom[] = "\xef\xbb\xbfsources: [{name: a, interval: 1, meters: [cpu]}]\n";
    pipeline *p = tu_parse_ok(bom);
    pipeline_free(p);
    const char u16[] = "\xff\xfes\0o\0u\0r\0c\0e\0s\0:\0 \0[\0]\0\n\0";
    pipeline_diags d = {0};
    assert_int_equal(pipeline_parse(u16, sizeof u16 - 1, "u16", tu_options(), &p, &d), 0);
    assert_int_equal(p->n_sources, 0);
    pipeline_free(p);
    pipeline_diags_free(&d);
}

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;
        if (n < 0) return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80) return false;
    }
    return true;
}

/* Messages quote user text bounded and escaped, and never cut a character in two. */
static void test_messages_bounded_utf8(void **state)
{
    (void)state;
    char text[4096] = "sources: [{name: \"";
    for (int i = 0; i < 300; i++)
        strcat(text, "\xc3\xa9"); /* 'é' */
    strcat(text, "\\x07\", interval: 1, meters: [\"");
    for (int i = 0; i < 300; i++)
        strcat(text, "\xe6\x97\xa5"); /* a 3-byte character */
    strcat(text, "\"], sinks: [x]}]");
    pipeline_diags d = tu_parse_bad(text);
    for (size_t i = 0; i < d.count; i++) {
        assert_true(valid_utf8(d.items[i].message));
        assert_true(strlen(d.items[i].message) < 512);
        assert_null(strchr(d.items[i].message, '\n'));
        assert_null(strchr(d.items[i].message, '\a'));
    }
    pipeline_diags_free(&d);
}

/* C1 controls (U+0080..U+009F: NEL, CSI...) reach terminals as controls too
 * (libyaml refuses them raw, but YAML's "\u0085" escape makes them): a
 * message quotes them as \u00XX, like C0 ones as \xXX. */
static void test_messages_quote_c1(void **state)
{
    (void)state;
    pipeline_diags d =
        tu_parse_bad("sources: [{name: \"a\\u0085b\\u009b\", interval: 1, meters: [x]}]");
    bool seen = false;
    for (size_t i = 0; i < d.count; i++) {
        assert_null(strstr(d.items[i].message, "\xc2\x85"));
        assert_null(strstr(d.items[i].message, "\xc2\x9b"));
        seen = seen || strstr(d.items[i].message, "a\\u0085b\\u009b") != NULL;
    }
    if (!seen) fail_msg("no message quotes the name with \\u0085/\\u009b");
    pipeline_diags_free(&d);
}

/* Issue 13 item 6: a 4 MB source name was accepted and then copied into every
 * sample and scrape. Names, meters, resources and discovery entries are
 * bounded at 255 bytes: the bound itself is accepted, one byte more is not. */
static void test_bounded_names(void **state)
{
    (void)state;
    const size_t big = 4u * 1024 * 1024;
    char *doc = malloc(big + 128);
    assert_non_null(doc);
    size_t n = (size_t)sprintf(doc, "sources:\n  - name: ");
    memset(doc + n, 'n', big);
    n += big;
    strcpy(doc + n, "\n    interval: 60\n    meters: [cpu]\n");
    pipeline_diags d = tu_parse_bad(doc);
    const pipeline_diag *e = tu_first_error(&d);
    assert_int_equal(e->line, 2);
    assert_int_equal(e->column, 11);
    assert_non_null(strstr(e->message, "a source name is 4194304 bytes long, more than the "
                                       "limit of 255 bytes"));
    assert_true(strlen(e->message) < 512);
    pipeline_diags_free(&d);
    free(doc);

    char at_bound[256];
    memset(at_bound, 'b', 255);
    at_bound[255] = '\0';
    char text[4096];
    snprintf(text, sizeof text,
             "sources:\n  - name: %s\n    interval: 60\n    meters: [%s]\n"
             "    resources: [%s]\n    discovery: [%s]\n    sinks: [%s]\n"
             "sinks:\n  - name: %s\n    publishers: [prometheus://]\n",
             at_bound, at_bound, at_bound, at_bound, at_bound, at_bound);
    pipeline *p = tu_parse_ok(text);
    assert_int_equal(strlen(p->sources[0].name), 255);
    assert_int_equal(strlen(p->sources[0].meters[0]), 255);
    assert_int_equal(strlen(p->sources[0].resources[0]), 255);
    assert_int_equal(strlen(p->sources[0].discovery[0]), 255);
    assert_int_equal(strlen(p->sinks[0].name), 255);
    pipeline_free(p);
}

/* An unknown query key longer than the error buffer (found by
 * fuzz_pipeline_parse from the 4 KB URL seed): the message is cut, and
 * nothing is written past the buffer (registry/query.c wrote " none" there). */
static void test_long_unknown_query_key(void **state)
{
    (void)state;
    char text[1024];
    int n = snprintf(text, sizeof text,
                     "sources: [{name: a, interval: 60, meters: [cpu]}]\n"
                     "sinks: [{name: default, publishers: ['file:///tmp/x.jsonl?");
    memset(text + n, 'k', 290); /* past the 300-byte buffer by a few bytes: ASan sees it */
    strcpy(text + n + 290, "=1']}]\n");
    pipeline_diags d = tu_parse_bad(text);
    assert_non_null(strstr(tu_first_error(&d)->message, "unknown option 'kkkk"));
    pipeline_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceilometer_polling),
        cmocka_unit_test(test_ceilometer_pipeline),
        cmocka_unit_test(test_publishers),
        cmocka_unit_test(test_interval_forms),
        cmocka_unit_test(test_known_meters_warn),
        cmocka_unit_test(test_several_errors_one_pass),
        cmocka_unit_test(test_diags_accumulate_and_null),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_hostile_mutations),
        cmocka_unit_test(test_utf16_and_bom),
        cmocka_unit_test(test_messages_bounded_utf8),
        cmocka_unit_test(test_messages_quote_c1),
        cmocka_unit_test(test_bounded_names),
        cmocka_unit_test(test_long_unknown_query_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
