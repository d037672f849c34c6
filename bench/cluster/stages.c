/*
 * stages.c: see stages.h. Instants are the members' wall clocks; on one
 * machine (the benches) they are one clock. ZooKeeper's commit instant is
 * the pipeline node's mtime, in ms: a notify stage under 1 ms reads as 0.
 */
#include "stages.h"

#include <stdlib.h>

static void push_v(st_series *s, double v)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        double *g = realloc(s->v, (size_t)cap * sizeof *g);
        if (!g) return;
        s->v = g;
        s->cap = cap;
    }
    s->v[s->n++] = v;
}

void st_add_push(st_stats *s, const st_seen *m, int n, int64_t commit_us, double total_ms)
{
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (!m[i].info.trace.revision || m[i].info.trace.revision != m[i].info.applied_revision) {
            s->untraced++;
            continue;
        }
        m[i].info.trace.via_pubsub ? s->via_pubsub++ : s->via_zk++;
        double d[ST_N];
        coord_trace_stages(&m[i].info.trace, commit_us, m[i].seen_us, d);
        for (int k = 0; k < ST_N; k++)
            if (d[k] >= 0) push_v(&s->all[k], d[k]);
        if (last < 0 || m[i].seen_us > m[last].seen_us) last = i;
    }
    if (last >= 0) {
        double d[ST_N];
        coord_trace_stages(&m[last].info.trace, commit_us, m[last].seen_us, d);
        for (int k = 0; k < ST_N; k++)
            if (d[k] >= 0) push_v(&s->slowest[k], d[k]);
    }
    push_v(&s->total, total_ms);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double st_pct(double *v, int n, int p)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int k = (p * n + 99) / 100;
    return v[k < 1 ? 0 : k - 1];
}

static void print_set(FILE *f, st_series *set)
{
    fputc('{', f);
    for (int k = 0; k < ST_N; k++)
        fprintf(f, "%s\"%s\":{\"p50\":%.2f,\"p99\":%.2f}", k ? "," : "", coord_stage_name(k),
                st_pct(set[k].v, set[k].n, 50), st_pct(set[k].v, set[k].n, 99));
    fputc('}', f);
}

void st_print(FILE *f, st_stats *s)
{
    fprintf(f, "{\"total\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"n\":%d},\"stages\":",
            st_pct(s->total.v, s->total.n, 50), st_pct(s->total.v, s->total.n, 99),
            st_pct(s->total.v, s->total.n, 100), s->total.n);
    print_set(f, s->all);
    fprintf(f, ",\"slowest_member\":");
    print_set(f, s->slowest);
    fprintf(f, ",\"via_pubsub\":%lld,\"via_zookeeper\":%lld,\"untraced\":%lld}",
            (long long)s->via_pubsub, (long long)s->via_zk, (long long)s->untraced);
}

void st_free(st_stats *s)
{
    for (int k = 0; k < ST_N; k++) {
        free(s->all[k].v);
        free(s->slowest[k].v);
    }
    free(s->total.v);
    *s = (st_stats){0};
}
