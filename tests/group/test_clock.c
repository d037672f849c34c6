/*
 * test_clock.c: the slot-table clock. Pending tables in order of their
 * instants, supersession, the owner of a target before, at and after an
 * instant, what is unknown, and a member's gains and losses.
 */
#include "group/group.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Encoded table whose every slot belongs to `owner` (members a, b, c). */
static uint8_t *table_bytes(const char *owner, int64_t effective_ms, size_t *len)
{
    partition_member m[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
    char err[200];
    partition_table *t = partition_table_new(m, 3, err, sizeof err);
    assert_non_null(t);
    int32_t idx = partition_member_index(t, owner);
    assert_true(idx >= 0);
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++)
        t->owner[s] = (uint16_t)idx;
    t->effective_ms = effective_ms;
    uint8_t *buf = NULL;
    assert_int_equal(partition_table_encode(t, &buf, len, err, sizeof err), 0);
    partition_table_free(t);
    return buf;
}

static int install(group_clock *c, const char *owner, int64_t eff, int64_t epoch)
{
    size_t len = 0;
    uint8_t *b = table_bytes(owner, eff, &len);
    char err[200];
    int rc = group_clock_install(c, b, len, epoch, err, sizeof err);
    free(b);
    return rc;
}

/* Version 2: the table as `epoch`, naming `prev` as the one in force when it
 * was planned (embedded unless named_only), as a leader writes it. */
static uint8_t *table_bytes_prev(const char *owner, int64_t eff, int64_t epoch,
                                 const partition_prev *prev, bool named_only, size_t *len)
{
    size_t l1 = 0;
    uint8_t *b1 = table_bytes(owner, eff, &l1);
    partition_table *t = NULL;
    char err[200];
    assert_int_equal(partition_table_decode(b1, l1, &t, err, sizeof err), 0);
    free(b1);
    t->epoch = (uint64_t)epoch;
    partition_prev p = *prev;
    if (named_only) p.t = NULL;
    uint8_t *buf = NULL;
    if (partition_table_encode_prev(t, &p, &buf, len, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(buf[4], 2);
    partition_table_free(t);
    return buf;
}

/* What `leader` names now as its predecessor (its table in force). */
static void in_force(const group_clock *leader, partition_prev *p)
{
    assert_int_equal(group_clock_in_force(leader, p), 0);
}

/* Installs owner's table as epoch in both clocks (a leader's write that both
 * read); for the member's clock only when member is not NULL. */
static void install_v2(group_clock *leader, group_clock *member, const char *owner, int64_t eff,
                       int64_t epoch, bool named_only)
{
    partition_prev p;
    in_force(leader, &p);
    size_t len = 0;
    uint8_t *b = table_bytes_prev(owner, eff, epoch, &p, named_only, &len);
    partition_table_free(p.t);
    char err[200];
    assert_int_equal(group_clock_install(leader, b, len, epoch, err, sizeof err), 0);
    if (member && group_clock_install(member, b, len, epoch, err, sizeof err) != 0)
        fail_msg("%s", err);
    free(b);
}

static void expect_owner(const group_clock *c, int64_t t, group_owner_kind kind, const char *id)
{
    group_owner o;
    group_clock_owner_at(c, "bmc-0042", t, &o);
    assert_int_equal(o.kind, kind);
    assert_int_equal(o.slot, partition_slot_of("bmc-0042", 8));
    if (id)
        assert_string_equal(o.owner_id, id);
    else
        assert_null(o.owner_id);
}

static void test_no_table(void **state)
{
    (void)state;
    group_clock c;
    group_clock_init(&c);
    assert_false(group_clock_has_table(&c));
    assert_null(group_clock_table_at(&c, 5));
    assert_null(group_clock_newest(&c));
    assert_int_equal(group_clock_next_ms(&c), -1);
    expect_owner(&c, 5, GROUP_OWNER_NO_TABLE, NULL);
    group_clock_free(&c);
}

/* The only known table is pending (what meterctl sees during a handover):
 * before its instant the owner is unknown, never the future owner. */
static void test_pending_only(void **state)
{
    (void)state;
    group_clock c;
    group_clock_init(&c);
    assert_int_equal(install(&c, "b", 1000, 1), 0);
    assert_int_equal(group_clock_promote(&c, 999), 0);
    expect_owner(&c, 999, GROUP_OWNER_UNKNOWN, NULL);
    assert_null(group_clock_table_at(&c, 999));
    expect_owner(&c, 1000, GROUP_OWNER_MEMBER, "b");
    assert_int_equal(group_clock_next_ms(&c), 1000);
    assert_int_equal(group_clock_newest(&c)->epoch, 1);
    assert_int_equal(group_clock_promote(&c, 1000), 1);
    assert_int_equal(group_clock_next_ms(&c), -1);
    expect_owner(&c, 1000, GROUP_OWNER_MEMBER, "b");
    expect_owner(&c, 10, GROUP_OWNER_MEMBER, "b"); /* in force: no history kept before it */
    assert_int_equal(c.cur.epoch, 1);
    assert_int_equal(strlen(c.cur.digest), 64);
    group_clock_free(&c);
}

static void test_order_and_supersede(void **state)
{
    (void)state;
    group_clock c;
    group_clock_init(&c);
    assert_int_equal(install(&c, "a", 0, 1), 0);
    assert_int_equal(group_clock_promote(&c, 100), 1);
    assert_int_equal(install(&c, "b", 2000, 2), 0);
    /* owner at t before and at the instant */
    expect_owner(&c, 1999, GROUP_OWNER_MEMBER, "a");
    expect_owner(&c, 2000, GROUP_OWNER_MEMBER, "b");
    assert_int_equal(group_clock_next_ms(&c), 2000);
    /* a newer table supersedes the pending one, whatever its instant:
     * ZooKeeper stores only the newest, so a member that missed "b" goes from
     * "a" to "c" at 3000, and so must one that saw "b" */
    assert_int_equal(install(&c, "c", 3000, 3), 0);
    assert_int_equal(c.n_pending, 1);
    expect_owner(&c, 2500, GROUP_OWNER_MEMBER, "a");
    expect_owner(&c, 3000, GROUP_OWNER_MEMBER, "c");
    assert_int_equal(group_clock_next_ms(&c), 3000);
    /* a stale or repeated epoch is ignored */
    assert_int_equal(install(&c, "a", 5000, 3), 1);
    assert_int_equal(install(&c, "a", 5000, 2), 1);
    expect_owner(&c, 6000, GROUP_OWNER_MEMBER, "c");
    /* an earlier instant supersedes too */
    assert_int_equal(install(&c, "b", 2500, 4), 0);
    assert_int_equal(c.n_pending, 1);
    expect_owner(&c, 2499, GROUP_OWNER_MEMBER, "a");
    expect_owner(&c, 3500, GROUP_OWNER_MEMBER, "b");
    assert_int_equal(group_clock_newest(&c)->epoch, 4);
    assert_int_equal(group_clock_promote(&c, 2500), 1);
    assert_int_equal(c.cur.epoch, 4);
    group_clock_free(&c);
}

/* A burst of tables (joins 150 ms apart, each planned while the previous
 * is pending) leaves one pending: nothing is put in force early. */
static void test_burst(void **state)
{
    (void)state;
    group_clock c;
    group_clock_init(&c);
    assert_int_equal(install(&c, "a", 0, 1), 0);
    assert_int_equal(group_clock_promote(&c, 100), 1);
    const char *owners[] = {"b", "c", "a", "b", "c", "a"};
    for (int i = 0; i < 6; i++)
        assert_int_equal(install(&c, owners[i], 1000 + 150 * i, i + 2), 0);
    assert_int_equal(c.n_pending, 1);
    assert_int_equal(c.cur.epoch, 1);
    assert_int_equal(group_clock_next_ms(&c), 1750);
    expect_owner(&c, 1749, GROUP_OWNER_MEMBER, "a");
    expect_owner(&c, 1750, GROUP_OWNER_MEMBER, "a");
    assert_int_equal(group_clock_newest(&c)->epoch, 7);
    group_clock_free(&c);
}

/* The defect of issue 11 after a lost session: the member held "a" in force
 * (epoch 1), missed epoch 2 ("b" at once: the leader planned it out) and
 * reads only epoch 3 ("a" again, pending). Until 3000 the others poll under
 * epoch 2: so must it, not under its forgotten epoch 1. */
static void test_predecessor_replaces_ours(void **state)
{
    (void)state;
    group_clock leader, member;
    group_clock_init(&leader);
    group_clock_init(&member);
    assert_int_equal(install(&leader, "a", 0, 1), 0);
    assert_int_equal(install(&member, "a", 0, 1), 0);
    group_clock_promote(&leader, 100);
    group_clock_promote(&member, 100);
    install_v2(&leader, NULL, "b", 200, 2, false); /* the member is away */
    group_clock_promote(&leader, 200);
    char in_force_digest[65];
    memcpy(in_force_digest, leader.cur.digest, sizeof in_force_digest);
    install_v2(&leader, &member, "a", 3000, 3, false);
    group_clock_promote(&member, 1000);
    expect_owner(&member, 1000, GROUP_OWNER_MEMBER, "b");
    expect_owner(&member, 2999, GROUP_OWNER_MEMBER, "b");
    expect_owner(&member, 3000, GROUP_OWNER_MEMBER, "a");
    assert_int_equal(member.cur.epoch, 2);
    assert_string_equal(member.cur.digest, in_force_digest); /* what the others report */
    assert_int_equal(member.epoch, 3);
    assert_int_equal(group_clock_promote(&member, 3000), 1);
    expect_owner(&member, 3000, GROUP_OWNER_MEMBER, "a");
    group_clock_free(&leader);
    group_clock_free(&member);
}

/* The member's table in force is the one named: it stays (the churn case:
 * a member that re-read after a short stall is still an owner meanwhile). */
static void test_predecessor_keeps_ours(void **state)
{
    (void)state;
    group_clock leader, member;
    group_clock_init(&leader);
    group_clock_init(&member);
    assert_int_equal(install(&leader, "a", 0, 1), 0);
    assert_int_equal(install(&member, "a", 0, 1), 0);
    group_clock_promote(&leader, 100);
    group_clock_promote(&member, 100);
    const partition_table *ours = member.cur.t;
    /* tables superseded again and again (joins and leaves), each naming the
     * same table in force */
    for (int i = 0; i < 5; i++)
        install_v2(&leader, &member, i % 2 ? "b" : "c", 5000 + i, 2 + i, i == 2);
    assert_ptr_equal(member.cur.t, ours);
    assert_int_equal(member.cur.epoch, 1);
    expect_owner(&member, 4999, GROUP_OWNER_MEMBER, "a");
    expect_owner(&member, 5004, GROUP_OWNER_MEMBER, "c");
    group_clock_free(&leader);
    group_clock_free(&member);
}

/* Named only (too big to embed), not ours: nothing known before the
 * instant, so nothing shared is polled: a gap, never a duplicate. */
static void test_predecessor_named_only(void **state)
{
    (void)state;
    group_clock leader, member;
    group_clock_init(&leader);
    group_clock_init(&member);
    assert_int_equal(install(&leader, "a", 0, 1), 0);
    assert_int_equal(install(&member, "a", 0, 1), 0);
    group_clock_promote(&leader, 100);
    group_clock_promote(&member, 100);
    install_v2(&leader, NULL, "b", 200, 2, false);
    group_clock_promote(&leader, 200);
    install_v2(&leader, &member, "a", 3000, 3, true);
    expect_owner(&member, 2999, GROUP_OWNER_UNKNOWN, NULL);
    expect_owner(&member, 3000, GROUP_OWNER_MEMBER, "a");
    assert_null(member.cur.t);
    assert_true(group_clock_has_table(&member));
    group_clock_promote(&member, 3000);
    expect_owner(&member, 2999, GROUP_OWNER_MEMBER, "a");
    group_clock_free(&leader);
    group_clock_free(&member);
}

/* A read that lagged behind two writes (the join strays): the leader put
 * epoch 2 in force at 1000, then planned epoch 3 for 2000. A member that
 * never saw epoch 2 polls under it from the moment it reads epoch 3, as the
 * others do; one that saw it still pending (its clock behind) too. */
static void test_predecessor_after_two_writes(void **state)
{
    (void)state;
    group_clock leader, missed, behind;
    group_clock_init(&leader);
    group_clock_init(&missed);
    group_clock_init(&behind);
    assert_int_equal(install(&leader, "a", 0, 1), 0);
    assert_int_equal(install(&missed, "a", 0, 1), 0);
    assert_int_equal(install(&behind, "a", 0, 1), 0);
    group_clock_promote(&leader, 100);
    group_clock_promote(&missed, 100);
    group_clock_promote(&behind, 100);
    install_v2(&leader, &behind, "b", 1000, 2, false);
    group_clock_promote(&leader, 1000);
    assert_int_equal(group_clock_promote(&behind, 900), 0);
    partition_prev p;
    in_force(&leader, &p);
    assert_int_equal(p.epoch, 2);
    size_t len = 0;
    uint8_t *b = table_bytes_prev("c", 2000, 3, &p, false, &len);
    partition_table_free(p.t);
    char err[200];
    assert_int_equal(group_clock_install(&missed, b, len, 3, err, sizeof err), 0);
    assert_int_equal(group_clock_install(&behind, b, len, 3, err, sizeof err), 0);
    free(b);
    expect_owner(&missed, 1500, GROUP_OWNER_MEMBER, "b");
    expect_owner(&missed, 2000, GROUP_OWNER_MEMBER, "c");
    expect_owner(&behind, 950, GROUP_OWNER_MEMBER, "b"); /* the leader's view, not its own */
    expect_owner(&behind, 2000, GROUP_OWNER_MEMBER, "c");
    assert_int_equal(missed.cur.epoch, 2);
    assert_int_equal(behind.cur.epoch, 2);
    group_clock_free(&leader);
    group_clock_free(&missed);
    group_clock_free(&behind);
}

/* The leader planned epoch 3 while epoch 2 was still pending there, and it
 * reached this member after epoch 2's instant: epoch 2 stays in force here
 * (a leaver out of it may have gone already), it does not go back to the
 * epoch 1 named. */
static void test_predecessor_older_than_ours(void **state)
{
    (void)state;
    group_clock leader, member;
    group_clock_init(&leader);
    group_clock_init(&member);
    assert_int_equal(install(&leader, "a", 0, 1), 0);
    assert_int_equal(install(&member, "a", 0, 1), 0);
    group_clock_promote(&leader, 100);
    group_clock_promote(&member, 100);
    install_v2(&leader, &member, "b", 1000, 2, false);
    group_clock_promote(&leader, 990); /* epoch 1 still in force there */
    assert_int_equal(group_clock_promote(&member, 1010), 1);
    install_v2(&leader, &member, "c", 2000, 3, false);
    assert_int_equal(member.cur.epoch, 2);
    expect_owner(&member, 1500, GROUP_OWNER_MEMBER, "b");
    expect_owner(&member, 2000, GROUP_OWNER_MEMBER, "c");
    group_clock_free(&leader);
    group_clock_free(&member);
}

/* A version 1 table (an older leader) names nothing: ours stays. */
static void test_version1_keeps_ours(void **state)
{
    (void)state;
    group_clock member;
    group_clock_init(&member);
    assert_int_equal(install(&member, "a", 0, 1), 0);
    group_clock_promote(&member, 100);
    assert_int_equal(install(&member, "c", 3000, 3), 0);
    expect_owner(&member, 2999, GROUP_OWNER_MEMBER, "a");
    assert_int_equal(member.cur.epoch, 1);
    group_clock_free(&member);
}

/* Same epoch, other bytes (a group's assignment node deleted and written
 * again): not ours. */
static void test_predecessor_digest_differs(void **state)
{
    (void)state;
    group_clock leader, member;
    group_clock_init(&leader);
    group_clock_init(&member);
    assert_int_equal(install(&leader, "b", 0, 1), 0);
    assert_int_equal(install(&member, "a", 0, 1), 0);
    group_clock_promote(&leader, 100);
    group_clock_promote(&member, 100);
    install_v2(&leader, &member, "c", 3000, 2, false);
    expect_owner(&member, 2999, GROUP_OWNER_MEMBER, "b");
    assert_string_equal(member.cur.digest, leader.cur.digest);
    group_clock_free(&leader);
    group_clock_free(&member);
}

static void test_in_force_none(void **state)
{
    (void)state;
    group_clock c;
    group_clock_init(&c);
    partition_prev p;
    assert_int_equal(group_clock_in_force(&c, &p), -1);
    assert_int_equal(install(&c, "a", 1000, 1), 0);
    assert_int_equal(group_clock_in_force(&c, &p), -1); /* only pending */
    assert_null(p.t);
    group_clock_promote(&c, 1000);
    assert_int_equal(group_clock_in_force(&c, &p), 0);
    assert_int_equal(p.epoch, 1);
    assert_int_equal(p.t->epoch, 1); /* the bytes said 0: what is embedded names itself */
    partition_table_free(p.t);
    group_clock_free(&c);
}

static void test_malformed(void **state)
{
    (void)state;
    group_clock c;
    group_clock_init(&c);
    char err[200] = "";
    assert_int_equal(group_clock_install(&c, "junk", 4, 1, err, sizeof err), -1);
    assert_true(err[0]);
    assert_false(group_clock_has_table(&c));
    assert_int_equal(c.epoch, 0);
    group_clock_free(&c);
}

static void test_member_moves(void **state)
{
    (void)state;
    partition_member m[2] = {{"a", 1}, {"b", 1}};
    char err[200];
    partition_table *t1 = partition_table_new(m, 2, err, sizeof err); /* all a */
    partition_table *t2 = partition_table_copy(t1);
    for (uint32_t s = 0; s < 100; s++)
        t2->owner[s] = 1; /* slots 0..99 to b */
    static uint32_t load[PARTITION_SLOTS];
    memset(load, 0, sizeof load);
    load[5] = 3;
    load[500] = 2;
    group_moves mv;
    assert_int_equal(group_member_moves(t1, t2, "a", load, &mv), 0);
    assert_int_equal(mv.slots_lost, 100);
    assert_int_equal(mv.slots_gained, 0);
    assert_int_equal(mv.targets_lost, 3);
    assert_int_equal(group_member_moves(t1, t2, "b", load, &mv), 0);
    assert_int_equal(mv.slots_gained, 100);
    assert_int_equal(mv.targets_gained, 3);
    /* from no table: everyone owned everything; b now keeps 100 slots */
    assert_int_equal(group_member_moves(NULL, t2, "b", load, &mv), 0);
    assert_int_equal(mv.slots_gained, 0);
    assert_int_equal(mv.slots_lost, PARTITION_SLOTS - 100);
    assert_int_equal(mv.targets_lost, 2);
    /* a member in neither table */
    assert_int_equal(group_member_moves(t1, t2, "z", NULL, &mv), 0);
    assert_int_equal(mv.slots_gained + mv.slots_lost, 0);
    assert_int_equal(group_member_moves(NULL, t2, "z", NULL, &mv), 0);
    assert_int_equal(mv.slots_lost, PARTITION_SLOTS);
    assert_int_equal(mv.targets_lost, 0);
    partition_table_free(t1);
    partition_table_free(t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_table),
        cmocka_unit_test(test_pending_only),
        cmocka_unit_test(test_order_and_supersede),
        cmocka_unit_test(test_burst),
        cmocka_unit_test(test_predecessor_replaces_ours),
        cmocka_unit_test(test_predecessor_keeps_ours),
        cmocka_unit_test(test_predecessor_named_only),
        cmocka_unit_test(test_predecessor_after_two_writes),
        cmocka_unit_test(test_predecessor_older_than_ours),
        cmocka_unit_test(test_version1_keeps_ours),
        cmocka_unit_test(test_predecessor_digest_differs),
        cmocka_unit_test(test_in_force_none),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_member_moves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
