/*
 * coord_session.c: the coord_t handle and its ZooKeeper session: opening and
 * closing, (re)creating the client handle, re-dialling, status. The event
 * thread that reacts to the session's events is in coord_events.c.
 *
 * Re-dialling: the client library gives a connection attempt 2/3 of the
 * session timeout to be answered. A server that is starting accepts TCP
 * connections before it answers them, so an attempt that lands then hangs
 * that long (1.3 s with a 2 s session, 6.7 s with the default 10 s) although
 * the server serves a moment later. While cut off, the event thread asks the
 * servers `srvr` every COORD_PROBE_MS; once one serves and we are still not
 * connected REDIAL_MS later, it replaces the handle by one resuming the same
 * session (zookeeper_init2 with our client id): reconnected within tens of
 * milliseconds instead (docs/CLUSTER.md has the figures).
 *
 * Expiry: the old zhandle is dead (every call answers ZINVALIDSTATE), so the
 * event thread closes it and creates a new one (coord_session_new) under the
 * write side of zlock; per-session state (joined, election node) is reset
 * while the last known views are kept until fresh ones arrive.
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

#define RESOLVE_DELAY_MS 30000
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
int coord_session_new(coord_t *c)
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

/* Whether one of the servers answers `srvr` as serving now. */
static bool some_server_serves(coord_t *c)
{
    char reply[2048];
    for (const char *p = c->url.hosts; *p;) {
        size_t len = strcspn(p, ",");
        char hp[300];
        snprintf(hp, sizeof hp, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
        if (coord_four_letter(hp, "srvr", COORD_PROBE_MS, reply, sizeof reply) == COORD_OK &&
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
void coord_session_redial(coord_t *c)
{
    int64_t now = coord_now_ms();
    pthread_mutex_lock(&c->mu);
    bool cut = c->state == COORD_DISCONNECTED && c->zk_state != ZOO_CONNECTED_STATE &&
               c->client.client_id != 0;
    bool due = cut && now - c->last_probe_ms >= COORD_PROBE_MS;
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
    if (coord_session_new(c) != COORD_OK) {
        snprintf(err, errcap, "cannot create a ZooKeeper client for %s", c->url.hosts);
        coord_close(c);
        return NULL;
    }
    if (pthread_create(&c->thread, NULL, coord_event_thread, c) != 0) {
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
        coord_wait_ms(c, left);
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
