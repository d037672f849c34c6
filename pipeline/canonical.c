/* canonical.c -- the canonical form of a pipeline and its sha256 digests.
 *
 * Two files that mean the same thing must hash the same, whatever their
 * formatting, key order, comments, quoting or anchors. So the digest is
 * taken over a serialisation of the *parsed* pipeline, never of the text:
 * compact JSON (jansson, keys sorted, no spaces), one object
 *   {"sinks":[{"name":..,"publishers":[url..]}..],
 *    "sources":[{"discovery":[..],"interval":N,"meters":[..],"name":..,
 *                "resources":[..],"sinks":[..]}..],
 *    "version":1}
 * What is a set in Ceilometer's semantics is sorted (bytewise) and
 * de-duplicated: sources and sinks (by name: their order never matters),
 * meters (is_supported uses any/all), resources and discovery (Ceilometer
 * hashes them as a frozenset and drops duplicate resources), a source's sink
 * names, a sink's publisher URLs. Intervals are integers (60 and "60" are
 * the same, as int() makes them in Ceilometer). Defaults are resolved before
 * hashing: a source with no sinks lists "default", and the built-in default
 * sink appears in full, so spelling the default out hashes the same as
 * leaving it implicit. A source's `parameters` appear (as an object: scalar
 * values as strings, lists in their order, mappings as objects) only when it
 * has some, so the digests of sources without any did not change with them.
 * Ignored input (unknown keys, transformers) is not
 * hashed. "version" names this canonical scheme; changing the scheme
 * changes it.
 *
 * Each source and sink also gets its own digest (sha256 of its object alone)
 * so that a diff is a comparison of 32 bytes per entry.
 */
#include "pipeline/internal.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PL_CANONICAL_VERSION 1

int pl_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t pl_sort_unique(char **v, size_t n)
{
    if (n < 2) return n;
    qsort(v, n, sizeof *v, pl_strcmp_p);
    size_t o = 1;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i], v[o - 1]) == 0)
            free(v[i]);
        else
            v[o++] = v[i];
    }
    return o;
}

static int pub_cmp(const void *a, const void *b)
{
    return strcmp(((const pipeline_publisher *)a)->url, ((const pipeline_publisher *)b)->url);
}

static int source_cmp(const void *a, const void *b)
{
    return strcmp(((const pipeline_source *)a)->name, ((const pipeline_source *)b)->name);
}

static int sink_cmp(const void *a, const void *b)
{
    return strcmp(((const pipeline_sink *)a)->name, ((const pipeline_sink *)b)->name);
}

static int sha256(const char *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

static json_t *string_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_string(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/*
 * The canonical text is assembled from the pieces each digest already
 * serialised, not serialised a second time as one document (a revision of
 * 200 targets is parsed by every member on every push: issue 19). The
 * assembly is what json_dumps would give for the document: compact, keys
 * sorted ("sinks" < "sources" < "version"), array elements joined by ",".
 */
typedef struct text_buf {
    char *s;
    size_t len, cap;
} text_buf;

static int text_add(text_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *g = realloc(b->s, cap);
        if (g == NULL) return -1;
        b->s = g;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

/* Serialises obj compactly with sorted keys, hashes it and appends the text
 * to b (after a "," unless first); steals obj. */
static int append_digest(text_buf *b, bool first, json_t *obj, unsigned char out[32])
{
    if (obj == NULL) return -1;
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    if (text == NULL) return -1;
    size_t len = strlen(text);
    int rc = sha256(text, len, out);
    if (rc == 0 && !first) rc = text_add(b, ",", 1);
    if (rc == 0) rc = text_add(b, text, len);
    free(text);
    return rc;
}

static json_t *param_json(const pipeline_param *p)
{
    if (p->kind == PIPELINE_PARAM_SCALAR) return json_string(p->items[0]);
    if (p->kind == PIPELINE_PARAM_LIST) return string_array(p->items, p->n_items);
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i + 1 < p->n_items; i += 2)
        if (json_object_set_new(o, p->items[i], json_string(p->items[i + 1])) != 0) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static int param_cmp(const void *a, const void *b)
{
    return strcmp(((const pipeline_param *)a)->name, ((const pipeline_param *)b)->name);
}

/* Sets o[key] to the object of v's entries; 0 or -1. Absent when n is 0, so
 * the digests of sources without any did not change when the key arrived. */
static int set_entries(json_t *o, const char *key, const pipeline_param *v, size_t n)
{
    if (n == 0) return 0;
    json_t *obj = json_object();
    for (size_t i = 0; obj != NULL && i < n; i++)
        if (json_object_set_new(obj, v[i].name, param_json(&v[i])) != 0) {
            json_decref(obj);
            obj = NULL;
        }
    return obj != NULL && json_object_set_new(o, key, obj) == 0 ? 0 : -1;
}

static json_t *source_json(const pipeline_source *s)
{
    json_t *o = json_pack("{s:s, s:I, s:o, s:o, s:o, s:o}", "name", s->name, "interval",
                          (json_int_t)s->interval, "meters", string_array(s->meters, s->n_meters),
                          "resources", string_array(s->resources, s->n_resources), "discovery",
                          string_array(s->discovery, s->n_discovery), "sinks",
                          string_array(s->sinks, s->n_sinks));
    if (o == NULL) return NULL;
    if (set_entries(o, "parameters", s->params, s->n_params) != 0 ||
        set_entries(o, "target_labels", s->target_labels, s->n_target_labels) != 0 ||
        (s->n_file_sd &&
         json_object_set_new(o, "file_sd", string_array(s->file_sd, s->n_file_sd)) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *sink_json(const pipeline_sink *k)
{
    json_t *urls = json_array();
    for (size_t i = 0; urls != NULL && i < k->n_publishers; i++) {
        if (json_array_append_new(urls, json_string(k->publishers[i].url)) != 0) {
            json_decref(urls);
            return NULL;
        }
    }
    return json_pack("{s:s, s:o}", "name", k->name, "publishers", urls);
}

static void sort_publishers(pipeline_sink *k)
{
    if (k->n_publishers < 2) return;
    qsort(k->publishers, k->n_publishers, sizeof *k->publishers, pub_cmp);
    size_t o = 1;
    for (size_t i = 1; i < k->n_publishers; i++) {
        if (strcmp(k->publishers[i].url, k->publishers[o - 1].url) == 0)
            pl_publisher_clear(&k->publishers[i]);
        else
            k->publishers[o++] = k->publishers[i];
    }
    k->n_publishers = o;
}

int pl_canonicalise(pipeline *p)
{
    for (size_t i = 0; i < p->n_sources; i++) {
        pipeline_source *s = &p->sources[i];
        s->n_meters = pl_sort_unique(s->meters, s->n_meters);
        s->n_resources = pl_sort_unique(s->resources, s->n_resources);
        s->n_discovery = pl_sort_unique(s->discovery, s->n_discovery);
        s->n_sinks = pl_sort_unique(s->sinks, s->n_sinks);
        if (s->n_params > 1) qsort(s->params, s->n_params, sizeof *s->params, param_cmp);
        s->n_file_sd = pl_sort_unique(s->file_sd, s->n_file_sd);
        if (s->n_target_labels > 1)
            qsort(s->target_labels, s->n_target_labels, sizeof *s->target_labels, param_cmp);
    }
    for (size_t i = 0; i < p->n_sinks; i++)
        sort_publishers(&p->sinks[i]);
    if (p->n_sources > 1) qsort(p->sources, p->n_sources, sizeof *p->sources, source_cmp);
    if (p->n_sinks > 1) qsort(p->sinks, p->n_sinks, sizeof *p->sinks, sink_cmp);

    text_buf doc = {0};
    char tail[64];
    snprintf(tail, sizeof tail, "],\"version\":%d}", PL_CANONICAL_VERSION);
    int rc = text_add(&doc, "{\"sinks\":[", 10);
    for (size_t i = 0; rc == 0 && i < p->n_sinks; i++)
        rc = append_digest(&doc, i == 0, sink_json(&p->sinks[i]), p->sinks[i].digest);
    if (rc == 0) rc = text_add(&doc, "],\"sources\":[", 13);
    for (size_t i = 0; rc == 0 && i < p->n_sources; i++)
        rc = append_digest(&doc, i == 0, source_json(&p->sources[i]), p->sources[i].digest);
    if (rc == 0) rc = text_add(&doc, tail, strlen(tail));
    if (rc != 0) {
        free(doc.s);
        return -1;
    }
    free(p->canonical); /* computed again after a file_sd expansion */
    p->canonical = doc.s;
    p->canonical_len = strlen(p->canonical);
    if (sha256(p->canonical, p->canonical_len, p->sha256) != 0) return -1;
    pipeline_digest_hex(p->sha256, p->sha256_hex);
    return 0;
}

void pipeline_digest_hex(const unsigned char digest[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}
