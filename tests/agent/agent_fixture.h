/*
 * agent_fixture.h: runs an in-process agent on its own thread for tests,
 * with test pollsters registered, and inspects it from the loop thread (so
 * reads of scheduler state never race the loop).
 */
#ifndef METERD_TESTS_AGENT_FIXTURE_H
#define METERD_TESTS_AGENT_FIXTURE_H

#include "agent/core.h"

#include <pthread.h>

typedef struct fixture {
    agent *a;
    pthread_t thread;
    bool running;
    char pipeline_path[512];
    char conf_text[2048];
} fixture;

/* Writes the pipeline into the test's temp dir and starts an agent on it with
 * extra pollsters (NULL-terminated, may be NULL) and config lines appended to
 * a default test config (api on a free port, 4 workers, drain 5 s). */
void fx_start(fixture *f, const char *pipeline_yaml, const pollster_plugin *const *extra,
              const char *extra_conf);

/* Rewrites the pipeline file (atomically: write + rename). */
void fx_write_pipeline(fixture *f, const char *yaml);

/* Runs fn(a, arg) on the loop thread and waits for it. */
void fx_on_loop(fixture *f, void (*fn)(agent *a, void *arg), void *arg);

/* Stops the loop and frees the agent (polls finish, publishers flush). */
void fx_stop(fixture *f);

/* The source runtime named `name` (loop-thread snapshot), or NULL. */
src_rt *fx_source(fixture *f, const char *name);

/* The applied revision counter and the pipeline error (copied). */
uint64_t fx_revision(fixture *f, char *err, size_t errlen);

/* Waits up to timeout_ms for the applied revision counter to reach rev. */
bool fx_wait_revision(fixture *f, uint64_t rev, int timeout_ms);

int64_t fx_wall_ms(void);

#endif
