/*
 * tooz_ring.h: the baseline, tooz.hashring.HashRing as Ceilometer uses it.
 *
 * Member m contributes 32 * weight points: the md5 of its id repeated
 * 2, 3, ... times (tooz creates md5(id) and then updates that object with
 * the id once per point), each as a 128-bit big-endian integer. An object goes to the first point
 * strictly above md5(object id) (bisect.bisect), wrapping to the first point.
 */
#ifndef METERD_BENCH_TOOZ_RING_H
#define METERD_BENCH_TOOZ_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct tooz_pos {
    uint64_t hi, lo;
} tooz_pos;

typedef struct tooz_ring {
    size_t n;
    tooz_pos *pos;
    uint32_t *member; /* caller's member number per point */
} tooz_ring;

/* ids[i] with weights[i]; member numbers nums[i]. 0 or -1. */
int tooz_ring_build(tooz_ring *r, const char *const *ids, const uint32_t *weights,
                    const uint32_t *nums, size_t n, unsigned vnodes);
void tooz_ring_free(tooz_ring *r);
tooz_pos tooz_hash(const char *id, size_t len);
uint32_t tooz_ring_lookup(const tooz_ring *r, tooz_pos h);

#endif
