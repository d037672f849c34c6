/*
 * bench_http: the HTTP layer decided by measurement (issue 13 item 3).
 *
 * Serves the same /health and a 1.2 KB /metrics from nng 1.5.2's HTTP
 * server (how the agent's API ran before) and from meterd's httpd
 * (libmicrohttpd), in one process, and runs `wrk -t2 -c32` against each in
 * turn, alternating, so both see the same machine load. When Debian's pcp
 * is installed, pmproxy 6's /series/ping runs in the same rotation
 * (meterproxy's goal, issue 17, is at least pmproxy's rate). Prints one JSON
 * object. Without wrk on PATH it says so and exits 77 (skipped).
 *
 *   bench_http [--duration S] [--rounds N] [--connections C]
 */
#include "httpd/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char metrics_body[1300];
static size_t metrics_len;
static const char health_body[] = "{\"status\":\"ok\",\"reasons\":[]}\n";

/* About 1.2 KB of exposition text, like a small agent's /metrics. */
static void make_metrics(void)
{
    size_t n = 0;
    n += (size_t)snprintf(
        metrics_body + n, sizeof metrics_body - n,
        "# HELP meterd_polls_total Polls run.\n# TYPE meterd_polls_total counter\n");
    for (int i = 0; n < 1200; i++)
        n += (size_t)snprintf(metrics_body + n, sizeof metrics_body - n,
                              "meterd_polls_total{source=\"host\",target=\"node-%02d:9100\"} %d\n",
                              i, 1000 + i * 37);
    metrics_len = n;
}

/* --- nng, as agent/http_api.c used it --- */

static void nng_reply(nng_aio *aio, const char *ctype, const char *body, size_t len)
{
    nng_http_res *res;
    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_http_res_set_status(res, 200);
    nng_http_res_set_header(res, "Content-Type", ctype);
    nng_http_res_set_header(res, "Cache-Control", "no-store");
    nng_http_res_copy_data(res, body, len);
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static void nng_health(nng_aio *aio)
{
    nng_reply(aio, "application/json", health_body, sizeof health_body - 1);
}

static void nng_metrics(nng_aio *aio)
{
    nng_reply(aio, "text/plain; version=0.0.4", metrics_body, metrics_len);
}

static nng_http_server *nng_start(int *port)
{
    nng_url *u;
    nng_http_server *s;
    if (nng_url_parse(&u, "http://127.0.0.1:0") != 0) return NULL;
    int rv = nng_http_server_hold(&s, u);
    nng_url_free(u);
    if (rv != 0) return NULL;
    const char *paths[] = {"/health", "/metrics"};
    void (*fns[])(nng_aio *) = {nng_health, nng_metrics};
    for (int i = 0; i < 2; i++) {
        nng_http_handler *h;
        nng_http_handler_alloc(&h, paths[i], fns[i]);
        nng_http_handler_set_method(h, "GET");
        nng_http_server_add_handler(s, h);
    }
    if (nng_http_server_start(s) != 0) return NULL;
    nng_sockaddr sa;
    nng_http_server_get_addr(s, &sa);
    *port = ntohs(sa.s_in.sa_port);
    return s;
}

/* --- httpd --- */

static void httpd_handler(httpd_req *r, void *arg)
{
    (void)arg;
    httpd_add_header(r, "Cache-Control", "no-store");
    if (!strcmp(httpd_path(r), "/health"))
        httpd_respond(r, 200, "application/json", health_body, sizeof health_body - 1);
    else if (!strcmp(httpd_path(r), "/metrics"))
        httpd_respond(r, 200, "text/plain; version=0.0.4", metrics_body, metrics_len);
    else
        httpd_respond(r, 404, "text/plain", "not found\n", 10);
}

/* --- pmproxy (optional) --- */

#define PMPROXY "/usr/lib/pcp/bin/pmproxy"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof sa;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* Starts pmproxy on a free port; its pid, or -1 (not installed / failed). */
static pid_t pmproxy_start(int *port)
{
    if (access(PMPROXY, X_OK) != 0 || (*port = free_port()) < 0) return -1;
    char p[16], log[64];
    snprintf(p, sizeof p, "%d", *port);
    snprintf(log, sizeof log, "/tmp/bench_http_pmproxy.%d.log", (int)getpid());
    pid_t pid = fork();
    if (pid == 0) {
        execl(PMPROXY, "pmproxy", "-f", "-U", "root", "-i", "127.0.0.1", "-p", p, "-l", log,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) { /* up to 5 s for it to listen */
        char cmd[128];
        snprintf(cmd, sizeof cmd, "curl -sf -m 1 -o /dev/null http://127.0.0.1:%d/series/ping",
                 *port);
        if (system(cmd) == 0) return pid;
        usleep(50 * 1000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

/* --- wrk --- */

typedef struct wrk_result {
    double rps, p99_ms;
    long errors; /* socket errors + non-2xx */
} wrk_result;

static double to_ms(double v, const char *unit)
{
    if (!strcmp(unit, "us")) return v / 1000.0;
    if (!strcmp(unit, "s")) return v * 1000.0;
    return v;
}

static int run_wrk(int port, const char *path, int secs, int conns, wrk_result *out)
{
    char cmd[256], line[512];
    snprintf(cmd, sizeof cmd, "wrk -t2 -c%d -d%ds --latency http://127.0.0.1:%d%s 2>&1", conns,
             secs, port, path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    *out = (wrk_result){0};
    while (fgets(line, sizeof line, p)) {
        double v;
        char unit[8];
        long a, b, c, d;
        if (sscanf(line, " Requests/sec: %lf", &v) == 1)
            out->rps = v;
        else if (sscanf(line, " 99%% %lf%7s", &v, unit) == 2)
            out->p99_ms = to_ms(v, unit);
        else if (sscanf(line, " Socket errors: connect %ld, read %ld, write %ld, timeout %ld", &a,
                        &b, &c, &d) == 4)
            out->errors += a + b + c + d;
        else if (sscanf(line, " Non-2xx or 3xx responses: %ld", &a) == 1)
            out->errors += a;
    }
    return pclose(p) == 0 && out->rps > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int secs = 10, rounds = 2, conns = 32;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--duration"))
            secs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--connections"))
            conns = atoi(argv[i + 1]);
    }
    if (system("command -v wrk >/dev/null 2>&1") != 0) {
        fprintf(stderr, "bench_http: skipped: wrk is not installed (apt-get install wrk; "
                        "deploy/deps.sh installs it with the test tools)\n");
        return 77;
    }
    make_metrics();
    int nng_port = 0;
    nng_http_server *ns = nng_start(&nng_port);
    httpd *hs = NULL;
    char err[256];
    httpd_opts o = {.listen = {"127.0.0.1:0"}, .n_listen = 1, .handler = httpd_handler};
    if (!ns || httpd_start(&hs, &o, err, sizeof err) != 0) {
        fprintf(stderr, "bench_http: cannot start the servers: %s\n", ns ? err : "nng");
        return 1;
    }
    int pm_port = -1;
    pid_t pm = pmproxy_start(&pm_port);
    if (pm < 0) fprintf(stderr, "bench_http: pmproxy not measured (apt-get install pcp)\n");
    struct target {
        const char *layer, *path;
        int port;
        wrk_result best;
    } t[] = {{"nng", "/health", nng_port, {.rps = 0}},
             {"nng", "/metrics", nng_port, {.rps = 0}},
             {"httpd", "/health", httpd_port(hs, 0), {.rps = 0}},
             {"httpd", "/metrics", httpd_port(hs, 0), {.rps = 0}},
             {"pmproxy", "/series/ping", pm_port, {.rps = 0}}};
    size_t nt = pm < 0 ? 4 : 5;
    printf("{\"wrk\":\"-t2 -c%d -d%ds\",\"metrics_bytes\":%zu,\"rounds\":[", conns, secs,
           metrics_len);
    bool first = true;
    for (int r = 0; r < rounds; r++)
        for (size_t k = 0; k < nt; k++) {
            /* rotate the order round by round: no layer always goes first */
            struct target *x = &t[(k + (size_t)r * 2) % nt];
            wrk_result w;
            if (run_wrk(x->port, x->path, secs, conns, &w) != 0) {
                fprintf(stderr, "bench_http: wrk failed against %s %s\n", x->layer, x->path);
                return 1;
            }
            printf("%s{\"round\":%d,\"layer\":\"%s\",\"path\":\"%s\",\"rps\":%.0f,"
                   "\"p99_ms\":%.2f,\"errors\":%ld}",
                   first ? "" : ",", r + 1, x->layer, x->path, w.rps, w.p99_ms, w.errors);
            first = false;
            fflush(stdout);
            if (w.rps > x->best.rps) x->best = w;
        }
    printf("],\"best\":[");
    for (size_t k = 0; k < nt; k++)
        printf("%s{\"layer\":\"%s\",\"path\":\"%s\",\"rps\":%.0f,\"p99_ms\":%.2f}", k ? "," : "",
               t[k].layer, t[k].path, t[k].best.rps, t[k].best.p99_ms);
    printf("]}\n");
    if (pm > 0) {
        kill(pm, SIGTERM);
        waitpid(pm, NULL, 0);
    }
    httpd_stop(hs);
    nng_http_server_stop(ns);
    nng_http_server_release(ns);
    return 0;
}
