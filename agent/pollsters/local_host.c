/*
 * pollsters/local_host.c: the `local_host` discovery, which yields this host
 * (for the host.* pollsters). Later namespaces add their own (local cgroups,
 * configured BMCs) beside it.
 */
#include "agent/pollster.h"

#include <stdio.h>

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
    .desc = &registry_local_host,
    .discover = local_host_discover,
};
