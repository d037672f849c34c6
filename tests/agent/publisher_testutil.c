/*
 * publisher_testutil.c: loopback receivers for the publisher tests.
 *
 * The HTTP server serves one connection at a time (libcurl keeps one alive
 * per publisher), reads requests with Content-Length, and answers with the
 * current `status`, or holds (status 0) to play a receiver that accepted the
 * connection and went silent. poll() with short timeouts lets stop() end it.
 */
#include "publisher_testutil.h"
#include "agent/publisher.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

sample_batch *tu_batch(size_t n, double base)
{
    sample_batch *b = sample_batch_new("src", 7, 1700000000000);
    for (size_t i = 0; b && i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "m.%zu", i);
        sample_batch_add(b, name, SAMPLE_GAUGE, "1", base + (double)i, "r1",
                         1700000000123 + (int64_t)i, NULL, 0);
    }
    return b;
}

static int bound_socket(int type, int *port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int tu_udp_open(tu_udp *u)
{
    u->fd = bound_socket(SOCK_DGRAM, &u->port);
    return u->fd < 0 ? -1 : 0;
}

int tu_udp_open_fixed(tu_udp *u, int port)
{
    u->port = port;
    u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (u->fd >= 0 && bind(u->fd, (struct sockaddr *)&a, sizeof a) == 0) return 0;
    tu_udp_close(u);
    return -1;
}

ssize_t tu_udp_recv(tu_udp *u, char *buf, size_t cap, int timeout_ms)
{
    struct pollfd pfd = {.fd = u->fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) != 1) return -1;
    ssize_t n = recv(u->fd, buf, cap - 1, 0);
    if (n >= 0) buf[n] = 0;
    return n;
}

void tu_udp_close(tu_udp *u)
{
    if (u->fd >= 0) close(u->fd);
    u->fd = -1;
}

/* ---- HTTP ---- */

static bool wait_readable(tu_http *h, int fd)
{
    while (!atomic_load(&h->stop)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, 20);
        if (r > 0) return true;
        if (r < 0 && errno != EINTR) return false;
    }
    return false;
}

/* Serves requests on one connection until the peer closes or stop. */
static void serve(tu_http *h, int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        char *hend = NULL;
        while (!(hend = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len + 1 >= cap || !wait_readable(h, fd)) goto out;
            ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
            if (n <= 0) goto out;
            len += (size_t)n;
        }
        buf[len] = 0;
        size_t clen = 0;
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl && cl < hend) clen = strtoul(cl + 17, NULL, 10);
        size_t total = (size_t)(hend + 4 - buf) + clen;
        while (total + 1 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) goto out;
            buf = nb;
            cap *= 2;
        }
        while (len < total) {
            if (!wait_readable(h, fd)) goto out;
            ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
            if (n <= 0) goto out;
            len += (size_t)n;
        }
        size_t hlen = total - clen;
        pthread_mutex_lock(&h->mu);
        snprintf(h->last_head, sizeof h->last_head, "%.*s", (int)hlen, buf);
        pthread_mutex_unlock(&h->mu);
        atomic_fetch_add(&h->requests, 1);
        int status;
        while ((status = atomic_load(&h->status)) == 0 && !atomic_load(&h->stop)) {
            struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
            poll(&pfd, 1, 10); /* hold; keep noticing a peer that gave up */
            if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) goto out;
        }
        if (status == 0) goto out;
        if (status >= 200 && status < 300) {
            pthread_mutex_lock(&h->mu);
            if (h->n_bodies == h->cap_bodies) {
                size_t c = h->cap_bodies ? h->cap_bodies * 2 : 16;
                char **nb = realloc(h->bodies, c * sizeof *nb);
                if (nb) {
                    h->bodies = nb;
                    h->cap_bodies = c;
                }
            }
            if (h->n_bodies < h->cap_bodies) h->bodies[h->n_bodies++] = strndup(buf + hlen, clen);
            pthread_mutex_unlock(&h->mu);
        }
        char resp[128];
        int rl = snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", status);
        if (send(fd, resp, (size_t)rl, MSG_NOSIGNAL) != rl) goto out;
        memmove(buf, buf + total, len - total);
        len -= total;
    }
out:
    free(buf);
    close(fd);
}

static void *http_main(void *arg)
{
    tu_http *h = arg;
    while (!atomic_load(&h->stop)) {
        if (!wait_readable(h, h->listen_fd)) break;
        int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        atomic_fetch_add(&h->connections, 1);
        serve(h, fd);
    }
    return NULL;
}

int tu_http_start(tu_http *h, int status)
{
    memset(h, 0, sizeof *h);
    atomic_init(&h->status, status);
    atomic_init(&h->stop, false);
    atomic_init(&h->requests, 0);
    atomic_init(&h->connections, 0);
    pthread_mutex_init(&h->mu, NULL);
    h->listen_fd = bound_socket(SOCK_STREAM, &h->port);
    if (h->listen_fd < 0 || listen(h->listen_fd, 16) != 0) return -1;
    return pthread_create(&h->thread, NULL, http_main, h) == 0 ? 0 : -1;
}

size_t tu_http_count(tu_http *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->n_bodies;
    pthread_mutex_unlock(&h->mu);
    return n;
}

char *tu_http_body(tu_http *h, size_t i)
{
    pthread_mutex_lock(&h->mu);
    char *b = i < h->n_bodies ? strdup(h->bodies[i]) : NULL;
    pthread_mutex_unlock(&h->mu);
    return b;
}

void tu_http_stop(tu_http *h)
{
    atomic_store(&h->stop, true);
    pthread_join(h->thread, NULL);
    close(h->listen_fd);
    for (size_t i = 0; i < h->n_bodies; i++)
        free(h->bodies[i]);
    free(h->bodies);
    pthread_mutex_destroy(&h->mu);
}
