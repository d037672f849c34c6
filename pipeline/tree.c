/* tree.c -- libyaml's event stream to a bounded node tree.
 *
 * We drive libyaml's parser event by event rather than its document loader
 * because the loader has no bounds: a 30-line "billion laughs" file of nested
 * aliases, or ten thousand '[' in a row, would make any later walk explode.
 * Here every bound is enforced as the events arrive:
 *   - bytes: checked before libyaml sees the buffer;
 *   - depth: a collection deeper than max_depth stops the parse;
 *   - expansion: each node carries its weight (itself plus everything under
 *     it, aliases counted at their full expanded size); the document is
 *     refused as soon as any weight passes max_nodes, so the validator can
 *     walk the tree, aliases and all, in bounded time;
 *   - anchors: at most PL_MAX_ANCHORS, looked up linearly (cheap at that size);
 *   - recursion: an alias to a collection that is still open is refused.
 * An alias shares its target node (no copy). Every node sits on one owner
 * list (`all`), so freeing never follows the shared edges.
 *
 * libyaml reports its errors with a problem and an optional context, each
 * with a 0-based mark; we turn them into one 1-based diagnostic and add the
 * hints people need most (tabs in indentation, bad UTF-8 at a byte offset).
 */
#include "pipeline/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct {
    char *name;
    pl_node *node;
} anchor;

typedef struct {
    const char *buf;
    size_t len;
    const char *file;
    const pl_limits *lim;
    pl_tree *tree;
    pipeline_diags *d;
    pl_node **stack; /* open collections */
    int depth;
    anchor anchors[PL_MAX_ANCHORS];
    size_t n_anchors;
    bool failed;
} builder;

static void tree_error(builder *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void tree_error(builder *b, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pl_vdiag(b->d, b->file, PIPELINE_ERROR, line, col, fmt, ap);
    va_end(ap);
    b->failed = true;
}

const char *pl_kind_name(const pl_node *n)
{
    if (n == NULL) return "nothing";
    switch (n->kind) {
    case PL_SCALAR:
        return "a scalar";
    case PL_SEQ:
        return "a list";
    case PL_MAP:
        return "a mapping";
    }
    return "a node";
}

static pl_node *node_new(builder *b, pl_kind kind, const yaml_mark_t *m)
{
    pl_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        pl_diag_oom(b->d, b->file);
        b->failed = true;
        return NULL;
    }
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->weight = 1;
    n->next_all = b->tree->all;
    b->tree->all = n;
    return n;
}

static size_t sat_add(size_t a, size_t b)
{
    return a + b < a ? (size_t)-1 : a + b;
}

/* Attach n (new or aliased) under the innermost open collection, or as root. */
static void attach(builder *b, pl_node *n, const yaml_mark_t *m)
{
    if (b->depth == 0) {
        b->tree->root = n;
        return;
    }
    pl_node *parent = b->stack[b->depth - 1];
    if (parent->n_kids == parent->cap_kids) {
        size_t cap = parent->cap_kids ? parent->cap_kids * 2 : 4;
        pl_node **k = realloc(parent->kids, cap * sizeof *k);
        if (k == NULL) {
            pl_diag_oom(b->d, b->file);
            b->failed = true;
            return;
        }
        parent->kids = k;
        parent->cap_kids = cap;
    }
    parent->kids[parent->n_kids++] = n;
    /* Weights flow up eagerly so a bomb is caught at the alias that detonates it. */
    for (int i = b->depth - 1; i >= 0; i--) {
        b->stack[i]->weight = sat_add(b->stack[i]->weight, n->weight);
        if (b->stack[i]->weight > b->lim->max_nodes) {
            char lim[32];
            snprintf(lim, sizeof lim, "%zu", b->lim->max_nodes);
            tree_error(b, (int)m->line + 1, (int)m->column + 1,
                       "document expands to more than %s nodes (aliases counted at their "
                       "expanded size); refusing it",
                       lim);
            return;
        }
    }
}

static void remember_anchor(builder *b, const yaml_char_t *name, pl_node *n, const yaml_mark_t *m)
{
    if (name == NULL) return;
    if (b->n_anchors == PL_MAX_ANCHORS) {
        tree_error(b, (int)m->line + 1, (int)m->column + 1,
                   "too many anchors (more than %s); a pipeline needs a handful", "4096");
        return;
    }
    char *copy = strdup((const char *)name);
    if (copy == NULL) {
        pl_diag_oom(b->d, b->file);
        b->failed = true;
        return;
    }
    b->anchors[b->n_anchors].name = copy;
    b->anchors[b->n_anchors].node = n;
    b->n_anchors++;
}

static pl_node *find_anchor(builder *b, const char *name)
{
    /* Newest first: YAML lets an anchor be redefined, and the latest wins. */
    for (size_t i = b->n_anchors; i-- > 0;)
        if (strcmp(b->anchors[i].name, name) == 0) return b->anchors[i].node;
    return NULL;
}

static void on_scalar(builder *b, const yaml_event_t *ev)
{
    pl_node *n = node_new(b, PL_SCALAR, &ev->start_mark);
    if (n == NULL) return;
    size_t len = ev->data.scalar.length;
    n->value = malloc(len + 1);
    if (n->value == NULL) {
        pl_diag_oom(b->d, b->file);
        b->failed = true;
        return;
    }
    memcpy(n->value, ev->data.scalar.value, len);
    n->value[len] = '\0';
    n->len = len;
    n->plain = ev->data.scalar.plain_implicit && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->complete = true;
    remember_anchor(b, ev->data.scalar.anchor, n, &ev->start_mark);
    attach(b, n, &ev->start_mark);
}

static void on_start(builder *b, const yaml_event_t *ev, pl_kind kind)
{
    if (b->depth >= b->lim->max_depth) {
        char lim[16];
        snprintf(lim, sizeof lim, "%d", b->lim->max_depth);
        tree_error(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                   "nesting deeper than %s levels; a pipeline needs 4", lim);
        return;
    }
    pl_node *n = node_new(b, kind, &ev->start_mark);
    if (n == NULL) return;
    const yaml_char_t *anchor_name =
        kind == PL_SEQ ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
    remember_anchor(b, anchor_name, n, &ev->start_mark);
    if (b->failed) return;
    attach(b, n, &ev->start_mark);
    if (b->failed) return;
    b->stack[b->depth++] = n;
}

static void on_alias(builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    pl_node *target = find_anchor(b, name);
    char q[PL_QUOTE_MAX * 4 + 8];
    if (target == NULL) {
        tree_error(b, line, col, "alias '*%s' refers to no anchor defined before it",
                   pl_quote(name, strlen(name), q, sizeof q));
        return;
    }
    if (!target->complete) {
        tree_error(b, line, col, "alias '*%s' refers to a collection that contains it (recursive)",
                   pl_quote(name, strlen(name), q, sizeof q));
        return;
    }
    attach(b, target, &ev->start_mark);
}

/* Line and column (1-based, in characters) of a byte offset, for reader errors. */
static void offset_position(const char *buf, size_t len, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static void parser_error(builder *b, const yaml_parser_t *p)
{
    int line, col;
    if (p->error == YAML_READER_ERROR) {
        /* libyaml points at the offending byte; for a broken sequence, point
         * at the byte that started it, which is what an editor shows. */
        size_t off = p->problem_offset;
        if (strstr(p->problem, "trailing") != NULL) {
            while (off > 0 && off <= b->len && ((unsigned char)b->buf[off - 1] & 0xc0) == 0x80)
                off--;
            if (off > 0) off--;
        }
        offset_position(b->buf, b->len, off, &line, &col);
        char msg[160];
        if (off < b->len)
            snprintf(msg, sizeof msg, "%s (byte 0x%02x at offset %zu)", p->problem,
                     (unsigned char)b->buf[off], off);
        else
            snprintf(msg, sizeof msg, "%s (at offset %zu)", p->problem, off);
        tree_error(b, line, col, "not valid UTF-8 text: %s; a pipeline must be UTF-8", msg);
        return;
    }
    if (p->error == YAML_MEMORY_ERROR) {
        pl_diag_oom(b->d, b->file);
        b->failed = true;
        return;
    }
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    const char *problem = p->problem ? p->problem : "syntax error";
    /* libyaml names a tab "a character that cannot start any token"; say what it is. */
    bool tab = false;
    if (strstr(problem, "cannot start any token") != NULL) {
        /* mark.index counts characters; find the byte by walking lines. */
        size_t l = 0, i = 0;
        while (i < b->len && l < p->problem_mark.line) {
            if (b->buf[i] == '\n') l++;
            i++;
        }
        size_t c = 0;
        while (i < b->len && c < p->problem_mark.column) {
            if (((unsigned char)b->buf[i] & 0xc0) != 0x80) c++;
            i++;
        }
        while (i < b->len && ((unsigned char)b->buf[i] & 0xc0) == 0x80)
            i++;
        tab = i < b->len && b->buf[i] == '\t';
    }
    char msg[400];
    if (tab)
        snprintf(msg, sizeof msg,
                 "tab character where YAML expects spaces: indent with spaces only");
    else if (p->context)
        snprintf(msg, sizeof msg, "YAML syntax: %s (%s that started at line %d, column %d)",
                 problem, p->context, (int)p->context_mark.line + 1,
                 (int)p->context_mark.column + 1);
    else
        snprintf(msg, sizeof msg, "YAML syntax: %s", problem);
    tree_error(b, line, col, "%s", msg);
}

int pl_tree_build(const char *buf, size_t len, const char *file, const pl_limits *lim,
                  pl_tree *tree, pipeline_diags *d)
{
    memset(tree, 0, sizeof *tree);
    if (len > lim->max_bytes) {
        char msg[96];
        snprintf(msg, sizeof msg, "%zu bytes, more than the limit of %zu", len, lim->max_bytes);
        pl_diag(d, file, PIPELINE_ERROR, 1, 1, "document too large: %s", msg);
        return -1;
    }
    builder *b = calloc(1, sizeof *b);
    if (b == NULL) {
        pl_diag_oom(d, file);
        return -1;
    }
    b->buf = buf;
    b->len = len;
    b->file = file;
    b->lim = lim;
    b->tree = tree;
    b->d = d;
    b->stack = calloc((size_t)lim->max_depth + 1, sizeof *b->stack);
    yaml_parser_t parser;
    if (b->stack == NULL || !yaml_parser_initialize(&parser)) {
        free(b->stack);
        free(b);
        pl_diag_oom(d, file);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

    int documents = 0;
    bool done = false;
    while (!done && !b->failed) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            parser_error(b, &parser);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1)
                tree_error(b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                           "a second YAML document; a pipeline file holds %s", "exactly one");
            break;
        case YAML_SCALAR_EVENT:
            on_scalar(b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            on_start(b, &ev, PL_SEQ);
            break;
        case YAML_MAPPING_START_EVENT:
            on_start(b, &ev, PL_MAP);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (b->depth > 0) b->stack[--b->depth]->complete = true;
            break;
        case YAML_ALIAS_EVENT:
            on_alias(b, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    for (size_t i = 0; i < b->n_anchors; i++)
        free(b->anchors[i].name);
    bool failed = b->failed;
    free(b->stack);
    free(b);
    if (failed) {
        pl_tree_free(tree);
        return -1;
    }
    return 0;
}

void pl_tree_free(pl_tree *tree)
{
    pl_node *n = tree->all;
    while (n != NULL) {
        pl_node *next = n->next_all;
        free(n->value);
        free(n->kids);
        free(n);
        n = next;
    }
    tree->all = tree->root = NULL;
}
