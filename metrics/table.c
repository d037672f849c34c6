/*
 * table.c: a small string-keyed hash table (chained, FNV-1a, doubling at load
 * 1). Registration is rare and read-mostly, so simplicity wins over a clever
 * open-addressing layout; callers hold the registry's lock.
 */
#include "metrics/internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void *mx_table_get(const mx_table *t, const char *key)
{
    if (!t->nbuckets) return NULL;
    for (mx_entry *e = t->buckets[hash(key) & (t->nbuckets - 1)]; e; e = e->next)
        if (strcmp(e->key, key) == 0) return e->value;
    return NULL;
}

static int grow(mx_table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 16;
    mx_entry **b = calloc(n, sizeof *b);
    if (!b) return -1;
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (mx_entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t j = hash(e->key) & (n - 1);
            e->next = b[j];
            b[j] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

int mx_table_put(mx_table *t, const char *key, void *value)
{
    if (t->count >= t->nbuckets && grow(t) != 0) return -1;
    size_t len = strlen(key);
    mx_entry *e = malloc(sizeof *e + len + 1);
    if (!e) return -1;
    memcpy(e->key, key, len + 1);
    e->value = value;
    size_t i = hash(key) & (t->nbuckets - 1);
    e->next = t->buckets[i];
    t->buckets[i] = e;
    t->count++;
    return 0;
}

void mx_table_free(mx_table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (mx_entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->buckets);
    t->buckets = NULL;
    t->nbuckets = t->count = 0;
}
