/*
 * loop.h (internal to agent/): the agent's one event loop.
 *
 * A single thread owns the loop: timers (a binary heap keyed by monotonic
 * milliseconds), file descriptors (epoll: signalfd, inotify) and callbacks
 * posted from other threads (a mutex-protected queue plus an eventfd to wake
 * epoll_wait). Scheduler, reload and shutdown all run on it, so the state they
 * share needs no locks; worker and HTTP threads talk to it only through
 * loop_post(). This is the nng_aio idea at agent scale: one primitive for
 * "call me later / when ready" instead of a thread or timer per feature.
 */
#ifndef METERD_AGENT_LOOP_H
#define METERD_AGENT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct loop loop;
typedef void (*loop_fn)(void *arg);
typedef void (*loop_fd_fn)(void *arg, int fd, uint32_t events);

/* A timer handle, embedded by its owner; the loop never allocates one. */
typedef struct loop_timer {
    int64_t due_ms;    /* monotonic */
    size_t heap_index; /* SIZE_MAX when not scheduled */
    loop_fn fn;
    void *arg;
} loop_timer;

loop *loop_new(void);
void loop_free(loop *l);

/* Runs until loop_stop(); returns 0, or -1 if epoll fails. */
int loop_run(loop *l);
/* Thread-safe: makes loop_run return after the current callback. */
void loop_stop(loop *l);

/*
 * Thread-safe: how long the loop has been busy in its current iteration
 * (callbacks, timers), in ms; 0 while it waits for events or is not running.
 * A large value means a callback is stuck: /health's stall check.
 */
int64_t loop_busy_ms(loop *l);
/* Thread-safe: inside loop_run() and not stopped yet (/ready). */
bool loop_running(loop *l);

int64_t loop_now_ms(void);  /* CLOCK_MONOTONIC in ms */
int64_t loop_wall_ms(void); /* CLOCK_REALTIME in ms */

void loop_timer_init(loop_timer *t, loop_fn fn, void *arg);
/* (Re)schedules t at due_ms (monotonic). Loop thread only. */
void loop_timer_at(loop *l, loop_timer *t, int64_t due_ms);
void loop_timer_cancel(loop *l, loop_timer *t);
bool loop_timer_pending(const loop_timer *t);
size_t loop_timer_count(const loop *l);

/* Watches fd for events (EPOLLIN...). Loop thread only. 0 or -1. */
int loop_add_fd(loop *l, int fd, uint32_t events, loop_fd_fn fn, void *arg);
void loop_del_fd(loop *l, int fd);

/*
 * Thread-safe: runs fn(arg) on the loop thread soon, never inline. 0, or -1
 * on ENOMEM. Every fn accepted runs exactly once, one at a time, in the
 * order posted: what is still queued when loop_run() returns runs in
 * loop_free() (on the freeing thread), so the coordinator's executor
 * contract holds (coordinator.h). Whoever posts must have stopped before
 * loop_free() (cluster_stop closes the coordinator first).
 */
int loop_post(loop *l, loop_fn fn, void *arg);

#endif
