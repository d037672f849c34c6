/*
 * publishers/common.h (internal to agent/): what several publisher plugins share —
 * the JSON encoding of a sample (file, udp, http), query options, a
 * non-blocking UDP sender (udp, statsd) and a small string-keyed hash map
 * (statsd baselines, prometheus series). Kept out of publisher.h so the
 * plugin contract stays small.
 */
#ifndef METERD_AGENT_PUB_COMMON_H
#define METERD_AGENT_PUB_COMMON_H

#include "agent/loop.h" /* loop_now_ms, loop_wall_ms */
#include "agent/sample.h"
#include "agent/strbuf.h"
#include "pipeline/pipeline.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- JSON ---- */

/* Caches the ISO-8601 text of the last second formatted (gmtime_r is slow). */
typedef struct pub_ts_cache {
    int64_t sec;
    char text[24]; /* "2026-11-22T00:03:37" */
} pub_ts_cache;

void pub_ts_cache_init(pub_ts_cache *c);

/*
 * Appends one sample as a JSON object: name, type, unit, value (null when not
 * finite), resource, timestamp (ISO-8601 UTC with ms), source, epoch, labels.
 */
void pub_json_sample(strbuf *out, const sample_batch *b, const sample *s, pub_ts_cache *tc);

/* ---- query options ("a=1&b=2") ---- */

/*
 * An option of the plugin's validated URL: its value, else the default its
 * registry row declares (registry/publishers.c holds the types and bounds,
 * checked when the URL was parsed and again by publisher_open).
 */
long pub_opt_long(const pipeline_publisher *u, const char *key);
void pub_opt_str(const pipeline_publisher *u, const char *key, char *out, size_t cap);

/* ---- UDP ---- */

typedef struct pub_udp {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} pub_udp;

/* Resolves host:port once (IPv4 or IPv6) and opens a non-blocking socket. */
int pub_udp_open(pub_udp *u, const char *host, int port, char *err, size_t errlen);

/*
 * calloc(size) of a plugin struct whose FIRST member is a pub_udp, opened to
 * host:port. NULL with err set.
 */
void *pub_udp_new(size_t size, const char *host, int port, char *err, size_t errlen);

/* One non-blocking sendto; 0, or -1 with errno kept. */
int pub_udp_send(pub_udp *u, const void *data, size_t len);
void pub_udp_close(pub_udp *u);

/*
 * Sends datagrams as cut by a plugin: the ends[] are offsets into buf.
 * Returns PUBLISH_OK, PUBLISH_RETRY when nothing went out, PUBLISH_FAIL when
 * part of the batch went out (retrying would duplicate it).
 */
int pub_udp_send_all(pub_udp *u, const char *buf, const size_t *ends, size_t n, char *err,
                     size_t errlen);

/*
 * Packs records into datagrams of at most payload bytes: each datagram is
 * pre + rec (sep rec)* + post. A record that alone exceeds the payload goes
 * in a datagram of its own. ends[i] is the offset in buf where datagram i ends.
 */
typedef struct pub_pack {
    strbuf buf;
    size_t *ends;
    size_t n, cap;
    size_t start, payload;
    bool open, failed;
    char pre, sep, post; /* 0: none */
} pub_pack;

void pub_pack_init(pub_pack *k, size_t payload, char pre, char sep, char post);
void pub_pack_reset(pub_pack *k);
void pub_pack_add(pub_pack *k, const char *rec, size_t len);
void pub_pack_end(pub_pack *k);
void pub_pack_free(pub_pack *k);

/* ---- string-keyed hash map (chaining; keys copied) ---- */

typedef struct pub_map_entry {
    struct pub_map_entry *next;
    uint64_t hash;
    void *value;
    char key[];
} pub_map_entry;

typedef struct pub_map {
    pub_map_entry **b;
    size_t nbuckets, n;
} pub_map;

/* The map's hash of n bytes (also the prometheus store's). */
uint64_t pub_hash_bytes(const char *s, size_t n);
void pub_map_init(pub_map *m);
/* Frees entries; free_value (may be NULL) is called on each value. */
void pub_map_free(pub_map *m, void (*free_value)(void *));
pub_map_entry *pub_map_get(const pub_map *m, const char *key, size_t keylen);
/* Returns the existing entry or a new one with value NULL; NULL on ENOMEM. */
pub_map_entry *pub_map_put(pub_map *m, const char *key, size_t keylen);
/* Removes the entry (which must be in m) and frees it; not its value. */
void pub_map_del(pub_map *m, pub_map_entry *e);
/* Calls fn on every entry; fn returns true to delete the entry (after fn). */
void pub_map_sweep(pub_map *m, bool (*fn)(pub_map_entry *e, void *arg), void *arg);

/* ---- the built-in plugins (publisher_plugins[] lists them) ---- */

struct publisher_plugin;
extern const struct publisher_plugin pub_file_plugin;
extern const struct publisher_plugin pub_udp_plugin;
extern const struct publisher_plugin pub_statsd_plugin;
extern const struct publisher_plugin pub_http_plugin;
extern const struct publisher_plugin pub_https_plugin;
extern const struct publisher_plugin pub_prometheus_plugin;

/* ---- misc ---- */

#endif
