/*
 * test_agent_reload.c: seed 000's promise. A revision that changes one source
 * out of 500 leaves the other 499 untouched (same objects, same phase); an
 * invalid revision is refused and the old one keeps running; a poll in flight
 * across a change of its source completes and the next one starts after it;
 * stopping the agent loses no sample already polled.
 */
#include "agent_fixture.h"
#include "harness/harness.h"
#include "test_pollster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const pollster_plugin *const extra[] = {&test_pollster, NULL};

#define N_SOURCES 500

static char *many_sources(int changed_index, int changed_interval)
{
    size_t cap = N_SOURCES * 160 + 256, len = 0;
    char *y = malloc(cap);
    len += (size_t)snprintf(y + len, cap - len, "sources:\n");
    for (int i = 0; i < N_SOURCES; i++)
        len +=
            (size_t)snprintf(y + len, cap - len,
                             "  - name: s%03d\n    interval: %d\n    meters: [test.clock.value]\n"
                             "    resources: [r%03d]\n",
                             i, i == changed_index ? changed_interval : 30, i);
    return y;
}

typedef struct snapshot {
    src_rt *src[N_SOURCES];
    void *task[N_SOURCES];
    int64_t due[N_SOURCES];
} snapshot;

static void take_snapshot(agent *a, void *arg)
{
    snapshot *s = arg;
    for (int i = 0; i < N_SOURCES; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%03d", i);
        src_rt *r = group_find_source(a->groups[0], name);
        s->src[i] = r;
        s->task[i] = r && r->n_tasks ? r->tasks[0] : NULL;
        s->due[i] = r && r->n_tasks ? r->tasks[0]->due_wall_ms : 0;
    }
}

static bool error_shown(void *arg)
{
    char err[512];
    fx_revision(arg, err, sizeof err);
    return err[0] != 0;
}

static void test_one_of_500_changed(void **state)
{
    (void)state;
    tp_reset();
    fixture f;
    char *y1 = many_sources(-1, 0);
    fx_start(&f, y1, extra, NULL);
    free(y1);
    snapshot *before = calloc(1, sizeof *before), *after = calloc(1, sizeof *after);
    fx_on_loop(&f, take_snapshot, before);
    for (int i = 0; i < N_SOURCES; i++)
        assert_non_null(before->src[i]);

    char *y2 = many_sources(250, 45);
    int64_t t0 = th_now_ms();
    fx_write_pipeline(&f, y2); /* inotify picks it up */
    free(y2);
    assert_true(fx_wait_revision(&f, 2, 5000 * th_slack()));
    int64_t seen_ms = th_now_ms() - t0;
    fx_on_loop(&f, take_snapshot, after);
    int untouched = 0;
    for (int i = 0; i < N_SOURCES; i++) {
        if (i == 250) continue;
        /* same objects, and the same phase: a task may have fired meanwhile,
         * which moves its next due instant by whole intervals only */
        if (after->src[i] == before->src[i] && after->task[i] == before->task[i] &&
            (after->due[i] - before->due[i]) % 30000 == 0)
            untouched++;
    }
    assert_int_equal(untouched, N_SOURCES - 1);
    /* the changed one is changed in place: same source, same task, new interval */
    assert_ptr_equal(after->src[250], before->src[250]);
    assert_ptr_equal(after->task[250], before->task[250]);
    assert_int_equal(after->src[250]->conf->interval_ms, 45000);
    pthread_mutex_lock(&f.a->mu);
    int64_t apply_us = f.a->groups[0]->last_apply_us;
    pthread_mutex_unlock(&f.a->mu);
    printf("# reload of 500 sources, 1 changed: applied in %lld us, seen by the test after "
           "%lld ms (inotify path)\n",
           (long long)apply_us, (long long)seen_ms);
    fx_stop(&f);
    free(before);
    free(after);
}

static void test_invalid_revision_keeps_old(void **state)
{
    (void)state;
    tp_reset();
    fixture f;
    fx_start(&f,
             "sources:\n  - name: a\n    interval: 30\n    meters: [test.clock.value]\n"
             "    resources: [x]\n",
             extra, NULL);
    src_rt *before = fx_source(&f, "a");
    assert_non_null(before);
    /* Ceilometer's rule: included and excluded meters may not be mixed */
    fx_write_pipeline(&f, "sources:\n  - name: a\n    interval: 30\n"
                          "    meters: [test.clock.value, '!host.*']\n    resources: [x]\n");
    assert_true(th_wait_until(error_shown, &f, 5000));
    char err[512];
    assert_int_equal(fx_revision(&f, err, sizeof err), 1);
    assert_non_null(strstr(err, "pipeline.yaml:4:")); /* file:line of the meters list */
    assert_ptr_equal(fx_source(&f, "a"), before);

    /* a valid revision afterwards is applied and clears the error */
    fx_write_pipeline(&f,
                      "sources:\n  - name: a\n    interval: 30\n    meters: [test.clock.value]\n"
                      "    resources: [x, y]\n");
    assert_true(fx_wait_revision(&f, 2, 5000));
    fx_revision(&f, err, sizeof err);
    assert_string_equal(err, "");
    fx_stop(&f);
}

static bool started(void *arg)
{
    return tp_count(arg) >= 1;
}

static bool two_polls(void *arg)
{
    return tp_count(arg) >= 2;
}

static void test_inflight_completes_across_reload(void **state)
{
    (void)state;
    tp_reset();
    fixture f;
    fx_start(&f,
             "sources:\n  - name: x\n    interval: 1\n    meters: [test.clock.value]\n"
             "    resources: [slow-1200]\n",
             extra, NULL);
    assert_true(th_wait_until(started, "slow-1200", 5000));
    /* change the source while its poll is in flight */
    fx_write_pipeline(&f, "sources:\n  - name: x\n    interval: 2\n    meters: [test.clock.value]\n"
                          "    resources: [slow-1200]\n");
    assert_true(fx_wait_revision(&f, 2, 5000));
    /* the first poll under the new interval */
    assert_true(th_wait_until(two_polls, "slow-1200", 8000));
    tp_event ev[8];
    size_t n = tp_events("slow-1200", ev, 8);
    assert_true(n >= 2);
    assert_true(ev[0].end_ms > 0);               /* the in-flight poll completed */
    assert_true(ev[1].start_ms >= ev[0].end_ms); /* and the next poll started after it */
    fx_stop(&f);
}

static void test_stop_loses_nothing(void **state)
{
    (void)state;
    tp_reset();
    char out[512];
    th_path(out, sizeof out, "samples.jsonl");
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "sources:\n  - name: x\n    interval: 1\n    meters: [test.clock.value]\n"
             "    resources: [slow-700]\n"
             "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             out);
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    assert_true(th_wait_until(started, "slow-700", 5000));
    fx_stop(&f); /* while the poll is still running */
    tp_event ev[8];
    size_t n = tp_events("slow-700", ev, 8);
    assert_true(n >= 1);
    FILE *fp = fopen(out, "r");
    assert_non_null(fp);
    char line[2048];
    size_t found = 0;
    while (fgets(line, sizeof line, fp)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        double v = json_number_value(json_object_get(j, "value"));
        for (size_t i = 0; i < n && i < 8; i++)
            if ((uint64_t)v == ev[i].seq) found++;
        json_decref(j);
    }
    fclose(fp);
    assert_int_equal(found, n < 8 ? n : 8); /* every poll started is in the file */
}

typedef struct refusal {
    fixture *f;
    const char *fragment;
} refusal;

static bool refused_with(void *arg)
{
    refusal *r = arg;
    char err[512];
    fx_revision(r->f, err, sizeof err);
    return strstr(err, r->fragment) != NULL;
}

typedef struct polls_past {
    const char *target;
    size_t count;
} polls_past;

static bool polled_since(void *arg)
{
    polls_past *p = arg;
    return tp_count(p->target) > p->count;
}

static bool error_cleared(void *arg)
{
    return !error_shown(arg);
}

/* Puts a symlink to target where the pipeline file is (rename: IN_MOVED_TO). */
static void point_pipeline_at(fixture *f, const char *target)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.lnk", f->pipeline_path);
    unlink(tmp);
    assert_int_equal(symlink(target, tmp), 0);
    assert_int_equal(rename(tmp, f->pipeline_path), 0);
}

/*
 * Issue 13: a FIFO at the pipeline path blocked the loop in open() for good
 * (no polls, SIGTERM ignored); /dev/zero read 16 MB on the loop, a directory
 * was a bare "read failed". Each is a refused revision naming what it is, the
 * old pipeline keeps running and the loop keeps polling; the file put back
 * clears the error. Symlinks are followed (ConfigMaps are symlinks).
 */
static void test_hostile_pipeline_path(void **state)
{
    (void)state;
    tp_reset();
    static const char yaml[] = "sources:\n  - name: a\n    interval: 1\n"
                               "    meters: [test.clock.value]\n    resources: [hp]\n";
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    src_rt *before = fx_source(&f, "a");
    assert_non_null(before);
    char dir[512], fifo[512];
    th_path(dir, sizeof dir, "hostile/x");
    *strrchr(dir, '/') = 0;
    th_path(fifo, sizeof fifo, "hostile/pipe.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    struct {
        const char *target, *what;
    } cases[] = {{dir, "is a directory; expected a regular file"},
                 {"/dev/zero", "is a character device; expected a regular file"},
                 {fifo, "is a FIFO; expected a regular file"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        point_pipeline_at(&f, cases[i].target);
        refusal r = {&f, cases[i].what};
        if (!th_wait_until(refused_with, &r, 10000 * th_slack())) {
            char err[512];
            fx_revision(&f, err, sizeof err);
            fail_msg("%s: pipeline error \"%s\", expected \"%s\"", cases[i].target, err,
                     cases[i].what);
        }
        polls_past p = {"hp", tp_count("hp")};
        assert_true(th_wait_until(polled_since, &p, 10000 * th_slack())); /* the loop is alive */
        assert_ptr_equal(fx_source(&f, "a"), before);
        assert_int_equal(fx_revision(&f, NULL, 0), 1);
    }
    fx_write_pipeline(&f, yaml); /* the same bytes back: the error clears */
    assert_true(th_wait_until(error_cleared, &f, 10000 * th_slack()));
    assert_ptr_equal(fx_source(&f, "a"), before);
    fx_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_of_500_changed),
        cmocka_unit_test(test_invalid_revision_keeps_old),
        cmocka_unit_test(test_inflight_completes_across_reload),
        cmocka_unit_test(test_stop_loses_nothing),
        cmocka_unit_test(test_hostile_pipeline_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
