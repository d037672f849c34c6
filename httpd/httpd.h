/*
 * httpd.h: meterd's HTTP server (the agent's API and meterproxy).
 *
 * One handler sees every request once its head (and its body, at most
 * max_body_bytes) has arrived; it does its own routing, so it decides which
 * methods a path allows (405), what is unknown (404) and who may ask (401).
 * The server answers by itself, before any handler runs, what a hostile or
 * broken client can do to it:
 *   - a head (request line + headers) over max_head_bytes: 431 and close;
 *   - a declared body over max_body_bytes: 413 decided at the head, nothing
 *     of the body is read or buffered; then close;
 *   - malformed HTTP: 400 and close;
 *   - a head not complete header_timeout_ms after the connection opened (or
 *     after the idle wait that follows a keep-alive response): closed
 *     (slowloris); a keep-alive connection idle for idle_timeout_ms: closed;
 *   - past max_connections: new connections are refused, never spun on;
 *     accept() failing with EMFILE/ENFILE backs off instead of retrying at
 *     once.
 *
 * Threads: handlers run on the server's pool threads (opts.threads) and must
 * not block on anything slow. A handler that needs to wait (meterproxy's
 * fan-out to agents) calls httpd_defer() and returns; any thread answers the
 * request later with one httpd_respond*() call. A streamed body's producer
 * may likewise say "nothing yet" and wake the stream from another thread.
 *
 * Every httpd_req accessor returns memory that stays valid until the
 * request is answered (httpd_respond, httpd_respond_stream); after that the
 * request belongs to the server again and must not be touched (except
 * httpd_stream_wake on a stream, until its free_ctx ran).
 */
#ifndef METERD_HTTPD_H
#define METERD_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct httpd httpd;
typedef struct httpd_req httpd_req;

/* Called once per request on a pool thread. Before it returns it either
 * answers (httpd_respond, httpd_respond_stream) or calls httpd_defer() and
 * answers later from any thread. Returning with neither answers 500. */
typedef void (*httpd_handler_fn)(httpd_req *req, void *arg);

#define HTTPD_MAX_LISTEN 8

typedef struct httpd_opts {
    /* Listen addresses, "host:port": "127.0.0.1:8080", "[::1]:0",
     * "0.0.0.0:9000", "localhost:0" (a name binds its first address).
     * Port 0 picks a free port; read it back with httpd_port(). */
    const char *listen[HTTPD_MAX_LISTEN];
    size_t n_listen;
    httpd_handler_fn handler;
    void *arg;
    unsigned threads;           /* pool threads per address; 0: 2 */
    unsigned max_connections;   /* over all addresses; 0: httpd_fd_budget(0) */
    unsigned header_timeout_ms; /* whole head must arrive in this time; 0: 10000 */
    unsigned idle_timeout_ms;   /* keep-alive idle time and any stall; 0: 30000 */
    size_t max_head_bytes;      /* request line + headers; 0: 8192 */
    size_t max_body_bytes;      /* 0: requests with a body are refused (413) */
    unsigned listen_backlog;    /* listen(2)'s queue of connections not yet
                                 * accepted; 0: 1024 (the kernel caps it at
                                 * net.core.somaxconn) */
    /* TLS: PEM files; all NULL: plain HTTP. With tls_client_ca_file, every
     * client must present a certificate that CA signed (mTLS): a request
     * without one is answered 403 before the handler sees it. */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_client_ca_file;
} httpd_opts;

/* Binds every address and starts serving. 0, or -1 with a message a person
 * can act on in err ("127.0.0.1:8080: address already in use", a bad TLS
 * file, ...); nothing is left running on failure. */
int httpd_start(httpd **out, const httpd_opts *opts, char *err, size_t errlen);

/* The bound port of opts.listen[i] (the one the kernel picked for port 0);
 * -1 when i is out of range. */
int httpd_port(const httpd *h, size_t i);

/* Stops accepting, closes every connection and joins the threads. Deferred
 * requests not answered yet are dropped: stop whatever would answer them
 * first. NULL is a no-op. */
void httpd_stop(httpd *h);

typedef struct httpd_stats {
    unsigned long long requests;        /* heads handed to the handler */
    unsigned long long connections;     /* accepted since start */
    unsigned current;                   /* open now */
    unsigned long long refused;         /* over max_connections */
    unsigned long long header_timeouts; /* closed by header_timeout_ms */
    unsigned long long accept_backoffs; /* accept() hit EMFILE/ENFILE */
    /* requests answered by the server itself, before any handler */
    unsigned long long bad_requests;   /* 400: malformed HTTP */
    unsigned long long cert_refused;   /* 403: no verified client certificate (mTLS) */
    unsigned long long body_too_large; /* 413 */
    unsigned long long head_too_large; /* 431 */
} httpd_stats;

void httpd_get_stats(const httpd *h, httpd_stats *out);

/* --- the request (valid until answered) --- */

const char *httpd_method(const httpd_req *r);
/* The path, percent-decoded, without the query string. */
const char *httpd_path(const httpd_req *r);
/* A query parameter's decoded value ("?target=http%3A%2F%2Fh%3A9100%2F"
 * gives "http://h:9100/"); "" for "?flag"; NULL when absent. */
const char *httpd_query(const httpd_req *r, const char *name);
/* A request header's value by case-insensitive name; NULL when absent. */
const char *httpd_header(const httpd_req *r, const char *name);
/* The body (NULL and 0 when there is none). */
const void *httpd_body(const httpd_req *r, size_t *len);
/* The peer's numeric address ("127.0.0.1", "::1"), and whether it is a
 * loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z). */
const char *httpd_peer(const httpd_req *r);
bool httpd_peer_loopback(const httpd_req *r);
/* True when the request came over TLS with a verified client certificate. */
bool httpd_peer_verified(const httpd_req *r);

/* --- the response: exactly one httpd_respond* per request --- */

/* Adds a response header (copied); call before answering. 0, or -1 when
 * out of memory or the name/value holds CR or LF. */
int httpd_add_header(httpd_req *r, const char *name, const char *value);

/* Answers with status and a body (copied; body may be NULL when len is 0).
 * Safe from any thread once the request is deferred. 0, or -1 when the
 * answer could not be queued (out of memory): the connection is closed. */
int httpd_respond(httpd_req *r, int status, const char *content_type, const void *body, size_t len);

/* A streamed body's producer: writes at most max bytes into buf and returns
 * how many (> 0), HTTPD_STREAM_END when the body is complete,
 * HTTPD_STREAM_WAIT when it has nothing yet (the stream sleeps until
 * httpd_stream_wake), or HTTPD_STREAM_ERROR to abort the connection (the
 * client sees a truncated chunked body). Called on a pool thread; never
 * concurrently for one stream. */
#define HTTPD_STREAM_END   ((ssize_t)-1)
#define HTTPD_STREAM_ERROR ((ssize_t)-2)
#define HTTPD_STREAM_WAIT  ((ssize_t)-3)
typedef ssize_t (*httpd_stream_fn)(void *ctx, char *buf, size_t max);

/* Answers with a chunked body that fn produces; free_ctx(ctx) (may be NULL)
 * is called exactly once when the stream ends, fails or the client goes
 * away, even when this call fails. 0 or -1 as httpd_respond. */
int httpd_respond_stream(httpd_req *r, int status, const char *content_type, httpd_stream_fn fn,
                         void *ctx, void (*free_ctx)(void *ctx));

/* Makes the request asynchronous: the handler returns without answering,
 * and any thread answers later with httpd_respond / httpd_respond_stream.
 * Call it from the handler only, before it returns. */
void httpd_defer(httpd_req *r);

/* Wakes a stream whose producer returned HTTPD_STREAM_WAIT; any thread,
 * any number of times (a wake before the wait is kept, not lost). A
 * streamed request stays valid for this call (only) until its free_ctx has
 * been called. */
void httpd_stream_wake(httpd_req *r);

/* --- descriptors --- */

/* Raises the soft RLIMIT_NOFILE to the hard limit (call once at start).
 * Returns the soft limit now in force. */
long httpd_raise_nofile(void);

/* How many connections the server may hold while leaving `reserve`
 * descriptors to the rest of the process (0: a quarter of the limit, at
 * least 64): (soft limit - reserve - a margin), at least 16. */
unsigned httpd_fd_budget(unsigned reserve);

#endif
