/*
 * test_notify.c: meterd under a Type=notify unit, without systemd: a fake
 * NOTIFY_SOCKET (an AF_UNIX datagram socket this test binds) receives
 * READY=1 once the agent is ready (and /ready agrees), WATCHDOG=1 again and
 * again at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM; an @abstract socket
 * name works too, and a WATCHDOG_PID that is not meterd's turns petting off.
 */
#include "harness/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char resp[1 << 16];

/* Binds a datagram socket at path ("@name": abstract) and exports it. */
static int fake_notify_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    assert_true(len < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@') sa.sun_path[0] = '\0';
    unlink(path);
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
        0);
    setenv("NOTIFY_SOCKET", path, 1);
    return fd;
}

/* Waits for a datagram containing want (a line "KEY=value"); counts the
 * datagrams containing also_count on the way. */
static bool wait_message(int fd, const char *want, int timeout_ms, const char *also_count,
                         int *count)
{
    int64_t deadline = th_now_ms() + timeout_ms;
    char buf[512];
    while (th_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - th_now_ms())) <= 0) continue;
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0) continue;
        buf[n] = '\0';
        if (also_count && count && strstr(buf, also_count)) (*count)++;
        if (strstr(buf, want)) return true;
    }
    return false;
}

static int start_meterd(th_proc *p, const char *dir, int *port)
{
    char conf[512], pipe[512], rel[256], text[1024];
    *port = th_free_port();
    snprintf(rel, sizeof rel, "%s/pipeline.yaml", dir);
    th_write_file(rel,
                  "sources:\n  - name: host\n    interval: 1\n    meters: ['host.load.1min']\n"
                  "sinks:\n  - name: default\n    publishers: ['prometheus://']\n",
                  pipe, sizeof pipe);
    snprintf(text, sizeof text, "[polling]\ncfg_file = %s\n[api]\nport = %d\n", pipe, *port);
    snprintf(rel, sizeof rel, "%s/meterd.conf", dir);
    th_write_file(rel, text, conf, sizeof conf);
    char *argv[] = {MeterdBinary, "-c", conf, NULL};
    return th_spawn_daemon(p, dir, argv, NULL, NULL);
}

static int http_status(int port, const char *path)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    if (th_tcp_request("127.0.0.1", port, req, resp, sizeof resp, 3000, NULL) <= 0) return -1;
    int status = 0;
    sscanf(resp, "HTTP/1.%*d %d", &status);
    return status;
}

static void test_ready_watchdog_stopping(void **state)
{
    (void)state;
    char sock[512];
    th_path(sock, sizeof sock, "notify.sock");
    int fd = fake_notify_socket(sock);
    setenv("WATCHDOG_USEC", "400000", 1); /* pet every 200 ms */
    unsetenv("WATCHDOG_PID");
    th_proc p;
    int port;
    assert_int_equal(start_meterd(&p, "path", &port), 0);
    assert_true(wait_message(fd, "READY=1", 10000 * th_slack(), NULL, NULL));
    assert_int_equal(http_status(port, "/ready"), 200); /* READY=1 means what /ready means */
    int pets = 0;
    assert_true(wait_message(fd, "WATCHDOG=1", 5000 * th_slack(), NULL, NULL));
    while (pets < 3)
        assert_true(wait_message(fd, "WATCHDOG=1", 5000 * th_slack(), "WATCHDOG=1", &pets));
    th_signal(&p, SIGTERM);
    assert_true(wait_message(fd, "STOPPING=1", 10000 * th_slack(), NULL, NULL));
    th_stop(&p, SIGTERM, 10000 * th_slack());
    th_expect_clean_exit(&p, 0);
    close(fd);
}

/* An abstract socket name; WATCHDOG_PID names another process: no pets. */
static void test_abstract_other_pid(void **state)
{
    (void)state;
    char name[108];
    snprintf(name, sizeof name, "@meterd-test-notify-%ld", (long)getpid());
    int fd = fake_notify_socket(name);
    setenv("WATCHDOG_USEC", "200000", 1);
    setenv("WATCHDOG_PID", "1", 1);
    th_proc p;
    int port;
    assert_int_equal(start_meterd(&p, "abstract", &port), 0);
    int pets = 0;
    assert_true(wait_message(fd, "READY=1", 10000 * th_slack(), "WATCHDOG=1", &pets));
    th_signal(&p, SIGTERM);
    assert_true(wait_message(fd, "STOPPING=1", 10000 * th_slack(), "WATCHDOG=1", &pets));
    assert_int_equal(pets, 0);
    th_stop(&p, SIGTERM, 10000 * th_slack());
    th_expect_clean_exit(&p, 0);
    close(fd);
    unsetenv("WATCHDOG_PID");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_watchdog_stopping),
        cmocka_unit_test(test_abstract_other_pid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
