/*
 * publisher.c: the asynchronous wrapper every publisher runs inside and the
 * plugin table. URLs are parsed once, by pipeline/ with the registry's
 * scheme rows; plugins open from that parsed form.
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
#include "agent/publishers/common.h"
#include "registry/registry.h"

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
    pipeline_publisher u; /* a deep copy: the pipeline it came from may be freed */
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

/*
 * The URL for messages: no query, which may carry tokens (no secrets in
 * logs). Credentials never get this far: pipeline/ refuses them.
 */
static const char *shown(const char *url, char *out, size_t cap)
{
    if (!url) return "(null)";
    size_t n = strcspn(url, "?#");
    snprintf(out, cap, "%.*s%s", (int)n, url, url[n] ? "?..." : "");
    return out;
}

static int copy_publisher(pipeline_publisher *dst, const pipeline_publisher *src)
{
    *dst = *src;
    dst->url = strdup(src->url);
    dst->scheme = strdup(src->scheme);
    dst->host = strdup(src->host);
    dst->path = strdup(src->path);
    dst->query = strdup(src->query);
    if (dst->url && dst->scheme && dst->host && dst->path && dst->query) return 0;
    pipeline_publisher_clear(dst);
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
    pipeline_publisher_clear(&p->u);
    free(p);
}

publisher *publisher_open(const pipeline_publisher *pp, const publisher_options *opt, char *err,
                          size_t errlen)
{
    char showbuf[256];
    const char *url = pp->url;
    publisher *p = calloc(1, sizeof *p);
    if (!p || copy_publisher(&p->u, pp) != 0) {
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

    void *pstate = NULL;
    for (size_t i = 0; !pp->foreign && publisher_plugins[i]; i++) {
        if (strcmp(publisher_plugins[i]->scheme, p->u.scheme) != 0) continue;
        p->plug = publisher_plugins[i];
        pstate = p->opt.process_states ? p->opt.process_states[i] : NULL;
    }
    if (!p->plug) {
        snprintf(err, errlen, "publisher '%s': scheme '%s' is not one of meterd's",
                 shown(url, showbuf, sizeof showbuf), p->u.scheme);
        goto fail;
    }
    char perr[256] = "";
    /* the parse checked the query already; a caller with other scheme rules
     * must not hand a plugin values outside its row's bounds */
    if (registry_query_check(registry_publisher_find(p->u.scheme), p->u.query, perr, sizeof perr) !=
            0 ||
        p->plug->open(&p->u, pstate, &p->self, perr, sizeof perr) != 0) {
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

publisher *publisher_open_url(const char *url, const publisher_options *opt, char *err,
                              size_t errlen)
{
    registry_options ro;
    registry_pipeline_options(&ro, NULL, 0);
    pipeline_publisher pp;
    pipeline_diags d = {0};
    if (pipeline_publisher_parse(url, &ro.opt, &pp, &d) != 0) {
        const char *msg = "invalid publisher URL";
        for (size_t i = d.count; i-- > 0;)
            if (d.items[i].severity == PIPELINE_ERROR) msg = d.items[i].message;
        snprintf(err, errlen, "%s", msg);
        pipeline_diags_free(&d);
        return NULL;
    }
    pipeline_diags_free(&d);
    publisher *p = publisher_open(&pp, opt, err, errlen);
    pipeline_publisher_clear(&pp);
    return p;
}
