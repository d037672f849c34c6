/*
 * workers.c: the poll worker pool: one mutex, one condition variable, a
 * singly linked FIFO of jobs. Poll jobs last milliseconds to seconds, so a
 * lock-free queue would buy nothing measurable here.
 */
#include "agent/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct job {
    struct job *next;
    workers_fn fn;
    void *arg;
} job;

struct workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    size_t queued, busy, n;
    bool stopping;
    pthread_t threads[];
};

static void *worker_main(void *arg)
{
    workers *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        job *j = w->head;
        if (!j) break; /* stopping and drained */
        w->head = j->next;
        if (!w->head) w->tail = NULL;
        w->queued--;
        w->busy++;
        pthread_mutex_unlock(&w->mu);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&w->mu);
        w->busy--;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

workers *workers_new(size_t n)
{
    if (n < 1) n = 1;
    workers *w = calloc(1, sizeof *w + n * sizeof(pthread_t));
    if (!w) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    for (size_t i = 0; i < n; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
            workers_free(w);
            return NULL;
        }
        w->n++;
    }
    return w;
}

int workers_submit(workers *w, workers_fn fn, void *arg)
{
    job *j = malloc(sizeof *j);
    if (!j) return -1;
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        free(j);
        return -1;
    }
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

size_t workers_queued(workers *w)
{
    pthread_mutex_lock(&w->mu);
    size_t q = w->queued;
    pthread_mutex_unlock(&w->mu);
    return q;
}

size_t workers_busy(workers *w)
{
    pthread_mutex_lock(&w->mu);
    size_t b = w->busy;
    pthread_mutex_unlock(&w->mu);
    return b;
}

size_t workers_size(const workers *w)
{
    return w->n;
}

void workers_free(workers *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->n; i++)
        pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
