/*
 * discovery.c: target lists and the built-in discovery plugins.
 *
 * `local_host` yields this host (for the host.* pollsters). Later namespaces
 * add their own (local cgroups, configured BMCs) to builtin_discoveries.
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

static int local_host_discover(const discovery_env *env, const char *param, target_list *out,
                               char *err, size_t errlen)
{
    (void)param;
    if (target_list_add(out, env->host, env->host, true) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

const discovery_plugin discovery_local_host = {
    .name = "local_host",
    .local = true,
    .discover = local_host_discover,
};
