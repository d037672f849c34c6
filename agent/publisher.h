/*
 * publisher.h (internal to agent/): the publisher plugin table and the
 * asynchronous wrapper every publisher runs inside.
 *
 * A publisher plugin (file, udp, statsd, http, prometheus) is a table of
 * functions keyed by URL scheme, like collectd's write plugins; the core never
 * knows one by name. Plugins are written synchronously: `publish` sends one
 * batch and returns. The wrapper (publisher.c) gives each publisher a bounded
 * queue and its own thread, so a slow or failing publisher never blocks
 * polling or other publishers: when the queue is full the oldest batch is
 * dropped and counted; a retryable failure is retried with exponential
 * backoff while newer batches keep queueing (and dropping oldest).
 * Plugins with `inline_publish` set (prometheus: a memory update) are called
 * directly on the worker thread and get no queue or thread.
 *
 * A plugin opens from the pipeline's parsed publisher (pipeline_publisher:
 * host, port with the scheme's default, path, query), never from the URL
 * text: what `meterctl validate` accepted is exactly what runs. The scheme's
 * URL rules and defaults are its registry row (registry/publishers.c).
 */
#ifndef METERD_AGENT_PUBLISHER_H
#define METERD_AGENT_PUBLISHER_H

#include "agent/sample.h"
#include "agent/strbuf.h"
#include "pipeline/pipeline.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    PUBLISH_OK = 0,
    PUBLISH_RETRY = 1, /* transient failure: the wrapper retries this batch with backoff */
    PUBLISH_FAIL = -1, /* permanent for this batch: counted as dropped, not retried */
};

struct plugin_ctx;

typedef struct publisher_plugin {
    const char *scheme;
    bool inline_publish; /* call publish() on the caller's thread, no queue */
    /* Opens the publisher from its validated URL (host "" when absent, port
     * already defaulted); pstate is what process_init stored (NULL without
     * an agent: tests, benchmarks). On error writes a human message to err. */
    int (*open)(const pipeline_publisher *u, void *pstate, void **self, char *err, size_t errlen);
    /* Sends one batch. Returns PUBLISH_OK / PUBLISH_RETRY / PUBLISH_FAIL, with err set. */
    int (*publish)(void *self, const sample_batch *b, char *err, size_t errlen);
    /* Optional: pushes out anything buffered (shutdown, swap). */
    void (*flush)(void *self);
    /* Optional: SIGHUP (file: reopen for log rotation). */
    void (*reopen)(void *self);
    /* Optional: appends Prometheus exposition text (prometheus: /metrics). */
    void (*render)(void *self, strbuf *out);
    void (*close)(void *self);
    /*
     * Optional, added for bounded close: called from another thread when the
     * drain deadline passes while publish() may be blocked (http: a receiver
     * that holds the connection); publish() must then return soon.
     */
    void (*cancel)(void *self);
    /* Optional process hooks (plugin.h): once at agent start, once at stop. */
    int (*process_init)(const struct plugin_ctx *ctx, void **pstate, char *err, size_t errlen);
    void (*process_shutdown)(void *pstate);
} publisher_plugin;

/* The table of built-in plugins, NULL-terminated. */
extern const publisher_plugin *const publisher_plugins[];

typedef struct publisher_stats {
    uint64_t batches, samples; /* published successfully */
    uint64_t dropped_batches, dropped_samples;
    uint64_t failures, retries;
    int64_t last_ok_ms, last_error_ms;
    char last_error[256];
    size_t queued; /* batches waiting now */
} publisher_stats;

typedef struct publisher_options {
    size_t queue_batches; /* bound of the queue (default 1024) */
    int retry_initial_ms; /* first backoff (default 100) */
    int retry_max_ms;     /* backoff cap (default 30000) */
    int flush_timeout_ms; /* at close: how long to drain the queue (default 5000) */
    /* process states of publisher_plugins[i] (the agent's), or NULL */
    void *const *process_states;
} publisher_options;

typedef struct publisher publisher;

/*
 * Finds the plugin of a parsed, validated publisher (a sink's entry of a
 * parsed pipeline) and opens it. NULL with a message in err when the scheme
 * is foreign or open fails.
 */
publisher *publisher_open(const pipeline_publisher *pp, const publisher_options *opt, char *err,
                          size_t errlen);

/*
 * One URL through the same parse and checks a pipeline's publishers get
 * (pipeline_publisher_parse with the registry's schemes), then
 * publisher_open: for tests and benchmarks, which have a URL, not a pipeline.
 */
publisher *publisher_open_url(const char *url, const publisher_options *opt, char *err,
                              size_t errlen);

/* Queues a batch (takes a reference); never blocks on the network. */
void publisher_submit(publisher *p, sample_batch *b);

/* Waits until the queue is empty or timeout_ms passes; calls the plugin's flush. */
void publisher_flush(publisher *p, int timeout_ms);

void publisher_reopen(publisher *p);
void publisher_render(publisher *p, strbuf *out);
void publisher_get_stats(publisher *p, publisher_stats *out);
/* The URL as written: it may hold credentials (user:password@, ?token=). */
const char *publisher_url_string(const publisher *p);

/* Drains (bounded by flush_timeout_ms), stops the thread, closes, frees. */
void publisher_close(publisher *p);

#endif
