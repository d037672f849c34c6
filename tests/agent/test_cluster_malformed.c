/*
 * test_cluster_malformed.c (integration): a pipeline node that is not a
 * revision (written by hand over a running group) is shown with its reason
 * in the agent's /health (degraded) and /v1/status, not only in its log,
 * while the last valid revision keeps running; the next valid revision
 * clears both. Before, meterd passed no malformed callback to the
 * coordinator: /health said "ok" and /v1/status nothing.
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
#include <unistd.h>
#include <zookeeper/zookeeper.h>

static cluster_fx fx;

typedef struct page_want {
    const char *path;   /* "/health" or "/v1/status" */
    const char *part;   /* must be in the body... */
    bool present;       /* ...or must not */
    char body[1 << 15]; /* the last answer */
} page_want;

static bool page_is(void *arg)
{
    page_want *w = arg;
    char req[128];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", w->path);
    ssize_t n = th_tcp_request("127.0.0.1", fx.nodes[0].api_port, req, w->body, sizeof w->body,
                               5000 * th_slack(), NULL);
    return n > 0 && (strstr(w->body, w->part) != NULL) == w->present;
}

static void zk_quiet(const char *msg)
{
    (void)msg;
}

/* Overwrites the group's pipeline node with data, as the operator. */
static void set_pipeline_node(const char *data)
{
    zhandle_t *zh = zookeeper_init2(fx.zk.hosts, NULL, 4000, NULL, NULL, 0, zk_quiet);
    assert_non_null(zh);
    int64_t deadline = th_now_ms() + 10000 * th_slack();
    while (zoo_state(zh) != ZOO_CONNECTED_STATE && th_now_ms() < deadline)
        usleep(5000); /* the client has no wait for its first connection */
    assert_int_equal(zoo_add_auth(zh, "digest", fx.auth, (int)strlen(fx.auth), NULL, NULL), ZOK);
    assert_int_equal(zoo_set(zh, "/meterd/central/pipeline", data, (int)strlen(data), -1), ZOK);
    zookeeper_close(zh);
}

static void test_malformed_node_shown(void **state)
{
    (void)state;
    cf_start(&fx);
    cf_node_start(&fx, 0, NULL);
    char *body = cf_pipeline(&fx, 2);
    int64_t r1 = cf_push(&fx, body);
    cf_sole_want run1 = {&fx, "running", r1, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &run1, 20000 * th_slack()));

    set_pipeline_node("not a revision");
    static page_want health = {"/health", "is not a revision: no header line", true, ""};
    if (!th_wait_until(page_is, &health, 20000 * th_slack()))
        fail_msg("/health does not name the malformed node: %s", health.body);
    assert_non_null(strstr(health.body, "\"degraded\""));
    assert_non_null(strstr(health.body, "the last valid revision keeps running"));
    static page_want status = {"/v1/status", "\"reason\":\"no header line\"", true, ""};
    if (!th_wait_until(page_is, &status, 20000 * th_slack()))
        fail_msg("/v1/status does not name the malformed node: %s", status.body);
    assert_non_null(strstr(status.body, "\"malformed_pipeline\":{\"version\":"));
    cf_sole_want still = {&fx, "running", r1, NULL};
    assert_true(cf_sole_member_is(&still));

    /* a valid revision over it (meterctl push --force's write): gone from both */
    coord_revision_t bad = {0};
    assert_int_equal(coord_revision_read(fx.obs, &bad), COORD_EMALFORMED);
    char sig[GROUP_SIGNATURE_MAX];
    assert_int_equal(
        group_revision_sign_ed25519(fx.signer, "central", bad.number + 1, body, strlen(body), sig),
        0);
    int64_t r2 = 0;
    assert_int_equal(coord_revision_push(fx.obs, bad.number, body, strlen(body), "test", sig, &r2),
                     COORD_OK);
    cf_sole_want run2 = {&fx, "running", r2, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &run2, 20000 * th_slack()));
    health.present = false;
    if (!th_wait_until(page_is, &health, 20000 * th_slack()))
        fail_msg("/health still names the malformed node: %s", health.body);
    static page_want cleared = {"/v1/status", "\"malformed_pipeline\":null", true, ""};
    if (!th_wait_until(page_is, &cleared, 20000 * th_slack()))
        fail_msg("/v1/status still names the malformed node: %s", cleared.body);
    free(body);
    assert_int_equal(cf_stop(&fx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_malformed_node_shown)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
