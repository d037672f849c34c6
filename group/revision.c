/*
 * revision.c: signing and verifying revisions.
 *
 * The signature string stored with a revision names its scheme before the
 * colon; today only "hmac-sha256:<hex>" (HMAC-SHA256 of the body, lowercase
 * hex), the form meterctl has always written and agents have always read.
 * A public-key scheme (Ed25519) adds a prefix here, not a new code path in
 * each program. Verification compares in constant time.
 */
#include "group/group.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define HMAC_PREFIX_LEN (sizeof GROUP_SIGNATURE_HMAC_PREFIX - 1)

static int hmac_hex(const void *key, size_t keylen, const void *body, size_t len, char hex[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (keylen > (size_t)INT32_MAX) return -1;
    if (!HMAC(EVP_sha256(), key, (int)keylen, body, len, mac, &mac_len) || mac_len != 32) return -1;
    for (unsigned i = 0; i < mac_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

int group_revision_sign(const void *key, size_t keylen, const void *body, size_t len,
                        char out[GROUP_SIGNATURE_MAX])
{
    char hex[65];
    out[0] = 0;
    if (hmac_hex(key, keylen, body, len, hex) != 0) return -1;
    snprintf(out, GROUP_SIGNATURE_MAX, "%s%s", GROUP_SIGNATURE_HMAC_PREFIX, hex);
    return 0;
}

int group_revision_verify(const void *key, size_t keylen, const char *signature, const void *body,
                          size_t len, char *why, size_t whylen)
{
    if (!signature || !signature[0]) {
        snprintf(why, whylen, "unsigned revision refused (a revision key is configured)");
        return -1;
    }
    if (strncmp(signature, GROUP_SIGNATURE_HMAC_PREFIX, HMAC_PREFIX_LEN) != 0) {
        const char *colon = strchr(signature, ':');
        snprintf(why, whylen,
                 "unsigned revision refused: signature scheme \"%.*s\" is not supported "
                 "(expected hmac-sha256)",
                 colon ? (int)(colon - signature) > 32 ? 32 : (int)(colon - signature) : 32,
                 signature);
        return -1;
    }
    char hex[65];
    if (hmac_hex(key, keylen, body, len, hex) != 0) {
        snprintf(why, whylen, "cannot compute HMAC-SHA256 (OpenSSL failed)");
        return -1;
    }
    const char *given = signature + HMAC_PREFIX_LEN;
    if (strlen(given) != 64 || CRYPTO_memcmp(given, hex, 64) != 0) {
        snprintf(why, whylen, "signature does not verify: forged or signed with another key");
        return -1;
    }
    return 0;
}
