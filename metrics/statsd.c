/*
 * statsd.c: the statsd backend: wire format, per-thread-ish buffering and the
 * flush thread; one UDP socket per registry.
 *
 * The caller formats its line on its own stack (no snprintf on the common
 * path), then appends it under the mutex of one of MX_SHARDS shards chosen
 * by a hash of the calling thread: threads rarely share a shard, so the lock
 * is uncontended. A shard's buffer is a run of datagrams already cut at line
 * boundaries (payload_size bytes at most, lines joined by '\n'), so a
 * negative gauge's two lines ("g:0|g\ng:-5|g") always travel in one
 * datagram, in order.
 *
 * Sending: the flush thread wakes every flush_interval_ms, or as soon as a
 * shard holds MX_KICK_BYTES, swaps the shard's buffer for its empty spare
 * (O(1) under the shard's mutex) and sends the batch with one
 * sendmmsg(MSG_DONTWAIT) on an unconnected socket: a stopped daemon costs no
 * error and no wait, and a full socket buffer loses datagrams (counted), it
 * never blocks. Only a caller emitting faster than the flush thread drains
 * (millions of lines a second) finds its shard full; it then sends that
 * shard itself, the same non-blocking way, instead of dropping: the work is
 * bounded (one batch of MX_SHARD_BYTES) and never waits on the network. A
 * per-shard send mutex keeps each shard's batches in order.
 *
 * Sampling is decided here, in the client, as statsd expects: the line is
 * sent with probability rate and carries |@rate so the server scales it.
 * The random draw is a splitmix64 over a per-shard atomic counter: lock-free,
 * no global state.
 *
 * Versus the reference implementation the seed describes: "|c|@0.5", not
 * "|c@0.5" (statsd 0.9 reads the latter as an unsampled 1: it undercounts);
 * negative gauges preceded by 0 (statsd reads a leading '-' as a decrement);
 * one socket and batched datagrams instead of a socket per metric.
 */
#include "metrics/internal.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MX_SHARDS       16
#define MX_SHARD_BYTES  (64 * 1024) /* one batch: 45 datagrams of 1432 bytes */
#define MX_SHARD_DGRAMS (MX_SHARD_BYTES / METRICS_PAYLOAD_MIN)
#define MX_KICK_BYTES   (16 * 1024) /* wake the flush thread when a shard holds this much */
#define MX_LINE_MAX     (METRICS_NAME_MAX + 80)
#define MX_SENDMMSG_MAX 64

typedef struct shard {
    pthread_mutex_t send_mu; /* taken before mu: one sender per shard, batches in order */
    char *spare;             /* under send_mu: the batch being sent, or empty */
    uint32_t spare_ends[MX_SHARD_DGRAMS + 1];
    pthread_mutex_t mu;
    char *buf;        /* max_dgrams * payload bytes, allocated on first use */
    size_t len;       /* bytes used */
    size_t open_len;  /* bytes of the datagram being filled (the last one) */
    unsigned ndgrams; /* closed datagrams */
    uint32_t ends[MX_SHARD_DGRAMS];
    bool kicked;
    uint64_t lines, dropped; /* under mu */
    _Atomic uint64_t rng, sampled_out;
} __attribute__((aligned(64))) shard;

struct mx_statsd {
    size_t payload;
    unsigned max_dgrams, kick_dgrams; /* per shard */
    int interval_ms;
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    shard shards[MX_SHARDS];
    /* the flush thread */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu; /* stop, kick, cond */
    pthread_cond_t cond;
    bool stop, kick;
    _Atomic uint64_t sent, send_dropped;
};

/* ---- formatting without snprintf ---- */

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

/* Fixed notation with up to `digits` decimals, trailing zeros removed. */
static char *put_fixed(char *p, double v, int digits)
{
    static const double scale[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    uint64_t ip = (uint64_t)v;
    uint64_t frac = (uint64_t)llround((v - (double)ip) * scale[digits]);
    if (frac >= (uint64_t)scale[digits]) {
        ip++;
        frac = 0;
    }
    p = put_u64(p, ip);
    if (frac) {
        *p++ = '.';
        char *start = p;
        for (int i = digits - 1; i >= 0; i--) {
            start[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        p = start + digits;
        while (p[-1] == '0')
            p--;
    }
    return p;
}

static char *put_double(char *p, double v)
{
    if (v == 0) return *p++ = '0', p; /* also -0 */
    double a = fabs(v);
    if (a < 1e15) {
        if (v == (double)(int64_t)v) return put_i64(p, (int64_t)v);
        if (a >= 1e-6) return put_fixed(p, v, 6);
    }
    /* huge or tiny: exponent notation, which statsd's Number() reads */
    return p + snprintf(p, 32, "%.17g", v);
}

static const char *type_suffix[] = {"|c", "|g", "|ms"};

static char *put_line(char *p, const metrics_metric *m, int64_t iv, double dv, double rate)
{
    memcpy(p, m->head, m->head_len);
    p += m->head_len;
    if (m->type == MX_COUNTER)
        p = put_i64(p, iv);
    else
        p = put_double(p, dv);
    const char *t = type_suffix[m->type];
    size_t tl = m->type == MX_TIMER ? 3 : 2;
    memcpy(p, t, tl);
    p += tl;
    if (rate < 1) {
        *p++ = '|';
        *p++ = '@';
        p = put_fixed(p, rate, 9);
    }
    return p;
}

/* ---- buffering ---- */

static unsigned shard_of_thread(void)
{
    uint64_t t = (uint64_t)(uintptr_t)pthread_self();
    t ^= t >> 29;
    t *= 0x9E3779B97F4A7C15ULL;
    return (unsigned)(t >> 60) & (MX_SHARDS - 1);
}

static double uniform(shard *sh)
{
    uint64_t z = atomic_fetch_add_explicit(&sh->rng, 0x9E3779B97F4A7C15ULL, memory_order_relaxed);
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static void kick(mx_statsd *s)
{
    pthread_mutex_lock(&s->mu);
    s->kick = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void flush_shard(mx_statsd *s, shard *sh);

/* Appends one unit (one line, or a negative gauge's two) to a shard. */
static void append(mx_statsd *s, shard *sh, const char *unit, size_t len)
{
    bool wake = false;
    pthread_mutex_lock(&sh->mu);
    /* only a negative gauge with a very long name in a tiny payload is that big */
    if (len > s->payload) goto drop;
    if (!sh->buf || !sh->spare) { /* first use (spare: no sender uses it while NULL) */
        if (!sh->buf) sh->buf = malloc(s->max_dgrams * s->payload);
        if (!sh->spare) sh->spare = malloc(s->max_dgrams * s->payload);
        if (!sh->buf || !sh->spare) goto drop; /* out of memory: retried next call */
    }
    for (int attempt = 0;; attempt++) {
        size_t need = sh->open_len ? len + 1 : len;
        if (sh->open_len + need <= s->payload) break; /* fits the open datagram */
        if (sh->ndgrams + 1 < s->max_dgrams) {        /* close it, open the next */
            sh->ends[sh->ndgrams++] = (uint32_t)sh->len;
            sh->open_len = 0;
            if (sh->ndgrams >= s->kick_dgrams && !sh->kicked) wake = sh->kicked = true;
            break;
        }
        if (attempt) goto drop; /* refilled by another thread while we sent */
        /* full: the flush thread is behind; send this shard ourselves */
        pthread_mutex_unlock(&sh->mu);
        flush_shard(s, sh);
        pthread_mutex_lock(&sh->mu);
    }
    char *p = sh->buf + sh->len;
    if (sh->open_len) *p++ = '\n';
    memcpy(p, unit, len);
    size_t used = (size_t)(p - (sh->buf + sh->len)) + len;
    sh->len += used;
    sh->open_len += used;
    sh->lines++;
    pthread_mutex_unlock(&sh->mu);
    if (wake) kick(s);
    return;
drop:
    sh->dropped++;
    pthread_mutex_unlock(&sh->mu);
}

int mx_statsd_emit(mx_statsd *s, const metrics_metric *m, int64_t iv, double dv, double rate)
{
    shard *sh = &s->shards[shard_of_thread()];
    if (rate < 1 && uniform(sh) >= rate) {
        atomic_fetch_add_explicit(&sh->sampled_out, 1, memory_order_relaxed);
        return 0;
    }
    char unit[2 * MX_LINE_MAX];
    char *p = unit;
    if (m->type == MX_GAUGE && dv < 0) {
        /* statsd reads "-5|g" as "minus 5": set 0 first, then the value (0 is
         * falsy in statsd, so the second line is taken as absolute) */
        p = put_line(p, m, 0, 0, rate);
        *p++ = '\n';
    }
    p = put_line(p, m, iv, dv, rate);
    append(s, sh, unit, (size_t)(p - unit));
    return 0;
}

/* ---- sending ---- */

static void send_all(mx_statsd *s, char *buf, const uint32_t *ends, unsigned n)
{
    struct mmsghdr msgs[MX_SENDMMSG_MAX];
    struct iovec iov[MX_SENDMMSG_MAX];
    unsigned i = 0;
    uint32_t start = 0;
    while (i < n) {
        unsigned batch = 0;
        for (; batch < MX_SENDMMSG_MAX && i + batch < n; batch++) {
            uint32_t end = ends[i + batch];
            iov[batch] = (struct iovec){buf + start, end - start};
            msgs[batch] = (struct mmsghdr){.msg_hdr = {.msg_name = &s->addr,
                                                       .msg_namelen = s->addrlen,
                                                       .msg_iov = &iov[batch],
                                                       .msg_iovlen = 1}};
            start = end;
        }
        unsigned done = 0;
        while (done < batch) {
            int r = sendmmsg(s->fd, msgs + done, batch - done, MSG_DONTWAIT);
            if (r < 0) {
                if (errno == EINTR) continue;
                /* EAGAIN, ENOBUFS, unreachable...: lose this datagram, never wait */
                atomic_fetch_add_explicit(&s->send_dropped, 1, memory_order_relaxed);
                done++;
                continue;
            }
            atomic_fetch_add_explicit(&s->sent, (uint64_t)r, memory_order_relaxed);
            done += (unsigned)r;
        }
        i += batch;
    }
}

/* Swaps the shard's buffer for its spare and sends the full one. */
static void flush_shard(mx_statsd *s, shard *sh)
{
    pthread_mutex_lock(&sh->send_mu);
    pthread_mutex_lock(&sh->mu);
    if (!sh->len || !sh->spare) {
        pthread_mutex_unlock(&sh->mu);
        pthread_mutex_unlock(&sh->send_mu);
        return;
    }
    unsigned n = sh->ndgrams;
    memcpy(sh->spare_ends, sh->ends, n * sizeof sh->ends[0]);
    if (sh->open_len) sh->spare_ends[n++] = (uint32_t)sh->len;
    char *full = sh->buf;
    sh->buf = sh->spare;
    sh->spare = full;
    sh->len = sh->open_len = 0;
    sh->ndgrams = 0;
    sh->kicked = false;
    pthread_mutex_unlock(&sh->mu);
    send_all(s, sh->spare, sh->spare_ends, n);
    pthread_mutex_unlock(&sh->send_mu);
}

void mx_statsd_flush(mx_statsd *s)
{
    for (unsigned k = 0; k < MX_SHARDS; k++)
        flush_shard(s, &s->shards[k]);
}

static void *flush_main(void *arg)
{
    mx_statsd *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += s->interval_ms / 1000;
        deadline.tv_nsec += (long)(s->interval_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!s->stop && !s->kick)
            if (pthread_cond_timedwait(&s->cond, &s->mu, &deadline) == ETIMEDOUT) break;
        bool stopping = s->stop;
        s->kick = false;
        pthread_mutex_unlock(&s->mu);
        mx_statsd_flush(s); /* at shutdown too: nothing buffered is lost */
        pthread_mutex_lock(&s->mu);
        if (stopping) break;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- life cycle ---- */

mx_statsd *mx_statsd_create(const metrics_config *cfg, char *err, size_t errlen)
{
    if (cfg->payload_size < METRICS_PAYLOAD_MIN || cfg->payload_size > METRICS_PAYLOAD_MAX) {
        mx_err(err, errlen, "[metrics] statsd_payload_size = %zu: expected %d..%d",
               cfg->payload_size, METRICS_PAYLOAD_MIN, METRICS_PAYLOAD_MAX);
        return NULL;
    }
    if (cfg->flush_interval_ms < 1 || cfg->flush_interval_ms > 60000) {
        mx_err(err, errlen, "[metrics] statsd_flush_interval_ms = %d: expected 1..60000",
               cfg->flush_interval_ms);
        return NULL;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->statsd_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(cfg->statsd_host, port, &hints, &res);
    if (gai == EAI_ADDRFAMILY || gai == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV; /* loopback-only hosts have no "configured" address */
        gai = getaddrinfo(cfg->statsd_host, port, &hints, &res);
    }
    if (gai != 0 || !res) {
        mx_err(err, errlen, "[metrics] statsd_host = \"%s\": cannot resolve: %s", cfg->statsd_host,
               gai_strerror(gai));
        return NULL;
    }
    mx_statsd *s = calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(res);
        mx_err(err, errlen, "metrics: out of memory");
        return NULL;
    }
    s->payload = cfg->payload_size;
    s->max_dgrams = (unsigned)(MX_SHARD_BYTES / s->payload);
    if (s->max_dgrams < 4) s->max_dgrams = 4;
    s->kick_dgrams = (unsigned)(MX_KICK_BYTES / s->payload);
    if (s->kick_dgrams < 1) s->kick_dgrams = 1;
    s->interval_ms = cfg->flush_interval_ms;
    memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
    s->addrlen = res->ai_addrlen;
    s->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    freeaddrinfo(res);
    if (s->fd < 0) {
        mx_err(err, errlen, "metrics: statsd socket: %s", strerror(errno));
        free(s);
        return NULL;
    }
    int sndbuf = 4 << 20; /* the kernel caps it at wmem_max; a bigger queue absorbs bursts */
    setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (unsigned k = 0; k < MX_SHARDS; k++) {
        pthread_mutex_init(&s->shards[k].mu, NULL);
        pthread_mutex_init(&s->shards[k].send_mu, NULL);
        atomic_init(&s->shards[k].rng, (uint64_t)now.tv_nsec * 0x2545F4914F6CDD1DULL +
                                           (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL + k);
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&s->thread, NULL, flush_main, s);
    if (rc != 0) {
        mx_err(err, errlen, "metrics: statsd flush thread: %s", strerror(rc));
        mx_statsd_destroy(s);
        return NULL;
    }
    s->thread_started = true;
    return s;
}

void mx_statsd_destroy(mx_statsd *s)
{
    if (!s) return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    for (unsigned k = 0; k < MX_SHARDS; k++) {
        pthread_mutex_destroy(&s->shards[k].mu);
        pthread_mutex_destroy(&s->shards[k].send_mu);
        free(s->shards[k].buf);
        free(s->shards[k].spare);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    close(s->fd);
    free(s);
}

void mx_statsd_stats(mx_statsd *s, metrics_stats *out)
{
    for (unsigned k = 0; k < MX_SHARDS; k++) {
        shard *sh = &s->shards[k];
        pthread_mutex_lock(&sh->mu);
        out->lines += sh->lines;
        out->lines_dropped += sh->dropped;
        pthread_mutex_unlock(&sh->mu);
        out->sampled_out += atomic_load_explicit(&sh->sampled_out, memory_order_relaxed);
    }
    out->datagrams_sent += atomic_load_explicit(&s->sent, memory_order_relaxed);
    out->datagrams_dropped += atomic_load_explicit(&s->send_dropped, memory_order_relaxed);
}
