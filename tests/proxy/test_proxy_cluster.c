/*
 * test_proxy_cluster.c (integration): meterproxy in front of a real group
 * (ZooKeeper and two meterd agents, tests/agent/cluster_fixture.c). What
 * it answers is what meterctl answers: the same status document, the same
 * owner of each target (group_clock_owner_at, as `meterctl whohas`); a push
 * reaches its cache through ZooKeeper's watches; a burst of requests costs
 * ZooKeeper nothing (no read per request: ZooKeeper's own packet count is
 * compared); unknown groups and paths are 404, other methods 405.
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

#define TARGETS 6

static cluster_fx fx;
static px_proc px;

/* meterctl CMD ... -o json against the fixture's group, parsed. */
static json_t *meterctl_json(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s -g central --zk '%s' --auth-file '%s' -o json 2>/dev/null",
             MeterctlPath, args, fx.url, fx.auth_path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    json_t *doc = json_loadf(f, 0, NULL);
    pclose(f);
    assert_non_null(doc);
    return doc;
}

static const char *str(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2) v = json_object_get(v, path2);
    return json_string_value(v);
}

typedef struct want_rev {
    int64_t number;
    int members;
} want_rev;

/* The proxy's cache shows revision number, consistent, with n members. */
static bool cache_shows(void *arg)
{
    want_rev *w = arg;
    int status = 0;
    json_t *doc = px_get_json(px.port, "/v1/groups/central", &status);
    bool ok = status == 200 && doc &&
              json_integer_value(json_object_get(json_object_get(doc, "revision"), "number")) ==
                  w->number &&
              json_is_true(json_object_get(doc, "consistent")) &&
              (int)json_array_size(json_object_get(doc, "members")) == w->members;
    json_decref(doc);
    return ok;
}

/* The proxy's document is meterctl's plus "zookeeper" (the session state). */
static void assert_same_doc(json_t *mine, json_t *theirs)
{
    json_object_del(mine, "zookeeper");
    char *a = json_dumps(mine, JSON_SORT_KEYS), *b = json_dumps(theirs, JSON_SORT_KEYS);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(mine);
    json_decref(theirs);
}

static long long zk_packets_received(void)
{
    char out[8192];
    assert_int_equal(th_zk_4lw(&fx.zk, 0, "mntr", out, sizeof out), 0);
    const char *p = strstr(out, "zk_packets_received");
    assert_non_null(p);
    return strtoll(p + strlen("zk_packets_received"), NULL, 10);
}

static void test_read_api(void **state)
{
    (void)state;
    cf_start(&fx);
    cf_node_start(&fx, 0, NULL);
    cf_node_start(&fx, 1, NULL);
    char *body = cf_pipeline(&fx, TARGETS);
    int64_t rev = cf_push(&fx, body);
    assert_true(cf_wait_converged(&fx, 2, rev, 30000 * th_slack()));

    char conf[2048];
    snprintf(conf, sizeof conf,
             "[coordination]\nbackend_url = %s\ngroups = central, other\nauth_file = %s\n"
             "session_timeout_ms = 4000\n",
             fx.url, fx.auth_path);
    char logarg[600];
    th_path(logarg, sizeof logarg, "meterproxy-own.log");
    char *extra[] = {"-l", logarg, NULL};
    px_start(&px, "meterproxy", conf, extra);
    want_rev w = {rev, 2};
    assert_true(th_wait_until(cache_shows, &w, 30000 * th_slack()));

    /* status: meterctl's document, plus the session state */
    int status = 0;
    json_t *mine = px_get_json(px.port, "/v1/groups/central", &status);
    assert_int_equal(status, 200);
    json_t *theirs = meterctl_json("status");
    assert_string_equal(str(mine, "zookeeper", NULL), "CONNECTED");
    assert_string_equal(str(mine, "revision", "sha256"), str(theirs, "revision", "sha256"));
    assert_string_equal(str(mine, "assignment", "digest"), str(theirs, "assignment", "digest"));
    assert_string_equal(str(mine, "leader", "member_id"), str(theirs, "leader", "member_id"));
    assert_same_doc(mine, theirs); /* one document: groupview's */

    /* the owner of every target: meterctl whohas's answer */
    for (int k = 0; k < TARGETS; k++) {
        char target[64], path[256], args[128];
        snprintf(target, sizeof target, "tcp://127.0.0.1:%d", k + 1);
        /* target ids are URLs: percent-encoded in the query */
        snprintf(path, sizeof path,
                 "/v1/groups/central/assignment?target=tcp%%3A%%2F%%2F127.0.0.1%%3A%d", k + 1);
        json_t *as = px_get_json(px.port, path, &status);
        assert_int_equal(status, 200);
        snprintf(args, sizeof args, "whohas '%s'", target);
        json_t *who = meterctl_json(args);
        json_t *t = json_object_get(as, "target");
        assert_string_equal(str(t, "id", NULL), target);
        assert_true(json_is_true(json_object_get(t, "known")));
        assert_non_null(str(t, "owner", "id"));
        assert_string_equal(str(t, "owner", "id"), str(who, "owner", "id"));
        assert_int_equal(json_integer_value(json_object_get(t, "slot")),
                         json_integer_value(json_object_get(who, "slot")));
        json_decref(as);
        json_decref(who);
    }

    json_t *mem = px_get_json(px.port, "/v1/groups/central/members", &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(mem, "members")), 2);
    json_decref(mem);

    json_t *pipe = px_get_json(px.port, "/v1/groups/central/pipeline", &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(pipe, "number")), rev);
    assert_string_equal(str(pipe, "body", NULL), body);
    json_decref(pipe);

    /* a new revision reaches the cache through the watches */
    int64_t rev2 = cf_push(&fx, body);
    assert_true(cf_wait_converged(&fx, 2, rev2, 30000 * th_slack()));
    w.number = rev2;
    assert_true(th_wait_until(cache_shows, &w, 30000 * th_slack()));
    json_t *revs = px_get_json(px.port, "/v1/groups/central/revisions", &status);
    assert_int_equal(status, 200);
    assert_same_doc(revs, meterctl_json("revisions"));

    /* no ZooKeeper read per request: 200 requests, a handful of packets
     * (pings); a read per request would be at least 200 */
    long long before = zk_packets_received();
    for (int i = 0; i < 200; i++) {
        json_t *d = px_get_json(
            px.port, i % 2 ? "/v1/groups/central" : "/v1/groups/central/assignment?target=x",
            &status);
        assert_int_equal(status, 200);
        json_decref(d);
    }
    long long after = zk_packets_received();
    assert_true(after - before < 60);

    /* unknown things */
    char out[4096];
    assert_int_equal(px_http(px.port, "GET", "/v1/groups/nope", NULL, NULL, out, sizeof out), 404);
    assert_non_null(strstr(out, "not served here"));
    assert_int_equal(px_http(px.port, "GET", "/nope", NULL, NULL, out, sizeof out), 404);
    assert_int_equal(
        px_http(px.port, "GET", "/v1/groups/central/nope", NULL, NULL, out, sizeof out), 404);
    /* a served group nobody created yet */
    assert_int_equal(px_http(px.port, "GET", "/v1/groups/other", NULL, NULL, out, sizeof out), 404);
    assert_non_null(strstr(out, "unknown group"));
    assert_int_equal(px_http(px.port, "DELETE", "/v1/groups", NULL, NULL, out, sizeof out), 405);

    json_t *groups = px_get_json(px.port, "/v1/groups", &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(groups, "groups")), 2);
    json_decref(groups);
    json_t *health = px_get_json(px.port, "/health", &status);
    assert_int_equal(status, 200);
    assert_string_equal(str(health, "status", NULL), "ok");
    json_decref(health);
    assert_int_equal(px_http(px.port, "GET", "/metrics", NULL, NULL, out, sizeof out), 200);
    assert_non_null(strstr(out, "meterproxy_http_requests_total "));

    px_stop(&px);
    free(body);
    assert_int_equal(cf_stop(&fx), 0);
}

int main(void)
{
    th_child_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_api),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
