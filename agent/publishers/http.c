/*
 * publishers/http.c: the http:// and https:// publishers — JSON batches POSTed with
 * libcurl.
 *
 * Body: a JSON array of the batch's samples (the objects of the file
 * publisher), Content-Type application/json. One CURL easy handle per
 * publisher, reused, so the connection is kept alive between batches; it runs
 * inside a one-handle multi stack only so that close() can interrupt a
 * transfer stuck on a silent receiver at once (curl_multi_wakeup) instead of
 * waiting for the total timeout.
 *
 * Options (removed from the URL; any other query parameters go to the
 * receiver unchanged): `timeout` total seconds per POST (default 10),
 * `connect_timeout` seconds (default 2). https verifies the peer certificate
 * and host name (libcurl's defaults, never turned off here). Redirects are not
 * followed: a POST body would not survive most of them.
 *
 * Outcome: 2xx → PUBLISH_OK; transport errors, 408, 429 and 5xx →
 * PUBLISH_RETRY (the wrapper backs off and retries); other statuses →
 * PUBLISH_FAIL (the receiver refuses this batch; retrying cannot help).
 *
 * libcurl is loaded on first use (curl_api.c): an agent without http(s)
 * publishers never maps it.
 */
#include "agent/publishers/common.h"
#include "agent/publisher.h"

#include "agent/curl_api.h"
#include "agent/plugin.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct http_pub {
    const curl_api *api;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    strbuf body;
    pub_ts_cache tc;
    atomic_bool cancelled;
    char curl_err[CURL_ERROR_SIZE];
} http_pub;

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* The receiver's URL from the parsed parts (the scheme's default port and
 * path filled in), without our own options: "a=1&timeout=5&b=2" → "a=1&b=2". */
static char *receiver_url(const pipeline_publisher *u, const char *const *ours)
{
    strbuf s;
    strbuf_init(&s);
    bool v6 = strchr(u->host, ':') != NULL;
    strbuf_printf(&s, "%s://%s%s%s:%d%s", u->scheme, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
                  u->path);
    bool first = true;
    const char *p = u->query;
    while (*p) {
        const char *end = strchr(p, '&');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t klen = (size_t)((eq ? eq : end) - p);
        bool mine = false;
        for (size_t i = 0; ours[i]; i++)
            mine |= strlen(ours[i]) == klen && memcmp(ours[i], p, klen) == 0;
        if (!mine && end > p) {
            strbuf_putc(&s, first ? '?' : '&');
            strbuf_append(&s, p, (size_t)(end - p));
            first = false;
        }
        p = *end ? end + 1 : end;
    }
    if (s.failed) {
        strbuf_free(&s);
        return NULL;
    }
    return s.buf;
}

static void http_close(void *self)
{
    http_pub *h = self;
    if (h->multi) h->api->multi_cleanup(h->multi);
    if (h->easy) h->api->easy_cleanup(h->easy);
    h->api->slist_free_all(h->headers);
    free(h->url);
    strbuf_free(&h->body);
    free(h);
}

/* The process state is the plugin's context: token_secret names a secret. */
static int http_process_init(const plugin_ctx *ctx, void **pstate, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    *pstate = (void *)ctx;
    return 0;
}

/* "Authorization: Bearer <secret>" for ?token_secret=NAME; 0 when absent. */
static int auth_header(const pipeline_publisher *u, const plugin_ctx *ctx, char *out, size_t cap,
                       char *err, size_t errlen)
{
    char name[128];
    pub_opt_str(u, "token_secret", name, sizeof name);
    out[0] = 0;
    if (!name[0]) return 0;
    const char *v = ctx ? plugin_secret(ctx, name) : NULL;
    if (!v) {
        snprintf(err, errlen, "token_secret: no secret named '%s' in secrets_file", name);
        return -1;
    }
    if ((size_t)snprintf(out, cap, "Authorization: Bearer %s", v) >= cap) {
        explicit_bzero(out, cap);
        snprintf(err, errlen, "token_secret: secret '%s' is too long", name);
        return -1;
    }
    return 0;
}

static int http_open(const pipeline_publisher *u, void *pstate, void **self, char *err,
                     size_t errlen)
{
    static const char *const ours[] = {"timeout", "connect_timeout", "token_secret", NULL};
    long timeout = pub_opt_long(u, "timeout"), connect_timeout = pub_opt_long(u, "connect_timeout");
    if (!u->host[0]) {
        snprintf(err, errlen, "expected %s://host[:port]/path", u->scheme);
        return -1;
    }
    const curl_api *api = curl_api_get(err, errlen);
    if (!api) return -1;
    http_pub *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->api = api;
    strbuf_init(&h->body);
    pub_ts_cache_init(&h->tc);
    atomic_init(&h->cancelled, false);
    h->url = receiver_url(u, ours);
    h->multi = h->api->multi_init();
    h->easy = h->api->easy_init();
    h->headers = h->api->slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *more = h->headers ? h->api->slist_append(h->headers, "Expect:") : NULL;
    char auth[1024];
    if (auth_header(u, pstate, auth, sizeof auth, err, errlen) != 0) {
        if (more) h->headers = more;
        http_close(h);
        return -1;
    }
    if (more && auth[0]) more = h->api->slist_append(more, auth);
    explicit_bzero(auth, sizeof auth);
    if (!h->url || !h->multi || !h->easy || !more) {
        snprintf(err, errlen, "cannot initialise a libcurl handle (out of memory?)");
        http_close(h);
        return -1;
    }
    h->headers = more;
    CURL *e = h->easy;
    CURLcode rc = CURLE_OK;
    rc |= h->api->easy_setopt(e, CURLOPT_URL, h->url);
    rc |= h->api->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= h->api->easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    rc |= h->api->easy_setopt(e, CURLOPT_POST, 1L);
    rc |= h->api->easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    rc |= h->api->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    rc |= h->api->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout * 1000);
    rc |= h->api->easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout * 1000);
    rc |= h->api->easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    rc |= h->api->easy_setopt(e, CURLOPT_USERAGENT, "meterd/0.1");
    rc |= h->api->easy_setopt(e, CURLOPT_ERRORBUFFER, h->curl_err);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl refused an option (URL or protocol not supported?)");
        http_close(h);
        return -1;
    }
    *self = h;
    return 0;
}

static int http_publish(void *self, const sample_batch *b, char *err, size_t errlen)
{
    http_pub *h = self;
    if (atomic_load(&h->cancelled)) {
        snprintf(err, errlen, "publisher closing");
        return PUBLISH_RETRY;
    }
    strbuf_reset(&h->body);
    strbuf_putc(&h->body, '[');
    for (size_t i = 0; i < b->n; i++) {
        if (i) strbuf_putc(&h->body, ',');
        pub_json_sample(&h->body, b, &b->v[i], &h->tc);
    }
    strbuf_putc(&h->body, ']');
    if (h->body.failed) {
        strbuf_free(&h->body);
        snprintf(err, errlen, "out of memory encoding %zu samples", b->n);
        return PUBLISH_RETRY;
    }
    h->api->easy_setopt(h->easy, CURLOPT_POSTFIELDS, h->body.buf);
    h->api->easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->body.len);
    h->curl_err[0] = 0;
    if (h->api->multi_add_handle(h->multi, h->easy) != CURLM_OK) {
        snprintf(err, errlen, "curl_multi_add_handle failed");
        return PUBLISH_RETRY;
    }
    CURLcode res = CURLE_OK;
    bool finished = false;
    for (;;) {
        int running = 0;
        CURLMcode mc = h->api->multi_perform(h->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = h->api->multi_info_read(h->multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                res = m->data.result;
                finished = true;
            }
        if (finished || mc != CURLM_OK || atomic_load(&h->cancelled)) break;
        h->api->multi_poll(h->multi, NULL, 0, 1000, NULL);
    }
    long status = 0;
    h->api->easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    h->api->multi_remove_handle(h->multi, h->easy);
    if (!finished) {
        snprintf(err, errlen, "POST interrupted (publisher closing)");
        return PUBLISH_RETRY;
    }
    if (res != CURLE_OK) {
        snprintf(err, errlen, "POST: %s",
                 h->curl_err[0] ? h->curl_err : h->api->easy_strerror(res));
        return PUBLISH_RETRY;
    }
    if (status >= 200 && status < 300) return PUBLISH_OK;
    snprintf(err, errlen, "POST: HTTP status %ld", status);
    return (status >= 500 || status == 408 || status == 429) ? PUBLISH_RETRY : PUBLISH_FAIL;
}

static void http_cancel(void *self)
{
    http_pub *h = self;
    atomic_store(&h->cancelled, true);
    h->api->multi_wakeup(h->multi);
}

const publisher_plugin pub_http_plugin = {
    .scheme = "http",
    .open = http_open,
    .publish = http_publish,
    .close = http_close,
    .cancel = http_cancel,
    .process_init = http_process_init,
};

const publisher_plugin pub_https_plugin = {
    .scheme = "https",
    .open = http_open,
    .publish = http_publish,
    .close = http_close,
    .cancel = http_cancel,
    .process_init = http_process_init,
};
