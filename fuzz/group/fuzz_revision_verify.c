/*
 * fuzz_revision_verify.c: a revision's signature string and body come from
 * ZooKeeper or pub-sub, written by anyone who can reach them. Input: byte 0
 * sets the key length (0..63 bytes taken next), then the signature up to the
 * first '\n', then the body. Verifying must never crash or leak, must say
 * why it refuses, and must refuse what the key did not sign. When byte 0 has
 * its top bit set, the harness signs the body itself: that signature must
 * verify, and must not once the body is changed.
 */
#include "../common/fuzz_cstr.h"
#include "group/group.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t keylen = data[0] & 63u;
    if (keylen > size - 1) keylen = size - 1;
    const uint8_t *key = data + 1, *rest = key + keylen;
    size_t left = size - 1 - keylen;
    const uint8_t *body;
    char *sig = fuzz_line(rest, left, &body);
    if (!sig) return 0;
    size_t blen = (size_t)(data + size - body);
    uint8_t *copy = malloc(blen ? blen : 1);
    if (!copy) {
        free(sig);
        return 0;
    }
    if (blen) memcpy(copy, body, blen); /* exactly blen bytes: ASan sees overreads */

    char why[256];
    why[0] = 0;
    if (group_revision_verify(key, keylen, sig, copy, blen, why, sizeof why) != 0 && !why[0])
        abort(); /* every refusal says why */
    if (data[0] & 0x80u) {
        char mine[GROUP_SIGNATURE_MAX];
        if (group_revision_sign(key, keylen, copy, blen, mine) != 0) abort();
        if (group_revision_verify(key, keylen, mine, copy, blen, why, sizeof why) != 0) abort();
        if (blen) {
            copy[blen / 2] ^= 1u;
            if (group_revision_verify(key, keylen, mine, copy, blen, why, sizeof why) == 0)
                abort(); /* a changed body still verified */
        }
    }
    free(copy);
    free(sig);
    return 0;
}
