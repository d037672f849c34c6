/*
 * test_proxy_tls.c (integration): meterproxy in front of agents whose API
 * serves HTTPS and wants client certificates ([api] tls_cert_file,
 * tls_key_file, tls_client_ca_file: mTLS instead of a token). Real
 * ZooKeeper, two real meterd agents (they advertise https://127.0.0.1:port)
 * and certificates from `meterctl init-credentials` (a group CA and one
 * certificate for the shared name meterd-pubsub, server and client use).
 * Three proxies:
 *   - [agents] tls_ca_file, tls_name = meterd-pubsub and the client pair:
 *     the federated /metrics has both agents up and /v1/targets?target=T is
 *     the owner's answer;
 *   - the same without the client certificate: each agent is marked
 *     unreachable with the agent's reason (no client certificate), and
 *     /v1/targets is a 502 saying so, not the agent's 403;
 *   - without tls_name: the certificate's name does not match the host the
 *     agents advertise, and the reason says so (the check is curl's).
 */
#include "../agent/cluster_fixture.h"
#include "proxy_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TARGETS 4

static cluster_fx fx;
static px_proc whole, no_cert, no_name;
static char creds[512];

/* The [meterproxy] and [coordination] sections every proxy here shares,
 * then [agents] with `agents`. */
static void start_proxy(px_proc *p, const char *name, const char *agents)
{
    char conf[4096];
    snprintf(conf, sizeof conf,
             "[meterproxy]\nagent_timeout_ms = %d\nmetrics_reuse_ms = 0\n"
             "[coordination]\nbackend_url = %s\ngroups = central\nauth_file = %s\n"
             "session_timeout_ms = 4000\n[agents]\n%s",
             5000 * th_slack(), fx.url, fx.auth_path, agents);
    px_start(p, name, conf, NULL);
}

static int setup(void **state)
{
    (void)state;
    th_child_env();
    char cmd[1200];
    th_path(creds, sizeof creds, "tls-creds");
    snprintf(cmd, sizeof cmd, "'%s' init-credentials '%s' >/dev/null 2>&1", MeterctlPath, creds);
    if (system(cmd) != 0) {
        fprintf(stderr, "%s failed\n", cmd);
        return -1;
    }
    cf_start(&fx);
    char api[2000];
    snprintf(api, sizeof api,
             "[api]\ntls_cert_file = %s/pubsub.crt\ntls_key_file = %s/pubsub.key\n"
             "tls_client_ca_file = %s/pubsub-ca.crt\n",
             creds, creds, creds);
    cf_node_start(&fx, 0, api);
    cf_node_start(&fx, 1, api);
    char *body = cf_pipeline(&fx, TARGETS);
    int64_t rev = cf_push(&fx, body);
    free(body);
    assert_true(cf_wait_converged(&fx, 2, rev, 30000 * th_slack()));

    char agents[2000];
    snprintf(agents, sizeof agents,
             "tls_ca_file = %s/pubsub-ca.crt\ntls_name = meterd-pubsub\n"
             "tls_cert_file = %s/pubsub.crt\ntls_key_file = %s/pubsub.key\n",
             creds, creds, creds);
    start_proxy(&whole, "meterproxy-mtls", agents);
    snprintf(agents, sizeof agents, "tls_ca_file = %s/pubsub-ca.crt\ntls_name = meterd-pubsub\n",
             creds);
    start_proxy(&no_cert, "meterproxy-no-cert", agents);
    snprintf(agents, sizeof agents,
             "tls_ca_file = %s/pubsub-ca.crt\ntls_cert_file = %s/pubsub.crt\n"
             "tls_key_file = %s/pubsub.key\n",
             creds, creds, creds);
    start_proxy(&no_name, "meterproxy-no-name", agents);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    px_stop(&whole);
    px_stop(&no_cert);
    px_stop(&no_name);
    assert_int_equal(cf_stop(&fx), 0);
    return 0;
}

#define PAGE_CAP (4u << 20)
static char page[PAGE_CAP];

typedef struct page_want {
    int port;
    const char *a, *b; /* both must be in the page */
} page_want;

/* The proxy's cache learns the members through ZooKeeper's watches: the
 * page is asked again until it holds what is wanted. */
static bool page_has(void *arg)
{
    page_want *w = arg;
    if (px_http(w->port, "GET", "/metrics", NULL, NULL, page, PAGE_CAP) != 200) return false;
    return strstr(page, w->a) && strstr(page, w->b);
}

static void wait_page(int port, const char *a, const char *b)
{
    page_want w = {port, a, b};
    if (!th_wait_until(page_has, &w, 30000 * th_slack()))
        fail_msg("no '%s' and '%s' in the federated page:\n%.3000s", a, b,
                 strstr(page, "# HELP meterproxy_federation_up")
                     ? strstr(page, "# HELP meterproxy_federation_up")
                     : page);
}

/* The page's comment line on why member is unreachable (fails without). */
static void reason_of(const char *member, char *line, size_t cap)
{
    char head[200];
    snprintf(head, sizeof head, "# meterproxy: member %s unreachable: ", member);
    const char *why = strstr(page, head);
    if (!why) fail_msg("%s not marked unreachable:\n%.3000s", member, page);
    snprintf(line, cap, "%.*s", (int)strcspn(why, "\n"), why);
}

static void test_mtls_fanout(void **state)
{
    (void)state;
    wait_page(whole.port, "meterproxy_federation_up{member=\"node-0.central\"} 1\n",
              "meterproxy_federation_up{member=\"node-1.central\"} 1\n");
    /* the agents' own samples, labelled, came over mTLS */
    assert_non_null(strstr(page, "member=\"node-0.central\""));
    assert_non_null(strstr(page, "meterd_api_connections_total{"));
    assert_null(strstr(page, "unreachable"));

    for (int k = 0; k < TARGETS; k++) {
        char path[256], resp[65536], target[64];
        snprintf(target, sizeof target, "tcp://127.0.0.1:%d", k + 1);
        snprintf(path, sizeof path, "/v1/targets?target=tcp%%3A%%2F%%2F127.0.0.1%%3A%d", k + 1);
        int st = px_http(whole.port, "GET", path, NULL, NULL, resp, sizeof resp);
        if (st != 200) fail_msg("%s: %d %s", path, st, resp);
        json_t *tasks = json_loads(resp, 0, NULL);
        assert_true(json_is_array(tasks));
        assert_true(json_array_size(tasks) > 0);
        size_t i;
        json_t *task;
        json_array_foreach(tasks, i, task)
        {
            assert_string_equal(json_string_value(json_object_get(task, "target")), target);
            assert_true(json_is_true(json_object_get(task, "owned")));
        }
        json_decref(tasks);
    }
}

static void test_without_client_certificate(void **state)
{
    (void)state;
    wait_page(no_cert.port, "meterproxy_federation_up{member=\"node-0.central\"} 0\n",
              "meterproxy_federation_up{member=\"node-1.central\"} 0\n");
    char line[1024];
    reason_of("node-0.central", line, sizeof line);
    if (!strstr(line, "HTTP status 403") || !strstr(line, "client certificate"))
        fail_msg("the reason is not the agent's: %s", line);

    char resp[8192];
    int st = px_http(no_cert.port, "GET", "/v1/targets?target=tcp%3A%2F%2F127.0.0.1%3A1", NULL,
                     NULL, resp, sizeof resp);
    json_t *doc = json_loads(resp, 0, NULL);
    if (st != 502 || !doc) fail_msg("/v1/targets without a client certificate: %d %s", st, resp);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "error")), "credentials"));
    assert_non_null(
        strstr(json_string_value(json_object_get(doc, "detail")), "client certificate"));
    json_decref(doc);
}

static void test_name_checked(void **state)
{
    (void)state;
    /* the agents advertise 127.0.0.1; their certificate names meterd-pubsub */
    wait_page(no_name.port, "meterproxy_federation_up{member=\"node-0.central\"} 0\n",
              "meterproxy_federation_up{member=\"node-1.central\"} 0\n");
    char line[1024];
    reason_of("node-1.central", line, sizeof line);
    if (!strstr(line, "127.0.0.1") || !strstr(line, "certificate"))
        fail_msg("the reason does not name the certificate's check: %s", line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mtls_fanout),
        cmocka_unit_test(test_without_client_certificate),
        cmocka_unit_test(test_name_checked),
    };
    return th_tests_result(cmocka_run_group_tests(tests, setup, teardown));
}
