/*
 * test_pollster.c: see test_pollster.h. The event log is process-wide
 * (tests are single programs), guarded by a mutex.
 */
#include "test_pollster.h"

#include "agent/loop.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t tp_mu = PTHREAD_MUTEX_INITIALIZER;
static tp_event tp_log[TP_MAX_EVENTS];
static size_t tp_n;
static uint64_t tp_seq;

void tp_reset(void)
{
    pthread_mutex_lock(&tp_mu);
    tp_n = 0;
    pthread_mutex_unlock(&tp_mu);
}

static int tp_poll(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                   char *err, size_t errlen)
{
    (void)state;
    (void)err;
    (void)errlen;
    pthread_mutex_lock(&tp_mu);
    size_t i = tp_n < TP_MAX_EVENTS ? tp_n++ : TP_MAX_EVENTS - 1;
    tp_event *e = &tp_log[i];
    snprintf(e->target, sizeof e->target, "%s", t->id);
    e->start_ms = loop_wall_ms();
    e->end_ms = 0;
    e->seq = ++tp_seq;
    uint64_t seq = e->seq;
    pthread_mutex_unlock(&tp_mu);
    if (!strncmp(t->id, "slow-", 5)) {
        long ms = strtol(t->id + 5, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (env->want[0])
        sample_batch_add(out, "test.clock.value", SAMPLE_GAUGE, "1", (double)seq, t->resource,
                         env->now_ms, NULL, 0);
    pthread_mutex_lock(&tp_mu);
    tp_log[i].end_ms = loop_wall_ms();
    pthread_mutex_unlock(&tp_mu);
    return 0;
}

static const char *const tp_meters[] = {"test.clock.value", NULL};

/* A test's own descriptor: not in the registry, like an add-on's. */
static const registry_pollster tp_desc = {
    .name = "test.clock",
    .ns = "central",
    .meters = tp_meters,
    .default_discovery = "local_host",
};

const pollster_plugin test_pollster = {
    .desc = &tp_desc,
    .poll = tp_poll,
};

size_t tp_events(const char *target, tp_event *out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&tp_mu);
    for (size_t i = 0; i < tp_n; i++) {
        if (target && strcmp(tp_log[i].target, target) != 0) continue;
        if (n < cap) out[n] = tp_log[i];
        n++;
    }
    pthread_mutex_unlock(&tp_mu);
    return n;
}

size_t tp_count(const char *target)
{
    return tp_events(target, NULL, 0);
}

size_t tp_done(const char *target)
{
    size_t n = 0;
    pthread_mutex_lock(&tp_mu);
    for (size_t i = 0; i < tp_n; i++)
        if ((!target || !strcmp(tp_log[i].target, target)) && tp_log[i].end_ms) n++;
    pthread_mutex_unlock(&tp_mu);
    return n;
}
