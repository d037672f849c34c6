/*
 * clock.c: the slot-table clock (see group.h for the rules).
 *
 * At most one table is pending (a new one supersedes it, see group.h); the
 * table in force is separate because it answers for every instant before
 * the pending one's, and a stored table that names its predecessor settles
 * which table that is.
 */
#include "group/group.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void group_clock_init(group_clock *c)
{
    memset(c, 0, sizeof *c);
}

void group_clock_free(group_clock *c)
{
    partition_table_free(c->cur.t);
    for (int i = 0; i < c->n_pending; i++)
        partition_table_free(c->pending[i].t);
    group_clock_init(c);
}

/* Puts pending[0] in force. */
static void promote_first(group_clock *c)
{
    partition_table_free(c->cur.t);
    c->cur = c->pending[0];
    memmove(&c->pending[0], &c->pending[1], (size_t)(c->n_pending - 1) * sizeof c->pending[0]);
    c->n_pending--;
    memset(&c->pending[c->n_pending], 0, sizeof c->pending[0]);
}

/*
 * The table stored names the one in force when it was planned (version 2):
 * that one holds until the stored one's instant. Ours when it is the same;
 * ours too when ours is newer (we put in force a table the leader still had
 * pending when it planned: going back would undo a handover that a leaver
 * may have acted on already, leaving its slots unpolled); else the leader's
 * (we lagged behind a write, or lost our session while the others moved on:
 * polling under ours would duplicate them); else none (named only: nothing
 * shared is ours until the instant, a gap, never a duplicate). Takes
 * prev->t.
 */
static void settle_in_force(group_clock *c, partition_prev *prev)
{
    char digest[65];
    pipeline_digest_hex(prev->digest, digest);
    if (c->cur.t && (c->cur.epoch > (int64_t)prev->epoch ||
                     (c->cur.epoch == (int64_t)prev->epoch && !strcmp(c->cur.digest, digest)))) {
        partition_table_free(prev->t);
        return;
    }
    partition_table_free(c->cur.t);
    c->cur = (group_clock_table){.t = prev->t, .epoch = prev->t ? (int64_t)prev->epoch : 0};
    if (prev->t) memcpy(c->cur.digest, digest, sizeof digest);
}

int group_clock_install(group_clock *c, const void *bytes, size_t len, int64_t epoch, char *err,
                        size_t errlen)
{
    if (epoch <= c->epoch) return 1;
    partition_table *t = NULL;
    partition_prev prev;
    const char *sig;
    const void *table;
    size_t siglen, tlen;
    group_table_split(bytes, len, &sig, &siglen, &table, &tlen); /* checked by the caller */
    if (partition_table_decode_prev(table, tlen, &t, &prev, err, errlen) != 0) return -1;
    group_clock_table e = {.t = t, .epoch = epoch};
    unsigned char sha[32];
    SHA256(bytes, len, sha);
    pipeline_digest_hex(sha, e.digest);
    if (prev.epoch) settle_in_force(c, &prev);
    /* ZooKeeper stores the newest table only: a member whose read lags
     * behind two writes never sees the one between them, so keeping it here
     * would make the members that did see it disagree with those that did
     * not, between its instant and the new one's. A new table supersedes
     * every pending one: all members go from the table in force to the
     * newest at its instant. */
    while (c->n_pending)
        partition_table_free(c->pending[--c->n_pending].t);
    c->pending[c->n_pending++] = e;
    c->epoch = epoch;
    return 0;
}

int group_clock_promote(group_clock *c, int64_t now_ms)
{
    int n = 0;
    for (; c->n_pending && c->pending[0].t->effective_ms <= now_ms; n++)
        promote_first(c);
    return n;
}

const partition_table *group_clock_table_at(const group_clock *c, int64_t t_ms)
{
    const partition_table *tb = c->cur.t;
    for (int i = 0; i < c->n_pending && c->pending[i].t->effective_ms <= t_ms; i++)
        tb = c->pending[i].t;
    return tb;
}

const group_clock_table *group_clock_newest(const group_clock *c)
{
    if (c->n_pending) return &c->pending[c->n_pending - 1];
    return c->cur.t ? &c->cur : NULL;
}

bool group_clock_has_table(const group_clock *c)
{
    return c->cur.t || c->n_pending;
}

int64_t group_clock_next_ms(const group_clock *c)
{
    return c->n_pending ? c->pending[0].t->effective_ms : -1;
}

void group_clock_owner_at(const group_clock *c, const char *target_id, int64_t t_ms,
                          group_owner *out)
{
    memset(out, 0, sizeof *out);
    out->slot = partition_slot_of(target_id, strlen(target_id));
    if (!group_clock_has_table(c)) {
        out->kind = GROUP_OWNER_NO_TABLE;
        return;
    }
    const partition_table *tb = group_clock_table_at(c, t_ms);
    if (!tb) {
        out->kind = GROUP_OWNER_UNKNOWN;
        return;
    }
    out->kind = GROUP_OWNER_MEMBER;
    out->table = tb;
    out->owner_id = tb->ids[partition_owner(tb, out->slot)];
}

int group_member_moves(const partition_table *before, const partition_table *after,
                       const char *member_id, const uint32_t *slot_load, group_moves *out)
{
    memset(out, 0, sizeof *out);
    partition_diff *d = NULL;
    if (partition_diff_tables(before, after, slot_load, &d) != 0) return -1;
    const partition_diff_member *m = NULL;
    for (size_t i = 0; i < d->n_members && !m; i++)
        if (!strcmp(d->members[i].id, member_id)) m = &d->members[i];
    if (before) {
        if (m) {
            out->slots_gained = m->slots_gained;
            out->slots_lost = m->slots_lost;
            out->targets_gained = m->load_gained;
            out->targets_lost = m->load_lost;
        }
    } else {
        /* without a table every member owned every slot: nothing is gained,
         * and what `after` gives to others is lost */
        uint64_t total = 0;
        for (uint32_t s = 0; s < PARTITION_SLOTS; s++)
            total += slot_load ? slot_load[s] : 1;
        out->slots_lost = PARTITION_SLOTS - (m ? m->slots_gained : 0);
        out->targets_lost = total - (m ? m->load_gained : 0);
    }
    if (!slot_load) out->targets_gained = out->targets_lost = 0;
    partition_diff_free(d);
    return 0;
}

static int hexval(char h)
{
    return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
}

int group_clock_in_force(const group_clock *c, partition_prev *out)
{
    memset(out, 0, sizeof *out);
    if (!c->cur.t || c->cur.epoch < 1) return -1;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(c->cur.digest[2 * i]), lo = hexval(c->cur.digest[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out->digest[i] = (uint8_t)(hi << 4 | lo);
    }
    if (!(out->t = partition_table_copy(c->cur.t))) return -1;
    out->epoch = (uint64_t)c->cur.epoch;
    /* the stored epoch is the node's version; a table written by hand may
     * carry another in its bytes: what is embedded must name itself */
    out->t->epoch = out->epoch;
    return 0;
}
