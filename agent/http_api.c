/*
 * http_api.c: the agent's HTTP API on meterd's HTTP server (httpd/).
 *
 *   GET /health      liveness: 503 "stalled" when the event loop is stuck in one
 *                    iteration past [api] stall_threshold_ms; else 200 ok |
 *                    degraded with reasons (a refused revision, a failing or
 *                    dropping publisher, a lost ZooKeeper session)
 *   GET /ready       readiness: 200 once the loop runs and every group has a
 *                    pipeline (cluster: joined, synced, a table in force),
 *                    else 503 with reasons
 *   GET /metrics     Prometheus text: the prometheus:// publishers' samples
 *                    plus the agent's own counters
 *   GET /v1/status   revision, sha256, sources, publishers, errors (JSON)
 *   GET /v1/targets  every (source, pollster, target) task and its last poll;
 *                    ?target=T only T's tasks (target ids are URLs, hence a
 *                    query parameter: meterproxy routes such a query here)
 *
 * Read-only and loopback by default. Off loopback, [api] token_file is
 * required and every request must carry "Authorization: Bearer <token>"
 * (401 otherwise): the API names targets, destinations and errors, and
 * meterproxy reaches it over the network. [api] tls_cert_file/tls_key_file
 * serve HTTPS; tls_client_ca_file requires a client certificate that CA
 * signed on every connection (the server answers 403 before routing), which
 * stands in for the token off loopback. Requests carry no body: the
 * server refuses one over API_MAX_BODY at its head (413), so a client
 * cannot make the agent buffer anything; the server also caps connections,
 * the time a head may take, idle keep-alive time and the head's size
 * ([api] options, docs/man/meterd.conf.5). Handlers run on the server's
 * threads and only take the agent's status locks for the time it takes to
 * copy counters into text.
 */
#include "agent/core.h"
#include "group/group.h"
#include "httpd/httpd.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A GET has no body; this much is read and dropped so that a client that
 * sends a small one still gets its 405, not a 413. */
#define API_MAX_BODY 1024

typedef struct http_state {
    httpd *server;
    agent *a;
    unsigned char *token; /* [api] token_file (group_secret_read), NULL: none */
    size_t token_len;
} http_state;

static void reply(httpd_req *r, int status, const char *ctype, strbuf *body)
{
    if (body->failed) {
        httpd_respond(r, 500, "application/json", "{\"error\":\"out of memory\"}\n", 26);
        return;
    }
    httpd_add_header(r, "Cache-Control", "no-store");
    httpd_respond(r, status, ctype, body->buf ? body->buf : "", body->len);
}

/* With a token, the request must carry it (constant-time comparison). */
static bool authorized(const http_state *hs, httpd_req *r)
{
    if (!hs->token) return true;
    const char *h = httpd_header(r, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    if (strlen(h) != hs->token_len) return false;
    unsigned char diff = 0; /* every byte compared: the time tells nothing */
    for (size_t i = 0; i < hs->token_len; i++)
        diff |= (unsigned char)h[i] ^ hs->token[i];
    return diff == 0;
}

static bool loopback(const char *host)
{
    struct in_addr v4;
    if (!strcmp(host, "localhost") || !strcmp(host, "::1")) return true;
    return inet_pton(AF_INET, host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

/* Off loopback the API needs a token; reads it into hs. 0, or -1 with err. */
static int load_token(agent *a, http_state *hs, char *err, size_t errlen)
{
    const char *file = a->cfg.path[0] ? a->cfg.path : "config";
    if (a->cfg.api_token_file[0]) {
        char msg[600];
        if (group_secret_read(a->cfg.api_token_file, &hs->token, &hs->token_len, msg, sizeof msg) !=
            0) {
            snprintf(err, errlen, "%s: [api] token_file: %s", file, msg);
            return -1;
        }
        return 0;
    }
    /* mTLS authenticates every client before any route: it stands in for
     * the token */
    if (loopback(a->cfg.api_host) || a->cfg.api_tls_client_ca_file[0]) return 0;
    snprintf(err, errlen,
             "%s: [api] host %s is reachable from other hosts: set [api] token_file to a mode-0600 "
             "file holding a bearer token (openssl rand -hex 32 > FILE; chmod 600 FILE), or "
             "tls_client_ca_file (with tls_cert_file, tls_key_file) to require client "
             "certificates, or keep host = 127.0.0.1 (docs/SECURITY.md)",
             file, a->cfg.api_host);
    return -1;
}

/* Appends the reasons the agent is degraded as JSON strings; returns count. */
static int health_reasons(agent *a, strbuf *out)
{
    int n = 0;
    pthread_mutex_lock(&a->mu);
    pthread_mutex_lock(&a->stats_mu);
    for (size_t gi = 0; gi < a->n_groups; gi++) {
        agent_group *g = a->groups[gi];
        if (g->pipeline_error[0]) {
            char msg[2200];
            snprintf(msg, sizeof msg, "%s: pipeline refused: %s", g->name, g->pipeline_error);
            strbuf_puts(out, n++ ? "," : "");
            strbuf_put_json_string(out, msg);
        }
        /* sources whose every task failed its last poll */
        for (size_t i = 0; i < g->n_sources; i++) {
            src_rt *s = g->sources[i];
            size_t polled = 0, failing = 0;
            const char *last = NULL;
            for (size_t k = 0; k < s->n_tasks; k++) {
                if (!s->tasks[k]->stats.polls) continue;
                polled++;
                if (s->tasks[k]->stats.last_error[0]) {
                    failing++;
                    last = s->tasks[k]->stats.last_error;
                }
            }
            if (polled && failing == polled) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s: source %s: every poll failing: %s", g->name, s->name,
                         last);
                strbuf_puts(out, n++ ? "," : "");
                strbuf_put_json_string(out, msg);
            }
        }
    }
    size_t n_groups = a->n_groups;
    agent_group *groups[AGENT_MAX_GROUPS];
    memcpy(groups, a->groups, n_groups * sizeof groups[0]);
    pthread_mutex_unlock(&a->stats_mu);
    pthread_mutex_unlock(&a->mu);
    for (size_t gi = 0; gi < n_groups; gi++)
        n = sinks_health(groups[gi], out, n);
    return cluster_health(a, out, n);
}

/* Appends the loop's stall as a reason when there is one; returns the count. */
static int stall_reason(agent *a, strbuf *out, int n)
{
    int64_t busy = loop_busy_ms(a->loop);
    if (busy < a->cfg.stall_threshold_ms) return n;
    char msg[160];
    snprintf(msg, sizeof msg,
             "event loop stalled: one iteration running for %" PRId64 " ms (threshold %d ms)", busy,
             a->cfg.stall_threshold_ms);
    strbuf_puts(out, n++ ? "," : "");
    strbuf_put_json_string(out, msg);
    return n;
}

static void reply_status(agent *a, httpd_req *r, bool brief, int code, const char *status,
                         strbuf *reasons)
{
    strbuf body;
    strbuf_init(&body);
    /* running open on purpose is a field, not a failure (docs/SECURITY.md) */
    if (!brief)
        strbuf_printf(&body, "{\"status\":\"%s\",%s\"reasons\":[%s]}\n", status,
                      cluster_insecure(a) ? "\"insecure\":true," : "",
                      reasons->buf ? reasons->buf : "");
    else
        strbuf_printf(&body, "{\"status\":\"%s\"}\n", status);
    reply(r, code, "application/json", &body);
    strbuf_free(&body);
}

/*
 * Liveness. The stall is checked first and without the agent's locks: a
 * callback stuck while holding one must still get its 503, not a timeout.
 */
static void h_health(agent *a, httpd_req *r, bool brief)
{
    strbuf reasons;
    strbuf_init(&reasons);
    if (stall_reason(a, &reasons, 0)) {
        reply_status(a, r, brief, 503, "stalled", &reasons);
    } else {
        int n = health_reasons(a, &reasons);
        reply_status(a, r, brief, 200, n ? "degraded" : "ok", &reasons);
    }
    strbuf_free(&reasons);
}

/* Readiness: whether this agent does its share of the polling now (also
 * what READY=1 to systemd waits for, notify.c). */
int agent_ready_reasons(agent *a, strbuf *reasons)
{
    int n = stall_reason(a, reasons, 0);
    if (!loop_running(a->loop)) {
        strbuf_puts(reasons, n++ ? "," : "");
        strbuf_put_json_string(reasons, "event loop not running (starting or stopping)");
    }
    if (n) {
        /* a stalled or stopped loop says all there is to say */
    } else if (cluster_enabled(a)) {
        n = cluster_ready(a, reasons, n);
    } else {
        pthread_mutex_lock(&a->mu);
        for (size_t i = 0; i < a->n_groups; i++) {
            if (a->groups[i]->pipe) continue;
            char msg[128];
            snprintf(msg, sizeof msg, "%s: no pipeline loaded yet", a->groups[i]->name);
            strbuf_puts(reasons, n++ ? "," : "");
            strbuf_put_json_string(reasons, msg);
        }
        pthread_mutex_unlock(&a->mu);
    }
    return n;
}

static void h_ready(agent *a, httpd_req *r, bool brief)
{
    strbuf reasons;
    strbuf_init(&reasons);
    int n = agent_ready_reasons(a, &reasons);
    reply_status(a, r, brief, n ? 503 : 200, n ? "not_ready" : "ready", &reasons);
    strbuf_free(&reasons);
}

static void h_metrics(agent *a, httpd_req *r, bool brief)
{
    (void)brief;
    strbuf body;
    strbuf_init(&body);
    httpd_stats api;
    httpd_get_stats(((http_state *)a->http)->server, &api);
    metrics_page_render(a, &api, &body);
    reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", &body);
    strbuf_free(&body);
}

static void group_status_json(agent_group *g, strbuf *b)
{
    agent *a = g->a;
    strbuf_puts(b, "{\"name\":");
    strbuf_put_json_string(b, g->name);
    strbuf_puts(b, ",\"namespace\":");
    strbuf_put_json_string(b, g->ns);
    pthread_mutex_lock(&a->mu);
    strbuf_puts(b, ",\"pipeline\":{\"file\":");
    strbuf_put_json_string(b, g->cluster            ? ""
                              : g->pipeline_path[0] ? g->pipeline_path
                                                    : "<embedded default>");
    strbuf_printf(b,
                  ",\"revision\":%" PRIu64 ",\"revision_sha256\":\"%s\",\"sha256\":\"%s\","
                  "\"applied_ms\":%" PRId64 ",\"reloads\":%" PRIu64 ",\"reload_failures\":%" PRIu64
                  ",\"last_apply_us\":%" PRId64 ",\"error\":",
                  g->revision, g->revision_sha, g->pipe ? g->pipe->sha256_hex : "", g->applied_ms,
                  g->reloads, g->reload_failures, g->last_apply_us);
    strbuf_put_json_string(b, g->pipeline_error);
    strbuf_printf(b, ",\"error_ms\":%" PRId64 "}", g->pipeline_error_ms);
    pthread_mutex_unlock(&a->mu);
    if (g->cluster) {
        strbuf_puts(b, ",\"cluster\":");
        cluster_status_json(g, b);
    }
    strbuf_puts(b, ",\"sources\":");
    scheduler_status_json(g, b);
    strbuf_puts(b, ",\"output\":");
    sinks_status_json(g, b);
    strbuf_putc(b, '}');
}

static void h_status(agent *a, httpd_req *r, bool brief)
{
    (void)brief;
    strbuf b;
    strbuf_init(&b);
    strbuf_printf(&b, "{\"version\":\"%s\",\"host\":", agent_version());
    strbuf_put_json_string(&b, a->cfg.host);
    strbuf_puts(&b, ",\"namespaces\":");
    strbuf_put_json_string(&b, a->cfg.namespaces);
    strbuf_printf(&b,
                  ",\"mode\":\"%s\",\"workers\":{\"size\":%zu,\"queued\":%zu,\"busy\":%zu},"
                  "\"groups\":[",
                  cluster_enabled(a) ? "cluster" : "standalone", workers_size(a->workers),
                  workers_queued(a->workers), workers_busy(a->workers));
    pthread_mutex_lock(&a->mu);
    size_t n = a->n_groups;
    agent_group *groups[AGENT_MAX_GROUPS];
    memcpy(groups, a->groups, n * sizeof groups[0]);
    pthread_mutex_unlock(&a->mu);
    for (size_t i = 0; i < n; i++) {
        if (i) strbuf_putc(&b, ',');
        group_status_json(groups[i], &b);
    }
    strbuf_puts(&b, "],\"pollsters\":");
    plugins_status_json(a, &b);
    strbuf_puts(&b, "}\n");
    reply(r, 200, "application/json", &b);
    strbuf_free(&b);
}

/* Keeps the tasks of one target (a URL: compared exactly, decoded). */
static void filter_target(strbuf *b, const char *target)
{
    json_t *all = json_loadb(b->buf ? b->buf : "[]", b->len, 0, NULL);
    if (!json_is_array(all)) {
        json_decref(all);
        return; /* the unfiltered list rather than nothing */
    }
    json_t *keep = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(all, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "target"));
        if (id && !strcmp(id, target)) json_array_append(keep, t);
    }
    char *text = json_dumps(keep, JSON_COMPACT);
    json_decref(keep);
    json_decref(all);
    if (!text) return;
    strbuf_free(b);
    strbuf_init(b);
    strbuf_puts(b, text);
    free(text);
}

static void h_targets(agent *a, httpd_req *r, bool brief)
{
    (void)brief;
    strbuf b;
    strbuf_init(&b);
    scheduler_targets_json(a, &b);
    const char *target = httpd_query(r, "target");
    if (target) filter_target(&b, target);
    strbuf_putc(&b, '\n');
    reply(r, 200, "application/json", &b);
    strbuf_free(&b);
}

static const struct route {
    const char *path;
    void (*fn)(agent *, httpd_req *, bool brief);
    bool probe; /* /health, /ready: answered without the token, status only */
} routes[] = {{"/health", h_health, true},
              {"/ready", h_ready, true},
              {"/metrics", h_metrics, false},
              {"/v1/status", h_status, false},
              {"/v1/targets", h_targets, false}};

static void json_error(httpd_req *r, int status, const char *msg)
{
    strbuf body;
    strbuf_init(&body);
    strbuf_puts(&body, "{\"error\":");
    strbuf_put_json_string(&body, msg);
    strbuf_puts(&body, "}\n");
    reply(r, status, "application/json", &body);
    strbuf_free(&body);
}

/* Every request: the path (404), the method (405), the token (401); a
 * probe asked without the token (a kubelet's httpGet cannot carry a
 * secret) gets the status code and word only, never the reasons, which
 * name targets and errors. */
static void handle(httpd_req *r, void *arg)
{
    http_state *hs = arg;
    const char *path = httpd_path(r);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(path, routes[i].path) != 0) continue;
        if (strcmp(httpd_method(r), "GET") != 0 && strcmp(httpd_method(r), "HEAD") != 0) {
            httpd_add_header(r, "Allow", "GET, HEAD");
            json_error(r, 405, "this API is read-only: GET only");
            return;
        }
        bool ok = authorized(hs, r);
        if (!ok && !routes[i].probe) {
            json_error(r, 401, "this API requires Authorization: Bearer <[api] token_file>");
            return;
        }
        routes[i].fn(hs->a, r, !ok);
        return;
    }
    json_error(r, 404, "no such path: /health, /ready, /metrics, /v1/status, /v1/targets");
}

int http_api_start(agent *a, char *err, size_t errlen)
{
    a->api_port = -1;
    if (!a->cfg.api_enabled) return 0;
    http_state *hs = calloc(1, sizeof *hs);
    if (!hs) return -1;
    a->http = hs;
    hs->a = a;
    if (load_token(a, hs, err, errlen) != 0) return -1;
    char addr[320];
    bool v6 = strchr(a->cfg.api_host, ':') != NULL;
    snprintf(addr, sizeof addr, "%s%s%s:%d", v6 ? "[" : "", a->cfg.api_host, v6 ? "]" : "",
             a->cfg.api_port);
    httpd_opts o = {.listen = {addr},
                    .n_listen = 1,
                    .handler = handle,
                    .arg = hs,
                    .threads = (unsigned)a->cfg.api_threads,
                    .max_connections = (unsigned)a->cfg.api_max_connections,
                    .header_timeout_ms = (unsigned)a->cfg.api_header_timeout_ms,
                    .idle_timeout_ms = (unsigned)a->cfg.api_idle_timeout_ms,
                    .max_head_bytes = (size_t)a->cfg.api_max_head_bytes,
                    .max_body_bytes = API_MAX_BODY};
    if (a->cfg.api_tls_cert_file[0]) { /* config.c checked the three go together */
        o.tls_cert_file = a->cfg.api_tls_cert_file;
        o.tls_key_file = a->cfg.api_tls_key_file;
        if (a->cfg.api_tls_client_ca_file[0]) o.tls_client_ca_file = a->cfg.api_tls_client_ca_file;
    }
    char msg[512];
    if (httpd_start(&hs->server, &o, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s: [api] %s", a->cfg.path[0] ? a->cfg.path : "config", msg);
        return -1;
    }
    a->api_port = httpd_port(hs->server, 0);
    log_info(&a->log, "api", "listening on %s://%s:%d%s", o.tls_cert_file ? "https" : "http",
             a->cfg.api_host, a->api_port,
             o.tls_client_ca_file ? " (client certificates required)" : "");
    return 0;
}

void http_api_stop(agent *a)
{
    http_state *hs = a->http;
    if (!hs) return;
    httpd_stop(hs->server);
    group_secret_free(hs->token, hs->token_len);
    free(hs);
    a->http = NULL;
}
