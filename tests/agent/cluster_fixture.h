/*
 * cluster_fixture.h: a real ZooKeeper and real meterd processes on loopback
 * for cluster-mode tests, plus an observer coordinator handle to push
 * revisions and read what members report, and a reader of the shared file
 * publisher output to count polls per target.
 */
#ifndef METERD_TESTS_CLUSTER_FIXTURE_H
#define METERD_TESTS_CLUSTER_FIXTURE_H

#include "coordinator/coordinator.h"
#include "harness/zk.h"

#define CF_MAX_NODES 12

typedef struct cf_node {
    th_proc proc;
    int api_port;
    char host[32];
    char conf[512];
} cf_node;

typedef struct cluster_fx {
    th_zk zk;
    char url[300];
    coord_t *obs; /* observer on group "central" */
    cf_node nodes[CF_MAX_NODES];
    int n_nodes;
    char out_path[512]; /* the file publisher's output, shared by every node */
    int n_targets;
} cluster_fx;

/* Starts ZooKeeper and the observer. */
void cf_start(cluster_fx *f);
/* Starts node i (host "node-i") with optional extra [coordination] lines. */
void cf_node_start(cluster_fx *f, int i, const char *extra_coordination);
void cf_stop(cluster_fx *f);

/* The test pipeline: n_targets tcp:// probes every second into out_path. */
char *cf_pipeline(cluster_fx *f, int n_targets);
/* Pushes body; returns the new revision number (asserts success). */
int64_t cf_push(cluster_fx *f, const char *body);

/* True once `n` members report revision rev, one table (same digest), and
 * owned counts summing to the target count. */
bool cf_converged(cluster_fx *f, int n, int64_t rev);
bool cf_wait_converged(cluster_fx *f, int n, int64_t rev, int timeout_ms);

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

#endif
