/*
 * scheduler_diff.c: a changed source applied in place (issue 19).
 *
 * A revision that changed a source (its targets, interval, meters,
 * parameters or sinks) used to retire the whole source and start a
 * successor once every poll of it in flight had finished: one slow poll
 * held every other target of the source unpolled meanwhile (a bench reload
 * at 20 agents: targets unpolled for 1-3 s), and each push rebuilt every
 * task. Now the source stays. Its new definition (src_conf) and targets are
 * built aside, matched with the running tasks by (pollster, target id,
 * resource), and swapped in at once under a->mu:
 *   - a target that stays keeps its task: its state (baselines, backoff),
 *     statistics, timer and, at the same interval, its due instants;
 *   - an added target starts at its next due instant;
 *   - a removed target's timer stops at once; a poll of it in flight
 *     finishes and publishes (it holds its task and the definition it was
 *     fired with);
 *   - meters, parameters and sinks: polls fired from now on use the new
 *     definition, a poll in flight the one it started with.
 *
 * An interval change keeps the stable phase rule (the hash at the new
 * interval: what every member, and an agent started afresh, compute) and
 * switches at the first instant of the new schedule that is both to come
 * and at least the shorter of the two intervals after the old schedule's
 * last instant: growing, the first new instant from the old schedule's next
 * one on; shrinking, from one new interval after the old schedule's last
 * one (or from now, when that has passed: a passed instant is not polled
 * late, so the next one cannot follow it closely). The gap across the switch
 * is therefore at least the shorter interval (never a double poll) and less
 * than the old interval plus the new one (no wait for a long old interval to
 * end when it shrinks).
 */
#include "agent/scheduler_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct keyed {
    task *k;
    size_t i; /* in the source's task list */
} keyed;

static int cmp_target(size_t pa, const poll_target *a, size_t pb, const poll_target *b)
{
    if (pa != pb) return pa < pb ? -1 : 1;
    int c = strcmp(a->id, b->id);
    return c ? c : strcmp(a->resource, b->resource);
}

static int cmp_keyed(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    return cmp_target(a->k->pp_index, &a->k->target, b->k->pp_index, &b->k->target);
}

/* The running task for pollster pp and target t not taken yet, or NULL. */
static keyed *find_task(keyed *v, size_t n, size_t pp, const poll_target *t, const bool *taken)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_target(v[mid].k->pp_index, &v[mid].k->target, pp, t) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < n && !cmp_target(v[lo].k->pp_index, &v[lo].k->target, pp, t); lo++)
        if (!taken[v[lo].i]) return &v[lo];
    return NULL;
}

/* The first instant of the new schedule (interval, offset) from now on and
 * at least the shorter interval after the old schedule's last instant (the
 * rule above); old_due is the old schedule's next instant. */
static int64_t switch_due(int64_t old_due, int64_t old_interval, int64_t interval, int64_t offset,
                          int64_t now)
{
    int64_t from = old_due - old_interval + (old_interval < interval ? old_interval : interval);
    if (from < now) from = now;
    return task_next_due(from - 1, interval, offset);
}

int src_update(src_rt *s, const pipeline_source *def)
{
    agent *a = s->a;
    char derr[sizeof s->discovery_error];
    src_plan plan;
    src_conf *c = src_conf_build(s, def, &plan, derr, sizeof derr);
    if (!c) return -1;
    size_t n_old = s->n_tasks, cap = src_plan_count(&plan), n = 0, added = 0;
    task **nv = calloc(cap ? cap : 1, sizeof *nv);
    const poll_target **planned = calloc(cap ? cap : 1, sizeof *planned);
    bool *fresh = calloc(cap ? cap : 1, sizeof *fresh);
    bool *taken = calloc(n_old ? n_old : 1, sizeof *taken);
    keyed *old = calloc(n_old ? n_old : 1, sizeof *old);
    if (!nv || !planned || !fresh || !taken || !old) goto oom;
    for (size_t i = 0; i < n_old; i++)
        old[i] = (keyed){s->tasks[i], i};
    qsort(old, n_old, sizeof *old, cmp_keyed);
    for (size_t p = 0; p < plan.n; p++)
        for (size_t t = 0; t < plan.lists[p].n; t++) {
            const poll_target *pt = &plan.lists[p].v[t];
            keyed *o = find_task(old, n_old, p, pt, taken);
            if (o) {
                taken[o->i] = true;
                nv[n] = o->k;
            } else {
                if (!(nv[n] = task_new(s, p, plan.want_off[p], pt, c->interval_ms))) goto oom;
                fresh[n] = true;
                added++;
            }
            planned[n++] = pt;
        }

    /* nothing can fail from here: the switch */
    int64_t old_interval = s->conf->interval_ms, interval = c->interval_ms;
    bool reschedule = interval != old_interval;
    int64_t now_wall = loop_wall_ms(), now_mono = loop_now_ms();
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < n; i++) {
        task *k = nv[i];
        if (fresh[i]) {
            k->due_wall_ms = task_next_due(now_wall, interval, k->offset_ms);
            continue;
        }
        k->target.labels = planned[i]->labels; /* into c, as polls fired from now on */
        k->target.local = planned[i]->local;
        if (reschedule) {
            k->offset_ms = task_offset(s->name, k->pp->desc->name, k->target.id, interval);
            k->due_wall_ms =
                switch_due(k->due_wall_ms, old_interval, interval, k->offset_ms, now_wall);
        }
    }
    task **prev_tasks = s->tasks;
    src_conf *prev = s->conf;
    s->tasks = nv;
    s->n_tasks = n;
    s->conf = c;
    memcpy(s->discovery_error, derr, sizeof s->discovery_error);
    pthread_mutex_unlock(&a->mu);

    for (size_t i = 0; i < n; i++)
        if (fresh[i] || reschedule) task_arm(nv[i], now_wall, now_mono);
    size_t removed = 0;
    pthread_mutex_lock(&a->stats_mu);
    for (size_t i = 0; i < n_old; i++)
        if (!taken[i]) {
            s->gone_polls += prev_tasks[i]->stats.polls;
            s->gone_errors += prev_tasks[i]->stats.errors;
            s->gone_skipped += prev_tasks[i]->stats.skipped;
        }
    pthread_mutex_unlock(&a->stats_mu);
    for (size_t i = 0; i < n_old; i++)
        if (!taken[i]) {
            loop_timer_cancel(a->loop, &prev_tasks[i]->timer);
            task_unref(prev_tasks[i]); /* a poll in flight keeps it to its end */
            removed++;
        }
    free(prev_tasks);
    src_conf_unref(prev); /* polls in flight keep theirs */
    free(old);
    free(taken);
    free(fresh);
    free(planned);
    src_plan_free(&plan);
    if (derr[0]) log_warn(&a->log, "scheduler", "%s", derr);
    log_info(&a->log, "scheduler",
             "source %s changed in place: %zu targets kept, %zu added, %zu removed, every %" PRId64
             " s",
             s->name, n - added, added, removed, interval / 1000);
    return 0;
oom:
    for (size_t i = 0; i < n; i++)
        if (fresh[i]) task_unref(nv[i]);
    free(nv);
    free(planned);
    free(fresh);
    free(taken);
    free(old);
    src_conf_unref(c);
    src_plan_free(&plan);
    return -1;
}
