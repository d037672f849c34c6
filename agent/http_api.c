/*
 * http_api.c: the agent's HTTP API on nng's HTTP server.
 *
 *   GET /health      ok | degraded, with reasons (200), so load balancers and
 *                    operators see a refused revision or a failing publisher
 *   GET /metrics     Prometheus text: the prometheus:// publishers' samples
 *                    plus the agent's own counters
 *   GET /v1/status   revision, sha256, sources, publishers, errors (JSON)
 *   GET /v1/targets  every (source, pollster, target) task and its last poll
 *
 * Read-only and loopback by default. Requests carry no body: one with a body
 * is refused (nng answers 413), so a client cannot make the agent buffer
 * anything. Handlers run on nng's threads and only take the agent's
 * status locks for the time it takes to copy counters into text.
 */
#include "agent/core.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdlib.h>
#include <string.h>

typedef struct http_state {
    nng_http_server *server;
    nng_http_handler *handlers[4];
    int n_handlers;
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
    return nng_http_handler_get_data(h);
}

/* Appends the reasons the agent is degraded as JSON strings; returns count. */
static int health_reasons(agent *a, strbuf *out)
{
    int n = 0;
    pthread_mutex_lock(&a->mu);
    if (a->pipeline_error[0]) {
        strbuf_puts(out, n++ ? "," : "");
        char msg[2100];
        snprintf(msg, sizeof msg, "pipeline refused: %s", a->pipeline_error);
        strbuf_put_json_string(out, msg);
    }
    pthread_mutex_unlock(&a->mu);
    /* sources whose every task failed its last poll */
    pthread_mutex_lock(&a->mu);
    pthread_mutex_lock(&a->stats_mu);
    for (size_t i = 0; i < a->n_sources; i++) {
        src_rt *s = a->sources[i];
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
            snprintf(msg, sizeof msg, "source %s: every poll failing: %s", s->name, last);
            strbuf_puts(out, n++ ? "," : "");
            strbuf_put_json_string(out, msg);
        }
    }
    pthread_mutex_unlock(&a->stats_mu);
    pthread_mutex_unlock(&a->mu);
    return n;
}

static void h_health(nng_aio *aio)
{
    agent *a = handler_agent(aio);
    strbuf reasons, body;
    strbuf_init(&reasons);
    strbuf_init(&body);
    int n = health_reasons(a, &reasons);
    strbuf_printf(&body, "{\"status\":\"%s\",\"reasons\":[%s]}\n", n ? "degraded" : "ok",
                  reasons.buf ? reasons.buf : "");
    reply(aio, 200, "application/json", &body);
    strbuf_free(&reasons);
    strbuf_free(&body);
}

static void agent_metrics_text(agent *a, strbuf *out)
{
    pthread_mutex_lock(&a->mu);
    strbuf_printf(out,
                  "# HELP meterd_pipeline_revision Pipeline revisions applied since start\n"
                  "# TYPE meterd_pipeline_revision gauge\nmeterd_pipeline_revision %" PRIu64 "\n"
                  "# HELP meterd_reloads_total Pipeline revisions applied\n"
                  "# TYPE meterd_reloads_total counter\nmeterd_reloads_total %" PRIu64 "\n"
                  "# HELP meterd_reload_failures_total Pipeline revisions refused\n"
                  "# TYPE meterd_reload_failures_total counter\n"
                  "meterd_reload_failures_total %" PRIu64 "\n"
                  "# HELP meterd_reload_apply_seconds Time the last revision took to apply\n"
                  "# TYPE meterd_reload_apply_seconds gauge\nmeterd_reload_apply_seconds %.6f\n",
                  a->revision, a->reloads, a->reload_failures, (double)a->last_apply_us / 1e6);
    pthread_mutex_unlock(&a->mu);
}

static void h_metrics(nng_aio *aio)
{
    agent *a = handler_agent(aio);
    strbuf body;
    strbuf_init(&body);
    sinks_render(a, &body);
    agent_metrics_text(a, &body);
    scheduler_metrics_text(a, &body);
    if (metrics_registry_backend(a->mx) == METRICS_BACKEND_PROMETHEUS) {
        size_t len = 0;
        char *text = metrics_render_prometheus_text(a->mx, &len);
        if (text) strbuf_append(&body, text, len);
        free(text);
    }
    reply(aio, 200, "text/plain; version=0.0.4; charset=utf-8", &body);
    strbuf_free(&body);
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
    pthread_mutex_lock(&a->mu);
    strbuf_puts(&b, ",\"pipeline\":{\"file\":");
    strbuf_put_json_string(&b, a->pipeline_path[0] ? a->pipeline_path : "<embedded default>");
    strbuf_printf(&b,
                  ",\"revision\":%" PRIu64 ",\"sha256\":\"%s\",\"applied_ms\":%" PRId64
                  ",\"reloads\":%" PRIu64 ",\"reload_failures\":%" PRIu64
                  ",\"last_apply_us\":%" PRId64 ",\"error\":",
                  a->revision, a->pipe ? a->pipe->sha256_hex : "", a->applied_ms, a->reloads,
                  a->reload_failures, a->last_apply_us);
    strbuf_put_json_string(&b, a->pipeline_error);
    strbuf_printf(&b, ",\"error_ms\":%" PRId64 "}", a->pipeline_error_ms);
    pthread_mutex_unlock(&a->mu);
    strbuf_puts(&b, ",\"sources\":");
    scheduler_status_json(a, &b);
    strbuf_puts(&b, ",\"output\":");
    sinks_status_json(a, &b);
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
    } routes[] = {{"/health", h_health},
                  {"/metrics", h_metrics},
                  {"/v1/status", h_status},
                  {"/v1/targets", h_targets}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        nng_http_handler *h;
        if ((rv = nng_http_handler_alloc(&h, routes[i].path, routes[i].fn)) != 0) break;
        nng_http_handler_set_method(h, "GET");
        nng_http_handler_collect_body(h, true, 0);
        nng_http_handler_set_data(h, a, NULL);
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
    free(hs);
    a->http = NULL;
}
