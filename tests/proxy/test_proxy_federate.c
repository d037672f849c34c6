/*
 * test_proxy_federate.c (unit): the federated /metrics page made from the
 * agents' pages: every sample gets its member label (an existing `member`
 * label is kept, ours becomes exported_member), a family's samples come
 * together under one HELP/TYPE whatever agent they came from, an
 * unreachable member is marked (meterproxy_federation_up 0 and a comment),
 * and promtool accepts the page when it is installed.
 */
#include "harness/harness.h"
#include "proxy/proxy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char page_a[] = "# HELP meterd_polls_total Polls done.\n"
                             "# TYPE meterd_polls_total counter\n"
                             "meterd_polls_total{source=\"probes\"} 10\n"
                             "# TYPE up gauge\n"
                             "up{member=\"theirs\",job=\"x\"} 1\n"
                             "# TYPE lat summary\n"
                             "lat_sum 3.5\n"
                             "lat_count 7\n"
                             "plain 4 1700000000000\n";
static const char page_b[] = "# HELP meterd_polls_total Polls done.\n"
                             "# TYPE meterd_polls_total counter\n"
                             "meterd_polls_total{source=\"probes\"} 20\n"
                             "# TYPE up gauge\n"
                             "up{} 0\n"
                             "plain 5\n";

static char *federate(size_t *len)
{
    /* the first page is handed over (freed once taken: ASan judges it) */
    char *owned = strdup(page_a);
    proxy_fed_input in[] = {
        {"node-0.central", owned, sizeof page_a - 1, NULL, owned},
        {"node-1.central", page_b, sizeof page_b - 1, NULL, NULL},
        {"node-\"2\".central", NULL, 0, "Timeout was reached\nafter 2000 ms", NULL},
    };
    char *page = proxy_federate(in, 3, len);
    assert_non_null(page);
    assert_int_equal(strlen(page), *len);
    return page;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_labels_and_grouping(void **state)
{
    (void)state;
    size_t len;
    char *page = federate(&len);
    /* one HELP/TYPE per family, samples of both members under it */
    assert_int_equal(count(page, "# TYPE meterd_polls_total counter\n"), 1);
    assert_int_equal(count(page, "# HELP meterd_polls_total"), 1);
    const char *fam = strstr(page, "# TYPE meterd_polls_total counter\n");
    assert_non_null(fam);
    assert_ptr_equal(strstr(fam, "\n") + 1,
                     strstr(page, "meterd_polls_total{member=\"node-0.central\",source=\"probes\"} "
                                  "10\nmeterd_polls_total{member=\"node-1.central\",source="
                                  "\"probes\"} 20\n"));
    /* the existing member label kept, ours renamed */
    assert_non_null(strstr(page, "up{exported_member=\"node-0.central\",member=\"theirs\","
                                 "job=\"x\"} 1\n"));
    assert_non_null(strstr(page, "up{member=\"node-1.central\"} 0\n"));
    /* summary parts stay in their family; untyped samples get the label too */
    assert_non_null(strstr(page, "# TYPE lat summary\nlat_sum{member=\"node-0.central\"} 3.5\n"
                                 "lat_count{member=\"node-0.central\"} 7\n"));
    assert_non_null(strstr(page, "plain{member=\"node-0.central\"} 4 1700000000000\n"
                                 "plain{member=\"node-1.central\"} 5\n"));
    /* the unreachable member, marked; its id escaped, the reason on one line */
    assert_non_null(strstr(page, "meterproxy_federation_up{member=\"node-0.central\"} 1\n"));
    assert_non_null(
        strstr(page, "meterproxy_federation_up{member=\"node-\\\"2\\\".central\"} 0\n"));
    assert_non_null(strstr(page, "# meterproxy: member node-\"2\".central unreachable: Timeout "
                                 "was reached after 2000 ms\n"));
    free(page);
}

static void test_promtool_accepts(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        th_skip_peer("promtool (Debian's prometheus package) is not installed");
    size_t len;
    char *page = federate(&len);
    char in[512], log[512], cmd[1400];
    assert_int_equal(th_write_file("federated.txt", page, in, sizeof in), 0);
    th_path(log, sizeof log, "promtool.log");
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s' 2>&1", in, log);
    int st = system(cmd);
    char out[4096] = "";
    FILE *f = fopen(log, "r");
    if (f) {
        out[fread(out, 1, sizeof out - 1, f)] = 0;
        fclose(f);
    }
    /* lint remarks (counter names, units) are the agents'; errors are ours */
    if (!(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || !strstr(out, "error"))))
        fail_msg("promtool refused the page:\n%s\n%s", out, page);
    assert_null(strstr(out, "error"));
    free(page);
}

static void test_nothing_reached(void **state)
{
    (void)state;
    size_t len = 99;
    char *page = proxy_federate(NULL, 0, &len);
    assert_non_null(page);
    assert_non_null(strstr(page, "# TYPE meterproxy_federation_up gauge\n"));
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_and_grouping),
        cmocka_unit_test(test_promtool_accepts),
        cmocka_unit_test(test_nothing_reached),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
