/* params.c -- pollster parameters: selection, typed checks, defaults.
 *
 * A pollster declares its parameters as rows of registry_param (name, type,
 * default, bounds); pipeline/ hands each entry of a source's `parameters:`
 * to registry_check_param, which meterd and meterctl both install through
 * registry_pipeline_options. A parameter must be declared by a pollster the
 * source selects (a typo in a key is an error, not a silently ignored key)
 * and be well-typed for every such pollster that declares it.
 */
#include "registry/registry.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The literal head of a glob: the bytes before its first special character. */
static size_t literal_len(const char *glob)
{
    return strcspn(glob, "*?[");
}

bool registry_pollster_selected(const registry_pollster *p, const pipeline_source *src)
{
    for (size_t m = 0; p->meters[m]; m++)
        if (pipeline_source_selects(src, p->meters[m])) return true;
    if (!p->dynamic_meters) return false;
    size_t fam = literal_len(p->dynamic_meters);
    bool only_excl = true;
    for (size_t i = 0; i < src->n_meters; i++) {
        const char *m = src->meters[i];
        if (m[0] == '!') {
            /* "!scrape.*" or "!*" excludes the whole family */
            if (pipeline_glob_match(m + 1, p->dynamic_meters)) return false;
            continue;
        }
        only_excl = false;
        size_t lit = literal_len(m), n = lit < fam ? lit : fam;
        /* could match a member: the heads agree as far as both are literal */
        if (strncmp(m, p->dynamic_meters, n) == 0 && (lit >= fam || m[lit] != '\0')) return true;
    }
    return only_excl && src->n_meters > 0;
}

const registry_param *registry_param_find(const registry_pollster *p, const char *name)
{
    for (size_t i = 0; i < p->n_params; i++)
        if (strcmp(p->params[i].name, name) == 0) return &p->params[i];
    return NULL;
}

int registry_duration_ms(const char *text, long *ms)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || !isfinite(v) || v < 0) return -1;
    double scale = 1000;
    if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (strcmp(end, "m") == 0)
        scale = 60000;
    else if (*end && strcmp(end, "s") != 0)
        return -1;
    if (v * scale > 1e12) return -1;
    *ms = (long)(v * scale + 0.5);
    return 0;
}

static int check_choice(const registry_param *o, const char *value, char *err, size_t errlen)
{
    size_t len = strlen(value);
    for (const char *c = o->choices; *c;) {
        size_t n = strcspn(c, "|");
        if (n == len && strncmp(c, value, n) == 0) return 0;
        c += n + (c[n] == '|');
    }
    snprintf(err, errlen, "expected one of %s, got \"%s\"", o->choices, value);
    return -1;
}

/* One scalar against type t with o's bounds. */
static int check_scalar(const registry_param *o, registry_param_type t, const char *value,
                        char *err, size_t errlen)
{
    switch (t) {
    case REGISTRY_PARAM_STR:
        if (o->max > 0 && strlen(value) > (size_t)o->max) {
            snprintf(err, errlen, "longer than %ld bytes", o->max);
            return -1;
        }
        return o->choices ? check_choice(o, value, err, errlen) : 0;
    case REGISTRY_PARAM_INT:
    case REGISTRY_PARAM_BOOL: {
        registry_option copy = {
            o->name, t == REGISTRY_PARAM_INT ? REGISTRY_OPT_INT : REGISTRY_OPT_BOOL,
            o->def,  o->min,
            o->max,  o->doc};
        char msg[256];
        if (registry_option_check(&copy, value, msg, sizeof msg) == 0) return 0;
        /* registry_option_check names the option first: the caller already does */
        const char *m = strncmp(msg, o->name, strlen(o->name)) == 0 ? msg + strlen(o->name) : msg;
        while (*m == ' ')
            m++;
        snprintf(err, errlen, "%s", m);
        return -1;
    }
    case REGISTRY_PARAM_DURATION: {
        long ms;
        if (registry_duration_ms(value, &ms) != 0) {
            snprintf(err, errlen, "expected a duration (\"2s\", \"500ms\", \"1.5\"), got \"%s\"",
                     value);
            return -1;
        }
        if (ms < o->min || ms > o->max) {
            snprintf(err, errlen, "must be between %ld ms and %ld ms, got %ld ms", o->min, o->max,
                     ms);
            return -1;
        }
        return 0;
    }
    case REGISTRY_PARAM_REGEX: {
        regex_t re;
        int rc = regcomp(&re, value, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &re, why, sizeof why);
            snprintf(err, errlen, "not a valid extended regular expression: %s", why);
            return -1;
        }
        regfree(&re);
        return 0;
    }
    case REGISTRY_PARAM_LIST:
    case REGISTRY_PARAM_MAP:
        break;
    }
    snprintf(err, errlen, "unsupported item type");
    return -1;
}

static const char *kind_name(pipeline_param_kind k)
{
    return k == PIPELINE_PARAM_LIST ? "a list" : k == PIPELINE_PARAM_MAP ? "a mapping" : "a value";
}

int registry_param_check(const registry_param *o, const pipeline_param *p, char *err, size_t errlen)
{
    if (o->type == REGISTRY_PARAM_MAP) {
        size_t most = o->max > 0 ? (size_t)o->max : 256;
        if (p->kind != PIPELINE_PARAM_MAP) {
            snprintf(err, errlen, "expected a mapping, found %s", kind_name(p->kind));
            return -1;
        }
        if (p->n_items / 2 > most) {
            snprintf(err, errlen, "more than %zu entries", most);
            return -1;
        }
        return 0;
    }
    if (o->type == REGISTRY_PARAM_LIST) {
        if (p->kind == PIPELINE_PARAM_MAP) {
            snprintf(err, errlen, "expected a list, found a mapping");
            return -1;
        }
        for (size_t i = 0; i < p->n_items; i++) {
            char msg[256];
            if (check_scalar(o, o->item, p->items[i], msg, sizeof msg) != 0) {
                snprintf(err, errlen, "item %zu: %s", i + 1, msg);
                return -1;
            }
        }
        return 0;
    }
    if (p->kind != PIPELINE_PARAM_SCALAR) {
        snprintf(err, errlen, "expected a single value, found %s", kind_name(p->kind));
        return -1;
    }
    return check_scalar(o, o->type, p->items[0], err, errlen);
}

/* pipeline_options.check_param for registry_pipeline_options. */
int registry_check_param(const void *ctx, const pipeline_source *src, const pipeline_param *p,
                         char *err, size_t errlen)
{
    const registry_options *ro = ctx;
    bool declared = false, any_params = false;
    char takes[256] = "";
    for (size_t i = 0; i < ro->n_pollsters; i++) {
        const registry_pollster *pp = ro->pollsters[i];
        if (!registry_pollster_selected(pp, src)) continue;
        for (size_t k = 0; k < pp->n_params; k++) {
            size_t used = strlen(takes);
            snprintf(takes + used, sizeof takes - used, "%s%s", any_params ? ", " : "",
                     pp->params[k].name);
            any_params = true;
        }
        const registry_param *o = registry_param_find(pp, p->name);
        if (!o) continue;
        declared = true;
        char msg[384];
        if (registry_param_check(o, p, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "%s (%s: %s)", msg, pp->name, o->doc ? o->doc : o->name);
            return -1;
        }
    }
    if (declared) return 0;
    if (any_params)
        snprintf(err, errlen, "unknown parameter (the pollsters this source selects take: %s)",
                 takes);
    else
        snprintf(err, errlen, "unknown parameter (no pollster this source selects takes any)");
    return -1;
}

const char *registry_param_str(const registry_pollster *p, const pipeline_param *v, size_t n,
                               const char *name)
{
    const pipeline_param *x = pipeline_param_find(v, n, name);
    if (x && x->kind == PIPELINE_PARAM_SCALAR) return x->items[0];
    const registry_param *o = registry_param_find(p, name);
    return o && o->def ? o->def : "";
}

long registry_param_ms(const registry_pollster *p, const pipeline_param *v, size_t n,
                       const char *name)
{
    long ms = 0;
    if (registry_duration_ms(registry_param_str(p, v, n, name), &ms) != 0) return 0;
    return ms;
}
