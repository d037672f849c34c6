/*
 * publishers/udp.c: the udp://host[:port] publisher (port default 4952: registry/publishers.c) —
 * JSON datagrams.
 *
 * Every datagram is a JSON array of sample objects (the same objects as the
 * file publisher's lines), packed greedily up to `payload` bytes (default
 * 1400: fits a 1500-byte Ethernet MTU after IPv6 + UDP headers, so no IP
 * fragmentation). A sample larger than the payload on its own goes alone in
 * a datagram of one. Always an array, even of one, so a receiver has one
 * shape to parse.
 *
 * The host is resolved once at open and the socket is non-blocking: publish
 * never waits on DNS or on a full socket buffer. UDP gives no delivery
 * guarantee; a datagram the kernel refuses (EAGAIN, ENOBUFS, ICMP errors) is
 * reported, and the batch retried only when none of it went out.
 */
#include "agent/publishers/common.h"
#include "agent/publisher.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct udp_pub {
    pub_udp sock; /* first: pub_udp_new */
    pub_pack pack;
    strbuf one;
    pub_ts_cache tc;
} udp_pub;

static int udp_open(const pipeline_publisher *u, void *pstate, void **self, char *err,
                    size_t errlen)
{
    (void)pstate;
    long payload = pub_opt_long(u, "payload");
    udp_pub *p = pub_udp_new(sizeof *p, u->host, u->port, err, errlen);
    if (!p) return -1;
    pub_pack_init(&p->pack, (size_t)payload, '[', ',', ']');
    strbuf_init(&p->one);
    pub_ts_cache_init(&p->tc);
    *self = p;
    return 0;
}

static int udp_publish(void *self, const sample_batch *b, char *err, size_t errlen)
{
    udp_pub *p = self;
    pub_pack_reset(&p->pack);
    for (size_t i = 0; i < b->n; i++) {
        strbuf_reset(&p->one);
        pub_json_sample(&p->one, b, &b->v[i], &p->tc);
        pub_pack_add(&p->pack, p->one.buf, p->one.len);
    }
    pub_pack_end(&p->pack);
    if (p->pack.failed || p->one.failed) {
        pub_pack_free(&p->pack);
        strbuf_free(&p->one);
        snprintf(err, errlen, "out of memory encoding %zu samples", b->n);
        return PUBLISH_RETRY;
    }
    return pub_udp_send_all(&p->sock, p->pack.buf.buf, p->pack.ends, p->pack.n, err, errlen);
}

static void udp_close(void *self)
{
    udp_pub *p = self;
    pub_udp_close(&p->sock);
    pub_pack_free(&p->pack);
    strbuf_free(&p->one);
    free(p);
}

const publisher_plugin pub_udp_plugin = {
    .scheme = "udp",
    .open = udp_open,
    .publish = udp_publish,
    .close = udp_close,
};
