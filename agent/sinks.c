/*
 * sinks.c: the running sinks and the publishers behind them.
 *
 * The set of sinks is an immutable, reference-counted snapshot. Workers take
 * a reference for the few microseconds it takes to queue a batch; a reload
 * builds a new snapshot and swaps one pointer, so publishers change
 * atomically with respect to every poll: a batch goes entirely to the old
 * sinks or entirely to the new ones.
 *
 * Publishers are shared by URL: two sinks naming `prometheus://` feed one
 * store (one /metrics), two naming the same file append through one fd. An
 * unchanged URL keeps its publisher object, queue and statistics across a
 * reload; a publisher no snapshot references any more is flushed and closed
 * on a short-lived thread, so a dead HTTP receiver never stalls the loop.
 */
#include "agent/core.h"

#include <stdlib.h>
#include <string.h>

typedef struct pub_entry {
    atomic_int refs; /* sinks (in any live snapshot) that use it */
    publisher *p;
    char *url;
    /* self-metrics: what was already reported (loop thread only) */
    uint64_t reported_samples, reported_dropped, reported_failures;
    metrics_metric *m_published, *m_dropped, *m_failures;
    /* /health (any HTTP thread): dropped batches at the last check, and when
     * a check last saw that count grow (wall ms) */
    atomic_uint_least64_t health_dropped;
    atomic_int_least64_t health_drop_seen_ms;
} pub_entry;

typedef struct sink_rt {
    char *name;
    unsigned char digest[32];
    pub_entry **pubs;
    size_t n_pubs;
} sink_rt;

typedef struct sinkset {
    atomic_int refs;
    sink_rt *v; /* sorted by name, as the pipeline sorts them */
    size_t n;
} sinkset;

struct sink_state {
    pthread_mutex_t mu; /* guards cur and closers */
    pthread_cond_t cv;
    sinkset *cur;
    int closers; /* publisher_close threads still running */
};

static void *closer_main(void *arg)
{
    void **pair = arg;
    sink_state *st = pair[0];
    pub_entry *e = pair[1];
    free(pair);
    publisher_close(e->p);
    free(e->url);
    free(e);
    pthread_mutex_lock(&st->mu);
    st->closers--;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static void pub_unref(sink_state *st, pub_entry *e)
{
    if (atomic_fetch_sub(&e->refs, 1) != 1) return;
    void **pair = malloc(2 * sizeof *pair);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pair) {
        pair[0] = st;
        pair[1] = e;
        pthread_mutex_lock(&st->mu);
        st->closers++;
        pthread_mutex_unlock(&st->mu);
        if (pthread_create(&th, &attr, closer_main, pair) == 0) {
            pthread_attr_destroy(&attr);
            return;
        }
        pthread_mutex_lock(&st->mu);
        st->closers--;
        pthread_mutex_unlock(&st->mu);
        free(pair);
    }
    pthread_attr_destroy(&attr);
    publisher_close(e->p); /* no thread: close inline rather than leak */
    free(e->url);
    free(e);
}

static void set_free(sink_state *st, sinkset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < s->v[i].n_pubs; k++)
            pub_unref(st, s->v[i].pubs[k]);
        free(s->v[i].pubs);
        free(s->v[i].name);
    }
    free(s->v);
    free(s);
}

static sinkset *set_acquire(sink_state *st)
{
    pthread_mutex_lock(&st->mu);
    sinkset *s = st->cur;
    if (s) atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&st->mu);
    return s;
}

static void set_release(sink_state *st, sinkset *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) set_free(st, s);
}

int sinks_init(agent_group *g)
{
    sink_state *st = calloc(1, sizeof *st);
    if (!st) return -1;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    g->sinks = st;
    return 0;
}

static pub_entry *find_pub(sinkset *s, const char *url)
{
    for (size_t i = 0; s && i < s->n; i++)
        for (size_t k = 0; k < s->v[i].n_pubs; k++)
            if (!strcmp(s->v[i].pubs[k]->url, url)) return s->v[i].pubs[k];
    return NULL;
}

static pub_entry *find_in_new(sinkset *s, size_t upto, const char *url)
{
    for (size_t i = 0; i < upto; i++)
        for (size_t k = 0; k < s->v[i].n_pubs; k++)
            if (!strcmp(s->v[i].pubs[k]->url, url)) return s->v[i].pubs[k];
    return NULL;
}

int sinks_apply(agent_group *g, const pipeline *p, char *err, size_t errlen)
{
    agent *a = g->a;
    sink_state *st = g->sinks;
    sinkset *old = set_acquire(st);
    sinkset *ns = calloc(1, sizeof *ns);
    if (!ns || !(ns->v = calloc(p->n_sinks ? p->n_sinks : 1, sizeof *ns->v))) {
        free(ns);
        set_release(st, old);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    atomic_init(&ns->refs, 1);
    int rc = 0;
    for (size_t i = 0; i < p->n_sinks && rc == 0; i++) {
        const pipeline_sink *ps = &p->sinks[i];
        sink_rt *sr = &ns->v[ns->n++];
        sr->name = strdup(ps->name);
        memcpy(sr->digest, ps->digest, sizeof sr->digest);
        sr->pubs = calloc(ps->n_publishers ? ps->n_publishers : 1, sizeof *sr->pubs);
        if (!sr->name || !sr->pubs) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        for (size_t k = 0; k < ps->n_publishers; k++) {
            const pipeline_publisher *pp = &ps->publishers[k];
            if (pp->foreign) {
                log_warn(&a->log, "sinks",
                         "sink %s: publisher %s is not one of meterd's; its "
                         "samples are dropped",
                         ps->name, pp->url);
                continue;
            }
            pub_entry *e = find_pub(ns, pp->url); /* shared with an earlier sink */
            if (!e) e = find_pub(old, pp->url);   /* unchanged URL: keep its publisher */
            if (e) {
                atomic_fetch_add(&e->refs, 1);
                sr->pubs[sr->n_pubs++] = e;
                continue;
            }
            char perr[256] = "";
            publisher *pb = publisher_open(pp, &a->pub_opt, perr, sizeof perr);
            if (!pb) {
                snprintf(err, errlen, "sink %s: publisher %s: %s", ps->name, pp->url, perr);
                rc = -1;
                break;
            }
            e = calloc(1, sizeof *e);
            if (!e || !(e->url = strdup(pp->url))) {
                free(e);
                publisher_close(pb);
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            atomic_init(&e->refs, 1);
            e->p = pb;
            sr->pubs[sr->n_pubs++] = e;
        }
    }
    if (rc != 0) {
        set_release(st, old);
        set_release(st, ns); /* closes only what this attempt opened */
        return -1;
    }
    pthread_mutex_lock(&st->mu);
    sinkset *prev = st->cur;
    st->cur = ns;
    pthread_mutex_unlock(&st->mu);
    set_release(st, old);
    set_release(st, prev);
    return 0;
}

static sink_rt *find_sink(sinkset *s, const char *name)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->v[mid].name, name);
        if (c == 0) return &s->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Whether p is reached before position (i, k) of the walk over names[]:
 * a publisher shared by several sinks of a source gets each sample once.
 * A scan rather than a set: no bound on the number of publishers, no
 * allocation on the publish path, and a source names a handful of sinks. */
static bool seen_before(sinkset *s, char *const *names, size_t i, const sink_rt *cur, size_t k,
                        const publisher *p)
{
    for (size_t j = 0; j < k; j++)
        if (cur->pubs[j]->p == p) return true;
    for (size_t n = 0; n < i; n++) {
        const sink_rt *sr = find_sink(s, names[n]);
        for (size_t j = 0; sr && j < sr->n_pubs; j++)
            if (sr->pubs[j]->p == p) return true;
    }
    return false;
}

void sinks_publish(agent_group *g, char *const *names, size_t n, sample_batch *b)
{
    sinkset *s = set_acquire(g->sinks);
    if (!s) return;
    for (size_t i = 0; i < n; i++) {
        sink_rt *sr = find_sink(s, names[i]);
        if (!sr) continue;
        for (size_t k = 0; k < sr->n_pubs; k++) {
            publisher *p = sr->pubs[k]->p;
            if (!seen_before(s, names, i, sr, k, p)) publisher_submit(p, b);
        }
    }
    set_release(g->sinks, s);
}

/* Calls fn once per distinct publisher of the current snapshot. */
static void each_publisher(agent_group *g, void (*fn)(pub_entry *, void *), void *arg)
{
    sinkset *s = set_acquire(g->sinks);
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->v[i].n_pubs; k++) {
            pub_entry *e = s->v[i].pubs[k];
            if (find_in_new(s, i, e->url)) continue;
            bool earlier = false;
            for (size_t j = 0; j < k; j++)
                earlier |= s->v[i].pubs[j] == e;
            if (!earlier) fn(e, arg);
        }
    set_release(g->sinks, s);
}

static void render_one(pub_entry *e, void *arg)
{
    publisher_render(e->p, arg);
}

void sinks_render(agent *a, strbuf *out)
{
    for (size_t i = 0; i < a->n_groups; i++)
        each_publisher(a->groups[i], render_one, out);
}

static void reopen_one(pub_entry *e, void *arg)
{
    (void)arg;
    publisher_reopen(e->p);
}

void sinks_reopen(agent *a)
{
    for (size_t i = 0; i < a->n_groups; i++)
        each_publisher(a->groups[i], reopen_one, NULL);
}

static void status_one(pub_entry *e, void *arg)
{
    publisher *p = e->p;
    strbuf *out = arg;
    publisher_stats ps;
    publisher_get_stats(p, &ps);
    if (out->len && out->buf[out->len - 1] == '}') strbuf_putc(out, ',');
    strbuf_puts(out, "{\"url\":");
    strbuf_put_json_string(out, publisher_url_string(p));
    strbuf_printf(out,
                  ",\"batches\":%llu,\"samples\":%llu,\"dropped_batches\":%llu,"
                  "\"dropped_samples\":%llu,\"failures\":%llu,\"retries\":%llu,\"queued\":%zu,"
                  "\"last_ok_ms\":%lld,\"last_error_ms\":%lld,\"last_error\":",
                  (unsigned long long)ps.batches, (unsigned long long)ps.samples,
                  (unsigned long long)ps.dropped_batches, (unsigned long long)ps.dropped_samples,
                  (unsigned long long)ps.failures, (unsigned long long)ps.retries, ps.queued,
                  (long long)ps.last_ok_ms, (long long)ps.last_error_ms);
    strbuf_put_json_string(out, ps.last_error);
    strbuf_putc(out, '}');
}

void sinks_status_json(agent_group *g, strbuf *out)
{
    sinkset *s = set_acquire(g->sinks);
    strbuf_puts(out, "{\"sinks\":[");
    for (size_t i = 0; s && i < s->n; i++) {
        strbuf_puts(out, i ? ",{\"name\":" : "{\"name\":");
        strbuf_put_json_string(out, s->v[i].name);
        strbuf_puts(out, ",\"publishers\":[");
        for (size_t k = 0; k < s->v[i].n_pubs; k++) {
            if (k) strbuf_putc(out, ',');
            strbuf_put_json_string(out, s->v[i].pubs[k]->url);
        }
        strbuf_puts(out, "]}");
    }
    set_release(g->sinks, s);
    strbuf_puts(out, "],\"publishers\":[");
    each_publisher(g, status_one, out);
    strbuf_puts(out, "]}");
}

void sinks_shutdown(agent_group *g)
{
    sink_state *st = g->sinks;
    if (!st) return;
    pthread_mutex_lock(&st->mu);
    sinkset *s = st->cur;
    st->cur = NULL;
    pthread_mutex_unlock(&st->mu);
    set_release(st, s);
    pthread_mutex_lock(&st->mu);
    while (st->closers)
        pthread_cond_wait(&st->cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
    g->sinks = NULL;
}

static void emit_one(pub_entry *e, void *arg)
{
    agent *a = arg;
    if (!e->m_published) {
        char scheme[32], name[96];
        const char *sep = strstr(e->url, "://");
        size_t n = sep ? (size_t)(sep - e->url) : strlen(e->url);
        snprintf(scheme, sizeof scheme, "%.*s", (int)(n < 31 ? n : 31), e->url);
        metrics_sanitize_name(scheme, name, sizeof name);
        char m[128], err[200];
        snprintf(m, sizeof m, "%s.published", name);
        e->m_published = metrics_counter_get(a->mx_publisher, m, err, sizeof err);
        snprintf(m, sizeof m, "%s.dropped", name);
        e->m_dropped = metrics_counter_get(a->mx_publisher, m, err, sizeof err);
        snprintf(m, sizeof m, "%s.failures", name);
        e->m_failures = metrics_counter_get(a->mx_publisher, m, err, sizeof err);
    }
    publisher_stats ps;
    publisher_get_stats(e->p, &ps);
    metrics_counter(e->m_published, (int64_t)(ps.samples - e->reported_samples));
    metrics_counter(e->m_dropped, (int64_t)(ps.dropped_samples - e->reported_dropped));
    metrics_counter(e->m_failures, (int64_t)(ps.failures - e->reported_failures));
    e->reported_samples = ps.samples;
    e->reported_dropped = ps.dropped_samples;
    e->reported_failures = ps.failures;
}

void sinks_emit_metrics(agent *a)
{
    for (size_t i = 0; i < a->n_groups; i++)
        if (a->groups[i]->sinks) each_publisher(a->groups[i], emit_one, a);
}

/* A drop seen by a check stays a reason this long, so every prober (a load
 * balancer, a kubelet, an operator) sees it, not only the first to ask. */
#define DROP_REASON_MS 60000

typedef struct health_ctx {
    agent_group *g;
    strbuf *out;
    int n;
    int64_t now;
} health_ctx;

static void health_reason(health_ctx *h, const pub_entry *e, const char *what, const char *detail)
{
    /* the query may carry a token: never shown */
    size_t n = strcspn(e->url, "?#");
    char msg[600];
    snprintf(msg, sizeof msg, "%s: publisher %.*s%s: %s%s", h->g->name, (int)(n < 200 ? n : 200),
             e->url, e->url[n] ? "?..." : "", what, detail);
    strbuf_puts(h->out, h->n++ ? "," : "");
    strbuf_put_json_string(h->out, msg);
}

static void health_one(pub_entry *e, void *arg)
{
    health_ctx *h = arg;
    publisher_stats ps;
    publisher_get_stats(e->p, &ps);
    /* failing: its latest attempt failed (retrying, or dropped the batch) */
    if (ps.last_error_ms && ps.last_error_ms >= ps.last_ok_ms) {
        char detail[300];
        snprintf(detail, sizeof detail, "%.256s", ps.last_error);
        health_reason(h, e, "failing: ", detail);
    }
    uint64_t before = atomic_exchange(&e->health_dropped, ps.dropped_batches);
    if (ps.dropped_batches > before) atomic_store(&e->health_drop_seen_ms, h->now);
    int64_t seen = atomic_load(&e->health_drop_seen_ms);
    if (seen && h->now - seen < DROP_REASON_MS) {
        char detail[64];
        snprintf(detail, sizeof detail, "%llu batches in all",
                 (unsigned long long)ps.dropped_batches);
        health_reason(h, e, "dropping batches (queue full or refused): ", detail);
    }
}

int sinks_health(agent_group *g, strbuf *out, int n)
{
    if (!g->sinks) return n;
    health_ctx h = {g, out, n, loop_wall_ms()};
    each_publisher(g, health_one, &h);
    return h.n;
}
