/*
 * agent.h: the public API of meterd's agent module (the daemon).
 *
 * An agent reads meterd.conf, loads its pipeline (or the embedded default),
 * schedules every source's pollsters over its targets, publishes samples to
 * the sources' sinks, serves its HTTP API, and reloads the pipeline by diff
 * when the file changes or on SIGHUP. agent_run() blocks on the agent's event
 * loop until agent_stop() or SIGTERM/SIGINT; shutdown lets in-flight polls
 * finish and flushes every publisher.
 */
#ifndef METERD_AGENT_H
#define METERD_AGENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct agent agent;

typedef struct agent_options {
    const char *config_path; /* NULL: built-in defaults */
    const char *namespaces;  /* NULL: from the config */
    const char *pipeline;    /* NULL: [polling] cfg_file from the config */
    bool handle_signals;     /* SIGTERM/SIGINT stop, SIGHUP reloads (the daemon: true) */
} agent_options;

/* Loads the config and the pipeline, opens publishers and the API. NULL with
 * every problem written to err (file:line:column where known). */
agent *agent_new(const agent_options *opt, char *err, size_t errlen);

/* Runs until stopped. 0 on a clean stop, -1 if the loop failed. */
int agent_run(agent *a);

/* Thread-safe and async-signal-unsafe: asks agent_run to return. */
void agent_stop(agent *a);

/* Asks for a pipeline reload now (what SIGHUP does). Thread-safe. */
void agent_request_reload(agent *a);

/* The port the HTTP API listens on (useful with port = 0), or -1. */
int agent_api_port(const agent *a);

/* Frees everything; call after agent_run returned (or instead of it). */
void agent_free(agent *a);

/* The version string ("0.1.0"). */
const char *agent_version(void);

#endif
