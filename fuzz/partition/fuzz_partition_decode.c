/*
 * fuzz_partition_decode.c: the slot table arrives from ZooKeeper, where
 * anyone with write access (or a bug) can put any bytes. Decoding must
 * reject garbage without crashing, and whatever it accepts must encode back
 * to exactly the same bytes (the format has one canonical form). A mutated
 * table almost never keeps a valid CRC32C, so most inputs get their trailer
 * recomputed (fuzz_patch_crc32c: one in eight stays raw).
 */
#include "partition/partition.h"

#include "../common/fuzz_crc32c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    fuzz_patch_crc32c(buf, size);
    partition_table *t = NULL;
    partition_prev prev;
    char err[256];
    if (partition_table_decode_prev(buf, size, &t, &prev, err, sizeof err) == 0) {
        uint8_t *again = NULL;
        size_t len = 0;
        if (partition_table_encode_prev(t, prev.epoch ? &prev : NULL, &again, &len, err,
                                        sizeof err) != 0)
            abort();
        if (len != size || memcmp(again, buf, size) != 0) abort(); /* not canonical */
        free(again);
        partition_table_free(prev.t);
        partition_table_free(t);
    }
    free(buf);
    return 0;
}
