/*
 * pollster.h (internal to agent/): pollster and discovery plugin tables.
 *
 * As in collectd, a plugin is one table; the core never knows a plugin by
 * name. What a plugin is (name, namespace, meters, default discovery) is its
 * descriptor in registry/, which meterctl reads too; the runtime row here
 * points at it and adds the code. A pollster provides a fixed list of meters and polls one target
 * at a time; the core hands it `want[i]` for each of its meters (the source's selection, computed
 * once per source, not per poll) so it skips work for meters nobody asked for. A discovery plugin
 * turns a source's `discovery:` entry ("name" or "name:param", as in Ceilometer) into targets.
 * Targets marked `local` belong to this host (its own PSI, its cgroups, its BMC) and are never
 * partitioned across a group; the others are hashed into slots.
 *
 * Two forms of poll (docs/POLLSTERS.md, "The contract"):
 *   - poll(): synchronous, on one of the agent's worker threads; for cheap
 *     local reads (procfs) that never wait on a network;
 *   - start(): asynchronous, called on the agent's loop thread; it must not
 *     block. It begins the work (a libcurl easy handle added to a
 *     curl_engine, curl_api.h) and returns; whoever finishes it calls
 *     poll_call_done() exactly once, from any thread, at the latest by
 *     env->deadline_ms (the core does not cancel a late poll; it counts it).
 * A row sets exactly one of them.
 *
 * A source's `parameters:` (validated against the pollster's registry row)
 * reach the pollster as a config: configure() turns them into whatever the
 * pollster wants (parsed once per definition of the source, shared
 * read-only by its targets and polls, kept until the last poll that used it
 * ends); env->config is that. Per-target state (init/destroy) survives a
 * change of its source: a target that stays in a changed source keeps its
 * task and state (baselines, backoff), as an unchanged source does.
 *
 * Meters: want[] covers the row's fixed meters. A row with dynamic_meters
 * ("scrape.*") also emits names only known at poll time; poll_wants() says
 * whether the source selects one (skip the work), and the core drops any
 * emitted sample the source does not select before publishing.
 */
#ifndef METERD_AGENT_POLLSTER_H
#define METERD_AGENT_POLLSTER_H

#include "agent/plugin.h"
#include "agent/sample.h"
#include "registry/registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct poll_target {
    char *id;       /* stable id, the partitioning key ("host-a", "ipmi://bmc-1") */
    char *resource; /* resource id written into samples */
    bool local;     /* of this host: always polled here, never partitioned */
    /* Per-target labels (the source's target_labels, e.g. from file_sd), kind
     * MAP: key, value...; NULL: none. A task's point into its source's
     * definition (kept alive for a poll in flight); a target_list borrows
     * the pipeline's. The scrape pollster adds them to its samples. */
    pipeline_param *labels;
} poll_target;

typedef struct target_list {
    poll_target *v;
    size_t n, cap;
} target_list;

int target_list_add(target_list *l, const char *id, const char *resource, bool local);
void target_list_free(target_list *l);

/* What a poll may read: the agent's identity and where the OS files are. */
typedef struct poll_env {
    const char *host;      /* the agent's host name */
    const char *proc_root; /* "/proc" unless configured (tests point it elsewhere) */
    const bool *want;      /* want[i] for plugin->meters[i] */
    int64_t now_ms;        /* wall clock at poll start */
    void *process_state;   /* what the plugin's process_init stored (or NULL) */
    const void *config;    /* what configure() made of the source's parameters (or NULL) */
    int64_t deadline_ms;   /* monotonic (loop_now_ms clock): finish by then; at most one
                              interval after the start */
    const void *selection; /* the source's meter selection, for poll_wants (core-owned) */
    /* [polling] allow_targets: call allow_target(env->allow, target, ...)
     * (agent/allow.h) before contacting a target; NULL allows all */
    const struct allow_list *allow;
} poll_env;

/* Whether the source selects meter `name` (Ceilometer's rules, as for the
 * fixed meters' want[]). For dynamic meters; any thread. */
bool poll_wants(const poll_env *env, const char *name);

/* One asynchronous poll in flight (scheduler.c owns it). */
typedef struct poll_call poll_call;

/* The target, environment and batch of a call: valid until poll_call_done. */
const poll_target *poll_call_target(const poll_call *c);
const poll_env *poll_call_env(const poll_call *c);
sample_batch *poll_call_batch(poll_call *c);
/* Completes the call: rc 0, or -1 with err (samples added so far are kept,
 * as for poll()). Exactly once per call, from any thread; the call is gone
 * after it returns. */
void poll_call_done(poll_call *c, int rc, const char *err);

typedef struct pollster_plugin {
    const registry_pollster *desc; /* name, namespace, meters (want[] indexes them), params */
    /* Optional per-target state (cumulative baselines); kept while the target
     * stays in its source, whatever else of the source changes. */
    int (*init)(const poll_target *t, void **state, char *err, size_t errlen);
    /* Synchronous form: polls one target into out; 0, or -1 with err (samples
     * added so far are kept). Runs on a worker thread. */
    int (*poll)(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                char *err, size_t errlen);
    /* Asynchronous form (instead of poll): starts a poll on the loop thread
     * without blocking; see poll_call_done. One call per task at a time, so
     * state needs no lock unless the completing thread touches it while the
     * loop starts another task's call (it is never the same state). */
    void (*start)(void *state, poll_call *call);
    void (*destroy)(void *state);
    /* Optional, for /v1/targets: wall-clock ms before which the pollster will
     * not contact the target (a failing target's backoff), 0 when none. Any
     * thread, while a poll may run: read the state atomically. */
    int64_t (*next_attempt_ms)(const void *state);
    /* Optional: the source's parameters (checked against desc->params at
     * validation) into a config shared by every task of the source runtime;
     * 0, or -1 with err (the source's tasks then report it and poll nothing). */
    int (*configure)(const pipeline_param *params, size_t n, void **config, char *err,
                     size_t errlen);
    void (*unconfigure)(void *config);
    /* Optional process hooks (plugin.h): once at agent start, once at stop. */
    int (*process_init)(const plugin_ctx *ctx, void **pstate, char *err, size_t errlen);
    /* Optional, for start(): completes every call still in flight now (with
     * an error) and refuses new ones; the agent calls it when it stops, before
     * it waits for in-flight polls. */
    void (*process_cancel)(void *pstate);
    void (*process_shutdown)(void *pstate);
    /* Optional, for /v1/status ("pollsters": {name: ...}): the pollster's own
     * counts as one JSON object into buf (NUL-terminated, truncated to cap).
     * Any thread, while polls run: read pstate atomically. */
    void (*status_json)(const void *pstate, char *buf, size_t cap);
} pollster_plugin;

typedef struct discovery_env {
    const char *host;
    const char *proc_root;
} discovery_env;

typedef struct discovery_plugin {
    const registry_discovery *desc; /* name; local: the targets are of this host */
    int (*discover)(const discovery_env *env, const char *param, target_list *out, char *err,
                    size_t errlen);
} discovery_plugin;

/* The built-in plugins (one file each under pollsters/) and their tables
 * (plugins.c), NULL-terminated. */
extern const pollster_plugin pollster_host_pressure, pollster_host_load, pollster_tcp,
    pollster_http_probe, pollster_scrape, pollster_cgroup, pollster_cgroup_perf;
extern const discovery_plugin discovery_local_host, discovery_cgroups;
extern const pollster_plugin *const builtin_pollsters[];
extern const discovery_plugin *const builtin_discoveries[];

/* Whether a central pollster may contact target (its URL or host), asked
 * before every contact. The hook for `[polling] allow_targets` (issue 12):
 * until that exists every target is allowed. 0, or -1 with err. */
int pollster_target_allowed(const poll_env *env, const char *target, char *err, size_t errlen);

/* Number of meters in a plugin. */
size_t pollster_meter_count(const pollster_plugin *p);

/* Every row of builtin_pollsters / builtin_discoveries has its descriptor
 * in the registry and every registry row has its runtime row: 0, or -1 with
 * the first mismatch in err (tests/registry runs it). */
int plugins_check_tables(char *err, size_t errlen);

/* Reads a whole small file (procfs reports size 0: read to EOF). -1 on error. */
ssize_t pollster_read_file(const char *path, char *buf, size_t cap);

#endif
