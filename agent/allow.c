/*
 * allow.c: see allow.h.
 */
#include "agent/allow.h"
#include "agent/core.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct allow_entry {
    char scheme[32]; /* publisher entries only */
    char host[256];  /* glob, lower-cased; "" or "*": any */
    bool cidr;       /* host is an address with prefix bits */
    int family;      /* AF_INET / AF_INET6 when cidr */
    unsigned char addr[16];
    int bits;
    int port;       /* 0: any */
    char path[256]; /* publisher: a prefix, "" any */
} allow_entry;

struct allow_list {
    allow_entry *v;
    size_t n;
    char text[1024]; /* as configured, for messages */
};

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* host[:port] (IPv6 in brackets) of s[0..len) into host/port; 0 or -1. */
static int split_host_port(const char *s, size_t len, char *host, size_t cap, int *port)
{
    const char *end = s + len, *hend = end, *p = NULL;
    *port = 0;
    if (len && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb) return -1;
        s++;
        hend = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':') return -1;
            p = rb + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon && !memchr(colon + 1, ':', (size_t)(end - colon - 1))) { /* one ':': a port */
            hend = colon;
            p = colon + 1;
        }
    }
    if ((size_t)(hend - s) >= cap) return -1;
    memcpy(host, s, (size_t)(hend - s));
    host[hend - s] = 0;
    if (p) {
        if (p == end) return -1;
        if (end - p == 1 && *p == '*') return 0;
        long v = 0;
        for (const char *q = p; q < end; q++) {
            if (!isdigit((unsigned char)*q)) return -1;
            v = v * 10 + (*q - '0');
            if (v > 65535) return -1;
        }
        if (v == 0) return -1;
        *port = (int)v;
    }
    return 0;
}

/* Fills e's host part: CIDR, address or glob. 0 or -1. */
static int parse_host(allow_entry *e)
{
    char *slash = strchr(e->host, '/');
    char addr[256];
    snprintf(addr, sizeof addr, "%s", e->host);
    if (slash) addr[slash - e->host] = 0;
    int bits = -1;
    if (inet_pton(AF_INET, addr, e->addr) == 1) {
        e->family = AF_INET;
        bits = 32;
    } else if (inet_pton(AF_INET6, addr, e->addr) == 1) {
        e->family = AF_INET6;
        bits = 128;
    } else {
        if (slash) return -1; /* a prefix needs an address */
        lower(e->host);
        return 0;
    }
    e->cidr = true;
    e->bits = bits;
    if (slash) {
        char *end;
        errno = 0;
        long b = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || b < 0 || b > bits) return -1;
        e->bits = (int)b;
    }
    return 0;
}

static int parse_entry(const char *s, size_t len, bool is_pub, allow_entry *e)
{
    memset(e, 0, sizeof *e);
    if (is_pub) {
        const char *sep = NULL;
        for (size_t i = 0; i + 2 < len; i++)
            if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
                sep = s + i;
                break;
            }
        if (!sep || sep == s || (size_t)(sep - s) >= sizeof e->scheme) return -1;
        memcpy(e->scheme, s, (size_t)(sep - s));
        lower(e->scheme);
        const char *rest = sep + 3, *end = s + len;
        const char *path = memchr(rest, '/', (size_t)(end - rest));
        if (path) {
            if ((size_t)(end - path) >= sizeof e->path) return -1;
            memcpy(e->path, path, (size_t)(end - path));
        } else {
            path = end;
        }
        if (split_host_port(rest, (size_t)(path - rest), e->host, sizeof e->host, &e->port) != 0)
            return -1;
    } else if (split_host_port(s, len, e->host, sizeof e->host, &e->port) != 0 || !e->host[0]) {
        return -1;
    }
    return e->host[0] && strcmp(e->host, "*") ? parse_host(e) : 0;
}

int allow_list_parse(const char *text, bool is_pub, allow_list **out, char *err, size_t errlen)
{
    *out = NULL;
    allow_list *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(l->text, sizeof l->text, "%s", text);
    for (const char *p = text; *p;) {
        size_t skip = strspn(p, ", \t");
        p += skip;
        size_t len = strcspn(p, ", \t");
        if (!len) break;
        allow_entry e;
        allow_entry *grown = NULL;
        if (parse_entry(p, len, is_pub, &e) != 0 ||
            !(grown = realloc(l->v, (l->n + 1) * sizeof *grown))) {
            snprintf(err, errlen, "\"%.*s\": expected %s", (int)len, p,
                     is_pub ? "scheme://[host][:port][/path-prefix]"
                            : "a CIDR, an address or a host pattern, with an optional :port");
            allow_list_free(l);
            return -1;
        }
        l->v = grown;
        l->v[l->n++] = e;
        p += len;
    }
    if (!l->n) {
        allow_list_free(l);
        return 0; /* empty: allows all, like an unset list */
    }
    *out = l;
    return 0;
}

void allow_list_free(allow_list *l)
{
    if (!l) return;
    free(l->v);
    free(l);
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole)) return false;
    return !rest || ((a[whole] ^ b[whole]) & (0xff << (8 - rest))) == 0;
}

static bool host_match(const allow_entry *e, const char *host)
{
    if (!e->host[0] || !strcmp(e->host, "*")) return true;
    if (e->cidr) {
        unsigned char a[16];
        int fam = strchr(host, ':') ? AF_INET6 : AF_INET;
        return fam == e->family && inet_pton(fam, host, a) == 1 &&
               prefix_match(a, e->addr, e->bits);
    }
    char h[256];
    snprintf(h, sizeof h, "%s", host);
    lower(h);
    return fnmatch(e->host, h, 0) == 0;
}

/* host and port of a target: "scheme://[user@]host[:port][/...]" or host[:port]. */
static int target_host(const char *t, char *host, size_t cap, int *port)
{
    const char *s = strstr(t, "://");
    s = s ? s + 3 : t;
    size_t len = strcspn(s, "/?#");
    const char *at = memchr(s, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    return split_host_port(s, len, host, cap, port);
}

int allow_target(const allow_list *l, const char *target, char *why, size_t whylen)
{
    if (!l) return 0;
    char host[256];
    int port = 0;
    if (target_host(target, host, sizeof host, &port) == 0)
        for (size_t i = 0; i < l->n; i++)
            if (host_match(&l->v[i], host) && (!l->v[i].port || l->v[i].port == port)) return 0;
    snprintf(why, whylen, "target %s is outside [polling] allow_targets (%s)", target, l->text);
    return -1;
}

int allow_publisher(const allow_list *l, const pipeline_publisher *p, char *why, size_t whylen)
{
    if (!l) return 0;
    for (size_t i = 0; i < l->n; i++) {
        const allow_entry *e = &l->v[i];
        if (!strcmp(e->scheme, p->scheme) && host_match(e, p->host) &&
            (!e->port || e->port == p->port) &&
            (!e->path[0] || !strncmp(p->path, e->path, strlen(e->path))))
            return 0;
    }
    snprintf(why, whylen, "destination %s is outside [publisher] allow (%s)", p->url, l->text);
    return -1;
}

int allow_pipeline(const allow_list *targets, const allow_list *pubs, const pipeline *p,
                   const char *file, char *why, size_t whylen)
{
    char msg[1500];
    for (size_t i = 0; targets && i < p->n_sources; i++) {
        const pipeline_source *s = &p->sources[i];
        for (size_t j = 0; j < s->n_resources; j++)
            if (allow_target(targets, s->resources[j], msg, sizeof msg) != 0) {
                snprintf(why, whylen, "%s:%d:%d: source %s: %s", file, s->line, s->column, s->name,
                         msg);
                return -1;
            }
    }
    for (size_t i = 0; pubs && i < p->n_sinks; i++) {
        const pipeline_sink *k = &p->sinks[i];
        for (size_t j = 0; j < k->n_publishers; j++)
            if (allow_publisher(pubs, &k->publishers[j], msg, sizeof msg) != 0) {
                snprintf(why, whylen, "%s:%d:%d: sink %s: %s", file, k->publishers[j].line,
                         k->publishers[j].column, k->name, msg);
                return -1;
            }
    }
    return 0;
}

int allow_load(agent *a, char *err, size_t errlen)
{
    const char *file = a->cfg.path[0] ? a->cfg.path : "config";
    char msg[600];
    if (allow_list_parse(a->cfg.allow_targets, false, &a->allow_targets, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s: [polling] allow_targets: %s", file, msg);
        return -1;
    }
    if (allow_list_parse(a->cfg.publisher_allow, true, &a->allow_publishers, msg, sizeof msg) !=
        0) {
        snprintf(err, errlen, "%s: [publisher] allow: %s", file, msg);
        return -1;
    }
    return 0;
}
