/*
 * internal.h: what server.c (accepting, timeouts, lifecycle), request.c
 * (libmicrohttpd's callbacks, the request and response API) and listen.c
 * (binding) share, prefixed hd_. Nothing here leaves the module.
 */
#ifndef METERD_HTTPD_INTERNAL_H
#define METERD_HTTPD_INTERNAL_H

#include "httpd/httpd.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* One accepted connection, for the whole-head deadline (the sweeper shuts a
 * late one down) and the open count. */
typedef struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    int64_t deadline_ms; /* head must be complete by then; 0: not waiting for one */
} conn_track;

struct httpd {
    httpd_opts o;
    char listen_text[HTTPD_MAX_LISTEN][160];
    int lfd[HTTPD_MAX_LISTEN];
    int port[HTTPD_MAX_LISTEN];
    unsigned cap;
    struct MHD_Daemon *d;
    char *tls_cert, *tls_key, *tls_ca; /* PEM text read from the files */
    atomic_bool started;
    char mhd_msg[256]; /* libmicrohttpd's last message while starting */

    pthread_t acceptor;
    bool acceptor_started;
    int wake[2]; /* a byte on wake[1] stops the acceptor */

    pthread_mutex_t conn_mu; /* the connection list */
    conn_track *conns;

    pthread_mutex_t susp_mu; /* suspended requests and the stopping flag */
    httpd_req *suspended;    /* list through req->snext */
    bool stopping;

    atomic_uint current;
    atomic_ullong requests, connections, refused, header_timeouts, accept_backoffs;
    atomic_ullong bad_requests, cert_refused, body_too_large, head_too_large;
};

/* Counts one answer the server gave by itself (400, 403, 413, 431). */
void hd_count_refusal(httpd *h, unsigned status);

typedef struct resp_header {
    struct resp_header *next;
    char *name, *value;
} resp_header;

struct httpd_req {
    httpd *h;
    struct MHD_Connection *conn;
    const char *method, *path; /* libmicrohttpd's, valid for the request */
    char *body;
    size_t body_len;
    bool refused; /* a 413/431/403 was queued at the head: ignore the body */
    char peer[64];
    bool loopback, verified;
    resp_header *headers;

    /* under h->susp_mu */
    struct MHD_Response *pending;
    unsigned pending_status;
    bool in_handler, deferred, answered, suspended, abandoned;
    httpd_req *snext, *sprev;

    /* a streamed response; s_waiting/s_woken under h->susp_mu */
    httpd_stream_fn fn;
    void *ctx;
    void (*free_ctx)(void *ctx);
    bool s_waiting, s_woken;
    atomic_int refs; /* the request's completion + the stream */
};

enum MHD_Result hd_access(void *cls, struct MHD_Connection *conn, const char *url,
                          const char *method, const char *version, const char *upload,
                          size_t *upload_size, void **con_cls);
void hd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                  enum MHD_RequestTerminationCode toe);
void hd_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                    enum MHD_ConnectionNotificationCode toe);

/* Suspended-request list, under susp_mu. */
void hd_susp_add(httpd *h, httpd_req *r);
void hd_susp_remove(httpd *h, httpd_req *r);

int64_t hd_now_ms(void);

/* Binds one "host:port" listen address: the socket, or -1 with err. */
int hd_bind(const char *addr, int backlog, int *port, char *err, size_t errlen);

#endif
