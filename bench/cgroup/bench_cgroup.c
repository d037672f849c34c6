/*
 * bench_cgroup.c: the issue 15 goals, printed as one JSON object (root; a
 * writable cgroup hierarchy; docs/BENCHMARKS.md, "cgroup").
 *   1. scan cost: CPU per file read by the `cgroup` pollster, for 1,000
 *      cgroups on this machine's hierarchy (hybrid: v2 + v1 files), and for
 *      1,000 copies of the fixture's full pure-v2 container in a tmpfs-free
 *      temp folder (tests/data/cgroup);
 *   2. perf: one `cgroup.perf` cycle for 100 cgroups x 4 software events;
 *   3. seed 002's way (perf-utils: one set of counters per pid) emulated with
 *      the same perf_event_open calls for 100 containers x 10 processes x 4
 *      events, against meterd's per-cgroup counting of the same processes.
 * `--scan-only` runs part 1 alone (parts 2 and 3 start 1,000 processes);
 * `--stat-max-fds N` sets [compute] stat_max_fds (files kept open).
 */
#include "agent/config.h"
#include "agent/pollster.h"
#include "agent/pollsters/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <perfmon/pfmlib_perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static cgroup_mounts M;
static char base[128];
static agent_config Cfg; /* [compute] stat_max_fds from --stat-max-fds */

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *tree(int i)
{
    return i == 0   ? M.v2
           : i == 1 ? M.v1[CG_V1_CPUACCT]
           : i == 2 ? M.v1[CG_V1_CPU]
           : i == 3 ? M.v1[CG_V1_MEMORY]
           : i == 4 ? M.v1[CG_V1_PIDS]
                    : M.v1[CG_V1_BLKIO];
}

static void each_tree(const char *rel, bool make)
{
    for (int i = 0; i < 6; i++) {
        if (!tree(i)[0]) continue;
        bool dup = false;
        for (int k = 0; k < i; k++)
            dup |= strcmp(tree(k), tree(i)) == 0;
        if (dup) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s%s", tree(i), rel);
        if (make) {
            mkdir(p, 0755);
            continue;
        }
        /* a killed process leaves its cgroup a moment after waitpid: EBUSY */
        int t = 0;
        while (rmdir(p) != 0 && errno == EBUSY && t++ < 200)
            usleep(10000);
        if (access(p, F_OK) == 0)
            fprintf(stderr, "bench_cgroup: cannot remove %s: %s\n", p, strerror(errno));
    }
}

static void move_pid(const char *rel, pid_t pid)
{
    for (int i = 0; i < 6; i++) {
        if (!tree(i)[0]) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s%s/cgroup.procs", tree(i), rel);
        FILE *f = fopen(p, "we");
        if (!f) continue;
        fprintf(f, "%d\n", (int)pid);
        fclose(f);
    }
}

/* how many of the files the pollster consults exist for rel (what it reads) */
static int files_present(const char *v2, const cgroup_mounts *m, const char *rel)
{
    static const char *const v2f[] = {"cpu.pressure",  "io.pressure",    "memory.pressure",
                                      "cpu.stat",      "memory.current", "memory.max",
                                      "memory.events", "io.stat",        "pids.current"};
    static const struct {
        int c;
        const char *f;
    } v1f[] = {{CG_V1_CPUACCT, "cpuacct.usage"},
               {CG_V1_CPUACCT, "cpuacct.stat"},
               {CG_V1_CPU, "cpu.stat"},
               {CG_V1_MEMORY, "memory.usage_in_bytes"},
               {CG_V1_MEMORY, "memory.limit_in_bytes"},
               {CG_V1_MEMORY, "memory.oom_control"},
               {CG_V1_PIDS, "pids.current"},
               {CG_V1_BLKIO, "blkio.throttle.io_service_bytes"},
               {CG_V1_BLKIO, "blkio.throttle.io_serviced"}};
    int n = 0;
    char p[4096];
    for (size_t i = 0; i < sizeof v2f / sizeof v2f[0]; i++) {
        snprintf(p, sizeof p, "%s%s/%s", v2, rel, v2f[i]);
        n += access(p, F_OK) == 0;
    }
    for (size_t i = 0; m && i < sizeof v1f / sizeof v1f[0]; i++) {
        if (!m->v1[v1f[i].c][0]) continue;
        snprintf(p, sizeof p, "%s%s/%s", m->v1[v1f[i].c], rel, v1f[i].f);
        n += access(p, F_OK) == 0;
    }
    return n;
}

typedef struct scan {
    double cpu_per_cycle_ms, us_per_file, raw_us_per_file;
    long files, cgroups;
    char status[128]; /* the pollster's /v1/status object: files kept open */
} scan;

/* polls every target of l once per round; CPU per file read */
static scan scan_targets(target_list *l, const char *proc_root, const char *v2,
                         const cgroup_mounts *m, int rounds)
{
    bool want[64];
    for (int i = 0; i < 64; i++)
        want[i] = true;
    plugin_ctx ctx = {"cgroup", "compute", &Cfg, NULL};
    void *ps = NULL;
    char err[512];
    pollster_cgroup.process_init(&ctx, &ps, err, sizeof err);
    poll_env env = {.host = "h", .proc_root = proc_root, .want = want, .process_state = ps};
    void **st = calloc(l->n, sizeof *st);
    scan s = {.cgroups = (long)l->n};
    for (size_t i = 0; i < l->n; i++) {
        pollster_cgroup.init(&l->v[i], &st[i], err, sizeof err);
        const char *rel;
        char root[1024];
        cgroup_target_split(l->v[i].id, root, sizeof root, &rel);
        s.files += files_present(v2, m, rel[1] ? rel : "");
    }
    /* the median round: the machine is shared, and a neighbour's burst
     * inflates the CPU time of whatever round it lands on */
    double t[64];
    if (rounds > 64) rounds = 64;
    for (int r = 0; r < rounds; r++) {
        double t0 = cpu_s();
        for (size_t i = 0; i < l->n; i++) {
            sample_batch *b = sample_batch_new("s", 0, 0);
            pollster_cgroup.poll(st[i], &l->v[i], &env, b, err, sizeof err);
            sample_batch_unref(b);
        }
        t[r] = cpu_s() - t0;
        for (int k = r; k > 0 && t[k] < t[k - 1]; k--) {
            double x = t[k];
            t[k] = t[k - 1];
            t[k - 1] = x;
        }
    }
    double per_cycle = t[rounds / 2];
    double t0;
    s.cpu_per_cycle_ms = per_cycle * 1e3;
    s.us_per_file = per_cycle * 1e6 / (double)s.files;
    /* the floor: stdio open/read/close of the same number of files, nothing parsed */
    char buf[4096], p[4096];
    t0 = cpu_s();
    long done = 0;
    for (size_t i = 0; i < l->n && done < s.files; i++) {
        const char *rel;
        char root[1024];
        cgroup_target_split(l->v[i].id, root, sizeof root, &rel);
        static const char *const f[] = {"cpu.pressure", "io.pressure", "memory.pressure",
                                        "cpu.stat"};
        for (int k = 0; k < 4; k++, done++) {
            snprintf(p, sizeof p, "%s%s/%s", v2, rel[1] ? rel : "", f[k]);
            pollster_read_file(p, buf, sizeof buf);
        }
    }
    s.raw_us_per_file = (cpu_s() - t0) * 1e6 / (double)done;
    if (pollster_cgroup.status_json) pollster_cgroup.status_json(ps, s.status, sizeof s.status);
    for (size_t i = 0; i < l->n; i++)
        pollster_cgroup.destroy(st[i]);
    free(st);
    pollster_cgroup.process_shutdown(ps);
    return s;
}

static void print_scan(const char *name, scan s, bool last)
{
    printf("  \"%s\": {\"cgroups\": %ld, \"files\": %ld, \"cpu_ms_per_cycle\": %.2f, "
           "\"cpu_us_per_file\": %.2f, \"raw_open_read_close_us_per_file\": %.2f, "
           "\"goal_le_5us\": %s, \"pollster\": %s}%s\n",
           name, s.cgroups, s.files, s.cpu_per_cycle_ms, s.us_per_file, s.raw_us_per_file,
           s.us_per_file <= 5 ? "true" : "false", s.status[0] ? s.status : "{}", last ? "" : ",");
}

static scan scan_real(int n)
{
    char rel[256];
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "%s/c%d", base, i);
        each_tree(rel, true);
    }
    discovery_env env = {.host = "h", .proc_root = "/proc"};
    target_list l = {0};
    char err[512], param[256];
    snprintf(param, sizeof param, "depth=2;include=%s/*", base);
    discovery_cgroups.discover(&env, param, &l, err, sizeof err);
    scan s = scan_targets(&l, "/proc", M.v2, &M, 15);
    target_list_free(&l);
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "%s/c%d", base, i);
        each_tree(rel, false);
    }
    return s;
}

/* 1,000 copies of the fixture's pure-v2 container (every file) in a temp folder */
static scan scan_fixture(const char *fixture, int n)
{
    char tmp[] = "/tmp/meterd-bench-cgXXXXXX";
    if (!mkdtemp(tmp)) return (scan){0};
    static const char *const f[] = {"cpu.pressure",  "io.pressure",    "memory.pressure",
                                    "cpu.stat",      "memory.current", "memory.max",
                                    "memory.events", "io.stat",        "pids.current"};
    char p[4096], q[4096], buf[4096];
    target_list l = {0};
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/c%d", tmp, i);
        mkdir(p, 0755);
        for (size_t k = 0; k < 9; k++) {
            snprintf(q, sizeof q, "%s/%s", fixture, f[k]);
            ssize_t len = pollster_read_file(q, buf, sizeof buf);
            snprintf(q, sizeof q, "%s/c%d/%s", tmp, i, f[k]);
            FILE *o = fopen(q, "we");
            if (o && len > 0) fwrite(buf, 1, (size_t)len, o);
            if (o) fclose(o);
        }
        snprintf(q, sizeof q, "cgroup:%s//c%d", tmp, i);
        target_list_add(&l, q, "x", true);
    }
    /* a proc root whose mountinfo has only this cgroup2 mount */
    snprintf(p, sizeof p, "%s/proc/self", tmp);
    char d[4096];
    snprintf(d, sizeof d, "%s/proc", tmp);
    mkdir(d, 0755);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/mountinfo", p);
    FILE *o = fopen(q, "we");
    if (o) {
        fprintf(o, "41 31 0:38 / %s rw - cgroup2 cgroup2 rw\n", tmp);
        fclose(o);
    }
    scan s = scan_targets(&l, d, tmp, NULL, 15);
    target_list_free(&l);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return s;
}

/* a process doing a little work every 100 ms, like a container's idle-ish
 * service (1,000 of them waking every 10 ms starve a shared 2-core box); it
 * dies with the bench */
static pid_t worker(void)
{
    pid_t p = fork();
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            for (volatile int i = 0; i < 100000; i++)
                ;
            usleep(100000);
        }
    }
    return p;
}

static const char *const events4[4] = {"perf::TASK-CLOCK", "perf::CONTEXT-SWITCHES",
                                       "perf::PAGE-FAULTS", "perf::CPU-MIGRATIONS"};

static double read_scaled(int fd)
{
    uint64_t v[3];
    if (read(fd, v, sizeof v) != (ssize_t)sizeof v || v[2] == 0) return 0;
    return (double)v[0] * ((double)v[1] / (double)v[2]);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    /* the scan only: no 1,000 busy processes (a shared machine's other users) */
    bool scan_only = false;
    const char *max_fds = "0"; /* the pollster's default: from the descriptor limit */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scan-only") == 0) {
            scan_only = true;
        } else if (strcmp(argv[i], "--stat-max-fds") == 0 && i + 1 < argc) {
            max_fds = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_cgroup [--scan-only] [--stat-max-fds N]\n");
            return 2;
        }
    }
    char conf[128], cerr[512];
    snprintf(conf, sizeof conf, "[compute]\nstat_max_fds = %s\n", max_fds);
    config_defaults(&Cfg);
    if (config_load_string(&Cfg, conf, "bench", cerr, sizeof cerr) != 0) {
        fprintf(stderr, "bench_cgroup: %s\n", cerr);
        return 2;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "bench_cgroup: needs root (it creates cgroups)\n");
        return 2;
    }
    char err[512];
    if (cgroup_mounts_find("/proc", NULL, &M, err, sizeof err) != 0 || !M.v2[0]) {
        fprintf(stderr, "bench_cgroup: %s\n", err[0] ? err : "no cgroup2");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* what meterd runs with under systemd: it raises its soft limit to the
     * hard one (524,288 by default), which sizes the pollster's kept files */
    struct rlimit rl = {524288, 524288};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) { /* no CAP_SYS_RESOURCE: up to the hard limit */
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    snprintf(base, sizeof base, "/meterd-bench-%d", (int)getpid());
    each_tree(base, true);
    printf("{\n  \"nofile\": %llu,\n", (unsigned long long)rl.rlim_cur);
    print_scan("scan_this_machine_1000", scan_real(1000), false);
    print_scan("scan_fixture_pure_v2_1000",
               scan_fixture(BenchFixture "/v2/kubepods.slice/kubepods-burstable.slice/"
                                         "kubepods-burstable-pod0b7c1d2e_3f40_4a5b_8c6d_"
                                         "7e8f90a1b2c3.slice/cri-containerd-"
                                         "4f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4"
                                         "c3d2e1f0.scope",
                            1000),
               scan_only);
    if (scan_only) {
        printf("}\n");
        each_tree(base, false);
        return 0;
    }

    /* 100 containers x 10 processes */
    enum { C = 100, P = 10 };
    static pid_t pids[C * P];
    char rel[256];
    for (int c = 0; c < C; c++) {
        snprintf(rel, sizeof rel, "%s/k%d", base, c);
        each_tree(rel, true);
        for (int k = 0; k < P; k++) {
            pids[c * P + k] = worker();
            move_pid(rel, pids[c * P + k]);
        }
    }
    /* meterd: cgroup.perf, 4 events x online CPUs per cgroup */
    agent_config *cfg = calloc(1, sizeof *cfg);
    config_defaults(cfg);
    config_load_string(cfg,
                       "[compute]\nperf_events = TaskClock, ContextSwitches, PageFaults, "
                       "CPUMigrations\n",
                       "b.conf", err, sizeof err);
    plugin_ctx ctx = {"cgroup.perf", "compute", cfg, NULL};
    void *ps = NULL;
    pollster_cgroup_perf.process_init(&ctx, &ps, err, sizeof err);
    bool want[64];
    for (int i = 0; i < 64; i++)
        want[i] = true;
    poll_env env = {.host = "h", .proc_root = "/proc", .want = want, .process_state = ps};
    target_list l = {0};
    for (int c = 0; c < C; c++) {
        char id[2048];
        snprintf(id, sizeof id, "cgroup:%s/%s/k%d", M.v2, base, c);
        target_list_add(&l, id, "x", true);
    }
    void *st[C];
    int fds0 = count_fds();
    double task_clock_meterd = 0;
    for (int c = 0; c < C; c++) {
        pollster_cgroup_perf.init(&l.v[c], &st[c], err, sizeof err);
        sample_batch *b = sample_batch_new("s", 0, 0);
        pollster_cgroup_perf.poll(st[c], &l.v[c], &env, b, err, sizeof err);
        sample_batch_unref(b);
    }
    int fds_meterd = count_fds() - fds0;

    /* seed 002: per pid, 4 events, any CPU */
    pfm_initialize();
    int fds1 = count_fds();
    static int pidfd[C * P][4];
    for (int i = 0; i < C * P; i++)
        for (int e = 0; e < 4; e++) {
            struct perf_event_attr a;
            memset(&a, 0, sizeof a);
            pfm_perf_encode_arg_t arg;
            memset(&arg, 0, sizeof arg);
            arg.attr = &a;
            arg.size = sizeof arg;
            pfm_get_os_event_encoding(events4[e], PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg);
            a.size = sizeof a;
            a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
            pidfd[i][e] =
                (int)syscall(SYS_perf_event_open, &a, pids[i], -1, -1, PERF_FLAG_FD_CLOEXEC);
        }
    int fds_seed = count_fds() - fds1;

    sleep(2);
    enum { CYCLES = 20 };
    double t0 = cpu_s();
    for (int r = 0; r < CYCLES; r++)
        for (int c = 0; c < C; c++) {
            sample_batch *b = sample_batch_new("s", 0, 0);
            pollster_cgroup_perf.poll(st[c], &l.v[c], &env, b, err, sizeof err);
            for (size_t i = 0; r == CYCLES - 1 && i < b->n; i++)
                if (strcmp(b->v[i].name, "perf.task_clock") == 0)
                    task_clock_meterd += b->v[i].value;
            sample_batch_unref(b);
        }
    double meterd_ms = (cpu_s() - t0) / CYCLES * 1e3;
    double task_clock_seed = 0;
    t0 = cpu_s();
    for (int r = 0; r < CYCLES; r++)
        for (int i = 0; i < C * P; i++)
            for (int e = 0; e < 4; e++) {
                double v = pidfd[i][e] >= 0 ? read_scaled(pidfd[i][e]) : 0;
                if (r == CYCLES - 1 && e == 0) task_clock_seed += v;
            }
    double seed_ms = (cpu_s() - t0) / CYCLES * 1e3;

    printf("  \"perf_100_cgroups_x_4_events\": {\"cpus\": %ld, \"fds\": %d, "
           "\"cpu_ms_per_cycle\": %.3f, \"goal_le_5ms\": %s},\n",
           sysconf(_SC_NPROCESSORS_ONLN), fds_meterd, meterd_ms, meterd_ms <= 5 ? "true" : "false");
    printf("  \"seed_per_pid_1000_x_4_events\": {\"fds\": %d, \"cpu_ms_per_cycle\": %.3f},\n",
           fds_seed, seed_ms);
    printf("  \"ratios_seed_over_meterd\": {\"fds\": %.1f, \"cpu_per_cycle\": %.1f},\n",
           (double)fds_seed / (fds_meterd ? fds_meterd : 1),
           seed_ms / (meterd_ms > 0 ? meterd_ms : 1e-9));
    printf("  \"task_clock_ns\": {\"meterd_per_cgroup\": %.0f, \"seed_per_pid\": %.0f, "
           "\"ratio\": %.3f}\n}\n",
           task_clock_meterd, task_clock_seed,
           task_clock_seed > 0 ? task_clock_meterd / task_clock_seed : 0);

    /* every kill first, then the waits: one at a time is slow on a loaded box */
    for (int i = 0; i < C * P; i++) {
        for (int e = 0; e < 4; e++)
            if (pidfd[i][e] >= 0) close(pidfd[i][e]);
        kill(pids[i], SIGKILL);
    }
    for (int i = 0; i < C * P; i++)
        waitpid(pids[i], NULL, 0);
    for (int c = 0; c < C; c++) {
        pollster_cgroup_perf.destroy(st[c]);
        snprintf(rel, sizeof rel, "%s/k%d", base, c);
        each_tree(rel, false);
    }
    target_list_free(&l);
    pollster_cgroup_perf.process_shutdown(ps);
    free(cfg);
    each_tree(base, false);
    return 0;
}
