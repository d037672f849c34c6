/*
 * test_httpd.c: the HTTP server's defences and API, in process on loopback
 * (issue 13 item 3, issue 17's defences list): each defence is a test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness/harness.h"
#include "httpd/client.h"
#include "httpd/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- a tiny client --- */

static bool send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* Reads until the peer closes, `until` appears `times` times, or the
 * deadline; returns bytes read (NUL-terminated). */
static size_t recv_until(int fd, char *out, size_t cap, const char *until, int times, int ms)
{
    size_t got = 0;
    int64_t deadline = th_now_ms() + ms;
    out[0] = 0;
    while (got + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - th_now_ms());
        if (left <= 0 || poll(&p, 1, left) != 1) break;
        ssize_t r = recv(fd, out + got, cap - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        out[got] = 0;
        if (until) {
            int n = 0;
            for (const char *s = out; (s = strstr(s, until)); s++)
                n++;
            if (n >= times) break;
        }
    }
    return got;
}

/* One request on a fresh connection; the reply in out. */
static size_t ask(int port, const char *req, char *out, size_t cap)
{
    int fd = hc_dial(port, false);
    assert_true(fd >= 0);
    assert_true(send_all(fd, req, strlen(req)));
    size_t n = recv_until(fd, out, cap, NULL, 0, 10000 * th_slack());
    close(fd);
    return n;
}

/* --- the server under test --- */

typedef struct fixture {
    httpd *h;
    int port;
    pthread_t later;
    atomic_int deferred_seen;
} fixture;

static void *answer_later(void *arg)
{
    httpd_req *r = arg;
    usleep(50 * 1000); /* the handler has long returned: the answer comes from here */
    httpd_respond(r, 200, "text/plain", "late\n", 5);
    return NULL;
}

typedef struct counting {
    int left;
    httpd_req *r;
    bool wait_next;
    pthread_t waker;
} counting;

static void *wake_later(void *arg)
{
    counting *c = arg;
    usleep(20 * 1000);
    httpd_stream_wake(c->r);
    return NULL;
}

static ssize_t count_down(void *ctx, char *buf, size_t max)
{
    counting *c = ctx;
    if (c->left == 0) return HTTPD_STREAM_END;
    if (c->wait_next) { /* every other chunk is "not ready yet": a thread wakes us */
        c->wait_next = false;
        pthread_create(&c->waker, NULL, wake_later, c);
        pthread_detach(c->waker);
        return HTTPD_STREAM_WAIT;
    }
    c->wait_next = true;
    return snprintf(buf, max, "line %d\n", c->left--);
}

static void handler(httpd_req *r, void *arg)
{
    fixture *f = arg;
    const char *path = httpd_path(r);
    char out[1024];
    if (!strcmp(path, "/echo")) {
        const char *q = httpd_query(r, "target");
        const char *hd = httpd_header(r, "x-Test");
        size_t blen;
        const char *body = httpd_body(r, &blen);
        int n = snprintf(
            out, sizeof out, "method=%s target=%s flag=%s header=%s peer=%s lo=%d body=%.*s\n",
            httpd_method(r), q ? q : "(none)", httpd_query(r, "flag") ? "yes" : "no",
            hd ? hd : "(none)", httpd_peer(r), httpd_peer_loopback(r), (int)blen, body ? body : "");
        httpd_add_header(r, "X-Extra", "1");
        httpd_respond(r, 200, "text/plain", out, (size_t)n);
    } else if (!strcmp(path, "/only-get")) {
        if (strcmp(httpd_method(r), "GET")) {
            httpd_add_header(r, "Allow", "GET");
            httpd_respond(r, 405, "text/plain", "no\n", 3);
        } else {
            httpd_respond(r, 200, "text/plain", "yes\n", 4);
        }
    } else if (!strcmp(path, "/defer")) {
        httpd_defer(r);
        atomic_fetch_add(&f->deferred_seen, 1);
        pthread_create(&f->later, NULL, answer_later, r);
    } else if (!strcmp(path, "/stream")) {
        counting *c = calloc(1, sizeof *c);
        c->left = 5;
        c->r = r;
        httpd_respond_stream(r, 200, "text/plain", count_down, c, free);
    } else if (!strcmp(path, "/silent")) {
        /* answers nothing: the server must say 500 */
    } else {
        httpd_respond(r, 404, "text/plain", "unknown\n", 8);
    }
}

static fixture *start(httpd_opts o)
{
    fixture *f = calloc(1, sizeof *f);
    char err[512];
    o.listen[0] = "127.0.0.1:0";
    if (!o.n_listen) o.n_listen = 1;
    o.handler = handler;
    o.arg = f;
    if (httpd_start(&f->h, &o, err, sizeof err) != 0) fail_msg("httpd_start: %s", err);
    f->port = httpd_port(f->h, 0);
    assert_true(f->port > 0);
    return f;
}

static void stop(fixture *f)
{
    httpd_stop(f->h);
    if (atomic_load(&f->deferred_seen)) pthread_join(f->later, NULL);
    free(f);
}

static void test_request_api(void **state)
{
    (void)state;
    fixture *f = start((httpd_opts){.max_body_bytes = 64});
    char out[4096];
    ask(f->port,
        "POST /echo?target=http%3A%2F%2Fh%3A9100%2Fm%3Fa%3D1&flag HTTP/1.1\r\nHost: x\r\n"
        "X-TEST: hi\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "X-Extra: 1"));
    assert_non_null(strstr(out, "method=POST target=http://h:9100/m?a=1 flag=yes header=hi "
                                "peer=127.0.0.1 lo=1 body=hello"));
    ask(f->port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 404"));
    ask(f->port, "DELETE /only-get HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
        sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 405"));
    assert_non_null(strstr(out, "Allow: GET"));
    ask(f->port, "GET /silent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 500"));
    stop(f);
}

static void test_two_addresses_and_port_in_use(void **state)
{
    (void)state;
    httpd *h = NULL;
    char err[512], out[4096];
    fixture f0 = {0};
    httpd_opts o = {
        .listen = {"127.0.0.1:0", "[::1]:0"}, .n_listen = 2, .handler = handler, .arg = &f0};
    if (httpd_start(&h, &o, err, sizeof err) != 0) {
        /* a machine without IPv6 loopback: the IPv4 half still has to work */
        assert_non_null(strstr(err, "[::1]:0"));
        o.n_listen = 1;
        assert_int_equal(httpd_start(&h, &o, err, sizeof err), 0);
    }
    int p4 = httpd_port(h, 0);
    assert_true(p4 > 0);
    assert_int_equal(httpd_port(h, 5), -1);
    ask(p4, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    if (o.n_listen == 2) {
        int p6 = httpd_port(h, 1);
        int fd = socket(AF_INET6, SOCK_STREAM, 0);
        struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
                                  .sin6_port = htons((uint16_t)p6),
                                  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        const char *req = "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_true(send_all(fd, req, strlen(req)));
        recv_until(fd, out, sizeof out, NULL, 0, 10000 * th_slack());
        close(fd);
        assert_non_null(strstr(out, "peer=::1 lo=1"));
    }
    /* the same port again: a clear error, nothing left running */
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", p4);
    httpd *h2 = NULL;
    httpd_opts o2 = {.listen = {taken}, .n_listen = 1, .handler = handler, .arg = &f0};
    assert_int_equal(httpd_start(&h2, &o2, err, sizeof err), -1);
    assert_null(h2);
    assert_non_null(strstr(err, taken));
    assert_non_null(strstr(err, "in use"));
    o2.listen[0] = "127.0.0.1";
    assert_int_equal(httpd_start(&h2, &o2, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected host:port"));
    httpd_stop(h);
}

/* nng cut a head over 8 KB without a status; here: 431 and closed. */
static void test_big_head_431(void **state)
{
    (void)state;
    fixture *f = start((httpd_opts){0});
    char big[9300], out[4096];
    memset(big, 'a', sizeof big);
    int n = snprintf(big, sizeof big, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ");
    big[n] = 'a';
    memcpy(big + 9216, "\r\n\r\n", 5);
    ask(f->port, big, out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 431"));
    /* a much bigger one hits libmicrohttpd's own memory bound: still 431 */
    size_t huge_len = 64 * 1024;
    char *huge = malloc(huge_len);
    memset(huge, 'b', huge_len);
    memcpy(huge, "GET /echo HTTP/1.1\r\nX-Big: ", 27);
    memcpy(huge + huge_len - 5, "\r\n\r\n", 5);
    int fd = hc_dial(f->port, false);
    send_all(fd, huge, huge_len - 1);
    recv_until(fd, out, sizeof out, NULL, 0, 10000 * th_slack());
    close(fd);
    free(huge);
    assert_non_null(strstr(out, "HTTP/1.1 431"));
    stop(f);
}

/* A 256 MB body is refused at the head: 413 at once, nothing read. */
static void test_big_body_413(void **state)
{
    (void)state;
    fixture *f = start((httpd_opts){.max_body_bytes = 1024});
    char out[4096];
    int fd = hc_dial(f->port, false);
    const char *head = "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 268435456\r\n\r\n";
    assert_true(send_all(fd, head, strlen(head)));
    recv_until(fd, out, sizeof out, "\r\n\r\n", 1, 10000 * th_slack());
    assert_non_null(strstr(out, "HTTP/1.1 413"));
    assert_true(hc_closed_within(fd, 10000 * th_slack()));
    close(fd);
    /* no body allowed at all (the agent's API): any body is a 413 */
    fixture *g = start((httpd_opts){0});
    ask(g->port, "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 413"));
    stop(g);
    stop(f);
}

static void test_malformed_400_and_cut_header(void **state)
{
    (void)state;
    fixture *f = start((httpd_opts){0});
    char out[4096];
    ask(f->port, "GET /echo HTTP/1.1\r\nHost x-no-colon\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 400"));
    ask(f->port, "GET  HTTP/1.1\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 400"));
    /* a line that is not a request at all: closed without a status (the
     * library's choice), and never held open */
    int fd = hc_dial(f->port, false);
    send_all(fd, "\x01\x02garbage\r\n\r\n", 13);
    assert_true(hc_closed_within(fd, 10000 * th_slack()));
    close(fd);
    /* a head cut inside a header name, then closed (one way pmproxy died) */
    for (int i = 0; i < 20; i++) {
        fd = hc_dial(f->port, false);
        const char *cut = "GET /echo HTTP/1.1\r\nHost: x\r\nX-Cut-Na";
        send_all(fd, cut, strlen(cut));
        close(fd);
    }
    ask(f->port, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    stop(f);
}

static void test_pipelined(void **state)
{
    (void)state;
    fixture *f = start((httpd_opts){0});
    char out[8192];
    int fd = hc_dial(f->port, false);
    const char *three = "GET /echo?target=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /echo?target=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /echo?target=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_true(send_all(fd, three, strlen(three)));
    recv_until(fd, out, sizeof out, NULL, 0, 10000 * th_slack());
    close(fd);
    char *a = strstr(out, "target=1 "), *b = strstr(out, "target=2 "),
         *c = strstr(out, "target=3 ");
    assert_true(a && b && c && a < b && b < c);
    stop(f);
}

/* A head arriving a byte at a time is cut at header_timeout_ms (libmicrohttpd's
 * own timeout restarts on each byte), and 200 such clients do not stop others
 * from being served. */
static void test_slowloris(void **state)
{
    (void)state;
    fixture *f = start((httpd_opts){.header_timeout_ms = 1000, .idle_timeout_ms = 30000});
    enum { SLOW = 200 };
    int fds[SLOW];
    for (int i = 0; i < SLOW; i++) {
        fds[i] = hc_dial(f->port, false);
        assert_true(fds[i] >= 0);
        send_all(fds[i], "G", 1);
    }
    char out[4096];
    int64_t t0 = th_now_ms();
    /* trickle: a byte every 200 ms to each, while a normal client is served */
    const char *head = "ET /echo HTTP/1.1\r\nHost: x\r\n";
    int served = 0;
    for (int step = 0; step < 8; step++) {
        for (int i = 0; i < SLOW; i++)
            send(fds[i], head + step, 1, MSG_NOSIGNAL);
        ask(f->port, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
        served += strstr(out, "HTTP/1.1 200") != NULL;
        usleep(200 * 1000);
    }
    assert_int_equal(served, 8);
    int cut = 0;
    for (int i = 0; i < SLOW; i++) {
        cut += hc_closed_within(fds[i], 15000 * th_slack());
        close(fds[i]);
    }
    assert_int_equal(cut, SLOW);
    httpd_stats st;
    httpd_get_stats(f->h, &st);
    assert_true(st.header_timeouts >= SLOW);
    if (!th_slow()) assert_true(th_now_ms() - t0 < 10000);
    stop(f);
}

/* Over max_connections a client gets a 503 at once; nothing spins. */
static void test_connection_cap(void **state)
{
    (void)state;
    fixture *f = start((httpd_opts){.max_connections = 8});
    int fds[8];
    for (int i = 0; i < 8; i++)
        fds[i] = hc_dial(f->port, false);
    /* wait until the server counts them open */
    httpd_stats st;
    int64_t deadline = th_now_ms() + 10000 * th_slack();
    do {
        httpd_get_stats(f->h, &st);
        if (st.current >= 8) break;
        usleep(5000);
    } while (th_now_ms() < deadline);
    assert_int_equal(st.current, 8);
    char out[4096];
    ask(f->port, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 503"));
    httpd_get_stats(f->h, &st);
    assert_true(st.refused >= 1);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    deadline = th_now_ms() + 10000 * th_slack();
    do {
        ask(f->port, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    } while (!strstr(out, "HTTP/1.1 200") && th_now_ms() < deadline);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    /* every connection closed is counted closed: the cap does not leak */
    deadline = th_now_ms() + 10000 * th_slack();
    do {
        httpd_get_stats(f->h, &st);
        if (st.current == 0) break;
        usleep(5000);
    } while (th_now_ms() < deadline);
    assert_int_equal(st.current, 0);
    stop(f);
}

static void test_deferred_and_stream(void **state)
{
    (void)state;
    fixture *f = start((httpd_opts){0});
    char out[4096];
    ask(f->port, "GET /defer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "late\n"));
    ask(f->port, "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "chunked"));
    char *l5 = strstr(out, "line 5"), *l1 = strstr(out, "line 1");
    assert_true(l5 && l1 && l5 < l1);
    stop(f);
}

/* Out of descriptors, accept() fails with EMFILE: the server backs off
 * instead of retrying at once (nng 1.5.2 spun at 1.2 cores here). A child
 * with a 64-descriptor limit and a cap well above it meets 150 clients. */
static void test_emfile_backoff(void **state)
{
    (void)state;
    int ready[2], cmd[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(cmd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {64, 64};
        setrlimit(RLIMIT_NOFILE, &rl);
        fixture f0 = {0};
        httpd *h;
        char err[256];
        httpd_opts o = {.listen = {"127.0.0.1:0"},
                        .n_listen = 1,
                        .handler = handler,
                        .arg = &f0,
                        .max_connections = 1000,
                        .idle_timeout_ms = 60000,
                        .header_timeout_ms = 60000};
        if (httpd_start(&h, &o, err, sizeof err) != 0) _exit(2);
        int port = httpd_port(h, 0);
        if (write(ready[1], &port, sizeof port) != sizeof port) _exit(3);
        char c;
        if (read(cmd[0], &c, 1) != 1) _exit(4);
        httpd_stats st;
        httpd_get_stats(h, &st);
        if (write(ready[1], &st.accept_backoffs, sizeof st.accept_backoffs) < 0) _exit(5);
        pause();
        _exit(0);
    }
    int port = 0;
    assert_int_equal(read(ready[0], &port, sizeof port), (ssize_t)sizeof port);
    enum { N = 150 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = hc_dial(port, false); /* the backlog takes what the server cannot */
    th_fds_want at_limit = {pid, 64};  /* every descriptor its limit allows */
    assert_true(th_wait_until(th_proc_fds_reached, &at_limit, 10000 * th_slack()));
    long t0 = hc_cpu_ticks(pid);
    int64_t w0 = th_now_ms();
    usleep(1500 * 1000);
    long t1 = hc_cpu_ticks(pid);
    int64_t w1 = th_now_ms();
    double cores = hc_cores(t0, t1, (long)(w1 - w0));
    unsigned long long backoffs = 0;
    assert_int_equal(write(cmd[1], "s", 1), 1);
    assert_int_equal(read(ready[0], &backoffs, sizeof backoffs), (ssize_t)sizeof backoffs);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* with descriptors back, it serves again */
    char out[4096];
    int64_t deadline = th_now_ms() + 10000 * th_slack();
    do {
        ask(port, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    } while (!strstr(out, "HTTP/1.1 200") && th_now_ms() < deadline);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(ready[0]);
    close(ready[1]);
    close(cmd[0]);
    close(cmd[1]);
    print_message("server CPU at the descriptor limit: %.3f cores, %llu accept back-offs\n", cores,
                  backoffs);
    assert_true(backoffs >= 1); /* the limit was reached: the test tests the back-off */
    assert_true(t0 >= 0 && t1 >= 0);
    assert_true(cores < 0.3);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
}

/* Makes a CA, a server certificate and a client certificate in tmpdir with
 * the openssl command; false when it cannot. */
static bool make_certs(const char *dir)
{
    char cmd[4096];
    snprintf(
        cmd, sizeof cmd,
        "cd '%s' && { openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca "
        "-keyout ca.key -out ca.pem && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout srv.key -out srv.csr && "
        "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-out srv.pem && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout cli.key -out cli.csr && "
        "openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-out cli.pem; } >openssl.log 2>&1",
        dir);
    return system(cmd) == 0;
}

/* curl's status code for url with extra arguments; -1 when curl failed. */
static int curl_status(const char *args, int port)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "curl -s -o /dev/null -w '%%{http_code}' -m 10 %s https://127.0.0.1:%d/echo", args,
             port);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int code = -1;
    if (fscanf(p, "%d", &code) != 1) code = -1;
    pclose(p);
    return code;
}

static void test_tls_and_mtls(void **state)
{
    (void)state;
    if (system("command -v openssl >/dev/null 2>&1 && command -v curl >/dev/null 2>&1") != 0)
        th_skip_peer("openssl or curl is not installed");
    char dir[512], cert[600], key[600], ca[600], args[2048];
    th_path(dir, sizeof dir, "tls/x");
    *strrchr(dir, '/') = 0;
    assert_true(make_certs(dir));
    snprintf(cert, sizeof cert, "%s/srv.pem", dir);
    snprintf(key, sizeof key, "%s/srv.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    fixture *f = start((httpd_opts){.tls_cert_file = cert, .tls_key_file = key});
    snprintf(args, sizeof args, "--cacert '%s'", ca);
    assert_int_equal(curl_status(args, f->port), 200);
    stop(f);
    /* mTLS: no client certificate, 403; one the CA signed, 200 */
    f = start((httpd_opts){.tls_cert_file = cert, .tls_key_file = key, .tls_client_ca_file = ca});
    assert_int_equal(curl_status(args, f->port), 403);
    snprintf(args, sizeof args, "--cacert '%s' --cert '%s/cli.pem' --key '%s/cli.key'", ca, dir,
             dir);
    assert_int_equal(curl_status(args, f->port), 200);
    stop(f);
    /* a key file that is not there: a message naming it */
    httpd *h = NULL;
    char err[512];
    httpd_opts o = {.listen = {"127.0.0.1:0"},
                    .n_listen = 1,
                    .handler = handler,
                    .tls_cert_file = cert,
                    .tls_key_file = "/nonexistent/key.pem"};
    assert_int_equal(httpd_start(&h, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/key.pem"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_api),
        cmocka_unit_test(test_two_addresses_and_port_in_use),
        cmocka_unit_test(test_big_head_431),
        cmocka_unit_test(test_big_body_413),
        cmocka_unit_test(test_malformed_400_and_cut_header),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_deferred_and_stream),
        cmocka_unit_test(test_emfile_backoff),
        cmocka_unit_test(test_tls_and_mtls),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
