/*
 * pollsters/scrape.c: the Prometheus scrape pollster (scrape.*, namespace
 * central). Each resource is an http(s)://host:port/path URL (the target's id
 * and partition key: the group splits targets like any shared resource).
 *
 * A scrape is three steps (scrape.h): fetch with libcurl (gzip accepted,
 * OpenMetrics preferred, the body limit applied to the decompressed bytes so
 * a gzip bomb stops at the limit), parse with expo/, emit every series as
 * `scrape.<name>` with its labels. Then `scrape.up`, `scrape.duration`
 * (seconds) and `scrape.samples` for the target. A failed target (refused,
 * HTTP error, body or series limit, malformed body) publishes none of its
 * series, only up = 0, and the poll reports the error: a half-read body
 * would make counters jump and series vanish at random.
 *
 * Asynchronous (pollster.h): start() hands the target's prepared easy handle
 * to the pollster's curl_engine (made on first use), bounded by the timeout
 * parameter and the poll's deadline; the engine's thread finishes, parses and
 * emits, then ends the call. scrape_fetch_sync() drives the same steps on the
 * calling thread (tests). Parameters: the source's `parameters:` (registry
 * row scrape: timeout, body_limit, series_limit).
 */
#include "agent/pollsters/scrape.h"

#include "agent/curl_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCEPT                                                                                     \
    "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

struct scrape_target {
    const curl_api *api;
    char *url;
    scrape_params params;
    CURL *easy;
    CURLM *multi; /* the synchronous driver's */
    struct curl_slist *headers;
    char *body;
    size_t len, cap;
    bool over; /* the body passed the limit: the transfer was stopped */
    char curl_err[CURL_ERROR_SIZE];
    expo_format fmt;
    poll_call *call;    /* the scrape in flight (one per task at a time) */
    int64_t started_ms; /* monotonic, for scrape.duration */
    /* emit's scratch, reused: "scrape." + name, and the label slots */
    char *name;
    size_t name_cap;
    /* the selection's answer for t->name: a page lists a family's series
     * together (one name, many label sets), so one ask per family, not per
     * series; reset at each scrape (the source's selection may change) */
    bool name_valid, name_wanted;
    sample_label *labels;
    size_t labels_cap;
};

void scrape_params_default(scrape_params *p)
{
    *p = (scrape_params){.timeout_ms = 10000, .body_limit = 16u << 20, .series_limit = 50000};
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    scrape_target *t = arg;
    size_t add = size * n;
    if (add > t->params.body_limit - t->len) {
        t->over = true;
        return 0; /* stops the transfer: CURLE_WRITE_ERROR */
    }
    if (t->len + add > t->cap) {
        size_t cap = t->cap ? t->cap : 64 << 10;
        while (cap < t->len + add)
            cap *= 2;
        char *b = realloc(t->body, cap);
        if (!b) return 0;
        t->body = b;
        t->cap = cap;
    }
    memcpy(t->body + t->len, data, add);
    t->len += add;
    return add;
}

int scrape_target_new(const char *url, const scrape_params *params, scrape_target **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(err, errlen, "resource \"%s\": expected http(s)://host:port/path", url);
        return -1;
    }
    const curl_api *api = curl_api_get(err, errlen);
    if (!api) return -1;
    scrape_target *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->api = api;
    t->params = *params;
    t->url = strdup(url);
    t->easy = api->easy_init();
    t->headers = api->slist_append(NULL, ACCEPT);
    if (!t->url || !t->easy || !t->headers) goto oom;
    CURL *e = t->easy;
    CURLcode rc = CURLE_OK;
    rc |= api->easy_setopt(e, CURLOPT_URL, t->url);
    rc |= api->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= api->easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    rc |= api->easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    rc |= api->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    rc |= api->easy_setopt(e, CURLOPT_WRITEDATA, t);
    rc |= api->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    rc |= api->easy_setopt(e, CURLOPT_USERAGENT, "meterd/0.1");
    rc |= api->easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "resource \"%s\": libcurl refused the URL or an option", url);
        scrape_target_free(t);
        return -1;
    }
    *out = t;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    scrape_target_free(t);
    return -1;
}

void scrape_target_free(scrape_target *t)
{
    if (!t) return;
    if (t->multi) t->api->multi_cleanup(t->multi);
    if (t->easy) t->api->easy_cleanup(t->easy);
    if (t->headers) t->api->slist_free_all(t->headers);
    free(t->url);
    free(t->body);
    free(t->name);
    free(t->labels);
    free(t);
}

void scrape_target_set_params(scrape_target *t, const scrape_params *params)
{
    t->params = *params;
}

CURL *scrape_fetch_prepare(scrape_target *t, long timeout_ms)
{
    t->len = 0;
    t->over = false;
    t->curl_err[0] = 0;
    long timeout = t->params.timeout_ms;
    if (timeout_ms > 0 && timeout_ms < timeout) timeout = timeout_ms;
    t->api->easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, timeout);
    t->api->easy_setopt(t->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->params.body_limit);
    return t->easy;
}

int scrape_fetch_finish(scrape_target *t, CURLcode res, char *err, size_t errlen)
{
    if (t->over || res == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "%s: body larger than the limit of %zu bytes (body_limit)", t->url,
                 t->params.body_limit);
        return -1;
    }
    if (res != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", t->url,
                 t->curl_err[0] ? t->curl_err : t->api->easy_strerror(res));
        return -1;
    }
    long status = 0;
    t->api->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        snprintf(err, errlen, "%s: HTTP status %ld (expected 200)", t->url, status);
        return -1;
    }
    const char *ctype = NULL;
    t->api->easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ctype);
    t->fmt = expo_format_of(ctype);
    return 0;
}

int scrape_fetch_sync(scrape_target *t, long timeout_ms, char *err, size_t errlen)
{
    if (!t->multi && !(t->multi = t->api->multi_init())) {
        snprintf(err, errlen, "%s: out of memory", t->url);
        return -1;
    }
    CURL *e = scrape_fetch_prepare(t, timeout_ms);
    if (t->api->multi_add_handle(t->multi, e) != CURLM_OK) {
        snprintf(err, errlen, "%s: curl_multi_add_handle failed", t->url);
        return -1;
    }
    CURLcode res = CURLE_OK;
    bool done = false;
    while (!done) {
        int running = 0, left = 0;
        CURLMcode mc = t->api->multi_perform(t->multi, &running);
        CURLMsg *m;
        while ((m = t->api->multi_info_read(t->multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                res = m->data.result;
                done = true;
            }
        if (mc != CURLM_OK) {
            res = CURLE_FAILED_INIT;
            break;
        }
        /* libcurl's own timeout (CURLOPT_TIMEOUT_MS) ends the transfer */
        if (!done) t->api->multi_poll(t->multi, NULL, 0, 1000, NULL);
    }
    t->api->multi_remove_handle(t->multi, e);
    return scrape_fetch_finish(t, res, err, errlen);
}

typedef struct emit_ctx {
    scrape_target *t;
    const poll_target *pt;
    int64_t now_ms;
    scrape_select_fn sel;
    void *sel_ctx;
    sample_batch *out;
    /* out's copies of what every sample of a family, or of the batch, shares
     * (copied once, not per sample): the meter name and unit of the family
     * in t->name, the resource, the target's labels */
    const char *name, *unit, *resource;
    sample_label *tl;
    size_t n_tl;
} emit_ctx;

/* Room for n labels in t->labels; 0 or -1. */
static int labels_room(scrape_target *t, size_t n)
{
    if (n <= t->labels_cap) return 0;
    sample_label *l = realloc(t->labels, n * sizeof *l);
    if (!l) return -1;
    t->labels = l;
    t->labels_cap = n;
    return 0;
}

static size_t n_target_labels(const poll_target *pt)
{
    return pt->labels ? pt->labels->n_items / 2 : 0;
}

/* Appends the target's labels tl[0..ntl) (target_labels, file_sd) after the
 * n already in t->labels, except a key the series has itself: the scraped
 * label is kept (what the target says of itself wins). Returns the new count. */
static size_t add_target_labels(scrape_target *t, const sample_label *tl, size_t ntl, size_t n)
{
    size_t have = n;
    for (size_t i = 0; i < ntl; i++) {
        bool dup = false;
        for (size_t j = 0; j < have && !dup; j++)
            dup = strcmp(t->labels[j].key, tl[i].key) == 0;
        if (!dup) t->labels[n++] = tl[i];
    }
    return n;
}

/* The target's labels as sample labels (strings borrowed from pt). */
static size_t target_labels(const poll_target *pt, sample_label *out)
{
    size_t n = 0;
    for (size_t i = 0; i + 1 < (pt->labels ? pt->labels->n_items : 0); i += 2)
        out[n++] = (sample_label){pt->labels->items[i], pt->labels->items[i + 1]};
    return n;
}

/* The strings every sample of the batch shares, copied into out once. */
static int emit_shared(emit_ctx *c)
{
    size_t n = n_target_labels(c->pt);
    c->resource = sample_batch_strdup(c->out, c->pt->resource);
    c->tl = n ? malloc(n * sizeof *c->tl) : NULL;
    if (!c->resource || (n && !c->tl)) return -1;
    c->n_tl = target_labels(c->pt, c->tl);
    for (size_t i = 0; i < c->n_tl; i++) {
        c->tl[i].key = sample_batch_strdup(c->out, c->tl[i].key);
        c->tl[i].value = sample_batch_strdup(c->out, c->tl[i].value);
        if (!c->tl[i].key || !c->tl[i].value) return -1;
    }
    return 0;
}

static int emit_one(void *arg, const expo_sample *s, char *msg, size_t msglen)
{
    emit_ctx *c = arg;
    scrape_target *t = c->t;
    if (!t->name_valid || strcmp(t->name + 7, s->name) != 0) {
        size_t len = strlen(s->name), n = len + 8;
        if (n > t->name_cap) {
            char *b = realloc(t->name, n);
            if (!b) goto oom;
            t->name = b;
            t->name_cap = n;
        }
        memcpy(t->name, "scrape.", 7);
        memcpy(t->name + 7, s->name, len + 1);
        t->name_wanted = !c->sel || c->sel(c->sel_ctx, t->name);
        t->name_valid = true;
        c->name = NULL; /* copied into out when a series of it is kept */
    }
    if (!t->name_wanted) return 0;
    if (!c->name) {
        c->name = sample_batch_strdup(c->out, t->name);
        c->unit = sample_batch_strdup(c->out, s->unit ? s->unit : "");
        if (!c->name || !c->unit) goto oom;
    }
    if (labels_room(t, s->n_labels + 1 + c->n_tl) != 0) goto oom;
    t->labels[0] = (sample_label){"__name__", c->name + 7};
    for (size_t i = 0; i < s->n_labels; i++) {
        t->labels[i + 1].key = sample_batch_strdup(c->out, s->labels[i].name);
        t->labels[i + 1].value = sample_batch_strdup(c->out, s->labels[i].value);
        if (!t->labels[i + 1].key || !t->labels[i + 1].value) goto oom;
    }
    size_t nl = add_target_labels(t, c->tl, c->n_tl, s->n_labels + 1);
    sample out = {.name = c->name,
                  .type = s->cumulative ? SAMPLE_CUMULATIVE : SAMPLE_GAUGE,
                  .unit = c->unit,
                  .value = s->value,
                  .resource = c->resource,
                  .time_ms = s->has_time ? s->time_ms : c->now_ms,
                  .labels = t->labels,
                  .n_labels = nl};
    if (sample_batch_push(c->out, &out) != 0) goto oom;
    return 0;
oom:
    snprintf(msg, msglen, "out of memory");
    return -1;
}

int scrape_emit(scrape_target *t, const poll_target *pt, int64_t now_ms, scrape_select_fn sel,
                void *sel_ctx, sample_batch *out, size_t *series, char *err, size_t errlen)
{
    emit_ctx c = {t, pt, now_ms, sel, sel_ctx, out, NULL, NULL, NULL, NULL, 0};
    expo_limits lim = {.max_bytes = t->params.body_limit, .max_series = t->params.series_limit};
    expo_stats st = {0};
    size_t n0 = out->n;
    char why[512];
    t->name_valid = false;
    int rc = emit_shared(&c);
    if (rc != 0)
        snprintf(why, sizeof why, "1: out of memory");
    else
        rc = expo_parse(t->body, t->len, t->fmt, &lim, emit_one, &c, &st, why, sizeof why);
    free(c.tl);
    *series = st.samples;
    /* the body is not kept between scrapes: 100 targets' pages would stay
     * resident for nothing (the next scrape allocates again) */
    free(t->body);
    t->body = NULL;
    t->len = t->cap = 0;
    if (rc != 0) {
        out->n = n0; /* nothing half-published (the arena keeps the bytes until the batch goes) */
        snprintf(err, errlen, "%s: %s body, line %s", t->url,
                 t->fmt == EXPO_OPENMETRICS ? "OpenMetrics" : "text", why);
        return -1;
    }
    return 0;
}

/* ---- the pollster row (asynchronous contract) ---- */

/* The source's parameters (registry row scrape), checked at validation. */
static int scrape_configure(const pipeline_param *v, size_t n, void **config, char *err,
                            size_t errlen)
{
    const registry_pollster *row = &registry_scrape;
    /* a source that scrapes loads libcurl now: a missing one is reported once */
    if (!curl_api_get(err, errlen)) return -1;
    scrape_params *p = malloc(sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    scrape_params_default(p);
    p->timeout_ms = registry_param_ms(row, v, n, "timeout");
    p->body_limit = (size_t)strtoull(registry_param_str(row, v, n, "body_limit"), NULL, 10);
    p->series_limit = (size_t)strtoull(registry_param_str(row, v, n, "series_limit"), NULL, 10);
    *config = p;
    return 0;
}

static void scrape_unconfigure(void *config)
{
    free(config);
}

static int scrape_init(const poll_target *pt, void **state, char *err, size_t errlen)
{
    scrape_params p;
    scrape_params_default(&p);
    return scrape_target_new(pt->id, &p, (scrape_target **)state, err, errlen);
}

static void scrape_destroy(void *state)
{
    scrape_target_free(state);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool wants(void *ctx, const char *meter)
{
    return poll_wants(ctx, meter);
}

/* The per-target meters, then the call's end: rc and err as the scrape ended. */
static void finish(scrape_target *t, poll_call *call, int rc, size_t series, const char *err)
{
    const poll_env *env = poll_call_env(call);
    const poll_target *pt = poll_call_target(call);
    sample_batch *out = poll_call_batch(call);
    const char *const *m = registry_scrape.meters;
    double took = (double)(mono_ms() - t->started_ms) / 1000.0;
    bool room = labels_room(t, n_target_labels(pt) + 1) == 0;
    size_t nl = room ? target_labels(pt, t->labels) : 0;
    if (!room ||
        (env->want[0] && sample_batch_add(out, m[0], SAMPLE_GAUGE, "1", rc == 0, pt->resource,
                                          env->now_ms, t->labels, nl) != 0) ||
        (env->want[1] && sample_batch_add(out, m[1], SAMPLE_GAUGE, "s", took, pt->resource,
                                          env->now_ms, t->labels, nl) != 0) ||
        (env->want[2] &&
         sample_batch_add(out, m[2], SAMPLE_GAUGE, "1", rc == 0 ? (double)series : 0, pt->resource,
                          env->now_ms, t->labels, nl) != 0)) {
        rc = -1;
        err = "out of memory";
    }
    t->call = NULL;
    poll_call_done(call, rc, rc == 0 ? NULL : err);
}

/* On the engine's thread: parse and emit, then end the call. */
static void on_done(void *arg, CURL *easy, CURLcode res)
{
    (void)easy;
    scrape_target *t = arg;
    poll_call *call = t->call;
    const poll_env *env = poll_call_env(call);
    char err[768];
    size_t series = 0;
    int rc = scrape_fetch_finish(t, res, err, sizeof err);
    if (rc == 0)
        rc = scrape_emit(t, poll_call_target(call), env->now_ms, wants, (void *)env,
                         poll_call_batch(call), &series, err, sizeof err);
    finish(t, call, rc, series, err);
}

static void scrape_start(void *state, poll_call *call)
{
    scrape_target *t = state;
    const poll_env *env = poll_call_env(call);
    const poll_target *pt = poll_call_target(call);
    char err[256] = "";
    if (!t) {
        snprintf(err, sizeof err, "%s: no scrape state (init failed)", pt->id);
        poll_call_done(call, -1, err);
        return;
    }
    if (pollster_target_allowed(env, pt->id, err, sizeof err) != 0) {
        poll_call_done(call, -1, err);
        return;
    }
    curl_engine *e = curl_engine_of(env->process_state, err, sizeof err);
    if (!e) {
        poll_call_done(call, -1, err[0] ? err : "out of memory");
        return;
    }
    if (env->config) scrape_target_set_params(t, env->config);
    t->call = call;
    t->started_ms = mono_ms();
    int64_t left = env->deadline_ms - t->started_ms;
    CURL *easy = scrape_fetch_prepare(t, left > 1 ? (long)left : 1);
    if (curl_engine_add(e, easy, on_done, t) != 0) {
        t->call = NULL;
        poll_call_done(call, -1, "the agent is stopping");
    }
}

const pollster_plugin pollster_scrape = {
    .desc = &registry_scrape,
    .init = scrape_init,
    .start = scrape_start,
    .destroy = scrape_destroy,
    .configure = scrape_configure,
    .unconfigure = scrape_unconfigure,
    .process_init = curl_engine_process_init,
    .process_cancel = curl_engine_process_cancel,
    .process_shutdown = curl_engine_process_shutdown,
};
