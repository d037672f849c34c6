/* params.c -- a source's `parameters:` mapping (a meterd extension).
 *
 * Ceilometer's PollingSource reads only the keys it knows, so a file with
 * `parameters:` still loads there. Parameters are per source, not in the
 * resource URL: a resource string is the target's id (its partition key and
 * `resource` label), and real URLs carry queries of their own.
 *
 * This file knows the shape only: a mapping of unique names to a scalar, a
 * list of scalars or a mapping of scalars, every text bounded and free of
 * control characters (a header value with a CR LF in it would be a request
 * smuggled into someone's server). What a name means and its type belong to
 * the pollsters (registry/), asked through lim->check_param per entry, whose
 * message is reported at the value's line:column. No checker: nothing
 * declares a parameter, so every one is refused.
 */
#include "pipeline/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PL_MAX_PARAMS      64
#define PL_MAX_PARAM_ITEMS 256
#define PL_MAX_TARGETS     1000000 /* target_labels entries: one per resource at most */

static char *item_text(const pl_node *n, const char *file, const char *name, pipeline_diags *d,
                       bool *oom)
{
    char q[PL_QUOTE_MAX * 4 + 8];
    if (n->kind != PL_SCALAR) {
        pl_diag(d, file, PIPELINE_ERROR, n->line, n->col,
                "parameter '%s': expected a text value here, found %s",
                pl_quote(name, strlen(name), q, sizeof q), pl_kind_name(n));
        return NULL;
    }
    if (strlen(n->value) != n->len || n->len > PL_MAX_URL || pl_has_control(n->value, n->len)) {
        pl_diag(d, file, PIPELINE_ERROR, n->line, n->col,
                "parameter '%s': a value must be at most %d bytes of text without control "
                "characters",
                pl_quote(name, strlen(name), q, sizeof q), PL_MAX_URL);
        return NULL;
    }
    char *s = strdup(pl_is_null(n) ? "" : n->value);
    if (s == NULL) *oom = true;
    return s;
}

/* One value into p (kind, items); false after a diag. */
static bool parse_value(const pl_node *n, const char *file, pipeline_param *p, pipeline_diags *d,
                        bool *oom)
{
    char q[PL_QUOTE_MAX * 4 + 8];
    p->line = n->line;
    p->column = n->col;
    size_t want = 1;
    p->kind = PIPELINE_PARAM_SCALAR;
    if (n->kind == PL_SEQ) {
        p->kind = PIPELINE_PARAM_LIST;
        want = n->n_kids;
    } else if (n->kind == PL_MAP) {
        p->kind = PIPELINE_PARAM_MAP;
        want = n->n_kids;
    } else if (pl_is_null(n)) {
        pl_diag(d, file, PIPELINE_ERROR, n->line, n->col,
                "parameter '%s' has no value (leave the key out for the default)",
                pl_quote(p->name, strlen(p->name), q, sizeof q));
        return false;
    }
    if (want > PL_MAX_PARAM_ITEMS * (p->kind == PIPELINE_PARAM_MAP ? 2 : 1)) {
        pl_diag(d, file, PIPELINE_ERROR, n->line, n->col, "parameter '%s' has more than %d entries",
                pl_quote(p->name, strlen(p->name), q, sizeof q), PL_MAX_PARAM_ITEMS);
        return false;
    }
    p->items = calloc(want ? want : 1, sizeof *p->items);
    if (p->items == NULL) {
        *oom = true;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < want; i++) {
        const pl_node *kid = p->kind == PIPELINE_PARAM_SCALAR ? n : n->kids[i];
        char *s = item_text(kid, file, p->name, d, oom);
        if (s == NULL) {
            ok = false;
            continue;
        }
        /* a mapping's keys are unique, as everywhere else in the file */
        for (size_t j = 0; p->kind == PIPELINE_PARAM_MAP && i % 2 == 0 && j < p->n_items; j += 2)
            if (strcmp(p->items[j], s) == 0) {
                pl_diag(d, file, PIPELINE_ERROR, kid->line, kid->col,
                        "parameter '%s': duplicate key '%s'",
                        pl_quote(p->name, strlen(p->name), q, sizeof q), s);
                ok = false;
            }
        p->items[p->n_items++] = s;
    }
    if (p->kind == PIPELINE_PARAM_MAP && p->n_items % 2) ok = false; /* a key failed: drop all */
    return ok;
}

/* A mapping of unique names to values into *v / *nv (at most max); each
 * entry passed to check (NULL: none) with its source; false after a diag. */
typedef bool (*entry_check)(const pl_node *val, const char *file, const pl_limits *lim,
                            pipeline_source *s, const pipeline_param *p, pipeline_diags *d);

static bool parse_entries(const pl_node *n, const char *file, const pl_limits *lim,
                          pipeline_source *s, const char *key, const char *what, size_t max,
                          entry_check check, pipeline_param **v, size_t *nv, pipeline_diags *d,
                          bool *oom)
{
    char q[PL_QUOTE_MAX * 4 + 8];
    if (pl_is_null(n)) return true;
    if (n->kind != PL_MAP) {
        pl_diag(d, file, PIPELINE_ERROR, n->line, n->col,
                "expected a mapping of %s names to values for '%s', found %s", what, key,
                pl_kind_name(n));
        return false;
    }
    size_t count = n->n_kids / 2;
    if (count > max) {
        pl_diag(d, file, PIPELINE_ERROR, n->line, n->col, "%zu %ss, more than the limit of %zu",
                count, what, max);
        return false;
    }
    *v = calloc(count ? count : 1, sizeof **v);
    if (*v == NULL) {
        *oom = true;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < count; i++) {
        const pl_node *k = n->kids[2 * i], *val = n->kids[2 * i + 1];
        if (k->kind != PL_SCALAR || strlen(k->value) != k->len || k->len == 0 ||
            k->len > PL_MAX_TEXT || pl_has_control(k->value, k->len)) {
            pl_diag(d, file, PIPELINE_ERROR, k->line, k->col,
                    "expected a %s name (plain text of at most %d bytes)", what, PL_MAX_TEXT);
            ok = false;
            continue;
        }
        if (pipeline_param_find(*v, *nv, k->value)) {
            pl_diag(d, file, PIPELINE_ERROR, k->line, k->col, "duplicate %s '%s'", what,
                    pl_quote(k->value, k->len, q, sizeof q));
            ok = false;
            continue;
        }
        pipeline_param *p = &(*v)[(*nv)++];
        if ((p->name = strdup(k->value)) == NULL) {
            *oom = true;
            return false;
        }
        if (!parse_value(val, file, p, d, oom) || (check && !check(val, file, lim, s, p, d)))
            ok = false;
    }
    return ok;
}

static bool check_param(const pl_node *val, const char *file, const pl_limits *lim,
                        pipeline_source *s, const pipeline_param *p, pipeline_diags *d)
{
    char q[PL_QUOTE_MAX * 4 + 8];
    char err[512] = "no pollster of this source takes parameters";
    if (lim->check_param && lim->check_param(lim->check_param_ctx, s, p, err, sizeof err) == 0)
        return true;
    pl_diag(d, file, PIPELINE_ERROR, val->line, val->col, "source '%s': parameter '%s': %s",
            s->name ? s->name : "?", pl_quote(p->name, strlen(p->name), q, sizeof q), err);
    return false;
}

bool pl_parse_params(const pl_node *n, const char *file, const pl_limits *lim, pipeline_source *s,
                     pipeline_diags *d, bool *oom)
{
    return parse_entries(n, file, lim, s, "parameters", "parameter", PL_MAX_PARAMS, check_param,
                         &s->params, &s->n_params, d, oom);
}

static bool check_labels(const pl_node *val, const char *file, const pl_limits *lim,
                         pipeline_source *s, const pipeline_param *p, pipeline_diags *d)
{
    (void)lim;
    char q[PL_QUOTE_MAX * 4 + 8];
    const char *key = p->name;
    bool listed = s->n_resources &&
                  bsearch(&key, s->resources, s->n_resources, sizeof *s->resources, pl_strcmp_p);
    if (p->kind == PIPELINE_PARAM_MAP && listed) return true;
    pl_diag(d, file, PIPELINE_ERROR, val->line, val->col,
            p->kind != PIPELINE_PARAM_MAP
                ? "target_labels of '%s': expected a mapping of label names to values"
                : "target_labels names '%s', which is not one of the source's resources",
            pl_quote(p->name, strlen(p->name), q, sizeof q));
    return false;
}

bool pl_parse_target_labels(const pl_node *n, const char *file, pipeline_source *s,
                            pipeline_diags *d, bool *oom)
{
    /* sorted now (canonicalisation would anyway) so each name is a bsearch */
    if (s->n_resources > 1) qsort(s->resources, s->n_resources, sizeof *s->resources, pl_strcmp_p);
    return parse_entries(n, file, NULL, s, "target_labels", "resource", PL_MAX_TARGETS,
                         check_labels, &s->target_labels, &s->n_target_labels, d, oom);
}

const pipeline_param *pipeline_param_find(const pipeline_param *v, size_t n, const char *name)
{
    for (size_t i = 0; v && name && i < n; i++)
        if (v[i].name && strcmp(v[i].name, name) == 0) return &v[i];
    return NULL;
}

void pipeline_params_free(pipeline_param *v, size_t n)
{
    if (v == NULL) return;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < v[i].n_items; j++)
            free(v[i].items[j]);
        free(v[i].items);
        free(v[i].name);
    }
    free(v);
}

int pipeline_params_copy(const pipeline_param *v, size_t n, pipeline_param **out)
{
    *out = calloc(n ? n : 1, sizeof **out);
    if (*out == NULL) return -1;
    for (size_t i = 0; i < n; i++) {
        pipeline_param *p = &(*out)[i];
        *p = v[i];
        p->n_items = 0;
        p->name = strdup(v[i].name);
        p->items = calloc(v[i].n_items ? v[i].n_items : 1, sizeof *p->items);
        if (p->name == NULL || p->items == NULL) goto fail;
        for (; p->n_items < v[i].n_items; p->n_items++)
            if ((p->items[p->n_items] = strdup(v[i].items[p->n_items])) == NULL) goto fail;
        continue;
    fail:
        pipeline_params_free(*out, i + 1);
        *out = NULL;
        return -1;
    }
    return 0;
}
