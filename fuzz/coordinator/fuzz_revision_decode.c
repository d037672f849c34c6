/*
 * fuzz_revision_decode.c: a revision node (/meterd/<group>/pipeline) or a
 * pub-sub message is one JSON header line, '\n', then the body; anyone with
 * write access to ZooKeeper (or a bug) can put any bytes there. Decoding
 * must reject garbage without crashing or leaking. Most inputs are taken as
 * a header line and a body whose "body_len" and "sha256" the harness fixes
 * up when the header is a JSON object, so mutations reach the checks behind
 * the digest; inputs whose first byte is '!' go in raw. An accepted revision
 * must encode and decode back to the same fields and body.
 */
#include "coordinator/coordinator.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* header + '\n' + body with body_len and sha256 set to the body's, or NULL
 * when the first line is not a JSON object (then the input goes in raw). */
static char *fix_up(const uint8_t *data, size_t size, size_t *out_len)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) return NULL;
    json_t *h = json_loadb((const char *)data, (size_t)(nl - data), 0, NULL);
    if (!json_is_object(h)) {
        json_decref(h);
        return NULL;
    }
    const uint8_t *body = nl + 1;
    size_t blen = size - (size_t)(body - data);
    char sha[65];
    sha256_hex(body, blen, sha);
    json_object_set_new(h, "body_len", json_integer((json_int_t)blen));
    json_object_set_new(h, "sha256", json_string(sha));
    char *line = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!line) return NULL;
    size_t hl = strlen(line);
    char *buf = malloc(hl + 1 + blen + 1);
    if (buf) {
        memcpy(buf, line, hl);
        buf[hl] = '\n';
        memcpy(buf + hl + 1, body, blen);
        *out_len = hl + 1 + blen;
    }
    free(line);
    return buf;
}

static void check_round_trip(const coord_revision_t *r)
{
    char *enc = NULL;
    size_t len = 0;
    if (coord_revision_encode(r, &enc, &len) != 0) abort();
    coord_revision_t back;
    char err[256];
    if (coord_revision_decode(enc, len, &back, err, sizeof err) != 0) abort();
    if (back.number != r->number || strcmp(back.sha256, r->sha256) != 0 ||
        strcmp(back.author, r->author) != 0 || strcmp(back.time, r->time) != 0 ||
        strcmp(back.signature, r->signature) != 0 || back.body_len != r->body_len ||
        memcmp(back.body, r->body, r->body_len) != 0)
        abort();
    coord_revision_free(&back);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = size;
    char *fixed = size && data[0] != '!' ? fix_up(data, size, &len) : NULL;
    coord_revision_t r;
    char err[256];
    err[0] = 0;
    if (coord_revision_decode(fixed ? fixed : (const char *)data, len, &r, err, sizeof err) == 0) {
        if (r.body[r.body_len] != 0) abort(); /* promised terminator */
        check_round_trip(&r);
        coord_revision_free(&r);
    } else if (!err[0]) {
        abort(); /* every refusal says why */
    }
    free(fixed);
    return 0;
}
