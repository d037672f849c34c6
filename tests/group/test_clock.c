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
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_member_moves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
