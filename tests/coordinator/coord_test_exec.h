/*
 * coord_test_exec.h: an executor for the coordinator's tests, as an event
 * loop would offer one: post() queues, the test thread runs the queue. The
 * test decides when fns run (or that they never run before coord_close()),
 * and can refuse posts (a loop shutting down).
 */
#ifndef METERD_TESTS_COORD_TEST_EXEC_H
#define METERD_TESTS_COORD_TEST_EXEC_H

#include "coordinator/coordinator.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct texec_item texec_item;

typedef struct texec {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* something was posted */
    texec_item *head, *tail;
    size_t len;
    bool refuse;     /* post() fails, as when a loop is shutting down */
    size_t refused;  /* posts refused */
    size_t ran;      /* fns run */
    pthread_t owner; /* the thread that runs them: the one that called texec_init */
} texec;

void texec_init(texec *q);
/* Runs whatever is still queued (a loop drains before it stops), then frees. */
void texec_fini(texec *q);
coord_executor_t texec_executor(texec *q);
size_t texec_len(texec *q);
size_t texec_refused(texec *q);
void texec_refuse(texec *q, bool refuse);
/* Waits (without running anything) until at least n fns are queued. */
bool texec_wait_len(texec *q, size_t n, int timeout_ms);
/* Runs queued fns on this thread until cond(arg) holds; false on timeout. */
bool texec_run_until(texec *q, bool (*cond)(void *), void *arg, int timeout_ms);
/* Runs what is queued now; returns how many ran. */
size_t texec_run_all(texec *q);

/*
 * A recorder: every callback and completion appends (kind, rc, value) in the
 * order it ran, counts calls made on another thread than its owner's (the
 * executor's) and calls made after the test marked its handle closed.
 * Kinds: callbacks 'S' state, 'M' members (count), 'L' leader (is_me),
 * 'R' revision (number), 'A' assignment (epoch); completions 'r' revision
 * (number), 'v' push/write (version), 'l' list (count), 't' table (epoch).
 */
typedef struct tev {
    char kind;
    int rc;
    int64_t value;
} tev;

typedef struct trec {
    pthread_mutex_t mu;
    pthread_t owner;
    int wrong_thread;
    bool closed;      /* the test closed the handle */
    int after_close;  /* calls after that */
    coord_t *close_c; /* closed from inside the first call of kind close_on */
    char close_on;
    tev ev[512];
    size_t n;
    char body[64];  /* last revision body seen (callback or completion) */
    char table[64]; /* last table seen */
    int64_t nums[16];
    size_t nnums;
} trec;

void trec_init(trec *r); /* owner: the calling thread */
void trec_fini(trec *r);
coord_callbacks_t trec_callbacks(void);
void trec_mark_closed(trec *r);
size_t trec_count(trec *r, char kind);
/* The i-th record of that kind (0 = first), or a zeroed one. */
tev trec_nth(trec *r, char kind, size_t i);
/* The last record of that kind, or a zeroed one. */
tev trec_last(trec *r, char kind);

void trec_revision_done(void *arg, int rc, const coord_revision_t *rev);
void trec_version_done(void *arg, int rc, int64_t version);
void trec_list_done(void *arg, int rc, const int64_t *numbers, size_t count);
void trec_table_done(void *arg, int rc, const void *table, size_t len, int64_t epoch);

#endif
