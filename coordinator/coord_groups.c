/*
 * coord_groups.c: the groups under a chroot, kept current by a child watch.
 *
 * meterproxy lists the groups that exist rather than those it was told of.
 * A group is a child of the chroot (docs/COORDINATION.md, "Layout"); the
 * list is read once per change of the chroot's children (a child watch,
 * re-armed by each read), never per question.
 *
 * A session of its own, not a coord_t's: the listing must outlive any one
 * group's handle, and a handle re-creates its session on expiry without
 * knowing of this watch. The threading is the coordinator's: ZooKeeper's
 * threads only flag what changed (watcher); this file's thread reads the
 * children and calls `changed`, so ZooKeeper's threads never run the
 * caller's code.
 */
#include "coordinator/coord_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_MS 1000 /* after a failed read, and the thread's longest sleep */
#define AGAIN    1    /* read_list: read again at once (ZooKeeper's codes are <= 0) */

struct coord_groups {
    coord_url_t url;
    char path[260]; /* the chroot, "/" for the root */
    char auth[256];
    int session_timeout_ms;
    void (*changed)(void *arg);
    void (*log)(void *arg, int level, const char *msg);
    void *arg;

    pthread_t thread;
    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cond;
    bool stop;
    bool dirty;   /* the children (or the session) changed: read again */
    bool expired; /* the session is gone: a new one */
    int zk_state;
    char **names; /* sorted */
    size_t n;
    uint64_t version; /* lists read; 0: none yet */
};

static void glog(coord_groups_t *g, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void glog(coord_groups_t *g, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g->log)
        g->log(g->arg, level, msg);
    else if (level <= COORD_LOG_WARN)
        fprintf(stderr, "meterd coordinator: groups: %s\n", msg);
}

/* ZooKeeper's thread: flags only. */
static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    (void)path;
    coord_groups_t *g = ctx;
    pthread_mutex_lock(&g->mu);
    if (type == ZOO_SESSION_EVENT) {
        g->zk_state = state;
        if (state == ZOO_CONNECTED_STATE) g->dirty = true; /* what changed meanwhile */
        if (state == ZOO_EXPIRED_SESSION_STATE) g->expired = true;
    } else {
        g->dirty = true; /* children, or the chroot created or deleted */
    }
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void coord_groups_list_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Reads the children (re-arming the watch): ZOK with a new list installed,
 * AGAIN, or ZooKeeper's error. */
static int read_list(coord_groups_t *g, zhandle_t *zh)
{
    struct String_vector sv = {0};
    int rc = zoo_wget_children(zh, g->path, watcher, g, &sv);
    if (rc == ZNONODE) {
        /* no group yet: watch for the chroot's creation instead */
        rc = zoo_wexists(zh, g->path, watcher, g, NULL);
        if (rc == ZOK) return AGAIN; /* created meanwhile */
        if (rc != ZNONODE) return rc;
        rc = ZOK;
    } else if (rc != ZOK) {
        return rc;
    }
    char **names = calloc(sv.count > 0 ? (size_t)sv.count : 1, sizeof *names);
    size_t n = 0;
    for (int32_t i = 0; names && i < sv.count; i++) {
        /* the root's own "zookeeper" node is no group */
        if (strcmp(g->path, "/") == 0 && strcmp(sv.data[i], "zookeeper") == 0) continue;
        if ((names[n] = strdup(sv.data[i])) == NULL) {
            coord_groups_list_free(names, n);
            names = NULL;
            break;
        }
        n++;
    }
    deallocate_String_vector(&sv);
    if (names == NULL) return ZSYSTEMERROR;
    qsort(names, n, sizeof *names, by_name);
    pthread_mutex_lock(&g->mu);
    coord_groups_list_free(g->names, g->n);
    g->names = names;
    g->n = n;
    g->version++;
    pthread_mutex_unlock(&g->mu);
    return ZOK;
}

static zhandle_t *dial(coord_groups_t *g)
{
    zhandle_t *zh =
        zookeeper_init2(g->url.hosts, watcher, g->session_timeout_ms, NULL, g, 0, coord_zk_line);
    if (zh == NULL) {
        glog(g, COORD_LOG_ERROR, "cannot create a ZooKeeper handle for %s: %s", g->url.hosts,
             strerror(errno));
        return NULL;
    }
    if (g->auth[0]) {
        int rc = zoo_add_auth(zh, "digest", g->auth, (int)strlen(g->auth), NULL, NULL);
        if (rc != ZOK) glog(g, COORD_LOG_ERROR, "adding credentials: %s", zerror(rc));
    }
    return zh;
}

static void sleep_on(coord_groups_t *g, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->cond, &g->mu, &ts);
}

static void *run(void *arg)
{
    coord_groups_t *g = arg;
    zhandle_t *zh = NULL;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        if (zh == NULL || g->expired) {
            g->expired = false;
            g->zk_state = 0;
            g->dirty = true;
            pthread_mutex_unlock(&g->mu);
            if (zh) zookeeper_close(zh);
            zh = dial(g);
            pthread_mutex_lock(&g->mu);
            if (zh == NULL) sleep_on(g, RETRY_MS);
            continue;
        }
        if (g->dirty && g->zk_state == ZOO_CONNECTED_STATE) {
            g->dirty = false;
            pthread_mutex_unlock(&g->mu);
            int rc = read_list(g, zh);
            if (rc < 0) glog(g, COORD_LOG_WARN, "listing %s: %s", g->path, zerror(rc));
            if (rc == ZOK && g->changed) g->changed(g->arg);
            pthread_mutex_lock(&g->mu);
            if (rc != ZOK) {
                g->dirty = true;
                if (rc != AGAIN) sleep_on(g, RETRY_MS);
            }
            continue;
        }
        if (g->zk_state == ZOO_AUTH_FAILED_STATE) {
            glog(g, COORD_LOG_ERROR, "ZooKeeper refused the credentials: no listing");
            while (!g->stop)
                sleep_on(g, RETRY_MS);
            break;
        }
        sleep_on(g, RETRY_MS);
    }
    pthread_mutex_unlock(&g->mu);
    if (zh) zookeeper_close(zh);
    return NULL;
}

coord_groups_t *coord_groups_open(const char *backend_url, const char *auth, int session_timeout_ms,
                                  const coord_groups_callbacks_t *cb, char *err, size_t errcap)
{
    coord_groups_t *g = calloc(1, sizeof *g);
    if (g == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    if (coord_url_parse(backend_url ? backend_url : "", &g->url, err, errcap) != COORD_OK) {
        free(g);
        return NULL;
    }
    if (auth && strlen(auth) >= sizeof g->auth) {
        snprintf(err, errcap, "ZooKeeper credentials longer than %zu bytes", sizeof g->auth - 1);
        free(g);
        return NULL;
    }
    snprintf(g->path, sizeof g->path, "%s", g->url.chroot[0] ? g->url.chroot : "/");
    snprintf(g->auth, sizeof g->auth, "%s", auth ? auth : "");
    g->session_timeout_ms =
        session_timeout_ms > 0 ? session_timeout_ms : COORD_SESSION_TIMEOUT_DEFAULT_MS;
    if (cb) {
        g->changed = cb->changed;
        g->log = cb->log;
        g->arg = cb->arg;
    }
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&g->thread, NULL, run, g) != 0) {
        snprintf(err, errcap, "cannot start the listing thread");
        pthread_cond_destroy(&g->cond);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    return g;
}

uint64_t coord_groups_get(coord_groups_t *g, char ***names, size_t *count)
{
    pthread_mutex_lock(&g->mu);
    uint64_t v = g->version;
    char **copy = g->n ? calloc(g->n, sizeof *copy) : NULL;
    size_t n = 0;
    for (size_t i = 0; copy && i < g->n; i++) {
        if ((copy[i] = strdup(g->names[i])) == NULL) break;
        n++;
    }
    if (g->n && n < g->n) { /* out of memory: as if nothing were read yet */
        coord_groups_list_free(copy, n);
        copy = NULL;
        n = 0;
        v = 0;
    }
    pthread_mutex_unlock(&g->mu);
    *names = copy;
    *count = n;
    return v;
}

void coord_groups_close(coord_groups_t *g)
{
    if (g == NULL) return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    coord_groups_list_free(g->names, g->n);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
