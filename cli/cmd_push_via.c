/* cmd_push_via.c -- `meterctl push FILE --via URL` and `rollback N --via
 * URL`: a push through meterproxy.
 *
 * For operators who reach only the head node. Everything that needs a
 * secret stays here: the body is validated and signed on this machine (the
 * proxy never holds the signing key) for the number it will get, which is
 * the proxy's current revision (GET .../pipeline, its ETag) + 1, and the
 * write names that revision in If-Match, so the CAS and the signature agree:
 * if another push wins meanwhile the proxy answers 412 and nothing is
 * written (exit 3), as with a direct push. The proxy's bearer token comes
 * from a 0600 file (--token-file, group_secret_read), never the command
 * line. With --wait the proxy waits for the members and its answer carries
 * push --wait's per-member result, printed the same way. A rollback reads
 * the kept body from the proxy, signs it for its new number and POSTs it.
 *
 * HTTP goes through httpc/ (libcurl loaded on first use, the agents' and
 * meterproxy's client).
 */
#include "cli/cli.h"
#include "httpc/httpc.h"

#include <stdlib.h>
#include <string.h>

typedef struct via_call {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
    CURLcode res;
    long status;
    char *body;
    size_t len, cap;
    struct curl_slist *headers;
} via_call;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    via_call *c = arg;
    size_t len = size * n;
    if (c->len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        while (cap < c->len + len + 1)
            cap *= 2;
        char *nb = realloc(c->body, cap);
        if (nb == NULL) return 0;
        c->body = nb;
        c->cap = cap;
    }
    memcpy(c->body + c->len, p, len);
    c->len += len;
    c->body[c->len] = 0;
    return len;
}

static void on_done(void *arg, CURL *easy, CURLcode res)
{
    via_call *c = arg;
    const curl_api *api = curl_api_get(NULL, 0);
    if (res == CURLE_OK) api->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &c->status);
    api->easy_cleanup(easy);
    pthread_mutex_lock(&c->mu);
    c->res = res;
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

/* One request, waited for; c->body gets the answer. 0, or -1 with err. */
static int call(curl_engine *e, const char *method, const char *url, struct curl_slist *headers,
                const char *body, size_t len, long timeout_ms, via_call *c, char *err,
                size_t errlen)
{
    const curl_api *api = curl_api_get(err, errlen);
    if (api == NULL) return -1;
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    CURL *h = api->easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    api->easy_setopt(h, CURLOPT_URL, url);
    api->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    api->easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    api->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    api->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    api->easy_setopt(h, CURLOPT_WRITEDATA, c);
    api->easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (headers) api->easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (body) {
        api->easy_setopt(h, CURLOPT_POSTFIELDS, body);
        api->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_engine_add(e, h, on_done, c) != 0) {
        api->easy_cleanup(h);
        snprintf(err, errlen, "cannot start the request");
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    while (!c->done)
        pthread_cond_wait(&c->cond, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (c->res != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", url, api->easy_strerror(c->res));
        return -1;
    }
    return 0;
}

static void call_free(via_call *c)
{
    free(c->body);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
}

/* The error an answer carries ({"error": ...}), or its status. */
static void answer_error(const via_call *c, char *out, size_t cap)
{
    json_t *doc = c->body ? json_loads(c->body, 0, NULL) : NULL;
    const char *e = json_string_value(json_object_get(doc, "error"));
    if (e)
        snprintf(out, cap, "%s", e);
    else
        snprintf(out, cap, "HTTP status %ld", c->status);
    json_decref(doc);
}

/* What the proxy answered to the PUT, reported as push reports its own. */
static int report(cli_cluster *k, long status, const char *text, int64_t expected)
{
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    int rc = CLI_OK;
    if (status == 200 && doc) {
        json_t *w = json_object_get(doc, "wait");
        const char *verdict = json_string_value(json_object_get(w, "result"));
        if (verdict && strcmp(verdict, "rejected") == 0)
            rc = CLI_FAILED;
        else if (verdict && strcmp(verdict, "timeout") == 0)
            rc = CLI_TIMEOUT;
        if (k->fmt == CLI_OUT_JSON) {
            cli_print_json(k, doc);
            return rc;
        }
        fprintf(k->out, "revision %lld %s",
                (long long)json_integer_value(json_object_get(doc, "revision")),
                json_string_value(json_object_get(doc, "sha256")));
        json_t *rb = json_object_get(doc, "rollback_of");
        if (rb) fprintf(k->out, " (rollback of %lld)", (long long)json_integer_value(rb));
        fputc('\n', k->out);
        if (w) {
            static const char *const head[] = {"MEMBER", "HOST", "APPLIED", "RESULT", "LATENCY_MS"};
            cli_table t;
            cli_table_init(&t, 5, head);
            size_t i;
            json_t *m;
            json_array_foreach(json_object_get(w, "members"), i, m)
            {
                char applied[32], lat[32], result[600];
                snprintf(applied, sizeof applied, "%lld",
                         (long long)json_integer_value(json_object_get(m, "applied_revision")));
                json_t *l = json_object_get(m, "latency_ms");
                snprintf(lat, sizeof lat, json_is_integer(l) ? "%lld" : "-",
                         (long long)json_integer_value(l));
                const char *e = json_string_value(json_object_get(m, "error"));
                snprintf(result, sizeof result, "%s%s%s",
                         json_string_value(json_object_get(m, "result")), e ? ": " : "",
                         e ? e : "");
                const char *row[] = {json_string_value(json_object_get(m, "id")),
                                     json_string_value(json_object_get(m, "host")), applied, result,
                                     lat};
                cli_table_add(&t, row);
            }
            cli_table_print(&t, k->out);
            cli_table_free(&t);
            fprintf(k->out,
                    "%lld applied, %lld rejected, %lld pending after %lld ms (via the proxy)\n",
                    (long long)json_integer_value(json_object_get(w, "applied")),
                    (long long)json_integer_value(json_object_get(w, "rejected")),
                    (long long)json_integer_value(json_object_get(w, "pending")),
                    (long long)json_integer_value(json_object_get(w, "elapsed_ms")));
        }
        json_decref(doc);
        return rc;
    }
    const char *e = json_string_value(json_object_get(doc, "error"));
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", e ? e : "no answer the proxy's API gives");
    if (status == 412) {
        json_t *cur = json_object_get(doc, "current");
        rc = cli_fail(k, CLI_CONFLICT,
                      "another push won: revision %lld is current (sha256 %.12s, by %s at %s), not "
                      "%lld; nothing written",
                      (long long)json_integer_value(json_object_get(cur, "number")),
                      json_string_value(json_object_get(cur, "sha256")),
                      json_string_value(json_object_get(cur, "author")),
                      json_string_value(json_object_get(cur, "time")), (long long)expected);
    } else if (status == 400 && json_is_array(json_object_get(doc, "errors"))) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(doc, "errors"), i, it) fprintf(
            k->err, "%s:%lld:%lld: error: %s\n", json_string_value(json_object_get(it, "file")),
            (long long)json_integer_value(json_object_get(it, "line")),
            (long long)json_integer_value(json_object_get(it, "column")),
            json_string_value(json_object_get(it, "message")));
        rc = cli_fail(k, CLI_FAILED, "the proxy refused the body: %s", msg);
    } else {
        rc = cli_fail(k, CLI_FAILED, "the proxy answered %ld: %s", status, msg);
    }
    json_decref(doc);
    return rc;
}

/* rollback_of > 0: `rollback N --via`: N's body (read from the proxy) is
 * signed for its new number and POSTed to .../rollback; else body is. */
static int via(cli_cluster *k, const cli_via *v, const char *body, size_t len, int64_t rollback_of)
{
    if (k->group == NULL) return cli_fail(k, CLI_USAGE, "--group G is required");
    unsigned char *token = NULL;
    size_t token_len = 0;
    char err[1200];
    if (group_secret_read(v->token_file, &token, &token_len, err, sizeof err) != 0)
        return cli_fail(k, CLI_USAGE, "--token-file: %s", err);
    curl_engine *e = curl_engine_new(err, sizeof err);
    if (e == NULL) {
        group_secret_free(token, token_len);
        return cli_fail(k, CLI_FAILED, "--via needs libcurl: %s", err);
    }
    const curl_api *api = curl_api_get(NULL, 0);
    char url[2048], hdr[2048];
    snprintf(url, sizeof url, "%s/v1/groups/%s/pipeline", v->url, k->group);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", (const char *)token);
    struct curl_slist *auth = api->slist_append(NULL, hdr);
    explicit_bzero(hdr, sizeof hdr);
    group_secret_free(token, token_len);
    int rc = CLI_OK;
    long timeout = k->connect_timeout_ms + (v->wait_ms > 0 ? v->wait_ms : 0) + 30000;
    via_call c;
    /* the revision the signature is for: the proxy's current + 1 */
    int64_t expected = v->if_revision;
    if (expected < 0) {
        if (call(e, "GET", url, auth, NULL, 0, k->connect_timeout_ms + 5000, &c, err, sizeof err) !=
            0) {
            rc = cli_fail(k, CLI_UNREACHABLE, "cannot reach the proxy: %s", err);
        } else if (c.status == 404) {
            expected = 0;
        } else if (c.status == 200) {
            json_t *doc = json_loads(c.body ? c.body : "", 0, NULL);
            expected = json_integer_value(json_object_get(doc, "number"));
            json_decref(doc);
        } else {
            answer_error(&c, err, sizeof err);
            rc = cli_fail(k, CLI_FAILED, "the proxy: %s", err);
        }
        call_free(&c);
    }
    /* a rollback signs the kept body again: an Ed25519 signature names its number */
    json_t *old = NULL;
    if (rc == CLI_OK && rollback_of > 0) {
        snprintf(url, sizeof url, "%s/v1/groups/%s/revisions/%lld", v->url, k->group,
                 (long long)rollback_of);
        if (call(e, "GET", url, auth, NULL, 0, k->connect_timeout_ms + 5000, &c, err, sizeof err) !=
            0) {
            rc = cli_fail(k, CLI_UNREACHABLE, "cannot reach the proxy: %s", err);
        } else {
            old = c.status == 200 ? json_loads(c.body ? c.body : "", 0, NULL) : NULL;
            body = json_string_value(json_object_get(old, "body"));
            len = json_string_length(json_object_get(old, "body"));
            if (body == NULL) {
                answer_error(&c, err, sizeof err);
                rc = cli_fail(k, CLI_FAILED,
                              "revision %lld: %s ('meterctl revisions' lists the kept ones)",
                              (long long)rollback_of, err);
            }
            call_free(&c);
        }
        snprintf(url, sizeof url, "%s/v1/groups/%s/rollback?revision=%lld", v->url, k->group,
                 (long long)rollback_of);
    }
    char signature[GROUP_SIGNATURE_MAX] = "";
    if (rc == CLI_OK && v->sign(v->sign_arg, expected + 1, body, len, signature) != CLI_OK)
        rc = CLI_FAILED; /* printed */
    struct curl_slist *hs = auth;
    if (rc == CLI_OK) {
        snprintf(hdr, sizeof hdr, "If-Match: \"%lld\"", (long long)expected);
        hs = api->slist_append(hs, hdr);
        snprintf(hdr, sizeof hdr, "X-Meterd-Signature: %s", signature);
        hs = api->slist_append(hs, hdr);
        snprintf(hdr, sizeof hdr, "X-Meterd-Author: %s", v->author);
        hs = api->slist_append(hs, hdr);
        hs = api->slist_append(hs, "Content-Type: application/yaml");
        hs = api->slist_append(hs, "Expect:"); /* the body at once: it is small */
        if (v->wait_ms > 0) {
            size_t n = strlen(url);
            snprintf(url + n, sizeof url - n, "%swait=%.3f", rollback_of > 0 ? "&" : "?",
                     v->wait_ms / 1000.0);
        }
        if (call(e, rollback_of > 0 ? "POST" : "PUT", url, hs, rollback_of > 0 ? NULL : body,
                 rollback_of > 0 ? 0 : len, timeout, &c, err, sizeof err) != 0) {
            rc = cli_fail(k, CLI_UNREACHABLE, "cannot reach the proxy: %s", err);
        } else {
            rc = report(k, c.status, c.body, expected);
            call_free(&c);
        }
    }
    json_decref(old);
    api->slist_free_all(hs);
    curl_engine_free(e);
    return rc;
}

int cli_push_via(cli_cluster *k, const cli_via *v, const char *body, size_t len)
{
    return via(k, v, body, len, 0);
}

int cli_rollback_via(cli_cluster *k, const cli_via *v, int64_t n)
{
    return via(k, v, NULL, 0, n);
}
