/*
 * internal.h: the structures the metrics/ files share (not installed, not
 * included outside metrics/). Internal functions are prefixed mx_.
 *
 * A metric carries everything its hot path needs (backend, the statsd line
 * head "full.name:", the prometheus atomics) so emitting is one branch and
 * no lookup. Registration is rare and takes the registry's lock.
 */
#ifndef METERD_METRICS_INTERNAL_H
#define METERD_METRICS_INTERNAL_H

#include "metrics/metrics.h"

#include <pthread.h>
#include <stdatomic.h>

enum mx_type { MX_COUNTER = 0, MX_GAUGE, MX_TIMER };

/* A string-keyed chained hash table; values are borrowed pointers. */
typedef struct mx_entry {
    struct mx_entry *next;
    void *value;
    char key[];
} mx_entry;

typedef struct mx_table {
    mx_entry **buckets;
    size_t nbuckets, count;
} mx_table;

void *mx_table_get(const mx_table *t, const char *key);
int mx_table_put(mx_table *t, const char *key, void *value); /* -1: ENOMEM */
void mx_table_free(mx_table *t);

struct metrics_metric {
    metrics_registry *reg;
    metrics_backend backend;
    enum mx_type type;
    unsigned head_len; /* strlen(head) */
    char *head;        /* statsd: "full.name:" */
    char *name;        /* "full.name" */
    char *prom_name;   /* prometheus: sanitised, suffix included */
    /* prometheus values, updated with relaxed atomics */
    _Atomic int64_t value;       /* counter total; timer count */
    _Atomic uint64_t fvalue;     /* gauge: bits of a double */
    _Atomic int64_t sum_ns;      /* timer: sum in nanoseconds */
    struct metrics_metric *next; /* registry's list, registration order */
};

struct metrics_logger {
    metrics_registry *reg;
    metrics_backend backend;
    char *prefix;      /* "[gp.][host.]prefix" as it starts every full name; may be "" */
    char *prom_prefix; /* "[gp.]prefix" : prometheus leaves the host to the instance label */
    mx_table by_name;  /* short name -> metric; guarded by reg->lock */
    struct metrics_logger *next;
};

typedef struct mx_statsd mx_statsd;

struct metrics_registry {
    metrics_config cfg;
    metrics_backend backend;
    char host[256];        /* sanitised, reversed if asked; "" when not prepended */
    pthread_rwlock_t lock; /* loggers, metrics, tables */
    metrics_logger *loggers;
    metrics_metric *metrics;
    mx_table logger_by_prefix, metric_by_name, metric_by_prom;
    mx_statsd *statsd;
    _Atomic uint64_t rejected;
};

/* names.c */
int mx_check_name(const char *what, const char *name, bool allow_empty, char *err, size_t errlen);
void mx_host_component(const char *host, bool reverse, char *out, size_t cap);
int mx_prom_name(const char *dotted, const char *suffix, char *out, size_t cap);
void mx_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* statsd.c */
mx_statsd *mx_statsd_create(const metrics_config *cfg, char *err, size_t errlen);
void mx_statsd_destroy(mx_statsd *s);
void mx_statsd_flush(mx_statsd *s);
int mx_statsd_emit(mx_statsd *s, const metrics_metric *m, int64_t ivalue, double dvalue,
                   double rate);
void mx_statsd_stats(mx_statsd *s, metrics_stats *out);

#endif
