/* file_sd.c -- a source's `file_sd:` documents expanded into its targets.
 *
 * The one-definition rule: every member of a group polls what one revision
 * says. A revision that named a file would have each member read its own
 * copy, so meterctl expands the files before it pushes (the revision then
 * carries the resources and their labels), and a standalone agent expands
 * them at each reload. Reading is the caller's (pipeline/ does no I/O of its
 * own); this file merges what was read and computes the canonical form again.
 */
#include "pipeline/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pipeline_has_file_sd(const pipeline *p)
{
    for (size_t i = 0; p && i < p->n_sources; i++)
        if (p->sources[i].n_file_sd) return true;
    return false;
}

static bool same_labels(const pipeline_param *a, const pipeline_param *b)
{
    if (a->n_items != b->n_items) return false;
    for (size_t i = 0; i < a->n_items; i++)
        if (strcmp(a->items[i], b->items[i]) != 0) return false;
    return true;
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *nv = realloc(*v, c * size);
    if (nv == NULL) return -1;
    *v = nv;
    *cap = c;
    return 0;
}

/* Adds one document's targets to s; takes t's strings (t is left empty).
 * 0, -1 on ENOMEM, or 1 with the conflicting resource in *clash. */
static int merge(pipeline_source *s, size_t *cap_res, size_t *cap_lab, pipeline_param *t, size_t n,
                 const char **clash)
{
    for (size_t i = 0; i < n; i++) {
        pipeline_param *old = NULL;
        for (size_t j = 0; j < s->n_target_labels && !old; j++)
            if (strcmp(s->target_labels[j].name, t[i].name) == 0) old = &s->target_labels[j];
        bool known = old != NULL;
        for (size_t j = 0; j < s->n_resources && !known; j++)
            known = strcmp(s->resources[j], t[i].name) == 0;
        if (known && (old ? !same_labels(old, &t[i]) : t[i].n_items != 0)) {
            *clash = t[i].name;
            return 1;
        }
        if (known) continue;
        if (grow((void **)&s->resources, cap_res, s->n_resources + 1, sizeof *s->resources) != 0)
            return -1;
        char *r = strdup(t[i].name);
        if (r == NULL) return -1;
        s->resources[s->n_resources++] = r;
        if (t[i].n_items == 0) continue;
        if (grow((void **)&s->target_labels, cap_lab, s->n_target_labels + 1,
                 sizeof *s->target_labels) != 0)
            return -1;
        s->target_labels[s->n_target_labels++] = t[i];
        memset(&t[i], 0, sizeof t[i]); /* moved */
    }
    return 0;
}

int pipeline_expand_file_sd(pipeline *p, pipeline_sd_read_fn read, void *ctx, pipeline_diags *diags)
{
    for (size_t i = 0; i < p->n_sources; i++) {
        pipeline_source *s = &p->sources[i];
        /* capacities unknown: the arrays are exactly as long as their counts */
        size_t cap_res = s->n_resources, cap_lab = s->n_target_labels;
        for (size_t f = 0; f < s->n_file_sd; f++) {
            pipeline_param *t = NULL;
            size_t n = 0;
            char err[1024] = "";
            if (read(ctx, s->file_sd[f], &t, &n, err, sizeof err) != 0) {
                pl_diag(diags, "<file_sd>", PIPELINE_ERROR, s->line, s->column,
                        "source '%s': file_sd %s", s->name, err);
                return -1;
            }
            const char *clash = NULL;
            int rc = merge(s, &cap_res, &cap_lab, t, n, &clash);
            if (rc > 0)
                pl_diag(diags, "<file_sd>", PIPELINE_ERROR, s->line, s->column,
                        "source '%s': file_sd %s lists target %s again with other labels (a "
                        "target has one set of labels)",
                        s->name, s->file_sd[f], clash);
            else if (rc < 0)
                pl_diag_oom(diags, "<file_sd>");
            pipeline_params_free(t, n);
            if (rc != 0) return -1;
        }
        for (size_t f = 0; f < s->n_file_sd; f++)
            free(s->file_sd[f]);
        free(s->file_sd);
        s->file_sd = NULL;
        s->n_file_sd = 0;
    }
    if (pl_canonicalise(p) != 0) {
        pl_diag_oom(diags, "<file_sd>");
        return -1;
    }
    return 0;
}
