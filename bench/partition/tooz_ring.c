/*
 * tooz_ring.c: the Tooz-style ring baseline (see tooz_ring.h). Written to
 * mirror tooz/hashring.py: cumulative md5 per member, sorted points, bisect
 * right with wrap-around. OpenSSL's EVP md5 stands in for hashlib.
 */
#include "tooz_ring.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static tooz_pos digest_pos(const unsigned char *d)
{
    tooz_pos p = {0, 0};
    for (int i = 0; i < 8; i++) {
        p.hi = p.hi << 8 | d[i];
        p.lo = p.lo << 8 | d[8 + i];
    }
    return p;
}

tooz_pos tooz_hash(const char *id, size_t len)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(id, len, d, &dl, EVP_md5(), NULL);
    return digest_pos(d);
}

static int pos_cmp(tooz_pos a, tooz_pos b)
{
    if (a.hi != b.hi) return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo) return a.lo < b.lo ? -1 : 1;
    return 0;
}

typedef struct point {
    tooz_pos pos;
    uint32_t member;
} point;

static int point_cmp(const void *a, const void *b)
{
    const point *x = a, *y = b;
    return pos_cmp(x->pos, y->pos);
}

int tooz_ring_build(tooz_ring *r, const char *const *ids, const uint32_t *weights,
                    const uint32_t *nums, size_t n, unsigned vnodes)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (size_t)vnodes * weights[i];
    point *pts = malloc(total * sizeof *pts);
    r->pos = malloc(total * sizeof *r->pos);
    r->member = malloc(total * sizeof *r->member);
    if (!pts || !r->pos || !r->member) {
        free(pts);
        tooz_ring_free(r);
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *fin = EVP_MD_CTX_new();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ids[i]);
        EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
        EVP_DigestUpdate(ctx, ids[i], len); /* hashlib.md5(key) starts with the key */
        for (unsigned v = 0; v < vnodes * weights[i]; v++) {
            unsigned char d[EVP_MAX_MD_SIZE];
            unsigned int dl = 0;
            EVP_DigestUpdate(ctx, ids[i], len);
            EVP_MD_CTX_copy_ex(fin, ctx); /* hexdigest() does not end the object */
            EVP_DigestFinal_ex(fin, d, &dl);
            pts[k++] = (point){digest_pos(d), nums[i]};
        }
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_CTX_free(fin);
    qsort(pts, total, sizeof *pts, point_cmp);
    /* a dict keyed by position: a later duplicate would replace the earlier */
    size_t m = 0;
    for (size_t i = 0; i < total; i++) {
        if (m > 0 && pos_cmp(r->pos[m - 1], pts[i].pos) == 0) m--;
        r->pos[m] = pts[i].pos;
        r->member[m++] = pts[i].member;
    }
    r->n = m;
    free(pts);
    return 0;
}

void tooz_ring_free(tooz_ring *r)
{
    free(r->pos);
    free(r->member);
    r->pos = NULL;
    r->member = NULL;
    r->n = 0;
}

uint32_t tooz_ring_lookup(const tooz_ring *r, tooz_pos h)
{
    size_t lo = 0, hi = r->n; /* first point > h */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pos_cmp(r->pos[mid], h) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return r->member[lo < r->n ? lo : 0];
}
