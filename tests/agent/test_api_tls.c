/*
 * test_api_tls.c: the agent's API over HTTPS ([api] tls_cert_file,
 * tls_key_file) and with client certificates required (tls_client_ca_file,
 * mTLS). Real meterd processes, certificates from `meterctl
 * init-credentials` (a group CA and a certificate for the name
 * meterd-pubsub, server and client use; a second run gives a foreign CA),
 * and curl as the client: with the CA's client certificate 200; without a
 * certificate, or with the foreign one, 403 (counted in /metrics); plain HTTP
 * gets no answer. With mTLS an API off loopback starts without token_file.
 * Half a TLS configuration is refused at start at file:line:col, and a
 * missing certificate file names itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness/harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char ours[512], foreign[512]; /* init-credentials folders */
static char out[1 << 16];

static int setup(void **state)
{
    (void)state;
    if (system("command -v curl >/dev/null 2>&1") != 0)
        th_skip_all("curl is not installed (the test's HTTPS client)");
    char cmd[1400];
    th_path(ours, sizeof ours, "creds");
    th_path(foreign, sizeof foreign, "creds-foreign");
    const char *dirs[] = {ours, foreign};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "'%s' init-credentials '%s' >/dev/null 2>&1", MeterctlPath,
                 dirs[i]);
        if (system(cmd) != 0) {
            fprintf(stderr, "%s failed\n", cmd);
            return -1;
        }
    }
    return 0;
}

/* curl's status for https://meterd-pubsub:port/path (the certificate's name,
 * resolved to loopback), with the client certificate of `client` (NULL:
 * none); 0 when no HTTP answer came. The body is in out. */
static int curl(int port, const char *path, const char *client, bool tls)
{
    char cmd[3000], cert[1200] = "", body[512];
    th_path(body, sizeof body, "curl-body");
    if (client)
        snprintf(cert, sizeof cert, "--cert '%s/pubsub.crt' --key '%s/pubsub.key'", client, client);
    if (tls)
        snprintf(cmd, sizeof cmd,
                 "curl -s -m %d -o '%s' -w '%%{http_code}' --resolve meterd-pubsub:%d:127.0.0.1 "
                 "--cacert '%s/pubsub-ca.crt' %s https://meterd-pubsub:%d%s",
                 10 * th_slack(), body, port, ours, cert, port, path);
    else
        snprintf(cmd, sizeof cmd, "curl -s -m %d -o '%s' -w '%%{http_code}' http://127.0.0.1:%d%s",
                 10 * th_slack(), body, port, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int code = 0;
    if (fscanf(p, "%d", &code) != 1) code = 0;
    pclose(p);
    FILE *f = fopen(body, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    return code;
}

typedef struct up_arg {
    int port;
    const char *client;
} up_arg;

static bool api_up(void *arg)
{
    up_arg *u = arg;
    return curl(u->port, "/health", u->client, true) == 200;
}

/* meterd with [api] `api` (port appended); waits until /health answers 200
 * over HTTPS with client's certificate. */
static void start(th_proc *p, const char *name, const char *api, int port, const char *client)
{
    char conf[512], text[2000], cname[64];
    snprintf(cname, sizeof cname, "%s.conf", name);
    snprintf(text, sizeof text, "[api]\nport = %d\n%s", port, api);
    assert_int_equal(th_write_file(cname, text, conf, sizeof conf), 0);
    char *argv[] = {MeterdBinary, "-c", conf, "-f", NULL};
    assert_int_equal(th_spawn_daemon(p, name, argv, NULL, NULL), 0);
    up_arg u = {port, client};
    if (!th_wait_until(api_up, &u, 15000 * th_slack()))
        fail_msg("%s: /health over HTTPS never answered 200 (last: %s)", name, out);
}

static void stop(th_proc *p)
{
    assert_true(th_stop(p, SIGTERM, 10000 * th_slack()) >= 0);
    th_expect_clean_exit(p, 0);
}

static void test_https(void **state)
{
    (void)state;
    char api[1400];
    snprintf(api, sizeof api, "tls_cert_file = %s/pubsub.crt\ntls_key_file = %s/pubsub.key\n", ours,
             ours);
    int port = th_free_port();
    th_proc p;
    start(&p, "meterd-https", api, port, NULL);
    assert_int_equal(curl(port, "/metrics", NULL, true), 200);
    assert_non_null(strstr(out, "meterd_api_connections_total"));
    /* a client certificate is not asked for, and one given changes nothing */
    assert_int_equal(curl(port, "/v1/status", foreign, true), 200);
    assert_int_equal(curl(port, "/health", NULL, false), 0); /* plain HTTP: no answer */
    stop(&p);
}

/* Off loopback, with client certificates required and no token_file. */
static void test_mtls(void **state)
{
    (void)state;
    char api[1600];
    snprintf(api, sizeof api,
             "host = 0.0.0.0\ntls_cert_file = %s/pubsub.crt\ntls_key_file = %s/pubsub.key\n"
             "tls_client_ca_file = %s/pubsub-ca.crt\n",
             ours, ours, ours);
    int port = th_free_port();
    th_proc p;
    start(&p, "meterd-mtls", api, port, ours);
    const char *paths[] = {"/health", "/ready", "/metrics", "/v1/status", "/v1/targets"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int code = curl(port, paths[i], NULL, true);
        if (code != 403) fail_msg("%s without a client certificate: %d %s", paths[i], code, out);
        assert_non_null(strstr(out, "client certificate"));
        code = curl(port, paths[i], foreign, true);
        if (code != 403) fail_msg("%s with a foreign CA's certificate: %d %s", paths[i], code, out);
        code = curl(port, paths[i], ours, true);
        if (code != 200 && code != 503) fail_msg("%s with the certificate: %d", paths[i], code);
    }
    assert_int_equal(curl(port, "/metrics", ours, true), 200);
    const char *row = strstr(out, "meterd_api_requests_refused_total{code=\"403\"} ");
    assert_non_null(row);
    assert_true(atoi(strchr(row, ' ') + 1) >= 10);
    stop(&p);
}

/* meterd -c text: must exit non-zero at once with `want` in its output. */
static void expect_refused(const char *text, const char *want)
{
    char conf[512], logp[512], cmd[1500];
    assert_int_equal(th_write_file("bad-tls.conf", text, conf, sizeof conf), 0);
    th_path(logp, sizeof logp, "bad-tls.log");
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' -c '%s' -f >'%s' 2>&1", MeterdBinary, conf, logp);
    int st = system(cmd);
    FILE *f = fopen(logp, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    fclose(f);
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 124)
        fail_msg("started (or hung) with:\n%s\n%s", text, out);
    char where[600];
    snprintf(where, sizeof where, "%s%s", conf, want);
    if (!strstr(out, where)) fail_msg("expected \"%s\" in:\n%s", where, out);
}

static void test_half_tls_refused(void **state)
{
    (void)state;
    char text[1400];
    snprintf(text, sizeof text, "[api]\n  tls_cert_file = %s/pubsub.crt\nport = 0\n", ours);
    expect_refused(text, ":2:3: [api] tls_cert_file is set without tls_key_file");
    snprintf(text, sizeof text, "[api]\ntls_key_file = %s/pubsub.key\nport = 0\n", ours);
    expect_refused(text, ":2:1: [api] tls_key_file is set without tls_cert_file");
    snprintf(text, sizeof text, "[api]\nport = 0\n\ntls_client_ca_file = %s/pubsub-ca.crt\n", ours);
    expect_refused(text, ":4:1: [api] tls_client_ca_file (mTLS) is set without tls_cert_file");
    snprintf(text, sizeof text,
             "[api]\nport = 0\ntls_cert_file = %s/absent.crt\ntls_key_file = %s/pubsub.key\n", ours,
             ours);
    char want[700];
    snprintf(want, sizeof want, ": [api] %s/absent.crt: cannot open the TLS certificate", ours);
    expect_refused(text, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_mtls),
        cmocka_unit_test(test_half_tls_refused),
    };
    return th_tests_result(cmocka_run_group_tests(tests, setup, NULL));
}
