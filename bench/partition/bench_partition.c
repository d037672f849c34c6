/*
 * bench_partition.c: our slot planner against a Tooz-style ring, measured in
 * the same run, printed as one JSON object:
 *
 *   {"ours": {"100x100000": {...}, ...}, "tooz_ring": {...}, ...}
 *
 * For each case (members x targets): balance after the first plan (max/mean,
 * min/mean of targets per member), movement when one member leaves and when
 * one joins (targets that change owner over the ideal: the leaver's targets,
 * the newcomer's fair share), a weight-2 member against the weight-1 mean,
 * a drift run of 50 random joins and leaves, planning (ring build) time, the
 * cost of finding the owner of a million targets (hash + lookup), the lookup
 * alone, and the size of the table. Target ids are UUID-shaped strings from
 * a fixed seed, members "host-NNNN.central", so every run sees the same data.
 *
 * Usage: bench_partition [--quick]   (--quick: 100 members x 100k only)
 *        bench_partition --tooz-owners (owners of "target-0".."target-1999"
 *        on a 10-member ring, member 0 of weight 2, for check_tooz_ring.py)
 */
#include "partition/partition.h"
#include "tooz_ring.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DRIFT_STEPS 50
#define VNODES      32

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* ---- fixtures --------------------------------------------------------------- */

typedef struct targets {
    size_t n;
    char (*id)[40];
    uint32_t *slot;
    tooz_pos *pos;
    uint32_t load[PARTITION_SLOTS];
} targets;

static targets *targets_make(size_t n)
{
    targets *t = calloc(1, sizeof *t);
    t->n = n;
    t->id = malloc(n * sizeof *t->id);
    t->slot = malloc(n * sizeof *t->slot);
    t->pos = malloc(n * sizeof *t->pos);
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = rng_next(&seed), b = rng_next(&seed);
        snprintf(t->id[i], sizeof t->id[i], "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
                 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
                 0x8000 | ((unsigned)(b >> 48) & 0x3fff),
                 (unsigned long long)(b & UINT64_C(0xffffffffffff)));
        size_t len = strlen(t->id[i]);
        t->slot[i] = partition_slot_of(t->id[i], len);
        t->pos[i] = tooz_hash(t->id[i], len);
        t->load[t->slot[i]]++;
    }
    return t;
}

static void targets_free(targets *t)
{
    free(t->id);
    free(t->slot);
    free(t->pos);
    free(t);
}

/* A group: member numbers (stable, never reused) with ids and weights. */
typedef struct group {
    size_t n, cap;
    uint32_t next_num;
    uint32_t *num, *weight;
    char (*id)[32];
} group;

static void group_add(group *g, uint32_t weight)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->num = realloc(g->num, g->cap * sizeof *g->num);
        g->weight = realloc(g->weight, g->cap * sizeof *g->weight);
        g->id = realloc(g->id, g->cap * sizeof *g->id);
    }
    g->num[g->n] = g->next_num;
    g->weight[g->n] = weight;
    snprintf(g->id[g->n], sizeof g->id[g->n], "host-%04u.central", g->next_num);
    g->n++;
    g->next_num++;
}

static void group_remove(group *g, size_t i)
{
    memmove(&g->num[i], &g->num[i + 1], (g->n - i - 1) * sizeof *g->num);
    memmove(&g->weight[i], &g->weight[i + 1], (g->n - i - 1) * sizeof *g->weight);
    memmove(&g->id[i], &g->id[i + 1], (g->n - i - 1) * sizeof *g->id);
    g->n--;
}

static group group_make(size_t n)
{
    group g = {0};
    for (size_t i = 0; i < n; i++)
        group_add(&g, 1);
    return g;
}

static group group_copy(const group *s)
{
    group g = *s;
    g.num = malloc(g.cap * sizeof *g.num);
    g.weight = malloc(g.cap * sizeof *g.weight);
    g.id = malloc(g.cap * sizeof *g.id);
    memcpy(g.num, s->num, g.n * sizeof *g.num);
    memcpy(g.weight, s->weight, g.n * sizeof *g.weight);
    memcpy(g.id, s->id, g.n * sizeof *g.id);
    return g;
}

static void group_free(group *g)
{
    free(g->num);
    free(g->weight);
    free(g->id);
}

static uint64_t total_weight(const group *g)
{
    uint64_t w = 0;
    for (size_t i = 0; i < g->n; i++)
        w += g->weight[i];
    return w;
}

/* max/mean and min/mean of load per unit of weight. */
static void balance(const uint64_t *load, const uint32_t *weight, size_t n, uint64_t total,
                    uint64_t W, double *maxr, double *minr)
{
    double mean = (double)total / (double)W;
    *maxr = 0;
    *minr = 1e300;
    for (size_t i = 0; i < n; i++) {
        double r = (double)load[i] / (double)weight[i] / mean;
        if (r > *maxr) *maxr = r;
        if (r < *minr) *minr = r;
    }
}

static double round4(double v)
{
    return (double)(long long)(v * 10000.0 + (v >= 0 ? 0.5 : -0.5)) / 10000.0;
}

/* ---- ours ---------------------------------------------------------------------- */

static partition_table *plan(const partition_table *prev, const group *g, const targets *t,
                             partition_plan_stats *st)
{
    partition_member *m = malloc(g->n * sizeof *m);
    for (size_t i = 0; i < g->n; i++)
        m[i] = (partition_member){.id = g->id[i], .weight = g->weight[i]};
    partition_table *next = NULL;
    char err[256];
    if (partition_plan(prev, m, g->n, t->load, NULL, &next, st, err, sizeof err) != 0) {
        fprintf(stderr, "plan: %s\n", err);
        exit(1);
    }
    free(m);
    return next;
}

static void table_balance(const partition_table *tb, const targets *t, double *maxr, double *minr)
{
    uint64_t *load = malloc(tb->n_members * sizeof *load);
    partition_member_loads(tb, t->load, load);
    uint64_t W = 0;
    for (uint32_t i = 0; i < tb->n_members; i++)
        W += tb->weights[i];
    balance(load, tb->weights, tb->n_members, t->n, W, maxr, minr);
    free(load);
}

static uint64_t moved(const partition_table *a, const partition_table *b, const targets *t)
{
    partition_diff *d = NULL;
    if (partition_diff_tables(a, b, t->load, &d) != 0) exit(1);
    uint64_t m = d->load_moved;
    partition_diff_free(d);
    return m;
}

static size_t table_bytes(const partition_table *tb)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    if (partition_table_encode(tb, &buf, &len, err, sizeof err) != 0) {
        fprintf(stderr, "encode: %s\n", err);
        exit(1);
    }
    free(buf);
    return len;
}

static double median5(double *v)
{
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (v[j] < v[i]) {
                double x = v[i];
                v[i] = v[j];
                v[j] = x;
            }
    return v[2];
}

static json_t *ours_case(size_t nm, const targets *t)
{
    json_t *o = json_object();
    group g = group_make(nm);
    double times[5];
    partition_table *t0 = NULL;
    partition_plan_stats st;
    for (int r = 0; r < 5; r++) {
        partition_table_free(t0);
        double a = now_ms();
        t0 = plan(NULL, &g, t, &st);
        times[r] = now_ms() - a;
    }
    double mx, mn;
    table_balance(t0, t, &mx, &mn);
    json_object_set_new(o, "max_mean", json_real(round4(mx)));
    json_object_set_new(o, "min_mean", json_real(round4(mn)));
    json_object_set_new(o, "bound_met", json_boolean(st.bound_met));
    json_object_set_new(o, "plan_ms", json_real(round4(median5(times))));

    /* leave: the member in the middle of the id order */
    uint64_t *load = malloc(t0->n_members * sizeof *load);
    partition_member_loads(t0, t->load, load);
    group gl = group_copy(&g);
    size_t k = nm / 2;
    uint64_t ideal = load[partition_member_index(t0, g.id[k])];
    group_remove(&gl, k);
    double a = now_ms();
    partition_table *t1 = plan(t0, &gl, t, &st);
    json_object_set_new(o, "plan_leave_ms", json_real(round4(now_ms() - a)));
    json_object_set_new(o, "leave_moved_ratio",
                        json_real(round4((double)moved(t0, t1, t) / (double)ideal)));
    table_balance(t1, t, &mx, &mn);
    json_object_set_new(o, "leave_max_mean", json_real(round4(mx)));
    json_object_set_new(o, "leave_min_mean", json_real(round4(mn)));
    json_object_set_new(o, "leave_bound_met", json_boolean(st.bound_met));

    /* join */
    group gj = group_copy(&g);
    group_add(&gj, 1);
    partition_table *t2 = plan(t0, &gj, t, &st);
    double share = (double)t->n / (double)(nm + 1);
    json_object_set_new(o, "join_moved_ratio", json_real(round4((double)moved(t0, t2, t) / share)));
    table_balance(t2, t, &mx, &mn);
    json_object_set_new(o, "join_max_mean", json_real(round4(mx)));
    json_object_set_new(o, "join_min_mean", json_real(round4(mn)));
    json_object_set_new(o, "join_bound_met", json_boolean(st.bound_met));

    /* weight 2 for the first member, from scratch */
    group gw = group_copy(&g);
    gw.weight[0] = 2;
    partition_table *tw = plan(NULL, &gw, t, &st);
    uint64_t *lw = malloc(tw->n_members * sizeof *lw);
    partition_member_loads(tw, t->load, lw);
    double rest = 0;
    for (uint32_t i = 0; i < tw->n_members; i++)
        if (i != (uint32_t)partition_member_index(tw, gw.id[0])) rest += (double)lw[i];
    rest /= (double)(tw->n_members - 1);
    json_object_set_new(o, "weight2_ratio",
                        json_real(round4((double)lw[partition_member_index(tw, gw.id[0])] / rest)));

    /* owner of every target: hash + lookup, then lookup alone */
    unsigned long long sink = 0;
    a = now_ms();
    for (size_t i = 0; i < t->n; i++)
        sink += (uintptr_t)partition_owner_id(t0, t->id[i], strlen(t->id[i]));
    double owner_ms = now_ms() - a;
    a = now_ms();
    for (size_t i = 0; i < t->n; i++)
        sink += partition_owner(t0, t->slot[i]);
    double lookup_ms = now_ms() - a;
    json_object_set_new(o, "owner_ms_per_million",
                        json_real(round4(owner_ms * 1e6 / (double)t->n)));
    json_object_set_new(o, "lookup_ns", json_real(round4(lookup_ms * 1e6 / (double)t->n)));
    json_object_set_new(o, "table_bytes", json_integer((json_int_t)table_bytes(t0)));
    json_object_set_new(o, "leave_table_bytes", json_integer((json_int_t)table_bytes(t1)));
    if (sink == 42) fprintf(stderr, " ");

    /* drift: 50 random joins and leaves from t0 */
    uint64_t seed = 7 + nm;
    group gd = group_copy(&g);
    partition_table *cur = partition_table_copy(t0);
    double dmax = 0, dmin = 1e300, sum_moved = 0, sum_ideal = 0;
    bool all_met = true;
    for (int step = 0; step < DRIFT_STEPS; step++) {
        bool leave = gd.n > 1 && (rng_next(&seed) & 1);
        double want;
        if (leave) {
            size_t i = rng_next(&seed) % gd.n;
            uint64_t *l = malloc(cur->n_members * sizeof *l);
            partition_member_loads(cur, t->load, l);
            want = (double)l[partition_member_index(cur, gd.id[i])];
            free(l);
            group_remove(&gd, i);
        } else {
            group_add(&gd, 1);
            want = (double)t->n / (double)total_weight(&gd);
        }
        partition_table *nx = plan(cur, &gd, t, &st);
        sum_moved += (double)moved(cur, nx, t);
        sum_ideal += want;
        all_met = all_met && st.bound_met;
        table_balance(nx, t, &mx, &mn);
        if (mx > dmax) dmax = mx;
        if (mn < dmin) dmin = mn;
        partition_table_free(cur);
        cur = nx;
    }
    json_object_set_new(o, "drift_max_mean", json_real(round4(dmax)));
    json_object_set_new(o, "drift_min_mean", json_real(round4(dmin)));
    json_object_set_new(o, "drift_moved_ratio", json_real(round4(sum_moved / sum_ideal)));
    json_object_set_new(o, "drift_bound_met", json_boolean(all_met));
    json_object_set_new(o, "drift_table_bytes", json_integer((json_int_t)table_bytes(cur)));

    partition_table_free(cur);
    partition_table_free(t0);
    partition_table_free(t1);
    partition_table_free(t2);
    partition_table_free(tw);
    free(load);
    free(lw);
    group_free(&g);
    group_free(&gl);
    group_free(&gj);
    group_free(&gw);
    group_free(&gd);
    return o;
}

/* ---- the Tooz-style ring -------------------------------------------------------- */

static void ring_make(tooz_ring *r, const group *g)
{
    const char **ids = malloc(g->n * sizeof *ids);
    for (size_t i = 0; i < g->n; i++)
        ids[i] = g->id[i];
    if (tooz_ring_build(r, ids, g->weight, g->num, g->n, VNODES) != 0) exit(1);
    free(ids);
}

/* owners per target and load per member number */
static void ring_owners(const tooz_ring *r, const targets *t, uint32_t *owner)
{
    for (size_t i = 0; i < t->n; i++)
        owner[i] = tooz_ring_lookup(r, t->pos[i]);
}

static void ring_balance(const uint32_t *owner, const group *g, const targets *t, double *maxr,
                         double *minr)
{
    uint64_t *by_num = calloc(g->next_num, sizeof *by_num);
    for (size_t i = 0; i < t->n; i++)
        by_num[owner[i]]++;
    uint64_t *load = malloc(g->n * sizeof *load);
    for (size_t i = 0; i < g->n; i++)
        load[i] = by_num[g->num[i]];
    balance(load, g->weight, g->n, t->n, total_weight(g), maxr, minr);
    free(by_num);
    free(load);
}

static uint64_t ring_moved(const uint32_t *a, const uint32_t *b, size_t n)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += a[i] != b[i];
    return m;
}

static uint64_t count_owned(const uint32_t *owner, size_t n, uint32_t num)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += owner[i] == num;
    return c;
}

static json_t *tooz_case(size_t nm, const targets *t)
{
    json_t *o = json_object();
    group g = group_make(nm);
    tooz_ring r0 = {0};
    double times[5];
    for (int k = 0; k < 5; k++) {
        tooz_ring_free(&r0);
        double a = now_ms();
        ring_make(&r0, &g);
        times[k] = now_ms() - a;
    }
    uint32_t *o0 = malloc(t->n * sizeof *o0), *o1 = malloc(t->n * sizeof *o1);
    ring_owners(&r0, t, o0);
    double mx, mn;
    ring_balance(o0, &g, t, &mx, &mn);
    json_object_set_new(o, "max_mean", json_real(round4(mx)));
    json_object_set_new(o, "min_mean", json_real(round4(mn)));
    json_object_set_new(o, "plan_ms", json_real(round4(median5(times))));

    group gl = group_copy(&g);
    size_t k = nm / 2;
    uint64_t ideal = count_owned(o0, t->n, g.num[k]);
    group_remove(&gl, k);
    tooz_ring r1 = {0};
    ring_make(&r1, &gl);
    ring_owners(&r1, t, o1);
    json_object_set_new(o, "leave_moved_ratio",
                        json_real(round4((double)ring_moved(o0, o1, t->n) / (double)ideal)));
    ring_balance(o1, &gl, t, &mx, &mn);
    json_object_set_new(o, "leave_max_mean", json_real(round4(mx)));
    json_object_set_new(o, "leave_min_mean", json_real(round4(mn)));
    tooz_ring_free(&r1);

    group gj = group_copy(&g);
    group_add(&gj, 1);
    ring_make(&r1, &gj);
    ring_owners(&r1, t, o1);
    json_object_set_new(
        o, "join_moved_ratio",
        json_real(round4((double)ring_moved(o0, o1, t->n) / ((double)t->n / (double)(nm + 1)))));
    ring_balance(o1, &gj, t, &mx, &mn);
    json_object_set_new(o, "join_max_mean", json_real(round4(mx)));
    json_object_set_new(o, "join_min_mean", json_real(round4(mn)));
    tooz_ring_free(&r1);

    group gw = group_copy(&g);
    gw.weight[0] = 2;
    ring_make(&r1, &gw);
    ring_owners(&r1, t, o1);
    double w2 = (double)count_owned(o1, t->n, gw.num[0]);
    json_object_set_new(o, "weight2_ratio",
                        json_real(round4(w2 / (((double)t->n - w2) / (double)(nm - 1)))));
    tooz_ring_free(&r1);

    unsigned long long sink = 0;
    double a = now_ms();
    for (size_t i = 0; i < t->n; i++)
        sink += tooz_ring_lookup(&r0, tooz_hash(t->id[i], strlen(t->id[i])));
    double owner_ms = now_ms() - a;
    a = now_ms();
    for (size_t i = 0; i < t->n; i++)
        sink += tooz_ring_lookup(&r0, t->pos[i]);
    double lookup_ms = now_ms() - a;
    if (sink == 42) fprintf(stderr, " ");
    json_object_set_new(o, "owner_ms_per_million",
                        json_real(round4(owner_ms * 1e6 / (double)t->n)));
    json_object_set_new(o, "lookup_ns", json_real(round4(lookup_ms * 1e6 / (double)t->n)));
    json_object_set_new(o, "table_bytes", json_null()); /* each member rebuilds the ring */

    uint64_t seed = 7 + nm;
    group gd = group_copy(&g);
    memcpy(o1, o0, t->n * sizeof *o1);
    double dmax = 0, dmin = 1e300, sum_moved = 0, sum_ideal = 0;
    for (int step = 0; step < DRIFT_STEPS; step++) {
        bool leave = gd.n > 1 && (rng_next(&seed) & 1);
        double want;
        if (leave) {
            size_t i = rng_next(&seed) % gd.n;
            want = (double)count_owned(o1, t->n, gd.num[i]);
            group_remove(&gd, i);
        } else {
            group_add(&gd, 1);
            want = (double)t->n / (double)total_weight(&gd);
        }
        tooz_ring rn = {0};
        ring_make(&rn, &gd);
        uint32_t *on = malloc(t->n * sizeof *on);
        ring_owners(&rn, t, on);
        sum_moved += (double)ring_moved(o1, on, t->n);
        sum_ideal += want;
        ring_balance(on, &gd, t, &mx, &mn);
        if (mx > dmax) dmax = mx;
        if (mn < dmin) dmin = mn;
        memcpy(o1, on, t->n * sizeof *o1);
        free(on);
        tooz_ring_free(&rn);
    }
    json_object_set_new(o, "drift_max_mean", json_real(round4(dmax)));
    json_object_set_new(o, "drift_min_mean", json_real(round4(dmin)));
    json_object_set_new(o, "drift_moved_ratio", json_real(round4(sum_moved / sum_ideal)));

    tooz_ring_free(&r0);
    free(o0);
    free(o1);
    group_free(&g);
    group_free(&gl);
    group_free(&gj);
    group_free(&gw);
    group_free(&gd);
    return o;
}

/* The fixture check_tooz_ring.py replays with the real algorithm. */
static int tooz_owners(void)
{
    group g = group_make(10);
    g.weight[0] = 2;
    tooz_ring r = {0};
    ring_make(&r, &g);
    for (int i = 0; i < 2000; i++) {
        char id[32];
        snprintf(id, sizeof id, "target-%d", i);
        printf("%u\n", tooz_ring_lookup(&r, tooz_hash(id, strlen(id))));
    }
    tooz_ring_free(&r);
    group_free(&g);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--tooz-owners") == 0) return tooz_owners();
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    static const size_t members[] = {10, 100, 1000};
    static const size_t counts[] = {10000, 100000, 1000000};
    json_t *root = json_object(), *ours = json_object(), *tooz = json_object();
    for (size_t c = 0; c < 3; c++) {
        if (quick && counts[c] != 100000) continue;
        targets *t = targets_make(counts[c]);
        for (size_t m = 0; m < 3; m++) {
            if (quick && members[m] != 100) continue;
            char name[64];
            snprintf(name, sizeof name, "%zux%zu", members[m], counts[c]);
            json_object_set_new(ours, name, ours_case(members[m], t));
            json_object_set_new(tooz, name, tooz_case(members[m], t));
        }
        targets_free(t);
    }
    json_object_set_new(root, "slots", json_integer(PARTITION_SLOTS));
    json_object_set_new(root, "vnodes_per_member", json_integer(VNODES));
    json_object_set_new(root, "drift_steps", json_integer(DRIFT_STEPS));
    json_object_set_new(root, "ours", ours);
    json_object_set_new(root, "tooz_ring", tooz);
    json_dumpf(root, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(root);
    return 0;
}
