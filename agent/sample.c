/*
 * sample.c: batches of samples with an arena for their strings.
 *
 * Pollsters add a few to a few hundred samples per poll; one malloc per string
 * would dominate the cost per sample, so strings and label arrays are carved
 * from 4 KB chunks freed together with the batch.
 */
#include "agent/sample.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN 4096

struct sample_chunk {
    sample_chunk *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

static void *arena_alloc(sample_batch *b, size_t size)
{
    size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    sample_chunk *c = b->arena;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > CHUNK_MIN ? size : CHUNK_MIN;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = b->arena;
        c->used = 0;
        c->cap = cap;
        b->arena = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

const char *sample_batch_strdup(sample_batch *b, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(b, n);
    if (p) memcpy(p, s, n);
    return p;
}

sample_batch *sample_batch_new(const char *source, uint64_t epoch, int64_t polled_ms)
{
    sample_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    atomic_init(&b->refs, 1);
    b->epoch = epoch;
    b->polled_ms = polled_ms;
    b->source = sample_batch_strdup(b, source ? source : "");
    if (!b->source) {
        sample_batch_unref(b);
        return NULL;
    }
    return b;
}

/* Room for one more sample; 0 or -1. */
static int room(sample_batch *b)
{
    if (b->n < b->cap) return 0;
    size_t cap = b->cap ? b->cap * 2 : 16;
    sample *nv = realloc(b->v, cap * sizeof *nv);
    if (!nv) return -1;
    b->v = nv;
    b->cap = cap;
    return 0;
}

int sample_batch_add(sample_batch *b, const char *name, sample_type type, const char *unit,
                     double value, const char *resource, int64_t time_ms,
                     const sample_label *labels, size_t n_labels)
{
    if (room(b) != 0) return -1;
    sample *s = &b->v[b->n];
    s->name = sample_batch_strdup(b, name);
    s->unit = sample_batch_strdup(b, unit ? unit : "");
    s->resource = sample_batch_strdup(b, resource ? resource : "");
    s->type = type;
    s->value = value;
    s->time_ms = time_ms;
    s->labels = NULL;
    s->n_labels = 0;
    if (!s->name || !s->unit || !s->resource) return -1;
    if (n_labels) {
        sample_label *l = arena_alloc(b, n_labels * sizeof *l);
        if (!l) return -1;
        for (size_t i = 0; i < n_labels; i++) {
            l[i].key = sample_batch_strdup(b, labels[i].key);
            l[i].value = sample_batch_strdup(b, labels[i].value);
            if (!l[i].key || !l[i].value) return -1;
        }
        s->labels = l;
        s->n_labels = n_labels;
    }
    b->n++;
    return 0;
}

int sample_batch_push(sample_batch *b, const sample *s)
{
    if (room(b) != 0) return -1;
    sample *d = &b->v[b->n];
    *d = *s;
    if (s->n_labels) {
        sample_label *l = arena_alloc(b, s->n_labels * sizeof *l);
        if (!l) return -1;
        memcpy(l, s->labels, s->n_labels * sizeof *l);
        d->labels = l;
    }
    b->n++;
    return 0;
}

void sample_batch_ref(sample_batch *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void sample_batch_unref(sample_batch *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
    sample_chunk *c = b->arena;
    while (c) {
        sample_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(b->v);
    free(b);
}

const char *sample_type_name(sample_type t)
{
    switch (t) {
    case SAMPLE_GAUGE:
        return "gauge";
    case SAMPLE_CUMULATIVE:
        return "cumulative";
    case SAMPLE_DELTA:
        return "delta";
    }
    return "gauge";
}
