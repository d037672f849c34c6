/*
 * workers.h (internal to agent/): a fixed pool of threads running poll jobs.
 *
 * Jobs are queued FIFO; a slow job occupies one worker and never delays the
 * others beyond the pool size. The pool never grows: overload shows up as
 * queue length and as polls skipped by the scheduler (a target whose previous
 * poll is still queued or running is not queued again).
 */
#ifndef METERD_AGENT_WORKERS_H
#define METERD_AGENT_WORKERS_H

#include <stddef.h>

typedef struct workers workers;
typedef void (*workers_fn)(void *arg);

/* Starts n threads (n >= 1). NULL on failure. */
workers *workers_new(size_t n);

/* Queues fn(arg). 0, or -1 if the pool is stopping or out of memory. */
int workers_submit(workers *w, workers_fn fn, void *arg);

size_t workers_queued(workers *w);
size_t workers_busy(workers *w);
size_t workers_size(const workers *w);

/* Runs every queued job, then joins the threads and frees the pool. */
void workers_free(workers *w);

#endif
