/*
 * test_meterd_process.c: the real meterd binary under signals. SIGHUP
 * reloads the pipeline and reopens the output file (log rotation); SIGTERM
 * stops it cleanly with every polled sample written; bad configuration is a
 * clear error with file:line and exit status 1. Every run is judged: the
 * expected exit code and no sanitizer or valgrind report in its output
 * (th_expect_clean_exit); with METERD_TEST_WRAP meterd runs under valgrind.
 */
#include "harness/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static char resp[1 << 16];

static int64_t cf_now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static int api_port;

static json_t *status(void)
{
    ssize_t n = th_tcp_request("127.0.0.1", api_port,
                               "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               resp, sizeof resp, 3000, NULL);
    if (n <= 0) return NULL;
    char *b = strstr(resp, "\r\n\r\n");
    return b ? json_loads(b + 4, 0, NULL) : NULL;
}

static long revision(void)
{
    json_t *s = status();
    long r = s ? (long)json_integer_value(json_object_get(
                     json_object_get(json_array_get(json_object_get(s, "groups"), 0), "pipeline"),
                     "revision"))
               : -1;
    json_decref(s);
    return r;
}

static bool at_revision_2(void *arg)
{
    (void)arg;
    return revision() == 2;
}

static bool file_has_lines(void *arg)
{
    struct stat st;
    return stat(arg, &st) == 0 && st.st_size > 0;
}

static bool api_up(void *arg)
{
    (void)arg;
    return revision() == 1;
}

static void test_signals(void **state)
{
    (void)state;
    char conf[512], pipe[512], out[512], rotated[512];
    th_path(out, sizeof out, "out/samples.jsonl");
    th_path(rotated, sizeof rotated, "out/samples.jsonl.1");
    api_port = th_free_port();
    char text[2048];
    snprintf(text, sizeof text,
             "sources:\n  - name: host\n    interval: 1\n    meters: ['host.load.*']\n"
             "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             out);
    th_write_file("pipeline.yaml", text, pipe, sizeof pipe);
    snprintf(text, sizeof text,
             "[DEFAULT]\nreload_pipeline_config = false\n"
             "[polling]\ncfg_file = %s\n[api]\nport = %d\n",
             pipe, api_port);
    th_write_file("meterd.conf", text, conf, sizeof conf);

    th_proc p;
    char *argv[] = {MeterdBinary, "-c", conf, "-f", NULL};
    assert_int_equal(th_spawn_daemon(&p, "meterd", argv, NULL, NULL), 0);
    assert_true(th_wait_until(api_up, NULL, 5000 * th_slack()));
    assert_true(th_wait_until(file_has_lines, out, 5000 * th_slack()));

    /* reload_pipeline_config is off: only SIGHUP applies the new file */
    snprintf(text, sizeof text,
             "sources:\n  - name: host\n    interval: 1\n    meters: ['host.load.1min']\n"
             "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             out);
    th_write_file("pipeline.yaml", text, NULL, 0);
    assert_int_equal(rename(out, rotated), 0);
    th_signal(&p, SIGHUP);
    assert_true(th_wait_until(at_revision_2, NULL, 5000 * th_slack()));
    /* reopened after rotation */
    assert_true(th_wait_until(file_has_lines, out, 5000 * th_slack()));

    th_stop(&p, SIGTERM, 10000 * th_slack());
    th_expect_clean_exit(&p, 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j); /* complete lines only, even at shutdown */
        assert_string_equal(json_string_value(json_object_get(j, "name")), "host.load.1min");
        json_decref(j);
        lines++;
    }
    fclose(f);
    assert_true(lines >= 1);
}

static int64_t parse_ts(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static int64_t skipped_total(void)
{
    json_t *s = status();
    json_t *src = json_array_get(
        json_object_get(json_array_get(json_object_get(s, "groups"), 0), "sources"), 0);
    int64_t n = src ? (int64_t)json_integer_value(json_object_get(src, "skipped")) : -1;
    json_decref(s);
    return n;
}

static bool skipped_some(void *arg)
{
    (void)arg;
    return skipped_total() >= 1;
}

typedef struct polled_after_arg {
    const char *path;
    int64_t at; /* wall ms */
} polled_after_arg;

/* The output holds a sample stamped at or after `at`. */
static bool polled_after(void *arg)
{
    polled_after_arg *a = arg;
    FILE *f = fopen(a->path, "r");
    char line[1024];
    bool seen = false;
    while (f && !seen && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        seen = j && parse_ts(json_string_value(json_object_get(j, "timestamp"))) >= a->at;
        json_decref(j);
    }
    if (f) fclose(f);
    return seen;
}

/* A frozen agent does not burst stale polls when it resumes: the instants it
 * slept through are skipped and counted, the cadence goes on. */
static void test_frozen_no_burst(void **state)
{
    (void)state;
    char conf[512], pipe[512], out[512];
    th_path(out, sizeof out, "frozen/samples.jsonl");
    api_port = th_free_port();
    char text[2048];
    snprintf(text, sizeof text,
             "sources:\n  - name: host\n    interval: 1\n    meters: ['host.load.1min']\n"
             "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             out);
    th_write_file("frozen/pipeline.yaml", text, pipe, sizeof pipe);
    snprintf(text, sizeof text, "[polling]\ncfg_file = %s\n[api]\nport = %d\n", pipe, api_port);
    th_write_file("frozen/meterd.conf", text, conf, sizeof conf);
    th_proc p;
    char *argv[] = {MeterdBinary, "-c", conf, NULL};
    assert_int_equal(th_spawn_daemon(&p, "meterd-frozen", argv, NULL, NULL), 0);
    assert_true(th_wait_until(file_has_lines, out, 5000 * th_slack()));
    th_signal(&p, SIGSTOP);
    struct timespec ts = {2, 600 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the freeze itself is what is tested */
    th_signal(&p, SIGCONT);
    assert_true(th_wait_until(skipped_some, NULL, 5000 * th_slack()));
    /* the cadence resumed: a burst would be written by now */
    polled_after_arg after = {out, cf_now_wall() + 1000};
    assert_true(th_wait_until(polled_after, &after, 10000 * th_slack()));
    th_stop(&p, SIGTERM, 10000 * th_slack());
    th_expect_clean_exit(&p, 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[1024];
    int64_t prev = -1, min_gap = INT64_MAX;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        int64_t t = parse_ts(json_string_value(json_object_get(j, "timestamp")));
        json_decref(j);
        if (prev >= 0 && t - prev < min_gap) min_gap = t - prev;
        prev = t;
        n++;
    }
    fclose(f);
    printf("# frozen 2.6 s: %d polls, smallest gap %lld ms\n", n, (long long)min_gap);
    assert_true(n >= 2);
    /* no catch-up burst after SIGCONT (a slow build delays single polls) */
    assert_true(min_gap >= (th_slow() ? 300 : 800));
}

/* Runs meterd to its end; its exit code (-1: killed), judged clean for it. */
static int run_status(char *const argv[], char *output, size_t cap)
{
    th_proc p;
    char log[512];
    th_path(log, sizeof log, "cli.log");
    remove(log);
    if (th_spawn_daemon(&p, "meterd-cli", argv, NULL, log) != 0) return -1;
    int st = th_stop(&p, 0, 5000 * th_slack()); /* signal 0: just wait */
    if (WIFEXITED(st)) th_expect_clean_exit(&p, WEXITSTATUS(st));
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(output, 1, cap - 1, f) : 0;
    output[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_bad_config_and_flags(void **state)
{
    (void)state;
    char conf[512], out[4096];
    th_write_file("bad.conf", "[polling]\nworkers = lots\n[api]\nprot = 1\n", conf, sizeof conf);
    char *bad[] = {MeterdBinary, "-c", conf, NULL};
    assert_int_equal(run_status(bad, out, sizeof out), 1);
    assert_non_null(strstr(out, "bad.conf:2: workers expects an integer"));
    assert_non_null(strstr(out, "bad.conf:4: unknown option \"prot\""));

    char *version[] = {MeterdBinary, "--version", NULL};
    assert_int_equal(run_status(version, out, sizeof out), 0);
    assert_non_null(strstr(out, "meterd "));
    char *usage[] = {MeterdBinary, "--bogus", NULL};
    assert_int_equal(run_status(usage, out, sizeof out), 2);
    char *help[] = {MeterdBinary, "--help-config", NULL};
    assert_int_equal(run_status(help, out, sizeof out), 0);
    assert_non_null(strstr(out, "reload_pipeline_config = true"));
}

/*
 * Issue 13: -c /dev/zero spun forever, -c FIFO blocked forever, -c a directory
 * started on the built-in defaults, an empty --namespaces ran no pollster.
 * Each exits 1 at once with the path, what it is and what was expected (the
 * run_status deadline is only a guard: a hang shows as -1, killed).
 */
static void test_bad_config_paths(void **state)
{
    (void)state;
    char fifo[512], dir[512], out[4096], msg[1200];
    th_path(fifo, sizeof fifo, "paths/meterd.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(dir, sizeof dir, "%s", fifo);
    *strrchr(dir, '/') = 0;
    struct {
        const char *path, *what;
    } cases[] = {{fifo, "a FIFO"}, {"/dev/zero", "a character device"}, {dir, "a directory"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {MeterdBinary, "-c", (char *)cases[i].path, NULL};
        int rc = run_status(argv, out, sizeof out);
        snprintf(msg, sizeof msg, "meterd: %s: is %s; expected a regular file", cases[i].path,
                 cases[i].what);
        if (rc != 1 || !strstr(out, msg))
            fail_msg("meterd -c %s: exit %d (expected 1), output:\n%s\n(expected \"%s\")",
                     cases[i].path, rc, out, msg);
    }
    char *nope[] = {MeterdBinary, "--namespaces", "centrall", NULL};
    assert_int_equal(run_status(nope, out, sizeof out), 1);
    assert_non_null(strstr(out, "meterd: --namespaces: unknown namespace \"centrall\""));
    char *empty[] = {MeterdBinary, "--namespaces", "", NULL};
    assert_int_equal(run_status(empty, out, sizeof out), 1);
    assert_non_null(strstr(out, "meterd: --namespaces: no namespace given"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_frozen_no_burst),
        cmocka_unit_test(test_bad_config_and_flags),
        cmocka_unit_test(test_bad_config_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
