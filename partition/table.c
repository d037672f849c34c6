/*
 * table.c: the slot table as a value: construction, lookup, copy, free.
 *
 * A table lists its members sorted by id (bytewise), so two leaders holding
 * the same assignment hold the same bytes whatever order they learned the
 * members in. Owners are 16-bit indexes into that list: 32 KB for the whole
 * table in memory and a direct array read per lookup, which is what the poll
 * loop does for every target. The fallback (no table yet) is a one-member
 * table rather than a special case, so callers have one code path.
 */
#include "partition/partition.h"
#include "partition/errbuf.h"

#include <stdlib.h>
#include <string.h>

int partition_id_check(const char *id, char *err, size_t errlen)
{
    if (!id) {
        seterr(err, errlen, "member id is NULL");
        return -1;
    }
    size_t len = strnlen(id, PARTITION_MAX_ID_LEN + 1);
    if (len == 0) {
        seterr(err, errlen, "member id is empty");
        return -1;
    }
    if (len > PARTITION_MAX_ID_LEN) {
        seterr(err, errlen, "member id \"%.32s...\" is longer than %u bytes", id,
               PARTITION_MAX_ID_LEN);
        return -1;
    }
    return 0;
}

static int cmp_member_id(const void *a, const void *b)
{
    const partition_member *x = a, *y = b;
    return strcmp(x->id, y->id);
}

partition_table *partition_table_new(const partition_member *members, size_t n, char *err,
                                     size_t errlen)
{
    if (n == 0) {
        seterr(err, errlen, "a table needs at least one member");
        return NULL;
    }
    if (n > PARTITION_MAX_MEMBERS) {
        seterr(err, errlen, "%zu members: at most %u are supported", n, PARTITION_MAX_MEMBERS);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char why[128];
        if (partition_id_check(members[i].id, why, sizeof why) != 0) {
            seterr(err, errlen, "member %zu: %s", i, why);
            return NULL;
        }
        if (members[i].weight < 1 || members[i].weight > PARTITION_MAX_WEIGHT) {
            seterr(err, errlen, "member \"%s\": weight %u is outside 1..%u", members[i].id,
                   members[i].weight, PARTITION_MAX_WEIGHT);
            return NULL;
        }
    }
    partition_member *sorted = malloc(n * sizeof *sorted);
    partition_table *t = calloc(1, sizeof *t);
    if (!sorted || !t) goto oom;
    memcpy(sorted, members, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_member_id);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(sorted[i - 1].id, sorted[i].id) == 0) {
            seterr(err, errlen, "member id \"%s\" appears more than once", sorted[i].id);
            free(sorted);
            free(t);
            return NULL;
        }
    }
    t->ids = calloc(n, sizeof *t->ids);
    t->weights = calloc(n, sizeof *t->weights);
    if (!t->ids || !t->weights) goto oom;
    t->n_members = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        t->ids[i] = strdup(sorted[i].id);
        if (!t->ids[i]) goto oom;
        t->weights[i] = sorted[i].weight;
    }
    free(sorted);
    return t;
oom:
    seterr(err, errlen, "out of memory");
    free(sorted);
    partition_table_free(t);
    return NULL;
}

partition_table *partition_table_single(const char *member_id, char *err, size_t errlen)
{
    partition_member m = {.id = member_id, .weight = 1};
    return partition_table_new(&m, 1, err, errlen);
}

partition_table *partition_table_copy(const partition_table *t)
{
    partition_member *m = malloc(t->n_members * sizeof *m);
    if (!m) return NULL;
    for (uint32_t i = 0; i < t->n_members; i++)
        m[i] = (partition_member){.id = t->ids[i], .weight = t->weights[i]};
    partition_table *c = partition_table_new(m, t->n_members, NULL, 0);
    free(m);
    if (!c) return NULL;
    c->epoch = t->epoch;
    c->effective_ms = t->effective_ms;
    memcpy(c->owner, t->owner, sizeof c->owner);
    return c;
}

void partition_table_free(partition_table *t)
{
    if (!t) return;
    if (t->ids)
        for (uint32_t i = 0; i < t->n_members; i++)
            free(t->ids[i]);
    free(t->ids);
    free(t->weights);
    free(t);
}

int32_t partition_member_index(const partition_table *t, const char *member_id)
{
    size_t lo = 0, hi = t->n_members;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->ids[mid], member_id);
        if (c == 0) return (int32_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

uint32_t partition_owner(const partition_table *t, uint32_t slot)
{
    return t->owner[slot % PARTITION_SLOTS];
}

const char *partition_owner_id(const partition_table *t, const void *target_id, size_t len)
{
    return t->ids[t->owner[partition_slot_of(target_id, len)]];
}

void partition_member_loads(const partition_table *t, const uint32_t *slot_load, uint64_t *out)
{
    memset(out, 0, t->n_members * sizeof *out);
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++)
        out[t->owner[s]] += slot_load ? slot_load[s] : 1;
}
