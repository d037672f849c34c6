/* internal.h -- what the pipeline module's files share and nobody else sees.
 *
 * The module reads YAML in two steps. tree.c turns libyaml's event stream
 * into a small node tree (pl_node), enforcing every bound on the way (bytes,
 * nesting depth, alias expansion, anchor count) so that nothing after it can
 * be made to loop or allocate without limit. validate.c then walks that tree
 * with Ceilometer's rules and fills the public `pipeline` struct, collecting
 * as many diagnostics as it can in one pass. canonical.c sorts, serialises
 * and hashes; diff.c compares two results. Keeping the tree step separate
 * means libyaml's error handling lives in one place, and validation works
 * on positions (pl_node.line/col) rather than on parser state.
 *
 * Internal names are prefixed pl_ (the public ones pipeline_).
 */
#ifndef METERD_PIPELINE_INTERNAL_H
#define METERD_PIPELINE_INTERNAL_H

#include "pipeline/pipeline.h"

#include <stdarg.h>

#define PL_MAX_ANCHORS 4096 /* a hand-written pipeline uses a handful */
#define PL_QUOTE_MAX   80   /* longest user text quoted in a message */
/* Longest name, meter pattern, resource or discovery entry, in bytes. Each
 * lands in every sample, /metrics line and log line: unbounded, a 10 MB name
 * costs tens of MB per scrape. 255 is the partition module's id bound
 * (PARTITION_MAX_ID_LEN) and a DNS name's length. */
#define PL_MAX_TEXT 255
#define PL_MAX_URL  4096 /* a publisher URL: a file:// path up to PATH_MAX */

typedef enum { PL_SCALAR, PL_SEQ, PL_MAP } pl_kind;

typedef struct pl_node {
    pl_kind kind;
    int line, col;         /* 1-based start of the node */
    char *value;           /* scalar text (may hold NULs: see len) */
    size_t len;            /* scalar length in bytes */
    bool plain;            /* plain style and no explicit tag: YAML resolves its type */
    bool complete;         /* collection closed (an alias to an open one is recursive) */
    struct pl_node **kids; /* seq: items; map: key, value, key, value... */
    size_t n_kids, cap_kids;
    size_t weight;            /* nodes after alias expansion, saturating */
    struct pl_node *next_all; /* every node, for freeing (aliases share nodes) */
} pl_node;

typedef struct {
    pl_node *root; /* NULL for an empty stream */
    pl_node *all;  /* owner list */
} pl_tree;

/* Limits resolved from pipeline_options (defaults filled in). */
typedef struct {
    size_t max_bytes, max_nodes, max_sources;
    int max_depth;
    const char *const *known;
    size_t n_known;
    const pipeline_scheme *schemes;
    size_t n_schemes;
    int (*check_param)(const void *ctx, const pipeline_source *src, const pipeline_param *p,
                       char *err, size_t errlen);
    const void *check_param_ctx;
    int (*check_resource)(const void *ctx, const pipeline_source *src, const char *resource,
                          char *err, size_t errlen);
} pl_limits;

/* pipeline.c: the limits of opt (NULL: the defaults), defaults filled in. */
void pl_limits_from(const pipeline_options *opt, pl_limits *lim);

/* diag.c */
void pl_diag(pipeline_diags *d, const char *file, pipeline_severity sev, int line, int col,
             const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void pl_vdiag(pipeline_diags *d, const char *file, pipeline_severity sev, int line, int col,
              const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
void pl_diag_oom(pipeline_diags *d, const char *file);
const char *pl_quote(const char *s, size_t len, char *buf, size_t cap);

/* tree.c: 0 on success (tree->root may be NULL for an empty stream), -1 after
 * adding an error diagnostic. */
int pl_tree_build(const char *buf, size_t len, const char *file, const pl_limits *lim,
                  pl_tree *tree, pipeline_diags *d);
void pl_tree_free(pl_tree *tree);
const char *pl_kind_name(const pl_node *n);

/* publisher.c: parses one publisher URL into *p; 0 ok, -1 after an error diag. */
int pl_publisher_parse(const char *url, int line, int col, const char *file, const pl_limits *lim,
                       pipeline_publisher *p, pipeline_diags *d);
void pl_publisher_clear(pipeline_publisher *p);

/* validate.c */
bool pl_is_null(const pl_node *n);
bool pl_has_control(const char *s, size_t len);
int pl_validate(const pl_tree *tree, const char *file, const pl_limits *lim, pipeline *p,
                pipeline_diags *d);

/* params.c: a source's `parameters:` mapping into s->params, each entry
 * checked by lim->check_param; false after an error diag (*oom on ENOMEM). */
bool pl_parse_params(const pl_node *n, const char *file, const pl_limits *lim, pipeline_source *s,
                     pipeline_diags *d, bool *oom);
/* params.c: a source's `target_labels:` (resource: {label: value...}) into
 * s->target_labels, each resource one of s->resources; false after a diag. */
bool pl_parse_target_labels(const pl_node *n, const char *file, pipeline_source *s,
                            pipeline_diags *d, bool *oom);
/* canonical.c: sorts what is a set, fills digests and p->canonical. 0 or -1 (OOM). */
int pl_canonicalise(pipeline *p);
int pl_strcmp_p(const void *a, const void *b);
size_t pl_sort_unique(char **v, size_t n);

/* select.c */
bool pl_has_glob(const char *s);
/* A known meter ending in '*' is a family ("scrape.*": a pollster's scraped
 * series): pattern names or could match one of its members. */
bool pl_family_covers(const char *family, const char *pattern);

#endif /* METERD_PIPELINE_INTERNAL_H */
