/*
 * bench_metrics.c: what one self-metrics call costs the caller.
 *
 *   noop_ns_per_call            metrics_counter() on a noop handle
 *   noop_by_name_ns_per_call    metrics_send_counter() by name, noop
 *   prometheus_ns_per_call      one in-process counter increment
 *   statsd_calls_per_s          one thread, counters, a loopback receiver
 *                               draining the socket (a daemon that keeps up)
 *   statsd_mixed_calls_per_s    the same with counter/gauge/timer, doubles
 *   statsd_by_name_calls_per_s  metrics_send_counter() by name
 *   statsd_calls_per_s_daemon_down   nobody listens on the port
 *   statsd_calls_per_s_2_threads     two callers (this machine has 2 cores
 *                                    for callers *and* the flush thread)
 *
 * Usage: bench_metrics [calls]   (default 5,000,000 per statsd figure)
 */
#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct receiver {
    int fd, port;
    pthread_t th;
    atomic_bool stop;
    atomic_ulong datagrams, bytes;
} receiver;

static void *recv_main(void *arg)
{
    receiver *r = arg;
    char buf[65536];
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        if (poll(&p, 1, 20) != 1) continue;
        ssize_t n;
        while ((n = recv(r->fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
            atomic_fetch_add(&r->datagrams, 1);
            atomic_fetch_add(&r->bytes, (unsigned long)n);
        }
    }
    return NULL;
}

static int udp_bind(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("bench: bind");
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static metrics_registry *make(metrics_backend b, int port)
{
    metrics_config c;
    metrics_config_init(&c);
    c.backend = b;
    snprintf(c.statsd_host, sizeof c.statsd_host, "127.0.0.1");
    c.statsd_port = port ? port : 8125;
    snprintf(c.global_prefix, sizeof c.global_prefix, "bench");
    char err[256];
    metrics_registry *r = metrics_registry_create(&c, err, sizeof err);
    if (!r) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    return r;
}

static double noop_ns(long n, bool by_name)
{
    metrics_registry *r = make(METRICS_BACKEND_NOOP, 0);
    metrics_logger *l = metrics_get_logger(r, "meterd.agent");
    metrics_metric *volatile m = metrics_counter_get(l, "polls", NULL, 0);
    double t0 = now_s();
    if (by_name)
        for (long i = 0; i < n; i++)
            metrics_send_counter(l, "polls", 1, 1.0);
    else
        for (long i = 0; i < n; i++)
            metrics_counter(m, 1);
    double ns = (now_s() - t0) * 1e9 / (double)n;
    metrics_registry_destroy(r);
    return ns;
}

static double prom_ns(long n)
{
    metrics_registry *r = make(METRICS_BACKEND_PROMETHEUS, 0);
    metrics_metric *m =
        metrics_counter_get(metrics_get_logger(r, "meterd.agent"), "polls", NULL, 0);
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        metrics_counter(m, 1);
    double ns = (now_s() - t0) * 1e9 / (double)n;
    metrics_registry_destroy(r);
    return ns;
}

enum mode { COUNTERS, MIXED, BY_NAME };

typedef struct run {
    metrics_registry *reg;
    enum mode mode;
    long calls;
    double seconds;
} run;

static void *caller(void *arg)
{
    run *x = arg;
    metrics_logger *l = metrics_get_logger(x->reg, "meterd.agent.scheduler");
    metrics_metric *c = metrics_counter_get(l, "polls", NULL, 0);
    metrics_metric *g = metrics_gauge_get(l, "queue_depth", NULL, 0);
    metrics_metric *t = metrics_timer_get(l, "poll_duration", NULL, 0);
    double t0 = now_s();
    for (long i = 0; i < x->calls; i++) {
        switch (x->mode) {
        case COUNTERS:
            metrics_counter(c, 1);
            break;
        case MIXED:
            if (i % 3 == 0)
                metrics_counter(c, 1);
            else if (i % 3 == 1)
                metrics_gauge(g, (double)(i & 1023) - 512.25);
            else
                metrics_timer(t, (double)(i & 255) * 0.125);
            break;
        case BY_NAME:
            metrics_send_counter(l, "polls", 1, 1.0);
            break;
        }
    }
    x->seconds = now_s() - t0;
    return NULL;
}

typedef struct result {
    double calls_per_s, dropped_fraction;
    unsigned long datagrams_received;
} result;

static result statsd_run(long calls, int threads, enum mode mode, bool daemon_up)
{
    receiver rc = {0};
    int port;
    rc.fd = udp_bind(&port);
    if (daemon_up) {
        int big = 8 << 20;
        setsockopt(rc.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
        pthread_create(&rc.th, NULL, recv_main, &rc);
    } else {
        close(rc.fd); /* the port is now closed: ICMP unreachable for every datagram */
    }
    metrics_registry *r = make(METRICS_BACKEND_STATSD, port);
    run x[8];
    pthread_t th[8];
    for (int i = 0; i < threads; i++) {
        x[i] = (run){r, mode, calls / threads, 0};
        pthread_create(&th[i], NULL, caller, &x[i]);
    }
    double worst = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        if (x[i].seconds > worst) worst = x[i].seconds;
    }
    metrics_stats st;
    metrics_flush(r);
    metrics_get_stats(r, &st);
    metrics_registry_destroy(r);
    result res = {.calls_per_s = (double)calls / worst,
                  .dropped_fraction = (double)st.lines_dropped / (double)calls};
    if (daemon_up) {
        struct timespec nap = {0, 50 * 1000 * 1000};
        nanosleep(&nap, NULL);
        atomic_store(&rc.stop, true);
        pthread_join(rc.th, NULL);
        close(rc.fd);
        res.datagrams_received = atomic_load(&rc.datagrams);
    }
    return res;
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 5000000;
    if (calls < 1000) calls = 1000;
    double noop = noop_ns(200000000, false);
    double noop_name = noop_ns(50000000, true);
    double prom = prom_ns(50000000);
    result up = statsd_run(calls, 1, COUNTERS, true);
    result mixed = statsd_run(calls, 1, MIXED, true);
    result byname = statsd_run(calls, 1, BY_NAME, true);
    result down = statsd_run(calls, 1, COUNTERS, false);
    result two = statsd_run(calls, 2, COUNTERS, true);
    printf("{\"noop_ns_per_call\": %.2f, \"noop_by_name_ns_per_call\": %.2f, "
           "\"prometheus_ns_per_call\": %.2f, "
           "\"statsd_calls_per_s\": %.0f, \"statsd_dropped_fraction\": %.4f, "
           "\"statsd_datagrams_received\": %lu, "
           "\"statsd_mixed_calls_per_s\": %.0f, \"statsd_by_name_calls_per_s\": %.0f, "
           "\"statsd_calls_per_s_daemon_down\": %.0f, \"statsd_dropped_fraction_daemon_down\": "
           "%.4f, \"statsd_calls_per_s_2_threads\": %.0f, \"calls\": %ld}\n",
           noop, noop_name, prom, up.calls_per_s, up.dropped_fraction, up.datagrams_received,
           mixed.calls_per_s, byname.calls_per_s, down.calls_per_s, down.dropped_fraction,
           two.calls_per_s, calls);
    return 0;
}
