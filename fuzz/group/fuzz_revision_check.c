/*
 * fuzz_revision_check.c: the Ed25519 side of the group contract, where
 * everything but the agent's own trusted-keys file comes from ZooKeeper or
 * pub-sub. Input: a trusted-keys text up to the first NUL, then a signature
 * string up to the first '\n', then a body. Parsing the keys and checking
 * the signature must never crash or leak and must say why it refuses; the
 * same bytes are also read as a stored slot table (envelope split and
 * checked). A signature made here for the body must verify, and must not
 * for another revision number.
 */
#include "../common/fuzz_cstr.h"
#include "group/group.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static group_signer *signer(void)
{
    static group_signer *s;
    if (!s) { /* one key for the whole run: generating one per input is slow */
        char *pem = NULL, line[GROUP_TRUST_LINE_MAX], err[300];
        size_t len = 0;
        if (group_key_generate(&pem, &len, line, "fuzz", err, sizeof err) != 0 ||
            group_signer_load(pem, len, "fuzz", &s, err, sizeof err) != 0)
            abort();
        free(pem);
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    const uint8_t *rest = nul ? nul + 1 : data + size;
    size_t left = size - (size_t)(rest - data);
    const uint8_t *body;
    char *sig = fuzz_line(rest, left, &body);
    if (!sig) return 0;
    size_t blen = left - (size_t)(body - rest);

    char err[600] = "";
    group_trust *t = NULL;
    if (group_trust_parse((const char *)data, tlen, "keys", &t, err, sizeof err) != 0 && !err[0])
        abort();
    char why[600] = "";
    if (group_revision_check(t, "g", 7, sig, body, blen, why, sizeof why) != 0 && !why[0]) abort();
    why[0] = 0;
    if (group_table_check(signer(), "g", 7, data, size, why, sizeof why) != 0 && !why[0]) abort();

    char mine[GROUP_SIGNATURE_MAX], line[GROUP_TRUST_LINE_MAX];
    group_trust *own = NULL;
    if (group_revision_sign_ed25519(signer(), "g", 7, body, blen, mine) != 0 ||
        group_signer_public(signer(), line, "") != 0 ||
        group_trust_parse(line, strlen(line), "own", &own, err, sizeof err) != 0 ||
        group_revision_check(own, "g", 7, mine, body, blen, why, sizeof why) != 0 ||
        group_revision_check(own, "g", 8, mine, body, blen, why, sizeof why) == 0)
        abort();
    group_trust_free(own);
    group_trust_free(t);
    free(sig);
    return 0;
}
