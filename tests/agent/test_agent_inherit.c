/*
 * test_agent_inherit.c: a changed source keeps per-target state (issue 14).
 * An unchanged source keeps its tasks across a reload; a changed one used to
 * start every task from a fresh init(), so cumulative baselines and backoff
 * were lost whenever someone edited an interval or a parameter (since issue
 * 19 a changed source keeps the very tasks of the targets that stay). Here a
 * pollster counts its polls in its per-target state; the count must carry
 * on across a change of the source's interval, and a target that is new in
 * the changed source starts from a fresh state.
 */
#include "agent_fixture.h"
#include "harness/harness.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum { MAX_SEEN = 4096 };

static struct {
    pthread_mutex_t mu;
    struct {
        char target[16];
        int64_t count;
    } v[MAX_SEEN];
    size_t n;
    int inits, destroys;
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int count_init(const poll_target *t, void **state, char *err, size_t errlen)
{
    (void)t;
    (void)err;
    (void)errlen;
    *state = calloc(1, sizeof(int64_t));
    pthread_mutex_lock(&rec.mu);
    rec.inits++;
    pthread_mutex_unlock(&rec.mu);
    return *state ? 0 : -1;
}

static void count_destroy(void *state)
{
    free(state);
    pthread_mutex_lock(&rec.mu);
    rec.destroys++;
    pthread_mutex_unlock(&rec.mu);
}

static int count_poll(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                      char *err, size_t errlen)
{
    (void)env;
    (void)out;
    (void)err;
    (void)errlen;
    int64_t *n = state;
    ++*n;
    pthread_mutex_lock(&rec.mu);
    if (rec.n < MAX_SEEN) {
        snprintf(rec.v[rec.n].target, sizeof rec.v[rec.n].target, "%s", t->id);
        rec.v[rec.n].count = *n;
        rec.n++;
    }
    pthread_mutex_unlock(&rec.mu);
    return 0;
}

static const char *const count_meters[] = {"test.count.polls", NULL};
static const registry_pollster count_desc = {
    .name = "test.count",
    .ns = "central",
    .meters = count_meters,
};
static const pollster_plugin count_pollster = {
    .desc = &count_desc,
    .init = count_init,
    .poll = count_poll,
    .destroy = count_destroy,
};
static const pollster_plugin *const extra[] = {&count_pollster, NULL};

/* The polls of target seen so far and the highest count among them. */
static size_t polls_of(const char *target, int64_t *max)
{
    size_t n = 0;
    *max = 0;
    pthread_mutex_lock(&rec.mu);
    for (size_t i = 0; i < rec.n; i++)
        if (!strcmp(rec.v[i].target, target)) {
            n++;
            if (rec.v[i].count > *max) *max = rec.v[i].count;
        }
    pthread_mutex_unlock(&rec.mu);
    return n;
}

typedef struct want_polls {
    const char *target;
    size_t n;
} want_polls;

static bool polled(void *arg)
{
    want_polls *w = arg;
    int64_t max;
    return polls_of(w->target, &max) >= w->n;
}

static void test_changed_source_keeps_target_state(void **state)
{
    (void)state;
    fixture f;
    fx_start(&f,
             "sources:\n  - name: c\n    interval: 1\n    meters: [test.count.polls]\n"
             "    resources: [a]\n",
             extra, NULL);
    want_polls w = {"a", 2};
    assert_true(th_wait_until(polled, &w, 10000 * th_slack()));
    int64_t before;
    size_t n_before = polls_of("a", &before);
    assert_true(before >= 2);

    /* changed: another interval and a second target */
    fx_write_pipeline(&f, "sources:\n  - name: c\n    interval: 2\n    meters: [test.count.polls]\n"
                          "    resources: [a, b]\n");
    want_polls wa = {"a", n_before + 2}, wb = {"b", 1};
    assert_true(th_wait_until(polled, &wa, 15000 * th_slack()));
    assert_true(th_wait_until(polled, &wb, 15000 * th_slack()));
    fx_stop(&f);

    /* a's count never started over: every poll of a has a distinct count,
     * up to the number of polls made */
    int64_t max_a, max_b;
    size_t n_a = polls_of("a", &max_a), n_b = polls_of("b", &max_b);
    assert_int_equal(max_a, (int64_t)n_a);
    assert_int_equal(max_b, (int64_t)n_b); /* b is new: its own fresh state */
    pthread_mutex_lock(&rec.mu);
    size_t ones = 0;
    for (size_t i = 0; i < rec.n; i++)
        ones += !strcmp(rec.v[i].target, "a") && rec.v[i].count == 1;
    /* a: one init, kept across the change */
    assert_int_equal(ones, 1);
    assert_int_equal(rec.inits, rec.destroys);
    pthread_mutex_unlock(&rec.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changed_source_keeps_target_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
