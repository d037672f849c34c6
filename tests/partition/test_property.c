/*
 * test_property.c: random join/leave/load sequences against the planner's
 * invariants, checked independently of its internals after every step:
 *
 *  - the table names exactly the current members; departed members own
 *    nothing (their slots all went to survivors);
 *  - every member is within the documented bound of its ideal
 *    L * w / W: max(1 % of ideal, ceil(L / slots) + 0.5 for integer rounding);
 *  - a member that stays and loses slots was above its ideal share (with
 *    what it gained in the same step), so nobody at or under its share is
 *    robbed;
 *  - the same inputs in another order give the same table;
 *  - over a sequence, the targets moved stay within 5 % (plus two slots'
 *    load per step) of the sum of the ideal movements (departed members'
 *    load + newcomers' fair shares).
 */
#include "partition/partition.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S         PARTITION_SLOTS
#define MAX_GROUP 512

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

typedef struct world {
    uint64_t seed;
    size_t n;
    uint32_t next_id;
    char ids[MAX_GROUP][24];
    partition_member m[MAX_GROUP];
    uint32_t load[S];
    uint64_t total;
} world;

static void add_member(world *w)
{
    snprintf(w->ids[w->n], sizeof w->ids[w->n], "m-%05u", w->next_id++);
    uint32_t weight = rng(&w->seed) % 4 == 0 ? 1 + (uint32_t)(rng(&w->seed) % 3) : 1;
    w->m[w->n] = (partition_member){w->ids[w->n], weight};
    w->n++;
}

static void remove_member(world *w, size_t i)
{
    w->n--;
    if (i != w->n) {
        memcpy(w->ids[i], w->ids[w->n], sizeof w->ids[i]);
        w->m[i] = (partition_member){w->ids[i], w->m[w->n].weight};
    }
}

static void add_targets(world *w, uint64_t k)
{
    for (uint64_t i = 0; i < k; i++)
        w->load[rng(&w->seed) % S]++;
    w->total += k;
}

static uint64_t weight_sum(const world *w)
{
    uint64_t s = 0;
    for (size_t i = 0; i < w->n; i++)
        s += w->m[i].weight;
    return s;
}

static partition_table *plan(const partition_table *prev, const world *w, partition_plan_stats *st)
{
    partition_table *t = NULL;
    char err[256] = "";
    if (partition_plan(prev, w->m, w->n, w->load, NULL, &t, st, err, sizeof err) != 0)
        fail_msg("plan: %s", err);
    return t;
}

static void check_step(const world *w, const partition_table *prev, const partition_table *t,
                       const partition_plan_stats *st)
{
    assert_int_equal(t->n_members, w->n);
    for (size_t i = 0; i < w->n; i++)
        assert_true(partition_member_index(t, w->m[i].id) >= 0);
    uint64_t *load = calloc(t->n_members, sizeof *load);
    partition_member_loads(t, w->load, load);
    double W = (double)weight_sum(w), L = (double)w->total;
    double slack = ceil(L / S) + 0.5;
    for (uint32_t i = 0; i < t->n_members; i++) {
        double ideal = L * t->weights[i] / W;
        double tol = fmax(ideal * 0.01, slack);
        if (fabs((double)load[i] - ideal) > tol + 1e-9)
            fail_msg("member %s load %llu, ideal %.2f, tolerance %.2f", t->ids[i],
                     (unsigned long long)load[i], ideal, tol);
    }
    assert_true(st->bound_met);
    if (prev) {
        partition_diff *d = NULL;
        assert_int_equal(partition_diff_tables(prev, t, w->load, &d), 0);
        uint64_t *before = calloc(prev->n_members, sizeof *before);
        partition_member_loads(prev, w->load, before);
        for (size_t k = 0; k < d->n_members; k++) {
            const partition_diff_member *dm = &d->members[k];
            int32_t now = partition_member_index(t, dm->id);
            int32_t was = partition_member_index(prev, dm->id);
            if (now < 0) continue; /* departed */
            if (!dm->slots_lost) continue;
            assert_true(was >= 0);
            /* stayed and lost: was above its ideal share (floor of it) */
            uint64_t share = (uint64_t)(L * t->weights[now] / W);
            assert_true(before[was] + dm->load_gained > share);
        }
        assert_int_equal(d->load_moved, st->load_moved);
        free(before);
        partition_diff_free(d);
    }
    free(load);
}

static void check_order_independent(world *w, const partition_table *prev, const partition_table *t)
{
    world *c = malloc(sizeof *c);
    memcpy(c, w, sizeof *c);
    for (size_t i = 0; i < c->n; i++) /* reverse, then fix pointers */
        c->m[i] = (partition_member){w->ids[c->n - 1 - i], w->m[c->n - 1 - i].weight};
    partition_plan_stats st;
    partition_table *u = plan(prev, c, &st);
    assert_memory_equal(u->owner, t->owner, sizeof t->owner);
    partition_table_free(u);
    free(c);
}

static void run_sequence(uint64_t seed, int steps)
{
    world *w = calloc(1, sizeof *w);
    w->seed = seed;
    size_t n0 = 2 + rng(&w->seed) % (seed % 3 == 0 ? 400 : 60);
    for (size_t i = 0; i < n0; i++)
        add_member(w);
    add_targets(w, 5000 + rng(&w->seed) % 150000);
    partition_plan_stats st;
    partition_table *t = plan(NULL, w, &st);
    check_step(w, NULL, t, &st);
    double moved = 0, ideal = 0;
    for (int step = 0; step < steps; step++) {
        uint64_t r = rng(&w->seed) % 10;
        uint64_t *before = calloc(t->n_members, sizeof *before);
        partition_member_loads(t, w->load, before);
        double want = 0;
        if (r < 4 && w->n > 1) { /* leave, sometimes two at once */
            int k = r == 0 && w->n > 2 ? 2 : 1;
            for (int j = 0; j < k; j++) {
                size_t i = rng(&w->seed) % w->n;
                want += (double)before[partition_member_index(t, w->m[i].id)];
                remove_member(w, i);
            }
        } else if (r < 8 && w->n < MAX_GROUP) { /* join */
            add_member(w);
            want += (double)w->total * w->m[w->n - 1].weight / (double)weight_sum(w);
        } else { /* targets arrive: up to 3 % more */
            add_targets(w, 1 + rng(&w->seed) % (w->total / 33 + 1));
        }
        free(before);
        partition_table *nx = plan(t, w, &st);
        check_step(w, t, nx, &st);
        if (step % 8 == 0) check_order_independent(w, t, nx);
        moved += (double)st.load_moved;
        ideal += want;
        partition_table_free(t);
        t = nx;
    }
    /* movement: the sum of ideals (departed members' load, newcomers' fair
     * shares) + 5 %, plus at most two slots' load per step for granularity
     * (measured: 1.000-1.002 with many slots per member, up to 1.18 with a
     * few targets per member) */
    uint32_t max_slot = 0;
    for (uint32_t s = 0; s < S; s++)
        if (w->load[s] > max_slot) max_slot = w->load[s];
    double allowance = 1.05 * ideal + 2.0 * max_slot * steps;
    if (moved > allowance)
        fail_msg("seed %llu: moved %.0f targets, ideal %.0f", (unsigned long long)seed, moved,
                 ideal);
    partition_table_free(t);
    free(w);
}

static void test_random_sequences(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 12; seed++)
        run_sequence(seed, 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
