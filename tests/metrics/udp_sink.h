/*
 * udp_sink.h: a loopback UDP receiver for the metrics tests: the real socket
 * the statsd backend sends to, drained by a thread so that bursts of
 * datagrams are never lost in the kernel's receive queue.
 */
#ifndef METERD_TESTS_METRICS_UDP_SINK_H
#define METERD_TESTS_METRICS_UDP_SINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct udp_sink {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    bool stop;
    char *data; /* every datagram received, each followed by "\x1e" (record separator) */
    size_t len, cap;
    size_t count;  /* datagrams */
    size_t maxlen; /* largest datagram */
} udp_sink;

int udp_sink_start(udp_sink *s);
void udp_sink_stop(udp_sink *s);
/* Waits up to timeout_ms until at least n datagrams arrived; returns the count. */
size_t udp_sink_wait(udp_sink *s, size_t n, int timeout_ms);
/* A copy of what arrived (free it). */
char *udp_sink_take(udp_sink *s, size_t *count);

#endif
