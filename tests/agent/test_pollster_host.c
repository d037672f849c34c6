/*
 * test_pollster_host.c: the host pollsters on many worker threads at once.
 * Issue 10: the PSI parser walked lines with strtok, whose position is
 * shared by every thread, so concurrent polls read each other's buffers. Each
 * thread here polls its own fake /proc whose values name the thread; every
 * sample must carry its own thread's values.
 */
#include "agent/pollster.h"
#include "harness/harness.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

enum { THREADS = 8, ROUNDS = 3000 };

typedef struct job {
    int id;
    char root[512];
    int wrong, failed;
} job;

/* /proc/pressure/{cpu,io,memory} of thread id: every avg field is id, totals id*1000. */
static void fake_proc(job *j)
{
    char rel[64], path[512];
    snprintf(rel, sizeof rel, "proc%d/pressure", j->id);
    th_path(path, sizeof path, rel);
    snprintf(j->root, sizeof j->root, "%.*s", (int)(strlen(path) - strlen("/pressure")), path);
    mkdir(j->root, 0755);
    mkdir(path, 0755);
    static const char *const res[] = {"cpu", "io", "memory"};
    for (int r = 0; r < 3; r++) {
        char text[512], file[128];
        snprintf(text, sizeof text,
                 "some avg10=%d.00 avg60=%d.00 avg300=%d.00 total=%d\n"
                 "full avg10=%d.00 avg60=%d.00 avg300=%d.00 total=%d\n",
                 j->id, j->id, j->id, j->id * 1000, j->id, j->id, j->id, j->id * 1000);
        snprintf(file, sizeof file, "proc%d/pressure/%s", j->id, res[r]);
        th_write_file(file, text, path, sizeof path);
    }
}

static void *run(void *arg)
{
    job *j = arg;
    bool want[64];
    for (size_t i = 0; i < 64; i++)
        want[i] = true;
    poll_target t = {.id = "h", .resource = "h", .local = true};
    poll_env env = {.host = "h", .proc_root = j->root, .want = want, .now_ms = 0};
    for (int r = 0; r < ROUNDS; r++) {
        sample_batch *b = sample_batch_new("s", 0, 0);
        char err[256] = "";
        if (pollster_host_pressure.poll(NULL, &t, &env, b, err, sizeof err) != 0) j->failed++;
        for (size_t i = 0; i < b->n; i++) {
            bool total = strstr(b->v[i].name, ".total") != NULL;
            if (b->v[i].value != (total ? j->id * 1000.0 : (double)j->id)) j->wrong++;
        }
        if (b->n != 24) j->wrong++;
        sample_batch_unref(b);
    }
    return NULL;
}

static void test_concurrent_pressure_polls(void **state)
{
    (void)state;
    job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job){.id = i + 1};
        fake_proc(&jobs[i]);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, run, &jobs[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        if (jobs[i].wrong || jobs[i].failed)
            fail_msg("thread %d: %d wrong samples or counts, %d failed polls", jobs[i].id,
                     jobs[i].wrong, jobs[i].failed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_concurrent_pressure_polls)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
