/*
 * test_api_limits.c: a real meterd's API under hostile clients (issue 13
 * item 3). With a 1,024-descriptor limit, 1,100 idle connections neither
 * make it spin (its CPU time over the flood, from /proc, stays well below a
 * core: nng 1.5.2 spun at 1.2 cores in accept) nor stop it: /health answers
 * from a new connection once idle ones are refused or time out, and polls
 * keep succeeding. A 9 KB head gets 431 (nng dropped it without a status),
 * a 256 MB Content-Length 413 at once with RSS unchanged, heads cut inside a
 * header name and 200 byte-a-second clients do not stop others being served
 * and are cut at header_timeout_ms, pipelined requests are all answered, and
 * /v1/targets?target=T (a URL, percent-encoded) returns T's tasks only.
 *
 * METERD_BINARY runs another meterd (how the old code's failures were seen).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness/harness.h"
#include "httpd/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static th_proc agent;
static int port;
static char resp[1 << 20];

/* Status of one request on a fresh connection (-1: no answer). */
static int request(const char *raw, int timeout_ms)
{
    ssize_t n = th_tcp_request("127.0.0.1", port, raw, resp, sizeof resp, timeout_ms, NULL);
    int code = 0;
    if (n <= 0 || sscanf(resp, "HTTP/1.%*d %d", &code) != 1) return -1;
    return code;
}

static int get(const char *path)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    return request(req, 5000 * th_slack());
}

static bool health_ok(void *arg)
{
    (void)arg;
    return get("/health") == 200;
}

/* Sums polls and errors over every task of /v1/targets; false if unreadable. */
static bool poll_counts(long *polls, long *errors)
{
    if (get("/v1/targets") != 200) return false;
    json_t *a = json_loads(strstr(resp, "\r\n\r\n") + 4, 0, NULL);
    if (!json_is_array(a)) return false;
    *polls = *errors = 0;
    size_t i;
    json_t *t;
    json_array_foreach(a, i, t)
    {
        *polls += (long)json_integer_value(json_object_get(t, "polls"));
        *errors += (long)json_integer_value(json_object_get(t, "errors"));
    }
    json_decref(a);
    return true;
}

static bool polled(void *arg)
{
    long p, e;
    return poll_counts(&p, &e) && p >= *(long *)arg;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    while (fgets(line, sizeof line, fp))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(fp);
    return kb;
}

/* meterd with a 1,024-descriptor limit, short API timeouts, host polls every second. */
static int setup(void **state)
{
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max < 2400) th_skip_all("the test needs 2,400 descriptors (ulimit -Hn)");
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (system("command -v prlimit >/dev/null 2>&1") != 0)
        th_skip_all("prlimit (util-linux) is missing");
    char conf[512], pipe_path[512], text[512];
    port = th_free_port();
    const char *bin = getenv("METERD_BINARY") ? getenv("METERD_BINARY") : MeterdBinary;
    /* an older meterd (METERD_BINARY) knows none of the timeouts */
    snprintf(text, sizeof text, "[api]\nport = %d\n%s", port,
             getenv("METERD_BINARY") ? "" : "header_timeout_ms = 1500\nidle_timeout_ms = 2000\n");
    assert_int_equal(th_write_file("meterd.conf", text, conf, sizeof conf), 0);
    assert_int_equal(th_write_file("pipeline.yaml",
                                   "sources:\n  - name: host\n    interval: 1\n"
                                   "    meters: ['host.*']\n",
                                   pipe_path, sizeof pipe_path),
                     0);
    char *argv[] = {"prlimit", "--nofile=1024:1024", (char *)bin, "-c", conf, "-p", pipe_path, "-f",
                    NULL};
    assert_int_equal(th_spawn(&agent, "meterd", argv, NULL, NULL), 0);
    assert_true(th_wait_until(health_ok, NULL, 15000 * th_slack()));
    long one = 1;
    assert_true(th_wait_until(polled, &one, 15000 * th_slack()));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_stop(&agent, SIGTERM, 10000 * th_slack());
    return 0;
}

static void test_descriptor_flood(void **state)
{
    (void)state;
    enum { N = 1100 };
    static int fds[N];
    long polls0, errors0;
    assert_true(poll_counts(&polls0, &errors0));
    int opened = 0;
    /* one after the other, as idle clients pile up (a burst of non-blocking
     * connects overflows the listen backlog instead and tests the kernel) */
    for (int i = 0; i < N; i++)
        if ((fds[i] = hc_dial(port, false)) >= 0) opened++;
    assert_true(opened > 1024);
    long t0 = hc_cpu_ticks(agent.pid);
    int64_t w0 = th_now_ms();
    usleep(2000 * 1000); /* a window long enough to see a spin */
    long t1 = hc_cpu_ticks(agent.pid);
    int64_t w1 = th_now_ms();
    double cores = hc_cores(t0, t1, (long)(w1 - w0));
    print_message("meterd CPU over the flood: %.3f cores in %.1f s\n", cores,
                  (double)(w1 - w0) / 1000.0);
    assert_true(cores < 0.5);
    /* while they are held, a new connection is answered (503 while the cap is
     * full, 200 once idle ones are cut at the header timeout) */
    int64_t deadline = th_now_ms() + 20000 * th_slack();
    int code;
    while ((code = get("/health")) != 200 && th_now_ms() < deadline)
        usleep(100 * 1000);
    assert_int_equal(code, 200);
    /* polling went on: more polls, no new errors (host pollsters open /proc files) */
    long polls1, errors1;
    long want = polls0 + 2;
    assert_true(th_wait_until(polled, &want, 10000 * th_slack()));
    assert_true(poll_counts(&polls1, &errors1));
    if (errors1 != errors0) {
        char *j = strstr(resp, "\r\n\r\n") + 4;
        for (char *c = j; *c; c++) /* one line, so the log keeps it whole */
            if (*c == '\n') *c = ' ';
        fail_msg("poll errors during the flood: %ld -> %ld: %s", errors0, errors1, j);
    }
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0) close(fds[i]);
}

/* a 9 KB head: 431 (nng cut it without a status) */
static void test_big_head(void **state)
{
    (void)state;
    static char big[9400];
    int n = snprintf(big, sizeof big, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', 9216 - (size_t)n);
    strcpy(big + 9216, "\r\nConnection: close\r\n\r\n");
    assert_int_equal(request(big, 5000 * th_slack()), 431);
}

/* 256 MB declared: 413 at the head, nothing buffered */
static void test_big_body(void **state)
{
    (void)state;
    long rss0 = rss_kb(agent.pid);
    int fd = hc_dial(port, false);
    const char *head = "PUT /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 268435456\r\n\r\n";
    assert_int_equal(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    char chunk[65536];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 64; i++) /* 4 MB of it, as a client would push before reading */
        if (send(fd, chunk, sizeof chunk, MSG_NOSIGNAL | MSG_DONTWAIT) <= 0) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000 * th_slack()), 1);
    ssize_t got = recv(fd, resp, 200, 0);
    assert_true(got > 12);
    resp[got] = 0;
    assert_non_null(strstr(resp, "HTTP/1.1 413"));
    close(fd);
    long rss1 = rss_kb(agent.pid);
    print_message("RSS around the 256 MB request: %ld -> %ld kB\n", rss0, rss1);
    assert_true(rss1 - rss0 < 8 * 1024);
}

/* heads cut inside a header name, then closed */
static void test_cut_heads(void **state)
{
    (void)state;
    int fd;
    for (int i = 0; i < 20; i++) {
        fd = hc_dial(port, false);
        const char *cut = "GET /health HTTP/1.1\r\nHost: x\r\nX-Cut-Na";
        send(fd, cut, strlen(cut), MSG_NOSIGNAL);
        close(fd);
    }
    assert_int_equal(get("/health"), 200);
}

static void test_pipelined(void **state)
{
    (void)state;
    int fd = hc_dial(port, false);
    struct pollfd p;
    const char *three =
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, three, strlen(three), MSG_NOSIGNAL), (ssize_t)strlen(three));
    size_t len = 0;
    for (;;) {
        p = (struct pollfd){.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000 * th_slack()) != 1) break;
        ssize_t r = recv(fd, resp + len, sizeof resp - 1 - len, 0);
        if (r <= 0) break;
        len += (size_t)r;
    }
    resp[len] = 0;
    close(fd);
    int answers = 0;
    for (const char *s = resp; (s = strstr(s, "HTTP/1.1 ")); s++)
        answers++;
    assert_int_equal(answers, 3);
}

/* 200 clients sending their head a byte a second: others are served meanwhile,
 * and the slow ones are cut at header_timeout_ms (1.5 s here). */
static void test_slow_clients(void **state)
{
    (void)state;
    enum { SLOW = 200 };
    int fds[SLOW];
    for (int i = 0; i < SLOW; i++) {
        fds[i] = hc_dial(port, false);
        assert_true(fds[i] >= 0);
    }
    const char *head = "GET /health HTTP/1.1\r\n";
    int served = 0;
    for (int sec = 0; sec < 3; sec++) {
        for (int i = 0; i < SLOW; i++)
            send(fds[i], head + sec, 1, MSG_NOSIGNAL);
        served += get("/health") == 200;
        usleep(1000 * 1000);
    }
    assert_int_equal(served, 3);
    int cut = 0;
    int64_t deadline = th_now_ms() + 10000 * th_slack();
    for (int i = 0; i < SLOW; i++) {
        cut += hc_closed_within(fds[i], (int)(deadline - th_now_ms()));
        close(fds[i]);
    }
    assert_int_equal(cut, SLOW);
}

static void test_targets_filter(void **state)
{
    (void)state;
    assert_int_equal(get("/v1/targets"), 200);
    json_t *all = json_loads(strstr(resp, "\r\n\r\n") + 4, 0, NULL);
    assert_true(json_array_size(all) >= 2);
    const char *id = json_string_value(json_object_get(json_array_get(all, 0), "target"));
    assert_non_null(id);
    size_t same = 0, i;
    json_t *t;
    json_array_foreach(all, i, t) same +=
        !strcmp(json_string_value(json_object_get(t, "target")), id);
    char path[1024], *o = path + snprintf(path, sizeof path, "/v1/targets?target=");
    for (const char *c = id; *c && o < path + sizeof path - 4; c++)
        o += sprintf(o, "%%%02X", (unsigned char)*c); /* every byte encoded */
    assert_int_equal(get(path), 200);
    json_t *some = json_loads(strstr(resp, "\r\n\r\n") + 4, 0, NULL);
    assert_int_equal(json_array_size(some), same);
    json_array_foreach(some, i, t)
        assert_string_equal(json_string_value(json_object_get(t, "target")), id);
    json_decref(some);
    json_decref(all);
    assert_int_equal(get("/v1/targets?target=http%3A%2F%2Fnobody%3A1%2F"), 200);
    assert_non_null(strstr(resp, "\r\n\r\n[]"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big_head),         cmocka_unit_test(test_big_body),
        cmocka_unit_test(test_cut_heads),        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_slow_clients),     cmocka_unit_test(test_targets_filter),
        cmocka_unit_test(test_descriptor_flood),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
