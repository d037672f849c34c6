/*
 * reload.c: seed 000 made real: load, validate and apply a pipeline revision
 * without a restart, recreating only what changed.
 *
 * Triggers: inotify on the pipeline file's folder (IN_CLOSE_WRITE and
 * IN_MOVED_TO, so both in-place writes and editors' rename-over are seen the
 * moment the write completes), a periodic check every
 * pipeline_polling_interval seconds (for filesystems without inotify), and
 * SIGHUP. A trigger only reloads when the file's sha256 changed. The read
 * runs on the loop thread, so the file is checked before it is read
 * (agent_read_file): a FIFO, a device or a directory at the path is a refused
 * revision, never a stuck loop.
 *
 * Apply: sinks first (if a publisher cannot open, the revision is refused and
 * nothing changes), then sources by diff: unchanged ones are left alone (same
 * objects, same timers, same state), changed ones are diffed in place (the
 * targets that stay keep their task, phase and state: scheduler_diff.c),
 * removed ones retire, added ones start.
 */
#include "agent/core.h"
#include "agent/readfile.h"
#include "expo/expo.h"

#include <errno.h>
#include <libgen.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

void reload_refuse(agent_group *g, const char *msg)
{
    agent *a = g->a;
    pthread_mutex_lock(&a->mu);
    snprintf(g->pipeline_error, sizeof g->pipeline_error, "%s", msg);
    g->pipeline_error_ms = loop_wall_ms();
    g->reload_failures++;
    pthread_mutex_unlock(&a->mu);
    metrics_counter(a->m_reload_refused, 1);
    log_error(&a->log, "reload", "%s: pipeline refused, the previous one keeps running: %s",
              g->name, msg);
}

/* 1 started, 0 not (out of memory, logged). */
static int start_source(agent_group *g, const pipeline_source *def)
{
    src_rt *s = src_new(g, def);
    if (!s) {
        log_error(&g->a->log, "reload", "source %s: out of memory; not started", def->name);
        return 0;
    }
    group_list_add(g, s);
    src_start(s);
    return 1;
}

int reload_apply(agent_group *g, pipeline *p)
{
    agent *a = g->a;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (g->pipe && !memcmp(g->pipe->sha256, p->sha256, 32)) {
        pipeline_free(p);
        pthread_mutex_lock(&a->mu);
        g->pipeline_error[0] = 0;
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    pipeline_diff d;
    if (pipeline_diff_compute(g->pipe, p, &d) != 0) {
        pipeline_free(p);
        reload_refuse(g, "out of memory computing the diff");
        return -1;
    }
    bool sinks_changed = !g->pipe;
    for (size_t i = 0; i < d.n_sinks; i++)
        sinks_changed |= d.sinks[i].change != PIPELINE_UNCHANGED;
    char err[512];
    if (sinks_changed && sinks_apply(g, p, err, sizeof err) != 0) {
        pipeline_diff_free(&d);
        pipeline_free(p);
        reload_refuse(g, err);
        return -1;
    }
    size_t kept = 0, started = 0, changed = 0, stopped = 0;
    /* readers see the new number only once everything below is in place */
    uint64_t revision = g->revision + 1;
    for (size_t i = 0; i < d.n_sources; i++) {
        const pipeline_source_delta *sd = &d.sources[i];
        src_rt *old = sd->old_src ? group_find_source(g, sd->name) : NULL;
        switch (sd->change) {
        case PIPELINE_UNCHANGED:
            kept++;
            break;
        case PIPELINE_REMOVED:
            if (old) src_retire(old);
            stopped++;
            break;
        case PIPELINE_CHANGED:
            if (old) {
                if (src_update(old, sd->new_src) != 0)
                    log_error(&a->log, "reload",
                              "source %s: out of memory; keeping the old definition", sd->name);
                changed++;
                break;
            }
            started += start_source(g, sd->new_src); /* not running: it failed to start */
            break;
        case PIPELINE_ADDED:
            started += start_source(g, sd->new_src);
            break;
        }
    }
    pipeline_diff_free(&d);
    pthread_mutex_lock(&a->mu);
    pipeline *prev = g->pipe;
    g->pipe = p;
    if (!g->cluster) g->revision = revision; /* cluster: ZooKeeper numbers revisions */
    g->applied_ms = loop_wall_ms();
    g->pipeline_error[0] = 0;
    g->reloads++;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    g->last_apply_us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    int64_t apply_us = g->last_apply_us;
    pthread_mutex_unlock(&a->mu);
    pipeline_free(prev);
    metrics_counter(a->m_reloads, 1);
    metrics_timer(a->m_reload_apply_ms, (double)apply_us / 1000.0);
    log_info(&a->log, "reload",
             "%s: pipeline %.12s applied in %lld us: %zu sources unchanged, %zu added, %zu "
             "changed, %zu removed%s",
             g->name, p->sha256_hex, (long long)apply_us, kept, started, changed, stopped,
             sinks_changed ? ", sinks updated" : "");
    return 0;
}

pipeline *reload_parse(agent_group *g, const char *buf, size_t len, const char *name)
{
    agent *a = g->a;
    pipeline *p = NULL;
    pipeline_diags diags = {0};
    int rc = pipeline_parse(buf, len, name, &a->popt->opt, &p, &diags);
    /* file_sd: a standalone agent reads the documents at each reload; a
     * member polls only what its revision lists (meterctl push expanded it),
     * never a file of its own: the one-definition rule */
    if (rc == 0 && g->cluster && pipeline_has_file_sd(p)) {
        pipeline_free(p);
        pipeline_diags_free(&diags);
        reload_refuse(g, "a revision names file_sd documents: members poll only what the "
                         "revision lists (push it with meterctl push, which expands them)");
        return NULL;
    }
    if (rc == 0) rc = expo_sd_expand(&p, g->pipeline_path[0] ? g->pipeline_path : NULL, &diags);
    char text[2048] = "";
    pipeline_diags_format(&diags, text, sizeof text);
    size_t tl = strlen(text);
    if (tl && text[tl - 1] == '\n') text[tl - 1] = 0;
    pipeline_diags_free(&diags);
    if (rc != 0) {
        reload_refuse(g, text[0] ? text : "invalid pipeline");
        return NULL;
    }
    if (text[0]) log_warn(&a->log, "reload", "%s", text);
    return p;
}

int reload_now(agent_group *g, const char *why)
{
    agent *a = g->a;
    char *buf = NULL;
    size_t len = 0;
    char err[512];
    const char *name = g->pipeline_path[0] ? g->pipeline_path : "<embedded default>";
    if (g->pipeline_path[0]) {
        if (agent_read_file(g->pipeline_path, PIPELINE_DEFAULT_MAX_BYTES, &buf, &len, err,
                            sizeof err)) {
            /* forget the last bytes read, so putting them back clears the error */
            memset(g->file_sha, 0, sizeof g->file_sha);
            reload_refuse(g, err);
            return -1;
        }
    } else {
        buf = strdup(pipeline_default_yaml());
        if (!buf) return -1;
        len = strlen(buf);
    }
    unsigned char sha[32];
    SHA256((const unsigned char *)buf, len, sha);
    if (g->pipe && !memcmp(sha, g->file_sha, 32)) {
        free(buf);
        return 0; /* same bytes: nothing to do */
    }
    memcpy(g->file_sha, sha, 32);
    log_info(&a->log, "reload", "%s: loading %s (%s)", g->name, name, why);
    pipeline *p = reload_parse(g, buf, len, name);
    free(buf);
    return p ? reload_apply(g, p) : -1;
}

static void on_inotify(void *arg, int fd, uint32_t events)
{
    (void)events;
    agent *a = arg;
    agent_group *g = a->groups[0];
    _Alignas(struct inotify_event) char buf[4096];
    char *copy = strdup(g->pipeline_path);
    const char *base = copy ? basename(copy) : "";
    bool hit = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->len && !strcmp(ev->name, base)) hit = true;
            p += sizeof *ev + ev->len;
        }
    }
    free(copy);
    if (hit) reload_now(g, "file changed");
}

static void on_timer(void *arg)
{
    agent *a = arg;
    reload_now(a->groups[0], "periodic check");
    loop_timer_at(a->loop, &a->reload_timer,
                  loop_now_ms() + (int64_t)a->cfg.pipeline_polling_interval * 1000);
}

int reload_init(agent *a, char *err, size_t errlen)
{
    agent_group *g = a->groups[0];
    a->inotify_fd = -1;
    loop_timer_init(&a->reload_timer, on_timer, a);
    if (reload_now(g, "start") != 0) {
        snprintf(err, errlen, "%s", g->pipeline_error);
        return -1;
    }
    if (!g->pipeline_path[0] || !a->cfg.reload_pipeline_config) return 0;
    char *copy = strdup(g->pipeline_path);
    if (!copy) return 0;
    const char *dir = dirname(copy);
    a->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (a->inotify_fd >= 0) {
        a->inotify_wd = inotify_add_watch(a->inotify_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO);
        if (a->inotify_wd < 0 || loop_add_fd(a->loop, a->inotify_fd, EPOLLIN, on_inotify, a) != 0) {
            log_warn(&a->log, "reload", "inotify on %s unavailable (%s): checking every %d s", dir,
                     strerror(errno), a->cfg.pipeline_polling_interval);
            close(a->inotify_fd);
            a->inotify_fd = -1;
        }
    }
    free(copy);
    loop_timer_at(a->loop, &a->reload_timer,
                  loop_now_ms() + (int64_t)a->cfg.pipeline_polling_interval * 1000);
    return 0;
}

void reload_shutdown(agent *a)
{
    loop_timer_cancel(a->loop, &a->reload_timer);
    if (a->inotify_fd >= 0) {
        loop_del_fd(a->loop, a->inotify_fd);
        close(a->inotify_fd);
        a->inotify_fd = -1;
    }
    for (size_t i = 0; i < a->n_groups; i++) {
        pipeline_free(a->groups[i]->pipe);
        a->groups[i]->pipe = NULL;
    }
}
