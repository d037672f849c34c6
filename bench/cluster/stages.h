/*
 * stages.h: the per-stage breakdown of push propagation, shared by
 * bench_cluster (real agents) and bench_cluster_many (light members).
 *
 * Each member's node carries the trace of the revision it applied
 * (coord_apply_trace_t); the pusher adds when it saw the ack. A push's
 * samples: per member, commit -> notified -> body in hand -> validated ->
 * applied -> ack seen by the pusher, plus the same stages of the slowest
 * member alone (the one that decides the push's latency).
 */
#ifndef METERD_BENCH_STAGES_H
#define METERD_BENCH_STAGES_H

#include "coordinator/coordinator.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { ST_N = COORD_STAGES };

typedef struct st_series {
    double *v;
    int n, cap;
} st_series;

typedef struct st_stats {
    st_series all[ST_N];     /* every member of every push */
    st_series slowest[ST_N]; /* the last member to be seen, per push */
    st_series total;         /* push call -> every member seen applied, ms */
    int64_t via_pubsub, via_zk, untraced;
} st_stats;

/* A member as the pusher saw it: its info and when its ack was seen (µs). */
typedef struct st_seen {
    coord_member_info_t info;
    int64_t seen_us;
} st_seen;

/* Adds one push: commit_us is the pusher's fallback for a trace without a
 * commit instant (pub-sub), total_ms the push's whole latency. */
void st_add_push(st_stats *s, const st_seen *m, int n, int64_t commit_us, double total_ms);
/* {"total":{p50,p99,max,n},"stages":{"notify":{p50,p99},...},"slowest_member":{...},...} */
void st_print(FILE *f, st_stats *s);
void st_free(st_stats *s);
/* Nearest rank. Sorts v. */
double st_pct(double *v, int n, int p);

#endif
