/*
 * request.c: libmicrohttpd's access callback, the request accessors and
 * the responses (copied, streamed, deferred).
 *
 * A deferred request is suspended in libmicrohttpd and resumed by whoever
 * answers it; libmicrohttpd then calls the access callback again, which
 * queues the answer (responses can only be queued from that callback).
 * susp_mu orders "the handler returned" against "someone answered" so an
 * answer given before the handler returns is queued at once, never lost.
 */
#include "httpd/internal.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void req_unref(httpd_req *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    for (resp_header *hd = r->headers, *next; hd; hd = next) {
        next = hd->next;
        free(hd->name);
        free(hd->value);
        free(hd);
    }
    if (r->pending) MHD_destroy_response(r->pending);
    free(r->body);
    free(r);
}

void hd_susp_add(httpd *h, httpd_req *r)
{
    r->sprev = NULL;
    r->snext = h->suspended;
    if (h->suspended) h->suspended->sprev = r;
    h->suspended = r;
}

void hd_susp_remove(httpd *h, httpd_req *r)
{
    if (r->sprev)
        r->sprev->snext = r->snext;
    else if (h->suspended == r)
        h->suspended = r->snext;
    if (r->snext) r->snext->sprev = r->sprev;
    r->snext = r->sprev = NULL;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6) return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a)) return true;
    return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

static bool client_verified(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session) return false;
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    unsigned n = 0, status = 1;
    if (!gnutls_certificate_get_peers(s, &n) || n == 0) return false;
    return gnutls_certificate_verify_peers2(s, &status) == 0 && status == 0;
}

static httpd_req *req_new(httpd *h, struct MHD_Connection *conn, const char *url,
                          const char *method)
{
    httpd_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->h = h;
    r->conn = conn;
    r->path = url;
    r->method = method;
    atomic_init(&r->refs, 1);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->peer,
                      sizeof r->peer);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->peer,
                      sizeof r->peer);
        r->loopback = is_loopback(sa);
    }
    if (h->tls_ca) r->verified = client_verified(conn);
    return r;
}

/* The head is complete: the whole-head deadline no longer applies. */
static void head_done(httpd *h, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (!ci || !ci->socket_context) return;
    pthread_mutex_lock(&h->conn_mu);
    ((conn_track *)ci->socket_context)->deadline_ms = 0;
    pthread_mutex_unlock(&h->conn_mu);
}

static enum MHD_Result add_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* The head's size as received, near enough: request line + header lines. */
static size_t head_size(struct MHD_Connection *conn, const char *url, const char *method)
{
    size_t n = strlen(method) + strlen(url) + 12;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_size, &n);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_size, &n);
    return n;
}

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *res)
{
    enum MHD_Result ret = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return ret;
}

/* An answer the server gives by itself; the connection is closed after it
 * (what follows the head may be a body nobody reads). */
static enum MHD_Result refuse(httpd_req *r, unsigned status, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", msg);
    struct MHD_Response *res =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!res) return MHD_NO;
    MHD_add_response_header(res, "Content-Type", "application/json");
    MHD_add_response_header(res, "Connection", "close");
    r->refused = true;
    hd_count_refusal(r->h, status);
    return queue(r->conn, status, res);
}

/* 0: no body or one to read; -1: refused (answered). */
static int check_body(httpd_req *r, enum MHD_Result *ret)
{
    httpd *h = r->h;
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Transfer-Encoding");
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    if (!te && len == 0) return 0;
    if (h->o.max_body_bytes == 0 || (cl && len > h->o.max_body_bytes)) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body over %zu bytes", h->o.max_body_bytes);
        *ret = refuse(r, 413, msg);
        return -1;
    }
    return 0;
}

static enum MHD_Result run_handler(httpd_req *r)
{
    httpd *h = r->h;
    pthread_mutex_lock(&h->susp_mu);
    r->in_handler = true;
    pthread_mutex_unlock(&h->susp_mu);
    h->o.handler(r, h->o.arg);
    pthread_mutex_lock(&h->susp_mu);
    r->in_handler = false;
    struct MHD_Response *res = r->pending;
    unsigned status = r->pending_status;
    r->pending = NULL;
    if (!res && r->deferred && !r->answered) {
        r->suspended = true;
        hd_susp_add(h, r);
        MHD_suspend_connection(r->conn);
        pthread_mutex_unlock(&h->susp_mu);
        return MHD_YES;
    }
    pthread_mutex_unlock(&h->susp_mu);
    if (res) return queue(r->conn, status, res);
    if (r->answered) return MHD_NO; /* an answer that could not be built */
    return refuse(r, 500, "the handler gave no answer");
}

/* Called again once a deferred request is resumed. */
static enum MHD_Result resumed(httpd_req *r)
{
    httpd *h = r->h;
    pthread_mutex_lock(&h->susp_mu);
    struct MHD_Response *res = r->pending;
    unsigned status = r->pending_status;
    r->pending = NULL;
    pthread_mutex_unlock(&h->susp_mu);
    if (!res) return MHD_NO; /* abandoned at stop, or no memory for the answer */
    return queue(r->conn, status, res);
}

enum MHD_Result hd_access(void *cls, struct MHD_Connection *conn, const char *url,
                          const char *method, const char *version, const char *upload,
                          size_t *upload_size, void **con_cls)
{
    httpd *h = cls;
    httpd_req *r = *con_cls;
    (void)version;
    if (!r) {
        head_done(h, conn);
        if (!(r = req_new(h, conn, url, method))) return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&h->requests, 1);
        if (head_size(conn, url, method) > h->o.max_head_bytes) {
            char msg[96];
            snprintf(msg, sizeof msg, "request head over %zu bytes", h->o.max_head_bytes);
            return refuse(r, 431, msg);
        }
        if (h->tls_ca && !r->verified)
            return refuse(r, 403, "a client certificate signed by the configured CA is required");
        enum MHD_Result ret = MHD_YES;
        if (check_body(r, &ret) < 0) return ret;
        /* the handler runs on the next call, once the body (if any) is in:
         * an answer queued in this first call makes libmicrohttpd close the
         * connection (it is how the refusals above end it) */
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->refused) return MHD_YES;
        if (r->body_len + n > h->o.max_body_bytes) return MHD_NO; /* a chunked body past the cap */
        char *b = realloc(r->body, r->body_len + n + 1);
        if (!b) return MHD_NO;
        memcpy(b + r->body_len, upload, n);
        r->body = b;
        r->body_len += n;
        r->body[r->body_len] = '\0';
        return MHD_YES;
    }
    if (r->refused) return MHD_YES;
    if (r->deferred) return resumed(r);
    return run_handler(r);
}

void hd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                  enum MHD_RequestTerminationCode toe)
{
    httpd *h = cls;
    (void)toe;
    httpd_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    /* a keep-alive connection waits idle, then its next head has the
     * header timeout again */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context) {
        pthread_mutex_lock(&h->conn_mu);
        ((conn_track *)ci->socket_context)->deadline_ms =
            hd_now_ms() + h->o.idle_timeout_ms + h->o.header_timeout_ms;
        pthread_mutex_unlock(&h->conn_mu);
    }
    req_unref(r);
}

/* --- accessors --- */

const char *httpd_method(const httpd_req *r)
{
    return r->method;
}
const char *httpd_path(const httpd_req *r)
{
    return r->path;
}

const char *httpd_query(const httpd_req *r, const char *name)
{
    const char *v = NULL;
    size_t vl = 0;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      &vl) != MHD_YES)
        return NULL;
    return v ? v : "";
}

const char *httpd_header(const httpd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const void *httpd_body(const httpd_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body;
}

const char *httpd_peer(const httpd_req *r)
{
    return r->peer;
}
bool httpd_peer_loopback(const httpd_req *r)
{
    return r->loopback;
}
bool httpd_peer_verified(const httpd_req *r)
{
    return r->verified;
}

/* --- responses --- */

int httpd_add_header(httpd_req *r, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return -1;
    resp_header *hd = calloc(1, sizeof *hd);
    if (!hd) return -1;
    hd->name = strdup(name);
    hd->value = strdup(value);
    if (!hd->name || !hd->value) {
        free(hd->name);
        free(hd->value);
        free(hd);
        return -1;
    }
    hd->next = r->headers;
    r->headers = hd;
    return 0;
}

/* Hands a built answer over; wakes the request when it waits. */
static int answer(httpd_req *r, int status, const char *ctype, struct MHD_Response *res)
{
    httpd *h = r->h;
    if (res) {
        if (ctype) MHD_add_response_header(res, "Content-Type", ctype);
        for (resp_header *hd = r->headers; hd; hd = hd->next)
            MHD_add_response_header(res, hd->name, hd->value);
    }
    pthread_mutex_lock(&h->susp_mu);
    if (r->answered) { /* a second answer is a caller's bug: ignored */
        pthread_mutex_unlock(&h->susp_mu);
        if (res) MHD_destroy_response(res);
        return -1;
    }
    r->answered = true;
    r->pending = res;
    r->pending_status = (unsigned)status;
    if (r->suspended) {
        r->suspended = false;
        hd_susp_remove(h, r);
        MHD_resume_connection(r->conn);
    }
    pthread_mutex_unlock(&h->susp_mu);
    return res ? 0 : -1;
}

int httpd_respond(httpd_req *r, int status, const char *content_type, const void *body, size_t len)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(len, (void *)(len ? body : ""), MHD_RESPMEM_MUST_COPY);
    return answer(r, status, content_type, res);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    httpd_req *r = cls;
    httpd *h = r->h;
    (void)pos;
    for (;;) {
        ssize_t n = r->fn(r->ctx, buf, max);
        if (n > 0) return n;
        if (n == HTTPD_STREAM_END) return MHD_CONTENT_READER_END_OF_STREAM;
        if (n != HTTPD_STREAM_WAIT && n != 0) return MHD_CONTENT_READER_END_WITH_ERROR;
        pthread_mutex_lock(&h->susp_mu);
        if (h->stopping) {
            pthread_mutex_unlock(&h->susp_mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (r->s_woken) { /* woken before it slept: produce again */
            r->s_woken = false;
            pthread_mutex_unlock(&h->susp_mu);
            continue;
        }
        r->s_waiting = true;
        hd_susp_add(h, r);
        MHD_suspend_connection(r->conn);
        pthread_mutex_unlock(&h->susp_mu);
        return 0;
    }
}

static void stream_free(void *cls)
{
    httpd_req *r = cls;
    if (r->free_ctx) r->free_ctx(r->ctx);
    req_unref(r);
}

int httpd_respond_stream(httpd_req *r, int status, const char *content_type, httpd_stream_fn fn,
                         void *ctx, void (*free_ctx)(void *ctx))
{
    r->fn = fn;
    r->ctx = ctx;
    r->free_ctx = free_ctx;
    atomic_fetch_add(&r->refs, 1);
    struct MHD_Response *res =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_read, r, stream_free);
    if (!res) stream_free(r);
    return answer(r, status, content_type, res);
}

void httpd_defer(httpd_req *r)
{
    pthread_mutex_lock(&r->h->susp_mu);
    r->deferred = true;
    pthread_mutex_unlock(&r->h->susp_mu);
}

void httpd_stream_wake(httpd_req *r)
{
    httpd *h = r->h;
    pthread_mutex_lock(&h->susp_mu);
    if (r->s_waiting) {
        r->s_waiting = false;
        hd_susp_remove(h, r);
        MHD_resume_connection(r->conn);
    } else {
        r->s_woken = true;
    }
    pthread_mutex_unlock(&h->susp_mu);
}
