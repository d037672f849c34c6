/*
 * test_publisher_promtool.c (integration): the prometheus publisher's render
 * output, with hostile names, labels and values, is accepted by the real
 * `promtool check metrics` (Debian's prometheus package) read from stdin.
 */
#include "agent/publisher.h"
#include "harness/harness.h"
#include "publisher_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

/* Runs promtool on text; returns its exit status, output in out. */
static int promtool(const char *text, char *out, size_t cap)
{
    char in[512], log[512], cmd[1200];
    th_write_file("metrics.txt", text, in, sizeof in);
    th_path(log, sizeof log, "promtool.log");
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s' 2>&1", in, log);
    int st = system(cmd);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static publisher *fill(const char *const *names, const sample_type *types, const char *const *units,
                       const double *values, size_t n, const sample_label *labels, size_t nl)
{
    char err[256];
    publisher *p = publisher_open_url("prometheus://", NULL, err, sizeof err);
    assert_non_null(p);
    for (int r = 0; r < 3; r++) {
        sample_batch *b = sample_batch_new(r ? "src\"2" : "src", 0, 0);
        char res[32];
        snprintf(res, sizeof res, "node-%d.example", r);
        for (size_t i = 0; i < n; i++)
            sample_batch_add(b, names[i], types[i], units[i], values[i], res, 0, labels,
                             i % 2 ? nl : 0);
        publisher_submit(p, b);
        sample_batch_unref(b);
    }
    return p;
}

/* Ceilometer-style meters: promtool must accept them with no lint remark. */
static void test_promtool_accepts(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        th_skip_peer("promtool (Debian's prometheus package) is not installed");
    const char *names[] = {"host.pressure.cpu.some.avg10",
                           "cpu",
                           "memory.usage",
                           "network.incoming.bytes",
                           "hardware.ipmi.fan",
                           "disk.device.read.requests",
                           "power"};
    const sample_type types[] = {SAMPLE_GAUGE, SAMPLE_CUMULATIVE, SAMPLE_GAUGE, SAMPLE_CUMULATIVE,
                                 SAMPLE_GAUGE, SAMPLE_CUMULATIVE, SAMPLE_DELTA};
    const char *units[] = {"%", "ns", "MB", "B", "RPM", "request", "W\nnewline \\"};
    const double values[] = {0.25, 1e300, 0.0 / 0.0, 42, 1.0 / 0.0, 7, -1e-300};
    sample_label labels[] = {{"cpu", "0"},
                             {"source", "clash"},
                             {"device", "quote\" backslash\\ newline\n utf8 é"},
                             {"", "empty key"}};
    publisher *p = fill(names, types, units, values, 7, labels, 4);
    strbuf s;
    strbuf_init(&s);
    publisher_render(p, &s);
    assert_false(s.failed);
    char out[4096];
    int rc = promtool(s.buf, out, sizeof out);
    if (rc != 0) fail_msg("promtool exit %d: %s\n--- text ---\n%s", rc, out, s.buf);
    assert_non_null(strstr(s.buf, "# TYPE meterd_cpu_total counter\n"));
    assert_non_null(strstr(s.buf, "# TYPE meterd_power gauge\n"));
    strbuf_free(&s);
    publisher_close(p);
}

/*
 * Hostile meter and label names: the text must still parse. promtool may
 * then only make naming remarks (exit 3), which depend on the meter names
 * the operator chose, never a parse error (exit 1).
 */
static void test_promtool_parses_hostile(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        th_skip_peer("promtool (Debian's prometheus package) is not installed");
    const char *names[] = {"cpu:util|x y", "9lives", "a-b/c", "x_total", "é.ü"};
    const sample_type types[] = {SAMPLE_DELTA, SAMPLE_GAUGE, SAMPLE_CUMULATIVE, SAMPLE_CUMULATIVE,
                                 SAMPLE_GAUGE};
    const char *units[] = {"ns\nnewline", "\\", "B", "1", ""};
    const double values[] = {-1e-300, 0.0 / 0.0, 1e300, 42, 3};
    sample_label labels[] = {{"__name__", "no"}, {"weird key!", "v"}, {"9", "x"}};
    publisher *p = fill(names, types, units, values, 5, labels, 3);
    strbuf s;
    strbuf_init(&s);
    publisher_render(p, &s);
    char out[4096];
    int rc = promtool(s.buf, out, sizeof out);
    if (rc != 0 && (rc != 3 || strstr(out, "error")))
        fail_msg("promtool exit %d: %s\n--- text ---\n%s", rc, out, s.buf);
    assert_non_null(strstr(s.buf, "# TYPE meterd_a_b_c_total counter\n"));
    assert_non_null(strstr(s.buf, "# TYPE meterd_x_total counter\n"));
    strbuf_free(&s);
    publisher_close(p);
}

/* promtool really checks: broken text is refused (the test can fail). */
static void test_promtool_refuses_garbage(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        th_skip_peer("promtool (Debian's prometheus package) is not installed");
    char out[4096];
    assert_int_not_equal(promtool("# TYPE x counter\nx{a=\"b} 1\n", out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promtool_accepts),
        cmocka_unit_test(test_promtool_parses_hostile),
        cmocka_unit_test(test_promtool_refuses_garbage),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
