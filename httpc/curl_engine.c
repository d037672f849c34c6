/*
 * curl_engine.c: see curl_api.h. Adds queue under a mutex; the engine's
 * thread moves them into the multi handle, drives it, and calls back. Every
 * transfer is on one doubly linked list from add to done, so a cancel can
 * end each exactly once whether it is queued or running.
 */
#include "httpc/httpc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct xfer {
    struct xfer *prev, *next;
    CURL *easy;
    curl_engine_done_fn done;
    void *arg;
    bool in_multi; /* engine thread only */
} xfer;

struct curl_engine {
    const curl_api *c;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when a cancel has ended everything */
    xfer *pending;       /* added, not yet in the multi (under mu) */
    xfer *running;       /* in the multi (engine thread; count under mu) */
    size_t active;       /* pending + running, under mu */
    bool cancel, stop;   /* under mu */
    bool cancelled;      /* the engine thread finished a cancel (under mu) */
};

static void unlink_x(xfer **head, xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        *head = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

static void push_x(xfer **head, xfer *x)
{
    x->prev = NULL;
    x->next = *head;
    if (*head) (*head)->prev = x;
    *head = x;
}

static void finish(curl_engine *e, xfer *x, CURLcode rc)
{
    if (x->in_multi) e->c->multi_remove_handle(e->multi, x->easy);
    x->done(x->arg, x->easy, rc);
    free(x);
    pthread_mutex_lock(&e->mu);
    e->active--;
    pthread_mutex_unlock(&e->mu);
}

static void *engine_main(void *arg)
{
    curl_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        xfer *add = e->pending;
        e->pending = NULL;
        bool cancel = e->cancel, stop = e->stop;
        pthread_mutex_unlock(&e->mu);
        while (add) {
            xfer *x = add;
            add = x->next;
            push_x(&e->running, x);
            if (!cancel && e->c->multi_add_handle(e->multi, x->easy) == CURLM_OK) {
                x->in_multi = true;
            } else {
                unlink_x(&e->running, x);
                finish(e, x, cancel ? CURLE_ABORTED_BY_CALLBACK : CURLE_OUT_OF_MEMORY);
            }
        }
        if (cancel) {
            while (e->running) {
                xfer *x = e->running;
                unlink_x(&e->running, x);
                finish(e, x, CURLE_ABORTED_BY_CALLBACK);
            }
            pthread_mutex_lock(&e->mu);
            e->cancelled = true;
            pthread_cond_broadcast(&e->idle);
            bool more = e->pending != NULL;
            pthread_mutex_unlock(&e->mu);
            if (stop && !more) break;
            if (!more) {
                /* refuse and wait: nothing is added after a cancel */
                pthread_mutex_lock(&e->mu);
                while (!e->stop && !e->pending)
                    pthread_cond_wait(&e->idle, &e->mu);
                pthread_mutex_unlock(&e->mu);
            }
            continue;
        }
        int n = 0;
        e->c->multi_perform(e->multi, &n);
        CURLMsg *m;
        int left;
        while ((m = e->c->multi_info_read(e->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            xfer *x = NULL;
            e->c->easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            if (!x) continue;
            CURLcode rc = m->data.result;
            unlink_x(&e->running, x);
            finish(e, x, rc);
        }
        /* bounded wait: libcurl's own timers are folded in by multi_poll */
        e->c->multi_poll(e->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

curl_engine *curl_engine_new(char *err, size_t errlen)
{
    const curl_api *c = curl_api_get(err, errlen);
    if (!c) return NULL;
    curl_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->c = c;
    e->multi = c->multi_init();
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->idle, NULL);
    if (!e->multi || pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        snprintf(err, errlen, "cannot start the libcurl engine");
        if (e->multi) c->multi_cleanup(e->multi);
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->idle);
        free(e);
        return NULL;
    }
    return e;
}

int curl_engine_add(curl_engine *e, CURL *easy, curl_engine_done_fn done, void *arg)
{
    xfer *x = calloc(1, sizeof *x);
    if (!x) return -1;
    x->easy = easy;
    x->done = done;
    x->arg = arg;
    e->c->easy_setopt(easy, CURLOPT_PRIVATE, (void *)x);
    pthread_mutex_lock(&e->mu);
    if (e->cancel) {
        pthread_mutex_unlock(&e->mu);
        free(x);
        return -1;
    }
    push_x(&e->pending, x);
    e->active++;
    pthread_mutex_unlock(&e->mu);
    e->c->multi_wakeup(e->multi);
    return 0;
}

void curl_engine_cancel(curl_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->cancel = true; /* once set, never cleared: a second cancel waits for nothing new */
    pthread_mutex_unlock(&e->mu);
    e->c->multi_wakeup(e->multi);
    pthread_mutex_lock(&e->mu);
    while (!e->cancelled || e->active)
        pthread_cond_wait(&e->idle, &e->mu);
    pthread_mutex_unlock(&e->mu);
}

size_t curl_engine_active(curl_engine *e)
{
    pthread_mutex_lock(&e->mu);
    size_t n = e->active;
    pthread_mutex_unlock(&e->mu);
    return n;
}

void curl_engine_free(curl_engine *e)
{
    if (!e) return;
    curl_engine_cancel(e);
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->idle);
    pthread_mutex_unlock(&e->mu);
    e->c->multi_wakeup(e->multi);
    pthread_join(e->thread, NULL);
    e->c->multi_cleanup(e->multi);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->idle);
    free(e);
}

/* ---- the lazy, per-process engine of a pollster ---- */

typedef struct engine_holder {
    pthread_mutex_t mu;
    curl_engine *engine; /* made by the first poll */
    bool cancelled;      /* once set, no engine is made any more */
} engine_holder;

int curl_engine_process_init(const struct plugin_ctx *ctx, void **pstate, char *err, size_t errlen)
{
    (void)ctx;
    engine_holder *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&h->mu, NULL);
    *pstate = h;
    return 0;
}

curl_engine *curl_engine_of(void *pstate, char *err, size_t errlen)
{
    engine_holder *h = pstate;
    pthread_mutex_lock(&h->mu);
    if (!h->engine && !h->cancelled) h->engine = curl_engine_new(err, errlen);
    if (h->cancelled) snprintf(err, errlen, "the agent is stopping");
    curl_engine *e = h->cancelled ? NULL : h->engine;
    pthread_mutex_unlock(&h->mu);
    return e;
}

void curl_engine_process_cancel(void *pstate)
{
    engine_holder *h = pstate;
    pthread_mutex_lock(&h->mu);
    h->cancelled = true;
    curl_engine *e = h->engine;
    pthread_mutex_unlock(&h->mu);
    if (e) curl_engine_cancel(e);
}

void curl_engine_process_shutdown(void *pstate)
{
    engine_holder *h = pstate;
    if (!h) return;
    curl_engine_free(h->engine);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
