/*
 * prometheus.c: the prometheus backend's exposition text (format 0.0.4), for
 * the agent to append to its /metrics beside the polled samples.
 *
 * Values live in the metrics themselves (relaxed atomics updated by the
 * emitting calls); rendering takes the registry's read lock only to copy the
 * list of metrics, sorts it by name so scrapes are stable, then reads each
 * value once. Counters are <name>_total, gauges <name>, timers summaries
 * <name>_seconds with _count and _sum (no quantiles: they would need a
 * sketch per timer on the hot path; rate(sum)/rate(count) gives the mean).
 * The host is not in the name: Prometheus adds it as the instance label.
 */
#include "metrics/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_metric(const void *a, const void *b)
{
    const metrics_metric *x = *(metrics_metric *const *)a, *y = *(metrics_metric *const *)b;
    return strcmp(x->prom_name, y->prom_name);
}

/* The shortest %g spelling that reads back as the same double. */
static void fmt_double(char *out, size_t cap, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

static int render_one(const metrics_metric *m, metrics_write_fn write, void *arg)
{
    char text[3 * METRICS_NAME_MAX + 256], num[40];
    int n = 0;
    switch (m->type) {
    case MX_COUNTER:
        n = snprintf(text, sizeof text,
                     "# HELP %s meterd self-metric %s (counter)\n# TYPE %s counter\n%s %lld\n",
                     m->prom_name, m->name, m->prom_name, m->prom_name,
                     (long long)atomic_load_explicit(&m->value, memory_order_relaxed));
        break;
    case MX_GAUGE: {
        uint64_t bits = atomic_load_explicit(&m->fvalue, memory_order_relaxed);
        double v;
        memcpy(&v, &bits, sizeof v);
        fmt_double(num, sizeof num, v);
        n = snprintf(text, sizeof text,
                     "# HELP %s meterd self-metric %s (gauge)\n# TYPE %s gauge\n%s %s\n",
                     m->prom_name, m->name, m->prom_name, m->prom_name, num);
        break;
    }
    case MX_TIMER: {
        /* count first: a scrape racing an update may see the new count with the old sum */
        long long count = (long long)atomic_load_explicit(&m->value, memory_order_relaxed);
        double sum = (double)atomic_load_explicit(&m->sum_ns, memory_order_relaxed) / 1e9;
        fmt_double(num, sizeof num, sum);
        n = snprintf(text, sizeof text,
                     "# HELP %s meterd self-metric %s (timer, in seconds)\n"
                     "# TYPE %s summary\n%s_count %lld\n%s_sum %s\n",
                     m->prom_name, m->name, m->prom_name, m->prom_name, count, m->prom_name, num);
        break;
    }
    }
    if (n < 0 || (size_t)n >= sizeof text) return 0; /* cannot happen: names are bounded */
    return write(arg, text, (size_t)n);
}

int metrics_render_prometheus(metrics_registry *reg, metrics_write_fn write, void *arg)
{
    if (!reg || reg->backend != METRICS_BACKEND_PROMETHEUS || !write) return 0;
    pthread_rwlock_rdlock(&reg->lock);
    size_t n = 0;
    for (metrics_metric *m = reg->metrics; m; m = m->next)
        n++;
    metrics_metric **all = n ? malloc(n * sizeof *all) : NULL;
    size_t i = 0;
    if (all)
        for (metrics_metric *m = reg->metrics; m; m = m->next)
            all[i++] = m;
    pthread_rwlock_unlock(&reg->lock);
    if (!all) return 0;
    qsort(all, n, sizeof *all, cmp_metric);
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++)
        rc = render_one(all[i], write, arg);
    free(all);
    return rc;
}

typedef struct growbuf {
    char *data;
    size_t len, cap;
} growbuf;

static int grow_write(void *arg, const char *data, size_t len)
{
    growbuf *b = arg;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

char *metrics_render_prometheus_text(metrics_registry *reg, size_t *len)
{
    growbuf b = {0};
    if (metrics_render_prometheus(reg, grow_write, &b) != 0) {
        free(b.data);
        return NULL;
    }
    if (!b.data) b.data = calloc(1, 1);
    if (len) *len = b.data ? b.len : 0;
    return b.data;
}
