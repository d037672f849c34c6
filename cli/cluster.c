/* cluster.c -- how every cluster command finds, opens and leaves ZooKeeper.
 *
 * The URL comes from --zk, else METERD_ZK, else the [coordination]
 * backend_url of the -c config file: the most explicit wins, like kubectl's
 * --server > KUBECONFIG. meterctl always opens an observer (member_id NULL):
 * it must never appear in the group it inspects or stand in its election.
 * Credentials for writes come only from a 0600 file (--auth-file, read by
 * group_secret_read(), the agent's reader too), never from the command
 * line, where `ps` and shell history would keep them.
 *
 * Errors are printed where they are found, with the exit code of the
 * documented table, so commands just return what these functions return.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void cli_cluster_init(cli_cluster *k, const char *cmd, FILE *out, FILE *err)
{
    memset(k, 0, sizeof *k);
    k->cmd = cmd;
    k->out = out;
    k->err = err;
    k->connect_timeout_ms = CLI_CONNECT_TIMEOUT_MS;
    k->saved_err = -1;
    k->orig_err = err;
    pthread_mutex_init(&k->log_mu, NULL);
}

void cli_cluster_usage(FILE *f)
{
    fprintf(f,
            "  -g, --group G          the group (required)\n"
            "      --zk URL           zookeeper://h1:p1,h2:p2/chroot (else $METERD_ZK, else -c)\n"
            "  -c, --config FILE      meterd.conf: its [coordination] backend_url\n"
            "      --auth-file FILE   'user:secret' digest credentials (mode 0600), for writes\n"
            "      --acl-file FILE    the roles' ids (zk-acl.txt): nodes made get role ACLs\n"
            "      --connect-timeout S  seconds to wait for ZooKeeper (default 5)\n"
            "  -v, --verbose          show the ZooKeeper client's own warnings\n"
            "  -o, --output FORMAT    text (default) or json\n");
}

int cli_fail(cli_cluster *k, int code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(k->err, "meterctl %s: %s\n", k->cmd, msg);
    if (k->fmt == CLI_OUT_JSON)
        cli_print_json(k, json_pack("{s:s?, s:i}", "error", msg, "exit", code));
    return code;
}

void cli_print_json(cli_cluster *k, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (text == NULL)
        fprintf(k->err, "meterctl %s: out of memory formatting JSON\n", k->cmd);
    else
        fprintf(k->out, "%s\n", text);
    free(text);
    json_decref(doc);
}

int cli_opt_value(cli_cluster *k, int argc, char **argv, int *i, const char *lng, const char *shrt,
                  const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(lng);
    if (strncmp(a, lng, n) == 0 && a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (strcmp(a, lng) != 0 && !(shrt && strcmp(a, shrt) == 0)) return 0;
    if (*i + 1 >= argc) {
        fprintf(k->err, "meterctl %s: %s needs a value\n", k->cmd, a);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* Seconds, fractional allowed, in (0, max]. */
static int parse_seconds(const char *s, double max, int *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno != 0 || !(v > 0) || v > max) return -1;
    *ms = (int)(v * 1000.0 + 0.5);
    if (*ms < 1) *ms = 1;
    return 0;
}

int cli_cluster_option(cli_cluster *k, int argc, char **argv, int *i)
{
    const char *v = NULL;
    int r;
    if (strcmp(argv[*i], "-v") == 0 || strcmp(argv[*i], "--verbose") == 0) {
        k->verbose = true;
        r = 1;
    } else if ((r = cli_opt_value(k, argc, argv, i, "--zk", NULL, &v)) != 0) {
        k->zk_flag = v;
    } else if ((r = cli_opt_value(k, argc, argv, i, "--config", "-c", &v)) != 0) {
        k->conf = v;
    } else if ((r = cli_opt_value(k, argc, argv, i, "--group", "-g", &v)) != 0) {
        k->group = v;
    } else if ((r = cli_opt_value(k, argc, argv, i, "--auth-file", NULL, &v)) != 0) {
        k->auth_file = v;
    } else if ((r = cli_opt_value(k, argc, argv, i, "--acl-file", NULL, &v)) != 0) {
        k->acl_file = v;
    } else if ((r = cli_opt_value(k, argc, argv, i, "--connect-timeout", NULL, &v)) != 0) {
        if (r > 0 && parse_seconds(v, 3600, &k->connect_timeout_ms) != 0) {
            fprintf(k->err, "meterctl %s: --connect-timeout wants seconds > 0, not '%s'\n", k->cmd,
                    v);
            return -1;
        }
    } else if ((r = cli_opt_value(k, argc, argv, i, "--output", "-o", &v)) != 0) {
        if (r > 0 && cli_parse_output(v, &k->fmt) != 0) {
            fprintf(k->err, "meterctl %s: unknown output format '%s' (text or json)\n", k->cmd, v);
            return -1;
        }
    } else if (strncmp(argv[*i], "-o", 2) == 0 && argv[*i][2] != '\0') {
        r = 1;
        if (cli_parse_output(argv[*i] + 2, &k->fmt) != 0) {
            fprintf(k->err, "meterctl %s: unknown output format '%s' (text or json)\n", k->cmd,
                    argv[*i] + 2);
            return -1;
        }
    }
    return r;
}

typedef struct conf_read {
    char url[1024];
    bool found;
} conf_read;

static int conf_handler(void *user, const char *section, const char *name, const char *value)
{
    conf_read *cr = user;
    if (strcmp(section, "coordination") == 0 && strcmp(name, "backend_url") == 0) {
        snprintf(cr->url, sizeof cr->url, "%s", value);
        cr->found = true;
    }
    return 1; /* the agent validates the rest of its file; we read one key */
}

/* flag > environment > config file. */
static int resolve_url(cli_cluster *k)
{
    const char *env = getenv("METERD_ZK");
    if (k->zk_flag) {
        snprintf(k->url, sizeof k->url, "%s", k->zk_flag);
        snprintf(k->url_from, sizeof k->url_from, "--zk");
    } else if (env && *env) {
        snprintf(k->url, sizeof k->url, "%s", env);
        snprintf(k->url_from, sizeof k->url_from, "METERD_ZK");
    } else if (k->conf) {
        conf_read cr = {0};
        int rc = ini_parse(k->conf, conf_handler, &cr);
        if (rc < 0) return cli_fail(k, CLI_USAGE, "cannot read %s: %s", k->conf, strerror(errno));
        if (rc > 0) return cli_fail(k, CLI_USAGE, "%s:%d: cannot parse this line", k->conf, rc);
        if (!cr.found)
            return cli_fail(k, CLI_USAGE, "%s has no [coordination] backend_url", k->conf);
        snprintf(k->url, sizeof k->url, "%s", cr.url);
        snprintf(k->url_from, sizeof k->url_from, "%s", k->conf);
    } else {
        return cli_fail(k, CLI_USAGE,
                        "no ZooKeeper given: use --zk URL, METERD_ZK or -c meterd.conf");
    }
    coord_url_t u;
    char err[256];
    if (coord_url_parse(k->url, &u, err, sizeof err) != COORD_OK)
        return cli_fail(k, CLI_USAGE, "bad ZooKeeper URL (from %s): %s", k->url_from, err);
    return CLI_OK;
}

static void on_log(void *arg, int level, const char *msg)
{
    cli_cluster *k = arg;
    if (level > COORD_LOG_WARN) return;
    pthread_mutex_lock(&k->log_mu);
    snprintf(k->last_log, sizeof k->last_log, "%s", msg);
    pthread_mutex_unlock(&k->log_mu);
}

/* Every read of a pipeline node that is not a revision says why (the
 * view's blocking read included: it runs on the reading thread then). */
static void on_malformed(void *arg, int64_t version, const char *why)
{
    cli_cluster *k = arg;
    pthread_mutex_lock(&k->log_mu);
    snprintf(k->bad_reason, sizeof k->bad_reason, "%s", why);
    k->bad_version = version;
    pthread_mutex_unlock(&k->log_mu);
}

void cli_malformed_reason(cli_cluster *k, int64_t version, json_t *status_doc)
{
    char why[sizeof k->bad_reason];
    pthread_mutex_lock(&k->log_mu);
    snprintf(why, sizeof why, "%s", k->bad_version == version ? k->bad_reason : "");
    pthread_mutex_unlock(&k->log_mu);
    json_t *probs = json_object_get(status_doc, "problems"), *p;
    size_t i;
    json_array_foreach(probs, i, p)
    {
        const char *what = json_string_value(json_object_get(p, "problem"));
        if (why[0] && what && strcmp(what, "malformed_revision") == 0)
            json_object_set_new(p, "reason", json_string(why));
    }
}

/*
 * The ZooKeeper client library logs its warnings straight to stderr with no
 * way to silence them per handle (coordinator/: "its warnings/errors go to
 * stderr"); an unreachable server prints several lines per second. While the
 * session is open, fd 2 goes to /dev/null and our own messages to a copy of
 * the real stderr; cli_cluster_close() puts it back (so sanitizer reports at
 * exit are seen). --verbose keeps the library's lines, and so does a
 * sanitizer build, whose reports must never be silenced.
 */
static void quiet_stderr(cli_cluster *k)
{
#if defined(__SANITIZE_ADDRESS__)
    k->verbose = true;
#endif
    if (k->verbose || k->err != stderr) return;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    FILE *f = saved >= 0 ? fdopen(saved, "w") : NULL;
    if (f == NULL || devnull < 0 || dup2(devnull, STDERR_FILENO) < 0) {
        if (f)
            fclose(f);
        else if (saved >= 0)
            close(saved);
        if (devnull >= 0) close(devnull);
        return;
    }
    close(devnull);
    setvbuf(f, NULL, _IONBF, 0);
    k->saved_err = saved;
    k->err = f;
}

int cli_cluster_connect(cli_cluster *k, bool write)
{
    if (k->group == NULL) return cli_fail(k, CLI_USAGE, "--group G is required");
    int rc = resolve_url(k);
    if (rc != CLI_OK) return rc;
    if (k->auth_file) {
        char err[600];
        if (group_secret_read(k->auth_file, &k->auth, &k->auth_len, err, sizeof err) != 0)
            return cli_fail(k, CLI_USAGE, "--auth-file: %s", err);
        if (strlen((char *)k->auth) != k->auth_len || !strchr((char *)k->auth, ':'))
            return cli_fail(k, CLI_USAGE, "%s must hold 'user:secret'", k->auth_file);
    }
    (void)write; /* writes without credentials work on open ACLs; ZooKeeper says when not */
    group_roles roles;
    coord_roles_t cr;
    if (k->acl_file) {
        char err[600];
        if (group_roles_read(k->acl_file, &roles, err, sizeof err) != 0)
            return cli_fail(k, CLI_USAGE, "--acl-file: %s", err);
        cr = (coord_roles_t){roles.operator_id, roles.member_id, roles.reader_id};
    }
    quiet_stderr(k);
    coord_config_t cfg = {
        .backend_url = k->url,
        .group = k->group,
        .member_id = NULL,
        .auth = (const char *)k->auth,
        .roles = k->acl_file ? &cr : NULL,
        .repair_acls = k->repair_acls,
        .without_members = k->without_members,
        .cb = {.log = on_log, .malformed = on_malformed},
        .cb_arg = k,
    };
    char err[256];
    k->c = coord_open(&cfg, err, sizeof err);
    if (k->c == NULL) return cli_fail(k, CLI_USAGE, "%s", err);
    rc = coord_wait_ready(k->c, k->connect_timeout_ms);
    if (rc == COORD_OK) return CLI_OK;
    coord_status_t st;
    coord_get_status(k->c, &st);
    coord_url_t u;
    coord_url_parse(k->url, &u, err, sizeof err);
    char why[600];
    pthread_mutex_lock(&k->log_mu);
    snprintf(why, sizeof why, "%s", k->last_log);
    pthread_mutex_unlock(&k->log_mu);
    if (rc == COORD_ENOAUTH)
        return cli_fail(k, CLI_UNREACHABLE, "ZooKeeper at %s refused our credentials (%s)", u.hosts,
                        k->auth_file ? k->auth_file : "no --auth-file");
    if (st.acl_error[0]) return cli_fail(k, CLI_FAILED, "%s", st.acl_error);
    if (st.state == COORD_CONNECTED)
        return cli_fail(k, CLI_UNREACHABLE,
                        "connected to ZooKeeper at %s but cannot read group '%s' under '%s'%s%s "
                        "(unknown group on a protected tree?)",
                        u.hosts, k->group, u.chroot[0] ? u.chroot : "/", why[0] ? ": " : "", why);
    return cli_fail(k, CLI_UNREACHABLE,
                    "cannot reach ZooKeeper at %s: no session after %d ms (%s)%s%s", u.hosts,
                    k->connect_timeout_ms, coord_state_name(st.state), why[0] ? "; " : "", why);
}

void cli_cluster_close(cli_cluster *k)
{
    if (k->c) coord_close(k->c);
    k->c = NULL;
    if (k->saved_err >= 0) {
        fflush(k->err);
        fflush(stderr);
        dup2(k->saved_err, STDERR_FILENO);
        fclose(k->err); /* closes saved_err */
        k->err = k->orig_err;
        k->saved_err = -1;
    }
    group_secret_free(k->auth, k->auth_len);
    k->auth = NULL;
    k->auth_len = 0;
    pthread_mutex_destroy(&k->log_mu);
}

char *cli_read_file(const char *path, size_t max, size_t *len, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        if (n == cap) {
            if (cap > max) break;
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    bool bad = ferror(f);
    fclose(f);
    if (buf == NULL) {
        snprintf(err, errcap, "out of memory reading %s", path);
        return NULL;
    }
    if (bad || n > max) {
        snprintf(err, errcap, bad ? "cannot read %s" : "%s is larger than %zu bytes", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

void cli_sha256_hex(const void *buf, size_t len, char out[65])
{
    groupview_sha256_hex(buf, len, out);
}

int64_t cli_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_parse_simple(cli_cluster *k, int argc, char **argv, const char *usage,
                     const char **positional, const char *opt, const char **opt_val)
{
    for (int i = 1; i < argc; i++) {
        int r = cli_cluster_option(k, argc, argv, &i);
        if (r < 0) return CLI_USAGE;
        if (r > 0) continue;
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fprintf(k->out, "%s", usage);
            cli_cluster_usage(k->out);
            return -1;
        }
        if (opt && (r = cli_opt_value(k, argc, argv, &i, opt, NULL, opt_val)) != 0) {
            if (r < 0) return CLI_USAGE;
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            fprintf(k->err, "meterctl %s: unknown option '%s'\n", k->cmd, a);
        } else if (positional && *positional == NULL) {
            *positional = a;
            continue;
        } else {
            fprintf(k->err, "meterctl %s: unexpected argument '%s'\n", k->cmd, a);
        }
        fprintf(k->err, "%s", usage);
        cli_cluster_usage(k->err);
        return CLI_USAGE;
    }
    return CLI_OK;
}
