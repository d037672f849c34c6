/*
 * publishers/prom_store.h (internal to agent/): the prometheus:// publisher's
 * series store — families sorted by name, their series by target then label
 * text, the targets their series share, staleness and ownership sweeps.
 * prometheus.c renders names and labels into keys and pages; this file keeps
 * what they name. Every function here runs with the publisher's mutex held.
 *
 * A series is its family, its target and its label text, in two forms:
 * - full: "{every label}" as rendered on the page (meterd's meters, and
 *   scraped series whose own labels clash with instance/resource/source);
 * - split (scraped series): its own labels, sorted, no braces. The
 *   instance, resource and source labels, the same ~100 bytes for every
 *   series of a target, are rendered once in the target (prom_tgt) and merged
 *   in at render: off[0..2] are where each goes among the own labels, so the
 *   page reads as if they were stored with the series.
 */
#ifndef METERD_AGENT_PROM_STORE_H
#define METERD_AGENT_PROM_STORE_H

#include "agent/publishers/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROM_OWN_LABELS 3          /* instance, resource, source: the target's labels */
#define PROM_FULL       UINT16_MAX /* off[3] of a full series */

typedef struct prom_family prom_family;
typedef struct prom_tgt prom_tgt;

typedef struct prom_series {
    struct prom_series *next; /* hash chain */
    double value;
    int64_t updated_ms; /* monotonic */
    prom_family *fam;
    prom_tgt *tgt; /* its resource and source, whose owner it follows */
    int32_t interval_ms;
    uint32_t hash;
    /* split series: where instance, resource, source go in the own labels
     * (offsets of a label's start, or the end), then their length; off[3] ==
     * PROM_FULL for a full series */
    uint16_t off[PROM_OWN_LABELS + 1];
    char labels[]; /* "{...}" (full) or the own labels (split), NUL-ended */
} prom_series;

struct prom_family {
    char *name, *help;
    size_t nlen;
    bool counter;
    bool untyped;    /* scraped, and not a cumulative *_total */
    prom_series **v; /* sorted by label text */
    size_t n, cap;
    pub_map_entry *entry;
};

/* One resource of one source: what its series share. */
struct prom_tgt {
    pub_map_entry *entry; /* in prom_store.tgts: source "\n" resource */
    /* instance="..", resource="..", source=".." rendered, at lab[k]..lab[k+1] */
    char *labels;
    uint32_t lab[PROM_OWN_LABELS + 1];
    size_t series; /* series pointing here; swept at 0 */
    /* cluster mode: the shared target polled (sample_batch.owned); NULL
     * owned: always exported */
    char *target;
    bool (*owned)(void *ctx, const char *target, int64_t wall_ms);
    void *owned_ctx;
    /* the series of the last batch whose first sample is this target's, by
     * index: a page lists the same series in the same order each scrape, so
     * the next batch finds sample i's series at memo[i] (checked) without a
     * key or a hash lookup; cleared when a sweep frees a series */
    prom_series **memo;
    size_t memo_cap;
};

typedef struct prom_store {
    prom_series **b; /* (family, target, labels) → series: chained */
    size_t nbuckets, n;
    pub_map fams;     /* name → prom_family */
    pub_map tgts;     /* source "\n" resource → prom_tgt */
    prom_family **fv; /* sorted by name */
    size_t nf, capf;
} prom_store;

void prom_store_init(prom_store *st);
void prom_store_free(prom_store *st);

/* The target's host:port from its URL, with the scheme's port when none is
 * written (as Prometheus' instance label). */
void prom_put_instance(strbuf *out, const char *url);

/* The target of resource under source (made on first use, its instance
 * label from the URL); NULL on ENOMEM. */
prom_tgt *prom_tgt_get(prom_store *st, const char *source, const char *resource);
/* The batch's owner onto t; false on ENOMEM. */
bool prom_tgt_set_owner(prom_tgt *t, const sample_batch *b);
/* t's memo with room for n; false on ENOMEM (publish then looks every
 * series up). */
bool prom_tgt_memo(prom_tgt *t, size_t n);

/* The family name[0..nlen) (made with help, which it takes, on first use:
 * *help is NULLed then); NULL on ENOMEM. */
prom_family *prom_family_get(prom_store *st, const char *name, size_t nlen, char **help,
                             bool counter);
/* The series of f and t with labels[0..len) (a full or a split text, as
 * off[3] of a new one says), or NULL. */
prom_series *prom_series_find(const prom_store *st, const prom_family *f, const prom_tgt *t,
                              const char *labels, size_t len);
/* A new series of f and t (none there yet), off as prom_series.off. NULL on
 * ENOMEM (f left as it was, and freed if this was to be its first series). */
prom_series *prom_series_new(prom_store *st, prom_family *f, prom_tgt *t, const char *labels,
                             size_t len, const uint16_t *off);

/* Drops series updated longer ago than their limit (limit_ms(se)); with
 * wall_ms >= 0 also those whose target this member no longer owns. */
typedef struct prom_stale {
    int64_t max_age_ms, min_age_ms, stale_intervals;
} prom_stale;
void prom_store_sweep(prom_store *st, const prom_stale *rule, int64_t now, int64_t wall_ms);

#endif
