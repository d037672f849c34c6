/*
 * coord_int.h: the coordinator's internals, shared by its files only (never
 * included outside coordinator/).
 *
 * Locking: `mu` guards the handle's small mutable state (flags, views, the
 * session bookkeeping) and is never held across a ZooKeeper call or a user
 * callback. `zlock` guards the zhandle pointer itself: ZooKeeper calls hold
 * it for reading, replacing the handle after an expiry holds it for writing,
 * so no thread can use a handle while it is being closed. ZooKeeper's
 * watchers take only `mu`, briefly, to set dirty flags.
 */
#ifndef METERD_COORD_INT_H
#define METERD_COORD_INT_H

#include "coordinator/coordinator.h"

#include <pthread.h>
#include <zookeeper/zookeeper.h>

/* What the event thread must re-read; set by watchers, cleared by the thread. */
enum {
    DIRTY_SESSION = 1 << 0,    /* session state changed */
    DIRTY_MEMBERS = 1 << 1,    /* members' children or data */
    DIRTY_ELECTION = 1 << 2,   /* predecessor or leader node changed */
    DIRTY_PIPELINE = 1 << 3,   /* current revision */
    DIRTY_ASSIGNMENT = 1 << 4, /* slot table */
    DIRTY_JOIN = 1 << 5,       /* a stale node holding our member id vanished */
    DIRTY_ALL = 0x3f,
};

/* Member cache entry: the snapshot plus whether its data must be re-read. */
typedef struct member_slot {
    coord_member_t m;
    bool valid; /* parsed fine (malformed nodes are kept out of snapshots) */
    bool stale;
} member_slot;

struct coord {
    /* configuration (immutable after open) */
    coord_url_t url;
    char group[128];
    char member_id[128];
    bool is_member;
    bool candidate;
    char endpoint[256];
    char auth[256];
    int session_timeout_ms;
    int keep_revisions;
    size_t max_node_bytes;
    coord_callbacks_t cb;
    void *cb_arg;
    struct ACL_vector acl; /* applied to every node we create */
    struct ACL acl_entries[2];

    /* paths */
    char base[512]; /* chroot + "/" + group */
    char members_dir[600], election_dir[600], revisions_dir[600];
    char pipeline_path[600], assignment_path[600], member_path[800];

    pthread_rwlock_t zlock;
    zhandle_t *zh;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* dirty flags set, ready reached, stop */
    pthread_t thread;
    bool thread_started;
    bool stop;
    unsigned dirty;
    int zk_state;        /* last session state seen by the watcher */
    int64_t zk_connects; /* CONNECTED events seen by the watcher */
    int64_t seen_connects;
    unsigned retry; /* flags to retry at retry_at_ms */
    int64_t retry_at_ms;
    int retry_delay_ms;

    /* session bookkeeping (under mu) */
    coord_state_t state;
    int64_t session_id;
    int negotiated_timeout_ms;
    int64_t connected_at_ms;
    int64_t last_confirmed_ms; /* see coord_get_status */
    int64_t expiries, reconnects;
    bool ever_connected;
    bool ready; /* synced in the current session */

    /* per session, reset on expiry (event thread only, read under mu) */
    bool tree_ready;
    bool joined;
    bool info_dirty;
    coord_member_info_t info;
    char guid[33];
    char elect_node[256]; /* our election node's name, "" if none */

    /* views (under mu) */
    member_slot *slots;
    size_t nslots, capslots;
    char **dirty_members; /* names whose data changed */
    size_t ndirty_members;
    bool members_all_stale;
    coord_members_t last_members;
    bool members_delivered;
    coord_leader_t leader;
    bool leader_delivered;
    int64_t pipeline_version; /* last delivered revision, -1 none */
    int64_t assignment_version;
};

/* coord_session.c */
void coord_log(coord_t *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t coord_now_ms(void);
int coord_zerr(int zrc); /* ZooKeeper code -> COORD_* */
void coord_sha256_hex(const void *data, size_t len, char out[65]);
void coord_deliver_leader(coord_t *c, const coord_leader_t *l);
/* Takes zlock for reading; returns the handle or NULL (then nothing held). */
zhandle_t *coord_zh_acquire(coord_t *c);
void coord_zh_release(coord_t *c);
void coord_mark_dirty(coord_t *c, unsigned flags);
void coord_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);
/* Reads a node whose size is bounded by cap; *buf malloc'd (NUL-terminated). */
int coord_get_node(coord_t *c, zhandle_t *zh, const char *path, bool watch, size_t cap, char **buf,
                   size_t *len, struct Stat *stat);
int coord_ensure_path(coord_t *c, zhandle_t *zh, const char *path);

/* coord_members.c */
int coord_members_join(coord_t *c, zhandle_t *zh, bool check);
int coord_members_refresh(coord_t *c, zhandle_t *zh);
void coord_members_clear(coord_t *c);

/* coord_election.c */
int coord_election_run(coord_t *c, zhandle_t *zh);

/* coord_store.c */
int coord_store_refresh_pipeline(coord_t *c, zhandle_t *zh);
int coord_store_refresh_assignment(coord_t *c, zhandle_t *zh);

#endif
