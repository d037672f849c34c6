/*
 * publisher_testutil.h: real receivers on loopback for the publisher tests —
 * a UDP socket and a tiny HTTP/1.1 server thread — plus batch builders.
 * Ports are chosen by the kernel (bind to port 0), so tests run in parallel.
 */
#ifndef METERD_TESTS_PUBLISHER_TESTUTIL_H
#define METERD_TESTS_PUBLISHER_TESTUTIL_H

#include "agent/sample.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A batch of n gauges "m.<i>" = base + i, resource "r1", source "src". */
sample_batch *tu_batch(size_t n, double base);

/* ---- UDP receiver ---- */
typedef struct tu_udp {
    int fd;
    int port;
} tu_udp;

int tu_udp_open(tu_udp *u);
/* Binds 127.0.0.1:port (a scheme's fixed default); -1 when it is taken. */
int tu_udp_open_fixed(tu_udp *u, int port);
/* One datagram into buf (NUL-terminated); -1 after timeout_ms. */
ssize_t tu_udp_recv(tu_udp *u, char *buf, size_t cap, int timeout_ms);
void tu_udp_close(tu_udp *u);

/* ---- HTTP server ---- */
typedef struct tu_http {
    int listen_fd, port;
    pthread_t thread;
    atomic_int status; /* reply status; 0 = hold: read requests, never answer */
    atomic_bool stop;
    pthread_mutex_t mu;
    char **bodies; /* bodies of the requests answered 2xx, in order */
    size_t n_bodies, cap_bodies;
    atomic_int requests;    /* requests read, whatever the answer */
    atomic_int connections; /* connections accepted */
    char last_head[2048];   /* request line and headers of the last request (mu) */
} tu_http;

int tu_http_start(tu_http *h, int status);
size_t tu_http_count(tu_http *h);
/* Copy of body i (free it), NULL if absent. */
char *tu_http_body(tu_http *h, size_t i);
void tu_http_stop(tu_http *h);

#endif
