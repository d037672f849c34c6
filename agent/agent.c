/*
 * agent.c: the agent's life cycle: create, start, run, stop, free.
 *
 * Start order: logger, loop, workers, sinks, pipeline (which opens
 * publishers and starts sources), HTTP API. Stop order is the reverse, and
 * it is what makes SIGTERM lose nothing already polled: sources stop being
 * scheduled, in-flight polls finish and publish, then every publisher drains
 * its queue (bounded by flush_timeout) before it closes. In cluster mode
 * SIGTERM first hands this member's share over (cluster_leave.c), polling
 * meanwhile, so that a planned leave loses no instant either.
 *
 * Signals are taken synchronously through a signalfd on the loop, so no
 * handler runs in signal context and no global flag is needed.
 */
#include "agent/allow.h"
#include "agent/core.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#ifndef METERD_VERSION
#define METERD_VERSION "0.0.0"
#endif

const char *agent_version(void)
{
    return METERD_VERSION;
}

int agent_add_pollster(agent *a, const pollster_plugin *p)
{
    /* once: a second row would give every target of its meters a second
     * task with a process state of its own, so each target was polled twice
     * at once and the pollster's per-process guards (one read per BMC,
     * ipmi's failing_workers) each saw half of them */
    for (size_t i = 0; i < a->n_pollsters; i++)
        if (a->pollsters[i] == p) return 0;
    if (a->n_pollsters >= sizeof a->pollsters / sizeof a->pollsters[0]) return -1;
    a->pollsters[a->n_pollsters++] = p;
    return 0;
}

int agent_add_discovery(agent *a, const discovery_plugin *d)
{
    if (a->n_discoveries >= sizeof a->discoveries / sizeof a->discoveries[0]) return -1;
    a->discoveries[a->n_discoveries++] = d;
    return 0;
}

/* [metrics] options go to the metrics library; errors name the config line. */
static int metrics_setup(agent *a, char *err, size_t errlen)
{
    metrics_config mc;
    metrics_config_init(&mc);
    snprintf(mc.host_name, sizeof mc.host_name, "%s", a->cfg.host);
    for (int i = 0; i < a->cfg.n_extra; i++) {
        const config_kv *kv = &a->cfg.extra[i];
        if (strcmp(kv->section, "metrics") != 0) continue;
        char msg[300];
        if (metrics_config_set(&mc, kv->key, kv->value, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "%s:%d: %s", a->cfg.path[0] ? a->cfg.path : "config", kv->line,
                     msg);
            return -1;
        }
    }
    a->mx = metrics_registry_create(&mc, err, errlen);
    return a->mx ? 0 : -1;
}

/* Handles for what the agent reports about itself (docs/METRICS.md). */
static int metrics_handles(agent *a, char *err, size_t errlen)
{
    metrics_logger *poll = metrics_get_logger_ex(a->mx, "meterd.agent.poll", err, errlen);
    metrics_logger *rl = metrics_get_logger_ex(a->mx, "meterd.agent.reload", err, errlen);
    a->mx_publisher = metrics_get_logger_ex(a->mx, "meterd.agent.publish", err, errlen);
    if (!poll || !rl || !a->mx_publisher) return -1;
    for (size_t i = 0; i < a->n_pollsters; i++) {
        char base[128], name[160];
        metrics_sanitize_name(a->pollsters[i]->desc->name, base, sizeof base);
        snprintf(name, sizeof name, "%s.duration", base);
        a->m_poll_ms[i] = metrics_timer_get(poll, name, err, errlen);
        snprintf(name, sizeof name, "%s.runs", base);
        a->m_polls[i] = metrics_counter_get(poll, name, err, errlen);
        snprintf(name, sizeof name, "%s.errors", base);
        a->m_poll_errors[i] = metrics_counter_get(poll, name, err, errlen);
        snprintf(name, sizeof name, "%s.skipped", base);
        a->m_poll_skipped[i] = metrics_counter_get(poll, name, err, errlen);
        if (!a->m_poll_ms[i] || !a->m_polls[i] || !a->m_poll_errors[i] || !a->m_poll_skipped[i])
            return -1;
    }
    a->m_reloads = metrics_counter_get(rl, "count", err, errlen);
    a->m_reload_refused = metrics_counter_get(rl, "rejected", err, errlen);
    a->m_reload_apply_ms = metrics_timer_get(rl, "apply", err, errlen);
    metrics_logger *wk = metrics_get_logger_ex(a->mx, "meterd.agent.workers", err, errlen);
    if (!wk) return -1;
    a->m_workers_queued = metrics_gauge_get(wk, "queued", err, errlen);
    a->m_workers_busy = metrics_gauge_get(wk, "busy", err, errlen);
    return a->m_reloads && a->m_reload_refused && a->m_reload_apply_ms && a->m_workers_queued &&
                   a->m_workers_busy
               ? 0
               : -1;
}

static void on_metrics_timer(void *arg)
{
    agent *a = arg;
    sinks_emit_metrics(a);
    metrics_gauge(a->m_workers_queued, (double)workers_queued(a->workers));
    metrics_gauge(a->m_workers_busy, (double)workers_busy(a->workers));
    loop_timer_at(a->loop, &a->metrics_timer, loop_now_ms() + 10000);
}

agent *agent_new_bare(const agent_config *cfg, char *err, size_t errlen)
{
    agent *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    a->signal_fd = -1;
    a->inotify_fd = -1;
    a->api_port = -1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->stats_mu, NULL);
    if (log_open(&a->log, cfg->log_file, (log_level)log_level_parse(cfg->log_level), err, errlen) !=
        0) {
        pthread_mutex_destroy(&a->mu);
        pthread_mutex_destroy(&a->stats_mu);
        free(a);
        return NULL;
    }
    config_publisher_options(cfg, &a->pub_opt);
    if (metrics_setup(a, err, errlen) != 0) {
        log_close(&a->log);
        pthread_mutex_destroy(&a->mu);
        pthread_mutex_destroy(&a->stats_mu);
        free(a);
        return NULL;
    }
    a->inotify_fd = -1;
    loop_timer_init(&a->reload_timer, NULL, NULL);
    loop_timer_init(&a->metrics_timer, NULL, NULL);
    loop_timer_init(&a->cluster_timer, NULL, NULL);
    for (int i = 0; builtin_pollsters[i]; i++)
        agent_add_pollster(a, builtin_pollsters[i]);
    for (int i = 0; builtin_discoveries[i]; i++)
        agent_add_discovery(a, builtin_discoveries[i]);
    a->loop = loop_new();
    a->workers = workers_new((size_t)cfg->workers);
    if (!a->loop || !a->workers) {
        snprintf(err, errlen, "cannot create the event loop or workers (out of resources)");
        agent_free(a);
        return NULL;
    }
    return a;
}

/* The meters of the pollsters this agent runs (tests add theirs) and every
 * publisher scheme: the same registry rows meterctl validates with. */
static int build_pipeline_options(agent *a)
{
    const registry_pollster *desc[sizeof a->pollsters / sizeof a->pollsters[0]];
    for (size_t i = 0; i < a->n_pollsters; i++)
        desc[i] = a->pollsters[i]->desc;
    free(a->popt);
    a->popt = malloc(sizeof *a->popt);
    if (!a->popt) return -1;
    return registry_pipeline_options(a->popt, desc, a->n_pollsters);
}

agent_group *agent_group_add(agent *a, const char *name, const char *ns)
{
    if (a->n_groups >= AGENT_MAX_GROUPS) return NULL;
    agent_group *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->a = a;
    snprintf(g->name, sizeof g->name, "%s", name);
    snprintf(g->ns, sizeof g->ns, "%s", ns ? ns : "");
    if (sinks_init(g) != 0) {
        free(g);
        return NULL;
    }
    pthread_mutex_lock(&a->mu);
    a->groups[a->n_groups++] = g;
    pthread_mutex_unlock(&a->mu);
    return g;
}

static bool in_list(const char *list, const char *item)
{
    size_t len = strlen(item);
    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if ((size_t)(e - p) == len && strncmp(p, item, len) == 0) return true;
        p = e;
    }
    return false;
}

bool agent_ns_enabled(const agent *a, const agent_group *g, const char *ns)
{
    if (g->ns[0]) return strcmp(g->ns, ns) == 0;
    return in_list(a->cfg.namespaces, ns);
}

static void on_signal(void *arg, int fd, uint32_t events)
{
    (void)events;
    agent *a = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            log_info(&a->log, "agent", "SIGHUP: reopening logs and files, reloading pipeline");
            log_reopen(&a->log);
            sinks_reopen(a);
            if (!cluster_enabled(a)) { /* cluster groups follow ZooKeeper, not files */
                memset(a->groups[0]->file_sha, 0, 32); /* reload even if the bytes match */
                reload_now(a->groups[0], "SIGHUP");
            }
        } else if (cluster_leave(a)) { /* the loop stops once our share is handed over */
            log_info(&a->log, "agent", "signal %u: shutting down after a planned leave",
                     si.ssi_signo);
        } else {
            log_info(&a->log, "agent", "signal %u: shutting down", si.ssi_signo);
            loop_stop(a->loop);
        }
    }
}

int agent_start(agent *a, char *err, size_t errlen)
{
    if (allow_load(a, err, errlen) != 0) return -1;
    if (build_pipeline_options(a) != 0) {
        snprintf(err, errlen, "out of memory, or more than %d meters in the pollster tables",
                 REGISTRY_MAX_METERS);
        return -1;
    }
    if (plugins_process_init(a, err, errlen) != 0) return -1;
    if (metrics_handles(a, err, errlen) != 0) return -1;
    loop_timer_init(&a->metrics_timer, on_metrics_timer, a);
    if (metrics_registry_backend(a->mx) != METRICS_BACKEND_NOOP)
        loop_timer_at(a->loop, &a->metrics_timer, loop_now_ms() + 10000);
    if (a->handle_signals) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        a->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (a->signal_fd < 0 || loop_add_fd(a->loop, a->signal_fd, EPOLLIN, on_signal, a) != 0) {
            snprintf(err, errlen, "cannot watch signals");
            return -1;
        }
    }
    if (cluster_enabled(a)) {
        if (cluster_start(a, err, errlen) != 0) return -1;
    } else {
        agent_group *g = agent_group_add(a, "local", NULL);
        if (!g) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        snprintf(g->pipeline_path, sizeof g->pipeline_path, "%s", a->cfg.cfg_file);
        if (reload_init(a, err, errlen) != 0) return -1;
    }
    if (http_api_start(a, err, errlen) != 0) return -1;
    log_info(&a->log, "agent", "meterd %s started on %s, namespaces %s, %s", agent_version(),
             a->cfg.host, a->cfg.namespaces,
             cluster_enabled(a)   ? "cluster mode"
             : a->cfg.cfg_file[0] ? a->cfg.cfg_file
                                  : "embedded default pipeline");
    return 0;
}

agent *agent_new(const agent_options *opt, char *err, size_t errlen)
{
    agent_config cfg;
    config_defaults(&cfg);
    if (opt->config_path && config_load(&cfg, opt->config_path, err, errlen) != 0) return NULL;
    if (opt->namespaces) {
        char msg[300];
        if (config_namespaces_check(opt->namespaces, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "--namespaces: %s", msg);
            return NULL;
        }
        snprintf(cfg.namespaces, sizeof cfg.namespaces, "%s", opt->namespaces);
    }
    if (opt->pipeline) snprintf(cfg.cfg_file, sizeof cfg.cfg_file, "%s", opt->pipeline);
    if (opt->handle_signals) {
        /* before any thread exists, so every thread inherits the mask */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    agent *a = agent_new_bare(&cfg, err, errlen);
    if (!a) return NULL;
    a->handle_signals = opt->handle_signals;
    if (agent_start(a, err, errlen) != 0) {
        agent_free(a);
        return NULL;
    }
    return a;
}

int agent_run(agent *a)
{
    return loop_run(a->loop);
}

void agent_stop(agent *a)
{
    loop_stop(a->loop);
}

static void do_reload(void *arg)
{
    agent *a = arg;
    if (cluster_enabled(a) || !a->n_groups) return;
    memset(a->groups[0]->file_sha, 0, 32);
    reload_now(a->groups[0], "requested");
}

void agent_request_reload(agent *a)
{
    loop_post(a->loop, do_reload, a);
}

int agent_api_port(const agent *a)
{
    return a->api_port;
}

void agent_free(agent *a)
{
    if (!a) return;
    http_api_stop(a);
    cluster_stop(a); /* leave the groups (after a planned leave: already handed over) */
    if (a->loop) scheduler_shutdown(a); /* joins the workers: polls finish and publish */
    workers_free(a->workers);
    if (a->mx) sinks_emit_metrics(a); /* last deltas before they close */
    for (size_t i = 0; i < a->n_groups; i++)
        sinks_shutdown(a->groups[i]); /* publishers drain, then close */
    if (a->loop) loop_timer_cancel(a->loop, &a->metrics_timer);
    metrics_registry_destroy(a->mx); /* flushes the statsd buffer */
    if (a->loop) reload_shutdown(a);
    if (a->signal_fd >= 0) close(a->signal_fd);
    loop_free(a->loop); /* runs what was posted: cluster events see `stopped` */
    cluster_free(a);
    plugins_process_shutdown(a); /* after every poll and publisher is gone */
    allow_list_free(a->allow_targets);
    allow_list_free(a->allow_publishers);
    for (size_t i = 0; i < a->n_groups; i++)
        free(a->groups[i]);
    free(a->popt);
    log_info(&a->log, "agent", "stopped");
    log_close(&a->log);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->stats_mu);
    free(a);
}
