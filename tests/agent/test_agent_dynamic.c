/*
 * test_agent_dynamic.c: a pollster whose meters are known only at poll time
 * (dynamic_meters, the scrape.* case): the source's selection applies to
 * each emitted name. The pollster here emits every name whatever it is told,
 * and records what poll_wants() answered; the file sink must hold exactly the
 * selected names, and a source whose selection cannot reach the family gets
 * no task for the pollster at all.
 */
#include "agent_fixture.h"
#include "harness/harness.h"

#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const emitted[] = {"dyn.up", "dyn.cpu", "dyn.go_heap", "dyn.go_gc", "other.x"};
enum { N_EMITTED = sizeof emitted / sizeof emitted[0] };

static struct {
    pthread_mutex_t mu;
    bool wants[N_EMITTED]; /* what poll_wants said on the last poll */
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int dyn_poll(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                    char *err, size_t errlen)
{
    (void)state;
    (void)err;
    (void)errlen;
    pthread_mutex_lock(&rec.mu);
    for (int i = 0; i < N_EMITTED; i++)
        rec.wants[i] = poll_wants(env, emitted[i]);
    pthread_mutex_unlock(&rec.mu);
    /* everything, selected or not: the core must drop what is not */
    for (int i = 0; i < N_EMITTED; i++)
        if (sample_batch_add(out, emitted[i], SAMPLE_GAUGE, "1", i, t->resource, env->now_ms, NULL,
                             0) != 0)
            return -1;
    return 0;
}

static const char *const dyn_fixed[] = {"dyn.up", NULL};
static const registry_pollster dyn_desc = {
    .name = "test.dyn",
    .ns = "central",
    .meters = dyn_fixed,
    .dynamic_meters = "dyn.*",
};
static const pollster_plugin dyn_pollster = {.desc = &dyn_desc, .poll = dyn_poll};
static const pollster_plugin *const extra[] = {&dyn_pollster, NULL};

static bool file_has(void *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    bool any = f && fgets(line, sizeof line, f);
    if (f) fclose(f);
    return any;
}

/* Runs a source with these meters until it published (tasks: or only long
 * enough to count its tasks); what was published into names_out. */
static void run(const char *meters, const char *out_rel, bool names_out[N_EMITTED], size_t *tasks)
{
    char out[512], yaml[1024];
    th_path(out, sizeof out, out_rel);
    snprintf(yaml, sizeof yaml,
             "sources:\n  - name: s\n    interval: 1\n    meters: %s\n    resources: [t]\n"
             "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             meters, out);
    fixture f;
    fx_start(&f, yaml, extra, NULL);
    if (tasks) {
        src_rt *src = fx_source(&f, "s");
        assert_non_null(src);
        *tasks = 0; /* other pollsters may run for "!dyn.*": count this one's */
        for (size_t i = 0; i < src->n_tasks; i++)
            *tasks += src->tasks[i]->pp == &dyn_pollster;
    } else {
        assert_true(th_wait_until(file_has, out, 10000 * th_slack()));
    }
    fx_stop(&f);
    memset(names_out, 0, N_EMITTED * sizeof *names_out);
    FILE *fp = fopen(out, "r");
    char line[2048];
    while (fp && fgets(line, sizeof line, fp)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        const char *name = json_string_value(json_object_get(j, "name"));
        for (int i = 0; i < N_EMITTED; i++)
            if (name && !strcmp(name, emitted[i])) names_out[i] = true;
        json_decref(j);
    }
    if (fp) fclose(fp);
}

static void test_selection_per_emitted_name(void **state)
{
    (void)state;
    bool seen[N_EMITTED];
    run("['dyn.*', '!dyn.go_*']", "a.jsonl", seen, NULL);
    /* dyn.* minus dyn.go_*; other.x is outside both the family and the selection */
    bool want[N_EMITTED] = {true, true, false, false, false};
    for (int i = 0; i < N_EMITTED; i++) {
        if (seen[i] != want[i])
            fail_msg("%s: published %d, expected %d", emitted[i], seen[i], want[i]);
        pthread_mutex_lock(&rec.mu);
        bool said = rec.wants[i];
        pthread_mutex_unlock(&rec.mu);
        if (said != want[i])
            fail_msg("poll_wants(%s) = %d, expected %d", emitted[i], said, want[i]);
    }
    /* only a dynamic name selected: the pollster still runs */
    run("['dyn.go_*']", "b.jsonl", seen, NULL);
    assert_true(seen[2] && seen[3]);
    assert_false(seen[0] || seen[1] || seen[4]);
}

static void test_family_out_of_reach_polls_nothing(void **state)
{
    (void)state;
    bool seen[N_EMITTED];
    size_t tasks = 99;
    run("['dyn.*']", "c.jsonl", seen, &tasks);
    assert_int_equal(tasks, 1); /* the control: the family selected, one target */
    run("['!dyn.*']", "d.jsonl", seen, &tasks);
    assert_int_equal(tasks, 0);
    run("['other.*']", "e.jsonl", seen, &tasks);
    assert_int_equal(tasks, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selection_per_emitted_name),
        cmocka_unit_test(test_family_out_of_reach_polls_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
