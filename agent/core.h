/*
 * core.h (internal to agent/): the agent's top-level context and the
 * interfaces between its files. This is the only place meterd keeps mutable
 * process state: one `struct agent`, owned by main().
 *
 * Threads and who owns what:
 *   - the loop thread (agent_run) owns the pipeline, the source runtimes and
 *     their timers; it mutates the source list under `mu`, which HTTP threads
 *     take to read status;
 *   - worker threads run polls; a task's `busy` flag guarantees one poll per
 *     task at a time, so pollster state needs no lock; per-task statistics are
 *     written under `stats_mu`;
 *   - publishers run on their own threads (publisher.c);
 *   - HTTP handlers run on nng's threads and only read, under `mu`/`stats_mu`,
 *     or post requests to the loop.
 */
#ifndef METERD_AGENT_CORE_H
#define METERD_AGENT_CORE_H

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "agent/pollster.h"
#include "agent/publisher.h"
#include "agent/workers.h"
#include "metrics/metrics.h"
#include "pipeline/pipeline.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct src_rt src_rt;
typedef struct sink_state sink_state;

typedef struct task_stats {
    uint64_t polls, errors, skipped;
    int64_t last_poll_ms; /* wall clock of the last poll start, 0 never */
    int64_t last_duration_us;
    size_t last_samples;
    char last_error[200];
} task_stats;

typedef struct task {
    loop_timer timer;
    src_rt *src;
    const pollster_plugin *pp;
    size_t pp_index;  /* into agent.pollsters, for per-pollster self-metrics */
    const bool *want; /* into src->want, for pp */
    poll_target target;
    void *state;
    int64_t offset_ms;   /* stable phase within the interval */
    int64_t due_wall_ms; /* next due instant, wall clock */
    atomic_bool busy;
    task_stats stats; /* under agent.stats_mu */
} task;

typedef enum { SRC_PENDING, SRC_RUNNING, SRC_DRAINING, SRC_DEAD } src_state;

struct src_rt {
    struct agent *a;
    atomic_int refs;
    atomic_int state;    /* src_state; written by the loop thread only */
    atomic_int inflight; /* polls queued or running */
    int64_t generation;  /* revision number that created it */
    /* own copy of the definition: survives the pipeline it came from */
    char *name;
    int64_t interval_ms;
    char **meters, **sinks;
    size_t n_meters, n_sinks;
    unsigned char digest[32];
    /* runtime */
    bool *want; /* per (pollster, meter), flattened */
    task **tasks;
    size_t n_tasks;
    src_rt *successor; /* changed source: starts once this one drained */
    loop_timer drain_timer;
    char discovery_error[256];
};

struct agent {
    agent_config cfg;
    logger log;
    loop *loop;
    workers *workers;
    publisher_options pub_opt;
    bool handle_signals;
    int signal_fd;
    atomic_bool stopping;

    /* plugins: built-ins plus what tests register */
    const pollster_plugin *pollsters[64];
    size_t n_pollsters;
    const discovery_plugin *discoveries[32];
    size_t n_discoveries;
    const char **known_meters;
    size_t n_known_meters;

    /* pipeline (loop thread) */
    char pipeline_path[4096]; /* "" = embedded default */
    pipeline *pipe;
    uint64_t revision; /* applied revisions, 1 = the first */
    int64_t applied_ms;
    char pipeline_error[2048]; /* why the last revision was refused; "" if it was not */
    int64_t pipeline_error_ms;
    uint64_t reloads, reload_failures;
    int64_t last_apply_us;

    pthread_mutex_t mu; /* the source list, pipeline fields read by HTTP */
    src_rt **sources;
    size_t n_sources, cap_sources;

    pthread_mutex_t stats_mu;

    sink_state *sinks; /* sinks.c */

    /* reload (reload.c) */
    int inotify_fd, inotify_wd;
    loop_timer reload_timer;
    unsigned char file_sha[32];

    /* cluster hook: which non-local targets this member owns (NULL: all) */
    bool (*owns)(void *ctx, const poll_target *t);
    void *owns_ctx;
    uint64_t epoch;

    /* self-metrics (docs/METRICS.md): handles registered once at start */
    metrics_registry *mx;
    metrics_metric *m_poll_ms[64], *m_polls[64], *m_poll_errors[64], *m_poll_skipped[64];
    metrics_metric *m_reloads, *m_reload_refused, *m_reload_apply_ms;
    metrics_logger *mx_publisher;
    loop_timer metrics_timer;

    /* HTTP API (http_api.c) */
    void *http;
    int api_port;
};

/* agent.c */
int agent_add_pollster(agent *a, const pollster_plugin *p);
int agent_add_discovery(agent *a, const discovery_plugin *d);
/* Creates the agent without loading a pipeline (tests add plugins first). */
agent *agent_new_bare(const agent_config *cfg, char *err, size_t errlen);
/* Loads the pipeline and starts publishers, sources and the API. */
int agent_start(agent *a, char *err, size_t errlen);

/* scheduler.c (loop thread unless noted) */
src_rt *src_new(agent *a, const pipeline_source *def);
void src_start(src_rt *s);
/* Stops scheduling; calls successor's start once in-flight polls finish or
 * the drain timeout passes. */
void src_retire(src_rt *s, src_rt *successor);
void src_unref(src_rt *s);
src_rt *agent_find_source(agent *a, const char *name); /* running or pending */
void agent_list_add(agent *a, src_rt *s);
void agent_list_remove(agent *a, src_rt *s);
/* Stops everything (shutdown): no new polls; waits for in-flight ones. */
void scheduler_shutdown(agent *a);
/* Status JSON fragments (any thread; takes mu and stats_mu). */
void scheduler_status_json(agent *a, strbuf *out);
void scheduler_targets_json(agent *a, strbuf *out);
void scheduler_metrics_text(agent *a, strbuf *out);

/* sinks.c */
int sinks_init(agent *a);
/* Applies a new pipeline's sinks (unchanged ones keep their publishers). */
int sinks_apply(agent *a, const pipeline *p, char *err, size_t errlen);
/* Publishes a batch to the named sinks (any thread). */
void sinks_publish(agent *a, char *const *names, size_t n, sample_batch *b);
void sinks_render(agent *a, strbuf *out);
void sinks_status_json(agent *a, strbuf *out);
void sinks_reopen(agent *a);
void sinks_shutdown(agent *a); /* flush and close everything */
/* Sends per-publisher deltas (published, dropped, failures) as counters. */
void sinks_emit_metrics(agent *a);

/* reload.c */
int reload_init(agent *a, char *err, size_t errlen);
/* Loads, validates and applies the pipeline (loop thread). 0 applied or
 * unchanged; -1 refused (a->pipeline_error says why, old one keeps running). */
int reload_now(agent *a, const char *why);
/* Applies an already parsed pipeline (cluster mode hands it over). Takes p. */
int reload_apply(agent *a, pipeline *p);
void reload_shutdown(agent *a);

/* http_api.c */
int http_api_start(agent *a, char *err, size_t errlen);
void http_api_stop(agent *a);

#endif
