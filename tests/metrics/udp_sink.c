/*
 * udp_sink.c: see udp_sink.h.
 */
#include "udp_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void *sink_main(void *arg)
{
    udp_sink *s = arg;
    char buf[65536];
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 20) != 1) continue;
        ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) continue;
        pthread_mutex_lock(&s->mu);
        if (s->len + (size_t)n + 2 > s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 65536;
            while (cap < s->len + (size_t)n + 2)
                cap *= 2;
            s->data = realloc(s->data, cap);
            s->cap = cap;
        }
        memcpy(s->data + s->len, buf, (size_t)n);
        s->len += (size_t)n;
        s->data[s->len++] = '\x1e';
        s->data[s->len] = 0;
        s->count++;
        if ((size_t)n > s->maxlen) s->maxlen = (size_t)n;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

int udp_sink_start(udp_sink *s)
{
    memset(s, 0, sizeof *s);
    s->fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (s->fd < 0) return -1;
    int rcv = 8 << 20;
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv); /* root only */
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0) {
        close(s->fd);
        return -1;
    }
    s->port = ntohs(a.sin_port);
    pthread_mutex_init(&s->mu, NULL);
    if (pthread_create(&s->thread, NULL, sink_main, s) != 0) {
        close(s->fd);
        return -1;
    }
    return 0;
}

void udp_sink_stop(udp_sink *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    close(s->fd);
    free(s->data);
}

size_t udp_sink_wait(udp_sink *s, size_t n, int timeout_ms)
{
    struct timespec t0, now, nap = {0, 2 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        size_t c = s->count;
        pthread_mutex_unlock(&s->mu);
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (c >= n || ms >= timeout_ms) return c;
        nanosleep(&nap, NULL);
    }
}

char *udp_sink_take(udp_sink *s, size_t *count)
{
    pthread_mutex_lock(&s->mu);
    char *copy = malloc(s->len + 1);
    if (copy) {
        if (s->data) memcpy(copy, s->data, s->len);
        copy[s->len] = 0;
    }
    if (count) *count = s->count;
    s->len = 0;
    s->count = 0;
    pthread_mutex_unlock(&s->mu);
    return copy;
}
