/*
 * loop.c: epoll + timer heap + posted callbacks.
 *
 * Timers live in a binary min-heap of pointers to caller-owned loop_timer
 * structs (each knows its heap index, so cancel and reschedule are
 * O(log n) with no search). 10,000 targets means 10,000 timers: a heap keeps
 * both the memory and the per-fire cost small. fd callbacks are kept in a
 * small array (the agent watches a handful of fds).
 */
#include "agent/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_SLACK_MS 10

typedef struct posted {
    struct posted *next;
    loop_fn fn;
    void *arg;
} posted;

typedef struct fd_watch {
    int fd;
    loop_fd_fn fn;
    void *arg;
} fd_watch;

struct loop {
    int epfd, wakefd;
    atomic_bool stop;
    loop_timer **heap;
    size_t n_heap, cap_heap;
    fd_watch *fds;
    size_t n_fds, cap_fds;
    pthread_mutex_t mu; /* guards the posted queue */
    posted *head, *tail;
    /* monotonic ms when the current iteration left epoll_wait; 0 while
     * waiting. Written by the loop thread, read by /health on the API's threads:
     * a loop idle in epoll_wait is not stalled, one stuck in a callback is. */
    atomic_int_least64_t busy_since_ms;
    atomic_bool running; /* inside loop_run(): /ready */
};

int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_posted(loop *l);

loop *loop_new(void)
{
    loop *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&l->mu, NULL);
    if (l->epfd < 0 || l->wakefd < 0) {
        loop_free(l);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->wakefd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0) {
        loop_free(l);
        return NULL;
    }
    return l;
}

void loop_free(loop *l)
{
    if (!l) return;
    /* posted callbacks release what their poster allocated: run, don't drop */
    while (l->head)
        run_posted(l);
    if (l->epfd >= 0) close(l->epfd);
    if (l->wakefd >= 0) close(l->wakefd);
    pthread_mutex_destroy(&l->mu);
    free(l->heap);
    free(l->fds);
    free(l);
}

/* ---- timer heap ---- */

static void heap_swap(loop *l, size_t a, size_t b)
{
    loop_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_index = a;
    l->heap[b]->heap_index = b;
}

static void heap_up(loop *l, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->due_ms <= l->heap[i]->due_ms) break;
        heap_swap(l, i, parent);
        i = parent;
    }
}

static void heap_down(loop *l, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, min = i;
        if (left < l->n_heap && l->heap[left]->due_ms < l->heap[min]->due_ms) min = left;
        if (right < l->n_heap && l->heap[right]->due_ms < l->heap[min]->due_ms) min = right;
        if (min == i) return;
        heap_swap(l, i, min);
        i = min;
    }
}

void loop_timer_init(loop_timer *t, loop_fn fn, void *arg)
{
    t->due_ms = 0;
    t->heap_index = SIZE_MAX;
    t->fn = fn;
    t->arg = arg;
}

bool loop_timer_pending(const loop_timer *t)
{
    return t->heap_index != SIZE_MAX;
}

size_t loop_timer_count(const loop *l)
{
    return l->n_heap;
}

void loop_timer_cancel(loop *l, loop_timer *t)
{
    size_t i = t->heap_index;
    if (i == SIZE_MAX) return;
    l->n_heap--;
    if (i != l->n_heap) {
        l->heap[i] = l->heap[l->n_heap];
        l->heap[i]->heap_index = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_index = SIZE_MAX;
}

void loop_timer_at(loop *l, loop_timer *t, int64_t due_ms)
{
    loop_timer_cancel(l, t);
    if (l->n_heap == l->cap_heap) {
        size_t cap = l->cap_heap ? l->cap_heap * 2 : 64;
        loop_timer **nh = realloc(l->heap, cap * sizeof *nh);
        if (!nh) return; /* the timer stays unscheduled; callers see !pending */
        l->heap = nh;
        l->cap_heap = cap;
    }
    t->due_ms = due_ms;
    t->heap_index = l->n_heap;
    l->heap[l->n_heap++] = t;
    heap_up(l, t->heap_index);
}

/* ---- fds and posted callbacks ---- */

int loop_add_fd(loop *l, int fd, uint32_t events, loop_fd_fn fn, void *arg)
{
    if (l->n_fds == l->cap_fds) {
        size_t cap = l->cap_fds ? l->cap_fds * 2 : 8;
        fd_watch *nf = realloc(l->fds, cap * sizeof *nf);
        if (!nf) return -1;
        l->fds = nf;
        l->cap_fds = cap;
    }
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return -1;
    l->fds[l->n_fds++] = (fd_watch){fd, fn, arg};
    return 0;
}

void loop_del_fd(loop *l, int fd)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    for (size_t i = 0; i < l->n_fds; i++)
        if (l->fds[i].fd == fd) {
            l->fds[i] = l->fds[--l->n_fds];
            return;
        }
}

static void wake(loop *l)
{
    uint64_t one = 1;
    ssize_t w = write(l->wakefd, &one, sizeof one);
    (void)w;
}

int loop_post(loop *l, loop_fn fn, void *arg)
{
    posted *p = malloc(sizeof *p);
    if (!p) return -1;
    p->next = NULL;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&l->mu);
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    pthread_mutex_unlock(&l->mu);
    wake(l);
    return 0;
}

void loop_stop(loop *l)
{
    atomic_store(&l->stop, true);
    wake(l);
}

static void run_posted(loop *l)
{
    uint64_t v;
    ssize_t r = read(l->wakefd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&l->mu);
    posted *p = l->head;
    l->head = l->tail = NULL;
    pthread_mutex_unlock(&l->mu);
    while (p) {
        posted *n = p->next;
        p->fn(p->arg);
        free(p);
        p = n;
    }
}

static void run_timers(loop *l)
{
    int64_t now = loop_now_ms();
    /* bounded: a timer rescheduled into the past must not starve fds */
    for (int budget = 100000; budget > 0 && l->n_heap && l->heap[0]->due_ms <= now; budget--) {
        loop_timer *t = l->heap[0];
        loop_timer_cancel(l, t);
        t->fn(t->arg);
    }
}

int loop_run(loop *l)
{
    struct epoll_event evs[16];
    atomic_store(&l->running, true);
    while (!atomic_load(&l->stop)) {
        int timeout = -1;
        if (l->n_heap) {
            /* Timer slack: wake at the next LOOP_SLACK_MS boundary at or after
             * the earliest due time, and run everything due by then. With
             * thousands of targets spread over an interval this turns one
             * wake-up (of the loop, a worker, a publisher) per poll into one
             * per tick, at the price of polls up to LOOP_SLACK_MS late. */
            int64_t due = l->heap[0]->due_ms;
            int64_t at = (due + LOOP_SLACK_MS - 1) / LOOP_SLACK_MS * LOOP_SLACK_MS;
            int64_t d = at - loop_now_ms();
            timeout = d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
        }
        atomic_store(&l->busy_since_ms, 0);
        int n = epoll_wait(l->epfd, evs, 16, timeout);
        atomic_store(&l->busy_since_ms, loop_now_ms());
        if (n < 0) {
            if (errno == EINTR) continue;
            atomic_store(&l->busy_since_ms, 0);
            atomic_store(&l->running, false);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l->wakefd) {
                run_posted(l);
                continue;
            }
            for (size_t k = 0; k < l->n_fds; k++)
                if (l->fds[k].fd == fd) {
                    fd_watch w = l->fds[k];
                    w.fn(w.arg, fd, evs[i].events);
                    break;
                }
        }
        run_timers(l);
    }
    atomic_store(&l->busy_since_ms, 0);
    atomic_store(&l->running, false);
    return 0;
}

bool loop_running(loop *l)
{
    return atomic_load(&l->running);
}

int64_t loop_busy_ms(loop *l)
{
    int64_t since = atomic_load(&l->busy_since_ms);
    if (!since) return 0;
    int64_t d = loop_now_ms() - since;
    return d > 0 ? d : 0;
}
