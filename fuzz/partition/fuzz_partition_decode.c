/*
 * fuzz_partition_decode.c: the slot table arrives from ZooKeeper, where
 * anyone with write access (or a bug) can put any bytes. Decoding must
 * reject garbage without crashing, and whatever it accepts must encode back
 * to exactly the same bytes (the format has one canonical form). A mutated
 * table almost never keeps a valid CRC32C, so most inputs get their trailer
 * recomputed and the fuzzer reaches the parser behind the checksum; inputs
 * whose last byte has its low 3 bits set (one in eight) stay raw, so the
 * length, magic and checksum checks keep being fuzzed too.
 */
#include "partition/partition.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    if (size >= 4 && (buf[size - 1] & 7u) != 7u) {
        /* the codec keeps a little-endian CRC32C of the rest in the last 4 bytes */
        uint32_t c = crc32c(buf, size - 4);
        for (int i = 0; i < 4; i++)
            buf[size - 4 + i] = (uint8_t)(c >> (8 * i));
    }
    partition_table *t = NULL;
    char err[256];
    if (partition_table_decode(buf, size, &t, err, sizeof err) == 0) {
        uint8_t *again = NULL;
        size_t len = 0;
        if (partition_table_encode(t, &again, &len, err, sizeof err) != 0) abort();
        if (len != size || memcmp(again, buf, size) != 0) abort(); /* not canonical */
        free(again);
        partition_table_free(t);
    }
    free(buf);
    return 0;
}
