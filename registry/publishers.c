/* publishers.c -- the publisher schemes and their URL rules.
 *
 * pipeline/ splits a URL; each row here says what its scheme accepts, so a
 * URL that validates (meterctl validate, push, the agent's reload) is one the
 * agent's plugin opens with the same host, port and path. Defaults are
 * Ceilometer's where it has one (udp 4952).
 */
#include "registry/registry.h"

#include <string.h>

static int prometheus_check(pipeline_url_check *c, pipeline_publisher *p, bool has_port)
{
    if (p->host[0] || has_port || (p->path[0] && strcmp(p->path, "/") != 0))
        pipeline_url_warning(c, "%s",
                             "host, port and path are ignored: meterd serves these samples on "
                             "the agent's /metrics (Ceilometer's push-gateway form is not "
                             "supported)");
    p->port = 0;
    return 0;
}

static int file_check(pipeline_url_check *c, pipeline_publisher *p, bool has_port)
{
    if (p->host[0] && strcmp(p->host, "localhost") != 0)
        return pipeline_url_error(c, "expected file:///absolute/path (no host), found host '%s'",
                                  pipeline_url_quoted_host(c));
    if (has_port) return pipeline_url_error(c, "%s", "a file publisher takes no port");
    if (p->path[0] != '/' || p->path[1] == '\0')
        return pipeline_url_error(c, "%s", "expected file:///absolute/path");
    return 0;
}

static int datagram_check(pipeline_url_check *c, pipeline_publisher *p, bool has_port)
{
    (void)has_port;
    if (!p->host[0])
        return pipeline_url_error(c, "expected %s://host[:port], the host is missing", p->scheme);
    if (p->path[0] && strcmp(p->path, "/") != 0)
        return pipeline_url_error(c, "%s", "a udp/statsd publisher takes no path");
    return 0;
}

static int http_check(pipeline_url_check *c, pipeline_publisher *p, bool has_port)
{
    (void)has_port;
    if (!p->host[0])
        return pipeline_url_error(c, "expected %s://host[:port]/path, the host is missing",
                                  p->scheme);
    return 0;
}

static const registry_publisher prometheus = {
    .url = {"prometheus", 0, NULL, prometheus_check},
    .doc = "served on the agent's /metrics (Prometheus text format)",
};
static const registry_publisher file = {
    .url = {"file", 0, NULL, file_check},
    .doc = "JSON lines appended to a file, reopened on SIGHUP",
};
static const registry_publisher udp = {
    .url = {"udp", 4952, NULL, datagram_check},
    .doc = "JSON datagrams (Ceilometer's udp publisher port by default)",
};
static const registry_publisher statsd = {
    .url = {"statsd", 8125, NULL, datagram_check},
    .doc = "statsd gauges and counters over UDP",
};
static const registry_publisher http = {
    .url = {"http", 80, "/", http_check},
    .doc = "JSON batches POSTed to a receiver",
};
static const registry_publisher https = {
    .url = {"https", 443, "/", http_check},
    .doc = "JSON batches POSTed over TLS",
};

const registry_publisher *const registry_publishers[] = {
    &prometheus, &file, &udp, &statsd, &http, &https, NULL,
};

const registry_publisher *registry_publisher_find(const char *scheme)
{
    for (size_t i = 0; scheme != NULL && registry_publishers[i]; i++)
        if (strcmp(registry_publishers[i]->url.name, scheme) == 0) return registry_publishers[i];
    return NULL;
}
