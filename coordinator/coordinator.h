/*
 * coordinator.h: meterd's only door to ZooKeeper.
 *
 * One coord_t handle owns one ZooKeeper session for one group: membership
 * (an ephemeral member node with JSON data), leader election (ephemeral
 * sequential nodes, each watching its predecessor), the revision store
 * (current pipeline revision, CAS writes, the last K kept) and the assignment
 * store (the leader's slot table, CAS, epoch = node version). Revision bodies
 * and slot tables are opaque bytes here: the pipeline and partition modules
 * give them meaning, the agent glues them together.
 *
 * Threading contract: ZooKeeper's threads never run our callers' code. Its
 * watchers only flag what changed; the handle's own event thread re-reads
 * ZooKeeper and invokes the callbacks below, one at a time, never while a
 * coordinator lock is held. Callbacks may call any coord_* function except
 * coord_close(); they should return quickly (the next event waits for them).
 * Pointers passed to a callback are valid only during the call. Every other
 * function may be called from any thread.
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

#define COORD_SESSION_TIMEOUT_DEFAULT_MS 10000
#define COORD_SESSION_TIMEOUT_MIN_MS     1000
#define COORD_KEEP_REVISIONS_DEFAULT     10
#define COORD_MAX_NODE_DEFAULT           (1024 * 1024) /* ZooKeeper's own jute.maxbuffer */
#define COORD_MEMBER_MAX_BYTES           16384 /* a member node larger than this is ignored */

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

typedef enum coord_state {
    COORD_CONNECTING,   /* first session being established */
    COORD_CONNECTED,    /* session confirmed, view current */
    COORD_DISCONNECTED, /* connection lost; the session may live on; last view kept */
    COORD_EXPIRED,      /* session gone; a new one is being created */
    COORD_AUTH_FAILED,  /* the server refused our credentials (no retry) */
    COORD_CLOSED,
} coord_state_t;
const char *coord_state_name(coord_state_t s);

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
} coord_member_info_t;

int coord_member_info_to_json(const coord_member_info_t *in, char **json_out);
/* 0, or COORD_EMALFORMED with the reason in err. */
int coord_member_info_from_json(const char *json, size_t len, coord_member_info_t *out, char *err,
                                size_t errcap);

typedef struct coord_member {
    char id[128];
    coord_member_info_t info;
    int64_t session; /* the ZooKeeper session that owns the node */
    int64_t mzxid;   /* last change of its data */
    int32_t version; /* its data version */
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
    int64_t committed_ms; /* the node's mtime (ZooKeeper's clock) when read from
                           * ZooKeeper; 0 when it came through pub-sub */
} coord_revision_t;
void coord_revision_free(coord_revision_t *r);

/* The stored form: one JSON header line, '\n', the body bytes. */
int coord_revision_encode(const coord_revision_t *r, char **out, size_t *out_len);
int coord_revision_decode(const void *data, size_t len, coord_revision_t *out, char *err,
                          size_t errcap);

enum { COORD_LOG_ERROR, COORD_LOG_WARN, COORD_LOG_INFO, COORD_LOG_DEBUG };

typedef struct coord_callbacks {
    void (*state)(void *arg, coord_state_t state);
    void (*members)(void *arg, const coord_members_t *members);
    void (*leader)(void *arg, const coord_leader_t *leader);
    void (*revision)(void *arg, const coord_revision_t *rev);
    /* a new slot table; epoch is the assignment node's version */
    void (*assignment)(void *arg, const void *table, size_t len, int64_t epoch);
    /* NULL: warnings and errors go to stderr */
    void (*log)(void *arg, int level, const char *msg);
} coord_callbacks_t;

typedef struct coord_config {
    const char *backend_url; /* zookeeper://h1:p1,h2:p2/chroot (required) */
    const char *group;       /* one path segment: "central" (required) */
    const char *member_id;   /* stable id; NULL: an observer (meterctl, meterproxy) */
    int session_timeout_ms;  /* 0: COORD_SESSION_TIMEOUT_DEFAULT_MS; min 1000 */
    const char *auth;        /* "user:secret" digest; NULL: open ACLs (see docs) */
    int keep_revisions;      /* K; 0: COORD_KEEP_REVISIONS_DEFAULT */
    size_t max_node_bytes;   /* 0: COORD_MAX_NODE_DEFAULT */
    bool candidate;          /* members only: stand in the leader election */
    const char *endpoint;    /* advertised when leading without pubsub_listen */
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
    const coord_member_info_t *info; /* initial member data (NULL: empty) */
    coord_callbacks_t cb;
    void *cb_arg;
} coord_config_t;

/*
 * Validates the configuration and starts connecting in the background;
 * returns NULL with the reason in err on bad configuration.
 */
coord_t *coord_open(const coord_config_t *cfg, char *err, size_t errcap);

/* Leaves the group (the session closes, our nodes vanish at once) and frees. */
void coord_close(coord_t *c);

/* Waits until the session is connected and joined, elected and synced. */
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
    /* pub-sub (all 0 / "" without pubsub_listen); each revision is delivered
     * once, counted under the path that was first */
    int64_t pubsub_received;            /* messages received, junk included */
    int64_t pubsub_delivered;           /* revisions delivered first via pub-sub */
    int64_t zk_delivered;               /* revisions delivered first via ZooKeeper */
    int64_t pubsub_dropped_malformed;   /* undecodable, bad length or sha256 */
    int64_t pubsub_dropped_unconfirmed; /* well-formed but not what ZooKeeper holds */
    int64_t pubsub_sent;                /* leader: revisions published */
    bool pubsub_connected;              /* a connection to pubsub_endpoint is up */
    char pubsub_endpoint[256];          /* the leader endpoint we subscribe to, "" none */
    char pubsub_publishing[256];        /* leader: the URL we publish on, "" none */
} coord_status_t;
void coord_get_status(coord_t *c, coord_status_t *st);

/* Replaces our member data (kept and re-written after a rejoin). */
int coord_member_update(coord_t *c, const coord_member_info_t *info);

/* A copy of the last membership snapshot (free with coord_members_free). */
int coord_members_get(coord_t *c, coord_members_t *out);

/* The last known leader. */
void coord_leader_get(coord_t *c, coord_leader_t *out);

/* Reads the current revision from ZooKeeper; COORD_ENOENT if none yet. */
int coord_revision_read(coord_t *c, coord_revision_t *out);

/*
 * Makes body the current revision if the current one is still `expected`
 * (0: none yet); two concurrent pushes from the same expected revision: one
 * wins, the other gets COORD_ECONFLICT. The body's sha256 is computed here
 * (and checked on every read). On success *number_out is the new number.
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
 * and our election node still exists (a deposed leader cannot write).
 */
int coord_assignment_write(coord_t *c, int64_t expected_epoch, const void *table, size_t len,
                           int64_t *epoch_out);

#endif
