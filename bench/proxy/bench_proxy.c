/*
 * bench_proxy: meterproxy against pmproxy 6.0.3 (seed 001), with wrk, on
 * one machine in one run (docs/BENCHMARKS.md "Proxy").
 *
 * A real group (ZooKeeper, one meterd agent, a pipeline of 100 targets) for
 * GET /health and GET /v1/groups/central/assignment?target=T, and pmproxy's
 * GET /series/ping as the anchor; the three alternate, ROUNDS times, each
 * `wrk -t2 -c32 -dSs --latency`. Then the federated GET /metrics?group=fed
 * of a group of 10 members whose APIs each serve 10,000 series (stand-ins
 * served by one Python process, joined to ZooKeeper as members), to 32
 * concurrent clients: requests, errors. Last, the proxy's peak RSS
 * (VmHWM) over the whole run. Prints one JSON document.
 *
 * Needs wrk (Debian's wrk) and, for the anchor, pmproxy (Debian's pcp:
 * /usr/lib/pcp/bin/pmproxy); without pmproxy the anchor is null and said so.
 * BENCH_SECONDS (default 10) and BENCH_ROUNDS (default 2) set the length.
 */
#include "cluster_fixture.h"

#include <jansson.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FED_MEMBERS 10
#define FED_SERIES  10000
#define PMPROXY     "/usr/lib/pcp/bin/pmproxy"

static cluster_fx fx;

typedef struct wrk_result {
    double rps, p99_ms;
    long long requests, errors;
} wrk_result;

static double to_ms(double v, const char *unit)
{
    if (strcmp(unit, "us") == 0) return v / 1000.0;
    if (strcmp(unit, "s") == 0) return v * 1000.0;
    return v;
}

static void wrk(int port, const char *path, int seconds, wrk_result *r)
{
    char cmd[1024], line[512];
    snprintf(cmd, sizeof cmd, "wrk -t2 -c32 -d%ds --latency 'http://127.0.0.1:%d%s' 2>&1", seconds,
             port, path);
    memset(r, 0, sizeof *r);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        double v;
        char unit[8];
        long long a, b, c, d;
        if (sscanf(line, "Requests/sec: %lf", &v) == 1) r->rps = v;
        if (sscanf(line, " 99%% %lf%7s", &v, unit) == 2) r->p99_ms = to_ms(v, unit);
        if (sscanf(line, " %lld requests in", &a) == 1) r->requests = a;
        if (sscanf(line, " Non-2xx or 3xx responses: %lld", &a) == 1) r->errors += a;
        if (sscanf(line, " Socket errors: connect %lld, read %lld, write %lld, timeout %lld", &a,
                   &b, &c, &d) == 4)
            r->errors += a + b + c + d;
    }
    pclose(f);
}

static json_t *result_json(const wrk_result *r)
{
    return json_pack("{s:f, s:f, s:I}", "rps", r->rps, "p99_ms", r->p99_ms, "errors",
                     (json_int_t)r->errors);
}

static long peak_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* 10 members of group "fed" whose APIs serve FED_SERIES series each. */
static th_proc exporters;
static coord_t *fed[FED_MEMBERS];

static void start_federation(void)
{
    char path[512], dir[512];
    size_t cap = (size_t)FED_SERIES * 80 + 4096, n = 0;
    char *page = malloc(cap);
    n += (size_t)snprintf(page + n, cap - n,
                          "# HELP bench_value A synthetic series.\n# TYPE bench_value gauge\n");
    for (int i = 0; i < FED_SERIES; i++)
        n += (size_t)snprintf(page + n, cap - n,
                              "bench_value{target=\"tcp://10.0.%d.%d:9100\",kind=\"k%d\"} %d\n",
                              i / 250, i % 250, i % 7, i);
    th_write_file("fed/metrics", page, path, sizeof path);
    free(page);
    snprintf(dir, sizeof dir, "%.*s", (int)(strlen(path) - strlen("/metrics")), path);
    int ports[FED_MEMBERS];
    char list[FED_MEMBERS * 8] = "";
    for (int i = 0; i < FED_MEMBERS; i++) {
        ports[i] = th_free_port();
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%d", i ? "," : "", ports[i]);
    }
    char *argv[] = {"python3", MeterdSourceDir "/tests/agent/scrape_server.py", dir, list, NULL};
    if (th_spawn(&exporters, "exporters", argv, NULL, NULL) != 0) abort();
    for (int i = 0; i < FED_MEMBERS; i++) {
        th_wait_tcp("127.0.0.1", ports[i], 20000);
        coord_member_info_t info = {0};
        snprintf(info.host, sizeof info.host, "fed-%d", i);
        snprintf(info.api, sizeof info.api, "http://127.0.0.1:%d", ports[i]);
        snprintf(info.state, sizeof info.state, "running");
        char id[64], err[256];
        snprintf(id, sizeof id, "fed-%d", i);
        coord_config_t cc = {
            .backend_url = fx.url, .group = "fed", .member_id = id, .auth = fx.auth, .info = &info};
        fed[i] = coord_open(&cc, err, sizeof err);
        if (!fed[i] || coord_wait_ready(fed[i], 20000) != 0) {
            fprintf(stderr, "fed member %d: %s\n", i, err);
            abort();
        }
    }
}

int main(void)
{
    int seconds = getenv("BENCH_SECONDS") ? atoi(getenv("BENCH_SECONDS")) : 10;
    int rounds = getenv("BENCH_ROUNDS") ? atoi(getenv("BENCH_ROUNDS")) : 2;
    if (system("command -v wrk >/dev/null 2>&1") != 0) {
        fprintf(stderr, "bench_proxy: wrk is not installed (apt-get install wrk)\n");
        return 77;
    }
    th_child_env();
    cf_start(&fx);
    fx.log_level = "warning";
    cf_node_start(&fx, 0, NULL);
    char *body = cf_pipeline(&fx, 100);
    int64_t rev = cf_push(&fx, body);
    free(body);
    if (!cf_wait_converged(&fx, 1, rev, 30000)) {
        fprintf(stderr, "bench_proxy: the group did not converge\n");
        return 1;
    }
    start_federation();

    /* meterproxy */
    char conf[2048], confpath[512], port_s[16], logp[512];
    snprintf(conf, sizeof conf,
             "[meterproxy]\nagent_timeout_ms = 10000\n"
             "[coordination]\nbackend_url = %s\ngroups = central, fed\nauth_file = %s\n",
             fx.url, fx.auth_path);
    th_write_file("meterproxy.conf", conf, confpath, sizeof confpath);
    int mport = th_free_port();
    snprintf(port_s, sizeof port_s, "%d", mport);
    th_path(logp, sizeof logp, "meterproxy-own.log");
    th_proc mp;
    char *margv[] = {MeterproxyBinary, "-f", "-c", confpath, "-p", port_s, "-l", logp, NULL};
    if (th_spawn_daemon(&mp, "meterproxy", margv, NULL, NULL) != 0 ||
        !th_wait_tcp("127.0.0.1", mport, 20000))
        return 1;
    sleep_ms(2000); /* its cache fills from the watches */

    /* pmproxy, when Debian's pcp is there */
    th_proc pp = {0};
    int pport = 0;
    struct stat st;
    bool have_pm = stat(PMPROXY, &st) == 0;
    if (have_pm) {
        pport = th_free_port();
        char pp_s[16], pplog[512];
        snprintf(pp_s, sizeof pp_s, "%d", pport);
        th_path(pplog, sizeof pplog, "pmproxy.log");
        char *pargv[] = {PMPROXY, "-f", "-p", pp_s, "-l", pplog, "-U", "root", NULL};
        have_pm = th_spawn(&pp, "pmproxy", pargv, NULL, NULL) == 0 &&
                  th_wait_tcp("127.0.0.1", pport, 20000);
    }

    const char *assign = "/v1/groups/central/assignment?target=tcp%3A%2F%2F127.0.0.1%3A42";
    json_t *runs = json_array();
    for (int r = 0; r < rounds; r++) {
        wrk_result a = {0}, b, c;
        if (have_pm) wrk(pport, "/series/ping", seconds, &a); /* alternated, in one run */
        wrk(mport, "/health", seconds, &b);
        wrk(mport, assign, seconds, &c);
        json_array_append_new(runs, json_pack("{s:o, s:o, s:o}", "pmproxy_series_ping",
                                              have_pm ? result_json(&a) : json_null(),
                                              "meterproxy_health", result_json(&b),
                                              "meterproxy_assignment", result_json(&c)));
    }
    wrk_result fedr;
    wrk(mport, "/metrics?group=fed", seconds, &fedr);
    json_t *fedj = result_json(&fedr);
    json_object_set_new(fedj, "members", json_integer(FED_MEMBERS));
    json_object_set_new(fedj, "series_each", json_integer(FED_SERIES));
    json_object_set_new(fedj, "requests", json_integer(fedr.requests));
    json_t *doc =
        json_pack("{s:i, s:i, s:i, s:i, s:o, s:o, s:I, s:s?}", "seconds", seconds, "rounds", rounds,
                  "connections", 32, "wrk_threads", 2, "runs", runs, "federated_metrics", fedj,
                  "meterproxy_peak_rss_kb", (json_int_t)peak_rss_kb(mp.pid), "pmproxy",
                  have_pm ? "6.0.3 (Debian pcp)" : NULL);
    char *text = json_dumps(doc, JSON_INDENT(2));
    printf("%s\n", text);
    free(text);
    json_decref(doc);
    if (have_pm) th_stop(&pp, SIGTERM, 10000);
    th_stop(&mp, SIGTERM, 10000);
    for (int i = 0; i < FED_MEMBERS; i++)
        coord_close(fed[i]);
    th_stop(&exporters, SIGTERM, 5000);
    cf_stop(&fx);
    return 0;
}
