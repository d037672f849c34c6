/*
 * sample.h (internal to agent/): samples and the batches that carry them from
 * a poll to every publisher of the source's sinks.
 *
 * One poll of one target produces one batch. A batch owns its strings in an
 * arena (one allocation per few KB, not per sample) and is reference counted,
 * because the same batch is queued on several publishers at once and each
 * releases it when done: no copy per publisher. A batch is immutable once
 * published (sample_batch_seal), so publishers read it without locks.
 */
#ifndef METERD_AGENT_SAMPLE_H
#define METERD_AGENT_SAMPLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SAMPLE_GAUGE,      /* a level: last value wins */
    SAMPLE_CUMULATIVE, /* monotonically increasing since some start */
    SAMPLE_DELTA,      /* change since the previous poll */
} sample_type;

typedef struct sample_label {
    const char *key;
    const char *value;
} sample_label;

typedef struct sample {
    const char *name; /* meter name, e.g. "host.pressure.cpu.some.avg10" */
    sample_type type;
    const char *unit; /* "%", "us", "1", "C", "RPM"... */
    double value;
    const char *resource; /* resource id: host name, cgroup path, BMC address */
    int64_t time_ms;      /* wall clock, ms since the Unix epoch */
    const sample_label *labels;
    size_t n_labels;
} sample;

typedef struct sample_chunk sample_chunk;

typedef struct sample_batch {
    atomic_int refs;
    const char *source; /* pipeline source name (arena copy) */
    uint64_t epoch;     /* slot-table epoch the poll ran under; 0 standalone */
    int64_t polled_ms;  /* when the poll started (wall clock) */
    /* cluster mode, a shared target: who may still export its series (the
     * prometheus:// store hides them once this member stops owning target):
     * owned(owned_ctx, target, wall_ms). NULL owned: always (standalone, local) */
    const char *target;
    bool (*owned)(void *ctx, const char *target, int64_t wall_ms);
    void *owned_ctx;
    sample *v;
    size_t n, cap;
    sample_chunk *arena; /* strings and labels live here */
} sample_batch;

/* A new batch with one reference, for `source` (copied). NULL on ENOMEM. */
sample_batch *sample_batch_new(const char *source, uint64_t epoch, int64_t polled_ms);

/* Copies a string into the batch's arena. NULL on ENOMEM. */
const char *sample_batch_strdup(sample_batch *b, const char *s);

/*
 * Appends a sample; strings and labels are copied into the arena.
 * Returns 0, or -1 on ENOMEM (the batch stays valid).
 */
int sample_batch_add(sample_batch *b, const char *name, sample_type type, const char *unit,
                     double value, const char *resource, int64_t time_ms,
                     const sample_label *labels, size_t n_labels);

/*
 * Appends *s without copying its strings, which must live as long as b (in
 * its arena, or static): for a pollster that adds many samples sharing a
 * name, unit and resource, copied once (sample_batch_strdup) instead of per
 * sample. The label array is copied. 0, or -1 on ENOMEM (b stays valid).
 */
int sample_batch_push(sample_batch *b, const sample *s);

void sample_batch_ref(sample_batch *b);
void sample_batch_unref(sample_batch *b);

const char *sample_type_name(sample_type t); /* "gauge", "cumulative", "delta" */

#endif
