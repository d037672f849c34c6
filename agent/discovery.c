/*
 * discovery.c: target lists, what every discovery plugin fills. The plugins
 * themselves live in pollsters/ (local_host.c) and are listed in plugins.c.
 */
#include "agent/pollster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int target_list_add(target_list *l, const char *id, const char *resource, bool local)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        poll_target *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = cap;
    }
    poll_target *t = &l->v[l->n];
    t->id = strdup(id);
    t->resource = strdup(resource ? resource : id);
    t->local = local;
    t->labels = NULL;
    if (!t->id || !t->resource) {
        free(t->id);
        free(t->resource);
        return -1;
    }
    l->n++;
    return 0;
}

void target_list_free(target_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].id);
        free(l->v[i].resource);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
