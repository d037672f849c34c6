/*
 * targets.c: a revision's partitioned targets, one definition for the whole
 * group (see group.h for what is and is not in the set, and why).
 */
#include "group/group.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int group_revision_targets(const pipeline *p, group_targets *out)
{
    out->ids = NULL;
    out->n = 0;
    size_t cap = 0;
    for (size_t i = 0; p && i < p->n_sources; i++)
        cap += p->sources[i].n_resources;
    out->ids = malloc((cap ? cap : 1) * sizeof *out->ids);
    if (!out->ids) return -1;
    size_t n = 0;
    for (size_t i = 0; p && i < p->n_sources; i++)
        for (size_t r = 0; r < p->sources[i].n_resources; r++)
            out->ids[n++] = p->sources[i].resources[r];
    qsort(out->ids, n, sizeof *out->ids, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || strcmp(out->ids[w - 1], out->ids[i]) != 0) out->ids[w++] = out->ids[i];
    out->n = w;
    return 0;
}

void group_targets_free(group_targets *t)
{
    free(t->ids);
    t->ids = NULL;
    t->n = 0;
}

void group_slot_loads(const group_targets *t, uint32_t *load)
{
    memset(load, 0, PARTITION_SLOTS * sizeof *load);
    for (size_t i = 0; i < t->n; i++)
        load[partition_slot_of(t->ids[i], strlen(t->ids[i]))]++;
}

bool group_targets_has(const group_targets *t, const char *id)
{
    return t->n && bsearch(&id, t->ids, t->n, sizeof *t->ids, cmp_str) != NULL;
}
