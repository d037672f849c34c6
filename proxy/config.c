/*
 * config.c: meterproxy.conf. Like meterd.conf, every option is declared once
 * in a table (type, default, bounds, one line of documentation) that
 * --help-config prints, values are checked by the registry's rules and the
 * text is read by registry_ini_parse(), so both daemons read ini files the
 * same way. Unknown options and sections are errors at file:line.
 */
#include "proxy/proxy.h"
#include "registry/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_MAX_BYTES (1024 * 1024)

typedef struct opt_row {
    const char *section;
    registry_option o; /* name, type, default, bounds, doc */
    size_t offset, size;
} opt_row;

#define F(field) offsetof(proxy_config, field), sizeof(((proxy_config *)0)->field)
#define S(sec, n, field, def, doc)                                                                 \
    {                                                                                              \
        sec, {n, REGISTRY_OPT_STR, def, 0, 0, doc}, F(field)                                       \
    }
#define I(sec, n, field, def, lo, hi, doc)                                                         \
    {                                                                                              \
        sec, {n, REGISTRY_OPT_INT, def, lo, hi, doc}, F(field)                                     \
    }
#define B(sec, n, field, def, doc)                                                                 \
    {                                                                                              \
        sec, {n, REGISTRY_OPT_BOOL, def, 0, 1, doc}, F(field)                                      \
    }

static const opt_row rows[] = {
    B("meterproxy", "groups_api", groups_api, "true",
      "Serve /v1/groups (state, members, assignment, pipeline, revisions)"),
    B("meterproxy", "targets_api", targets_api, "true",
      "Serve /v1/targets?target=T (routed to the agent that owns T)"),
    B("meterproxy", "metrics_api", metrics_api, "true",
      "Serve /metrics (the proxy's own metrics and the agents', federated)"),
    B("meterproxy", "writes_api", writes_api, "false",
      "Serve PUT /v1/groups/G/pipeline and POST /v1/groups/G/rollback (needs token_file)"),
    S("meterproxy", "token_file", token_file, "",
      "A mode-0600 file holding the bearer token writes must carry; re-read when it changes"),
    S("meterproxy", "agent_token_file", agent_token_file, "",
      "A mode-0600 file holding the token the agents' APIs want (their [api] token_file)"),
    I("meterproxy", "agent_timeout_ms", agent_timeout_ms, "2000", 50, 600000,
      "How long one agent may take to answer a routed or federated request"),
    I("meterproxy", "metrics_reuse_ms", metrics_reuse_ms, "1000", 0, 60000,
      "A federated /metrics page also serves the clients that ask this long after it was made"),
    I("meterproxy", "max_connections", max_connections, "0", 0, 1000000,
      "Connections held at most (0: derived from the descriptor limit)"),
    I("meterproxy", "max_head_bytes", max_head_bytes, "8192", 1024, 1048576,
      "Largest request head (line and headers): 431 over it; at most -L"),
    I("meterproxy", "header_timeout_ms", header_timeout_ms, "10000", 100, 3600000,
      "A request head must arrive whole within this time (slow clients are closed)"),
    I("meterproxy", "idle_timeout_ms", idle_timeout_ms, "30000", 100, 3600000,
      "A keep-alive connection idle this long is closed"),
    I("meterproxy", "threads", threads, "2", 1, 64, "HTTP worker threads per listen address"),
    S("meterproxy", "tls_cert_file", tls_cert_file, "", "PEM certificate: serve HTTPS"),
    S("meterproxy", "tls_key_file", tls_key_file, "", "PEM private key of tls_cert_file"),
    S("meterproxy", "tls_client_ca_file", tls_client_ca_file, "",
      "PEM CA: clients must present a certificate it signed (mTLS)"),
    S("coordination", "backend_url", backend_url, "",
      "ZooKeeper: zookeeper://h1:p1,h2:p2/chroot (the agents' backend_url)"),
    S("coordination", "groups", groups, "",
      "The groups served, comma separated (empty: every group under the chroot)"),
    S("coordination", "auth_file", auth_file, "",
      "A mode-0600 file with 'user:secret' ZooKeeper credentials (the reader role suffices)"),
    S("coordination", "trusted_keys_file", trusted_keys_file, "",
      "The operator keys' public halves (the agents' trusted_keys_file): a revision whose "
      "signature does not verify is shown as such"),
    S("coordination", "acl_file", acl_file, "",
      "The roles' ids (zk-acl.txt of meterctl init-credentials): nodes a write creates get role "
      "ACLs"),
    I("coordination", "session_timeout_ms", session_timeout_ms, "10000", 1000, 600000,
      "ZooKeeper session timeout"),
    S("agents", "tls_ca_file", agents_tls_ca_file, "",
      "PEM CA the agents' HTTPS certificates are verified with (empty: the system's CAs)"),
    S("agents", "tls_name", agents_tls_name, "",
      "The name every agent's certificate is checked for, instead of the host it advertises "
      "(one shared name, e.g. meterd-pubsub); needs tls_ca_file"),
    S("agents", "tls_cert_file", agents_tls_cert_file, "",
      "PEM client certificate presented to agents whose API wants one (mTLS); needs "
      "tls_key_file"),
    S("agents", "tls_key_file", agents_tls_key_file, "",
      "PEM private key of [agents] tls_cert_file"),
};
#define N_ROWS (sizeof rows / sizeof rows[0])

static int set(proxy_config *c, const opt_row *r, const char *value, char *msg, size_t msglen)
{
    if (registry_option_check(&r->o, value, msg, msglen) != 0) return -1;
    char *field = (char *)c + r->offset;
    if (r->o.type == REGISTRY_OPT_STR) {
        if (strlen(value) >= r->size) {
            snprintf(msg, msglen, "value of %s is too long (at most %zu bytes)", r->o.name,
                     r->size - 1);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
    } else if (r->o.type == REGISTRY_OPT_INT) {
        *(int *)field = (int)strtol(value, NULL, 10);
    } else {
        *(bool *)field = registry_option_true(value);
    }
    return 0;
}

void proxy_config_defaults(proxy_config *c)
{
    memset(c, 0, sizeof *c);
    char msg[256];
    for (size_t i = 0; i < N_ROWS; i++)
        set(c, &rows[i], rows[i].o.def, msg, sizeof msg);
}

typedef struct load_state {
    proxy_config *c;
    const char *name, *text;
    size_t len;
    char *err;
    size_t errlen, used;
    int nerrors;
    int line[N_ROWS]; /* where each option was last set (0: not in the file) */
} load_state;

/* The column an option's line starts at (after its indentation): the
 * cross-option checks point at the option to change, as a parse error
 * does. */
static int line_column(const load_state *ls, int line)
{
    const char *p = ls->text, *end = ls->text + ls->len;
    for (int l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    int col = 1;
    for (; p < end && (*p == ' ' || *p == '\t'); p++)
        col++;
    return col;
}

/* line > 0: "file:line:", what libinih reports; line < 0: an option's
 * line (-line) for a check across options, reported "file:line:col:". */
__attribute__((format(printf, 3, 4))) static void add_error(load_state *ls, int line,
                                                            const char *fmt, ...)
{
    ls->nerrors++;
    if (ls->used + 1 >= ls->errlen) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char col[16] = "";
    if (line < 0) snprintf(col, sizeof col, "%d:", line_column(ls, -line));
    int n = snprintf(ls->err + ls->used, ls->errlen - ls->used, "%s%s:%d:%s %s",
                     ls->used ? "\n" : "", ls->name, line < 0 ? -line : line, col, msg);
    if (n > 0) ls->used += (size_t)n;
    if (ls->used >= ls->errlen) ls->used = ls->errlen - 1;
}

static void on_problem(void *user, int line, const char *msg)
{
    add_error(user, line, "%s", msg);
}

static void on_option(void *user, int line, const char *section, const char *name,
                      const char *value)
{
    load_state *ls = user;
    bool known_section = false;
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strcmp(rows[i].section, section) != 0) continue;
        known_section = true;
        if (strcmp(rows[i].o.name, name) != 0) continue;
        char msg[400];
        if (set(ls->c, &rows[i], value, msg, sizeof msg) != 0) add_error(ls, line, "%s", msg);
        ls->line[i] = value[0] ? line : 0;
        return;
    }
    if (known_section)
        add_error(ls, line, "unknown option \"%s\" in [%s] (see meterproxy --help-config)", name,
                  section);
    else
        add_error(ls, line,
                  "unknown section [%s] (option \"%s\"; meterproxy reads [meterproxy] "
                  "[coordination] and [agents])",
                  section, name);
}

/* A path can name anything: a FIFO would block start-up forever, /dev/zero
 * never ends. Opened without blocking, checked to be a regular file within
 * the bound, then read. */
static char *read_text(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file; expected an ini file", path);
    } else if (st.st_size > CONFIG_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_MAX_BYTES);
    } else if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
    } else {
        size_t n = 0;
        ssize_t r;
        while (n < (size_t)st.st_size && (r = read(fd, buf + n, (size_t)st.st_size - n)) > 0)
            n += (size_t)r;
        buf[n] = 0;
        *len = n;
    }
    close(fd);
    return buf;
}

/* An option's row, or NULL. */
static const opt_row *row_of(const char *section, const char *name, size_t *index)
{
    for (size_t i = 0; i < N_ROWS; i++)
        if (!strcmp(rows[i].section, section) && !strcmp(rows[i].o.name, name)) {
            *index = i;
            return &rows[i];
        }
    return NULL;
}

/*
 * Options that only work together. Each half alone would quietly do less
 * than the operator asked (plain HTTP served, no client certificate sent,
 * a name checked against the public CAs), so start-up refuses it and points
 * at the option that is set: "file:line:col:", as a parse error.
 */
static const struct {
    const char *section, *set, *missing, *why;
} pairs[] = {
    {"meterproxy", "tls_cert_file", "tls_key_file",
     "HTTPS needs the certificate's private key too (PEM); tls_cert_file and tls_key_file go "
     "together"},
    {"meterproxy", "tls_key_file", "tls_cert_file",
     "HTTPS needs the certificate too (PEM); tls_cert_file and tls_key_file go together"},
    {"agents", "tls_cert_file", "tls_key_file",
     "a client certificate (mTLS) needs its private key too (PEM)"},
    {"agents", "tls_key_file", "tls_cert_file",
     "a client certificate (mTLS) needs the certificate too (PEM)"},
    {"agents", "tls_name", "tls_ca_file",
     "a name every agent shares is a private CA's certificate: set tls_ca_file to that CA (e.g. "
     "pubsub-ca.crt of meterctl init-credentials)"},
};

static void check_together(load_state *ls)
{
    const char *c = (const char *)ls->c;
    size_t at, other;
    if (ls->c->writes_api && !ls->c->token_file[0] && row_of("meterproxy", "writes_api", &at))
        add_error(ls, -ls->line[at],
                  "[meterproxy] writes_api = true needs token_file (writes are never open)");
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const opt_row *set = row_of(pairs[i].section, pairs[i].set, &at);
        const opt_row *missing = row_of(pairs[i].section, pairs[i].missing, &other);
        if (set && missing && c[set->offset] && !c[missing->offset])
            add_error(ls, -ls->line[at], "[%s] %s is set without %s: %s", pairs[i].section,
                      pairs[i].set, pairs[i].missing, pairs[i].why);
    }
}

int proxy_config_load(proxy_config *c, const char *path, char *err, size_t errlen)
{
    if (errlen) err[0] = 0;
    size_t len = 0;
    char *text = read_text(path, &len, err, errlen);
    if (text == NULL) return -1;
    snprintf(c->path, sizeof c->path, "%s", path);
    load_state ls = {.c = c, .name = path, .text = text, .len = len, .err = err, .errlen = errlen};
    static const registry_ini_hooks hooks = {on_option, on_problem};
    registry_ini_parse(text, len, &hooks, &ls);
    if (ls.nerrors == 0) check_together(&ls);
    free(text);
    return ls.nerrors ? -1 : 0;
}

void proxy_config_print(FILE *out)
{
    const char *section = NULL;
    for (size_t i = 0; i < N_ROWS; i++) {
        const opt_row *r = &rows[i];
        if (!section || strcmp(section, r->section) != 0) {
            fprintf(out, "%s[%s]\n", section ? "\n" : "", r->section);
            section = r->section;
        }
        fprintf(out, "# %s\n", r->o.doc);
        if (r->o.type == REGISTRY_OPT_INT) fprintf(out, "# range: %ld..%ld\n", r->o.min, r->o.max);
        fprintf(out, "%s = %s\n", r->o.name, r->o.def);
    }
}
