/* query.c -- a publisher URL's ?options, read by one set of rules.
 *
 * Validation (the scheme checks in publishers.c, so meterctl validate) and
 * the agent's plugins (through publishers/common.c) read the query here, so
 * an option that validates is the value the plugin uses; the rows in
 * publishers.c declare each option's type, bounds and default once.
 */
#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int registry_query_get(const char *query, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = query ? query : "";
    while (*p) {
        const char *end = strchr(p, '&');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *kend = eq ? eq : end;
        if ((size_t)(kend - p) == klen && memcmp(p, key, klen) == 0) {
            size_t n = 0;
            for (const char *v = eq ? eq + 1 : end; v < end; v++) {
                char c = *v;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && end - v > 2 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    c = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 2;
                }
                if (n + 1 >= cap) return -1;
                out[n++] = c;
            }
            out[n] = 0;
            return 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

static const registry_option *find_opt(const registry_publisher *row, const char *key, size_t len)
{
    for (size_t i = 0; row && i < row->n_query; i++)
        if (strlen(row->query[i].name) == len && strncmp(row->query[i].name, key, len) == 0)
            return &row->query[i];
    return NULL;
}

static void unknown_key(const registry_publisher *row, const char *key, size_t len, char *err,
                        size_t errlen)
{
    int n = snprintf(err, errlen, "unknown option '%.*s' (known:", (int)len, key);
    for (size_t i = 0; row && i < row->n_query && n > 0 && (size_t)n < errlen; i++)
        n += snprintf(err + n, errlen - (size_t)n, " %s", row->query[i].name);
    if ((row == NULL || row->n_query == 0) && n > 0 && (size_t)n < errlen)
        n += snprintf(err + n, errlen - (size_t)n, " none");
    if (n > 0 && (size_t)n < errlen) snprintf(err + n, errlen - (size_t)n, ")");
}

int registry_query_check(const registry_publisher *row, const char *query, char *err, size_t errlen)
{
    const char *p = query ? query : "";
    while (*p) {
        const char *end = strchr(p, '&');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t klen = (size_t)((eq ? eq : end) - p);
        const registry_option *o = klen ? find_opt(row, p, klen) : NULL;
        if (klen && !o && !(row && row->query_passthrough)) {
            unknown_key(row, p, klen, err, errlen);
            return -1;
        }
        if (o) {
            char value[1024];
            int got = registry_query_get(p, o->name, value, sizeof value);
            size_t longest = o->type == REGISTRY_OPT_STR && o->max > 0 ? (size_t)o->max : 1023;
            if (got < 0 || strlen(value) > longest) {
                snprintf(err, errlen, "option %s: longer than %zu bytes", o->name, longest);
                return -1;
            }
            char msg[256];
            if (registry_option_check(o, value, msg, sizeof msg) != 0) {
                snprintf(err, errlen, "option %s", msg);
                return -1;
            }
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

long registry_query_long(const registry_publisher *row, const char *query, const char *key)
{
    const registry_option *o = find_opt(row, key, strlen(key));
    char value[64];
    if (registry_query_get(query, key, value, sizeof value) == 1) return strtol(value, NULL, 10);
    return o && o->def ? strtol(o->def, NULL, 10) : 0;
}

void registry_query_str(const registry_publisher *row, const char *query, const char *key,
                        char *out, size_t cap)
{
    const registry_option *o = find_opt(row, key, strlen(key));
    if (registry_query_get(query, key, out, cap) != 1)
        snprintf(out, cap, "%s", o && o->def ? o->def : "");
}
