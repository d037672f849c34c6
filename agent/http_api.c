/*
 * http_api.c: the agent's HTTP API on nng's HTTP server.
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
 *   GET /v1/targets  every (source, pollster, target) task and its last poll
 *
 * Read-only and loopback by default. Off loopback, [api] token_file is
 * required and every request must carry "Authorization: Bearer <token>"
 * (401 otherwise): the API names targets, destinations and errors, and
 * meterproxy reaches it over the network. Requests carry no body: one with a body
 * is refused (nng answers 413), so a client cannot make the agent buffer
 * anything. Handlers run on nng's threads and only take the agent's
 * status locks for the time it takes to copy counters into text.
 */
#include "agent/core.h"
#include "group/group.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdlib.h>
#include <string.h>

#define N_ROUTES 5

typedef struct api_route { /* a handler's data: every request passes checked() */
    agent *a;
    void (*fn)(nng_aio *);
    bool probe; /* /health, /ready: answered without the token, status only */
} api_route;

typedef struct http_state {
    nng_http_server *server;
    nng_http_handler *handlers[N_ROUTES];
    api_route routes[N_ROUTES];
    int n_handlers;
    unsigned char *token; /* [api] token_file (group_secret_read), NULL: none */
    size_t token_len;
} http_state;

static void reply(nng_aio *aio, uint16_t status, const char *ctype, strbuf *body)
{
    nng_http_res *res;
    if (body->failed || nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_http_res_set_status(res, status);
    nng_http_res_set_header(res, "Content-Type", ctype);
    nng_http_res_set_header(res, "Cache-Control", "no-store");
    if (nng_http_res_copy_data(res, body->buf ? body->buf : "", body->len) != 0) {
        nng_http_res_free(res);
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static agent *handler_agent(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    return ((api_route *)nng_http_handler_get_data(h))->a;
}

/* With a token, the request must carry it (constant-time comparison). */
static bool authorized(const http_state *hs, nng_aio *aio)
{
    if (!hs->token) return true;
    nng_http_req *req = nng_aio_get_input(aio, 0);
    const char *h = nng_http_req_get_header(req, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    if (strlen(h) != hs->token_len) return false;
    unsigned char diff = 0; /* every byte compared: the time tells nothing */
    for (size_t i = 0; i < hs->token_len; i++)
        diff |= (unsigned char)h[i] ^ hs->token[i];
    return diff == 0;
}

/* A probe asked without the token (a kubelet's httpGet cannot carry a secret):
 * the status code and word only, never the reasons, which name targets and
 * errors. */
static bool brief(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    api_route *r = nng_http_handler_get_data(h);
    return r->probe && !authorized(r->a->http, aio);
}

static void h_checked(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    api_route *r = nng_http_handler_get_data(h);
    if (r->probe || authorized(r->a->http, aio)) {
        r->fn(aio);
        return;
    }
    strbuf body;
    strbuf_init(&body);
    strbuf_puts(&body, "{\"error\":\"this API requires Authorization: Bearer <[api] "
                       "token_file>\"}\n");
    reply(aio, 401, "application/json", &body);
    strbuf_free(&body);
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
    if (loopback(a->cfg.api_host)) return 0;
    snprintf(err, errlen,
             "%s: [api] host %s is reachable from other hosts: set [api] token_file to a mode-0600 "
             "file holding a bearer token (openssl rand -hex 32 > FILE; chmod 600 FILE), or keep "
             "host = 127.0.0.1 (docs/SECURITY.md)",
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

static void reply_status(nng_aio *aio, uint16_t code, const char *status, strbuf *reasons)
{
    strbuf body;
    strbuf_init(&body);
    /* running open on purpose is a field, not a failure (docs/SECURITY.md) */
    agent *a = handler_agent(aio);
    if (!brief(aio))
        strbuf_printf(&body, "{\"status\":\"%s\",%s\"reasons\":[%s]}\n", status,
                      cluster_insecure(a) ? "\"insecure\":true," : "",
                      reasons->buf ? reasons->buf : "");
    else
        strbuf_printf(&body, "{\"status\":\"%s\"}\n", status);
    reply(aio, code, "application/json", &body);
    strbuf_free(&body);
}

/*
 * Liveness. The stall is checked first and without the agent's locks: a
 * callback stuck while holding one must still get its 503, not a timeout.
 */
static void h_health(nng_aio *aio)
{
    agent *a = handler_agent(aio);
    strbuf reasons;
    strbuf_init(&reasons);
    if (stall_reason(a, &reasons, 0)) {
        reply_status(aio, 503, "stalled", &reasons);
    } else {
        int n = health_reasons(a, &reasons);
        reply_status(aio, 200, n ? "degraded" : "ok", &reasons);
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

static void h_ready(nng_aio *aio)
{
    agent *a = handler_agent(aio);
    strbuf reasons;
    strbuf_init(&reasons);
    int n = agent_ready_reasons(a, &reasons);
    reply_status(aio, n ? 503 : 200, n ? "not_ready" : "ready", &reasons);
    strbuf_free(&reasons);
}

static void h_metrics(nng_aio *aio)
{
    agent *a = handler_agent(aio);
    strbuf body;
    strbuf_init(&body);
    metrics_page_render(a, &body);
    reply(aio, 200, "text/plain; version=0.0.4; charset=utf-8", &body);
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

static void h_status(nng_aio *aio)
{
    agent *a = handler_agent(aio);
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
    reply(aio, 200, "application/json", &b);
    strbuf_free(&b);
}

static void h_targets(nng_aio *aio)
{
    agent *a = handler_agent(aio);
    strbuf b;
    strbuf_init(&b);
    scheduler_targets_json(a, &b);
    strbuf_putc(&b, '\n');
    reply(aio, 200, "application/json", &b);
    strbuf_free(&b);
}

int http_api_start(agent *a, char *err, size_t errlen)
{
    a->api_port = -1;
    if (!a->cfg.api_enabled) return 0;
    http_state *hs = calloc(1, sizeof *hs);
    if (!hs) return -1;
    a->http = hs;
    if (load_token(a, hs, err, errlen) != 0) return -1;
    char url[320];
    bool v6 = strchr(a->cfg.api_host, ':') != NULL;
    snprintf(url, sizeof url, "http://%s%s%s:%d", v6 ? "[" : "", a->cfg.api_host, v6 ? "]" : "",
             a->cfg.api_port);
    nng_url *u = NULL;
    int rv = nng_url_parse(&u, url);
    if (rv == 0) rv = nng_http_server_hold(&hs->server, u);
    nng_url_free(u);
    if (rv != 0) {
        snprintf(err, errlen, "[api] %s: %s", url, nng_strerror(rv));
        return -1;
    }
    static const struct {
        const char *path;
        void (*fn)(nng_aio *);
        bool probe;
    } routes[] = {{"/health", h_health, true},
                  {"/ready", h_ready, true},
                  {"/metrics", h_metrics, false},
                  {"/v1/status", h_status, false},
                  {"/v1/targets", h_targets, false}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        nng_http_handler *h;
        if ((rv = nng_http_handler_alloc(&h, routes[i].path, h_checked)) != 0) break;
        nng_http_handler_set_method(h, "GET");
        nng_http_handler_collect_body(h, true, 0);
        hs->routes[i] = (api_route){a, routes[i].fn, routes[i].probe};
        nng_http_handler_set_data(h, &hs->routes[i], NULL);
        if ((rv = nng_http_server_add_handler(hs->server, h)) != 0) {
            nng_http_handler_free(h);
            break;
        }
        hs->handlers[hs->n_handlers++] = h;
    }
    if (rv == 0) rv = nng_http_server_start(hs->server);
    if (rv != 0) {
        snprintf(err, errlen, "[api] cannot listen on %s: %s", url, nng_strerror(rv));
        return -1;
    }
    nng_sockaddr sa;
    if (nng_http_server_get_addr(hs->server, &sa) == 0)
        a->api_port =
            sa.s_family == NNG_AF_INET6 ? ntohs(sa.s_in6.sa_port) : ntohs(sa.s_in.sa_port);
    log_info(&a->log, "api", "listening on http://%s:%d", a->cfg.api_host, a->api_port);
    return 0;
}

void http_api_stop(agent *a)
{
    http_state *hs = a->http;
    if (!hs) return;
    if (hs->server) {
        nng_http_server_stop(hs->server);
        nng_http_server_release(hs->server);
    }
    group_secret_free(hs->token, hs->token_len);
    free(hs);
    a->http = NULL;
}
