/* registry.h -- the public API of meterd's plugin registry.
 *
 * Descriptors of every plugin meterd ships, as plain data: pollsters (name,
 * namespace, meters, default discovery, per-source parameters with types),
 * discoveries (name, local or not), publisher schemes (default port and path,
 * the URL rules) and the ini sections plugins own (options with type,
 * default, doc). No I/O, no threads, no libcurl or nng: meterd, meterctl and
 * meterproxy all link it, so `meterctl validate` knows every meter and every
 * scheme the agent knows, and the agent opens a publisher from the URL that
 * validated. The runtime code (polling, sending) stays in agent/, whose rows
 * point at these descriptors. docs/ARCHITECTURE.md ("Plugins") says how to
 * add a family.
 */
#ifndef METERD_REGISTRY_H
#define METERD_REGISTRY_H

#include "pipeline/pipeline.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- options: of a plugin's ini section, or of a publisher URL's query ---- */
typedef enum { REGISTRY_OPT_STR, REGISTRY_OPT_INT, REGISTRY_OPT_BOOL } registry_opt_type;

typedef struct registry_option {
    const char *name;
    registry_opt_type type;
    const char *def;
    long min, max; /* INT: the bounds; STR: max is the longest value in bytes (0: no bound) */
    const char *doc;
} registry_option;

/* ---- a pollster's parameters (a source's `parameters:`) ---- */
typedef enum {
    REGISTRY_PARAM_STR,
    REGISTRY_PARAM_INT,
    REGISTRY_PARAM_BOOL,
    REGISTRY_PARAM_DURATION, /* "2s", "500ms", "1.5" (seconds), "1m"; min/max in ms */
    REGISTRY_PARAM_REGEX,    /* a POSIX extended regular expression that compiles */
    REGISTRY_PARAM_LIST,     /* a list (a scalar is a list of one) of `item` values */
    REGISTRY_PARAM_MAP,      /* a mapping of text to text */
} registry_param_type;

typedef struct registry_param {
    const char *name;
    registry_param_type type;
    const char *def;
    long min, max; /* INT, DURATION (ms), a LIST's items: the bounds; STR: max is the longest
                      value in bytes (0: no bound); MAP: the most entries (0: 256) */
    const char *doc;
    const char *choices; /* STR: the only values allowed, '|'-separated ("GET|HEAD"); NULL: any */
    registry_param_type item; /* LIST: the type of each item (min, max, choices apply to it) */
} registry_param;

/* ---- pollsters ---- */
typedef struct registry_pollster {
    const char *name;              /* "host.pressure" */
    const char *ns;                /* one of registry_namespaces() */
    const char *const *meters;     /* NULL-terminated meter names */
    const char *default_discovery; /* when a source names no resources or discovery; NULL: none */
    const char *section;           /* its ini section (registry_sections), NULL: none */
    /* The meters it may emit beyond meters[], as one glob ("scrape.*": scraped
     * series). They are not in want[]: the agent applies the source's
     * selection to each emitted name (poll_wants) and drops the rest. NULL: none. */
    const char *dynamic_meters;
    /* What a source's `parameters:` may hold for it, as data (name, type,
     * default, bounds, doc): refused at validation when unknown or mistyped,
     * with line:col, by the agent and by `meterctl validate` alike. */
    const registry_param *params;
    size_t n_params;
    /* Optional: the grammar of its resources (0, or -1 with err saying what
     * was expected): a resource it refuses is an error at its line:col when
     * a source selecting it is validated. It should refuse only resources
     * of its own scheme: a source selecting every meter names other
     * pollsters' too. NULL: any text (the poll judges). */
    int (*check_resource)(const char *resource, char *err, size_t errlen);
} registry_pollster;

/* ---- discoveries ---- */
typedef struct registry_discovery {
    const char *name; /* "local_host"; a source writes "name" or "name:param" */
    bool local;       /* its targets are of this host: never partitioned */
} registry_discovery;

/* ---- publisher schemes ---- */
typedef struct registry_publisher {
    pipeline_scheme url;          /* name, default port and path, URL rules */
    const char *doc;              /* one line: what it sends where */
    const char *section;          /* its ini section (registry_sections), NULL: none */
    const registry_option *query; /* the URL's ?options (type, bounds, default) */
    size_t n_query;
    bool query_passthrough; /* other keys go to the receiver (http) */
} registry_publisher;

/* ---- a publisher URL's query ("a=1&b=x%20y"), read by one set of rules ---- */
/* Finds key; copies its percent-decoded value into out. 1 found, 0 absent,
 * -1 value longer than cap - 1. */
int registry_query_get(const char *query, const char *key, char *out, size_t cap);
/* Every key known (unless the row passes others through) and every value
 * within its option's type and bounds: 0, or -1 with err. */
int registry_query_check(const registry_publisher *row, const char *query, char *err,
                         size_t errlen);
/* A checked option's value, or its default. */
long registry_query_long(const registry_publisher *row, const char *query, const char *key);
void registry_query_str(const registry_publisher *row, const char *query, const char *key,
                        char *out, size_t cap);

/* ---- plugin-owned ini sections ([compute], [ipmi]...) ---- */
typedef struct registry_section {
    const char *name;               /* ini section, e.g. "compute" */
    const char *doc;                /* whose section it is */
    const registry_option *options; /* n_options entries */
    size_t n_options;
} registry_section;

/* The rows the agent's runtime plugins point at. */
extern const registry_pollster registry_host_pressure, registry_host_load, registry_tcp_connect,
    registry_http_probe, registry_scrape, registry_cgroup, registry_cgroup_perf,
    registry_ipmi_sensors;
extern const registry_discovery registry_local_host, registry_cgroups;

/* The tables, NULL-terminated; rows are constant. */
extern const registry_pollster *const registry_pollsters[];
extern const registry_discovery *const registry_discoveries[];
extern const registry_publisher *const registry_publishers[];
extern const registry_section *const registry_sections[];
extern const char *const registry_namespaces[]; /* "central", "compute", "ipmi" */

const registry_pollster *registry_pollster_find(const char *name);
const registry_discovery *registry_discovery_find(const char *name, size_t len);
const registry_publisher *registry_publisher_find(const char *scheme);
const registry_section *registry_section_find(const char *name);
bool registry_namespace_known(const char *ns, size_t len);

/* Checks a comma-separated namespace list ("central,compute"): 0, or -1 with
 * a message naming the unknown entry and the known ones. */
int registry_namespaces_check(const char *list, char *err, size_t errlen);

/* Checks one value against an option's type and bounds: 0, or -1 with err. */
int registry_option_check(const registry_option *o, const char *value, char *err, size_t errlen);
/* A checked boolean's value: true, yes, on, 1 (any case) are true. */
bool registry_option_true(const char *value);

/* Seed 002's exposition name of a cgroup meter (prometheus:// with
 * ?names=psi_perf_monitor): cgroup.pressure.<cpu|io|memory>.<some|full>.<w>
 * is psi_perf_monitor_sc_monitored_<cpu|io|mem>_psi{type, window=10s|60s|
 * 300s|total}; perf.<x>: psi_perf_monitor_<x, dots to _> (cpu_cycles and
 * the seed's singular `instruction`). False for any other meter. */
typedef struct registry_compat_name {
    char family[96];
    const char *help;
    const char *type, *window; /* PSI's labels, NULL for perf */
} registry_compat_name;
bool registry_psi_perf_monitor_name(const char *meter, registry_compat_name *out);

/* ---- the ini reader of every config file (meterd.conf, meterproxy.conf) ---- */
typedef struct registry_ini_hooks {
    /* one option; section "DEFAULT" before any [section] line */
    void (*option)(void *user, int line, const char *section, const char *name, const char *value);
    /* a problem of the text itself at line (0: the whole text) */
    void (*problem)(void *user, int line, const char *msg);
} registry_ini_hooks;
/* Parses text with libinih, refusing what it would misread: a NUL byte
 * (nothing is parsed), a line longer than its buffer, a syntax error (each
 * reported through problem, parsing goes on). 0, or -1 when any problem was
 * reported; what the options mean is the hooks' business. */
int registry_ini_parse(const char *text, size_t len, const registry_ini_hooks *h, void *user);

/* Number of meters of a pollster. */
size_t registry_meter_count(const registry_pollster *p);

/* Whether a source's selection asks anything of a pollster: one of its
 * meters, or (dynamic_meters) a name under its family. */
bool registry_pollster_selected(const registry_pollster *p, const pipeline_source *src);
/* A declared parameter of a pollster, or NULL. */
const registry_param *registry_param_find(const registry_pollster *p, const char *name);
/* One parameter's value against its declaration: 0, or -1 with err. */
int registry_param_check(const registry_param *o, const pipeline_param *p, char *err,
                         size_t errlen);
/* A checked parameter's value, else the declared default ("" when none). */
const char *registry_param_str(const registry_pollster *p, const pipeline_param *v, size_t n,
                               const char *name);
/* A checked DURATION's value in ms, else the default's. */
long registry_param_ms(const registry_pollster *p, const pipeline_param *v, size_t n,
                       const char *name);
/* pipeline_options.check_param as registry_pipeline_options installs it
 * (ctx: the registry_options). */
int registry_check_param(const void *ctx, const pipeline_source *src, const pipeline_param *p,
                         char *err, size_t errlen);
/* pipeline_options.check_resource for registry_pipeline_options: refused
 * when a pollster the source selects has a check_resource that refuses it. */
int registry_check_resource(const void *ctx, const pipeline_source *src, const char *resource,
                            char *err, size_t errlen);
/* "ipmi://host[:port]" ([v6] in brackets) into libipmimonitoring's hostname
 * ("host" or "host:port"); "ipmi://" alone means the local BMC, in-band
 * (*inband = true, host ""). 0, or -1 with err naming the resource and what
 * was expected. ipmi.sensors' check_resource and its poll share it. */
int registry_ipmi_target(const char *url, char *host, size_t cap, bool *inband, char *err,
                         size_t errlen);
/* Parses a DURATION ("2s", "500ms", "1.5", "1m") into ms: 0, or -1. */
int registry_duration_ms(const char *text, long *ms);

/* ---- what pipeline_parse needs to know of the plugins ---- */
#define REGISTRY_MAX_METERS    256
#define REGISTRY_MAX_SCHEMES   16
#define REGISTRY_MAX_POLLSTERS 64

typedef struct registry_options {
    pipeline_options opt; /* pass &ro.opt to pipeline_parse; points into this struct */
    const char *meters[REGISTRY_MAX_METERS];
    pipeline_scheme schemes[REGISTRY_MAX_SCHEMES];
    const registry_pollster *pollsters[REGISTRY_MAX_POLLSTERS]; /* whose parameters check_param
                                                                    knows (copied: the caller's
                                                                    array may be temporary) */
    size_t n_pollsters;
} registry_options;

/* Fills ro: every meter of pollsters[0..n) (NULL: the registry's own table,
 * what meterctl uses; the agent passes the pollsters it runs) as known_meters
 * (a dynamic_meters glob too: pipeline/ takes a known name ending in '*' as a
 * family), every publisher scheme as schemes, and check_param: a parameter is
 * known when a pollster the source selects declares it, and must then be
 * well-typed for each that does. Limits stay at their defaults. Keep ro
 * alive and unmoved while ro->opt is used. Returns 0, or -1 when a table
 * outgrows REGISTRY_MAX_METERS / REGISTRY_MAX_SCHEMES (a build-time mistake
 * that tests/registry catches; the options then hold what fitted). */
int registry_pipeline_options(registry_options *ro, const registry_pollster *const *pollsters,
                              size_t n);

#ifdef __cplusplus
}
#endif

#endif /* METERD_REGISTRY_H */
