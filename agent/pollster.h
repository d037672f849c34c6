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
    /* [polling] allow_targets: call allow_target(env->allow, target, ...)
     * (agent/allow.h) before contacting a target; NULL allows all */
    const struct allow_list *allow;
} poll_env;

typedef struct pollster_plugin {
    const registry_pollster *desc; /* name, namespace, meters (want[] indexes them) */
    /* Optional per-target state (cumulative baselines). */
    int (*init)(const poll_target *t, void **state, char *err, size_t errlen);
    /* Polls one target into out; 0, or -1 with err (samples added so far are kept). */
    int (*poll)(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                char *err, size_t errlen);
    void (*destroy)(void *state);
    /* Optional process hooks (plugin.h): once at agent start, once at stop. */
    int (*process_init)(const plugin_ctx *ctx, void **pstate, char *err, size_t errlen);
    void (*process_shutdown)(void *pstate);
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
extern const pollster_plugin pollster_host_pressure, pollster_host_load, pollster_tcp;
extern const discovery_plugin discovery_local_host;
extern const pollster_plugin *const builtin_pollsters[];
extern const discovery_plugin *const builtin_discoveries[];

/* Number of meters in a plugin. */
size_t pollster_meter_count(const pollster_plugin *p);

/* Every row of builtin_pollsters / builtin_discoveries has its descriptor
 * in the registry and every registry row has its runtime row: 0, or -1 with
 * the first mismatch in err (tests/registry runs it). */
int plugins_check_tables(char *err, size_t errlen);

/* Reads a whole small file (procfs reports size 0: read to EOF). -1 on error. */
ssize_t pollster_read_file(const char *path, char *buf, size_t cap);

#endif
