/* credentials_tls.c -- the pub-sub TLS part of `meterctl init-credentials`:
 * a CA of the group's own and one member certificate it signs, used by every
 * agent both to serve (leading) and to dial (following), hence both
 * extended key usages and the one name COORD_PUBSUB_TLS_NAME, which
 * subscribers verify instead of a host name (the leader moves).
 *
 * ECDSA P-256 with SHA-256: what nng's mbedtls (2.28) speaks; Ed25519
 * certificates it does not. Made with OpenSSL's API (no openssl binary at
 * run time).
 */
#include "cli/cli.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define VALID_DAYS 3650L

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* A certificate for key named cn, signed by issuer_key (self-signed when
 * issuer is NULL: the CA). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    bool ok = x && serial && X509_set_version(x, 2) == 1 &&
              BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
              BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) && /* clocks a little behind */
              X509_gmtime_adj(X509_getm_notAfter(x), VALID_DAYS * 86400) &&
              X509_set_pubkey(x, key) == 1 &&
              X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                         (const unsigned char *)cn, -1, -1, 0) == 1 &&
              X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)) == 1 &&
              add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
    if (ok && !issuer)
        ok = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    else if (ok)
        ok = add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, issuer, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
             add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth") &&
             add_ext(x, issuer, NID_subject_alt_name, "DNS:" COORD_PUBSUB_TLS_NAME) &&
             add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    BN_free(serial);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* The PEM text of a certificate (key NULL) or of a private key. */
static char *pem_of(X509 *x, EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return NULL;
    int ok =
        x ? PEM_write_bio_X509(b, x) : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    char *data = NULL;
    long n = ok == 1 ? BIO_get_mem_data(b, &data) : 0;
    char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (out) {
        memcpy(out, data, (size_t)n);
        out[n] = 0;
    }
    BIO_free(b); /* a memory BIO frees its buffer with itself; keys leave no copy */
    return out;
}

int cli_tls_generate(char *pem[CLI_TLS_FILES], char *err, size_t errcap)
{
    for (int i = 0; i < CLI_TLS_FILES; i++)
        pem[i] = NULL;
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    X509 *ca = ca_key ? make_cert(ca_key, "meterd pub-sub CA", NULL, NULL) : NULL;
    X509 *crt = ca && key ? make_cert(key, COORD_PUBSUB_TLS_NAME, ca, ca_key) : NULL;
    bool ok = crt != NULL;
    if (ok) {
        pem[CLI_TLS_CA_CRT] = pem_of(ca, NULL);
        pem[CLI_TLS_CA_KEY] = pem_of(NULL, ca_key);
        pem[CLI_TLS_CRT] = pem_of(crt, NULL);
        pem[CLI_TLS_KEY] = pem_of(NULL, key);
        for (int i = 0; i < CLI_TLS_FILES; i++)
            ok = ok && pem[i];
    }
    X509_free(crt);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    if (ok) return 0;
    cli_tls_free(pem);
    snprintf(err, errcap, "cannot make the pub-sub TLS certificates (OpenSSL)");
    return -1;
}

void cli_tls_free(char *pem[CLI_TLS_FILES])
{
    for (int i = 0; i < CLI_TLS_FILES; i++) {
        if (pem[i]) OPENSSL_cleanse(pem[i], strlen(pem[i]));
        free(pem[i]);
        pem[i] = NULL;
    }
}
