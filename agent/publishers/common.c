/*
 * publishers/common.c: helpers shared by the publisher plugins.
 *
 * - JSON: samples are encoded straight into a strbuf (no jansson tree per
 *   sample: it would cost several allocations per sample on the hot path);
 *   the ISO-8601 second is cached because a batch's samples share it.
 * - Query options: tiny "k=v&k=v" reader with percent decoding; unknown keys
 *   are refused at open so a typo does not silently fall back to a default.
 * - UDP: the destination is resolved once at open (a DNS stall never hits the
 *   publish path); the socket is non-blocking so a full send buffer loses a
 *   datagram instead of stalling the publisher thread.
 * - Hash map: chaining with power-of-two buckets, keys stored inline in the
 *   entry (one allocation per key); deletion is cheap, which the stale-series
 *   sweeps need.
 */
#include "agent/publishers/common.h"
#include "registry/registry.h"
#include "agent/publisher.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- JSON ---- */

void pub_ts_cache_init(pub_ts_cache *c)
{
    c->sec = INT64_MIN;
    c->text[0] = 0;
}

static void put_timestamp(strbuf *out, int64_t ms, pub_ts_cache *tc)
{
    int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int milli = (int)(ms - sec * 1000);
    if (sec != tc->sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
        strftime(tc->text, sizeof tc->text, "%Y-%m-%dT%H:%M:%S", &tm);
        tc->sec = sec;
    }
    strbuf_printf(out, "\"%s.%03dZ\"", tc->text, milli);
}

void pub_json_sample(strbuf *out, const sample_batch *b, const sample *s, pub_ts_cache *tc)
{
    strbuf_puts(out, "{\"name\":");
    strbuf_put_json_string(out, s->name);
    strbuf_puts(out, ",\"type\":\"");
    strbuf_puts(out, sample_type_name(s->type));
    strbuf_puts(out, "\",\"unit\":");
    strbuf_put_json_string(out, s->unit ? s->unit : "");
    strbuf_puts(out, ",\"value\":");
    if (isfinite(s->value))
        strbuf_put_double(out, s->value);
    else
        strbuf_puts(out, "null");
    strbuf_puts(out, ",\"resource\":");
    strbuf_put_json_string(out, s->resource ? s->resource : "");
    strbuf_puts(out, ",\"timestamp\":");
    put_timestamp(out, s->time_ms, tc);
    strbuf_puts(out, ",\"source\":");
    strbuf_put_json_string(out, b->source ? b->source : "");
    strbuf_printf(out, ",\"epoch\":%llu,\"labels\":{", (unsigned long long)b->epoch);
    for (size_t i = 0; i < s->n_labels; i++) {
        if (i) strbuf_putc(out, ',');
        strbuf_put_json_string(out, s->labels[i].key);
        strbuf_putc(out, ':');
        strbuf_put_json_string(out, s->labels[i].value);
    }
    strbuf_puts(out, "}}");
}

/* ---- query options ---- */

long pub_opt_long(const pipeline_publisher *u, const char *key)
{
    return registry_query_long(registry_publisher_find(u->scheme), u->query, key);
}

void pub_opt_str(const pipeline_publisher *u, const char *key, char *out, size_t cap)
{
    registry_query_str(registry_publisher_find(u->scheme), u->query, key, out, cap);
}

/* ---- UDP ---- */

int pub_udp_open(pub_udp *u, const char *host, int port, char *err, size_t errlen)
{
    u->fd = -1;
    if (!host || !*host || port <= 0 || port > 65535) {
        snprintf(err, errlen, "expected host:port");
        return -1;
    }
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        u->fd = fd;
        memcpy(&u->addr, ai->ai_addr, ai->ai_addrlen);
        u->addrlen = ai->ai_addrlen;
        break;
    }
    freeaddrinfo(res);
    if (u->fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", host, strerror(saved));
        return -1;
    }
    return 0;
}

void *pub_udp_new(size_t size, const char *host, int port, char *err, size_t errlen)
{
    pub_udp *u = calloc(1, size);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (pub_udp_open(u, host, port, err, errlen) != 0) {
        free(u);
        return NULL;
    }
    return u;
}

int pub_udp_send(pub_udp *u, const void *data, size_t len)
{
    ssize_t n;
    do
        n = sendto(u->fd, data, len, MSG_NOSIGNAL, (struct sockaddr *)&u->addr, u->addrlen);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

int pub_udp_send_all(pub_udp *u, const char *buf, const size_t *ends, size_t n, char *err,
                     size_t errlen)
{
    size_t sent = 0, start = 0;
    int first_errno = 0;
    for (size_t i = 0; i < n; i++) {
        if (pub_udp_send(u, buf + start, ends[i] - start) == 0)
            sent++;
        else if (!first_errno)
            first_errno = errno;
        start = ends[i];
    }
    if (sent == n) return PUBLISH_OK;
    snprintf(err, errlen, "sendto: %s (%zu of %zu datagrams lost)", strerror(first_errno), n - sent,
             n);
    return sent == 0 ? PUBLISH_RETRY : PUBLISH_FAIL;
}

void pub_udp_close(pub_udp *u)
{
    if (u->fd >= 0) close(u->fd);
    u->fd = -1;
}

/* ---- datagram packing ---- */

void pub_pack_init(pub_pack *k, size_t payload, char pre, char sep, char post)
{
    memset(k, 0, sizeof *k);
    strbuf_init(&k->buf);
    k->payload = payload;
    k->pre = pre;
    k->sep = sep;
    k->post = post;
}

void pub_pack_reset(pub_pack *k)
{
    strbuf_reset(&k->buf);
    k->n = k->start = 0;
    k->open = k->failed = false;
}

static void pack_close(pub_pack *k)
{
    if (!k->open) return;
    if (k->post) strbuf_putc(&k->buf, k->post);
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        size_t *e = realloc(k->ends, cap * sizeof *e);
        if (!e) {
            k->failed = true;
            return;
        }
        k->ends = e;
        k->cap = cap;
    }
    k->ends[k->n++] = k->buf.len;
    k->start = k->buf.len;
    k->open = false;
}

void pub_pack_add(pub_pack *k, const char *rec, size_t len)
{
    size_t extra = (k->sep ? 1 : 0) + len + (k->post ? 1 : 0);
    if (k->open && k->buf.len - k->start + extra > k->payload) pack_close(k);
    if (k->open) {
        if (k->sep) strbuf_putc(&k->buf, k->sep);
    } else {
        if (k->pre) strbuf_putc(&k->buf, k->pre);
        k->open = true;
    }
    strbuf_append(&k->buf, rec, len);
}

void pub_pack_end(pub_pack *k)
{
    pack_close(k);
    if (k->buf.failed) k->failed = true;
}

void pub_pack_free(pub_pack *k)
{
    strbuf_free(&k->buf);
    free(k->ends);
    k->ends = NULL;
    k->n = k->cap = 0;
}

/* ---- hash map ---- */

/* Eight bytes a step (multiply-xorshift, as in wyhash/murmur's finaliser):
 * keys are whole rendered series (~150 bytes), where FNV-1a's byte at a time
 * was the prometheus:// publisher's largest cost. */
uint64_t pub_hash_bytes(const char *s, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ULL;
    uint64_t h = 0x243F6A8885A308D3ULL ^ (n * k);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * k;
    h ^= h >> 32;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 31;
    return h;
}

void pub_map_init(pub_map *m)
{
    m->b = NULL;
    m->nbuckets = m->n = 0;
}

void pub_map_free(pub_map *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        pub_map_entry *e = m->b[i];
        while (e) {
            pub_map_entry *next = e->next;
            if (free_value) free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->b);
    pub_map_init(m);
}

pub_map_entry *pub_map_get(const pub_map *m, const char *key, size_t keylen)
{
    if (!m->nbuckets) return NULL;
    uint64_t h = pub_hash_bytes(key, keylen);
    for (pub_map_entry *e = m->b[h & (m->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strlen(e->key) == keylen && memcmp(e->key, key, keylen) == 0) return e;
    return NULL;
}

static bool grow(pub_map *m)
{
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
    pub_map_entry **b = calloc(nb, sizeof *b);
    if (!b) return false;
    for (size_t i = 0; i < m->nbuckets; i++) {
        pub_map_entry *e = m->b[i];
        while (e) {
            pub_map_entry *next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nbuckets = nb;
    return true;
}

pub_map_entry *pub_map_put(pub_map *m, const char *key, size_t keylen)
{
    pub_map_entry *e = pub_map_get(m, key, keylen);
    if (e) return e;
    if (m->n >= m->nbuckets && !grow(m) && !m->nbuckets) return NULL;
    e = malloc(sizeof *e + keylen + 1);
    if (!e) return NULL;
    e->hash = pub_hash_bytes(key, keylen);
    e->value = NULL;
    memcpy(e->key, key, keylen);
    e->key[keylen] = 0;
    size_t i = e->hash & (m->nbuckets - 1);
    e->next = m->b[i];
    m->b[i] = e;
    m->n++;
    return e;
}

void pub_map_del(pub_map *m, pub_map_entry *e)
{
    pub_map_entry **pp = &m->b[e->hash & (m->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (!*pp) return;
    *pp = e->next;
    m->n--;
    free(e);
}

void pub_map_sweep(pub_map *m, bool (*fn)(pub_map_entry *e, void *arg), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        pub_map_entry **pp = &m->b[i];
        while (*pp) {
            pub_map_entry *e = *pp;
            if (fn(e, arg)) {
                *pp = e->next;
                m->n--;
                free(e);
            } else {
                pp = &e->next;
            }
        }
    }
}

/* ---- misc ---- */
