/*
 * bench_publish.c: CPU cost per sample from publisher_submit to published,
 * for the file and prometheus publishers (the project's goal: at most 2 us of
 * CPU per sample from poll to publish, all of it included).
 *
 * A pool of pre-built batches (100 resources x `samples` meters, two labels
 * each) is submitted round-robin `batches` times; batches are immutable and
 * reference counted, so reuse is what the agent does too. CPU time is the
 * whole process's (CLOCK_PROCESS_CPUTIME_ID: submitter + publisher thread),
 * measured around submit and the final flush, batch building excluded.
 *
 *   bench_publish [batches=10000] [samples=100]
 */
#include "agent/publisher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL 100

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static sample_batch *make_batch(int r, int samples)
{
    sample_batch *b = sample_batch_new("bench_source", 1, 1700000000000);
    char res[32];
    snprintf(res, sizeof res, "node-%03d.example.org", r);
    for (int i = 0; b && i < samples; i++) {
        char name[48], cpu[8];
        snprintf(name, sizeof name, "host.bench.meter.%03d", i);
        snprintf(cpu, sizeof cpu, "%d", i % 8);
        sample_label l[] = {{"cpu", cpu}, {"mode", "user"}};
        sample_batch_add(b, name, i % 3 == 0 ? SAMPLE_CUMULATIVE : SAMPLE_GAUGE, "%",
                         r * 1000.0 + i + 0.125, res, 1700000000000 + i, l, 2);
    }
    return b;
}

typedef struct result {
    double cpu_us_per_sample, wall_s;
    unsigned long long published, dropped;
} result;

static int run(const char *url, sample_batch **pool, long batches, int samples, result *out)
{
    char err[256];
    publisher_options o = {.queue_batches = 1024, .flush_timeout_ms = 60000};
    publisher *p = publisher_open_url(url, &o, err, sizeof err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
    for (long i = 0; i < batches; i++) {
        publisher_submit(p, pool[i % POOL]);
        if (i % 512 == 511) publisher_flush(p, 60000); /* stay under the queue bound */
    }
    publisher_flush(p, 60000);
    double c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w1 = clock_s(CLOCK_MONOTONIC);
    publisher_stats st;
    publisher_get_stats(p, &st);
    publisher_close(p);
    out->cpu_us_per_sample = (c1 - c0) * 1e6 / ((double)batches * samples);
    out->wall_s = w1 - w0;
    out->published = (unsigned long long)st.samples;
    out->dropped = (unsigned long long)st.dropped_samples;
    return 0;
}

static void print_result(const char *name, const result *r, const char *tail)
{
    printf("\"%s\":{\"cpu_us_per_sample\":%.3f,\"wall_s\":%.3f,\"published_samples\":%llu,"
           "\"dropped_samples\":%llu}%s",
           name, r->cpu_us_per_sample, r->wall_s, r->published, r->dropped, tail);
}

int main(int argc, char **argv)
{
    long batches = argc > 1 ? atol(argv[1]) : 10000;
    int samples = argc > 2 ? atoi(argv[2]) : 100;
    if (batches <= 0 || samples <= 0) {
        fprintf(stderr, "usage: bench_publish [batches] [samples]\n");
        return 2;
    }
    sample_batch *pool[POOL];
    for (int r = 0; r < POOL; r++)
        if (!(pool[r] = make_batch(r, samples))) return 1;

    char dir[] = "/tmp/bench_publish.XXXXXX", url[128], path[96];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/out.jsonl", dir);
    snprintf(url, sizeof url, "file://%s", path);

    result devnull, file, prom;
    long file_batches = batches / 10 ? batches / 10 : 1; /* keep the file small */
    if (run("file:///dev/null", pool, batches, samples, &devnull) != 0 ||
        run(url, pool, file_batches, samples, &file) != 0 ||
        run("prometheus://", pool, batches, samples, &prom) != 0)
        return 1;
    unlink(path);
    rmdir(dir);

    /* render cost with every series present */
    char err[256];
    publisher *p = publisher_open_url("prometheus://", NULL, err, sizeof err);
    for (int r = 0; r < POOL; r++)
        publisher_submit(p, pool[r]);
    strbuf s;
    strbuf_init(&s);
    const int renders = 20;
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < renders; i++) {
        strbuf_reset(&s);
        publisher_render(p, &s);
    }
    double render_ms = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3 / renders;
    publisher_close(p);

    printf("{\"bench\":\"agent_publish\",\"batches\":%ld,\"samples_per_batch\":%d,", batches,
           samples);
    print_result("file_devnull", &devnull, ",");
    printf("\"file_tmp_batches\":%ld,", file_batches);
    print_result("file_tmp", &file, ",");
    print_result("prometheus", &prom, ",");
    printf("\"prometheus_render\":{\"series\":%d,\"cpu_ms\":%.3f,\"bytes\":%zu}}\n", POOL * samples,
           render_ms, s.len);
    strbuf_free(&s);
    for (int r = 0; r < POOL; r++)
        sample_batch_unref(pool[r]);
    return 0;
}
