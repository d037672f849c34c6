/*
 * plugins.c: the tables of built-in plugins. Adding a pollster or a
 * discovery is one file under pollsters/, its descriptor row in registry/
 * and one line here; the core never names a plugin.
 */
#include "agent/pollster.h"

#include <stdio.h>
#include <string.h>

const pollster_plugin *const builtin_pollsters[] = {
    &pollster_host_pressure,
    &pollster_host_load,
    &pollster_tcp,
    NULL,
};

const discovery_plugin *const builtin_discoveries[] = {
    &discovery_local_host,
    NULL,
};

size_t pollster_meter_count(const pollster_plugin *p)
{
    return registry_meter_count(p->desc);
}

int plugins_check_tables(char *err, size_t errlen)
{
    for (size_t i = 0; registry_pollsters[i]; i++) {
        bool found = false;
        for (size_t k = 0; builtin_pollsters[k]; k++)
            found |= builtin_pollsters[k]->desc == registry_pollsters[i];
        if (!found) {
            snprintf(err, errlen, "pollster %s has no runtime row", registry_pollsters[i]->name);
            return -1;
        }
    }
    for (size_t k = 0; builtin_pollsters[k]; k++) {
        if (registry_pollster_find(builtin_pollsters[k]->desc->name) !=
            builtin_pollsters[k]->desc) {
            snprintf(err, errlen, "pollster %s is not in the registry",
                     builtin_pollsters[k]->desc->name);
            return -1;
        }
    }
    for (size_t i = 0; registry_discoveries[i]; i++) {
        bool found = false;
        for (size_t k = 0; builtin_discoveries[k]; k++)
            found |= builtin_discoveries[k]->desc == registry_discoveries[i];
        if (!found) {
            snprintf(err, errlen, "discovery %s has no runtime row", registry_discoveries[i]->name);
            return -1;
        }
    }
    return 0;
}
