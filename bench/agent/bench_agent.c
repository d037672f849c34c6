/*
 * bench_agent.c: the agent's own costs, printed as one JSON object.
 *
 *   idle_rss_kb          RSS of a real meterd process on the embedded default
 *   rss_kb_10k_targets   RSS of an in-process agent polling 10,000 targets
 *                        every 10 s (bench process baseline included)
 *   cpu_us_per_sample    process CPU per sample from poll to publish, per
 *                        publisher (file, prometheus), with a synthetic
 *                        pollster whose own work is one sample_batch_add
 *   reload_apply_ms      500-source pipeline, 1 source changed, from the
 *                        rename of the file to the revision applied (inotify
 *                        path): median and max of 10 reloads
 *
 * Run: build/bench/agent/bench_agent [meterd binary]
 */
#include "agent_fixture.h"
#include "harness/harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int bench_poll(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                      char *err, size_t errlen)
{
    (void)state;
    (void)err;
    (void)errlen;
    for (int i = 0; i < 10; i++)
        sample_batch_add(out, "bench.value", SAMPLE_GAUGE, "1", (double)i, t->resource, env->now_ms,
                         NULL, 0);
    return 0;
}

static const char *const bench_meters[] = {"bench.value", NULL};
static const registry_pollster bench_desc = {
    .name = "bench", .ns = "central", .meters = bench_meters};
static const pollster_plugin bench_pollster = {.desc = &bench_desc, .poll = bench_poll};
static const pollster_plugin *const extra[] = {&bench_pollster, NULL};

static char *targets_pipeline(int n, int interval, const char *pub_url)
{
    size_t cap = (size_t)n * 16 + 512;
    char *y = malloc(cap);
    size_t len = (size_t)snprintf(y, cap,
                                  "sources:\n  - name: bench\n    interval: %d\n"
                                  "    meters: [bench.value]\n    resources:\n",
                                  interval);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(y + len, cap - len, "      - t%05d\n", i);
    snprintf(y + len, cap - len, "sinks:\n  - name: default\n    publishers: ['%s']\n", pub_url);
    return y;
}

static uint64_t published(fixture *f)
{
    strbuf b;
    strbuf_init(&b);
    sinks_status_json(f->a->groups[0], &b);
    uint64_t n = 0;
    const char *p = b.buf ? strstr(b.buf, "\"samples\":") : NULL;
    if (p) n = strtoull(p + 10, NULL, 10);
    strbuf_free(&b);
    return n;
}

static bool samples_reached(void *arg)
{
    void **a = arg;
    return published(a[0]) >= *(uint64_t *)a[1];
}

/* 10,000 targets at 1 s: 100,000 samples/s through one publisher. */
static double cpu_per_sample(const char *pub_url, long *rss)
{
    fixture f;
    char *y = targets_pipeline(10000, 1, pub_url);
    fx_start(&f, y, extra, "[publisher]\nqueue_size = 100000\n");
    free(y);
    uint64_t warm = 100000, goal = 600000;
    void *arg[2] = {&f, &warm};
    th_wait_until(samples_reached, arg, 10000);
    double c0 = cpu_s();
    uint64_t s0 = published(&f);
    arg[1] = &goal;
    th_wait_until(samples_reached, arg, 30000);
    double c1 = cpu_s();
    uint64_t s1 = published(&f);
    if (rss) *rss = rss_kb(getpid());
    fx_stop(&f);
    return s1 > s0 ? (c1 - c0) * 1e6 / (double)(s1 - s0) : -1;
}

typedef struct rev_wait {
    fixture *f;
    uint64_t rev;
} rev_wait;

static bool revision_reached(void *arg)
{
    rev_wait *w = arg;
    return fx_revision(w->f, NULL, 0) >= w->rev;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_reload(double *median, double *max)
{
    char *y = malloc(500 * 120 + 64);
    fixture f;
    double ms[10];
    for (int round = 0; round <= 10; round++) {
        size_t len = (size_t)sprintf(y, "sources:\n");
        for (int i = 0; i < 500; i++)
            len += (size_t)sprintf(y + len,
                                   "  - name: s%03d\n    interval: %d\n    meters: [bench.value]\n"
                                   "    resources: [r%03d]\n",
                                   i, i == 250 ? 60 + round : 60, i);
        if (round == 0) {
            fx_start(&f, y, extra, NULL);
            continue;
        }
        /* the agent stamps the wall clock when a revision is in place: compare
         * with the instant before the rename, to 1 ms (the wait below only
         * tells us when to look) */
        int64_t t0 = fx_wall_ms();
        fx_write_pipeline(&f, y);
        rev_wait w = {&f, (uint64_t)round + 1};
        th_wait_until(revision_reached, &w, 5000);
        pthread_mutex_lock(&f.a->mu);
        int64_t applied = f.a->groups[0]->applied_ms;
        pthread_mutex_unlock(&f.a->mu);
        ms[round - 1] = (double)(applied - t0);
    }
    fx_stop(&f);
    free(y);
    qsort(ms, 10, sizeof ms[0], cmp_double);
    *median = (ms[4] + ms[5]) / 2;
    *max = ms[9];
}

static long idle_rss(const char *meterd)
{
    th_proc p;
    char conf[512];
    th_write_file("idle.conf", "[api]\nport = 0\n[DEFAULT]\nlog_level = warning\n", conf,
                  sizeof conf);
    char *argv[] = {(char *)meterd, "-c", conf, NULL};
    if (th_spawn(&p, "meterd-idle", argv, NULL, NULL) != 0) return -1;
    struct timespec ts = {1, 0}; /* settle: the agent has nothing to wait for */
    nanosleep(&ts, NULL);
    long kb = rss_kb(p.pid);
    th_stop(&p, SIGTERM, 5000);
    return kb;
}

int main(int argc, char **argv)
{
    const char *meterd = argc > 1 ? argv[1] : MeterdBinary;
    long idle = idle_rss(meterd);
    long base_rss = rss_kb(getpid());
    char file_url[600], path[512];
    th_path(path, sizeof path, "bench.jsonl");
    snprintf(file_url, sizeof file_url, "file://%s", path);
    long rss_file = 0, rss_prom = 0;
    double cpu_file = cpu_per_sample(file_url, &rss_file);
    double cpu_prom = cpu_per_sample("prometheus://", &rss_prom);

    /* 10k targets at the 10 s interval the goal names */
    fixture f;
    char *y = targets_pipeline(10000, 10, "prometheus://");
    fx_start(&f, y, extra, NULL);
    free(y);
    uint64_t goal = 100000;
    void *arg[2] = {&f, &goal};
    th_wait_until(samples_reached, arg, 15000);
    long rss10k = rss_kb(getpid());
    fx_stop(&f);

    double med, max;
    bench_reload(&med, &max);
    printf("{\"idle_rss_kb\":%ld,\"bench_process_base_rss_kb\":%ld,\"rss_kb_10k_targets\":%ld,"
           "\"cpu_us_per_sample\":{\"file\":%.3f,\"prometheus\":%.3f},"
           "\"rss_kb_100k_samples_per_s\":{\"file\":%ld,\"prometheus\":%ld},"
           "\"reload_apply_ms\":{\"median\":%.2f,\"max\":%.2f,\"sources\":500,\"changed\":1}}\n",
           idle, base_rss, rss10k, cpu_file, cpu_prom, rss_file, rss_prom, med, max);
    return 0;
}
