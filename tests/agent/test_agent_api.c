/*
 * test_agent_api.c: the HTTP API of a running agent: /metrics accepted by
 * the real `promtool check metrics`, /health ok then degraded with the reason
 * when a revision is refused, /v1/status and /v1/targets as JSON, and the
 * limits (GET only, no request bodies, unknown paths 404). The probes'
 * contract: /health 503 while the loop is stuck, degraded with a failing
 * publisher; /ready 200 once standalone polling runs.
 */
#include "agent_fixture.h"
#include "harness/harness.h"
#include "test_pollster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pollster_plugin *const extra[] = {&test_pollster, NULL};

static char resp[1 << 20];

/* Sends a raw request; returns the status code, body pointer into resp. */
static int http(int port, const char *raw, const char **body)
{
    *body = ""; /* callers may read it after a failed request */
    ssize_t n = th_tcp_request("127.0.0.1", port, raw, resp, sizeof resp, 5000, NULL);
    if (n <= 0) return -1;
    int status = 0;
    sscanf(resp, "HTTP/1.%*d %d", &status);
    char *b = strstr(resp, "\r\n\r\n");
    *body = b ? b + 4 : "";
    return status;
}

static int get(int port, const char *path, const char **body)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             path);
    return http(port, req, body);
}

/* `promtool check metrics` over a page; its remarks are printed on failure. */
static int promtool(const char *page, const char *name)
{
    char path[512], cmd[1200];
    th_write_file(name, page, path, sizeof path);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s.out' 2>&1", path, path);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s.out'", path);
        /* best effort: the failure is reported by rc either way (a (void)
         * cast does not silence warn_unused_result under _FORTIFY_SOURCE) */
        if (system(cmd) != 0) print_message("(could not show %s.out)\n", path);
    }
    return rc;
}

static bool polled(void *arg)
{
    (void)arg;
    return tp_done("api-target") >= 1;
}

static bool degraded(void *arg)
{
    const char *body;
    return get(*(int *)arg, "/health", &body) == 200 && strstr(body, "\"degraded\"");
}

static void test_api(void **state)
{
    (void)state;
    tp_reset();
    fixture f;
    fx_start(&f,
             "sources:\n"
             "  - name: host\n    interval: 1\n    meters: ['host.*']\n"
             "  - name: synthetic\n    interval: 1\n    meters: [test.clock.value]\n"
             "    resources: [api-target, 'bmc \"quoted\"\\\\x']\n"
             "sinks:\n  - name: default\n    publishers: ['prometheus://']\n",
             extra, NULL);
    int port = agent_api_port(f.a);
    assert_true(port > 0);
    assert_true(th_wait_until(polled, NULL, 5000));

    const char *body;
    assert_int_equal(get(port, "/health", &body), 200);
    json_t *h = json_loads(body, 0, NULL);
    assert_non_null(h);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "ok");
    json_decref(h);

    /* /metrics through the real promtool */
    assert_int_equal(get(port, "/metrics", &body), 200);
    assert_non_null(strstr(body, "meterd_test_clock_value{"));
    assert_non_null(strstr(body, "meterd_reloads_total{group=\"local\"} 1"));
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        th_skip_peer("promtool (Debian's prometheus package) is not installed");
    assert_int_equal(promtool(body, "metrics.txt"), 0);

    assert_int_equal(get(port, "/v1/status", &body), 200);
    json_t *st = json_loads(body, 0, NULL);
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(st, "mode")), "standalone");
    json_t *g0 = json_array_get(json_object_get(st, "groups"), 0);
    assert_string_equal(json_string_value(json_object_get(g0, "name")), "local");
    json_t *pl = json_object_get(g0, "pipeline");
    assert_int_equal(json_integer_value(json_object_get(pl, "revision")), 1);
    assert_int_equal(strlen(json_string_value(json_object_get(pl, "sha256"))), 64);
    assert_int_equal(json_array_size(json_object_get(g0, "sources")), 2);
    json_decref(st);

    assert_int_equal(get(port, "/v1/targets", &body), 200);
    json_t *tg = json_loads(body, 0, NULL);
    assert_non_null(tg);
    assert_true(json_array_size(tg) >= 3); /* 2 host pollsters + 2 synthetic targets */
    json_decref(tg);

    assert_int_equal(get(port, "/nope", &body), 404);
    assert_int_equal(http(port,
                          "POST /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          "Content-Length: 5\r\n\r\nhello",
                          &body),
                     405);
    /* garbage instead of HTTP: refused, the agent keeps serving */
    http(port, "\x01\x02garbage\r\n\r\n", &body);
    assert_int_equal(get(port, "/health", &body), 200);

    /* a refused revision shows in /health with its file:line:column */
    fx_write_pipeline(&f, "sources:\n  - name: host\n    interval: -5\n    meters: ['host.*']\n");
    assert_true(th_wait_until(degraded, &port, 5000));
    get(port, "/health", &body);
    assert_non_null(strstr(body, "pipeline.yaml:3:"));
    fx_stop(&f);
}

/* Starts an agent polling one synthetic target; returns its API port once polled. */
static int start_synthetic(fixture *f, const char *conf)
{
    fx_start(f,
             "sources:\n  - name: synthetic\n    interval: 1\n    meters: [test.clock.value]\n"
             "    resources: [api-target]\n",
             extra, conf);
    assert_true(th_wait_until(polled, NULL, 5000));
    return agent_api_port(f->a);
}

static void add_odd_group(agent *a, void *arg)
{
    assert_non_null(agent_group_add(a, arg, NULL));
}

/*
 * Issue 10: the group label was written raw into /metrics. A group name with
 * a quote, a backslash and a newline comes out escaped (Prometheus text
 * format) and the page still passes promtool (when installed). /v1/status
 * reports the worker pool.
 */
static void test_group_label_escaped(void **state)
{
    (void)state;
    tp_reset();
    fixture f;
    int port = start_synthetic(&f, "[metrics]\nbackend = prometheus\n");
    fx_on_loop(&f, add_odd_group, "odd\"gr\\oup\nname");
    const char *body;
    assert_int_equal(get(port, "/metrics", &body), 200);
    if (!strstr(body, "meterd_reloads_total{group=\"odd\\\"gr\\\\oup\\nname\"} 0"))
        fail_msg("group label not escaped:\n%s", body);
    /* the worker pool's self-metrics (gauges) */
    assert_non_null(strstr(body, "# TYPE meterd_agent_workers_queued gauge"));
    assert_non_null(strstr(body, "# TYPE meterd_agent_workers_busy gauge"));
    if (system("command -v promtool >/dev/null 2>&1") == 0)
        assert_int_equal(promtool(body, "odd-metrics.txt"), 0);
    assert_int_equal(get(port, "/v1/status", &body), 200);
    json_t *st = json_loads(body, 0, NULL);
    assert_non_null(st);
    json_t *w = json_object_get(st, "workers");
    assert_int_equal(json_integer_value(json_object_get(w, "size")), 4);
    assert_true(json_is_integer(json_object_get(w, "queued")));
    assert_true(json_is_integer(json_object_get(w, "busy")));
    json_decref(st);
    fx_stop(&f);
}

/* A gate a test holds the loop at: the loop thread waits until released. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, released;
} gate;

static void gate_hold(void *arg)
{
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->released)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static bool gate_entered(void *arg)
{
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    bool e = g->entered;
    pthread_mutex_unlock(&g->mu);
    return e;
}

static bool health_503(void *arg)
{
    const char *body;
    return get(*(int *)arg, "/health", &body) == 503;
}

static bool health_200_ok(void *arg)
{
    const char *body;
    return get(*(int *)arg, "/health", &body) == 200 && strstr(body, "\"ok\"");
}

static bool ready_200(void *arg)
{
    const char *body;
    return get(*(int *)arg, "/ready", &body) == 200;
}

/*
 * Issue 13 item 4: /health answered 200 whatever the loop did, so a liveness
 * probe could never fail. A callback that blocks the loop past
 * stall_threshold_ms turns /health (and /ready) into 503 "stalled"; released,
 * /health is 200 ok again. /ready is 200 once a standalone agent polls.
 */
static void test_stalled_loop_fails_health(void **state)
{
    (void)state;
    tp_reset();
    fixture f;
    int port = start_synthetic(&f, "stall_threshold_ms = 300\n");
    assert_true(th_wait_until(ready_200, &port, 10000));
    const char *body;
    assert_int_equal(get(port, "/ready", &body), 200);
    assert_non_null(strstr(body, "\"status\":\"ready\""));
    assert_true(th_wait_until(health_200_ok, &port, 10000));

    gate g = {.entered = false, .released = false};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    assert_int_equal(loop_post(f.a->loop, gate_hold, &g), 0);
    assert_true(th_wait_until(gate_entered, &g, 10000));
    assert_true(th_wait_until(health_503, &port, 30000));
    assert_int_equal(get(port, "/health", &body), 503);
    json_t *h = json_loads(body, 0, NULL);
    assert_non_null(h);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "stalled");
    const char *why = json_string_value(json_array_get(json_object_get(h, "reasons"), 0));
    assert_non_null(why);
    assert_non_null(strstr(why, "event loop stalled"));
    json_decref(h);
    assert_int_equal(get(port, "/ready", &body), 503);
    assert_non_null(strstr(body, "event loop stalled"));

    pthread_mutex_lock(&g.mu);
    g.released = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    assert_true(th_wait_until(health_200_ok, &port, 30000));
    assert_true(th_wait_until(ready_200, &port, 30000));
    fx_stop(&f);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
}

typedef struct failing_probe {
    int port;
    char want[256];
} failing_probe;

static bool publisher_reason(void *arg)
{
    failing_probe *p = arg;
    const char *body;
    return get(p->port, "/health", &body) == 200 && strstr(body, "\"degraded\"") &&
           strstr(body, p->want);
}

/*
 * Issue 13 item 4: a publisher whose every POST fails (http:// to a closed
 * loopback port) left /health "ok". It is now 200 "degraded" with a reason
 * naming the publisher, its query (which may hold a token) left out.
 */
static void test_failing_publisher_degrades_health(void **state)
{
    (void)state;
    tp_reset();
    int closed = th_free_port();
    assert_true(closed > 0);
    char yaml[1024];
    snprintf(
        yaml, sizeof yaml,
        "sources:\n  - name: synthetic\n    interval: 1\n    meters: [test.clock.value]\n"
        "    resources: [api-target]\n"
        "sinks:\n  - name: default\n    publishers: ['http://127.0.0.1:%d/ingest?timeout=3']\n",
        closed);
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    failing_probe p = {.port = agent_api_port(f.a)};
    snprintf(p.want, sizeof p.want,
             "local: publisher http://127.0.0.1:%d/ingest?...: failing: ", closed);
    assert_true(th_wait_until(publisher_reason, &p, 30000));
    const char *body;
    assert_int_equal(get(p.port, "/health", &body), 200);
    assert_null(strstr(body, "timeout=3"));
    /* degraded is not unready: the agent still polls */
    assert_int_equal(get(p.port, "/ready", &body), 200);
    fx_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_api),
                                       cmocka_unit_test(test_group_label_escaped),
                                       cmocka_unit_test(test_stalled_loop_fails_health),
                                       cmocka_unit_test(test_failing_publisher_degrades_health)};
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
