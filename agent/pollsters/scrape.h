/*
 * pollsters/scrape.h (internal to agent/): the Prometheus scrape pollster's
 * three steps, kept apart so the fetch can be driven synchronously (the
 * poll() of today's contract) or by an event loop's libcurl multi handle
 * (the asynchronous contract): prepare a target's easy handle, let anything
 * run it, finish it (status, size, content type), then parse and emit.
 */
#ifndef METERD_AGENT_POLLSTERS_SCRAPE_H
#define METERD_AGENT_POLLSTERS_SCRAPE_H

#include "agent/pollster.h"
#include "expo/expo.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* Per-source parameters (the `parameters:` mapping, registry row scrape). */
typedef struct scrape_params {
    long timeout_ms;     /* whole transfer; default 10000 */
    size_t body_limit;   /* bytes after decompression; default 16 MiB */
    size_t series_limit; /* series per target; default 50000 */
} scrape_params;

/* The registry row's defaults (configure() reads the source's values). */
void scrape_params_default(scrape_params *p);

typedef struct scrape_target scrape_target;

/* A target's state: its easy handle (connections are kept alive between
 * scrapes, as Prometheus does) and its body buffer, reused. */
int scrape_target_new(const char *url, const scrape_params *params, scrape_target **out, char *err,
                      size_t errlen);
void scrape_target_free(scrape_target *t);
/* The limits of the next scrapes (a source's parameters may change while the
 * target, and its connection, stay). */
void scrape_target_set_params(scrape_target *t, const scrape_params *params);

/* Step 1: the easy handle, ready to add to a multi handle (body reset);
 * timeout_ms > 0 caps the transfer below the params' timeout (the poll's
 * deadline). */
CURL *scrape_fetch_prepare(scrape_target *t, long timeout_ms);
/* Step 2b: after the transfer ended with res: 0 with a body to parse, or -1
 * with why (HTTP status, body limit, libcurl's message). */
int scrape_fetch_finish(scrape_target *t, CURLcode res, char *err, size_t errlen);
/* Steps 1-2 on the calling thread with the target's own multi handle (made
 * on first use: a target driven by an outside multi handle never has one). */
int scrape_fetch_sync(scrape_target *t, long timeout_ms, char *err, size_t errlen);

/* Which scraped meters ("scrape.<name>") the source selects; NULL: all. */
typedef bool (*scrape_select_fn)(void *ctx, const char *meter);

/*
 * Step 3: parses the fetched body and appends every selected series to out
 * as meter "scrape.<name>", its labels kept, plus a first label __name__
 * holding the original name (what the prometheus:// publisher exposes it
 * under). All or nothing: on any error (syntax, series limit) out is cut
 * back to what it held before, and -1 returns with the line:col in err.
 * *series is the number of series the body held.
 */
int scrape_emit(scrape_target *t, const poll_target *pt, int64_t now_ms, scrape_select_fn sel,
                void *sel_ctx, sample_batch *out, size_t *series, char *err, size_t errlen);

#endif
