/*
 * test_cluster_tls.c: the pub-sub fast path over nng's TLS transport, with a
 * real ZooKeeper and real meterd processes holding what `meterctl
 * init-credentials` makes (a CA, the members' certificate and key):
 *  - the leader publishes on tls+tcp:// and a member with the same CA
 *    receives revisions over it;
 *  - a member whose CA is another one does not verify the leader's
 *    certificate: it gets nothing over pub-sub, says why in its log, and
 *    still applies the revision (through ZooKeeper);
 *  - a member configured with TLS does not subscribe to a plaintext leader;
 *  - bad TLS settings (a plaintext pubsub_listen, a missing option, an
 *    unreadable certificate, a key others may read, a mismatched key) stop
 *    meterd at start with the reason.
 */
#include "cluster_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static cluster_fx fx;
static char text[1 << 16];

static void make_credentials(const char *name, char *dir, size_t cap)
{
    char cmd[1200], logp[512];
    th_path(dir, cap, name);
    th_path(logp, sizeof logp, "init-credentials.out");
    snprintf(cmd, sizeof cmd, "'%s' init-credentials '%s' >'%s' 2>&1", MeterctlPath, dir, logp);
    assert_int_equal(system(cmd), 0);
}

static void tls_options(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap,
             "pubsub_tls_cert_file = %s/pubsub.crt\npubsub_tls_key_file = %s/pubsub.key\n"
             "pubsub_tls_ca_file = %s/pubsub-ca.crt\n",
             dir, dir, dir);
}

/* GET /v1/status of node i into text. */
static bool status_of(int i)
{
    ssize_t n = th_tcp_request("127.0.0.1", fx.nodes[i].api_port,
                               "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               text, sizeof text, 2000, NULL);
    return n > 0;
}

struct want {
    int node;
    const char *part;
};

static bool status_has(void *arg)
{
    struct want *w = arg;
    return status_of(w->node) && strstr(text, w->part);
}

static bool log_has(void *arg)
{
    struct want *w = arg;
    FILE *f = fopen(fx.nodes[w->node].proc.log, "r");
    if (!f) return false;
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    return strstr(text, w->part) != NULL;
}

static void wait_for(bool (*cond)(void *), int node, const char *part)
{
    struct want w = {node, part};
    if (!th_wait_until(cond, &w, 30000 * th_slack()))
        fail_msg("node %d: no \"%s\" in %s: %s", node, part,
                 cond == log_has ? "its log" : "/v1/status", text);
}

/* The "received" count of node i's pub-sub status. */
static long received(int i)
{
    assert_true(status_of(i));
    const char *p = strstr(text, "\"received\":");
    if (!p) fail_msg("node %d: no pub-sub counters in /v1/status: %s", i, text);
    return strtol(p + strlen("\"received\":"), NULL, 10);
}

static bool received_some(void *arg)
{
    (void)arg;
    return received(1) >= 1;
}

static void test_tls_pubsub(void **state)
{
    (void)state;
    cf_start(&fx);
    char group_ca[512], other_ca[512], tls[2000], wrong[2000], plain_url[400], extra[3000];
    make_credentials("tls-group", group_ca, sizeof group_ca);
    make_credentials("tls-other", other_ca, sizeof other_ca);
    tls_options(group_ca, tls, sizeof tls);
    tls_options(other_ca, wrong, sizeof wrong);

    /* the first member leads and publishes over TLS only */
    cf_node_start(&fx, 0, tls);
    wait_for(status_has, 0, "\"publishing\":\"tls+tcp://");
    cf_node_start(&fx, 1, tls);
    wait_for(status_has, 1, "\"connected\":true,\"tls\":true");
    assert_non_null(strstr(text, "\"subscribed\":\"tls+tcp://"));
    cf_node_start(&fx, 2, wrong);
    wait_for(log_has, 2, "TLS handshake with the leader at tls+tcp://");
    assert_non_null(strstr(text, "does not verify against pubsub_tls_ca_file"));

    char *body = cf_pipeline(&fx, 3);
    int64_t r1 = cf_push(&fx, body);
    assert_true(cf_wait_converged(&fx, 3, r1, 30000 * th_slack()));
    if (!th_wait_until(received_some, NULL, 10000 * th_slack()))
        fail_msg("node 1 received nothing over TLS pub-sub: %s", text);
    assert_int_equal(received(2), 0); /* applied through ZooKeeper only */
    assert_non_null(strstr(text, "\"connected\":false"));
    free(body);

    /* a TLS member does not subscribe to a plaintext leader (another tree) */
    snprintf(plain_url, sizeof plain_url, "zookeeper://%s/plain", fx.zk.hosts);
    snprintf(extra, sizeof extra, "backend_url = %s\n", plain_url);
    cf_node_start(&fx, 3, extra);
    wait_for(status_has, 3, "\"publishing\":\"tcp://");
    snprintf(extra, sizeof extra, "backend_url = %s\n%s", plain_url, tls);
    cf_node_start(&fx, 4, extra);
    wait_for(log_has, 4, "the leader publishes in plaintext");
    assert_int_equal(received(4), 0);
    assert_int_equal(cf_stop(&fx), 0);
}

/* meterd refuses to start with conf_text (+ the [coordination] lines
 * coordination), saying why (part). */
static void expect_refused(const char *coordination, const char *part)
{
    char conf_text[4000], conf[512];
    snprintf(conf_text, sizeof conf_text,
             "[DEFAULT]\nhost = refused\n[api]\nport = 0\n[coordination]\n"
             "backend_url = zookeeper://127.0.0.1:1/meterd\ninsecure = true\n%s",
             coordination);
    assert_int_equal(th_write_file("refused.conf", conf_text, conf, sizeof conf), 0);
    cf_expect_refused(conf, text, sizeof text);
    if (!strstr(text, part)) fail_msg("meterd does not say \"%s\": %s", part, text);
}

/* Bad TLS settings stop meterd at start, each with its reason: plaintext
 * pubsub_listen, a missing option, an unreadable certificate, a key others
 * may read, a certificate and key that do not match. */
static void test_tls_config_refused(void **state)
{
    (void)state;
    char dir[512], other[512], tls[2000], opts[3000], key[600];
    make_credentials("tls-conf", dir, sizeof dir);
    make_credentials("tls-conf-other", other, sizeof other);
    tls_options(dir, tls, sizeof tls);
    snprintf(opts, sizeof opts, "pubsub_listen = tcp://127.0.0.1:0\n%s", tls);
    expect_refused(opts, "is plaintext while pub-sub TLS is configured");
    snprintf(opts, sizeof opts, "pubsub_tls_cert_file = %s/pubsub.crt\n", dir);
    expect_refused(opts, "needs all three of pubsub_tls_cert_file");
    snprintf(opts, sizeof opts, "%spubsub_tls_cert_file = %s/nope.crt\n", tls, dir);
    expect_refused(opts, "pubsub_tls_cert_file");
    snprintf(key, sizeof key, "%s/pubsub.key", dir);
    assert_int_equal(chmod(key, 0644), 0);
    expect_refused(tls, "pubsub_tls_key_file");
    assert_int_equal(chmod(key, 0600), 0);
    snprintf(opts, sizeof opts, "%spubsub_tls_key_file = %s/pubsub.key\n", tls, other);
    expect_refused(opts, "the certificate and key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_config_refused),
        cmocka_unit_test(test_tls_pubsub),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
