/*
 * test_coordinator_members.c: group membership against a real ZooKeeper.
 * Join and leave are seen by other members (with the delay measured, p50 and
 * p99 printed as JSON), member data updates are seen, and junk written by
 * someone else into our tree (bad JSON, huge nodes, persistent nodes,
 * unexpected children) is logged and ignored.
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

static bool running_cond(void *arg)
{
    coord_members_t s;
    if (coord_members_get(arg, &s) != COORD_OK) return false;
    bool ok = s.count == 1 && strcmp(s.members[0].info.state, "running") == 0;
    coord_members_free(&s);
    return ok;
}

struct rejoin {
    tnode *obs;
    int64_t old_session;
};

static bool rejoined_cond(void *arg)
{
    struct rejoin *r = arg;
    int64_t s = tnode_member_session(r->obs, "a");
    return s != 0 && s != r->old_session;
}

static void test_join_leave_visible(void **state)
{
    (void)state;
    tnode obs, a;
    assert_int_equal(tnode_open(&obs, tzk(), "g1", &(tnode_opts){0}), 0);
    assert_int_equal(coord_wait_ready(obs.c, 10000), 0);
    assert_int_equal(tnode_open(&a, tzk(), "g1", &(tnode_opts){.member_id = "a"}), 0);
    assert_int_equal(coord_wait_ready(a.c, 10000), 0);
    assert_true(tnode_wait_member(&obs, "a", true, 5000));
    assert_true(tnode_wait_member(&a, "a", true, 5000)); /* sees itself too */

    enum { N = 30 };
    double join_ms[N], leave_ms[N];
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "m%02d", i);
        tnode m;
        int64_t t0 = th_now_ms();
        assert_int_equal(tnode_open(&m, tzk(), "g1", &(tnode_opts){.member_id = id}), 0);
        assert_true(tnode_wait_member(&obs, id, true, 5000));
        join_ms[i] = (double)(th_now_ms() - t0);
        assert_true(tnode_wait_member(&a, id, true, 5000));
        t0 = th_now_ms();
        tnode_close(&m); /* a clean leave: the session closes */
        assert_true(tnode_wait_member(&obs, id, false, 5000));
        leave_ms[i] = (double)(th_now_ms() - t0);
    }
    printf("{\"join_visible_ms_p50\":%.1f,\"join_visible_ms_p99\":%.1f,"
           "\"leave_visible_ms_p50\":%.1f,\"leave_visible_ms_p99\":%.1f,\"samples\":%d}\n",
           tpercentile(join_ms, N, 50), tpercentile(join_ms, N, 99), tpercentile(leave_ms, N, 50),
           tpercentile(leave_ms, N, 99), N);
    if (!th_slow()) assert_true(tpercentile(join_ms, N, 99) < 2000);

    /* a snapshot carries its zxid, which moves forward */
    coord_members_t s1, s2;
    assert_int_equal(coord_members_get(obs.c, &s1), 0);
    assert_int_equal(s1.count, 1);
    assert_string_equal(s1.members[0].id, "a");
    assert_string_equal(s1.members[0].info.host, "test-a");
    assert_string_equal(s1.members[0].info.namespaces, "central");

    /* data updates reach the others */
    coord_member_info_t info = {.pid = 42, .weight = 3, .applied_revision = 7, .owned = 99};
    snprintf(info.host, sizeof info.host, "host-a");
    snprintf(info.namespaces, sizeof info.namespaces, "central,ipmi");
    snprintf(info.state, sizeof info.state, "running");
    snprintf(info.applied_sha256, sizeof info.applied_sha256, "%064d", 0);
    assert_int_equal(coord_member_update(a.c, &info), 0);
    assert_true(th_wait_until(running_cond, obs.c, 5000));
    assert_int_equal(coord_members_get(obs.c, &s2), 0);
    assert_true(s2.zxid > s1.zxid);
    assert_int_equal(s2.members[0].info.weight, 3);
    assert_int_equal(s2.members[0].info.owned, 99);
    assert_int_equal(s2.members[0].info.applied_revision, 7);
    assert_string_equal(s2.members[0].info.namespaces, "central,ipmi");
    coord_members_free(&s1);
    coord_members_free(&s2);

    /* a member whose id is still held by a live session waits, then joins */
    tnode twin;
    assert_int_equal(tnode_open(&twin, tzk(), "g1", &(tnode_opts){.member_id = "a"}), 0);
    int64_t held_by = tnode_member_session(&obs, "a");
    assert_int_equal(coord_wait_ready(twin.c, 5000), 0);
    coord_status_t st;
    coord_get_status(twin.c, &st);
    assert_false(st.joined); /* never steals a live member's node */
    tnode_close(&a);
    struct rejoin rj = {&obs, held_by};
    assert_true(th_wait_until(rejoined_cond, &rj, 5000));
    tnode_close(&twin);
    tnode_close(&obs);
}

static void test_junk_ignored(void **state)
{
    (void)state;
    tnode obs, a;
    assert_int_equal(tnode_open(&obs, tzk(), "g2", &(tnode_opts){0}), 0);
    assert_int_equal(
        tnode_open(&a, tzk(), "g2", &(tnode_opts){.member_id = "a", .candidate = true}), 0);
    assert_int_equal(coord_wait_ready(obs.c, 10000), 0);
    assert_int_equal(coord_wait_ready(a.c, 10000), 0);
    assert_true(tnode_wait_member(&obs, "a", true, 5000));

    zhandle_t *zh = tzk_connect(tzk(), NULL);
    assert_non_null(zh);
    const char *base = "/meterd-test/g2";
    char path[256];
    static char huge[200000];
    memset(huge, '{', sizeof huge);
    struct {
        const char *name;
        const char *data;
        int len;
        int mode;
    } junk[] = {
        {"badjson", "{not json", 9, ZOO_EPHEMERAL},
        {"array", "[1,2,3]", 7, ZOO_EPHEMERAL},
        {"wrongtype", "{\"pid\":\"x\"}", 11, ZOO_EPHEMERAL},
        {"huge", huge, (int)sizeof huge, ZOO_EPHEMERAL},
        {"persistent", "{\"host\":\"h\"}", 12, ZOO_PERSISTENT},
        {"empty", NULL, -1, ZOO_EPHEMERAL},
    };
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        snprintf(path, sizeof path, "%s/members/%s", base, junk[i].name);
        assert_int_equal(zoo_create(zh, path, junk[i].data, junk[i].len, &ZOO_OPEN_ACL_UNSAFE,
                                    junk[i].mode, NULL, 0),
                         ZOK);
    }
    /* a child under a member, junk in the election and revision folders */
    snprintf(path, sizeof path, "%s/members/persistent/child", base);
    assert_int_equal(zoo_create(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    snprintf(path, sizeof path, "%s/election/garbage", base);
    assert_int_equal(zoo_create(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    snprintf(path, sizeof path, "%s/election/zz-n_0000000000", base); /* bad data, lowest seq */
    assert_int_equal(zoo_create(zh, path, "\xff\xfe", 2, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    snprintf(path, sizeof path, "%s/revisions/notanumber", base);
    assert_int_equal(zoo_create(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    snprintf(path, sizeof path, "%s/pipeline", base);
    struct Stat pst;
    assert_int_equal(zoo_set2(zh, path, "garbage\n{}", 10, -1, &pst), ZOK);
    snprintf(path, sizeof path, "%s/assignment", base);
    assert_int_equal(zoo_set(zh, path, huge, 1000, -1), ZOK);

    /* a real member joining after the junk is still seen; junk never is */
    tnode b;
    assert_int_equal(tnode_open(&b, tzk(), "g2", &(tnode_opts){.member_id = "b"}), 0);
    assert_true(tnode_wait_member(&obs, "b", true, 5000));
    coord_members_t s;
    assert_int_equal(coord_members_get(obs.c, &s), 0);
    assert_int_equal(s.count, 2);
    assert_string_equal(s.members[0].id, "a");
    assert_string_equal(s.members[1].id, "b");
    coord_members_free(&s);
    /* the garbage revision was not delivered and reads as malformed */
    coord_revision_t r;
    assert_int_equal(coord_revision_read(obs.c, &r), COORD_EMALFORMED);
    /* ...and its users were told so as data: the node's version and why */
    assert_true(tnode_wait_malformed(&obs, pst.version, 10000));
    pthread_mutex_lock(&obs.mu);
    assert_int_equal(obs.rev_calls, 0);
    assert_true(obs.bad_why[0] != '\0');
    pthread_mutex_unlock(&obs.mu);
    /* the foreign lowest election node leads with an unknown member; nothing crashed */
    assert_true(tnode_wait_leader(&obs, NULL, 5000) || true);
    int64_t revs[4];
    size_t nrev = 0;
    assert_int_equal(coord_revision_list(obs.c, revs, 4, &nrev), 0);
    assert_int_equal(nrev, 0);

    zookeeper_close(zh);
    tnode_close(&b);
    tnode_close(&a);
    tnode_close(&obs);
}

/* ---- issue 19: an ack costs the group O(1) reads, not one per member ---- */

enum { ACK_N = 8 };

struct applied_wait {
    tnode *n;
    int count;
    int64_t rev;
};

static bool applied_cond(void *arg)
{
    struct applied_wait *w = arg;
    coord_members_t s;
    if (coord_members_get(w->n->c, &s) != COORD_OK) return false;
    bool ok = (int)s.count == w->count;
    for (size_t i = 0; ok && i < s.count; i++)
        ok = s.members[i].info.applied_revision == w->rev;
    coord_members_free(&s);
    return ok;
}

/* The most sessions watching the data of any one member node of group acks
 * (`wchp`: each path, then the sessions watching it, indented). */
static int max_member_watchers(void)
{
    static char out[1 << 16];
    if (th_zk_4lw(tzk(), 0, "wchp", out, sizeof out) != 0) return -1;
    int most = 0, cur = 0;
    bool member = false;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '/') {
            member = strncmp(line, "/meterd-test/acks/members/", 26) == 0;
            cur = 0;
        } else if (member && ++cur > most) {
            most = cur;
        }
    }
    return most;
}

static bool few_watchers_cond(void *arg)
{
    (void)arg;
    int w = max_member_watchers();
    return w >= 1 && w <= 3;
}

static void update_applied(tnode *m, int64_t rev)
{
    coord_member_info_t info = {.pid = 1, .weight = 1, .applied_revision = rev};
    snprintf(info.host, sizeof info.host, "test-%s", m->name);
    snprintf(info.namespaces, sizeof info.namespaces, "central");
    snprintf(info.state, sizeof info.state, "running");
    assert_int_equal(coord_member_update(m->c, &info), 0);
}

struct group_of {
    tnode **m;
    int n;
};

static int leader_of(struct group_of *g)
{
    for (int i = 0; i < g->n; i++) {
        coord_status_t st;
        coord_get_status(g->m[i]->c, &st);
        if (st.is_leader) return i;
    }
    return -1;
}

static bool leader_known_cond(void *arg)
{
    return leader_of(arg) >= 0;
}

/*
 * Members other than the leader watch their own node and the children, not
 * every member's data: each node's data is watched by its member, the
 * leader and the observer only (before issue 19, by every member: an ack
 * was re-read by the whole group, n^2 reads per push). The leader sees
 * every update, and so does a new leader after a failover.
 */
static void test_ack_reads_scale(void **state)
{
    (void)state;
    tnode obs, m[ACK_N];
    tnode *pm[ACK_N];
    assert_int_equal(tnode_open(&obs, tzk(), "acks", &(tnode_opts){0}), 0);
    for (int i = 0; i < ACK_N; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        assert_int_equal(
            tnode_open(&m[i], tzk(), "acks", &(tnode_opts){.member_id = id, .candidate = true}), 0);
        pm[i] = &m[i];
    }
    for (int i = 0; i < ACK_N; i++)
        assert_int_equal(coord_wait_ready(m[i].c, 10000), 0);
    struct group_of all = {pm, ACK_N};
    assert_true(th_wait_until(leader_known_cond, &all, 10000));
    for (int i = 0; i < ACK_N; i++)
        update_applied(&m[i], 5);
    assert_true(th_wait_until(applied_cond, &(struct applied_wait){&obs, ACK_N, 5}, 10000));
    int leader = leader_of(&all);
    assert_true(leader >= 0);
    assert_true(th_wait_until(applied_cond, &(struct applied_wait){&m[leader], ACK_N, 5}, 10000));
    assert_true(th_wait_until(few_watchers_cond, NULL, 10000));

    /* the leader goes: its successor reads and watches every member's data */
    tnode_close(&m[leader]);
    tnode *rest[ACK_N - 1];
    for (int i = 0, k = 0; i < ACK_N; i++)
        if (i != leader) rest[k++] = &m[i];
    struct group_of left = {rest, ACK_N - 1};
    assert_true(th_wait_until(leader_known_cond, &left, 10000));
    int next = leader_of(&left);
    for (int i = 0; i < ACK_N - 1; i++)
        update_applied(rest[i], 6);
    assert_true(
        th_wait_until(applied_cond, &(struct applied_wait){rest[next], ACK_N - 1, 6}, 10000));
    assert_true(th_wait_until(few_watchers_cond, NULL, 10000));
    for (int i = 0; i < ACK_N - 1; i++)
        tnode_close(rest[i]);
    tnode_close(&obs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_leave_visible),
        cmocka_unit_test(test_junk_ignored),
        cmocka_unit_test(test_ack_reads_scale),
    };
    return cmocka_run_group_tests(tests, tzk_setup, tzk_teardown);
}
