/*
 * cluster_fixture.h: a real ZooKeeper and real meterd processes on loopback
 * for cluster-mode tests, plus an observer coordinator handle to push
 * revisions and read what members report, and a reader of the shared file
 * publisher output to count polls per target.
 */
#ifndef METERD_TESTS_CLUSTER_FIXTURE_H
#define METERD_TESTS_CLUSTER_FIXTURE_H

#include "coordinator/coordinator.h"
#include "group/group.h"
#include "harness/zk.h"

#define CF_MAX_NODES 24

typedef struct cf_node {
    th_proc proc;
    int api_port;
    char host[32];
    char conf[512];
    char url[300]; /* ZooKeeper as this node reaches it (set before cf_node_start; "": f->url) */
} cf_node;

typedef struct cluster_fx {
    th_zk zk;
    char url[300];
    coord_t *obs; /* observer on group "central" */
    cf_node nodes[CF_MAX_NODES];
    int n_nodes;
    char out_path[512]; /* the file publisher's output, shared by every node */
    int n_targets;
    const char *log_level; /* NULL: "info" (or "debug" with METERD_TEST_DEBUG) */
    int unclean;           /* daemons that crashed, leaked or reported (so far) */
    /* secure by default: every node gets auth_file and trusted_keys_file, the
     * observer the same credentials, and cf_push signs with the operator key */
    bool insecure;       /* set before cf_node_start: nodes run insecure = true */
    char auth[128];      /* "user:secret", the group's ZooKeeper credentials */
    char auth_path[512]; /* ...in a 0600 file */
    char trusted_path[512];
    char key_path[512];       /* the operator's Ed25519 key (PEM, 0600) */
    char table_key_path[512]; /* the members' slot-table key (PEM, 0600) */
    group_signer *signer;
} cluster_fx;

/* Runs meterd -c conf, which must refuse to start (a nonzero exit, not the
 * 120 s timeout; aborts otherwise): its output in out. */
void cf_expect_refused(const char *conf, char *out, size_t cap);

/* Starts ZooKeeper and the observer, and makes the group's credentials. */
void cf_start(cluster_fx *f);
/* The same for a group run open on purpose: the observer has no
 * credentials, nodes get insecure = true. */
void cf_start_insecure(cluster_fx *f);
/* Starts node i (host "node-i") with optional extra [coordination] lines.
 * A node started again is judged first (see cf_stop). */
void cf_node_start(cluster_fx *f, int i, const char *extra_coordination);
/*
 * Stops every node (SIGTERM) and ZooKeeper, and judges how each meterd ended,
 * every incarnation: exit code 0, or SIGKILL sent on purpose by th_stop; no
 * sanitizer or valgrind report in its log. Returns how many did not end
 * cleanly (reasons on stderr): tests assert it is 0.
 */
int cf_stop(cluster_fx *f);

/* The test pipeline: n_targets tcp:// probes every second into out_path. */
char *cf_pipeline(cluster_fx *f, int n_targets);
/* Pushes body signed with the operator key for the number it gets; returns
 * that number (asserts success). */
int64_t cf_push(cluster_fx *f, const char *body);
/* The same with the signature string given (NULL: unsigned). */
int64_t cf_push_signed(cluster_fx *f, const char *body, const char *signature);

/* True once `n` members report revision rev, one table (same digest), and
 * owned counts summing to the target count. */
bool cf_converged(cluster_fx *f, int n, int64_t rev);
bool cf_wait_converged(cluster_fx *f, int n, int64_t rev, int timeout_ms);

/* What the group's only member reports: its state, the revision it applied
 * and (error_part non-NULL) a part of its last error. For th_wait_until:
 * arg is a cf_sole_want whose fx is set. */
typedef struct cf_sole_want {
    cluster_fx *fx;
    const char *state;
    int64_t applied;
    const char *error_part;
} cf_sole_want;
bool cf_sole_member_is(void *want);

/* owned count reported by member id ("" if absent: -1). */
int64_t cf_owned(cluster_fx *f, const char *member_id);

/* Polls per target seen in the output between [from_ms, to_ms) (wall clock):
 * fills min/max polls per target and the smallest gap between two polls of
 * the same target. */
typedef struct cf_polls {
    int targets_seen;
    int min_polls, max_polls;
    int64_t min_gap_ms, max_gap_ms;
} cf_polls;
void cf_count_polls(cluster_fx *f, int64_t from_ms, int64_t to_ms, cf_polls *out);

int64_t cf_wall_ms(void);
/* ms since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ" (samples, meterd.log
 * lines) at the start of s, or -1. */
int64_t cf_parse_ts(const char *s);

/* ---- fault tests and the cluster bench ---- */

/* Index i of member id "node-i.central", or -1. */
int cf_node_index(const char *member_id);

/* Members reported by the observer: count, and whether they share one
 * non-empty digest and own f->n_targets targets between them. */
typedef struct cf_view {
    int count;
    bool one_table;
    int64_t owned;
} cf_view;
void cf_view_get(cluster_fx *f, cf_view *v);

/*
 * The samples of the shared output file, per target (port k+1 -> k), sorted,
 * with each target's phase (its due instants are phase + j * interval, as
 * the scheduler fixes them; estimated as the median residue of its polls).
 */
typedef struct cf_samples {
    int n_targets;
    int64_t interval_ms;
    int64_t **t;
    int *count;
    int64_t *phase;
} cf_samples;
int cf_samples_load(cluster_fx *f, int64_t interval_ms, cf_samples *s);
/* Each target's phase as node i's scheduler fixes it (/v1/targets'
 * offset_ms): its due instants are exactly phase + j * interval. A poll is
 * stamped when it starts, a few ms after its instant (more under load), so
 * cf_samples' estimate lags it: an instant that fell just before a table's
 * instant reads as if it came after. 0, or -1 when the node did not answer or
 * lacked a target. */
int cf_task_phases(cluster_fx *f, int i, int64_t *phase);
void cf_samples_free(cf_samples *s);

/*
 * Polls per due instant in [from_ms, to_ms): each poll counts for the due
 * instant nearest to it; a due instant with no poll is missed, every poll
 * beyond the first of one due instant a duplicate. mask (NULL: all) picks
 * the targets counted.
 */
typedef struct cf_window {
    int64_t due, polls, duplicates, missed;
} cf_window;
void cf_samples_window(const cf_samples *s, int64_t from_ms, int64_t to_ms, const bool *mask,
                       cf_window *out);
/* Load + window + free, for one-off checks (interval 1 s). */
void cf_count_window(cluster_fx *f, int64_t from_ms, int64_t to_ms, cf_window *out);

/* Reads the stored slot table: its digest (lowercase hex sha256 of the
 * node's bytes), member ids checked with cf_table_has, and which targets
 * member_id owns under it (mask of f->n_targets, may be NULL). 0 or -1. */
int cf_table_read(cluster_fx *f, char digest[65], const char *member_id, bool *mask,
                  int *n_members_out);
/* 1 if member_id is in the stored table, 0 if not, -1 on error. */
int cf_table_has(cluster_fx *f, const char *member_id);

/*
 * For pollsters whose samples are not tcp:// ones: the lines of f's output
 * for meter whose resource is resource_prefix + PORT (+ anything), PORT =
 * ports[k], rewritten as target k's (tcp://127.0.0.1:<k+1>, its timestamp)
 * into view's output file, so that the cf_samples_* functions judge them
 * (view->n_targets = n). value1_seen[k] (may be NULL) is set when such a
 * line has value 1. 0 or -1.
 */
int cf_samples_by_port(cluster_fx *f, const char *meter, const char *resource_prefix,
                       const int *ports, int n, bool *value1_seen, cluster_fx *view);

#endif
