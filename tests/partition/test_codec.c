/*
 * test_codec.c: the serialised table round-trips in both owner encodings,
 * and every malformed input is rejected with what and where. Inputs with a
 * correct CRC are built by hand so each structural check is reached.
 */
#include "partition/partition.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S PARTITION_SLOTS

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

static void reseal(uint8_t *buf, size_t len)
{
    uint32_t c = crc32c(buf, len - 4);
    for (int i = 0; i < 4; i++)
        buf[len - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
}

static partition_table *sample(size_t n, bool scattered)
{
    partition_member m[300];
    char ids[300][32];
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "node-%03zu", i);
        m[i] = (partition_member){ids[i], (uint32_t)(1 + i % 3)};
    }
    partition_table *t = partition_table_new(m, n, NULL, 0);
    assert_non_null(t);
    t->epoch = UINT64_C(0x0102030405060708);
    t->effective_ms = -1234567;
    for (uint32_t s = 0; s < S; s++)
        t->owner[s] = (uint16_t)(scattered ? (s * 7919u) % n : s * n / S);
    return t;
}

static void roundtrip(const partition_table *t, size_t *len_out, uint8_t encoding)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(partition_table_encode(t, &buf, &len, err, sizeof err), 0);
    assert_int_equal(buf[5], encoding);
    partition_table *u = NULL;
    if (partition_table_decode(buf, len, &u, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(u->epoch, t->epoch);
    assert_int_equal(u->effective_ms, t->effective_ms);
    assert_int_equal(u->n_members, t->n_members);
    for (uint32_t i = 0; i < t->n_members; i++) {
        assert_string_equal(u->ids[i], t->ids[i]);
        assert_int_equal(u->weights[i], t->weights[i]);
    }
    assert_memory_equal(u->owner, t->owner, sizeof t->owner);
    uint8_t *again = NULL;
    size_t len2 = 0;
    assert_int_equal(partition_table_encode(u, &again, &len2, err, sizeof err), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(again, buf, len); /* one canonical form */
    *len_out = len;
    free(again);
    free(buf);
    partition_table_free(u);
}

static void test_roundtrip(void **state)
{
    (void)state;
    size_t len;
    partition_table *t = sample(100, false); /* 100 runs */
    roundtrip(t, &len, 0);
    assert_true(len < 1500);
    partition_table_free(t);
    t = sample(100, true); /* every slot its own run: packed, 7 bits */
    roundtrip(t, &len, 1);
    assert_true(len < S * 7 / 8 + 1500);
    partition_table_free(t);
    t = sample(1, false);
    roundtrip(t, &len, 0);
    assert_true(len < 64);
    partition_table_free(t);
    t = sample(2, true);
    roundtrip(t, &len, 1);
    partition_table_free(t);
    t = sample(257, true); /* 9 bits, crosses byte boundaries unevenly */
    roundtrip(t, &len, 1);
    partition_table_free(t);
}

static void expect_reject(const uint8_t *buf, size_t len, const char *what)
{
    partition_table *u = NULL;
    char err[256] = "";
    assert_int_equal(partition_table_decode(buf, len, &u, err, sizeof err), -1);
    assert_null(u);
    if (!strstr(err, what)) fail_msg("error \"%s\" does not mention \"%s\"", err, what);
}

static uint8_t *encode(const partition_table *t, size_t *len)
{
    uint8_t *buf = NULL;
    char err[256];
    assert_int_equal(partition_table_encode(t, &buf, len, err, sizeof err), 0);
    return buf;
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    partition_table *t = sample(5, false);
    size_t len;
    uint8_t *buf = encode(t, &len);
    for (size_t cut = 0; cut < len; cut++) {
        partition_table *u = NULL;
        char err[256];
        assert_int_equal(partition_table_decode(buf, cut, &u, err, sizeof err), -1);
        assert_null(u);
    }
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            buf[i] ^= (uint8_t)(1u << bit);
            partition_table *u = NULL;
            char err[256];
            assert_int_equal(partition_table_decode(buf, len, &u, err, sizeof err), -1);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    buf[len - 1] ^= 1;
    expect_reject(buf, len, "CRC32C");
    buf[len - 1] ^= 1;
    buf[0] = 'X';
    expect_reject(buf, len, "magic");
    expect_reject(buf, 10, "shorter than");
    free(buf);
    partition_table_free(t);
}

/* Offsets in a 2-member table "a" (weight 1), "b" (weight 1), runs. */
static uint8_t *two_members(size_t *len)
{
    partition_member m[] = {{"a", 1}, {"b", 1}};
    partition_table *t = partition_table_new(m, 2, NULL, 0);
    for (uint32_t s = S / 2; s < S; s++)
        t->owner[s] = 1;
    uint8_t *buf = encode(t, len);
    partition_table_free(t);
    return buf;
}

/* members start at 32: [32]=1 'a' [34]=weight, [35]=1 'b' [37]=weight,
 * [38]=run count 2, [39]=member 0 [40..41]=8192, [42]=member 1, [43..44]=8192 */
static void test_structural(void **state)
{
    (void)state;
    size_t len;
    uint8_t *base = two_members(&len);
    assert_int_equal(len, 49);
    uint8_t *b = malloc(len + 8);

#define MUTATE(stmt, what)                                                                         \
    do {                                                                                           \
        memcpy(b, base, len);                                                                      \
        size_t blen = len;                                                                         \
        stmt;                                                                                      \
        reseal(b, blen);                                                                           \
        expect_reject(b, blen, what);                                                              \
    } while (0)

    MUTATE(b[4] = 3, "byte 4: version 3");
    MUTATE(b[5] = 7, "byte 5: owner encoding 7");
    MUTATE(b[6] = 1, "byte 6: reserved");
    MUTATE(b[9] = 0x10, "byte 8: slot count");
    MUTATE(memset(b + 28, 0, 4), "byte 28: member count 0");
    MUTATE(b[28] = 0xff, "member count 255 cannot fit");
    MUTATE(b[32] = 0, "byte 32: member 0 has an empty id");
    MUTATE(b[33] = 0, "member 0 id contains a NUL");
    MUTATE(b[36] = 'a', "byte 35: member 1 id \"a\" is not after \"a\"");
    MUTATE(b[33] = 'c', "not after \"c\"");
    MUTATE(b[34] = 0, "byte 34: member 0 weight 0");
    MUTATE(b[34] = 0x80, "truncated at byte 37: member id needs 98"); /* weight 128 */
    MUTATE(b[38] = 0, "byte 38: run count 0");
    MUTATE(b[39] = 2, "byte 39: run 0 names member 2 of 2");
    MUTATE(b[42] = 0, "byte 42: run 1 repeats the member");
    MUTATE((b[40] = 0, b[41] = 0), "run 0 length 0");
    MUTATE((b[43] = 0x81, b[44] = 0x40), "run 1 length 8193");
    MUTATE(b[38] = 1, "runs cover 8192 slots, expected 16384");
    MUTATE((b[45] = 0, blen = len + 1), "byte 45: 1 unexpected bytes after the owners");
    MUTATE((b[38] = 3, b[45] = 0, b[46] = 1, blen = len + 2), "byte 46: run 2 length 1");
    MUTATE((b[43] = 0x80, b[44] = 0x30), "runs cover 14336 slots");
    /* overlong varint: weight 1 as 0x81 0x00 */
    MUTATE((memmove(b + 35, b + 34, len - 34), b[34] = 0x81, b[35] = 0x00, blen = len + 1),
           "byte 34: member weight is an overlong");
    MUTATE(memset(b + 38, 0xff, 7), "byte 38: run count varint runs past 5 bytes");

    /* the same table packed (1 bit per slot) is valid but not canonical */
    uint8_t *pk = calloc(1, 38 + S / 8 + 4);
    memcpy(pk, base, 38);
    pk[5] = 1;
    memset(pk + 38 + S / 16, 0xff, S / 16);
    reseal(pk, 38 + S / 8 + 4);
    expect_reject(pk, 38 + S / 8 + 4, "byte 5: owner encoding packed, but runs is smaller");
    free(pk);

    /* packed: [38..] 2048 bytes of 1-bit owners */
    partition_member m[] = {{"a", 1}, {"b", 1}, {"c", 1}};
    partition_table *t = partition_table_new(m, 3, NULL, 0);
    for (uint32_t s = 0; s < S; s++)
        t->owner[s] = (uint16_t)(s % 3);
    size_t plen;
    uint8_t *p = encode(t, &plen);
    assert_int_equal(p[5], 1);
    assert_int_equal(plen, 41 + S * 2 / 8 + 4);
    p[41] |= 3; /* slot 0 names member 3 */
    reseal(p, plen);
    expect_reject(p, plen, "byte 41: slot 0 names member 3 of 3");
    free(p);
    free(b);
    free(base);
    partition_table_free(t);
#undef MUTATE
}

static void test_encode_limits(void **state)
{
    (void)state;
    partition_table *t = sample(3, false);
    t->owner[5] = 9; /* index beyond the member list */
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(partition_table_encode(t, &buf, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "slot 5 names member 9"));
    assert_null(buf);
    partition_table_free(t);
    static const uint8_t empty[1];
    assert_int_equal(partition_table_decode(empty, PARTITION_ENCODED_MAX + 1, &t, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "above the"));
}

/* Version 2: the predecessor round-trips embedded and named only, and
 * every field of its block is checked. */
static void test_predecessor(void **state)
{
    (void)state;
    partition_table *t = sample(10, false), *pt = sample(7, true);
    t->epoch = 9;
    pt->epoch = 8;
    partition_prev prev = {.epoch = 8, .t = pt};
    for (int i = 0; i < 32; i++)
        prev.digest[i] = (uint8_t)(0xa0 + i);
    char err[256];
    for (int named_only = 0; named_only < 2; named_only++) {
        prev.t = named_only ? NULL : pt;
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(partition_table_encode_prev(t, &prev, &buf, &len, err, sizeof err), 0);
        assert_int_equal(buf[4], 2);
        partition_table *u = NULL;
        partition_prev got;
        if (partition_table_decode_prev(buf, len, &u, &got, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_int_equal(u->epoch, 9);
        assert_memory_equal(u->owner, t->owner, sizeof t->owner);
        assert_int_equal(got.epoch, 8);
        assert_memory_equal(got.digest, prev.digest, 32);
        if (named_only) {
            assert_null(got.t);
        } else {
            assert_non_null(got.t);
            assert_int_equal(got.t->n_members, 7);
            assert_memory_equal(got.t->owner, pt->owner, sizeof pt->owner);
        }
        uint8_t *again = NULL;
        size_t len2 = 0;
        assert_int_equal(partition_table_encode_prev(u, &got, &again, &len2, err, sizeof err), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(again, buf, len); /* one canonical form */
        free(again);
        partition_table_free(got.t);
        partition_table_free(u);
        /* the plain reader takes it too, dropping the predecessor */
        assert_int_equal(partition_table_decode(buf, len, &u, err, sizeof err), 0);
        partition_table_free(u);
        free(buf);
    }
    /* the block starts where a version 1 table's CRC would */
    uint8_t *v1 = NULL, *v2 = NULL;
    size_t l1 = 0, l2 = 0;
    prev.t = NULL;
    assert_int_equal(partition_table_encode(t, &v1, &l1, err, sizeof err), 0);
    assert_int_equal(partition_table_encode_prev(t, &prev, &v2, &l2, err, sizeof err), 0);
    assert_int_equal(l2, l1 + 44);
    size_t blk = l1 - 4; /* where the predecessor block starts */
    uint8_t *b = malloc(l2);
    partition_table *u = NULL;
    partition_prev got;
#define PMUTATE(stmt, what)                                                                        \
    do {                                                                                           \
        memcpy(b, v2, l2);                                                                         \
        stmt;                                                                                      \
        reseal(b, l2);                                                                             \
        char e[256] = "";                                                                          \
        assert_int_equal(partition_table_decode_prev(b, l2, &u, &got, e, sizeof e), -1);           \
        assert_null(u);                                                                            \
        assert_null(got.t);                                                                        \
        if (!strstr(e, what)) fail_msg("error \"%s\" does not mention \"%s\"", e, what);           \
    } while (0)
    PMUTATE(memset(b + blk, 0, 8), "predecessor epoch 0 is outside 1..8");
    PMUTATE(b[blk] = 9, "predecessor epoch 9 is outside 1..8");
    PMUTATE(b[blk + 40] = 1, "predecessor needs 1 bytes");
    PMUTATE(b[4] = 1, "unexpected bytes after the owners");
    free(b);
    /* an embedded predecessor that is not a version 1 table of its epoch */
    free(v2);
    prev.t = pt;
    pt->epoch = 7;
    assert_int_equal(partition_table_encode_prev(t, &prev, &v2, &l2, err, sizeof err), -1);
    pt->epoch = 8;
    assert_int_equal(partition_table_encode_prev(t, &prev, &v2, &l2, err, sizeof err), 0);
    b = malloc(l2);
    size_t inner = l2 - 4 - blk - 44; /* its own CRC is resealed too */
    PMUTATE((b[blk + 44 + 12] = 7, reseal(b + blk + 44, inner)),
            "predecessor's epoch 7 is not the named 8");
    PMUTATE((b[blk + 44 + 4] = 2, reseal(b + blk + 44, inner)),
            "embedded predecessor is version 2");
    PMUTATE(b[blk + 44] = 'X', "the embedded predecessor: byte 0: magic");
    /* the table's own epoch must come after it */
    free(v2);
    t->epoch = 8;
    assert_int_equal(partition_table_encode_prev(t, &prev, &v2, &l2, err, sizeof err), -1);
    assert_non_null(strstr(err, "predecessor epoch 8 is not before the table's 8"));
#undef PMUTATE
    free(b);
    free(v1);
    free(v2);
    partition_table_free(pt);
    partition_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_structural),  cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_predecessor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
