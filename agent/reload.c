/*
 * reload.c: seed 000 made real: load, validate and apply a pipeline revision
 * without a restart, recreating only what changed.
 *
 * Triggers: inotify on the pipeline file's folder (IN_CLOSE_WRITE and
 * IN_MOVED_TO, so both in-place writes and editors' rename-over are seen the
 * moment the write completes), a periodic check every
 * pipeline_polling_interval seconds (for filesystems without inotify), and
 * SIGHUP. A trigger only reloads when the file's sha256 changed.
 *
 * Apply: sinks first (if a publisher cannot open, the revision is refused and
 * nothing changes), then sources by diff: unchanged ones are left alone (same
 * objects, same timers, same state), removed ones retire, changed ones
 * retire and hand over to their replacement once their in-flight polls have
 * finished, added ones start.
 */
#include "agent/core.h"

#include <errno.h>
#include <libgen.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static void refuse(agent *a, const char *msg)
{
    pthread_mutex_lock(&a->mu);
    snprintf(a->pipeline_error, sizeof a->pipeline_error, "%s", msg);
    a->pipeline_error_ms = loop_wall_ms();
    a->reload_failures++;
    pthread_mutex_unlock(&a->mu);
    metrics_counter(a->m_reload_refused, 1);
    log_error(&a->log, "reload", "pipeline refused, the previous one keeps running: %s", msg);
}

int reload_apply(agent *a, pipeline *p)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (a->pipe && !memcmp(a->pipe->sha256, p->sha256, 32)) {
        pipeline_free(p);
        pthread_mutex_lock(&a->mu);
        a->pipeline_error[0] = 0;
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    pipeline_diff d;
    if (pipeline_diff_compute(a->pipe, p, &d) != 0) {
        pipeline_free(p);
        refuse(a, "out of memory computing the diff");
        return -1;
    }
    bool sinks_changed = !a->pipe;
    for (size_t i = 0; i < d.n_sinks; i++)
        sinks_changed |= d.sinks[i].change != PIPELINE_UNCHANGED;
    char err[512];
    if (sinks_changed && sinks_apply(a, p, err, sizeof err) != 0) {
        pipeline_diff_free(&d);
        pipeline_free(p);
        refuse(a, err);
        return -1;
    }
    size_t kept = 0, started = 0, replaced = 0, stopped = 0;
    /* readers see the new number only once everything below is in place */
    uint64_t revision = a->revision + 1;
    for (size_t i = 0; i < d.n_sources; i++) {
        const pipeline_source_delta *sd = &d.sources[i];
        src_rt *old = sd->old_src ? agent_find_source(a, sd->name) : NULL;
        switch (sd->change) {
        case PIPELINE_UNCHANGED:
            kept++;
            break;
        case PIPELINE_REMOVED:
            if (old) src_retire(old, NULL);
            stopped++;
            break;
        case PIPELINE_ADDED:
        case PIPELINE_CHANGED: {
            src_rt *s = src_new(a, sd->new_src);
            if (!s) {
                log_error(&a->log, "reload", "source %s: out of memory; %s", sd->name,
                          old ? "keeping the old definition" : "not started");
                break;
            }
            agent_list_add(a, s);
            if (old) {
                src_retire(old, s);
                replaced++;
            } else {
                src_start(s);
                started++;
            }
            break;
        }
        }
    }
    pipeline_diff_free(&d);
    pthread_mutex_lock(&a->mu);
    pipeline *prev = a->pipe;
    a->pipe = p;
    a->revision = revision;
    a->applied_ms = loop_wall_ms();
    a->pipeline_error[0] = 0;
    a->reloads++;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    a->last_apply_us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    pthread_mutex_unlock(&a->mu);
    pipeline_free(prev);
    metrics_counter(a->m_reloads, 1);
    metrics_timer(a->m_reload_apply_ms, (double)a->last_apply_us / 1000.0);
    log_info(&a->log, "reload",
             "revision %llu (sha256 %.12s) applied in %lld us: %zu sources unchanged, %zu "
             "added, %zu changed, %zu removed%s",
             (unsigned long long)revision, p->sha256_hex, (long long)a->last_apply_us, kept,
             started, replaced, stopped, sinks_changed ? ", sinks updated" : "");
    return 0;
}

static int read_all(const char *path, char **buf, size_t *len, size_t max, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n > max) {
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
            free(b);
            fclose(f);
            return -1;
        }
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        snprintf(err, errlen, "%s: read failed", path);
        free(b);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

int reload_now(agent *a, const char *why)
{
    char *buf = NULL;
    size_t len = 0;
    char err[512];
    const char *name = a->pipeline_path[0] ? a->pipeline_path : "<embedded default>";
    if (a->pipeline_path[0]) {
        if (read_all(a->pipeline_path, &buf, &len, PIPELINE_DEFAULT_MAX_BYTES, err, sizeof err)) {
            refuse(a, err);
            return -1;
        }
    } else {
        buf = strdup(pipeline_default_yaml());
        if (!buf) return -1;
        len = strlen(buf);
    }
    unsigned char sha[32];
    SHA256((const unsigned char *)buf, len, sha);
    if (a->pipe && !memcmp(sha, a->file_sha, 32)) {
        free(buf);
        return 0; /* same bytes: nothing to do */
    }
    memcpy(a->file_sha, sha, 32);
    log_info(&a->log, "reload", "loading %s (%s)", name, why);
    pipeline_options opt = {.known_meters = a->known_meters, .n_known_meters = a->n_known_meters};
    pipeline *p = NULL;
    pipeline_diags diags = {0};
    int rc = pipeline_parse(buf, len, name, &opt, &p, &diags);
    free(buf);
    char text[2048] = "";
    pipeline_diags_format(&diags, text, sizeof text);
    size_t tl = strlen(text);
    if (tl && text[tl - 1] == '\n') text[tl - 1] = 0;
    if (rc != 0) {
        pipeline_diags_free(&diags);
        refuse(a, text[0] ? text : "invalid pipeline");
        return -1;
    }
    if (text[0]) log_warn(&a->log, "reload", "%s", text);
    pipeline_diags_free(&diags);
    return reload_apply(a, p);
}

static void on_inotify(void *arg, int fd, uint32_t events)
{
    (void)events;
    agent *a = arg;
    _Alignas(struct inotify_event) char buf[4096];
    char *copy = strdup(a->pipeline_path);
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
    if (hit) reload_now(a, "file changed");
}

static void on_timer(void *arg)
{
    agent *a = arg;
    reload_now(a, "periodic check");
    loop_timer_at(a->loop, &a->reload_timer,
                  loop_now_ms() + (int64_t)a->cfg.pipeline_polling_interval * 1000);
}

int reload_init(agent *a, char *err, size_t errlen)
{
    a->inotify_fd = -1;
    loop_timer_init(&a->reload_timer, on_timer, a);
    if (reload_now(a, "start") != 0) {
        snprintf(err, errlen, "%s", a->pipeline_error);
        return -1;
    }
    if (!a->pipeline_path[0] || !a->cfg.reload_pipeline_config) return 0;
    char *copy = strdup(a->pipeline_path);
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
    pipeline_free(a->pipe);
    a->pipe = NULL;
}
