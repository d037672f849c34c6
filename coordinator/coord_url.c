/*
 * coord_url.c: parsing of backend_url = zookeeper://h1:p1,h2:p2/chroot.
 *
 * Strict on purpose: a typo in a coordination URL should stop the agent with
 * a sentence naming the bad part, not connect it to the wrong tree. A missing
 * port means 2181 (ZooKeeper's). Credentials are refused in the URL: they
 * would end up in logs and `ps`; they belong in the auth option. The chroot
 * is handled by us as a path prefix (not by the client library), so that we
 * can create it, with our ACLs, when it does not exist.
 */
#include "coord_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEME "zookeeper://"

static int fail(char *err, size_t cap, const char *url, const char *what)
{
    if (err && cap) snprintf(err, cap, "backend_url \"%s\": %s", url, what);
    return COORD_EINVAL;
}

static bool host_char(int ch)
{
    return isalnum(ch) || ch == '.' || ch == '-' || ch == '_';
}

/* One "host[:port]" of len bytes at s, appended to out as host:port. */
static int parse_host(const char *url, const char *s, size_t len, coord_url_t *out, char *err,
                      size_t cap)
{
    char one[300];
    if (len == 0) return fail(err, cap, url, "empty host in the host list");
    if (len >= sizeof one) return fail(err, cap, url, "host name too long");
    memcpy(one, s, len);
    one[len] = 0;
    char *host = one, *port = NULL;
    if (one[0] == '[') { /* [ipv6]:port */
        char *close = strchr(one, ']');
        if (!close) return fail(err, cap, url, "missing ']' after an IPv6 address");
        host = one + 1;
        *close = 0;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return fail(err, cap, url, "expected ':port' after ']'");
        for (char *p = host; *p; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return fail(err, cap, url, "bad character in an IPv6 address");
    } else {
        char *colon = strchr(one, ':');
        if (colon) {
            *colon = 0;
            port = colon + 1;
        }
        for (char *p = host; *p; p++)
            if (!host_char((unsigned char)*p))
                return fail(err, cap, url, "bad character in a host name");
    }
    if (!*host) return fail(err, cap, url, "empty host name");
    long pnum = 2181;
    if (port) {
        char *end;
        if (!*port || !isdigit((unsigned char)*port))
            return fail(err, cap, url, "port must be a number");
        pnum = strtol(port, &end, 10);
        if (*end || pnum < 1 || pnum > 65535)
            return fail(err, cap, url, "port must be a number from 1 to 65535");
    }
    size_t used = strlen(out->hosts);
    int n = snprintf(out->hosts + used, sizeof out->hosts - used,
                     host == one + 1 ? "%s[%s]:%ld" : "%s%s:%ld", used ? "," : "", host, pnum);
    if (n < 0 || (size_t)n >= sizeof out->hosts - used)
        return fail(err, cap, url, "host list too long");
    return COORD_OK;
}

static int parse_chroot(const char *url, const char *p, coord_url_t *out, char *err, size_t cap)
{
    if (!*p) return COORD_OK;
    if (strlen(p) >= sizeof out->chroot) return fail(err, cap, url, "chroot path too long");
    if (strcmp(p, "/") == 0) return COORD_OK;
    if (p[strlen(p) - 1] == '/') return fail(err, cap, url, "chroot must not end with '/'");
    for (const char *seg = p; *seg == '/';) {
        const char *next = strchr(seg + 1, '/');
        size_t len = next ? (size_t)(next - seg - 1) : strlen(seg + 1);
        if (len == 0) return fail(err, cap, url, "empty segment ('//') in the chroot");
        if ((len == 1 && seg[1] == '.') || (len == 2 && seg[1] == '.' && seg[2] == '.'))
            return fail(err, cap, url, "'.' and '..' are not allowed in the chroot");
        for (size_t i = 1; i <= len; i++)
            if (!isgraph((unsigned char)seg[i]))
                return fail(err, cap, url, "chroot must be printable, without spaces");
        if (!next) break;
        seg = next;
    }
    snprintf(out->chroot, sizeof out->chroot, "%s", p);
    return COORD_OK;
}

int coord_url_parse(const char *url, coord_url_t *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (!url || !*url) {
        if (err && errcap) snprintf(err, errcap, "backend_url is empty");
        return COORD_EINVAL;
    }
    if (strncmp(url, SCHEME, strlen(SCHEME)) != 0)
        return fail(err, errcap, url, "expected zookeeper://host:port[,host:port...][/chroot]");
    const char *p = url + strlen(SCHEME);
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    if (memchr(p, '@', (size_t)(end - p)))
        return fail(err, errcap, url,
                    "credentials do not belong in the URL; use the auth option (a secret file)");
    if (strpbrk(url, "?#"))
        return fail(err, errcap, url, "query strings and fragments are not supported");
    if (end == p) return fail(err, errcap, url, "no ZooKeeper host given");
    for (const char *h = p; h < end;) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *hend = comma ? comma : end;
        int rc = parse_host(url, h, (size_t)(hend - h), out, err, errcap);
        if (rc) return rc;
        if (!comma) break;
        h = comma + 1;
        if (h == end) return fail(err, errcap, url, "empty host after ','");
    }
    return slash ? parse_chroot(url, slash, out, err, errcap) : COORD_OK;
}
