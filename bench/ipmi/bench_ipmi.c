/*
 * bench_ipmi.c: full sensor reads of ipmi.sensors against N ipmi_sim BMCs
 * with 1, 4 and 16 worker threads (one libipmimonitoring context each, as in
 * the agent): reads per second, the bench's CPU µs per read, and the
 * simulators' CPU reported apart (they share the machine's cores). Prints
 * one JSON object. Then the cost of dead BMCs: a third of them stopped
 * (SIGSTOP: they never answer), read as the agent reads them (state kept per
 * BMC, so backoff and [ipmi] failing_workers apply; one read of a BMC at a
 * time; a backed-off BMC not polled before its next attempt), against the
 * live ones alone, same run. Usage: bench_ipmi [bmcs (30)] [seconds per run (3)]
 */
#include "agent/config.h"
#include "agent/plugin.h"
#include "agent/pollsters/ipmi.h"
#include "harness/bmc.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAXBMC = 64 };

typedef struct run {
    th_bmc *bmc;
    int nbmc;
    void *pstate, *cfg;
    int64_t until_ms;
    atomic_long reads, errors;
    atomic_int next;
} run;

static void *worker(void *arg)
{
    run *r = arg;
    static const bool want[4] = {true, true, true, true};
    char err[512], url[64];
    while (th_now_ms() < r->until_ms) {
        int i = atomic_fetch_add(&r->next, 1) % r->nbmc;
        snprintf(url, sizeof url, "ipmi://127.0.0.1:%d", r->bmc[i].port);
        poll_target t = {.id = url, .resource = url};
        poll_env env = {.host = "bench",
                        .want = want,
                        .now_ms = 1,
                        .process_state = r->pstate,
                        .config = r->cfg};
        sample_batch *b = sample_batch_new("bench", 0, 1);
        void *ts = NULL; /* per read: one failure must not back off the next BMC */
        pollster_ipmi_sensors.init(&t, &ts, err, sizeof err);
        int rc = pollster_ipmi_sensors.poll(ts, &t, &env, b, err, sizeof err);
        pollster_ipmi_sensors.destroy(ts);
        sample_batch_unref(b);
        atomic_fetch_add(rc == 0 ? &r->reads : &r->errors, 1);
    }
    return NULL;
}

/* The agent's way: one state per BMC for the whole run. */
typedef struct dead_run {
    th_bmc *bmc;
    int nbmc, ndead; /* bmc[0..ndead) are stopped */
    void *pstate, *cfg;
    void *ts[MAXBMC];
    atomic_int busy[MAXBMC];
    int64_t start_ms, until_ms;
    atomic_long live_reads, live_errors, dead_reads, dead_skipped, dead_ms;
    atomic_long live_by_s[8]; /* live reads ended in each second of the phase */
    atomic_int next;
} dead_run;

static void *dead_worker(void *arg)
{
    dead_run *r = arg;
    static const bool want[4] = {true, true, true, true};
    char err[512], url[64];
    while (th_now_ms() < r->until_ms) {
        int i = atomic_fetch_add(&r->next, 1) % r->nbmc;
        if (atomic_exchange(&r->busy[i], 1)) continue;
        if (pollster_ipmi_sensors.next_attempt_ms(r->ts[i]) != 0) { /* backing off */
            atomic_store(&r->busy[i], 0);
            continue;
        }
        snprintf(url, sizeof url, "ipmi://127.0.0.1:%d", r->bmc[i].port);
        poll_target t = {.id = url, .resource = url};
        poll_env env = {.host = "bench",
                        .want = want,
                        .now_ms = 1,
                        .process_state = r->pstate,
                        .config = r->cfg};
        sample_batch *b = sample_batch_new("bench", 0, 1);
        int64_t t0 = th_now_ms();
        int rc = pollster_ipmi_sensors.poll(r->ts[i], &t, &env, b, err, sizeof err);
        sample_batch_unref(b);
        atomic_store(&r->busy[i], 0);
        if (i >= r->ndead) {
            atomic_fetch_add(rc == 0 ? &r->live_reads : &r->live_errors, 1);
            int64_t s = (th_now_ms() - r->start_ms) / 1000;
            if (rc == 0 && s >= 0 && s < 8) atomic_fetch_add(&r->live_by_s[s], 1);
        } else if (strncmp(err, "deferred", 8) == 0 || strncmp(err, "backing off", 11) == 0) {
            atomic_fetch_add(&r->dead_skipped, 1);
        } else {
            atomic_fetch_add(&r->dead_reads, 1);
            atomic_fetch_add(&r->dead_ms, (long)(th_now_ms() - t0));
        }
    }
    return NULL;
}

static double cpu_us_self(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec +
           u.ru_stime.tv_usec;
}

/* A child's utime+stime in µs from /proc/PID/stat. */
static double cpu_us_pid(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

/* FreeIPMI's ipmi-sensors, one invocation over every BMC (its own fan-out),
 * SDR cache warmed by a first invocation: reads/s and its CPU µs per read.
 * Returns false when it is not installed. */
static bool baseline(const th_bmc *bmc, int nbmc, const char *sdr, int rounds, double *rps,
                     double *cpu_per_read, int *failed)
{
    if (access("/usr/sbin/ipmi-sensors", X_OK) != 0) return false;
    static char hosts[MAXBMC * 24];
    size_t len = 0;
    for (int i = 0; i < nbmc; i++)
        len += (size_t)snprintf(hosts + len, sizeof hosts - len, "%s127.0.0.1:%d", i ? "," : "",
                                bmc[i].port);
    char cache[600];
    snprintf(cache, sizeof cache, "--sdr-cache-directory=%s", sdr);
    char *argv[] = {"/usr/sbin/ipmi-sensors",
                    "-h",
                    hosts,
                    "-u",
                    "admin",
                    "-p",
                    "pw",
                    "-l",
                    "ADMIN",
                    "--driver-type=LAN_2_0",
                    "-I",
                    "3",
                    "-W",
                    "opensesspriv",
                    cache,
                    "--quiet-cache",
                    "-t",
                    "TEMPERATURE,FAN,VOLTAGE,CURRENT",
                    NULL};
    double cpu = 0;
    int64_t t0 = 0;
    *failed = 0;
    for (int k = 0; k <= rounds; k++) {
        if (k == 1) t0 = th_now_ms(); /* round 0 builds the SDR caches */
        pid_t pid = fork();
        if (pid == 0) {
            freopen("/dev/null", "w", stdout);
            execv(argv[0], argv);
            _exit(127);
        }
        int st;
        struct rusage u;
        if (pid < 0 || wait4(pid, &st, 0, &u) != pid) return false;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) (*failed)++;
        if (k > 0)
            cpu += (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec +
                   u.ru_stime.tv_usec;
    }
    double el = (double)(th_now_ms() - t0) / 1000.0;
    *rps = (double)(rounds * nbmc) / el;
    *cpu_per_read = cpu / (double)(rounds * nbmc);
    return true;
}

static void print_dead(const char *name, dead_run *r, int workers, double el, double cpu, bool last)
{
    long n = atomic_load(&r->live_reads), dr = atomic_load(&r->dead_reads);
    printf("{\"phase\": \"%s\", \"workers\": %d, \"bmcs\": %d, \"dead\": %d, \"seconds\": %.1f, "
           "\"live_reads_per_s\": %.1f, \"live_errors\": %ld, \"cpu_us_per_live_read\": %.1f, "
           "\"dead_reads\": %ld, \"ms_per_dead_read\": %.0f, \"dead_skipped\": %ld, "
           "\"live_reads_each_s\": [",
           name, workers, r->nbmc, r->ndead, el, (double)n / el, atomic_load(&r->live_errors),
           n ? cpu / (double)n : 0, dr, dr ? (double)atomic_load(&r->dead_ms) / (double)dr : 0,
           atomic_load(&r->dead_skipped));
    for (int s = 0; s < 8 && s < (int)(el + 0.5); s++)
        printf("%s%ld", s ? ", " : "", atomic_load(&r->live_by_s[s]));
    printf("]}%s", last ? "" : ", ");
}

/* One timed phase of r; counters restart, states stay. */
static void dead_phase(dead_run *r, int workers, int secs, const char *name, bool last)
{
    atomic_store(&r->live_reads, 0);
    atomic_store(&r->live_errors, 0);
    atomic_store(&r->dead_reads, 0);
    atomic_store(&r->dead_skipped, 0);
    atomic_store(&r->dead_ms, 0);
    for (int s = 0; s < 8; s++)
        atomic_store(&r->live_by_s[s], 0);
    double c0 = cpu_us_self();
    int64_t t0 = th_now_ms();
    r->start_ms = t0;
    r->until_ms = t0 + secs * 1000;
    pthread_t th[16];
    for (int i = 0; i < workers; i++)
        pthread_create(&th[i], NULL, dead_worker, r);
    for (int i = 0; i < workers; i++)
        pthread_join(th[i], NULL);
    print_dead(name, r, workers, (double)(th_now_ms() - t0) / 1000.0, cpu_us_self() - c0, last);
    fflush(stdout);
}

/* A third of the BMCs stopped; 1 s timeout (the default is 5 s: a dead
 * read's first failure costs that much more). Per worker count: the live
 * ones alone; then all of them from a cold start for 6 s (the warm-up: each
 * dead BMC's first read runs to the timeout, uncapped, since nothing knows
 * it is dead yet; from its first failure it is one of failing_workers); then
 * the same states for the timed run (dead ones failing: backed off, at most
 * failing_workers at once). */
static void dead_bmcs(th_bmc *bmc, int nbmc, void *pstate, plugin_ctx ctx, int secs)
{
    int ndead = nbmc / 3;
    if (ndead < 1) return;
    char err[512];
    char *vals[3] = {"pw", "admin", "1s"};
    pipeline_param params[3] = {{"secret", PIPELINE_PARAM_SCALAR, &vals[0], 1, 1, 1},
                                {"username", PIPELINE_PARAM_SCALAR, &vals[1], 1, 1, 1},
                                {"timeout", PIPELINE_PARAM_SCALAR, &vals[2], 1, 1, 1}};
    void *cfg = NULL;
    (void)ctx;
    if (pollster_ipmi_sensors.configure(params, 3, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_ipmi: %s\n", err);
        return;
    }
    printf(", \"dead_bmcs\": {\"timeout_ms\": 1000, \"runs\": [");
    static const int workers[] = {1, 4, 16};
    for (size_t w = 0; w < 3; w++) {
        static dead_run r;
        memset(&r, 0, sizeof r);
        r.bmc = bmc + ndead; /* the live ones alone */
        r.nbmc = nbmc - ndead;
        r.pstate = pstate;
        r.cfg = cfg;
        poll_target t0 = {.id = "ipmi://x", .resource = "x"};
        for (int i = 0; i < nbmc; i++)
            pollster_ipmi_sensors.init(&t0, &r.ts[i], err, sizeof err);
        dead_phase(&r, workers[w], secs, "live_only", false);
        for (int i = 0; i < ndead; i++)
            kill(bmc[i].proc.pid, SIGSTOP);
        r.bmc = bmc;
        r.nbmc = nbmc;
        r.ndead = ndead;
        dead_phase(&r, workers[w], 6, "with_dead_first_6s", false);
        dead_phase(&r, workers[w], secs, "with_dead_failing", w == 2);
        for (int i = 0; i < ndead; i++)
            kill(bmc[i].proc.pid, SIGCONT);
        for (int i = 0; i < nbmc; i++)
            pollster_ipmi_sensors.destroy(r.ts[i]);
    }
    printf("]}");
    pollster_ipmi_sensors.unconfigure(cfg);
}

int main(int argc, char **argv)
{
    int nbmc = argc > 1 ? atoi(argv[1]) : 30, secs = argc > 2 ? atoi(argv[2]) : 3;
    if (nbmc < 1 || nbmc > MAXBMC) nbmc = 30;
    static th_bmc bmc[MAXBMC];
    char why[512], secrets_path[512], sdr[512], ini[1400], err[1024];
    int rc = th_bmc_start_many(bmc, nbmc, "admin", "pw", why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "bench_ipmi: %s\n", why);
        return rc == 1 ? TH_SKIP_EXIT : 1;
    }
    th_write_file("secrets", "pw = pw\n", secrets_path, sizeof secrets_path);
    chmod(secrets_path, 0600);
    th_path(sdr, sizeof sdr, "sdr/x");
    *strrchr(sdr, '/') = 0;
    snprintf(ini, sizeof ini, "[DEFAULT]\nsecrets_file = %s\n[ipmi]\nsdr_cache_dir = %s\n",
             secrets_path, sdr);
    agent_config cfg;
    secrets sec;
    config_defaults(&cfg);
    if (config_load_string(&cfg, ini, "bench.conf", err, sizeof err) != 0 ||
        secrets_load(&sec, cfg.secrets_file, err, sizeof err) != 0) {
        fprintf(stderr, "bench_ipmi: %s\n", err);
        return 1;
    }
    plugin_ctx ctx = {"ipmi.sensors", "ipmi", &cfg, &sec};
    void *pstate = NULL, *pcfg = NULL;
    char *vals[2] = {"pw", "admin"};
    pipeline_param params[2] = {{"secret", PIPELINE_PARAM_SCALAR, &vals[0], 1, 1, 1},
                                {"username", PIPELINE_PARAM_SCALAR, &vals[1], 1, 1, 1}};
    if (pollster_ipmi_sensors.process_init(&ctx, &pstate, err, sizeof err) != 0 ||
        pollster_ipmi_sensors.configure(params, 2, &pcfg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_ipmi: %s\n", err);
        return 1;
    }
    printf("{\"bmcs\": %d, \"seconds\": %d, \"runs\": [", nbmc, secs);
    static const int workers[] = {1, 4, 16};
    for (size_t w = 0; w < 3; w++) {
        run r = {.bmc = bmc, .nbmc = nbmc, .pstate = pstate, .cfg = pcfg};
        double sim0 = 0, sim1 = 0;
        for (int i = 0; i < nbmc; i++)
            sim0 += cpu_us_pid(bmc[i].proc.pid);
        double c0 = cpu_us_self();
        int64_t t0 = th_now_ms();
        r.until_ms = t0 + secs * 1000;
        pthread_t th[16];
        for (int i = 0; i < workers[w]; i++)
            pthread_create(&th[i], NULL, worker, &r);
        for (int i = 0; i < workers[w]; i++)
            pthread_join(th[i], NULL);
        double el = (double)(th_now_ms() - t0) / 1000.0, c = cpu_us_self() - c0;
        for (int i = 0; i < nbmc; i++)
            sim1 += cpu_us_pid(bmc[i].proc.pid);
        long n = atomic_load(&r.reads);
        printf("%s{\"workers\": %d, \"reads\": %ld, \"errors\": %ld, \"reads_per_s\": %.1f, "
               "\"cpu_us_per_read\": %.1f, \"ipmi_sim_cpu_us_per_read\": %.1f}",
               w ? ", " : "", workers[w], n, atomic_load(&r.errors), (double)n / el,
               n ? c / (double)n : 0, n ? (sim1 - sim0) / (double)n : 0);
        fflush(stdout);
    }
    printf("]");
    dead_bmcs(bmc, nbmc, pstate, ctx, secs);
    fflush(stdout); /* the children must not inherit unwritten output */
    double rps, cpr;
    int failed;
    if (baseline(bmc, nbmc, sdr, 5, &rps, &cpr, &failed))
        printf(", \"ipmi_sensors\": {\"invocations\": 5, \"failed\": %d, \"reads_per_s\": "
               "%.1f, \"cpu_us_per_read\": %.1f}",
               failed, rps, cpr);
    printf("}\n");
    pollster_ipmi_sensors.unconfigure(pcfg);
    pollster_ipmi_sensors.process_shutdown(pstate);
    secrets_free(&sec);
    th_bmc_stop_many(bmc, nbmc);
    return 0;
}
