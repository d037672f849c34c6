/* pipeline.h -- the public API of meterd's pipeline module.
 *
 * A pipeline is Ceilometer's polling.yaml, unchanged (`sources:` with `name`,
 * `interval`, `meters`, `resources`, `discovery`), plus Ceilometer's pipeline
 * style `sinks:` with `publishers:` (a source may name its `sinks:`). This
 * module parses one with libyaml, validates it with Ceilometer's rules,
 * reports every problem with file:line:column, selects meters exactly as
 * Ceilometer's Source.is_supported does, computes a canonical form and its
 * sha256, and diffs two revisions per source and per sink (the basis of the
 * graceful reload: unchanged sources keep their running pollsters).
 *
 * It knows nothing of ZooKeeper, threads or files beyond reading one; it has
 * no global state, so every call is safe from any thread on distinct objects.
 * docs/PIPELINE.md describes the format, the rules and every decision.
 */
#ifndef METERD_PIPELINE_H
#define METERD_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits (a zeroed pipeline_options field means "use the default") ---- */
#define PIPELINE_DEFAULT_MAX_BYTES   (16u * 1024u * 1024u) /* whole document */
#define PIPELINE_DEFAULT_MAX_DEPTH   64                    /* nested collections */
#define PIPELINE_DEFAULT_MAX_NODES   2000000               /* nodes after alias expansion */
#define PIPELINE_DEFAULT_MAX_SOURCES 10000
#define PIPELINE_DEFAULT_INTERVAL    600      /* s; old Ceilometer's default */
#define PIPELINE_MAX_INTERVAL        31536000 /* s; one year */
#define PIPELINE_DEFAULT_SINK        "default"
#define PIPELINE_DEFAULT_PUBLISHER   "prometheus://"

/* ---- diagnostics ---- */
typedef enum { PIPELINE_ERROR, PIPELINE_WARNING } pipeline_severity;

typedef struct {
    pipeline_severity severity;
    char *file;    /* as given to pipeline_parse ("<buffer>" when NULL) */
    int line;      /* 1-based */
    int column;    /* 1-based, in characters as libyaml counts them */
    char *message; /* what is wrong and what was expected; no file/line prefix */
} pipeline_diag;

typedef struct {
    pipeline_diag *items; /* in the order found: by position within each pass */
    size_t count;
    size_t errors; /* items with severity PIPELINE_ERROR */
} pipeline_diags;

/* A zeroed pipeline_diags is an empty list; free it with pipeline_diags_free. */
void pipeline_diags_free(pipeline_diags *d);

/* Writes one "file:line:col: error: message\n" line per item (severity
 * "warning" for warnings). Returns the length it needed, excluding the NUL,
 * like snprintf: the output is truncated (and NUL-terminated) when >= cap. */
int pipeline_diags_format(const pipeline_diags *d, char *buf, size_t cap);

/* ---- the parsed pipeline ---- */
typedef struct {
    char *url;    /* verbatim from the file */
    char *scheme; /* lower-cased */
    char *host;   /* "" when absent; IPv6 without brackets */
    char *path;   /* "" when absent, or the scheme's default path */
    char *query;  /* "" when absent; without the '?' */
    int port;     /* explicit or the scheme's default; 0 when none applies */
    bool foreign; /* well-formed but not in pipeline_options.schemes (notifier://,
                     gnocchi://...): accepted with a warning, the agent drops its samples */
    int line, column;
} pipeline_publisher;

typedef struct {
    char *name;
    pipeline_publisher *publishers; /* sorted by url, duplicates removed */
    size_t n_publishers;
    bool builtin;             /* the built-in default sink (no `default` sink in the file) */
    unsigned char digest[32]; /* sha256 of this sink's canonical JSON */
    int line, column;         /* 0 for the built-in default sink */
} pipeline_sink;

/* One entry of a source's optional `parameters:` mapping (a meterd extension:
 * Ceilometer's loader ignores the key). A value is a scalar, a list of
 * scalars or a mapping of scalars; what each name means, and its type, is
 * the pollster's (registry/), checked through pipeline_options.check_param. */
typedef enum { PIPELINE_PARAM_SCALAR, PIPELINE_PARAM_LIST, PIPELINE_PARAM_MAP } pipeline_param_kind;

typedef struct {
    char *name;
    pipeline_param_kind kind;
    char **items;     /* SCALAR: 1 item; LIST: n items; MAP: key, value, key, value... */
    size_t n_items;   /* MAP: 2 * entries */
    int line, column; /* of the value (the key's position is the diagnostics' fallback) */
} pipeline_param;

typedef struct pipeline_source {
    char *name;
    int64_t interval; /* seconds, > 0 */
    char **meters;    /* sorted, duplicates removed; "!x" excludes */
    size_t n_meters;
    char **resources; /* sorted, duplicates removed */
    size_t n_resources;
    char **discovery; /* sorted, duplicates removed */
    size_t n_discovery;
    char **sinks; /* resolved: never empty ("default" when the file names none) */
    size_t n_sinks;
    pipeline_param *params; /* `parameters:`, sorted by name (names are unique) */
    size_t n_params;
    /* `file_sd:` (meterd extension): Prometheus file_sd documents naming more
     * targets; pipeline_expand_file_sd moves them into resources and
     * target_labels, so a pushed or running pipeline has none left. */
    char **file_sd; /* sorted, duplicates removed */
    size_t n_file_sd;
    /* `target_labels:` (meterd extension): per-resource labels, as
     * pipeline_param of kind MAP named by the resource (which must be one of
     * the source's resources); sorted by resource. */
    pipeline_param *target_labels;
    size_t n_target_labels;
    unsigned char digest[32]; /* sha256 of this source's canonical JSON (own fields only) */
    int line, column;
} pipeline_source;

typedef struct pipeline {
    pipeline_source *sources; /* sorted by name */
    size_t n_sources;
    pipeline_sink *sinks; /* sorted by name; includes the built-in default when used */
    size_t n_sinks;
    char *canonical; /* canonical JSON text, NUL-terminated */
    size_t canonical_len;
    unsigned char sha256[32]; /* of canonical */
    char sha256_hex[65];
} pipeline;

/* ---- publisher schemes: the caller's, as data ----
 * pipeline/ splits every publisher URL (scheme, host, port, path, query) and
 * refuses what no scheme could mean (credentials, whitespace, a fragment, a
 * port out of range); which schemes exist and their own rules come from the
 * caller (meterd's plugin registry), like known_meters. */
typedef struct pipeline_url_check pipeline_url_check; /* one URL being checked */

typedef struct pipeline_scheme {
    const char *name;         /* lower-case, e.g. "udp" */
    int default_port;         /* filled in when the URL names no port; 0: none */
    const char *default_path; /* filled in when the URL has no path; NULL: none */
    /* Optional: the scheme's own rules over the split URL, before the defaults
     * are filled in (has_port: the URL names one). Reports through
     * pipeline_url_error / pipeline_url_warning; returns 0, or -1 after an
     * error. May clear p->port (a port the scheme ignores). */
    int (*check)(pipeline_url_check *c, pipeline_publisher *p, bool has_port);
} pipeline_scheme;

/* An error about the URL being checked, at its position, prefixed with the
 * (redacted) URL. Returns -1 so a check can `return pipeline_url_error(...)`. */
int pipeline_url_error(pipeline_url_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pipeline_url_warning(pipeline_url_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The URL's host, quoted for a message (control characters escaped, bounded). */
const char *pipeline_url_quoted_host(pipeline_url_check *c);

typedef struct {
    /* Meter names the caller can poll. When set, included meters that are not
     * known and patterns that match none are warnings (never errors). */
    const char *const *known_meters;
    size_t n_known_meters;
    /* Publisher schemes the caller implements; any other well-formed scheme is
     * foreign (a warning). NULL: every scheme is foreign. */
    const pipeline_scheme *schemes;
    size_t n_schemes;
    /* Optional: checks one entry of a source's `parameters:` against the
     * caller's schemas (the source's other fields are parsed already). 0, or
     * -1 with a message in err, reported as an error at the value's line:col.
     * NULL: any parameter is refused (nothing declares one). */
    int (*check_param)(const void *ctx, const pipeline_source *src, const pipeline_param *p,
                       char *err, size_t errlen);
    const void *check_param_ctx;
    /* Optional: checks one of a source's `resources:` (its parameters and
     * meters parsed already) with check_param_ctx. 0, or -1 with a message
     * in err, reported as an error at the resource's line:col. NULL: any
     * resource text is accepted here (the pollster reports it at its poll). */
    int (*check_resource)(const void *ctx, const pipeline_source *src, const char *resource,
                          char *err, size_t errlen);
    size_t max_bytes;   /* default PIPELINE_DEFAULT_MAX_BYTES */
    int max_depth;      /* default PIPELINE_DEFAULT_MAX_DEPTH */
    size_t max_nodes;   /* default PIPELINE_DEFAULT_MAX_NODES */
    size_t max_sources; /* default PIPELINE_DEFAULT_MAX_SOURCES */
} pipeline_options;

/* Parse and validate buf[0..len) (need not be NUL-terminated). filename only
 * labels diagnostics (NULL: "<buffer>"); opt may be NULL for the defaults.
 * Returns 0 and sets *out when there is no error; otherwise returns -1 and
 * sets *out to NULL. Errors and warnings are appended to *diags either way
 * (diags may be NULL when the caller does not want them). */
int pipeline_parse(const char *buf, size_t len, const char *filename, const pipeline_options *opt,
                   pipeline **out, pipeline_diags *diags);

/* Reads path (at most max_bytes) and parses it; I/O errors are diagnostics
 * at line 0, column 0. */
int pipeline_load_file(const char *path, const pipeline_options *opt, pipeline **out,
                       pipeline_diags *diags);

void pipeline_free(pipeline *p);

/* Parses one publisher URL exactly as in a sink's `publishers:` (diagnostics
 * at line 0, column 0 of "<publisher>"); 0, or -1 with *out cleared.
 * Free with pipeline_publisher_clear. */
int pipeline_publisher_parse(const char *url, const pipeline_options *opt, pipeline_publisher *out,
                             pipeline_diags *diags);
void pipeline_publisher_clear(pipeline_publisher *p);

/* Ceilometer's Source.is_supported: exclusions first ("!x" patterns), then
 * inclusions; a list of only exclusions allows everything else. Patterns are
 * Python fnmatch globs: *, ?, [seq], [!seq], case-sensitive, no escapes. */
bool pipeline_source_selects(const pipeline_source *s, const char *meter);

/* One glob pattern against one name, with the semantics above. */
bool pipeline_glob_match(const char *pattern, const char *name);

const pipeline_source *pipeline_source_find(const pipeline *p, const char *name);
/* A source's parameter by name, or NULL. */
const pipeline_param *pipeline_param_find(const pipeline_param *v, size_t n, const char *name);
/* Deep copy of n parameters (a runtime keeps its own); 0, or -1 (ENOMEM, *out NULL). */
int pipeline_params_copy(const pipeline_param *v, size_t n, pipeline_param **out);
void pipeline_params_free(pipeline_param *v, size_t n);
const pipeline_sink *pipeline_sink_find(const pipeline *p, const char *name);

/* ---- file_sd: target lists from files, expanded before a pipeline runs ----
 * Reads one file_sd document (path as written in the source) into targets:
 * each a pipeline_param of kind MAP named by its resource, items its labels
 * (key, value...). 0, or -1 with err (the file, line:column, what was
 * expected). The caller's: pipeline/ reads no files of its own. */
typedef int (*pipeline_sd_read_fn)(void *ctx, const char *path, pipeline_param **targets,
                                   size_t *n_targets, char *err, size_t errlen);
/* Replaces every source's file_sd by the targets its documents list: each
 * target's resource joins `resources`, its labels `target_labels` (a target
 * listed twice must carry the same labels), then the canonical form and the
 * digests are computed afresh. 0, or -1 with an error diagnostic at the
 * source (p is then unusable: free it). Sources without file_sd are left as
 * they were, so a pipeline without any hashes as before. */
int pipeline_expand_file_sd(pipeline *p, pipeline_sd_read_fn read, void *ctx,
                            pipeline_diags *diags);
/* Whether any source names a file_sd document. */
bool pipeline_has_file_sd(const pipeline *p);

/* ---- revisions: what changed between two pipelines ---- */
typedef enum {
    PIPELINE_UNCHANGED,
    PIPELINE_CHANGED,
    PIPELINE_ADDED,
    PIPELINE_REMOVED
} pipeline_change;

typedef struct {
    const char *name; /* points into old_p or new_p */
    pipeline_change change;
    const pipeline_source *old_src, *new_src; /* NULL when added / removed */
} pipeline_source_delta;

typedef struct {
    const char *name;
    pipeline_change change;
    const pipeline_sink *old_sink, *new_sink;
} pipeline_sink_delta;

typedef struct {
    pipeline_source_delta *sources; /* sorted by name */
    size_t n_sources;
    pipeline_sink_delta *sinks; /* sorted by name */
    size_t n_sinks;
    size_t n_changes; /* entries that are not PIPELINE_UNCHANGED */
} pipeline_diff;

/* A source is CHANGED only when its own fields change (name, interval, meters,
 * resources, discovery, sink names, parameters); a sink when its publishers change. So a
 * publisher edit swaps publishers without touching pollsters. old_p may be
 * NULL (everything ADDED). The deltas point into both pipelines: keep them
 * alive while the diff is used. Returns 0, or -1 on allocation failure. */
int pipeline_diff_compute(const pipeline *old_p, const pipeline *new_p, pipeline_diff *out);
void pipeline_diff_free(pipeline_diff *d);

const char *pipeline_change_name(pipeline_change c); /* "unchanged", "changed"... */

/* ---- helpers ---- */
/* The embedded default pipeline (Ceilometer's shipped default: every meter
 * every 600 s, to the default sink), for an agent with no pipeline file. */
const char *pipeline_default_yaml(void);

void pipeline_digest_hex(const unsigned char digest[32], char out[65]);

#ifdef __cplusplus
}
#endif

#endif /* METERD_PIPELINE_H */
