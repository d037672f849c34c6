/*
 * coord_4lw.c: a ZooKeeper server's four-letter words (`srvr`, `cons`) over
 * a plain TCP connection, bounded by a timeout. The session code asks `srvr`
 * while cut off, to notice a server that serves again when the client
 * library's own connection attempt hangs (coord_session.c: re-dialling);
 * meterctl status asks `cons` for the sessions connected now.
 */
#include "coord_int.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Waits until fd is ready for events or the deadline passes. */
static bool ready_by(int fd, short events, int64_t deadline)
{
    for (;;) {
        int left = (int)(deadline - coord_now_ms());
        if (left <= 0) return false;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left);
        if (n > 0) return true;
        if (n == 0 || errno != EINTR) return false;
    }
}

/* A connected socket to host:port by the deadline, or -1. */
static int dial(const char *host, const char *port, int64_t deadline)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd =
        socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, res->ai_protocol);
    int rc = fd >= 0 ? connect(fd, res->ai_addr, res->ai_addrlen) : -1;
    freeaddrinfo(res);
    if (rc != 0 && fd >= 0 && errno == EINPROGRESS && ready_by(fd, POLLOUT, deadline)) {
        int err = 0;
        socklen_t len = sizeof err;
        rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 ? 0 : -1;
    }
    if (rc != 0 && fd >= 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int coord_four_letter(const char *host_port, const char *cmd, int timeout_ms, char *out, size_t cap)
{
    if (!cap) return COORD_EINVAL;
    out[0] = 0;
    char hp[300], *host = hp;
    snprintf(hp, sizeof hp, "%s", host_port);
    char *colon = strrchr(hp, ':');
    if (!colon || strlen(cmd) != 4) return COORD_EINVAL;
    *colon = 0;
    if (host[0] == '[') { /* [v6]:port */
        host++;
        char *close_b = strchr(host, ']');
        if (close_b) *close_b = 0;
    }
    int64_t deadline = coord_now_ms() + timeout_ms;
    int fd = dial(host, colon + 1, deadline);
    if (fd < 0) return COORD_ENOCONN;
    int rc = send(fd, cmd, 4, MSG_NOSIGNAL) == 4 ? COORD_OK : COORD_ENOCONN;
    size_t n = 0;
    while (rc == COORD_OK) {
        if (!ready_by(fd, POLLIN, deadline)) {
            rc = COORD_ETIMEOUT;
            break;
        }
        ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) break; /* the server closes after its reply */
        n += (size_t)r;
        if (n == cap - 1) {
            rc = COORD_ETOOBIG;
            break;
        }
    }
    close(fd);
    out[n] = 0;
    /* "cons is not executed because it is not in the whitelist." */
    if (rc == COORD_OK && strstr(out, "not executed because")) rc = COORD_ENOAUTH;
    return rc;
}
