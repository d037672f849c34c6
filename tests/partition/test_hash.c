/*
 * test_hash.c: partition_hash64 and partition_slot_of are frozen forever.
 *
 * The golden values were computed by an independent Python implementation
 * of the documented function (docs/PARTITION.md); if one of these fails,
 * every deployed group would reshuffle its targets: do not "fix" the values.
 */
#include "partition/partition.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef struct golden {
    const char *id;
    size_t len;
    uint64_t hash;
    uint32_t slot;
} golden;

static const golden goldens[] = {
    {"", 0, UINT64_C(0xf52a15e9a9b5e89b), 10395u},
    {"a", 1, UINT64_C(0x02c0bdbf481420f8), 8440u},
    {"host-a.central", 14, UINT64_C(0xedf71987755d83ed), 1005u},
    {"instance-0001", 13, UINT64_C(0x4ee11a112d5719ea), 6634u},
    {"6f1c2f8e-3b7a-4d2e-9c1f-0a1b2c3d4e5f", 36, UINT64_C(0x17dd539eb63adc8f), 7311u},
    {"h\xc3\xa9te", 5, UINT64_C(0x939b96d36ffdb83b), 14395u},
    {"\x00\xff", 2, UINT64_C(0xa70bee94c6c8447b), 1147u},
};

static void test_golden_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        assert_int_equal(partition_hash64(goldens[i].id, goldens[i].len), goldens[i].hash);
        assert_int_equal(partition_slot_of(goldens[i].id, goldens[i].len), goldens[i].slot);
    }
    char x[300];
    memset(x, 'x', sizeof x);
    assert_int_equal(partition_hash64(x, sizeof x), UINT64_C(0xa35b39f73adb54f2));
    assert_int_equal(partition_slot_of(x, sizeof x), 5362u);
}

/* The hash reads bytes, not words: the same bytes at any alignment give the
 * same value, and bytes past len are never read. */
static void test_alignment_and_length(void **state)
{
    (void)state;
    char buf[64];
    for (size_t off = 0; off < 8; off++) {
        memset(buf, 'z', sizeof buf);
        memcpy(buf + off, "host-a.central", 14);
        assert_int_equal(partition_hash64(buf + off, 14), UINT64_C(0xedf71987755d83ed));
    }
    assert_int_not_equal(partition_hash64("ab", 1), partition_hash64("ab", 2));
}

/* 100k ids spread over the slots like a fair hash: no slot far from the mean
 * (Poisson 6.1: max around 20), every slot value reachable. */
static void test_spread(void **state)
{
    (void)state;
    static uint32_t load[PARTITION_SLOTS];
    memset(load, 0, sizeof load);
    char id[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(id, sizeof id, "target-%d", i);
        uint32_t s = partition_slot_of(id, (size_t)n);
        assert_true(s < PARTITION_SLOTS);
        load[s]++;
    }
    uint32_t max = 0, empty = 0;
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++) {
        if (load[s] > max) max = load[s];
        empty += load[s] == 0;
    }
    assert_true(max <= 25);
    assert_true(empty < 60); /* e^-6.1 * 16384 = 37 expected */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_values),
        cmocka_unit_test(test_alignment_and_length),
        cmocka_unit_test(test_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
