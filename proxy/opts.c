/*
 * opts.c: meterproxy's command line, pmproxy's where they fit (seed 001).
 *
 * Ports are the union of every -p and METERPROXY_PORT, like pmproxy's
 * PMPROXY_PORT; addresses are the -i ones, else loopback while
 * METERPROXY_LOCAL is 1 (the default: a gateway to the cluster's state is
 * opened to the network on purpose, never by accident), else every address.
 * Each address is served on each port.
 */
#include "proxy/proxy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: meterproxy [-f] [-c CONFIG] [-i ADDRESS]... [-p PORT[,PORT...]]... [-l LOGFILE]\n"
    "                  [-L BYTES] [-U USER] [-x FILE]\n"
    "  -f            run in the foreground (default: become a daemon)\n"
    "  -c CONFIG     meterproxy.conf: [meterproxy] APIs and limits, [coordination] ZooKeeper\n"
    "  -i ADDRESS    accept connections on this address only (repeatable)\n"
    "  -p PORT,...   listen on these ports (union with $METERPROXY_PORT; default 9468)\n"
    "  -l LOGFILE    log here (stderr when it cannot be written)\n"
    "  -L BYTES      largest request accepted, head and body (default 65536;\n"
    "                the head also at most max_head_bytes, default 8192)\n"
    "  -U USER       run as USER once the ports are bound\n"
    "  -x FILE       where start-up errors go (default stderr)\n"
    "  --help-config print every meterproxy.conf option with its default\n"
    "environment: METERPROXY_PORT (ports), METERPROXY_LOCAL (1, the default: loopback only;\n"
    "  0: every address), METERPROXY_MAXPENDING (pending connections queued at most)\n";

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* "p1,p2": appended to o->ports without repeats. */
static int add_ports(proxy_opts *o, const char *list, const char *from, char *err, size_t errlen)
{
    char buf[256];
    if (strlen(list) >= sizeof buf) {
        snprintf(err, errlen, "%s: port list too long", from);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    int any = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long p;
        if (parse_long(t, 0, 65535, &p) != 0) {
            snprintf(err, errlen, "%s: \"%s\" is not a port (1..65535, or 0 for any free port)",
                     from, t);
            return -1;
        }
        any = 1;
        bool dup = false;
        for (size_t i = 0; i < o->n_ports; i++)
            dup = dup || o->ports[i] == (int)p;
        if (dup) continue;
        if (o->n_ports == PROXY_MAX_PORTS) {
            snprintf(err, errlen, "%s: at most %d ports", from, PROXY_MAX_PORTS);
            return -1;
        }
        o->ports[o->n_ports++] = (int)p;
    }
    if (!any) {
        snprintf(err, errlen, "%s: no port given", from);
        return -1;
    }
    return 0;
}

static int env_flag(const char *name, bool def, bool *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    *out = def;
    if (v == NULL || *v == '\0') return 0;
    if (strcmp(v, "1") == 0 || strcmp(v, "0") == 0) {
        *out = v[0] == '1';
        return 0;
    }
    snprintf(err, errlen, "%s must be 0 or 1, not \"%s\"", name, v);
    return -1;
}

/* Every address on every port. An IPv6 literal is bracketed. */
static int build_listen(proxy_opts *o, char *err, size_t errlen)
{
    const char *def_local[] = {"127.0.0.1"}, *def_any[] = {"0.0.0.0"};
    const char *const *addrs = o->n_addrs ? o->addrs : o->local ? def_local : def_any;
    size_t n_addrs = o->n_addrs ? o->n_addrs : 1;
    if (o->n_ports == 0) o->ports[o->n_ports++] = PROXY_DEFAULT_PORT;
    if (n_addrs * o->n_ports > HTTPD_MAX_LISTEN) {
        snprintf(err, errlen, "%zu addresses x %zu ports: at most %d listeners", n_addrs,
                 o->n_ports, HTTPD_MAX_LISTEN);
        return -1;
    }
    for (size_t a = 0; a < n_addrs; a++)
        for (size_t p = 0; p < o->n_ports; p++) {
            bool v6 = strchr(addrs[a], ':') && addrs[a][0] != '[';
            snprintf(o->listen[o->n_listen++], sizeof o->listen[0], "%s%s%s:%d", v6 ? "[" : "",
                     addrs[a], v6 ? "]" : "", o->ports[p]);
        }
    return 0;
}

int proxy_opts_parse(proxy_opts *o, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->max_request = PROXY_DEFAULT_MAXREQUEST;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, out);
            return 1;
        }
        if (strcmp(a, "--help-config") == 0) {
            proxy_config_print(out);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            fprintf(out, "meterproxy %s\n", METERD_VERSION);
            return 1;
        }
        if (strcmp(a, "-f") == 0) {
            o->foreground = true;
            continue;
        }
        if (a[0] != '-' || strlen(a) != 2 || strchr("ipLlcUx", a[1]) == NULL) {
            snprintf(err, errlen, "unknown argument '%s' (meterproxy --help lists the options)", a);
            return -1;
        }
        if (i + 1 >= argc) {
            snprintf(err, errlen, "%s needs a value", a);
            return -1;
        }
        const char *v = argv[++i];
        long n;
        switch (a[1]) {
        case 'i':
            if (o->n_addrs == PROXY_MAX_ADDRS) {
                snprintf(err, errlen, "-i: at most %d addresses", PROXY_MAX_ADDRS);
                return -1;
            }
            o->addrs[o->n_addrs++] = v;
            break;
        case 'p':
            if (add_ports(o, v, "-p", err, errlen) != 0) return -1;
            break;
        case 'L':
            if (parse_long(v, 1024, 1L << 30, &n) != 0) {
                snprintf(err, errlen, "-L wants a byte count in 1024..1073741824, not \"%s\"", v);
                return -1;
            }
            o->max_request = (size_t)n;
            break;
        case 'l':
            o->log_file = v;
            break;
        case 'c':
            o->config = v;
            break;
        case 'U':
            o->user = v;
            break;
        case 'x':
            o->err_file = v;
            break;
        }
    }
    const char *env = getenv("METERPROXY_PORT");
    if (env && *env && add_ports(o, env, "METERPROXY_PORT", err, errlen) != 0) return -1;
    if (env_flag("METERPROXY_LOCAL", true, &o->local, err, errlen) != 0) return -1;
    env = getenv("METERPROXY_MAXPENDING");
    if (env && *env) {
        long n;
        if (parse_long(env, 1, 65535, &n) != 0) {
            snprintf(err, errlen, "METERPROXY_MAXPENDING must be in 1..65535, not \"%s\"", env);
            return -1;
        }
        o->maxpending = (int)n;
    }
    return build_listen(o, err, errlen);
}
