/*
 * write.c: PUT /v1/groups/{g}/pipeline, a push through the proxy.
 *
 * The proxy never holds the operator's signing key: the client signs the
 * body for the number it will get (Ed25519 binds group, number and body,
 * docs/SECURITY.md) and sends the signature in X-Meterd-Signature, with
 * If-Match naming the revision it signed against (the CAS: the new one is
 * that number + 1, so the signature can only be valid for it). The agents
 * verify it as for any push. What the proxy does is what `meterctl push`
 * does before writing, with the same code: the bearer token (401 without
 * it), the body checked by the agents' parser (400 with file:line:column),
 * one CAS write (412 when another push won, with the winner), and with
 * ?wait=S the per-member result `push --wait` gives.
 *
 * Nothing here blocks an HTTP thread: the write is the coordinator's async
 * push (completed on its store thread); a wait is a thread of its own that
 * reads the coordinator's cached membership (never ZooKeeper) every 50 ms.
 * That cache watches every member node for /v1/groups anyway (an agent's
 * ack updates its node too), so listing acks/<N> as meterctl does would
 * add reads here, not save any (docs/CLUSTER.md "Aggregated acks").
 * Both count as writes in flight, which stop() lets finish before the
 * server goes (a deferred request must be answered while it still exists).
 */
#include "proxy/proxy.h"
#include "group/group.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_DEFAULT_MS 30000
#define WAIT_MAX_MS     600000
#define WAIT_POLL_MS    50
#define MAX_WRITES      16 /* writes and waits in flight at once */

typedef struct push_job {
    proxy_ctx *px;
    proxy_group *g;
    httpd_req *req;
    int64_t expected;
    int wait_ms; /* 0: answer at once */
    char author[128];
    char sha[65];
    size_t len;
    bool is_signed;
    int64_t number;
    int64_t t0;
    char sig[GROUP_SIGNATURE_MAX];
    int64_t rollback_of; /* POST rollback: the revision pushed again, else 0 */
} push_job;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_done(proxy_ctx *px)
{
    pthread_mutex_lock(&px->write_mu);
    px->writes--;
    pthread_cond_broadcast(&px->write_cond);
    pthread_mutex_unlock(&px->write_mu);
}

static bool write_begin(proxy_ctx *px)
{
    pthread_mutex_lock(&px->write_mu);
    bool ok = !px->stopping && px->writes < MAX_WRITES;
    if (ok) px->writes++;
    pthread_mutex_unlock(&px->write_mu);
    return ok;
}

void proxy_writes_drain(proxy_ctx *px)
{
    pthread_mutex_lock(&px->write_mu);
    px->stopping = true;
    pthread_cond_broadcast(&px->write_cond);
    while (px->writes > 0)
        pthread_cond_wait(&px->write_cond, &px->write_mu);
    pthread_mutex_unlock(&px->write_mu);
}

static json_t *result_doc(const push_job *j)
{
    json_t *doc = json_pack("{s:s, s:I, s:s, s:s, s:b, s:I}", "group", j->g->name, "revision",
                            (json_int_t)j->number, "sha256", j->sha, "author", j->author, "signed",
                            j->is_signed, "size", (json_int_t)j->len);
    if (doc && j->rollback_of)
        json_object_set_new(doc, "rollback_of", json_integer((json_int_t)j->rollback_of));
    return doc;
}

static void answer(push_job *j, int status, json_t *doc)
{
    if (status == 200) {
        char etag[40];
        snprintf(etag, sizeof etag, "\"%lld\"", (long long)j->number);
        httpd_add_header(j->req, "ETag", etag);
    }
    proxy_reply_json(j->px, j->req, status, doc);
    proxy_ctx *px = j->px;
    free(j);
    write_done(px);
}

/* A thread per waiting push: the wait of `push --wait` over the cache. */
static void *wait_main(void *arg)
{
    push_job *j = arg;
    proxy_ctx *px = j->px;
    groupview_wait w;
    groupview_wait_init(&w, j->number, j->t0);
    int64_t deadline = j->t0 + j->wait_ms;
    for (;;) {
        coord_members_t s = {0};
        if (coord_members_get(j->g->c, &s) == COORD_OK) groupview_wait_observe(&w, &s, mono_ms());
        coord_members_free(&s);
        int64_t now = mono_ms();
        if (groupview_wait_settled(&w) || now >= deadline) break;
        pthread_mutex_lock(&px->write_mu);
        bool stopping = px->stopping;
        if (!stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wake = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + WAIT_POLL_MS;
            ts.tv_sec = (time_t)(wake / 1000);
            ts.tv_nsec = (long)(wake % 1000) * 1000000L;
            pthread_cond_timedwait(&px->write_cond, &px->write_mu, &ts);
        }
        pthread_mutex_unlock(&px->write_mu);
        if (stopping) break;
    }
    json_t *doc = result_doc(j);
    json_object_set_new(doc, "wait", groupview_wait_json(&w, j->wait_ms, mono_ms() - j->t0));
    groupview_wait_free(&w);
    answer(j, 200, doc);
    return NULL;
}

/* The coordinator's store thread: the CAS write's result. */
static void pushed(void *arg, int rc, int64_t number)
{
    push_job *j = arg;
    j->number = number;
    j->t0 = mono_ms();
    if (rc == COORD_OK) {
        proxy_log(j->px, COORD_LOG_INFO, "group %s: revision %lld pushed by %s via %s", j->g->name,
                  (long long)number, j->author, httpd_peer(j->req));
        if (j->wait_ms > 0) {
            pthread_t t;
            pthread_attr_t at;
            pthread_attr_init(&at);
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            int trc = pthread_create(&t, &at, wait_main, j);
            pthread_attr_destroy(&at);
            if (trc == 0) return;
        }
        answer(j, 200, result_doc(j));
        return;
    }
    if (rc == COORD_ECONFLICT) {
        json_t *doc = json_pack("{s:s, s:I}", "error", "another push won: nothing written",
                                "expected", (json_int_t)j->expected);
        pthread_mutex_lock(&j->g->mu);
        json_object_set_new(doc, "current", groupview_revision_json(&j->g->v));
        pthread_mutex_unlock(&j->g->mu);
        answer(j, 412, doc);
        return;
    }
    const char *why = coord_strerror(rc);
    int status = 502;
    if (rc == COORD_ENOAUTH) {
        why = "ZooKeeper refused the write (ACLs): the proxy's [coordination] auth_file must be "
              "the operator's";
        status = 403;
    } else if (rc == COORD_ETOOBIG) {
        why = "the revision is larger than a ZooKeeper node";
        status = 413;
    } else if (rc == COORD_ENOCONN) {
        status = 503;
    }
    answer(j, status, json_pack("{s:s}", "error", why));
}

/* If-Match: "N", W/"N" or N: the revision the client signed against. */
static int parse_if_match(const char *h, int64_t *out)
{
    if (h == NULL) return -1;
    if (strncmp(h, "W/", 2) == 0) h += 2;
    if (*h == '"') h++;
    char *end;
    errno = 0;
    long long v = strtoll(h, &end, 10);
    if (end == h || errno || v < 0 || v >= INT32_MAX) return -1;
    if (*end == '"') end++;
    if (*end != '\0') return -1;
    *out = v;
    return 0;
}

/* ?wait or ?wait=S: milliseconds to wait, 0 none, -1 invalid. */
static int wait_ms_of(httpd_req *r)
{
    const char *w = httpd_query(r, "wait");
    if (w == NULL) return 0;
    if (*w == '\0') return WAIT_DEFAULT_MS;
    char *end;
    double s = strtod(w, &end);
    if (*end != '\0' || !(s > 0) || s * 1000 > WAIT_MAX_MS) return -1;
    return (int)(s * 1000 + 0.5) ? (int)(s * 1000 + 0.5) : 1;
}

static bool authorized(proxy_ctx *px, httpd_req *r)
{
    int ok = proxy_token_check(&px->token, httpd_header(r, "Authorization"));
    if (ok == 1) return true;
    httpd_add_header(r, "WWW-Authenticate", "Bearer realm=\"meterproxy\"");
    if (ok < 0) proxy_log(px, COORD_LOG_ERROR, "a write refused: %s", px->token.error);
    proxy_reply_error(px, r, 401,
                      ok < 0 ? "writes are refused: the proxy's token_file is not usable"
                             : "writes need Authorization: Bearer <the proxy's token_file>");
    return false;
}

/* What every write needs before its body: the token, If-Match, the
 * client's signature and ?wait. A job (write_begin counted), or NULL
 * after answering. */
static push_job *begin(proxy_ctx *px, httpd_req *r, proxy_group *g)
{
    if (!authorized(px, r)) return NULL;
    if (g->c == NULL) { /* set once, never cleared: the job's calls below have it */
        httpd_add_header(r, "Retry-After", "1");
        proxy_reply_error(px, r, 503, "group %s: its observer is opening", g->name);
        return NULL;
    }
    int64_t expected;
    if (parse_if_match(httpd_header(r, "If-Match"), &expected) != 0) {
        proxy_reply_error(px, r, 428,
                          "If-Match: \"N\" is required: the revision the body was signed against "
                          "(GET .../pipeline gives it as ETag; 0: none yet)");
        return NULL;
    }
    const char *sig = httpd_header(r, "X-Meterd-Signature");
    if (sig == NULL || !sig[0] || strlen(sig) >= GROUP_SIGNATURE_MAX) {
        proxy_reply_error(px, r, 400,
                          "X-Meterd-Signature is required: the client signs the body for "
                          "revision If-Match + 1 (meterctl push --via does); the proxy holds "
                          "no signing key");
        return NULL;
    }
    int wait_ms = wait_ms_of(r);
    if (wait_ms < 0) {
        proxy_reply_error(px, r, 400, "?wait=S wants seconds in (0, 600]");
        return NULL;
    }
    push_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        proxy_reply_error(px, r, 500, "out of memory");
        return NULL;
    }
    if (!write_begin(px)) {
        free(j);
        httpd_add_header(r, "Retry-After", "1");
        proxy_reply_error(px, r, 503, "too many writes in flight (at most %d)", MAX_WRITES);
        return NULL;
    }
    j->px = px;
    j->g = g;
    j->req = r;
    j->expected = expected;
    j->wait_ms = wait_ms;
    j->is_signed = true;
    snprintf(j->sig, sizeof j->sig, "%s", sig);
    const char *author = httpd_header(r, "X-Meterd-Author");
    if (author && *author)
        snprintf(j->author, sizeof j->author, "%s", author);
    else
        snprintf(j->author, sizeof j->author, "meterproxy@%s", httpd_peer(r));
    return j;
}

/* The check `meterctl push` makes: 0, or -1 after answering (j is done). */
static int check_body(push_job *j, const char *body, size_t len, const char *label)
{
    pipeline_diags d = {0};
    pipeline *p = NULL;
    if (body == NULL || groupview_check_revision(body, len, label, &p, &d) != 0) {
        json_t *doc =
            json_pack("{s:s, s:o}", "error", "the body is not a valid pipeline: nothing written",
                      "errors", groupview_diags_json(&d));
        pipeline_diags_free(&d);
        answer(j, 400, doc);
        return -1;
    }
    bool file_sd = pipeline_has_file_sd(p);
    pipeline_free(p);
    pipeline_diags_free(&d);
    if (file_sd) {
        answer(j, 400,
               json_pack("{s:s}", "error",
                         "the body names file_sd documents: expand them before sending "
                         "(meterctl push --via does), the agents refuse them"));
        return -1;
    }
    return 0;
}

static void push(push_job *j, const char *body, size_t len)
{
    j->len = len;
    groupview_sha256_hex(body, len, j->sha);
    if (coord_revision_push_async(j->g->c, j->expected, body, len, j->author, j->sig, pushed, j) !=
        0)
        answer(j, 500, json_pack("{s:s}", "error", "the write could not be queued"));
}

void proxy_write_pipeline(proxy_ctx *px, httpd_req *r, proxy_group *g)
{
    push_job *j = begin(px, r, g);
    if (j == NULL) return;
    httpd_defer(r);
    size_t len = 0;
    const char *body = httpd_body(r, &len);
    char label[160];
    snprintf(label, sizeof label, "PUT %s", g->name);
    if (check_body(j, body, len, label) == 0) push(j, body, len);
}

/* The store thread: the revision to push again, then the same push. */
static void got_old(void *arg, int rc, const coord_revision_t *old)
{
    push_job *j = arg;
    if (rc == COORD_ENOENT) {
        answer(j, 404,
               json_pack("{s:s, s:I}", "error", "that revision is not kept (GET .../revisions)",
                         "revision", (json_int_t)j->rollback_of));
        return;
    }
    if (rc != COORD_OK) {
        answer(j, rc == COORD_ENOCONN ? 503 : 502, json_pack("{s:s}", "error", coord_strerror(rc)));
        return;
    }
    char label[64];
    snprintf(label, sizeof label, "revision %lld", (long long)old->number);
    if (check_body(j, (const char *)old->body, old->body_len, label) == 0)
        push(j, (const char *)old->body, old->body_len);
}

void proxy_write_rollback(proxy_ctx *px, httpd_req *r, proxy_group *g)
{
    const char *n = httpd_query(r, "revision");
    char *end = NULL;
    long long v = n ? strtoll(n, &end, 10) : 0;
    if (n == NULL || *end != '\0' || v < 1 || v >= INT32_MAX) {
        proxy_reply_error(px, r, 400, "?revision=N is required: the kept revision to push again");
        return;
    }
    push_job *j = begin(px, r, g);
    if (j == NULL) return;
    j->rollback_of = v;
    httpd_defer(r);
    if (coord_revision_get_async(g->c, v, got_old, j) != 0)
        answer(j, 500, json_pack("{s:s}", "error", "the read could not be queued"));
}
