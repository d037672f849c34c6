/*
 * test_bmc.c: the ipmi_sim harness starts several BMCs on distinct free
 * ports, their consoles take sensor changes, and stopping ends them (the
 * readings themselves are checked through FreeIPMI in
 * tests/agent/test_pollster_ipmi.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness/bmc.h"

#include <stdio.h>

static void start_set_stop(void **state)
{
    (void)state;
    th_bmc b[3];
    char why[512];
    int rc = th_bmc_start_many(b, 3, "admin", "secret", why, sizeof why);
    if (rc == 1) th_skip_peer(why);
    if (rc != 0) fail_msg("%s", why);
    for (int i = 0; i < 3; i++) {
        assert_true(th_alive(&b[i].proc));
        assert_true(th_port_held(b[i].port) && th_port_held(b[i].console_port));
        for (int k = 0; k < i; k++)
            assert_true(b[i].port != b[k].port && b[i].console_port != b[k].console_port);
    }
    assert_int_equal(th_bmc_set(&b[1], TH_BMC_SENSOR_TEMP, 90), 0);
    assert_int_equal(th_bmc_set(&b[1], TH_BMC_SENSOR_CURRENT, 27), 0);
    /* a console command leaves the simulator running */
    assert_true(th_alive(&b[1].proc));
    char host[64];
    th_bmc_host(&b[2], host, sizeof host);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", b[2].port);
    assert_string_equal(host, want);
    th_bmc_stop_many(b, 3);
    for (int i = 0; i < 3; i++)
        assert_false(th_alive(&b[i].proc));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(start_set_stop)};
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
