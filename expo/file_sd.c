/*
 * file_sd.c: Prometheus' file-based service discovery document, JSON form
 * (the YAML form is file_sd_yaml.c):
 *   [ { "targets": ["host:port", ...], "labels": { "name": "value", ... } }, ... ]
 * Read with jansson (line:column for syntax errors); the shape is checked
 * here, with the group and entry named in each message because jansson
 * keeps no positions for values. Unknown keys are refused, as Prometheus'
 * strict reader does, so a typo ("label") is not silently ignored.
 */
#include "expo/expo.h"
#include "expo/file_sd_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool expo_sd_label_name_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static int read_group(json_t *g, size_t gi, const char *name, expo_sd_group *out, char *err,
                      size_t errlen)
{
    if (!json_is_object(g)) {
        snprintf(err, errlen, "%s: group %zu: expected an object with \"targets\"", name, gi + 1);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(g, key, v)
    {
        if (strcmp(key, "targets") != 0 && strcmp(key, "labels") != 0) {
            snprintf(err, errlen, "%s: group %zu: unknown key \"%.60s\" (expected targets, labels)",
                     name, gi + 1, key);
            return -1;
        }
    }
    json_t *t = json_object_get(g, "targets"), *l = json_object_get(g, "labels");
    if (!json_is_array(t)) {
        snprintf(err, errlen, "%s: group %zu: \"targets\" must be an array of \"host:port\"", name,
                 gi + 1);
        return -1;
    }
    if (l && !json_is_object(l)) {
        snprintf(err, errlen, "%s: group %zu: \"labels\" must be an object", name, gi + 1);
        return -1;
    }
    out->targets = calloc(json_array_size(t) + 1, sizeof *out->targets);
    out->labels = calloc((l ? json_object_size(l) : 0) + 1, sizeof *out->labels);
    if (!out->targets || !out->labels) goto oom;
    size_t i;
    json_array_foreach(t, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !*s || strchr(s, '/') || strlen(s) != json_string_length(v)) {
            snprintf(err, errlen, "%s: group %zu: target %zu: expected \"host:port\"", name, gi + 1,
                     i + 1);
            return -1;
        }
        if (!(out->targets[out->n_targets++] = strdup(s))) goto oom;
    }
    if (l) {
        json_object_foreach(l, key, v)
        {
            const char *s = json_string_value(v);
            if (!expo_sd_label_name_ok(key) || !s || strlen(s) != json_string_length(v)) {
                snprintf(err, errlen,
                         "%s: group %zu: label \"%.60s\": expected a name [a-zA-Z_][a-zA-Z0-9_]* "
                         "with a string value",
                         name, gi + 1, key);
                return -1;
            }
            expo_label *x = &out->labels[out->n_labels++];
            x->name = strdup(key);
            x->value = strdup(s);
            if (!x->name || !x->value) goto oom;
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", name);
    return -1;
}

int expo_sd_parse(const char *buf, size_t len, const char *name, expo_sd *out, char *err,
                  size_t errlen)
{
    size_t nl = strlen(name);
    if ((nl > 4 && strcmp(name + nl - 4, ".yml") == 0) ||
        (nl > 5 && strcmp(name + nl - 5, ".yaml") == 0))
        return expo_sd_parse_yaml(buf, len, name, out, err, errlen);
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_array(root)) {
        snprintf(err, errlen, "%s:1:1: expected an array of target groups", name);
        goto out;
    }
    out->groups = calloc(json_array_size(root) + 1, sizeof *out->groups);
    if (!out->groups) {
        snprintf(err, errlen, "%s: out of memory", name);
        goto out;
    }
    size_t i;
    json_t *g;
    json_array_foreach(root, i, g)
    {
        out->n_groups++;
        if (read_group(g, i, name, &out->groups[i], err, errlen) != 0) goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc != 0) expo_sd_free(out);
    return rc;
}

void expo_sd_free(expo_sd *sd)
{
    for (size_t i = 0; i < sd->n_groups; i++) {
        expo_sd_group *g = &sd->groups[i];
        for (size_t k = 0; k < g->n_targets; k++)
            free(g->targets[k]);
        for (size_t k = 0; k < g->n_labels; k++) {
            free((char *)g->labels[k].name);
            free((char *)g->labels[k].value);
        }
        free(g->targets);
        free(g->labels);
    }
    free(sd->groups);
    memset(sd, 0, sizeof *sd);
}

static const char *group_label(const expo_sd_group *g, const char *name, const char *def)
{
    for (size_t i = 0; i < g->n_labels; i++)
        if (strcmp(g->labels[i].name, name) == 0) return g->labels[i].value;
    return def;
}

int expo_sd_url(const expo_sd_group *g, const char *target, char *out, size_t cap, char *err,
                size_t errlen)
{
    const char *scheme = group_label(g, "__scheme__", "http");
    const char *path = group_label(g, "__metrics_path__", "/metrics");
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(err, errlen, "target %s: __scheme__ \"%.40s\" (expected http or https)", target,
                 scheme);
        return -1;
    }
    int n = snprintf(out, cap, "%s://%s%s%s", scheme, target, path[0] == '/' ? "" : "/", path);
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errlen, "target %s: URL longer than %zu bytes", target, cap - 1);
        return -1;
    }
    return 0;
}
