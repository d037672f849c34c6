/*
 * pollsters/tcp.c: a central pollster that checks remote endpoints: the time
 * a TCP connect takes and whether it succeeds. Targets are the source's
 * resources, written as tcp://host:port (IPv6 in brackets); they are
 * partitioned across the group like every shared target.
 *
 * The connect is non-blocking with a timeout (the source's `timeout`
 * parameter, default 2 s, at most 10 s; the older ?timeout_ms= in the
 * resource still counts when no parameter is given), so a black-holed host
 * costs one worker that long and never more; a refused or unreachable port answers at once.
 * Resolution uses getaddrinfo and tries each address in turn within the same deadline.
 */
#include "agent/pollsters/tcp.h"

#include "agent/pollster.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int tcp_parse_target(const char *url, char *host, size_t hcap, char *port, size_t pcap,
                     int *timeout_ms, char *err, size_t errlen)
{
    if (strncmp(url, "tcp://", 6) != 0) {
        snprintf(err, errlen, "resource \"%s\": expected tcp://host:port", url);
        return -1;
    }
    const char *h = url + 6, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end || end[1] != ':') goto bad;
        snprintf(host, hcap, "%.*s", (int)(end - h - 1), h + 1);
        h = end + 2;
    } else {
        end = strchr(h, ':');
        if (!end || end == h) goto bad;
        snprintf(host, hcap, "%.*s", (int)(end - h), h);
        h = end + 1;
    }
    size_t n = strspn(h, "0123456789");
    if (n == 0 || n > 5 || atoi(h) < 1 || atoi(h) > 65535) goto bad;
    snprintf(port, pcap, "%.*s", (int)n, h);
    *timeout_ms = 2000;
    const char *q = strstr(h, "timeout_ms=");
    if (q) {
        int t = atoi(q + 11);
        if (t >= 1 && t <= 10000) *timeout_ms = t;
    }
    return 0;
bad:
    snprintf(err, errlen, "resource \"%s\": expected tcp://host:port with port 1..65535", url);
    return -1;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Connects within the deadline: 1 up, 0 down (why in err), -1 bad target. */
static int try_connect(const char *host, const char *port, int timeout_ms, double *ms, char *err,
                       size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int64_t t0 = mono_us(), deadline = t0 + (int64_t)timeout_ms * 1000;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return 0;
    }
    int up = 0;
    snprintf(err, errlen, "%s:%s: no address", host, port);
    for (struct addrinfo *ai = res; ai && !up; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int e = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            e = errno;
            if (e == EINPROGRESS) {
                int left = (int)((deadline - mono_us()) / 1000);
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                if (left <= 0 || poll(&p, 1, left) != 1)
                    e = ETIMEDOUT;
                else {
                    socklen_t len = sizeof e;
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
                }
            }
        }
        close(fd);
        if (e == 0)
            up = 1;
        else
            snprintf(err, errlen, "%s:%s: %s", host, port, strerror(e));
        if (mono_us() >= deadline) break;
    }
    freeaddrinfo(res);
    *ms = (double)(mono_us() - t0) / 1000.0;
    return up;
}

/* The `timeout` parameter in ms, or 0 when the source gives none. */
static int tcp_configure(const pipeline_param *v, size_t n, void **config, char *err, size_t errlen)
{
    long *ms = calloc(1, sizeof *ms);
    if (!ms) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pipeline_param_find(v, n, "timeout"))
        *ms = registry_param_ms(&registry_tcp_connect, v, n, "timeout");
    *config = ms;
    return 0;
}

static int tcp_poll(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                    char *err, size_t errlen)
{
    (void)state;
    char host[256], port[8];
    int timeout_ms;
    if (tcp_parse_target(t->id, host, sizeof host, port, sizeof port, &timeout_ms, err, errlen) !=
        0)
        return -1;
    const long *param_ms = env->config;
    if (param_ms && *param_ms > 0) timeout_ms = (int)*param_ms;
    double ms = 0;
    char why[300] = "";
    int up = try_connect(host, port, timeout_ms, &ms, why, sizeof why);
    if ((env->want[0] && sample_batch_add(out, registry_tcp_connect.meters[0], SAMPLE_GAUGE, "1",
                                          up, t->resource, env->now_ms, NULL, 0) != 0) ||
        (env->want[1] && up &&
         sample_batch_add(out, registry_tcp_connect.meters[1], SAMPLE_GAUGE, "ms", ms, t->resource,
                          env->now_ms, NULL, 0) != 0)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* a down endpoint is a measurement (up = 0), not a failed poll */
    return 0;
}

const pollster_plugin pollster_tcp = {
    .desc = &registry_tcp_connect,
    .poll = tcp_poll,
    .configure = tcp_configure,
    .unconfigure = free,
};
