/*
 * chaos_scenarios.h: what test_chaos.c shares with the scenarios kept in
 * files of their own (test_chaos_net.c: a network partition through
 * namespaces; test_chaos_env.c: a full disk, a wall-clock step).
 */
#ifndef METERD_TESTS_CHAOS_SCENARIOS_H
#define METERD_TESTS_CHAOS_SCENARIOS_H

#include "chaos.h"

extern chaos_run chaos_the_run;

int chaos_teardown(void **state);
/* No unexcused miss; no unexcused duplicate unless dups_allowed. */
void chaos_assert_bounds(const chaos_counts *c, bool dups_allowed);
void chaos_converge(int n, int64_t rev);

void chaos_test_partition(void **state);
void chaos_test_fulldisk(void **state);
void chaos_test_clockstep(void **state);
void chaos_test_soak(void **state);
/* A private mount namespace for the full-disk scenario: called before any
 * thread exists (unshare(CLONE_NEWNS) refuses a threaded process). */
void chaos_fulldisk_prepare(void);

#endif
