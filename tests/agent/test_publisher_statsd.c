/*
 * test_publisher_statsd.c: statsd://host:port sends exactly the expected
 * lines to a UDP socket in the test: gauges (negative ones reset to 0 first),
 * counters from cumulative values (first value is the baseline, resets count
 * the new value), deltas as counters, sanitised names, several lines per
 * datagram up to the payload.
 */
#include "agent/publisher.h"
#include "harness/harness.h"
#include "publisher_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static publisher *open_statsd(int port, const char *query)
{
    char url[256], err[256] = "";
    snprintf(url, sizeof url, "statsd://127.0.0.1:%d%s", port, query);
    publisher *p = publisher_open_url(url, NULL, err, sizeof err);
    if (!p) fail_msg("open %s: %s", url, err);
    return p;
}

static void submit1(publisher *p, const char *name, sample_type t, double v, const char *res,
                    const sample_label *l, size_t nl)
{
    sample_batch *b = sample_batch_new("src", 0, 0);
    sample_batch_add(b, name, t, "1", v, res, 0, l, nl);
    publisher_submit(p, b);
    sample_batch_unref(b);
}

static void expect(tu_udp *r, const char *want)
{
    char buf[65536];
    assert_true(tu_udp_recv(r, buf, sizeof buf, 5000) > 0);
    assert_string_equal(buf, want);
}

static void test_lines(void **state)
{
    (void)state;
    tu_udp r;
    assert_int_equal(tu_udp_open(&r), 0);
    publisher *p = open_statsd(r.port, "");

    submit1(p, "host.load", SAMPLE_GAUGE, 1.5, "db1.example.com", NULL, 0);
    expect(&r, "meterd.db1_example_com.host.load:1.5|g");

    submit1(p, "temp", SAMPLE_GAUGE, -5, "bmc 1", NULL, 0);
    expect(&r, "meterd.bmc_1.temp:0|g\nmeterd.bmc_1.temp:-5|g");

    /* cumulative: baseline, then deltas, then a reset */
    submit1(p, "net.bytes", SAMPLE_CUMULATIVE, 1000, "h", NULL, 0);
    submit1(p, "net.bytes", SAMPLE_CUMULATIVE, 1250, "h", NULL, 0);
    expect(&r, "meterd.h.net.bytes:250|c");
    submit1(p, "net.bytes", SAMPLE_CUMULATIVE, 1250.5, "h", NULL, 0);
    expect(&r, "meterd.h.net.bytes:0.5|c");
    submit1(p, "net.bytes", SAMPLE_CUMULATIVE, 40, "h", NULL, 0);
    expect(&r, "meterd.h.net.bytes:40|c");

    submit1(p, "req", SAMPLE_DELTA, 7, "h", NULL, 0);
    expect(&r, "meterd.h.req:7|c");

    /* forbidden characters and labels folded into the name */
    sample_label l[] = {{"cpu", "0"}, {"mode", "us:er|x@y"}};
    submit1(p, "cpu:time|x@y z", SAMPLE_GAUGE, 3, "", l, 2);
    expect(&r, "meterd.cpu_time_x_y_z.cpu_0.mode_us_er_x_y:3|g");

    /* a series with other labels has its own baseline */
    sample_label a = {"if", "eth0"}, b2 = {"if", "eth1"};
    submit1(p, "rx", SAMPLE_CUMULATIVE, 10, "h", &a, 1);
    submit1(p, "rx", SAMPLE_CUMULATIVE, 100, "h", &b2, 1);
    submit1(p, "rx", SAMPLE_CUMULATIVE, 15, "h", &a, 1);
    expect(&r, "meterd.h.rx.if_eth0:5|c");

    publisher_close(p);
    tu_udp_close(&r);
}

static void test_prefix_and_batching(void **state)
{
    (void)state;
    tu_udp r;
    assert_int_equal(tu_udp_open(&r), 0);
    publisher *p = open_statsd(r.port, "?prefix=dc1.agents&payload=100");
    sample_batch *b = sample_batch_new("src", 0, 0);
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        sample_batch_add(b, name, SAMPLE_GAUGE, "1", i, "r", 0, NULL, 0);
    }
    publisher_submit(p, b);
    sample_batch_unref(b);
    /* each line "dc1.agents.r.gN:N|g" is 19 bytes: 5 lines (99 bytes) a datagram */
    expect(&r, "dc1.agents.r.g0:0|g\ndc1.agents.r.g1:1|g\ndc1.agents.r.g2:2|g\n"
               "dc1.agents.r.g3:3|g\ndc1.agents.r.g4:4|g");
    expect(&r, "dc1.agents.r.g5:5|g\ndc1.agents.r.g6:6|g\ndc1.agents.r.g7:7|g\n"
               "dc1.agents.r.g8:8|g\ndc1.agents.r.g9:9|g");
    publisher_close(p);

    p = open_statsd(r.port, "?prefix=");
    submit1(p, "m", SAMPLE_GAUGE, 2, "r", NULL, 0);
    expect(&r, "r.m:2|g");
    publisher_close(p);
    tu_udp_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_prefix_and_batching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
