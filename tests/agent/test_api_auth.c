/*
 * test_api_auth.c: the agent's HTTP API off loopback requires a bearer
 * token from a 0600 file (issue 12). A real meterd: without the token a
 * request gets 401 and the right token 200, except the probes /health and
 * /ready, which a kubelet's httpGet must reach without a secret: they give
 * their status code and word, never the reasons; an API host reachable from
 * other hosts without token_file refuses to start, saying what to do.
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
#include <sys/stat.h>
#include <sys/wait.h>

static int api_port;
static char resp[8192];

static int get(const char *path, const char *auth)
{
    char req[600];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n%s%s%sConnection: close\r\n\r\n", path,
             auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    ssize_t n = th_tcp_request("127.0.0.1", api_port, req, resp, sizeof resp, 5000, NULL);
    int code = 0;
    if (n <= 0 || sscanf(resp, "HTTP/1.%*d %d", &code) != 1) return -1;
    return code;
}

static bool api_up(void *arg)
{
    (void)arg;
    return get("/health", NULL) > 0;
}

static void test_token_required(void **state)
{
    (void)state;
    char conf[512], token[512], text[1024];
    assert_int_equal(th_write_file("api.token", "s3cret-token-0123456789\n", token, sizeof token),
                     0);
    assert_int_equal(chmod(token, 0600), 0);
    api_port = th_free_port();
    snprintf(text, sizeof text, "[api]\nhost = 127.0.0.1\nport = %d\ntoken_file = %s\n", api_port,
             token);
    assert_int_equal(th_write_file("meterd.conf", text, conf, sizeof conf), 0);
    th_proc p;
    char *argv[] = {MeterdBinary, "-c", conf, "-f", NULL};
    assert_int_equal(th_spawn_daemon(&p, "meterd", argv, NULL, NULL), 0);
    assert_true(th_wait_until(api_up, NULL, 10000 * th_slack()));
    const char *probes[] = {"/health", "/ready"};
    for (size_t i = 0; i < 2; i++) {
        int code = get(probes[i], NULL);
        if (code != 200 && code != 503) fail_msg("%s without the token: %d", probes[i], code);
        assert_null(strstr(resp, "reasons"));
        assert_non_null(strstr(resp, "{\"status\":\""));
        code = get(probes[i], "Bearer s3cret-token-0123456789");
        if (code != 200 && code != 503) fail_msg("%s: %d", probes[i], code);
        assert_non_null(strstr(resp, "\"reasons\":["));
    }
    const char *paths[] = {"/metrics", "/v1/status", "/v1/targets"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        assert_int_equal(get(paths[i], NULL), 401);
        assert_non_null(strstr(resp, "Bearer"));
        assert_int_equal(get(paths[i], "Bearer wrong-token-0123456789xx"), 401);
        assert_int_equal(get(paths[i], "Bearer s3cret-token-012345678"), 401); /* a prefix */
        int code = get(paths[i], "Bearer s3cret-token-0123456789");
        if (code != 200 && code != 503) fail_msg("%s: %d", paths[i], code);
    }
    assert_int_equal(th_stop(&p, SIGTERM, 10000 * th_slack()), 0);
    th_expect_clean_exit(&p, 0);
}

static void test_off_loopback_without_token_refused(void **state)
{
    (void)state;
    char conf[512], logp[512], cmd[1500];
    assert_int_equal(
        th_write_file("open.conf", "[api]\nhost = 0.0.0.0\nport = 0\n", conf, sizeof conf), 0);
    th_path(logp, sizeof logp, "open.log");
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' -c '%s' -f >'%s' 2>&1", MeterdBinary, conf, logp);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 0);
    assert_int_not_equal(WEXITSTATUS(st), 124);
    FILE *f = fopen(logp, "r");
    assert_non_null(f);
    size_t n = fread(resp, 1, sizeof resp - 1, f);
    resp[n] = 0;
    fclose(f);
    if (!strstr(resp, "[api] host 0.0.0.0 is reachable from other hosts") ||
        !strstr(resp, "token_file"))
        fail_msg("%s", resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_required),
        cmocka_unit_test(test_off_loopback_without_token_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
