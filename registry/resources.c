/*
 * resources.c: the resources a source names, judged at validation by the
 * pollsters it selects (registry_pollster.check_resource), so that a
 * malformed one is refused with its line:col by the agent and by `meterctl
 * validate` rather than failing at every poll; and the ipmi:// grammar,
 * which ipmi.sensors' poll uses too (one definition).
 */
#include "registry/registry.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int registry_check_resource(const void *ctx, const pipeline_source *src, const char *resource,
                            char *err, size_t errlen)
{
    const registry_options *ro = ctx;
    for (size_t i = 0; i < ro->n_pollsters; i++) {
        const registry_pollster *pp = ro->pollsters[i];
        if (!pp->check_resource || !registry_pollster_selected(pp, src)) continue;
        char why[400];
        if (pp->check_resource(resource, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: %s", pp->name, why);
            return -1;
        }
    }
    return 0;
}

int registry_ipmi_target(const char *url, char *host, size_t cap, bool *inband, char *err,
                         size_t errlen)
{
    *inband = false;
    if (strncmp(url, "ipmi://", 7) != 0) {
        snprintf(err, errlen, "resource \"%s\": expected ipmi://host[:port]", url);
        return -1;
    }
    const char *h = url + 7;
    size_t len = strlen(h);
    if (len > 0 && h[len - 1] == '/') len--;
    if (len == 0) {
        *inband = true;
        snprintf(host, cap, "%s", "");
        return 0;
    }
    const char *port = NULL, *end = h + len;
    if (*h == '[') {
        const char *close = memchr(h, ']', len);
        if (!close || close == h + 1 || (close + 1 != end && close[1] != ':')) goto bad;
        if (close + 1 != end) port = close + 2;
    } else {
        const char *colon = memchr(h, ':', len);
        if (colon == h) goto bad;
        if (colon) port = colon + 1;
    }
    for (const char *p = h; p < (port ? port - 1 : end); p++)
        if (*p == '/' || *p == '?' || *p == '@' || isspace((unsigned char)*p)) goto bad;
    if (port) {
        size_t n = (size_t)(end - port);
        if (n == 0 || n > 5 || strspn(port, "0123456789") < n || atoi(port) < 1 ||
            atoi(port) > 65535)
            goto bad;
    }
    if (len >= cap) goto bad;
    snprintf(host, cap, "%.*s", (int)len, h);
    return 0;
bad:
    snprintf(err, errlen,
             "resource \"%s\": expected ipmi://host[:port] (port 1..65535, IPv6 in brackets)", url);
    return -1;
}
