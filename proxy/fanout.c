/*
 * fanout.c: requests the proxy passes on to agents.
 *
 * Transfers run on one httpc engine (libcurl's multi handle on one thread,
 * the agent's pollsters' engine): the handler defers its request, adds a
 * transfer and returns; the transfer's end answers. So no HTTP thread ever
 * waits on an agent, and each transfer is bounded by agent_timeout_ms
 * (connect included): a dead agent costs a timeout, never a hang.
 *
 * GET /v1/targets?target=T goes to the member that owns T now (the cached
 * slot table, group_clock_owner_at: meterctl whohas's answer), which
 * answers its own /v1/targets?target=T.
 *
 * GET /metrics is one federation round over these transfers (fed_round.c).
 */
#include "proxy/proxy.h"
#include "group/group.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AGENT_MAX_BYTES (64u << 20) /* one agent's answer, at most */

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    proxy_fetch *f = arg;
    size_t len = size * n;
    if (f->len + len > AGENT_MAX_BYTES) {
        f->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (f->len + len + 1 > f->cap) {
        size_t cap = f->cap ? f->cap : 16384;
        while (cap < f->len + len + 1)
            cap *= 2;
        char *nb = realloc(f->body, cap);
        if (nb == NULL) return 0;
        f->body = nb;
        f->cap = cap;
    }
    memcpy(f->body + f->len, p, len);
    f->len += len;
    f->body[f->len] = 0;
    return len;
}

static void fetch_lists_free(proxy_fetch *f)
{
    f->px->curl->slist_free_all(f->headers);
    f->px->curl->slist_free_all(f->connect_to);
    f->headers = f->connect_to = NULL;
}

static void on_transfer(void *arg, CURL *easy, CURLcode res)
{
    proxy_fetch *f = arg;
    const curl_api *c = f->px->curl;
    if (res == CURLE_OK) {
        c->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
    } else if (f->too_big) {
        snprintf(f->error, sizeof f->error, "answer larger than %u bytes", AGENT_MAX_BYTES);
    } else if (f->detail[0]) {
        snprintf(f->error, sizeof f->error, "%s: %s", c->easy_strerror(res), f->detail);
    } else {
        snprintf(f->error, sizeof f->error, "%s", c->easy_strerror(res));
    }
    c->easy_cleanup(easy);
    fetch_lists_free(f);
    f->done(f, f->arg);
}

/*
 * [agents] tls_name: every agent's certificate bears one shared name (the
 * group CA's meterd-pubsub), not the host it advertises. libcurl checks the
 * URL's host, as curl does; so the URL names tls_name and CURLOPT_CONNECT_TO
 * sends the connection to the advertised host and port ("::HOST:PORT": any
 * request's host and port). No resolver entry is faked and SNI, the Host
 * header and the check all say the same name. 0, or -1 when url is not
 * https://HOST:PORT/... (then it is used as it is).
 */
static int url_for_name(const char *url, const char *name, char *out, size_t cap, char *connect_to,
                        size_t ccap)
{
    static const char scheme[] = "https://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) return -1;
    const char *host = url + sizeof scheme - 1;
    const char *end = host + strcspn(host, "/?#");
    const char *colon = NULL;
    for (const char *p = host; p < end; p++) /* the last ':' outside [v6] brackets */
        if (*p == ':')
            colon = p;
        else if (*p == ']')
            colon = NULL;
    if (!colon || colon == host || colon + 1 == end) return -1;
    int n = snprintf(out, cap, "%s%s%s", scheme, name, colon);
    int m = snprintf(connect_to, ccap, "::%.*s:%.*s", (int)(colon - host), host,
                     (int)(end - colon - 1), colon + 1);
    return n > 0 && (size_t)n < cap && m > 0 && (size_t)m < ccap ? 0 : -1;
}

/* The TLS side of a transfer to an agent ([agents]): the CA its certificate
 * is verified with, the name checked, the client certificate (mTLS). */
static void fetch_tls(proxy_ctx *px, proxy_fetch *f, CURL *e, const char *url)
{
    const curl_api *c = px->curl;
    const proxy_config *cfg = &px->cfg;
    if (cfg->agents_tls_ca_file[0]) c->easy_setopt(e, CURLOPT_CAINFO, cfg->agents_tls_ca_file);
    if (cfg->agents_tls_cert_file[0]) {
        c->easy_setopt(e, CURLOPT_SSLCERT, cfg->agents_tls_cert_file);
        c->easy_setopt(e, CURLOPT_SSLKEY, cfg->agents_tls_key_file);
    }
    char named[4400], to[600];
    if (cfg->agents_tls_name[0] &&
        url_for_name(url, cfg->agents_tls_name, named, sizeof named, to, sizeof to) == 0) {
        f->connect_to = c->slist_append(NULL, to);
        if (f->connect_to) {
            c->easy_setopt(e, CURLOPT_URL, named);
            c->easy_setopt(e, CURLOPT_CONNECT_TO, f->connect_to);
        }
    }
}

void proxy_fetch_start(proxy_ctx *px, proxy_fetch *f, const char *url, proxy_fetch_done_fn done,
                       void *arg)
{
    f->px = px;
    f->done = done;
    f->arg = arg;
    const curl_api *c = px->curl;
    CURL *e = c ? c->easy_init() : NULL;
    if (e == NULL) {
        snprintf(f->error, sizeof f->error, "%s", px->curl ? "out of memory" : px->curl_error);
        done(f, arg);
        return;
    }
    c->easy_setopt(e, CURLOPT_URL, url);
    c->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    c->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)px->cfg.agent_timeout_ms);
    c->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)px->cfg.agent_timeout_ms);
    c->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    c->easy_setopt(e, CURLOPT_WRITEDATA, f);
    c->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    c->easy_setopt(e, CURLOPT_ERRORBUFFER, f->detail);
    fetch_tls(px, f, e, url);
    if (px->agent_token) {
        char h[600];
        snprintf(h, sizeof h, "Authorization: Bearer %s", (const char *)px->agent_token);
        f->headers = c->slist_append(NULL, h);
        explicit_bzero(h, sizeof h);
        c->easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
    }
    if (curl_engine_add(px->engine, e, on_transfer, f) != 0) {
        c->easy_cleanup(e);
        fetch_lists_free(f);
        snprintf(f->error, sizeof f->error, "the proxy is stopping");
        done(f, arg);
    }
}

/* [agents]' files are read by libcurl on each transfer: one missing would
 * mark every HTTPS agent unreachable, so start-up names it instead. */
static int tls_files_readable(const proxy_config *cfg, char *err, size_t errlen)
{
    const struct {
        const char *name, *path;
    } files[] = {{"tls_ca_file", cfg->agents_tls_ca_file},
                 {"tls_cert_file", cfg->agents_tls_cert_file},
                 {"tls_key_file", cfg->agents_tls_key_file}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!files[i].path[0]) continue;
        int fd = open(files[i].path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            continue;
        }
        snprintf(err, errlen, "%s: [agents] %s %s: cannot read: %s", cfg->path, files[i].name,
                 files[i].path, strerror(errno));
        return -1;
    }
    return 0;
}

int proxy_fanout_open(proxy_ctx *px, char *err, size_t errlen)
{
    if (tls_files_readable(&px->cfg, err, errlen) != 0) return -1;
    if (px->cfg.agent_token_file[0] && group_secret_read(px->cfg.agent_token_file, &px->agent_token,
                                                         &px->agent_token_len, err, errlen) != 0)
        return -1;
    if (!px->cfg.targets_api && !px->cfg.metrics_api) return 0;
    px->curl = curl_api_get(px->curl_error, sizeof px->curl_error);
    if (px->curl == NULL) {
        /* the rest of the API works without libcurl: say so, answer 502 */
        proxy_log(px, COORD_LOG_WARN, "no fan-out to agents: %s", px->curl_error);
        return 0;
    }
    px->engine = curl_engine_new(err, errlen);
    return px->engine ? 0 : -1;
}

void proxy_fanout_cancel(proxy_ctx *px)
{
    if (px->engine) curl_engine_cancel(px->engine);
}

/* ---- GET /v1/targets?target=T ------------------------------------------------ */

typedef struct routed {
    proxy_fetch f;
    httpd_req *req;
    char member[128];
} routed;

static void routed_done(proxy_fetch *f, void *arg)
{
    routed *r = arg;
    httpd_add_header(r->req, "X-Meterd-Member", r->member);
    /* the owner refusing the proxy's own credentials (token, client
     * certificate) is no fault of the client's: a gateway error, with why */
    bool refused = !f->error[0] && (f->status == 401 || f->status == 403);
    if (refused)
        snprintf(f->error, sizeof f->error, "HTTP status %ld: %.200s", f->status,
                 f->body ? f->body : "");
    if (f->error[0]) {
        char msg[1600]; /* error escaped: twice its size at worst */
        json_t *doc = json_pack("{s:s, s:s}", "error",
                                refused ? "the owner refused the proxy's credentials ([agents], "
                                          "agent_token_file)"
                                        : "the owner did not answer",
                                "member", r->member);
        json_object_set_new(doc, "detail", json_string(f->error));
        char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(doc);
        snprintf(msg, sizeof msg, "%s\n", text ? text : "{}");
        free(text);
        httpd_respond(r->req, strstr(f->error, "imeout") ? 504 : 502, "application/json", msg,
                      strlen(msg));
    } else {
        httpd_respond(r->req, (int)f->status, "application/json", f->body, f->len);
    }
    free(f->body);
    free(r);
}

/* Percent-encodes s for a query value. */
static void query_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
}

/* Who owns target in one group now: 1 found (member, api), 0 not a target
 * of this group, -1 a target whose owner is unknown now (why says it). */
static int owner_in(proxy_group *g, const char *target, char member[128], char api[256], char *why,
                    size_t whylen)
{
    pthread_mutex_lock(&g->mu);
    groupview *v = &g->v;
    groupview_at(v, proxy_wall_ms());
    int rc = 0;
    if (group_targets_has(&v->targets, target)) {
        group_owner o;
        group_clock_owner_at(&v->clock, target, v->loaded_ms, &o);
        const char *id = NULL;
        if (o.kind == GROUP_OWNER_MEMBER)
            id = o.owner_id;
        else if (o.kind == GROUP_OWNER_NO_TABLE && v->members.count) /* all own all */
            id = v->members.members[0].id;
        const coord_member_t *m = id ? groupview_member(v, id) : NULL;
        if (m && m->info.api[0]) {
            snprintf(member, 128, "%s", m->id);
            snprintf(api, 256, "%s", m->info.api);
            rc = 1;
        } else {
            snprintf(why, whylen,
                     id ? "its owner %s in group %s is not live (its slots move when the leader "
                          "replans)"
                        : "its owner in group %s is not known now (a slot-table handover)",
                     id ? id : g->name, g->name);
            rc = -1;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void proxy_fanout_target(proxy_ctx *px, httpd_req *r)
{
    const char *target = httpd_query(r, "target");
    const char *group = httpd_query(r, "group");
    if (target == NULL || !target[0]) {
        proxy_reply_error(px, r, 400, "?target=T is required (the target's id, percent-encoded)");
        return;
    }
    char member[128] = "", api[256] = "", why[400] = "";
    int found = 0;
    for (size_t i = 0; i < px->cache.n && found == 0; i++) {
        proxy_group *g = &px->cache.groups[i];
        if (group && strcmp(group, g->name) != 0) continue;
        found = owner_in(g, target, member, api, why, sizeof why);
    }
    if (found < 0) {
        proxy_reply_error(px, r, 503, "target %s: %s", target, why);
        return;
    }
    if (found == 0) {
        proxy_reply_error(px, r, 404, "%s is not a target of the current revision of %s%s", target,
                          group ? "group " : "any served group", group ? group : "");
        return;
    }
    routed *rt = calloc(1, sizeof *rt);
    if (rt == NULL) {
        proxy_reply_error(px, r, 500, "out of memory");
        return;
    }
    rt->req = r;
    snprintf(rt->member, sizeof rt->member, "%s", member);
    char esc[3 * 1024], url[4096];
    query_escape(target, esc, sizeof esc);
    snprintf(url, sizeof url, "%s/v1/targets?target=%s", api, esc);
    httpd_defer(r);
    proxy_fetch_start(px, &rt->f, url, routed_done, rt);
}

void proxy_fanout_close(proxy_ctx *px)
{
    proxy_fed_close(px);
    curl_engine_free(px->engine);
    px->engine = NULL;
    group_secret_free(px->agent_token, px->agent_token_len);
    px->agent_token = NULL;
}
