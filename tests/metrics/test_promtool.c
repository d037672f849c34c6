/*
 * test_promtool.c: the prometheus backend's exposition text passes
 * `promtool check metrics` (format and lint rules: HELP, TYPE, _total,
 * summary suffixes), piped through stdin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness/harness.h"
#include "metrics/metrics.h"

static void test_promtool_accepts(void **state)
{
    (void)state;
    metrics_config cfg;
    metrics_config_init(&cfg);
    cfg.backend = METRICS_BACKEND_PROMETHEUS;
    snprintf(cfg.global_prefix, sizeof cfg.global_prefix, "meterd");
    char err[256];
    metrics_registry *reg = metrics_registry_create(&cfg, err, sizeof err);
    assert_non_null(reg);
    metrics_logger *log = metrics_get_logger(reg, "agent");
    metrics_counter(metrics_counter_get(log, "poll.count", err, sizeof err), 12);
    metrics_counter(metrics_counter_get(log, "samples.published", err, sizeof err), 1000);
    metrics_gauge(metrics_gauge_get(log, "targets.owned", err, sizeof err), 42);
    metrics_gauge(metrics_gauge_get(log, "Odd-Name.x", err, sizeof err), -0.125);
    metrics_timer(metrics_timer_get(log, "poll.duration", err, sizeof err), 12.5);
    metrics_timer(metrics_timer_get(log, "reload.apply_seconds", err, sizeof err), 3);
    metrics_counter_get(log, "never.touched", err, sizeof err);
    size_t len;
    char *text = metrics_render_prometheus_text(reg, &len);
    assert_non_null(text);
    assert_true(len > 0);

    if (system("command -v promtool >/dev/null 2>&1") != 0)
        th_skip_peer("promtool (Debian's prometheus package) is not installed");
    FILE *p = popen("promtool check metrics", "w");
    assert_non_null(p);
    assert_int_equal(fwrite(text, 1, len, p), len);
    int status = pclose(p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("promtool check metrics: status %d (127: promtool missing, run "
                 "deploy/deps.sh) on:\n%s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, text);
    free(text);
    metrics_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promtool_accepts),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
