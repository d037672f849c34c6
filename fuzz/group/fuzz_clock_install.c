/*
 * fuzz_clock_install.c: every member installs the slot tables it reads from
 * /meterd/<group>/assignment into its clock, and a writer (or a bug) can
 * leave any bytes there. Input: byte 0 picks how many tables (1..4) the rest
 * is cut into, equally, and which of them reuse an old epoch; each table gets
 * its CRC32C recomputed (fuzz_patch_crc32c). Installing must never crash or
 * leak, must say why it refuses, and the clock must keep answering: the
 * table at any instant, the owner of a target, promotion of what is due.
 */
#include "group/group.h"

#include "../common/fuzz_crc32c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ask(const group_clock *c, int64_t t)
{
    (void)group_clock_table_at(c, t);
    group_owner o;
    group_clock_owner_at(c, "node-7/cpu", t, &o);
    if (o.kind == GROUP_OWNER_MEMBER && (!o.owner_id || !o.table)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    int n = 1 + (data[0] & 3);
    size_t part = (size - 1) / (size_t)n;
    group_clock c;
    group_clock_init(&c);
    for (int i = 0; i < n; i++) {
        uint8_t *buf = malloc(part ? part : 1);
        if (!buf) break;
        if (part) memcpy(buf, data + 1 + (size_t)i * part, part);
        fuzz_patch_crc32c(buf, part);
        int64_t epoch = (data[0] >> (2 + i)) & 1 ? 1 : i + 1;
        char err[256];
        err[0] = 0;
        int rc = group_clock_install(&c, buf, part, epoch, err, sizeof err);
        free(buf); /* the clock must not keep pointers into the stored bytes */
        if (rc < -1 || rc > 1 || (rc == -1 && !err[0])) abort();
        const group_clock_table *nt = group_clock_newest(&c);
        if (rc == 0 && (!nt || !nt->t || nt->epoch != epoch)) abort();
        if (nt && nt->t) ask(&c, nt->t->effective_ms);
        ask(&c, 0);
    }
    int64_t next = group_clock_next_ms(&c);
    if (next >= 0) {
        if (group_clock_promote(&c, next) < 1) abort(); /* the first pending is due then */
        ask(&c, next);
    }
    (void)group_clock_promote(&c, INT64_MAX);
    if (group_clock_next_ms(&c) != -1) abort();
    if (group_clock_has_table(&c) != (group_clock_newest(&c) != NULL)) abort();
    ask(&c, INT64_MAX);
    group_clock_free(&c);
    return 0;
}
