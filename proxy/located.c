/*
 * located.c: the "target" part of GET .../assignment?target=T, per target.
 *
 * The lookup is the proxy's hottest group route (dashboards ask it for
 * every target they draw). Rendering the answer (groupview_locate_json,
 * then jansson's sorted dump) cost about as much as the whole HTTP
 * exchange, and it was done under the group's lock, so the pool threads
 * queued on it. The answer for a target only changes when the group's
 * view does (an event, or a pending table coming into force): the same
 * instants that invalidate the rendered documents (api.c). So each
 * target's text is kept until then, and a request is a hash lookup and
 * a copy.
 *
 * The targets are the clients' strings: the cache is bounded (entries and
 * bytes) and simply emptied when full, so a client asking for many
 * targets costs the rendering it cost before, never memory.
 */
#include "proxy/proxy.h"

#include <stdlib.h>
#include <string.h>

#define LOCATED_MAX_ENTRIES 1024 /* a power of two: the table is twice that */
#define LOCATED_MAX_BYTES   (1u << 20)
#define LOCATED_SLOTS       (2 * LOCATED_MAX_ENTRIES)

struct proxy_located_entry {
    uint64_t hash;
    char *target; /* NULL: free slot */
    size_t tlen;
    char *text; /* the locate document, compact, sorted keys, no newline */
    size_t len;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

void proxy_located_clear(proxy_located *l)
{
    if (l->slots)
        for (size_t i = 0; i < LOCATED_SLOTS; i++) {
            free(l->slots[i].target);
            free(l->slots[i].text);
            l->slots[i] = (struct proxy_located_entry){0};
        }
    l->n = 0;
    l->bytes = 0;
}

void proxy_located_free(proxy_located *l)
{
    proxy_located_clear(l);
    free(l->slots);
    l->slots = NULL;
}

/* The slot holding target, or the free slot where it belongs. */
static struct proxy_located_entry *probe(proxy_located *l, uint64_t h, const char *t, size_t n)
{
    for (size_t i = h & (LOCATED_SLOTS - 1);; i = (i + 1) & (LOCATED_SLOTS - 1)) {
        struct proxy_located_entry *e = &l->slots[i];
        if (e->target == NULL) return e;
        if (e->hash == h && e->tlen == n && memcmp(e->target, t, n) == 0) return e;
    }
}

const char *proxy_located_get(proxy_group *g, const char *target, size_t *len)
{
    proxy_located *l = &g->located;
    int64_t next = group_clock_next_ms(&g->v.clock);
    if (l->changes != g->changes || l->next_ms != next) {
        proxy_located_clear(l);
        l->changes = g->changes;
        l->next_ms = next;
    }
    if (l->slots == NULL && (l->slots = calloc(LOCATED_SLOTS, sizeof *l->slots)) == NULL)
        return NULL;
    size_t tlen = strlen(target);
    uint64_t h = fnv1a(target, tlen);
    struct proxy_located_entry *e = probe(l, h, target, tlen);
    if (e->target) {
        *len = e->len;
        return e->text;
    }
    /* NULL too for a target jansson refuses (not UTF-8): never cached */
    json_t *doc = groupview_locate_json(&g->v, target);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (text == NULL) return NULL;
    size_t n = strlen(text);
    if (l->n == LOCATED_MAX_ENTRIES || l->bytes + n + tlen > LOCATED_MAX_BYTES) {
        proxy_located_clear(l);
        e = probe(l, h, target, tlen);
    }
    char *key = malloc(tlen + 1);
    if (key == NULL) {
        free(text);
        return NULL;
    }
    memcpy(key, target, tlen + 1);
    *e = (struct proxy_located_entry){h, key, tlen, text, n};
    l->n++;
    l->bytes += n + tlen;
    *len = n;
    return text;
}
