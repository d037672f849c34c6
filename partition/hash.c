/*
 * hash.c: the slot of a target id, frozen forever.
 *
 * FNV-1a 64 walks the id one byte at a time, so the result cannot depend on
 * endianness, alignment, locale or word size; FNV alone mixes its last bytes
 * poorly into the low bits, so the splitmix64 finaliser (Stafford's "mix13"
 * constants) avalanches every input bit into every output bit before we take
 * the low 14 bits. No floating point, no seeds, no pointers. Golden values in
 * tests/partition pin the function: changing any constant here reshuffles
 * every target in every deployed group.
 */
#include "partition/partition.h"

#define FNV64_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV64_PRIME  UINT64_C(0x100000001b3)

uint64_t partition_hash64(const void *id, size_t len)
{
    const unsigned char *p = id;
    uint64_t h = FNV64_OFFSET;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV64_PRIME;
    }
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return h;
}

uint32_t partition_slot_of(const void *id, size_t len)
{
    return (uint32_t)(partition_hash64(id, len) % PARTITION_SLOTS);
}
