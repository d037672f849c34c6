/*
 * statsd.c: starts Etsy's statsd daemon for a test and reads its admin
 * interface (see statsd.h).
 *
 * Both ports come from th_free_port() (reserved against other tests); if the
 * daemon dies before its admin port opens (a port taken meanwhile by a
 * program outside the tests), it is retried on new ports.
 */
#include "harness/statsd.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool th_statsd_installed(char *path, size_t cap)
{
    const char *cache = getenv("METERD_CACHE");
    const char *home = getenv("HOME");
    if (cache && *cache)
        snprintf(path, cap, "%s/statsd/node_modules/statsd/stats.js", cache);
    else
        snprintf(path, cap, "%s/.cache/meterd/statsd/node_modules/statsd/stats.js",
                 home ? home : "/root");
    return access(path, R_OK) == 0 && access("/usr/bin/node", X_OK) == 0;
}

static bool admin_up_or_dead(void *arg)
{
    th_statsd *s = arg;
    return !th_alive(&s->proc) || th_tcp_ready("127.0.0.1", s->mgmt_port);
}

int th_statsd_start(th_statsd *s, char *why, size_t cap)
{
    char stats_js[512];
    memset(s, 0, sizeof *s);
    if (!th_statsd_installed(stats_js, sizeof stats_js)) {
        snprintf(why, cap, "statsd daemon not installed (%s, /usr/bin/node): run deploy/deps.sh",
                 stats_js);
        return 1;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        s->port = th_free_port();
        s->mgmt_port = th_free_port();
        if (s->port < 0 || s->mgmt_port < 0) {
            snprintf(why, cap, "no free port for statsd (see stderr)");
            return -1;
        }
        char text[512], rel[64];
        snprintf(text, sizeof text,
                 "{\n  address: \"127.0.0.1\",\n  port: %d,\n  mgmt_address: \"127.0.0.1\",\n"
                 "  mgmt_port: %d,\n  backends: [\"./backends/console\"],\n"
                 "  console: { prettyprint: false },\n  flushInterval: 3600000\n}\n",
                 s->port, s->mgmt_port);
        snprintf(rel, sizeof rel, "statsd-%d/config.js", attempt);
        if (th_write_file(rel, text, s->config, sizeof s->config) != 0) {
            snprintf(why, cap, "cannot write %s in %s", rel, th_tmpdir());
            return -1;
        }
        char *argv[] = {"/usr/bin/node", stats_js, s->config, NULL};
        if (th_spawn(&s->proc, "statsd", argv, NULL, NULL) != 0) {
            snprintf(why, cap, "cannot start node %s", stats_js);
            return -1;
        }
        th_wait_until(admin_up_or_dead, s, 20000);
        if (th_alive(&s->proc) && th_tcp_ready("127.0.0.1", s->mgmt_port)) return 0;
        th_stop(&s->proc, SIGKILL, 1000);
    }
    snprintf(why, cap, "statsd did not open its admin port (log: %s)", s->proc.log);
    return -1;
}

void th_statsd_stop(th_statsd *s)
{
    if (s->proc.pid) th_stop(&s->proc, SIGTERM, 3000);
}

ssize_t th_statsd_admin(const th_statsd *s, const char *cmd, char *out, size_t cap)
{
    char req[256];
    snprintf(req, sizeof req, "%s\n", cmd);
    return th_tcp_request("127.0.0.1", s->mgmt_port, req, out, cap, 3000, "END");
}

/* Finds `'key':` or `key:` at a property position (after '{', ',' or blank). */
static const char *find_key(const char *reply, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = reply; (p = strstr(p, key)) != NULL; p += klen) {
        const char *before = p - 1, *after = p + klen;
        bool quoted = p > reply && *before == '\'' && *after == '\'';
        if (quoted) {
            before--;
            after++;
        }
        if (p > reply && !(before < reply || isspace((unsigned char)*before) || *before == '{' ||
                           *before == ','))
            continue;
        if (*after != ':') continue;
        return after + 1;
    }
    return NULL;
}

int th_statsd_lookup(const char *reply, const char *key, double *vals, int nvals)
{
    const char *p = find_key(reply, key);
    if (!p) return 0;
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '[') {
        char *end;
        double v = strtod(p, &end);
        if (end == p) return 0;
        if (nvals > 0) vals[0] = v;
        return 1;
    }
    int n = 0;
    for (p++;;) {
        while (isspace((unsigned char)*p) || *p == ',')
            p++;
        if (*p == ']' || !*p) break;
        char *end;
        double v = strtod(p, &end);
        if (end == p) break; /* "... 900 more items" */
        if (n < nvals) vals[n] = v;
        n++;
        p = end;
    }
    return n;
}
