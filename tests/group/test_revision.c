/*
 * test_revision.c: signatures (the stored wire form "hmac-sha256:<hex>",
 * checked against OpenSSL directly) and a revision's partitioned targets.
 */
#include "group/group.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char body[] = "sources:\n  - name: a\n    interval: 10\n    meters: [x]\n";

static void reference(const void *key, size_t keylen, char out[80])
{
    unsigned char md[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)body, strlen(body), md, &n);
    int w = snprintf(out, 80, "hmac-sha256:");
    for (unsigned i = 0; i < n; i++)
        w += snprintf(out + w, 80 - (size_t)w, "%02x", md[i]);
}

static void test_sign_wire_form(void **state)
{
    (void)state;
    char sig[GROUP_SIGNATURE_MAX], want[80];
    assert_int_equal(group_revision_sign("s3cret-key", 10, body, strlen(body), sig), 0);
    reference("s3cret-key", 10, want);
    assert_string_equal(sig, want);
    char why[200];
    assert_int_equal(
        group_revision_verify("s3cret-key", 10, sig, body, strlen(body), why, sizeof why), 0);
}

/* Keys beyond the old readers' buffers, with a NUL inside: signed and
 * verified over every byte. */
static void test_long_keys(void **state)
{
    (void)state;
    static unsigned char key[4000];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 7 + 1);
    key[10] = 0;
    char sig[GROUP_SIGNATURE_MAX], want[80], why[200];
    size_t lens[] = {600, 4000};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(group_revision_sign(key, lens[i], body, strlen(body), sig), 0);
        reference(key, lens[i], want);
        assert_string_equal(sig, want);
        assert_int_equal(
            group_revision_verify(key, lens[i], sig, body, strlen(body), why, sizeof why), 0);
        /* the first 511 bytes (the old agent's truncation) do not verify */
        assert_int_equal(group_revision_verify(key, 511, sig, body, strlen(body), why, sizeof why),
                         -1);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    char sig[GROUP_SIGNATURE_MAX], why[200];
    assert_int_equal(group_revision_sign("k", 1, body, strlen(body), sig), 0);
    assert_int_equal(group_revision_verify("other", 5, sig, body, strlen(body), why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "signature does not verify"));
    assert_int_equal(group_revision_verify("k", 1, sig, "changed", 7, why, sizeof why), -1);
    assert_non_null(strstr(why, "signature does not verify"));
    assert_int_equal(group_revision_verify("k", 1, "", body, strlen(body), why, sizeof why), -1);
    assert_non_null(strstr(why, "unsigned revision refused"));
    assert_int_equal(group_revision_verify("k", 1, NULL, body, strlen(body), why, sizeof why), -1);
    assert_non_null(strstr(why, "unsigned revision refused"));
    assert_int_equal(
        group_revision_verify("k", 1, "ed25519:abcd", body, strlen(body), why, sizeof why), -1);
    assert_non_null(strstr(why, "\"ed25519\" is not supported"));
    sig[20] = 0; /* truncated hex */
    assert_int_equal(group_revision_verify("k", 1, sig, body, strlen(body), why, sizeof why), -1);
    assert_non_null(strstr(why, "signature does not verify"));
}

static void test_targets(void **state)
{
    (void)state;
    static const char yaml[] = "sources:\n"
                               "  - name: ipmi\n"
                               "    interval: 60\n"
                               "    meters: [\"hardware.ipmi.*\"]\n"
                               "    resources: [bmc-2, bmc-1, bmc-42]\n"
                               "  - name: host\n"
                               "    interval: 60\n"
                               "    meters: [\"host.*\"]\n"
                               "    discovery: [local_host]\n"
                               "  - name: snmp\n"
                               "    interval: 30\n"
                               "    meters: [\"snmp.*\"]\n"
                               "    resources: [bmc-42, switch-1]\n";
    pipeline *p = NULL;
    assert_int_equal(pipeline_parse(yaml, strlen(yaml), "t.yaml", NULL, &p, NULL), 0);
    group_targets t;
    assert_int_equal(group_revision_targets(p, &t), 0);
    /* distinct, sorted; the discovered (local) source adds nothing */
    const char *want[] = {"bmc-1", "bmc-2", "bmc-42", "switch-1"};
    assert_int_equal(t.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(t.ids[i], want[i]);
    assert_true(group_targets_has(&t, "bmc-42"));
    assert_false(group_targets_has(&t, "bmc-4"));
    static uint32_t load[PARTITION_SLOTS];
    group_slot_loads(&t, load);
    uint64_t sum = 0;
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++)
        sum += load[s];
    assert_int_equal(sum, 4);
    assert_true(load[partition_slot_of("switch-1", 8)] >= 1);
    group_targets_free(&t);
    pipeline_free(p);

    assert_int_equal(group_revision_targets(NULL, &t), 0);
    assert_int_equal(t.n, 0);
    assert_false(group_targets_has(&t, "x"));
    group_targets_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_wire_form),
        cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
