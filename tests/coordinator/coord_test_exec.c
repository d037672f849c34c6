/*
 * coord_test_exec.c: the tests' executor (see coord_test_exec.h).
 */
#include "coord_test_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct texec_item {
    texec_item *next;
    void (*fn)(void *);
    void *arg;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void texec_init(texec *q)
{
    *q = (texec){0};
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    q->owner = pthread_self();
}

void texec_fini(texec *q)
{
    texec_run_all(q);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

static int post(void *ctx, void (*fn)(void *), void *arg)
{
    texec *q = ctx;
    texec_item *it = malloc(sizeof *it);
    if (!it) return -1;
    *it = (texec_item){NULL, fn, arg};
    pthread_mutex_lock(&q->mu);
    if (q->refuse) {
        q->refused++;
        pthread_mutex_unlock(&q->mu);
        free(it);
        return -1;
    }
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->len++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

coord_executor_t texec_executor(texec *q)
{
    return (coord_executor_t){post, q};
}

size_t texec_len(texec *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t texec_refused(texec *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->refused;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void texec_refuse(texec *q, bool refuse)
{
    pthread_mutex_lock(&q->mu);
    q->refuse = refuse;
    pthread_mutex_unlock(&q->mu);
}

static void deadline_ts(int64_t at_ms, struct timespec *ts)
{
    ts->tv_sec = at_ms / 1000;
    ts->tv_nsec = (at_ms % 1000) * 1000000;
}

bool texec_wait_len(texec *q, size_t n, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    struct timespec ts;
    deadline_ts(deadline, &ts);
    pthread_mutex_lock(&q->mu);
    while (q->len < n && now_ms() < deadline)
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    bool ok = q->len >= n;
    pthread_mutex_unlock(&q->mu);
    return ok;
}

/* The next fn, waiting for one until deadline; NULL if none came. */
static texec_item *pop(texec *q, int64_t deadline)
{
    struct timespec ts;
    deadline_ts(deadline, &ts);
    pthread_mutex_lock(&q->mu);
    while (!q->head && now_ms() < deadline)
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    texec_item *it = q->head;
    if (it) {
        q->head = it->next;
        if (!q->head) q->tail = NULL;
        q->len--;
        q->ran++;
    }
    pthread_mutex_unlock(&q->mu);
    return it;
}

static void run(texec_item *it)
{
    it->fn(it->arg);
    free(it);
}

bool texec_run_until(texec *q, bool (*cond)(void *), void *arg, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!cond(arg)) {
        texec_item *it = pop(q, deadline);
        if (!it) return cond(arg);
        run(it);
    }
    return true;
}

size_t texec_run_all(texec *q)
{
    size_t n = 0;
    for (texec_item *it; (it = pop(q, 0)) != NULL; n++)
        run(it);
    return n;
}

void trec_init(trec *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->owner = pthread_self();
}

void trec_fini(trec *r)
{
    pthread_mutex_destroy(&r->mu);
}

void trec_mark_closed(trec *r)
{
    pthread_mutex_lock(&r->mu);
    r->closed = true;
    pthread_mutex_unlock(&r->mu);
}

static void record(trec *r, char kind, int rc, int64_t value, const void *data, size_t len)
{
    pthread_mutex_lock(&r->mu);
    if (!pthread_equal(pthread_self(), r->owner)) r->wrong_thread++;
    if (r->closed) r->after_close++;
    if (r->n < sizeof r->ev / sizeof *r->ev) r->ev[r->n++] = (tev){kind, rc, value};
    char *dst = kind == 'R' || kind == 'r' ? r->body : kind == 'A' || kind == 't' ? r->table : NULL;
    if (dst && data) {
        size_t n = len < 63 ? len : 63;
        memcpy(dst, data, n); /* reading every byte: valgrind/ASan check they are ours */
        dst[n] = 0;
    }
    coord_t *close_c = kind == r->close_on ? r->close_c : NULL;
    if (close_c) {
        r->close_c = NULL;
        r->closed = true;
    }
    pthread_mutex_unlock(&r->mu);
    if (close_c) coord_close(close_c);
}

static void on_state(void *arg, coord_state_t st)
{
    record(arg, 'S', 0, st, NULL, 0);
}

static void on_members(void *arg, const coord_members_t *m)
{
    record(arg, 'M', 0, (int64_t)m->count, m->members, m->count * sizeof *m->members);
}

static void on_leader(void *arg, const coord_leader_t *l)
{
    record(arg, 'L', 0, l->is_me, NULL, 0);
}

static void on_revision(void *arg, const coord_revision_t *rev)
{
    record(arg, 'R', 0, rev->number, rev->body, rev->body_len);
}

static void on_assignment(void *arg, const void *table, size_t len, int64_t epoch)
{
    record(arg, 'A', 0, epoch, table, len);
}

static void on_malformed(void *arg, int64_t version, const char *why)
{
    record(arg, 'M', 0, version, why, strlen(why));
}

static void on_log(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= (getenv("COORD_DEBUG") ? COORD_LOG_DEBUG : COORD_LOG_WARN))
        fprintf(stderr, "[coord] %s\n", msg);
}

coord_callbacks_t trec_callbacks(void)
{
    return (coord_callbacks_t){on_state,      on_members, on_leader,   on_revision,
                               on_assignment, on_log,     on_malformed};
}

void trec_revision_done(void *arg, int rc, const coord_revision_t *rev)
{
    record(arg, 'r', rc, rev ? rev->number : 0, rev ? rev->body : NULL, rev ? rev->body_len : 0);
}

void trec_version_done(void *arg, int rc, int64_t version)
{
    record(arg, 'v', rc, version, NULL, 0);
}

void trec_list_done(void *arg, int rc, const int64_t *numbers, size_t count)
{
    trec *r = arg;
    pthread_mutex_lock(&r->mu);
    r->nnums = count < 16 ? count : 16;
    if (r->nnums) memcpy(r->nums, numbers, r->nnums * sizeof *numbers);
    pthread_mutex_unlock(&r->mu);
    record(arg, 'l', rc, (int64_t)count, NULL, 0);
}

void trec_table_done(void *arg, int rc, const void *table, size_t len, int64_t epoch)
{
    record(arg, 't', rc, epoch, table, len);
}

size_t trec_count(trec *r, char kind)
{
    size_t k = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        k += r->ev[i].kind == kind;
    pthread_mutex_unlock(&r->mu);
    return k;
}

tev trec_nth(trec *r, char kind, size_t nth)
{
    tev out = {0};
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].kind == kind && nth-- == 0) {
            out = r->ev[i];
            break;
        }
    pthread_mutex_unlock(&r->mu);
    return out;
}

tev trec_last(trec *r, char kind)
{
    tev out = {0};
    pthread_mutex_lock(&r->mu);
    for (size_t i = r->n; i-- > 0;)
        if (r->ev[i].kind == kind) {
            out = r->ev[i];
            break;
        }
    pthread_mutex_unlock(&r->mu);
    return out;
}
