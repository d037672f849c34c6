/*
 * test_coordinator_exec_unit.c: the executor and the asynchronous store
 * calls without a ZooKeeper (a client that never connects), also under
 * valgrind: every call returns at once and completes on the executor's
 * thread in the order made, with the blocking form's answer; nothing runs
 * on the executor after coord_close(), whether it was queued there, pending
 * on the store thread, refused by post(), or the close came from inside a
 * completion; without an executor completions run on the store thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_test_exec.h"
#include "harness/harness.h"

#define WAIT_MS 60000 /* generous: valgrind on a loaded machine */

/* Port 1 on loopback: nothing listens, every connection is refused. */
static coord_t *open_unreachable(trec *r, texec *q)
{
    char err[256] = "";
    coord_config_t cfg = {.backend_url = "zookeeper://127.0.0.1:1/m",
                          .group = "g",
                          .member_id = "m1",
                          .candidate = true,
                          .session_timeout_ms = 2000,
                          .cb = trec_callbacks(),
                          .cb_arg = r};
    if (q) cfg.executor = texec_executor(q);
    coord_t *c = coord_open(&cfg, err, sizeof err);
    if (!c) fprintf(stderr, "coord_open: %s\n", err);
    return c;
}

/* Four requests whose answers are known without a server. */
static void issue_four(coord_t *c, trec *r)
{
    assert_int_equal(coord_assignment_read_async(c, trec_table_done, r), 0);
    assert_int_equal(coord_assignment_write_async(c, 0, "T1", 2, trec_version_done, r), 0);
    assert_int_equal(coord_revision_push_async(c, 0, "body", 4, "me", NULL, trec_version_done, r),
                     0);
    assert_int_equal(coord_revision_list_async(c, trec_list_done, r), 0);
}

struct want {
    trec *r;
    size_t n;
};

static bool completions(void *arg)
{
    struct want *w = arg;
    return trec_count(w->r, 't') + trec_count(w->r, 'v') + trec_count(w->r, 'l') >= w->n;
}

static void test_async_without_server(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    coord_t *c = open_unreachable(&r, &q);
    assert_non_null(c);
    issue_four(c, &r); /* returned: none of them waited for a server */
    assert_true(texec_run_until(&q, completions, &(struct want){&r, 4}, WAIT_MS));
    /* in the order made, each with the blocking form's answer */
    assert_int_equal(r.ev[0].kind, 't');
    assert_int_equal(r.ev[0].rc, COORD_ENOCONN);
    assert_int_equal(r.ev[1].kind, 'v');
    assert_int_equal(r.ev[1].rc, COORD_ENOTLEADER);
    assert_int_equal(r.ev[2].kind, 'v');
    assert_int_equal(r.ev[2].rc, COORD_ENOCONN);
    assert_int_equal(r.ev[3].kind, 'l');
    assert_int_equal(r.ev[3].rc, COORD_ENOCONN);
    assert_int_equal(r.wrong_thread, 0);
    coord_close(c);
    trec_mark_closed(&r);
    texec_fini(&q);
    assert_int_equal(r.after_close, 0);
    trec_fini(&r);
}

/* Completions queued on the executor when the handle closes are dropped:
 * their fns only free them (valgrind/ASan: no leak, no use after free). */
static void test_close_with_completions_queued(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    coord_t *c = open_unreachable(&r, &q);
    assert_non_null(c);
    issue_four(c, &r);
    assert_true(texec_wait_len(&q, 4, WAIT_MS));
    coord_close(c); /* from the executor's thread, with its queue full */
    trec_mark_closed(&r);
    assert_int_equal(texec_run_all(&q), 4);
    assert_int_equal(r.n, 0);
    texec_fini(&q);
    trec_fini(&r);
}

/* Requests still waiting for the store thread at close never complete. */
static void test_close_with_requests_pending(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    coord_t *c = open_unreachable(&r, &q);
    assert_non_null(c);
    for (int i = 0; i < 50; i++)
        assert_int_equal(coord_revision_read_async(c, trec_revision_done, &r), 0);
    coord_close(c);
    trec_mark_closed(&r);
    texec_fini(&q);
    assert_int_equal(r.n, 0);
    trec_fini(&r);
}

static bool refused_four(void *arg)
{
    return texec_refused(arg) >= 4;
}

/* A loop that is shutting down refuses posts: the events are lost, not leaked. */
static void test_refusing_executor(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    texec_refuse(&q, true);
    coord_t *c = open_unreachable(&r, &q);
    assert_non_null(c);
    issue_four(c, &r);
    assert_true(th_wait_until(refused_four, &q, WAIT_MS));
    coord_close(c);
    assert_int_equal(texec_len(&q), 0);
    texec_fini(&q);
    assert_int_equal(r.n, 0);
    trec_fini(&r);
}

/* A completion closes its own handle (the agent shutting down on an error):
 * no deadlock, and nothing after it runs. */
static void test_close_inside_completion(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    coord_t *c = open_unreachable(&r, &q);
    assert_non_null(c);
    r.close_c = c;
    r.close_on = 't';
    issue_four(c, &r);
    assert_true(texec_wait_len(&q, 4, WAIT_MS));
    assert_int_equal(texec_run_all(&q), 4);
    assert_null(r.close_c); /* it closed */
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].kind, 't');
    texec_fini(&q);
    trec_fini(&r);
}

struct direct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int rc;
    pthread_t thread;
};

static void direct_done(void *arg, int rc, const int64_t *numbers, size_t count)
{
    (void)numbers;
    (void)count;
    struct direct *d = arg;
    pthread_mutex_lock(&d->mu);
    d->done = true;
    d->rc = rc;
    d->thread = pthread_self();
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static bool direct_cond(void *arg)
{
    struct direct *d = arg;
    pthread_mutex_lock(&d->mu);
    bool done = d->done;
    pthread_mutex_unlock(&d->mu);
    return done;
}

/* Without an executor a completion runs on the handle's store thread. */
static void test_no_executor(void **state)
{
    (void)state;
    trec r;
    trec_init(&r);
    coord_t *c = open_unreachable(&r, NULL);
    assert_non_null(c);
    struct direct d = {.done = false};
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);
    assert_int_equal(coord_revision_list_async(c, direct_done, &d), 0);
    assert_true(th_wait_until(direct_cond, &d, WAIT_MS));
    assert_int_equal(d.rc, COORD_ENOCONN);
    assert_false(pthread_equal(d.thread, pthread_self()));
    /* fire and forget, and bad arguments refused at once */
    assert_int_equal(coord_assignment_read_async(c, NULL, NULL), 0);
    assert_int_equal(coord_assignment_write_async(c, 0, NULL, 3, trec_version_done, &r),
                     COORD_EINVAL);
    assert_int_equal(coord_revision_push_async(NULL, 0, "x", 1, NULL, NULL, NULL, NULL),
                     COORD_EINVAL);
    coord_close(c);
    pthread_mutex_destroy(&d.mu);
    pthread_cond_destroy(&d.cv);
    assert_int_equal(r.n, 0);
    trec_fini(&r);
}

struct runner {
    texec *q;
    pthread_mutex_t mu;
    bool stop;
};

static bool runner_stop(void *arg)
{
    struct runner *rn = arg;
    pthread_mutex_lock(&rn->mu);
    bool stop = rn->stop;
    pthread_mutex_unlock(&rn->mu);
    return stop;
}

static void *run_executor(void *arg)
{
    struct runner *rn = arg;
    rn->q->owner = pthread_self();
    while (!texec_run_until(rn->q, runner_stop, rn, 50))
        ;
    return NULL;
}

/* The loop runs on its own thread while another thread closes: completions
 * racing the close either finish before coord_close() returns or never run
 * (close waits for one in progress). Under ASan/valgrind: no use after free. */
static bool recorded(void *arg)
{
    struct want *w = arg;
    pthread_mutex_lock(&w->r->mu);
    bool ok = w->r->n >= w->n;
    pthread_mutex_unlock(&w->r->mu);
    return ok;
}

static void test_close_races_executor_thread(void **state)
{
    (void)state;
    enum { ROUNDS = 20 };
    texec q;
    texec_init(&q);
    struct runner rn = {.q = &q, .stop = false};
    pthread_mutex_init(&rn.mu, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_executor, &rn), 0);
    trec *r = calloc(ROUNDS, sizeof *r);
    assert_non_null(r);
    size_t ran = 0;
    for (int i = 0; i < ROUNDS; i++) {
        trec_init(&r[i]);
        coord_t *c = open_unreachable(&r[i], &q);
        assert_non_null(c);
        for (int k = 0; k < 5; k++)
            issue_four(c, &r[i]);
        /* close after 0, 3, 6, 9 or 12 of the 20 completions ran */
        assert_true(th_wait_until(recorded, &(struct want){&r[i], (size_t)(i % 5) * 3}, WAIT_MS));
        coord_close(c); /* some completions ran, some are queued, some never ran */
        trec_mark_closed(&r[i]);
        pthread_mutex_lock(&r[i].mu);
        ran += r[i].n;
        pthread_mutex_unlock(&r[i].mu);
    }
    pthread_mutex_lock(&rn.mu);
    rn.stop = true;
    pthread_mutex_unlock(&rn.mu);
    pthread_join(th, NULL);
    texec_fini(&q); /* runs what is left: nothing of ours may run */
    for (int i = 0; i < ROUNDS; i++) {
        assert_int_equal(r[i].after_close, 0);
        trec_fini(&r[i]);
    }
    free(r);
    printf("completions that ran before their handle closed: %zu of %d\n", ran, ROUNDS * 20);
    pthread_mutex_destroy(&rn.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_without_server),
        cmocka_unit_test(test_close_with_completions_queued),
        cmocka_unit_test(test_close_with_requests_pending),
        cmocka_unit_test(test_refusing_executor),
        cmocka_unit_test(test_close_inside_completion),
        cmocka_unit_test(test_no_executor),
        cmocka_unit_test(test_close_races_executor_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
