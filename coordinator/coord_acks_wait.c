/*
 * coord_acks_wait.c: the pusher's side of the acks (issue 19;
 * docs/CLUSTER.md "Aggregated acks"; the members' side is coord_acks.c).
 *
 * The pusher lists acks/<N> and members/ with child watches: the names say
 * applied, rejected or pending for every live member, one list per firing
 * (a burst of acks coalesces into a few). Nothing depends on the leader,
 * and a member's death removes its ack with its member node. Members
 * without an ack child after the fallback delay (agents older than acks)
 * have their member node read and watched instead.
 *
 * Watches need a context that outlives any waiter (a fired watch may come
 * after the waiter is gone): it is the coord_t, whose waiters are listed
 * under mu; coord_acks_watcher wakes those whose nodes changed. The reads
 * happen on the waiter's thread, never on ZooKeeper's.
 */
#include "coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACK_APPLIED  COORD_ACK_APPLIED_PREFIX
#define ACK_REJECTED COORD_ACK_REJECTED_PREFIX

enum { AW_ACKS = 1, AW_MEMBERS = 2, AW_LEGACY = 4, AW_ALL = 7 };

#define ACKS_RETRY_MS 100 /* without a session: how often to look again */

typedef struct names {
    char **v;
    size_t n;
} names;

static void names_free(names *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static bool names_has(const names *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) return true;
    return false;
}

static int names_add(names *s, const char *name)
{
    char **v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v) return COORD_ESYS;
    s->v = v;
    if (!(s->v[s->n] = strdup(name))) return COORD_ESYS;
    s->n++;
    return COORD_OK;
}

static void names_remove(names *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) {
            free(s->v[i]);
            s->v[i] = s->v[--s->n];
            return;
        }
}

/* Takes a listing over (kids is left empty); true when it differs. */
static bool names_take(names *s, struct String_vector *kids)
{
    bool same = (size_t)kids->count == s->n;
    for (int i = 0; same && i < kids->count; i++)
        same = names_has(s, kids->data[i]);
    names next = {0};
    for (int i = 0; i < kids->count; i++)
        if (names_add(&next, kids->data[i]) != COORD_OK) break;
    deallocate_String_vector(kids);
    names_free(s);
    *s = next;
    return !same;
}

struct coord_acks {
    coord_t *c;
    int64_t number;
    char dir[700]; /* acks/<N> */
    int fallback_ms;
    int64_t opened_ms;
    struct coord_acks *next; /* c->ack_waiters */
    pthread_cond_t cond;     /* with c->mu */
    /* under c->mu: what changed (set by the watcher) */
    unsigned dirty;
    names dirty_legacy; /* member nodes whose data changed */
    /* the caller's thread only */
    zhandle_t *zh;    /* the handle our watches are on */
    bool fresh;       /* nothing handed out yet */
    bool legacy_done; /* the first read of members without an ack */
    bool changed;
    bool acks_node;
    uint64_t lists;
    names members, acked;
    names junk; /* children of members/ that are no member's node (persistent, not our JSON) */
    coord_ack_t *infos; /* read: rejections' ack children, legacy member nodes */
    size_t ninfos;
};

void coord_acks_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    (void)state;
    coord_t *c = ctx;
    size_t ml = strlen(c->members_dir);
    pthread_mutex_lock(&c->mu);
    for (coord_acks_t *a = c->ack_waiters; a; a = a->next) {
        if (type == ZOO_SESSION_EVENT || !path)
            a->dirty |= AW_ALL;
        else if (strcmp(path, a->dir) == 0)
            a->dirty |= AW_ACKS;
        else if (strcmp(path, c->members_dir) == 0)
            a->dirty |= AW_MEMBERS;
        else if (strncmp(path, c->members_dir, ml) == 0 && path[ml] == '/') {
            a->dirty |= AW_LEGACY;
            if (!names_has(&a->dirty_legacy, path + ml + 1) &&
                names_add(&a->dirty_legacy, path + ml + 1) != COORD_OK)
                a->dirty |= AW_ALL;
        } else
            continue;
        pthread_cond_broadcast(&a->cond);
    }
    pthread_mutex_unlock(&c->mu);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

coord_acks_t *coord_acks_open(coord_t *c, int64_t number, int fallback_ms)
{
    if (!c || number <= 0 || fallback_ms < 0) return NULL;
    coord_acks_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->c = c;
    a->number = number;
    a->fallback_ms = fallback_ms;
    a->opened_ms = mono_ms();
    a->fresh = true;
    coord_acks_path(c, number, a->dir, sizeof a->dir);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&c->mu);
    a->next = c->ack_waiters;
    c->ack_waiters = a;
    pthread_mutex_unlock(&c->mu);
    return a;
}

void coord_acks_close(coord_acks_t *a)
{
    if (!a) return;
    coord_t *c = a->c;
    pthread_mutex_lock(&c->mu);
    for (coord_acks_t **p = &c->ack_waiters; *p; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            break;
        }
    pthread_mutex_unlock(&c->mu);
    pthread_cond_destroy(&a->cond);
    names_free(&a->dirty_legacy);
    names_free(&a->members);
    names_free(&a->acked);
    names_free(&a->junk);
    free(a->infos);
    free(a);
}

void coord_acks_view_free(coord_acks_view_t *v)
{
    if (!v) return;
    free(v->members);
    memset(v, 0, sizeof *v);
}

/* What member id's ack child says (COORD_ACK_*). */
static int ack_of(const coord_acks_t *a, const char *id)
{
    for (size_t i = 0; i < a->acked.n; i++) {
        const char *n = a->acked.v[i];
        if (!strncmp(n, ACK_APPLIED, strlen(ACK_APPLIED)) && !strcmp(n + strlen(ACK_APPLIED), id))
            return COORD_ACK_APPLIED;
        if (!strncmp(n, ACK_REJECTED, strlen(ACK_REJECTED)) &&
            !strcmp(n + strlen(ACK_REJECTED), id))
            return COORD_ACK_REJECTED;
    }
    return COORD_ACK_NONE;
}

static coord_ack_t *info_of(coord_acks_t *a, const char *id)
{
    for (size_t i = 0; i < a->ninfos; i++)
        if (strcmp(a->infos[i].id, id) == 0) return &a->infos[i];
    return NULL;
}

static int info_put(coord_acks_t *a, const char *id, const coord_member_info_t *info)
{
    coord_ack_t *e = info_of(a, id);
    if (!e) {
        coord_ack_t *v = realloc(a->infos, (a->ninfos + 1) * sizeof *v);
        if (!v) return COORD_ESYS;
        a->infos = v;
        e = &a->infos[a->ninfos++];
        memset(e, 0, sizeof *e);
        snprintf(e->id, sizeof e->id, "%s", id);
    }
    e->has_info = true;
    e->info = *info;
    a->changed = true;
    return COORD_OK;
}

/* Reads the paths (watched with w unless NULL) and records each reply that
 * parses as id[i]'s info; with watch (member nodes), a node that is not a
 * live member's (persistent, or not our JSON: someone else's junk, which
 * the members' view leaves out too) is left out of the view. */
static int read_infos(coord_acks_t *a, zhandle_t *zh, names *paths, names *ids, bool watch)
{
    if (!paths->n) return COORD_OK;
    coord_got_t *got = calloc(paths->n, sizeof *got);
    if (!got) return COORD_ESYS;
    int rc = coord_get_many(zh, paths->v, paths->n, watch ? coord_acks_watcher : NULL, a->c,
                            COORD_MEMBER_MAX_BYTES, got);
    for (size_t i = 0; i < paths->n; i++) {
        coord_member_info_t info;
        char err[256];
        if (rc == COORD_OK && coord_zerr(got[i].zrc) == COORD_ENOCONN) rc = COORD_ENOCONN;
        bool ok = got[i].zrc == ZOK && got[i].buf && (!watch || got[i].st.ephemeralOwner != 0) &&
                  coord_member_info_from_json(got[i].buf, (size_t)got[i].len, &info, err,
                                              sizeof err) == COORD_OK;
        if (ok && rc == COORD_OK) {
            names_remove(&a->junk, ids->v[i]); /* replaced by a member meanwhile */
            rc = info_put(a, ids->v[i], &info);
        } else if (watch && got[i].zrc == ZOK && !names_has(&a->junk, ids->v[i]) &&
                   rc == COORD_OK) {
            rc = names_add(&a->junk, ids->v[i]);
            a->changed = true;
        }
        free(got[i].buf);
    }
    free(got);
    return rc;
}

/* Lists acks/<N> (or watches for its creation); new rejections are read at
 * once, for their error. */
static int list_acks(coord_acks_t *a, zhandle_t *zh)
{
    struct String_vector kids = {0, NULL};
    int zrc = zoo_wget_children(zh, a->dir, coord_acks_watcher, a->c, &kids);
    if (zrc == ZNONODE) {
        struct Stat st;
        zrc = zoo_wexists(zh, a->dir, coord_acks_watcher, a->c, &st);
        if (zrc == ZOK) return list_acks(a, zh); /* created meanwhile */
        if (zrc != ZNONODE) return coord_zerr(zrc);
        a->changed |= a->acks_node;
        a->acks_node = false;
        return COORD_OK;
    }
    if (zrc != ZOK) return coord_zerr(zrc);
    a->changed |= !a->acks_node;
    a->acks_node = true;
    names old = a->acked;
    a->acked = (names){0};
    a->changed |= names_take(&a->acked, &kids);
    names paths = {0}, ids = {0};
    int rc = COORD_OK;
    for (size_t i = 0; i < a->acked.n && rc == COORD_OK; i++) {
        const char *n = a->acked.v[i];
        if (names_has(&old, n) || strncmp(n, ACK_REJECTED, strlen(ACK_REJECTED)) != 0) continue;
        char path[1000];
        snprintf(path, sizeof path, "%s/%s", a->dir, n);
        rc = names_add(&paths, path);
        if (rc == COORD_OK) rc = names_add(&ids, n + strlen(ACK_REJECTED));
    }
    if (rc == COORD_OK) rc = read_infos(a, zh, &paths, &ids, false);
    names_free(&old);
    names_free(&paths);
    names_free(&ids);
    return rc;
}

/* Past the fallback delay: the member nodes of live members without an ack
 * child that were not read yet, or changed since (their data watched). */
static int read_legacy(coord_acks_t *a, zhandle_t *zh, const names *changed)
{
    names paths = {0}, ids = {0};
    int rc = COORD_OK;
    for (size_t i = 0; i < a->members.n && rc == COORD_OK; i++) {
        const char *id = a->members.v[i];
        if (ack_of(a, id) != COORD_ACK_NONE || (names_has(&a->junk, id) && !names_has(changed, id)))
            continue;
        if (info_of(a, id) && !names_has(changed, id)) continue;
        char path[1000];
        snprintf(path, sizeof path, "%s/%s", a->c->members_dir, id);
        rc = names_add(&paths, path);
        if (rc == COORD_OK) rc = names_add(&ids, id);
    }
    if (rc == COORD_OK) rc = read_infos(a, zh, &paths, &ids, true);
    names_free(&paths);
    names_free(&ids);
    return rc;
}

static int refresh(coord_acks_t *a, zhandle_t *zh, unsigned flags, const names *changed,
                   bool legacy)
{
    int rc = COORD_OK;
    if (flags & AW_MEMBERS) {
        struct String_vector kids = {0, NULL};
        int zrc = zoo_wget_children(zh, a->c->members_dir, coord_acks_watcher, a->c, &kids);
        if (zrc != ZOK) return coord_zerr(zrc);
        a->changed |= names_take(&a->members, &kids);
    }
    if (flags & AW_ACKS) rc = list_acks(a, zh);
    if (rc == COORD_OK && (flags & (AW_ACKS | AW_MEMBERS))) a->lists++;
    if (rc == COORD_OK && legacy) rc = read_legacy(a, zh, changed);
    return rc;
}

static int cmp_ack(const void *x, const void *y)
{
    return strcmp(((const coord_ack_t *)x)->id, ((const coord_ack_t *)y)->id);
}

static int copy_view(coord_acks_t *a, coord_acks_view_t *out)
{
    coord_acks_view_free(out);
    out->number = a->number;
    out->acks_node = a->acks_node;
    out->lists = a->lists;
    out->members = calloc(a->members.n ? a->members.n : 1, sizeof *out->members);
    if (!out->members) return COORD_ESYS;
    for (size_t i = 0; i < a->members.n; i++) {
        if (names_has(&a->junk, a->members.v[i]) && ack_of(a, a->members.v[i]) == COORD_ACK_NONE)
            continue;
        coord_ack_t *m = &out->members[out->count++];
        const coord_ack_t *e = info_of(a, a->members.v[i]);
        if (e) *m = *e;
        snprintf(m->id, sizeof m->id, "%s", a->members.v[i]);
        m->ack = ack_of(a, m->id);
    }
    qsort(out->members, out->count, sizeof *out->members, cmp_ack);
    return COORD_OK;
}

/* Waits on a->cond until something is dirty or until_ms (c->mu held):
 * an instant of mono_ms(), the clock a->cond runs on. */
static void wait_until(coord_acks_t *a, int64_t until_ms)
{
    if (until_ms <= mono_ms()) return;
    struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000),
                          .tv_nsec = (long)(until_ms % 1000) * 1000000L};
    pthread_cond_timedwait(&a->cond, &a->c->mu, &ts);
}

int coord_acks_next(coord_acks_t *a, int timeout_ms, coord_acks_view_t *out)
{
    if (!a || !out || timeout_ms < 0) return COORD_EINVAL;
    coord_t *c = a->c;
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        int64_t now = mono_ms(), fallback_at = a->opened_ms + a->fallback_ms;
        pthread_mutex_lock(&c->mu);
        bool connected = c->zh && c->zk_state == ZOO_CONNECTED_STATE;
        if (c->zh != a->zh) a->dirty |= AW_ALL; /* a new handle: our watches went with the old */
        unsigned flags = connected ? a->dirty : 0;
        names changed = {0};
        if (connected) {
            a->dirty = 0;
            changed = a->dirty_legacy;
            a->dirty_legacy = (names){0};
        }
        pthread_mutex_unlock(&c->mu);
        /* past the delay: every member without an ack once, then the
         * changed ones (and newcomers) */
        bool legacy = connected && now >= fallback_at &&
                      (!a->legacy_done || (flags & (AW_LEGACY | AW_MEMBERS)));
        if (flags || legacy) {
            int rc = COORD_ENOCONN;
            zhandle_t *zh = coord_zh_acquire(c);
            if (zh) {
                a->zh = zh;
                rc = refresh(a, zh, flags, &changed, legacy);
                coord_zh_release(c);
            }
            if (rc != COORD_OK) { /* look again a little later */
                pthread_mutex_lock(&c->mu);
                a->dirty |= flags;
                for (size_t i = 0; i < changed.n; i++)
                    if (!names_has(&a->dirty_legacy, changed.v[i]))
                        names_add(&a->dirty_legacy, changed.v[i]);
                int64_t until = mono_ms() + ACKS_RETRY_MS;
                wait_until(a, until < deadline ? until : deadline);
                pthread_mutex_unlock(&c->mu);
                names_free(&changed);
                if (mono_ms() >= deadline) return rc == COORD_ENOCONN ? rc : COORD_ETIMEOUT;
                continue;
            }
            names_free(&changed);
            if (legacy) a->legacy_done = true;
            if (a->changed || a->fresh) {
                a->changed = a->fresh = false;
                return copy_view(a, out);
            }
            continue;
        }
        names_free(&changed);
        if (now >= deadline) return connected ? COORD_ETIMEOUT : COORD_ENOCONN;
        pthread_mutex_lock(&c->mu);
        if (!a->dirty) {
            int64_t until = deadline;
            if (!a->legacy_done && fallback_at < until) until = fallback_at;
            if (!connected && now + ACKS_RETRY_MS < until) until = now + ACKS_RETRY_MS;
            wait_until(a, until);
        }
        pthread_mutex_unlock(&c->mu);
    }
}

int coord_acks_read(coord_t *c, int64_t number, const char *id, bool rejected,
                    coord_member_info_t *out)
{
    if (!c || number <= 0 || !id || !out) return COORD_EINVAL;
    char path[900], *buf = NULL, err[256];
    coord_acks_child(c, number, rejected, id, path, sizeof path);
    zhandle_t *zh = coord_zh_acquire(c);
    if (!zh) return COORD_ENOCONN;
    size_t len = 0;
    struct Stat st;
    int rc = coord_get_node(c, zh, path, false, COORD_MEMBER_MAX_BYTES, &buf, &len, &st);
    coord_zh_release(c);
    if (rc != COORD_OK) return rc;
    rc = coord_member_info_from_json(buf, len, out, err, sizeof err);
    free(buf);
    return rc;
}
