/*
 * fuzz_crc32c.h: slot tables end in a CRC32C of every byte before it, which a
 * mutation almost always breaks. Harnesses that feed tables recompute it for
 * most inputs so the fuzzer reaches the parser behind the checksum; inputs
 * whose last byte has its low 3 bits set (one in eight) stay raw, so the
 * length, magic and checksum checks keep being fuzzed too.
 */
#ifndef METERD_FUZZ_CRC32C_H
#define METERD_FUZZ_CRC32C_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t fuzz_crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}

/* Rewrites the little-endian CRC32C trailer of buf[0..size), unless the
 * input is one of the raw minority. */
static inline void fuzz_patch_crc32c(uint8_t *buf, size_t size)
{
    if (size < 4 || (buf[size - 1] & 7u) == 7u) return;
    uint32_t c = fuzz_crc32c(buf, size - 4);
    for (int i = 0; i < 4; i++)
        buf[size - 4 + i] = (uint8_t)(c >> (8 * i));
}

#endif
