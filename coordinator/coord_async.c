/*
 * coord_async.c: the asynchronous store calls and the thread that runs them.
 *
 * A request is queued and run on the handle's store thread through the
 * blocking form, so both forms share every check (CAS by epoch or revision,
 * the election-node check of an assignment write, the sha256 check of a
 * read, ENOCONN without a session) and cannot drift apart. One thread, one
 * request at a time: completions come in the order the calls were made, and
 * a ZooKeeper that stops answering delays our store thread (up to the
 * client's timeout), never the caller. The event thread stays separate, so a
 * slow request never holds back membership or election events either.
 */
#include "coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_request(coord_t *c, coord_job_t *j)
{
    /* cut off (after a first connection): fail now rather than queue in the
     * client library until its connection attempt ends (up to 2/3 of the
     * session timeout), holding the handle that re-dialling must replace
     * (coord_session.c); callers retry on ENOCONN */
    pthread_mutex_lock(&c->mu);
    bool cut = c->state == COORD_DISCONNECTED;
    pthread_mutex_unlock(&c->mu);
    if (cut) {
        j->rc = COORD_ENOCONN;
        return;
    }
    switch (j->kind) {
    case REQ_REVISION_READ:
        j->rc = coord_revision_read(c, &j->rev);
        break;
    case REQ_REVISION_GET:
        j->rc = coord_revision_get(c, j->num, &j->rev);
        break;
    case REQ_REVISION_LIST:
        j->rc = coord_store_list(c, &j->nums, &j->count);
        break;
    case REQ_REVISION_PUSH:
        j->rc =
            coord_revision_push(c, j->num, j->in, j->in_len, j->author, j->signature, &j->version);
        break;
    case REQ_ASSIGNMENT_READ:
        j->rc = coord_assignment_read(c, &j->bytes, &j->len, &j->version);
        break;
    case REQ_ASSIGNMENT_WRITE:
        j->rc = coord_assignment_write(c, j->num, j->in, j->in_len, &j->version);
        break;
    }
}

static void *store_thread(void *arg)
{
    coord_t *c = arg;
    pthread_mutex_lock(&c->req_mu);
    for (;;) {
        while (!c->req_stop && !c->req_head)
            pthread_cond_wait(&c->req_cond, &c->req_mu);
        if (c->req_stop) break;
        coord_job_t *j = c->req_head;
        c->req_head = j->next;
        if (!c->req_head) c->req_tail = NULL;
        j->next = NULL;
        pthread_mutex_unlock(&c->req_mu);
        run_request(c, j);
        coord_exec_complete(c, j);
        pthread_mutex_lock(&c->req_mu);
    }
    pthread_mutex_unlock(&c->req_mu);
    return NULL;
}

int coord_async_init(coord_t *c, char *err, size_t errcap)
{
    if (pthread_create(&c->req_thread, NULL, store_thread, c) != 0) {
        snprintf(err, errcap, "cannot start the coordinator's store thread");
        return COORD_ESYS;
    }
    c->req_started = true;
    return COORD_OK;
}

void coord_async_fini(coord_t *c)
{
    pthread_mutex_lock(&c->req_mu);
    c->req_stop = true;
    pthread_cond_broadcast(&c->req_cond);
    pthread_mutex_unlock(&c->req_mu);
    if (c->req_started) pthread_join(c->req_thread, NULL);
    c->req_started = false;
    /* never run, never completed (see coord_close) */
    while (c->req_head) {
        coord_job_t *j = c->req_head;
        c->req_head = j->next;
        coord_job_free(j);
    }
    c->req_tail = NULL;
}

static coord_job_t *new_request(int kind, void *arg, bool notify)
{
    coord_job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    j->arg = arg;
    j->notify = notify;
    return j;
}

static int enqueue(coord_t *c, coord_job_t *j)
{
    pthread_mutex_lock(&c->req_mu);
    bool open = !c->req_stop;
    if (open) {
        if (c->req_tail)
            c->req_tail->next = j;
        else
            c->req_head = j;
        c->req_tail = j;
        pthread_cond_signal(&c->req_cond);
    }
    pthread_mutex_unlock(&c->req_mu);
    if (!open) coord_job_free(j);
    return open ? COORD_OK : COORD_EINVAL;
}

/* Copies of the caller's inputs, so the call can return before it runs. */
static int copy_inputs(coord_job_t *j, const void *data, size_t len, const char *author,
                       const char *signature)
{
    j->in = malloc(len ? len : 1);
    if (j->in && len) memcpy(j->in, data, len);
    j->in_len = len;
    if (author) j->author = strdup(author);
    if (signature) j->signature = strdup(signature);
    if (!j->in || (author && !j->author) || (signature && !j->signature)) return COORD_ESYS;
    return COORD_OK;
}

int coord_revision_read_async(coord_t *c, coord_revision_done_fn done, void *arg)
{
    if (!c) return COORD_EINVAL;
    coord_job_t *j = new_request(REQ_REVISION_READ, arg, done != NULL);
    if (!j) return COORD_ESYS;
    j->done.revision = done;
    return enqueue(c, j);
}

int coord_revision_get_async(coord_t *c, int64_t number, coord_revision_done_fn done, void *arg)
{
    if (!c) return COORD_EINVAL;
    coord_job_t *j = new_request(REQ_REVISION_GET, arg, done != NULL);
    if (!j) return COORD_ESYS;
    j->num = number;
    j->done.revision = done;
    return enqueue(c, j);
}

int coord_revision_list_async(coord_t *c, coord_list_done_fn done, void *arg)
{
    if (!c) return COORD_EINVAL;
    coord_job_t *j = new_request(REQ_REVISION_LIST, arg, done != NULL);
    if (!j) return COORD_ESYS;
    j->done.list = done;
    return enqueue(c, j);
}

int coord_revision_push_async(coord_t *c, int64_t expected, const void *body, size_t len,
                              const char *author, const char *signature, coord_version_done_fn done,
                              void *arg)
{
    if (!c || (!body && len)) return COORD_EINVAL;
    coord_job_t *j = new_request(REQ_REVISION_PUSH, arg, done != NULL);
    if (!j) return COORD_ESYS;
    j->num = expected;
    j->done.version = done;
    if (copy_inputs(j, body, len, author, signature) != COORD_OK) {
        coord_job_free(j);
        return COORD_ESYS;
    }
    return enqueue(c, j);
}

int coord_assignment_read_async(coord_t *c, coord_table_done_fn done, void *arg)
{
    if (!c) return COORD_EINVAL;
    coord_job_t *j = new_request(REQ_ASSIGNMENT_READ, arg, done != NULL);
    if (!j) return COORD_ESYS;
    j->done.table = done;
    return enqueue(c, j);
}

int coord_assignment_write_async(coord_t *c, int64_t expected_epoch, const void *table, size_t len,
                                 coord_version_done_fn done, void *arg)
{
    if (!c || (!table && len)) return COORD_EINVAL;
    coord_job_t *j = new_request(REQ_ASSIGNMENT_WRITE, arg, done != NULL);
    if (!j) return COORD_ESYS;
    j->num = expected_epoch;
    j->done.version = done;
    if (copy_inputs(j, table, len, NULL, NULL) != COORD_OK) {
        coord_job_free(j);
        return COORD_ESYS;
    }
    return enqueue(c, j);
}
