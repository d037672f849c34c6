#!/usr/bin/env python3
"""Checks the C baseline against tooz.hashring.HashRing's algorithm.

Replays tooz/hashring.py (add_nodes with weights, _get_partition with
bisect.bisect and wrap-around) on the fixture `bench_partition --tooz-owners`
prints, and compares owners line by line.

Usage: bench_partition --tooz-owners | python3 check_tooz_ring.py
"""
import bisect
import hashlib
import sys

ring = {}
for i in range(10):
    key = ("host-%04d.central" % i).encode()
    key_hash = hashlib.md5(key)  # tooz starts the object with the key
    for _ in range(32 * (2 if i == 0 else 1)):
        key_hash.update(key)
        ring[int(key_hash.hexdigest(), 16)] = i
points = sorted(ring)

got = [int(line) for line in sys.stdin]
want = []
for j in range(2000):
    h = int(hashlib.md5(("target-%d" % j).encode()).hexdigest(), 16)
    p = bisect.bisect(points, h)
    want.append(ring[points[p if p < len(points) else 0]])
bad = sum(1 for a, b in zip(got, want) if a != b)
if len(got) != len(want) or bad:
    print("MISMATCH: %d of %d owners differ" % (bad, len(want)))
    sys.exit(1)
print("OK: %d owners identical to tooz.hashring" % len(want))
