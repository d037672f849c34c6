/*
 * tcp_relay.c: see tcp_relay.h. Loopback traffic of a test is small: a
 * blocking send of what one recv returned never holds the thread long.
 */
#include "tcp_relay.h"

#include "harness/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PAIRS 16

struct tcp_relay {
    int listen_fd, to_port, port;
    int wake[2];
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool cut_asked, stop;
    int cut_done; /* -1 while a cut is asked */
    int pair[MAX_PAIRS][2];
    int n;
};

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

static void drop(tcp_relay *r, int i)
{
    close(r->pair[i][0]);
    close(r->pair[i][1]);
    r->pair[i][0] = r->pair[r->n - 1][0];
    r->pair[i][1] = r->pair[r->n - 1][1];
    r->n--;
}

/* Moves what fd has to its peer; false once either end is done. */
static bool pass(int from, int to)
{
    char buf[65536];
    ssize_t got = recv(from, buf, sizeof buf, 0);
    if (got <= 0) return false;
    for (ssize_t off = 0; off < got;) {
        ssize_t w = send(to, buf + off, (size_t)(got - off), MSG_NOSIGNAL);
        if (w <= 0) return false;
        off += w;
    }
    return true;
}

static void *run(void *arg)
{
    tcp_relay *r = arg;
    for (;;) {
        struct pollfd p[2 + 2 * MAX_PAIRS];
        p[0] = (struct pollfd){.fd = r->wake[0], .events = POLLIN};
        p[1] = (struct pollfd){.fd = r->listen_fd, .events = POLLIN};
        for (int i = 0; i < r->n; i++) {
            p[2 + 2 * i] = (struct pollfd){.fd = r->pair[i][0], .events = POLLIN};
            p[3 + 2 * i] = (struct pollfd){.fd = r->pair[i][1], .events = POLLIN};
        }
        int n = r->n;
        if (poll(p, (nfds_t)(2 + 2 * n), -1) < 0) continue;
        if (p[0].revents) {
            char c;
            if (read(r->wake[0], &c, 1) < 0) continue;
            pthread_mutex_lock(&r->mu);
            bool stop = r->stop;
            if (r->cut_asked) {
                r->cut_asked = false;
                r->cut_done = r->n;
                while (r->n)
                    drop(r, 0);
                pthread_cond_broadcast(&r->cv);
            }
            pthread_mutex_unlock(&r->mu);
            if (stop) break;
            continue; /* the pairs moved */
        }
        /* from the last pair down: drop() moves the last one into a hole */
        for (int i = n - 1; i >= 0; i--) {
            bool ok = true;
            if (p[2 + 2 * i].revents) ok = pass(r->pair[i][0], r->pair[i][1]);
            if (ok && p[3 + 2 * i].revents) ok = pass(r->pair[i][1], r->pair[i][0]);
            if (!ok) drop(r, i);
        }
        if (p[1].revents) {
            int c = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            int u = c >= 0 ? dial(r->to_port) : -1;
            if (u >= 0 && r->n < MAX_PAIRS) {
                r->pair[r->n][0] = c;
                r->pair[r->n][1] = u;
                r->n++;
            } else {
                if (c >= 0) close(c);
                if (u >= 0) close(u);
            }
        }
    }
    while (r->n)
        drop(r, 0);
    return NULL;
}

tcp_relay *tcp_relay_start(int to_port)
{
    tcp_relay *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->to_port = to_port;
    r->port = th_free_port();
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(r->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(r->listen_fd, 16) != 0 || pipe(r->wake) != 0) {
        if (r->listen_fd >= 0) close(r->listen_fd);
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->th, NULL, run, r) != 0) {
        close(r->listen_fd);
        close(r->wake[0]);
        close(r->wake[1]);
        free(r);
        return NULL;
    }
    return r;
}

int tcp_relay_port(const tcp_relay *r)
{
    return r->port;
}

int tcp_relay_cut(tcp_relay *r)
{
    pthread_mutex_lock(&r->mu);
    r->cut_asked = true;
    r->cut_done = -1;
    if (write(r->wake[1], "c", 1) != 1) {
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    while (r->cut_done < 0)
        pthread_cond_wait(&r->cv, &r->mu);
    int n = r->cut_done;
    pthread_mutex_unlock(&r->mu);
    return n;
}

void tcp_relay_stop(tcp_relay *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_mutex_unlock(&r->mu);
    if (write(r->wake[1], "s", 1) == 1) pthread_join(r->th, NULL);
    close(r->listen_fd);
    close(r->wake[0]);
    close(r->wake[1]);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
