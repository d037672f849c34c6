/*
 * scheduler_status.c (internal to agent/): the scheduler's state as the API
 * shows it (/v1/status per source, /v1/targets per task). Read-only views,
 * kept apart from scheduler.c, which runs the tasks.
 */
#include "agent/core.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *state_name(src_state st)
{
    switch (st) {
    case SRC_PENDING:
        return "pending";
    case SRC_RUNNING:
        return "running";
    case SRC_DRAINING:
        return "draining";
    case SRC_DEAD:
        return "stopped";
    }
    return "unknown";
}

void scheduler_status_json(agent_group *g, strbuf *out)
{
    agent *a = g->a;
    int64_t now = loop_wall_ms();
    pthread_mutex_lock(&a->mu);
    pthread_mutex_lock(&a->stats_mu);
    strbuf_putc(out, '[');
    for (size_t i = 0; i < g->n_sources; i++) {
        src_rt *s = g->sources[i];
        uint64_t polls = s->gone_polls, errors = s->gone_errors, skipped = s->gone_skipped;
        int64_t last = 0;
        const char *last_error = "";
        size_t owned = 0;
        for (size_t k = 0; k < s->n_tasks; k++) {
            task *t = s->tasks[k];
            polls += t->stats.polls;
            errors += t->stats.errors;
            skipped += t->stats.skipped;
            if (t->stats.last_poll_ms > last) last = t->stats.last_poll_ms;
            if (t->stats.last_error[0]) last_error = t->stats.last_error;
            if (t->target.local || !g->owns || g->owns(g->owns_ctx, &t->target, now)) owned++;
        }
        if (!last_error[0]) last_error = s->discovery_error;
        char digest[65];
        pipeline_digest_hex(s->conf->digest, digest);
        strbuf_printf(out, "%s{\"name\":", i ? "," : "");
        strbuf_put_json_string(out, s->name);
        strbuf_printf(out,
                      ",\"state\":\"%s\",\"interval\":%" PRId64 ",\"sha256\":\"%s\","
                      "\"tasks\":%zu,\"tasks_owned\":%zu,\"polls\":%" PRIu64 ",\"errors\":%" PRIu64
                      ",\"skipped\":%" PRIu64 ",\"last_poll_ms\":%" PRId64 ",\"last_error\":",
                      state_name(s->state), s->conf->interval_ms / 1000, digest, s->n_tasks, owned,
                      polls, errors, skipped, last);
        strbuf_put_json_string(out, last_error);
        strbuf_putc(out, '}');
    }
    strbuf_putc(out, ']');
    pthread_mutex_unlock(&a->stats_mu);
    pthread_mutex_unlock(&a->mu);
}

/* When the target is really contacted next: its pollster's backoff, else
 * its next due poll. */
static int64_t next_attempt(const task *t)
{
    int64_t at = t->pp->next_attempt_ms && t->state ? t->pp->next_attempt_ms(t->state) : 0;
    return at > t->due_wall_ms ? at : t->due_wall_ms;
}

void scheduler_targets_json(agent *a, strbuf *out)
{
    int64_t now = loop_wall_ms();
    pthread_mutex_lock(&a->mu);
    pthread_mutex_lock(&a->stats_mu);
    strbuf_putc(out, '[');
    bool first = true;
    for (size_t gi = 0; gi < a->n_groups; gi++) {
        agent_group *g = a->groups[gi];
        for (size_t i = 0; i < g->n_sources; i++) {
            src_rt *s = g->sources[i];
            for (size_t k = 0; k < s->n_tasks; k++) {
                task *t = s->tasks[k];
                bool owned = t->target.local || !g->owns || g->owns(g->owns_ctx, &t->target, now);
                strbuf_puts(out, first ? "{\"group\":" : ",{\"group\":");
                first = false;
                strbuf_put_json_string(out, g->name);
                strbuf_puts(out, ",\"source\":");
                strbuf_put_json_string(out, s->name);
                strbuf_puts(out, ",\"pollster\":");
                strbuf_put_json_string(out, t->pp->desc->name);
                strbuf_puts(out, ",\"target\":");
                strbuf_put_json_string(out, t->target.id);
                strbuf_puts(out, ",\"resource\":");
                strbuf_put_json_string(out, t->target.resource);
                strbuf_printf(
                    out,
                    ",\"local\":%s,\"owned\":%s,\"offset_ms\":%" PRId64 ",\"next_due_ms\":%" PRId64
                    ",\"polls\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"skipped\":%" PRIu64
                    ",\"last_poll_ms\":%" PRId64 ",\"last_duration_us\":%" PRId64
                    ",\"last_samples\":%zu,\"last_success_ms\":%" PRId64
                    ",\"consecutive_errors\":%" PRIu64 ",\"next_attempt_ms\":%" PRId64
                    ",\"last_error\":",
                    t->target.local ? "true" : "false", owned ? "true" : "false", t->offset_ms,
                    t->due_wall_ms, t->stats.polls, t->stats.errors, t->stats.skipped,
                    t->stats.last_poll_ms, t->stats.last_duration_us, t->stats.last_samples,
                    t->stats.last_success_ms, t->stats.consecutive_errors, next_attempt(t));
                strbuf_put_json_string(out, t->stats.last_error);
                strbuf_putc(out, '}');
            }
        }
    }
    strbuf_putc(out, ']');
    pthread_mutex_unlock(&a->stats_mu);
    pthread_mutex_unlock(&a->mu);
}
