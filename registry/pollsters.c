/* pollsters.c -- pollster, discovery and namespace descriptors, and the ini
 * sections plugins own.
 *
 * A pollster's meters are listed here once: the agent's runtime row
 * (agent/pollsters/) points at its descriptor, meterctl validate reads the
 * same list, so a meter the agent polls is never "unknown" to validation.
 * A meter's position in its list is the index the runtime's want[] uses.
 */
#include "registry/registry.h"

#include <string.h>

const char *const registry_namespaces[] = {"central", "compute", "ipmi", NULL};

static const char *const pressure_meters[] = {
    "host.pressure.cpu.some.avg10",
    "host.pressure.cpu.some.avg60",
    "host.pressure.cpu.some.avg300",
    "host.pressure.cpu.some.total",
    "host.pressure.cpu.full.avg10",
    "host.pressure.cpu.full.avg60",
    "host.pressure.cpu.full.avg300",
    "host.pressure.cpu.full.total",
    "host.pressure.io.some.avg10",
    "host.pressure.io.some.avg60",
    "host.pressure.io.some.avg300",
    "host.pressure.io.some.total",
    "host.pressure.io.full.avg10",
    "host.pressure.io.full.avg60",
    "host.pressure.io.full.avg300",
    "host.pressure.io.full.total",
    "host.pressure.memory.some.avg10",
    "host.pressure.memory.some.avg60",
    "host.pressure.memory.some.avg300",
    "host.pressure.memory.some.total",
    "host.pressure.memory.full.avg10",
    "host.pressure.memory.full.avg60",
    "host.pressure.memory.full.avg300",
    "host.pressure.memory.full.total",
    NULL,
};
static const char *const load_meters[] = {
    "host.load.1min",      "host.load.5min",      "host.load.15min",
    "host.procs.runnable", "host.procs.entities", NULL,
};
static const char *const tcp_meters[] = {"tcp.connect.up", "tcp.connect.time", NULL};
/* per target; the scraped series themselves are scrape.<metric name> */
static const char *const scrape_meters[] = {"scrape.up", "scrape.duration", "scrape.samples", NULL};

const registry_pollster registry_host_pressure = {
    .name = "host.pressure",
    .ns = "compute",
    .meters = pressure_meters,
    .default_discovery = "local_host",
    .section = "compute",
};

const registry_pollster registry_host_load = {
    .name = "host.load",
    .ns = "compute",
    .meters = load_meters,
    .default_discovery = "local_host",
    .section = "compute",
};

static const registry_param tcp_params[] = {
    {"timeout", REGISTRY_PARAM_DURATION, "2s", 1, 10000, "connect timeout", NULL, 0},
};

const registry_pollster registry_tcp_connect = {
    .name = "tcp.connect",
    .ns = "central",
    .meters = tcp_meters,
    .default_discovery = NULL, /* targets come from the source's resources */
    .params = tcp_params,
    .n_params = sizeof tcp_params / sizeof tcp_params[0],
};

/* Meters first: their positions are http_probe.c's want[] indexes. */
static const char *const http_meters[] = {
    "http.up",
    "http.status_code",
    "http.duration",
    "http.duration.dns",
    "http.duration.connect",
    "http.duration.tls",
    "http.duration.first_byte",
    "http.content_length",
    "http.tls.not_after",
    "http.tls.days_left",
    NULL,
};

/* blackbox_exporter's http prober options, under names of our own; defaults
 * are its defaults (a new connection per probe, redirects followed). */
static const registry_param http_params[] = {
    {"method", REGISTRY_PARAM_STR, "GET", 0, 0, "request method", "GET|HEAD", 0},
    {"timeout", REGISTRY_PARAM_DURATION, "5s", 1, 600000,
     "whole probe, at most the source's interval", NULL, 0},
    {"valid_status_codes", REGISTRY_PARAM_LIST, NULL, 100, 599,
     "statuses that count as up (default: any 2xx)", NULL, REGISTRY_PARAM_INT},
    {"body_must_match", REGISTRY_PARAM_REGEX, NULL, 0, 0,
     "extended regex the body must match (first MiB)", NULL, 0},
    {"body_must_not_match", REGISTRY_PARAM_REGEX, NULL, 0, 0,
     "extended regex the body must not match (first MiB)", NULL, 0},
    {"headers", REGISTRY_PARAM_MAP, NULL, 0, 64, "request headers, name: value", NULL, 0},
    {"follow_redirects", REGISTRY_PARAM_INT, "10", 0, 50, "most redirects followed (0: none)", NULL,
     0},
    {"ca_file", REGISTRY_PARAM_STR, NULL, 0, 4096,
     "PEM file of trusted CAs (default: the system's)", NULL, 0},
    {"insecure", REGISTRY_PARAM_BOOL, "false", 0, 0, "skip TLS certificate verification", NULL, 0},
    {"ip_protocol", REGISTRY_PARAM_STR, "any", 0, 0, "address family to connect with",
     "any|ip4|ip6", 0},
    {"reuse_connections", REGISTRY_PARAM_BOOL, "false", 0, 0,
     "keep connections between probes (default: a new one each time)", NULL, 0},
};

const registry_pollster registry_http_probe = {
    .name = "http.probe",
    .ns = "central",
    .meters = http_meters,
    .default_discovery = NULL, /* targets: the source's http(s):// resources */
    .params = http_params,
    .n_params = sizeof http_params / sizeof http_params[0],
};

/* Per-target limits of a Prometheus scrape (read by scrape.c's configure). */
static const registry_param scrape_params[] = {
    {"timeout", REGISTRY_PARAM_DURATION, "10s", 100, 120000,
     "whole scrape, at most the source's interval", NULL, 0},
    {"body_limit", REGISTRY_PARAM_INT, "16777216", 1024, 1073741824,
     "bytes of body after decompression; more fails the target", NULL, 0},
    {"series_limit", REGISTRY_PARAM_INT, "50000", 1, 10000000,
     "series per target; more fails the target", NULL, 0},
};

const registry_pollster registry_scrape = {
    .name = "scrape",
    .ns = "central",
    .meters = scrape_meters,
    .default_discovery = NULL, /* targets: the source's http(s):// resources */
    .dynamic_meters = "scrape.*",
    .params = scrape_params,
    .n_params = sizeof scrape_params / sizeof scrape_params[0],
};

/* Per cgroup (agent/pollsters/cgroup.c indexes these positions): PSI, then
 * the stats, v2 or v1 under one name; `cpu` and `memory.usage` are
 * Ceilometer's meters for a guest (ns, MB). */
#define CG_PSI(r)                                                                                  \
    "cgroup.pressure." r ".some.avg10", "cgroup.pressure." r ".some.avg60",                        \
        "cgroup.pressure." r ".some.avg300", "cgroup.pressure." r ".some.total",                   \
        "cgroup.pressure." r ".full.avg10", "cgroup.pressure." r ".full.avg60",                    \
        "cgroup.pressure." r ".full.avg300", "cgroup.pressure." r ".full.total"
static const char *const cgroup_meters[] = {
    CG_PSI("cpu"),
    CG_PSI("io"),
    CG_PSI("memory"),
    "cpu",
    "cgroup.cpu.user",
    "cgroup.cpu.system",
    "cgroup.cpu.nr_throttled",
    "cgroup.cpu.throttled",
    "memory.usage",
    "cgroup.memory.current",
    "cgroup.memory.max",
    "cgroup.memory.events.oom",
    "cgroup.memory.events.oom_kill",
    "cgroup.io.read.bytes",
    "cgroup.io.write.bytes",
    "cgroup.io.read.requests",
    "cgroup.io.write.requests",
    "cgroup.pids.current",
    NULL,
};
#undef CG_PSI

const registry_pollster registry_cgroup = {
    .name = "cgroup",
    .ns = "compute",
    .meters = cgroup_meters,
    .default_discovery = "cgroups",
    .section = "compute",
};

/* Per cgroup, when [compute] perf_events names them (agent/pollsters/
 * cgroup_perf_events.c holds the events in this order). */
static const char *const perf_meters[] = {
    "perf.cpu.cycles",
    "perf.instructions",
    "perf.cache.references",
    "perf.cache.misses",
    "perf.branch.instructions",
    "perf.branch.misses",
    "perf.bus.cycles",
    "perf.stalled_cycles.frontend",
    "perf.stalled_cycles.backend",
    "perf.ref_cycles",
    "perf.cpu_clock",
    "perf.task_clock",
    "perf.page_faults",
    "perf.context_switches",
    "perf.cpu_migrations",
    "perf.minor_faults",
    "perf.major_faults",
    "perf.alignment_faults",
    "perf.emulation_faults",
    "perf.l1d.read.hit",
    "perf.l1d.read.miss",
    "perf.l1d.write.hit",
    "perf.l1i.read.miss",
    "perf.llc.read.hit",
    "perf.llc.read.miss",
    "perf.llc.write.hit",
    "perf.llc.write.miss",
    "perf.dtlb.read.hit",
    "perf.dtlb.read.miss",
    "perf.dtlb.write.hit",
    "perf.dtlb.write.miss",
    "perf.itlb.read.hit",
    "perf.itlb.read.miss",
    "perf.bpu.read.hit",
    "perf.bpu.read.miss",
    "perf.node.read.hit",
    "perf.node.read.miss",
    "perf.node.write.hit",
    "perf.node.write.miss",
    NULL,
};

const registry_pollster registry_cgroup_perf = {
    .name = "cgroup.perf",
    .ns = "compute",
    .meters = perf_meters,
    .default_discovery = "cgroups",
    .section = "compute",
};

/* Ceilometer 19's sensor meters (hardware.ipmi.*); positions are ipmi.c's
 * want[] indexes. */
static const char *const ipmi_meters[] = {
    "hardware.ipmi.temperature",
    "hardware.ipmi.fan",
    "hardware.ipmi.voltage",
    "hardware.ipmi.current",
    NULL,
};

/* How to reach a source's BMCs; the password is only named (secret), its
 * value comes from the agent's secrets file. */
static const registry_param ipmi_params[] = {
    {"protocol", REGISTRY_PARAM_STR, "2.0", 0, 0, "IPMI LAN protocol version", "2.0|1.5", 0},
    {"cipher_suite", REGISTRY_PARAM_INT, "3", 0, 17, "RMCP+ cipher suite id (IPMI 2.0)", NULL, 0},
    {"privilege", REGISTRY_PARAM_STR, "user", 0, 0, "session privilege level",
     "user|operator|admin", 0},
    {"username", REGISTRY_PARAM_STR, NULL, 0, 16, "BMC user (default: anonymous)", NULL, 0},
    {"secret", REGISTRY_PARAM_STR, NULL, 0, 128,
     "name of the password's entry in [DEFAULT] secrets_file", NULL, 0},
    {"timeout", REGISTRY_PARAM_DURATION, "5s", 100, 60000,
     "one BMC's whole read, at most the source's interval", NULL, 0},
};

/* Only what claims the scheme: a source selecting every meter (`['*']`,
 * `['!cpu']`) selects ipmi.sensors too, and its other resources are other
 * pollsters' (ipmi.sensors' poll reports them, as any pollster would). */
static int ipmi_check_resource(const char *resource, char *err, size_t errlen)
{
    if (strncmp(resource, "ipmi:", 5) != 0) return 0;
    char host[300];
    bool inband;
    return registry_ipmi_target(resource, host, sizeof host, &inband, err, errlen);
}

const registry_pollster registry_ipmi_sensors = {
    .name = "ipmi.sensors",
    .ns = "ipmi",
    .meters = ipmi_meters,
    .default_discovery = NULL, /* targets: the source's ipmi:// resources */
    .params = ipmi_params,
    .n_params = sizeof ipmi_params / sizeof ipmi_params[0],
    .section = "ipmi",
    .check_resource = ipmi_check_resource,
};

const registry_pollster *const registry_pollsters[] = {
    &registry_host_pressure, &registry_host_load,    &registry_tcp_connect,
    &registry_http_probe,    &registry_scrape,       &registry_cgroup,
    &registry_cgroup_perf,   &registry_ipmi_sensors, NULL,
};

const registry_discovery registry_local_host = {.name = "local_host", .local = true};
/* this host's cgroups; "cgroups:depth=N;include=G|G;exclude=G;root=DIR" */
const registry_discovery registry_cgroups = {.name = "cgroups", .local = true};

const registry_discovery *const registry_discoveries[] = {&registry_local_host, &registry_cgroups,
                                                          NULL};

/* [compute] and [ipmi] belong to their namespaces' pollsters. None reads an
 * option yet: every key there is an error until one does, so a typo can no
 * longer pass silently. */
static const registry_option compute_options[] = {
    {"perf_events", REGISTRY_OPT_STR, "", 0, 4096,
     "perf events counted per cgroup (cgroup.perf), comma-separated: perf::TASK-CLOCK, seed 002 "
     "labels (TaskClock) or HW_PERF_LABELS/SW_PERF_LABELS/CACHE_PERF_LABELS; empty: off"},
    {"perf_max_fds", REGISTRY_OPT_INT, "4096", 1, 1048576,
     "most perf counters open at once across every cgroup (one per event and online CPU); "
     "events past it are not counted for that cgroup, and refused with the reason"},
    {"stat_max_fds", REGISTRY_OPT_INT, "0", 0, 1048576,
     "most cgroup files kept open between polls across every cgroup (re-read in one syscall, "
     "not opened each poll); 0: an eighth of the descriptor limit, less perf_max_fds when "
     "perf_events is set"},
};

static const registry_section compute_section = {
    .name = "compute",
    .doc = "options of the compute namespace's pollsters",
    .options = compute_options,
    .n_options = sizeof compute_options / sizeof compute_options[0],
};

static const registry_option ipmi_options[] = {
    {"sdr_cache_dir", REGISTRY_OPT_STR, "/var/cache/meterd/ipmi-sdr", 0, 4096,
     "folder of the BMCs' SDR caches (created if missing)"},
    {"failing_workers", REGISTRY_OPT_INT, "1", 1, 64,
     "most workers busy at once with failing BMCs (whose last reads failed; one more "
     "is kept for those that failed once)"},
    {"max_backoff", REGISTRY_OPT_INT, "300", 1, 86400,
     "longest wait in seconds between retries of a failing BMC"},
};

static const registry_section ipmi_section = {
    .name = "ipmi",
    .doc = "options of the ipmi namespace's pollsters (ipmi.sensors)",
    .options = ipmi_options,
    .n_options = sizeof ipmi_options / sizeof ipmi_options[0],
};

const registry_section *const registry_sections[] = {&compute_section, &ipmi_section, NULL};

const registry_pollster *registry_pollster_find(const char *name)
{
    for (size_t i = 0; name != NULL && registry_pollsters[i]; i++)
        if (strcmp(registry_pollsters[i]->name, name) == 0) return registry_pollsters[i];
    return NULL;
}

const registry_discovery *registry_discovery_find(const char *name, size_t len)
{
    for (size_t i = 0; name != NULL && registry_discoveries[i]; i++) {
        const char *n = registry_discoveries[i]->name;
        if (strlen(n) == len && strncmp(n, name, len) == 0) return registry_discoveries[i];
    }
    return NULL;
}

const registry_section *registry_section_find(const char *name)
{
    for (size_t i = 0; name != NULL && registry_sections[i]; i++)
        if (strcmp(registry_sections[i]->name, name) == 0) return registry_sections[i];
    return NULL;
}

size_t registry_meter_count(const registry_pollster *p)
{
    size_t n = 0;
    while (p->meters[n])
        n++;
    return n;
}
