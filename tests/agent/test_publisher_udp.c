/*
 * test_publisher_udp.c: udp://host:port sends JSON arrays of samples that a
 * UDP socket in the test receives, values exact, packed up to the payload,
 * over IPv4 and IPv6 loopback.
 */
#include "agent/publisher.h"
#include "harness/harness.h"
#include "publisher_testutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static publisher *open_udp(const char *host, int port, const char *query)
{
    char url[256], err[256] = "";
    snprintf(url, sizeof url, "udp://%s:%d%s", host, port, query);
    publisher *p = publisher_open_url(url, NULL, err, sizeof err);
    if (!p) fail_msg("open %s: %s", url, err);
    return p;
}

static void test_values_exact(void **state)
{
    (void)state;
    tu_udp r;
    assert_int_equal(tu_udp_open(&r), 0);
    publisher *p = open_udp("127.0.0.1", r.port, "");
    sample_batch *b = sample_batch_new("s", 3, 0);
    const double vals[] = {0.1, -2.5e-300, 123456789012345.0, 1.0 / 3.0};
    sample_label l = {"k", "v"};
    for (size_t i = 0; i < 4; i++)
        sample_batch_add(b, "x", SAMPLE_GAUGE, "1", vals[i], "res", 1000, &l, 1);
    publisher_submit(p, b);
    sample_batch_unref(b);
    char buf[65536];
    assert_true(tu_udp_recv(&r, buf, sizeof buf, 5000) > 0);
    json_error_t je;
    json_t *arr = json_loads(buf, 0, &je);
    assert_non_null(arr);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *o = json_array_get(arr, i);
        assert_true(json_number_value(json_object_get(o, "value")) == vals[i]);
        assert_string_equal(json_string_value(json_object_get(o, "resource")), "res");
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "labels"), "k")),
                            "v");
    }
    json_decref(arr);
    publisher_close(p);
    tu_udp_close(&r);
}

static void test_packing(void **state)
{
    (void)state;
    tu_udp r;
    assert_int_equal(tu_udp_open(&r), 0);
    publisher *p = open_udp("localhost", r.port, "?payload=600");
    const size_t n = 40;
    sample_batch *b = tu_batch(n, 1000);
    publisher_submit(p, b);
    sample_batch_unref(b);
    size_t got = 0, datagrams = 0;
    char buf[65536];
    while (got < n) {
        ssize_t len = tu_udp_recv(&r, buf, sizeof buf, 5000);
        assert_true(len > 0);
        assert_true(len <= 600);
        json_t *arr = json_loads(buf, 0, NULL);
        assert_non_null(arr);
        assert_true(json_array_size(arr) >= 2); /* several per datagram */
        for (size_t i = 0; i < json_array_size(arr); i++, got++)
            assert_true(json_number_value(json_object_get(json_array_get(arr, i), "value")) ==
                        1000 + (double)got);
        json_decref(arr);
        datagrams++;
    }
    assert_int_equal(got, n);
    assert_true(datagrams > 1);
    publisher_close(p);
    tu_udp_close(&r);
}

static void test_ipv6(void **state)
{
    (void)state;
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        th_skip_peer("no IPv6 loopback on this machine");
    }
    getsockname(fd, (struct sockaddr *)&a, &len);
    publisher *p = open_udp("[::1]", ntohs(a.sin6_port), "");
    sample_batch *b = tu_batch(1, 5);
    publisher_submit(p, b);
    sample_batch_unref(b);
    tu_udp r = {.fd = fd};
    char buf[4096];
    assert_true(tu_udp_recv(&r, buf, sizeof buf, 5000) > 0);
    assert_non_null(strstr(buf, "\"value\":5,"));
    publisher_close(p);
    close(fd);
}

/*
 * Issue 10: `meterctl validate` accepted udp://127.0.0.1 and
 * statsd://127.0.0.1 (ports 4952 and 8125 by default) and meterd refused
 * them ("expected host:port"). The plugins now open from the parsed URL, so
 * samples reach the default port. The ports are fixed: when one is taken on
 * this machine the test is skipped, not passed.
 */
static void test_default_ports(void **state)
{
    (void)state;
    static const struct {
        const char *url, *expect;
        int port;
    } cases[] = {
        {"udp://127.0.0.1", "\"value\":7", 4952},
        {"statsd://127.0.0.1", "m.0:7|g", 8125},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_udp r;
        if (tu_udp_open_fixed(&r, cases[i].port) != 0)
            th_skip_peer("a default UDP port (4952, 8125) is taken on this machine");
        char err[256] = "";
        publisher *p = publisher_open_url(cases[i].url, NULL, err, sizeof err);
        if (!p) fail_msg("%s: %s", cases[i].url, err);
        sample_batch *b = tu_batch(1, 7);
        publisher_submit(p, b);
        sample_batch_unref(b);
        publisher_flush(p, 5000);
        char buf[4096];
        assert_true(tu_udp_recv(&r, buf, sizeof buf, 5000) > 0);
        if (!strstr(buf, cases[i].expect)) fail_msg("%s sent '%s'", cases[i].url, buf);
        publisher_close(p);
        tu_udp_close(&r);
    }
}

static void test_bad_urls(void **state)
{
    (void)state;
    char err[256];
    assert_null(publisher_open_url("udp://127.0.0.1:99999", NULL, err, sizeof err));
    assert_null(publisher_open_url("udp://no-such-host.invalid:9", NULL, err, sizeof err));
    assert_non_null(strstr(err, "cannot resolve"));
    assert_null(publisher_open_url("udp://127.0.0.1:9?payload=10", NULL, err, sizeof err));
    assert_non_null(strstr(err, "payload"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_exact),  cmocka_unit_test(test_packing),
        cmocka_unit_test(test_ipv6),          cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_default_ports),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
