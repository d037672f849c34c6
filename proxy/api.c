/*
 * api.c: meterproxy's routes (docs/PROXY.md).
 *
 * Every /v1/groups answer is rendered from the group's cached view with
 * groupview's functions, so it is the document `meterctl -o json` prints
 * for the same question (plus "zookeeper": the proxy's session state, since
 * a cached view may be stale while ZooKeeper is unreachable). The handler
 * never waits on ZooKeeper. Unknown paths are 404, known paths with another
 * method 405 with Allow, disabled APIs 404 (they do not exist here).
 */
#include "proxy/proxy.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TYPE "application/json"

int proxy_api_metrics(proxy_ctx *px, char *err, size_t errlen)
{
    metrics_logger *log = metrics_get_logger_ex(px->mx, "meterproxy.http", err, errlen);
    if (log == NULL) return -1;
    px->m_requests = metrics_counter_get(log, "requests", err, errlen);
    px->m_errors = metrics_counter_get(log, "server_errors", err, errlen);
    px->m_not_found = metrics_counter_get(log, "not_found", err, errlen);
    px->m_unauthorized = metrics_counter_get(log, "unauthorized", err, errlen);
    return px->m_requests && px->m_errors && px->m_not_found && px->m_unauthorized ? 0 : -1;
}

void proxy_reply_json(proxy_ctx *px, httpd_req *r, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (text == NULL) {
        metrics_counter(px->m_errors, 1);
        static const char oom[] = "{\"error\":\"out of memory\"}\n";
        httpd_respond(r, 500, JSON_TYPE, oom, sizeof oom - 1);
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps' NUL becomes the newline; the length says where it ends */
    httpd_respond(r, status, JSON_TYPE, text, n + 1);
    free(text);
}

void proxy_reply_error(proxy_ctx *px, httpd_req *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (status == 404) metrics_counter(px->m_not_found, 1);
    if (status == 401) metrics_counter(px->m_unauthorized, 1);
    if (status >= 500) metrics_counter(px->m_errors, 1);
    proxy_reply_json(px, r, status, json_pack("{s:s}", "error", msg));
}

static bool method_is(httpd_req *r, const char *allow)
{
    if (strcmp(httpd_method(r), allow) == 0) return true;
    if (strcmp(allow, "GET") == 0 && strcmp(httpd_method(r), "HEAD") == 0) return true;
    return false;
}

static void reply_405(proxy_ctx *px, httpd_req *r, const char *allow)
{
    httpd_add_header(r, "Allow", allow);
    proxy_reply_error(px, r, 405, "%s is not allowed here (allowed: %s)", httpd_method(r), allow);
}

/* ---- /health ----------------------------------------------------------------- */

static void health(proxy_ctx *px, httpd_req *r)
{
    /* the probe every load balancer polls: snprintf, no JSON library */
    char groups[PROXY_MAX_GROUPS * 160], reasons[PROXY_MAX_GROUPS * 300];
    size_t gl = 0, rl = 0;
    for (size_t i = 0; i < px->cache.n; i++) {
        proxy_group *g = &px->cache.groups[i];
        pthread_mutex_lock(&g->mu);
        coord_state_t st = g->state;
        pthread_mutex_unlock(&g->mu);
        /* group names are ZooKeeper path segments: no quote or backslash */
        gl += (size_t)snprintf(groups + gl, sizeof groups - gl, "%s\"%s\":\"%s\"", gl ? "," : "",
                               g->name, coord_state_name(st));
        if (st != COORD_CONNECTED)
            rl += (size_t)snprintf(reasons + rl, sizeof reasons - rl,
                                   "%s\"group %s: ZooKeeper %s (answers come from the last view)\"",
                                   rl ? "," : "", g->name, coord_state_name(st));
    }
    char body[sizeof groups + sizeof reasons + 128];
    /* 200 either way: the proxy serves; "degraded" says its view may be stale */
    int n = snprintf(body, sizeof body,
                     "{\"groups\":{%s},\"reasons\":[%s],\"status\":\"%s\",\"uptime_ms\":%lld}\n",
                     groups, reasons, rl ? "degraded" : "ok",
                     (long long)(proxy_wall_ms() - px->started_ms));
    httpd_respond(r, 200, JSON_TYPE, body, (size_t)n);
}

/* ---- /metrics (the proxy's own) ----------------------------------------------- */

char *proxy_self_metrics(proxy_ctx *px, size_t *len)
{
    size_t n = 0;
    char *text = metrics_render_prometheus_text(px->mx, &n);
    httpd_stats st;
    httpd_get_stats(px->http, &st);
    char extra[1024];
    int k = snprintf(extra, sizeof extra,
                     "# TYPE meterproxy_http_connections_open gauge\n"
                     "meterproxy_http_connections_open %u\n"
                     "# TYPE meterproxy_http_connections_refused_total counter\n"
                     "meterproxy_http_connections_refused_total %llu\n"
                     "# TYPE meterproxy_http_header_timeouts_total counter\n"
                     "meterproxy_http_header_timeouts_total %llu\n"
                     "# TYPE meterproxy_http_accept_backoffs_total counter\n"
                     "meterproxy_http_accept_backoffs_total %llu\n",
                     st.current, st.refused, st.header_timeouts, st.accept_backoffs);
    char *page = malloc(n + (size_t)k + 1);
    if (page) {
        if (n) memcpy(page, text, n);
        memcpy(page + n, extra, (size_t)k + 1);
        *len = n + (size_t)k;
    } else {
        *len = 0;
    }
    free(text);
    return page;
}

/* ---- /v1/groups --------------------------------------------------------------- */

/* Under g->mu: adds the session state to a document of the group. */
static json_t *with_state(proxy_group *g, json_t *doc)
{
    if (doc) json_object_set_new(doc, "zookeeper", json_string(coord_state_name(g->state)));
    return doc;
}

static json_t *status_doc(proxy_group *g, bool *consistent);

static json_t *group_entry(proxy_group *g)
{
    pthread_mutex_lock(&g->mu);
    groupview_at(&g->v, proxy_wall_ms());
    bool ok = false;
    json_t *st = status_doc(g, &ok);
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:O?, s:O?, s:b, s:b}", "group", g->name, "zookeeper",
                  coord_state_name(g->state), "members", (json_int_t)g->v.members.count, "revision",
                  json_object_get(st, "revision"), "leader", json_object_get(st, "leader"),
                  "consistent", ok, "known", groupview_known(&g->v));
    pthread_mutex_unlock(&g->mu);
    json_decref(st);
    return o;
}

/*
 * The groups that exist under the chroot (the listing's last read, a child
 * watch: no ZooKeeper read here), those `groups =` allows. Until the first
 * listing arrived ("listed": false), the groups served so far.
 */
static void groups_list(proxy_ctx *px, httpd_req *r)
{
    char **names = NULL;
    size_t count = 0;
    bool listed = px->cache.lister && coord_groups_get(px->cache.lister, &names, &count) > 0;
    json_t *list = json_array();
    if (listed) {
        for (size_t i = 0; i < count; i++) {
            size_t len = strlen(names[i]);
            proxy_group *g = proxy_cache_find(&px->cache, names[i], len);
            if (g) json_array_append_new(list, group_entry(g));
        }
    } else {
        for (size_t i = 0; i < px->cache.n; i++)
            json_array_append_new(list, group_entry(&px->cache.groups[i]));
    }
    coord_groups_list_free(names, count);
    proxy_reply_json(px, r, 200, json_pack("{s:o, s:b}", "groups", list, "listed", listed));
}

typedef enum {
    G_STATUS = PROXY_R_STATUS,
    G_MEMBERS = PROXY_R_MEMBERS,
    G_ASSIGNMENT = PROXY_R_ASSIGNMENT,
    G_PIPELINE = PROXY_R_PIPELINE,
    G_REVISIONS = PROXY_R_REVISIONS,
} group_route;

/* A revision whole: its header, signature and body. */
static json_t *revision_doc(const char *group, const coord_revision_t *r)
{
    json_t *doc = json_pack("{s:I, s:s, s:s, s:s, s:I, s:b}", "number", (json_int_t)r->number,
                            "sha256", r->sha256, "author", r->author, "time", r->time, "size",
                            (json_int_t)r->body_len, "signed", r->signature[0] != '\0');
    if (doc == NULL) return NULL;
    json_object_set_new(doc, "group", json_string(group));
    json_object_set_new(doc, "signature", json_string(r->signature));
    json_object_set_new(doc, "body", json_stringn((const char *)r->body, r->body_len));
    return doc;
}

/* Under g->mu: the current revision, with what the agents would say of it;
 * or, when the node is not a revision, that, why, and the last valid one. */
static json_t *pipeline_doc(proxy_group *g)
{
    if (g->v.bad_rev) {
        json_t *doc = json_pack("{s:s, s:I, s:b, s:s}", "group", g->name, "number",
                                (json_int_t)g->v.bad_rev_version, "malformed", 1, "reason",
                                g->bad_reason[0] ? g->bad_reason : "not a revision");
        if (doc)
            json_object_set_new(doc, "last_valid",
                                g->v.has_rev ? revision_doc(g->name, &g->v.rev) : json_null());
        return doc;
    }
    json_t *doc = g->v.has_rev ? revision_doc(g->name, &g->v.rev) : NULL;
    if (doc == NULL) return NULL;
    json_object_set_new(doc, "verified", g->verified < 0 ? json_null() : json_boolean(g->verified));
    if (g->verified == 0) json_object_set_new(doc, "verify_error", json_string(g->verify_error));
    json_object_set_new(doc, "valid", json_boolean(g->body_errors == NULL));
    if (g->body_errors) json_object_set_new(doc, "errors", json_incref(g->body_errors));
    return doc;
}

/* Under g->mu: `meterctl status`'s document plus what the proxy judged of
 * the pipeline node: the reason it is not a revision, a signature that does
 * not verify, a body that is not a pipeline (each a problem: the agents
 * refuse such a revision, so the group cannot be consistent). */
static json_t *status_doc(proxy_group *g, bool *consistent)
{
    bool ok = false;
    json_t *doc = groupview_status_json(&g->v, g->name, NULL, &ok);
    json_t *probs = json_object_get(doc, "problems");
    if (doc == NULL || probs == NULL) return doc;
    size_t i;
    json_t *p;
    json_array_foreach(probs, i, p)
    {
        if (g->bad_reason[0] &&
            strcmp(json_string_value(json_object_get(p, "problem")), "malformed_revision") == 0)
            json_object_set_new(p, "reason", json_string(g->bad_reason));
    }
    int64_t n = g->v.has_rev ? g->v.rev.number : 0;
    char detail[600];
    if (!g->v.bad_rev && g->v.has_rev && g->verified == 0) {
        snprintf(detail, sizeof detail,
                 "revision %lld: %s; the agents refuse it and keep what they run", (long long)n,
                 g->verify_error);
        json_array_append_new(probs, json_pack("{s:n, s:s, s:s, s:s}", "member", "problem",
                                               "bad_signature", "detail", detail, "reason",
                                               g->verify_error));
    }
    if (!g->v.bad_rev && g->v.has_rev && g->body_errors) {
        json_t *e = json_array_get(g->body_errors, 0);
        snprintf(detail, sizeof detail, "revision %lld is not a valid pipeline: %s:%lld:%lld: %s",
                 (long long)n, json_string_value(json_object_get(e, "file")),
                 (long long)json_integer_value(json_object_get(e, "line")),
                 (long long)json_integer_value(json_object_get(e, "column")),
                 json_string_value(json_object_get(e, "message")));
        json_array_append_new(probs, json_pack("{s:n, s:s, s:s, s:O}", "member", "problem",
                                               "invalid_revision", "detail", detail, "errors",
                                               g->body_errors));
    }
    ok = json_array_size(probs) == 0;
    json_object_set_new(doc, "consistent", json_boolean(ok));
    if (consistent) *consistent = ok;
    return doc;
}

typedef struct kept_get {
    proxy_ctx *px;
    proxy_group *g;
    httpd_req *req;
} kept_get;

/* The store thread: GET .../revisions/{n}'s answer. */
static void got_kept(void *arg, int rc, const coord_revision_t *r)
{
    kept_get *k = arg;
    if (rc == COORD_OK)
        proxy_reply_json(k->px, k->req, 200, revision_doc(k->g->name, r));
    else if (rc == COORD_ENOENT)
        proxy_reply_error(k->px, k->req, 404, "revision not kept in group %s", k->g->name);
    else
        proxy_reply_error(k->px, k->req, rc == COORD_ENOCONN ? 503 : 502, "%s", coord_strerror(rc));
    free(k);
}

/* GET /v1/groups/{g}/revisions/{n}: one kept revision with its body (what a
 * client signs again to roll back), read from ZooKeeper (not cached: rare). */
static void kept_revision(proxy_ctx *px, httpd_req *r, proxy_group *g, const char *n)
{
    char *end = NULL;
    long long v = strtoll(n, &end, 10);
    if (*n == '\0' || *end != '\0' || v < 1 || v >= INT32_MAX) {
        proxy_reply_error(px, r, 404, "no such path: %s", httpd_path(r));
        return;
    }
    coord_t *c = g->c;
    if (c == NULL) {
        proxy_reply_error(px, r, 503, "no view of group %s yet: its observer is opening", g->name);
        return;
    }
    kept_get *k = malloc(sizeof *k);
    if (k == NULL) {
        proxy_reply_error(px, r, 500, "out of memory");
        return;
    }
    *k = (kept_get){px, g, r};
    httpd_defer(r);
    if (coord_revision_get_async(c, v, got_kept, k) != 0) {
        proxy_reply_error(px, r, 500, "the read could not be queued");
        free(k);
    }
}

/* Under g->mu: the route's document as text (one line, with '\n'). */
static char *render(proxy_group *g, group_route route, size_t *len)
{
    json_t *doc = NULL;
    switch (route) {
    case G_STATUS:
        doc = status_doc(g, NULL);
        break;
    case G_MEMBERS:
        doc = groupview_members_json(&g->v, g->name);
        break;
    case G_ASSIGNMENT: /* ?target= is added per request */
        doc = groupview_assignment_json(&g->v, g->name, NULL);
        break;
    case G_PIPELINE:
        doc = pipeline_doc(g);
        break;
    case G_REVISIONS:
        /* the list is never changed once cached, only replaced: shared */
        doc = json_pack("{s:s, s:I, s:o}", "group", g->name, "current",
                        (json_int_t)(g->v.has_rev ? g->v.rev.number : 0), "revisions",
                        g->revisions ? json_incref(g->revisions) : json_array());
        break;
    }
    if (doc == NULL) return NULL;
    with_state(g, doc);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (text == NULL) return NULL;
    *len = strlen(text);
    char *t = realloc(text, *len + 2);
    if (t == NULL) {
        free(text);
        return NULL;
    }
    t[(*len)++] = '\n';
    t[*len] = 0;
    return t;
}

/*
 * Under g->mu: the route's text, rendered again only when the view changed
 * (an event, or a pending table coming into force) since it was last: a
 * burst of requests renders once.
 */
static const proxy_rendered *rendered(proxy_group *g, group_route route)
{
    proxy_rendered *c = &g->rendered[route];
    int64_t next = group_clock_next_ms(&g->v.clock);
    if (c->text && c->changes == g->changes && c->next_ms == next) return c;
    free(c->text);
    c->text = render(g, route, &c->len);
    c->changes = g->changes;
    c->next_ms = next;
    /* a malformed node's version: what a push replacing it must expect */
    c->number = g->v.bad_rev ? g->v.bad_rev_version : g->v.has_rev ? g->v.rev.number : 0;
    return c->text ? c : NULL;
}

static void group_get(proxy_ctx *px, httpd_req *r, proxy_group *g, group_route route)
{
    pthread_mutex_lock(&g->mu);
    groupview_at(&g->v, proxy_wall_ms());
    bool known = groupview_known(&g->v);
    bool synced = g->state == COORD_CONNECTED || g->changes > 1;
    if (!known && !synced) {
        pthread_mutex_unlock(&g->mu);
        proxy_reply_error(px, r, 503, "no view of group %s yet: ZooKeeper %s", g->name,
                          coord_state_name(g->state));
        return;
    }
    if (!known && route != G_REVISIONS) {
        pthread_mutex_unlock(&g->mu);
        proxy_reply_error(px, r, 404, "unknown group '%s': no members, no revision, no slot table",
                          g->name);
        return;
    }
    if (route == G_PIPELINE && !g->v.has_rev && !g->v.bad_rev) {
        pthread_mutex_unlock(&g->mu);
        proxy_reply_error(px, r, 404, "group %s has no revision yet", g->name);
        return;
    }
    const proxy_rendered *c = rendered(g, route);
    const char *target = route == G_ASSIGNMENT ? httpd_query(r, "target") : NULL;
    size_t loclen = 0;
    const char *loc = c && target ? proxy_located_get(g, target, &loclen) : NULL;
    size_t len = c ? c->len : 0;
    /* most answers fit the stack: no allocation on the hot path */
    char stack[8192];
    size_t need = len + loclen + 16;
    char *out = c && (!target || loc) ? need <= sizeof stack ? stack : malloc(need) : NULL;
    if (out && loc) {
        /* {...base...,"target":{...}} from {...base...}\n */
        memcpy(out, c->text, len - 2);
        size_t n = len - 2;
        memcpy(out + n, ",\"target\":", 10);
        n += 10;
        memcpy(out + n, loc, loclen);
        n += loclen;
        memcpy(out + n, "}\n", 2);
        len = n + 2;
    } else if (out) {
        memcpy(out, c->text, len);
    }
    char etag[40] = "";
    if (out && route == G_PIPELINE) snprintf(etag, sizeof etag, "\"%lld\"", (long long)c->number);
    pthread_mutex_unlock(&g->mu);
    if (out == NULL) {
        proxy_reply_error(px, r, 500, "out of memory");
        return;
    }
    if (etag[0]) httpd_add_header(r, "ETag", etag);
    httpd_respond(r, 200, JSON_TYPE, out, len);
    if (out != stack) free(out);
}

static void groups_route(proxy_ctx *px, httpd_req *r, const char *rest)
{
    if (*rest == '\0') {
        if (!method_is(r, "GET")) return reply_405(px, r, "GET");
        return groups_list(px, r);
    }
    const char *slash = strchr(rest, '/');
    size_t glen = slash ? (size_t)(slash - rest) : strlen(rest);
    proxy_group *g = proxy_cache_find(&px->cache, rest, glen);
    if (g == NULL)
        return proxy_reply_error(
            px, r, 404, "group '%.*s' is not served here ([coordination] groups = %s)",
            (int)(glen > 128 ? 128 : glen), rest,
            px->cfg.groups[0] ? px->cfg.groups : "(empty: every group under the chroot)");
    const char *sub = slash ? slash + 1 : "";
    if (strcmp(sub, "rollback") == 0 && px->cfg.writes_api) {
        if (strcmp(httpd_method(r), "POST") != 0) return reply_405(px, r, "POST");
        return proxy_write_rollback(px, r, g);
    }
    if (strncmp(sub, "revisions/", 10) == 0) {
        if (!method_is(r, "GET")) return reply_405(px, r, "GET");
        return kept_revision(px, r, g, sub + 10);
    }
    static const struct {
        const char *name;
        group_route route;
    } subs[] = {{"", G_STATUS},
                {"members", G_MEMBERS},
                {"assignment", G_ASSIGNMENT},
                {"pipeline", G_PIPELINE},
                {"revisions", G_REVISIONS}};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (strcmp(sub, subs[i].name) != 0) continue;
        if (subs[i].route == G_PIPELINE && strcmp(httpd_method(r), "PUT") == 0 &&
            px->cfg.writes_api)
            return proxy_write_pipeline(px, r, g);
        if (!method_is(r, "GET"))
            return reply_405(
                px, r, subs[i].route == G_PIPELINE && px->cfg.writes_api ? "GET, PUT" : "GET");
        return group_get(px, r, g, subs[i].route);
    }
    proxy_reply_error(px, r, 404, "no such path: %s", httpd_path(r));
}

void proxy_api_handle(httpd_req *r, void *arg)
{
    proxy_ctx *px = arg;
    metrics_counter(px->m_requests, 1);
    const char *path = httpd_path(r);
    if (strcmp(path, "/health") == 0) {
        if (!method_is(r, "GET")) return reply_405(px, r, "GET");
        return health(px, r);
    }
    if (strcmp(path, "/metrics") == 0 && px->cfg.metrics_api) {
        if (!method_is(r, "GET")) return reply_405(px, r, "GET");
        return proxy_fanout_metrics(px, r);
    }
    if (strcmp(path, "/v1/targets") == 0 && px->cfg.targets_api) {
        if (!method_is(r, "GET")) return reply_405(px, r, "GET");
        return proxy_fanout_target(px, r);
    }
    if (px->cfg.groups_api && strcmp(path, "/v1/groups") == 0) return groups_route(px, r, "");
    if (px->cfg.groups_api && strncmp(path, "/v1/groups/", 11) == 0)
        return groups_route(px, r, path + 11);
    proxy_reply_error(px, r, 404, "no such path: %s", path);
}
