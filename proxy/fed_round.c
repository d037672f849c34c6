/*
 * fed_round.c: GET /metrics, one federation round shared by concurrent
 * clients.
 *
 * A round fetches every live member's /metrics at once (proxy_fetch_start)
 * and serves one federated page (federate.c). Requests that arrive while a
 * federation is in flight join it: 32 clients cost the agents one round, and
 * the page is built once and streamed to each client from the same bytes
 * (refcounted), so memory does not grow with the number of clients.
 */
#include "proxy/proxy.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct fed_member {
    char id[128];
    char url[300];
    proxy_fetch f;
} fed_member;

typedef struct fed_stream fed_stream;

struct proxy_fed_round {
    proxy_ctx *px;
    char scope[128]; /* "" every served group, else the group */
    pthread_mutex_t mu;
    /* under mu: one while in px->fed_rounds (or until finished when not
     * listed), one per stream, one while its starter adds the transfers */
    int refs;
    size_t n, pending;
    fed_member *m;
    bool ready;
    bool unlisted;       /* not in px->fed_rounds (all slots taken): not reused */
    int64_t finished_ms; /* monotonic, once ready */
    char *page;          /* the federated page once ready (NULL: out of memory) */
    size_t page_len;
    fed_stream *waiting; /* streams to wake when ready (intrusive list) */
};

struct fed_stream {
    proxy_fed_round *round;
    httpd_req *req;
    fed_stream *prev, *next; /* in round->waiting, under round->mu */
    bool listed;
    int refs;   /* the handler's and the stream's; under round->mu */
    char *self; /* the proxy's own metrics, rendered when asked */
    size_t self_len, off;
};

static void round_free(proxy_fed_round *rd)
{
    pthread_mutex_destroy(&rd->mu);
    free(rd->page);
    free(rd->m);
    free(rd);
}

/* Drops one reference (taken under mu by its holder). */
static void round_unref(proxy_fed_round *rd)
{
    pthread_mutex_lock(&rd->mu);
    bool last = --rd->refs == 0;
    pthread_mutex_unlock(&rd->mu);
    if (last) round_free(rd);
}

static void stream_release(fed_stream *st)
{
    proxy_fed_round *rd = st->round;
    pthread_mutex_lock(&rd->mu);
    bool last = --st->refs == 0;
    pthread_mutex_unlock(&rd->mu);
    if (!last) return;
    free(st->self);
    free(st);
    round_unref(rd);
}

static void unlist(proxy_fed_round *rd, fed_stream *st)
{
    if (!st->listed) return;
    if (st->prev)
        st->prev->next = st->next;
    else
        rd->waiting = st->next;
    if (st->next) st->next->prev = st->prev;
    st->listed = false;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every member answered (or failed): the page, then wake the streams. */
static void round_finish(proxy_fed_round *rd)
{
    proxy_fed_input *in = calloc(rd->n ? rd->n : 1, sizeof *in);
    for (size_t i = 0; in && i < rd->n; i++) {
        proxy_fetch *f = &rd->m[i].f;
        in[i].member = rd->m[i].id;
        in[i].text = f->body ? f->body : "";
        in[i].len = f->len;
        in[i].owned = f->body; /* freed as soon as it is taken: memory peaks lower */
        f->body = NULL;
        if (!f->error[0] && f->status != 200) /* the agent's why, e.g. no client certificate */
            snprintf(f->error, sizeof f->error, "HTTP status %ld%s%.200s", f->status,
                     f->len ? ": " : "", f->len ? in[i].text : "");
        in[i].error = f->error[0] ? f->error : NULL;
    }
    size_t len = 0;
    char *page = in ? proxy_federate(in, rd->n, &len) : NULL;
    free(in);
    for (size_t i = 0; i < rd->n; i++) {
        free(rd->m[i].f.body);
        rd->m[i].f.body = NULL;
    }
    pthread_mutex_lock(&rd->mu);
    rd->page = page;
    rd->page_len = len;
    rd->ready = true;
    rd->finished_ms = mono_ms();
    for (fed_stream *st = rd->waiting; st; st = st->next)
        httpd_stream_wake(st->req);
    bool unlisted = rd->unlisted;
    pthread_mutex_unlock(&rd->mu);
    if (unlisted) round_unref(rd); /* nobody else will ask for it */
}

static void member_done(proxy_fetch *f, void *arg)
{
    (void)f;
    proxy_fed_round *rd = arg;
    pthread_mutex_lock(&rd->mu);
    bool last = --rd->pending == 0;
    pthread_mutex_unlock(&rd->mu);
    if (last) round_finish(rd);
}

static ssize_t stream_fn(void *ctx, char *out, size_t max)
{
    fed_stream *st = ctx;
    proxy_fed_round *rd = st->round;
    pthread_mutex_lock(&rd->mu);
    bool ready = rd->ready;
    pthread_mutex_unlock(&rd->mu);
    if (!ready) return HTTPD_STREAM_WAIT;
    /* from here the page never changes */
    if (rd->page == NULL) return HTTPD_STREAM_ERROR; /* out of memory: cut, never wrong */
    size_t total = st->self_len + rd->page_len;
    if (st->off >= total) return HTTPD_STREAM_END;
    const char *src =
        st->off < st->self_len ? st->self + st->off : rd->page + (st->off - st->self_len);
    size_t left = st->off < st->self_len ? st->self_len - st->off : total - st->off;
    size_t n = left < max ? left : max;
    memcpy(out, src, n);
    st->off += n;
    return (ssize_t)n;
}

static void stream_free(void *ctx)
{
    fed_stream *st = ctx;
    proxy_fed_round *rd = st->round;
    pthread_mutex_lock(&rd->mu);
    unlist(rd, st);
    st->req = NULL;
    pthread_mutex_unlock(&rd->mu);
    stream_release(st);
}

/* A new round over the live members of scope (one reference: in flight). */
static proxy_fed_round *round_new(proxy_ctx *px, const char *scope)
{
    proxy_fed_round *rd = calloc(1, sizeof *rd);
    if (rd == NULL) return NULL;
    rd->px = px;
    snprintf(rd->scope, sizeof rd->scope, "%s", scope);
    pthread_mutex_init(&rd->mu, NULL);
    rd->refs = 1;
    size_t cap = 0;
    for (size_t i = 0; i < px->cache.n; i++) {
        proxy_group *g = &px->cache.groups[i];
        if (scope[0] && strcmp(scope, g->name) != 0) continue;
        pthread_mutex_lock(&g->mu);
        for (size_t k = 0; k < g->v.members.count; k++) {
            const coord_member_t *m = &g->v.members.members[k];
            char url[300];
            snprintf(url, sizeof url, "%s/metrics", m->info.api);
            bool dup = !m->info.api[0]; /* one agent in several groups: fetched once */
            for (size_t j = 0; j < rd->n && !dup; j++)
                dup = strcmp(rd->m[j].url, url) == 0;
            if (dup) continue;
            if (rd->n == cap) {
                cap = cap ? cap * 2 : 16;
                fed_member *nm = realloc(rd->m, cap * sizeof *nm);
                if (nm == NULL) break;
                rd->m = nm;
            }
            fed_member *fm = &rd->m[rd->n++];
            memset(fm, 0, sizeof *fm);
            snprintf(fm->id, sizeof fm->id, "%s", m->id);
            snprintf(fm->url, sizeof fm->url, "%s", url);
        }
        pthread_mutex_unlock(&g->mu);
    }
    rd->pending = rd->n;
    return rd;
}

/* Whether a listed round can serve one more client: in flight, or
 * finished less than metrics_reuse_ms ago. */
static bool joinable(proxy_ctx *px, proxy_fed_round *rd)
{
    pthread_mutex_lock(&rd->mu);
    bool ok = !rd->ready || mono_ms() - rd->finished_ms < px->cfg.metrics_reuse_ms;
    pthread_mutex_unlock(&rd->mu);
    return ok;
}

/* The round in flight (or fresh) for scope, or a new one (*start: the
 * caller starts it); with a reference for the caller's stream. NULL out of
 * memory. */
static proxy_fed_round *round_join(proxy_ctx *px, const char *scope, bool *start)
{
    pthread_mutex_lock(&px->fed_mu);
    proxy_fed_round *rd = NULL, *stale = NULL;
    size_t slot = PROXY_MAX_ROUNDS;
    for (size_t i = 0; i < PROXY_MAX_ROUNDS && rd == NULL; i++) {
        proxy_fed_round *cur = px->fed_rounds[i];
        if (cur && strcmp(cur->scope, scope) == 0) {
            if (joinable(px, cur)) {
                rd = cur;
            } else { /* finished and old: its slot is the new round's */
                stale = cur;
                px->fed_rounds[i] = NULL;
                slot = i;
            }
        } else if (!cur && slot == PROXY_MAX_ROUNDS) {
            slot = i;
        }
    }
    *start = false;
    if (rd == NULL && (rd = round_new(px, scope)) != NULL) {
        *start = true;
        if (slot < PROXY_MAX_ROUNDS)
            px->fed_rounds[slot] = rd;
        else
            rd->unlisted = true; /* every slot taken: served once, not shared */
    }
    if (rd) {
        pthread_mutex_lock(&rd->mu);
        rd->refs += *start ? 2 : 1; /* the stream's (and the starter's) */
        pthread_mutex_unlock(&rd->mu);
    }
    pthread_mutex_unlock(&px->fed_mu);
    if (stale) round_unref(stale); /* the list's reference */
    return rd;
}

void proxy_fanout_metrics(proxy_ctx *px, httpd_req *r)
{
    const char *group = httpd_query(r, "group");
    if (group && !proxy_cache_find(&px->cache, group, strlen(group))) {
        proxy_reply_error(px, r, 404, "group '%.128s' is not served here", group);
        return;
    }
    fed_stream *st = calloc(1, sizeof *st);
    bool start = false;
    proxy_fed_round *rd = st ? round_join(px, group ? group : "", &start) : NULL;
    if (rd == NULL) {
        free(st);
        proxy_reply_error(px, r, 500, "out of memory");
        return;
    }
    st->round = rd;
    st->req = r;
    st->refs = 2;
    st->self = proxy_self_metrics(px, &st->self_len);
    if (httpd_respond_stream(r, 200, "text/plain; version=0.0.4", stream_fn, st, stream_free) ==
        0) {
        pthread_mutex_lock(&rd->mu);
        if (st->req) { /* not gone yet: woken when the page is ready */
            st->next = rd->waiting;
            if (st->next) st->next->prev = st;
            st->prev = NULL;
            rd->waiting = st;
            st->listed = true;
            if (rd->ready) httpd_stream_wake(r); /* finished meanwhile */
        }
        pthread_mutex_unlock(&rd->mu);
    }
    stream_release(st); /* the handler's reference */
    if (!start) return;
    if (rd->n == 0)
        round_finish(rd);
    else
        for (size_t i = 0; i < rd->n; i++)
            proxy_fetch_start(px, &rd->m[i].f, rd->m[i].url, member_done, rd);
    round_unref(rd); /* the starter's */
}

void proxy_fed_close(proxy_ctx *px)
{
    for (size_t i = 0; i < PROXY_MAX_ROUNDS; i++) {
        if (px->fed_rounds[i]) round_unref(px->fed_rounds[i]); /* streams are gone */
        px->fed_rounds[i] = NULL;
    }
}
