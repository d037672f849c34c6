/*
 * coordinator.h: meterd's only door to ZooKeeper.
 *
 * One coord_t handle owns one ZooKeeper session for one group: membership
 * (an ephemeral member node with JSON data), leader election (ephemeral
 * sequential nodes, each watching its predecessor), the revision store
 * (current pipeline revision, CAS writes, the last K kept) and the assignment
 * store (the leader's slot table, CAS, epoch = node version). Revision bodies
 * and slot tables are opaque bytes here: the modules above (group/, agent/)
 * give them meaning.
 *
 * Threading contract: ZooKeeper's threads never run our callers' code. Its
 * watchers only flag what changed; the handle's own event thread re-reads
 * ZooKeeper and produces the events below, one at a time, never while a
 * coordinator lock is held. Where they run:
 *  - with an executor (coord_config_t.executor): every callback but log, and
 *    every completion of a *_async call, runs on the caller's executor, in
 *    the order the events happened (completions: in the order the calls
 *    were made), with data the coordinator owns for the duration of the
 *    call. Callbacks may call any coord_* function, coord_close() included
 *    (the blocking ones would stall the loop: use the *_async forms).
 *  - without one: callbacks run on the handle's event thread, completions on
 *    its store thread. They may call any coord_* function except
 *    coord_close(); they should return quickly (the next event waits).
 *  - log always runs synchronously, on whichever thread logs (the event
 *    thread, the store thread, or the caller of a blocking call): it must be
 *    thread-safe and must not call coord_close().
 * Pointers passed to a callback are valid only during the call. Every
 * function may be called from any thread. Each declaration below that
 * talks to the handle says whether the call blocks, and on what; the
 * rest (URL parsing, codecs, *_free) are pure and never block.
 *
 * Sessions: connection loss keeps the last known view and reports
 * COORD_DISCONNECTED; on expiry the handle creates a new session, rejoins
 * with the same member id, re-arms its watches and re-runs the election,
 * without the process restarting. See docs/COORDINATION.md.
 */
#ifndef METERD_COORDINATOR_H
#define METERD_COORDINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define COORD_SESSION_TIMEOUT_DEFAULT_MS 10000
#define COORD_SESSION_TIMEOUT_MIN_MS     1000
#define COORD_KEEP_REVISIONS_DEFAULT     10
#define COORD_MAX_NODE_DEFAULT           (1024 * 1024) /* ZooKeeper's own jute.maxbuffer */
#define COORD_MEMBER_MAX_BYTES           16384 /* a member node larger than this is ignored */
#define COORD_PUBSUB_TLS_NAME            "meterd-pubsub" /* the name a leader's certificate bears */

/* Results: 0 or a negative code; coord_strerror() names it. */
enum {
    COORD_OK = 0,
    COORD_EINVAL = -1,     /* bad argument or configuration */
    COORD_ECONFLICT = -2,  /* CAS lost: the expected version is not current */
    COORD_ENOTLEADER = -3, /* this member is not (or no longer) the leader */
    COORD_ENOCONN = -4,    /* no usable session right now; retry later */
    COORD_ENOAUTH = -5,    /* ZooKeeper refused: ACL / missing or wrong secret */
    COORD_ENOENT = -6,     /* no such revision / nothing stored yet */
    COORD_EMALFORMED = -7, /* stored data is not what we write */
    COORD_ETOOBIG = -8,    /* above max_node_bytes */
    COORD_ETIMEOUT = -9,
    COORD_ESYS = -10, /* out of memory, thread creation, unexpected ZooKeeper error */
};
const char *coord_strerror(int rc);

typedef struct coord coord_t;

/* backend_url = zookeeper://h1:p1,h2:p2/chroot */
typedef struct coord_url {
    char hosts[512];  /* "h1:p1,h2:p2", as the ZooKeeper client wants it */
    char chroot[256]; /* "/meterd", or "" for the root */
} coord_url_t;

/* 0, or COORD_EINVAL with a sentence naming what is wrong in err. */
int coord_url_parse(const char *url, coord_url_t *out, char *err, size_t errcap);

/* A server's four-letter word (cmd: "srvr", "cons"...) from one "host:port"
 * of coord_url_t.hosts, within timeout_ms: its reply NUL-terminated in out.
 * COORD_OK; COORD_ENOCONN / COORD_ETIMEOUT; COORD_ENOAUTH when the server
 * does not allow it (4lw.commands.whitelist); COORD_ETOOBIG past cap. */
int coord_four_letter(const char *host_port, const char *cmd, int timeout_ms, char *out,
                      size_t cap);

typedef enum coord_state {
    COORD_CONNECTING,   /* first session being established */
    COORD_CONNECTED,    /* session confirmed, view current */
    COORD_DISCONNECTED, /* connection lost; the session may live on; last view kept */
    COORD_EXPIRED,      /* session gone; a new one is being created */
    COORD_AUTH_FAILED,  /* the server refused our credentials (no retry) */
    COORD_CLOSED,
} coord_state_t;
const char *coord_state_name(coord_state_t s);

/*
 * How a member took in the revision it applied last, for the per-stage
 * breakdown of push propagation (docs/CLUSTER.md): wall-clock instants in
 * microseconds since the epoch, on the member's clock (committed_us is
 * ZooKeeper's, with ms resolution), 0 when unknown. The pusher adds the last
 * stage, the ack reaching it.
 */
typedef struct coord_apply_trace {
    int64_t revision;     /* the revision these describe (0: none) */
    int64_t committed_us; /* the pipeline node's mtime (0 when it came by pub-sub) */
    int64_t notified_us;  /* its watch fired, or its pub-sub message arrived */
    int64_t received_us;  /* its body read (or decoded) and checked */
    int64_t validated_us; /* signature verified, parsed, allowed */
    int64_t applied_us;   /* in force */
    bool via_pubsub;      /* the pub-sub copy was first */
} coord_apply_trace_t;

/*
 * The stages, in ms (coord_trace.c): commit -> notified (notify), -> body in
 * hand (fetch), -> validated, -> applied (apply), -> seen_us, when the
 * pusher saw the ack (ack; pass 0 for none). commit_us stands in for a
 * trace without a commit instant (a pub-sub copy). -1: instants unknown.
 * Instants on different hosts' clocks (commit, ack) are only as good as
 * their synchronisation; a negative duration reads as 0.
 */
enum {
    COORD_STAGE_NOTIFY,
    COORD_STAGE_FETCH,
    COORD_STAGE_VALIDATE,
    COORD_STAGE_APPLY,
    COORD_STAGE_ACK,
    COORD_STAGES
};
const char *coord_stage_name(int stage);
void coord_trace_stages(const coord_apply_trace_t *t, int64_t commit_us, int64_t seen_us,
                        double ms[COORD_STAGES]);
/* The longest known stage, or -1. */
int coord_trace_slowest(const double ms[COORD_STAGES]);
int64_t coord_trace_now_us(void); /* wall clock, µs since the epoch */

/* What a member advertises in its node (JSON in ZooKeeper, see docs). */
typedef struct coord_member_info {
    char host[256];
    int64_t pid;
    char namespaces[256]; /* comma separated: "central,ipmi" */
    int64_t weight;       /* relative share of slots; 0 means 1 */
    char api[256];        /* the member's HTTP API endpoint */
    int64_t applied_revision;
    char applied_sha256[65];
    int64_t owned; /* number of slots (or targets) it polls */
    char assignment_digest[65];
    char state[32]; /* free text: "starting", "running", "error"... */
    char last_error[512];
    bool insecure;             /* runs without credentials or trusted keys (insecure = true) */
    coord_apply_trace_t trace; /* of applied_revision (optional in the node) */
    /* The ready marker (agents; "" from writers without one: not judged):
     * "<session id, hex>:<reconnects>" naming the connection in which the
     * member read the slot table in force and polls under it, or "none".
     * meterctl status counts a member only when the session named is the one
     * owning its node (docs/CLUSTER.md). */
    char ready[48];
    int64_t session_timeout_ms; /* the member's negotiated session timeout; 0 unknown */
} coord_member_info_t;

int coord_member_info_to_json(const coord_member_info_t *in, char **json_out);
/* 0, or COORD_EMALFORMED with the reason in err. */
int coord_member_info_from_json(const char *json, size_t len, coord_member_info_t *out, char *err,
                                size_t errcap);

typedef struct coord_member {
    char id[128];
    coord_member_info_t info;
    int64_t session;  /* the ZooKeeper session that owns the node */
    int64_t mzxid;    /* last change of its data */
    int64_t mtime_ms; /* ...by the ZooKeeper leader's clock (ms since the epoch) */
    int32_t version;  /* its data version */
} coord_member_t;

/* A membership snapshot, members sorted by id. */
typedef struct coord_members {
    int64_t zxid;     /* newest zxid this snapshot reflects (children or data) */
    int32_t cversion; /* the members folder's child version */
    size_t count;
    coord_member_t *members;
} coord_members_t;
void coord_members_free(coord_members_t *m);

typedef struct coord_leader {
    bool known;          /* false: no candidate at all */
    bool is_me;          /* this handle leads */
    char member_id[128]; /* the leader's member id */
    char endpoint[256];  /* its advertised pub-sub endpoint ("" if none) */
} coord_leader_t;

/*
 * A pipeline revision. number is the pipeline node's version after the write
 * that made it current, so it increases by one per push.
 */
typedef struct coord_revision {
    int64_t number;
    char sha256[65]; /* hex of the body */
    char author[128];
    char time[32];       /* UTC, ISO 8601 */
    char signature[512]; /* optional, opaque to us */
    unsigned char *body; /* malloc'd; body[body_len] == 0 for convenience */
    size_t body_len;
    int64_t committed_ms;    /* the node's mtime (ZooKeeper's clock) when read from
                              * ZooKeeper; 0 when it came through pub-sub */
    int64_t notified_us;     /* wall clock, µs: when we learned of it (watch or pub-sub) */
    int64_t received_us;     /* ...and had it decoded and checked */
    bool via_pubsub;         /* delivered from the pub-sub copy... */
    bool signature_verified; /* ...because pubsub_verify said its signature verifies */
} coord_revision_t;
void coord_revision_free(coord_revision_t *r);

/* The stored form: one JSON header line, '\n', the body bytes. */
int coord_revision_encode(const coord_revision_t *r, char **out, size_t *out_len);
int coord_revision_decode(const void *data, size_t len, coord_revision_t *out, char *err,
                          size_t errcap);

enum { COORD_LOG_ERROR, COORD_LOG_WARN, COORD_LOG_INFO, COORD_LOG_DEBUG };

/*
 * Where the ZooKeeper client library's own warnings and errors go (its
 * chatter is dropped): stderr until this is called with a stream. The
 * library's log is process-wide, so this is too: call it before the first
 * coord_open()/coord_groups_open(), and again (NULL: back to stderr) only
 * once every handle is closed. The stream must stay open until then; it is
 * written from the library's threads, a line at a time, with fprintf.
 */
void coord_set_zk_log(FILE *stream);

typedef struct coord_callbacks {
    void (*state)(void *arg, coord_state_t state);
    void (*members)(void *arg, const coord_members_t *members);
    void (*leader)(void *arg, const coord_leader_t *leader);
    void (*revision)(void *arg, const coord_revision_t *rev);
    /* a new slot table; epoch is the assignment node's version */
    void (*assignment)(void *arg, const void *table, size_t len, int64_t epoch);
    /* NULL: warnings and errors go to stderr */
    void (*log)(void *arg, int level, const char *msg);
    /*
     * The pipeline node holds something that is not a revision: `version`
     * is the node's version (what a write over it must expect), `why` what
     * is wrong. Called on every read of such a node (each change, each new
     * session); no revision callback follows, the last valid one stays in
     * force. The next valid revision is the sign it is gone. May be NULL.
     */
    void (*malformed)(void *arg, int64_t version, const char *why);
} coord_callbacks_t;

/*
 * The caller's event loop, nng-aio-like: post() queues fn(arg) to run later
 * on the loop's thread and returns 0, or nonzero if it cannot (the loop is
 * shutting down: the coordinator then frees the event, which is lost). It
 * must not run fn inline, must run the fns it accepted one at a time in the
 * order posted, and must run each exactly once (a loop that stops must
 * drain its queue, running them: a fn run after coord_close() only frees
 * its event). It is called from the coordinator's threads and must not
 * wait for the loop's thread (that thread may be inside coord_close()).
 */
typedef struct coord_executor {
    int (*post)(void *ctx, void (*fn)(void *arg), void *arg);
    void *ctx;
} coord_executor_t;

/*
 * Roles (docs/SECURITY.md): the ZooKeeper digest ids ("user:base64(sha1(
 * user:secret))", as in zk-acl.txt of `meterctl init-credentials`) of the
 * operator, member and reader credentials. With roles, every node carries
 * ACLs for those three only, and existing nodes with other ACLs are refused
 * at first contact (coord_status_t.acl_error).
 */
typedef struct coord_roles {
    const char *operator_id, *member_id, *reader_id;
} coord_roles_t;

typedef struct coord_config {
    const char *backend_url;    /* zookeeper://h1:p1,h2:p2/chroot (required) */
    const char *group;          /* one path segment: "central" (required) */
    const char *member_id;      /* stable id; NULL: an observer (meterctl, meterproxy) */
    int session_timeout_ms;     /* 0: COORD_SESSION_TIMEOUT_DEFAULT_MS; min 1000 */
    const char *auth;           /* "user:secret" digest; NULL: open ACLs (see docs) */
    const coord_roles_t *roles; /* NULL: one credential (creator all, world read) */
    bool repair_acls;      /* with roles: set wrong ACLs of existing nodes instead of refusing */
    int keep_revisions;    /* K; 0: COORD_KEEP_REVISIONS_DEFAULT */
    size_t max_node_bytes; /* 0: COORD_MAX_NODE_DEFAULT */
    bool candidate;        /* members only: stand in the leader election */
    const char *endpoint;  /* advertised when leading without pubsub_listen */
    /*
     * Pub-sub fast path for revisions (docs/COORDINATION.md). An nng URL the
     * handle listens on while it leads, e.g. "tcp://10.0.0.1:0" (port 0: any;
     * the bound URL is advertised in the election node and wins over
     * endpoint); members subscribe to the current leader. NULL or "": no
     * pub-sub, ZooKeeper only (the same for every member of a group).
     */
    const char *pubsub_listen;
    /* Deliver pub-sub revisions without confirming them with one ZooKeeper
     * read. Only on a network where nobody can impersonate the leader. */
    bool pubsub_trust;
    /*
     * TLS for pub-sub (docs/SECURITY.md): PEM texts of this member's
     * certificate and key and of the CA that signs every member's; all three
     * or none. With them pubsub_listen must be tls+tcp://, members dial only
     * tls+tcp:// endpoints, and both ends present their certificate and
     * verify the peer's (the leader's must name COORD_PUBSUB_TLS_NAME).
     */
    const char *pubsub_tls_cert, *pubsub_tls_key, *pubsub_tls_ca;
    /*
     * Deliver a pub-sub revision without the confirming read when
     * pubsub_verify(cb_arg, rev) returns true: its signature verifies with
     * the group's trusted keys, by the same check the caller applies to
     * every revision (it must return false when it has no key to check
     * with). Only for the next number; otherwise, or when false, the read
     * confirms it as without. Runs on the handle's event thread, so it must
     * be thread-safe and quick; it may not call coord_* functions. NULL:
     * confirm every one (or pubsub_trust). ZooKeeper's watch still follows:
     * a node that holds something else for that number overrides it.
     */
    bool (*pubsub_verify)(void *arg, const coord_revision_t *rev);
    /* Observers only: no membership view at all (members/ is never read,
     * no members callback, coord_members_get returns none). A pusher that
     * waits through coord_acks_* needs no more, and reading every member's
     * node is what made its wait cost n reads (docs/CLUSTER.md). */
    bool without_members;
    const coord_member_info_t *info; /* initial member data (NULL: empty) */
    coord_callbacks_t cb;
    void *cb_arg;
    /* post NULL: callbacks on our event thread, completions on our store
     * thread (meterctl, tests); see the threading contract above */
    coord_executor_t executor;
} coord_config_t;

/*
 * Validates the configuration and starts connecting in the background;
 * returns NULL with the reason in err on bad configuration. Does not block
 * on ZooKeeper.
 */
coord_t *coord_open(const coord_config_t *cfg, char *err, size_t errcap);

/*
 * Leaves the group (the session closes, our nodes vanish at once) and frees.
 * Blocks until the handle's threads have stopped: a store call in flight
 * finishes first (bounded by ZooKeeper's own timeouts). From the moment it
 * is called no callback or completion of this handle starts any more: the
 * events still queued on the executor are dropped when it runs them (their
 * fn only frees them), the pending *_async calls never complete. So nothing
 * the caller lent (cb_arg, completion args) is touched after it returns. It
 * waits for a callback running on another thread to return; it may be
 * called from the executor's thread, inside a callback or completion too.
 */
void coord_close(coord_t *c);

/* Blocks (up to timeout_ms) until the session is connected and joined,
 * elected and synced. Not for an event loop thread. */
int coord_wait_ready(coord_t *c, int timeout_ms);

typedef struct coord_status {
    coord_state_t state;
    int64_t session_id;
    int session_timeout_ms; /* as negotiated with the server */
    /*
     * Upper bound of the time since the server last confirmed our session:
     * 0 while connected. Once it reaches session_timeout_ms the session may
     * have expired and another member may own our slots (the agent's fence).
     */
    int64_t unconfirmed_ms;
    int64_t expiries;   /* sessions lost and re-created */
    int64_t reconnects; /* connections re-established within a session */
    bool joined;
    bool is_leader;
    char acl_error[512]; /* "" or why the group's nodes were refused (roles) */
    /* pub-sub (all 0 / "" without pubsub_listen); each revision is delivered
     * once, counted under the path that was first */
    int64_t pubsub_received;            /* messages received, junk included */
    int64_t pubsub_delivered;           /* revisions delivered first via pub-sub */
    int64_t zk_delivered;               /* revisions delivered first via ZooKeeper */
    int64_t pubsub_dropped_malformed;   /* undecodable, bad length or sha256 */
    int64_t pubsub_dropped_unconfirmed; /* well-formed but not what ZooKeeper holds */
    int64_t pubsub_verified;            /* delivered on their signature, without a read */
    int64_t pubsub_sent;                /* leader: revisions published */
    bool pubsub_connected;              /* a connection to pubsub_endpoint is up */
    char pubsub_endpoint[256];          /* the leader endpoint we subscribe to, "" none */
    char pubsub_publishing[256];        /* leader: the URL we publish on, "" none */
} coord_status_t;
/* Never blocks on ZooKeeper (a short lock). */
void coord_get_status(coord_t *c, coord_status_t *st);

/* Replaces our member data (kept and re-written after a rejoin by the event
 * thread). Never blocks on ZooKeeper: the write happens in the background. */
int coord_member_update(coord_t *c, const coord_member_info_t *info);

/*
 * Acknowledges revision `number` (rejected: refused it) and replaces our
 * member data as coord_member_update does (info says what it ran, with its
 * trace). The first call for a (number, result) writes, in one multi with
 * the member node, the ephemeral ack child acks/<number>/<applied|rejected>-
 * <member-id> (holding info's JSON) and deletes our previous one; later
 * calls are plain updates. Without acks/<number> (written by a pusher that
 * makes none, or pruned) the member node alone is written, which pushers
 * still read (docs/CLUSTER.md "Aggregated acks"). number 0: an update.
 * Never blocks on ZooKeeper.
 */
int coord_member_ack(coord_t *c, const coord_member_info_t *info, int64_t number, bool rejected);

/* A copy of the last membership snapshot (free with coord_members_free).
 * Never blocks on ZooKeeper. */
int coord_members_get(coord_t *c, coord_members_t *out);

/* The last known leader. Never blocks on ZooKeeper. */
void coord_leader_get(coord_t *c, coord_leader_t *out);

/*
 * The store. Each call exists in two forms:
 *  - blocking (coord_revision_read...): waits for ZooKeeper's answer, up to
 *    the client's own timeout (two thirds of the session timeout when the
 *    server stops answering; at once when it refuses connections). Not for
 *    an event loop thread: meterctl, tests, start-up.
 *  - *_async: returns at once (0: queued, done will be called; otherwise
 *    COORD_EINVAL/COORD_ESYS and done is never called). The request runs on
 *    the handle's store thread, one at a time in the order made, through the
 *    blocking form (same checks, same results); done(arg, rc, ...) runs on
 *    the executor (on the store thread without one), with the result valid
 *    during the call only. done may be NULL (fire and forget). A request
 *    still pending at coord_close() never completes.
 */

/* Reads the current revision from ZooKeeper; COORD_ENOENT if none yet;
 * COORD_EMALFORMED if the node holds something else, with out->number its
 * node version (the `expected` that replaces it) and nothing to free. */
int coord_revision_read(coord_t *c, coord_revision_t *out);

/*
 * Makes body the current revision if the current one is still `expected`
 * (0: none yet); two concurrent pushes from the same expected revision: one
 * wins, the other gets COORD_ECONFLICT. The body's sha256 is computed here
 * (and checked on every read). On success *number_out is the new number.
 * COORD_ENOCONN at once without a connected session.
 */
int coord_revision_push(coord_t *c, int64_t expected, const void *body, size_t len,
                        const char *author, const char *signature, int64_t *number_out);

/* One of the last K revisions, for rollback and audit. */
int coord_revision_get(coord_t *c, int64_t number, coord_revision_t *out);

/* Numbers of the kept revisions, ascending; *count may exceed cap. */
int coord_revision_list(coord_t *c, int64_t *numbers, size_t cap, size_t *count);

/* Reads the slot table; *epoch 0 and *len 0 if the leader wrote none yet. */
int coord_assignment_read(coord_t *c, void **table, size_t *len, int64_t *epoch);

/*
 * Leader only: writes the table if the current epoch is still expected_epoch
 * and our election node still exists (a deposed leader cannot write:
 * COORD_ENOTLEADER). COORD_ENOCONN at once without a connected session.
 */
int coord_assignment_write(coord_t *c, int64_t expected_epoch, const void *table, size_t len,
                           int64_t *epoch_out);

/* Completions of the *_async forms (rc as the blocking form returns it). */
/* rev: NULL unless rc == 0 */
typedef void (*coord_revision_done_fn)(void *arg, int rc, const coord_revision_t *rev);
/* version: the new revision number (push) or epoch (write) when rc == 0 */
typedef void (*coord_version_done_fn)(void *arg, int rc, int64_t version);
/* numbers: every kept revision, ascending (NULL when count is 0) */
typedef void (*coord_list_done_fn)(void *arg, int rc, const int64_t *numbers, size_t count);
/* table: NULL unless rc == 0 and len > 0 (then table[len] == 0) */
typedef void (*coord_table_done_fn)(void *arg, int rc, const void *table, size_t len,
                                    int64_t epoch);

int coord_revision_read_async(coord_t *c, coord_revision_done_fn done, void *arg);
int coord_revision_get_async(coord_t *c, int64_t number, coord_revision_done_fn done, void *arg);
int coord_revision_list_async(coord_t *c, coord_list_done_fn done, void *arg);
/* body, author and signature are copied before it returns */
int coord_revision_push_async(coord_t *c, int64_t expected, const void *body, size_t len,
                              const char *author, const char *signature, coord_version_done_fn done,
                              void *arg);
int coord_assignment_read_async(coord_t *c, coord_table_done_fn done, void *arg);
/* table is copied before it returns */
int coord_assignment_write_async(coord_t *c, int64_t expected_epoch, const void *table, size_t len,
                                 coord_version_done_fn done, void *arg);

/*
 * The pusher's side of the acks (coord_acks.c): who of the live members
 * (the names under members/) acknowledged revision N (the names under
 * acks/<N>), from child watches: one list of each per change, whatever the
 * group's size. A member still without an ack child fallback_ms after the
 * watch began (an agent that writes only its member node, or one that
 * skipped N for a newer revision) has its member node read, and watched,
 * instead. The calls block on ZooKeeper (the caller's thread does the
 * reads; the watches only wake it): meterctl, a wait thread of meterproxy,
 * tests. The pushes of coord_revision_push create acks/<N> in their write.
 */
enum { COORD_ACK_NONE, COORD_ACK_APPLIED, COORD_ACK_REJECTED };

typedef struct coord_ack {
    char id[128];
    int ack;       /* COORD_ACK_*: what its ack child's name says */
    bool has_info; /* info read: a rejection's ack child (read at once, for
                    * its error) or, without an ack, its member node */
    coord_member_info_t info;
} coord_ack_t;

typedef struct coord_acks_view {
    int64_t number;
    bool acks_node; /* acks/<N> exists */
    uint64_t lists; /* listings of acks/<N> and members/ so far */
    size_t count;   /* the live members, sorted by id */
    coord_ack_t *members;
} coord_acks_view_t;
void coord_acks_view_free(coord_acks_view_t *v);

typedef struct coord_acks coord_acks_t;
/* Starts watching revision number's acks (the first lists are made by the
 * first coord_acks_next). NULL: bad arguments or out of memory. */
coord_acks_t *coord_acks_open(coord_t *c, int64_t number, int fallback_ms);
/*
 * Blocks until the view changed (or the first time), then copies it into
 * *out (freed first, so the same view may be passed again): COORD_OK; or
 * COORD_ETIMEOUT after timeout_ms without a change; COORD_ENOCONN while
 * there is no session (retried on the next call).
 */
int coord_acks_next(coord_acks_t *a, int timeout_ms, coord_acks_view_t *out);
/* The data of member id's ack child of revision number (its info when it
 * acknowledged, trace included): one read. Blocks. */
int coord_acks_read(coord_t *c, int64_t number, const char *id, bool rejected,
                    coord_member_info_t *out);
/* Stops watching and frees (a watch that still fires finds nothing). */
void coord_acks_close(coord_acks_t *a);

/*
 * The groups under backend_url's chroot (coord_groups.c): its children,
 * read once per change through a child watch on a ZooKeeper session of its
 * own (it writes nothing: the reader role suffices). ZooKeeper's threads
 * never run the caller's code: changed(arg) runs on the listing's own
 * thread after each new list (it may call any coord_* function but
 * coord_groups_close), log synchronously on whichever thread logs.
 */
typedef struct coord_groups coord_groups_t;
typedef struct coord_groups_callbacks {
    void (*changed)(void *arg);                         /* may be NULL */
    void (*log)(void *arg, int level, const char *msg); /* NULL: warnings to stderr */
    void *arg;
} coord_groups_callbacks_t;
/* Starts listing in the background (never blocks on ZooKeeper). NULL with
 * the reason in err on a bad URL or credentials. cb may be NULL. */
coord_groups_t *coord_groups_open(const char *backend_url, const char *auth, int session_timeout_ms,
                                  const coord_groups_callbacks_t *cb, char *err, size_t errcap);
/* A copy of the last list (sorted; free with coord_groups_list_free) and
 * how many lists were read so far: 0 while none was (ZooKeeper not reached
 * yet; then *names NULL, *count 0). Never blocks on ZooKeeper. */
uint64_t coord_groups_get(coord_groups_t *g, char ***names, size_t *count);
void coord_groups_list_free(char **names, size_t count);
/* Stops the listing and frees; waits for a `changed` running to return. */
void coord_groups_close(coord_groups_t *g);

#endif
