/*
 * publishers/statsd.c: the statsd://host[:port] publisher (Etsy statsd line protocol).
 *
 * Names: `<prefix>.<resource>.<meter>[.<key>_<value>...]`, prefix "meterd"
 * by default (`?prefix=`, empty for none). statsd has no labels, so the
 * resource and the sample labels are folded into the name. The resource's
 * dots become '_' (a host name "db1.example.com" must stay ONE path element
 * for graphite-style backends) while the meter keeps its dots (its hierarchy
 * is meaningful). Everything outside [A-Za-z0-9_-] (and '.' in the meter)
 * becomes '_' — in particular ':' '|' '@' and whitespace, which would break
 * the line protocol.
 *
 * Types:
 * - gauge → `name:v|g`. statsd reads a leading sign as a change to the
 *   previous gauge, so a negative value is sent as `name:0|g` then
 *   `name:-5|g` in the same datagram.
 * - cumulative → a counter of the change since the previous value of the
 *   same series, `name:d|c`. The first value only sets the baseline (sending
 *   the whole total would be one huge spike). A value lower than the baseline
 *   is a counter reset: the new value itself is the change, as Prometheus'
 *   rate() assumes.
 * - delta → `name:v|c` as is.
 * Non-finite values are skipped: statsd would parse them as garbage.
 *
 * Baselines live in a hash map keyed by the full statsd name, swept every
 * minute of entries not seen for max_age seconds (default 3600, `?max_age=`)
 * so removed targets do not leak memory.
 *
 * Several lines go in one datagram, separated by '\n', up to `payload` bytes
 * (default 1432: Etsy's recommendation for an Ethernet MTU; `?payload=`).
 * A datagram the kernel refuses is not retried (PUBLISH_FAIL): statsd over
 * UDP is lossy by design and a retry would re-send counters as zero deltas.
 */
#include "agent/publishers/common.h"
#include "agent/publisher.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct baseline {
    double last;
    int64_t seen_ms;
} baseline;

typedef struct statsd_pub {
    pub_udp sock; /* first: pub_udp_new */
    pub_pack pack;
    strbuf name, rec;
    char prefix[128];
    pub_map base;
    int64_t max_age_ms, last_sweep_ms;
} statsd_pub;

static int statsd_open(const pipeline_publisher *u, void *pstate, void **self, char *err,
                       size_t errlen)
{
    (void)pstate;
    long payload = pub_opt_long(u, "payload"), max_age = pub_opt_long(u, "max_age");
    char prefix[128];
    pub_opt_str(u, "prefix", prefix, sizeof prefix);
    statsd_pub *p = pub_udp_new(sizeof *p, u->host, u->port, err, errlen);
    if (!p) return -1;
    pub_pack_init(&p->pack, (size_t)payload, 0, '\n', 0);
    strbuf_init(&p->name);
    strbuf_init(&p->rec);
    pub_map_init(&p->base);
    p->max_age_ms = max_age * 1000;
    p->last_sweep_ms = loop_now_ms();
    /* the prefix is sanitised like a meter: dots kept */
    for (char *c = prefix; *c; c++)
        if (!(*c == '.' || *c == '_' || *c == '-' || (*c >= '0' && *c <= '9') ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            *c = '_';
    snprintf(p->prefix, sizeof p->prefix, "%s", prefix);
    *self = p;
    return 0;
}

static void put_sanitised(strbuf *out, const char *s, bool keep_dots)
{
    size_t start = out->len;
    for (; *s; s++) {
        char c = *s;
        bool ok = c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                  (c >= 'A' && c <= 'Z') || (keep_dots && c == '.');
        strbuf_putc(out, ok ? c : '_');
    }
    if (out->len == start) strbuf_putc(out, '_');
}

static void build_name(statsd_pub *p, const sample *s)
{
    strbuf_reset(&p->name);
    if (p->prefix[0]) {
        strbuf_puts(&p->name, p->prefix);
        strbuf_putc(&p->name, '.');
    }
    if (s->resource && s->resource[0]) {
        put_sanitised(&p->name, s->resource, false);
        strbuf_putc(&p->name, '.');
    }
    put_sanitised(&p->name, s->name, true);
    for (size_t i = 0; i < s->n_labels; i++) {
        strbuf_putc(&p->name, '.');
        put_sanitised(&p->name, s->labels[i].key, false);
        strbuf_putc(&p->name, '_');
        put_sanitised(&p->name, s->labels[i].value, false);
    }
}

static void put_line(statsd_pub *p, double v, const char *kind)
{
    strbuf_append(&p->rec, p->name.buf, p->name.len);
    strbuf_putc(&p->rec, ':');
    strbuf_put_double(&p->rec, v);
    strbuf_putc(&p->rec, '|');
    strbuf_puts(&p->rec, kind);
}

/* Returns true when the sample yields a line (false: baseline only). */
static bool counter_delta(statsd_pub *p, double v, int64_t now, double *delta)
{
    pub_map_entry *e = pub_map_put(&p->base, p->name.buf, p->name.len);
    if (!e) return false;
    baseline *bl = e->value;
    if (!bl) {
        bl = malloc(sizeof *bl);
        if (!bl) {
            pub_map_del(&p->base, e);
            return false;
        }
        bl->last = v;
        bl->seen_ms = now;
        e->value = bl;
        return false;
    }
    *delta = v >= bl->last ? v - bl->last : v;
    bl->last = v;
    bl->seen_ms = now;
    return true;
}

static bool expired(pub_map_entry *e, void *arg)
{
    const int64_t *cutoff = arg;
    baseline *bl = e->value;
    if (bl->seen_ms >= *cutoff) return false;
    free(bl);
    return true;
}

static int statsd_publish(void *self, const sample_batch *b, char *err, size_t errlen)
{
    statsd_pub *p = self;
    int64_t now = loop_now_ms();
    pub_pack_reset(&p->pack);
    for (size_t i = 0; i < b->n; i++) {
        const sample *s = &b->v[i];
        if (!isfinite(s->value)) continue;
        build_name(p, s);
        strbuf_reset(&p->rec);
        double d;
        switch (s->type) {
        case SAMPLE_GAUGE:
            if (s->value < 0) {
                put_line(p, 0, "g");
                strbuf_putc(&p->rec, '\n');
            }
            put_line(p, s->value, "g");
            break;
        case SAMPLE_CUMULATIVE:
            if (!counter_delta(p, s->value, now, &d)) continue;
            put_line(p, d, "c");
            break;
        case SAMPLE_DELTA:
            put_line(p, s->value, "c");
            break;
        }
        pub_pack_add(&p->pack, p->rec.buf, p->rec.len);
    }
    pub_pack_end(&p->pack);
    if (now - p->last_sweep_ms >= 60000) {
        int64_t cutoff = now - p->max_age_ms;
        pub_map_sweep(&p->base, expired, &cutoff);
        p->last_sweep_ms = now;
    }
    if (p->pack.failed || p->name.failed || p->rec.failed) {
        pub_pack_free(&p->pack);
        strbuf_free(&p->name);
        strbuf_free(&p->rec);
        snprintf(err, errlen, "out of memory encoding %zu samples", b->n);
        return PUBLISH_FAIL; /* baselines moved: a retry would lose deltas anyway */
    }
    int rc = pub_udp_send_all(&p->sock, p->pack.buf.buf, p->pack.ends, p->pack.n, err, errlen);
    /* no retry: the baselines already moved, a retry would send zero deltas */
    return rc == PUBLISH_RETRY ? PUBLISH_FAIL : rc;
}

static void statsd_close(void *self)
{
    statsd_pub *p = self;
    pub_udp_close(&p->sock);
    pub_pack_free(&p->pack);
    strbuf_free(&p->name);
    strbuf_free(&p->rec);
    pub_map_free(&p->base, free);
    free(p);
}

const publisher_plugin pub_statsd_plugin = {
    .scheme = "statsd",
    .open = statsd_open,
    .publish = statsd_publish,
    .close = statsd_close,
};
