/*
 * chaos.h: what every chaos scenario shares (tests/chaos, ctest label
 * "chaos"): a group of real meterd processes on a real ZooKeeper (the
 * cluster fixture), a seeded random source, and one checker that reads
 * every sample of the shared file publisher's output and reports, per
 * target and due instant, whether it was polled once, twice (or more), or
 * missed, against the bounds the docs promise.
 */
#ifndef METERD_TESTS_CHAOS_H
#define METERD_TESTS_CHAOS_H

#include "../agent/cluster_fixture.h"

#include <stdbool.h>
#include <stdint.h>

#define CHAOS_SESSION_MS 2000 /* cluster_fixture's session_timeout_ms */
#define CHAOS_TICK_MS    500  /* the harness ZooKeeper's tickTime */
/* A crashed or cut-off member's targets go unpolled until its session
 * expires (session timeout plus up to a tick, OPERATIONS.md "an agent
 * crashes"), the leader plans and writes a table and the survivors read it.
 * The last two take hundreds of ms (the longest run of misses measured
 * was 3 s: 3 instants); 1.5 s is allowed for a loaded 2-core machine. */
#define CHAOS_DETECT_MS (CHAOS_SESSION_MS + CHAOS_TICK_MS + 1500)

/* One interval of time in which some targets may miss (or duplicate) polls:
 * [from, to), targets picked by mask (n_targets bools, NULL: all). */
typedef struct chaos_excuse {
    int64_t from, to;
    bool *mask;
} chaos_excuse;

/* What the checker counts over a window, per due instant of every target. */
typedef struct chaos_counts {
    int64_t due;                   /* instants checked */
    int64_t once;                  /* polled exactly once */
    int64_t twice;                 /* polled twice */
    int64_t more;                  /* polled three times or more */
    int64_t duplicates;            /* polls beyond the first, all instants */
    int64_t missed;                /* not polled at all */
    int64_t missed_ok;             /* ...of which inside an excuse for misses */
    int64_t dup_ok;                /* duplicates inside an excuse for duplicates */
    int64_t targets_hit;           /* targets with at least one instant not polled once */
    int64_t longest_miss;          /* the longest run of missed instants of one target (ms) */
    int64_t first_miss, last_miss; /* the earliest and latest missed instant (0: none) */
} chaos_counts;

typedef struct chaos_run {
    cluster_fx fx;
    unsigned seed;
    const char *name;
    const char *out_dir; /* where the output goes (NULL: the test's folder) */
    chaos_excuse miss_ok[64];
    int n_miss_ok;
    chaos_excuse dup_ok[64];
    int n_dup_ok;
} chaos_run;

/* Skips (exit 77) unless the timings the bounds assume can hold: the chaos
 * suite runs in the normal build only (not under a sanitizer or valgrind). */
void chaos_require_normal_build(const char *scenario);

/* Seeds the run from CHAOS_SEED or the clock and prints the seed. */
void chaos_seed(chaos_run *r, const char *name);
/* A pseudo-random integer in [0, n). */
int chaos_rand(chaos_run *r, int n);

/* The output file: <out_dir or tmpdir/out>/<name>.jsonl, in r->fx. */
void chaos_set_output(chaos_run *r);

/* ZooKeeper (standalone), the pipeline of `targets` probes pushed (output
 * out/<name>.jsonl), n agents started with extra [coordination] lines and
 * converged on it. Returns the revision. */
int64_t chaos_group_up(chaos_run *r, int n, int targets, const char *extra);
/* The same on a ZooKeeper already started by the caller in r->fx (cf_start
 * or chaos_ensemble_start). */
int64_t chaos_group_up_started(chaos_run *r, int n, int targets, const char *extra);

/* Replaces the fixture's standalone ZooKeeper by a 3-server ensemble (the
 * observer reopened on it); 0 or -1. Call after cf_start, before nodes. */
int chaos_ensemble_start(chaos_run *r);

/* The targets member node-i owns now under the stored table (malloc'd mask,
 * the caller keeps it until the run ends). */
bool *chaos_owned_mask(chaos_run *r, int i);

/* Excuses misses (dups) of the targets in mask during [from, to). */
void chaos_excuse_misses(chaos_run *r, int64_t from, int64_t to, bool *mask);
void chaos_excuse_duplicates(chaos_run *r, int64_t from, int64_t to, bool *mask);

/*
 * Reads every sample and counts each due instant in [from, to) of every
 * target; prints the totals and, per target not polled once everywhere, its
 * instants; returns the counts. An instant counts for the excuses whose
 * [from, to) holds it.
 */
void chaos_check(chaos_run *r, const char *what, int64_t from, int64_t to, chaos_counts *c);

/* Wall-clock sleep (the output is what is measured: let it accumulate). */
void chaos_sleep_until(int64_t wall_ms);

/* n members, one table, every target owned once (for th_wait_until; arg:
 * a chaos_view_want). */
typedef struct chaos_view_want {
    chaos_run *r;
    int n;
} chaos_view_want;
bool chaos_view_ok(void *want);

/*
 * The caller cut member v off at t (frozen, partitioned), mask its share
 * read just before: excuses the share's misses for the detection window
 * (from half an interval before t: a poll in flight), waits until the n - 1
 * others own every target, and returns once v has been cut off for the
 * session timeout + 3 s. Returns how long after t the others took over, or
 * -1 if they did not.
 */
int64_t chaos_hold_cut_off(chaos_run *r, bool *mask, int64_t t, int n);

#endif
