/* test_expo_parse.c: the exposition parser on real bodies (node_exporter,
 * Prometheus' own /metrics, an OpenMetrics body) and on malformed ones:
 * truncated, huge label values, duplicate series, NaN/Inf, wrong types, limits. */
#include "expo/expo.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct seen {
    size_t n;
    char last_name[128], last_family[128], last_labels[512];
    expo_type last_type;
    bool last_cumulative;
    double last_value;
    bool has_time;
    int64_t time_ms;
    size_t created, buckets;
    char unit[32];
} seen;

static int collect(void *ctx, const expo_sample *s, char *msg, size_t msglen)
{
    (void)msg;
    (void)msglen;
    seen *c = ctx;
    c->n++;
    snprintf(c->last_name, sizeof c->last_name, "%s", s->name);
    snprintf(c->last_family, sizeof c->last_family, "%s", s->family);
    c->last_labels[0] = 0;
    for (size_t i = 0; i < s->n_labels; i++) {
        size_t l = strlen(c->last_labels);
        snprintf(c->last_labels + l, sizeof c->last_labels - l, "%s%s=%s", i ? "," : "",
                 s->labels[i].name, s->labels[i].value);
    }
    c->last_type = s->type;
    c->last_cumulative = s->cumulative;
    c->last_value = s->value;
    c->has_time = s->has_time;
    c->time_ms = s->time_ms;
    if (strstr(s->name, "_created")) c->created++;
    if (strstr(s->name, "_bucket")) c->buckets++;
    snprintf(c->unit, sizeof c->unit, "%s", s->unit);
    return 0;
}

static int parse(const char *text, expo_format f, const expo_limits *lim, seen *c, char *err)
{
    memset(c, 0, sizeof *c);
    err[0] = 0;
    return expo_parse(text, strlen(text), f, lim, collect, c, NULL, err, 512);
}

static char *slurp(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/expo/%s", MeterdTestData, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static size_t count_sample_lines(const char *b)
{
    size_t n = 0;
    for (const char *l = b; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        if (*l != '#' && *l != '\n') n++;
    return n;
}

static void real_body(const char *rel)
{
    size_t len;
    char *b = slurp(rel, &len);
    seen c = {0};
    char err[512] = "";
    expo_stats st;
    int rc = expo_parse(b, len, EXPO_TEXT, NULL, collect, &c, &st, err, sizeof err);
    if (rc != 0) fail_msg("%s: %s", rel, err);
    assert_int_equal(c.n, count_sample_lines(b));
    assert_int_equal(st.samples, c.n);
    assert_true(st.families > 10);
    assert_true(c.n > 50);
    free(b);
}

static void test_node_exporter_body(void **s)
{
    (void)s;
    real_body("valid/node_exporter.prom");
}

static void test_prometheus_body(void **s)
{
    (void)s;
    real_body("valid/prometheus.prom");
}

/* meterd's own /metrics: its meters, and node_exporter's series re-exposed */
static void test_meterd_body(void **s)
{
    (void)s;
    real_body("valid/meterd.prom");
}

static void test_openmetrics_body(void **s)
{
    (void)s;
    size_t len;
    char *b = slurp("openmetrics/sample.om", &len);
    seen c;
    char err[512];
    memset(&c, 0, sizeof c);
    int rc = expo_parse(b, len, EXPO_OPENMETRICS, NULL, collect, &c, NULL, err, sizeof err);
    if (rc != 0) fail_msg("%s", err);
    assert_int_equal(c.created, 0); /* _created series are dropped */
    assert_int_equal(c.buckets, 4); /* exemplars ignored, the buckets kept */
    assert_string_equal(c.last_name, "weird");
    assert_true(isnan(c.last_value));
    assert_int_equal(c.n, 4 + 1 + 1 + 6 + 1 + 2 + 1);
    /* the same body as text is refused: # EOF and "unknown" are OpenMetrics */
    assert_int_equal(expo_parse(b, len, EXPO_TEXT, NULL, NULL, NULL, NULL, err, sizeof err), -1);
    free(b);
}

static void test_openmetrics_details(void **s)
{
    (void)s;
    seen c;
    char err[512];
    assert_int_equal(parse("# TYPE a counter\n# UNIT a seconds\na_total 3 1520879607.789\n# EOF\n",
                           EXPO_OPENMETRICS, NULL, &c, err),
                     0);
    assert_string_equal(c.last_family, "a");
    assert_string_equal(c.unit, "seconds");
    assert_true(c.last_cumulative);
    assert_true(c.has_time);
    assert_int_equal(c.time_ms, 1520879607789LL);
    /* truncated: no # EOF */
    assert_int_equal(parse("a 1\n", EXPO_OPENMETRICS, NULL, &c, err), -1);
    assert_string_equal(err, "2:1: body ends without # EOF (truncated?)");
    assert_int_equal(parse("a 1", EXPO_OPENMETRICS, NULL, &c, err), -1);
    assert_string_equal(err, "1:4: body ends without # EOF (truncated?)");
    /* an empty OpenMetrics body is truncated too (the fuzzer's first find) */
    assert_int_equal(parse("", EXPO_OPENMETRICS, NULL, &c, err), -1);
    assert_string_equal(err, "1:1: body ends without # EOF (truncated?)");
    assert_int_equal(parse("a 1\n# EOF\nb 2\n", EXPO_OPENMETRICS, NULL, &c, err), -1);
    assert_string_equal(err, "3:1: text after # EOF");
    assert_int_equal(expo_format_of("application/openmetrics-text; version=1.0.0"),
                     EXPO_OPENMETRICS);
    assert_int_equal(expo_format_of("text/plain; version=0.0.4"), EXPO_TEXT);
    assert_int_equal(expo_format_of(NULL), EXPO_TEXT);
}

static void test_labels_escapes_values(void **s)
{
    (void)s;
    seen c;
    char err[512];
    assert_int_equal(parse("m{a=\"x\\\"y\",b=\"l1\\nl2\", c = \"back\\\\slash\",d=\"\\q\",} 1.5e3 "
                           "1700000000000\n",
                           EXPO_TEXT, NULL, &c, err),
                     0);
    assert_string_equal(c.last_labels, "a=x\"y,b=l1\nl2,c=back\\slash,d=\\q");
    assert_true(c.last_value == 1500.0);
    assert_true(c.has_time);
    assert_int_equal(c.time_ms, 1700000000000LL);
    assert_int_equal(parse("n NaN\n", EXPO_TEXT, NULL, &c, err), 0);
    assert_true(isnan(c.last_value));
    assert_int_equal(parse("n +Inf\n", EXPO_TEXT, NULL, &c, err), 0);
    assert_true(isinf(c.last_value) && c.last_value > 0);
    assert_int_equal(parse("n -Inf\n", EXPO_TEXT, NULL, &c, err), 0);
    assert_true(isinf(c.last_value) && c.last_value < 0);
    assert_int_equal(parse("n{l=\"日本\"} -0\n", EXPO_TEXT, NULL, &c, err), 0);
    assert_string_equal(c.last_labels, "l=日本");
    /* histogram: family and cumulative series */
    assert_int_equal(parse("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
                           EXPO_TEXT, NULL, &c, err),
                     0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.last_family, "h");
    assert_int_equal(c.last_type, EXPO_HISTOGRAM);
    assert_true(c.last_cumulative);
    /* a series outside the TYPE'd family is untyped */
    assert_int_equal(parse("# TYPE g gauge\ng 1\nother 2\n", EXPO_TEXT, NULL, &c, err), 0);
    assert_int_equal(c.last_type, EXPO_UNTYPED);
    assert_false(c.last_cumulative);
    /* blank lines, CRLF and plain comments are fine */
    assert_int_equal(parse("\n# just a comment\r\nx 1\r\n\n", EXPO_TEXT, NULL, &c, err), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(parse("", EXPO_TEXT, NULL, &c, err), 0);
}

/* The decimal fast path (no strtod) gives strtod's double, bit for bit, and
 * leaves everything else (exponents, 16+ digits, hex) to strtod. */
static void test_values_exact(void **s)
{
    (void)s;
    static const char *const vals[] = {
        "0",
        "-0",
        "+7",
        "1.",
        ".5",
        "0.1",
        "1234.5",
        "-98.765",
        "0.000123",
        "3.14159265358979",
        "999999999999999",
        "1e3",
        "2.5E-7",
        "12345678901234567",
        "0.30000000000000004",
        "1234567.0000000001",
        "0x1p3",
        "9007199254740993",
        "00000000000000001.5",
    };
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        char body[96], err[512];
        seen c;
        snprintf(body, sizeof body, "v %s\n", vals[i]);
        if (parse(body, EXPO_TEXT, NULL, &c, err) != 0) fail_msg("%s: %s", vals[i], err);
        double want = strtod(vals[i], NULL);
        if (memcmp(&c.last_value, &want, sizeof want) != 0)
            fail_msg("%s: %.17g, strtod %.17g", vals[i], c.last_value, want);
    }
    seen c;
    char err[512];
    assert_int_equal(parse("v 1.2.3\n", EXPO_TEXT, NULL, &c, err), -1);
    assert_int_equal(parse("v -\n", EXPO_TEXT, NULL, &c, err), -1);
    assert_int_equal(parse("v .\n", EXPO_TEXT, NULL, &c, err), -1);
}

typedef struct bad_case {
    const char *body, *err;
} bad_case;

static void test_malformed(void **s)
{
    (void)s;
    static const bad_case cases[] = {
        /* truncated */
        {"a 1\nb{x=\"1\"} 2", "2:11: body ends in the middle of a line (truncated?)"},
        {"a{x=\"1\n", "1:5: unterminated label value (expected '\"')"},
        {"a{x=\"1\"\n", "1:8: expected ',' or '}' after a label"},
        {"a\n", "1:2: expected a value"},
        /* duplicate series (label order does not matter) */
        {"a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n",
         "2:1: duplicate series a (same name and labels as an earlier line)"},
        {"a{x=\"1\",x=\"2\"} 1\n", "1:9: label x given twice"},
        /* bad values and timestamps */
        {"a one\n", "1:3: expected a number, NaN, +Inf or -Inf, got \"one\""},
        {"a 1 12.5\n", "1:5: expected a timestamp in milliseconds, got \"12.5\""},
        {"a 1 2 3\n", "1:7: unexpected text after the timestamp"},
        {"a 1e999\n", "1:3: expected a number, NaN, +Inf or -Inf, got \"1e999\""},
        /* wrong types */
        {"# TYPE a gauges\na 1\n",
         "1:10: unknown metric type \"gauges\" (expected counter, gauge, histogram, summary or "
         "untyped)"},
        {"# TYPE a gauge\n# TYPE a counter\n", "2:8: second TYPE line for metric family a"},
        {"# TYPE h histogram\nh_bucket 1\n", "2:1: histogram h: series without the \"le\" label"},
        {"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
         "2:1: histogram h: \"le\" label \"x\" is not a number"},
        {"# TYPE h histogram\nh 1\n",
         "2:1: histogram h: a series must be h_bucket, _count or _sum"},
        {"# TYPE q summary\nq 1\n", "2:1: summary q: series without the \"quantile\" label"},
        {"# TYPE i info\n", "1:10: unknown metric type \"info\" (expected counter, gauge, "
                            "histogram, summary or untyped)"},
        /* names and syntax */
        {"1a 1\n", "1:1: expected a metric name or a comment"},
        {"a{1=\"x\"} 1\n", "1:3: expected a label name or '}'"},
        {"a{b\"x\"} 1\n", "1:4: expected '=' after b"},
        {"a{b=x} 1\n", "1:5: expected '\"' to open the value of b"},
        {"a{b=\"\xff\"} 1\n", "1:6: invalid UTF-8 in a label value"},
        {"a{b=\"x\"}1\n", "1:9: expected a space before the value"},
        {"# HELP 9 x\n", "1:8: expected a metric name after # HELP"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        seen c;
        char err[512];
        int rc = parse(cases[i].body, EXPO_TEXT, NULL, &c, err);
        if (rc != -1 || strcmp(err, cases[i].err) != 0)
            fail_msg("case %zu: rc %d, err \"%s\", expected \"%s\"", i, rc, err, cases[i].err);
    }
}

static void test_limits(void **s)
{
    (void)s;
    seen c;
    char err[512];
    expo_limits lim = {.max_series = 2};
    assert_int_equal(parse("a 1\nb 1\n", EXPO_TEXT, &lim, &c, err), 0);
    assert_int_equal(parse("a 1\nb 1\nc 1\n", EXPO_TEXT, &lim, &c, err), -1);
    assert_string_equal(err, "3:1: more than 2 series (the series limit)");
    lim = (expo_limits){.max_bytes = 5};
    assert_int_equal(parse("a 1\nb 1\n", EXPO_TEXT, &lim, &c, err), -1);
    assert_string_equal(err, "body of 8 bytes exceeds the limit of 5 bytes");
    lim = (expo_limits){.max_labels = 1};
    assert_int_equal(parse("a{x=\"1\",y=\"1\"} 1\n", EXPO_TEXT, &lim, &c, err), -1);
    assert_string_equal(err, "1:9: more than 1 labels");
    /* a huge label value: refused with the limit named, not copied */
    size_t n = 100000;
    char *big = malloc(n + 32);
    strcpy(big, "a{x=\"");
    memset(big + 5, 'v', n);
    strcpy(big + 5 + n, "\"} 1\n");
    assert_int_equal(parse(big, EXPO_TEXT, NULL, &c, err), -1);
    assert_string_equal(err, "1:1: line longer than 65536 bytes");
    lim = (expo_limits){.max_line = 200000};
    assert_int_equal(parse(big, EXPO_TEXT, &lim, &c, err), -1);
    assert_string_equal(err, "1:5: label value longer than 4096 bytes");
    free(big);
}

static int stop_at_second(void *ctx, const expo_sample *s, char *msg, size_t msglen)
{
    (void)s;
    if (++*(int *)ctx == 2) {
        snprintf(msg, msglen, "enough");
        return -1;
    }
    return 0;
}

static void test_callback_stops(void **s)
{
    (void)s;
    int n = 0;
    char err[128];
    assert_int_equal(expo_parse("a 1\nb 2\nc 3\n", 12, EXPO_TEXT, NULL, stop_at_second, &n, NULL,
                                err, sizeof err),
                     -1);
    assert_string_equal(err, "2: enough");
    assert_int_equal(n, 2);
}

static void test_many_series(void **s)
{
    (void)s;
    /* enough series to grow the duplicate set several times */
    size_t n = 50000, cap = n * 32;
    char *b = malloc(cap), *p = b;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "m{i=\"%zu\"} %zu\n", i, i);
    seen c;
    char err[512];
    if (parse(b, EXPO_TEXT, NULL, &c, err) != 0) fail_msg("%s", err);
    assert_int_equal(c.n, n);
    p += sprintf(p, "m{i=\"77\"} 1\n");
    assert_int_equal(parse(b, EXPO_TEXT, NULL, &c, err), -1);
    assert_non_null(strstr(err, "duplicate series m"));
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_exporter_body),
        cmocka_unit_test(test_meterd_body),
        cmocka_unit_test(test_prometheus_body),
        cmocka_unit_test(test_openmetrics_body),
        cmocka_unit_test(test_openmetrics_details),
        cmocka_unit_test(test_labels_escapes_values),
        cmocka_unit_test(test_values_exact),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_many_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
