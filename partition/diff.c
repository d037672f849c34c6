/*
 * diff.c: what changes between two tables.
 *
 * Members are matched by id, never by index: the same member can sit at a
 * different index in the next table when others join or leave. The result
 * lists, per member, slots and load gained and lost, and every slot that
 * changes owner, which is what a member needs to start and stop polling at
 * the table's effective time.
 */
#include "partition/partition.h"

#include <stdlib.h>
#include <string.h>

int partition_diff_tables(const partition_table *a, const partition_table *b,
                          const uint32_t *slot_load, partition_diff **out)
{
    *out = NULL;
    uint32_t na = a ? a->n_members : 0, nb = b->n_members;
    partition_diff *d = calloc(1, sizeof *d);
    int32_t *from_a = malloc((na ? na : 1) * sizeof *from_a);
    int32_t *from_b = malloc(nb * sizeof *from_b);
    if (!d || !from_a || !from_b) goto oom;
    d->members = calloc((size_t)na + nb, sizeof *d->members);
    d->moves = malloc(PARTITION_SLOTS * sizeof *d->moves);
    if (!d->members || !d->moves) goto oom;

    /* merge the two sorted member lists */
    uint32_t i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(a->ids[i], b->ids[j]);
        int32_t k = (int32_t)d->n_members++;
        if (c <= 0) {
            d->members[k].id = a->ids[i];
            from_a[i++] = k;
        }
        if (c >= 0) {
            d->members[k].id = b->ids[j];
            from_b[j++] = k;
        }
    }
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++) {
        int32_t f = a ? from_a[a->owner[s]] : -1, t = from_b[b->owner[s]];
        if (f == t) continue;
        uint64_t l = slot_load ? slot_load[s] : 1;
        d->moves[d->n_moves++] = (partition_move){.slot = s, .from = f, .to = t};
        d->load_moved += l;
        if (f >= 0) {
            d->members[f].slots_lost++;
            d->members[f].load_lost += l;
        }
        d->members[t].slots_gained++;
        d->members[t].load_gained += l;
    }
    free(from_a);
    free(from_b);
    *out = d;
    return 0;
oom:
    free(from_a);
    free(from_b);
    partition_diff_free(d);
    return -1;
}

void partition_diff_free(partition_diff *d)
{
    if (!d) return;
    free(d->members);
    free(d->moves);
    free(d);
}
