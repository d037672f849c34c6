/* bench_pipeline.c -- how fast a pipeline is parsed, validated, hashed,
 * diffed and consulted. Prints one JSON object.
 *
 * Cases: Ceilometer's shipped pipeline.yaml (the common small file); a
 * generated fleet pipeline of 1000 sources x 20 meters with 50 sinks (a
 * large real-world one); a 10 MB document (the size bound we promise to
 * handle). Then the reload path: diff of two 1000-source revisions that
 * differ in one source, and meter selection (is_supported) per call.
 * Usage: bench_pipeline [DATA_DIR]   (default: the source tree's tests/data)
 */
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    return buf;
}

/* sources x meters, with every 20th source edited when `variant` is set */
static char *fleet(int sources, int meters, int sinks, int variant, size_t *len)
{
    size_t cap = (size_t)sources * (size_t)meters * 40 + (size_t)sinks * 120 + 4096, n = 0;
    char *b = malloc(cap);
    if (b == NULL) return NULL;
    n += (size_t)snprintf(b + n, cap - n, "sources:\n");
    for (int s = 0; s < sources; s++) {
        int interval = (variant && s == sources / 2) ? 61 : 60;
        n += (size_t)snprintf(b + n, cap - n,
                              "  - name: src%04d\n    interval: %d\n    sinks: [sink%02d]\n"
                              "    meters:\n",
                              s, interval, s % sinks);
        for (int m = 0; m < meters; m++)
            n += (size_t)snprintf(b + n, cap - n, "      - hardware.ipmi.m%03d.s%02d\n", s % 97, m);
    }
    n += (size_t)snprintf(b + n, cap - n, "sinks:\n");
    for (int k = 0; k < sinks; k++)
        n += (size_t)snprintf(b + n, cap - n,
                              "  - name: sink%02d\n    publishers: ['udp://10.0.%d.1:4952', "
                              "'prometheus://']\n",
                              k, k);
    *len = n;
    return b;
}

static char *ten_mb(size_t *len)
{
    size_t target = 10u * 1000 * 1000, cap = target + 4096, n = 0;
    char *b = malloc(cap);
    if (b == NULL) return NULL;
    n += (size_t)snprintf(b, cap, "sources:\n  - name: big\n    interval: 60\n    meters:\n");
    for (int i = 0; n + 64 < target; i++)
        n += (size_t)snprintf(b + n, cap - n, "      - hardware.ipmi.sensor.m%09d\n", i);
    *len = n;
    return b;
}

/* mean seconds per parse over at least `min_s` seconds */
static double time_parse(const char *buf, size_t len, double min_s, int *iters)
{
    int n = 0;
    double t0 = now(), t;
    do {
        pipeline *p = NULL;
        if (pipeline_parse(buf, len, "bench", NULL, &p, NULL) != 0) {
            fprintf(stderr, "bench input refused\n");
            exit(1);
        }
        pipeline_free(p);
        n++;
        t = now() - t0;
    } while (t < min_s);
    *iters = n;
    return t / n;
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : MeterdSourceDir "/tests/data";
    char path[1024];
    snprintf(path, sizeof path, "%s/pipeline/ceilometer/pipeline.yaml", data);
    size_t small_len = 0, fleet_len = 0, fleet2_len = 0, big_len = 0;
    char *small = read_all(path, &small_len);
    char *f1 = fleet(1000, 20, 50, 0, &fleet_len);
    char *f2 = fleet(1000, 20, 50, 1, &fleet2_len);
    char *big = ten_mb(&big_len);
    if (!small || !f1 || !f2 || !big) {
        fprintf(stderr, "cannot prepare inputs (%s)\n", path);
        return 1;
    }
    int it_small, it_fleet, it_big;
    double t_small = time_parse(small, small_len, 0.5, &it_small);
    double t_fleet = time_parse(f1, fleet_len, 1.0, &it_fleet);
    double t_big = time_parse(big, big_len, 1.0, &it_big);

    pipeline *a = NULL, *b = NULL;
    pipeline_parse(f1, fleet_len, "a", NULL, &a, NULL);
    pipeline_parse(f2, fleet2_len, "b", NULL, &b, NULL);
    int it_diff = 0;
    size_t changes = 0;
    double t0 = now();
    do {
        pipeline_diff d;
        pipeline_diff_compute(a, b, &d);
        changes = d.n_changes;
        pipeline_diff_free(&d);
        it_diff++;
    } while (now() - t0 < 0.5);
    double t_diff = (now() - t0) / it_diff;

    /* is_supported over every source for one meter name: the agent's hot lookup at setup */
    long checks = 0, hits = 0;
    t0 = now();
    do {
        for (size_t s = 0; s < a->n_sources; s++, checks++)
            hits += pipeline_source_selects(&a->sources[s], "hardware.ipmi.m042.s07");
    } while (now() - t0 < 0.5);
    double t_sel = (now() - t0) / (double)checks;

    printf("{\"ceilometer_pipeline_yaml\":{\"bytes\":%zu,\"parse_us\":%.1f,\"iterations\":%d},"
           "\"fleet_1000x20\":{\"bytes\":%zu,\"sources\":%zu,\"parse_ms\":%.2f,\"MB_per_s\":%.1f,"
           "\"iterations\":%d},"
           "\"doc_10MB\":{\"bytes\":%zu,\"parse_ms\":%.1f,\"MB_per_s\":%.1f,\"iterations\":%d},"
           "\"diff_1000_sources\":{\"changes\":%zu,\"us\":%.1f},"
           "\"select_20_patterns\":{\"ns_per_source\":%.1f,\"hits\":%ld}}\n",
           small_len, t_small * 1e6, it_small, fleet_len, a->n_sources, t_fleet * 1e3,
           fleet_len / t_fleet / 1e6, it_fleet, big_len, t_big * 1e3, big_len / t_big / 1e6, it_big,
           changes, t_diff * 1e6, t_sel * 1e9, hits);
    pipeline_free(a);
    pipeline_free(b);
    free(small);
    free(f1);
    free(f2);
    free(big);
    return 0;
}
