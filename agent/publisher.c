/*
 * publisher.c: the asynchronous wrapper every publisher runs inside, URL
 * parsing, the plugin table, and process-wide set-up.
 *
 * Each queued publisher owns a ring of batch references bounded by
 * queue_batches and one thread that publishes them in order. Producers
 * (worker threads) only take the mutex to push a pointer: a slow or dead
 * receiver never blocks polling. When the ring is full the OLDEST queued batch
 * is dropped and counted — fresh data is worth more to a monitoring system
 * than old data, and the bound keeps memory flat during an outage.
 *
 * PUBLISH_RETRY keeps the batch in hand and retries it with exponential
 * backoff (retry_initial_ms doubling up to retry_max_ms) while newer batches
 * keep queueing behind it; the backoff is a condition wait, so close() cuts it
 * short. PUBLISH_FAIL drops the batch (counted).
 *
 * close() drains: the thread keeps publishing (and retrying) until the queue
 * is empty or flush_timeout_ms passes; then whatever is left is dropped and a
 * publish() still blocked in the network is interrupted through the plugin's
 * cancel() hook, so close() is bounded even with a receiver that holds the
 * connection open.
 *
 * Plugin calls (publish, flush, reopen) on one publisher are serialised by
 * call_mu, so plugins need no locks of their own except inline ones
 * (prometheus), which are called from many worker threads and from render().
 */
#include "agent/publisher.h"
#include "agent/pub_common.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const publisher_plugin *const publisher_plugins[] = {
    &pub_prometheus_plugin,
    &pub_file_plugin,
    &pub_udp_plugin,
    &pub_statsd_plugin,
    &pub_http_plugin,
    &pub_https_plugin,
    NULL,
};

struct publisher {
    const publisher_plugin *plug;
    void *self;
    publisher_url u;
    char *ubuf;
    publisher_options opt;

    pthread_mutex_t mu;      /* queue, flags, stats */
    pthread_cond_t work_cv;  /* worker: new batch, close, abort */
    pthread_cond_t idle_cv;  /* flush/close waiters: queue drained, thread done */
    pthread_mutex_t call_mu; /* serialises calls into the plugin */

    sample_batch **q;
    size_t qcap, qhead, qlen;
    bool busy;    /* the thread holds a batch (publishing or backing off) */
    bool closing; /* close() started: drain, then exit */
    bool abort_;  /* drain deadline passed: drop everything, exit now */
    bool done;    /* the thread has exited its loop */
    bool has_thread;
    pthread_t thread;

    publisher_stats st;
};

/* ---- URL parsing ---- */

/*
 * The URL for messages: no "user:password@" and no query, which may carry
 * credentials or tokens (no secrets in logs).
 */
static const char *shown(const char *url, char *out, size_t cap)
{
    if (!url) return "(null)";
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    size_t head = (size_t)(auth - url);
    const char *tail = at ? at + 1 : auth;
    snprintf(out, cap, "%.*s%s%.*s%s", (int)head, url, at ? "***@" : "", (int)strcspn(tail, "?#"),
             tail, strpbrk(tail, "?#") ? "?..." : "");
    return out;
}

static char *put(char **w, char *end, const char *s, size_t n)
{
    if (*w + n + 1 > end) return NULL;
    char *r = *w;
    memcpy(r, s, n);
    r[n] = 0;
    *w += n + 1;
    return r;
}

int publisher_url_parse(const char *url, publisher_url *u, char *buf, size_t cap, char *err,
                        size_t errlen)
{
    memset(u, 0, sizeof *u);
    char *w = buf, *end = buf + cap, showbuf[256];
    const char *show = shown(url, showbuf, sizeof showbuf);
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep || sep == url) {
        snprintf(err, errlen, "publisher '%s': expected scheme://...", show);
        return -1;
    }
    for (const char *c = url; c < sep; c++) {
        if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.') {
            snprintf(err, errlen, "publisher '%s': invalid character in scheme", show);
            return -1;
        }
    }
    u->url = put(&w, end, url, strlen(url));
    char *scheme = put(&w, end, url, (size_t)(sep - url));
    if (!u->url || !scheme) goto toolong;
    for (char *c = scheme; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    u->scheme = scheme;

    const char *rest = sep + 3;
    const char *q = strchr(rest, '?');
    const char *restend = q ? q : rest + strlen(rest);
    u->query = put(&w, end, q ? q + 1 : "", q ? strlen(q + 1) : 0);
    if (!u->query) goto toolong;

    /* authority: up to the first '/' (file:///path has an empty one) */
    const char *slash = memchr(rest, '/', (size_t)(restend - rest));
    const char *aend = slash ? slash : restend;
    const char *at = NULL; /* userinfo stays in url (curl uses it), not in host */
    for (const char *c = rest; c < aend; c++)
        if (*c == '@') at = c;
    const char *hs = at ? at + 1 : rest, *he = aend, *portstr = NULL;
    if (hs < aend && *hs == '[') {
        const char *rb = memchr(hs, ']', (size_t)(aend - hs));
        if (!rb) {
            snprintf(err, errlen, "publisher '%s': unterminated [IPv6] address", show);
            return -1;
        }
        hs++;
        he = rb;
        if (rb + 1 < aend) {
            if (rb[1] != ':') {
                snprintf(err, errlen, "publisher '%s': expected :port after ]", show);
                return -1;
            }
            portstr = rb + 2;
        }
    } else {
        const char *colon = memchr(hs, ':', (size_t)(aend - hs));
        if (colon) {
            if (memchr(colon + 1, ':', (size_t)(aend - colon - 1))) {
                snprintf(err, errlen, "publisher '%s': IPv6 addresses need [brackets]", show);
                return -1;
            }
            he = colon;
            portstr = colon + 1;
        }
    }
    if (he > hs) {
        u->host = put(&w, end, hs, (size_t)(he - hs));
        if (!u->host) goto toolong;
    }
    if (portstr) {
        long port = 0;
        const char *c = portstr;
        for (; c < aend && isdigit((unsigned char)*c) && port <= 65535; c++)
            port = port * 10 + (*c - '0');
        if (c != aend || c == portstr || port < 1 || port > 65535) {
            snprintf(err, errlen, "publisher '%s': port must be a number in [1, 65535]", show);
            return -1;
        }
        u->port = (int)port;
    }
    u->path = put(&w, end, aend, (size_t)(restend - aend));
    if (!u->path) goto toolong;
    return 0;
toolong:
    snprintf(err, errlen, "publisher URL too long (%zu bytes)", url ? strlen(url) : 0);
    return -1;
}

/* ---- the worker thread ---- */

static void mono_deadline(struct timespec *ts, int64_t at_ms)
{
    ts->tv_sec = at_ms / 1000;
    ts->tv_nsec = (at_ms % 1000) * 1000000;
}

static void note_error(publisher *p, const char *msg)
{
    p->st.failures++;
    p->st.last_error_ms = loop_wall_ms();
    snprintf(p->st.last_error, sizeof p->st.last_error, "%s", msg);
}

static void note_drop(publisher *p, const sample_batch *b)
{
    p->st.dropped_batches++;
    p->st.dropped_samples += b->n;
}

static void note_ok(publisher *p, const sample_batch *b)
{
    p->st.batches++;
    p->st.samples += b->n;
    p->st.last_ok_ms = loop_wall_ms();
}

/* Called with mu held; returns with mu held. Publishes b until done with it. */
static void publish_one(publisher *p, sample_batch *b)
{
    int backoff = p->opt.retry_initial_ms;
    char err[256];
    for (;;) {
        pthread_mutex_unlock(&p->mu);
        err[0] = 0;
        pthread_mutex_lock(&p->call_mu);
        int rc = p->plug->publish(p->self, b, err, sizeof err);
        pthread_mutex_unlock(&p->call_mu);
        pthread_mutex_lock(&p->mu);
        if (rc == PUBLISH_OK) {
            note_ok(p, b);
            return;
        }
        note_error(p, err[0] ? err : "publish failed");
        if (rc != PUBLISH_RETRY || p->abort_) {
            note_drop(p, b);
            return;
        }
        int64_t until = loop_now_ms() + backoff;
        struct timespec ts;
        mono_deadline(&ts, until);
        while (!p->abort_ && loop_now_ms() < until)
            if (pthread_cond_timedwait(&p->work_cv, &p->mu, &ts) == ETIMEDOUT) break;
        if (p->abort_) {
            note_drop(p, b);
            return;
        }
        p->st.retries++;
        backoff = backoff > p->opt.retry_max_ms / 2 ? p->opt.retry_max_ms : backoff * 2;
    }
}

static void *worker(void *arg)
{
    publisher *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->qlen == 0 && !p->closing)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (p->qlen == 0 || p->abort_) break;
        sample_batch *b = p->q[p->qhead];
        p->qhead = (p->qhead + 1) % p->qcap;
        p->qlen--;
        p->busy = true;
        publish_one(p, b);
        p->busy = false;
        sample_batch_unref(b);
        pthread_cond_broadcast(&p->idle_cv);
    }
    while (p->qlen) {
        sample_batch *b = p->q[p->qhead];
        p->qhead = (p->qhead + 1) % p->qcap;
        p->qlen--;
        note_drop(p, b);
        sample_batch_unref(b);
    }
    p->done = true;
    pthread_cond_broadcast(&p->idle_cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- public API ---- */

static void free_publisher(publisher *p)
{
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->idle_cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->call_mu);
    free(p->q);
    free(p->ubuf);
    free(p);
}

publisher *publisher_open(const char *url, const publisher_options *opt, char *err, size_t errlen)
{
    char showbuf[256];
    publisher *p = calloc(1, sizeof *p);
    size_t cap = (url ? strlen(url) : 0) * 2 + 16;
    if (!p || !(p->ubuf = malloc(cap))) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work_cv, &ca);
    pthread_cond_init(&p->idle_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->call_mu, NULL);

    p->opt = opt ? *opt : (publisher_options){0};
    if (!p->opt.queue_batches) p->opt.queue_batches = 1024;
    if (p->opt.retry_initial_ms <= 0) p->opt.retry_initial_ms = 100;
    if (p->opt.retry_max_ms <= 0) p->opt.retry_max_ms = 30000;
    if (p->opt.retry_max_ms < p->opt.retry_initial_ms)
        p->opt.retry_max_ms = p->opt.retry_initial_ms;
    if (p->opt.flush_timeout_ms <= 0) p->opt.flush_timeout_ms = 5000;

    if (publisher_url_parse(url, &p->u, p->ubuf, cap, err, errlen) != 0) goto fail;
    for (size_t i = 0; publisher_plugins[i]; i++)
        if (strcmp(publisher_plugins[i]->scheme, p->u.scheme) == 0) p->plug = publisher_plugins[i];
    if (!p->plug) {
        snprintf(err, errlen,
                 "publisher '%s': unknown scheme '%s' (known: prometheus, file, udp, statsd, "
                 "http, https)",
                 shown(url, showbuf, sizeof showbuf), p->u.scheme);
        goto fail;
    }
    char perr[256] = "";
    if (p->plug->open(&p->u, &p->self, perr, sizeof perr) != 0) {
        snprintf(err, errlen, "publisher '%s': %s", shown(url, showbuf, sizeof showbuf),
                 perr[0] ? perr : "open failed");
        goto fail;
    }
    if (p->plug->inline_publish) return p;

    p->qcap = p->opt.queue_batches;
    p->q = calloc(p->qcap, sizeof *p->q);
    if (!p->q || pthread_create(&p->thread, NULL, worker, p) != 0) {
        snprintf(err, errlen, "publisher '%s': cannot start its thread",
                 shown(url, showbuf, sizeof showbuf));
        p->plug->close(p->self);
        goto fail;
    }
    p->has_thread = true;
    return p;
fail:
    free_publisher(p);
    return NULL;
}

void publisher_submit(publisher *p, sample_batch *b)
{
    if (p->plug->inline_publish) {
        char err[256] = "";
        int rc = p->plug->publish(p->self, b, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        if (rc == PUBLISH_OK) {
            note_ok(p, b);
        } else {
            note_error(p, err[0] ? err : "publish failed");
            note_drop(p, b);
        }
        pthread_mutex_unlock(&p->mu);
        return;
    }
    sample_batch *old = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->closing) {
        note_drop(p, b);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    if (p->qlen == p->qcap) {
        old = p->q[p->qhead];
        p->qhead = (p->qhead + 1) % p->qcap;
        p->qlen--;
        note_drop(p, old);
    }
    sample_batch_ref(b);
    p->q[(p->qhead + p->qlen) % p->qcap] = b;
    p->qlen++;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    sample_batch_unref(old); /* outside the lock: may free a big batch */
}

/* Waits (mu held) until the queue is idle or the monotonic deadline passes. */
static bool wait_idle(publisher *p, int64_t until)
{
    struct timespec ts;
    mono_deadline(&ts, until);
    while ((p->qlen || p->busy) && !p->done && loop_now_ms() < until)
        pthread_cond_timedwait(&p->idle_cv, &p->mu, &ts);
    return !p->qlen && !p->busy;
}

void publisher_flush(publisher *p, int timeout_ms)
{
    if (p->has_thread) {
        pthread_mutex_lock(&p->mu);
        wait_idle(p, loop_now_ms() + (timeout_ms > 0 ? timeout_ms : 0));
        pthread_mutex_unlock(&p->mu);
    }
    if (p->plug->flush) {
        pthread_mutex_lock(&p->call_mu);
        p->plug->flush(p->self);
        pthread_mutex_unlock(&p->call_mu);
    }
}

void publisher_reopen(publisher *p)
{
    if (!p->plug->reopen) return;
    pthread_mutex_lock(&p->call_mu);
    p->plug->reopen(p->self);
    pthread_mutex_unlock(&p->call_mu);
}

void publisher_render(publisher *p, strbuf *out)
{
    if (p->plug->render) p->plug->render(p->self, out);
}

void publisher_get_stats(publisher *p, publisher_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    out->queued = p->qlen;
    pthread_mutex_unlock(&p->mu);
}

const char *publisher_url_string(const publisher *p)
{
    return p->u.url;
}

void publisher_close(publisher *p)
{
    if (!p) return;
    if (p->has_thread) {
        pthread_mutex_lock(&p->mu);
        p->closing = true;
        pthread_cond_broadcast(&p->work_cv);
        int64_t until = loop_now_ms() + p->opt.flush_timeout_ms;
        struct timespec ts;
        mono_deadline(&ts, until);
        while (!p->done && loop_now_ms() < until)
            pthread_cond_timedwait(&p->idle_cv, &p->mu, &ts);
        bool cancel = !p->done;
        p->abort_ = true;
        pthread_cond_broadcast(&p->work_cv);
        pthread_mutex_unlock(&p->mu);
        /* not under call_mu: publish() holds it while blocked */
        if (cancel && p->plug->cancel) p->plug->cancel(p->self);
        pthread_join(p->thread, NULL);
    }
    if (p->plug->flush) p->plug->flush(p->self);
    p->plug->close(p->self);
    free_publisher(p);
}
