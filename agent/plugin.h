/*
 * plugin.h (internal to agent/): what a plugin's process hooks see, and the
 * secrets they may reference by name.
 *
 * Like collectd's, every pollster and publisher row may have process hooks:
 * process_init runs once when the agent starts (after meterd.conf is read and
 * checked), process_shutdown once when it stops. Both get a plugin_ctx: the
 * plugin's own ini section (declared and checked by its registry row) and the
 * secrets file. Whatever process_init stores in *pstate the agent keeps and
 * hands back (poll_env.process_state, a publisher's open); nothing is global.
 *
 * Secrets never live in a pipeline (it is pushed to ZooKeeper and printed in
 * diffs): a URL names a secret (http's ?token_secret=NAME) and its value
 * comes from [DEFAULT] secrets_file, "name = value" lines in a regular file of
 * mode 0600.
 */
#ifndef METERD_AGENT_PLUGIN_H
#define METERD_AGENT_PLUGIN_H

#include "agent/config.h"

#include <stddef.h>

typedef struct secret_entry {
    char *name, *value;
} secret_entry;

typedef struct secrets {
    secret_entry *v;
    size_t n;
} secrets;

/* Loads path (regular file, mode 0600, no symlink): 0, or -1 with err naming
 * the file and what is wrong. An empty path loads nothing. */
int secrets_load(secrets *s, const char *path, char *err, size_t errlen);
/* The value of a secret, or NULL. */
const char *secrets_get(const secrets *s, const char *name);
/* Wipes the values and frees. */
void secrets_free(secrets *s);

typedef struct plugin_ctx {
    const char *plugin;      /* the plugin's name or scheme, for messages */
    const char *section;     /* its ini section (registry row), NULL when none */
    const agent_config *cfg; /* for plugin_option */
    const secrets *secrets;  /* for plugin_secret */
} plugin_ctx;

/* An option of the plugin's own section: the configured value, else the
 * registry's default, else NULL. */
const char *plugin_option(const plugin_ctx *c, const char *key);
/* A secret by name, or NULL (no secrets_file, or no such name). */
const char *plugin_secret(const plugin_ctx *c, const char *name);

#endif
