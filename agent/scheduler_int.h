/*
 * scheduler_int.h (internal to agent/scheduler*.c): what scheduler.c, which
 * builds and runs sources, shares with scheduler_diff.c, which applies a
 * changed definition to a running one. Loop thread unless noted.
 */
#ifndef METERD_AGENT_SCHEDULER_INT_H
#define METERD_AGENT_SCHEDULER_INT_H

#include "agent/core.h"

/* The targets a definition polls: per agent pollster, its targets (empty for
 * a pollster the source does not use) and where its meters start in
 * src_conf.want. The targets' labels point into the src_conf built with it. */
typedef struct src_plan {
    size_t n; /* agent.n_pollsters */
    target_list *lists;
    size_t *want_off;
} src_plan;

/* A source's definition and the targets it polls; errors of discovery or
 * parameters go to derr (the source runs without those targets). NULL out
 * of memory. */
src_conf *src_conf_build(src_rt *s, const pipeline_source *def, src_plan *plan, char *derr,
                         size_t derrlen);
void src_conf_unref(src_conf *c); /* any thread */
void src_plan_free(src_plan *p);
size_t src_plan_count(const src_plan *p);

/* A task of s for target t (its state from the pollster's init), not yet
 * in s's list nor armed. NULL out of memory. */
task *task_new(src_rt *s, size_t pp_index, size_t want_off, const poll_target *t,
               int64_t interval_ms);
void task_unref(task *k); /* any thread; the last one frees it on the loop */
/* The stable phase of (source, pollster, target) at an interval. */
int64_t task_offset(const char *source, const char *pollster, const char *target,
                    int64_t interval_ms);
/* The first instant offset + k * interval after now_wall. */
int64_t task_next_due(int64_t now_wall, int64_t interval, int64_t offset);
/* Sets k's timer for k->due_wall_ms. */
void task_arm(task *k, int64_t now_wall, int64_t now_mono);

#endif
