/*
 * test_coordinator_store.c: the revision and assignment stores against a
 * real ZooKeeper. Revisions: CAS (of concurrent pushes from the same
 * revision exactly one wins), numbering by node version, the last K kept for
 * rollback, watchers told of each new one. Assignment: only the leader
 * writes, with CAS; every member is handed each new table with its epoch;
 * a clean leader change moves the right to write. ACLs: with a secret
 * configured, a client without it (or with a wrong one) can read but cannot
 * write anything in our tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_test_util.h"

struct pusher {
    coord_t *c;
    int64_t expected;
    char body[64];
    int rc;
    int64_t number;
    pthread_barrier_t *go;
};

static void *push_thread(void *arg)
{
    struct pusher *p = arg;
    pthread_barrier_wait(p->go);
    p->rc =
        coord_revision_push(p->c, p->expected, p->body, strlen(p->body), "test", NULL, &p->number);
    return NULL;
}

static bool rev_cond(void *arg)
{
    tnode *n = arg;
    pthread_mutex_lock(&n->mu);
    bool ok = n->rev.number == 1;
    pthread_mutex_unlock(&n->mu);
    return ok;
}

static void test_revisions(void **state)
{
    (void)state;
    tnode a;
    assert_int_equal(tnode_open(&a, tzk(), "r1", &(tnode_opts){.member_id = "a", .keep = 3}), 0);
    assert_int_equal(coord_wait_ready(a.c, 10000), 0);
    coord_revision_t r;
    assert_int_equal(coord_revision_read(a.c, &r), COORD_ENOENT);

    /* concurrent pushes from the same expected revision: exactly one wins */
    enum { P = 4 };
    tnode pushers[P];
    struct pusher ps[P];
    pthread_t th[P];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, P);
    for (int i = 0; i < P; i++) {
        char id[16];
        snprintf(id, sizeof id, "pusher%d", i);
        assert_int_equal(tnode_open(&pushers[i], tzk(), "r1", &(tnode_opts){.keep = 3}), 0);
        assert_int_equal(coord_wait_ready(pushers[i].c, 10000), 0);
        ps[i] = (struct pusher){.c = pushers[i].c, .expected = 0, .go = &go};
        snprintf(ps[i].body, sizeof ps[i].body, "sources: [%d]\n", i);
    }
    for (int i = 0; i < P; i++)
        pthread_create(&th[i], NULL, push_thread, &ps[i]);
    int wins = 0, conflicts = 0, winner = -1;
    for (int i = 0; i < P; i++) {
        pthread_join(th[i], NULL);
        if (ps[i].rc == COORD_OK) {
            wins++;
            winner = i;
            assert_int_equal(ps[i].number, 1);
        } else {
            assert_int_equal(ps[i].rc, COORD_ECONFLICT);
            conflicts++;
        }
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(wins, 1);
    assert_int_equal(conflicts, P - 1);

    /* the member is told; its copy is the winner's body */
    assert_true(th_wait_until(rev_cond, &a, 5000));
    pthread_mutex_lock(&a.mu);
    assert_string_equal((char *)a.rev.body, ps[winner].body);
    assert_string_equal(a.rev.author, "test");
    assert_int_equal(strlen(a.rev.sha256), 64);
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(coord_revision_read(a.c, &r), 0);
    assert_int_equal(r.number, 1);
    assert_memory_equal(r.body, ps[winner].body, r.body_len);
    coord_revision_free(&r);

    /* a stale push is refused, a current one gets the next number */
    int64_t num = 0;
    assert_int_equal(coord_revision_push(a.c, 0, "x", 1, "t", NULL, &num), COORD_ECONFLICT);
    for (int64_t n = 1; n <= 6; n++) {
        char body[32];
        snprintf(body, sizeof body, "revision %lld", (long long)(n + 1));
        /* bodies are bytes: the trailing NUL is stored too */
        assert_int_equal(coord_revision_push(a.c, n, body, strlen(body) + 1, "t", "sig", &num), 0);
        assert_int_equal(num, n + 1);
    }
    int64_t kept[10];
    size_t nkept = 0;
    assert_int_equal(coord_revision_list(a.c, kept, 10, &nkept), 0);
    assert_int_equal(nkept, 3); /* K = 3 */
    assert_int_equal(kept[0], 5);
    assert_int_equal(kept[2], 7);
    /* rollback: read an old one, push it as the next */
    assert_int_equal(coord_revision_get(a.c, 5, &r), 0);
    assert_string_equal((char *)r.body, "revision 5");
    assert_int_equal(r.body_len, strlen("revision 5") + 1);
    assert_string_equal(r.signature, "sig");
    assert_int_equal(coord_revision_push(a.c, 7, r.body, r.body_len, "rollback", NULL, &num), 0);
    assert_int_equal(num, 8);
    coord_revision_free(&r);
    assert_int_equal(coord_revision_get(a.c, 2, &r), COORD_ENOENT);

    for (int i = 0; i < P; i++)
        tnode_close(&pushers[i]);
    tnode_close(&a);
}

static bool epoch_is(tnode *n, int64_t epoch)
{
    pthread_mutex_lock(&n->mu);
    bool ok = n->epoch == epoch;
    pthread_mutex_unlock(&n->mu);
    return ok;
}

static bool epoch2_cond(void *arg)
{
    return epoch_is(arg, 2);
}

static bool epoch3_cond(void *arg)
{
    return epoch_is(arg, 3);
}

static bool leads_cond(void *arg)
{
    coord_status_t st;
    coord_get_status(arg, &st);
    return st.is_leader;
}

static bool follows_cond(void *arg)
{
    return !leads_cond(arg);
}

static void test_assignment(void **state)
{
    (void)state;
    tnode l, f, obs;
    assert_int_equal(
        tnode_open(&l, tzk(), "a1", &(tnode_opts){.member_id = "l", .candidate = true}), 0);
    assert_int_equal(coord_wait_ready(l.c, 10000), 0);
    assert_int_equal(
        tnode_open(&f, tzk(), "a1", &(tnode_opts){.member_id = "f", .candidate = true}), 0);
    assert_int_equal(tnode_open(&obs, tzk(), "a1", &(tnode_opts){0}), 0);
    assert_int_equal(coord_wait_ready(f.c, 10000), 0);
    assert_int_equal(coord_wait_ready(obs.c, 10000), 0);
    coord_status_t st;
    coord_get_status(l.c, &st);
    assert_true(st.is_leader);
    coord_get_status(f.c, &st);
    assert_false(st.is_leader);

    void *table;
    size_t len;
    int64_t epoch = -1;
    assert_int_equal(coord_assignment_read(obs.c, &table, &len, &epoch), 0);
    assert_int_equal(len, 0);
    assert_int_equal(epoch, 0);
    free(table);
    assert_int_equal(coord_assignment_write(f.c, 0, "T0", 2, &epoch), COORD_ENOTLEADER);
    assert_int_equal(coord_assignment_write(obs.c, 0, "T0", 2, &epoch), COORD_ENOTLEADER);
    assert_int_equal(coord_assignment_write(l.c, 0, "T1", 2, &epoch), 0);
    assert_int_equal(epoch, 1);
    assert_int_equal(coord_assignment_write(l.c, 0, "T1", 2, &epoch), COORD_ECONFLICT);
    assert_int_equal(coord_assignment_write(l.c, 1, "T2\0x", 4, &epoch), 0);
    assert_int_equal(epoch, 2);
    assert_true(th_wait_until(epoch2_cond, &f, 5000));
    assert_true(th_wait_until(epoch2_cond, &obs, 5000));
    pthread_mutex_lock(&f.mu);
    assert_int_equal(f.table_len, 4);
    assert_memory_equal(f.table, "T2\0x", 4);
    pthread_mutex_unlock(&f.mu);
    assert_int_equal(coord_assignment_read(obs.c, &table, &len, &epoch), 0);
    assert_int_equal(epoch, 2);
    assert_memory_equal(table, "T2\0x", 4);
    free(table);

    /* the leader leaves cleanly: the follower leads at once and may write */
    tnode_close(&l);
    assert_true(tnode_wait_leader(&obs, "l", 5000));
    assert_true(th_wait_until(leads_cond, f.c, 5000));
    assert_int_equal(coord_assignment_write(f.c, 2, "T3", 2, &epoch), 0);
    assert_true(th_wait_until(epoch3_cond, &obs, 5000));
    tnode_close(&f);
    tnode_close(&obs);
}

/* Someone deletes the leader's election node: from then on its writes fail
 * (the multi's check), and the next candidate leads and writes. */
static void test_deposed_leader_cannot_write(void **state)
{
    (void)state;
    tnode l, f;
    assert_int_equal(
        tnode_open(&l, tzk(), "a2", &(tnode_opts){.member_id = "l", .candidate = true}), 0);
    assert_int_equal(coord_wait_ready(l.c, 10000), 0);
    assert_int_equal(
        tnode_open(&f, tzk(), "a2", &(tnode_opts){.member_id = "f", .candidate = true}), 0);
    assert_int_equal(coord_wait_ready(f.c, 10000), 0);
    assert_true(th_wait_until(leads_cond, l.c, 5000));
    int64_t epoch;
    assert_int_equal(coord_assignment_write(l.c, 0, "T1", 2, &epoch), 0);

    assert_int_equal(tzk_delete_election_node(tzk(), "a2", "l"), 1);
    /* whether or not l has noticed yet, its write cannot land */
    assert_int_equal(coord_assignment_write(l.c, 1, "T2", 2, &epoch), COORD_ENOTLEADER);
    assert_true(th_wait_until(leads_cond, f.c, 5000));
    assert_int_equal(coord_assignment_write(f.c, 1, "T2", 2, &epoch), 0);
    assert_int_equal(epoch, 2);
    assert_true(th_wait_until(follows_cond, l.c, 5000)); /* it stood again, behind f */
    tnode_close(&f);
    tnode_close(&l);
}

static bool has_node_of(void *arg)
{
    return tzk_count_election_nodes(tzk(), "a3", arg) == 1;
}

/*
 * A deposed leader that stands again must not write with its new node: the
 * check is on the node it led with. Deterministic: a node ahead of it that
 * it may not read (a foreign candidate's, digest-only ACL) keeps its
 * election from finishing, so it still believes it leads while its new
 * node exists. Before the fix its write landed.
 */
static void test_restanding_leader_cannot_write(void **state)
{
    (void)state;
    tnode l;
    assert_int_equal(
        tnode_open(&l, tzk(), "a3", &(tnode_opts){.member_id = "l", .candidate = true}), 0);
    assert_int_equal(coord_wait_ready(l.c, 10000), 0);
    assert_true(th_wait_until(leads_cond, l.c, 5000));
    int64_t epoch;
    assert_int_equal(coord_assignment_write(l.c, 0, "T1", 2, &epoch), 0);

    zhandle_t *other = tzk_connect(tzk(), "other:pw");
    assert_non_null(other);
    struct ACL mine[] = {{ZOO_PERM_ALL, {"auth", ""}}};
    struct ACL_vector acl = {1, mine};
    const char *data = "{\"member\":\"other\",\"endpoint\":\"\"}";
    assert_int_equal(zoo_create(other, "/meterd-test/a3/election/0123-n_", data, (int)strlen(data),
                                &acl, ZOO_EPHEMERAL_SEQUENTIAL, NULL, 0),
                     ZOK);
    assert_int_equal(tzk_delete_election_node(tzk(), "a3", "l"), 1);
    assert_true(th_wait_until(has_node_of, "l", 10000)); /* it stood again, behind other */
    assert_int_equal(coord_assignment_write(l.c, 1, "T2", 2, &epoch), COORD_ENOTLEADER);
    zookeeper_close(other);
    tnode_close(&l);
}

static void test_acl(void **state)
{
    (void)state;
    const char *secret = "meterd:s3cret";
    tnode a;
    assert_int_equal(tnode_open(&a, tzk(), "acl", &(tnode_opts){.member_id = "a", .auth = secret}),
                     0);
    assert_int_equal(coord_wait_ready(a.c, 10000), 0);
    assert_true(tnode_wait_member(&a, "a", true, 5000));
    int64_t num;
    assert_int_equal(coord_revision_push(a.c, 0, "body", 4, "ok", NULL, &num), 0);

    /* without the secret (raw client, or our own library) nothing can be written */
    zhandle_t *anon = tzk_connect(tzk(), NULL);
    zhandle_t *wrong = tzk_connect(tzk(), "meterd:wrong");
    assert_non_null(anon);
    assert_non_null(wrong);
    zhandle_t *zhs[2] = {anon, wrong};
    for (int i = 0; i < 2; i++) {
        zhandle_t *zh = zhs[i];
        assert_int_equal(zoo_set(zh, "/meterd-test/acl/pipeline", "evil", 4, -1), ZNOAUTH);
        assert_int_equal(zoo_set(zh, "/meterd-test/acl/assignment", "evil", 4, -1), ZNOAUTH);
        assert_int_equal(zoo_create(zh, "/meterd-test/acl/members/evil", "{}", 2,
                                    &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0),
                         ZNOAUTH);
        assert_int_equal(zoo_delete(zh, "/meterd-test/acl/members/a", -1), ZNOAUTH);
        assert_int_equal(zoo_delete(zh, "/meterd-test/acl/revisions/0000000001", -1), ZNOAUTH);
        assert_int_equal(zoo_set(zh, "/meterd-test/acl/members/a", "{}", 2, -1), ZNOAUTH);
        assert_int_equal(zoo_set(zh, "/meterd-test/acl", "x", 1, -1), ZNOAUTH);
        /* reading stays open (operators' tools, meterproxy) */
        char buf[512];
        int blen = sizeof buf;
        assert_int_equal(zoo_get(zh, "/meterd-test/acl/pipeline", 0, buf, &blen, NULL), ZOK);
    }
    zookeeper_close(anon);
    zookeeper_close(wrong);

    tnode nosecret;
    assert_int_equal(tnode_open(&nosecret, tzk(), "acl", &(tnode_opts){0}), 0);
    assert_int_equal(coord_wait_ready(nosecret.c, 10000), 0);
    assert_int_equal(coord_revision_push(nosecret.c, 1, "evil", 4, "x", NULL, &num), COORD_ENOAUTH);
    coord_revision_t r;
    assert_int_equal(coord_revision_read(nosecret.c, &r), 0);
    assert_string_equal((char *)r.body, "body");
    coord_revision_free(&r);
    tnode_close(&nosecret);
    tnode_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revisions),
        cmocka_unit_test(test_assignment),
        cmocka_unit_test(test_deposed_leader_cannot_write),
        cmocka_unit_test(test_restanding_leader_cannot_write),
        cmocka_unit_test(test_acl),
    };
    return cmocka_run_group_tests(tests, tzk_setup, tzk_teardown);
}
