/*
 * coord_events.c: the watcher and the event thread that acts on what it
 * flags.
 *
 * ZooKeeper's multi-threaded client runs watchers on its completion thread,
 * where a synchronous call would deadlock and a slow callback would stall
 * every other notification. So watchers here only set dirty flags (one bit
 * per view, coalescing bursts: ten membership changes cost one re-read) and
 * the handle's own event thread does the work: re-reads with fresh one-shot
 * watches, and calls the user's callbacks (coord_exec.c posts them). Reading
 * the whole view again on every change is simpler and more robust than
 * applying deltas: a missed or duplicated notification cannot leave the view
 * wrong.
 *
 * After every (re)connection the thread re-syncs everything: watches set
 * before a disconnection are restored by the client library, but an
 * operation that failed meanwhile is simply redone.
 */
#include "coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_MS     250
#define RETRY_MAX_MS 5000

void coord_mark_dirty(coord_t *c, unsigned flags)
{
    pthread_mutex_lock(&c->mu);
    c->dirty |= flags;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Runs on ZooKeeper's completion thread: flag, never block, never call back. */
void coord_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    coord_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    if (zh != c->zh) goto out; /* an old session's last words */
    if (type == ZOO_SESSION_EVENT) {
        if (state == ZOO_CONNECTED_STATE && c->zk_state != ZOO_CONNECTED_STATE) c->zk_connects++;
        c->zk_state = state;
        c->dirty |= DIRTY_SESSION;
    } else if (path) {
        if (strcmp(path, c->pipeline_path) == 0) {
            if (!c->pipeline_notified_us) c->pipeline_notified_us = coord_trace_now_us();
            c->dirty |= DIRTY_PIPELINE;
        } else if (strcmp(path, c->assignment_path) == 0)
            c->dirty |= DIRTY_ASSIGNMENT;
        else if (strcmp(path, c->members_dir) == 0)
            c->dirty |= DIRTY_MEMBERS;
        else if (under(path, c->members_dir)) {
            c->dirty |= DIRTY_MEMBERS;
            /* our own node's data changing is our own write: only its
             * deletion (or a twin's going) needs the join checked */
            if (c->is_member && type != ZOO_CHANGED_EVENT && strcmp(path, c->member_path) == 0)
                c->dirty |= DIRTY_JOIN;
            char **grown = realloc(c->dirty_members, (c->ndirty_members + 1) * sizeof *grown);
            char *name = strdup(path + strlen(c->members_dir) + 1);
            if (grown) c->dirty_members = grown;
            if (grown && name)
                c->dirty_members[c->ndirty_members++] = name;
            else {
                free(name);
                c->members_all_stale = true;
            }
        } else if (under(path, c->election_dir) || strcmp(path, c->election_dir) == 0)
            c->dirty |= DIRTY_ELECTION;
    }
    pthread_cond_broadcast(&c->cond);
out:
    pthread_mutex_unlock(&c->mu);
}

static void set_state(coord_t *c, coord_state_t st)
{
    pthread_mutex_lock(&c->mu);
    bool changed = c->state != st;
    c->state = st;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (changed) {
        coord_log(c, st == COORD_CONNECTED ? COORD_LOG_INFO : COORD_LOG_WARN, "session %s",
                  coord_state_name(st));
        coord_emit_state(c, st);
    }
}

void coord_deliver_leader(coord_t *c, const coord_leader_t *l)
{
    pthread_mutex_lock(&c->mu);
    bool changed = !c->leader_delivered || memcmp(&c->leader, l, sizeof *l) != 0;
    c->leader = *l;
    c->leader_delivered = true;
    /* only the election that found us first calls this with is_me */
    snprintf(c->leader_node, sizeof c->leader_node, "%s", l->is_me ? c->elect_node : "");
    pthread_mutex_unlock(&c->mu);
    if (!changed) return;
    coord_log(c, COORD_LOG_INFO, "leader: %s%s", l->known ? l->member_id : "(none)",
              l->is_me ? " (me)" : "");
    coord_emit_leader(c, l);
}

/* Waits on c->cond (a CLOCK_MONOTONIC one) at most ms (mu held). */
void coord_wait_ms(coord_t *c, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&c->cond, &c->mu, &ts);
}

static int session_ms(const coord_t *c)
{
    return c->negotiated_timeout_ms ? c->negotiated_timeout_ms : c->session_timeout_ms;
}

/*
 * This thread wakes at least every session/6: a longer gap means the whole
 * process did not run (SIGSTOP, a starved VM), and neither did the client
 * library's pings. Remembers when the last such stall began (mu held).
 */
static void note_alive(coord_t *c)
{
    int64_t now = coord_now_ms();
    if (c->alive_ms && now - c->alive_ms > session_ms(c) / 3) {
        c->stalled_from_ms = c->alive_ms;
        c->stall_seen_ms = now;
    }
    c->alive_ms = now;
}

/*
 * The latest the server can have heard from us, given that it has been
 * silent at least silent_ms: that long ago, or when a stall noticed within
 * the last session timeout began, whichever is older (mu held).
 */
static int64_t heard_at_most(const coord_t *c, int64_t silent_ms)
{
    int64_t now = coord_now_ms(), at = now - silent_ms;
    if (c->stall_seen_ms && now - c->stall_seen_ms < session_ms(c) && c->stalled_from_ms < at)
        at = c->stalled_from_ms;
    return at;
}

static void handle_session(coord_t *c, int zstate, unsigned *flags)
{
    if (zstate == ZOO_CONNECTED_STATE) {
        zhandle_t *zh = coord_zh_acquire(c);
        int64_t sid = 0;
        int timeout = 0;
        clientid_t client = {0};
        if (zh) {
            const clientid_t *id = zoo_client_id(zh);
            sid = id ? id->client_id : 0;
            if (id) client = *id;
            timeout = zoo_recv_timeout(zh);
            coord_zh_release(c);
        }
        pthread_mutex_lock(&c->mu);
        c->client = client;
        c->serving_since_ms = 0;
        int64_t connects = c->zk_connects - c->seen_connects;
        c->seen_connects = c->zk_connects;
        if (c->ever_connected && sid == c->session_id && connects > 0) c->reconnects += connects;
        c->session_id = sid;
        c->negotiated_timeout_ms = timeout;
        c->ever_connected = true;
        c->connected_at_ms = coord_now_ms();
        pthread_mutex_unlock(&c->mu);
        *flags |= DIRTY_ALL;
        set_state(c, COORD_CONNECTED);
    } else if (zstate == ZOO_EXPIRED_SESSION_STATE) {
        pthread_mutex_lock(&c->mu);
        c->expiries++;
        /* it expired at least a timeout ago (unnoticed while frozen or cut
         * off: the estimate made on disconnecting may be too young) */
        int64_t at = heard_at_most(c, c->negotiated_timeout_ms);
        if (c->state == COORD_CONNECTED || at < c->last_confirmed_ms) c->last_confirmed_ms = at;
        pthread_mutex_unlock(&c->mu);
        set_state(c, COORD_EXPIRED);
        coord_leader_t none = {0};
        pthread_mutex_lock(&c->mu);
        bool was_leader = c->leader.is_me;
        pthread_mutex_unlock(&c->mu);
        coord_pubsub_stop_leading(c);
        if (was_leader) coord_deliver_leader(c, &none); /* no longer ours to act on */
        if (coord_session_new(c) != COORD_OK) {
            pthread_mutex_lock(&c->mu);
            c->retry |= DIRTY_SESSION;
            c->retry_at_ms = coord_now_ms() + RETRY_MS;
            pthread_mutex_unlock(&c->mu);
        }
    } else if (zstate == ZOO_AUTH_FAILED_STATE) {
        coord_log(c, COORD_LOG_ERROR, "ZooKeeper refused our credentials");
        set_state(c, COORD_AUTH_FAILED);
    } else if (zstate == ZOO_CONNECTING_STATE || zstate == ZOO_ASSOCIATING_STATE) {
        pthread_mutex_lock(&c->mu);
        bool was = c->state == COORD_CONNECTED;
        if (was) {
            /*
             * The client declares a connection lost after 2/3 of the timeout
             * without hearing from the server (or at once if the socket
             * closed): assume the worst, the last word was that long ago,
             * or before a stall of this process (frozen: the client
             * noticed only on waking, the library's timer says 2/3).
             */
            c->last_confirmed_ms = heard_at_most(c, c->negotiated_timeout_ms * 2 / 3);
        }
        c->ready = false;
        pthread_mutex_unlock(&c->mu);
        if (was) set_state(c, COORD_DISCONNECTED);
    }
}

/* Brings every view up to date; returns the flags that failed (to retry). */
static unsigned sync_views(coord_t *c, unsigned flags)
{
    zhandle_t *zh = coord_zh_acquire(c);
    if (!zh) return flags;
    unsigned failed = 0;
    int rc = COORD_OK;
    if (!c->tree_ready) {
        const char *dirs[] = {c->members_dir, c->election_dir, c->revisions_dir, c->pipeline_path,
                              c->assignment_path};
        /* a repair deletes squatters first, while their open parent lets it */
        if (c->repair_acls) rc = coord_acl_check_below(c, zh);
        for (size_t i = 0; i < sizeof dirs / sizeof *dirs && rc == COORD_OK; i++)
            rc = coord_ensure_path(c, zh, dirs[i]);
        if (rc == COORD_OK) rc = coord_acl_check_below(c, zh);
        if (rc == COORD_OK) {
            c->tree_ready = true;
            pthread_mutex_lock(&c->mu);
            c->acl_error[0] = 0; /* repaired meanwhile */
            pthread_mutex_unlock(&c->mu);
        }
    }
    if (rc == COORD_OK && c->is_member &&
        (!c->joined || c->info_dirty || (flags & (DIRTY_JOIN | DIRTY_INFO))))
        rc = coord_members_join(c, zh, flags & DIRTY_JOIN);
    if (rc != COORD_OK) {
        failed = flags | DIRTY_JOIN;
    } else {
        if ((flags & DIRTY_MEMBERS) && coord_members_refresh(c, zh) != COORD_OK)
            failed |= DIRTY_MEMBERS;
        if ((flags & DIRTY_ELECTION) && coord_election_run(c, zh) != COORD_OK)
            failed |= DIRTY_ELECTION;
        /* a pub-sub revision first: trusted, it needs no read; confirmed,
         * its read is the pipeline read (watch re-armed) */
        if ((flags & DIRTY_PUBSUB) && coord_pubsub_process(c, zh, &flags) != COORD_OK)
            failed |= DIRTY_PIPELINE; /* the hint is gone; a full re-read covers it */
        if ((flags & DIRTY_PIPELINE) && !coord_pubsub_defer(c, zh) &&
            coord_store_refresh_pipeline(c, zh, NULL) != COORD_OK)
            failed |= DIRTY_PIPELINE;
        if ((flags & DIRTY_ASSIGNMENT) && coord_store_refresh_assignment(c, zh) != COORD_OK)
            failed |= DIRTY_ASSIGNMENT;
    }
    coord_zh_release(c);
    return failed;
}

void *coord_event_thread(void *arg)
{
    coord_t *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && !c->dirty && !(c->retry && coord_now_ms() >= c->retry_at_ms)) {
            /* awake at least every session/6, to notice a stall (note_alive) */
            int64_t wait = session_ms(c) / 6;
            if (c->retry && c->retry_at_ms - coord_now_ms() < wait)
                wait = c->retry_at_ms - coord_now_ms();
            bool cut = c->state == COORD_DISCONNECTED && c->client.client_id != 0;
            if (cut && wait > COORD_PROBE_MS) wait = COORD_PROBE_MS;
            coord_wait_ms(c, wait < 0 ? 0 : wait);
            note_alive(c);
            if (c->tls) { /* why a TLS peer is refused: nng does not say */
                pthread_mutex_unlock(&c->mu);
                coord_tls_tick(c);
                pthread_mutex_lock(&c->mu);
            }
            if (cut && !c->stop) {
                pthread_mutex_unlock(&c->mu);
                coord_session_redial(c);
                pthread_mutex_lock(&c->mu);
            }
        }
        note_alive(c);
        if (c->stop) break;
        unsigned flags = c->dirty;
        if (c->retry && coord_now_ms() >= c->retry_at_ms) {
            flags |= c->retry;
            c->retry = 0;
        }
        c->dirty = 0;
        int zstate = c->zk_state;
        pthread_mutex_unlock(&c->mu);

        if (flags & DIRTY_SESSION) {
            if (zstate == 0 && !c->zh) zstate = ZOO_EXPIRED_SESSION_STATE; /* retry a new handle */
            handle_session(c, zstate, &flags);
        }
        pthread_mutex_lock(&c->mu);
        bool connected = c->state == COORD_CONNECTED && c->zk_state == ZOO_CONNECTED_STATE;
        pthread_mutex_unlock(&c->mu);
        unsigned failed = 0;
        if (connected && (flags & ~DIRTY_SESSION)) failed = sync_views(c, flags & ~DIRTY_SESSION);

        pthread_mutex_lock(&c->mu);
        if (failed && c->zk_state == ZOO_CONNECTED_STATE) {
            /* back off while it keeps failing (an ACL problem will not heal fast) */
            c->retry_delay_ms = c->retry_delay_ms ? c->retry_delay_ms * 2 : RETRY_MS;
            if (c->retry_delay_ms > RETRY_MAX_MS) c->retry_delay_ms = RETRY_MAX_MS;
            c->retry |= failed;
            c->retry_at_ms = coord_now_ms() + c->retry_delay_ms;
        } else if (connected && !failed) {
            c->retry_delay_ms = 0;
        }
        if (connected && !failed && !c->retry && !c->dirty && c->state == COORD_CONNECTED) {
            c->ready = true;
            pthread_cond_broadcast(&c->cond);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}
