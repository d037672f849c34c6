/*
 * test_coordinator_exec.c: the executor and the asynchronous store calls
 * against a real ZooKeeper. Callbacks and completions arrive on the
 * executor's thread only (the test thread, which runs the queue), each
 * stream in order; an asynchronous write keeps the CAS by epoch and the
 * deposed-leader check; a read with ZooKeeper stopped returns at once and
 * completes with ENOCONN/ETIMEOUT while it is still stopped; closing with
 * events queued (or from inside a callback) runs nothing of the caller's
 * after the close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_test_exec.h"
#include "coord_test_util.h"

#define WAIT_MS 30000 /* generous: ASan on a loaded 2-core machine */

static coord_t *open_exec(trec *r, texec *q, const char *group, const char *member, bool candidate)
{
    char url[512], err[256] = "";
    turl(tzk(), url, sizeof url);
    coord_member_info_t info = {.pid = 1, .weight = 1};
    snprintf(info.host, sizeof info.host, "test-%s", member ? member : "observer");
    coord_config_t cfg = {.backend_url = url,
                          .group = group,
                          .member_id = member,
                          .candidate = candidate,
                          .session_timeout_ms = 4000,
                          .info = &info,
                          .cb = trec_callbacks(),
                          .cb_arg = r,
                          .executor = texec_executor(q)};
    coord_t *c = coord_open(&cfg, err, sizeof err);
    if (!c) fprintf(stderr, "coord_open: %s\n", err);
    return c;
}

struct want {
    trec *r;
    char kind;
    size_t n;         /* at least n records of kind */
    int64_t value;    /* and (when set) the last one's value is this */
    bool check_value; /* value matters */
};

static bool want_cond(void *arg)
{
    struct want *w = arg;
    if (trec_count(w->r, w->kind) < w->n) return false;
    return !w->check_value || trec_last(w->r, w->kind).value == w->value;
}

static bool run_until(texec *q, trec *r, char kind, size_t n)
{
    return texec_run_until(q, want_cond, &(struct want){r, kind, n, 0, false}, WAIT_MS);
}

static bool run_until_last(texec *q, trec *r, char kind, int64_t value)
{
    return texec_run_until(q, want_cond, &(struct want){r, kind, 1, value, true}, WAIT_MS);
}

/* Runs the queue until c is connected, joined and leading (or following). */
static void run_until_ready(texec *q, trec *r, bool leads)
{
    assert_true(run_until_last(q, r, 'S', COORD_CONNECTED));
    assert_true(run_until(q, r, 'M', 1));
    if (leads) assert_true(run_until_last(q, r, 'L', 1));
}

static void test_order_and_thread(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    coord_t *c = open_exec(&r, &q, "x1", "l", true);
    assert_non_null(c);
    run_until_ready(&q, &r, true);
    /* nothing happens before the session: the first event is CONNECTED */
    assert_int_equal(r.ev[0].kind, 'S');
    assert_int_equal(r.ev[0].value, COORD_CONNECTED);

    /* five pushes made back to back complete in that order; the revision
     * callbacks follow the store, in order, up to the last */
    for (int i = 1; i <= 5; i++) {
        char body[32];
        snprintf(body, sizeof body, "rev %d", i);
        assert_int_equal(coord_revision_push_async(c, i - 1, body, strlen(body), "t", "sig",
                                                   trec_version_done, &r),
                         0);
    }
    assert_true(run_until(&q, &r, 'v', 5));
    for (size_t i = 0; i < 5; i++) {
        tev e = trec_nth(&r, 'v', i);
        assert_int_equal(e.rc, 0);
        assert_int_equal(e.value, (int64_t)i + 1);
    }
    assert_true(run_until_last(&q, &r, 'R', 5));
    for (size_t i = 1; i < trec_count(&r, 'R'); i++)
        assert_true(trec_nth(&r, 'R', i).value > trec_nth(&r, 'R', i - 1).value);
    assert_string_equal(r.body, "rev 5");

    /* CAS by epoch: of two writes from epoch 0, the second loses */
    assert_int_equal(coord_assignment_write_async(c, 0, "T1", 2, trec_version_done, &r), 0);
    assert_int_equal(coord_assignment_write_async(c, 0, "T1b", 3, trec_version_done, &r), 0);
    assert_true(run_until(&q, &r, 'v', 7));
    assert_int_equal(trec_nth(&r, 'v', 5).rc, 0);
    assert_int_equal(trec_nth(&r, 'v', 5).value, 1);
    assert_int_equal(trec_nth(&r, 'v', 6).rc, COORD_ECONFLICT);
    assert_true(run_until_last(&q, &r, 'A', 1));
    assert_string_equal(r.table, "T1");

    /* the reads, in the order made */
    size_t before = r.n;
    assert_int_equal(coord_assignment_read_async(c, trec_table_done, &r), 0);
    assert_int_equal(coord_revision_list_async(c, trec_list_done, &r), 0);
    assert_int_equal(coord_revision_get_async(c, 3, trec_revision_done, &r), 0);
    assert_int_equal(coord_revision_get_async(c, 99, trec_revision_done, &r), 0);
    assert_int_equal(coord_revision_read_async(c, trec_revision_done, &r), 0);
    assert_true(run_until(&q, &r, 'r', 3));
    const char order[] = "tlrrr";
    size_t k = 0;
    for (size_t i = before; i < r.n; i++)
        if (strchr(order, r.ev[i].kind)) {
            assert_true(k < 5);
            assert_int_equal(r.ev[i].kind, order[k++]);
        }
    assert_int_equal(k, 5);
    tev t = trec_nth(&r, 't', 0);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.value, 1);
    tev l = trec_nth(&r, 'l', 0);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.value, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(r.nums[i], (int64_t)i + 1);
    assert_int_equal(trec_nth(&r, 'r', 0).value, 3);
    assert_int_equal(trec_nth(&r, 'r', 1).rc, COORD_ENOENT);
    assert_int_equal(trec_nth(&r, 'r', 2).value, 5);
    assert_string_equal(r.body, "rev 5");

    assert_int_equal(r.wrong_thread, 0);
    coord_close(c);
    trec_mark_closed(&r);
    texec_fini(&q);
    assert_int_equal(r.after_close, 0);
    trec_fini(&r);
}

static bool leads_cond(void *arg)
{
    coord_status_t st;
    coord_get_status(arg, &st);
    return st.is_leader;
}

/* A leader whose election node is gone cannot write, asynchronously either,
 * whether or not it has noticed yet. */
static void test_deposed_leader_async(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    coord_t *l = open_exec(&r, &q, "x2", "l", true);
    assert_non_null(l);
    run_until_ready(&q, &r, true);
    tnode f;
    assert_int_equal(
        tnode_open(&f, tzk(), "x2", &(tnode_opts){.member_id = "f", .candidate = true}), 0);
    assert_int_equal(coord_wait_ready(f.c, WAIT_MS), 0);
    assert_int_equal(coord_assignment_write_async(l, 0, "T1", 2, trec_version_done, &r), 0);
    assert_true(run_until(&q, &r, 'v', 1));
    assert_int_equal(trec_nth(&r, 'v', 0).rc, 0);

    assert_int_equal(tzk_delete_election_node(tzk(), "x2", "l"), 1);
    assert_int_equal(coord_assignment_write_async(l, 1, "T2", 2, trec_version_done, &r), 0);
    assert_true(run_until(&q, &r, 'v', 2));
    assert_int_equal(trec_nth(&r, 'v', 1).rc, COORD_ENOTLEADER);
    assert_true(th_wait_until(leads_cond, f.c, WAIT_MS));
    int64_t epoch = 0;
    assert_int_equal(coord_assignment_write(f.c, 1, "T2", 2, &epoch), 0);
    assert_int_equal(epoch, 2);
    assert_int_equal(r.wrong_thread, 0);
    tnode_close(&f);
    coord_close(l);
    texec_fini(&q);
    trec_fini(&r);
}

/* ZooKeeper stopped: the calls return at once (before it is started again)
 * and complete, still before it is started again, with ENOCONN/ETIMEOUT. */
static void test_zookeeper_stopped(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    coord_t *c = open_exec(&r, &q, "x3", "m", false);
    assert_non_null(c);
    run_until_ready(&q, &r, false);

    assert_int_equal(th_zk_stop_server(tzk(), 0, SIGKILL), 0);
    assert_int_equal(coord_assignment_read_async(c, trec_table_done, &r), 0);
    assert_int_equal(coord_revision_read_async(c, trec_revision_done, &r), 0);
    /* here, ZooKeeper is still stopped: neither call waited for it */
    assert_true(run_until(&q, &r, 't', 1));
    assert_true(run_until(&q, &r, 'r', 1));
    int rc = trec_nth(&r, 't', 0).rc;
    assert_true(rc == COORD_ENOCONN || rc == COORD_ETIMEOUT);
    rc = trec_nth(&r, 'r', 0).rc;
    assert_true(rc == COORD_ENOCONN || rc == COORD_ETIMEOUT);
    assert_true(run_until_last(&q, &r, 'S', COORD_DISCONNECTED));

    assert_int_equal(th_zk_start_server(tzk(), 0), 0);
    assert_true(run_until_last(&q, &r, 'S', COORD_CONNECTED));
    assert_int_equal(coord_assignment_read_async(c, trec_table_done, &r), 0);
    assert_true(run_until(&q, &r, 't', 2));
    assert_int_equal(trec_nth(&r, 't', 1).rc, 0);
    assert_int_equal(r.wrong_thread, 0);
    coord_close(c);
    texec_fini(&q);
    trec_fini(&r);
}

/* Events and completions still queued when the handle closes (from the
 * executor's thread): their fns run after the close and only free them. */
static void test_close_with_events_queued(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    coord_t *c = open_exec(&r, &q, "x4", "m", true);
    assert_non_null(c);
    assert_int_equal(coord_revision_list_async(c, trec_list_done, &r), 0);
    /* state, members, leader, and the list's completion */
    assert_true(texec_wait_len(&q, 4, WAIT_MS));
    assert_int_equal(coord_assignment_read_async(c, trec_table_done, &r), 0);
    assert_true(texec_wait_len(&q, 5, WAIT_MS));
    coord_close(c);
    trec_mark_closed(&r);
    assert_true(texec_run_all(&q) >= 5);
    assert_int_equal(r.n, 0);
    texec_fini(&q);
    trec_fini(&r);
}

/* A callback closes its own handle (an agent stopping on an event): no
 * deadlock, and the events queued behind it are dropped. */
static void test_close_inside_callback(void **state)
{
    (void)state;
    texec q;
    trec r;
    texec_init(&q);
    trec_init(&r);
    coord_t *c = open_exec(&r, &q, "x5", "m", true);
    assert_non_null(c);
    r.close_c = c;
    r.close_on = 'S';
    assert_true(texec_wait_len(&q, 3, WAIT_MS)); /* state, members, leader */
    texec_run_all(&q);
    assert_null(r.close_c);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.after_close, 0);
    texec_fini(&q);
    trec_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_thread),
        cmocka_unit_test(test_deposed_leader_async),
        cmocka_unit_test(test_zookeeper_stopped),
        cmocka_unit_test(test_close_with_events_queued),
        cmocka_unit_test(test_close_inside_callback),
    };
    return cmocka_run_group_tests(tests, tzk_setup, tzk_teardown);
}
