/* registry.c -- lookups over the tables and the pipeline options they make. */
#include "registry/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool registry_namespace_known(const char *ns, size_t len)
{
    for (size_t i = 0; registry_namespaces[i]; i++)
        if (strlen(registry_namespaces[i]) == len && strncmp(registry_namespaces[i], ns, len) == 0)
            return true;
    return false;
}

int registry_namespaces_check(const char *list, char *err, size_t errlen)
{
    const char *s = list;
    while (*s) {
        size_t len = strcspn(s, ",");
        const char *b = s, *e = s + len;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > b && !registry_namespace_known(b, (size_t)(e - b))) {
            char known[128] = "";
            size_t used = 0;
            for (size_t i = 0; registry_namespaces[i] && used < sizeof known; i++) {
                int n = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                 registry_namespaces[i]);
                if (n > 0) used += (size_t)n;
            }
            snprintf(err, errlen, "unknown namespace \"%.*s\" (known: %s)", (int)(e - b), b, known);
            return -1;
        }
        s += len;
        if (*s == ',') s++;
    }
    return 0;
}

bool registry_option_true(const char *value)
{
    return !strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcasecmp(value, "on") ||
           !strcmp(value, "1");
}

int registry_option_check(const registry_option *o, const char *value, char *err, size_t errlen)
{
    switch (o->type) {
    case REGISTRY_OPT_STR:
        return 0;
    case REGISTRY_OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end) {
            snprintf(err, errlen, "%s expects an integer, got \"%s\"", o->name, value);
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "%s must be between %ld and %ld, got %ld", o->name, o->min,
                     o->max, v);
            return -1;
        }
        return 0;
    }
    case REGISTRY_OPT_BOOL:
        if (registry_option_true(value) || !strcasecmp(value, "false") ||
            !strcasecmp(value, "no") || !strcasecmp(value, "off") || !strcmp(value, "0"))
            return 0;
        snprintf(err, errlen, "%s expects true or false, got \"%s\"", o->name, value);
        return -1;
    }
    snprintf(err, errlen, "%s: unknown option type", o->name);
    return -1;
}

int registry_pipeline_options(registry_options *ro, const registry_pollster *const *pollsters,
                              size_t n)
{
    memset(ro, 0, sizeof *ro);
    int rc = 0;
    if (pollsters == NULL) {
        pollsters = registry_pollsters;
        for (n = 0; registry_pollsters[n]; n++)
            ;
    }
    size_t nm = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t m = 0; pollsters[i]->meters[m]; m++) {
            if (nm == REGISTRY_MAX_METERS) {
                rc = -1;
                break;
            }
            ro->meters[nm++] = pollsters[i]->meters[m];
        }
        if (pollsters[i]->dynamic_meters) {
            if (nm == REGISTRY_MAX_METERS)
                rc = -1;
            else
                ro->meters[nm++] = pollsters[i]->dynamic_meters;
        }
    }
    size_t ns = 0;
    for (size_t i = 0; registry_publishers[i]; i++) {
        if (ns == REGISTRY_MAX_SCHEMES) {
            rc = -1;
            break;
        }
        ro->schemes[ns++] = registry_publishers[i]->url;
    }
    ro->opt.known_meters = ro->meters;
    ro->opt.n_known_meters = nm;
    ro->opt.schemes = ro->schemes;
    ro->opt.n_schemes = ns;
    for (size_t i = 0; i < n; i++) {
        if (i == REGISTRY_MAX_POLLSTERS) {
            rc = -1;
            break;
        }
        ro->pollsters[ro->n_pollsters++] = pollsters[i];
    }
    ro->opt.check_param = registry_check_param;
    ro->opt.check_param_ctx = ro;
    ro->opt.check_resource = registry_check_resource;
    return rc;
}
