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

#include <nng/nng.h>
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
    DIRTY_PUBSUB = 1 << 6,     /* a revision (or junk) arrived by pub-sub */
    DIRTY_INFO = 1 << 7,       /* our member data changed: write it (no existence check) */
    DIRTY_ALL = 0xff,
};

/* What a coord_job_t carries: an event for a callback, or a store request. */
enum {
    JOB_STATE,
    JOB_MEMBERS,
    JOB_LEADER,
    JOB_REVISION,
    JOB_ASSIGNMENT,
    JOB_MALFORMED,
    REQ_REVISION_READ,
    REQ_REVISION_GET,
    REQ_REVISION_LIST,
    REQ_REVISION_PUSH,
    REQ_ASSIGNMENT_READ,
    REQ_ASSIGNMENT_WRITE,
};

/*
 * One event or request on its way to the caller, owning all its data, so
 * that it outlives the handle when it waits on the executor. Requests queue
 * on the store thread first (next), run there, then travel like events.
 */
typedef struct coord_job coord_job_t;
struct coord_job {
    coord_job_t *next;
    int kind;
    struct coord_life *life; /* a reference, taken when posted */
    /* request inputs (copies) */
    int64_t num; /* expected epoch / expected revision / revision number */
    void *in;
    size_t in_len;
    char *author, *signature;
    union {
        coord_revision_done_fn revision;
        coord_version_done_fn version;
        coord_list_done_fn list;
        coord_table_done_fn table;
    } done;
    void *arg;
    bool notify; /* done is set */
    /* results / event data */
    int rc;
    coord_state_t state;
    coord_members_t members;
    coord_leader_t leader;
    coord_revision_t rev;
    void *bytes; /* table, NUL-terminated */
    size_t len;
    int64_t version; /* epoch or revision number */
    int64_t *nums;
    size_t count;
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
    coord_executor_t exec;   /* post NULL: none */
    struct coord_life *life; /* with exec: what queued events check */
    struct ACL_vector acl;   /* without roles: applied to every node we create */
    struct ACL acl_entries[2];
    bool roles; /* coord_acl.c: per-node ACLs of three roles */
    bool repair_acls;
    char role_id[3][200];
    struct ACL role_acl[5][3]; /* [owner][role], coord_acl.c */
    struct ACL_vector role_acls[5];
    char acl_error[512]; /* under mu */

    /* paths */
    char base[512]; /* chroot + "/" + group */
    char members_dir[600], election_dir[600], revisions_dir[600];
    char pipeline_path[600], assignment_path[600], member_path[800];
    char acks_dir[600];

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
    int64_t alive_ms;          /* the event thread's last wake (note_alive) */
    int64_t stalled_from_ms;   /* the last stall of the process began... */
    int64_t stall_seen_ms;     /* ...and was noticed then (0: never) */
    int64_t expiries, reconnects;
    /* re-dialling (coord_session.c): the session to resume, and while cut
     * off, since when a server answers `srvr` as serving (0: none seen) */
    clientid_t client;
    int64_t serving_since_ms, last_probe_ms, redials;
    bool ever_connected;
    bool ready; /* synced in the current session */

    /* per session, reset on expiry (event thread only, read under mu) */
    bool tree_ready;
    bool joined;
    bool info_dirty;
    coord_member_info_t info;
    char guid[33];
    char elect_node[256]; /* our election node's name, "" if none */
    /* the node we lead with ("" when not leading; under mu): an assignment
     * write checks it exists, never a node created after we were deposed */
    char leader_node[256];

    /* views (under mu) */
    member_slot *slots;
    size_t nslots, capslots;
    char **dirty_members; /* names whose data changed */
    size_t ndirty_members;
    bool members_all_stale;
    /* every member's data is watched: observers always, members while they
     * lead (the only member that plans with it); the others watch the
     * children and their own node, so an ack costs the group O(1) reads,
     * not one per member (issue 19). Event thread; reset with the session. */
    bool member_data_watched;
    coord_members_t last_members;
    bool members_delivered;
    bool without_members; /* config: no membership view at all (a pusher) */

    /* acks (coord_acks.c). The one wanted (under mu)... */
    int64_t ack_want;
    bool ack_want_rejected;
    /* ...and the one written (event thread): our ack child, in session
     * ack_sid (it dies with it) */
    int64_t ack_done;
    bool ack_done_rejected;
    int64_t ack_sid;
    char ack_path[900];
    bool acks_dir_ready;            /* a pusher made sure acks/ exists */
    struct coord_acks *ack_waiters; /* under mu: what coord_acks_watcher wakes */
    coord_leader_t leader;
    bool leader_delivered;
    int64_t pipeline_version;     /* last delivered revision (either path), -1 none */
    int64_t pipeline_notified_us; /* when the pipeline watch fired (0: not since read) */
    int64_t pipeline_defer_ms;    /* coord_pubsub_defer: read the node from then (0: none) */
    int64_t verified_version;     /* the last revision delivered on its signature... */
    size_t verified_len;          /* ...and its encoded length (= the node's) */
    char delivered_sha[65];       /* its sha256 */
    int64_t assignment_version;

    /* store thread (coord_async.c): its own lock, never held with mu */
    pthread_mutex_t req_mu;
    pthread_cond_t req_cond;
    pthread_t req_thread;
    bool req_started;
    bool req_stop;
    coord_job_t *req_head, *req_tail;

    /* pub-sub fast path (coord_pubsub.c); config immutable after open */
    char pubsub_listen[256]; /* "" = ZooKeeper only */
    bool pubsub_trust;
    bool (*pubsub_verify)(void *arg, const coord_revision_t *rev);
    /* PUB side: the event thread opens/closes, pushers may send: pub_mu */
    pthread_mutex_t pub_mu;
    nng_socket pub;
    bool pub_open;
    char pub_url[256];       /* the bound URL we advertise ("" when not leading) */
    char node_endpoint[256]; /* what our election node advertises (event thread) */
    int64_t published;       /* highest revision number sent on pub */
    bool republish;          /* publish the current revision on the next read */
    /* SUB side: socket and aio live from open to close; the dialer is
     * replaced by the event thread; the fields below are under mu */
    nng_socket sub;
    bool sub_open;
    nng_aio *sub_aio;
    nng_dialer dialer;
    bool dialer_open;
    int dialer_id;
    int sub_pipes;            /* connected pipes of the current dialer */
    char sub_url[256];        /* the endpoint we dial, "" none */
    coord_revision_t pending; /* newest pub-sub revision not yet handled (number 0: none) */
    size_t pending_len;       /* its encoded length */
    char pubsub_err[256];     /* last malformed message, for the event thread to log */
    int64_t pubsub_errs_unlogged;
    int64_t ps_received, ps_delivered, zk_delivered, ps_malformed, ps_unconfirmed, ps_sent,
        ps_verified;
    struct coord_tls *tls; /* coord_tls.c; NULL: plaintext pub-sub */
};

/* coord_config.c: coord_open's configuration checks (err says what is wrong)
 * and the group's node paths under chroot/group */
int coord_config_check(const coord_config_t *cfg, char *err, size_t errcap);
int coord_build_paths(coord_t *c, char *err, size_t errcap);

/* While cut off: how often a server is asked `srvr` (coord_session.c), and
 * so how often the event thread wakes to ask. */
#define COORD_PROBE_MS 100

/* coord_session.c */
void coord_log(coord_t *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* zookeeper_init2's log callback (coord_set_zk_log says where lines go) */
void coord_zk_line(const char *msg);
int64_t coord_now_ms(void);
void coord_sha256_hex(const void *data, size_t len, char out[65]);
/* Takes zlock for reading; returns the handle or NULL (then nothing held). */
zhandle_t *coord_zh_acquire(coord_t *c);
void coord_zh_release(coord_t *c);
/* Closes the dead handle (if any) and starts a fresh session. */
int coord_session_new(coord_t *c);
/* While cut off from a session we had: re-dial once a server serves again
 * and the library has not reconnected meanwhile (event thread). */
void coord_session_redial(coord_t *c);

/* coord_events.c: the watcher (flags only) and the event thread */
void coord_mark_dirty(coord_t *c, unsigned flags);
void coord_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);
void coord_deliver_leader(coord_t *c, const coord_leader_t *l);
void *coord_event_thread(void *arg); /* started by coord_open */
/* Waits on c->cond (a CLOCK_MONOTONIC one) at most ms (mu held). */
void coord_wait_ms(coord_t *c, int64_t ms);

/* coord_nodes.c */
int coord_zerr(int zrc); /* ZooKeeper code -> COORD_* */
/* Reads a node whose size is bounded by cap; *buf malloc'd (NUL-terminated). */
int coord_get_node(coord_t *c, zhandle_t *zh, const char *path, bool watch, size_t cap, char **buf,
                   size_t *len, struct Stat *stat);
int coord_ensure_path(coord_t *c, zhandle_t *zh, const char *path);

/* coord_exec.c: events to callbacks, on the executor or directly */
int coord_exec_init(coord_t *c, char *err, size_t errcap); /* at open */
/* At close, first: nothing of the caller's runs once it returns. */
void coord_exec_close(coord_t *c);
void coord_exec_fini(coord_t *c); /* at close, last: drops our reference */
void coord_emit_state(coord_t *c, coord_state_t st);
void coord_emit_members(coord_t *c, const coord_members_t *m);
void coord_emit_leader(coord_t *c, const coord_leader_t *l);
void coord_emit_revision(coord_t *c, const coord_revision_t *r);
void coord_emit_assignment(coord_t *c, const void *table, size_t len, int64_t epoch);
void coord_emit_malformed(coord_t *c, int64_t version, const char *why);
/* A finished request: its completion, on the executor or here. Takes j. */
void coord_exec_complete(coord_t *c, coord_job_t *j);
void coord_job_free(coord_job_t *j);

/* coord_async.c: the store thread */
int coord_async_init(coord_t *c, char *err, size_t errcap); /* at open */
void coord_async_fini(coord_t *c); /* at close: stops it, drops what is pending */

/* coord_members.c */
int coord_members_join(coord_t *c, zhandle_t *zh, bool check);
int coord_members_refresh(coord_t *c, zhandle_t *zh);
/* After an election: a member that starts leading reads (and watches) every
 * member's data before its leader event, so it plans with current data. */
int coord_members_on_leader(coord_t *c, zhandle_t *zh, bool is_me);
void coord_members_clear(coord_t *c);

/* coord_acks.c */
/* Writes our member node (set, or nothing with json NULL) and, when an ack
 * is wanted and not written yet, our ack child in the same multi; returns
 * the member node's ZooKeeper code (ZOK when only the ack was written). */
int coord_acks_member_write(coord_t *c, zhandle_t *zh, const char *json, int len, bool set_member,
                            int64_t ack, bool rejected);
/* coord_acks_wait.c: wakes the waiters (coord_acks_next) whose nodes
 * changed; ctx is the coord_t. */
void coord_acks_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);
/* acks/<10-digit number>, and a member's ack child below it */
#define COORD_ACK_APPLIED_PREFIX  "applied-"
#define COORD_ACK_REJECTED_PREFIX "rejected-"
void coord_acks_path(const coord_t *c, int64_t number, char *out, size_t cap);
void coord_acks_child(const coord_t *c, int64_t number, bool rejected, const char *id, char *out,
                      size_t cap);
/* A pusher: acks/ exists (created once per handle); COORD_OK or why not. */
int coord_acks_prepare(coord_t *c, zhandle_t *zh);
/* The leader, after revision newest: deletes the empty acks/<M> below the kept revisions. */
void coord_acks_prune(coord_t *c, zhandle_t *zh, int64_t newest);

/* coord_members.c: one read's reply (buf malloc'd, NUL-terminated, when
 * zrc is ZOK and len <= the cap asked) */
typedef struct coord_got {
    int zrc;
    char *buf;
    int len;
    struct Stat st;
} coord_got_t;
/* Reads the n paths at once (one round trip for all), each watched by
 * (w, ctx) unless w is NULL; returns once every reply is in got[]. */
int coord_get_many(zhandle_t *zh, char *const *paths, size_t n, watcher_fn w, void *ctx, size_t cap,
                   coord_got_t *got);

/* coord_election.c */
int coord_election_run(coord_t *c, zhandle_t *zh);

/* coord_store.c: hint = a pub-sub revision to confirm (NULL: a watch fired) */
int coord_store_refresh_pipeline(coord_t *c, zhandle_t *zh, const coord_revision_t *hint);
int coord_store_refresh_assignment(coord_t *c, zhandle_t *zh);
/* Every kept revision number, ascending; *nums malloc'd. */
int coord_store_list(coord_t *c, int64_t **nums, size_t *n);

/* coord_pubsub.c (all but coord_pubsub_accept run on the event thread) */
int coord_pubsub_check_url(const char *url, char *err, size_t errcap);
int coord_pubsub_init(coord_t *c, char *err, size_t errcap); /* SUB socket, at open */
void coord_pubsub_fini(coord_t *c);                          /* at close */
/* After an election: lead (open PUB, advertise its URL in our node, fix
 * l->endpoint) or follow (close PUB, dial l->endpoint). */
int coord_pubsub_on_leader(coord_t *c, zhandle_t *zh, coord_leader_t *l);
void coord_pubsub_stop_leading(coord_t *c);
/* The endpoint to write in a new election node. */
void coord_pubsub_advertised(coord_t *c, char *out, size_t cap);
/* Leader: sends an encoded revision once (numbers not above the last sent are skipped). */
void coord_pubsub_publish(coord_t *c, int64_t number, const void *data, size_t len);
/* A fired pipeline watch while pub-sub copies verify: a stat (not the body)
 * says whether it is new; if so, waits up to a grace for the leader's signed
 * copy instead of every member reading the body (true: handled or deferred,
 * DIRTY_PIPELINE then comes back through retry). Event thread. */
bool coord_pubsub_defer(coord_t *c, zhandle_t *zh);
/* Handles the parked revision; clears DIRTY_PIPELINE in *flags if it read the node. */
int coord_pubsub_process(coord_t *c, zhandle_t *zh, unsigned *flags);
/* Delivers r (the revision callback) if new, counting the path that won. */
void coord_deliver_revision(coord_t *c, const coord_revision_t *r, bool via_pubsub);

/* coord_tls.c: TLS for pub-sub. init/fini at open/close; the hooks return
 * 0 or an nng error (and do nothing without TLS); tick runs on the event
 * thread (without mu) to log why a TLS peer is refused. */
int coord_tls_init(coord_t *c, const coord_config_t *cfg, char *err, size_t errcap);
void coord_tls_fini(coord_t *c);
int coord_tls_listener(coord_t *c, nng_listener l);
int coord_tls_dialer(coord_t *c, nng_dialer d, const char *url);
void coord_tls_tick(coord_t *c);

/* coord_acl.c */
int coord_acl_init(coord_t *c, const coord_config_t *cfg, char *err, size_t errcap);
/* The ACL a node at path is created with. */
struct ACL_vector *coord_acl_for(coord_t *c, const char *path);
/* An existing node whose ACL is not ours (with roles), or open to anyone
 * (one credential, group node and below) is refused (acl_error set,
 * COORD_ENOAUTH), or set to ours with repair_acls (either way). */
int coord_acl_check(coord_t *c, zhandle_t *zh, const char *path);
/* The same for the children of members/, election/ (where a persistent node
 * is a squatter: refused, or deleted by a repair) and revisions/. */
int coord_acl_check_below(coord_t *c, zhandle_t *zh);

#endif
