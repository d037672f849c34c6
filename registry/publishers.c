/* publishers.c -- the publisher schemes and their URL rules.
 *
 * pipeline/ splits a URL; each row here says what its scheme accepts, so a
 * URL that validates (meterctl validate, push, the agent's reload) is one the
 * agent's plugin opens with the same host, port and path. Defaults are
 * Ceilometer's where it has one (udp 4952).
 */
#include "registry/registry.h"

#include <string.h>

/* The query's keys and values, as the row declares them (query.c). */
static int query_check(pipeline_url_check *c, const pipeline_publisher *p)
{
    char msg[300];
    if (registry_query_check(registry_publisher_find(p->scheme), p->query, msg, sizeof msg) != 0)
        return pipeline_url_error(c, "%s", msg);
    return 0;
}

static int prometheus_check(pipeline_url_check *c, pipeline_publisher *p, bool has_port)
{
    if (p->host[0] || has_port || (p->path[0] && strcmp(p->path, "/") != 0))
        pipeline_url_warning(c, "%s",
                             "host, port and path are ignored: meterd serves these samples on "
                             "the agent's /metrics (Ceilometer's push-gateway form is not "
                             "supported)");
    p->port = 0;
    return query_check(c, p);
}

static int file_check(pipeline_url_check *c, pipeline_publisher *p, bool has_port)
{
    if (p->host[0] && strcmp(p->host, "localhost") != 0)
        return pipeline_url_error(c, "expected file:///absolute/path (no host), found host '%s'",
                                  pipeline_url_quoted_host(c));
    if (has_port) return pipeline_url_error(c, "%s", "a file publisher takes no port");
    if (p->path[0] != '/' || p->path[1] == '\0')
        return pipeline_url_error(c, "%s", "expected file:///absolute/path");
    return query_check(c, p);
}

static int datagram_check(pipeline_url_check *c, pipeline_publisher *p, bool has_port)
{
    (void)has_port;
    if (!p->host[0])
        return pipeline_url_error(c, "expected %s://host[:port], the host is missing", p->scheme);
    if (p->path[0] && strcmp(p->path, "/") != 0)
        return pipeline_url_error(c, "%s", "a udp/statsd publisher takes no path");
    return query_check(c, p);
}

static int http_check(pipeline_url_check *c, pipeline_publisher *p, bool has_port)
{
    (void)has_port;
    if (!p->host[0])
        return pipeline_url_error(c, "expected %s://host[:port]/path, the host is missing",
                                  p->scheme);
    return query_check(c, p);
}

#define DAYS_30 (86400L * 30)

static const registry_option prometheus_query[] = {
    {"max_age", REGISTRY_OPT_INT, "600", 1, DAYS_30, "seconds a series not updated stays"},
    {"min_age", REGISTRY_OPT_INT, "10", 0, 86400, "seconds a series stays at least"},
    {"stale_intervals", REGISTRY_OPT_INT, "3", 0, 1000,
     "source intervals without an update before a series goes"},
    {"prefix", REGISTRY_OPT_STR, "meterd", 0, 63, "metric name prefix (empty: none)"},
    {"names", REGISTRY_OPT_STR, "", 0, 31,
     "psi_perf_monitor: cgroup pressure and perf meters under seed 002's names (empty: "
     "meterd's)"},
};
static const registry_option udp_query[] = {
    {"payload", REGISTRY_OPT_INT, "1400", 64, 65507, "largest datagram, bytes"},
};
static const registry_option statsd_query[] = {
    {"payload", REGISTRY_OPT_INT, "1432", 64, 65507, "largest datagram, bytes"},
    {"prefix", REGISTRY_OPT_STR, "meterd", 0, 127, "metric name prefix (empty: none)"},
    {"max_age", REGISTRY_OPT_INT, "3600", 1, DAYS_30,
     "seconds a cumulative baseline is kept without an update"},
};
static const registry_option http_query[] = {
    {"timeout", REGISTRY_OPT_INT, "10", 1, 3600, "seconds a POST may take"},
    {"connect_timeout", REGISTRY_OPT_INT, "2", 1, 3600, "seconds a connect may take"},
    {"token_secret", REGISTRY_OPT_STR, "", 0, 127,
     "name of a secret in secrets_file, sent as 'Authorization: Bearer <value>'"},
};

#define QUERY(q) .query = q, .n_query = sizeof q / sizeof q[0]

static const registry_publisher prometheus = {
    .url = {"prometheus", 0, NULL, prometheus_check},
    .doc = "served on the agent's /metrics (Prometheus text format)",
    QUERY(prometheus_query),
};
static const registry_publisher file = {
    .url = {"file", 0, NULL, file_check},
    .doc = "JSON lines appended to a file, reopened on SIGHUP",
};
static const registry_publisher udp = {
    .url = {"udp", 4952, NULL, datagram_check},
    .doc = "JSON datagrams (Ceilometer's udp publisher port by default)",
    QUERY(udp_query),
};
static const registry_publisher statsd = {
    .url = {"statsd", 8125, NULL, datagram_check},
    .doc = "statsd gauges and counters over UDP",
    QUERY(statsd_query),
};
static const registry_publisher http = {
    .url = {"http", 80, "/", http_check},
    .doc = "JSON batches POSTed to a receiver",
    QUERY(http_query),
    .query_passthrough = true,
};
static const registry_publisher https = {
    .url = {"https", 443, "/", http_check},
    .doc = "JSON batches POSTed over TLS",
    QUERY(http_query),
    .query_passthrough = true,
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
