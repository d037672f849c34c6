/*
 * file_sd_read.c: a file_sd document read from disk into pipeline targets
 * (see expo_sd_read_targets in expo.h). meterctl validate/push and the
 * agent's reload share it, so a list expands the same way wherever it is.
 */
#include "expo/expo.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SD_MAX_BYTES (16u * 1024u * 1024u)

static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = cap < SD_MAX_BYTES + 1 ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, SD_MAX_BYTES);
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (buf && ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
    } else if (buf && n > SD_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, SD_MAX_BYTES);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* One target of g as a pipeline_param named by its URL; 0 or -1 with err. */
static int to_target(const expo_sd_group *g, const char *target, pipeline_param *t, char *err,
                     size_t errlen)
{
    char url[4096];
    if (expo_sd_url(g, target, url, sizeof url, err, errlen) != 0) return -1;
    t->kind = PIPELINE_PARAM_MAP;
    t->name = strdup(url);
    t->items = calloc(2 * g->n_labels + 1, sizeof *t->items);
    if (t->name == NULL || t->items == NULL) goto oom;
    for (size_t i = 0; i < g->n_labels; i++) {
        if (strncmp(g->labels[i].name, "__", 2) == 0) continue;
        if ((t->items[t->n_items] = strdup(g->labels[i].name)) == NULL) goto oom;
        t->n_items++;
        if ((t->items[t->n_items] = strdup(g->labels[i].value)) == NULL) goto oom;
        t->n_items++;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int expo_sd_read_targets(void *ctx, const char *path, pipeline_param **targets, size_t *n_targets,
                         char *err, size_t errlen)
{
    *targets = NULL;
    *n_targets = 0;
    char full[4096];
    const char *dir = ctx;
    if (dir && dir[0] && path[0] != '/')
        snprintf(full, sizeof full, "%s/%s", dir, path);
    else
        snprintf(full, sizeof full, "%s", path);
    size_t len = 0;
    char *buf = read_all(full, &len, err, errlen);
    if (buf == NULL) return -1;
    expo_sd sd;
    int rc = expo_sd_parse(buf, len, full, &sd, err, errlen);
    free(buf);
    if (rc != 0) return -1;
    size_t total = 0;
    for (size_t i = 0; i < sd.n_groups; i++)
        total += sd.groups[i].n_targets;
    pipeline_param *v = calloc(total ? total : 1, sizeof *v);
    size_t n = 0;
    if (v == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < sd.n_groups; i++)
        for (size_t j = 0; rc == 0 && j < sd.groups[i].n_targets; j++) {
            char why[512];
            rc = to_target(&sd.groups[i], sd.groups[i].targets[j], &v[n++], why, sizeof why);
            if (rc != 0)
                snprintf(err, errlen, "%s: group %zu, target %s: %s", full, i + 1,
                         sd.groups[i].targets[j], why);
        }
    expo_sd_free(&sd);
    if (rc != 0) {
        pipeline_params_free(v, n);
        return -1;
    }
    *targets = v;
    *n_targets = n;
    return 0;
}

int expo_sd_expand(pipeline **p, const char *pipeline_path, pipeline_diags *diags)
{
    if (*p == NULL || !pipeline_has_file_sd(*p)) return 0;
    char dir[4096] = ".";
    if (pipeline_path && strcmp(pipeline_path, "-") != 0) {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", pipeline_path);
        snprintf(dir, sizeof dir, "%s", dirname(copy));
    }
    if (pipeline_expand_file_sd(*p, expo_sd_read_targets, dir, diags) == 0) return 0;
    pipeline_free(*p);
    *p = NULL;
    return -1;
}
