/* publisher.c -- publisher URLs: split generically, checked per scheme, defaults filled.
 *
 * A publisher is a URL (RFC 3986 shape: scheme://authority/path?query). This
 * file knows the shape only: the scheme's syntax, the authority (hosts are DNS
 * names, IPv4 literals or bracketed IPv6 literals; ports are 1-65535), no
 * whitespace, no fragment. Credentials (user:pass@) are refused: secrets never
 * live in a pipeline, which is pushed to ZooKeeper and printed in diffs.
 *
 * Which schemes exist, their default ports and paths and their own rules come
 * from the caller as data (pipeline_options.schemes: meterd's plugin
 * registry), so validation and the agent that opens the publisher read one
 * table. A well-formed scheme not in that table is "foreign": accepted with a
 * warning so Ceilometer's own files still load; the agent drops what would go
 * to it. Like Ceilometer's Sink, a bare word with no "://" is read as
 * "word://" (its "old format without URL").
 */
#include "pipeline/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pipeline_url_check {
    const char *file;
    int line, col;
    pipeline_diags *d;
    char q[PL_QUOTE_MAX * 4 + 8], qh[PL_QUOTE_MAX * 4 + 8];
    const char *url;
    const pipeline_publisher *p;
};
typedef struct pipeline_url_check ctx;

static int perr(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pwarn(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Every message names the URL first (redacted and quoted in c->url). */
static void vdiag(ctx *c, pipeline_severity sev, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vdiag(ctx *c, pipeline_severity sev, const char *fmt, va_list ap)
{
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    pl_diag(c->d, c->file, sev, c->line, c->col, "publisher '%s': %s", c->url, msg);
}

static int perr(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(c, PIPELINE_ERROR, fmt, ap);
    va_end(ap);
    return -1;
}

static void pwarn(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(c, PIPELINE_WARNING, fmt, ap);
    va_end(ap);
}

static const char *quoted_host(ctx *c, const pipeline_publisher *p)
{
    return pl_quote(p->host, strlen(p->host), c->qh, sizeof c->qh);
}

int pipeline_url_error(pipeline_url_check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(c, PIPELINE_ERROR, fmt, ap);
    va_end(ap);
    return -1;
}

void pipeline_url_warning(pipeline_url_check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(c, PIPELINE_WARNING, fmt, ap);
    va_end(ap);
}

const char *pipeline_url_quoted_host(pipeline_url_check *c)
{
    return quoted_host(c, c->p);
}

static int oom(ctx *c)
{
    pl_diag_oom(c->d, c->file);
    return -1;
}

static bool valid_scheme(const char *s, size_t n)
{
    if (n == 0 || !isalpha((unsigned char)s[0])) return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

static bool valid_hostname(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (!isalnum(ch) && ch != '-' && ch != '.' && ch != '_') return false;
        if (ch == '.' && h[i + 1] == '.') return false;
    }
    return true;
}

static char *dup_n(const char *s, size_t n)
{
    char *r = malloc(n + 1);
    if (r != NULL) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

/* authority = host [":" port]; host = name | IPv4 | "[" IPv6 "]" */
static int parse_authority(ctx *c, const char *a, size_t n, pipeline_publisher *p)
{
    const char *port = NULL;
    size_t hlen;
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (close == NULL) return perr(c, "%s", "expected ']' to close the IPv6 address");
        hlen = (size_t)(close - a - 1);
        p->host = dup_n(a + 1, hlen);
        if (p->host == NULL) return oom(c);
        struct in6_addr in6;
        if (inet_pton(AF_INET6, p->host, &in6) != 1)
            return perr(c, "expected an IPv6 address inside [ ], found '%s'", quoted_host(c, p));
        size_t rest = n - (size_t)(close - a) - 1;
        if (rest > 0) {
            if (close[1] != ':') return perr(c, "%s", "expected ':port' or '/' after ']'");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(a, ':', n);
        hlen = colon ? (size_t)(colon - a) : n;
        p->host = dup_n(a, hlen);
        if (p->host == NULL) return oom(c);
        if (colon) port = colon + 1;
        if (hlen > 0 && !valid_hostname(p->host))
            return perr(c, "expected a host name or IP address, found '%s'", quoted_host(c, p));
    }
    if (port != NULL) {
        size_t plen = (size_t)(a + n - port);
        if (plen == 0) return perr(c, "%s", "expected a port number after ':'");
        long v = 0;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)port[i]) || plen > 5) {
                char tmp[16];
                snprintf(tmp, sizeof tmp, "%.*s", (int)(plen < 10 ? plen : 10), port);
                return perr(c, "expected a port number 1-65535, found '%s'", tmp);
            }
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535) {
            char tmp[16];
            snprintf(tmp, sizeof tmp, "%ld", v);
            return perr(c, "port %s is out of range: expected 1-65535", tmp);
        }
        p->port = (int)v;
    }
    return 0;
}

/* The scheme's own rules, then its defaults (a check may clear the port it
 * ignores, as prometheus:// does). */
static int check_scheme_rules(ctx *c, const pipeline_scheme *si, pipeline_publisher *p,
                              bool has_port)
{
    if (si->check != NULL && si->check(c, p, has_port) != 0) return -1;
    if (!p->path[0] && si->default_path != NULL && si->default_path[0]) {
        free(p->path);
        p->path = strdup(si->default_path);
        if (p->path == NULL) return oom(c);
    }
    if (!has_port) p->port = si->default_port;
    return 0;
}

/* "prometheus://, file://, ..." from the caller's table, for the message on a
 * URL without a scheme. */
static void scheme_list(const pl_limits *lim, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < lim->n_schemes && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s://", i ? ", " : " such as ",
                         lim->schemes[i].name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

int pl_publisher_parse(const char *url, int line, int col, const char *file, const pl_limits *lim,
                       pipeline_publisher *p, pipeline_diags *d)
{
    ctx c = {.file = file, .line = line, .col = col, .d = d, .p = p};
    memset(p, 0, sizeof *p);
    p->line = line;
    p->column = col;

    const char *sep = strstr(url, "://");
    /* user:password@ never reaches a message: show it as "***@" */
    const char *auth_end = sep ? sep + 3 + strcspn(sep + 3, "/?#") : NULL;
    const char *at = sep ? memchr(sep + 3, '@', (size_t)(auth_end - sep - 3)) : NULL;
    if (at != NULL) {
        char shown[PL_QUOTE_MAX * 2];
        snprintf(shown, sizeof shown, "%.*s***%.*s", (int)(sep + 3 - url), url, PL_QUOTE_MAX, at);
        c.url = pl_quote(shown, strlen(shown), c.q, sizeof c.q);
        return perr(&c, "%s",
                    "credentials in a publisher URL are refused: secrets never live in a "
                    "pipeline (reference them by name from a 0600 file)");
    }
    c.url = pl_quote(url, strlen(url), c.q, sizeof c.q);
    size_t slen = sep ? (size_t)(sep - url) : strlen(url);
    if (!valid_scheme(url, slen)) {
        if (sep == NULL) {
            char known[256];
            scheme_list(lim, known, sizeof known);
            return perr(&c, "expected a URL (scheme://...)%s", known);
        }
        return perr(&c, "%s",
                    "the scheme must start with a letter and hold only letters, digits, "
                    "'+', '-' and '.'");
    }
    size_t ulen = strlen(url);
    p->url = sep ? strdup(url) : malloc(ulen + 4);
    p->scheme = dup_n(url, slen);
    if (p->url == NULL || p->scheme == NULL) goto oom;
    for (char *s = p->scheme; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    if (sep == NULL) {
        memcpy(p->url, url, ulen);
        memcpy(p->url + ulen, "://", 4);
        pwarn(&c, "old publisher form without '://' read as '%s://' (as Ceilometer does)",
              p->scheme);
    }

    const pipeline_scheme *si = NULL;
    for (size_t i = 0; i < lim->n_schemes; i++)
        if (strcmp(lim->schemes[i].name, p->scheme) == 0) si = &lim->schemes[i];
    const char *rest = sep ? sep + 3 : "";
    if (si == NULL) {
        p->foreign = true;
        p->host = strdup("");
        p->path = strdup(rest);
        p->query = strdup("");
        if (p->host == NULL || p->path == NULL || p->query == NULL) goto oom;
        pwarn(&c,
              "scheme '%s' is not implemented by meterd: accepted for Ceilometer "
              "compatibility, its samples are dropped",
              p->scheme);
        return 0;
    }
    for (const char *s = rest; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return perr(&c, "%s", "whitespace or control characters in the URL");
    if (strchr(rest, '#') != NULL) return perr(&c, "%s", "a URL fragment ('#') is not allowed");
    const char *q = strchr(rest, '?');
    size_t before_q = q ? (size_t)(q - rest) : strlen(rest);
    p->query = strdup(q ? q + 1 : "");
    const char *slash = memchr(rest, '/', before_q);
    size_t alen = slash ? (size_t)(slash - rest) : before_q;
    p->path = slash ? dup_n(slash, before_q - alen) : strdup("");
    if (p->query == NULL || p->path == NULL) goto oom;
    if (parse_authority(&c, rest, alen, p) != 0) return -1;
    if (p->host[0] == '\0' && p->port != 0) return perr(&c, "%s", "a port without a host");
    return check_scheme_rules(&c, si, p, p->port != 0);
oom:
    pl_diag_oom(d, file);
    return -1;
}

void pl_publisher_clear(pipeline_publisher *p)
{
    free(p->url);
    free(p->scheme);
    free(p->host);
    free(p->path);
    free(p->query);
    memset(p, 0, sizeof *p);
}

int pipeline_publisher_parse(const char *url, const pipeline_options *opt, pipeline_publisher *out,
                             pipeline_diags *diags)
{
    pl_limits lim;
    pl_limits_from(opt, &lim);
    if (pl_publisher_parse(url ? url : "", 0, 0, "<publisher>", &lim, out, diags) == 0) return 0;
    pl_publisher_clear(out);
    return -1;
}

void pipeline_publisher_clear(pipeline_publisher *p)
{
    pl_publisher_clear(p);
}
