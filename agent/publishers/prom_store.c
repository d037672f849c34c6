/*
 * publishers/prom_store.c: the prometheus:// publisher's series store
 * (prom_store.h): families, series, the targets their series share.
 *
 * Families are kept sorted by name and series by target and label text, inserting on
 * creation (rare) so render is a straight walk: stable output for diffing.
 *
 * Memory is most of what a scraping agent holds (100 targets x 1,000 series
 * in the scrape bench, issue 14), so a series is one 56-byte record plus its
 * hash entry holding the key, and a scraped series' key holds only its own
 * labels: its target's instance/resource/source text is kept once, in the
 * target (this took the bench from 46 to ~35 MiB).
 */
#include "agent/publishers/prom_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_cmp_n(const char *x, size_t xn, const char *y, size_t yn)
{
    int c = memcmp(x, y, xn < yn ? xn : yn);
    return c ? c : (xn > yn) - (xn < yn);
}

void prom_store_init(prom_store *st)
{
    memset(st, 0, sizeof *st);
    pub_map_init(&st->fams);
    pub_map_init(&st->tgts);
}

static void tgt_free(prom_tgt *t)
{
    if (!t) return;
    free(t->labels);
    free(t->target);
    free(t->memo);
    free(t);
}

static void tgt_value_free(void *v)
{
    tgt_free(v);
}

void prom_store_free(prom_store *st)
{
    for (size_t i = 0; i < st->nf; i++) {
        prom_family *f = st->fv[i];
        free(f->v);
        free(f->help);
        free(f);
    }
    free(st->fv);
    for (size_t i = 0; i < st->nbuckets; i++)
        for (prom_series *se = st->b[i], *next; se; se = next) {
            next = se->next;
            free(se);
        }
    free(st->b);
    pub_map_free(&st->fams, NULL);
    pub_map_free(&st->tgts, tgt_value_free);
}

/* ---- targets ---- */

void prom_put_instance(strbuf *out, const char *url)
{
    const char *h = strstr(url, "://");
    bool tls = strncmp(url, "https:", 6) == 0;
    h = h ? h + 3 : url;
    size_t n = strcspn(h, "/?#");
    strbuf_append(out, h, n);
    const char *close = memchr(h, ']', n);
    const char *colon = memchr(close ? close : h, ':', n - (size_t)((close ? close : h) - h));
    if (!colon) strbuf_puts(out, tls ? ":443" : ":80");
}

prom_tgt *prom_tgt_get(prom_store *st, const char *source, const char *resource)
{
    strbuf k;
    strbuf_init(&k);
    strbuf_puts(&k, source);
    strbuf_putc(&k, '\n');
    strbuf_puts(&k, resource);
    pub_map_entry *e = k.failed ? NULL : pub_map_put(&st->tgts, k.buf, k.len);
    strbuf_free(&k);
    if (!e) return NULL;
    if (e->value) return e->value;
    prom_tgt *t = calloc(1, sizeof *t);
    strbuf lab, inst;
    strbuf_init(&lab);
    strbuf_init(&inst);
    prom_put_instance(&inst, resource);
    const char *value[PROM_OWN_LABELS] = {inst.buf ? inst.buf : "", resource, source};
    static const char *const name[PROM_OWN_LABELS] = {"instance=", "resource=", "source="};
    for (size_t i = 0; i < PROM_OWN_LABELS && t; i++) {
        t->lab[i] = (uint32_t)lab.len;
        strbuf_puts(&lab, name[i]);
        strbuf_put_prom_label(&lab, inst.failed ? "" : value[i]);
    }
    strbuf_free(&inst);
    if (!t || lab.failed || inst.failed || lab.len > UINT32_MAX) {
        free(t);
        strbuf_free(&lab);
        pub_map_del(&st->tgts, e);
        return NULL;
    }
    t->lab[PROM_OWN_LABELS] = (uint32_t)lab.len;
    t->labels = lab.buf;
    t->entry = e;
    e->value = t;
    return t;
}

bool prom_tgt_set_owner(prom_tgt *t, const sample_batch *b)
{
    t->owned = b->owned;
    t->owned_ctx = b->owned_ctx;
    if (!b->target) {
        free(t->target);
        t->target = NULL;
        return true;
    }
    if (t->target && !strcmp(t->target, b->target)) return true;
    free(t->target);
    t->target = strdup(b->target);
    return t->target != NULL;
}

bool prom_tgt_memo(prom_tgt *t, size_t n)
{
    if (t->memo_cap >= n) return true;
    prom_series **v = realloc(t->memo, n * sizeof *v);
    if (!v) return false;
    memset(v + t->memo_cap, 0, (n - t->memo_cap) * sizeof *v);
    t->memo = v;
    t->memo_cap = n;
    return true;
}

/* ---- families and series ---- */

static void insert_at(void **v, size_t *n, size_t at, void *item)
{
    memmove(v + at + 1, v + at, (*n - at) * sizeof *v);
    v[at] = item;
    (*n)++;
}

static bool grow_ptrs(void ***v, size_t *cap, size_t n)
{
    if (n < *cap) return true;
    size_t c = *cap ? *cap * 2 : 8;
    void **nv = realloc(*v, c * sizeof *nv);
    if (!nv) return false;
    *v = nv;
    *cap = c;
    return true;
}

/* Index of the first family whose name is not below name. */
static size_t family_at(const prom_store *st, const char *name)
{
    size_t lo = 0, hi = st->nf;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(st->fv[mid]->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void family_free(prom_store *st, prom_family *f)
{
    pub_map_del(&st->fams, f->entry);
    free(f->v);
    free(f->help);
    free(f);
}

prom_family *prom_family_get(prom_store *st, const char *name, size_t nlen, char **help,
                             bool counter)
{
    pub_map_entry *e = pub_map_put(&st->fams, name, nlen);
    if (!e) return NULL;
    if (e->value) return e->value;
    prom_family *f = calloc(1, sizeof *f);
    if (!f || !grow_ptrs((void ***)&st->fv, &st->capf, st->nf)) {
        free(f);
        pub_map_del(&st->fams, e);
        return NULL;
    }
    f->name = e->key;
    f->nlen = nlen;
    f->help = *help;
    *help = NULL;
    f->counter = counter;
    f->entry = e;
    e->value = f;
    insert_at((void **)st->fv, &st->nf, family_at(st, f->name), f);
    return f;
}

/* Targets by resource, then source (as full keys sort: resource first). */
static int tgt_cmp(const prom_tgt *x, const prom_tgt *y)
{
    const char *xr = strchr(x->entry->key, '\n') + 1, *yr = strchr(y->entry->key, '\n') + 1;
    int c = strcmp(xr, yr);
    return c ? c
             : name_cmp_n(x->entry->key, (size_t)(xr - 1 - x->entry->key), y->entry->key,
                          (size_t)(yr - 1 - y->entry->key));
}

static uint32_t series_hash(const prom_family *f, const prom_tgt *t, const char *labels, size_t len)
{
    uint64_t h = pub_hash_bytes(labels, len) ^ ((uintptr_t)f * 0x9E3779B97F4A7C15ULL) ^
                 ((uintptr_t)t * 0xBF58476D1CE4E5B9ULL);
    return (uint32_t)(h ^ (h >> 32));
}

prom_series *prom_series_find(const prom_store *st, const prom_family *f, const prom_tgt *t,
                              const char *labels, size_t len)
{
    if (!st->nbuckets) return NULL;
    uint32_t h = series_hash(f, t, labels, len);
    for (prom_series *se = st->b[h & (st->nbuckets - 1)]; se; se = se->next)
        if (se->hash == h && se->fam == f && se->tgt == t && !strncmp(se->labels, labels, len) &&
            !se->labels[len])
            return se;
    return NULL;
}

static bool grow_buckets(prom_store *st)
{
    size_t nb = st->nbuckets ? st->nbuckets * 2 : 64;
    prom_series **b = calloc(nb, sizeof *b);
    if (!b) return false;
    for (size_t i = 0; i < st->nbuckets; i++)
        for (prom_series *se = st->b[i], *next; se; se = next) {
            next = se->next;
            se->next = b[se->hash & (nb - 1)];
            b[se->hash & (nb - 1)] = se;
        }
    free(st->b);
    st->b = b;
    st->nbuckets = nb;
    return true;
}

static void unlink_series(prom_store *st, prom_series *se)
{
    prom_series **pp = &st->b[se->hash & (st->nbuckets - 1)];
    while (*pp && *pp != se)
        pp = &(*pp)->next;
    if (*pp) *pp = se->next;
    st->n--;
}

prom_series *prom_series_new(prom_store *st, prom_family *f, prom_tgt *t, const char *labels,
                             size_t len, const uint16_t *off)
{
    bool room = st->n < st->nbuckets || grow_buckets(st);
    prom_series *se = room ? malloc(sizeof *se + len + 1) : NULL;
    if (!se || !grow_ptrs((void ***)&f->v, &f->cap, f->n)) {
        free(se);
        if (f->n == 0) {
            /* keep fv consistent: a family always has series */
            size_t at = family_at(st, f->name);
            memmove(st->fv + at, st->fv + at + 1, (st->nf - at - 1) * sizeof *st->fv);
            st->nf--;
            family_free(st, f);
        }
        return NULL;
    }
    *se = (prom_series){.fam = f, .tgt = t, .hash = series_hash(f, t, labels, len)};
    memcpy(se->off, off, sizeof se->off);
    memcpy(se->labels, labels, len);
    se->labels[len] = 0;
    se->next = st->b[se->hash & (st->nbuckets - 1)];
    st->b[se->hash & (st->nbuckets - 1)] = se;
    st->n++;
    t->series++;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = f->v[mid]->tgt == t ? strcmp(f->v[mid]->labels, se->labels)
                                    : tgt_cmp(f->v[mid]->tgt, t);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    insert_at((void **)f->v, &f->n, lo, se);
    return se;
}

/* ---- sweeps ---- */

/* Whether t is this member's at wall_ms; asks once per target in a row (a
 * family's series of one target are often adjacent). */
typedef struct own_memo {
    const prom_tgt *t;
    bool owned;
} own_memo;

static bool tgt_owned(const prom_tgt *t, int64_t wall_ms, own_memo *m)
{
    if (!t->owned || !t->target) return true;
    if (m->t != t) {
        m->t = t;
        m->owned = t->owned(t->owned_ctx, t->target, wall_ms);
    }
    return m->owned;
}

/* A target without series goes; the others forget their memo (it may point
 * at a freed series). */
static bool tgt_sweep(pub_map_entry *e, void *arg)
{
    (void)arg;
    prom_tgt *t = e->value;
    if (t->series == 0) {
        tgt_free(t);
        return true;
    }
    if (t->memo) memset(t->memo, 0, t->memo_cap * sizeof *t->memo);
    return false;
}

void prom_store_sweep(prom_store *st, const prom_stale *rule, int64_t now, int64_t wall_ms)
{
    own_memo memo = {0};
    size_t nf = 0;
    bool freed = false;
    for (size_t i = 0; i < st->nf; i++) {
        prom_family *f = st->fv[i];
        size_t n = 0;
        for (size_t j = 0; j < f->n; j++) {
            prom_series *se = f->v[j];
            int64_t limit = rule->max_age_ms;
            if (se->interval_ms > 0 && rule->stale_intervals > 0) {
                int64_t by_interval = se->interval_ms * rule->stale_intervals;
                if (by_interval < rule->min_age_ms) by_interval = rule->min_age_ms;
                if (by_interval < limit) limit = by_interval;
            }
            if (now - se->updated_ms > limit ||
                (wall_ms >= 0 && !tgt_owned(se->tgt, wall_ms, &memo))) {
                se->tgt->series--;
                unlink_series(st, se);
                free(se);
                freed = true;
            } else {
                f->v[n++] = se;
            }
        }
        f->n = n;
        if (n == 0)
            family_free(st, f);
        else
            st->fv[nf++] = f;
    }
    st->nf = nf;
    if (freed) pub_map_sweep(&st->tgts, tgt_sweep, NULL);
}
