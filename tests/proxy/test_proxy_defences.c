/*
 * test_proxy_defences.c (integration): the ways pmproxy 6.0.3 was seen to
 * die here, and the issue's other defences, against a real meterproxy
 * process. None needs ZooKeeper (its URL points at a closed port: the
 * groups stay unconnected and /health says "degraded"), so each attack is
 * judged by the proxy alone: it answers the attacker as the issue says, and
 * keeps serving /health to a well-behaved client meanwhile and after.
 *   - a 256 MB body: 413 at the header, nothing read, RSS stays small;
 *   - a head over max_head_bytes (8192, and never over -L): 431, and the
 *     connection closed;
 *   - malformed HTTP: 400; unknown paths 404; other methods 405;
 *   - a request cut inside a header name, then closed;
 *   - 200 clients sending a byte a second;
 *   - 1,000 concurrent connections, each answered;
 *   - METERPROXY_MAXPENDING is the listening socket's backlog (ss);
 *   - with -l the ZooKeeper client's own lines go to the log file, not stderr;
 *   - a connection flood past the descriptor limit (EMFILE, the proxy's
 *     limit lowered to 256 with prlimit(2)): the proxy backs off instead of
 *     spinning (its CPU time is measured), and serves again once the flood
 *     is gone.
 */
#include "proxy_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static px_proc px;
static char conf[1024];

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return; /* the server may close on us: that is allowed */
        p += w;
        n -= (size_t)w;
    }
}

/* Reads until the peer closes or timeout_ms; returns bytes read. */
static size_t read_until_close(int fd, char *buf, size_t cap, int timeout_ms, bool *closed)
{
    size_t n = 0;
    int64_t end = th_now_ms() + timeout_ms;
    *closed = false;
    while (n + 1 < cap && th_now_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) {
            *closed = true;
            break;
        }
        n += (size_t)r;
    }
    buf[n] = 0;
    return n;
}

static int status_of(const char *resp)
{
    int st = -1;
    return sscanf(resp, "HTTP/1.%*d %d", &st) == 1 ? st : -1;
}

static bool health_ok(void)
{
    char out[4096];
    return px_http(px.port, "GET", "/health", NULL, NULL, out, sizeof out) == 200;
}

/* utime + stime of pid, in clock ticks. */
static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static int setup(void **state)
{
    (void)state;
    th_child_env();
    int dead = th_free_port(); /* nothing listens: ZooKeeper unreachable */
    snprintf(conf, sizeof conf,
             "[meterproxy]\nheader_timeout_ms = 3000\nmax_connections = 1500\n"
             "[coordination]\nbackend_url = zookeeper://127.0.0.1:%d/meterd\ngroups = central\n",
             dead);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max; /* our side of 1,000 connections */
    setrlimit(RLIMIT_NOFILE, &rl);
    px_start(&px, "meterproxy", conf, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    px_stop(&px);
    return 0;
}

static void test_status_codes(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(px_http(px.port, "GET", "/health", NULL, NULL, out, sizeof out), 200);
    assert_non_null(strstr(out, "\"status\":\"degraded\"")); /* ZooKeeper unreachable */
    assert_int_equal(px_http(px.port, "GET", "/nope", NULL, NULL, out, sizeof out), 404);
    assert_int_equal(px_http(px.port, "POST", "/health", NULL, "x", out, sizeof out) / 100, 4);
    assert_int_equal(px_http(px.port, "DELETE", "/v1/groups", NULL, NULL, out, sizeof out), 405);
    /* a served group with no view yet */
    assert_int_equal(px_http(px.port, "GET", "/v1/groups/central", NULL, NULL, out, sizeof out),
                     503);
    /* malformed HTTP: 400 and closed */
    static const char *const bad[] = {
        "GET /health HTTP/1.1\r\nBad Header Line\r\n\r\n",
        "GET /health FOO/1.1\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = dial(px.port);
        assert_true(fd >= 0);
        send_all(fd, bad[i], strlen(bad[i]));
        bool closed;
        char resp[4096];
        read_until_close(fd, resp, sizeof resp, 10000 * th_slack(), &closed);
        close(fd);
        if (status_of(resp) != 400) fail_msg("%s answered: %.200s", bad[i], resp);
        assert_true(closed);
    }
    /* a request line that is no request line: closed (libmicrohttpd answers
     * nothing to it), and the proxy goes on serving */
    int fd = dial(px.port);
    assert_true(fd >= 0);
    send_all(fd, "GARBAGE\r\n\r\n", 11);
    bool closed;
    char resp[4096];
    read_until_close(fd, resp, sizeof resp, 10000 * th_slack(), &closed);
    close(fd);
    assert_true(closed);
    assert_true(health_ok());
}

static void test_huge_body_refused_at_header(void **state)
{
    (void)state;
    long before = th_proc_rss_kib(px.proc.pid);
    int fd = dial(px.port);
    assert_true(fd >= 0);
    const char *head = "PUT /v1/groups/central/pipeline HTTP/1.1\r\nHost: x\r\n"
                       "Content-Length: 268435456\r\n\r\n";
    send_all(fd, head, strlen(head));
    char resp[4096];
    bool closed;
    /* the answer comes without a byte of the body sent */
    read_until_close(fd, resp, sizeof resp, 10000 * th_slack(), &closed);
    assert_int_equal(status_of(resp), 413);
    /* and a client that sends it anyway gets nowhere: the proxy does not keep it */
    char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 64; i++)
        send_all(fd, chunk, sizeof chunk);
    close(fd);
    assert_true(health_ok());
    long after = th_proc_rss_kib(px.proc.pid);
    assert_true(before > 0 && after > 0);
    assert_true(after < 64 * 1024); /* the issue's bound, whatever the request */
    assert_true(after - before < 16 * 1024);
}

/* The status a GET /health with an n-byte header value gets; *closed says
 * whether the proxy closed the connection after it. */
static int head_status(size_t n, bool *closed)
{
    int fd = dial(px.port);
    assert_true(fd >= 0);
    char *head = malloc(n + 64);
    int k = snprintf(head, 64, "GET /health HTTP/1.1\r\nX-Big: ");
    memset(head + k, 'a', n);
    static const char end[] = "\r\nConnection: close\r\n\r\n";
    memcpy(head + k + n, end, sizeof end);
    send_all(fd, head, strlen(head));
    free(head);
    char resp[4096];
    read_until_close(fd, resp, sizeof resp, 10000 * th_slack(), closed);
    close(fd);
    return status_of(resp);
}

static void test_oversize_head(void **state)
{
    (void)state;
    bool closed = false;
    assert_int_equal(head_status(70000, &closed), 431); /* over -L's 65536 */
    assert_true(closed);
    /* the head's own cap, max_head_bytes (8192), is below -L: libmicrohttpd
     * clears a buffer of about twice it before every request */
    assert_int_equal(head_status(10000, &closed), 431);
    assert_true(closed);
    assert_int_equal(head_status(6000, &closed), 200);
    assert_true(health_ok());
}

static void test_cut_inside_header_name(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        int fd = dial(px.port);
        assert_true(fd >= 0);
        send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\nAccep", 37);
        close(fd);
    }
    assert_true(health_ok());
}

static void test_slow_clients(void **state)
{
    (void)state;
    enum { SLOW = 200 };
    int fds[SLOW];
    for (int i = 0; i < SLOW; i++) {
        fds[i] = dial(px.port);
        assert_true(fds[i] >= 0);
    }
    /* a byte a second from each, three times: others are served meanwhile */
    const char *req = "GET /health HTTP/1.1\r\n";
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < SLOW; i++)
            send_all(fds[i], req + round, 1);
        assert_true(health_ok());
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL); /* the pace is the attack being tested */
    }
    assert_true(health_ok());
    for (int i = 0; i < SLOW; i++)
        close(fds[i]);
}

static void test_thousand_connections(void **state)
{
    (void)state;
    enum { N = 1000 };
    int *fds = calloc(N, sizeof *fds);
    const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < N; i++) {
        fds[i] = dial(px.port);
        assert_true(fds[i] >= 0);
        send_all(fds[i], req, strlen(req));
    }
    int answered = 0;
    for (int i = 0; i < N; i++) {
        char buf[2048] = "";
        size_t n = 0;
        int64_t end = th_now_ms() + 30000 * th_slack();
        while (th_now_ms() < end && !strstr(buf, "\r\n\r\n")) {
            struct pollfd p = {fds[i], POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) continue;
            ssize_t r = recv(fds[i], buf + n, sizeof buf - 1 - n, 0);
            if (r <= 0) break;
            n += (size_t)r;
            buf[n] = 0;
        }
        buf[n] = 0;
        if (status_of(buf) == 200) answered++;
        close(fds[i]);
    }
    free(fds);
    assert_int_equal(answered, N);
}

/* Whether a file holds a line of the ZooKeeper client's own (its
 * "ZOO_ERROR@..." / "ZOO_WARN@..." lines). */
static bool has_zk_line(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "ZOO_ERROR@") || strstr(line, "ZOO_WARN@");
    fclose(f);
    return found;
}

static bool file_has_zk_line(void *arg)
{
    return has_zk_line(arg);
}

/* With -l, the ZooKeeper client library's lines (here: its refused
 * connections, ZooKeeper being down) go to the log file, also after a
 * SIGHUP reopened it, and none to standard error. */
static void test_zk_lines_in_log(void **state)
{
    (void)state;
    char logp[600], moved[620];
    th_path(logp, sizeof logp, "zk-lines.log");
    snprintf(moved, sizeof moved, "%s.1", logp);
    char *extra[] = {"-l", logp, NULL};
    px_proc q;
    px_start(&q, "meterproxy-zklog", conf, extra);
    assert_true(th_wait_until(file_has_zk_line, logp, 20000 * th_slack()));
    /* logrotate's way: move the file, then SIGHUP */
    assert_int_equal(rename(logp, moved), 0);
    assert_int_equal(kill(q.proc.pid, SIGHUP), 0);
    assert_true(th_wait_until(file_has_zk_line, logp, 20000 * th_slack()));
    px_stop(&q);
    assert_false(has_zk_line(q.proc.log)); /* its stdout and stderr */
}

/* The queue listen(2) was given on 127.0.0.1:port, as ss shows it (Send-Q
 * of a listening socket); -1 when ss cannot tell. */
static int listen_backlog(int port)
{
    char cmd[128], line[512] = "";
    snprintf(cmd, sizeof cmd, "ss -ltnH 'sport = :%d' 2>/dev/null", port);
    FILE *f = popen(cmd, "r");
    if (f == NULL) return -1;
    int backlog = -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "127.0.0.1:") && sscanf(line, "%*s %*d %d", &backlog) != 1) backlog = -1;
    pclose(f);
    return backlog;
}

static int somaxconn(void)
{
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    int v = 4096;
    if (f) {
        if (fscanf(f, "%d", &v) != 1) v = 4096;
        fclose(f);
    }
    return v;
}

/* METERPROXY_MAXPENDING is the listening socket's backlog (pmproxy's
 * PMPROXY_MAXPENDING); without it httpd's 1024. */
static void test_maxpending_backlog(void **state)
{
    (void)state;
    if (system("command -v ss >/dev/null 2>&1") != 0) {
        skip(); /* iproute2 (deploy/deps.sh TEST_PKGS) */
        return;
    }
    int dflt = listen_backlog(px.port);
    assert_int_equal(dflt, somaxconn() < 1024 ? somaxconn() : 1024);
    px_proc q;
    setenv("METERPROXY_MAXPENDING", "77", 1);
    px_start(&q, "meterproxy-pending", conf, NULL);
    unsetenv("METERPROXY_MAXPENDING");
    assert_int_equal(listen_backlog(q.port), 77);
    px_stop(&q);
}

static void test_descriptor_flood_backs_off(void **state)
{
    (void)state;
    px_proc small;
    px_start(&small, "meterproxy-small", conf, NULL);
    /* its limit, lowered under it (it raised its soft limit to the hard one
     * at start): 256 descriptors, so the flood below meets EMFILE */
    struct rlimit low = {256, 256};
    assert_int_equal(prlimit(small.proc.pid, RLIMIT_NOFILE, &low, NULL), 0);
    enum { FLOOD = 400 };
    int fds[FLOOD];
    int opened = 0;
    for (int i = 0; i < FLOOD; i++)
        if ((fds[i] = dial(small.port)) >= 0) opened++;
    /* the kernel queues what the proxy cannot accept; the proxy must not spin */
    long long t0 = cpu_ticks(small.proc.pid);
    int64_t w0 = th_now_ms();
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL); /* the window the CPU time is measured over */
    long long t1 = cpu_ticks(small.proc.pid);
    int64_t w1 = th_now_ms();
    double ticks = (double)sysconf(_SC_CLK_TCK);
    double cpu_share = (double)(t1 - t0) / ticks / ((double)(w1 - w0) / 1000.0);
    fprintf(stderr, "# flood of %d connections: proxy CPU %.0f%% of one core\n", opened,
            cpu_share * 100);
    assert_true(cpu_share < 0.5);
    for (int i = 0; i < FLOOD; i++)
        if (fds[i] >= 0) close(fds[i]);
    char out[2048];
    bool served = false;
    int64_t end = th_now_ms() + 30000 * th_slack();
    while (!served && th_now_ms() < end)
        served = px_http(small.port, "GET", "/health", NULL, NULL, out, sizeof out) == 200;
    assert_true(served);
    /* and EMFILE was met (the backoff counted), not some other limit */
    size_t cap = 1 << 20;
    char *page = malloc(cap);
    assert_int_equal(px_http(small.port, "GET", "/metrics", NULL, NULL, page, cap), 200);
    const char *b = strstr(page, "\nmeterproxy_http_accept_backoffs_total ");
    assert_non_null(b);
    long long backoffs = strtoll(b + strlen("\nmeterproxy_http_accept_backoffs_total "), NULL, 10);
    fprintf(stderr, "# accept back-offs: %lld\n", backoffs);
    assert_true(backoffs > 0);
    free(page);
    px_stop(&small);
}

/* tls_cert_file + tls_key_file: HTTPS, and plain HTTP is not answered. */
static void test_tls(void **state)
{
    (void)state;
    if (system("command -v openssl >/dev/null 2>&1 && command -v curl >/dev/null 2>&1") != 0)
        th_skip_peer("openssl or curl is not installed");
    char key[512], cert[512], cmd[2048];
    th_path(key, sizeof key, "tls/key.pem");
    th_path(cert, sizeof cert, "tls/cert.pem");
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 1 "
             "-subj /CN=127.0.0.1 >/dev/null 2>&1",
             key, cert);
    assert_int_equal(system(cmd), 0);
    char tconf[2048];
    snprintf(tconf, sizeof tconf, "[meterproxy]\ntls_cert_file = %s\ntls_key_file = %s\n%s", cert,
             key, strstr(conf, "[coordination]"));
    px_proc tls;
    px_start(&tls, "meterproxy-tls", tconf, NULL);
    char out[512];
    snprintf(cmd, sizeof cmd,
             "curl -sk -o /dev/null -w '%%{http_code}' https://127.0.0.1:%d/health", tls.port);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    pclose(f);
    assert_string_equal(out, "200");
    assert_int_equal(px_http(tls.port, "GET", "/health", NULL, NULL, out, sizeof out), -1);
    px_stop(&tls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_huge_body_refused_at_header),
        cmocka_unit_test(test_oversize_head),
        cmocka_unit_test(test_cut_inside_header_name),
        cmocka_unit_test(test_slow_clients),
        cmocka_unit_test(test_thousand_connections),
        cmocka_unit_test(test_maxpending_backlog),
        cmocka_unit_test(test_zk_lines_in_log),
        cmocka_unit_test(test_descriptor_flood_backs_off),
        cmocka_unit_test(test_tls),
    };
    return th_tests_result(cmocka_run_group_tests(tests, setup, teardown));
}
