/*
 * test_plan.c: the planner's contract, case by case.
 *
 * Determinism (input order, golden bytes), departures (every orphan
 * reassigned, nothing else moved), joins (a fair share, taken only from
 * members above theirs), weights, the edges (empty group, one member, more
 * members than slots, duplicate or bad ids), the fallback and the diff.
 */
#include "partition/partition.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S PARTITION_SLOTS

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* load per slot of n targets "target-<i>" */
static void loads_for(uint32_t *load, int n)
{
    memset(load, 0, S * sizeof *load);
    char id[32];
    for (int i = 0; i < n; i++) {
        int len = snprintf(id, sizeof id, "target-%d", i);
        load[partition_slot_of(id, (size_t)len)]++;
    }
}

typedef struct group {
    size_t n;
    char ids[2048][40];
    partition_member m[2048];
} group;

static group *group_new(size_t n)
{
    group *g = calloc(1, sizeof *g);
    g->n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(g->ids[i], sizeof g->ids[i], "host-%04zu.central", i);
        g->m[i] = (partition_member){.id = g->ids[i], .weight = 1};
    }
    return g;
}

static void group_drop(group *g, size_t i)
{
    g->m[i] = g->m[--g->n];
}

static partition_table *plan_ok(const partition_table *prev, const group *g, const uint32_t *load,
                                partition_plan_stats *st)
{
    partition_table *t = NULL;
    char err[256] = "";
    int rc = partition_plan(prev, g->m, g->n, load, NULL, &t, st, err, sizeof err);
    if (rc != 0) fail_msg("plan failed: %s", err);
    assert_non_null(t);
    return t;
}

static uint64_t load_of(const partition_table *t, const uint32_t *load, const char *id)
{
    int32_t m = partition_member_index(t, id);
    uint64_t sum = 0;
    for (uint32_t s = 0; s < S; s++)
        if ((int32_t)t->owner[s] == m) sum += load ? load[s] : 1;
    return sum;
}

static void assert_same_table(const partition_table *a, const partition_table *b)
{
    assert_int_equal(a->n_members, b->n_members);
    for (uint32_t i = 0; i < a->n_members; i++) {
        assert_string_equal(a->ids[i], b->ids[i]);
        assert_int_equal(a->weights[i], b->weights[i]);
    }
    assert_memory_equal(a->owner, b->owner, sizeof a->owner);
    assert_int_equal(a->epoch, b->epoch);
}

static void test_deterministic_across_member_order(void **state)
{
    (void)state;
    static uint32_t load[S];
    loads_for(load, 50000);
    group *g = group_new(37);
    partition_table *a = plan_ok(NULL, g, load, NULL);
    uint64_t seed = 1;
    for (int round = 0; round < 3; round++) {
        for (size_t i = g->n - 1; i > 0; i--) { /* shuffle */
            size_t j = rng(&seed) % (i + 1);
            partition_member x = g->m[i];
            g->m[i] = g->m[j];
            g->m[j] = x;
        }
        partition_table *b = plan_ok(NULL, g, load, NULL);
        assert_same_table(a, b);
        /* and from a previous table, after a departure */
        group_drop(g, 3);
        partition_table *c = plan_ok(a, g, load, NULL);
        partition_table *d = plan_ok(a, g, load, NULL);
        assert_same_table(c, d);
        partition_table_free(b);
        partition_table_free(c);
        partition_table_free(d);
        partition_table_free(a);
        a = plan_ok(NULL, g, load, NULL);
    }
    partition_table_free(a);
    free(g);
}

/* The planner's output is pinned byte for byte: the same inputs give this
 * table on every machine and build (regenerate only on a deliberate change:
 * METERD_REGEN_GOLDEN=1). */
static void check_golden(const partition_table *t, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/partition/%s", MeterdTestData, name);
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(partition_table_encode(t, &buf, &len, err, sizeof err), 0);
    if (getenv("METERD_REGEN_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, len, f), len);
        fclose(f);
    }
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *want = malloc(len + 1);
    size_t got = fread(want, 1, len + 1, f);
    fclose(f);
    assert_int_equal(got, len);
    assert_memory_equal(want, buf, len);
    free(want);
    free(buf);
}

static void test_golden_plans(void **state)
{
    (void)state;
    static uint32_t load[S];
    loads_for(load, 100000);
    group *g = group_new(100);
    g->m[7].weight = 2;
    partition_table *t0 = plan_ok(NULL, g, load, NULL);
    check_golden(t0, "plan-100x100000.bin");
    group_drop(g, 50);
    partition_table *t1 = plan_ok(t0, g, load, NULL);
    check_golden(t1, "plan-100x100000-leave.bin");
    partition_table_free(t0);
    partition_table_free(t1);
    free(g);
}

static void test_departure_moves_only_orphans(void **state)
{
    (void)state;
    static uint32_t load[S];
    loads_for(load, 100000);
    group *g = group_new(100);
    partition_table *t0 = plan_ok(NULL, g, load, NULL);
    const char *gone = "host-0042.central";
    int32_t gi = partition_member_index(t0, gone);
    uint64_t gone_load = load_of(t0, load, gone);
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->m[i].id, gone) == 0) group_drop(g, i);
    partition_plan_stats st;
    partition_table *t1 = plan_ok(t0, g, load, &st);
    assert_int_equal(partition_member_index(t1, gone), -1);
    assert_true(st.bound_met);
    for (uint32_t s = 0; s < S; s++) {
        const char *before = t0->ids[t0->owner[s]], *after = t1->ids[t1->owner[s]];
        if ((int32_t)t0->owner[s] == gi)
            assert_string_not_equal(after, gone);
        else
            assert_string_equal(before, after); /* balance allowed: nothing else moved */
    }
    assert_int_equal(st.load_moved, gone_load);
    assert_int_equal(st.load_orphan, gone_load);
    assert_int_equal(st.rebalance_moves, 0);
    assert_int_equal(t1->epoch, t0->epoch + 1);
    partition_table_free(t0);
    partition_table_free(t1);
    free(g);
}

static void test_join_takes_fair_share_from_those_above(void **state)
{
    (void)state;
    static uint32_t load[S];
    loads_for(load, 100000);
    group *g = group_new(100);
    partition_table *t0 = plan_ok(NULL, g, load, NULL);
    g->m[g->n++] = (partition_member){.id = "newcomer.central", .weight = 1};
    partition_plan_stats st;
    partition_table *t1 = plan_ok(t0, g, load, &st);
    assert_true(st.bound_met);
    double share = 100000.0 / 101.0;
    uint64_t got = load_of(t1, load, "newcomer.central");
    assert_true(got >= (uint64_t)(share * 0.99) && got <= (uint64_t)(share * 1.01) + 1);
    assert_true((double)st.load_moved <= share * 1.05);
    /* every donor was above the new ideal before giving */
    partition_diff *d = NULL;
    assert_int_equal(partition_diff_tables(t0, t1, load, &d), 0);
    for (size_t i = 0; i < d->n_members; i++) {
        if (!d->members[i].slots_lost) continue;
        assert_int_equal(d->members[i].slots_gained, 0);
        assert_true((double)load_of(t0, load, d->members[i].id) > share);
    }
    assert_int_equal(d->load_moved, st.load_moved);
    partition_diff_free(d);
    partition_table_free(t0);
    partition_table_free(t1);
    free(g);
}

static void test_weights(void **state)
{
    (void)state;
    static uint32_t load[S];
    loads_for(load, 100000);
    group *g = group_new(100);
    g->m[0].weight = 2;
    g->m[1].weight = 3;
    partition_table *t = plan_ok(NULL, g, load, NULL);
    double w1 = 0;
    for (size_t i = 2; i < g->n; i++)
        w1 += (double)load_of(t, load, g->m[i].id);
    w1 /= (double)(g->n - 2);
    double r2 = (double)load_of(t, load, g->m[0].id) / w1;
    double r3 = (double)load_of(t, load, g->m[1].id) / w1;
    assert_true(r2 > 2 * 0.98 && r2 < 2 * 1.02);
    assert_true(r3 > 3 * 0.98 && r3 < 3 * 1.02);
    partition_table_free(t);
    free(g);
}

static void test_edges(void **state)
{
    (void)state;
    partition_table *t = NULL;
    char err[256];
    /* empty group */
    assert_int_equal(partition_plan(NULL, NULL, 0, NULL, NULL, &t, NULL, err, sizeof err), -1);
    assert_null(t);
    assert_non_null(strstr(err, "at least one member"));
    /* duplicate ids */
    partition_member dup[] = {{"a", 1}, {"b", 1}, {"a", 2}};
    assert_int_equal(partition_plan(NULL, dup, 3, NULL, NULL, &t, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "\"a\" appears more than once"));
    /* bad weight, empty id, NULL id, over-long id */
    partition_member w0[] = {{"a", 0}};
    assert_int_equal(partition_plan(NULL, w0, 1, NULL, NULL, &t, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "weight 0"));
    partition_member e[] = {{"", 1}};
    assert_int_equal(partition_plan(NULL, e, 1, NULL, NULL, &t, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    partition_member nul[] = {{NULL, 1}};
    assert_int_equal(partition_plan(NULL, nul, 1, NULL, NULL, &t, NULL, err, sizeof err), -1);
    char longid[300];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    partition_member lg[] = {{longid, 1}};
    assert_int_equal(partition_plan(NULL, lg, 1, NULL, NULL, &t, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 255"));
    /* total load beyond the exact-arithmetic range */
    static uint32_t huge[S];
    for (uint32_t s = 0; s < S; s++)
        huge[s] = UINT32_MAX;
    partition_member one[] = {{"a", 1}};
    assert_int_equal(partition_plan(NULL, one, 1, huge, NULL, &t, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "total load"));
    /* bad tolerance */
    partition_options o;
    partition_options_init(&o);
    o.tolerance_ppm = 2000000;
    assert_int_equal(partition_plan(NULL, one, 1, NULL, &o, &t, NULL, err, sizeof err), -1);
    assert_null(t);
}

static void test_one_member_and_fallback(void **state)
{
    (void)state;
    char err[256];
    partition_table *f = partition_table_single("solo.central", err, sizeof err);
    assert_non_null(f);
    assert_int_equal(f->n_members, 1);
    assert_int_equal(f->epoch, 0);
    for (uint32_t s = 0; s < S; s++)
        assert_int_equal(partition_owner(f, s), 0);
    assert_string_equal(partition_owner_id(f, "anything", 8), "solo.central");
    assert_null(partition_table_single("", err, sizeof err));
    /* planning one member from the fallback moves nothing and keeps it all */
    partition_member one[] = {{"solo.central", 1}};
    partition_table *t = NULL;
    partition_plan_stats st;
    assert_int_equal(partition_plan(f, one, 1, NULL, NULL, &t, &st, err, sizeof err), 0);
    assert_int_equal(st.slots_moved, 0);
    assert_int_equal(t->epoch, 1);
    assert_memory_equal(t->owner, f->owner, sizeof t->owner);
    /* a second member from the fallback takes half */
    partition_member two[] = {{"solo.central", 1}, {"second.central", 1}};
    partition_table *t2 = NULL;
    assert_int_equal(partition_plan(t, two, 2, NULL, NULL, &t2, &st, err, sizeof err), 0);
    assert_int_equal(st.slots_moved, S / 2);
    assert_int_equal(load_of(t2, NULL, "second.central"), S / 2);
    partition_table *c = partition_table_copy(t2);
    assert_same_table(c, t2);
    partition_table_free(c);
    partition_table_free(t2);
    partition_table_free(t);
    partition_table_free(f);
}

static void test_more_members_than_slots(void **state)
{
    (void)state;
    size_t n = S + 500;
    char(*ids)[16] = malloc(n * sizeof *ids);
    partition_member *m = malloc(n * sizeof *m);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "m%06zu", i);
        m[i] = (partition_member){ids[i], 1};
    }
    partition_table *t = NULL;
    char err[256];
    assert_int_equal(partition_plan(NULL, m, n, NULL, NULL, &t, NULL, err, sizeof err), 0);
    assert_int_equal(t->n_members, n);
    uint32_t *count = calloc(n, sizeof *count);
    for (uint32_t s = 0; s < S; s++)
        count[t->owner[s]]++;
    size_t owners = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(count[i] <= 1);
        owners += count[i];
    }
    assert_int_equal(owners, S);
    /* one leaves: its slot goes to someone who had none */
    partition_table *t1 = NULL;
    assert_int_equal(partition_plan(t, m + 1, n - 1, NULL, NULL, &t1, NULL, err, sizeof err), 0);
    memset(count, 0, n * sizeof *count);
    for (uint32_t s = 0; s < S; s++)
        count[t1->owner[s]]++;
    for (size_t i = 0; i < n - 1; i++)
        assert_true(count[i] <= 1);
    free(count);
    free(ids);
    free(m);
    partition_table_free(t);
    partition_table_free(t1);
}

/* No targets yet: slot counts are balanced instead, and empty orphan slots
 * go to the members with the fewest slots. */
static void test_zero_load(void **state)
{
    (void)state;
    static uint32_t zero[S];
    memset(zero, 0, sizeof zero);
    group *g = group_new(8);
    partition_table *t = plan_ok(NULL, g, zero, NULL);
    for (size_t i = 0; i < g->n; i++)
        assert_int_equal(load_of(t, NULL, g->m[i].id), S / 8);
    static uint32_t sparse[S];
    loads_for(sparse, 1000); /* most slots empty */
    group_drop(g, 0);
    partition_plan_stats st;
    partition_table *t1 = plan_ok(t, g, sparse, &st);
    for (size_t i = 0; i < g->n; i++) {
        uint64_t slots = load_of(t1, NULL, g->m[i].id);
        assert_true(slots >= S / 7 - 64 && slots <= S / 7 + 64);
    }
    assert_true(st.bound_met);
    partition_table_free(t);
    partition_table_free(t1);
    free(g);
}

/* All members replaced at once: a fresh range plan. */
static void test_everyone_replaced(void **state)
{
    (void)state;
    static uint32_t load[S];
    loads_for(load, 20000);
    group *a = group_new(5);
    partition_table *t0 = plan_ok(NULL, a, load, NULL);
    partition_member fresh[] = {{"x.central", 1}, {"y.central", 1}};
    partition_table *t1 = NULL;
    partition_plan_stats st;
    char err[256];
    assert_int_equal(partition_plan(t0, fresh, 2, load, NULL, &t1, &st, err, sizeof err), 0);
    assert_int_equal(st.slots_moved, S);
    assert_true(st.bound_met);
    assert_true(load_of(t1, load, "x.central") > 9900 && load_of(t1, load, "x.central") < 10100);
    partition_table_free(t0);
    partition_table_free(t1);
    free(a);
}

static void test_diff(void **state)
{
    (void)state;
    static uint32_t load[S];
    loads_for(load, 30000);
    group *g = group_new(6);
    partition_table *t0 = plan_ok(NULL, g, load, NULL);
    group_drop(g, 2);
    g->m[g->n++] = (partition_member){.id = "zz-new", .weight = 1};
    partition_table *t1 = plan_ok(t0, g, load, NULL);
    partition_diff *d = NULL;
    assert_int_equal(partition_diff_tables(t0, t1, load, &d), 0);
    assert_int_equal(d->n_members, 7); /* 6 old + 1 new */
    uint64_t gained = 0, lost = 0, moved = 0;
    uint32_t sg = 0, sl = 0;
    for (size_t i = 0; i < d->n_members; i++) {
        gained += d->members[i].load_gained;
        lost += d->members[i].load_lost;
        sg += d->members[i].slots_gained;
        sl += d->members[i].slots_lost;
        if (i) assert_true(strcmp(d->members[i - 1].id, d->members[i].id) < 0);
    }
    for (size_t k = 0; k < d->n_moves; k++) {
        const partition_move *mv = &d->moves[k];
        assert_string_equal(d->members[mv->from].id, t0->ids[t0->owner[mv->slot]]);
        assert_string_equal(d->members[mv->to].id, t1->ids[t1->owner[mv->slot]]);
        moved += load[mv->slot];
        if (k) assert_true(d->moves[k - 1].slot < mv->slot);
    }
    assert_int_equal(gained, lost);
    assert_int_equal(gained, d->load_moved);
    assert_int_equal(moved, d->load_moved);
    assert_int_equal(sg, d->n_moves);
    assert_int_equal(sl, d->n_moves);
    /* the departed member lost everything it had */
    for (size_t i = 0; i < d->n_members; i++)
        if (strcmp(d->members[i].id, "host-0002.central") == 0)
            assert_int_equal(d->members[i].load_lost, load_of(t0, load, "host-0002.central"));
    partition_diff_free(d);
    /* from no table: everything is gained */
    assert_int_equal(partition_diff_tables(NULL, t1, NULL, &d), 0);
    assert_int_equal(d->n_moves, S);
    assert_int_equal(d->moves[0].from, -1);
    partition_diff_free(d);
    /* identical tables: nothing moves */
    assert_int_equal(partition_diff_tables(t1, t1, load, &d), 0);
    assert_int_equal(d->n_moves, 0);
    assert_int_equal(d->load_moved, 0);
    partition_diff_free(d);
    partition_table_free(t0);
    partition_table_free(t1);
    free(g);
}

/* A member made only of slots heavier than its excess cannot shed one: it
 * swaps one for a lighter slot of a member below its ideal. 300 members own
 * slots round-robin; each should hold 5; m000 holds 3+3, m001 holds 2+2. */
static void test_swap_when_slots_too_heavy(void **state)
{
    (void)state;
    static char ids[300][8];
    static partition_member m[300];
    static uint32_t load[S];
    memset(load, 0, sizeof load);
    for (int i = 0; i < 300; i++) {
        snprintf(ids[i], sizeof ids[i], "m%03d", i);
        m[i] = (partition_member){ids[i], 1};
        load[i] = 5;
    }
    load[0] = load[300] = 3;
    load[1] = load[301] = 2;
    partition_table *prev = partition_table_new(m, 300, NULL, 0);
    for (uint32_t s = 0; s < S; s++)
        prev->owner[s] = (uint16_t)(s % 300);
    prev->epoch = 41;
    partition_options o;
    partition_options_init(&o);
    o.tolerance_ppm = 0;
    o.slack = 0;
    o.effective_ms = 1700000000123;
    partition_table *t = NULL;
    partition_plan_stats st;
    char err[256];
    assert_int_equal(partition_plan(prev, m, 300, load, &o, &t, &st, err, sizeof err), 0);
    assert_true(st.bound_met);
    assert_int_equal(load_of(t, load, "m000"), 5);
    assert_int_equal(load_of(t, load, "m001"), 5);
    assert_int_equal(st.slots_moved, 2);
    assert_int_equal(st.load_moved, 5);
    assert_int_equal(t->epoch, 42);
    assert_int_equal(t->effective_ms, 1700000000123);
    partition_table_free(prev);
    partition_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_across_member_order),
        cmocka_unit_test(test_golden_plans),
        cmocka_unit_test(test_departure_moves_only_orphans),
        cmocka_unit_test(test_join_takes_fair_share_from_those_above),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_one_member_and_fallback),
        cmocka_unit_test(test_more_members_than_slots),
        cmocka_unit_test(test_zero_load),
        cmocka_unit_test(test_everyone_replaced),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_swap_when_slots_too_heavy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
