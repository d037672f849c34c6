/*
 * metrics_page.c: the agent's /metrics page, produced here and nowhere else:
 * the prometheus:// publishers' series, then the agent's own rows (pipeline
 * revision and reloads per group, polls per source), then the [metrics]
 * registry when its backend is prometheus (the worker pool's gauges...). Every label value
 * goes through strbuf_put_prom_label (a group or source name may hold a
 * quote, a backslash or a newline).
 */
#include "agent/core.h"

#include <inttypes.h>
#include <stdlib.h>

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
                uint64_t v = 0;
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

void metrics_page_render(agent *a, strbuf *out)
{
    sinks_render(a, out);
    group_rows(a, out);
    source_rows(a, out);
    if (metrics_registry_backend(a->mx) == METRICS_BACKEND_PROMETHEUS) {
        size_t len = 0;
        char *text = metrics_render_prometheus_text(a->mx, &len);
        if (text) strbuf_append(out, text, len);
        free(text);
    }
}
