/*
 * agent_fixture.c: see agent_fixture.h.
 */
#include "agent_fixture.h"

#include "harness/harness.h"

#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *run_main(void *arg)
{
    fixture *f = arg;
    agent_run(f->a);
    return NULL;
}

int64_t fx_wall_ms(void)
{
    return loop_wall_ms();
}

void fx_write_pipeline(fixture *f, const char *yaml)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->pipeline_path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) abort();
    fputs(yaml, fp);
    fclose(fp);
    if (rename(tmp, f->pipeline_path) != 0) abort();
}

void fx_start(fixture *f, const char *pipeline_yaml, const pollster_plugin *const *extra,
              const char *extra_conf)
{
    memset(f, 0, sizeof *f);
    /* a file per fixture: an agent left running by a failed test must not
     * see the next test's pipeline */
    static int serial;
    char rel[64];
    snprintf(rel, sizeof rel, "agent%d/pipeline.yaml", ++serial);
    if (th_path(f->pipeline_path, sizeof f->pipeline_path, rel) != 0) abort();
    fx_write_pipeline(f, pipeline_yaml);
    snprintf(f->conf_text, sizeof f->conf_text,
             "[DEFAULT]\nhost = test-host\nlog_level = %s\n"
             "[polling]\ncfg_file = %s\nworkers = 4\ndrain_timeout = 5\n"
             "[api]\nport = 0\n%s",
             getenv("METERD_TEST_DEBUG") ? "debug" : "warning", f->pipeline_path,
             extra_conf ? extra_conf : "");
    agent_config cfg;
    config_defaults(&cfg);
    char err[2048];
    if (config_load_string(&cfg, f->conf_text, "test.conf", err, sizeof err) != 0) {
        fprintf(stderr, "fixture config: %s\n", err);
        abort();
    }
    f->a = agent_new_bare(&cfg, err, sizeof err);
    if (!f->a) {
        fprintf(stderr, "fixture: %s\n", err);
        abort();
    }
    for (int i = 0; extra && extra[i]; i++)
        agent_add_pollster(f->a, extra[i]);
    if (agent_start(f->a, err, sizeof err) != 0) {
        fprintf(stderr, "fixture start: %s\n", err);
        abort();
    }
    pthread_create(&f->thread, NULL, run_main, f);
    f->running = true;
}

typedef struct on_loop_call {
    void (*fn)(agent *a, void *arg);
    void *arg;
    agent *a;
    sem_t done;
} on_loop_call;

static void on_loop_trampoline(void *arg)
{
    on_loop_call *c = arg;
    c->fn(c->a, c->arg);
    sem_post(&c->done);
}

void fx_on_loop(fixture *f, void (*fn)(agent *a, void *arg), void *arg)
{
    on_loop_call c = {fn, arg, f->a, {{0}}};
    sem_init(&c.done, 0, 0);
    loop_post(f->a->loop, on_loop_trampoline, &c);
    while (sem_wait(&c.done) != 0) {
    }
    sem_destroy(&c.done);
}

typedef struct find_arg {
    const char *name;
    src_rt *found;
} find_arg;

static void find_on_loop(agent *a, void *arg)
{
    find_arg *fa = arg;
    fa->found = group_find_source(a->groups[0], fa->name);
}

src_rt *fx_source(fixture *f, const char *name)
{
    find_arg fa = {name, NULL};
    fx_on_loop(f, find_on_loop, &fa);
    return fa.found;
}

uint64_t fx_revision(fixture *f, char *err, size_t errlen)
{
    pthread_mutex_lock(&f->a->mu);
    uint64_t r = f->a->groups[0]->revision;
    if (err) snprintf(err, errlen, "%s", f->a->groups[0]->pipeline_error);
    pthread_mutex_unlock(&f->a->mu);
    return r;
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

bool fx_wait_revision(fixture *f, uint64_t rev, int timeout_ms)
{
    rev_wait w = {f, rev};
    return th_wait_until(revision_reached, &w, timeout_ms);
}

void fx_stop(fixture *f)
{
    if (!f->running) return;
    agent_stop(f->a);
    pthread_join(f->thread, NULL);
    agent_free(f->a);
    f->running = false;
}
