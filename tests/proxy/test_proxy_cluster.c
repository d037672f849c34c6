/*
 * test_proxy_cluster.c (integration): meterproxy in front of a real group
 * (ZooKeeper and two meterd agents, tests/agent/cluster_fixture.c). What
 * it answers is what meterctl answers: the same status document, the same
 * owner of each target (group_clock_owner_at, as `meterctl whohas`); a push
 * reaches its cache through ZooKeeper's watches; a burst of requests costs
 * ZooKeeper nothing (no read per request: ZooKeeper's own packet count is
 * compared); unknown groups and paths are 404, other methods 405; the
 * groups listed are those under the chroot (a child watch), restricted by
 * `groups =`, a group created later included; a pipeline node the agents
 * refuse (bad signature, invalid body, not a revision) is shown with why.
 * Then the
 * fan-out: /v1/targets?target=T answered by the member meterctl names as
 * T's owner; /metrics federates both agents with their member label, in a
 * page promtool accepts, to 32 concurrent clients; a frozen agent (SIGSTOP)
 * is marked unreachable within agent_timeout_ms and never hangs the page.
 */
#include "../agent/cluster_fixture.h"
#include "proxy_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdio.h>
#include <zookeeper/zookeeper.h>
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

typedef struct listing_want {
    int port;
    const char *group; /* listed... */
    bool present;      /* ...or not */
} listing_want;

/* The proxy's /v1/groups comes from ZooKeeper's listing and names group
 * (or does not). */
static bool listing_is(void *arg)
{
    listing_want *w = arg;
    int status = 0;
    json_t *doc = px_get_json(w->port, "/v1/groups", &status);
    bool found = false;
    json_t *list = json_object_get(doc, "groups"), *e;
    size_t i;
    json_array_foreach(list, i, e) found |= strcmp(str(e, "group", NULL), w->group) == 0;
    bool ok = status == 200 && json_is_true(json_object_get(doc, "listed")) && found == w->present;
    json_decref(doc);
    return ok;
}

typedef struct pipeline_want {
    int port;
    int64_t number;
} pipeline_want;

/* The unrestricted proxy serves group "third" at revision number. */
static bool third_at(void *arg)
{
    pipeline_want *w = arg;
    int status = 0;
    json_t *doc = px_get_json(w->port, "/v1/groups/third/pipeline", &status);
    bool ok = status == 200 && json_integer_value(json_object_get(doc, "number")) == w->number;
    json_decref(doc);
    return ok;
}

/* The proxy's document is meterctl's plus "zookeeper" (the session state);
 * "connections_checked" is meterctl's alone: it asks the servers' `cons`,
 * the proxy judges from the ready markers only. */
static void assert_same_doc(json_t *mine, json_t *theirs)
{
    json_object_del(mine, "zookeeper");
    json_object_del(mine, "connections_checked");
    json_object_del(theirs, "connections_checked");
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

static char *body;
static int64_t rev;
static char token_path[512];

static int setup(void **state)
{
    (void)state;
    th_child_env();
    cf_start(&fx);
    cf_node_start(&fx, 0, NULL);
    cf_node_start(&fx, 1, NULL);
    body = cf_pipeline(&fx, TARGETS);
    rev = cf_push(&fx, body);
    assert_true(cf_wait_converged(&fx, 2, rev, 30000 * th_slack()));
    assert_int_equal(th_write_file("proxy.token", "first-token\n", token_path, sizeof token_path),
                     0);
    assert_int_equal(chmod(token_path, 0600), 0);
    char conf[2048];
    snprintf(conf, sizeof conf,
             "[meterproxy]\nagent_timeout_ms = 1000\nwrites_api = true\ntoken_file = %s\n"
             "[coordination]\nbackend_url = %s\ngroups = central, other\nauth_file = %s\n"
             "session_timeout_ms = 4000\n",
             token_path, fx.url, fx.auth_path);
    char logarg[600];
    th_path(logarg, sizeof logarg, "meterproxy-own.log");
    char *extra[] = {"-l", logarg, NULL};
    px_start(&px, "meterproxy", conf, extra);
    want_rev w = {rev, 2};
    assert_true(th_wait_until(cache_shows, &w, 30000 * th_slack()));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    px_stop(&px);
    free(body);
    assert_int_equal(cf_stop(&fx), 0);
    return 0;
}

static void test_read_api(void **state)
{
    (void)state;
    want_rev w = {rev, 2};

    /* status: meterctl's document, plus the session state */
    int status = 0;
    json_t *mine = px_get_json(px.port, "/v1/groups/central", &status);
    assert_int_equal(status, 200);
    json_t *theirs = meterctl_json("status");
    assert_string_equal(str(mine, "zookeeper", NULL), "connected");
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

    /* the groups that exist ("other" only once the proxy's own observer
     * created its tree), as ZooKeeper lists them */
    listing_want lw = {px.port, "central", true};
    assert_true(th_wait_until(listing_is, &lw, 30000 * th_slack()));
    json_t *health = px_get_json(px.port, "/health", &status);
    assert_int_equal(status, 200);
    assert_string_equal(str(health, "status", NULL), "ok");
    json_decref(health);
    assert_int_equal(px_http(px.port, "GET", "/metrics", NULL, NULL, out, sizeof out), 200);
    assert_non_null(strstr(out, "meterproxy_http_requests_total "));
}

/* GET /v1/groups lists the groups that exist under the chroot (a child
 * watch, not the configuration), restricted by `groups =` when it is set;
 * a group created while the proxy runs is listed and served. */
static void test_groups_listed(void **state)
{
    (void)state;
    /* every group: no `groups =` */
    char conf[1024];
    snprintf(conf, sizeof conf,
             "[coordination]\nbackend_url = %s\nauth_file = %s\nsession_timeout_ms = 4000\n",
             fx.url, fx.auth_path);
    px_proc all;
    px_start(&all, "meterproxy-all", conf, NULL);
    listing_want w = {all.port, "central", true};
    assert_true(th_wait_until(listing_is, &w, 30000 * th_slack()));

    /* a new group: its tree, then a revision in it */
    coord_config_t cc = {
        .backend_url = fx.url, .group = "third", .session_timeout_ms = 4000, .auth = fx.auth};
    char err[300];
    coord_t *third = coord_open(&cc, err, sizeof err);
    assert_non_null(third);
    assert_int_equal(coord_wait_ready(third, 10000 * th_slack()), 0);
    int64_t n = 0;
    assert_int_equal(coord_revision_push(third, 0, "sources: []\n", 12, "test", "", &n), 0);
    w.group = "third";
    assert_true(th_wait_until(listing_is, &w, 30000 * th_slack()));
    pipeline_want pw = {all.port, n};
    assert_true(th_wait_until(third_at, &pw, 30000 * th_slack()));

    /* the restricted proxy (groups = central, other) neither lists nor serves it */
    listing_want r = {px.port, "third", false};
    assert_true(th_wait_until(listing_is, &r, 30000 * th_slack()));
    r.group = "central";
    r.present = true;
    assert_true(listing_is(&r));
    char out[1024];
    assert_int_equal(px_http(px.port, "GET", "/v1/groups/third", NULL, NULL, out, sizeof out), 404);
    coord_close(third);
    px_stop(&all);
}

typedef struct pipe_want {
    int port;
    const char *key; /* this key of /v1/groups/mend/pipeline... */
    json_t *value;   /* ...equals this (borrowed) */
} pipe_want;

static bool mend_pipeline_has(void *arg)
{
    pipe_want *w = arg;
    int status = 0;
    json_t *doc = px_get_json(w->port, "/v1/groups/mend/pipeline", &status);
    bool ok = status == 200 && json_equal(json_object_get(doc, w->key), w->value);
    json_decref(doc);
    return ok;
}

/* The problem of that kind in /v1/groups/mend's status, or NULL (a new
 * reference to the whole document in *doc). */
static json_t *mend_problem(int port, const char *kind, json_t **doc)
{
    int status = 0;
    *doc = px_get_json(port, "/v1/groups/mend", &status);
    assert_int_equal(status, 200);
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(*doc, "problems"), i, p)
    {
        if (strcmp(str(p, "problem", NULL), kind) == 0) return p;
    }
    return NULL;
}

static void zk_quiet(const char *msg)
{
    (void)msg;
}

static bool zh_connected(void *arg)
{
    return zoo_state(arg) == ZOO_CONNECTED_STATE;
}

/* Overwrites a node with raw bytes (as zkCli would): its new version. */
static int32_t zk_set_raw(const char *path, const char *data)
{
    zhandle_t *zh = zookeeper_init2(fx.zk.hosts, NULL, 4000, NULL, NULL, 0, zk_quiet);
    assert_non_null(zh);
    assert_true(th_wait_until(zh_connected, zh, 10000 * th_slack()));
    assert_int_equal(zoo_add_auth(zh, "digest", fx.auth, (int)strlen(fx.auth), NULL, NULL), ZOK);
    struct Stat st;
    assert_int_equal(zoo_set2(zh, path, data, (int)strlen(data), -1, &st), ZOK);
    zookeeper_close(zh);
    return st.version;
}

/* Pushes body to group mend signed for `signed_for` (its right number: the
 * current + 1); the number it got. */
static int64_t mend_push(coord_t *c, int64_t expected, const char *text, int64_t signed_for)
{
    char sig[GROUP_SIGNATURE_MAX];
    assert_int_equal(
        group_revision_sign_ed25519(fx.signer, "mend", signed_for, text, strlen(text), sig), 0);
    int64_t n = 0;
    assert_int_equal(coord_revision_push(c, expected, text, strlen(text), "test", sig, &n), 0);
    return n;
}

/* A pipeline node the agents refuse is shown with why, never hidden behind
 * the last valid revision: a signature that does not verify with the
 * trusted keys, a body that is not a pipeline, a node that is not a
 * revision at all (written by hand). */
static void test_bad_pipeline_shown(void **state)
{
    (void)state;
    char conf[1536];
    snprintf(conf, sizeof conf,
             "[coordination]\nbackend_url = %s\nauth_file = %s\ngroups = mend\n"
             "trusted_keys_file = %s\nsession_timeout_ms = 4000\n",
             fx.url, fx.auth_path, fx.trusted_path);
    px_proc k;
    px_start(&k, "meterproxy-keys", conf, NULL);
    coord_config_t cc = {
        .backend_url = fx.url, .group = "mend", .session_timeout_ms = 4000, .auth = fx.auth};
    char err[300];
    coord_t *c = coord_open(&cc, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(coord_wait_ready(c, 10000 * th_slack()), 0);

    /* a good one: verified, valid */
    int64_t n = mend_push(c, 0, body, 1);
    pipe_want w = {k.port, "number", json_integer(n)};
    assert_true(th_wait_until(mend_pipeline_has, &w, 30000 * th_slack()));
    int status = 0;
    json_t *doc = px_get_json(k.port, "/v1/groups/mend/pipeline", &status);
    assert_true(json_is_true(json_object_get(doc, "verified")));
    assert_true(json_is_true(json_object_get(doc, "valid")));
    json_decref(doc);
    json_t *st = NULL;
    assert_null(mend_problem(k.port, "bad_signature", &st));
    json_decref(st);

    /* signed for another number: the agents refuse it, the proxy says so */
    n = mend_push(c, n, body, n + 5);
    json_decref(w.value);
    w.value = json_integer(n);
    assert_true(th_wait_until(mend_pipeline_has, &w, 30000 * th_slack()));
    doc = px_get_json(k.port, "/v1/groups/mend/pipeline", &status);
    assert_true(json_is_false(json_object_get(doc, "verified")));
    assert_true(strlen(str(doc, "verify_error", NULL)) > 0);
    fprintf(stderr, "# bad signature: %s\n", str(doc, "verify_error", NULL));
    json_decref(doc);
    json_t *p = mend_problem(k.port, "bad_signature", &st);
    assert_non_null(p);
    assert_true(strlen(str(p, "reason", NULL)) > 0);
    assert_true(json_is_false(json_object_get(st, "consistent")));
    json_decref(st);

    /* not a pipeline: its errors, with line and column */
    n = mend_push(c, n, "sources: [\n  {oops\n", n + 1);
    json_decref(w.value);
    w.value = json_integer(n);
    assert_true(th_wait_until(mend_pipeline_has, &w, 30000 * th_slack()));
    doc = px_get_json(k.port, "/v1/groups/mend/pipeline", &status);
    assert_true(json_is_false(json_object_get(doc, "valid")));
    json_t *e = json_array_get(json_object_get(doc, "errors"), 0);
    assert_true(json_integer_value(json_object_get(e, "line")) > 0);
    json_decref(doc);
    p = mend_problem(k.port, "invalid_revision", &st);
    assert_non_null(p);
    json_decref(st);

    /* not a revision at all: shown as such, with the coordinator's reason,
     * the last valid one beside it, and the version a push --force expects */
    int32_t version = zk_set_raw("/meterd/mend/pipeline", "not a revision");
    json_decref(w.value);
    w.key = "malformed";
    w.value = json_true();
    assert_true(th_wait_until(mend_pipeline_has, &w, 30000 * th_slack()));
    char raw[8192];
    assert_int_equal(
        px_http_raw(k.port, "GET", "/v1/groups/mend/pipeline", NULL, NULL, raw, sizeof raw), 200);
    char etag[64];
    snprintf(etag, sizeof etag, "ETag: \"%d\"", (int)version);
    assert_non_null(strstr(raw, etag));
    doc = px_get_json(k.port, "/v1/groups/mend/pipeline", &status);
    assert_int_equal(json_integer_value(json_object_get(doc, "number")), version);
    assert_true(strlen(str(doc, "reason", NULL)) > 0);
    fprintf(stderr, "# malformed node: %s\n", str(doc, "reason", NULL));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "last_valid"), "number")), n);
    json_decref(doc);
    p = mend_problem(k.port, "malformed_revision", &st);
    assert_non_null(p);
    assert_true(strlen(str(p, "reason", NULL)) > 0);
    json_decref(st);

    /* a valid revision over it clears it */
    n = mend_push(c, version, body, version + 1);
    w.key = "number";
    json_decref(w.value);
    w.value = json_integer(n);
    assert_true(th_wait_until(mend_pipeline_has, &w, 30000 * th_slack()));
    doc = px_get_json(k.port, "/v1/groups/mend/pipeline", &status);
    assert_null(json_object_get(doc, "malformed"));
    assert_true(json_is_true(json_object_get(doc, "verified")));
    json_decref(doc);
    json_decref(w.value);
    coord_close(c);
    px_stop(&k);
}

/* promtool on text: 0 when it found no error (lint remarks are the agents'). */
static int promtool_errors(const char *text)
{
    char in[512], log[512], cmd[1400];
    assert_int_equal(th_write_file("federated.txt", text, in, sizeof in), 0);
    th_path(log, sizeof log, "promtool.log");
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s' 2>&1", in, log);
    if (system(cmd) == -1) return -1;
    char out[8192] = "";
    FILE *f = fopen(log, "r");
    if (f) {
        out[fread(out, 1, sizeof out - 1, f)] = 0;
        fclose(f);
    }
    if (strstr(out, "error")) {
        fprintf(stderr, "# promtool: %s\n", out);
        return 1;
    }
    return 0;
}

typedef struct metrics_client {
    int status;
    bool complete; /* the page's last family arrived */
} metrics_client;

static void *get_metrics(void *arg)
{
    metrics_client *c = arg;
    size_t cap = 4 << 20;
    char *out = malloc(cap);
    c->status = px_http(px.port, "GET", "/metrics", NULL, NULL, out, cap);
    c->complete = strstr(out, "meterproxy_federation_up{member=\"node-1.central\"}") != NULL;
    free(out);
    return NULL;
}

/* Whether the process is stopped (state T in /proc/PID/stat). */
static bool is_stopped(void *arg)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)*(pid_t *)arg);
    FILE *f = fopen(path, "r");
    if (f == NULL) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'T';
}

static char *frozen_page;
static size_t frozen_cap;

/* /metrics answers, and node-1 is marked unreachable or gone from ZooKeeper. */
static bool frozen_marked(void *arg)
{
    (void)arg;
    if (px_http(px.port, "GET", "/metrics", NULL, NULL, frozen_page, frozen_cap) != 200)
        return false;
    return strstr(frozen_page, "meterproxy_federation_up{member=\"node-1.central\"} 0\n") ||
           !strstr(frozen_page, "member=\"node-1.central\"");
}

static void test_fanout(void **state)
{
    (void)state;
    /* /v1/targets?target=T: the owner's own answer */
    for (int k = 0; k < TARGETS; k++) {
        char target[64], path[256], args[128], resp[65536];
        snprintf(target, sizeof target, "tcp://127.0.0.1:%d", k + 1);
        snprintf(path, sizeof path, "/v1/targets?target=tcp%%3A%%2F%%2F127.0.0.1%%3A%d", k + 1);
        int st = px_http_raw(px.port, "GET", path, NULL, NULL, resp, sizeof resp);
        assert_int_equal(st, 200);
        snprintf(args, sizeof args, "whohas '%s'", target);
        json_t *who = meterctl_json(args);
        char hdr[256];
        snprintf(hdr, sizeof hdr, "X-Meterd-Member: %s\r\n", str(who, "owner", "id"));
        if (!strcasestr(resp, hdr)) fail_msg("no '%s' in:\n%.2000s", hdr, resp);
        json_decref(who);
        /* the owner's own tasks of T, and only those */
        json_t *tasks = json_loads(strstr(resp, "\r\n\r\n") + 4, 0, NULL);
        assert_true(json_is_array(tasks));
        assert_true(json_array_size(tasks) > 0);
        size_t ti;
        json_t *task;
        json_array_foreach(tasks, ti, task)
        {
            assert_string_equal(str(task, "target", NULL), target);
            assert_true(json_is_true(json_object_get(task, "owned")));
        }
        json_decref(tasks);
    }
    char out[4096];
    assert_int_equal(px_http(px.port, "GET", "/v1/targets?target=tcp%3A%2F%2Fnowhere%3A1", NULL,
                             NULL, out, sizeof out),
                     404);
    assert_int_equal(px_http(px.port, "GET", "/v1/targets", NULL, NULL, out, sizeof out), 400);

    /* /metrics: both agents, labelled, valid */
    size_t cap = 4 << 20;
    char *page = malloc(cap);
    assert_int_equal(px_http(px.port, "GET", "/metrics", NULL, NULL, page, cap), 200);
    assert_non_null(strstr(page, "member=\"node-0.central\""));
    assert_non_null(strstr(page, "member=\"node-1.central\""));
    assert_non_null(strstr(page, "meterproxy_federation_up{member=\"node-0.central\"} 1\n"));
    assert_non_null(strstr(page, "meterproxy_http_requests_total"));
    if (system("command -v promtool >/dev/null 2>&1") == 0)
        assert_int_equal(promtool_errors(page), 0);
    assert_int_equal(px_http(px.port, "GET", "/metrics?group=nope", NULL, NULL, out, sizeof out),
                     404);

    /* 32 at once */
    enum { CLIENTS = 32 };
    pthread_t th[CLIENTS];
    metrics_client c[CLIENTS];
    memset(c, 0, sizeof c);
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, get_metrics, &c[i]), 0);
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].status, 200);
        assert_true(c[i].complete);
    }

    /* a frozen agent: marked, the page still comes (once the page made
     * before it froze is no longer reused: metrics_reuse_ms) */
    assert_int_equal(kill(fx.nodes[1].proc.pid, SIGSTOP), 0);
    assert_true(th_wait_until(is_stopped, &fx.nodes[1].proc.pid, 10000 * th_slack()));
    frozen_page = page;
    frozen_cap = cap;
    bool marked = th_wait_until(frozen_marked, NULL, 10000 * th_slack());
    assert_int_equal(kill(fx.nodes[1].proc.pid, SIGCONT), 0);
    if (!marked)
        fail_msg("node-1 frozen, yet:\n%s", strstr(page, "# HELP meterproxy_federation_up"));
    assert_non_null(strstr(page, "meterproxy_federation_up{member=\"node-0.central\"} 1\n"));
    free(page);
}

/* PUT body as revision expected + 1, signed by the operator's key. */
static int put(const char *token, int64_t expected, const char *text, const char *query, char *out,
               size_t cap)
{
    char sig[GROUP_SIGNATURE_MAX] = "", headers[1200] = "", path[128];
    assert_int_equal(
        group_revision_sign_ed25519(fx.signer, "central", expected + 1, text, strlen(text), sig),
        0);
    size_t n = 0;
    if (token)
        n += (size_t)snprintf(headers + n, sizeof headers - n, "Authorization: Bearer %s\r\n",
                              token);
    if (expected >= 0)
        n += (size_t)snprintf(headers + n, sizeof headers - n, "If-Match: \"%lld\"\r\n",
                              (long long)expected);
    snprintf(headers + n, sizeof headers - n, "X-Meterd-Signature: %s\r\nX-Meterd-Author: test\r\n",
             sig);
    snprintf(path, sizeof path, "/v1/groups/central/pipeline%s", query ? query : "");
    return px_http(px.port, "PUT", path, headers, text, out, cap);
}

static int64_t current_revision(void)
{
    int status = 0;
    json_t *p = px_get_json(px.port, "/v1/groups/central/pipeline", &status);
    assert_int_equal(status, 200);
    int64_t n = json_integer_value(json_object_get(p, "number"));
    json_decref(p);
    return n;
}

static void test_writes(void **state)
{
    (void)state;
    char out[65536];
    int64_t cur = current_revision();
    /* no token, a wrong one: 401, nothing written */
    assert_int_equal(put(NULL, cur, body, NULL, out, sizeof out), 401);
    assert_int_equal(put("nope", cur, body, NULL, out, sizeof out), 401);
    /* no If-Match: 428 */
    assert_int_equal(put("first-token", -1, body, NULL, out, sizeof out), 428);
    /* a body the agents would refuse: 400 with where */
    assert_int_equal(
        put("first-token", cur, "sources:\n  - name: x\n    interval: [\n", NULL, out, sizeof out),
        400);
    json_t *err = json_loads(out, 0, NULL);
    assert_non_null(err);
    json_t *first = json_array_get(json_object_get(err, "errors"), 0);
    assert_true(json_integer_value(json_object_get(first, "line")) > 0);
    json_decref(err);
    assert_int_equal(current_revision(), cur);
    /* signed by the client, pushed, waited for like push --wait */
    assert_int_equal(put("first-token", cur, body, "?wait=30", out, sizeof out), 200);
    json_t *doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "revision")), cur + 1);
    json_t *w = json_object_get(doc, "wait");
    if (strcmp(str(w, "result", NULL), "applied") != 0) fail_msg("wait: %s", out);
    assert_int_equal(json_integer_value(json_object_get(w, "applied")), 2);
    json_decref(doc);
    /* the same If-Match again: another push won */
    assert_int_equal(put("first-token", cur, body, NULL, out, sizeof out), 412);
    assert_non_null(strstr(out, "another push won"));
    /* the token rotated by replacing its file: the old one stops at once */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.new", token_path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs("second-token\n", f);
    fclose(f);
    assert_int_equal(chmod(tmp, 0600), 0);
    assert_int_equal(rename(tmp, token_path), 0);
    assert_int_equal(put("first-token", -1, body, NULL, out, sizeof out), 401);
    assert_int_equal(put("second-token", -1, body, NULL, out, sizeof out), 428);
    assert_int_equal(current_revision(), cur + 1);

    /* rollback: the kept revision's body, signed again for its new number */
    char path[128];
    snprintf(path, sizeof path, "/v1/groups/central/revisions/%lld", (long long)cur);
    int status = 0;
    json_t *old = px_get_json(px.port, path, &status);
    assert_int_equal(status, 200);
    const char *old_body = str(old, "body", NULL);
    char sig[GROUP_SIGNATURE_MAX], headers[1200];
    assert_int_equal(
        group_revision_sign_ed25519(fx.signer, "central", cur + 2, old_body, strlen(old_body), sig),
        0);
    snprintf(headers, sizeof headers,
             "Authorization: Bearer second-token\r\nIf-Match: \"%lld\"\r\n"
             "X-Meterd-Signature: %s\r\n",
             (long long)(cur + 1), sig);
    snprintf(path, sizeof path, "/v1/groups/central/rollback?revision=%lld", (long long)cur);
    assert_int_equal(px_http(px.port, "POST", path, headers, NULL, out, sizeof out), 200);
    doc = json_loads(out, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(doc, "revision")), cur + 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "rollback_of")), cur);
    json_decref(doc);
    json_decref(old);
    assert_true(cf_wait_converged(&fx, 2, cur + 2, 30000 * th_slack()));
    /* the same again: If-Match is stale now */
    assert_int_equal(px_http(px.port, "POST", path, headers, NULL, out, sizeof out), 412);
    assert_int_equal(px_http(px.port, "POST", "/v1/groups/central/rollback?revision=999", headers,
                             NULL, out, sizeof out),
                     404); /* not kept */
    assert_int_equal(
        px_http(px.port, "GET", "/v1/groups/central/revisions/999", NULL, NULL, out, sizeof out),
        404);
}

/* meterctl ARGS, its exit status and standard output (stderr to the log). */
static int meterctl_run(const char *args, char *out, size_t cap)
{
    char cmd[4096], log[512];
    th_path(log, sizeof log, "meterctl-via.log");
    snprintf(cmd, sizeof cmd, "%s %s 2>>'%s'", MeterctlPath, args, log);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_push_via(void **state)
{
    (void)state;
    char file[512], args[4096], out[65536];
    assert_int_equal(th_write_file("via.yaml", body, file, sizeof file), 0);
    int64_t cur = current_revision();
    /* through the proxy only: no --zk, no ZooKeeper credentials */
    snprintf(args, sizeof args,
             "push '%s' -g central --via http://127.0.0.1:%d --token-file '%s' --sign-key '%s' "
             "--author via-test --wait --timeout 30 -o json",
             file, px.port, token_path, fx.key_path);
    int rc = meterctl_run(args, out, sizeof out);
    if (rc != 0) fail_msg("meterctl push --via exited %d: %s", rc, out);
    json_t *doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "revision")), cur + 1);
    assert_string_equal(str(doc, "author", NULL), "via-test");
    assert_string_equal(str(doc, "wait", "result"), "applied");
    json_decref(doc);
    /* what the members run is what was signed here: both applied it */
    assert_true(cf_wait_converged(&fx, 2, cur + 1, 30000 * th_slack()));
    /* rollback N --via: the kept body, signed here for its new number */
    snprintf(args, sizeof args,
             "rollback %lld -g central --via http://127.0.0.1:%d --token-file '%s' --sign-key '%s' "
             "--wait --timeout 30 -o json",
             (long long)cur, px.port, token_path, fx.key_path);
    rc = meterctl_run(args, out, sizeof out);
    if (rc != 0) fail_msg("meterctl rollback --via exited %d: %s", rc, out);
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "revision")), cur + 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "rollback_of")), cur);
    assert_string_equal(str(doc, "wait", "result"), "applied");
    json_decref(doc);
    cur++; /* what follows expects the push --via as the one before current */
    /* a stale --if-revision: CAS lost, exit 3, nothing written */
    snprintf(args, sizeof args,
             "push '%s' -g central --via http://127.0.0.1:%d --token-file '%s' --sign-key '%s' "
             "--if-revision %lld",
             file, px.port, token_path, fx.key_path, (long long)cur);
    assert_int_equal(meterctl_run(args, out, sizeof out), 3);
    /* another token: refused, exit 1 */
    char bad[512];
    assert_int_equal(th_write_file("bad.token", "nope\n", bad, sizeof bad), 0);
    assert_int_equal(chmod(bad, 0600), 0);
    snprintf(args, sizeof args,
             "push '%s' -g central --via http://127.0.0.1:%d --token-file '%s' --sign-key '%s'",
             file, px.port, bad, fx.key_path);
    assert_int_equal(meterctl_run(args, out, sizeof out), 1);
    assert_int_equal(current_revision(), cur + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_api),
        cmocka_unit_test(test_groups_listed),
        cmocka_unit_test(test_bad_pipeline_shown),
        cmocka_unit_test(test_fanout),
        cmocka_unit_test(test_writes),
        cmocka_unit_test(test_push_via),
    };
    return th_tests_result(cmocka_run_group_tests(tests, setup, teardown));
}
