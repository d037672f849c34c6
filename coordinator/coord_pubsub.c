/*
 * coord_pubsub.c: the fast path for revisions (nng PUB/SUB).
 *
 * The leader listens on pubsub_listen with a pub0 socket while it leads and
 * advertises the bound URL (port 0 resolved) in its election node; it sends
 * every new revision, encoded exactly as the pipeline node, the moment it
 * learns of it (its own push, its watch, or becoming leader). Every member
 * keeps one sub0 socket for its whole life and moves its single dialer to
 * whichever endpoint the current leader advertises; nng redials by itself
 * after a transient loss.
 *
 * ZooKeeper stays the source of truth and the commit point: a pub-sub
 * message is a hint. It is decoded and checked (length, sha256) on nng's
 * thread, which only parks the newest one for the event thread and never
 * calls user code (not even the log callback: junk is counted and its reason
 * logged by the event thread). The event thread then confirms it with one
 * read of the pipeline node (number and sha256 equal) before delivering it
 * through the same revision callback as the watch path; whichever path is
 * first delivers, the other sees a number not above the last delivered and
 * stays silent. Confirming costs one read but means a forged message that is
 * self-consistent (valid sha) can never be applied; pubsub_trust skips the
 * read for trusted networks (see docs/COORDINATION.md for the figures).
 * pubsub_verify skips it for a copy whose signature verifies (the caller's
 * own check, with the group's trusted keys): each member then reads nothing
 * from ZooKeeper before applying, so the body is fetched once, by the leader
 * (issue 19; the watch still re-arms after).
 *
 * Delivery never depends on this path: members keep their ZooKeeper watch,
 * and PUB may drop (slow joiner, full buffers, leader change) without harm.
 */
#include "coord_int.h"

#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Queue depths in messages: bursts of pushes must not drop on a healthy
 * link (nng's defaults do); revisions are rare and usually small. */
#define PUBSUB_BUF       128
#define RECONNECT_MIN_MS 20
#define RECONNECT_MAX_MS 1000
/* How long a member whose pipeline watch fired waits for the leader's
 * signed copy before reading the body itself: the leader reads it once
 * and publishes at once, so this is a bound for a slow or absent leader. */
#define DEFER_GRACE_MS 100

int coord_pubsub_check_url(const char *url, char *err, size_t errcap)
{
    if (!url || !*url) return COORD_OK;
    nng_url *u = NULL;
    if (strlen(url) >= 200 || nng_url_parse(&u, url) != 0) {
        snprintf(err, errcap, "pubsub_listen \"%.200s\" is not an nng URL (e.g. tcp://10.0.0.1:0)",
                 url);
        return COORD_EINVAL;
    }
    nng_url_free(u);
    return COORD_OK;
}

/* Runs on nng's thread: decode, count, park the newest; never user code. */
static void accept_msg(coord_t *c, const void *data, size_t len)
{
    coord_revision_t r;
    char err[200];
    int64_t notified_us = coord_trace_now_us();
    int rc = coord_revision_decode(data, len, &r, err, sizeof err);
    if (rc == COORD_OK) {
        r.notified_us = notified_us;
        r.received_us = coord_trace_now_us();
    }
    pthread_mutex_lock(&c->mu);
    c->ps_received++;
    if (rc != COORD_OK) {
        c->ps_malformed++;
        c->pubsub_errs_unlogged++;
        snprintf(c->pubsub_err, sizeof c->pubsub_err, "%zu bytes: %s", len,
                 rc == COORD_EMALFORMED ? err : coord_strerror(rc));
        c->dirty |= DIRTY_PUBSUB;
        pthread_cond_broadcast(&c->cond);
    } else if (r.number > c->pipeline_version && r.number > c->pending.number) {
        coord_revision_free(&c->pending);
        c->pending = r;
        c->pending_len = len;
        r.body = NULL; /* moved */
        c->dirty |= DIRTY_PUBSUB;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->mu);
    coord_revision_free(&r);
}

static void sub_cb(void *arg)
{
    coord_t *c = arg;
    int rv = nng_aio_result(c->sub_aio);
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) return; /* closing */
    if (rv == 0) {
        nng_msg *m = nng_aio_get_msg(c->sub_aio);
        accept_msg(c, nng_msg_body(m), nng_msg_len(m));
        nng_msg_free(m);
    }
    nng_recv_aio(c->sub, c->sub_aio);
}

/* Counts the connections of the current dialer only (an old leader's pipe
 * going away must not hide that we are not connected to the new one). */
static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    coord_t *c = arg;
    int id = nng_dialer_id(nng_pipe_dialer(p));
    pthread_mutex_lock(&c->mu);
    if (id == c->dialer_id && id > 0) {
        if (ev == NNG_PIPE_EV_ADD_POST) c->sub_pipes++;
        if (ev == NNG_PIPE_EV_REM_POST && c->sub_pipes > 0) c->sub_pipes--;
    }
    pthread_mutex_unlock(&c->mu);
}

int coord_pubsub_init(coord_t *c, char *err, size_t errcap)
{
    c->dialer_id = -1;
    if (!c->pubsub_listen[0] || !c->is_member) return COORD_OK;
    int rv = nng_sub0_open(&c->sub);
    if (rv != 0) {
        snprintf(err, errcap, "cannot open a pub-sub socket: %s", nng_strerror(rv));
        return COORD_ESYS;
    }
    c->sub_open = true;
    /* a peer cannot make us allocate more than a pipeline node may hold
     * (header included: the stored form is bounded by max_node_bytes) */
    if ((rv = nng_socket_set(c->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
        (rv = nng_socket_set_size(c->sub, NNG_OPT_RECVMAXSZ, c->max_node_bytes)) != 0 ||
        (rv = nng_socket_set_int(c->sub, NNG_OPT_RECVBUF, PUBSUB_BUF)) != 0 ||
        (rv = nng_pipe_notify(c->sub, NNG_PIPE_EV_ADD_POST, pipe_cb, c)) != 0 ||
        (rv = nng_pipe_notify(c->sub, NNG_PIPE_EV_REM_POST, pipe_cb, c)) != 0 ||
        (rv = nng_aio_alloc(&c->sub_aio, sub_cb, c)) != 0) {
        snprintf(err, errcap, "cannot set up the pub-sub socket: %s", nng_strerror(rv));
        return COORD_ESYS;
    }
    nng_recv_aio(c->sub, c->sub_aio);
    return COORD_OK;
}

static bool close_pub(coord_t *c)
{
    pthread_mutex_lock(&c->pub_mu);
    bool was = c->pub_open;
    if (was) nng_close(c->pub);
    c->pub_open = false;
    c->pub_url[0] = 0;
    c->published = 0;
    pthread_mutex_unlock(&c->pub_mu);
    return was;
}

void coord_pubsub_stop_leading(coord_t *c)
{
    if (close_pub(c)) coord_log(c, COORD_LOG_INFO, "pub-sub: no longer publishing");
}

void coord_pubsub_fini(coord_t *c)
{
    /* closing fails the pending receive with NNG_ECLOSED; freeing the aio
     * then waits for its callback, so nothing runs on c afterwards */
    if (c->sub_open) nng_close(c->sub);
    if (c->sub_aio) nng_aio_free(c->sub_aio);
    c->sub_aio = NULL;
    c->sub_open = false;
    close_pub(c); /* quietly: the caller's thread, not the event thread */
    coord_revision_free(&c->pending);
}

/* "tcp://h:0" -> "tcp://h:<bound port>"; other URLs are advertised as given. */
static void bound_url(const char *listen, int port, char *out, size_t cap)
{
    size_t n = strlen(listen);
    if (port > 0 && n >= 2 && strcmp(listen + n - 2, ":0") == 0)
        snprintf(out, cap, "%.*s:%d", (int)(n - 2), listen, port);
    else
        snprintf(out, cap, "%s", listen);
}

static int open_pub(coord_t *c)
{
    nng_socket s;
    nng_listener l;
    int rv = nng_pub0_open(&s);
    if (rv != 0) goto fail;
    /* PUB never needs to receive: refuse anything but tiny frames */
    if ((rv = nng_socket_set_int(s, NNG_OPT_SENDBUF, PUBSUB_BUF)) != 0 ||
        (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64)) != 0 ||
        (rv = nng_listener_create(&l, s, c->pubsub_listen)) != 0 ||
        (rv = coord_tls_listener(c, l)) != 0 || (rv = nng_listener_start(l, 0)) != 0) {
        nng_close(s);
        goto fail;
    }
    int port = 0;
    if (nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0) port = 0;
    pthread_mutex_lock(&c->pub_mu);
    c->pub = s;
    c->pub_open = true;
    c->published = 0;
    bound_url(c->pubsub_listen, port, c->pub_url, sizeof c->pub_url);
    pthread_mutex_unlock(&c->pub_mu);
    coord_log(c, COORD_LOG_INFO, "pub-sub: publishing revisions on %s", c->pub_url);
    return COORD_OK;
fail:
    coord_log(c, COORD_LOG_ERROR, "pub-sub: cannot listen on %s: %s (ZooKeeper only)",
              c->pubsub_listen, nng_strerror(rv));
    return COORD_ESYS;
}

void coord_pubsub_advertised(coord_t *c, char *out, size_t cap)
{
    pthread_mutex_lock(&c->pub_mu);
    snprintf(out, cap, "%s", c->pub_open ? c->pub_url : c->endpoint);
    pthread_mutex_unlock(&c->pub_mu);
}

/* Moves our one dialer to url ("" = none). Event thread only. */
static void follow(coord_t *c, const char *url)
{
    if (!c->sub_open) return;
    pthread_mutex_lock(&c->mu);
    bool same = strcmp(c->sub_url, url) == 0;
    pthread_mutex_unlock(&c->mu);
    if (same) return;
    if (c->dialer_open) nng_dialer_close(c->dialer);
    c->dialer_open = false;
    pthread_mutex_lock(&c->mu);
    snprintf(c->sub_url, sizeof c->sub_url, "%s", url);
    c->dialer_id = -1;
    c->sub_pipes = 0;
    pthread_mutex_unlock(&c->mu);
    if (!*url) return;
    nng_dialer d;
    int rv = nng_dialer_create(&d, c->sub, url);
    if (rv == 0 && (rv = coord_tls_dialer(c, d, url)) != 0) nng_dialer_close(d);
    if (rv == 0) {
        nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, RECONNECT_MIN_MS);
        nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, RECONNECT_MAX_MS);
        nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ, c->max_node_bytes);
        pthread_mutex_lock(&c->mu);
        c->dialer_id = nng_dialer_id(d);
        pthread_mutex_unlock(&c->mu);
        /* non-blocking: a leader not listening yet is redialled by nng */
        rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
        if (rv != 0) nng_dialer_close(d);
    }
    if (rv != 0) {
        coord_log(c, COORD_LOG_WARN, "pub-sub: cannot dial the leader's endpoint %s: %s", url,
                  nng_strerror(rv));
        return;
    }
    c->dialer = d;
    c->dialer_open = true;
    coord_log(c, COORD_LOG_INFO, "pub-sub: subscribed to %s", url);
}

/* Makes our election node advertise url (the leader's node is watched by
 * everyone, so members learn it through the election path). */
static int advertise(coord_t *c, zhandle_t *zh, const char *url)
{
    if (strcmp(c->node_endpoint, url) == 0) return COORD_OK;
    json_t *o = json_pack("{s:s, s:s}", "member", c->member_id, "endpoint", url);
    char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!data) return COORD_ESYS;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", c->election_dir, c->elect_node);
    int zrc = zoo_set(zh, path, data, (int)strlen(data), -1);
    free(data);
    if (zrc != ZOK) {
        coord_log(c, COORD_LOG_WARN, "pub-sub: cannot advertise %s: %s", url, zerror(zrc));
        return coord_zerr(zrc);
    }
    snprintf(c->node_endpoint, sizeof c->node_endpoint, "%s", url);
    return COORD_OK;
}

int coord_pubsub_on_leader(coord_t *c, zhandle_t *zh, coord_leader_t *l)
{
    if (!l->is_me) {
        coord_pubsub_stop_leading(c);
        follow(c, l->known ? l->endpoint : "");
        return COORD_OK;
    }
    follow(c, "");
    if (!c->pubsub_listen[0]) return COORD_OK;
    if (!c->pub_open && open_pub(c) == COORD_OK) {
        /* members that subscribe in time get the current one from us */
        c->republish = true;
        coord_mark_dirty(c, DIRTY_PIPELINE);
    }
    if (!c->pub_open) return COORD_OK;
    snprintf(l->endpoint, sizeof l->endpoint, "%s", c->pub_url);
    return advertise(c, zh, c->pub_url);
}

void coord_pubsub_publish(coord_t *c, int64_t number, const void *data, size_t len)
{
    pthread_mutex_lock(&c->pub_mu);
    if (c->pub_open && number > c->published) {
        nng_msg *m = NULL;
        int rv = nng_msg_alloc(&m, len);
        if (rv == 0) {
            memcpy(nng_msg_body(m), data, len);
            rv = nng_sendmsg(c->pub, m, NNG_FLAG_NONBLOCK);
            if (rv != 0) nng_msg_free(m);
        }
        if (rv == 0) {
            c->published = number;
            pthread_mutex_lock(&c->mu);
            c->ps_sent++;
            pthread_mutex_unlock(&c->mu);
        }
    }
    pthread_mutex_unlock(&c->pub_mu);
}

bool coord_pubsub_defer(coord_t *c, zhandle_t *zh)
{
    pthread_mutex_lock(&c->mu);
    bool can = c->pubsub_verify && c->sub_pipes > 0 && !c->leader.is_me && c->pipeline_version > 0;
    int64_t have = c->pipeline_version, defer_ms = c->pipeline_defer_ms;
    bool have_verified = c->verified_version == have;
    size_t verified_len = c->verified_len;
    pthread_mutex_unlock(&c->mu);
    if (!can) return false;
    int64_t now = coord_now_ms();
    if (!defer_ms) {
        /* what the watch says, for a node's stat only (and the watch again) */
        struct Stat st;
        if (zoo_wexists(zh, c->pipeline_path, coord_watcher, c, &st) != ZOK) return false;
        if (st.version <= have) {
            /* ours came signed, encoded exactly as the node: the same
             * length says the same write (two bodies signed for one number
             * differ in length but by chance); else the read compares the
             * sha and ZooKeeper's copy wins */
            if (!have_verified || (size_t)st.dataLength != verified_len) return false;
            pthread_mutex_lock(&c->mu);
            c->pipeline_notified_us = 0; /* nothing new: handled */
            pthread_mutex_unlock(&c->mu);
            return true;
        }
        defer_ms = now + DEFER_GRACE_MS;
    }
    pthread_mutex_lock(&c->mu);
    bool defer = now < defer_ms && c->pipeline_version == have;
    c->pipeline_defer_ms = defer ? defer_ms : 0;
    if (defer) {
        c->retry |= DIRTY_PIPELINE;
        if (!c->retry_at_ms || c->retry_at_ms > defer_ms || c->retry == DIRTY_PIPELINE)
            c->retry_at_ms = defer_ms;
    }
    pthread_mutex_unlock(&c->mu);
    return defer;
}

/* The next number, and its signature verifies (the caller's check). */
static bool verified(coord_t *c, const coord_revision_t *p)
{
    int64_t next = (c->pipeline_version > 0 ? c->pipeline_version : 0) + 1;
    return c->pubsub_verify && p->number == next && c->pubsub_verify(c->cb_arg, p);
}

int coord_pubsub_process(coord_t *c, zhandle_t *zh, unsigned *flags)
{
    pthread_mutex_lock(&c->mu);
    coord_revision_t p = c->pending;
    size_t plen = c->pending_len;
    memset(&c->pending, 0, sizeof c->pending);
    int64_t junk = c->pubsub_errs_unlogged;
    c->pubsub_errs_unlogged = 0;
    char why[sizeof c->pubsub_err];
    snprintf(why, sizeof why, "%s", c->pubsub_err);
    pthread_mutex_unlock(&c->mu);
    if (junk)
        coord_log(c, COORD_LOG_WARN, "pub-sub: dropped %lld malformed message(s), last: %s",
                  (long long)junk, why);
    int rc = COORD_OK;
    if (p.number <= c->pipeline_version) {
        /* none, or ZooKeeper was first */
    } else if (verified(c, &p)) {
        /* signed by a trusted key: no read (DIRTY_PIPELINE, if set, still
         * re-arms the watch, which overrides a differing copy) */
        pthread_mutex_lock(&c->mu);
        c->ps_verified++;
        c->verified_version = p.number;
        c->verified_len = plen;
        c->pipeline_notified_us = 0; /* a watch that fired was for this one */
        pthread_mutex_unlock(&c->mu);
        p.signature_verified = true;
        coord_deliver_revision(c, &p, true);
    } else if (c->pubsub_trust) {
        /* unconfirmed: only the next number, so a forged far-future number
         * cannot shadow the revisions ZooKeeper will deliver */
        if (p.number == (c->pipeline_version > 0 ? c->pipeline_version : 0) + 1) {
            coord_deliver_revision(c, &p, true);
        } else {
            pthread_mutex_lock(&c->mu);
            c->ps_unconfirmed++;
            pthread_mutex_unlock(&c->mu);
        }
    } else {
        rc = coord_store_refresh_pipeline(c, zh, &p);
        if (rc == COORD_OK) *flags &= ~(unsigned)DIRTY_PIPELINE;
    }
    coord_revision_free(&p);
    return rc;
}
