/*
 * metrics.h: meterd's self-metrics library (the pluggable MetricsLogger of
 * seed 003, in C).
 *
 * A metrics_registry is created from a metrics_config and owns the backend
 * (noop, statsd or prometheus), its socket, buffers and flush thread. Loggers
 * are named by a dotted prefix ("meterd.agent.scheduler") and emit gauges,
 * counters (+/-) and timers (milliseconds), each with an optional sample rate.
 * Names on the wire are [global_prefix.][host.]prefix.name.
 *
 * Two ways to emit:
 *   - by name, like the seed:  metrics_send_counter(log, "polls", 1, 1.0);
 *   - through a handle registered once (the fast path, and where invalid
 *     names are rejected with a message):
 *         metrics_metric *m = metrics_counter_get(log, "polls", err, sizeof err);
 *         metrics_counter(m, 1);
 *
 * Every emitting call is thread-safe, never blocks on the network and never
 * fails the caller: it returns -1 only for an invalid argument (bad name, NaN,
 * negative timer, sample rate outside (0, 1]). A NULL logger or metric is a
 * valid no-op, so callers need no "if (metrics)" guards.
 *
 * Scoped blocks (the seed's decorators and context managers) are the
 * METRICS_TIMED / METRICS_COUNTED macros at the end of this file.
 *
 * Options, formats and the metric names meterd emits: docs/METRICS.md.
 */
#ifndef METERD_METRICS_H
#define METERD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum metrics_backend {
    METRICS_BACKEND_NOOP = 0,
    METRICS_BACKEND_STATSD,
    METRICS_BACKEND_PROMETHEUS,
} metrics_backend;

#define METRICS_NAME_MAX         255 /* a full dotted name, prefixes included */
#define METRICS_PAYLOAD_MIN      512
#define METRICS_PAYLOAD_MAX      65000
#define METRICS_PAYLOAD_DEFAULT  1432 /* fits one Ethernet frame with IPv6+UDP headers */
#define METRICS_FLUSH_MS_DEFAULT 100

/* The [metrics] section. metrics_config_init fills the seed's defaults. */
typedef struct metrics_config {
    metrics_backend backend;   /* backend = noop | statsd | prometheus */
    char statsd_host[256];     /* statsd_host = localhost */
    int statsd_port;           /* statsd_port = 8125 */
    bool prepend_host;         /* prepend_host = false */
    bool prepend_host_reverse; /* prepend_host_reverse = false */
    char global_prefix[128];   /* global_prefix = "" */
    char host_name[256];       /* host_name = "" (empty: gethostname()) */
    size_t payload_size;       /* statsd_payload_size = 1432 bytes per datagram */
    int flush_interval_ms;     /* statsd_flush_interval_ms = 100 */
} metrics_config;

void metrics_config_init(metrics_config *cfg);

/*
 * Sets one [metrics] option from its ini text (keys above; values may be
 * wrapped in one pair of quotes, booleans are true/false/yes/no/on/off/1/0).
 * Returns 0, or -1 with a message naming the option and what was expected.
 */
int metrics_config_set(metrics_config *cfg, const char *key, const char *value, char *err,
                       size_t errlen);

typedef struct metrics_registry metrics_registry;
typedef struct metrics_logger metrics_logger;
typedef struct metrics_metric metrics_metric;

/*
 * Creates the registry and starts its backend (statsd: resolves the host,
 * opens one UDP socket, starts the flush thread). Returns NULL with a message
 * on a bad config or an unresolvable statsd host.
 */
metrics_registry *metrics_registry_create(const metrics_config *cfg, char *err, size_t errlen);

/*
 * Flushes what is buffered, stops the flush thread, frees every logger and
 * metric. No other thread may still be using the registry or its handles.
 */
void metrics_registry_destroy(metrics_registry *reg);

metrics_backend metrics_registry_backend(const metrics_registry *reg);

/* Sends what the statsd backend has buffered now (the flush thread does it every interval). */
void metrics_flush(metrics_registry *reg);

/*
 * The logger for a dotted prefix ("" allowed), owned by the registry: the
 * same prefix returns the same logger. NULL if the prefix is not a valid name
 * (the _ex form says why).
 */
metrics_logger *metrics_get_logger(metrics_registry *reg, const char *prefix);
metrics_logger *metrics_get_logger_ex(metrics_registry *reg, const char *prefix, char *err,
                                      size_t errlen);

/*
 * Checks a dotted name: components of [A-Za-z0-9_-], separated by single
 * dots, at most METRICS_NAME_MAX bytes. Returns 0 or -1 with the reason.
 */
int metrics_check_name(const char *name, char *err, size_t errlen);

/*
 * Makes a valid name out of text the caller does not control (a pollster or
 * publisher name, a host): characters outside [A-Za-z0-9_-] become '_',
 * empty components are dropped ("a..b:c." -> "a.b_c"). out may be "" if
 * nothing is left.
 */
void metrics_sanitize_name(const char *in, char *out, size_t cap);

/* ---- handles: register once, emit many times ---- */

/*
 * The metric "name" under this logger, created on first use and owned by the
 * registry. NULL with a message if the name is invalid, collides with another
 * metric once sanitised for the backend, or is already a different type.
 */
metrics_metric *metrics_counter_get(metrics_logger *log, const char *name, char *err,
                                    size_t errlen);
metrics_metric *metrics_gauge_get(metrics_logger *log, const char *name, char *err, size_t errlen);
metrics_metric *metrics_timer_get(metrics_logger *log, const char *name, char *err, size_t errlen);

/* The full dotted name as sent to statsd, e.g. "gp.com.example.host.meterd.agent.polls". */
const char *metrics_metric_name(const metrics_metric *m);

/*
 * Emit. sample_rate in (0, 1]: the call is sent with that probability and the
 * line carries |@rate so statsd scales it back (in-process backends record
 * every call exactly). Return 0 (recorded, buffered or sampled out) or -1 on
 * an invalid value. The noop backend checks nothing here: it returns 0 after
 * one branch (names were checked at registration).
 */
int metrics_counter(metrics_metric *m, int64_t delta);
int metrics_counter_sampled(metrics_metric *m, int64_t delta, double sample_rate);
int metrics_gauge(metrics_metric *m, double value);
int metrics_gauge_sampled(metrics_metric *m, double value, double sample_rate);
int metrics_timer(metrics_metric *m, double ms);
int metrics_timer_sampled(metrics_metric *m, double ms, double sample_rate);

/* ---- by name, as in the seed (a lookup per call; use handles in hot loops) ---- */

int metrics_send_gauge(metrics_logger *log, const char *name, double value, double sample_rate);
int metrics_send_counter(metrics_logger *log, const char *name, int64_t delta, double sample_rate);
int metrics_send_timer(metrics_logger *log, const char *name, double ms, double sample_rate);

/* ---- prometheus backend: exposition text for the agent's /metrics ---- */

/* Receives the text in pieces; returns 0 to go on, non-zero to stop. */
typedef int (*metrics_write_fn)(void *arg, const char *data, size_t len);

/*
 * Writes every metric in the text exposition format 0.0.4 (HELP and TYPE
 * lines; counters as <name>_total, timers as summaries <name>_seconds with
 * _count and _sum). Writes nothing for the other backends. Returns 0 or the
 * writer's non-zero value.
 */
int metrics_render_prometheus(metrics_registry *reg, metrics_write_fn write, void *arg);

/* The same into a malloc'd NUL-terminated string (free it); NULL on ENOMEM. */
char *metrics_render_prometheus_text(metrics_registry *reg, size_t *len);

/* ---- the library's own figures ---- */

typedef struct metrics_stats {
    uint64_t lines;             /* statsd lines buffered */
    uint64_t lines_dropped;     /* buffers full: the flush thread fell behind */
    uint64_t sampled_out;       /* calls not sent because of their sample rate */
    uint64_t datagrams_sent;    /* accepted by the kernel */
    uint64_t datagrams_dropped; /* refused by the kernel (EAGAIN, ECONNREFUSED...) */
    uint64_t rejected;          /* calls refused for an invalid name or value */
} metrics_stats;

void metrics_get_stats(metrics_registry *reg, metrics_stats *out);

/* ---- scoped blocks: the seed's decorators and context managers ---- */

typedef struct metrics_scope {
    metrics_metric *metric;
    struct timespec start;
    int active; /* the for-loop form runs its body once */
} metrics_scope;

metrics_scope metrics_scope_timer_begin(metrics_metric *m);
metrics_scope metrics_scope_counter_begin(metrics_metric *m);
/* Records the elapsed time (timer scopes); called by the cleanup attribute. */
void metrics_scope_end(metrics_scope *s);

#define METRICS_CAT2_(a, b) a##b
#define METRICS_CAT_(a, b)  METRICS_CAT2_(a, b)

/*
 * METRICS_TIMED(m) { ... }   times the block; METRICS_COUNTED(m) { ... }
 * counts 1 on entry. The timing is recorded however the block is left:
 * falling off its end, return, goto, or break/continue. The macro is a
 * one-pass for-loop whose variable has a cleanup attribute, so note: a
 * break or continue inside it leaves the timed block itself, not an
 * enclosing loop. When that matters, use the statement forms below.
 */
#define METRICS_TIMED(m)                                                                           \
    for (metrics_scope METRICS_CAT_(metrics_scope_, __LINE__)                                      \
             __attribute__((cleanup(metrics_scope_end))) = metrics_scope_timer_begin(m);           \
         METRICS_CAT_(metrics_scope_, __LINE__).active;                                            \
         METRICS_CAT_(metrics_scope_, __LINE__).active = 0)
#define METRICS_COUNTED(m)                                                                         \
    for (metrics_scope METRICS_CAT_(metrics_scope_, __LINE__)                                      \
             __attribute__((cleanup(metrics_scope_end))) = metrics_scope_counter_begin(m);         \
         METRICS_CAT_(metrics_scope_, __LINE__).active;                                            \
         METRICS_CAT_(metrics_scope_, __LINE__).active = 0)

/*
 * METRICS_TIME_SCOPE(m);  times from here to the end of the enclosing { }
 * block, however it is left (return, break, continue, goto): C++'s RAII.
 * METRICS_COUNT_SCOPE(m); counts 1 here (kept for symmetry with the seed).
 */
#define METRICS_TIME_SCOPE(m)                                                                      \
    metrics_scope METRICS_CAT_(metrics_scope_, __LINE__)                                           \
        __attribute__((cleanup(metrics_scope_end), unused)) = metrics_scope_timer_begin(m)
#define METRICS_COUNT_SCOPE(m) ((void)metrics_counter((m), 1))

#endif
