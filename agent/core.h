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
 *   - HTTP handlers run on the API server's threads (httpd/) and only read, under `mu`/`stats_mu`,
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
typedef struct agent_group agent_group;
typedef struct sink_state sink_state;

typedef struct task_stats {
    uint64_t polls, errors, skipped;
    int64_t last_poll_ms; /* wall clock of the last poll start, 0 never */
    int64_t last_duration_us;
    size_t last_samples;
    char last_error[200];
    int64_t last_success_ms;     /* wall clock of the last poll that succeeded, 0 never */
    uint64_t consecutive_errors; /* failed polls since the last success */
} task_stats;

/*
 * What a source's polls read of its definition. A revision that changes the
 * source swaps in a new one (the source and its tasks stay); each poll holds
 * a reference to the one it was fired with, so a poll in flight finishes
 * with the definition it started under. Immutable once published.
 */
typedef struct src_conf {
    atomic_int refs;
    struct agent *a;
    int64_t interval_ms;
    char **meters, **sinks;
    size_t n_meters, n_sinks;
    pipeline_param *params; /* `parameters:` */
    size_t n_params;
    pipeline_param *labels; /* `target_labels:`; tasks' target.labels point here */
    size_t n_labels;
    unsigned char digest[32];
    pipeline_source selection; /* meters only (points at `meters`): for poll_wants */
    void **configs;            /* per agent pollster: what its configure() made of params */
    bool *want;                /* per (pollster, meter), flattened */
} src_conf;

typedef struct task {
    loop_timer timer;
    src_rt *src;
    const pollster_plugin *pp;
    size_t pp_index; /* into agent.pollsters, for per-pollster self-metrics */
    size_t want_off; /* this pollster's meters in src_conf.want */
    poll_target target;
    void *state;
    int64_t offset_ms;   /* stable phase within the interval */
    int64_t due_wall_ms; /* next due instant, wall clock */
    /* what the poll in flight was fired with: written by task_fire before
     * the hand-off to a worker, read by that worker (busy keeps them
     * stable), so a revision applied meanwhile changes none of it */
    int64_t fired_due_ms;
    src_conf *fired_conf; /* a reference */
    poll_target fired_target;
    atomic_int refs; /* the source's task list, and the poll in flight */
    atomic_bool busy;
    task_stats stats; /* under agent.stats_mu */
} task;

typedef enum { SRC_PENDING, SRC_RUNNING, SRC_DRAINING, SRC_DEAD } src_state;

struct src_rt {
    struct agent *a;
    agent_group *g;
    atomic_int refs;
    atomic_int state;    /* src_state; written by the loop thread only */
    atomic_int inflight; /* polls queued or running */
    int64_t generation;  /* revision number that created it */
    char *name;
    src_conf *conf; /* the definition in force: loop thread; others under a->mu */
    task **tasks;   /* changed by the loop thread under a->mu */
    size_t n_tasks;
    loop_timer drain_timer;
    char discovery_error[256];
    /* counts of the tasks a revision removed (under agent.stats_mu): the
     * source's totals stay monotonic counters when its targets change */
    uint64_t gone_polls, gone_errors, gone_skipped;
};

/*
 * A group: one running pipeline. Standalone, the agent has one ("local",
 * fed by the pipeline file, every enabled namespace). In cluster mode it has
 * one per namespace, each fed by its ZooKeeper group's revisions and
 * restricted to that namespace's pollsters, with its own slot table.
 */
struct agent_group {
    struct agent *a;
    char name[64];            /* "local", or the ZooKeeper group */
    char ns[64];              /* namespace filter; "" = every enabled namespace */
    char pipeline_path[4096]; /* standalone: the file ("" = embedded default) */
    pipeline *pipe;           /* loop thread; read by HTTP under a->mu */
    uint64_t revision;        /* standalone: applied count; cluster: ZooKeeper number */
    char revision_sha[65];    /* cluster: the revision's sha256 (of its body) */
    int64_t applied_ms;
    char pipeline_error[2048]; /* why the last revision was refused; "" if it was not */
    int64_t pipeline_error_ms;
    uint64_t reloads, reload_failures;
    int64_t last_apply_us;
    src_rt **sources; /* under a->mu */
    size_t n_sources, cap_sources;
    sink_state *sinks; /* sinks.c */
    unsigned char file_sha[32];
    /* which non-local targets this member polls at a due instant (NULL: all) */
    bool (*owns)(void *ctx, const poll_target *t, int64_t due_wall_ms);
    void *owns_ctx;
    uint64_t epoch;
    struct cluster_group *cluster; /* cluster.c; NULL standalone */
};

#define AGENT_MAX_GROUPS 8

struct agent {
    agent_config cfg;
    logger log;
    loop *loop;
    workers *workers;
    publisher_options pub_opt;
    bool handle_signals;
    int signal_fd;

    /* plugins: built-ins plus what tests register */
    const pollster_plugin *pollsters[64];
    size_t n_pollsters;
    const discovery_plugin *discoveries[32];
    size_t n_discoveries;
    registry_options *popt; /* what pipeline_parse knows of these plugins (agent_start) */
    /* process hooks (plugins.c): contexts and states, by pollster / publisher index */
    secrets secrets;
    plugin_ctx pctx_poll[64], pctx_pub[16];
    void *pstate_poll[64], *pstate_pub[16];
    size_t n_inited_poll, n_inited_pub; /* process_init done for the first n */

    agent_group *groups[AGENT_MAX_GROUPS];
    size_t n_groups;

    pthread_mutex_t mu;       /* every group's source list and pipeline fields */
    pthread_mutex_t stats_mu; /* per-task statistics */

    /* standalone reload (reload.c): watches groups[0]'s file */
    int inotify_fd, inotify_wd;
    loop_timer reload_timer;

    /* self-metrics (docs/METRICS.md): handles registered once at start */
    metrics_registry *mx;
    metrics_metric *m_poll_ms[64], *m_polls[64], *m_poll_errors[64], *m_poll_skipped[64];
    metrics_metric *m_reloads, *m_reload_refused, *m_reload_apply_ms;
    metrics_logger *mx_publisher;
    metrics_metric *m_workers_queued, *m_workers_busy; /* gauges, every 10 s */
    loop_timer metrics_timer;

    /* cluster mode (cluster.c); NULL standalone */
    void *cluster_state;
    /* [polling] allow_targets, [publisher] allow (allow.h; NULL: unset) */
    struct allow_list *allow_targets, *allow_publishers;
    loop_timer cluster_timer;

    /* HTTP API (http_api.c) */
    void *http;
    int api_port;
};

/* agent.c */
int agent_add_pollster(agent *a, const pollster_plugin *p);
int agent_add_discovery(agent *a, const discovery_plugin *d);
/* Creates the agent without loading a pipeline (tests add plugins first). */
agent *agent_new_bare(const agent_config *cfg, char *err, size_t errlen);
/* Loads the pipeline(s) and starts publishers, sources and the API. */
int agent_start(agent *a, char *err, size_t errlen);
/* Adds a group (loop thread or before start). NULL on ENOMEM or too many. */
agent_group *agent_group_add(agent *a, const char *name, const char *ns);
bool agent_ns_enabled(const agent *a, const agent_group *g, const char *ns);

/* scheduler.c (loop thread unless noted) */
src_rt *src_new(agent_group *g, const pipeline_source *def);
void src_start(src_rt *s);
/* Applies a changed definition of the same source in place: the targets
 * that stay keep their task (phase, state, statistics), added ones start,
 * removed ones stop at once (a poll in flight finishes). 0, or -1 out of
 * memory (the old definition keeps running). */
int src_update(src_rt *s, const pipeline_source *def);
/* Stops scheduling; the source leaves the list once in-flight polls finish
 * or the drain timeout passes. */
void src_retire(src_rt *s);
void src_unref(src_rt *s);
src_rt *group_find_source(agent_group *g, const char *name); /* running or pending */
void group_list_add(agent_group *g, src_rt *s);
void group_list_remove(agent_group *g, src_rt *s);
/* Stops everything (shutdown): no new polls; waits for in-flight ones. */
void scheduler_shutdown(agent *a);
/* Status JSON fragments (any thread; take mu and stats_mu). */
void scheduler_status_json(agent_group *g, strbuf *out);
void scheduler_targets_json(agent *a, strbuf *out);

/* sinks.c */
int sinks_init(agent_group *g);
/* Applies a new pipeline's sinks (unchanged ones keep their publishers). */
int sinks_apply(agent_group *g, const pipeline *p, char *err, size_t errlen);
/* Publishes a batch to the named sinks (any thread). */
void sinks_publish(agent_group *g, char *const *names, size_t n, sample_batch *b);
void sinks_render(agent *a, strbuf *out);
void sinks_status_json(agent_group *g, strbuf *out);
void sinks_reopen(agent *a);

/* plugins.c: secrets, then every plugin's process_init (agent_start); the
 * shutdown hooks in reverse (agent_free). */
int plugins_process_init(agent *a, char *err, size_t errlen);
/* /v1/status' "pollsters" object: each pollster's status_json, by name. */
void plugins_status_json(agent *a, strbuf *out);
void plugins_process_shutdown(agent *a);

/* metrics_page.c: the whole /metrics page (any thread); api: the API
 * server's counters (meterd_api_*), NULL when it has none. */
struct httpd_stats;
void metrics_page_render(agent *a, const struct httpd_stats *api, strbuf *out);
void sinks_shutdown(agent_group *g); /* flush and close everything */
/* Sends per-publisher deltas (published, dropped, failures) as counters. */
void sinks_emit_metrics(agent *a);
/* Appends /health reasons (JSON strings) for g's failing or dropping
 * publishers after n earlier ones; returns the new count. Any thread. */
int sinks_health(agent_group *g, strbuf *out, int n);

/* reload.c */
/* Standalone: loads groups[0]'s file and watches it. */
int reload_init(agent *a, char *err, size_t errlen);
/* Loads, validates and applies g's file (loop thread). 0 applied or
 * unchanged; -1 refused (g->pipeline_error says why, old one keeps running). */
int reload_now(agent_group *g, const char *why);
/* Parses a revision body; on error records it as refused and returns NULL. */
pipeline *reload_parse(agent_group *g, const char *buf, size_t len, const char *name);
/* Applies a parsed pipeline by diff. Takes p. 0, or -1 refused. */
int reload_apply(agent_group *g, pipeline *p);
/* Records a refused revision (log, /health, counters). */
void reload_refuse(agent_group *g, const char *msg);
void reload_shutdown(agent *a);

/* cluster.c (and cluster_*.c, see cluster_int.h) */
/* Joins one ZooKeeper group per enabled namespace when [coordination]
 * backend_url is set; 0 (also when not configured) or -1 with err. */
int cluster_start(agent *a, char *err, size_t errlen);
bool cluster_enabled(const agent *a);
/* Whether this member exports target's series at wall_ms (cluster_table.c;
 * any thread): it owns it under the table in force, its session allows. */
bool cluster_exports(struct cluster_group *cg, const char *target, int64_t wall_ms);
void cluster_status_json(agent_group *g, strbuf *out);
/* Reasons the cluster makes this agent degraded (JSON strings, comma-led). */
int cluster_health(agent *a, strbuf *out, int n);
/* Appends /ready reasons (JSON strings) for groups not yet serving. */
int cluster_ready(agent *a, strbuf *out, int n);
/* http_api.c: every /ready reason (JSON strings, comma-separated); 0 = ready. */
int agent_ready_reasons(agent *a, strbuf *reasons);
/* SIGTERM: starts a planned leave (cluster_leave.c) that stops the loop once
 * handed over; false when there is none to make (standalone, or a second
 * signal): stop at once. */
bool cluster_leave(agent *a);
/* insecure = true in [coordination]: a field of /health and /v1/status. */
bool cluster_insecure(const agent *a);
void cluster_stop(agent *a); /* leaves the groups; events still queued are dropped */
void cluster_free(agent *a); /* after the loop is freed */

/* http_api.c */
int http_api_start(agent *a, char *err, size_t errlen);
void http_api_stop(agent *a);

#endif
