/*
 * test_api_metrics.c: the API server's own counters in the agent's /metrics
 * (meterd_api_*) move when hostile clients do what they count: malformed
 * HTTP (400), a head over max_head_bytes (431), a 256 MB Content-Length
 * (413), connections past max_connections (503, refused), heads not
 * complete within header_timeout_ms, and, in a meterd at a 64-descriptor
 * limit, accept() failing with EMFILE (back-offs). The page with the counters
 * moved passes `promtool check metrics`. Real meterd processes on loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness/harness.h"
#include "httpd/client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char resp[1 << 20];

/* Status of one raw request on a fresh connection (-1: no answer). */
static int request(int port, const char *raw)
{
    ssize_t n = th_tcp_request("127.0.0.1", port, raw, resp, sizeof resp, 5000 * th_slack(), NULL);
    int code = 0;
    if (n <= 0 || sscanf(resp, "HTTP/1.%*d %d", &code) != 1) return -1;
    return code;
}

static int get(int port, const char *path)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    return request(port, req);
}

/* A series' value on the page in resp ("name" or "name{labels}"), -1 if absent. */
static double value_in(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = page; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, series, n) && l[n] == ' ') return strtod(l + n + 1, NULL);
    return -1;
}

/* /metrics' value of series; -1 when the page could not be read. */
static double scrape(int port, const char *series)
{
    if (get(port, "/metrics") != 200) return -1;
    return value_in(strstr(resp, "\r\n\r\n") + 4, series);
}

static int spawn(th_proc *p, const char *name, const char *api, const char *limit)
{
    char conf[512], pipe_path[512], text[600], cname[64];
    snprintf(cname, sizeof cname, "%s.conf", name);
    snprintf(text, sizeof text, "[api]\n%s", api);
    assert_int_equal(th_write_file(cname, text, conf, sizeof conf), 0);
    assert_int_equal(th_write_file("pipeline.yaml",
                                   "sources:\n  - name: host\n    interval: 5\n"
                                   "    meters: ['host.cpu.*']\n",
                                   pipe_path, sizeof pipe_path),
                     0);
    char *argv[] = {"prlimit", (char *)limit, MeterdBinary, "-c", conf,
                    "-p",      pipe_path,     "-f",         NULL};
    return limit ? th_spawn(p, name, argv, NULL, NULL)
                 : th_spawn_daemon(p, name, argv + 2, NULL, NULL);
}

typedef struct up_arg {
    int port;
} up_arg;

static bool api_up(void *arg)
{
    return get(((up_arg *)arg)->port, "/health") == 200;
}

typedef struct moved_arg {
    int port;
    const char *series;
    double above;
} moved_arg;

static bool moved(void *arg)
{
    moved_arg *m = arg;
    return scrape(m->port, m->series) > m->above;
}

/* Nothing open but the scrape's own connection. */
static bool only_own_open(void *arg)
{
    moved_arg *m = arg;
    return scrape(m->port, m->series) == 1;
}

/* Waits until series exceeds `above`; fails naming it otherwise. */
static void expect_moved(int port, const char *series, double above)
{
    moved_arg m = {port, series, above};
    if (!th_wait_until(moved, &m, 10000 * th_slack()))
        fail_msg("%s stayed at %g (expected more than %g)", series, scrape(port, series), above);
}

static void stop(th_proc *p)
{
    assert_int_equal(th_stop(p, SIGTERM, 10000 * th_slack()) >= 0, 1);
    th_expect_clean_exit(p, 0);
}

static void test_refusals_counted(void **state)
{
    (void)state;
    int port = th_free_port();
    char api[256];
    snprintf(api, sizeof api, "port = %d\nmax_connections = 4\nheader_timeout_ms = 1500\n", port);
    th_proc p;
    assert_int_equal(spawn(&p, "meterd-counts", api, NULL), 0);
    up_arg up = {port};
    assert_true(th_wait_until(api_up, &up, 15000 * th_slack()));

    static const char *const series[] = {"meterd_api_requests_refused_total{code=\"400\"}",
                                         "meterd_api_requests_refused_total{code=\"431\"}",
                                         "meterd_api_requests_refused_total{code=\"413\"}",
                                         "meterd_api_connections_refused_total",
                                         "meterd_api_header_timeouts_total",
                                         "meterd_api_connections_total",
                                         "meterd_api_requests_total"};
    enum { N = sizeof series / sizeof series[0] };
    double before[N];
    for (size_t i = 0; i < N; i++) {
        before[i] = scrape(port, series[i]);
        if (before[i] < 0) fail_msg("%s is not on /metrics:\n%s", series[i], resp);
    }
    assert_true(scrape(port, "meterd_api_connections_open") >= 1); /* the scrape's own */

    /* a header line without a colon: libmicrohttpd's own 400 */
    assert_int_equal(request(port, "GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
                     400);
    static char big[9400];
    int n = snprintf(big, sizeof big, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', 9216 - (size_t)n);
    strcpy(big + 9216, "\r\nConnection: close\r\n\r\n");
    assert_int_equal(request(port, big), 431);
    assert_int_equal(request(port, "PUT /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                   "268435456\r\nConnection: close\r\n\r\n"),
                     413);

    /* four silent connections fill max_connections: the next one gets 503
     * (once the acceptor has taken the four), and each of the four is cut at
     * header_timeout_ms. The requests above must be gone first: one the
     * server had not closed yet held a slot, the fourth silent connection
     * was refused at the cap instead of timing out (1 run in 3 here). */
    moved_arg drained = {port, "meterd_api_connections_open", 0};
    if (!th_wait_until(only_own_open, &drained, 10000 * th_slack()))
        fail_msg("earlier connections still open: %g", scrape(port, drained.series));
    int idle[4];
    for (int i = 0; i < 4; i++)
        assert_true((idle[i] = hc_dial(port, false)) >= 0);
    int code = 0;
    int64_t deadline = th_now_ms() + 10000 * th_slack();
    while ((code = get(port, "/health")) != 503 && th_now_ms() < deadline)
        usleep(20 * 1000);
    assert_int_equal(code, 503);
    for (int i = 0; i < 4; i++) {
        assert_true(hc_closed_within(idle[i], 10000 * th_slack()));
        close(idle[i]);
    }

    for (size_t i = 0; i < N; i++)
        expect_moved(port, series[i], before[i] + (i == 4 ? 3 : 0));
    stop(&p);
}

/* The page with every counter moved is valid exposition text. */
static void test_page_passes_promtool(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        th_skip_peer("promtool (Debian's prometheus package) is not installed");
    int port = th_free_port();
    char api[128], path[512], cmd[1200];
    snprintf(api, sizeof api, "port = %d\n", port);
    th_proc p;
    assert_int_equal(spawn(&p, "meterd-promtool", api, NULL), 0);
    up_arg up = {port};
    assert_true(th_wait_until(api_up, &up, 15000 * th_slack()));
    assert_int_equal(request(port, "GET /health HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n"), 400);
    assert_true(scrape(port, "meterd_api_requests_refused_total{code=\"400\"}") >= 1);
    assert_int_equal(
        th_write_file("api-metrics.txt", strstr(resp, "\r\n\r\n") + 4, path, sizeof path), 0);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s.out' 2>&1", path, path);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s.out'", path);
        if (system(cmd) != 0) print_message("(could not show %s.out)\n", path);
        fail_msg("promtool check metrics refused the page (above)");
    }
    stop(&p);
}

/* At a 64-descriptor limit (and no connection cap below it) a pile of idle
 * connections runs the process out of descriptors: accept() fails with
 * EMFILE, the acceptor backs off and counts it. */
static void test_emfile_backoffs_counted(void **state)
{
    (void)state;
    if (system("command -v prlimit >/dev/null 2>&1") != 0)
        th_skip_peer("prlimit (util-linux) is missing");
    enum { LIMIT = 64, IDLE = 90 };
    int port = th_free_port();
    char api[160], limit[32];
    snprintf(api, sizeof api, "port = %d\nmax_connections = 100000\nheader_timeout_ms = 60000\n",
             port);
    snprintf(limit, sizeof limit, "--nofile=%d:%d", LIMIT, LIMIT);
    th_proc p;
    assert_int_equal(spawn(&p, "meterd-emfile", api, limit), 0);
    up_arg up = {port};
    assert_true(th_wait_until(api_up, &up, 15000 * th_slack()));
    assert_int_equal(scrape(port, "meterd_api_accept_backoffs_total"), 0);
    int idle[IDLE];
    for (int i = 0; i < IDLE; i++)
        idle[i] = hc_dial(port, false); /* those past the limit wait in the backlog */
    th_fds_want f = {p.pid, LIMIT};
    assert_true(th_wait_until(th_proc_fds_reached, &f, 10000 * th_slack()));
    for (int i = 0; i < IDLE; i++)
        if (idle[i] >= 0) close(idle[i]);
    expect_moved(port, "meterd_api_accept_backoffs_total", 0);
    stop(&p);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_counted),
        cmocka_unit_test(test_page_passes_promtool),
        cmocka_unit_test(test_emfile_backoffs_counted),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
