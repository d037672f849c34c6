/*
 * cluster_int.h (internal to agent/): what the cluster-mode files share.
 *
 * Cluster mode is split by concern:
 *   cluster.c          life cycle (start, stop, free) and the handlers of
 *                      coordinator events, on the loop thread;
 *   cluster_opts.c     the [coordination] options;
 *   cluster_table.c    ownership (the slot-table clock of group/, under `mu`),
 *                      installing tables, planning them when leader;
 *   cluster_revision.c verifying, validating, applying revisions, falling back;
 *   cluster_member.c   the member node, status JSON, health, session metrics;
 *   cluster_events.c   marshalling of the coordinator's callbacks (its thread)
 *                      onto the agent's loop.
 *
 * Threads: coordinator callbacks run on its event thread; cluster_events.c
 * copies what they got and posts it to the loop, where all state here
 * changes. cluster_owns() runs on the loop and HTTP threads and reads the
 * clock under `mu`.
 */
#ifndef METERD_AGENT_CLUSTER_INT_H
#define METERD_AGENT_CLUSTER_INT_H

#include "agent/core.h"
#include "coordinator/coordinator.h"
#include "group/group.h"
#include "partition/partition.h"

typedef enum { LOSS_KEEP, LOSS_FENCE } loss_policy;

typedef struct cluster_opts {
    char backend_url[1024];
    char member_base[128];
    int session_timeout_ms;
    int weight;
    unsigned char *auth; /* "user:secret" (group_secret_read), NULL: none */
    size_t auth_len;
    unsigned char *key; /* revision key, NULL: revisions are not checked */
    size_t key_len;
    loss_policy on_loss;
    int handover_ms;
    int keep_revisions;
    char pubsub_listen[256];
} cluster_opts;

struct cluster_group {
    agent_group *g;
    agent *a;
    coord_t *c;
    char member_id[192];
    bool stopped; /* coord closed: posted events are dropped */

    pthread_mutex_t mu; /* the clock, read by cluster_owns() on other threads */
    bool synced;        /* the stored table (or its absence) is known */
    group_clock clock;
    loop_timer effective_timer;

    /* loop thread */
    bool is_leader;
    partition_member *members; /* last snapshot: ids owned here */
    size_t n_members;
    loop_timer replan_timer;
    int64_t applied_rev;
    coord_member_info_t info;
    coord_state_t state;
    bool fenced_logged;
    metrics_metric *m_rebalances, *m_moved, *m_targets_moved, *m_owned, *m_expiries, *m_reconnects,
        *m_apply_latency;
    int64_t reported_expiries, reported_reconnects;
};

typedef struct cluster_state {
    cluster_opts opt;
    struct cluster_group *groups[AGENT_MAX_GROUPS];
    size_t n;
} cluster_state;

static inline cluster_opts *cluster_opts_of(struct cluster_group *cg)
{
    return &((cluster_state *)cg->a->cluster_state)->opt;
}

/* cluster_opts.c */
int cluster_opts_load(agent *a, cluster_opts *o, char *err, size_t errlen);
void cluster_opts_free(cluster_opts *o);

/* cluster_table.c (loop thread unless noted) */
bool cluster_owns(void *ctx, const poll_target *t, int64_t due_ms); /* any thread */
/* Decodes and queues a stored table (malformed: logged, ignored). */
void cluster_table_install(struct cluster_group *cg, const uint8_t *buf, size_t len, int64_t epoch);
/* First contact: reads the stored table (if any) before owning anything. */
void cluster_table_sync(struct cluster_group *cg);
void cluster_table_promote(void *cg); /* effective_timer */
void cluster_replan(void *cg);        /* replan_timer */
void cluster_schedule_replan(struct cluster_group *cg, int delay_ms);

/* cluster_revision.c */
void cluster_apply_revision(struct cluster_group *cg, const coord_revision_t *r);

/* cluster_member.c */
void cluster_publish_info(struct cluster_group *cg);
void cluster_zk_metrics(void *agent); /* a->cluster_timer, once a second */

/* cluster.c: what the coordinator's events do, on the loop thread */
void cluster_on_state(struct cluster_group *cg, coord_state_t state);
/* takes members (freed with cluster_free_members) */
void cluster_on_members(struct cluster_group *cg, partition_member *members, size_t n);
void cluster_on_leader(struct cluster_group *cg, bool is_leader);
void cluster_on_revision(struct cluster_group *cg, const coord_revision_t *r);
void cluster_on_assignment(struct cluster_group *cg, const uint8_t *table, size_t len,
                           int64_t epoch);
void cluster_free_members(partition_member *m, size_t n);

/* cluster_events.c: the coordinator's callbacks, posted to the loop */
coord_callbacks_t cluster_event_callbacks(void);

#endif
