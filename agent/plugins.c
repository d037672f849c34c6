/*
 * plugins.c: the tables of built-in plugins and their process hooks. Adding
 * a pollster or a discovery is one file under pollsters/, its descriptor row
 * in registry/ and one line here (a publisher: publishers/, its registry row,
 * one line in publisher.c); the core never names a plugin.
 */
#include "agent/allow.h"
#include "agent/core.h"
#include "agent/pollsters/ipmi.h"
#include "agent/publishers/common.h"

#include <stdio.h>
#include <string.h>

const pollster_plugin *const builtin_pollsters[] = {
    &pollster_host_pressure, &pollster_host_load,    &pollster_tcp,
    &pollster_http_probe,    &pollster_scrape,       &pollster_cgroup,
    &pollster_cgroup_perf,   &pollster_ipmi_sensors, NULL,
};

const discovery_plugin *const builtin_discoveries[] = {
    &discovery_local_host,
    &discovery_cgroups,
    NULL,
};

int pollster_target_allowed(const poll_env *env, const char *target, char *err, size_t errlen)
{
    /* a revision outside [polling] allow_targets is refused when applied; this
     * second check covers targets a pollster finds itself (file_sd, redirects) */
    return allow_target(env->allow, target, err, errlen);
}

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

const char *plugin_option(const plugin_ctx *c, const char *key)
{
    if (!c->section) return NULL;
    const char *v = config_extra(c->cfg, c->section, key);
    if (v) return v;
    const registry_section *rs = registry_section_find(c->section);
    for (size_t i = 0; rs && i < rs->n_options; i++)
        if (strcmp(rs->options[i].name, key) == 0) return rs->options[i].def;
    return NULL;
}

const char *plugin_secret(const plugin_ctx *c, const char *name)
{
    return secrets_get(c->secrets, name);
}

int plugins_process_init(agent *a, char *err, size_t errlen)
{
    if (secrets_load(&a->secrets, a->cfg.secrets_file, err, errlen) != 0) return -1;
    char perr[256];
    for (; a->n_inited_poll < a->n_pollsters; a->n_inited_poll++) {
        size_t i = a->n_inited_poll;
        const pollster_plugin *pp = a->pollsters[i];
        a->pctx_poll[i] = (plugin_ctx){pp->desc->name, pp->desc->section, &a->cfg, &a->secrets};
        perr[0] = 0;
        if (pp->process_init &&
            pp->process_init(&a->pctx_poll[i], &a->pstate_poll[i], perr, sizeof perr) != 0) {
            snprintf(err, errlen, "pollster %s: %s", pp->desc->name, perr);
            return -1;
        }
    }
    for (; publisher_plugins[a->n_inited_pub]; a->n_inited_pub++) {
        size_t i = a->n_inited_pub;
        if (i >= sizeof a->pstate_pub / sizeof a->pstate_pub[0]) {
            snprintf(err, errlen, "more publisher plugins than the agent has room for");
            return -1;
        }
        const publisher_plugin *pl = publisher_plugins[i];
        const registry_publisher *row = registry_publisher_find(pl->scheme);
        a->pctx_pub[i] = (plugin_ctx){pl->scheme, row ? row->section : NULL, &a->cfg, &a->secrets};
        perr[0] = 0;
        if (pl->process_init &&
            pl->process_init(&a->pctx_pub[i], &a->pstate_pub[i], perr, sizeof perr) != 0) {
            snprintf(err, errlen, "publisher %s: %s", pl->scheme, perr);
            return -1;
        }
    }
    a->pub_opt.process_states = a->pstate_pub;
    return 0;
}

void plugins_process_shutdown(agent *a)
{
    while (a->n_inited_pub > 0) {
        size_t i = --a->n_inited_pub;
        if (publisher_plugins[i]->process_shutdown)
            publisher_plugins[i]->process_shutdown(a->pstate_pub[i]);
    }
    while (a->n_inited_poll > 0) {
        size_t i = --a->n_inited_poll;
        if (a->pollsters[i]->process_shutdown) a->pollsters[i]->process_shutdown(a->pstate_poll[i]);
    }
    secrets_free(&a->secrets);
}

void plugins_status_json(agent *a, strbuf *out)
{
    strbuf_putc(out, '{');
    bool first = true;
    for (size_t i = 0; i < a->n_pollsters; i++) {
        const pollster_plugin *pp = a->pollsters[i];
        if (!pp->status_json) continue;
        char buf[1024] = "";
        pp->status_json(a->pstate_poll[i], buf, sizeof buf);
        if (!first) strbuf_putc(out, ',');
        first = false;
        strbuf_put_json_string(out, pp->desc->name);
        strbuf_putc(out, ':');
        strbuf_puts(out, buf[0] ? buf : "{}");
    }
    strbuf_putc(out, '}');
}
