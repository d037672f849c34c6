/*
 * names.c: what a metric name may be, and how it is spelled for each backend.
 *
 * One canonical form for every backend: dotted components of [A-Za-z0-9_-].
 * It is a subset of what statsd keeps after its own sanitising (so statsd
 * never silently rewrites our names) and maps to Prometheus by turning '.'
 * and '-' into '_' and lower-casing. Names are checked once, when a logger
 * or a metric is registered, so the hot path never validates; a name that
 * would be rewritten is refused with the offending character and position
 * rather than mangled behind the caller's back. Host names are the one
 * exception: they come from the machine, so they are sanitised, not refused.
 */
#include "metrics/internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mx_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool name_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-';
}

int mx_check_name(const char *what, const char *name, bool allow_empty, char *err, size_t errlen)
{
    if (!name) {
        mx_err(err, errlen, "%s: missing (NULL)", what);
        return -1;
    }
    size_t len = strlen(name);
    if (len == 0) {
        if (allow_empty) return 0;
        mx_err(err, errlen, "%s: empty; expected dotted components of [A-Za-z0-9_-]", what);
        return -1;
    }
    if (len > METRICS_NAME_MAX) {
        mx_err(err, errlen, "%s \"%.40s...\": %zu bytes, at most %d", what, name, len,
               METRICS_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (i == 0 || i + 1 == len || name[i + 1] == '.') {
                mx_err(err, errlen,
                       "%s \"%s\": empty component at byte %zu (leading, trailing or double "
                       "dot)",
                       what, name, i + 1);
                return -1;
            }
            continue;
        }
        if (!name_char(c)) {
            if (isprint(c))
                mx_err(err, errlen,
                       "%s \"%s\": character '%c' at byte %zu; expected dotted components "
                       "of [A-Za-z0-9_-]",
                       what, name, c, i + 1);
            else
                mx_err(err, errlen,
                       "%s: byte 0x%02x at byte %zu; expected dotted components of "
                       "[A-Za-z0-9_-]",
                       what, c, i + 1);
            return -1;
        }
    }
    return 0;
}

int metrics_check_name(const char *name, char *err, size_t errlen)
{
    return mx_check_name("metric name", name, false, err, errlen);
}

/*
 * The host as a name prefix: anything outside the canonical set becomes '_',
 * empty components vanish, and with reverse the components are reversed
 * (host.example.com -> com.example.host) so that Graphite's tree groups
 * hosts by domain.
 */
void mx_host_component(const char *host, bool reverse, char *out, size_t cap)
{
    char clean[256];
    size_t n = 0;
    for (const char *p = host; *p && n + 1 < sizeof clean; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (n == 0 || clean[n - 1] == '.') continue;
            clean[n++] = '.';
        } else {
            clean[n++] = name_char(c) ? (char)c : '_';
        }
    }
    while (n > 0 && clean[n - 1] == '.')
        n--;
    clean[n] = 0;
    if (!cap) return;
    out[0] = 0;
    if (!reverse) {
        snprintf(out, cap, "%s", clean);
        return;
    }
    size_t o = 0;
    for (size_t end = n; end > 0;) {
        size_t start = end;
        while (start > 0 && clean[start - 1] != '.')
            start--;
        size_t len = end - start;
        if (o + len + 2 > cap) break;
        if (o) out[o++] = '.';
        memcpy(out + o, clean + start, len);
        o += len;
        end = start ? start - 1 : 0;
    }
    out[o] = 0;
}

void metrics_sanitize_name(const char *in, char *out, size_t cap)
{
    mx_host_component(in ? in : "", false, out, cap);
}

/*
 * Prometheus spelling: [a-z0-9_] with '.'/'-' as '_', a leading digit
 * guarded by '_', and the type's suffix appended unless already there.
 */
int mx_prom_name(const char *dotted, const char *suffix, char *out, size_t cap)
{
    size_t n = 0, slen = strlen(suffix), dlen = strlen(dotted);
    if (dlen + slen + 2 > cap) return -1;
    if (isdigit((unsigned char)dotted[0])) out[n++] = '_';
    for (const char *p = dotted; *p; p++) {
        unsigned char c = (unsigned char)*p;
        out[n++] = (c == '.' || c == '-') ? '_' : (char)tolower(c);
    }
    out[n] = 0;
    if (slen && (n < slen || strcmp(out + n - slen, suffix) != 0)) {
        memcpy(out + n, suffix, slen + 1);
    }
    return 0;
}
