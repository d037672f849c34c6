/*
 * metrics_page.c: the agent's /metrics page, produced here and nowhere else:
 * the prometheus:// publishers' series, then the agent's own rows (pipeline
 * revision and reloads per group, polls per source, the API server's
 * counters), then the [metrics]
 * registry when its backend is prometheus (the worker pool's gauges...). Every label value
 * goes through strbuf_put_prom_label (a group or source name may hold a
 * quote, a backslash or a newline).
 */
#include "agent/core.h"
#include "httpd/httpd.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static void group_rows(agent *a, strbuf *out)
{
    static const char *const names[] = {"meterd_pipeline_revision", "meterd_reloads_total",
                                        "meterd_reload_failures_total",
                                        "meterd_reload_apply_seconds"};
    static const char *const help[] = {("Pipeline revision applied (ZooKeeper number in cluster"
                                        " mode, else revisions since start)"),
                                       "Pipeline revisions applied", "Pipeline revisions refused",
                                       "Time the last revision took to apply"};
    pthread_mutex_lock(&a->mu);
    for (int m = 0; m < 4; m++) {
        strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", names[m], help[m], names[m],
                      m == 1 || m == 2 ? "counter" : "gauge");
        for (size_t gi = 0; gi < a->n_groups; gi++) {
            agent_group *g = a->groups[gi];
            strbuf_printf(out, "%s{group=", names[m]);
            strbuf_put_prom_label(out, g->name);
            strbuf_puts(out, "} ");
            if (m == 3)
                strbuf_printf(out, "%.6f\n", (double)g->last_apply_us / 1e6);
            else
                strbuf_printf(out, "%" PRIu64 "\n",
                              m == 0   ? g->revision
                              : m == 1 ? g->reloads
                                       : g->reload_failures);
        }
    }
    pthread_mutex_unlock(&a->mu);
}

static void source_rows(agent *a, strbuf *out)
{
    static const char *const names[] = {"meterd_source_polls_total", "meterd_source_errors_total",
                                        "meterd_source_skipped_total"};
    static const char *const help[] = {"Polls run per source", "Polls that failed per source",
                                       "Polls skipped because the previous one overran"};
    pthread_mutex_lock(&a->mu);
    pthread_mutex_lock(&a->stats_mu);
    for (int m = 0; m < 3; m++) {
        strbuf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", names[m], help[m], names[m]);
        for (size_t gi = 0; gi < a->n_groups; gi++)
            for (size_t i = 0; i < a->groups[gi]->n_sources; i++) {
                src_rt *s = a->groups[gi]->sources[i];
                uint64_t v = m == 0 ? s->gone_polls : m == 1 ? s->gone_errors : s->gone_skipped;
                for (size_t k = 0; k < s->n_tasks; k++)
                    v += m == 0   ? s->tasks[k]->stats.polls
                         : m == 1 ? s->tasks[k]->stats.errors
                                  : s->tasks[k]->stats.skipped;
                strbuf_printf(out, "%s{group=", names[m]);
                strbuf_put_prom_label(out, a->groups[gi]->name);
                strbuf_puts(out, ",source=");
                strbuf_put_prom_label(out, s->name);
                strbuf_printf(out, "} %" PRIu64 "\n", v);
            }
    }
    pthread_mutex_unlock(&a->stats_mu);
    pthread_mutex_unlock(&a->mu);
}

/* The API server's own counters: what hostile or broken clients cost it
 * (docs/AGENT.md, "HTTP API"). */
static void api_rows(const httpd_stats *st, strbuf *out)
{
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } rows[] = {
        {"meterd_api_connections_total", "counter", "API connections accepted",
         offsetof(httpd_stats, connections)},
        {"meterd_api_connections_refused_total", "counter",
         "API connections refused with 503 because [api] max_connections were open",
         offsetof(httpd_stats, refused)},
        {"meterd_api_accept_backoffs_total", "counter",
         "Times accepting paused because the process was out of descriptors (EMFILE/ENFILE)",
         offsetof(httpd_stats, accept_backoffs)},
        {"meterd_api_header_timeouts_total", "counter",
         "API connections closed because a request head took over [api] header_timeout_ms",
         offsetof(httpd_stats, header_timeouts)},
        {"meterd_api_requests_total", "counter", "API request heads received",
         offsetof(httpd_stats, requests)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        unsigned long long v;
        memcpy(&v, (const char *)st + rows[i].offset, sizeof v);
        strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", rows[i].name, rows[i].help,
                      rows[i].name, rows[i].type, rows[i].name, v);
    }
    strbuf_printf(out,
                  "# HELP meterd_api_connections_open API connections open now\n"
                  "# TYPE meterd_api_connections_open gauge\n"
                  "meterd_api_connections_open %u\n",
                  st->current);
    const unsigned long long by_code[] = {st->bad_requests, st->cert_refused, st->body_too_large,
                                          st->head_too_large};
    static const int codes[] = {400, 403, 413, 431};
    strbuf_puts(out, "# HELP meterd_api_requests_refused_total API requests the server answered "
                     "by itself with an error, before routing (400 malformed, 403 no client "
                     "certificate, 413 body too large, 431 head too large)\n"
                     "# TYPE meterd_api_requests_refused_total counter\n");
    for (size_t i = 0; i < 4; i++)
        strbuf_printf(out, "meterd_api_requests_refused_total{code=\"%d\"} %llu\n", codes[i],
                      by_code[i]);
}

void metrics_page_render(agent *a, const httpd_stats *api, strbuf *out)
{
    sinks_render(a, out);
    group_rows(a, out);
    source_rows(a, out);
    if (api) api_rows(api, out);
    if (metrics_registry_backend(a->mx) == METRICS_BACKEND_PROMETHEUS) {
        size_t len = 0;
        char *text = metrics_render_prometheus_text(a->mx, &len);
        if (text) strbuf_append(out, text, len);
        free(text);
    }
}
