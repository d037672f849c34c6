/*
 * test_pollster_http.c: the http.probe pollster in a real agent against
 * real endpoints on loopback: a Python HTTP and HTTPS server (certificate
 * made here with openssl, so its expiry is known to the second), a server
 * that accepts and never answers, and a port that never even accepts. The
 * agent publishes to a file:// sink; the figures are read back from there.
 *
 * A peer that cannot run (no python3, no openssl) skips the test.
 */
#include "agent_fixture.h"
#include "harness/harness.h"
#include "publisher_testutil.h"
#include "test_pollster.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static const pollster_plugin *const extra[] = {&test_pollster, NULL};

static struct {
    th_proc server;
    int http_port, https_port;
    char cert[512], key[512];
    int64_t not_after; /* the certificate's, from openssl x509 -enddate */
    bool ready;
} env;

/* ---- reading the file sink ---- */

typedef struct seen {
    char resource[160], name[64];
    double value;
    size_t count;
} seen;

typedef struct sink_view {
    seen *v;
    size_t n, cap;
} sink_view;

static void view_free(sink_view *s)
{
    free(s->v);
    *s = (sink_view){0};
}

/* Latest value per (resource, meter) from the file. */
static void view_read(const char *path, sink_view *s)
{
    s->n = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    char line[4096];
    while (fgets(line, sizeof line, fp)) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue; /* a line being written */
        const char *r = json_string_value(json_object_get(j, "resource"));
        const char *m = json_string_value(json_object_get(j, "name"));
        double v = json_number_value(json_object_get(j, "value"));
        seen *hit = NULL;
        for (size_t i = 0; r && m && i < s->n && !hit; i++)
            if (!strcmp(s->v[i].resource, r) && !strcmp(s->v[i].name, m)) hit = &s->v[i];
        if (!hit && r && m) {
            if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 256;
                s->v = realloc(s->v, s->cap * sizeof *s->v);
                assert_non_null(s->v);
            }
            hit = &s->v[s->n++];
            *hit = (seen){0};
            snprintf(hit->resource, sizeof hit->resource, "%s", r);
            snprintf(hit->name, sizeof hit->name, "%s", m);
        }
        if (hit) {
            hit->value = v;
            hit->count++;
        }
        json_decref(j);
    }
    fclose(fp);
}

static const seen *find(const sink_view *s, const char *resource, const char *meter)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].resource, resource) && !strcmp(s->v[i].name, meter)) return &s->v[i];
    return NULL;
}

static double value_of(const sink_view *s, const char *resource, const char *meter)
{
    const seen *x = find(s, resource, meter);
    if (!x) fail_msg("no %s for %s", meter, resource);
    return x->value;
}

typedef struct wait_all {
    const char *path;
    const char *const *resources;
    size_t n;
    const char *meter;
} wait_all;

static bool all_reported(void *arg)
{
    wait_all *w = arg;
    sink_view s = {0};
    view_read(w->path, &s);
    size_t found = 0;
    for (size_t i = 0; i < w->n; i++)
        found += find(&s, w->resources[i], w->meter) != NULL;
    view_free(&s);
    return found == w->n;
}

/* ---- peers ---- */

static int64_t cert_not_after(const char *cert)
{
    char cmd[1200], out[256] = "";
    snprintf(cmd, sizeof cmd, "openssl x509 -enddate -noout -in '%s'", cert);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    if (!fgets(out, sizeof out, p)) out[0] = 0;
    pclose(p);
    struct tm tm = {0};
    const char *eq = strchr(out, '=');
    if (!eq || !strptime(eq + 1, "%b %d %H:%M:%S %Y", &tm)) return -1;
    return (int64_t)timegm(&tm);
}

static int group_setup(void **state)
{
    (void)state;
    if (system("command -v python3 >/dev/null && command -v openssl >/dev/null") != 0) {
        th_note_peer_missing("python3 or openssl not installed");
        return 0;
    }
    th_path(env.cert, sizeof env.cert, "cert.pem");
    th_path(env.key, sizeof env.key, "key.pem");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 30 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             env.key, env.cert);
    if (system(cmd) != 0 || (env.not_after = cert_not_after(env.cert)) <= 0) {
        th_note_peer_missing("openssl cannot make a self-signed certificate");
        return 0;
    }
    env.http_port = th_free_port();
    env.https_port = th_free_port();
    char hp[16], sp[16], log[512];
    snprintf(hp, sizeof hp, "%d", env.http_port);
    snprintf(sp, sizeof sp, "%d", env.https_port);
    th_path(log, sizeof log, "server.log");
    char *argv[] = {
        "python3", MeterdTestData "/agent/http_probe_server.py", hp, sp, env.cert, env.key, NULL};
    if (th_spawn(&env.server, "http-server", argv, NULL, log) != 0 ||
        !th_wait_tcp("127.0.0.1", env.http_port, 20000) ||
        !th_wait_tcp("127.0.0.1", env.https_port, 20000)) {
        th_note_peer_missing("the python3 test server did not start");
        return 0;
    }
    env.ready = true;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_stop_all();
    return 0;
}

#define SKIP_WITHOUT_PEERS()                                                                       \
    do {                                                                                           \
        if (!env.ready) skip();                                                                    \
    } while (0)

/* ---- probes ---- */

/* Sources written "interval: 1," poll every 2 s, longer where the build is
 * slow: a probe's timeout never exceeds its interval, and under valgrind a
 * TLS handshake alone takes seconds. */
static void set_interval(char *yaml, size_t cap)
{
    char want[32];
    int n = snprintf(want, sizeof want, "interval: %d,", 2 * th_slack());
    for (char *p = strstr(yaml, "interval: 1,"); p; p = strstr(p + n, "interval: 1,")) {
        size_t len = strlen(p), old = strlen("interval: 1,");
        assert_true(strlen(yaml) + (size_t)n - old < cap);
        memmove(p + n, p + old, len - old + 1);
        memcpy(p, want, (size_t)n);
    }
}

static void url(char *out, size_t cap, bool tls, const char *path)
{
    snprintf(out, cap, "%s://127.0.0.1:%d%s", tls ? "https" : "http",
             tls ? env.https_port : env.http_port, path);
}

static void test_probe_figures(void **state)
{
    (void)state;
    SKIP_WITHOUT_PEERS();
    tu_http hold; /* accepts, reads the request, never answers */
    assert_int_equal(tu_http_start(&hold, 0), 0);
    char out[512], yaml[8192];
    th_path(out, sizeof out, "figures.jsonl");
    enum {
        OK,
        NOTFOUND,
        REDIR,
        NOREDIR,
        LOOP,
        TLS,
        TLS_UNTRUSTED,
        MUST,
        MUST_NOT,
        HEAD,
        HANG,
        SLOW,
        N
    };
    char r[N][160];
    url(r[OK], sizeof r[OK], false, "/ok");
    url(r[NOTFOUND], sizeof r[NOTFOUND], false, "/status/404");
    url(r[REDIR], sizeof r[REDIR], false, "/redirect");
    url(r[NOREDIR], sizeof r[NOREDIR], false, "/redirect?no");
    url(r[LOOP], sizeof r[LOOP], false, "/loop");
    url(r[TLS], sizeof r[TLS], true, "/ok");
    url(r[TLS_UNTRUSTED], sizeof r[TLS_UNTRUSTED], true, "/ok?untrusted");
    url(r[MUST], sizeof r[MUST], false, "/ok?must");
    url(r[MUST_NOT], sizeof r[MUST_NOT], false, "/ok?must_not");
    url(r[HEAD], sizeof r[HEAD], false, "/ok?head");
    snprintf(r[HANG], sizeof r[HANG], "http://127.0.0.1:%d/", hold.port);
    url(r[SLOW], sizeof r[SLOW], false, "/slow");
    snprintf(yaml, sizeof yaml,
             "sources:\n"
             "  - {name: plain, interval: 1, meters: ['http.*'], resources: ['%s', '%s', '%s', "
             "'%s', '%s']}\n"
             "  - {name: noredir, interval: 1, meters: ['http.*'], resources: ['%s'],\n"
             "     parameters: {follow_redirects: 0, valid_status_codes: [302]}}\n"
             "  - {name: tls, interval: 1, meters: ['http.*'], resources: ['%s'],\n"
             "     parameters: {ca_file: '%s'}}\n"
             "  - {name: untrusted, interval: 1, meters: ['http.*'], resources: ['%s']}\n"
             "  - {name: must, interval: 1, meters: ['http.*'], resources: ['%s'],\n"
             "     parameters: {body_must_match: 'hel+o'}}\n"
             "  - {name: mustnot, interval: 1, meters: ['http.*'], resources: ['%s'],\n"
             "     parameters: {body_must_not_match: 'world$', headers: {X-Probe: yes}}}\n"
             "  - {name: head, interval: 1, meters: ['http.*'], resources: ['%s'],\n"
             "     parameters: {method: HEAD}}\n"
             "  - {name: hang, interval: 2, meters: ['http.*'], resources: ['%s'],\n"
             "     parameters: {timeout: 300ms}}\n"
             "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             r[OK], r[NOTFOUND], r[REDIR], r[LOOP], r[SLOW], r[NOREDIR], r[TLS], env.cert,
             r[TLS_UNTRUSTED], r[MUST], r[MUST_NOT], r[HEAD], r[HANG], out);
    set_interval(yaml, sizeof yaml);
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    const char *all[N];
    for (int i = 0; i < N; i++)
        all[i] = r[i];
    wait_all w = {out, all, N, "http.up"};
    assert_true(th_wait_until(all_reported, &w, 30000 * th_slack()));
    fx_stop(&f);
    tu_http_stop(&hold);

    sink_view s = {0};
    view_read(out, &s);
    assert_int_equal(value_of(&s, r[OK], "http.up"), 1);
    assert_int_equal(value_of(&s, r[OK], "http.status_code"), 200);
    assert_int_equal(value_of(&s, r[OK], "http.content_length"), 11);
    assert_true(value_of(&s, r[OK], "http.duration") > 0);
    assert_true(value_of(&s, r[OK], "http.duration.connect") >= 0);
    assert_int_equal(value_of(&s, r[OK], "http.duration.tls"), 0);
    assert_null(find(&s, r[OK], "http.tls.not_after")); /* plain http has no certificate */

    assert_int_equal(value_of(&s, r[NOTFOUND], "http.up"), 0);
    assert_int_equal(value_of(&s, r[NOTFOUND], "http.status_code"), 404);

    /* followed: the last response counts; not followed, a 302 that is expected is up */
    assert_int_equal(value_of(&s, r[REDIR], "http.up"), 1);
    assert_int_equal(value_of(&s, r[REDIR], "http.status_code"), 200);
    assert_int_equal(value_of(&s, r[NOREDIR], "http.up"), 1);
    assert_int_equal(value_of(&s, r[NOREDIR], "http.status_code"), 302);
    assert_int_equal(value_of(&s, r[LOOP], "http.up"), 0); /* too many redirects */

    assert_int_equal(value_of(&s, r[TLS], "http.up"), 1);
    assert_int_equal(value_of(&s, r[TLS], "http.tls.not_after"), env.not_after);
    double days = value_of(&s, r[TLS], "http.tls.days_left");
    assert_true(days > 29.9 && days <= 30.0);
    assert_true(value_of(&s, r[TLS], "http.duration.tls") > 0);
    assert_int_equal(value_of(&s, r[TLS_UNTRUSTED], "http.up"), 0); /* self-signed, no ca_file */

    assert_int_equal(value_of(&s, r[MUST], "http.up"), 1);
    assert_int_equal(value_of(&s, r[MUST_NOT], "http.up"), 0);
    assert_int_equal(value_of(&s, r[MUST_NOT], "http.status_code"), 200);

    assert_int_equal(value_of(&s, r[HEAD], "http.up"), 1);
    assert_int_equal(value_of(&s, r[HEAD], "http.content_length"), 11);

    assert_int_equal(value_of(&s, r[HANG], "http.up"), 0);
    assert_int_equal(value_of(&s, r[HANG], "http.status_code"), 0);
    assert_true(atomic_load(&hold.requests) >= 1); /* it did get the request */

    assert_true(value_of(&s, r[SLOW], "http.duration.first_byte") >= 0.25);
    assert_true(value_of(&s, r[SLOW], "http.duration") >= 0.25);
    view_free(&s);
}

static bool hold_has_request(void *arg)
{
    return atomic_load(&((tu_http *)arg)->requests) >= 1;
}

/* Stopping the agent ends the probes in flight; they used to publish
 * http.up 0 (status 0) for targets nobody had found down, the last word on
 * them before every restart. A cancelled probe publishes nothing. */
static void test_stop_publishes_no_false_down(void **state)
{
    (void)state;
    SKIP_WITHOUT_PEERS();
    tu_http hold;
    assert_int_equal(tu_http_start(&hold, 0), 0);
    char out[512], yaml[1024], target[64];
    th_path(out, sizeof out, "stopped.jsonl");
    snprintf(target, sizeof target, "http://127.0.0.1:%d/", hold.port);
    snprintf(yaml, sizeof yaml,
             "sources:\n  - {name: s, interval: 1, meters: ['http.*'], resources: ['%s'],\n"
             "     parameters: {timeout: 50s}}\n"
             "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             target, out);
    set_interval(yaml, sizeof yaml); /* the probe lasts the interval: stop well within it */
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    /* the probe is in flight: the server holds its request */
    assert_true(th_wait_until(hold_has_request, &hold, 90000 * th_slack()));
    fx_stop(&f);
    tu_http_stop(&hold);
    sink_view s = {0};
    view_read(out, &s);
    assert_null(find(&s, target, "http.up"));
    assert_null(find(&s, target, "http.status_code"));
    view_free(&s);
}

typedef struct two_servers {
    tu_http *a, *b;
    int n;
} two_servers;

static bool both_requested(void *arg)
{
    two_servers *t = arg;
    return atomic_load(&t->a->requests) >= t->n && atomic_load(&t->b->requests) >= t->n;
}

/* A new connection per probe unless reuse_connections (blackbox_exporter's
 * default too); headers go out as given; ip_protocol picks the family. */
static void test_reuse_headers_and_family(void **state)
{
    (void)state;
    SKIP_WITHOUT_PEERS();
    tu_http fresh, reused;
    assert_int_equal(tu_http_start(&fresh, 200), 0);
    assert_int_equal(tu_http_start(&reused, 200), 0);
    char out[512], yaml[2048];
    th_path(out, sizeof out, "reuse.jsonl");
    char v4[160], v6[160];
    snprintf(v4, sizeof v4, "http://localhost:%d/ok?v4", env.http_port);
    snprintf(v6, sizeof v6, "http://localhost:%d/ok?v6", env.http_port);
    snprintf(
        yaml, sizeof yaml,
        "sources:\n"
        "  - {name: fresh, interval: 1, meters: ['http.up'],\n"
        "     resources: ['http://127.0.0.1:%d/a'], parameters: {headers: {X-Probe: meterd}}}\n"
        "  - {name: reused, interval: 1, meters: ['http.up'],\n"
        "     resources: ['http://127.0.0.1:%d/b'], parameters: {reuse_connections: true}}\n"
        "  - {name: v4, interval: 1, meters: ['http.up'], resources: ['%s'],\n"
        "     parameters: {ip_protocol: ip4}}\n"
        "  - {name: v6, interval: 1, meters: ['http.up'], resources: ['%s'],\n"
        "     parameters: {ip_protocol: ip6}}\n"
        "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
        fresh.port, reused.port, v4, v6, out);
    set_interval(yaml, sizeof yaml);
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    two_servers t = {&fresh, &reused, 2};
    assert_true(th_wait_until(both_requested, &t, 60000 * th_slack()));
    const char *fam[] = {v4, v6};
    wait_all w = {out, fam, 2, "http.up"};
    assert_true(th_wait_until(all_reported, &w, 30000 * th_slack()));
    fx_stop(&f);
    int fresh_req = atomic_load(&fresh.requests), fresh_conn = atomic_load(&fresh.connections);
    int reused_req = atomic_load(&reused.requests), reused_conn = atomic_load(&reused.connections);
    pthread_mutex_lock(&fresh.mu);
    bool header = strstr(fresh.last_head, "\r\nX-Probe: meterd\r\n") != NULL;
    pthread_mutex_unlock(&fresh.mu);
    tu_http_stop(&fresh);
    tu_http_stop(&reused);
    assert_int_equal(fresh_conn, fresh_req);
    assert_true(reused_req >= 2);
    assert_int_equal(reused_conn, 1);
    assert_true(header);
    /* the server listens on 127.0.0.1 only: over IPv6 "localhost" finds no one */
    sink_view s = {0};
    view_read(out, &s);
    assert_int_equal(value_of(&s, v4, "http.up"), 1);
    assert_int_equal(value_of(&s, v6, "http.up"), 0);
    view_free(&s);
}

/* A port that never accepts: the kernel completes handshakes into a backlog
 * nobody drains, so every request is sent and never answered. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

typedef struct cadence {
    fixture *f;
    const char *src;
} cadence;

static void read_skipped(agent *a, void *arg)
{
    (void)a;
    uint64_t *out = arg;
    *out = 0;
    src_rt *s = group_find_source(a->groups[0], "clock");
    for (size_t i = 0; s && i < s->n_tasks; i++)
        *out += s->tasks[i]->stats.skipped;
}

static void test_thousand_silent_probes_keep_others_on_time(void **state)
{
    (void)state;
    SKIP_WITHOUT_PEERS();
    enum { PROBES = 1000 };
    int port = 0;
    int lfd = silent_listener(&port);
    assert_true(lfd >= 0);
    char out[512];
    th_path(out, sizeof out, "silent.jsonl");
    size_t cap = (size_t)PROBES * 64 + 2048;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    size_t len = (size_t)snprintf(
        yaml, cap,
        "sources:\n"
        "  - name: clock\n    interval: 1\n    meters: [test.clock.value]\n"
        "    resources: [tick]\n"
        "  - name: many\n    interval: 4\n    meters: [http.up, http.status_code]\n"
        "    parameters: {timeout: 2s}\n    resources:\n");
    static char names[PROBES][48];
    const char *all[PROBES];
    for (int i = 0; i < PROBES; i++) {
        snprintf(names[i], sizeof names[i], "http://127.0.0.1:%d/p%d", port, i);
        all[i] = names[i];
        len += (size_t)snprintf(yaml + len, cap - len, "      - '%s'\n", names[i]);
    }
    snprintf(yaml + len, cap - len, "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             out);
    tp_reset();
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    free(yaml);
    /* every probe ends (by its 2 s timeout) and reports down */
    wait_all w = {out, all, PROBES, "http.up"};
    int64_t t0 = fx_wall_ms();
    size_t ticks0 = tp_done("tick");
    assert_true(th_wait_until(all_reported, &w, 30000 * th_slack()));
    int64_t t1 = fx_wall_ms();
    size_t ticks1 = tp_done("tick");
    uint64_t skipped = 0;
    fx_on_loop(&f, read_skipped, &skipped);
    fx_stop(&f);
    close(lfd);

    sink_view s = {0};
    view_read(out, &s);
    for (int i = 0; i < PROBES; i++) {
        assert_int_equal(value_of(&s, names[i], "http.up"), 0);
        assert_int_equal(value_of(&s, names[i], "http.status_code"), 0);
    }
    view_free(&s);
    /* the 1 s source kept its cadence while 1,000 probes waited: none of its
     * instants skipped, about one poll per second elapsed */
    assert_int_equal(skipped, 0);
    int64_t secs = (t1 - t0) / 1000;
    assert_true(ticks1 - ticks0 + 1 >= (size_t)(secs > 1 ? secs - 1 : 0));
}

/* ---- side by side with Prometheus' blackbox_exporter ---- */

#define BLACKBOX "/usr/bin/prometheus-blackbox-exporter"

/* One figure of blackbox's /probe page ("name value" line), or NAN. */
static double bb_metric(const char *page, const char *name)
{
    size_t len = strlen(name);
    for (const char *l = page; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, name, len) && l[len] == ' ') return strtod(l + len + 1, NULL);
    }
    return NAN;
}

static void bb_probe(int port, const char *module, const char *target, char *page, size_t cap)
{
    char req[1024];
    snprintf(req, sizeof req, "GET /probe?module=%s&target=%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
             module, target);
    page[0] = 0;
    assert_true(th_tcp_request("127.0.0.1", port, req, page, cap, 20000 * th_slack(), NULL) > 0);
}

static void test_same_figures_as_blackbox_exporter(void **state)
{
    (void)state;
    SKIP_WITHOUT_PEERS();
    if (access(BLACKBOX, X_OK) != 0)
        th_skip_peer("prometheus-blackbox-exporter not installed (deploy/deps.sh TEST_PKGS)");
    char cfg[512], text[2048], log[512], listen[64], cfg_arg[600];
    snprintf(text, sizeof text,
             "modules:\n"
             "  get:\n    prober: http\n    timeout: 5s\n"
             "    http: {method: GET, tls_config: {ca_file: '%s'}}\n"
             "  head:\n    prober: http\n    timeout: 5s\n    http: {method: HEAD}\n",
             env.cert);
    assert_int_equal(th_write_file("blackbox.yml", text, cfg, sizeof cfg), 0);
    int port = th_free_port();
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", port);
    snprintf(cfg_arg, sizeof cfg_arg, "--config.file=%s", cfg);
    th_path(log, sizeof log, "blackbox.log");
    char *argv[] = {BLACKBOX, cfg_arg, listen, NULL};
    th_proc bb;
    if (th_spawn(&bb, "blackbox", argv, NULL, log) != 0 || !th_wait_tcp("127.0.0.1", port, 20000))
        th_skip_peer("prometheus-blackbox-exporter did not start");

    enum { OK, NOTFOUND, REDIR, TLS, HEAD, N };
    char r[N][160];
    url(r[OK], sizeof r[OK], false, "/ok");
    url(r[NOTFOUND], sizeof r[NOTFOUND], false, "/status/404");
    url(r[REDIR], sizeof r[REDIR], false, "/redirect");
    url(r[TLS], sizeof r[TLS], true, "/ok");
    url(r[HEAD], sizeof r[HEAD], false, "/ok?head");
    char out[512], yaml[4096];
    th_path(out, sizeof out, "side-by-side.jsonl");
    snprintf(yaml, sizeof yaml,
             "sources:\n"
             "  - {name: get, interval: 1, meters: ['http.*'], resources: ['%s', '%s', '%s', "
             "'%s'],\n     parameters: {ca_file: '%s'}}\n"
             "  - {name: head, interval: 1, meters: ['http.*'], resources: ['%s'],\n"
             "     parameters: {method: HEAD}}\n"
             "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             r[OK], r[NOTFOUND], r[REDIR], r[TLS], env.cert, r[HEAD], out);
    set_interval(yaml, sizeof yaml);
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    const char *all[N];
    for (int i = 0; i < N; i++)
        all[i] = r[i];
    wait_all w = {out, all, N, "http.up"};
    assert_true(th_wait_until(all_reported, &w, 30000 * th_slack()));
    fx_stop(&f);
    sink_view s = {0};
    view_read(out, &s);
    static char page[65536];
    for (int i = 0; i < N; i++) {
        bb_probe(port, i == HEAD ? "head" : "get", r[i], page, sizeof page);
        double up = bb_metric(page, "probe_success");
        if (isnan(up))
            fail_msg("blackbox_exporter /probe for %s: no probe_success:\n%s", r[i], page);
        assert_int_equal(value_of(&s, r[i], "http.up"), up);
        assert_int_equal(value_of(&s, r[i], "http.status_code"),
                         bb_metric(page, "probe_http_status_code"));
        assert_int_equal(value_of(&s, r[i], "http.content_length"),
                         bb_metric(page, "probe_http_content_length"));
        if (i == TLS)
            assert_int_equal(value_of(&s, r[i], "http.tls.not_after"),
                             bb_metric(page, "probe_ssl_earliest_cert_expiry"));
        /* durations: sanity only (two probes, two moments) */
        double ours = value_of(&s, r[i], "http.duration"),
               theirs = bb_metric(page, "probe_duration_seconds");
        assert_true(ours > 0 && ours < 5 && theirs > 0 && theirs < 5);
    }
    view_free(&s);
    th_stop(&bb, SIGTERM, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_figures),
        cmocka_unit_test(test_stop_publishes_no_false_down),
        cmocka_unit_test(test_reuse_headers_and_family),
        cmocka_unit_test(test_thousand_silent_probes_keep_others_on_time),
        cmocka_unit_test(test_same_figures_as_blackbox_exporter),
    };
    return th_tests_result(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
