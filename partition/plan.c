/*
 * plan.c: the slot-table planner.
 *
 * Input: the previous table (or none), the members with weights, and the load
 * of each slot (targets in it now, poll cost later). Output: the next table.
 * The balance criterion is load, not slot count: slot loads vary (at 100k
 * targets in 16384 slots, 6 +- 2.4), so equal slot counts would leave members
 * several percent apart.
 *
 * 1. Ideal: each member's share of the total load, L * w / W, rounded to
 *    integers by largest remainder so the ideals sum to L exactly. The bound
 *    is [lo, hi] = ideal -+ max(tolerance * ideal, slack) (slack around the
 *    ideal rounded to an integer): a member cannot be closer to its ideal
 *    than slot granularity allows, so slack defaults to one mean slot load
 *    (docs/PARTITION.md says where that binds).
 * 2. No usable previous table: cut the slots, in slot order, into contiguous
 *    ranges at the cumulative ideals. One range per member keeps the encoded
 *    table tiny and each member within about one slot load of its ideal;
 *    everything moves anyway, so a repair against the tolerance alone
 *    follows (best effort), then one against the full bound.
 * 3. Orphans (slots of departed members) must move: largest first, each to
 *    the member furthest below its ideal (LPT), which lands every survivor
 *    within about the smallest orphan's load. Empty orphans go to the member
 *    with the fewest slots per weight, so slot counts stay sane for when
 *    targets arrive.
 * 4. Repair, and only where the bound is broken. A member under lo (a
 *    newcomer) is filled up to its ideal, not just to lo, from the members
 *    furthest above theirs: whole slots that fit the donor's excess, then
 *    the one closest to what is left. Then a member over hi gives the
 *    smallest slot that brings it back under hi to the member furthest
 *    below its ideal; if every slot it has is too big for that, it swaps one
 *    for a lighter slot of a member below its ideal. A member within the
 *    bound and at or under its share never gives up load. Every move lowers
 *    sum(e^2 / w) (e = load - ideal), so repair terminates; a cap bounds it
 *    anyway.
 *
 * Determinism: integer arithmetic only (the bounds use 128-bit products),
 * members in id order, every tie broken by the lower index. The same inputs
 * give the same table on any machine.
 */
#include "partition/partition.h"
#include "partition/errbuf.h"

#include <stdlib.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

#define S PARTITION_SLOTS

void partition_options_init(partition_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->tolerance_ppm = 10000;
    opt->slack = -1;
}

/* ---- an indexed max-heap of members; ties go to the lower index ---------- */

typedef struct heap {
    uint32_t n;
    uint32_t *h;   /* heap order -> member */
    uint32_t *pos; /* member -> heap position, UINT32_MAX when absent */
    int64_t *key;  /* member -> key */
} heap;

static int heap_init(heap *hp, uint32_t cap)
{
    hp->n = 0;
    hp->h = malloc(cap * sizeof *hp->h);
    hp->pos = malloc(cap * sizeof *hp->pos);
    hp->key = calloc(cap, sizeof *hp->key);
    if (!hp->h || !hp->pos || !hp->key) return -1;
    memset(hp->pos, 0xff, cap * sizeof *hp->pos);
    return 0;
}

static void heap_fini(heap *hp)
{
    free(hp->h);
    free(hp->pos);
    free(hp->key);
}

static int heap_above(const heap *hp, uint32_t a, uint32_t b)
{
    return hp->key[a] > hp->key[b] || (hp->key[a] == hp->key[b] && a < b);
}

static void heap_swap(heap *hp, uint32_t i, uint32_t j)
{
    uint32_t a = hp->h[i], b = hp->h[j];
    hp->h[i] = b;
    hp->h[j] = a;
    hp->pos[b] = i;
    hp->pos[a] = j;
}

static void heap_fix(heap *hp, uint32_t i)
{
    while (i > 0 && heap_above(hp, hp->h[i], hp->h[(i - 1) / 2])) {
        heap_swap(hp, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < hp->n && heap_above(hp, hp->h[l], hp->h[best])) best = l;
        if (r < hp->n && heap_above(hp, hp->h[r], hp->h[best])) best = r;
        if (best == i) return;
        heap_swap(hp, i, best);
        i = best;
    }
}

static void heap_set(heap *hp, uint32_t m, int64_t key)
{
    hp->key[m] = key;
    if (hp->pos[m] == UINT32_MAX) {
        hp->pos[m] = hp->n;
        hp->h[hp->n++] = m;
    }
    heap_fix(hp, hp->pos[m]);
}

static void heap_remove(heap *hp, uint32_t m)
{
    uint32_t i = hp->pos[m];
    if (i == UINT32_MAX) return;
    heap_swap(hp, i, hp->n - 1);
    hp->n--;
    hp->pos[m] = UINT32_MAX;
    if (i < hp->n) heap_fix(hp, i);
}

/* ---- planner state ---------------------------------------------------------- */

enum { H_OVER, H_UNDER, H_EXCESS, H_DEFICIT, H_FEWEST, H_COUNT };

typedef struct plan {
    uint32_t n;
    const uint32_t *w;
    uint16_t *owner;
    uint32_t ld[S];           /* effective load per slot */
    int32_t next[S], prev[S]; /* per-member doubly linked slot lists */
    int32_t *head;            /* member -> first slot, -1 if none */
    uint32_t *nslots;
    int64_t *load, *ideal, *lo, *hi;
    heap hp[H_COUNT];
    bool *stuck;
    bool search_all; /* repair may try every partner, not just the best */
    uint32_t moves;
} plan;

static void plan_rekey(plan *p, uint32_t m)
{
    int64_t l = p->load[m];
    if (!p->stuck[m]) {
        heap_set(&p->hp[H_OVER], m, l - p->hi[m]);
        heap_set(&p->hp[H_UNDER], m, p->lo[m] - l);
    }
    heap_set(&p->hp[H_EXCESS], m, l - p->ideal[m]);
    heap_set(&p->hp[H_DEFICIT], m, p->ideal[m] - l);
    /* fewest slots per unit of weight first: 2^24 keeps the ratio exact enough
     * to order members and far from overflow (S * 2^24 < 2^39) */
    heap_set(&p->hp[H_FEWEST], m, -(int64_t)(((uint64_t)p->nslots[m] << 24) / p->w[m]));
}

static void plan_give(plan *p, uint32_t s, uint32_t m)
{
    p->owner[s] = (uint16_t)m;
    p->prev[s] = -1;
    p->next[s] = p->head[m];
    if (p->head[m] >= 0) p->prev[p->head[m]] = (int32_t)s;
    p->head[m] = (int32_t)s;
    p->nslots[m]++;
    p->load[m] += p->ld[s];
    plan_rekey(p, m);
}

static void plan_take(plan *p, uint32_t s)
{
    uint32_t m = p->owner[s];
    if (p->prev[s] >= 0)
        p->next[p->prev[s]] = p->next[s];
    else
        p->head[m] = p->next[s];
    if (p->next[s] >= 0) p->prev[p->next[s]] = p->prev[s];
    p->nslots[m]--;
    p->load[m] -= p->ld[s];
    plan_rekey(p, m);
}

/* Does moving l from d to r lower sum(e^2 / w)? Multiplied out by w_d * w_r:
 * l * (w_d + w_r) < 2 * (e_d * w_r - e_r * w_d). Magnitudes stay below 2^60
 * because total load <= 2^40 and weights <= 2^16. */
static bool improves(const plan *p, uint32_t d, uint32_t r, int64_t l)
{
    int64_t ed = p->load[d] - p->ideal[d], er = p->load[r] - p->ideal[r];
    int64_t wd = p->w[d], wr = p->w[r];
    return l * (wd + wr) < 2 * (ed * wr - er * wd);
}

static bool adjacent_to(const plan *p, uint32_t s, uint32_t r)
{
    return (s > 0 && p->owner[s - 1] == r) || (s + 1 < S && p->owner[s + 1] == r);
}

/* Picks d's slot with load in [min, max] and > 0, improving, whose load is
 * closest to want; ties: next to r's slots (shorter runs in the encoding),
 * then the lower slot. -1 if none. */
static int32_t pick_slot(const plan *p, uint32_t d, uint32_t r, int64_t min, int64_t max,
                         int64_t want)
{
    int32_t best = -1;
    int64_t best_dist = 0;
    bool best_adj = false;
    if (min < 1) min = 1;
    for (int32_t s = p->head[d]; s >= 0; s = p->next[s]) {
        int64_t l = p->ld[s];
        if (l < min || l > max || !improves(p, d, r, l)) continue;
        int64_t dist = l > want ? l - want : want - l;
        bool adj = adjacent_to(p, (uint32_t)s, r);
        if (best < 0 || dist < best_dist || (dist == best_dist && adj && !best_adj) ||
            (dist == best_dist && adj == best_adj && s < best)) {
            best = s;
            best_dist = dist;
            best_adj = adj;
        }
    }
    return best;
}

static void plan_move(plan *p, uint32_t s, uint32_t r)
{
    plan_take(p, s);
    plan_give(p, s, r);
    p->moves++;
}

static void set_stuck(plan *p, uint32_t m)
{
    p->stuck[m] = true;
    heap_remove(&p->hp[H_OVER], m);
    heap_remove(&p->hp[H_UNDER], m);
}

/* Moves d's slots to r, in d's list order, each no bigger than what is left
 * of budget and each improving. One pass instead of one scan per slot: a
 * newcomer in a small group needs thousands of slots. Returns slots moved. */
static uint32_t move_bulk(plan *p, uint32_t d, uint32_t r, int64_t budget)
{
    uint32_t moved = 0;
    for (int32_t s = p->head[d], nx; s >= 0 && budget > 0; s = nx) {
        nx = p->next[s];
        int64_t l = p->ld[s];
        if (l == 0 || l > budget || !improves(p, d, r, l)) continue;
        plan_move(p, (uint32_t)s, r);
        budget -= l;
        moved++;
    }
    return moved;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* One repair move from d to r for an over-violator d. */
static bool shed_to(plan *p, uint32_t d, uint32_t r)
{
    int64_t need = p->load[d] - p->hi[d];
    int64_t room = p->hi[r] - p->load[r];
    int32_t s = pick_slot(p, d, r, need, room, need); /* cures, r stays within */
    if (s < 0 && move_bulk(p, d, r, min64(need, room)) > 0) return true;
    if (s < 0) s = pick_slot(p, d, r, 1, room, room);         /* progress, r stays within */
    if (s < 0) s = pick_slot(p, d, r, need, INT64_MAX, need); /* cures; r may cascade */
    if (s < 0) return false;
    plan_move(p, (uint32_t)s, r);
    return true;
}

/* One repair move from d to an under-violator r. */
static bool fill_from(plan *p, uint32_t d, uint32_t r)
{
    int64_t excess = p->load[d] - p->ideal[d];
    if (d == r || excess <= 0) return false;
    int64_t want = min64(excess, p->ideal[r] - p->load[r]);
    int64_t max = min64(p->load[d] - p->lo[d], p->hi[r] - p->load[r]);
    /* whole slots that fit what both sides want, then the closest one */
    if (move_bulk(p, d, r, min64(want, max)) > 0) return true;
    int32_t s = pick_slot(p, d, r, 1, max, want);
    if (s < 0) return false;
    plan_move(p, (uint32_t)s, r);
    return true;
}

/* Last resort for d over hi when every slot it has is too big to give away:
 * swap one of its slots for a lighter one of a member below its ideal, the
 * pair with the least load moved that cures d and keeps the other within
 * hi. Only for members of few slots (that is when granularity bites), so
 * the pair search stays small. */
#define SWAP_MAX_SLOTS 64

static bool swap_down(plan *p, uint32_t d)
{
    if (p->nslots[d] > SWAP_MAX_SLOTS) return false;
    int64_t need = p->load[d] - p->hi[d];
    int32_t best_a = -1, best_b = -1;
    int64_t best_cost = INT64_MAX;
    for (uint32_t r = 0; r < p->n; r++) {
        if (r == d || p->load[r] >= p->ideal[r] || p->nslots[r] > SWAP_MAX_SLOTS) continue;
        int64_t room = p->hi[r] - p->load[r];
        for (int32_t a = p->head[d]; a >= 0; a = p->next[a])
            for (int32_t b = p->head[r]; b >= 0; b = p->next[b]) {
                int64_t delta = (int64_t)p->ld[a] - p->ld[b];
                int64_t cost = (int64_t)p->ld[a] + p->ld[b];
                if (delta < need || delta > room || !improves(p, d, r, delta)) continue;
                if (cost < best_cost) {
                    best_cost = cost;
                    best_a = a;
                    best_b = b;
                }
            }
    }
    if (best_a < 0) return false;
    uint32_t r = p->owner[best_b];
    plan_move(p, (uint32_t)best_a, r);
    plan_move(p, (uint32_t)best_b, d);
    return true;
}

/* d is over hi: shed the least that brings it back within its bound, to the
 * member furthest below its ideal, else to any below its ideal (a member's
 * slots may all be too big for the first: slot granularity). */
static bool repair_over(plan *p, uint32_t d)
{
    uint32_t r = p->hp[H_DEFICIT].h[0];
    if (r != d && shed_to(p, d, r)) return true;
    for (uint32_t i = 0; p->search_all && i < p->n; i++)
        if (i != d && i != r && p->load[i] < p->ideal[i] && shed_to(p, d, i)) return true;
    return p->search_all && swap_down(p, d);
}

/* r is under lo: fill it towards its ideal from the member furthest above
 * its own, else from any above its own. */
static bool repair_under(plan *p, uint32_t r)
{
    uint32_t d = p->hp[H_EXCESS].h[0];
    if (fill_from(p, d, r)) return true;
    for (uint32_t i = 0; p->search_all && i < p->n; i++)
        if (i != d && i != r && p->load[i] > p->ideal[i] && fill_from(p, i, r)) return true;
    return false;
}

static void repair(plan *p, uint32_t cap)
{
    while (p->moves < cap) {
        heap *o = &p->hp[H_OVER], *u = &p->hp[H_UNDER];
        int64_t ko = o->n ? o->key[o->h[0]] : 0, ku = u->n ? u->key[u->h[0]] : 0;
        if (ko <= 0 && ku <= 0) return;
        if (ku > 0) {
            /* first, and to the ideal rather than just to lo: a newcomer gets
             * its fair share, taken from those furthest above theirs */
            uint32_t r = u->h[0];
            while (p->moves < cap && p->load[r] < p->ideal[r] && repair_under(p, r)) {
            }
            if (p->load[r] < p->lo[r]) set_stuck(p, r);
        } else {
            uint32_t d = o->h[0];
            if (!repair_over(p, d)) set_stuck(p, d);
        }
    }
}

/* Slots in order, cut at the cumulative ideals: slot s goes to the member
 * whose interval holds the slot's midpoint. */
static void assign_ranges(plan *p)
{
    uint64_t before = 0, bound = 0;
    uint32_t m = 0;
    bound = (uint64_t)p->ideal[0];
    for (uint32_t s = 0; s < S; s++) {
        while (m + 1 < p->n && 2 * before + p->ld[s] >= 2 * bound) {
            m++;
            bound += (uint64_t)p->ideal[m];
        }
        plan_give(p, s, m);
        before += p->ld[s];
    }
}

static int cmp_orphan(const void *a, const void *b, void *ctx)
{
    const uint32_t *ld = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (ld[x] != ld[y]) return ld[x] > ld[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void assign_orphans(plan *p, uint32_t *orphans, uint32_t n_orphans)
{
    qsort_r(orphans, n_orphans, sizeof *orphans, cmp_orphan, p->ld);
    for (uint32_t i = 0; i < n_orphans; i++) {
        uint32_t s = orphans[i];
        heap *h = &p->hp[p->ld[s] > 0 ? H_DEFICIT : H_FEWEST];
        plan_give(p, s, h->h[0]);
    }
}

/* ideal_i = L * w_i / W rounded by largest remainder; equal remainders go
 * to the member holding more load now, so rounding itself moves nothing. */
typedef struct rem {
    uint64_t r;
    int64_t load;
    uint32_t m;
} rem;

static int cmp_rem(const void *a, const void *b)
{
    const rem *x = a, *y = b;
    if (x->r != y->r) return x->r > y->r ? -1 : 1;
    if (x->load != y->load) return x->load > y->load ? -1 : 1;
    return x->m < y->m ? -1 : x->m > y->m;
}

/* lo/hi: ideal * (1 -+ ppm / 1e6), exact, or the ideal rounded to the
 * nearest integer -+ slack, whichever is wider. Rounding first keeps the
 * slack bound still when a join or leave nudges the mean by a fraction of a
 * target: exact ideal -+ 1 would turn every member sitting at 9 with a mean
 * of 10 into a violator the moment the mean becomes 10.01. */
static int set_bounds(plan *p, uint64_t total, uint32_t ppm, int64_t slack)
{
    uint64_t W = 0;
    for (uint32_t i = 0; i < p->n; i++)
        W += p->w[i];
    rem *rs = malloc(p->n * sizeof *rs);
    if (!rs) return -1;
    uint64_t given = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        uint64_t num = total * p->w[i]; /* < 2^56 */
        p->ideal[i] = (int64_t)(num / W);
        given += num / W;
        rs[i] = (rem){.r = num % W, .load = p->load[i], .m = i};
    }
    qsort(rs, p->n, sizeof *rs, cmp_rem);
    for (uint64_t k = 0; k < total - given; k++)
        p->ideal[rs[k].m]++;
    free(rs);
    u128 den = (u128)W * 1000000u;
    for (uint32_t i = 0; i < p->n; i++) {
        u128 lw = (u128)total * p->w[i];
        int64_t hi_tol = (int64_t)(lw * (1000000u + ppm) / den);
        int64_t lo_tol = (int64_t)((lw * (1000000u - ppm) + den - 1) / den);
        int64_t nearest = (int64_t)((2 * lw + W) / (2 * (u128)W));
        int64_t hi_slack = nearest + slack, lo_slack = nearest - slack;
        p->hi[i] = hi_tol > hi_slack ? hi_tol : hi_slack;
        p->lo[i] = lo_tol < lo_slack ? lo_tol : lo_slack;
        p->stuck[i] = false;
        plan_rekey(p, i);
    }
    return 0;
}

static int plan_alloc(plan *p, uint32_t n)
{
    p->n = n;
    p->head = malloc(n * sizeof *p->head);
    p->nslots = calloc(n, sizeof *p->nslots);
    p->load = calloc(n, sizeof *p->load);
    p->ideal = calloc(n, sizeof *p->ideal);
    p->lo = calloc(n, sizeof *p->lo);
    p->hi = calloc(n, sizeof *p->hi);
    p->stuck = calloc(n, sizeof *p->stuck);
    if (!p->head || !p->nslots || !p->load || !p->ideal || !p->lo || !p->hi || !p->stuck) return -1;
    memset(p->head, 0xff, n * sizeof *p->head);
    for (int i = 0; i < H_COUNT; i++)
        if (heap_init(&p->hp[i], n) != 0) return -1;
    return 0;
}

static void plan_free(plan *p)
{
    free(p->head);
    free(p->nslots);
    free(p->load);
    free(p->ideal);
    free(p->lo);
    free(p->hi);
    free(p->stuck);
    for (int i = 0; i < H_COUNT; i++)
        heap_fini(&p->hp[i]);
    free(p);
}

int partition_plan(const partition_table *prev, const partition_member *members, size_t n,
                   const uint32_t *slot_load, const partition_options *opt, partition_table **next,
                   partition_plan_stats *stats, char *err, size_t errlen)
{
    partition_options defaults;
    if (!opt) {
        partition_options_init(&defaults);
        opt = &defaults;
    }
    *next = NULL;
    if (opt->tolerance_ppm > 1000000u) {
        seterr(err, errlen, "tolerance %u ppm is above 1000000 (100 %%)", opt->tolerance_ppm);
        return -1;
    }
    partition_table *t = partition_table_new(members, n, err, errlen);
    if (!t) return -1;
    plan *p = calloc(1, sizeof *p);
    int32_t *map = NULL;
    uint32_t *orphans = NULL;
    if (!p || plan_alloc(p, t->n_members) != 0) goto oom;
    p->w = t->weights;
    p->owner = t->owner;

    uint64_t total = 0;
    for (uint32_t s = 0; s < S; s++) {
        p->ld[s] = slot_load ? slot_load[s] : 1;
        total += p->ld[s];
    }
    if (total > PARTITION_MAX_TOTAL_LOAD) {
        seterr(err, errlen, "total load %llu is above the supported %llu",
               (unsigned long long)total, (unsigned long long)PARTITION_MAX_TOTAL_LOAD);
        goto fail;
    }
    if (total == 0) { /* nothing to balance yet: balance slot counts */
        for (uint32_t s = 0; s < S; s++)
            p->ld[s] = 1;
        total = S;
    }
    int64_t slack = opt->slack >= 0 ? opt->slack : (int64_t)((total + S - 1) / S);
    if (slack > (int64_t)PARTITION_MAX_TOTAL_LOAD) slack = (int64_t)PARTITION_MAX_TOTAL_LOAD;
    /* survivors keep their slots */
    uint32_t n_orphans = 0, kept = 0;
    orphans = malloc(S * sizeof *orphans);
    if (!orphans) goto oom;
    if (prev) {
        map = malloc(prev->n_members * sizeof *map);
        if (!map) goto oom;
        for (uint32_t i = 0; i < prev->n_members; i++)
            map[i] = partition_member_index(t, prev->ids[i]);
        for (uint32_t s = 0; s < S; s++) {
            int32_t m = prev->owner[s] < prev->n_members ? map[prev->owner[s]] : -1;
            if (m >= 0) {
                plan_give(p, s, (uint32_t)m);
                kept++;
            } else {
                orphans[n_orphans++] = s;
            }
        }
    }
    uint32_t after_orphans = 0;
    if (kept == 0) {
        /* everything moves anyway: aim at the tolerance alone first */
        if (set_bounds(p, total, opt->tolerance_ppm, 0) != 0) goto oom;
        assign_ranges(p);
        repair(p, 4 * S); /* best effort: often below slot granularity */
        if (set_bounds(p, total, opt->tolerance_ppm, slack) != 0) goto oom;
        p->search_all = true;
        repair(p, 8 * S);
    } else {
        if (set_bounds(p, total, opt->tolerance_ppm, slack) != 0) goto oom;
        p->search_all = true;
        assign_orphans(p, orphans, n_orphans);
        after_orphans = p->moves;
        repair(p, after_orphans + 4 * S);
    }

    t->epoch = opt->epoch ? opt->epoch : (prev ? prev->epoch + 1 : 1);
    t->effective_ms = opt->effective_ms;
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->rebalance_moves = prev && kept ? p->moves - after_orphans : 0;
        stats->bound_met = true;
        for (uint32_t i = 0; i < p->n; i++)
            if (p->load[i] < p->lo[i] || p->load[i] > p->hi[i]) stats->bound_met = false;
        for (uint32_t s = 0; s < S; s++) {
            int32_t was = prev && prev->owner[s] < prev->n_members ? map[prev->owner[s]] : -1;
            uint32_t l = slot_load ? slot_load[s] : 1;
            if (prev && was < 0) {
                stats->slots_orphan++;
                stats->load_orphan += l;
            }
            if (prev && was != (int32_t)t->owner[s]) {
                stats->slots_moved++;
                stats->load_moved += l;
            }
        }
    }
    free(map);
    free(orphans);
    plan_free(p);
    *next = t;
    return 0;
oom:
    seterr(err, errlen, "out of memory");
fail:
    free(map);
    free(orphans);
    if (p) plan_free(p);
    partition_table_free(t);
    return -1;
}
