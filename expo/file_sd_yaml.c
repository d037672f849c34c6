/*
 * file_sd_yaml.c: Prometheus' file_sd document in its YAML form (*.yml,
 * *.yaml), the same shape as the JSON one:
 *   - targets: ['host:port', ...]
 *     labels: {name: value, ...}
 * Read with libyaml's document API; every refusal names the node's
 * line:column. Anchors and aliases are refused (a target list has no use for
 * them, and they are the YAML bomb's tool).
 */
#include "expo/expo.h"
#include "expo/file_sd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct yctx {
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t errlen;
} yctx;

static int yfail(yctx *c, const yaml_node_t *n, const char *msg)
{
    snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->name, n->start_mark.line + 1,
             n->start_mark.column + 1, msg);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int read_targets(yctx *c, yaml_node_t *t, expo_sd_group *g)
{
    if (t->type != YAML_SEQUENCE_NODE)
        return yfail(c, t, "\"targets\" must be a list of \"host:port\"");
    size_t n = (size_t)(t->data.sequence.items.top - t->data.sequence.items.start);
    g->targets = calloc(n + 1, sizeof *g->targets);
    if (!g->targets) return yfail(c, t, "out of memory");
    for (yaml_node_item_t *i = t->data.sequence.items.start; i < t->data.sequence.items.top; i++) {
        yaml_node_t *v = yaml_document_get_node(c->doc, *i);
        const char *s = scalar(v);
        if (!s || !*s || strchr(s, '/') || strlen(s) != v->data.scalar.length)
            return yfail(c, v, "expected \"host:port\"");
        if (!(g->targets[g->n_targets++] = strdup(s))) return yfail(c, v, "out of memory");
    }
    return 0;
}

static int read_labels(yctx *c, yaml_node_t *l, expo_sd_group *g)
{
    if (l->type != YAML_MAPPING_NODE) return yfail(c, l, "\"labels\" must be a mapping");
    size_t n = (size_t)(l->data.mapping.pairs.top - l->data.mapping.pairs.start);
    g->labels = calloc(n + 1, sizeof *g->labels);
    if (!g->labels) return yfail(c, l, "out of memory");
    for (yaml_node_pair_t *p = l->data.mapping.pairs.start; p < l->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *ks = scalar(k), *vs = scalar(v);
        if (!ks || !expo_sd_label_name_ok(ks))
            return yfail(c, k, "expected a label name [a-zA-Z_][a-zA-Z0-9_]*");
        if (!vs || strlen(vs) != v->data.scalar.length)
            return yfail(c, v, "expected a label value (text)");
        for (size_t i = 0; i < g->n_labels; i++)
            if (strcmp(g->labels[i].name, ks) == 0) return yfail(c, k, "label given twice");
        expo_label *x = &g->labels[g->n_labels++];
        x->name = strdup(ks);
        x->value = strdup(vs);
        if (!x->name || !x->value) return yfail(c, k, "out of memory");
    }
    return 0;
}

static int read_group(yctx *c, yaml_node_t *n, expo_sd_group *g)
{
    if (n->type != YAML_MAPPING_NODE) return yfail(c, n, "expected a mapping with \"targets\"");
    yaml_node_t *targets = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *ks = scalar(k);
        if (ks && strcmp(ks, "targets") == 0 && !targets) {
            targets = v;
            if (read_targets(c, v, g) != 0) return -1;
        } else if (ks && strcmp(ks, "labels") == 0 && !g->labels) {
            if (read_labels(c, v, g) != 0) return -1;
        } else {
            return yfail(c, k, "unknown or repeated key (expected targets, labels)");
        }
    }
    if (!targets) return yfail(c, n, "a group needs \"targets\"");
    return 0;
}

/* Refuses anchors and aliases before the document API expands them. */
static int check_events(const char *buf, size_t len, yctx *c)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return -1;
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    int rc = 0;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->name, p.problem_mark.line + 1,
                     p.problem_mark.column + 1, p.problem ? p.problem : "invalid YAML");
            rc = -1;
            break;
        }
        bool anchor = e.type == YAML_ALIAS_EVENT ||
                      (e.type == YAML_SCALAR_EVENT && e.data.scalar.anchor) ||
                      (e.type == YAML_SEQUENCE_START_EVENT && e.data.sequence_start.anchor) ||
                      (e.type == YAML_MAPPING_START_EVENT && e.data.mapping_start.anchor);
        bool end = e.type == YAML_STREAM_END_EVENT;
        if (anchor)
            snprintf(c->err, c->errlen, "%s:%zu:%zu: anchors and aliases are not accepted", c->name,
                     e.start_mark.line + 1, e.start_mark.column + 1);
        yaml_event_delete(&e);
        if (anchor) rc = -1;
        if (anchor || end) break;
    }
    yaml_parser_delete(&p);
    return rc;
}

int expo_sd_parse_yaml(const char *buf, size_t len, const char *name, expo_sd *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    yctx c = {.name = name, .err = err, .errlen = errlen};
    if (check_events(buf, len, &c) != 0) return -1;
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    int ok = yaml_parser_load(&p, &doc);
    yaml_parser_delete(&p);
    if (!ok) {
        snprintf(err, errlen, "%s: invalid YAML", name);
        return -1;
    }
    c.doc = &doc;
    int rc = -1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) { /* an empty file: no targets, as Prometheus reads it */
        rc = 0;
        goto out;
    }
    if (root->type != YAML_SEQUENCE_NODE) {
        yfail(&c, root, "expected a list of target groups");
        goto out;
    }
    size_t n = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
    out->groups = calloc(n + 1, sizeof *out->groups);
    if (!out->groups) {
        yfail(&c, root, "out of memory");
        goto out;
    }
    for (yaml_node_item_t *i = root->data.sequence.items.start; i < root->data.sequence.items.top;
         i++) {
        expo_sd_group *g = &out->groups[out->n_groups++];
        if (read_group(&c, yaml_document_get_node(&doc, *i), g) != 0) goto out;
    }
    rc = 0;
out:
    yaml_document_delete(&doc);
    if (rc != 0) expo_sd_free(out);
    return rc;
}
