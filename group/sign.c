/*
 * sign.c: Ed25519 revision signatures, the scheme that lets agents hold
 * only public keys (an agent that is taken over cannot sign a revision).
 *
 * The signature string ("envelope") is
 *
 *     ed25519:1:<key id, 16 hex>:<signature, 128 hex>
 *
 * where 1 is the envelope's version: a later format changes it, and an
 * agent that does not know a version refuses it by name rather than
 * misreading it. The key id is the first 8 bytes of sha256(public key), so
 * an agent picks the key to try from the envelope and the operator sees
 * which key signed. What is signed is not the body alone but
 *
 *     "meterd-revision" NUL "1" NUL group NUL number NUL parent NUL sha256(body)
 *
 * (numbers in decimal, the digest raw): a body signed as revision 7 of group
 * "central" verifies as nothing else, so an old body replayed under a new
 * number, or into another group, is refused; a rollback signs again.
 */
#include "group/group.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_PREFIX     GROUP_SIGNATURE_ED25519_PREFIX
#define ED_PREFIX_LEN (sizeof ED_PREFIX - 1)

struct group_signer {
    EVP_PKEY *key;
    char id[GROUP_KEY_ID_HEX + 1];
};

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int unhex(const char *in, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = in[2 * i + (size_t)j];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

void group_key_id(const unsigned char pub[GROUP_ED25519_PUBLIC_LEN], char id[GROUP_KEY_ID_HEX + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(pub, GROUP_ED25519_PUBLIC_LEN, md);
    hex(md, GROUP_KEY_ID_HEX / 2, id);
}

/* The bytes a signature covers; 0 or -1 (too long for a group name).
 * domain keeps a revision's signature from passing for a table's. */
static int message(const char *domain, const char *group, int64_t number, const void *body,
                   size_t len, unsigned char *out, size_t cap, size_t *outlen)
{
    int n = snprintf((char *)out, cap, "%s%c1%c%s%c%" PRId64 "%c%" PRId64 "%c", domain, 0, 0, group,
                     0, number, 0, number - 1, 0);
    if (n < 0 || (size_t)n + SHA256_DIGEST_LENGTH > cap) return -1;
    SHA256(body, len, out + n);
    *outlen = (size_t)n + SHA256_DIGEST_LENGTH;
    return 0;
}

#define MSG_MAX 512

int group_signer_load(const void *pem, size_t len, const char *label, group_signer **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!k || EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
        snprintf(err, errlen,
                 "%s: not an Ed25519 private key in PEM (create one with "
                 "'meterctl init-credentials DIR')",
                 label);
        EVP_PKEY_free(k);
        return -1;
    }
    unsigned char pub[GROUP_ED25519_PUBLIC_LEN];
    size_t plen = sizeof pub;
    group_signer *s = calloc(1, sizeof *s);
    if (!s || EVP_PKEY_get_raw_public_key(k, pub, &plen) != 1 || plen != sizeof pub) {
        snprintf(err, errlen, "%s: cannot read the key's public half", label);
        EVP_PKEY_free(k);
        free(s);
        return -1;
    }
    s->key = k;
    group_key_id(pub, s->id);
    *out = s;
    return 0;
}

void group_signer_free(group_signer *s)
{
    if (!s) return;
    EVP_PKEY_free(s->key);
    free(s);
}

const char *group_signer_key_id(const group_signer *s)
{
    return s->id;
}

int group_signer_public(const group_signer *s, char line[GROUP_TRUST_LINE_MAX], const char *comment)
{
    unsigned char pub[GROUP_ED25519_PUBLIC_LEN];
    size_t plen = sizeof pub;
    if (EVP_PKEY_get_raw_public_key(s->key, pub, &plen) != 1) return -1;
    char h[2 * GROUP_ED25519_PUBLIC_LEN + 1];
    hex(pub, plen, h);
    snprintf(line, GROUP_TRUST_LINE_MAX, "ed25519 %s %s", h, comment ? comment : "");
    return 0;
}

static int sign_envelope(const group_signer *s, const char *domain, const char *group,
                         int64_t number, const void *body, size_t len,
                         char out[GROUP_SIGNATURE_MAX])
{
    out[0] = 0;
    unsigned char msg[MSG_MAX], sig[64];
    size_t mlen = 0, slen = sizeof sig;
    if (message(domain, group, number, body, len, msg, sizeof msg, &mlen) != 0) return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->key) == 1 &&
             EVP_DigestSign(ctx, sig, &slen, msg, mlen) == 1 && slen == sizeof sig;
    EVP_MD_CTX_free(ctx);
    if (!ok) return -1;
    char h[129];
    hex(sig, sizeof sig, h);
    snprintf(out, GROUP_SIGNATURE_MAX, "%s%d:%s:%s", ED_PREFIX, GROUP_SIGNATURE_VERSION, s->id, h);
    return 0;
}

int group_revision_sign_ed25519(const group_signer *s, const char *group, int64_t number,
                                const void *body, size_t len, char out[GROUP_SIGNATURE_MAX])
{
    return sign_envelope(s, "meterd-revision", group, number, body, len, out);
}

int group_key_generate(char **pem, size_t *pem_len, char line[GROUP_TRUST_LINE_MAX],
                       const char *comment, char *err, size_t errlen)
{
    *pem = NULL;
    *pem_len = 0;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *bio = k ? BIO_new(BIO_s_secmem()) : NULL;
    char *data = NULL;
    long n = 0;
    int rc = -1;
    if (bio && PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) == 1 &&
        (n = BIO_get_mem_data(bio, &data)) > 0 && (*pem = malloc((size_t)n + 1))) {
        memcpy(*pem, data, (size_t)n);
        (*pem)[n] = 0;
        *pem_len = (size_t)n;
        group_signer s = {.key = k};
        rc = group_signer_public(&s, line, comment);
    }
    BIO_free(bio);
    EVP_PKEY_free(k);
    if (rc != 0) {
        if (*pem) OPENSSL_cleanse(*pem, *pem_len);
        free(*pem);
        *pem = NULL;
        snprintf(err, errlen, "cannot generate an Ed25519 key (OpenSSL failed)");
    }
    return rc;
}

/* ---- trusted keys ----------------------------------------------------------- */

typedef struct trusted_key {
    EVP_PKEY *key;
    char id[GROUP_KEY_ID_HEX + 1];
} trusted_key;

struct group_trust {
    trusted_key *keys;
    size_t n;
};

void group_trust_free(group_trust *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++)
        EVP_PKEY_free(t->keys[i].key);
    free(t->keys);
    free(t);
}

size_t group_trust_count(const group_trust *t)
{
    return t ? t->n : 0;
}

/* One "ed25519 <64 hex> [comment]" line into t. */
static int trust_line(group_trust *t, const char *line, size_t len, const char *label, int lineno,
                      char *err, size_t errlen)
{
    const char *p = line, *end = line + len;
    if (len < 8 || strncmp(p, "ed25519", 7) != 0 || (p[7] != ' ' && p[7] != '\t')) {
        snprintf(err, errlen, "%s:%d:1: expected \"ed25519 <64 hex digits> [comment]\"", label,
                 lineno);
        return -1;
    }
    p += 8;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    unsigned char pub[GROUP_ED25519_PUBLIC_LEN];
    size_t hl = 0;
    while (p + hl < end && p[hl] != ' ' && p[hl] != '\t')
        hl++;
    if (hl != 2 * sizeof pub || unhex(p, sizeof pub, pub) != 0) {
        snprintf(err, errlen, "%s:%d:%d: expected 64 hex digits (an Ed25519 public key)", label,
                 lineno, (int)(p - line) + 1);
        return -1;
    }
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, sizeof pub);
    trusted_key *grown = k ? realloc(t->keys, (t->n + 1) * sizeof *grown) : NULL;
    if (!grown) {
        EVP_PKEY_free(k);
        snprintf(err, errlen, "%s:%d: cannot load the key", label, lineno);
        return -1;
    }
    t->keys = grown;
    t->keys[t->n].key = k;
    group_key_id(pub, t->keys[t->n].id);
    t->n++;
    return 0;
}

int group_trust_parse(const char *text, size_t len, const char *label, group_trust **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    group_trust *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "%s: out of memory", label);
        return -1;
    }
    int lineno = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - (text + i)) : len - i;
        const char *line = text + i;
        i += ll + 1;
        lineno++;
        while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' ' || line[ll - 1] == '\t'))
            ll--;
        size_t lead = 0;
        while (lead < ll && (line[lead] == ' ' || line[lead] == '\t'))
            lead++;
        if (lead == ll || line[lead] == '#') continue;
        if (trust_line(t, line + lead, ll - lead, label, lineno, err, errlen) != 0) {
            group_trust_free(t);
            return -1;
        }
    }
    if (!t->n) {
        snprintf(err, errlen, "%s: no trusted key (one \"ed25519 <hex>\" line per key)", label);
        group_trust_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* Checks an envelope against keys[0..n) for body as `what` number of group. */
static int check_envelope(const trusted_key *keys, size_t n, const char *domain, const char *what,
                          const char *group, int64_t number, const char *signature,
                          const void *body, size_t len, char *why, size_t whylen)
{
    if (!signature || !signature[0]) {
        snprintf(why, whylen, "unsigned revision refused (trusted keys are configured)");
        return -1;
    }
    if (strncmp(signature, ED_PREFIX, ED_PREFIX_LEN) != 0) {
        snprintf(why, whylen, "signature scheme \"%.16s\" refused (expected ed25519)", signature);
        return -1;
    }
    const char *v = signature + ED_PREFIX_LEN;
    if (strncmp(v, "1:", 2) != 0) {
        snprintf(why, whylen,
                 "signature envelope version \"%.8s\" is not supported (this meterd reads 1)", v);
        return -1;
    }
    const char *id = v + 2, *colon = strchr(id, ':');
    unsigned char sig[64];
    if (!colon || colon - id != GROUP_KEY_ID_HEX || strlen(colon + 1) != 128 ||
        unhex(colon + 1, sizeof sig, sig) != 0) {
        snprintf(why, whylen, "malformed ed25519 signature (expected ed25519:1:<id>:<128 hex>)");
        return -1;
    }
    const trusted_key *k = NULL;
    for (size_t i = 0; i < n && !k; i++)
        if (!strncmp(keys[i].id, id, GROUP_KEY_ID_HEX)) k = &keys[i];
    if (!k) {
        snprintf(why, whylen, "signed by key %.16s, which is not trusted here (unknown or revoked)",
                 id);
        return -1;
    }
    unsigned char msg[MSG_MAX];
    size_t mlen = 0;
    if (message(domain, group, number, body, len, msg, sizeof msg, &mlen) != 0) {
        snprintf(why, whylen, "group name too long to verify");
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->key) == 1 &&
             EVP_DigestVerify(ctx, sig, sizeof sig, msg, mlen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        snprintf(why, whylen,
                 "signature by key %.16s does not verify for %s %" PRId64
                 " of group %s: forged, altered, or replayed from another %s",
                 id, what, number, group, what);
        return -1;
    }
    return 0;
}

int group_revision_check(const group_trust *t, const char *group, int64_t number,
                         const char *signature, const void *body, size_t len, char *why,
                         size_t whylen)
{
    return check_envelope(t ? t->keys : NULL, t ? t->n : 0, "meterd-revision", "revision", group,
                          number, signature, body, len, why, whylen);
}

/* ---- slot tables ------------------------------------------------------------ */

#define TABLE_PREFIX     "meterd-table-sig "
#define TABLE_PREFIX_LEN (sizeof TABLE_PREFIX - 1)

void group_table_split(const void *bytes, size_t len, const char **sig, size_t *siglen,
                       const void **table, size_t *tlen)
{
    const char *b = bytes;
    const char *nl = len > TABLE_PREFIX_LEN && !memcmp(b, TABLE_PREFIX, TABLE_PREFIX_LEN)
                         ? memchr(b, '\n', len)
                         : NULL;
    *sig = nl ? b + TABLE_PREFIX_LEN : NULL;
    *siglen = nl ? (size_t)(nl - *sig) : 0;
    *table = nl ? nl + 1 : bytes;
    *tlen = nl ? len - (size_t)(nl + 1 - b) : len;
}

int group_table_sign(const group_signer *s, const char *group, int64_t epoch, const void *table,
                     size_t len, uint8_t **out, size_t *outlen)
{
    char sig[GROUP_SIGNATURE_MAX];
    *out = NULL;
    if (sign_envelope(s, "meterd-table", group, epoch, table, len, sig) != 0) return -1;
    size_t head = TABLE_PREFIX_LEN + strlen(sig) + 1;
    if (!(*out = malloc(head + len))) return -1;
    snprintf((char *)*out, head + 1, "%s%s\n", TABLE_PREFIX, sig);
    memcpy(*out + head, table, len);
    *outlen = head + len;
    return 0;
}

int group_table_check(const group_signer *key, const char *group, int64_t epoch, const void *bytes,
                      size_t len, char *why, size_t whylen)
{
    const char *sig;
    const void *table;
    size_t siglen, tlen;
    group_table_split(bytes, len, &sig, &siglen, &table, &tlen);
    if (!sig) {
        snprintf(why, whylen, "unsigned slot table refused (a table key is configured)");
        return -1;
    }
    char copy[GROUP_SIGNATURE_MAX];
    if (siglen >= sizeof copy) {
        snprintf(why, whylen, "malformed slot table signature");
        return -1;
    }
    memcpy(copy, sig, siglen);
    copy[siglen] = 0;
    trusted_key k = {.key = key->key};
    memcpy(k.id, key->id, sizeof k.id);
    return check_envelope(&k, 1, "meterd-table", "slot table", group, epoch, copy, table, tlen, why,
                          whylen);
}
