/*
 * coord_exec.c: how events and completions reach the caller.
 *
 * Without an executor they are plain calls on our own threads (callbacks on
 * the event thread, completions on the store thread), lending our data for
 * the call. With one, each becomes a job owning a copy of its data and a
 * reference to the handle's life token, posted to the caller's loop. The
 * trampoline may run after coord_close() freed the handle, so it touches
 * only the job and the token: once the token says closed, it frees the job
 * and calls nobody. The token is refcounted (the handle holds one
 * reference, each job in flight one) and freed by whoever drops the last,
 * so a job run, refused by post() or left behind by close never leaks.
 */
#include "coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct coord_life {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* a user function returned */
    int refs;
    bool closed;
    bool running; /* a trampoline is in a user function (the executor is serial) */
    pthread_t runner;
    coord_callbacks_t cb;
    void *cb_arg;
};

static void life_unref(struct coord_life *l)
{
    pthread_mutex_lock(&l->mu);
    bool last = --l->refs == 0;
    pthread_mutex_unlock(&l->mu);
    if (!last) return;
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cond);
    free(l);
}

int coord_exec_init(coord_t *c, char *err, size_t errcap)
{
    if (!c->exec.post) return COORD_OK;
    struct coord_life *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errcap, "out of memory");
        return COORD_ESYS;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cond, NULL);
    l->refs = 1;
    l->cb = c->cb;
    l->cb_arg = c->cb_arg;
    c->life = l;
    return COORD_OK;
}

void coord_exec_close(coord_t *c)
{
    struct coord_life *l = c->life;
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->closed = true;
    /* a callback on the executor's thread may be what is closing us: it
     * returns after we do, so waiting for it would never end */
    while (l->running && !pthread_equal(l->runner, pthread_self()))
        pthread_cond_wait(&l->cond, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void coord_exec_fini(coord_t *c)
{
    if (c->life) life_unref(c->life);
    c->life = NULL;
}

void coord_job_free(coord_job_t *j)
{
    if (!j) return;
    free(j->in);
    free(j->author);
    free(j->signature);
    coord_members_free(&j->members);
    coord_revision_free(&j->rev);
    free(j->bytes);
    free(j->nums);
    free(j);
}

static void job_call(const coord_callbacks_t *cb, void *cb_arg, const coord_job_t *j)
{
    bool ok = j->rc == COORD_OK;
    switch (j->kind) {
    case JOB_STATE:
        cb->state(cb_arg, j->state);
        break;
    case JOB_MEMBERS:
        cb->members(cb_arg, &j->members);
        break;
    case JOB_LEADER:
        cb->leader(cb_arg, &j->leader);
        break;
    case JOB_REVISION:
        cb->revision(cb_arg, &j->rev);
        break;
    case JOB_ASSIGNMENT:
        cb->assignment(cb_arg, j->bytes, j->len, j->version);
        break;
    case JOB_MALFORMED:
        cb->malformed(cb_arg, j->version, j->bytes);
        break;
    case REQ_REVISION_READ:
    case REQ_REVISION_GET:
        j->done.revision(j->arg, j->rc, ok ? &j->rev : NULL);
        break;
    case REQ_REVISION_LIST:
        j->done.list(j->arg, j->rc, ok && j->count ? j->nums : NULL, ok ? j->count : 0);
        break;
    case REQ_REVISION_PUSH:
    case REQ_ASSIGNMENT_WRITE:
        j->done.version(j->arg, j->rc, ok ? j->version : 0);
        break;
    case REQ_ASSIGNMENT_READ:
        j->done.table(j->arg, j->rc, ok && j->len ? j->bytes : NULL, ok ? j->len : 0,
                      ok ? j->version : 0);
        break;
    }
}

static void trampoline(void *arg)
{
    coord_job_t *j = arg;
    struct coord_life *l = j->life;
    pthread_mutex_lock(&l->mu);
    bool run = !l->closed;
    if (run) {
        l->running = true;
        l->runner = pthread_self();
    }
    pthread_mutex_unlock(&l->mu);
    if (run) {
        job_call(&l->cb, l->cb_arg, j);
        pthread_mutex_lock(&l->mu);
        l->running = false;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->mu);
    }
    coord_job_free(j);
    life_unref(l);
}

static void post(coord_t *c, coord_job_t *j)
{
    struct coord_life *l = c->life;
    pthread_mutex_lock(&l->mu);
    l->refs++;
    pthread_mutex_unlock(&l->mu);
    j->life = l;
    /* once posted, j belongs to the trampoline (it may already be gone) */
    if (c->exec.post(c->exec.ctx, trampoline, j) != 0) {
        coord_log(c, COORD_LOG_DEBUG, "the executor refused an event (kind %d): dropped", j->kind);
        coord_job_free(j);
        life_unref(l);
    }
}

static bool closing(coord_t *c)
{
    pthread_mutex_lock(&c->mu);
    bool stop = c->stop;
    pthread_mutex_unlock(&c->mu);
    return stop;
}

/* A job for this event, or NULL (out of memory). */
static coord_job_t *event_job(coord_t *c, int kind)
{
    coord_job_t *j = calloc(1, sizeof *j);
    if (!j) coord_log(c, COORD_LOG_ERROR, "out of memory: an event (kind %d) is lost", kind);
    if (j) j->kind = kind;
    return j;
}

static void *dup_bytes(const void *p, size_t len)
{
    unsigned char *d = malloc(len + 1);
    if (d && len) memcpy(d, p, len);
    if (d) d[len] = 0;
    return d;
}

/*
 * Every event and completion becomes a job that owns its data, then goes to
 * the executor, or without one is called here at once (the handle's own
 * thread) and freed; either way nothing starts once close has begun.
 */
static void dispatch(coord_t *c, coord_job_t *j)
{
    if (c->life) {
        post(c, j);
        return;
    }
    if (!closing(c)) job_call(&c->cb, c->cb_arg, j);
    coord_job_free(j);
}

void coord_emit_state(coord_t *c, coord_state_t st)
{
    if (!c->cb.state) return;
    coord_job_t *j = event_job(c, JOB_STATE);
    if (!j) return;
    j->state = st;
    dispatch(c, j);
}

void coord_emit_members(coord_t *c, const coord_members_t *m)
{
    if (!c->cb.members) return;
    coord_job_t *j = event_job(c, JOB_MEMBERS);
    if (!j) return;
    j->members = *m;
    j->members.members = dup_bytes(m->members, m->count * sizeof *m->members);
    if (!j->members.members) {
        j->members.count = 0;
        coord_job_free(j);
        coord_log(c, COORD_LOG_ERROR, "out of memory: a membership event is lost");
        return;
    }
    dispatch(c, j);
}

void coord_emit_leader(coord_t *c, const coord_leader_t *l)
{
    if (!c->cb.leader) return;
    coord_job_t *j = event_job(c, JOB_LEADER);
    if (!j) return;
    j->leader = *l;
    dispatch(c, j);
}

void coord_emit_revision(coord_t *c, const coord_revision_t *r)
{
    if (!c->cb.revision) return;
    coord_job_t *j = event_job(c, JOB_REVISION);
    if (!j) return;
    j->rev = *r;
    j->rev.body = dup_bytes(r->body, r->body_len);
    if (!j->rev.body) {
        coord_job_free(j);
        coord_log(c, COORD_LOG_ERROR, "out of memory: revision %lld event is lost",
                  (long long)r->number);
        return;
    }
    dispatch(c, j);
}

void coord_emit_assignment(coord_t *c, const void *table, size_t len, int64_t epoch)
{
    if (!c->cb.assignment) return;
    coord_job_t *j = event_job(c, JOB_ASSIGNMENT);
    if (!j) return;
    j->bytes = dup_bytes(table, len);
    j->len = len;
    j->version = epoch;
    if (!j->bytes) {
        coord_job_free(j);
        coord_log(c, COORD_LOG_ERROR, "out of memory: slot table %lld event is lost",
                  (long long)epoch);
        return;
    }
    dispatch(c, j);
}

void coord_emit_malformed(coord_t *c, int64_t version, const char *why)
{
    if (!c->cb.malformed) return;
    coord_job_t *j = event_job(c, JOB_MALFORMED);
    if (!j) return;
    j->version = version;
    j->len = strlen(why);
    j->bytes = dup_bytes(why, j->len);
    if (!j->bytes) {
        coord_job_free(j);
        coord_log(c, COORD_LOG_ERROR, "out of memory: malformed pipeline %lld event is lost",
                  (long long)version);
        return;
    }
    dispatch(c, j);
}

void coord_exec_complete(coord_t *c, coord_job_t *j)
{
    if (j->notify)
        dispatch(c, j);
    else
        coord_job_free(j);
}
