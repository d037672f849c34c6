/*
 * cluster_int.h (internal to agent/): what the cluster-mode files share.
 *
 * Cluster mode is split by concern:
 *   cluster.c          life cycle (start, stop, free) and the handlers of
 *                      coordinator events (the coordinator's callbacks
 *                      themselves, run on the loop by its executor);
 *   cluster_opts.c     the [coordination] options;
 *   cluster_table.c    ownership (the slot-table clock of group/, under `mu`),
 *                      installing tables, planning them when leader;
 *   cluster_revision.c verifying, validating, applying revisions, falling back;
 *   cluster_member.c   the member node, status JSON, health, session metrics;
 *   cluster_leave.c    a planned leave (SIGTERM): announce, hand over, go;
 *   cluster_session.c  a session that may have expired: obey no old table.
 *
 * Threads: the coordinator posts its callbacks and the completions of our
 * *_async store calls onto the loop (coord_config_t.executor), where all
 * state here changes; nothing here waits for ZooKeeper. A store call in
 * flight is marked in the group (replanning, syncing, fb) so that it is not
 * made twice; what a walk needs between completions lives in the group too
 * (completions are never called after coord_close(), so they must own
 * nothing). cluster_owns() runs on the loop and HTTP threads and reads the
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
    unsigned char *key; /* legacy HMAC revision key, NULL: none */
    size_t key_len;
    char trusted_keys[1024]; /* trusted_keys_file: Ed25519 public keys, "" none;
                              * read again for every revision (rotation) */
    loss_policy on_loss;
    int handover_ms;
    int keep_revisions;
    char pubsub_listen[256];
    char *tls_cert, *tls_ca; /* pubsub_tls_cert_file, pubsub_tls_ca_file (PEM), NULL none */
    unsigned char *tls_key;  /* pubsub_tls_key_file (group_secret_read) */
    size_t tls_key_len;
    bool insecure;           /* insecure = true: runs without credentials or keys (loud) */
    group_signer *table_key; /* table_key_file: slot tables signed and checked */
    bool has_roles;          /* acl_file: per-role ACLs on every node (coord_acl.c) */
    group_roles roles;
    coord_roles_t coord_roles; /* points into roles */
} cluster_opts;

struct cluster_group {
    agent_group *g;
    agent *a;
    coord_t *c;
    char member_id[192];
    bool stopped; /* coord closed (no callback runs any more): timers do nothing */

    pthread_mutex_t mu;      /* the clock, read by cluster_owns() on other threads */
    bool synced;             /* the stored table (or its absence) is known (in this session) */
    bool was_synced;         /* synced once: !synced since means fenced (the node says so) */
    int64_t beat_ms;         /* the loop's last beat (cluster_session.c, monotonic) */
    int64_t stall_limit_ms;  /* a gap between beats past it: the session may have expired */
    int64_t resumed_wall_ms; /* instants before it fell during a stall: not ours to poll */
    group_clock clock;
    loop_timer effective_timer;

    /* loop thread */
    bool is_leader;
    partition_member *members; /* last snapshot, leaving members left out: ids owned here */
    size_t n_members;
    char **leaving;   /* members (not us) announcing a planned leave: their moves */
    size_t n_leaving; /* are handovers, not orphans */
    bool leave;       /* we announced our own leave: out of our plans, waiting to go */
    loop_timer replan_timer;
    bool syncing;          /* the first-contact table read is in flight */
    bool sync_stale;       /* ...but sent before a possible expiry: read again */
    bool resync;           /* keep: read the table again, obeying ours meanwhile */
    bool replanning;       /* a table write is in flight */
    bool replan_again;     /* asked to replan meanwhile */
    int64_t await_epoch;   /* a stored table at least this new is on its way to us */
    int64_t refused_epoch; /* the newest stored table we refused (forged): the CAS base */
    struct {               /* the plan being written, for the completion's log line */
        uint32_t n_members, slots_moved, slots_orphan;
        int64_t effective_in_ms;
    } plan;
    struct {              /* falling back through the kept revisions */
        bool busy;        /* a list or get is in flight */
        bool again;       /* refused another meanwhile: walk again if this one fails */
        int64_t *numbers; /* kept revisions below the refused one, ascending */
        size_t left;      /* numbers[0..left) not tried yet */
    } fb;
    int64_t applied_rev;
    /* the ready marker (member node "ready"): the connection (session id,
     * its reconnect count) in which the table in force was last read; 0: none
     * (never, or forgotten: the session may have expired) */
    int64_t ready_sid, ready_reconnects;
    char table_error[400]; /* under mu: the last slot table refused ("" none) */
    /* under mu: why the pipeline node is not a revision ("" none), and its
     * node version; cleared by the next revision delivered */
    char node_error[400];
    int64_t node_error_version;
    coord_member_info_t info;
    coord_state_t state;
    bool fenced_logged;
    int unreached_s; /* seconds without any session since start (for the log) */
    metrics_metric *m_rebalances, *m_moved, *m_targets_moved, *m_owned, *m_expiries, *m_reconnects,
        *m_apply_latency;
    int64_t reported_expiries, reported_reconnects;
    /* cluster_revision.c: per-stage timers of the last applied revision
     * (notify, fetch, validate, apply), registered on the first apply */
    metrics_metric *m_stage[COORD_STAGE_ACK];
    bool stage_metrics_tried;
};

typedef struct cluster_state {
    cluster_opts opt;
    struct cluster_group *groups[AGENT_MAX_GROUPS];
    size_t n;
    bool leaving;           /* SIGTERM taken: handing over before the loop stops */
    loop_timer leave_timer; /* the leave's deadline, then its margin */
    bool leave_margin;      /* every group handed over: the timer is the margin */
    loop_timer beat_timer;  /* cluster_beat: notices the process did not run */
} cluster_state;

static inline cluster_opts *cluster_opts_of(struct cluster_group *cg)
{
    return &((cluster_state *)cg->a->cluster_state)->opt;
}

/* cluster_opts.c */
int cluster_opts_load(agent *a, cluster_opts *o, char *err, size_t errlen);
void cluster_opts_free(cluster_opts *o);
const coord_roles_t *cluster_opts_roles(const cluster_opts *o); /* NULL: no acl_file */

/* cluster_table.c (loop thread unless noted) */
bool cluster_owns(void *ctx, const poll_target *t, int64_t due_ms); /* any thread */
/* Decodes and queues a stored table (malformed: logged, ignored). */
void cluster_table_install(struct cluster_group *cg, const uint8_t *buf, size_t len, int64_t epoch);
/* cluster_opts.c: with table_key_file, *buf (freed) is replaced by its
 * signed form for `epoch` (0, or -1 logged); a stored table is trusted when
 * its signature verifies (else refused: logged, in /health and the member
 * node). Without the key both pass everything. */
int cluster_table_seal(struct cluster_group *cg, int64_t epoch, uint8_t **buf, size_t *len);
bool cluster_table_trusted(struct cluster_group *cg, const uint8_t *buf, size_t len, int64_t epoch);
/* cluster_opts.c: ,"pubsub":{...} of /v1/status (endpoint, TLS, counters). */
void cluster_pubsub_json(struct cluster_group *cg, const coord_status_t *st, strbuf *out);
/* First contact: reads the stored table (if any, asynchronously) before
 * owning anything; no replan until it is known. */
void cluster_table_sync(struct cluster_group *cg);
void cluster_table_promote(void *cg); /* effective_timer */
void cluster_replan(void *cg);        /* replan_timer */
void cluster_schedule_replan(struct cluster_group *cg, int delay_ms);

/* cluster_revision.c */
void cluster_apply_revision(struct cluster_group *cg, const coord_revision_t *r);
void cluster_fall_back_free(struct cluster_group *cg);
/* coord_config_t.pubsub_verify (the coordinator's event thread): true when
 * r carries an Ed25519 signature that verifies with our trusted keys (the
 * same check as applying it), so a pub-sub copy needs no read from
 * ZooKeeper; never without trusted keys, never for a legacy HMAC one. */
bool cluster_revision_signed(void *cg, const coord_revision_t *r);

/* cluster_leave.c: a planned leave (loop thread) */
/* Called when a table is installed or promoted while leaving: stops the
 * loop once no table in force or pending gives us anything. */
void cluster_leave_check(struct cluster_group *cg);
/* Whether member id (from a member node's state) is leaving. */
bool cluster_member_leaving(const coord_member_t *m);
void cluster_leave_timer(void *agent); /* cluster_state.leave_timer */

/* cluster_session.c: when the session may have expired (loop thread) */
void cluster_forget(struct cluster_group *cg, const char *why); /* owns nothing until re-read */
void cluster_session_state(struct cluster_group *cg, coord_state_t state); /* on_state */
void cluster_beat(void *agent);                                            /* beat_timer */
int64_t cluster_stall_limit_ms(const struct cluster_group *cg, int session_ms);
/* cluster_table.c: keep: reads the stored table again, still obeying ours */
void cluster_table_resync(struct cluster_group *cg);
/* cluster_session.c: a table read in the current connection just completed */
void cluster_mark_ready(struct cluster_group *cg);

/* cluster_member.c */
void cluster_publish_info(struct cluster_group *cg);
void cluster_zk_metrics(void *agent); /* a->cluster_timer, once a second */

#endif
