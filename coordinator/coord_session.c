/*
 * coord_session.c: the coord_t handle, its ZooKeeper session and its event
 * thread.
 *
 * ZooKeeper's multi-threaded client runs watchers on its completion thread,
 * where a synchronous call would deadlock and a slow callback would stall
 * every other notification. So watchers here only set dirty flags (one bit
 * per view, coalescing bursts: ten membership changes cost one re-read) and
 * the handle's own event thread does the work: re-reads with fresh one-shot
 * watches, and calls the user's callbacks. Reading the whole view again on
 * every change is simpler and more robust than applying deltas: a missed or
 * duplicated notification cannot leave the view wrong.
 *
 * Re-dialling: the client library gives a connection attempt 2/3 of the
 * session timeout to be answered. A server that is starting accepts TCP
 * connections before it answers them, so an attempt that lands then hangs
 * that long (1.3 s with a 2 s session, 6.7 s with the default 10 s) although
 * the server serves a moment later. While cut off, the event thread asks the
 * servers `srvr` every PROBE_MS; once one serves and we are still not
 * connected REDIAL_MS later, it replaces the handle by one resuming the same
 * session (zookeeper_init2 with our client id): reconnected within tens of
 * milliseconds instead (docs/CLUSTER.md has the figures).
 *
 * Expiry: the old zhandle is dead (every call answers ZINVALIDSTATE), so the
 * event thread closes it and creates a new one under the write side of
 * zlock; per-session state (joined, election node) is reset while the last
 * known views are kept until fresh ones arrive. After every (re)connection
 * the thread re-syncs everything: watches set before a disconnection are
 * restored by the client library, but an operation that failed meanwhile is
 * simply redone.
 */
#include "coord_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define RETRY_MS         250
#define RETRY_MAX_MS     5000
#define RESOLVE_DELAY_MS 30000
#define PROBE_MS         100 /* while cut off: how often a server is asked `srvr` */
#define REDIAL_MS        150 /* a server serves and we are still not connected: re-dial */

int64_t coord_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void coord_log(coord_t *c, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->cb.log)
        c->cb.log(c->cb_arg, level, msg);
    else if (level <= COORD_LOG_WARN)
        fprintf(stderr, "coordinator[%s]: %s\n", c->group, msg);
}

/*
 * The client library's log callback has no context argument, and its
 * fallback stream is process-wide, so where its lines go is one setting for
 * the process (the one mutable global here; coordinator.h says when it may
 * be set). Atomic only so that a late setter is not a data race.
 */
static _Atomic(FILE *) zk_log_stream;

void coord_set_zk_log(FILE *stream)
{
    atomic_store(&zk_log_stream, stream);
    zoo_set_log_stream(stream); /* its lines from outside a handle's callback */
}

/* Keep the library's warnings and errors, drop its chatter. */
void coord_zk_line(const char *msg)
{
    if (!strstr(msg, "ZOO_ERROR") && !strstr(msg, "ZOO_WARN")) return;
    FILE *f = atomic_load(&zk_log_stream);
    fprintf(f ? f : stderr, "%s\n", msg);
}

int coord_zerr(int zrc)
{
    switch (zrc) {
    case ZOK:
        return COORD_OK;
    case ZBADVERSION:
    case ZNODEEXISTS:
        return COORD_ECONFLICT;
    case ZNONODE:
        return COORD_ENOENT;
    case ZNOAUTH:
    case ZAUTHFAILED:
    case ZINVALIDACL:
        return COORD_ENOAUTH;
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZINVALIDSTATE:
    case ZSESSIONEXPIRED:
    case ZSESSIONMOVED:
    case ZCLOSING:
        return COORD_ENOCONN;
    case ZBADARGUMENTS:
        return COORD_EINVAL;
    default:
        return COORD_ESYS;
    }
}

zhandle_t *coord_zh_acquire(coord_t *c)
{
    pthread_rwlock_rdlock(&c->zlock);
    if (c->zh) return c->zh;
    pthread_rwlock_unlock(&c->zlock);
    return NULL;
}

void coord_zh_release(coord_t *c)
{
    pthread_rwlock_unlock(&c->zlock);
}

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

int coord_get_node(coord_t *c, zhandle_t *zh, const char *path, bool watch, size_t cap, char **buf,
                   size_t *len, struct Stat *stat)
{
    size_t want = cap < 4096 ? cap : 4096;
    *buf = NULL;
    *len = 0;
    for (int attempt = 0; attempt < 4; attempt++) {
        char *b = malloc(want + 1);
        if (!b) return COORD_ESYS;
        int blen = (int)want;
        int rc = zoo_wget(zh, path, watch ? coord_watcher : NULL, watch ? c : NULL, b, &blen, stat);
        if (rc != ZOK) {
            free(b);
            return coord_zerr(rc);
        }
        if (blen < 0) blen = 0; /* a node without data */
        if ((size_t)stat->dataLength <= want) {
            b[blen] = 0;
            *buf = b;
            *len = (size_t)blen;
            return COORD_OK;
        }
        free(b);
        if ((size_t)stat->dataLength > cap) return COORD_ETOOBIG;
        want = (size_t)stat->dataLength; /* grew meanwhile: read again */
    }
    return COORD_ECONFLICT;
}

int coord_ensure_path(coord_t *c, zhandle_t *zh, const char *path)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1;; s++) {
        bool last = *s == 0;
        if (*s != '/' && !last) continue;
        *s = 0;
        /* look first: creating an existing node we may not write is ZNOAUTH */
        struct Stat st;
        int rc = zoo_exists(zh, buf, 0, &st);
        if (rc == ZNONODE)
            rc = zoo_create(zh, buf, NULL, -1, coord_acl_for(c, buf), ZOO_PERSISTENT, NULL, 0);
        else if (rc == ZOK && strlen(buf) > 1) {
            /* nodes someone else created first are never adopted */
            int arc = coord_acl_check(c, zh, buf);
            if (arc != COORD_OK) return arc;
        }
        if (rc != ZOK && rc != ZNODEEXISTS) {
            coord_log(c, COORD_LOG_WARN, "cannot create %s: %s", buf, zerror(rc));
            return coord_zerr(rc);
        }
        if (last) return COORD_OK;
        *s = '/';
    }
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

static void new_guid(char out[33])
{
    unsigned char r[16] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* no entropy: time and address still make collisions unlikely */
        int64_t t = coord_now_ms();
        memcpy(r, &t, sizeof t);
        uintptr_t a = (uintptr_t)out;
        memcpy(r + 8, &a, sizeof a < 8 ? sizeof a : 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/*
 * A handle for our servers (resuming *client, or a new session when NULL).
 * Every handle is made here, so each gets the same settings: the client
 * resolves the server names again each time it polls its socket by default,
 * a getaddrinfo per round trip (8 % of the CPU of 100 members in one
 * process, issue 19); a DNS change is still seen within RESOLVE_DELAY_MS,
 * and at once on a connection loss. errno is zookeeper_init2's.
 */
static zhandle_t *dial(coord_t *c, const clientid_t *client)
{
    zhandle_t *zh = zookeeper_init2(c->url.hosts, coord_watcher, c->session_timeout_ms, client, c,
                                    0, coord_zk_line);
    int err = errno;
    if (zh) zoo_set_servers_resolution_delay(zh, RESOLVE_DELAY_MS);
    errno = err;
    return zh;
}

static void add_auth(coord_t *c, zhandle_t *zh)
{
    if (!zh || !c->auth[0]) return;
    int rc = zoo_add_auth(zh, "digest", c->auth, (int)strlen(c->auth), NULL, NULL);
    if (rc != ZOK) coord_log(c, COORD_LOG_ERROR, "adding credentials: %s", zerror(rc));
}

/* Closes the dead handle (if any) and starts a fresh session. */
static int new_session(coord_t *c)
{
    pthread_rwlock_wrlock(&c->zlock);
    zhandle_t *old = c->zh;
    if (old) {
        pthread_mutex_lock(&c->mu);
        c->zh = NULL;
        pthread_mutex_unlock(&c->mu);
        zookeeper_close(old);
    }
    pthread_mutex_lock(&c->mu);
    c->joined = false;
    c->ready = false;
    c->elect_node[0] = 0;
    c->leader_node[0] = 0;
    c->zk_state = 0;
    /* watches die with a session: every member's data must be read (and
     * watched) again, not served from the cache */
    c->members_all_stale = true;
    c->member_data_watched = !c->is_member; /* a member again once it leads */
    new_guid(c->guid);
    memset(&c->client, 0, sizeof c->client); /* nothing to resume by re-dialling */
    c->zh = dial(c, NULL);
    int err = errno;
    zhandle_t *zh = c->zh;
    pthread_mutex_unlock(&c->mu);
    add_auth(c, zh);
    pthread_rwlock_unlock(&c->zlock);
    if (!zh) {
        coord_log(c, COORD_LOG_ERROR, "cannot create a ZooKeeper handle for %s: %s", c->url.hosts,
                  strerror(err));
        return COORD_ESYS;
    }
    return COORD_OK;
}

/* Waits on c->cond (a CLOCK_MONOTONIC one) at most ms (mu held). */
static void wait_ms(coord_t *c, int64_t ms)
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

/* Whether one of the servers answers `srvr` as serving now. */
static bool some_server_serves(coord_t *c)
{
    char reply[2048];
    for (const char *p = c->url.hosts; *p;) {
        size_t len = strcspn(p, ",");
        char hp[300];
        snprintf(hp, sizeof hp, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
        if (coord_four_letter(hp, "srvr", PROBE_MS, reply, sizeof reply) == COORD_OK &&
            strstr(reply, "Mode: "))
            return true;
    }
    return false;
}

/* Replaces the handle by one resuming our session (not a new one: nothing
 * of the session changes; its watches are set again by the re-sync that
 * follows every connection). */
static void resume_session(coord_t *c)
{
    pthread_rwlock_wrlock(&c->zlock);
    pthread_mutex_lock(&c->mu);
    zhandle_t *old = c->zh;
    clientid_t client = c->client;
    /* connected meanwhile (or never was): closing would end the session */
    bool go = old && client.client_id && c->zk_state != ZOO_CONNECTED_STATE &&
              zoo_state(old) != ZOO_CONNECTED_STATE;
    if (go) {
        c->zh = NULL;
        c->zk_state = 0;
        c->members_all_stale = true;
        c->redials++;
    }
    pthread_mutex_unlock(&c->mu);
    if (!go) {
        pthread_rwlock_unlock(&c->zlock);
        return;
    }
    zookeeper_close(old); /* not connected: no close request is sent */
    zhandle_t *zh = dial(c, &client);
    pthread_mutex_lock(&c->mu);
    c->zh = zh;
    pthread_mutex_unlock(&c->mu);
    add_auth(c, zh);
    pthread_rwlock_unlock(&c->zlock);
    coord_log(c, COORD_LOG_INFO,
              "ZooKeeper serves again but our connection attempt hangs: re-dialling session "
              "0x%llx",
              (unsigned long long)client.client_id);
    if (!zh) coord_mark_dirty(c, DIRTY_SESSION); /* a fresh session, the expiry path */
}

/* While cut off from a session we had: re-dial once a server serves again
 * and the library has not reconnected REDIAL_MS later (event thread). */
static void maybe_redial(coord_t *c)
{
    int64_t now = coord_now_ms();
    pthread_mutex_lock(&c->mu);
    bool cut = c->state == COORD_DISCONNECTED && c->zk_state != ZOO_CONNECTED_STATE &&
               c->client.client_id != 0;
    bool due = cut && now - c->last_probe_ms >= PROBE_MS;
    if (!cut) c->serving_since_ms = 0;
    if (due) c->last_probe_ms = now;
    pthread_mutex_unlock(&c->mu);
    if (!due) return;
    bool serves = some_server_serves(c);
    pthread_mutex_lock(&c->mu);
    bool redial = false;
    if (!serves) {
        c->serving_since_ms = 0;
    } else if (!c->serving_since_ms) {
        c->serving_since_ms = now;
    } else if (now - c->serving_since_ms >= REDIAL_MS && c->zk_state != ZOO_CONNECTED_STATE) {
        redial = true;
        c->serving_since_ms = now; /* at most once per REDIAL_MS */
    }
    pthread_mutex_unlock(&c->mu);
    if (redial) resume_session(c);
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
        if (new_session(c) != COORD_OK) {
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

static void *event_thread(void *arg)
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
            if (cut && wait > PROBE_MS) wait = PROBE_MS;
            wait_ms(c, wait < 0 ? 0 : wait);
            note_alive(c);
            if (c->tls) { /* why a TLS peer is refused: nng does not say */
                pthread_mutex_unlock(&c->mu);
                coord_tls_tick(c);
                pthread_mutex_lock(&c->mu);
            }
            if (cut && !c->stop) {
                pthread_mutex_unlock(&c->mu);
                maybe_redial(c);
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

coord_t *coord_open(const coord_config_t *cfg, char *err, size_t errcap)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errcap = sizeof dummy;
    }
    if (!cfg) {
        snprintf(err, errcap, "no configuration");
        return NULL;
    }
    coord_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    if (coord_url_parse(cfg->backend_url, &c->url, err, errcap) != COORD_OK ||
        coord_config_check(cfg, err, errcap) != COORD_OK) {
        free(c);
        return NULL;
    }
    snprintf(c->group, sizeof c->group, "%s", cfg->group);
    c->is_member = cfg->member_id != NULL;
    if (c->is_member) snprintf(c->member_id, sizeof c->member_id, "%s", cfg->member_id);
    c->candidate = c->is_member && cfg->candidate;
    if (cfg->endpoint) snprintf(c->endpoint, sizeof c->endpoint, "%s", cfg->endpoint);
    if (cfg->auth) snprintf(c->auth, sizeof c->auth, "%s", cfg->auth);
    if (cfg->pubsub_listen)
        snprintf(c->pubsub_listen, sizeof c->pubsub_listen, "%s", cfg->pubsub_listen);
    c->pubsub_trust = cfg->pubsub_trust;
    c->pubsub_verify = cfg->pubsub_verify;
    c->without_members = !c->is_member && cfg->without_members;
    c->session_timeout_ms =
        cfg->session_timeout_ms ? cfg->session_timeout_ms : COORD_SESSION_TIMEOUT_DEFAULT_MS;
    c->keep_revisions = cfg->keep_revisions ? cfg->keep_revisions : COORD_KEEP_REVISIONS_DEFAULT;
    c->max_node_bytes = cfg->max_node_bytes ? cfg->max_node_bytes : COORD_MAX_NODE_DEFAULT;
    c->cb = cfg->cb;
    c->cb_arg = cfg->cb_arg;
    c->exec = cfg->executor;
    if (cfg->info) c->info = *cfg->info;
    c->info_dirty = false;
    c->pipeline_version = -1;
    c->assignment_version = -1;
    if (coord_build_paths(c, err, errcap) != COORD_OK) {
        free(c);
        return NULL;
    }
    c->repair_acls = cfg->repair_acls;
    if (coord_acl_init(c, cfg, err, errcap) != COORD_OK ||
        coord_tls_init(c, cfg, err, errcap) != COORD_OK) {
        free(c);
        return NULL;
    }
    c->state = COORD_CONNECTING;
    pthread_rwlock_init(&c->zlock, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->pub_mu, NULL);
    pthread_mutex_init(&c->req_mu, NULL);
    pthread_cond_init(&c->req_cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (coord_exec_init(c, err, errcap) != COORD_OK ||
        coord_async_init(c, err, errcap) != COORD_OK ||
        coord_pubsub_init(c, err, errcap) != COORD_OK) {
        coord_close(c);
        return NULL;
    }
    if (new_session(c) != COORD_OK) {
        snprintf(err, errcap, "cannot create a ZooKeeper client for %s", c->url.hosts);
        coord_close(c);
        return NULL;
    }
    if (pthread_create(&c->thread, NULL, event_thread, c) != 0) {
        snprintf(err, errcap, "cannot start the coordinator thread");
        coord_close(c);
        return NULL;
    }
    c->thread_started = true;
    return c;
}

void coord_close(coord_t *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    coord_exec_close(c); /* from here on, none of the caller's code starts */
    coord_async_fini(c);
    if (c->thread_started) pthread_join(c->thread, NULL);
    coord_pubsub_fini(c); /* the PUB closes before our election node goes */
    coord_tls_fini(c);
    pthread_rwlock_wrlock(&c->zlock);
    zhandle_t *zh = c->zh;
    pthread_mutex_lock(&c->mu);
    c->zh = NULL;
    c->state = COORD_CLOSED;
    pthread_mutex_unlock(&c->mu);
    /* closing the session deletes our ephemeral nodes at once: a clean leave */
    if (zh) zookeeper_close(zh);
    pthread_rwlock_unlock(&c->zlock);
    coord_members_clear(c);
    pthread_rwlock_destroy(&c->zlock);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->pub_mu);
    pthread_mutex_destroy(&c->req_mu);
    pthread_cond_destroy(&c->req_cond);
    pthread_cond_destroy(&c->cond);
    coord_exec_fini(c); /* jobs still queued keep the token alive */
    free(c);
}

int coord_wait_ready(coord_t *c, int timeout_ms)
{
    int64_t deadline = coord_now_ms() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    while (!c->ready && c->state != COORD_AUTH_FAILED) {
        int64_t left = deadline - coord_now_ms();
        if (left <= 0) break;
        wait_ms(c, left);
    }
    int rc = c->ready ? COORD_OK : c->state == COORD_AUTH_FAILED ? COORD_ENOAUTH : COORD_ETIMEOUT;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void coord_get_status(coord_t *c, coord_status_t *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&c->mu);
    st->state = c->state;
    st->session_id = c->session_id;
    st->session_timeout_ms =
        c->negotiated_timeout_ms ? c->negotiated_timeout_ms : c->session_timeout_ms;
    if (c->state == COORD_CONNECTED)
        st->unconfirmed_ms = 0;
    else if (c->ever_connected)
        st->unconfirmed_ms = coord_now_ms() - c->last_confirmed_ms;
    else
        st->unconfirmed_ms = INT64_MAX; /* never confirmed at all */
    st->expiries = c->expiries;
    st->reconnects = c->reconnects;
    st->joined = c->joined;
    st->is_leader = c->leader.is_me;
    snprintf(st->acl_error, sizeof st->acl_error, "%s", c->acl_error);
    st->pubsub_received = c->ps_received;
    st->pubsub_delivered = c->ps_delivered;
    st->zk_delivered = c->zk_delivered;
    st->pubsub_dropped_malformed = c->ps_malformed;
    st->pubsub_dropped_unconfirmed = c->ps_unconfirmed;
    st->pubsub_sent = c->ps_sent;
    st->pubsub_verified = c->ps_verified;
    st->pubsub_connected = c->sub_pipes > 0;
    snprintf(st->pubsub_endpoint, sizeof st->pubsub_endpoint, "%s", c->sub_url);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_lock(&c->pub_mu);
    snprintf(st->pubsub_publishing, sizeof st->pubsub_publishing, "%s", c->pub_url);
    pthread_mutex_unlock(&c->pub_mu);
}
