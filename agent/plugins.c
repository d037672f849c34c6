/*
 * plugins.c: the tables of built-in plugins. Adding a pollster or a
 * discovery is one file plus one line here; the core never names a plugin.
 */
#include "agent/pollster.h"

#include <stddef.h>

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
