/*
 * pollsters/http_probe.c: the HTTP probe (http.*, central), the job of
 * Prometheus' blackbox_exporter http prober: per http:// or https://
 * resource, whether it answers as expected (http.up), its status, the time
 * of each phase, the length and the leaf certificate's expiry.
 *
 * Asynchronous (pollster.h): start() builds one libcurl easy handle and
 * hands it to the pollster's curl_engine (one multi handle on one thread,
 * made on first use so an agent that never probes never loads libcurl);
 * thousands of probes wait on a silent peer at once without a thread or a
 * worker each. Every probe is bounded by its `timeout`, and by the source's
 * interval (env->deadline_ms).
 *
 * A down or misbehaving endpoint is a measurement (http.up 0, with whatever
 * was measured), not a failed poll, as for tcp.connect. Only a target that
 * is not an http(s) URL, a refused one, or a missing libcurl fails the poll.
 *
 * The resource string is the target's id and the URL fetched as is; the
 * options are the source's `parameters:` (registry row http.probe).
 */
#include "agent/curl_api.h"
#include "agent/pollster.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BODY_MATCH_MAX (1024 * 1024) /* bytes of body kept for the regexes */

enum {
    M_UP,
    M_STATUS,
    M_DURATION,
    M_DNS,
    M_CONNECT,
    M_TLS,
    M_FIRST_BYTE,
    M_LENGTH,
    M_NOT_AFTER,
    M_DAYS_LEFT,
};

typedef struct http_cfg {
    bool head, insecure, reuse;
    long timeout_ms, redirects, ipresolve;
    long *status; /* valid statuses; none: any 2xx */
    size_t n_status;
    regex_t must, must_not;
    bool has_must, has_must_not;
    struct curl_slist *headers; /* built once: libcurl only reads it */
    char *ca_file;
    const curl_api *c;
} http_cfg;

typedef struct probe {
    poll_call *call;
    const http_cfg *cfg;
    CURL *easy;
    char *body;
    size_t body_len;
    bool keep_body;
} probe;

/* ---- parameters ---- */

static void http_unconfigure(void *config)
{
    http_cfg *g = config;
    if (!g) return;
    if (g->has_must) regfree(&g->must);
    if (g->has_must_not) regfree(&g->must_not);
    if (g->headers) g->c->slist_free_all(g->headers);
    free(g->status);
    free(g->ca_file);
    free(g);
}

static int compile(regex_t *re, bool *has, const pipeline_param *v, size_t n, const char *name,
                   char *err, size_t errlen)
{
    const pipeline_param *p = pipeline_param_find(v, n, name);
    if (!p) return 0;
    if (regcomp(re, p->items[0], REG_EXTENDED | REG_NOSUB) != 0) {
        snprintf(err, errlen, "%s: not a valid regular expression", name);
        return -1;
    }
    *has = true;
    return 0;
}

static int http_configure(const pipeline_param *v, size_t n, void **config, char *err,
                          size_t errlen)
{
    const registry_pollster *row = &registry_http_probe;
    /* a source that probes loads libcurl now, so a missing one is reported
     * once, with the source, rather than at every probe */
    const curl_api *c = curl_api_get(err, errlen);
    if (!c) return -1;
    http_cfg *g = calloc(1, sizeof *g);
    if (!g) goto oom;
    g->c = c;
    *config = g;
    g->head = strcmp(registry_param_str(row, v, n, "method"), "HEAD") == 0;
    g->timeout_ms = registry_param_ms(row, v, n, "timeout");
    g->redirects = strtol(registry_param_str(row, v, n, "follow_redirects"), NULL, 10);
    g->insecure = registry_option_true(registry_param_str(row, v, n, "insecure"));
    g->reuse = registry_option_true(registry_param_str(row, v, n, "reuse_connections"));
    const char *ip = registry_param_str(row, v, n, "ip_protocol");
    g->ipresolve = !strcmp(ip, "ip4")   ? CURL_IPRESOLVE_V4
                   : !strcmp(ip, "ip6") ? CURL_IPRESOLVE_V6
                                        : CURL_IPRESOLVE_WHATEVER;
    const char *ca = registry_param_str(row, v, n, "ca_file");
    if (*ca && !(g->ca_file = strdup(ca))) goto oom;
    const pipeline_param *st = pipeline_param_find(v, n, "valid_status_codes");
    if (st) {
        if (!(g->status = calloc(st->n_items ? st->n_items : 1, sizeof *g->status))) goto oom;
        for (; g->n_status < st->n_items; g->n_status++)
            g->status[g->n_status] = strtol(st->items[g->n_status], NULL, 10);
    }
    const pipeline_param *hp = pipeline_param_find(v, n, "headers");
    for (size_t i = 0; hp && i + 1 < hp->n_items; i += 2) {
        char line[8200];
        snprintf(line, sizeof line, "%s: %s", hp->items[i], hp->items[i + 1]);
        struct curl_slist *nl = c->slist_append(g->headers, line);
        if (!nl) goto oom;
        g->headers = nl;
    }
    if (compile(&g->must, &g->has_must, v, n, "body_must_match", err, errlen) != 0 ||
        compile(&g->must_not, &g->has_must_not, v, n, "body_must_not_match", err, errlen) != 0)
        goto fail;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    http_unconfigure(g);
    *config = NULL;
    return -1;
}

/* ---- one probe ---- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    probe *pr = arg;
    size_t len = size * n;
    if (pr->keep_body && pr->body_len < BODY_MATCH_MAX) {
        size_t take = len < BODY_MATCH_MAX - pr->body_len ? len : BODY_MATCH_MAX - pr->body_len;
        char *nb = realloc(pr->body, pr->body_len + take + 1);
        if (!nb) return 0; /* aborts the transfer: reported as a write error */
        memcpy(nb + pr->body_len, data, take);
        pr->body = nb;
        pr->body_len += take;
        pr->body[pr->body_len] = 0;
    }
    return len;
}

/* The leaf certificate's "Expire date" (OpenSSL's "Nov 29 22:00:00 2027 GMT"). */
static bool leaf_not_after(const curl_api *c, CURL *easy, double *out)
{
    struct curl_certinfo *ci = NULL;
    if (c->easy_getinfo(easy, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return false;
    for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
        if (strncasecmp(l->data, "Expire date:", 12) != 0) continue;
        struct tm tm = {0};
        const char *v = l->data + 12;
        while (*v == ' ')
            v++;
        if (!strptime(v, "%b %d %H:%M:%S %Y", &tm)) return false;
        *out = (double)timegm(&tm);
        return true;
    }
    return false;
}

static double secs(const curl_api *c, CURL *easy, CURLINFO what)
{
    curl_off_t us = 0;
    c->easy_getinfo(easy, what, &us);
    return (double)us / 1e6;
}

static bool status_ok(const http_cfg *g, long status)
{
    if (g->n_status == 0) return status >= 200 && status < 300;
    for (size_t i = 0; i < g->n_status; i++)
        if (g->status[i] == status) return true;
    return false;
}

static void add(sample_batch *b, const poll_env *env, const poll_target *t, int m, const char *unit,
                double v, bool *oom)
{
    if (env->want[m] && sample_batch_add(b, registry_http_probe.meters[m], SAMPLE_GAUGE, unit, v,
                                         t->resource, env->now_ms, NULL, 0) != 0)
        *oom = true;
}

static void probe_free(probe *pr)
{
    const curl_api *c = pr->cfg->c;
    if (pr->easy) c->easy_cleanup(pr->easy);
    free(pr->body);
    free(pr);
}

static void on_done(void *arg, CURL *easy, CURLcode rc)
{
    probe *pr = arg;
    const http_cfg *g = pr->cfg;
    const curl_api *c = g->c;
    poll_call *call = pr->call;
    const poll_env *env = poll_call_env(call);
    const poll_target *t = poll_call_target(call);
    sample_batch *b = poll_call_batch(call);
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        /* the agent is stopping (curl_engine_cancel): nothing was measured,
         * and a target is not down because we stopped looking at it */
        probe_free(pr);
        poll_call_done(call, -1, "cancelled: the agent is stopping");
        return;
    }
    long status = 0;
    c->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    const char *body = pr->body ? pr->body : "";
    bool up = rc == CURLE_OK && status_ok(g, status) &&
              !(g->has_must && regexec(&g->must, body, 0, NULL, 0) != 0) &&
              !(g->has_must_not && regexec(&g->must_not, body, 0, NULL, 0) == 0);

    bool oom = false;
    add(b, env, t, M_UP, "1", up, &oom);
    add(b, env, t, M_STATUS, "1", (double)status, &oom);
    if (status > 0) {
        double dns = secs(c, easy, CURLINFO_NAMELOOKUP_TIME_T),
               conn = secs(c, easy, CURLINFO_CONNECT_TIME_T),
               tls = secs(c, easy, CURLINFO_APPCONNECT_TIME_T),
               pre = secs(c, easy, CURLINFO_PRETRANSFER_TIME_T),
               first = secs(c, easy, CURLINFO_STARTTRANSFER_TIME_T);
        add(b, env, t, M_DURATION, "s", secs(c, easy, CURLINFO_TOTAL_TIME_T), &oom);
        add(b, env, t, M_DNS, "s", dns, &oom);
        add(b, env, t, M_CONNECT, "s", conn > dns ? conn - dns : 0, &oom);
        add(b, env, t, M_TLS, "s", tls > conn ? tls - conn : 0, &oom);
        add(b, env, t, M_FIRST_BYTE, "s", first > pre ? first - pre : 0, &oom);
        curl_off_t len = -1;
        c->easy_getinfo(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
        add(b, env, t, M_LENGTH, "B", (double)len, &oom);
        double not_after;
        if (leaf_not_after(c, easy, &not_after)) {
            add(b, env, t, M_NOT_AFTER, "s", not_after, &oom);
            add(b, env, t, M_DAYS_LEFT, "d", (not_after - (double)env->now_ms / 1000) / 86400,
                &oom);
        }
    }
    probe_free(pr);
    /* a down endpoint is a measurement (http.up 0), not a failed poll (as tcp.connect) */
    poll_call_done(call, oom ? -1 : 0, oom ? "out of memory" : NULL);
}

static bool http_url(const char *id)
{
    return !strncasecmp(id, "http://", 7) || !strncasecmp(id, "https://", 8);
}

static int http_init(const poll_target *t, void **state, char *err, size_t errlen)
{
    (void)state;
    if (http_url(t->id)) return 0;
    snprintf(err, errlen, "resource \"%.200s\": expected an http:// or https:// URL", t->id);
    return -1;
}

static void http_start(void *state, poll_call *call)
{
    (void)state;
    const poll_env *env = poll_call_env(call);
    const poll_target *t = poll_call_target(call);
    http_cfg *g = (http_cfg *)env->config;
    char err[256] = "";
    if (!http_url(t->id)) {
        snprintf(err, sizeof err, "resource \"%.200s\": expected an http:// or https:// URL",
                 t->id);
        poll_call_done(call, -1, err);
        return;
    }
    if (pollster_target_allowed(env, t->id, err, sizeof err) != 0) {
        poll_call_done(call, -1, err);
        return;
    }
    curl_engine *e = curl_engine_of(env->process_state, err, sizeof err);
    const curl_api *c = g->c;
    probe *pr = e ? calloc(1, sizeof *pr) : NULL;
    if (pr) {
        pr->call = call;
        pr->cfg = g;
        pr->keep_body = g->has_must || g->has_must_not;
        pr->easy = c->easy_init();
    }
    if (!pr || !pr->easy) {
        free(pr);
        poll_call_done(call, -1, err[0] ? err : "out of memory");
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t left = env->deadline_ms - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    long timeout = g->timeout_ms < left ? g->timeout_ms : (long)(left > 1 ? left : 1);
    CURL *h = pr->easy;
    c->easy_setopt(h, CURLOPT_URL, t->id);
    c->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    c->easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    c->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c->easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    c->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    c->easy_setopt(h, CURLOPT_NOBODY, g->head ? 1L : 0L);
    c->easy_setopt(h, CURLOPT_FOLLOWLOCATION, g->redirects > 0 ? 1L : 0L);
    c->easy_setopt(h, CURLOPT_MAXREDIRS, g->redirects);
    c->easy_setopt(h, CURLOPT_IPRESOLVE, g->ipresolve);
    c->easy_setopt(h, CURLOPT_CERTINFO, 1L);
    c->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, g->insecure ? 0L : 1L);
    c->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, g->insecure ? 0L : 2L);
    if (g->ca_file) c->easy_setopt(h, CURLOPT_CAINFO, g->ca_file);
    if (!g->reuse) {
        c->easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        c->easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    }
    if (g->headers) c->easy_setopt(h, CURLOPT_HTTPHEADER, g->headers);
    c->easy_setopt(h, CURLOPT_USERAGENT, "meterd-http-probe");
    c->easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* what libcurl can decode */
    c->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    c->easy_setopt(h, CURLOPT_WRITEDATA, pr);
    if (curl_engine_add(e, h, on_done, pr) != 0) {
        probe_free(pr);
        poll_call_done(call, -1, "the agent is stopping");
    }
}

const pollster_plugin pollster_http_probe = {
    .desc = &registry_http_probe,
    .init = http_init,
    .start = http_start,
    .configure = http_configure,
    .unconfigure = http_unconfigure,
    .process_init = curl_engine_process_init,
    .process_cancel = curl_engine_process_cancel,
    .process_shutdown = curl_engine_process_shutdown,
};
