/* expo.h -- the public API of meterd's exposition-format module.
 *
 * Reads what Prometheus exporters serve on /metrics: the text exposition
 * format 0.0.4 and OpenMetrics 1.0 text, and the target lists of
 * Prometheus' file-based service discovery (file_sd, JSON or YAML). No C library for
 * either exists in Debian (its Prometheus packages are Go; the C client
 * libraries write the format, none reads it), so this is hand-written.
 *
 * The parser streams over one buffer: each sample is handed to a callback
 * with its name, labels (unescaped, NUL-terminated) and value, in scratch
 * memory reused for the next sample. It allocates once per parse (scratch,
 * label slots and a series set for duplicate detection, all sized by the
 * limits), never per sample. Everything a scraper must refuse is an error
 * with line:column: syntax, a second TYPE for a family, a histogram bucket
 * without `le`, a duplicate series, a series, label or size limit exceeded.
 * No threads, no global state; the only I/O is expo_sd_read_targets reading
 * the one file it is given.
 */
#ifndef METERD_EXPO_H
#define METERD_EXPO_H

#include "pipeline/pipeline.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    EXPO_TEXT,       /* text/plain; version=0.0.4 */
    EXPO_OPENMETRICS /* application/openmetrics-text; version=1.0.0 */
} expo_format;

typedef enum {
    EXPO_UNTYPED, /* "untyped" (text) or "unknown" (OpenMetrics), or no TYPE line */
    EXPO_COUNTER,
    EXPO_GAUGE,
    EXPO_HISTOGRAM,
    EXPO_SUMMARY,
    EXPO_GAUGE_HISTOGRAM, /* OpenMetrics only, as are info and stateset */
    EXPO_INFO,
    EXPO_STATESET,
} expo_type;

const char *expo_type_name(expo_type t); /* "counter", "gauge", ... */

/* The format a Content-Type names (OpenMetrics when it says so, else text). */
expo_format expo_format_of(const char *content_type);

typedef struct expo_label {
    const char *name, *value; /* NUL-terminated, value unescaped */
} expo_label;

typedef struct expo_sample {
    const char *name;   /* the series name as written: "http_requests_total", "x_bucket" */
    const char *family; /* its family (TYPE line's name), or name when untyped */
    expo_type type;     /* the family's type */
    bool cumulative;    /* counter, or a histogram/summary _count/_sum/_bucket */
    const char *unit;   /* OpenMetrics UNIT of the family, or "" */
    const expo_label *labels;
    size_t n_labels;
    double value; /* NaN, +Inf and -Inf included */
    bool has_time;
    int64_t time_ms; /* the sample's own timestamp, ms since the epoch */
    size_t line;
} expo_sample;

/* Called for each sample; nonzero stops the parse (err then holds msg). */
typedef int (*expo_sample_fn)(void *ctx, const expo_sample *s, char *msg, size_t msglen);

typedef struct expo_limits {
    size_t max_bytes;       /* body size; 0: 10 MiB */
    size_t max_series;      /* samples per body; 0: 100000 */
    size_t max_labels;      /* labels per sample; 0: 64 */
    size_t max_label_value; /* bytes of one label value; 0: 4096 */
    size_t max_line;        /* bytes of one line; 0: 64 KiB */
} expo_limits;

typedef struct expo_stats {
    size_t samples;  /* handed to the callback */
    size_t families; /* TYPE lines */
    size_t lines;
} expo_stats;

/*
 * Parses buf[0..len). fn (may be NULL: validate only) sees every sample
 * except OpenMetrics `_created` series (dropped) and with exemplars
 * ignored. Returns 0, or -1 with "line L:col C: what was expected" in err
 * (a callback's message as "line L: msg"). stats (may be NULL) is filled
 * either way with what was read.
 */
int expo_parse(const char *buf, size_t len, expo_format fmt, const expo_limits *limits,
               expo_sample_fn fn, void *ctx, expo_stats *stats, char *err, size_t errlen);

/* ---- file_sd: Prometheus' file-based service discovery (JSON) ---- */
typedef struct expo_sd_group {
    char **targets; /* "host:port" */
    size_t n_targets;
    expo_label *labels; /* owned copies; "__meta_*" and other "__" labels kept as written */
    size_t n_labels;
} expo_sd_group;

typedef struct expo_sd {
    expo_sd_group *groups;
    size_t n_groups;
} expo_sd;

/* Parses a file_sd document ([{"targets": [...], "labels": {...}}]): YAML
 * when name ends in .yml or .yaml (as Prometheus decides), JSON otherwise.
 * name is used in messages. 0, or -1 with "name:line:col: ..." in err (JSON
 * shape errors name the group and entry instead: jansson keeps no positions
 * for values). */
int expo_sd_parse(const char *buf, size_t len, const char *name, expo_sd *out, char *err,
                  size_t errlen);
/* The YAML form alone, whatever the name. */
int expo_sd_parse_yaml(const char *buf, size_t len, const char *name, expo_sd *out, char *err,
                       size_t errlen);
void expo_sd_free(expo_sd *sd);

/* The scrape URL of one target of g: <__scheme__>://<target><__metrics_path__>
 * (defaults http and /metrics, as Prometheus). 0, or -1 when cap is short or
 * the labels name another scheme than http/https (err says which). */
int expo_sd_url(const expo_sd_group *g, const char *target, char *out, size_t cap, char *err,
                size_t errlen);

/*
 * The pipeline_sd_read_fn of meterctl and the agent (pipeline_expand_file_sd):
 * reads the file_sd document at path (relative to ctx, a folder path, or to
 * the working folder when ctx is NULL; at most 16 MiB) into targets, each
 * named by its scrape URL (expo_sd_url) with its group's labels, minus the
 * "__" ones (__scheme__, __metrics_path__, __meta_*: consumed or internal,
 * as Prometheus drops them after relabelling). 0, or -1 with err naming the
 * file (and line:column for a parse error).
 */
int expo_sd_read_targets(void *ctx, const char *path, pipeline_param **targets, size_t *n_targets,
                         char *err, size_t errlen);
/* pipeline_expand_file_sd with that reader, paths relative to the folder of
 * pipeline_path (NULL or "-": the working folder). Nothing to do when *p is
 * NULL or names no file_sd: 0. On error *p is freed and NULL, and -1 returns
 * with the diagnostic in diags. */
int expo_sd_expand(pipeline **p, const char *pipeline_path, pipeline_diags *diags);

#ifdef __cplusplus
}
#endif

#endif /* METERD_EXPO_H */
