/*
 * config.c: the option table and the ini reader.
 *
 * registry_ini_parse() (the reader meterproxy.conf goes through too) does
 * the parsing and gives the handler the line it is on, so every error names
 * file:line. Unknown options and sections are
 * errors (a typo silently ignored is an outage waiting for a page), except in
 * sections that belong to other modules, which are stored verbatim. Plugin
 * sections ([compute], [ipmi]...) are declared by the plugin registry with
 * their options: checked here (type, bounds, unknown keys) and stored for the
 * plugins' config hooks.
 */
#include "agent/config.h"
#include "agent/log.h"
#include "agent/readfile.h"
#include "registry/registry.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Types, bounds and value checks are the registry's, shared with the plugin
 * sections, so every ini value is read by one set of rules. */
#define OPT_STR  REGISTRY_OPT_STR
#define OPT_INT  REGISTRY_OPT_INT
#define OPT_BOOL REGISTRY_OPT_BOOL

typedef struct option_desc {
    const char *section, *name;
    registry_opt_type type;
    size_t offset, size;
    const char *def;
    long min, max;
    const char *doc;
} option_desc;

#define STR(sec, n, field, d, doc)                                                                 \
    {                                                                                              \
        sec, n, OPT_STR, offsetof(agent_config, field), sizeof(((agent_config *)0)->field), d, 0,  \
            0, doc                                                                                 \
    }
#define INT(sec, n, field, d, lo, hi, doc)                                                         \
    {                                                                                              \
        sec, n, OPT_INT, offsetof(agent_config, field), sizeof(int), d, lo, hi, doc                \
    }
#define BOOL(sec, n, field, d, doc)                                                                \
    {                                                                                              \
        sec, n, OPT_BOOL, offsetof(agent_config, field), sizeof(bool), d, 0, 1, doc                \
    }

static const option_desc options[] = {
    STR("DEFAULT", "host", host, "",
        "Name of this host in samples and member ids (default: gethostname())"),
    STR("DEFAULT", "namespaces", namespaces, "central,compute",
        "Pollster namespaces to run: central, compute, ipmi (--namespaces overrides)"),
    STR("DEFAULT", "log_level", log_level, "info", "debug, info, warning or error"),
    STR("DEFAULT", "log_file", log_file, "", "Log file (empty: stderr); reopened on SIGHUP"),
    BOOL("DEFAULT", "reload_pipeline_config", reload_pipeline_config, "true",
         "Reload the pipeline file when it changes (inotify, plus a periodic check)"),
    INT("DEFAULT", "pipeline_polling_interval", pipeline_polling_interval, "20", 1, 86400,
        "Seconds between checks of the pipeline file when inotify misses a change"),
    STR("DEFAULT", "proc_root", proc_root, "/proc", "Where procfs is mounted (for containers)"),
    STR("DEFAULT", "secrets_file", secrets_file, "",
        "Secrets plugins reference by name (name = value lines); must be a regular file, mode "
        "0600"),
    STR("polling", "cfg_file", cfg_file, "",
        "Pipeline file (Ceilometer polling.yaml + sinks); empty: the embedded default"),
    INT("polling", "workers", workers, "4", 1, 256, "Poll worker threads"),
    INT("polling", "drain_timeout", drain_timeout, "10", 0, 3600,
        "Seconds a removed source may take to finish in-flight polls (a changed one waits for "
        "none)"),
    STR("polling", "allow_targets", allow_targets, "",
        "What pollsters may contact: CIDRs, addresses, host patterns, optional :port (empty: "
        "anything); a revision naming another target is refused"),
    BOOL("api", "enabled", api_enabled, "true", "Serve the HTTP API"),
    STR("api", "host", api_host, "127.0.0.1",
        "Address the HTTP API listens on (loopback unless told otherwise)"),
    INT("api", "port", api_port, "9467", 0, 65535, "HTTP API port (0: any free port)"),
    STR("api", "token_file", api_token_file, "",
        "A mode-0600 file holding the bearer token every request must carry (required when "
        "host is not loopback)"),
    INT("api", "stall_threshold_ms", stall_threshold_ms, "5000", 100, 3600000,
        "/health answers 503 once the event loop is stuck in one iteration this long"),
    INT("api", "threads", api_threads, "2", 1, 64, "Threads serving the HTTP API"),
    INT("api", "max_connections", api_max_connections, "0", 0, 1000000,
        "Open API connections at most; more get 503 (0: three quarters of the descriptor "
        "limit, the rest reserved for polling and publishing)"),
    INT("api", "header_timeout_ms", api_header_timeout_ms, "10000", 100, 600000,
        "A request's whole head must arrive within this time, else the connection is closed"),
    INT("api", "idle_timeout_ms", api_idle_timeout_ms, "30000", 1000, 3600000,
        "An idle keep-alive API connection is closed after this time"),
    INT("api", "max_head_bytes", api_max_head_bytes, "8192", 1024, 1048576,
        "Largest request head (request line and headers); larger ones get 431"),
    STR("api", "tls_cert_file", api_tls_cert_file, "",
        "PEM certificate (chain) the API serves HTTPS with; needs tls_key_file (empty: plain "
        "HTTP)"),
    STR("api", "tls_key_file", api_tls_key_file, "", "PEM private key of tls_cert_file"),
    STR("api", "tls_client_ca_file", api_tls_client_ca_file, "",
        "PEM CA(s): every API client must present a certificate it signed (mTLS; 403 "
        "otherwise, probes included); needs tls_cert_file and tls_key_file"),
    INT("publisher", "queue_size", queue_size, "1024", 1, 1000000,
        "Batches queued per publisher before the oldest is dropped"),
    INT("publisher", "retry_initial_ms", retry_initial_ms, "100", 1, 600000,
        "First retry delay of a failing publisher (doubles up to retry_max_ms)"),
    INT("publisher", "retry_max_ms", retry_max_ms, "30000", 1, 3600000, "Longest retry delay"),
    INT("publisher", "flush_timeout", flush_timeout, "5", 0, 600,
        "Seconds a publisher may take to flush at shutdown or when removed"),
    STR("publisher", "allow", publisher_allow, "",
        "Where samples may go: scheme://[host][:port][/path-prefix] entries (empty: anywhere); "
        "a revision naming another destination is refused"),
};

#define N_OPTIONS (sizeof options / sizeof options[0])

/* Sections whose options other modules interpret. */
static const char *const foreign_sections[] = {"metrics", "coordination", NULL};

static int set_option(agent_config *c, const option_desc *o, const char *value, char *msg,
                      size_t msglen)
{
    char *field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_STR:
        if (strlen(value) >= o->size) {
            snprintf(msg, msglen, "value of %s is too long (at most %zu bytes)", o->name,
                     o->size - 1);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case OPT_INT:
    case OPT_BOOL: {
        registry_option ro = {o->name, o->type, o->def, o->min, o->max, o->doc};
        if (registry_option_check(&ro, value, msg, msglen) != 0) return -1;
        if (o->type == OPT_INT)
            *(int *)field = (int)strtol(value, NULL, 10);
        else
            *(bool *)field = registry_option_true(value);
        return 0;
    }
    }
    return -1;
}

void config_defaults(agent_config *c)
{
    memset(c, 0, sizeof *c);
    char msg[256];
    for (size_t i = 0; i < N_OPTIONS; i++)
        set_option(c, &options[i], options[i].def, msg, sizeof msg);
    if (gethostname(c->host, sizeof c->host) != 0) snprintf(c->host, sizeof c->host, "localhost");
    c->host[sizeof c->host - 1] = 0;
}

typedef struct parse_state {
    agent_config *c;
    const char *name, *text;
    size_t len;
    int line;
    int namespaces_line, log_level_line; /* where they were set, for their errors */
    int tls_line[3];                     /* [api] tls_cert_file, tls_key_file, tls_client_ca_file */
    char *err;
    size_t errlen, errused;
    int nerrors;
} parse_state;

/* One "file:line: msg" (or "file:line:col: msg" when col > 0) into err. */
static void put_error(parse_state *ps, int col, const char *msg)
{
    ps->nerrors++;
    if (ps->errused + 1 >= ps->errlen) return;
    char where[32] = "";
    if (col > 0) snprintf(where, sizeof where, "%d:", col);
    int n = snprintf(ps->err + ps->errused, ps->errlen - ps->errused, "%s%s:%d:%s %s",
                     ps->errused ? "\n" : "", ps->name, ps->line, where, msg);
    if (n > 0) ps->errused += (size_t)n;
    if (ps->errused >= ps->errlen) ps->errused = ps->errlen - 1;
}

__attribute__((format(printf, 2, 3))) static void add_error(parse_state *ps, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    put_error(ps, 0, msg);
}

/* The column where line's option name starts (1-based; 1 when unknown). */
static int option_column(const parse_state *ps, int line)
{
    const char *p = ps->text, *end = ps->text + ps->len;
    for (int l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    int col = 1;
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
        col++;
    }
    return col;
}

static bool is_foreign(const char *section)
{
    for (int i = 0; foreign_sections[i]; i++)
        if (!strcmp(section, foreign_sections[i])) return true;
    return false;
}

/* An option of a plugin's section: checked against the registry's row. */
static bool plugin_option_ok(parse_state *ps, const registry_section *rs, const char *name,
                             const char *value)
{
    for (size_t i = 0; i < rs->n_options; i++) {
        if (strcmp(rs->options[i].name, name) != 0) continue;
        char msg[400];
        if (registry_option_check(&rs->options[i], value, msg, sizeof msg) == 0) return true;
        add_error(ps, "%s", msg);
        return false;
    }
    add_error(ps, "unknown option \"%s\" in [%s] (%s; see meterd --help-config)", name, rs->name,
              rs->n_options ? "a plugin section" : "no plugin reads an option here yet");
    return false;
}

static void on_problem(void *user, int line, const char *msg)
{
    parse_state *ps = user;
    ps->line = line;
    add_error(ps, "%s", msg);
}

static void handler(void *user, int line, const char *sec, const char *name, const char *value)
{
    parse_state *ps = user;
    ps->line = line;
    const registry_section *rs = registry_section_find(sec);
    if (rs && !plugin_option_ok(ps, rs, name, value)) return;
    if (rs || is_foreign(sec)) {
        agent_config *c = ps->c;
        if (c->n_extra >= CONFIG_MAX_EXTRA) {
            add_error(ps, "too many options in [%s] (at most %d)", sec, CONFIG_MAX_EXTRA);
            return;
        }
        config_kv *kv = &c->extra[c->n_extra];
        if (strlen(name) >= sizeof kv->key || strlen(value) >= sizeof kv->value) {
            add_error(ps, "option %s in [%s] is too long", name, sec);
            return;
        }
        snprintf(kv->section, sizeof kv->section, "%s", sec);
        snprintf(kv->key, sizeof kv->key, "%s", name);
        snprintf(kv->value, sizeof kv->value, "%s", value);
        kv->line = ps->line;
        c->n_extra++;
        return;
    }
    bool section_known = false;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].section, sec) != 0) continue;
        section_known = true;
        if (strcmp(options[i].name, name) != 0) continue;
        char msg[400];
        if (set_option(ps->c, &options[i], value, msg, sizeof msg) != 0) add_error(ps, "%s", msg);
        if (options[i].offset == offsetof(agent_config, namespaces)) ps->namespaces_line = ps->line;
        if (options[i].offset == offsetof(agent_config, log_level)) ps->log_level_line = ps->line;
        static const size_t tls[] = {offsetof(agent_config, api_tls_cert_file),
                                     offsetof(agent_config, api_tls_key_file),
                                     offsetof(agent_config, api_tls_client_ca_file)};
        for (int k = 0; k < 3; k++)
            if (options[i].offset == tls[k]) ps->tls_line[k] = value[0] ? ps->line : 0;
        return;
    }
    if (section_known)
        add_error(ps, "unknown option \"%s\" in [%s] (see meterd --help-config)", name, sec);
    else
        add_error(ps, "unknown section [%s] (option \"%s\")", sec, name);
    return;
}

/*
 * [api] TLS: a certificate needs its key and the other way round, and a
 * client CA (mTLS) needs both: each half alone would start plain HTTP where
 * the operator asked for TLS. The error points at the option that is set.
 */
static void check_api_tls(parse_state *ps)
{
    const agent_config *c = ps->c;
    bool cert = c->api_tls_cert_file[0], key = c->api_tls_key_file[0],
         ca = c->api_tls_client_ca_file[0];
    const char *msg = NULL;
    int at = -1;
    if (cert && !key) {
        at = 0;
        msg = "[api] tls_cert_file is set without tls_key_file: HTTPS needs the certificate's "
              "private key too (PEM)";
    } else if (key && !cert) {
        at = 1;
        msg = "[api] tls_key_file is set without tls_cert_file: HTTPS needs the certificate "
              "too (PEM)";
    } else if (ca && !cert) {
        at = 2;
        msg = "[api] tls_client_ca_file (mTLS) is set without tls_cert_file and tls_key_file: "
              "clients can only present a certificate over HTTPS, which needs the server's own "
              "certificate and key";
    }
    if (!msg) return;
    ps->line = ps->tls_line[at];
    put_error(ps, ps->line ? option_column(ps, ps->line) : 0, msg);
}

static int finish(parse_state *ps)
{
    char msg[300];
    check_api_tls(ps);
    if (config_namespaces_check(ps->c->namespaces, msg, sizeof msg) != 0) {
        ps->line = ps->namespaces_line;
        add_error(ps, "namespaces: %s", msg);
    }
    if (ps->nerrors == 0 && log_level_parse(ps->c->log_level) < 0) {
        ps->line = ps->log_level_line;
        add_error(ps, "log_level must be debug, info, warning or error, got \"%s\"",
                  ps->c->log_level);
    }
    return ps->nerrors ? -1 : 0;
}

static int parse(agent_config *c, const char *text, size_t len, const char *name, char *err,
                 size_t errlen)
{
    parse_state ps = {.c = c, .name = name, .text = text, .len = len, .err = err, .errlen = errlen};
    static const registry_ini_hooks hooks = {handler, on_problem};
    /* its problems are counted in ps.nerrors; a NUL byte stops it before
     * any option is read, when the checks below would only mislead */
    if (registry_ini_parse(text, len, &hooks, &ps) != 0 && memchr(text, 0, len)) return -1;
    return finish(&ps);
}

int config_load_string(agent_config *c, const char *text, const char *name, char *err,
                       size_t errlen)
{
    if (errlen) err[0] = 0;
    return parse(c, text, strlen(text), name, err, errlen);
}

int config_load(agent_config *c, const char *path, char *err, size_t errlen)
{
    if (errlen) err[0] = 0;
    char *text;
    size_t len;
    if (agent_read_file(path, CONFIG_MAX_BYTES, &text, &len, err, errlen) != 0) return -1;
    snprintf(c->path, sizeof c->path, "%s", path);
    int rc = parse(c, text, len, path, err, errlen);
    free(text);
    return rc;
}

int config_namespaces_check(const char *list, char *err, size_t errlen)
{
    if (registry_namespaces_check(list, err, errlen) != 0) return -1;
    if (strspn(list, " \t,") == strlen(list)) {
        char known[128] = "";
        for (size_t i = 0, used = 0; registry_namespaces[i] && used < sizeof known; i++) {
            int n = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                             registry_namespaces[i]);
            if (n > 0) used += (size_t)n;
        }
        snprintf(err, errlen, "no namespace given (expected one or more of: %s)", known);
        return -1;
    }
    return 0;
}

void config_print_help(FILE *out)
{
    const char *section = NULL;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option_desc *o = &options[i];
        if (!section || strcmp(section, o->section) != 0) {
            fprintf(out, "%s[%s]\n", section ? "\n" : "", o->section);
            section = o->section;
        }
        fprintf(out, "# %s\n", o->doc);
        if (o->type == OPT_INT) fprintf(out, "# range: %ld..%ld\n", o->min, o->max);
        fprintf(out, "%s = %s\n", o->name, o->def);
    }
    for (size_t i = 0; registry_sections[i]; i++) {
        const registry_section *rs = registry_sections[i];
        fprintf(out, "\n[%s]\n# %s\n", rs->name, rs->doc);
        for (size_t k = 0; k < rs->n_options; k++) {
            const registry_option *o = &rs->options[k];
            fprintf(out, "# %s\n", o->doc);
            if (o->type == REGISTRY_OPT_INT) fprintf(out, "# range: %ld..%ld\n", o->min, o->max);
            fprintf(out, "%s = %s\n", o->name, o->def);
        }
    }
    fprintf(out, "\n# Sections read by other modules: [metrics] [coordination]"
                 " (see docs/CONFIG.md)\n");
}

const char *config_extra(const agent_config *c, const char *section, const char *key)
{
    for (int i = c->n_extra - 1; i >= 0; i--)
        if (!strcmp(c->extra[i].section, section) && !strcmp(c->extra[i].key, key))
            return c->extra[i].value;
    return NULL;
}

void config_publisher_options(const agent_config *c, publisher_options *out)
{
    out->queue_batches = (size_t)c->queue_size;
    out->retry_initial_ms = c->retry_initial_ms;
    out->retry_max_ms = c->retry_max_ms;
    out->flush_timeout_ms = c->flush_timeout * 1000;
}
