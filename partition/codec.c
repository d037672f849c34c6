/*
 * codec.c: the slot table as bytes, for a ZooKeeper node.
 *
 * Layout (version 1, or 2 with a predecessor block; integers little-endian,
 * written byte by byte):
 *
 *   0  "MTPT"            magic
 *   4  u8  version = 1
 *   5  u8  owner encoding: 0 = runs, 1 = packed
 *   6  u16 reserved = 0
 *   8  u32 slot count = 16384
 *  12  u64 epoch
 *  20  i64 effective_ms
 *  28  u32 member count (1..65535)
 *  32  members, ids strictly ascending (bytewise):
 *        u8 id length (1..255), id bytes (no NUL), varint weight (1..65535)
 *      owners:
 *        runs:   varint run count, then per run varint member, varint length
 *                (length >= 1, adjacent runs differ, lengths sum to 16384)
 *        packed: 16384 indexes of b bits each, LSB first, b = bits(members-1)
 *                (at least 1), zero padding to a byte
 *      version 2 only, the table in force when this one was planned:
 *        u64 its epoch (1 .. this table's epoch - 1), 32 bytes its digest,
 *        u32 length, then that many bytes: a complete version 1 table with
 *        that epoch, or none (0: named only, too big to embed)
 *  end u32 CRC32C (Castagnoli) of every byte before it
 *
 * Varints are unsigned LEB128, minimal, at most 5 bytes. The encoder writes
 * whichever owner encoding is smaller (the decoder insists on that choice
 * too): a planned table is a few ranges per
 * member (runs: a few KB), a table churned by many changes tends to the
 * packed bound (16384 * b bits: 14 KB at 100 members). The decoder checks
 * the CRC before anything else it parses, then every field, and names the
 * byte offset of the first thing wrong; a table is accepted in exactly one
 * canonical form, so equal tables have equal bytes.
 */
#include "partition/partition.h"
#include "partition/errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC        "MTPT"
#define VERSION      1
#define VERSION_PREV 2 /* version 1 + the predecessor block */
#define ENC_RUNS     0
#define ENC_PACKED   1
#define HEADER_LEN   32
#define TRAILER_LEN  4

/* Bitwise CRC32C: a few KB per table change does not deserve a table. */
static uint32_t crc32c(const uint8_t *p, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static unsigned bits_for(uint32_t n_members)
{
    unsigned b = 1;
    while (b < 16 && (1u << b) < n_members)
        b++;
    return b;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
    if (w->failed) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *q = realloc(w->p, cap);
        if (!q) {
            w->failed = true;
            return;
        }
        w->p = q;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_le(wbuf *w, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, (size_t)bytes);
}

static void put_varint(wbuf *w, uint32_t v)
{
    uint8_t b[5];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v);
    put(w, b, n);
}

static size_t varint_len(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* The owner encoding a table must use: runs unless packed is smaller. The
 * decoder asks too, so each table has exactly one valid byte form. */
static bool choose_runs(const uint16_t *owner, uint32_t n_members, uint32_t *runs_out)
{
    uint32_t runs = 0;
    size_t runs_len = 0;
    for (uint32_t s = 0; s < PARTITION_SLOTS;) {
        uint32_t e = s;
        while (e < PARTITION_SLOTS && owner[e] == owner[s])
            e++;
        runs++;
        runs_len += varint_len(owner[s]) + varint_len(e - s);
        s = e;
    }
    runs_len += varint_len(runs);
    *runs_out = runs;
    return runs_len <= (PARTITION_SLOTS * bits_for(n_members) + 7) / 8;
}

/* The predecessor block (version 2): prev's table embedded when the whole
 * stays within PARTITION_ENCODED_MAX, else named only. */
static int put_prev(wbuf *w, const partition_table *t, const partition_prev *prev, char *err,
                    size_t errlen)
{
    if (prev->epoch < 1 || prev->epoch >= t->epoch || (prev->t && prev->t->epoch != prev->epoch)) {
        seterr(err, errlen, "predecessor epoch %llu is not before the table's %llu",
               (unsigned long long)prev->epoch, (unsigned long long)t->epoch);
        return -1;
    }
    uint8_t *pb = NULL;
    size_t plen = 0;
    if (prev->t && partition_table_encode(prev->t, &pb, &plen, err, errlen) != 0) return -1;
    if (w->len + 8 + 32 + 4 + plen + TRAILER_LEN > PARTITION_ENCODED_MAX) plen = 0;
    put_le(w, prev->epoch, 8);
    put(w, prev->digest, 32);
    put_le(w, plen, 4);
    if (plen) put(w, pb, plen);
    free(pb);
    return 0;
}

int partition_table_encode(const partition_table *t, uint8_t **buf, size_t *len, char *err,
                           size_t errlen)
{
    return partition_table_encode_prev(t, NULL, buf, len, err, errlen);
}

int partition_table_encode_prev(const partition_table *t, const partition_prev *prev, uint8_t **buf,
                                size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    if (t->n_members == 0 || t->n_members > PARTITION_MAX_MEMBERS) {
        seterr(err, errlen, "table has %u members (1..%u allowed)", t->n_members,
               PARTITION_MAX_MEMBERS);
        return -1;
    }
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++)
        if (t->owner[s] >= t->n_members) {
            seterr(err, errlen, "slot %u names member %u of %u", s, t->owner[s], t->n_members);
            return -1;
        }
    unsigned bits = bits_for(t->n_members);
    uint32_t runs = 0;
    bool use_runs = choose_runs(t->owner, t->n_members, &runs);

    wbuf w = {0};
    put(&w, MAGIC, 4);
    put_le(&w, prev ? VERSION_PREV : VERSION, 1);
    put_le(&w, use_runs ? ENC_RUNS : ENC_PACKED, 1);
    put_le(&w, 0, 2);
    put_le(&w, PARTITION_SLOTS, 4);
    put_le(&w, t->epoch, 8);
    put_le(&w, (uint64_t)t->effective_ms, 8);
    put_le(&w, t->n_members, 4);
    for (uint32_t i = 0; i < t->n_members; i++) {
        size_t n = strlen(t->ids[i]);
        if (n == 0 || n > PARTITION_MAX_ID_LEN ||
            (i > 0 && strcmp(t->ids[i - 1], t->ids[i]) >= 0) || t->weights[i] < 1 ||
            t->weights[i] > PARTITION_MAX_WEIGHT) {
            seterr(err, errlen, "member %u (\"%.64s\") is invalid or out of order", i, t->ids[i]);
            free(w.p);
            return -1;
        }
        put_le(&w, n, 1);
        put(&w, t->ids[i], n);
        put_varint(&w, t->weights[i]);
    }
    if (use_runs) {
        put_varint(&w, runs);
        for (uint32_t s = 0; s < PARTITION_SLOTS;) {
            uint32_t e = s;
            while (e < PARTITION_SLOTS && t->owner[e] == t->owner[s])
                e++;
            put_varint(&w, t->owner[s]);
            put_varint(&w, e - s);
            s = e;
        }
    } else {
        uint64_t acc = 0;
        unsigned have = 0;
        for (uint32_t s = 0; s < PARTITION_SLOTS; s++) {
            acc |= (uint64_t)t->owner[s] << have;
            have += bits;
            while (have >= 8) {
                put_le(&w, acc & 0xff, 1);
                acc >>= 8;
                have -= 8;
            }
        }
        if (have) put_le(&w, acc & 0xff, 1);
    }
    if (prev && put_prev(&w, t, prev, err, errlen) != 0) {
        free(w.p);
        return -1;
    }
    if (!w.failed) put_le(&w, crc32c(w.p, w.len), 4);
    if (w.failed) {
        seterr(err, errlen, "out of memory");
        free(w.p);
        return -1;
    }
    if (w.len > PARTITION_ENCODED_MAX) {
        seterr(err, errlen, "encoded table is %zu bytes, above the %u limit (member ids too long?)",
               w.len, PARTITION_ENCODED_MAX);
        free(w.p);
        return -1;
    }
    *buf = w.p;
    *len = w.len;
    return 0;
}

/* ---- reader --------------------------------------------------------------- */

typedef struct rbuf {
    const uint8_t *p;
    size_t len, off; /* len excludes the CRC */
    char *err;
    size_t errlen;
} rbuf;

static int need(rbuf *r, size_t n, const char *what)
{
    if (r->len - r->off >= n) return 0;
    seterr(r->err, r->errlen, "truncated at byte %zu: %s needs %zu bytes, %zu left", r->off, what,
           n, r->len - r->off);
    return -1;
}

static int get_le(rbuf *r, uint64_t *v, int bytes, const char *what)
{
    if (need(r, (size_t)bytes, what) != 0) return -1;
    *v = 0;
    for (int i = 0; i < bytes; i++)
        *v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += (size_t)bytes;
    return 0;
}

static int get_varint(rbuf *r, uint32_t *v, const char *what)
{
    size_t start = r->off;
    uint64_t acc = 0;
    for (int i = 0; i < 5; i++) {
        if (need(r, 1, what) != 0) return -1;
        uint8_t b = r->p[r->off++];
        acc |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (acc > UINT32_MAX || (i > 0 && b == 0)) {
                seterr(r->err, r->errlen, "byte %zu: %s is an overlong or oversized varint", start,
                       what);
                return -1;
            }
            *v = (uint32_t)acc;
            return 0;
        }
    }
    seterr(r->err, r->errlen, "byte %zu: %s varint runs past 5 bytes", start, what);
    return -1;
}

static int bad(rbuf *r, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(rbuf *r, size_t off, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    seterr(r->err, r->errlen, "byte %zu: %s", off, why);
    return -1;
}

static int read_header(rbuf *r, uint64_t *version, uint64_t *enc, uint64_t *epoch, uint64_t *eff,
                       uint64_t *n)
{
    uint64_t v = 0;
    if (get_le(r, &v, 1, "version") != 0) return -1;
    if (v != VERSION && v != VERSION_PREV)
        return bad(r, 4, "version %llu, expected %d or %d", (unsigned long long)v, VERSION,
                   VERSION_PREV);
    *version = v;
    if (get_le(r, enc, 1, "owner encoding") != 0) return -1;
    if (*enc != ENC_RUNS && *enc != ENC_PACKED)
        return bad(r, 5, "owner encoding %llu is neither 0 (runs) nor 1 (packed)",
                   (unsigned long long)*enc);
    if (get_le(r, &v, 2, "reserved") != 0) return -1;
    if (v != 0) return bad(r, 6, "reserved field is %llu, expected 0", (unsigned long long)v);
    if (get_le(r, &v, 4, "slot count") != 0) return -1;
    if (v != PARTITION_SLOTS)
        return bad(r, 8, "slot count %llu, expected %u", (unsigned long long)v, PARTITION_SLOTS);
    if (get_le(r, epoch, 8, "epoch") != 0 || get_le(r, eff, 8, "effective_ms") != 0 ||
        get_le(r, n, 4, "member count") != 0)
        return -1;
    if (*n < 1 || *n > PARTITION_MAX_MEMBERS)
        return bad(r, 28, "member count %llu is outside 1..%u", (unsigned long long)*n,
                   PARTITION_MAX_MEMBERS);
    return 0;
}

/* ids are copied, NUL-terminated, one after another into ids (sized by the
 * input: r->len + n bytes), so a lying member count cannot make us allocate
 * more than the input justifies. */
static int read_members(rbuf *r, partition_member *m, char *ids, uint32_t n)
{
    char *id = ids;
    for (uint32_t i = 0; i < n; i++) {
        size_t at = r->off;
        uint64_t idlen = 0;
        if (get_le(r, &idlen, 1, "member id length") != 0) return -1;
        if (idlen == 0) return bad(r, at, "member %u has an empty id", i);
        if (need(r, idlen, "member id") != 0) return -1;
        if (memchr(r->p + r->off, 0, idlen))
            return bad(r, r->off, "member %u id contains a NUL byte", i);
        memcpy(id, r->p + r->off, idlen);
        id[idlen] = '\0';
        if (i > 0 && strcmp(m[i - 1].id, id) >= 0)
            return bad(r, at,
                       "member %u id \"%.64s\" is not after \"%.64s\" (duplicate or unsorted)", i,
                       id, m[i - 1].id);
        r->off += idlen;
        at = r->off;
        uint32_t w = 0;
        if (get_varint(r, &w, "member weight") != 0) return -1;
        if (w < 1 || w > PARTITION_MAX_WEIGHT)
            return bad(r, at, "member %u weight %u is outside 1..%u", i, w, PARTITION_MAX_WEIGHT);
        m[i] = (partition_member){.id = id, .weight = w};
        id += idlen + 1;
    }
    return 0;
}

static int read_runs(rbuf *r, uint16_t *owner, uint32_t n)
{
    size_t at = r->off;
    uint32_t runs = 0, s = 0;
    if (get_varint(r, &runs, "run count") != 0) return -1;
    if (runs < 1 || runs > PARTITION_SLOTS)
        return bad(r, at, "run count %u is outside 1..%u", runs, PARTITION_SLOTS);
    for (uint32_t k = 0; k < runs; k++) {
        uint32_t m = 0, len = 0;
        at = r->off;
        if (get_varint(r, &m, "run member") != 0) return -1;
        if (m >= n) return bad(r, at, "run %u names member %u of %u", k, m, n);
        if (s > 0 && owner[s - 1] == m)
            return bad(r, at, "run %u repeats the member of the run before it", k);
        at = r->off;
        if (get_varint(r, &len, "run length") != 0) return -1;
        if (len < 1 || len > PARTITION_SLOTS - s)
            return bad(r, at, "run %u length %u is outside 1..%u", k, len, PARTITION_SLOTS - s);
        for (uint32_t e = s + len; s < e; s++)
            owner[s] = (uint16_t)m;
    }
    if (s != PARTITION_SLOTS)
        return bad(r, r->off, "runs cover %u slots, expected %u", s, PARTITION_SLOTS);
    return 0;
}

static int read_packed(rbuf *r, uint16_t *owner, uint32_t n)
{
    unsigned bits = bits_for(n);
    size_t bytes = (PARTITION_SLOTS * bits + 7) / 8;
    if (need(r, bytes, "packed owners") != 0) return -1;
    const uint8_t *p = r->p + r->off;
    uint64_t acc = 0;
    unsigned have = 0;
    size_t used = 0;
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++) {
        while (have < bits) {
            acc |= (uint64_t)p[used++] << have;
            have += 8;
        }
        uint32_t m = (uint32_t)(acc & ((1u << bits) - 1));
        acc >>= bits;
        have -= bits;
        if (m >= n)
            return bad(r, r->off + (size_t)s * bits / 8, "slot %u names member %u of %u", s, m, n);
        owner[s] = (uint16_t)m;
    }
    if (acc != 0) return bad(r, r->off + used - 1, "packed owners' padding bits are not zero");
    r->off += bytes;
    return 0;
}

/* The predecessor block of a table of `epoch` (version 2). */
static int read_prev(rbuf *r, uint64_t epoch, partition_prev *prev)
{
    size_t at = r->off;
    uint64_t pe = 0, plen = 0;
    if (get_le(r, &pe, 8, "predecessor epoch") != 0) return -1;
    if (pe < 1 || pe >= epoch)
        return bad(r, at, "predecessor epoch %llu is outside 1..%llu", (unsigned long long)pe,
                   (unsigned long long)epoch - 1);
    if (need(r, 32, "predecessor digest") != 0) return -1;
    memcpy(prev->digest, r->p + r->off, 32);
    r->off += 32;
    if (get_le(r, &plen, 4, "predecessor length") != 0 || need(r, plen, "predecessor") != 0)
        return -1;
    prev->epoch = pe;
    if (!plen) return 0;
    char why[200];
    /* one level only: a predecessor's own predecessor is history nobody needs */
    if (plen > 4 && r->p[r->off + 4] != VERSION)
        return bad(r, r->off + 4, "the embedded predecessor is version %u, expected %d",
                   (unsigned)r->p[r->off + 4], VERSION);
    if (partition_table_decode(r->p + r->off, plen, &prev->t, why, sizeof why) != 0)
        return bad(r, r->off, "the embedded predecessor: %s (offsets from its start)", why);
    if (prev->t->epoch != pe)
        return bad(r, r->off + 12, "the embedded predecessor's epoch %llu is not the named %llu",
                   (unsigned long long)prev->t->epoch, (unsigned long long)pe);
    r->off += plen;
    return 0;
}

int partition_table_decode(const uint8_t *buf, size_t len, partition_table **out, char *err,
                           size_t errlen)
{
    partition_prev prev;
    int rc = partition_table_decode_prev(buf, len, out, &prev, err, errlen);
    if (rc == 0) partition_table_free(prev.t);
    return rc;
}

int partition_table_decode_prev(const uint8_t *buf, size_t len, partition_table **out,
                                partition_prev *prev, char *err, size_t errlen)
{
    *out = NULL;
    memset(prev, 0, sizeof *prev);
    if (len > PARTITION_ENCODED_MAX) {
        seterr(err, errlen, "%zu bytes is above the %u limit", len, PARTITION_ENCODED_MAX);
        return -1;
    }
    if (len < HEADER_LEN + TRAILER_LEN) {
        seterr(err, errlen, "%zu bytes is shorter than the %d-byte minimum", len,
               HEADER_LEN + TRAILER_LEN);
        return -1;
    }
    if (memcmp(buf, MAGIC, 4) != 0) {
        seterr(err, errlen, "byte 0: magic is not \"" MAGIC "\" (not a meterd slot table)");
        return -1;
    }
    size_t body = len - TRAILER_LEN;
    uint32_t want = (uint32_t)buf[body] | (uint32_t)buf[body + 1] << 8 |
                    (uint32_t)buf[body + 2] << 16 | (uint32_t)buf[body + 3] << 24;
    uint32_t got = crc32c(buf, body);
    if (want != got) {
        seterr(err, errlen, "byte %zu: CRC32C 0x%08x does not match the content's 0x%08x", body,
               want, got);
        return -1;
    }
    rbuf r = {.p = buf, .len = body, .off = 4, .err = err, .errlen = errlen};
    uint64_t version = 0, enc = 0, epoch = 0, eff = 0, n = 0;
    if (read_header(&r, &version, &enc, &epoch, &eff, &n) != 0) return -1;
    if (n * 3 > r.len - r.off) /* each member takes at least 3 bytes: bound the allocation */
        return bad(&r, 28, "member count %llu cannot fit in %zu bytes", (unsigned long long)n,
                   r.len - r.off);
    partition_member *m = malloc(n * sizeof *m);
    char *ids = malloc(r.len + n);
    uint16_t *owner = malloc(PARTITION_SLOTS * sizeof *owner);
    partition_table *t = NULL;
    int rc = -1;
    if (!m || !ids || !owner) {
        seterr(err, errlen, "out of memory");
        goto done;
    }
    if (read_members(&r, m, ids, (uint32_t)n) != 0) goto done;
    if ((enc == ENC_RUNS ? read_runs(&r, owner, (uint32_t)n)
                         : read_packed(&r, owner, (uint32_t)n)) != 0)
        goto done;
    if (version == VERSION_PREV && read_prev(&r, epoch, prev) != 0) goto done;
    if (r.off != r.len) {
        bad(&r, r.off, "%zu unexpected bytes after the %s", r.len - r.off,
            version == VERSION_PREV ? "predecessor" : "owners");
        goto done;
    }
    uint32_t runs = 0;
    if (choose_runs(owner, (uint32_t)n, &runs) != (enc == ENC_RUNS)) {
        bad(&r, 5, "owner encoding %s, but %s is smaller (not the canonical form)",
            enc == ENC_RUNS ? "runs" : "packed", enc == ENC_RUNS ? "packed" : "runs");
        goto done;
    }
    t = partition_table_new(m, n, err, errlen);
    if (!t) goto done;
    t->epoch = epoch;
    t->effective_ms = (int64_t)eff;
    memcpy(t->owner, owner, sizeof t->owner);
    *out = t;
    rc = 0;
done:
    if (rc != 0) {
        partition_table_free(prev->t);
        memset(prev, 0, sizeof *prev);
    }
    free(m);
    free(ids);
    free(owner);
    return rc;
}
