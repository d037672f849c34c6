/* diff.c -- what changed between two revisions, per source and per sink.
 *
 * The graceful reload rests on this: the agent keeps every pollster of an
 * UNCHANGED source running, drains and replaces CHANGED ones, starts ADDED
 * and stops REMOVED ones; publishers are swapped per sink the same way.
 * Both pipelines keep their sources and sinks sorted by name (canonical.c),
 * so the diff is one merge pass, and "changed" is a comparison of the
 * per-entry sha256 digests, which cover exactly the canonical fields. A
 * source's digest covers its own fields only (its sink *names*, not their
 * publishers): a publisher edit is a sink change and leaves pollsters alone.
 */
#include "pipeline/internal.h"

#include <stdlib.h>
#include <string.h>

const char *pipeline_change_name(pipeline_change c)
{
    switch (c) {
    case PIPELINE_UNCHANGED:
        return "unchanged";
    case PIPELINE_CHANGED:
        return "changed";
    case PIPELINE_ADDED:
        return "added";
    case PIPELINE_REMOVED:
        return "removed";
    }
    return "?";
}

/* One merge pass over two name-sorted arrays of stride `size`; name_off and
 * digest_off locate the name pointer and digest inside an element. */
typedef struct {
    const char *name;
    pipeline_change change;
    const void *old_e, *new_e;
} delta;

static size_t merge(const char *a, size_t na, const char *b, size_t nb, size_t size,
                    size_t name_off, size_t digest_off, delta *out)
{
    size_t i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        const char *ea = i < na ? a + i * size : NULL;
        const char *eb = j < nb ? b + j * size : NULL;
        const char *an = ea ? *(char *const *)(ea + name_off) : NULL;
        const char *bn = eb ? *(char *const *)(eb + name_off) : NULL;
        int c = !ea ? 1 : !eb ? -1 : strcmp(an, bn);
        if (c < 0) {
            out[n++] = (delta){an, PIPELINE_REMOVED, ea, NULL};
            i++;
        } else if (c > 0) {
            out[n++] = (delta){bn, PIPELINE_ADDED, NULL, eb};
            j++;
        } else {
            bool same = memcmp(ea + digest_off, eb + digest_off, 32) == 0;
            out[n++] = (delta){bn, same ? PIPELINE_UNCHANGED : PIPELINE_CHANGED, ea, eb};
            i++;
            j++;
        }
    }
    return n;
}

int pipeline_diff_compute(const pipeline *old_p, const pipeline *new_p, pipeline_diff *out)
{
    static const pipeline empty;
    memset(out, 0, sizeof *out);
    if (old_p == NULL) old_p = &empty;
    if (new_p == NULL) new_p = &empty;
    size_t ns = old_p->n_sources + new_p->n_sources, nk = old_p->n_sinks + new_p->n_sinks;
    delta *ds = calloc(ns + 1, sizeof *ds), *dk = calloc(nk + 1, sizeof *dk);
    out->sources = calloc(ns + 1, sizeof *out->sources);
    out->sinks = calloc(nk + 1, sizeof *out->sinks);
    if (!ds || !dk || !out->sources || !out->sinks) {
        free(ds);
        free(dk);
        pipeline_diff_free(out);
        return -1;
    }
    out->n_sources = merge((const char *)old_p->sources, old_p->n_sources,
                           (const char *)new_p->sources, new_p->n_sources, sizeof(pipeline_source),
                           offsetof(pipeline_source, name), offsetof(pipeline_source, digest), ds);
    out->n_sinks = merge((const char *)old_p->sinks, old_p->n_sinks, (const char *)new_p->sinks,
                         new_p->n_sinks, sizeof(pipeline_sink), offsetof(pipeline_sink, name),
                         offsetof(pipeline_sink, digest), dk);
    for (size_t i = 0; i < out->n_sources; i++) {
        out->sources[i] =
            (pipeline_source_delta){ds[i].name, ds[i].change, ds[i].old_e, ds[i].new_e};
        if (ds[i].change != PIPELINE_UNCHANGED) out->n_changes++;
    }
    for (size_t i = 0; i < out->n_sinks; i++) {
        out->sinks[i] = (pipeline_sink_delta){dk[i].name, dk[i].change, dk[i].old_e, dk[i].new_e};
        if (dk[i].change != PIPELINE_UNCHANGED) out->n_changes++;
    }
    free(ds);
    free(dk);
    return 0;
}

void pipeline_diff_free(pipeline_diff *d)
{
    if (d == NULL) return;
    free(d->sources);
    free(d->sinks);
    memset(d, 0, sizeof *d);
}
