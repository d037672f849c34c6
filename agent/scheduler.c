/*
 * scheduler.c: source runtimes, their poll tasks, and the cadence.
 *
 * A source runtime (src_rt) is what a pipeline source becomes when it runs:
 * its definition in force (src_conf: the meter selection computed once per
 * pollster, the pollsters' configs, the sinks) and one task per (pollster,
 * target). Unchanged sources survive a reload as the very same objects; a
 * changed one is diffed in place (scheduler_diff.c): the same source, the
 * targets that stay keep their task.
 *
 * Cadence: a task is due at instants k * interval + offset on the wall
 * clock, where offset is a stable hash of (source, pollster, target). Every
 * member of a group therefore agrees on when a target is due (the basis of a
 * handover without duplicates or gaps), the load is spread across the
 * interval, and a reload does not shift the phase of anything that stayed.
 * A task whose previous poll is still queued or running when it is due again
 * is skipped and counted, never queued twice.
 *
 * Lifetime: the source list holds one reference to a source, each queued or
 * running poll another; the same for a task (the source's task list, the
 * poll) and for a src_conf (the source, each poll fired with it). A removed
 * source stops its timers at once and leaves the list once its in-flight
 * polls finished (bounded by drain_timeout).
 */
#include "agent/scheduler_int.h"
#include "partition/partition.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char **dup_strv(char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(out[i] = strdup(v[i]))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    return out;
}

static void free_strv(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static const discovery_plugin *find_discovery(const agent *a, const char *name, size_t len)
{
    for (size_t i = 0; i < a->n_discoveries; i++)
        if (strlen(a->discoveries[i]->desc->name) == len &&
            strncmp(a->discoveries[i]->desc->name, name, len) == 0)
            return a->discoveries[i];
    return NULL;
}

/* Targets for one pollster of a source: resources, else discovery, else the
 * pollster's default discovery (Ceilometer's order). A discovery that fails
 * is reported in derr and polls nothing. */
static int source_targets(src_rt *s, const pipeline_source *def, const pollster_plugin *pp,
                          target_list *out, char *derr, size_t derrlen)
{
    agent *a = s->a;
    if (def->n_resources) {
        /* both sorted by resource: one walk pairs each with its labels */
        size_t j = 0;
        for (size_t i = 0; i < def->n_resources; i++) {
            if (target_list_add(out, def->resources[i], def->resources[i], false) != 0) return -1;
            while (j < def->n_target_labels &&
                   strcmp(def->target_labels[j].name, def->resources[i]) < 0)
                j++;
            if (j < def->n_target_labels && !strcmp(def->target_labels[j].name, def->resources[i]))
                out->v[out->n - 1].labels = &def->target_labels[j];
        }
        return 0;
    }
    discovery_env env = {a->cfg.host, a->cfg.proc_root};
    size_t n_disc = def->n_discovery;
    for (size_t i = 0; i < (n_disc ? n_disc : 1); i++) {
        const char *entry = n_disc ? def->discovery[i] : pp->desc->default_discovery;
        if (!entry) continue;
        const char *colon = strchr(entry, ':');
        size_t len = colon ? (size_t)(colon - entry) : strlen(entry);
        const discovery_plugin *d = find_discovery(a, entry, len);
        if (!d) {
            snprintf(derr, derrlen, "unknown discovery \"%.*s\" in source %s", (int)len, entry,
                     s->name);
            continue;
        }
        char err[200] = "";
        if (d->discover(&env, colon ? colon + 1 : "", out, err, sizeof err) != 0)
            snprintf(derr, derrlen, "discovery %s: %s", d->desc->name, err);
    }
    return 0;
}

static void task_fire(void *arg);
static void src_drained(void *arg);

/* ---- a source's definition (src_conf) and what it polls (src_plan) ---- */

static void conf_free(src_conf *c)
{
    agent *a = c->a;
    for (size_t i = 0; c->configs && i < a->n_pollsters; i++)
        if (c->configs[i] && a->pollsters[i]->unconfigure)
            a->pollsters[i]->unconfigure(c->configs[i]);
    free(c->configs);
    pipeline_params_free(c->params, c->n_params);
    pipeline_params_free(c->labels, c->n_labels);
    free(c->want);
    free_strv(c->meters, c->n_meters);
    free_strv(c->sinks, c->n_sinks);
    free(c);
}

void src_conf_unref(src_conf *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) conf_free(c);
}

void src_plan_free(src_plan *p)
{
    for (size_t i = 0; p->lists && i < p->n; i++)
        target_list_free(&p->lists[i]);
    free(p->lists);
    free(p->want_off);
    memset(p, 0, sizeof *p);
}

src_conf *src_conf_build(src_rt *s, const pipeline_source *def, src_plan *plan, char *derr,
                         size_t derrlen)
{
    agent *a = s->a;
    agent_group *g = s->g;
    derr[0] = 0;
    memset(plan, 0, sizeof *plan);
    src_conf *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    c->a = a;
    c->interval_ms = def->interval * 1000;
    c->meters = dup_strv(def->meters, def->n_meters);
    c->n_meters = def->n_meters;
    c->sinks = dup_strv(def->sinks, def->n_sinks);
    c->n_sinks = def->n_sinks;
    c->selection.meters = c->meters;
    c->selection.n_meters = c->meters ? def->n_meters : 0;
    if (pipeline_params_copy(def->params, def->n_params, &c->params) == 0)
        c->n_params = def->n_params;
    if (pipeline_params_copy(def->target_labels, def->n_target_labels, &c->labels) == 0)
        c->n_labels = def->n_target_labels;
    memcpy(c->digest, def->digest, sizeof c->digest);
    size_t np = a->n_pollsters, total = 0;
    c->configs = calloc(np ? np : 1, sizeof *c->configs);
    for (size_t i = 0; i < np; i++)
        total += pollster_meter_count(a->pollsters[i]);
    c->want = calloc(total ? total : 1, sizeof *c->want);
    plan->lists = calloc(np ? np : 1, sizeof *plan->lists);
    plan->want_off = calloc(np ? np : 1, sizeof *plan->want_off);
    plan->n = plan->lists ? np : 0;
    if (!c->meters || !c->sinks || !c->want || !c->params || !c->labels || !c->configs ||
        !plan->lists || !plan->want_off)
        goto fail;

    /* the tasks' labels point into this definition, which outlives its polls */
    pipeline_source d = *def;
    d.target_labels = c->labels;
    size_t base = 0;
    for (size_t i = 0; i < np; i++) {
        const pollster_plugin *pp = a->pollsters[i];
        size_t nm = pollster_meter_count(pp);
        bool *want = c->want + base;
        plan->want_off[i] = base;
        base += nm;
        if (!agent_ns_enabled(a, g, pp->desc->ns)) continue;
        bool any = false;
        for (size_t m = 0; m < nm; m++)
            any |= want[m] = pipeline_source_selects(def, pp->desc->meters[m]);
        if (!any && !(pp->desc->dynamic_meters && registry_pollster_selected(pp->desc, def)))
            continue;
        if (pp->configure) {
            char err[200] = "";
            if (pp->configure(c->params, c->n_params, &c->configs[i], err, sizeof err) != 0) {
                snprintf(derr, derrlen, "pollster %s: parameters: %s", pp->desc->name, err);
                c->configs[i] = NULL;
                continue; /* nothing to poll with: reported, not guessed */
            }
        }
        if (source_targets(s, &d, pp, &plan->lists[i], derr, derrlen) != 0) goto fail;
    }
    return c;
fail:
    conf_free(c);
    src_plan_free(plan);
    return NULL;
}

/* ---- tasks ---- */

/* The phase of a task: the partition module's frozen hash of
 * "source\0pollster\0target", so every member computes the same one. */
int64_t task_offset(const char *source, const char *pollster, const char *target,
                    int64_t interval_ms)
{
    size_t a = strlen(source) + 1, b = strlen(pollster) + 1, c = strlen(target);
    char small[512];
    char *key = a + b + c <= sizeof small ? small : malloc(a + b + c);
    if (!key) return 0; /* out of memory: phase 0 is still a valid phase */
    memcpy(key, source, a);
    memcpy(key + a, pollster, b);
    memcpy(key + a + b, target, c);
    uint64_t h = partition_hash64(key, a + b + c);
    if (key != small) free(key);
    return (int64_t)(h % (uint64_t)interval_ms);
}

static void task_free(task *k)
{
    if (k->state && k->pp->destroy) k->pp->destroy(k->state);
    free(k->target.id);
    free(k->target.resource);
    free(k);
}

static void task_free_posted(void *arg)
{
    task_free(arg);
}

void task_unref(task *k)
{
    if (!k || atomic_fetch_sub(&k->refs, 1) != 1) return;
    /* the last poll of a removed task may end on a pollster's own thread,
     * inside its completion: its state is destroyed on the loop instead */
    if (loop_post(k->src->a->loop, task_free_posted, k) != 0) task_free(k);
}

task *task_new(src_rt *s, size_t pp_index, size_t want_off, const poll_target *t,
               int64_t interval_ms)
{
    const pollster_plugin *pp = s->a->pollsters[pp_index];
    task *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->src = s;
    k->pp = pp;
    k->pp_index = pp_index;
    k->want_off = want_off;
    k->target.id = strdup(t->id);
    k->target.resource = strdup(t->resource);
    k->target.local = t->local;
    k->target.labels = t->labels;
    k->offset_ms = task_offset(s->name, pp->desc->name, t->id, interval_ms);
    loop_timer_init(&k->timer, task_fire, k);
    atomic_init(&k->busy, false);
    atomic_init(&k->refs, 1);
    if (!k->target.id || !k->target.resource) {
        task_free(k);
        return NULL;
    }
    if (pp->init) {
        char err[200] = "";
        if (pp->init(&k->target, &k->state, err, sizeof err) != 0) {
            snprintf(k->stats.last_error, sizeof k->stats.last_error, "init: %s", err);
            k->state = NULL;
        }
    }
    return k;
}

size_t src_plan_count(const src_plan *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += p->lists[i].n;
    return n;
}

/* ---- sources ---- */

static void src_free(src_rt *s)
{
    for (size_t i = 0; i < s->n_tasks; i++)
        task_unref(s->tasks[i]);
    free(s->tasks);
    src_conf_unref(s->conf);
    free(s->name);
    free(s);
}

void src_unref(src_rt *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) src_free(s);
}

src_rt *src_new(agent_group *g, const pipeline_source *def)
{
    agent *a = g->a;
    src_rt *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->a = a;
    s->g = g;
    atomic_init(&s->refs, 1);
    atomic_init(&s->inflight, 0);
    s->state = SRC_PENDING;
    s->generation = (int64_t)g->revision + 1; /* the revision being applied */
    loop_timer_init(&s->drain_timer, NULL, NULL);
    src_plan plan = {0};
    s->name = strdup(def->name);
    if (!s->name) goto fail;
    s->conf = src_conf_build(s, def, &plan, s->discovery_error, sizeof s->discovery_error);
    if (!s->conf) goto fail;
    size_t total = src_plan_count(&plan);
    s->tasks = calloc(total ? total : 1, sizeof *s->tasks);
    if (!s->tasks) goto fail;
    for (size_t i = 0; i < plan.n; i++)
        for (size_t t = 0; t < plan.lists[i].n; t++) {
            task *k = task_new(s, i, plan.want_off[i], &plan.lists[i].v[t], s->conf->interval_ms);
            if (!k) goto fail;
            s->tasks[s->n_tasks++] = k;
        }
    src_plan_free(&plan);
    return s;
fail:
    src_plan_free(&plan);
    src_free(s);
    return NULL;
}

int64_t task_next_due(int64_t now_wall, int64_t interval, int64_t offset)
{
    int64_t due = now_wall - now_wall % interval + offset;
    while (due <= now_wall)
        due += interval;
    return due;
}

void task_arm(task *k, int64_t now_wall, int64_t now_mono)
{
    loop_timer_at(k->src->a->loop, &k->timer, now_mono + (k->due_wall_ms - now_wall));
}

/* Starts a new source: each task at its first due instant from now (the
 * first poll of a new task is at its next instant, not at once). */
void src_start(src_rt *s)
{
    agent *a = s->a;
    s->state = SRC_RUNNING;
    int64_t now_wall = loop_wall_ms(), now_mono = loop_now_ms();
    for (size_t i = 0; i < s->n_tasks; i++) {
        task *k = s->tasks[i];
        k->due_wall_ms = task_next_due(now_wall, s->conf->interval_ms, k->offset_ms);
        task_arm(k, now_wall, now_mono);
    }
    if (s->discovery_error[0]) log_warn(&a->log, "scheduler", "%s", s->discovery_error);
    log_info(&a->log, "scheduler", "source %s started: %zu tasks every %" PRId64 " s", s->name,
             s->n_tasks, s->conf->interval_ms / 1000);
}

struct poll_call {
    task *k;
    src_conf *conf; /* the definition the poll was fired with */
    poll_env env;
    sample_batch *b;
    struct timespec t0;
};

bool poll_wants(const poll_env *env, const char *name)
{
    return pipeline_source_selects(env->selection, name);
}

const poll_target *poll_call_target(const poll_call *c)
{
    return &c->k->fired_target;
}

const poll_env *poll_call_env(const poll_call *c)
{
    return &c->env;
}

sample_batch *poll_call_batch(poll_call *c)
{
    return c->b;
}

/* Drops the samples of a dynamic-meter pollster the source does not select. */
static void select_dynamic(const src_conf *conf, sample_batch *b)
{
    size_t o = 0;
    const char *last = NULL; /* a scraped page lists a family's series together: ask once */
    bool keep = false;
    for (size_t i = 0; i < b->n; i++) {
        if (!last || strcmp(last, b->v[i].name) != 0)
            keep = pipeline_source_selects(&conf->selection, last = b->v[i].name);
        if (keep) b->v[o++] = b->v[i];
    }
    b->n = o;
}

/* A batch's sample_batch.owned (HTTP threads, rendering /metrics: they stop
 * before cluster_stop clears g->owns). */
static bool group_exports(void *ctx, const char *target, int64_t wall_ms)
{
    agent_group *g = ctx;
    return !g->owns || !g->cluster || cluster_exports(g->cluster, target, wall_ms);
}

/* A poll's end, run or not: the task may fire again (or, removed by a
 * revision meanwhile, go), the source may retire. */
static void call_release(task *k)
{
    src_rt *s = k->src;
    src_conf *conf = k->fired_conf;
    k->fired_conf = NULL; /* before busy clears: the next fire sets its own */
    atomic_store(&k->busy, false);
    src_conf_unref(conf);
    task_unref(k);
    if (atomic_fetch_sub(&s->inflight, 1) == 1 && s->state == SRC_DRAINING) {
        if (loop_post(s->a->loop, src_drained, s) == 0) return; /* the post keeps our ref */
    }
    src_unref(s);
}

/* Counts instants skipped (late, busy or missed) in the task's stats and
 * the pollster's self-metric. */
static void count_skipped(task *k, uint64_t n)
{
    agent *a = k->src->a;
    pthread_mutex_lock(&a->stats_mu);
    k->stats.skipped += n;
    pthread_mutex_unlock(&a->stats_mu);
    metrics_counter(a->m_poll_skipped[k->pp_index], (int64_t)n);
}

static void call_begin(task *k, poll_call *c)
{
    src_rt *s = k->src;
    agent *a = s->a;
    src_conf *conf = k->fired_conf;
    c->k = k;
    c->conf = conf;
    c->env = (poll_env){
        .host = a->cfg.host,
        .proc_root = a->cfg.proc_root,
        .want = conf->want + k->want_off,
        .now_ms = loop_wall_ms(),
        .process_state = a->pstate_poll[k->pp_index],
        .config = conf->configs[k->pp_index],
        .deadline_ms = loop_now_ms() + conf->interval_ms,
        .selection = &conf->selection,
        .allow = a->allow_targets,
    };
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    c->b = sample_batch_new(s->name, s->g->epoch, c->env.now_ms);
    if (c->b && !k->fired_target.local && s->g->owns) {
        c->b->target = sample_batch_strdup(c->b, k->fired_target.id);
        c->b->owned = group_exports;
        c->b->owned_ctx = s->g;
    }
}

/* The end of every poll, either form, on whichever thread finished it:
 * publish, account, release the task and the source. */
static void call_end(poll_call *c, int rc, const char *err)
{
    task *k = c->k;
    src_rt *s = k->src;
    agent *a = s->a;
    sample_batch *b = c->b;
    if (!err) err = "failed";
    if (b && k->pp->desc->dynamic_meters) select_dynamic(c->conf, b);
    size_t n = b ? b->n : 0;
    if (n) sinks_publish(s->g, c->conf->sinks, c->conf->n_sinks, b);
    sample_batch_unref(b);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    bool late = loop_now_ms() > c->env.deadline_ms;

    int64_t dur_us = (t1.tv_sec - c->t0.tv_sec) * 1000000 + (t1.tv_nsec - c->t0.tv_nsec) / 1000;
    pthread_mutex_lock(&a->stats_mu);
    k->stats.polls++;
    k->stats.last_poll_ms = c->env.now_ms;
    k->stats.last_duration_us = dur_us;
    k->stats.last_samples = n;
    if (rc != 0) {
        k->stats.errors++;
        k->stats.consecutive_errors++;
        snprintf(k->stats.last_error, sizeof k->stats.last_error, "%s", err);
    } else {
        k->stats.last_error[0] = 0;
        k->stats.last_success_ms = c->env.now_ms;
        k->stats.consecutive_errors = 0;
    }
    pthread_mutex_unlock(&a->stats_mu);
    metrics_timer(a->m_poll_ms[k->pp_index], (double)dur_us / 1000.0);
    metrics_counter(a->m_polls[k->pp_index], 1);
    if (rc != 0) metrics_counter(a->m_poll_errors[k->pp_index], 1);
    if (rc != 0)
        log_debug(&a->log, "poll", "%s/%s/%s: %s", s->name, k->pp->desc->name, k->target.id, err);
    if (late)
        log_warn(&a->log, "poll", "%s/%s/%s: finished after its deadline (%" PRId64 " ms)", s->name,
                 k->pp->desc->name, k->target.id, dur_us / 1000);

    call_release(k);
}

void poll_call_done(poll_call *c, int rc, const char *err)
{
    call_end(c, rc, err);
    free(c);
}

static void task_run(void *arg)
{
    task *k = arg;
    /* task_fire judged the instant on time, but the worker queue may have
     * held the poll since: one stamped more than half an interval after its
     * instant would read as a miss at t and two polls at t + 1 (the chaos
     * soak on a starved machine), and in a group the instant may have moved */
    src_rt *s = k->src;
    int64_t late = loop_wall_ms() - k->fired_due_ms;
    if (late > k->fired_conf->interval_ms / 2) {
        count_skipped(k, 1);
        log_info(&s->a->log, "scheduler", "%s/%s/%s: queued %lld ms past its instant, skipped",
                 s->name, k->pp->desc->name, k->target.id, (long long)late);
        call_release(k);
        return;
    }
    poll_call c;
    call_begin(k, &c);
    char err[200] = "";
    int rc = c.b ? k->pp->poll(k->state, &k->fired_target, &c.env, c.b, err, sizeof err) : -1;
    if (!c.b) snprintf(err, sizeof err, "out of memory");
    call_end(&c, rc, err);
}

/* Asynchronous form: starts on the loop thread; poll_call_done ends it. */
static void task_start(task *k)
{
    poll_call stack, *c = calloc(1, sizeof *c);
    call_begin(k, c ? c : &stack);
    if (!c || !c->b) {
        call_end(c ? c : &stack, -1, "out of memory");
        free(c);
        return;
    }
    k->pp->start(k->state, c);
}

static void task_fire(void *arg)
{
    task *k = arg;
    src_rt *s = k->src;
    agent *a = s->a;
    if (s->state != SRC_RUNNING) return;
    int64_t interval = s->conf->interval_ms;
    int64_t now_wall = loop_wall_ms(), now_mono = loop_now_ms();
    int64_t first = k->due_wall_ms;
    if (first > now_wall) { /* the monotonic timer ran ahead of the wall clock */
        task_arm(k, now_wall, now_mono);
        return;
    }
    while (k->due_wall_ms <= now_wall)
        k->due_wall_ms += interval;
    task_arm(k, now_wall, now_mono);
    /* the instant this poll belongs to: the latest one that has come; older
     * ones were missed (the loop was late by whole intervals) */
    int64_t due = k->due_wall_ms - interval;
    uint64_t missed = (uint64_t)((due - first) / interval);
    /* more than half an interval late (a frozen or starved agent): the
     * instant is gone, and in a group its new owner may have polled it */
    bool stale = now_wall - due > interval / 2;

    agent_group *g = s->g;
    if (!k->target.local && g->owns && !g->owns(g->owns_ctx, &k->target, due)) return;
    bool busy = atomic_load(&k->busy);
    if (busy || stale || missed) {
        uint64_t n = missed + (busy || stale ? 1 : 0);
        count_skipped(k, n);
        if (busy)
            log_debug(&a->log, "scheduler", "%s/%s/%s: previous poll still running, skipped",
                      s->name, k->pp->desc->name, k->target.id);
        else if (stale || missed)
            log_info(&a->log, "scheduler", "%s/%s/%s: %lld ms late, %llu instant(s) skipped",
                     s->name, k->pp->desc->name, k->target.id, (long long)(now_wall - first),
                     (unsigned long long)n);
        if (busy || stale) return;
    }
    atomic_store(&k->busy, true);
    k->fired_due_ms = due;
    k->fired_conf = s->conf;
    atomic_fetch_add(&s->conf->refs, 1);
    k->fired_target = k->target;
    atomic_fetch_add(&k->refs, 1);
    atomic_fetch_add(&s->inflight, 1);
    atomic_fetch_add(&s->refs, 1);
    if (k->pp->start) {
        task_start(k);
        return;
    }
    if (workers_submit(a->workers, task_run, k) != 0) call_release(k);
}

/* ---- retirement ---- */

static void src_finish(src_rt *s)
{
    agent *a = s->a;
    if (s->state == SRC_DEAD) return;
    s->state = SRC_DEAD;
    loop_timer_cancel(a->loop, &s->drain_timer);
    int left = atomic_load(&s->inflight);
    if (left)
        log_warn(&a->log, "scheduler",
                 "source %s: drain timeout, %d poll(s) still running are abandoned", s->name, left);
    group_list_remove(s->g, s);
    src_unref(s); /* the list's reference */
}

static void src_drained(void *arg)
{
    src_rt *s = arg;
    if (s->state == SRC_DRAINING && atomic_load(&s->inflight) == 0) src_finish(s);
    src_unref(s);
}

static void drain_timeout(void *arg)
{
    src_finish(arg);
}

void src_retire(src_rt *s)
{
    agent *a = s->a;
    for (size_t i = 0; i < s->n_tasks; i++)
        loop_timer_cancel(a->loop, &s->tasks[i]->timer);
    s->state = SRC_DRAINING;
    if (atomic_load(&s->inflight) == 0) {
        src_finish(s);
        return;
    }
    loop_timer_init(&s->drain_timer, drain_timeout, s);
    loop_timer_at(a->loop, &s->drain_timer, loop_now_ms() + (int64_t)a->cfg.drain_timeout * 1000);
}

/* ---- the source lists ---- */

void group_list_add(agent_group *g, src_rt *s)
{
    agent *a = g->a;
    pthread_mutex_lock(&a->mu);
    if (g->n_sources == g->cap_sources) {
        size_t cap = g->cap_sources ? g->cap_sources * 2 : 16;
        src_rt **nv = realloc(g->sources, cap * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&a->mu);
            log_error(&a->log, "scheduler", "out of memory adding source %s", s->name);
            return;
        }
        g->sources = nv;
        g->cap_sources = cap;
    }
    g->sources[g->n_sources++] = s;
    pthread_mutex_unlock(&a->mu);
}

void group_list_remove(agent_group *g, src_rt *s)
{
    pthread_mutex_lock(&g->a->mu);
    for (size_t i = 0; i < g->n_sources; i++)
        if (g->sources[i] == s) {
            memmove(&g->sources[i], &g->sources[i + 1], (g->n_sources - i - 1) * sizeof s);
            g->n_sources--;
            break;
        }
    pthread_mutex_unlock(&g->a->mu);
}

src_rt *group_find_source(agent_group *g, const char *name)
{
    for (size_t i = 0; i < g->n_sources; i++) {
        src_rt *s = g->sources[i];
        if ((s->state == SRC_RUNNING || s->state == SRC_PENDING) && !strcmp(s->name, name))
            return s;
    }
    return NULL;
}

void scheduler_shutdown(agent *a)
{
    for (size_t gi = 0; gi < a->n_groups; gi++) {
        agent_group *g = a->groups[gi];
        for (size_t i = 0; i < g->n_sources; i++) {
            src_rt *s = g->sources[i];
            for (size_t k = 0; k < s->n_tasks; k++)
                loop_timer_cancel(a->loop, &s->tasks[k]->timer);
            loop_timer_cancel(a->loop, &s->drain_timer);
            s->state = SRC_DEAD;
        }
    }
    /* asynchronous polls in flight end now (as errors), and publish */
    for (size_t i = 0; i < a->n_inited_poll; i++)
        if (a->pollsters[i]->process_cancel) a->pollsters[i]->process_cancel(a->pstate_poll[i]);
    /* in-flight polls finish and publish; nothing new is scheduled */
    workers_free(a->workers);
    a->workers = NULL;
    for (size_t gi = 0; gi < a->n_groups; gi++) {
        agent_group *g = a->groups[gi];
        pthread_mutex_lock(&a->mu);
        src_rt **list = g->sources;
        size_t n = g->n_sources;
        g->sources = NULL;
        g->n_sources = g->cap_sources = 0;
        pthread_mutex_unlock(&a->mu);
        for (size_t i = 0; i < n; i++)
            src_unref(list[i]);
        free(list);
    }
}
