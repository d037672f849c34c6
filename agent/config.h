/*
 * config.h (internal to agent/): meterd.conf, an ini file like
 * ceilometer.conf. Every option is declared once in a table (config.c) with
 * its type, default, bounds and one line of documentation; `meterd
 * --help-config` prints that table, so the docs cannot drift from the code.
 */
#ifndef METERD_AGENT_CONFIG_H
#define METERD_AGENT_CONFIG_H

#include "agent/publisher.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#define CONFIG_MAX_EXTRA 64
/* Largest meterd.conf accepted (a bigger one is refused, never truncated). */
#define CONFIG_MAX_BYTES (1024 * 1024)

/* Options of sections owned by other modules ([metrics], [coordination]) and
 * by plugins ([compute], [ipmi]: checked against the registry), kept verbatim
 * for them to read. */
typedef struct config_kv {
    char section[32];
    char key[64];
    char value[512];
    int line;
} config_kv;

typedef struct agent_config {
    char path[PATH_MAX]; /* the file it came from ("" when built-in defaults) */
    /* [DEFAULT] */
    char host[256];
    char namespaces[256];
    char log_level[16];
    char log_file[PATH_MAX];
    bool reload_pipeline_config;
    int pipeline_polling_interval; /* s */
    char proc_root[PATH_MAX];
    char secrets_file[PATH_MAX];
    /* [polling] */
    char cfg_file[PATH_MAX];
    int workers;
    int drain_timeout;        /* s */
    char allow_targets[1024]; /* allow.h: what pollsters may contact ("" anything) */
    /* [api] */
    bool api_enabled;
    char api_host[256];
    int api_port;
    char api_token_file[PATH_MAX];
    int stall_threshold_ms;
    int api_threads;
    int api_max_connections; /* 0: derived from RLIMIT_NOFILE (httpd_fd_budget) */
    int api_header_timeout_ms;
    int api_idle_timeout_ms;
    int api_max_head_bytes;
    char api_tls_cert_file[PATH_MAX]; /* all three "": plain HTTP */
    char api_tls_key_file[PATH_MAX];
    char api_tls_client_ca_file[PATH_MAX]; /* set: mTLS, a client certificate required */
    /* [publisher] */
    int queue_size;
    int retry_initial_ms;
    int retry_max_ms;
    int flush_timeout;          /* s */
    char publisher_allow[1024]; /* allow.h: where samples may go ("" anywhere) */
    /* other modules' sections */
    config_kv extra[CONFIG_MAX_EXTRA];
    int n_extra;
} agent_config;

/* Fills every option with its default (host from gethostname). */
void config_defaults(agent_config *c);

/*
 * Loads path over the defaults. On error returns -1 and writes every problem,
 * one "file:line: message" per line, into err. path must be a regular file of
 * at most CONFIG_MAX_BYTES, in text (no NUL byte), with lines that fit
 * libinih's buffer (at most 198 bytes); anything else is an error naming it.
 */
int config_load(agent_config *c, const char *path, char *err, size_t errlen);

/* Same, from a string (tests); name labels errors. */
int config_load_string(agent_config *c, const char *text, const char *name, char *err,
                       size_t errlen);

/* 0 if list names at least one namespace and only known ones; else -1 and
 * why in err (for --namespaces and the namespaces option alike). */
int config_namespaces_check(const char *list, char *err, size_t errlen);

/* Prints every option: section, name, default, documentation. */
void config_print_help(FILE *out);

/* The value of an extra option, or NULL. */
const char *config_extra(const agent_config *c, const char *section, const char *key);

/* publisher_options from the [publisher] section. */
void config_publisher_options(const agent_config *c, publisher_options *out);

#endif
