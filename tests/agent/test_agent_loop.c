/*
 * test_agent_loop.c: the event loop's timer heap (order, cancel, reschedule)
 * and callbacks posted from other threads; the worker pool.
 */
#include "agent/loop.h"
#include "agent/workers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct ctx {
    loop *l;
    int order[64];
    int n;
} ctx;

typedef struct tmr {
    loop_timer t;
    ctx *c;
    int id;
} tmr;

static void fire(void *arg)
{
    tmr *t = arg;
    t->c->order[t->c->n++] = t->id;
    if (t->c->n == 5) loop_stop(t->c->l);
}

static void test_timer_order_and_cancel(void **state)
{
    (void)state;
    ctx c = {.l = loop_new()};
    assert_non_null(c.l);
    tmr t[7];
    int64_t now = loop_now_ms();
    int delays[7] = {30, 10, 50, 20, 40, 5, 15};
    for (int i = 0; i < 7; i++) {
        t[i].c = &c;
        t[i].id = i;
        loop_timer_init(&t[i].t, fire, &t[i]);
        loop_timer_at(c.l, &t[i].t, now + delays[i]);
    }
    loop_timer_cancel(c.l, &t[5].t);        /* 5 ms: cancelled */
    loop_timer_at(c.l, &t[6].t, now + 100); /* 15 -> 100 ms: rescheduled */
    assert_false(loop_timer_pending(&t[5].t));
    assert_int_equal(loop_timer_count(c.l), 6);
    assert_int_equal(loop_run(c.l), 0);
    int want[5] = {1, 3, 0, 4, 2};
    for (int i = 0; i < 5; i++)
        assert_int_equal(c.order[i], want[i]);
    for (int i = 0; i < 7; i++)
        loop_timer_cancel(c.l, &t[i].t);
    loop_free(c.l);
}

typedef struct post_ctx {
    loop *l;
    atomic_int got;
} post_ctx;

static void on_post(void *arg)
{
    post_ctx *p = arg;
    if (atomic_fetch_add(&p->got, 1) + 1 == 4000) loop_stop(p->l);
}

static void *poster(void *arg)
{
    post_ctx *p = arg;
    for (int i = 0; i < 1000; i++)
        loop_post(p->l, on_post, p);
    return NULL;
}

static void test_post_from_threads(void **state)
{
    (void)state;
    post_ctx p = {.l = loop_new()};
    atomic_init(&p.got, 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, poster, &p);
    assert_int_equal(loop_run(p.l), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&p.got), 4000);
    loop_free(p.l);
}

typedef struct drain_ctx {
    loop *l;
    int seen[8], n;
} drain_ctx;

static void drained(void *arg);

static void record(drain_ctx *d, int v)
{
    if (d->n < 8) d->seen[d->n] = v;
    d->n++;
}

static void drained_1(void *arg)
{
    record(arg, 1);
    loop_post(((drain_ctx *)arg)->l, drained, arg); /* posted while draining */
}

static void drained_2(void *arg)
{
    record(arg, 2);
}

static void drained(void *arg)
{
    record(arg, 3);
}

/* What is queued when the loop stops runs in loop_free, once each, in order
 * (the coordinator's executor contract relies on it). */
static void test_free_drains_posted(void **state)
{
    (void)state;
    drain_ctx d = {.l = loop_new()};
    loop_stop(d.l);
    assert_int_equal(loop_run(d.l), 0);
    assert_int_equal(loop_post(d.l, drained_1, &d), 0);
    assert_int_equal(loop_post(d.l, drained_2, &d), 0);
    assert_int_equal(d.n, 0); /* never inline */
    loop_free(d.l);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.seen[0], 1);
    assert_int_equal(d.seen[1], 2);
    assert_int_equal(d.seen[2], 3);
}

static void job(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_workers_run_everything(void **state)
{
    (void)state;
    atomic_int n;
    atomic_init(&n, 0);
    workers *w = workers_new(3);
    assert_int_equal(workers_size(w), 3);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(workers_submit(w, job, &n), 0);
    workers_free(w); /* runs what is queued, then joins */
    assert_int_equal(atomic_load(&n), 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order_and_cancel),
        cmocka_unit_test(test_post_from_threads),
        cmocka_unit_test(test_free_drains_posted),
        cmocka_unit_test(test_workers_run_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
