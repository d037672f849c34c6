/*
 * registry.c: the registry (config, host prefix, backend), its loggers and
 * metrics, and the emitting calls every backend shares.
 *
 * Loggers and metrics live as long as the registry: callers keep plain
 * pointers and never free them, and the same name always yields the same
 * handle. Registration takes the write lock; by-name emission takes the read
 * lock for one hash lookup; handle emission takes no lock of its own here
 * (the noop backend returns after one branch, prometheus does one relaxed
 * atomic, statsd formats and appends to a shard). Names are validated and
 * sanitised for every backend at registration, whatever backend is active,
 * so a name that would break under prometheus fails in development too.
 */
#include "metrics/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- registry ---- */

metrics_registry *metrics_registry_create(const metrics_config *cfg, char *err, size_t errlen)
{
    if (!cfg) {
        mx_err(err, errlen, "metrics: no configuration");
        return NULL;
    }
    if (cfg->backend != METRICS_BACKEND_NOOP && cfg->backend != METRICS_BACKEND_STATSD &&
        cfg->backend != METRICS_BACKEND_PROMETHEUS) {
        mx_err(err, errlen, "[metrics] backend: unknown value %d", (int)cfg->backend);
        return NULL;
    }
    char why[320];
    if (mx_check_name("global_prefix", cfg->global_prefix, true, why, sizeof why) != 0) {
        mx_err(err, errlen, "[metrics] %s", why);
        return NULL;
    }
    if (cfg->backend == METRICS_BACKEND_STATSD &&
        (cfg->statsd_port < 1 || cfg->statsd_port > 65535)) {
        mx_err(err, errlen, "[metrics] statsd_port = %d: expected 1..65535", cfg->statsd_port);
        return NULL;
    }
    metrics_registry *reg = calloc(1, sizeof *reg);
    if (!reg) {
        mx_err(err, errlen, "metrics: out of memory");
        return NULL;
    }
    reg->cfg = *cfg;
    reg->backend = cfg->backend;
    if (cfg->prepend_host) {
        char host[256] = "";
        if (cfg->host_name[0])
            snprintf(host, sizeof host, "%s", cfg->host_name);
        else if (gethostname(host, sizeof host - 1) != 0)
            host[0] = 0;
        mx_host_component(host, cfg->prepend_host_reverse, reg->host, sizeof reg->host);
        if (!reg->host[0]) snprintf(reg->host, sizeof reg->host, "unknown_host");
    }
    pthread_rwlock_init(&reg->lock, NULL);
    if (cfg->backend == METRICS_BACKEND_STATSD) {
        reg->statsd = mx_statsd_create(cfg, err, errlen);
        if (!reg->statsd) {
            metrics_registry_destroy(reg);
            return NULL;
        }
    }
    return reg;
}

void metrics_registry_destroy(metrics_registry *reg)
{
    if (!reg) return;
    mx_statsd_destroy(reg->statsd); /* flushes what is buffered */
    for (metrics_logger *l = reg->loggers, *next; l; l = next) {
        next = l->next;
        mx_table_free(&l->by_name);
        free(l->prefix);
        free(l->prom_prefix);
        free(l);
    }
    for (metrics_metric *m = reg->metrics, *next; m; m = next) {
        next = m->next;
        free(m->head);
        free(m->name);
        free(m->prom_name);
        free(m);
    }
    mx_table_free(&reg->logger_by_prefix);
    mx_table_free(&reg->metric_by_name);
    mx_table_free(&reg->metric_by_prom);
    pthread_rwlock_destroy(&reg->lock);
    free(reg);
}

metrics_backend metrics_registry_backend(const metrics_registry *reg)
{
    return reg ? reg->backend : METRICS_BACKEND_NOOP;
}

void metrics_flush(metrics_registry *reg)
{
    if (reg && reg->statsd) mx_statsd_flush(reg->statsd);
}

void metrics_get_stats(metrics_registry *reg, metrics_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!reg) return;
    if (reg->statsd) mx_statsd_stats(reg->statsd, out);
    out->rejected = atomic_load_explicit(&reg->rejected, memory_order_relaxed);
}

/* ---- loggers ---- */

/* Joins the non-empty parts with dots into a malloc'd string. */
static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(n);
    if (!s) return NULL;
    s[0] = 0;
    const char *parts[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        if (!parts[i][0]) continue;
        if (s[0]) strcat(s, ".");
        strcat(s, parts[i]);
    }
    return s;
}

metrics_logger *metrics_get_logger_ex(metrics_registry *reg, const char *prefix, char *err,
                                      size_t errlen)
{
    if (!reg) {
        mx_err(err, errlen, "metrics: no registry");
        return NULL;
    }
    if (mx_check_name("logger prefix", prefix, true, err, errlen) != 0) return NULL;
    pthread_rwlock_rdlock(&reg->lock);
    metrics_logger *log = mx_table_get(&reg->logger_by_prefix, prefix);
    pthread_rwlock_unlock(&reg->lock);
    if (log) return log;

    pthread_rwlock_wrlock(&reg->lock);
    log = mx_table_get(&reg->logger_by_prefix, prefix);
    if (log) goto out;
    log = calloc(1, sizeof *log);
    if (!log) goto oom;
    log->reg = reg;
    log->backend = reg->backend;
    log->prefix = join3(reg->cfg.global_prefix, reg->host, prefix);
    log->prom_prefix = join3(reg->cfg.global_prefix, "", prefix);
    if (!log->prefix || !log->prom_prefix || mx_table_put(&reg->logger_by_prefix, prefix, log)) {
        free(log->prefix);
        free(log->prom_prefix);
        free(log);
        goto oom;
    }
    log->next = reg->loggers;
    reg->loggers = log;
out:
    pthread_rwlock_unlock(&reg->lock);
    return log;
oom:
    pthread_rwlock_unlock(&reg->lock);
    mx_err(err, errlen, "metrics: out of memory");
    return NULL;
}

metrics_logger *metrics_get_logger(metrics_registry *reg, const char *prefix)
{
    return metrics_get_logger_ex(reg, prefix, NULL, 0);
}

/* ---- metrics ---- */

static const char *type_name[] = {"counter", "gauge", "timer"};
static const char *prom_suffix[] = {"_total", "", "_seconds"};

static void free_metric(metrics_metric *m)
{
    if (!m) return;
    free(m->head);
    free(m->name);
    free(m->prom_name);
    free(m);
}

/* Called with the write lock held. */
static metrics_metric *create_metric(metrics_logger *log, const char *name, enum mx_type type,
                                     char *err, size_t errlen)
{
    metrics_registry *reg = log->reg;
    char *full = join3(log->prefix, "", name);
    char *prom_dotted = join3(log->prom_prefix, "", name);
    char prom[METRICS_NAME_MAX + 16];
    metrics_metric *m = NULL;
    if (!full || !prom_dotted) goto oom;
    if (strlen(full) > METRICS_NAME_MAX) {
        mx_err(err, errlen, "metric name \"%s\": %zu bytes with its prefixes, at most %d", full,
               strlen(full), METRICS_NAME_MAX);
        goto fail;
    }
    m = mx_table_get(&reg->metric_by_name, full);
    if (m) { /* the same full name through another logger */
        if (m->type != type) goto wrong_type;
        goto found;
    }
    mx_prom_name(prom_dotted, prom_suffix[type], prom, sizeof prom);
    metrics_metric *other = mx_table_get(&reg->metric_by_prom, prom);
    if (other) {
        mx_err(err, errlen,
               "metric name \"%s\": collides with \"%s\" once sanitised for prometheus (%s)", full,
               other->name, prom);
        goto fail;
    }
    m = calloc(1, sizeof *m);
    if (!m) goto oom;
    m->reg = reg;
    m->backend = reg->backend;
    m->type = type;
    m->name = full;
    full = NULL;
    m->head_len = (unsigned)strlen(m->name) + 1;
    m->head = malloc(m->head_len + 1);
    m->prom_name = strdup(prom);
    if (!m->head || !m->prom_name) {
        free_metric(m);
        goto oom;
    }
    memcpy(m->head, m->name, m->head_len - 1);
    m->head[m->head_len - 1] = ':';
    m->head[m->head_len] = 0;
    /* in the list first: if a table insert fails, the registry still frees it */
    m->next = reg->metrics;
    reg->metrics = m;
    if (mx_table_put(&reg->metric_by_name, m->name, m) ||
        mx_table_put(&reg->metric_by_prom, m->prom_name, m))
        goto oom;
found:
    if (mx_table_put(&log->by_name, name, m)) goto oom;
    free(full);
    free(prom_dotted);
    return m;
wrong_type:
    mx_err(err, errlen, "metric name \"%s\": already registered as a %s, not a %s", full,
           type_name[m->type], type_name[type]);
    goto fail;
oom:
    mx_err(err, errlen, "metrics: out of memory");
fail:
    free(full);
    free(prom_dotted);
    return NULL;
}

static metrics_metric *metric_get(metrics_logger *log, const char *name, enum mx_type type,
                                  char *err, size_t errlen)
{
    if (!log) {
        mx_err(err, errlen, "metrics: no logger (metrics_get_logger returned NULL?)");
        return NULL;
    }
    metrics_registry *reg = log->reg;
    if (metrics_check_name(name, err, errlen) != 0) goto rejected;
    pthread_rwlock_rdlock(&reg->lock);
    metrics_metric *m = mx_table_get(&log->by_name, name);
    pthread_rwlock_unlock(&reg->lock);
    if (!m) {
        pthread_rwlock_wrlock(&reg->lock);
        m = mx_table_get(&log->by_name, name);
        if (!m) m = create_metric(log, name, type, err, errlen);
        pthread_rwlock_unlock(&reg->lock);
        if (!m) goto rejected;
    }
    if (m->type != type) {
        mx_err(err, errlen, "metric name \"%s\": already registered as a %s, not a %s", m->name,
               type_name[m->type], type_name[type]);
        goto rejected;
    }
    return m;
rejected:
    atomic_fetch_add_explicit(&reg->rejected, 1, memory_order_relaxed);
    return NULL;
}

metrics_metric *metrics_counter_get(metrics_logger *log, const char *name, char *err, size_t errlen)
{
    return metric_get(log, name, MX_COUNTER, err, errlen);
}

metrics_metric *metrics_gauge_get(metrics_logger *log, const char *name, char *err, size_t errlen)
{
    return metric_get(log, name, MX_GAUGE, err, errlen);
}

metrics_metric *metrics_timer_get(metrics_logger *log, const char *name, char *err, size_t errlen)
{
    return metric_get(log, name, MX_TIMER, err, errlen);
}

const char *metrics_metric_name(const metrics_metric *m)
{
    return m ? m->name : "";
}

/* ---- emitting ---- */

static int reject(metrics_metric *m)
{
    atomic_fetch_add_explicit(&m->reg->rejected, 1, memory_order_relaxed);
    return -1;
}

/* (0, 1], with a floor so that |@rate stays in fixed notation */
static bool rate_ok(double rate)
{
    return rate >= 1e-9 && rate <= 1;
}

int metrics_counter_sampled(metrics_metric *m, int64_t delta, double sample_rate)
{
    if (!m || m->backend == METRICS_BACKEND_NOOP) return 0;
    if (m->type != MX_COUNTER || !rate_ok(sample_rate)) return reject(m);
    if (m->backend == METRICS_BACKEND_STATSD)
        return mx_statsd_emit(m->reg->statsd, m, delta, 0, sample_rate);
    /* a Prometheus counter never goes down (statsd_exporter refuses it too) */
    if (delta < 0) return reject(m);
    atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
    return 0;
}

int metrics_counter(metrics_metric *m, int64_t delta)
{
    return metrics_counter_sampled(m, delta, 1.0);
}

int metrics_gauge_sampled(metrics_metric *m, double value, double sample_rate)
{
    if (!m || m->backend == METRICS_BACKEND_NOOP) return 0;
    if (m->type != MX_GAUGE || !isfinite(value) || !rate_ok(sample_rate)) return reject(m);
    if (m->backend == METRICS_BACKEND_STATSD)
        return mx_statsd_emit(m->reg->statsd, m, 0, value, sample_rate);
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    atomic_store_explicit(&m->fvalue, bits, memory_order_relaxed);
    return 0;
}

int metrics_gauge(metrics_metric *m, double value)
{
    return metrics_gauge_sampled(m, value, 1.0);
}

int metrics_timer_sampled(metrics_metric *m, double ms, double sample_rate)
{
    if (!m || m->backend == METRICS_BACKEND_NOOP) return 0;
    /* statsd drops negative timings as bad lines: refuse them here, visibly */
    if (m->type != MX_TIMER || !isfinite(ms) || ms < 0 || ms > 1e12 || !rate_ok(sample_rate))
        return reject(m);
    if (m->backend == METRICS_BACKEND_STATSD)
        return mx_statsd_emit(m->reg->statsd, m, 0, ms, sample_rate);
    atomic_fetch_add_explicit(&m->value, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_ns, (int64_t)llround(ms * 1e6), memory_order_relaxed);
    return 0;
}

int metrics_timer(metrics_metric *m, double ms)
{
    return metrics_timer_sampled(m, ms, 1.0);
}

static metrics_metric *by_name(metrics_logger *log, const char *name, enum mx_type type)
{
    return metric_get(log, name, type, NULL, 0);
}

int metrics_send_counter(metrics_logger *log, const char *name, int64_t delta, double sample_rate)
{
    if (!log || log->backend == METRICS_BACKEND_NOOP) return 0;
    metrics_metric *m = by_name(log, name, MX_COUNTER);
    return m ? metrics_counter_sampled(m, delta, sample_rate) : -1;
}

int metrics_send_gauge(metrics_logger *log, const char *name, double value, double sample_rate)
{
    if (!log || log->backend == METRICS_BACKEND_NOOP) return 0;
    metrics_metric *m = by_name(log, name, MX_GAUGE);
    return m ? metrics_gauge_sampled(m, value, sample_rate) : -1;
}

int metrics_send_timer(metrics_logger *log, const char *name, double ms, double sample_rate)
{
    if (!log || log->backend == METRICS_BACKEND_NOOP) return 0;
    metrics_metric *m = by_name(log, name, MX_TIMER);
    return m ? metrics_timer_sampled(m, ms, sample_rate) : -1;
}

/* ---- scoped blocks ---- */

metrics_scope metrics_scope_timer_begin(metrics_metric *m)
{
    metrics_scope s = {.metric = NULL, .active = 1};
    if (m && m->backend != METRICS_BACKEND_NOOP) {
        s.metric = m;
        clock_gettime(CLOCK_MONOTONIC, &s.start);
    }
    return s;
}

metrics_scope metrics_scope_counter_begin(metrics_metric *m)
{
    metrics_counter(m, 1); /* counted on entry, as the seed's context manager does */
    return (metrics_scope){.metric = NULL, .active = 1};
}

void metrics_scope_end(metrics_scope *s)
{
    if (!s->metric) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - s->start.tv_sec) * 1e3 +
                (double)(now.tv_nsec - s->start.tv_nsec) / 1e6;
    metrics_timer(s->metric, ms < 0 ? 0 : ms);
    s->metric = NULL;
}
