/* cmd_credentials.c -- `meterctl init-credentials DIR`: everything a secure
 * group needs, made once, so that running secure is no harder than running
 * open (docs/SECURITY.md):
 *
 *   revision.key       the operator's Ed25519 signing key (meterctl push
 *                      --sign-key); stays with operators, never on agents
 *   trusted_keys       its public half ([coordination] trusted_keys_file);
 *                      agents hold only this
 *   member.key         the members' slot-table key ([coordination]
 *                      table_key_file): the leader signs tables with it
 *   zk-operator.auth   ZooKeeper digest "user:secret" per role: operator
 *   zk-member.auth     (writes revisions), member (the agents: member,
 *   zk-reader.auth     election and assignment nodes), reader (status)
 *   zk-acl.txt         the digest ids of the three, for ZooKeeper's own tools
 *   pubsub-ca.crt      the group's CA for pub-sub TLS (pubsub_tls_ca_file)
 *   pubsub-ca.key      its key: operators only, to sign more certificates
 *   pubsub.crt         the members' certificate and key (pubsub_tls_cert_file,
 *   pubsub.key         pubsub_tls_key_file), signed by that CA
 *
 * Every file is created mode 0600 with O_EXCL: an existing file is never
 * overwritten (a key replaced by mistake would lock the group out).
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const roles[] = {"operator", "member", "reader"};
#define N_ROLES 3

static void usage(FILE *f)
{
    fprintf(f, "usage: meterctl init-credentials DIR\n"
               "  Creates DIR (mode 0700) holding, each mode 0600: revision.key (Ed25519\n"
               "  signing key, for push --sign-key), trusted_keys (its public half, for\n"
               "  [coordination] trusted_keys_file), member.key (the members' slot-table\n"
               "  key, table_key_file), zk-operator.auth, zk-member.auth and\n"
               "  zk-reader.auth (ZooKeeper digest credentials per role), zk-acl.txt, and\n"
               "  pubsub-ca.crt, pubsub-ca.key, pubsub.crt, pubsub.key (pub-sub TLS).\n"
               "  Existing files are never overwritten.\n");
}

static int write_new(const char *dir, const char *name, const void *data, size_t len, FILE *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(err, "meterctl init-credentials: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (never overwritten: move it away to make a new one)" : "");
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            fprintf(err, "meterctl init-credentials: writing %s: %s\n", path, strerror(errno));
            close(fd);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, 0600) != 0 || close(fd) != 0) {
        fprintf(err, "meterctl init-credentials: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ZooKeeper's digest id of user:secret: user:base64(sha1("user:secret")). */
static void digest_id(const char *user_secret, char *out, size_t cap)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    unsigned char b64[64];
    SHA1((const unsigned char *)user_secret, strlen(user_secret), md);
    EVP_EncodeBlock(b64, md, sizeof md);
    const char *colon = strchr(user_secret, ':');
    snprintf(out, cap, "%.*s:%s", (int)(colon - user_secret), user_secret, (char *)b64);
}

static int write_tls(const char *dir, FILE *err)
{
    static const char *const names[CLI_TLS_FILES] = {
        [CLI_TLS_CA_CRT] = "pubsub-ca.crt",
        [CLI_TLS_CA_KEY] = "pubsub-ca.key",
        [CLI_TLS_CRT] = "pubsub.crt",
        [CLI_TLS_KEY] = "pubsub.key",
    };
    char *pem[CLI_TLS_FILES], msg[200];
    if (cli_tls_generate(pem, msg, sizeof msg) != 0) {
        fprintf(err, "meterctl init-credentials: %s\n", msg);
        return -1;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < CLI_TLS_FILES; i++)
        rc = write_new(dir, names[i], pem[i], strlen(pem[i]), err);
    cli_tls_free(pem);
    return rc;
}

int cli_cmd_credentials(int argc, char **argv, FILE *out, FILE *err)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(out);
            return CLI_OK;
        }
        if (argv[i][0] == '-' || dir) {
            fprintf(err, "meterctl init-credentials: unexpected '%s'\n", argv[i]);
            usage(err);
            return CLI_USAGE;
        }
        dir = argv[i];
    }
    if (!dir) {
        usage(err);
        return CLI_USAGE;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(err, "meterctl init-credentials: cannot create %s: %s\n", dir, strerror(errno));
        return CLI_FAILED;
    }
    char *pem = NULL, msg[300], line[GROUP_TRUST_LINE_MAX];
    size_t pem_len = 0;
    if (group_key_generate(&pem, &pem_len, line, "operator", msg, sizeof msg) != 0) {
        fprintf(err, "meterctl init-credentials: %s\n", msg);
        return CLI_FAILED;
    }
    char trusted[GROUP_TRUST_LINE_MAX + 160];
    int n = snprintf(trusted, sizeof trusted,
                     "# Ed25519 public keys whose revisions are applied; one per line.\n"
                     "# Rotate by adding the new key's line, revoke by deleting a line.\n%s\n",
                     line);
    int rc = write_new(dir, "revision.key", pem, pem_len, err);
    OPENSSL_cleanse(pem, pem_len);
    free(pem);
    if (rc == 0) rc = write_new(dir, "trusted_keys", trusted, (size_t)n, err);
    if (rc == 0) {
        char mline[GROUP_TRUST_LINE_MAX];
        if (group_key_generate(&pem, &pem_len, mline, "members", msg, sizeof msg) != 0) {
            fprintf(err, "meterctl init-credentials: %s\n", msg);
            return CLI_FAILED;
        }
        rc = write_new(dir, "member.key", pem, pem_len, err);
        OPENSSL_cleanse(pem, pem_len);
        free(pem);
    }
    char acl[1024] = "";
    size_t acl_len = 0;
    for (int i = 0; rc == 0 && i < N_ROLES; i++) {
        unsigned char raw[24];
        char cred[128], name[64];
        if (RAND_bytes(raw, sizeof raw) != 1) {
            fprintf(err, "meterctl init-credentials: no randomness (OpenSSL)\n");
            return CLI_FAILED;
        }
        int w = snprintf(cred, sizeof cred, "meterd-%s:", roles[i]);
        for (size_t j = 0; j < sizeof raw; j++)
            w += snprintf(cred + w, sizeof cred - (size_t)w, "%02x", raw[j]);
        OPENSSL_cleanse(raw, sizeof raw);
        snprintf(name, sizeof name, "zk-%s.auth", roles[i]);
        char id[160];
        digest_id(cred, id, sizeof id);
        acl_len +=
            (size_t)snprintf(acl + acl_len, sizeof acl - acl_len, "%s digest:%s\n", roles[i], id);
        cred[w++] = '\n';
        rc = write_new(dir, name, cred, (size_t)w, err);
        OPENSSL_cleanse(cred, sizeof cred);
    }
    if (rc == 0) rc = write_new(dir, "zk-acl.txt", acl, acl_len, err);
    if (rc == 0) rc = write_tls(dir, err);
    if (rc != 0) return CLI_FAILED;
    fprintf(out,
            "created in %s: revision.key trusted_keys member.key zk-operator.auth "
            "zk-member.auth zk-reader.auth zk-acl.txt pubsub-ca.crt pubsub-ca.key pubsub.crt "
            "pubsub.key\n"
            "  agents (meterd.conf [coordination]): auth_file = %s/zk-member.auth\n"
            "                                        trusted_keys_file = %s/trusted_keys\n"
            "                                        table_key_file = %s/member.key\n"
            "                                        acl_file = %s/zk-acl.txt\n"
            "                                        pubsub_tls_cert_file = %s/pubsub.crt\n"
            "                                        pubsub_tls_key_file = %s/pubsub.key\n"
            "                                        pubsub_tls_ca_file = %s/pubsub-ca.crt\n"
            "  operators: meterctl push ... --auth-file %s/zk-operator.auth --sign-key "
            "%s/revision.key\n"
            "  keep revision.key, zk-operator.auth and pubsub-ca.key off the agents' hosts.\n",
            dir, dir, dir, dir, dir, dir, dir, dir, dir, dir);
    return CLI_OK;
}
