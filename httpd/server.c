/*
 * server.c: the server's life: binding, the acceptor thread, the whole-head
 * deadline, and stopping.
 *
 * meterd accepts connections itself and hands them to libmicrohttpd
 * (MHD_USE_NO_LISTEN_SOCKET + MHD_add_connection) because libmicrohttpd
 * retries accept() at once when the process is out of descriptors and has
 * no connection yet (a spin), and closes connections over its limit without
 * a status. Here EMFILE backs off, a connection over the cap gets a 503, and
 * the cap counts every address together.
 */
#include "httpd/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_MS   100
#define BACKOFF_MS 100

int64_t hd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hd_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                    enum MHD_ConnectionNotificationCode toe)
{
    httpd *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_track *ct = calloc(1, sizeof *ct);
        if (!ct) return; /* untracked: no head deadline, MHD's idle timeout still holds */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        ct->fd = ci ? ci->connect_fd : -1;
        ct->deadline_ms = hd_now_ms() + h->o.header_timeout_ms;
        pthread_mutex_lock(&h->conn_mu);
        ct->next = h->conns;
        if (h->conns) h->conns->prev = ct;
        h->conns = ct;
        pthread_mutex_unlock(&h->conn_mu);
        *socket_ctx = ct;
        return;
    }
    conn_track *ct = *socket_ctx;
    atomic_fetch_sub(&h->current, 1);
    if (!ct) return;
    /* before libmicrohttpd closes the descriptor: the sweeper never shuts
     * down a number that was reused */
    pthread_mutex_lock(&h->conn_mu);
    if (ct->prev)
        ct->prev->next = ct->next;
    else
        h->conns = ct->next;
    if (ct->next) ct->next->prev = ct->prev;
    pthread_mutex_unlock(&h->conn_mu);
    free(ct);
    *socket_ctx = NULL;
}

/* Shuts down connections whose head is late (slowloris): libmicrohttpd's
 * own timeout restarts on every byte, so a byte a second would hold a
 * connection for ever. */
static void sweep(httpd *h)
{
    int64_t now = hd_now_ms();
    pthread_mutex_lock(&h->conn_mu);
    for (conn_track *ct = h->conns; ct; ct = ct->next) {
        if (!ct->deadline_ms || now < ct->deadline_ms || ct->fd < 0) continue;
        ct->deadline_ms = 0;
        shutdown(ct->fd, SHUT_RDWR);
        atomic_fetch_add(&h->header_timeouts, 1);
    }
    pthread_mutex_unlock(&h->conn_mu);
}

static void refuse(int fd)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: 38\r\n"
                              "Retry-After: 1\r\n"
                              "Connection: close\r\n\r\n"
                              "{\"error\":\"too many connections, retry\"}";
    /* best effort: the socket is fresh, its send buffer empty */
    ssize_t n = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    shutdown(fd, SHUT_WR);
    close(fd);
}

/* Accepts what one listener has pending; false when out of descriptors. */
static bool accept_some(httpd *h, int lfd)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                atomic_fetch_add(&h->accept_backoffs, 1);
                return false;
            }
            return true; /* EAGAIN, or an error of that one connection */
        }
        if (atomic_load(&h->current) >= h->cap) {
            atomic_fetch_add(&h->refused, 1);
            refuse(fd);
            continue;
        }
        /* counted here, not at libmicrohttpd's start notice, which comes
         * later from a pool thread: a burst of connections would pass the
         * cap meanwhile. A refused add has closed fd without notices; one
         * that fails later in the pool thread is notified closed. */
        atomic_fetch_add(&h->current, 1);
        atomic_fetch_add(&h->connections, 1);
        if (MHD_add_connection(h->d, fd, (struct sockaddr *)&ss, sl) != MHD_YES)
            atomic_fetch_sub(&h->current, 1);
    }
    return true;
}

static void *acceptor_main(void *arg)
{
    httpd *h = arg;
    struct pollfd pfd[HTTPD_MAX_LISTEN + 1];
    int64_t backoff_until = 0;
    for (;;) {
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = h->wake[0], .events = POLLIN};
        int64_t now = hd_now_ms();
        if (now >= backoff_until)
            for (size_t i = 0; i < h->o.n_listen; i++)
                pfd[n++] = (struct pollfd){.fd = h->lfd[i], .events = POLLIN};
        int rc = poll(pfd, n, SWEEP_MS);
        if (rc < 0 && errno != EINTR) break;
        if (pfd[0].revents) break;
        for (size_t i = 1; rc > 0 && i < n; i++)
            if (pfd[i].revents && !accept_some(h, pfd[i].fd)) {
                /* out of descriptors: wait for some to be freed rather than
                 * retry at once (the listener stays readable) */
                backoff_until = hd_now_ms() + BACKOFF_MS;
                break;
            }
        sweep(h);
    }
    return NULL;
}

static char *read_pem(const char *file, const char *what, char *err, size_t errlen)
{
    FILE *f = fopen(file, "re");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open the TLS %s: %s", file, what, strerror(errno));
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n >= (1 << 20) - 1) {
        snprintf(err, errlen, "%s: the TLS %s is empty or over 1 MB (expected PEM)", file, what);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static void fill_defaults(httpd_opts *o)
{
    if (!o->threads) o->threads = 2;
    if (!o->header_timeout_ms) o->header_timeout_ms = 10000;
    if (!o->idle_timeout_ms) o->idle_timeout_ms = 30000;
    if (!o->max_head_bytes) o->max_head_bytes = 8192;
    if (!o->max_connections) o->max_connections = httpd_fd_budget(0);
    if (!o->listen_backlog || o->listen_backlog > INT_MAX) o->listen_backlog = 1024;
}

void hd_count_refusal(httpd *h, unsigned status)
{
    atomic_ullong *c = status == 400   ? &h->bad_requests
                       : status == 403 ? &h->cert_refused
                       : status == 413 ? &h->body_too_large
                       : status == 431 ? &h->head_too_large
                                       : NULL;
    if (c) atomic_fetch_add(c, 1);
}

/* libmicrohttpd's messages: kept while starting (they explain a failure),
 * dropped after (a client's broken request is not the operator's news).
 * The error answers it gives by itself (400 for malformed HTTP, 431 for a
 * head past its memory pool) reach no callback but this message, so they
 * are counted here. */
static const char mhd_error_answer[] = "Error processing request (HTTP response code is %u";

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    httpd *h = cls;
    if (!strncmp(fmt, mhd_error_answer, sizeof mhd_error_answer - 1)) {
        va_list copy;
        va_copy(copy, ap);
        hd_count_refusal(h, va_arg(copy, unsigned));
        va_end(copy);
    }
    if (atomic_load(&h->started)) return;
    vsnprintf(h->mhd_msg, sizeof h->mhd_msg, fmt, ap);
    h->mhd_msg[strcspn(h->mhd_msg, "\n")] = '\0';
}

static int start_daemon(httpd *h, char *err, size_t errlen)
{
    httpd_opts *o = &h->o;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem opt[16];
    size_t n = 0;
    /* the head lives in the connection's pool; twice the head cap leaves
     * room for the response's headers, a larger head gets libmicrohttpd's
     * own 431 */
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                       (intptr_t)(2 * o->max_head_bytes + 4096), NULL};
    /* libmicrohttpd splits its limit between the pool's threads by
     * descriptor number; the cap that counts is h->cap, in the acceptor */
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                       (intptr_t)((h->cap + 64) * o->threads), NULL};
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                       (intptr_t)((o->idle_timeout_ms + 999) / 1000), NULL};
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, h};
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)hd_completed, h};
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)hd_notify_conn, h};
    if (o->threads > 1)
        opt[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)o->threads, NULL};
    if (h->tls_cert) {
        flags |= MHD_USE_TLS;
        opt[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
        opt[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
        if (h->tls_ca) opt[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, h->tls_ca};
    }
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    h->d =
        MHD_start_daemon(flags, 0, NULL, NULL, hd_access, h, MHD_OPTION_ARRAY, opt, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "httpd: libmicrohttpd did not start%s: %s",
                 h->tls_cert ? " with TLS" : "",
                 h->mhd_msg[0] ? h->mhd_msg : "out of memory or threads");
        return -1;
    }
    return 0;
}

int httpd_start(httpd **out, const httpd_opts *opts, char *err, size_t errlen)
{
    *out = NULL;
    if (!opts->handler || opts->n_listen == 0 || opts->n_listen > HTTPD_MAX_LISTEN) {
        snprintf(err, errlen, "httpd: a handler and 1 to %d listen addresses are required",
                 HTTPD_MAX_LISTEN);
        return -1;
    }
    if (!opts->tls_cert_file != !opts->tls_key_file ||
        (opts->tls_client_ca_file && !opts->tls_cert_file)) {
        snprintf(err, errlen,
                 "httpd: TLS needs both a certificate and a key file (and a client "
                 "CA only with them)");
        return -1;
    }
    httpd *h = calloc(1, sizeof *h);
    if (!h) return -1;
    h->o = *opts;
    fill_defaults(&h->o);
    h->cap = h->o.max_connections;
    h->wake[0] = h->wake[1] = -1;
    pthread_mutex_init(&h->conn_mu, NULL);
    pthread_mutex_init(&h->susp_mu, NULL);
    for (size_t i = 0; i < HTTPD_MAX_LISTEN; i++)
        h->lfd[i] = -1;
    for (size_t i = 0; i < h->o.n_listen; i++) {
        snprintf(h->listen_text[i], sizeof h->listen_text[i], "%s", opts->listen[i]);
        h->o.listen[i] = h->listen_text[i];
        if ((h->lfd[i] = hd_bind(h->listen_text[i], (int)h->o.listen_backlog, &h->port[i], err,
                                 errlen)) < 0)
            goto fail;
    }
    h->o.tls_cert_file = h->o.tls_key_file = h->o.tls_client_ca_file = NULL; /* not kept */
    if (opts->tls_cert_file) {
        if (!(h->tls_cert = read_pem(opts->tls_cert_file, "certificate", err, errlen)) ||
            !(h->tls_key = read_pem(opts->tls_key_file, "key", err, errlen)))
            goto fail;
        if (opts->tls_client_ca_file &&
            !(h->tls_ca = read_pem(opts->tls_client_ca_file, "client CA", err, errlen)))
            goto fail;
    }
    if (pipe2(h->wake, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "httpd: pipe: %s", strerror(errno));
        goto fail;
    }
    if (start_daemon(h, err, errlen) != 0) goto fail;
    if (pthread_create(&h->acceptor, NULL, acceptor_main, h) != 0) {
        snprintf(err, errlen, "httpd: cannot start the acceptor thread");
        goto fail;
    }
    h->acceptor_started = true;
    atomic_store(&h->started, true);
    *out = h;
    return 0;
fail:
    httpd_stop(h);
    return -1;
}

int httpd_port(const httpd *h, size_t i)
{
    return h && i < h->o.n_listen ? h->port[i] : -1;
}

void httpd_stop(httpd *h)
{
    if (!h) return;
    if (h->acceptor_started) {
        char c = 0;
        ssize_t w = write(h->wake[1], &c, 1);
        (void)w;
        pthread_join(h->acceptor, NULL);
    }
    for (size_t i = 0; i < HTTPD_MAX_LISTEN; i++)
        if (h->lfd[i] >= 0) close(h->lfd[i]);
    if (h->d) {
        /* libmicrohttpd must not be stopped with suspended connections:
         * wake them, marked abandoned (a deferred one is closed, a waiting
         * stream ends in error) */
        pthread_mutex_lock(&h->susp_mu);
        h->stopping = true;
        while (h->suspended) {
            httpd_req *r = h->suspended;
            hd_susp_remove(h, r);
            r->abandoned = true;
            r->suspended = r->s_waiting = false;
            MHD_resume_connection(r->conn);
        }
        pthread_mutex_unlock(&h->susp_mu);
        MHD_stop_daemon(h->d);
    }
    for (int i = 0; i < 2; i++)
        if (h->wake[i] >= 0) close(h->wake[i]);
    free(h->tls_cert);
    free(h->tls_key);
    free(h->tls_ca);
    pthread_mutex_destroy(&h->conn_mu);
    pthread_mutex_destroy(&h->susp_mu);
    free(h);
}

void httpd_get_stats(const httpd *h, httpd_stats *out)
{
    httpd *m = (httpd *)h; /* atomics are read through a non-const pointer */
    *out = (httpd_stats){.requests = atomic_load(&m->requests),
                         .connections = atomic_load(&m->connections),
                         .current = atomic_load(&m->current),
                         .refused = atomic_load(&m->refused),
                         .header_timeouts = atomic_load(&m->header_timeouts),
                         .accept_backoffs = atomic_load(&m->accept_backoffs),
                         .bad_requests = atomic_load(&m->bad_requests),
                         .cert_refused = atomic_load(&m->cert_refused),
                         .body_too_large = atomic_load(&m->body_too_large),
                         .head_too_large = atomic_load(&m->head_too_large)};
}
