/*
 * proxy.h (internal to proxy/): meterproxy, the cluster's REST gateway.
 *
 * A head node's one door to a meterd cluster (seed 001's pmproxy, made for
 * meterd): clients that reach only it read every group's state, who owns a
 * target, the revisions, and the agents' own answers, without knowing the
 * cluster's layout. The parts:
 *   - opts.c: pmproxy's command line and environment (-f -i -p -l -L -c -U
 *     -x, METERPROXY_PORT, METERPROXY_LOCAL, METERPROXY_MAXPENDING);
 *   - config.c: meterproxy.conf ([meterproxy]: the APIs and limits,
 *     [coordination]: ZooKeeper, its credentials and the groups served,
 *     [agents]: the CA, name and client certificate of HTTPS agents);
 *   - token.c: the bearer token of writes, re-read when its file changes
 *     (rotation without a restart);
 *   - cache.c: one observer handle per group (coordinator/) whose watches
 *     keep a groupview (groupview/) current: no ZooKeeper read per request;
 *     the groups are those the coordinator's listing finds under the chroot
 *     (restricted by `groups =`);
 *   - located.c: ?target=T's answers, rendered once per target and view;
 *   - api.c: the routes, answering from the cache with groupview's JSON
 *     (the documents of `meterctl -o json`);
 *   - fanout.c, fed_round.c, federate.c: /v1/targets routed to the owner
 *     agent and /metrics federated over the agents (httpc/'s engine, never
 *     waiting on an HTTP thread; one round shared by concurrent clients;
 *     the pages merged into one);
 *   - write.c: PUT .../pipeline, a push the client signed (token, CAS,
 *     the same check and wait as meterctl push);
 *   - main.c: start-up (daemon, bind, privileges), signals, shutdown.
 * Everything a running proxy holds hangs off one proxy_ctx (no global
 * mutable state but the signal flag in main.c).
 */
#ifndef METERD_PROXY_H
#define METERD_PROXY_H

#include "coordinator/coordinator.h"
#include "group/group.h"
#include "groupview/groupview.h"
#include "httpc/httpc.h"
#include "httpd/httpd.h"
#include "metrics/metrics.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#define PROXY_DEFAULT_PORT       9468
#define PROXY_MAX_PORTS          8
#define PROXY_MAX_ADDRS          8
#define PROXY_DEFAULT_MAXREQUEST 65536
#define PROXY_MAX_GROUPS         32
#define PROXY_MAX_ROUNDS         (PROXY_MAX_GROUPS + 1) /* federations in flight */

/* ---- opts.c ---------------------------------------------------------------- */

typedef struct proxy_opts {
    bool foreground;                    /* -f */
    const char *addrs[PROXY_MAX_ADDRS]; /* -i ADDRESS (repeatable) */
    size_t n_addrs;
    int ports[PROXY_MAX_PORTS]; /* -p PORT[,PORT...] union METERPROXY_PORT */
    size_t n_ports;
    const char *log_file; /* -l */
    size_t max_request;   /* -L BYTES */
    const char *config;   /* -c */
    const char *user;     /* -U */
    const char *err_file; /* -x */
    bool local;           /* METERPROXY_LOCAL (default 1) */
    int maxpending;       /* METERPROXY_MAXPENDING (0: the default) */
    /* the listen addresses built from the above: "host:port" */
    char listen[HTTPD_MAX_LISTEN][300];
    size_t n_listen;
} proxy_opts;

/* Parses argv and the environment (getenv). 0 to run, 1 when --help or
 * --version printed on out, -1 with a sentence in err (usage error). */
int proxy_opts_parse(proxy_opts *o, int argc, char **argv, FILE *out, char *err, size_t errlen);

/* ---- config.c -------------------------------------------------------------- */

typedef struct proxy_config {
    char path[PATH_MAX];
    /* [meterproxy] */
    bool groups_api, targets_api, metrics_api, writes_api;
    char token_file[PATH_MAX];       /* bearer token of writes (mode 0600) */
    char agent_token_file[PATH_MAX]; /* the token agents want off loopback */
    int agent_timeout_ms;            /* per agent, fan-out */
    int metrics_reuse_ms;            /* a federated page serves this long */
    int max_connections;             /* 0: from the descriptor limit */
    int max_head_bytes;              /* the head's cap (the body's is -L) */
    int header_timeout_ms, idle_timeout_ms;
    int threads;
    char tls_cert_file[PATH_MAX], tls_key_file[PATH_MAX], tls_client_ca_file[PATH_MAX];
    /* [coordination] */
    char backend_url[1024];
    char groups[1024]; /* comma separated */
    char auth_file[PATH_MAX];
    char acl_file[PATH_MAX];          /* roles' ids: nodes a write creates get role ACLs */
    char trusted_keys_file[PATH_MAX]; /* revisions' signatures are checked with it */
    int session_timeout_ms;
    /* [agents]: how the fan-out reaches agents whose API serves HTTPS */
    char agents_tls_ca_file[PATH_MAX];   /* verifies their certificates */
    char agents_tls_name[256];           /* checked instead of each URL's host */
    char agents_tls_cert_file[PATH_MAX]; /* the proxy's client certificate (mTLS) */
    char agents_tls_key_file[PATH_MAX];
} proxy_config;

void proxy_config_defaults(proxy_config *c);
/* Loads path over the defaults; -1 with "file:line: message" lines in err. */
int proxy_config_load(proxy_config *c, const char *path, char *err, size_t errlen);
/* Prints every option with its default and documentation (--help-config). */
void proxy_config_print(FILE *out);

/* ---- token.c --------------------------------------------------------------- */

typedef struct proxy_token {
    pthread_mutex_t mu;
    char path[PATH_MAX];
    struct stat seen; /* of the file the token was read from */
    unsigned char *tok;
    size_t len;
    char error[600]; /* why the last read failed, "" when it did not */
} proxy_token;

void proxy_token_init(proxy_token *t, const char *path);
void proxy_token_free(proxy_token *t);
/* Whether an Authorization header value carries the current token. The file
 * is read again whenever it changed (inode, size or mtime), so a rotated
 * token takes effect without a restart. 1 yes, 0 no, -1 no usable token
 * file (why in error: then every write is refused). */
int proxy_token_check(proxy_token *t, const char *authorization);

/* ---- cache.c --------------------------------------------------------------- */

/* A group's documents, rendered once per change of its view (api.c). */
enum {
    PROXY_R_STATUS,
    PROXY_R_MEMBERS,
    PROXY_R_ASSIGNMENT,
    PROXY_R_PIPELINE,
    PROXY_R_REVISIONS,
    PROXY_R_COUNT
};
typedef struct proxy_rendered {
    char *text; /* NULL: not rendered */
    size_t len;
    uint64_t changes; /* the group's `changes` it was rendered at */
    int64_t next_ms;  /* and the clock's next instant (a table coming into force) */
    int64_t number;   /* the current revision then (pipeline's ETag) */
} proxy_rendered;

/* The "target" answers of .../assignment?target=T, per target (located.c). */
typedef struct proxy_located {
    struct proxy_located_entry *slots; /* open addressing; NULL until the first */
    size_t n, bytes;
    uint64_t changes; /* the view they were rendered for, as proxy_rendered */
    int64_t next_ms;
} proxy_located;

typedef struct proxy_group {
    char name[128];
    struct proxy_ctx *px;
    coord_t *_Atomic c; /* NULL until its observer is open (handlers check) */
    pthread_mutex_t mu; /* guards what follows */
    groupview v;
    coord_state_t state;
    json_t *revisions;     /* `meterctl revisions -o json`'s list, NULL until read */
    int64_t revisions_for; /* the current revision it was read at */
    uint64_t changes;      /* events applied: what invalidates `rendered` */
    /* what the proxy judged of the pipeline node (shown, never hidden) */
    char bad_reason[400];   /* why the node is not a revision (v.bad_rev) */
    int verified;           /* the current revision's signature: 1, 0 bad, -1 no keys */
    char verify_error[400]; /* why not, when 0 */
    json_t *body_errors;    /* NULL, or its body's errors (not a valid pipeline) */
    proxy_rendered rendered[PROXY_R_COUNT];
    proxy_located located;
} proxy_group;

typedef struct proxy_cache {
    proxy_group groups[PROXY_MAX_GROUPS];
    _Atomic size_t n;        /* entries below n are whole; only appended */
    pthread_mutex_t open_mu; /* serialises appends */
    coord_groups_t *lister;  /* the groups under the chroot */
} proxy_cache;

/* Opens one observer per configured group and the listing of the groups
 * under the chroot (which opens the others that appear, when `groups` is
 * empty); never blocks on ZooKeeper. */
int proxy_cache_open(struct proxy_ctx *px, char *err, size_t errlen);
/* Whether `[coordination] groups` lets the proxy serve this group (every
 * group when it is empty). */
bool proxy_cache_allowed(const struct proxy_ctx *px, const char *name, size_t len);
void proxy_cache_close(proxy_cache *cache);
proxy_group *proxy_cache_find(proxy_cache *cache, const char *name, size_t len);

/* ---- located.c ------------------------------------------------------------- */

/* Under g->mu: groupview_locate_json(target)'s text (compact, sorted keys),
 * rendered once per target and view; valid until g->mu is released. NULL
 * when out of memory or jansson refuses the target (not UTF-8). */
const char *proxy_located_get(proxy_group *g, const char *target, size_t *len);
void proxy_located_clear(proxy_located *l);
void proxy_located_free(proxy_located *l);

/* ---- federate.c ------------------------------------------------------------ */

typedef struct proxy_fed_input {
    const char *member; /* its member id: the `member` label */
    const char *text;   /* its /metrics page (exposition text 0.0.4) */
    size_t len;
    const char *error; /* NULL: answered; else why not (text unused) */
    char *owned;       /* freed once taken (NULL: the caller's) */
} proxy_fed_input;

/* The members' pages as one: every sample labelled with its member, samples
 * grouped by family, then meterproxy_federation_up per member. Frees each
 * input's `owned` as it goes. NULL when out of memory; free() it. */
char *proxy_federate(const proxy_fed_input *in, size_t n, size_t *len);

/* ---- the running proxy ------------------------------------------------------ */

typedef struct proxy_ctx {
    proxy_opts opts;
    proxy_config cfg;
    FILE *log;     /* -l's file (also the ZooKeeper client's log then), or std_err */
    FILE *std_err; /* the process's standard error stream before -l */
    pthread_mutex_t log_mu;
    int log_level;          /* COORD_LOG_*: lines above it are dropped */
    unsigned char *zk_auth; /* [coordination] auth_file's "user:secret" */
    group_roles role_ids;   /* [coordination] acl_file */
    group_trust *trust;     /* [coordination] trusted_keys_file, NULL without */
    coord_roles_t roles;
    bool has_roles;
    size_t zk_auth_len;
    proxy_token token;
    proxy_cache cache;
    httpd *http;
    /* fanout.c, fed_round.c */
    const curl_api *curl; /* NULL: libcurl missing (curl_error says why) */
    char curl_error[256];
    curl_engine *engine;
    unsigned char *agent_token; /* [meterproxy] agent_token_file */
    size_t agent_token_len;
    pthread_mutex_t fed_mu;
    struct proxy_fed_round *fed_rounds[PROXY_MAX_ROUNDS]; /* in flight, by scope */
    /* write.c: writes and waits in flight, drained before the server stops */
    pthread_mutex_t write_mu;
    pthread_cond_t write_cond;
    int writes;
    bool stopping;
    metrics_registry *mx;
    metrics_metric *m_requests, *m_errors, *m_not_found, *m_unauthorized;
    int64_t started_ms;
} proxy_ctx;

void proxy_log(proxy_ctx *px, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int64_t proxy_wall_ms(void);

/* ---- fanout.c: requests passed on to agents ------------------------------------- */

typedef struct proxy_fetch proxy_fetch;
typedef void (*proxy_fetch_done_fn)(proxy_fetch *f, void *arg);

/* One GET to an agent, on the engine's thread. */
struct proxy_fetch {
    proxy_ctx *px;
    char *body;
    size_t len, cap;
    bool too_big;
    long status;                  /* the agent's HTTP status, 0 when none */
    char error[300];              /* "" when the transfer worked */
    char detail[CURL_ERROR_SIZE]; /* libcurl's own words on a failure (TLS: which check) */
    struct curl_slist *headers, *connect_to;
    proxy_fetch_done_fn done;
    void *arg;
};

/* Starts GET url; done runs on the engine's thread (also when it cannot
 * start: then f->error says why). */
void proxy_fetch_start(proxy_ctx *px, proxy_fetch *f, const char *url, proxy_fetch_done_fn done,
                       void *arg);
/* The agents' token and the HTTP client engine. 0, or -1 with err. */
int proxy_fanout_open(proxy_ctx *px, char *err, size_t errlen);
/* Ends every transfer in flight (their requests are answered): before
 * httpd_stop. */
void proxy_fanout_cancel(proxy_ctx *px);
void proxy_fanout_close(proxy_ctx *px);
/* GET /v1/targets?target=T[&group=G]: the owner's answer. */
void proxy_fanout_target(proxy_ctx *px, httpd_req *r);

/* ---- fed_round.c: GET /metrics, one federation round shared by clients ---------- */

typedef struct proxy_fed_round proxy_fed_round;
/* GET /metrics[?group=G]: the proxy's own metrics, then the federated page. */
void proxy_fanout_metrics(proxy_ctx *px, httpd_req *r);
/* Drops the rounds kept for reuse (no stream is left): at close. */
void proxy_fed_close(proxy_ctx *px);

/* ---- write.c: pushes through the proxy ------------------------------------------ */

/* PUT /v1/groups/{g}/pipeline (token, If-Match, X-Meterd-Signature, ?wait=). */
void proxy_write_pipeline(proxy_ctx *px, httpd_req *r, proxy_group *g);
/* POST /v1/groups/{g}/rollback?revision=N: N's body pushed again, signed
 * by the client for its new number (the same headers as the PUT). */
void proxy_write_rollback(proxy_ctx *px, httpd_req *r, proxy_group *g);
/* Refuses new writes and waits for those in flight to answer. */
void proxy_writes_drain(proxy_ctx *px);

/* ---- api.c ------------------------------------------------------------------ */

/* Answers doc (compact, sorted keys, one line) with status, and frees it. */
void proxy_reply_json(proxy_ctx *px, httpd_req *r, int status, json_t *doc);
/* Answers {"error": message} with status. */
void proxy_reply_error(proxy_ctx *px, httpd_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The proxy's own metrics as exposition text (malloc'd; NULL, *len 0 when
 * out of memory). */
char *proxy_self_metrics(proxy_ctx *px, size_t *len);
/* The httpd handler (arg: the proxy_ctx). */
void proxy_api_handle(httpd_req *req, void *arg);
/* Registers the self-metrics the API counts. 0, or -1 with err. */
int proxy_api_metrics(proxy_ctx *px, char *err, size_t errlen);

#endif /* METERD_PROXY_H */
