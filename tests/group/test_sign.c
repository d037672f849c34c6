/*
 * test_sign.c: Ed25519 revision signatures. A signature is valid only for
 * the revision it was made for (group, number, body); it names its key, and
 * only keys in the trusted set verify; a removed key is revoked at once.
 */
#include "group/group.h"
#include "harness/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char body[] = "sources:\n  - name: a\n    interval: 10\n    meters: [x]\n";

typedef struct key {
    group_signer *s;
    char line[GROUP_TRUST_LINE_MAX];
} key;

static void new_key(key *k, const char *comment)
{
    char *pem = NULL, err[300];
    size_t len = 0;
    assert_int_equal(group_key_generate(&pem, &len, k->line, comment, err, sizeof err), 0);
    assert_int_equal(group_signer_load(pem, len, "test key", &k->s, err, sizeof err), 0);
    free(pem);
    char again[GROUP_TRUST_LINE_MAX];
    assert_int_equal(group_signer_public(k->s, again, comment), 0);
    assert_string_equal(again, k->line);
}

static group_trust *trust_of(const char *text)
{
    group_trust *t = NULL;
    char err[300];
    if (group_trust_parse(text, strlen(text), "trusted", &t, err, sizeof err) != 0)
        fail_msg("%s", err);
    return t;
}

static void expect_refused(const group_trust *t, const char *group, int64_t number, const char *sig,
                           const char *b, const char *fragment)
{
    char why[400] = "";
    assert_int_equal(group_revision_check(t, group, number, sig, b, strlen(b), why, sizeof why),
                     -1);
    if (!strstr(why, fragment)) fail_msg("\"%s\" lacks \"%s\"", why, fragment);
}

static void test_sign_and_check(void **state)
{
    (void)state;
    key k;
    new_key(&k, "operator");
    char sig[GROUP_SIGNATURE_MAX], why[400];
    assert_int_equal(group_revision_sign_ed25519(k.s, "central", 7, body, strlen(body), sig), 0);
    char want[64];
    snprintf(want, sizeof want, "ed25519:1:%s:", group_signer_key_id(k.s));
    assert_memory_equal(sig, want, strlen(want));
    assert_int_equal(strlen(sig), strlen(want) + 128);
    group_trust *t = trust_of(k.line);
    assert_int_equal(
        group_revision_check(t, "central", 7, sig, body, strlen(body), why, sizeof why), 0);
    group_trust_free(t);
    group_signer_free(k.s);
}

/* What the signature binds: the number (an old body replayed as a new
 * revision), the group, the body. */
static void test_binds_number_group_body(void **state)
{
    (void)state;
    key k;
    new_key(&k, "");
    char sig[GROUP_SIGNATURE_MAX];
    assert_int_equal(group_revision_sign_ed25519(k.s, "central", 7, body, strlen(body), sig), 0);
    group_trust *t = trust_of(k.line);
    expect_refused(t, "central", 8, sig, body, "replayed");
    expect_refused(t, "central", 6, sig, body, "does not verify for revision 6");
    expect_refused(t, "edge", 7, sig, body, "group edge");
    expect_refused(t, "central", 7, sig, "sources: []\n", "does not verify");
    group_trust_free(t);
    group_signer_free(k.s);
}

/* Several trusted keys at once (rotation); a key not in the set (another
 * operator's, an agent's, a revoked one) is refused by its id. */
static void test_several_keys_and_revocation(void **state)
{
    (void)state;
    key a, b, stranger;
    new_key(&a, "old");
    new_key(&b, "new");
    new_key(&stranger, "agent");
    char both[600], sa[GROUP_SIGNATURE_MAX], sb[GROUP_SIGNATURE_MAX], ss[GROUP_SIGNATURE_MAX];
    snprintf(both, sizeof both, "# rotation\n%s\n\n  %s\n", a.line, b.line);
    assert_int_equal(group_revision_sign_ed25519(a.s, "g", 2, body, strlen(body), sa), 0);
    assert_int_equal(group_revision_sign_ed25519(b.s, "g", 2, body, strlen(body), sb), 0);
    assert_int_equal(group_revision_sign_ed25519(stranger.s, "g", 2, body, strlen(body), ss), 0);
    group_trust *t = trust_of(both);
    assert_int_equal(group_trust_count(t), 2);
    char why[400];
    assert_int_equal(group_revision_check(t, "g", 2, sa, body, strlen(body), why, sizeof why), 0);
    assert_int_equal(group_revision_check(t, "g", 2, sb, body, strlen(body), why, sizeof why), 0);
    expect_refused(t, "g", 2, ss, body, group_signer_key_id(stranger.s));
    expect_refused(t, "g", 2, ss, body, "not trusted");
    group_trust_free(t);
    t = trust_of(b.line); /* a revoked: its line removed */
    expect_refused(t, "g", 2, sa, body, "revoked");
    assert_int_equal(group_revision_check(t, "g", 2, sb, body, strlen(body), why, sizeof why), 0);
    /* a signature whose id was swapped for a trusted one still fails */
    char swapped[GROUP_SIGNATURE_MAX];
    snprintf(swapped, sizeof swapped, "ed25519:1:%s:%s", group_signer_key_id(b.s), ss + 27);
    expect_refused(t, "g", 2, swapped, body, "does not verify");
    group_trust_free(t);
    group_signer_free(a.s);
    group_signer_free(b.s);
    group_signer_free(stranger.s);
}

static void test_envelope_refusals(void **state)
{
    (void)state;
    key k;
    new_key(&k, "");
    group_trust *t = trust_of(k.line);
    char sig[GROUP_SIGNATURE_MAX], legacy[GROUP_SIGNATURE_MAX];
    assert_int_equal(group_revision_sign_ed25519(k.s, "g", 3, body, strlen(body), sig), 0);
    expect_refused(t, "g", 3, "", body, "unsigned revision refused");
    expect_refused(t, "g", 3, NULL, body, "unsigned revision refused");
    assert_int_equal(group_revision_sign("k", 1, body, strlen(body), legacy), 0);
    expect_refused(t, "g", 3, legacy, body, "expected ed25519");
    char v2[GROUP_SIGNATURE_MAX];
    snprintf(v2, sizeof v2, "ed25519:2:%s", sig + 10);
    expect_refused(t, "g", 3, v2, body, "version \"2:");
    expect_refused(t, "g", 3, "ed25519:1:abcd:00", body, "malformed");
    char cut[GROUP_SIGNATURE_MAX];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(sig) - 2, sig);
    expect_refused(t, "g", 3, cut, body, "malformed");
    snprintf(cut, sizeof cut, "%.*szz", (int)strlen(sig) - 2, sig);
    expect_refused(t, "g", 3, cut, body, "malformed");
    group_trust_free(t);
    group_signer_free(k.s);
}

static void test_trust_file_errors(void **state)
{
    (void)state;
    group_trust *t = (group_trust *)1;
    char err[400];
    const char *bad = "# keys\ned25519 0123\n";
    assert_int_equal(group_trust_parse(bad, strlen(bad), "keys.pub", &t, err, sizeof err), -1);
    assert_null(t);
    assert_non_null(strstr(err, "keys.pub:2:9:"));
    bad = "rsa AAAA\n";
    assert_int_equal(group_trust_parse(bad, strlen(bad), "keys.pub", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "keys.pub:1:1:"));
    bad = "# nothing\n\n";
    assert_int_equal(group_trust_parse(bad, strlen(bad), "keys.pub", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "no trusted key"));
    assert_int_equal(
        group_signer_load("not a key", 9, "op.key", (group_signer **)&t, err, sizeof err), -1);
    assert_non_null(strstr(err, "op.key: not an Ed25519 private key"));
}

/* The trusted-keys file may be world-readable but only its owner may
 * change it (whoever can add a line can sign revisions). */
static void test_trust_file_mode(void **state)
{
    (void)state;
    key k;
    new_key(&k, "");
    char path[512], err[600];
    th_path(path, sizeof path, "trusted.pub");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", k.line);
    fclose(f);
    group_trust *t = NULL;
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(group_trust_read(path, &t, err, sizeof err), 0);
    assert_int_equal(group_trust_count(t), 1);
    group_trust_free(t);
    assert_int_equal(chmod(path, 0664), 0);
    assert_int_equal(group_trust_read(path, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "chmod 644"));
    group_signer_free(k.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_and_check),
        cmocka_unit_test(test_binds_number_group_body),
        cmocka_unit_test(test_several_keys_and_revocation),
        cmocka_unit_test(test_envelope_refusals),
        cmocka_unit_test(test_trust_file_errors),
        cmocka_unit_test(test_trust_file_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
